/*
 * SMTP commands (RFC 5321 with PIPELINING, SIZE, 8BITMIME and
 * ENHANCEDSTATUSCODES).  Each verb has a check function whose guard
 * clauses answer every mistake with its own enhanced status code, and a
 * function that does the work once the checks passed.  MAIL and RCPT end
 * in a policy query; the session brings the answer back to cmd_verdict().
 */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "log.h"
#include "text.h"
#include "xmalloc.h"
#include "smtpd/command.h"

/* A command line split into its parts, and what the checks parsed. */
struct cmd_args {
	char		 line[SMTP_LINE_MAX - 1];	/* CRLF gone */
	const char	*arg;		/* after the verb and blanks */
	char		 addr[SMTP_ADDR_MAX];
	uint64_t	 size;
	int		 dup;		/* RCPT: already a recipient */
};

struct cmd_def {
	const char	*name;
	int		 verb;
	int		 ends_group;	/* RFC 2920 section 3.1 */
	int		(*check)(struct smtp_state *, struct cmd_args *,
			    struct cmd_reply *);
	void		(*run)(struct smtp_state *, struct cmd_args *,
			    struct cmd_reply *);
};

void
cmd_reply_set(struct cmd_reply *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(r->text))
		n = sizeof(r->text) - 1;
	r->len = (size_t)n;
	r->code = (int)strtol(r->text, NULL, 10);
}

static void
cmd_rcpt_free(struct smtp_state *st)
{
	size_t i;

	for (i = 0; i < st->nrcpt; i++)
		free(st->rcpt[i]);
	st->nrcpt = 0;
}

void
cmd_state_init(struct smtp_state *st, const struct smtp_params *p)
{
	memset(st, 0, sizeof(*st));
	st->p = *p;
	st->pending_verb = -1;
}

void
cmd_state_free(struct smtp_state *st)
{
	cmd_rcpt_free(st);
	free(st->rcpt);
	st->rcpt = NULL;
	st->rcpt_cap = 0;
}

void
cmd_txn_reset(struct smtp_state *st)
{
	cmd_rcpt_free(st);
	st->rcpt_tried = 0;
	st->has_mail = 0;
	st->sender[0] = '\0';
	st->pending_verb = -1;
	st->pending[0] = '\0';
}

/* A word of the command line up to a blank; returns its length. */
static size_t
cmd_word(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0' && s[n] != ' ' && s[n] != '\t')
		n++;
	return n;
}

static const char *
cmd_skip_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Parse "<path> [params]" after "FROM:" or "TO:"; 0 or -1 with reply. */
static int
cmd_parse_path(const char *s, int allow_null, struct cmd_args *a,
    const char **params, struct cmd_reply *r)
{
	struct mailaddr ma;
	enum addr_error err;
	size_t end = 0;

	s = cmd_skip_blanks(s);
	err = addr_parse_path(s, strlen(s), &end, allow_null, &ma);
	if (err == ADDR_ERR_TOOLONG) {
		cmd_reply_set(r, "501 5.1.3 Bad address syntax: "
		    "address too long\r\n");
		return -1;
	}
	if (err != ADDR_OK || (s[end] != '\0' && s[end] != ' ' &&
	    s[end] != '\t')) {
		cmd_reply_set(r, "501 5.1.3 Bad address syntax\r\n");
		return -1;
	}
	if (addr_format(&ma, a->addr, sizeof(a->addr)) == -1) {
		cmd_reply_set(r, "501 5.1.3 Bad address syntax: "
		    "address too long\r\n");
		return -1;
	}
	*params = cmd_skip_blanks(s + end);
	return 0;
}

static int
cmd_param_size(const char *v, size_t len, struct cmd_args *a,
    struct cmd_reply *r)
{
	char num[32];
	unsigned long long n;
	size_t i;

	/* RFC 1870: size-value is 1*20DIGIT. */
	if (len == 0 || len > 20) {
		cmd_reply_set(r, "501 5.5.4 Bad SIZE parameter syntax\r\n");
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)v[i])) {
			cmd_reply_set(r,
			    "501 5.5.4 Bad SIZE parameter syntax\r\n");
			return -1;
		}
	}
	memcpy(num, v, len);
	num[len] = '\0';
	errno = 0;
	n = strtoull(num, NULL, 10);
	if (errno == ERANGE)
		n = UINT64_MAX;
	a->size = n;
	return 0;
}

/* BODY is checked, not kept: the content is stored as it came. */
static int
cmd_param_body(const char *v, size_t len, struct cmd_reply *r)
{
	if ((len == 4 && strncasecmp(v, "7BIT", 4) == 0) ||
	    (len == 8 && strncasecmp(v, "8BITMIME", 8) == 0))
		return 0;
	cmd_reply_set(r, "555 5.5.4 MAIL parameter not supported\r\n");
	return -1;
}

static int
cmd_param_twice(const char *name, struct cmd_reply *r)
{
	cmd_reply_set(r, "501 5.5.4 %s parameter given twice\r\n", name);
	return -1;
}

/* MAIL parameters (RFC 1870 SIZE, RFC 6152 BODY); 0 or -1 with reply. */
static int
cmd_mail_params(const struct smtp_state *st, const char *s,
    struct cmd_args *a, struct cmd_reply *r)
{
	int seen_size = 0, seen_body = 0, rv;
	size_t n;

	while (*(s = cmd_skip_blanks(s)) != '\0') {
		n = cmd_word(s);
		/* After HELO no extension is in effect, so no parameter. */
		if (st->helo_mode != SMTP_HELO_EHLO) {
			cmd_reply_set(r, "555 5.5.4 MAIL parameters need "
			    "EHLO\r\n");
			return -1;
		}
		if (n >= 5 && strncasecmp(s, "SIZE=", 5) == 0) {
			if (seen_size++ > 0)
				return cmd_param_twice("SIZE", r);
			rv = cmd_param_size(s + 5, n - 5, a, r);
		} else if (n >= 5 && strncasecmp(s, "BODY=", 5) == 0) {
			if (seen_body++ > 0)
				return cmd_param_twice("BODY", r);
			rv = cmd_param_body(s + 5, n - 5, r);
		} else {
			cmd_reply_set(r, "555 5.5.4 MAIL parameter not "
			    "supported\r\n");
			rv = -1;
		}
		if (rv == -1)
			return -1;
		s += n;
	}
	return 0;
}

static int
cmd_need_helo(struct smtp_state *st, struct cmd_reply *r)
{
	if (st->helo_mode != SMTP_HELO_NONE)
		return 0;
	cmd_reply_set(r, "503 5.5.1 Say EHLO or HELO first\r\n");
	return -1;
}

static int
cmd_no_args(struct cmd_args *a, const char *verb, struct cmd_reply *r)
{
	if (*a->arg == '\0')
		return 0;
	cmd_reply_set(r, "501 5.5.4 Syntax: %s\r\n", verb);
	return -1;
}

/* HELO and EHLO name: one word of printable ASCII. */
static int
cmd_check_hello(struct smtp_state *st, struct cmd_args *a,
    struct cmd_reply *r, const char *verb)
{
	size_t i, n = strlen(a->arg);

	if (n == 0 || n > SMTP_HELO_MAX) {
		cmd_reply_set(r, "501 5.5.4 Syntax: %s hostname\r\n", verb);
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = a->arg[i];

		if (c <= ' ' || c >= 0x7f) {
			cmd_reply_set(r, "501 5.5.4 Syntax: %s hostname\r\n",
			    verb);
			return -1;
		}
	}
	return 0;
}

static int
cmd_check_helo(struct smtp_state *st, struct cmd_args *a,
    struct cmd_reply *r)
{
	return cmd_check_hello(st, a, r, "HELO");
}

static int
cmd_check_ehlo(struct smtp_state *st, struct cmd_args *a,
    struct cmd_reply *r)
{
	return cmd_check_hello(st, a, r, "EHLO");
}

static void
cmd_do_helo(struct smtp_state *st, struct cmd_args *a, struct cmd_reply *r)
{
	cmd_txn_reset(st);
	strlcpy(st->helo, a->arg, sizeof(st->helo));
	st->helo_mode = SMTP_HELO_HELO;
	cmd_reply_set(r, "250 %s\r\n", st->p.hostname);
}

static void
cmd_do_ehlo(struct smtp_state *st, struct cmd_args *a, struct cmd_reply *r)
{
	cmd_txn_reset(st);
	strlcpy(st->helo, a->arg, sizeof(st->helo));
	st->helo_mode = SMTP_HELO_EHLO;
	cmd_reply_set(r, "250-%s\r\n250-PIPELINING\r\n250-SIZE %llu\r\n"
	    "250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n",
	    st->p.hostname, (unsigned long long)st->p.size_limit);
}

static int
cmd_check_mail(struct smtp_state *st, struct cmd_args *a,
    struct cmd_reply *r)
{
	const char *params;

	if (cmd_need_helo(st, r) == -1)
		return -1;
	if (st->has_mail) {
		cmd_reply_set(r, "503 5.5.1 A transaction is already open\r\n");
		return -1;
	}
	if (strncasecmp(a->arg, "FROM:", 5) != 0) {
		cmd_reply_set(r, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
		return -1;
	}
	if (cmd_parse_path(a->arg + 5, 1, a, &params, r) == -1)
		return -1;
	if (cmd_mail_params(st, params, a, r) == -1)
		return -1;
	if (a->size > st->p.size_limit) {
		cmd_reply_set(r, "552 5.3.4 Declared size is over this "
		    "server's limit\r\n");
		return -1;
	}
	return 0;
}

static void
cmd_do_mail(struct smtp_state *st, struct cmd_args *a, struct cmd_reply *r)
{
	st->pending_verb = VERB_MAIL;
	strlcpy(st->pending, a->addr, sizeof(st->pending));
	r->action = CMD_POLICY_MAIL;
}

/* Length of the local part of addr; *at is its last '@', or NULL. */
static size_t
cmd_local_len(const char *addr, const char **at)
{
	*at = strrchr(addr, '@');
	return *at != NULL ? (size_t)(*at - addr) : strlen(addr);
}

/*
 * Is addr a recipient already?  Domains compare without case.  In our
 * own domains (and for a bare <Postmaster>) local parts do too, since
 * mailbox resolution lower-cases them; elsewhere the case of a local
 * part is the remote server's business and is kept.
 */
static int
cmd_rcpt_known(const struct smtp_state *st, const char *addr)
{
	const char *at, *oat, *other;
	size_t i, llen = cmd_local_len(addr, &at);
	int fold;

	fold = at == NULL || (st->p.local_domain != NULL &&
	    st->p.local_domain(st->p.local_arg, at + 1));
	for (i = 0; i < st->nrcpt; i++) {
		other = st->rcpt[i];
		if (cmd_local_len(other, &oat) != llen ||
		    (oat == NULL) != (at == NULL))
			continue;
		if (at != NULL && strcasecmp(at + 1, oat + 1) != 0)
			continue;
		if (fold ? strncasecmp(addr, other, llen) == 0 :
		    memcmp(addr, other, llen) == 0)
			return 1;
	}
	return 0;
}

static int
cmd_check_rcpt(struct smtp_state *st, struct cmd_args *a,
    struct cmd_reply *r)
{
	const char *params;

	if (cmd_need_helo(st, r) == -1)
		return -1;
	if (!st->has_mail) {
		cmd_reply_set(r, "503 5.5.1 MAIL FROM comes first\r\n");
		return -1;
	}
	/* From here on a DATA without recipients is no sequence error. */
	st->rcpt_tried = 1;
	if (strncasecmp(a->arg, "TO:", 3) != 0) {
		cmd_reply_set(r, "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
		return -1;
	}
	if (cmd_parse_path(a->arg + 3, 0, a, &params, r) == -1)
		return -1;
	if (*params != '\0') {
		cmd_reply_set(r, "555 5.5.4 RCPT parameter not "
		    "supported\r\n");
		return -1;
	}
	/* A repeat is recorded once, so it counts once toward the limit. */
	a->dup = cmd_rcpt_known(st, a->addr);
	if (!a->dup && st->nrcpt >= st->p.rcpt_limit) {
		cmd_reply_set(r, "452 4.5.3 Recipient limit reached\r\n");
		return -1;
	}
	return 0;
}

static void
cmd_do_rcpt(struct smtp_state *st, struct cmd_args *a, struct cmd_reply *r)
{
	if (a->dup) {
		/* Accepted before in this transaction: nothing to ask. */
		cmd_reply_set(r, "250 2.1.5 Ok\r\n");
		return;
	}
	st->pending_verb = VERB_RCPT;
	strlcpy(st->pending, a->addr, sizeof(st->pending));
	r->action = CMD_POLICY_RCPT;
}

static int
cmd_check_data(struct smtp_state *st, struct cmd_args *a,
    struct cmd_reply *r)
{
	if (cmd_need_helo(st, r) == -1)
		return -1;
	if (cmd_no_args(a, "DATA", r) == -1)
		return -1;
	if (!st->has_mail) {
		cmd_reply_set(r, "503 5.5.1 MAIL FROM comes first\r\n");
		return -1;
	}
	if (!st->rcpt_tried) {
		cmd_reply_set(r, "503 5.5.1 RCPT TO comes first\r\n");
		return -1;
	}
	if (st->nrcpt == 0) {
		cmd_reply_set(r, "554 5.5.1 No recipient was accepted\r\n");
		return -1;
	}
	return 0;
}

static void
cmd_do_data(struct smtp_state *st, struct cmd_args *a, struct cmd_reply *r)
{
	r->action = CMD_DATA;
}

static int
cmd_check_rset(struct smtp_state *st, struct cmd_args *a,
    struct cmd_reply *r)
{
	return cmd_no_args(a, "RSET", r);
}

static void
cmd_do_rset(struct smtp_state *st, struct cmd_args *a, struct cmd_reply *r)
{
	cmd_txn_reset(st);
	cmd_reply_set(r, "250 2.0.0 Ok\r\n");
}

/* NOOP may carry an argument, which is ignored (RFC 5321 4.1.1.9). */
static void
cmd_do_noop(struct smtp_state *st, struct cmd_args *a, struct cmd_reply *r)
{
	cmd_reply_set(r, "250 2.0.0 Ok\r\n");
}

static int
cmd_check_quit(struct smtp_state *st, struct cmd_args *a,
    struct cmd_reply *r)
{
	return cmd_no_args(a, "QUIT", r);
}

static void
cmd_do_quit(struct smtp_state *st, struct cmd_args *a, struct cmd_reply *r)
{
	cmd_reply_set(r, "221 2.0.0 Bye\r\n");
	r->action = CMD_QUIT;
}

static int
cmd_check_vrfy(struct smtp_state *st, struct cmd_args *a,
    struct cmd_reply *r)
{
	if (*a->arg != '\0')
		return 0;
	cmd_reply_set(r, "501 5.5.4 Syntax: VRFY address\r\n");
	return -1;
}

/* Never confirm or deny an address: that would help harvesters. */
static void
cmd_do_vrfy(struct smtp_state *st, struct cmd_args *a, struct cmd_reply *r)
{
	cmd_reply_set(r, "252 2.0.0 Address not verified here; "
	    "send mail to try it\r\n");
}

static void
cmd_do_help(struct smtp_state *st, struct cmd_args *a, struct cmd_reply *r)
{
	cmd_reply_set(r, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA "
	    "RSET NOOP QUIT VRFY HELP\r\n");
}

static void
cmd_do_unimplemented(struct smtp_state *st, struct cmd_args *a,
    struct cmd_reply *r)
{
	cmd_reply_set(r, "502 5.5.1 Command not implemented\r\n");
}

static const struct cmd_def cmd_table[] = {
	{ "HELO", VERB_HELO, 1, cmd_check_helo, cmd_do_helo },
	{ "EHLO", VERB_EHLO, 1, cmd_check_ehlo, cmd_do_ehlo },
	{ "MAIL", VERB_MAIL, 0, cmd_check_mail, cmd_do_mail },
	{ "RCPT", VERB_RCPT, 0, cmd_check_rcpt, cmd_do_rcpt },
	{ "DATA", VERB_DATA, 1, cmd_check_data, cmd_do_data },
	{ "RSET", VERB_RSET, 0, cmd_check_rset, cmd_do_rset },
	{ "NOOP", VERB_NOOP, 1, NULL, cmd_do_noop },
	{ "QUIT", VERB_QUIT, 1, cmd_check_quit, cmd_do_quit },
	{ "VRFY", VERB_VRFY, 1, cmd_check_vrfy, cmd_do_vrfy },
	{ "HELP", VERB_HELP, 0, NULL, cmd_do_help },
	{ "EXPN", VERB_EXPN, 1, NULL, cmd_do_unimplemented },
	{ "TURN", VERB_TURN, 1, NULL, cmd_do_unimplemented },
};

static const struct cmd_def *
cmd_lookup(const char *line, size_t len)
{
	size_t i, n = 0;

	while (n < len && line[n] != ' ' && line[n] != '\t')
		n++;
	for (i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++) {
		if (strlen(cmd_table[i].name) == n &&
		    strncasecmp(cmd_table[i].name, line, n) == 0)
			return &cmd_table[i];
	}
	return NULL;
}

const char *
cmd_verb_name(int verb)
{
	size_t i;

	for (i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++)
		if (cmd_table[i].verb == verb)
			return cmd_table[i].name;
	return "UNKNOWN";
}

int
cmd_ends_group(int verb)
{
	size_t i;

	for (i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++)
		if (cmd_table[i].verb == verb)
			return cmd_table[i].ends_group;
	return 0;
}

/*
 * Count a final reply for the disconnect line and the error limit.  The
 * limit is on errors in a row: a client that checks many addresses and
 * gets a good reply in between is slow, not lost.
 */
static void
cmd_count(struct smtp_state *st, int verb, int code)
{
	if (code >= 200 && code < 400) {
		st->ok[verb]++;
		st->errors = 0;
	} else if (code >= 500)
		st->errors++;
}

/* Split line into verb and argument; -1 with a reply for bad bytes. */
static int
cmd_split(const char *line, size_t len, struct cmd_args *a,
    struct cmd_reply *r)
{
	size_t n;

	/* The session refused longer lines: this is a bug, not a client. */
	if (len > SMTP_LINE_MAX - 2)
		panic("smtpd: command line of %zu octets", len);
	if (memchr(line, '\0', len) != NULL) {
		cmd_reply_set(r, "500 5.5.2 Unknown command\r\n");
		return -1;
	}
	memcpy(a->line, line, len);
	a->line[len] = '\0';
	/* Trailing blanks are no part of any argument. */
	while (len > 0 && (a->line[len - 1] == ' ' ||
	    a->line[len - 1] == '\t'))
		a->line[--len] = '\0';
	n = cmd_word(a->line);
	a->arg = cmd_skip_blanks(a->line + n);
	return 0;
}

void
cmd_execute(struct smtp_state *st, const char *line, size_t len,
    struct cmd_reply *r)
{
	const struct cmd_def *d = cmd_lookup(line, len);
	struct cmd_args a;

	memset(r, 0, sizeof(*r));
	memset(&a, 0, sizeof(a));
	r->verb = d == NULL ? VERB_UNKNOWN : d->verb;
	r->action = CMD_REPLY;
	st->total[r->verb]++;

	if (st->errors >= SMTP_ERROR_MAX) {
		cmd_reply_set(r, "421 4.7.0 %s Too many errors, closing\r\n",
		    st->p.hostname);
		r->action = CMD_CLOSE;
		return;
	}
	if (cmd_split(line, len, &a, r) == -1)
		goto done;
	if (d == NULL) {
		cmd_reply_set(r, "500 5.5.2 Unknown command\r\n");
		goto done;
	}
	if (d->check != NULL && d->check(st, &a, r) == -1)
		goto done;
	d->run(st, &a, r);
done:
	/* MAIL, RCPT and DATA are counted when their outcome is known. */
	if (r->code != 0)
		cmd_count(st, r->verb, r->code);
}

int
cmd_foreign(const char *p, size_t len)
{
	static const char *const http[] = {
		"GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS", "DELETE",
		"TRACE", "PATCH",
	};
	size_t i, n;

	if (len == 0 || p[0] == '\r' || p[0] == '\n')
		return 0;
	if (!isalpha((unsigned char)p[0]))
		return 1;
	/* Methods are upper case and followed by a space. */
	for (i = 0; i < sizeof(http) / sizeof(http[0]); i++) {
		n = strlen(http[i]);
		if (len > n && memcmp(p, http[i], n) == 0 && p[n] == ' ')
			return 1;
	}
	return 0;
}

void
cmd_line_too_long(struct smtp_state *st, struct cmd_reply *r)
{
	memset(r, 0, sizeof(*r));
	r->verb = VERB_UNKNOWN;
	r->action = CMD_REPLY;
	st->total[VERB_UNKNOWN]++;
	cmd_reply_set(r, "500 5.5.2 Command line too long\r\n");
	cmd_count(st, VERB_UNKNOWN, r->code);
}

void
cmd_verdict(struct smtp_state *st, unsigned code, const char *text,
    const char *sender, struct cmd_reply *r)
{
	char clean[SMTP_REPLY_MAX - 8];
	int verb = st->pending_verb;

	memset(r, 0, sizeof(*r));
	r->verb = verb == VERB_RCPT ? VERB_RCPT : VERB_MAIL;
	r->action = CMD_REPLY;
	st->pending_verb = -1;

	if (code == 250) {
		if (r->verb == VERB_MAIL) {
			st->has_mail = 1;
			strlcpy(st->sender, *sender != '\0' ? sender :
			    st->pending, sizeof(st->sender));
			cmd_reply_set(r, "250 2.1.0 Ok\r\n");
		} else {
			if (st->nrcpt == st->rcpt_cap) {
				st->rcpt_cap = st->rcpt_cap ?
				    st->rcpt_cap * 2 : 8;
				st->rcpt = xreallocarray(st->rcpt,
				    st->rcpt_cap, sizeof(*st->rcpt));
			}
			st->rcpt[st->nrcpt++] = xstrdup(st->pending);
			cmd_reply_set(r, "250 2.1.5 Ok\r\n");
		}
	} else {
		if (code < 400 || code > 599)
			code = 451;
		text_one_line(clean, sizeof(clean), text);
		if (clean[0] == '\0')
			strlcpy(clean, code < 500 ? "4.7.1 Try again later" :
			    "5.7.1 Refused by policy", sizeof(clean));
		cmd_reply_set(r, "%u %s\r\n", code, clean);
	}
	cmd_count(st, r->verb, r->code);
}

void
cmd_policy_unavailable(struct smtp_state *st, struct cmd_reply *r)
{
	memset(r, 0, sizeof(*r));
	r->verb = st->pending_verb == VERB_RCPT ? VERB_RCPT : VERB_MAIL;
	r->action = CMD_REPLY;
	st->pending_verb = -1;
	cmd_reply_set(r, "451 4.3.0 Policy service not available\r\n");
	cmd_count(st, r->verb, r->code);
}

void
cmd_data_reply(struct smtp_state *st, int code)
{
	cmd_count(st, VERB_DATA, code);
}

void
cmd_counts(const struct smtp_state *st, char *out, size_t outlen)
{
	static const char *const names[VERB_COUNT] = {
		"helo", "ehlo", "mail", "rcpt", "data", "rset", "noop",
		"quit", "vrfy", "help", "expn", "turn", "unknown"
	};
	unsigned all = 0, good = 0;
	char item[64];
	int v;

	out[0] = '\0';
	for (v = 0; v < VERB_COUNT; v++) {
		if (st->total[v] == 0)
			continue;
		all += st->total[v];
		good += st->ok[v];
		if (st->ok[v] == st->total[v])
			snprintf(item, sizeof(item), "%s%s=%u",
			    out[0] ? " " : "", names[v], st->total[v]);
		else
			snprintf(item, sizeof(item), "%s%s=%u/%u",
			    out[0] ? " " : "", names[v], st->ok[v],
			    st->total[v]);
		strlcat(out, item, outlen);
	}
	if (good == all)
		snprintf(item, sizeof(item), "%scommands=%u",
		    out[0] ? " " : "", all);
	else
		snprintf(item, sizeof(item), "%scommands=%u/%u",
		    out[0] ? " " : "", good, all);
	strlcat(out, item, outlen);
}
