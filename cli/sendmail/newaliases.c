/*
 * newaliases (sendmail -bi): compile the source file of alias_maps into
 * its Berkeley DB hash, which local delivery reads.  Package scripts run
 * it on any system, so no alias table is not an error, and an entry
 * Bulwark cannot deliver yet (a command, a file, another domain) is a
 * warning: the file compiles whole and such aliases are refused at RCPT.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "aliases.h"
#include "config.h"
#include "text.h"
#include "cli/sendmail/sendmail.h"

int
sm_newaliases(const struct config *cfg, const struct sm_opts *opts)
{
	char db[4096], src[4096], *errs = NULL, *warns = NULL;
	struct stat st;
	size_t len;
	int n;

	if (cfg->alias_maps == NULL || cfg->alias_maps[0] == '\0') {
		printf("%s: alias_maps is empty: no aliases to compile\n",
		    opts->prog);
		return 0;
	}
	if (aliases_db_path(cfg->alias_maps, db, sizeof(db)) == -1) {
		fprintf(stderr, "%s: alias_maps: only one hash: table is "
		    "supported, not \"%s\"\n", opts->prog, cfg->alias_maps);
		return EX_CONFIG;
	}
	/* The source is the db path without its ".db". */
	len = strlen(db) - 3;
	memcpy(src, db, len);
	src[len] = '\0';
	if (stat(src, &st) == -1) {
		fprintf(stderr, "%s: %s: %s\n", opts->prog, src,
		    strerror(errno));
		return EX_NOINPUT;
	}

	if ((n = aliases_compile(src, db, cfg, &errs, &warns)) >= 0) {
		text_print_lines(stderr, opts->prog, warns);
		printf("%s: %s: %d alias%s\n", opts->prog, db, n,
		    n == 1 ? "" : "es");
		free(warns);
		return 0;
	}
	text_print_lines(stderr, opts->prog, errs);
	free(errs);
	return EX_DATAERR;
}
