/*
 * What became of a reload.  The master has checked the file, but a
 * child may still refuse it (the policy process loads its tables again
 * as mail_owner), so every running child answers IMSG_CONFIG with
 * IMSG_CONFIG_RESULT, and only once every answer is in, or after
 * MASTER_RELOAD_SECS, is the outcome logged and handed to whoever asked.
 * A child that refuses keeps its old configuration, one that exits first
 * gets the new one when it is restarted, and the others keep the new
 * one; the log and bulwarkctl name each one that did not follow.
 */
#include <sys/types.h>

#include <stdlib.h>

#include <event2/event.h>

#include "ipc.h"
#include "log.h"
#include "text.h"
#include "xmalloc.h"

#include "master/master.h"

struct reload {
	struct reload	*next;
	struct master	*m;
	uint64_t	 id;
	pid_t		 waiting[ROLE_COUNT];	/* pid asked, 0: answered */
	char		*errs;			/* "role: reason" lines */
	char		*logged;		/* the same, and what follows */
	struct event	*timer;
	reload_done_fn	 done;
	void		*arg;
};

struct reloads {
	struct reload	*first;
	uint64_t	 last_id;
};

/*
 * One child that did not follow: why goes to whoever asked, and the log
 * also says what configuration the child runs now (then).
 */
static void
add_error(struct reload *r, enum proc_role role, const char *why,
    const char *then)
{
	char *all;

	xasprintf(&all, "%s%s: %s\n", r->errs != NULL ? r->errs : "",
	    proc_role_name(role), why);
	free(r->errs);
	r->errs = all;
	xasprintf(&all, "%s%s: %s; %s\n", r->logged != NULL ? r->logged :
	    "", proc_role_name(role), why, then);
	free(r->logged);
	r->logged = all;
}

static void
unlink_reload(struct reload *r)
{
	struct reload **pp;

	for (pp = &r->m->reloads->first; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			return;
		}
}

/* Log the outcome once, tell the caller, forget the reload. */
static void
finish(struct reload *r)
{
	const char *logged = r->logged, *line;
	size_t len;

	unlink_reload(r);
	if (r->timer != NULL)
		event_free(r->timer);
	if (r->errs == NULL)
		log_info("reload: every process applied the configuration");
	while ((line = text_line(&logged, &len)) != NULL)
		log_warn("reload: %.*s", (int)len, line);
	if (r->done != NULL)
		r->done(r->arg, r->errs);
	free(r->errs);
	free(r->logged);
	free(r);
}

static int
still_waiting(const struct reload *r)
{
	int i;

	for (i = ROLE_SMTPD; i < ROLE_COUNT; i++)
		if (r->waiting[i] != 0)
			return 1;
	return 0;
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct reload *r = arg;
	char why[64];
	int i;

	snprintf(why, sizeof(why), "no answer within %d seconds",
	    MASTER_RELOAD_SECS);
	for (i = ROLE_SMTPD; i < ROLE_COUNT; i++)
		if (r->waiting[i] != 0)
			add_error(r, (enum proc_role)i, why,
			    "it may still run the old configuration");
	finish(r);
}

void
reload_push(struct master *m, reload_done_fn done, void *arg)
{
	struct timeval tv = { MASTER_RELOAD_SECS, 0 };
	struct reload *r;
	struct proc *p;
	int i;

	if (m->reloads == NULL)
		m->reloads = xcalloc(1, sizeof(*m->reloads));
	r = xcalloc(1, sizeof(*r));
	r->m = m;
	r->id = ++m->reloads->last_id;
	r->done = done;
	r->arg = arg;
	r->next = m->reloads->first;
	m->reloads->first = r;

	for (i = ROLE_SMTPD; i < ROLE_COUNT; i++) {
		p = &m->procs[i];
		if (p->pid == 0 || p->chan == NULL)
			continue;	/* a restart gets the new one anyway */
		r->waiting[i] = p->pid;
		proc_send_config(m, p, r->id);
	}
	if (!still_waiting(r)) {
		finish(r);
		return;
	}
	if ((r->timer = evtimer_new(m->base, on_timeout, r)) == NULL ||
	    evtimer_add(r->timer, &tv) != 0)
		fatal("reload: cannot arm the timer");
}

static struct reload *
find(struct master *m, uint64_t id)
{
	struct reload *r;

	if (m->reloads == NULL)
		return NULL;
	for (r = m->reloads->first; r != NULL; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

void
reload_answer(struct master *m, struct proc *p, struct ipc_reader *rd)
{
	struct reload *r;
	uint32_t ok;
	char *why;

	ok = ipc_get_u32(rd);
	why = ipc_get_str(rd);
	ipc_get_end(rd);
	/* An answer after the timeout, or to the first config: ignored. */
	if ((r = find(m, rd->hdr->id)) != NULL &&
	    r->waiting[p->role] == p->pid) {
		r->waiting[p->role] = 0;
		if (!ok)
			add_error(r, p->role, why[0] != '\0' ? why :
			    "refused the configuration",
			    "it keeps its old configuration");
		if (!still_waiting(r))
			finish(r);
	}
	free(why);
}

void
reload_proc_gone(struct master *m, struct proc *p, pid_t pid)
{
	struct reload *r, *next;

	if (m->reloads == NULL)
		return;
	for (r = m->reloads->first; r != NULL; r = next) {
		next = r->next;
		if (r->waiting[p->role] != pid)
			continue;
		r->waiting[p->role] = 0;
		add_error(r, p->role, "exited before it answered",
		    "a restart gets the new configuration");
		if (!still_waiting(r))
			finish(r);
	}
}
