/*
 * Queue ids (util/qid.c): strictly increasing, even across qid_seen()
 * with ids from the future; 12 Crockford base32 characters that sort as
 * strings in arrival order; a strict parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qid.h"
#include "unit.h"

#define NIDS	20000

static int
cmp_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void
test_monotonic(void)
{
	struct qid_gen g = { 0 };
	uint64_t prev = 0, id;
	int i, bad = 0;

	for (i = 0; i < NIDS; i++) {
		id = qid_next(&g);
		if (id <= prev)
			bad++;
		prev = id;
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(prev < (UINT64_C(1) << 60));
}

static void
test_clock_behind(void)
{
	/* Ids seen in recovery lie an hour ahead of the clock. */
	uint64_t ahead = (UINT64_C(3600) * 1000000) << 10;
	struct qid_gen g = { 0 };
	uint64_t first, id;

	first = qid_next(&g);
	qid_seen(&g, first + ahead);
	id = qid_next(&g);
	CU_ASSERT_EQUAL(id, first + ahead + 1);
	CU_ASSERT_EQUAL(qid_next(&g), id + 1);
	/* an older id seen changes nothing */
	qid_seen(&g, first);
	CU_ASSERT_EQUAL(qid_next(&g), id + 2);
}

static void
test_time_bits(void)
{
	struct qid_gen g = { 0 };
	uint64_t id = qid_next(&g), usec;
	time_t now = time(NULL);

	/* The high 50 bits are microseconds since 2024-01-01. */
	usec = id >> 10;
	CU_ASSERT((int64_t)(usec / 1000000) + 1704067200 >= now - 5);
	CU_ASSERT((int64_t)(usec / 1000000) + 1704067200 <= now + 5);
}

static void
test_format(void)
{
	char out[QID_LEN + 1];
	uint64_t id;

	qid_format(0, out);
	CU_ASSERT_STRING_EQUAL(out, "000000000000");
	qid_format((UINT64_C(1) << 60) - 1, out);
	CU_ASSERT_STRING_EQUAL(out, "ZZZZZZZZZZZZ");
	qid_format(31, out);
	CU_ASSERT_STRING_EQUAL(out, "00000000000Z");
	qid_format(32, out);
	CU_ASSERT_STRING_EQUAL(out, "000000000010");
	/* Crockford: no I, L, O, U */
	qid_format(UINT64_C(0x123456789abcdef), out);
	CU_ASSERT_EQUAL(strlen(out), QID_LEN);
	CU_ASSERT_PTR_NULL(strpbrk(out, "ILOU"));
	CU_ASSERT_EQUAL(qid_parse(out, &id), 0);
	CU_ASSERT_EQUAL(id, UINT64_C(0x123456789abcdef));
}

static void
test_roundtrip(void)
{
	struct qid_gen g = { 0 };
	char out[QID_LEN + 1];
	uint64_t id, back;
	int i;

	for (i = 0; i < 1000; i++) {
		id = qid_next(&g);
		qid_format(id, out);
		CU_ASSERT_EQUAL(strlen(out), QID_LEN);
		back = 0;
		CU_ASSERT_EQUAL(qid_parse(out, &back), 0);
		CU_ASSERT_EQUAL(back, id);
	}
}

static void
test_parse_strict(void)
{
	static const char *bad[] = {
		"", "0", "00000000000", "0000000000000", "00000000000a",
		"0000000000I0", "0000000000L0", "0000000000O0", "0000000000U0",
		"000000 00000", "00000000000-", "zzzzzzzzzzzz",
		"00000000000\n",
	};
	uint64_t id = 42;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(qid_parse(bad[i], &id), -1);
		CU_ASSERT_EQUAL(id, 42);
	}
	CU_ASSERT_EQUAL(qid_parse("0123456789AB", &id), 0);
	CU_ASSERT_EQUAL(qid_parse("CDEFGHJKMNPQ", &id), 0);
	CU_ASSERT_EQUAL(qid_parse("RSTVWXYZ0000", &id), 0);
}

static void
test_sort_order(void)
{
	static char ids[NIDS][QID_LEN + 1];
	static char sorted[NIDS][QID_LEN + 1];
	struct qid_gen g = { 0 };
	int i, bad = 0;

	/* Jump across the 1024-per-microsecond counter now and then. */
	for (i = 0; i < NIDS; i++) {
		if (i % 5000 == 4999)
			qid_seen(&g, g.last + 1023);
		qid_format(qid_next(&g), ids[i]);
	}
	memcpy(sorted, ids, sizeof(ids));
	qsort(sorted, NIDS, sizeof(sorted[0]), cmp_str);
	for (i = 0; i < NIDS; i++)
		if (strcmp(sorted[i], ids[i]) != 0)
			bad++;
	CU_ASSERT_EQUAL(bad, 0);
	for (i = 1; i < NIDS; i++)
		if (strcmp(ids[i - 1], ids[i]) >= 0)
			bad++;
	CU_ASSERT_EQUAL(bad, 0);
}

static CU_TestInfo tests[] = {
	{ "strictly increasing", test_monotonic },
	{ "clock behind seen ids", test_clock_behind },
	{ "time in the high bits", test_time_bits },
	{ "format", test_format },
	{ "format and parse round trip", test_roundtrip },
	{ "parse is strict", test_parse_strict },
	{ "string order is arrival order", test_sort_order },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("qid", tests)
