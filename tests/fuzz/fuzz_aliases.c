/*
 * Fuzz the aliases source parser (what newaliases compiles), on a buffer
 * and without Berkeley DB: arbitrary bytes as an aliases file.  Every
 * error is one "src:line: reason" line; every alias kept has a unique,
 * lower-cased name without control characters and a non-empty target
 * list; and the table written back out as source parses again, without
 * an error, to the very same table.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aliases.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define SRC	"aliases"

static void
check_table(const struct alias_table *t, size_t nlines)
{
	const struct alias *a;
	const char *p;
	size_t i, j;

	if (t->n > t->cap || (t->n > 0 && t->a == NULL))
		abort();
	for (i = 0; i < t->n; i++) {
		a = &t->a[i];
		if (a->name[0] == '\0' || a->value[0] == '\0' ||
		    a->line == 0 || a->line > nlines)
			abort();
		for (p = a->name; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f ||
			    (*p >= 'A' && *p <= 'Z'))
				abort();
		/* Readers split the value at commas: only ", " joins. */
		for (p = a->value; (p = strchr(p, ',')) != NULL; p++)
			if (p[1] != ' ' || p[2] == ' ' || p[2] == '\0')
				abort();
		if (strchr(a->value, '\n') != NULL)
			abort();
		for (j = 0; j < i; j++)
			if (strcmp(a->name, t->a[j].name) == 0 ||
			    a->line <= t->a[j].line)
				abort();
	}
}

/* The table as source text again; names quoted where they must be. */
static char *
unparse(const struct alias_table *t, size_t *len)
{
	const struct alias *a;
	char *text = NULL;
	size_t i;
	FILE *f;

	if ((f = open_memstream(&text, len)) == NULL)
		abort();
	for (i = 0; i < t->n; i++) {
		a = &t->a[i];
		if (a->name[0] == '#' || a->name[0] == '"' ||
		    strpbrk(a->name, ": \t") != NULL) {
			/* Such a name was quoted, so it holds no quote. */
			if (strchr(a->name, '"') != NULL)
				abort();
			fprintf(f, "\"%s\": %s\n", a->name, a->value);
		} else
			fprintf(f, "%s: %s\n", a->name, a->value);
	}
	if (fclose(f) != 0)
		abort();
	return text;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct alias_table t, u;
	char *text, *errs = NULL, *again, *p;
	size_t i, errlen = 0, alen, nlines = 1, lines = 0;
	FILE *ef;
	int nerr, quiet;

	/* Exactly size bytes, so reading past them is caught. */
	if ((text = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(text, data, size);
	for (i = 0; i < size; i++)
		if (text[i] == '\n')
			nlines++;

	memset(&t, 0, sizeof(t));
	if ((ef = open_memstream(&errs, &errlen)) == NULL)
		abort();
	nerr = aliases_parse(SRC, text, size, &t, ef);
	if (fclose(ef) != 0 || nerr < 0)
		abort();
	check_table(&t, nlines);

	/* One line per error, each naming the source and a line. */
	for (p = errs; *p != '\0'; p = strchr(p, '\n') + 1) {
		if (strncmp(p, SRC ":", sizeof(SRC)) != 0 ||
		    strchr(p, '\n') == NULL)
			abort();
		lines++;
	}
	if (lines != (size_t)nerr || strlen(errs) != errlen)
		abort();

	/* Without a stream the errors are only counted. */
	memset(&u, 0, sizeof(u));
	quiet = aliases_parse(SRC, text, size, &u, NULL);
	if (quiet != nerr || u.n != t.n)
		abort();
	aliases_table_free(&u);

	again = unparse(&t, &alen);
	memset(&u, 0, sizeof(u));
	if (aliases_parse(SRC, again, alen, &u, NULL) != 0 || u.n != t.n)
		abort();
	for (i = 0; i < t.n; i++)
		if (strcmp(t.a[i].name, u.a[i].name) != 0 ||
		    strcmp(t.a[i].value, u.a[i].value) != 0 ||
		    u.a[i].line != i + 1)
			abort();
	aliases_table_free(&u);
	aliases_table_free(&t);
	if (t.n != 0 || t.a != NULL)
		abort();
	free(again);
	free(errs);
	free(text);
	return 0;
}
