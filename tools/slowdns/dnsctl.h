#ifndef BANNERLAB_SLOWDNS_DNSCTL_H
#define BANNERLAB_SLOWDNS_DNSCTL_H
/* slowdns's settings as one struct, and the table (common/livecfg.h)
 * through which both its command line and its control socket change
 * them: one parser per setting, so "set delay=5" is refused with the
 * very words "--delay 5" is. Pure.
 *
 * Live: delay, jitter, fault-rate, the fault switches (drop, servfail,
 * nxdomain, refused, truncate, mismatch: on|off) and quiet. A change
 * applies to queries that arrive after it; a query already waiting for
 * its delay keeps the delay it was given. listen, zone and seed are
 * shown but need a restart. */
#include <stddef.h>
#include <stdint.h>

#include "faults.h"
#include "livecfg.h"

#define DNSCTL_DELAY_MAX_US (3600ULL * 1000000)	/* one hour: longer is a typo */

struct dns_settings {
	struct fault_config faults;
	int quiet;
	/* shown only */
	const char *listen;
	const char *zone;	/* NULL: none */
	uint64_t seed;
};

extern const struct livecfg_def dnsctl_defs[];
extern const size_t dnsctl_ndefs;

/* The command line's way in: name is the long option without "--". */
int dnsctl_parse(struct dns_settings *s, const char *name, const char *text,
    char *err, size_t errlen);

#endif
