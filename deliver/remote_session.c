/*
 * The SMTP client, driven by the agent's event loop.  Connect
 * (non-blocking), greeting, EHLO (HELO when EHLO gets a 5xx), MAIL, one
 * RCPT per recipient, DATA, the content dot-stuffed from the job's memory
 * file, the final dot.  With PIPELINING, MAIL, the RCPTs and DATA go out
 * in one write and their replies are read in order (RFC 2920).  Each wait
 * has the timeout of RFC 5321 section 4.5.3.2, from the config.
 *
 * Failures of the connection or of the session before MAIL (greeting,
 * EHLO, HELO) defer every recipient, even for a 5xx: the relayhost is our
 * own smart host, and its refusal to talk is a fault of that host, not a
 * verdict on the message.  Replies to MAIL, RCPT, DATA and the final dot
 * defer (4xx) or bounce (5xx) what they concern.
 *
 * Once every recipient is reported the job is done.  A session whose
 * transaction ended with any reply to the final dot but 421 goes idle
 * into the connection cache, with its EHLO result, and the next job for
 * the same destination starts at MAIL on it (most recently used first).
 * Every other end is a QUIT (the session lives on alone for it and then
 * frees itself) or, when the connection is broken, a close.  A cached
 * connection that the server dropped may show it only at the next MAIL:
 * that job then starts again, once, on a new connection, so that a stale
 * connection never defers mail.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "deliver.h"
#include "dotstuff.h"
#include "log.h"
#include "relayhost.h"
#include "remote.h"
#include "reply.h"
#include "xmalloc.h"

#define BODY_BLOCK	16384	/* content read from the memory file at once */
#define BODY_QUEUED	65536	/* bytes kept queued for the socket */
#define INPUT_MAX	65536	/* server bytes buffered unread */
/* RFC 5321 sets no QUIT timeout, and nothing depends on the answer. */
#define QUIT_SECS	30

enum rstate {
	RS_CONNECT,
	RS_GREETING,
	RS_EHLO,
	RS_HELO,
	RS_ENVELOPE,	/* MAIL, RCPT and DATA replies */
	RS_BODY,
	RS_DOT,		/* the reply to the final dot */
	RS_DISCARD,	/* an empty message ends a 354 nobody needed */
	RS_IDLE,	/* in the cache, between jobs */
	RS_QUIT,	/* detached from the job */
};

/* How a job leaves its session. */
enum rend {
	END_CLOSE,	/* the connection cannot go on: close it */
	END_QUIT,	/* sound, but its state is unclear: QUIT */
	END_KEEP,	/* a transaction ended cleanly: cache it */
};

TAILQ_HEAD(rsession_list, rsession);

struct rsession {
	TAILQ_ENTRY(rsession)	 entry;		/* on list */
	struct rsession_list	*list;		/* idle, quitting or NULL */
	struct agent		*agent;
	struct djob		*job;		/* NULL once detached */
	struct event_base	*base;
	struct sockaddr_storage	 dest;		/* the cache's key */
	socklen_t		 destlen;
	char			 relay[RELAYHOST_LABEL_MAX];
	int			 fd;		/* until bev owns it */
	struct event		*conn_ev;
	struct bufferevent	*bev;
	struct event		*timer;
	enum rstate		 state;
	struct smtp_reply	 reply;
	unsigned		 ext;		/* EHLO_* */
	uint64_t		 size_limit;
	int64_t			 born;		/* connect, monotonic seconds */
	int64_t			 uses;		/* transactions begun */
	int			 reused;	/* the job found it idle */

	/*
	 * The envelope as commands: 0 is MAIL, 1..nsend the RCPTs of
	 * order[], nsend + 1 is DATA.
	 */
	uint32_t		*order;
	uint32_t		 nsend;
	uint32_t		 nsent;		/* commands written */
	uint32_t		 nreplied;	/* replies read */
	int			 mail_failed;
	uint8_t			*accepted;	/* per job recipient */
	uint32_t		 naccepted;

	struct dotstuff		 ds;
	uint64_t		 off;		/* content bytes queued */

	/* Freed from inside a callback, the memory waits for its end. */
	int			 busy;		/* callbacks running */
	int			 dead;
};

/* Idle sessions, most recently used first, and those saying QUIT. */
static struct rsession_list	idle = TAILQ_HEAD_INITIALIZER(idle);
static struct rsession_list	quitting = TAILQ_HEAD_INITIALIZER(quitting);
static int64_t			nidle;

static void	read_cb(struct bufferevent *, void *);
static void	send_cmd(struct rsession *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	start_envelope(struct rsession *);
static void	session_retry(struct rsession *);

static const struct config *
cfg_of(struct rsession *s)
{
	return s->agent->cfg;
}

static int64_t
now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

static void
list_put(struct rsession *s, struct rsession_list *list, int head)
{
	if (head)
		TAILQ_INSERT_HEAD(list, s, entry);
	else
		TAILQ_INSERT_TAIL(list, s, entry);
	s->list = list;
	if (list == &idle)
		nidle++;
}

static void
list_remove(struct rsession *s)
{
	if (s->list == NULL)
		return;
	TAILQ_REMOVE(s->list, s, entry);
	if (s->list == &idle)
		nidle--;
	s->list = NULL;
}

/* Close the connection and drop the session (see busy). */
static void
session_free(struct rsession *s)
{
	list_remove(s);
	if (s->conn_ev != NULL)
		event_free(s->conn_ev);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	else if (s->fd != -1)
		close(s->fd);
	if (s->timer != NULL)
		event_free(s->timer);
	if (s->job != NULL)
		s->job->priv = NULL;
	free(s->order);
	free(s->accepted);
	s->conn_ev = NULL;
	s->bev = NULL;
	s->fd = -1;
	s->timer = NULL;
	s->job = NULL;
	s->order = NULL;
	s->accepted = NULL;
	s->dead = 1;
	if (s->busy == 0)
		free(s);
}

static void
enter(struct rsession *s)
{
	s->busy++;
}

static void
leave(struct rsession *s)
{
	if (--s->busy == 0 && s->dead)
		free(s);
}

static void
arm(struct rsession *s, int64_t secs)
{
	struct timeval tv = { (time_t)secs, 0 };

	evtimer_add(s->timer, &tv);
}

/* What the session was doing, for "lost connection ... while ...". */
static const char *
doing(const struct rsession *s)
{
	switch (s->state) {
	case RS_CONNECT:
		return "connecting";
	case RS_GREETING:
		return "receiving the initial server greeting";
	case RS_EHLO:
		return "sending EHLO";
	case RS_HELO:
		return "sending HELO";
	case RS_ENVELOPE:
		if (s->nreplied == 0)
			return "sending MAIL FROM";
		if (s->nreplied <= s->nsend)
			return "sending RCPT TO";
		return "sending DATA command";
	case RS_BODY:
		return "sending message content";
	case RS_DOT:
		return "sending end of data -- message may be sent more "
		    "than once";
	case RS_DISCARD:
		return "ending an empty message";
	case RS_IDLE:
		return "waiting idle for the next message";
	case RS_QUIT:
		return "sending QUIT";
	}
	return "talking";
}

/* What a reply answers, for the diagnostic text. */
static const char *
replied_to(const struct rsession *s)
{
	switch (s->state) {
	case RS_EHLO:
		return "EHLO";
	case RS_HELO:
		return "HELO";
	case RS_ENVELOPE:
		if (s->nreplied == 0)
			return "MAIL FROM";
		if (s->nreplied <= s->nsend)
			return "RCPT TO";
		return "DATA";
	case RS_DOT:
	case RS_DISCARD:
		return "end of DATA";
	default:
		return "the connection";
	}
}

/* Part the job from the session, which keeps only the connection. */
static struct djob *
detach(struct rsession *s)
{
	struct djob *job = s->job;

	job->priv = NULL;
	s->job = NULL;
	free(s->order);
	free(s->accepted);
	s->order = NULL;
	s->accepted = NULL;
	s->nsend = s->nsent = s->nreplied = s->naccepted = 0;
	s->mail_failed = 0;
	s->reused = 0;
	return job;
}

/* Say QUIT; the session frees itself on the reply or after QUIT_SECS. */
static void
session_quit(struct rsession *s)
{
	list_remove(s);
	evtimer_del(s->timer);
	s->state = RS_QUIT;
	send_cmd(s, "QUIT\r\n");
	arm(s, QUIT_SECS);
	list_put(s, &quitting, 0);
}

/* May the connection take another transaction? */
static int
reusable(struct rsession *s)
{
	const struct config *cfg = cfg_of(s);

	if (s->agent->stopping || cfg->smtp_connection_cache_time_limit == 0)
		return 0;
	if (cfg->smtp_connection_reuse_count_limit > 0 &&
	    s->uses >= cfg->smtp_connection_reuse_count_limit)
		return 0;
	return now_secs() - s->born < cfg->smtp_connection_reuse_time_limit;
}

/* Keep the session idle for the next job to its destination. */
static void
cache_put(struct rsession *s)
{
	const struct config *cfg = cfg_of(s);

	if (!reusable(s)) {
		session_quit(s);
		return;
	}
	evtimer_del(s->timer);
	s->state = RS_IDLE;
	list_put(s, &idle, 1);
	arm(s, cfg->smtp_connection_cache_time_limit);
	while (nidle > cfg->delivery_concurrency)
		session_quit(TAILQ_LAST(&idle, rsession_list));
}

/* The most recently used idle session to sa still fit for reuse. */
static struct rsession *
cache_take(const struct sockaddr *sa, socklen_t salen)
{
	struct rsession *s, *next;

	for (s = TAILQ_FIRST(&idle); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->destlen != salen || memcmp(&s->dest, sa, salen) != 0)
			continue;
		if (!reusable(s)) {
			session_quit(s);
			continue;
		}
		list_remove(s);
		evtimer_del(s->timer);
		return s;
	}
	return NULL;
}

/* Every recipient is reported: end the job, and the session as how says. */
static void
session_end(struct rsession *s, enum rend how)
{
	struct djob *job = detach(s);

	if (how == END_KEEP && s->bev != NULL)
		cache_put(s);
	else if (how != END_CLOSE && s->bev != NULL)
		session_quit(s);
	else
		session_free(s);
	job_done(job);
}

/* Report what is still open the same way and end the job. */
static void
session_fail(struct rsession *s, enum rend how, enum deliver_status st,
    const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
session_fail(struct rsession *s, enum rend how, enum deliver_status st,
    const char *dsn, const char *fmt, ...)
{
	char text[REPLY_TEXT_MAX + 200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	job_report_rest(s->job, st, dsn, s->relay, text, NULL);
	session_end(s, how);
}

/* "[192.0.2.1]:25 answered RCPT TO with: 550 ..." */
static void
reply_text(const struct rsession *s, char *out, size_t len)
{
	snprintf(out, len, "%s answered %s with: %s", s->relay,
	    replied_to(s), s->reply.text);
}

/*
 * What a reply to MAIL, RCPT, DATA or the dot means: 4xx defers, 5xx
 * bounces, and a class the command does not expect defers as a
 * protocol error.
 */
static enum deliver_status
reply_status(const struct smtp_reply *r, const char **dsn)
{
	*dsn = reply_dsn(r);
	if (r->code / 100 == 5)
		return DSTATUS_BOUNCE;
	if (r->code / 100 != 4)
		*dsn = "4.5.0";
	return DSTATUS_DEFER;
}

/* A failure of the session before MAIL defers, 5xx or not. */
static void
fail_session_reply(struct rsession *s)
{
	char text[REPLY_TEXT_MAX + 200], dsn[sizeof(s->reply.enh)];

	strlcpy(dsn, reply_dsn(&s->reply), sizeof(dsn));
	dsn[0] = '4';
	if (s->state == RS_GREETING)
		snprintf(text, sizeof(text), "host %s refused to talk to me: "
		    "%s", s->relay, s->reply.text);
	else
		reply_text(s, text, sizeof(text));
	job_report_rest(s->job, DSTATUS_DEFER, dsn, s->relay, text,
	    s->reply.text);
	session_end(s, END_QUIT);
}

static void
send_cmd(struct rsession *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(s->bev), fmt, ap);
	va_end(ap);
}

/* Write envelope command k (see struct rsession). */
static void
send_envelope(struct rsession *s, uint32_t k)
{
	struct djob *job = s->job;

	if (k == 0) {
		send_cmd(s, "MAIL FROM:<%s>", job->sender);
		if (s->ext & EHLO_SIZE)
			send_cmd(s, " SIZE=%llu",
			    (unsigned long long)job->len);
		if (job->eightbit && (s->ext & EHLO_8BITMIME))
			send_cmd(s, " BODY=8BITMIME");
		send_cmd(s, "\r\n");
	} else if (k <= s->nsend)
		send_cmd(s, "RCPT TO:<%s>\r\n",
		    job->rcpt[s->order[k - 1]].addr);
	else
		send_cmd(s, "DATA\r\n");
	s->nsent = k + 1;
}

/* Arm the timer for the envelope reply read next. */
static void
arm_envelope(struct rsession *s)
{
	const struct config *cfg = cfg_of(s);

	if (s->nreplied == 0)
		arm(s, cfg->smtp_mail_timeout);
	else if (s->nreplied <= s->nsend)
		arm(s, cfg->smtp_rcpt_timeout);
	else
		arm(s, cfg->smtp_data_init_timeout);
}

static void
start_envelope(struct rsession *s)
{
	struct djob *job = s->job;
	uint32_t i, k;

	if ((s->ext & EHLO_SIZE) && s->size_limit > 0 &&
	    job->len > s->size_limit) {
		session_fail(s, END_QUIT, DSTATUS_BOUNCE, "5.3.4",
		    "message size %llu exceeds size limit %llu of server %s",
		    (unsigned long long)job->len,
		    (unsigned long long)s->size_limit, s->relay);
		return;
	}
	s->order = xcalloc(job->nrcpt, sizeof(*s->order));
	s->accepted = xcalloc(job->nrcpt, sizeof(*s->accepted));
	for (i = 0; i < job->nrcpt; i++)
		if (!job->rcpt[i].reported)
			s->order[s->nsend++] = i;

	s->state = RS_ENVELOPE;
	s->uses++;
	if (s->ext & EHLO_PIPELINING)
		for (k = 0; k <= s->nsend + 1; k++)
			send_envelope(s, k);
	else
		send_envelope(s, 0);
	arm_envelope(s);
}

/* Queue content until enough waits for the socket; at the end, the dot. */
static void
body_fill(struct rsession *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	struct djob *job = s->job;
	char in[BODY_BLOCK], stuffed[2 * BODY_BLOCK], end[DOTSTUFF_END_MAX];
	size_t want, n;
	ssize_t r;

	while (s->off < job->len && evbuffer_get_length(out) < BODY_QUEUED) {
		want = job->len - s->off < BODY_BLOCK ?
		    (size_t)(job->len - s->off) : BODY_BLOCK;
		r = pread(job->fd, in, want, (off_t)s->off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* No dot: the server drops the partial message. */
			session_fail(s, END_CLOSE, DSTATUS_DEFER, "4.3.0",
			    "cannot read the spooled message: %s", r == 0 ?
			    "it is shorter than announced" : strerror(errno));
			return;
		}
		n = dotstuff(&s->ds, in, (size_t)r, stuffed);
		evbuffer_add(out, stuffed, n);
		s->off += (uint64_t)r;
	}
	if (s->off < job->len)
		return;
	n = dotstuff_end(&s->ds, end);
	evbuffer_add(out, end, n);
	s->state = RS_DOT;
	arm(s, cfg_of(s)->smtp_data_done_timeout);
	/* A reply that came early waits in the input buffer. */
	read_cb(s->bev, s);
}

static void
start_body(struct rsession *s)
{
	evtimer_del(s->timer);
	s->state = RS_BODY;
	dotstuff_init(&s->ds);
	s->off = 0;
	body_fill(s);
}

/* The replies to MAIL, RCPT and DATA, in the order the commands went. */
static void
on_envelope(struct rsession *s)
{
	struct djob *job = s->job;
	const struct smtp_reply *r = &s->reply;
	char text[REPLY_TEXT_MAX + 200];
	enum deliver_status st;
	const char *dsn;
	uint32_t k = s->nreplied, i;
	int ok = r->code / 100 == 2;

	if (k == 0 && r->code == 421 && s->reused) {
		session_retry(s);
		return;
	}
	reply_text(s, text, sizeof(text));
	s->nreplied++;
	if (k == 0 && !ok) {
		s->mail_failed = 1;
		st = reply_status(r, &dsn);
		job_report_rest(job, st, dsn, s->relay, text, r->text);
	} else if (k >= 1 && k <= s->nsend && !s->mail_failed) {
		i = s->order[k - 1];
		if (ok) {
			s->accepted[i] = 1;
			s->naccepted++;
		} else {
			st = reply_status(r, &dsn);
			job_report(job, i, st, dsn, s->relay, text, r->text);
		}
	} else if (k == s->nsend + 1) {
		if (r->code == 354 && !s->mail_failed && s->naccepted > 0) {
			start_body(s);
			return;
		}
		if (r->code == 354) {
			/* Pipelined DATA nobody needs: end it empty. */
			evtimer_del(s->timer);
			s->state = RS_DISCARD;
			send_cmd(s, ".\r\n");
			arm(s, cfg_of(s)->smtp_data_done_timeout);
			return;
		}
		st = reply_status(r, &dsn);	/* a 2xx defers: 354 was due */
		job_report_rest(job, st, dsn, s->relay, text, r->text);
		session_end(s, END_QUIT);
		return;
	}

	if (s->nsent > s->nreplied) {
		arm_envelope(s);
		return;
	}
	/* Not pipelined: the next command, if any is still worth sending. */
	if (s->mail_failed || (k == s->nsend && s->naccepted == 0)) {
		session_end(s, END_QUIT);
		return;
	}
	send_envelope(s, k + 1);
	arm_envelope(s);
}

static void
on_dot(struct rsession *s)
{
	struct djob *job = s->job;
	char text[REPLY_TEXT_MAX + 200];
	enum deliver_status st;
	const char *dsn;
	uint32_t i;

	reply_text(s, text, sizeof(text));
	if (s->reply.code / 100 == 2) {
		st = DSTATUS_SENT;
		dsn = reply_dsn(&s->reply);
	} else
		st = reply_status(&s->reply, &dsn);
	for (i = 0; i < job->nrcpt; i++)
		if (s->accepted[i] && !job->rcpt[i].reported)
			job_report(job, i, st, dsn, s->relay, text,
			    s->reply.text);
	/* Reported by RCPT already; a guard against a broken count. */
	job_report_rest(job, DSTATUS_DEFER, "4.5.0", s->relay, text,
	    s->reply.text);
	/* Whatever the class, the transaction is over; 421 says goodbye. */
	session_end(s, s->reply.code == 421 ? END_CLOSE : END_KEEP);
}

static void
on_greeting(struct rsession *s)
{
	if (s->reply.code != 220) {
		fail_session_reply(s);
		return;
	}
	s->state = RS_EHLO;
	send_cmd(s, "EHLO %s\r\n", cfg_of(s)->myhostname);
	/* RFC 5321 names no EHLO timeout; MAIL's is the nearest. */
	arm(s, cfg_of(s)->smtp_mail_timeout);
}

static void
on_hello(struct rsession *s)
{
	if (s->state == RS_EHLO && s->reply.code / 100 == 5) {
		s->ext = 0;
		s->size_limit = 0;
		s->state = RS_HELO;
		send_cmd(s, "HELO %s\r\n", cfg_of(s)->myhostname);
		arm(s, cfg_of(s)->smtp_mail_timeout);
		return;
	}
	if (s->reply.code / 100 != 2) {
		fail_session_reply(s);
		return;
	}
	start_envelope(s);
}

/* A whole reply arrived. */
static void
dispatch(struct rsession *s)
{
	evtimer_del(s->timer);
	switch (s->state) {
	case RS_GREETING:
		on_greeting(s);
		break;
	case RS_EHLO:
	case RS_HELO:
		on_hello(s);
		break;
	case RS_ENVELOPE:
		on_envelope(s);
		break;
	case RS_DOT:
		on_dot(s);
		break;
	case RS_DISCARD:
		session_end(s, END_QUIT);
		break;
	case RS_QUIT:
		session_free(s);
		break;
	case RS_CONNECT:
	case RS_BODY:
	case RS_IDLE:
		panic("remote: reply dispatched while %s", doing(s));
	}
}

/* A reply that cannot be read ends the session. */
static void
bad_reply(struct rsession *s, const char *what)
{
	if (s->state == RS_QUIT)
		session_free(s);
	else
		session_fail(s, END_CLOSE, DSTATUS_DEFER, "4.5.0",
		    "%s from %s while %s", what, s->relay, doing(s));
}

/*
 * Read what the server sent, a line at a time.  Any reply may end the
 * session or move it on (replies wait while the content goes out), so
 * each pass looks again.  An idle session expects nothing: whatever
 * comes (most likely a 421 before a close) ends it.
 */
static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct rsession *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;
	int rv;

	enter(s);
	while (!s->dead && s->state != RS_BODY && s->state != RS_CONNECT) {
		if (s->state == RS_IDLE) {
			if (evbuffer_get_length(in) > 0)
				session_free(s);
			break;
		}
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > REPLY_LINE_MAX + 2)
				bad_reply(s, "reply line too long");
			break;
		}
		rv = reply_line(&s->reply, line, len);
		/* An EHLO reply's first line names the host, the rest offer. */
		if (rv != REPLY_ERROR && s->state == RS_EHLO &&
		    s->reply.code == 250 && s->reply.nlines > 1)
			reply_ehlo_line(line, len, &s->ext, &s->size_limit);
		free(line);
		if (rv == REPLY_ERROR) {
			bad_reply(s, "malformed reply");
			break;
		}
		if (rv == REPLY_DONE) {
			dispatch(s);
			reply_init(&s->reply);
		}
	}
	leave(s);
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct rsession *s = arg;

	(void)bev;
	enter(s);
	if (s->state == RS_BODY)
		body_fill(s);
	leave(s);
}

/* Lost before MAIL's reply on a cached connection: it was stale. */
static int
stale(const struct rsession *s)
{
	return s->reused && s->state == RS_ENVELOPE && s->nreplied == 0;
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct rsession *s = arg;
	int err = EVUTIL_SOCKET_ERROR();

	(void)bev;
	enter(s);
	if (s->state == RS_QUIT || s->state == RS_IDLE)
		session_free(s);
	else if (what & BEV_EVENT_TIMEOUT)
		session_fail(s, END_CLOSE, DSTATUS_DEFER, "4.4.2",
		    "conversation with %s timed out while %s", s->relay,
		    doing(s));
	else if (stale(s))
		session_retry(s);
	else if ((what & BEV_EVENT_ERROR) && err != 0)
		session_fail(s, END_CLOSE, DSTATUS_DEFER, "4.4.2",
		    "lost connection with %s while %s: %s", s->relay,
		    doing(s), strerror(err));
	else
		session_fail(s, END_CLOSE, DSTATUS_DEFER, "4.4.2",
		    "lost connection with %s while %s", s->relay, doing(s));
	leave(s);
}

static void
timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct rsession *s = arg;

	(void)fd;
	(void)ev;
	enter(s);
	if (s->state == RS_QUIT)
		session_free(s);
	else if (s->state == RS_IDLE)
		session_quit(s);	/* smtp_connection_cache_time_limit */
	else
		session_fail(s, END_CLOSE, DSTATUS_DEFER, "4.4.2",
		    "conversation with %s timed out while %s", s->relay,
		    doing(s));
	leave(s);
}

/* The socket is connected: talk SMTP over a bufferevent. */
static void
connected(struct rsession *s)
{
	const struct config *cfg = cfg_of(s);
	struct timeval block = { (time_t)cfg->smtp_data_block_timeout, 0 };

	s->bev = bufferevent_socket_new(s->base, s->fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		session_fail(s, END_CLOSE, DSTATUS_DEFER, "4.3.0",
		    "cannot set up the connection to %s", s->relay);
		return;
	}
	s->fd = -1;
	bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, INPUT_MAX);
	bufferevent_setwatermark(s->bev, EV_WRITE, BODY_QUEUED / 2, 0);
	/* Libevent restarts this with every write that makes progress. */
	bufferevent_set_timeouts(s->bev, NULL, &block);
	if (bufferevent_enable(s->bev, EV_READ | EV_WRITE) == -1) {
		session_fail(s, END_CLOSE, DSTATUS_DEFER, "4.3.0",
		    "cannot set up the connection to %s", s->relay);
		return;
	}
	s->state = RS_GREETING;
	arm(s, cfg->smtp_greeting_timeout);
}

static void
connect_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct rsession *s = arg;
	socklen_t len = sizeof(int);
	int err = 0;

	event_free(s->conn_ev);
	s->conn_ev = NULL;
	enter(s);
	if (ev & EV_TIMEOUT)
		session_fail(s, END_CLOSE, DSTATUS_DEFER, "4.4.1",
		    "connect to %s: Connection timed out", s->relay);
	else {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0)
			session_fail(s, END_CLOSE, DSTATUS_DEFER, "4.4.1",
			    "connect to %s: %s", s->relay, strerror(err));
		else
			connected(s);
	}
	leave(s);
}

/* Open a new connection to sa for the job. */
static void
session_connect(struct djob *job, const struct sockaddr *sa,
    socklen_t salen, const char *label)
{
	struct rsession *s;
	struct timeval tv;

	s = xcalloc(1, sizeof(*s));
	s->agent = job->agent;
	s->job = job;
	s->base = job->agent->base;
	memcpy(&s->dest, sa, salen);
	s->destlen = salen;
	s->fd = -1;
	s->state = RS_CONNECT;
	s->born = now_secs();
	reply_init(&s->reply);
	strlcpy(s->relay, label, sizeof(s->relay));
	job->priv = s;
	if ((s->timer = evtimer_new(s->base, timer_cb, s)) == NULL)
		fatal("remote: cannot create a timer");

	s->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (s->fd == -1) {
		session_fail(s, END_CLOSE, DSTATUS_DEFER, "4.4.1",
		    "connect to %s: cannot create a socket: %s", s->relay,
		    strerror(errno));
		return;
	}
	if (connect(s->fd, sa, salen) == -1 && errno != EINPROGRESS) {
		session_fail(s, END_CLOSE, DSTATUS_DEFER, "4.4.1",
		    "connect to %s: %s", s->relay, strerror(errno));
		return;
	}
	s->conn_ev = event_new(s->base, s->fd, EV_WRITE, connect_cb, s);
	tv.tv_sec = (time_t)cfg_of(s)->smtp_connect_timeout;
	tv.tv_usec = 0;
	if (s->conn_ev == NULL || event_add(s->conn_ev, &tv) == -1)
		fatal("remote: cannot watch a connecting socket");
}

/*
 * The cached connection died before MAIL's reply (a close, a reset, a
 * 421): nothing of the job went through, so the job starts again on a
 * new connection, which is not retried in turn.
 */
static void
session_retry(struct rsession *s)
{
	struct sockaddr_storage dest = s->dest;
	socklen_t destlen = s->destlen;
	char relay[RELAYHOST_LABEL_MAX];
	struct djob *job;

	strlcpy(relay, s->relay, sizeof(relay));
	job = detach(s);
	log_debug("%s: cached connection to %s was gone, "
	    "connecting again", job->qid, relay);
	session_free(s);
	session_connect(job, (const struct sockaddr *)&dest, destlen, relay);
}

void
session_start(struct djob *job, const struct sockaddr *sa, socklen_t salen,
    const char *label)
{
	struct rsession *s;

	if (salen > sizeof(s->dest))
		panic("remote: socket address of %u bytes", (unsigned)salen);
	if ((s = cache_take(sa, salen)) == NULL) {
		session_connect(job, sa, salen, label);
		return;
	}
	s->job = job;
	s->reused = 1;
	job->priv = s;
	start_envelope(s);
}

void
session_abandon(struct djob *job)
{
	if (job->priv != NULL)
		session_free(job->priv);
	job_free(job);
}

void
session_cache_close(void)
{
	while (!TAILQ_EMPTY(&idle))
		session_quit(TAILQ_FIRST(&idle));
}

/*
 * Write out at once what waits (the QUIT).  The bufferevent keeps the
 * front of its output frozen outside its own callbacks; no callback
 * comes any more.
 */
static void
flush_now(struct rsession *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	evbuffer_unfreeze(out, 1);
	(void)evbuffer_write(out, bufferevent_getfd(s->bev));
}

void
session_exit(void)
{
	struct rsession *s;

	session_cache_close();
	TAILQ_FOREACH(s, &quitting, entry)
		flush_now(s);
}
