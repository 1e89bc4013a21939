#ifndef SMTPPROBE_JSON_H
#define SMTPPROBE_JSON_H
/* A small JSON reader for `smtpprobe merge`: text in, a tree out. Pure,
 * no I/O. Integers that fit a uint64_t are kept exactly (histogram sums
 * and counts must not pass through a double); nesting is bounded. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_value {
	enum json_type type;
	bool boolean;
	double number;
	bool is_uint;		/* a non-negative integer that fits u */
	uint64_t u;
	char *string;		/* NUL-terminated; embedded NULs are refused */
	size_t n;		/* array items or object members */
	struct json_value **items;
	char **keys;		/* objects only, parallel to items */
};

#define JSON_DEPTH_MAX 32

/* Returns the tree, or NULL with a reason (and the byte offset) in err. */
struct json_value *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(struct json_value *v);
/* The member named key of an object; NULL if absent or v is no object. */
const struct json_value *json_get(const struct json_value *v, const char *key);

#endif
