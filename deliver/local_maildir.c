/*
 * Maildir delivery proper, run in a child of the local agent after it
 * became the mailbox owner.  The order is what makes it durable: the
 * message is written under tmp/, synced, linked into new/, and new/ is
 * synced; only then does the delivery count.  A directory created on the
 * way, or found but young, is synced into its parent, so that a crash
 * cannot lose new/ under a file that was already counted.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "local.h"

#define COPY_BLOCK	(64 * 1024)
/*
 * A directory born this recently may be missing from its parent after a
 * crash.  Its maker syncs the parent right after mkdir, but a concurrent
 * delivery may find it before that sync, and a try whose sync failed
 * never made it durable.  Past this age the kernel has written the entry
 * back on its own (dirty metadata expires after 30 s, the ext4 journal
 * commits every 5 s), so an old directory costs no sync.
 */
#define MAILDIR_YOUNG_SECS	120

static const char *step_text[] = {
	[MD_STEP_NONE] = "delivery",
	[MD_STEP_PRIV] = "cannot become the mailbox owner",
	[MD_STEP_MKDIR] = "cannot create the maildir",
	[MD_STEP_NAME] = "cannot make a unique file name",
	[MD_STEP_CREATE] = "cannot create the maildir file",
	[MD_STEP_READ] = "cannot read the message",
	[MD_STEP_WRITE] = "cannot write the maildir file",
	[MD_STEP_FSYNC] = "cannot sync the maildir file",
	[MD_STEP_LINK] = "cannot move the file into new/",
	[MD_STEP_SYNCDIR] = "cannot sync new/",
};

const char *
maildir_step_text(int step)
{
	if (step < 0 || (size_t)step >= sizeof(step_text) /
	    sizeof(step_text[0]) || step_text[step] == NULL)
		return "delivery";
	return step_text[step];
}

static int
failed(struct maildir_result *res, int step, int err)
{
	res->step = step;
	res->err = err != 0 ? err : EIO;
	return -1;
}

static int
sync_dir(const char *path)
{
	int fd, rv;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rv = fsync(fd);
	if (close(fd) == -1)
		rv = -1;
	return rv;
}

/*
 * Was the directory at path born within MAILDIR_YOUNG_SECS of now?  The
 * change time stands in when the birth time is unknown (it is never
 * earlier); when neither can be read, it counts as young.
 */
static int
dir_young(const char *path, time_t now)
{
	struct statx sx;
	int64_t born;

	if (statx(AT_FDCWD, path, 0, STATX_BTIME | STATX_CTIME, &sx) == -1)
		return 1;
	born = (sx.stx_mask & STATX_BTIME) ? sx.stx_btime.tv_sec :
	    sx.stx_ctime.tv_sec;
	return born > (int64_t)now - MAILDIR_YOUNG_SECS;
}

/*
 * mkdir path (0700) unless it exists.  1 when its entry must be synced
 * into the parent before the delivery counts (it is new, or a young one
 * someone else made), 0 when not, -1 on error.
 */
static int
ensure_dir(const char *path, time_t now)
{
	if (mkdir(path, 0700) == -1) {
		if (errno != EEXIST)
			return -1;
		return dir_young(path, now);
	}
	return 1;
}

/* ensure_dir, then the parent's sync when it is needed. */
static int
ensure_synced(const char *path, const char *parent, time_t now)
{
	int rv = ensure_dir(path, now);

	return rv == 1 ? sync_dir(parent) : rv;
}

static int
make_dirs(const struct maildir_job *j)
{
	char sub[PATH_MAX], parent[PATH_MAX];
	static const char *subs[] = { "tmp", "new", "cur" };
	char *slash;
	size_t i;
	int rv, need = 0;

	if (strlcpy(parent, j->maildir, sizeof(parent)) >= sizeof(parent)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((slash = strrchr(parent, '/')) != NULL && slash != parent)
		*slash = '\0';
	if (j->vdir != NULL) {
		char base[PATH_MAX];

		strlcpy(base, j->vdir, sizeof(base));
		if ((slash = strrchr(base, '/')) != NULL && slash != base)
			*slash = '\0';
		if (ensure_synced(j->vdir, base, j->now) == -1)
			return -1;
	}
	if (ensure_synced(j->maildir, parent, j->now) == -1)
		return -1;
	/* tmp, new and cur share a parent: one sync covers them all. */
	for (i = 0; i < 3; i++) {
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", j->maildir,
		    subs[i]) >= sizeof(sub)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if ((rv = ensure_dir(sub, j->now)) == -1)
			return -1;
		need |= rv;
	}
	return need ? sync_dir(j->maildir) : 0;
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Trace headers, then the content with CRLF turned into LF. */
static int
write_message(const struct maildir_job *j, int out,
    struct maildir_result *res)
{
	static char in[COPY_BLOCK], conv[COPY_BLOCK + 1];
	char trace[2048];
	struct lfconv lf;
	uint64_t off = 0;
	ssize_t n;
	size_t clen;
	int tlen;

	if ((tlen = maildir_trace(trace, sizeof(trace), j->sender,
	    j->rcpt)) == -1)
		return failed(res, MD_STEP_WRITE, EINVAL);
	if (write_all(out, trace, (size_t)tlen) == -1)
		return failed(res, MD_STEP_WRITE, errno);
	maildir_lf_init(&lf);
	while (off < j->len) {
		clen = j->len - off < COPY_BLOCK ? (size_t)(j->len - off) :
		    COPY_BLOCK;
		n = pread(j->fd, in, clen, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return failed(res, MD_STEP_READ, n == 0 ? EIO : errno);
		off += (uint64_t)n;
		clen = maildir_lf(&lf, in, (size_t)n, conv);
		if (write_all(out, conv, clen) == -1)
			return failed(res, MD_STEP_WRITE, errno);
	}
	clen = maildir_lf_end(&lf, conv);
	if (write_all(out, conv, clen) == -1)
		return failed(res, MD_STEP_WRITE, errno);
	return 0;
}

/* Into new/: link keeps a name from being overwritten; rename if not. */
static int
move_new(const char *tmp, const char *dst)
{
	if (link(tmp, dst) == 0) {
		unlink(tmp);	/* a leftover in tmp/ is only untidy */
		return 0;
	}
	if (errno != EPERM && errno != ENOSYS && errno != EXDEV)
		return -1;
	if (access(dst, F_OK) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename(tmp, dst);
}

int
maildir_deliver(const struct maildir_job *j, struct maildir_result *res)
{
	char tmp[PATH_MAX], dst[PATH_MAX], newdir[PATH_MAX];
	struct timeval tv;
	int fd;

	memset(res, 0, sizeof(*res));
	if (make_dirs(j) == -1)
		return failed(res, MD_STEP_MKDIR, errno);
	gettimeofday(&tv, NULL);
	if (maildir_unique_name(res->name, sizeof(res->name), tv.tv_sec,
	    (long)tv.tv_usec, (long)getpid(), j->seq, j->host) == -1 ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/tmp/%s", j->maildir,
	    res->name) >= sizeof(tmp) ||
	    (size_t)snprintf(dst, sizeof(dst), "%s/new/%s", j->maildir,
	    res->name) >= sizeof(dst) ||
	    (size_t)snprintf(newdir, sizeof(newdir), "%s/new", j->maildir) >=
	    sizeof(newdir))
		return failed(res, MD_STEP_NAME, ENAMETOOLONG);

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return failed(res, MD_STEP_CREATE, errno);
	if (write_message(j, fd, res) == -1)
		goto fail;
	if (fsync(fd) == -1) {
		failed(res, MD_STEP_FSYNC, errno);
		goto fail;
	}
	/* close() can report a delayed write error (NFS, quotas) */
	if (close(fd) == -1) {
		fd = -1;
		failed(res, MD_STEP_WRITE, errno);
		goto fail;
	}
	fd = -1;
	if (move_new(tmp, dst) == -1) {
		failed(res, MD_STEP_LINK, errno);
		goto fail;
	}
	if (sync_dir(newdir) == -1)
		return failed(res, MD_STEP_SYNCDIR, errno);
	return 0;

fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}
