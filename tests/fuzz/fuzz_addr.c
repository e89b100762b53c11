/*
 * Fuzz the envelope address parser: arbitrary bytes as a path, in both
 * the MAIL (null path allowed) and the RCPT form.  Whatever is accepted
 * must respect the limits, end on its '>', and come out of addr_format()
 * as an address that parses again to the same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(const char *s, size_t len, int allow_null)
{
	char out[ADDR_PATH_MAX + 8], again[ADDR_PATH_MAX + 8];
	char path[ADDR_PATH_MAX + 8];
	struct mailaddr ma, mb;
	size_t end = 0, end2 = 0, n;

	if (addr_parse_path(s, len, &end, allow_null, &ma) != ADDR_OK)
		return;
	if (end < 2 || end > len || end > ADDR_PATH_MAX || s[0] != '<' ||
	    s[end - 1] != '>')
		abort();
	if (strlen(ma.local) > ADDR_LOCAL_MAX ||
	    strlen(ma.domain) > ADDR_DOMAIN_MAX)
		abort();
	if (ma.is_null && (!allow_null || end != 2))
		abort();
	if (ma.is_postmaster && (allow_null || ma.domain[0] != '\0'))
		abort();
	if (addr_format(&ma, out, sizeof(out)) != 0)
		abort();
	for (n = 0; out[n] != '\0'; n++)
		if ((unsigned char)out[n] < 0x20 ||
		    (unsigned char)out[n] >= 0x7f)
			abort();

	/* The stored form is canonical: it parses back to itself. */
	n = (size_t)snprintf(path, sizeof(path), "<%s>", out);
	if (n >= sizeof(path) ||
	    addr_parse_path(path, n, &end2, allow_null, &mb) != ADDR_OK ||
	    end2 != n || addr_format(&mb, again, sizeof(again)) != 0 ||
	    strcmp(out, again) != 0 || mb.is_null != ma.is_null ||
	    mb.is_postmaster != ma.is_postmaster)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	/* A copy of exactly size bytes, so reading past it is caught. */
	if ((s = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	check(s, size, 1);
	check(s, size, 0);
	free(s);
	return 0;
}
