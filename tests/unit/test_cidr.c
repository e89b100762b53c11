/*
 * CIDR tables (util/cidr.c): IPv4, IPv6 in both spellings, IPv4-mapped
 * clients, first match, lists, and the errors of bad lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cidr.h"
#include "unit.h"

static char	tmpl[64];

/* Write text to a fresh temporary file; its path is in tmpl. */
static const char *
write_table(const char *text)
{
	int fd;

	fd = unit_tmpfile(tmpl, sizeof(tmpl), "cidr");
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(write(fd, text, strlen(text)) ==
	    (ssize_t)strlen(text));
	close(fd);
	return tmpl;
}

static struct cidr_table *
load_text(const char *text, char *err, size_t errlen)
{
	struct cidr_table *t;
	const char *path = write_table(text);

	err[0] = '\0';
	t = cidr_load(path, err, errlen);
	unlink(path);
	return t;
}

static void
test_ipv4(void)
{
	char err[512];
	struct cidr_table *t;

	t = load_text("# access\n"
	    "\n"
	    "192.0.2.0/24\tREJECT no thanks\n"
	    "198.51.100.7 OK\n"
	    "10.0.0.0/8   DUNNO\n"
	    "0.0.0.0/0 catch all\n", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "192.0.2.1"), "REJECT no thanks");
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "192.0.2.255"),
	    "REJECT no thanks");
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "198.51.100.7"), "OK");
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "198.51.100.8"), "catch all");
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "10.200.1.1"), "DUNNO");
	CU_ASSERT_PTR_NULL(cidr_lookup(t, "::1"));
	CU_ASSERT_PTR_NULL(cidr_lookup(t, "not an address"));
	CU_ASSERT_PTR_NULL(cidr_lookup(t, ""));
	cidr_free(t);
}

static void
test_first_match(void)
{
	char err[512];
	struct cidr_table *t;

	t = load_text("192.0.2.128/25 second\n"
	    "192.0.2.0/24 first\n"
	    "192.0.2.200 never\n", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "192.0.2.200"), "second");
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "192.0.2.1"), "first");
	cidr_free(t);

	/* odd prefix lengths split inside an octet */
	t = load_text("192.0.2.64/27 a\n192.0.3.0/23 b\n", err, sizeof(err));
	CU_ASSERT_PTR_NULL(t);		/* 192.0.3.0/23 has a host bit */
	cidr_free(t);
	t = load_text("192.0.2.64/27 a\n192.0.2.0/25 b\n", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "192.0.2.95"), "a");
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "192.0.2.96"), "b");
	CU_ASSERT_PTR_NULL(cidr_lookup(t, "192.0.2.128"));
	cidr_free(t);
}

static void
test_ipv6(void)
{
	char err[512];
	struct cidr_table *t;

	t = load_text("[::1]/128 loopback\n"
	    "2001:db8::/32 doc\n"
	    "[2001:db8:1::]/48 never: the /32 comes first\n"
	    "fe80::1 bare\n"
	    "[::]/0 any6\n", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "::1"), "loopback");
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "[::1]"), "loopback");
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "2001:db8:1::5"), "doc");
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "fe80::1"), "bare");
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "fe80::2"), "any6");
	CU_ASSERT_PTR_NULL(cidr_lookup(t, "127.0.0.1"));
	cidr_free(t);
}

static void
test_mapped(void)
{
	char err[512];
	struct cidr_table *t;

	t = load_text("127.0.0.0/8 v4\n::ffff:0:0/96 mapped6\n", err,
	    sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "::ffff:127.0.0.1"), "v4");
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "::FFFF:127.1.2.3"), "v4");
	/* not loopback: the IPv6 line sees the mapped form */
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "::ffff:192.0.2.1"), "mapped6");
	CU_ASSERT_PTR_NULL(cidr_lookup(t, "192.0.2.1"));
	cidr_free(t);
}

static void
test_continuation(void)
{
	char err[512];
	struct cidr_table *t;

	t = load_text("192.0.2.0/24 REJECT go\n  away now\n# end\n", err,
	    sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "192.0.2.9"),
	    "REJECT go away now");
	cidr_free(t);
}

static int
only_ok(const char *v, char *why, size_t whylen)
{
	if (strcmp(v, "OK") == 0)
		return 0;
	snprintf(why, whylen, "not OK: %s", v);
	return -1;
}

static void
test_check_values(void)
{
	char err[512], want[600];
	struct cidr_table *t;

	t = load_text("# c\n10.0.0.0/8 OK\n\n11.0.0.0/8 MAYBE\n", err,
	    sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(cidr_check_values(t, only_ok, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4: not OK: MAYBE", tmpl);
	CU_ASSERT_STRING_EQUAL(err, want);
	cidr_free(t);
}

struct bad_case {
	const char	*text;
	int		 line;
	const char	*reason;	/* a part of it */
};

static void
test_bad_lines(void)
{
	static const struct bad_case bad[] = {
		{ "192.0.2.1/24 x\n", 1, "host bits" },
		{ "# ok\n10.0.0.0/8 x\n192.0.2.0/33 x\n", 3, "prefix length" },
		{ "192.0.2.0/-1 x\n", 1, "prefix length" },
		{ "192.0.2.0/ x\n", 1, "prefix length" },
		{ "192.0.2.0/8x x\n", 1, "prefix length" },
		{ "2001:db8::1/32 x\n", 1, "host bits" },
		{ "[2001:db8::]/129 x\n", 1, "prefix length" },
		{ "192.0.2.300 x\n", 1, "bad address" },
		{ "[192.0.2.1] x\n", 1, "bad address" },
		{ "example.org x\n", 1, "bad address" },
		{ "192.0.2.0/24\n", 1, "missing value" },
		{ "10.0.0.0/8 a\n\n  \n192.0.2.0/24   \n", 4,
		    "missing value" },
		{ "  continued\n", 1, "continuation" },
	};
	char err[512], prefix[600];
	struct cidr_table *t;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = load_text(bad[i].text, err, sizeof(err));
		CU_ASSERT_PTR_NULL(t);
		cidr_free(t);
		snprintf(prefix, sizeof(prefix), "%s:%d: ", tmpl, bad[i].line);
		if (strncmp(err, prefix, strlen(prefix)) != 0 ||
		    strstr(err, bad[i].reason) == NULL)
			fprintf(stderr, "\n  case %zu: %s\n", i, err);
		CU_ASSERT_EQUAL(strncmp(err, prefix, strlen(prefix)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].reason));
	}

	t = cidr_load("/nonexistent/table", err, sizeof(err));
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/table: "));
}

static void
test_list(void)
{
	char err[512];
	struct cidr_table *t;

	t = cidr_from_list("127.0.0.0/8, [::1]/128 192.0.2.5,2001:db8::/32",
	    err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "127.0.0.2"), "1");
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "::1"), "1");
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "::ffff:127.0.0.1"), "1");
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "192.0.2.5"), "1");
	CU_ASSERT_STRING_EQUAL(cidr_lookup(t, "2001:db8:ffff::1"), "1");
	CU_ASSERT_PTR_NULL(cidr_lookup(t, "192.0.2.6"));
	CU_ASSERT_PTR_NULL(cidr_lookup(t, "::2"));
	cidr_free(t);

	t = cidr_from_list("", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_PTR_NULL(cidr_lookup(t, "127.0.0.1"));
	cidr_free(t);

	t = cidr_from_list("127.0.0.0/8, 10.1.2.3/8", err, sizeof(err));
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "10.1.2.3/8"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "10.0.0.0/8"));
	t = cidr_from_list("127.0.0.1/32, bogus", err, sizeof(err));
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "bogus"));
}

static CU_TestInfo tests[] = {
	{ "IPv4 lines", test_ipv4 },
	{ "first match wins", test_first_match },
	{ "IPv6 lines", test_ipv6 },
	{ "IPv4-mapped clients", test_mapped },
	{ "continuation lines", test_continuation },
	{ "value check", test_check_values },
	{ "bad lines", test_bad_lines },
	{ "lists", test_list },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("cidr", tests)
