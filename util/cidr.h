/*
 * CIDR tables: "cidr:/path" files whose lines are "prefix/len  value".
 * The first matching line wins, as in Postfix's cidr tables.
 */
#ifndef BULWARK_CIDR_H
#define BULWARK_CIDR_H

#include <stddef.h>
#include <sys/socket.h>

struct cidr_table;

/* Load; on error returns NULL with "path:line: reason" in err. */
struct cidr_table	*cidr_load(const char *path, char *err, size_t errlen);
/* Parse a single "a.b.c.d/n" or IPv6 prefix list (for mynetworks). */
struct cidr_table	*cidr_from_list(const char *list, char *err,
			    size_t errlen);
void			 cidr_free(struct cidr_table *);
/* Value of the first line matching the textual address, or NULL. */
const char		*cidr_lookup(const struct cidr_table *,
			    const char *addr);
/*
 * Give every value to ok(), in order; the first one it refuses (-1, with
 * a reason in why) is reported as "path:line: reason" in err and -1 is
 * returned.  0 when every value is accepted.
 */
int			 cidr_check_values(const struct cidr_table *,
			    int (*ok)(const char *value, char *why,
			    size_t whylen), char *err, size_t errlen);

#endif
