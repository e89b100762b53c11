/*
 * The mailq listing (queue/showq.c) in Postfix's layout: the message
 * line, deferred recipients under their reason lines (right-aligned to
 * column 78, from column 0 when too long), recipients not tried yet
 * after them under "(reason unavailable)", recipients at column 41, and
 * nothing for recipients that are delivered or failed for good.  The
 * scheduler's message list is replaced by the test's own.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unit.h"

#include "queue/msg.h"
#include "queue/queue.h"

#define HEADING	"-Queue ID-  --Size-- ----Arrival Time---- " \
		"-Sender/Recipient-------\n"
#define RCPT	"                                         "	/* 41 */

static struct qmsglist msgs = TAILQ_HEAD_INITIALIZER(msgs);

/* Stand-ins for the queue process, which this test does not link. */
struct qmsglist *
sched_messages(void)
{
	return &msgs;
}

struct event_base *
queue_base(void)
{
	return NULL;
}

static void
rcpt_set(struct qrcpt *rc, const char *addr, int state, uint32_t attempts,
    char *reason)
{
	memset(rc, 0, sizeof(*rc));
	rc->addr = (char *)addr;
	rc->state = (uint8_t)state;
	rc->attempts = attempts;
	rc->reason = reason;
}

/* The listing as a string (freed by the caller). */
static char *
listing(void)
{
	struct rec_buf b = { 0 };
	char *s;

	showq_format(&b, time(NULL));
	s = malloc(b.len + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	memcpy(s, b.p, b.len);
	s[b.len] = '\0';
	rec_buf_free(&b);
	return s;
}

static void
test_empty(void)
{
	char *s = listing();

	CU_ASSERT_STRING_EQUAL(s, "Mail queue is empty\n");
	free(s);
}

static void
test_states(void)
{
	static char refused[] = "connect to 127.0.0.1[127.0.0.1]:2526: "
	    "Connection refused";
	static char refused2[] = "connect to 127.0.0.1[127.0.0.1]:2526: "
	    "Connection refused";
	static char unknown[] = "host said: 550 5.1.1 no such user";
	static char sent[] = "delivered to maildir";
	static char busy[] = "host said: 451 4.3.0 this reason is long, "
	    "longer than fits on the line to its right";
	struct qrcpt rc[7];
	struct qmsg m;
	char *s;

	memset(&m, 0, sizeof(m));
	strlcpy(m.qid, "2KYBJ5TYMC00", sizeof(m.qid));
	m.sender = "sender@example.org";
	m.arrival = 0;
	m.size = 1234;
	m.jobs = 1;
	rcpt_set(&rc[0], "fresh@example.test", RS_PENDING, 0, NULL);
	rcpt_set(&rc[1], "a@remote.example", RS_PENDING, 2, refused);
	rcpt_set(&rc[2], "done@example.test", RS_SENT, 0, sent);
	rcpt_set(&rc[3], "gone@remote.example", RS_BOUNCING, 0, unknown);
	rcpt_set(&rc[4], "b@remote.example", RS_PENDING, 1, refused2);
	rcpt_set(&rc[5], "c@remote.example", RS_PENDING, 3, busy);
	rcpt_set(&rc[6], "bounced@remote.example", RS_BOUNCED, 1, unknown);
	m.rcpt = rc;
	m.nrcpt = 7;
	TAILQ_INSERT_TAIL(&msgs, &m, all);

	s = listing();
	CU_ASSERT_STRING_EQUAL(s, HEADING
	    "2KYBJ5TYMC00*    1234 Thu Jan  1 00:00:00  sender@example.org\n"
	    "                    (connect to 127.0.0.1[127.0.0.1]:2526: "
	    "Connection refused)\n"
	    RCPT "a@remote.example\n"
	    RCPT "b@remote.example\n"
	    "(host said: 451 4.3.0 this reason is long, longer than fits on "
	    "the line to its right)\n"
	    RCPT "c@remote.example\n"
	    "                                                          "
	    "(reason unavailable)\n"
	    RCPT "fresh@example.test\n"
	    "\n-- 1 Kbytes in 1 Request.\n");
	free(s);

	/* Never tried at all: no reason line; the null sender by name. */
	m.sender = "";
	m.jobs = 0;
	m.nrcpt = 1;
	s = listing();
	CU_ASSERT_STRING_EQUAL(s, HEADING
	    "2KYBJ5TYMC00     1234 Thu Jan  1 00:00:00  MAILER-DAEMON\n"
	    RCPT "fresh@example.test\n"
	    "\n-- 1 Kbytes in 1 Request.\n");
	free(s);
	TAILQ_REMOVE(&msgs, &m, all);
}

static CU_TestInfo tests[] = {
	{ "empty queue", test_empty },
	{ "recipients in different states", test_states },
	CU_TEST_INFO_NULL
};

int
main(void)
{
	/* Arrival times print in local time: make it known. */
	setenv("TZ", "UTC", 1);
	tzset();
	return unit_run("showq", tests);
}
