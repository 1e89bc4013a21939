/* libFuzzer harness for smtpprobe's JSON reader (what `smtpprobe merge`
 * reads from files it did not write): any bytes either parse into a tree
 * or fail with a reason; a tree's counts are exact only when they say so,
 * and freeing it is clean. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/smtpprobe/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
walk(const struct json_value *v, unsigned depth)
{
	if (depth > JSON_DEPTH_MAX + 1)
		abort();
	if (v->is_uint && v->type != JSON_NUMBER)
		abort();
	if (v->type == JSON_STRING && v->string == NULL)
		abort();
	for (size_t i = 0; i < v->n; i++) {
		walk(v->items[i], depth + 1);
		if (v->type == JSON_OBJECT && json_get(v, v->keys[i]) == NULL)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128];
	struct json_value *v = json_parse((const char *)data, size, err, sizeof err);

	if (v == NULL) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	walk(v, 0);
	json_free(v);
	return 0;
}
