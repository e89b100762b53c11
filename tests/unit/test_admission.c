/*
 * The admission table: per-address and per-prefix session counts, the
 * refusal each limit gives, exempt clients, IPv6 prefixes, and a table
 * that empties again when the sessions end.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "config.h"
#include "smtpd/admission.h"
#include "unit.h"

static struct sockaddr_storage ss;
static uint64_t now = 1000000;	/* ms on a test clock */

/* A socket address for the numeric text a (IPv4 or IPv6). */
static const struct sockaddr *
addr(const char *a)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, a, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, a, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	else
		CU_FAIL_FATAL("bad test address");
	return (const struct sockaddr *)&ss;
}

/* A client from the numeric address text, under l, not exempt. */
static enum admit_verdict
enter(struct admission *a, const char *text, const struct admit_limits *l,
    struct admit_ticket *t)
{
	return admission_enter(a, addr(text), l, 0, now, t);
}

static void
leave(struct admission *a, struct admit_ticket *t)
{
	admission_leave(a, t, now);
}

/* The table has forgotten everything: free it. */
static void
free_empty(struct admission *a)
{
	CU_ASSERT_EQUAL(admission_entries(a), 0);
	admission_free(a);
}

static int
passed(const struct admission *a, const struct admit_key *k, uint64_t at)
{
	return admission_remembers(a, k, ADMIT_PASSED, at);
}

static int
good(const struct admission *a, const struct admit_key *k, uint64_t at)
{
	return admission_remembers(a, k, ADMIT_GOOD, at);
}

static void
pass(struct admission *a, const struct admit_key *k, uint64_t from,
    uint64_t until)
{
	admission_remember(a, k, ADMIT_PASSED, from, until);
}

static void
mark_good(struct admission *a, const struct admit_key *k, uint64_t from,
    uint64_t until)
{
	admission_remember(a, k, ADMIT_GOOD, from, until);
}

static const struct admit_limits lim = {
	.per_address = 3, .per_prefix = 5, .v4_prefix = 24, .v6_prefix = 64,
};

static void
test_per_address(void)
{
	struct admission *a = admission_new();
	struct admit_ticket t[4];
	int i;

	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &lim, &t[i]), ADMIT_OK);
	CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &lim, &t[3]), ADMIT_ADDRESS);
	CU_ASSERT_FALSE(t[3].counted);
	CU_ASSERT_EQUAL(admission_count(a, &t[0].address), 3);
	CU_ASSERT_EQUAL(admission_count(a, &t[0].prefix), 3);
	/* One ends: the next may start. */
	leave(a, &t[1]);
	CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &lim, &t[1]), ADMIT_OK);
	for (i = 0; i < 3; i++)
		leave(a, &t[i]);
	/* A refused ticket holds nothing to give back. */
	leave(a, &t[3]);
	free_empty(a);
}

static void
test_per_prefix(void)
{
	struct admission *a = admission_new();
	struct admit_ticket t[8];
	char text[64];
	int i;

	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &lim, &t[i]), ADMIT_OK);
	for (i = 3; i < 5; i++)
		CU_ASSERT_EQUAL(enter(a, "192.0.2.200", &lim, &t[i]),
		    ADMIT_OK);
	/* A third address in the /24, with no session of its own yet. */
	CU_ASSERT_EQUAL(enter(a, "192.0.2.77", &lim, &t[5]), ADMIT_PREFIX);
	admission_key_text(&t[5].prefix, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "192.0.2.0/24");
	/* The next /24 is another network. */
	CU_ASSERT_EQUAL(enter(a, "192.0.3.1", &lim, &t[6]), ADMIT_OK);
	CU_ASSERT_EQUAL(admission_count(a, &t[0].prefix), 5);
	for (i = 0; i < 7; i++)
		if (i != 5)
			leave(a, &t[i]);
	free_empty(a);
}

static void
test_ipv6_prefix(void)
{
	struct admission *a = admission_new();
	struct admit_ticket t[8];
	char text[64];
	int i;

	for (i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(enter(a, i < 3 ? "2001:db8::1" :
		    "2001:db8::ffff:1", &lim, &t[i]), ADMIT_OK);
	CU_ASSERT_EQUAL(enter(a, "2001:db8::2", &lim, &t[5]), ADMIT_PREFIX);
	admission_key_text(&t[5].prefix, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "2001:db8::/64");
	CU_ASSERT_EQUAL(enter(a, "2001:db8:0:1::1", &lim, &t[6]), ADMIT_OK);
	for (i = 0; i < 7; i++)
		if (i != 5)
			leave(a, &t[i]);
	free_empty(a);
}

/* Prefixes that do not end on a byte keep exactly their bits. */
static void
test_odd_prefix_lengths(void)
{
	struct admit_key k;
	char text[64];

	CU_ASSERT_EQUAL(admission_key(addr("192.0.47.255"), 20, &k), 0);
	admission_key_text(&k, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "192.0.32.0/20");
	CU_ASSERT_EQUAL(admission_key(addr("2001:db8:0:1:ffff::1"), 63, &k),
	    0);
	admission_key_text(&k, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "2001:db8::/63");
	CU_ASSERT_EQUAL(admission_key(addr("2001:db8::7"), 127, &k), 0);
	admission_key_text(&k, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "2001:db8::6/127");
}

/* mynetworks clients and local submissions are neither limited nor kept. */
static void
test_exempt(void)
{
	struct admission *a = admission_new();
	struct sockaddr_storage un;
	struct admit_ticket t[10];
	int i;

	for (i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(admission_enter(a, addr("192.0.2.1"), &lim, 1,
		    now, &t[i]), ADMIT_OK);
	CU_ASSERT_EQUAL(admission_entries(a), 0);
	memset(&un, 0, sizeof(un));
	un.ss_family = AF_UNIX;
	CU_ASSERT_EQUAL(admission_enter(a, (struct sockaddr *)&un, &lim, 0,
	    now, &t[0]), ADMIT_OK);
	CU_ASSERT_EQUAL(admission_entries(a), 0);
	for (i = 0; i < 10; i++)
		leave(a, &t[i]);
	admission_free(a);
}

/* With /32 prefixes the prefix entry is not the address entry. */
static void
test_full_length_prefix(void)
{
	struct admit_limits one = lim;
	struct admission *a = admission_new();
	struct admit_ticket t[2];

	one.v4_prefix = 32;
	one.per_address = 2;
	one.per_prefix = 2;
	CU_ASSERT_EQUAL(enter(a, "192.0.2.9", &one, &t[0]), ADMIT_OK);
	CU_ASSERT_EQUAL(admission_count(a, &t[0].address), 1);
	CU_ASSERT_EQUAL(admission_count(a, &t[0].prefix), 1);
	CU_ASSERT_EQUAL(admission_entries(a), 2);
	CU_ASSERT_EQUAL(enter(a, "192.0.2.9", &one, &t[1]), ADMIT_OK);
	leave(a, &t[0]);
	leave(a, &t[1]);
	free_empty(a);
}

/* An IPv4 client seen over an IPv6 socket counts as the same client. */
static void
test_v4_mapped(void)
{
	struct admission *a = admission_new();
	struct admit_ticket t[4];
	int i;

	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(enter(a, i % 2 ? "192.0.2.1" :
		    "::ffff:192.0.2.1", &lim, &t[i]), ADMIT_OK);
	CU_ASSERT_EQUAL(enter(a, "::ffff:192.0.2.1", &lim, &t[3]),
	    ADMIT_ADDRESS);
	for (i = 0; i < 3; i++)
		leave(a, &t[i]);
	free_empty(a);
}

/*
 * A reload that changes the prefix length: sessions give back what they
 * took, not what the new length would say.
 */
static void
test_prefix_length_changes(void)
{
	struct admit_limits wide = lim;
	struct admission *a = admission_new();
	struct admit_ticket t[2];

	CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &lim, &t[0]), ADMIT_OK);
	wide.v4_prefix = 16;
	CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &wide, &t[1]), ADMIT_OK);
	CU_ASSERT_EQUAL(admission_count(a, &t[0].address), 2);
	CU_ASSERT_EQUAL(admission_count(a, &t[0].prefix), 1);
	CU_ASSERT_EQUAL(admission_count(a, &t[1].prefix), 1);
	leave(a, &t[0]);
	leave(a, &t[1]);
	free_empty(a);
}

/*
 * A pre-greet pass outlives the session that earned it, holds until its
 * time, and is then swept; it belongs to the address, not its network.
 */
static void
test_pregreet_pass(void)
{
	struct admission *a = admission_new();
	struct admit_ticket t, other;

	CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &lim, &t), ADMIT_OK);
	CU_ASSERT_FALSE(passed(a, &t.address, now));
	pass(a, &t.address, now, now + 5000);
	CU_ASSERT_TRUE(passed(a, &t.address, now));
	leave(a, &t);
	/* The address entry stays for the pass; the prefix goes. */
	CU_ASSERT_EQUAL(admission_entries(a), 1);
	CU_ASSERT_EQUAL(enter(a, "192.0.2.2", &lim, &other), ADMIT_OK);
	CU_ASSERT_FALSE(passed(a, &other.address, now));
	leave(a, &other);
	admission_sweep(a, now + 4999);
	CU_ASSERT_TRUE(passed(a, &t.address, now + 4999));
	CU_ASSERT_FALSE(passed(a, &t.address, now + 5000));
	admission_sweep(a, now + 5000);
	free_empty(a);
}

/* A good name, like a pass, outlives its session and then goes. */
static void
test_good_client(void)
{
	struct admission *a = admission_new();
	struct admit_ticket t;

	CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &lim, &t), ADMIT_OK);
	CU_ASSERT_FALSE(good(a, &t.address, now));
	mark_good(a, &t.address, now, now + 1000);
	leave(a, &t);
	CU_ASSERT_TRUE(good(a, &t.address, now + 999));
	CU_ASSERT_FALSE(good(a, &t.address, now + 1000));
	/* A pre-greet pass is not a good name. */
	pass(a, &t.address, now, now + 5000);
	CU_ASSERT_FALSE(good(a, &t.address, now + 2000));
	admission_sweep(a, now + 5000);
	free_empty(a);
}

/*
 * A flood of ever new addresses that each pass the pre-greet test: what
 * the table remembers with no session stops at a bound.
 */
static void
test_remembering_is_bounded(void)
{
	struct admission *a = admission_new();
	struct admit_ticket t;
	char text[32];
	int i;

	for (i = 0; i < 120000; i++) {
		snprintf(text, sizeof(text), "10.%d.%d.%d", i / 65536,
		    (i / 256) % 256, i % 256);
		CU_ASSERT_EQUAL_FATAL(enter(a, text, &lim, &t), ADMIT_OK);
		pass(a, &t.address, now, now + 86400000);
		leave(a, &t);
	}
	CU_ASSERT(admission_entries(a) <= 100000);
	CU_ASSERT(admission_entries(a) >= 99000);
	CU_ASSERT(admission_bytes(a) < 16 * 1024 * 1024);
	/* The first ones are still remembered: nothing was thrown out. */
	CU_ASSERT_EQUAL(enter(a, "10.0.0.0", &lim, &t), ADMIT_OK);
	CU_ASSERT_TRUE(passed(a, &t.address, now));
	leave(a, &t);
	admission_free(a);
}

/* Each limit comes from its own configuration key. */
static void
test_limits_from_config(void)
{
	struct admit_limits l;
	struct config *cfg;
	char *errs = NULL;

	cfg = config_parse("t.conf", "myhostname = mx.example.test\n"
	    "client_connection_limit = 7\n"
	    "prefix_connection_limit = 70\n"
	    "client_connection_rate = 11\n"
	    "prefix_connection_rate = 0\n"
	    "ipv4_prefix_length = 20\n"
	    "ipv6_prefix_length = 48\n", &errs);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	admission_limits(cfg, &l);
	CU_ASSERT_EQUAL(l.per_address, 7);
	CU_ASSERT_EQUAL(l.per_prefix, 70);
	CU_ASSERT_EQUAL(l.rate_address, 11);
	CU_ASSERT_EQUAL(l.rate_prefix, 0);
	CU_ASSERT_EQUAL(l.v4_prefix, 20);
	CU_ASSERT_EQUAL(l.v6_prefix, 48);
	config_free(cfg);
	free(errs);
}

/* Many clients at once, then none: the table grows and empties. */
static void
test_many_clients(void)
{
	struct admission *a = admission_new();
	struct admit_limits many = lim;
	static struct admit_ticket t[20000];
	char text[32];
	int i;

	many.per_prefix = 1000;
	for (i = 0; i < 20000; i++) {
		snprintf(text, sizeof(text), "10.%d.%d.%d", i / 65536,
		    (i / 256) % 256, i % 256);
		CU_ASSERT_EQUAL_FATAL(enter(a, text, &many, &t[i]), ADMIT_OK);
	}
	/* 20000 addresses in 79 prefixes of /24. */
	CU_ASSERT_EQUAL(admission_entries(a), 20000 + 79);
	for (i = 0; i < 20000; i++)
		leave(a, &t[i]);
	CU_ASSERT_EQUAL(admission_entries(a), 0);
	CU_ASSERT_EQUAL(enter(a, "10.0.0.1", &many, &t[0]), ADMIT_OK);
	CU_ASSERT_EQUAL(admission_count(a, &t[0].address), 1);
	leave(a, &t[0]);
	admission_free(a);
}

/*
 * client_connection_rate 3 a minute: three connections at once, the
 * fourth refused though none is open; one more every 20 seconds; the
 * entry is forgotten once the bucket is full again.
 */
static void
test_address_rate(void)
{
	struct admit_limits r = lim;
	struct admission *a = admission_new();
	struct admit_ticket t;
	int i;

	r.rate_address = 3;
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &r, &t), ADMIT_OK);
		leave(a, &t);
	}
	CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &r, &t), ADMIT_ADDRESS_RATE);
	/* Refusals take nothing: after 20 s there is one token. */
	now += 19999;
	CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &r, &t), ADMIT_ADDRESS_RATE);
	now += 1;
	CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &r, &t), ADMIT_OK);
	leave(a, &t);
	CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &r, &t), ADMIT_ADDRESS_RATE);
	/* Another address of the prefix has its own bucket. */
	CU_ASSERT_EQUAL(enter(a, "192.0.2.2", &r, &t), ADMIT_OK);
	leave(a, &t);
	/* Still refilling: the sweep keeps it; full: it goes. */
	admission_sweep(a, now);
	CU_ASSERT_EQUAL(admission_entries(a), 2);
	now += 60000;
	admission_sweep(a, now);
	free_empty(a);
}

static void
test_prefix_rate(void)
{
	struct admit_limits r = lim;
	struct admission *a = admission_new();
	struct admit_ticket t;
	char text[32];
	int i;

	r.rate_prefix = 10;
	for (i = 0; i < 10; i++) {
		snprintf(text, sizeof(text), "192.0.2.%d", i + 1);
		CU_ASSERT_EQUAL(enter(a, text, &r, &t), ADMIT_OK);
		leave(a, &t);
	}
	CU_ASSERT_EQUAL(enter(a, "192.0.2.99", &r, &t), ADMIT_PREFIX_RATE);
	CU_ASSERT_EQUAL(enter(a, "192.0.3.1", &r, &t), ADMIT_OK);
	leave(a, &t);
	/* Six seconds give one connection back. */
	now += 6000;
	CU_ASSERT_EQUAL(enter(a, "192.0.2.99", &r, &t), ADMIT_OK);
	leave(a, &t);
	now += 60000;
	admission_sweep(a, now);
	free_empty(a);
}

/* A reload that turns a rate on, lowers it, or turns it off. */
static void
test_rate_changes(void)
{
	struct admit_limits r = lim;
	struct admission *a = admission_new();
	struct admit_ticket t[3];

	/* No rate: nothing is kept once the session ends. */
	CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &lim, &t[0]), ADMIT_OK);
	r.rate_address = 2;
	/* Turned on while a session is open: the bucket starts full. */
	CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &r, &t[1]), ADMIT_OK);
	CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &r, &t[2]), ADMIT_OK);
	leave(a, &t[2]);
	CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &r, &t[2]),
	    ADMIT_ADDRESS_RATE);
	/* Off again: admitted, and forgotten when the sessions end. */
	CU_ASSERT_EQUAL(enter(a, "192.0.2.1", &lim, &t[2]), ADMIT_OK);
	leave(a, &t[0]);
	leave(a, &t[1]);
	leave(a, &t[2]);
	free_empty(a);
}

static CU_TestInfo tests[] = {
	{ "per-address limit", test_per_address },
	{ "per-prefix limit, IPv4 /24", test_per_prefix },
	{ "per-prefix limit, IPv6 /64", test_ipv6_prefix },
	{ "prefix lengths 20, 63 and 127", test_odd_prefix_lengths },
	{ "exempt and local clients", test_exempt },
	{ "a /32 prefix is its own entry", test_full_length_prefix },
	{ "IPv4-mapped IPv6 is IPv4", test_v4_mapped },
	{ "prefix length changed by a reload", test_prefix_length_changes },
	{ "20000 clients come and go", test_many_clients },
	{ "limits from the configuration", test_limits_from_config },
	{ "a pre-greet pass and its end", test_pregreet_pass },
	{ "a good client and its end", test_good_client },
	{ "what is remembered is bounded", test_remembering_is_bounded },
	{ "connection rate per address", test_address_rate },
	{ "connection rate per prefix", test_prefix_rate },
	{ "rates changed by a reload", test_rate_changes },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("admission", tests)
