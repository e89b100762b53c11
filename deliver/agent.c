/*
 * The frame of a delivery agent: the master's channel (config, peers,
 * stop), the queue's channel (jobs in, reports out), the content of each
 * job spooled into a memory file as it arrives, and the bounded stop.
 * The delivery itself is the agent's own (agent_ops).
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/time.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "deliver.h"
#include "log.h"
#include "xmalloc.h"

#define LOG_ADDR_MAX	300	/* escaped address in a log line */
#define LOG_TEXT_MAX	600	/* escaped reply text in a log line */

static void	agent_exit(struct agent *) __attribute__((noreturn));

const char *
dstatus_word(enum deliver_status s)
{
	switch (s) {
	case DSTATUS_SENT:
		return "sent";
	case DSTATUS_DEFER:
		return "deferred";
	case DSTATUS_BOUNCE:
		return "bounced";
	}
	return "unknown";
}

static struct djob *
job_find(struct agent *a, struct ipc_chan *chan, uint64_t id)
{
	struct djob *job;

	TAILQ_FOREACH(job, &a->jobs, entry)
		if (job->chan == chan && job->id == id && !job->abandoned)
			return job;
	return NULL;
}

void
job_free(struct djob *job)
{
	struct agent *a = job->agent;
	uint32_t i;

	TAILQ_REMOVE(&a->jobs, job, entry);
	a->njobs--;
	if (job->fd != -1)
		close(job->fd);
	for (i = 0; i < job->nrcpt; i++)
		free(job->rcpt[i].addr);
	free(job->rcpt);
	free(job->qid);
	free(job->sender);
	free(job);
	if (a->stopping && a->njobs == 0)
		agent_exit(a);
}

static double
job_delay(const struct djob *job)
{
	struct timeval now;
	double d;

	gettimeofday(&now, NULL);
	d = (double)now.tv_sec + now.tv_usec / 1e6 - (double)job->arrival;
	return d < 0 ? 0 : d;
}

void
job_report(struct djob *job, uint32_t i, enum deliver_status status,
    const char *dsn, const char *relay, const char *text, const char *reply)
{
	char to[LOG_ADDR_MAX], etext[LOG_TEXT_MAX];
	struct ipc_msg *msg;
	struct drcpt *r;

	if (i >= job->nrcpt || job->rcpt[i].reported)
		panic("%s: recipient %u reported twice or unknown", job->qid,
		    i);
	r = &job->rcpt[i];
	r->reported = 1;
	job->nreported++;

	log_escape(to, sizeof(to), r->addr, strlen(r->addr));
	log_escape(etext, sizeof(etext), text, strlen(text));
	log_info("%s: to=<%s>, relay=%s, delay=%.2f, dsn=%s, status=%s (%s)",
	    job->qid, to, relay, job_delay(job), dsn, dstatus_word(status),
	    etext);

	if (job->abandoned || job->chan == NULL)
		return;
	msg = ipc_msg_new(IMSG_DELIVER_RCPT, job->id);
	ipc_add_u32(msg, r->index);
	ipc_add_u32(msg, (uint32_t)status);
	ipc_add_str(msg, dsn);
	ipc_add_str(msg, relay);
	ipc_add_str(msg, text);
	ipc_add_str(msg, reply != NULL ? reply : "");
	ipc_send(job->chan, msg, IPC_NO_FD);
}

void
job_report_rest(struct djob *job, enum deliver_status status,
    const char *dsn, const char *relay, const char *text, const char *reply)
{
	uint32_t i;

	for (i = 0; i < job->nrcpt; i++)
		if (!job->rcpt[i].reported)
			job_report(job, i, status, dsn, relay, text, reply);
}

void
job_done(struct djob *job)
{
	if (job->nreported != job->nrcpt)
		panic("%s: done with %u of %u recipients reported", job->qid,
		    job->nreported, job->nrcpt);
	if (!job->abandoned && job->chan != NULL)
		ipc_send_empty(job->chan, IMSG_DELIVER_DONE, job->id);
	job_free(job);
}

/* Stop work on a job whose reports can no longer go anywhere. */
static void
job_abandon(struct djob *job, int hard)
{
	job->abandoned = 1;
	job->chan = NULL;
	if (job->started)
		job->agent->ops->abandon(job, hard);
	else
		job_free(job);
}

static void
abandon_all(struct agent *a, struct ipc_chan *chan, int hard)
{
	struct djob *job, *next;

	for (job = TAILQ_FIRST(&a->jobs); job != NULL; job = next) {
		next = TAILQ_NEXT(job, entry);
		if (chan == NULL || job->chan == chan)
			job_abandon(job, hard);
	}
}

static void
job_begin(struct agent *a, struct ipc_reader *r)
{
	struct djob *job;
	uint32_t i;

	job = xcalloc(1, sizeof(*job));
	job->agent = a;
	job->chan = a->queue;
	job->id = r->hdr->id;
	job->fd = -1;
	job->qid = ipc_get_str(r);
	job->sender = ipc_get_str(r);
	job->arrival = ipc_get_u64(r);
	job->size = ipc_get_u64(r);
	job->nrcpt = ipc_get_u32(r);
	/* each recipient takes at least its 4-byte index */
	if (job->nrcpt == 0 || job->nrcpt > r->left / 4)
		fatal("%s: garbled %s from queue: %u recipients", a->name,
		    ipc_type_name(r->hdr->type), job->nrcpt);
	job->rcpt = xcalloc(job->nrcpt, sizeof(*job->rcpt));
	for (i = 0; i < job->nrcpt; i++) {
		job->rcpt[i].index = ipc_get_u32(r);
		job->rcpt[i].addr = ipc_get_str(r);
	}
	ipc_get_end(r);
	if (job_find(a, a->queue, job->id) != NULL)
		fatal("%s: queue began job %llu twice", a->name,
		    (unsigned long long)job->id);

	/* Root-only in the local agent: a memfd has no path to open. */
	job->fd = memfd_create("bulwark-job", MFD_CLOEXEC);
	if (job->fd == -1)
		job->spool_errno = errno;
	TAILQ_INSERT_TAIL(&a->jobs, job, entry);
	a->njobs++;
}

/* Append a chunk to the job's memory file. */
static void
job_chunk(struct djob *job, const unsigned char *data, size_t len)
{
	size_t off = 0, i;
	ssize_t n;

	if (!job->eightbit)
		for (i = 0; i < len; i++)
			if (data[i] & 0x80) {
				job->eightbit = 1;
				break;
			}
	while (off < len && job->spool_errno == 0) {
		n = write(job->fd, data + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			job->spool_errno = errno;
			break;
		}
		off += (size_t)n;
	}
	job->len += len;
}

static struct djob *
job_lookup(struct agent *a, struct ipc_reader *r)
{
	struct djob *job;

	if ((job = job_find(a, a->queue, r->hdr->id)) == NULL ||
	    job->complete)
		fatal("%s: %s from queue for no open job %llu", a->name,
		    ipc_type_name(r->hdr->type),
		    (unsigned long long)r->hdr->id);
	return job;
}

static void
job_end(struct djob *job)
{
	char text[256];

	job->complete = 1;
	if (job->spool_errno != 0) {
		snprintf(text, sizeof(text), "cannot buffer the message: %s",
		    strerror(job->spool_errno));
		job_report_rest(job, DSTATUS_DEFER, "4.3.0",
		    job->agent->relay_none, text, NULL);
		job_done(job);
		return;
	}
	job->started = 1;
	job->agent->ops->start(job);
}

static void
queue_msg(struct ipc_chan *chan, struct ipc_reader *r, void *arg)
{
	struct agent *a = arg;
	const void *data;
	size_t len;

	if (chan != a->queue)
		return;		/* a replaced channel's last frames */
	switch (r->hdr->type) {
	case IMSG_DELIVER_BEGIN:
		job_begin(a, r);
		break;
	case IMSG_DELIVER_CHUNK:
		data = ipc_get_data(r, &len);
		ipc_get_end(r);
		job_chunk(job_lookup(a, r), data, len);
		break;
	case IMSG_DELIVER_END:
		ipc_get_end(r);
		job_end(job_lookup(a, r));
		break;
	default:
		fatal("%s: unexpected %s from queue", a->name,
		    ipc_type_name(r->hdr->type));
	}
}

static void
queue_closed(struct ipc_chan *chan, void *arg)
{
	struct agent *a = arg;

	if (chan != a->queue)
		return;
	/* The queue stops last but for us; jobs lost are news. */
	if (a->njobs > 0)
		log_warn("%s: queue channel closed; %zu job%s dropped",
		    a->name, a->njobs, a->njobs == 1 ? "" : "s");
	else
		log_info("%s: queue channel closed", a->name);
	a->queue = NULL;
	ipc_chan_free(chan);
	abandon_all(a, chan, 0);
}

static void
set_queue(struct agent *a, int fd)
{
	struct ipc_chan *old = a->queue;

	if (old != NULL) {
		abandon_all(a, old, 0);
		ipc_chan_free(old);
	}
	a->queue = ipc_chan_new(a->base, fd, "queue", queue_msg,
	    queue_closed, a);
}

static void
agent_exit(struct agent *a)
{
	if (a->queue != NULL)
		ipc_flush(a->queue);
	log_info("%s: stopped", a->name);
	exit(0);
}

static void
stop_deadline(evutil_socket_t fd, short ev, void *arg)
{
	struct agent *a = arg;

	log_warn("%s: stop deadline passed with %zu jobs in flight", a->name,
	    a->njobs);
	abandon_all(a, NULL, 1);
	agent_exit(a);
}

/* Finish what can be finished in AGENT_STOP_SECS, then exit 0. */
static void
agent_stop(struct agent *a)
{
	struct timeval tv = { AGENT_STOP_SECS, 0 };
	struct djob *job, *next;

	if (a->stopping)
		return;
	a->stopping = 1;
	for (job = TAILQ_FIRST(&a->jobs); job != NULL; job = next) {
		next = TAILQ_NEXT(job, entry);
		if (!job->complete)
			job_abandon(job, 0);	/* may exit when last */
	}
	if (a->njobs == 0)
		agent_exit(a);
	a->stop_ev = evtimer_new(a->base, stop_deadline, a);
	evtimer_add(a->stop_ev, &tv);
}

static void
agent_reload(struct agent *a, struct ipc_reader *r)
{
	struct config *cfg;

	if ((cfg = child_config_take(a->master, r, a->name)) == NULL)
		return;
	config_free(a->cfg);
	a->cfg = cfg;
	log_info("%s: configuration reloaded", a->name);
	child_config_result(a->master, r->hdr->id, NULL);
}

static void
master_msg(struct ipc_chan *chan, struct ipc_reader *r, void *arg)
{
	struct agent *a = arg;
	uint32_t role;
	int fd;

	switch (r->hdr->type) {
	case IMSG_CONFIG:
		agent_reload(a, r);
		break;
	case IMSG_PEER:
		fd = ipc_get_fd(r);
		role = ipc_get_u32(r);
		ipc_get_end(r);
		if (role != ROLE_QUEUE)
			fatal("%s: master sent a channel to %s", a->name,
			    role < ROLE_COUNT ? proc_role_name(role) :
			    "an unknown role");
		set_queue(a, fd);
		break;
	case IMSG_STOP:
		ipc_get_end(r);
		agent_stop(a);
		break;
	default:
		fatal("%s: unexpected %s from master", a->name,
		    ipc_type_name(r->hdr->type));
	}
}

static void
master_closed(struct ipc_chan *chan, void *arg)
{
	struct agent *a = arg;

	fatal("%s: master channel closed", a->name);
}

void
agent_init(struct agent *a, struct event_base *base,
    const struct child_env *env, struct config *cfg, const char *name,
    const char *relay_none, const struct agent_ops *ops)
{
	memset(a, 0, sizeof(*a));
	a->base = base;
	a->cfg = cfg;
	a->env = env;
	a->name = name;
	a->relay_none = relay_none;
	a->ops = ops;
	TAILQ_INIT(&a->jobs);
	a->master = ipc_chan_new(base, env->master_fd, "master", master_msg,
	    master_closed, a);
}

void
agent_run(struct agent *a)
{
	ipc_send_empty(a->master, IMSG_READY, 0);
	event_base_dispatch(a->base);
	fatal("%s: event loop ended", a->name);
}
