/*
 * Maildir naming and line-ending conversion (see maildir.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

#include "maildir.h"

int
maildir_escape_host(const char *host, char *out, size_t outlen)
{
	size_t o = 0;
	const char *esc;
	size_t elen;

	for (; *host != '\0'; host++) {
		if (*host == '/')
			esc = "\\057";
		else if (*host == ':')
			esc = "\\072";
		else
			esc = NULL;
		elen = esc != NULL ? 4 : 1;
		if (o + elen >= outlen)
			return -1;
		if (esc != NULL)
			memcpy(out + o, esc, elen);
		else
			out[o] = *host;
		o += elen;
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return (int)o;
}

int
maildir_unique_name(char *out, size_t outlen, int64_t sec, long usec,
    long pid, uint64_t n, const char *host)
{
	char ehost[MAILDIR_NAME_MAX];
	int len;

	if (sec < 0 || usec < 0 || usec > 999999 || pid <= 0)
		return -1;
	if (*host == '\0')
		host = "localhost";
	if (maildir_escape_host(host, ehost, sizeof(ehost)) == -1)
		return -1;
	len = snprintf(out, outlen, "%" PRId64 ".M%ldP%ldQ%" PRIu64 ".%s",
	    sec, usec, pid, n, ehost);
	if (len < 0 || (size_t)len >= outlen)
		return -1;
	return len;
}

int
maildir_trace(char *out, size_t outlen, const char *sender,
    const char *rcpt)
{
	int len;

	if (addr_has_control(sender) || addr_has_control(rcpt))
		return -1;
	len = snprintf(out, outlen, "Return-Path: <%s>\nDelivered-To: %s\n",
	    sender, rcpt);
	if (len < 0 || (size_t)len >= outlen)
		return -1;
	return len;
}

void
maildir_lf_init(struct lfconv *c)
{
	c->cr = 0;
}

size_t
maildir_lf(struct lfconv *c, const void *in, size_t len, char *out)
{
	const unsigned char *p = in;
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (c->cr) {
			c->cr = 0;
			if (p[i] == '\n') {
				out[o++] = '\n';
				continue;
			}
			out[o++] = '\r';	/* a bare CR stays */
		}
		if (p[i] == '\r')
			c->cr = 1;
		else
			out[o++] = (char)p[i];
	}
	return o;
}

size_t
maildir_lf_end(struct lfconv *c, char *out)
{
	if (!c->cr)
		return 0;
	c->cr = 0;
	out[0] = '\r';
	return 1;
}
