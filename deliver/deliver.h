/*
 * What the two delivery agents (local and remote) share: the channels to
 * the master and the queue, the jobs the queue hands over, their content
 * spooled into a memory file while it arrives, and the per-recipient
 * reports.  Each agent supplies the delivery itself through agent_ops.
 */
#ifndef BULWARK_DELIVER_H
#define BULWARK_DELIVER_H

#include <sys/queue.h>

#include <stdint.h>

#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "ipc.h"

/* Seconds an agent may take to finish its jobs after IMSG_STOP. */
#define AGENT_STOP_SECS	15

struct agent;

struct drcpt {
	uint32_t	 index;		/* the queue's recipient index */
	char		*addr;
	int		 reported;
};

struct djob {
	TAILQ_ENTRY(djob)	 entry;
	struct agent		*agent;
	struct ipc_chan		*chan;	/* NULL once that channel is gone */
	uint64_t		 id;
	char			*qid;
	char			*sender;
	uint64_t		 arrival;	/* unix seconds */
	uint64_t		 size;		/* as the queue counts it */
	struct drcpt		*rcpt;
	uint32_t		 nrcpt;
	uint32_t		 nreported;

	int			 fd;		/* memfd holding the content */
	uint64_t		 len;		/* content bytes received */
	int			 spool_errno;	/* buffering failed */
	int			 eightbit;	/* a byte above 0x7f seen */
	int			 complete;	/* IMSG_DELIVER_END seen */
	int			 started;	/* handed to ops->start */
	int			 abandoned;	/* reports go nowhere */
	void			*priv;		/* the agent's state */
};

struct agent_ops {
	/* The content is complete: deliver, report, end with job_done(). */
	void	(*start)(struct djob *);
	/*
	 * The job's channel is gone (hard = 0) or the stop deadline passed
	 * (hard = 1): stop work and call job_free() once nothing of the
	 * job is in flight.
	 */
	void	(*abandon)(struct djob *, int hard);
};

struct agent {
	struct event_base	*base;
	struct config		*cfg;
	const struct child_env	*env;
	const char		*name;		/* "local", "remote" */
	const char		*relay_none;	/* relay= before any relay */
	const struct agent_ops	*ops;
	struct ipc_chan		*master;
	struct ipc_chan		*queue;
	TAILQ_HEAD(, djob)	 jobs;
	size_t			 njobs;
	int			 stopping;
	struct event		*stop_ev;
};

/* Set up the agent on base (channels come later through IMSG_PEER). */
void	agent_init(struct agent *, struct event_base *,
	    const struct child_env *, struct config *, const char *name,
	    const char *relay_none, const struct agent_ops *);
/* Tell the master we are ready and run the loop; a return is fatal. */
void	agent_run(struct agent *) __attribute__((noreturn));

/*
 * Report recipient i of the job (index into job->rcpt): log it and send
 * IMSG_DELIVER_RCPT unless the job was abandoned.  reply is the remote
 * server's reply the outcome rests on, NULL when there is none (a
 * timeout, a local failure): bounces quote it as an SMTP diagnostic.  A
 * second report for the same recipient is an invariant broken.
 */
void	job_report(struct djob *, uint32_t i, enum deliver_status,
	    const char *dsn, const char *relay, const char *text,
	    const char *reply);
/* Report every recipient not reported yet the same way. */
void	job_report_rest(struct djob *, enum deliver_status,
	    const char *dsn, const char *relay, const char *text,
	    const char *reply);
/* Every recipient is reported: send IMSG_DELIVER_DONE and free the job. */
void	job_done(struct djob *);
/* Forget the job without a word to the queue. */
void	job_free(struct djob *);

/* The log's word for a status: "sent", "deferred", "bounced". */
const char	*dstatus_word(enum deliver_status);

#endif
