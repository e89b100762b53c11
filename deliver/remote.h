/*
 * The remote delivery agent's parts: remote.c takes jobs from the agent
 * frame and checks what can be checked before a connection;
 * remote_session.c is the SMTP client that carries each job to the
 * relayhost, over a connection of its own or one that an earlier job
 * left idle in the connection cache.
 */
#ifndef BULWARK_REMOTE_H
#define BULWARK_REMOTE_H

#include <sys/socket.h>

#include "deliver.h"

/*
 * Deliver the job's recipients that are not reported yet to the relayhost
 * at sa (named label in logs and reports), over an idle cached connection
 * to sa or a new one.  Every recipient is reported and job_done() called
 * in the end, perhaps before this returns.
 */
void	session_start(struct djob *, const struct sockaddr *, socklen_t,
	    const char *label);
/* Drop the job's connection at once and free the job. */
void	session_abandon(struct djob *);
/* Close every idle cached connection with QUIT. */
void	session_cache_close(void);
/*
 * At exit: close the cache and write out, without waiting, every QUIT
 * the event loop has not sent yet.
 */
void	session_exit(void);

#endif
