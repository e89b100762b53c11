/*
 * The aliases file and its Berkeley DB hash.
 *
 * Source syntax, as aliases(5): "name: target, target ..."; a line that
 * starts with white space continues the one before; lines starting with
 * '#' and blank lines are ignored; a name may be quoted ("a b": x).
 * Names are lower-cased.  Targets are local names or addresses checked
 * with the RFC 5321 grammar, or "|command", "/file" and ":include:"
 * targets, which are stored as written: an aliases file from another MTA
 * compiles whole, and only the aliases that lead to what is not built
 * yet (those, and other domains) are refused, at RCPT, with a warning
 * here.  A name given twice is an error rather than a silent choice.
 * Any error leaves the old database untouched.
 *
 * Database: keys are "name\0" and values "target, target\0", NUL
 * included as Postfix stores them, so a database built by either can be
 * read by the other.  It is written to a temporary file next to the
 * target, synced, and renamed over it, so readers see the old or the
 * new table, never half of one.
 *
 * Expansion (aliases_walk) is here too, once for both of its users: the
 * policy process at RCPT and the local agent at delivery, so that what
 * one refuses the other refuses as well.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <db.h>

#include "addr.h"
#include "aliases.h"
#include "config.h"
#include "text.h"
#include "xmalloc.h"

struct compile {
	const char		*src;
	FILE			*errs;		/* NULL: only counted */
	int			 nerr;
	struct alias_table	*t;
};

static void
cerr(struct compile *c, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cerr(struct compile *c, size_t line, const char *fmt, ...)
{
	va_list ap;

	c->nerr++;
	if (c->errs == NULL)
		return;
	fprintf(c->errs, "%s:%zu: ", c->src, line);
	va_start(ap, fmt);
	vfprintf(c->errs, fmt, ap);
	va_end(ap);
	fputc('\n', c->errs);
}

/*
 * The '@' before a target's domain, or NULL for a bare name: the last
 * one, unless a quote follows it ("a@b" is a quoted local part).
 */
static const char *
target_at(const char *t)
{
	const char *at = strrchr(t, '@'), *q = strrchr(t, '"');

	return at != NULL && (q == NULL || q < at) ? at : NULL;
}

/* Is the target an address the grammar accepts (bare names too)? */
static int
target_valid(const char *t)
{
	char path[ADDR_PATH_MAX + 32];
	struct mailaddr ma;
	size_t end;
	int n;

	if (target_at(t) != NULL)
		n = snprintf(path, sizeof(path), "<%s>", t);
	else
		n = snprintf(path, sizeof(path), "<%s@localhost>", t);
	if (n < 0 || (size_t)n >= sizeof(path))
		return 0;
	return addr_parse_path(path, (size_t)n, &end, 0, &ma) == ADDR_OK &&
	    end == (size_t)n;
}

/* "|command", "/file" or ":include:/file", quoted or not. */
static int
is_special(const char *t)
{
	const char *u = t[0] == '"' ? t + 1 : t;

	return u[0] == '|' || u[0] == '/' ||
	    strncasecmp(u, ":include:", 9) == 0;
}

/* Check one target; 0, or -1 with the error noted. */
static int
check_target(struct compile *c, size_t line, const char *name,
    const char *t)
{
	/* Readers split the stored list at every comma. */
	if (strchr(t, ',') != NULL) {
		cerr(c, line, "alias %s: target %s: a comma inside quotes is "
		    "not supported", name, t);
		return -1;
	}
	/* Stored as written, so it must be text fit for a log line. */
	if (is_special(t)) {
		if (!addr_has_control(t))
			return 0;
		cerr(c, line, "alias %s: control character in a target",
		    name);
		return -1;
	}
	if (!target_valid(t)) {
		cerr(c, line, "alias %s: target \"%s\": bad address syntax",
		    name, t);
		return -1;
	}
	return 0;
}

/*
 * Split the value at commas outside quotes, check each target and join
 * them as "a, b".  Returns the malloc'd list or NULL (error noted).
 */
static char *
parse_targets(struct compile *c, size_t line, const char *name, char *v)
{
	char *out = NULL, *tmp, *t, *p;
	int inq = 0, bad = 0, ntargets = 0, last;

	for (t = p = v;; p++) {
		if (*p == '"' && (p == v || p[-1] != '\\'))
			inq = !inq;
		if (*p != '\0' && (*p != ',' || inq))
			continue;
		if (*p == '\0' && inq) {
			cerr(c, line, "alias %s: unterminated quote", name);
			bad = 1;
			break;
		}
		last = *p == '\0';
		*p = '\0';
		t = text_trim(t);
		if (*t != '\0') {
			if (check_target(c, line, name, t) == -1)
				bad = 1;
			else if (out == NULL)
				out = xstrdup(t);
			else {
				xasprintf(&tmp, "%s, %s", out, t);
				free(out);
				out = tmp;
			}
			ntargets++;
		}
		if (last)
			break;
		t = p + 1;
	}
	if (!bad && ntargets == 0) {
		cerr(c, line, "alias %s: no targets", name);
		bad = 1;
	}
	if (bad) {
		free(out);
		return NULL;
	}
	return out;
}

/* "name" or "\"quoted name\"" before the ':'; lower-cased into *name. */
static char *
parse_name(struct compile *c, size_t line, char *s, char **name)
{
	char *end, *p;

	if (*s == '"') {
		if ((end = strchr(s + 1, '"')) == NULL) {
			cerr(c, line, "unterminated quoted alias name");
			return NULL;
		}
		*end = '\0';
		*name = s + 1;
		p = end + 1;
	} else {
		*name = s;
		p = s + strcspn(s, ": \t");
	}
	p += strspn(p, " \t");
	if (*p != ':') {
		cerr(c, line, "missing ':' after the alias name");
		return NULL;
	}
	if (s[0] != '"')
		*strpbrk(s, ": \t") = '\0';
	else
		*p = '\0';
	if (**name == '\0') {
		cerr(c, line, "empty alias name");
		return NULL;
	}
	for (end = *name; *end != '\0'; end++) {
		if ((unsigned char)*end < 0x20 || *end == 0x7f) {
			cerr(c, line, "control character in the alias name");
			return NULL;
		}
		*end = (char)tolower((unsigned char)*end);
	}
	return p + 1;
}

static void
parse_entry(struct compile *c, size_t line, char *s)
{
	struct alias_table *t = c->t;
	char *name, *rest, *value;
	size_t i;

	if ((rest = parse_name(c, line, s, &name)) == NULL)
		return;
	for (i = 0; i < t->n; i++)
		if (strcmp(t->a[i].name, name) == 0) {
			cerr(c, line, "alias %s given twice (first at line "
			    "%zu)", name, t->a[i].line);
			return;
		}
	if ((value = parse_targets(c, line, name, rest)) == NULL)
		return;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->a = xreallocarray(t->a, t->cap, sizeof(*t->a));
	}
	t->a[t->n].name = xstrdup(name);
	t->a[t->n].value = value;
	t->a[t->n].line = line;
	t->n++;
}

/*
 * One source line (NUL-terminated, as getline() left it, so text after
 * a NUL inside it is not seen): a comment, a blank, the continuation of
 * *pending, or the start of a new entry, which ends the pending one.
 */
static void
parse_line(struct compile *c, char *buf, size_t lineno, char **pending,
    size_t *start)
{
	char *s, *joined;

	s = text_trim(buf);
	if (*s == '#' || (*s == '\0' && buf[0] != ' ' && buf[0] != '\t'))
		return;
	if (buf[0] == ' ' || buf[0] == '\t') {
		if (*s == '\0')
			return;
		if (*pending == NULL) {
			cerr(c, lineno, "continuation line without an alias "
			    "before it");
			return;
		}
		xasprintf(&joined, "%s %s", *pending, s);
		free(*pending);
		*pending = joined;
		return;
	}
	if (*pending != NULL)
		parse_entry(c, *start, *pending);
	free(*pending);
	*pending = xstrdup(s);
	*start = lineno;
}

int
aliases_parse(const char *src, const char *text, size_t len,
    struct alias_table *t, FILE *errs)
{
	struct compile c;
	const char *p = text, *end = text + len, *nl;
	char *buf = NULL, *pending = NULL;
	size_t n, lineno = 0, start = 0;

	memset(&c, 0, sizeof(c));
	c.src = src;
	c.errs = errs;
	c.t = t;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl == NULL ? (size_t)(end - p) : (size_t)(nl - p) + 1;
		buf = xreallocarray(buf, n + 1, 1);
		memcpy(buf, p, n);
		buf[n] = '\0';
		parse_line(&c, buf, ++lineno, &pending, &start);
		p += n;
	}
	if (pending != NULL)
		parse_entry(&c, start, pending);
	free(pending);
	free(buf);
	return c.nerr;
}

void
aliases_table_free(struct alias_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->a[i].name);
		free(t->a[i].value);
	}
	free(t->a);
	memset(t, 0, sizeof(*t));
}

/* The whole source file into *text; 0, or -1 with the error noted. */
static int
read_source(const char *src, FILE *errs, char **text, size_t *len)
{
	char *buf = NULL;
	size_t cap = 0, n = 0, got;
	FILE *fp;

	*text = NULL;
	if ((fp = fopen(src, "r")) == NULL) {
		fprintf(errs, "%s: %s\n", src, strerror(errno));
		return -1;
	}
	for (;;) {
		if (cap - n < 8192) {
			cap = cap == 0 ? 8192 : cap * 2;
			buf = xreallocarray(buf, cap, 1);
		}
		if ((got = fread(buf + n, 1, cap - n, fp)) == 0)
			break;
		n += got;
	}
	if (ferror(fp)) {
		fprintf(errs, "%s: %s\n", src, strerror(errno));
		free(buf);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	*text = buf;
	*len = n;
	return 0;
}

/* Write every alias into a new hash file at tmp; 0 or an errno. */
static int
write_db(const struct alias_table *t, const char *tmp)
{
	DB *db;
	DBT key, val;
	size_t i;
	int rv, fd;

	if ((rv = db_create(&db, NULL, 0)) != 0)
		return rv;
	rv = db->open(db, NULL, tmp, NULL, DB_HASH, DB_CREATE | DB_EXCL,
	    0644);
	for (i = 0; rv == 0 && i < t->n; i++) {
		memset(&key, 0, sizeof(key));
		memset(&val, 0, sizeof(val));
		key.data = t->a[i].name;
		key.size = (u_int32_t)strlen(t->a[i].name) + 1;
		val.data = t->a[i].value;
		val.size = (u_int32_t)strlen(t->a[i].value) + 1;
		rv = db->put(db, NULL, &key, &val, 0);
	}
	if (db->close(db, 0) != 0 && rv == 0)
		rv = EIO;
	if (rv != 0)
		return rv;
	if ((fd = open(tmp, O_RDONLY | O_CLOEXEC)) == -1)
		return errno;
	if (fsync(fd) == -1) {
		rv = errno;
		close(fd);
		return rv;
	}
	close(fd);
	return 0;
}

/* One warning per stored target that cannot be delivered yet. */
static char *
warn_unbuilt(const struct config *cfg, const char *src,
    const struct alias_table *t)
{
	enum alias_target kind;
	char *out = NULL, *v, *tok, *next;
	size_t i, len;
	FILE *f;

	if ((f = open_memstream(&out, &len)) == NULL)
		return NULL;
	for (i = 0; i < t->n; i++) {
		v = xstrdup(t->a[i].value);
		for (tok = v; tok != NULL; tok = next) {
			if ((next = strchr(tok, ',')) != NULL)
				*next++ = '\0';
			tok = text_trim(tok);
			kind = aliases_target_kind(cfg, tok);
			if (kind == ALIAS_TARGET_LOCAL)
				continue;
			fprintf(f, "%s:%zu: warning: alias %s: target %s%s%s "
			    "is %s; %s, so mail to %s is refused at RCPT\n",
			    src, t->a[i].line, t->a[i].name,
			    tok[0] == '"' ? "" : "\"", tok,
			    tok[0] == '"' ? "" : "\"",
			    aliases_target_what(kind),
			    aliases_target_why(kind), t->a[i].name);
		}
		free(v);
	}
	fclose(f);
	if (out != NULL && out[0] == '\0') {
		free(out);
		out = NULL;
	}
	return out;
}

int
aliases_compile(const char *src, const char *dbpath,
    const struct config *cfg, char **errs, char **warns)
{
	struct alias_table t;
	FILE *ef;
	char *tmp = NULL, *text = NULL;
	size_t errlen, len = 0;
	int rv = -1, e;

	memset(&t, 0, sizeof(t));
	*errs = NULL;
	if (warns != NULL)
		*warns = NULL;
	if ((ef = open_memstream(errs, &errlen)) == NULL) {
		xasprintf(errs, "%s: %s", src, strerror(errno));
		return -1;
	}
	if (read_source(src, ef, &text, &len) == -1 ||
	    aliases_parse(src, text, len, &t, ef) != 0)
		goto done;

	xasprintf(&tmp, "%s.tmp.%ld", dbpath, (long)getpid());
	unlink(tmp);
	if ((e = write_db(&t, tmp)) != 0) {
		fprintf(ef, "%s: cannot write: %s\n", tmp, db_strerror(e));
		unlink(tmp);
		goto done;
	}
	if (rename(tmp, dbpath) == -1) {
		fprintf(ef, "%s: cannot rename to %s: %s\n", tmp, dbpath,
		    strerror(errno));
		unlink(tmp);
		goto done;
	}
	rv = (int)t.n;
	if (warns != NULL)
		*warns = warn_unbuilt(cfg, src, &t);

done:
	fclose(ef);
	if (rv >= 0) {
		free(*errs);
		*errs = NULL;
	}
	free(tmp);
	free(text);
	aliases_table_free(&t);
	return rv;
}

/* Berkeley DB would print its own message; the caller gets ours. */
static void
db_quiet(const DB_ENV *env, const char *prefix, const char *msg)
{
}

/* Open dbpath read-only; 0, or the error (ENOENT: it is not there). */
static int
db_open(const char *dbpath, DB **out)
{
	DB *db;
	int rv;

	*out = NULL;
	if ((rv = db_create(&db, NULL, 0)) != 0)
		return rv;
	db->set_errcall(db, db_quiet);
	if ((rv = db->open(db, NULL, dbpath, NULL, DB_HASH, DB_RDONLY,
	    0)) != 0) {
		db->close(db, 0);
		return rv;
	}
	*out = db;
	return 0;
}

/* Look name up, lower-cased: 1 with *value set, 0 when absent, -1. */
static int
db_get(DB *db, const char *name, char **value)
{
	char kbuf[1024];
	DBT key, val;
	size_t i, n;
	int rv;

	*value = NULL;
	if ((n = strlen(name)) == 0 || n >= sizeof(kbuf))
		return 0;
	for (i = 0; i <= n; i++)
		kbuf[i] = (char)tolower((unsigned char)name[i]);
	memset(&key, 0, sizeof(key));
	memset(&val, 0, sizeof(val));
	key.data = kbuf;
	key.size = (u_int32_t)n + 1;
	rv = db->get(db, NULL, &key, &val, 0);
	if (rv == DB_NOTFOUND) {
		/* a table written without the NULs */
		key.size = (u_int32_t)n;
		rv = db->get(db, NULL, &key, &val, 0);
	}
	if (rv == DB_NOTFOUND)
		return 0;
	if (rv != 0)
		return -1;
	n = val.size;
	if (n > 0 && ((char *)val.data)[n - 1] == '\0')
		n--;
	*value = xstrndup(val.data, n);
	return 1;
}

int
aliases_lookup(const char *dbpath, const char *name, char **value)
{
	DB *db;
	int rv;

	*value = NULL;
	if ((rv = db_open(dbpath, &db)) != 0)
		return rv == ENOENT ? ALIASES_NODB : -1;
	rv = db_get(db, name, value);
	db->close(db, 0);
	return rv;
}

int
aliases_db_path(const char *maps, char *out, size_t outlen)
{
	int n;

	if (strncmp(maps, "hash:", 5) != 0)
		return -1;
	maps += 5;
	if (maps[0] != '/' || strpbrk(maps, ", \t") != NULL)
		return -1;
	n = snprintf(out, outlen, "%s.db", maps);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
aliases_db_check(const char *dbpath, char *err, size_t errlen)
{
	DB *db;
	int rv;

	if ((rv = db_open(dbpath, &db)) == ENOENT)
		return ALIASES_NODB;
	if (rv != 0) {
		snprintf(err, errlen, "%s: %s", dbpath, db_strerror(rv));
		return -1;
	}
	db->close(db, 0);
	return 0;
}

enum alias_target
aliases_target_kind(const struct config *cfg, const char *t)
{
	const char *u = t[0] == '"' ? t + 1 : t, *at;

	if (u[0] == '|')
		return ALIAS_TARGET_COMMAND;
	if (u[0] == '/')
		return ALIAS_TARGET_FILE;
	if (strncasecmp(u, ":include:", 9) == 0)
		return ALIAS_TARGET_INCLUDE;
	if ((at = target_at(t)) == NULL)
		return ALIAS_TARGET_LOCAL;
	return config_is_local_domain(cfg, at + 1) ? ALIAS_TARGET_LOCAL :
	    ALIAS_TARGET_REMOTE;
}

const char *
aliases_target_what(enum alias_target kind)
{
	switch (kind) {
	case ALIAS_TARGET_REMOTE:
		return "a remote address";
	case ALIAS_TARGET_COMMAND:
		return "a command";
	case ALIAS_TARGET_FILE:
		return "a file";
	case ALIAS_TARGET_INCLUDE:
		return "an :include: list";
	default:
		return "a local mailbox";
	}
}

const char *
aliases_target_why(enum alias_target kind)
{
	switch (kind) {
	case ALIAS_TARGET_REMOTE:
		return "forwarding is not built yet";
	case ALIAS_TARGET_COMMAND:
		return "delivery to commands is not built yet";
	case ALIAS_TARGET_FILE:
		return "delivery to files is not built yet";
	case ALIAS_TARGET_INCLUDE:
		return ":include: lists are not built yet";
	default:
		return "it can be delivered";
	}
}

/* One walk: its database handle, its callback, what it counted. */
struct walk {
	const struct config	*cfg;
	DB			*db;		/* NULL: no alias database */
	alias_name_fn		 fn;
	void			*arg;
	struct alias_walk	*w;
	size_t			 names;		/* met so far */
	size_t			 given;		/* given to fn */
};

/* The local part of a local target: all of it before target_at(). */
static int
target_local(const char *t, char *out, size_t outlen)
{
	const char *at = target_at(t);
	size_t len;

	len = at != NULL ? (size_t)(at - t) : strlen(t);
	if (len == 0 || len >= outlen)
		return -1;
	memcpy(out, t, len);
	out[len] = '\0';
	return 0;
}

/* A name the walk ends at, for the callback. */
static enum alias_walk_end
give(struct walk *k, const char *name, const char *alias)
{
	if (++k->names > ALIAS_NAMES_MAX)
		return ALIAS_WALK_WIDE;
	k->given++;
	if (k->fn(k->arg, name, alias) == 0)
		return ALIAS_WALK_OK;
	strlcpy(k->w->name, name, sizeof(k->w->name));
	return ALIAS_WALK_STOPPED;
}

static enum alias_walk_end	walk_name(struct walk *, const char *,
				    const char *, int);

/* The targets of the alias name, in order; value is cut up. */
static enum alias_walk_end
walk_value(struct walk *k, const char *name, char *value, int depth)
{
	char local[ADDR_LOCAL_MAX + 3], *tok, *next;
	enum alias_walk_end end = ALIAS_WALK_OK;

	for (tok = value; tok != NULL && end == ALIAS_WALK_OK; tok = next) {
		if ((next = strchr(tok, ',')) != NULL)
			*next++ = '\0';
		tok = text_trim(tok);
		if (*tok == '\0')
			continue;
		k->w->kind = aliases_target_kind(k->cfg, tok);
		if (k->w->kind != ALIAS_TARGET_LOCAL)
			end = ALIAS_WALK_UNBUILT;
		else if (target_local(tok, local, sizeof(local)) == -1) {
			strlcpy(k->w->name, name, sizeof(k->w->name));
			end = ALIAS_WALK_BADTARGET;
		} else if (strcasecmp(local, name) == 0)
			end = give(k, local, name);	/* root: root, alice */
		else
			end = walk_name(k, local, name, depth + 1);
	}
	return end;
}

static enum alias_walk_end
walk_name(struct walk *k, const char *name, const char *alias, int depth)
{
	enum alias_walk_end end;
	char *value;
	int rv;

	if (depth > ALIAS_DEPTH_MAX)
		return ALIAS_WALK_DEEP;
	if (k->db == NULL)
		return give(k, name, alias);
	if ((rv = db_get(k->db, name, &value)) == -1)
		return ALIAS_WALK_DBERR;
	if (rv == 0)
		return give(k, name, alias);
	if (++k->names > ALIAS_NAMES_MAX) {
		free(value);
		return ALIAS_WALK_WIDE;
	}
	if (depth == 0)
		k->w->via_alias = 1;
	end = walk_value(k, name, value, depth);
	free(value);
	return end;
}

enum alias_walk_end
aliases_walk(const struct config *cfg, const char *dbpath, const char *name,
    alias_name_fn fn, void *arg, struct alias_walk *w)
{
	struct walk k;
	enum alias_walk_end end;
	int rv;

	memset(w, 0, sizeof(*w));
	memset(&k, 0, sizeof(k));
	k.cfg = cfg;
	k.fn = fn;
	k.arg = arg;
	k.w = w;
	if (dbpath != NULL && (rv = db_open(dbpath, &k.db)) != 0)
		return rv == ENOENT ? ALIAS_WALK_NODB : ALIAS_WALK_DBERR;
	end = walk_name(&k, name, NULL, 0);
	if (k.db != NULL)
		k.db->close(k.db, 0);
	/* "a: ," from a database another program built. */
	if (end == ALIAS_WALK_OK && k.given == 0)
		end = ALIAS_WALK_EMPTY;
	return end;
}

const char *
aliases_walk_reason(enum alias_walk_end end, const struct alias_walk *w,
    char *text, size_t textlen)
{
	switch (end) {
	case ALIAS_WALK_OK:
		snprintf(text, textlen, "ok");
		return "2.0.0";
	case ALIAS_WALK_STOPPED:
		snprintf(text, textlen, "alias target %s is an unknown user",
		    w->name);
		return "5.1.1";
	case ALIAS_WALK_NODB:
		snprintf(text, textlen, "alias database is not built yet "
		    "(newaliases)");
		return "4.3.0";
	case ALIAS_WALK_DBERR:
		snprintf(text, textlen, "alias database cannot be read");
		return "4.3.0";
	case ALIAS_WALK_UNBUILT:
		snprintf(text, textlen, "alias leads to %s; %s",
		    aliases_target_what(w->kind), aliases_target_why(w->kind));
		return "5.3.0";
	case ALIAS_WALK_DEEP:
		snprintf(text, textlen, "alias expansion deeper than %d levels "
		    "(a loop?)", ALIAS_DEPTH_MAX);
		return "5.4.6";
	case ALIAS_WALK_WIDE:
		snprintf(text, textlen, "alias expands to more than %d names",
		    ALIAS_NAMES_MAX);
		return "5.3.0";
	case ALIAS_WALK_BADTARGET:
		snprintf(text, textlen, "alias %s has an invalid target",
		    w->name);
		return "5.1.1";
	case ALIAS_WALK_EMPTY:
		break;
	}
	snprintf(text, textlen, "alias has no targets");
	return "5.1.1";
}
