/*
 * The queue's I/O thread: the only writer of the segment log.
 *
 * The event loop submits requests; the thread takes every pending one,
 * writes the records at the tail of the current segment, runs one
 * fdatasync for the batch when any request in it asks for durability,
 * and posts the finished requests back, in order, through an eventfd
 * watched by the event loop.  While a sync runs new requests collect for
 * the next batch (leader/follower), so the cost of a sync is shared by
 * every commit that arrived meanwhile.
 */
#ifndef BULWARK_QUEUE_IOTHREAD_H
#define BULWARK_QUEUE_IOTHREAD_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "queue/record.h"

enum io_kind {
	IO_APPEND = 0,		/* write one record */
	IO_SYNC,		/* make everything written durable */
	IO_UNLINK,		/* free segment segno */
	/* posted by the thread */
	IO_EV_SEGMENT,		/* segment segno was created: the new tail */
	IO_EV_UNTRUSTED,	/* in segment segno, bytes from offset from on
				   are lost (failed write or sync) */
	IO_EV_SPARE,		/* error 0: a spare segment is ready again;
				   else no spare could be made (errno) */
};

struct io_req {
	TAILQ_ENTRY(io_req)	 entry;
	enum io_kind		 kind;

	/* IO_APPEND: the record to write; payload is owned by the request */
	uint8_t			 type;
	uint64_t		 qid;
	unsigned char		*payload;
	size_t			 len;
	int			 sync;		/* complete only once durable */

	/* the submitter's bookkeeping, untouched by the thread */
	int			 tag;
	uint32_t		 index;
	void			*ctx;

	/* results */
	int			 error;		/* errno, 0 for success */
	uint64_t		 seq;
	uint64_t		 seg;
	uint64_t		 off;		/* of the record header */
	uint64_t		 synced_seq;	/* every record up to it is
						   durable */

	/* IO_UNLINK, IO_EV_* */
	uint64_t		 segno;
	uint64_t		 from;

	unsigned char		 hdr[REC_HDR_SIZE];
};

TAILQ_HEAD(io_reqlist, io_req);

/* What recovery found and where writing goes on. */
struct io_params {
	int			 dirfd;		/* <queue_directory>/log */
	uint64_t		 next_seq;	/* above every seq on disk */
	uint64_t		 next_seg;	/* above every segment */
	uint64_t		 segment_size;
	uint64_t		 qid_floor;	/* highest queue id seen */
	const uint64_t		*segs;		/* existing segments ... */
	const uint64_t		*seglens;	/* ... and their lengths */
	size_t			 nsegs;
};

/* What the thread did since it started. */
struct io_counters {
	uint64_t	batches;	/* batches run */
	uint64_t	syncs;		/* fdatasync calls */
	uint64_t	commit_syncs;	/* batches whose sync covered a
					   record that asked for one */
	uint64_t	commit_records;	/* such records written */
};

typedef void	(*io_done_fn)(struct io_req *, void *);

struct iothread;

/*
 * Start the thread; done is called in the event loop for every finished
 * request, in submission order (events in between), and the request is
 * freed after it returns.
 */
struct iothread	*iothread_start(struct event_base *, const struct io_params *,
		    io_done_fn done, void *arg);
/* New request of the given kind (zeroed). */
struct io_req	*io_req_new(enum io_kind);
/* An IO_APPEND taking ownership of payload (malloc'd, may be NULL). */
struct io_req	*io_req_append(uint8_t type, uint64_t qid,
		    unsigned char *payload, size_t len, int sync, int tag);
void		 io_req_free(struct io_req *);
void		 iothread_submit(struct iothread *, struct io_req *);
/* Applies to segments created from now on. */
void		 iothread_set_segment_size(struct iothread *, uint64_t);
/* A queue id was issued: new SEGMENT records carry the highest. */
void		 iothread_note_qid(struct iothread *, uint64_t qid);
/* Requests submitted and not yet handed back. */
size_t		 iothread_inflight(const struct iothread *);
void		 iothread_counters(struct iothread *, struct io_counters *);
/*
 * Write and sync everything submitted, stop the thread, and hand back
 * every finished request through done; then free the thread.
 */
void		 iothread_stop(struct iothread *);

#ifdef BULWARK_TESTING
/*
 * The power-cut simulation: at its next safe point the thread truncates
 * every segment to its last synced length and unlinks the spare, the one
 * file whose directory entry is never synced (a segment's is synced
 * before it is written to).  With do_exit it then logs and calls
 * _exit(137); without, the thread ends and iothread_halt() collects it.
 */
void		 iothread_power_cut(struct iothread *, int do_exit);
/*
 * Whether bytes [0, end) of segment num are known durable: the check
 * behind the test builds' panic when a 250 would go out too early.
 */
int		 iothread_durable(struct iothread *, uint64_t num,
		    uint64_t end);
/* Join a thread ended by iothread_power_cut(io, 0) and free it. */
void		 iothread_halt(struct iothread *);
/*
 * Fault injection for the tests: the next write (pwritev) or the next
 * fdatasync fails with the given errno (0 leaves it alone).
 */
void		 iothread_inject(struct iothread *, int write_errno,
		    int sync_errno);
#endif

#endif
