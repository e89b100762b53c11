/*
 * The layout under queue_directory and the master's pid file.
 *
 * Run by root, every directory gets its owner and mode set here, each
 * time the master starts, so a spool damaged by hand is put right:
 *
 *   log/       mail_owner 0700       the queue's segment files
 *   empty/     root 0555             smtpd's chroot
 *   public/    root 0755             submit and showq sockets (0666)
 *   private/   root 0700             the control socket (0600)
 *   maildrop/  mail_owner:drop 1770  sendmail (set-gid) writes, the
 *                                    queue (mail_owner) reads and unlinks
 *   pid/       root 0755             master.pid (0644), locked
 *
 * The maildrop belongs to mail_owner rather than root: the queue process
 * runs as mail_owner and must list the directory and unlink the files
 * users left in it, which a sticky directory allows only its owner.
 * The group may read it so that sendmail can open it to fsync the entry
 * it renamed in; only sendmail runs with that group, and it never lists
 * the directory.  Started by another user, everything belongs to that
 * user.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#include "master/master.h"

enum spool_owner {
	OWN_ROOT = 0,
	OWN_MAIL,
	OWN_MAILDROP,
};

static const struct spool_dir {
	const char		*name;
	mode_t			 mode;
	enum spool_owner	 owner;
} spool_dirs[] = {
	{ "log",	0700,	OWN_MAIL },
	{ "empty",	0555,	OWN_ROOT },
	{ "public",	0755,	OWN_ROOT },
	{ "private",	0700,	OWN_ROOT },
	{ "maildrop",	01770,	OWN_MAILDROP },
	{ "pid",	0755,	OWN_ROOT },
};

static void
dir_owner(const struct master *m, enum spool_owner o, uid_t *uid,
    gid_t *gid)
{
	if (!m->as_root) {
		*uid = m->owner_uid;
		*gid = m->owner_gid;
		return;
	}
	*uid = 0;
	*gid = 0;
	switch (o) {
	case OWN_ROOT:
		break;
	case OWN_MAIL:
		*uid = m->owner_uid;
		*gid = m->owner_gid;
		break;
	case OWN_MAILDROP:
		*uid = m->owner_uid;
		*gid = m->drop_gid;
		break;
	}
}

/* Create dir (if missing) under dfd and give it its owner and mode. */
static int
spool_dir(const struct master *m, int dfd, const struct spool_dir *d,
    char *err, size_t errlen)
{
	const char *top = m->cfg->queue_directory;
	struct stat st;
	uid_t uid;
	gid_t gid;
	int fd;

	dir_owner(m, d->owner, &uid, &gid);
	if (mkdirat(dfd, d->name, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s/%s: mkdir: %s", top, d->name,
		    strerror(errno));
		return -1;
	}
	fd = openat(dfd, d->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s/%s: %s", top, d->name,
		    errno == ENOTDIR || errno == ELOOP ?
		    "not a directory" : strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if ((st.st_uid != uid || st.st_gid != gid) &&
	    fchown(fd, uid, gid) != 0) {
		snprintf(err, errlen, "%s/%s: chown: %s", top, d->name,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if ((st.st_mode & 07777) != d->mode && fchmod(fd, d->mode) != 0) {
		snprintf(err, errlen, "%s/%s: chmod: %s", top, d->name,
		    strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
spool_prepare(struct master *m, char *err, size_t errlen)
{
	const char *top = m->cfg->queue_directory;
	size_t i;
	int dfd;

	if (mkdir(top, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: mkdir: %s", top, strerror(errno));
		return -1;
	}
	if ((dfd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", top, strerror(errno));
		return -1;
	}
	for (i = 0; i < sizeof(spool_dirs) / sizeof(spool_dirs[0]); i++) {
		if (spool_dir(m, dfd, &spool_dirs[i], err, errlen) != 0) {
			close(dfd);
			return -1;
		}
	}
	close(dfd);

	snprintf(m->pid_path, sizeof(m->pid_path), "%s/pid/master.pid", top);
	config_path_submit(m->cfg, m->submit_path, sizeof(m->submit_path));
	config_path_showq(m->cfg, m->showq_path, sizeof(m->showq_path));
	config_path_control(m->cfg, m->control_path,
	    sizeof(m->control_path));
	return 0;
}

/*
 * Lock the pid file; the lock is the proof that no other master uses
 * this spool, and is held until the process ends.
 */
int
spool_pid_lock(struct master *m, char *err, size_t errlen)
{
	char buf[32];
	ssize_t n;
	int fd;

	fd = open(m->pid_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", m->pid_path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK) {
			snprintf(err, errlen, "%s: lock: %s", m->pid_path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(err, errlen, "another bulwarkd (pid %s) is running "
		    "on %s: %s is locked", buf[0] ? buf : "?",
		    m->cfg->queue_directory, m->pid_path);
		close(fd);
		return -1;
	}
	if (m->as_root && fchown(fd, 0, 0) != 0) {
		snprintf(err, errlen, "%s: chown: %s", m->pid_path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (fchmod(fd, 0644) != 0) {
		snprintf(err, errlen, "%s: chmod: %s", m->pid_path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	m->pid_fd = fd;
	return 0;
}

int
spool_pid_write(struct master *m, char *err, size_t errlen)
{
	char buf[32];
	int n;

	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(m->pid_fd, 0) != 0 ||
	    pwrite(m->pid_fd, buf, n, 0) != n) {
		snprintf(err, errlen, "%s: write: %s", m->pid_path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* At a clean stop: the sockets and the pid file go; the lock with it. */
void
spool_cleanup(struct master *m)
{
	const char *paths[] = { m->submit_path, m->showq_path,
	    m->control_path };
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (paths[i][0] != '\0' && unlink(paths[i]) != 0 &&
		    errno != ENOENT)
			log_warn("%s: cannot remove: %s", paths[i],
			    strerror(errno));
	if (m->pid_fd >= 0) {
		if (unlink(m->pid_path) != 0 && errno != ENOENT)
			log_warn("%s: cannot remove: %s", m->pid_path,
			    strerror(errno));
		close(m->pid_fd);
		m->pid_fd = -1;
	}
}
