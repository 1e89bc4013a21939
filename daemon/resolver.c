/* The resolver interface: picks the backend, then passes every call on. */
#include "resolver_backend.h"

#include "config.h"

struct resolver *
resolver_new(struct event_base *base, const struct config *c, struct rdns_pool *threads,
    char *err, size_t errlen)
{
	if (c->rdns_mode == RDNS_MODE_POOL && threads != NULL)
		return resolver_pool_new(base, c, threads, err, errlen);
	return resolver_async_new(base, c, err, errlen);
}

unsigned
resolver_pending(const struct resolver *r)
{
	return r->ops->pending(r);
}

void
resolver_free(struct resolver *r)
{
	if (r != NULL)
		r->ops->free(r);
}

enum rdns_start_status
rdns_start(struct resolver *r, const struct sockaddr *peer, unsigned max_load, rdns_done_fn *cb,
    void *arg, struct rdns_handle **h)
{
	*h = NULL;
	return r->ops->start(r, peer, max_load, cb, arg, h);
}

void
rdns_cancel(struct rdns_handle *h)
{
	if (h != NULL)
		h->r->ops->cancel(h);
}
