/*
 * Mailbox resolution (util/mailbox.c): the virtual-mailbox grammar, the
 * paths and owners of virtual mailboxes, and system users (root refused).
 * The configuration is built by hand: only mailbox_base and mail_owner
 * matter here.
 */
#include <sys/types.h>

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mailbox.h"
#include "unit.h"

static void
test_grammar(void)
{
	static const struct {
		const char	*in;
		const char	*out;	/* NULL: refused */
	} cases[] = {
		{ "alice", "alice" },
		{ "Alice.Smith", "alice.smith" },
		{ "a+tag", "a+tag" },
		{ "a-b_c.d", "a-b_c.d" },
		{ "0123", "0123" },
		{ "trailing.", "trailing." },
		{ "", NULL },
		{ ".hidden", NULL },
		{ "..", NULL },
		{ "a..b", NULL },
		{ "a/b", NULL },
		{ "../etc", NULL },
		{ "a b", NULL },
		{ "no=such", NULL },
		{ "UPPER%case", NULL },
		{ "\"john doe\"", NULL },
		{ "caf\xc3\xa9", NULL },
		{ "tab\t", NULL },
	};
	char out[65];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rv = mailbox_name_valid(cases[i].in, out, sizeof(out));

		if (cases[i].out == NULL) {
			CU_ASSERT_EQUAL(rv, -1);
		} else {
			CU_ASSERT_EQUAL(rv, 0);
			if (rv == 0)
				CU_ASSERT_STRING_EQUAL(out, cases[i].out);
		}
	}
}

static void
test_length(void)
{
	char name[80], out[80];

	memset(name, 'X', 64);
	name[64] = '\0';
	CU_ASSERT_EQUAL(mailbox_name_valid(name, out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(strlen(out), 64);
	CU_ASSERT_EQUAL(out[0], 'x');
	name[64] = 'x';
	name[65] = '\0';
	CU_ASSERT_EQUAL(mailbox_name_valid(name, out, sizeof(out)), -1);
	/* a buffer too small is a refusal, not an overflow */
	CU_ASSERT_EQUAL(mailbox_name_valid("alice", out, 5), -1);
	CU_ASSERT_EQUAL(mailbox_name_valid("alice", out, 6), 0);
	CU_ASSERT_EQUAL(mailbox_name_valid(NULL, out, sizeof(out)), -1);
}

static void
test_virtual(void)
{
	struct config cfg;
	struct mailbox mb;
	struct passwd *pw;

	memset(&cfg, 0, sizeof(cfg));
	cfg.mailbox_base = "/srv/mail";
	cfg.mail_owner = "nobody";
	CU_ASSERT_EQUAL_FATAL(mailbox_resolve(&cfg, "Some.One+tag", &mb), 0);
	CU_ASSERT_STRING_EQUAL(mb.name, "some.one+tag");
	CU_ASSERT_STRING_EQUAL(mb.maildir, "/srv/mail/some.one+tag/Maildir");
	if (geteuid() == 0) {
		pw = getpwnam("nobody");
		CU_ASSERT_PTR_NOT_NULL_FATAL(pw);
		CU_ASSERT_EQUAL(mb.uid, pw->pw_uid);
		CU_ASSERT_EQUAL(mb.gid, pw->pw_gid);
		cfg.mail_owner = "no-such-user-bulwark-test";
		CU_ASSERT_EQUAL(mailbox_resolve(&cfg, "alice", &mb), -1);
	} else {
		CU_ASSERT_EQUAL(mb.uid, geteuid());
		CU_ASSERT_EQUAL(mb.gid, getegid());
	}

	cfg.mail_owner = "nobody";
	CU_ASSERT_EQUAL(mailbox_resolve(&cfg, "no=such", &mb), -1);
	CU_ASSERT_EQUAL(mailbox_resolve(&cfg, "../../etc", &mb), -1);
	CU_ASSERT_EQUAL(mailbox_resolve(&cfg, ".x", &mb), -1);
	/* any valid name is a virtual mailbox, root included */
	CU_ASSERT_EQUAL(mailbox_resolve(&cfg, "root", &mb), 0);
}

static void
test_system(void)
{
	struct config cfg;
	struct mailbox mb;
	struct passwd *pw;
	char want[4096];
	uid_t uid;
	gid_t gid;

	memset(&cfg, 0, sizeof(cfg));
	cfg.mailbox_base = "";
	cfg.mail_owner = "nobody";
	CU_ASSERT_EQUAL(mailbox_resolve(&cfg, "root", &mb), -1);
	CU_ASSERT_EQUAL(mailbox_resolve(&cfg, "ROOT", &mb), -1);
	CU_ASSERT_EQUAL(mailbox_resolve(&cfg, "no-such-user-bulwark-test",
	    &mb), -1);
	CU_ASSERT_EQUAL(mailbox_resolve(&cfg, "a/b", &mb), -1);

	if ((pw = getpwnam("nobody")) == NULL || pw->pw_uid == 0) {
		fprintf(stderr, "\n  no user nobody: system lookup skipped\n");
		return;
	}
	snprintf(want, sizeof(want), "%s/Maildir",
	    strcmp(pw->pw_dir, "/") == 0 ? "" : pw->pw_dir);
	uid = pw->pw_uid;
	gid = pw->pw_gid;

	CU_ASSERT_EQUAL_FATAL(mailbox_resolve(&cfg, "NoBody", &mb), 0);
	CU_ASSERT_STRING_EQUAL(mb.name, "nobody");
	CU_ASSERT_STRING_EQUAL(mb.maildir, want);
	CU_ASSERT_EQUAL(mb.uid, uid);
	CU_ASSERT_EQUAL(mb.gid, gid);

	/* a NULL mailbox_base means system users too */
	cfg.mailbox_base = NULL;
	CU_ASSERT_EQUAL(mailbox_resolve(&cfg, "nobody", &mb), 0);
	CU_ASSERT_EQUAL(mailbox_resolve(&cfg, "root", &mb), -1);
}

static CU_TestInfo tests[] = {
	{ "name grammar", test_grammar },
	{ "name length", test_length },
	{ "virtual mailboxes", test_virtual },
	{ "system users", test_system },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("mailbox", tests)
