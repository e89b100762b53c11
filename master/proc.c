/*
 * The process table: starting each child (socket pair, fork, exec of the
 * same binary with -R role), the channels between children, reaping and
 * restarting with back-off.
 *
 * The master only forks and execs; each child gives up root itself once
 * it has opened what it needs.  Nothing of the master's state but the
 * channel on CHILD_MASTER_FD and the standard descriptors crosses exec.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "ipc.h"
#include "log.h"

#include "master/master.h"

/* The channels the master sets up between children. */
static const struct {
	enum proc_role	a, b;
} proc_links[] = {
	{ ROLE_SMTPD, ROLE_POLICY },
	{ ROLE_SMTPD, ROLE_QUEUE },
	{ ROLE_QUEUE, ROLE_LOCAL },
	{ ROLE_QUEUE, ROLE_REMOTE },
};

static int	proc_spawn(struct master *, struct proc *);

void
proc_user(pid_t pid, char *out, size_t outlen)
{
	char path[64], line[256];
	struct passwd *pw;
	unsigned long ruid, euid;
	FILE *f;

	snprintf(out, outlen, "?");
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Uid: %lu %lu", &ruid, &euid) != 2)
			continue;
		if ((pw = getpwuid((uid_t)euid)) != NULL)
			snprintf(out, outlen, "%s", pw->pw_name);
		else
			snprintf(out, outlen, "%lu", euid);
		break;
	}
	fclose(f);
}

static struct proc *
proc_by_pid(struct master *m, pid_t pid)
{
	int r;

	for (r = ROLE_SMTPD; r < ROLE_COUNT; r++)
		if (m->procs[r].pid == pid)
			return &m->procs[r];
	return NULL;
}

static void
proc_drop_chan(struct master *m, struct proc *p)
{
	struct ipc_chan *c = p->chan;

	p->chan = NULL;
	ipc_chan_free(c);
}

static void
on_queue_status(struct master *m, struct ipc_reader *rd)
{
	char *text = ipc_get_str(rd);

	ipc_get_end(rd);
	if (m->control != NULL)
		control_queue_status(m->control, rd->hdr->id, text);
	free(text);
}

static void
on_child(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	struct proc *p = arg;

	/* Frames still buffered on a channel already replaced. */
	if (c != p->chan)
		return;
	switch (rd->hdr->type) {
	case IMSG_READY:
		ipc_get_end(rd);
		p->ready = 1;
		log_debug("%s (pid %ld) ready", proc_role_name(p->role),
		    (long)p->pid);
		break;
	case IMSG_CONFIG_RESULT:
		reload_answer(p->m, p, rd);
		break;
	case IMSG_QUEUE_STATUS:
		if (p->role == ROLE_QUEUE) {
			on_queue_status(p->m, rd);
			break;
		}
		/* FALLTHROUGH */
	default:
		/* A child that speaks out of turn is not trusted further. */
		log_warn("unexpected %s from %s (pid %ld): killing it",
		    ipc_type_name(rd->hdr->type), proc_role_name(p->role),
		    (long)p->pid);
		if (p->pid > 0)
			kill(p->pid, SIGKILL);
		proc_drop_chan(p->m, p);
	}
}

static void
on_child_closed(struct ipc_chan *c, void *arg)
{
	struct proc *p = arg;

	if (c != p->chan)
		return;
	log_debug("%s (pid %ld) closed its channel", proc_role_name(p->role),
	    (long)p->pid);
	proc_drop_chan(p->m, p);
}

void
proc_send_config(struct master *m, struct proc *p, uint64_t id)
{
	struct ipc_msg *msg;

	if (p->chan == NULL)
		return;
	msg = ipc_msg_new(IMSG_CONFIG, id);
	ipc_add_str(msg, m->config_path);
	ipc_add_str(msg, m->config_text);
	ipc_send(p->chan, msg, IPC_NO_FD);
}

static void
send_peer(struct proc *p, enum proc_role other, int fd)
{
	struct ipc_msg *msg = ipc_msg_new(IMSG_PEER, 0);

	ipc_add_u32(msg, (uint32_t)other);
	ipc_send(p->chan, msg, fd);
}

/* A fresh channel between two running children, one end to each. */
static void
proc_link(struct master *m, enum proc_role a, enum proc_role b)
{
	struct proc *pa = &m->procs[a], *pb = &m->procs[b];
	int sv[2];

	if (pa->chan == NULL || pb->chan == NULL)
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		log_warn("channel %s-%s: socketpair: %s", proc_role_name(a),
		    proc_role_name(b), strerror(errno));
		return;
	}
	send_peer(pa, b, sv[0]);
	send_peer(pb, a, sv[1]);
	log_debug("channel %s-%s set up", proc_role_name(a), proc_role_name(b));
}

/* Pass a copy of one of the master's listening sockets. */
static void
send_listen(struct proc *p, int fd, enum listen_kind kind,
    const char *label)
{
	struct ipc_msg *msg;
	int copy;

	if (p->chan == NULL || fd < 0)
		return;
	if ((copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		log_warn("%s: cannot pass %s: %s", proc_role_name(p->role),
		    label, strerror(errno));
		return;
	}
	msg = ipc_msg_new(IMSG_LISTEN, 0);
	ipc_add_u32(msg, (uint32_t)kind);
	ipc_add_str(msg, label);
	ipc_send(p->chan, msg, copy);
}

void
proc_send_inet_listens(struct master *m)
{
	struct proc *p = &m->procs[ROLE_SMTPD];
	size_t i;

	for (i = 0; i < m->nlisten; i++)
		send_listen(p, m->listen_fd[i], LISTEN_SMTP,
		    m->cfg->listen[i]);
}

static void
proc_send_listens(struct master *m, struct proc *p)
{
	switch (p->role) {
	case ROLE_SMTPD:
		proc_send_inet_listens(m);
		send_listen(p, m->submit_fd, LISTEN_SUBMIT, m->submit_path);
		break;
	case ROLE_QUEUE:
		send_listen(p, m->showq_fd, LISTEN_SHOWQ, m->showq_path);
		break;
	default:
		break;
	}
}

/* Channels of p to every running peer, then its sockets. */
static void
proc_wire(struct master *m, struct proc *p)
{
	size_t i;

	for (i = 0; i < sizeof(proc_links) / sizeof(proc_links[0]); i++) {
		if (proc_links[i].a == p->role)
			proc_link(m, p->role, proc_links[i].b);
		else if (proc_links[i].b == p->role)
			proc_link(m, proc_links[i].a, p->role);
	}
	proc_send_listens(m, p);
}

/* Start p again after its back-off, which doubles for the next time. */
static int
proc_schedule(struct proc *p)
{
	struct timeval tv = { p->backoff, 0 };
	int delay = p->backoff;

	p->backoff = delay * 2 > MASTER_BACKOFF_MAX ? MASTER_BACKOFF_MAX :
	    delay * 2;
	p->restart_at = master_now() + delay;
	if (evtimer_add(p->restart_ev, &tv) != 0)
		fatal("master: cannot arm the restart timer");
	return delay;
}

static void
restart_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc *p = arg;

	p->restart_at = 0;
	if (p->m->phase != PHASE_RUN || p->pid != 0)
		return;
	if (proc_spawn(p->m, p) != 0) {
		proc_schedule(p);
		return;
	}
	proc_wire(p->m, p);
}

void
proc_init(struct master *m)
{
	struct proc *p;
	int r;

	for (r = ROLE_SMTPD; r < ROLE_COUNT; r++) {
		p = &m->procs[r];
		memset(p, 0, sizeof(*p));
		p->m = m;
		p->role = (enum proc_role)r;
		p->backoff = MASTER_BACKOFF_MIN;
		if ((p->restart_ev = evtimer_new(m->base, restart_cb, p)) ==
		    NULL)
			fatal("master: cannot create a restart timer");
	}
}

/*
 * In the new child, between fork and exec: async-signal-safe calls.
 * The binary is the master's own through /proc/self/exe, not a path:
 * after an install over the running daemon, a path would name a newer
 * bulwarkd than the master that speaks to it.
 */
static void
child_exec(char *const argv[], int fd)
{
	sigset_t none;

	if (fd == CHILD_MASTER_FD) {
		if (fcntl(fd, F_SETFD, 0) == -1)
			_exit(127);
	} else if (dup2(fd, CHILD_MASTER_FD) == -1)
		_exit(127);
	if (close_range(CHILD_MASTER_FD + 1, ~0U, 0) != 0)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	execv("/proc/self/exe", argv);
	_exit(127);
}

/* Start one child; its channel gets IMSG_CONFIG at once. */
static int
proc_spawn(struct master *m, struct proc *p)
{
	char *argv[8];
	const char *name = proc_role_name(p->role);
	int sv[2], argc = 0;
	pid_t pid;

	argv[argc++] = "bulwarkd";
	argv[argc++] = "-R";
	argv[argc++] = (char *)name;
	if (m->foreground)
		argv[argc++] = "-d";
	if (m->debug)
		argv[argc++] = "-v";
	argv[argc] = NULL;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		log_warn("cannot start %s: socketpair: %s", name,
		    strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("cannot start %s: fork: %s", name, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0)
		child_exec(argv, sv[1]);

	close(sv[1]);
	p->pid = pid;
	p->started = master_now();
	p->ready = 0;
	p->chan = ipc_chan_new(m->base, sv[0], name, on_child,
	    on_child_closed, p);
	proc_send_config(m, p, 0);
	log_info("started %s (pid %ld)", name, (long)pid);
	return 0;
}

void
proc_start_all(struct master *m)
{
	size_t i;
	int r;

	for (r = ROLE_SMTPD; r < ROLE_COUNT; r++)
		if (proc_spawn(m, &m->procs[r]) != 0)
			proc_schedule(&m->procs[r]);
	for (i = 0; i < sizeof(proc_links) / sizeof(proc_links[0]); i++)
		proc_link(m, proc_links[i].a, proc_links[i].b);
	for (r = ROLE_SMTPD; r < ROLE_COUNT; r++)
		proc_send_listens(m, &m->procs[r]);
}

static void
log_exit(const struct proc *p, pid_t pid, int status)
{
	const char *name = proc_role_name(p->role);
	int quiet = p->m->phase != PHASE_RUN;

	if (WIFEXITED(status)) {
		if (WEXITSTATUS(status) == 0 && quiet)
			log_info("%s (pid %ld) exited", name, (long)pid);
		else
			log_warn("%s (pid %ld) exited with status %d", name,
			    (long)pid, WEXITSTATUS(status));
	} else if (WIFSIGNALED(status))
		log_warn("%s (pid %ld) killed by signal %d (%s)%s", name,
		    (long)pid, WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WCOREDUMP(status) ? ", core dumped" : "");
	else
		log_warn("%s (pid %ld) ended with wait status %#x", name,
		    (long)pid, status);
}

/* A child that ended: log it, and restart it unless we are stopping. */
static void
proc_gone(struct master *m, struct proc *p, pid_t pid, int status)
{
	time_t ran = master_now() - p->started;
	int delay;

	log_exit(p, pid, status);
	reload_proc_gone(m, p, pid);
	p->pid = 0;
	p->ready = 0;
	proc_drop_chan(m, p);
	if (m->phase != PHASE_RUN)
		return;

	if (ran >= MASTER_STABLE_SECS)
		p->backoff = MASTER_BACKOFF_MIN;
	delay = proc_schedule(p);
	log_info("restarting %s in %d second%s", proc_role_name(p->role),
	    delay, delay == 1 ? "" : "s");
}

void
proc_reap(struct master *m)
{
	struct proc *p;
	int status, gone = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((p = proc_by_pid(m, pid)) == NULL) {
			log_debug("reaped unknown process %ld", (long)pid);
			continue;
		}
		proc_gone(m, p, pid, status);
		gone = 1;
	}
	if (pid == -1 && errno != ECHILD)
		log_warn("waitpid: %s", strerror(errno));
	if (gone && m->phase != PHASE_RUN)
		master_child_gone(m);
}

/* Ask one role to finish its work and exit. */
void
proc_stop_role(struct master *m, enum proc_role role)
{
	struct proc *p = &m->procs[role];

	evtimer_del(p->restart_ev);
	p->restart_at = 0;
	if (p->pid == 0)
		return;
	if (p->chan != NULL) {
		ipc_send_empty(p->chan, IMSG_STOP, 0);
		return;
	}
	if (kill(p->pid, SIGTERM) != 0 && errno != ESRCH)
		log_warn("%s (pid %ld): kill: %s", proc_role_name(role),
		    (long)p->pid, strerror(errno));
}

void
proc_kill_all(struct master *m, int sig)
{
	int r;

	for (r = ROLE_SMTPD; r < ROLE_COUNT; r++) {
		if (m->procs[r].pid == 0)
			continue;
		if (sig == SIGKILL)
			log_warn("%s (pid %ld) did not stop: killing it",
			    proc_role_name(r), (long)m->procs[r].pid);
		if (kill(m->procs[r].pid, sig) != 0 && errno != ESRCH)
			log_warn("%s (pid %ld): kill: %s", proc_role_name(r),
			    (long)m->procs[r].pid, strerror(errno));
	}
}

int
proc_running(const struct master *m)
{
	int r, n = 0;

	for (r = ROLE_SMTPD; r < ROLE_COUNT; r++)
		if (m->procs[r].pid != 0)
			n++;
	return n;
}
