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
#include "rdns.h"
#include "server.h"
#include "session.h"

enum handoff_kind { HANDOFF_CONN, HANDOFF_DRAIN, HANDOFF_RELOAD };

struct handoff {
	STAILQ_ENTRY(handoff) link;
	enum handoff_kind kind;
	int fd;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	uint64_t accept_us;
	uint64_t timeout_us;
};

struct worker {
	unsigned id;
	struct pool *pool;
	pthread_t thread;
	struct event_base *base;
	int efd;
	struct event *notify_ev;
	struct event *drain_timer;
	pthread_mutex_t lock;
	STAILQ_HEAD(, handoff) inbox;	/* under lock */
	_Atomic unsigned n_sessions;	/* read by the dispatcher */
	struct session_list sessions;	/* this thread only */
	int draining;
	/* The resolver new sessions use, and replaced ones that still have
	 * lookups in flight (freed once idle, or at exit). */
	struct rdns *rdns;
	struct rdns *retired[8];
	unsigned n_retired;
};

struct pool {
	struct server *srv;
	int exit_fd;		/* each worker adds 1 when its loop ends */
	struct worker *workers;
	unsigned n_workers;
	int dispatch;
	unsigned next;		/* round-robin cursor, listener thread only */
};

static void
worker_maybe_exit(struct worker *w)
{
	if (w->draining && TAILQ_EMPTY(&w->sessions))
		event_base_loopexit(w->base, NULL);
}

static void
session_closed_cb(void *arg)
{
	struct worker *w = arg;

	atomic_fetch_sub(&w->n_sessions, 1);
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
	struct timeval tv = { (time_t)(timeout_us / 1000000), (suseconds_t)(timeout_us % 1000000) };

	w->draining = 1;
	if (w->drain_timer == NULL)
		w->drain_timer = evtimer_new(w->base, drain_timeout_cb, w);
	evtimer_add(w->drain_timer, &tv);	/* a second stop shortens the wait */
	worker_maybe_exit(w);
}

static void
worker_accept(struct worker *w, struct handoff *h)
{
	struct session_env env = { w->base, w->pool->srv, w->rdns, &w->sessions, session_closed_cb, w };

	if (session_start(&env, h->fd, (struct sockaddr *)&h->peer, h->peerlen, h->accept_us) == NULL) {
		/* session_start closed the socket; undo the accounting. */
		log_error("worker %u: out of memory for a new session", w->id);
		atomic_fetch_sub(&w->pool->srv->sessions_open, 1);
		atomic_fetch_sub(&w->n_sessions, 1);
	}
}

static void
free_idle_retired(struct worker *w)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < w->n_retired; i++) {
		if (rdns_pending(w->retired[i]) == 0)
			rdns_free(w->retired[i]);
		else
			w->retired[kept++] = w->retired[i];
	}
	w->n_retired = kept;
}

/* c-ares cannot change a channel's servers while lookups run, so a new
 * configuration gets a new channel; the old one finishes its lookups. */
static void
worker_reload(struct worker *w)
{
	struct config *c = server_config(w->pool->srv);
	char err[512];
	struct rdns *r = rdns_new(w->base, c, err, sizeof err);

	config_unref(c);
	if (r == NULL) {
		log_error("worker %u: reload: %s; keeping the old resolver", w->id, err);
		return;
	}
	free_idle_retired(w);
	if (w->n_retired == sizeof w->retired / sizeof w->retired[0]) {
		rdns_free(w->retired[0]);	/* its lookups end as errors */
		memmove(w->retired, w->retired + 1, (w->n_retired - 1) * sizeof w->retired[0]);
		w->n_retired--;
	}
	w->retired[w->n_retired++] = w->rdns;
	w->rdns = r;
}

static void
notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	STAILQ_HEAD(, handoff) batch = STAILQ_HEAD_INITIALIZER(batch);
	struct handoff *h;
	uint64_t count;

	if (read(w->efd, &count, sizeof count) < 0 && errno != EAGAIN)
		log_error("worker %u: eventfd read: %s", w->id, strerror(errno));
	pthread_mutex_lock(&w->lock);
	STAILQ_CONCAT(&batch, &w->inbox);
	pthread_mutex_unlock(&w->lock);
	while ((h = STAILQ_FIRST(&batch)) != NULL) {
		STAILQ_REMOVE_HEAD(&batch, link);
		if (h->kind == HANDOFF_CONN)
			worker_accept(w, h);
		else if (h->kind == HANDOFF_RELOAD)
			worker_reload(w);
		else
			worker_start_drain(w, h->timeout_us);
		free(h);
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct handoff *h;
	uint64_t one = 1;

	event_base_dispatch(w->base);
	/* Anything handed over after we stopped is closed, not leaked. */
	pthread_mutex_lock(&w->lock);
	while ((h = STAILQ_FIRST(&w->inbox)) != NULL) {
		STAILQ_REMOVE_HEAD(&w->inbox, link);
		if (h->kind == HANDOFF_CONN) {
			close(h->fd);
			atomic_fetch_sub(&w->pool->srv->sessions_open, 1);
		}
		free(h);
	}
	pthread_mutex_unlock(&w->lock);
	if (write(w->pool->exit_fd, &one, sizeof one) < 0)
		log_error("worker %u: cannot report its exit: %s", w->id, strerror(errno));
	return NULL;
}

static int
worker_init(struct pool *p, struct worker *w, unsigned id, char *err, size_t errlen)
{
	struct event_config *cfg = event_config_new();
	struct config *c;

	w->id = id;
	w->pool = p;
	w->efd = -1;
	pthread_mutex_init(&w->lock, NULL);
	STAILQ_INIT(&w->inbox);
	TAILQ_INIT(&w->sessions);
	atomic_init(&w->n_sessions, 0);
	if (cfg == NULL)
		return -1;
	/* Only this worker's thread touches its base: no locks needed. */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->base == NULL || w->efd < 0)
		return -1;
	w->notify_ev = event_new(w->base, w->efd, EV_READ | EV_PERSIST, notify_cb, w);
	if (w->notify_ev == NULL || event_add(w->notify_ev, NULL) != 0)
		return -1;
	/* Every worker has a channel, used or not, so that a reload that
	 * turns the lookup on needs no new thread state. */
	c = server_config(p->srv);
	w->rdns = rdns_new(w->base, c, err, errlen);
	config_unref(c);
	return w->rdns != NULL ? 0 : -2;
}

static void
worker_destroy(struct worker *w)
{
	/* Channels go before the base: ares_destroy still calls back into
	 * the event table. */
	rdns_free(w->rdns);
	for (unsigned i = 0; i < w->n_retired; i++)
		rdns_free(w->retired[i]);
	if (w->drain_timer != NULL)
		event_free(w->drain_timer);
	if (w->notify_ev != NULL)
		event_free(w->notify_ev);
	if (w->base != NULL)
		event_base_free(w->base);
	if (w->efd >= 0)
		close(w->efd);
	pthread_mutex_destroy(&w->lock);
}

static void
worker_post(struct worker *w, struct handoff *h)
{
	uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	STAILQ_INSERT_TAIL(&w->inbox, h, link);
	pthread_mutex_unlock(&w->lock);
	if (write(w->efd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_error("worker %u: eventfd write: %s", w->id, strerror(errno));
}

struct pool *
pool_start(struct server *srv, unsigned workers, int dispatch, char *err, size_t errlen)
{
	struct pool *p = calloc(1, sizeof *p);
	sigset_t all, old;
	unsigned i;

	if (p == NULL || (p->workers = calloc(workers, sizeof *p->workers)) == NULL)
		goto fail;
	p->srv = srv;
	p->n_workers = workers;
	p->exit_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->exit_fd < 0)
		goto fail;
	p->dispatch = dispatch;
	for (i = 0; i < workers; i++) {
		int rc = worker_init(p, &p->workers[i], i, err, errlen);
		if (rc == -2)
			goto fail_quiet;
		if (rc != 0)
			goto fail;
	}
	/* Signals are the main thread's business: workers block them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < workers; i++)
		if (pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]) != 0) {
			snprintf(err, errlen, "cannot start worker thread %u: %s", i, strerror(errno));
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			abort();	/* threads already running cannot be unwound cleanly */
		}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return p;
fail:
	snprintf(err, errlen, "cannot set up %u workers: out of memory or descriptors", workers);
fail_quiet:
	if (p != NULL && p->workers != NULL)
		for (i = 0; i < workers; i++)
			if (p->workers[i].pool != NULL)
				worker_destroy(&p->workers[i]);
	if (p != NULL) {
		free(p->workers);
		if (p->exit_fd > 0)
			close(p->exit_fd);
	}
	free(p);
	return NULL;
}

static struct worker *
pick_worker(struct pool *p)
{
	unsigned best = p->next % p->n_workers;

	p->next++;
	if (p->dispatch == DISPATCH_ROUND_ROBIN)
		return &p->workers[best];
	for (unsigned i = 0; i < p->n_workers; i++) {
		unsigned j = (best + i) % p->n_workers;
		if (atomic_load(&p->workers[j].n_sessions) < atomic_load(&p->workers[best].n_sessions))
			best = j;
	}
	return &p->workers[best];
}

void
pool_dispatch(struct pool *p, int fd, const struct sockaddr *peer, socklen_t peerlen,
    uint64_t accept_us)
{
	struct handoff *h = calloc(1, sizeof *h);
	struct worker *w;

	if (h == NULL) {
		close(fd);
		atomic_fetch_sub(&p->srv->sessions_open, 1);
		return;
	}
	h->kind = HANDOFF_CONN;
	h->fd = fd;
	memcpy(&h->peer, peer, peerlen);
	h->peerlen = peerlen;
	h->accept_us = accept_us;
	w = pick_worker(p);
	atomic_fetch_add(&w->n_sessions, 1);
	worker_post(w, h);
}

void
pool_drain(struct pool *p, uint64_t timeout_us)
{
	for (unsigned i = 0; i < p->n_workers; i++) {
		struct handoff *h = calloc(1, sizeof *h);
		if (h == NULL)
			abort();	/* cannot stop cleanly without it */
		h->kind = HANDOFF_DRAIN;
		h->timeout_us = timeout_us;
		worker_post(&p->workers[i], h);
	}
}

void
pool_reload(struct pool *p)
{
	for (unsigned i = 0; i < p->n_workers; i++) {
		struct handoff *h = calloc(1, sizeof *h);
		if (h == NULL) {
			log_error("reload: out of memory; worker %u keeps its resolver", i);
			continue;
		}
		h->kind = HANDOFF_RELOAD;
		worker_post(&p->workers[i], h);
	}
}

void
pool_join(struct pool *p)
{
	for (unsigned i = 0; i < p->n_workers; i++) {
		pthread_join(p->workers[i].thread, NULL);
		worker_destroy(&p->workers[i]);
	}
	close(p->exit_fd);
	free(p->workers);
	free(p);
}

int
pool_exit_fd(const struct pool *p)
{
	return p->exit_fd;
}

unsigned
pool_size(const struct pool *p)
{
	return p->n_workers;
}

unsigned
pool_sessions(const struct pool *p)
{
	unsigned n = 0;

	for (unsigned i = 0; i < p->n_workers; i++)
		n += atomic_load(&p->workers[i].n_sessions);
	return n;
}
