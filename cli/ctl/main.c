/*
 * bulwarkctl: the operator's commands to a running bulwarkd, through
 * <queue_directory>/private/control.  One request line goes out; the
 * reply is printed as it comes and ends when the master closes.
 *
 *	bulwarkctl [-C file] status|flush|reload|stop|check-config
 *
 * Exit status: 0 for an "ok" reply, 1 for "error:" or no reply, 69
 * (EX_UNAVAILABLE) when no daemon listens, 77 (EX_NOPERM) when the
 * control socket or the -C file is not ours to use, 64 for a bad
 * command line.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "ctlclient.h"
#include "log.h"
#include "text.h"
#include "xmalloc.h"

#include "master/master.h"

static const char *const ctl_commands[] = {
	"status", "flush", "reload", "stop",
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: bulwarkctl [-C file] "
	    "status|flush|reload|stop|check-config\n");
	exit(EX_USAGE);
}

static int
known_command(const char *cmd)
{
	size_t i;

	for (i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++)
		if (strcmp(cmd, ctl_commands[i]) == 0)
			return 1;
	return 0;
}

/*
 * A file named with -C is read only for root or for the file's owner:
 * anyone else could point the tool at a spool that is not the system's.
 */
static void
check_config_access(const char *path)
{
	struct stat st;
	uid_t uid = getuid();

	if (uid == 0)
		return;
	if (stat(path, &st) != 0) {
		fprintf(stderr, "bulwarkctl: %s: %s\n", path, strerror(errno));
		exit(EX_NOINPUT);
	}
	if (st.st_uid != uid) {
		fprintf(stderr, "bulwarkctl: -C %s: only root or the file's "
		    "owner may use another configuration\n", path);
		exit(EX_NOPERM);
	}
}

static int
check_config(const char *path)
{
	struct config *cfg;
	char *text = NULL, *errs = NULL;

	cfg = master_load_config(path, geteuid() == 0, &text, &errs);
	if (cfg == NULL) {
		text_print_lines(stderr, NULL, errs);
		fprintf(stderr, "bulwarkctl: %s: configuration refused\n",
		    path);
		free(errs);
		return 1;
	}
	printf("ok: %s: configuration valid\n", path);
	config_free(cfg);
	free(text);
	return 0;
}

/*
 * The control socket's path.  A file the daemon would refuse must not
 * keep "reload" from reaching it (the daemon reports the errors), so
 * when the whole file does not parse, its queue_directory lines alone
 * are parsed.
 */
static int
control_path(const char *path, char *out, size_t outlen)
{
	struct config *cfg;
	char *text, *errs = NULL, *line, *next, *keep;
	size_t klen = 0;

	if ((cfg = config_load(path, &errs)) != NULL) {
		config_path_control(cfg, out, outlen);
		config_free(cfg);
		return 0;
	}
	free(errs);
	errs = NULL;
	if ((text = config_read_file(path, &errs)) == NULL) {
		text_print_lines(stderr, NULL, errs);
		free(errs);
		return -1;
	}
	keep = xcalloc(1, strlen(text) + 2);
	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		line += strspn(line, " \t");
		if (strncmp(line, "queue_directory", 15) != 0 ||
		    strchr(" \t=", line[15]) == NULL)
			continue;
		klen += snprintf(keep + klen, strlen(line) + 2, "%s\n",
		    line);
	}
	free(text);
	cfg = config_parse(path, keep, &errs);
	free(keep);
	if (cfg == NULL) {
		text_print_lines(stderr, NULL, errs);
		free(errs);
		return -1;
	}
	config_path_control(cfg, out, outlen);
	config_free(cfg);
	return 0;
}

int
main(int argc, char *argv[])
{
	const char *path = CONFIG_DEFAULT_PATH, *cmd;
	char control[4096];
	int ch, named = 0;

	log_init("ctl", 1);
	while ((ch = getopt(argc, argv, "C:")) != -1) {
		switch (ch) {
		case 'C':
			path = optarg;
			named = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	cmd = argv[optind];
	if (strcmp(cmd, "check-config") != 0 && !known_command(cmd)) {
		fprintf(stderr, "bulwarkctl: unknown command: %s\n", cmd);
		usage();
	}
	if (named)
		check_config_access(path);
	if (strcmp(cmd, "check-config") == 0)
		return check_config(path);

	if (control_path(path, control, sizeof(control)) != 0) {
		fprintf(stderr, "bulwarkctl: %s: cannot find the spool\n",
		    path);
		return 1;
	}
	return ctl_request("bulwarkctl", control, cmd);
}
