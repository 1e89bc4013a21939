#ifndef BANNERLAB_LIVECFG_H
#define BANNERLAB_LIVECFG_H
/* The settings a lab tool (slowdns, slowrelay) lets its control socket
 * change while it runs: show, set, unset over a table the tool gives.
 * Pure: no sockets, no clock; the replies go to an evbuffer.
 *
 * The live settings are always rebuilt as the command line's settings
 * plus the values set since, in table order: precedence is simply
 * "command line < set", and unset drops a value so the command line's
 * shows through again. A set request is atomic: every NAME=VALUE is
 * parsed into a scratch copy, with the same parser the command-line
 * option uses, and only when all of them are good is the copy made live.
 * A bad one names itself in the error and changes nothing. */
#include <stddef.h>

struct evbuffer;

#define LIVECFG_MAX 32		/* settings in one table */
#define LIVECFG_VALUE_MAX 256	/* bytes of one value */

struct livecfg_def {
	const char *name;
	/* Parses text into settings (the tool's struct); -1 with err set to
	 * a phrase that does not repeat the name. NULL: the setting cannot
	 * change while the tool runs ("restart needed"). */
	int (*parse)(void *settings, const char *text, char *err, size_t errlen);
	/* The setting's value as text, as show prints it. */
	void (*format)(const void *settings, char *buf, size_t len);
};

struct livecfg {
	const struct livecfg_def *defs;
	size_t n;
	size_t size;		/* of the tool's settings struct */
	const void *cmdline;	/* the command line's settings, never changed */
	void *live;		/* what the tool reads */
	char *set[LIVECFG_MAX];	/* the value set for defs[i], or NULL */
};

/* live starts as a copy of cmdline. -1 when the table is too long. */
int livecfg_init(struct livecfg *lc, const struct livecfg_def *defs, size_t n, size_t size,
    const void *cmdline, void *live);
void livecfg_free(struct livecfg *lc);

/* The table entry called name, or NULL. */
const struct livecfg_def *livecfg_find(const struct livecfg *lc, const char *name);

/* Runs one parser on settings: what the command line does for an
 * option that is also a live setting, so both go through one parser. */
int livecfg_parse(const struct livecfg_def *defs, size_t n, void *settings, const char *name,
    const char *text, char *err, size_t errlen);

/* "show [NAME...]": one "name=value # from command line" (or "# from
 * set") line per setting; a setting that cannot change says so. */
int livecfg_show(const struct livecfg *lc, int argc, char **argv, struct evbuffer *out,
    char *err, size_t errlen);
/* "set NAME=VALUE...": all or nothing. */
int livecfg_set(struct livecfg *lc, int argc, char **argv, char *err, size_t errlen);
/* "unset NAME...": back to the command line's values. */
int livecfg_unset(struct livecfg *lc, int argc, char **argv, char *err, size_t errlen);

/* A whole request line, as control.h hands it to a tool: split, then
 * show, set and unset here, and "stats" through the tool's counts line
 * (stats appends it to out). Returns 0, or -1 with err set, as a
 * control_fn does; *changed is set when the live settings changed, so the
 * tool logs the change (or, on -1, the refusal). */
typedef void livecfg_stats_fn(void *arg, struct evbuffer *out);
int livecfg_request(struct livecfg *lc, const char *line, livecfg_stats_fn *stats,
    void *stats_arg, struct evbuffer *out, char *err, size_t errlen, int *changed);

#endif
