#ifndef BULWARK_LATENCY_H
#define BULWARK_LATENCY_H

#include <stddef.h>
#include <stdint.h>

/*
 * A latency histogram: 32 buckets per doubling of nanoseconds, so a
 * percentile is known to within about 1.5% at any load, in fixed memory
 * (10 KiB): fine enough to tell 6.0 ms from 6.2 ms.
 */
#define LATENCY_STEP_BITS	5
#define LATENCY_STEPS		(1u << LATENCY_STEP_BITS)
#define LATENCY_BUCKETS		(40 * LATENCY_STEPS)	/* up to 2^40 ns */

struct latency {
	uint64_t	hist[LATENCY_BUCKETS];
	uint64_t	count;
};

uint64_t	 latency_now_ns(void);
void		 latency_add(struct latency *, uint64_t ns);
/* The p-th percentile (0 < p <= 100) in milliseconds, 0 when empty. */
double		 latency_percentile_ms(const struct latency *, double p);

#endif
