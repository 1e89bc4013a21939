#ifndef BANNERD_EXPORTER_H
#define BANNERD_EXPORTER_H
/* GET /metrics over HTTP (libevent's evhttp) on the main thread's loop.
 * The figures come from a collect callback, so this file knows HTTP and
 * nothing about workers. */
#include <stddef.h>

struct event_base;
struct evbuffer;
struct exporter;

typedef void exporter_collect_fn(void *arg, struct evbuffer *out);

/* address is "HOST:PORT" (port 0: any; the real one is logged).
 * Returns NULL with err set when it cannot listen. */
struct exporter *exporter_start(struct event_base *base, const char *address,
    exporter_collect_fn *collect, void *arg, char *err, size_t errlen);
void exporter_stop(struct exporter *e);

#endif
