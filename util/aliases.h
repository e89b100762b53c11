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

#include "addr.h"

struct config;

#define ALIAS_DEPTH_MAX		10	/* nested alias expansions */
#define ALIAS_NAMES_MAX		1000	/* names one walk may meet */
#define ALIASES_NODB		(-2)	/* the database is not built yet */

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
 * comma-separated target list in *value, 0 when absent, ALIASES_NODB
 * when dbpath does not exist (newaliases has not built it), -1 on
 * another error.
 */
int	aliases_lookup(const char *dbpath, const char *name, char **value);
/* "hash:/etc/aliases" -> "/etc/aliases.db"; returns -1 for other types. */
int	aliases_db_path(const char *maps, char *out, size_t outlen);
/*
 * Can dbpath be opened (as the caller's user)?  0 when it can,
 * ALIASES_NODB when it does not exist (no database yet), else -1 with
 * "path: reason" in err.
 */
int	aliases_db_check(const char *dbpath, char *err, size_t errlen);

/* What one stored target names, cfg giving the local domains. */
enum alias_target	aliases_target_kind(const struct config *,
			    const char *target);
/* "a remote address", "a command", ...; and why that cannot work yet. */
const char		*aliases_target_what(enum alias_target);
const char		*aliases_target_why(enum alias_target);

/* How a walk ended. */
enum alias_walk_end {
	ALIAS_WALK_OK = 0,	/* every name it reached was taken */
	ALIAS_WALK_STOPPED,	/* the callback refused w->name */
	ALIAS_WALK_NODB,	/* the database is named but not built */
	ALIAS_WALK_DBERR,	/* it cannot be read */
	ALIAS_WALK_UNBUILT,	/* a target of kind w->kind */
	ALIAS_WALK_DEEP,	/* deeper than ALIAS_DEPTH_MAX: a loop? */
	ALIAS_WALK_WIDE,	/* more than ALIAS_NAMES_MAX names */
	ALIAS_WALK_BADTARGET,	/* alias w->name has a target without name */
	ALIAS_WALK_EMPTY,	/* it reached no name at all */
};

/* What a walk learnt besides how it ended. */
struct alias_walk {
	int			via_alias;	/* the name is an alias */
	enum alias_target	kind;		/* ALIAS_WALK_UNBUILT */
	char			name[ADDR_LOCAL_MAX + 3];
};

/*
 * Called for each name a walk ends at: one that is no alias, or an alias
 * that names itself ("root: root, alice"); alias is the alias that led
 * there, NULL for the walk's own name.  Returns 0, or -1 when the name
 * is no mailbox, which ends the walk.
 */
typedef int	(*alias_name_fn)(void *arg, const char *name,
		    const char *alias);

/*
 * Expand name (a local part) through the database at dbpath, opened
 * once for the whole walk (NULL: there is none, name goes to fn as it
 * is): targets in order, depth first, ALIAS_DEPTH_MAX levels and
 * ALIAS_NAMES_MAX names at most, stopping at the first target that
 * cannot be delivered yet.  The policy walks at RCPT as the local agent
 * does at delivery, so that RCPT refuses what delivery would.
 */
enum alias_walk_end	aliases_walk(const struct config *,
			    const char *dbpath, const char *name,
			    alias_name_fn fn, void *arg, struct alias_walk *w);
/*
 * Why a walk failed: its enhanced status code ("5.4.6"; 4.x.x when the
 * failure is temporary), with the reason written into text.  For
 * ALIAS_WALK_STOPPED the reason is an alias target that is no mailbox.
 */
const char		*aliases_walk_reason(enum alias_walk_end,
			    const struct alias_walk *, char *text,
			    size_t textlen);

#endif
