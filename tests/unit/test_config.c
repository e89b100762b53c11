/*
 * The configuration parser: defaults, every value type and suffix,
 * bounds, errors with file and line, continuation lines, lists, listen
 * addresses and local domain matching.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

#include "util/config.h"

/* Parse text that must be good. */
static struct config *
good(const char *text)
{
	struct config *cfg;
	char *errs = (char *)1;

	cfg = config_parse("t.conf", text, &errs);
	if (cfg == NULL)
		fprintf(stderr, "unexpected errors:\n%s", errs);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_PTR_NULL(errs);
	return cfg;
}

/* Parse text that must fail; returns the errors (caller frees). */
static char *
bad(const char *text)
{
	struct config *cfg;
	char *errs = NULL;

	cfg = config_parse("t.conf", text, &errs);
	CU_ASSERT_PTR_NULL(cfg);
	config_free(cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(errs);
	return errs;
}

/* The text must fail with exactly one error line equal to want. */
static void
bad_one(const char *text, const char *want)
{
	char *errs = bad(text);

	if (strcmp(errs, want) != 0)
		fprintf(stderr, "\nwant: %sgot:  %s", want, errs);
	CU_ASSERT_STRING_EQUAL(errs, want);
	free(errs);
}

static void
test_defaults(void)
{
	struct config *cfg = good("");
	char host[256];

	CU_ASSERT_STRING_EQUAL(cfg->mail_owner, "bulwark");
	CU_ASSERT_STRING_EQUAL(cfg->queue_directory, CONFIG_SPOOL);
	CU_ASSERT_STRING_EQUAL(cfg->mailbox_base, "");
	CU_ASSERT_STRING_EQUAL(cfg->alias_maps, "hash:/etc/aliases");
	CU_ASSERT_STRING_EQUAL(cfg->inet_interfaces, "0.0.0.0:25");
	CU_ASSERT_STRING_EQUAL(cfg->mynetworks, "127.0.0.0/8, [::1]/128");
	CU_ASSERT_STRING_EQUAL(cfg->relay_domains, "");
	CU_ASSERT_STRING_EQUAL(cfg->relayhost, "");
	CU_ASSERT_STRING_EQUAL(cfg->smtpd_client_access, "");
	CU_ASSERT_STRING_EQUAL(cfg->trusted_users, "root");
	CU_ASSERT_EQUAL(cfg->message_size_limit, 10240000);
	CU_ASSERT_EQUAL(cfg->line_length_limit, 65536);
	CU_ASSERT_EQUAL(cfg->recipient_limit, 1000);
	CU_ASSERT_EQUAL(cfg->hop_limit, 50);
	CU_ASSERT_EQUAL(cfg->connection_limit, 1000);
	CU_ASSERT_EQUAL(cfg->bare_lf, BARE_LF_REJECT);
	CU_ASSERT_EQUAL(cfg->smtpd_timeout, 300);
	CU_ASSERT_EQUAL(cfg->smtpd_data_timeout, 300);
	CU_ASSERT_EQUAL(cfg->policy_timeout, 10);
	CU_ASSERT_EQUAL(cfg->segment_size, 64 * 1024 * 1024);
	CU_ASSERT_EQUAL(cfg->queue_lifetime, 5 * 86400);
	CU_ASSERT_EQUAL(cfg->minimal_backoff, 300);
	CU_ASSERT_EQUAL(cfg->maximal_backoff, 4000);
	CU_ASSERT_EQUAL(cfg->delivery_concurrency, 20);
	CU_ASSERT_EQUAL(cfg->smtp_connect_timeout, 30);
	CU_ASSERT_EQUAL(cfg->smtp_greeting_timeout, 300);
	CU_ASSERT_EQUAL(cfg->smtp_mail_timeout, 300);
	CU_ASSERT_EQUAL(cfg->smtp_rcpt_timeout, 300);
	CU_ASSERT_EQUAL(cfg->smtp_data_init_timeout, 120);
	CU_ASSERT_EQUAL(cfg->smtp_data_block_timeout, 180);
	CU_ASSERT_EQUAL(cfg->smtp_data_done_timeout, 600);
	CU_ASSERT_STRING_EQUAL(cfg->path, "t.conf");

	/* myhostname starts with the kernel's name (maybe qualified). */
	CU_ASSERT_FATAL(gethostname(host, sizeof(host)) == 0);
	host[strcspn(host, ".")] = '\0';
	CU_ASSERT_EQUAL(strncmp(cfg->myhostname, host, strlen(host)), 0);
	CU_ASSERT(cfg->myhostname[strlen(host)] == '\0' ||
	    cfg->myhostname[strlen(host)] == '.');

	CU_ASSERT_EQUAL(cfg->nlisten, 1);
	CU_ASSERT_STRING_EQUAL(cfg->listen[0], "0.0.0.0:25");
	CU_ASSERT(config_is_local_domain(cfg, "localhost"));
	CU_ASSERT(config_is_local_domain(cfg, cfg->myhostname));
	CU_ASSERT_EQUAL(cfg->nrelay_domains, 0);
	config_free(cfg);
}

static void
test_mydestination_default(void)
{
	struct config *cfg = good("myhostname = mx.Example.ORG\n");

	CU_ASSERT_STRING_EQUAL(cfg->mydestination, "localhost, mx.Example.ORG");
	CU_ASSERT_EQUAL(cfg->nlocal_domains, 2);
	CU_ASSERT_STRING_EQUAL(cfg->local_domains[1], "mx.example.org");
	CU_ASSERT(config_is_local_domain(cfg, "MX.example.org."));
	config_free(cfg);

	cfg = good("myhostname = mx.example.org\nmydestination = a.test\n");
	CU_ASSERT_EQUAL(cfg->nlocal_domains, 1);
	CU_ASSERT(!config_is_local_domain(cfg, "mx.example.org"));
	CU_ASSERT(!config_is_local_domain(cfg, "localhost"));
	config_free(cfg);
}

static void
test_types(void)
{
	struct config *cfg = good(
	    "myhostname = mail.example.com\n"
	    "relayhost = [192.0.2.1]:2526\n"
	    "hop_limit = 7\n"
	    "message_size_limit = 2048\n"
	    "line_length_limit = 2k\n"
	    "segment_size = 3M\n"
	    "connection_limit = 12\n"
	    "bare_lf = normalize\n"
	    "smtpd_timeout = 90\n"
	    "smtpd_data_timeout = 2m\n"
	    "policy_timeout = 1h\n"
	    "queue_lifetime = 2w\n"
	    "minimal_backoff = 45s\n"
	    "maximal_backoff = 1d\n");

	CU_ASSERT_STRING_EQUAL(cfg->myhostname, "mail.example.com");
	CU_ASSERT_STRING_EQUAL(cfg->relayhost, "[192.0.2.1]:2526");
	CU_ASSERT_EQUAL(cfg->hop_limit, 7);
	CU_ASSERT_EQUAL(cfg->message_size_limit, 2048);
	CU_ASSERT_EQUAL(cfg->line_length_limit, 2048);
	CU_ASSERT_EQUAL(cfg->segment_size, 3 * 1024 * 1024);
	CU_ASSERT_EQUAL(cfg->connection_limit, 12);
	CU_ASSERT_EQUAL(cfg->bare_lf, BARE_LF_NORMALIZE);
	CU_ASSERT_EQUAL(cfg->smtpd_timeout, 90);
	CU_ASSERT_EQUAL(cfg->smtpd_data_timeout, 120);
	CU_ASSERT_EQUAL(cfg->policy_timeout, 3600);
	CU_ASSERT_EQUAL(cfg->queue_lifetime, 14 * 86400);
	CU_ASSERT_EQUAL(cfg->minimal_backoff, 45);
	CU_ASSERT_EQUAL(cfg->maximal_backoff, 86400);
	config_free(cfg);
}

static void
test_size_suffixes(void)
{
	static const struct {
		const char	*text;
		int64_t		 want;
	} cases[] = {
		{ "segment_size = 1048576\n", 1048576 },
		{ "segment_size = 1024k\n", 1024 * 1024 },
		{ "segment_size = 1024K\n", 1024 * 1024 },
		{ "segment_size = 5m\n", 5 * 1024 * 1024 },
		{ "segment_size = 5M\n", 5 * 1024 * 1024 },
		{ "segment_size = 1g\n", 1024 * 1024 * 1024 },
		{ "segment_size = 2G\n", 2LL * 1024 * 1024 * 1024 },
	};
	struct config *cfg;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg = good(cases[i].text);
		CU_ASSERT_EQUAL(cfg->segment_size, cases[i].want);
		config_free(cfg);
	}
}

static void
test_duration_suffixes(void)
{
	static const struct {
		const char	*text;
		int64_t		 want;
	} cases[] = {
		{ "queue_lifetime = 0\n", 0 },
		{ "queue_lifetime = 17\n", 17 },
		{ "queue_lifetime = 17s\n", 17 },
		{ "queue_lifetime = 3m\n", 180 },
		{ "queue_lifetime = 5h\n", 5 * 3600 },
		{ "queue_lifetime = 2d\n", 2 * 86400 },
		{ "queue_lifetime = 3w\n", 21 * 86400 },
	};
	struct config *cfg;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg = good(cases[i].text);
		CU_ASSERT_EQUAL(cfg->queue_lifetime, cases[i].want);
		config_free(cfg);
	}
}

static void
test_bad_values(void)
{
	bad_one("hop_limit = ten\n",
	    "t.conf:1: hop_limit: \"ten\": not a number\n");
	bad_one("\nhop_limit = 10k\n",
	    "t.conf:2: hop_limit: \"10k\": not a whole number\n");
	bad_one("hop_limit = -3\n",
	    "t.conf:1: hop_limit: \"-3\": not a number\n");
	bad_one("segment_size = 64x\n",
	    "t.conf:1: segment_size: \"64x\": bad size: a number of bytes, "
	    "optionally followed by k, m or g\n");
	bad_one("segment_size = 64kk\n",
	    "t.conf:1: segment_size: \"64kk\": bad size: a number of bytes, "
	    "optionally followed by k, m or g\n");
	bad_one("smtpd_timeout = 5y\n",
	    "t.conf:1: smtpd_timeout: \"5y\": bad duration: a number of "
	    "seconds, optionally followed by s, m, h, d or w\n");
	bad_one("smtpd_timeout = 5 m\n",
	    "t.conf:1: smtpd_timeout: \"5 m\": bad duration: a number of "
	    "seconds, optionally followed by s, m, h, d or w\n");
	bad_one("smtpd_timeout =\n",
	    "t.conf:1: smtpd_timeout: \"\": not a number\n");
	bad_one("bare_lf = accept\n",
	    "t.conf:1: bare_lf: \"accept\" is neither reject nor "
	    "normalize\n");
	bad_one("message_size_limit = 99999999999999999999999\n",
	    "t.conf:1: message_size_limit: \"99999999999999999999999\": "
	    "number too large\n");
	bad_one("message_size_limit = 9223372036854775807g\n",
	    "t.conf:1: message_size_limit: \"9223372036854775807g\": "
	    "number too large\n");
}

static void
test_bounds(void)
{
	struct config *cfg;

	bad_one("line_length_limit = 999\n",
	    "t.conf:1: line_length_limit: 999 bytes is below the minimum "
	    "of 1000 bytes\n");
	cfg = good("line_length_limit = 1000\nrecipient_limit = 100\n"
	    "segment_size = 1m\n");
	CU_ASSERT_EQUAL(cfg->line_length_limit, 1000);
	CU_ASSERT_EQUAL(cfg->recipient_limit, 100);
	config_free(cfg);
	bad_one("recipient_limit = 99\n",
	    "t.conf:1: recipient_limit: 99 is below the minimum of 100\n");
	bad_one("segment_size = 1048575\n",
	    "t.conf:1: segment_size: 1048575 bytes is below the minimum of "
	    "1048576 bytes\n");
	bad_one("policy_timeout = 2h\n",
	    "t.conf:1: policy_timeout: 7200 seconds is above the maximum "
	    "of 3600 seconds\n");
	bad_one("minimal_backoff = 10m\nmaximal_backoff = 5m\n",
	    "t.conf:2: maximal_backoff (300s) is below minimal_backoff "
	    "(600s)\n");
	/* Against the default maximal_backoff of 4000s. */
	bad_one("minimal_backoff = 2h\n",
	    "t.conf:1: maximal_backoff (4000s) is below minimal_backoff "
	    "(7200s)\n");
}

static void
test_unknown_and_syntax(void)
{
	bad_one("# comment\n\nhop_limit = 5\nno_such_key = 1\n",
	    "t.conf:4: unknown key \"no_such_key\"\n");
	bad_one("Hop_Limit = 5\n", "t.conf:1: unknown key \"Hop_Limit\"\n");
	bad_one("hop_limit 5\n",
	    "t.conf:1: \"hop_limit 5\": expected key = value\n");
	bad_one("= 5\n", "t.conf:1: no key before '='\n");
	bad_one("  hop_limit = 5\n",
	    "t.conf:1: continuation line without a key before it\n");
}

static void
test_duplicate(void)
{
	bad_one("hop_limit = 5\nmail_owner = x\nhop_limit = 6\n",
	    "t.conf:3: duplicate key hop_limit (first set at line 1)\n");
}

static void
test_all_errors_reported(void)
{
	char *errs = bad("a = 1\nhop_limit = x\nb = 2\n"
	    "queue_directory = rel/dir\n");

	CU_ASSERT_STRING_EQUAL(errs,
	    "t.conf:1: unknown key \"a\"\n"
	    "t.conf:2: hop_limit: \"x\": not a number\n"
	    "t.conf:3: unknown key \"b\"\n"
	    "t.conf:4: queue_directory: must be an absolute path\n");
	free(errs);
}

static void
test_continuation(void)
{
	struct config *cfg = good(
	    "mydestination = a.test,\n"
	    "    b.test\n"
	    "# a comment inside\n"
	    "\tC.Test\n"
	    "\n"
	    "hop_limit =\n"
	    "  12\n"
	    "mail_owner = bulwark   \r\n");

	CU_ASSERT_STRING_EQUAL(cfg->mydestination, "a.test, b.test C.Test");
	CU_ASSERT_EQUAL(cfg->nlocal_domains, 3);
	CU_ASSERT_STRING_EQUAL(cfg->local_domains[2], "c.test");
	CU_ASSERT_EQUAL(cfg->hop_limit, 12);
	CU_ASSERT_STRING_EQUAL(cfg->mail_owner, "bulwark");
	config_free(cfg);

	/* An error in a continued line names the line the key is on. */
	bad_one("\nhop_limit =\n 1\n 2\n",
	    "t.conf:2: hop_limit: \"1 2\": not a whole number\n");
}

static void
test_lists(void)
{
	struct config *cfg = good(
	    "relay_domains = Example.COM,,  other.test. ,third.test\n"
	    "trusted_users = root, www-data\n"
	    "mydestination =\n");

	CU_ASSERT_EQUAL(cfg->nrelay_domains, 3);
	CU_ASSERT_STRING_EQUAL(cfg->relay_domain_list[0], "example.com");
	CU_ASSERT_STRING_EQUAL(cfg->relay_domain_list[1], "other.test");
	CU_ASSERT_STRING_EQUAL(cfg->relay_domain_list[2], "third.test");
	CU_ASSERT(config_is_relay_domain(cfg, "EXAMPLE.com"));
	CU_ASSERT(config_is_relay_domain(cfg, "other.test."));
	CU_ASSERT(!config_is_relay_domain(cfg, "sub.other.test"));
	CU_ASSERT(!config_is_relay_domain(cfg, "example.co"));
	CU_ASSERT(!config_is_relay_domain(cfg, ""));
	CU_ASSERT(!config_is_relay_domain(cfg, "."));
	CU_ASSERT_STRING_EQUAL(cfg->trusted_users, "root, www-data");
	CU_ASSERT_EQUAL(cfg->nlocal_domains, 0);
	CU_ASSERT(!config_is_local_domain(cfg, "localhost"));
	config_free(cfg);

	bad_one("mydestination = $myhostname, localhost\n",
	    "t.conf:1: mydestination: \"$myhostname\": values are not "
	    "expanded, name the domain itself\n");
	bad_one("relay_domains = a@b.test\n",
	    "t.conf:1: relay_domains: \"a@b.test\" is not a domain name\n");
}

static void
test_listen(void)
{
	struct config *cfg = good(
	    "inet_interfaces = 127.0.0.1:2525, [::1]:2525 [2001:db8::5]:25\n");
	char *errs, line[4096];
	size_t i;
	int n;

	CU_ASSERT_EQUAL(cfg->nlisten, 3);
	CU_ASSERT_STRING_EQUAL(cfg->listen[0], "127.0.0.1:2525");
	CU_ASSERT_STRING_EQUAL(cfg->listen[1], "[::1]:2525");
	CU_ASSERT_STRING_EQUAL(cfg->listen[2], "[2001:db8::5]:25");
	config_free(cfg);

	cfg = good("inet_interfaces =\n");
	CU_ASSERT_EQUAL(cfg->nlisten, 0);
	config_free(cfg);

	bad_one("inet_interfaces = ::1:25\n", "t.conf:1: inet_interfaces: "
	    "\"::1:25\" is not ipv4:port or [ipv6]:port\n");
	bad_one("inet_interfaces = 127.0.0.1\n", "t.conf:1: inet_interfaces: "
	    "\"127.0.0.1\" is not ipv4:port or [ipv6]:port\n");
	bad_one("inet_interfaces = 127.0.0.1:0\n", "t.conf:1: "
	    "inet_interfaces: \"127.0.0.1:0\" is not ipv4:port or "
	    "[ipv6]:port\n");
	bad_one("inet_interfaces = 127.0.0.1:65536\n", "t.conf:1: "
	    "inet_interfaces: \"127.0.0.1:65536\" is not ipv4:port or "
	    "[ipv6]:port\n");
	/* What the master would listen on (test_master.c) is no error. */
	cfg = good("inet_interfaces = [192.0.2.1]:587\n");
	CU_ASSERT_EQUAL(cfg->nlisten, 1);
	config_free(cfg);
	/* The same socket written twice, one way and the other. */
	bad_one("inet_interfaces = 127.0.0.1:25 [127.0.0.1]:25\n",
	    "t.conf:1: inet_interfaces: [127.0.0.1]:25 is listed twice\n");
	bad_one("inet_interfaces = [::1]25\n", "t.conf:1: "
	    "inet_interfaces: \"[::1]25\" is not ipv4:port or "
	    "[ipv6]:port\n");
	bad_one("inet_interfaces = mail.test:25\n", "t.conf:1: "
	    "inet_interfaces: \"mail.test:25\" is not ipv4:port or "
	    "[ipv6]:port\n");

	/* CONFIG_MAX_LISTEN is the most. */
	n = snprintf(line, sizeof(line), "inet_interfaces =");
	for (i = 0; i < CONFIG_MAX_LISTEN; i++)
		n += snprintf(line + n, sizeof(line) - n, " 127.0.0.1:%zu",
		    1000 + i);
	cfg = good(line);
	CU_ASSERT_EQUAL(cfg->nlisten, CONFIG_MAX_LISTEN);
	config_free(cfg);
	snprintf(line + n, sizeof(line) - n, " 127.0.0.1:999\n");
	errs = bad(line);
	CU_ASSERT_PTR_NOT_NULL(strstr(errs, "inet_interfaces: 17 addresses, "
	    "at most 16"));
	free(errs);
}

static void
test_paths(void)
{
	struct config *cfg = good("queue_directory = /srv/spool\n"
	    "mailbox_base = /srv/mail\n");
	char p[256];

	config_path_control(cfg, p, sizeof(p));
	CU_ASSERT_STRING_EQUAL(p, "/srv/spool/private/control");
	config_path_submit(cfg, p, sizeof(p));
	CU_ASSERT_STRING_EQUAL(p, "/srv/spool/public/submit");
	config_path_showq(cfg, p, sizeof(p));
	CU_ASSERT_STRING_EQUAL(p, "/srv/spool/public/showq");
	config_path_maildrop(cfg, p, sizeof(p));
	CU_ASSERT_STRING_EQUAL(p, "/srv/spool/maildrop");
	CU_ASSERT_STRING_EQUAL(cfg->mailbox_base, "/srv/mail");
	config_free(cfg);

	bad_one("mailbox_base = mail\n",
	    "t.conf:1: mailbox_base: must be an absolute path or empty\n");
	bad_one("queue_directory =\n",
	    "t.conf:1: queue_directory: must be an absolute path\n");
	bad_one("queue_directory = /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	    "t.conf:1: queue_directory: longer than 91 bytes, too long for "
	    "the sockets under it\n");
	/* Text is never expanded. */
	cfg = good("trusted_users = $mail_owner\n");
	CU_ASSERT_STRING_EQUAL(cfg->trusted_users, "$mail_owner");
	config_free(cfg);
}

/* What the policy process and the agents would refuse is refused here. */
static void
test_table_specs(void)
{
	struct config *cfg;

	cfg = good("alias_maps =\nsmtpd_client_access =\n");
	CU_ASSERT_STRING_EQUAL(cfg->alias_maps, "");
	config_free(cfg);
	cfg = good("alias_maps = hash:/etc/aliases\n"
	    "smtpd_client_access = cidr:/etc/bulwark/access\n");
	CU_ASSERT_STRING_EQUAL(cfg->smtpd_client_access,
	    "cidr:/etc/bulwark/access");
	config_free(cfg);

	bad_one("alias_maps = foo:bar\n", "t.conf:1: alias_maps: "
	    "\"foo:bar\": only a hash: table is supported, as "
	    "hash:/path/to/file\n");
	bad_one("\nalias_maps = /etc/aliases\n", "t.conf:2: alias_maps: "
	    "\"/etc/aliases\": only a hash: table is supported, as "
	    "hash:/path/to/file\n");
	bad_one("alias_maps = hash:relative\n", "t.conf:1: alias_maps: "
	    "\"hash:relative\": the file must be an absolute path\n");
	bad_one("alias_maps = hash:$config_directory/aliases\n",
	    "t.conf:1: alias_maps: \"hash:$config_directory/aliases\": the "
	    "file must be an absolute path\n");
	bad_one("alias_maps = hash:/a, hash:/b\n", "t.conf:1: alias_maps: "
	    "\"hash:/a, hash:/b\": only one table is supported\n");
	bad_one("smtpd_client_access = hash:/etc/access\n",
	    "t.conf:1: smtpd_client_access: \"hash:/etc/access\": only a "
	    "cidr: table is supported, as cidr:/path/to/file\n");
	bad_one("smtpd_client_access = cidr:access\n",
	    "t.conf:1: smtpd_client_access: \"cidr:access\": the file must "
	    "be an absolute path\n");
}

static void
test_relayhost_mynetworks(void)
{
	struct config *cfg;

	cfg = good("relayhost = [IPv6:2001:db8::1]:2526\n"
	    "mynetworks = 10.0.0.0/8 [2001:db8::]/32, 192.0.2.7\n");
	config_free(cfg);
	cfg = good("relayhost = 192.0.2.1\nmynetworks =\n");
	config_free(cfg);

	bad_one("\nrelayhost = mail.example.org\n", "t.conf:2: relayhost: "
	    "\"mail.example.org\" is not an address literal such as "
	    "[192.0.2.1]:25\n");
	bad_one("relayhost = [192.0.2.1]:0\n", "t.conf:1: relayhost: "
	    "\"[192.0.2.1]:0\" is not an address literal such as "
	    "[192.0.2.1]:25\n");
	bad_one("hop_limit = 3\nmynetworks = 10.0.0.1/33\n",
	    "t.conf:2: mynetworks: bad prefix length in \"10.0.0.1/33\" "
	    "(0 to 32)\n");
}

static void
test_domain_names(void)
{
	struct config *cfg;
	char *errs;

	cfg = good("myhostname = Mail-1.Example.ORG\n"
	    "mydestination = localhost, xn--bcher-kva.example, 1.test\n"
	    "relay_domains = a.test\n");
	CU_ASSERT_EQUAL(cfg->nlocal_domains, 3);
	config_free(cfg);

	bad_one("mydestination = localhost, bad..domain\n",
	    "t.conf:1: mydestination: \"bad..domain\" is not a domain "
	    "name\n");
	bad_one("relay_domains = -a.test\n",
	    "t.conf:1: relay_domains: \"-a.test\" is not a domain name\n");
	bad_one("relay_domains = a-.test\n",
	    "t.conf:1: relay_domains: \"a-.test\" is not a domain name\n");
	bad_one("relay_domains = under_score.test\n",
	    "t.conf:1: relay_domains: \"under_score.test\" is not a domain "
	    "name\n");
	bad_one("mydestination = .\n",
	    "t.conf:1: mydestination: \".\" is not a domain name\n");
	bad_one("relay_domains = [192.0.2.1]\n",
	    "t.conf:1: relay_domains: \"[192.0.2.1]\" is not a domain "
	    "name\n");
	/* A label of 64 octets is one too many. */
	bad_one("relay_domains = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaa.test\n",
	    "t.conf:1: relay_domains: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaa.test\" is not a domain name\n");
	cfg = good("relay_domains = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaa.test\n");
	config_free(cfg);

	/* myhostname: the default mydestination is built from it. */
	errs = bad("myhostname = bad..host\n");
	CU_ASSERT_PTR_NOT_NULL(strstr(errs, "t.conf:1: myhostname: "
	    "\"bad..host\" is not a domain name\n"));
	free(errs);
	bad_one("myhostname = mail.example.org\nmydestination = x\n"
	    "myorigin = a b\n",
	    "t.conf:3: myorigin: \"a b\" is not a domain name\n");
}

static void
test_myorigin(void)
{
	struct config *cfg;

	cfg = good("myhostname = mx.example.org\n");
	CU_ASSERT_STRING_EQUAL(cfg->myorigin, "mx.example.org");
	config_free(cfg);
	cfg = good("myhostname = mx.example.org\nmyorigin = Example.ORG\n");
	CU_ASSERT_STRING_EQUAL(cfg->myorigin, "Example.ORG");
	CU_ASSERT_STRING_EQUAL(cfg->myhostname, "mx.example.org");
	config_free(cfg);
}

/* Checks made after the whole file is read know each key's line. */
static void
test_key_lines(void)
{
	struct config *cfg = good("# c\nhop_limit = 3\n\nrelayhost =\n"
	    "  [192.0.2.1]:25\n");
	char where[256];

	CU_ASSERT_EQUAL(config_key_line(cfg, "hop_limit"), 2);
	CU_ASSERT_EQUAL(config_key_line(cfg, "relayhost"), 4);
	CU_ASSERT_EQUAL(config_key_line(cfg, "mynetworks"), 0);
	CU_ASSERT_EQUAL(config_key_line(cfg, "no_such_key"), 0);
	config_where(cfg, "relayhost", where, sizeof(where));
	CU_ASSERT_STRING_EQUAL(where, "t.conf:4");
	config_where(cfg, "mynetworks", where, sizeof(where));
	CU_ASSERT_STRING_EQUAL(where, "t.conf");
	config_free(cfg);

	bad_one("inet_interfaces = 127.0.0.1:25 127.0.0.1:25\n",
	    "t.conf:1: inet_interfaces: 127.0.0.1:25 is listed twice\n");
}

/*
 * config_dump()'s output into a temporary file; its path in path, its
 * text returned (the caller frees it and unlinks path).
 */
static char *
dump(const struct config *cfg, char *path, size_t pathlen)
{
	char *text, *errs = NULL;
	FILE *f;
	int fd, saved;

	CU_ASSERT_FATAL((fd = unit_tmpfile(path, pathlen, "config")) != -1);
	CU_ASSERT_FATAL((f = fdopen(fd, "w")) != NULL);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	CU_ASSERT_FATAL(dup2(fd, STDOUT_FILENO) != -1);
	config_dump(cfg);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	fclose(f);
	text = config_read_file(path, &errs);
	free(errs);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	return text;
}

/* config_dump's output parses back to the same values. */
static void
test_dump_round_trip(void)
{
	struct config *cfg, *again;
	char path[64], *text, *errs;

	cfg = good("myhostname = mx.test\nsegment_size = 1m\n"
	    "bare_lf = normalize\nqueue_lifetime = 1w\n"
	    "inet_interfaces = [::1]:25\n");
	text = dump(cfg, path, sizeof(path));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "myhostname = mx.test\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "segment_size = 1048576\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "queue_lifetime = 604800s\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "bare_lf = normalize\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "smtp_data_done_timeout = 600s"));
	CU_ASSERT_EQUAL(strncmp(text, "myhostname = ", 13), 0);
	again = config_load(path, &errs);
	CU_ASSERT_PTR_NOT_NULL_FATAL(again);
	CU_ASSERT_EQUAL(again->segment_size, cfg->segment_size);
	CU_ASSERT_EQUAL(again->queue_lifetime, cfg->queue_lifetime);
	CU_ASSERT_EQUAL(again->bare_lf, BARE_LF_NORMALIZE);
	CU_ASSERT_STRING_EQUAL(again->mydestination, cfg->mydestination);
	CU_ASSERT_STRING_EQUAL(again->listen[0], "[::1]:25");
	config_free(again);
	config_free(cfg);
	free(text);
	unlink(path);
}

static void
test_read_file_errors(void)
{
	char *errs = NULL;

	CU_ASSERT_PTR_NULL(config_load("/nonexistent/bulwark.conf", &errs));
	CU_ASSERT_PTR_NOT_NULL_FATAL(errs);
	CU_ASSERT_STRING_EQUAL(errs,
	    "/nonexistent/bulwark.conf: No such file or directory\n");
	free(errs);
	errs = NULL;
	CU_ASSERT_PTR_NULL(config_read_file("/tmp", &errs));
	CU_ASSERT_PTR_NOT_NULL_FATAL(errs);
	CU_ASSERT_STRING_EQUAL(errs, "/tmp: is a directory\n");
	free(errs);
}

/*
 * A dump without the keys whose default comes from the host name, which
 * the reference file can only show by example.
 */
static char *
dump_portable(const struct config *cfg)
{
	static const char *host[] = {
		"myhostname = ", "myorigin = ", "mydestination = ",
	};
	char path[64], *text, *line, *next, *out;
	size_t i, n = 0;

	text = dump(cfg, path, sizeof(path));
	unlink(path);
	out = calloc(1, strlen(text) + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	for (line = text; *line != '\0'; line = next) {
		next = line + strcspn(line, "\n");
		if (*next == '\n')
			next++;
		for (i = 0; i < sizeof(host) / sizeof(host[0]); i++)
			if (strncmp(line, host[i], strlen(host[i])) == 0)
				break;
		if (i < sizeof(host) / sizeof(host[0]))
			continue;
		memcpy(out + n, line, (size_t)(next - line));
		n += (size_t)(next - line);
	}
	free(text);
	return out;
}

/*
 * The reference file lists every key at its default: uncommented, it
 * parses, sets each key once, and matches the built-in defaults, every
 * key but those derived from the host name.
 */
static void
test_reference_file(void)
{
	struct config *cfg, *def;
	char *text, *errs = NULL, *p, *got, *want;
	int nkeys = 0;

	if ((text = config_read_file("etc/bulwark.conf", &errs)) == NULL) {
		free(errs);
		text = config_read_file("../etc/bulwark.conf", &errs);
	}
	if (text == NULL)
		fprintf(stderr, "%s", errs);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	for (p = text; (p = strstr(p, "\n#")) != NULL; p++) {
		if (p[2] >= 'a' && p[2] <= 'z' && strchr(p + 1, '=') != NULL &&
		    strchr(p + 1, '=') < strchr(p + 1, '\n')) {
			p[1] = '\n';
			nkeys++;
		}
	}
	cfg = good(text);
	def = good("");
	CU_ASSERT_EQUAL(nkeys, 57);
	got = dump_portable(cfg);
	want = dump_portable(def);
	if (strcmp(got, want) != 0)
		fprintf(stderr, "\nreference file:\n%sdefaults:\n%s", got,
		    want);
	CU_ASSERT_STRING_EQUAL(got, want);
	/* Every key but the three host-derived ones is compared. */
	for (nkeys = 0, p = want; (p = strchr(p, '\n')) != NULL; p++)
		nkeys++;
	CU_ASSERT_EQUAL(nkeys, 57 - 3);
	free(got);
	free(want);
	config_free(def);
	config_free(cfg);
	free(text);
}

/* trusted_users is split once; root is trusted whatever it says. */
static void
test_trusted_users(void)
{
	struct config *cfg;

	cfg = good("trusted_users = www-data,  backup\tdaemon\n");
	CU_ASSERT_EQUAL(cfg->ntrusted_users, 3);
	CU_ASSERT(config_trusted_user(cfg, 33, "www-data"));
	CU_ASSERT(config_trusted_user(cfg, 1, "daemon"));
	CU_ASSERT(config_trusted_user(cfg, 0, "toor"));
	CU_ASSERT(!config_trusted_user(cfg, 1000, "www"));
	CU_ASSERT(!config_trusted_user(cfg, 1000, "www-data,"));
	CU_ASSERT(!config_trusted_user(cfg, 1000, "root"));
	CU_ASSERT(!config_trusted_user(cfg, 1000, ""));
	config_free(cfg);

	cfg = good("");
	CU_ASSERT(config_trusted_user(cfg, 1000, "root"));
	CU_ASSERT(!config_trusted_user(cfg, 1000, "alice"));
	config_free(cfg);
	cfg = good("trusted_users =\n");
	CU_ASSERT_EQUAL(cfg->ntrusted_users, 0);
	CU_ASSERT(!config_trusted_user(cfg, 1000, "root"));
	config_free(cfg);
}

/* <login>@myorigin, checked: a login that makes no address gets none. */
static void
test_local_sender(void)
{
	struct config *cfg;
	char out[300];

	cfg = good("myhostname = mx.example.test\nmyorigin = Origin.TEST\n");
	CU_ASSERT_EQUAL(config_local_sender(cfg, "alice", out, sizeof(out)),
	    0);
	CU_ASSERT_STRING_EQUAL(out, "alice@Origin.TEST");
	CU_ASSERT_EQUAL(config_local_sender(cfg, "a b", out, sizeof(out)),
	    -1);
	CU_ASSERT_EQUAL(config_local_sender(cfg, "a>b", out, sizeof(out)),
	    -1);
	CU_ASSERT_EQUAL(config_local_sender(cfg, "", out, sizeof(out)), -1);
	CU_ASSERT_EQUAL(config_local_sender(cfg, "alice", out, 10), -1);
	CU_ASSERT_EQUAL(config_local_sender(cfg, "aaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", out, sizeof(out)), -1);
	config_free(cfg);
}

static CU_TestInfo tests[] = {
	{ "defaults", test_defaults },
	{ "mydestination default", test_mydestination_default },
	{ "types", test_types },
	{ "size suffixes", test_size_suffixes },
	{ "duration suffixes", test_duration_suffixes },
	{ "bad values", test_bad_values },
	{ "bounds", test_bounds },
	{ "unknown key and syntax", test_unknown_and_syntax },
	{ "duplicate key", test_duplicate },
	{ "all errors reported", test_all_errors_reported },
	{ "continuation lines", test_continuation },
	{ "lists", test_lists },
	{ "inet_interfaces", test_listen },
	{ "paths", test_paths },
	{ "dump round trip", test_dump_round_trip },
	{ "read file errors", test_read_file_errors },
	{ "reference file", test_reference_file },
	{ "table settings", test_table_specs },
	{ "relayhost and mynetworks", test_relayhost_mynetworks },
	{ "domain names", test_domain_names },
	{ "myorigin", test_myorigin },
	{ "key lines", test_key_lines },
	{ "trusted users", test_trusted_users },
	{ "local sender", test_local_sender },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("config", tests)
