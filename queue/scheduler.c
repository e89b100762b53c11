/*
 * The scheduler: the live messages, and their hand-off to the delivery
 * agents.  Recipients in a local domain (or a bare local name such as
 * "postmaster") go to the local agent, the rest to the remote agent.
 * Each agent has a run queue of messages with recipients due for it and
 * at most delivery_concurrency jobs in flight.  Outcomes are logged as
 * records without waiting for a sync: after a crash a delivery may be
 * repeated, never lost.  A deferred recipient is tried again after
 * minimal_backoff, doubling up to maximal_backoff; once the message is
 * older than queue_lifetime, a deferral turns into a bounce.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipc.h"
#include "log.h"
#include "xmalloc.h"

#include "queue/idmap.h"
#include "queue/queue.h"

#define JOB_MAX_RCPTS		100		/* recipients per job */
#define JOB_MAX_BEGIN_BYTES	(128 * 1024)	/* BEGIN frame budget */
#define SCHED_AGENT_LOSSES	3		/* agent deaths, then defer */

struct job {
	uint64_t	 id;
	enum agent	 agent;
	struct qmsg	*m;
	uint32_t	 n;
	uint32_t	*idx;
	uint8_t		*reported;
	TAILQ_ENTRY(job) entry;
};

TAILQ_HEAD(joblist, job);

static struct {
	struct ipc_chan	*chan[AGENT_COUNT];
	struct joblist	 jobs[AGENT_COUNT];
	int64_t		 njobs[AGENT_COUNT];
	struct qmsglist	 runq[AGENT_COUNT];
	struct qmsglist	 deferred;
	struct qmsglist	 due;
	struct qmsglist	 all;
	uint64_t	 nmsgs;
	uint64_t	 bytes;
	uint64_t	 next_job;
	struct event	*timer;
	time_t		 timer_at;	/* 0: not armed */
	struct event	*kick;		/* dispatch once this event is over */
	int		 kicked[AGENT_COUNT];
	int		 stopping;
	void		(*drained)(void);	/* at stop, once idle */
} S;

static const char *agent_name[AGENT_COUNT] = { "local", "remote" };

static void	dispatch(enum agent);
static void	on_timer(evutil_socket_t, short, void *);

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	int a;

	for (a = 0; a < AGENT_COUNT; a++)
		if (S.kicked[a]) {
			S.kicked[a] = 0;
			dispatch(a);
		}
}

/*
 * Hand out work after the event being handled: a batch of commits gets
 * all its 250 replies out before the first job is built, so that no
 * client waits for the content of the messages synced with its own to
 * be read back and sent to an agent.
 */
static void
dispatch_soon(enum agent a)
{
	if (S.kick == NULL &&
	    (S.kick = event_new(queue_base(), -1, 0, on_kick, NULL)) == NULL)
		fatal("queue: cannot create the dispatch event");
	S.kicked[a] = 1;
	if (!event_pending(S.kick, EV_TIMEOUT, NULL))
		event_active(S.kick, EV_TIMEOUT, 1);
}

void
sched_init(void)
{
	int a;

	memset(&S, 0, sizeof(S));
	for (a = 0; a < AGENT_COUNT; a++) {
		TAILQ_INIT(&S.jobs[a]);
		TAILQ_INIT(&S.runq[a]);
	}
	TAILQ_INIT(&S.deferred);
	TAILQ_INIT(&S.due);
	TAILQ_INIT(&S.all);
}

struct qmsglist *
sched_messages(void)
{
	return &S.all;
}

void
sched_stats(struct queue_figures *f)
{
	struct qmsg *m;
	uint64_t d = 0;

	TAILQ_FOREACH(m, &S.deferred, defer)
		if (m->jobs == 0 && !m->queued[AGENT_LOCAL] &&
		    !m->queued[AGENT_REMOTE])
			d++;
	f->messages = S.nmsgs;
	f->deferred = d;
	f->active = S.nmsgs - d;
	f->bytes = S.bytes;
}

enum quota
sched_over_quota(void)
{
	const struct config *cfg = queue_config();
	uint64_t msgs, bytes;

	store_reserved(&msgs, &bytes);
	if (S.nmsgs + msgs >= (uint64_t)cfg->queue_message_limit)
		return QUOTA_MESSAGES;
	return sched_over_size(0) ? QUOTA_SIZE : QUOTA_NONE;
}

int
sched_over_size(uint64_t size)
{
	uint64_t msgs, bytes;

	store_reserved(&msgs, &bytes);
	if (size == 0)
		return S.bytes + bytes >=
		    (uint64_t)queue_config()->queue_size_limit;
	return S.bytes + bytes + size >
	    (uint64_t)queue_config()->queue_size_limit;
}

const char *
sched_quota_name(enum quota which)
{
	return which == QUOTA_MESSAGES ? "queue_message_limit" :
	    "queue_size_limit";
}

enum agent
sched_agent_of(const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');
	char dom[256];
	size_t i;

	/* "postmaster" and other bare local names are ours. */
	if (at == NULL)
		return AGENT_LOCAL;
	for (i = 0; at[1 + i] != '\0' && i + 1 < sizeof(dom); i++)
		dom[i] = (char)tolower((unsigned char)at[1 + i]);
	dom[i] = '\0';
	return config_is_local_domain(queue_config(), dom) ? AGENT_LOCAL :
	    AGENT_REMOTE;
}

/* The delay before attempt n+1 after n deferrals. */
static time_t
backoff(uint32_t attempts)
{
	const struct config *cfg = queue_config();
	int64_t d = cfg->minimal_backoff > 0 ? cfg->minimal_backoff : 1;
	uint32_t i;

	for (i = 1; i < attempts && d < cfg->maximal_backoff; i++)
		d *= 2;
	if (d > cfg->maximal_backoff)
		d = cfg->maximal_backoff;
	return (time_t)d;
}

/* --- the deferred list and its timer -------------------------------------- */

/*
 * Deferred messages wait on S.deferred (m->deferred == 1).  When their
 * time comes they move to S.due (m->deferred == 2) and are taken from
 * there one by one, so that whatever sched_update() does to other
 * messages meanwhile never leaves a dangling list walk.
 */
static void
undefer(struct qmsg *m)
{
	if (m->deferred == 1)
		TAILQ_REMOVE(&S.deferred, m, defer);
	else if (m->deferred == 2)
		TAILQ_REMOVE(&S.due, m, defer);
	m->deferred = 0;
}

static void
run_due(void)
{
	struct qmsg *m;

	while ((m = TAILQ_FIRST(&S.due)) != NULL) {
		undefer(m);
		sched_update(m);
	}
}

static void
arm_timer(time_t at)
{
	struct timeval tv = { 0, 0 };
	time_t now = time(NULL);

	if (S.timer == NULL &&
	    (S.timer = evtimer_new(queue_base(), on_timer, NULL)) == NULL)
		fatal("queue: cannot create the retry timer");
	if (S.timer_at != 0 && S.timer_at <= at)
		return;
	S.timer_at = at;
	tv.tv_sec = at > now ? at - now : 0;
	evtimer_add(S.timer, &tv);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct qmsg *m, *next;
	time_t now = time(NULL), first = 0;

	S.timer_at = 0;
	if (S.stopping)
		return;
	for (m = TAILQ_FIRST(&S.deferred); m != NULL; m = next) {
		next = TAILQ_NEXT(m, defer);
		if (m->next_try <= now) {
			undefer(m);
			TAILQ_INSERT_TAIL(&S.due, m, defer);
			m->deferred = 2;
		} else if (first == 0 || m->next_try < first)
			first = m->next_try;
	}
	if (first != 0)
		arm_timer(first);
	run_due();
}

static void
defer_until(struct qmsg *m, time_t at)
{
	m->next_try = at;
	if (m->deferred != 1) {
		undefer(m);
		TAILQ_INSERT_TAIL(&S.deferred, m, defer);
		m->deferred = 1;
	}
	if (!S.stopping)
		arm_timer(at);
}

/* --- the life of a message ------------------------------------------------ */

void
sched_add(struct qmsg *m)
{
	TAILQ_INSERT_TAIL(&S.all, m, all);
	S.nmsgs++;
	S.bytes += m->size;
	sched_update(m);
}

static void
msg_remove(struct qmsg *m)
{
	int a;

	undefer(m);
	for (a = 0; a < AGENT_COUNT; a++)
		if (m->queued[a]) {
			TAILQ_REMOVE(&S.runq[a], m, runq[a]);
			m->queued[a] = 0;
		}
	TAILQ_REMOVE(&S.all, m, all);
	S.nmsgs--;
	S.bytes -= m->size;
	store_finish(m);
	log_info("%s: removed", m->qid);
	qmsg_free(m);
}

static void
enqueue(struct qmsg *m, enum agent a)
{
	if (!m->queued[a]) {
		TAILQ_INSERT_TAIL(&S.runq[a], m, runq[a]);
		m->queued[a] = 1;
	}
}

/* Is rc waiting to be handed to an agent (now or later)? */
static int
rcpt_waiting(const struct qrcpt *rc)
{
	return rc->state == RS_PENDING && !rc->busy;
}

/*
 * Re-evaluate m: start a bounce when failures are waiting and no job is
 * out, queue it for the agents with recipients due, keep it on the
 * deferred list until its next retry, and finish it when nothing is
 * left.
 */
void
sched_update(struct qmsg *m)
{
	time_t now = time(NULL), next = 0;
	int due[AGENT_COUNT] = { 0, 0 };
	int bounce = 0;
	struct qrcpt *rc;
	uint32_t i;
	int a;

	/* A copy is being made: it is looked at again once that is over. */
	if (m->finished || m->moving)
		return;
	/* Failures are reported once no job is out, in one notification. */
	for (i = 0; i < m->nrcpt && m->jobs == 0 && !S.stopping; i++)
		if (m->rcpt[i].state == RS_BOUNCING &&
		    !m->rcpt[i].in_bounce && m->rcpt[i].next_try <= now)
			bounce = 1;
	if (bounce)
		bounce_start(m);
	for (i = 0; i < m->nrcpt; i++) {
		rc = &m->rcpt[i];
		if (rc->state == RS_BOUNCING && !rc->in_bounce) {
			if (rc->next_try > now &&
			    (next == 0 || rc->next_try < next))
				next = rc->next_try;
		} else if (rcpt_waiting(rc)) {
			if (rc->next_try <= now)
				due[sched_agent_of(rc->addr)] = 1;
			else if (next == 0 || rc->next_try < next)
				next = rc->next_try;
		}
	}
	if (next != 0)
		defer_until(m, next);
	else
		undefer(m);
	if (qmsg_open_rcpts(m) == 0 && m->jobs == 0 && m->bounces == 0) {
		msg_remove(m);
		return;
	}
	for (a = 0; a < AGENT_COUNT; a++)
		if (due[a]) {
			enqueue(m, a);
			dispatch_soon(a);
		}
}

void
sched_flush(void)
{
	struct qmsg *m;
	uint32_t i;

	while ((m = TAILQ_FIRST(&S.deferred)) != NULL) {
		undefer(m);
		for (i = 0; i < m->nrcpt; i++)
			m->rcpt[i].next_try = 0;
		TAILQ_INSERT_TAIL(&S.due, m, defer);
		m->deferred = 2;
	}
	run_due();
}

/* While stopping: tell the queue once the last job has reported. */
static void
check_drained(void)
{
	void (*fn)(void) = S.drained;
	int a;

	if (!S.stopping || fn == NULL)
		return;
	for (a = 0; a < AGENT_COUNT; a++)
		if (S.njobs[a] > 0)
			return;
	S.drained = NULL;
	fn();
}

void
sched_stop(void (*drained)(void))
{
	S.stopping = 1;
	S.drained = drained;
	if (S.timer != NULL)
		evtimer_del(S.timer);
	check_drained();
}

/* --- jobs ----------------------------------------------------------------- */

static void
job_free(struct job *j)
{
	free(j->idx);
	free(j->reported);
	free(j);
}

/* Can every chunk of m be read back and checked?  -1 (errno) if not. */
static int
content_readable(const struct qmsg *m)
{
	const unsigned char *p;
	size_t len;
	uint32_t i;

	for (i = 0; i < m->nchunk; i++)
		if (store_read_chunk(m, i, &p, &len) != 0)
			return -1;
	return 0;
}

static void
send_content(struct ipc_chan *c, uint64_t jid, const struct qmsg *m)
{
	const unsigned char *p;
	struct ipc_msg *msg;
	size_t len, n;
	uint32_t i;

	for (i = 0; i < m->nchunk; i++) {
		/* Checked just before: a failure now is not survivable
		 * without handing the agent a truncated message. */
		if (store_read_chunk(m, i, &p, &len) != 0)
			fatalx_errno("%s: queue log read failed twice",
			    m->qid);
		while (len > 0) {
			n = len < QUEUE_CHUNK_MAX ? len : QUEUE_CHUNK_MAX;
			msg = ipc_msg_new(IMSG_DELIVER_CHUNK, jid);
			ipc_add_data(msg, p, n);
			ipc_send(c, msg, IPC_NO_FD);
			p += n;
			len -= n;
		}
	}
}

/* Defer rc with reason; after queue_lifetime the deferral is a bounce. */
static void
rcpt_defer(struct qmsg *m, uint32_t i, const char *dsn, const char *text,
    const char *remote, const char *reply)
{
	struct qrcpt *rc = &m->rcpt[i];
	time_t now = time(NULL);
	char buf[512];

	rc->attempts++;
	qrcpt_set_outcome(rc, dsn, text, remote, reply);
	if (now - m->arrival >= queue_config()->queue_lifetime) {
		rc->state = RS_BOUNCING;
		rc->next_try = 0;
		log_info("%s: to=<%s>, status=expired, returned to sender "
		    "(%s)", m->qid, log_escape(buf, sizeof(buf), rc->addr,
		    strlen(rc->addr)), rc->reason);
		return;
	}
	rc->next_try = now + backoff(rc->attempts);
	store_outcome(m, i);
}

/*
 * The agent died with rc in hand.  The first losses may be bad luck and
 * are retried at once; after SCHED_AGENT_LOSSES in a row the message
 * itself is the likely cause, and it waits like any temporary failure,
 * so that queue_lifetime ends it instead of a crash loop.
 */
static void
rcpt_lost(struct qmsg *m, uint32_t i)
{
	struct qrcpt *rc = &m->rcpt[i];
	char buf[512];

	if (rc->losses < UINT8_MAX)
		rc->losses++;
	if (rc->losses < SCHED_AGENT_LOSSES) {
		rc->next_try = 0;
		return;
	}
	rcpt_defer(m, i, "4.3.0", "delivery agent died", NULL, NULL);
	if (rc->state == RS_PENDING)
		log_info("%s: to=<%s>, dsn=4.3.0, status=deferred (delivery "
		    "agent died %u times in a row)", m->qid,
		    log_escape(buf, sizeof(buf), rc->addr, strlen(rc->addr)),
		    (unsigned)rc->losses);
}

/* A job's recipients that were not reported: retried, after delay. */
static void
job_unreported(struct job *j, int lost, const char *why)
{
	uint32_t k, i;

	for (k = 0; k < j->n; k++) {
		if (j->reported[k])
			continue;
		i = j->idx[k];
		j->m->rcpt[i].busy = 0;
		if (lost)
			rcpt_lost(j->m, i);
		else {
			j->m->rcpt[i].losses = 0;
			rcpt_defer(j->m, i, "4.3.0", why, NULL, NULL);
		}
	}
}

static void
job_end(struct job *j)
{
	struct qmsg *m = j->m;
	enum agent a = j->agent;

	TAILQ_REMOVE(&S.jobs[a], j, entry);
	S.njobs[a]--;
	m->jobs--;
	job_free(j);
	sched_update(m);
	dispatch(a);
	check_drained();
}

/*
 * Build a job of m's due recipients for agent a, at most JOB_MAX_RCPTS
 * and a BEGIN frame within budget.  Returns NULL when none is due.
 */
static struct job *
job_new(struct qmsg *m, enum agent a, int *more)
{
	time_t now = time(NULL);
	size_t bytes = 0;
	struct job *j;
	uint32_t i;

	j = xcalloc(1, sizeof(*j));
	j->idx = xcalloc(JOB_MAX_RCPTS, sizeof(*j->idx));
	j->reported = xcalloc(JOB_MAX_RCPTS, 1);
	*more = 0;
	for (i = 0; i < m->nrcpt; i++) {
		if (!rcpt_waiting(&m->rcpt[i]) || m->rcpt[i].next_try > now ||
		    sched_agent_of(m->rcpt[i].addr) != a)
			continue;
		if (j->n == JOB_MAX_RCPTS || bytes > JOB_MAX_BEGIN_BYTES) {
			*more = 1;
			break;
		}
		j->idx[j->n++] = i;
		bytes += strlen(m->rcpt[i].addr) + 8;
	}
	if (j->n == 0) {
		job_free(j);
		return NULL;
	}
	j->id = ++S.next_job;
	j->agent = a;
	j->m = m;
	return j;
}

static void
job_send(struct job *j)
{
	struct ipc_chan *c = S.chan[j->agent];
	struct qmsg *m = j->m;
	struct ipc_msg *msg;
	uint32_t k;

	msg = ipc_msg_new(IMSG_DELIVER_BEGIN, j->id);
	ipc_add_str(msg, m->qid);
	ipc_add_str(msg, m->sender);
	ipc_add_u64(msg, (uint64_t)m->arrival);
	ipc_add_u64(msg, m->size);
	ipc_add_u32(msg, j->n);
	for (k = 0; k < j->n; k++) {
		ipc_add_u32(msg, j->idx[k]);
		ipc_add_str(msg, m->rcpt[j->idx[k]].addr);
	}
	ipc_send(c, msg, IPC_NO_FD);
	send_content(c, j->id, m);
	ipc_send_empty(c, IMSG_DELIVER_END, j->id);
}

/* m's content is unreadable: its due recipients for a are deferred. */
static void
read_failed(struct qmsg *m, enum agent a)
{
	time_t now = time(NULL);
	uint32_t i;

	for (i = 0; i < m->nrcpt; i++)
		if (rcpt_waiting(&m->rcpt[i]) && m->rcpt[i].next_try <= now &&
		    sched_agent_of(m->rcpt[i].addr) == a)
			rcpt_defer(m, i, "4.3.0", "queue file read error",
			    NULL, NULL);
	sched_update(m);
}

static void
dispatch(enum agent a)
{
	int64_t conc = queue_config()->delivery_concurrency;
	struct qmsg *m;
	struct job *j;
	uint32_t k;
	int more;

	if (conc < 1)
		conc = 1;
	while (!S.stopping && S.chan[a] != NULL && S.njobs[a] < conc &&
	    (m = TAILQ_FIRST(&S.runq[a])) != NULL) {
		TAILQ_REMOVE(&S.runq[a], m, runq[a]);
		m->queued[a] = 0;
		if (m->moving)
			continue;
		if (content_readable(m) != 0) {
			log_warn("%s: cannot read the message back from the "
			    "queue log: %s", m->qid, strerror(errno));
			read_failed(m, a);
			continue;
		}
		if ((j = job_new(m, a, &more)) == NULL)
			continue;
		if (more)
			enqueue(m, a);
		for (k = 0; k < j->n; k++)
			m->rcpt[j->idx[k]].busy = 1;
		m->jobs++;
		S.njobs[a]++;
		TAILQ_INSERT_TAIL(&S.jobs[a], j, entry);
		log_debug("%s: job %" PRIu64 " to %s, nrcpt=%u", m->qid,
		    j->id, agent_name[a], j->n);
		job_send(j);
	}
}

/* --- what the agents report ----------------------------------------------- */

static struct job *
job_find(enum agent a, uint64_t id)
{
	struct job *j;

	TAILQ_FOREACH(j, &S.jobs[a], entry)
		if (j->id == id)
			return j;
	return NULL;
}

static void
on_rcpt(enum agent a, struct job *j, struct ipc_reader *rd)
{
	uint32_t index, status, k;
	char *dsn, *relay, *text, *reply;
	struct qrcpt *rc;

	index = ipc_get_u32(rd);
	status = ipc_get_u32(rd);
	dsn = ipc_get_str(rd);
	relay = ipc_get_str(rd);
	text = ipc_get_str(rd);
	reply = ipc_get_str(rd);
	ipc_get_end(rd);
	for (k = 0; k < j->n && j->idx[k] != index; k++)
		;
	if (k == j->n || j->reported[k] || status > DSTATUS_BOUNCE) {
		log_warn("%s: %s agent reported recipient %u of job %" PRIu64
		    " wrongly (status %u)", j->m->qid, agent_name[a], index,
		    j->id, status);
		goto out;
	}
	j->reported[k] = 1;
	rc = &j->m->rcpt[index];
	rc->busy = 0;
	rc->losses = 0;
	switch (status) {
	case DSTATUS_SENT:
		rc->state = RS_SENT;
		qrcpt_set_outcome(rc, dsn, text, NULL, NULL);
		store_outcome(j->m, index);
		break;
	case DSTATUS_DEFER:
		rcpt_defer(j->m, index, dsn, text, relay, reply);
		break;
	case DSTATUS_BOUNCE:
		rc->state = RS_BOUNCING;
		rc->next_try = 0;
		qrcpt_set_outcome(rc, dsn, text, relay, reply);
		break;
	}
	log_debug("%s: rcpt %u via %s: status %u (%s)", j->m->qid, index,
	    relay, status, dsn);
out:
	free(dsn);
	free(relay);
	free(text);
	free(reply);
}

static void
on_agent(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	enum agent a = (enum agent)(intptr_t)arg;
	struct job *j;

	if (rd->hdr->type != IMSG_DELIVER_RCPT &&
	    rd->hdr->type != IMSG_DELIVER_DONE)
		fatal("queue: unexpected %s from the %s agent",
		    ipc_type_name(rd->hdr->type), agent_name[a]);
	if ((j = job_find(a, rd->hdr->id)) == NULL) {
		log_warn("queue: %s agent: %s for unknown job %" PRIu64,
		    agent_name[a], ipc_type_name(rd->hdr->type),
		    (uint64_t)rd->hdr->id);
		return;
	}
	if (rd->hdr->type == IMSG_DELIVER_RCPT) {
		on_rcpt(a, j, rd);
		return;
	}
	ipc_get_end(rd);
	job_unreported(j, 0, "delivery agent reported no status");
	job_end(j);
}

/* The agent is gone: its jobs go back to the queue for a retry with the
 * next agent (see rcpt_lost). */
static void
agent_lost(enum agent a)
{
	struct job *j;
	struct qmsg *m;

	while ((j = TAILQ_FIRST(&S.jobs[a])) != NULL) {
		TAILQ_REMOVE(&S.jobs[a], j, entry);
		S.njobs[a]--;
		m = j->m;
		job_unreported(j, 1, NULL);
		m->jobs--;
		job_free(j);
		sched_update(m);
	}
	check_drained();
}

static void
on_agent_closed(struct ipc_chan *c, void *arg)
{
	enum agent a = (enum agent)(intptr_t)arg;

	if (S.chan[a] != c)
		return;
	log_info("queue: %s delivery channel closed", agent_name[a]);
	S.chan[a] = NULL;
	agent_lost(a);
	ipc_chan_free(c);
}

void
sched_set_agent(enum agent a, int fd)
{
	struct ipc_chan *old = S.chan[a];

	if (old != NULL) {
		S.chan[a] = NULL;
		ipc_chan_free(old);
		agent_lost(a);
	}
	S.chan[a] = ipc_chan_new(queue_base(), fd,
	    a == AGENT_LOCAL ? "local" : "remote", on_agent, on_agent_closed,
	    (void *)(intptr_t)a);
	dispatch(a);
}
