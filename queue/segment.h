/*
 * Segment files of the queue log and the event loop's table of them.
 *
 * File operations (create, list, unlink) are used by the I/O thread and
 * by recovery; the table (which segments exist, how many live messages
 * pin each, read descriptors for reading records back) belongs to the
 * event loop alone.
 */
#ifndef BULWARK_QUEUE_SEGMENT_H
#define BULWARK_QUEUE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "queue/record.h"

#define SEG_NAME_LEN	20	/* 16 hex digits and ".seg" */
#define SEG_DIR		"log"

void	seg_name(uint64_t num, char out[SEG_NAME_LEN + 1]);
/* 0 and *num for a well-formed segment file name, else -1. */
int	seg_parse_name(const char *, uint64_t *num);
/* Sorted numbers of the segment files in dirfd (malloc'd), or -1. */
int	seg_list(int dirfd, uint64_t **nums, size_t *n);
/*
 * Create segment num preallocated to size bytes and sync the directory,
 * so that the file's entry is durable before anything in it is trusted.
 * Returns a read-write descriptor, or -1 with errno set (the half-made
 * file is removed).
 */
int	seg_create(int dirfd, uint64_t num, uint64_t size);
/*
 * The spare: the next segment, preallocated ahead of need under a name
 * recovery does not read.  While it exists, the log can always rotate,
 * so the records that finish messages (and free space) can be written
 * even when the disk is full.  seg_spare_create makes it (-1 and errno,
 * ENOSPC without trying when statvfs says there is no room);
 * seg_spare_take renames it to segment num and syncs the directory.
 */
#define SEG_SPARE	"spare"
int	seg_spare_create(int dirfd, uint64_t size);
int	seg_spare_take(int dirfd, uint64_t num);
int	seg_unlink(int dirfd, uint64_t num);

struct segtab;

struct segtab	*segtab_new(int dirfd);
void		 segtab_free(struct segtab *);
/* A segment file now exists (recovered, or just created at the tail). */
void		 segtab_add(struct segtab *, uint64_t num);
/* The segment the I/O thread writes to, as far as we know. */
void		 segtab_set_tail(struct segtab *, uint64_t num);
uint64_t	 segtab_tail(const struct segtab *);
/* A live message or transaction has records in num or later. */
void		 segtab_pin(struct segtab *, uint64_t num);
void		 segtab_unpin(struct segtab *, uint64_t num);
/*
 * Take the segments that can go now out of the table, oldest first:
 * below the tail, and neither they nor any older segment pinned.
 * Returns how many numbers were written to out.
 */
size_t		 segtab_collect(struct segtab *, uint64_t *out, size_t max);
/* Segment files that exist; the oldest in the table (0: none). */
size_t		 segtab_count(const struct segtab *);
uint64_t	 segtab_oldest(const struct segtab *);
/*
 * Read the record at (num, off) whose payload is len bytes into buf
 * (REC_HDR_SIZE + len bytes) and check it: header, length, payload CRC
 * and the expected type and queue id.  Returns 0, or -1 with errno
 * (EIO for a record that does not check).
 */
int		 segtab_read(struct segtab *, uint64_t num, uint64_t off,
		    uint32_t len, uint8_t type, uint64_t qid,
		    unsigned char *buf);
/* The same check on the record at off of the open segment file fd. */
int		 seg_read_record(int fd, uint64_t off, uint32_t len,
		    uint8_t type, uint64_t qid, unsigned char *buf);

#endif
