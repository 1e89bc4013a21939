#ifndef BANNERD_RUNTIME_H
#define BANNERD_RUNTIME_H
/* The runtime layer: what bannerctl set and unset while bannerd runs,
 * on top of the file and the -o options. Pure: it holds text and builds
 * the override list config_load reads; ctlcmd.c validates and applies.
 *
 *   precedence   file < -o < runtime set
 *   set KEY=V    the runtime value of KEY is V (a -o of KEY loses)
 *   unset KEY    drops KEY's runtime value and masks any -o of KEY, so
 *                KEY reads as the file has it (or its default)
 *   reload       re-reads the file; sets and masks stay
 *
 * faults.rule is repeated: one set gives the whole list, replacing the
 * file's and -o's rules ("faults.rule=" with an empty value first in the
 * list drops them, see config.c); unset returns to the file's rules. */
#include <stddef.h>

/* Entries (one per runtime value, one per mask) at most: bounded memory
 * whatever a client sends. */
#define RUNTIME_MAX_ENTRIES 128

struct runtime {
	char *sets[RUNTIME_MAX_ENTRIES];	/* "section.key=value", in the order given */
	size_t n_sets;
	char *masks[RUNTIME_MAX_ENTRIES];	/* "section.key": -o of it ignored */
	size_t n_masks;
};

void runtime_init(struct runtime *rt);
void runtime_free(struct runtime *rt);
/* dst (uninitialised) becomes a copy of src: a candidate to change, and
 * to keep or throw away. Returns 0, or -1 when out of memory. */
int runtime_copy(struct runtime *dst, const struct runtime *src);

/* Sets the runtime value of each "section.key=value" in assigns; a key
 * given more than once keeps every value (faults.rule: the list, which
 * replaces the previous one). Clears the keys' masks. Returns 0, or -1
 * with err set (not "key=value", more than RUNTIME_MAX_ENTRIES entries,
 * out of memory); then rt may be half-changed: work on a copy. */
int runtime_set(struct runtime *rt, char *const *assigns, size_t n, char *err, size_t errlen);
/* Drops key's runtime value and masks its -o. Same return. */
int runtime_unset(struct runtime *rt, const char *key, char *err, size_t errlen);

/* The overrides config_load gets: the -o list (cmdline, "section.key=
 * value") without masked keys, then the runtime values (faults.rule's led
 * by an empty one). Pointers into cmdline and rt (and one static "").
 * Returns how many were written to out, at most max (the rest dropped:
 * size out as n_cmdline + 2 * RUNTIME_MAX_ENTRIES). */
size_t runtime_overrides(const struct runtime *rt, char *const *cmdline, size_t n_cmdline,
    const char **out, size_t max);

/* Whether key has a runtime value. */
int runtime_is_set(const struct runtime *rt, const char *key);
/* Whether key's -o is masked. */
int runtime_is_masked(const struct runtime *rt, const char *key);
/* Whether "section.key=value" (an -o) is for key. */
int runtime_assign_is(const char *assign, const char *key);

#endif
