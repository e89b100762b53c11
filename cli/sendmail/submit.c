/*
 * Submission to the running daemon: SMTP over the Unix socket
 * <queue_directory>/public/submit.  smtpd reads our uid from the socket
 * (SO_PEERCRED) and decides the envelope sender itself; what we send in
 * MAIL FROM counts only for root and trusted users.
 *
 * Every reply is awaited before the next command (no pipelining), each
 * with the client timeouts of RFC 5321 section 4.5.3.2 from the config.
 * If the connection breaks before the final dot, or the daemon answers
 * any command or the dot with a 4xx, the caller keeps the message in
 * the maildrop instead: nothing was queued, and a message sendmail was
 * handed is never dropped for a passing fault.  A recipient refused
 * with a 5xx is reported and left out; the others still get the mail.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "cli/sendmail/sendmail.h"

#define SM_REPLY_MAX	1024
#define SM_WBUF		65536
#define SM_QUIT_SECS	10

struct conn {
	int		 fd;
	int		 verbose;
	const char	*prog;
	char		 rbuf[4096];
	size_t		 roff;
	size_t		 rlen;
	char		 wbuf[SM_WBUF];
	size_t		 wlen;
	int		 bol;		/* the next data byte starts a line */
	int		 timeout;	/* seconds, for the write in progress */
	int		 has_8bitmime;
	int		 gone;		/* lost, or 421: no QUIT */
	char		 why[SM_REPLY_MAX + 64];	/* the 4xx, if any */
};

struct reply {
	int	code;
	char	text[SM_REPLY_MAX];	/* the last line, escaped */
};

int
sm_unix_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd, save;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == EINTR)
			continue;
		save = errno;
		close(fd);
		errno = save;
		return -1;
	}
	return fd;
}

/* Wait up to secs for fd; 1 when ready, 0 on timeout, -1 on error. */
static int
wait_fd(int fd, short events, int secs)
{
	struct pollfd pfd;
	int n;

	pfd.fd = fd;
	pfd.events = events;
	do {
		n = poll(&pfd, 1, secs > 0 ? secs * 1000 : -1);
	} while (n == -1 && errno == EINTR);
	return n;
}

static int
write_all(struct conn *c, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if (wait_fd(c->fd, POLLOUT, c->timeout) != 1)
			return -1;
		n = write(c->fd, p, len);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Next byte from the daemon; -1 on end, error or timeout. */
static int
read_byte(struct conn *c, int secs)
{
	ssize_t n;

	if (c->roff == c->rlen) {
		if (wait_fd(c->fd, POLLIN, secs) != 1)
			return -1;
		do {
			n = read(c->fd, c->rbuf, sizeof(c->rbuf));
		} while (n == -1 && errno == EINTR);
		if (n <= 0)
			return -1;
		c->roff = 0;
		c->rlen = (size_t)n;
	}
	return (unsigned char)c->rbuf[c->roff++];
}

/*
 * Read one reply, every line of it; the last line's text is kept.
 * Returns 0, -1 when the connection is gone, -2 when it is no SMTP.
 */
static int
read_reply(struct conn *c, int secs, struct reply *r)
{
	char line[SM_REPLY_MAX];
	size_t len;
	int ch, more;

	do {
		len = 0;
		while ((ch = read_byte(c, secs)) != '\n') {
			if (ch == -1)
				return -1;
			if (len < sizeof(line) - 1)
				line[len++] = (char)ch;
		}
		if (len > 0 && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		if (c->verbose)
			fprintf(stderr, "<<< %s\n",
			    log_escape(r->text, sizeof(r->text), line, len));
		if (len < 3 || line[0] < '1' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' ||
		    line[2] < '0' || line[2] > '9' ||
		    (len > 3 && line[3] != ' ' && line[3] != '-'))
			return -2;
		more = len > 3 && line[3] == '-';
		r->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (more && len >= 12 && strncasecmp(line + 4, "8BITMIME",
		    8) == 0 && (len == 12 || line[12] == ' '))
			c->has_8bitmime = 1;
		log_escape(r->text, sizeof(r->text), line, len);
	} while (more);
	return 0;
}

/* Send one command line and read its reply. */
static int
command(struct conn *c, int secs, struct reply *r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
command(struct conn *c, int secs, struct reply *r, const char *fmt, ...)
{
	char line[SM_REPLY_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return -2;
	if (c->verbose)
		fprintf(stderr, ">>> %s\n", line);
	memcpy(line + n, "\r\n", 3);
	c->timeout = secs;
	if (write_all(c, line, (size_t)n + 2) == -1)
		return -1;
	return read_reply(c, secs, r);
}

static int
flush_data(struct conn *c)
{
	if (c->wlen > 0 && write_all(c, c->wbuf, c->wlen) == -1)
		return -1;
	c->wlen = 0;
	return 0;
}

/* sm_msg_walk callback: the content with dot-stuffing, buffered. */
static int
data_out(void *arg, const char *p, size_t len)
{
	struct conn *c = arg;
	size_t i;

	for (i = 0; i < len; i++) {
		if (c->wlen + 2 > sizeof(c->wbuf) && flush_data(c) == -1)
			return -1;
		if (c->bol && p[i] == '.')
			c->wbuf[c->wlen++] = '.';
		c->wbuf[c->wlen++] = p[i];
		c->bol = p[i] == '\n';
	}
	return 0;
}

/* The end of data: a line ending if the content lacks one, then ".". */
static int
data_end(struct conn *c)
{
	if (!c->bol && data_out(c, "\r\n", 2) == -1)
		return -1;
	if (c->wlen + 3 > sizeof(c->wbuf) && flush_data(c) == -1)
		return -1;
	memcpy(c->wbuf + c->wlen, ".\r\n", 3);
	c->wlen += 3;
	return flush_data(c);
}

static int
has_8bit(const struct sm_msg *m)
{
	size_t i;

	for (i = 0; i < m->len; i++)
		if ((unsigned char)m->buf[i] >= 0x80)
			return 1;
	return 0;
}

static void
quit(struct conn *c)
{
	struct reply r;

	(void)command(c, SM_QUIT_SECS, &r, "QUIT");
}

/* Report a refusal; returns the exit code for it. */
static int
refused(struct conn *c, const char *what, const struct reply *r,
    int permanent)
{
	fprintf(stderr, "%s: %s: %s\n", c->prog, what, r->text);
	return r->code >= 500 ? permanent : EX_TEMPFAIL;
}

static int
lost(struct conn *c, int rc, const char *when)
{
	c->gone = 1;
	if (rc == -2) {
		fprintf(stderr, "%s: the mail system answered %s with "
		    "something that is not SMTP\n", c->prog, when);
		return EX_PROTOCOL;
	}
	return SM_FALLBACK;
}

/* A 4xx: the daemon took nothing, so the maildrop keeps the message. */
static int
deferred(struct conn *c, const char *what, const struct reply *r)
{
	snprintf(c->why, sizeof(c->why), "%s: %s", what, r->text);
	if (c->verbose)
		fprintf(stderr, "%s: %s\n", c->prog, c->why);
	if (r->code == 421)
		c->gone = 1;	/* the daemon closes after it */
	return SM_FALLBACK;
}

static int
is_temp(const struct reply *r)
{
	return r->code >= 400 && r->code < 500;
}

/* Greeting and EHLO; 0 to go on, else the result. */
static int
hello(struct conn *c, const struct config *cfg)
{
	struct reply r;
	int rc;

	if ((rc = read_reply(c, (int)cfg->smtp_greeting_timeout, &r)) != 0)
		return lost(c, rc, "the connection");
	if (is_temp(&r))
		return deferred(c, "greeting", &r);
	if (r.code != 220)
		return refused(c, "the mail system refused the connection",
		    &r, EX_UNAVAILABLE);
	rc = command(c, (int)cfg->smtp_mail_timeout, &r, "EHLO localhost");
	if (rc != 0)
		return lost(c, rc, "EHLO");
	if (is_temp(&r))
		return deferred(c, "EHLO", &r);
	if (r.code != 250)
		return refused(c, "EHLO refused", &r, EX_PROTOCOL);
	return 0;
}

/* Report a recipient refused for good and take it out of env. */
static void
drop_rcpt(struct conn *c, struct sm_envelope *env, size_t i,
    const struct reply *r)
{
	(void)refused(c, env->rcpt[i], r, EX_NOUSER);
	free(env->rcpt[i]);
	memmove(env->rcpt + i, env->rcpt + i + 1,
	    (env->nrcpt - i - 1) * sizeof(env->rcpt[0]));
	env->nrcpt--;
	env->refused++;
}

/*
 * MAIL and every RCPT; 0 when some recipient was accepted.  The first
 * 4xx ends the loop: the maildrop copy is for every recipient not yet
 * refused, so that none of them is tried twice.
 */
static int
envelope(struct conn *c, const struct config *cfg,
    struct sm_envelope *env, const struct sm_msg *m)
{
	struct reply r;
	size_t i;
	int rc;

	rc = command(c, (int)cfg->smtp_mail_timeout, &r, "MAIL FROM:<%s>%s",
	    env->has_sender ? env->sender : env->login,
	    c->has_8bitmime && has_8bit(m) ? " BODY=8BITMIME" : "");
	if (rc != 0)
		return lost(c, rc, "MAIL");
	if (is_temp(&r))
		return deferred(c, "MAIL", &r);
	if (r.code != 250)
		return refused(c, "sender refused", &r, EX_DATAERR);
	for (i = 0; i < env->nrcpt; ) {
		rc = command(c, (int)cfg->smtp_rcpt_timeout, &r, "RCPT TO:<%s>",
		    env->rcpt[i]);
		if (rc != 0)
			return lost(c, rc, "RCPT");
		if (is_temp(&r))
			return deferred(c, env->rcpt[i], &r);
		if (r.code == 250 || r.code == 251)
			i++;
		else
			drop_rcpt(c, env, i, &r);
	}
	return env->nrcpt > 0 ? 0 : EX_NOUSER;
}

/* DATA, the content, the final dot and its reply. */
static int
content(struct conn *c, const struct config *cfg, const struct sm_msg *m)
{
	struct reply r;
	int rc;

	rc = command(c, (int)cfg->smtp_data_init_timeout, &r, "DATA");
	if (rc != 0)
		return lost(c, rc, "DATA");
	if (is_temp(&r))
		return deferred(c, "DATA", &r);
	if (r.code != 354)
		return refused(c, "DATA refused", &r, EX_DATAERR);
	c->bol = 1;
	c->wlen = 0;
	c->timeout = (int)cfg->smtp_data_block_timeout;
	if (sm_msg_walk(m, data_out, c) == -1 ||
	    data_end(c) == -1)
		return lost(c, -1, "DATA");
	if (c->verbose)
		fprintf(stderr, ">>> (%zu bytes of content)\n>>> .\n",
		    m->len + m->added_len);
	rc = read_reply(c, (int)cfg->smtp_data_done_timeout, &r);
	if (rc == -1) {
		/* The daemon may have queued it: a kept copy could double. */
		c->gone = 1;
		fprintf(stderr, "%s: lost the connection after the end of "
		    "data; the message may or may not have been queued\n",
		    c->prog);
		return EX_TEMPFAIL;
	}
	if (rc == -2)
		return lost(c, rc, "the end of data");
	if (r.code >= 200 && r.code < 300)
		return 0;
	/* An explicit 4xx is no doubt: the daemon did not take it. */
	if (is_temp(&r))
		return deferred(c, "end of data", &r);
	return refused(c, "message refused", &r, EX_DATAERR);
}

/* A session on the connected socket fd; NULL, fd closed, without memory. */
static struct conn *
conn_new(const struct sm_opts *opts, int fd)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		fprintf(stderr, "%s: out of memory\n", opts->prog);
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->verbose = opts->verbose;
	c->prog = opts->prog;
	return c;
}

int
sm_submit(const struct config *cfg, const struct sm_opts *opts,
    struct sm_envelope *env, const struct sm_msg *m, int fd)
{
	struct conn *c;
	int rc;

	if ((c = conn_new(opts, fd)) == NULL)
		return EX_OSERR;
	if ((rc = hello(c, cfg)) == 0 &&
	    (rc = envelope(c, cfg, env, m)) == 0)
		rc = content(c, cfg, m);
	if (!c->gone)
		quit(c);
	close(fd);
	free(c);
	return rc;
}

/* Print one RCPT verdict the way sendmail -bv does; its exit code. */
static int
verdict(const char *rcpt, const struct reply *r)
{
	const char *what = "deferred";
	int rc = EX_TEMPFAIL;

	if (r->code == 250 || r->code == 251) {
		what = "deliverable";
		rc = 0;
	} else if (r->code >= 500) {
		what = "undeliverable";
		rc = EX_NOUSER;
	}
	printf("%s... %s: %s\n", rcpt, what, r->text);
	return rc;
}

/* MAIL, then RCPT for each recipient; the worst verdict. */
static int
verify_rcpts(struct conn *c, const struct config *cfg,
    const struct sm_envelope *env)
{
	struct reply r;
	size_t i;
	int rc, worst = 0;

	rc = command(c, (int)cfg->smtp_mail_timeout, &r, "MAIL FROM:<%s>",
	    env->has_sender ? env->sender : env->login);
	if (rc != 0)
		return lost(c, rc, "MAIL");
	if (r.code != 250)
		return refused(c, "sender refused", &r, EX_DATAERR);
	for (i = 0; i < env->nrcpt; i++) {
		rc = command(c, (int)cfg->smtp_rcpt_timeout, &r,
		    "RCPT TO:<%s>", env->rcpt[i]);
		if (rc != 0)
			return lost(c, rc, "RCPT");
		rc = verdict(env->rcpt[i], &r);
		if (r.code == 421)
			return EX_TEMPFAIL;
		/* A permanent refusal outweighs a temporary one. */
		if (worst != EX_NOUSER && rc != 0)
			worst = rc;
	}
	(void)command(c, (int)cfg->smtp_mail_timeout, &r, "RSET");
	return worst;
}

int
sm_verify(const struct config *cfg, const struct sm_opts *opts,
    const struct sm_envelope *env, int fd)
{
	struct conn *c;
	int rc;

	if ((c = conn_new(opts, fd)) == NULL)
		return EX_OSERR;
	if ((rc = hello(c, cfg)) == 0)
		rc = verify_rcpts(c, cfg, env);
	if (rc == SM_FALLBACK && c->why[0] != '\0') {
		fprintf(stderr, "%s: %s\n", opts->prog, c->why);
		rc = EX_TEMPFAIL;
	} else if (rc == SM_FALLBACK) {
		fprintf(stderr, "%s: the mail system closed the connection\n",
		    opts->prog);
		rc = EX_TEMPFAIL;
	}
	if (!c->gone)
		quit(c);
	if (fflush(stdout) != 0 && rc == 0)
		rc = EX_IOERR;
	close(fd);
	free(c);
	return rc;
}
