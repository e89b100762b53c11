/*
 * Text helpers (util/text.c): text_line walks an error text line by
 * line, and text_print_lines prints it with a prefix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "unit.h"

/* The lines of text joined with '|', in out. */
static void
walk(const char *text, char *out, size_t outlen)
{
	const char *line;
	size_t len;

	out[0] = '\0';
	while ((line = text_line(&text, &len)) != NULL) {
		if (out[0] != '\0')
			strlcat(out, "|", outlen);
		strncat(out, line, len);
	}
}

static void
test_line(void)
{
	char got[256];

	walk("a\nbb\n", got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "a|bb");
	walk("a\nbb", got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "a|bb");
	walk("a\n\nc\n", got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "a||c");
	walk("", got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "");
	walk(NULL, got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, "");
}

static void
test_print_lines(void)
{
	char buf[256];
	size_t n;
	FILE *f;

	f = tmpfile();
	CU_ASSERT_FATAL(f != NULL);
	text_print_lines(f, "prog", "one\ntwo");
	text_print_lines(f, NULL, "three\n");
	text_print_lines(f, "prog", NULL);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	CU_ASSERT_STRING_EQUAL(buf, "prog: one\nprog: two\nthree\n");
}

static CU_TestInfo tests[] = {
	{ "text_line", test_line },
	{ "text_print_lines", test_print_lines },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("text", tests)
