/*
 * The aliases file (/etc/aliases syntax: "name: target, target") and its
 * compiled Berkeley DB hash form, built by newaliases.  Targets here are
 * local names or addresses; pipes, files and :include: are refused by the
 * compiler with a clear error.
 */
#ifndef BULWARK_ALIASES_H
#define BULWARK_ALIASES_H

#include <stddef.h>

/*
 * Compile src into dbpath (written to a temporary file and renamed).
 * Returns the number of aliases, or -1 with every error, one
 * "file:line: reason" per line, in *errs (malloc'd).
 */
int	aliases_compile(const char *src, const char *dbpath, char **errs);
/*
 * Look name up (lower-cased) in dbpath.  Returns 1 and a malloc'd
 * comma-separated target list in *value, 0 when absent, -1 on error.
 */
int	aliases_lookup(const char *dbpath, const char *name, char **value);
/* "hash:/etc/aliases" -> "/etc/aliases.db"; returns -1 for other types. */
int	aliases_db_path(const char *maps, char *out, size_t outlen);

#endif
