/* The worker threads (worker.h): each runs its own event loop, starts the
 * sessions handed to it, rebuilds its resolver on reload and drains on
 * stop. Admission (which worker, when) is pool.c's. */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "monotime.h"
#include "resolver.h"
#include "server.h"
#include "session.h"

#define MAX_RETIRED_RESOLVERS 8

struct worker {
	struct worker_params wp;
	pthread_t thread;
	struct event_base *base;
	int efd;
	struct event *notify_ev;
	struct event *log_flush_ev;	/* lowest priority: runs when the loop is idle */
	struct event *drain_timer;
	pthread_mutex_t lock;
	struct handoff_list inbox;	/* under lock */
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

static void
worker_maybe_exit(struct worker *w)
{
	if ((w->draining || w->leaving) && TAILQ_EMPTY(&w->sessions))
		event_base_loopexit(w->base, NULL);
}

/* ---- sessions ---- */

/* A session on this worker has ended: the slot goes back to admission.
 * arg is the connection's handoff, kept as the session's close token so
 * that admission learns which client left; it is freed here. */
static void
session_closed_cb(void *arg)
{
	struct handoff *h = arg;
	struct worker *w = h->owner;

	w->wp.closed(w->wp.arg, h);
	free(h);
	worker_maybe_exit(w);
}

/* A session's client is known at last (its PROXY header). */
static int
session_admit_cb(void *arg, const struct sockaddr *peer, socklen_t len)
{
	struct handoff *h = arg;
	struct worker *w = h->owner;

	return w->wp.admit != NULL ? w->wp.admit(w->wp.arg, h, peer, len) : CLIENT_ADMIT_OK;
}

static void
worker_start_session(struct worker *w, struct handoff *h)
{
	struct session_env env = {
		.base = w->base, .srv = w->wp.srv, .resolver = w->resolver, .metrics = w->metrics,
		.list = &w->sessions, .on_close = session_closed_cb, .admit_client = session_admit_cb, .arg = h,
	};

	h->owner = w;
	if (session_start(&env, h->fd, (struct sockaddr *)&h->peer, h->peerlen, h->accept_us) == NULL) {
		/* session_start closed the socket; give the slot back. */
		log_error("worker %u: out of memory for a new session", w->wp.id);
		session_closed_cb(h);
	}
}

/* ---- drain and reload ---- */

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
	struct config *c = server_config(w->wp.srv);
	char err[512];
	struct resolver *r = resolver_new(w->base, c, w->wp.threads, err, sizeof err);

	config_unref(c);
	if (r == NULL) {
		log_error("worker %u: reload: %s; keeping the old resolver", w->wp.id, err);
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
worker_handle(struct worker *w, struct handoff *h)
{
	switch (h->kind) {
	case HANDOFF_CONN:
		worker_start_session(w, h);	/* h is the session's now */
		return;
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

/* ---- the thread and its inbox ---- */

static void
notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct handoff_list batch = STAILQ_HEAD_INITIALIZER(batch);
	struct handoff *h;

	eventfd_drain(w->efd, "worker");
	pthread_mutex_lock(&w->lock);
	STAILQ_CONCAT(&batch, &w->inbox);
	pthread_mutex_unlock(&w->lock);
	while ((h = STAILQ_FIRST(&batch)) != NULL) {
		STAILQ_REMOVE_HEAD(&batch, link);
		worker_handle(w, h);
	}
}

/* The worker's log lines of a loop turn go out together (log.h), once no
 * other event is ready: libevent runs a lower priority only when none of
 * a higher one is active. */
static void
log_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	log_batch_flush();
}

static void
log_wake(void *arg)
{
	struct worker *w = arg;

	event_active(w->log_flush_ev, EV_TIMEOUT, 0);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	log_batch_begin(log_wake, w);
	event_base_dispatch(w->base);
	log_batch_end();
	atomic_store(&w->exited, 1);
	eventfd_notify(w->wp.exit_fd);
	return NULL;
}

/* Only a post into an empty inbox wakes the worker: one with posts in it
 * has been woken already and has not yet taken them, since notify_cb
 * drains the eventfd before it takes the inbox. A burst of connections
 * then costs one eventfd write and one read, not one each. */
void
worker_post(struct worker *w, struct handoff *h)
{
	int was_empty;

	pthread_mutex_lock(&w->lock);
	was_empty = STAILQ_EMPTY(&w->inbox);
	STAILQ_INSERT_TAIL(&w->inbox, h, link);
	pthread_mutex_unlock(&w->lock);
	if (was_empty)
		eventfd_notify(w->efd);
}

int
worker_post_kind(struct worker *w, enum handoff_kind kind, uint64_t timeout_us)
{
	struct handoff *h = calloc(1, sizeof *h);

	if (h == NULL)
		return -1;
	h->kind = kind;
	h->timeout_us = timeout_us;
	worker_post(w, h);
	return 0;
}

/* Connections still in the inbox are closed and reported closed. */
void
worker_destroy(struct worker *w)
{
	struct handoff *h;

	while ((h = STAILQ_FIRST(&w->inbox)) != NULL) {
		STAILQ_REMOVE_HEAD(&w->inbox, link);
		if (h->kind == HANDOFF_CONN) {
			close(h->fd);
			w->wp.closed(w->wp.arg, h);
		}
		free(h);
	}
	/* Resolvers go before the base: ares_destroy still calls back into
	 * the event table. */
	resolver_free(w->resolver);
	for (unsigned i = 0; i < w->n_retired; i++)
		resolver_free(w->retired[i]);
	if (w->drain_timer != NULL)
		event_free(w->drain_timer);
	if (w->notify_ev != NULL)
		event_free(w->notify_ev);
	if (w->log_flush_ev != NULL)
		event_free(w->log_flush_ev);
	if (w->base != NULL)
		event_base_free(w->base);
	if (w->efd >= 0)
		close(w->efd);
	metrics_free(w->metrics);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static struct worker *
worker_new(const struct worker_params *wp, char *err, size_t errlen)
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
	w->wp = *wp;
	w->efd = -1;
	pthread_mutex_init(&w->lock, NULL);
	STAILQ_INIT(&w->inbox);
	TAILQ_INIT(&w->sessions);
	/* Only this worker's thread touches its base: no locks needed.
	 * Precise timers: libevent's default coarse clock can end a banner
	 * delay a millisecond early, and this is a timing lab. */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	/* No EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST: it defers a closed
	 * session's EPOLL_CTL_DEL to the next loop turn, after the close,
	 * while the main thread may already have accepted a new client on
	 * the same number and posted it here; libevent documents the flag
	 * as unsafe when a descriptor number is reused like that
	 * (ThreadSanitizer reported the accept4/epoll_ctl race on the fd). */
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->metrics = metrics_new();
	/* Three priorities: everything at the default (1), the log flush
	 * below it (2). */
	if (w->base != NULL && event_base_priority_init(w->base, 3) == 0 &&
	    (w->log_flush_ev = event_new(w->base, -1, 0, log_flush_cb, w)) != NULL)
		event_priority_set(w->log_flush_ev, 2);
	if (w->base != NULL && w->efd >= 0 && w->log_flush_ev != NULL)
		w->notify_ev = event_new(w->base, w->efd, EV_READ | EV_PERSIST, notify_cb, w);
	if (w->notify_ev == NULL || w->metrics == NULL || event_add(w->notify_ev, NULL) != 0) {
		snprintf(err, errlen, "cannot set up worker %u: out of memory or descriptors", w->wp.id);
		goto fail;
	}
	/* Every worker has a resolver, used or not, so that a reload that
	 * turns the lookup on needs no new thread state. */
	c = server_config(wp->srv);
	w->resolver = resolver_new(w->base, c, wp->threads, err, errlen);
	config_unref(c);
	if (w->resolver == NULL)
		goto fail;
	return w;
fail:
	worker_destroy(w);
	return NULL;
}

struct worker *
worker_spawn(const struct worker_params *wp, char *err, size_t errlen)
{
	struct worker *w = worker_new(wp, err, errlen);
	sigset_t all, old;
	int rc;

	if (w == NULL)
		return NULL;
	/* Signals are the main thread's business: workers block them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start worker thread %u: %s", w->wp.id, strerror(rc));
		worker_destroy(w);
		return NULL;
	}
	return w;
}

int
worker_exited(const struct worker *w)
{
	return atomic_load(&w->exited);
}

void
worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
}

struct metrics *
worker_metrics(const struct worker *w)
{
	return w->metrics;
}
