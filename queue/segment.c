/*
 * Segment files: numbered, preallocated, append-only files under
 * <queue_directory>/log.  And the event loop's table of them, which
 * decides when a segment can be freed.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "xmalloc.h"

#include "queue/segment.h"

struct segent {
	uint64_t	num;
	uint32_t	pins;
	int		exists;
	int		rfd;		/* read descriptor, -1 until needed */
};

struct segtab {
	int		 dirfd;
	struct segent	*v;
	size_t		 n;
	size_t		 cap;
	uint64_t	 tail;
};

void
seg_name(uint64_t num, char out[SEG_NAME_LEN + 1])
{
	snprintf(out, SEG_NAME_LEN + 1, "%016" PRIx64 ".seg", num);
}

int
seg_parse_name(const char *name, uint64_t *num)
{
	uint64_t v = 0;
	int i, c;

	if (strlen(name) != SEG_NAME_LEN || strcmp(name + 16, ".seg") != 0)
		return -1;
	for (i = 0; i < 16; i++) {
		c = name[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return -1;
	}
	*num = v;
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
seg_list(int dirfd, uint64_t **nums, size_t *n)
{
	DIR *d;
	struct dirent *de;
	uint64_t *v = NULL, num;
	size_t cnt = 0, cap = 0;
	int fd;

	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (seg_parse_name(de->d_name, &num) != 0)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[cnt++] = num;
	}
	closedir(d);
	if (cnt > 0)
		qsort(v, cnt, sizeof(*v), cmp_u64);
	*nums = v;
	*n = cnt;
	return 0;
}

/*
 * Create name preallocated to size bytes.  Allocating every block now
 * lets fdatasync skip the metadata flush later, and fails here, not in
 * the middle of a record, when the disk is full.
 */
static int
create_file(int dirfd, const char *name, uint64_t size, int sync_dir)
{
	int fd, err;

	fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if ((err = posix_fallocate(fd, 0, (off_t)size)) != 0)
		goto fail;
	if (fsync(fd) != 0 || (sync_dir && fsync(dirfd) != 0)) {
		err = errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	unlinkat(dirfd, name, 0);
	errno = err;
	return -1;
}

int
seg_create(int dirfd, uint64_t num, uint64_t size)
{
	char name[SEG_NAME_LEN + 1];

	/* The entry must be durable before a record in the file counts. */
	seg_name(num, name);
	return create_file(dirfd, name, size, 1);
}

int
seg_spare_create(int dirfd, uint64_t size)
{
	struct statvfs sv;

	/* Cheaper than a failing fallocate while the disk stays full. */
	if (fstatvfs(dirfd, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize < size) {
		errno = ENOSPC;
		return -1;
	}
	unlinkat(dirfd, SEG_SPARE, 0);
	return create_file(dirfd, SEG_SPARE, size, 0);
}

int
seg_spare_take(int dirfd, uint64_t num)
{
	char name[SEG_NAME_LEN + 1];

	seg_name(num, name);
	if (renameat(dirfd, SEG_SPARE, dirfd, name) != 0)
		return -1;
	if (fsync(dirfd) != 0) {
		/* Not durable under its new name: do not use it. */
		unlinkat(dirfd, name, 0);
		return -1;
	}
	return 0;
}

int
seg_unlink(int dirfd, uint64_t num)
{
	char name[SEG_NAME_LEN + 1];

	seg_name(num, name);
	if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
		return -1;
	return 0;
}

struct segtab *
segtab_new(int dirfd)
{
	struct segtab *t = xcalloc(1, sizeof(*t));

	t->dirfd = dirfd;
	return t;
}

void
segtab_free(struct segtab *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		if (t->v[i].rfd >= 0)
			close(t->v[i].rfd);
	free(t->v);
	free(t);
}

/* The entry for num, inserted in order when missing. */
static struct segent *
segtab_get(struct segtab *t, uint64_t num)
{
	size_t i;

	for (i = t->n; i > 0 && t->v[i - 1].num >= num; i--)
		if (t->v[i - 1].num == num)
			return &t->v[i - 1];
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
	}
	memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
	t->n++;
	memset(&t->v[i], 0, sizeof(t->v[i]));
	t->v[i].num = num;
	t->v[i].rfd = -1;
	return &t->v[i];
}

static struct segent *
segtab_find(struct segtab *t, uint64_t num)
{
	size_t lo = 0, hi = t->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (t->v[mid].num == num)
			return &t->v[mid];
		if (t->v[mid].num < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void
segtab_add(struct segtab *t, uint64_t num)
{
	segtab_get(t, num)->exists = 1;
}

void
segtab_set_tail(struct segtab *t, uint64_t num)
{
	if (num > t->tail)
		t->tail = num;
}

uint64_t
segtab_tail(const struct segtab *t)
{
	return t->tail;
}

void
segtab_pin(struct segtab *t, uint64_t num)
{
	segtab_get(t, num)->pins++;
}

void
segtab_unpin(struct segtab *t, uint64_t num)
{
	struct segent *e = segtab_find(t, num);

	if (e != NULL && e->pins > 0)
		e->pins--;
}

size_t
segtab_collect(struct segtab *t, uint64_t *out, size_t max)
{
	size_t k = 0;

	while (k < max && t->n > 0 && t->v[0].num < t->tail &&
	    t->v[0].pins == 0) {
		if (t->v[0].rfd >= 0)
			close(t->v[0].rfd);
		if (t->v[0].exists)
			out[k++] = t->v[0].num;
		memmove(&t->v[0], &t->v[1], (t->n - 1) * sizeof(*t->v));
		t->n--;
	}
	return k;
}

uint64_t
segtab_oldest(const struct segtab *t)
{
	return t->n > 0 ? t->v[0].num : 0;
}

size_t
segtab_count(const struct segtab *t)
{
	size_t i, c = 0;

	for (i = 0; i < t->n; i++)
		c += t->v[i].exists != 0;
	return c;
}

int
segtab_read(struct segtab *t, uint64_t num, uint64_t off, uint32_t len,
    uint8_t type, uint64_t qid, unsigned char *buf)
{
	char name[SEG_NAME_LEN + 1];
	struct segent *e;

	if ((e = segtab_find(t, num)) == NULL || !e->exists) {
		errno = ENOENT;
		return -1;
	}
	if (e->rfd < 0) {
		seg_name(num, name);
		e->rfd = openat(t->dirfd, name, O_RDONLY | O_CLOEXEC);
		if (e->rfd < 0)
			return -1;
	}
	return seg_read_record(e->rfd, off, len, type, qid, buf);
}

int
seg_read_record(int fd, uint64_t off, uint32_t len, uint8_t type,
    uint64_t qid, unsigned char *buf)
{
	size_t want = REC_HDR_SIZE + (size_t)len;
	struct rec_hdr h;
	ssize_t r;

	if ((r = pread(fd, buf, want, (off_t)off)) < 0)
		return -1;
	if ((size_t)r != want || rec_hdr_decode(buf, &h) != 0 ||
	    h.len != len || h.type != type || h.qid != qid ||
	    crc32c(0, buf + REC_HDR_SIZE, len) != h.pcrc) {
		errno = EIO;
		return -1;
	}
	return 0;
}
