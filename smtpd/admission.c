/*
 * The admission table: a hash of live session counts by client address
 * and by client prefix.  An entry exists only while it counts a session,
 * so the table's size follows the sessions, not the clients ever seen.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#include "smtpd/admission.h"

struct admit_entry {
	struct admit_entry	*next;
	struct admit_key	 key;
	int64_t			 count;
};

struct admission {
	struct admit_entry	**bucket;
	size_t			 nbuckets;	/* a power of two */
	size_t			 nentries;
};

#define ADMIT_MIN_BUCKETS	256

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

static void
count_up(struct admission *a, const struct admit_key *k)
{
	struct admit_entry **p = find_slot(a, k), *e;

	if (*p != NULL) {
		(*p)->count++;
		return;
	}
	e = xcalloc(1, sizeof(*e));
	e->key = *k;
	e->count = 1;
	*p = e;
	if (++a->nentries > a->nbuckets)
		rehash(a, a->nbuckets * 2);
}

static void
count_down(struct admission *a, const struct admit_key *k)
{
	struct admit_entry **p = find_slot(a, k), *e = *p;

	if (e == NULL)
		return;
	if (--e->count > 0)
		return;
	*p = e->next;
	free(e);
	a->nentries--;
	/* Shrink after a flood, but not below the start. */
	if (a->nbuckets > ADMIT_MIN_BUCKETS && a->nentries < a->nbuckets / 8)
		rehash(a, a->nbuckets / 2);
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

enum admit_verdict
admission_enter(struct admission *a, const struct sockaddr *sa,
    const struct admit_limits *lim, int exempt, struct admit_ticket *t)
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
	count_up(a, &addr);
	count_up(a, &prefix);
	t->counted = 1;
	return ADMIT_OK;
}

void
admission_leave(struct admission *a, struct admit_ticket *t)
{
	if (!t->counted)
		return;
	count_down(a, &t->address);
	count_down(a, &t->prefix);
	t->counted = 0;
}
