/*
 * The mailq listing: on each connection to the showq socket the queue
 * writes the listing in Postfix's mailq layout and closes.  The client
 * sends nothing; every connection gets a fresh snapshot.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "xmalloc.h"

#include "queue/queue.h"

#define SHOWQ_TIMEOUT	30		/* seconds to take the listing */
#define SHOWQ_MAX_CONN	16		/* listings being written at once */
#define SHOWQ_INDENT	41		/* Postfix's recipient column */
#define SHOWQ_REASON_END 76		/* where a reason line's text ends */

static struct {
	struct event	*ev;
	int		 fd;
	int		 nconn;
} sq = { NULL, -1, 0 };

static void
add_str(struct rec_buf *b, const char *s)
{
	rec_buf_add(b, s, strlen(s));
}

/* Addresses as mailq shows them: printable, '?' for anything else. */
static void
add_addr(struct rec_buf *b, const char *s)
{
	for (; *s != '\0'; s++)
		rec_buf_u8(b, (*s >= 0x20 && *s < 0x7f) ? (uint8_t)*s : '?');
}

static void
add_indent(struct rec_buf *b, int n)
{
	while (n-- > 0)
		rec_buf_u8(b, ' ');
}

/*
 * Still to deliver.  A recipient that failed for good is done as far as
 * mailq goes, even while its bounce waits to be committed; Postfix, too,
 * lists only what it will still try.
 */
static int
rcpt_listed(const struct qrcpt *rc)
{
	return rc->state == RS_PENDING;
}

/* Why the last attempt was deferred; "" when none was made yet. */
static const char *
rcpt_reason(const struct qrcpt *rc)
{
	if (rc->attempts == 0 || rc->reason == NULL)
		return "";
	return rc->reason;
}

/*
 * A recipient under its reason.  As Postfix does, a reason line comes
 * whenever the reason differs from the one above, right-aligned to
 * column 78 (or from column 0 when it is longer), and "(reason
 * unavailable)" stands for no reason after recipients that had one.
 */
static void
format_rcpt(struct rec_buf *b, const struct qrcpt *rc, const char **last)
{
	const char *why = rcpt_reason(rc);
	const char *show = why[0] != '\0' ? why : "reason unavailable";
	int pad;

	if (strcmp(*last, why) != 0) {
		pad = SHOWQ_REASON_END - (int)strlen(show);
		add_indent(b, pad < 0 ? 0 : pad);
		add_str(b, "(");
		add_addr(b, show);
		add_str(b, ")\n");
		*last = why;
	}
	add_indent(b, SHOWQ_INDENT);
	add_addr(b, rc->addr);
	add_str(b, "\n");
}

/*
 * One message: its line, then the deferred recipients with their
 * reasons and after them those not tried yet, in Postfix's layout for
 * short queue ids (ours are two characters longer, which moves the
 * sender, not the recipients).
 */
static void
format_msg(struct rec_buf *b, const struct qmsg *m)
{
	char line[128], when[32], id[QID_LEN + 2];
	const char *last = "";
	uint32_t i;
	int tried;
	struct tm tm;

	if (localtime_r(&m->arrival, &tm) == NULL ||
	    strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm) == 0)
		strlcpy(when, "??", sizeof(when));
	snprintf(id, sizeof(id), "%s%c", m->qid, m->jobs > 0 ? '*' : ' ');
	snprintf(line, sizeof(line), "%-11s %7" PRIu64 " %-20.20s ", id,
	    m->size, when);
	add_str(b, line);
	add_addr(b, m->sender[0] != '\0' ? m->sender : "MAILER-DAEMON");
	add_str(b, "\n");
	for (tried = 1; tried >= 0; tried--) {
		for (i = 0; i < m->nrcpt; i++) {
			if (rcpt_listed(&m->rcpt[i]) &&
			    (rcpt_reason(&m->rcpt[i])[0] != '\0') == tried)
				format_rcpt(b, &m->rcpt[i], &last);
		}
	}
}

void
showq_format(struct rec_buf *b, time_t now)
{
	const struct qmsg *m;
	uint64_t bytes = 0;
	size_t n = 0;
	char line[128];

	TAILQ_FOREACH(m, sched_messages(), all) {
		if (n == 0)
			add_str(b, "-Queue ID-  --Size-- ----Arrival Time---- "
			    "-Sender/Recipient-------\n");
		else
			add_str(b, "\n");
		format_msg(b, m);
		bytes += m->size;
		n++;
	}
	if (n == 0) {
		add_str(b, "Mail queue is empty\n");
		return;
	}
	snprintf(line, sizeof(line), "\n-- %" PRIu64 " Kbytes in %zu "
	    "Request%s.\n", bytes / 1024, n, n == 1 ? "" : "s");
	add_str(b, line);
}

static void
conn_close(struct bufferevent *bev)
{
	bufferevent_free(bev);
	sq.nconn--;
}

static void
on_written(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_close(bev);
}

static void
on_conn_event(struct bufferevent *bev, short what, void *arg)
{
	conn_close(bev);
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct timeval tv = { SHOWQ_TIMEOUT, 0 };
	struct rec_buf b = { 0 };
	struct bufferevent *bev;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("queue: showq accept: %s", strerror(errno));
		return;
	}
	if (sq.nconn >= SHOWQ_MAX_CONN) {
		close(fd);
		return;
	}
	bev = bufferevent_socket_new(queue_base(), fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	sq.nconn++;
	showq_format(&b, time(NULL));
	if (evbuffer_add(bufferevent_get_output(bev), b.p, b.len) != 0) {
		rec_buf_free(&b);
		conn_close(bev);
		return;
	}
	rec_buf_free(&b);
	bufferevent_setcb(bev, NULL, on_written, on_conn_event, NULL);
	bufferevent_set_timeouts(bev, NULL, &tv);
	bufferevent_enable(bev, EV_WRITE);
}

void
showq_listen(int fd)
{
	showq_stop();
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
		fatalx_errno("queue: showq socket");
	sq.fd = fd;
	sq.ev = event_new(queue_base(), fd, EV_READ | EV_PERSIST, on_accept,
	    NULL);
	if (sq.ev == NULL || event_add(sq.ev, NULL) != 0)
		fatal("queue: cannot watch the showq socket");
}

void
showq_stop(void)
{
	if (sq.ev != NULL) {
		event_free(sq.ev);
		sq.ev = NULL;
	}
	if (sq.fd >= 0) {
		close(sq.fd);
		sq.fd = -1;
	}
}
