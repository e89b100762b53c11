/*
 * The SMTP command parser of smtpd: one command line in, one reply (and
 * what the session must do next) out.  Verbs dispatch from a table; each
 * has a check function (guard clauses, each with its enhanced status
 * code) and a function that does the work.  Pure code: the session does
 * the I/O, the policy queries and the logging.
 */
#ifndef BULWARK_SMTPD_COMMAND_H
#define BULWARK_SMTPD_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#define SMTP_LINE_MAX	512	/* command line with CRLF, RFC 5321 */
#define SMTP_HELO_MAX	255
#define SMTP_ADDR_MAX	512	/* a formatted address, with room */
#define SMTP_REPLY_MAX	1024
#define SMTP_ERROR_MAX	20	/* client errors in a row: hang up */
#define SMTP_TARPIT_STEPS 5	/* the error tarpit grows this far */

enum smtp_helo {
	SMTP_HELO_NONE = 0,
	SMTP_HELO_HELO,		/* plain SMTP: no pipelining */
	SMTP_HELO_EHLO,
};

enum smtp_verb {
	VERB_HELO = 0,
	VERB_EHLO,
	VERB_MAIL,
	VERB_RCPT,
	VERB_DATA,
	VERB_RSET,
	VERB_NOOP,
	VERB_QUIT,
	VERB_VRFY,
	VERB_HELP,
	VERB_EXPN,
	VERB_TURN,
	VERB_UNKNOWN,
	VERB_COUNT
};

/* What the session does after cmd_execute(). */
enum cmd_action {
	CMD_REPLY = 0,		/* send the reply, read the next command */
	CMD_POLICY_MAIL,	/* ask about st->pending, then cmd_verdict() */
	CMD_POLICY_RCPT,	/* ask about st->pending, then cmd_verdict() */
	CMD_DATA,		/* start the transaction with the queue */
	CMD_QUIT,		/* send the reply and close */
	CMD_CLOSE,		/* send the reply and close: client gave up */
};

struct smtp_params {
	const char	*hostname;
	uint64_t	 size_limit;	/* advertised in SIZE */
	size_t		 rcpt_limit;
	/* Is domain one of ours?  NULL: none is. */
	int		(*local_domain)(const void *arg, const char *domain);
	const void	*local_arg;
};

struct smtp_state {
	struct smtp_params	 p;
	int			 helo_mode;	/* enum smtp_helo */
	char			 helo[SMTP_HELO_MAX + 1];

	/* the mail transaction */
	int			 has_mail;
	char			 sender[SMTP_ADDR_MAX];
	char			**rcpt;		/* accepted, each once */
	size_t			 nrcpt;
	size_t			 rcpt_cap;
	int			 rcpt_tried;	/* a RCPT came after MAIL */

	/* the address waiting for a policy verdict */
	int			 pending_verb;	/* VERB_MAIL, VERB_RCPT, -1 */
	char			 pending[SMTP_ADDR_MAX];

	/* for the disconnect log line */
	unsigned		 total[VERB_COUNT];
	unsigned		 ok[VERB_COUNT];
	unsigned		 errors;	/* since the last success */
};

struct cmd_reply {
	int	verb;		/* enum smtp_verb */
	int	action;		/* enum cmd_action */
	int	code;		/* of the reply, 0 when there is none yet */
	char	text[SMTP_REPLY_MAX];	/* CRLF-ended reply lines */
	size_t	len;
};

void	cmd_state_init(struct smtp_state *, const struct smtp_params *);
void	cmd_state_free(struct smtp_state *);
/* Forget the mail transaction (RSET, HELO, after DATA). */
void	cmd_txn_reset(struct smtp_state *);

const char	*cmd_verb_name(int verb);
/* RFC 2920: the verb must be the last of a pipelined group. */
int		 cmd_ends_group(int verb);

/*
 * Run one command line, without its line ending: at most
 * SMTP_LINE_MAX - 2 octets, since the session refuses longer lines.
 */
void	cmd_execute(struct smtp_state *, const char *line, size_t len,
	    struct cmd_reply *);
/*
 * Is this the start of a command line (len octets so far, the whole
 * line or less) plainly not SMTP: a line that starts with neither a
 * letter nor a line ending (a TLS hello, binary), or an HTTP or proxy
 * request?  0 while it may still be SMTP.
 */
int	cmd_foreign(const char *p, size_t len);
/* The reply to a line over SMTP_LINE_MAX (already discarded). */
void	cmd_line_too_long(struct smtp_state *, struct cmd_reply *);
/*
 * The policy answered the pending MAIL or RCPT: code 250 goes on, text
 * is "x.y.z words", sender a rewritten envelope sender or "".
 */
void	cmd_verdict(struct smtp_state *, unsigned code, const char *text,
	    const char *sender, struct cmd_reply *);
/* No policy answer: 451 4.3.0 for the pending MAIL or RCPT. */
void	cmd_policy_unavailable(struct smtp_state *, struct cmd_reply *);
/*
 * Count the final reply to DATA, which the session gives (the queue's
 * answer, or a refusal), as cmd_execute() counts its own: for the
 * disconnect line and the limit of errors in a row.
 */
void	cmd_data_reply(struct smtp_state *, int code);

/* "ehlo=1 mail=1 rcpt=0/1 ... commands=3/4" for the disconnect line. */
void	cmd_counts(const struct smtp_state *, char *out, size_t outlen);

/* Set reply text from a format; the code is read from the text. */
void	cmd_reply_set(struct cmd_reply *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
