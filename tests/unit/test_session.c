/*
 * smtpd sessions (smtpd/session.c) on one event base, the test playing
 * the client on a socket pair and the queue and policy processes on
 * their channels: the command line limit, replies at the end of data
 * in the count of errors in a row, a queue lost during DATA, what the
 * queue hears when a session waiting for its go-ahead goes away, and a
 * client over connection_limit.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "unit.h"

#include "util/config.h"
#include "util/ipc.h"
#include "util/log.h"
#include "smtpd/command.h"
#include "smtpd/admission.h"
#include "smtpd/smtpd.h"

#define ROUNDS	20000		/* event loop turns before giving up */

static struct event_base *base;

/* The test as the client, the queue and the policy process. */
static struct {
	int		 client;
	char		 in[8192];	/* replies not taken yet */
	size_t		 inlen;
	int		 eof;

	struct ipc_chan	*queue;
	struct ipc_chan	*policy;
	int		 hold_qid;	/* leave IMSG_MSG_BEGIN unanswered */
	uint64_t	 begin_id;
	int		 begins;
	int		 commits;
	int		 aborts;
} t;

/* --- smtpd's ends: what smtpd.c's handlers do --------------------------- */

static void
smtpd_from_queue(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	uint32_t code;
	char *text, *qid;

	code = ipc_get_u32(rd);
	text = ipc_get_str(rd);
	qid = ipc_get_str(rd);
	ipc_get_end(rd);
	if (rd->hdr->type == IMSG_MSG_QID)
		session_queue_qid(rd->hdr->id, code, text, qid);
	else
		session_queue_result(rd->hdr->id, code, text, qid);
	free(text);
	free(qid);
}

static void
smtpd_from_policy(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	uint32_t code;
	char *text, *sender;

	code = ipc_get_u32(rd);
	text = ipc_get_str(rd);
	sender = ipc_get_str(rd);
	ipc_get_end(rd);
	session_policy_verdict(rd->hdr->id, code, text, sender);
	free(text);
	free(sender);
}

/* --- the peers -------------------------------------------------------- */

static void
qid_reply(uint64_t id)
{
	struct ipc_msg *m = ipc_msg_new(IMSG_MSG_QID, id);

	ipc_add_u32(m, 354);
	ipc_add_str(m, "End data with <CR><LF>.<CR><LF>");
	ipc_add_str(m, "0123456789AB");
	ipc_send(t.queue, m, IPC_NO_FD);
}

static void
queue_peer(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	struct ipc_msg *m;
	uint32_t i, n;
	size_t len;

	switch (rd->hdr->type) {
	case IMSG_MSG_BEGIN:
		ipc_get_end(rd);
		t.begins++;
		t.begin_id = rd->hdr->id;
		if (!t.hold_qid)
			qid_reply(rd->hdr->id);
		break;
	case IMSG_MSG_CHUNK:
		(void)ipc_get_data(rd, &len);
		ipc_get_end(rd);
		break;
	case IMSG_MSG_COMMIT:
		for (i = 0; i < 4; i++)
			free(ipc_get_str(rd));
		(void)ipc_get_u32(rd);
		(void)ipc_get_u64(rd);
		n = ipc_get_u32(rd);
		for (i = 0; i < n; i++)
			free(ipc_get_str(rd));
		ipc_get_end(rd);
		t.commits++;
		m = ipc_msg_new(IMSG_MSG_RESULT, rd->hdr->id);
		ipc_add_u32(m, 250);
		ipc_add_str(m, "2.0.0 Ok: queued as 0123456789AB");
		ipc_add_str(m, "0123456789AB");
		ipc_send(c, m, IPC_NO_FD);
		break;
	case IMSG_MSG_ABORT:
		ipc_get_end(rd);
		t.aborts++;
		break;
	default:
		CU_FAIL("unexpected frame to the queue");
	}
}

/* Every MAIL and RCPT is fine. */
static void
policy_peer(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	struct ipc_msg *m;

	free(ipc_get_str(rd));
	(void)ipc_get_u32(rd);
	free(ipc_get_str(rd));
	free(ipc_get_str(rd));
	ipc_get_end(rd);
	m = ipc_msg_new(IMSG_POLICY_VERDICT, rd->hdr->id);
	ipc_add_u32(m, 250);
	ipc_add_str(m, rd->hdr->type == IMSG_POLICY_MAIL ? "2.1.0 Ok" :
	    "2.1.5 Ok");
	ipc_add_str(m, "");
	ipc_send(c, m, IPC_NO_FD);
}

/* A new queue channel, as smtpd.c's set_peer() takes it; 0 or -1. */
static int
queue_up(void)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -1;
	smtpd.queue = ipc_chan_new(base, sv[0], "queue", smtpd_from_queue,
	    NULL, NULL);
	smtpd.queue_gen++;
	t.queue = ipc_chan_new(base, sv[1], "smtpd", queue_peer, NULL, NULL);
	return 0;
}

/* The queue channel closes, as smtpd.c's on_queue_closed() sees it. */
static void
queue_down(void)
{
	ipc_chan_free(smtpd.queue);
	smtpd.queue = NULL;
	smtpd.queue_gen++;
	session_queue_lost();
	ipc_chan_free(t.queue);
	t.queue = NULL;
}

/* --- the client ------------------------------------------------------- */

static void
turn(void)
{
	ssize_t n;

	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	if (t.eof || t.inlen == sizeof(t.in))
		return;
	n = read(t.client, t.in + t.inlen, sizeof(t.in) - t.inlen);
	if (n > 0)
		t.inlen += (size_t)n;
	else if (n == 0)
		t.eof = 1;
}

static void
say_len(const char *text, size_t len)
{
	size_t off = 0;
	ssize_t n;
	int i;

	for (i = 0; off < len && i < ROUNDS; i++) {
		n = write(t.client, text + off, len - off);
		if (n > 0)
			off += (size_t)n;
		else
			turn();
	}
	CU_ASSERT_EQUAL_FATAL(off, len);
}

static void
say(const char *text)
{
	say_len(text, strlen(text));
}

/* The next whole reply (its last line "NNN text"), or "" if none came. */
static const char *
hear(void)
{
	static char reply[sizeof(t.in) + 1];
	size_t i, start;
	int round;

	for (round = 0; round < ROUNDS; round++) {
		start = 0;
		for (i = 0; i + 1 < t.inlen; i++) {
			if (t.in[i] != '\r' || t.in[i + 1] != '\n')
				continue;
			if (i - start >= 4 && t.in[start + 3] == ' ') {
				i += 2;
				memcpy(reply, t.in, i);
				reply[i] = '\0';
				memmove(t.in, t.in + i, t.inlen - i);
				t.inlen -= i;
				return reply;
			}
			start = i + 2;
		}
		if (t.eof)
			break;
		turn();
	}
	return "";
}

/* The next reply starts with prefix. */
static int
heard(const char *prefix)
{
	const char *r = hear();

	if (strncmp(r, prefix, strlen(prefix)) == 0)
		return 1;
	fprintf(stderr, "\n  heard \"%s\", wanted \"%s...\"\n", r, prefix);
	return 0;
}

/* A network client from 127.0.0.1, greeted. */
static void
connect_client(void)
{
	struct sockaddr_in sin;
	int sv[2];

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(2525);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CU_ASSERT_FATAL(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	CU_ASSERT_FATAL(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
	t.client = sv[1];
	t.inlen = 0;
	t.eof = 0;
	session_accept(sv[0], (struct sockaddr *)&sin, sizeof(sin),
	    LISTEN_SMTP);
	CU_ASSERT(heard("220 mx.example.test ESMTP"));
}

/* Run the loop until the session has gone and the client saw EOF. */
static void
wait_gone(void)
{
	int i;

	for (i = 0; i < ROUNDS && (!t.eof || smtpd.nsessions > 0); i++)
		turn();
	CU_ASSERT(t.eof);
	CU_ASSERT_EQUAL(smtpd.nsessions, 0);
	close(t.client);
}

static void
quit(void)
{
	say("QUIT\r\n");
	CU_ASSERT(heard("221 2.0.0"));
	wait_gone();
}

/* EHLO, MAIL and RCPT, ready for DATA. */
static void
envelope(void)
{
	say("EHLO client.example\r\n");
	CU_ASSERT(heard("250-mx.example.test\r\n"));
	say("MAIL FROM:<a@example.org>\r\n");
	CU_ASSERT(heard("250 2.1.0"));
	say("RCPT TO:<b@example.test>\r\n");
	CU_ASSERT(heard("250 2.1.5"));
}

/* A command line of len octets in all: NOOP, x's, then the ending. */
static void
noop_line(size_t len, const char *ending)
{
	char line[SMTP_LINE_MAX * 2];
	size_t elen = strlen(ending);

	CU_ASSERT_FATAL(len <= sizeof(line) && len >= 5 + elen);
	memset(line, 'x', len);
	memcpy(line, "NOOP ", 5);
	memcpy(line + len - elen, ending, elen);
	say_len(line, len);
}

/* --- the tests -------------------------------------------------------- */

/*
 * RFC 5321 4.5.3.1.4: 512 octets with the CRLF.  Each line gets one
 * reply, too long or not, so the session stays in step.
 */
static void
test_line_limit(void)
{
	char junk[600];

	connect_client();
	say("EHLO client.example\r\n");
	CU_ASSERT(heard("250-mx.example.test\r\n"));
	noop_line(SMTP_LINE_MAX, "\r\n");
	CU_ASSERT(heard("250 2.0.0"));
	noop_line(SMTP_LINE_MAX + 1, "\r\n");
	CU_ASSERT(heard("500 5.5.2 Command line too long"));
	say("NOOP\r\n");
	CU_ASSERT(heard("250 2.0.0"));

	/* A bare LF ends a line too: its text counts the same. */
	noop_line(SMTP_LINE_MAX - 1, "\n");
	CU_ASSERT(heard("250 2.0.0"));
	noop_line(SMTP_LINE_MAX, "\n");
	CU_ASSERT(heard("500 5.5.2"));

	/* In pieces: a CR last may still be the CR of CRLF. */
	noop_line(SMTP_LINE_MAX - 1, "\r");
	CU_ASSERT_STRING_EQUAL(hear(), "");
	say("\n");
	CU_ASSERT(heard("250 2.0.0"));
	noop_line(SMTP_LINE_MAX - 1, "x");
	CU_ASSERT_STRING_EQUAL(hear(), "");
	say("\r\n");
	CU_ASSERT(heard("500 5.5.2"));

	/* Far too long, no line end yet: discarded, one 500 at its end. */
	memset(junk, 'y', sizeof(junk));
	say_len(junk, sizeof(junk));
	say_len(junk, sizeof(junk));
	CU_ASSERT_STRING_EQUAL(hear(), "");
	say("yy\r\nNOOP\r\n");
	CU_ASSERT(heard("500 5.5.2"));
	CU_ASSERT(heard("250 2.0.0"));
	quit();
}

/* A refusal at the end of data is an error in a row like any other. */
static void
test_data_refusal_counts(void)
{
	static const char nul[] = "Subject: nul\r\n\r\na\0b\r\n.\r\n";
	int i;

	connect_client();
	envelope();
	say("DATA\r\n");
	CU_ASSERT(heard("354 "));
	say_len(nul, sizeof(nul) - 1);
	CU_ASSERT(heard("550 5.6.0"));
	for (i = 0; i < SMTP_ERROR_MAX - 1; i++) {
		say("BOGUS\r\n");
		CU_ASSERT(heard("500 5.5.2"));
	}
	say("NOOP\r\n");
	CU_ASSERT(heard("421 4.7.0"));
	wait_gone();
	CU_ASSERT_EQUAL(t.commits, 0);
}

/* A queue that goes during DATA: the data is read on, then 451. */
static void
test_queue_lost_in_data(void)
{
	connect_client();
	envelope();
	say("DATA\r\n");
	CU_ASSERT(heard("354 "));
	say("Subject: lost\r\n\r\nbody\r\n");
	turn();
	queue_down();
	CU_ASSERT_STRING_EQUAL(hear(), "");
	say("more\r\n.\r\n");
	CU_ASSERT(heard("451 4.3.0"));
	CU_ASSERT_FATAL(queue_up() == 0);
	/* The next transaction goes to the new queue. */
	say("MAIL FROM:<a@example.org>\r\n");
	CU_ASSERT(heard("250 2.1.0"));
	say("RCPT TO:<b@example.test>\r\n");
	CU_ASSERT(heard("250 2.1.5"));
	say("DATA\r\n");
	CU_ASSERT(heard("354 "));
	say("Subject: ok\r\n\r\nbody\r\n.\r\n");
	CU_ASSERT(heard("250 2.0.0"));
	CU_ASSERT_EQUAL(t.commits, 1);
	quit();
	t.commits = 0;
}

/*
 * A session that goes while it waits for the queue's go-ahead aborts
 * the transaction once; the late answer adds no second MSG_ABORT.
 */
static void
test_abort_once(void)
{
	int i;

	t.aborts = t.begins = 0;
	t.hold_qid = 1;
	connect_client();
	envelope();
	say("DATA\r\n");
	for (i = 0; i < ROUNDS && t.begins == 0; i++)
		turn();
	CU_ASSERT_EQUAL_FATAL(t.begins, 1);
	session_stop_all(1);
	CU_ASSERT(heard("421 4.3.2"));
	wait_gone();
	for (i = 0; i < 100; i++)
		turn();
	CU_ASSERT_EQUAL(t.aborts, 1);

	/* The queue's answer comes after all. */
	qid_reply(t.begin_id);
	for (i = 0; i < 100; i++)
		turn();
	CU_ASSERT_EQUAL(t.aborts, 1);
	t.hold_qid = 0;
}

/* Over connection_limit (1 here) a client gets 421 and no session. */
static void
test_connection_limit(void)
{
	struct sockaddr_in sin;
	char buf[256];
	ssize_t n;
	int sv[2], i;

	connect_client();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	session_accept(sv[0], (struct sockaddr *)&sin, sizeof(sin),
	    LISTEN_SMTP);
	CU_ASSERT_EQUAL(smtpd.nsessions, 1);
	n = read(sv[1], buf, sizeof(buf) - 1);
	CU_ASSERT_FATAL(n > 0);
	buf[n] = '\0';
	CU_ASSERT_STRING_EQUAL(buf, "421 4.7.0 mx.example.test Too many "
	    "connections\r\n");
	CU_ASSERT_EQUAL(read(sv[1], buf, sizeof(buf)), 0);
	close(sv[1]);
	for (i = 0; i < 10; i++)
		turn();
	/* The first session goes on. */
	say("NOOP\r\n");
	CU_ASSERT(heard("250 2.0.0"));
	quit();
}

/* --- the suite -------------------------------------------------------- */

static int
suite_init(void)
{
	struct config *cfg;
	char *errs = NULL, err[512];
	int sv[2];

	signal(SIGPIPE, SIG_IGN);
	log_init("test_session", 1);
	if ((base = event_base_new()) == NULL)
		return -1;
	cfg = config_parse("t.conf", "myhostname = mx.example.test\n"
	    "connection_limit = 1\n", &errs);
	if (cfg == NULL) {
		fprintf(stderr, "%s", errs != NULL ? errs : "no config\n");
		free(errs);
		return -1;
	}
	memset(&smtpd, 0, sizeof(smtpd));
	smtpd.base = base;
	smtpd.admission = admission_new();
	TAILQ_INIT(&smtpd.listeners);
	TAILQ_INIT(&smtpd.sessions);
	RB_INIT(&smtpd.waits);
	/* As smtpd makes it: 127.0.0.1 is in mynetworks, not screened. */
	if ((smtpd.conf = smtpd_conf_new(cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -1;
	smtpd.policy = ipc_chan_new(base, sv[0], "policy", smtpd_from_policy,
	    NULL, NULL);
	t.policy = ipc_chan_new(base, sv[1], "smtpd", policy_peer, NULL,
	    NULL);
	return queue_up();
}

static int
suite_clean(void)
{
	ipc_chan_free(smtpd.queue);
	ipc_chan_free(t.queue);
	ipc_chan_free(smtpd.policy);
	ipc_chan_free(t.policy);
	smtpd_conf_unref(smtpd.conf);
	admission_free(smtpd.admission);
	event_base_free(base);
	return 0;
}

static CU_TestInfo tests[] = {
	{ "command line limit 512 with CRLF", test_line_limit },
	{ "refusal at end of data counts as error",
	    test_data_refusal_counts },
	{ "queue lost during DATA: 451 at the end",
	    test_queue_lost_in_data },
	{ "MSG_ABORT once for a session gone in S_QID", test_abort_once },
	{ "over connection_limit: 421, no session", test_connection_limit },
	CU_TEST_INFO_NULL
};

int
main(void)
{
	return unit_run_fixture("session", suite_init, suite_clean, tests);
}
