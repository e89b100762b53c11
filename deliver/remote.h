/*
 * The remote delivery agent's parts: remote.c takes jobs from the agent
 * frame and checks what can be checked before a connection;
 * remote_session.c is the SMTP client that carries one job to the
 * relayhost over one connection.
 */
#ifndef BULWARK_REMOTE_H
#define BULWARK_REMOTE_H

#include <sys/socket.h>

#include "deliver.h"

/*
 * Open a connection to the relayhost at sa (named label in logs and
 * reports) and deliver the job's recipients that are not reported yet.
 * Every recipient is reported and job_done() called in the end, perhaps
 * before this returns.
 */
void	session_start(struct djob *, const struct sockaddr *, socklen_t,
	    const char *label);
/* Drop the job's connection at once and free the job. */
void	session_abandon(struct djob *);

#endif
