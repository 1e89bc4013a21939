/* libFuzzer harness for bannerd's control commands (daemon/ctlcmd.c) and
 * the runtime layer under them: each line of the input is one request, as
 * bannerctl or the live page would send it, run against the built-in
 * defaults. Beyond the sanitizers it checks what bannerctl(8) promises:
 * every reply ends in one "OK" or "ERR why" line, and a refused request
 * changes nothing (show prints the same before and after). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "config.h"
#include "control.h"
#include "ctlcmd.h"

#define MAX_REQUESTS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config *in_force;

static struct config *
current(void)
{
	return config_ref(in_force);
}

static int
apply(struct config *c, char *err, size_t errlen)
{
	config_unref(in_force);
	in_force = c;
	return 0;
}

static void
stats(struct evbuffer *out)
{
	evbuffer_add_printf(out, "connections=0\n");
}

static void
changed(const char *line, const char *origin)
{
}

static void
rejected(const char *line, const char *origin, const char *why)
{
}

/* The reply to one request, as a NUL-terminated string the caller frees. */
static char *
ask(struct ctlcmd *cc, const char *line)
{
	struct evbuffer *out = evbuffer_new();
	size_t n;
	char *s;

	if (out == NULL)
		abort();
	control_run(bannerd_control, cc, "fuzz", line, out);
	n = evbuffer_get_length(out);
	s = malloc(n + 1);
	if (s == NULL)
		abort();
	evbuffer_remove(out, s, n);
	s[n] = '\0';
	evbuffer_free(out);
	return s;
}

static const char *
last_line(const char *reply)
{
	size_t n = strlen(reply);
	const char *p;

	if (n == 0 || reply[n - 1] != '\n')
		abort();	/* every reply ends its last line */
	for (p = reply + n - 1; p > reply && p[-1] != '\n'; p--)
		;
	return p;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024], line[CONTROL_LINE_MAX + 1];
	struct ctlcmd cc = { .current = current, .apply = apply, .stats = stats,
	    .changed = changed, .rejected = rejected };
	size_t at = 0;

	in_force = config_load(NULL, NULL, 0, err, sizeof err);
	if (in_force == NULL)
		abort();
	runtime_init(&cc.rt);
	for (int i = 0; i < MAX_REQUESTS && at < size; i++) {
		const uint8_t *nl = memchr(data + at, '\n', size - at);
		size_t len = nl != NULL ? (size_t)(nl - (data + at)) : size - at;
		char *before, *reply, *after;
		const char *last;

		if (len > CONTROL_LINE_MAX || memchr(data + at, '\0', len) != NULL)
			break;	/* the socket refuses these before the handler */
		memcpy(line, data + at, len);
		line[len] = '\0';
		at += len + 1;
		before = ask(&cc, "show");
		reply = ask(&cc, line);
		last = last_line(reply);
		if (strcmp(last, "OK\n") != 0 && strncmp(last, "ERR ", 4) != 0)
			abort();
		if (strncmp(last, "ERR ", 4) == 0) {
			if (last != reply)
				abort();	/* a refusal has no body */
			after = ask(&cc, "show");
			if (strcmp(before, after) != 0)
				abort();	/* ...and changes nothing */
			free(after);
		}
		free(before);
		free(reply);
	}
	runtime_free(&cc.rt);
	config_unref(in_force);
	in_force = NULL;
	return 0;
}
