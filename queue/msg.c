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
	/* Being a copy is a property of the record, not of the message. */
	m->flags = c->flags & ~REC_CF_COPY;
	m->arrival = (time_t)c->arrival;
	m->size = c->size;
	m->nrcpt = c->nrcpt;
	m->rcpt = xcalloc(c->nrcpt ? c->nrcpt : 1, sizeof(*m->rcpt));
	for (i = 0; i < c->nrcpt; i++) {
		m->rcpt[i].addr = c->rcpt[i].addr ? c->rcpt[i].addr :
		    xstrdup("");
		m->rcpt[i].disp = c->rcpt[i].disp;
		if (c->flags & REC_CF_COPY)
			qrcpt_set_state(&m->rcpt[i], &c->rcpt[i].state);
		rec_outcome_free(&c->rcpt[i].state);
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

void
qrcpt_set_state(struct qrcpt *rc, const struct rec_outcome *o)
{
	switch (o->status) {
	case REC_OUT_SENT:
		rc->state = RS_SENT;
		break;
	case REC_OUT_BOUNCED:
		rc->state = RS_BOUNCED;
		break;
	default:
		rc->state = RS_PENDING;
		rc->attempts = o->attempts;
		rc->next_try = (time_t)o->next_try;
		break;
	}
	qrcpt_set_outcome(rc, o->dsn, o->reason, o->remote, o->reply);
}

void
qrcpt_get_state(const struct qrcpt *rc, struct rec_outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->status = rc->state == RS_SENT ? REC_OUT_SENT :
	    rc->state == RS_BOUNCED ? REC_OUT_BOUNCED : REC_OUT_DEFERRED;
	o->attempts = rc->attempts;
	o->next_try = rc->next_try > 0 ? (uint64_t)rc->next_try : 0;
	o->dsn = rc->dsn;
	o->reason = rc->reason;
	o->remote = rc->remote;
	o->reply = rc->reply;
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
