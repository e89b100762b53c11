/*
 * Header checks, util/header.c: which field a header line is, the
 * Received: test of the hop limit, and the Date: text.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "unit.h"
#include "header.h"

static int
flag(const char *line)
{
	return header_line_flag(line, strlen(line));
}

static void
test_line_flag(void)
{
	CU_ASSERT_EQUAL(flag("Message-ID: <a@b>"), HDR_HAS_MESSAGE_ID);
	CU_ASSERT_EQUAL(flag("message-id:<a@b>"), HDR_HAS_MESSAGE_ID);
	CU_ASSERT_EQUAL(flag("Date : Thu, 1 Jan 2026"), HDR_HAS_DATE);
	CU_ASSERT_EQUAL(flag("FROM\t:x"), HDR_HAS_FROM);
	CU_ASSERT_EQUAL(flag("From x@y"), 0);
	CU_ASSERT_EQUAL(flag(" From: x"), 0);
	CU_ASSERT_EQUAL(flag("X-From: x"), 0);
	CU_ASSERT_EQUAL(flag("Fro: x"), 0);
	CU_ASSERT_EQUAL(flag(":"), 0);
	CU_ASSERT_EQUAL(flag(""), 0);
	/* The length counts, not a NUL. */
	CU_ASSERT_EQUAL(header_line_flag("Date: x", 4), 0);
	CU_ASSERT_EQUAL(header_line_flag("Date: x", 5), HDR_HAS_DATE);

	CU_ASSERT_TRUE(header_is_received("Received: by x", 14));
	CU_ASSERT_TRUE(header_is_received("RECEIVED :", 10));
	CU_ASSERT_FALSE(header_is_received("Received", 8));
	CU_ASSERT_FALSE(header_is_received("X-Received: y", 13));
}

static void
test_date(void)
{
	char out[64];

	CU_ASSERT_EQUAL(header_date(0, out, sizeof(out)), 31);
	CU_ASSERT_STRING_EQUAL(out, "Thu, 01 Jan 1970 00:00:00 +0000");
	CU_ASSERT_EQUAL(header_date(1796334000, out, sizeof(out)), 31);
	CU_ASSERT_STRING_EQUAL(out, "Thu, 03 Dec 2026 21:40:00 +0000");
	CU_ASSERT_EQUAL(header_date(0, out, 31), -1);
}

/*
 * A time whose year fits gmtime's int tm_year but not tm_year + 1900
 * (signed overflow, which the sanitizer build aborts on): the year is
 * printed in full.  Found while writing fuzz_header.
 */
static void
test_date_far_future(void)
{
	/* 23:59:59 on 31 Dec of year INT_MAX, plus a hundred years. */
	const time_t when = (time_t)67767976233532799LL +
	    (time_t)100 * 31556952;
	char out[64], want[32];
	struct tm tm;

	if (gmtime_r(&when, &tm) == NULL)
		return;		/* a libc with a narrower range */
	snprintf(want, sizeof(want), " %lld ", (long long)tm.tm_year + 1900);
	CU_ASSERT(header_date(when, out, sizeof(out)) > 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
}

static CU_TestInfo tests[] = {
	{ "header line flags", test_line_flag },
	{ "date text", test_date },
	{ "date past year INT_MAX", test_date_far_future },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("header", tests)
