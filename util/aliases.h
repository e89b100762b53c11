/*
 * The aliases file (/etc/aliases syntax: "name: target, target") and its
 * compiled Berkeley DB hash form, built by newaliases.  Targets here are
 * local names or addresses; pipes, files and :include: are refused by the
 * compiler with a clear error.
 */
#ifndef BULWARK_ALIASES_H
#define BULWARK_ALIASES_H

#include <stddef.h>
#include <stdio.h>

/* One alias of a parsed source. */
struct alias {
	char	*name;		/* lower-cased */
	char	*value;		/* "target, target" */
	size_t	 line;		/* where its entry starts */
};

struct alias_table {
	struct alias	*a;
	size_t		 n;
	size_t		 cap;
};

/*
 * Compile src into dbpath (written to a temporary file and renamed).
 * Returns the number of aliases, or -1 with every error, one
 * "file:line: reason" per line, in *errs (malloc'd).
 */
int	aliases_compile(const char *src, const char *dbpath, char **errs);
/*
 * Parse aliases source text (len bytes, src naming it in messages) into
 * t, with every check aliases_compile makes; no I/O but to errs, which
 * gets each error as "src:line: reason\n" (NULL: errors only counted).
 * Returns the number of errors; t holds the good entries either way.
 */
int	aliases_parse(const char *src, const char *text, size_t len,
	    struct alias_table *t, FILE *errs);
void	aliases_table_free(struct alias_table *);
/*
 * Look name up (lower-cased) in dbpath.  Returns 1 and a malloc'd
 * comma-separated target list in *value, 0 when absent, -1 on error.
 */
int	aliases_lookup(const char *dbpath, const char *name, char **value);
/* "hash:/etc/aliases" -> "/etc/aliases.db"; returns -1 for other types. */
int	aliases_db_path(const char *maps, char *out, size_t outlen);

#endif
