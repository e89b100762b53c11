/*
 * Bounces: RFC 3464 delivery status notifications to the envelope sender.
 *
 * The notification is committed as a new message (null sender, from
 * MAILER-DAEMON) and only once that commit is durable are the failed
 * recipients marked bounced: a crash in between repeats the attempt and
 * perhaps the notification, but never loses it.  Mail with a null sender
 * (notifications themselves) never gets one.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "header.h"
#include "ipc.h"
#include "log.h"
#include "xmalloc.h"

#include "queue/queue.h"

#define BOUNCE_HEADERS_MAX	(64 * 1024)	/* original headers kept */
#define BOUNCE_TEXT_MAX		900		/* of a diagnostic */
#define BOUNCE_ADDR_MAX		512

/* What a bounce commit has to finish. */
struct bounce {
	struct qmsg	*m;
	uint32_t	*rcpts;
	size_t		 n;
};

static void
add_str(struct rec_buf *b, const char *s)
{
	rec_buf_add(b, s, strlen(s));
}

static void
add_fmt(struct rec_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
add_fmt(struct rec_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("queue: out of memory");
	rec_buf_add(b, s, (size_t)n);
	free(s);
}

/* Printable ASCII only, bounded: diagnostics come from remote servers. */
static void
clean_text(const char *in, char *out, size_t outlen)
{
	size_t i = 0;

	for (; in != NULL && *in != '\0' && i + 1 < outlen &&
	    i < BOUNCE_TEXT_MAX; in++) {
		unsigned char c = (unsigned char)*in;

		out[i++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
	}
	out[i] = '\0';
}

/* A status code "c.sss.ddd" as RFC 3463 writes it, or the fallback. */
static const char *
status_code(const char *dsn)
{
	const char *p = dsn;
	int parts = 0, digits = 0;

	if (dsn == NULL || (dsn[0] != '2' && dsn[0] != '4' && dsn[0] != '5'))
		return "5.0.0";
	for (; *p != '\0'; p++) {
		if (isdigit((unsigned char)*p))
			digits++;
		else if (*p == '.' && digits > 0 && digits <= 3) {
			parts++;
			digits = 0;
		} else
			return "5.0.0";
	}
	if (parts != 2 || digits == 0 || digits > 3)
		return "5.0.0";
	return dsn[0] == '2' ? "5.0.0" : dsn;
}

/* "[192.0.2.1]:25" without the port, for Remote-MTA. */
static void
remote_host(const char *relay, char *out, size_t outlen)
{
	char *cut;

	clean_text(relay, out, outlen);
	if (out[0] == '[' && (cut = strstr(out, "]:")) != NULL)
		cut[1] = '\0';
}

/*
 * A deferral that ran out of time: the status says so (RFC 3463 X.4.7,
 * a persistent transient failure), the text keeps the last attempt's.
 */
static int
expired(const struct qrcpt *rc)
{
	return rc->dsn != NULL && rc->dsn[0] == '4';
}

/*
 * The header section of m, bounded: fields and their continuation lines
 * up to the empty line, or up to the first line that is not part of a
 * field (a message without the empty line), so that no body text ever
 * goes back in the headers part.
 */
static void
original_headers(const struct qmsg *m, struct rec_buf *out)
{
	const unsigned char *p, *nl;
	size_t len, take, pos, keep = 0;
	uint32_t i;

	for (i = 0; i < m->nchunk && out->len < BOUNCE_HEADERS_MAX; i++) {
		if (store_read_chunk(m, i, &p, &len) != 0)
			break;
		take = len;
		if (out->len + take > BOUNCE_HEADERS_MAX)
			take = BOUNCE_HEADERS_MAX - out->len;
		rec_buf_add(out, p, take);
		if (memmem(out->p, out->len, "\r\n\r\n", 4) != NULL ||
		    (out->len >= 2 && out->p[0] == '\r' && out->p[1] == '\n'))
			break;
	}
	/* Whole lines only, each a field or the continuation of one. */
	for (pos = 0; pos < out->len; pos = (size_t)(nl - out->p) + 1) {
		nl = memchr(out->p + pos, '\n', out->len - pos);
		if (nl == NULL)
			break;
		p = out->p + pos;
		len = (size_t)(nl - p) + 1;
		if (header_name_len((const char *)p, len) != 0 ||
		    (keep > 0 && (p[0] == ' ' || p[0] == '\t')))
			keep = pos + len;
		else
			break;
	}
	out->len = keep;
}

int
bounce_build(const struct qmsg *m, const uint32_t *rcpts, size_t n,
    const char *bqid, time_t now, struct rec_buf *b)
{
	const char *host = queue_config()->myhostname;
	char date[64], arrival[64], text[BOUNCE_TEXT_MAX + 1];
	char mta[BOUNCE_ADDR_MAX];
	char addr[BOUNCE_ADDR_MAX];
	struct rec_buf hdrs = { 0 };
	const struct qrcpt *rc;
	size_t k;

	queue_date(now, date, sizeof(date));
	queue_date(m->arrival, arrival, sizeof(arrival));
	clean_text(m->sender, addr, sizeof(addr));
	add_fmt(b, "From: MAILER-DAEMON@%s (Bulwark at %s)\r\n", host, host);
	add_fmt(b, "To: <%s>\r\n", addr);
	add_str(b, "Subject: Delivery failed: your message was not "
	    "delivered\r\n");
	add_fmt(b, "Date: %s\r\n", date);
	add_fmt(b, "Message-ID: <%s.%lld@%s>\r\n", bqid, (long long)now, host);
	add_str(b, "Auto-Submitted: auto-replied\r\n");
	add_str(b, "MIME-Version: 1.0\r\n");
	add_fmt(b, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s/%s\"\r\n",
	    bqid, host);
	add_str(b, "Content-Transfer-Encoding: 8bit\r\n\r\n");
	add_str(b, "A delivery status report in MIME format "
	    "(RFC 3464).\r\n\r\n");

	add_fmt(b, "--%s/%s\r\n", bqid, host);
	add_str(b, "Content-Description: Explanation\r\n");
	add_str(b, "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	add_fmt(b, "Bulwark on %s gave up delivering your message to "
	    "the\r\nrecipients below; it will not try again. The "
	    "message's\r\nheaders follow this report.\r\n\r\n", host);
	add_fmt(b, "Received: %s\r\nQueue id: %s\r\n\r\n", arrival,
	    m->qid);
	for (k = 0; k < n; k++) {
		rc = &m->rcpt[rcpts[k]];
		clean_text(rc->addr, addr, sizeof(addr));
		clean_text(rc->reason, text, sizeof(text));
		add_fmt(b, "<%s>: %s%s\r\n\r\n", addr, expired(rc) ?
		    "too long in the queue; the last attempt: " : "", text);
	}

	add_fmt(b, "--%s/%s\r\n", bqid, host);
	add_str(b, "Content-Description: Delivery report\r\n");
	add_str(b, "Content-Type: message/delivery-status\r\n\r\n");
	add_fmt(b, "Reporting-MTA: dns; %s\r\n", host);
	add_fmt(b, "X-Bulwark-Queue-ID: %s\r\n", m->qid);
	add_fmt(b, "Arrival-Date: %s\r\n", arrival);
	for (k = 0; k < n; k++) {
		rc = &m->rcpt[rcpts[k]];
		clean_text(rc->addr, addr, sizeof(addr));
		clean_text(rc->reason, text, sizeof(text));
		add_fmt(b, "\r\nFinal-Recipient: rfc822; %s\r\n", addr);
		add_str(b, "Action: failed\r\n");
		add_fmt(b, "Status: %s\r\n", expired(rc) ? "4.4.7" :
		    status_code(rc->dsn));
		/* "smtp" is for a server's reply only (RFC 3464 2.3.6). */
		if (rc->reply != NULL) {
			remote_host(rc->remote, mta, sizeof(mta));
			clean_text(rc->reply, text, sizeof(text));
			add_fmt(b, "Remote-MTA: dns; %s\r\n", mta);
			add_fmt(b, "Diagnostic-Code: smtp; %s\r\n", text);
		} else
			add_fmt(b, "Diagnostic-Code: X-Bulwark; %s\r\n", text);
	}
	add_str(b, "\r\n");

	add_fmt(b, "--%s/%s\r\n", bqid, host);
	add_str(b, "Content-Description: Headers of the message\r\n");
	add_str(b, "Content-Type: text/rfc822-headers\r\n\r\n");
	original_headers(m, &hdrs);
	rec_buf_add(b, hdrs.p, hdrs.len);
	rec_buf_free(&hdrs);
	add_fmt(b, "\r\n--%s/%s--\r\n", bqid, host);
	return 0;
}

/* The notification is durable (m != NULL) or failed. */
static void
bounce_done(struct qtxn *t, struct qmsg *nm, int err, void *arg)
{
	struct bounce *bc = arg;
	struct qmsg *m = bc->m;
	struct qrcpt *rc;
	size_t k;

	m->bounces--;
	for (k = 0; k < bc->n; k++) {
		rc = &m->rcpt[bc->rcpts[k]];
		rc->in_bounce = 0;
		if (nm != NULL) {
			rc->state = RS_BOUNCED;
			store_outcome(m, bc->rcpts[k]);
		} else
			rc->next_try = time(NULL) +
			    queue_config()->minimal_backoff;
	}
	if (nm != NULL)
		log_info("%s: sender non-delivery notification: %s", m->qid,
		    nm->qid);
	else
		log_warn("%s: sender non-delivery notification not queued: "
		    "%s", m->qid, strerror(err));
	free(bc->rcpts);
	free(bc);
	sched_update(m);
}

/* No one to tell: the recipients are bounced at once. */
static void
bounce_to_nobody(struct qmsg *m, const uint32_t *rcpts, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++) {
		m->rcpt[rcpts[k]].state = RS_BOUNCED;
		store_outcome(m, rcpts[k]);
	}
	log_info("%s: null sender: no delivery status notification", m->qid);
}

void
bounce_start(struct qmsg *m)
{
	struct rec_buf content = { 0 };
	struct rec_commit env;
	struct bounce *bc;
	struct qtxn *t;
	time_t now = time(NULL);
	uint32_t i;

	bc = xcalloc(1, sizeof(*bc));
	bc->rcpts = xcalloc(m->nrcpt, sizeof(*bc->rcpts));
	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == RS_BOUNCING && !m->rcpt[i].in_bounce &&
		    m->rcpt[i].next_try <= now)
			bc->rcpts[bc->n++] = i;
	if (bc->n == 0 || m->sender[0] == '\0' || store_disk_full()) {
		if (bc->n > 0 && m->sender[0] == '\0')
			bounce_to_nobody(m, bc->rcpts, bc->n);
		else
			for (i = 0; i < bc->n; i++)
				m->rcpt[bc->rcpts[i]].next_try = now +
				    queue_config()->minimal_backoff;
		free(bc->rcpts);
		free(bc);
		return;
	}
	bc->m = m;

	t = store_txn_begin(TXN_BOUNCE);
	bounce_build(m, bc->rcpts, bc->n, t->qid, now, &content);
	store_txn_chunk(t, content.p, content.len);
	rec_buf_free(&content);

	memset(&env, 0, sizeof(env));
	env.sender = xstrdup("");
	env.client_addr = xstrdup("");
	env.client_name = xstrdup("");
	env.helo = xstrdup(queue_config()->myhostname);
	env.local_uid = IPC_UID_NONE;
	env.flags = REC_CF_BOUNCE;
	env.arrival = (uint64_t)now;
	env.nrcpt = 1;
	env.rcpt = xcalloc(1, sizeof(*env.rcpt));
	env.rcpt[0].addr = xstrdup(m->sender);
	env.rcpt[0].disp = REC_DISP_DELIVER;

	for (i = 0; i < bc->n; i++)
		m->rcpt[bc->rcpts[i]].in_bounce = 1;
	m->bounces++;
	store_txn_commit(t, &env, bounce_done, bc);
}
