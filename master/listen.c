/*
 * The listening sockets the master owns: the inet SMTP sockets named by
 * inet_interfaces, and the Unix sockets under the spool.  The master
 * keeps its copies so that a restarted child gets the same sockets, and
 * clients never see a refused connection while a child is replaced.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "sockaddr.h"

#include "master/master.h"

#define LISTEN_BACKLOG	SOMAXCONN

int
listen_inet_socket(const char *spec, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, on = 1;

	if (sockaddr_parse(spec, 0, &ss, &sslen, err, errlen) != 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		snprintf(err, errlen, "cannot listen on %s: socket: %s", spec,
		    strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) != 0)) {
		snprintf(err, errlen, "cannot listen on %s: setsockopt: %s",
		    spec, strerror(errno));
		close(fd);
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 ||
	    listen(fd, LISTEN_BACKLOG) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", spec,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Every inet_interfaces socket, or none of them. */
int
listen_inet_open(struct master *m, char *err, size_t errlen)
{
	size_t i;
	int fd;

	m->nlisten = 0;
	for (i = 0; i < m->cfg->nlisten; i++) {
		if ((fd = listen_inet_socket(m->cfg->listen[i], err,
		    errlen)) == -1) {
			while (m->nlisten > 0)
				close(m->listen_fd[--m->nlisten]);
			return -1;
		}
		m->listen_fd[m->nlisten++] = fd;
	}
	return 0;
}

/*
 * A Unix listening socket at path.  A stale socket left by an earlier
 * run is removed (the pid file lock says no other master is using it);
 * anything else at that path is an error.  The socket is created with a
 * tight umask so it is never reachable with looser permissions.
 */
int
listen_unix_open(const char *path, mode_t mode, uid_t uid, gid_t gid,
    int as_root, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: path too long for a socket", path);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s: exists and is not a socket",
			    path);
			return -1;
		}
		if (unlink(path) != 0) {
			snprintf(err, errlen, "%s: cannot remove the old "
			    "socket: %s", path, strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "%s: socket: %s", path, strerror(errno));
		return -1;
	}
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc != 0 || chmod(path, mode) != 0 ||
	    (as_root && chown(path, uid, gid) != 0) ||
	    listen(fd, LISTEN_BACKLOG) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", path,
		    strerror(errno));
		if (rc == 0)
			unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}
