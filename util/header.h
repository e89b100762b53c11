/*
 * Header checks shared by smtpd (local submission sessions) and sendmail
 * (the maildrop path): which of the headers RFC 5322 wants are missing,
 * and the text that supplies them.  Pure functions, no logging.
 */
#ifndef BULWARK_HEADER_H
#define BULWARK_HEADER_H

#include <stddef.h>
#include <time.h>

#define HDR_HAS_MESSAGE_ID	0x01
#define HDR_HAS_DATE		0x02
#define HDR_HAS_FROM		0x04

/*
 * Length of the field name when line starts with "name:" (blanks allowed
 * before the colon, as the obsolete syntax of RFC 5322 permits), else 0.
 */
size_t	header_name_len(const char *line, size_t len);

/*
 * Scan one unfolded or folded header line (without its line ending) and
 * return the HDR_HAS_* flag it sets, or 0.
 */
int	header_line_flag(const char *line, size_t len);

/*
 * Write the missing headers (those whose flag is not in present), each
 * ending in CRLF, into out.  sender is the envelope sender used for From:,
 * qid and hostname make the Message-ID unique.  Returns the length, or -1
 * if out is too small.
 */
int	header_fixup_text(int present, const char *sender, const char *qid,
	    const char *hostname, time_t now, char *out, size_t outlen);

/* Count of "Received:" header lines, for the hop limit. */
int	header_is_received(const char *line, size_t len);

/*
 * Write when as an RFC 5322 date in UTC ("Thu, 03 Dec 2026 21:40:00
 * +0000") with fixed English names.  Returns the length, or -1.
 */
int	header_date(time_t when, char *out, size_t outlen);

#endif
