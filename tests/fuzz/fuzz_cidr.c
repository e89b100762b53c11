/*
 * Fuzz the CIDR table loader and lookups: the input is written as a
 * table file (through a memory file) and also given to cidr_from_list();
 * each line of it is then looked up as a client address, along with a
 * few fixed ones.  Nothing may crash or leak, and a failed load must
 * explain itself.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cidr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	memfd = -1;

static const char *fixed[] = {
	"127.0.0.1", "0.0.0.0", "255.255.255.255", "::", "::1",
	"::ffff:127.0.0.1", "2001:db8::1", "[::1]", "", "garbage",
};

static int
any_value(const char *v, char *why, size_t whylen)
{
	if (v[0] == '\0')
		abort();	/* the loader refuses empty values */
	return 0;
}

static void
lookups(const struct cidr_table *t, const char *text)
{
	char line[128];
	const char *p = text, *v;
	size_t i, n;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if ((v = cidr_lookup(t, fixed[i])) != NULL && v[0] == '\0')
			abort();
	while (*p != '\0') {
		n = strcspn(p, "\n /");
		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			if ((v = cidr_lookup(t, line)) != NULL && v[0] == '\0')
				abort();
		}
		p += n;
		if (*p != '\0')
			p++;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cidr_table *t;
	char path[64], err[512];
	char *text;

	if (memfd == -1 && (memfd = memfd_create("fuzz-cidr", 0)) == -1)
		abort();
	if (ftruncate(memfd, 0) == -1 ||
	    pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	err[0] = '\0';
	if ((t = cidr_load(path, err, sizeof(err))) == NULL) {
		if (err[0] == '\0')
			abort();
	} else {
		if (cidr_check_values(t, any_value, err, sizeof(err)) != 0)
			abort();
		lookups(t, text);
		cidr_free(t);
	}

	err[0] = '\0';
	if ((t = cidr_from_list(text, err, sizeof(err))) == NULL) {
		if (err[0] == '\0')
			abort();
	} else {
		lookups(t, text);
		cidr_free(t);
	}
	free(text);
	return 0;
}
