/*
 * Framed messages over non-blocking Unix socket pairs, driven by libevent.
 *
 * Each channel keeps its own input and output buffers.  A passed
 * descriptor travels with the first byte of its frame's header: the
 * writer sends that one byte alone with sendmsg(), so the kernel keeps
 * the descriptor in front of the frame, and the reader queues descriptors
 * with the stream position they came at and hands each to the frame it
 * came with.  A descriptor on a frame that announces none is as garbled
 * as a frame that announces one and has none: both are fatal.
 *
 * Handlers may free any channel, their own included, while they run: a
 * channel inside one of its callbacks is only marked dead, and the
 * callback frees it once the handler has returned.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc.h"
#include "log.h"
#include "xmalloc.h"

#define IPC_READ_CHUNK		(64 * 1024)
#define IPC_READS_PER_EVENT	16	/* then let other channels run */
#define IPC_CMSG_FDS		8	/* room for descriptors per read */
#define IPC_FLUSH_TIMEOUT_MS	30000

/* A descriptor sent or received with the byte at stream position pos. */
struct ipc_posfd {
	uint64_t	pos;
	int		fd;
};

struct ipc_chan {
	struct event_base	*base;
	struct event		*rev;
	struct event		*wev;
	int			 fd;
	char			*peer;
	ipc_handler		 handler;
	ipc_closed		 closed;
	void			*arg;

	unsigned char		*in;
	size_t			 in_start, in_end, in_cap;
	uint64_t		 in_pos;	/* stream offset of in_start */
	struct ipc_posfd	*in_fds;	/* received, not yet claimed */
	size_t			 in_nfds, in_fdcap;

	unsigned char		*out;
	size_t			 out_start, out_end, out_cap;
	uint64_t		 out_pos;	/* stream offset of out_start */
	struct ipc_posfd	*out_fds;	/* in stream order */
	size_t			 out_nfds, out_fdcap;

	int			 in_cb;		/* callback nesting depth */
	int			 dead;		/* freed inside a callback */
	int			 lost;		/* closed was reported */
	int			 failed;	/* errno of a failed write */
};

struct ipc_msg {
	uint16_t	 type;
	uint64_t	 id;
	unsigned char	*buf;
	size_t		 len, cap;
};

static void	chan_read_cb(evutil_socket_t, short, void *);
static void	chan_write_cb(evutil_socket_t, short, void *);

/* --- channels -------------------------------------------------------- */

/* Wrap fd in a channel: the channel owns fd from here on. */
struct ipc_chan *
ipc_chan_new(struct event_base *base, int fd, const char *peer,
    ipc_handler handler, ipc_closed closed, void *arg)
{
	struct ipc_chan *c;
	int flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		fatalx_errno("ipc: %s: cannot make channel non-blocking",
		    peer);
	/* Channels are never meant for a re-executed child. */
	if ((flags = fcntl(fd, F_GETFD)) == -1 ||
	    fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == -1)
		fatalx_errno("ipc: %s: cannot set close-on-exec", peer);

	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->fd = fd;
	c->peer = xstrdup(peer);
	c->handler = handler;
	c->closed = closed;
	c->arg = arg;
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, chan_read_cb, c);
	c->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, chan_write_cb, c);
	if (c->rev == NULL || c->wev == NULL || event_add(c->rev, NULL) != 0)
		fatal("ipc: %s: cannot set up channel events", peer);
	return c;
}

static void
chan_destroy(struct ipc_chan *c)
{
	size_t i;

	event_free(c->rev);
	event_free(c->wev);
	close(c->fd);
	for (i = 0; i < c->in_nfds; i++)
		close(c->in_fds[i].fd);
	for (i = 0; i < c->out_nfds; i++)
		close(c->out_fds[i].fd);
	free(c->in_fds);
	free(c->out_fds);
	free(c->in);
	free(c->out);
	free(c->peer);
	free(c);
}

/*
 * Free a channel, dropping what was not sent.  Inside one of the
 * channel's own callbacks the memory stays until the callback returns.
 */
void
ipc_chan_free(struct ipc_chan *c)
{
	if (c == NULL || c->dead)
		return;
	if (c->in_cb > 0) {
		c->dead = 1;
		event_del(c->rev);
		event_del(c->wev);
		return;
	}
	chan_destroy(c);
}

size_t
ipc_chan_pending(const struct ipc_chan *c)
{
	return c->out_end - c->out_start;
}

/* Report the channel lost, once; returns -1 when the handler freed it. */
static int
chan_lost(struct ipc_chan *c)
{
	if (c->lost)
		return 0;
	c->lost = 1;
	event_del(c->rev);
	event_del(c->wev);
	if (c->closed == NULL)
		return 0;
	c->in_cb++;
	c->closed(c, c->arg);
	c->in_cb--;
	if (c->dead) {
		chan_destroy(c);
		return -1;
	}
	return 0;
}

/* --- writing --------------------------------------------------------- */

static void
out_reserve(struct ipc_chan *c, size_t more)
{
	size_t used = c->out_end - c->out_start, cap;

	if (c->out_start > 0 && c->out_cap - c->out_end < more) {
		memmove(c->out, c->out + c->out_start, used);
		c->out_start = 0;
		c->out_end = used;
	}
	if (c->out_cap - c->out_end >= more)
		return;
	cap = c->out_cap > 0 ? c->out_cap : 4096;
	while (cap - c->out_end < more) {
		if (cap > SIZE_MAX / 2)
			fatal("ipc: %s: output buffer overflow", c->peer);
		cap *= 2;
	}
	c->out = xreallocarray(c->out, cap, 1);
	c->out_cap = cap;
}

ssize_t
ipc_send_byte_fd(int sock, const unsigned char *byte, int fd)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct cmsghdr *cmsg;
	struct msghdr msg;
	struct iovec iov;

	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	iov.iov_base = (void *)byte;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

/*
 * Write as much as the socket takes.  Returns 0 when everything went or
 * the socket is full, -1 with errno on a write error.
 */
static int
chan_write(struct ipc_chan *c)
{
	size_t avail, n;
	ssize_t w;

	while ((avail = c->out_end - c->out_start) > 0) {
		if (c->out_nfds > 0 && c->out_fds[0].pos == c->out_pos) {
			w = ipc_send_byte_fd(c->fd, c->out + c->out_start,
			    c->out_fds[0].fd);
			if (w == 1) {
				close(c->out_fds[0].fd);
				c->out_nfds--;
				memmove(c->out_fds, c->out_fds + 1,
				    c->out_nfds * sizeof(c->out_fds[0]));
			}
		} else {
			n = avail;
			if (c->out_nfds > 0 &&
			    c->out_fds[0].pos - c->out_pos < n)
				n = c->out_fds[0].pos - c->out_pos;
			w = send(c->fd, c->out + c->out_start, n,
			    MSG_NOSIGNAL);
		}
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		c->out_start += (size_t)w;
		c->out_pos += (uint64_t)w;
	}
	c->out_start = c->out_end = 0;
	return 0;
}

/* Write now, and watch for writability while anything is left. */
static void
chan_kick(struct ipc_chan *c)
{
	if (c->failed || c->lost)
		return;
	if (chan_write(c) == -1) {
		/* Reported from the event loop, never from inside a send. */
		c->failed = errno != 0 ? errno : EIO;
		event_active(c->wev, EV_WRITE, 1);
		return;
	}
	if (ipc_chan_pending(c) > 0)
		event_add(c->wev, NULL);
	else
		event_del(c->wev);
}

static void
chan_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_chan *c = arg;

	if (!c->failed && chan_write(c) == -1)
		c->failed = errno != 0 ? errno : EIO;
	if (c->failed) {
		chan_lost(c);
		return;
	}
	if (ipc_chan_pending(c) == 0)
		event_del(c->wev);
}

/*
 * Write everything queued, waiting for the socket as long as needed (up
 * to a bound, so a stuck peer cannot hold a shutdown forever).  Returns
 * 0, or -1 with errno set.
 */
int
ipc_flush(struct ipc_chan *c)
{
	struct pollfd pfd;
	int n;

	if (c == NULL || c->dead)
		return 0;
	if (c->failed) {
		errno = c->failed;
		return -1;
	}
	while (ipc_chan_pending(c) > 0) {
		if (chan_write(c) == -1) {
			c->failed = errno != 0 ? errno : EIO;
			event_active(c->wev, EV_WRITE, 1);
			return -1;
		}
		if (ipc_chan_pending(c) == 0)
			break;
		pfd.fd = c->fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		n = poll(&pfd, 1, IPC_FLUSH_TIMEOUT_MS);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
	event_del(c->wev);
	return 0;
}

/* --- composing ------------------------------------------------------- */

struct ipc_msg *
ipc_msg_new(uint16_t type, uint64_t id)
{
	struct ipc_msg *m = xcalloc(1, sizeof(*m));

	m->type = type;
	m->id = id;
	return m;
}

static void
msg_put(struct ipc_msg *m, const void *p, size_t n)
{
	size_t cap;

	if (n > IPC_MAX_PAYLOAD || m->len > IPC_MAX_PAYLOAD - n)
		panic("ipc: %s payload over %d bytes", ipc_type_name(m->type),
		    IPC_MAX_PAYLOAD);
	if (n == 0)
		return;
	if (m->cap - m->len < n) {
		cap = m->cap > 0 ? m->cap : 256;
		while (cap - m->len < n)
			cap *= 2;
		m->buf = xreallocarray(m->buf, cap, 1);
		m->cap = cap;
	}
	memcpy(m->buf + m->len, p, n);
	m->len += n;
}

void
ipc_add_u32(struct ipc_msg *m, uint32_t v)
{
	msg_put(m, &v, sizeof(v));
}

void
ipc_add_u64(struct ipc_msg *m, uint64_t v)
{
	msg_put(m, &v, sizeof(v));
}

void
ipc_add_str(struct ipc_msg *m, const char *s)
{
	ipc_add_data(m, s, strlen(s));
}

void
ipc_add_data(struct ipc_msg *m, const void *p, size_t n)
{
	uint32_t len;

	if (n > IPC_MAX_PAYLOAD)
		panic("ipc: %s field of %zu bytes", ipc_type_name(m->type), n);
	len = (uint32_t)n;
	msg_put(m, &len, sizeof(len));
	msg_put(m, p, n);
}

/* Queue the frame (and the descriptor, closed once sent) and free m. */
void
ipc_send(struct ipc_chan *c, struct ipc_msg *m, int fd)
{
	struct ipc_hdr hdr;

	if (c == NULL)
		panic("ipc: %s sent on no channel", ipc_type_name(m->type));
	if (c->dead || c->lost || c->failed) {
		if (fd != IPC_NO_FD)
			close(fd);
		free(m->buf);
		free(m);
		return;
	}
	memset(&hdr, 0, sizeof(hdr));
	hdr.len = (uint32_t)m->len;
	hdr.type = m->type;
	hdr.has_fd = fd != IPC_NO_FD;
	hdr.id = m->id;

	if (fd != IPC_NO_FD) {
		if (c->out_nfds == c->out_fdcap) {
			c->out_fdcap = c->out_fdcap > 0 ? c->out_fdcap * 2 : 4;
			c->out_fds = xreallocarray(c->out_fds, c->out_fdcap,
			    sizeof(c->out_fds[0]));
		}
		c->out_fds[c->out_nfds].pos = c->out_pos +
		    (c->out_end - c->out_start);
		c->out_fds[c->out_nfds].fd = fd;
		c->out_nfds++;
	}
	out_reserve(c, sizeof(hdr) + m->len);
	memcpy(c->out + c->out_end, &hdr, sizeof(hdr));
	c->out_end += sizeof(hdr);
	if (m->len > 0)
		memcpy(c->out + c->out_end, m->buf, m->len);
	c->out_end += m->len;
	free(m->buf);
	free(m);
	chan_kick(c);
}

void
ipc_send_empty(struct ipc_chan *c, uint16_t type, uint64_t id)
{
	ipc_send(c, ipc_msg_new(type, id), IPC_NO_FD);
}

/* --- reading --------------------------------------------------------- */

/* Queue a received descriptor; chan_read_cb() sets its position. */
static void
in_fd_push(struct ipc_chan *c, int fd)
{
	if (c->in_nfds == c->in_fdcap) {
		c->in_fdcap = c->in_fdcap > 0 ? c->in_fdcap * 2 : 4;
		c->in_fds = xreallocarray(c->in_fds, c->in_fdcap,
		    sizeof(c->in_fds[0]));
	}
	c->in_fds[c->in_nfds].pos = 0;
	c->in_fds[c->in_nfds].fd = fd;
	c->in_nfds++;
}

static int
in_fd_pop(struct ipc_chan *c)
{
	int fd;

	if (c->in_nfds == 0)
		return IPC_NO_FD;
	fd = c->in_fds[0].fd;
	c->in_nfds--;
	memmove(c->in_fds, c->in_fds + 1, c->in_nfds * sizeof(c->in_fds[0]));
	return fd;
}

/*
 * recvmsg() into buf, passing every received descriptor to take(); a
 * truncated control message means lost descriptors, which is fatal.
 */
static ssize_t
recv_frame_bytes(int sock, const char *peer, void *buf, size_t len,
    void (*take)(void *, int), void *arg)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(IPC_CMSG_FDS * sizeof(int))];
	} cmsgbuf;
	struct cmsghdr *cmsg;
	struct msghdr msg;
	struct iovec iov;
	size_t i, nfds;
	ssize_t n;
	int fd;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	if ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) == -1)
		return -1;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfds; i++) {
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
			take(arg, fd);
		}
	}
	if (msg.msg_flags & MSG_CTRUNC)
		fatal("ipc: descriptors from %s were truncated", peer);
	return n;
}

static void
chan_take_fd(void *arg, int fd)
{
	in_fd_push(arg, fd);
}

int
ipc_hdr_ok(const struct ipc_hdr *hdr)
{
	return hdr->len <= IPC_MAX_PAYLOAD && hdr->has_fd <= 1;
}

static void
check_hdr(const struct ipc_hdr *hdr, const char *peer)
{
	if (hdr->len > IPC_MAX_PAYLOAD)
		fatal("ipc: garbled %s frame from %s: payload of %u bytes "
		    "over the %d limit", ipc_type_name(hdr->type), peer,
		    hdr->len, IPC_MAX_PAYLOAD);
	if (hdr->has_fd > 1)
		fatal("ipc: garbled %s frame from %s: bad descriptor flag %u",
		    ipc_type_name(hdr->type), peer, hdr->has_fd);
}

ssize_t
ipc_frame_len(const void *buf, size_t avail, struct ipc_hdr *hdr)
{
	if (avail < sizeof(*hdr))
		return 0;
	memcpy(hdr, buf, sizeof(*hdr));
	if (!ipc_hdr_ok(hdr))
		return -1;
	if (avail - sizeof(*hdr) < hdr->len)
		return 0;
	return (ssize_t)(sizeof(*hdr) + hdr->len);
}

/*
 * The descriptor of the frame at the start of the input, total bytes
 * long: the oldest one received, when it came with a byte of the frame.
 * It must have come exactly when the header announces one.
 */
static int
chan_frame_fd(struct ipc_chan *c, const struct ipc_hdr *hdr, size_t total)
{
	int came;

	came = c->in_nfds > 0 && c->in_fds[0].pos - c->in_pos < total;
	if (hdr->has_fd && !came)
		fatal("ipc: garbled %s frame from %s: descriptor announced "
		    "but none came", ipc_type_name(hdr->type), c->peer);
	if (!hdr->has_fd && came)
		fatal("ipc: garbled %s frame from %s: unexpected descriptor",
		    ipc_type_name(hdr->type), c->peer);
	return came ? in_fd_pop(c) : IPC_NO_FD;
}

/*
 * Hand every complete frame in the input buffer to the handler.  Returns
 * -1 when a handler freed the channel (it is gone then), else 0.
 */
static int
chan_dispatch(struct ipc_chan *c)
{
	struct ipc_reader rd;
	struct ipc_hdr hdr;
	size_t avail, total;
	ssize_t n;

	while (!c->lost &&
	    (avail = c->in_end - c->in_start) >= sizeof(hdr)) {
		n = ipc_frame_len(c->in + c->in_start, avail, &hdr);
		if (n == -1)
			check_hdr(&hdr, c->peer);	/* fatal */
		if (n <= 0)
			break;
		total = (size_t)n;

		memset(&rd, 0, sizeof(rd));
		rd.hdr = &hdr;
		rd.p = c->in + c->in_start + sizeof(hdr);
		rd.left = hdr.len;
		rd.peer = c->peer;
		rd.fd = chan_frame_fd(c, &hdr, total);

		c->in_cb++;
		c->handler(c, &rd, c->arg);
		c->in_cb--;
		/* A descriptor the handler did not take is not leaked. */
		if (rd.fd != IPC_NO_FD)
			close(rd.fd);
		c->in_start += total;
		c->in_pos += total;
		if (c->dead) {
			if (c->in_cb == 0)
				chan_destroy(c);
			return -1;
		}
	}
	if (c->in_start == c->in_end)
		c->in_start = c->in_end = 0;
	return 0;
}

static void
in_reserve(struct ipc_chan *c, size_t more)
{
	size_t used = c->in_end - c->in_start;

	if (c->in_start > 0) {
		memmove(c->in, c->in + c->in_start, used);
		c->in_start = 0;
		c->in_end = used;
	}
	if (c->in_cap - c->in_end >= more)
		return;
	c->in_cap = c->in_end + more;
	c->in = xreallocarray(c->in, c->in_cap, 1);
}

static void
chan_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_chan *c = arg;
	uint64_t last;
	size_t first;
	ssize_t n;
	int i;

	for (i = 0; i < IPC_READS_PER_EVENT; i++) {
		if (c->in_cap - c->in_end < IPC_READ_CHUNK)
			in_reserve(c, IPC_READ_CHUNK);
		first = c->in_nfds;
		n = recv_frame_bytes(c->fd, c->peer, c->in + c->in_end,
		    c->in_cap - c->in_end, chan_take_fd, c);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* End of file or error: the peer is gone. */
			chan_lost(c);
			return;
		}
		/*
		 * Linux ends a read with the byte that carries descriptors:
		 * they came with the last byte of this one.
		 */
		last = c->in_pos + (c->in_end - c->in_start) + (size_t)n - 1;
		for (; first < c->in_nfds; first++)
			c->in_fds[first].pos = last;
		c->in_end += (size_t)n;
		if (chan_dispatch(c) == -1 || c->lost)
			return;
	}
}

/* Wait for fd to become readable; EINTR is retried. */
static void
wait_readable(int fd, const char *peer)
{
	struct pollfd pfd;

	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	while (poll(&pfd, 1, -1) == -1)
		if (errno != EINTR)
			fatalx_errno("ipc: poll for %s", peer);
}

struct blocking_fds {
	int	fd;
	int	extra;
};

static void
blocking_take_fd(void *arg, int fd)
{
	struct blocking_fds *b = arg;

	if (b->fd == IPC_NO_FD)
		b->fd = fd;
	else {
		close(fd);
		b->extra = 1;
	}
}

/* Read exactly len bytes, never more: what follows is another frame's. */
static void
read_exact(int sock, const char *peer, void *buf, size_t len,
    struct blocking_fds *b)
{
	unsigned char *p = buf;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = recv_frame_bytes(sock, peer, p + got, len - got,
		    blocking_take_fd, b);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			wait_readable(sock, peer);
			continue;
		}
		if (n == -1)
			fatalx_errno("ipc: read from %s", peer);
		if (n == 0)
			fatal("ipc: %s closed the channel before a whole "
			    "frame", peer);
		got += (size_t)n;
	}
}

void
ipc_read_blocking(int fd, const char *peer, struct ipc_hdr *hdr,
    unsigned char **payload, struct ipc_reader *rd)
{
	struct blocking_fds b = { IPC_NO_FD, 0 };

	read_exact(fd, peer, hdr, sizeof(*hdr), &b);
	check_hdr(hdr, peer);
	*payload = xmalloc(hdr->len + 1);
	read_exact(fd, peer, *payload, hdr->len, &b);
	if (b.extra || (b.fd != IPC_NO_FD && !hdr->has_fd))
		fatal("ipc: garbled %s frame from %s: unexpected descriptor",
		    ipc_type_name(hdr->type), peer);
	if (hdr->has_fd && b.fd == IPC_NO_FD)
		fatal("ipc: garbled %s frame from %s: descriptor announced "
		    "but none came", ipc_type_name(hdr->type), peer);

	memset(rd, 0, sizeof(*rd));
	rd->hdr = hdr;
	rd->p = *payload;
	rd->left = hdr->len;
	rd->peer = peer;
	rd->fd = b.fd;
}

/* --- typed getters --------------------------------------------------- */

static int
take_bytes(struct ipc_reader *rd, void *v, size_t n)
{
	if (rd->left < n)
		return -1;
	memcpy(v, rd->p, n);
	rd->p += n;
	rd->left -= n;
	return 0;
}

int
ipc_take_u32(struct ipc_reader *rd, uint32_t *v)
{
	return take_bytes(rd, v, sizeof(*v));
}

int
ipc_take_u64(struct ipc_reader *rd, uint64_t *v)
{
	return take_bytes(rd, v, sizeof(*v));
}

int
ipc_take_data(struct ipc_reader *rd, const void **p, size_t *len)
{
	uint32_t n;

	if (rd->left < sizeof(n))
		return -1;
	memcpy(&n, rd->p, sizeof(n));
	if (rd->left - sizeof(n) < n)
		return -1;
	*p = rd->p + sizeof(n);
	*len = n;
	rd->p += sizeof(n) + n;
	rd->left -= sizeof(n) + n;
	return 0;
}

int
ipc_take_str(struct ipc_reader *rd, char **s)
{
	struct ipc_reader was = *rd;
	const void *p;
	size_t len;

	if (ipc_take_data(rd, &p, &len) == -1)
		return -1;
	if (memchr(p, '\0', len) != NULL) {
		*rd = was;
		return -1;
	}
	*s = xmalloc(len + 1);
	memcpy(*s, p, len);
	(*s)[len] = '\0';
	return 0;
}

static void
short_field(const struct ipc_reader *rd, size_t have, size_t want,
    const char *what) __attribute__((noreturn));

static void
short_field(const struct ipc_reader *rd, size_t have, size_t want,
    const char *what)
{
	fatal("ipc: garbled %s frame from %s: short %s field "
	    "(%zu of %zu bytes)", ipc_type_name(rd->hdr->type), rd->peer,
	    what, have, want);
}

uint32_t
ipc_get_u32(struct ipc_reader *rd)
{
	uint32_t v;

	if (ipc_take_u32(rd, &v) == -1)
		short_field(rd, rd->left, sizeof(v), "u32");
	return v;
}

uint64_t
ipc_get_u64(struct ipc_reader *rd)
{
	uint64_t v;

	if (ipc_take_u64(rd, &v) == -1)
		short_field(rd, rd->left, sizeof(v), "u64");
	return v;
}

/* Length-prefixed bytes; what names the field kind for the message. */
static const void *
get_bytes(struct ipc_reader *rd, size_t *len, const char *what)
{
	const void *p;
	uint32_t n;

	if (ipc_take_data(rd, &p, len) == 0)
		return p;
	if (rd->left < sizeof(n))
		short_field(rd, rd->left, sizeof(n), what);
	memcpy(&n, rd->p, sizeof(n));
	short_field(rd, rd->left - sizeof(n), n, what);
}

char *
ipc_get_str(struct ipc_reader *rd)
{
	size_t len;
	char *s;

	if (ipc_take_str(rd, &s) == 0)
		return s;
	/* Fatal when short; else the string holds a NUL. */
	(void)get_bytes(rd, &len, "str");
	fatal("ipc: garbled %s frame from %s: NUL inside a string",
	    ipc_type_name(rd->hdr->type), rd->peer);
}

const void *
ipc_get_data(struct ipc_reader *rd, size_t *len)
{
	return get_bytes(rd, len, "data");
}

int
ipc_get_fd(struct ipc_reader *rd)
{
	int fd = rd->fd;

	if (fd == IPC_NO_FD)
		fatal("ipc: garbled %s frame from %s: no descriptor",
		    ipc_type_name(rd->hdr->type), rd->peer);
	rd->fd = IPC_NO_FD;
	return fd;
}

void
ipc_get_end(struct ipc_reader *rd)
{
	if (rd->left != 0)
		fatal("ipc: garbled %s frame from %s: %zu trailing bytes",
		    ipc_type_name(rd->hdr->type), rd->peer, rd->left);
}

/* --- names ----------------------------------------------------------- */

const char *
ipc_type_name(uint16_t type)
{
	switch (type) {
	case IMSG_CONFIG:		return "CONFIG";
	case IMSG_PEER:			return "PEER";
	case IMSG_LISTEN:		return "LISTEN";
	case IMSG_STOP:			return "STOP";
	case IMSG_READY:		return "READY";
	case IMSG_CONFIG_RESULT:	return "CONFIG_RESULT";
	case IMSG_QUEUE_STATUS_REQ:	return "QUEUE_STATUS_REQ";
	case IMSG_QUEUE_STATUS:		return "QUEUE_STATUS";
	case IMSG_QUEUE_FLUSH:		return "QUEUE_FLUSH";
	case IMSG_POLICY_MAIL:		return "POLICY_MAIL";
	case IMSG_POLICY_RCPT:		return "POLICY_RCPT";
	case IMSG_POLICY_VERDICT:	return "POLICY_VERDICT";
	case IMSG_MSG_BEGIN:		return "MSG_BEGIN";
	case IMSG_MSG_QID:		return "MSG_QID";
	case IMSG_MSG_CHUNK:		return "MSG_CHUNK";
	case IMSG_MSG_COMMIT:		return "MSG_COMMIT";
	case IMSG_MSG_RESULT:		return "MSG_RESULT";
	case IMSG_MSG_ABORT:		return "MSG_ABORT";
	case IMSG_COMMIT_LATENCY:	return "COMMIT_LATENCY";
	case IMSG_DELIVER_BEGIN:	return "DELIVER_BEGIN";
	case IMSG_DELIVER_CHUNK:	return "DELIVER_CHUNK";
	case IMSG_DELIVER_END:		return "DELIVER_END";
	case IMSG_DELIVER_RCPT:		return "DELIVER_RCPT";
	case IMSG_DELIVER_DONE:		return "DELIVER_DONE";
	}
	return "unknown";
}

const char *
proc_role_name(enum proc_role role)
{
	static const char *const names[ROLE_COUNT] = {
		[ROLE_MASTER] = "master",
		[ROLE_SMTPD] = "smtpd",
		[ROLE_QUEUE] = "queue",
		[ROLE_POLICY] = "policy",
		[ROLE_LOCAL] = "local",
		[ROLE_REMOTE] = "remote",
	};

	if ((unsigned)role >= ROLE_COUNT)
		return "unknown";
	return names[role];
}
