/*
 * The sendmail command line (also run as mailq and newaliases): what its
 * files share.  main.c parses the options; message.c reads the message;
 * submit.c speaks SMTP to the daemon's submission socket (also for
 * -bv); maildrop.c keeps the message while the daemon is down; relay.c
 * serves -bs, -bp and -q; newaliases.c compiles the aliases.
 */
#ifndef BULWARK_SENDMAIL_H
#define BULWARK_SENDMAIL_H

#include <stddef.h>
#include <sys/types.h>

struct config;

/* submit.c: the message could not be handed over, keep it in maildrop. */
#define SM_FALLBACK	(-1)

struct sm_opts {
	const char	*prog;		/* "sendmail", "mailq", "newaliases" */
	int		 extract;	/* -t */
	int		 ignore_dots;	/* -i, -oi */
	int		 verbose;	/* -v */
	const char	*sender;	/* -f, -r: as given, or NULL */
	const char	*fullname;	/* -F, or NULL */
};

/* A message read from standard input, in canonical CRLF form. */
struct sm_msg {
	char	*buf;
	size_t	 len;
	size_t	 hdr_len;	/* header fields at the start of buf */
	int	 hdr_end;	/* enum rcptx_end: what follows them */
	int	 present;	/* HDR_HAS_* flags found in the fields */
	/* Header text sendmail adds at the end of the header section. */
	char	*added;
	size_t	 added_len;
};

/* The envelope sendmail asks for; the daemon decides what counts. */
struct sm_envelope {
	char	 sender[320];	/* -f sender, "" for "<>" */
	int	 has_sender;	/* -f was given */
	char	 login[320];	/* login@myhostname of the real uid */
	char	 from[320];	/* address for a From: sendmail adds */
	char	**rcpt;		/* canonical "local@domain" */
	size_t	 nrcpt;
	size_t	 refused;	/* taken out of rcpt after a 5xx */
};

/* message.c */
enum sm_read_status {
	SM_READ_OK = 0,
	SM_READ_TOOBIG,		/* over the size limit */
	SM_READ_ERROR,		/* read error, errno set */
};
enum sm_read_status	sm_msg_read(int fd, int ignore_dots, size_t limit,
			    struct sm_msg *);
/* -t: remove the Bcc: fields from the header section. */
void	sm_msg_strip_bcc(struct sm_msg *);
/* Append header text (each line ending in CRLF) to the added headers. */
void	sm_msg_add_header(struct sm_msg *, const char *text, size_t len);
void	sm_msg_clear_added(struct sm_msg *);
/* Call out(arg, bytes, len) for the whole message, added headers in. */
int	sm_msg_walk(const struct sm_msg *,
	    int (*out)(void *, const char *, size_t), void *arg);
void	sm_msg_free(struct sm_msg *);
/* "From: "Full Name" <addr>" with CRLF, quoting the name; malloc'd. */
char	*sm_from_header(const char *fullname, const char *addr);

/*
 * submit.c: 0 or a sysexits code, or SM_FALLBACK (a lost connection or
 * a 4xx: keep the message in the maildrop).  Recipients refused with a
 * 5xx are printed, freed and taken out of env (counted in refused); the
 * message goes to the rest.  EX_NOUSER when none is left.
 */
int	sm_submit(const struct config *, const struct sm_opts *,
	    struct sm_envelope *, const struct sm_msg *, int fd);
/*
 * -bv: ask the daemon about each recipient of env (MAIL, RCPT, RSET)
 * and print the verdicts; 0, EX_NOUSER, EX_TEMPFAIL or another code.
 */
int	sm_verify(const struct config *, const struct sm_opts *,
	    const struct sm_envelope *, int fd);
/* Connect to a Unix socket; -1 with errno set. */
int	sm_unix_connect(const char *path);

/* maildrop.c */
int	sm_maildrop(const struct config *, const struct sm_opts *,
	    const struct sm_envelope *, struct sm_msg *);
/* Set-gid handling: drop the effective gid, keep the saved one. */
void	sm_priv_init(void);
/* Give the set-gid group up for good. */
void	sm_priv_drop(void);

/* relay.c */
int	sm_relay_smtp(const struct config *, const struct sm_opts *);
int	sm_showq(const struct config *, const struct sm_opts *);
/* -q: "flush" to the control socket; exit codes as bulwarkctl's. */
int	sm_flush(const struct config *, const struct sm_opts *);

/* newaliases.c */
int	sm_newaliases(const struct config *, const struct sm_opts *);

#endif
