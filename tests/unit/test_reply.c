/*
 * The SMTP client's reply parser, deliver/reply.c: single and multi-line
 * replies, enhanced status codes, EHLO keyword lines, and the garbage
 * that must come out as REPLY_ERROR.
 */
#include <string.h>

#include "unit.h"
#include "deliver/reply.h"

static int
feed(struct smtp_reply *r, const char *line)
{
	return reply_line(r, line, strlen(line));
}

static void
test_single_line(void)
{
	struct smtp_reply r;

	reply_init(&r);
	CU_ASSERT_EQUAL(feed(&r, "220 mx.example.test ESMTP"), REPLY_DONE);
	CU_ASSERT_EQUAL(r.code, 220);
	CU_ASSERT_EQUAL(r.nlines, 1);
	CU_ASSERT(r.done);
	CU_ASSERT_STRING_EQUAL(r.text, "220 mx.example.test ESMTP");
	CU_ASSERT_EQUAL(r.textlen, strlen(r.text));
	CU_ASSERT_STRING_EQUAL(r.enh, "");
	CU_ASSERT_STRING_EQUAL(reply_dsn(&r), "2.0.0");

	/* A bare code is a whole reply. */
	reply_init(&r);
	CU_ASSERT_EQUAL(feed(&r, "354"), REPLY_DONE);
	CU_ASSERT_EQUAL(r.code, 354);
	CU_ASSERT_STRING_EQUAL(r.text, "354");
}

static void
test_multi_line(void)
{
	struct smtp_reply r;

	reply_init(&r);
	CU_ASSERT_EQUAL(feed(&r, "250-mx.example.test"), REPLY_MORE);
	CU_ASSERT_FALSE(r.done);
	CU_ASSERT_EQUAL(feed(&r, "250-PIPELINING"), REPLY_MORE);
	CU_ASSERT_EQUAL(feed(&r, "250 SIZE 1000"), REPLY_DONE);
	CU_ASSERT_EQUAL(r.code, 250);
	CU_ASSERT_EQUAL(r.nlines, 3);
	CU_ASSERT_STRING_EQUAL(r.text,
	    "250-mx.example.test PIPELINING SIZE 1000");
	/* Nothing may follow the last line. */
	CU_ASSERT_EQUAL(feed(&r, "250 again"), REPLY_ERROR);
}

static void
test_enhanced_codes(void)
{
	struct smtp_reply r;

	reply_init(&r);
	CU_ASSERT_EQUAL(feed(&r, "550 5.1.1 No such user here"), REPLY_DONE);
	CU_ASSERT_STRING_EQUAL(r.enh, "5.1.1");
	CU_ASSERT_STRING_EQUAL(reply_dsn(&r), "5.1.1");

	reply_init(&r);
	CU_ASSERT_EQUAL(feed(&r, "451 4.3.0"), REPLY_DONE);
	CU_ASSERT_STRING_EQUAL(r.enh, "4.3.0");

	reply_init(&r);
	CU_ASSERT_EQUAL(feed(&r, "250 2.123.456 Ok"), REPLY_DONE);
	CU_ASSERT_STRING_EQUAL(r.enh, "2.123.456");

	/* The class must match the reply code. */
	reply_init(&r);
	CU_ASSERT_EQUAL(feed(&r, "550 4.1.1 odd"), REPLY_DONE);
	CU_ASSERT_STRING_EQUAL(r.enh, "");
	CU_ASSERT_STRING_EQUAL(reply_dsn(&r), "5.0.0");

	/* Four digits, a missing part, text glued on: no code. */
	reply_init(&r);
	feed(&r, "550 5.1234.1 x");
	CU_ASSERT_STRING_EQUAL(r.enh, "");
	reply_init(&r);
	feed(&r, "550 5.1 x");
	CU_ASSERT_STRING_EQUAL(r.enh, "");
	reply_init(&r);
	feed(&r, "250 2.0.0Ok");
	CU_ASSERT_STRING_EQUAL(r.enh, "");

	/* The first enhanced code of a multi-line reply counts. */
	reply_init(&r);
	CU_ASSERT_EQUAL(feed(&r, "452-4.5.3 Too many"), REPLY_MORE);
	CU_ASSERT_EQUAL(feed(&r, "452 4.2.2 Over quota"), REPLY_DONE);
	CU_ASSERT_STRING_EQUAL(r.enh, "4.5.3");
	CU_ASSERT_STRING_EQUAL(r.text, "452-4.5.3 Too many 4.2.2 Over quota");
}

static void
test_dsn_by_class(void)
{
	struct smtp_reply r;

	reply_init(&r);
	feed(&r, "421 closing");
	CU_ASSERT_STRING_EQUAL(reply_dsn(&r), "4.0.0");
	reply_init(&r);
	feed(&r, "554 no");
	CU_ASSERT_STRING_EQUAL(reply_dsn(&r), "5.0.0");
	reply_init(&r);
	feed(&r, "354 go ahead");
	CU_ASSERT_STRING_EQUAL(reply_dsn(&r), "4.5.0");
	reply_init(&r);
	CU_ASSERT_STRING_EQUAL(reply_dsn(&r), "4.5.0");
}

static void
test_garbage(void)
{
	static const char *bad[] = {
		"", "22", "hello world", "600 too high", "199 too low",
		"2a0 letters", "250x no separator", "250\tTab", "-250 x",
		NULL
	};
	struct smtp_reply r;
	int i;

	for (i = 0; bad[i] != NULL; i++) {
		reply_init(&r);
		CU_ASSERT_EQUAL(feed(&r, bad[i]), REPLY_ERROR);
	}
	/* Every line of one reply has the same code. */
	reply_init(&r);
	CU_ASSERT_EQUAL(feed(&r, "250-first"), REPLY_MORE);
	CU_ASSERT_EQUAL(feed(&r, "251 second"), REPLY_ERROR);
}

static void
test_limits(void)
{
	char line[REPLY_LINE_MAX + 2];
	struct smtp_reply r;
	size_t i;

	memset(line, 'x', sizeof(line));
	memcpy(line, "250 ", 4);
	reply_init(&r);
	CU_ASSERT_EQUAL(reply_line(&r, line, REPLY_LINE_MAX), REPLY_DONE);
	/* The text is cut, NUL-terminated, at the buffer's end. */
	CU_ASSERT_EQUAL(r.textlen, REPLY_TEXT_MAX - 1);
	CU_ASSERT_EQUAL(strlen(r.text), REPLY_TEXT_MAX - 1);
	reply_init(&r);
	CU_ASSERT_EQUAL(reply_line(&r, line, REPLY_LINE_MAX + 1),
	    REPLY_ERROR);

	reply_init(&r);
	for (i = 0; i < REPLY_LINES_MAX; i++)
		CU_ASSERT_EQUAL(feed(&r, "250-more"), REPLY_MORE);
	CU_ASSERT_EQUAL(feed(&r, "250 last"), REPLY_ERROR);
}

static void
test_text_is_printable(void)
{
	static const char line[] = "550 a\tb\x01\xff\0z";
	struct smtp_reply r;

	reply_init(&r);
	CU_ASSERT_EQUAL(reply_line(&r, line, sizeof(line) - 1), REPLY_DONE);
	CU_ASSERT_STRING_EQUAL(r.text, "550 a b???z");
}

static void
test_parse_buffer(void)
{
	const char *buf = "250-a\r\n250 b\r\n221 next";
	char big[REPLY_LINE_MAX + 8];
	struct smtp_reply r;
	size_t used;

	reply_init(&r);
	CU_ASSERT_EQUAL(reply_parse(&r, buf, strlen(buf), &used),
	    REPLY_DONE);
	CU_ASSERT_EQUAL(used, 14);
	CU_ASSERT_STRING_EQUAL(r.text, "250-a b");

	/* A reply cut short waits; only whole lines are used. */
	reply_init(&r);
	CU_ASSERT_EQUAL(reply_parse(&r, buf, 12, &used), REPLY_MORE);
	CU_ASSERT_EQUAL(used, 7);
	CU_ASSERT_EQUAL(reply_parse(&r, buf + used, strlen(buf) - used,
	    &used), REPLY_DONE);
	CU_ASSERT_EQUAL(used, 7);

	/* Bare LF ends a line too. */
	reply_init(&r);
	CU_ASSERT_EQUAL(reply_parse(&r, "220 hi\n", 7, &used), REPLY_DONE);
	CU_ASSERT_STRING_EQUAL(r.text, "220 hi");

	/* A line without an end that is already too long is refused. */
	memset(big, 'x', sizeof(big));
	memcpy(big, "250 ", 4);
	reply_init(&r);
	CU_ASSERT_EQUAL(reply_parse(&r, big, sizeof(big), &used),
	    REPLY_ERROR);
	reply_init(&r);
	CU_ASSERT_EQUAL(reply_parse(&r, "junk\r\n", 6, &used), REPLY_ERROR);
}

static int
ehlo(const char *line, unsigned *ext, uint64_t *size)
{
	return reply_ehlo_line(line, strlen(line), ext, size);
}

static void
test_ehlo_lines(void)
{
	unsigned ext = 0;
	uint64_t size = 99;

	CU_ASSERT_EQUAL(ehlo("250-PIPELINING", &ext, &size), 0);
	CU_ASSERT_EQUAL(ext, EHLO_PIPELINING);
	CU_ASSERT_EQUAL(ehlo("250-8bitmime", &ext, &size), 0);
	CU_ASSERT_EQUAL(ehlo("250 EnhancedStatusCodes", &ext, &size), 0);
	CU_ASSERT_EQUAL(ext, EHLO_PIPELINING | EHLO_8BITMIME |
	    EHLO_ENHANCEDSTATUS);
	CU_ASSERT_EQUAL(size, 99);

	CU_ASSERT_EQUAL(ehlo("250-SIZE 10240000", &ext, &size), 0);
	CU_ASSERT(ext & EHLO_SIZE);
	CU_ASSERT_EQUAL(size, 10240000);
	CU_ASSERT_EQUAL(ehlo("250-SIZE", &ext, &size), 0);
	CU_ASSERT_EQUAL(size, 0);
	size = 5;
	CU_ASSERT_EQUAL(ehlo("250-SIZE 12abc", &ext, &size), 0);
	CU_ASSERT_EQUAL(size, 0);
	size = 5;
	CU_ASSERT_EQUAL(ehlo("250-SIZE 99999999999999999999999", &ext,
	    &size), 0);
	CU_ASSERT_EQUAL(size, 0);

	/* Look-alikes and other keywords add nothing. */
	ext = 0;
	CU_ASSERT_EQUAL(ehlo("250-PIPELININGX", &ext, &size), 0);
	CU_ASSERT_EQUAL(ehlo("250-AUTH PLAIN LOGIN", &ext, &size), 0);
	CU_ASSERT_EQUAL(ehlo("250-SIZEX 10", &ext, &size), 0);
	CU_ASSERT_EQUAL(ext, 0);
	CU_ASSERT_EQUAL(ehlo("250-", &ext, &size), -1);
	CU_ASSERT_EQUAL(ehlo("250", &ext, &size), -1);
}

static CU_TestInfo tests[] = {
	{ "single line", test_single_line },
	{ "multi-line", test_multi_line },
	{ "enhanced status codes", test_enhanced_codes },
	{ "dsn by class", test_dsn_by_class },
	{ "garbage is an error", test_garbage },
	{ "line and count limits", test_limits },
	{ "text is printable", test_text_is_printable },
	{ "parse a buffer", test_parse_buffer },
	{ "EHLO keyword lines", test_ehlo_lines },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("reply", tests)
