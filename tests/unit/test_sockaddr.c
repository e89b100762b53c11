/*
 * Address literals with a port (util/sockaddr.c): what the master
 * listens on, what the config parser accepts for inet_interfaces, and
 * relayhost, which takes port 25 when none is written.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "unit.h"

#include "relayhost.h"
#include "sockaddr.h"

static void
test_parse_addr(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	socklen_t len;
	char err[256];

	CU_ASSERT(sockaddr_parse("127.0.0.1:2525", 0, &ss, &len, err,
	    sizeof(err)) == 0);
	CU_ASSERT(ss.ss_family == AF_INET);
	CU_ASSERT(ntohs(sin->sin_port) == 2525);
	CU_ASSERT(len == sizeof(struct sockaddr_in));

	CU_ASSERT(sockaddr_parse("[::1]:25", 0, &ss, &len, err,
	    sizeof(err)) == 0);
	CU_ASSERT(ss.ss_family == AF_INET6);
	CU_ASSERT(ntohs(sin6->sin6_port) == 25);

	CU_ASSERT(sockaddr_parse("[192.0.2.1]:587", 0, &ss, &len, err,
	    sizeof(err)) == 0);
	CU_ASSERT(ss.ss_family == AF_INET);

	CU_ASSERT(sockaddr_parse("127.0.0.1", 0, &ss, &len, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "no port") != NULL);
	CU_ASSERT(sockaddr_parse("127.0.0.1:0", 0, &ss, &len, err,
	    sizeof(err)) == -1);
	CU_ASSERT(sockaddr_parse("127.0.0.1:65536", 0, &ss, &len, err,
	    sizeof(err)) == -1);
	CU_ASSERT(sockaddr_parse("127.0.0.1:25x", 0, &ss, &len, err,
	    sizeof(err)) == -1);
	CU_ASSERT(sockaddr_parse("mail.example.org:25", 0, &ss, &len, err,
	    sizeof(err)) == -1);
	CU_ASSERT(sockaddr_parse("::1:25", 0, &ss, &len, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "brackets") != NULL);
	CU_ASSERT(sockaddr_parse("[::1:25", 0, &ss, &len, err,
	    sizeof(err)) == -1);
	CU_ASSERT(sockaddr_parse("[]:25", 0, &ss, &len, err,
	    sizeof(err)) == -1);
	CU_ASSERT(sockaddr_parse("[::1]25", 0, &ss, &len, err,
	    sizeof(err)) == -1);
	CU_ASSERT(sockaddr_parse("127.0.0.1:", 0, &ss, &len, err,
	    sizeof(err)) == -1);
}

/* A default port, and the label every spelling of a socket shares. */
static void
test_default_port_and_label(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256], label[SOCKADDR_LABEL_MAX];

	CU_ASSERT_EQUAL(sockaddr_parse("[::1]", 25, &ss, &len, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(sockaddr_label(&ss, label, sizeof(label)), 0);
	CU_ASSERT_STRING_EQUAL(label, "[::1]:25");
	CU_ASSERT_EQUAL(sockaddr_parse("[IPv6:0::1]:2526", 0, &ss, &len, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(sockaddr_label(&ss, label, sizeof(label)), 0);
	CU_ASSERT_STRING_EQUAL(label, "[::1]:2526");
	CU_ASSERT_EQUAL(sockaddr_parse("192.0.2.1", 25, &ss, &len, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(sockaddr_label(&ss, label, sizeof(label)), 0);
	CU_ASSERT_STRING_EQUAL(label, "[192.0.2.1]:25");
	CU_ASSERT_EQUAL(sockaddr_label(&ss, label, 8), -1);
	/* IPv6 needs its brackets even with a default port. */
	CU_ASSERT_EQUAL(sockaddr_parse("::1", 25, &ss, &len, err,
	    sizeof(err)), -1);
	CU_ASSERT_EQUAL(sockaddr_parse("[IPv6:192.0.2.1]", 25, &ss, &len,
	    err, sizeof(err)), -1);
}

/* relayhost reads the same grammar; its label is what logs show. */
static void
test_relayhost(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char label[RELAYHOST_LABEL_MAX];

	CU_ASSERT_EQUAL(relayhost_parse("[192.0.2.1]:2526", &ss, &len, label,
	    sizeof(label)), 0);
	CU_ASSERT_STRING_EQUAL(label, "[192.0.2.1]:2526");
	CU_ASSERT_EQUAL(relayhost_parse("192.0.2.1", &ss, &len, label,
	    sizeof(label)), 0);
	CU_ASSERT_STRING_EQUAL(label, "[192.0.2.1]:25");
	CU_ASSERT_EQUAL(relayhost_parse("[IPv6:2001:db8::1]", &ss, &len,
	    label, sizeof(label)), 0);
	CU_ASSERT_STRING_EQUAL(label, "[2001:db8::1]:25");
	CU_ASSERT_EQUAL(relayhost_parse("mx.example.org", &ss, &len, label,
	    sizeof(label)), -1);
	CU_ASSERT_EQUAL(relayhost_parse("2001:db8::1", &ss, &len, label,
	    sizeof(label)), -1);
}

static CU_TestInfo tests[] = {
	{ "listen address parsing", test_parse_addr },
	{ "default port and label", test_default_port_and_label },
	{ "relayhost", test_relayhost },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("sockaddr", tests)
