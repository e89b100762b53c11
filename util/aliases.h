/*
 * The aliases file (/etc/aliases syntax: "name: target, target") and its
 * compiled Berkeley DB hash form, built by newaliases.  Targets are local
 * names or addresses, "|command", "/file" or ":include:/file"; the last
 * three, and addresses in other domains, are compiled with a warning,
 * since Bulwark cannot deliver to them yet and refuses them at RCPT.
 */
#ifndef BULWARK_ALIASES_H
#define BULWARK_ALIASES_H

#include <stddef.h>
#include <stdio.h>

struct config;

#define ALIAS_DEPTH_MAX		10	/* nested alias expansions */

/* What an alias target names. */
enum alias_target {
	ALIAS_TARGET_LOCAL = 0,	/* a name, or an address in our domains */
	ALIAS_TARGET_REMOTE,	/* an address in another domain */
	ALIAS_TARGET_COMMAND,	/* "|command" */
	ALIAS_TARGET_FILE,	/* "/path" */
	ALIAS_TARGET_INCLUDE,	/* ":include:/path" */
};

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
 * "file:line: reason" per line, in *errs (malloc'd).  On success *warns
 * (when warns is not NULL) gets one "file:line: warning: ..." line per
 * target that cfg's Bulwark cannot deliver yet, or NULL.
 */
int	aliases_compile(const char *src, const char *dbpath,
	    const struct config *cfg, char **errs, char **warns);
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
/*
 * Can dbpath be opened (as the caller's user)?  0 when it can or does
 * not exist (no database yet), else -1 with "path: reason" in err.
 */
int	aliases_db_check(const char *dbpath, char *err, size_t errlen);

/* What one stored target names, cfg giving the local domains. */
enum alias_target	aliases_target_kind(const struct config *,
			    const char *target);
/* "a remote address", "a command", ...; and why that cannot work yet. */
const char		*aliases_target_what(enum alias_target);
const char		*aliases_target_why(enum alias_target);
/*
 * Follow name through dbpath as local delivery does (ALIAS_DEPTH_MAX
 * levels deep) to the first target it cannot deliver yet.  Returns 1
 * with that target's kind in *kind, 0 when there is none, -1 when the
 * database cannot be read.
 */
int	aliases_find_unbuilt(const struct config *, const char *dbpath,
	    const char *name, enum alias_target *kind);

#endif
