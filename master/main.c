/*
 * bulwarkd: the master, and, started again by the master with -R role,
 * each child process.
 *
 *	bulwarkd [-d] [-v] [-C file]	the master
 *	bulwarkd -n [-v] [-C file]	check the configuration and exit
 *	bulwarkd -R role [-d] [-v]	a child (only the master runs this)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "ipc.h"
#include "log.h"
#include "text.h"

#include "master/master.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: bulwarkd [-dv] [-C file]\n"
	    "       bulwarkd -n [-v] [-C file]\n");
	exit(EX_USAGE);
}

static enum proc_role
role_by_name(const char *name)
{
	int r;

	for (r = ROLE_SMTPD; r < ROLE_COUNT; r++)
		if (strcmp(name, proc_role_name((enum proc_role)r)) == 0)
			return (enum proc_role)r;
	fprintf(stderr, "bulwarkd: unknown role: %s\n", name);
	exit(EX_USAGE);
}

static void __attribute__((noreturn))
child_main(const char *name, int foreground, int debug)
{
	struct child_env env;
	struct config *cfg;

	memset(&env, 0, sizeof(env));
	env.role = role_by_name(name);
	env.master_fd = CHILD_MASTER_FD;
	env.as_root = geteuid() == 0;
	log_init(name, foreground);
	log_set_debug(debug);
	/* A peer gone shows as EPIPE; SIGHUP is the master's (reload). */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);

	cfg = child_first_config(CHILD_MASTER_FD);
	switch (env.role) {
	case ROLE_SMTPD:
		smtpd_main(&env, cfg);
	case ROLE_QUEUE:
		queue_main(&env, cfg);
	case ROLE_POLICY:
		policy_main(&env, cfg);
	case ROLE_LOCAL:
		local_main(&env, cfg);
	case ROLE_REMOTE:
		remote_main(&env, cfg);
	default:
		fatal("no such role: %s", name);
	}
}

/* -n: every error on stderr, one per line; exit 0 only when clean. */
static int
check_only(const char *path, int debug)
{
	struct config *cfg;
	char *text = NULL, *errs = NULL;

	cfg = master_load_config(path, geteuid() == 0, &text, &errs);
	if (cfg == NULL) {
		text_print_lines(stderr, NULL, errs);
		fprintf(stderr, "bulwarkd: %s: configuration refused\n", path);
		free(errs);
		return 1;
	}
	if (debug)
		config_dump(cfg);
	else
		printf("bulwarkd: %s: configuration ok\n", path);
	config_free(cfg);
	free(text);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct master_opts opts;
	const char *role = NULL;
	int ch, check = 0;

	memset(&opts, 0, sizeof(opts));
	opts.config_path = CONFIG_DEFAULT_PATH;
	while ((ch = getopt(argc, argv, "C:dnR:v")) != -1) {
		switch (ch) {
		case 'C':
			opts.config_path = optarg;
			break;
		case 'd':
			opts.foreground = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'R':
			role = optarg;
			break;
		case 'v':
			opts.debug = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	if (role != NULL)
		child_main(role, opts.foreground, opts.debug);
	log_init("master", check || opts.foreground);
	log_set_debug(opts.debug);
	if (check)
		return check_only(opts.config_path, opts.debug);
	master_main(&opts);
}
