/*
 * Fuzz the maildrop envelope reader: arbitrary bytes as a file that an
 * unprivileged user left in the maildrop directory, read through
 * fmemopen() exactly as the queue reads the real file.  A file taken
 * must start with the magic line, give one to MAILDROP_RCPT_MAX
 * canonical recipients (one per "rcpt" line) and at most one sender, and
 * leave the stream right after the empty line that ends the envelope.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

#include "queue/queue.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAGIC		"BULWARK-MAILDROP 1"
#define RCPT_MAX	10000		/* MAILDROP_RCPT_MAX */

/* addr is what addr_format() gives, so it parses back to itself. */
static void
check_addr(const char *addr, int allow_null)
{
	char path[ADDR_PATH_MAX + 8], out[ADDR_PATH_MAX + 8];
	struct mailaddr ma;
	size_t end, n;

	n = (size_t)snprintf(path, sizeof(path), "<%s>", addr);
	if (n >= sizeof(path) ||
	    addr_parse_path(path, n, &end, allow_null, &ma) != ADDR_OK ||
	    end != n || addr_format(&ma, out, sizeof(out)) != 0 ||
	    strcmp(out, addr) != 0)
		abort();
	if (!allow_null && addr[0] == '\0')
		abort();
}

/* Lines of the envelope [0, end) starting with "rcpt ". */
static uint32_t
count_rcpt(const char *s, size_t end)
{
	const char *p = s, *nl;
	uint32_t n = 0;

	while (p < s + end) {
		if ((size_t)(s + end - p) >= 5 && memcmp(p, "rcpt ", 5) == 0)
			n++;
		if ((nl = memchr(p, '\n', (size_t)(s + end - p))) == NULL)
			abort();
		p = nl + 1;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *sender = NULL, **rcpt = NULL;
	const char *why = NULL;
	uint32_t nrcpt = 7, i;
	size_t mlen = sizeof(MAGIC) - 1;
	long pos;
	FILE *f;
	int rv;

	if (size == 0)
		return 0;
	if ((buf = malloc(size)) == NULL)
		abort();
	memcpy(buf, data, size);
	if ((f = fmemopen(buf, size, "r")) == NULL)
		abort();
	rv = maildrop_parse_envelope(f, &sender, &rcpt, &nrcpt, &why);
	pos = ftell(f);
	fclose(f);
	if (rv != 0) {
		if (rv != -1 || why == NULL || sender != NULL ||
		    rcpt != NULL || nrcpt != 0)
			abort();
		free(buf);
		return 0;
	}

	if (size < mlen + 2 || memcmp(buf, MAGIC, mlen) != 0 ||
	    (buf[mlen] != '\n' && memcmp(buf + mlen, "\r\n", 2) != 0))
		abort();
	/* The stream stops right after the empty line. */
	if (pos <= 0 || (size_t)pos > size || buf[pos - 1] != '\n' ||
	    pos < 2 || (buf[pos - 2] != '\n' && (buf[pos - 2] != '\r' ||
	    pos < 3 || buf[pos - 3] != '\n')))
		abort();
	if (nrcpt == 0 || nrcpt > RCPT_MAX || rcpt == NULL ||
	    count_rcpt(buf, (size_t)pos) != nrcpt)
		abort();
	for (i = 0; i < nrcpt; i++)
		check_addr(rcpt[i], 0);
	if (sender != NULL)
		check_addr(sender, 1);

	for (i = 0; i < nrcpt; i++)
		free(rcpt[i]);
	free(rcpt);
	free(sender);
	free(buf);
	return 0;
}
