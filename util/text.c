/*
 * Small text helpers that several processes share.
 */
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
