/*
 * Recipients from message headers (sendmail -t): the header section of a
 * message, its To:, Cc: and Bcc: fields (or their Resent- forms), and
 * the RFC 5322 address lists in them.  Pure functions without logging;
 * the caller validates each address it gets back and decides what an
 * error means.
 */
#ifndef BULWARK_RCPTEXTRACT_H
#define BULWARK_RCPTEXTRACT_H

#include <stddef.h>

/* A list of addr-specs ("local@domain" or a bare "local"), no duplicates. */
struct rcptx_list {
	char	**v;
	size_t	  n;
	size_t	  cap;
};

/* How the header section ended. */
enum rcptx_end {
	RCPTX_END_EOF = 0,	/* the message is all header (or empty) */
	RCPTX_END_BLANK,	/* an empty line follows the fields */
	RCPTX_END_BODY,		/* a line that is no header field follows */
};

/*
 * Length of the header fields at the start of msg (each field with its
 * continuation lines and line endings), and how the section ended.
 */
size_t	rcptx_header_len(const char *msg, size_t len, enum rcptx_end *);

/*
 * Length of the field (first line and continuation lines, with their
 * line endings) starting at p; 0 when p does not start a field.
 * *name_len gets the length of the field name (without spaces and colon).
 */
size_t	rcptx_field_len(const char *p, size_t len, size_t *name_len);

/* The field's value without its line endings, unfolded, malloc'd. */
char	*rcptx_unfold(const char *field, size_t len);

/*
 * Parse an address list (a header field's value, unfolded) and add every
 * mailbox in it, groups included, to list.  Returns the number of
 * malformed members (skipped); the first one is described in err.
 */
int	rcptx_parse_list(const char *value, size_t len, struct rcptx_list *,
	    char *err, size_t errlen);

/* Has the header section a Resent-To:, Resent-Cc: or Resent-Bcc: field? */
int	rcptx_has_resent(const char *hdr, size_t len);

/*
 * Parse every To:, Cc: and Bcc: field of the header section hdr (as
 * measured by rcptx_header_len), or, when it has a Resent-To:,
 * Resent-Cc: or Resent-Bcc: field, every such field instead (as
 * sendmail and Postfix do).  Returns the number of malformed members;
 * err names the first one with its field.
 */
int	rcptx_extract(const char *hdr, size_t len, struct rcptx_list *,
	    char *err, size_t errlen);

/*
 * Remove every Bcc: and Resent-Bcc: field from the header section in
 * place; the new length.
 */
size_t	rcptx_strip_bcc(char *hdr, size_t len);

/* Append a copy of addr unless the list has it; returns 1 when added. */
int	rcptx_list_add(struct rcptx_list *, const char *addr);
void	rcptx_list_free(struct rcptx_list *);

#endif
