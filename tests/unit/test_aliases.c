/*
 * The aliases compiler and lookups (util/aliases.c): a source file in a
 * temporary directory compiled to a hash database, looked up, and the
 * targets and lines it refuses.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <db.h>

#include "aliases.h"
#include "config.h"
#include "unit.h"

static char	dir[64];
static char	src[256], dbp[256];
static struct config *cfg;

static void
write_src(const char *text)
{
	FILE *f;

	snprintf(src, sizeof(src), "%s/aliases", dir);
	snprintf(dbp, sizeof(dbp), "%s/aliases.db", dir);
	f = fopen(src, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static int
suite_init(void)
{
	cfg = config_parse("t.conf", "myhostname = mx.example.test\n"
	    "mydestination = localhost, example.test\n", NULL);
	if (cfg == NULL)
		return -1;
	return unit_tmpdir(dir, sizeof(dir), "aliases");
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
expect(const char *name, const char *value)
{
	char *got = NULL;
	int rv = aliases_lookup(dbp, name, &got);

	if (value == NULL) {
		CU_ASSERT_EQUAL(rv, 0);
		CU_ASSERT_PTR_NULL(got);
		return;
	}
	CU_ASSERT_EQUAL(rv, 1);
	if (got != NULL)
		CU_ASSERT_STRING_EQUAL(got, value);
	free(got);
}

static void
test_compile_lookup(void)
{
	char *errs = (char *)"untouched", *warns = (char *)"untouched";
	struct stat st;
	int n;

	write_src("# system aliases\n"
	    "\n"
	    "postmaster: root\n"
	    "Root:\talice\n"
	    "team: alice, bob,\n"
	    "  carol@example.test\n"
	    "\t, dave\n"
	    "\"Quoted Name\": alice\n"
	    "list : \"john doe\"@example.test ,erin\n"
	    "# a comment between\n"
	    "last: frank\n");
	n = aliases_compile(src, dbp, cfg, &errs, &warns);
	if (n < 0 && errs != NULL)
		fprintf(stderr, "\n%s", errs);
	CU_ASSERT_EQUAL(n, 6);
	CU_ASSERT_PTR_NULL(errs);
	CU_ASSERT_PTR_NULL(warns);
	CU_ASSERT_EQUAL(stat(dbp, &st), 0);

	expect("postmaster", "root");
	expect("PostMaster", "root");
	expect("root", "alice");
	expect("team", "alice, bob, carol@example.test, dave");
	expect("quoted name", "alice");
	expect("list", "\"john doe\"@example.test, erin");
	expect("last", "frank");
	expect("alice", NULL);
	expect("", NULL);
	expect("# system aliases", NULL);
}

/* The keys carry their NUL, as Postfix's do. */
static void
test_key_format(void)
{
	DB *db;
	DBT key, val;
	char *errs = NULL;

	write_src("root: alice\n");
	CU_ASSERT_EQUAL_FATAL(aliases_compile(src, dbp, cfg, &errs, NULL), 1);
	CU_ASSERT_EQUAL_FATAL(db_create(&db, NULL, 0), 0);
	CU_ASSERT_EQUAL_FATAL(db->open(db, NULL, dbp, NULL, DB_HASH,
	    DB_RDONLY, 0), 0);
	memset(&key, 0, sizeof(key));
	memset(&val, 0, sizeof(val));
	key.data = (char *)"root";
	key.size = 5;
	CU_ASSERT_EQUAL(db->get(db, NULL, &key, &val, 0), 0);
	CU_ASSERT_EQUAL(val.size, 6);
	CU_ASSERT_EQUAL(memcmp(val.data, "alice", 6), 0);
	key.size = 4;
	CU_ASSERT_EQUAL(db->get(db, NULL, &key, &val, 0), DB_NOTFOUND);
	db->close(db, 0);
}

static void
test_refused(void)
{
	char *errs = NULL, want[600];
	int n;

	/* A good table first: a failed compile must leave it alone. */
	write_src("keep: alice\n");
	CU_ASSERT_EQUAL_FATAL(aliases_compile(src, dbp, cfg, &errs, NULL),
	    1);

	write_src("ok: alice\n"
	    "pipe: |/usr/bin/procmail\n"
	    "qpipe: \"|/bin/cat\"\n"
	    "file: /var/mail/archive\n"
	    "inc: :include:/etc/lists/staff\n"
	    "nocolon alice\n"
	    "empty:\n"
	    "bad: two..dots\n"
	    "ok: bob\n"
	    "  leading: x\n"
	    "comma: \"a,b\"@example.test\n"
	    "ctl: |a\001b\n");
	errs = NULL;
	n = aliases_compile(src, dbp, cfg, &errs, NULL);
	CU_ASSERT_EQUAL(n, -1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(errs);
	/* Targets not built yet are no errors: see test_unbuilt. */
	CU_ASSERT_PTR_NULL(strstr(errs, "alias pipe"));
	CU_ASSERT_PTR_NULL(strstr(errs, "alias qpipe"));
	CU_ASSERT_PTR_NULL(strstr(errs, "alias file"));
	CU_ASSERT_PTR_NULL(strstr(errs, "alias inc"));
	snprintf(want, sizeof(want), "%s:12: alias ctl: ", src);
	CU_ASSERT_PTR_NOT_NULL(strstr(errs, want));
	snprintf(want, sizeof(want), "%s:6: missing ':'", src);
	CU_ASSERT_PTR_NOT_NULL(strstr(errs, want));
	snprintf(want, sizeof(want), "%s:7: alias empty: no targets", src);
	CU_ASSERT_PTR_NOT_NULL(strstr(errs, want));
	snprintf(want, sizeof(want), "%s:8: alias bad: ", src);
	CU_ASSERT_PTR_NOT_NULL(strstr(errs, want));
	snprintf(want, sizeof(want), "%s:9: alias ok given twice (first at "
	    "line 1)", src);
	CU_ASSERT_PTR_NOT_NULL(strstr(errs, want));
	snprintf(want, sizeof(want), "%s:11: alias comma: ", src);
	CU_ASSERT_PTR_NOT_NULL(strstr(errs, want));
	free(errs);

	/* the old database is still in place */
	expect("keep", "alice");
	expect("ok", NULL);
}

/*
 * Commands, files, :include: lists and other domains are compiled, each
 * with a warning, since mail to them is refused at RCPT.
 */
static void
test_unbuilt(void)
{
	char *errs = (char *)"untouched", *warns = NULL, want[600];
	int n;

	write_src("ok: alice, bob@Example.TEST\n"
	    "pipe: |/usr/bin/procmail\n"
	    "qpipe: \"|/bin/cat -u\"\n"
	    "file: /var/mail/archive\n"
	    "inc: :include:/etc/lists/staff\n"
	    "fwd: alice, friend@elsewhere.test\n");
	n = aliases_compile(src, dbp, cfg, &errs, &warns);
	CU_ASSERT_EQUAL(n, 6);
	CU_ASSERT_PTR_NULL(errs);
	CU_ASSERT_PTR_NOT_NULL_FATAL(warns);
	snprintf(want, sizeof(want), "%s:2: warning: alias pipe: target "
	    "\"|/usr/bin/procmail\" is a command; delivery to commands is "
	    "not built yet, so mail to pipe is refused at RCPT\n", src);
	CU_ASSERT_PTR_NOT_NULL(strstr(warns, want));
	/* A quoted target is shown with its own quotes, not doubled. */
	snprintf(want, sizeof(want), "%s:3: warning: alias qpipe: target "
	    "\"|/bin/cat -u\" is a command", src);
	CU_ASSERT_PTR_NOT_NULL(strstr(warns, want));
	snprintf(want, sizeof(want), "%s:4: warning: alias file: target "
	    "\"/var/mail/archive\" is a file; delivery to files is not "
	    "built yet", src);
	CU_ASSERT_PTR_NOT_NULL(strstr(warns, want));
	snprintf(want, sizeof(want), "%s:5: warning: alias inc: target "
	    "\":include:/etc/lists/staff\" is an :include: list; :include: "
	    "lists are not built yet", src);
	CU_ASSERT_PTR_NOT_NULL(strstr(warns, want));
	snprintf(want, sizeof(want), "%s:6: warning: alias fwd: target "
	    "\"friend@elsewhere.test\" is a remote address; forwarding is "
	    "not built yet", src);
	CU_ASSERT_PTR_NOT_NULL(strstr(warns, want));
	CU_ASSERT_PTR_NULL(strstr(warns, "alias ok"));
	free(warns);

	expect("pipe", "|/usr/bin/procmail");
	expect("qpipe", "\"|/bin/cat -u\"");
	expect("inc", ":include:/etc/lists/staff");
}

static void
test_target_kind(void)
{
	CU_ASSERT_EQUAL(aliases_target_kind(cfg, "alice"), ALIAS_TARGET_LOCAL);
	CU_ASSERT_EQUAL(aliases_target_kind(cfg, "alice@EXAMPLE.test"),
	    ALIAS_TARGET_LOCAL);
	CU_ASSERT_EQUAL(aliases_target_kind(cfg, "alice@localhost."),
	    ALIAS_TARGET_LOCAL);
	CU_ASSERT_EQUAL(aliases_target_kind(cfg, "\"a@b\"@example.test"),
	    ALIAS_TARGET_LOCAL);
	CU_ASSERT_EQUAL(aliases_target_kind(cfg, "\"a@b\""),
	    ALIAS_TARGET_LOCAL);
	CU_ASSERT_EQUAL(aliases_target_kind(cfg, "alice@mx.example.test"),
	    ALIAS_TARGET_REMOTE);
	CU_ASSERT_EQUAL(aliases_target_kind(cfg, "|/bin/cat"),
	    ALIAS_TARGET_COMMAND);
	CU_ASSERT_EQUAL(aliases_target_kind(cfg, "\"|/bin/cat\""),
	    ALIAS_TARGET_COMMAND);
	CU_ASSERT_EQUAL(aliases_target_kind(cfg, "/var/mail/x"),
	    ALIAS_TARGET_FILE);
	CU_ASSERT_EQUAL(aliases_target_kind(cfg, ":INCLUDE:/etc/x"),
	    ALIAS_TARGET_INCLUDE);
}

/* The names a walk reaches, "a b c ", and a name to refuse. */
struct seen {
	char		 names[512];
	const char	*refuse;
};

static int
see(void *arg, const char *name, const char *alias)
{
	struct seen *s = arg;

	if (s->refuse != NULL && strcmp(name, s->refuse) == 0)
		return -1;
	strlcat(s->names, name, sizeof(s->names));
	strlcat(s->names, " ", sizeof(s->names));
	return 0;
}

static enum alias_walk_end
walk(const char *db, const char *name, struct seen *s, struct alias_walk *w)
{
	memset(s, 0, sizeof(*s));
	return aliases_walk(cfg, db, name, see, s, w);
}

/*
 * The walk the policy makes at RCPT and the local agent at delivery,
 * through nested aliases.
 */
static void
test_walk(void)
{
	struct alias_walk w;
	struct seen s;
	char *errs = NULL;

	write_src("team: alice, bob@example.test, sub\n"
	    "sub: carol, root\n"
	    "root: root, dave\n"
	    "fwd: x@elsewhere.test\n"
	    "chain1: chain2\n"
	    "chain2: alice, chain3@localhost\n"
	    "chain3: fwd\n"
	    "pipe: alice, |/bin/cat\n"
	    "loop1: loop2\n"
	    "loop2: loop1\n"
	    "quoted: \"a@b\", \"c@d\"@example.test\n"
	    "deep1: deep2\ndeep2: deep3\ndeep3: deep4\ndeep4: deep5\n"
	    "deep5: deep6\ndeep6: deep7\ndeep7: deep8\ndeep8: deep9\n"
	    "deep9: deep10\ndeep10: deep11\ndeep11: deep12\n"
	    "deep12: |/bin/cat\n");
	CU_ASSERT_FATAL(aliases_compile(src, dbp, cfg, &errs, NULL) > 0);

	CU_ASSERT_EQUAL(walk(dbp, "team", &s, &w), ALIAS_WALK_OK);
	CU_ASSERT_STRING_EQUAL(s.names, "alice bob carol root dave ");
	CU_ASSERT_EQUAL(w.via_alias, 1);
	CU_ASSERT_EQUAL(walk(dbp, "nobody", &s, &w), ALIAS_WALK_OK);
	CU_ASSERT_STRING_EQUAL(s.names, "nobody ");
	CU_ASSERT_EQUAL(w.via_alias, 0);
	CU_ASSERT_EQUAL(walk(dbp, "root", &s, &w), ALIAS_WALK_OK);
	CU_ASSERT_STRING_EQUAL(s.names, "root dave ");
	/* A quoted local part is one name, '@' and all. */
	CU_ASSERT_EQUAL(walk(dbp, "quoted", &s, &w), ALIAS_WALK_OK);
	CU_ASSERT_STRING_EQUAL(s.names, "\"a@b\" \"c@d\" ");
	/* A loop ends at the depth limit, as local delivery bounces it. */
	CU_ASSERT_EQUAL(walk(dbp, "loop1", &s, &w), ALIAS_WALK_DEEP);
	CU_ASSERT_EQUAL(walk(dbp, "FWD", &s, &w), ALIAS_WALK_UNBUILT);
	CU_ASSERT_EQUAL(w.kind, ALIAS_TARGET_REMOTE);
	CU_ASSERT_EQUAL(walk(dbp, "chain1", &s, &w), ALIAS_WALK_UNBUILT);
	CU_ASSERT_EQUAL(w.kind, ALIAS_TARGET_REMOTE);
	CU_ASSERT_STRING_EQUAL(s.names, "alice ");
	CU_ASSERT_EQUAL(walk(dbp, "pipe", &s, &w), ALIAS_WALK_UNBUILT);
	CU_ASSERT_EQUAL(w.kind, ALIAS_TARGET_COMMAND);
	CU_ASSERT_EQUAL(walk(dbp, "deep1", &s, &w), ALIAS_WALK_DEEP);
	CU_ASSERT_EQUAL(walk(dbp, "deep3", &s, &w), ALIAS_WALK_UNBUILT);
	CU_ASSERT_EQUAL(walk("/nonexistent/a.db", "team", &s, &w),
	    ALIAS_WALK_NODB);
	/* No database: the name is the only one. */
	CU_ASSERT_EQUAL(walk(NULL, "team", &s, &w), ALIAS_WALK_OK);
	CU_ASSERT_STRING_EQUAL(s.names, "team ");

	/* The callback ends the walk at a name that is no mailbox. */
	memset(&s, 0, sizeof(s));
	s.refuse = "carol";
	CU_ASSERT_EQUAL(aliases_walk(cfg, dbp, "team", see, &s, &w),
	    ALIAS_WALK_STOPPED);
	CU_ASSERT_STRING_EQUAL(w.name, "carol");
	CU_ASSERT_STRING_EQUAL(s.names, "alice bob ");
}

/* Tables another program may have built, and very wide aliases. */
static void
test_walk_odd_tables(void)
{
	struct alias_walk w;
	struct seen s;
	char *errs = NULL, *text, *p, reason[256];
	size_t i, len;
	DB *db;
	DBT key, val;
	FILE *f;

	/* Written by hand: compile refuses both. */
	unlink(dbp);
	CU_ASSERT_EQUAL_FATAL(db_create(&db, NULL, 0), 0);
	CU_ASSERT_EQUAL_FATAL(db->open(db, NULL, dbp, NULL, DB_HASH,
	    DB_CREATE, 0644), 0);
	memset(&key, 0, sizeof(key));
	memset(&val, 0, sizeof(val));
	key.data = (char *)"bad";
	key.size = 4;
	val.data = (char *)"alice, @example.test";
	val.size = 21;
	CU_ASSERT_EQUAL(db->put(db, NULL, &key, &val, 0), 0);
	key.data = (char *)"empty";
	key.size = 6;
	val.data = (char *)" , ";
	val.size = 4;
	CU_ASSERT_EQUAL(db->put(db, NULL, &key, &val, 0), 0);
	db->close(db, 0);
	CU_ASSERT_EQUAL(walk(dbp, "bad", &s, &w), ALIAS_WALK_BADTARGET);
	CU_ASSERT_STRING_EQUAL(w.name, "bad");
	CU_ASSERT_STRING_EQUAL(aliases_walk_reason(ALIAS_WALK_BADTARGET, &w,
	    reason, sizeof(reason)), "5.1.1");
	CU_ASSERT_STRING_EQUAL(reason, "alias bad has an invalid target");
	CU_ASSERT_EQUAL(walk(dbp, "empty", &s, &w), ALIAS_WALK_EMPTY);

	/* One name more than a walk may meet. */
	CU_ASSERT_FATAL((f = open_memstream(&text, &len)) != NULL);
	fputs("wide: n0", f);
	for (i = 1; i <= ALIAS_NAMES_MAX; i++)
		fprintf(f, ", n%zu", i);
	fputs("\n", f);
	fclose(f);
	write_src(text);
	free(text);
	CU_ASSERT_FATAL(aliases_compile(src, dbp, cfg, &errs, NULL) == 1);
	CU_ASSERT_EQUAL(walk(dbp, "wide", &s, &w), ALIAS_WALK_WIDE);
	CU_ASSERT_STRING_EQUAL(aliases_walk_reason(ALIAS_WALK_WIDE, &w,
	    reason, sizeof(reason)), "5.3.0");

	/* A file that is there but no database: not "not built". */
	CU_ASSERT_FATAL((f = fopen(dbp, "w")) != NULL);
	fputs("not a database\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(walk(dbp, "wide", &s, &w), ALIAS_WALK_DBERR);
	CU_ASSERT_EQUAL(aliases_lookup(dbp, "wide", &p), -1);
	CU_ASSERT_STRING_EQUAL(aliases_walk_reason(ALIAS_WALK_DBERR, &w,
	    reason, sizeof(reason)), "4.3.0");
	CU_ASSERT_EQUAL(aliases_db_check(dbp, reason, sizeof(reason)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, dbp));
	unlink(dbp);
	CU_ASSERT_EQUAL(aliases_db_check(dbp, reason, sizeof(reason)),
	    ALIASES_NODB);
}

static void
test_missing_source(void)
{
	char *errs = NULL;

	CU_ASSERT_EQUAL(aliases_compile("/nonexistent/aliases",
	    "/nonexistent/aliases.db", cfg, &errs, NULL), -1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(errs);
	CU_ASSERT_PTR_NOT_NULL(strstr(errs, "/nonexistent/aliases: "));
	free(errs);

	errs = NULL;
	write_src("a: b\n");
	CU_ASSERT_EQUAL(aliases_compile(src, "/nonexistent/dir/aliases.db",
	    cfg, &errs, NULL), -1);
	CU_ASSERT_PTR_NOT_NULL(errs);
	free(errs);

	/* Not built yet is told from a database that cannot be read. */
	CU_ASSERT_EQUAL(aliases_lookup("/nonexistent/aliases.db", "a",
	    &errs), ALIASES_NODB);
}

static void
test_db_path(void)
{
	char out[64];

	CU_ASSERT_EQUAL(aliases_db_path("hash:/etc/aliases", out,
	    sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "/etc/aliases.db");
	CU_ASSERT_EQUAL(aliases_db_path("/etc/aliases", out, sizeof(out)),
	    -1);
	CU_ASSERT_EQUAL(aliases_db_path("btree:/etc/aliases", out,
	    sizeof(out)), -1);
	CU_ASSERT_EQUAL(aliases_db_path("hash:relative", out, sizeof(out)),
	    -1);
	CU_ASSERT_EQUAL(aliases_db_path("hash:/a, hash:/b", out,
	    sizeof(out)), -1);
	CU_ASSERT_EQUAL(aliases_db_path("hash:/etc/aliases", out, 15), -1);
}

/* The parser on a buffer, as fuzz_aliases drives it: no file, no DB. */
static void
test_parse_buffer(void)
{
	const char text[] = "a: x\r\nB:\ty,\r\n z\r\n\"c d\": w\0junk\n"
	    "bad: two..dots\nlast: v";
	struct alias_table t;
	char *errs = NULL;
	size_t errlen;
	FILE *ef;

	memset(&t, 0, sizeof(t));
	ef = open_memstream(&errs, &errlen);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ef);
	CU_ASSERT_EQUAL(aliases_parse("buf", text, sizeof(text) - 1, &t, ef),
	    1);
	fclose(ef);
	CU_ASSERT_PTR_NOT_NULL(strstr(errs, "buf:5: alias bad: "));
	CU_ASSERT_EQUAL_FATAL(t.n, 4);
	CU_ASSERT_STRING_EQUAL(t.a[0].name, "a");
	CU_ASSERT_STRING_EQUAL(t.a[1].name, "b");
	CU_ASSERT_STRING_EQUAL(t.a[1].value, "y, z");
	CU_ASSERT_EQUAL(t.a[1].line, 2);
	/* A NUL ends the line's text, as getline() and strlen() saw it. */
	CU_ASSERT_STRING_EQUAL(t.a[2].name, "c d");
	CU_ASSERT_STRING_EQUAL(t.a[2].value, "w");
	CU_ASSERT_STRING_EQUAL(t.a[3].name, "last");
	CU_ASSERT_EQUAL(t.a[3].line, 6);
	aliases_table_free(&t);
	CU_ASSERT_EQUAL(t.n, 0);
	free(errs);

	CU_ASSERT_EQUAL(aliases_parse("buf", "x y\n", 4, &t, NULL), 1);
	CU_ASSERT_EQUAL(t.n, 0);
	aliases_table_free(&t);
}

static CU_TestInfo tests[] = {
	{ "compile and look up", test_compile_lookup },
	{ "keys and values end in NUL", test_key_format },
	{ "refused targets and lines", test_refused },
	{ "missing files", test_missing_source },
	{ "targets not built yet", test_unbuilt },
	{ "target kinds", test_target_kind },
	{ "walk the aliases", test_walk },
	{ "walk odd tables", test_walk_odd_tables },
	{ "database path", test_db_path },
	{ "parse a buffer", test_parse_buffer },
	CU_TEST_INFO_NULL
};

int
main(void)
{
	return unit_run_fixture("aliases", suite_init, suite_clean, tests);
}
