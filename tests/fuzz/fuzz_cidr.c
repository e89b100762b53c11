/*
 * Fuzz the CIDR table loader and lookups: the input is written as a
 * table file (through a memory file) and also given to cidr_from_list().
 * Nothing may crash or leak, a failed load must explain itself, and a
 * table that loads must answer for what it holds:
 *
 *  - after cidr_from_list(), every listed prefix's own address matches
 *    (its value is "1");
 *  - after cidr_load(), each line's own address gets that line's value
 *    or an earlier line's, since the first matching line wins.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cidr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	memfd = -1;

static const char *fixed[] = {
	"127.0.0.1", "0.0.0.0", "255.255.255.255", "::", "::1",
	"::ffff:127.0.0.1", "2001:db8::1", "[::1]", "", "garbage",
};

/* The values of the loaded table, in line order. */
static const char	**values;
static size_t		  nvalues;

static int
collect(const char *v, char *why, size_t whylen)
{
	if (v[0] == '\0')
		abort();	/* the loader refuses empty values */
	values = realloc(values, (nvalues + 1) * sizeof(*values));
	if (values == NULL)
		abort();
	values[nvalues++] = v;
	return 0;
}

/* The address part of a prefix: what precedes its last '/'. */
static char *
prefix_addr(const char *p, size_t n)
{
	const char *slash = NULL, *q;
	char *a;

	for (q = p; q < p + n; q++)
		if (*q == '/')
			slash = q;
	if (slash != NULL)
		n = (size_t)(slash - p);
	if ((a = malloc(n + 1)) == NULL)
		abort();
	memcpy(a, p, n);
	a[n] = '\0';
	return a;
}

static void
fixed_lookups(const struct cidr_table *t)
{
	const char *v;
	size_t i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if ((v = cidr_lookup(t, fixed[i])) != NULL && v[0] == '\0')
			abort();
}

/* Every item of the list, split as cidr_from_list() splits it. */
static void
check_list(const struct cidr_table *t, const char *list)
{
	const char *v;
	char *a;
	size_t n;

	fixed_lookups(t);
	for (;;) {
		list += strspn(list, ", \t\r\n");
		if ((n = strcspn(list, ", \t\r\n")) == 0)
			break;
		a = prefix_addr(list, n);
		if ((v = cidr_lookup(t, a)) == NULL || strcmp(v, "1") != 0)
			abort();
		free(a);
		list += n;
	}
}

/* The value a line's own address gets: its own, or an earlier one's. */
static void
check_line(const struct cidr_table *t, const char *key, size_t entry)
{
	const char *v;
	char *a;
	size_t i;

	/* No key that loads has a CR in it; one may end the line. */
	a = prefix_addr(key, strcspn(key, " \t\r"));
	if ((v = cidr_lookup(t, a)) == NULL)
		abort();
	for (i = 0; i <= entry && values[i] != v; i++)
		;
	if (i > entry)
		abort();
	free(a);
}

/*
 * Walk the text as cidr_load() reads the file: lines end at '\n', a NUL
 * ends a line's text, blank and '#' lines are skipped, a line starting
 * with a space or tab continues the entry before.  Every other line
 * starts entry number n, whose key is its first word.
 */
static void
check_table(const struct cidr_table *t, const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl, *s;
	size_t n = 0, len;
	char *line;

	fixed_lookups(t);
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		len = strnlen(p, (size_t)(nl - p));
		if ((line = malloc(len + 1)) == NULL)
			abort();
		memcpy(line, p, len);
		line[len] = '\0';
		s = line + strspn(line, " \t\r\n");
		if (*s != '\0' && *s != '#' && line[0] != ' ' &&
		    line[0] != '\t') {
			if (n >= nvalues)
				abort();	/* an entry the table lost */
			check_line(t, s, n++);
		}
		free(line);
		if (nl == end)
			break;
	}
	if (n != nvalues)
		abort();	/* an entry the text does not have */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cidr_table *t;
	char path[64], err[512];
	char *text;

	if (memfd == -1 && (memfd = memfd_create("fuzz-cidr", 0)) == -1)
		abort();
	if (ftruncate(memfd, 0) == -1 ||
	    pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	err[0] = '\0';
	if ((t = cidr_load(path, err, sizeof(err))) == NULL) {
		if (err[0] == '\0')
			abort();
	} else {
		nvalues = 0;
		if (cidr_check_values(t, collect, err, sizeof(err)) != 0)
			abort();
		check_table(t, data, size);
		cidr_free(t);
	}

	err[0] = '\0';
	if ((t = cidr_from_list(text, err, sizeof(err))) == NULL) {
		if (err[0] == '\0')
			abort();
	} else {
		check_list(t, text);
		cidr_free(t);
	}
	free(text);
	return 0;
}
