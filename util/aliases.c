/*
 * The aliases file and its Berkeley DB hash.
 *
 * Source syntax, as aliases(5): "name: target, target ..."; a line that
 * starts with white space continues the one before; lines starting with
 * '#' and blank lines are ignored; a name may be quoted ("a b": x).
 * Names are lower-cased.  Targets are local names or addresses checked
 * with the RFC 5321 grammar; "|command", "/file" and ":include:" targets
 * are refused, since delivery to commands, files and included lists is
 * not built.  A name given twice is an error rather than a silent
 * choice.  Any error leaves the old database untouched.
 *
 * Database: keys are "name\0" and values "target, target\0", NUL
 * included as Postfix stores them, so a database built by either can be
 * read by the other.  It is written to a temporary file next to the
 * target, synced, and renamed over it, so readers see the old or the
 * new table, never half of one.
 */
#include <sys/types.h>
#include <sys/stat.h>

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
#include "xmalloc.h"

struct alias {
	char	*name;
	char	*value;		/* "target, target" */
	size_t	 line;
};

struct compile {
	const char	*src;
	FILE		*errs;		/* open_memstream */
	int		 nerr;
	struct alias	*a;
	size_t		 n;
	size_t		 cap;
};

static void
cerr(struct compile *c, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cerr(struct compile *c, size_t line, const char *fmt, ...)
{
	va_list ap;

	fprintf(c->errs, "%s:%zu: ", c->src, line);
	va_start(ap, fmt);
	vfprintf(c->errs, fmt, ap);
	va_end(ap);
	fputc('\n', c->errs);
	c->nerr++;
}

static char *
trim(char *s)
{
	char *end;

	s += strspn(s, " \t\r\n");
	end = s + strlen(s);
	while (end > s && strchr(" \t\r\n", end[-1]) != NULL)
		*--end = '\0';
	return s;
}

/* Is the target an address the grammar accepts (bare names too)? */
static int
target_valid(const char *t)
{
	char path[ADDR_PATH_MAX + 32];
	struct mailaddr ma;
	const char *at, *q;
	size_t end;
	int n;

	at = strrchr(t, '@');
	q = strrchr(t, '"');
	if (at != NULL && (q == NULL || q < at))
		n = snprintf(path, sizeof(path), "<%s>", t);
	else
		n = snprintf(path, sizeof(path), "<%s@localhost>", t);
	if (n < 0 || (size_t)n >= sizeof(path))
		return 0;
	return addr_parse_path(path, (size_t)n, &end, 0, &ma) == ADDR_OK &&
	    end == (size_t)n;
}

/* Check one target; 0, or -1 with the error noted. */
static int
check_target(struct compile *c, size_t line, const char *name,
    const char *t)
{
	const char *u = t[0] == '"' ? t + 1 : t;

	if (u[0] == '|') {
		cerr(c, line, "alias %s: target \"%s\": delivery to a command "
		    "is not built yet", name, t);
		return -1;
	}
	if (u[0] == '/') {
		cerr(c, line, "alias %s: target \"%s\": delivery to a file "
		    "is not built yet", name, t);
		return -1;
	}
	if (strncasecmp(u, ":include:", 9) == 0) {
		cerr(c, line, "alias %s: target \"%s\": :include: lists are "
		    "not built yet", name, t);
		return -1;
	}
	/* Readers split the stored list at every comma. */
	if (strchr(t, ',') != NULL) {
		cerr(c, line, "alias %s: target %s: a comma inside quotes is "
		    "not supported", name, t);
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
		t = trim(t);
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
	char *name, *rest, *value;
	size_t i;

	if ((rest = parse_name(c, line, s, &name)) == NULL)
		return;
	for (i = 0; i < c->n; i++)
		if (strcmp(c->a[i].name, name) == 0) {
			cerr(c, line, "alias %s given twice (first at line "
			    "%zu)", name, c->a[i].line);
			return;
		}
	if ((value = parse_targets(c, line, name, rest)) == NULL)
		return;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->a = xreallocarray(c->a, c->cap, sizeof(*c->a));
	}
	c->a[c->n].name = xstrdup(name);
	c->a[c->n].value = value;
	c->a[c->n].line = line;
	c->n++;
}

static int
read_source(struct compile *c)
{
	char *buf = NULL, *pending = NULL, *s, *joined;
	size_t cap = 0, lineno = 0, start = 0;
	FILE *fp;

	if ((fp = fopen(c->src, "r")) == NULL) {
		fprintf(c->errs, "%s: %s\n", c->src, strerror(errno));
		c->nerr++;
		return -1;
	}
	while (getline(&buf, &cap, fp) != -1) {
		lineno++;
		s = trim(buf);
		if (*s == '#' || (*s == '\0' && buf[0] != ' ' &&
		    buf[0] != '\t'))
			continue;
		if (buf[0] == ' ' || buf[0] == '\t') {
			if (*s == '\0')
				continue;
			if (pending == NULL) {
				cerr(c, lineno, "continuation line without "
				    "an alias before it");
				continue;
			}
			xasprintf(&joined, "%s %s", pending, s);
			free(pending);
			pending = joined;
			continue;
		}
		if (pending != NULL)
			parse_entry(c, start, pending);
		free(pending);
		pending = xstrdup(s);
		start = lineno;
	}
	if (ferror(fp)) {
		fprintf(c->errs, "%s: %s\n", c->src, strerror(errno));
		c->nerr++;
	} else if (pending != NULL)
		parse_entry(c, start, pending);
	free(pending);
	free(buf);
	fclose(fp);
	return c->nerr == 0 ? 0 : -1;
}

/* Write every alias into a new hash file at tmp; 0 or an errno. */
static int
write_db(const struct compile *c, const char *tmp)
{
	DB *db;
	DBT key, val;
	size_t i;
	int rv, fd;

	if ((rv = db_create(&db, NULL, 0)) != 0)
		return rv;
	rv = db->open(db, NULL, tmp, NULL, DB_HASH, DB_CREATE | DB_EXCL,
	    0644);
	for (i = 0; rv == 0 && i < c->n; i++) {
		memset(&key, 0, sizeof(key));
		memset(&val, 0, sizeof(val));
		key.data = c->a[i].name;
		key.size = (u_int32_t)strlen(c->a[i].name) + 1;
		val.data = c->a[i].value;
		val.size = (u_int32_t)strlen(c->a[i].value) + 1;
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

static void
free_compile(struct compile *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->a[i].name);
		free(c->a[i].value);
	}
	free(c->a);
}

int
aliases_compile(const char *src, const char *dbpath, char **errs)
{
	struct compile c;
	char *tmp = NULL;
	size_t errlen;
	int rv = -1, e;

	memset(&c, 0, sizeof(c));
	c.src = src;
	*errs = NULL;
	if ((c.errs = open_memstream(errs, &errlen)) == NULL) {
		xasprintf(errs, "%s: %s", src, strerror(errno));
		return -1;
	}
	if (read_source(&c) == -1)
		goto done;

	xasprintf(&tmp, "%s.tmp.%ld", dbpath, (long)getpid());
	unlink(tmp);
	if ((e = write_db(&c, tmp)) != 0) {
		fprintf(c.errs, "%s: cannot write: %s\n", tmp, db_strerror(e));
		unlink(tmp);
		goto done;
	}
	if (rename(tmp, dbpath) == -1) {
		fprintf(c.errs, "%s: cannot rename to %s: %s\n", tmp, dbpath,
		    strerror(errno));
		unlink(tmp);
		goto done;
	}
	rv = (int)c.n;

done:
	fclose(c.errs);
	if (rv >= 0) {
		free(*errs);
		*errs = NULL;
	}
	free(tmp);
	free_compile(&c);
	return rv;
}

int
aliases_lookup(const char *dbpath, const char *name, char **value)
{
	char kbuf[1024];
	DB *db;
	DBT key, val;
	size_t i, n;
	int rv;

	*value = NULL;
	if ((n = strlen(name)) == 0 || n >= sizeof(kbuf))
		return 0;
	for (i = 0; i <= n; i++)
		kbuf[i] = (char)tolower((unsigned char)name[i]);
	if (db_create(&db, NULL, 0) != 0)
		return -1;
	if (db->open(db, NULL, dbpath, NULL, DB_HASH, DB_RDONLY, 0) != 0) {
		db->close(db, 0);
		return -1;
	}
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
	if (rv == 0) {
		n = val.size;
		if (n > 0 && ((char *)val.data)[n - 1] == '\0')
			n--;
		*value = xstrndup(val.data, n);
		rv = 1;
	} else
		rv = rv == DB_NOTFOUND ? 0 : -1;
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
