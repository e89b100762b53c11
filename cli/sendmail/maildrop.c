/*
 * The maildrop: where sendmail leaves a message while the daemon is down.
 * The queue picks the files up when it starts (queue/maildrop.c), takes
 * the submitting user from the file's owner, and honours the sender line
 * only for root and trusted users.
 *
 * The directory is mode 1770, group bulwarkdrop, and sendmail is
 * installed set-gid bulwarkdrop: users can drop files into it through
 * this program but cannot list, read or change what is there.  The
 * group may read the directory only so that it can be opened to fsync
 * it; this program never lists it.  The set-gid group is held only while
 * the file is created, written, renamed and its directory entry synced;
 * sm_priv_init() gives it up at start (keeping it as the saved gid) and
 * sm_priv_drop() gives it up for good.
 */
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "header.h"
#include "cli/sendmail/sendmail.h"

#define MD_MAGIC	"BULWARK-MAILDROP 1\n"
#define MD_FIXUP_MAX	4096

static gid_t	real_gid;
static gid_t	drop_gid;

void
sm_priv_init(void)
{
	gid_t r, e, s;

	if (getresgid(&r, &e, &s) == -1) {
		perror("sendmail: getresgid");
		exit(EX_OSERR);
	}
	real_gid = r;
	drop_gid = e;
	if (e != r && setresgid((gid_t)-1, r, (gid_t)-1) == -1) {
		perror("sendmail: setresgid");
		exit(EX_OSERR);
	}
}

void
sm_priv_drop(void)
{
	gid_t r, e, s;

	if (setresgid(real_gid, real_gid, real_gid) == -1 ||
	    getresgid(&r, &e, &s) == -1 || r != real_gid ||
	    e != real_gid || s != real_gid) {
		fprintf(stderr, "sendmail: cannot give up the set-gid group\n");
		exit(EX_OSERR);
	}
}

/* Take the set-gid group back, for the maildrop alone. */
static int
priv_raise(void)
{
	if (drop_gid == real_gid)
		return 0;
	return setresgid((gid_t)-1, drop_gid, (gid_t)-1);
}

struct wr {
	int	fd;
	char	buf[65536];
	size_t	len;
};

static int
wr_flush(struct wr *w)
{
	size_t off = 0;
	ssize_t n;

	while (off < w->len) {
		n = write(w->fd, w->buf + off, w->len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	w->len = 0;
	return 0;
}

static int
wr_out(void *arg, const char *p, size_t len)
{
	struct wr *w = arg;
	size_t n;

	while (len > 0) {
		if (w->len == sizeof(w->buf) && wr_flush(w) == -1)
			return -1;
		n = sizeof(w->buf) - w->len;
		if (n > len)
			n = len;
		memcpy(w->buf + w->len, p, n);
		w->len += n;
		p += n;
		len -= n;
	}
	return 0;
}

static int
wr_line(struct wr *w, const char *key, const char *addr)
{
	return wr_out(w, key, strlen(key)) == -1 ||
	    wr_out(w, " <", 2) == -1 || wr_out(w, addr, strlen(addr)) == -1 ||
	    wr_out(w, ">\n", 2) == -1 ? -1 : 0;
}

/*
 * The headers the daemon would add to a local submission (Message-ID,
 * Date, From), added here since the message reaches the queue directly.
 */
static int
fixup(struct sm_msg *m, const struct sm_opts *opts,
    const struct sm_envelope *env, const struct config *cfg,
    const struct timeval *tv)
{
	char text[MD_FIXUP_MAX], id[64], *from;
	int present = m->present, n;

	sm_msg_clear_added(m);
	if (opts->fullname != NULL && !(present & HDR_HAS_FROM)) {
		from = sm_from_header(opts->fullname, env->from);
		sm_msg_add_header(m, from, strlen(from));
		free(from);
		present |= HDR_HAS_FROM;
	}
	snprintf(id, sizeof(id), "%lld%06ld.%ld", (long long)tv->tv_sec,
	    (long)tv->tv_usec, (long)getpid());
	n = header_fixup_text(present, env->from, id, cfg->myhostname,
	    tv->tv_sec, text, sizeof(text));
	if (n < 0)
		return -1;
	/* Message-ID and Date go before a From: of ours: keep the order. */
	if (m->added_len > 0 && n > 0) {
		from = m->added;
		m->added = NULL;
		m->added_len = 0;
		sm_msg_add_header(m, text, (size_t)n);
		sm_msg_add_header(m, from, strlen(from));
		free(from);
	} else
		sm_msg_add_header(m, text, (size_t)n);
	return 0;
}

static int
write_file(struct wr *w, const struct sm_envelope *env,
    const struct sm_msg *m)
{
	size_t i;

	if (wr_out(w, MD_MAGIC, strlen(MD_MAGIC)) == -1)
		return -1;
	/* No sender line: the queue uses the owner's login@myhostname. */
	if (env->has_sender && wr_line(w, "sender", env->sender) == -1)
		return -1;
	for (i = 0; i < env->nrcpt; i++)
		if (wr_line(w, "rcpt", env->rcpt[i]) == -1)
			return -1;
	if (wr_out(w, "\n", 1) == -1 || sm_msg_walk(m, wr_out, w) == -1 ||
	    wr_flush(w) == -1)
		return -1;
	return fsync(w->fd);
}

/* Make the renamed entry durable; -1 with errno set when it is not. */
static int
sync_dir(const char *dir)
{
	int fd, save;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (fsync(fd) == -1) {
		save = errno;
		close(fd);
		errno = save;
		return -1;
	}
	return close(fd);
}

int
sm_maildrop(const struct config *cfg, const struct sm_opts *opts,
    const struct sm_envelope *env, struct sm_msg *m)
{
	char dir[4096], tmp[4200], final[4200];
	struct timeval tv;
	struct wr *w;
	int rc = EX_TEMPFAIL, save = 0;

	config_path_maildrop(cfg, dir, sizeof(dir));
	gettimeofday(&tv, NULL);
	if (fixup(m, opts, env, cfg, &tv) == -1) {
		fprintf(stderr, "%s: cannot add the missing headers\n",
		    opts->prog);
		sm_priv_drop();
		return EX_SOFTWARE;
	}
	snprintf(tmp, sizeof(tmp), "%s/.tmp.%ld.%08x", dir, (long)getpid(),
	    arc4random());
	snprintf(final, sizeof(final), "%s/%lld.%06ld.%ld", dir,
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid());
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		sm_priv_drop();
		fprintf(stderr, "%s: out of memory\n", opts->prog);
		return EX_OSERR;
	}

	if (priv_raise() == -1) {
		save = errno;
		sm_priv_drop();
		fprintf(stderr, "%s: cannot take the maildrop group: %s\n",
		    opts->prog, strerror(save));
		free(w);
		return EX_OSERR;
	}
	w->fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (w->fd == -1) {
		save = errno;
		sm_priv_drop();
		fprintf(stderr, "%s: the mail system cannot take the message "
		    "now and the maildrop %s cannot either: %s\n", opts->prog,
		    dir, strerror(save));
		free(w);
		return EX_TEMPFAIL;
	}
	/* The queue reads it as another user, whatever our umask says. */
	if (fchmod(w->fd, 0644) == -1 || write_file(w, env, m) == -1) {
		save = errno;
		close(w->fd);
		w->fd = -1;
	}
	if (w->fd == -1 || close(w->fd) == -1 || rename(tmp, final) == -1) {
		if (w->fd != -1)
			save = errno;
		(void)unlink(tmp);
		sm_priv_drop();
		fprintf(stderr, "%s: cannot write %s: %s\n", opts->prog, tmp,
		    strerror(save));
	} else if (sync_dir(dir) == -1) {
		/* Not durable: better a failure the caller sees than a loss. */
		save = errno;
		(void)unlink(final);
		sm_priv_drop();
		fprintf(stderr, "%s: cannot sync the maildrop %s: %s; the "
		    "message was not kept\n", opts->prog, dir, strerror(save));
	} else {
		sm_priv_drop();
		rc = 0;
		if (opts->verbose)
			fprintf(stderr, "%s: the message was kept in %s\n",
			    opts->prog, final);
	}
	free(w);
	return rc;
}
