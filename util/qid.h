/*
 * Queue ids: 12 characters of Crockford base32, encoding microseconds
 * since 2024-01-01 (50 bits) and a 10-bit counter, so that ids are unique,
 * short, and sort by arrival as plain strings.
 */
#ifndef BULWARK_QID_H
#define BULWARK_QID_H

#include <stdint.h>

#define QID_LEN	12

struct qid_gen {
	uint64_t	last;
};

/* Next id, strictly greater than every id given before or seen. */
uint64_t	qid_next(struct qid_gen *);
/* Recovery: ids must stay above this one. */
void		qid_seen(struct qid_gen *, uint64_t);
void		qid_format(uint64_t, char out[QID_LEN + 1]);
/* Returns 0 and sets *id, or -1 for a malformed id. */
int		qid_parse(const char *, uint64_t *id);

#endif
