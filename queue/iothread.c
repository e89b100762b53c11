/*
 * The I/O thread: batched appends, one fdatasync per batch, segment
 * rotation, and what happens when the disk fails us.
 *
 * Durability rules kept here:
 *  - A segment is synced before the next one is created, so only the
 *    last segment can end in bytes that were never synced.
 *  - A new segment's directory entry is synced (seg_create, or the
 *    rename of the spare) before any record in it is written.
 *  - A spare segment is kept preallocated: when the disk fills up, the
 *    log can still rotate for the records that finish messages and so
 *    free segments.  Without a spare, new mail is refused (IO_EV_SPARE).
 *  - Each SEGMENT record names the trusted length of the segment before
 *    it, so bytes written there after a failed write or sync never come
 *    back in recovery, even if the cut back did not reach the disk.
 *  - Old segments are unlinked only after the current one is synced, so
 *    the log is never empty once it has started: the newest SEGMENT
 *    record keeps the sequence numbers and the queue id floor.
 *  - After a failed write or fdatasync nothing written to that segment
 *    since its last good sync is trusted: the requests of the batch fail,
 *    IO_EV_UNTRUSTED tells the event loop about older records in that
 *    range, the segment is cut back to its synced length and closed, and
 *    writing goes on in a new segment.  A failed sync is never retried:
 *    the kernel may already have dropped the dirty pages.
 */
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "log.h"
#include "xmalloc.h"

#include "queue/iothread.h"
#include "queue/segment.h"

#define SEGREC_PAYLOAD	REC_SEGMENT_PAYLOAD
#define SEGREC_SIZE	(REC_HDR_SIZE + SEGREC_PAYLOAD)
/* A segment made when a full one does not fit on the disk. */
#define SEG_SMALL_SIZE	(64 * 1024)

/* The thread's view of one segment file. */
struct ioseg {
	uint64_t	num;
	int		fd;		/* -1 once closed */
	uint64_t	size;		/* preallocated */
	uint64_t	written;	/* bytes at the tail */
	uint64_t	synced;		/* bytes known durable */
	uint64_t	last_seq;	/* of the last record written */
	unsigned char	segrec[SEGREC_SIZE];
};

struct iothread {
	pthread_t		 th;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct io_reqlist	 pending;	/* under mu */
	struct io_reqlist	 done;		/* under mu */
	int			 stop;		/* under mu */
	int			 powercut;	/* under mu: 1 halt, 2 exit */
	uint64_t		 seg_size;	/* under mu */
	int			 inject_write;	/* under mu, tests only */
	int			 inject_sync;	/* under mu, tests only */
	uint64_t		 qid_floor;	/* atomic: highest id issued */
	struct io_counters	 counters;	/* atomic */

	int			 efd;
	struct event		*ev;
	io_done_fn		 done_fn;
	void			*done_arg;
	size_t			 inflight;	/* event loop only */

	/* the thread's own state */
	int			 dirfd;
	struct ioseg		*segs;
	size_t			 nsegs;
	size_t			 capsegs;
	struct ioseg		*cur;
	uint64_t		 next_seq;
	uint64_t		 next_seg;
	uint64_t		 synced_seq;
	uint64_t		 batch_seg_size;
	uint64_t		 prev_num;	/* the segment before cur ... */
	uint64_t		 prev_len;	/* ... and its trusted length */
	int			 spare_fd;	/* -1: none */
	uint64_t		 spare_size;
	int			 spare_failed;	/* as last posted */
	time_t			 spare_retry;
	int			 create_err;	/* this batch */
	int			 fail_write;	/* injected for this batch */
	int			 fail_sync;
	struct io_reqlist	 out;		/* this batch, in order */
	/* records staged (not yet written) and written to cur this batch */
	struct iovec		*iov;
	size_t			 niov;
	size_t			 capiov;
	uint64_t		 staged_bytes;
	struct io_req		**mine;
	size_t			 nmine;
	size_t			 capmine;
	size_t			 nstaged;	/* the last nstaged of mine */
#ifdef BULWARK_TESTING
	/* what is durable, for the event loop's checks; under mu */
	struct iodurable {
		uint64_t	 num;
		uint64_t	 len;
	}			*dur;
	size_t			 ndur;
	size_t			 capdur;
#endif
};

struct io_req *
io_req_new(enum io_kind kind)
{
	struct io_req *r = xcalloc(1, sizeof(*r));

	r->kind = kind;
	return r;
}

struct io_req *
io_req_append(uint8_t type, uint64_t qid, unsigned char *payload,
    size_t len, int sync, int tag)
{
	struct io_req *r = io_req_new(IO_APPEND);

	r->type = type;
	r->qid = qid;
	r->payload = payload;
	r->len = len;
	r->sync = sync;
	r->tag = tag;
	return r;
}

void
io_req_free(struct io_req *r)
{
	if (r == NULL)
		return;
	free(r->payload);
	free(r);
}

/* --- the thread ---------------------------------------------------- */

#ifdef BULWARK_TESTING
static void
note_durable(struct iothread *io, uint64_t num, uint64_t len)
{
	size_t i;

	pthread_mutex_lock(&io->mu);
	for (i = 0; i < io->ndur && io->dur[i].num != num; i++)
		;
	if (i == io->ndur) {
		if (io->ndur == io->capdur) {
			io->capdur = io->capdur ? io->capdur * 2 : 16;
			io->dur = xreallocarray(io->dur, io->capdur,
			    sizeof(*io->dur));
		}
		io->dur[io->ndur].num = num;
		io->dur[io->ndur++].len = 0;
	}
	if (len > io->dur[i].len)
		io->dur[i].len = len;
	pthread_mutex_unlock(&io->mu);
}

static void
forget_durable(struct iothread *io, uint64_t num)
{
	size_t i;

	pthread_mutex_lock(&io->mu);
	for (i = 0; i < io->ndur; i++)
		if (io->dur[i].num == num) {
			io->dur[i] = io->dur[--io->ndur];
			break;
		}
	pthread_mutex_unlock(&io->mu);
}
#else
#define note_durable(io, num, len)	do { } while (0)
#define forget_durable(io, num)		do { } while (0)
#endif

static void
post_event(struct iothread *io, enum io_kind kind, uint64_t segno,
    uint64_t from, int error)
{
	struct io_req *ev = io_req_new(kind);

	ev->segno = segno;
	ev->from = from;
	ev->error = error;
	TAILQ_INSERT_TAIL(&io->out, ev, entry);
}

static struct ioseg *
seg_add(struct iothread *io, uint64_t num)
{
	struct ioseg *s;

	if (io->nsegs == io->capsegs) {
		io->capsegs = io->capsegs ? io->capsegs * 2 : 16;
		io->segs = xreallocarray(io->segs, io->capsegs,
		    sizeof(*io->segs));
	}
	s = &io->segs[io->nsegs++];
	memset(s, 0, sizeof(*s));
	s->num = num;
	s->fd = -1;
	return s;
}

static void
stage_iov(struct iothread *io, void *base, size_t len)
{
	if (len == 0)
		return;
	if (io->niov == io->capiov) {
		io->capiov = io->capiov ? io->capiov * 2 : 256;
		io->iov = xreallocarray(io->iov, io->capiov,
		    sizeof(*io->iov));
	}
	io->iov[io->niov].iov_base = base;
	io->iov[io->niov].iov_len = len;
	io->niov++;
	io->staged_bytes += len;
}

static void
mine_add(struct iothread *io, struct io_req *r)
{
	if (io->nmine == io->capmine) {
		io->capmine = io->capmine ? io->capmine * 2 : 256;
		io->mine = xreallocarray(io->mine, io->capmine,
		    sizeof(*io->mine));
	}
	io->mine[io->nmine++] = r;
	io->nstaged++;
}

/*
 * The current segment failed: every request of this batch written to it
 * fails, older unsynced records are reported lost, the file is cut back
 * to what was synced and closed.
 */
static void
fail_cur(struct iothread *io, int err)
{
	struct ioseg *s = io->cur;
	size_t i;

	for (i = 0; i < io->nmine; i++)
		io->mine[i]->error = err;
	io->nmine = io->nstaged = 0;
	io->niov = 0;
	io->staged_bytes = 0;
	post_event(io, IO_EV_UNTRUSTED, s->num, s->synced, err);
	/* Best effort: recovery must not find the lost bytes again. */
	if (ftruncate(s->fd, (off_t)s->synced) != 0)
		log_warn("queue: segment %016llx: cannot cut back after "
		    "error: %s", (unsigned long long)s->num, strerror(errno));
	close(s->fd);
	s->fd = -1;
	s->written = s->synced;
	io->prev_num = s->num;
	io->prev_len = s->synced;
	io->cur = NULL;
}

/* Write what is staged at the tail of the current segment. */
static int
flush_staged(struct iothread *io)
{
	struct ioseg *s = io->cur;
	size_t done = 0, n;
	ssize_t w;

	if (io->fail_write != 0 && io->niov > 0) {
		fail_cur(io, io->fail_write);
		io->fail_write = 0;
		return -1;
	}
	while (done < io->niov) {
		n = io->niov - done;
		if (n > IOV_MAX)
			n = IOV_MAX;
		w = pwritev(s->fd, io->iov + done, (int)n, (off_t)s->written);
		if (w < 0) {
			fail_cur(io, errno);
			return -1;
		}
		s->written += (uint64_t)w;
		/* Advance over what was written; a short write is a failure. */
		while (n > 0 && (size_t)w >= io->iov[done].iov_len) {
			w -= (ssize_t)io->iov[done].iov_len;
			done++;
			n--;
		}
		if (n > 0 || w != 0) {
			fail_cur(io, EIO);
			return -1;
		}
	}
	io->niov = 0;
	io->staged_bytes = 0;
	io->nstaged = 0;
	return 0;
}

static int
sync_cur(struct iothread *io)
{
	struct ioseg *s = io->cur;

	if (s == NULL)
		return 0;
	if (flush_staged(io) != 0)
		return -1;
	if (s->synced == s->written)
		return 0;
	if (io->fail_sync != 0) {
		fail_cur(io, io->fail_sync);
		io->fail_sync = 0;
		return -1;
	}
	if (fdatasync(s->fd) != 0) {
		fail_cur(io, errno);
		return -1;
	}
	__atomic_add_fetch(&io->counters.syncs, 1, __ATOMIC_RELAXED);
	s->synced = s->written;
	io->synced_seq = s->last_seq;
	note_durable(io, s->num, s->synced);
	return 0;
}

/* Leave the current segment: it is synced before the next one exists. */
static void
finish_cur(struct iothread *io)
{
	if (io->cur == NULL)
		return;
	if (sync_cur(io) != 0)
		return;
	io->prev_num = io->cur->num;
	io->prev_len = io->cur->synced;
	close(io->cur->fd);
	io->cur->fd = -1;
	io->cur = NULL;
	io->nmine = io->nstaged = 0;
}

static uint64_t
take_seq(struct iothread *io)
{
	return io->next_seq++;
}

/* Rename the spare into place as segment num; -1 when there is none. */
static int
take_spare(struct iothread *io, uint64_t num)
{
	int fd = io->spare_fd;

	if (fd < 0)
		return -1;
	io->spare_fd = -1;
	if (io->spare_size != io->batch_seg_size ||
	    seg_spare_take(io->dirfd, num) != 0) {
		/* A reload changed the size, or the rename failed. */
		close(fd);
		unlinkat(io->dirfd, SEG_SPARE, 0);
		return -1;
	}
	return fd;
}

static int
open_next(struct iothread *io)
{
	struct rec_segment sr;
	struct rec_buf b = { 0 };
	struct rec_hdr h;
	struct ioseg *s;
	uint64_t size;
	int fd;

	if (io->create_err != 0) {
		errno = io->create_err;
		return -1;
	}
	size = io->batch_seg_size;
	if ((fd = take_spare(io, io->next_seg)) < 0)
		fd = seg_create(io->dirfd, io->next_seg, size);
	if (fd < 0 && (errno == ENOSPC || errno == EDQUOT) &&
	    size > SEG_SMALL_SIZE) {
		/*
		 * No spare and no room for a whole segment (a restart on a
		 * full disk): a small one still takes the records that
		 * finish messages, whose segments can then be freed.
		 */
		size = SEG_SMALL_SIZE;
		fd = seg_create(io->dirfd, io->next_seg, size);
	}
	if (fd < 0) {
		io->create_err = errno;
		return -1;
	}
	s = seg_add(io, io->next_seg++);
	s->fd = fd;
	s->size = size;
	io->cur = s;

	sr.version = REC_SEGMENT_VERSION;
	sr.segno = s->num;
	sr.size = s->size;
	sr.qid_floor = __atomic_load_n(&io->qid_floor, __ATOMIC_RELAXED);
	sr.prev_segno = io->prev_num;
	sr.prev_len = io->prev_len;
	rec_segment_encode(&b, &sr);
	h.type = REC_SEGMENT;
	h.flags = 0;
	h.len = (uint32_t)b.len;
	h.seq = take_seq(io);
	h.qid = 0;
	h.pcrc = crc32c(0, b.p, b.len);
	rec_hdr_encode(&h, s->segrec);
	memcpy(s->segrec + REC_HDR_SIZE, b.p, b.len);
	rec_buf_free(&b);
	s->last_seq = h.seq;
	stage_iov(io, s->segrec, SEGREC_SIZE);
	post_event(io, IO_EV_SEGMENT, s->num, 0, 0);
	return 0;
}

/*
 * Make the next segment ahead of need.  A failure is posted once (new
 * mail is refused meanwhile) and tried again a second later, or sooner
 * when segments were freed.
 */
static void
make_spare(struct iothread *io, int freed)
{
	struct timespec now;
	int fd;

	if (io->spare_fd >= 0 || io->batch_seg_size == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (io->spare_failed && !freed && now.tv_sec < io->spare_retry)
		return;
	if ((fd = seg_spare_create(io->dirfd, io->batch_seg_size)) < 0) {
		if (!io->spare_failed)
			post_event(io, IO_EV_SPARE, 0, 0, errno ? errno : EIO);
		io->spare_failed = 1;
		io->spare_retry = now.tv_sec + 1;
		return;
	}
	io->spare_fd = fd;
	io->spare_size = io->batch_seg_size;
	if (io->spare_failed)
		post_event(io, IO_EV_SPARE, 0, 0, 0);
	io->spare_failed = 0;
}

static void
do_append(struct iothread *io, struct io_req *r)
{
	uint64_t size = REC_HDR_SIZE + (uint64_t)r->len;
	struct rec_hdr h;

	if (r->len > REC_MAX_PAYLOAD || io->batch_seg_size < SEGREC_SIZE ||
	    size > io->batch_seg_size - SEGREC_SIZE) {
		r->error = EFBIG;
		return;
	}
	if (io->cur != NULL && io->cur->written + io->staged_bytes + size >
	    io->cur->size)
		finish_cur(io);
	if (io->cur == NULL && open_next(io) != 0) {
		r->error = errno;
		return;
	}
	/* Only a small segment could be made: the disk is full. */
	if (io->cur->written + io->staged_bytes + size > io->cur->size) {
		r->error = ENOSPC;
		return;
	}
	h.type = r->type;
	h.flags = 0;
	h.len = (uint32_t)r->len;
	h.seq = take_seq(io);
	h.qid = r->qid;
	h.pcrc = crc32c(0, r->payload, r->len);
	rec_hdr_encode(&h, r->hdr);
	r->seq = h.seq;
	r->seg = io->cur->num;
	r->off = io->cur->written + io->staged_bytes;
	io->cur->last_seq = h.seq;
	stage_iov(io, r->hdr, REC_HDR_SIZE);
	stage_iov(io, r->payload, r->len);
	mine_add(io, r);
}

static struct ioseg *
find_seg(struct iothread *io, uint64_t num, size_t *idx)
{
	size_t i;

	for (i = 0; i < io->nsegs; i++)
		if (io->segs[i].num == num) {
			*idx = i;
			return &io->segs[i];
		}
	return NULL;
}

static int
do_unlink(struct iothread *io, struct io_req *r)
{
	struct ioseg *s;
	size_t i;
	uint64_t curnum = io->cur ? io->cur->num : UINT64_MAX;

	if (r->segno == curnum || r->segno >= io->next_seg) {
		r->error = EBUSY;
		return 0;
	}
	if ((s = find_seg(io, r->segno, &i)) != NULL) {
		if (s->fd >= 0)
			close(s->fd);
		memmove(&io->segs[i], &io->segs[i + 1],
		    (io->nsegs - i - 1) * sizeof(*io->segs));
		io->nsegs--;
		/* The array moved under the current segment. */
		if (io->cur != NULL)
			io->cur = find_seg(io, curnum, &i);
	}
	if (seg_unlink(io->dirfd, r->segno) != 0)
		r->error = errno;
	forget_durable(io, r->segno);
	return 1;
}

static void
run_batch(struct iothread *io, struct io_reqlist *batch, int *freed)
{
	struct io_req *r;
	int need_sync = 0, unlinked = 0, unlinks = 0;
	uint64_t commits = 0;

	io->create_err = 0;
	io->nmine = io->nstaged = 0;
	/* Unlinks go last, after the records of the batch are written. */
	TAILQ_FOREACH(r, batch, entry) {
		if (r->kind == IO_APPEND) {
			do_append(io, r);
			need_sync |= r->sync;
		} else if (r->kind == IO_SYNC)
			need_sync = 1;
		else if (r->kind == IO_UNLINK)
			unlinks++;
	}
	/* Before anything older goes, the tail is durable (see above). */
	if (unlinks > 0 && io->cur == NULL)
		open_next(io);
	if (need_sync || unlinks > 0)
		sync_cur(io);
	else if (io->cur != NULL)
		flush_staged(io);
	TAILQ_FOREACH(r, batch, entry) {
		if (r->kind != IO_UNLINK)
			continue;
		if (io->cur == NULL || io->cur->synced == 0)
			r->error = EBUSY;
		else
			unlinked |= do_unlink(io, r);
	}
	if (unlinked && fsync(io->dirfd) != 0)
		log_warn("queue: log directory: fsync after unlink: %s",
		    strerror(errno));
	io->nmine = io->nstaged = 0;
	*freed = unlinked;

	TAILQ_FOREACH(r, batch, entry)
		if (r->kind == IO_APPEND && r->sync && r->error == 0)
			commits++;
	__atomic_add_fetch(&io->counters.batches, 1, __ATOMIC_RELAXED);
	if (commits > 0) {
		__atomic_add_fetch(&io->counters.commit_syncs, 1,
		    __ATOMIC_RELAXED);
		__atomic_add_fetch(&io->counters.commit_records, commits,
		    __ATOMIC_RELAXED);
	}

	/* Events were posted to io->out as they happened; requests follow
	 * them in submission order, each with the final synced_seq. */
	while ((r = TAILQ_FIRST(batch)) != NULL) {
		TAILQ_REMOVE(batch, r, entry);
		TAILQ_INSERT_TAIL(&io->out, r, entry);
	}
	TAILQ_FOREACH(r, &io->out, entry)
		r->synced_seq = io->synced_seq;
}

/* Truncate every segment to its synced length; drop unsynced entries. */
static void
cut_power(struct iothread *io)
{
	char name[SEG_NAME_LEN + 1];
	struct ioseg *s;
	size_t i;
	int fd;

	/*
	 * A segment's entry is synced before anything is written to it;
	 * the spare's never is, so it may be gone.
	 */
	if (io->spare_fd >= 0)
		unlinkat(io->dirfd, SEG_SPARE, 0);
	for (i = 0; i < io->nsegs; i++) {
		s = &io->segs[i];
		seg_name(s->num, name);
		fd = s->fd >= 0 ? s->fd :
		    openat(io->dirfd, name, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)s->synced) != 0)
			log_warn("queue: power cut: segment %s: %s", name,
			    strerror(errno));
		if (fd >= 0 && fd != s->fd)
			close(fd);
	}
}

static void
post_done(struct iothread *io)
{
	uint64_t one = 1;

	pthread_mutex_lock(&io->mu);
	TAILQ_CONCAT(&io->done, &io->out, entry);
	pthread_mutex_unlock(&io->mu);
	if (write(io->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("queue: io thread: eventfd: %s", strerror(errno));
}

/*
 * Before the first request: a spare, and a new tail segment made durable
 * at once, so that the log never goes empty (its SEGMENT record carries
 * the sequence numbers and the queue id floor) even if every older
 * segment is freed before anything else is written.
 */
static void
start_log(struct iothread *io)
{
	struct stat sb;
	int fd;

	/* A spare left by a clean stop is used again. */
	fd = openat(io->dirfd, SEG_SPARE, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (uint64_t)sb.st_size == io->batch_seg_size) {
		io->spare_fd = fd;
		io->spare_size = io->batch_seg_size;
	} else if (fd >= 0)
		close(fd);
	if (open_next(io) != 0 || sync_cur(io) != 0)
		log_warn("queue: cannot start a log segment: %s",
		    strerror(io->create_err ? io->create_err : errno));
	io->create_err = 0;
	make_spare(io, 0);
	if (!TAILQ_EMPTY(&io->out))
		post_done(io);
}

/*
 * Under mu: wait for requests, a stop or a power cut (1).  While there is
 * no spare the wait ends at the next retry time (0), so that the queue
 * takes mail again by itself once space returns, with no mail arriving.
 */
static int
wait_work(struct iothread *io)
{
	struct timespec at = { 0, 0 };

	at.tv_sec = io->spare_retry;
	while (TAILQ_EMPTY(&io->pending) && !io->stop && !io->powercut) {
		if (!io->spare_failed)
			pthread_cond_wait(&io->cv, &io->mu);
		else if (pthread_cond_timedwait(&io->cv, &io->mu, &at) ==
		    ETIMEDOUT)
			return 0;
	}
	return 1;
}

static void *
io_main(void *arg)
{
	struct iothread *io = arg;
	struct io_reqlist batch;
	int cut, freed;

	TAILQ_INIT(&batch);
	start_log(io);
	pthread_mutex_lock(&io->mu);
	for (;;) {
		if (!wait_work(io)) {
			/* Idle without a spare: try for one again. */
			pthread_mutex_unlock(&io->mu);
			make_spare(io, 0);
			if (!TAILQ_EMPTY(&io->out))
				post_done(io);
			pthread_mutex_lock(&io->mu);
			continue;
		}
		if ((cut = io->powercut) != 0)
			break;
		if (TAILQ_EMPTY(&io->pending) && io->stop)
			break;
		TAILQ_CONCAT(&batch, &io->pending, entry);
		io->batch_seg_size = io->seg_size;
		/* An injected fault waits for the first write or sync. */
		if (io->inject_write != 0)
			io->fail_write = io->inject_write;
		if (io->inject_sync != 0)
			io->fail_sync = io->inject_sync;
		io->inject_write = io->inject_sync = 0;
		pthread_mutex_unlock(&io->mu);

		run_batch(io, &batch, &freed);
		post_done(io);
		/* After the replies: making a spare takes a while. */
		make_spare(io, freed);
		if (!TAILQ_EMPTY(&io->out))
			post_done(io);

		pthread_mutex_lock(&io->mu);
	}
	pthread_mutex_unlock(&io->mu);

	if (cut) {
		cut_power(io);
		if (cut == 2) {
			log_info("power cut simulated: segments=%zu, "
			    "synced_seq=%llu", io->nsegs,
			    (unsigned long long)io->synced_seq);
			_exit(137);
		}
		return NULL;
	}
	/* A clean stop: whatever was written becomes durable. */
	sync_cur(io);
	if (!TAILQ_EMPTY(&io->out))
		post_done(io);
	if (io->cur != NULL) {
		close(io->cur->fd);
		io->cur->fd = -1;
	}
	/* The spare stays for the next start, which reuses it. */
	if (io->spare_fd >= 0)
		close(io->spare_fd);
	io->spare_fd = -1;
	return NULL;
}

/* --- the event loop side ------------------------------------------- */

static void
drain(struct iothread *io)
{
	struct io_reqlist list;
	struct io_req *r;

	TAILQ_INIT(&list);
	pthread_mutex_lock(&io->mu);
	TAILQ_CONCAT(&list, &io->done, entry);
	pthread_mutex_unlock(&io->mu);
	while ((r = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, r, entry);
		if (r->kind == IO_APPEND || r->kind == IO_SYNC ||
		    r->kind == IO_UNLINK)
			io->inflight--;
		io->done_fn(r, io->done_arg);
		io_req_free(r);
	}
}

static void
on_eventfd(evutil_socket_t fd, short what, void *arg)
{
	struct iothread *io = arg;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		fatalx_errno("queue: io eventfd");
	drain(io);
}

struct iothread *
iothread_start(struct event_base *base, const struct io_params *p,
    io_done_fn done, void *arg)
{
	struct iothread *io = xcalloc(1, sizeof(*io));
	pthread_condattr_t ca;
	struct ioseg *s;
	size_t i;
	int err;

	pthread_mutex_init(&io->mu, NULL);
	/* Timed waits count on the clock that spare_retry uses. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&io->cv, &ca);
	pthread_condattr_destroy(&ca);
	TAILQ_INIT(&io->pending);
	TAILQ_INIT(&io->done);
	TAILQ_INIT(&io->out);
	io->done_fn = done;
	io->done_arg = arg;
	io->dirfd = p->dirfd;
	io->next_seq = p->next_seq ? p->next_seq : 1;
	io->next_seg = p->next_seg ? p->next_seg : 1;
	io->synced_seq = io->next_seq - 1;
	io->seg_size = io->batch_seg_size = p->segment_size;
	io->qid_floor = p->qid_floor;
	io->spare_fd = -1;
	for (i = 0; i < p->nsegs; i++) {
		/* What recovery kept is on disk and synced by it. */
		s = seg_add(io, p->segs[i]);
		s->size = s->written = s->synced = p->seglens[i];
		io->prev_num = s->num;
		io->prev_len = s->synced;
		note_durable(io, s->num, s->synced);
	}
	if ((io->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		fatalx_errno("queue: eventfd");
	io->ev = event_new(base, io->efd, EV_READ | EV_PERSIST, on_eventfd,
	    io);
	if (io->ev == NULL || event_add(io->ev, NULL) != 0)
		fatal("queue: cannot watch the io thread");
	if ((err = pthread_create(&io->th, NULL, io_main, io)) != 0)
		fatal("queue: cannot start the io thread: %s", strerror(err));
	return io;
}

void
iothread_submit(struct iothread *io, struct io_req *r)
{
	io->inflight++;
	pthread_mutex_lock(&io->mu);
	TAILQ_INSERT_TAIL(&io->pending, r, entry);
	pthread_cond_signal(&io->cv);
	pthread_mutex_unlock(&io->mu);
}

void
iothread_set_segment_size(struct iothread *io, uint64_t size)
{
	pthread_mutex_lock(&io->mu);
	io->seg_size = size;
	pthread_mutex_unlock(&io->mu);
}

void
iothread_note_qid(struct iothread *io, uint64_t qid)
{
	if (qid > __atomic_load_n(&io->qid_floor, __ATOMIC_RELAXED))
		__atomic_store_n(&io->qid_floor, qid, __ATOMIC_RELAXED);
}

size_t
iothread_inflight(const struct iothread *io)
{
	return io->inflight;
}

void
iothread_counters(struct iothread *io, struct io_counters *c)
{
	c->batches = __atomic_load_n(&io->counters.batches,
	    __ATOMIC_RELAXED);
	c->syncs = __atomic_load_n(&io->counters.syncs, __ATOMIC_RELAXED);
	c->commit_syncs = __atomic_load_n(&io->counters.commit_syncs,
	    __ATOMIC_RELAXED);
	c->commit_records = __atomic_load_n(&io->counters.commit_records,
	    __ATOMIC_RELAXED);
}

static void
iothread_free(struct iothread *io)
{
	struct io_req *r;

	while ((r = TAILQ_FIRST(&io->pending)) != NULL) {
		TAILQ_REMOVE(&io->pending, r, entry);
		io_req_free(r);
	}
	event_free(io->ev);
	close(io->efd);
	pthread_mutex_destroy(&io->mu);
	pthread_cond_destroy(&io->cv);
	free(io->segs);
	free(io->iov);
	free(io->mine);
#ifdef BULWARK_TESTING
	free(io->dur);
#endif
	free(io);
}

void
iothread_stop(struct iothread *io)
{
	pthread_mutex_lock(&io->mu);
	io->stop = 1;
	pthread_cond_signal(&io->cv);
	pthread_mutex_unlock(&io->mu);
	pthread_join(io->th, NULL);
	drain(io);
	iothread_free(io);
}

#ifdef BULWARK_TESTING
void
iothread_power_cut(struct iothread *io, int do_exit)
{
	pthread_mutex_lock(&io->mu);
	io->powercut = do_exit ? 2 : 1;
	pthread_cond_signal(&io->cv);
	pthread_mutex_unlock(&io->mu);
}

int
iothread_durable(struct iothread *io, uint64_t num, uint64_t end)
{
	size_t i;
	int ok = 0;

	pthread_mutex_lock(&io->mu);
	for (i = 0; i < io->ndur; i++)
		if (io->dur[i].num == num) {
			ok = io->dur[i].len >= end;
			break;
		}
	pthread_mutex_unlock(&io->mu);
	return ok;
}

void
iothread_inject(struct iothread *io, int write_errno, int sync_errno)
{
	pthread_mutex_lock(&io->mu);
	io->inject_write = write_errno;
	io->inject_sync = sync_errno;
	pthread_mutex_unlock(&io->mu);
}

void
iothread_halt(struct iothread *io)
{
	struct io_req *r;

	pthread_join(io->th, NULL);
	/* Finished requests are dropped unseen, as after a power cut. */
	while ((r = TAILQ_FIRST(&io->done)) != NULL) {
		TAILQ_REMOVE(&io->done, r, entry);
		io_req_free(r);
	}
	iothread_free(io);
}
#endif
