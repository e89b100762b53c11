/*
 * Dot-stuffing of outgoing content (see dotstuff.h).
 */
#include <string.h>

#include "dotstuff.h"

void
dotstuff_init(struct dotstuff *d)
{
	d->bol = 1;
	d->cr = 0;
	d->empty = 1;
}

size_t
dotstuff(struct dotstuff *d, const void *in, size_t len, char *out)
{
	const unsigned char *p = in;
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (d->bol && p[i] == '.')
			out[o++] = '.';
		if (p[i] == '\n' && !d->cr)
			out[o++] = '\r';
		out[o++] = (char)p[i];
		d->bol = p[i] == '\n';
		d->cr = p[i] == '\r';
	}
	if (len > 0)
		d->empty = 0;
	return o;
}

size_t
dotstuff_end(struct dotstuff *d, char *out)
{
	size_t o = 0;

	if (!d->empty && !d->bol) {
		memcpy(out, "\r\n", 2);
		o = 2;
	}
	memcpy(out + o, ".\r\n", 3);
	d->bol = 1;
	d->cr = 0;
	return o + 3;
}
