/*
 * The decisions of the policy process.
 *
 * MAIL: a network client is looked up in smtpd_client_access (REJECT
 * ends the transaction before it starts); a local submission gets the
 * submitting user's own address as its sender unless the user is root or
 * in trusted_users.
 *
 * RCPT: a local domain's recipient must be postmaster, or expand, with
 * the local agent's own alias walk (util/aliases.c), to mailboxes only:
 * what delivery would bounce (another domain, a command, a file, an
 * :include: list, a loop, an unknown user) is refused now, and what it
 * would defer gets a 4xx.  Any other domain is relayed only for
 * relay_domains, local submissions, mynetworks and clients the access
 * table says OK to, and only when a relayhost is set, since MX delivery
 * is not built: mail with nowhere to go is refused at once rather than
 * queued.
 *
 * Besides the configuration, the tables and the query, the answers read
 * the password database and the alias database, opened once per RCPT.
 */
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aliases.h"
#include "cidr.h"
#include "ipc.h"
#include "mailbox.h"

#include "policy/policy.h"

enum access_action {
	ACCESS_NONE = 0,	/* no line, or DUNNO */
	ACCESS_OK,		/* OK or PERMIT */
	ACCESS_REJECT,
	ACCESS_UNKNOWN,		/* no action word the table may use */
};

static void
verdict(struct policy_verdict *v, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
verdict(struct policy_verdict *v, uint32_t code, const char *fmt, ...)
{
	va_list ap;

	v->code = code;
	va_start(ap, fmt);
	vsnprintf(v->text, sizeof(v->text), fmt, ap);
	va_end(ap);
}

/*
 * What a value of smtpd_client_access says, and in *text what follows
 * its action word (REJECT's text; nothing for the others).
 */
static enum access_action
access_action(const char *value, const char **word, size_t *wlen,
    const char **text)
{
	const char *w = value + strspn(value, " \t");
	size_t n = strcspn(w, " \t");

	*word = w;
	*wlen = n;
	*text = w + n + strspn(w + n, " \t");
	if (n == 6 && strncasecmp(w, "REJECT", 6) == 0)
		return ACCESS_REJECT;
	if ((n == 2 && strncasecmp(w, "OK", 2) == 0) ||
	    (n == 6 && strncasecmp(w, "PERMIT", 6) == 0))
		return ACCESS_OK;
	if (n == 5 && strncasecmp(w, "DUNNO", 5) == 0)
		return ACCESS_NONE;
	return ACCESS_UNKNOWN;
}

int
policy_access_value_ok(const char *value, char *why, size_t whylen)
{
	enum access_action a;
	const char *word, *text;
	size_t n;

	if ((a = access_action(value, &word, &n, &text)) == ACCESS_UNKNOWN) {
		snprintf(why, whylen, "unknown action \"%s\" (REJECT [text], "
		    "OK, PERMIT or DUNNO)", value);
		return -1;
	}
	if (a != ACCESS_REJECT && *text != '\0') {
		snprintf(why, whylen, "%.*s takes no text: \"%s\"", (int)n,
		    word, value);
		return -1;
	}
	return 0;
}

/* The access table's word on a client; *text is REJECT's own text. */
static enum access_action
access_check(const struct policy_tables *t, const char *addr,
    const char **text)
{
	const char *value, *word;
	enum access_action a;
	size_t n;

	*text = "";
	if (t->access == NULL || addr[0] == '\0' ||
	    (value = cidr_lookup(t->access, addr)) == NULL)
		return ACCESS_NONE;
	/* policy_access_value_ok() refused anything else at load. */
	if ((a = access_action(value, &word, &n, text)) == ACCESS_UNKNOWN)
		return ACCESS_NONE;
	return a;
}

/*
 * A local submission's sender: the user's own address, at myorigin,
 * unless trusted.
 */
static void
local_sender(const struct config *cfg, const struct policy_query *q,
    struct policy_verdict *v)
{
	char own[ADDR_PATH_MAX + 1];
	struct passwd *pw;

	if ((pw = getpwuid((uid_t)q->local_uid)) == NULL) {
		verdict(v, 451, "4.3.0 Cannot find the submitting user "
		    "(uid %u)", q->local_uid);
		return;
	}
	if (config_trusted_user(cfg, pw->pw_uid, pw->pw_name))
		return;
	if (config_local_sender(cfg, pw->pw_name, own, sizeof(own)) == -1) {
		verdict(v, 553, "5.1.7 Cannot make a sender address for "
		    "user %s", pw->pw_name);
		return;
	}
	if (strcmp(own, q->sender) != 0)
		strlcpy(v->sender, own, sizeof(v->sender));
}

void
policy_mail(const struct config *cfg, const struct policy_tables *t,
    const struct policy_query *q, struct policy_verdict *v)
{
	const char *text;

	memset(v, 0, sizeof(*v));
	verdict(v, 250, "2.1.0 Ok");
	if (q->local_uid != IPC_UID_NONE) {
		local_sender(cfg, q, v);
		return;
	}
	if (access_check(t, q->client_addr, &text) == ACCESS_REJECT) {
		if (*text != '\0')
			verdict(v, 554, "5.7.1 %s", text);
		else
			verdict(v, 554, "5.7.1 Client refused by "
			    "access table");
	}
}

/* Each name an alias walk reaches must be a mailbox, as delivery needs. */
static int
rcpt_name(void *arg, const char *name, const char *alias)
{
	const struct config *const *cfg = arg;
	struct mailbox mb;

	return mailbox_resolve(*cfg, name, &mb);
}

/*
 * A recipient in one of our domains, local being its local part: walked
 * through the aliases as the local agent will walk it, so that what it
 * would bounce or defer is refused now.
 */
static void
local_rcpt(const struct config *cfg, const struct policy_tables *t,
    const char *rcpt, const char *local, struct policy_verdict *v)
{
	enum alias_walk_end end;
	struct alias_walk w;
	const char *dsn;
	char why[256];

	if (strcasecmp(local, "postmaster") == 0)
		return;
	end = aliases_walk(cfg, t->alias_db[0] != '\0' ? t->alias_db : NULL,
	    local, rcpt_name, &cfg, &w);
	if (end == ALIAS_WALK_OK)
		return;
	if (end == ALIAS_WALK_STOPPED && !w.via_alias) {
		verdict(v, 550, "5.1.1 <%s>: No such mailbox here", rcpt);
		return;
	}
	dsn = aliases_walk_reason(end, &w, why, sizeof(why));
	verdict(v, dsn[0] == '4' ? 451 : 550, "%s <%s>: %s", dsn, rcpt, why);
}

/* May this client relay?  Local submissions, mynetworks, access OK. */
static int
relay_client(const struct policy_tables *t, const struct policy_query *q)
{
	const char *text;

	if (q->local_uid != IPC_UID_NONE)
		return 1;
	if (q->client_addr[0] == '\0')
		return 0;
	if (t->mynetworks != NULL &&
	    cidr_lookup(t->mynetworks, q->client_addr) != NULL)
		return 1;
	return access_check(t, q->client_addr, &text) == ACCESS_OK;
}

void
policy_rcpt(const struct config *cfg, const struct policy_tables *t,
    const struct policy_query *q, struct policy_verdict *v)
{
	char local[ADDR_LOCAL_MAX + 3], domain[ADDR_DOMAIN_MAX + 1];
	const char *at = strrchr(q->rcpt, '@');
	size_t llen;

	memset(v, 0, sizeof(*v));
	verdict(v, 250, "2.1.5 Ok");
	llen = at != NULL ? (size_t)(at - q->rcpt) : strlen(q->rcpt);
	if (llen == 0 || llen >= sizeof(local) || (at != NULL &&
	    strlcpy(domain, at + 1, sizeof(domain)) >= sizeof(domain))) {
		verdict(v, 501, "5.1.3 Bad recipient address syntax");
		return;
	}
	memcpy(local, q->rcpt, llen);
	local[llen] = '\0';

	/* A bare name (smtpd lets only <Postmaster> through) is ours. */
	if (at == NULL) {
		local_rcpt(cfg, t, q->rcpt, local, v);
		return;
	}
	if (config_is_local_domain(cfg, domain)) {
		local_rcpt(cfg, t, q->rcpt, local, v);
		return;
	}

	if (!config_is_relay_domain(cfg, domain) && !relay_client(t, q)) {
		verdict(v, 554, "5.7.1 <%s>: Relaying not permitted "
		    "for this client", q->rcpt);
		return;
	}
	if (cfg->relayhost == NULL || cfg->relayhost[0] == '\0')
		verdict(v, 550, "5.4.4 <%s>: No route to %s: relayhost is not "
		    "set and MX delivery is not built yet", q->rcpt, domain);
}

int
policy_tables_load(const struct config *cfg, struct policy_tables *t,
    char *err, size_t errlen)
{
	const char *spec = cfg->smtpd_client_access;
	char why[1024];

	memset(t, 0, sizeof(*t));
	if (spec != NULL && spec[0] != '\0') {
		if (strncmp(spec, "cidr:", 5) != 0) {
			snprintf(err, errlen, "smtpd_client_access: only "
			    "cidr: tables are supported: %s", spec);
			goto fail;
		}
		if ((t->access = cidr_load(spec + 5, why, sizeof(why))) ==
		    NULL ||
		    cidr_check_values(t->access, policy_access_value_ok, why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "smtpd_client_access: %s", why);
			goto fail;
		}
	}
	if (cfg->mynetworks != NULL && cfg->mynetworks[0] != '\0' &&
	    (t->mynetworks = cidr_from_list(cfg->mynetworks, why,
	    sizeof(why))) == NULL) {
		snprintf(err, errlen, "mynetworks: %s", why);
		goto fail;
	}
	if (cfg->alias_maps != NULL && cfg->alias_maps[0] != '\0' &&
	    aliases_db_path(cfg->alias_maps, t->alias_db,
	    sizeof(t->alias_db)) == -1) {
		snprintf(err, errlen, "alias_maps: only one hash: table is "
		    "supported, not \"%s\"", cfg->alias_maps);
		goto fail;
	}
	/* Opened at each RCPT, so tried now: a reload must not break it. */
	if (t->alias_db[0] != '\0' &&
	    aliases_db_check(t->alias_db, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "alias_maps: %s", why);
		goto fail;
	}
	return 0;

fail:
	policy_tables_free(t);
	return -1;
}

void
policy_tables_free(struct policy_tables *t)
{
	cidr_free(t->access);
	cidr_free(t->mynetworks);
	memset(t, 0, sizeof(*t));
}
