/* The pool backend: lookups go to the resolver threads (rdns_pool.c) and
 * their answers come back here, to the worker that asked, through an
 * eventfd on the worker's loop. The hand-off needs no allocation: the job
 * itself is queued back, so it cannot fail.
 *
 * The resolver may be freed (a reload replaced it, or its worker exited)
 * while threads still hold its jobs: it is then detached, and the last
 * job to come back frees it. */
#include "resolver_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "monotime.h"
#include "notify.h"
#include "rdns_pool.h"

struct pool_lookup {
	struct rdns_handle h;
	struct rdns_job job;
	STAILQ_ENTRY(pool_lookup) link;
	struct pool_resolver *owner;
	rdns_done_fn *cb;	/* worker thread only */
	void *arg;
	uint64_t queued_us;
};

STAILQ_HEAD(lookup_list, pool_lookup);

struct pool_resolver {
	struct resolver r;
	struct rdns_pool *threads;
	int forward_confirm;
	int efd;
	struct event *answered_ev;
	pthread_mutex_t lock;
	struct lookup_list answered;	/* under lock */
	unsigned out;			/* jobs not yet back and freed: under lock */
	int detached;			/* under lock: the worker let go */
};

static void
destroy(struct pool_resolver *pr)
{
	pthread_mutex_destroy(&pr->lock);
	free(pr);
}

/* A resolver thread (or the main thread, at stop) hands a job back. */
static void
job_done(struct rdns_job *job)
{
	struct pool_lookup *lk = (struct pool_lookup *)((char *)job - offsetof(struct pool_lookup, job));
	struct pool_resolver *pr = lk->owner;
	int last = 0;

	pthread_mutex_lock(&pr->lock);
	if (pr->detached) {
		free(lk);
		last = --pr->out == 0;
	} else {
		/* answered_cb drains the eventfd before it takes the list:
		 * a non-empty list has a wakeup on its way already */
		if (STAILQ_EMPTY(&pr->answered))
			eventfd_notify(pr->efd);
		STAILQ_INSERT_TAIL(&pr->answered, lk, link);
	}
	pthread_mutex_unlock(&pr->lock);
	if (last)
		destroy(pr);
}

static void
deliver(struct pool_lookup *lk)
{
	const struct rdns_job *job = &lk->job;
	struct rdns_answer a = {
		job->result, job->name[0] ? job->name : NULL,
		lk->queued_us, job->started_us, job->done_us,
		job->timeouts, job->detail[0] ? job->detail : NULL, job->confirmed,
	};

	if (!atomic_load(&lk->job.cancelled))
		lk->cb(lk->arg, &a);
	free(lk);
}

/* On the worker's loop: the answers that came back since the last call. */
static void
answered_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool_resolver *pr = arg;
	struct lookup_list batch = STAILQ_HEAD_INITIALIZER(batch);
	struct pool_lookup *lk;

	eventfd_drain(fd, "rdns");
	pthread_mutex_lock(&pr->lock);
	STAILQ_CONCAT(&batch, &pr->answered);
	STAILQ_FOREACH(lk, &batch, link)
		pr->out--;
	pthread_mutex_unlock(&pr->lock);
	while ((lk = STAILQ_FIRST(&batch)) != NULL) {
		STAILQ_REMOVE_HEAD(&batch, link);
		deliver(lk);
	}
}

/* The bound is on the queue every worker shares, so the pool tests it
 * under its own lock as it queues (rdns_pool_submit). */
static enum rdns_start_status
pooled_start(struct resolver *r, const struct sockaddr *peer, unsigned max_load, rdns_done_fn *cb,
    void *arg, struct rdns_handle **h)
{
	struct pool_resolver *pr = (struct pool_resolver *)r;
	struct pool_lookup *lk = calloc(1, sizeof *lk);
	socklen_t len = peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);

	if (lk == NULL)
		return RDNS_START_NOMEM;
	lk->h.r = r;
	lk->owner = pr;
	lk->cb = cb;
	lk->arg = arg;
	lk->queued_us = monotime_now_us();
	memcpy(&lk->job.peer, peer, len);
	lk->job.forward_confirm = pr->forward_confirm;
	lk->job.done = job_done;
	pthread_mutex_lock(&pr->lock);
	pr->out++;	/* before the submit: the answer may come back at once */
	pthread_mutex_unlock(&pr->lock);
	if (!rdns_pool_submit(pr->threads, &lk->job, max_load)) {
		pthread_mutex_lock(&pr->lock);
		pr->out--;
		pthread_mutex_unlock(&pr->lock);
		free(lk);
		return RDNS_START_FULL;
	}
	*h = &lk->h;
	return RDNS_STARTED;
}

/* The job still comes back (a thread may be on it); deliver drops it. */
static void
pooled_cancel(struct rdns_handle *h)
{
	struct pool_lookup *lk = (struct pool_lookup *)h;

	atomic_store(&lk->job.cancelled, 1);
}

static unsigned
pooled_pending(const struct resolver *r)
{
	struct pool_resolver *pr = (struct pool_resolver *)r;
	unsigned n;

	pthread_mutex_lock(&pr->lock);
	n = pr->out;
	pthread_mutex_unlock(&pr->lock);
	return n;
}

static void
pooled_free(struct resolver *r)
{
	struct pool_resolver *pr = (struct pool_resolver *)r;
	struct pool_lookup *lk;
	int last;

	pthread_mutex_lock(&pr->lock);
	pr->detached = 1;
	while ((lk = STAILQ_FIRST(&pr->answered)) != NULL) {
		STAILQ_REMOVE_HEAD(&pr->answered, link);
		free(lk);
		pr->out--;
	}
	last = pr->out == 0;
	pthread_mutex_unlock(&pr->lock);
	if (pr->answered_ev != NULL)
		event_free(pr->answered_ev);
	if (pr->efd >= 0)
		close(pr->efd);
	if (last)
		destroy(pr);
}

static const struct resolver_ops pooled_ops = {
	"pool", pooled_start, pooled_cancel, pooled_pending, pooled_free,
};

struct resolver *
resolver_pool_new(struct event_base *base, const struct config *c, struct rdns_pool *threads,
    char *err, size_t errlen)
{
	struct pool_resolver *pr = calloc(1, sizeof *pr);

	if (pr == NULL) {
		snprintf(err, errlen, "rdns: out of memory for a resolver");
		return NULL;
	}
	pr->r.ops = &pooled_ops;
	pr->threads = threads;
	pr->forward_confirm = c->rdns_forward_confirm;
	pthread_mutex_init(&pr->lock, NULL);
	STAILQ_INIT(&pr->answered);
	pr->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pr->efd >= 0)
		pr->answered_ev = event_new(base, pr->efd, EV_READ | EV_PERSIST, answered_cb, pr);
	if (pr->answered_ev == NULL || event_add(pr->answered_ev, NULL) != 0) {
		snprintf(err, errlen, "rdns: cannot set up the resolver hand-off: out of memory or descriptors");
		pooled_free(&pr->r);
		return NULL;
	}
	return &pr->r;
}
