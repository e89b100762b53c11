/*
 * The Received: header smtpd puts in front of every message (RFC 5321
 * section 4.4).  The client is named by its HELO and its address only:
 * smtpd never looks names up.
 */

#include <stdio.h>
#include <string.h>

#include "header.h"
#include "smtpd/smtpd.h"

int
received_header(const struct received_info *ri, char *out, size_t outlen)
{
	char date[64], lit[80];
	int n;

	if (header_date(ri->when, date, sizeof(date)) == -1)
		return -1;
	if (ri->local)
		n = snprintf(out, outlen, "Received: by %s (Bulwark, from "
		    "userid %u)\r\n\tid %s; %s\r\n", ri->hostname,
		    (unsigned)ri->uid, ri->qid, date);
	else {
		/* RFC 5321 4.1.3: IPv6 literals carry their tag. */
		snprintf(lit, sizeof(lit), "%s%s",
		    strchr(ri->addr, ':') != NULL ? "IPv6:" : "", ri->addr);
		if (ri->rcpt != NULL)
			n = snprintf(out, outlen, "Received: from %s (unknown "
			    "[%s])\r\n\tby %s (Bulwark) with %s id %s\r\n"
			    "\tfor <%s>; %s\r\n", ri->helo, lit,
			    ri->hostname, ri->esmtp ? "ESMTP" : "SMTP",
			    ri->qid, ri->rcpt, date);
		else
			n = snprintf(out, outlen, "Received: from %s (unknown "
			    "[%s])\r\n\tby %s (Bulwark) with %s id %s;\r\n"
			    "\t%s\r\n", ri->helo, lit, ri->hostname,
			    ri->esmtp ? "ESMTP" : "SMTP", ri->qid, date);
	}
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	return n;
}
