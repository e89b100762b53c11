/*
 * The remote delivery agent.  It runs as mail_owner and sends every job
 * to the relayhost (remote_session.c), over a new connection or one kept
 * idle from an earlier job; the queue decides how many jobs are in
 * flight at once.  Before a job goes out, its addresses are checked so
 * that nothing from the envelope can turn into an SMTP command of its
 * own on the wire.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "addr.h"
#include "deliver.h"
#include "log.h"
#include "relayhost.h"
#include "remote.h"
#include "xmalloc.h"

static struct agent	 agent;
static char		*relayhost_seen;	/* at the last job */

/* An address fit for "MAIL FROM:<...>" or "RCPT TO:<...>". */
static int
address_ok(const char *addr)
{
	return !addr_has_control(addr) && strlen(addr) <= 512;
}

/* Report the recipients whose address cannot be sent; 0 when any is left. */
static int
check_addresses(struct djob *job, const char *relay)
{
	uint32_t i;

	if (!address_ok(job->sender)) {
		job_report_rest(job, DSTATUS_BOUNCE, "5.1.7", relay,
		    "bad sender address syntax", NULL);
		return -1;
	}
	for (i = 0; i < job->nrcpt; i++)
		if (!job->rcpt[i].reported && !address_ok(job->rcpt[i].addr))
			job_report(job, i, DSTATUS_BOUNCE, "5.1.3", relay,
			    "bad recipient address syntax", NULL);
	return job->nreported == job->nrcpt ? -1 : 0;
}

/*
 * A reload that changed relayhost leaves idle connections to the old
 * one; they are closed when the next job shows the change (or when they
 * time out, if that comes first).
 */
static void
note_relayhost(const char *spec)
{
	if (relayhost_seen != NULL && strcmp(relayhost_seen, spec) == 0)
		return;
	if (relayhost_seen != NULL)
		session_cache_close();
	free(relayhost_seen);
	relayhost_seen = xstrdup(spec);
}

static void
remote_start(struct djob *job)
{
	const char *spec = agent.cfg->relayhost;
	struct sockaddr_storage ss;
	socklen_t sslen;
	char label[RELAYHOST_LABEL_MAX], text[300];

	note_relayhost(spec != NULL ? spec : "");
	if (check_addresses(job, agent.relay_none) == -1) {
		job_done(job);
		return;
	}
	/* Policy refuses such mail at RCPT; this follows a config change. */
	if (spec == NULL || spec[0] == '\0') {
		job_report_rest(job, DSTATUS_BOUNCE, "5.4.4", agent.relay_none,
		    "no relayhost and MX lookup is not built yet", NULL);
		job_done(job);
		return;
	}
	/* The config parser refuses these; this is only a guard. */
	if (relayhost_parse(spec, &ss, &sslen, label, sizeof(label)) == -1) {
		snprintf(text, sizeof(text), "relayhost %.200s is not an "
		    "address literal with a valid port", spec);
		job_report_rest(job, DSTATUS_DEFER, "4.3.5", agent.relay_none,
		    text, NULL);
		job_done(job);
		return;
	}
	session_start(job, (const struct sockaddr *)&ss, sslen, label);
}

/*
 * Whether the channel is gone or the stop deadline passed, the connection
 * is dropped: without the final dot the server discards the message, and
 * the queue, which never hears the outcome, tries it again.
 */
static void
remote_abandon(struct djob *job, int hard)
{
	(void)hard;
	session_abandon(job);
}

static const struct agent_ops remote_ops = {
	remote_start,
	remote_abandon,
};

void
remote_main(const struct child_env *env, struct config *cfg)
{
	struct event_base *base;

	/* Nothing to open as root: every connection is made later. */
	log_open_now();
	priv_drop(cfg->mail_owner, NULL);

	if ((base = event_base_new()) == NULL)
		fatal("remote: cannot create the event loop");
	/* The agent ends with exit(): idle connections get their QUIT. */
	if (atexit(session_exit) != 0)
		fatal("remote: cannot register the exit handler");
	agent_init(&agent, base, env, cfg, "remote", "none", &remote_ops);
	agent_run(&agent);
}
