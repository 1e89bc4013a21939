#ifndef BANNERD_RESOLVER_H
#define BANNERD_RESOLVER_H
/* The reverse-DNS stage as a session sees it: one interface, two
 * backends, chosen once when a worker builds its resolver (and again when
 * a reload rebuilds it), as redis's ae.h hides ae_epoll.c and ae_kqueue.c.
 *
 *   async (resolver_async.c)  c-ares on the worker's own loop; lookups run
 *                             in parallel, none waits (rdns_wait = 0).
 *   pool  (resolver_pool.c)   the legacy IMS resolver threads (rdns_pool.h);
 *                             a lookup waits for a free thread.
 *
 * A resolver belongs to one worker and is used on that worker's thread
 * only. The callback of a lookup runs on that thread, from its event loop:
 * never from inside rdns_start, never after rdns_cancel. */
#include <sys/socket.h>

#include "rdns.h"

struct config;
struct event_base;
struct rdns_handle;
struct rdns_pool;
struct resolver;

/* Builds the backend c->rdns_mode names on base: pool (with threads, the
 * process's resolver threads) or async. Returns NULL with err set when
 * c-ares refuses the settings or memory runs out. */
struct resolver *resolver_new(struct event_base *base, const struct config *c,
    struct rdns_pool *threads, char *err, size_t errlen);

/* Lookups started whose handle is not yet finished with (a replaced
 * resolver is freed once this is 0). */
unsigned resolver_pending(const struct resolver *r);

/* On the worker's thread, with its base still alive. Lookups still in
 * flight end: their callbacks run with RDNS_ERROR (async) or never (pool;
 * the threads' answers are dropped when they come back). */
void resolver_free(struct resolver *r);

enum rdns_start_status { RDNS_STARTED, RDNS_START_FULL, RDNS_START_NOMEM };

/* Starts the PTR lookup of peer (and the forward confirmation, if the
 * resolver's configuration asks for it) and sets *h, unless the resolver
 * already carries max_load (rdns.max_inflight; 0, no bound): async, this
 * worker's lookups in flight (cancelled ones included: they still load
 * the channel); pool, the jobs waiting in the queue shared by every worker
 * for a resolver thread. The bound is tested in the same step that starts
 * the lookup. Unless RDNS_STARTED, the callback never runs. */
enum rdns_start_status rdns_start(struct resolver *r, const struct sockaddr *peer,
    unsigned max_load, rdns_done_fn *cb, void *arg, struct rdns_handle **h);

/* Nobody waits for this answer any more: the callback will not run, and
 * the handle must not be used again. */
void rdns_cancel(struct rdns_handle *h);

#endif
