/*
 * Fuzz the configuration parser: arbitrary bytes as a file's text.  It
 * must not crash, leak or read out of bounds; it returns either a config
 * or errors, never both and never neither, and every error line names
 * the file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg;
	char *text, *errs = NULL, *line, *nl;

	/* The parser takes C text, as config_read_file gives it. */
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	cfg = config_parse("fuzz.conf", text, &errs);
	if ((cfg == NULL) == (errs == NULL))
		abort();
	if (cfg != NULL) {
		if (cfg->nlisten > CONFIG_MAX_LISTEN ||
		    cfg->queue_directory[0] != '/')
			abort();
		config_is_local_domain(cfg, "localhost.");
		config_free(cfg);
	}
	for (line = errs; line != NULL && *line != '\0'; line = nl + 1) {
		if (strncmp(line, "fuzz.conf", 9) != 0 ||
		    (nl = strchr(line, '\n')) == NULL)
			abort();
	}
	free(errs);
	free(text);
	return 0;
}
