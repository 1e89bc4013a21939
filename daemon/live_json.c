#include "live_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "config.h"
#include "live.h"
#include "metrics.h"

/* The length of the UTF-8 sequence at p (1..4), or 0 when it is not
 * one: a stray continuation byte, an overlong form, a surrogate, beyond
 * U+10FFFF, or cut short by the end of the string. */
static size_t
utf8_len(const unsigned char *p)
{
	size_t n;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;	/* also the NUL at the end */
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void
live_json_string(struct evbuffer *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	evbuffer_add(out, "\"", 1);
	while (*p != '\0') {
		size_t n = utf8_len(p);

		if (n == 0) {
			evbuffer_add(out, "\\ufffd", 6);
			p++;
		} else if (*p == '"' || *p == '\\') {
			evbuffer_add_printf(out, "\\%c", *p);
			p++;
		} else if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>' || *p == '&') {
			evbuffer_add_printf(out, "\\u%04x", *p);
			p++;
		} else {
			evbuffer_add(out, p, n);
			p += n;
		}
	}
	evbuffer_add(out, "\"", 1);
}

/* Unix seconds with microseconds, exactly: no float on the way. */
static void
add_time(struct evbuffer *out, int64_t us)
{
	if (us < 0)
		us = 0;
	evbuffer_add_printf(out, "%" PRId64 ".%06" PRId64, us / 1000000, us % 1000000);
}

static const char *const outcome_names[] = { "banner", "abandoned", "rejected" };

static void
add_record(struct evbuffer *out, const struct live_record *r)
{
	evbuffer_add_printf(out, "{\"seq\":%" PRIu64 ",\"t\":", r->seq);
	add_time(out, r->t_us);
	evbuffer_add_printf(out, ",\"banner_us\":%" PRIu64 ",\"outcome\":\"%s\",\"stages\":{", r->banner_us,
	    outcome_names[r->outcome]);
	for (int i = 0; i < BANNER_STAGE_COUNT; i++)
		evbuffer_add_printf(out, "%s\"%s\":%" PRIu64, i ? "," : "", metrics_stage_name((enum banner_stage)i),
		    r->stages[i]);
	evbuffer_add(out, "}}", 2);
}

/* The keys that cause slow banners (docs/causes), as the page shows them:
 * strings as the file spells them, counts as numbers. */
static const struct {
	const char *key;
	int number;
} live_keys[] = {
	{ "log.protocol_log", 0 }, { "rdns.enabled", 0 }, { "rdns.mode", 0 }, { "rdns.servers", 0 },
	{ "rdns.timeout", 0 }, { "rdns.tries", 1 }, { "rdns.threads", 1 }, { "ident.enabled", 0 },
	{ "banner.delay", 0 }, { "banner.delay_jitter", 0 }, { "pool.workers", 1 },
	{ "pool.sessions_per_worker", 1 }, { "pool.queue_max", 1 },
};

static void
add_keys(struct evbuffer *out, const struct config *c)
{
	char v[CONF_STR_MAX];

	evbuffer_add(out, "{", 1);
	for (size_t i = 0; i < sizeof live_keys / sizeof live_keys[0]; i++) {
		if (config_key_text(c, live_keys[i].key, v, sizeof v) != 0)
			snprintf(v, sizeof v, "?");
		evbuffer_add_printf(out, "%s\"%s\":", i ? "," : "", live_keys[i].key);
		if (live_keys[i].number)
			evbuffer_add_printf(out, "%s", v);
		else
			live_json_string(out, v);
		/* right after rdns.enabled: what auto makes of it */
		if (strcmp(live_keys[i].key, "rdns.enabled") == 0)
			evbuffer_add_printf(out, ",\"rdns.active\":%s", config_rdns_active(c) ? "true" : "false");
	}
	evbuffer_add(out, "}", 1);
}

void
live_json_write(struct evbuffer *out, const struct live_snapshot *snap,
    const struct metrics_gauges *g, const struct config *c, int control, int64_t now_us)
{
	evbuffer_add(out, "{\"now\":", 7);
	add_time(out, now_us);
	evbuffer_add_printf(out, ",\"seq\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"conns\":[", snap->seq,
	    snap->dropped);
	for (size_t i = 0; i < snap->n; i++) {
		if (i > 0)
			evbuffer_add(out, ",", 1);
		add_record(out, &snap->recs[i]);
	}
	evbuffer_add_printf(out, "],\"gauges\":{\"sessions\":%" PRIu64 ",\"queued\":%" PRIu64
	    ",\"workers\":%" PRIu64 ",\"sessions_per_worker\":%" PRIu64 ",\"rdns_threads\":%" PRIu64 "},\"keys\":",
	    g->sessions, g->queue_depth, g->pool_workers, g->sessions_per_worker, g->rdns_threads);
	add_keys(out, c);
	evbuffer_add_printf(out, ",\"control\":%s,\"changes\":[", control ? "true" : "false");
	for (size_t i = 0; i < snap->n_changes; i++) {
		evbuffer_add(out, i ? ",{\"t\":" : "{\"t\":", i ? 6 : 5);
		add_time(out, snap->changes[i].t_us);
		evbuffer_add(out, ",\"line\":", 8);
		live_json_string(out, snap->changes[i].line);
		evbuffer_add(out, ",\"origin\":", 10);
		live_json_string(out, snap->changes[i].origin);
		evbuffer_add(out, "}", 1);
	}
	evbuffer_add(out, "]}\n", 3);
}
