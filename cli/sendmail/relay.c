/*
 * The modes that only connect somewhere and copy bytes: -bs relays an
 * SMTP session on standard input and output to the submission socket
 * (smtpd sees our uid there, as for any submission), -bp (mailq) prints
 * what the queue's showq socket writes, and -q sends "flush" to the
 * master's control socket, as bulwarkctl flush does.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "ctlclient.h"
#include "cli/sendmail/sendmail.h"

#define RELAY_BUF	16384
#define RELAY_DRAIN_MS	60000	/* after our input ended, for the goodbye */
#define SHOWQ_WAIT_MS	60000	/* silence from the queue before giving up */

struct pipe_buf {
	char	data[RELAY_BUF];
	size_t	off;
	size_t	len;
};

/* Where the script's SMTP session stands, by the lines sent up. */
enum bs_state {
	BS_IDLE = 0,		/* no mail transaction */
	BS_MAIL,		/* after MAIL, before DATA */
	BS_DATA,		/* after DATA, before the lone dot */
};

struct bs_track {
	enum bs_state	state;
	int		quit;		/* QUIT went up */
	int		cr;		/* the last byte read was a CR */
	char		head[6];	/* the first bytes of the line */
	size_t		len;		/* the line's length so far */
};

/* Read into b if it is empty; 0 at end of input, -1 on error. */
static ssize_t
fill(int fd, struct pipe_buf *b)
{
	ssize_t n;

	do {
		n = read(fd, b->data, sizeof(b->data));
	} while (n == -1 && errno == EINTR);
	if (n > 0) {
		b->off = 0;
		b->len = (size_t)n;
	}
	return n;
}

/*
 * Read standard input into b (empty) with every bare LF made CRLF:
 * scripts write LF line ends, and smtpd ends the data only at
 * CRLF "." CRLF.  0 at end of input, -1 on error.
 */
static ssize_t
fill_crlf(struct pipe_buf *b, struct bs_track *t)
{
	char in[RELAY_BUF / 2];
	size_t o = 0;
	ssize_t n, i;

	do {
		n = read(STDIN_FILENO, in, sizeof(in));
	} while (n == -1 && errno == EINTR);
	for (i = 0; i < n; i++) {
		if (in[i] == '\n' && !t->cr)
			b->data[o++] = '\r';
		b->data[o++] = in[i];
		t->cr = in[i] == '\r';
	}
	if (n > 0) {
		b->off = 0;
		b->len = o;
	}
	return n;
}

/* Is the line the command verb, followed by a blank or its end? */
static int
bs_verb(const struct bs_track *t, const char *verb)
{
	return t->len >= 6 && strncasecmp(t->head, verb, 4) == 0 &&
	    (t->head[4] == ' ' || t->head[4] == '\r');
}

static void
bs_line(struct bs_track *t)
{
	if (t->state == BS_DATA) {
		if (t->len == 3 && t->head[0] == '.' && t->head[1] == '\r')
			t->state = BS_IDLE;
		return;
	}
	if (bs_verb(t, "MAIL"))
		t->state = BS_MAIL;
	else if (bs_verb(t, "RSET") || bs_verb(t, "HELO") ||
	    bs_verb(t, "EHLO"))
		t->state = BS_IDLE;
	else if (bs_verb(t, "DATA") && t->state == BS_MAIL)
		t->state = BS_DATA;
	else if (bs_verb(t, "QUIT"))
		t->quit = 1;
}

/* Follow the CRLF lines that reached the daemon. */
static void
bs_track(struct bs_track *t, const char *p, size_t n)
{
	for (; n > 0; p++, n--) {
		if (t->len < sizeof(t->head))
			t->head[t->len] = *p;
		t->len++;
		if (*p == '\n') {
			bs_line(t);
			t->len = 0;
		}
	}
}

/*
 * How the session ended.  A transaction left open (no final dot, or no
 * QUIT after MAIL) sent nothing, and must not look like success.  When
 * our input ran out, that is EX_DATAERR: the input is incomplete, and
 * the same input would fail again, so a retry (EX_TEMPFAIL) is no use.
 * When the session ended first (the daemon or our reader went away),
 * it is EX_TEMPFAIL.
 */
static int
bs_result(const struct bs_track *t, int input_done, const char *prog)
{
	if (t->state == BS_IDLE || (t->state == BS_MAIL && t->quit))
		return 0;
	if (input_done) {
		fprintf(stderr, "%s: the input ended inside a mail "
		    "transaction; the message was not sent\n", prog);
		return EX_DATAERR;
	}
	fprintf(stderr, "%s: the session ended inside a mail transaction; "
	    "the message was not sent\n", prog);
	return EX_TEMPFAIL;
}

/* Write part of b; at most PIPE_BUF so that a ready pipe never blocks. */
static int
drain(int fd, struct pipe_buf *b, int small)
{
	size_t want = b->len - b->off;
	ssize_t n;

	if (small && want > PIPE_BUF)
		want = PIPE_BUF;
	do {
		n = write(fd, b->data + b->off, want);
	} while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN)
		return 0;
	if (n <= 0)
		return -1;
	b->off += (size_t)n;
	if (b->off == b->len)
		b->off = b->len = 0;
	return 0;
}

/* Send part of up to the daemon, following the lines that went. */
static int
send_up(int sock, struct pipe_buf *up, struct bs_track *t)
{
	const char *p = up->data + up->off;
	size_t before = up->len - up->off;

	if (drain(sock, up, 0) == -1)
		return -1;
	bs_track(t, p, before - (up->len - up->off));
	return 0;
}

/*
 * Copy both ways until the daemon closes, or our input ended and the
 * daemon had its last word.  Returns 0 or a sysexits code.
 */
static int
relay_loop(int sock, const char *prog)
{
	struct pipe_buf up = { .off = 0, .len = 0 };
	struct pipe_buf down = { .off = 0, .len = 0 };
	struct bs_track t;
	struct pollfd pfd[3];
	int in_open = 1, sock_open = 1, half = 0, n;

	memset(&t, 0, sizeof(t));

	while (sock_open || down.len > 0) {
		if (!in_open && up.len == 0 && !half) {
			shutdown(sock, SHUT_WR);
			half = 1;
		}
		pfd[0].fd = in_open && up.len == 0 ? STDIN_FILENO : -1;
		pfd[0].events = POLLIN;
		pfd[1].fd = sock_open ? sock : -1;
		pfd[1].events = (up.len > 0 ? POLLOUT : 0) |
		    (down.len == 0 ? POLLIN : 0);
		pfd[2].fd = down.len > 0 ? STDOUT_FILENO : -1;
		pfd[2].events = POLLOUT;
		n = poll(pfd, 3, half ? RELAY_DRAIN_MS : -1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return EX_OSERR;
		if (n == 0)
			break;
		if (pfd[0].revents != 0 && fill_crlf(&up, &t) <= 0)
			in_open = 0;
		if ((pfd[1].revents & POLLOUT) && send_up(sock, &up, &t) == -1)
			break;
		if ((pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    down.len == 0 && fill(sock, &down) <= 0)
			sock_open = 0;
		if (pfd[2].revents != 0 && drain(STDOUT_FILENO, &down, 1) == -1)
			break;	/* whoever reads us went away */
	}
	return bs_result(&t, !in_open && up.len == 0, prog);
}

int
sm_relay_smtp(const struct config *cfg, const struct sm_opts *opts)
{
	char path[4096];
	int sock, rc;

	config_path_submit(cfg, path, sizeof(path));
	if ((sock = sm_unix_connect(path)) == -1) {
		fprintf(stderr, "%s: -bs needs the running daemon (cannot "
		    "connect to %s: %s)\n", opts->prog, path, strerror(errno));
		return EX_UNAVAILABLE;
	}
	if (fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK) == -1) {
		close(sock);
		return EX_OSERR;
	}
	rc = relay_loop(sock, opts->prog);
	close(sock);
	return rc;
}

int
sm_showq(const struct config *cfg, const struct sm_opts *opts)
{
	struct pipe_buf b = { .off = 0, .len = 0 };
	struct pollfd pfd;
	char path[4096];
	ssize_t got;
	int sock, n, rc = 0;

	config_path_showq(cfg, path, sizeof(path));
	if ((sock = sm_unix_connect(path)) == -1) {
		fprintf(stderr, "%s: the mail system is not running (cannot "
		    "connect to %s: %s)\n", opts->prog, path, strerror(errno));
		return EX_UNAVAILABLE;
	}
	for (;;) {
		pfd.fd = sock;
		pfd.events = POLLIN;
		n = poll(&pfd, 1, SHOWQ_WAIT_MS);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0) {
			fprintf(stderr, "%s: the queue did not answer\n",
			    opts->prog);
			rc = EX_TEMPFAIL;
			break;
		}
		if (n == -1 || (got = fill(sock, &b)) < 0) {
			perror(opts->prog);
			rc = EX_IOERR;
			break;
		}
		if (got == 0)
			break;
		while (b.len > 0)
			if (drain(STDOUT_FILENO, &b, 0) == -1) {
				close(sock);
				return EX_IOERR;
			}
	}
	close(sock);
	return rc;
}

int
sm_flush(const struct config *cfg, const struct sm_opts *opts)
{
	char path[4096];

	config_path_control(cfg, path, sizeof(path));
	return ctl_request(opts->prog, path, "flush");
}
