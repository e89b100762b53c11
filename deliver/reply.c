/*
 * The SMTP client's reply parser (see reply.h).
 */
#include <string.h>
#include <strings.h>

#include "reply.h"

void
reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Digits at s (at most max of them, at least one); returns the count. */
static size_t
digits(const char *s, size_t len, size_t max)
{
	size_t n = 0;

	while (n < len && n < max + 1 && is_digit(s[n]))
		n++;
	return n >= 1 && n <= max ? n : 0;
}

/*
 * An enhanced status code "c.sss.ddd" at the start of s, followed by a
 * space or the end, whose class matches the reply code.  Returns its
 * length or 0.
 */
static size_t
enhanced(const char *s, size_t len, int code)
{
	size_t o, n;

	if (len < 5 || s[0] - '0' != code / 100 || s[1] != '.')
		return 0;
	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	o = 2;
	if ((n = digits(s + o, len - o, 3)) == 0)
		return 0;
	o += n;
	if (o >= len || s[o] != '.')
		return 0;
	o++;
	if ((n = digits(s + o, len - o, 3)) == 0)
		return 0;
	o += n;
	if (o < len && s[o] != ' ')
		return 0;
	return o;
}

/* Append printable text, cut at the buffer's end. */
static void
add_text(struct smtp_reply *r, const char *s, size_t len)
{
	size_t i;
	unsigned char c;

	for (i = 0; i < len && r->textlen + 1 < sizeof(r->text); i++) {
		c = (unsigned char)s[i];
		if (c == '\t')
			c = ' ';
		else if (c < 0x20 || c > 0x7e)
			c = '?';
		r->text[r->textlen++] = (char)c;
	}
	r->text[r->textlen] = '\0';
}

int
reply_line(struct smtp_reply *r, const char *line, size_t len)
{
	int code;
	size_t n;

	if (r->done || len > REPLY_LINE_MAX || r->nlines >= REPLY_LINES_MAX)
		return REPLY_ERROR;
	if (len < 3 || line[0] < '2' || line[0] > '5' ||
	    !is_digit(line[1]) || !is_digit(line[2]))
		return REPLY_ERROR;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return REPLY_ERROR;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->nlines > 0 && code != r->code)
		return REPLY_ERROR;
	r->code = code;

	if (r->nlines == 0)
		add_text(r, line, len);
	else if (len > 4) {
		add_text(r, " ", 1);
		add_text(r, line + 4, len - 4);
	}
	if (r->enh[0] == '\0' && len > 4 &&
	    (n = enhanced(line + 4, len - 4, code)) > 0)
		memcpy(r->enh, line + 4, n);	/* n <= 9 */
	r->nlines++;

	if (len == 3 || line[3] == ' ') {
		r->done = 1;
		return REPLY_DONE;
	}
	return REPLY_MORE;
}

int
reply_parse(struct smtp_reply *r, const char *buf, size_t len,
    size_t *used)
{
	const char *nl, *start;
	size_t off = 0, llen;
	int rv;

	*used = 0;
	while (off < len) {
		start = buf + off;
		nl = memchr(start, '\n', len - off);
		if (nl == NULL)
			break;
		llen = (size_t)(nl - start);
		off += llen + 1;
		if (llen > 0 && start[llen - 1] == '\r')
			llen--;
		rv = reply_line(r, start, llen);
		*used = off;
		if (rv != REPLY_MORE)
			return rv;
	}
	/* room for the longest line and its CRLF */
	if (len - off > REPLY_LINE_MAX + 2)
		return REPLY_ERROR;
	return REPLY_MORE;
}

int
reply_ehlo_line(const char *line, size_t len, unsigned *ext,
    uint64_t *size)
{
	const char *kw = line + 4, *p;
	size_t klen, i, plen;
	uint64_t v;

	if (len < 5)
		return -1;
	len -= 4;
	for (klen = 0; klen < len && kw[klen] != ' '; klen++)
		;
	if (klen == 10 && strncasecmp(kw, "PIPELINING", 10) == 0)
		*ext |= EHLO_PIPELINING;
	else if (klen == 8 && strncasecmp(kw, "8BITMIME", 8) == 0)
		*ext |= EHLO_8BITMIME;
	else if (klen == 19 &&
	    strncasecmp(kw, "ENHANCEDSTATUSCODES", 19) == 0)
		*ext |= EHLO_ENHANCEDSTATUS;
	else if (klen == 4 && strncasecmp(kw, "SIZE", 4) == 0) {
		*ext |= EHLO_SIZE;
		*size = 0;
		p = kw + klen;
		plen = len - klen;
		while (plen > 0 && *p == ' ') {
			p++;
			plen--;
		}
		v = 0;
		for (i = 0; i < plen && is_digit(p[i]); i++) {
			if (v > (UINT64_MAX - 9) / 10) {
				v = 0;	/* absurd: treat as no limit */
				break;
			}
			v = v * 10 + (uint64_t)(p[i] - '0');
		}
		if (i == plen)
			*size = v;
	}
	return 0;
}

const char *
reply_dsn(const struct smtp_reply *r)
{
	if (r->enh[0] != '\0')
		return r->enh;
	switch (r->code / 100) {
	case 2:
		return "2.0.0";
	case 4:
		return "4.0.0";
	case 5:
		return "5.0.0";
	default:
		return "4.5.0";
	}
}
