/*
 * Recipient resolution of the local agent: from the envelope address to
 * the mailboxes it reaches.  Paths and uids come only from
 * mailbox_resolve(), never from the queue.  Aliases are expanded by
 * aliases_walk(), the walk the policy makes at RCPT, to local names
 * only; forwarding to other domains, commands, files and :include:
 * lists are not built yet (the policy refuses such aliases at RCPT;
 * mail from the maildrop or from before newaliases can still get here).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "aliases.h"
#include "local.h"
#include "xmalloc.h"

struct expand {
	const struct config	*cfg;
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
	size_t len;

	len = at != NULL ? (size_t)(at - addr) : strlen(addr);
	if (len == 0 || len >= outlen)
		return -1;
	memcpy(out, addr, len);
	out[len] = '\0';
	if (at == NULL)
		return 1;
	return config_is_local_domain(cfg, at + 1) ? 1 : 0;
}

/* Each name the walk reaches: its mailbox, once however often reached. */
static int
add_mailbox(void *arg, const char *name, const char *alias)
{
	struct expand *x = arg;
	struct rcpt_plan *p = x->plan;
	struct mailbox mb;
	size_t i;

	if (mailbox_resolve(x->cfg, name, &mb) == -1)
		return -1;
	for (i = 0; i < p->nmb; i++)
		if (strcmp(p->mb[i].maildir, mb.maildir) == 0)
			return 0;	/* reached twice, delivered once */
	/* At most ALIAS_NAMES_MAX: aliases_walk() gives no more. */
	p->mb = xreallocarray(p->mb, p->nmb + 1, sizeof(*p->mb));
	p->mb[p->nmb++] = mb;
	return 0;
}

int
local_resolve(const struct config *cfg, const char *dbpath,
    const char *rcpt, struct rcpt_plan *plan)
{
	struct expand x = { cfg, plan };
	char local[ADDR_LOCAL_MAX + 3], why[sizeof(plan->text)];
	enum alias_walk_end end;
	struct alias_walk w;
	const char *dsn;
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
	end = aliases_walk(cfg, dbpath, local, add_mailbox, &x, &w);
	plan->via_alias = w.via_alias;
	if (end == ALIAS_WALK_OK)
		return 0;
	local_plan_free(plan);
	if (end == ALIAS_WALK_STOPPED && !w.via_alias)
		return fail(plan, DSTATUS_BOUNCE, "5.1.1", "user unknown");
	dsn = aliases_walk_reason(end, &w, why, sizeof(why));
	return fail(plan, dsn[0] == '4' ? DSTATUS_DEFER : DSTATUS_BOUNCE, dsn,
	    "%s", why);
}

void
local_plan_free(struct rcpt_plan *plan)
{
	free(plan->mb);
	plan->mb = NULL;
	plan->nmb = 0;
}
