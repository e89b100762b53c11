/*
 * The checks the master runs on a configuration before it starts with it
 * or pushes it to the children: what the key table's parser cannot see,
 * because it needs the file system, the user database or another part's
 * parser.  Every problem is reported, not just the first.
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

#include "cidr.h"
#include "config.h"
#include "xmalloc.h"

#include "deliver/relayhost.h"
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

static void
check_access_table(const struct config *cfg, char **errs)
{
	const char *spec = cfg->smtpd_client_access;
	struct cidr_table *t;
	char err[512];

	if (spec == NULL || *spec == '\0')
		return;
	if (strncmp(spec, "cidr:", 5) != 0) {
		master_errf(errs, "%s: smtpd_client_access: only cidr: tables "
		    "are supported: %s", cfg->path, spec);
		return;
	}
	if ((t = cidr_load(spec + 5, err, sizeof(err))) == NULL) {
		master_errf(errs, "%s: smtpd_client_access: %s", cfg->path,
		    err);
		return;
	}
	/* Caught here, an unknown action fails the start, not the policy. */
	if (cidr_check_values(t, policy_access_value_ok, err,
	    sizeof(err)) != 0)
		master_errf(errs, "%s: smtpd_client_access: %s", cfg->path,
		    err);
	cidr_free(t);
}

static void
check_mynetworks(const struct config *cfg, char **errs)
{
	struct cidr_table *t;
	char err[512];

	if (cfg->mynetworks == NULL || *cfg->mynetworks == '\0')
		return;
	if ((t = cidr_from_list(cfg->mynetworks, err, sizeof(err))) == NULL) {
		master_errf(errs, "%s: mynetworks: %s", cfg->path, err);
		return;
	}
	cidr_free(t);
}

static void
check_relayhost(const struct config *cfg, char **errs)
{
	struct sockaddr_storage ss;
	char label[RELAYHOST_LABEL_MAX];
	socklen_t sslen;

	if (cfg->relayhost == NULL || *cfg->relayhost == '\0')
		return;
	if (relayhost_parse(cfg->relayhost, &ss, &sslen, label,
	    sizeof(label)) != 0)
		master_errf(errs, "%s: relayhost: not an address literal such "
		    "as [192.0.2.1]:25: %s", cfg->path, cfg->relayhost);
}

static void
check_listen(const struct config *cfg, char **errs)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	char err[256];
	size_t i, j;

	for (i = 0; i < cfg->nlisten; i++) {
		if (listen_parse_addr(cfg->listen[i], &ss, &sslen, err,
		    sizeof(err)) != 0) {
			master_errf(errs, "%s: inet_interfaces: %s", cfg->path,
			    err);
			continue;
		}
		for (j = 0; j < i; j++)
			if (strcmp(cfg->listen[i], cfg->listen[j]) == 0)
				master_errf(errs, "%s: inet_interfaces: %s "
				    "is listed twice", cfg->path,
				    cfg->listen[i]);
	}
}

static void
check_mail_owner(const struct config *cfg, int as_root, char **errs)
{
	struct passwd *pw;

	if (!as_root)
		return;
	if (cfg->mail_owner == NULL || *cfg->mail_owner == '\0') {
		master_errf(errs, "%s: mail_owner: empty", cfg->path);
		return;
	}
	if ((pw = getpwnam(cfg->mail_owner)) == NULL) {
		master_errf(errs, "%s: mail_owner: no such user: %s",
		    cfg->path, cfg->mail_owner);
		return;
	}
	if (pw->pw_uid == 0)
		master_errf(errs, "%s: mail_owner: %s has uid 0; the "
		    "children must not run as root", cfg->path,
		    cfg->mail_owner);
}

/* The spool must exist, or its parent must let us create it. */
static void
check_queue_directory(const struct config *cfg, char **errs)
{
	const char *dir = cfg->queue_directory;
	char parent[PATH_MAX], *slash;
	struct stat st;

	if (dir == NULL || dir[0] != '/') {
		master_errf(errs, "%s: queue_directory: not an absolute path: "
		    "%s", cfg->path, dir ? dir : "");
		return;
	}
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			master_errf(errs, "%s: queue_directory: %s is not a "
			    "directory", cfg->path, dir);
		return;
	}
	if (errno != ENOENT) {
		master_errf(errs, "%s: queue_directory: %s: %s", cfg->path,
		    dir, strerror(errno));
		return;
	}
	if (strlcpy(parent, dir, sizeof(parent)) >= sizeof(parent)) {
		master_errf(errs, "%s: queue_directory: path too long",
		    cfg->path);
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
		    "and cannot be created in %s", cfg->path, dir, parent);
}

int
master_check_config(const struct config *cfg, int as_root, char **errs)
{
	char *found = NULL;
	int rc = 0;

	check_queue_directory(cfg, &found);
	check_mail_owner(cfg, as_root, &found);
	check_listen(cfg, &found);
	check_mynetworks(cfg, &found);
	check_access_table(cfg, &found);
	check_relayhost(cfg, &found);
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
