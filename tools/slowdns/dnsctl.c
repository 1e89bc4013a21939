#include "dnsctl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"

static int
parse_delay(uint64_t *us, const char *text, char *err, size_t errlen)
{
	uint64_t v;

	if (units_parse_duration(text, &v) != 0) {
		units_duration_problem(text, err, errlen);
		return -1;
	}
	if (v > DNSCTL_DELAY_MAX_US) {
		snprintf(err, errlen, "'%s': at most 1h", text);
		return -1;
	}
	*us = v;
	return 0;
}

static int
parse_on_off(const char *text, int *on, char *err, size_t errlen)
{
	if (strcmp(text, "on") == 0)
		*on = 1;
	else if (strcmp(text, "off") == 0)
		*on = 0;
	else {
		snprintf(err, errlen, "'%s': expected on or off", text);
		return -1;
	}
	return 0;
}

static int
set_delay(void *s, const char *text, char *err, size_t errlen)
{
	return parse_delay(&((struct dns_settings *)s)->faults.delay_us, text, err, errlen);
}

static int
set_jitter(void *s, const char *text, char *err, size_t errlen)
{
	return parse_delay(&((struct dns_settings *)s)->faults.jitter_us, text, err, errlen);
}

static int
set_rate(void *s, const char *text, char *err, size_t errlen)
{
	char *end;
	double p;

	errno = 0;
	p = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !isfinite(p) || p < 0.0 || p > 1.0) {
		snprintf(err, errlen, "'%s': expected a number from 0 to 1", text);
		return -1;
	}
	((struct dns_settings *)s)->faults.rate = p;
	return 0;
}

static int
set_quiet(void *s, const char *text, char *err, size_t errlen)
{
	return parse_on_off(text, &((struct dns_settings *)s)->quiet, err, errlen);
}

/* The fault switches share one parser; which bit is the entry's name. */
static int
set_flag(struct dns_settings *s, const char *name, const char *text, char *err, size_t errlen)
{
	unsigned bit = faults_flag_by_name(name);
	int on;

	if (parse_on_off(text, &on, err, errlen) != 0)
		return -1;
	s->faults.flags = on ? s->faults.flags | bit : s->faults.flags & ~bit;
	return 0;
}

#define FLAG(n)								\
static int								\
set_##n(void *s, const char *text, char *err, size_t errlen)		\
{									\
	return set_flag(s, #n, text, err, errlen);			\
}									\
static void								\
fmt_##n(const void *s, char *buf, size_t len)				\
{									\
	snprintf(buf, len, "%s", ((const struct dns_settings *)s)->faults.flags & \
	    faults_flag_by_name(#n) ? "on" : "off");			\
}
FLAG(drop)
FLAG(servfail)
FLAG(nxdomain)
FLAG(refused)
FLAG(truncate)
FLAG(mismatch)
#undef FLAG

static void
fmt_duration(uint64_t us, char *buf, size_t len)
{
	if (us == 0)
		snprintf(buf, len, "0");
	else
		units_format_duration(us, buf, len);
}

static void
fmt_delay(const void *s, char *buf, size_t len)
{
	fmt_duration(((const struct dns_settings *)s)->faults.delay_us, buf, len);
}

static void
fmt_jitter(const void *s, char *buf, size_t len)
{
	fmt_duration(((const struct dns_settings *)s)->faults.jitter_us, buf, len);
}

static void
fmt_rate(const void *s, char *buf, size_t len)
{
	snprintf(buf, len, "%g", ((const struct dns_settings *)s)->faults.rate);
}

static void
fmt_quiet(const void *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s", ((const struct dns_settings *)s)->quiet ? "on" : "off");
}

static void
fmt_listen(const void *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s", ((const struct dns_settings *)s)->listen);
}

static void
fmt_zone(const void *s, char *buf, size_t len)
{
	const char *z = ((const struct dns_settings *)s)->zone;

	snprintf(buf, len, "%s", z ? z : "-");
}

static void
fmt_seed(const void *s, char *buf, size_t len)
{
	snprintf(buf, len, "%llu", (unsigned long long)((const struct dns_settings *)s)->seed);
}

/* Names are the long options' (the fault names must match faults.c). */
const struct livecfg_def dnsctl_defs[] = {
	{ "delay", set_delay, fmt_delay },
	{ "jitter", set_jitter, fmt_jitter },
	{ "fault-rate", set_rate, fmt_rate },
	{ "drop", set_drop, fmt_drop },
	{ "servfail", set_servfail, fmt_servfail },
	{ "nxdomain", set_nxdomain, fmt_nxdomain },
	{ "refused", set_refused, fmt_refused },
	{ "truncate", set_truncate, fmt_truncate },
	{ "mismatch", set_mismatch, fmt_mismatch },
	{ "quiet", set_quiet, fmt_quiet },
	{ "listen", NULL, fmt_listen },
	{ "zone", NULL, fmt_zone },
	{ "seed", NULL, fmt_seed },
};
const size_t dnsctl_ndefs = sizeof dnsctl_defs / sizeof dnsctl_defs[0];

int
dnsctl_parse(struct dns_settings *s, const char *name, const char *text, char *err, size_t errlen)
{
	return livecfg_parse(dnsctl_defs, dnsctl_ndefs, s, name, text, err, errlen);
}
