#ifndef BANNERD_RESOLVER_BACKEND_H
#define BANNERD_RESOLVER_BACKEND_H
/* What a resolver backend provides behind resolver.h. Only resolver.c and
 * the backends include this. */
#include "resolver.h"

struct resolver_ops {
	const char *name;
	enum rdns_start_status (*start)(struct resolver *r, const struct sockaddr *peer,
	    unsigned max_load, rdns_done_fn *cb, void *arg, struct rdns_handle **h);
	void (*cancel)(struct rdns_handle *h);
	unsigned (*pending)(const struct resolver *r);
	void (*free)(struct resolver *r);
};

/* The first member of every backend's resolver... */
struct resolver {
	const struct resolver_ops *ops;
};

/* ...and of every backend's handle. */
struct rdns_handle {
	struct resolver *r;
};

struct resolver *resolver_async_new(struct event_base *base, const struct config *c,
    char *err, size_t errlen);
struct resolver *resolver_pool_new(struct event_base *base, const struct config *c,
    struct rdns_pool *threads, char *err, size_t errlen);

#endif
