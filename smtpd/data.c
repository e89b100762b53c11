/*
 * The DATA state machine (see data.h).  Two layers: the transport layer
 * finds line endings, dot-stuffing and the end of data; the content layer
 * writes lines, counts, and follows the header section.  While a line of
 * the header section is still undecided (header or first body line), its
 * first bytes are held back, so that a caller can insert headers in
 * front of the line that ends the section.
 */

#include <string.h>

#include "header.h"
#include "smtpd/data.h"

/* Transport states. */
enum {
	L_BOL = 0,	/* start of a line after CRLF: a dot is special */
	L_SOFT,		/* start of a line after a bare CR or LF */
	L_TEXT,
	L_CR,		/* CR seen, LF not yet */
	L_DOT,		/* "." at the start of a line */
	L_DOT_CR,	/* ".<CR>" at the start of a line */
};

/* How far a header-section line has been classified. */
enum {
	H_START = 0,
	H_NAME,		/* field-name characters so far */
	H_WSP,		/* blanks after the name, before the colon */
	H_HEADER,	/* decided: a header field or a continuation */
};

struct data_out {
	unsigned char	*buf;
	size_t		*len;
};

static void
data_emit(struct data_sm *sm, struct data_out *o, unsigned char c)
{
	o->buf[(*o->len)++] = c;
	sm->size++;
	if (sm->lim.size_limit != 0 && sm->size > sm->lim.size_limit)
		sm->flags |= DATA_F_SIZE;
}

static void
data_hdr_flush(struct data_sm *sm, struct data_out *o)
{
	size_t i;

	for (i = 0; i < sm->hdr_len; i++)
		data_emit(sm, o, (unsigned char)sm->hdr_line[i]);
}

/* The header section ends here: report where, once. */
static void
data_hdr_end(struct data_sm *sm, struct data_out *o, enum data_hdr_end how)
{
	sm->in_header = 0;
	sm->hdr_end = how;
	sm->hdr_off = *o->len;
}

static int
data_name_char(unsigned char c)
{
	return c > ' ' && c < 0x7f && c != ':';
}

/* Next classification state of a header line after c; -1: not a header. */
static int
data_hdr_next(int state, unsigned char c)
{
	int blank = c == ' ' || c == '\t';

	switch (state) {
	case H_START:
		if (blank)
			return H_HEADER;	/* a continuation line */
		return data_name_char(c) ? H_NAME : -1;
	case H_NAME:
		if (c == ':')
			return H_HEADER;
		if (blank)
			return H_WSP;
		return data_name_char(c) ? H_NAME : -1;
	case H_WSP:
		if (c == ':')
			return H_HEADER;
		return blank ? H_WSP : -1;
	default:
		return H_HEADER;
	}
}

static void
data_hdr_byte(struct data_sm *sm, struct data_out *o, unsigned char c)
{
	int next;

	/* A field name this long is no reason to hold more: call it one. */
	if (sm->hdr_state != H_HEADER && sm->hdr_len == DATA_HOLD_MAX) {
		data_hdr_flush(sm, o);
		sm->hdr_state = H_HEADER;
	}
	if (sm->hdr_len < DATA_HOLD_MAX)
		sm->hdr_line[sm->hdr_len++] = (char)c;
	if (sm->hdr_state == H_HEADER) {
		data_emit(sm, o, c);
		return;
	}

	next = data_hdr_next(sm->hdr_state, c);
	if (next == H_HEADER) {
		sm->hdr_state = H_HEADER;
		data_hdr_flush(sm, o);
	} else if (next == -1) {
		data_hdr_end(sm, o, DATA_HDR_BODY);
		data_hdr_flush(sm, o);
	} else
		sm->hdr_state = next;
}

/* One byte of line text (the line ending is data_put_eol()). */
static void
data_put_byte(struct data_sm *sm, struct data_out *o, unsigned char c)
{
	sm->line_len++;
	if (sm->lim.line_limit != 0 && sm->line_len > sm->lim.line_limit)
		sm->flags |= DATA_F_LONGLINE;
	if (c == '\0')
		sm->flags |= DATA_F_NUL;
	if (sm->in_header)
		data_hdr_byte(sm, o, c);
	else
		data_emit(sm, o, c);
}

/* A header line is complete: count what the end of data looks at. */
static void
data_hdr_line_done(struct data_sm *sm)
{
	if (header_is_received(sm->hdr_line, sm->hdr_len) &&
	    ++sm->received > sm->lim.hop_limit)
		sm->flags |= DATA_F_HOPS;
	sm->hdr_present |= header_line_flag(sm->hdr_line, sm->hdr_len);
}

static void
data_put_eol(struct data_sm *sm, struct data_out *o)
{
	if (sm->in_header) {
		if (sm->hdr_len == 0)
			data_hdr_end(sm, o, DATA_HDR_BLANK);
		else if (sm->hdr_state != H_HEADER) {
			data_hdr_end(sm, o, DATA_HDR_BODY);
			data_hdr_flush(sm, o);
		} else
			data_hdr_line_done(sm);
		sm->hdr_len = 0;
		sm->hdr_state = H_START;
	}
	data_emit(sm, o, '\r');
	data_emit(sm, o, '\n');
	sm->line_len = 0;
}

/* A CR or LF that is not part of CRLF: a line ending, never the end. */
static void
data_bare(struct data_sm *sm, struct data_out *o)
{
	if (!sm->lim.normalize)
		sm->flags |= DATA_F_BARE;
	data_put_eol(sm, o);
	sm->state = L_SOFT;
}

static void
data_finish(struct data_sm *sm, struct data_out *o)
{
	sm->done = 1;
	if (sm->in_header)
		data_hdr_end(sm, o, DATA_HDR_EOD);
}

static void
data_byte(struct data_sm *sm, struct data_out *o, unsigned char c)
{
	for (;;) {
		switch (sm->state) {
		case L_BOL:
			if (c == '.') {
				sm->state = L_DOT;
				return;
			}
			/* FALLTHROUGH */
		case L_SOFT:
		case L_TEXT:
			if (c == '\r')
				sm->state = L_CR;
			else if (c == '\n')
				data_bare(sm, o);
			else {
				data_put_byte(sm, o, c);
				sm->state = L_TEXT;
			}
			return;
		case L_CR:
			if (c == '\n') {
				data_put_eol(sm, o);
				sm->state = L_BOL;
				return;
			}
			if (sm->lim.cr_text) {
				data_put_byte(sm, o, '\r');
				sm->state = L_TEXT;
				continue;	/* c goes on the line */
			}
			data_bare(sm, o);
			continue;	/* c starts the next line */
		case L_DOT:
			if (c == '\r') {
				sm->state = L_DOT_CR;
				return;
			}
			if (c == '\n') {
				/* "." then a bare LF: a text line, kept. */
				data_put_byte(sm, o, '.');
				data_bare(sm, o);
				return;
			}
			sm->state = L_TEXT;
			if (c == '.') {
				data_put_byte(sm, o, '.');
				return;
			}
			/* RFC 5321 4.5.2: the first dot of a line goes. */
			continue;
		case L_DOT_CR:
			if (c == '\n') {
				data_finish(sm, o);
				return;
			}
			if (sm->lim.cr_text) {
				/* More than "." on the line: the dot goes. */
				data_put_byte(sm, o, '\r');
				sm->state = L_TEXT;
				continue;
			}
			data_put_byte(sm, o, '.');
			data_bare(sm, o);
			continue;
		default:
			return;
		}
	}
}

/*
 * Copy plain text in one go: the common case in a message body.
 * Returns the bytes taken.
 */
static size_t
data_fast(struct data_sm *sm, struct data_out *o, const unsigned char *p,
    size_t len, size_t room)
{
	size_t n = 0;

	if (len > room)
		len = room;
	while (n < len && p[n] != '\r' && p[n] != '\n' && p[n] != '\0')
		n++;
	if (n == 0)
		return 0;
	memcpy(o->buf + *o->len, p, n);
	*o->len += n;
	sm->size += n;
	sm->line_len += n;
	if (sm->lim.size_limit != 0 && sm->size > sm->lim.size_limit)
		sm->flags |= DATA_F_SIZE;
	if (sm->lim.line_limit != 0 && sm->line_len > sm->lim.line_limit)
		sm->flags |= DATA_F_LONGLINE;
	sm->state = L_TEXT;
	return n;
}

void
data_init(struct data_sm *sm, const struct data_limits *lim)
{
	memset(sm, 0, sizeof(*sm));
	sm->lim = *lim;
	sm->state = L_BOL;
	sm->in_header = 1;
	sm->hdr_state = H_START;
}

size_t
data_feed(struct data_sm *sm, const void *in, size_t len,
    unsigned char *out, size_t cap, size_t *outlen)
{
	const unsigned char *p = in;
	struct data_out o = { out, outlen };
	size_t i = 0, room;

	sm->hdr_end = DATA_HDR_NONE;
	while (i < len && !sm->done) {
		if (*outlen > cap || cap - *outlen < DATA_OUT_SLACK)
			break;
		room = cap - *outlen - DATA_OUT_SLACK;
		if (!sm->in_header && (sm->state == L_TEXT ||
		    sm->state == L_SOFT)) {
			size_t n = data_fast(sm, &o, p + i, len - i, room);

			i += n;
			if (n != 0)
				continue;
		}
		data_byte(sm, &o, p[i++]);
		if (sm->hdr_end != DATA_HDR_NONE)
			break;
	}
	return i;
}

const char *
data_refusal(const struct data_sm *sm)
{
	if (sm->flags & DATA_F_SIZE)
		return "552 5.3.4 Message is over the size limit";
	if (sm->flags & DATA_F_NUL)
		return "550 5.6.0 NUL octet in the message";
	if (sm->flags & DATA_F_BARE)
		return "550 5.6.0 Bare CR or LF in the message; "
		    "lines must end in CRLF";
	if (sm->flags & DATA_F_LONGLINE)
		return "552 5.3.4 A line of the message is over the "
		    "length limit";
	if (sm->flags & DATA_F_HOPS)
		return "554 5.4.6 Too many Received: fields, "
		    "probably a mail loop";
	return NULL;
}
