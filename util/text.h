/*
 * Small text helpers that several processes share.
 */
#ifndef BULWARK_TEXT_H
#define BULWARK_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* s without its leading and trailing blanks (space, tab, CR, LF). */
char	*text_trim(char *s);
/* Lines joined into one in place: newlines become ';', the last goes. */
void	 text_join_lines(char *s);
/* Copy text to out (bounded), control characters turned into spaces. */
void	 text_one_line(char *out, size_t outlen, const char *text);
/*
 * The next line of *text, without its newline, and its length in *len;
 * *text moves past it.  NULL once the text is used up (or *text is
 * NULL); a last line without a newline counts.  Walks an error text
 * line by line without copying it.
 */
const char	*text_line(const char **text, size_t *len);
/* Each line of text (may be NULL) on f, after "prefix: " unless NULL. */
void		 text_print_lines(FILE *f, const char *prefix,
		    const char *text);

#endif
