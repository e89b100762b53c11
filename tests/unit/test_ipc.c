/*
 * IPC frames over a socket pair on one event base: every field type,
 * passed descriptors, bursts, large payloads, frames split byte by byte,
 * channels freed from their own callbacks, the blocking first read, and
 * garbled frames, which must end the reading process.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <dirent.h>
#include <pwd.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "unit.h"

#include "util/child.h"
#include "util/config.h"
#include "util/ipc.h"
#include "util/log.h"

#define BIG_LEN		(200 * 1024)
#define BURST		1000

/* What a test handler saw. */
struct seen {
	int		 frames;
	int		 closed;
	uint16_t	 type;
	uint64_t	 id;
	uint32_t	 u32;
	uint64_t	 u64;
	char		*str;
	char		*empty;
	unsigned char	*data;
	size_t		 datalen;
	int		 fd;
	int		 in_order;	/* burst: ids came 0, 1, 2... */
	int		 free_self_at;	/* free the channel at this frame */
	struct ipc_chan	*other;		/* free this one at the first frame */
	struct ipc_chan	*self;
};

static struct event_base *base;

static void
seen_reset(struct seen *s)
{
	free(s->str);
	free(s->empty);
	free(s->data);
	memset(s, 0, sizeof(*s));
	s->fd = IPC_NO_FD;
	s->in_order = 1;
}

static void
on_closed(struct ipc_chan *c, void *arg)
{
	struct seen *s = arg;

	s->closed++;
}

static void
on_closed_free(struct ipc_chan *c, void *arg)
{
	struct seen *s = arg;

	s->closed++;
	ipc_chan_free(c);
	s->self = NULL;
}

/* Frames of the "all fields" shape: u32, u64, str, str, data. */
static void
on_fields(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	struct seen *s = arg;
	const void *p;

	s->frames++;
	s->type = rd->hdr->type;
	s->id = rd->hdr->id;
	s->u32 = ipc_get_u32(rd);
	s->u64 = ipc_get_u64(rd);
	s->str = ipc_get_str(rd);
	s->empty = ipc_get_str(rd);
	p = ipc_get_data(rd, &s->datalen);
	s->data = malloc(s->datalen + 1);
	memcpy(s->data, p, s->datalen);
	ipc_get_end(rd);
}

/* Burst frames: id n carries u32 n; keeps a passed fd when there is one. */
static void
on_burst(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	struct seen *s = arg;
	uint32_t n;

	n = ipc_get_u32(rd);
	if (rd->hdr->id != (uint64_t)s->frames || n != (uint32_t)s->frames)
		s->in_order = 0;
	if (rd->hdr->has_fd) {
		if (s->fd != IPC_NO_FD)
			close(s->fd);
		s->fd = ipc_get_fd(rd);
	}
	ipc_get_end(rd);
	s->frames++;
	if (s->other != NULL) {
		ipc_chan_free(s->other);
		s->other = NULL;
	}
	if (s->free_self_at != 0 && s->frames == s->free_self_at) {
		ipc_chan_free(c);
		s->self = NULL;
	}
}

/* Counts frames; for a channel that may be freed by someone else. */
static void
on_count(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	(*(int *)arg)++;
}

static void
on_big(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	struct seen *s = arg;
	const void *p;

	p = ipc_get_data(rd, &s->datalen);
	ipc_get_end(rd);
	free(s->data);
	s->data = malloc(s->datalen);
	memcpy(s->data, p, s->datalen);
	s->frames++;
}

static void
pair(int sv[2])
{
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
}

/* Run the loop until cond() holds, or fail after many rounds. */
static int
loop_until(int (*cond)(const struct seen *), const struct seen *s)
{
	int i;

	for (i = 0; i < 100000 && !cond(s); i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	return cond(s);
}

static int
got_one(const struct seen *s)
{
	return s->frames >= 1;
}

static int
got_burst(const struct seen *s)
{
	return s->frames >= BURST;
}

static int
got_closed(const struct seen *s)
{
	return s->closed > 0;
}

static int
count_fds(void)
{
	struct dirent *d;
	DIR *dir;
	int n = 0;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL)
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static void
test_fields(void)
{
	static const unsigned char bin[] = { 0, 1, 2, 0xff, 0, 'x' };
	struct ipc_chan *a, *b;
	struct ipc_msg *m;
	struct seen s = { 0 };
	int sv[2];

	seen_reset(&s);
	pair(sv);
	a = ipc_chan_new(base, sv[0], "a", on_fields, on_closed, &s);
	b = ipc_chan_new(base, sv[1], "b", on_fields, on_closed, &s);
	m = ipc_msg_new(IMSG_MSG_COMMIT, 0x1122334455667788ULL);
	ipc_add_u32(m, 0xdeadbeef);
	ipc_add_u64(m, UINT64_MAX - 5);
	ipc_add_str(m, "sender@example.org");
	ipc_add_str(m, "");
	ipc_add_data(m, bin, sizeof(bin));
	ipc_send(a, m, IPC_NO_FD);
	CU_ASSERT_FATAL(loop_until(got_one, &s));

	CU_ASSERT_EQUAL(s.frames, 1);
	CU_ASSERT_EQUAL(s.type, IMSG_MSG_COMMIT);
	CU_ASSERT_EQUAL(s.id, 0x1122334455667788ULL);
	CU_ASSERT_EQUAL(s.u32, 0xdeadbeef);
	CU_ASSERT_EQUAL(s.u64, UINT64_MAX - 5);
	CU_ASSERT_STRING_EQUAL(s.str, "sender@example.org");
	CU_ASSERT_STRING_EQUAL(s.empty, "");
	CU_ASSERT_EQUAL(s.datalen, sizeof(bin));
	CU_ASSERT_EQUAL(memcmp(s.data, bin, sizeof(bin)), 0);
	CU_ASSERT_EQUAL(ipc_chan_pending(a), 0);
	/* The channel owns the descriptor and made it non-blocking. */
	CU_ASSERT(fcntl(sv[1], F_GETFL) & O_NONBLOCK);
	CU_ASSERT_EQUAL(s.closed, 0);

	ipc_chan_free(a);
	CU_ASSERT_FATAL(loop_until(got_closed, &s));
	CU_ASSERT_EQUAL(s.closed, 1);
	ipc_chan_free(b);
	seen_reset(&s);
}

static void
test_pass_fd(void)
{
	struct ipc_chan *a, *b;
	struct ipc_msg *m;
	struct seen s = { 0 };
	char buf[8];
	int sv[2], p[2], before;

	seen_reset(&s);
	before = count_fds();
	pair(sv);
	a = ipc_chan_new(base, sv[0], "a", on_burst, on_closed, &s);
	b = ipc_chan_new(base, sv[1], "b", on_burst, on_closed, &s);
	CU_ASSERT_FATAL(pipe(p) == 0);
	m = ipc_msg_new(IMSG_PEER, 0);
	ipc_add_u32(m, 0);
	ipc_send(a, m, p[0]);
	CU_ASSERT_FATAL(loop_until(got_one, &s));
	CU_ASSERT(s.in_order);
	CU_ASSERT_FATAL(s.fd != IPC_NO_FD);
	CU_ASSERT(fcntl(s.fd, F_GETFD) & FD_CLOEXEC);

	CU_ASSERT_EQUAL(write(p[1], "hello", 5), 5);
	close(p[1]);
	CU_ASSERT_EQUAL(read(s.fd, buf, sizeof(buf)), 5);
	CU_ASSERT_EQUAL(memcmp(buf, "hello", 5), 0);
	/* EOF: the sender's copy of the read end is gone too. */
	CU_ASSERT_EQUAL(read(s.fd, buf, sizeof(buf)), 0);
	close(s.fd);
	ipc_chan_free(a);
	ipc_chan_free(b);
	/* The sent copy was closed: no descriptor leaked anywhere. */
	CU_ASSERT_EQUAL(count_fds(), before);
	seen_reset(&s);
}

/* Many frames, every tenth with a descriptor, written in one go. */
static void
test_burst(void)
{
	struct ipc_chan *a, *b;
	struct ipc_msg *m;
	struct seen s = { 0 };
	char mark;
	int sv[2], p[2], i, fdframes = 0, before;

	seen_reset(&s);
	before = count_fds();
	pair(sv);
	a = ipc_chan_new(base, sv[0], "a", on_burst, on_closed, &s);
	b = ipc_chan_new(base, sv[1], "b", on_burst, on_closed, &s);
	for (i = 0; i < BURST; i++) {
		m = ipc_msg_new(IMSG_MSG_CHUNK, (uint64_t)i);
		ipc_add_u32(m, (uint32_t)i);
		if (i % 10 == 7) {
			CU_ASSERT_FATAL(pipe(p) == 0);
			mark = (char)i;
			CU_ASSERT_EQUAL(write(p[1], &mark, 1), 1);
			close(p[1]);
			ipc_send(a, m, p[0]);
			fdframes++;
		} else
			ipc_send(a, m, IPC_NO_FD);
	}
	CU_ASSERT_FATAL(loop_until(got_burst, &s));
	CU_ASSERT_EQUAL(s.frames, BURST);
	CU_ASSERT(s.in_order);
	/* The last descriptor kept is the one of frame 997. */
	CU_ASSERT_FATAL(s.fd != IPC_NO_FD);
	CU_ASSERT_EQUAL(read(s.fd, &mark, 1), 1);
	CU_ASSERT_EQUAL((unsigned char)mark, (unsigned char)997);
	close(s.fd);
	CU_ASSERT_EQUAL(fdframes, BURST / 10);
	ipc_chan_free(a);
	ipc_chan_free(b);
	CU_ASSERT_EQUAL(count_fds(), before);
	seen_reset(&s);
}

static void
test_big_and_pending(void)
{
	struct ipc_chan *a, *b;
	struct ipc_msg *m;
	struct seen s = { 0 };
	unsigned char *big;
	size_t i;
	int sv[2], n;

	seen_reset(&s);
	big = malloc(BIG_LEN);
	for (i = 0; i < BIG_LEN; i++)
		big[i] = (unsigned char)(i * 7 + i / 251);
	pair(sv);
	a = ipc_chan_new(base, sv[0], "a", on_big, on_closed, &s);
	b = ipc_chan_new(base, sv[1], "b", on_big, on_closed, &s);
	/* More than any socket buffer: some of it must wait. */
	for (n = 0; n < 20; n++) {
		m = ipc_msg_new(IMSG_DELIVER_CHUNK, 1);
		ipc_add_data(m, big, BIG_LEN);
		ipc_send(a, m, IPC_NO_FD);
	}
	CU_ASSERT(ipc_chan_pending(a) > 0);
	CU_ASSERT(ipc_chan_pending(a) <= 20 * (BIG_LEN + 20));
	for (i = 0; i < 200000 && s.frames < 20; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	CU_ASSERT_EQUAL(s.frames, 20);
	CU_ASSERT_EQUAL(s.datalen, BIG_LEN);
	CU_ASSERT(s.data != NULL && memcmp(s.data, big, BIG_LEN) == 0);
	CU_ASSERT_EQUAL(ipc_chan_pending(a), 0);
	ipc_chan_free(a);
	ipc_chan_free(b);
	free(big);
	seen_reset(&s);
}

/* Raw bytes of one frame: header then payload. */
static size_t
raw_frame(unsigned char *out, uint16_t type, uint64_t id, uint16_t has_fd,
    const void *payload, uint32_t len)
{
	struct ipc_hdr h;

	memset(&h, 0, sizeof(h));
	h.len = len;
	h.type = type;
	h.has_fd = has_fd;
	h.id = id;
	memcpy(out, &h, sizeof(h));
	memcpy(out + sizeof(h), payload, len);
	return sizeof(h) + len;
}

static void
test_split_bytes(void)
{
	unsigned char wire[256];
	struct ipc_chan *b;
	struct seen s = { 0 };
	uint32_t v;
	size_t len = 0, i;
	int sv[2], k;

	seen_reset(&s);
	pair(sv);
	b = ipc_chan_new(base, sv[1], "b", on_burst, on_closed, &s);
	for (k = 0; k < 3; k++) {
		v = (uint32_t)k;
		len += raw_frame(wire + len, IMSG_MSG_CHUNK, (uint64_t)k, 0,
		    &v, sizeof(v));
	}
	for (i = 0; i < len; i++) {
		CU_ASSERT_EQUAL_FATAL(write(sv[0], wire + i, 1), 1);
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		/* A frame is handed over exactly when its last byte is in. */
		CU_ASSERT_EQUAL(s.frames, (int)((i + 1) / (len / 3)));
	}
	CU_ASSERT_EQUAL(s.frames, 3);
	CU_ASSERT(s.in_order);
	close(sv[0]);
	CU_ASSERT(loop_until(got_closed, &s));
	ipc_chan_free(b);
	seen_reset(&s);
}

/* A handler frees its own channel, and another one, mid-burst. */
static void
test_free_in_callback(void)
{
	struct ipc_chan *a, *b, *c, *d;
	struct ipc_msg *m;
	struct seen s = { 0 }, t = { 0 };
	int sv[2], sv2[2], i, cframes = 0;

	seen_reset(&s);
	seen_reset(&t);
	pair(sv);
	pair(sv2);
	a = ipc_chan_new(base, sv[0], "a", on_burst, on_closed, &t);
	b = ipc_chan_new(base, sv[1], "b", on_burst, on_closed, &s);
	c = ipc_chan_new(base, sv2[0], "c", on_count, on_closed, &cframes);
	d = ipc_chan_new(base, sv2[1], "d", on_burst, on_closed, &t);
	s.self = b;
	s.free_self_at = 5;
	s.other = c;
	for (i = 0; i < 50; i++) {
		m = ipc_msg_new(IMSG_MSG_CHUNK, (uint64_t)i);
		ipc_add_u32(m, (uint32_t)i);
		ipc_send(a, m, IPC_NO_FD);
	}
	ipc_send_empty(d, IMSG_STOP, 0);
	for (i = 0; i < 100; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	/* Nothing after the free reached the handler. */
	CU_ASSERT_EQUAL(s.frames, 5);
	CU_ASSERT(s.in_order);
	CU_ASSERT_PTR_NULL(s.self);
	CU_ASSERT_EQUAL(s.closed, 0);
	CU_ASSERT(cframes <= 1);
	/* a and d saw their peers go away. */
	CU_ASSERT_EQUAL(t.closed, 2);
	ipc_chan_free(a);
	ipc_chan_free(d);
	seen_reset(&s);
	seen_reset(&t);
}

static void
test_free_in_closed(void)
{
	struct ipc_chan *b;
	struct seen s = { 0 };
	int sv[2];

	seen_reset(&s);
	pair(sv);
	b = ipc_chan_new(base, sv[1], "b", on_burst, on_closed_free, &s);
	s.self = b;
	close(sv[0]);
	CU_ASSERT(loop_until(got_closed, &s));
	CU_ASSERT_EQUAL(s.closed, 1);
	CU_ASSERT_PTR_NULL(s.self);
	seen_reset(&s);
}

static void
test_flush(void)
{
	struct ipc_chan *a;
	struct ipc_msg *m;
	unsigned char *big, buf[65536];
	size_t total = 0, want;
	ssize_t n;
	pid_t pid;
	int sv[2], i, status;

	pair(sv);
	big = calloc(1, BIG_LEN);
	a = ipc_chan_new(base, sv[0], "a", on_burst, on_closed, NULL);
	for (i = 0; i < 8; i++) {
		m = ipc_msg_new(IMSG_DELIVER_CHUNK, 1);
		ipc_add_data(m, big, BIG_LEN);
		ipc_send(a, m, IPC_NO_FD);
	}
	want = 8 * (sizeof(struct ipc_hdr) + 4 + BIG_LEN);
	CU_ASSERT(ipc_chan_pending(a) > 0);
	/* A reader in another process drains while flush blocks. */
	if ((pid = fork()) == 0) {
		close(sv[0]);
		while ((n = read(sv[1], buf, sizeof(buf))) > 0)
			total += (size_t)n;
		_exit(total == want ? 0 : 1);
	}
	close(sv[1]);
	CU_ASSERT_EQUAL(ipc_flush(a), 0);
	CU_ASSERT_EQUAL(ipc_chan_pending(a), 0);
	ipc_chan_free(a);
	CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(big);
}

static void
test_read_blocking(void)
{
	unsigned char wire[512], *payload;
	struct ipc_reader rd;
	struct ipc_hdr hdr;
	struct ipc_chan *a;
	struct ipc_msg *m;
	struct config *cfg;
	char *str;
	int sv[2], p[2];

	pair(sv);
	a = ipc_chan_new(base, sv[0], "master", on_burst, on_closed, NULL);
	CU_ASSERT_FATAL(pipe(p) == 0);
	m = ipc_msg_new(IMSG_CONFIG, 0);
	ipc_add_str(m, "/etc/bulwark/test.conf");
	ipc_add_str(m, "hop_limit = 9\nmyhostname = mx.test\n");
	ipc_send(a, m, IPC_NO_FD);
	m = ipc_msg_new(IMSG_PEER, 3);
	ipc_add_u32(m, ROLE_QUEUE);
	ipc_send(a, m, p[0]);
	m = ipc_msg_new(IMSG_LISTEN, 4);
	ipc_add_str(m, "smtp");
	ipc_send(a, m, IPC_NO_FD);
	CU_ASSERT_EQUAL(ipc_flush(a), 0);

	cfg = child_first_config(sv[1]);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->path, "/etc/bulwark/test.conf");
	CU_ASSERT_EQUAL(cfg->hop_limit, 9);
	CU_ASSERT_STRING_EQUAL(cfg->myhostname, "mx.test");
	config_free(cfg);

	/* The frames after the first are left whole, descriptor too. */
	ipc_read_blocking(sv[1], "master", &hdr, &payload, &rd);
	CU_ASSERT_EQUAL(hdr.type, IMSG_PEER);
	CU_ASSERT_EQUAL(hdr.id, 3);
	CU_ASSERT_EQUAL(ipc_get_u32(&rd), ROLE_QUEUE);
	ipc_get_end(&rd);
	CU_ASSERT(rd.fd != IPC_NO_FD);
	close(ipc_get_fd(&rd));
	free(payload);
	ipc_read_blocking(sv[1], "master", &hdr, &payload, &rd);
	CU_ASSERT_EQUAL(hdr.type, IMSG_LISTEN);
	str = ipc_get_str(&rd);
	CU_ASSERT_STRING_EQUAL(str, "smtp");
	ipc_get_end(&rd);
	CU_ASSERT_EQUAL(rd.fd, IPC_NO_FD);
	free(str);
	free(payload);

	/* A plain blocking descriptor works the same way. */
	raw_frame(wire, IMSG_STOP, 77, 0, "", 0);
	CU_ASSERT_EQUAL(write(sv[0], wire, sizeof(struct ipc_hdr)),
	    (ssize_t)sizeof(struct ipc_hdr));
	ipc_read_blocking(sv[1], "master", &hdr, &payload, &rd);
	CU_ASSERT_EQUAL(hdr.type, IMSG_STOP);
	CU_ASSERT_EQUAL(hdr.id, 77);
	ipc_get_end(&rd);
	free(payload);

	close(p[1]);
	ipc_chan_free(a);
	close(sv[1]);
}

/* --- garbled frames: the reader must die -------------------------- */

/* Read with a strict handler: u32, then end. */
static void
on_strict(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	char *s;

	if (rd->hdr->type == IMSG_MSG_COMMIT) {
		s = ipc_get_str(rd);
		free(s);
	} else if (rd->hdr->type == IMSG_PEER) {
		close(ipc_get_fd(rd));
	} else
		(void)ipc_get_u32(rd);
	ipc_get_end(rd);
	*(int *)arg = 1;
}

/*
 * Feed wire to a child that reads it with on_strict, a descriptor with
 * the byte at fd_at (none when fd_at is len).  Returns the exit status;
 * the child's log goes into log (for the message check).
 */
static int
feed_child_fd(const unsigned char *wire, size_t len, size_t fd_at,
    char *log, size_t loglen)
{
	int sv[2], errp[2], status, fd, got = 0;
	struct event_base *b;
	size_t have = 0;
	ssize_t n;
	pid_t pid;

	pair(sv);
	CU_ASSERT_FATAL(pipe(errp) == 0);
	if ((pid = fork()) == 0) {
		close(sv[0]);
		close(errp[0]);
		dup2(errp[1], STDERR_FILENO);
		log_init("test", 1);
		b = event_base_new();
		ipc_chan_new(b, sv[1], "smtpd", on_strict, NULL, &got);
		event_base_dispatch(b);
		_exit(got ? 0 : 3);
	}
	close(sv[1]);
	close(errp[1]);
	if (fd_at < len) {
		CU_ASSERT_FATAL((fd = open("/dev/null", O_RDONLY)) != -1);
		CU_ASSERT_EQUAL(write(sv[0], wire, fd_at), (ssize_t)fd_at);
		CU_ASSERT_EQUAL(ipc_send_byte_fd(sv[0], wire + fd_at, fd), 1);
		close(fd);
		fd_at++;
	} else
		fd_at = 0;
	CU_ASSERT_EQUAL(write(sv[0], wire + fd_at, len - fd_at),
	    (ssize_t)(len - fd_at));
	close(sv[0]);
	while (have + 1 < loglen &&
	    (n = read(errp[0], log + have, loglen - have - 1)) > 0)
		have += (size_t)n;
	log[have] = '\0';
	close(errp[0]);
	CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int
feed_child(const unsigned char *wire, size_t len, char *log, size_t loglen)
{
	return feed_child_fd(wire, len, len, log, loglen);
}

static void
expect_fatal_fd(const unsigned char *wire, size_t len, size_t fd_at,
    const char *why)
{
	char log[2048];
	int rc = feed_child_fd(wire, len, fd_at, log, sizeof(log));

	CU_ASSERT_EQUAL(rc, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "fatal: ipc: garbled"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "from smtpd"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, why));
	if (rc != 1 || strstr(log, why) == NULL)
		fprintf(stderr, "\nchild log: %s\n", log);
}

static void
expect_fatal(const unsigned char *wire, size_t len, const char *why)
{
	expect_fatal_fd(wire, len, len, why);
}

static void
test_garbled(void)
{
	unsigned char wire[256], pl[32];
	uint32_t v = 5, slen;
	char log[2048];
	size_t n;

	/* Good frame: the child handles it, then sees EOF and exits. */
	n = raw_frame(wire, IMSG_MSG_CHUNK, 1, 0, &v, 4);
	CU_ASSERT_EQUAL(feed_child(wire, n, log, sizeof(log)), 0);

	/* Trailing bytes. */
	memset(pl, 0, sizeof(pl));
	n = raw_frame(wire, IMSG_MSG_CHUNK, 1, 0, pl, 8);
	expect_fatal(wire, n, "MSG_CHUNK frame from smtpd: 4 trailing bytes");

	/* Short field. */
	n = raw_frame(wire, IMSG_DELIVER_RCPT, 1, 0, pl, 3);
	expect_fatal(wire, n, "DELIVER_RCPT frame from smtpd: short u32");

	/* A string longer than the frame. */
	slen = 100;
	memcpy(pl, &slen, 4);
	n = raw_frame(wire, IMSG_MSG_COMMIT, 1, 0, pl, 10);
	expect_fatal(wire, n, "MSG_COMMIT frame from smtpd: short str");

	/* A NUL inside a string. */
	slen = 3;
	memcpy(pl, &slen, 4);
	memcpy(pl + 4, "a\0b", 3);
	n = raw_frame(wire, IMSG_MSG_COMMIT, 1, 0, pl, 7);
	expect_fatal(wire, n, "MSG_COMMIT frame from smtpd: NUL inside");

	/* Over the payload limit: fatal on the header alone. */
	n = raw_frame(wire, IMSG_MSG_CHUNK, 1, 0, pl, 0);
	v = IPC_MAX_PAYLOAD + 1;
	memcpy(wire, &v, 4);
	expect_fatal(wire, n, "MSG_CHUNK frame from smtpd: payload of");

	/* Descriptor announced, none sent. */
	v = 1;
	n = raw_frame(wire, IMSG_PEER, 1, 1, &v, 0);
	expect_fatal(wire, n, "PEER frame from smtpd: descriptor announced");

	/* Descriptor wanted by the handler, none announced. */
	n = raw_frame(wire, IMSG_PEER, 1, 0, &v, 0);
	expect_fatal(wire, n, "PEER frame from smtpd: no descriptor");
}

/*
 * A descriptor belongs to the frame it came with.  One that comes with a
 * frame announcing none ends the reader at that frame, as the blocking
 * reader does; it is never kept for a later frame that announces one.
 */
static void
test_stray_descriptor(void)
{
	unsigned char wire[256];
	uint32_t v = 5;
	char log[2048];
	size_t n, first;

	first = raw_frame(wire, IMSG_MSG_CHUNK, 1, 0, &v, 4);
	n = first + raw_frame(wire + first, IMSG_PEER, 2, 1, &v, 0);
	/* Each with its own frame: fine. */
	CU_ASSERT_EQUAL(feed_child_fd(wire, n, first, log, sizeof(log)), 0);
	/* With the first frame, which announces none. */
	expect_fatal_fd(wire, n, 0, "MSG_CHUNK frame from smtpd: "
	    "unexpected descriptor");
	/* With a later byte of it: the same. */
	expect_fatal_fd(wire, n, 5, "MSG_CHUNK frame from smtpd: "
	    "unexpected descriptor");
	/* A frame alone, announcing none. */
	expect_fatal_fd(wire, first, 0, "MSG_CHUNK frame from smtpd: "
	    "unexpected descriptor");
}

static void
test_names(void)
{
	CU_ASSERT_STRING_EQUAL(ipc_type_name(IMSG_CONFIG), "CONFIG");
	CU_ASSERT_STRING_EQUAL(ipc_type_name(IMSG_READY), "READY");
	CU_ASSERT_STRING_EQUAL(ipc_type_name(IMSG_CONFIG_RESULT),
	    "CONFIG_RESULT");
	CU_ASSERT_STRING_EQUAL(ipc_type_name(IMSG_QUEUE_FLUSH), "QUEUE_FLUSH");
	CU_ASSERT_STRING_EQUAL(ipc_type_name(IMSG_POLICY_VERDICT),
	    "POLICY_VERDICT");
	CU_ASSERT_STRING_EQUAL(ipc_type_name(IMSG_MSG_ABORT), "MSG_ABORT");
	CU_ASSERT_STRING_EQUAL(ipc_type_name(IMSG_DELIVER_DONE),
	    "DELIVER_DONE");
	CU_ASSERT_STRING_EQUAL(ipc_type_name(0), "unknown");
	CU_ASSERT_STRING_EQUAL(ipc_type_name(9999), "unknown");
	CU_ASSERT_STRING_EQUAL(proc_role_name(ROLE_MASTER), "master");
	CU_ASSERT_STRING_EQUAL(proc_role_name(ROLE_SMTPD), "smtpd");
	CU_ASSERT_STRING_EQUAL(proc_role_name(ROLE_QUEUE), "queue");
	CU_ASSERT_STRING_EQUAL(proc_role_name(ROLE_POLICY), "policy");
	CU_ASSERT_STRING_EQUAL(proc_role_name(ROLE_LOCAL), "local");
	CU_ASSERT_STRING_EQUAL(proc_role_name(ROLE_REMOTE), "remote");
	CU_ASSERT_STRING_EQUAL(proc_role_name(ROLE_COUNT), "unknown");
}

/* priv_drop in a child: uid, gid, groups and the chroot all changed. */
static void
test_priv_drop(void)
{
	char dir[64];
	struct passwd *pw;
	gid_t groups[4];
	int status, ok;
	pid_t pid;

	/* CUnit has no skip: say so, as a pass here proves little. */
	if (geteuid() != 0)
		fprintf(stderr, "\n  test_priv_drop: SKIPPED, not root: only "
		    "the no-op without root is checked\n");
	CU_ASSERT_FATAL(unit_tmpdir(dir, sizeof(dir), "ipc") == 0);
	if ((pid = fork()) == 0) {
		log_init("test_ipc", 1);
		if (geteuid() != 0) {
			/* Nothing to give up: a no-op, even for a bad user. */
			priv_drop("no-such-user-bulwark", "/nonexistent");
			_exit(0);
		}
		if ((pw = getpwnam("nobody")) == NULL)
			_exit(2);
		priv_drop("nobody", dir);
		ok = getuid() == pw->pw_uid && geteuid() == pw->pw_uid &&
		    getgid() == pw->pw_gid && getegid() == pw->pw_gid &&
		    setuid(0) == -1 && setgid(0) == -1 &&
		    getgroups(4, groups) == 1 && groups[0] == pw->pw_gid &&
		    access("/etc/passwd", F_OK) == -1;
		_exit(ok ? 0 : 3);
	}
	CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	rmdir(dir);

	if (geteuid() != 0)
		return;
	if ((pid = fork()) == 0) {
		close(STDERR_FILENO);
		priv_drop("no-such-user-bulwark", NULL);
		_exit(0);
	}
	CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 1);
}

static int
suite_init(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_init("test_ipc", 1);
	return (base = event_base_new()) == NULL;
}

static CU_TestInfo tests[] = {
	{ "every field type", test_fields },
	{ "passed descriptor", test_pass_fd },
	{ "burst of 1000 with descriptors", test_burst },
	{ "200 KiB payloads and pending", test_big_and_pending },
	{ "split byte by byte", test_split_bytes },
	{ "free inside a handler", test_free_in_callback },
	{ "free inside closed", test_free_in_closed },
	{ "blocking flush", test_flush },
	{ "blocking first read", test_read_blocking },
	{ "garbled frames are fatal", test_garbled },
	{ "a stray descriptor is fatal", test_stray_descriptor },
	{ "names", test_names },
	{ "privilege drop", test_priv_drop },
	CU_TEST_INFO_NULL
};

int
main(void)
{
	int rc;

	if (suite_init() != 0)
		return 2;
	rc = unit_run("ipc", tests);
	event_base_free(base);
	return rc;
}
