/*
 * RFC 5321 envelope addresses: the reverse-path of MAIL and the
 * forward-path of RCPT.  Pure functions with no logging; the caller turns
 * the result into a reply.
 */
#ifndef BULWARK_ADDR_H
#define BULWARK_ADDR_H

#include <stddef.h>

#define ADDR_LOCAL_MAX	64
#define ADDR_DOMAIN_MAX	255
#define ADDR_PATH_MAX	256

enum addr_error {
	ADDR_OK = 0,
	ADDR_ERR_SYNTAX,	/* not a path at all */
	ADDR_ERR_LOCAL,		/* bad local part */
	ADDR_ERR_DOMAIN,	/* bad domain or address literal */
	ADDR_ERR_TOOLONG,	/* a limit of RFC 5321 section 4.5.3.1 */
};

struct mailaddr {
	/* Local part as written (quotes kept when they were needed). */
	char	local[ADDR_LOCAL_MAX + 3];
	/* Domain, or an address literal with its brackets. */
	char	domain[ADDR_DOMAIN_MAX + 1];
	int	is_null;		/* "<>" */
	int	is_postmaster;		/* "<Postmaster>" without domain */
};

/*
 * Parse a path such as "<@a,@b:user@example.org>" (source route accepted
 * and dropped) starting at s, len bytes long; on success *end points just
 * past the closing '>'.  allow_null accepts "<>" (MAIL FROM).
 */
enum addr_error	addr_parse_path(const char *s, size_t len, size_t *end,
		    int allow_null, struct mailaddr *);
/* Write "local@domain" (or "" for the null path) into out. */
int		addr_format(const struct mailaddr *, char *out, size_t outlen);
/*
 * Is s, len bytes, exactly one domain name of RFC 5321 (labels of
 * letters, digits and inner hyphens, at most 63 octets each, 255 in
 * all)?  No address literal, no final dot.
 */
int		addr_domain_valid(const char *s, size_t len);
/* A control character (below 0x20, or DEL): it could split a line. */
int		addr_has_control(const char *);

#endif
