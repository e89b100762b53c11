/* The id map: linear probing with backward-shift deletion. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#include "queue/idmap.h"

static size_t
slot(const struct idmap *m, uint64_t key)
{
	/* Fibonacci hashing spreads ids that differ in low bits only. */
	return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 17) & (m->cap - 1);
}

void
idmap_init(struct idmap *m)
{
	memset(m, 0, sizeof(*m));
}

void
idmap_free(struct idmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

void *
idmap_get(const struct idmap *m, uint64_t key)
{
	size_t i;

	if (m->cap == 0 || key == 0)
		return NULL;
	for (i = slot(m, key); m->keys[i] != 0; i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == key)
			return m->vals[i];
	return NULL;
}

static void
grow(struct idmap *m)
{
	struct idmap old = *m;
	size_t i;

	m->cap = old.cap ? old.cap * 2 : 64;
	m->keys = xcalloc(m->cap, sizeof(*m->keys));
	m->vals = xcalloc(m->cap, sizeof(*m->vals));
	m->n = 0;
	for (i = 0; i < old.cap; i++)
		if (old.keys[i] != 0)
			idmap_put(m, old.keys[i], old.vals[i]);
	free(old.keys);
	free(old.vals);
}

void
idmap_put(struct idmap *m, uint64_t key, void *val)
{
	size_t i;

	if (key == 0)
		return;
	if ((m->n + 1) * 4 > m->cap * 3)
		grow(m);
	for (i = slot(m, key); m->keys[i] != 0; i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == key) {
			m->vals[i] = val;
			return;
		}
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
}

void *
idmap_del(struct idmap *m, uint64_t key)
{
	size_t i, j, home;
	void *val;

	if (m->cap == 0 || key == 0)
		return NULL;
	for (i = slot(m, key); m->keys[i] != key; i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == 0)
			return NULL;
	val = m->vals[i];
	/* Shift later members of the run back so lookups still find them. */
	for (j = (i + 1) & (m->cap - 1); m->keys[j] != 0;
	    j = (j + 1) & (m->cap - 1)) {
		home = slot(m, m->keys[j]);
		if (((j - home) & (m->cap - 1)) >= ((j - i) & (m->cap - 1))) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->keys[i] = 0;
	m->vals[i] = NULL;
	m->n--;
	return val;
}

int
idmap_next(const struct idmap *m, size_t *pos, uint64_t *key, void **val)
{
	while (*pos < m->cap) {
		size_t i = (*pos)++;

		if (m->keys[i] != 0) {
			if (key != NULL)
				*key = m->keys[i];
			if (val != NULL)
				*val = m->vals[i];
			return 1;
		}
	}
	return 0;
}
