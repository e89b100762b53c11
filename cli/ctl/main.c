/*
 * bulwarkctl: the operator's commands to a running bulwarkd, through
 * <queue_directory>/private/control.  One request line goes out; the
 * reply is printed as it comes and ends when the master closes.
 *
 *	bulwarkctl [-C file] status|flush|reload|stop|check-config
 *
 * Exit status: 0 for an "ok" reply, 1 for "error:", 69 (EX_UNAVAILABLE)
 * when no daemon listens, 64 for a bad command line.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "xmalloc.h"

#include "master/master.h"

#define CTL_REPLY_SECS	60	/* the master answers within this */

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
print_errors(const char *errs)
{
	size_t len = errs ? strlen(errs) : 0;

	if (len == 0)
		return 0;
	fprintf(stderr, "%s%s", errs, errs[len - 1] == '\n' ? "" : "\n");
	return 0;
}

static int
check_config(const char *path)
{
	struct config *cfg;
	char *text = NULL, *errs = NULL;

	cfg = master_load_config(path, geteuid() == 0, &text, &errs);
	if (cfg == NULL) {
		print_errors(errs);
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
		print_errors(errs);
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
		print_errors(errs);
		free(errs);
		return -1;
	}
	config_path_control(cfg, out, outlen);
	config_free(cfg);
	return 0;
}

static int
connect_control(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		fprintf(stderr, "bulwarkctl: %s: path too long\n", path);
		exit(EX_CONFIG);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "bulwarkctl: socket: %s\n", strerror(errno));
		exit(EX_OSERR);
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	switch (errno) {
	case ENOENT:
		fprintf(stderr, "bulwarkctl: bulwarkd is not running (no "
		    "%s)\n", path);
		exit(EX_UNAVAILABLE);
	case ECONNREFUSED:
		fprintf(stderr, "bulwarkctl: bulwarkd is not running "
		    "(nothing listens on %s)\n", path);
		exit(EX_UNAVAILABLE);
	case EACCES:
	case EPERM:
		fprintf(stderr, "bulwarkctl: %s: %s (the control socket is "
		    "for root)\n", path, strerror(errno));
		exit(EX_NOPERM);
	default:
		fprintf(stderr, "bulwarkctl: connect %s: %s\n", path,
		    strerror(errno));
		exit(EX_UNAVAILABLE);
	}
}

/* Send the command; copy the reply to stdout, or stderr for an error. */
static int
run_command(const char *path, const char *cmd)
{
	char buf[4096];
	struct pollfd pfd;
	FILE *out = NULL;
	int fd, status = 1;
	size_t got = 0;
	ssize_t n;

	fd = connect_control(path);
	snprintf(buf, sizeof(buf), "%s\n", cmd);
	if (write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf)) {
		fprintf(stderr, "bulwarkctl: write %s: %s\n", path,
		    strerror(errno));
		close(fd);
		return 1;
	}
	shutdown(fd, SHUT_WR);

	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		if (poll(&pfd, 1, CTL_REPLY_SECS * 1000) == 0) {
			fprintf(stderr, "bulwarkctl: no reply from bulwarkd "
			    "in %d seconds\n", CTL_REPLY_SECS);
			status = 1;
			break;
		}
		if ((n = read(fd, buf, sizeof(buf))) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "bulwarkctl: read %s: %s\n", path,
			    strerror(errno));
			status = 1;
			break;
		}
		if (n == 0)
			break;
		if (out == NULL) {
			/* The reply's first bytes decide where it goes. */
			status = n >= 2 && memcmp(buf, "ok", 2) == 0 ? 0 : 1;
			out = status == 0 ? stdout : stderr;
		}
		fwrite(buf, 1, n, out);
		got += n;
	}
	close(fd);
	if (got == 0 && status == 1 && out == NULL)
		fprintf(stderr, "bulwarkctl: bulwarkd closed the connection "
		    "without a reply\n");
	if (out != NULL && fflush(out) != 0)
		status = 1;
	return status;
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
	return run_command(control, cmd);
}
