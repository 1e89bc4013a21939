#ifndef BANNERD_LIVE_JSON_H
#define BANNERD_LIVE_JSON_H
/* The body of GET /live (bannerd.8 has the format): a snapshot of the
 * records and changes (live.h), the gauges and the keys that make
 * banners slow, from the current configuration. Pure: it writes what it
 * is given. */
#include <stdint.h>

struct config;
struct evbuffer;
struct live_snapshot;
struct metrics_gauges;

/* now_us: the wall clock in microseconds since the epoch. control: the
 * asking peer may use POST /control. */
void live_json_write(struct evbuffer *out, const struct live_snapshot *snap,
    const struct metrics_gauges *g, const struct config *c, int control, int64_t now_us);

/* s as a JSON string, quotes included: ", \ and control characters
 * escaped, < > & too (the page may put it into HTML), bytes that are not
 * UTF-8 replaced by U+FFFD, so any input gives valid JSON. */
void live_json_string(struct evbuffer *out, const char *s);

#endif
