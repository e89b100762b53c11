/*
 * Recipient resolution of the local agent: from the envelope address to
 * the mailboxes it reaches.  Paths and uids come only from
 * mailbox_resolve(), never from the queue.  Aliases expand to local
 * names only; forwarding to other domains, commands, files and :include:
 * lists are not built yet (the policy refuses such aliases at RCPT; mail
 * from the maildrop or from before newaliases can still get here).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "aliases.h"
#include "local.h"
#include "xmalloc.h"

struct expand {
	const struct config	*cfg;
	const char		*db;
	struct rcpt_plan	*plan;
};

static int
fail(struct rcpt_plan *plan, enum deliver_status status, const char *dsn,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail(struct rcpt_plan *plan, enum deliver_status status, const char *dsn,
    const char *fmt, ...)
{
	va_list ap;

	plan->status = status;
	strlcpy(plan->dsn, dsn, sizeof(plan->dsn));
	va_start(ap, fmt);
	vsnprintf(plan->text, sizeof(plan->text), fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Split "local@domain" (at the last '@') into its local part; a domain
 * must be one of ours.  Returns 1 for a local name, 0 for an address in
 * another domain, -1 for one too long.
 */
static int
local_part(const struct config *cfg, const char *addr, char *out,
    size_t outlen)
{
	const char *at = strrchr(addr, '@');
	char domain[ADDR_DOMAIN_MAX + 1];
	size_t i, len;

	len = at != NULL ? (size_t)(at - addr) : strlen(addr);
	if (len == 0 || len >= outlen)
		return -1;
	memcpy(out, addr, len);
	out[len] = '\0';
	if (at == NULL)
		return 1;
	if (strlcpy(domain, at + 1, sizeof(domain)) >= sizeof(domain))
		return -1;
	for (i = 0; domain[i] != '\0'; i++)
		if (domain[i] >= 'A' && domain[i] <= 'Z')
			domain[i] = (char)(domain[i] - 'A' + 'a');
	return config_is_local_domain(cfg, domain) ? 1 : 0;
}

static int
add_mailbox(struct expand *x, const char *name, const char *alias)
{
	struct rcpt_plan *p = x->plan;
	struct mailbox mb;
	size_t i;

	if (mailbox_resolve(x->cfg, name, &mb) == -1) {
		if (alias != NULL)
			return fail(p, DSTATUS_BOUNCE, "5.1.1",
			    "alias target %s is an unknown user", alias);
		return fail(p, DSTATUS_BOUNCE, "5.1.1", "user unknown");
	}
	for (i = 0; i < p->nmb; i++)
		if (strcmp(p->mb[i].maildir, mb.maildir) == 0)
			return 0;	/* reached twice, delivered once */
	if (p->nmb >= ALIAS_MAILBOXES_MAX)
		return fail(p, DSTATUS_BOUNCE, "5.3.0",
		    "alias expands to more than %d mailboxes",
		    ALIAS_MAILBOXES_MAX);
	p->mb = xreallocarray(p->mb, p->nmb + 1, sizeof(*p->mb));
	p->mb[p->nmb++] = mb;
	return 0;
}

static int	expand(struct expand *, const char *, int);

/* Expand every target of a comma-separated alias value. */
static int
expand_value(struct expand *x, const char *name, char *value, int depth)
{
	char local[ADDR_LOCAL_MAX + 3];
	char *tok, *next, *end;
	enum alias_target kind;
	int rv;

	for (tok = value; tok != NULL; tok = next) {
		if ((next = strchr(tok, ',')) != NULL)
			*next++ = '\0';
		tok += strspn(tok, " \t");
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*tok == '\0')
			continue;
		kind = aliases_target_kind(x->cfg, tok);
		if (kind != ALIAS_TARGET_LOCAL)
			return fail(x->plan, DSTATUS_BOUNCE, "5.3.0",
			    "alias leads to %s; %s",
			    aliases_target_what(kind),
			    aliases_target_why(kind));
		rv = local_part(x->cfg, tok, local, sizeof(local));
		if (rv == 0)
			return fail(x->plan, DSTATUS_BOUNCE, "5.3.0",
			    "alias expands to a remote address; "
			    "forwarding is not built yet");
		if (rv == -1)
			return fail(x->plan, DSTATUS_BOUNCE, "5.1.1",
			    "alias %s has an invalid target", name);
		/* "root: root, other": the name itself is a mailbox */
		if (strcasecmp(local, name) == 0)
			rv = add_mailbox(x, local, name);
		else
			rv = expand(x, local, depth + 1);
		if (rv == -1)
			return -1;
	}
	return 0;
}

static int
expand(struct expand *x, const char *name, int depth)
{
	struct stat st;
	char *value = NULL;
	int rv;

	if (x->db == NULL)
		return add_mailbox(x, name, NULL);
	if (depth > ALIAS_DEPTH_MAX)
		return fail(x->plan, DSTATUS_BOUNCE, "5.4.6",
		    "alias expansion deeper than %d levels (a loop?)",
		    ALIAS_DEPTH_MAX);
	rv = aliases_lookup(x->db, name, &value);
	if (rv == -1 && stat(x->db, &st) == -1 && errno == ENOENT)
		return fail(x->plan, DSTATUS_DEFER, "4.3.0",
		    "alias database %s is not built yet (newaliases)", x->db);
	if (rv == -1)
		return fail(x->plan, DSTATUS_DEFER, "4.3.0",
		    "alias database unavailable");
	if (rv == 0)
		return add_mailbox(x, name, depth > 0 ? name : NULL);
	x->plan->via_alias = 1;
	rv = expand_value(x, name, value, depth);
	free(value);
	return rv;
}

int
local_resolve(const struct config *cfg, const char *dbpath,
    const char *rcpt, struct rcpt_plan *plan)
{
	struct expand x = { cfg, dbpath, plan };
	char local[ADDR_LOCAL_MAX + 3];
	int rv;

	memset(plan, 0, sizeof(*plan));
	if (addr_has_control(rcpt))
		return fail(plan, DSTATUS_BOUNCE, "5.1.3",
		    "bad recipient address syntax");
	rv = local_part(cfg, rcpt, local, sizeof(local));
	if (rv == -1)
		return fail(plan, DSTATUS_BOUNCE, "5.1.1", "user unknown");
	/* The queue routed it here; a config change may have moved it. */
	if (rv == 0)
		return fail(plan, DSTATUS_DEFER, "4.3.5",
		    "recipient domain is not a local domain");
	if (expand(&x, local, 0) == -1) {
		local_plan_free(plan);
		return -1;
	}
	if (plan->nmb == 0)
		return fail(plan, DSTATUS_BOUNCE, "5.1.1",
		    "alias has no targets");
	return 0;
}

void
local_plan_free(struct rcpt_plan *plan)
{
	free(plan->mb);
	plan->mb = NULL;
	plan->nmb = 0;
}
