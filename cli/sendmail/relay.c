/*
 * The two modes that only connect somewhere and copy bytes: -bs relays
 * an SMTP session on standard input and output to the submission socket
 * (smtpd sees our uid there, as for any submission), and -bp (mailq)
 * prints what the queue's showq socket writes.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "cli/sendmail/sendmail.h"

#define RELAY_BUF	16384
#define RELAY_DRAIN_MS	60000	/* after our input ended, for the goodbye */
#define SHOWQ_WAIT_MS	60000	/* silence from the queue before giving up */

struct pipe_buf {
	char	data[RELAY_BUF];
	size_t	off;
	size_t	len;
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

/*
 * Copy both ways until the daemon closes, or our input ended and the
 * daemon had its last word.  Returns 0 or a sysexits code.
 */
static int
relay_loop(int sock)
{
	struct pipe_buf up = { .off = 0, .len = 0 };
	struct pipe_buf down = { .off = 0, .len = 0 };
	struct pollfd pfd[3];
	int in_open = 1, sock_open = 1, half = 0, n;

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
		if (n <= 0)
			return n == 0 ? 0 : EX_OSERR;
		if (pfd[0].revents != 0 && fill(STDIN_FILENO, &up) <= 0)
			in_open = 0;
		if ((pfd[1].revents & POLLOUT) && drain(sock, &up, 0) == -1)
			return 0;
		if ((pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    down.len == 0 && fill(sock, &down) <= 0)
			sock_open = 0;
		if (pfd[2].revents != 0 && drain(STDOUT_FILENO, &down, 1) == -1)
			return 0;	/* whoever reads us went away */
	}
	return 0;
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
	rc = relay_loop(sock);
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
