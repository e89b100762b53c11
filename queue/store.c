/*
 * The store: transactions, commits and the other records of the log, as
 * the event loop sees them.  Every write goes through the I/O thread;
 * this file decides what a finished write means.
 *
 * Durability rules kept here:
 *  - A commit is reported good (and smtpd may say 250) only when its
 *    commit record came back written and synced, every DATA record of the
 *    transaction came back written, and no later failure report
 *    (IO_EV_UNTRUSTED) covered any of them.  The thread syncs a segment
 *    before it starts the next, so the sync that covered the commit also
 *    covered the earlier DATA records.
 *  - A commit that failed although its record reached the disk is
 *    cancelled with a DONE record, so recovery does not bring back a
 *    message that got a 4xx.
 *  - A message's segments are released only once its DONE record is
 *    synced, so recovery never finds a commit whose content was freed.
 */
#include <sys/statvfs.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "xmalloc.h"

#include "queue/idmap.h"
#include "queue/iothread.h"
#include "queue/queue.h"
#include "queue/recovery.h"
#include "queue/segment.h"

enum store_tag {
	TAG_NONE = 0,
	TAG_DATA,
	TAG_COMMIT,
	TAG_OUTCOME,
	TAG_DONE,
};

/* A DONE record written, waiting for the sync that releases its pin. */
struct unpin {
	uint64_t	seq;
	uint64_t	seg;		/* where the DONE record is */
	uint64_t	off;
	uint64_t	qid;
	uint64_t	pin;		/* the segment to unpin */
};

static struct {
	struct iothread	*io;
	struct segtab	*segs;
	int		 dirfd;
	struct qid_gen	*qgen;
	struct idmap	 txns;		/* queue id -> struct qtxn */
	uint64_t	 synced_seq;
	int		 disk_full;	/* a write met ENOSPC or EDQUOT */
	int		 no_spare;	/* the log cannot rotate safely */
	struct event	*idle;
	struct unpin	*unpins;	/* FIFO in seq order */
	size_t		 nunpins;
	size_t		 capunpins;
	unsigned char	*rbuf;
	size_t		 rcap;
	int		 stopping;
	struct unpin	*redo;		/* DONE records to write again */
	size_t		 nredo;
	size_t		 capredo;
} st;

static void	io_done(struct io_req *, void *);

/* Hand r to the thread; once it is stopping, nothing new is written. */
static void
submit(struct io_req *r)
{
	if (st.io == NULL || st.stopping) {
		io_req_free(r);
		return;
	}
	iothread_submit(st.io, r);
}

void
store_err_reply(int err, uint32_t *code, const char **text)
{
	if (err == ENOSPC || err == EDQUOT) {
		*code = 452;
		*text = "4.3.1 Insufficient system storage";
	} else if (err == EFBIG) {
		/* A record never spans segments: segment_size is too small. */
		*code = 552;
		*text = "5.3.4 Envelope too large for the queue";
	} else {
		*code = 451;
		*text = "4.3.0 Queue write failed";
	}
}

static void	submit_done(uint64_t, uint64_t);
static void	sync_soon(void);

/*
 * A DONE record that was lost to a write error is written again with the
 * next idle sync, not at once: a failing disk must not make us spin.
 */
static void
redo_done(uint64_t qid, uint64_t pin)
{
	if (st.nredo == st.capredo) {
		st.capredo = st.capredo ? st.capredo * 2 : 16;
		st.redo = xreallocarray(st.redo, st.capredo,
		    sizeof(*st.redo));
	}
	st.redo[st.nredo].qid = qid;
	st.redo[st.nredo].pin = pin;
	st.nredo++;
	sync_soon();
}

static void
on_idle(evutil_socket_t fd, short what, void *arg)
{
	size_t i, n = st.nredo;

	st.nredo = 0;
	for (i = 0; i < n; i++)
		submit_done(st.redo[i].qid, st.redo[i].pin);
	submit(io_req_new(IO_SYNC));
}

/* Records that need no sync of their own are synced within the delay. */
static void
sync_soon(void)
{
	struct timeval tv = { 0, QUEUE_IDLE_SYNC_MS * 1000 };

	if (!evtimer_pending(st.idle, NULL))
		evtimer_add(st.idle, &tv);
}

static void
free_segments(void)
{
	uint64_t nums[64];
	struct io_req *r;
	size_t n, i;

	do {
		n = segtab_collect(st.segs, nums, 64);
		for (i = 0; i < n; i++) {
			r = io_req_new(IO_UNLINK);
			r->segno = nums[i];
			submit(r);
			log_debug("queue: segment %016" PRIx64 " freed",
			    nums[i]);
		}
	} while (n == 64);
}

void
store_start(int dirfd, struct recovery *rcv, struct qid_gen *qgen)
{
	struct io_params p;
	struct qmsg *m;
	size_t i;

	memset(&st, 0, sizeof(st));
	st.dirfd = dirfd;
	st.qgen = qgen;
	idmap_init(&st.txns);
	st.segs = segtab_new(dirfd);
	for (i = 0; i < rcv->nsegs; i++)
		segtab_add(st.segs, rcv->segs[i]);
	/*
	 * The newest segment found stays the tail until the thread has made
	 * the next one (IO_EV_SEGMENT), so it is never freed before: the log
	 * always keeps a SEGMENT record with the sequence and the id floor.
	 */
	segtab_set_tail(st.segs, rcv->last_seg);
	TAILQ_FOREACH(m, &rcv->live, all)
		segtab_pin(st.segs, m->min_seg);
	qid_seen(qgen, rcv->max_qid);
	st.synced_seq = rcv->last_seq;

	memset(&p, 0, sizeof(p));
	p.dirfd = dirfd;
	p.next_seq = rcv->last_seq + 1;
	p.next_seg = rcv->last_seg + 1;
	p.segment_size = (uint64_t)queue_config()->segment_size;
	p.qid_floor = rcv->max_qid;
	p.segs = rcv->segs;
	p.seglens = rcv->seglens;
	p.nsegs = rcv->nsegs;
	st.idle = evtimer_new(queue_base(), on_idle, NULL);
	if (st.idle == NULL)
		fatal("queue: cannot create the sync timer");
	st.io = iothread_start(queue_base(), &p, io_done, NULL);
	free_segments();
}

void
store_reload(void)
{
	iothread_set_segment_size(st.io,
	    (uint64_t)queue_config()->segment_size);
}

/* Write and sync what is in flight; every pending commit gets its reply. */
void
store_stop(void)
{
	struct iothread *io = st.io;

	if (io == NULL)
		return;
	/* Completions handed back now may not start new writes. */
	st.stopping = 1;
	iothread_stop(io);
	st.io = NULL;
	if (st.idle != NULL)
		event_free(st.idle);
	st.idle = NULL;
}

#ifdef BULWARK_TESTING
/* SIGUSR2 in test builds: simulate a power cut at the next safe point. */
void
store_power_cut(void)
{
	if (st.io != NULL)
		iothread_power_cut(st.io, 1);
}
#endif

/* Whether new mail must wait for disk space. */
int
store_disk_full(void)
{
	struct statvfs sv;
	uint64_t need;

	if (st.no_spare)
		return 1;
	if (!st.disk_full)
		return 0;
	/* Carry on once there is room for a couple of segments again. */
	need = 2 * (uint64_t)queue_config()->segment_size;
	if (fstatvfs(st.dirfd, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize >= need) {
		log_info("queue: disk space is available again");
		st.disk_full = 0;
	}
	return st.disk_full;
}

size_t
store_segments(void)
{
	return segtab_count(st.segs);
}

/* --- transactions --------------------------------------------------- */

struct qtxn *
store_txn_begin(enum txn_origin origin)
{
	struct qtxn *t = xcalloc(1, sizeof(*t));

	t->id = qid_next(st.qgen);
	qid_format(t->id, t->qid);
	iothread_note_qid(st.io, t->id);
	t->origin = origin;
	/* Every record of the transaction lands at the tail or later. */
	t->pin_seg = segtab_tail(st.segs);
	segtab_pin(st.segs, t->pin_seg);
	idmap_put(&st.txns, t->id, t);
	return t;
}

static void
txn_free(struct qtxn *t)
{
	qmsg_free(t->msg);
	free(t->chunk);
	free(t);
}

static void
txn_fail(struct qtxn *t, int err)
{
	if (t->err == 0)
		t->err = err;
	if (err == ENOSPC || err == EDQUOT)
		st.disk_full = 1;
}

void
store_txn_chunk(struct qtxn *t, const void *data, size_t len)
{
	const unsigned char *p = data;
	struct rec_buf b;
	struct io_req *r;
	size_t n;

	if (t->err != 0 || t->committing)
		return;
	while (len > 0) {
		n = len < QUEUE_CHUNK_MAX ? len : QUEUE_CHUNK_MAX;
		if (t->nsent == t->capchunk) {
			t->capchunk = t->capchunk ? t->capchunk * 2 : 8;
			t->chunk = xreallocarray(t->chunk, t->capchunk,
			    sizeof(*t->chunk));
		}
		memset(&t->chunk[t->nsent], 0, sizeof(*t->chunk));
		memset(&b, 0, sizeof(b));
		rec_data_encode(&b, t->nsent, p, n);
		r = io_req_append(REC_DATA, t->id, b.p, b.len, 0, TAG_DATA);
		r->index = t->nsent++;
		submit(r);
		t->size += n;
		p += n;
		len -= n;
	}
}

void
store_txn_abort(struct qtxn *t)
{
	if (t->committing)
		return;
	idmap_del(&st.txns, t->id);
	segtab_unpin(st.segs, t->pin_seg);
	txn_free(t);
	free_segments();
}

static void
txn_finish_failed(struct qtxn *t, int err)
{
	segtab_unpin(st.segs, t->pin_seg);
	if (err == ENOSPC || err == EDQUOT)
		st.disk_full = 1;
	t->done(t, NULL, err, t->arg);
	txn_free(t);
	free_segments();
}

void
store_txn_commit(struct qtxn *t, struct rec_commit *env, txn_done_fn done,
    void *arg)
{
	struct rec_buf b = { 0 };
	struct io_req *r;

	t->done = done;
	t->arg = arg;
	t->committing = 1;
	env->ndata = t->nsent;
	env->size = t->size;
	if (env->arrival == 0)
		env->arrival = (uint64_t)time(NULL);
	if (t->err == 0 && rec_commit_encode(&b, env) != 0)
		t->err = EFBIG;
	if (t->err != 0) {
		/* Nothing of it is on disk as a message: say so now. */
		rec_buf_free(&b);
		rec_commit_free(env);
		idmap_del(&st.txns, t->id);
		txn_finish_failed(t, t->err);
		return;
	}
	t->msg = qmsg_from_commit(t->id, env);
	r = io_req_append(REC_COMMIT, t->id, b.p, b.len, 1, TAG_COMMIT);
	submit(r);
}

/* --- records of live messages ---------------------------------------- */

void
store_outcome(struct qmsg *m, uint32_t i)
{
	struct rec_outcome o;
	struct rec_buf b = { 0 };
	struct qrcpt *rc = &m->rcpt[i];

	memset(&o, 0, sizeof(o));
	o.rcpt = i;
	o.status = rc->state == RS_SENT ? REC_OUT_SENT :
	    rc->state == RS_BOUNCED ? REC_OUT_BOUNCED : REC_OUT_DEFERRED;
	o.attempts = rc->attempts;
	o.next_try = rc->next_try > 0 ? (uint64_t)rc->next_try : 0;
	o.dsn = rc->dsn;
	o.reason = rc->reason;
	o.remote = rc->remote;
	o.reply = rc->reply;
	rec_outcome_encode(&b, &o);
	submit(io_req_append(REC_OUTCOME, m->id, b.p, b.len, 0,
	    TAG_OUTCOME));
	sync_soon();
}

static void
submit_done(uint64_t qid, uint64_t pin)
{
	struct io_req *r;

	r = io_req_append(REC_DONE, qid, NULL, 0, 0, TAG_DONE);
	r->segno = pin;
	submit(r);
	sync_soon();
}

void
store_finish(struct qmsg *m)
{
	m->finished = 1;
	submit_done(m->id, m->min_seg);
}

int
store_read_chunk(const struct qmsg *m, uint32_t i,
    const unsigned char **content, size_t *len)
{
	const struct qloc *l = &m->chunk[i];
	size_t need = REC_HDR_SIZE + (size_t)l->len;
	uint32_t index;

	if (need > st.rcap) {
		st.rbuf = xreallocarray(st.rbuf, 1, need);
		st.rcap = need;
	}
	if (segtab_read(st.segs, l->seg, l->off, l->len, REC_DATA, m->id,
	    st.rbuf) != 0)
		return -1;
	if (rec_data_decode(st.rbuf + REC_HDR_SIZE, l->len, &index, content,
	    len) != 0 || index != i) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* --- what the I/O thread hands back ------------------------------------ */

static void
push_unpin(const struct io_req *r)
{
	if (st.nunpins == st.capunpins) {
		st.capunpins = st.capunpins ? st.capunpins * 2 : 64;
		st.unpins = xreallocarray(st.unpins, st.capunpins,
		    sizeof(*st.unpins));
	}
	st.unpins[st.nunpins].seq = r->seq;
	st.unpins[st.nunpins].seg = r->seg;
	st.unpins[st.nunpins].off = r->off;
	st.unpins[st.nunpins].qid = r->qid;
	st.unpins[st.nunpins].pin = r->segno;
	st.nunpins++;
}

static void
release_pins(void)
{
	size_t k = 0;

	while (k < st.nunpins && st.unpins[k].seq <= st.synced_seq)
		segtab_unpin(st.segs, st.unpins[k++].pin);
	if (k == 0)
		return;
	memmove(st.unpins, st.unpins + k,
	    (st.nunpins - k) * sizeof(*st.unpins));
	st.nunpins -= k;
	free_segments();
}

static void
on_untrusted(const struct io_req *r)
{
	struct qtxn *t;
	size_t pos = 0, k, j;
	uint32_t i;

	log_warn("queue: log segment %016" PRIx64 ": write or sync failed: "
	    "%s; records from offset %" PRIu64 " on are not trusted",
	    r->segno, strerror(r->error), r->from);
	if (r->error == ENOSPC || r->error == EDQUOT)
		st.disk_full = 1;
	while (idmap_next(&st.txns, &pos, NULL, (void **)&t))
		for (i = 0; i < t->nsent; i++)
			if (t->chunk[i].len != 0 &&
			    t->chunk[i].seg == r->segno &&
			    t->chunk[i].off >= r->from)
				txn_fail(t, r->error ? r->error : EIO);
	/* DONE records in the lost range are written again. */
	for (k = j = 0; k < st.nunpins; k++) {
		if (st.unpins[k].seg == r->segno &&
		    st.unpins[k].off >= r->from)
			redo_done(st.unpins[k].qid, st.unpins[k].pin);
		else
			st.unpins[j++] = st.unpins[k];
	}
	st.nunpins = j;
}

static void
on_spare(int err)
{
	if (err != 0 && !st.no_spare)
		log_warn("queue: cannot preallocate the next log segment: %s;"
		    " new mail gets 452 4.3.1 until there is room",
		    strerror(err));
	else if (err == 0 && st.no_spare)
		log_info("queue: log space available again, accepting mail");
	st.no_spare = err != 0;
}

static void
commit_done(struct qtxn *t, const struct io_req *r)
{
	char sender[512];
	struct qmsg *m;
	uint32_t i;
	int err;

	err = r->error ? r->error : t->err;
	if (err == 0 && t->ndone != t->nsent)
		err = EIO;
	if (err != 0) {
		if (r->error == 0) {
			/* The commit is durable but its content is not. */
			submit_done(t->id, t->pin_seg);
			segtab_pin(st.segs, t->pin_seg);
		}
		txn_finish_failed(t, err);
		return;
	}
#ifdef BULWARK_TESTING
	/* Every byte of the message is where a sync has been. */
	if (r->seq > st.synced_seq || !iothread_durable(st.io, r->seg,
	    r->off + REC_HDR_SIZE + r->len))
		panic("%s: commit seq %" PRIu64 " acknowledged before it was "
		    "durable", t->qid, r->seq);
	for (i = 0; i < t->nsent; i++)
		if (t->chunk[i].len == 0 || t->chunk[i].seq > st.synced_seq ||
		    !iothread_durable(st.io, t->chunk[i].seg,
		    t->chunk[i].off + REC_HDR_SIZE + t->chunk[i].len))
			panic("%s: data record %u not durable at commit",
			    t->qid, i);
#endif
	m = t->msg;
	t->msg = NULL;
	m->chunk = t->chunk;
	m->nchunk = t->nsent;
	t->chunk = NULL;
	m->commit.seg = r->seg;
	m->commit.off = r->off;
	m->commit.seq = r->seq;
	m->commit.len = (uint32_t)r->len;
	m->min_seg = r->seg;
	for (i = 0; i < m->nchunk; i++)
		if (m->chunk[i].seg < m->min_seg)
			m->min_seg = m->chunk[i].seg;
	segtab_pin(st.segs, m->min_seg);
	segtab_unpin(st.segs, t->pin_seg);
	log_info("%s: from=<%s>, size=%" PRIu64 ", nrcpt=%u (queue active)",
	    m->qid, log_escape(sender, sizeof(sender), m->sender,
	    strlen(m->sender)), m->size, m->nrcpt);
	sched_add(m);
	t->done(t, m, 0, t->arg);
	txn_free(t);
}

static void
on_append(const struct io_req *r)
{
	struct qtxn *t;

	switch (r->tag) {
	case TAG_DATA:
		if ((t = idmap_get(&st.txns, r->qid)) == NULL)
			break;		/* aborted meanwhile */
		if (r->error != 0) {
			txn_fail(t, r->error);
			break;
		}
		t->chunk[r->index].seg = r->seg;
		t->chunk[r->index].off = r->off;
		t->chunk[r->index].seq = r->seq;
		t->chunk[r->index].len = (uint32_t)r->len;
		t->ndone++;
		break;
	case TAG_COMMIT:
		if ((t = idmap_del(&st.txns, r->qid)) == NULL)
			panic("queue: commit of an unknown transaction");
		commit_done(t, r);
		break;
	case TAG_OUTCOME:
		if (r->error != 0)
			log_debug("queue: outcome record not written: %s",
			    strerror(r->error));
		break;
	case TAG_DONE:
		if (r->error != 0)
			redo_done(r->qid, r->segno);
		else
			push_unpin(r);
		break;
	}
}

static void
io_done(struct io_req *r, void *arg)
{
	if (r->synced_seq > st.synced_seq)
		st.synced_seq = r->synced_seq;
	switch (r->kind) {
	case IO_EV_SEGMENT:
		segtab_add(st.segs, r->segno);
		segtab_set_tail(st.segs, r->segno);
		free_segments();
		break;
	case IO_EV_UNTRUSTED:
		on_untrusted(r);
		break;
	case IO_EV_SPARE:
		on_spare(r->error);
		break;
	case IO_APPEND:
		on_append(r);
		break;
	case IO_UNLINK:
		/* Not now (no synced tail yet): it goes back to the table. */
		if (r->error == EBUSY)
			segtab_add(st.segs, r->segno);
		else if (r->error != 0 && r->error != ENOENT)
			log_warn("queue: segment %016" PRIx64 " not freed: %s",
			    r->segno, strerror(r->error));
		break;
	default:
		break;
	}
	release_pins();
}
