/*
 * Logging: syslog facility mail, or stderr in the same form for the
 * foreground (-d) and the command line tools.  Each event is formatted
 * into one buffer and written with one call, so lines from several
 * processes (or from the queue's I/O thread) never interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX	2048

static char	log_ident[64] = "bulwark";
static char	log_host[64];
static int	log_stderr = 1;
static int	log_debug_on;

/* Select the destination; tag names the role, e.g. "smtpd". */
void
log_init(const char *tag, int to_stderr)
{
	char *dot;

	if (tag != NULL && *tag != '\0')
		snprintf(log_ident, sizeof(log_ident), "bulwark/%s", tag);
	else
		strlcpy(log_ident, "bulwark", sizeof(log_ident));
	if (gethostname(log_host, sizeof(log_host)) != 0)
		strlcpy(log_host, "localhost", sizeof(log_host));
	log_host[sizeof(log_host) - 1] = '\0';
	/* Syslog shows the short name. */
	if ((dot = strchr(log_host, '.')) != NULL)
		*dot = '\0';
	log_stderr = to_stderr;
	if (!to_stderr)
		openlog(log_ident, LOG_PID, LOG_MAIL);
}

/*
 * Connect to the syslog socket now: once the process is chrooted,
 * /dev/log can no longer be opened.
 */
void
log_open_now(void)
{
	if (!log_stderr)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_debug(int on)
{
	log_debug_on = on;
}

static void
log_stderr_line(const char *prefix, const char *msg)
{
	char line[LOG_LINE_MAX + 256], stamp[32];
	struct tm tm;
	time_t now;
	int n;

	now = time(NULL);
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm) == 0)
		strlcpy(stamp, "-", sizeof(stamp));
	if (log_host[0] == '\0' &&
	    gethostname(log_host, sizeof(log_host)) != 0)
		strlcpy(log_host, "localhost", sizeof(log_host));
	n = snprintf(line, sizeof(line) - 1, "%s %s %s[%ld]: %s%s", stamp,
	    log_host, log_ident, (long)getpid(), prefix, msg);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write: best effort, nothing to do if stderr is gone. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

static void LOG_PRINTF(3, 0)
log_emit(int pri, const char *prefix, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	int saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_stderr)
		log_stderr_line(prefix, msg);
	else
		syslog(pri, "%s%s", prefix, msg);
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_INFO, "", fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, "warning: ", fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	log_emit(LOG_DEBUG, "debug: ", fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, "fatal: ", fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx_errno(const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	const char *err = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fatal("%s: %s", msg, err);
}

void
panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, "panic: ", fmt, ap);
	va_end(ap);
	abort();
}

/*
 * Make network text safe for a log line.  Printable ASCII other than the
 * backslash is kept; every other byte becomes \xNN, so the escape is
 * unambiguous.  When the result does not fit, it ends in "...".
 */
char *
log_escape(char *out, size_t outlen, const void *in, size_t inlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = in;
	size_t i, o = 0, need;
	int cut = 0;

	if (outlen == 0)
		return out;
	for (i = 0; i < inlen; i++) {
		need = (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') ? 1 : 4;
		if (o + need > outlen - 1) {
			cut = 1;
			break;
		}
		if (need == 1) {
			out[o++] = p[i];
			continue;
		}
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[p[i] >> 4];
		out[o++] = hex[p[i] & 0x0f];
	}
	if (cut && outlen > 4) {
		/* Back off whole escapes so that "..." fits. */
		while (o > outlen - 4) {
			if (o >= 4 && out[o - 4] == '\\' && out[o - 3] == 'x')
				o -= 4;
			else
				o--;
		}
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}
