/*
 * The control socket, private/control, for bulwarkctl: one request line,
 * then a text reply that starts with "ok" or "error: reason" and ends
 * when the master closes the connection.  Everything runs in the
 * master's event loop; "status" waits for the queue's counts without
 * holding anything else up.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "ipc.h"
#include "log.h"
#include "text.h"
#include "xmalloc.h"

#include "master/master.h"

#define CONTROL_LINE_MAX	1024
#define CONTROL_MAX_CONN	16
#define CONTROL_TIMEOUT		10	/* seconds to send the request */
#define CONTROL_QUEUE_SECS	5	/* the queue's answer to status */

struct conn {
	TAILQ_ENTRY(conn)	 entry;
	struct control		*ctl;
	struct bufferevent	*bev;
	uint64_t		 id;		/* status request to queue */
	struct evbuffer		*status;	/* status text so far */
	struct event		*wait_ev;
	int			 stop_after;	/* "stop": once replied */
	int			 pending;	/* an answer is due */
	int			 replied;
};

TAILQ_HEAD(conns, conn);

struct control {
	struct master	*m;
	struct event	*accept_ev;
	struct conns	 conns;
	size_t		 nconn;
	uint64_t	 last_id;
};

struct command {
	const char	*name;
	void		(*run)(struct conn *);
};

static void
conn_free(struct conn *c)
{
	struct control *ctl = c->ctl;

	TAILQ_REMOVE(&ctl->conns, c, entry);
	ctl->nconn--;
	if (c->wait_ev != NULL)
		event_free(c->wait_ev);
	if (c->status != NULL)
		evbuffer_free(c->status);
	bufferevent_free(c->bev);
	free(c);
}

/* The connection is over; a "stop" begins once its reply is out. */
static void
conn_close(struct conn *c)
{
	struct master *m = c->ctl->m;
	int stop = c->stop_after;

	conn_free(c);
	if (stop)
		master_stop(m);
}

static void
on_written(struct bufferevent *bev, void *arg)
{
	conn_close(arg);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	/*
	 * The client went away or was too slow.  While an answer is due
	 * the connection stays, so that the answer finds it; it closes
	 * once that reply fails to go out.
	 */
	if (c->pending)
		return;
	conn_close(c);
}

/* The reply is whole in the output buffer: send it, then close. */
static void
conn_send(struct conn *c)
{
	c->replied = 1;
	c->pending = 0;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setcb(c->bev, NULL, on_written, on_event, c);
	bufferevent_enable(c->bev, EV_WRITE);
}

static void
conn_reply(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The whole reply in one go. */
static void
conn_reply(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
	conn_send(c);
}

/* Each line of text to the reply, after prefix. */
static void
conn_add_lines(struct conn *c, const char *prefix, const char *text)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const char *line;
	size_t len;

	while ((line = text_line(&text, &len)) != NULL)
		evbuffer_add_printf(out, "%s%.*s\n", prefix, (int)len, line);
}

static void
uptime(time_t secs, char *out, size_t len)
{
	if (secs < 0)
		secs = 0;
	if (secs >= 86400)
		snprintf(out, len, "%lldd%lldh", (long long)secs / 86400,
		    (long long)secs % 86400 / 3600);
	else if (secs >= 3600)
		snprintf(out, len, "%lldh%lldm", (long long)secs / 3600,
		    (long long)secs % 3600 / 60);
	else if (secs >= 60)
		snprintf(out, len, "%lldm%llds", (long long)secs / 60,
		    (long long)secs % 60);
	else
		snprintf(out, len, "%llds", (long long)secs);
}

/* "role pid user uptime", one line per process, master first. */
static void
status_procs(struct master *m, struct evbuffer *b)
{
	char user[64], up[32];
	const struct proc *p;
	time_t now = master_now();
	int r;

	proc_user(getpid(), user, sizeof(user));
	uptime(now - m->started, up, sizeof(up));
	evbuffer_add_printf(b, "%-8s %-8ld %-10s %s\n", "master",
	    (long)getpid(), user, up);
	for (r = ROLE_SMTPD; r < ROLE_COUNT; r++) {
		p = &m->procs[r];
		if (p->pid != 0) {
			proc_user(p->pid, user, sizeof(user));
			uptime(now - p->started, up, sizeof(up));
			evbuffer_add_printf(b, "%-8s %-8ld %-10s %s%s\n",
			    proc_role_name(p->role), (long)p->pid, user, up,
			    p->ready ? "" : " (starting)");
		} else if (p->restart_at != 0)
			evbuffer_add_printf(b, "%-8s %-8s %-10s restart in "
			    "%llds\n", proc_role_name(p->role), "-", "-",
			    (long long)(p->restart_at > now ?
			    p->restart_at - now : 0));
		else
			evbuffer_add_printf(b, "%-8s %-8s %-10s down\n",
			    proc_role_name(p->role), "-", "-");
	}
}

static void
status_finish(struct conn *c, const char *queue_line)
{
	size_t len = evbuffer_get_length(c->status);

	conn_reply(c, "ok\n%.*s%s\n", (int)len,
	    (const char *)evbuffer_pullup(c->status, -1), queue_line);
}

static void
status_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	status_finish(c, "queue: no answer from the queue process");
}

static void
cmd_status(struct conn *c)
{
	struct control *ctl = c->ctl;
	struct proc *q = &ctl->m->procs[ROLE_QUEUE];
	struct timeval tv = { CONTROL_QUEUE_SECS, 0 };

	c->status = evbuffer_new();
	if (c->status == NULL)
		fatal("control: evbuffer_new failed");
	status_procs(ctl->m, c->status);
	if (q->chan == NULL) {
		status_finish(c, "queue: the queue process is not running");
		return;
	}
	c->id = ++ctl->last_id;
	c->pending = 1;
	c->wait_ev = evtimer_new(ctl->m->base, status_timeout, c);
	if (c->wait_ev == NULL || evtimer_add(c->wait_ev, &tv) != 0)
		fatal("control: cannot arm the status timer");
	ipc_send_empty(q->chan, IMSG_QUEUE_STATUS_REQ, c->id);
}

void
control_queue_status(struct control *ctl, uint64_t id, const char *text)
{
	struct conn *c;

	TAILQ_FOREACH(c, &ctl->conns, entry)
		if (c->id == id && !c->replied)
			break;
	if (c == NULL)
		return;
	evtimer_del(c->wait_ev);
	status_finish(c, text);
}

static void
cmd_flush(struct conn *c)
{
	struct proc *q = &c->ctl->m->procs[ROLE_QUEUE];

	if (q->chan == NULL) {
		conn_reply(c, "error: the queue process is not running\n");
		return;
	}
	ipc_send_empty(q->chan, IMSG_QUEUE_FLUSH, ++c->ctl->last_id);
	log_info("control: flush requested");
	conn_reply(c, "ok: flush requested\n");
}

/*
 * Every child answered, or the time ran out: "ok" only if all took it,
 * else one "error: role: reason" line per child that did not.
 */
static void
reload_done(void *arg, const char *errs)
{
	struct conn *c = arg;

	if (errs == NULL) {
		conn_reply(c, "ok: configuration applied\n");
		return;
	}
	conn_add_lines(c, "error: ", errs);
	conn_send(c);
}

static void
cmd_reload(struct conn *c)
{
	char *errs = NULL;

	log_info("reload: requested by bulwarkctl");
	/* Kept open, as for status, until the children have answered. */
	c->pending = 1;
	if (master_reload(c->ctl->m, &errs, reload_done, c) != 0) {
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		    "error: configuration refused\n");
		conn_add_lines(c, "", errs);
		conn_send(c);
	}
	free(errs);
}

static void
cmd_stop(struct conn *c)
{
	log_info("control: stop requested");
	c->stop_after = 1;
	conn_reply(c, "ok: stopping\n");
}

static const struct command commands[] = {
	{ "status",	cmd_status },
	{ "flush",	cmd_flush },
	{ "reload",	cmd_reload },
	{ "stop",	cmd_stop },
};

static void
dispatch(struct conn *c, char *line)
{
	char shown[64];
	size_t i, len;

	line += strspn(line, " \t");
	len = strlen(line);
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';
	if (len == 0) {
		conn_reply(c, "error: empty request\n");
		return;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(line, commands[i].name) == 0) {
			commands[i].run(c);
			return;
		}
	log_escape(shown, sizeof(shown), line, len);
	conn_reply(c, "error: unknown command %s\n", shown);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	if (c->replied || c->pending)
		return;
	line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > CONTROL_LINE_MAX)
			conn_reply(c, "error: request too long\n");
		return;
	}
	if (len > CONTROL_LINE_MAX || memchr(line, '\0', len) != NULL)
		conn_reply(c, "error: malformed request\n");
	else
		dispatch(c, line);
	free(line);
}

/* Only root and the user the master runs as may give orders. */
static int
peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return 0;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct control *ctl = arg;
	struct timeval tv = { CONTROL_TIMEOUT, 0 };
	struct conn *c;
	int fd;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("control: accept: %s", strerror(errno));
		return;
	}
	if (ctl->nconn >= CONTROL_MAX_CONN || !peer_allowed(fd)) {
		/* Best effort: the client learns why, if it listens. */
		if (write(fd, "error: refused\n", 15) < 0)
			log_debug("control: refused a connection");
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->ctl = ctl;
	c->bev = bufferevent_socket_new(ctl->m->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatal("control: bufferevent_socket_new failed");
	TAILQ_INSERT_TAIL(&ctl->conns, c, entry);
	ctl->nconn++;
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ);
}

struct control *
control_new(struct master *m)
{
	struct control *ctl = xcalloc(1, sizeof(*ctl));

	ctl->m = m;
	TAILQ_INIT(&ctl->conns);
	ctl->accept_ev = event_new(m->base, m->control_fd,
	    EV_READ | EV_PERSIST, on_accept, ctl);
	if (ctl->accept_ev == NULL || event_add(ctl->accept_ev, NULL) != 0)
		fatal("control: cannot watch %s", m->control_path);
	return ctl;
}

void
control_free(struct control *ctl)
{
	struct conn *c;

	if (ctl == NULL)
		return;
	while ((c = TAILQ_FIRST(&ctl->conns)) != NULL)
		conn_free(c);
	event_free(ctl->accept_ev);
	free(ctl);
}
