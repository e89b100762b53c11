/*
 * Small text helpers that several processes share.
 */
#include <stdio.h>
#include <string.h>

#include "text.h"

char *
text_trim(char *s)
{
	char *end;

	s += strspn(s, " \t\r\n");
	end = s + strlen(s);
	while (end > s && strchr(" \t\r\n", end[-1]) != NULL)
		*--end = '\0';
	return s;
}

void
text_join_lines(char *s)
{
	size_t len = strlen(s);

	while (len > 0 && s[len - 1] == '\n')
		s[--len] = '\0';
	for (; (s = strchr(s, '\n')) != NULL; s++)
		*s = ';';
}

void
text_one_line(char *out, size_t outlen, const char *text)
{
	size_t i;

	strlcpy(out, text, outlen);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < ' ' || out[i] == 0x7f)
			out[i] = ' ';
}

const char *
text_line(const char **text, size_t *len)
{
	const char *line = *text, *nl;

	if (line == NULL || *line == '\0')
		return NULL;
	if ((nl = strchr(line, '\n')) != NULL) {
		*len = (size_t)(nl - line);
		*text = nl + 1;
	} else {
		*len = strlen(line);
		*text = line + *len;
	}
	return line;
}

void
text_print_lines(FILE *f, const char *prefix, const char *text)
{
	const char *line;
	size_t len;

	while ((line = text_line(&text, &len)) != NULL)
		fprintf(f, "%s%s%.*s\n", prefix != NULL ? prefix : "",
		    prefix != NULL ? ": " : "", (int)len, line);
}
