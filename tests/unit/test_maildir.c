/*
 * Maildir naming, trace lines and the CRLF to LF conversion of
 * deliver/maildir.c.
 */
#include <string.h>

#include "unit.h"
#include "deliver/maildir.h"

static void
test_unique_name(void)
{
	char out[MAILDIR_NAME_MAX];
	int n;

	n = maildir_unique_name(out, sizeof(out), 1764806400, 123456, 4242,
	    7, "mx.example.test");
	CU_ASSERT_EQUAL(n, (int)strlen(out));
	CU_ASSERT_STRING_EQUAL(out,
	    "1764806400.M123456P4242Q7.mx.example.test");
	/* Names differ by the counter alone within one microsecond. */
	n = maildir_unique_name(out, sizeof(out), 1764806400, 123456, 4242,
	    8, "mx.example.test");
	CU_ASSERT_STRING_EQUAL(out,
	    "1764806400.M123456P4242Q8.mx.example.test");
}

static void
test_unique_name_escapes_host(void)
{
	char out[MAILDIR_NAME_MAX];

	CU_ASSERT(maildir_unique_name(out, sizeof(out), 1, 0, 1, 0,
	    "a/b:c") > 0);
	CU_ASSERT_STRING_EQUAL(out, "1.M0P1Q0.a\\057b\\072c");
	CU_ASSERT(maildir_unique_name(out, sizeof(out), 1, 0, 1, 0, "") > 0);
	CU_ASSERT_STRING_EQUAL(out, "1.M0P1Q0.localhost");
}

static void
test_unique_name_bounds(void)
{
	char out[MAILDIR_NAME_MAX], small[16], host[400];

	CU_ASSERT_EQUAL(maildir_unique_name(out, sizeof(out), -1, 0, 1, 0,
	    "h"), -1);
	CU_ASSERT_EQUAL(maildir_unique_name(out, sizeof(out), 1, 1000000, 1,
	    0, "h"), -1);
	CU_ASSERT_EQUAL(maildir_unique_name(out, sizeof(out), 1, 0, 0, 0,
	    "h"), -1);
	CU_ASSERT_EQUAL(maildir_unique_name(small, sizeof(small), 1764806400,
	    0, 1, 0, "host.example"), -1);
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	CU_ASSERT_EQUAL(maildir_unique_name(out, sizeof(out), 1, 0, 1, 0,
	    host), -1);
}

static void
test_escape_host_small(void)
{
	char out[5];

	CU_ASSERT_EQUAL(maildir_escape_host("abcd", out, sizeof(out)), 4);
	CU_ASSERT_EQUAL(maildir_escape_host("abcde", out, sizeof(out)), -1);
	CU_ASSERT_EQUAL(maildir_escape_host("a/", out, sizeof(out)), -1);
}

static void
test_trace(void)
{
	char out[256];
	int n;

	n = maildir_trace(out, sizeof(out), "s@example.org",
	    "someone@example.test");
	CU_ASSERT_STRING_EQUAL(out, "Return-Path: <s@example.org>\n"
	    "Delivered-To: someone@example.test\n");
	CU_ASSERT_EQUAL(n, (int)strlen(out));
	CU_ASSERT(maildir_trace(out, sizeof(out), "", "a@b") > 0);
	CU_ASSERT_STRING_EQUAL(out, "Return-Path: <>\nDelivered-To: a@b\n");
	/* A line break inside an address would forge a header line. */
	CU_ASSERT_EQUAL(maildir_trace(out, sizeof(out), "a\nX: y", "a@b"),
	    -1);
	CU_ASSERT_EQUAL(maildir_trace(out, sizeof(out), "a@b", "a\r@b"), -1);
	CU_ASSERT_EQUAL(maildir_trace(out, 10, "a@b", "c@d"), -1);
}

/* Convert in, split at every position, and compare with want. */
static void
check_lf(const char *in, size_t len, const char *want, size_t wantlen)
{
	char out[256];
	struct lfconv c;
	size_t split, o;

	for (split = 0; split <= len; split++) {
		maildir_lf_init(&c);
		o = maildir_lf(&c, in, split, out);
		o += maildir_lf(&c, in + split, len - split, out + o);
		o += maildir_lf_end(&c, out + o);
		CU_ASSERT_EQUAL(o, wantlen);
		CU_ASSERT(o == wantlen && memcmp(out, want, o) == 0);
	}
}

static void
test_lf_conversion(void)
{
	check_lf("a\r\nb\r\n", 6, "a\nb\n", 4);
	check_lf("bare\rcr\r\n", 9, "bare\rcr\n", 8);
	check_lf("end\r", 4, "end\r", 4);
	check_lf("\r\r\n\n", 4, "\r\n\n", 3);
	check_lf("", 0, "", 0);
	check_lf("nul\0\r\n", 6, "nul\0\n", 5);
}

static CU_TestInfo tests[] = {
	{ "unique name", test_unique_name },
	{ "unique name escapes the host", test_unique_name_escapes_host },
	{ "unique name bounds", test_unique_name_bounds },
	{ "escape host, small buffer", test_escape_host_small },
	{ "trace lines", test_trace },
	{ "CRLF to LF across blocks", test_lf_conversion },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("maildir", tests)
