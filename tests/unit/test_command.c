/*
 * The SMTP command parser: every verb, the EHLO keywords, MAIL and RCPT
 * parameters and their errors, the limits, sequence errors and the
 * policy round trip, each checked on the reply code, the enhanced status
 * code and the action the session is told to take.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "unit.h"

#include "smtpd/command.h"

#define HOST	"mx.example.test"

static struct smtp_state st;
static struct cmd_reply r;

static void
setup(uint64_t size_limit, size_t rcpt_limit)
{
	struct smtp_params p;

	memset(&p, 0, sizeof(p));
	p.hostname = HOST;
	p.size_limit = size_limit;
	p.rcpt_limit = rcpt_limit;
	cmd_state_init(&st, &p);
}

static void
run(const char *line)
{
	cmd_execute(&st, line, strlen(line), &r);
}

/* The last reply line starts with code and enhanced status. */
static int
is(int code, const char *enhanced)
{
	const char *last = r.text, *p;
	char want[32];

	if (r.code != code || r.len == 0 || r.len != strlen(r.text))
		return 0;
	if (r.len < 2 || memcmp(r.text + r.len - 2, "\r\n", 2) != 0)
		return 0;
	/* Find the start of the last line. */
	for (p = r.text; p < r.text + r.len - 2; p++)
		if (p[0] == '\n')
			last = p + 1;
	if (enhanced == NULL)
		return 1;
	snprintf(want, sizeof(want), "%d %s ", code, enhanced);
	return strncmp(last, want, strlen(want)) == 0;
}

static void
helo_ehlo(void)
{
	run("EHLO client.example");
	CU_ASSERT_EQUAL(r.code, 250);
	CU_ASSERT_EQUAL(st.helo_mode, SMTP_HELO_EHLO);
}

/* MAIL accepted by the policy. */
static void
mail_ok(const char *line)
{
	run(line);
	CU_ASSERT_EQUAL_FATAL(r.action, CMD_POLICY_MAIL);
	CU_ASSERT_EQUAL(r.code, 0);
	cmd_verdict(&st, 250, "2.1.0 Ok", "", &r);
	CU_ASSERT(is(250, "2.1.0"));
	CU_ASSERT(st.has_mail);
}

static void
rcpt_ok(const char *line)
{
	run(line);
	CU_ASSERT_EQUAL_FATAL(r.action, CMD_POLICY_RCPT);
	cmd_verdict(&st, 250, "2.1.5 Ok", "", &r);
	CU_ASSERT(is(250, "2.1.5"));
}

static void
test_ehlo_keywords(void)
{
	setup(10240000, 100);
	helo_ehlo();
	CU_ASSERT_EQUAL(r.action, CMD_REPLY);
	CU_ASSERT_STRING_EQUAL(r.text, "250-" HOST "\r\n"
	    "250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
	    "250 ENHANCEDSTATUSCODES\r\n");
	CU_ASSERT_STRING_EQUAL(st.helo, "client.example");
	cmd_state_free(&st);

	/* The limit as configured, over 32 bits too. */
	setup(4294967296ULL, 100);
	helo_ehlo();
	CU_ASSERT_PTR_NOT_NULL(strstr(r.text, "250-SIZE 4294967296\r\n"));
	cmd_state_free(&st);
}

static void
test_helo(void)
{
	setup(0, 100);
	run("HELO client.example");
	CU_ASSERT(is(250, NULL));
	CU_ASSERT_STRING_EQUAL(r.text, "250 " HOST "\r\n");
	CU_ASSERT_EQUAL(st.helo_mode, SMTP_HELO_HELO);
	run("HELO");
	CU_ASSERT(is(501, "5.5.4"));
	run("EHLO");
	CU_ASSERT(is(501, "5.5.4"));
	run("HELO two words");
	CU_ASSERT(is(501, "5.5.4"));
	run("EHLO bad\x01name");
	CU_ASSERT(is(501, "5.5.4"));
	/* The name stays the one of the last good HELO. */
	CU_ASSERT_STRING_EQUAL(st.helo, "client.example");
	/* Case does not matter, trailing blanks are no argument. */
	run("ehlo Other.Example  ");
	CU_ASSERT_EQUAL(r.code, 250);
	CU_ASSERT_STRING_EQUAL(st.helo, "Other.Example");
	cmd_state_free(&st);
}

static void
test_sequence_errors(void)
{
	setup(0, 100);
	run("MAIL FROM:<a@example.org>");
	CU_ASSERT(is(503, "5.5.1"));
	run("RCPT TO:<b@example.org>");
	CU_ASSERT(is(503, "5.5.1"));
	run("DATA");
	CU_ASSERT(is(503, "5.5.1"));
	helo_ehlo();
	run("RCPT TO:<b@example.org>");
	CU_ASSERT(is(503, "5.5.1"));
	run("DATA");
	CU_ASSERT(is(503, "5.5.1"));
	mail_ok("MAIL FROM:<a@example.org>");
	run("MAIL FROM:<a@example.org>");
	CU_ASSERT(is(503, "5.5.1"));
	/* No RCPT sent at all: a sequence error. */
	run("DATA");
	CU_ASSERT(is(503, "5.5.1"));
	CU_ASSERT_EQUAL(r.action, CMD_REPLY);
	/* RCPTs sent, none accepted: 554. */
	run("RCPT TO:<b@example.org>");
	cmd_verdict(&st, 550, "5.1.1 No such user", "", &r);
	run("RCPT TO:<bad address>");
	CU_ASSERT(is(501, "5.1.3"));
	run("DATA");
	CU_ASSERT(is(554, "5.5.1"));
	CU_ASSERT_EQUAL(r.action, CMD_REPLY);
	/* A new transaction starts without RCPT again. */
	run("RSET");
	mail_ok("MAIL FROM:<a@example.org>");
	run("DATA");
	CU_ASSERT(is(503, "5.5.1"));
	cmd_state_free(&st);
}

static void
test_mail_rcpt_data(void)
{
	setup(0, 100);
	helo_ehlo();
	run("MAIL FROM:<a@example.org>");
	CU_ASSERT_EQUAL(r.action, CMD_POLICY_MAIL);
	CU_ASSERT_EQUAL(r.verb, VERB_MAIL);
	CU_ASSERT_STRING_EQUAL(st.pending, "a@example.org");
	CU_ASSERT_EQUAL(st.pending_verb, VERB_MAIL);
	CU_ASSERT(!st.has_mail);
	/* The policy rewrites the sender. */
	cmd_verdict(&st, 250, "2.1.0 Ok", "user@example.test", &r);
	CU_ASSERT(is(250, "2.1.0"));
	CU_ASSERT_STRING_EQUAL(st.sender, "user@example.test");
	CU_ASSERT_EQUAL(st.pending_verb, -1);

	rcpt_ok("RCPT TO:<b@example.test>");
	run("rcpt to:<C@Example.Test>");
	CU_ASSERT_EQUAL(r.action, CMD_POLICY_RCPT);
	cmd_verdict(&st, 550, "5.1.1 No such user", "", &r);
	CU_ASSERT(is(550, "5.1.1"));
	CU_ASSERT_EQUAL(st.nrcpt, 1);
	CU_ASSERT_STRING_EQUAL(st.rcpt[0], "b@example.test");

	run("DATA now");
	CU_ASSERT(is(501, "5.5.4"));
	run("DATA");
	CU_ASSERT_EQUAL(r.action, CMD_DATA);
	CU_ASSERT_EQUAL(r.verb, VERB_DATA);
	CU_ASSERT_EQUAL(r.code, 0);
	cmd_data_reply(&st, 250);
	cmd_txn_reset(&st);
	CU_ASSERT(!st.has_mail);
	CU_ASSERT_EQUAL(st.nrcpt, 0);
	cmd_state_free(&st);
}

static void
test_null_sender_and_postmaster(void)
{
	setup(0, 100);
	helo_ehlo();
	mail_ok("MAIL FROM:<>");
	CU_ASSERT_STRING_EQUAL(st.sender, "");
	run("RCPT TO:<>");
	CU_ASSERT(is(501, "5.1.3"));
	cmd_state_free(&st);
}

static void
test_mail_params(void)
{
	setup(1000, 100);
	helo_ehlo();
	/* At the limit: on to the policy, which accepts. */
	run("MAIL FROM:<a@example.org> SIZE=1000 BODY=8BITMIME");
	CU_ASSERT_EQUAL(r.action, CMD_POLICY_MAIL);
	CU_ASSERT_EQUAL(r.code, 0);
	cmd_verdict(&st, 250, "2.1.0 Ok", "", &r);
	CU_ASSERT(is(250, "2.1.0"));
	CU_ASSERT(st.has_mail);
	run("RSET");
	CU_ASSERT(is(250, "2.0.0"));
	CU_ASSERT(!st.has_mail);

	run("MAIL FROM:<a@example.org> size=1001");
	CU_ASSERT(is(552, "5.3.4"));
	/* RFC 1870: 1 to 20 digits; 20 nines overflow 64 bits. */
	run("MAIL FROM:<a@example.org> SIZE=99999999999999999999");
	CU_ASSERT(is(552, "5.3.4"));
	run("MAIL FROM:<a@example.org> SIZE=999999999999999999999");
	CU_ASSERT(is(501, "5.5.4"));
	run("MAIL FROM:<a@example.org> SIZE=000000000000000000001");
	CU_ASSERT(is(501, "5.5.4"));
	run("MAIL FROM:<a@example.org> SIZE=99999999999999999999999");
	CU_ASSERT(is(501, "5.5.4"));
	run("MAIL FROM:<a@example.org> SIZE=12x");
	CU_ASSERT(is(501, "5.5.4"));
	run("MAIL FROM:<a@example.org> SIZE=");
	CU_ASSERT(is(501, "5.5.4"));
	/* A parameter given twice. */
	run("MAIL FROM:<a@example.org> SIZE=10 SIZE=10");
	CU_ASSERT(is(501, "5.5.4"));
	run("MAIL FROM:<a@example.org> BODY=7BIT SIZE=10 body=8BITMIME");
	CU_ASSERT(is(501, "5.5.4"));
	run("MAIL FROM:<a@example.org> BODY=8BITMIME BODY=8BITMIME");
	CU_ASSERT(is(501, "5.5.4"));
	CU_ASSERT(!st.has_mail);
	CU_ASSERT_EQUAL(st.pending_verb, -1);
	/* 20 digits with leading zeros: 100, under the limit. */
	run("MAIL FROM:<a@example.org> SIZE=00000000000000000100");
	CU_ASSERT_EQUAL(r.action, CMD_POLICY_MAIL);
	CU_ASSERT_EQUAL(r.code, 0);
	cmd_policy_unavailable(&st, &r);
	run("MAIL FROM:<a@example.org> SIZE=00000000000000001001");
	CU_ASSERT(is(552, "5.3.4"));
	run("MAIL FROM:<a@example.org> BODY=BINARYMIME");
	CU_ASSERT(is(555, "5.5.4"));
	run("MAIL FROM:<a@example.org> AUTH=<>");
	CU_ASSERT(is(555, "5.5.4"));
	run("MAIL FROM:<a@example.org> body=7bit");
	CU_ASSERT_EQUAL(r.action, CMD_POLICY_MAIL);
	CU_ASSERT_EQUAL(r.code, 0);
	cmd_policy_unavailable(&st, &r);
	CU_ASSERT(is(451, "4.3.0"));
	CU_ASSERT(!st.has_mail);
	CU_ASSERT_EQUAL(st.pending_verb, -1);
	cmd_state_free(&st);
}

/* After HELO no service extension is in effect (RFC 5321 4.1.1.1). */
static void
test_mail_params_helo(void)
{
	setup(1000, 100);
	run("HELO client.example");
	CU_ASSERT_EQUAL(r.code, 250);
	run("MAIL FROM:<a@b.c> SIZE=100");
	CU_ASSERT(is(555, "5.5.4"));
	run("MAIL FROM:<a@b.c> BODY=8BITMIME");
	CU_ASSERT(is(555, "5.5.4"));
	run("MAIL FROM:<a@b.c> BODY=7BIT");
	CU_ASSERT(is(555, "5.5.4"));
	CU_ASSERT(!st.has_mail);
	CU_ASSERT_EQUAL(st.pending_verb, -1);
	mail_ok("MAIL FROM:<a@b.c>");
	cmd_state_free(&st);
}

static int
local_domain(const void *arg, const char *domain)
{
	CU_ASSERT_PTR_EQUAL(arg, &st);
	return strcasecmp(domain, "example.test") == 0;
}

/* One RCPT for the transaction; 250 with no policy query. */
static void
rcpt_dup(const char *line, size_t nrcpt)
{
	run(line);
	CU_ASSERT(is(250, "2.1.5"));
	CU_ASSERT_EQUAL(r.action, CMD_REPLY);
	CU_ASSERT_EQUAL(st.nrcpt, nrcpt);
}

/*
 * A recipient given twice is recorded once: domains compare without
 * case, local parts too in our domains (mailbox names are lower-cased)
 * but not elsewhere.
 */
static void
test_duplicate_rcpt(void)
{
	setup(0, 100);
	st.p.local_domain = local_domain;
	st.p.local_arg = &st;
	helo_ehlo();
	mail_ok("MAIL FROM:<a@example.org>");
	rcpt_ok("RCPT TO:<dup@example.test>");
	rcpt_dup("RCPT TO:<dup@example.test>", 1);
	rcpt_dup("RCPT TO:<DUP@Example.Test>", 1);
	rcpt_dup("RCPT TO:<@relay.example:Dup@EXAMPLE.test>", 1);
	rcpt_ok("RCPT TO:<User@remote.example>");
	rcpt_dup("RCPT TO:<User@REMOTE.Example>", 2);
	rcpt_ok("RCPT TO:<user@remote.example>");
	CU_ASSERT_EQUAL(st.nrcpt, 3);
	rcpt_ok("RCPT TO:<dup@other.example>");
	rcpt_ok("RCPT TO:<Postmaster>");
	rcpt_dup("RCPT TO:<postmaster>", 5);
	CU_ASSERT_STRING_EQUAL(st.rcpt[0], "dup@example.test");
	CU_ASSERT_STRING_EQUAL(st.rcpt[1], "User@remote.example");
	CU_ASSERT_STRING_EQUAL(st.rcpt[2], "user@remote.example");
	cmd_state_free(&st);

	/* Without the callback every domain is remote. */
	setup(0, 100);
	helo_ehlo();
	mail_ok("MAIL FROM:<a@example.org>");
	rcpt_ok("RCPT TO:<dup@example.test>");
	rcpt_dup("RCPT TO:<dup@EXAMPLE.TEST>", 1);
	rcpt_ok("RCPT TO:<Dup@example.test>");
	CU_ASSERT_EQUAL(st.nrcpt, 2);
	/* A new transaction starts afresh. */
	run("RSET");
	mail_ok("MAIL FROM:<a@example.org>");
	rcpt_ok("RCPT TO:<dup@example.test>");
	CU_ASSERT_EQUAL(st.nrcpt, 1);
	cmd_state_free(&st);

	/* A repeat counts once toward the recipient limit. */
	setup(0, 2);
	helo_ehlo();
	mail_ok("MAIL FROM:<a@example.org>");
	rcpt_ok("RCPT TO:<r1@example.test>");
	rcpt_ok("RCPT TO:<r2@example.test>");
	rcpt_dup("RCPT TO:<r1@example.test>", 2);
	run("RCPT TO:<r3@example.test>");
	CU_ASSERT(is(452, "4.5.3"));
	CU_ASSERT_EQUAL(st.nrcpt, 2);
	cmd_state_free(&st);
}

static void
test_path_errors(void)
{
	setup(0, 100);
	helo_ehlo();
	run("MAIL TO:<a@example.org>");
	CU_ASSERT(is(501, "5.5.4"));
	run("MAIL");
	CU_ASSERT(is(501, "5.5.4"));
	run("MAIL FROM:a@example.org");
	CU_ASSERT(is(501, "5.1.3"));
	run("MAIL FROM:<a@example.org");
	CU_ASSERT(is(501, "5.1.3"));
	run("MAIL FROM:<a@@example.org>");
	CU_ASSERT(is(501, "5.1.3"));
	run("MAIL FROM:<a@example.org>junk");
	CU_ASSERT(is(501, "5.1.3"));
	/* A blank after the colon is tolerated. */
	run("MAIL FROM: <a@example.org>");
	CU_ASSERT_EQUAL(r.action, CMD_POLICY_MAIL);
	cmd_verdict(&st, 250, "2.1.0 Ok", "", &r);
	run("RCPT FROM:<b@example.org>");
	CU_ASSERT(is(501, "5.5.4"));
	run("RCPT TO:<b@example.org> NOTIFY=NEVER");
	CU_ASSERT(is(555, "5.5.4"));
	run("RCPT TO:<b@exa mple.org>");
	CU_ASSERT(is(501, "5.1.3"));
	CU_ASSERT_EQUAL(st.nrcpt, 0);
	cmd_state_free(&st);
}

static void
test_rcpt_limit(void)
{
	setup(0, 3);
	helo_ehlo();
	mail_ok("MAIL FROM:<a@example.org>");
	rcpt_ok("RCPT TO:<r1@example.test>");
	rcpt_ok("RCPT TO:<r2@example.test>");
	rcpt_ok("RCPT TO:<r3@example.test>");
	run("RCPT TO:<r4@example.test>");
	CU_ASSERT(is(452, "4.5.3"));
	CU_ASSERT_EQUAL(r.action, CMD_REPLY);
	CU_ASSERT_EQUAL(st.nrcpt, 3);
	CU_ASSERT_STRING_EQUAL(st.rcpt[2], "r3@example.test");
	cmd_state_free(&st);
}

static void
test_policy_refusal_text(void)
{
	setup(0, 100);
	helo_ehlo();
	run("MAIL FROM:<a@example.org>");
	/* Out-of-range codes turn into 451; control bytes are blanked. */
	cmd_verdict(&st, 199, "4.7.1 odd\r\nX", "", &r);
	CU_ASSERT(is(451, "4.7.1"));
	CU_ASSERT_PTR_NULL(strstr(r.text, "\r\nX"));
	run("MAIL FROM:<a@example.org>");
	cmd_verdict(&st, 554, "", "", &r);
	CU_ASSERT(is(554, "5.7.1"));
	CU_ASSERT(!st.has_mail);
	cmd_state_free(&st);
}

static void
test_simple_verbs(void)
{
	setup(0, 100);
	run("NOOP");
	CU_ASSERT(is(250, "2.0.0"));
	run("NOOP anything at all");
	CU_ASSERT(is(250, "2.0.0"));
	run("RSET");
	CU_ASSERT(is(250, "2.0.0"));
	run("RSET now");
	CU_ASSERT(is(501, "5.5.4"));
	/* Nothing was checked: no "destination address valid" code. */
	run("VRFY someone");
	CU_ASSERT(is(252, "2.0.0"));
	run("VRFY");
	CU_ASSERT(is(501, "5.5.4"));
	run("HELP");
	CU_ASSERT(is(214, "2.0.0"));
	run("EXPN list");
	CU_ASSERT(is(502, "5.5.1"));
	run("TURN");
	CU_ASSERT(is(502, "5.5.1"));
	run("BOGUS");
	CU_ASSERT(is(500, "5.5.2"));
	CU_ASSERT_EQUAL(r.verb, VERB_UNKNOWN);
	run("");
	CU_ASSERT(is(500, "5.5.2"));
	run("QUIT now");
	CU_ASSERT(is(501, "5.5.4"));
	run("QUIT");
	CU_ASSERT(is(221, "2.0.0"));
	CU_ASSERT_EQUAL(r.action, CMD_QUIT);
	cmd_state_free(&st);
}

static void
test_line_limits(void)
{
	char line[SMTP_LINE_MAX + 64];

	setup(0, 100);
	helo_ehlo();
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	/*
	 * The longest line the session hands over (its CRLF gone): the
	 * limit itself is the session's (test_session.c).
	 */
	cmd_execute(&st, line, SMTP_LINE_MAX - 2, &r);
	CU_ASSERT(is(250, "2.0.0"));
	cmd_line_too_long(&st, &r);
	CU_ASSERT(is(500, "5.5.2"));
	CU_ASSERT_EQUAL(r.action, CMD_REPLY);
	CU_ASSERT_EQUAL(r.verb, VERB_UNKNOWN);
	/* A NUL byte inside a command line. */
	cmd_execute(&st, "NOOP a\0b", 8, &r);
	CU_ASSERT(is(500, "5.5.2"));
	/* An address longer than RFC 5321 allows. */
	snprintf(line, sizeof(line), "MAIL FROM:<%0*d@example.org>", 70, 0);
	run(line);
	CU_ASSERT(is(501, "5.1.3"));
	cmd_state_free(&st);
}

static void
test_error_limit(void)
{
	int i;

	setup(0, 100);
	/* A good reply in between starts the count again. */
	for (i = 0; i < 3 * SMTP_ERROR_MAX; i++) {
		run(i % 2 ? "RSET" : "BOGUS");
		CU_ASSERT_NOT_EQUAL(r.code, 421);
	}
	for (i = 0; i < SMTP_ERROR_MAX; i++) {
		run("BOGUS");
		CU_ASSERT(is(500, "5.5.2"));
	}
	run("NOOP");
	CU_ASSERT(is(421, "4.7.0"));
	CU_ASSERT_EQUAL(r.action, CMD_CLOSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.text, HOST));
	cmd_state_free(&st);
}

/*
 * The session's final replies to DATA count as the parser's own do: a
 * 5xx is an error in a row, a 4xx is not, a 2xx starts the count again.
 */
static void
test_data_reply_count(void)
{
	char out[256];
	int i;

	setup(1000, 100);
	helo_ehlo();
	mail_ok("MAIL FROM:<a@example.org>");
	rcpt_ok("RCPT TO:<b@example.test>");
	run("DATA");
	CU_ASSERT_EQUAL_FATAL(r.action, CMD_DATA);
	cmd_data_reply(&st, 451);
	for (i = 0; i < SMTP_ERROR_MAX - 1; i++)
		run("BOGUS");
	run("NOOP");
	CU_ASSERT(is(250, "2.0.0"));

	run("DATA");
	cmd_data_reply(&st, 250);
	cmd_txn_reset(&st);
	mail_ok("MAIL FROM:<a@example.org>");
	rcpt_ok("RCPT TO:<b@example.test>");
	run("DATA");
	cmd_data_reply(&st, 552);
	cmd_txn_reset(&st);
	for (i = 0; i < SMTP_ERROR_MAX - 1; i++) {
		run("BOGUS");
		CU_ASSERT(is(500, "5.5.2"));
	}
	run("NOOP");
	CU_ASSERT(is(421, "4.7.0"));
	cmd_counts(&st, out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, " data=1/3 "));
	cmd_state_free(&st);
}

static void
test_verbs_and_groups(void)
{
	/* Verbs in any case, the whole word, within the length given. */
	setup(0, 100);
	cmd_execute(&st, "mail FROM:<>", 12, &r);
	CU_ASSERT_EQUAL(r.verb, VERB_MAIL);
	cmd_execute(&st, "Rcpt", 4, &r);
	CU_ASSERT_EQUAL(r.verb, VERB_RCPT);
	cmd_execute(&st, "MAILX", 5, &r);
	CU_ASSERT_EQUAL(r.verb, VERB_UNKNOWN);
	CU_ASSERT(is(500, "5.5.2"));
	cmd_execute(&st, "DATA", 3, &r);
	CU_ASSERT_EQUAL(r.verb, VERB_UNKNOWN);
	CU_ASSERT(is(500, "5.5.2"));
	cmd_state_free(&st);
	CU_ASSERT_STRING_EQUAL(cmd_verb_name(VERB_EHLO), "EHLO");
	/* RFC 2920 3.1: these must end a pipelined group. */
	CU_ASSERT(cmd_ends_group(VERB_EHLO));
	CU_ASSERT(cmd_ends_group(VERB_HELO));
	CU_ASSERT(cmd_ends_group(VERB_DATA));
	CU_ASSERT(cmd_ends_group(VERB_QUIT));
	CU_ASSERT(cmd_ends_group(VERB_NOOP));
	CU_ASSERT(cmd_ends_group(VERB_VRFY));
	CU_ASSERT(!cmd_ends_group(VERB_MAIL));
	CU_ASSERT(!cmd_ends_group(VERB_RCPT));
	CU_ASSERT(!cmd_ends_group(VERB_RSET));
}

static void
test_counts(void)
{
	char out[256];

	setup(0, 100);
	cmd_counts(&st, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "commands=0");
	helo_ehlo();
	mail_ok("MAIL FROM:<a@example.org>");
	rcpt_ok("RCPT TO:<b@example.test>");
	run("RCPT TO:<c@example.test>");
	cmd_verdict(&st, 550, "5.1.1 No", "", &r);
	run("DATA");
	cmd_data_reply(&st, 250);
	run("QUIT");
	cmd_counts(&st, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "ehlo=1 mail=1 rcpt=1/2 data=1 quit=1 "
	    "commands=5/6");
	cmd_state_free(&st);
}

/* What plainly is not SMTP, and what may still be. */
static void
test_foreign(void)
{
	static const struct {
		const char	*in;
		size_t		 len;
		int		 want;
	} cases[] = {
		{ "EHLO client.test", 16, 0 },
		{ "ehlo client.test", 16, 0 },
		{ "\r\n", 2, 0 },
		{ "", 0, 0 },
		{ "GET / HTTP/1.1", 14, 1 },
		{ "POST /x HTTP/1.0", 16, 1 },
		{ "CONNECT 192.0.2.1:25 HTTP/1.0", 29, 1 },
		{ "OPTIONS * HTTP/1.1", 18, 1 },
		{ "GE", 2, 0 },		/* not yet known */
		{ "GET", 3, 0 },	/* nor here: GETX is a verb */
		{ "GETX", 4, 0 },
		{ "get / HTTP/1.1", 14, 0 },	/* methods are upper case */
		{ "\x16\x03\x01\x02\x00", 5, 1 },	/* a TLS hello */
		{ "\x00\xff", 2, 1 },
		{ "\xc3\xa9HLO x", 7, 1 },
		{ " EHLO x", 7, 1 },
		{ "250 ok", 6, 1 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CU_ASSERT_EQUAL(cmd_foreign(cases[i].in, cases[i].len),
		    cases[i].want);
}

static CU_TestInfo tests[] = {
	{ "non-SMTP input", test_foreign },
	{ "EHLO keywords", test_ehlo_keywords },
	{ "HELO and its argument", test_helo },
	{ "sequence errors 503 5.5.1", test_sequence_errors },
	{ "MAIL, RCPT, DATA with the policy", test_mail_rcpt_data },
	{ "null sender", test_null_sender_and_postmaster },
	{ "MAIL parameters", test_mail_params },
	{ "MAIL parameters after HELO 555 5.5.4", test_mail_params_helo },
	{ "duplicate recipients recorded once", test_duplicate_rcpt },
	{ "path errors", test_path_errors },
	{ "recipient limit", test_rcpt_limit },
	{ "policy refusal text", test_policy_refusal_text },
	{ "NOOP RSET VRFY HELP EXPN QUIT", test_simple_verbs },
	{ "line limits 500 5.5.2", test_line_limits },
	{ "error limit 421 after errors in a row", test_error_limit },
	{ "replies to DATA in the error count", test_data_reply_count },
	{ "verbs and pipelining groups", test_verbs_and_groups },
	{ "disconnect counts", test_counts },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("command", tests)
