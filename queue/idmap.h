/*
 * A map from 64-bit ids (queue ids, transaction and job ids; never 0) to
 * pointers: open addressing with linear probing.
 */
#ifndef BULWARK_QUEUE_IDMAP_H
#define BULWARK_QUEUE_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap {
	uint64_t	*keys;		/* 0 = empty slot */
	void		**vals;
	size_t		 cap;		/* power of two */
	size_t		 n;
};

void	 idmap_init(struct idmap *);
void	 idmap_free(struct idmap *);
void	*idmap_get(const struct idmap *, uint64_t key);
/* Insert or replace. */
void	 idmap_put(struct idmap *, uint64_t key, void *val);
/* Remove and return the value, or NULL. */
void	*idmap_del(struct idmap *, uint64_t key);
/*
 * Iterate: start with *pos = 0; returns 0 at the end.  The map must not
 * change during an iteration.
 */
int	 idmap_next(const struct idmap *, size_t *pos, uint64_t *key,
	    void **val);

#endif
