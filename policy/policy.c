/*
 * The policy process: smtpd asks at each MAIL and RCPT, and gets one
 * IMSG_POLICY_VERDICT back per query, with the query's id.  The answers
 * are computed at once (decide.c), so no query is ever in flight here
 * and a replaced smtpd channel loses nothing.
 *
 * The tables (smtpd_client_access, mynetworks, the alias database's
 * path) are loaded from the configuration at start-up, still as root,
 * and again at each IMSG_CONFIG, then as mail_owner: a table must be
 * readable by that user for reloads.  A new configuration whose tables
 * do not load is not applied; the old one stays in force, and the
 * master hears why (IMSG_CONFIG_RESULT), so the reload is not reported
 * as applied.
 *
 * Refusals are logged by smtpd, which has the whole session in hand, so
 * they are logged here only at debug level.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "aliases.h"
#include "child.h"
#include "config.h"
#include "ipc.h"
#include "log.h"

#include "policy/policy.h"

#define LOG_ADDR_MAX	300

static struct {
	struct event_base	*base;
	struct config		*cfg;
	struct policy_tables	 tables;
	struct ipc_chan		*master;
	struct ipc_chan		*smtpd;
	struct event		*sig_term;
	struct event		*sig_int;
} pol;

static void	policy_exit(int) __attribute__((noreturn));

/* --- queries from smtpd ------------------------------------------------ */

static void
send_verdict(struct ipc_chan *c, uint64_t id, const struct policy_verdict *v)
{
	struct ipc_msg *msg = ipc_msg_new(IMSG_POLICY_VERDICT, id);

	ipc_add_u32(msg, v->code);
	ipc_add_str(msg, v->code == 250 ? "" : v->text);
	ipc_add_str(msg, v->sender);
	ipc_send(c, msg, IPC_NO_FD);
}

static void
log_refusal(const char *verb, const struct policy_query *q,
    const struct policy_verdict *v)
{
	char addr[LOG_ADDR_MAX], from[LOG_ADDR_MAX], to[LOG_ADDR_MAX];

	if (v->code == 250)
		return;
	log_escape(addr, sizeof(addr), q->client_addr,
	    strlen(q->client_addr));
	log_escape(from, sizeof(from), q->sender, strlen(q->sender));
	log_escape(to, sizeof(to), q->rcpt != NULL ? q->rcpt : "",
	    q->rcpt != NULL ? strlen(q->rcpt) : 0);
	log_debug("NOQUEUE: reject: %s from [%s]: %u %s; from=<%s> to=<%s>",
	    verb, addr[0] != '\0' ? addr : "local", v->code, v->text, from,
	    to);
}

static void
on_mail(struct ipc_chan *c, struct ipc_reader *rd)
{
	struct policy_query q;
	struct policy_verdict v;
	char *addr, *helo, *sender;
	char from[LOG_ADDR_MAX], to[LOG_ADDR_MAX];

	memset(&q, 0, sizeof(q));
	addr = ipc_get_str(rd);
	q.local_uid = ipc_get_u32(rd);
	helo = ipc_get_str(rd);
	sender = ipc_get_str(rd);
	ipc_get_end(rd);
	q.client_addr = addr;
	q.helo = helo;
	q.sender = sender;

	policy_mail(pol.cfg, &pol.tables, &q, &v);
	log_refusal("MAIL", &q, &v);
	if (v.code == 250 && v.sender[0] != '\0') {
		log_escape(from, sizeof(from), sender, strlen(sender));
		log_escape(to, sizeof(to), v.sender, strlen(v.sender));
		log_info("NOQUEUE: sender rewritten: uid=%u, from=<%s>, "
		    "sender=<%s> (not a trusted user)", q.local_uid, from,
		    to);
	}
	send_verdict(c, rd->hdr->id, &v);
	free(addr);
	free(helo);
	free(sender);
}

static void
on_rcpt(struct ipc_chan *c, struct ipc_reader *rd)
{
	struct policy_query q;
	struct policy_verdict v;
	char *addr, *sender, *rcpt;

	memset(&q, 0, sizeof(q));
	addr = ipc_get_str(rd);
	q.local_uid = ipc_get_u32(rd);
	sender = ipc_get_str(rd);
	rcpt = ipc_get_str(rd);
	ipc_get_end(rd);
	q.client_addr = addr;
	q.sender = sender;
	q.rcpt = rcpt;

	policy_rcpt(pol.cfg, &pol.tables, &q, &v);
	log_refusal("RCPT", &q, &v);
	send_verdict(c, rd->hdr->id, &v);
	free(addr);
	free(sender);
	free(rcpt);
}

static void
on_smtpd(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	if (c != pol.smtpd)
		return;		/* a replaced channel's last frames */
	switch (rd->hdr->type) {
	case IMSG_POLICY_MAIL:
		on_mail(c, rd);
		break;
	case IMSG_POLICY_RCPT:
		on_rcpt(c, rd);
		break;
	default:
		fatal("policy: unexpected %s from smtpd",
		    ipc_type_name(rd->hdr->type));
	}
}

static void
on_smtpd_closed(struct ipc_chan *c, void *arg)
{
	if (c != pol.smtpd)
		return;
	log_info("policy: smtpd channel closed");
	pol.smtpd = NULL;
	ipc_chan_free(c);
}

/* --- the master ------------------------------------------------------- */

static void
on_peer(struct ipc_reader *rd)
{
	uint32_t role;
	int fd;

	fd = ipc_get_fd(rd);
	role = ipc_get_u32(rd);
	ipc_get_end(rd);
	if (role != ROLE_SMTPD)
		fatal("policy: master sent a channel to %s",
		    role < ROLE_COUNT ? proc_role_name((enum proc_role)role) :
		    "an unknown role");
	if (pol.smtpd != NULL)
		ipc_chan_free(pol.smtpd);
	pol.smtpd = ipc_chan_new(pol.base, fd, "smtpd", on_smtpd,
	    on_smtpd_closed, NULL);
}

/* Said at every start and reload while it lasts: mail waits for it. */
static void
warn_alias_db(void)
{
	char err[1024];

	if (pol.tables.alias_db[0] != '\0' &&
	    aliases_db_check(pol.tables.alias_db, err, sizeof(err)) ==
	    ALIASES_NODB)
		log_warn("policy: alias database %s does not exist: mail for "
		    "local recipients gets 451 until newaliases builds it",
		    pol.tables.alias_db);
}

static void
reload(struct ipc_reader *rd)
{
	struct policy_tables t;
	struct config *cfg;
	char err[1024];

	if ((cfg = child_config_take(pol.master, rd, "policy")) == NULL)
		return;
	/* Tables load as mail_owner now: a reload may not read them. */
	if (policy_tables_load(cfg, &t, err, sizeof(err)) == -1) {
		child_config_refused(pol.master, rd->hdr->id, "policy", err);
		config_free(cfg);
		return;
	}
	policy_tables_free(&pol.tables);
	pol.tables = t;
	config_free(pol.cfg);
	pol.cfg = cfg;
	log_info("policy: configuration reloaded");
	warn_alias_db();
	child_config_result(pol.master, rd->hdr->id, NULL);
}

static void
on_master(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	switch (rd->hdr->type) {
	case IMSG_CONFIG:
		reload(rd);
		break;
	case IMSG_PEER:
		on_peer(rd);
		break;
	case IMSG_STOP:
		ipc_get_end(rd);
		policy_exit(0);
	default:
		fatal("policy: unexpected %s from master",
		    ipc_type_name(rd->hdr->type));
	}
}

static void
on_master_closed(struct ipc_chan *c, void *arg)
{
	fatal("policy: master channel closed");
}

/* Answers already queued still go out; nothing else is in flight. */
static void
policy_exit(int code)
{
	if (pol.smtpd != NULL)
		ipc_flush(pol.smtpd);
	log_info("policy: stopped");
	exit(code);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	log_info("policy: signal %d, stopping", (int)sig);
	policy_exit(0);
}

void
policy_main(const struct child_env *env, struct config *cfg)
{
	char err[1024];

	pol.cfg = cfg;

	/* As root still, so a root-only table can be read at start-up. */
	if (policy_tables_load(cfg, &pol.tables, err, sizeof(err)) == -1)
		fatal("policy: %s", err);

	log_open_now();
	priv_drop(cfg->mail_owner, NULL);
	warn_alias_db();

	if ((pol.base = event_base_new()) == NULL)
		fatal("policy: cannot create the event loop");
	pol.master = ipc_chan_new(pol.base, env->master_fd, "master",
	    on_master, on_master_closed, NULL);
	pol.sig_term = child_signal(pol.base, SIGTERM, on_signal, NULL);
	pol.sig_int = child_signal(pol.base, SIGINT, on_signal, NULL);

	ipc_send_empty(pol.master, IMSG_READY, 0);
	event_base_dispatch(pol.base);
	fatal("policy: event loop ended");
}
