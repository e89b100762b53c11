/*
 * Small text helpers that several processes share.
 */
#ifndef BULWARK_TEXT_H
#define BULWARK_TEXT_H

#include <stddef.h>

/* s without its leading and trailing blanks (space, tab, CR, LF). */
char	*text_trim(char *s);
/* Lines joined into one in place: newlines become ';', the last goes. */
void	 text_join_lines(char *s);
/* Copy text to out (bounded), control characters turned into spaces. */
void	 text_one_line(char *out, size_t outlen, const char *text);

#endif
