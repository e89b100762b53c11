/*
 * Fuzz the SMTP command parser: the input is a session's command lines
 * (split at LF, a CR before it dropped, and lines over the limit refused
 * as the session refuses them), and the byte after each line's end picks
 * the policy's answer for a MAIL or RCPT.  Every reply must be
 * well-formed CRLF-ended lines with a 2xx-5xx code, and the state must
 * hold together.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtpd/command.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_reply(const struct cmd_reply *r)
{
	size_t i, start = 0;

	if (r->len == 0 || r->len >= sizeof(r->text) ||
	    r->len != strlen(r->text) || r->code < 200 || r->code > 599)
		abort();
	for (i = 0; i < r->len; i++) {
		if (r->text[i] == '\n') {
			if (i == 0 || r->text[i - 1] != '\r')
				abort();
			/* "NNN-" or "NNN " with the same code. */
			if (i - start < 5 || strtol(r->text + start, NULL,
			    10) != r->code)
				abort();
			start = i + 1;
		} else if (r->text[i] == '\r' && (i + 1 == r->len ||
		    r->text[i + 1] != '\n'))
			abort();
	}
	if (start != r->len)
		abort();
}

static void
verdict(struct smtp_state *st, uint8_t pick, struct cmd_reply *r)
{
	static const unsigned codes[] = { 250, 250, 451, 550, 554, 199 };

	if (pick % 7 == 6)
		cmd_policy_unavailable(st, r);
	else
		cmd_verdict(st, codes[pick % 6], pick & 0x40 ?
		    "5.7.1 no\r\nX" : "", pick & 0x80 ? "new@example.org" :
		    "", r);
	check_reply(r);
}

static int
local_domain(const void *arg, const char *domain)
{
	return strcasecmp(domain, "example.test") == 0;
}

/*
 * One recipient twice, as duplicate removal sees it: the domain without
 * case, the local part too in the local domain or without a domain.
 */
static int
same_rcpt(const char *a, const char *b)
{
	const char *at = strrchr(a, '@'), *bt = strrchr(b, '@');
	size_t alen = at != NULL ? (size_t)(at - a) : strlen(a);
	size_t blen = bt != NULL ? (size_t)(bt - b) : strlen(b);

	if (alen != blen || (at == NULL) != (bt == NULL))
		return 0;
	if (at == NULL)
		return strcasecmp(a, b) == 0;
	if (strcasecmp(at + 1, bt + 1) != 0)
		return 0;
	if (local_domain(NULL, at + 1))
		return strncasecmp(a, b, alen) == 0;
	return memcmp(a, b, alen) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int data_codes[] = { 250, 451, 452, 552, 554 };
	struct smtp_params p = { "mx.example.test", 10000, 5, local_domain,
	    NULL };
	struct smtp_state st;
	struct cmd_reply r;
	const uint8_t *nl;
	size_t len, text, i, j;
	char counts[512];

	/* Deciding early never contradicts deciding on more of the line. */
	for (i = 1; i <= size && i <= 16; i++)
		if (cmd_foreign((const char *)data, i) &&
		    !cmd_foreign((const char *)data, size))
			abort();
	cmd_state_init(&st, &p);
	while (size > 0) {
		nl = memchr(data, '\n', size);
		len = nl == NULL ? size : (size_t)(nl - data);
		text = len > 0 && data[len - 1] == '\r' ? len - 1 : len;
		if (text > SMTP_LINE_MAX - 2)
			cmd_line_too_long(&st, &r);
		else
			cmd_execute(&st, (const char *)data, text, &r);
		if (r.action == CMD_POLICY_MAIL ||
		    r.action == CMD_POLICY_RCPT) {
			if (r.code != 0 || st.pending_verb == -1)
				abort();
			verdict(&st, nl != NULL && len + 1 < size ?
			    data[len + 1] : 0, &r);
		} else if (r.action == CMD_DATA) {
			if (!st.has_mail || st.nrcpt == 0)
				abort();
			cmd_data_reply(&st, data_codes[len %
			    (sizeof(data_codes) / sizeof(data_codes[0]))]);
			cmd_txn_reset(&st);
		} else
			check_reply(&r);
		if (st.nrcpt > p.rcpt_limit || (st.nrcpt > 0 && !st.has_mail))
			abort();
		for (i = 0; i < st.nrcpt; i++) {
			if (st.rcpt[i] == NULL || strlen(st.rcpt[i]) >=
			    SMTP_ADDR_MAX)
				abort();
			/* Each recipient is recorded once. */
			for (j = 0; j < i; j++)
				if (same_rcpt(st.rcpt[i], st.rcpt[j]))
					abort();
		}
		if (nl == NULL)
			break;
		data += len + 1;
		size -= len + 1;
	}
	cmd_line_too_long(&st, &r);
	check_reply(&r);
	cmd_counts(&st, counts, sizeof(counts));
	cmd_state_free(&st);
	return 0;
}
