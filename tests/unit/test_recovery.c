/*
 * Recovery over real segment files written by the real I/O thread in a
 * temporary directory: rotation, torn tails, corruption, the power-cut
 * simulation, and failed writes and syncs.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "qid.h"
#include "unit.h"

#include "queue/iothread.h"
#include "queue/record.h"
#include "queue/recovery.h"
#include "queue/segment.h"

#define MAXDONE		4096
#define SEG_SIZE	(32 * 1024)

/* A finished request, as the event loop saw it. */
struct done {
	enum io_kind	kind;
	uint8_t		type;
	uint64_t	qid;
	uint64_t	seq;
	uint64_t	seg;
	uint64_t	off;
	uint64_t	len;
	uint64_t	synced_seq;
	uint64_t	segno;
	uint64_t	from;
	int		error;
	int		tag;
};

static struct {
	char			 dir[64];
	int			 dirfd;
	struct event_base	*base;
	struct iothread		*io;
	struct done		 done[MAXDONE];
	size_t			 ndone;
} T;

static void
on_done(struct io_req *r, void *arg)
{
	struct done *d;

	CU_ASSERT_FATAL(T.ndone < MAXDONE);
	d = &T.done[T.ndone++];
	d->kind = r->kind;
	d->type = r->type;
	d->qid = r->qid;
	d->seq = r->seq;
	d->seg = r->seg;
	d->off = r->off;
	d->len = r->len;
	d->synced_seq = r->synced_seq;
	d->segno = r->segno;
	d->from = r->from;
	d->error = r->error;
	d->tag = r->tag;
}

static void
setup(uint64_t seg_size)
{
	struct io_params p;
	struct recovery r;

	CU_ASSERT_FATAL(unit_tmpdir(T.dir, sizeof(T.dir), "recovery") == 0);
	T.dirfd = open(T.dir, O_RDONLY | O_DIRECTORY);
	CU_ASSERT_FATAL(T.dirfd >= 0);
	T.base = event_base_new();
	T.ndone = 0;
	/* Start as the daemon does: recovery first, then the thread. */
	recovery_init(&r, 0);
	CU_ASSERT_FATAL(recovery_run(&r, T.dirfd) == 0);
	memset(&p, 0, sizeof(p));
	p.dirfd = T.dirfd;
	p.next_seq = r.last_seq + 1;
	p.next_seg = r.last_seg + 1;
	p.segment_size = seg_size;
	T.io = iothread_start(T.base, &p, on_done, NULL);
	recovery_free(&r);
}

static void
teardown(void)
{
	char cmd[128];

	if (T.io != NULL)
		iothread_stop(T.io);
	T.io = NULL;
	event_base_free(T.base);
	close(T.dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", T.dir);
	CU_ASSERT(system(cmd) == 0);
}

/* Run the loop until every submitted request came back. */
static void
wait_idle(void)
{
	int spins = 0;

	while (iothread_inflight(T.io) > 0 && spins++ < 100000)
		event_base_loop(T.base, EVLOOP_ONCE);
	CU_ASSERT(iothread_inflight(T.io) == 0);
}

/* Content of chunk i of message qid: reproducible from the two. */
static size_t
content(uint64_t qid, uint32_t i, unsigned char *buf)
{
	size_t len = 100 + (size_t)((qid * 7919 + i * 104729) % 9000), k;

	for (k = 0; k < len; k++)
		buf[k] = (unsigned char)('a' + (qid + i + k) % 26);
	return len;
}

/*
 * The tag rides along with the request: the number of DATA records for a
 * commit, the recipient and status for an outcome (see struct want).
 */
static void
append_tag(uint8_t type, uint64_t qid, struct rec_buf *b, int sync,
    int tag)
{
	iothread_submit(T.io, io_req_append(type, qid, b->p, b->len, sync,
	    tag));
	memset(b, 0, sizeof(*b));
}

static void
append(uint8_t type, uint64_t qid, struct rec_buf *b, int sync)
{
	append_tag(type, qid, b, sync, 0);
}

static void
put_data(uint64_t qid, uint32_t nchunks, uint64_t *size)
{
	unsigned char buf[10000];
	struct rec_buf b = { 0 };
	uint32_t i;
	size_t len;

	*size = 0;
	for (i = 0; i < nchunks; i++) {
		len = content(qid, i, buf);
		rec_data_encode(&b, i, buf, len);
		append(REC_DATA, qid, &b, 0);
		*size += len;
	}
}

static void
put_commit(uint64_t qid, uint32_t ndata, uint64_t size, uint32_t nrcpt)
{
	struct rec_rcpt rc[4] = { { .addr = "a@example.test" },
	    { .addr = "b@example.test" }, { .addr = "c@remote.test" },
	    { .addr = "postmaster" } };
	struct rec_commit c = { ndata, size, 1700000000 + qid, 1000, 0,
	    "sender@example.test", "127.0.0.1", "localhost", "client",
	    nrcpt, rc };
	struct rec_buf b = { 0 };

	CU_ASSERT(rec_commit_encode(&b, &c) == 0);
	append_tag(REC_COMMIT, qid, &b, 1, (int)ndata);
}

/* A whole message: chunks, then its commit (synced). */
static void
put_message(uint64_t qid, uint32_t nchunks)
{
	uint64_t size;

	put_data(qid, nchunks, &size);
	put_commit(qid, nchunks, size, 1 + (uint32_t)(qid % 4));
}

static void
put_outcome(uint64_t qid, uint32_t rcpt, uint8_t status)
{
	struct rec_outcome o = { rcpt, status, 2, 1700009999, "4.4.1",
	    "no route", NULL, NULL };
	struct rec_buf b = { 0 };

	rec_outcome_encode(&b, &o);
	append_tag(REC_OUTCOME, qid, &b, 0, (int)(rcpt * 4 + status));
}

static void
put_done(uint64_t qid)
{
	struct rec_buf b = { 0 };

	append(REC_DONE, qid, &b, 0);
}

static const struct done *
find_done(uint8_t type, uint64_t qid)
{
	size_t i;

	for (i = 0; i < T.ndone; i++)
		if (T.done[i].kind == IO_APPEND && T.done[i].type == type &&
		    T.done[i].qid == qid)
			return &T.done[i];
	return NULL;
}

static struct qmsg *
find_live(struct recovery *r, uint64_t qid)
{
	struct qmsg *m;

	TAILQ_FOREACH(m, &r->live, all)
		if (m->id == qid)
			return m;
	return NULL;
}

/* Every chunk of m reads back, in order, as it was written. */
static void
check_content(struct qmsg *m)
{
	unsigned char want[10000], *buf;
	struct segtab *t = segtab_new(T.dirfd);
	const unsigned char *p;
	uint64_t *nums;
	size_t n, i, len, wlen;
	uint32_t idx;

	CU_ASSERT_FATAL(seg_list(T.dirfd, &nums, &n) == 0);
	for (i = 0; i < n; i++)
		segtab_add(t, nums[i]);
	free(nums);
	for (i = 0; i < m->nchunk; i++) {
		buf = malloc(REC_HDR_SIZE + m->chunk[i].len);
		CU_ASSERT_EQUAL(segtab_read(t, m->chunk[i].seg,
		    m->chunk[i].off, m->chunk[i].len, REC_DATA, m->id, buf), 0);
		CU_ASSERT_EQUAL(rec_data_decode(buf + REC_HDR_SIZE,
		    m->chunk[i].len, &idx, &p, &len), 0);
		wlen = content(m->id, (uint32_t)i, want);
		CU_ASSERT_EQUAL(idx, i);
		CU_ASSERT_EQUAL(len, wlen);
		CU_ASSERT(len == wlen && memcmp(p, want, len) == 0);
		free(buf);
	}
	/* A wrong expectation (type, id) is refused. */
	if (m->nchunk > 0) {
		buf = malloc(REC_HDR_SIZE + m->chunk[0].len);
		CU_ASSERT_EQUAL(segtab_read(t, m->chunk[0].seg,
		    m->chunk[0].off, m->chunk[0].len, REC_DATA, m->id + 1,
		    buf), -1);
		free(buf);
	}
	segtab_free(t);
}

static void
recover(struct recovery *r)
{
	recovery_init(r, 0);
	CU_ASSERT_FATAL(recovery_run(r, T.dirfd) == 0);
}

static off_t
file_size(uint64_t num)
{
	char name[SEG_NAME_LEN + 1];
	struct stat st;

	seg_name(num, name);
	if (fstatat(T.dirfd, name, &st, 0) != 0)
		return -1;
	return st.st_size;
}

/* Messages 1..30, some finished, some with outcomes; many segments. */
static void
write_mixed(void)
{
	uint64_t q;

	for (q = 1; q <= 30; q++) {
		put_message(q, 1 + (uint32_t)(q % 3));
		if (q % 5 == 0)
			put_outcome(q, 0, REC_OUT_SENT);
		if (q % 7 == 0)
			put_outcome(q, 0, REC_OUT_DEFERRED);
		if (q % 4 == 0)
			put_done(q);
		if (q % 3 == 0)
			wait_idle();
	}
	wait_idle();
}

static void
test_roundtrip(void)
{
	struct recovery r;
	struct qmsg *m;
	uint64_t q, *nums;
	size_t n, i, nlive = 0;
	const struct done *d;

	setup(SEG_SIZE);
	write_mixed();
	/* Every commit came back written and synced. */
	for (q = 1; q <= 30; q++) {
		d = find_done(REC_COMMIT, q);
		CU_ASSERT_FATAL(d != NULL);
		CU_ASSERT_EQUAL(d->error, 0);
		CU_ASSERT(d->seq <= d->synced_seq);
	}
	/* Rotation: several segments, none larger than its size. */
	CU_ASSERT_FATAL(seg_list(T.dirfd, &nums, &n) == 0);
	CU_ASSERT(n > 3);
	for (i = 0; i < n; i++) {
		CU_ASSERT(file_size(nums[i]) <= SEG_SIZE);
	}
	free(nums);
	iothread_stop(T.io);
	T.io = NULL;

	recover(&r);
	for (q = 1; q <= 30; q++) {
		m = find_live(&r, q);
		if (q % 4 == 0) {
			CU_ASSERT(m == NULL);
			continue;
		}
		nlive++;
		CU_ASSERT_FATAL(m != NULL);
		CU_ASSERT_STRING_EQUAL(m->sender, "sender@example.test");
		CU_ASSERT_EQUAL(m->nrcpt, 1 + q % 4);
		CU_ASSERT_EQUAL(m->nchunk, 1 + q % 3);
		CU_ASSERT_EQUAL(m->arrival, 1700000000 + (time_t)q);
		if (q % 7 == 0) {
			CU_ASSERT_EQUAL(m->rcpt[0].state, RS_PENDING);
			CU_ASSERT_EQUAL(m->rcpt[0].attempts, 2);
			CU_ASSERT_EQUAL(m->rcpt[0].next_try, 1700009999);
			CU_ASSERT_STRING_EQUAL(m->rcpt[0].reason, "no route");
		} else if (q % 5 == 0) {
			CU_ASSERT_EQUAL(m->rcpt[0].state, RS_SENT);
		}
		check_content(m);
	}
	CU_ASSERT_EQUAL(r.nlive, nlive);
	CU_ASSERT_EQUAL(r.lost, 0);
	CU_ASSERT_EQUAL(r.damaged, 0);
	CU_ASSERT_EQUAL(r.skipped_bytes, 0);
	CU_ASSERT_EQUAL(r.done, 7);
	CU_ASSERT_EQUAL(r.max_qid, 30);
	/* Live messages come back in commit order. */
	q = 0;
	TAILQ_FOREACH(m, &r.live, all) {
		CU_ASSERT(m->id > q);
		q = m->id;
	}
	/* The last segment was cut to its records (no preallocated rest). */
	CU_ASSERT(file_size(r.last_seg) < SEG_SIZE);
	recovery_free(&r);
	teardown();
}

/* Cut the last segment at every 7th offset inside its last commit. */
static void
test_torn_tail(void)
{
	struct recovery r;
	const struct done *d;
	char name[SEG_NAME_LEN + 1], path[128];
	uint64_t seg, cut, end;
	int fd;

	setup(SEG_SIZE);
	write_mixed();
	put_message(31, 2);
	wait_idle();
	iothread_stop(T.io);
	T.io = NULL;
	d = find_done(REC_COMMIT, 31);
	CU_ASSERT_FATAL(d != NULL);
	seg = d->seg;
	end = d->off + REC_HDR_SIZE + 10;
	seg_name(seg, name);
	snprintf(path, sizeof(path), "%s/%s", T.dir, name);
	/* Keep a copy to cut again and again. */
	for (cut = d->off + 1; cut < end; cut += 3) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "cp %s %s.orig", path, path);
		CU_ASSERT_FATAL(system(cmd) == 0);
		fd = open(path, O_RDWR);
		CU_ASSERT_FATAL(fd >= 0);
		CU_ASSERT(ftruncate(fd, (off_t)cut) == 0);
		close(fd);

		recover(&r);
		CU_ASSERT(find_live(&r, 31) == NULL);
		CU_ASSERT(find_live(&r, 29) != NULL);
		CU_ASSERT_EQUAL(r.lost, 0);
		CU_ASSERT_EQUAL(r.damaged, 0);
		CU_ASSERT_EQUAL(r.garbage, 1);	/* 31's data, no commit */
		CU_ASSERT(r.torn_bytes > 0);
		CU_ASSERT_EQUAL(file_size(seg), (off_t)d->off);
		recovery_free(&r);
		/* Once cut, the next recovery finds nothing torn. */
		recover(&r);
		CU_ASSERT_EQUAL(r.torn_bytes, 0);
		recovery_free(&r);

		snprintf(cmd, sizeof(cmd), "mv %s.orig %s", path, path);
		CU_ASSERT_FATAL(system(cmd) == 0);
	}
	teardown();
}

/* A flipped byte in a data record of an earlier segment. */
static void
test_corruption_middle(void)
{
	struct recovery r;
	const struct done *d;
	char name[SEG_NAME_LEN + 1];
	unsigned char c;
	uint64_t q;
	int fd;

	setup(SEG_SIZE);
	write_mixed();
	iothread_stop(T.io);
	T.io = NULL;
	d = find_done(REC_DATA, 10);
	CU_ASSERT_FATAL(d != NULL);
	seg_name(d->seg, name);
	fd = openat(T.dirfd, name, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(pread(fd, &c, 1, (off_t)d->off + REC_HDR_SIZE + 50) == 1);
	c ^= 0x01;
	CU_ASSERT(pwrite(fd, &c, 1, (off_t)d->off + REC_HDR_SIZE + 50) == 1);
	close(fd);

	recover(&r);
	CU_ASSERT(find_live(&r, 10) == NULL);
	CU_ASSERT_EQUAL(r.lost, 1);
	CU_ASSERT_EQUAL(r.damaged, 1);
	for (q = 1; q <= 30; q++) {
		if (q != 10 && q % 4 != 0)
			CU_ASSERT(find_live(&r, q) != NULL);
	}
	CU_ASSERT_EQUAL(r.torn_bytes, 0);
	recovery_free(&r);

	/* A garbled header there is skipped by resync: same verdict. */
	fd = openat(T.dirfd, name, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	c ^= 0x01;
	CU_ASSERT(pwrite(fd, &c, 1, (off_t)d->off + REC_HDR_SIZE + 50) == 1);
	c = 0xff;
	CU_ASSERT(pwrite(fd, &c, 1, (off_t)d->off + 9) == 1);
	close(fd);
	recover(&r);
	CU_ASSERT(find_live(&r, 10) == NULL);
	CU_ASSERT_EQUAL(r.lost, 1);
	CU_ASSERT(r.skipped_bytes > 0);
	CU_ASSERT(find_live(&r, 11) != NULL);
	recovery_free(&r);
	teardown();
}

/*
 * The power-cut simulation: whatever was synced survives, whatever was
 * only written is gone, and recovery finds a clean log.
 */
static void
test_power_cut(void)
{
	struct recovery r;
	const struct done *d;
	uint64_t size, q;

	setup(SEG_SIZE);
	write_mixed();
	put_message(40, 1);
	wait_idle();
	/* Written, never synced: a transaction and an outcome. */
	put_data(41, 2, &size);
	put_outcome(40, 0, REC_OUT_SENT);
	wait_idle();
	d = find_done(REC_DATA, 41);
	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT(d->seq > d->synced_seq);
	iothread_power_cut(T.io, 0);
	iothread_halt(T.io);
	T.io = NULL;

	recover(&r);
	for (q = 1; q <= 30; q++) {
		if (q % 4 != 0)
			CU_ASSERT(find_live(&r, q) != NULL);
	}
	CU_ASSERT_FATAL(find_live(&r, 40) != NULL);
	/* The unsynced outcome is gone: 40 is delivered again. */
	CU_ASSERT_EQUAL(find_live(&r, 40)->rcpt[0].state, RS_PENDING);
	CU_ASSERT_EQUAL(r.garbage, 0);
	CU_ASSERT_EQUAL(r.torn_bytes, 0);
	CU_ASSERT_EQUAL(r.lost, 0);
	recovery_free(&r);
	teardown();
}

/*
 * A failed fdatasync: the commit in that batch fails, older unsynced
 * records of the segment are reported untrusted, the segment is cut back
 * and closed, and writing goes on in a new segment.
 */
static void
test_failed_sync(void)
{
	struct recovery r;
	const struct done *a, *bd, *bc, *c;
	uint64_t size;
	size_t i;
	int untrusted = 0;

	setup(1024 * 1024);
	put_message(1, 2);
	wait_idle();
	a = find_done(REC_COMMIT, 1);
	CU_ASSERT_FATAL(a != NULL && a->error == 0);
	put_data(2, 2, &size);
	wait_idle();
	iothread_inject(T.io, 0, EIO);
	put_commit(2, 2, size, 1);
	wait_idle();
	bd = find_done(REC_DATA, 2);
	bc = find_done(REC_COMMIT, 2);
	CU_ASSERT_FATAL(bd != NULL && bc != NULL);
	CU_ASSERT_EQUAL(bd->error, 0);		/* written, then lost */
	CU_ASSERT_EQUAL(bc->error, EIO);
	for (i = 0; i < T.ndone; i++)
		if (T.done[i].kind == IO_EV_UNTRUSTED) {
			untrusted++;
			CU_ASSERT_EQUAL(T.done[i].segno, a->seg);
			/* Lost from the end of message 1's commit on. */
			CU_ASSERT(T.done[i].from <= bd->off);
			CU_ASSERT(T.done[i].from > a->off);
			CU_ASSERT_EQUAL(T.done[i].error, EIO);
		}
	CU_ASSERT_EQUAL(untrusted, 1);
	/* The segment was cut back to what was synced. */
	CU_ASSERT(file_size(a->seg) <= (off_t)bd->off);

	put_message(3, 1);
	wait_idle();
	c = find_done(REC_COMMIT, 3);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(c->error, 0);
	CU_ASSERT(c->seg > a->seg);
	CU_ASSERT(c->seq > bc->seq);
	iothread_stop(T.io);
	T.io = NULL;

	recover(&r);
	CU_ASSERT(find_live(&r, 1) != NULL);
	CU_ASSERT(find_live(&r, 2) == NULL);
	CU_ASSERT(find_live(&r, 3) != NULL);
	CU_ASSERT_EQUAL(r.lost, 0);
	CU_ASSERT_EQUAL(r.damaged, 0);
	CU_ASSERT_EQUAL(r.skipped_bytes + r.corrupt_tail, 0);
	recovery_free(&r);
	teardown();
}

/* A failed write (ENOSPC): the batch fails with that errno. */
static void
test_failed_write(void)
{
	struct recovery r;
	const struct done *c;

	setup(1024 * 1024);
	put_message(1, 1);
	wait_idle();
	iothread_inject(T.io, ENOSPC, 0);
	put_commit(2, 0, 0, 1);
	wait_idle();
	c = find_done(REC_COMMIT, 2);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(c->error, ENOSPC);
	put_message(3, 1);
	wait_idle();
	CU_ASSERT_EQUAL(find_done(REC_COMMIT, 3)->error, 0);
	iothread_stop(T.io);
	T.io = NULL;
	recover(&r);
	CU_ASSERT(find_live(&r, 1) != NULL);
	CU_ASSERT(find_live(&r, 2) == NULL);
	CU_ASSERT(find_live(&r, 3) != NULL);
	CU_ASSERT_EQUAL(r.lost + r.damaged, 0);
	recovery_free(&r);
	teardown();
}

/* A record larger than a segment can hold is refused, not written. */
static void
test_too_big(void)
{
	struct rec_buf b = { 0 };
	unsigned char big[5000];

	setup(4096);
	memset(big, 'x', sizeof(big));
	rec_data_encode(&b, 0, big, sizeof(big));
	append(REC_DATA, 1, &b, 1);
	wait_idle();
	CU_ASSERT_EQUAL(find_done(REC_DATA, 1)->error, EFBIG);
	teardown();
}

/* Unlinking a segment: refused for the one being written. */
static void
test_unlink(void)
{
	const struct done *c1, *c2;
	struct io_req *r;
	uint64_t q;

	setup(SEG_SIZE);
	for (q = 1; q <= 12; q++)
		put_message(q, 2);
	wait_idle();
	c1 = find_done(REC_COMMIT, 1);
	c2 = find_done(REC_COMMIT, 12);
	CU_ASSERT_FATAL(c1 != NULL && c2 != NULL && c1->seg < c2->seg);
	r = io_req_new(IO_UNLINK);
	r->segno = c1->seg;
	iothread_submit(T.io, r);
	r = io_req_new(IO_UNLINK);
	r->segno = c2->seg;
	iothread_submit(T.io, r);
	wait_idle();
	CU_ASSERT(file_size(c1->seg) < 0);
	CU_ASSERT(file_size(c2->seg) > 0);
	CU_ASSERT_EQUAL(T.done[T.ndone - 1].error, EBUSY);
	teardown();
}

/* Garbage after the last record of a segment that is not the last. */
static void
test_corrupt_tail_not_last(void)
{
	struct recovery r;
	const struct done *d;
	char name[SEG_NAME_LEN + 1];
	unsigned char junk[64];
	off_t before;
	int fd;

	setup(SEG_SIZE);
	write_mixed();
	iothread_stop(T.io);
	T.io = NULL;
	d = find_done(REC_COMMIT, 2);
	CU_ASSERT_FATAL(d != NULL);
	seg_name(d->seg, name);
	memset(junk, 0x5a, sizeof(junk));
	fd = openat(T.dirfd, name, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	before = lseek(fd, 0, SEEK_END);
	CU_ASSERT(pwrite(fd, junk, sizeof(junk), SEG_SIZE - 64) == 64);
	close(fd);
	recover(&r);
	/*
	 * The next segment's SEGMENT record names this one's length: what
	 * lies past it is dropped and cut, and nothing before it is lost.
	 */
	CU_ASSERT(r.untrusted >= 64);
	CU_ASSERT_EQUAL(r.corrupt_tail, 0);
	CU_ASSERT_EQUAL(r.torn_bytes, 0);
	CU_ASSERT_EQUAL(r.lost, 0);
	CU_ASSERT(file_size(d->seg) < before);
	CU_ASSERT(find_live(&r, 2) != NULL);
	recovery_free(&r);

	/*
	 * Without a readable SEGMENT record after it, no trusted length is
	 * known: junk after the last record is corruption, reported and
	 * left in place.
	 */
	fd = openat(T.dirfd, name, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	before = file_size(d->seg);
	CU_ASSERT(pwrite(fd, junk, sizeof(junk), before) == 64);
	close(fd);
	seg_name(d->seg + 1, name);
	fd = openat(T.dirfd, name, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(pwrite(fd, junk, 8, REC_HDR_SIZE + 4) == 8);
	close(fd);
	recover(&r);
	CU_ASSERT(r.corrupt_tail >= 64);
	CU_ASSERT_EQUAL(r.untrusted, 0);
	CU_ASSERT_EQUAL(file_size(d->seg), before + 64);
	CU_ASSERT(find_live(&r, 2) != NULL);
	recovery_free(&r);
	teardown();
}

/*
 * A commit whose header is destroyed is skipped with the bytes around
 * it: its data, with no commit and damage after it, is reported as
 * possibly lost rather than as an unfinished transaction.
 */
static void
test_possibly_lost(void)
{
	struct recovery r;
	const struct done *c;
	char name[SEG_NAME_LEN + 1];
	unsigned char junk[REC_HDR_SIZE];
	int fd;

	setup(SEG_SIZE);
	write_mixed();
	iothread_stop(T.io);
	T.io = NULL;
	c = find_done(REC_COMMIT, 11);
	CU_ASSERT_FATAL(c != NULL);
	seg_name(c->seg, name);
	memset(junk, 0xa5, sizeof(junk));
	fd = openat(T.dirfd, name, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(pwrite(fd, junk, sizeof(junk), (off_t)c->off) ==
	    (ssize_t)sizeof(junk));
	close(fd);
	recover(&r);
	CU_ASSERT(find_live(&r, 11) == NULL);
	CU_ASSERT(r.suspect >= 1);
	CU_ASSERT(find_live(&r, 13) != NULL);
	recovery_free(&r);
	teardown();
}

/*
 * A failed sync cuts the segment back, but the cut may never reach the
 * disk: the records of the failed batch are still there after a crash.
 * The next segment's SEGMENT record says where the trusted part ends,
 * so the message that got a 4xx does not come back.
 */
static void
test_untrusted_after_failed_sync(void)
{
	unsigned char buf[10000];
	struct recovery r;
	const struct done *bc, *bd[2];
	struct rec_buf b = { 0 };
	char name[SEG_NAME_LEN + 1];
	uint64_t size = 0;
	uint32_t i;
	size_t len, k;
	int fd;

	setup(1024 * 1024);
	put_message(1, 2);
	wait_idle();
	put_data(2, 2, &size);
	wait_idle();
	iothread_inject(T.io, 0, EIO);
	put_commit(2, 2, size, 1);
	wait_idle();
	put_message(3, 1);
	wait_idle();
	iothread_stop(T.io);
	T.io = NULL;
	bc = find_done(REC_COMMIT, 2);
	CU_ASSERT_FATAL(bc != NULL && bc->error == EIO);
	for (i = 0, k = 0; k < T.ndone && i < 2; k++)
		if (T.done[k].kind == IO_APPEND &&
		    T.done[k].type == REC_DATA && T.done[k].qid == 2)
			bd[i++] = &T.done[k];
	CU_ASSERT_FATAL(i == 2);

	/* Put message 2's records back, as if the cut had been lost. */
	seg_name(bc->seg, name);
	fd = openat(T.dirfd, name, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	for (i = 0; i < 2; i++) {
		unsigned char *p;
		struct rec_buf d = { 0 };

		len = content(2, i, buf);
		rec_data_encode(&d, i, buf, len);
		rec_encode(&b, REC_DATA, bd[i]->seq, 2, d.p, d.len);
		rec_buf_free(&d);
		p = b.p;
		CU_ASSERT(pwrite(fd, p, b.len, (off_t)bd[i]->off) ==
		    (ssize_t)b.len);
		rec_buf_free(&b);
	}
	{
		struct rec_rcpt rc = { .addr = "a@example.test" };
		struct rec_commit c = { 2, size, 1700000002, 1000, 0,
		    "sender@example.test", "127.0.0.1", "localhost",
		    "client", 1, &rc };
		struct rec_buf cb = { 0 };

		CU_ASSERT(rec_commit_encode(&cb, &c) == 0);
		rec_encode(&b, REC_COMMIT, bc->seq, 2, cb.p, cb.len);
		rec_buf_free(&cb);
		CU_ASSERT(pwrite(fd, b.p, b.len, (off_t)bc->off) ==
		    (ssize_t)b.len);
		rec_buf_free(&b);
	}
	close(fd);

	recover(&r);
	CU_ASSERT(find_live(&r, 1) != NULL);
	CU_ASSERT(find_live(&r, 2) == NULL);
	CU_ASSERT(find_live(&r, 3) != NULL);
	CU_ASSERT(r.untrusted > 0);
	CU_ASSERT_EQUAL(r.lost, 0);
	recovery_free(&r);
	teardown();
}

/*
 * Once everything is delivered and every old segment freed, the log still
 * holds the segment made at start: sequence numbers and the queue id
 * floor survive any number of restarts.
 */
static void
test_log_never_empty(void)
{
	struct recovery r;
	struct io_params p;
	struct io_req *q;
	uint64_t *nums, first_seq;
	size_t n, i, first;
	int round;

	setup(SEG_SIZE);
	/* An id issued above every record; the rotation that message
	 * 5000's chunks cause writes it into the next SEGMENT record. */
	iothread_note_qid(T.io, 9000);
	put_message(5000, 5);
	put_done(5000);
	wait_idle();
	iothread_stop(T.io);
	T.io = NULL;
	first_seq = 0;
	for (round = 0; round < 3; round++) {
		recover(&r);
		CU_ASSERT(r.max_qid >= 9000);
		CU_ASSERT(r.last_seq > first_seq);
		first_seq = r.last_seq;
		memset(&p, 0, sizeof(p));
		p.dirfd = T.dirfd;
		p.next_seq = r.last_seq + 1;
		p.next_seg = r.last_seg + 1;
		p.segment_size = SEG_SIZE;
		p.qid_floor = r.max_qid;
		p.segs = r.segs;
		p.seglens = r.seglens;
		p.nsegs = r.nsegs;
		T.io = iothread_start(T.base, &p, on_done, NULL);
		/* Free every segment recovery found, as the store does. */
		first = T.ndone;
		for (i = 0; i < r.nsegs; i++) {
			q = io_req_new(IO_UNLINK);
			q->segno = r.segs[i];
			iothread_submit(T.io, q);
		}
		wait_idle();
		for (i = first; i < T.ndone; i++)
			if (T.done[i].kind == IO_UNLINK) {
				CU_ASSERT_EQUAL(T.done[i].error, 0);
			}
		recovery_free(&r);
		iothread_stop(T.io);
		T.io = NULL;
		/* Only the segment made at start is left: nothing else
		 * can carry the id floor and the sequence. */
		CU_ASSERT_FATAL(seg_list(T.dirfd, &nums, &n) == 0);
		CU_ASSERT_EQUAL(n, 1);
		free(nums);
	}
	teardown();
}

/*
 * A message whose DATA record lands in one segment and whose COMMIT, after
 * a rotation caused by another message, lands in the next: when the
 * commit comes back synced, the DATA record must be durable too (the
 * rotation synced it).  This is what the test builds check before a 250.
 */
static void
test_rotation_syncs_data(void)
{
	unsigned char buf[10000];
	struct rec_buf b = { 0 };
	const struct done *d1, *c1, *d3;
	uint64_t size1 = 0, size2;
	size_t len;

	setup(SEG_SIZE);
	/* Message 1's content, written but not synced. */
	len = content(1, 0, buf);
	rec_data_encode(&b, 0, buf, len);
	append(REC_DATA, 1, &b, 0);
	size1 = len;
	wait_idle();
	/* Others fill the segment until it turns over. */
	put_data(2, 6, &size2);
	wait_idle();
	put_commit(1, 1, size1, 1);
	wait_idle();
	d1 = find_done(REC_DATA, 1);
	c1 = find_done(REC_COMMIT, 1);
	CU_ASSERT_FATAL(d1 != NULL && c1 != NULL && c1->error == 0);
	CU_ASSERT(c1->seg > d1->seg);
	CU_ASSERT(iothread_durable(T.io, d1->seg,
	    d1->off + REC_HDR_SIZE + len + REC_DATA_PREFIX));
	CU_ASSERT(iothread_durable(T.io, c1->seg,
	    c1->off + REC_HDR_SIZE + c1->len));
	/* A record written without a sync is not durable yet. */
	put_data(3, 1, &size2);
	wait_idle();
	d3 = find_done(REC_DATA, 3);
	CU_ASSERT_FATAL(d3 != NULL && d3->error == 0);
	CU_ASSERT(!iothread_durable(T.io, d3->seg,
	    d3->off + REC_HDR_SIZE + d3->len));
	teardown();
}

/*
 * Torn tails and corruption, byte by byte.  A small log (4 KiB segments)
 * of short messages, written by the real I/O thread, then damaged in
 * every way below; after each, recovery must keep exactly what a model
 * of the surviving records says, and report what it dropped.
 */
#define TSEG_SIZE	4096
#define MAXQ		256
#define TAIL_Q1		201	/* the tail: 1 chunk */
#define TAIL_Q2		202	/* the tail: 2 chunks */

static struct {
	uint64_t	 k_one;		/* 1 chunk, inside an earlier segment */
	uint64_t	 k_two;		/* 2 chunks, ditto */
	uint64_t	 k_end;		/* its commit ends an earlier segment */
	size_t		 tail;		/* first tail record in T.done */
	uint64_t	 tailseg;	/* the last segment */
	unsigned char	*orig;		/* its bytes as written */
	size_t		 origlen;
	char		 log[65536];	/* what the last recovery logged */
} L;

/* What recovery must find of one message, from the surviving records. */
struct want {
	int		commit;
	uint32_t	ndata;		/* as its commit says */
	uint32_t	data;		/* DATA records left */
	int		done;
	uint8_t		state[4];
	uint32_t	attempts[4];
};

/* Which record is gone: those past cut in seg, or the one at dmg. */
struct damage {
	uint64_t	seg;
	uint64_t	cut;
	const struct done *dmg;
};

static uint64_t
rec_end(const struct done *d)
{
	return d->off + REC_HDR_SIZE + d->len;
}

static int
gone(const struct damage *g, const struct done *d)
{
	return d == g->dmg || (d->seg == g->seg && rec_end(d) > g->cut);
}

static void
model(const struct damage *g, struct want *w)
{
	const struct done *d;
	struct want *m;
	size_t i;
	int rc, st;

	memset(w, 0, MAXQ * sizeof(*w));
	for (i = 0; i < T.ndone; i++) {
		d = &T.done[i];
		if (d->kind != IO_APPEND || gone(g, d))
			continue;
		CU_ASSERT_FATAL(d->error == 0 && d->qid < MAXQ);
		m = &w[d->qid];
		switch (d->type) {
		case REC_DATA:
			m->data++;
			break;
		case REC_COMMIT:
			m->commit = 1;
			m->ndata = (uint32_t)d->tag;
			break;
		case REC_OUTCOME:
			rc = d->tag / 4;
			st = d->tag % 4;
			m->state[rc] = st == REC_OUT_SENT ? RS_SENT :
			    st == REC_OUT_BOUNCED ? RS_BOUNCED : RS_PENDING;
			m->attempts[rc] = st == REC_OUT_DEFERRED ? 2 : 0;
			break;
		case REC_DONE:
			m->done = 1;
			break;
		}
	}
}

static int
want_live(const struct want *m)
{
	return m->commit && m->data == m->ndata && !m->done;
}

/* Recovery keeps exactly the live messages of the model, as they were. */
static void
check_model(struct recovery *r, const struct want *w)
{
	struct qmsg *m;
	size_t nlive = 0;
	uint64_t q;
	uint32_t i;

	for (q = 1; q < MAXQ; q++) {
		m = find_live(r, q);
		CU_ASSERT_EQUAL(m != NULL, want_live(&w[q]));
		if (m == NULL || !want_live(&w[q]))
			continue;
		nlive++;
		CU_ASSERT_EQUAL(m->nchunk, w[q].ndata);
		for (i = 0; i < m->nrcpt && i < 4; i++) {
			CU_ASSERT_EQUAL(m->rcpt[i].state, w[q].state[i]);
			CU_ASSERT_EQUAL(m->rcpt[i].attempts,
			    w[q].attempts[i]);
		}
	}
	CU_ASSERT_EQUAL(r->nlive, nlive);
}

/* Whether one line of the last recovery's log holds both strings. */
static int
logged(const char *a, const char *b)
{
	char line[4096];
	const char *p = L.log, *nl;
	size_t n;

	while (*p != '\0') {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		n = (size_t)(nl - p);
		if (n > sizeof(line) - 1)
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		if (strstr(line, a) != NULL && strstr(line, b) != NULL)
			return 1;
		p = *nl != '\0' ? nl + 1 : nl;
	}
	return 0;
}

/* Recover as the daemon does (verbose), with the log kept in L.log. */
static void
recover_logged(struct recovery *r)
{
	char path[64];
	ssize_t n;
	int fd, saved, rv;

	fd = unit_tmpfile(path, sizeof(path), "recovery-log");
	CU_ASSERT_FATAL(fd >= 0);
	unlink(path);
	saved = dup(STDERR_FILENO);
	CU_ASSERT_FATAL(saved >= 0 && dup2(fd, STDERR_FILENO) >= 0);
	recovery_init(r, 1);
	rv = recovery_run(r, T.dirfd);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, L.log, sizeof(L.log) - 1, 0);
	L.log[n > 0 ? n : 0] = '\0';
	close(fd);
	CU_ASSERT_FATAL(rv == 0);
}

/* A message of short chunks (or one of big bytes), then its commit. */
static void
put_small(uint64_t qid, uint32_t nchunks, size_t big)
{
	unsigned char buf[4000];
	struct rec_buf b = { 0 };
	uint64_t size = 0;
	uint32_t i;
	size_t len, k;

	for (i = 0; i < nchunks; i++) {
		len = big ? big : 16 + (size_t)((qid * 13 + i * 7) % 48);
		for (k = 0; k < len; k++)
			buf[k] = (unsigned char)('A' + (qid + i + k) % 26);
		rec_data_encode(&b, i, buf, len);
		append(REC_DATA, qid, &b, 0);
		size += len;
	}
	put_commit(qid, nchunks, size, 1 + (uint32_t)(qid % 4));
}

static const struct done *
last_append(void)
{
	size_t i;

	for (i = T.ndone; i-- > 0; )
		if (T.done[i].kind == IO_APPEND)
			return &T.done[i];
	return NULL;
}

/* The next record after d in the same segment, or NULL. */
static const struct done *
next_in_seg(const struct done *d)
{
	const struct done *e;

	for (e = d + 1; e < T.done + T.ndone; e++)
		if (e->kind == IO_APPEND)
			return e->seg == d->seg ? e : NULL;
	return NULL;
}

static void
write_seg(const unsigned char *p, size_t len, size_t size)
{
	char name[SEG_NAME_LEN + 1];
	int fd;

	seg_name(L.tailseg, name);
	fd = openat(T.dirfd, name, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(ftruncate(fd, 0) == 0);
	CU_ASSERT_FATAL(pwrite(fd, p, len, 0) == (ssize_t)len);
	CU_ASSERT_FATAL(ftruncate(fd, (off_t)size) == 0);
	close(fd);
}

static void
flip(uint64_t seg, uint64_t off, unsigned char mask)
{
	char name[SEG_NAME_LEN + 1];
	unsigned char c;
	int fd;

	seg_name(seg, name);
	fd = openat(T.dirfd, name, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(pread(fd, &c, 1, (off_t)off) == 1);
	c ^= mask;
	CU_ASSERT_FATAL(pwrite(fd, &c, 1, (off_t)off) == 1);
	close(fd);
}

/*
 * Short messages (1 or 2 chunks; outcomes and DONE records between them)
 * over several segments: one of them ends with a commit, because a big
 * chunk did not fit after it.  Then a fresh last segment gets the tail:
 * two messages, outcomes, a DONE, and an outcome last.
 */
static void
write_layout(void)
{
	const struct done *d, *e;
	char name[SEG_NAME_LEN + 1];
	uint64_t q, big = 0, seg, *nums;
	size_t n;
	struct stat st;
	int fd;

	memset(&L, 0, sizeof(L));
	for (q = 1; q < TAIL_Q1; q++) {
		d = last_append();
		seg = d != NULL ? d->seg : 0;
		if (big == 0 && q > 8 && d->type == REC_COMMIT &&
		    rec_end(d) > 1500) {
			big = q;
			L.k_end = q - 1;
			put_small(q, 1, 3000);
		} else
			put_small(q, 1 + (uint32_t)(q % 2), 0);
		if (q % 5 == 0)
			put_outcome(q, 0, REC_OUT_SENT);
		if (q % 7 == 0)
			put_done(q);
		wait_idle();
		if (big != 0 && q > big + 3 && last_append()->seg != seg)
			break;
	}
	CU_ASSERT_FATAL(big != 0 && q < TAIL_Q1);
	L.tail = T.ndone;
	put_small(TAIL_Q1, 1, 0);
	put_small(TAIL_Q2, 2, 0);
	put_outcome(TAIL_Q1, 0, REC_OUT_SENT);
	put_outcome(TAIL_Q2, 1, REC_OUT_DEFERRED);
	put_done(TAIL_Q1);
	put_outcome(TAIL_Q2, 2, REC_OUT_BOUNCED);
	wait_idle();
	iothread_stop(T.io);
	T.io = NULL;

	L.k_one = 2;
	L.k_two = 3;
	d = find_done(REC_COMMIT, L.k_end);
	CU_ASSERT_FATAL(d != NULL && next_in_seg(d) == NULL);
	d = find_done(REC_COMMIT, L.k_two);
	CU_ASSERT_FATAL(d != NULL && next_in_seg(d) != NULL);
	/* The whole tail in the last segment, nothing after it. */
	d = last_append();
	L.tailseg = d->seg;
	for (e = &T.done[L.tail]; e <= d; e++)
		CU_ASSERT_FATAL(e->kind != IO_APPEND || e->seg == L.tailseg);
	CU_ASSERT_FATAL(find_done(REC_COMMIT, L.k_two)->seg < L.tailseg);
	CU_ASSERT_FATAL(seg_list(T.dirfd, &nums, &n) == 0);
	CU_ASSERT_FATAL(n >= 4 && nums[n - 1] == L.tailseg);
	free(nums);

	seg_name(L.tailseg, name);
	fd = openat(T.dirfd, name, O_RDONLY);
	CU_ASSERT_FATAL(fd >= 0 && fstat(fd, &st) == 0);
	L.origlen = (size_t)st.st_size;
	L.orig = malloc(L.origlen);
	CU_ASSERT_FATAL(L.orig != NULL && pread(fd, L.orig, L.origlen, 0) ==
	    (ssize_t)L.origlen);
	close(fd);
	CU_ASSERT_FATAL(L.origlen >= rec_end(d));
}

/* The first tail record and the end of the last one. */
static void
tail_span(uint64_t *start, uint64_t *end)
{
	size_t i = L.tail;

	while (T.done[i].kind != IO_APPEND)
		i++;
	*start = T.done[i].off;
	*end = rec_end(last_append());
}

/* Where a cut at cut leaves the last intact record's end. */
static uint64_t
boundary(uint64_t cut)
{
	uint64_t b = 0;
	size_t i;

	for (i = 0; i < T.ndone; i++)
		if (T.done[i].kind == IO_APPEND &&
		    T.done[i].seg == L.tailseg && rec_end(&T.done[i]) <= cut &&
		    rec_end(&T.done[i]) > b)
			b = rec_end(&T.done[i]);
	return b;
}

/* Print the first failing case of a loop; 1 when there was one. */
static int
failed(unsigned int before, const char *what, uint64_t seg, uint64_t off,
    unsigned int mask)
{
	if (CU_get_number_of_failures() == before)
		return 0;
	fprintf(stderr, "\n    first failing case: %s, segment %" PRIu64
	    ", offset %" PRIu64 ", mask 0x%02x\n    its log:\n%s", what,
	    seg, off, mask, L.log);
	return 1;
}

/*
 * The last segment cut at every offset inside its last records, both
 * truncated there and zeroed from there on (the preallocated file): the
 * records wholly before the cut survive, the rest is cut and logged.
 */
static void
test_torn_every_offset(void)
{
	struct recovery r;
	struct damage g = { 0 };
	struct want w[MAXQ];
	uint64_t start, end, cut, b, q;
	unsigned int before;
	size_t garbage, zero;
	char msg[64];

	setup(TSEG_SIZE);
	write_layout();
	tail_span(&start, &end);
	g.seg = L.tailseg;
	for (zero = 0; zero < 2; zero++)
		for (cut = start; cut <= end; cut++) {
			before = CU_get_number_of_failures();
			write_seg(L.orig, cut, zero ? L.origlen : cut);
			recover_logged(&r);
			/* Zeroing what is zero already changes nothing. */
			g.cut = cut;
			while (zero && g.cut < end && L.orig[g.cut] == 0)
				g.cut++;
			model(&g, w);
			check_model(&r, w);
			for (garbage = 0, q = 1; q < MAXQ; q++)
				if (w[q].data > 0 && !w[q].commit &&
				    !w[q].done)
					garbage++;
			CU_ASSERT_EQUAL(r.garbage, garbage);
			CU_ASSERT_EQUAL(r.lost + r.suspect + r.damaged, 0);
			CU_ASSERT_EQUAL(r.skipped_bytes + r.corrupt_tail +
			    r.untrusted, 0);
			b = boundary(g.cut);
			/* A whole header before zeros: a torn record. */
			CU_ASSERT_EQUAL(r.torn_records,
			    zero && g.cut - b >= REC_HDR_SIZE);
			CU_ASSERT_EQUAL(file_size(L.tailseg), (off_t)b);
			if (g.cut > b) {
				CU_ASSERT(r.torn_bytes > 0 &&
				    r.torn_bytes <= g.cut - b);
				snprintf(msg, sizeof(msg), "offset=%" PRIu64,
				    b);
				CU_ASSERT(logged("torn tail cut", msg));
			} else
				CU_ASSERT_EQUAL(r.torn_bytes, 0);
			recovery_free(&r);
			if (failed(before, zero ? "zeroed" : "truncated",
			    L.tailseg, cut, 0))
				goto out;
		}
out:
	free(L.orig);
	teardown();
}

/*
 * After damage to record d (one byte at off xor mask): the model, and
 * the report.  In the last record of the last segment it is a torn tail;
 * anywhere else it is corruption, and when it costs a message (its DATA
 * or COMMIT, not finished) that message is logged as LOST.
 */
static void
check_flip(const struct done *d, uint64_t off)
{
	struct recovery r;
	struct damage g = { UINT64_MAX, UINT64_MAX, d };
	struct want w[MAXQ];
	char qid[QID_LEN + 1], msg[64];
	int hdr = off - d->off < REC_HDR_SIZE, victim;
	uint64_t len = REC_HDR_SIZE + d->len;

	recover_logged(&r);
	model(&g, w);
	check_model(&r, w);
	qid_format(d->qid, qid);
	victim = (d->type == REC_DATA || d->type == REC_COMMIT) &&
	    !w[d->qid].done;
	CU_ASSERT_EQUAL(r.untrusted, 0);
	if (d->seg == L.tailseg && next_in_seg(d) == NULL) {
		CU_ASSERT(r.torn_bytes > 0 && r.torn_bytes <= len);
		CU_ASSERT_EQUAL(r.torn_records, !hdr);
		CU_ASSERT_EQUAL(file_size(L.tailseg), (off_t)d->off);
		snprintf(msg, sizeof(msg), "offset=%" PRIu64, d->off);
		CU_ASSERT(logged("torn tail cut", msg));
		CU_ASSERT_EQUAL(r.lost + r.suspect + r.damaged, 0);
		CU_ASSERT_EQUAL(r.skipped_bytes + r.corrupt_tail, 0);
		recovery_free(&r);
		return;
	}
	CU_ASSERT_EQUAL(r.torn_bytes, 0);
	CU_ASSERT_EQUAL(file_size(L.tailseg), (off_t)rec_end(last_append()));
	if (hdr) {
		/* Skipped up to the next record, or to the segment's end. */
		CU_ASSERT_EQUAL(r.damaged, 0);
		if (next_in_seg(d) != NULL) {
			CU_ASSERT_EQUAL(r.skipped_bytes, len);
			CU_ASSERT(logged("CORRUPTION", "bytes skipped"));
		} else {
			CU_ASSERT(r.corrupt_tail > 0 && r.corrupt_tail <= len);
			CU_ASSERT(logged("CORRUPTION",
			    "after the last intact"));
		}
	} else {
		CU_ASSERT_EQUAL(r.damaged, 1);
		CU_ASSERT_EQUAL(r.skipped_bytes, 0);
		CU_ASSERT(logged(qid, "damaged"));
	}
	if (victim) {
		CU_ASSERT(find_live(&r, d->qid) == NULL);
		CU_ASSERT_EQUAL(r.lost + r.suspect, 1);
		CU_ASSERT(logged(qid, "LOST in recovery"));
	} else
		CU_ASSERT_EQUAL(r.lost + r.suspect, 0);
	recovery_free(&r);
}

/*
 * Every byte of the last segment's last records, flipped whole (xor
 * 0xff) and by one bit: damage in the last record is a torn tail, damage
 * before it is corruption, and every other record is kept either way.
 */
static void
test_flip_tail_every_byte(void)
{
	const struct done *d;
	uint64_t start, end, off;
	unsigned int before, mask, k;

	setup(TSEG_SIZE);
	write_layout();
	tail_span(&start, &end);
	for (off = start; off < end; off++)
		for (k = 0; k < 2; k++) {
			mask = k == 0 ? 0xff : 1U << (off % 8);
			before = CU_get_number_of_failures();
			write_seg(L.orig, L.origlen, L.origlen);
			for (d = &T.done[L.tail]; d->kind != IO_APPEND ||
			    rec_end(d) <= off; d++)
				;
			flip(L.tailseg, off, (unsigned char)mask);
			check_flip(d, off);
			if (failed(before, rec_type_name(d->type), L.tailseg,
			    off, mask))
				goto out;
		}
out:
	free(L.orig);
	teardown();
}

/*
 * Every byte of the DATA and COMMIT records of messages inside earlier
 * segments, flipped whole and by one bit: one with a single chunk, one
 * with two, and one whose commit is the last record of its segment.
 * That message is reported lost; every other one, before and after the
 * damage, is kept.
 */
static void
test_flip_middle_every_byte(void)
{
	const uint64_t *k;
	const struct done *d;
	uint64_t off;
	unsigned int before, mask, bit, i;
	char what[64];

	setup(TSEG_SIZE);
	write_layout();
	for (i = 0; i < 3; i++) {
		k = i == 0 ? &L.k_one : i == 1 ? &L.k_two : &L.k_end;
		for (d = T.done; d < T.done + T.ndone; d++) {
			if (d->kind != IO_APPEND || d->qid != *k ||
			    (d->type != REC_DATA && d->type != REC_COMMIT))
				continue;
			snprintf(what, sizeof(what), "%s of message %" PRIu64,
			    rec_type_name(d->type), *k);
			for (off = d->off; off < rec_end(d); off++)
				for (bit = 0; bit < 2; bit++) {
					mask = bit ? 1U << (off % 8) : 0xff;
					before = CU_get_number_of_failures();
					flip(d->seg, off, (unsigned char)mask);
					check_flip(d, off);
					flip(d->seg, off, (unsigned char)mask);
					if (failed(before, what, d->seg, off,
					    mask))
						goto next;
				}
next:
			;
		}
	}
	free(L.orig);
	teardown();
}

/*
 * A copy (REC_CF_COPY, as the cold log's) of message qid: its chunks
 * again, then one COMMIT with every recipient's state: rcpt 0 sent,
 * rcpt 1 deferred after 3 attempts.
 */
static void
put_copy(uint64_t qid, uint32_t nchunks, int with_commit)
{
	struct rec_rcpt rc[2] = {
	    { .addr = "a@example.test", .state = { .status = REC_OUT_SENT,
	    .dsn = "2.0.0", .reason = "delivered" } },
	    { .addr = "c@remote.test", .state = {
	    .status = REC_OUT_DEFERRED, .attempts = 3,
	    .next_try = 1700099999, .dsn = "4.4.1", .reason = "no route",
	    .remote = "[192.0.2.1]", .reply = "451 later" } } };
	struct rec_commit c = { 0 };
	struct rec_buf b = { 0 };
	uint64_t size;

	put_data(qid, nchunks, &size);
	if (!with_commit)
		return;
	c.ndata = nchunks;
	c.size = size;
	c.arrival = 1700000000 + qid;
	c.flags = REC_CF_COPY;
	c.sender = "sender@example.test";
	c.client_addr = "127.0.0.1";
	c.client_name = "localhost";
	c.helo = "client";
	c.nrcpt = 2;
	c.rcpt = rc;
	CU_ASSERT(rec_commit_encode(&b, &c) == 0);
	append_tag(REC_COMMIT, qid, &b, 1, (int)nchunks);
}

static void
test_copies(void)
{
	struct recovery r, hot;
	const struct done *first;
	struct qmsg *m;

	setup(SEG_SIZE);
	/* 1: a copy supersedes the original; a later outcome applies. */
	put_message(1, 2);
	put_outcome(1, 1, REC_OUT_BOUNCED);
	wait_idle();
	first = find_done(REC_COMMIT, 1);
	CU_ASSERT_FATAL(first != NULL);
	put_copy(1, 2, 1);
	put_outcome(1, 1, REC_OUT_DEFERRED);
	/* 2: a copy whose commit never came: the original stands. */
	put_message(2, 1);
	put_outcome(2, 0, REC_OUT_SENT);
	put_copy(2, 1, 0);
	/* 3: copied, then finished. */
	put_message(3, 1);
	put_copy(3, 1, 1);
	put_done(3);
	wait_idle();

	recover(&r);
	CU_ASSERT_EQUAL(r.nlive, 2);
	CU_ASSERT_EQUAL(r.lost, 0);
	m = find_live(&r, 1);
	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_EQUAL(m->flags & REC_CF_COPY, 0);
	CU_ASSERT(m->commit.seq > first->seq);
	CU_ASSERT(m->chunk[0].seq > first->seq);
	CU_ASSERT_EQUAL(m->rcpt[0].state, RS_SENT);
	CU_ASSERT_EQUAL(m->rcpt[1].state, RS_PENDING);
	CU_ASSERT_EQUAL(m->rcpt[1].attempts, 2);	/* the later outcome */
	check_content(m);
	m = find_live(&r, 2);
	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_EQUAL(m->nchunk, 1);
	CU_ASSERT_EQUAL(m->rcpt[0].state, RS_SENT);
	check_content(m);
	CU_ASSERT_PTR_NULL(find_live(&r, 3));
	recovery_free(&r);

	/* Read as the cold log, its messages supersede the hot log's. */
	recovery_init(&r, 0);
	r.keep_known = 1;
	CU_ASSERT_FATAL(recovery_run(&r, T.dirfd) == 0);
	CU_ASSERT_PTR_NOT_NULL(idmap_get(&r.known, 1));
	CU_ASSERT_PTR_NOT_NULL(idmap_get(&r.known, 3));
	recovery_init(&hot, 0);
	hot.superseded = &r.known;
	CU_ASSERT_FATAL(recovery_run(&hot, T.dirfd) == 0);
	CU_ASSERT_EQUAL(hot.nlive, 0);
	CU_ASSERT_EQUAL(hot.moved, 2);
	recovery_free(&hot);
	recovery_free(&r);
	teardown();
}

static CU_TestInfo tests[] = {
	{ "write, rotate, recover", test_roundtrip },
	{ "copies supersede, and the cold log the hot", test_copies },
	{ "torn tail of the last segment", test_torn_tail },
	{ "corruption in an earlier segment", test_corruption_middle },
	{ "power cut keeps what was synced", test_power_cut },
	{ "failed fdatasync", test_failed_sync },
	{ "failed write (ENOSPC)", test_failed_write },
	{ "record too big for a segment", test_too_big },
	{ "unlink refuses the current segment", test_unlink },
	{ "corrupt tail of an earlier segment", test_corrupt_tail_not_last },
	{ "no return of bytes after a failed sync",
	    test_untrusted_after_failed_sync },
	{ "the log is never empty", test_log_never_empty },
	{ "data before damage is possibly lost", test_possibly_lost },
	{ "rotation syncs the data of a later commit",
	    test_rotation_syncs_data },
	{ "torn tail: every cut of the last records",
	    test_torn_every_offset },
	{ "torn tail: every byte of the last records flipped",
	    test_flip_tail_every_byte },
	{ "corruption: every byte of a message flipped mid-log",
	    test_flip_middle_every_byte },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("recovery", tests)
