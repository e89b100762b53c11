/*
 * The policy decisions (policy/decide.c) without a process around them:
 * recipients reached through aliases, the sender a local submission
 * gets, and the tables a configuration loads.
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

static struct config *
conf(const char *extra)
{
	struct config *cfg;
	char text[2048], *errs = NULL;

	snprintf(text, sizeof(text), "myhostname = mx.example.test\n"
	    "mydestination = localhost, example.test\n"
	    "mailbox_base = %s/mail\nalias_maps = hash:%s\n"
	    "mynetworks = 127.0.0.1/32\n%s", dir, src, extra);
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

/* Forwarding, commands, files and lists are refused at RCPT. */
static void
test_rcpt_aliases(void)
{
	static const struct {
		const char	*rcpt;
		unsigned	 code;
		const char	*text;
	} cases[] = {
		{ "team@example.test", 250, "2.1.5 Ok" },
		{ "alice@example.test", 250, "2.1.5 Ok" },
		{ "local@localhost", 250, "2.1.5 Ok" },
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
	};
	struct policy_tables t;
	struct policy_verdict v;
	struct config *cfg = conf("");
	char err[512];
	size_t i;

	write_aliases(cfg, "team: alice, bob@example.test\n"
	    "fwd: alice, friend@elsewhere.test\n"
	    "chain: fwd\n"
	    "pipe: |/bin/cat\n"
	    "file: /tmp/archive\n"
	    "inc: :include:/etc/lists/staff\n"
	    "local: alice@example.test\n");
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
	{ "local submitter's sender", test_local_sender },
	{ "alias database tried at load", test_tables_alias_db },
	CU_TEST_INFO_NULL
};

int
main(void)
{
	return unit_run_fixture("policy", suite_init, suite_clean, tests);
}
