/*
 * The queue process: start-up (log directory, recovery, privileges), the
 * master's channel, and smtpd's transactions.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "ipc.h"
#include "latency.h"
#include "log.h"
#include "qid.h"
#include "xmalloc.h"

#include "queue/idmap.h"
#include "queue/queue.h"
#include "queue/recovery.h"

static struct {
	struct event_base	*base;
	struct config		*cfg;
	struct ipc_chan		*master;
	struct ipc_chan		*smtpd;
	uint32_t		 smtpd_gen;
	struct idmap		 smtpd_txns;	/* smtpd's [txn] -> qtxn */
	struct qid_gen		 qgen;
	int			 stopping;
	int			 stop_code;
	struct event		*sig_term;
	struct event		*sig_int;
#ifdef BULWARK_TESTING
	struct event		*sig_usr2;
#endif
} q;

static void	queue_shutdown(int);
static void	queue_finish(void) __attribute__((noreturn));

struct event_base *
queue_base(void)
{
	return q.base;
}

const struct config *
queue_config(void)
{
	return q.cfg;
}

int
queue_stopping(void)
{
	return q.stopping;
}

void
queue_date(time_t t, char *out, size_t len)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, len, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		strlcpy(out, "Thu, 01 Jan 1970 00:00:00 +0000", len);
}

/* --- smtpd transactions ---------------------------------------------- */

static void
smtpd_reply_qid(uint64_t id, uint32_t code, const char *text,
    const char *qid)
{
	struct ipc_msg *msg = ipc_msg_new(IMSG_MSG_QID, id);

	ipc_add_u32(msg, code);
	ipc_add_str(msg, text);
	ipc_add_str(msg, qid);
	ipc_send(q.smtpd, msg, IPC_NO_FD);
}

static void
smtpd_reply_result(uint64_t id, uint32_t code, const char *text,
    const char *qid)
{
	struct ipc_msg *msg = ipc_msg_new(IMSG_MSG_RESULT, id);

	ipc_add_u32(msg, code);
	ipc_add_str(msg, text);
	ipc_add_str(msg, qid);
	ipc_send(q.smtpd, msg, IPC_NO_FD);
}

/* Forget the open transactions of a lost or replaced smtpd channel. */
static void
smtpd_forget(void)
{
	struct qtxn *t;
	size_t pos = 0;

	while (idmap_next(&q.smtpd_txns, &pos, NULL, (void **)&t))
		store_txn_abort(t);
	idmap_free(&q.smtpd_txns);
	idmap_init(&q.smtpd_txns);
	q.smtpd_gen++;
}

static void
on_smtpd_commit(struct qtxn *t, struct qmsg *m, int err, void *arg)
{
	char text[64];
	const char *etext;
	uint32_t code;

	/* A commit whose session is gone is simply durable (or not). */
	if (q.smtpd == NULL || t->peer_gen != q.smtpd_gen)
		return;
	if (m != NULL) {
		snprintf(text, sizeof(text), "2.0.0 Ok: queued as %s", m->qid);
		smtpd_reply_result(t->peer_id, 250, text, m->qid);
		stats_queue_commit(t->commit_ns);
		return;
	}
	store_err_reply(err, &code, &etext);
	log_warn("%s: commit failed: %s", t->qid, strerror(err));
	smtpd_reply_result(t->peer_id, code, etext, "");
}

static void
msg_begin(uint64_t id)
{
	struct qtxn *t, *old;
	enum quota which;

	if (q.stopping) {
		smtpd_reply_qid(id, 451, "4.3.0 Queue is stopping",
		    "");
		return;
	}
	if (store_disk_full()) {
		log_warn("NOQUEUE: reject: queue file write error: disk full");
		smtpd_reply_qid(id, 452, "4.3.1 Insufficient system storage",
		    "");
		return;
	}
	if ((which = sched_over_quota()) != QUOTA_NONE) {
		log_warn("NOQUEUE: reject: queue quota reached (%s)",
		    sched_quota_name(which));
		smtpd_reply_qid(id, 452, "4.3.1 Insufficient system storage: "
		    "queue quota reached", "");
		return;
	}
	t = store_txn_begin(TXN_SMTPD);
	t->peer_id = id;
	t->peer_gen = q.smtpd_gen;
	if ((old = idmap_get(&q.smtpd_txns, id)) != NULL)
		store_txn_abort(old);
	idmap_put(&q.smtpd_txns, id, t);
	smtpd_reply_qid(id, 354, "End data with <CR><LF>.<CR><LF>", t->qid);
}

static void
msg_commit(uint64_t id, struct ipc_reader *rd)
{
	struct rec_commit env;
	struct qtxn *t;
	uint64_t size;
	uint32_t i, n;

	memset(&env, 0, sizeof(env));
	env.sender = ipc_get_str(rd);
	env.client_addr = ipc_get_str(rd);
	env.client_name = ipc_get_str(rd);
	env.helo = ipc_get_str(rd);
	env.local_uid = ipc_get_u32(rd);
	size = ipc_get_u64(rd);
	n = ipc_get_u32(rd);
	/* Each recipient is at least a length prefix: bound n first. */
	if (n > rd->left / 4)
		fatal("queue: garbled %s from smtpd: nrcpt=%u",
		    ipc_type_name(rd->hdr->type), n);
	env.nrcpt = n;
	env.rcpt = xcalloc(n ? n : 1, sizeof(*env.rcpt));
	for (i = 0; i < n; i++) {
		env.rcpt[i].addr = ipc_get_str(rd);
		env.rcpt[i].disp = REC_DISP_DELIVER;
	}
	ipc_get_end(rd);

	if ((t = idmap_del(&q.smtpd_txns, id)) == NULL) {
		rec_commit_free(&env);
		smtpd_reply_result(id, 451, "4.3.0 Unknown transaction",
		    "");
		return;
	}
	if (n == 0) {
		store_txn_abort(t);
		rec_commit_free(&env);
		smtpd_reply_result(id, 554, "5.5.1 No recipient was accepted",
		    "");
		return;
	}
	if (size != t->size)
		log_debug("%s: smtpd counted %llu bytes, the queue %llu",
		    t->qid, (unsigned long long)size,
		    (unsigned long long)t->size);
	/* Its size is known now: it must fit with the commits out. */
	if (sched_over_size(t->size)) {
		log_warn("%s: reject: queue quota reached (%s), size=%llu",
		    t->qid, sched_quota_name(QUOTA_SIZE),
		    (unsigned long long)t->size);
		store_txn_abort(t);
		rec_commit_free(&env);
		smtpd_reply_result(id, 452, "4.3.1 Insufficient system "
		    "storage: queue quota reached", "");
		return;
	}
	t->commit_ns = latency_now_ns();
	store_txn_commit(t, &env, on_smtpd_commit, NULL);
}

static void
commit_latency(struct ipc_reader *rd)
{
	uint32_t i, n = ipc_get_u32(rd);

	if (n > rd->left / 8)
		fatal("queue: garbled %s from smtpd: n=%u",
		    ipc_type_name(rd->hdr->type), n);
	for (i = 0; i < n; i++)
		stats_session_latency(ipc_get_u64(rd));
	ipc_get_end(rd);
}

static void
on_smtpd(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	uint64_t id = rd->hdr->id;
	const void *data;
	struct qtxn *t;
	size_t len;

	switch (rd->hdr->type) {
	case IMSG_MSG_BEGIN:
		ipc_get_end(rd);
		msg_begin(id);
		break;
	case IMSG_MSG_CHUNK:
		data = ipc_get_data(rd, &len);
		ipc_get_end(rd);
		if ((t = idmap_get(&q.smtpd_txns, id)) != NULL)
			store_txn_chunk(t, data, len);
		break;
	case IMSG_MSG_COMMIT:
		msg_commit(id, rd);
		break;
	case IMSG_MSG_ABORT:
		ipc_get_end(rd);
		if ((t = idmap_del(&q.smtpd_txns, id)) != NULL)
			store_txn_abort(t);
		break;
	case IMSG_COMMIT_LATENCY:
		commit_latency(rd);
		break;
	default:
		fatal("queue: unexpected %s from smtpd",
		    ipc_type_name(rd->hdr->type));
	}
}

static void
on_smtpd_closed(struct ipc_chan *c, void *arg)
{
	if (c != q.smtpd)
		return;
	log_info("queue: smtpd channel closed");
	q.smtpd = NULL;
	smtpd_forget();
	ipc_chan_free(c);
}

static void
set_smtpd(int fd)
{
	struct ipc_chan *old = q.smtpd;

	if (old != NULL) {
		q.smtpd = NULL;
		ipc_chan_free(old);
		smtpd_forget();
	}
	q.smtpd = ipc_chan_new(q.base, fd, "smtpd", on_smtpd,
	    on_smtpd_closed, NULL);
}

/* --- the master -------------------------------------------------------- */

static void
reload(struct ipc_reader *rd)
{
	struct config *cfg;

	if ((cfg = child_config_take(q.master, rd, "queue")) == NULL)
		return;
	config_free(q.cfg);
	q.cfg = cfg;
	store_reload();
	log_info("queue: configuration reloaded");
	child_config_result(q.master, rd->hdr->id, NULL);
}

static void
on_peer(struct ipc_reader *rd)
{
	uint32_t role;
	int fd;

	fd = ipc_get_fd(rd);
	role = ipc_get_u32(rd);
	ipc_get_end(rd);
	switch (role) {
	case ROLE_SMTPD:
		set_smtpd(fd);
		break;
	case ROLE_LOCAL:
		sched_set_agent(AGENT_LOCAL, fd);
		break;
	case ROLE_REMOTE:
		sched_set_agent(AGENT_REMOTE, fd);
		break;
	default:
		log_warn("queue: channel to %s refused",
		    proc_role_name((enum proc_role)role));
		close(fd);
	}
}

static void
on_listen(struct ipc_reader *rd)
{
	uint32_t kind;
	char *label;
	int fd;

	fd = ipc_get_fd(rd);
	kind = ipc_get_u32(rd);
	label = ipc_get_str(rd);
	ipc_get_end(rd);
	if (kind == LISTEN_SHOWQ)
		showq_listen(fd);
	else {
		log_warn("queue: listening socket %s (kind %u) refused",
		    label, kind);
		close(fd);
	}
	free(label);
}

static void
status_reply(uint64_t id)
{
	struct queue_figures f;
	struct ipc_msg *msg;
	char text[1024];

	memset(&f, 0, sizeof(f));
	sched_stats(&f);
	store_figures(&f);
	f.message_limit = (uint64_t)q.cfg->queue_message_limit;
	f.size_limit = (uint64_t)q.cfg->queue_size_limit;
	f.quota = sched_over_quota();
	stats_format(text, sizeof(text), &f);
	msg = ipc_msg_new(IMSG_QUEUE_STATUS, id);
	ipc_add_str(msg, text);
	ipc_send(q.master, msg, IPC_NO_FD);
}

static void
on_master(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	switch (rd->hdr->type) {
	case IMSG_CONFIG:
		reload(rd);
		break;
	case IMSG_PEER:
		on_peer(rd);
		break;
	case IMSG_LISTEN:
		on_listen(rd);
		break;
	case IMSG_QUEUE_STATUS_REQ:
		ipc_get_end(rd);
		status_reply(rd->hdr->id);
		break;
	case IMSG_QUEUE_FLUSH:
		ipc_get_end(rd);
		log_info("queue: flush requested");
		sched_flush();
		break;
	case IMSG_STOP:
		ipc_get_end(rd);
		queue_shutdown(0);
		break;
	default:
		fatal("queue: unexpected %s from master",
		    ipc_type_name(rd->hdr->type));
	}
}

static void
on_master_closed(struct ipc_chan *c, void *arg)
{
	log_warn("queue: master went away");
	queue_shutdown(1);
}

/*
 * The end of a stop: everything submitted to the log is written and
 * synced, and every commit waiting for that gets its reply before exit.
 */
static void
queue_finish(void)
{
	store_stop();
	if (q.smtpd != NULL)
		ipc_flush(q.smtpd);
	log_info("queue: stopped");
	exit(q.stop_code);
}

static void
on_stop_deadline(evutil_socket_t fd, short what, void *arg)
{
	log_warn("queue: deliveries still in flight after %d seconds; their "
	    "outcomes are not recorded", QUEUE_STOP_SECS);
	queue_finish();
}

/*
 * Stop: no new work, but the jobs in flight may still report (for up to
 * QUEUE_STOP_SECS), so that their outcomes reach the log and a restart
 * does not deliver them again.  The master stops the agents only after
 * the queue has exited.
 */
static void
queue_shutdown(int code)
{
	struct timeval tv = { QUEUE_STOP_SECS, 0 };

	if (code > q.stop_code)
		q.stop_code = code;
	if (q.stopping)
		return;
	q.stopping = 1;
	maildrop_stop();
	showq_stop();
	if (event_base_once(q.base, -1, EV_TIMEOUT, on_stop_deadline, NULL,
	    &tv) != 0)
		queue_finish();
	sched_stop(queue_finish);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	log_info("queue: signal %d, stopping", (int)sig);
	queue_shutdown(0);
}

#ifdef BULWARK_TESTING
static void
on_usr2(evutil_socket_t sig, short what, void *arg)
{
	log_info("queue: power cut requested");
	store_power_cut();
}
#endif

/* --- start-up ------------------------------------------------------------ */

/* Open <queue_directory>/<name>, creating it (0700, owned by user). */
static int
open_subdir(const struct config *cfg, const char *name, int create,
    const struct passwd *pw)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", cfg->queue_directory, name);
	if (create && mkdir(path, 0700) == 0 && pw != NULL &&
	    chown(path, pw->pw_uid, pw->pw_gid) != 0)
		fatalx_errno("queue: chown %s", path);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 &&
	    create)
		fatalx_errno("queue: %s", path);
	return fd;
}

void
queue_main(const struct child_env *env, struct config *cfg)
{
	struct recovery hot, cold;
	struct passwd *pw = NULL;
	struct qmsg *m;
	int logfd, coldfd, dropfd;

	q.cfg = cfg;
	idmap_init(&q.smtpd_txns);

	if (env->as_root && (pw = getpwnam(cfg->mail_owner)) == NULL)
		fatal("queue: no such user: %s", cfg->mail_owner);
	logfd = open_subdir(cfg, "log", 1, pw);
	coldfd = open_subdir(cfg, "cold", 1, pw);
	if ((dropfd = open_subdir(cfg, "maildrop", 0, NULL)) < 0)
		log_warn("queue: %s/maildrop: %s: no maildrop pickup",
		    cfg->queue_directory, strerror(errno));

	/* The cold log first: its copies supersede the hot log's records. */
	recovery_init(&cold, 1);
	cold.name = "cold";
	cold.keep_known = 1;
	if (recovery_run(&cold, coldfd) != 0)
		fatalx_errno("queue: recovery of the cold log");
	recovery_init(&hot, 1);
	hot.superseded = &cold.known;
	if (recovery_run(&hot, logfd) != 0)
		fatalx_errno("queue: recovery");

	log_open_now();
	priv_drop(cfg->mail_owner, NULL);

	if ((q.base = event_base_new()) == NULL)
		fatal("queue: event_base_new failed");
	q.master = ipc_chan_new(q.base, env->master_fd, "master", on_master,
	    on_master_closed, NULL);
	q.sig_term = child_signal(q.base, SIGTERM, on_signal, NULL);
	q.sig_int = child_signal(q.base, SIGINT, on_signal, NULL);
#ifdef BULWARK_TESTING
	q.sig_usr2 = child_signal(q.base, SIGUSR2, on_usr2, NULL);
#endif

	sched_init();
	store_start(logfd, &hot, coldfd, &cold, &q.qgen);
	while ((m = TAILQ_FIRST(&cold.live)) != NULL) {
		TAILQ_REMOVE(&cold.live, m, all);
		sched_add(m);
	}
	while ((m = TAILQ_FIRST(&hot.live)) != NULL) {
		TAILQ_REMOVE(&hot.live, m, all);
		sched_add(m);
	}
	recovery_free(&cold);
	recovery_free(&hot);
	if (dropfd >= 0)
		maildrop_init(dropfd);

	ipc_send_empty(q.master, IMSG_READY, 0);
	event_base_dispatch(q.base);
	fatal("queue: event loop ended");
}
