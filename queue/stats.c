/*
 * The queue's own figures for bulwarkctl status: how long commits wait
 * for their sync, and how many share one.  Latencies go into a histogram
 * of 8 buckets per doubling, so a percentile is known to within about
 * 6% whatever the load, in constant memory.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "queue/iothread.h"
#include "queue/queue.h"

#define STATS_STEPS	8		/* buckets per doubling */
#define STATS_BUCKETS	(40 * STATS_STEPS)	/* up to 2^40 ns, 18 min */

static struct {
	uint64_t	hist[STATS_BUCKETS];
	uint64_t	count;
} lat;

uint64_t
stats_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Bucket: the top bit of ns, then the 3 bits below it. */
static size_t
bucket_of(uint64_t ns)
{
	unsigned msb;
	size_t b;

	if (ns < STATS_STEPS)
		return (size_t)ns;
	msb = 63 - (unsigned)__builtin_clzll(ns);
	b = (size_t)msb * STATS_STEPS +
	    (size_t)((ns >> (msb - 3)) & (STATS_STEPS - 1));
	return b >= STATS_BUCKETS ? STATS_BUCKETS - 1 : b;
}

/* The middle of bucket b, in nanoseconds. */
static double
bucket_mid(size_t b)
{
	size_t msb = b / STATS_STEPS, step = b % STATS_STEPS;

	if (msb < 3)
		return (double)b;
	return ((double)(STATS_STEPS + step) + 0.5) *
	    (double)(1ULL << (msb - 3));
}

void
stats_commit_latency(uint64_t start_ns)
{
	uint64_t now = stats_now_ns();

	lat.hist[bucket_of(now > start_ns ? now - start_ns : 0)]++;
	lat.count++;
}

/* The p-th percentile in milliseconds: the middle of its bucket. */
static double
percentile_ms(double p)
{
	uint64_t want, seen = 0;
	size_t i;

	if (lat.count == 0)
		return 0;
	want = (uint64_t)(p / 100 * (double)lat.count + 0.999999);
	if (want == 0)
		want = 1;
	for (i = 0; i < STATS_BUCKETS; i++) {
		seen += lat.hist[i];
		if (seen >= want)
			break;
	}
	return bucket_mid(i) / 1e6;
}

void
stats_format(char *out, size_t len, const struct queue_figures *f)
{
	double per_sync = f->commit_syncs ?
	    (double)f->commit_records / (double)f->commit_syncs : 0;

	snprintf(out, len,
	    "queue: messages %" PRIu64 ", active %" PRIu64 ", deferred %"
	    PRIu64 ", hold %" PRIu64 ", archived %" PRIu64 ", bytes %" PRIu64
	    "\n"
	    "queue log: hot segments %" PRIu64 ", cold segments %" PRIu64
	    ", cold messages %" PRIu64 ", cold live bytes %" PRIu64
	    ", moved %" PRIu64 "\n"
	    "queue quota: messages %" PRIu64 " of %" PRIu64 ", bytes %"
	    PRIu64 " of %" PRIu64 "%s\n"
	    "queue commits: batches %" PRIu64 ", syncs %" PRIu64
	    ", messages %" PRIu64 ", messages per sync %.1f"
	    ", commit latency p50 %.3f ms, p99 %.3f ms",
	    f->messages, f->active, f->deferred, f->hold, f->archived,
	    f->bytes, f->hot_segments, f->cold_segments, f->cold_messages,
	    f->cold_live, f->moved, f->messages, f->message_limit,
	    f->bytes, f->size_limit, f->disk_full ? ", disk full" : "",
	    f->batches, f->syncs, lat.count, per_sync, percentile_ms(50),
	    percentile_ms(99));
}
