/*
 * The client side of the master's control socket: one request line
 * goes out, and the reply, which ends when the master closes, is copied
 * to stdout or stderr as its first bytes say.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "ctlclient.h"

/* 0 with *fd connected, or the exit code after saying why not. */
static int
ctl_connect(const char *prog, const char *path, int *fd)
{
	struct sockaddr_un sun;
	int save;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: %s: path too long\n", prog, path);
		return EX_CONFIG;
	}
	if ((*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
		return EX_OSERR;
	}
	if (connect(*fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return 0;
	save = errno;
	close(*fd);
	switch (save) {
	case ENOENT:
		fprintf(stderr, "%s: bulwarkd is not running (no %s)\n", prog,
		    path);
		return EX_UNAVAILABLE;
	case ECONNREFUSED:
		fprintf(stderr, "%s: bulwarkd is not running (nothing "
		    "listens on %s)\n", prog, path);
		return EX_UNAVAILABLE;
	case EACCES:
	case EPERM:
		fprintf(stderr, "%s: %s: %s (the control socket is for "
		    "root)\n", prog, path, strerror(save));
		return EX_NOPERM;
	default:
		fprintf(stderr, "%s: connect %s: %s\n", prog, path,
		    strerror(save));
		return EX_UNAVAILABLE;
	}
}

/* Copy the reply until the master closes; 0 when it began with "ok". */
static int
ctl_copy_reply(const char *prog, int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[4096];
	FILE *out = NULL;
	ssize_t n;
	int ready, rc = 1;

	for (;;) {
		if ((ready = poll(&pfd, 1, CTL_REPLY_SECS * 1000)) == 0) {
			fprintf(stderr, "%s: no reply from bulwarkd in %d "
			    "seconds\n", prog, CTL_REPLY_SECS);
			return 1;
		}
		n = ready > 0 ? read(fd, buf, sizeof(buf)) : -1;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fprintf(stderr, "%s: read: %s\n", prog,
			    strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
		if (out == NULL) {
			rc = n >= 2 && memcmp(buf, "ok", 2) == 0 ? 0 : 1;
			out = rc == 0 ? stdout : stderr;
		}
		fwrite(buf, 1, (size_t)n, out);
	}
	if (out == NULL) {
		fprintf(stderr, "%s: bulwarkd closed the connection without "
		    "a reply\n", prog);
		return 1;
	}
	return fflush(out) != 0 ? 1 : rc;
}

int
ctl_request(const char *prog, const char *path, const char *cmd)
{
	char line[1100];
	size_t len;
	int fd, rc;

	len = (size_t)snprintf(line, sizeof(line), "%s\n", cmd);
	if (len >= sizeof(line)) {
		fprintf(stderr, "%s: request too long\n", prog);
		return 1;
	}
	if ((rc = ctl_connect(prog, path, &fd)) != 0)
		return rc;
	if (write(fd, line, len) != (ssize_t)len) {
		fprintf(stderr, "%s: write %s: %s\n", prog, path,
		    strerror(errno));
		close(fd);
		return 1;
	}
	shutdown(fd, SHUT_WR);
	rc = ctl_copy_reply(prog, fd);
	close(fd);
	return rc;
}
