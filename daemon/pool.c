#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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
#include "metrics.h"
#include "rdns_pool.h"
#include "resolver.h"
#include "server.h"
#include "session.h"

#define MAX_WORKERS 256
#define SHUTDOWN_REPLY "421 4.3.2 Service shutting down\r\n"
#define MAX_RETIRED_RESOLVERS 8

enum handoff_kind { HANDOFF_CONN, HANDOFF_DRAIN, HANDOFF_RELOAD, HANDOFF_RETIRE };

struct handoff {
	STAILQ_ENTRY(handoff) link;
	enum handoff_kind kind;
	int fd;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	uint64_t accept_us;
	uint64_t timeout_us;
};

STAILQ_HEAD(handoff_list, handoff);

struct worker {
	unsigned id;
	struct pool *pool;
	pthread_t thread;
	struct event_base *base;
	int efd;
	struct event *notify_ev;
	struct event *drain_timer;
	pthread_mutex_t lock;
	struct handoff_list inbox;	/* under lock */
	unsigned n_sessions;		/* slots taken: under the pool's admission lock */
	int retiring;			/* under the admission lock */
	_Atomic int exited;
	struct session_list sessions;	/* this thread only */
	int draining;			/* this thread only */
	int leaving;			/* exit when empty, no 421 (retired by a shrink) */
	struct metrics *metrics;
	/* The resolver new sessions use, and replaced ones that still have
	 * lookups in flight (freed once idle, or at exit). */
	struct resolver *resolver;
	struct resolver *retired[MAX_RETIRED_RESOLVERS];
	unsigned n_retired;
};

struct pool {
	struct server *srv;
	pthread_mutex_t adm;			/* admission lock */
	struct handoff_list waiting;		/* under adm */
	unsigned n_waiting;			/* under adm */
	uint64_t slot_limit, queue_max;		/* under adm */
	int overflow, dispatch;			/* under adm */
	int queue_full;				/* under adm: paused accept for it */
	int draining;				/* under adm */
	unsigned rr_next;			/* under adm */
	struct worker *active[MAX_WORKERS];	/* under adm; changed by main */
	unsigned n_active;
	struct worker *all[2 * MAX_WORKERS];	/* main thread: every unjoined worker */
	unsigned n_all;
	unsigned next_id;
	int exit_fd, admission_fd;
	struct rdns_pool *rpool;
	struct metrics *gone;			/* figures of workers already joined */
};

static void worker_post(struct worker *w, struct handoff *h);

static void
eventfd_add(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_error("eventfd write: %s", strerror(errno));
}

/* ---- admission (any thread, under p->adm) ---- */

static int
has_slot(const struct pool *p, const struct worker *w)
{
	return !w->retiring && (p->slot_limit == 0 || w->n_sessions < p->slot_limit);
}

static struct worker *
pick_worker_locked(struct pool *p)
{
	struct worker *best = NULL;

	for (unsigned i = 0; i < p->n_active; i++) {
		struct worker *w = p->active[(p->rr_next + i) % p->n_active];
		if (!has_slot(p, w))
			continue;
		if (p->dispatch == DISPATCH_ROUND_ROBIN) {
			best = w;
			break;
		}
		if (best == NULL || w->n_sessions < best->n_sessions)
			best = w;
	}
	if (p->n_active > 0)
		p->rr_next = (p->rr_next + 1) % p->n_active;
	return best;
}

/* Hands waiting connections to workers with free slots, oldest first. */
static void
admit_waiting_locked(struct pool *p)
{
	struct handoff *h;
	struct worker *w;

	while ((h = STAILQ_FIRST(&p->waiting)) != NULL && (w = pick_worker_locked(p)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->waiting, link);
		p->n_waiting--;
		w->n_sessions++;
		worker_post(w, h);
	}
	if (p->queue_full && p->n_waiting < (p->queue_max ? p->queue_max : 1)) {
		p->queue_full = 0;
		eventfd_add(p->admission_fd);	/* the main loop resumes accept */
	}
}

enum admission
pool_dispatch(struct pool *p, int fd, const struct sockaddr *peer, socklen_t peerlen,
    uint64_t accept_us)
{
	struct handoff *h = calloc(1, sizeof *h);
	enum admission result;
	struct worker *w;

	if (h == NULL)
		return ADMIT_REJECTED;
	h->kind = HANDOFF_CONN;
	h->fd = fd;
	memcpy(&h->peer, peer, peerlen);
	h->peerlen = peerlen;
	h->accept_us = accept_us;
	pthread_mutex_lock(&p->adm);
	if (STAILQ_EMPTY(&p->waiting) && (w = pick_worker_locked(p)) != NULL) {
		w->n_sessions++;
		worker_post(w, h);
		result = ADMIT_STARTED;
	} else if (p->n_waiting < p->queue_max || p->overflow == OVERFLOW_WAIT) {
		STAILQ_INSERT_TAIL(&p->waiting, h, link);
		p->n_waiting++;
		result = ADMIT_QUEUED;
		if (p->overflow == OVERFLOW_WAIT && p->n_waiting >= p->queue_max) {
			p->queue_full = 1;
			result = ADMIT_QUEUED_FULL;
		}
	} else {
		free(h);
		result = ADMIT_REJECTED;
	}
	pthread_mutex_unlock(&p->adm);
	return result;
}

int
pool_queue_has_room(struct pool *p)
{
	int room;

	pthread_mutex_lock(&p->adm);
	room = !p->queue_full;
	pthread_mutex_unlock(&p->adm);
	return room;
}

/* ---- worker thread ---- */

static void
worker_maybe_exit(struct worker *w)
{
	if ((w->draining || w->leaving) && TAILQ_EMPTY(&w->sessions))
		event_base_loopexit(w->base, NULL);
}

static void
session_closed_cb(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;

	atomic_fetch_sub(&p->srv->sessions_open, 1);
	pthread_mutex_lock(&p->adm);
	w->n_sessions--;
	if (!p->draining)
		admit_waiting_locked(p);	/* the freed slot goes to the oldest waiter */
	pthread_mutex_unlock(&p->adm);
	worker_maybe_exit(w);
}

static void
drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	session_shutdown_all(&w->sessions);
}

static void
worker_start_drain(struct worker *w, uint64_t timeout_us)
{
	struct timeval tv = monotime_timeval(timeout_us);

	w->draining = 1;
	if (w->drain_timer == NULL)
		w->drain_timer = evtimer_new(w->base, drain_timeout_cb, w);
	evtimer_add(w->drain_timer, &tv);	/* a second stop shortens the wait */
	worker_maybe_exit(w);
}

static void
worker_accept(struct worker *w, struct handoff *h)
{
	struct session_env env = {
		.base = w->base, .srv = w->pool->srv, .resolver = w->resolver, .metrics = w->metrics,
		.list = &w->sessions, .on_close = session_closed_cb, .arg = w,
	};

	if (session_start(&env, h->fd, (struct sockaddr *)&h->peer, h->peerlen, h->accept_us) == NULL) {
		/* session_start closed the socket; give the slot back. */
		log_error("worker %u: out of memory for a new session", w->id);
		session_closed_cb(w);
	}
}

static void
free_idle_retired(struct worker *w)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < w->n_retired; i++) {
		if (resolver_pending(w->retired[i]) == 0)
			resolver_free(w->retired[i]);
		else
			w->retired[kept++] = w->retired[i];
	}
	w->n_retired = kept;
}

/* The backend is chosen once per configuration: a reload builds a new
 * resolver (c-ares cannot change a channel's servers while lookups run),
 * and the old one finishes its lookups. */
static void
worker_reload(struct worker *w)
{
	struct config *c = server_config(w->pool->srv);
	char err[512];
	struct resolver *r = resolver_new(w->base, c, w->pool->rpool, err, sizeof err);

	config_unref(c);
	if (r == NULL) {
		log_error("worker %u: reload: %s; keeping the old resolver", w->id, err);
		return;
	}
	free_idle_retired(w);
	if (w->n_retired == MAX_RETIRED_RESOLVERS) {
		resolver_free(w->retired[0]);	/* its lookups end as errors */
		memmove(w->retired, w->retired + 1, (w->n_retired - 1) * sizeof w->retired[0]);
		w->n_retired--;
	}
	w->retired[w->n_retired++] = w->resolver;
	w->resolver = r;
}

static void
handle(struct worker *w, struct handoff *h)
{
	switch (h->kind) {
	case HANDOFF_CONN:
		worker_accept(w, h);
		break;
	case HANDOFF_RELOAD:
		worker_reload(w);
		break;
	case HANDOFF_RETIRE:
		w->leaving = 1;
		worker_maybe_exit(w);
		break;
	case HANDOFF_DRAIN:
		worker_start_drain(w, h->timeout_us);
		break;
	}
	free(h);
}

static void
notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct handoff_list batch = STAILQ_HEAD_INITIALIZER(batch);
	struct handoff *h;
	uint64_t count;

	if (read(w->efd, &count, sizeof count) < 0 && errno != EAGAIN)
		log_error("worker %u: eventfd read: %s", w->id, strerror(errno));
	pthread_mutex_lock(&w->lock);
	STAILQ_CONCAT(&batch, &w->inbox);
	pthread_mutex_unlock(&w->lock);
	while ((h = STAILQ_FIRST(&batch)) != NULL) {
		STAILQ_REMOVE_HEAD(&batch, link);
		handle(w, h);
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	atomic_store(&w->exited, 1);
	eventfd_add(w->pool->exit_fd);
	return NULL;
}

/* Whatever is still in an inbox when a worker is destroyed: connections
 * are closed. */
static void
free_handoffs(struct pool *p, struct handoff_list *list)
{
	struct handoff *h;

	while ((h = STAILQ_FIRST(list)) != NULL) {
		STAILQ_REMOVE_HEAD(list, link);
		if (h->kind == HANDOFF_CONN) {
			close(h->fd);
			atomic_fetch_sub(&p->srv->sessions_open, 1);
		}
		free(h);
	}
}

static void
worker_post(struct worker *w, struct handoff *h)
{
	pthread_mutex_lock(&w->lock);
	STAILQ_INSERT_TAIL(&w->inbox, h, link);
	pthread_mutex_unlock(&w->lock);
	eventfd_add(w->efd);
}

static void
worker_destroy(struct worker *w)
{
	free_handoffs(w->pool, &w->inbox);
	/* Resolvers go before the base: ares_destroy still calls back into
	 * the event table. */
	resolver_free(w->resolver);
	for (unsigned i = 0; i < w->n_retired; i++)
		resolver_free(w->retired[i]);
	if (w->drain_timer != NULL)
		event_free(w->drain_timer);
	if (w->notify_ev != NULL)
		event_free(w->notify_ev);
	if (w->base != NULL)
		event_base_free(w->base);
	if (w->efd >= 0)
		close(w->efd);
	metrics_free(w->metrics);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static struct worker *
worker_new(struct pool *p, char *err, size_t errlen)
{
	struct worker *w = calloc(1, sizeof *w);
	struct event_config *cfg = event_config_new();
	struct config *c;

	if (w == NULL || cfg == NULL) {
		free(w);
		if (cfg != NULL)
			event_config_free(cfg);
		snprintf(err, errlen, "out of memory for a worker");
		return NULL;
	}
	w->id = p->next_id++;
	w->pool = p;
	w->efd = -1;
	pthread_mutex_init(&w->lock, NULL);
	STAILQ_INIT(&w->inbox);
	TAILQ_INIT(&w->sessions);
	/* Only this worker's thread touches its base: no locks needed.
	 * Precise timers: libevent's default coarse clock can end a banner
	 * delay a millisecond early, and this is a timing lab. */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	/* A session flips its read and write interest several times per
	 * reply; the changelist folds those into one epoll_ctl per loop
	 * turn (safe here: no socket is ever dup()ed). */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->metrics = metrics_new();
	if (w->base != NULL && w->efd >= 0)
		w->notify_ev = event_new(w->base, w->efd, EV_READ | EV_PERSIST, notify_cb, w);
	if (w->notify_ev == NULL || w->metrics == NULL || event_add(w->notify_ev, NULL) != 0) {
		snprintf(err, errlen, "cannot set up worker %u: out of memory or descriptors", w->id);
		goto fail;
	}
	/* Every worker has a resolver, used or not, so that a reload that
	 * turns the lookup on needs no new thread state. */
	c = server_config(p->srv);
	w->resolver = resolver_new(w->base, c, p->rpool, err, errlen);
	config_unref(c);
	if (w->resolver == NULL)
		goto fail;
	return w;
fail:
	worker_destroy(w);
	return NULL;
}

static int
worker_spawn(struct pool *p, char *err, size_t errlen)
{
	struct worker *w = worker_new(p, err, errlen);
	sigset_t all, old;
	int rc;

	if (w == NULL)
		return -1;
	/* Signals are the main thread's business: workers block them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start worker thread %u: %s", w->id, strerror(rc));
		worker_destroy(w);
		return -1;
	}
	p->all[p->n_all++] = w;
	pthread_mutex_lock(&p->adm);
	p->active[p->n_active++] = w;
	pthread_mutex_unlock(&p->adm);
	return 0;
}

/* ---- main thread ---- */

static void
set_limits(struct pool *p, const struct config *c)
{
	pthread_mutex_lock(&p->adm);
	p->slot_limit = c->pool_sessions_per_worker;
	p->queue_max = c->pool_queue_max;
	p->overflow = c->pool_overflow;
	p->dispatch = c->pool_dispatch;
	pthread_mutex_unlock(&p->adm);
}

struct pool *
pool_start(struct server *srv, const struct config *c, char *err, size_t errlen)
{
	struct pool *p = calloc(1, sizeof *p);

	if (p == NULL)
		return NULL;
	p->srv = srv;
	pthread_mutex_init(&p->adm, NULL);
	STAILQ_INIT(&p->waiting);
	p->exit_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->admission_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->gone = metrics_new();
	set_limits(p, c);
	p->rpool = rdns_pool_start(c, err, errlen);
	if (p->exit_fd < 0 || p->admission_fd < 0 || p->gone == NULL || p->rpool == NULL) {
		if (p->rpool == NULL)
			return NULL;	/* err says why; exiting anyway */
		snprintf(err, errlen, "cannot set up the worker pool");
		return NULL;
	}
	for (unsigned i = 0; i < c->pool_workers; i++)
		if (worker_spawn(p, err, errlen) != 0)
			return NULL;	/* the process exits: no unwinding */
	return p;
}

static void
resize_workers(struct pool *p, unsigned n)
{
	char err[512];
	unsigned old = p->n_active;

	if (n == old)
		return;
	log_info("pool: workers %u -> %u", old, n);
	while (p->n_active < n && p->n_all < 2 * MAX_WORKERS)
		if (worker_spawn(p, err, sizeof err) != 0) {
			log_error("pool: %s", err);
			break;
		}
	/* Shrinking: the workers beyond n take no new session and exit once
	 * their own sessions have ended; none is dropped. */
	pthread_mutex_lock(&p->adm);
	while (p->n_active > n) {
		struct worker *w = p->active[--p->n_active];
		struct handoff *h = calloc(1, sizeof *h);
		w->retiring = 1;
		if (h != NULL) {
			h->kind = HANDOFF_RETIRE;
			worker_post(w, h);
		}
	}
	pthread_mutex_unlock(&p->adm);
}

void
pool_reconfigure(struct pool *p, const struct config *c)
{
	pthread_mutex_lock(&p->adm);
	log_info("pool: sessions_per_worker %llu -> %llu, queue_max %llu -> %llu",
	    (unsigned long long)p->slot_limit, (unsigned long long)c->pool_sessions_per_worker,
	    (unsigned long long)p->queue_max, (unsigned long long)c->pool_queue_max);
	pthread_mutex_unlock(&p->adm);
	set_limits(p, c);
	resize_workers(p, (unsigned)c->pool_workers);
	rdns_pool_reconfigure(p->rpool, c);
	pthread_mutex_lock(&p->adm);
	admit_waiting_locked(p);	/* new capacity serves the queue at once */
	pthread_mutex_unlock(&p->adm);
	for (unsigned i = 0; i < p->n_all; i++) {
		struct handoff *h = calloc(1, sizeof *h);
		if (h != NULL) {
			h->kind = HANDOFF_RELOAD;
			worker_post(p->all[i], h);
		}
	}
}

void
pool_drain(struct pool *p, uint64_t timeout_us)
{
	struct handoff_list waiting = STAILQ_HEAD_INITIALIZER(waiting);
	struct handoff *h;

	pthread_mutex_lock(&p->adm);
	p->draining = 1;
	STAILQ_CONCAT(&waiting, &p->waiting);
	p->n_waiting = 0;
	pthread_mutex_unlock(&p->adm);
	/* Never started: told so, best effort, and closed. */
	STAILQ_FOREACH(h, &waiting, link)
		if (send(h->fd, SHUTDOWN_REPLY, sizeof SHUTDOWN_REPLY - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			continue;
	free_handoffs(p, &waiting);
	for (unsigned i = 0; i < p->n_all; i++) {
		h = calloc(1, sizeof *h);
		if (h == NULL)
			abort();	/* cannot stop cleanly without it */
		h->kind = HANDOFF_DRAIN;
		h->timeout_us = timeout_us;
		worker_post(p->all[i], h);
	}
}

unsigned
pool_reap(struct pool *p)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < p->n_all; i++) {
		struct worker *w = p->all[i];
		if (!atomic_load(&w->exited)) {
			p->all[kept++] = w;
			continue;
		}
		pthread_join(w->thread, NULL);
		metrics_add(p->gone, w->metrics);
		worker_destroy(w);
	}
	p->n_all = kept;
	return kept;
}

void
pool_join(struct pool *p)
{
	for (unsigned i = 0; i < p->n_all; i++)
		pthread_join(p->all[i]->thread, NULL);
	/* Resolver threads hand jobs back to the workers' resolvers: stop
	 * them while those still exist. */
	rdns_pool_stop(p->rpool);
	for (unsigned i = 0; i < p->n_all; i++)
		worker_destroy(p->all[i]);
	free_handoffs(p, &p->waiting);
	close(p->exit_fd);
	close(p->admission_fd);
	metrics_free(p->gone);
	pthread_mutex_destroy(&p->adm);
	free(p);
}

int
pool_exit_fd(const struct pool *p)
{
	return p->exit_fd;
}

int
pool_admission_fd(const struct pool *p)
{
	return p->admission_fd;
}

unsigned
pool_sessions(struct pool *p)
{
	unsigned n = 0;

	pthread_mutex_lock(&p->adm);
	for (unsigned i = 0; i < p->n_all; i++)
		n += p->all[i]->n_sessions;
	pthread_mutex_unlock(&p->adm);
	return n;
}

void
pool_collect(struct pool *p, struct metrics *m, struct metrics_gauges *g)
{
	metrics_add(m, p->gone);
	for (unsigned i = 0; i < p->n_all; i++)
		metrics_add(m, p->all[i]->metrics);
	pthread_mutex_lock(&p->adm);
	g->queue_depth = p->n_waiting;
	g->pool_workers = p->n_active;
	g->sessions_per_worker = p->slot_limit;
	pthread_mutex_unlock(&p->adm);
	g->sessions = pool_sessions(p);
	g->rdns_queue_depth = rdns_pool_queue_depth(p->rpool);
	g->rdns_threads = rdns_pool_threads(p->rpool);
}
