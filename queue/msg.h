/*
 * The queue's in-memory model of a committed message: its envelope, each
 * recipient's state, and where its content lies in the log.  Built by the
 * commit path and by recovery, used by the scheduler, bounces and showq.
 */
#ifndef BULWARK_QUEUE_MSG_H
#define BULWARK_QUEUE_MSG_H

#include <sys/queue.h>

#include <stdint.h>
#include <time.h>

#include "qid.h"

#include "queue/record.h"

enum agent {
	AGENT_LOCAL = 0,
	AGENT_REMOTE,
	AGENT_COUNT
};

enum qrcpt_state {
	RS_PENDING = 0,		/* to deliver, now or at next_try */
	RS_SENT,
	RS_BOUNCED,
	RS_BOUNCING,		/* failed; its bounce is not committed yet */
};

struct qrcpt {
	char		*addr;
	uint8_t		 disp;		/* enum rec_disp */
	uint8_t		 state;		/* enum qrcpt_state */
	uint8_t		 busy;		/* in a delivery job */
	uint8_t		 in_bounce;	/* in a bounce being committed */
	uint8_t		 losses;	/* its agent died, times in a row */
	uint32_t	 attempts;	/* deferrals so far */
	time_t		 next_try;	/* 0: as soon as possible */
	char		*dsn;		/* last status, e.g. "4.4.1" */
	char		*reason;	/* last deferral or failure text */
	char		*remote;	/* the server that answered, or NULL */
	char		*reply;		/* its reply, or NULL */
};

/* A record in the log: segment, offset of its header, payload length. */
struct qloc {
	uint64_t	seg;
	uint64_t	off;
	uint64_t	seq;
	uint32_t	len;
};

/* The two logs: every arrival, and long-lived mail (queue/store.c). */
enum qlog_kind {
	QLOG_HOT = 0,
	QLOG_COLD,
	QLOG_COUNT
};

struct qmsg {
	uint64_t	 id;
	char		 qid[QID_LEN + 1];
	char		*sender;
	char		*client_addr;
	char		*client_name;
	char		*helo;
	uint32_t	 local_uid;
	uint32_t	 flags;		/* REC_CF_* */
	time_t		 arrival;
	uint64_t	 size;
	uint32_t	 nrcpt;
	struct qrcpt	*rcpt;
	uint32_t	 nchunk;
	struct qloc	*chunk;		/* DATA records, in content order */
	struct qloc	 commit;
	uint8_t		 log;		/* enum qlog_kind of its records */
	uint8_t		 moving;	/* a copy is being made: no jobs */
	uint64_t	 min_seg;	/* oldest segment it has records in */

	/* scheduling */
	int		 jobs;		/* delivery jobs in flight */
	int		 bounces;	/* bounce commits in flight */
	int		 finished;	/* DONE appended */
	int		 deferred;	/* on the deferred list */
	time_t		 next_try;	/* earliest retry while deferred */
	int		 queued[AGENT_COUNT];
	TAILQ_ENTRY(qmsg) all;
	TAILQ_ENTRY(qmsg) runq[AGENT_COUNT];
	TAILQ_ENTRY(qmsg) defer;
};

TAILQ_HEAD(qmsglist, qmsg);

/*
 * A message from a decoded COMMIT; takes the strings of c (which is left
 * empty).  Chunks are added by the caller.
 */
struct qmsg	*qmsg_from_commit(uint64_t id, struct rec_commit *c);
void		 qmsg_free(struct qmsg *);
/* Recipients not yet sent or bounced. */
uint32_t	 qmsg_open_rcpts(const struct qmsg *);
/*
 * The last outcome: its status and text, and the server and reply it
 * rests on (reply "" or NULL: none).
 */
/* Recipient state from an OUTCOME (or a copy's), and back. */
void		 qrcpt_set_state(struct qrcpt *, const struct rec_outcome *);
/* o points into rc's strings: valid while rc is unchanged. */
void		 qrcpt_get_state(const struct qrcpt *, struct rec_outcome *);
void		 qrcpt_set_outcome(struct qrcpt *, const char *dsn,
		    const char *reason, const char *remote,
		    const char *reply);

#endif
