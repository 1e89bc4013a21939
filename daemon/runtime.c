/* The runtime layer (runtime.h): text in, text out, no I/O. */
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one repeated key: its runtime values replace the list. */
#define REPEATED_KEY "faults.rule"
static const char repeated_reset[] = REPEATED_KEY "=";

void
runtime_init(struct runtime *rt)
{
	memset(rt, 0, sizeof *rt);
}

void
runtime_free(struct runtime *rt)
{
	for (size_t i = 0; i < rt->n_sets; i++)
		free(rt->sets[i]);
	for (size_t i = 0; i < rt->n_masks; i++)
		free(rt->masks[i]);
	runtime_init(rt);
}

int
runtime_copy(struct runtime *dst, const struct runtime *src)
{
	runtime_init(dst);
	for (size_t i = 0; i < src->n_sets; i++) {
		if ((dst->sets[i] = strdup(src->sets[i])) == NULL)
			goto fail;
		dst->n_sets++;
	}
	for (size_t i = 0; i < src->n_masks; i++) {
		if ((dst->masks[i] = strdup(src->masks[i])) == NULL)
			goto fail;
		dst->n_masks++;
	}
	return 0;
fail:
	runtime_free(dst);
	return -1;
}

/* The length of the key part of "section.key=value", or 0 when the text
 * is not of that shape. */
static size_t
key_len(const char *assign)
{
	const char *eq = strchr(assign, '='), *dot = strchr(assign, '.');

	if (eq == NULL || dot == NULL || dot > eq || dot == assign || dot + 1 == eq)
		return 0;
	return (size_t)(eq - assign);
}

int
runtime_assign_is(const char *assign, const char *key)
{
	size_t n = key_len(assign);

	return n != 0 && strlen(key) == n && strncmp(assign, key, n) == 0;
}

int
runtime_is_set(const struct runtime *rt, const char *key)
{
	for (size_t i = 0; i < rt->n_sets; i++)
		if (runtime_assign_is(rt->sets[i], key))
			return 1;
	return 0;
}

int
runtime_is_masked(const struct runtime *rt, const char *key)
{
	for (size_t i = 0; i < rt->n_masks; i++)
		if (strcmp(rt->masks[i], key) == 0)
			return 1;
	return 0;
}

static void
drop_sets(struct runtime *rt, const char *key, size_t keylen)
{
	size_t j = 0;

	for (size_t i = 0; i < rt->n_sets; i++) {
		if (key_len(rt->sets[i]) == keylen && strncmp(rt->sets[i], key, keylen) == 0)
			free(rt->sets[i]);
		else
			rt->sets[j++] = rt->sets[i];
	}
	rt->n_sets = j;
}

static void
drop_mask(struct runtime *rt, const char *key, size_t keylen)
{
	size_t j = 0;

	for (size_t i = 0; i < rt->n_masks; i++) {
		if (strlen(rt->masks[i]) == keylen && strncmp(rt->masks[i], key, keylen) == 0)
			free(rt->masks[i]);
		else
			rt->masks[j++] = rt->masks[i];
	}
	rt->n_masks = j;
}

static int
full(const struct runtime *rt, char *err, size_t errlen)
{
	if (rt->n_sets + rt->n_masks < RUNTIME_MAX_ENTRIES)
		return 0;
	snprintf(err, errlen, "more than %d runtime settings; unset some first", RUNTIME_MAX_ENTRIES);
	return -1;
}

int
runtime_set(struct runtime *rt, char *const *assigns, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		if (key_len(assigns[i]) == 0) {
			snprintf(err, errlen, "'%.200s' is not section.key=value", assigns[i]);
			return -1;
		}
	/* First every old value of the keys given, so that a key given
	 * twice in one set keeps both (a list), never just the last. */
	for (size_t i = 0; i < n; i++) {
		drop_sets(rt, assigns[i], key_len(assigns[i]));
		drop_mask(rt, assigns[i], key_len(assigns[i]));
	}
	for (size_t i = 0; i < n; i++) {
		if (full(rt, err, errlen) != 0)
			return -1;
		if ((rt->sets[rt->n_sets] = strdup(assigns[i])) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		rt->n_sets++;
	}
	return 0;
}

int
runtime_unset(struct runtime *rt, const char *key, char *err, size_t errlen)
{
	size_t n = strlen(key);

	if (n == 0 || strchr(key, '=') != NULL || strchr(key, '.') == NULL) {
		snprintf(err, errlen, "'%.200s' is not section.key", key);
		return -1;
	}
	drop_sets(rt, key, n);
	if (runtime_is_masked(rt, key))
		return 0;
	if (full(rt, err, errlen) != 0)
		return -1;
	if ((rt->masks[rt->n_masks] = strdup(key)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rt->n_masks++;
	return 0;
}

size_t
runtime_overrides(const struct runtime *rt, char *const *cmdline, size_t n_cmdline,
    const char **out, size_t max)
{
	size_t n = 0;
	int reset = 0;

	for (size_t i = 0; i < n_cmdline && n < max; i++) {
		size_t kl = key_len(cmdline[i]);
		int masked = 0;

		for (size_t j = 0; kl != 0 && j < rt->n_masks && !masked; j++)
			masked = strlen(rt->masks[j]) == kl && strncmp(rt->masks[j], cmdline[i], kl) == 0;
		if (!masked)
			out[n++] = cmdline[i];
	}
	for (size_t i = 0; i < rt->n_sets && n < max; i++) {
		if (!reset && runtime_assign_is(rt->sets[i], REPEATED_KEY)) {
			reset = 1;
			out[n++] = repeated_reset;
			if (n == max)
				break;
		}
		out[n++] = rt->sets[i];
	}
	return n;
}
