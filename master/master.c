/*
 * The master process: start-up (configuration, spool, pid lock,
 * sockets, children), reload on SIGHUP and the ordered stop on SIGTERM.
 *
 * Start-up order matters: the pid file is locked before any socket is
 * created, so a second master on the same spool fails before it can
 * remove the first one's Unix sockets or steal its ports.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "ipc.h"
#include "log.h"
#include "text.h"
#include "xmalloc.h"

#include "master/master.h"

#define MAILDROP_GROUP	"bulwarkdrop"

static void	stop_timeout(evutil_socket_t, short, void *);

time_t
master_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return time(NULL);
	return ts.tv_sec;
}

/*
 * Before the master detaches, a start error must reach whoever started
 * it, as well as the log.
 */
static void
start_error(const struct master *m, const char *what)
{
	const char *line;
	size_t len;

	if (!m->foreground)
		text_print_lines(stderr, "bulwarkd", what);
	while ((line = text_line(&what, &len)) != NULL)
		log_warn("%.*s", (int)len, line);
}

static void __attribute__((noreturn))
start_fatal(const struct master *m, const char *what)
{
	start_error(m, what);
	fatal("bulwarkd not started");
}

/* Descriptors 0, 1 and 2 must exist, or a socket could land there. */
static void
std_fds(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn("cannot raise the descriptor limit to %llu: %s",
		    (unsigned long long)rl.rlim_max, strerror(errno));
}

/* Who owns the spool and whom the unprivileged children run as. */
static void
resolve_owner(struct master *m)
{
	struct passwd *pw;
	struct group *gr;

	if (!m->as_root) {
		m->owner_uid = getuid();
		m->owner_gid = getgid();
		m->drop_gid = m->owner_gid;
		if ((pw = getpwuid(m->owner_uid)) != NULL)
			strlcpy(m->user, pw->pw_name, sizeof(m->user));
		else
			snprintf(m->user, sizeof(m->user), "%lu",
			    (unsigned long)m->owner_uid);
		log_info("running as user %s: no privilege separation",
		    m->user);
		return;
	}
	if ((pw = getpwnam(m->cfg->mail_owner)) == NULL)
		fatal("mail_owner %s: no such user", m->cfg->mail_owner);
	m->owner_uid = pw->pw_uid;
	m->owner_gid = pw->pw_gid;
	strlcpy(m->user, pw->pw_name, sizeof(m->user));
	if ((gr = getgrnam(MAILDROP_GROUP)) != NULL)
		m->drop_gid = gr->gr_gid;
	else {
		m->drop_gid = m->owner_gid;
		log_warn("no group %s: sendmail cannot leave mail in the "
		    "maildrop while bulwarkd is down", MAILDROP_GROUP);
	}
}

static void
absolute_config_path(struct master *m, const char *path)
{
	char cwd[PATH_MAX];

	if (path[0] == '/') {
		m->config_path = xstrdup(path);
		return;
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		fatalx_errno("getcwd");
	xasprintf(&m->config_path, "%s/%s", cwd, path);
}

static void
open_sockets(struct master *m)
{
	char err[512];
	uid_t u = m->as_root ? 0 : m->owner_uid;
	gid_t g = m->as_root ? 0 : m->owner_gid;

	if ((m->submit_fd = listen_unix_open(m->submit_path, 0666, u, g,
	    m->as_root, err, sizeof(err))) == -1 ||
	    (m->showq_fd = listen_unix_open(m->showq_path, 0666, u, g,
	    m->as_root, err, sizeof(err))) == -1 ||
	    (m->control_fd = listen_unix_open(m->control_path, 0600, u, g,
	    m->as_root, err, sizeof(err))) == -1 ||
	    listen_inet_open(m, err, sizeof(err)) != 0) {
		spool_cleanup(m);
		start_fatal(m, err);
	}
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;
	char *errs = NULL;

	switch (sig) {
	case SIGCHLD:
		proc_reap(m);
		break;
	case SIGHUP:
		log_info("reload: SIGHUP");
		(void)master_reload(m, &errs, NULL, NULL);
		free(errs);
		break;
	default:
		log_info("signal %d: stopping", (int)sig);
		master_stop(m);
		break;
	}
}

static void
watch_signals(struct master *m)
{
	const int sigs[4] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT };
	size_t i;

	for (i = 0; i < 4; i++) {
		m->sig_ev[i] = evsignal_new(m->base, sigs[i], on_signal, m);
		if (m->sig_ev[i] == NULL || event_add(m->sig_ev[i], NULL) != 0)
			fatal("cannot watch signal %d", sigs[i]);
	}
	signal(SIGPIPE, SIG_IGN);
}

static void
master_start(struct master *m, const struct master_opts *opts)
{
	char err[512], *errs = NULL;

	memset(m, 0, sizeof(*m));
	m->foreground = opts->foreground;
	m->debug = opts->debug;
	m->as_root = geteuid() == 0;
	m->pid_fd = m->submit_fd = m->showq_fd = m->control_fd = -1;
	m->started = master_now();
	absolute_config_path(m, opts->config_path);

	m->cfg = master_load_config(m->config_path, m->as_root,
	    &m->config_text, &errs);
	if (m->cfg == NULL) {
		start_error(m, errs ? errs : "configuration refused");
		fatal("%s: configuration refused", m->config_path);
	}
	resolve_owner(m);
	raise_nofile();

	if (spool_prepare(m, err, sizeof(err)) != 0 ||
	    spool_pid_lock(m, err, sizeof(err)) != 0)
		start_fatal(m, err);
	open_sockets(m);
}

void
master_main(const struct master_opts *opts)
{
	static struct master master;
	struct master *m = &master;
	char err[512];

	std_fds();
	umask(022);
	master_start(m, opts);

	if (!m->foreground && daemon(0, 0) != 0) {
		spool_cleanup(m);
		start_fatal(m, "cannot detach: daemon() failed");
	}
	if (spool_pid_write(m, err, sizeof(err)) != 0) {
		spool_cleanup(m);
		start_fatal(m, err);
	}

	if ((m->base = event_base_new()) == NULL)
		fatal("event_base_new failed");
	if ((m->stop_ev = evtimer_new(m->base, stop_timeout, m)) == NULL)
		fatal("cannot create the stop timer");
	watch_signals(m);
	m->control = control_new(m);
	proc_init(m);
	proc_start_all(m);
	log_info("bulwarkd started: spool %s, %zu SMTP listener%s",
	    m->cfg->queue_directory, m->nlisten, m->nlisten == 1 ? "" : "s");

	event_base_dispatch(m->base);
	fatal("master: event loop ended");
}

/* --- reload ------------------------------------------------------------ */

static int
same_listen(const struct config *a, const struct config *b)
{
	size_t i;

	if (a->nlisten != b->nlisten)
		return 0;
	for (i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i], b->listen[i]) != 0)
			return 0;
	return 1;
}

/*
 * The sockets for cfg's inet_interfaces: the master's own for an address
 * it listens on already, new ones for the others.  Nothing changes in m
 * until every new socket is open.
 */
static int
reload_listen(struct master *m, const struct config *cfg, int *fds,
    char **errs)
{
	char err[512];
	size_t i, j;

	for (i = 0; i < cfg->nlisten; i++) {
		fds[i] = -1;
		for (j = 0; j < m->nlisten; j++)
			if (strcmp(cfg->listen[i], m->cfg->listen[j]) == 0)
				fds[i] = m->listen_fd[j];
		if (fds[i] != -1)
			continue;
		if ((fds[i] = listen_inet_socket(cfg->listen[i], err,
		    sizeof(err))) != -1)
			continue;
		master_errf(errs, "%s", err);
		while (i-- > 0) {
			for (j = 0; j < m->nlisten; j++)
				if (fds[i] == m->listen_fd[j])
					break;
			if (j == m->nlisten)
				close(fds[i]);
		}
		return -1;
	}
	return 0;
}

/* Keys whose new value only a restart could apply. */
static int
reload_fixed(const struct config *old, const struct config *cfg,
    char **errs)
{
	char at[PATH_MAX + 32];
	int rc = 0;

	if (strcmp(old->queue_directory, cfg->queue_directory) != 0) {
		config_where(cfg, "queue_directory", at, sizeof(at));
		master_errf(errs, "%s: queue_directory: cannot change on "
		    "reload: restart bulwarkd", at);
		rc = -1;
	}
	if (strcmp(old->mail_owner, cfg->mail_owner) != 0) {
		config_where(cfg, "mail_owner", at, sizeof(at));
		master_errf(errs, "%s: mail_owner: cannot change on reload: "
		    "restart bulwarkd", at);
		rc = -1;
	}
	return rc;
}

static void
reload_log_refused(const char *errs)
{
	const char *line;
	size_t len;

	while ((line = text_line(&errs, &len)) != NULL)
		log_warn("reload: %.*s", (int)len, line);
	log_warn("reload: configuration refused, the old one stays");
}

int
master_reload(struct master *m, char **errs, reload_done_fn done,
    void *arg)
{
	int fds[CONFIG_MAX_LISTEN];
	struct config *cfg;
	int changed;
	char *text;
	size_t i, j;

	if (m->phase != PHASE_RUN) {
		master_errf(errs, "bulwarkd is stopping");
		return -1;
	}
	cfg = master_load_config(m->config_path, m->as_root, &text, errs);
	if (cfg == NULL)
		goto refused;
	if (reload_fixed(m->cfg, cfg, errs) != 0)
		goto refused;
	changed = !same_listen(m->cfg, cfg);
	if (changed && reload_listen(m, cfg, fds, errs) != 0)
		goto refused;

	if (changed) {
		/* Close what the new list no longer names. */
		for (j = 0; j < m->nlisten; j++) {
			for (i = 0; i < cfg->nlisten; i++)
				if (fds[i] == m->listen_fd[j])
					break;
			if (i == cfg->nlisten)
				close(m->listen_fd[j]);
		}
		for (i = 0; i < cfg->nlisten; i++)
			m->listen_fd[i] = fds[i];
		m->nlisten = cfg->nlisten;
	}
	config_free(m->cfg);
	free(m->config_text);
	m->cfg = cfg;
	m->config_text = text;

	log_info("reload: configuration accepted%s, sent to the children",
	    changed ? ", SMTP listeners replaced" : "");
	reload_push(m, done, arg);
	if (changed)
		proc_send_inet_listens(m);
	return 0;

refused:
	reload_log_refused(*errs);
	if (cfg != NULL)
		config_free(cfg);
	free(text);
	return -1;
}

/* --- stop -------------------------------------------------------------- */

/* Policy and the agents, once the queue is gone (or outlived its grace). */
static void
stop_rest(struct master *m)
{
	struct timeval tv = { MASTER_STOP_REST_SECS, 0 };
	int r;

	m->phase = PHASE_STOP_REST;
	if (m->procs[ROLE_QUEUE].pid != 0) {
		log_warn("queue (pid %ld) did not stop in %d seconds: killing "
		    "it", (long)m->procs[ROLE_QUEUE].pid,
		    MASTER_STOP_QUEUE_SECS);
		kill(m->procs[ROLE_QUEUE].pid, SIGKILL);
	}
	for (r = ROLE_QUEUE + 1; r < ROLE_COUNT; r++)
		proc_stop_role(m, (enum proc_role)r);
	if (proc_running(m) == 0)
		master_exit(m);
	evtimer_del(m->stop_ev);
	evtimer_add(m->stop_ev, &tv);
}

/*
 * The queue, once smtpd is gone (or outlived its grace).  The agents
 * keep running meanwhile, so that the queue can record the outcomes of
 * the deliveries in flight before it exits.
 */
static void
stop_queue(struct master *m)
{
	struct timeval tv = { MASTER_STOP_QUEUE_SECS, 0 };

	m->phase = PHASE_STOP_QUEUE;
	if (m->procs[ROLE_SMTPD].pid != 0) {
		log_warn("smtpd (pid %ld) did not stop in %d seconds: killing "
		    "it", (long)m->procs[ROLE_SMTPD].pid,
		    MASTER_STOP_SMTPD_SECS);
		kill(m->procs[ROLE_SMTPD].pid, SIGKILL);
	}
	if (m->procs[ROLE_QUEUE].pid == 0) {
		stop_rest(m);
		return;
	}
	proc_stop_role(m, ROLE_QUEUE);
	evtimer_del(m->stop_ev);
	evtimer_add(m->stop_ev, &tv);
}

static void
stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct master *m = arg;

	if (m->phase == PHASE_STOP_SMTPD)
		stop_queue(m);
	else if (m->phase == PHASE_STOP_QUEUE)
		stop_rest(m);
	else
		proc_kill_all(m, SIGKILL);
}

void
master_child_gone(struct master *m)
{
	if (proc_running(m) == 0)
		master_exit(m);
	if (m->phase == PHASE_STOP_SMTPD && m->procs[ROLE_SMTPD].pid == 0)
		stop_queue(m);
	else if (m->phase == PHASE_STOP_QUEUE &&
	    m->procs[ROLE_QUEUE].pid == 0)
		stop_rest(m);
}

/*
 * smtpd first, so that sessions end with 421 while the queue can still
 * take what they commit; then the queue, which waits for the agents'
 * reports; then policy and the agents.
 */
void
master_stop(struct master *m)
{
	struct timeval tv = { MASTER_STOP_SMTPD_SECS, 0 };
	int r;

	if (m->phase != PHASE_RUN)
		return;
	m->phase = PHASE_STOP_SMTPD;
	for (r = ROLE_SMTPD; r < ROLE_COUNT; r++) {
		evtimer_del(m->procs[r].restart_ev);
		m->procs[r].restart_at = 0;
	}
	/*
	 * smtpd closes its copies of the listening sockets now; ours would
	 * let the kernel accept connections that nobody ever greets.
	 * Closed, they are refused, and sendmail turns to the maildrop.
	 */
	while (m->nlisten > 0)
		close(m->listen_fd[--m->nlisten]);
	if (m->submit_fd != -1)
		close(m->submit_fd);
	m->submit_fd = -1;
	if (m->procs[ROLE_SMTPD].pid == 0) {
		stop_queue(m);
		return;
	}
	proc_stop_role(m, ROLE_SMTPD);
	evtimer_add(m->stop_ev, &tv);
}

void
master_exit(struct master *m)
{
	if (m->control != NULL) {
		control_free(m->control);
		m->control = NULL;
	}
	spool_cleanup(m);
	log_info("bulwarkd stopped");
	exit(0);
}
