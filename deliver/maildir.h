/*
 * Maildir conventions as pure functions: unique file names, the trace
 * header lines written in front of a message, and the conversion of the
 * queue's canonical CRLF content to the LF line endings of a Maildir file.
 * No I/O and no logging here; deliver/local_maildir.c does the writing.
 */
#ifndef BULWARK_MAILDIR_H
#define BULWARK_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

#define MAILDIR_NAME_MAX	256	/* a unique name with its NUL */

/*
 * Copy host into out with '/' written as "\057" and ':' as "\072", the
 * Maildir escapes for the two bytes a file name cannot carry.  Returns
 * the length, or -1 when out is too small.
 */
int	maildir_escape_host(const char *host, char *out, size_t outlen);

/*
 * Write "<sec>.M<usec>P<pid>Q<n>.<host>" with the host escaped.  Returns
 * the length, or -1 when out is too small or an argument is out of range.
 */
int	maildir_unique_name(char *out, size_t outlen, int64_t sec,
	    long usec, long pid, uint64_t n, const char *host);

/*
 * The lines written in front of the content: "Return-Path: <sender>" and
 * "Delivered-To: rcpt", each ending in LF.  Returns the length, or -1
 * when out is too small or an address holds a control character (it
 * would start a header line of its own).
 */
int	maildir_trace(char *out, size_t outlen, const char *sender,
	    const char *rcpt);

/* CRLF to LF conversion across blocks: a CR waiting for the next byte. */
struct lfconv {
	int	cr;
};

void	maildir_lf_init(struct lfconv *);
/*
 * Convert len bytes: every CRLF becomes LF, a bare CR and everything else
 * stay as they are.  out must hold len + 1 bytes.  Returns bytes written.
 */
size_t	maildir_lf(struct lfconv *, const void *in, size_t len, char *out);
/* End of content: writes a CR still pending (at most 1 byte). */
size_t	maildir_lf_end(struct lfconv *, char *out);

#endif
