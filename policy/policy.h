/*
 * The policy process: what its files (policy.c, the process; decide.c,
 * the decisions) share.  The decisions depend on the configuration, the
 * loaded tables and the query, and read the password database and the
 * alias database as they go; they need no process around them, so they
 * can be tested without one.
 */
#ifndef BULWARK_POLICY_H
#define BULWARK_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "cidr.h"
#include "config.h"

#define POLICY_TEXT_MAX	512

/* What a configuration's table settings load into. */
struct policy_tables {
	struct cidr_table	*access;	/* client access, or NULL */
	struct cidr_table	*mynetworks;	/* or NULL when empty */
	char			 alias_db[4096]; /* "" when no alias_maps */
};

struct policy_query {
	const char	*client_addr;	/* numeric, "" for local */
	uint32_t	 local_uid;	/* IPC_UID_NONE for the network */
	const char	*helo;		/* MAIL only */
	const char	*sender;	/* "" for the null sender */
	const char	*rcpt;		/* RCPT only */
};

struct policy_verdict {
	uint32_t	code;			/* 250 = go on */
	char		text[POLICY_TEXT_MAX];	/* "x.y.z words" */
	char		sender[ADDR_PATH_MAX + 1]; /* rewritten, or "" */
};

/*
 * Load the tables a configuration names.  Returns 0, or -1 with the
 * reason ("path:line: reason" for a table line) in err; nothing is left
 * allocated on failure.
 */
int	policy_tables_load(const struct config *, struct policy_tables *,
	    char *err, size_t errlen);
void	policy_tables_free(struct policy_tables *);
/* Is value a valid smtpd_client_access action?  0, or -1 with why. */
int	policy_access_value_ok(const char *value, char *why, size_t whylen);

void	policy_mail(const struct config *, const struct policy_tables *,
	    const struct policy_query *, struct policy_verdict *);
void	policy_rcpt(const struct config *, const struct policy_tables *,
	    const struct policy_query *, struct policy_verdict *);

#endif
