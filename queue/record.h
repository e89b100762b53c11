/*
 * Records of the queue's segment log: encoding, decoding and the scanner
 * that recovery runs over a segment.  Pure functions over buffers: no
 * files, no logging, so unit tests and the fuzzer use them directly.
 *
 * On-disk format (every integer little-endian):
 *
 *   A segment file <queue_directory>/log/<16 hex digits>.seg is
 *   preallocated (zero-filled) to segment_size and holds records back to
 *   back from offset 0; the unused rest stays zero.  The first record of
 *   a segment is a SEGMENT record.
 *
 *   record header, REC_HDR_SIZE (36) bytes:
 *     0  u32  magic REC_MAGIC ("BLWK")
 *     4  u8   type (REC_SEGMENT .. REC_DONE)
 *     5  u8   flags (reserved for the cold log; 0)
 *     6  u16  reserved, 0
 *     8  u32  payload length (at most REC_MAX_PAYLOAD)
 *    12  u64  sequence number: +1 per record written, never reused, so
 *             it only increases along the log
 *    20  u64  queue id (0 for SEGMENT records)
 *    28  u32  CRC32C of the payload
 *    32  u32  CRC32C of header bytes 0..31
 *   then the payload.  A str is u32 length + bytes (no NUL inside).
 *
 *   SEGMENT  u32 version, u64 segment number, u64 segment size,
 *            u64 queue id floor (every id issued before the segment
 *            was made is at most this), u64 previous segment number
 *            (0: none), u64 trusted length of the previous segment
 *            (bytes past it were written after a failed write or sync
 *            and must not come back)
 *   DATA     u32 chunk index (0, 1, ...), then the content bytes
 *            (canonical CRLF)
 *   COMMIT   u32 number of DATA records, u64 content size,
 *            u64 arrival (unix seconds), u32 local uid, u32 flags
 *            (REC_CF_*), str sender, str client_addr, str client_name,
 *            str helo, u32 nrcpt, nrcpt x (u8 disposition, str rcpt);
 *            with REC_CF_COPY each recipient is followed by its state
 *            as an OUTCOME payload without the index (u8 status ..
 *            str reply), so a copy is one record, whole or absent
 *   OUTCOME  u32 recipient index, u8 status (REC_OUT_*), u32 attempts,
 *            u64 next retry (unix seconds, 0 = none), str dsn,
 *            str reason, str remote (the server that answered, "" for
 *            none), str reply (its reply, "" for none)
 *   DONE     empty: the message is finished
 *
 * A message is its DATA records, then its COMMIT; OUTCOME and DONE
 * records follow.  Recovery keeps a message only if the COMMIT and all of
 * its DATA records are intact.
 */
#ifndef BULWARK_QUEUE_RECORD_H
#define BULWARK_QUEUE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define REC_MAGIC		0x4b574c42U	/* "BLWK" on disk */
#define REC_HDR_SIZE		36
#define REC_MAX_PAYLOAD		(16U * 1024 * 1024)
#define REC_SEGMENT_VERSION	2
#define REC_DATA_PREFIX		4	/* chunk index before the content */

enum rec_type {
	REC_SEGMENT = 1,
	REC_DATA,
	REC_COMMIT,
	REC_OUTCOME,
	REC_DONE,
};

/* Initial disposition of a recipient (only DELIVER is used yet). */
enum rec_disp {
	REC_DISP_DELIVER = 0,
	REC_DISP_HOLD,
	REC_DISP_ARCHIVE,
	REC_DISP_QUARANTINE,
};

enum rec_out_status {
	REC_OUT_SENT = 0,
	REC_OUT_DEFERRED,
	REC_OUT_BOUNCED,
};

#define REC_CF_BOUNCE	0x01	/* a delivery status notification we made */
#define REC_CF_MAILDROP	0x02	/* picked up from the maildrop directory */
/*
 * A copy the queue made of a live message (into the cold log, or forward
 * within it): it carries every recipient's state and supersedes the
 * message's earlier records in the same log.
 */
#define REC_CF_COPY	0x04

struct rec_hdr {
	uint8_t		type;
	uint8_t		flags;
	uint32_t	len;
	uint64_t	seq;
	uint64_t	qid;
	uint32_t	pcrc;
};

struct rec_segment {
	uint32_t	version;
	uint64_t	segno;
	uint64_t	size;
	uint64_t	qid_floor;
	uint64_t	prev_segno;
	uint64_t	prev_len;
};

#define REC_SEGMENT_PAYLOAD	44

struct rec_outcome {
	uint32_t	 rcpt;
	uint8_t		 status;
	uint32_t	 attempts;
	uint64_t	 next_try;
	char		*dsn;
	char		*reason;
	char		*remote;
	char		*reply;
};

struct rec_rcpt {
	char		*addr;
	uint8_t		 disp;
	struct rec_outcome state;	/* REC_CF_COPY only */
};

struct rec_commit {
	uint32_t	 ndata;
	uint64_t	 size;
	uint64_t	 arrival;
	uint32_t	 local_uid;
	uint32_t	 flags;
	char		*sender;
	char		*client_addr;
	char		*client_name;
	char		*helo;
	uint32_t	 nrcpt;
	struct rec_rcpt	*rcpt;
};

/* A growable byte buffer for encoding. */
struct rec_buf {
	unsigned char	*p;
	size_t		 len;
	size_t		 cap;
};

void	rec_buf_free(struct rec_buf *);
void	rec_buf_add(struct rec_buf *, const void *, size_t);
void	rec_buf_u8(struct rec_buf *, uint8_t);
void	rec_buf_u32(struct rec_buf *, uint32_t);
void	rec_buf_u64(struct rec_buf *, uint64_t);
void	rec_buf_str(struct rec_buf *, const char *);

/* Little-endian access to unaligned bytes. */
uint32_t	rec_get32(const unsigned char *);
uint64_t	rec_get64(const unsigned char *);
void		rec_put32(unsigned char *, uint32_t);
void		rec_put64(unsigned char *, uint64_t);

/* Fill out[REC_HDR_SIZE] for h (both CRCs: pcrc must be set by caller). */
void	rec_hdr_encode(const struct rec_hdr *, unsigned char *out);
/*
 * Check magic, header CRC, type and length of the header at p (which must
 * hold REC_HDR_SIZE bytes).  Returns 0 and fills h, or -1.
 */
int	rec_hdr_decode(const unsigned char *p, struct rec_hdr *h);
/* A whole record (header and payload) appended to b. */
void	rec_encode(struct rec_buf *, uint8_t type, uint64_t seq, uint64_t qid,
	    const void *payload, size_t len);

/* Payload encoders (append to b) and decoders (0, or -1 when malformed). */
void	rec_segment_encode(struct rec_buf *, const struct rec_segment *);
int	rec_segment_decode(const unsigned char *, size_t,
	    struct rec_segment *);
int	rec_commit_encode(struct rec_buf *, const struct rec_commit *);
int	rec_commit_decode(const unsigned char *, size_t, struct rec_commit *);
void	rec_commit_free(struct rec_commit *);
void	rec_outcome_encode(struct rec_buf *, const struct rec_outcome *);
int	rec_outcome_decode(const unsigned char *, size_t,
	    struct rec_outcome *);
void	rec_outcome_free(struct rec_outcome *);
void	rec_data_encode(struct rec_buf *, uint32_t index, const void *,
	    size_t);
/* Chunk index and content of a DATA payload. */
int	rec_data_decode(const unsigned char *, size_t, uint32_t *index,
	    const unsigned char **content, size_t *clen);

const char	*rec_type_name(uint8_t);

/*
 * The scanner.  It walks one segment's bytes and reports, in order:
 * REC_ITEM_RECORD for each intact record; REC_ITEM_DAMAGED for a record
 * whose header is intact but whose payload is not (its length is
 * trusted, so the scan goes on right after it); REC_ITEM_SKIPPED for a
 * run of bytes that holds no record start, after which the scan resumed
 * at the next valid header with a plausible sequence number.  Whatever
 * follows the last intact record and is not zero is the tail; items at or
 * past valid_end lie in that tail.
 */
enum rec_item_kind {
	REC_ITEM_RECORD = 0,
	REC_ITEM_DAMAGED,
	REC_ITEM_SKIPPED,
};

struct rec_item {
	enum rec_item_kind	 kind;
	size_t			 off;		/* of the header or the run */
	size_t			 len;		/* bytes, header included */
	struct rec_hdr		 hdr;		/* RECORD and DAMAGED */
	const unsigned char	*payload;	/* RECORD only */
};

struct rec_scan {
	/* input; prev_seq is the last sequence number before buf */
	const unsigned char	*buf;
	size_t			 len;
	uint64_t		 prev_seq;
	/*
	 * output: valid_end is the end of the last intact record,
	 * tail_len the bytes from there to the last non-zero byte,
	 * last_seq the highest sequence number seen (or prev_seq)
	 */
	size_t			 valid_end;
	size_t			 tail_len;
	uint64_t		 last_seq;
	size_t			 nrecords;
	size_t			 ndamaged;
	size_t			 nskipped;	/* bytes in SKIPPED runs */
};

typedef void	(*rec_scan_fn)(void *, const struct rec_item *);

/* Scan s->buf; fn (may be NULL) is called for each item. */
void	rec_scan(struct rec_scan *, rec_scan_fn, void *arg);

#endif
