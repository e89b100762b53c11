/*
 * The master's start-up pieces without processes: the configuration
 * checks, the spool layout, the pid lock and the listening sockets, in
 * a temporary directory (listen addresses: test_sockaddr.c).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

#include "config.h"
#include "master/master.h"

static char tmpdir[256];

static void
make_tmpdir(void)
{
	CU_ASSERT_FATAL(unit_tmpdir(tmpdir, sizeof(tmpdir), "master") == 0);
}

static void
rm_tmpdir(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	CU_ASSERT(system(cmd) == 0);
}

static char *
write_conf(const char *extra)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/bulwark.conf", tmpdir);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fprintf(f, "queue_directory = %s/spool\nmailbox_base = %s/mail\n"
	    "inet_interfaces = 127.0.0.1:2525\nalias_maps =\n%s", tmpdir,
	    tmpdir, extra);
	fclose(f);
	return path;
}

static void
test_errf(void)
{
	char *errs = NULL;

	master_errf(&errs, "first %d", 1);
	CU_ASSERT_STRING_EQUAL(errs, "first 1");
	master_errf(&errs, "second");
	CU_ASSERT_STRING_EQUAL(errs, "first 1\nsecond");
	free(errs);
}

static void
test_load_good(void)
{
	struct config *cfg;
	char *text = NULL, *errs = NULL;

	make_tmpdir();
	cfg = master_load_config(write_conf(""), 0, &text, &errs);
	CU_ASSERT_FATAL(cfg != NULL);
	CU_ASSERT(errs == NULL);
	CU_ASSERT(text != NULL && strstr(text, "queue_directory") != NULL);
	config_free(cfg);
	free(text);
	rm_tmpdir();
}

static void
test_load_bad(void)
{
	struct config *cfg;
	char *text = NULL, *errs = NULL;

	char want[1024], *path;

	make_tmpdir();
	path = write_conf("mail_owner = no-such-user-bulwark\n"
	    "smtpd_client_access = cidr:/nonexistent/access\n");
	cfg = master_load_config(path, 1, &text, &errs);
	CU_ASSERT(cfg == NULL);
	CU_ASSERT(text == NULL);
	CU_ASSERT_FATAL(errs != NULL);
	/* Every problem is reported, not only the first, with its line. */
	snprintf(want, sizeof(want), "%s:5: mail_owner: no such user: "
	    "no-such-user-bulwark", path);
	CU_ASSERT(strstr(errs, want) != NULL);
	snprintf(want, sizeof(want), "%s:6: smtpd_client_access: "
	    "/nonexistent/access: ", path);
	CU_ASSERT(strstr(errs, want) != NULL);
	free(errs);

	/* What the parser refuses also stops the load, with its line. */
	errs = NULL;
	path = write_conf("relayhost = mail.example.org\n");
	CU_ASSERT(master_load_config(path, 0, &text, &errs) == NULL);
	CU_ASSERT_FATAL(errs != NULL);
	snprintf(want, sizeof(want), "%s:5: relayhost: ", path);
	CU_ASSERT(strstr(errs, want) != NULL);
	free(errs);
	rm_tmpdir();
}

/* A bad access table line: both the config line and the table line. */
static void
test_load_access_values(void)
{
	struct config *cfg;
	char *text = NULL, *errs = NULL, *path, want[1024], access[512];
	FILE *f;

	make_tmpdir();
	snprintf(access, sizeof(access), "%s/access", tmpdir);
	CU_ASSERT_FATAL((f = fopen(access, "w")) != NULL);
	fprintf(f, "192.0.2.0/24 REJECT go away\n10.0.0.0/8 BOGUS\n");
	fclose(f);
	snprintf(want, sizeof(want), "hop_limit = 5\n"
	    "smtpd_client_access = cidr:%s\n", access);
	path = write_conf(want);
	cfg = master_load_config(path, 0, &text, &errs);
	CU_ASSERT(cfg == NULL);
	CU_ASSERT_FATAL(errs != NULL);
	snprintf(want, sizeof(want), "%s:6: smtpd_client_access: %s:2: "
	    "unknown action", path, access);
	CU_ASSERT(strstr(errs, want) != NULL);
	if (strstr(errs, want) == NULL)
		fprintf(stderr, "\nwant: %s\ngot: %s\n", want, errs);
	free(errs);
	rm_tmpdir();
}

static void
test_load_spool_unreachable(void)
{
	struct config *cfg;
	char *text = NULL, *errs = NULL, path[512];
	FILE *f;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/bulwark.conf", tmpdir);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fprintf(f, "queue_directory = %s/missing/spool\n", tmpdir);
	fclose(f);
	cfg = master_load_config(path, 0, &text, &errs);
	CU_ASSERT(cfg == NULL);
	CU_ASSERT(errs != NULL && strstr(errs, "cannot be created") != NULL);
	CU_ASSERT(errs != NULL && strstr(errs, "bulwark.conf:1: "
	    "queue_directory: ") != NULL);
	free(errs);
	rm_tmpdir();
}

/* No database yet is fine; one that does not open stops the start. */
static void
test_load_alias_db(void)
{
	struct config *cfg;
	char *text = NULL, *errs = NULL, path[512], want[1024];
	FILE *f;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/bulwark.conf", tmpdir);
	CU_ASSERT_FATAL((f = fopen(path, "w")) != NULL);
	fprintf(f, "queue_directory = %s\n\nalias_maps = hash:%s/aliases\n",
	    tmpdir, tmpdir);
	fclose(f);
	cfg = master_load_config(path, 0, &text, &errs);
	CU_ASSERT_FATAL(cfg != NULL);
	config_free(cfg);
	free(text);

	snprintf(want, sizeof(want), "%s/aliases.db", tmpdir);
	CU_ASSERT_FATAL((f = fopen(want, "w")) != NULL);
	fprintf(f, "not a database\n");
	fclose(f);
	cfg = master_load_config(path, 0, &text, &errs);
	CU_ASSERT(cfg == NULL);
	CU_ASSERT_FATAL(errs != NULL);
	snprintf(want, sizeof(want), "%s:3: alias_maps: %s/aliases.db: ",
	    path, tmpdir);
	CU_ASSERT(strstr(errs, want) != NULL);
	free(errs);
	rm_tmpdir();
}

static void
init_master(struct master *m, struct config *cfg)
{
	memset(m, 0, sizeof(*m));
	m->cfg = cfg;
	m->as_root = 0;
	m->owner_uid = getuid();
	m->owner_gid = getgid();
	m->drop_gid = getgid();
	m->pid_fd = -1;
}

static mode_t
mode_of(const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/spool/%s", tmpdir, name);
	if (stat(path, &st) != 0)
		return (mode_t)-1;
	return st.st_mode & 07777;
}

static void
test_spool_and_lock(void)
{
	struct master m, other;
	struct config *cfg;
	char *text = NULL, *errs = NULL, err[512], buf[32];
	ssize_t n;

	make_tmpdir();
	cfg = master_load_config(write_conf(""), 0, &text, &errs);
	CU_ASSERT_FATAL(cfg != NULL);
	init_master(&m, cfg);
	CU_ASSERT_FATAL(spool_prepare(&m, err, sizeof(err)) == 0);
	CU_ASSERT(mode_of("log") == 0700);
	CU_ASSERT(mode_of("empty") == 0555);
	CU_ASSERT(mode_of("public") == 0755);
	CU_ASSERT(mode_of("private") == 0700);
	CU_ASSERT(mode_of("maildrop") == 01770);
	CU_ASSERT(mode_of("pid") == 0755);
	CU_ASSERT(strstr(m.control_path, "/private/control") != NULL);

	CU_ASSERT_FATAL(spool_pid_lock(&m, err, sizeof(err)) == 0);
	CU_ASSERT(spool_pid_write(&m, err, sizeof(err)) == 0);
	n = pread(m.pid_fd, buf, sizeof(buf) - 1, 0);
	CU_ASSERT_FATAL(n > 0);
	buf[n] = '\0';
	CU_ASSERT(strtol(buf, NULL, 10) == (long)getpid());

	/* A second master on the same spool is refused, naming the pid. */
	init_master(&other, cfg);
	CU_ASSERT(spool_prepare(&other, err, sizeof(err)) == 0);
	CU_ASSERT(spool_pid_lock(&other, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "another bulwarkd") != NULL);
	snprintf(buf, sizeof(buf), "pid %ld", (long)getpid());
	CU_ASSERT(strstr(err, buf) != NULL);

	spool_cleanup(&m);
	CU_ASSERT(access(m.pid_path, F_OK) != 0);
	/* Once released, the lock can be taken again. */
	CU_ASSERT(spool_pid_lock(&other, err, sizeof(err)) == 0);
	spool_cleanup(&other);

	config_free(cfg);
	free(text);
	rm_tmpdir();
}

static void
test_unix_socket(void)
{
	char path[512], err[512];
	struct stat st;
	int fd, fd2;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/sock", tmpdir);
	fd = listen_unix_open(path, 0600, getuid(), getgid(), 0, err,
	    sizeof(err));
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    (st.st_mode & 0777) == 0600);
	close(fd);
	/* A stale socket is replaced. */
	fd = listen_unix_open(path, 0666, getuid(), getgid(), 0, err,
	    sizeof(err));
	CU_ASSERT(fd >= 0);
	CU_ASSERT(stat(path, &st) == 0 && (st.st_mode & 0777) == 0666);
	close(fd);
	/* Anything else at the path is not touched. */
	snprintf(path, sizeof(path), "%s/bulwark.conf", tmpdir);
	write_conf("");
	fd2 = listen_unix_open(path, 0600, getuid(), getgid(), 0, err,
	    sizeof(err));
	CU_ASSERT(fd2 == -1);
	CU_ASSERT(strstr(err, "not a socket") != NULL);
	CU_ASSERT(access(path, F_OK) == 0);
	rm_tmpdir();
}

static void
test_inet_in_use(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char spec[64], err[512];
	int probe, fd, fd2;

	probe = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(probe >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(bind(probe, (struct sockaddr *)&sin,
	    sizeof(sin)) == 0);
	CU_ASSERT_FATAL(getsockname(probe, (struct sockaddr *)&sin,
	    &len) == 0);
	close(probe);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", ntohs(sin.sin_port));

	fd = listen_inet_socket(spec, err, sizeof(err));
	CU_ASSERT_FATAL(fd >= 0);
	fd2 = listen_inet_socket(spec, err, sizeof(err));
	CU_ASSERT(fd2 == -1);
	CU_ASSERT(strstr(err, spec) != NULL);
	CU_ASSERT(strstr(err, strerror(EADDRINUSE)) != NULL);
	close(fd);
}

static CU_TestInfo tests[] = {
	{ "error lines accumulate", test_errf },
	{ "a good configuration loads", test_load_good },
	{ "every check reports", test_load_bad },
	{ "access table values", test_load_access_values },
	{ "alias database", test_load_alias_db },
	{ "unreachable spool refused", test_load_spool_unreachable },
	{ "spool layout and pid lock", test_spool_and_lock },
	{ "unix listening sockets", test_unix_socket },
	{ "inet address in use", test_inet_in_use },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("master", tests)
