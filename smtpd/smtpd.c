/*
 * The smtpd process: start-up (chroot, privileges), the master's channel
 * (configuration, peers, listening sockets, stop), the channels to the
 * queue and the policy process, the listeners, and the back-pressure on
 * DATA when the queue channel fills up.  The sessions are session.c's.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "cidr.h"
#include "config.h"
#include "ipc.h"
#include "latency.h"
#include "log.h"
#include "xmalloc.h"

#include "smtpd/admission.h"
#include "smtpd/smtpd.h"

#define ACCEPT_BATCH		64	/* connections per accept callback */
#define ACCEPT_PAUSE_SECS	1	/* out of descriptors: wait this long */
#define THROTTLE_POLL_MSECS	20

struct listener {
	TAILQ_ENTRY(listener)	 entry;
	int			 fd;
	int			 kind;		/* LISTEN_SMTP, LISTEN_SUBMIT */
	char			*label;
	struct event		*ev;
	struct event		*pause_ev;
};

struct smtpd smtpd;

static void	smtpd_exit(int) __attribute__((noreturn));

/* A correlation id for a query or transaction. */
uint64_t
smtpd_next_id(void)
{
	return ++smtpd.last_id;
}

struct smtpd_conf *
smtpd_conf_new(struct config *cfg, char *err, size_t errlen)
{
	struct cidr_table *nets = NULL;
	struct smtpd_conf *c;
	char why[256];

	if (cfg->mynetworks != NULL && cfg->mynetworks[0] != '\0' &&
	    (nets = cidr_from_list(cfg->mynetworks, why, sizeof(why))) ==
	    NULL) {
		snprintf(err, errlen, "mynetworks: %s", why);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->cfg = cfg;
	c->mynetworks = nets;
	c->refs = 1;
	return c;
}

uint64_t
smtpd_now_ms(void)
{
	return latency_now_ns() / 1000000;
}

/* Forget clients that need no entry any more (see admission.c). */
static void
admission_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	admission_sweep(smtpd.admission, smtpd_now_ms());
}

/* The configuration for a new session, referenced. */
struct smtpd_conf *
smtpd_conf_ref(void)
{
	smtpd.conf->refs++;
	return smtpd.conf;
}

/* Drop a reference; the last one frees the configuration. */
void
smtpd_conf_unref(struct smtpd_conf *c)
{
	if (--c->refs > 0)
		return;
	cidr_free(c->mynetworks);
	config_free(c->cfg);
	free(c);
}

/* --- back-pressure ------------------------------------------------------ */

static void
throttle_poll(evutil_socket_t fd, short what, void *arg)
{
	if (smtpd.queue != NULL &&
	    ipc_chan_pending(smtpd.queue) > SMTPD_QUEUE_LOW)
		return;
	smtpd.throttled = 0;
	evtimer_del(smtpd.throttle_ev);
	session_resume_data();
}

/* Stop reading DATA when the queue channel is too full. */
void
smtpd_throttle_check(void)
{
	struct timeval tv = { 0, THROTTLE_POLL_MSECS * 1000 };

	if (smtpd.throttled || smtpd.queue == NULL ||
	    ipc_chan_pending(smtpd.queue) <= SMTPD_QUEUE_HIGH)
		return;
	smtpd.throttled = 1;
	if (event_add(smtpd.throttle_ev, &tv) != 0)
		fatal("smtpd: cannot arm the throttle timer");
}

/* The queue channel went: nothing to wait for any more. */
static void
throttle_clear(void)
{
	if (!smtpd.throttled)
		return;
	smtpd.throttled = 0;
	evtimer_del(smtpd.throttle_ev);
	session_resume_data();
}

/* --- commit latency ------------------------------------------------------ */

/*
 * The queue reports commit latency in bulwarkctl status, but only the
 * listener sees the end of DATA and writes the 250; it sends its samples
 * in batches, at most a second late.
 */
static void
latency_report(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_msg *msg;
	size_t i;

	if (smtpd.nlatency == 0)
		return;
	if (smtpd.queue != NULL) {
		msg = ipc_msg_new(IMSG_COMMIT_LATENCY, 0);
		ipc_add_u32(msg, (uint32_t)smtpd.nlatency);
		for (i = 0; i < smtpd.nlatency; i++)
			ipc_add_u64(msg, smtpd.latency[i]);
		ipc_send(smtpd.queue, msg, IPC_NO_FD);
	}
	smtpd.nlatency = 0;
}

void
smtpd_commit_latency(uint64_t ns)
{
	struct timeval tv = { 1, 0 };

	if (smtpd.latency_ev == NULL && (smtpd.latency_ev =
	    evtimer_new(smtpd.base, latency_report, NULL)) == NULL)
		fatal("smtpd: evtimer_new failed");
	smtpd.latency[smtpd.nlatency++] = ns;
	if (smtpd.nlatency == SMTPD_LATENCY_BATCH) {
		evtimer_del(smtpd.latency_ev);
		latency_report(-1, 0, NULL);
	} else if (smtpd.nlatency == 1 &&
	    evtimer_add(smtpd.latency_ev, &tv) != 0)
		fatal("smtpd: cannot arm the latency report timer");
}

/* --- the queue and the policy process ------------------------------------ */

static void
on_queue(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	uint64_t id = rd->hdr->id;
	uint32_t code;
	char *text, *qid;

	switch (rd->hdr->type) {
	case IMSG_MSG_QID:
	case IMSG_MSG_RESULT:
		code = ipc_get_u32(rd);
		text = ipc_get_str(rd);
		qid = ipc_get_str(rd);
		ipc_get_end(rd);
		if (rd->hdr->type == IMSG_MSG_QID)
			session_queue_qid(id, code, text, qid);
		else
			session_queue_result(id, code, text, qid);
		free(text);
		free(qid);
		break;
	default:
		fatal("smtpd: unexpected %s from queue",
		    ipc_type_name(rd->hdr->type));
	}
}

static void
on_queue_closed(struct ipc_chan *c, void *arg)
{
	if (c != smtpd.queue)
		return;
	log_warn("smtpd: queue channel closed");
	smtpd.queue = NULL;
	smtpd.queue_gen++;
	ipc_chan_free(c);
	throttle_clear();
	session_queue_lost();
}

static void
on_policy(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	uint32_t code;
	char *text, *sender;

	if (rd->hdr->type != IMSG_POLICY_VERDICT)
		fatal("smtpd: unexpected %s from policy",
		    ipc_type_name(rd->hdr->type));
	code = ipc_get_u32(rd);
	text = ipc_get_str(rd);
	sender = ipc_get_str(rd);
	ipc_get_end(rd);
	session_policy_verdict(rd->hdr->id, code, text, sender);
	free(text);
	free(sender);
}

static void
on_policy_closed(struct ipc_chan *c, void *arg)
{
	if (c != smtpd.policy)
		return;
	log_warn("smtpd: policy channel closed");
	smtpd.policy = NULL;
	smtpd.policy_gen++;
	ipc_chan_free(c);
	session_policy_lost();
}

/*
 * A new channel replaces the old one: what was asked on the old one gets
 * no answer, so those sessions hear 451 now.
 */
static void
set_peer(int fd, uint32_t role)
{
	struct ipc_chan *old;

	switch (role) {
	case ROLE_QUEUE:
		if ((old = smtpd.queue) != NULL)
			ipc_chan_free(old);
		smtpd.queue = ipc_chan_new(smtpd.base, fd, "queue", on_queue,
		    on_queue_closed, NULL);
		smtpd.queue_gen++;
		throttle_clear();
		session_queue_lost();
		break;
	case ROLE_POLICY:
		if ((old = smtpd.policy) != NULL)
			ipc_chan_free(old);
		smtpd.policy = ipc_chan_new(smtpd.base, fd, "policy",
		    on_policy, on_policy_closed, NULL);
		smtpd.policy_gen++;
		session_policy_lost();
		break;
	default:
		fatal("smtpd: master sent a channel to %s",
		    proc_role_name((enum proc_role)role));
	}
}

/* --- listeners ----------------------------------------------------------- */

static void
listener_free(struct listener *l)
{
	TAILQ_REMOVE(&smtpd.listeners, l, entry);
	event_free(l->ev);
	if (l->pause_ev != NULL)
		event_free(l->pause_ev);
	close(l->fd);
	free(l->label);
	free(l);
}

static void
listener_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	if (event_add(l->ev, NULL) != 0)
		fatal("smtpd: cannot watch listener %s", l->label);
}

/* Out of descriptors or memory: stop accepting for a moment. */
static void
listener_pause(struct listener *l)
{
	struct timeval tv = { ACCEPT_PAUSE_SECS, 0 };

	event_del(l->ev);
	if (l->pause_ev == NULL &&
	    (l->pause_ev = evtimer_new(smtpd.base, listener_resume, l)) ==
	    NULL)
		fatal("smtpd: evtimer_new failed");
	evtimer_add(l->pause_ev, &tv);
}

static void
listener_accept(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	struct sockaddr_storage ss;
	socklen_t len;
	int i, s;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		len = sizeof(ss);
		s = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s == -1) {
			switch (errno) {
			case EAGAIN:
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				return;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				log_warn("smtpd: accept on %s: %s; pausing",
				    l->label, strerror(errno));
				listener_pause(l);
				return;
			default:
				fatalx_errno("smtpd: accept on %s", l->label);
			}
		}
		session_accept(s, (struct sockaddr *)&ss, len, l->kind);
	}
}

/* A listening socket from the master; one with the same label goes. */
static void
listener_add(int fd, uint32_t kind, const char *label)
{
	struct listener *l, *next;
	int fl;

	if (kind != LISTEN_SMTP && kind != LISTEN_SUBMIT)
		fatal("smtpd: master sent listening socket %s of kind %u",
		    label, kind);
	/* Stopping: no listener any more (a reload may cross the stop). */
	if (smtpd.stopping) {
		close(fd);
		return;
	}
	TAILQ_FOREACH_SAFE(l, &smtpd.listeners, entry, next)
		if (strcmp(l->label, label) == 0)
			listener_free(l);
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		fatalx_errno("smtpd: listener %s", label);
	l = xcalloc(1, sizeof(*l));
	l->fd = fd;
	l->kind = (int)kind;
	l->label = xstrdup(label);
	l->ev = event_new(smtpd.base, fd, EV_READ | EV_PERSIST,
	    listener_accept, l);
	if (l->ev == NULL || event_add(l->ev, NULL) != 0)
		fatal("smtpd: cannot watch listener %s", label);
	TAILQ_INSERT_TAIL(&smtpd.listeners, l, entry);
	log_debug("smtpd: listening on %s", label);
}

/*
 * A reload that drops an address from inet_interfaces: stop accepting
 * there.  Addresses kept or added arrive as IMSG_LISTEN right after.
 */
static void
listeners_prune(const struct config *cfg)
{
	struct listener *l, *next;
	size_t i;

	TAILQ_FOREACH_SAFE(l, &smtpd.listeners, entry, next) {
		if (l->kind != LISTEN_SMTP)
			continue;
		for (i = 0; i < cfg->nlisten; i++)
			if (strcmp(cfg->listen[i], l->label) == 0)
				break;
		if (i == cfg->nlisten) {
			log_info("smtpd: no longer listening on %s",
			    l->label);
			listener_free(l);
		}
	}
}

/* --- the master ---------------------------------------------------------- */

static void
reload(struct ipc_chan *master, struct ipc_reader *rd)
{
	struct smtpd_conf *c;
	struct config *cfg;
	char err[512];

	if ((cfg = child_config_take(master, rd, "smtpd")) == NULL)
		return;
	if ((c = smtpd_conf_new(cfg, err, sizeof(err))) == NULL) {
		config_free(cfg);
		child_config_result(master, rd->hdr->id, err);
		return;
	}
	/* Open sessions keep the configuration they started with. */
	smtpd_conf_unref(smtpd.conf);
	smtpd.conf = c;
	listeners_prune(cfg);
	log_info("smtpd: configuration reloaded");
	child_config_result(master, rd->hdr->id, NULL);
}

static void
smtpd_stop_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { 1, 0 };

	if (arg == NULL) {
		log_info("smtpd: stop deadline: ending %zu sessions",
		    smtpd.nsessions);
		session_stop_all(1);
		/* A client that reads no more gets one second. */
		if (event_base_once(smtpd.base, -1, EV_TIMEOUT,
		    smtpd_stop_deadline, &smtpd, &tv) != 0)
			fatal("smtpd: event_base_once failed");
		return;
	}
	smtpd_exit(0);
}

/*
 * Stop: no new sessions; idle ones hear 421 at once, those inside a
 * transaction may finish it within SMTPD_STOP_SECS.
 */
static void
smtpd_stop(void)
{
	struct timeval tv = { SMTPD_STOP_SECS, 0 };
	struct listener *l;

	if (smtpd.stopping)
		return;
	smtpd.stopping = 1;
	log_info("smtpd: stopping, %zu sessions", smtpd.nsessions);
	while ((l = TAILQ_FIRST(&smtpd.listeners)) != NULL)
		listener_free(l);
	session_stop_all(0);
	if (smtpd.nsessions == 0)
		smtpd_exit(0);
	smtpd.stop_ev = evtimer_new(smtpd.base, smtpd_stop_deadline, NULL);
	if (smtpd.stop_ev == NULL || evtimer_add(smtpd.stop_ev, &tv) != 0)
		fatal("smtpd: cannot arm the stop timer");
}

/*
 * Overload: past overload_fill_limit percent of connection_limit every
 * deadline (commands, DATA, the session's lifetime, the pre-greet wait)
 * is cut to overload_deadline_percent of itself, so that idle and slow
 * clients make room; below three quarters of that limit they recover.
 */
void
smtpd_load_check(void)
{
	const struct config *cfg = smtpd.conf->cfg;
	uint64_t fill = (uint64_t)smtpd.nsessions * 100;
	uint64_t limit = (uint64_t)cfg->connection_limit *
	    (uint64_t)cfg->overload_fill_limit;

	if (!smtpd.overload && fill >= limit) {
		smtpd.overload = 1;
		log_info("smtpd: overload: %zu sessions of %lld, deadlines cut "
		    "to %lld%%", smtpd.nsessions,
		    (long long)cfg->connection_limit,
		    (long long)cfg->overload_deadline_percent);
	} else if (smtpd.overload && fill * 4 < limit * 3) {
		smtpd.overload = 0;
		log_info("smtpd: overload over: %zu sessions of %lld, "
		    "deadlines restored", smtpd.nsessions,
		    (long long)cfg->connection_limit);
	} else
		return;
	session_deadlines_changed();
}

uint64_t
smtpd_deadline_ms(int64_t secs)
{
	uint64_t ms = (uint64_t)secs * 1000;

	if (smtpd.overload)
		ms = ms * (uint64_t)smtpd.conf->cfg->overload_deadline_percent /
		    100;
	return ms;
}

/* A session ended; while stopping, the last one exits. */
void
smtpd_session_gone(void)
{
	if (smtpd.stopping && smtpd.nsessions == 0)
		smtpd_exit(0);
}

static void
smtpd_exit(int code)
{
	if (smtpd.queue != NULL)
		ipc_flush(smtpd.queue);
	log_info("smtpd: stopped");
	exit(code);
}

static void
on_master(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	uint32_t u;
	char *label;
	int fd;

	switch (rd->hdr->type) {
	case IMSG_CONFIG:
		reload(c, rd);
		break;
	case IMSG_PEER:
		fd = ipc_get_fd(rd);
		u = ipc_get_u32(rd);
		ipc_get_end(rd);
		set_peer(fd, u);
		break;
	case IMSG_LISTEN:
		fd = ipc_get_fd(rd);
		u = ipc_get_u32(rd);
		label = ipc_get_str(rd);
		ipc_get_end(rd);
		listener_add(fd, u, label);
		free(label);
		break;
	case IMSG_STOP:
		ipc_get_end(rd);
		smtpd_stop();
		break;
	default:
		fatal("smtpd: unexpected %s from master",
		    ipc_type_name(rd->hdr->type));
	}
}

static void
on_master_closed(struct ipc_chan *c, void *arg)
{
	log_warn("smtpd: master went away");
	smtpd_exit(1);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	log_info("smtpd: signal %d", (int)sig);
	smtpd_stop();
}

/* The smtpd role: chroot, drop privileges, run the loop. */
void
smtpd_main(const struct child_env *env, struct config *cfg)
{
	struct timeval sweep_every = { SMTPD_SWEEP_SECS, 0 };
	char empty[4096], err[512];

	if ((smtpd.conf = smtpd_conf_new(cfg, err, sizeof(err))) == NULL)
		fatal("smtpd: %s", err);
	smtpd.admission = admission_new();
	TAILQ_INIT(&smtpd.listeners);
	TAILQ_INIT(&smtpd.sessions);
	RB_INIT(&smtpd.waits);

	if ((size_t)snprintf(empty, sizeof(empty), "%s/empty",
	    cfg->queue_directory) >= sizeof(empty))
		fatal("smtpd: queue_directory too long");
	log_open_now();
	priv_drop(cfg->mail_owner, empty);

	if ((smtpd.base = event_base_new()) == NULL)
		fatal("smtpd: event_base_new failed");
	smtpd.master = ipc_chan_new(smtpd.base, env->master_fd, "master",
	    on_master, on_master_closed, NULL);
	if ((smtpd.throttle_ev = event_new(smtpd.base, -1, EV_PERSIST,
	    throttle_poll, NULL)) == NULL)
		fatal("smtpd: event_new failed");
	if ((smtpd.sweep_ev = event_new(smtpd.base, -1, EV_PERSIST,
	    admission_sweep_cb, NULL)) == NULL ||
	    event_add(smtpd.sweep_ev, &sweep_every) != 0)
		fatal("smtpd: cannot start the admission sweep");
	smtpd.sig_ev[0] = child_signal(smtpd.base, SIGTERM, on_signal, NULL);
	smtpd.sig_ev[1] = child_signal(smtpd.base, SIGINT, on_signal, NULL);

	ipc_send_empty(smtpd.master, IMSG_READY, 0);
	event_base_dispatch(smtpd.base);
	fatal("smtpd: event loop ended");
}
