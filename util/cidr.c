/*
 * CIDR tables in the manner of Postfix's cidr: maps.  A logical line is
 * "prefix value"; the prefix is an IPv4 or IPv6 address with an optional
 * "/len" (a bare address is a /32 or /128), IPv6 written bare or in
 * brackets.  Lines starting with '#' and blank lines are ignored; a line
 * starting with white space continues the value of the line before.  A
 * prefix with host bits set beyond its length is an error, as it almost
 * always means a typing mistake.  Lookups take the first matching line;
 * an IPv4-mapped IPv6 client address (::ffff:a.b.c.d) is looked up as
 * the IPv4 address it carries.
 */
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "text.h"
#include "xmalloc.h"

struct cidr_entry {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];
	unsigned	 bits;
	char		*value;
	size_t		 line;		/* where it was written */
};

struct cidr_table {
	char			*path;		/* for error messages */
	struct cidr_entry	*e;
	size_t			 n;
	size_t			 cap;
};

/* Length in octets of an address of the family. */
static size_t
fam_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* Parse "a.b.c.d", "::1" or "[::1]" into family and addr; 0 or -1. */
static int
parse_addr(const char *s, size_t n, int *family, unsigned char *addr)
{
	char buf[INET6_ADDRSTRLEN + 2];

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
		if (memchr(s, ':', n) == NULL)
			return -1;	/* brackets are for IPv6 only */
	}
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strchr(buf, ':') != NULL) {
		*family = AF_INET6;
		return inet_pton(AF_INET6, buf, addr) == 1 ? 0 : -1;
	}
	*family = AF_INET;
	return inet_pton(AF_INET, buf, addr) == 1 ? 0 : -1;
}

/* Any bit set at or after position bits? */
static int
host_bits_set(const unsigned char *addr, size_t alen, unsigned bits)
{
	size_t i;

	for (i = bits / 8; i < alen; i++) {
		unsigned char m = 0xff;

		if (i == bits / 8 && bits % 8 != 0)
			m = (unsigned char)(0xff >> (bits % 8));
		if (addr[i] & m)
			return 1;
	}
	return 0;
}

static int
prefix_match(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	size_t full = bits / 8;
	unsigned char m;

	if (memcmp(a, b, full) != 0)
		return 0;
	if (bits % 8 == 0)
		return 1;
	m = (unsigned char)(0xff << (8 - bits % 8));
	return (a[full] & m) == (b[full] & m);
}

/*
 * Parse one prefix ("addr", "addr/len", "[v6]/len") into e; on error
 * returns -1 with a reason in why.
 */
static int
parse_prefix(const char *s, struct cidr_entry *e, char *why, size_t whylen)
{
	const char *slash = strrchr(s, '/');
	size_t alen, n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	const char *errstr = NULL;
	char shown[INET6_ADDRSTRLEN];
	long long bits;

	if (parse_addr(s, n, &e->family, e->addr) == -1) {
		snprintf(why, whylen, "bad address \"%.*s\"", (int)n, s);
		return -1;
	}
	alen = fam_len(e->family);
	e->bits = (unsigned)alen * 8;
	if (slash != NULL) {
		bits = strtonum(slash + 1, 0, (long long)alen * 8, &errstr);
		if (errstr != NULL || slash[1] < '0' || slash[1] > '9') {
			snprintf(why, whylen, "bad prefix length in \"%s\" "
			    "(0 to %zu)", s, alen * 8);
			return -1;
		}
		e->bits = (unsigned)bits;
	}
	if (host_bits_set(e->addr, alen, e->bits)) {
		unsigned char net[16];

		memcpy(net, e->addr, alen);
		memset(net + (e->bits + 7) / 8, 0, alen - (e->bits + 7) / 8);
		if (e->bits % 8 != 0)
			net[e->bits / 8] &= (unsigned char)
			    (0xff << (8 - e->bits % 8));
		inet_ntop(e->family, net, shown, sizeof(shown));
		snprintf(why, whylen, "host bits set in \"%s\" beyond the "
		    "/%u prefix; perhaps %s%s%s/%u was meant", s, e->bits,
		    e->family == AF_INET6 ? "[" : "", shown,
		    e->family == AF_INET6 ? "]" : "", e->bits);
		return -1;
	}
	return 0;
}

static void
table_add(struct cidr_table *t, const struct cidr_entry *e)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->e = xreallocarray(t->e, t->cap, sizeof(*t->e));
	}
	t->e[t->n++] = *e;
}

/* One logical line "prefix value"; 0, or -1 with why. */
static int
parse_line(struct cidr_table *t, char *line, size_t lineno, char *why,
    size_t whylen)
{
	struct cidr_entry e;
	char *key, *value;

	memset(&e, 0, sizeof(e));
	key = line;
	value = line + strcspn(line, " \t");
	if (*value != '\0')
		*value++ = '\0';
	value = text_trim(value);
	if (*value == '\0') {
		snprintf(why, whylen, "\"%s\": missing value", key);
		return -1;
	}
	if (parse_prefix(key, &e, why, whylen) == -1)
		return -1;
	e.value = xstrdup(value);
	e.line = lineno;
	table_add(t, &e);
	return 0;
}

static int
flush_line(struct cidr_table *t, char **pending, const char *path,
    size_t lineno, char *err, size_t errlen)
{
	char why[512];
	int rv = 0;

	if (*pending == NULL)
		return 0;
	if (parse_line(t, *pending, lineno, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s:%zu: %s", path, lineno, why);
		rv = -1;
	}
	free(*pending);
	*pending = NULL;
	return rv;
}

struct cidr_table *
cidr_load(const char *path, char *err, size_t errlen)
{
	struct cidr_table *t;
	char *line = NULL, *pending = NULL, *s, *joined;
	size_t cap = 0, lineno = 0, start = 0;
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->path = xstrdup(path);
	while (getline(&line, &cap, fp) != -1) {
		lineno++;
		s = text_trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if (line[0] == ' ' || line[0] == '\t') {
			if (pending == NULL) {
				snprintf(err, errlen, "%s:%zu: continuation "
				    "line without a line before it", path,
				    lineno);
				goto fail;
			}
			xasprintf(&joined, "%s %s", pending, s);
			free(pending);
			pending = joined;
			continue;
		}
		if (flush_line(t, &pending, path, start, err, errlen) == -1)
			goto fail;
		pending = xstrdup(s);
		start = lineno;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (flush_line(t, &pending, path, start, err, errlen) == -1)
		goto fail;
	free(line);
	fclose(fp);
	return t;

fail:
	free(pending);
	free(line);
	fclose(fp);
	cidr_free(t);
	return NULL;
}

struct cidr_table *
cidr_from_list(const char *list, char *err, size_t errlen)
{
	struct cidr_table *t = xcalloc(1, sizeof(*t));
	struct cidr_entry e;
	char why[512], *item;
	size_t n, nitem = 0;

	t->path = xstrdup("list");
	while (list != NULL && *list != '\0') {
		list += strspn(list, ", \t\r\n");
		if ((n = strcspn(list, ", \t\r\n")) == 0)
			break;
		item = xstrndup(list, n);
		list += n;
		memset(&e, 0, sizeof(e));
		if (parse_prefix(item, &e, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s", why);
			free(item);
			cidr_free(t);
			return NULL;
		}
		free(item);
		e.value = xstrdup("1");
		e.line = ++nitem;
		table_add(t, &e);
	}
	return t;
}

void
cidr_free(struct cidr_table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		free(t->e[i].value);
	free(t->e);
	free(t->path);
	free(t);
}

int
cidr_check_values(const struct cidr_table *t,
    int (*ok)(const char *, char *, size_t), char *err, size_t errlen)
{
	char why[512];
	size_t i;

	for (i = 0; i < t->n; i++) {
		why[0] = '\0';
		if (ok(t->e[i].value, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s:%zu: %s", t->path,
			    t->e[i].line, why);
			return -1;
		}
	}
	return 0;
}

const char *
cidr_lookup(const struct cidr_table *t, const char *addr)
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	const struct cidr_entry *e;
	unsigned char a[16];
	const unsigned char *v4 = NULL;
	int family;
	size_t i;

	if (t == NULL || addr == NULL ||
	    parse_addr(addr, strlen(addr), &family, a) == -1)
		return NULL;
	if (family == AF_INET)
		v4 = a;
	else if (memcmp(a, mapped, sizeof(mapped)) == 0)
		v4 = a + 12;
	for (i = 0; i < t->n; i++) {
		e = &t->e[i];
		if (e->family == AF_INET ? v4 != NULL &&
		    prefix_match(e->addr, v4, e->bits) :
		    family == AF_INET6 && prefix_match(e->addr, a, e->bits))
			return e->value;
	}
	return NULL;
}
