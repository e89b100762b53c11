/*
 * Message content as the SMTP client writes it after DATA: a line that
 * starts with '.' gets another one (RFC 5321 section 4.5.2), every line
 * ends in CRLF, and the data ends with "CRLF.CRLF".  Pure functions that
 * work block by block.
 */
#ifndef BULWARK_DOTSTUFF_H
#define BULWARK_DOTSTUFF_H

#include <stddef.h>

struct dotstuff {
	int	bol;		/* the next byte starts a line */
	int	cr;		/* the last byte was a CR */
	int	empty;		/* nothing written yet */
};

void	dotstuff_init(struct dotstuff *);
/*
 * Stuff len bytes of content into out, which must hold 2 * len bytes.
 * The queue's content is canonical CRLF already; a bare LF is still
 * written as CRLF so that the wire never carries one.  Returns the
 * bytes written.
 */
size_t	dotstuff(struct dotstuff *, const void *in, size_t len, char *out);
/*
 * The end of the data: a CRLF when the content did not end a line, then
 * ".\r\n".  out must hold DOTSTUFF_END_MAX bytes.  Returns the length.
 */
#define DOTSTUFF_END_MAX	5
size_t	dotstuff_end(struct dotstuff *, char *out);

#endif
