/*
 * Fuzz the header checks of util/header.c: arbitrary bytes as a message
 * whose every line (without its line ending) is handed, in a buffer of
 * exactly its size, to header_line_flag() and header_is_received(),
 * which must agree with a plain model of "name, blanks, colon" matched
 * without regard to case, and must not care about case or about what
 * follows the colon.  The first eight bytes are also a time for
 * header_date() and header_fixup_text(), whose text must be whole CRLF
 * lines within the buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "header.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The model: the field name if line starts with "name:", else 0. */
static size_t
model_name(const char *line, size_t len)
{
	size_t i, n;

	for (n = 0; n < len; n++) {
		unsigned char c = (unsigned char)line[n];

		if (c <= ' ' || c >= 0x7f || c == ':')
			break;
	}
	for (i = n; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	return n > 0 && i < len && line[i] == ':' ? n : 0;
}

static int
model_is(const char *line, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(line, name, n) == 0;
}

static int
model_flag(const char *line, size_t len)
{
	size_t n = model_name(line, len);

	if (model_is(line, n, "message-id"))
		return HDR_HAS_MESSAGE_ID;
	if (model_is(line, n, "date"))
		return HDR_HAS_DATE;
	if (model_is(line, n, "from"))
		return HDR_HAS_FROM;
	return 0;
}

/* Both checks on a copy of exactly len bytes. */
static void
check_line(const char *line, size_t len)
{
	char *s, *colon;
	int flag, recv;
	size_t i, n;

	if ((s = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(s, line, len);
	flag = header_line_flag(s, len);
	recv = header_is_received(s, len);
	n = model_name(s, len);
	if (flag != model_flag(s, len) || recv != model_is(s, n, "received"))
		abort();
	if (flag != 0 && recv != 0)
		abort();

	/* Case does not matter, nor does the value. */
	for (i = 0; i < len; i++)
		if (s[i] >= 'a' && s[i] <= 'z')
			s[i] = (char)(s[i] - 'a' + 'A');
	if (header_line_flag(s, len) != flag ||
	    header_is_received(s, len) != recv)
		abort();
	if (n > 0 && (colon = memchr(s, ':', len)) != NULL) {
		n = (size_t)(colon - s) + 1;
		if (header_line_flag(s, n) != flag ||
		    header_is_received(s, n) != recv)
			abort();
	}
	free(s);
}

static void
check_lines(const char *buf, size_t size)
{
	const char *p = buf, *nl;
	size_t len;

	while (p < buf + size) {
		nl = memchr(p, '\n', (size_t)(buf + size - p));
		len = nl == NULL ? (size_t)(buf + size - p) :
		    (size_t)(nl - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		check_line(p, len);
		/* Without the line ending stripped, as a raw slice. */
		check_line(p, nl == NULL ? len : (size_t)(nl - p) + 1);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

/* Every byte printable, lines ended by CRLF, one per missing header. */
static void
check_fixup(time_t now, int present)
{
	char out[1200], date[64];
	size_t i, lines = 0, want = 0;
	int n;

	if (header_date(now, date, sizeof(date)) == -1)
		return;
	n = header_fixup_text(present, present & 8 ? "" : "a@example.test",
	    "4Bq1x7Y2zTk", "mx.example.test", now, out, sizeof(out));
	if (n < 0 || (size_t)n >= sizeof(out) || strlen(out) != (size_t)n)
		abort();
	for (i = 0; i < (size_t)n; i++) {
		if (out[i] == '\n') {
			if (i == 0 || out[i - 1] != '\r')
				abort();
			lines++;
		} else if (out[i] != '\r' && (out[i] < 0x20 || out[i] > 0x7e))
			abort();
	}
	for (i = 1; i <= HDR_HAS_FROM; i <<= 1)
		if (!(present & (int)i))
			want++;
	if (lines != want || (n > 0 && out[n - 1] != '\n'))
		abort();
	/* Too small a buffer is refused, never overrun. */
	if (n > 0 && header_fixup_text(present, "a@example.test", "q",
	    "h", now, out, 8) != -1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char date[64];
	int64_t t;
	int n;

	check_lines((const char *)data, size);
	if (size < 9)
		return 0;
	memcpy(&t, data, sizeof(t));
	n = header_date((time_t)t, date, sizeof(date));
	if (n != -1 && (n < 29 || strlen(date) != (size_t)n ||
	    memcmp(date + n - 6, " +0000", 6) != 0))
		abort();
	check_fixup((time_t)t, data[8]);
	return 0;
}
