/*
 * The admission table: what smtpd remembers of its clients, in one hash
 * by client address and by client prefix: open sessions, connection-rate
 * buckets, and for an address the time until which its pass of the
 * pre-greet test holds and until which it counts as a known good
 * client.  An entry lives while it counts a session, its bucket is not
 * yet full again, or its pass or good name holds, so the table follows
 * recent clients, not every client ever seen.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "xmalloc.h"

#include "smtpd/admission.h"

struct admit_entry {
	struct admit_entry	*next;
	struct admit_key	 key;
	int64_t			 count;		/* sessions open */
	int64_t			 rate;		/* per minute, 0: no bucket */
	double			 tokens;	/* connections it may open */
	uint64_t		 stamp_ms;	/* when tokens was right */
	uint64_t		 until_ms[ADMIT_NMEMORIES]; /* what it holds */
};

struct admission {
	struct admit_entry	**bucket;
	size_t			 nbuckets;	/* a power of two */
	size_t			 nentries;
};

#define ADMIT_MIN_BUCKETS	256
/*
 * Entries kept for what they remember (a bucket filling, a pass, a good
 * name) with no session: past this many the table forgets instead, so a
 * flood from ever new addresses cannot grow it without end (about 100
 * bytes an entry).
 */
#define ADMIT_REMEMBER_MAX	100000

struct admission *
admission_new(void)
{
	struct admission *a = xcalloc(1, sizeof(*a));

	a->nbuckets = ADMIT_MIN_BUCKETS;
	a->bucket = xcalloc(a->nbuckets, sizeof(*a->bucket));
	return a;
}

void
admission_free(struct admission *a)
{
	struct admit_entry *e, *next;
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nbuckets; i++)
		for (e = a->bucket[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	free(a->bucket);
	free(a);
}

/* FNV-1a over the key's family, length and bytes. */
static uint64_t
key_hash(const struct admit_key *k)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	h = (h ^ k->family) * 1099511628211ULL;
	h = (h ^ k->is_prefix) * 1099511628211ULL;
	h = (h ^ k->plen) * 1099511628211ULL;
	for (i = 0; i < sizeof(k->bytes); i++)
		h = (h ^ k->bytes[i]) * 1099511628211ULL;
	return h;
}

static int
key_equal(const struct admit_key *x, const struct admit_key *y)
{
	return x->family == y->family && x->is_prefix == y->is_prefix &&
	    x->plen == y->plen &&
	    memcmp(x->bytes, y->bytes, sizeof(x->bytes)) == 0;
}

static struct admit_entry **
find_slot(const struct admission *a, const struct admit_key *k)
{
	struct admit_entry **p;

	p = &a->bucket[key_hash(k) & (a->nbuckets - 1)];
	while (*p != NULL && !key_equal(&(*p)->key, k))
		p = &(*p)->next;
	return p;
}

static void
rehash(struct admission *a, size_t nbuckets)
{
	struct admit_entry **old = a->bucket, *e, *next;
	size_t i, n = a->nbuckets, b;

	a->bucket = xcalloc(nbuckets, sizeof(*a->bucket));
	a->nbuckets = nbuckets;
	for (i = 0; i < n; i++)
		for (e = old[i]; e != NULL; e = next) {
			next = e->next;
			b = key_hash(&e->key) & (nbuckets - 1);
			e->next = a->bucket[b];
			a->bucket[b] = e;
		}
	free(old);
}

int64_t
admission_count(const struct admission *a, const struct admit_key *k)
{
	struct admit_entry *e = *find_slot(a, k);

	return e != NULL ? e->count : 0;
}

size_t
admission_entries(const struct admission *a)
{
	return a->nentries;
}

size_t
admission_bytes(const struct admission *a)
{
	return a->nentries * sizeof(struct admit_entry) +
	    a->nbuckets * sizeof(*a->bucket);
}

/*
 * Bring a bucket up to now: it fills at rate tokens a minute up to rate
 * (a minute's worth may come at once).  A bucket from a reload with a
 * lower rate is cut down to it.
 */
static void
refill(struct admit_entry *e, uint64_t now_ms)
{
	double cap = (double)e->rate;

	if (now_ms > e->stamp_ms)
		e->tokens += (double)(now_ms - e->stamp_ms) * cap / 60000.0;
	e->stamp_ms = now_ms;
	if (e->tokens > cap)
		e->tokens = cap;
}

/* Bring e's bucket to now under rate, which a reload may have changed. */
static void
bucket_update(struct admit_entry *e, int64_t rate, uint64_t now_ms)
{
	if (rate < 0)
		rate = 0;
	refill(e, now_ms);
	if (rate == e->rate)
		return;
	/* A bucket that starts now starts full. */
	if (e->rate == 0 || e->tokens > (double)rate)
		e->tokens = (double)rate;
	e->rate = rate;
}

/* May one more connection come from e's client now? */
static int
bucket_allows(struct admit_entry *e, int64_t rate, uint64_t now_ms)
{
	if (e == NULL || rate <= 0)
		return 1;
	bucket_update(e, rate, now_ms);
	return e->tokens >= 1.0;
}

/* An entry is needed no more: no session, no pass, a full bucket. */
static int
entry_idle(struct admit_entry *e, uint64_t now_ms)
{
	int m;

	if (e->count > 0)
		return 0;
	for (m = 0; m < ADMIT_NMEMORIES; m++)
		if (e->until_ms[m] > now_ms)
			return 0;
	if (e->rate <= 0)
		return 1;
	refill(e, now_ms);
	return e->tokens >= (double)e->rate;
}

static void
entry_remove(struct admission *a, struct admit_entry **p)
{
	struct admit_entry *e = *p;

	*p = e->next;
	free(e);
	a->nentries--;
}

/* Shrink after a flood, but not below the start. */
static void
maybe_shrink(struct admission *a)
{
	if (a->nbuckets > ADMIT_MIN_BUCKETS && a->nentries < a->nbuckets / 8)
		rehash(a, a->nbuckets / 2);
}

/* k's entry, made (with a full bucket at rate) if there is none. */
static struct admit_entry *
entry_get(struct admission *a, const struct admit_key *k, int64_t rate,
    uint64_t now_ms)
{
	struct admit_entry **p = find_slot(a, k), *e = *p;

	if (e != NULL)
		return e;
	e = xcalloc(1, sizeof(*e));
	e->key = *k;
	e->rate = rate > 0 ? rate : 0;
	e->tokens = (double)e->rate;
	e->stamp_ms = now_ms;
	*p = e;
	if (++a->nentries > a->nbuckets)
		rehash(a, a->nbuckets * 2);
	return e;
}

/* One more session for k, and one token from its bucket. */
static void
take(struct admission *a, const struct admit_key *k, int64_t rate,
    uint64_t now_ms)
{
	struct admit_entry *e = entry_get(a, k, rate, now_ms);

	bucket_update(e, rate, now_ms);
	e->count++;
	if (e->rate > 0)
		e->tokens -= 1.0;
}

static void
give_back(struct admission *a, const struct admit_key *k, uint64_t now_ms)
{
	struct admit_entry **p = find_slot(a, k), *e = *p;

	if (e == NULL)
		return;
	if (e->count > 0)
		e->count--;
	if (entry_idle(e, now_ms) ||
	    (e->count == 0 && a->nentries > ADMIT_REMEMBER_MAX)) {
		entry_remove(a, p);
		maybe_shrink(a);
	}
}

void
admission_sweep(struct admission *a, uint64_t now_ms)
{
	struct admit_entry **p;
	size_t i;

	for (i = 0; i < a->nbuckets; i++)
		for (p = &a->bucket[i]; *p != NULL; )
			if (entry_idle(*p, now_ms))
				entry_remove(a, p);
			else
				p = &(*p)->next;
	maybe_shrink(a);
}

int
admission_key(const struct sockaddr *sa, int plen, struct admit_key *k)
{
	const struct sockaddr_in6 *s6;
	const struct sockaddr_in *s4;
	const uint8_t *src;
	int full, i;

	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		s4 = (const struct sockaddr_in *)(const void *)sa;
		src = (const uint8_t *)&s4->sin_addr;
		k->family = AF_INET;
		full = 32;
	} else if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		src = s6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			/* The same client as over IPv4. */
			src += 12;
			k->family = AF_INET;
			full = 32;
		} else {
			k->family = AF_INET6;
			full = 128;
		}
	} else
		return -1;
	k->is_prefix = plen > 0;
	if (plen <= 0 || plen > full)
		plen = full;
	k->plen = (uint8_t)plen;
	memcpy(k->bytes, src, (size_t)full / 8);
	for (i = plen; i < full; i++)
		k->bytes[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	return 0;
}

void
admission_key_text(const struct admit_key *k, char *out, size_t len)
{
	char addr[INET6_ADDRSTRLEN];

	if (inet_ntop(k->family, k->bytes, addr, sizeof(addr)) == NULL)
		snprintf(addr, sizeof(addr), "?");
	snprintf(out, len, "%s/%u", addr, (unsigned)k->plen);
}

void
admission_limits(const struct config *cfg, struct admit_limits *lim)
{
	lim->per_address = cfg->client_connection_limit;
	lim->per_prefix = cfg->prefix_connection_limit;
	lim->rate_address = cfg->client_connection_rate;
	lim->rate_prefix = cfg->prefix_connection_rate;
	lim->v4_prefix = (int)cfg->ipv4_prefix_length;
	lim->v6_prefix = (int)cfg->ipv6_prefix_length;
}

enum admit_verdict
admission_enter(struct admission *a, const struct sockaddr *sa,
    const struct admit_limits *lim, int exempt, uint64_t now_ms,
    struct admit_ticket *t)
{
	struct admit_key addr, prefix;
	int plen;

	memset(t, 0, sizeof(*t));
	if (exempt || admission_key(sa, 0, &addr) != 0)
		return ADMIT_OK;
	plen = addr.family == AF_INET ? lim->v4_prefix : lim->v6_prefix;
	admission_key(sa, plen, &prefix);
	t->address = addr;
	t->prefix = prefix;
	if (admission_count(a, &addr) >= lim->per_address)
		return ADMIT_ADDRESS;
	if (admission_count(a, &prefix) >= lim->per_prefix)
		return ADMIT_PREFIX;
	/* A refused attempt takes no token: the bucket refills meanwhile. */
	if (!bucket_allows(*find_slot(a, &addr), lim->rate_address, now_ms))
		return ADMIT_ADDRESS_RATE;
	if (!bucket_allows(*find_slot(a, &prefix), lim->rate_prefix, now_ms))
		return ADMIT_PREFIX_RATE;
	take(a, &addr, lim->rate_address, now_ms);
	take(a, &prefix, lim->rate_prefix, now_ms);
	t->counted = 1;
	return ADMIT_OK;
}

/* addr's entry to remember something in, or NULL when the table is full. */
static struct admit_entry *
entry_to_remember(struct admission *a, const struct admit_key *addr,
    uint64_t now_ms)
{
	struct admit_entry *e = *find_slot(a, addr);

	if (e == NULL && a->nentries >= ADMIT_REMEMBER_MAX)
		return NULL;
	return entry_get(a, addr, 0, now_ms);
}

void
admission_remember(struct admission *a, const struct admit_key *addr,
    enum admit_memory m, uint64_t now_ms, uint64_t until_ms)
{
	struct admit_entry *e = entry_to_remember(a, addr, now_ms);

	if (e != NULL && until_ms > e->until_ms[m])
		e->until_ms[m] = until_ms;
}

int
admission_remembers(const struct admission *a, const struct admit_key *addr,
    enum admit_memory m, uint64_t now_ms)
{
	struct admit_entry *e = *find_slot(a, addr);

	return e != NULL && e->until_ms[m] > now_ms;
}

void
admission_leave(struct admission *a, struct admit_ticket *t,
    uint64_t now_ms)
{
	if (!t->counted)
		return;
	give_back(a, &t->address, now_ms);
	give_back(a, &t->prefix, now_ms);
	t->counted = 0;
}
