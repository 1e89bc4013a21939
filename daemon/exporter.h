#ifndef BANNERD_EXPORTER_H
#define BANNERD_EXPORTER_H
/* bannerd's HTTP listener (metrics.listen), on the main thread's loop,
 * with libevent's evhttp:
 *   GET /metrics        the Prometheus exposition (from collect)
 *   GET /live?since=N   the live page's data, JSON (from live)
 *   POST /control       one control request (control.h), when
 *                       metrics.control = on, from metrics.control_allow,
 *                       with the start-up token in X-Bannerd-Token
 * This file knows HTTP and who may ask; the figures and the changes come
 * through the callbacks, so it knows nothing about workers. */
#include <stddef.h>
#include <stdint.h>

#include "control.h"

struct config;
struct event_base;
struct evbuffer;
struct exporter;

typedef void exporter_collect_fn(void *arg, struct evbuffer *out);
/* The JSON of GET /live: records past since; control says whether the
 * asking peer may use POST /control. */
typedef void exporter_live_fn(void *arg, uint64_t since, int control, struct evbuffer *out);

#define EXPORTER_BODY_MAX CONTROL_LINE_MAX	/* POST /control: 413 beyond */
#define EXPORTER_TOKEN_LEN 32			/* hex digits */

/* Listens on c's metrics.listen ("HOST:PORT"; port 0: any, the real one
 * is logged) with c's metrics.control and metrics.control_allow, which
 * are read here once. live NULL: /live is 404; control NULL: POST
 * /control answers 503. Returns NULL with err set when it cannot
 * listen or has no randomness for the token. */
struct exporter *exporter_start(struct event_base *base, const struct config *c,
    exporter_collect_fn *collect, exporter_live_fn *live, void *arg,
    control_fn *control, void *control_arg, char *err, size_t errlen);
void exporter_stop(struct exporter *e);

/* Constant-time comparison of a presented token with the real one: 1
 * when they match. Pure, for the tests. */
int exporter_token_ok(const char *want, const char *given);

#endif
