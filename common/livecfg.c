/* Live settings over a table (livecfg.h): the control socket's show, set
 * and unset for the lab tools, kept apart from the socket so that the
 * rules (atomic set, precedence, what unset restores) are unit-tested. */
#include "livecfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "control.h"

int
livecfg_init(struct livecfg *lc, const struct livecfg_def *defs, size_t n, size_t size,
    const void *cmdline, void *live)
{
	if (n > LIVECFG_MAX)
		return -1;
	memset(lc, 0, sizeof *lc);
	lc->defs = defs;
	lc->n = n;
	lc->size = size;
	lc->cmdline = cmdline;
	lc->live = live;
	memcpy(live, cmdline, size);
	return 0;
}

void
livecfg_free(struct livecfg *lc)
{
	for (size_t i = 0; i < lc->n; i++) {
		free(lc->set[i]);
		lc->set[i] = NULL;
	}
}

static size_t
index_of(const struct livecfg_def *defs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(defs[i].name, name) == 0)
			return i;
	return n;
}

const struct livecfg_def *
livecfg_find(const struct livecfg *lc, const char *name)
{
	size_t i = index_of(lc->defs, lc->n, name);

	return i < lc->n ? &lc->defs[i] : NULL;
}

int
livecfg_parse(const struct livecfg_def *defs, size_t n, void *settings, const char *name,
    const char *text, char *err, size_t errlen)
{
	size_t i = index_of(defs, n, name);

	if (i == n || defs[i].parse == NULL) {
		snprintf(err, errlen, "%s: not a live setting", name);
		return -1;
	}
	return defs[i].parse(settings, text, err, errlen);
}

/* "unknown setting 'x' (delay, jitter, ...)": the message lists the
 * names so the person typing finds the right one at once. */
static void
unknown(const struct livecfg *lc, const char *name, char *err, size_t errlen)
{
	size_t off;
	int w = snprintf(err, errlen, "unknown setting '%.*s' (", LIVECFG_VALUE_MAX, name);

	off = w > 0 && (size_t)w < errlen ? (size_t)w : 0;
	for (size_t i = 0; i < lc->n && off < errlen; i++) {
		w = snprintf(err + off, errlen - off, "%s%s", i ? ", " : "", lc->defs[i].name);
		if (w < 0 || (size_t)w >= errlen - off)
			return;
		off += (size_t)w;
	}
	if (off + 1 < errlen)
		snprintf(err + off, errlen - off, ")");
}

/* The table entry a request word names, checked for a live change. */
static const struct livecfg_def *
changeable(const struct livecfg *lc, const char *name, char *err, size_t errlen)
{
	const struct livecfg_def *d = livecfg_find(lc, name);

	if (d == NULL) {
		unknown(lc, name, err, errlen);
		return NULL;
	}
	if (d->parse == NULL) {
		snprintf(err, errlen, "%s: restart needed (it cannot change while running)", name);
		return NULL;
	}
	return d;
}

int
livecfg_show(const struct livecfg *lc, int argc, char **argv, struct evbuffer *out,
    char *err, size_t errlen)
{
	char value[LIVECFG_VALUE_MAX];

	for (int a = 0; a < argc; a++)
		if (livecfg_find(lc, argv[a]) == NULL) {
			unknown(lc, argv[a], err, errlen);
			return -1;
		}
	for (size_t i = 0; i < lc->n; i++) {
		const struct livecfg_def *d = &lc->defs[i];
		int wanted = argc == 0;

		for (int a = 0; a < argc && !wanted; a++)
			wanted = strcmp(argv[a], d->name) == 0;
		if (!wanted || d->format == NULL)
			continue;
		d->format(lc->live, value, sizeof value);
		evbuffer_add_printf(out, "%s=%s # from %s%s\n", d->name, value,
		    lc->set[i] ? "set" : "command line", d->parse ? "" : ", restart needed to change");
	}
	return 0;
}

/* live = command line + every value set, in table order. The values
 * were each checked when set, so this cannot fail unless a parser
 * depends on another setting; then nothing changes. */
static int
rebuild(struct livecfg *lc, char *const *set, char *err, size_t errlen)
{
	void *scratch = malloc(lc->size);

	if (scratch == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(scratch, lc->cmdline, lc->size);
	for (size_t i = 0; i < lc->n; i++) {
		char why[200] = "";

		if (set[i] != NULL && lc->defs[i].parse(scratch, set[i], why, sizeof why) != 0) {
			snprintf(err, errlen, "%s: %s", lc->defs[i].name, why);
			free(scratch);
			return -1;
		}
	}
	memcpy(lc->live, scratch, lc->size);
	free(scratch);
	return 0;
}

int
livecfg_set(struct livecfg *lc, int argc, char **argv, char *err, size_t errlen)
{
	char *set[LIVECFG_MAX] = { 0 };
	void *check;
	int rc = -1;

	if (argc == 0) {
		snprintf(err, errlen, "set needs NAME=VALUE");
		return -1;
	}
	if ((check = malloc(lc->size)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* First every pair on its own, in the order given, on a copy of the
	 * live settings: the first bad one is the one the error names. */
	memcpy(check, lc->live, lc->size);
	for (int a = 0; a < argc; a++) {
		char name[64], why[200] = "";
		const char *eq = strchr(argv[a], '=');
		const struct livecfg_def *d;

		if (eq == NULL || eq == argv[a] || (size_t)(eq - argv[a]) >= sizeof name) {
			snprintf(err, errlen, "'%.*s': expected NAME=VALUE", LIVECFG_VALUE_MAX, argv[a]);
			goto out;
		}
		memcpy(name, argv[a], (size_t)(eq - argv[a]));
		name[eq - argv[a]] = '\0';
		if ((d = changeable(lc, name, err, errlen)) == NULL)
			goto out;
		if (strlen(eq + 1) >= LIVECFG_VALUE_MAX) {
			snprintf(err, errlen, "%s: value longer than %d bytes", name, LIVECFG_VALUE_MAX - 1);
			goto out;
		}
		if (d->parse(check, eq + 1, why, sizeof why) != 0) {
			snprintf(err, errlen, "%s: %s", name, why);
			goto out;
		}
	}
	/* All good: the new table of set values, then the live settings. */
	for (size_t i = 0; i < lc->n; i++)
		if (lc->set[i] != NULL && (set[i] = strdup(lc->set[i])) == NULL)
			goto nomem;
	for (int a = 0; a < argc; a++) {
		const char *eq = strchr(argv[a], '=');
		size_t i;
		char name[64];

		memcpy(name, argv[a], (size_t)(eq - argv[a]));
		name[eq - argv[a]] = '\0';
		i = index_of(lc->defs, lc->n, name);
		free(set[i]);
		if ((set[i] = strdup(eq + 1)) == NULL)
			goto nomem;
	}
	if (rebuild(lc, set, err, errlen) != 0)
		goto out;
	for (size_t i = 0; i < lc->n; i++) {
		free(lc->set[i]);
		lc->set[i] = set[i];
		set[i] = NULL;
	}
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
out:
	for (size_t i = 0; i < lc->n; i++)
		free(set[i]);
	free(check);
	return rc;
}

int
livecfg_unset(struct livecfg *lc, int argc, char **argv, char *err, size_t errlen)
{
	char *set[LIVECFG_MAX];

	if (argc == 0) {
		snprintf(err, errlen, "unset needs NAME");
		return -1;
	}
	for (int a = 0; a < argc; a++)
		if (changeable(lc, argv[a], err, errlen) == NULL)
			return -1;
	/* The same values minus the named ones: pointers only, freed once
	 * the rebuild has succeeded. */
	memcpy(set, lc->set, sizeof set);
	for (int a = 0; a < argc; a++)
		set[index_of(lc->defs, lc->n, argv[a])] = NULL;
	if (rebuild(lc, set, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < lc->n; i++)
		if (set[i] == NULL && lc->set[i] != NULL) {
			free(lc->set[i]);
			lc->set[i] = NULL;
		}
	return 0;
}

int
livecfg_request(struct livecfg *lc, const char *line, livecfg_stats_fn *stats,
    void *stats_arg, struct evbuffer *out, char *err, size_t errlen, int *changed)
{
	char copy[CONTROL_LINE_MAX + 1], *argv[CONTROL_ARGS_MAX];
	int argc, rc;

	*changed = 0;
	snprintf(copy, sizeof copy, "%s", line);
	argc = control_split(copy, argv, CONTROL_ARGS_MAX);
	if (argc < 0) {
		snprintf(err, errlen, "more than %d words", CONTROL_ARGS_MAX);
		return -1;
	}
	if (argc == 0) {
		snprintf(err, errlen, "empty request (show, set, unset, stats)");
		return -1;
	}
	if (strcmp(argv[0], "show") == 0)
		return livecfg_show(lc, argc - 1, argv + 1, out, err, errlen);
	if (strcmp(argv[0], "set") == 0 || strcmp(argv[0], "unset") == 0) {
		rc = argv[0][0] == 's' ? livecfg_set(lc, argc - 1, argv + 1, err, errlen) :
		    livecfg_unset(lc, argc - 1, argv + 1, err, errlen);
		*changed = rc == 0;
		return rc;
	}
	if (strcmp(argv[0], "stats") == 0) {
		if (argc != 1) {
			snprintf(err, errlen, "stats takes no arguments");
			return -1;
		}
		stats(stats_arg, out);
		return 0;
	}
	snprintf(err, errlen, "unknown request '%.64s' (show, set, unset, stats)", argv[0]);
	return -1;
}
