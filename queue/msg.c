/* The in-memory message: construction and teardown. */
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#include "queue/msg.h"

struct qmsg *
qmsg_from_commit(uint64_t id, struct rec_commit *c)
{
	struct qmsg *m = xcalloc(1, sizeof(*m));
	uint32_t i;

	m->id = id;
	qid_format(id, m->qid);
	m->sender = c->sender ? c->sender : xstrdup("");
	m->client_addr = c->client_addr ? c->client_addr : xstrdup("");
	m->client_name = c->client_name ? c->client_name : xstrdup("");
	m->helo = c->helo ? c->helo : xstrdup("");
	m->local_uid = c->local_uid;
	m->flags = c->flags;
	m->arrival = (time_t)c->arrival;
	m->size = c->size;
	m->nrcpt = c->nrcpt;
	m->rcpt = xcalloc(c->nrcpt ? c->nrcpt : 1, sizeof(*m->rcpt));
	for (i = 0; i < c->nrcpt; i++) {
		m->rcpt[i].addr = c->rcpt[i].addr ? c->rcpt[i].addr :
		    xstrdup("");
		m->rcpt[i].disp = c->rcpt[i].disp;
	}
	free(c->rcpt);
	memset(c, 0, sizeof(*c));
	return m;
}

void
qmsg_free(struct qmsg *m)
{
	uint32_t i;

	if (m == NULL)
		return;
	free(m->sender);
	free(m->client_addr);
	free(m->client_name);
	free(m->helo);
	for (i = 0; i < m->nrcpt; i++) {
		free(m->rcpt[i].addr);
		free(m->rcpt[i].dsn);
		free(m->rcpt[i].reason);
		free(m->rcpt[i].remote);
		free(m->rcpt[i].reply);
	}
	free(m->rcpt);
	free(m->chunk);
	free(m);
}

uint32_t
qmsg_open_rcpts(const struct qmsg *m)
{
	uint32_t i, n = 0;

	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state != RS_SENT &&
		    m->rcpt[i].state != RS_BOUNCED)
			n++;
	return n;
}

void
qrcpt_set_outcome(struct qrcpt *r, const char *dsn, const char *reason,
    const char *remote, const char *reply)
{
	free(r->dsn);
	free(r->reason);
	free(r->remote);
	free(r->reply);
	r->dsn = xstrdup(dsn ? dsn : "");
	r->reason = xstrdup(reason ? reason : "");
	r->remote = r->reply = NULL;
	if (reply != NULL && *reply != '\0') {
		r->remote = xstrdup(remote != NULL ? remote : "");
		r->reply = xstrdup(reply);
	}
}
