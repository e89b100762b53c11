/*
 * Fuzz the recovery scanner: arbitrary bytes as segments.
 *
 * The first byte picks a mode.  Raw: the rest is one segment as found on
 * disk.  Built: the rest describes records (type, queue id, sequence
 * step, payload) that are encoded with valid checksums, so the fuzzer
 * gets past the CRCs to the decoders and the message logic; a byte of the
 * result may then be flipped, and the bytes are split into two segments.
 * Either way the scanner and recovery must not crash, leak or read out
 * of bounds, and what they report must hold together.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/record.h"
#include "queue/recovery.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(struct recovery *r, size_t total)
{
	struct qmsg *m;
	size_t n = 0;
	uint32_t i;

	TAILQ_FOREACH(m, &r->live, all) {
		n++;
		for (i = 0; i < m->nchunk; i++)
			if (m->chunk[i].off + REC_HDR_SIZE + m->chunk[i].len >
			    total)
				abort();
		if (m->nrcpt == 0 || m->commit.seq == 0)
			abort();
	}
	if (n != r->nlive)
		abort();
}

/* Build records from the description in data. */
static void
build(const uint8_t *data, size_t size, struct rec_buf *b)
{
	uint64_t seq = 1;
	size_t len;
	uint8_t type;

	while (size >= 4) {
		type = (uint8_t)(1 + data[0] % 5);
		seq += data[2] & 3;	/* 0 repeats a number: stale */
		len = data[3];
		data += 4;
		size -= 4;
		if (len > size)
			len = size;
		rec_encode(b, type, seq, type == REC_SEGMENT ? 0 :
		    1 + data[-3] % 8, data, len);
		data += len;
		size -= len;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct recovery r;
	struct rec_buf b = { 0 };
	const unsigned char *buf;
	size_t len, split, keep;
	unsigned mode;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	if (mode & 1) {
		build(data, size, &b);
		buf = b.p;
		len = b.len;
		/* Flip one byte, somewhere decided by the input. */
		if (len > 0 && (mode & 2))
			b.p[(size * 131u + mode) % len] ^= (uint8_t)(mode | 1);
	} else {
		buf = data;
		len = size;
	}
	if (buf == NULL)
		buf = (const unsigned char *)"";	/* nothing was built */
	split = len > 0 ? (mode >> 2) * len / 64 : 0;
	if (split > len)
		split = len;

	recovery_init(&r, 0);
	keep = recovery_feed(&r, 1, buf, split, 0);
	if (keep != split)
		abort();
	keep = recovery_feed(&r, 2, buf + split, len - split, 1);
	if (keep > len - split)
		abort();
	recovery_finish(&r);
	check(&r, len);
	recovery_free(&r);
	rec_buf_free(&b);
	return 0;
}
