#ifndef BANNERLAB_SLOWRELAY_RELAYCTL_H
#define BANNERLAB_SLOWRELAY_RELAYCTL_H
/* slowrelay's settings as one struct, and the table (common/livecfg.h)
 * through which both its command line and its control socket change
 * them: one parser per setting. Pure.
 *
 * Live: banner-delay, inspect and quiet. A change applies to
 * connections accepted after it; a connection already open keeps the
 * hold and the inspection it was accepted with. listen and upstream
 * are shown but need a restart. */
#include <stddef.h>
#include <stdint.h>

#include "inspect.h"
#include "livecfg.h"

struct relay_settings {
	uint64_t banner_delay_us;
	enum inspect_mode inspect;
	int quiet;
	/* shown only */
	const char *listen;
	const char *upstream;
};

extern const struct livecfg_def relayctl_defs[];
extern const size_t relayctl_ndefs;

/* The command line's way in: name is the long option without "--". */
int relayctl_parse(struct relay_settings *s, const char *name, const char *text,
    char *err, size_t errlen);

#endif
