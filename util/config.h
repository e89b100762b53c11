/*
 * The configuration: one "key = value" file.  Every key lives in one typed
 * table (name, type, default, bounds); the parser reports every error as
 * "file:line: reason" and refuses the file if there was any.
 */
#ifndef BULWARK_CONFIG_H
#define BULWARK_CONFIG_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

/* The Makefile passes ./configure's --sysconfdir as CONFIG_SYSCONF. */
#ifndef CONFIG_SYSCONF
#define CONFIG_SYSCONF		"/etc/bulwark"
#endif
#define CONFIG_DEFAULT_PATH	CONFIG_SYSCONF "/bulwark.conf"
#define CONFIG_MAX_LISTEN	16

enum bare_lf_mode {
	BARE_LF_REJECT = 0,	/* refuse the message at end of data */
	BARE_LF_NORMALIZE,	/* store the line ending as CRLF */
};

struct config {
	char	*path;			/* file it came from */

	/* identity */
	char	*myhostname;		/* default: gethostname() */
	char	*myorigin;		/* local senders' domain: myhostname */
	char	*mail_owner;		/* unprivileged user, "bulwark" */

	/* where things live */
	char	*queue_directory;	/* spool: log segments, sockets */
	char	*mailbox_base;		/* virtual Maildirs; "": users */
	char	*alias_maps;		/* "hash:/etc/aliases" or "" */

	/* addresses */
	char	*inet_interfaces;	/* "127.0.0.1:2525, [::1]:2525" */
	char	*mydestination;		/* local domains, comma/space list */
	char	*mynetworks;		/* CIDR list allowed to relay */
	char	*relay_domains;		/* other domains we relay for anyone */
	char	*relayhost;		/* "[ip]:port" or "" */
	char	*smtpd_client_access;	/* "cidr:/path" or "" */
	char	*trusted_users;		/* may set the sender with -f */

	/* SMTP server limits */
	int64_t	message_size_limit;	/* bytes; advertised in SIZE */
	int64_t	line_length_limit;	/* longest text line kept */
	int64_t	recipient_limit;	/* per message, >= 100 */
	int64_t	hop_limit;		/* Received: headers allowed */
	int64_t	connection_limit;	/* total sessions */
	int64_t	client_connection_limit; /* sessions per client address */
	int64_t	prefix_connection_limit; /* sessions per client prefix */
	int64_t	ipv4_prefix_length;	/* bits of an IPv4 client prefix */
	int64_t	ipv6_prefix_length;	/* bits of an IPv6 client prefix */
	int64_t	client_connection_rate;	/* a minute per address, 0: off */
	int64_t	prefix_connection_rate;	/* a minute per prefix, 0: off */
	int64_t	pregreet_delay;		/* seconds before the banner, 0: off */
	int64_t	pregreet_pass_time;	/* seconds a pass is remembered */
	int64_t	smtpd_error_delay;	/* seconds per error in a row */
	int64_t	tarpit_fill_limit;	/* percent of connection_limit */
	int64_t	smtpd_session_lifetime;	/* seconds a session may last */
	int64_t	smtpd_min_data_rate;	/* bytes a second in DATA, 0: off */
	int64_t	overload_fill_limit;	/* percent: deadlines shrink */
	int64_t	overload_deadline_percent; /* what is left of each */
	int64_t	good_client_reserve;	/* percent kept for good clients */
	int64_t	good_client_time;	/* seconds a delivery makes one */
	int64_t	smtpd_memory_budget;	/* bytes smtpd holds for clients */
	int	bare_lf;		/* enum bare_lf_mode */
	int64_t	smtpd_timeout;		/* seconds waiting for a command */
	int64_t	smtpd_data_timeout;	/* seconds between DATA reads */
	int64_t	policy_timeout;		/* seconds before 451 4.3.0 */

	/* queue */
	int64_t	segment_size;		/* bytes per log segment */
	int64_t	cold_segment_size;	/* ... of the cold log */
	int64_t	queue_message_limit;	/* messages queued, then 452 */
	int64_t	queue_size_limit;	/* their content bytes, then 452 */
	int64_t	queue_lifetime;		/* seconds before a bounce */
	int64_t	minimal_backoff;	/* seconds, first retry delay */
	int64_t	maximal_backoff;	/* seconds, longest retry delay */
	int64_t	delivery_concurrency;	/* jobs in flight per agent */

	/* SMTP client timeouts, RFC 5321 section 4.5.3.2 */
	int64_t	smtp_connect_timeout;
	int64_t	smtp_greeting_timeout;	/* initial 220: 5 min */
	int64_t	smtp_mail_timeout;	/* MAIL: 5 min */
	int64_t	smtp_rcpt_timeout;	/* RCPT: 5 min */
	int64_t	smtp_data_init_timeout;	/* DATA 354: 2 min */
	int64_t	smtp_data_block_timeout; /* each write: 3 min */
	int64_t	smtp_data_done_timeout;	/* final 250: 10 min */

	/* SMTP client connection cache */
	int64_t	smtp_connection_cache_time_limit; /* idle, then QUIT */
	int64_t	smtp_connection_reuse_time_limit; /* age, then no reuse */
	int64_t	smtp_connection_reuse_count_limit; /* 0: unlimited */

	/* parsed forms of the lists above */
	char	*listen[CONFIG_MAX_LISTEN];	/* "addr:port" strings */
	size_t	 nlisten;
	char	**local_domains;	/* lower case */
	size_t	 nlocal_domains;
	char	**relay_domain_list;	/* lower case */
	size_t	 nrelay_domains;
	char	**trusted_user_list;	/* login names */
	size_t	 ntrusted_users;
	int	*key_lines;		/* where each key was set, 0: default */
};

/*
 * Parse text (the file's contents) named path.  Returns NULL and writes
 * every error, one per line, to errs (malloc'd) on failure.
 */
struct config	*config_parse(const char *path, const char *text,
		    char **errs);
/* Read and parse a file; same error convention. */
struct config	*config_load(const char *path, char **errs);
void		 config_free(struct config *);
/* Print the effective configuration, every key, to stdout. */
void		 config_dump(const struct config *);
int		 config_is_local_domain(const struct config *, const char *);
int		 config_is_relay_domain(const struct config *, const char *);
/* May this local user choose the sender?  Root, and trusted_users. */
int		 config_trusted_user(const struct config *, uid_t,
		    const char *login);
/*
 * The sender of a local user who may not choose one: <login>@myorigin,
 * checked with the address grammar and written as "login@origin" into
 * out.  0, or -1 when login makes no valid address or out is too small.
 */
int		 config_local_sender(const struct config *, const char *login,
		    char *out, size_t outlen);
/* The line that set key, or 0 for a default (and an unknown key). */
int		 config_key_line(const struct config *, const char *key);
/* "file:line" for key's setting, or "file" for a default. */
void		 config_where(const struct config *, const char *key,
		    char *out, size_t outlen);
/* Read a whole file into a malloc'd NUL-terminated string. */
char		*config_read_file(const char *path, char **errs);

/* Paths derived from queue_directory, written into out. */
void	config_path_control(const struct config *, char *out, size_t len);
void	config_path_submit(const struct config *, char *out, size_t len);
void	config_path_showq(const struct config *, char *out, size_t len);
void	config_path_maildrop(const struct config *, char *out, size_t len);

#endif
