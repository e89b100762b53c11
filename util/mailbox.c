/*
 * Local part to mailbox.  Both the policy process (at RCPT) and the local
 * delivery agent (at delivery) call mailbox_resolve(), so they agree on
 * which names exist, and the agent never takes a path from the queue.
 *
 * The name grammar is also applied to system user names before
 * getpwnam(): it keeps quoted local parts, '/' and other odd bytes away
 * from the password database and out of any path.  uid 0 is refused as
 * a system mailbox: delivering as root is a needless risk, and mail for
 * root is meant to reach a person through an alias ("root: alice"), as
 * is usual with Postfix.
 */
#include <sys/types.h>

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mailbox.h"

#define MAILBOX_NAME_MAX	64

int
mailbox_name_valid(const char *local, char *out, size_t outlen)
{
	size_t i;
	char ch;

	if (local == NULL || local[0] == '\0' || local[0] == '.')
		return -1;
	for (i = 0; local[i] != '\0'; i++) {
		if (i >= MAILBOX_NAME_MAX || i + 1 >= outlen)
			return -1;
		ch = local[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '.' || ch == '_' || ch == '+' || ch == '-'))
			return -1;
		if (ch == '.' && local[i + 1] == '.')
			return -1;
		out[i] = ch;
	}
	out[i] = '\0';
	return 0;
}

/* A virtual mailbox under mailbox_base, owned by mail_owner. */
static int
resolve_virtual(const struct config *cfg, struct mailbox *mb)
{
	struct passwd *pw;
	int n;

	n = snprintf(mb->maildir, sizeof(mb->maildir), "%s/%s/Maildir",
	    cfg->mailbox_base, mb->name);
	if (n < 0 || (size_t)n >= sizeof(mb->maildir))
		return -1;
	if (geteuid() == 0) {
		if (cfg->mail_owner == NULL ||
		    (pw = getpwnam(cfg->mail_owner)) == NULL)
			return -1;
		mb->uid = pw->pw_uid;
		mb->gid = pw->pw_gid;
	} else {
		mb->uid = geteuid();
		mb->gid = getegid();
	}
	return 0;
}

/* A system user's ~/Maildir. */
static int
resolve_system(struct mailbox *mb)
{
	struct passwd *pw;
	size_t dlen;
	int n;

	if ((pw = getpwnam(mb->name)) == NULL || pw->pw_uid == 0 ||
	    pw->pw_dir == NULL || pw->pw_dir[0] != '/')
		return -1;
	dlen = strlen(pw->pw_dir);
	while (dlen > 1 && pw->pw_dir[dlen - 1] == '/')
		dlen--;
	n = snprintf(mb->maildir, sizeof(mb->maildir), "%.*s/Maildir",
	    (int)dlen, pw->pw_dir);
	if (n < 0 || (size_t)n >= sizeof(mb->maildir))
		return -1;
	mb->uid = pw->pw_uid;
	mb->gid = pw->pw_gid;
	return 0;
}

int
mailbox_resolve(const struct config *cfg, const char *local,
    struct mailbox *mb)
{
	memset(mb, 0, sizeof(*mb));
	if (mailbox_name_valid(local, mb->name, sizeof(mb->name)) == -1)
		return -1;
	if (cfg->mailbox_base != NULL && cfg->mailbox_base[0] != '\0')
		return resolve_virtual(cfg, mb);
	return resolve_system(mb);
}
