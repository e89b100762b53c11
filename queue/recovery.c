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

/* Scanned bytes of a mapped segment are given back in steps of this. */
#define RCV_DROP_STEP	(8U * 1024 * 1024)
/* Zero bytes that may end a record (its payload's last bytes). */
#define RCV_SLACK	(REC_HDR_SIZE + REC_MAX_PAYLOAD)

#define RLOG(r, fn, ...)	do { if ((r)->verbose) fn(__VA_ARGS__); } \
				while (0)

/*
 * What was read of one queue id so far.  The entries live in one array
 * (r->entv) and the first DATA record in the entry itself: a message of
 * one chunk, the usual case, allocates nothing of its own here, so what
 * recovery frees at the end leaves no holes between the messages it
 * keeps.
 */
struct rcv_ent {
	uint64_t	 id;
	struct qmsg	*m;		/* from its COMMIT */
	uint32_t	 ndata;		/* as the COMMIT says */
	uint32_t	 index0;	/* of the first DATA record read */
	struct qloc	 chunk0;
	struct qloc	*chunk;		/* the others, with ... */
	uint32_t	*index;		/* ... their indices */
	size_t		 nchunk;	/* chunk0 included */
	size_t		 capchunk;
	uint64_t	 content;	/* bytes in the DATA records */
	uint64_t	 min_seg;
	uint64_t	 first_data;	/* seq of its first DATA record */
	int		 done;
	int		 damaged;	/* corruption hit one of its records */
	int		 orphan;	/* OUTCOME seen without a COMMIT */
	struct rcv_ent	*copy;		/* DATA of a newer copy (REC_CF_COPY)
					   read after the COMMIT */
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
	r->name = "hot";
	TAILQ_INIT(&r->live);
	idmap_init(&r->ents);
	idmap_init(&r->known);
}

/* What e holds, not e itself. */
static void
ent_clear(struct rcv_ent *e)
{
	if (e->copy != NULL) {
		ent_clear(e->copy);
		free(e->copy);
	}
	qmsg_free(e->m);
	free(e->chunk);
	free(e->index);
}

/* The entries, all at once. */
static void
ents_free(struct recovery *r)
{
	size_t i;

	for (i = 0; i < r->nent; i++)
		ent_clear(&r->entv[i]);
	free(r->entv);
	r->entv = NULL;
	r->nent = r->capent = 0;
	idmap_free(&r->ents);
}

/* The entry of id; valid until the next call (the array may move). */
static struct rcv_ent *
ent_get(struct recovery *r, uint64_t id)
{
	struct rcv_ent *e;
	uintptr_t i;

	if ((i = (uintptr_t)idmap_get(&r->ents, id)) != 0)
		return &r->entv[i - 1];
	if (r->nent == r->capent) {
		r->capent = r->capent ? r->capent * 2 : 1024;
		r->entv = xreallocarray(r->entv, r->capent,
		    sizeof(*r->entv));
	}
	e = &r->entv[r->nent++];
	memset(e, 0, sizeof(*e));
	e->id = id;
	e->min_seg = UINT64_MAX;
	idmap_put(&r->ents, id, (void *)(uintptr_t)r->nent);
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
	struct qloc *loc;
	uint32_t index;
	size_t clen;

	if (e->done)
		return;
	/* After a commit, DATA belongs to a newer copy of the message. */
	if (e->m != NULL) {
		if (e->copy == NULL) {
			e->copy = xcalloc(1, sizeof(*e->copy));
			e->copy->id = e->id;
			e->copy->min_seg = UINT64_MAX;
		}
		e = e->copy;
	}
	if (rec_data_decode(it->payload, it->hdr.len, &index, &content,
	    &clen) != 0) {
		e->damaged = 1;
		return;
	}
	if (e->nchunk == 0) {
		e->first_data = it->hdr.seq;
		loc = &e->chunk0;
		e->index0 = index;
	} else {
		if (e->nchunk - 1 == e->capchunk) {
			e->capchunk = e->capchunk ? e->capchunk * 2 : 4;
			e->chunk = xreallocarray(e->chunk, e->capchunk,
			    sizeof(*e->chunk));
			e->index = xreallocarray(e->index, e->capchunk,
			    sizeof(*e->index));
		}
		loc = &e->chunk[e->nchunk - 1];
		e->index[e->nchunk - 1] = index;
	}
	loc->seg = r->cur_seg;
	loc->off = it->off;
	loc->seq = it->hdr.seq;
	loc->len = it->hdr.len;
	e->nchunk++;
	e->content += clen;
	touch_seg(e, r->cur_seg);
}

/*
 * A copy's commit supersedes the message read so far: its DATA records
 * (in e->copy) and its own recipient states replace the older ones.
 */
static void
take_copy(struct rcv_ent *e)
{
	struct rcv_ent *c = e->copy;

	qmsg_free(e->m);
	free(e->chunk);
	free(e->index);
	e->m = NULL;
	e->chunk = NULL;
	e->index = NULL;
	e->nchunk = e->capchunk = 0;
	e->content = 0;
	e->min_seg = UINT64_MAX;
	e->damaged = e->orphan = 0;
	e->copy = NULL;
	if (c == NULL)
		return;
	e->index0 = c->index0;
	e->chunk0 = c->chunk0;
	e->chunk = c->chunk;
	e->index = c->index;
	e->nchunk = c->nchunk;
	e->capchunk = c->capchunk;
	e->content = c->content;
	e->min_seg = c->min_seg;
	e->first_data = c->first_data;
	e->damaged = c->damaged;
	free(c);
}

static void
on_commit(struct recovery *r, struct rcv_ent *e, const struct rec_item *it)
{
	struct rec_commit c;

	if (e->done)
		return;
	if (rec_commit_decode(it->payload, it->hdr.len, &c) != 0) {
		e->damaged = 1;
		r->damaged++;
		RLOG(r, log_warn, "recovery: CORRUPTION: segment %016" PRIx64
		    " offset %zu: commit record does not decode",
		    r->cur_seg, it->off);
		return;
	}
	if (e->m != NULL) {
		if (!(c.flags & REC_CF_COPY)) {
			RLOG(r, log_warn, "%s: recovery: second commit record "
			    "at segment %016" PRIx64 " offset %zu ignored",
			    e->m->qid, r->cur_seg, it->off);
			rec_commit_free(&c);
			return;
		}
		take_copy(e);
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
	qrcpt_set_state(&e->m->rcpt[o.rcpt], &o);
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
	size_t upto;

	/*
	 * The scan only goes forward: what it has read is given back, so
	 * that a mapped segment never adds its whole size to the peak.
	 */
	if (r->map != NULL && it->off - r->map_done >= RCV_DROP_STEP) {
		upto = it->off & ~(size_t)(RCV_DROP_STEP - 1);
		(void)madvise((void *)(uintptr_t)(r->map + r->map_done),
		    upto - r->map_done, MADV_DONTNEED);
		r->map_done = upto;
	}
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
	/* Bytes of records, not the zero-filled room after them. */
	r->bytes += s.valid_end;
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
	/* For judge_ent: a commit may have been in there. */
	if (r->seq_now > r->damage_after)
		r->damage_after = r->seq_now;
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
	uint32_t index;
	size_t i;

	if (e->nchunk != e->ndata || e->content != e->m->size)
		return -1;
	v = xcalloc(e->nchunk ? e->nchunk : 1, sizeof(*v));
	for (i = 0; i < e->nchunk; i++) {
		index = i == 0 ? e->index0 : e->index[i - 1];
		if (index >= e->nchunk || v[index].len != 0) {
			free(v);
			return -1;
		}
		v[index] = i == 0 ? e->chunk0 : e->chunk[i - 1];
	}
	e->m->chunk = v;
	e->m->nchunk = (uint32_t)e->nchunk;
	return 0;
}

/* Whether e is a live message (it goes on r->live). */
static int
judge_ent(struct recovery *r, struct rcv_ent *e)
{
	char qid[QID_LEN + 1];
	uint32_t i;

	if (e->done)
		return 0;
	/* Copied to the cold log, which holds it now. */
	if (r->superseded != NULL && idmap_get(r->superseded, e->id)) {
		r->moved++;
		return 0;
	}
	qid_format(e->id, qid);
	if (e->m == NULL) {
		if (e->damaged || e->orphan) {
			r->lost++;
			RLOG(r, log_warn, "%s: LOST in recovery: its commit "
			    "record is damaged or missing", qid);
		} else if (e->nchunk > 0 && r->damage_after >= e->first_data) {
			/* Unfinished, or its commit was in the damage. */
			r->suspect++;
			RLOG(r, log_warn, "%s: possibly LOST in recovery: its "
			    "data is there but no commit record, and damaged "
			    "bytes follow it in the log", qid);
		} else
			r->garbage++;
		return 0;
	}
	if (order_chunks(e) != 0) {
		r->lost++;
		RLOG(r, log_warn, "%s: LOST in recovery: content incomplete "
		    "(%zu of %u data records, %" PRIu64 " of %" PRIu64
		    " bytes), from=<%s>, nrcpt=%u", qid, e->nchunk, e->ndata,
		    e->content, e->m->size, e->m->sender, e->m->nrcpt);
		return 0;
	}
	e->m->min_seg = e->min_seg;
	for (i = 0; i < e->m->nrcpt; i++)
		if (e->m->rcpt[i].state == RS_PENDING)
			r->recipients++;
	TAILQ_INSERT_TAIL(&r->live, e->m, all);
	r->nlive++;
	e->m = NULL;
	return 1;
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
	size_t i;

	for (i = 0; i < r->nent; i++) {
		e = &r->entv[i];
		if (judge_ent(r, e) + e->done > 0 && r->keep_known)
			idmap_put(&r->known, e->id, r);
	}
	ents_free(r);
	i = 0;

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

/*
 * The end of the last non-zero byte of map[0, len).  The preallocated
 * rest is read backwards a step at a time, and each step found zero is
 * given back at once, so it is never all resident.
 */
static size_t
data_end(const unsigned char *map, size_t len)
{
	size_t lo, i, end;
	uint64_t w;

	while (len > 0) {
		lo = (len - 1) & ~(size_t)(RCV_DROP_STEP - 1);
		for (w = 0, i = lo; i + 8 <= len && w == 0; i += 8)
			memcpy(&w, map + i, 8);
		for (; i < len && w == 0; i++)
			w = map[i];
		if (w != 0) {
			for (end = len; map[end - 1] == 0; end--)
				;
			return end;
		}
		(void)madvise((void *)(uintptr_t)(map + lo), len - lo,
		    MADV_DONTNEED);
		len = lo;
	}
	return 0;
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
	size_t keep, len;
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
	/*
	 * Only a record's worth of zeros past the last non-zero byte is
	 * scanned (a record may end in zero bytes); the rest of the
	 * preallocated space holds nothing.
	 */
	len = map != NULL ? data_end(map, (size_t)st.st_size) : 0;
	if (len > 0 && (size_t)st.st_size - len > RCV_SLACK)
		len += RCV_SLACK;
	else
		len = (size_t)st.st_size;
	r->map = map;
	r->map_done = 0;
	keep = recovery_feed(r, num, buf, trusted_len(r, num, buf, len,
	    trusted), is_last);
	r->map = NULL;
	if (map != NULL)
		munmap(map, (size_t)st.st_size);
	/* The preallocated rest goes too (of the last segment, whatever
	 * follows its last intact record): writing continues in a new
	 * segment. */
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
	RLOG(r, log_info, "recovery: %s log: segments=%zu, records=%zu, bytes=%"
	    PRIu64 ", messages=%zu, recipients=%zu, finished=%zu, "
	    "unfinished=%zu, lost=%zu, possibly_lost=%zu, damaged=%zu, "
	    "skipped_bytes=%" PRIu64 ", torn_bytes=%" PRIu64 ", "
	    "untrusted_bytes=%" PRIu64 ", moved=%zu, time=%ldms",
	    r->name, r->nsegs, r->records, r->bytes, r->nlive, r->recipients,
	    r->done, r->garbage, r->lost, r->suspect, r->damaged,
	    r->skipped_bytes + r->corrupt_tail, r->torn_bytes, r->untrusted,
	    r->moved, r->msec);
	return 0;
}

void
recovery_free(struct recovery *r)
{
	struct qmsg *m;

	ents_free(r);
	idmap_free(&r->known);
	while ((m = TAILQ_FIRST(&r->live)) != NULL) {
		TAILQ_REMOVE(&r->live, m, all);
		qmsg_free(m);
	}
	free(r->dmg);
	free(r->segs);
	free(r->seglens);
	memset(r, 0, sizeof(*r));
}
