/*
 * Header checks for locally submitted mail: which of Message-ID:, Date:
 * and From: a message carries, the text that supplies the missing ones,
 * and the Received: test behind the hop limit.
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "header.h"

size_t
header_name_len(const char *line, size_t len)
{
	size_t i, name;

	for (i = 0; i < len; i++) {
		unsigned char c = line[i];

		if (c <= ' ' || c >= 0x7f || c == ':')
			break;
	}
	name = i;
	if (name == 0)
		return 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == len || line[i] != ':')
		return 0;
	return name;
}

static int
header_name_is(const char *line, size_t len, const char *name)
{
	size_t n = header_name_len(line, len);

	return n != 0 && n == strlen(name) && strncasecmp(line, name, n) == 0;
}

int
header_line_flag(const char *line, size_t len)
{
	if (header_name_is(line, len, "Message-ID"))
		return HDR_HAS_MESSAGE_ID;
	if (header_name_is(line, len, "Date"))
		return HDR_HAS_DATE;
	if (header_name_is(line, len, "From"))
		return HDR_HAS_FROM;
	return 0;
}

int
header_is_received(const char *line, size_t len)
{
	return header_name_is(line, len, "Received");
}

int
header_date(time_t when, char *out, size_t outlen)
{
	/* Fixed English names: the C locale's, whatever the process uses. */
	static const char *const days[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	struct tm tm;
	int n;

	if (gmtime_r(&when, &tm) == NULL || tm.tm_wday < 0 ||
	    tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11)
		return -1;
	/* tm_year may be as large as INT_MAX: add in a wider type. */
	n = snprintf(out, outlen, "%s, %02d %s %04lld %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    (long long)tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	return n;
}

/* Append text at *off; -1 once out is full. */
static int
header_put(char *out, size_t outlen, size_t *off, const char *text)
{
	size_t n = strlen(text);

	if (*off + n >= outlen)
		return -1;
	memcpy(out + *off, text, n + 1);
	*off += n;
	return 0;
}

int
header_fixup_text(int present, const char *sender, const char *qid,
    const char *hostname, time_t now, char *out, size_t outlen)
{
	char line[1024], date[64];
	size_t off = 0;
	int n;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (!(present & HDR_HAS_MESSAGE_ID)) {
		n = snprintf(line, sizeof(line), "Message-ID: <%s.%lld@%s>\r\n",
		    qid, (long long)now, hostname);
		if (n < 0 || (size_t)n >= sizeof(line) ||
		    header_put(out, outlen, &off, line) == -1)
			return -1;
	}
	if (!(present & HDR_HAS_DATE)) {
		if (header_date(now, date, sizeof(date)) == -1)
			return -1;
		n = snprintf(line, sizeof(line), "Date: %s\r\n", date);
		if (n < 0 || (size_t)n >= sizeof(line) ||
		    header_put(out, outlen, &off, line) == -1)
			return -1;
	}
	if (!(present & HDR_HAS_FROM)) {
		/* The null sender has no mailbox: name the mail system. */
		if (*sender == '\0')
			n = snprintf(line, sizeof(line),
			    "From: <MAILER-DAEMON@%s>\r\n", hostname);
		else
			n = snprintf(line, sizeof(line), "From: <%s>\r\n",
			    sender);
		if (n < 0 || (size_t)n >= sizeof(line) ||
		    header_put(out, outlen, &off, line) == -1)
			return -1;
	}
	return (int)off;
}
