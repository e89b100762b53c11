/*
 * Fuzz the DATA state machine.  The first byte picks the limits and how
 * the rest is split; the rest is fed all at once and in pieces (through
 * a small output buffer), and both runs must agree byte for byte.  The
 * output must be canonical CRLF (with cr_text, bare CRs aside), and the
 * end of data must sit right after a CRLF.CRLF (or a first line of ".").
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/data.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct run {
	unsigned char	*out;
	size_t		 outlen;
	size_t		 used;
	struct data_sm	 sm;
	int		 events;
	size_t		 hdr_off;
};

static void
feed(struct run *r, const struct data_limits *lim, const uint8_t *in,
    size_t len, size_t piece, size_t cap)
{
	unsigned char *buf = malloc(cap);
	size_t olen = 0, n, used;

	if (buf == NULL)
		abort();
	data_init(&r->sm, lim);
	while (r->used < len && !r->sm.done) {
		n = piece == 0 || piece > len - r->used ? len - r->used :
		    piece;
		used = data_feed(&r->sm, in + r->used, n, buf, cap, &olen);
		if (r->sm.hdr_end != DATA_HDR_NONE) {
			r->events++;
			r->hdr_off = r->outlen + r->sm.hdr_off;
			if (r->sm.hdr_off > olen)
				abort();
		}
		r->used += used;
		if (cap - olen < DATA_OUT_SLACK || r->sm.done) {
			memcpy(r->out + r->outlen, buf, olen);
			r->outlen += olen;
			olen = 0;
		}
		if (used == 0 && r->sm.hdr_end == DATA_HDR_NONE &&
		    !r->sm.done)
			abort();
	}
	memcpy(r->out + r->outlen, buf, olen);
	r->outlen += olen;
	free(buf);
}

static void
check_canonical(const struct run *r)
{
	size_t i;

	for (i = 0; i < r->outlen; i++) {
		/* With cr_text a bare CR is line text. */
		if (r->out[i] == '\r' && !r->sm.lim.cr_text &&
		    (i + 1 == r->outlen || r->out[i + 1] != '\n'))
			abort();
		if (r->out[i] == '\n' && (i == 0 || r->out[i - 1] != '\r'))
			abort();
	}
	if (r->outlen > 0 && r->sm.done && (r->outlen < 2 ||
	    r->out[r->outlen - 1] != '\n'))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct data_limits lim;
	struct run a, b;
	size_t max;
	uint8_t mode;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	memset(&lim, 0, sizeof(lim));
	lim.size_limit = mode & 1 ? 500 : 0;
	lim.line_limit = mode & 2 ? 40 : 0;
	lim.hop_limit = mode & 4 ? 1 : 50;
	lim.normalize = (mode & 8) != 0;
	lim.cr_text = (mode & 0x80) != 0;

	/* Every input byte can become two output bytes. */
	max = 2 * size + 16;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if ((a.out = malloc(max)) == NULL || (b.out = malloc(max)) == NULL)
		abort();
	feed(&a, &lim, data, size, 0, max + DATA_OUT_SLACK);
	feed(&b, &lim, data, size, 1 + (mode >> 4),
	    DATA_OUT_SLACK + 1 + (mode >> 4));

	if (a.outlen != b.outlen || memcmp(a.out, b.out, a.outlen) != 0 ||
	    a.used != b.used || a.sm.done != b.sm.done ||
	    a.sm.flags != b.sm.flags || a.sm.size != b.sm.size ||
	    a.events != b.events || a.hdr_off != b.hdr_off ||
	    a.sm.received != b.sm.received ||
	    a.sm.hdr_present != b.sm.hdr_present)
		abort();
	if (a.events > 1 || a.sm.size != a.outlen)
		abort();
	check_canonical(&a);
	if (a.sm.done && !(a.used == 3 && memcmp(data, ".\r\n", 3) == 0) &&
	    (a.used < 5 || memcmp(data + a.used - 5, "\r\n.\r\n", 5) != 0))
		abort();
	if ((data_refusal(&a.sm) == NULL) != (a.sm.flags == 0))
		abort();
	free(a.out);
	free(b.out);
	return 0;
}
