/*
 * The DATA state machine: only CRLF.CRLF ends the data, dot-stuffing is
 * undone, bare line endings are flagged or normalised, NUL, long lines,
 * size and hop count refuse the message, the header section's end is
 * reported where headers can go, and the same input gives the same
 * output however it is split.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "header.h"
#include "smtpd/data.h"

#define OUT_MAX	(256 * 1024)

struct run {
	unsigned char	 out[OUT_MAX];
	size_t		 outlen;
	size_t		 used;		/* input bytes consumed */
	int		 done;
	int		 flags;
	int		 received;
	int		 hdr_present;
	int		 hdr_events;
	enum data_hdr_end hdr_end;
	size_t		 hdr_off;
	uint64_t	 size;
};

static struct run r1, r2;

static const struct data_limits deflim = { 0, 0, 100, 0, 0 };

static uint32_t rng_state = 4711;

static uint32_t
rng(void)
{
	rng_state = rng_state * 1103515245 + 12345;
	return rng_state >> 8;
}

/*
 * Feed in in pieces of step bytes (0: all at once, -1: random pieces),
 * into an output of cap bytes that is emptied into r->out whenever
 * data_feed() wants room.
 */
static void
feed(struct run *r, const struct data_limits *lim, const void *in,
    size_t len, long step, size_t cap)
{
	static unsigned char out[OUT_MAX];
	const unsigned char *p = in;
	struct data_sm sm;
	size_t off = 0, olen = 0, n, used;

	memset(r, 0, sizeof(*r));
	data_init(&sm, lim);
	if (cap == 0 || cap > OUT_MAX)
		cap = OUT_MAX;
	while (off < len && !sm.done) {
		if (step == 0)
			n = len - off;
		else if (step < 0)
			n = 1 + rng() % 97;
		else
			n = (size_t)step;
		if (n > len - off)
			n = len - off;
		used = data_feed(&sm, p + off, n, out, cap, &olen);
		if (sm.hdr_end != DATA_HDR_NONE) {
			r->hdr_events++;
			r->hdr_end = sm.hdr_end;
			r->hdr_off = r->outlen + sm.hdr_off;
		}
		off += used;
		/* Empty the output as the session sends a chunk. */
		if (cap - olen < DATA_OUT_SLACK || used < n || sm.done) {
			CU_ASSERT_FATAL(r->outlen + olen <= OUT_MAX);
			memcpy(r->out + r->outlen, out, olen);
			r->outlen += olen;
			olen = 0;
		}
		if (used == 0 && !sm.done && sm.hdr_end == DATA_HDR_NONE &&
		    cap - olen >= DATA_OUT_SLACK) {
			CU_FAIL("data_feed took nothing");
			break;
		}
	}
	memcpy(r->out + r->outlen, out, olen);
	r->outlen += olen;
	r->used = off;
	r->done = sm.done;
	r->flags = sm.flags;
	r->received = sm.received;
	r->hdr_present = sm.hdr_present;
	r->size = sm.size;
}

static void
feed_str(struct run *r, const struct data_limits *lim, const char *s)
{
	feed(r, lim, s, strlen(s), 0, 0);
}

static int
out_is(const struct run *r, const void *want, size_t len)
{
	return r->outlen == len && memcmp(r->out, want, len) == 0;
}

#define OUT_IS(r, lit)	out_is((r), (lit), sizeof(lit) - 1)

static void
same_runs(const struct run *a, const struct run *b)
{
	CU_ASSERT_EQUAL(a->outlen, b->outlen);
	CU_ASSERT(a->outlen == b->outlen &&
	    memcmp(a->out, b->out, a->outlen) == 0);
	CU_ASSERT_EQUAL(a->used, b->used);
	CU_ASSERT_EQUAL(a->done, b->done);
	CU_ASSERT_EQUAL(a->flags, b->flags);
	CU_ASSERT_EQUAL(a->received, b->received);
	CU_ASSERT_EQUAL(a->hdr_present, b->hdr_present);
	CU_ASSERT_EQUAL(a->hdr_events, b->hdr_events);
	CU_ASSERT_EQUAL(a->hdr_end, b->hdr_end);
	CU_ASSERT_EQUAL(a->hdr_off, b->hdr_off);
	CU_ASSERT_EQUAL(a->size, b->size);
}

/* The refusal at the end of data for the whole of msg. */
static const char *
refusal_of(const struct data_limits *lim, const void *msg, size_t len)
{
	static struct data_sm sm;
	static unsigned char out[OUT_MAX];
	const unsigned char *p = msg;
	size_t off = 0, olen;

	data_init(&sm, lim);
	while (off < len && !sm.done) {
		olen = 0;
		off += data_feed(&sm, p + off, len - off, out, sizeof(out),
		    &olen);
	}
	return data_refusal(&sm);
}

static void
test_simple_end(void)
{
	static const char msg[] = "Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n";

	feed_str(&r1, &deflim, msg);
	CU_ASSERT(r1.done);
	CU_ASSERT_EQUAL(r1.used, strlen(msg) - strlen("QUIT\r\n"));
	CU_ASSERT(OUT_IS(&r1, "Subject: hi\r\n\r\nbody\r\n"));
	CU_ASSERT_EQUAL(r1.flags, 0);
	CU_ASSERT_PTR_NULL(data_refusal(&(struct data_sm){ .flags = 0 }));
	CU_ASSERT_EQUAL(r1.size, r1.outlen);

	/* A first line of "." ends an empty message. */
	feed_str(&r1, &deflim, ".\r\nMAIL");
	CU_ASSERT(r1.done);
	CU_ASSERT_EQUAL(r1.used, 3);
	CU_ASSERT_EQUAL(r1.outlen, 0);
	CU_ASSERT_EQUAL(r1.hdr_end, DATA_HDR_EOD);
	CU_ASSERT_EQUAL(r1.hdr_off, 0);

	/* Not ended yet. */
	feed_str(&r1, &deflim, "Subject: hi\r\n\r\nbody\r\n.");
	CU_ASSERT(!r1.done);
	feed_str(&r1, &deflim, "Subject: hi\r\n\r\nbody\r\n.\r");
	CU_ASSERT(!r1.done);
}

static void
test_dot_stuffing(void)
{
	feed_str(&r1, &deflim, "\r\n..\r\n..x\r\n.y\r\n...\r\na.b\r\n.\r\n");
	CU_ASSERT(r1.done);
	CU_ASSERT(OUT_IS(&r1, "\r\n.\r\n.x\r\ny\r\n..\r\na.b\r\n"));
	CU_ASSERT_EQUAL(r1.flags, 0);
}

/* Each of these is no end of data, in either bare_lf mode. */
static void
test_bad_endings(void)
{
	static const struct {
		const char	*name;
		const char	*bytes;
		size_t		 len;
		int		 flags;		/* with bare_lf = reject */
	} endings[] = {
		{ "LF.LF", "\n.\n", 3, DATA_F_BARE },
		{ "LF.CRLF", "\n.\r\n", 4, DATA_F_BARE },
		{ "CRLF.LF", "\r\n.\n", 4, DATA_F_BARE },
		{ "CR.CR", "\r.\r", 3, DATA_F_BARE },
		{ "CR.CRLF", "\r.\r\n", 4, DATA_F_BARE },
		{ "CRLF.CR", "\r\n.\r", 4, DATA_F_BARE },
		{ "CRLF NUL.CRLF", "\r\n\0.\r\n", 6, DATA_F_NUL },
	};
	static const char head[] = "Subject: e\r\n\r\nbefore";
	static const char tail[] = "after\r\n.\r\nNEXT";
	struct data_limits lim = deflim;
	unsigned char in[128];
	size_t i, len;
	int mode;

	for (mode = 0; mode < 2; mode++) {
		lim.normalize = mode;
		for (i = 0; i < sizeof(endings) / sizeof(endings[0]); i++) {
			len = 0;
			memcpy(in, head, sizeof(head) - 1);
			len += sizeof(head) - 1;
			memcpy(in + len, endings[i].bytes, endings[i].len);
			len += endings[i].len;
			memcpy(in + len, tail, sizeof(tail) - 1);
			len += sizeof(tail) - 1;

			feed(&r1, &lim, in, len, 0, 0);
			CU_ASSERT(r1.done);
			/* The end is the real CRLF.CRLF, nothing earlier. */
			CU_ASSERT_EQUAL(r1.used, len - 4);
			if (endings[i].flags == DATA_F_NUL) {
				CU_ASSERT(OUT_IS(&r1, "Subject: e\r\n\r\n"
				    "before\r\n\0.\r\nafter\r\n"));
			} else {
				CU_ASSERT(OUT_IS(&r1, "Subject: e\r\n\r\n"
				    "before\r\n.\r\nafter\r\n"));
			}
			if (mode == 1 && endings[i].flags == DATA_F_BARE) {
				/* Normalised (the output above): no refusal. */
				CU_ASSERT_EQUAL(r1.flags, 0);
				CU_ASSERT_PTR_NULL(refusal_of(&lim, in, len));
			} else {
				CU_ASSERT_EQUAL(r1.flags, endings[i].flags);
			}

			/* One byte at a time: the same. */
			feed(&r2, &lim, in, len, 1, 0);
			same_runs(&r1, &r2);
		}
	}
}

static void
test_bare_lf(void)
{
	static const char msg[] = "Subject: bare\n\nline one\nline two\r\n"
	    ".\r\n";
	struct data_limits lim = deflim;
	const char *refusal;

	feed_str(&r1, &lim, msg);
	CU_ASSERT(r1.done);
	CU_ASSERT_EQUAL(r1.flags, DATA_F_BARE);
	CU_ASSERT(OUT_IS(&r1, "Subject: bare\r\n\r\nline one\r\nline two"
	    "\r\n"));
	/* The refusal of the session: 5xx with an enhanced code. */
	refusal = refusal_of(&lim, msg, strlen(msg));
	CU_ASSERT_PTR_NOT_NULL_FATAL(refusal);
	CU_ASSERT_EQUAL(strncmp(refusal, "550 5.6.0 ", 10), 0);

	lim.normalize = 1;
	feed_str(&r2, &lim, msg);
	CU_ASSERT(r2.done);
	CU_ASSERT_EQUAL(r2.flags, 0);
	CU_ASSERT_PTR_NULL(refusal_of(&lim, msg, strlen(msg)));
	CU_ASSERT(OUT_IS(&r2, "Subject: bare\r\n\r\nline one\r\nline two"
	    "\r\n"));
	/* Normalised, the header section still ends at the empty line. */
	CU_ASSERT_EQUAL(r2.hdr_end, DATA_HDR_BLANK);
	CU_ASSERT_EQUAL(r2.hdr_off, strlen("Subject: bare\r\n"));
}

/*
 * Local submission: a CR not followed by LF is line text, as in cron
 * output with progress meters; it ends neither a line nor the data.
 */
static void
test_cr_text(void)
{
	static const char msg[] = "Subject: cron\r\n\r\n"
	    "10% [=>]\r 50% [==>]\r100%\r\n"
	    "x\r.\r\n..\rdot\r\n.\ry\r\nz\r\r\n.\r\n";
	static const char want[] = "Subject: cron\r\n\r\n"
	    "10% [=>]\r 50% [==>]\r100%\r\n"
	    "x\r.\r\n.\rdot\r\n\ry\r\nz\r\r\n";
	static const char endings[] = "Subject: e\r\n\r\nbefore\r.\r"
	    "after\r.\r\nmore\r\n.\rlast\r\n.\r\nNEXT";
	struct data_limits lim = deflim;

	lim.cr_text = 1;
	feed_str(&r1, &lim, msg);
	CU_ASSERT(r1.done);
	CU_ASSERT_EQUAL(r1.used, strlen(msg));
	CU_ASSERT_EQUAL(r1.flags, 0);
	CU_ASSERT(out_is(&r1, want, strlen(want)));
	CU_ASSERT_PTR_NULL(refusal_of(&lim, msg, strlen(msg)));
	feed(&r2, &lim, msg, strlen(msg), 1, 0);
	same_runs(&r1, &r2);

	/* No CR ending ends the data: only the real CRLF.CRLF does. */
	feed_str(&r1, &lim, endings);
	CU_ASSERT(r1.done);
	CU_ASSERT_EQUAL(r1.used, strlen(endings) - 4);
	CU_ASSERT(OUT_IS(&r1, "Subject: e\r\n\r\nbefore\r.\rafter\r.\r\n"
	    "more\r\n\rlast\r\n"));
	CU_ASSERT_EQUAL(r1.flags, 0);

	/* A bare LF is still a bare line ending. */
	feed_str(&r1, &lim, "Subject: lf\r\n\r\na\nb\r\n.\r\n");
	CU_ASSERT_EQUAL(r1.flags, DATA_F_BARE);

	/* Network sessions keep the rule: the same message is refused. */
	feed_str(&r1, &deflim, msg);
	CU_ASSERT(r1.done);
	CU_ASSERT_EQUAL(r1.flags, DATA_F_BARE);
	CU_ASSERT_PTR_NOT_NULL(refusal_of(&deflim, msg, strlen(msg)));
}

static void
test_nul(void)
{
	static const char msg[] = "Subject: n\r\n\r\na\0b\r\n.\r\n";
	const char *refusal;

	feed(&r1, &deflim, msg, sizeof(msg) - 1, 0, 0);
	CU_ASSERT(r1.done);
	CU_ASSERT_EQUAL(r1.flags, DATA_F_NUL);
	CU_ASSERT(OUT_IS(&r1, "Subject: n\r\n\r\na\0b\r\n"));
	refusal = refusal_of(&deflim, msg, sizeof(msg) - 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(refusal);
	CU_ASSERT_EQUAL(refusal[0], '5');
}

static void
test_long_lines(void)
{
	struct data_limits lim = deflim;
	static char msg[5000];
	const char *refusal;
	size_t n;

	lim.line_limit = 2000;
	/* 2000 octets pass; longer than 1000 is fine below the limit. */
	memcpy(msg, "\r\n", 2);
	memset(msg + 2, 'x', 2000);
	memcpy(msg + 2002, "\r\n.\r\n", 5);
	n = 2007;
	feed(&r1, &lim, msg, n, 0, 0);
	CU_ASSERT(r1.done);
	CU_ASSERT_EQUAL(r1.flags, 0);
	CU_ASSERT_EQUAL(r1.outlen, 2004);

	/* One more octet: refused at the end with 552 5.3.4. */
	memset(msg + 2, 'x', 2001);
	memcpy(msg + 2003, "\r\n.\r\n", 5);
	n = 2008;
	feed(&r1, &lim, msg, n, 0, 0);
	CU_ASSERT(r1.done);
	CU_ASSERT_EQUAL(r1.flags, DATA_F_LONGLINE);
	CU_ASSERT_EQUAL(r1.used, n);
	feed(&r2, &lim, msg, n, 1, 0);
	same_runs(&r1, &r2);
	refusal = refusal_of(&lim, msg, n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(refusal);
	CU_ASSERT_EQUAL(strncmp(refusal, "552 5.3.4 ", 10), 0);

	/* No limit: anything goes. */
	lim.line_limit = 0;
	feed(&r1, &lim, msg, n, 0, 0);
	CU_ASSERT_EQUAL(r1.flags, 0);
}

static void
test_size_limit(void)
{
	struct data_limits lim = deflim;
	char msg[256];
	const char *refusal;

	lim.size_limit = 100;
	memset(msg, 'a', sizeof(msg));
	msg[0] = '\r';
	msg[1] = '\n';
	/* 100 content bytes: "\r\n" + 96 + "\r\n". */
	memcpy(msg + 98, "\r\n.\r\n", 5);
	feed(&r1, &lim, msg, 103, 0, 0);
	CU_ASSERT(r1.done);
	CU_ASSERT_EQUAL(r1.size, 100);
	CU_ASSERT_EQUAL(r1.flags, 0);

	memset(msg + 2, 'a', 97);
	memcpy(msg + 99, "\r\n.\r\n", 5);
	feed(&r1, &lim, msg, 104, 0, 0);
	CU_ASSERT(r1.done);
	CU_ASSERT_EQUAL(r1.size, 101);
	CU_ASSERT_EQUAL(r1.flags, DATA_F_SIZE);
	refusal = refusal_of(&lim, msg, 104);
	CU_ASSERT_PTR_NOT_NULL_FATAL(refusal);
	CU_ASSERT_EQUAL(strncmp(refusal, "552 5.3.4 ", 10), 0);
}

static void
test_hops(void)
{
	static const char rec[] = "Received: from a by b; Mon, 1 Jan 2024 "
	    "00:00:00 +0000\r\n";
	struct data_limits lim = deflim;
	char msg[4096];
	const char *refusal;
	size_t len;
	int i;

	lim.hop_limit = 3;
	for (i = 0, len = 0; i < 3; i++, len += sizeof(rec) - 1)
		memcpy(msg + len, rec, sizeof(rec) - 1);
	/* A folded one counts once; one in the body not at all. */
	len += (size_t)snprintf(msg + len, sizeof(msg) - len,
	    "Subject: x\r\n\tfolded\r\n\r\n%s.\r\n", rec);
	feed(&r1, &lim, msg, len, 0, 0);
	CU_ASSERT(r1.done);
	CU_ASSERT_EQUAL(r1.received, 3);
	CU_ASSERT_EQUAL(r1.flags, 0);

	memmove(msg + sizeof(rec) - 1, msg, len);
	memcpy(msg, rec, sizeof(rec) - 1);
	len += sizeof(rec) - 1;
	feed(&r1, &lim, msg, len, 0, 0);
	CU_ASSERT_EQUAL(r1.received, 4);
	CU_ASSERT_EQUAL(r1.flags, DATA_F_HOPS);
	feed(&r2, &lim, msg, len, 1, 0);
	same_runs(&r1, &r2);
	refusal = refusal_of(&lim, msg, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(refusal);
	CU_ASSERT_EQUAL(strncmp(refusal, "554 5.4.6 ", 10), 0);
}

static void
test_header_section(void)
{
	static const char blank[] = "Message-ID: <a@b>\r\nDate: Mon, 1 Jan "
	    "2024 00:00:00 +0000\r\nSubject: x\r\n\r\nbody: not a header\r\n"
	    "From: nor this\r\n.\r\n";
	static const char body[] = "Subject: x\r\nFrom: <a@b>\r\nthis is "
	    "body text\r\nmore\r\n.\r\n";
	static const char none[] = "just text\r\n.\r\n";

	feed_str(&r1, &deflim, blank);
	CU_ASSERT_EQUAL(r1.hdr_events, 1);
	CU_ASSERT_EQUAL(r1.hdr_end, DATA_HDR_BLANK);
	CU_ASSERT_EQUAL(r1.hdr_off, strstr(blank, "\r\n\r\n") + 2 - blank);
	CU_ASSERT_EQUAL(r1.hdr_present, HDR_HAS_MESSAGE_ID | HDR_HAS_DATE);

	feed_str(&r1, &deflim, body);
	CU_ASSERT_EQUAL(r1.hdr_end, DATA_HDR_BODY);
	CU_ASSERT_EQUAL(r1.hdr_off, strstr(body, "this") - body);
	CU_ASSERT_EQUAL(r1.hdr_present, HDR_HAS_FROM);
	CU_ASSERT(OUT_IS(&r1, "Subject: x\r\nFrom: <a@b>\r\nthis is body "
	    "text\r\nmore\r\n"));

	feed_str(&r1, &deflim, none);
	CU_ASSERT_EQUAL(r1.hdr_end, DATA_HDR_BODY);
	CU_ASSERT_EQUAL(r1.hdr_off, 0);
	CU_ASSERT_EQUAL(r1.hdr_present, 0);

	/* The message ends inside the header section. */
	feed_str(&r1, &deflim, "Subject: only\r\n.\r\n");
	CU_ASSERT_EQUAL(r1.hdr_end, DATA_HDR_EOD);
	CU_ASSERT_EQUAL(r1.hdr_off, strlen("Subject: only\r\n"));
}

/* Random input from an alphabet full of the bytes that matter. */
static size_t
random_message(unsigned char *buf, size_t max)
{
	static const char alpha[] = "\r\n.\r\n..:: \tRAx\0Received:";
	size_t len = rng() % max, i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)alpha[rng() % (sizeof(alpha) - 1)];
	return len;
}

static void
test_split_invariance(void)
{
	static unsigned char buf[8192];
	struct data_limits lim = { 3000, 40, 2, 0, 0 };
	size_t len;
	int i;

	for (i = 0; i < 400; i++) {
		len = random_message(buf, sizeof(buf));
		lim.normalize = i & 1;
		lim.cr_text = (i >> 1) & 1;
		feed(&r1, &lim, buf, len, 0, 0);
		feed(&r2, &lim, buf, len, 1, 0);
		same_runs(&r1, &r2);
		feed(&r2, &lim, buf, len, -1, 0);
		same_runs(&r1, &r2);
		/* A small output buffer, emptied as the session does. */
		feed(&r2, &lim, buf, len, 0, DATA_OUT_SLACK + 7);
		same_runs(&r1, &r2);
	}

	/* A real message with every feature, one byte at a time. */
	{
		static const char msg[] = "Received: from x\r\nSubject: s\r\n"
		    "\r\n..dots\r\nbare\nlf\r\ncr\rhere\r\n.\r\n";

		feed_str(&r1, &deflim, msg);
		feed(&r2, &deflim, msg, strlen(msg), 1, 0);
		same_runs(&r1, &r2);
		CU_ASSERT(OUT_IS(&r1, "Received: from x\r\nSubject: s\r\n"
		    "\r\n.dots\r\nbare\r\nlf\r\ncr\r\nhere\r\n"));
	}
}

static void
test_large_message(void)
{
	static unsigned char msg[200 * 1024];
	size_t i, len = 0;

	memcpy(msg, "Subject: big\r\n\r\n", 16);
	len = 16;
	for (i = 0; len + 100 < sizeof(msg); i++) {
		memset(msg + len, 'a' + (char)(i % 26), 78);
		if (i % 7 == 0)
			msg[len] = '.';
		len += 78;
		msg[len++] = '\r';
		msg[len++] = '\n';
	}
	memcpy(msg + len, ".\r\n", 3);
	len += 3;
	feed(&r1, &deflim, msg, len, 0, 0);
	CU_ASSERT(r1.done);
	CU_ASSERT_EQUAL(r1.used, len);
	feed(&r2, &deflim, msg, len, 0, 64 * 1024);
	same_runs(&r1, &r2);
	feed(&r2, &deflim, msg, len, -1, DATA_OUT_SLACK + 100);
	same_runs(&r1, &r2);
}

static CU_TestInfo tests[] = {
	{ "CRLF.CRLF ends the data", test_simple_end },
	{ "dot-stuffing undone", test_dot_stuffing },
	{ "seven endings that are no end", test_bad_endings },
	{ "bare LF flagged or normalised", test_bare_lf },
	{ "bare CR is text for local submission", test_cr_text },
	{ "NUL flagged", test_nul },
	{ "long lines against line_limit", test_long_lines },
	{ "size limit", test_size_limit },
	{ "hop count of Received: headers", test_hops },
	{ "end of the header section", test_header_section },
	{ "byte at a time equals all at once", test_split_invariance },
	{ "large message in chunks", test_large_message },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("data", tests)
