/*
 * One SMTP session: the client's bytes in through a bufferevent, command
 * lines to the parser, MAIL and RCPT to the policy process, DATA streamed
 * to the queue in chunks, and every reply back to the client.  A session
 * waiting for another process reads no further command: what the client
 * pipelined stays buffered and runs, in order, once the answer is in.
 * Nothing is acknowledged with 250 before the queue said so.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "cidr.h"
#include "header.h"
#include "ipc.h"
#include "latency.h"
#include "log.h"
#include "text.h"
#include "xmalloc.h"

#include "smtpd/admission.h"
#include "smtpd/command.h"
#include "smtpd/data.h"
#include "smtpd/smtpd.h"

/* Client bytes buffered while a session waits for another process. */
#define SESSION_INPUT_MAX	(256 * 1024)
#define SESSION_ADDR_MAX	64
#define SESSION_NAME_MAX	(SESSION_ADDR_MAX + 8)
#define SESSION_QID_MAX		32
#define SESSION_LOG_MAX		600	/* an escaped field in a log line */

enum session_state {
	S_CMD = 0,	/* reading command lines */
	S_PREGREET,	/* the banner waits; the client must not talk */
	S_TARPIT,	/* an error reply waits: the error tarpit */
	S_POLICY,	/* MAIL or RCPT: waiting for the verdict */
	S_QID,		/* DATA: waiting for the queue's go-ahead */
	S_DATA,		/* reading the content */
	S_RESULT,	/* end of data: waiting for the queue's answer */
	S_CLOSING,	/* the last reply drains, then the session ends */
};

struct session {
	TAILQ_ENTRY(session)	 entry;
	RB_ENTRY(session)	 wait_entry;
	uint64_t		 wait_id;	/* query or txn, when waiting */
	uint64_t		 data_end_ns;	/* the dot came, monotonic */
	int			 waiting;	/* in smtpd.waits */
	int			 freeing;

	struct smtpd_conf	*conf;
	struct admit_ticket	 admit;		/* what it counts against */
	struct bufferevent	*bev;
	int			 kind;		/* LISTEN_* */
	int			 state;		/* enum session_state */
	char			 addr[SESSION_ADDR_MAX];  /* numeric, or "" */
	char			 name[SESSION_NAME_MAX];  /* for the log */
	uint32_t		 local_uid;	/* IPC_UID_NONE for inet */
	struct smtp_state	 st;
	int			 discarding;	/* the rest of a long line */
	int			 eof;		/* the client sends no more */
	int			 last_verb;	/* -1 none, -2 dot */

	struct event		*policy_ev;
	unsigned		 policy_gen;
	uint64_t		 start_ms;	/* accepted, monotonic */
	int			 exempt;	/* in mynetworks */
	struct event		*life_ev;	/* smtpd_session_lifetime */
	struct event		*greet_ev;	/* the pre-greet wait */
	struct event		*tarpit_ev;	/* an error reply's wait */
	char			*held;		/* the reply that waits */
	size_t			 held_len;
	int			 held_verb;
	int			 held_check;

	/* the transaction with the queue */
	unsigned		 txn_gen;	/* queue_gen at its start */
	char			 qid[SESSION_QID_MAX];
	struct data_sm		 dsm;
	unsigned char		*chunk;
	size_t			 chunk_len;
	uint64_t		 txn_size;	/* bytes sent to the queue */
	uint64_t		 data_start_ms;	/* the 354 went out */
	uint64_t		 data_bytes;	/* read since */
};

static int	wait_cmp(struct session *, struct session *);
RB_GENERATE_INTERNAL(smtpd_waits, session, wait_entry, wait_cmp,
    __attribute__((unused)) static)

static void	session_process(struct session *);
static void	session_talker(struct session *);
static int	session_foreign(struct session *);
static void	session_reply(struct session *, const struct cmd_reply *);
static int	session_queue_ok(const struct session *);
static void	session_final(struct session *, int, int, const char *,
		    size_t);

static int
wait_cmp(struct session *a, struct session *b)
{
	if (a->wait_id < b->wait_id)
		return -1;
	return a->wait_id > b->wait_id;
}

static void
wait_insert(struct session *s, uint64_t id)
{
	s->wait_id = id;
	if (RB_INSERT(smtpd_waits, &smtpd.waits, s) != NULL)
		panic("smtpd: correlation id %llu used twice",
		    (unsigned long long)id);
	s->waiting = 1;
}

static void
wait_remove(struct session *s)
{
	if (!s->waiting)
		return;
	RB_REMOVE(smtpd_waits, &smtpd.waits, s);
	s->waiting = 0;
}

static struct session *
wait_find(uint64_t id)
{
	struct session key;

	key.wait_id = id;
	return RB_FIND(smtpd_waits, &smtpd.waits, &key);
}

static const struct config *
session_cfg(const struct session *s)
{
	return s->conf->cfg;
}

/*
 * A reply goes straight to the socket when nothing is waiting before it:
 * through the bufferevent it would cost a loop turn and two epoll_ctl
 * calls (arm and disarm the write event) per reply.  What the socket
 * does not take, and any error, is left to the bufferevent.
 */
static void
session_write(struct session *s, const char *text, size_t len)
{
	ssize_t n;

	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		n = send(bufferevent_getfd(s->bev), text, len,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			text += n;
			len -= (size_t)n;
		}
		if (len == 0)
			return;
	}
	if (bufferevent_write(s->bev, text, len) != 0)
		log_warn("smtpd: cannot buffer a reply to %s", s->name);
}

static void
session_printf(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
session_printf(struct session *s, const char *fmt, ...)
{
	char buf[SMTP_REPLY_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		/* Keep the reply one well-formed line. */
		n = sizeof(buf) - 1;
		buf[n - 2] = '\r';
		buf[n - 1] = '\n';
	}
	session_write(s, buf, (size_t)n);
}

static struct timeval
session_tv(uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return tv;
}

/* A client deadline as it stands now: overload cuts it, to 1 s least. */
static uint64_t
session_deadline_ms(int64_t secs)
{
	uint64_t ms = smtpd_deadline_ms(secs);

	return ms < 1000 ? 1000 : ms;
}

static void
session_set_timeout_ms(struct session *s, uint64_t read_ms)
{
	struct timeval rd = session_tv(read_ms);
	struct timeval wr = session_tv(session_deadline_ms(
	    session_cfg(s)->smtpd_timeout));

	/* 0: the session waits for another process, not the client. */
	bufferevent_set_timeouts(s->bev, read_ms > 0 ? &rd : NULL, &wr);
}

static void
session_set_timeout(struct session *s, int64_t secs)
{
	session_set_timeout_ms(s, secs > 0 ? session_deadline_ms(secs) : 0);
}

/*
 * In DATA the next bytes are due within smtpd_data_timeout, and, with
 * smtpd_min_data_rate, by the time the content so far falls below that
 * rate (after a grace period): a client that trickles a byte now and
 * then cannot hold its slot for hours.
 */
static uint64_t
session_data_due_ms(const struct session *s)
{
	int64_t rate = session_cfg(s)->smtpd_min_data_rate;

	if (rate <= 0 || s->kind == LISTEN_SUBMIT)
		return UINT64_MAX;
	return s->data_start_ms + SMTPD_DATA_RATE_GRACE * 1000 +
	    (s->data_bytes + 1) * 1000 / (uint64_t)rate;
}

static void
session_data_deadline(struct session *s)
{
	uint64_t ms = session_deadline_ms(session_cfg(s)->smtpd_data_timeout);
	uint64_t due = session_data_due_ms(s), now = smtpd_now_ms();

	if (due != UINT64_MAX)
		ms = due <= now ? 1 : (due - now < ms ? due - now : ms);
	session_set_timeout_ms(s, ms);
}

/* Where the session is, for "lost connection after X" lines. */
static const char *
session_stage(const struct session *s)
{
	if (s->state == S_DATA)
		return "DATA";
	if (s->last_verb == -1)
		return "CONNECT";
	if (s->last_verb == -2)
		return "END-OF-MESSAGE";
	return cmd_verb_name(s->last_verb);
}

/* --- the memory budget ------------------------------------------------- */

/*
 * What smtpd holds for its clients is counted as it changes: every
 * session, the bytes in its input and output buffers, its DATA chunk,
 * what waits on the channels to the queue and the policy, and the
 * admission table.  Over
 * smtpd_memory_budget no new transaction starts; those under way go on.
 */
static void
session_buffer_cb(struct evbuffer *b, const struct evbuffer_cb_info *info,
    void *arg)
{
	smtpd.buffered += info->n_added;
	smtpd.buffered -= info->n_deleted;
}

/* The buffers go with the session: what they hold is no longer held. */
static void
session_buffers_forget(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer *out = bufferevent_get_output(s->bev);

	evbuffer_remove_cb(in, session_buffer_cb, s);
	evbuffer_remove_cb(out, session_buffer_cb, s);
	smtpd.buffered -= evbuffer_get_length(in) + evbuffer_get_length(out);
}

static void
session_chunk_free(struct session *s)
{
	if (s->chunk == NULL)
		return;
	free(s->chunk);
	s->chunk = NULL;
	smtpd.buffered -= SMTPD_CHUNK_MAX;
}

static uint64_t
session_memory(void)
{
	uint64_t n = smtpd.buffered;

	if (smtpd.admission != NULL)
		n += admission_bytes(smtpd.admission);
	if (smtpd.queue != NULL)
		n += ipc_chan_pending(smtpd.queue);
	if (smtpd.policy != NULL)
		n += ipc_chan_pending(smtpd.policy);
	return n;
}

/* May s start a transaction?  If not it has its 451 4.3.2. */
static int
session_memory_ok(struct session *s)
{
	const struct config *cfg = session_cfg(s);
	uint64_t used = session_memory();
	struct cmd_reply r;

	if (used <= (uint64_t)cfg->smtpd_memory_budget)
		return 1;
	log_info("NOQUEUE: reject: MAIL from %s: memory budget: %llu bytes "
	    "held, smtpd_memory_budget %lld", s->name,
	    (unsigned long long)used, (long long)cfg->smtpd_memory_budget);
	cmd_verdict(&s->st, 451, "4.3.2 Insufficient system resources, "
	    "try again later", "", &r);
	session_reply(s, &r);
	return 0;
}

/* --- the end of a session ------------------------------------------- */

static void
session_free(struct session *s)
{
	char counts[512];

	cmd_counts(&s->st, counts, sizeof(counts));
	log_info("disconnect from %s %s", s->name, counts);
	wait_remove(s);
	TAILQ_REMOVE(&smtpd.sessions, s, entry);
	smtpd.nsessions--;
	admission_leave(smtpd.admission, &s->admit, smtpd_now_ms());
	smtpd_load_check();
	session_buffers_forget(s);
	bufferevent_free(s->bev);
	if (s->policy_ev != NULL)
		event_free(s->policy_ev);
	if (s->greet_ev != NULL)
		event_free(s->greet_ev);
	if (s->life_ev != NULL)
		event_free(s->life_ev);
	if (s->tarpit_ev != NULL)
		event_free(s->tarpit_ev);
	free(s->held);
	cmd_state_free(&s->st);
	smtpd_conf_unref(s->conf);
	session_chunk_free(s);
	smtpd.buffered -= sizeof(*s);
	free(s);
	smtpd_session_gone();
}

static void
session_free_cb(evutil_socket_t fd, short what, void *arg)
{
	session_free(arg);
}

/* Free from the event loop: callers up the stack may still hold s. */
static void
session_free_later(struct session *s)
{
	struct timeval tv = { 0, 0 };

	if (s->freeing)
		return;
	s->freeing = 1;
	s->state = S_CLOSING;
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	if (event_base_once(smtpd.base, -1, EV_TIMEOUT, session_free_cb, s,
	    &tv) != 0)
		fatal("smtpd: event_base_once failed");
}

/* Forget the query or transaction in flight; the queue is told. */
static void
session_forget(struct session *s)
{
	wait_remove(s);
	if ((s->state == S_QID || s->state == S_DATA) && session_queue_ok(s))
		ipc_send_empty(smtpd.queue, IMSG_MSG_ABORT, s->wait_id);
	session_chunk_free(s);
	s->chunk_len = 0;
}

/* End the session once what was written has gone out. */
static void
session_close(struct session *s)
{
	if (s->state == S_CLOSING)
		return;
	session_forget(s);
	s->state = S_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		session_free_later(s);
}

static void
session_goodbye(struct session *s)
{
	/* After a "220-" line no other code may follow: just close. */
	if (s->state != S_PREGREET)
		session_printf(s, "421 4.3.2 %s Service shutting down\r\n",
		    session_cfg(s)->myhostname);
	session_close(s);
}

/* In the middle of something the client should be let finish. */
static int
session_busy(const struct session *s)
{
	return s->state == S_POLICY || s->state == S_QID ||
	    s->state == S_DATA || s->state == S_RESULT || s->st.has_mail;
}

/* --- replies ------------------------------------------------------------ */

/*
 * The final reply of a command: the session reads commands again.  A
 * network client that sent more before this reply without the right to
 * pipeline (no EHLO, or after a verb that must end a group) is cut off.
 * Local submissions are exempt: "sendmail -bs" copies a script's whole
 * input at once.
 */
/* Send a final reply now; the session reads commands again. */
static void
session_final_now(struct session *s, int verb, int check, const char *text,
    size_t len)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	session_write(s, text, len);
	if (s->state == S_CLOSING)
		return;
	s->state = S_CMD;
	session_set_timeout(s, session_cfg(s)->smtpd_timeout);
	if (check && s->kind != LISTEN_SUBMIT &&
	    evbuffer_get_length(in) > 0 &&
	    (s->st.helo_mode != SMTP_HELO_EHLO || cmd_ends_group(verb))) {
		log_info("improper command pipelining after %s from %s",
		    cmd_verb_name(verb), s->name);
		session_printf(s, "554 5.5.0 Command sent before the reply "
		    "without PIPELINING\r\n");
		session_close(s);
		return;
	}
	if (smtpd.stopping && !session_busy(s))
		session_goodbye(s);
}

static void
session_tarpit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	char *text = s->held;

	if (s->state != S_TARPIT)
		return;
	s->held = NULL;
	session_final_now(s, s->held_verb, s->held_check, text, s->held_len);
	free(text);
	session_process(s);
}

/*
 * The error tarpit: the n-th error reply in a row waits n times
 * smtpd_error_delay (at most SMTP_TARPIT_STEPS times), which costs a
 * client that probes or misbehaves its time.  The wait holds a slot,
 * so while the session table is fuller than tarpit_fill_limit percent
 * the client gets a quick 421 instead.  0: the reply goes now.  Clients
 * in mynetworks and local submissions are never held.
 */
static int
session_tarpit(struct session *s, int verb, int check, const char *text,
    size_t len)
{
	const struct config *cfg = session_cfg(s);
	unsigned steps = s->st.errors;
	struct timeval tv = { 0, 0 };

	if (s->kind == LISTEN_SUBMIT || s->exempt ||
	    cfg->smtpd_error_delay == 0 ||
	    steps == 0 || len < 1 || text[0] != '5')
		return 0;
	if (smtpd.nsessions * 100 >= (size_t)(cfg->connection_limit *
	    cfg->tarpit_fill_limit)) {
		log_info("NOQUEUE: reject: %s: errors while the session table "
		    "is full, closing", s->name);
		session_printf(s, "421 4.7.0 %s Too many errors, closing\r\n",
		    cfg->myhostname);
		session_close(s);
		return 1;
	}
	if (steps > SMTP_TARPIT_STEPS)
		steps = SMTP_TARPIT_STEPS;
	tv.tv_sec = (time_t)(cfg->smtpd_error_delay * steps);
	if (s->tarpit_ev == NULL && (s->tarpit_ev = evtimer_new(smtpd.base,
	    session_tarpit_cb, s)) == NULL)
		fatal("smtpd: cannot make a tarpit timer");
	free(s->held);
	s->held = xmalloc(len);
	memcpy(s->held, text, len);
	s->held_len = len;
	s->held_verb = verb;
	s->held_check = check;
	s->state = S_TARPIT;
	if (evtimer_add(s->tarpit_ev, &tv) != 0)
		fatal("smtpd: cannot start a tarpit timer");
	return 1;
}

/* A final reply: now, or after the error tarpit's wait. */
static void
session_final(struct session *s, int verb, int check, const char *text,
    size_t len)
{
	if (!session_tarpit(s, verb, check, text, len))
		session_final_now(s, verb, check, text, len);
}

static void
session_final_str(struct session *s, int verb, int check, const char *text)
{
	session_final(s, verb, check, text, strlen(text));
}

static void
session_reply(struct session *s, const struct cmd_reply *r)
{
	session_final(s, r->verb, 1, r->text, r->len);
}

/* A final reply to DATA, counted as the parser counts its own. */
static void
session_data_reply(struct session *s, int check, const char *text)
{
	cmd_data_reply(&s->st, (int)strtol(text, NULL, 10));
	session_final_str(s, VERB_DATA, check, text);
}

/* Log a refused MAIL or RCPT. */
static void
session_log_reject(struct session *s, const struct cmd_reply *r)
{
	char text[SESSION_LOG_MAX], from[SESSION_LOG_MAX];
	char to[SESSION_LOG_MAX];
	size_t len = r->len;

	while (len > 0 && (r->text[len - 1] == '\r' ||
	    r->text[len - 1] == '\n'))
		len--;
	log_escape(text, sizeof(text), r->text, len);
	if (r->verb == VERB_RCPT) {
		log_escape(from, sizeof(from), s->st.sender,
		    strlen(s->st.sender));
		log_escape(to, sizeof(to), s->st.pending,
		    strlen(s->st.pending));
		log_info("NOQUEUE: reject: RCPT from %s: %s; from=<%s> "
		    "to=<%s>", s->name, text, from, to);
	} else {
		log_escape(from, sizeof(from), s->st.pending,
		    strlen(s->st.pending));
		log_info("NOQUEUE: reject: MAIL from %s: %s; from=<%s>",
		    s->name, text, from);
	}
}

/* --- policy queries ------------------------------------------------- */

static void
session_policy_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct cmd_reply r;

	if (s->state != S_POLICY)
		return;
	wait_remove(s);
	log_warn("smtpd: no policy verdict in time for %s",
	    s->name);
	cmd_policy_unavailable(&s->st, &r);
	session_reply(s, &r);
	session_process(s);
}

static void
session_policy_query(struct session *s, int action)
{
	struct timeval tv = { (time_t)session_cfg(s)->policy_timeout, 0 };
	struct cmd_reply r;
	struct ipc_msg *msg;
	uint64_t id;

	if (smtpd.policy == NULL) {
		cmd_policy_unavailable(&s->st, &r);
		session_reply(s, &r);
		return;
	}
	id = smtpd_next_id();
	if (action == CMD_POLICY_MAIL) {
		msg = ipc_msg_new(IMSG_POLICY_MAIL, id);
		ipc_add_str(msg, s->addr);
		ipc_add_u32(msg, s->local_uid);
		ipc_add_str(msg, s->st.helo);
		ipc_add_str(msg, s->st.pending);
	} else {
		msg = ipc_msg_new(IMSG_POLICY_RCPT, id);
		ipc_add_str(msg, s->addr);
		ipc_add_u32(msg, s->local_uid);
		ipc_add_str(msg, s->st.sender);
		ipc_add_str(msg, s->st.pending);
	}
	ipc_send(smtpd.policy, msg, IPC_NO_FD);
	wait_insert(s, id);
	s->policy_gen = smtpd.policy_gen;
	s->state = S_POLICY;
	if (s->policy_ev == NULL &&
	    (s->policy_ev = evtimer_new(smtpd.base, session_policy_timeout,
	    s)) == NULL)
		fatal("smtpd: evtimer_new failed");
	evtimer_add(s->policy_ev, &tv);
}

/* The policy answered a MAIL or RCPT query. */
void
session_policy_verdict(uint64_t id, uint32_t code, const char *text,
    const char *sender)
{
	struct session *s = wait_find(id);
	struct cmd_reply r;

	if (s == NULL)
		return;		/* late: the session gave up or went */
	if (s->state != S_POLICY) {
		log_warn("smtpd: policy verdict for a session that asked "
		    "none (id %llu)", (unsigned long long)id);
		return;
	}
	wait_remove(s);
	evtimer_del(s->policy_ev);
	cmd_verdict(&s->st, code, text, sender, &r);
	if (r.code != 250)
		session_log_reject(s, &r);
	session_reply(s, &r);
	session_process(s);
}

/* Queries on a lost policy channel get 451 4.3.0. */
void
session_policy_lost(void)
{
	struct session *s, *next;
	struct cmd_reply r;

	TAILQ_FOREACH_SAFE(s, &smtpd.sessions, entry, next) {
		if (s->state != S_POLICY || (smtpd.policy != NULL &&
		    s->policy_gen == smtpd.policy_gen))
			continue;
		wait_remove(s);
		evtimer_del(s->policy_ev);
		cmd_policy_unavailable(&s->st, &r);
		session_reply(s, &r);
		session_process(s);
	}
}

/* --- the transaction with the queue ------------------------------------ */

/* Is the queue that began the transaction still the one there is? */
static int
session_queue_ok(const struct session *s)
{
	return smtpd.queue != NULL && s->txn_gen == smtpd.queue_gen;
}

static void
session_chunk_flush(struct session *s)
{
	struct ipc_msg *msg;

	if (s->chunk_len == 0)
		return;
	if (session_queue_ok(s)) {
		msg = ipc_msg_new(IMSG_MSG_CHUNK, s->wait_id);
		ipc_add_data(msg, s->chunk, s->chunk_len);
		ipc_send(smtpd.queue, msg, IPC_NO_FD);
		smtpd_throttle_check();
	}
	s->txn_size += s->chunk_len;
	s->chunk_len = 0;
}

static void
session_chunk_add(struct session *s, const void *p, size_t len)
{
	if (SMTPD_CHUNK_MAX - s->chunk_len < len + DATA_OUT_SLACK)
		session_chunk_flush(s);
	if (SMTPD_CHUNK_MAX - s->chunk_len < len)
		panic("smtpd: %zu header bytes do not fit a chunk", len);
	memcpy(s->chunk + s->chunk_len, p, len);
	s->chunk_len += len;
}

static void
session_data_begin(struct session *s)
{
	if (smtpd.queue == NULL) {
		log_warn("NOQUEUE: DATA from %s: no queue service", s->name);
		session_data_reply(s, 1, "451 4.3.0 Queue service "
		    "not available\r\n");
		return;
	}
	wait_insert(s, smtpd_next_id());
	s->txn_gen = smtpd.queue_gen;
	s->state = S_QID;
	ipc_send_empty(smtpd.queue, IMSG_MSG_BEGIN, s->wait_id);
}

/* The queue said go: our own Received: header starts the content. */
static int
session_data_start(struct session *s)
{
	const struct config *cfg = session_cfg(s);
	struct received_info ri;
	struct data_limits lim;
	char hdr[2048];
	int n;

	memset(&ri, 0, sizeof(ri));
	ri.hostname = cfg->myhostname;
	ri.qid = s->qid;
	ri.helo = s->st.helo;
	ri.addr = s->addr;
	ri.rcpt = s->st.nrcpt == 1 ? s->st.rcpt[0] : NULL;
	ri.esmtp = s->st.helo_mode == SMTP_HELO_EHLO;
	ri.local = s->kind == LISTEN_SUBMIT;
	ri.uid = s->local_uid;
	ri.when = time(NULL);
	if ((n = received_header(&ri, hdr, sizeof(hdr))) == -1)
		return -1;

	memset(&lim, 0, sizeof(lim));
	lim.size_limit = (uint64_t)cfg->message_size_limit;
	lim.line_limit = (uint64_t)cfg->line_length_limit;
	lim.hop_limit = (int)cfg->hop_limit;
	lim.normalize = cfg->bare_lf == BARE_LF_NORMALIZE;
	/* sendmail sends lines as they are: a CR inside one is text. */
	lim.cr_text = s->kind == LISTEN_SUBMIT;
	data_init(&s->dsm, &lim);

	session_chunk_free(s);
	s->chunk = xmalloc(SMTPD_CHUNK_MAX);
	smtpd.buffered += SMTPD_CHUNK_MAX;
	s->chunk_len = 0;
	s->txn_size = 0;
	session_chunk_add(s, hdr, (size_t)n);
	return 0;
}

/* The queue's answer to IMSG_MSG_BEGIN: 354 or a refusal. */
void
session_queue_qid(uint64_t id, uint32_t code, const char *text,
    const char *qid)
{
	struct session *s = wait_find(id);
	char clean[SMTP_REPLY_MAX - 8], reply[SMTP_REPLY_MAX];
	struct evbuffer *in;

	/* A session that went before the answer sent MSG_ABORT then. */
	if (s == NULL)
		return;
	if (s->state != S_QID)
		fatal("smtpd: %s for a session not waiting for it",
		    ipc_type_name(IMSG_MSG_QID));
	text_one_line(clean, sizeof(clean), text);
	if (code != 354) {
		wait_remove(s);
		if (code < 400 || code > 599)
			code = 451;
		log_warn("NOQUEUE: DATA from %s: queue refused: %u %s",
		    s->name, code, clean);
		snprintf(reply, sizeof(reply), "%u %s\r\n", code, clean);
		session_data_reply(s, 1, reply);
		return;
	}
	strlcpy(s->qid, qid, sizeof(s->qid));
	if (s->kind == LISTEN_SUBMIT)
		log_info("%s: client=local, uid=%u", s->qid,
		    (unsigned)s->local_uid);
	else
		log_info("%s: client=%s", s->qid, s->name);
	if (session_data_start(s) == -1) {
		log_warn("%s: Received: header does not fit", s->qid);
		session_forget(s);
		session_data_reply(s, 1, "451 4.3.0 Local error, "
		    "try again later\r\n");
		return;
	}
	s->state = S_DATA;
	session_printf(s, "354 %s\r\n", clean[0] != '\0' ? clean :
	    "End data with <CR><LF>.<CR><LF>");
	s->data_start_ms = smtpd_now_ms();
	s->data_bytes = 0;
	session_data_deadline(s);
	in = bufferevent_get_input(s->bev);
	if (s->kind != LISTEN_SUBMIT && evbuffer_get_length(in) > 0) {
		/* Content before the 354: no network client may do that. */
		log_info("improper command pipelining after DATA from %s",
		    s->name);
		session_printf(s, "554 5.5.0 Command sent before the reply "
		    "without PIPELINING\r\n");
		session_close(s);
		return;
	}
	session_process(s);
}

/* Local submission: supply the Message-ID:, Date: and From: missing. */
static void
session_fixup(struct session *s)
{
	const struct config *cfg = session_cfg(s);
	char fix[2048];
	unsigned char tail[DATA_OUT_SLACK + DATA_HOLD_MAX];
	size_t off = s->dsm.hdr_off, tail_len;
	int n;

	n = header_fixup_text(s->dsm.hdr_present, s->st.sender, s->qid,
	    cfg->myhostname, time(NULL), fix, sizeof(fix));
	if (n == -1) {
		log_warn("%s: missing headers do not fit", s->qid);
		return;
	}
	if (n == 0)
		return;
	if (off > s->chunk_len || s->chunk_len - off > sizeof(tail))
		panic("smtpd: header section end out of the chunk");
	tail_len = s->chunk_len - off;
	memcpy(tail, s->chunk + off, tail_len);
	s->chunk_len = off;
	session_chunk_add(s, fix, (size_t)n);
	/* Headers added in front of body text need the empty line. */
	if (s->dsm.hdr_end == DATA_HDR_BODY)
		session_chunk_add(s, "\r\n", 2);
	session_chunk_add(s, tail, tail_len);
}

static void
session_commit(struct session *s)
{
	struct ipc_msg *msg;
	size_t i;

	msg = ipc_msg_new(IMSG_MSG_COMMIT, s->wait_id);
	ipc_add_str(msg, s->st.sender);
	ipc_add_str(msg, s->addr);
	ipc_add_str(msg, s->kind == LISTEN_SUBMIT ? "" : "unknown");
	ipc_add_str(msg, s->st.helo);
	ipc_add_u32(msg, s->local_uid);
	ipc_add_u64(msg, s->txn_size);
	ipc_add_u32(msg, (uint32_t)s->st.nrcpt);
	for (i = 0; i < s->st.nrcpt; i++)
		ipc_add_str(msg, s->st.rcpt[i]);
	ipc_send(smtpd.queue, msg, IPC_NO_FD);
}

/* The end of data: commit, or refuse and tell the queue to forget. */
static void
session_data_end(struct session *s)
{
	const char *refusal;
	char reply[SMTP_REPLY_MAX];

	s->data_end_ns = latency_now_ns();
	session_chunk_flush(s);
	session_chunk_free(s);
	s->last_verb = -2;
	refusal = data_refusal(&s->dsm);
	if (!session_queue_ok(s)) {
		log_warn("%s: queue service lost during DATA from %s",
		    s->qid, s->name);
		snprintf(reply, sizeof(reply), "451 4.3.0 Queue service "
		    "not available\r\n");
	} else if (refusal != NULL) {
		ipc_send_empty(smtpd.queue, IMSG_MSG_ABORT, s->wait_id);
		log_info("%s: reject: END-OF-MESSAGE from %s: %s", s->qid,
		    s->name, refusal);
		snprintf(reply, sizeof(reply), "%s\r\n", refusal);
	} else {
		session_commit(s);
		s->state = S_RESULT;
		session_set_timeout(s, 0);
		return;
	}
	wait_remove(s);
	cmd_txn_reset(&s->st);
	/* Commands may follow the end of data at once (RFC 2920). */
	session_data_reply(s, 0, reply);
}

/* A client that got a message queued is a known good one for a while. */
static void
session_good(struct session *s)
{
	const struct config *cfg = session_cfg(s);
	uint64_t now = smtpd_now_ms();

	if (!s->admit.counted || cfg->good_client_time == 0)
		return;
	admission_remember(smtpd.admission, &s->admit.address, ADMIT_GOOD, now,
	    now + (uint64_t)cfg->good_client_time * 1000);
}

/* The queue's answer to the commit: the reply to the dot. */
void
session_queue_result(uint64_t id, uint32_t code, const char *text,
    const char *qid)
{
	struct session *s = wait_find(id);
	char clean[SMTP_REPLY_MAX - 8], reply[SMTP_REPLY_MAX];

	if (s == NULL)
		return;		/* the client left before the answer */
	if (s->state != S_RESULT)
		fatal("smtpd: %s for a session not waiting for it",
		    ipc_type_name(IMSG_MSG_RESULT));
	wait_remove(s);
	text_one_line(clean, sizeof(clean), text);
	if (code < 200 || code > 599 || (code >= 300 && code < 400))
		code = 451;
	if (code != 250)
		log_warn("%s: not queued for %s: %u %s", s->qid, s->name,
		    code, clean);
	snprintf(reply, sizeof(reply), "%u %s\r\n", code, clean);
	cmd_txn_reset(&s->st);
	session_data_reply(s, 0, reply);
	if (code == 250) {
		smtpd_commit_latency(latency_now_ns() - s->data_end_ns);
		session_good(s);
	}
	session_process(s);
}

/* Transactions on a lost queue channel get 451 4.3.0. */
void
session_queue_lost(void)
{
	struct session *s, *next;

	TAILQ_FOREACH_SAFE(s, &smtpd.sessions, entry, next) {
		if (s->state != S_QID && s->state != S_DATA &&
		    s->state != S_RESULT)
			continue;
		if (smtpd.queue != NULL && s->txn_gen == smtpd.queue_gen)
			continue;
		wait_remove(s);
		/* In DATA: read on to the end of data, then say 451. */
		if (s->state == S_DATA)
			continue;
		log_warn("%s: queue service lost for %s",
		    s->state == S_RESULT ? s->qid : "NOQUEUE", s->name);
		/* After the end of data the transaction is over. */
		if (s->state == S_RESULT)
			cmd_txn_reset(&s->st);
		session_data_reply(s, s->state == S_QID,
		    "451 4.3.0 Queue service not available\r\n");
		session_process(s);
	}
}

/* The queue channel drained: read DATA again. */
void
session_resume_data(void)
{
	struct session *s, *next;

	TAILQ_FOREACH_SAFE(s, &smtpd.sessions, entry, next) {
		if (s->state != S_DATA)
			continue;
		bufferevent_enable(s->bev, EV_READ);
		session_process(s);
	}
}

/* Say goodbye to idle sessions, or to all with force. */
void
session_stop_all(int force)
{
	struct session *s, *next;

	TAILQ_FOREACH_SAFE(s, &smtpd.sessions, entry, next) {
		if (s->state == S_CLOSING)
			continue;
		if (force || !session_busy(s))
			session_goodbye(s);
	}
}

/* --- input ------------------------------------------------------------- */

/* Feed buffered content to the DATA machine; 0 when it needs more. */
static int
session_data_input(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_iovec v;
	size_t used;

	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
		return 0;
	used = data_feed(&s->dsm, v.iov_base, v.iov_len, s->chunk,
	    SMTPD_CHUNK_MAX, &s->chunk_len);
	if (evbuffer_drain(in, used) != 0)
		fatal("smtpd: evbuffer_drain failed");
	s->data_bytes += used;
	if (s->dsm.hdr_end != DATA_HDR_NONE && s->kind == LISTEN_SUBMIT)
		session_fixup(s);
	if (SMTPD_CHUNK_MAX - s->chunk_len < DATA_OUT_SLACK || used == 0)
		session_chunk_flush(s);
	if (s->dsm.done)
		session_data_end(s);
	else if (s->state == S_DATA && used > 0)
		session_data_deadline(s);
	return 1;
}

/*
 * Take one command line from the input; 0 when none is complete.  The
 * one limit on its length is here: a line whose text (what precedes its
 * CRLF, or its bare LF) is over SMTP_LINE_MAX - 2 octets is discarded as
 * it comes, and once its end is in it gets one 500, so that the session
 * stays in step with the client.
 */
static int
session_command_input(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_ptr p;
	struct cmd_reply r;
	char line[SMTP_LINE_MAX];
	size_t len, text;
	int eol;

	if (s->kind != LISTEN_SUBMIT && !s->discarding && session_foreign(s))
		return 0;
	p = evbuffer_search(in, "\n", 1, NULL);
	eol = p.pos != -1;
	len = eol ? (size_t)p.pos : evbuffer_get_length(in);
	/* A CR last is the CR of CRLF, or may yet turn out to be. */
	text = len;
	if (len <= sizeof(line)) {
		if (evbuffer_copyout(in, line, len) != (ev_ssize_t)len)
			fatal("smtpd: evbuffer_copyout failed");
		if (len > 0 && line[len - 1] == '\r')
			text--;
	}
	if (s->discarding || text > SMTP_LINE_MAX - 2) {
		evbuffer_drain(in, eol ? len + 1 : len);
		s->discarding = !eol;
		if (!eol)
			return 0;
		cmd_line_too_long(&s->st, &r);
		s->last_verb = VERB_UNKNOWN;
		session_reply(s, &r);
		return 1;
	}
	if (!eol)
		return 0;
	evbuffer_drain(in, len + 1);
	len = text;
	line[len] = '\0';
	cmd_execute(&s->st, line, len, &r);
	s->last_verb = r.verb;
	switch (r.action) {
	case CMD_REPLY:
		session_reply(s, &r);
		break;
	case CMD_POLICY_MAIL:
		if (session_memory_ok(s))
			session_policy_query(s, r.action);
		break;
	case CMD_POLICY_RCPT:
		session_policy_query(s, r.action);
		break;
	case CMD_DATA:
		session_data_begin(s);
		break;
	case CMD_QUIT:
	case CMD_CLOSE:
		session_write(s, r.text, r.len);
		session_close(s);
		break;
	default:
		panic("smtpd: command action %d", r.action);
	}
	return 1;
}

/*
 * Run what is buffered while the session may read.  A client that shut
 * down its sending side still has what it sent before run; the session
 * ends when that is used up.
 */
static void
session_process(struct session *s)
{
	for (;;) {
		if (s->state == S_DATA) {
			if (smtpd.throttled && session_queue_ok(s)) {
				bufferevent_disable(s->bev, EV_READ);
				return;
			}
			if (!session_data_input(s))
				break;
		} else if (s->state == S_CMD) {
			if (!session_command_input(s))
				break;
		} else if (s->state == S_PREGREET) {
			if (evbuffer_get_length(bufferevent_get_input(s->bev))
			    > 0) {
				session_talker(s);
				return;
			}
			break;
		} else
			return;
	}
	if (s->eof) {
		log_info("lost connection after %s from %s",
		    session_stage(s), s->name);
		session_close(s);
	}
}

/*
 * A network client whose command line is plainly not SMTP (a web
 * browser, a proxy probe, TLS on the plain port) is cut off at once.
 */
static int
session_foreign(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	char head[16], shown[4 * 40 + 1], seen[40];
	ev_ssize_t n, k;

	n = evbuffer_copyout(in, head, sizeof(head));
	if (n <= 0 || !cmd_foreign(head, (size_t)n))
		return 0;
	k = evbuffer_copyout(in, seen, sizeof(seen));
	log_info("NOQUEUE: reject: non-SMTP input from %s after %s: %s",
	    s->name, session_stage(s), log_escape(shown, sizeof(shown),
	    seen, k > 0 ? (size_t)k : 0));
	evbuffer_drain(in, evbuffer_get_length(in));
	session_printf(s, "521 5.5.1 %s Not an SMTP client; closing\r\n",
	    session_cfg(s)->myhostname);
	session_close(s);
	return 1;
}

/* --- the session's lifetime and overload --------------------------------- */

/* When a timer that started at start_ms, lasting secs, is due now. */
static struct timeval
session_left(uint64_t start_ms, uint64_t ms)
{
	uint64_t now = smtpd_now_ms(), due = start_ms + ms;

	return session_tv(due > now ? due - now : 0);
}

static void
session_life_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct timeval again = { 1, 0 };

	if (s->state == S_CLOSING)
		return;
	/* A commit is out: its answer comes first, then the end. */
	if (s->state == S_RESULT || s->state == S_QID ||
	    s->state == S_POLICY) {
		evtimer_add(s->life_ev, &again);
		return;
	}
	log_info("session lifetime reached after %s from %s",
	    session_stage(s), s->name);
	if (s->state != S_PREGREET)
		session_printf(s, "421 4.4.2 %s Session too long, "
		    "closing\r\n", session_cfg(s)->myhostname);
	session_close(s);
}

static void
session_life_arm(struct session *s)
{
	struct timeval tv = session_left(s->start_ms, session_deadline_ms(
	    session_cfg(s)->smtpd_session_lifetime));

	if (s->life_ev == NULL && (s->life_ev = evtimer_new(smtpd.base,
	    session_life_cb, s)) == NULL)
		fatal("smtpd: cannot make a lifetime timer");
	if (evtimer_add(s->life_ev, &tv) != 0)
		fatal("smtpd: cannot start a lifetime timer");
}

void
session_deadlines_changed(void)
{
	struct session *s;
	struct timeval tv;

	TAILQ_FOREACH(s, &smtpd.sessions, entry) {
		if (s->state == S_CLOSING)
			continue;
		session_life_arm(s);
		if (s->state == S_PREGREET) {
			tv = session_left(s->start_ms, smtpd_deadline_ms(
			    session_cfg(s)->pregreet_delay));
			evtimer_add(s->greet_ev, &tv);
		} else if (s->state == S_CMD)
			session_set_timeout(s, session_cfg(s)->smtpd_timeout);
		else if (s->state == S_DATA)
			session_data_deadline(s);
	}
}

/* --- the pre-greet test ------------------------------------------------- */

/*
 * The client spoke before the banner was complete: a real MTA waits for
 * it, a spam engine in a hurry does not.  It gets one reply and is cut
 * off.
 */
static void
session_talker(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	char seen[64], shown[4 * sizeof(seen) + 1];
	size_t n = evbuffer_get_length(in), k;

	k = evbuffer_copyout(in, seen, sizeof(seen)) > 0 ?
	    (n < sizeof(seen) ? n : sizeof(seen)) : 0;
	log_info("NOQUEUE: reject: pregreet from %s: %zu bytes before the "
	    "greeting: %s", s->name, n, log_escape(shown, sizeof(shown),
	    seen, k));
	evbuffer_drain(in, n);
	session_printf(s, "554 5.5.1 %s Protocol error: input before the "
	    "greeting\r\n", session_cfg(s)->myhostname);
	session_close(s);
}

/* The wait is over and the client kept quiet: greet it, remember it. */
static void
session_greet_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	const struct config *cfg = session_cfg(s);
	uint64_t now = smtpd_now_ms();

	if (s->state != S_PREGREET)
		return;
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		session_talker(s);
		return;
	}
	admission_remember(smtpd.admission, &s->admit.address, ADMIT_PASSED,
	    now, now + (uint64_t)cfg->pregreet_pass_time * 1000);
	log_info("pregreet pass from %s", s->name);
	s->state = S_CMD;
	session_set_timeout(s, cfg->smtpd_timeout);
	session_printf(s, "220 %s ESMTP Bulwark\r\n", cfg->myhostname);
	session_process(s);
}

/*
 * A network client not known to have passed: the first line of the
 * banner now, the last after pregreet_delay.
 */
static int
session_pregreet(struct session *s, int exempt)
{
	const struct config *cfg = session_cfg(s);
	struct timeval tv = session_tv(smtpd_deadline_ms(cfg->pregreet_delay));

	if (exempt || !s->admit.counted || cfg->pregreet_delay == 0 ||
	    admission_remembers(smtpd.admission, &s->admit.address,
	    ADMIT_PASSED, smtpd_now_ms()))
		return 0;
	if ((s->greet_ev = evtimer_new(smtpd.base, session_greet_cb, s)) ==
	    NULL || evtimer_add(s->greet_ev, &tv) != 0)
		fatal("smtpd: cannot start the pre-greet wait");
	s->state = S_PREGREET;
	/* The wait is ours, not the client's: no read deadline in it. */
	session_set_timeout(s, 0);
	session_printf(s, "220-%s ESMTP Bulwark\r\n", cfg->myhostname);
	return 1;
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	session_process(arg);
}

static void
session_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (s->state == S_CLOSING)
		session_free_later(s);
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (s->state == S_CLOSING) {
		session_free_later(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if ((what & BEV_EVENT_READING) && s->state != S_CMD &&
		    s->state != S_DATA) {
			/* Waiting for another process: not the client's. */
			bufferevent_enable(bev, EV_READ);
			return;
		}
		if ((what & BEV_EVENT_READING) && s->state == S_DATA &&
		    smtpd_now_ms() >= session_data_due_ms(s)) {
			log_info("data rate too low after DATA from %s: "
			    "%llu bytes in %llu ms", s->name,
			    (unsigned long long)s->data_bytes,
			    (unsigned long long)(smtpd_now_ms() -
			    s->data_start_ms));
			session_printf(s, "421 4.4.2 %s Data rate too low, "
			    "closing\r\n", session_cfg(s)->myhostname);
			session_close(s);
			return;
		}
		log_info("timeout after %s from %s", session_stage(s),
		    s->name);
		if (what & BEV_EVENT_READING) {
			session_printf(s, "421 4.4.2 %s Timed out waiting "
			    "for input\r\n", session_cfg(s)->myhostname);
			session_close(s);
			return;
		}
	} else if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
		/* Half closed: answer what came before the end. */
		s->eof = 1;
		session_process(s);
		return;
	} else
		log_info("lost connection after %s from %s",
		    session_stage(s), s->name);
	session_forget(s);
	session_free_later(s);
}

/* --- new sessions ------------------------------------------------------ */

/*
 * The client's numeric address ("" for a local one) and its name in the
 * log, "[address]" or "local".  Every inet listener is IPV6_V6ONLY, so
 * no address comes IPv4-mapped.
 */
static void
session_peer(const struct sockaddr *sa, socklen_t salen,
    char addr[SESSION_ADDR_MAX], char name[SESSION_NAME_MAX])
{
	char host[NI_MAXHOST];

	if (sa->sa_family == AF_UNIX) {
		addr[0] = '\0';
		strlcpy(name, "local", SESSION_NAME_MAX);
		return;
	}
	if (getnameinfo(sa, salen, host, sizeof(host), NULL, 0,
	    NI_NUMERICHOST) != 0)
		strlcpy(host, "unknown", sizeof(host));
	strlcpy(addr, host, SESSION_ADDR_MAX);
	snprintf(name, SESSION_NAME_MAX, "[%s]", addr);
}

/* A local submission's uid, from the socket. */
static void
session_uid(struct session *s, int fd, const struct sockaddr *sa)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	s->local_uid = IPC_UID_NONE;
	if (sa->sa_family == AF_UNIX && getsockopt(fd, SOL_SOCKET,
	    SO_PEERCRED, &cred, &len) == 0 && len == sizeof(cred))
		s->local_uid = (uint32_t)cred.uid;
}

/* For the command parser: recipients in our domains are mailboxes. */
static int
session_local_domain(const void *cfg, const char *domain)
{
	return config_is_local_domain(cfg, domain);
}

/* Why a client is refused before it has a session. */
enum refusal {
	REFUSE_TOTAL,		/* connection_limit */
	REFUSE_ADDRESS,		/* client_connection_limit */
	REFUSE_PREFIX,		/* prefix_connection_limit */
	REFUSE_ADDRESS_RATE,	/* client_connection_rate */
	REFUSE_PREFIX_RATE,	/* prefix_connection_rate */
};

/*
 * Refuse a client without a session: one line in the log naming the
 * limit (the refusal class), one 421, and the socket closed.
 */
static void
session_refuse(int fd, const char *name, enum refusal why,
    const struct admit_key *prefix)
{
	const struct config *cfg = smtpd.conf->cfg;
	char text[SMTP_REPLY_MAX], net[64];
	const char *reply;
	int n;

	switch (why) {
	case REFUSE_ADDRESS:
		log_info("NOQUEUE: reject: connect from %s: too many "
		    "connections from this address (client_connection_limit "
		    "%lld)", name, (long long)cfg->client_connection_limit);
		reply = "Too many connections from your address";
		break;
	case REFUSE_PREFIX:
		admission_key_text(prefix, net, sizeof(net));
		log_info("NOQUEUE: reject: connect from %s: too many "
		    "connections from %s (prefix_connection_limit %lld)",
		    name, net, (long long)cfg->prefix_connection_limit);
		reply = "Too many connections from your network";
		break;
	case REFUSE_ADDRESS_RATE:
		log_info("NOQUEUE: reject: connect from %s: connection rate "
		    "from this address (client_connection_rate %lld a minute)",
		    name, (long long)cfg->client_connection_rate);
		reply = "Connection rate limit reached for your address";
		break;
	case REFUSE_PREFIX_RATE:
		admission_key_text(prefix, net, sizeof(net));
		log_info("NOQUEUE: reject: connect from %s: connection rate "
		    "from %s (prefix_connection_rate %lld a minute)", name,
		    net, (long long)cfg->prefix_connection_rate);
		reply = "Connection rate limit reached for your network";
		break;
	default:
		log_info("NOQUEUE: reject: connect from %s: too many "
		    "connections (%zu; connection_limit %lld, %lld%% kept for "
		    "good clients)", name, smtpd.nsessions,
		    (long long)cfg->connection_limit,
		    (long long)cfg->good_client_reserve);
		reply = "Too many connections";
		break;
	}
	n = snprintf(text, sizeof(text), "421 4.7.0 %s %s\r\n",
	    cfg->myhostname, reply);
	if (n > 0 && (size_t)n < sizeof(text))
		(void)send(fd, text, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/*
 * Is the session table full for this client?  Clients in mynetworks,
 * local submissions and known good clients may fill connection_limit;
 * strangers leave good_client_reserve percent of it free.  Passing the
 * pre-greet test earns no place here: an idle bot passes it too.  The
 * client is looked up only when the strangers' share is used up.
 */
static int
session_table_full(const struct sockaddr *sa, int exempt)
{
	const struct config *cfg = smtpd.conf->cfg;
	int64_t strangers;
	struct admit_key k;

	if (smtpd.nsessions >= (size_t)cfg->connection_limit)
		return 1;
	strangers = cfg->connection_limit * (100 - cfg->good_client_reserve) /
	    100;
	if (smtpd.nsessions < (size_t)(strangers > 0 ? strangers : 1))
		return 0;
	return !exempt && admission_key(sa, 0, &k) == 0 &&
	    !admission_remembers(smtpd.admission, &k, ADMIT_GOOD,
	    smtpd_now_ms());
}

/*
 * Count the client against its address and prefix, or refuse it over a
 * limit or a rate.  Clients in mynetworks and local submissions are not
 * counted.
 */
static int
session_admit(int fd, const struct sockaddr *sa, const char *addr,
    const char *name, struct admit_ticket *t, int *exemptp)
{
	const struct smtpd_conf *c = smtpd.conf;
	struct admit_limits lim;
	enum refusal why;
	int exempt;

	exempt = c->mynetworks != NULL && addr[0] != '\0' &&
	    cidr_lookup(c->mynetworks, addr) != NULL;
	*exemptp = exempt;
	if (session_table_full(sa, exempt)) {
		session_refuse(fd, name, REFUSE_TOTAL, NULL);
		return -1;
	}
	admission_limits(c->cfg, &lim);
	switch (admission_enter(smtpd.admission, sa, &lim, exempt,
	    smtpd_now_ms(), t)) {
	case ADMIT_OK:
		return 0;
	case ADMIT_ADDRESS:
		why = REFUSE_ADDRESS;
		break;
	case ADMIT_PREFIX:
		why = REFUSE_PREFIX;
		break;
	case ADMIT_ADDRESS_RATE:
		why = REFUSE_ADDRESS_RATE;
		break;
	default:
		why = REFUSE_PREFIX_RATE;
		break;
	}
	session_refuse(fd, name, why, &t->prefix);
	return -1;
}

/* A new client: greet it, or refuse it over a limit. */
void
session_accept(int fd, const struct sockaddr *sa, socklen_t salen,
    int kind)
{
	const struct config *cfg = smtpd.conf->cfg;
	char addr[SESSION_ADDR_MAX], name[SESSION_NAME_MAX];
	struct admit_ticket ticket;
	struct smtp_params p;
	struct session *s;
	int exempt;

	if (smtpd.stopping) {
		close(fd);
		return;
	}
	session_peer(sa, salen, addr, name);
	if (session_admit(fd, sa, addr, name, &ticket, &exempt) != 0)
		return;
	s = xcalloc(1, sizeof(*s));
	s->admit = ticket;
	s->exempt = exempt;
	s->kind = kind;
	s->conf = smtpd_conf_ref();
	s->last_verb = -1;
	strlcpy(s->addr, addr, sizeof(s->addr));
	strlcpy(s->name, name, sizeof(s->name));
	session_uid(s, fd, sa);
	smtpd.buffered += sizeof(*s);
	if ((s->bev = bufferevent_socket_new(smtpd.base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatal("smtpd: bufferevent_socket_new failed");
	if (evbuffer_add_cb(bufferevent_get_input(s->bev), session_buffer_cb,
	    s) == NULL || evbuffer_add_cb(bufferevent_get_output(s->bev),
	    session_buffer_cb, s) == NULL)
		fatal("smtpd: evbuffer_add_cb failed");
	memset(&p, 0, sizeof(p));
	p.hostname = cfg->myhostname;
	p.size_limit = (uint64_t)cfg->message_size_limit;
	p.rcpt_limit = (size_t)cfg->recipient_limit;
	p.local_domain = session_local_domain;
	p.local_arg = s->conf->cfg;
	cmd_state_init(&s->st, &p);
	TAILQ_INSERT_TAIL(&smtpd.sessions, s, entry);
	smtpd.nsessions++;
	s->start_ms = smtpd_now_ms();

	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
	    session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_INPUT_MAX);
	session_set_timeout(s, cfg->smtpd_timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (kind == LISTEN_SUBMIT)
		log_info("connect from local, uid=%u", (unsigned)s->local_uid);
	else
		log_info("connect from %s", s->name);
	if (!session_pregreet(s, exempt))
		session_printf(s, "220 %s ESMTP Bulwark\r\n",
		    cfg->myhostname);
	session_life_arm(s);
	smtpd_load_check();
}
