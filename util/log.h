/*
 * Logging in syslog form: one line per event, tagged "bulwark/<role>[pid]".
 * Foreground daemons (-d) and the command line tools write to stderr in the
 * same form with a timestamp; daemons otherwise use syslog facility mail.
 */
#ifndef BULWARK_LOG_H
#define BULWARK_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define LOG_PRINTF(a, b)	__attribute__((format(printf, a, b)))

/* tag is e.g. "smtpd"; to_stderr selects stderr instead of syslog. */
void	log_init(const char *tag, int to_stderr);
/* Let the syslog connection survive a later chroot. */
void	log_open_now(void);
void	log_set_debug(int);

/* The operator's events, and their severities. */
void	log_info(const char *, ...) LOG_PRINTF(1, 2);
void	log_warn(const char *, ...) LOG_PRINTF(1, 2);
void	log_debug(const char *, ...) LOG_PRINTF(1, 2);
/* The environment is wrong: log and exit(1); the master restarts us. */
void	fatal(const char *, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));
/* fatal() with ": strerror(errno)" appended. */
void	fatalx_errno(const char *, ...) LOG_PRINTF(1, 2)
	    __attribute__((noreturn));
/* An invariant broke: log and abort() for a core. */
void	panic(const char *, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));

/*
 * Copy network-supplied text into out for logging: non-printable bytes
 * become \xNN, and the result is cut at outlen - 1 with "..." marked.
 */
char	*log_escape(char *out, size_t outlen, const void *in, size_t inlen);

#endif
