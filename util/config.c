/*
 * The configuration file: "key = value" lines, '#' comment lines, and
 * continuation lines that start with whitespace.  Every key is one row
 * of the table below.  The parser reads the whole file, collects every
 * error as "file:line: reason", fills the defaults of keys the file did
 * not set, and only then checks what depends on several keys.  Values
 * are plain text: nothing is expanded.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "cidr.h"
#include "config.h"
#include "log.h"
#include "relayhost.h"
#include "sockaddr.h"
#include "xmalloc.h"

#ifndef CONFIG_SPOOL
#define CONFIG_SPOOL	"/var/spool/bulwark"
#endif

#define CONFIG_FILE_MAX		(4 * 1024 * 1024)
#define KIB			((int64_t)1024)
#define MIB			(1024 * KIB)
#define GIB			(1024 * MIB)
#define MINUTE			((int64_t)60)
#define HOUR			(60 * MINUTE)
#define DAY			(24 * HOUR)
#define WEEK			(7 * DAY)

/* The longest name config_path_*() adds to queue_directory. */
#define LONGEST_SOCKET		"/private/control"

enum cf_type {
	CF_STRING,
	CF_LIST,		/* comma or space separated words */
	CF_INTEGER,
	CF_SIZE,		/* bytes, suffix k, m or g */
	CF_DURATION,		/* seconds, suffix s, m, h, d or w */
	CF_BARE_LF,		/* enum bare_lf_mode */
};

struct cf_key {
	const char	*name;
	enum cf_type	 type;
	size_t		 off;
	const char	*def;		/* NULL: worked out at parse time */
	int64_t		 min, max;
};

#define STR(n, d)	{ #n, CF_STRING, offsetof(struct config, n), d, 0, 0 }
#define LIST(n, d)	{ #n, CF_LIST, offsetof(struct config, n), d, 0, 0 }
#define NUM(n, t, d, lo, hi) \
	{ #n, t, offsetof(struct config, n), d, lo, hi }

static const struct cf_key cf_keys[] = {
	STR(myhostname, NULL),
	STR(myorigin, NULL),
	STR(mail_owner, "bulwark"),
	STR(queue_directory, CONFIG_SPOOL),
	STR(mailbox_base, ""),
	STR(alias_maps, "hash:/etc/aliases"),
	LIST(inet_interfaces, "0.0.0.0:25"),
	LIST(mydestination, NULL),
	LIST(mynetworks, "127.0.0.0/8, [::1]/128"),
	LIST(relay_domains, ""),
	STR(relayhost, ""),
	STR(smtpd_client_access, ""),
	LIST(trusted_users, "root"),
	NUM(message_size_limit, CF_SIZE, "10240000", 1024, 4 * GIB),
	NUM(line_length_limit, CF_SIZE, "65536", 1000, 16 * MIB),
	NUM(recipient_limit, CF_INTEGER, "1000", 100, 1000000),
	NUM(hop_limit, CF_INTEGER, "50", 1, 1000),
	NUM(connection_limit, CF_INTEGER, "1000", 1, 1000000),
	NUM(client_connection_limit, CF_INTEGER, "20", 1, 1000000),
	NUM(prefix_connection_limit, CF_INTEGER, "100", 1, 1000000),
	NUM(ipv4_prefix_length, CF_INTEGER, "24", 8, 32),
	NUM(ipv6_prefix_length, CF_INTEGER, "64", 16, 128),
	NUM(client_connection_rate, CF_INTEGER, "120", 0, 100000000),
	NUM(prefix_connection_rate, CF_INTEGER, "1200", 0, 100000000),
	NUM(pregreet_delay, CF_DURATION, "6s", 0, MINUTE),
	NUM(pregreet_pass_time, CF_DURATION, "1d", 0, 30 * DAY),
	NUM(smtpd_error_delay, CF_DURATION, "1s", 0, MINUTE),
	NUM(tarpit_fill_limit, CF_INTEGER, "80", 1, 100),
	NUM(smtpd_session_lifetime, CF_DURATION, "1h", 1, DAY),
	NUM(smtpd_min_data_rate, CF_INTEGER, "256", 0, 1000000000),
	NUM(overload_fill_limit, CF_INTEGER, "70", 1, 100),
	NUM(overload_deadline_percent, CF_INTEGER, "10", 1, 100),
	NUM(good_client_reserve, CF_INTEGER, "20", 0, 99),
	NUM(good_client_time, CF_DURATION, "7d", 0, 365 * DAY),
	NUM(smtpd_memory_budget, CF_SIZE, "128M", 64 * KIB, 64 * GIB),
	NUM(bare_lf, CF_BARE_LF, "reject", 0, 0),
	NUM(smtpd_timeout, CF_DURATION, "300s", 1, DAY),
	NUM(smtpd_data_timeout, CF_DURATION, "300s", 1, DAY),
	NUM(policy_timeout, CF_DURATION, "10s", 1, HOUR),
	NUM(segment_size, CF_SIZE, "64M", 1024 * KIB, 4 * GIB),
	NUM(cold_segment_size, CF_SIZE, "64M", 1024 * KIB, 4 * GIB),
	NUM(queue_message_limit, CF_INTEGER, "500000", 1, 100000000),
	NUM(queue_size_limit, CF_SIZE, "8G", 1024 * KIB, 1024 * GIB),
	NUM(queue_lifetime, CF_DURATION, "5d", 0, 365 * DAY),
	NUM(minimal_backoff, CF_DURATION, "300s", 1, DAY),
	NUM(maximal_backoff, CF_DURATION, "4000s", 1, WEEK),
	NUM(delivery_concurrency, CF_INTEGER, "20", 1, 1000),
	NUM(smtp_connect_timeout, CF_DURATION, "30s", 1, DAY),
	NUM(smtp_greeting_timeout, CF_DURATION, "300s", 1, DAY),
	NUM(smtp_mail_timeout, CF_DURATION, "300s", 1, DAY),
	NUM(smtp_rcpt_timeout, CF_DURATION, "300s", 1, DAY),
	NUM(smtp_data_init_timeout, CF_DURATION, "120s", 1, DAY),
	NUM(smtp_data_block_timeout, CF_DURATION, "180s", 1, DAY),
	NUM(smtp_data_done_timeout, CF_DURATION, "600s", 1, DAY),
	NUM(smtp_connection_cache_time_limit, CF_DURATION, "2s", 0, HOUR),
	NUM(smtp_connection_reuse_time_limit, CF_DURATION, "300s", 1, DAY),
	NUM(smtp_connection_reuse_count_limit, CF_INTEGER, "0", 0, 1000000),
};

#define NKEYS	(sizeof(cf_keys) / sizeof(cf_keys[0]))

/* The state of one parse: the file name, the errors so far. */
struct cf_parse {
	struct config	*cfg;
	const char	*path;
	char		*errs;
	size_t		 errlen;
	int		 nerr;
	int		 line[NKEYS];	/* where each key was set, or 0 */
	int		 ok[NKEYS];	/* the file's value was good */
};

static void	cf_error(struct cf_parse *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* Add "path:line: reason\n" to the errors; line 0 leaves out the line. */
static void
cf_error(struct cf_parse *ps, int line, const char *fmt, ...)
{
	char *msg, *full;
	va_list ap;
	int n;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("config: out of memory");
	va_end(ap);
	if (line > 0)
		n = xasprintf(&full, "%s:%d: %s\n", ps->path, line, msg);
	else
		n = xasprintf(&full, "%s: %s\n", ps->path, msg);
	ps->errs = xreallocarray(ps->errs, ps->errlen + n + 1, 1);
	memcpy(ps->errs + ps->errlen, full, n + 1);
	ps->errlen += n;
	ps->nerr++;
	free(msg);
	free(full);
}

/* Operator text quoted in an error, bounded and made printable. */
static const char *
quote(char *buf, size_t len, const char *s)
{
	return log_escape(buf, len, s, strlen(s));
}

static char **
key_str(struct config *cfg, const struct cf_key *k)
{
	return (char **)((char *)cfg + k->off);
}

static int64_t *
key_num(struct config *cfg, const struct cf_key *k)
{
	return (int64_t *)((char *)cfg + k->off);
}

static const char *
unit_name(enum cf_type type)
{
	switch (type) {
	case CF_SIZE:
		return " bytes";
	case CF_DURATION:
		return " seconds";
	default:
		return "";
	}
}

/*
 * A number with the suffixes the type allows.  Returns 0, or -1 with a
 * reason in *why.
 */
static int
parse_number(const char *s, enum cf_type type, int64_t *out,
    const char **why)
{
	int64_t v = 0, mult = 1;
	const char *p = s;

	if (!isdigit((unsigned char)*p)) {
		*why = "not a number";
		return -1;
	}
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (INT64_MAX - (*p - '0')) / 10) {
			*why = "number too large";
			return -1;
		}
		v = v * 10 + (*p - '0');
	}
	if (*p != '\0' && p[1] == '\0') {
		switch (type) {
		case CF_SIZE:
			switch (*p) {
			case 'k': case 'K': mult = KIB; break;
			case 'm': case 'M': mult = MIB; break;
			case 'g': case 'G': mult = GIB; break;
			default: mult = 0; break;
			}
			break;
		case CF_DURATION:
			switch (*p) {
			case 's': mult = 1; break;
			case 'm': mult = MINUTE; break;
			case 'h': mult = HOUR; break;
			case 'd': mult = DAY; break;
			case 'w': mult = WEEK; break;
			default: mult = 0; break;
			}
			break;
		default:
			mult = 0;
			break;
		}
		p++;
	}
	if (*p != '\0' || mult == 0) {
		if (type == CF_SIZE)
			*why = "bad size: a number of bytes, optionally "
			    "followed by k, m or g";
		else if (type == CF_DURATION)
			*why = "bad duration: a number of seconds, "
			    "optionally followed by s, m, h, d or w";
		else
			*why = "not a whole number";
		return -1;
	}
	if (v > INT64_MAX / mult) {
		*why = "number too large";
		return -1;
	}
	*out = v * mult;
	return 0;
}

/* Store value for key k; errors are reported against line. */
static int
set_value(struct cf_parse *ps, const struct cf_key *k, const char *value,
    int line)
{
	const char *why;
	char q[128];
	int64_t v;

	switch (k->type) {
	case CF_STRING:
	case CF_LIST:
		free(*key_str(ps->cfg, k));
		*key_str(ps->cfg, k) = xstrdup(value);
		return 0;
	case CF_BARE_LF:
		if (strcasecmp(value, "reject") == 0)
			ps->cfg->bare_lf = BARE_LF_REJECT;
		else if (strcasecmp(value, "normalize") == 0)
			ps->cfg->bare_lf = BARE_LF_NORMALIZE;
		else {
			cf_error(ps, line, "%s: \"%s\" is neither reject nor "
			    "normalize", k->name, quote(q, sizeof(q), value));
			return -1;
		}
		return 0;
	default:
		break;
	}
	if (parse_number(value, k->type, &v, &why) == -1) {
		cf_error(ps, line, "%s: \"%s\": %s", k->name,
		    quote(q, sizeof(q), value), why);
		return -1;
	}
	if (v < k->min || v > k->max) {
		cf_error(ps, line, "%s: %" PRId64 "%s is %s the %s of %"
		    PRId64 "%s", k->name, v, unit_name(k->type),
		    v < k->min ? "below" : "above",
		    v < k->min ? "minimum" : "maximum",
		    v < k->min ? k->min : k->max, unit_name(k->type));
		return -1;
	}
	*key_num(ps->cfg, k) = v;
	return 0;
}

static const struct cf_key *
find_key(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strlen(cf_keys[i].name) == len &&
		    strncmp(cf_keys[i].name, name, len) == 0)
			return &cf_keys[i];
	return NULL;
}

static int
is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* One logical line "key = value", already joined. */
static void
parse_setting(struct cf_parse *ps, char *text, int line)
{
	const struct cf_key *k;
	char *eq, *key, *end, *value;
	char q[128];
	size_t i, klen;

	if ((eq = strchr(text, '=')) == NULL) {
		cf_error(ps, line, "\"%s\": expected key = value",
		    quote(q, sizeof(q), text));
		return;
	}
	key = text;
	for (end = eq; end > key && is_blank(end[-1]); end--)
		;
	klen = (size_t)(end - key);
	if (klen == 0) {
		cf_error(ps, line, "no key before '='");
		return;
	}
	*end = '\0';
	for (i = 0; i < klen; i++)
		if (!islower((unsigned char)key[i]) &&
		    !isdigit((unsigned char)key[i]) && key[i] != '_')
			break;
	if (i < klen || (k = find_key(key, klen)) == NULL) {
		cf_error(ps, line, "unknown key \"%s\"",
		    quote(q, sizeof(q), key));
		return;
	}

	value = eq + 1;
	while (is_blank(*value))
		value++;
	for (end = value + strlen(value); end > value && is_blank(end[-1]);
	    end--)
		;
	*end = '\0';

	if (ps->line[k - cf_keys] != 0) {
		cf_error(ps, line, "duplicate key %s (first set at line %d)",
		    k->name, ps->line[k - cf_keys]);
		return;
	}
	ps->line[k - cf_keys] = line;
	if (set_value(ps, k, value, line) == 0)
		ps->ok[k - cf_keys] = 1;
}

/*
 * Split the text into logical lines: a line that starts with whitespace
 * continues the one before, comment and blank lines are skipped.
 */
static void
parse_text(struct cf_parse *ps, const char *text)
{
	const char *p = text, *nl, *s;
	char *logical = NULL;
	size_t len, loglen = 0;
	int lineno = 0, start = 0;

	for (; *p != '\0'; p = *nl == '\0' ? nl : nl + 1) {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		lineno++;
		for (s = p; s < nl && is_blank(*s); s++)
			;
		if (s == nl || *s == '#')
			continue;
		len = (size_t)(nl - s);
		while (len > 0 && is_blank(s[len - 1]))
			len--;
		if (s == p) {
			if (logical != NULL)
				parse_setting(ps, logical, start);
			free(logical);
			logical = xstrndup(s, len);
			loglen = len;
			start = lineno;
			continue;
		}
		if (logical == NULL) {
			cf_error(ps, lineno, "continuation line without a "
			    "key before it");
			continue;
		}
		logical = xreallocarray(logical, loglen + len + 2, 1);
		logical[loglen++] = ' ';
		memcpy(logical + loglen, s, len);
		loglen += len;
		logical[loglen] = '\0';
	}
	if (logical != NULL)
		parse_setting(ps, logical, start);
	free(logical);
}

/* --- defaults worked out at parse time ------------------------------- */

/*
 * The fully qualified name of this host when /etc/hosts gives one for
 * the short name; the resolver is never asked.
 */
static char *
hosts_fqdn(const char *shortname)
{
	char line[1024], *tok, *save, *found = NULL, *first;
	size_t n = strlen(shortname);
	FILE *f;
	int match;

	if ((f = fopen("/etc/hosts", "re")) == NULL)
		return NULL;
	while (found == NULL && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "#\n")] = '\0';
		if (strtok_r(line, " \t", &save) == NULL)
			continue;
		match = 0;
		first = NULL;
		while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
			if (strcasecmp(tok, shortname) == 0)
				match = 1;
			else if (first == NULL &&
			    strncasecmp(tok, shortname, n) == 0 &&
			    tok[n] == '.' && tok[n + 1] != '\0')
				first = tok;
		}
		if (match && first != NULL)
			found = xstrdup(first);
	}
	fclose(f);
	return found;
}

static char *
default_hostname(void)
{
	char name[256], *fq;

	if (gethostname(name, sizeof(name)) != 0 || name[0] == '\0')
		return xstrdup("localhost");
	name[sizeof(name) - 1] = '\0';
	if (strchr(name, '.') != NULL)
		return xstrdup(name);
	if ((fq = hosts_fqdn(name)) != NULL)
		return fq;
	return xstrdup(name);
}

static void
fill_defaults(struct cf_parse *ps)
{
	struct config *cfg = ps->cfg;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		/* A bad value gets the default, so later checks hold. */
		if (ps->ok[i] || cf_keys[i].def == NULL)
			continue;
		if (set_value(ps, &cf_keys[i], cf_keys[i].def, 0) == -1)
			panic("config: bad default for %s", cf_keys[i].name);
	}
	if (cfg->myhostname == NULL)
		cfg->myhostname = default_hostname();
	if (cfg->myorigin == NULL)
		cfg->myorigin = xstrdup(cfg->myhostname);
	if (cfg->mydestination == NULL) {
		/* A bad myhostname is reported once, as myhostname. */
		if (strcasecmp(cfg->myhostname, "localhost") == 0 ||
		    !addr_domain_valid(cfg->myhostname,
		    strlen(cfg->myhostname)))
			cfg->mydestination = xstrdup("localhost");
		else
			xasprintf(&cfg->mydestination, "localhost, %s",
			    cfg->myhostname);
	}
}

/* --- checks and parsed forms ----------------------------------------- */

/* The line where a key was set, for errors found after parsing. */
static int
key_line(const struct cf_parse *ps, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(cf_keys[i].name, name) == 0)
			return ps->line[i];
	return 0;
}

/* Split a comma/space separated list into malloc'd words. */
static char **
split_list(const char *s, size_t *np)
{
	char **v = NULL;
	size_t n = 0, len;

	for (;;) {
		s += strspn(s, ", \t\r\n");
		if (*s == '\0')
			break;
		len = strcspn(s, ", \t\r\n");
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n++] = xstrndup(s, len);
		s += len;
	}
	*np = n;
	return v;
}

static void
free_list(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * Each address as the master will read it (util/sockaddr.c); one socket
 * written two ways ("a:25", "[a]:25") is still listed twice.
 */
static void
parse_listen(struct cf_parse *ps)
{
	char seen[CONFIG_MAX_LISTEN][SOCKADDR_LABEL_MAX];
	struct config *cfg = ps->cfg;
	int line = key_line(ps, "inet_interfaces");
	char **v, q[128], err[256], label[SOCKADDR_LABEL_MAX];
	struct sockaddr_storage ss;
	socklen_t sslen;
	size_t i, j, n;

	v = split_list(cfg->inet_interfaces, &n);
	if (n > CONFIG_MAX_LISTEN)
		cf_error(ps, line, "inet_interfaces: %zu addresses, at most "
		    "%d", n, CONFIG_MAX_LISTEN);
	for (i = 0; i < n; i++) {
		if (sockaddr_parse(v[i], 0, &ss, &sslen, err,
		    sizeof(err)) == -1 ||
		    sockaddr_label(&ss, label, sizeof(label)) == -1) {
			cf_error(ps, line, "inet_interfaces: \"%s\" is not "
			    "ipv4:port or [ipv6]:port",
			    quote(q, sizeof(q), v[i]));
			continue;
		}
		for (j = 0; j < cfg->nlisten; j++)
			if (strcmp(label, seen[j]) == 0)
				break;
		if (j < cfg->nlisten)
			cf_error(ps, line, "inet_interfaces: %s is listed "
			    "twice", v[i]);
		else if (cfg->nlisten < CONFIG_MAX_LISTEN) {
			strlcpy(seen[cfg->nlisten], label, sizeof(seen[0]));
			cfg->listen[cfg->nlisten++] = v[i];
			v[i] = NULL;
		}
	}
	free_list(v, n);
}

/*
 * A domain list, lower-cased without a trailing dot; each name must be
 * one RCPT could carry (util/addr.c's grammar).  Values are never
 * expanded, so "$myhostname" is refused rather than taken literally.
 */
static char **
parse_domains(struct cf_parse *ps, const char *key, const char *text,
    size_t *np)
{
	int line = key_line(ps, key);
	char **v, *d, q[128];
	size_t i, j, n, len;

	v = split_list(text, &n);
	for (i = 0; i < n; i++) {
		d = v[i];
		len = strlen(d);
		if (len > 1 && d[len - 1] == '.')
			d[--len] = '\0';
		for (j = 0; j < len; j++)
			d[j] = (char)tolower((unsigned char)d[j]);
		if (strchr(d, '$') != NULL)
			cf_error(ps, line, "%s: \"%s\": values are not "
			    "expanded, name the domain itself", key,
			    quote(q, sizeof(q), d));
		else if (!addr_domain_valid(d, len))
			cf_error(ps, line, "%s: \"%s\" is not a domain name",
			    key, quote(q, sizeof(q), d));
	}
	*np = n;
	return v;
}

/* One domain name, as written: it goes into EHLO and addresses. */
static void
check_domain(struct cf_parse *ps, const char *key, const char *name)
{
	int line = key_line(ps, key);
	char q[128];

	if (addr_domain_valid(name, strlen(name)))
		return;
	if (line == 0)
		cf_error(ps, 0, "%s: the host name \"%s\" is not a domain "
		    "name; set %s", key, quote(q, sizeof(q), name), key);
	else
		cf_error(ps, line, "%s: \"%s\" is not a domain name", key,
		    quote(q, sizeof(q), name));
}

/* "type:/absolute/path" or empty, as the policy and agents need it. */
static void
check_table(struct cf_parse *ps, const char *key, const char *value,
    const char *type)
{
	int line = key_line(ps, key);
	size_t tlen = strlen(type);
	char q[128];

	if (value[0] == '\0')
		return;
	if (strncmp(value, type, tlen) != 0 || value[tlen] != ':')
		cf_error(ps, line, "%s: \"%s\": only a %s: table is "
		    "supported, as %s:/path/to/file", key,
		    quote(q, sizeof(q), value), type, type);
	else if (strpbrk(value, ", \t") != NULL)
		cf_error(ps, line, "%s: \"%s\": only one table is supported",
		    key, quote(q, sizeof(q), value));
	else if (value[tlen + 1] != '/')
		cf_error(ps, line, "%s: \"%s\": the file must be an absolute "
		    "path", key, quote(q, sizeof(q), value));
	else if (strlen(value + tlen + 1) + sizeof(".db") > PATH_MAX)
		cf_error(ps, line, "%s: \"%s\": the path is too long", key,
		    quote(q, sizeof(q), value));
}

/* The checks the remote agent and the policy process make again. */
static void
check_addresses(struct cf_parse *ps)
{
	struct config *cfg = ps->cfg;
	struct sockaddr_storage ss;
	struct cidr_table *t;
	char label[RELAYHOST_LABEL_MAX], err[512], q[128];
	socklen_t sslen;

	if (cfg->relayhost[0] != '\0' && relayhost_parse(cfg->relayhost,
	    &ss, &sslen, label, sizeof(label)) != 0)
		cf_error(ps, key_line(ps, "relayhost"), "relayhost: \"%s\" is "
		    "not an address literal such as [192.0.2.1]:25",
		    quote(q, sizeof(q), cfg->relayhost));
	if ((t = cidr_from_list(cfg->mynetworks, err, sizeof(err))) == NULL)
		cf_error(ps, key_line(ps, "mynetworks"), "mynetworks: %s",
		    err);
	cidr_free(t);
}

static void
check_config(struct cf_parse *ps)
{
	struct config *cfg = ps->cfg;
	size_t most;

	most = sizeof(((struct sockaddr_un *)0)->sun_path) -
	    sizeof(LONGEST_SOCKET);
	if (cfg->queue_directory[0] != '/')
		cf_error(ps, key_line(ps, "queue_directory"),
		    "queue_directory: must be an absolute path");
	else if (strlen(cfg->queue_directory) > most)
		cf_error(ps, key_line(ps, "queue_directory"),
		    "queue_directory: longer than %zu bytes, too long for "
		    "the sockets under it", most);
	if (cfg->mailbox_base[0] != '\0' && cfg->mailbox_base[0] != '/')
		cf_error(ps, key_line(ps, "mailbox_base"),
		    "mailbox_base: must be an absolute path or empty");
	if (cfg->myhostname[0] == '\0')
		cf_error(ps, key_line(ps, "myhostname"),
		    "myhostname: must not be empty");
	if (cfg->mail_owner[0] == '\0')
		cf_error(ps, key_line(ps, "mail_owner"),
		    "mail_owner: must not be empty");
	if (cfg->maximal_backoff < cfg->minimal_backoff)
		cf_error(ps, key_line(ps, "maximal_backoff") != 0 ?
		    key_line(ps, "maximal_backoff") :
		    key_line(ps, "minimal_backoff"),
		    "maximal_backoff (%" PRId64 "s) is below minimal_backoff "
		    "(%" PRId64 "s)", cfg->maximal_backoff,
		    cfg->minimal_backoff);

	if (cfg->myhostname[0] != '\0')
		check_domain(ps, "myhostname", cfg->myhostname);
	if (key_line(ps, "myorigin") != 0)
		check_domain(ps, "myorigin", cfg->myorigin);

	parse_listen(ps);
	cfg->local_domains = parse_domains(ps, "mydestination",
	    cfg->mydestination, &cfg->nlocal_domains);
	cfg->relay_domain_list = parse_domains(ps, "relay_domains",
	    cfg->relay_domains, &cfg->nrelay_domains);
	cfg->trusted_user_list = split_list(cfg->trusted_users,
	    &cfg->ntrusted_users);
	check_table(ps, "alias_maps", cfg->alias_maps, "hash");
	check_table(ps, "smtpd_client_access", cfg->smtpd_client_access,
	    "cidr");
	check_addresses(ps);
}

/* --- public ---------------------------------------------------------- */

struct config *
config_parse(const char *path, const char *text, char **errs)
{
	struct cf_parse ps;

	memset(&ps, 0, sizeof(ps));
	ps.path = path;
	ps.cfg = xcalloc(1, sizeof(*ps.cfg));
	ps.cfg->path = xstrdup(path);

	parse_text(&ps, text);
	fill_defaults(&ps);
	check_config(&ps);
	ps.cfg->key_lines = xcalloc(NKEYS, sizeof(*ps.cfg->key_lines));
	memcpy(ps.cfg->key_lines, ps.line, sizeof(ps.line));

	if (ps.nerr > 0) {
		config_free(ps.cfg);
		if (errs != NULL)
			*errs = ps.errs;
		else
			free(ps.errs);
		return NULL;
	}
	if (errs != NULL)
		*errs = NULL;
	return ps.cfg;
}

struct config *
config_load(const char *path, char **errs)
{
	struct config *cfg;
	char *text;

	if ((text = config_read_file(path, errs)) == NULL)
		return NULL;
	cfg = config_parse(path, text, errs);
	free(text);
	return cfg;
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < NKEYS; i++)
		if (cf_keys[i].type == CF_STRING || cf_keys[i].type == CF_LIST)
			free(*key_str(cfg, &cf_keys[i]));
	for (i = 0; i < cfg->nlisten; i++)
		free(cfg->listen[i]);
	free_list(cfg->local_domains, cfg->nlocal_domains);
	free_list(cfg->relay_domain_list, cfg->nrelay_domains);
	free_list(cfg->trusted_user_list, cfg->ntrusted_users);
	free(cfg->key_lines);
	free(cfg->path);
	free(cfg);
}

/* Print every key in table order, as a file that would parse back. */
void
config_dump(const struct config *cfg)
{
	const struct cf_key *k;
	int64_t v;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		k = &cf_keys[i];
		switch (k->type) {
		case CF_STRING:
		case CF_LIST:
			printf("%s = %s\n", k->name,
			    *key_str((struct config *)cfg, k));
			break;
		case CF_BARE_LF:
			printf("%s = %s\n", k->name,
			    cfg->bare_lf == BARE_LF_NORMALIZE ?
			    "normalize" : "reject");
			break;
		default:
			v = *key_num((struct config *)cfg, k);
			printf("%s = %" PRId64 "%s\n", k->name, v,
			    k->type == CF_DURATION ? "s" : "");
			break;
		}
	}
}

/* Is name one of the domains in list?  Case and a final dot ignored. */
static int
domain_in(char **list, size_t n, const char *name)
{
	size_t i, len;

	if (name == NULL)
		return 0;
	len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (strlen(list[i]) == len &&
		    strncasecmp(list[i], name, len) == 0)
			return 1;
	return 0;
}

int
config_is_local_domain(const struct config *cfg, const char *domain)
{
	return domain_in(cfg->local_domains, cfg->nlocal_domains, domain);
}

int
config_is_relay_domain(const struct config *cfg, const char *domain)
{
	return domain_in(cfg->relay_domain_list, cfg->nrelay_domains,
	    domain);
}

int
config_trusted_user(const struct config *cfg, uid_t uid, const char *login)
{
	size_t i;

	if (uid == 0)
		return 1;
	for (i = 0; i < cfg->ntrusted_users; i++)
		if (strcmp(cfg->trusted_user_list[i], login) == 0)
			return 1;
	return 0;
}

int
config_local_sender(const struct config *cfg, const char *login, char *out,
    size_t outlen)
{
	char path[ADDR_PATH_MAX + 3];
	struct mailaddr ma;
	size_t end;
	int n;

	n = snprintf(path, sizeof(path), "<%s@%s>", login, cfg->myorigin);
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    addr_parse_path(path, (size_t)n, &end, 0, &ma) != ADDR_OK ||
	    end != (size_t)n)
		return -1;
	return addr_format(&ma, out, outlen);
}

int
config_key_line(const struct config *cfg, const char *key)
{
	size_t i;

	if (cfg->key_lines == NULL)
		return 0;
	for (i = 0; i < NKEYS; i++)
		if (strcmp(cf_keys[i].name, key) == 0)
			return cfg->key_lines[i];
	return 0;
}

void
config_where(const struct config *cfg, const char *key, char *out,
    size_t outlen)
{
	int line = config_key_line(cfg, key);

	if (line > 0)
		snprintf(out, outlen, "%s:%d", cfg->path, line);
	else
		snprintf(out, outlen, "%s", cfg->path);
}

static void
set_err(char **errs, const char *path, const char *why)
{
	if (errs != NULL)
		xasprintf(errs, "%s: %s\n", path, why);
}

/* Read path whole; a NUL inside is refused, since values are text. */
char *
config_read_file(const char *path, char **errs)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	if (errs != NULL)
		*errs = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		set_err(errs, path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		set_err(errs, path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(errs, path, S_ISDIR(st.st_mode) ?
		    "is a directory" : "not a regular file");
		goto fail;
	}
	for (;;) {
		if (cap - len < 4096) {
			cap = cap == 0 ? 8192 : cap * 2;
			buf = xreallocarray(buf, cap, 1);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			set_err(errs, path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_FILE_MAX) {
			set_err(errs, path, "file too large");
			goto fail;
		}
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		set_err(errs, path, "contains a NUL byte");
		goto fail;
	}
	close(fd);
	return buf;

fail:
	free(buf);
	close(fd);
	return NULL;
}

static void
path_under(const struct config *cfg, const char *rel, char *out,
    size_t len)
{
	int n = snprintf(out, len, "%s/%s", cfg->queue_directory, rel);

	if (n < 0 || (size_t)n >= len)
		panic("config: %s/%s does not fit in %zu bytes",
		    cfg->queue_directory, rel, len);
}

void
config_path_control(const struct config *cfg, char *out, size_t len)
{
	path_under(cfg, "private/control", out, len);
}

void
config_path_submit(const struct config *cfg, char *out, size_t len)
{
	path_under(cfg, "public/submit", out, len);
}

void
config_path_showq(const struct config *cfg, char *out, size_t len)
{
	path_under(cfg, "public/showq", out, len);
}

void
config_path_maildrop(const struct config *cfg, char *out, size_t len)
{
	path_under(cfg, "maildrop", out, len);
}
