/* The async backend: c-ares on the worker's own event loop (rdns.c).
 * Lookups run in parallel from the moment they are asked for, so the
 * answer's queued and started times are the same: rdns_wait is 0. */
#include "resolver_backend.h"

#include <stdio.h>
#include <stdlib.h>

#include "config.h"

struct async_resolver {
	struct resolver r;
	struct rdns *ch;
	int forward_confirm;
};

struct async_lookup {
	struct rdns_handle h;
	struct rdns_query *q;
	rdns_done_fn *cb;
	void *arg;
};

/* rdns.c runs this from the loop, never from inside rdns_lookup. */
static void
answer_cb(void *arg, const struct rdns_answer *a)
{
	struct async_lookup *lk = arg;

	lk->cb(lk->arg, a);
	free(lk);
}

/* One worker's thread owns the channel, so testing the load and then
 * starting cannot race. */
static enum rdns_start_status
async_start(struct resolver *r, const struct sockaddr *peer, unsigned max_load, rdns_done_fn *cb,
    void *arg, struct rdns_handle **h)
{
	struct async_resolver *ar = (struct async_resolver *)r;
	struct async_lookup *lk;

	if (max_load > 0 && rdns_pending(ar->ch) >= max_load)
		return RDNS_START_FULL;
	if ((lk = calloc(1, sizeof *lk)) == NULL)
		return RDNS_START_NOMEM;
	lk->h.r = r;
	lk->cb = cb;
	lk->arg = arg;
	lk->q = rdns_lookup(ar->ch, peer, ar->forward_confirm, answer_cb, lk);
	if (lk->q == NULL) {
		free(lk);
		return RDNS_START_NOMEM;
	}
	*h = &lk->h;
	return RDNS_STARTED;
}

/* The query itself runs on in the background (c-ares 1.18 can only cancel
 * a whole channel); only its callback is dropped. */
static void
async_cancel(struct rdns_handle *h)
{
	struct async_lookup *lk = (struct async_lookup *)h;

	rdns_query_cancel(lk->q);
	free(lk);
}

static unsigned
async_pending(const struct resolver *r)
{
	return rdns_pending(((const struct async_resolver *)r)->ch);
}

static void
async_free(struct resolver *r)
{
	struct async_resolver *ar = (struct async_resolver *)r;

	rdns_free(ar->ch);	/* lookups in flight end as errors, through answer_cb */
	free(ar);
}

static const struct resolver_ops async_ops = {
	"async", async_start, async_cancel, async_pending, async_free,
};

struct resolver *
resolver_async_new(struct event_base *base, const struct config *c, char *err, size_t errlen)
{
	struct async_resolver *ar = calloc(1, sizeof *ar);

	if (ar == NULL) {
		snprintf(err, errlen, "rdns: out of memory for a resolver");
		return NULL;
	}
	ar->r.ops = &async_ops;
	ar->forward_confirm = c->rdns_forward_confirm;
	ar->ch = rdns_new(base, c, err, errlen);
	if (ar->ch == NULL) {
		free(ar);
		return NULL;
	}
	return &ar->r;
}
