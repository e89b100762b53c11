/*
 * The DATA state machine: bytes from the client in, message content out.
 *
 * Only <CR><LF>.<CR><LF> ends the data; the machine starts at the start
 * of a line, so a first line of "." ends an empty message.  Dot-stuffing
 * is undone and the output uses CRLF line endings.  A bare CR or LF (one
 * that is not part of CRLF) never ends the message: it is flagged and
 * written out as CRLF, and a dot after it is plain text.  With cr_text
 * (local submission) a bare CR is instead a byte of its line, kept as
 * it is and never flagged.  The same pass measures what the end of data
 * decides on: size, line lengths, NUL bytes, bare line endings, and the
 * Received: headers of the header section.  Pure code: no I/O, no
 * logging.
 */
#ifndef BULWARK_SMTPD_DATA_H
#define BULWARK_SMTPD_DATA_H

#include <stddef.h>
#include <stdint.h>

/* Longest field-name prefix held back while deciding "header or body". */
#define DATA_HOLD_MAX	256
/* Room data_feed() needs free in out before it takes another byte. */
#define DATA_OUT_SLACK	(DATA_HOLD_MAX + 16)

/* Reasons to refuse the message at the end of data. */
#define DATA_F_BARE	0x01	/* bare CR or LF (bare_lf = reject) */
#define DATA_F_NUL	0x02
#define DATA_F_LONGLINE	0x04	/* a line over line_length_limit */
#define DATA_F_SIZE	0x08	/* over message_size_limit */
#define DATA_F_HOPS	0x10	/* more Received: headers than hop_limit */

/* How the header section ended (reported once, see data_feed()). */
enum data_hdr_end {
	DATA_HDR_NONE = 0,	/* not (yet) */
	DATA_HDR_BLANK,		/* at an empty line */
	DATA_HDR_BODY,		/* at a line that is no header */
	DATA_HDR_EOD,		/* the message ended inside the headers */
};

struct data_limits {
	uint64_t	size_limit;	/* content bytes; 0 = none */
	uint64_t	line_limit;	/* octets per line; 0 = none */
	int		hop_limit;	/* Received: headers allowed */
	int		normalize;	/* bare_lf = normalize */
	int		cr_text;	/* a bare CR is text (local) */
};

struct data_sm {
	struct data_limits	 lim;
	int			 state;
	int			 flags;		/* DATA_F_* */
	int			 done;		/* end of data seen */
	uint64_t		 size;		/* content bytes written */
	uint64_t		 line_len;

	/* the header section */
	int			 in_header;
	int			 hdr_present;	/* HDR_HAS_* seen */
	int			 received;	/* Received: headers */
	int			 hdr_state;	/* classifying this line */
	char			 hdr_line[DATA_HOLD_MAX];
	size_t			 hdr_len;	/* bytes in hdr_line */

	/* event of the last data_feed() call */
	enum data_hdr_end	 hdr_end;
	size_t			 hdr_off;	/* where, as an out offset */
};

void	data_init(struct data_sm *, const struct data_limits *);

/*
 * Consume bytes of in, appending content to out from *outlen on, while
 * at least DATA_OUT_SLACK bytes of cap are free.  Returns the bytes
 * consumed.  It stops early at the end of data (sm->done) and right after
 * the header section ended: then sm->hdr_end says how and sm->hdr_off is
 * the offset in out where headers may be inserted (the rest of the
 * content follows it).  The next call clears the event.
 */
size_t	data_feed(struct data_sm *, const void *in, size_t len,
	    unsigned char *out, size_t cap, size_t *outlen);

/* The refusal reply for the flags, or NULL when the message may go on. */
const char	*data_refusal(const struct data_sm *);

#endif
