/* bannerd's control commands (ctlcmd.h): parsing a request, trying a
 * change on a candidate, and formatting show's answer. */
#include "ctlcmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "config.h"
#include "control.h"
#include "errfmt.h"

static const char *const source_names[] = { "default", "file", "-o" };

struct config *
ctlcmd_load(const struct ctlcmd *cc, const struct runtime *rt, char *err, size_t errlen)
{
	const char **list;
	size_t max = cc->n_overrides + 2 * RUNTIME_MAX_ENTRIES, n;
	struct config *c;

	list = calloc(max, sizeof *list);
	if (list == NULL)
		return errfmt(err, errlen, "out of memory"), NULL;
	n = runtime_overrides(rt, cc->overrides, cc->n_overrides, list, max);
	c = config_load(cc->conf_path, (char *const *)list, n, err, errlen);
	free(list);
	return c;
}

/* Tries rt as the new runtime layer: loads, applies, and on success
 * makes it cc's (rt is taken either way). */
static int
try_runtime(struct ctlcmd *cc, struct runtime *rt, char *err, size_t errlen)
{
	struct config *c = ctlcmd_load(cc, rt, err, errlen);

	if (c == NULL || cc->apply(c, err, errlen) != 0) {
		runtime_free(rt);
		return -1;
	}
	runtime_free(&cc->rt);
	cc->rt = *rt;
	return 0;
}

static void
show_key(const struct ctlcmd *cc, const struct config *c, size_t i, struct evbuffer *out)
{
	char key[128], value[FAULT_TEXT_MAX];
	const char *from;
	size_t n = config_key_values(c, i);

	snprintf(key, sizeof key, "%s.%s", config_key_section(i), config_key_name(i));
	if (c->source[i] == CONF_SRC_OVERRIDE && runtime_is_set(&cc->rt, key))
		from = "set";
	else
		from = source_names[c->source[i] <= CONF_SRC_OVERRIDE ? c->source[i] : 0];
	/* An empty list shows as one empty value: "set faults.rule=" gives it back. */
	for (size_t v = 0; v < (n ? n : 1); v++) {
		config_key_format(c, i, v, value, sizeof value);
		evbuffer_add_printf(out, "%s = %s  # from %s\n", key, n ? value : "", from);
	}
}

static int
cmd_show(struct ctlcmd *cc, char **argv, int argc, struct evbuffer *out, char *err, size_t errlen)
{
	struct config *c;
	int idx[CONTROL_ARGS_MAX];

	for (int i = 0; i < argc; i++)
		if ((idx[i] = config_key_index(argv[i], err, errlen)) < 0)
			return -1;
	c = cc->current();
	if (argc == 0)
		for (size_t i = 0; i < config_key_count(); i++)
			show_key(cc, c, i, out);
	for (int i = 0; i < argc; i++)
		show_key(cc, c, (size_t)idx[i], out);
	config_unref(c);
	return 0;
}

/* Whether word starts a new "section.key=value": its text before the
 * first '=' is one dot between name characters. A word that does not
 * ("4.7.1", "reply=\"451", "::1") continues the value before it, joined
 * by one blank: how a value with blanks gets through a line of words. */
static int
starts_assignment(const char *word)
{
	const char *eq = strchr(word, '=');
	int dots = 0;

	if (eq == NULL || eq == word)
		return 0;
	for (const char *p = word; p < eq; p++) {
		if (*p == '.')
			dots++;
		else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		    (*p >= 'A' && *p <= 'Z')))
			return 0;
	}
	return dots == 1 && word[0] != '.' && eq[-1] != '.';
}

static int
cmd_set(struct ctlcmd *cc, char **argv, int argc, char *err, size_t errlen)
{
	char buf[CONTROL_LINE_MAX + 1], *assigns[CONTROL_ARGS_MAX];
	int idx[CONTROL_ARGS_MAX];
	size_t n = 0, used = 0;
	struct runtime cand;

	if (argc == 0)
		return errfmt(err, errlen, "set needs section.key=value ...");
	if (!starts_assignment(argv[0]))
		return errfmt(err, errlen, "'%.200s' is not section.key=value", argv[0]);
	/* Rebuild the assignments, words of one value joined by a blank. */
	for (int i = 0; i < argc; i++) {
		size_t len = strlen(argv[i]);

		if (used + len + 2 > sizeof buf)
			return errfmt(err, errlen, "request too long");
		if (starts_assignment(argv[i]))
			assigns[n++] = buf + used;
		else
			buf[used - 1] = ' ';	/* the previous word's NUL */
		memcpy(buf + used, argv[i], len + 1);
		used += len + 1;
	}
	for (size_t i = 0; i < n; i++) {
		char *eq = strchr(assigns[i], '=');

		*eq = '\0';
		idx[i] = config_key_index(assigns[i], err, errlen);
		if (idx[i] >= 0 && config_key_restart_only((size_t)idx[i]))
			errfmt(err, errlen, "%s takes effect only after a restart", assigns[i]), idx[i] = -1;
		for (size_t j = 0; idx[i] >= 0 && j < i; j++)
			if (idx[j] == idx[i] && !config_key_repeated((size_t)idx[i]))
				errfmt(err, errlen, "%s is given twice", assigns[i]), idx[i] = -1;
		*eq = '=';
		if (idx[i] < 0 || config_key_check((size_t)idx[i], eq + 1, err, errlen) != 0)
			return -1;
	}
	if (runtime_copy(&cand, &cc->rt) != 0)
		return errfmt(err, errlen, "out of memory");
	if (runtime_set(&cand, assigns, n, err, errlen) != 0) {
		runtime_free(&cand);
		return -1;
	}
	return try_runtime(cc, &cand, err, errlen);
}

static int
cmd_unset(struct ctlcmd *cc, char **argv, int argc, char *err, size_t errlen)
{
	struct runtime cand;
	int idx;

	if (argc == 0)
		return errfmt(err, errlen, "unset needs section.key ...");
	for (int i = 0; i < argc; i++) {
		if ((idx = config_key_index(argv[i], err, errlen)) < 0)
			return -1;
		if (config_key_restart_only((size_t)idx))
			return errfmt(err, errlen, "%s takes effect only after a restart", argv[i]);
	}
	if (runtime_copy(&cand, &cc->rt) != 0)
		return errfmt(err, errlen, "out of memory");
	for (int i = 0; i < argc; i++)
		if (runtime_unset(&cand, argv[i], err, errlen) != 0) {
			runtime_free(&cand);
			return -1;
		}
	return try_runtime(cc, &cand, err, errlen);
}

static int
cmd_reload(struct ctlcmd *cc, int argc, char *err, size_t errlen)
{
	struct runtime cand;

	if (argc != 0)
		return errfmt(err, errlen, "reload takes no arguments");
	if (runtime_copy(&cand, &cc->rt) != 0)
		return errfmt(err, errlen, "out of memory");
	return try_runtime(cc, &cand, err, errlen);
}

static int
dispatch(struct ctlcmd *cc, char **argv, int argc, int *changes, struct evbuffer *out, char *err,
    size_t errlen)
{
	const char *verb = argv[0];

	argv++;
	argc--;
	*changes = 0;
	if (strcmp(verb, "show") == 0)
		return cmd_show(cc, argv, argc, out, err, errlen);
	if (strcmp(verb, "stats") == 0) {
		if (argc != 0)
			return errfmt(err, errlen, "stats takes no arguments");
		cc->stats(out);
		return 0;
	}
	*changes = 1;
	if (strcmp(verb, "set") == 0)
		return cmd_set(cc, argv, argc, err, errlen);
	if (strcmp(verb, "unset") == 0)
		return cmd_unset(cc, argv, argc, err, errlen);
	if (strcmp(verb, "reload") == 0)
		return cmd_reload(cc, argc, err, errlen);
	return errfmt(err, errlen, "unknown command '%.64s' (show, set, unset, reload, stats)", verb);
}

int
bannerd_control(void *arg, const char *origin, const char *line, struct evbuffer *out, char *err,
    size_t errlen)
{
	struct ctlcmd *cc = arg;
	char req[CONTROL_LINE_MAX + 1], words[CONTROL_LINE_MAX + 1], *argv[CONTROL_ARGS_MAX];
	size_t len = strlen(line);
	int argc, changes = 1, rc;

	/* Another front end (an HTTP body) may hand over the line's end. */
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len > CONTROL_LINE_MAX) {
		snprintf(req, sizeof req, "%.*s...", 64, line);
		rc = errfmt(err, errlen, "request longer than %d bytes", CONTROL_LINE_MAX);
	} else {
		memcpy(req, line, len);
		req[len] = '\0';
		memcpy(words, req, len + 1);
		argc = control_split(words, argv, CONTROL_ARGS_MAX);
		if (strpbrk(req, "\r\n") != NULL)
			rc = errfmt(err, errlen, "a request is one line");
		else if (argc < 0)
			rc = errfmt(err, errlen, "more than %d words", CONTROL_ARGS_MAX);
		else if (argc == 0)
			rc = errfmt(err, errlen, "empty request (show, set, unset, reload, stats)");
		else
			rc = dispatch(cc, argv, argc, &changes, out, err, errlen);
	}
	if (rc != 0)
		cc->rejected(req, origin, err);
	else if (changes)
		cc->changed(req, origin);
	return rc;
}
