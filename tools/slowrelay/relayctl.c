#include "relayctl.h"

#include <stdio.h>
#include <string.h>

#include "units.h"

static int
set_banner_delay(void *s, const char *text, char *err, size_t errlen)
{
	uint64_t us;

	if (units_parse_duration(text, &us) != 0) {
		units_duration_problem(text, err, errlen);
		return -1;
	}
	((struct relay_settings *)s)->banner_delay_us = us;
	return 0;
}

static int
set_inspect(void *s, const char *text, char *err, size_t errlen)
{
	if (inspect_mode_parse(text, &((struct relay_settings *)s)->inspect) != 0) {
		snprintf(err, errlen, "pix, pix44, asa or off, not \"%s\"", text);
		return -1;
	}
	return 0;
}

static int
set_quiet(void *s, const char *text, char *err, size_t errlen)
{
	int *q = &((struct relay_settings *)s)->quiet;

	if (strcmp(text, "on") == 0)
		*q = 1;
	else if (strcmp(text, "off") == 0)
		*q = 0;
	else {
		snprintf(err, errlen, "'%s': expected on or off", text);
		return -1;
	}
	return 0;
}

static void
fmt_banner_delay(const void *s, char *buf, size_t len)
{
	uint64_t us = ((const struct relay_settings *)s)->banner_delay_us;

	if (us == 0)
		snprintf(buf, len, "0");
	else
		units_format_duration(us, buf, len);
}

static void
fmt_inspect(const void *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s", inspect_mode_name(((const struct relay_settings *)s)->inspect));
}

static void
fmt_quiet(const void *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s", ((const struct relay_settings *)s)->quiet ? "on" : "off");
}

static void
fmt_listen(const void *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s", ((const struct relay_settings *)s)->listen);
}

static void
fmt_upstream(const void *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s", ((const struct relay_settings *)s)->upstream);
}

/* Names are the long options'. */
const struct livecfg_def relayctl_defs[] = {
	{ "banner-delay", set_banner_delay, fmt_banner_delay },
	{ "inspect", set_inspect, fmt_inspect },
	{ "quiet", set_quiet, fmt_quiet },
	{ "listen", NULL, fmt_listen },
	{ "upstream", NULL, fmt_upstream },
};
const size_t relayctl_ndefs = sizeof relayctl_defs / sizeof relayctl_defs[0];

int
relayctl_parse(struct relay_settings *s, const char *name, const char *text, char *err,
    size_t errlen)
{
	return livecfg_parse(relayctl_defs, relayctl_ndefs, s, name, text, err, errlen);
}
