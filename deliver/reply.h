/*
 * SMTP replies as the client reads them (RFC 5321 section 4.2): one or
 * more lines "ddd-text" ending with "ddd text", every line with the same
 * code, and an optional enhanced status code (RFC 3463) at the start of
 * the text.  Pure functions, no I/O, no logging: the SMTP client feeds
 * lines and decides what a reply means.
 */
#ifndef BULWARK_REPLY_H
#define BULWARK_REPLY_H

#include <stddef.h>
#include <stdint.h>

#define REPLY_LINE_MAX	2048	/* longest line taken (RFC: 512) */
#define REPLY_LINES_MAX	200	/* lines in one reply */
#define REPLY_TEXT_MAX	1024	/* reply text kept for logs and reports */

enum reply_result {
	REPLY_ERROR = -1,	/* not an SMTP reply: drop the connection */
	REPLY_MORE = 0,		/* a continuation line: read on */
	REPLY_DONE = 1,		/* the last line arrived */
};

struct smtp_reply {
	int	code;			/* 200..599, 0 before the first line */
	int	done;
	size_t	nlines;
	char	enh[16];		/* "x.y.z" or "" */
	/*
	 * The reply for people: the first line whole, the text of each
	 * further line after a space; bytes outside printable ASCII become
	 * '?'; cut at REPLY_TEXT_MAX - 1.
	 */
	char	text[REPLY_TEXT_MAX];
	size_t	textlen;
};

/* EHLO keywords the client uses. */
#define EHLO_PIPELINING		0x01
#define EHLO_SIZE		0x02
#define EHLO_8BITMIME		0x04
#define EHLO_ENHANCEDSTATUS	0x08

void	reply_init(struct smtp_reply *);
/* Feed one line without its line ending. */
int	reply_line(struct smtp_reply *, const char *line, size_t len);
/*
 * Feed as many complete lines (ending in LF, CR before it dropped) from
 * buf as make up the reply; *used is set to the bytes consumed.  A line
 * still incomplete past REPLY_LINE_MAX is an error.
 */
int	reply_parse(struct smtp_reply *, const char *buf, size_t len,
	    size_t *used);
/*
 * One line of an EHLO reply (whole, "250-KEYWORD params"): adds the
 * EHLO_* flag it names to *ext; SIZE with a number sets *size (0 when the
 * server names no limit).  Returns 0, or -1 for a line too short.
 */
int	reply_ehlo_line(const char *line, size_t len, unsigned *ext,
	    uint64_t *size);
/*
 * The status code to report: the reply's enhanced code, else "2.0.0",
 * "4.0.0" or "5.0.0" by class, "4.5.0" for a class the client did not
 * expect.
 */
const char	*reply_dsn(const struct smtp_reply *);

#endif
