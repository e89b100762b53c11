/*
 * The message sendmail reads from standard input, kept in memory in
 * canonical form: every line ends in CRLF (a bare LF gets its CR), a
 * leading mbox "From " line is dropped, and without -i a line holding a
 * single dot ends the input.  Keeping it whole lets sendmail fall back to
 * the maildrop when the daemon goes away in the middle of a submission.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "header.h"
#include "xmalloc.h"
#include "cli/sendmail/rcptextract.h"
#include "cli/sendmail/sendmail.h"

#define SM_READ_CHUNK	65536
#define SM_NAME_MAX	256

struct reader {
	struct sm_msg	*m;
	size_t		 cap;
	size_t		 line;		/* where the current line starts */
	int		 first;		/* still on the first line */
	int		 ignore_dots;
	int		 done;		/* the dot line was seen */
};

static void
grow(struct reader *r, size_t more)
{
	size_t want;

	if (r->m->len + more <= r->cap)
		return;
	if (r->m->len > SIZE_MAX / 2 - more)
		abort();
	want = r->cap == 0 ? SM_READ_CHUNK : r->cap;
	while (want < r->m->len + more)
		want *= 2;
	r->m->buf = xreallocarray(r->m->buf, want, 1);
	r->cap = want;
}

/* A line (with its CRLF) has just been completed at the end of buf. */
static void
line_done(struct reader *r)
{
	struct sm_msg *m = r->m;
	size_t n = m->len - r->line;

	if (r->first && n >= 7 && memcmp(m->buf + r->line, "From ", 5) == 0)
		m->len = r->line;	/* mbox separator, not a header */
	else if (!r->ignore_dots && n == 3 && m->buf[r->line] == '.') {
		m->len = r->line;
		r->done = 1;
	}
	r->first = 0;
	r->line = m->len;
}

static void
take(struct reader *r, const char *p, size_t n)
{
	struct sm_msg *m = r->m;
	const char *nl;
	size_t seg;

	while (n > 0 && !r->done) {
		nl = memchr(p, '\n', n);
		seg = nl == NULL ? n : (size_t)(nl - p);
		grow(r, seg + 2);
		memcpy(m->buf + m->len, p, seg);
		m->len += seg;
		if (nl == NULL)
			return;
		if (m->len == r->line || m->buf[m->len - 1] != '\r')
			m->buf[m->len++] = '\r';
		m->buf[m->len++] = '\n';
		line_done(r);
		p += seg + 1;
		n -= seg + 1;
	}
}

/* Input ended: give a last partial line its line ending. */
static void
finish(struct reader *r)
{
	struct sm_msg *m = r->m;

	if (r->done || m->len == r->line)
		return;
	grow(r, 2);
	if (m->buf[m->len - 1] != '\r')
		m->buf[m->len++] = '\r';
	m->buf[m->len++] = '\n';
	line_done(r);
}

static void
scan_header(struct sm_msg *m)
{
	enum rcptx_end how;
	size_t pos = 0, flen, nlen, vlen;

	m->hdr_len = rcptx_header_len(m->buf, m->len, &how);
	m->hdr_end = how;
	m->present = 0;
	while (pos < m->hdr_len && (flen = rcptx_field_len(m->buf + pos,
	    m->hdr_len - pos, &nlen)) > 0) {
		vlen = flen;
		if (vlen > 0 && m->buf[pos + vlen - 1] == '\n')
			vlen--;
		if (vlen > 0 && m->buf[pos + vlen - 1] == '\r')
			vlen--;
		m->present |= header_line_flag(m->buf + pos, vlen);
		pos += flen;
	}
}

enum sm_read_status
sm_msg_read(int fd, int ignore_dots, size_t limit, struct sm_msg *m)
{
	struct reader r;
	char *chunk;
	ssize_t n;

	memset(m, 0, sizeof(*m));
	memset(&r, 0, sizeof(r));
	r.m = m;
	r.first = 1;
	r.ignore_dots = ignore_dots;
	chunk = xmalloc(SM_READ_CHUNK);
	while (!r.done) {
		n = read(fd, chunk, SM_READ_CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(chunk);
			return SM_READ_ERROR;
		}
		if (n == 0)
			break;
		take(&r, chunk, (size_t)n);
		if (limit > 0 && m->len > limit) {
			free(chunk);
			return SM_READ_TOOBIG;
		}
	}
	free(chunk);
	finish(&r);
	if (limit > 0 && m->len > limit)
		return SM_READ_TOOBIG;
	if (m->buf == NULL)
		m->buf = xstrdup("");
	scan_header(m);
	return SM_READ_OK;
}

void
sm_msg_strip_bcc(struct sm_msg *m)
{
	size_t before = m->len;

	m->len = rcptx_strip_bcc(m->buf, m->len);
	m->hdr_len -= before - m->len;
}

void
sm_msg_add_header(struct sm_msg *m, const char *text, size_t len)
{
	m->added = xreallocarray(m->added, m->added_len + len + 1, 1);
	memcpy(m->added + m->added_len, text, len);
	m->added_len += len;
	m->added[m->added_len] = '\0';
}

void
sm_msg_clear_added(struct sm_msg *m)
{
	free(m->added);
	m->added = NULL;
	m->added_len = 0;
}

int
sm_msg_walk(const struct sm_msg *m, int (*out)(void *, const char *, size_t),
    void *arg)
{
	if (m->hdr_len > 0 && out(arg, m->buf, m->hdr_len) == -1)
		return -1;
	if (m->added_len > 0) {
		if (out(arg, m->added, m->added_len) == -1)
			return -1;
		/* Headers added before body text need the empty line. */
		if (m->hdr_end == RCPTX_END_BODY && out(arg, "\r\n", 2) == -1)
			return -1;
	}
	if (m->len > m->hdr_len &&
	    out(arg, m->buf + m->hdr_len, m->len - m->hdr_len) == -1)
		return -1;
	return 0;
}

void
sm_msg_free(struct sm_msg *m)
{
	free(m->buf);
	free(m->added);
	memset(m, 0, sizeof(*m));
}

char *
sm_from_header(const char *fullname, const char *addr)
{
	char name[2 * SM_NAME_MAX + 1];
	size_t i, o = 0;
	char *out;

	/* The name becomes one quoted string: controls out, '"' '\' escaped. */
	for (i = 0; fullname != NULL && fullname[i] != '\0' &&
	    i < SM_NAME_MAX; i++) {
		unsigned char c = (unsigned char)fullname[i];

		if (c < 0x20 || c == 0x7f)
			continue;
		if (c == '"' || c == '\\')
			name[o++] = '\\';
		name[o++] = (char)c;
	}
	name[o] = '\0';
	if (o == 0)
		xasprintf(&out, "From: <%s>\r\n", addr);
	else
		xasprintf(&out, "From: \"%s\" <%s>\r\n", name, addr);
	return out;
}
