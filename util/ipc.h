/*
 * Framed messages between Bulwark's processes over Unix socket pairs.
 *
 * A frame is a fixed header followed by the payload.  Payload fields are
 * written and read in order with typed helpers; a reader that runs short
 * or finds bytes left over treats the frame as garbled, and a garbled
 * internal message ends the receiving process (fatal), naming the peer
 * and the message type.
 */
#ifndef BULWARK_IPC_H
#define BULWARK_IPC_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#define IPC_MAX_PAYLOAD	(256 * 1024)
#define IPC_NO_FD	(-1)

/* Process roles; also the index of a child in the master's table. */
enum proc_role {
	ROLE_MASTER = 0,
	ROLE_SMTPD,
	ROLE_QUEUE,
	ROLE_POLICY,
	ROLE_LOCAL,		/* local delivery, runs as root */
	ROLE_REMOTE,		/* remote (SMTP client) delivery */
	ROLE_COUNT
};

/*
 * Message types.  The comment gives the direction and the payload in order:
 * u32/u64 are host-order integers, str is a length-prefixed string without
 * NUL inside, data is a length-prefixed byte string.  The header's id field
 * carries the correlation id named in brackets.
 */
enum ipc_type {
	/* master -> any child */
	IMSG_CONFIG = 1,	/* [reload] str path, str text: (re)load this
				   config; the child answers each one its
				   loop reads (not the first, id 0, read at
				   start) with IMSG_CONFIG_RESULT */
	IMSG_PEER,		/* fd; u32 role: channel to that peer */
	IMSG_LISTEN,		/* fd; u32 kind (LISTEN_*), str label */
	IMSG_STOP,		/* -: finish in-flight work and exit 0 */
	/* any child -> master */
	IMSG_READY,		/* -: child is initialised */
	IMSG_CONFIG_RESULT,	/* [reload] u32 ok, str reason: ok 1, the
				   config is applied (reason ""); ok 0, the
				   old one stays, reason says why */

	/* master <-> queue */
	IMSG_QUEUE_STATUS_REQ = 20,	/* [req] - */
	IMSG_QUEUE_STATUS,	/* [req] str figures: lines of text */
	IMSG_QUEUE_FLUSH,	/* [req] -: retry every deferred message now */

	/* smtpd -> policy, reply IMSG_POLICY_VERDICT with the same [query] */
	IMSG_POLICY_MAIL = 40,	/* [query] str client_addr, u32 local_uid,
				   str helo, str sender */
	IMSG_POLICY_RCPT,	/* [query] str client_addr, u32 local_uid,
				   str sender, str rcpt */
	IMSG_POLICY_VERDICT,	/* [query] u32 code, str text, str sender:
				   code is the SMTP reply code (250 = go on),
				   text is "x.y.z words" after the code,
				   sender is a rewritten envelope sender
				   or "" to keep the one given */

	/* smtpd -> queue: one transaction [txn] */
	IMSG_MSG_BEGIN = 60,	/* [txn] -: reply IMSG_MSG_QID; smtpd sends
				   354 only after it */
	IMSG_MSG_QID,		/* [txn] u32 code, str text, str qid: code
				   354 = go on, else a refusal such as
				   452 "4.3.1 Insufficient system storage"
				   and qid "" */
	IMSG_MSG_CHUNK,		/* [txn] data: content, canonical CRLF,
				   dot-stuffing undone, at most 64 KiB */
	IMSG_MSG_COMMIT,	/* [txn] str sender, str client_addr,
				   str client_name, str helo, u32 local_uid,
				   u64 size, u32 nrcpt, nrcpt x str rcpt */
	IMSG_MSG_RESULT,	/* [txn] u32 code, str text, str qid: code 250
				   only once the commit is on stable storage */
	IMSG_MSG_ABORT,		/* [txn] -: forget the transaction */
	IMSG_COMMIT_LATENCY,	/* [0] u32 n, n x u64 ns: commits answered
				   250, each from the end of DATA to the
				   reply, for bulwarkctl status */

	/* queue -> deliver (local or remote): one delivery [job] */
	IMSG_DELIVER_BEGIN = 80, /* [job] str qid, str sender,
				   u64 arrival (unix seconds), u64 size,
				   u32 nrcpt, nrcpt x (u32 index, str rcpt) */
	IMSG_DELIVER_CHUNK,	/* [job] data: content, canonical CRLF */
	IMSG_DELIVER_END,	/* [job] -: content complete */
	/* deliver -> queue */
	IMSG_DELIVER_RCPT,	/* [job] u32 index, u32 status (DSTATUS_*),
				   str dsn, str relay, str text, str reply
				   (the server's reply the outcome rests
				   on, "" when none) */
	IMSG_DELIVER_DONE,	/* [job] -: every recipient reported */
};

enum listen_kind {
	LISTEN_SMTP = 0,	/* to smtpd: inet SMTP */
	LISTEN_SUBMIT,		/* to smtpd: local Unix submission socket */
	LISTEN_SHOWQ,		/* to queue: mailq listing socket */
};

enum deliver_status {
	DSTATUS_SENT = 0,
	DSTATUS_DEFER,
	DSTATUS_BOUNCE,
};

#define IPC_UID_NONE	UINT32_MAX	/* local_uid for network clients */

struct ipc_hdr {
	uint32_t	len;		/* payload bytes */
	uint16_t	type;
	uint16_t	has_fd;
	uint64_t	id;
};

struct ipc_reader {
	const struct ipc_hdr	*hdr;
	const unsigned char	*p;
	size_t			 left;
	const char		*peer;	/* for the fatal message */
	int			 fd;	/* passed descriptor or IPC_NO_FD */
};

struct ipc_chan;

/* Called once per complete frame; the reader is valid during the call. */
typedef void (*ipc_handler)(struct ipc_chan *, struct ipc_reader *, void *);
/* Called when the peer closed the channel or it failed. */
typedef void (*ipc_closed)(struct ipc_chan *, void *);

/* Wrap fd (non-blocking is set here) in a channel on base. */
struct ipc_chan	*ipc_chan_new(struct event_base *, int fd, const char *peer,
		    ipc_handler, ipc_closed, void *arg);
/*
 * Safe anywhere, also inside the channel's own handler or closed
 * callback: the channel then goes silent at once and is freed when the
 * callback returns.
 */
void		 ipc_chan_free(struct ipc_chan *);
/* Bytes queued for writing and not yet sent: for back-pressure. */
size_t		 ipc_chan_pending(const struct ipc_chan *);

/* Compose a frame, add fields, send (queued, written by the event loop). */
struct ipc_msg;
struct ipc_msg	*ipc_msg_new(uint16_t type, uint64_t id);
void		 ipc_add_u32(struct ipc_msg *, uint32_t);
void		 ipc_add_u64(struct ipc_msg *, uint64_t);
void		 ipc_add_str(struct ipc_msg *, const char *);
void		 ipc_add_data(struct ipc_msg *, const void *, size_t);
/* Send and free the message; fd (or IPC_NO_FD) is passed and then closed. */
void		 ipc_send(struct ipc_chan *, struct ipc_msg *, int fd);
/*
 * Send one byte with the descriptor fd attached (SCM_RIGHTS), as
 * ipc_send() does with a frame's first byte; returns as send() does.
 */
ssize_t		 ipc_send_byte_fd(int sock, const unsigned char *byte, int fd);
/* Shortcut for a message without payload. */
void		 ipc_send_empty(struct ipc_chan *, uint16_t type, uint64_t id);
/* Blocking flush of everything queued (for shutdown paths). */
int		 ipc_flush(struct ipc_chan *);

/* Typed getters: garbled frames are fatal. */
uint32_t	 ipc_get_u32(struct ipc_reader *);
uint64_t	 ipc_get_u64(struct ipc_reader *);
/* Returns a malloc'd NUL-terminated copy; a NUL inside is fatal. */
char		*ipc_get_str(struct ipc_reader *);
/* Points into the frame; valid only during the handler. */
const void	*ipc_get_data(struct ipc_reader *, size_t *len);
/* Take ownership of the passed fd (fatal when there is none). */
int		 ipc_get_fd(struct ipc_reader *);
void		 ipc_get_end(struct ipc_reader *);

/*
 * The decoding under the reader and the getters, which never ends the
 * process (for tests and the fuzz target).  ipc_hdr_ok: is hdr one the
 * reader takes (payload within the limit, descriptor flag 0 or 1)?
 * ipc_frame_len: the frame at the start of buf, avail bytes: its header
 * copied to *hdr and its whole length, 0 while incomplete, or -1 when
 * the header is garbled.  ipc_take_*: one field, 0, or -1 with rd left
 * as it was when the field is short (a str: also when it holds a NUL);
 * the str is malloc'd and the data points into the frame.
 */
int		 ipc_hdr_ok(const struct ipc_hdr *);
ssize_t		 ipc_frame_len(const void *buf, size_t avail,
		    struct ipc_hdr *);
int		 ipc_take_u32(struct ipc_reader *, uint32_t *);
int		 ipc_take_u64(struct ipc_reader *, uint64_t *);
int		 ipc_take_str(struct ipc_reader *, char **);
int		 ipc_take_data(struct ipc_reader *, const void **, size_t *);

/*
 * Read one whole frame from a descriptor without an event loop (a child's
 * first message, before its loop runs): waits as long as it takes.  The
 * payload is malloc'd into *payload for the caller to free, and rd reads
 * from it.  End of file or a garbled header is fatal, naming peer.
 */
void		 ipc_read_blocking(int fd, const char *peer,
		    struct ipc_hdr *hdr, unsigned char **payload,
		    struct ipc_reader *rd);

const char	*ipc_type_name(uint16_t);
const char	*proc_role_name(enum proc_role);

#endif
