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
 *
 * There are two logs.  The hot log takes every arrival.  A message that
 * waits for a retry when the hot log turns over is copied once to the
 * cold log, so that it does not pin the hot log's segments, and the cold
 * log copies its live messages forward only when it holds more than
 * twice their size.  A copy is one COMMIT record (REC_CF_COPY) carrying
 * every recipient's state, after the message's DATA records.  Rules:
 *  - A copy counts once its COMMIT is synced.  Only then is a DONE
 *    record (a tombstone) written for the message in the hot log, and
 *    only once that is synced is its hot segment released and its
 *    records in the cold log allowed to end: recovery takes the cold
 *    copy over the hot records, and the tombstone over the hot records
 *    once the cold copy is gone, so a finished message never returns.
 *  - While a copy is made, the message gets no delivery job, so its
 *    state cannot change under the copy.
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
	TAG_MOVE_DATA,
	TAG_MOVE_COMMIT,
};

/* Copies in flight at once, so that a big backlog moves in steps. */
#define MOVE_MAX		128
#define MOVE_TICK_MS		200
/* Cold segments beyond twice the live data before compaction starts. */
#define COLD_SLACK_SEGS		3

/* A copy of a live message being written to the cold log. */
struct qmove {
	struct qmsg		*m;
	enum qlog_kind		 from;
	uint64_t		 old_min;	/* its pin in the old place */
	struct qloc		*chunk;		/* the copy's DATA records */
	uint32_t		 nchunk;
	uint32_t		 ndone;
	int			 err;
	TAILQ_ENTRY(qmove)	 entry;
};
TAILQ_HEAD(qmovelist, qmove);

/* A DONE record written, waiting for the sync that releases its pin. */
struct unpin {
	uint64_t	 seq;
	uint64_t	 seg;		/* where the DONE record is */
	uint64_t	 off;
	uint64_t	 qid;
	uint64_t	 pin;		/* the segment to unpin */
	struct qmove	*mv;		/* a tombstone: the copy it ends */
};

/* An OUTCOME record written, kept until it is synced. */
struct pending_outcome {
	uint64_t	 seq;
	uint64_t	 seg;
	uint64_t	 off;
	uint64_t	 qid;
	uint32_t	 rcpt;
};

struct qlog {
	const char	*name;
	enum qlog_kind	 kind;
	struct iothread	*io;
	struct segtab	*segs;
	int		 dirfd;
	uint64_t	 synced_seq;
	int		 no_spare;	/* the log cannot rotate safely */
	struct unpin	*unpins;	/* FIFO in seq order */
	size_t		 nunpins;
	size_t		 capunpins;
	struct unpin	*redo;		/* DONE records to write again */
	size_t		 nredo;
	size_t		 capredo;
	struct pending_outcome *outs;	/* FIFO in seq order */
	size_t		 nouts;
	size_t		 capouts;
	struct pending_outcome *reout;	/* OUTCOME records to write again */
	size_t		 nreout;
	size_t		 capreout;
};

static struct {
	struct qlog	 log[QLOG_COUNT];
	struct qid_gen	*qgen;
	struct idmap	 txns;		/* queue id -> struct qtxn */
	struct idmap	 live;		/* queue id -> struct qmsg */
	uint64_t	 open_txns;	/* begun, not yet ended */
	uint64_t	 committing;	/* content bytes of commits out */
	int		 disk_full;	/* a write met ENOSPC or EDQUOT */
	struct event	*idle;
	struct event	*mover;
	int		 scan_hot;	/* the hot log turned over */
	struct qmovelist moves;
	size_t		 nmoves;
	uint64_t	 moved;		/* copies made since start */
	uint64_t	 cold_msgs;
	uint64_t	 cold_live;	/* bytes of their records */
	unsigned char	*rbuf;
	size_t		 rcap;
	int		 stopping;
} st;

#define HOT	(&st.log[QLOG_HOT])
#define COLD	(&st.log[QLOG_COLD])

static void	io_done(struct io_req *, void *);

/* Hand r to the thread; once it is stopping, nothing new is written. */
static void
submit(struct qlog *l, struct io_req *r)
{
	if (l->io == NULL || st.stopping) {
		io_req_free(r);
		return;
	}
	iothread_submit(l->io, r);
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

static void	submit_done(struct qlog *, uint64_t, uint64_t,
		    struct qmove *);
static void	sync_soon(void);

/*
 * A DONE record that was lost to a write error is written again with the
 * next idle sync, not at once: a failing disk must not make us spin.
 */
static void
redo_done(struct qlog *l, uint64_t qid, uint64_t pin, struct qmove *mv)
{
	if (l->nredo == l->capredo) {
		l->capredo = l->capredo ? l->capredo * 2 : 16;
		l->redo = xreallocarray(l->redo, l->capredo,
		    sizeof(*l->redo));
	}
	memset(&l->redo[l->nredo], 0, sizeof(*l->redo));
	l->redo[l->nredo].qid = qid;
	l->redo[l->nredo].pin = pin;
	l->redo[l->nredo].mv = mv;
	l->nredo++;
	sync_soon();
}

static void
push_outcome(struct pending_outcome **v, size_t *n, size_t *cap,
    const struct pending_outcome *o)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	(*v)[(*n)++] = *o;
}

/*
 * An OUTCOME record lost to a write error: the recipient's state as it
 * is then is written again with the next idle sync, else a restart
 * would deliver to it again.
 */
static void
redo_outcome(struct qlog *l, const struct pending_outcome *o)
{
	push_outcome(&l->reout, &l->nreout, &l->capreout, o);
	sync_soon();
}

static void
on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct qlog *l;
	struct qmsg *m;
	size_t i, n;

	for (l = st.log; l < st.log + QLOG_COUNT; l++) {
		n = l->nredo;
		l->nredo = 0;
		for (i = 0; i < n; i++)
			submit_done(l, l->redo[i].qid, l->redo[i].pin,
			    l->redo[i].mv);
		n = l->nreout;
		l->nreout = 0;
		/* A message copied meanwhile took its state along. */
		for (i = 0; i < n; i++)
			if ((m = idmap_get(&st.live, l->reout[i].qid)) !=
			    NULL && m->log == l->kind)
				store_outcome(m, l->reout[i].rcpt);
		submit(l, io_req_new(IO_SYNC));
	}
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
free_log_segments(struct qlog *l)
{
	uint64_t nums[64];
	struct io_req *r;
	size_t n, i;

	do {
		n = segtab_collect(l->segs, nums, 64);
		for (i = 0; i < n; i++) {
			r = io_req_new(IO_UNLINK);
			r->segno = nums[i];
			submit(l, r);
			log_debug("queue: %s log segment %016" PRIx64
			    " freed", l->name, nums[i]);
		}
	} while (n == 64);
}

static void
free_segments(void)
{
	free_log_segments(HOT);
	free_log_segments(COLD);
}

static void	on_mover(evutil_socket_t, short, void *);
static void	mover_kick(void);

static uint64_t
log_segment_size(const struct qlog *l)
{
	const struct config *cfg = queue_config();

	return (uint64_t)(l->kind == QLOG_COLD ? cfg->cold_segment_size :
	    cfg->segment_size);
}

/* Bytes a message's records take in its log (for the cold log's size). */
static uint64_t
msg_log_bytes(const struct qmsg *m)
{
	uint64_t n = REC_HDR_SIZE + (uint64_t)m->commit.len;
	uint32_t i;

	for (i = 0; i < m->nchunk; i++)
		n += REC_HDR_SIZE + (uint64_t)m->chunk[i].len;
	return n;
}

static void
log_start(struct qlog *l, enum qlog_kind kind, int dirfd,
    struct recovery *rcv, uint64_t qid_floor)
{
	struct io_params p;
	struct qmsg *m;
	size_t i;

	l->kind = kind;
	l->name = kind == QLOG_COLD ? "cold" : "hot";
	l->dirfd = dirfd;
	l->segs = segtab_new(dirfd);
	for (i = 0; i < rcv->nsegs; i++)
		segtab_add(l->segs, rcv->segs[i]);
	/*
	 * The newest segment found stays the tail until the thread has made
	 * the next one (IO_EV_SEGMENT), so it is never freed before: the log
	 * always keeps a SEGMENT record with the sequence and the id floor.
	 */
	segtab_set_tail(l->segs, rcv->last_seg);
	TAILQ_FOREACH(m, &rcv->live, all) {
		m->log = (uint8_t)kind;
		idmap_put(&st.live, m->id, m);
		segtab_pin(l->segs, m->min_seg);
		if (kind == QLOG_COLD) {
			st.cold_msgs++;
			st.cold_live += msg_log_bytes(m);
		}
	}
	l->synced_seq = rcv->last_seq;

	memset(&p, 0, sizeof(p));
	p.dirfd = dirfd;
	p.next_seq = rcv->last_seq + 1;
	p.next_seg = rcv->last_seg + 1;
	p.segment_size = log_segment_size(l);
	p.qid_floor = qid_floor;
	p.segs = rcv->segs;
	p.seglens = rcv->seglens;
	p.nsegs = rcv->nsegs;
	l->io = iothread_start(queue_base(), &p, io_done, l);
}

void
store_start(int hotfd, struct recovery *hot, int coldfd,
    struct recovery *cold, struct qid_gen *qgen)
{
	uint64_t floor = hot->max_qid > cold->max_qid ? hot->max_qid :
	    cold->max_qid;

	memset(&st, 0, sizeof(st));
	st.qgen = qgen;
	idmap_init(&st.txns);
	idmap_init(&st.live);
	TAILQ_INIT(&st.moves);
	qid_seen(qgen, floor);
	st.idle = evtimer_new(queue_base(), on_idle, NULL);
	st.mover = evtimer_new(queue_base(), on_mover, NULL);
	if (st.idle == NULL || st.mover == NULL)
		fatal("queue: cannot create the log timers");
	log_start(HOT, QLOG_HOT, hotfd, hot, floor);
	log_start(COLD, QLOG_COLD, coldfd, cold, floor);
	free_segments();
}

void
store_reload(void)
{
	struct qlog *l;

	for (l = st.log; l < st.log + QLOG_COUNT; l++)
		iothread_set_segment_size(l->io, log_segment_size(l));
}

/* Write and sync what is in flight; every pending commit gets its reply. */
void
store_stop(void)
{
	struct iothread *io;
	struct qlog *l;

	/* Records waiting to be written again go with the last sync. */
	if (HOT->io != NULL)
		on_idle(-1, 0, NULL);
	/* Completions handed back now may not start new writes. */
	st.stopping = 1;
	for (l = st.log; l < st.log + QLOG_COUNT; l++) {
		if ((io = l->io) == NULL)
			continue;
		iothread_stop(io);
		l->io = NULL;
	}
	if (st.idle != NULL)
		event_free(st.idle);
	if (st.mover != NULL)
		event_free(st.mover);
	st.idle = st.mover = NULL;
}

#ifdef BULWARK_TESTING
/*
 * SIGUSR2 in test builds: simulate a power cut.  The cold log is cut
 * first and its thread ended; the hot log's thread then cuts and exits.
 */
void
store_power_cut(void)
{
	if (COLD->io != NULL) {
		iothread_power_cut(COLD->io, 0);
		iothread_halt(COLD->io);
		COLD->io = NULL;
	}
	if (HOT->io != NULL)
		iothread_power_cut(HOT->io, 1);
}
#endif

/* Whether new mail must wait for disk space. */
int
store_disk_full(void)
{
	struct statvfs sv;
	uint64_t need;

	if (HOT->no_spare || COLD->no_spare)
		return 1;
	if (!st.disk_full)
		return 0;
	/* Carry on once there is room for a couple of segments again. */
	need = 2 * (uint64_t)queue_config()->segment_size;
	if (fstatvfs(HOT->dirfd, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize >= need) {
		log_info("queue: disk space is available again");
		st.disk_full = 0;
	}
	return st.disk_full;
}

void
store_reserved(uint64_t *msgs, uint64_t *bytes)
{
	*msgs = st.open_txns;
	*bytes = st.committing;
}

void
store_figures(struct queue_figures *f)
{
	struct io_counters c;

	f->hot_segments = segtab_count(HOT->segs);
	f->cold_segments = segtab_count(COLD->segs);
	f->cold_messages = st.cold_msgs;
	f->cold_live = st.cold_live;
	f->moved = st.moved;
	f->disk_full = st.disk_full || HOT->no_spare || COLD->no_spare;
	memset(&c, 0, sizeof(c));
	if (HOT->io != NULL)
		iothread_counters(HOT->io, &c);
	f->batches = c.batches;
	f->syncs = c.syncs;
	f->commit_syncs = c.commit_syncs;
	f->commit_records = c.commit_records;
	memset(&c, 0, sizeof(c));
	if (COLD->io != NULL)
		iothread_counters(COLD->io, &c);
	f->cold_syncs = c.syncs;
}

/* --- transactions --------------------------------------------------- */

struct qtxn *
store_txn_begin(enum txn_origin origin)
{
	struct qtxn *t = xcalloc(1, sizeof(*t));
	struct qlog *l;

	t->id = qid_next(st.qgen);
	qid_format(t->id, t->qid);
	for (l = st.log; l < st.log + QLOG_COUNT; l++)
		if (l->io != NULL)
			iothread_note_qid(l->io, t->id);
	t->origin = origin;
	st.open_txns++;
	/* Every record of the transaction lands at the tail or later. */
	t->pin_seg = segtab_tail(HOT->segs);
	segtab_pin(HOT->segs, t->pin_seg);
	idmap_put(&st.txns, t->id, t);
	return t;
}

static void
txn_free(struct qtxn *t)
{
	st.open_txns--;
	if (t->committing)
		st.committing -= t->size;
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
		submit(HOT, r);
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
	segtab_unpin(HOT->segs, t->pin_seg);
	txn_free(t);
	free_segments();
}

static void
txn_finish_failed(struct qtxn *t, int err)
{
	segtab_unpin(HOT->segs, t->pin_seg);
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
	st.committing += t->size;
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
	submit(HOT, r);
}

/* --- records of live messages ---------------------------------------- */

void
store_outcome(struct qmsg *m, uint32_t i)
{
	struct rec_outcome o;
	struct rec_buf b = { 0 };
	struct io_req *r;

	qrcpt_get_state(&m->rcpt[i], &o);
	o.rcpt = i;
	rec_outcome_encode(&b, &o);
	r = io_req_append(REC_OUTCOME, m->id, b.p, b.len, 0, TAG_OUTCOME);
	r->index = i;
	submit(&st.log[m->log], r);
	sync_soon();
}

static void
submit_done(struct qlog *l, uint64_t qid, uint64_t pin, struct qmove *mv)
{
	struct io_req *r;

	r = io_req_append(REC_DONE, qid, NULL, 0, 0, TAG_DONE);
	r->segno = pin;
	r->ctx = mv;
	submit(l, r);
	sync_soon();
}

void
store_finish(struct qmsg *m)
{
	m->finished = 1;
	idmap_del(&st.live, m->id);
	if (m->log == QLOG_COLD) {
		st.cold_msgs--;
		st.cold_live -= msg_log_bytes(m);
		mover_kick();
	}
	submit_done(&st.log[m->log], m->id, m->min_seg, NULL);
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
	if (segtab_read(st.log[m->log].segs, l->seg, l->off, l->len,
	    REC_DATA, m->id, st.rbuf) != 0)
		return -1;
	if (rec_data_decode(st.rbuf + REC_HDR_SIZE, l->len, &index, content,
	    len) != 0 || index != i) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* --- what the I/O thread hands back ------------------------------------ */

static void	move_done(struct qmove *, const struct io_req *);
static void	move_released(struct qmove *);

static void
push_unpin(struct qlog *l, const struct io_req *r)
{
	struct unpin *u;

	if (l->nunpins == l->capunpins) {
		l->capunpins = l->capunpins ? l->capunpins * 2 : 64;
		l->unpins = xreallocarray(l->unpins, l->capunpins,
		    sizeof(*l->unpins));
	}
	u = &l->unpins[l->nunpins++];
	u->seq = r->seq;
	u->seg = r->seg;
	u->off = r->off;
	u->qid = r->qid;
	u->pin = r->segno;
	u->mv = r->ctx;
}

static void
release_pins(struct qlog *l)
{
	size_t k = 0;

	while (k < l->nouts && l->outs[k].seq <= l->synced_seq)
		k++;
	if (k > 0) {
		memmove(l->outs, l->outs + k,
		    (l->nouts - k) * sizeof(*l->outs));
		l->nouts -= k;
	}
	k = 0;

	while (k < l->nunpins && l->unpins[k].seq <= l->synced_seq) {
		segtab_unpin(l->segs, l->unpins[k].pin);
		if (l->unpins[k].mv != NULL)
			move_released(l->unpins[k].mv);
		k++;
	}
	if (k == 0)
		return;
	memmove(l->unpins, l->unpins + k,
	    (l->nunpins - k) * sizeof(*l->unpins));
	l->nunpins -= k;
	free_segments();
}

static void
on_untrusted(struct qlog *l, const struct io_req *r)
{
	struct qmove *mv;
	struct qtxn *t;
	size_t pos = 0, k, j;
	uint32_t i;

	log_warn("queue: %s log segment %016" PRIx64 ": write or sync "
	    "failed: %s; records from offset %" PRIu64 " on are not trusted",
	    l->name, r->segno, strerror(r->error), r->from);
	if (r->error == ENOSPC || r->error == EDQUOT)
		st.disk_full = 1;
	if (l->kind == QLOG_HOT)
		while (idmap_next(&st.txns, &pos, NULL, (void **)&t))
			for (i = 0; i < t->nsent; i++)
				if (t->chunk[i].len != 0 &&
				    t->chunk[i].seg == r->segno &&
				    t->chunk[i].off >= r->from)
					txn_fail(t, r->error ? r->error :
					    EIO);
	if (l->kind == QLOG_COLD)
		TAILQ_FOREACH(mv, &st.moves, entry)
			for (i = 0; i < mv->nchunk; i++)
				if (mv->chunk[i].len != 0 &&
				    mv->chunk[i].seg == r->segno &&
				    mv->chunk[i].off >= r->from)
					mv->err = r->error ? r->error : EIO;
	/* OUTCOME and DONE records in the lost range are written again. */
	for (k = j = 0; k < l->nouts; k++) {
		if (l->outs[k].seg == r->segno && l->outs[k].off >= r->from)
			redo_outcome(l, &l->outs[k]);
		else
			l->outs[j++] = l->outs[k];
	}
	l->nouts = j;
	for (k = j = 0; k < l->nunpins; k++) {
		if (l->unpins[k].seg == r->segno &&
		    l->unpins[k].off >= r->from)
			redo_done(l, l->unpins[k].qid, l->unpins[k].pin,
			    l->unpins[k].mv);
		else
			l->unpins[j++] = l->unpins[k];
	}
	l->nunpins = j;
}

static void
on_spare(struct qlog *l, int err)
{
	if (err != 0 && !l->no_spare)
		log_warn("queue: cannot preallocate the next %s log segment: "
		    "%s; new mail gets 452 4.3.1 until there is room",
		    l->name, strerror(err));
	else if (err == 0 && l->no_spare)
		log_info("queue: %s log space available again, accepting "
		    "mail", l->name);
	l->no_spare = err != 0;
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
			submit_done(HOT, t->id, t->pin_seg, NULL);
			segtab_pin(HOT->segs, t->pin_seg);
		}
		txn_finish_failed(t, err);
		return;
	}
#ifdef BULWARK_TESTING
	/* Every byte of the message is where a sync has been. */
	if (r->seq > HOT->synced_seq || !iothread_durable(HOT->io, r->seg,
	    r->off + REC_HDR_SIZE + r->len))
		panic("%s: commit seq %" PRIu64 " acknowledged before it was "
		    "durable", t->qid, r->seq);
	for (i = 0; i < t->nsent; i++)
		if (t->chunk[i].len == 0 ||
		    t->chunk[i].seq > HOT->synced_seq ||
		    !iothread_durable(HOT->io, t->chunk[i].seg,
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
	m->log = QLOG_HOT;
	m->min_seg = r->seg;
	for (i = 0; i < m->nchunk; i++)
		if (m->chunk[i].seg < m->min_seg)
			m->min_seg = m->chunk[i].seg;
	segtab_pin(HOT->segs, m->min_seg);
	segtab_unpin(HOT->segs, t->pin_seg);
	idmap_put(&st.live, m->id, m);
	log_info("%s: from=<%s>, size=%" PRIu64 ", nrcpt=%u (queue active)",
	    m->qid, log_escape(sender, sizeof(sender), m->sender,
	    strlen(m->sender)), m->size, m->nrcpt);
	/* The reply first: scheduling reads the content back. */
	t->done(t, m, 0, t->arg);
	sched_add(m);
	txn_free(t);
}

static void
on_append(struct qlog *l, const struct io_req *r)
{
	struct pending_outcome o;
	struct qmove *mv;
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
	case TAG_MOVE_DATA:
		mv = r->ctx;
		if (r->error != 0) {
			if (mv->err == 0)
				mv->err = r->error;
			break;
		}
		mv->chunk[r->index].seg = r->seg;
		mv->chunk[r->index].off = r->off;
		mv->chunk[r->index].seq = r->seq;
		mv->chunk[r->index].len = (uint32_t)r->len;
		mv->ndone++;
		break;
	case TAG_MOVE_COMMIT:
		move_done(r->ctx, r);
		break;
	case TAG_OUTCOME:
		memset(&o, 0, sizeof(o));
		o.seq = r->seq;
		o.seg = r->seg;
		o.off = r->off;
		o.qid = r->qid;
		o.rcpt = r->index;
		if (r->error != 0)
			redo_outcome(l, &o);
		else
			push_outcome(&l->outs, &l->nouts, &l->capouts, &o);
		break;
	case TAG_DONE:
		if (r->error != 0)
			redo_done(l, r->qid, r->segno, r->ctx);
		else
			push_unpin(l, r);
		break;
	}
}

static void
io_done(struct io_req *r, void *arg)
{
	struct qlog *l = arg;

	if (r->synced_seq > l->synced_seq)
		l->synced_seq = r->synced_seq;
	switch (r->kind) {
	case IO_EV_SEGMENT:
		segtab_add(l->segs, r->segno);
		segtab_set_tail(l->segs, r->segno);
		free_segments();
		/* The hot log turned over: copy what waits out of it. */
		if (l->kind == QLOG_HOT) {
			st.scan_hot = 1;
			mover_kick();
		}
		break;
	case IO_EV_UNTRUSTED:
		on_untrusted(l, r);
		break;
	case IO_EV_SPARE:
		on_spare(l, r->error);
		break;
	case IO_APPEND:
		on_append(l, r);
		break;
	case IO_UNLINK:
		/* Not now (no synced tail yet): it goes back to the table. */
		if (r->error == EBUSY)
			segtab_add(l->segs, r->segno);
		else if (r->error != 0 && r->error != ENOENT)
			log_warn("queue: %s log segment %016" PRIx64 " not "
			    "freed: %s", l->name, r->segno, strerror(r->error));
		break;
	default:
		break;
	}
	release_pins(l);
}

/* --- copies to the cold log -------------------------------------------- */

/*
 * Whether m waits long enough to be worth a copy: on the deferred list,
 * with nothing in flight.
 */
static int
msg_idle(const struct qmsg *m)
{
	return !m->moving && !m->finished && m->jobs == 0 &&
	    m->bounces == 0 && !m->queued[AGENT_LOCAL] &&
	    !m->queued[AGENT_REMOTE];
}

static int
msg_parked(const struct qmsg *m)
{
	return msg_idle(m) && m->deferred == 1;
}

static void
move_free(struct qmove *mv)
{
	free(mv->chunk);
	free(mv);
}

/* The copy's COMMIT: m's envelope with every recipient's state. */
static int
copy_commit(const struct qmsg *m, struct rec_buf *b)
{
	struct rec_commit c;
	uint32_t i;
	int rv;

	memset(&c, 0, sizeof(c));
	c.ndata = m->nchunk;
	c.size = m->size;
	c.arrival = (uint64_t)m->arrival;
	c.local_uid = m->local_uid;
	c.flags = m->flags | REC_CF_COPY;
	c.sender = m->sender;
	c.client_addr = m->client_addr;
	c.client_name = m->client_name;
	c.helo = m->helo;
	c.nrcpt = m->nrcpt;
	c.rcpt = xcalloc(m->nrcpt ? m->nrcpt : 1, sizeof(*c.rcpt));
	for (i = 0; i < m->nrcpt; i++) {
		c.rcpt[i].addr = m->rcpt[i].addr;
		c.rcpt[i].disp = m->rcpt[i].disp;
		qrcpt_get_state(&m->rcpt[i], &c.rcpt[i].state);
	}
	rv = rec_commit_encode(b, &c);
	/* The strings are m's: free only the array. */
	free(c.rcpt);
	return rv;
}

/* Write a copy of m at the tail of the cold log; 0, or -1 (not now). */
static int
move_start(struct qmsg *m)
{
	const unsigned char *content;
	struct io_req **data, *r;
	struct rec_buf b = { 0 };
	struct qmove *mv;
	size_t len;
	uint32_t i, k;

	if (copy_commit(m, &b) != 0) {
		rec_buf_free(&b);
		return -1;
	}
	mv = xcalloc(1, sizeof(*mv));
	mv->m = m;
	mv->from = (enum qlog_kind)m->log;
	mv->old_min = m->min_seg;
	mv->nchunk = m->nchunk;
	mv->chunk = xcalloc(m->nchunk ? m->nchunk : 1, sizeof(*mv->chunk));
	/* Every chunk is read before anything is written. */
	data = xcalloc(m->nchunk ? m->nchunk : 1, sizeof(*data));
	for (i = 0; i < m->nchunk; i++) {
		struct rec_buf d = { 0 };

		if (store_read_chunk(m, i, &content, &len) != 0) {
			log_warn("%s: cannot read the message back to copy it "
			    "to the cold log: %s", m->qid, strerror(errno));
			for (k = 0; k < i; k++)
				io_req_free(data[k]);
			free(data);
			rec_buf_free(&b);
			move_free(mv);
			return -1;
		}
		rec_data_encode(&d, i, content, len);
		data[i] = io_req_append(REC_DATA, m->id, d.p, d.len, 0,
		    TAG_MOVE_DATA);
		data[i]->index = i;
		data[i]->ctx = mv;
	}
	for (i = 0; i < m->nchunk; i++)
		submit(COLD, data[i]);
	free(data);
	r = io_req_append(REC_COMMIT, m->id, b.p, b.len, 1, TAG_MOVE_COMMIT);
	r->ctx = mv;
	submit(COLD, r);
	m->moving = 1;
	TAILQ_INSERT_TAIL(&st.moves, mv, entry);
	st.nmoves++;
	return 0;
}

/* The message may be scheduled again; the copy is over. */
static void
move_end(struct qmove *mv)
{
	struct qmsg *m = mv->m;

	m->moving = 0;
	move_free(mv);
	sched_update(m);
	mover_kick();
}

/* The copy's COMMIT came back: switch the message over, or give up. */
static void
move_done(struct qmove *mv, const struct io_req *r)
{
	struct qmsg *m = mv->m;
	uint64_t bytes;
	uint32_t i;
	int err;

	TAILQ_REMOVE(&st.moves, mv, entry);
	st.nmoves--;
	err = r->error ? r->error : mv->err;
	if (err == 0 && mv->ndone != mv->nchunk)
		err = EIO;
	if (err != 0 || st.stopping) {
		/*
		 * Recovery takes a cold copy only when it is whole, so an
		 * incomplete one (the commit written, a DATA record not)
		 * leaves the old place in charge; a later turn tries again.
		 */
		if (err != 0)
			log_warn("%s: not copied to the cold log: %s", m->qid,
			    strerror(err));
		move_end(mv);
		return;
	}
	if (mv->from == QLOG_COLD) {
		st.cold_live -= msg_log_bytes(m);
		st.cold_msgs--;
	}
	free(m->chunk);
	m->chunk = mv->chunk;
	mv->chunk = NULL;
	m->commit.seg = r->seg;
	m->commit.off = r->off;
	m->commit.seq = r->seq;
	m->commit.len = (uint32_t)r->len;
	m->log = QLOG_COLD;
	m->min_seg = r->seg;
	for (i = 0; i < m->nchunk; i++)
		if (m->chunk[i].seg < m->min_seg)
			m->min_seg = m->chunk[i].seg;
	segtab_pin(COLD->segs, m->min_seg);
	bytes = msg_log_bytes(m);
	st.cold_live += bytes;
	st.cold_msgs++;
	st.moved++;
	log_info("%s: copied to the cold log (segment %016" PRIx64
	    ", %" PRIu64 " bytes)", m->qid, m->min_seg, bytes);
	if (mv->from == QLOG_COLD) {
		/* Within the cold log the newer copy wins in recovery. */
		segtab_unpin(COLD->segs, mv->old_min);
		free_segments();
		move_end(mv);
		return;
	}
	/* The tombstone; its sync releases the hot segment (release_pins). */
	submit_done(HOT, m->id, mv->old_min, mv);
}

/* The hot log's tombstone for the copy is durable. */
static void
move_released(struct qmove *mv)
{
	move_end(mv);
}

/*
 * The cold log holds more than twice its live data (and a few segments):
 * copy the messages of its oldest segment forward, so that it can go.
 */
static int
cold_wants_compaction(uint64_t *oldest)
{
	uint64_t disk = (uint64_t)segtab_count(COLD->segs) *
	    (uint64_t)queue_config()->cold_segment_size;
	uint64_t slack = COLD_SLACK_SEGS *
	    (uint64_t)queue_config()->cold_segment_size;

	if (disk <= 2 * st.cold_live + slack)
		return 0;
	*oldest = segtab_oldest(COLD->segs);
	return *oldest != 0 && *oldest < segtab_tail(COLD->segs);
}

static void
on_mover(evutil_socket_t fd, short what, void *arg)
{
	uint64_t hot_tail = segtab_tail(HOT->segs), oldest = 0;
	int compact, busy = 0;
	struct qmsg *m;

	if (st.stopping || queue_stopping())
		return;
	compact = cold_wants_compaction(&oldest);
	if (!st.scan_hot && !compact)
		return;
	TAILQ_FOREACH(m, sched_messages(), all) {
		if (st.nmoves >= MOVE_MAX) {
			busy = 1;
			break;
		}
		if (m->moving || m->finished)
			continue;
		if (m->log == QLOG_HOT ? st.scan_hot && m->min_seg < hot_tail &&
		    msg_parked(m) : compact && m->min_seg == oldest &&
		    msg_idle(m))
			move_start(m);
	}
	/* What the limit left out is taken when copies come back. */
	if (!busy)
		st.scan_hot = 0;
	/* A message busy with a delivery may still hold the segment. */
	if (compact && st.nmoves == 0)
		mover_kick();
}

static void
mover_kick(void)
{
	struct timeval tv = { 0, MOVE_TICK_MS * 1000 };

	if (st.mover != NULL && !st.stopping &&
	    !evtimer_pending(st.mover, NULL))
		evtimer_add(st.mover, &tv);
}
