/*
 * Envelope address parsing (util/addr.c): a built-in table of paths, the
 * stored forms, the limits, and the shared isemail corpus when present.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "unit.h"

struct addr_case {
	const char	*path;
	int		 allow_null;
	enum addr_error	 want;
	const char	*formatted;	/* addr_format() on success, or NULL */
};

static const struct addr_case cases[] = {
	{ "<user@example.org>", 0, ADDR_OK, "user@example.org" },
	{ "<>", 1, ADDR_OK, "" },
	{ "<>", 0, ADDR_ERR_SYNTAX, NULL },
	{ "<Postmaster>", 0, ADDR_OK, "Postmaster" },
	{ "<pOsTmAsTeR>", 0, ADDR_OK, "pOsTmAsTeR" },
	{ "<Postmaster>", 1, ADDR_ERR_SYNTAX, NULL },
	{ "<someone>", 0, ADDR_ERR_SYNTAX, NULL },
	{ "<@a.example,@b.example:user@example.org>", 0, ADDR_OK,
	    "user@example.org" },
	{ "<@a.example:user@example.org>", 1, ADDR_OK, "user@example.org" },
	{ "<@a.example user@example.org>", 0, ADDR_ERR_SYNTAX, NULL },
	{ "<@[1.2.3.4]:user@example.org>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<\"john doe\"@example.org>", 0, ADDR_OK,
	    "\"john doe\"@example.org" },
	{ "<\"joe\"@example.org>", 0, ADDR_OK, "joe@example.org" },
	{ "<\"j\\oe\"@example.org>", 0, ADDR_OK, "joe@example.org" },
	/* A quoted-pair of a character that needs no quoting is just it. */
	{ "<\"a\\.b\"@example.test>", 0, ADDR_OK, "a.b@example.test" },
	{ "<\"\\a\\.\\b\"@example.test>", 0, ADDR_OK, "a.b@example.test" },
	{ "<\"a\\ b\"@example.test>", 0, ADDR_OK, "\"a b\"@example.test" },
	{ "<\"a\\\\b\"@example.test>", 0, ADDR_OK, "\"a\\\\b\"@example.test" },
	{ "<\"a\\..b\"@example.test>", 0, ADDR_OK, "\"a..b\"@example.test" },
	{ "<\"a\\\"b\"@example.org>", 0, ADDR_OK, "\"a\\\"b\"@example.org" },
	{ "<\"@\"@example.org>", 0, ADDR_OK, "\"@\"@example.org" },
	{ "<\"\"@example.org>", 0, ADDR_OK, "\"\"@example.org" },
	{ "<\"a..b\"@example.org>", 0, ADDR_OK, "\"a..b\"@example.org" },
	{ "<\"unterminated@example.org>", 0, ADDR_ERR_LOCAL, NULL },
	{ "<\"tab\there\"@example.org>", 0, ADDR_ERR_LOCAL, NULL },
	{ "<first.last+tag@Sub.Example.ORG>", 0, ADDR_OK,
	    "first.last+tag@Sub.Example.ORG" },
	{ "<!#$%&'*+-/=?^_`{|}~@example.org>", 0, ADDR_OK,
	    "!#$%&'*+-/=?^_`{|}~@example.org" },
	{ "<user@[192.0.2.1]>", 0, ADDR_OK, "user@[192.0.2.1]" },
	{ "<user@[300.1.1.1]>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@[01.2.3.4]>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@[1.2.3]>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@[192.0.2.1>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@[IPv6:2001:db8::1]>", 0, ADDR_OK, "user@[IPv6:2001:db8::1]" },
	{ "<user@[ipv6:2001:db8::1]>", 0, ADDR_OK, "user@[ipv6:2001:db8::1]" },
	{ "<user@[IPv6:2001:db8:0:0:0:0:0:1]>", 0, ADDR_OK, NULL },
	{ "<user@[IPv6:::ffff:192.0.2.1]>", 0, ADDR_OK, NULL },
	{ "<user@[IPv6:1:2:3:4:5:6:192.0.2.1]>", 0, ADDR_OK, NULL },
	{ "<user@[IPv6:1:2:3:4:5:192.0.2.1]>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@[IPv6:1:2:3:4:5::192.0.2.1]>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@[IPv6:1:2:3:4::192.0.2.1]>", 0, ADDR_OK, NULL },
	{ "<user@[IPv6:1:2:3:4:5:6::8]>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@[IPv6:1:2:3:4:5::8]>", 0, ADDR_OK, NULL },
	{ "<user@[IPv6:::]>", 0, ADDR_OK, NULL },
	{ "<user@[IPv6::1]>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@[IPv6:1::2:]>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@[IPv6:1::2::3]>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@[IPv6:2001:db8::g]>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@[2001:db8::1]>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@[tag:general]>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@[192.0.2.1]x>", 0, ADDR_ERR_SYNTAX, NULL },
	{ "<no-at-sign>", 0, ADDR_ERR_SYNTAX, NULL },
	{ "<two@@example.org>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<.dot-first@example.org>", 0, ADDR_ERR_LOCAL, NULL },
	{ "<dot-last.@example.org>", 0, ADDR_ERR_LOCAL, NULL },
	{ "<two..dots@example.org>", 0, ADDR_ERR_LOCAL, NULL },
	{ "<space in@example.org>", 0, ADDR_ERR_SYNTAX, NULL },
	{ "<user@-example.org>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@example-.org>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@example..org>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@example.org.>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<user@exa_mple.org>", 0, ADDR_ERR_SYNTAX, NULL },
	{ "<user@123.45>", 0, ADDR_OK, "user@123.45" },
	{ "<user@com>", 0, ADDR_OK, "user@com" },
	{ "<user@>", 0, ADDR_ERR_DOMAIN, NULL },
	{ "<@example.org>", 0, ADDR_ERR_SYNTAX, NULL },
	{ "<user@example.org", 0, ADDR_ERR_SYNTAX, NULL },
	{ "user@example.org", 0, ADDR_ERR_SYNTAX, NULL },
	{ "", 0, ADDR_ERR_SYNTAX, NULL },
	{ "<", 1, ADDR_ERR_SYNTAX, NULL },
	{ "<us\xc3\xa9r@example.org>", 0, ADDR_ERR_LOCAL, NULL },
	{ "<\"us\xc3\xa9r\"@example.org>", 0, ADDR_ERR_LOCAL, NULL },
	{ "<user@ex\xc3\xa9mple.org>", 0, ADDR_ERR_SYNTAX, NULL },
	{ "<user(comment)@example.org>", 0, ADDR_ERR_SYNTAX, NULL },
};

static void
test_table(void)
{
	char out[ADDR_PATH_MAX + 8];
	struct mailaddr ma;
	enum addr_error err;
	size_t i, end;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct addr_case *c = &cases[i];

		end = 0;
		err = addr_parse_path(c->path, strlen(c->path), &end,
		    c->allow_null, &ma);
		if (err != c->want)
			fprintf(stderr, "\n  %s (null %d): got error %d, "
			    "want %d\n", c->path, c->allow_null, (int)err,
			    (int)c->want);
		CU_ASSERT_EQUAL(err, c->want);
		if (err != ADDR_OK || c->want != ADDR_OK)
			continue;
		CU_ASSERT_EQUAL(end, strlen(c->path));
		CU_ASSERT_EQUAL(addr_format(&ma, out, sizeof(out)), 0);
		if (c->formatted != NULL)
			CU_ASSERT_STRING_EQUAL(out, c->formatted);
	}
}

static void
test_flags_and_end(void)
{
	const char *s = "<Postmaster> SIZE=10";
	struct mailaddr ma;
	size_t end = 0;

	CU_ASSERT_EQUAL(addr_parse_path(s, strlen(s), &end, 0, &ma), ADDR_OK);
	CU_ASSERT_EQUAL(end, 12);
	CU_ASSERT(ma.is_postmaster);
	CU_ASSERT(!ma.is_null);

	s = "<> BODY=8BITMIME";
	CU_ASSERT_EQUAL(addr_parse_path(s, strlen(s), &end, 1, &ma), ADDR_OK);
	CU_ASSERT_EQUAL(end, 2);
	CU_ASSERT(ma.is_null);

	s = "<Postmaster@Example.ORG>";
	CU_ASSERT_EQUAL(addr_parse_path(s, strlen(s), &end, 0, &ma), ADDR_OK);
	CU_ASSERT(!ma.is_postmaster);

	/* len bounds the parse: the '>' beyond it is not seen */
	s = "<a@b.example>";
	CU_ASSERT_EQUAL(addr_parse_path(s, strlen(s) - 1, &end, 0, &ma),
	    ADDR_ERR_SYNTAX);
}

/* The domain keeps its case; a short buffer is refused, not cut. */
static void
test_domain_case(void)
{
	const char *s = "<u@Sub.EXAMPLE.org>";
	char small[4];
	struct mailaddr ma;
	size_t end;

	CU_ASSERT_EQUAL(addr_parse_path(s, strlen(s), &end, 0, &ma), ADDR_OK);
	CU_ASSERT_STRING_EQUAL(ma.domain, "Sub.EXAMPLE.org");
	CU_ASSERT_EQUAL(addr_format(&ma, small, sizeof(small)), -1);
}

static enum addr_error
parse_built(const char *local, const char *domain, size_t *pathlen)
{
	char path[2048];
	struct mailaddr ma;
	size_t end;

	snprintf(path, sizeof(path), "<%s@%s>", local, domain);
	*pathlen = strlen(path);
	return addr_parse_path(path, *pathlen, &end, 0, &ma);
}

static void
test_limits(void)
{
	char local[80], label[70], domain[600], quoted[80];
	size_t n;

	memset(local, 'x', 64);
	local[64] = '\0';
	CU_ASSERT_EQUAL(parse_built(local, "example.org", &n), ADDR_OK);
	local[64] = 'x';
	local[65] = '\0';
	CU_ASSERT_EQUAL(parse_built(local, "example.org", &n),
	    ADDR_ERR_TOOLONG);

	/* 64 octets with the quotes, and one more */
	quoted[0] = '"';
	memset(quoted + 1, ' ', 62);
	quoted[63] = '"';
	quoted[64] = '\0';
	CU_ASSERT_EQUAL(parse_built(quoted, "example.org", &n), ADDR_OK);
	memset(quoted + 1, ' ', 63);
	quoted[64] = '"';
	quoted[65] = '\0';
	CU_ASSERT_EQUAL(parse_built(quoted, "example.org", &n),
	    ADDR_ERR_TOOLONG);

	memset(label, 'a', 63);
	label[63] = '\0';
	CU_ASSERT_EQUAL(parse_built("u", label, &n), ADDR_OK);
	label[63] = 'a';
	label[64] = '\0';
	CU_ASSERT_EQUAL(parse_built("u", label, &n), ADDR_ERR_DOMAIN);
	label[63] = '\0';

	/* 4 x 63 + 3 dots = 255: the longest domain; path "<u@...>" 259 */
	snprintf(domain, sizeof(domain), "%s.%s.%s.%s", label, label, label,
	    label);
	CU_ASSERT_EQUAL(strlen(domain), 255);
	CU_ASSERT_EQUAL(parse_built("u", domain, &n), ADDR_ERR_TOOLONG);
	/* 256 octets in labels of 50 */
	snprintf(domain, sizeof(domain), "%.50s.%.50s.%.50s.%.50s.%.50s.a",
	    label, label, label, label, label);
	CU_ASSERT_EQUAL(strlen(domain), 256);
	CU_ASSERT_EQUAL(parse_built("u", domain, &n), ADDR_ERR_TOOLONG);

	/* Path of exactly 256 octets, then 257. */
	snprintf(domain, sizeof(domain), "%s.%s.%s.%.*s", label, label, label,
	    60, label);
	CU_ASSERT_EQUAL(parse_built("u", domain, &n), ADDR_OK);
	CU_ASSERT_EQUAL(n, 256);
	CU_ASSERT_EQUAL(parse_built("uu", domain, &n), ADDR_ERR_TOOLONG);
	CU_ASSERT_EQUAL(n, 257);
}

/* Undo the C escapes of the corpus's address_bytes column. */
static size_t
unescape(const char *in, char *out, size_t outlen)
{
	size_t n = 0;
	unsigned v;

	while (*in != '\0' && n < outlen) {
		if (*in != '\\') {
			out[n++] = *in++;
			continue;
		}
		in++;
		switch (*in) {
		case 't':
			out[n++] = '\t';
			break;
		case 'r':
			out[n++] = '\r';
			break;
		case 'n':
			out[n++] = '\n';
			break;
		case 'x':
			if (sscanf(in + 1, "%2x", &v) != 1)
				return (size_t)-1;
			out[n++] = (char)v;
			in += 2;
			break;
		case '\\':
			out[n++] = '\\';
			break;
		default:
			return (size_t)-1;
		}
		in++;
	}
	return n;
}

/*
 * Every row of addresses.tsv, as a forward-path "<address>": accepted
 * exactly when rfc5321_valid says "yes".  No row is skipped.  The rows
 * about RFC 5322 header syntax (ISEMAIL_CFWS comments and folding white
 * space, ISEMAIL_DEPREC obsolete forms, ISEMAIL_RFC5322 domain literals
 * and lengths) have rfc5321_valid "no", which is also the envelope's
 * verdict: none of them may appear in a MAIL or RCPT path as written.
 * The empty address (tests.xml 1) would be the null reverse-path in MAIL;
 * as a forward-path it is refused, which is what the row says.  The
 * DNSWARN rows are checked for syntax only (no DNS here).
 */
static void
test_shared_corpus(void)
{
	const char *dir = unit_shared_corpus();
	char path[1024], line[8192], addr[4096], wrapped[4200];
	char *f[9], *p;
	struct mailaddr ma;
	size_t n, end, nrows = 0, nwrong = 0;
	int i, ok, want;
	FILE *fp;

	if (dir == NULL) {
		fprintf(stderr, "\n  no shared corpus: built-in table only\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/addresses.tsv", dir);
	/* A corpus that is there but unreadable is a failure, not a skip. */
	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "\n  %s: cannot open\n", path);
		CU_FAIL("the shared corpus is configured but cannot be read");
		return;
	}
	CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof(line), fp));	/* header */
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		p = line;
		for (i = 0; i < 9; i++)
			f[i] = strsep(&p, "\t");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f[6]);
		n = unescape(f[3], addr, sizeof(addr));
		CU_ASSERT_FATAL(n != (size_t)-1);
		want = strcmp(f[5], "yes") == 0;
		wrapped[0] = '<';
		memcpy(wrapped + 1, addr, n);
		wrapped[n + 1] = '>';
		ok = addr_parse_path(wrapped, n + 2, &end, 0, &ma) == ADDR_OK &&
		    end == n + 2;
		if (ok != want) {
			fprintf(stderr, "\n  %s#%s %s (%s): %s, want %s", f[0],
			    f[1], f[3], f[6], ok ? "accepted" : "refused",
			    want ? "accepted" : "refused");
			nwrong++;
		}
		nrows++;
	}
	fclose(fp);
	CU_ASSERT_EQUAL(nwrong, 0);
	CU_ASSERT(nrows >= 443);
}

static CU_TestInfo tests[] = {
	{ "built-in table", test_table },
	{ "flags and end", test_flags_and_end },
	{ "domain keeps its case", test_domain_case },
	{ "length limits", test_limits },
	{ "shared isemail corpus", test_shared_corpus },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("addr", tests)
