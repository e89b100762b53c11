/*
 * Recipients from message headers, cli/sendmail/rcptextract.c: the
 * header section, address lists with groups and display names, Bcc:
 * stripping, and the members that must be refused rather than handed
 * back.
 */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "cli/sendmail/rcptextract.h"

static int
parse(const char *value, struct rcptx_list *l, char *err, size_t errlen)
{
	return rcptx_parse_list(value, strlen(value), l, err, errlen);
}

static void
test_lists(void)
{
	struct rcptx_list l = { NULL, 0, 0 };
	char err[256];

	CU_ASSERT_EQUAL(parse("a@example.test, \"Bo B\" <b@example.test>, "
	    "team: c@[127.0.0.1], (x) d;, <@r1,@r2:e@example.test>, "
	    "a@example.test", &l, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(l.n, 5);
	CU_ASSERT_STRING_EQUAL(l.v[0], "a@example.test");
	CU_ASSERT_STRING_EQUAL(l.v[1], "b@example.test");
	CU_ASSERT_STRING_EQUAL(l.v[2], "c@[127.0.0.1]");
	CU_ASSERT_STRING_EQUAL(l.v[3], "d");
	CU_ASSERT_STRING_EQUAL(l.v[4], "e@example.test");
	rcptx_list_free(&l);

	CU_ASSERT_EQUAL(parse("ok@example.test, bad..dot@x, <open",
	    &l, err, sizeof(err)), 2);
	CU_ASSERT_EQUAL_FATAL(l.n, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad..dot@x"));
	rcptx_list_free(&l);
}

static void
test_header(void)
{
	const char msg[] = "From: x@example.test\r\n"
	    "To: a@example.test,\r\n b@example.test\r\n"
	    "BCC: hidden@example.test\r\n"
	    "Subject: s\r\n"
	    "\r\n"
	    "To: body@example.test\r\n";
	struct rcptx_list l = { NULL, 0, 0 };
	enum rcptx_end how;
	char buf[sizeof(msg)], err[256];
	size_t hlen, n;

	hlen = rcptx_header_len(msg, sizeof(msg) - 1, &how);
	CU_ASSERT_EQUAL(how, RCPTX_END_BLANK);
	CU_ASSERT_EQUAL(hlen, strstr(msg, "\r\n\r\n") + 2 - msg);
	CU_ASSERT_EQUAL(rcptx_extract(msg, hlen, &l, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(l.n, 3);
	CU_ASSERT_STRING_EQUAL(l.v[2], "hidden@example.test");
	rcptx_list_free(&l);

	memcpy(buf, msg, sizeof(msg));
	n = rcptx_strip_bcc(buf, sizeof(msg) - 1);
	CU_ASSERT_EQUAL(n, sizeof(msg) - 1 - strlen("BCC: "
	    "hidden@example.test\r\n"));
	buf[n] = '\0';
	CU_ASSERT_PTR_NULL(strstr(buf, "BCC"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "To: body@example.test"));
}

/*
 * A resent message goes to its Resent-To:, Resent-Cc: and Resent-Bcc:
 * recipients, not to the original To:, Cc: and Bcc:, and Resent-Bcc:
 * is removed like Bcc: (RFC 5322 section 3.6.6; sendmail and Postfix).
 */
static void
test_resent(void)
{
	const char msg[] = "To: first@example.test\r\n"
	    "Cc: copy@example.test\r\n"
	    "Resent-From: fwd@example.test\r\n"
	    "resent-to: again@example.test\r\n"
	    "Resent-Cc: c2@example.test\r\n"
	    "Resent-Bcc: b2@example.test\r\n"
	    "Bcc: old@example.test\r\n"
	    "\r\n";
	const char plain[] = "To: a@example.test\r\n"
	    "Resent-From: fwd@example.test\r\n"
	    "Resent-Date: Thu, 1 Jan 2015 00:00:00 +0000\r\n\r\n";
	struct rcptx_list l = { NULL, 0, 0 };
	char buf[sizeof(msg)], err[256];
	size_t n;

	CU_ASSERT_EQUAL(rcptx_has_resent(msg, sizeof(msg) - 1), 1);
	CU_ASSERT_EQUAL(rcptx_extract(msg, sizeof(msg) - 1, &l, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(l.n, 3);
	CU_ASSERT_STRING_EQUAL(l.v[0], "again@example.test");
	CU_ASSERT_STRING_EQUAL(l.v[1], "c2@example.test");
	CU_ASSERT_STRING_EQUAL(l.v[2], "b2@example.test");
	rcptx_list_free(&l);

	memcpy(buf, msg, sizeof(msg));
	n = rcptx_strip_bcc(buf, sizeof(msg) - 1);
	buf[n] = '\0';
	CU_ASSERT_PTR_NULL(strstr(buf, "b2@"));
	CU_ASSERT_PTR_NULL(strstr(buf, "old@"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "resent-to: again@"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "Resent-Cc: c2@"));

	/* Other Resent- fields alone do not switch. */
	CU_ASSERT_EQUAL(rcptx_has_resent(plain, sizeof(plain) - 1), 0);
	CU_ASSERT_EQUAL(rcptx_extract(plain, sizeof(plain) - 1, &l, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(l.n, 1);
	CU_ASSERT_STRING_EQUAL(l.v[0], "a@example.test");
	rcptx_list_free(&l);
}

/*
 * A bare CR or LF (or a NUL) inside a quoted string or domain literal
 * is no RFC 5322 text: the member is malformed, and no address holding
 * a line break may come back.  Found by fuzz_rcptextract.
 */
static void
test_line_break_in_quotes(void)
{
	static const char *bad[] = {
		"x@[12\n7.0.0.1]",
		"\"a\rb\"@example.test",
		"<\"a\nb\"@example.test>",
		"x@[1\r]",
	};
	const char hdr[] = "To: \"a\rb\"@example.test, ok@example.test\r\n";
	const char nul[] = "\"a\0b\"@example.test";
	struct rcptx_list l = { NULL, 0, 0 };
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(parse(bad[i], &l, err, sizeof(err)), 1);
		CU_ASSERT_EQUAL(l.n, 0);
		rcptx_list_free(&l);
	}
	CU_ASSERT_EQUAL(rcptx_parse_list(nul, sizeof(nul) - 1, &l, err,
	    sizeof(err)), 1);
	CU_ASSERT_EQUAL(l.n, 0);
	rcptx_list_free(&l);

	/* The other members of the field still count. */
	CU_ASSERT_EQUAL(rcptx_extract(hdr, sizeof(hdr) - 1, &l, err,
	    sizeof(err)), 1);
	CU_ASSERT_EQUAL_FATAL(l.n, 1);
	CU_ASSERT_STRING_EQUAL(l.v[0], "ok@example.test");
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "To: header: "));
	rcptx_list_free(&l);
}

static CU_TestInfo tests[] = {
	{ "address lists", test_lists },
	{ "header section, extract, strip Bcc", test_header },
	{ "Resent- recipients", test_resent },
	{ "line break inside quotes", test_line_break_in_quotes },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("rcptextract", tests)
