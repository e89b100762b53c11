/*
 * Which local parts name a mailbox.  With mailbox_base set (virtual
 * mailboxes, the default instance), a local part is lower-cased and must
 * then be made of [a-z0-9._+-], not start with a dot, and be at most 64
 * octets; it then names <mailbox_base>/<localpart>/Maildir/.  Without
 * mailbox_base the local part must name a system user (getpwnam), whose
 * ~/Maildir/ receives the mail.  Used by the policy process at RCPT and,
 * independently, by the local delivery agent, which never takes a path
 * from the queue.
 */
#ifndef BULWARK_MAILBOX_H
#define BULWARK_MAILBOX_H

#include <stddef.h>
#include <sys/types.h>

struct config;

struct mailbox {
	char	name[65];	/* lower-cased local part or user name */
	char	maildir[4096];	/* ".../Maildir" without trailing slash */
	uid_t	uid;
	gid_t	gid;
};

/*
 * Resolve local (a local part, without the domain) to a mailbox.  Returns
 * 0 on success, -1 when no such mailbox exists (550 5.1.1).
 */
int	mailbox_resolve(const struct config *, const char *local,
	    struct mailbox *);
/* The virtual-mailbox grammar check alone (writes the lower-cased form). */
int	mailbox_name_valid(const char *local, char *out, size_t outlen);

#endif
