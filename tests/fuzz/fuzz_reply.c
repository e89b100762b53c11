/*
 * Fuzz the SMTP client's reply parser: arbitrary bytes as what a server
 * sends, parsed reply after reply the way the client reads them, and each
 * line also taken as an EHLO keyword line.  Nothing may crash or read out
 * of bounds, and every reply that parses must hold together: one code in
 * 200..599, printable NUL-terminated text within bounds, an enhanced code
 * of the reply's class or none.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/reply.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(const struct smtp_reply *r)
{
	size_t i;

	if (r->code < 200 || r->code > 599 || r->nlines == 0 ||
	    r->nlines > REPLY_LINES_MAX)
		abort();
	if (r->textlen >= REPLY_TEXT_MAX || r->text[r->textlen] != '\0' ||
	    strlen(r->text) != r->textlen)
		abort();
	for (i = 0; i < r->textlen; i++)
		if (r->text[i] < 0x20 || r->text[i] > 0x7e)
			abort();
	if (r->enh[0] != '\0' && (r->enh[0] - '0' != r->code / 100 ||
	    r->enh[1] != '.' || strlen(r->enh) > 9))
		abort();
	if (strlen(reply_dsn(r)) < 5)
		abort();
}

/* Each line of buf as an EHLO line: flags stay within the known ones. */
static void
ehlo_lines(const char *buf, size_t len)
{
	const char *p = buf, *nl;
	unsigned ext = 0;
	uint64_t size = 0;

	while (p < buf + len) {
		nl = memchr(p, '\n', (size_t)(buf + len - p));
		if (nl == NULL)
			nl = buf + len;
		if (reply_ehlo_line(p, (size_t)(nl - p), &ext, &size) == 0 &&
		    (ext & ~(unsigned)(EHLO_PIPELINING | EHLO_SIZE |
		    EHLO_8BITMIME | EHLO_ENHANCEDSTATUS)) != 0)
			abort();
		p = nl + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct smtp_reply r;
	size_t off = 0, used;
	int rv;

	while (off < size) {
		reply_init(&r);
		rv = reply_parse(&r, buf + off, size - off, &used);
		if (used > size - off)
			abort();
		if (rv == REPLY_DONE) {
			if (!r.done || used == 0)
				abort();
			check(&r);
		}
		if (rv != REPLY_DONE || used == 0)
			break;
		off += used;
	}
	ehlo_lines(buf, size);
	return 0;
}
