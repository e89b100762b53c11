/*
 * Dot-stuffing of outgoing content, deliver/dotstuff.c: dots at the
 * start of lines, bare LF made CRLF, the end of data, and the state kept
 * across block boundaries.
 */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "deliver/dotstuff.h"

/* Stuff in as one block and end it; out holds the wire form. */
static size_t
stuff_all(const char *in, size_t len, char *out)
{
	struct dotstuff d;
	size_t n;

	dotstuff_init(&d);
	n = dotstuff(&d, in, len, out);
	n += dotstuff_end(&d, out + n);
	out[n] = '\0';
	return n;
}

static void
check(const char *in, const char *want)
{
	char out[256];
	size_t n;

	n = stuff_all(in, strlen(in), out);
	CU_ASSERT_EQUAL(n, strlen(want));
	CU_ASSERT_STRING_EQUAL(out, want);
}

static void
test_leading_dots(void)
{
	check(".hello\r\n", "..hello\r\n.\r\n");
	check("a\r\n.b\r\n", "a\r\n..b\r\n.\r\n");
	check(".\r\n", "..\r\n.\r\n");
	check("..\r\n", "...\r\n.\r\n");
	/* Only the first byte of a line matters. */
	check("a.b\r\n a.\r\n", "a.b\r\n a.\r\n.\r\n");
}

static void
test_line_endings(void)
{
	check("a\nb\n", "a\r\nb\r\n.\r\n");
	check("a\n.b\n", "a\r\n..b\r\n.\r\n");
	check("a\r\nb\r\n", "a\r\nb\r\n.\r\n");
	/* A CR alone starts no line. */
	check("a\r.b\r\n", "a\r.b\r\n.\r\n");
}

static void
test_end_of_data(void)
{
	check("", ".\r\n");
	check("abc", "abc\r\n.\r\n");
	check("abc\r\n", "abc\r\n.\r\n");
	check("\r\n", "\r\n.\r\n");
}

static void
test_blocks(void)
{
	const char *in = "x\r\n.one\r\n..two\nthree\r\n.\r\nend";
	char whole[256], part[256];
	struct dotstuff d;
	size_t n, m, i, len = strlen(in);

	n = stuff_all(in, len, whole);
	/* A byte at a time gives the same wire form. */
	dotstuff_init(&d);
	m = 0;
	for (i = 0; i < len; i++)
		m += dotstuff(&d, in + i, 1, part + m);
	m += dotstuff_end(&d, part + m);
	part[m] = '\0';
	CU_ASSERT_EQUAL(m, n);
	CU_ASSERT_STRING_EQUAL(part, whole);
	CU_ASSERT_STRING_EQUAL(whole, "x\r\n..one\r\n...two\r\nthree\r\n"
	    "..\r\nend\r\n.\r\n");

	/* A CRLF split between blocks stays one line ending. */
	dotstuff_init(&d);
	m = dotstuff(&d, "a\r", 2, part);
	m += dotstuff(&d, "\n.b", 3, part + m);
	part[m] = '\0';
	CU_ASSERT_STRING_EQUAL(part, "a\r\n..b");
}

static void
test_worst_case_and_bytes(void)
{
	const char in[] = ".\n.\n\x00\xff\n";
	char out[2 * sizeof(in)];
	struct dotstuff d;
	size_t n, len = sizeof(in) - 1;

	dotstuff_init(&d);
	n = dotstuff(&d, in, len, out);
	CU_ASSERT(n <= 2 * len);
	CU_ASSERT_EQUAL(n, 12);
	CU_ASSERT_EQUAL(memcmp(out, "..\r\n..\r\n\x00\xff\r\n", 12), 0);
}

static CU_TestInfo tests[] = {
	{ "leading dots", test_leading_dots },
	{ "line endings", test_line_endings },
	{ "end of data", test_end_of_data },
	{ "block boundaries", test_blocks },
	{ "worst case and raw bytes", test_worst_case_and_bytes },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("dotstuff", tests)
