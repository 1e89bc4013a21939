/* libFuzzer harness for the configuration reader: any bytes as a config
 * file must give a config or one error message, never a crash, a leak or
 * an error that spans lines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), err[1024];
	struct config *c;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	c = config_load_text(text, err, sizeof err);
	if (c == NULL && (err[0] == '\0' || strchr(err, '\n') != NULL))
		abort();	/* a failure must say why, on one line */
	config_unref(c);
	free(text);
	return 0;
}
