/*
 * Latency histograms: a percentile is within a bucket's width (1/32 of
 * a doubling) of the true one, and the edges behave.
 */
#include "latency.h"
#include "unit.h"

/* Within 2% of want: half a bucket is at most 1/64 of a doubling. */
static int
near(double got, double want)
{
	double d = got > want ? got - want : want - got;

	return d <= want * 0.02;
}

static void
test_empty(void)
{
	struct latency l;

	memset(&l, 0, sizeof(l));
	CU_ASSERT_EQUAL(latency_percentile_ms(&l, 50), 0);
	CU_ASSERT_EQUAL(latency_percentile_ms(&l, 99), 0);
}

static void
test_uniform(void)
{
	struct latency l;
	uint64_t i;

	memset(&l, 0, sizeof(l));
	/* 1 ms to 1000 ms in steps of 1 ms. */
	for (i = 1; i <= 1000; i++)
		latency_add(&l, i * 1000000);
	CU_ASSERT_EQUAL(l.count, 1000);
	CU_ASSERT(near(latency_percentile_ms(&l, 50), 500));
	CU_ASSERT(near(latency_percentile_ms(&l, 99), 990));
	CU_ASSERT(near(latency_percentile_ms(&l, 100), 1000));
	CU_ASSERT(near(latency_percentile_ms(&l, 0.1), 1));
}

static void
test_tail(void)
{
	struct latency l;
	int i;

	memset(&l, 0, sizeof(l));
	/* 98 fast commits and 2 slow: p99 is a slow one, p50 fast. */
	for (i = 0; i < 98; i++)
		latency_add(&l, 2000000);
	latency_add(&l, 40000000);
	latency_add(&l, 40000000);
	CU_ASSERT(near(latency_percentile_ms(&l, 50), 2));
	CU_ASSERT(near(latency_percentile_ms(&l, 98), 2));
	CU_ASSERT(near(latency_percentile_ms(&l, 99), 40));
}

/* A floor of 6 ms: 5.9 and 6.2 ms fall on either side of it. */
static void
test_resolution(void)
{
	struct latency below, above;
	int i;

	memset(&below, 0, sizeof(below));
	memset(&above, 0, sizeof(above));
	for (i = 0; i < 100; i++) {
		latency_add(&below, 5900000);
		latency_add(&above, 6200000);
	}
	CU_ASSERT(latency_percentile_ms(&below, 99) < 6.0);
	CU_ASSERT(latency_percentile_ms(&above, 99) > 6.0);
}

static void
test_edges(void)
{
	struct latency l;

	memset(&l, 0, sizeof(l));
	latency_add(&l, 0);
	latency_add(&l, 7);
	latency_add(&l, UINT64_MAX);	/* beyond the last bucket */
	CU_ASSERT_EQUAL(l.count, 3);
	CU_ASSERT_EQUAL(l.hist[0], 1);
	CU_ASSERT_EQUAL(l.hist[7], 1);
	CU_ASSERT_EQUAL(l.hist[LATENCY_BUCKETS - 1], 1);
	CU_ASSERT(latency_percentile_ms(&l, 33) < 1e-6);
	/* The last bucket stands for about 2^40 ns, 18 minutes. */
	CU_ASSERT(latency_percentile_ms(&l, 100) > 1e6);
}

static void
test_monotonic_clock(void)
{
	uint64_t a = latency_now_ns(), b = latency_now_ns();

	CU_ASSERT(a > 0);
	CU_ASSERT(b >= a);
}

static CU_TestInfo tests[] = {
	{ "empty histogram", test_empty },
	{ "uniform percentiles", test_uniform },
	{ "a slow tail shows in p99", test_tail },
	{ "5.9 and 6.2 ms on either side of 6", test_resolution },
	{ "zero, tiny and huge values", test_edges },
	{ "clock", test_monotonic_clock },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("latency", tests)
