/*
 * The local delivery agent's parts: recipient resolution (aliases, then
 * mailboxes) in local_alias.c, and the Maildir writer that runs in a
 * child under the mailbox owner's uid in local_maildir.c.
 */
#ifndef BULWARK_LOCAL_H
#define BULWARK_LOCAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "ipc.h"
#include "mailbox.h"
#include "maildir.h"

/* Where one recipient goes, or why it goes nowhere. */
struct rcpt_plan {
	struct mailbox		*mb;
	size_t			 nmb;
	int			 via_alias;
	/* set when resolution failed (nmb == 0) */
	enum deliver_status	 status;
	char			 dsn[8];
	char			 text[256];
};

/*
 * Resolve an envelope recipient to its mailboxes: its domain must be a
 * local one, its local part is expanded by aliases_walk() through the
 * alias database dbpath (NULL when there is none), and each name is
 * resolved with mailbox_resolve().  Returns 0 (plan->nmb >= 1) or -1
 * with the status, dsn and text to report.
 */
int	local_resolve(const struct config *, const char *dbpath,
	    const char *rcpt, struct rcpt_plan *);
void	local_plan_free(struct rcpt_plan *);

/* One Maildir delivery, as the child sees it. */
struct maildir_job {
	const char	*maildir;	/* ".../Maildir" */
	const char	*vdir;		/* parent to create, or NULL */
	const char	*host;		/* for the unique name */
	const char	*sender;
	const char	*rcpt;
	int		 fd;		/* content, canonical CRLF */
	uint64_t	 len;
	uint64_t	 seq;		/* the Q<n> of the unique name */
	time_t		 now;		/* to tell young directories */
};

enum maildir_step {
	MD_STEP_NONE = 0,
	MD_STEP_PRIV,		/* dropping to the mailbox owner */
	MD_STEP_MKDIR,
	MD_STEP_NAME,
	MD_STEP_CREATE,
	MD_STEP_READ,
	MD_STEP_WRITE,
	MD_STEP_FSYNC,
	MD_STEP_LINK,
	MD_STEP_SYNCDIR,
};

/* What the child tells its parent through a pipe, in one write. */
struct maildir_result {
	int	err;		/* errno of the failed step, 0 when done */
	int	step;		/* enum maildir_step */
	char	name[MAILDIR_NAME_MAX];
};

/*
 * Write the message into new/ of the Maildir the durable way: tmp file,
 * fsync, link into new/, fsync new/.  Runs as the mailbox owner.
 * Returns 0, or -1 with res->err and res->step set.
 */
int		 maildir_deliver(const struct maildir_job *,
		    struct maildir_result *);
const char	*maildir_step_text(int step);

#endif
