/*
 * What the queue process's files share.  queue.c runs the process and
 * talks to the master and smtpd; store.c owns the log (transactions,
 * commits, outcome and done records, freeing segments); scheduler.c owns
 * the live messages and the delivery agents; bounce.c writes delivery
 * status notifications; showq.c serves mailq; maildrop.c picks up mail
 * left by sendmail while the daemon was down.
 */
#ifndef BULWARK_QUEUE_QUEUE_H
#define BULWARK_QUEUE_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <event2/event.h>

#include "config.h"
#include "ipc.h"
#include "qid.h"

#include "queue/msg.h"
#include "queue/record.h"

#define QUEUE_CHUNK_MAX		(64 * 1024)	/* content per record/frame */
#define QUEUE_IDLE_SYNC_MS	500		/* outcome/done sync delay */
#define QUEUE_STOP_SECS		30		/* wait for jobs at stop */

/* queue.c */
struct event_base	*queue_base(void);
const struct config	*queue_config(void);
int			 queue_stopping(void);

/* store.c: transactions */
enum txn_origin {
	TXN_SMTPD = 0,
	TXN_MAILDROP,
	TXN_BOUNCE,
};

struct qtxn;

/*
 * Called once per committed transaction: m is the new live message when
 * the commit and all its content are durable, NULL when it failed (err
 * is then the errno: ENOSPC for a full disk).
 */
typedef void	(*txn_done_fn)(struct qtxn *, struct qmsg *m, int err,
		    void *arg);

struct qtxn {
	uint64_t	 id;		/* queue id */
	char		 qid[QID_LEN + 1];
	enum txn_origin	 origin;
	uint64_t	 peer_id;	/* smtpd's [txn] */
	uint32_t	 peer_gen;	/* smtpd channel generation */
	uint32_t	 nsent;		/* DATA records submitted */
	uint32_t	 ndone;		/* ... and written */
	struct qloc	*chunk;
	uint32_t	 capchunk;
	uint64_t	 size;
	int		 err;		/* first failure, sticky */
	int		 committing;
	uint64_t	 commit_ns;	/* when smtpd asked for the commit */
	uint64_t	 pin_seg;
	struct qmsg	*msg;		/* envelope, from the commit on */
	txn_done_fn	 done;
	void		*arg;
};

enum quota {
	QUOTA_NONE = 0,
	QUOTA_MESSAGES,		/* queue_message_limit */
	QUOTA_SIZE,		/* queue_size_limit */
};

/* What bulwarkctl status shows of the queue. */
struct queue_figures {
	uint64_t	messages;
	uint64_t	active;
	uint64_t	deferred;
	uint64_t	hold;
	uint64_t	archived;
	uint64_t	bytes;
	uint64_t	message_limit;
	uint64_t	size_limit;
	int		disk_full;
	enum quota	quota;		/* the one reached, if any */
	uint64_t	hot_segments;
	uint64_t	cold_segments;
	uint64_t	cold_messages;
	uint64_t	cold_live;	/* bytes of their records */
	uint64_t	moved;		/* copies made since start */
	uint64_t	cold_syncs;
	/* the hot log's I/O thread */
	uint64_t	batches;
	uint64_t	syncs;
	uint64_t	commit_syncs;
	uint64_t	commit_records;
};

/*
 * Start the store on the hot log (log/) and the cold log (cold/), each
 * recovered already: the cold one first, the hot one with its
 * superseded map (see recovery.h).
 */
struct recovery;
void		 store_start(int hotfd, struct recovery *hot, int coldfd,
		    struct recovery *cold, struct qid_gen *);
void		 store_reload(void);
void		 store_stop(void);
/* Known full disk: new transactions get 452 4.3.1. */
int		 store_disk_full(void);
/*
 * What the quotas must count beyond the queued messages: transactions
 * begun and not ended, and the content of those being committed.
 */
void		 store_reserved(uint64_t *msgs, uint64_t *bytes);
struct qtxn	*store_txn_begin(enum txn_origin);
/* Append content (any length; split into records of QUEUE_CHUNK_MAX). */
void		 store_txn_chunk(struct qtxn *, const void *, size_t);
/*
 * Append the commit record for env (the envelope; its strings are taken)
 * and join the next batch; done runs once it is durable or failed.
 */
void		 store_txn_commit(struct qtxn *, struct rec_commit *env,
		    txn_done_fn done, void *arg);
/* Forget an open transaction (its DATA records become garbage). */
void		 store_txn_abort(struct qtxn *);
/* SMTP reply code and text for a failed commit's errno. */
void		 store_err_reply(int err, uint32_t *code, const char **text);

/* store.c: records of live messages (no sync wait) */
void		 store_outcome(struct qmsg *, uint32_t rcpt);
/* Append DONE; the message's segments are released once it is synced. */
void		 store_finish(struct qmsg *);
/*
 * Read chunk i of m back from the log.  Returns 0 with content and len
 * pointing into a buffer valid until the next call, or -1 with errno.
 */
int		 store_read_chunk(const struct qmsg *, uint32_t i,
		    const unsigned char **content, size_t *len);
void		 store_figures(struct queue_figures *);
#ifdef BULWARK_TESTING
void		 store_power_cut(void);
#endif

/* scheduler.c */
void		 sched_init(void);
void		 sched_set_agent(enum agent, int fd);
/* A new live message (committed, or recovered). */
void		 sched_add(struct qmsg *);
/* Re-evaluate m after a change (outcomes, bounce committed...). */
void		 sched_update(struct qmsg *);
void		 sched_flush(void);
/*
 * No new jobs from now on; drained runs once no job is in flight (at
 * once when none is), so that their outcomes can still be recorded.
 */
void		 sched_stop(void (*drained)(void));
struct qmsglist	*sched_messages(void);
/* Messages, active, deferred, hold, archived, bytes. */
void		 sched_stats(struct queue_figures *);
/*
 * Whether a new message must wait: QUOTA_MESSAGES or QUOTA_SIZE, the
 * first reached, counting what store_reserved() holds; else QUOTA_NONE.
 */
enum quota	 sched_over_quota(void);
/* Whether a message of size bytes would pass queue_size_limit (size 0:
 * whether it is reached). */
int		 sched_over_size(uint64_t size);
const char	*sched_quota_name(enum quota);
enum agent	 sched_agent_of(const char *rcpt);

/* bounce.c */
/*
 * Commit a delivery status notification for m's recipients in state
 * RS_BOUNCING that are in no bounce yet; they turn RS_BOUNCED once it is
 * durable.  With a null sender they turn RS_BOUNCED at once.
 */
void		 bounce_start(struct qmsg *);
/* The notification's text for m and the listed recipients (tests). */
int		 bounce_build(const struct qmsg *, const uint32_t *rcpts,
		    size_t n, const char *bounce_qid, time_t now,
		    struct rec_buf *out);

/* showq.c */
void		 showq_listen(int fd);
void		 showq_stop(void);
/* The listing as mailq prints it (tests, and the socket). */
void		 showq_format(struct rec_buf *, time_t now);

/* maildrop.c */
void		 maildrop_init(int dirfd);
void		 maildrop_stop(void);
/*
 * The envelope lines at the start of a maildrop file (the fuzzer drives
 * this through fmemopen).  0, or -1 with *why set and nothing to free.
 */
int		 maildrop_parse_envelope(FILE *, char **sender, char ***rcpt,
		    uint32_t *nrcpt, const char **why);

/* stats.c */
/* A commit read at start_ns (latency_now_ns) is answered now. */
void		 stats_queue_commit(uint64_t start_ns);
/* smtpd's figure: a client waited ns from its dot to the 250. */
void		 stats_session_latency(uint64_t ns);
void		 stats_format(char *, size_t, const struct queue_figures *);

/* Dates as RFC 5322 writes them. */
void		 queue_date(time_t, char *out, size_t len);

#endif
