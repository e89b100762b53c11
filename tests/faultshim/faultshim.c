/*
 * An LD_PRELOAD shim that makes the queue's log writes and syncs fail on
 * command, for the integration tests (tests/integration/test_faults.py).
 *
 * Environment:
 *   BULWARK_FAULT_FILE  the control file; without it the shim does
 *                       nothing but call through
 *   BULWARK_FAULT_DIR   the log directory: only descriptors whose path
 *                       (readlink /proc/self/fd/N) lies under it are
 *                       touched; without it, files named *.seg or spare
 *                       in any directory called log
 *   BULWARK_FAULT_LOG   where each fault made is noted, one line each
 *                       (default: the control file's name + ".log")
 *
 * The control file holds one command a line:
 *
 *   write EIO 1         fail the next write with EIO
 *   write ENOSPC 2      fail the next two writes with ENOSPC
 *   write short 1       write half the bytes, return that short count
 *   sync EIO 1          fail the next fdatasync with EIO
 *   fsync EIO 1         fail the next fsync with EIO
 *   truncate EIO 1      fail the next ftruncate with EIO
 *
 * An error is a name (EIO, ENOSPC, EDQUOT, EFBIG, EROFS) or a number.
 * A trailing record type (segment, data, commit, outcome, done) makes a
 * write command wait for a write whose buffers hold the header of such
 * a record, and a sync command for the first sync of a descriptor after
 * such a write: with "commit", some session always waits on the failed
 * call.
 * Writes are write, writev, pwrite and pwritev (and their 64 and 2
 * variants).  Before each call on a log descriptor the shim looks at
 * the file again when its inode, size or times changed; a fault it
 * makes is taken off the count in the file itself (under flock), so a
 * restarted process does not make it again.  Write the file by rename,
 * so that the shim never reads half of it.
 *
 * Log lines: "<op> <error> <path> pid=<pid> len=<asked> done=<written>
 * commits=<qid>,...", the last naming (in hex) the queue id of each
 * COMMIT record that the failed call wrote or was to make durable: those
 * sessions must not get 250.
 *
 * Descriptors that are not under the log directory cost one readlink
 * and take no lock, so the shim is safe in signal handlers, and in a
 * chroot without /proc it only calls through.
 */
#define _GNU_SOURCE
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RULES	32
#define MAX_FDS		4096
#define MAX_UNSYNCED	1024
#define REC_HDR_SIZE	36

static const char *const rec_names[] = {
	"", "segment", "data", "commit", "outcome", "done"
};
#define NREC	(int)(sizeof(rec_names) / sizeof(rec_names[0]))

enum op { OP_WRITE, OP_SYNC, OP_FSYNC, OP_TRUNCATE };
static const char *const op_names[] = {
	"write", "sync", "fsync", "truncate"
};

struct rule {
	enum op	op;
	int	err;		/* 0: a short write */
	long	count;
	int	rec;		/* a record type to wait for, or 0 */
};

static struct {
	char		ctl[PATH_MAX];
	char		log[PATH_MAX];
	char		dir[PATH_MAX];
	size_t		dirlen;
	int		on;
	pthread_mutex_t	mu;
	struct rule	rules[MAX_RULES];
	size_t		nrules;
	struct stat	seen;		/* of the control file, when read */
	int		have_seen;
	/* record types (bit 1 << type) written there since its last sync */
	unsigned char	pending[MAX_FDS];
	/* COMMIT records written and not yet synced: descriptor, queue id */
	struct {
		int		fd;
		uint64_t	qid;
	}		unsynced[MAX_UNSYNCED];
	size_t		nunsynced;
} sh = { .mu = PTHREAD_MUTEX_INITIALIZER };

typedef ssize_t	(*write_fn)(int, const void *, size_t);
typedef ssize_t	(*writev_fn)(int, const struct iovec *, int);
typedef ssize_t	(*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t	(*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t	(*pwritev2_fn)(int, const struct iovec *, int, off_t,
    int);
typedef int	(*sync_fn)(int);
typedef int	(*truncate_fn)(int, off_t);

/* The next definitions (libc's, or the ASan runtime's before them). */
static struct {
	write_fn	write;
	writev_fn	writev;
	pwrite_fn	pwrite;
	pwritev_fn	pwritev;
	pwritev2_fn	pwritev2;
	sync_fn		fdatasync;
	sync_fn		fsync;
	truncate_fn	ftruncate;
} next;

static int
find_next(void **p, const char *name)
{
	if ((*p = dlsym(RTLD_NEXT, name)) == NULL)
		abort();
	return 1;
}

/* Resolved in the constructor, or at the first call if that is sooner. */
#define REAL(name) \
	((void)(next.name != NULL || \
	    find_next((void **)&next.name, #name)), next.name)

static void
resolve(void)
{
	(void)REAL(write);
	(void)REAL(writev);
	(void)REAL(pwrite);
	(void)REAL(pwritev);
	(void)REAL(pwritev2);
	(void)REAL(fdatasync);
	(void)REAL(fsync);
	(void)REAL(ftruncate);
}

__attribute__((constructor)) static void
shim_init(void)
{
	const char *c = getenv("BULWARK_FAULT_FILE");
	const char *l = getenv("BULWARK_FAULT_LOG");
	const char *d = getenv("BULWARK_FAULT_DIR");

	resolve();
	if (c == NULL || *c != '/' || strlen(c) + 5 >= sizeof(sh.ctl))
		return;
	strcpy(sh.ctl, c);
	if (l != NULL && *l == '/' && strlen(l) < sizeof(sh.log))
		strcpy(sh.log, l);
	else
		snprintf(sh.log, sizeof(sh.log), "%s.log", c);
	if (d != NULL && *d == '/' && strlen(d) + 1 < sizeof(sh.dir)) {
		strcpy(sh.dir, d);
		sh.dirlen = strlen(sh.dir);
		while (sh.dirlen > 1 && sh.dir[sh.dirlen - 1] == '/')
			sh.dir[--sh.dirlen] = '\0';
	}
	sh.on = 1;
}

/* Is fd a file of the log?  path gets its name.  Async-signal-safe. */
static int
is_log_fd(int fd, char *path, size_t size)
{
	char link[64];
	const char *base;
	ssize_t n;

	if (!sh.on || fd < 0)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, size - 1)) <= 0)
		return 0;
	path[n] = '\0';
	if (sh.dirlen > 0)
		return strncmp(path, sh.dir, sh.dirlen) == 0 &&
		    path[sh.dirlen] == '/';
	if ((base = strrchr(path, '/')) == NULL || base - path < 4 ||
	    strncmp(base - 4, "/log", 4) != 0)
		return 0;
	base++;
	n = (ssize_t)strlen(base);
	return strcmp(base, "spare") == 0 ||
	    (n > 4 && strcmp(base + n - 4, ".seg") == 0);
}

static int
err_of(const char *s)
{
	static const struct { const char *name; int err; } names[] = {
		{ "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT },
		{ "EFBIG", EFBIG }, { "EROFS", EROFS }, { "short", 0 },
	};
	size_t i;
	char *end;
	long v;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].err;
	v = strtol(s, &end, 10);
	return *end == '\0' && v > 0 && v < 4096 ? (int)v : -1;
}

static const char *
err_name(int err)
{
	static char buf[16];

	switch (err) {
	case 0:
		return "short";
	case EIO:
		return "EIO";
	case ENOSPC:
		return "ENOSPC";
	case EDQUOT:
		return "EDQUOT";
	case EFBIG:
		return "EFBIG";
	case EROFS:
		return "EROFS";
	}
	snprintf(buf, sizeof(buf), "%d", err);
	return buf;
}

/* Parse the control file's text; a line that does not parse is skipped. */
static void
parse(char *text)
{
	char *line, *save = NULL, *w[5], *wsave;
	struct rule r;
	int n, e;

	sh.nrules = 0;
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		n = 0;
		for (w[n] = strtok_r(line, " \t\r", &wsave); w[n] != NULL &&
		    n < 4; w[n] = strtok_r(NULL, " \t\r", &wsave))
			n++;
		if (n < 3 || sh.nrules == MAX_RULES)
			continue;
		memset(&r, 0, sizeof(r));
		if (strcmp(w[0], "write") == 0)
			r.op = OP_WRITE;
		else if (strcmp(w[0], "sync") == 0)
			r.op = OP_SYNC;
		else if (strcmp(w[0], "fsync") == 0)
			r.op = OP_FSYNC;
		else if (strcmp(w[0], "truncate") == 0)
			r.op = OP_TRUNCATE;
		else
			continue;
		if ((e = err_of(w[1])) < 0 || (e == 0 && r.op != OP_WRITE))
			continue;
		r.err = e;
		r.count = strtol(w[2], NULL, 10);
		for (e = 1; n > 3 && e < NREC; e++)
			if (strcmp(w[3], rec_names[e]) == 0)
				r.rec = e;
		if (n > 3 && r.rec == 0)
			continue;
		sh.rules[sh.nrules++] = r;
	}
}

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Read the open control file into the rules (under its flock). */
static void
load_fd(int fd, const struct stat *sb)
{
	char buf[4096];
	ssize_t n;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	parse(buf);
	sh.seen = *sb;
	sh.have_seen = 1;
}

/* Under mu: the rules as the file says now (cheap when unchanged). */
static void
refresh(void)
{
	struct stat sb;
	int fd;

	if (stat(sh.ctl, &sb) != 0) {
		sh.nrules = 0;
		sh.have_seen = 0;
		return;
	}
	if (sh.have_seen && same_file(&sb, &sh.seen))
		return;
	if ((fd = open(sh.ctl, O_RDONLY | O_CLOEXEC)) < 0) {
		sh.nrules = 0;
		sh.have_seen = 0;
		return;
	}
	flock(fd, LOCK_SH);
	if (fstat(fd, &sb) == 0)
		load_fd(fd, &sb);
	flock(fd, LOCK_UN);
	close(fd);
}

static struct rule *
find_rule(enum op op, int recs)
{
	size_t i;

	for (i = 0; i < sh.nrules; i++)
		if (sh.rules[i].op == op && sh.rules[i].count > 0 &&
		    (sh.rules[i].rec == 0 ||
		    (recs & (1 << sh.rules[i].rec)) != 0))
			return &sh.rules[i];
	return NULL;
}

/*
 * Under mu: take one off the first rule for op in the file itself.
 * Returns the error to make (0: short), or -1 for none.
 */
static int
consume(enum op op, int recs)
{
	char buf[4096];
	struct rule *r;
	struct stat sb;
	size_t i, len = 0;
	int fd, err = -1;

	if ((fd = open(sh.ctl, O_RDWR | O_CLOEXEC)) < 0)
		return -1;
	flock(fd, LOCK_EX);
	/* The file may have been replaced since refresh(): read it again. */
	if (fstat(fd, &sb) != 0)
		goto out;
	if (!sh.have_seen || !same_file(&sb, &sh.seen))
		load_fd(fd, &sb);
	if ((r = find_rule(op, recs)) == NULL)
		goto out;
	err = r->err;
	r->count--;
	for (i = 0; i < sh.nrules; i++) {
		r = &sh.rules[i];
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
		    "%s %s %ld%s%s\n", op_names[r->op], err_name(r->err),
		    r->count, r->rec ? " " : "", rec_names[r->rec]);
		if (len >= sizeof(buf))
			len = sizeof(buf) - 1;
	}
	if (REAL(ftruncate)(fd, 0) == 0)
		(void)REAL(pwrite)(fd, buf, len, 0);
	if (fstat(fd, &sb) == 0) {
		sh.seen = sb;
		sh.have_seen = 1;
	}
out:
	flock(fd, LOCK_UN);
	close(fd);
	return err;
}

/* Under mu: note a COMMIT record written to fd and not yet synced. */
static void
add_unsynced(int fd, uint64_t qid)
{
	if (sh.nunsynced == MAX_UNSYNCED)
		return;
	sh.unsynced[sh.nunsynced].fd = fd;
	sh.unsynced[sh.nunsynced++].qid = qid;
}

/*
 * Under mu: fd was synced, or failed and will be closed: forget its
 * COMMIT records, listing their queue ids in out (when not NULL).
 */
static void
take_unsynced(int fd, char *out, size_t size)
{
	size_t i, j, len = 0;

	if (out != NULL && size > 0)
		out[0] = '\0';
	for (i = j = 0; i < sh.nunsynced; i++) {
		if (sh.unsynced[i].fd != fd) {
			sh.unsynced[j++] = sh.unsynced[i];
			continue;
		}
		if (out != NULL && len + 20 < size)
			len += (size_t)snprintf(out + len, size - len, "%s%llx",
			    len > 0 ? "," : "",
			    (unsigned long long)sh.unsynced[i].qid);
	}
	sh.nunsynced = j;
}

static void
note(enum op op, int err, const char *path, size_t asked, ssize_t done,
    const char *commits)
{
	char line[PATH_MAX + 4096];
	int fd, n;

	n = snprintf(line, sizeof(line), "%s %s %s pid=%ld len=%zu "
	    "done=%zd commits=%s\n", op_names[op], err_name(err), path,
	    (long)getpid(), asked, done, commits);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	fd = open(sh.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return;
	(void)REAL(write)(fd, line, (size_t)n);
	close(fd);
}

/*
 * Under mu: the fault to make for this call on a log descriptor, or -1
 * to call through.
 */
static int
fault_for(enum op op, int fd, int recs)
{
	if ((op == OP_SYNC || op == OP_FSYNC) && fd < MAX_FDS)
		recs = sh.pending[fd];
	refresh();
	if (find_rule(op, recs) == NULL)
		return -1;
	return consume(op, recs);
}

/*
 * The record types whose headers start a buffer (bit 1 << type); with
 * fd >= 0, under mu, each COMMIT record is noted as not yet synced.
 */
static int
records_in(const struct iovec *iov, int n, int fd)
{
	const unsigned char *p;
	uint64_t qid;
	int i, k, recs = 0;

	for (i = 0; i < n; i++) {
		p = iov[i].iov_base;
		if (iov[i].iov_len < REC_HDR_SIZE ||
		    memcmp(p, "BLWK", 4) != 0 || p[4] >= NREC)
			continue;
		recs |= 1 << p[4];
		if (fd < 0 || p[4] != 3)
			continue;
		/* The header's queue id: u64, little-endian, at 20. */
		for (qid = 0, k = 7; k >= 0; k--)
			qid = qid << 8 | p[20 + k];
		add_unsynced(fd, qid);
	}
	return recs;
}

static size_t
iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;
	int i;

	for (i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* The first half of iov's bytes, in out (at most IOV_MAX entries). */
static int
iov_half(const struct iovec *iov, int n, struct iovec *out)
{
	size_t want = iov_total(iov, n) / 2;
	int i, k = 0;

	for (i = 0; i < n && want > 0; i++) {
		out[k] = iov[i];
		if (out[k].iov_len > want)
			out[k].iov_len = want;
		want -= out[k].iov_len;
		k++;
	}
	return k;
}

/*
 * Every write goes through here.  call makes the real call with iov (or
 * with its first half for a short write).
 */
typedef ssize_t	(*call_fn)(int, const struct iovec *, int, off_t, int);

static ssize_t
do_write(int fd, const struct iovec *iov, int n, off_t off, int flags,
    call_fn call)
{
	char path[PATH_MAX], commits[2048];
	struct iovec half[IOV_MAX];
	size_t total;
	ssize_t w;
	int err, recs;

	if (n <= 0 || n > IOV_MAX || !is_log_fd(fd, path, sizeof(path)))
		return call(fd, iov, n, off, flags);
	recs = records_in(iov, n, -1);
	total = iov_total(iov, n);
	pthread_mutex_lock(&sh.mu);
	if ((err = fault_for(OP_WRITE, fd, recs)) < 0) {
		w = call(fd, iov, n, off, flags);
		if (w > 0 && fd < MAX_FDS)
			sh.pending[fd] |= (unsigned char)recs;
		if (w > 0)
			records_in(iov, n, fd);
		pthread_mutex_unlock(&sh.mu);
		return w;
	}
	/* The file is closed after a failure: its records go with it. */
	records_in(iov, n, fd);
	take_unsynced(fd, commits, sizeof(commits));
	if (err == 0) {
		w = call(fd, half, iov_half(iov, n, half), off, flags);
		err = errno;
		note(OP_WRITE, 0, path, total, w, commits);
		errno = err;
	} else {
		note(OP_WRITE, err, path, total, -1, commits);
		errno = err;
		w = -1;
	}
	pthread_mutex_unlock(&sh.mu);
	return w;
}

static ssize_t
call_write(int fd, const struct iovec *iov, int n, off_t off, int flags)
{

	return REAL(write)(fd, n > 0 ? iov[0].iov_base : NULL,
	    n > 0 ? iov[0].iov_len : 0);
}

static ssize_t
call_writev(int fd, const struct iovec *iov, int n, off_t off, int flags)
{

	return REAL(writev)(fd, iov, n);
}

static ssize_t
call_pwrite(int fd, const struct iovec *iov, int n, off_t off, int flags)
{

	return REAL(pwrite)(fd, n > 0 ? iov[0].iov_base : NULL,
	    n > 0 ? iov[0].iov_len : 0, off);
}

static ssize_t
call_pwritev(int fd, const struct iovec *iov, int n, off_t off, int flags)
{

	return REAL(pwritev)(fd, iov, n, off);
}

static ssize_t
call_pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{

	return REAL(pwritev2)(fd, iov, n, off, flags);
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	struct iovec v = { (void *)(uintptr_t)buf, len };

	return do_write(fd, &v, 1, 0, 0, call_write);
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	return do_write(fd, iov, n, 0, 0, call_writev);
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	struct iovec v = { (void *)(uintptr_t)buf, len };

	return do_write(fd, &v, 1, off, 0, call_pwrite);
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite(fd, buf, len, off);
}

ssize_t
pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	return do_write(fd, iov, n, off, 0, call_pwritev);
}

ssize_t
pwritev64(int fd, const struct iovec *iov, int n, off_t off)
{
	return pwritev(fd, iov, n, off);
}

ssize_t
pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
	return do_write(fd, iov, n, off, flags, call_pwritev2);
}

ssize_t
pwritev64v2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
	return pwritev2(fd, iov, n, off, flags);
}

static int
do_sync(enum op op, int fd, sync_fn call)
{
	char path[PATH_MAX], commits[2048];
	int err, rc;

	if (!is_log_fd(fd, path, sizeof(path)))
		return call(fd);
	pthread_mutex_lock(&sh.mu);
	if ((err = fault_for(op, fd, 0)) < 0) {
		rc = call(fd);
		take_unsynced(fd, NULL, 0);
	} else {
		/* Nothing is synced: the pages stay as they are. */
		take_unsynced(fd, commits, sizeof(commits));
		note(op, err, path, 0, -1, commits);
		errno = err;
		rc = -1;
	}
	/* Synced, or failed and so never retried: nothing pending. */
	if (fd < MAX_FDS)
		sh.pending[fd] = 0;
	pthread_mutex_unlock(&sh.mu);
	return rc;
}

static int
call_fdatasync(int fd)
{

	return REAL(fdatasync)(fd);
}

static int
call_fsync(int fd)
{

	return REAL(fsync)(fd);
}

int
fdatasync(int fd)
{
	return do_sync(OP_SYNC, fd, call_fdatasync);
}

int
fsync(int fd)
{
	return do_sync(OP_FSYNC, fd, call_fsync);
}

/* A failed cut leaves the file as it was. */
static int
do_truncate(int fd, off_t len, truncate_fn call)
{
	char path[PATH_MAX];
	int err;

	if (!is_log_fd(fd, path, sizeof(path)))
		return call(fd, len);
	pthread_mutex_lock(&sh.mu);
	err = fault_for(OP_TRUNCATE, fd, 0);
	if (err >= 0)
		note(OP_TRUNCATE, err, path, (size_t)len, -1, "");
	pthread_mutex_unlock(&sh.mu);
	if (err < 0)
		return call(fd, len);
	errno = err;
	return -1;
}

static int
call_ftruncate(int fd, off_t len)
{

	return REAL(ftruncate)(fd, len);
}

int
ftruncate(int fd, off_t len)
{
	return do_truncate(fd, len, call_ftruncate);
}

int
ftruncate64(int fd, off_t len)
{
	return ftruncate(fd, len);
}
