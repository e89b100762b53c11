/*
 * The queue's figures for bulwarkctl status: how many messages share a
 * sync, and how long a client waits for its 250.  That wait is measured
 * by smtpd, which sees the end of DATA and writes the reply; the part
 * spent inside the queue is shown beside it, so the difference tells
 * how long the messages spent between the two processes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "latency.h"
#include "queue/iothread.h"
#include "queue/queue.h"

/* Session side: the end of DATA to the 250, as smtpd saw them. */
static struct latency session_lat;
/* Queue side: the COMMIT message read to the answer sent. */
static struct latency queue_lat;

void
stats_queue_commit(uint64_t start_ns)
{
	uint64_t now = latency_now_ns();

	latency_add(&queue_lat, now > start_ns ? now - start_ns : 0);
}

void
stats_session_latency(uint64_t ns)
{
	latency_add(&session_lat, ns);
}

/* "p50 X ms, p99 Y ms", or "n/a" before the first sample. */
static void
format_latency(char *out, size_t len, const struct latency *l)
{
	if (l->count == 0)
		snprintf(out, len, "n/a");
	else
		snprintf(out, len, "p50 %.3f ms, p99 %.3f ms",
		    latency_percentile_ms(l, 50),
		    latency_percentile_ms(l, 99));
}

void
stats_format(char *out, size_t len, const struct queue_figures *f)
{
	double per_sync = f->commit_syncs ?
	    (double)f->commit_records / (double)f->commit_syncs : 0;
	char client[64], inqueue[64], reached[64] = "";

	format_latency(client, sizeof(client), &session_lat);
	format_latency(inqueue, sizeof(inqueue), &queue_lat);
	if (f->quota != QUOTA_NONE)
		snprintf(reached, sizeof(reached), ", reached (%s)",
		    sched_quota_name(f->quota));
	snprintf(out, len,
	    "queue: messages %" PRIu64 ", active %" PRIu64 ", deferred %"
	    PRIu64 ", hold %" PRIu64 ", archived %" PRIu64 ", bytes %" PRIu64
	    "\n"
	    "queue log: hot segments %" PRIu64 ", cold segments %" PRIu64
	    ", cold messages %" PRIu64 ", cold live bytes %" PRIu64
	    ", moved %" PRIu64 ", cold syncs %" PRIu64 "\n"
	    "queue quota: messages %" PRIu64 " of %" PRIu64 ", bytes %"
	    PRIu64 " of %" PRIu64 "%s%s\n"
	    "queue commits: batches %" PRIu64 ", syncs %" PRIu64
	    ", messages %" PRIu64 ", messages per sync %.1f"
	    ", commit latency %s, in the queue %s",
	    f->messages, f->active, f->deferred, f->hold, f->archived,
	    f->bytes, f->hot_segments, f->cold_segments, f->cold_messages,
	    f->cold_live, f->moved, f->cold_syncs, f->messages,
	    f->message_limit, f->bytes, f->size_limit, reached,
	    f->disk_full ? ", disk full" : "", f->batches, f->syncs,
	    f->commit_records, per_sync, client, inqueue);
}
