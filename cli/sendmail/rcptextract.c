/*
 * Recipients from To:, Cc: and Bcc: header fields, for sendmail -t, or
 * from Resent-To:, Resent-Cc: and Resent-Bcc: when there are any.
 *
 * A field value is cut into RFC 5322 tokens (atoms, quoted strings,
 * domain literals, specials; comments and white space dropped), and the
 * tokens are read as an address list: mailboxes with or without a display
 * name, angle addresses with an obsolete route, and groups.  A malformed
 * member is skipped up to the next comma and counted, so one bad address
 * is reported without hiding the others.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "xmalloc.h"
#include "cli/sendmail/rcptextract.h"

/* Longest addr-spec handed back; the caller applies RFC 5321's limits. */
#define RCPTX_ADDR_MAX	1024

enum tok_type {
	TOK_ATOM,		/* atext run, also obsolete UTF-8 bytes */
	TOK_QSTR,		/* "..." with its quotes */
	TOK_DLIT,		/* [...] with its brackets */
	TOK_SPECIAL,		/* one of ()<>[]:;@\,. or a control byte */
	TOK_BROKEN,		/* an unterminated quote, literal or comment */
};

struct tok {
	enum tok_type	 type;
	const char	*s;
	size_t		 len;
};

struct toks {
	struct tok	*v;
	size_t		 n;
	size_t		 cap;
};

static int
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
is_atext(unsigned char c)
{
	if (c >= 0x80)
		return 1;
	if (c <= 0x20 || c == 0x7f)
		return 0;
	return strchr("()<>[]:;@\\,.\"", c) == NULL;
}

static int
is_special(const struct tok *t, char c)
{
	return t->type == TOK_SPECIAL && t->s[0] == c;
}

static int
is_word(const struct tok *t)
{
	return t->type == TOK_ATOM || t->type == TOK_QSTR;
}

static void
toks_push(struct toks *tk, enum tok_type type, const char *s, size_t len)
{
	if (tk->n == tk->cap) {
		tk->cap = tk->cap == 0 ? 16 : tk->cap * 2;
		tk->v = xreallocarray(tk->v, tk->cap, sizeof(*tk->v));
	}
	tk->v[tk->n].type = type;
	tk->v[tk->n].s = s;
	tk->v[tk->n].len = len;
	tk->n++;
}

/*
 * Length of the delimited run at s that ends with close (a quoted string
 * or a domain literal), backslash pairs included; 0 when it never ends.
 */
static size_t
delimited_len(const char *s, size_t len, char close)
{
	size_t i;

	for (i = 1; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len)
			i++;
		else if (s[i] == close)
			return i + 1;
	}
	return 0;
}

/* Length of the (possibly nested) comment at s; 0 when it never ends. */
static size_t
comment_len(const char *s, size_t len)
{
	size_t i, depth = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len)
			i++;
		else if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && --depth == 0)
			return i + 1;
	}
	return 0;
}

static void
tokenize(const char *s, size_t len, struct toks *tk)
{
	size_t i = 0, n;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];

		if (is_wsp(c)) {
			i++;
			continue;
		}
		n = 0;
		if (c == '(') {
			if ((n = comment_len(s + i, len - i)) > 0) {
				i += n;
				continue;
			}
		} else if (c == '"' || c == '[') {
			n = delimited_len(s + i, len - i, c == '"' ? '"' : ']');
			if (n > 0) {
				toks_push(tk, c == '"' ? TOK_QSTR : TOK_DLIT,
				    s + i, n);
				i += n;
				continue;
			}
		} else if (is_atext(c)) {
			for (n = 1; i + n < len; n++)
				if (!is_atext((unsigned char)s[i + n]))
					break;
			toks_push(tk, TOK_ATOM, s + i, n);
			i += n;
			continue;
		} else {
			toks_push(tk, TOK_SPECIAL, s + i, 1);
			i++;
			continue;
		}
		/* Unterminated comment, quote or literal: the rest is lost. */
		toks_push(tk, TOK_BROKEN, s + i, len - i);
		return;
	}
}

/*
 * RFC 5322 has CR and LF only as the CRLF of folding, which unfolding
 * took out, and NUL nowhere: such a byte left in a quoted string or a
 * domain literal would end up in the address handed back.
 */
static int
has_bad_ctl(const struct tok *t)
{
	return memchr(t->s, '\r', t->len) != NULL ||
	    memchr(t->s, '\n', t->len) != NULL ||
	    memchr(t->s, '\0', t->len) != NULL;
}

static int
out_append(char *out, size_t *olen, const char *s, size_t len)
{
	if (*olen + len >= RCPTX_ADDR_MAX)
		return -1;
	memcpy(out + *olen, s, len);
	*olen += len;
	out[*olen] = '\0';
	return 0;
}

/*
 * Read an addr-spec from tokens [i, end): word *("." word) ["@" domain],
 * the domain being dot-separated atoms or one domain literal.  Writes it
 * to out without comments or white space; returns NULL or the reason.
 */
static const char *
parse_addr_spec(const struct tok *v, size_t i, size_t end, char *out)
{
	size_t olen = 0;

	out[0] = '\0';
	if (i == end)
		return "empty address";
	for (;;) {
		if (!is_word(&v[i]))
			return "bad local part";
		if (has_bad_ctl(&v[i]))
			return "line break or NUL inside quotes";
		if (out_append(out, &olen, v[i].s, v[i].len) == -1)
			return "address too long";
		if (++i == end || !is_special(&v[i], '.'))
			break;
		if (out_append(out, &olen, ".", 1) == -1 || ++i == end)
			return "local part ends with a dot";
	}
	if (i == end)
		return NULL;
	if (!is_special(&v[i], '@'))
		return "words where an address was expected";
	if (out_append(out, &olen, "@", 1) == -1 || ++i == end)
		return "missing domain";
	if (v[i].type == TOK_DLIT) {
		if (has_bad_ctl(&v[i]))
			return "line break or NUL inside the domain literal";
		if (out_append(out, &olen, v[i].s, v[i].len) == -1)
			return "address too long";
		return i + 1 == end ? NULL : "text after the domain literal";
	}
	for (;;) {
		if (v[i].type != TOK_ATOM)
			return "bad domain";
		if (out_append(out, &olen, v[i].s, v[i].len) == -1)
			return "address too long";
		if (++i == end)
			return NULL;
		if (!is_special(&v[i], '.'))
			return "text after the address";
		if (out_append(out, &olen, ".", 1) == -1 || ++i == end)
			return "domain ends with a dot";
	}
}

/*
 * One mailbox in tokens [i, end): an addr-spec, or a display name (words
 * and, obsolete, dots) followed by "<" [route ":"] addr-spec ">".
 */
static const char *
parse_mailbox(const struct tok *v, size_t i, size_t end, char *out)
{
	size_t lt, gt, k;

	for (lt = i; lt < end; lt++)
		if (is_special(&v[lt], '<'))
			break;
	if (lt == end)
		return parse_addr_spec(v, i, end, out);
	for (k = i; k < lt; k++)
		if (!is_word(&v[k]) && !is_special(&v[k], '.'))
			return "bad display name";
	for (gt = lt + 1; gt < end; gt++)
		if (is_special(&v[gt], '>'))
			break;
	if (gt == end)
		return "missing '>'";
	if (gt + 1 != end)
		return "text after '>'";
	k = lt + 1;
	if (k < gt && is_special(&v[k], '@')) {
		/* Obsolete source route "@a,@b:": skipped. */
		while (k < gt && !is_special(&v[k], ':'))
			k++;
		if (k == gt)
			return "bad source route";
		k++;
	}
	return parse_addr_spec(v, k, gt, out);
}

/* End of the member starting at i: a comma or ';' outside "<...>". */
static size_t
member_end(const struct tok *v, size_t i, size_t n, size_t *colon)
{
	int angle = 0;

	*colon = n;
	for (; i < n; i++) {
		if (is_special(&v[i], '<'))
			angle = 1;
		else if (is_special(&v[i], '>'))
			angle = 0;
		else if (!angle && (is_special(&v[i], ',') ||
		    is_special(&v[i], ';')))
			break;
		else if (!angle && is_special(&v[i], ':') && *colon == n)
			*colon = i;
	}
	return i;
}

static void
describe(char *err, size_t errlen, const struct tok *first,
    const struct tok *last, const char *reason)
{
	char text[96];
	size_t len;

	if (err == NULL || errlen == 0)
		return;
	len = (size_t)(last->s + last->len - first->s);
	log_escape(text, sizeof(text), first->s, len);
	snprintf(err, errlen, "\"%s\": %s", text, reason);
}

/* Is every token in [i, end) a word (a display name of a group)? */
static int
all_words(const struct tok *v, size_t i, size_t end)
{
	for (; i < end; i++)
		if (!is_word(&v[i]) && !is_special(&v[i], '.'))
			return 0;
	return 1;
}

int
rcptx_parse_list(const char *value, size_t len, struct rcptx_list *list,
    char *err, size_t errlen)
{
	struct toks tk = { NULL, 0, 0 };
	char addr[RCPTX_ADDR_MAX];
	const char *why;
	size_t i = 0, end, colon;
	int in_group = 0, bad = 0;

	tokenize(value, len, &tk);
	while (i < tk.n) {
		if (is_special(&tk.v[i], ',')) {
			i++;
			continue;
		}
		if (is_special(&tk.v[i], ';') && in_group) {
			in_group = 0;
			i++;
			continue;
		}
		end = member_end(tk.v, i, tk.n, &colon);
		if (colon < end && !in_group && all_words(tk.v, i, colon)) {
			/* "display name:" opens a group; its members follow. */
			in_group = 1;
			i = colon + 1;
			continue;
		}
		why = NULL;
		if (end == i)
			why = "unexpected ';'";
		else if (tk.v[end - 1].type == TOK_BROKEN)
			why = "unterminated quote, literal or comment";
		else
			why = parse_mailbox(tk.v, i, end, addr);
		if (why != NULL) {
			if (bad++ == 0)
				describe(err, errlen, &tk.v[i],
				    &tk.v[end > i ? end - 1 : i], why);
		} else
			rcptx_list_add(list, addr);
		i = end > i ? end : i + 1;
	}
	free(tk.v);
	return bad;
}

size_t
rcptx_field_len(const char *p, size_t len, size_t *name_len)
{
	const char *nl;
	size_t i, n;

	for (n = 0; n < len; n++) {
		unsigned char c = (unsigned char)p[n];

		if (c < 33 || c > 126 || c == ':')
			break;
	}
	if (n == 0)
		return 0;
	for (i = n; i < len && (p[i] == ' ' || p[i] == '\t'); i++)
		;
	if (i == len || p[i] != ':')
		return 0;
	*name_len = n;
	for (;;) {
		nl = memchr(p + i, '\n', len - i);
		if (nl == NULL)
			return len;
		i = (size_t)(nl - p) + 1;
		if (i == len || (p[i] != ' ' && p[i] != '\t'))
			return i;
	}
}

size_t
rcptx_header_len(const char *msg, size_t len, enum rcptx_end *how)
{
	size_t pos = 0, flen, nlen;

	while (pos < len &&
	    (flen = rcptx_field_len(msg + pos, len - pos, &nlen)) > 0)
		pos += flen;
	if (pos == len)
		*how = RCPTX_END_EOF;
	else if (msg[pos] == '\n' ||
	    (msg[pos] == '\r' && pos + 1 < len && msg[pos + 1] == '\n'))
		*how = RCPTX_END_BLANK;
	else
		*how = RCPTX_END_BODY;
	return pos;
}

char *
rcptx_unfold(const char *field, size_t len)
{
	const char *colon;
	char *out;
	size_t i, o = 0;

	colon = memchr(field, ':', len);
	i = colon == NULL ? len : (size_t)(colon - field) + 1;
	out = xmalloc(len - i + 1);
	for (; i < len; i++) {
		if (field[i] == '\n')
			continue;
		if (field[i] == '\r' && i + 1 < len && field[i + 1] == '\n')
			continue;
		out[o++] = field[i];
	}
	out[o] = '\0';
	return out;
}

static int
name_is(const char *p, size_t len, const char *name)
{
	return strlen(name) == len && strncasecmp(p, name, len) == 0;
}

/* Is the field named by p a recipient field, Resent- or not? */
static int
rcpt_field(const char *p, size_t nlen, int resent)
{
	if (resent) {
		if (nlen < 7 || strncasecmp(p, "resent-", 7) != 0)
			return 0;
		p += 7;
		nlen -= 7;
	}
	return name_is(p, nlen, "to") || name_is(p, nlen, "cc") ||
	    name_is(p, nlen, "bcc");
}

int
rcptx_has_resent(const char *hdr, size_t len)
{
	size_t pos = 0, flen, nlen;

	while (pos < len &&
	    (flen = rcptx_field_len(hdr + pos, len - pos, &nlen)) > 0) {
		if (rcpt_field(hdr + pos, nlen, 1))
			return 1;
		pos += flen;
	}
	return 0;
}

int
rcptx_extract(const char *hdr, size_t len, struct rcptx_list *list,
    char *err, size_t errlen)
{
	char why[256], name[16];
	size_t pos = 0, flen, nlen;
	char *value;
	int bad = 0, n, resent;

	/* A resent message goes to its Resent- recipients alone. */
	resent = rcptx_has_resent(hdr, len);
	while (pos < len &&
	    (flen = rcptx_field_len(hdr + pos, len - pos, &nlen)) > 0) {
		if (rcpt_field(hdr + pos, nlen, resent)) {
			value = rcptx_unfold(hdr + pos, flen);
			why[0] = '\0';
			n = rcptx_parse_list(value, strlen(value), list, why,
			    sizeof(why));
			if (n > 0 && bad == 0 && err != NULL) {
				/* The name passed the field check. */
				snprintf(name, sizeof(name), "%.*s", (int)nlen,
				    hdr + pos);
				snprintf(err, errlen, "%s: header: %s", name,
				    why);
			}
			bad += n;
			free(value);
		}
		pos += flen;
	}
	return bad;
}

size_t
rcptx_strip_bcc(char *hdr, size_t len)
{
	size_t in = 0, out = 0, flen, nlen;

	while (in < len &&
	    (flen = rcptx_field_len(hdr + in, len - in, &nlen)) > 0) {
		if (!name_is(hdr + in, nlen, "bcc") &&
		    !name_is(hdr + in, nlen, "resent-bcc")) {
			memmove(hdr + out, hdr + in, flen);
			out += flen;
		}
		in += flen;
	}
	memmove(hdr + out, hdr + in, len - in);
	return out + (len - in);
}

int
rcptx_list_add(struct rcptx_list *list, const char *addr)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		if (strcmp(list->v[i], addr) == 0)
			return 0;
	if (list->n == list->cap) {
		list->cap = list->cap == 0 ? 8 : list->cap * 2;
		list->v = xreallocarray(list->v, list->cap, sizeof(char *));
	}
	list->v[list->n++] = xstrdup(addr);
	return 1;
}

void
rcptx_list_free(struct rcptx_list *list)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		free(list->v[i]);
	free(list->v);
	list->v = NULL;
	list->n = list->cap = 0;
}
