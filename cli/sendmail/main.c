/*
 * sendmail, mailq, newaliases: the command line every MTA offers, for
 * cron, mail(), mailx, git send-email and the rest.  The name the program
 * is run under picks the default mode.
 *
 * Installed set-gid bulwarkdrop, so sm_priv_init() runs first and the
 * group is kept (as the saved gid) only for the maildrop.  Addresses and
 * headers are data: they are checked against RFC 5321 before they are
 * written to the daemon, and nothing is ever handed to a shell.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "header.h"
#include "log.h"
#include "text.h"
#include "xmalloc.h"
#include "cli/sendmail/rcptextract.h"
#include "cli/sendmail/sendmail.h"

enum sm_mode {
	MODE_SEND = 0,		/* -bm */
	MODE_SMTP,		/* -bs */
	MODE_QUEUE,		/* -bp, mailq */
	MODE_ALIASES,		/* -bi, newaliases */
	MODE_VERIFY,		/* -bv */
	MODE_FLUSH,		/* -q */
};

static void __attribute__((noreturn))
usage(const char *prog, const char *why)
{
	if (why != NULL)
		fprintf(stderr, "%s: %s\n", prog, why);
	fprintf(stderr,
	    "usage: %s [-tiv] [-f sender] [-F full name] [-C config] "
	    "[recipient ...]\n"
	    "       %s -bs | -bp | -bi | -I | -q [-C config]\n"
	    "       %s -bv [-f sender] [-C config] address ...\n"
	    "accepted and ignored: -m -n -G -U -Am -Ac -odi -odb -oem -oee "
	    "-om -B type\n"
	    "    -N dsn -R ret -V envid -X file -h hops -L label "
	    "-O option=value\n", prog, prog, prog);
	exit(EX_USAGE);
}

/*
 * Modes of sendmail that Bulwark provides elsewhere or not at all: say
 * what to use instead.  EX_USAGE, not EX_CONFIG: the command line asks
 * for what this program does not do, and no setting would change that.
 */
static void __attribute__((noreturn))
other_mode(const char *prog, const char *mode, const char *instead)
{
	fprintf(stderr, "%s: %s: %s\n", prog, mode, instead);
	exit(EX_USAGE);
}

/* Descriptors 0-2 must exist, or a socket we open could become one. */
static void
sane_stdio(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			exit(EX_OSERR);
	}
}

/* The -o options sendmail accepts; only -oi changes anything. */
static int
o_option(struct sm_opts *o, const char *arg)
{
	if (strcmp(arg, "i") == 0) {
		o->ignore_dots = 1;
		return 0;
	}
	/* Delivery mode (-odi, -odb ...), error mode (-oem ...), -om. */
	if (arg[0] == 'd' || arg[0] == 'e' || strcmp(arg, "m") == 0 ||
	    strcmp(arg, "7") == 0 || strcmp(arg, "8") == 0)
		return 0;
	return -1;
}

static int
b_option(enum sm_mode *mode, const char *arg, const char *prog)
{
	if (strcmp(arg, "d") == 0)
		other_mode(prog, "-bd", "run bulwarkd instead");
	if (strcmp(arg, "t") == 0)
		other_mode(prog, "-bt", "there is no address test mode; "
		    "sendmail -bv address asks the daemon about an address");
	if (strcmp(arg, "m") == 0)
		*mode = MODE_SEND;
	else if (strcmp(arg, "s") == 0)
		*mode = MODE_SMTP;
	else if (strcmp(arg, "p") == 0)
		*mode = MODE_QUEUE;
	else if (strcmp(arg, "i") == 0)
		*mode = MODE_ALIASES;
	else if (strcmp(arg, "v") == 0)
		*mode = MODE_VERIFY;
	else
		return -1;
	return 0;
}

/*
 * -q runs the queue now.  An interval (-q30m) is taken as -q: the daemon
 * retries on its own schedule.  -qR, -qI, -qS pick messages, which is
 * not built.
 */
static int
q_option(enum sm_mode *mode, const char *arg)
{
	if (arg != NULL && strspn(arg, "0123456789smhdw") != strlen(arg))
		return -1;
	*mode = MODE_FLUSH;
	return 0;
}

/*
 * Check an address and write its canonical "local@domain" form; an
 * unqualified one gets @myorigin.  "" and "<>" are the null sender.
 */
static int
norm_addr(const char *in, int allow_null, const char *host, char *out,
    size_t outlen)
{
	char path[ADDR_PATH_MAX * 2 + 8];
	struct mailaddr ma;
	const char *at;
	size_t len, end;
	int n;

	while (*in == ' ' || *in == '\t')
		in++;
	len = strlen(in);
	while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t'))
		len--;
	if (len >= 2 && in[0] == '<' && in[len - 1] == '>') {
		in++;
		len -= 2;
	}
	if (len == 0) {
		if (!allow_null)
			return -1;
		out[0] = '\0';
		return 0;
	}
	at = memrchr(in, '@', len);
	if (at != NULL && memchr(at, '"', len - (size_t)(at - in)) != NULL)
		at = NULL;	/* the '@' is inside a quoted local part */
	if (at == NULL)
		n = snprintf(path, sizeof(path), "<%.*s@%s>", (int)len, in,
		    host);
	else
		n = snprintf(path, sizeof(path), "<%.*s>", (int)len, in);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	if (addr_parse_path(path, (size_t)n, &end, 0, &ma) != ADDR_OK ||
	    end != (size_t)n)
		return -1;
	return addr_format(&ma, out, outlen) < 0 ? -1 : 0;
}

static void
env_add(struct sm_envelope *env, const char *addr)
{
	size_t i;

	for (i = 0; i < env->nrcpt; i++)
		if (strcmp(env->rcpt[i], addr) == 0)
			return;
	env->rcpt = xreallocarray(env->rcpt, env->nrcpt + 1, sizeof(char *));
	env->rcpt[env->nrcpt++] = xstrdup(addr);
}

/* Add the addresses of list, each checked; -1 names the first bad one. */
static int
env_add_list(struct sm_envelope *env, const struct rcptx_list *list,
    const char *host, const char *prog)
{
	char addr[ADDR_PATH_MAX + 8], shown[128];
	size_t i;

	for (i = 0; i < list->n; i++) {
		if (norm_addr(list->v[i], 0, host, addr, sizeof(addr)) == -1) {
			fprintf(stderr, "%s: bad recipient address \"%s\"\n",
			    prog, log_escape(shown, sizeof(shown),
			    list->v[i], strlen(list->v[i])));
			return -1;
		}
		env_add(env, addr);
	}
	return 0;
}

/* Sender, login and the From: address of a message. */
static int
env_sender(struct sm_envelope *env, const struct config *cfg,
    const struct sm_opts *opts)
{
	struct passwd *pw;
	uid_t uid = getuid();

	if ((pw = getpwuid(uid)) == NULL) {
		fprintf(stderr, "%s: uid %lu has no login name\n", opts->prog,
		    (unsigned long)uid);
		return EX_OSERR;
	}
	if ((size_t)snprintf(env->login, sizeof(env->login), "%s@%s",
	    pw->pw_name, cfg->myorigin) >= sizeof(env->login)) {
		fprintf(stderr, "%s: login name too long\n", opts->prog);
		return EX_OSERR;
	}
	if (opts->sender != NULL) {
		if (norm_addr(opts->sender, 1, cfg->myorigin, env->sender,
		    sizeof(env->sender)) == -1) {
			fprintf(stderr, "%s: bad sender address\n", opts->prog);
			return EX_USAGE;
		}
		env->has_sender = 1;
	}
	/* A From: we add names the sender the daemon will use too. */
	if (env->has_sender && env->sender[0] != '\0' &&
	    config_trusted_user(cfg, uid, pw->pw_name))
		strlcpy(env->from, env->sender, sizeof(env->from));
	else
		strlcpy(env->from, env->login, sizeof(env->from));
	return 0;
}

static int
read_message(const struct config *cfg, const struct sm_opts *opts,
    struct sm_msg *m)
{
	size_t limit = 0;

	if (cfg->message_size_limit > 0)
		limit = (size_t)cfg->message_size_limit;
	switch (sm_msg_read(STDIN_FILENO, opts->ignore_dots, limit, m)) {
	case SM_READ_OK:
		return 0;
	case SM_READ_TOOBIG:
		fprintf(stderr, "%s: the message is larger than "
		    "message_size_limit (%lld bytes)\n", opts->prog,
		    (long long)cfg->message_size_limit);
		return EX_DATAERR;
	default:
		fprintf(stderr, "%s: reading the message: %s\n", opts->prog,
		    strerror(errno));
		return EX_IOERR;
	}
}

/*
 * Recipients from To:, Cc: and Bcc:, or from their Resent- forms when
 * there are any (-t); Bcc: and Resent-Bcc: leave the message.
 */
static int
extract(const struct config *cfg, const struct sm_opts *opts,
    struct sm_msg *m, struct sm_envelope *env)
{
	struct rcptx_list list = { NULL, 0, 0 };
	char err[512];
	int rc = 0;

	if (rcptx_extract(m->buf, m->hdr_len, &list, err, sizeof(err)) > 0) {
		fprintf(stderr, "%s: %s\n", opts->prog, err);
		rc = EX_DATAERR;
	} else if (env_add_list(env, &list, cfg->myorigin, opts->prog) ==
	    -1)
		rc = EX_DATAERR;
	rcptx_list_free(&list);
	sm_msg_strip_bcc(m);
	return rc;
}

static void
env_free(struct sm_envelope *env)
{
	size_t i;

	for (i = 0; i < env->nrcpt; i++)
		free(env->rcpt[i]);
	free(env->rcpt);
	env->rcpt = NULL;
	env->nrcpt = 0;
}

/*
 * To the daemon, or into the maildrop while it is down or defers.  A
 * recipient it refused for good makes the exit EX_NOUSER, once the
 * others have the message.
 */
static int
hand_over(const struct config *cfg, const struct sm_opts *opts,
    struct sm_envelope *env, struct sm_msg *m)
{
	char path[4096];
	int fd, rc;

	config_path_submit(cfg, path, sizeof(path));
	if ((fd = sm_unix_connect(path)) != -1) {
		rc = sm_submit(cfg, opts, env, m, fd);
		if (rc != SM_FALLBACK) {
			sm_priv_drop();
			return rc == 0 && env->refused > 0 ? EX_NOUSER : rc;
		}
		if (opts->verbose)
			fprintf(stderr, "%s: the daemon did not take the "
			    "message; using the maildrop\n", opts->prog);
	} else if (errno != ENOENT && errno != ECONNREFUSED) {
		fprintf(stderr, "%s: cannot connect to %s: %s\n", opts->prog,
		    path, strerror(errno));
		sm_priv_drop();
		return EX_UNAVAILABLE;
	}
	rc = sm_maildrop(cfg, opts, env, m);
	return rc == 0 && env->refused > 0 ? EX_NOUSER : rc;
}

static int
send_mail(const struct config *cfg, const struct sm_opts *opts, int argc,
    char **argv)
{
	struct sm_envelope env;
	struct rcptx_list args = { NULL, 0, 0 };
	struct sm_msg m;
	char err[512], *from;
	int i, rc;

	memset(&env, 0, sizeof(env));
	for (i = 0; i < argc; i++)
		if (rcptx_parse_list(argv[i], strlen(argv[i]), &args, err,
		    sizeof(err)) > 0) {
			fprintf(stderr, "%s: bad recipient %s\n", opts->prog,
			    err);
			return EX_USAGE;
		}
	rc = env_add_list(&env, &args, cfg->myorigin, opts->prog);
	rcptx_list_free(&args);
	if (rc == -1)
		return EX_USAGE;
	if ((rc = env_sender(&env, cfg, opts)) != 0)
		return rc;
	if (env.nrcpt == 0 && !opts->extract) {
		fprintf(stderr, "%s: no recipients\n", opts->prog);
		return EX_USAGE;
	}

	if ((rc = read_message(cfg, opts, &m)) != 0) {
		env_free(&env);
		return rc;
	}
	if (opts->extract)
		rc = extract(cfg, opts, &m, &env);
	if (rc == 0 && env.nrcpt == 0) {
		fprintf(stderr, "%s: no recipients\n", opts->prog);
		rc = EX_USAGE;
	}
	if (rc == 0 && opts->fullname != NULL &&
	    !(m.present & HDR_HAS_FROM)) {
		from = sm_from_header(opts->fullname, env.from);
		sm_msg_add_header(&m, from, strlen(from));
		free(from);
	}
	if (rc == 0)
		rc = hand_over(cfg, opts, &env, &m);
	sm_msg_free(&m);
	env_free(&env);
	return rc;
}

/* -bv: add the well-formed addresses to env; 1 when some were not. */
static int
verify_args(const struct config *cfg, struct sm_envelope *env, int argc,
    char **argv)
{
	struct rcptx_list list = { NULL, 0, 0 };
	char addr[ADDR_PATH_MAX + 8], shown[128], err[512];
	size_t k;
	int i, bad = 0;

	for (i = 0; i < argc; i++) {
		err[0] = '\0';
		if (rcptx_parse_list(argv[i], strlen(argv[i]), &list, err,
		    sizeof(err)) > 0) {
			printf("%s... bad address: %s\n", log_escape(shown,
			    sizeof(shown), argv[i], strlen(argv[i])), err);
			bad = 1;
		}
	}
	for (k = 0; k < list.n; k++) {
		if (norm_addr(list.v[k], 0, cfg->myorigin, addr,
		    sizeof(addr)) == 0) {
			env_add(env, addr);
			continue;
		}
		printf("%s... bad address: not an RFC 5321 address\n",
		    log_escape(shown, sizeof(shown), list.v[k],
		    strlen(list.v[k])));
		bad = 1;
	}
	rcptx_list_free(&list);
	return bad;
}

/* -bv: check each address here, then ask the daemon about the good ones. */
static int
verify(const struct config *cfg, const struct sm_opts *opts, int argc,
    char **argv)
{
	struct sm_envelope env;
	char path[4096];
	int fd, rc, bad;

	memset(&env, 0, sizeof(env));
	if ((rc = env_sender(&env, cfg, opts)) != 0)
		return rc;
	bad = verify_args(cfg, &env, argc, argv);
	config_path_submit(cfg, path, sizeof(path));
	if (env.nrcpt > 0) {
		if ((fd = sm_unix_connect(path)) != -1)
			rc = sm_verify(cfg, opts, &env, fd);
		else {
			fprintf(stderr, "%s: -bv needs the running daemon "
			    "(cannot connect to %s: %s)\n", opts->prog, path,
			    strerror(errno));
			rc = EX_UNAVAILABLE;
		}
	}
	/* A malformed address is a permanent failure, as a refusal is. */
	if (bad && (rc == 0 || rc == EX_TEMPFAIL))
		rc = EX_DATAERR;
	env_free(&env);
	return rc;
}

static struct config *
load_config(const char *path, const char *prog)
{
	struct config *cfg;
	char *errs = NULL;

	if ((cfg = config_load(path, &errs)) != NULL) {
		free(errs);
		return cfg;
	}
	text_print_lines(stderr, prog, errs);
	if (errs == NULL)
		fprintf(stderr, "%s: %s: cannot load the configuration\n",
		    prog, path);
	free(errs);
	exit(EX_CONFIG);
}

int
main(int argc, char **argv)
{
	struct sm_opts opts;
	enum sm_mode mode = MODE_SEND;
	const char *conf = CONFIG_DEFAULT_PATH, *base;
	struct config *cfg;
	int ch, rc;

	sm_priv_init();
	sane_stdio();
	signal(SIGPIPE, SIG_IGN);

	memset(&opts, 0, sizeof(opts));
	base = argc > 0 && argv[0] != NULL ? argv[0] : "sendmail";
	base = strrchr(base, '/') != NULL ? strrchr(base, '/') + 1 : base;
	opts.prog = "sendmail";
	if (strcmp(base, "mailq") == 0) {
		opts.prog = "mailq";
		mode = MODE_QUEUE;
	} else if (strcmp(base, "newaliases") == 0) {
		opts.prog = "newaliases";
		mode = MODE_ALIASES;
	}
	log_init(opts.prog, 1);

	opterr = 0;
	while ((ch = getopt(argc, argv,
	    "+:A:B:C:F:GIL:N:O:R:UV:X:b:f:h:imno:q::r:tv")) != -1) {
		switch (ch) {
		case 'A':
			/* submit.cf or sendmail.cf: one configuration here. */
			if (strcmp(optarg, "m") != 0 &&
			    strcmp(optarg, "c") != 0)
				usage(opts.prog, "only -Am and -Ac exist");
			break;
		case 'b':
			if (b_option(&mode, optarg, opts.prog) == -1)
				usage(opts.prog, "unknown -b mode");
			break;
		case 'I':
			mode = MODE_ALIASES;	/* as -bi */
			break;
		case 'C':
			conf = optarg;
			break;
		case 'F':
			opts.fullname = optarg;
			break;
		case 'f':
		case 'r':
			opts.sender = optarg;
			break;
		case 'i':
			opts.ignore_dots = 1;
			break;
		case 'o':
			if (o_option(&opts, optarg) == -1)
				usage(opts.prog, "unknown -o option");
			break;
		case 'q':
			if (q_option(&mode, optarg) == -1)
				usage(opts.prog, "only -q and -q<interval> "
				    "are supported");
			break;
		case 't':
			opts.extract = 1;
			break;
		case 'v':
			opts.verbose = 1;
			break;
		case 'B':
		case 'G':
		case 'L':
		case 'N':
		case 'O':
		case 'R':
		case 'U':
		case 'V':
		case 'X':
		case 'h':
		case 'm':
		case 'n':
			break;	/* compatibility: accepted, no effect */
		case ':':
			usage(opts.prog, "an option needs an argument");
		default:
			usage(opts.prog, "unknown option");
		}
	}
	argc -= optind;
	argv += optind;

	/* Another config could point the maildrop or the sockets anywhere. */
	if (strcmp(conf, CONFIG_DEFAULT_PATH) != 0 && getuid() != 0) {
		fprintf(stderr, "%s: -C is allowed for root only\n", opts.prog);
		return EX_NOPERM;
	}
	if (mode != MODE_SEND) {
		sm_priv_drop();
		if (argc > 0 && mode != MODE_VERIFY)
			usage(opts.prog, "recipients are for sending mail");
		if (argc == 0 && mode == MODE_VERIFY)
			usage(opts.prog, "-bv needs addresses");
	}
	/* As sendmail's: running the queue is for root. */
	if (mode == MODE_FLUSH && getuid() != 0) {
		fprintf(stderr, "%s: -q is allowed for root only\n", opts.prog);
		return EX_NOPERM;
	}
	cfg = load_config(conf, opts.prog);
	switch (mode) {
	case MODE_SMTP:
		rc = sm_relay_smtp(cfg, &opts);
		break;
	case MODE_QUEUE:
		rc = sm_showq(cfg, &opts);
		break;
	case MODE_ALIASES:
		rc = sm_newaliases(cfg, &opts);
		break;
	case MODE_VERIFY:
		rc = verify(cfg, &opts, argc, argv);
		break;
	case MODE_FLUSH:
		rc = sm_flush(cfg, &opts);
		break;
	default:
		rc = send_mail(cfg, &opts, argc, argv);
		break;
	}
	sm_priv_drop();
	config_free(cfg);
	return rc;
}
