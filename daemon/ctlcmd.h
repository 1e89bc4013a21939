#ifndef BANNERD_CTLCMD_H
#define BANNERD_CTLCMD_H
/* bannerd's control commands (bannerctl(8)): show, set, unset, reload,
 * stats. One handler for every front end: the control socket calls it
 * through control.c, the HTTP listener through control_run(). It runs on
 * the main thread, which owns the configuration swap.
 *
 * A change is tried on a candidate first: the runtime layer copied and
 * changed, a configuration loaded from the file, -o and that layer, then
 * applied as a reload is. Anything failing on the way leaves everything
 * as it was. */
#include <stddef.h>

#include "runtime.h"

struct config;
struct evbuffer;

struct ctlcmd {
	struct runtime rt;		/* what set and unset made, kept by reload */
	const char *conf_path;		/* NULL: defaults only */
	char *const *overrides;		/* -o, "section.key=value" */
	size_t n_overrides;
	/* main.c's: the configuration in force (a reference), and putting a
	 * new one in force as SIGHUP does (takes c either way; 0, or -1
	 * with err set and the old one still in force). */
	struct config *(*current)(void);
	int (*apply)(struct config *c, char *err, size_t errlen);
	void (*stats)(struct evbuffer *out);	/* SIGUSR1's figures, as lines */
	/* Each change done, each request refused: logged there. */
	void (*changed)(const char *line, const char *origin);
	void (*rejected)(const char *line, const char *origin, const char *why);
};

/* The configuration the file, -o and rt make, for a reload or a
 * candidate. NULL with err set when it does not load. */
struct config *ctlcmd_load(const struct ctlcmd *cc, const struct runtime *rt, char *err,
    size_t errlen);

/* The control_fn (control.h) for bannerd: arg is the struct ctlcmd. */
int bannerd_control(void *arg, const char *origin, const char *line, struct evbuffer *out,
    char *err, size_t errlen);

#endif
