/*
 * Admission: what smtpd knows of each client address and prefix (open
 * sessions, connection rate, a pre-greet pass, a good name) and whether
 * one more session may start.  smtpd asks before it greets anyone, in
 * its own loop; a refused client costs one reply.
 */
#ifndef BULWARK_ADMISSION_H
#define BULWARK_ADMISSION_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

/* An address or a prefix, its bits past plen zeroed. */
struct admit_key {
	uint8_t		family;		/* AF_INET or AF_INET6 */
	uint8_t		is_prefix;	/* a /32 prefix is not the address */
	uint8_t		plen;
	uint8_t		bytes[16];
};

struct admit_limits {
	int64_t		per_address;	/* client_connection_limit */
	int64_t		per_prefix;	/* prefix_connection_limit */
	int64_t		rate_address;	/* client_connection_rate, 0: off */
	int64_t		rate_prefix;	/* prefix_connection_rate, 0: off */
	int		v4_prefix;	/* ipv4_prefix_length */
	int		v6_prefix;	/* ipv6_prefix_length */
};

enum admit_verdict {
	ADMIT_OK,
	ADMIT_ADDRESS,		/* the address holds per_address */
	ADMIT_PREFIX,		/* its prefix holds per_prefix */
	ADMIT_ADDRESS_RATE,	/* the address came rate_address times */
	ADMIT_PREFIX_RATE,	/* its prefix came rate_prefix times */
};

/* What an admitted session holds, to give back when it ends. */
struct admit_ticket {
	int		counted;	/* 0: exempt, or nothing to count */
	struct admit_key address;
	struct admit_key prefix;
};

struct admission;
struct config;

struct admission	*admission_new(void);
void			 admission_free(struct admission *);

/*
 * Admit a client from sa under lim at now_ms (a monotonic clock), or
 * say which limit it is over.  The rates are connections a minute, each
 * a token bucket holding up to a minute's worth.  An exempt client
 * (mynetworks) and a local one (AF_UNIX) are admitted and not counted,
 * with an empty ticket; otherwise the ticket names the address and the
 * prefix, and on ADMIT_OK it must go to admission_leave.
 */
enum admit_verdict	 admission_enter(struct admission *,
			    const struct sockaddr *,
			    const struct admit_limits *, int exempt,
			    uint64_t now_ms, struct admit_ticket *);
void			 admission_leave(struct admission *,
			    struct admit_ticket *, uint64_t now_ms);
/*
 * What smtpd remembers of a client address between its sessions, each
 * until a time: that it passed the pre-greet test, and that it got a
 * message queued (a known good client, who may take the share of the
 * session table kept for such clients).
 */
enum admit_memory {
	ADMIT_PASSED,
	ADMIT_GOOD,
	ADMIT_NMEMORIES
};

void			 admission_remember(struct admission *,
			    const struct admit_key *addr, enum admit_memory,
			    uint64_t now_ms, uint64_t until_ms);
/* Does that memory of addr (a ticket's address) hold at now_ms? */
int			 admission_remembers(const struct admission *,
			    const struct admit_key *addr, enum admit_memory,
			    uint64_t now_ms);
/* The limits a configuration sets. */
void			 admission_limits(const struct config *,
			    struct admit_limits *);
/* Forget clients with no session whose buckets have filled again. */
void			 admission_sweep(struct admission *, uint64_t now_ms);

/* Sessions counted against an address or prefix (for tests). */
int64_t			 admission_count(const struct admission *,
			    const struct admit_key *);
/*
 * Entries held: one per address and per prefix with a session, a
 * bucket still filling, or a pre-greet pass or good name that holds
 * (those with no session up to a bound, then forgotten).
 */
size_t			 admission_entries(const struct admission *);
/* The table's memory, for smtpd's budget. */
size_t			 admission_bytes(const struct admission *);
/* "a.b.c.d/n" or "x:y::/n" for the log. */
void			 admission_key_text(const struct admit_key *,
			    char *, size_t);
/* The key of sa's address (plen 0) or of its prefix of plen bits. */
int			 admission_key(const struct sockaddr *, int plen,
			    struct admit_key *);

#endif
