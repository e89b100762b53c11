/*
 * Queue ids.  The value is the time in microseconds since 2024-01-01
 * UTC shifted left by 10 bits, so that 1024 ids fit in one microsecond;
 * when the clock stands still or goes back, the next id is the last one
 * plus one, which carries into the time bits and keeps the order.  The
 * text form is 12 Crockford base32 digits, most significant first: the
 * alphabet is in ASCII order, so ids sort as strings by arrival.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "qid.h"

#define QID_EPOCH	1704067200LL	/* 2024-01-01T00:00:00Z */
#define QID_BITS	60
#define QID_MASK	((UINT64_C(1) << QID_BITS) - 1)

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static uint64_t
now_value(void)
{
	struct timespec ts;
	int64_t usec;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return 0;
	usec = ((int64_t)ts.tv_sec - QID_EPOCH) * 1000000 +
	    ts.tv_nsec / 1000;
	if (usec < 0)
		return 0;	/* a clock before the epoch: counter only */
	return ((uint64_t)usec << 10) & QID_MASK;
}

uint64_t
qid_next(struct qid_gen *g)
{
	uint64_t v = now_value();

	if (v <= g->last)
		v = g->last + 1;
	g->last = v;
	return v;
}

void
qid_seen(struct qid_gen *g, uint64_t id)
{
	if (id > g->last)
		g->last = id;
}

void
qid_format(uint64_t id, char out[QID_LEN + 1])
{
	int i;

	for (i = QID_LEN - 1; i >= 0; i--) {
		out[i] = alphabet[id & 31];
		id >>= 5;
	}
	out[QID_LEN] = '\0';
}

int
qid_parse(const char *s, uint64_t *id)
{
	const char *p;
	uint64_t v = 0;
	int i;

	for (i = 0; i < QID_LEN; i++) {
		if (s[i] == '\0' ||
		    (p = memchr(alphabet, s[i], sizeof(alphabet) - 1)) ==
		    NULL)
			return -1;
		v = v << 5 | (uint64_t)(p - alphabet);
	}
	if (s[QID_LEN] != '\0')
		return -1;
	*id = v;
	return 0;
}
