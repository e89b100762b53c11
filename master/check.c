/*
 * The checks the master runs on a configuration before it starts with it
 * or pushes it to the children: what the key table's parser cannot see,
 * because it needs the file system or the user database.  Every problem
 * is reported, not just the first, as "file:line: key: reason".
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aliases.h"
#include "cidr.h"
#include "config.h"
#include "xmalloc.h"

#include "master/master.h"
#include "policy/policy.h"

void
master_errf(char **errs, const char *fmt, ...)
{
	char *line, *all;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) == -1)
		line = NULL;
	va_end(ap);
	if (line == NULL)
		return;
	if (*errs == NULL || **errs == '\0') {
		free(*errs);
		*errs = line;
		return;
	}
	xasprintf(&all, "%s%s%s", *errs,
	    (*errs)[strlen(*errs) - 1] == '\n' ? "" : "\n", line);
	free(*errs);
	free(line);
	*errs = all;
}

/*
 * The table itself; the parser checked the "cidr:/path" form.  The
 * policy loads it again as mail_owner at a reload, and answers for that.
 */
static void
check_access_table(const struct config *cfg, char **errs)
{
	const char *spec = cfg->smtpd_client_access;
	struct cidr_table *t;
	char err[512], at[PATH_MAX + 32];

	if (spec == NULL || *spec == '\0')
		return;
	config_where(cfg, "smtpd_client_access", at, sizeof(at));
	if ((t = cidr_load(spec + 5, err, sizeof(err))) == NULL) {
		master_errf(errs, "%s: smtpd_client_access: %s", at, err);
		return;
	}
	/* Caught here, an unknown action fails the start, not the policy. */
	if (cidr_check_values(t, policy_access_value_ok, err,
	    sizeof(err)) != 0)
		master_errf(errs, "%s: smtpd_client_access: %s", at, err);
	cidr_free(t);
}

/*
 * A database that is there must open, or the policy process could not
 * start; mail_owner's access is the policy's own check at a reload.
 */
static void
check_alias_db(const struct config *cfg, char **errs)
{
	char db[PATH_MAX + 8], err[PATH_MAX + 256], at[PATH_MAX + 32];

	if (cfg->alias_maps == NULL || cfg->alias_maps[0] == '\0' ||
	    aliases_db_path(cfg->alias_maps, db, sizeof(db)) == -1)
		return;
	if (aliases_db_check(db, err, sizeof(err)) == -1) {
		config_where(cfg, "alias_maps", at, sizeof(at));
		master_errf(errs, "%s: alias_maps: %s", at, err);
	}
}

static void
check_mail_owner(const struct config *cfg, int as_root, char **errs)
{
	struct passwd *pw;
	char at[PATH_MAX + 32];

	if (!as_root)
		return;
	config_where(cfg, "mail_owner", at, sizeof(at));
	if (cfg->mail_owner == NULL || *cfg->mail_owner == '\0') {
		master_errf(errs, "%s: mail_owner: empty", at);
		return;
	}
	if ((pw = getpwnam(cfg->mail_owner)) == NULL) {
		master_errf(errs, "%s: mail_owner: no such user: %s", at,
		    cfg->mail_owner);
		return;
	}
	if (pw->pw_uid == 0)
		master_errf(errs, "%s: mail_owner: %s has uid 0; the "
		    "children must not run as root", at, cfg->mail_owner);
}

/* The spool must exist, or its parent must let us create it. */
static void
check_queue_directory(const struct config *cfg, char **errs)
{
	const char *dir = cfg->queue_directory;
	char parent[PATH_MAX], *slash, at[PATH_MAX + 32];
	struct stat st;

	config_where(cfg, "queue_directory", at, sizeof(at));
	if (dir == NULL || dir[0] != '/') {
		master_errf(errs, "%s: queue_directory: not an absolute path: "
		    "%s", at, dir ? dir : "");
		return;
	}
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			master_errf(errs, "%s: queue_directory: %s is not a "
			    "directory", at, dir);
		return;
	}
	if (errno != ENOENT) {
		master_errf(errs, "%s: queue_directory: %s: %s", at, dir,
		    strerror(errno));
		return;
	}
	if (strlcpy(parent, dir, sizeof(parent)) >= sizeof(parent)) {
		master_errf(errs, "%s: queue_directory: path too long", at);
		return;
	}
	slash = strrchr(parent, '/');
	if (slash == parent)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    access(parent, W_OK | X_OK) != 0)
		master_errf(errs, "%s: queue_directory: %s does not exist "
		    "and cannot be created in %s", at, dir, parent);
}

int
master_check_config(const struct config *cfg, int as_root, char **errs)
{
	char *found = NULL;
	int rc = 0;

	check_queue_directory(cfg, &found);
	check_mail_owner(cfg, as_root, &found);
	check_access_table(cfg, &found);
	check_alias_db(cfg, &found);
	if (found != NULL) {
		master_errf(errs, "%s", found);
		free(found);
		rc = -1;
	}
	return rc;
}

struct config *
master_load_config(const char *path, int as_root, char **text, char **errs)
{
	struct config *cfg;
	char *body;

	*text = NULL;
	if ((body = config_read_file(path, errs)) == NULL)
		return NULL;
	if (strlen(body) > MASTER_CONFIG_MAX) {
		master_errf(errs, "%s: the file is larger than %d bytes", path,
		    MASTER_CONFIG_MAX);
		free(body);
		return NULL;
	}
	if ((cfg = config_parse(path, body, errs)) == NULL) {
		free(body);
		return NULL;
	}
	if (master_check_config(cfg, as_root, errs) != 0) {
		config_free(cfg);
		free(body);
		return NULL;
	}
	*text = body;
	return cfg;
}
