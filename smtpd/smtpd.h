/*
 * The smtpd process: what its files (smtpd.c, session.c, received.c)
 * share.  One struct smtpd holds the process state; sessions are the
 * client connections, each with its own copy of the command state.
 */
#ifndef BULWARK_SMTPD_H
#define BULWARK_SMTPD_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "ipc.h"

#define SMTPD_CHUNK_MAX		(64 * 1024)	/* IMSG_MSG_CHUNK payload */
#define SMTPD_LATENCY_BATCH	256	/* samples per report */
#define SMTPD_QUEUE_HIGH	(4 * 1024 * 1024) /* stop reading DATA */
#define SMTPD_QUEUE_LOW		(1024 * 1024)	/* read DATA again */
#define SMTPD_STOP_SECS		8	/* master allows 10 */
#define SMTPD_SWEEP_SECS	10	/* forget idle admission entries */
#define SMTPD_DATA_RATE_GRACE	5	/* seconds before the rate counts */

/* A configuration, shared by the sessions that started under it. */
struct smtpd_conf {
	struct config		*cfg;
	struct cidr_table	*mynetworks;	/* exempt from admission */
	int			 refs;
};

struct admission;
struct cidr_table;
struct listener;
struct session;

RB_HEAD(smtpd_waits, session);
TAILQ_HEAD(smtpd_sessions, session);
TAILQ_HEAD(smtpd_listeners, listener);

struct smtpd {
	struct event_base	*base;
	struct smtpd_conf	*conf;		/* for new sessions */

	struct ipc_chan		*master;
	struct ipc_chan		*queue;		/* NULL while there is none */
	struct ipc_chan		*policy;
	unsigned		 queue_gen;	/* bumped per queue channel */
	unsigned		 policy_gen;	/* bumped per policy channel */

	struct smtpd_listeners	 listeners;
	struct smtpd_sessions	 sessions;
	size_t			 nsessions;
	struct admission	*admission;	/* sessions by client */
	struct event		*sweep_ev;	/* forgets idle clients */
	struct smtpd_waits	 waits;		/* sessions waiting, by id */
	uint64_t		 last_id;	/* of queries and txns */

	int			 stopping;
	struct event		*stop_ev;
	int			 throttled;	/* queue channel too full */
	int			 overload;	/* deadlines are cut short */
	uint64_t		 buffered;	/* held for sessions (budget) */
	struct event		*throttle_ev;
	struct event		*sig_ev[2];

	/* Commit latencies not yet reported to the queue, in ns. */
	uint64_t		 latency[SMTPD_LATENCY_BATCH];
	size_t			 nlatency;
	struct event		*latency_ev;
};

extern struct smtpd smtpd;

/* smtpd.c */
uint64_t		 smtpd_next_id(void);
/* Take cfg over; NULL with the reason in err if it cannot be used. */
struct smtpd_conf	*smtpd_conf_new(struct config *cfg, char *err,
			    size_t errlen);
struct smtpd_conf	*smtpd_conf_ref(void);
/* Milliseconds on the monotonic clock, for admission's buckets. */
uint64_t		 smtpd_now_ms(void);
void			 smtpd_conf_unref(struct smtpd_conf *);
/* The queue channel is filling up: stop reading DATA for a while. */
void			 smtpd_throttle_check(void);
/* A commit took ns from the end of DATA to its 250: count it. */
void			 smtpd_commit_latency(uint64_t ns);
/* A session ended; during a stop the last one ends the process. */
void			 smtpd_session_gone(void);
/* The session count changed: enter or leave overload. */
void			 smtpd_load_check(void);
/* secs of a deadline as it stands now, in ms (overload cuts it). */
uint64_t		 smtpd_deadline_ms(int64_t secs);

/* session.c */
/* Overload began or ended: every session's deadlines follow. */
void	session_deadlines_changed(void);
void	session_accept(int fd, const struct sockaddr *, socklen_t,
	    int kind);
/* Replies from the other processes, by correlation id. */
void	session_policy_verdict(uint64_t id, uint32_t code,
	    const char *text, const char *sender);
void	session_queue_qid(uint64_t id, uint32_t code, const char *text,
	    const char *qid);
void	session_queue_result(uint64_t id, uint32_t code, const char *text,
	    const char *qid);
/* A peer channel went away or was replaced. */
void	session_queue_lost(void);
void	session_policy_lost(void);
/* IMSG_STOP: idle sessions say goodbye; force ends every session. */
void	session_stop_all(int force);
/* The queue channel drained: DATA sessions read again. */
void	session_resume_data(void);

/* received.c */
struct received_info {
	const char	*hostname;	/* ours */
	const char	*qid;
	const char	*helo;
	const char	*addr;		/* client address, numeric */
	const char	*rcpt;		/* the one recipient, or NULL */
	int		 esmtp;
	int		 local;		/* local submission */
	uint32_t	 uid;		/* of the local submitter */
	time_t		 when;
};

/* The Received: header, CRLF-ended lines; length or -1 if too long. */
int	received_header(const struct received_info *, char *out,
	    size_t outlen);

#endif
