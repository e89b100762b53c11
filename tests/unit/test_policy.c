/*
 * The policy decisions (policy/decide.c) without a process around them:
 * recipients reached through aliases, refused exactly when local
 * delivery (deliver/local_alias.c) would refuse them, the sender a local
 * submission gets, and the tables a configuration loads.
 */
#include <sys/stat.h>

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aliases.h"
#include "config.h"
#include "ipc.h"
#include "unit.h"

#include "deliver/local.h"
#include "policy/policy.h"

static char	dir[64];
static char	src[256], dbp[256];

static int
suite_init(void)
{
	if (unit_tmpdir(dir, sizeof(dir), "policy") == -1)
		return -1;
	snprintf(src, sizeof(src), "%s/aliases", dir);
	snprintf(dbp, sizeof(dbp), "%s/aliases.db", dir);
	return 0;
}

static int
suite_clean(void)
{
	unlink(src);
	unlink(dbp);
	return rmdir(dir) == 0 ? 0 : -1;
}

/*
 * A configuration without mailbox_base: local parts must name system
 * users, so an alias name that is no user passes only through a working
 * alias lookup.
 */
static struct config *
conf(const char *extra)
{
	struct config *cfg;
	char text[2048], *errs = NULL;

	snprintf(text, sizeof(text), "myhostname = mx.example.test\n"
	    "mydestination = localhost, example.test\n"
	    "mailbox_base =\nalias_maps = hash:%s\n"
	    "mynetworks = 127.0.0.1/32\n%s", src, extra);
	cfg = config_parse("t.conf", text, &errs);
	if (cfg == NULL)
		fprintf(stderr, "\n%s", errs);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	return cfg;
}

static void
write_aliases(const struct config *cfg, const char *text)
{
	char *errs = NULL;
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(src, "w"));
	fputs(text, f);
	fclose(f);
	CU_ASSERT_FATAL(aliases_compile(src, dbp, cfg, &errs, NULL) > 0);
}

static void
rcpt(const struct config *cfg, const struct policy_tables *t,
    const char *addr, struct policy_verdict *v)
{
	struct policy_query q;

	memset(&q, 0, sizeof(q));
	q.client_addr = "192.0.2.9";
	q.local_uid = IPC_UID_NONE;
	q.sender = "a@example.org";
	q.rcpt = addr;
	policy_rcpt(cfg, t, &q, v);
}

/* Both system users the alias tests name, or a notice and 0. */
static int
have_users(void)
{
	struct passwd *pw;

	if ((pw = getpwnam("nobody")) == NULL || pw->pw_uid == 0 ||
	    (pw = getpwnam("daemon")) == NULL || pw->pw_uid == 0) {
		fprintf(stderr, "(no users nobody and daemon: skipped) ");
		return 0;
	}
	return 1;
}

static const char aliases_text[] =
    "team: nobody, daemon@example.test\n"
    "fwd: nobody, friend@elsewhere.test\n"
    "chain: fwd\n"
    "pipe: |/bin/cat\n"
    "file: /tmp/archive\n"
    "inc: :include:/etc/lists/staff\n"
    "local: nobody@example.test\n"
    "loop1: loop2\n"
    "loop2: loop1\n"
    "quoted: \"nobody@example.test\"\n"
    "ghost: nobody, no-such-user\n"
    "deep1: deep2\ndeep2: deep3\ndeep3: deep4\ndeep4: deep5\n"
    "deep5: deep6\ndeep6: deep7\ndeep7: deep8\ndeep8: deep9\n"
    "deep9: deep10\ndeep10: deep11\ndeep11: deep12\n"
    "deep12: nobody\n";

/*
 * Forwarding, commands, files and lists are refused at RCPT, and so is
 * what local delivery would bounce: a loop, an unknown target.
 */
static void
test_rcpt_aliases(void)
{
	static const struct {
		const char	*rcpt;
		unsigned	 code;
		const char	*text;
	} cases[] = {
		{ "team@example.test", 250, "2.1.5 Ok" },
		{ "nobody@example.test", 250, "2.1.5 Ok" },
		{ "local@localhost", 250, "2.1.5 Ok" },
		{ "deep3@example.test", 250, "2.1.5 Ok" },
		{ "postmaster@example.test", 250, "2.1.5 Ok" },
		{ "fwd@example.test", 550, "5.3.0 <fwd@example.test>: alias "
		    "leads to a remote address; forwarding is not built yet" },
		{ "Chain@Example.TEST", 550, "5.3.0 <Chain@Example.TEST>: "
		    "alias leads to a remote address; forwarding is not built "
		    "yet" },
		{ "pipe@example.test", 550, "5.3.0 <pipe@example.test>: alias "
		    "leads to a command; delivery to commands is not built "
		    "yet" },
		{ "file@example.test", 550, "5.3.0 <file@example.test>: alias "
		    "leads to a file; delivery to files is not built yet" },
		{ "inc@example.test", 550, "5.3.0 <inc@example.test>: alias "
		    "leads to an :include: list; :include: lists are not "
		    "built yet" },
		{ "nosuch@example.test", 550, "5.1.1 <nosuch@example.test>: "
		    "No such mailbox here" },
		{ "loop1@example.test", 550, "5.4.6 <loop1@example.test>: "
		    "alias expansion deeper than 10 levels (a loop?)" },
		{ "deep1@example.test", 550, "5.4.6 <deep1@example.test>: "
		    "alias expansion deeper than 10 levels (a loop?)" },
		{ "quoted@example.test", 550, "5.1.1 <quoted@example.test>: "
		    "alias target \"nobody@example.test\" is an unknown user" },
		{ "ghost@example.test", 550, "5.1.1 <ghost@example.test>: "
		    "alias target no-such-user is an unknown user" },
	};
	struct policy_tables t;
	struct policy_verdict v;
	struct config *cfg;
	char err[512];
	size_t i;

	if (!have_users())
		return;
	cfg = conf("");
	write_aliases(cfg, aliases_text);
	CU_ASSERT_EQUAL_FATAL(policy_tables_load(cfg, &t, err, sizeof(err)),
	    0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rcpt(cfg, &t, cases[i].rcpt, &v);
		if (v.code != cases[i].code ||
		    strcmp(v.text, cases[i].text) != 0)
			fprintf(stderr, "\n%s: %u %s\n", cases[i].rcpt, v.code,
			    v.text);
		CU_ASSERT_EQUAL(v.code, cases[i].code);
		CU_ASSERT_STRING_EQUAL(v.text, cases[i].text);
	}
	policy_tables_free(&t);
	config_free(cfg);
}

/*
 * RCPT refuses what local delivery would refuse and nothing else, with
 * the same class and status code: a 5xx is a bounce, a 4xx a deferral.
 */
static void
agree(const struct config *cfg, const struct policy_tables *t,
    const char *addr)
{
	struct policy_verdict v;
	struct rcpt_plan plan;
	int rv;

	rcpt(cfg, t, addr, &v);
	rv = local_resolve(cfg, dbp, addr, &plan);
	if ((v.code == 250) != (rv == 0) || (rv == -1 &&
	    strncmp(v.text, plan.dsn, strlen(plan.dsn)) != 0))
		fprintf(stderr, "\n%s: RCPT %u %s; delivery %d %s %s\n", addr,
		    v.code, v.text, rv, plan.dsn, plan.text);
	CU_ASSERT_EQUAL(v.code == 250, rv == 0);
	if (rv == 0) {
		local_plan_free(&plan);
		return;
	}
	CU_ASSERT_EQUAL(v.code / 100 == 5, plan.status == DSTATUS_BOUNCE);
	CU_ASSERT_EQUAL(v.code / 100 == 4, plan.status == DSTATUS_DEFER);
	CU_ASSERT_EQUAL(strncmp(v.text, plan.dsn, strlen(plan.dsn)), 0);
	CU_ASSERT_EQUAL(v.text[strlen(plan.dsn)], ' ');
}

static void
test_rcpt_agrees_with_delivery(void)
{
	static const char *addrs[] = {
		"team@example.test", "nobody@example.test", "local@localhost",
		"deep3@example.test", "fwd@example.test", "pipe@example.test",
		"nosuch@example.test", "loop1@example.test",
		"deep1@example.test", "quoted@example.test",
		"ghost@example.test",
	};
	struct policy_tables t;
	struct config *cfg;
	char err[512];
	size_t i;

	if (!have_users())
		return;
	cfg = conf("");
	write_aliases(cfg, aliases_text);
	CU_ASSERT_EQUAL_FATAL(policy_tables_load(cfg, &t, err, sizeof(err)),
	    0);
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		agree(cfg, &t, addrs[i]);

	/* Named but not built: both wait. */
	unlink(dbp);
	agree(cfg, &t, "team@example.test");
	agree(cfg, &t, "nobody@example.test");
	policy_tables_free(&t);
	config_free(cfg);
}

/*
 * alias_maps names a database newaliases has not built: every local
 * name waits, alias or not, so that an alias never passes as a mailbox.
 */
static void
test_rcpt_database_missing(void)
{
	struct policy_tables t;
	struct policy_verdict v;
	struct config *cfg;
	char err[512];

	if (!have_users())
		return;
	cfg = conf("");
	unlink(dbp);
	CU_ASSERT_EQUAL_FATAL(policy_tables_load(cfg, &t, err, sizeof(err)),
	    0);
	rcpt(cfg, &t, "team@example.test", &v);
	CU_ASSERT_EQUAL(v.code, 451);
	CU_ASSERT_STRING_EQUAL(v.text, "4.3.0 <team@example.test>: alias "
	    "database is not built yet (newaliases)");
	rcpt(cfg, &t, "nobody@example.test", &v);
	CU_ASSERT_EQUAL(v.code, 451);
	policy_tables_free(&t);
	config_free(cfg);
}

/* A local submitter who is not trusted sends as <login>@myorigin. */
static void
test_local_sender(void)
{
	struct policy_tables t;
	struct policy_verdict v;
	struct policy_query q;
	struct config *cfg;
	struct passwd *pw;
	char err[512], want[300];

	if ((pw = getpwnam("nobody")) == NULL || pw->pw_uid == 0) {
		fprintf(stderr, "(no user nobody: skipped) ");
		return;
	}
	memset(&q, 0, sizeof(q));
	q.client_addr = "";
	q.local_uid = (uint32_t)pw->pw_uid;
	q.helo = "localhost";
	q.sender = "";

	cfg = conf("myorigin = origin.test\n");
	CU_ASSERT_EQUAL_FATAL(policy_tables_load(cfg, &t, err, sizeof(err)),
	    0);
	policy_mail(cfg, &t, &q, &v);
	CU_ASSERT_EQUAL(v.code, 250);
	snprintf(want, sizeof(want), "%s@origin.test", pw->pw_name);
	CU_ASSERT_STRING_EQUAL(v.sender, want);
	/* Already the right one: nothing to rewrite. */
	q.sender = want;
	policy_mail(cfg, &t, &q, &v);
	CU_ASSERT_STRING_EQUAL(v.sender, "");
	policy_tables_free(&t);
	config_free(cfg);

	/* myorigin defaults to myhostname. */
	q.sender = "";
	cfg = conf("");
	CU_ASSERT_EQUAL_FATAL(policy_tables_load(cfg, &t, err, sizeof(err)),
	    0);
	policy_mail(cfg, &t, &q, &v);
	snprintf(want, sizeof(want), "%s@mx.example.test", pw->pw_name);
	CU_ASSERT_STRING_EQUAL(v.sender, want);
	policy_tables_free(&t);
	config_free(cfg);
}

/*
 * The alias database is tried when the tables load, so that a reload
 * the policy process cannot use is refused, not applied.
 */
static void
test_tables_alias_db(void)
{
	struct policy_tables t;
	struct config *cfg = conf("");
	char err[512];
	FILE *f;

	unlink(dbp);
	CU_ASSERT_EQUAL(policy_tables_load(cfg, &t, err, sizeof(err)), 0);
	policy_tables_free(&t);

	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(dbp, "w"));
	fputs("this is not a Berkeley DB file\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(policy_tables_load(cfg, &t, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "alias_maps: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, dbp));
	unlink(dbp);
	config_free(cfg);
}

static CU_TestInfo tests[] = {
	{ "recipients through aliases", test_rcpt_aliases },
	{ "RCPT agrees with delivery", test_rcpt_agrees_with_delivery },
	{ "alias database not built", test_rcpt_database_missing },
	{ "local submitter's sender", test_local_sender },
	{ "alias database tried at load", test_tables_alias_db },
	CU_TEST_INFO_NULL
};

int
main(void)
{
	return unit_run_fixture("policy", suite_init, suite_clean, tests);
}
