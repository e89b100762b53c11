/*
 * Maildrop pickup: mail that sendmail left in <queue_directory>/maildrop
 * while the daemon was down.  A file whose name does not start with '.'
 * is complete (sendmail writes under a dot name and renames).  Format:
 *
 *   BULWARK-MAILDROP 1
 *   sender <addr>          once; the address may be empty
 *   rcpt <addr>            one or more
 *   (empty line)
 *   content, canonical CRLF, headers already fixed up by sendmail
 *
 * The submitting user is the file's owner.  The sender line counts only
 * for root and trusted_users; anyone else sends as login@myorigin.
 * The message is committed like any other (and synced) before the file
 * is unlinked.  A malformed file is renamed to .bad-NAME and logged.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "xmalloc.h"

#include "queue/queue.h"

#define MAILDROP_MAGIC		"BULWARK-MAILDROP 1"
#define MAILDROP_LINE_MAX	1024
#define MAILDROP_RCPT_MAX	10000
#define MAILDROP_INTERVAL	1		/* seconds between idle scans */
#define MAILDROP_BATCH		256		/* names taken per listing */
#define MAILDROP_INFLIGHT	16		/* commits in flight at once */
#define MAILDROP_RUNS		16		/* listings per turn, at most */

struct drop {
	char		 name[NAME_MAX + 1];
	uid_t		 uid;
	char		*sender;
	char		**rcpt;
	uint32_t	 nrcpt;
};

/*
 * A listing gives a batch of names, taken MAILDROP_INFLIGHT commits at a
 * time; each finished commit takes the next at once.  The directory is
 * listed again only when the batch is used up and no commit is in flight,
 * so that a file whose commit is still out is never seen twice.
 */
static struct {
	int		 dirfd;
	struct event	*timer;
	struct event	*kick;		/* go on after a commit */
	int		 inflight;	/* pickups being committed */
	char		**batch;	/* names of the last listing */
	size_t		 nbatch;
	size_t		 next;		/* the next one to take */
	int		 failed;	/* a commit failed: wait for the tick */
	char		**stuck;	/* committed, but not unlinkable */
	size_t		 nstuck;
} md = { .dirfd = -1 };

static void
drop_free(struct drop *d)
{
	uint32_t i;

	free(d->sender);
	for (i = 0; i < d->nrcpt; i++)
		free(d->rcpt[i]);
	free(d->rcpt);
	free(d);
}

/* Rename a file we cannot take to .bad-NAME, so that it is kept. */
static void
move_aside(const char *name, const char *why)
{
	char bad[NAME_MAX + 8];

	snprintf(bad, sizeof(bad), ".bad-%s", name);
	if (renameat(md.dirfd, name, md.dirfd, bad) != 0) {
		log_warn("maildrop: %s: %s; cannot move it aside: %s", name,
		    why, strerror(errno));
		md.stuck = xreallocarray(md.stuck, md.nstuck + 1,
		    sizeof(*md.stuck));
		md.stuck[md.nstuck++] = xstrdup(name);
		return;
	}
	log_warn("maildrop: %s: %s; moved to %s", name, why, bad);
}

static int
is_stuck(const char *name)
{
	size_t i;

	for (i = 0; i < md.nstuck; i++)
		if (strcmp(md.stuck[i], name) == 0)
			return 1;
	return 0;
}

/* A line without its line ending; -1 at EOF or for an overlong line. */
static int
read_line(FILE *f, char *buf, size_t len)
{
	size_t n;

	if (fgets(buf, (int)len, f) == NULL)
		return -1;
	n = strlen(buf);
	if (n == 0 || buf[n - 1] != '\n')
		return -1;
	buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return 0;
}

/* The address of a "sender"/"rcpt" line, checked; NULL when invalid. */
static char *
parse_addr(const char *s, int allow_null)
{
	struct mailaddr ma;
	char path[ADDR_PATH_MAX + 8], out[ADDR_PATH_MAX + 8];
	size_t end, len;

	while (*s == ' ')
		s++;
	if (*s == '<')
		strlcpy(path, s, sizeof(path));
	else if ((size_t)snprintf(path, sizeof(path), "<%s>", s) >=
	    sizeof(path))
		return NULL;
	len = strlen(path);
	if (addr_parse_path(path, len, &end, allow_null, &ma) != ADDR_OK ||
	    end != len || addr_format(&ma, out, sizeof(out)) < 0)
		return NULL;
	return xstrdup(out);
}

/*
 * The envelope lines of a maildrop file, through the empty line that
 * ends them, leaving f at the content.  Pure parsing of what a user
 * wrote, no passwd or configuration look-ups: *sender gets the "sender"
 * line's address ("" for the null sender), or NULL when there is none.
 * Returns 0, or -1 with *why set and nothing to free.
 */
int
maildrop_parse_envelope(FILE *f, char **sender, char ***rcpt,
    uint32_t *nrcpt, const char **why)
{
	char line[MAILDROP_LINE_MAX], *given = NULL, **v = NULL;
	uint32_t n = 0, i;
	int have_sender = 0;

	*sender = NULL;
	*rcpt = NULL;
	*nrcpt = 0;
	*why = "malformed envelope";
	if (read_line(f, line, sizeof(line)) != 0 ||
	    strcmp(line, MAILDROP_MAGIC) != 0) {
		*why = "not a maildrop file";
		goto bad;
	}
	for (;;) {
		if (read_line(f, line, sizeof(line)) != 0)
			goto bad;
		if (line[0] == '\0')
			break;
		if (strncmp(line, "sender", 6) == 0 &&
		    (line[6] == ' ' || line[6] == '\0') && !have_sender) {
			have_sender = 1;
			if ((given = parse_addr(line + 6, 1)) == NULL) {
				*why = "bad sender address";
				goto bad;
			}
		} else if (strncmp(line, "rcpt ", 5) == 0 &&
		    n < MAILDROP_RCPT_MAX) {
			v = xreallocarray(v, n + 1, sizeof(*v));
			if ((v[n] = parse_addr(line + 5, 0)) == NULL) {
				*why = "bad recipient address";
				goto bad;
			}
			n++;
		} else
			goto bad;
	}
	if (n == 0) {
		*why = "no recipients";
		goto bad;
	}
	*sender = given;
	*rcpt = v;
	*nrcpt = n;
	return 0;
bad:
	free(given);
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return -1;
}

/* Read the envelope lines; NULL with *why set when malformed. */
static struct drop *
read_envelope(FILE *f, const char *name, uid_t uid, const char **why)
{
	struct drop *d = xcalloc(1, sizeof(*d));
	char *given = NULL, own[ADDR_PATH_MAX + 1];
	struct passwd *pw;

	strlcpy(d->name, name, sizeof(d->name));
	d->uid = uid;
	if (maildrop_parse_envelope(f, &given, &d->rcpt, &d->nrcpt,
	    why) != 0)
		goto bad;
	if ((pw = getpwuid(uid)) == NULL) {
		*why = "owner is no known user";
		goto bad;
	}
	if (given != NULL &&
	    config_trusted_user(queue_config(), uid, pw->pw_name)) {
		d->sender = given;
		given = NULL;
	} else if (config_local_sender(queue_config(), pw->pw_name, own,
	    sizeof(own)) == 0)
		d->sender = xstrdup(own);
	else {
		*why = "the owner's login makes no sender address";
		goto bad;
	}
	free(given);
	return d;
bad:
	free(given);
	drop_free(d);
	return NULL;
}

/* Take the next files from the loop, not from inside the store's call. */
static void
kick(void)
{
	struct timeval now = { 0, 0 };

	if (md.kick != NULL)
		evtimer_add(md.kick, &now);
}

static void
on_committed(struct qtxn *t, struct qmsg *m, int err, void *arg)
{
	struct drop *d = arg;

	md.inflight--;
	kick();
	if (m == NULL && err == EFBIG) {
		move_aside(d->name, "envelope too big");
		drop_free(d);
		return;
	}
	if (m == NULL) {
		/* The file stays and is tried again at the next tick. */
		log_warn("maildrop: %s: not queued: %s", d->name,
		    strerror(err));
		md.failed = 1;
		drop_free(d);
		return;
	}
	if (unlinkat(md.dirfd, d->name, 0) != 0) {
		log_warn("maildrop: %s: queued as %s but cannot be removed: "
		    "%s; it will not be picked up again until restart",
		    d->name, m->qid, strerror(errno));
		md.stuck = xreallocarray(md.stuck, md.nstuck + 1,
		    sizeof(*md.stuck));
		md.stuck[md.nstuck++] = xstrdup(d->name);
	}
	drop_free(d);
}

/* Stream the content into t; -1 with *why on error. */
static int
read_content(FILE *f, struct qtxn *t, const char **why)
{
	unsigned char *buf = xmalloc(QUEUE_CHUNK_MAX);
	int64_t limit = queue_config()->message_size_limit;
	uint64_t total = 0;
	size_t n;
	int rc = 0;

	while ((n = fread(buf, 1, QUEUE_CHUNK_MAX, f)) > 0) {
		total += n;
		if (limit > 0 && total > (uint64_t)limit) {
			*why = "message too big";
			rc = -1;
			break;
		}
		store_txn_chunk(t, buf, n);
	}
	if (rc == 0 && ferror(f)) {
		*why = "read error";
		rc = -1;
	}
	free(buf);
	return rc;
}

static void
pickup(const char *name)
{
	char date[64], *recv;
	struct rec_commit env;
	const char *why = "malformed";
	struct drop *d = NULL;
	struct qtxn *t;
	struct stat st;
	FILE *f = NULL;
	uint32_t i;
	int fd;

	fd = openat(md.dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	/* Gone since the listing: nothing to take. */
	if (fd < 0 && errno == ENOENT)
		return;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		why = fd < 0 ? strerror(errno) : "not a regular file";
		goto bad;
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		why = strerror(errno);
		goto bad;
	}
	fd = -1;
	if ((d = read_envelope(f, name, st.st_uid, &why)) == NULL)
		goto bad;

	t = store_txn_begin(TXN_MAILDROP);
	queue_date(time(NULL), date, sizeof(date));
	xasprintf(&recv, "Received: by %s (Bulwark, from userid %u)\r\n"
	    "\tid %s; %s\r\n", queue_config()->myhostname,
	    (unsigned)st.st_uid, t->qid, date);
	store_txn_chunk(t, recv, strlen(recv));
	free(recv);
	if (read_content(f, t, &why) != 0) {
		store_txn_abort(t);
		goto bad;
	}
	fclose(f);

	memset(&env, 0, sizeof(env));
	env.sender = xstrdup(d->sender);
	env.client_addr = xstrdup("");
	env.client_name = xstrdup("");
	env.helo = xstrdup("");
	env.local_uid = (uint32_t)st.st_uid;
	env.flags = REC_CF_MAILDROP;
	env.nrcpt = d->nrcpt;
	env.rcpt = xcalloc(d->nrcpt, sizeof(*env.rcpt));
	for (i = 0; i < d->nrcpt; i++) {
		env.rcpt[i].addr = xstrdup(d->rcpt[i]);
		env.rcpt[i].disp = REC_DISP_DELIVER;
	}
	log_info("%s: uid=%u from=<%s>", t->qid, (unsigned)st.st_uid,
	    d->sender);
	md.inflight++;
	store_txn_commit(t, &env, on_committed, d);
	return;
bad:
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (d != NULL)
		drop_free(d);
	move_aside(name, why);
}

static void
batch_clear(void)
{
	size_t i;

	for (i = 0; i < md.nbatch; i++)
		free(md.batch[i]);
	md.nbatch = md.next = 0;
}

/* List up to MAILDROP_BATCH complete files; returns how many. */
static size_t
list(void)
{
	struct dirent *de;
	DIR *dir;
	int fd;

	batch_clear();
	if ((fd = openat(md.dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0 || (dir = fdopendir(fd)) == NULL) {
		log_warn("maildrop: cannot read the directory: %s",
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (md.batch == NULL)
		md.batch = xcalloc(MAILDROP_BATCH, sizeof(*md.batch));
	while (md.nbatch < MAILDROP_BATCH && (de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' || is_stuck(de->d_name))
			continue;
		md.batch[md.nbatch++] = xstrdup(de->d_name);
	}
	closedir(dir);
	return md.nbatch;
}

static int
can_take(void)
{
	return !queue_stopping() && !store_disk_full() &&
	    sched_over_quota() == QUOTA_NONE;
}

/*
 * Take files while fewer than MAILDROP_INFLIGHT commits are out.  Once
 * the batch is used up and nothing is in flight, list again at once if
 * the last listing found files (more may have come, or it stopped at the
 * cap); the tick (listing set) always lists.
 */
static void
run(int listing)
{
	int runs;

	/* After a failed commit, wait for the tick: the disk may be bad. */
	if (md.failed && !listing)
		return;
	for (runs = 0; runs < MAILDROP_RUNS && can_take(); runs++) {
		while (md.next < md.nbatch && md.inflight < MAILDROP_INFLIGHT &&
		    can_take())
			pickup(md.batch[md.next++]);
		if (md.next < md.nbatch || md.inflight > 0)
			return;
		if (!listing && (md.nbatch == 0 || md.failed))
			return;
		listing = 0;
		if (list() == 0)
			return;
	}
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	md.failed = 0;
	run(1);
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	run(0);
}

void
maildrop_init(int dirfd)
{
	struct timeval tv = { MAILDROP_INTERVAL, 0 };

	md.dirfd = dirfd;
	md.timer = event_new(queue_base(), -1, EV_PERSIST, on_tick, NULL);
	md.kick = evtimer_new(queue_base(), on_kick, NULL);
	if (md.timer == NULL || md.kick == NULL ||
	    event_add(md.timer, &tv) != 0)
		fatal("queue: cannot start the maildrop timer");
	on_tick(-1, 0, NULL);
}

/* No new pickups; commits in flight still end in on_committed. */
void
maildrop_stop(void)
{
	if (md.timer != NULL) {
		event_free(md.timer);
		md.timer = NULL;
	}
	if (md.kick != NULL) {
		event_free(md.kick);
		md.kick = NULL;
	}
	batch_clear();
	free(md.batch);
	md.batch = NULL;
}
