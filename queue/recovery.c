/*
 * Recovery of the segment log at start.  recovery_feed() and
 * recovery_finish() work on bytes only (the fuzzer drives them);
 * recovery_run() adds the files: listing, mapping, cutting the torn tail.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "qid.h"
#include "xmalloc.h"

#include "queue/recovery.h"
#include "queue/segment.h"

#define RLOG(r, fn, ...)	do { if ((r)->verbose) fn(__VA_ARGS__); } \
				while (0)

/* What was read of one queue id so far. */
struct rcv_ent {
	uint64_t	 id;
	struct qmsg	*m;		/* from its COMMIT */
	uint32_t	 ndata;		/* as the COMMIT says */
	struct qloc	*chunk;
	uint32_t	*index;
	size_t		 nchunk;
	size_t		 capchunk;
	uint64_t	 content;	/* bytes in the DATA records */
	uint64_t	 min_seg;
	uint64_t	 first_data;	/* seq of its first DATA record */
	int		 done;
	int		 damaged;	/* corruption hit one of its records */
	int		 orphan;	/* OUTCOME seen without a COMMIT */
};

/* A damaged record or skipped run, judged at the end of its segment. */
struct rcv_damage {
	enum rec_item_kind	kind;
	size_t			off;
	size_t			len;
	struct rec_hdr		hdr;
	uint64_t		before;		/* seq of the record before */
};

void
recovery_init(struct recovery *r, int verbose)
{
	memset(r, 0, sizeof(*r));
	r->verbose = verbose;
	TAILQ_INIT(&r->live);
	idmap_init(&r->ents);
}

static void
ent_free(struct rcv_ent *e)
{
	qmsg_free(e->m);
	free(e->chunk);
	free(e->index);
	free(e);
}

static struct rcv_ent *
ent_get(struct recovery *r, uint64_t id)
{
	struct rcv_ent *e;

	if ((e = idmap_get(&r->ents, id)) != NULL)
		return e;
	e = xcalloc(1, sizeof(*e));
	e->id = id;
	e->min_seg = UINT64_MAX;
	idmap_put(&r->ents, id, e);
	if (id > r->max_qid)
		r->max_qid = id;
	return e;
}

static void
touch_seg(struct rcv_ent *e, uint64_t seg)
{
	if (seg < e->min_seg)
		e->min_seg = seg;
}

static void
on_segment(struct recovery *r, const struct rec_item *it)
{
	struct rec_segment s;

	if (rec_segment_decode(it->payload, it->hdr.len, &s) != 0 ||
	    s.segno != r->cur_seg || r->cur_index != 0) {
		RLOG(r, log_warn, "recovery: segment %016" PRIx64 ": "
		    "unexpected segment record at offset %zu (number %016"
		    PRIx64 ")", r->cur_seg, it->off, s.segno);
		return;
	}
	/* Ids issued before this segment, even if their records went. */
	if (s.qid_floor > r->max_qid)
		r->max_qid = s.qid_floor;
}

static void
on_data(struct recovery *r, struct rcv_ent *e, const struct rec_item *it)
{
	const unsigned char *content;
	uint32_t index;
	size_t clen;

	if (e->done)
		return;
	if (rec_data_decode(it->payload, it->hdr.len, &index, &content,
	    &clen) != 0) {
		e->damaged = 1;
		return;
	}
	if (e->nchunk == e->capchunk) {
		e->capchunk = e->capchunk ? e->capchunk * 2 : 8;
		e->chunk = xreallocarray(e->chunk, e->capchunk,
		    sizeof(*e->chunk));
		e->index = xreallocarray(e->index, e->capchunk,
		    sizeof(*e->index));
	}
	if (e->nchunk == 0)
		e->first_data = it->hdr.seq;
	e->chunk[e->nchunk].seg = r->cur_seg;
	e->chunk[e->nchunk].off = it->off;
	e->chunk[e->nchunk].seq = it->hdr.seq;
	e->chunk[e->nchunk].len = it->hdr.len;
	e->index[e->nchunk] = index;
	e->nchunk++;
	e->content += clen;
	touch_seg(e, r->cur_seg);
}

static void
on_commit(struct recovery *r, struct rcv_ent *e, const struct rec_item *it)
{
	struct rec_commit c;

	if (e->done)
		return;
	if (e->m != NULL) {
		RLOG(r, log_warn, "%s: recovery: second commit record at "
		    "segment %016" PRIx64 " offset %zu ignored", e->m->qid,
		    r->cur_seg, it->off);
		return;
	}
	if (rec_commit_decode(it->payload, it->hdr.len, &c) != 0) {
		e->damaged = 1;
		r->damaged++;
		RLOG(r, log_warn, "recovery: CORRUPTION: segment %016" PRIx64
		    " offset %zu: commit record does not decode",
		    r->cur_seg, it->off);
		return;
	}
	e->ndata = c.ndata;
	e->m = qmsg_from_commit(e->id, &c);
	e->m->commit.seg = r->cur_seg;
	e->m->commit.off = it->off;
	e->m->commit.seq = it->hdr.seq;
	e->m->commit.len = it->hdr.len;
	touch_seg(e, r->cur_seg);
}

static void
on_outcome(struct recovery *r, struct rcv_ent *e, const struct rec_item *it)
{
	struct rec_outcome o;
	struct qrcpt *rc;

	if (e->done)
		return;
	if (e->m == NULL) {
		e->orphan = 1;
		return;
	}
	if (rec_outcome_decode(it->payload, it->hdr.len, &o) != 0 ||
	    o.rcpt >= e->m->nrcpt) {
		r->damaged++;
		RLOG(r, log_warn, "%s: recovery: CORRUPTION: outcome record "
		    "at segment %016" PRIx64 " offset %zu is malformed; a "
		    "recipient may be delivered again", e->m->qid, r->cur_seg,
		    it->off);
		rec_outcome_free(&o);
		return;
	}
	rc = &e->m->rcpt[o.rcpt];
	switch (o.status) {
	case REC_OUT_SENT:
		rc->state = RS_SENT;
		break;
	case REC_OUT_BOUNCED:
		rc->state = RS_BOUNCED;
		break;
	default:
		rc->state = RS_PENDING;
		rc->attempts = o.attempts;
		rc->next_try = (time_t)o.next_try;
		break;
	}
	qrcpt_set_outcome(rc, o.dsn, o.reason, o.remote, o.reply);
	rec_outcome_free(&o);
}

static void
on_done(struct recovery *r, struct rcv_ent *e)
{
	if (e->done)
		return;
	e->done = 1;
	r->done++;
	qmsg_free(e->m);
	e->m = NULL;
	free(e->chunk);
	free(e->index);
	e->chunk = NULL;
	e->index = NULL;
	e->nchunk = e->capchunk = 0;
}

static void
on_item(void *arg, const struct rec_item *it)
{
	struct recovery *r = arg;
	struct rcv_damage *d;
	struct rcv_ent *e;

	if (it->kind != REC_ITEM_RECORD) {
		if (r->ndmg == r->capdmg) {
			r->capdmg = r->capdmg ? r->capdmg * 2 : 8;
			r->dmg = xreallocarray(r->dmg, r->capdmg,
			    sizeof(*r->dmg));
		}
		d = &r->dmg[r->ndmg++];
		d->kind = it->kind;
		d->off = it->off;
		d->len = it->len;
		d->hdr = it->hdr;
		d->before = r->seq_now;
		return;
	}
	r->records++;
	r->seq_now = it->hdr.seq;
	if (it->hdr.type == REC_SEGMENT)
		on_segment(r, it);
	else {
		e = ent_get(r, it->hdr.qid);
		switch (it->hdr.type) {
		case REC_DATA:
			on_data(r, e, it);
			break;
		case REC_COMMIT:
			on_commit(r, e, it);
			break;
		case REC_OUTCOME:
			on_outcome(r, e, it);
			break;
		case REC_DONE:
			on_done(r, e);
			break;
		}
	}
	r->cur_index++;
}

/* Damage inside the segment is corruption; in the last one's tail, torn. */
static void
judge_damage(struct recovery *r, const struct rec_scan *s, int is_last)
{
	struct rcv_damage *d;
	char qid[QID_LEN + 1];
	size_t i;
	int torn;

	for (i = 0; i < r->ndmg; i++) {
		d = &r->dmg[i];
		torn = is_last && d->off >= s->valid_end;
		/* For judge_ent: the commit of a message may be in there. */
		if (!torn && d->before > r->damage_after)
			r->damage_after = d->before;
		if (d->kind == REC_ITEM_SKIPPED) {
			r->skipped_bytes += d->len;
			RLOG(r, log_warn, "recovery: CORRUPTION: segment %016"
			    PRIx64 " offset %zu: %zu unreadable bytes skipped",
			    r->cur_seg, d->off, d->len);
			continue;
		}
		if (torn) {
			r->torn_records++;
			continue;
		}
		r->damaged++;
		if (d->hdr.type != REC_SEGMENT) {
			ent_get(r, d->hdr.qid)->damaged = 1;
			qid_format(d->hdr.qid, qid);
		} else
			strlcpy(qid, "NOQUEUE", sizeof(qid));
		RLOG(r, log_warn, "%s: recovery: CORRUPTION: segment %016"
		    PRIx64 " offset %zu: %s record seq %" PRIu64 " damaged, "
		    "%zu bytes skipped", qid, r->cur_seg, d->off,
		    rec_type_name(d->hdr.type), d->hdr.seq, d->len);
	}
	r->ndmg = 0;
}

size_t
recovery_feed(struct recovery *r, uint64_t segno, const unsigned char *buf,
    size_t len, int is_last)
{
	struct rec_scan s;

	memset(&s, 0, sizeof(s));
	s.buf = buf;
	s.len = len;
	s.prev_seq = r->last_seq;
	r->seq_now = r->last_seq;
	r->cur_seg = segno;
	r->cur_index = 0;
	r->ndmg = 0;
	if (segno > r->last_seg)
		r->last_seg = segno;
	rec_scan(&s, on_item, r);
	if (s.last_seq > r->last_seq)
		r->last_seq = s.last_seq;
	r->bytes += len;
	judge_damage(r, &s, is_last);

	if (s.tail_len == 0)
		return is_last ? s.valid_end : len;
	if (is_last) {
		r->torn_bytes += s.tail_len;
		RLOG(r, log_info, "recovery: segment %016" PRIx64 ": torn "
		    "tail cut: offset=%zu, bytes=%zu", segno, s.valid_end,
		    s.tail_len);
		return s.valid_end;
	}
	r->corrupt_tail += s.tail_len;
	RLOG(r, log_warn, "recovery: CORRUPTION: segment %016" PRIx64
	    " offset %zu: %zu unreadable bytes after the last intact record",
	    segno, s.valid_end, s.tail_len);
	return len;
}

/* Put the chunks in content order; -1 unless exactly 0..ndata-1. */
static int
order_chunks(struct rcv_ent *e)
{
	struct qloc *v;
	size_t i;

	if (e->nchunk != e->ndata || e->content != e->m->size)
		return -1;
	v = xcalloc(e->nchunk ? e->nchunk : 1, sizeof(*v));
	for (i = 0; i < e->nchunk; i++) {
		if (e->index[i] >= e->nchunk || v[e->index[i]].len != 0) {
			free(v);
			return -1;
		}
		v[e->index[i]] = e->chunk[i];
	}
	e->m->chunk = v;
	e->m->nchunk = (uint32_t)e->nchunk;
	return 0;
}

static void
judge_ent(struct recovery *r, struct rcv_ent *e)
{
	char qid[QID_LEN + 1];
	uint32_t i;

	if (e->done)
		return;
	qid_format(e->id, qid);
	if (e->m == NULL) {
		if (e->damaged || e->orphan) {
			r->lost++;
			RLOG(r, log_warn, "%s: LOST in recovery: its commit "
			    "record is damaged or missing", qid);
		} else if (e->nchunk > 0 && r->damage_after > e->first_data) {
			/* Unfinished, or its commit was in the damage. */
			r->suspect++;
			RLOG(r, log_warn, "%s: possibly LOST in recovery: its "
			    "data is there but no commit record, and damaged "
			    "bytes follow it in the log", qid);
		} else
			r->garbage++;
		return;
	}
	if (order_chunks(e) != 0) {
		r->lost++;
		RLOG(r, log_warn, "%s: LOST in recovery: content incomplete "
		    "(%zu of %u data records, %" PRIu64 " of %" PRIu64
		    " bytes), from=<%s>, nrcpt=%u", qid, e->nchunk, e->ndata,
		    e->content, e->m->size, e->m->sender, e->m->nrcpt);
		return;
	}
	e->m->min_seg = e->min_seg;
	for (i = 0; i < e->m->nrcpt; i++)
		if (e->m->rcpt[i].state == RS_PENDING)
			r->recipients++;
	TAILQ_INSERT_TAIL(&r->live, e->m, all);
	r->nlive++;
	e->m = NULL;
}

static int
cmp_commit(const void *a, const void *b)
{
	const struct qmsg *x = *(struct qmsg * const *)a;
	const struct qmsg *y = *(struct qmsg * const *)b;

	return x->commit.seq < y->commit.seq ? -1 :
	    x->commit.seq > y->commit.seq;
}

void
recovery_finish(struct recovery *r)
{
	struct rcv_ent *e;
	struct qmsg **v, *m;
	size_t pos = 0, i = 0;

	while (idmap_next(&r->ents, &pos, NULL, (void **)&e))
		judge_ent(r, e);
	pos = 0;
	while (idmap_next(&r->ents, &pos, NULL, (void **)&e))
		ent_free(e);
	idmap_free(&r->ents);

	/* The map gave no order: sort the live messages by commit. */
	if (r->nlive < 2)
		return;
	v = xcalloc(r->nlive, sizeof(*v));
	while ((m = TAILQ_FIRST(&r->live)) != NULL) {
		TAILQ_REMOVE(&r->live, m, all);
		v[i++] = m;
	}
	qsort(v, i, sizeof(*v), cmp_commit);
	for (i = 0; i < r->nlive; i++)
		TAILQ_INSERT_TAIL(&r->live, v[i], all);
	free(v);
}

static void
keep_seg(struct recovery *r, uint64_t num, uint64_t len)
{
	r->segs = xreallocarray(r->segs, r->nsegs + 1, sizeof(*r->segs));
	r->seglens = xreallocarray(r->seglens, r->nsegs + 1,
	    sizeof(*r->seglens));
	r->segs[r->nsegs] = num;
	r->seglens[r->nsegs] = len;
	r->nsegs++;
}

/*
 * The SEGMENT record at the start of segment num, if it reads: it names
 * the trusted length of the segment before.
 */
static int
read_segrec(int dirfd, uint64_t num, struct rec_segment *sr)
{
	unsigned char buf[REC_HDR_SIZE + REC_SEGMENT_PAYLOAD];
	char name[SEG_NAME_LEN + 1];
	int fd, rv;

	seg_name(num, name);
	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	rv = seg_read_record(fd, 0, REC_SEGMENT_PAYLOAD, REC_SEGMENT, 0, buf);
	close(fd);
	if (rv != 0)
		return -1;
	return rec_segment_decode(buf + REC_HDR_SIZE, REC_SEGMENT_PAYLOAD, sr);
}

/*
 * Bytes of a segment past its trusted length were written after a
 * failed write or sync: the segment was cut back, but the cut may not
 * have reached the disk.  They must not come back.
 */
static size_t
trusted_len(struct recovery *r, uint64_t num, const unsigned char *buf,
    size_t len, uint64_t trusted)
{
	size_t i;

	if (trusted >= len)
		return len;
	for (i = (size_t)trusted; i < len && buf[i] == 0; i++)
		;
	if (i < len) {
		r->untrusted += len - trusted;
		RLOG(r, log_warn, "recovery: segment %016" PRIx64 ": bytes "
		    "from offset %" PRIu64 " on were written after a failed "
		    "write or sync; dropped", num, trusted);
	}
	return (size_t)trusted;
}

/* Feed one file; cut and sync it when it is the last one. */
static int
run_one(struct recovery *r, int dirfd, uint64_t num, int is_last,
    uint64_t trusted)
{
	char name[SEG_NAME_LEN + 1];
	const unsigned char *buf;
	struct stat st;
	void *map = NULL;
	size_t keep;
	int fd, err;

	seg_name(num, name);
	if ((fd = openat(dirfd, name, O_RDWR | O_CLOEXEC)) < 0 ||
	    fstat(fd, &st) != 0)
		goto fail;
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
		    fd, 0);
		if (map == MAP_FAILED)
			goto fail;
	}
	/* An empty file maps nothing: scan an empty buffer, not NULL. */
	buf = map != NULL ? map : (const unsigned char *)"";
	keep = recovery_feed(r, num, buf, trusted_len(r, num, buf,
	    (size_t)st.st_size, trusted), is_last);
	if (map != NULL)
		munmap(map, (size_t)st.st_size);
	/* The preallocated rest of the last segment goes too: writing
	 * continues in a new segment. */
	if (keep < (size_t)st.st_size && ftruncate(fd, (off_t)keep) != 0)
		goto fail;
	/* What recovery keeps is durable before anything new is trusted. */
	if (fdatasync(fd) != 0)
		goto fail;
	close(fd);
	keep_seg(r, num, keep);
	return 0;
fail:
	err = errno;
	if (fd >= 0)
		close(fd);
	errno = err;
	return -1;
}

int
recovery_run(struct recovery *r, int dirfd)
{
	struct timespec t0, t1;
	struct rec_segment sr;
	uint64_t *nums = NULL, trusted;
	size_t n = 0, i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (seg_list(dirfd, &nums, &n) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (i > 0 && nums[i] != nums[i - 1] + 1)
			RLOG(r, log_warn, "recovery: CORRUPTION: segments %016"
			    PRIx64 " to %016" PRIx64 " are missing",
			    nums[i - 1] + 1, nums[i] - 1);
		trusted = UINT64_MAX;
		if (i + 1 < n && read_segrec(dirfd, nums[i + 1], &sr) == 0 &&
		    sr.prev_segno == nums[i])
			trusted = sr.prev_len;
		if (run_one(r, dirfd, nums[i], i + 1 == n, trusted) != 0) {
			free(nums);
			return -1;
		}
	}
	free(nums);
	recovery_finish(r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r->msec = (long)((t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000);
	RLOG(r, log_info, "recovery: segments=%zu, records=%zu, bytes=%"
	    PRIu64 ", messages=%zu, recipients=%zu, finished=%zu, "
	    "unfinished=%zu, lost=%zu, possibly_lost=%zu, damaged=%zu, "
	    "skipped_bytes=%" PRIu64 ", torn_bytes=%" PRIu64 ", "
	    "untrusted_bytes=%" PRIu64 ", time=%ldms", r->nsegs, r->records,
	    r->bytes, r->nlive, r->recipients, r->done, r->garbage, r->lost,
	    r->suspect, r->damaged, r->skipped_bytes + r->corrupt_tail,
	    r->torn_bytes, r->untrusted, r->msec);
	return 0;
}

void
recovery_free(struct recovery *r)
{
	struct rcv_ent *e;
	struct qmsg *m;
	size_t pos = 0;

	while (idmap_next(&r->ents, &pos, NULL, (void **)&e))
		ent_free(e);
	idmap_free(&r->ents);
	while ((m = TAILQ_FIRST(&r->live)) != NULL) {
		TAILQ_REMOVE(&r->live, m, all);
		qmsg_free(m);
	}
	free(r->dmg);
	free(r->segs);
	free(r->seglens);
	memset(r, 0, sizeof(*r));
}
