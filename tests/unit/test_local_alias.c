/*
 * The local agent's recipient resolution (deliver/local_alias.c): what
 * an alias that leads where delivery is not built yet, or loops, bounces
 * with, for mail that reached the agent without the policy's RCPT check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aliases.h"
#include "config.h"
#include "unit.h"

#include "deliver/local.h"

static char	dir[64];
static char	src[256], dbp[256];
static struct config *cfg;

static int
suite_init(void)
{
	char text[512], *errs = NULL;
	FILE *f;

	if (unit_tmpdir(dir, sizeof(dir), "local_alias") == -1)
		return -1;
	snprintf(src, sizeof(src), "%s/aliases", dir);
	snprintf(dbp, sizeof(dbp), "%s/aliases.db", dir);
	snprintf(text, sizeof(text), "myhostname = mx.example.test\n"
	    "mydestination = localhost, example.test\n"
	    "mailbox_base = %s\n", dir);
	if ((cfg = config_parse("t.conf", text, NULL)) == NULL)
		return -1;
	if ((f = fopen(src, "w")) == NULL)
		return -1;
	fputs("team: alice, bob@example.test\n"
	    "fwd: alice, friend@elsewhere.test\n"
	    "pipe: alice, |/bin/cat\n"
	    "file: /tmp/archive\n"
	    "inc: :include:/etc/lists/staff\n"
	    "loop1: loop2\nloop2: loop1\n"
	    "quoted: \"alice@elsewhere.test\"\n"
	    "quoted2: \"alice@elsewhere.test\"@example.test\n", f);
	fclose(f);
	if (aliases_compile(src, dbp, cfg, &errs, NULL) < 0) {
		free(errs);
		return -1;
	}
	return 0;
}

static int
suite_clean(void)
{
	config_free(cfg);
	unlink(src);
	unlink(dbp);
	return rmdir(dir) == 0 ? 0 : -1;
}

static void
test_unbuilt_targets_bounce(void)
{
	static const struct {
		const char	*rcpt;
		const char	*text;
	} cases[] = {
		{ "fwd@example.test", "alias leads to a remote address; "
		    "forwarding is not built yet" },
		{ "pipe@example.test", "alias leads to a command; delivery "
		    "to commands is not built yet" },
		{ "file@example.test", "alias leads to a file; delivery to "
		    "files is not built yet" },
		{ "inc@localhost", "alias leads to an :include: list; "
		    ":include: lists are not built yet" },
	};
	struct rcpt_plan plan;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL(local_resolve(cfg, dbp, cases[i].rcpt, &plan),
		    -1);
		CU_ASSERT_EQUAL(plan.status, DSTATUS_BOUNCE);
		CU_ASSERT_STRING_EQUAL(plan.dsn, "5.3.0");
		CU_ASSERT_STRING_EQUAL(plan.text, cases[i].text);
		local_plan_free(&plan);
	}

	CU_ASSERT_EQUAL(local_resolve(cfg, dbp, "team@example.test", &plan),
	    0);
	CU_ASSERT_EQUAL(plan.nmb, 2);
	local_plan_free(&plan);
}

/*
 * What the policy refuses at RCPT too (test_policy.c): a loop, and a
 * quoted target whose '@' is inside the quotes, a local name.
 */
static void
test_loop_and_quoted_at(void)
{
	struct rcpt_plan plan;

	CU_ASSERT_EQUAL(local_resolve(cfg, dbp, "loop1@example.test", &plan),
	    -1);
	CU_ASSERT_EQUAL(plan.status, DSTATUS_BOUNCE);
	CU_ASSERT_STRING_EQUAL(plan.dsn, "5.4.6");
	CU_ASSERT_STRING_EQUAL(plan.text, "alias expansion deeper than 10 "
	    "levels (a loop?)");

	CU_ASSERT_EQUAL(local_resolve(cfg, dbp, "quoted@example.test", &plan),
	    -1);
	CU_ASSERT_EQUAL(plan.status, DSTATUS_BOUNCE);
	CU_ASSERT_STRING_EQUAL(plan.dsn, "5.1.1");
	CU_ASSERT_STRING_EQUAL(plan.text, "alias target \"alice@elsewhere."
	    "test\" is an unknown user");

	/* The same quoted name with a local domain after it. */
	CU_ASSERT_EQUAL(local_resolve(cfg, dbp, "quoted2@example.test",
	    &plan), -1);
	CU_ASSERT_STRING_EQUAL(plan.dsn, "5.1.1");
	CU_ASSERT_STRING_EQUAL(plan.text, "alias target \"alice@elsewhere."
	    "test\" is an unknown user");
}

static CU_TestInfo tests[] = {
	{ "targets not built yet bounce", test_unbuilt_targets_bounce },
	{ "a loop and a quoted '@'", test_loop_and_quoted_at },
	CU_TEST_INFO_NULL
};

int
main(void)
{
	return unit_run_fixture("local_alias", suite_init, suite_clean, tests);
}
