/*
 * Fuzz sendmail -t's header reading: arbitrary bytes as a message.  The
 * header section must lie within the input and be made of whole fields,
 * every address taken from To:, Cc: and Bcc: or their Resent- forms (or
 * from the input read as a command-line list) must be a short
 * NUL-terminated string without CR or LF and appear once, and stripping
 * Bcc: and Resent-Bcc: must never grow the text, must leave no such
 * field, must keep everything else in order, and must change nothing
 * when done twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/sendmail/rcptextract.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Matches the parser's limit on one addr-spec. */
#define ADDR_MAX	1024

static char *
copy(const uint8_t *data, size_t size)
{
	char *s;

	/* Exactly size bytes, so reading past them is caught. */
	if ((s = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(s, data, size);
	return s;
}

static int
is_bcc(const char *p, size_t nlen)
{
	return (nlen == 3 && strncasecmp(p, "bcc", 3) == 0) ||
	    (nlen == 10 && strncasecmp(p, "resent-bcc", 10) == 0);
}

static void
check_list(const struct rcptx_list *l)
{
	size_t i, j, n;

	if (l->n > l->cap || (l->n > 0 && l->v == NULL))
		abort();
	for (i = 0; i < l->n; i++) {
		n = strnlen(l->v[i], ADDR_MAX);
		if (n == 0 || n >= ADDR_MAX)
			abort();
		if (memchr(l->v[i], '\r', n) != NULL ||
		    memchr(l->v[i], '\n', n) != NULL)
			abort();
		for (j = 0; j < i; j++)
			if (strcmp(l->v[i], l->v[j]) == 0)
				abort();
	}
}

static int
has(const struct rcptx_list *l, const char *addr)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], addr) == 0)
			return 1;
	return 0;
}

/* Walk the fields of the header section; returns how many are Bcc:. */
static size_t
walk_fields(const char *hdr, size_t hlen)
{
	size_t pos = 0, flen, nlen, nbcc = 0;
	char *v;

	while (pos < hlen) {
		nlen = 0;
		flen = rcptx_field_len(hdr + pos, hlen - pos, &nlen);
		if (flen == 0 || flen > hlen - pos || nlen == 0 ||
		    nlen >= flen || memchr(hdr + pos, ':', nlen) != NULL)
			abort();
		/* A field ends at a line ending or at the end of input. */
		if (pos + flen < hlen && hdr[pos + flen - 1] != '\n')
			abort();
		v = rcptx_unfold(hdr + pos, flen);
		if (strlen(v) >= flen || strchr(v, '\n') != NULL)
			abort();
		free(v);
		if (is_bcc(hdr + pos, nlen))
			nbcc++;
		pos += flen;
	}
	return nbcc;
}

static void
check_strip(const char *msg, size_t size, const struct rcptx_list *all)
{
	struct rcptx_list kept = { NULL, 0, 0 };
	enum rcptx_end how;
	size_t hlen, slen, again, pos = 0, out = 0, flen, nlen;
	char *s, *want;

	s = copy((const uint8_t *)msg, size);
	slen = rcptx_strip_bcc(s, size);
	if (slen > size)
		abort();
	hlen = rcptx_header_len(s, slen, &how);
	if (hlen > slen || walk_fields(s, hlen) != 0)
		abort();

	/* What stripping must give: the input less its Bcc: fields. */
	want = copy((const uint8_t *)msg, size);
	while (pos < size &&
	    (flen = rcptx_field_len(msg + pos, size - pos, &nlen)) > 0) {
		if (!is_bcc(msg + pos, nlen)) {
			memcpy(want + out, msg + pos, flen);
			out += flen;
		}
		pos += flen;
	}
	memcpy(want + out, msg + pos, size - pos);
	out += size - pos;
	if (out != slen || memcmp(want, s, slen) != 0)
		abort();

	again = rcptx_strip_bcc(s, slen);
	if (again != slen || memcmp(want, s, slen) != 0)
		abort();

	/*
	 * What To: and Cc: (or their Resent- forms) still give was there
	 * before, unless the Resent-Bcc: that went was the only Resent-
	 * recipient field.
	 */
	rcptx_extract(s, hlen, &kept, NULL, 0);
	check_list(&kept);
	if (rcptx_has_resent(s, hlen) ==
	    rcptx_has_resent(msg, rcptx_header_len(msg, size, &how)))
		for (pos = 0; pos < kept.n; pos++)
			if (!has(all, kept.v[pos]))
				abort();
	rcptx_list_free(&kept);
	free(want);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rcptx_list list = { NULL, 0, 0 }, args = { NULL, 0, 0 };
	enum rcptx_end how = RCPTX_END_EOF;
	char err[256], *msg, *hdr;
	size_t hlen;
	int bad;

	msg = copy(data, size);
	hlen = rcptx_header_len(msg, size, &how);
	if (hlen > size)
		abort();
	if ((how == RCPTX_END_EOF) != (hlen == size))
		abort();
	if (how == RCPTX_END_BLANK && msg[hlen] != '\n' && msg[hlen] != '\r')
		abort();
	walk_fields(msg, hlen);

	hdr = copy(data, hlen);
	err[0] = '\0';
	bad = rcptx_extract(hdr, hlen, &list, err, sizeof(err));
	if (bad < 0 || (bad > 0 && err[0] == '\0') ||
	    strnlen(err, sizeof(err)) == sizeof(err))
		abort();
	check_list(&list);
	check_strip(msg, size, &list);

	/* The input as a recipient argument, line breaks and all. */
	err[0] = '\0';
	bad = rcptx_parse_list(msg, size, &args, err, sizeof(err));
	if (bad < 0 || (bad > 0 && err[0] == '\0'))
		abort();
	check_list(&args);

	rcptx_list_free(&args);
	rcptx_list_free(&list);
	free(hdr);
	free(msg);
	return 0;
}
