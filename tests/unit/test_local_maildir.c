/*
 * Maildir delivery of deliver/local_maildir.c: which directory entries
 * are made durable before a delivery counts.  fsync is replaced here to
 * record the directories and files it was called on.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "deliver/local.h"

#define SYNCED_MAX	64

static struct {
	dev_t	dev;
	ino_t	ino;
} synced[SYNCED_MAX];
static size_t nsynced;

/* Every fsync of the code under test lands here. */
int
fsync(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && nsynced < SYNCED_MAX) {
		synced[nsynced].dev = st.st_dev;
		synced[nsynced].ino = st.st_ino;
		nsynced++;
	}
	return (int)syscall(SYS_fsync, fd);
}

static int
was_synced(const char *path)
{
	struct stat st;
	size_t i;

	if (stat(path, &st) != 0)
		return 0;
	for (i = 0; i < nsynced; i++)
		if (synced[i].dev == st.st_dev && synced[i].ino == st.st_ino)
			return 1;
	return 0;
}

struct box {
	char	base[64];
	char	vdir[128];
	char	maildir[160];
	char	sub[3][192];
	int	fd;
};

/* A mailbase with <base>/u/Maildir; its subdirectories made if asked. */
static void
box_make(struct box *b, int make_dirs)
{
	static const char msg[] = "Subject: t\r\n\r\nbody\r\n";
	static const char *subs[] = { "tmp", "new", "cur" };
	size_t i;

	CU_ASSERT_FATAL(unit_tmpdir(b->base, sizeof(b->base),
	    "local_maildir") == 0);
	snprintf(b->vdir, sizeof(b->vdir), "%s/u", b->base);
	snprintf(b->maildir, sizeof(b->maildir), "%s/Maildir", b->vdir);
	for (i = 0; i < 3; i++)
		snprintf(b->sub[i], sizeof(b->sub[i]), "%s/%s", b->maildir,
		    subs[i]);
	if (make_dirs) {
		CU_ASSERT_FATAL(mkdir(b->vdir, 0700) == 0);
		CU_ASSERT_FATAL(mkdir(b->maildir, 0700) == 0);
		for (i = 0; i < 3; i++)
			CU_ASSERT_FATAL(mkdir(b->sub[i], 0700) == 0);
	}
	b->fd = memfd_create("unit", 0);
	CU_ASSERT_FATAL(b->fd >= 0);
	CU_ASSERT_FATAL(write(b->fd, msg, sizeof(msg) - 1) ==
	    (ssize_t)sizeof(msg) - 1);
}

static int
box_deliver(struct box *b, time_t now)
{
	struct maildir_result res;
	struct maildir_job j;

	memset(&j, 0, sizeof(j));
	j.maildir = b->maildir;
	j.vdir = b->vdir;
	j.host = "unit.test";
	j.sender = "a@example.test";
	j.rcpt = "u@example.test";
	j.fd = b->fd;
	j.len = strlen("Subject: t\r\n\r\nbody\r\n");
	j.seq = 1;
	j.now = now;
	nsynced = 0;
	return maildir_deliver(&j, &res);
}

static size_t
count_new(const struct box *b)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if ((d = opendir(b->sub[1])) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return remove(path);
}

static void
box_remove(struct box *b)
{
	close(b->fd);
	CU_ASSERT(nftw(b->base, rm_entry, 8, FTW_DEPTH | FTW_PHYS) == 0);
}

/* Directories made by this delivery are synced into their parents. */
static void
test_created_dirs_synced(void)
{
	struct box b;

	box_make(&b, 0);
	CU_ASSERT_EQUAL(box_deliver(&b, time(NULL)), 0);
	CU_ASSERT_EQUAL(count_new(&b), 1);
	CU_ASSERT(was_synced(b.base));
	CU_ASSERT(was_synced(b.vdir));
	CU_ASSERT(was_synced(b.maildir));
	CU_ASSERT(was_synced(b.sub[1]));
	/* base, vdir, Maildir once for its three, the file, new/. */
	CU_ASSERT_EQUAL(nsynced, 5);
	box_remove(&b);
}

/*
 * Directories someone else made a moment ago (a concurrent delivery
 * that has not synced yet, or a try whose sync failed) are synced too.
 */
static void
test_young_dirs_synced(void)
{
	struct box b;

	box_make(&b, 1);
	CU_ASSERT_EQUAL(box_deliver(&b, time(NULL)), 0);
	CU_ASSERT_EQUAL(count_new(&b), 1);
	CU_ASSERT(was_synced(b.base));
	CU_ASSERT(was_synced(b.vdir));
	CU_ASSERT(was_synced(b.maildir));
	CU_ASSERT(was_synced(b.sub[1]));
	box_remove(&b);
}

/* An old Maildir costs two syncs: the file and new/. */
static void
test_old_dirs_not_synced(void)
{
	struct box b;

	box_make(&b, 1);
	CU_ASSERT_EQUAL(box_deliver(&b, time(NULL) + 3600), 0);
	CU_ASSERT_EQUAL(count_new(&b), 1);
	CU_ASSERT(was_synced(b.sub[1]));
	CU_ASSERT(!was_synced(b.maildir));
	CU_ASSERT(!was_synced(b.vdir));
	CU_ASSERT(!was_synced(b.base));
	CU_ASSERT_EQUAL(nsynced, 2);
	box_remove(&b);
}

static CU_TestInfo tests[] = {
	{ "created directories are synced", test_created_dirs_synced },
	{ "young directories are synced", test_young_dirs_synced },
	{ "old directories are not synced", test_old_dirs_not_synced },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("local_maildir", tests)
