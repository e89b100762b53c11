/*
 * Recovery: read the log at start and rebuild the live messages.
 *
 * Segments are read in order.  Bytes past the last intact record of the
 * last segment are a torn tail (never synced, or synced only in part) and
 * are cut.  Damage anywhere else is corruption: the damaged record or run
 * is skipped, the scan resumes at the next valid header, and what was
 * lost is logged loudly.  A message counts only with its COMMIT and every
 * DATA record it names; DATA without a COMMIT is an unfinished
 * transaction (garbage).
 */
#ifndef BULWARK_QUEUE_RECOVERY_H
#define BULWARK_QUEUE_RECOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "queue/idmap.h"
#include "queue/msg.h"

struct rcv_damage;
struct rcv_ent;

struct recovery {
	int		 verbose;	/* log findings (the daemon does) */
	const char	*name;		/* of the log, for the summary */
	/*
	 * The cold log is recovered first with keep_known: known then
	 * holds every queue id it has a live or finished message for.
	 * The hot log's recovery gets that map as superseded: those
	 * messages were copied to the cold log, which holds them now.
	 */
	int		 keep_known;
	struct idmap	 known;
	const struct idmap *superseded;

	/* results */
	struct qmsglist	 live;		/* in commit order */
	size_t		 nlive;
	uint64_t	 last_seq;	/* highest sequence number seen */
	uint64_t	 max_qid;	/* highest queue id seen */
	uint64_t	 last_seg;	/* highest segment number, 0: none */
	uint64_t	*segs;		/* segments kept, with ... */
	uint64_t	*seglens;	/* ... their lengths after recovery */
	size_t		 nsegs;

	/* counts for the log and the tests */
	size_t		 records;
	size_t		 damaged;	/* records skipped as corrupt */
	size_t		 torn_records;	/* damaged records in the torn tail */
	size_t		 lost;		/* committed messages lost */
	size_t		 garbage;	/* unfinished transactions dropped */
	size_t		 suspect;	/* ... of which damage may have hit
					   the commit */
	uint64_t	 untrusted;	/* bytes past a trusted length */
	size_t		 done;		/* finished messages seen */
	size_t		 moved;		/* superseded by the cold log */
	size_t		 recipients;	/* still to deliver in live */
	uint64_t	 bytes;		/* scanned */
	uint64_t	 skipped_bytes;	/* in corrupt runs */
	uint64_t	 torn_bytes;	/* cut from the last segment */
	uint64_t	 corrupt_tail;	/* unreadable bytes ending a segment
					   other than the last */
	long		 msec;		/* recovery_run's time */

	/* private */
	struct idmap	 ents;		/* queue id -> index in entv, + 1 */
	struct rcv_ent	*entv;		/* one allocation, freed at finish */
	size_t		 nent;
	size_t		 capent;
	const unsigned char *map;	/* the segment being fed, mapped */
	size_t		 map_done;	/* bytes of it given back */
	uint64_t	 cur_seg;
	size_t		 cur_index;	/* records in the current segment */
	uint64_t	 seq_now;	/* of the last record scanned */
	uint64_t	 damage_after;	/* last seq before the last damage */
	struct rcv_damage *dmg;
	size_t		 ndmg;
	size_t		 capdmg;
};

void	recovery_init(struct recovery *, int verbose);
/*
 * Feed the bytes of segment segno (segments in increasing order); is_last
 * marks the last one.  Returns how many bytes of it to keep: the end of
 * its last intact record when is_last, else len.
 */
size_t	recovery_feed(struct recovery *, uint64_t segno,
	    const unsigned char *buf, size_t len, int is_last);
/* After the last segment: decide which messages live. */
void	recovery_finish(struct recovery *);
/*
 * Recover the segment files in dirfd: feed, cut the torn tail, sync,
 * finish, and log the summary.  Returns 0, or -1 with errno when a
 * segment cannot be read (the caller treats that as fatal).
 */
int	recovery_run(struct recovery *, int dirfd);
/* Free what is left, including messages still on live. */
void	recovery_free(struct recovery *);

#endif
