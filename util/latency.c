/*
 * Latency histograms.  A bucket is the top set bit of the duration in
 * nanoseconds and the LATENCY_STEP_BITS bits below it; its middle stands
 * for every value in it.
 */
#include <time.h>

#include "util/latency.h"

uint64_t
latency_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t
bucket_of(uint64_t ns)
{
	unsigned msb;
	size_t b;

	if (ns < LATENCY_STEPS)
		return (size_t)ns;
	msb = 63 - (unsigned)__builtin_clzll(ns);
	b = (size_t)msb * LATENCY_STEPS + (size_t)((ns >>
	    (msb - LATENCY_STEP_BITS)) & (LATENCY_STEPS - 1));
	return b >= LATENCY_BUCKETS ? LATENCY_BUCKETS - 1 : b;
}

/* The middle of bucket b, in nanoseconds. */
static double
bucket_mid(size_t b)
{
	size_t msb = b / LATENCY_STEPS, step = b % LATENCY_STEPS;

	if (msb < LATENCY_STEP_BITS)
		return (double)b;
	return ((double)(LATENCY_STEPS + step) + 0.5) *
	    (double)(1ULL << (msb - LATENCY_STEP_BITS));
}

void
latency_add(struct latency *l, uint64_t ns)
{
	l->hist[bucket_of(ns)]++;
	l->count++;
}

double
latency_percentile_ms(const struct latency *l, double p)
{
	uint64_t want, seen = 0;
	size_t i;

	if (l->count == 0)
		return 0;
	want = (uint64_t)(p / 100 * (double)l->count + 0.999999);
	if (want == 0)
		want = 1;
	for (i = 0; i < LATENCY_BUCKETS; i++) {
		seen += l->hist[i];
		if (seen >= want)
			break;
	}
	return bucket_mid(i) / 1e6;
}
