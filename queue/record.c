/*
 * Log records: encode, decode, and scan a segment's bytes.  See record.h
 * for the on-disk format.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "xmalloc.h"

#include "queue/record.h"

/* A decoding cursor over a payload. */
struct rec_cur {
	const unsigned char	*p;
	size_t			 left;
	int			 bad;
};

uint32_t
rec_get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

uint64_t
rec_get64(const unsigned char *p)
{
	return (uint64_t)rec_get32(p) | (uint64_t)rec_get32(p + 4) << 32;
}

void
rec_put32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

void
rec_put64(unsigned char *p, uint64_t v)
{
	rec_put32(p, (uint32_t)v);
	rec_put32(p + 4, (uint32_t)(v >> 32));
}

void
rec_buf_free(struct rec_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void
rec_buf_add(struct rec_buf *b, const void *data, size_t len)
{
	size_t cap;

	if (len == 0)
		return;
	if (b->cap - b->len < len) {
		cap = b->cap ? b->cap : 256;
		while (cap - b->len < len)
			cap *= 2;
		b->p = xreallocarray(b->p, 1, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

void
rec_buf_u8(struct rec_buf *b, uint8_t v)
{
	rec_buf_add(b, &v, 1);
}

void
rec_buf_u32(struct rec_buf *b, uint32_t v)
{
	unsigned char t[4];

	rec_put32(t, v);
	rec_buf_add(b, t, sizeof(t));
}

void
rec_buf_u64(struct rec_buf *b, uint64_t v)
{
	unsigned char t[8];

	rec_put64(t, v);
	rec_buf_add(b, t, sizeof(t));
}

void
rec_buf_str(struct rec_buf *b, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	rec_buf_u32(b, (uint32_t)len);
	rec_buf_add(b, s, len);
}

void
rec_hdr_encode(const struct rec_hdr *h, unsigned char *out)
{
	rec_put32(out, REC_MAGIC);
	out[4] = h->type;
	out[5] = h->flags;
	out[6] = out[7] = 0;
	rec_put32(out + 8, h->len);
	rec_put64(out + 12, h->seq);
	rec_put64(out + 20, h->qid);
	rec_put32(out + 28, h->pcrc);
	rec_put32(out + 32, crc32c(0, out, 32));
}

int
rec_hdr_decode(const unsigned char *p, struct rec_hdr *h)
{
	if (rec_get32(p) != REC_MAGIC ||
	    rec_get32(p + 32) != crc32c(0, p, 32))
		return -1;
	if (p[4] < REC_SEGMENT || p[4] > REC_DONE || p[6] != 0 || p[7] != 0)
		return -1;
	h->type = p[4];
	h->flags = p[5];
	h->len = rec_get32(p + 8);
	h->seq = rec_get64(p + 12);
	h->qid = rec_get64(p + 20);
	h->pcrc = rec_get32(p + 28);
	if (h->len > REC_MAX_PAYLOAD || h->seq == 0)
		return -1;
	if ((h->type == REC_SEGMENT) != (h->qid == 0))
		return -1;
	return 0;
}

void
rec_encode(struct rec_buf *b, uint8_t type, uint64_t seq, uint64_t qid,
    const void *payload, size_t len)
{
	unsigned char hdr[REC_HDR_SIZE];
	struct rec_hdr h;

	h.type = type;
	h.flags = 0;
	h.len = (uint32_t)len;
	h.seq = seq;
	h.qid = qid;
	h.pcrc = crc32c(0, payload, len);
	rec_hdr_encode(&h, hdr);
	rec_buf_add(b, hdr, sizeof(hdr));
	rec_buf_add(b, payload, len);
}

const char *
rec_type_name(uint8_t type)
{
	switch (type) {
	case REC_SEGMENT:
		return "segment";
	case REC_DATA:
		return "data";
	case REC_COMMIT:
		return "commit";
	case REC_OUTCOME:
		return "outcome";
	case REC_DONE:
		return "done";
	}
	return "unknown";
}

/* Decoding helpers: a short read marks the cursor bad and yields 0. */

static const unsigned char *
cur_take(struct rec_cur *c, size_t n)
{
	const unsigned char *p;

	if (c->bad || c->left < n) {
		c->bad = 1;
		return NULL;
	}
	p = c->p;
	c->p += n;
	c->left -= n;
	return p;
}

static uint8_t
cur_u8(struct rec_cur *c)
{
	const unsigned char *p = cur_take(c, 1);

	return p ? p[0] : 0;
}

static uint32_t
cur_u32(struct rec_cur *c)
{
	const unsigned char *p = cur_take(c, 4);

	return p ? rec_get32(p) : 0;
}

static uint64_t
cur_u64(struct rec_cur *c)
{
	const unsigned char *p = cur_take(c, 8);

	return p ? rec_get64(p) : 0;
}

/* A malloc'd string; NULL (and the cursor bad) when malformed. */
static char *
cur_str(struct rec_cur *c)
{
	const unsigned char *p;
	uint32_t len;

	len = cur_u32(c);
	if ((p = cur_take(c, len)) == NULL)
		return NULL;
	if (memchr(p, '\0', len) != NULL) {
		c->bad = 1;
		return NULL;
	}
	return xstrndup((const char *)p, len);
}

void
rec_segment_encode(struct rec_buf *b, const struct rec_segment *s)
{
	rec_buf_u32(b, s->version);
	rec_buf_u64(b, s->segno);
	rec_buf_u64(b, s->size);
	rec_buf_u64(b, s->qid_floor);
	rec_buf_u64(b, s->prev_segno);
	rec_buf_u64(b, s->prev_len);
}

int
rec_segment_decode(const unsigned char *p, size_t len, struct rec_segment *s)
{
	struct rec_cur c = { p, len, 0 };

	s->version = cur_u32(&c);
	s->segno = cur_u64(&c);
	s->size = cur_u64(&c);
	s->qid_floor = cur_u64(&c);
	s->prev_segno = cur_u64(&c);
	s->prev_len = cur_u64(&c);
	return c.bad || c.left != 0 || s->version != REC_SEGMENT_VERSION ?
	    -1 : 0;
}

/* An outcome without its recipient index: in OUTCOME and COPY commits. */
static void
outcome_body_encode(struct rec_buf *b, const struct rec_outcome *o)
{
	rec_buf_u8(b, o->status);
	rec_buf_u32(b, o->attempts);
	rec_buf_u64(b, o->next_try);
	rec_buf_str(b, o->dsn);
	rec_buf_str(b, o->reason);
	rec_buf_str(b, o->remote != NULL ? o->remote : "");
	rec_buf_str(b, o->reply != NULL ? o->reply : "");
}

static void
outcome_body_decode(struct rec_cur *c, struct rec_outcome *o)
{
	o->status = cur_u8(c);
	o->attempts = cur_u32(c);
	o->next_try = cur_u64(c);
	o->dsn = cur_str(c);
	o->reason = cur_str(c);
	o->remote = cur_str(c);
	o->reply = cur_str(c);
	if (o->status > REC_OUT_BOUNCED)
		c->bad = 1;
}

int
rec_commit_encode(struct rec_buf *b, const struct rec_commit *m)
{
	size_t start = b->len;
	uint32_t i;

	rec_buf_u32(b, m->ndata);
	rec_buf_u64(b, m->size);
	rec_buf_u64(b, m->arrival);
	rec_buf_u32(b, m->local_uid);
	rec_buf_u32(b, m->flags);
	rec_buf_str(b, m->sender);
	rec_buf_str(b, m->client_addr);
	rec_buf_str(b, m->client_name);
	rec_buf_str(b, m->helo);
	rec_buf_u32(b, m->nrcpt);
	for (i = 0; i < m->nrcpt; i++) {
		rec_buf_u8(b, m->rcpt[i].disp);
		rec_buf_str(b, m->rcpt[i].addr);
		if (m->flags & REC_CF_COPY)
			outcome_body_encode(b, &m->rcpt[i].state);
	}
	return b->len - start > REC_MAX_PAYLOAD ? -1 : 0;
}

void
rec_commit_free(struct rec_commit *m)
{
	uint32_t i;

	free(m->sender);
	free(m->client_addr);
	free(m->client_name);
	free(m->helo);
	for (i = 0; m->rcpt != NULL && i < m->nrcpt; i++) {
		free(m->rcpt[i].addr);
		rec_outcome_free(&m->rcpt[i].state);
	}
	free(m->rcpt);
	memset(m, 0, sizeof(*m));
}

int
rec_commit_decode(const unsigned char *p, size_t len, struct rec_commit *m)
{
	struct rec_cur c = { p, len, 0 };
	uint32_t i, n;

	memset(m, 0, sizeof(*m));
	m->ndata = cur_u32(&c);
	m->size = cur_u64(&c);
	m->arrival = cur_u64(&c);
	m->local_uid = cur_u32(&c);
	m->flags = cur_u32(&c);
	m->sender = cur_str(&c);
	m->client_addr = cur_str(&c);
	m->client_name = cur_str(&c);
	m->helo = cur_str(&c);
	n = cur_u32(&c);
	/* Each recipient takes at least 5 bytes: bound n before allocating. */
	if (c.bad || n == 0 || n > c.left / 5)
		goto bad;
	m->rcpt = xcalloc(n, sizeof(*m->rcpt));
	m->nrcpt = n;
	for (i = 0; i < n && !c.bad; i++) {
		m->rcpt[i].disp = cur_u8(&c);
		m->rcpt[i].addr = cur_str(&c);
		if (m->rcpt[i].disp > REC_DISP_QUARANTINE)
			c.bad = 1;
		if (m->flags & REC_CF_COPY)
			outcome_body_decode(&c, &m->rcpt[i].state);
	}
	if (c.bad || c.left != 0)
		goto bad;
	return 0;
bad:
	rec_commit_free(m);
	return -1;
}

void
rec_outcome_encode(struct rec_buf *b, const struct rec_outcome *o)
{
	rec_buf_u32(b, o->rcpt);
	outcome_body_encode(b, o);
}

void
rec_outcome_free(struct rec_outcome *o)
{
	free(o->dsn);
	free(o->reason);
	free(o->remote);
	free(o->reply);
	memset(o, 0, sizeof(*o));
}

int
rec_outcome_decode(const unsigned char *p, size_t len, struct rec_outcome *o)
{
	struct rec_cur c = { p, len, 0 };

	memset(o, 0, sizeof(*o));
	o->rcpt = cur_u32(&c);
	outcome_body_decode(&c, o);
	if (c.bad || c.left != 0) {
		rec_outcome_free(o);
		return -1;
	}
	return 0;
}

void
rec_data_encode(struct rec_buf *b, uint32_t index, const void *content,
    size_t len)
{
	rec_buf_u32(b, index);
	rec_buf_add(b, content, len);
}

int
rec_data_decode(const unsigned char *p, size_t len, uint32_t *index,
    const unsigned char **content, size_t *clen)
{
	if (len < REC_DATA_PREFIX)
		return -1;
	*index = rec_get32(p);
	*content = p + REC_DATA_PREFIX;
	*clen = len - REC_DATA_PREFIX;
	return 0;
}

/*
 * The scanner.  Sequence numbers are +1 per record within a segment, so
 * after a damaged stretch the next genuine record's number can exceed the
 * last good one by at most one per REC_HDR_SIZE bytes skipped; anything
 * else (stale bytes from an older use of the space, or a chance header)
 * is not plausible.  Before the first record of the buffer only "greater
 * than prev_seq" is known.
 */
struct scan_state {
	uint64_t	prev;		/* last seq accepted */
	int		prev_here;	/* prev came from this buffer */
	size_t		prev_end;	/* where that record ended */
};

static int
seq_plausible(const struct scan_state *st, uint64_t seq, size_t off)
{
	if (seq <= st->prev)
		return 0;
	if (!st->prev_here)
		return 1;
	return seq - st->prev <= (off - st->prev_end) / REC_HDR_SIZE + 1;
}

/* An intact record at off: header, plausible seq, whole payload, CRC. */
static int
intact_at(const struct rec_scan *s, const struct scan_state *st, size_t off,
    struct rec_hdr *h)
{
	if (s->len - off < REC_HDR_SIZE || rec_hdr_decode(s->buf + off, h))
		return 0;
	if (!seq_plausible(st, h->seq, off))
		return 0;
	if (s->len - off - REC_HDR_SIZE < h->len)
		return 0;
	return crc32c(0, s->buf + off + REC_HDR_SIZE, h->len) == h->pcrc;
}

static int
all_zero(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* Next offset after off where an intact record starts, or s->len. */
static size_t
resync(const struct rec_scan *s, const struct scan_state *st, size_t off)
{
	const unsigned char *p;
	struct rec_hdr h;

	for (off++; off + REC_HDR_SIZE <= s->len; off++) {
		p = memchr(s->buf + off, REC_MAGIC & 0xff,
		    s->len - REC_HDR_SIZE + 1 - off);
		if (p == NULL)
			break;
		off = (size_t)(p - s->buf);
		if (intact_at(s, st, off, &h))
			return off;
	}
	return s->len;
}

static void
emit(rec_scan_fn fn, void *arg, enum rec_item_kind kind, size_t off,
    size_t len, const struct rec_hdr *h, const unsigned char *payload)
{
	struct rec_item it;

	if (fn == NULL)
		return;
	memset(&it, 0, sizeof(it));
	it.kind = kind;
	it.off = off;
	it.len = len;
	if (h != NULL)
		it.hdr = *h;
	it.payload = payload;
	fn(arg, &it);
}

/* Length of the tail: up to the last non-zero byte after valid_end. */
static size_t
tail_length(const struct rec_scan *s)
{
	size_t end = s->len;

	while (end > s->valid_end && s->buf[end - 1] == 0)
		end--;
	return end - s->valid_end;
}

void
rec_scan(struct rec_scan *s, rec_scan_fn fn, void *arg)
{
	struct scan_state st = { s->prev_seq, 0, 0 };
	struct rec_hdr h;
	size_t off = 0, next, size;

	s->valid_end = 0;
	s->nrecords = s->ndamaged = s->nskipped = 0;
	while (off < s->len) {
		if (s->len - off >= REC_HDR_SIZE &&
		    rec_hdr_decode(s->buf + off, &h) == 0 &&
		    seq_plausible(&st, h.seq, off) &&
		    s->len - off - REC_HDR_SIZE >= h.len) {
			size = REC_HDR_SIZE + (size_t)h.len;
			if (crc32c(0, s->buf + off + REC_HDR_SIZE, h.len) ==
			    h.pcrc) {
				emit(fn, arg, REC_ITEM_RECORD, off, size, &h,
				    s->buf + off + REC_HDR_SIZE);
				s->nrecords++;
				s->valid_end = off + size;
			} else {
				/* The header vouches for the length. */
				emit(fn, arg, REC_ITEM_DAMAGED, off, size, &h,
				    NULL);
				s->ndamaged++;
			}
			st.prev = h.seq;
			st.prev_here = 1;
			st.prev_end = off + size;
			off += size;
			continue;
		}
		if (all_zero(s->buf + off, s->len - off))
			break;
		if ((next = resync(s, &st, off)) == s->len)
			break;
		emit(fn, arg, REC_ITEM_SKIPPED, off, next - off, NULL, NULL);
		s->nskipped += next - off;
		off = next;
	}
	s->last_seq = st.prev;
	s->tail_len = tail_length(s);
}
