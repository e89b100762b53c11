/*
 * RFC 5321 section 4.1.2 paths, parsed strictly: the envelope is not a
 * message header, so comments, folding white space and the obsolete
 * RFC 5322 forms are refused.
 *
 * Choices where the RFC leaves room:
 *  - A quoted local part whose content is a valid Dot-string is stored
 *    in the Dot-string form ("\"joe\""@x becomes joe@x), as RFC 5321
 *    section 4.1.2 asks senders to prefer.  One that needs its quotes is
 *    stored quoted, with a backslash only before '"' and '\'.
 *  - The limits of section 4.5.3.1 are measured as written on the wire:
 *    local part 64 octets (with its quotes), domain 255, and the whole
 *    path 256 including the angle brackets and any source route.
 *  - Domain labels are at most 63 octets (RFC 1035).
 *  - Address literals: "[IPv4]" and "[IPv6:...]" in exactly the forms of
 *    section 4.1.3 (so "::" stands for at least two zero groups), then
 *    checked with inet_pton(), which also refuses IPv4 octets written
 *    with leading zeros.  General-address-literals are refused.
 *  - "<Postmaster>" without a domain is a forward-path only: it is
 *    accepted when allow_null is 0 (RCPT), not in a reverse-path.
 *  - Octets above 0x7f are refused: SMTPUTF8 is not built.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addr.h"

#define LABEL_MAX	63

struct cursor {
	const char	*s;
	size_t		 len;
	size_t		 p;
};

static int
at_end(const struct cursor *c)
{
	return c->p >= c->len;
}

static int
peek(const struct cursor *c)
{
	return at_end(c) ? -1 : (unsigned char)c->s[c->p];
}

static int
is_alpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int
is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static int
is_hex(int ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'f') ||
	    (ch >= 'A' && ch <= 'F');
}

/* RFC 5322 atext, which RFC 5321's Atom is made of. */
static int
is_atext(int ch)
{
	return ch >= 0 && (is_alpha(ch) || is_digit(ch) ||
	    (ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL));
}

/* qtextSMTP: printable ASCII and space, without '"' and '\'. */
static int
is_qtext(int ch)
{
	return ch >= 32 && ch <= 126 && ch != '"' && ch != '\\';
}

/*
 * Domain = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str].
 * Leaves the cursor after it and its length in *dlen.
 */
static enum addr_error
parse_domain_name(struct cursor *c, size_t *dlen)
{
	size_t start = c->p, label;
	int ch, last;

	for (;;) {
		label = 0;
		last = -1;
		while ((ch = peek(c)) != -1 && (is_alpha(ch) || is_digit(ch) ||
		    ch == '-')) {
			if (label == 0 && ch == '-')
				return ADDR_ERR_DOMAIN;
			last = ch;
			label++;
			c->p++;
		}
		if (label == 0 || last == '-')
			return ADDR_ERR_DOMAIN;
		if (label > LABEL_MAX)
			return ADDR_ERR_DOMAIN;
		if (peek(c) != '.')
			break;
		c->p++;
	}
	*dlen = c->p - start;
	if (*dlen > ADDR_DOMAIN_MAX)
		return ADDR_ERR_TOOLONG;
	return ADDR_OK;
}

/* IPv4-address-literal: four decimal octets; inet_pton has the last word. */
static int
ipv4_valid(const char *a, size_t n)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr in;
	size_t i;

	if (n == 0 || n >= sizeof(buf))
		return 0;
	for (i = 0; i < n; i++)
		if (!is_digit((unsigned char)a[i]) && a[i] != '.')
			return 0;
	memcpy(buf, a, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, &in) == 1;
}

/*
 * The IPv6 forms of RFC 5321 section 4.1.3: IPv6-full (8 groups),
 * IPv6-comp (at most 6 groups around "::"), IPv6v4-full (6 groups and an
 * IPv4 address), IPv6v4-comp (at most 4 groups around "::", then IPv4).
 */
static int
ipv6_valid(const char *a, size_t n)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct in6_addr in6;
	const char *last;
	size_t hlen, i = 0, k;
	int v4 = 0, dbl = 0, groups = 0, max;

	if (n == 0 || n >= sizeof(buf) ||
	    (last = memrchr(a, ':', n)) == NULL)
		return 0;
	hlen = n;
	if (memchr(last + 1, '.', n - (size_t)(last + 1 - a)) != NULL) {
		v4 = 1;
		hlen = (size_t)(last + 1 - a);	/* keeps the ':' before it */
		if (!ipv4_valid(last + 1, n - hlen))
			return 0;
	}

	if (hlen >= 2 && a[0] == ':' && a[1] == ':') {
		dbl = 1;
		i = 2;
	} else if (a[0] == ':')
		return 0;
	while (i < hlen) {
		for (k = 0; i < hlen && is_hex((unsigned char)a[i]); k++)
			i++;
		if (k == 0 || k > 4)
			return 0;
		groups++;
		if (i == hlen)
			break;
		if (a[i] != ':')
			return 0;
		i++;
		if (i < hlen && a[i] == ':') {
			if (dbl)
				return 0;
			dbl = 1;
			i++;
		} else if (i == hlen && !v4)
			return 0;	/* one trailing ':' */
	}
	max = v4 ? 6 : 8;
	if (dbl ? groups > max - 2 : groups != max)
		return 0;

	memcpy(buf, a, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, &in6) == 1;
}

/* "[" IPv4 "]" or "[IPv6:" ... "]"; the cursor is on the '['. */
static enum addr_error
parse_literal(struct cursor *c, size_t *dlen)
{
	const char *in, *close;
	size_t start = c->p, n;

	c->p++;
	in = c->s + c->p;
	if ((close = memchr(in, ']', c->len - c->p)) == NULL)
		return ADDR_ERR_DOMAIN;
	n = (size_t)(close - in);
	if (n >= 5 && strncasecmp(in, "IPv6:", 5) == 0) {
		if (!ipv6_valid(in + 5, n - 5))
			return ADDR_ERR_DOMAIN;
	} else if (!ipv4_valid(in, n))
		return ADDR_ERR_DOMAIN;	/* also General-address-literal */
	c->p += n + 1;
	*dlen = c->p - start;
	return ADDR_OK;
}

/* A-d-l ":" : "@dom,@dom:", checked and dropped. */
static enum addr_error
parse_source_route(struct cursor *c)
{
	enum addr_error err;
	size_t dlen;

	for (;;) {
		if (peek(c) != '@')
			return ADDR_ERR_SYNTAX;
		c->p++;
		if ((err = parse_domain_name(c, &dlen)) != ADDR_OK)
			return err;
		if (peek(c) == ':') {
			c->p++;
			return ADDR_OK;
		}
		if (peek(c) != ',')
			return ADDR_ERR_SYNTAX;
		c->p++;
	}
}

/* Is s[0..n) a Dot-string (Atom *("." Atom))? */
static int
is_dot_string(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return 0;
		} else if (!is_atext((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* Quoted-string: store the Dot-string form when it needs no quotes. */
static enum addr_error
parse_quoted(struct cursor *c, struct mailaddr *ma)
{
	char content[ADDR_LOCAL_MAX + 1];
	size_t n = 0, start = c->p, i, o = 0;
	int ch;

	c->p++;
	for (;;) {
		if ((ch = peek(c)) == -1)
			return ADDR_ERR_LOCAL;
		if (ch >= 0x80)
			return ADDR_ERR_LOCAL;
		if (ch == '"')
			break;
		if (ch == '\\') {
			c->p++;
			ch = peek(c);
			if (ch < 32 || ch > 126)
				return ADDR_ERR_LOCAL;
		} else if (!is_qtext(ch))
			return ADDR_ERR_LOCAL;
		if (n == sizeof(content) - 1)
			return ADDR_ERR_TOOLONG;
		content[n++] = (char)ch;
		c->p++;
	}
	c->p++;
	if (c->p - start > ADDR_LOCAL_MAX)
		return ADDR_ERR_TOOLONG;

	if (is_dot_string(content, n)) {
		memcpy(ma->local, content, n);
		ma->local[n] = '\0';
		return ADDR_OK;
	}
	/* Never longer than as written, so it fits. */
	ma->local[o++] = '"';
	for (i = 0; i < n; i++) {
		if (content[i] == '"' || content[i] == '\\')
			ma->local[o++] = '\\';
		ma->local[o++] = content[i];
	}
	ma->local[o++] = '"';
	ma->local[o] = '\0';
	return ADDR_OK;
}

static enum addr_error
parse_local(struct cursor *c, struct mailaddr *ma)
{
	size_t start = c->p, n;
	int ch;

	if (peek(c) == '"')
		return parse_quoted(c, ma);
	while ((ch = peek(c)) != -1 && (is_atext(ch) || ch == '.'))
		c->p++;
	if (ch >= 0x80)
		return ADDR_ERR_LOCAL;
	n = c->p - start;
	if (!is_dot_string(c->s + start, n))
		return ADDR_ERR_LOCAL;
	if (n > ADDR_LOCAL_MAX)
		return ADDR_ERR_TOOLONG;
	memcpy(ma->local, c->s + start, n);
	ma->local[n] = '\0';
	return ADDR_OK;
}

static enum addr_error
parse_domain(struct cursor *c, struct mailaddr *ma)
{
	size_t start = c->p, dlen = 0;
	enum addr_error err;

	if (peek(c) == '[')
		err = parse_literal(c, &dlen);
	else
		err = parse_domain_name(c, &dlen);
	if (err != ADDR_OK)
		return err;
	memcpy(ma->domain, c->s + start, dlen);
	ma->domain[dlen] = '\0';
	return ADDR_OK;
}

enum addr_error
addr_parse_path(const char *s, size_t len, size_t *end, int allow_null,
    struct mailaddr *ma)
{
	struct cursor c = { s, len, 0 };
	enum addr_error err;

	memset(ma, 0, sizeof(*ma));
	if (peek(&c) != '<')
		return ADDR_ERR_SYNTAX;
	c.p++;
	if (at_end(&c))
		return ADDR_ERR_SYNTAX;
	if (peek(&c) == '>') {
		if (!allow_null)
			return ADDR_ERR_SYNTAX;
		ma->is_null = 1;
		*end = c.p + 1;
		return ADDR_OK;
	}
	if (peek(&c) == '@' && (err = parse_source_route(&c)) != ADDR_OK)
		return err;
	if ((err = parse_local(&c, ma)) != ADDR_OK)
		return err;

	if (peek(&c) == '>' && !allow_null &&
	    strcasecmp(ma->local, "postmaster") == 0 && s[c.p - 1] != '"') {
		ma->is_postmaster = 1;
	} else {
		if (peek(&c) != '@')
			return ADDR_ERR_SYNTAX;
		c.p++;
		if ((err = parse_domain(&c, ma)) != ADDR_OK)
			return err;
	}
	if (peek(&c) != '>')
		return ADDR_ERR_SYNTAX;
	c.p++;
	if (c.p > ADDR_PATH_MAX)
		return ADDR_ERR_TOOLONG;
	*end = c.p;
	return ADDR_OK;
}

int
addr_domain_valid(const char *s, size_t len)
{
	struct cursor c = { s, len, 0 };
	size_t dlen;

	return parse_domain_name(&c, &dlen) == ADDR_OK && c.p == len;
}

int
addr_format(const struct mailaddr *ma, char *out, size_t outlen)
{
	size_t n;

	if (outlen == 0)
		return -1;
	if (ma->is_null) {
		out[0] = '\0';
		return 0;
	}
	if (ma->is_postmaster)
		n = strlcpy(out, ma->local, outlen);
	else
		n = (size_t)snprintf(out, outlen, "%s@%s", ma->local,
		    ma->domain);
	return n < outlen ? 0 : -1;
}

int
addr_has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}
