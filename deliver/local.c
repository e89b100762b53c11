/*
 * The local delivery agent.  It stays root, because each delivery must
 * run as the owner of the mailbox, and it trusts nothing the queue says
 * about where mail goes: every recipient is resolved here, from its local
 * part, to mailboxes (local_alias.c).  Each mailbox is written by a child
 * that drops to the mailbox owner's gid and uid and reports through a
 * pipe; the parent reaps children on SIGCHLD through the event loop, so
 * one slow mailbox never holds up another job.  Recipients of one job are
 * delivered one after the other; jobs run side by side.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "aliases.h"
#include "deliver.h"
#include "local.h"
#include "log.h"
#include "xmalloc.h"

#define LOCAL_CHILD_SECS	600	/* a delivery child is killed after */

/* The local agent's state of one job. */
struct ljob {
	struct djob		*job;
	uint32_t		 cur;		/* recipient in hand */
	int			 active;	/* plan holds its mailboxes */
	struct rcpt_plan	 plan;
	size_t			 next_mb;	/* next mailbox of the plan */
	/* the first failure among the recipient's mailboxes */
	int			 failed;
	char			 dsn[8];
	char			 text[256];
	/* the child delivering to plan.mb[next_mb] */
	pid_t			 pid;
	int			 pipefd;
	struct event		*timer;
	int			 timed_out;
};

static struct agent	 agent;
static uint64_t		 delivery_seq;	/* the Q<n> of unique names */

static void	advance(struct djob *);

/* Close every descriptor but the two the child needs. */
static void
close_others(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo > 3)
		close_range(3, (unsigned)lo - 1, 0);
	if (hi > lo + 1)
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
	close_range((unsigned)hi + 1, ~0U, 0);
}

/* Become the mailbox owner for good: groups, gid, uid, then check. */
static int
become(uid_t uid, gid_t gid)
{
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		return -1;
	if (getuid() != uid || geteuid() != uid || getegid() != gid)
		return -1;
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1))
		return -1;
	return 0;
}

static void __attribute__((noreturn))
child_run(const struct djob *job, const struct mailbox *mb, int wfd,
    uint64_t seq)
{
	const struct config *cfg = agent.cfg;
	struct maildir_result res;
	struct maildir_job mj;
	char vdir[sizeof(mb->maildir)];
	char *slash;
	int rv = -1;
	ssize_t n;

	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	close_others(job->fd, wfd);
	memset(&res, 0, sizeof(res));

	memset(&mj, 0, sizeof(mj));
	mj.maildir = mb->maildir;
	mj.host = cfg->myhostname;
	mj.sender = job->sender;
	mj.rcpt = job->rcpt[((const struct ljob *)job->priv)->cur].addr;
	mj.fd = job->fd;
	mj.len = job->len;
	mj.seq = seq;
	mj.now = time(NULL);
	/* A virtual mailbox lives in <mailbox_base>/<name>/Maildir. */
	if (cfg->mailbox_base != NULL && cfg->mailbox_base[0] != '\0') {
		strlcpy(vdir, mb->maildir, sizeof(vdir));
		if ((slash = strrchr(vdir, '/')) != NULL && slash != vdir) {
			*slash = '\0';
			mj.vdir = vdir;
		}
	}

	if (geteuid() == 0 && become(mb->uid, mb->gid) == -1) {
		res.step = MD_STEP_PRIV;
		res.err = errno != 0 ? errno : EPERM;
	} else {
		umask(077);
		rv = maildir_deliver(&mj, &res);
	}
	do
		n = write(wfd, &res, sizeof(res));
	while (n == -1 && errno == EINTR);
	_exit(rv == 0 && n == (ssize_t)sizeof(res) ? 0 : 1);
}

static void
child_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct ljob *lj = arg;

	if (lj->pid > 0) {
		lj->timed_out = 1;
		kill(lj->pid, SIGKILL);
	}
}

/* Note the first failure of the recipient in hand. */
static void
note_failure(struct ljob *lj, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
note_failure(struct ljob *lj, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	if (lj->failed)
		return;
	lj->failed = 1;
	strlcpy(lj->dsn, dsn, sizeof(lj->dsn));
	va_start(ap, fmt);
	vsnprintf(lj->text, sizeof(lj->text), fmt, ap);
	va_end(ap);
}

/* Fork the child for plan.mb[next_mb]; -1 when that failed (noted). */
static int
spawn(struct djob *job)
{
	struct ljob *lj = job->priv;
	struct timeval tv = { LOCAL_CHILD_SECS, 0 };
	uint64_t seq = ++delivery_seq;
	int pfd[2];
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) == -1) {
		note_failure(lj, "4.3.0", "cannot create a pipe: %s",
		    strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		note_failure(lj, "4.3.0", "cannot fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		close(pfd[0]);
		child_run(job, &lj->plan.mb[lj->next_mb], pfd[1], seq);
	}
	close(pfd[1]);
	lj->pid = pid;
	lj->pipefd = pfd[0];
	lj->timed_out = 0;
	evtimer_add(lj->timer, &tv);
	return 0;
}

/* Report the recipient in hand from the outcomes of its mailboxes. */
static void
finish_rcpt(struct djob *job)
{
	struct ljob *lj = job->priv;
	enum deliver_status st = DSTATUS_SENT;

	if (lj->failed)
		st = lj->dsn[0] == '5' ? DSTATUS_BOUNCE : DSTATUS_DEFER;
	job_report(job, lj->cur, st, lj->failed ? lj->dsn : "2.0.0", "local",
	    lj->failed ? lj->text : lj->plan.via_alias ?
	    "delivered to maildir via alias" : "delivered to maildir", NULL);
	local_plan_free(&lj->plan);
	lj->active = 0;
	lj->cur++;
}

static void
ljob_free(struct djob *job)
{
	struct ljob *lj = job->priv;

	if (lj == NULL)
		return;
	if (lj->pipefd != -1)
		close(lj->pipefd);
	event_free(lj->timer);
	local_plan_free(&lj->plan);
	free(lj);
	job->priv = NULL;
}

/*
 * The alias database to use, or NULL when there is none.  One that is
 * named but not built yet is used all the same: the walk reports it, so
 * the mail waits rather than going to a mailbox named like an alias.
 */
static const char *
alias_db(char *out, size_t outlen)
{
	const char *maps = agent.cfg->alias_maps;

	if (maps == NULL || maps[0] == '\0')
		return NULL;
	if (aliases_db_path(maps, out, outlen) == -1)
		return NULL;	/* the config parser refuses other types */
	return out;
}

/* Start the next recipient that resolves; 0 when a plan is active. */
static int
next_rcpt(struct djob *job)
{
	struct ljob *lj = job->priv;
	char db[4096];
	struct rcpt_plan *p = &lj->plan;

	for (; lj->cur < job->nrcpt; lj->cur++) {
		if (job->rcpt[lj->cur].reported)
			continue;
		if (local_resolve(agent.cfg, alias_db(db, sizeof(db)),
		    job->rcpt[lj->cur].addr, p) == -1) {
			job_report(job, lj->cur, p->status, p->dsn, "local",
			    p->text, NULL);
			continue;
		}
		lj->active = 1;
		lj->next_mb = 0;
		lj->failed = 0;
		return 0;
	}
	return -1;
}

/*
 * Move the job on until a child is running or every recipient is
 * reported.  Loops rather than recursing, so a long list of unknown
 * recipients costs no stack.
 */
static void
advance(struct djob *job)
{
	struct ljob *lj = job->priv;

	for (;;) {
		if (!lj->active && next_rcpt(job) == -1) {
			ljob_free(job);
			job_done(job);
			return;
		}
		if (lj->next_mb < lj->plan.nmb) {
			if (spawn(job) == 0)
				return;
			lj->next_mb++;
			continue;
		}
		finish_rcpt(job);
	}
}

static void
local_start(struct djob *job)
{
	struct ljob *lj;
	char probe[1024];

	lj = xcalloc(1, sizeof(*lj));
	lj->job = job;
	lj->pid = -1;
	lj->pipefd = -1;
	lj->timer = evtimer_new(agent.base, child_timeout, lj);
	job->priv = lj;
	/* A sender that cannot go into Return-Path: fails every recipient. */
	if (maildir_trace(probe, sizeof(probe), job->sender, "") == -1) {
		job_report_rest(job, DSTATUS_BOUNCE, "5.1.7", "local",
		    "bad sender address syntax", NULL);
		ljob_free(job);
		job_done(job);
		return;
	}
	advance(job);
}

static void
local_abandon(struct djob *job, int hard)
{
	struct ljob *lj = job->priv;

	/* On a lost channel a running child may finish; it is reaped. */
	if (lj != NULL && lj->pid > 0) {
		if (!hard)
			return;
		kill(lj->pid, SIGKILL);
	}
	ljob_free(job);
	job_free(job);
}

/* What the child's result means for the recipient in hand. */
static void
child_outcome(struct ljob *lj, int status, const struct maildir_result *res,
    int got)
{
	const char *dsn;

	if (lj->timed_out) {
		note_failure(lj, "4.3.0", "maildir delivery timed out after "
		    "%d seconds", LOCAL_CHILD_SECS);
		return;
	}
	if (WIFSIGNALED(status)) {
		note_failure(lj, "4.3.0", "delivery process killed by "
		    "signal %d", WTERMSIG(status));
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && got &&
	    res->err == 0)
		return;
	if (!got || res->err == 0) {
		note_failure(lj, "4.3.0", "delivery process failed "
		    "without a reason");
		return;
	}
	dsn = res->err == ENOSPC || res->err == EDQUOT ? "4.2.2" : "4.3.0";
	note_failure(lj, dsn, "%s: %s", maildir_step_text(res->step),
	    strerror(res->err));
}

static void
child_done(struct djob *job, int status)
{
	struct ljob *lj = job->priv;
	struct maildir_result res;
	ssize_t n;

	memset(&res, 0, sizeof(res));
	do
		n = read(lj->pipefd, &res, sizeof(res));
	while (n == -1 && errno == EINTR);
	close(lj->pipefd);
	lj->pipefd = -1;
	lj->pid = -1;
	evtimer_del(lj->timer);

	if (job->abandoned) {
		ljob_free(job);
		job_free(job);
		return;
	}
	child_outcome(lj, status, &res, n == (ssize_t)sizeof(res));
	lj->next_mb++;
	advance(job);
}

/* SIGCHLD, through the event loop: reap every child that ended. */
static void
reap(evutil_socket_t sig, short ev, void *arg)
{
	struct djob *job, *found;
	struct ljob *lj;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		found = NULL;
		TAILQ_FOREACH(job, &agent.jobs, entry) {
			lj = job->priv;
			if (job->started && lj != NULL && lj->pid == pid) {
				found = job;
				break;
			}
		}
		if (found != NULL)
			child_done(found, status);
	}
}

static const struct agent_ops local_ops = {
	local_start,
	local_abandon,
};

void
local_main(const struct child_env *env, struct config *cfg)
{
	struct event_base *base;
	struct event *sigchld;

	/* No priv_drop: each delivery child becomes the mailbox owner. */
	if ((base = event_base_new()) == NULL)
		fatal("local: cannot create the event loop");
	agent_init(&agent, base, env, cfg, "local", "local", &local_ops);
	sigchld = evsignal_new(base, SIGCHLD, reap, NULL);
	if (sigchld == NULL || event_add(sigchld, NULL) == -1)
		fatal("local: cannot watch SIGCHLD");
	agent_run(&agent);
}
