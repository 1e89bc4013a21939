/* Admission (pool.h): worker slots, the FIFO of connections waiting for
 * one, and the overflow policy, all under one lock. The threads are
 * worker.c's. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "anvil.h"
#include "monotime.h"
#include "session.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "rdns_pool.h"
#include "server.h"
#include "worker.h"

#define MAX_WORKERS 256
#define SHUTDOWN_REPLY "421 4.3.2 Service shutting down\r\n"

/* A worker as admission sees it. */
struct member {
	struct pool *pool;
	struct worker *w;
	unsigned n_sessions;		/* slots taken: under adm */
	int retiring;			/* under adm */
};

struct pool {
	struct server *srv;
	pthread_mutex_t adm;			/* the admission lock */
	struct handoff_list waiting;		/* under adm */
	unsigned n_waiting;			/* under adm */
	uint64_t slot_limit, queue_max;		/* under adm */
	uint64_t stress_at, max_sessions;	/* under adm; stress_at 0: never */
	uint64_t stress_leave_at;		/* under adm; below stress_at */
	int overflow, dispatch;			/* under adm */
	int queue_full;				/* under adm: paused accept for it */
	int draining;				/* under adm */
	struct anvil *clients;			/* under adm: per-client counts */
	unsigned rr_next;			/* under adm */
	struct member *active[MAX_WORKERS];	/* under adm; changed by main */
	unsigned n_active;
	struct member *all[2 * MAX_WORKERS];	/* main thread: every unjoined worker */
	unsigned n_all;
	unsigned next_id;
	int exit_fd, admission_fd;
	struct rdns_pool *rpool;
	struct metrics *gone;			/* figures of workers already joined */
};

/* ---- admission (any thread, under p->adm) ---- */

static int
has_slot(const struct pool *p, const struct member *m)
{
	return !m->retiring && (p->slot_limit == 0 || m->n_sessions < p->slot_limit);
}

static struct member *
pick_worker_locked(struct pool *p)
{
	struct member *best = NULL;

	for (unsigned i = 0; i < p->n_active; i++) {
		struct member *m = p->active[(p->rr_next + i) % p->n_active];
		if (!has_slot(p, m))
			continue;
		if (p->dispatch == DISPATCH_ROUND_ROBIN) {
			best = m;
			break;
		}
		if (best == NULL || m->n_sessions < best->n_sessions)
			best = m;
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
	struct member *m;

	while ((h = STAILQ_FIRST(&p->waiting)) != NULL && (m = pick_worker_locked(p)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->waiting, link);
		p->n_waiting--;
		m->n_sessions++;
		worker_post(m->w, h);
	}
	if (p->queue_full && p->n_waiting < (p->queue_max ? p->queue_max : 1)) {
		p->queue_full = 0;
		eventfd_notify(p->admission_fd);	/* the main loop resumes accept */
	}
}

/* What a change of stress mode is logged with, once the lock is dropped. */
struct stress_change {
	int changed, on;
	uint64_t open, at, max, leave_at;
};

/* After sessions_open or the limits changed: stress mode follows the
 * share of listen.max_sessions in use, like Postfix's at its process
 * limit. It starts at stress_at and ends only at stress_leave_at, so a
 * load that hovers at the threshold does not flip it (and log it) with
 * every connection. */
static void
stress_update_locked(struct pool *p, struct stress_change *sc)
{
	uint64_t open = atomic_load(&p->srv->sessions_open);
	int was = atomic_load_explicit(&p->srv->stress, memory_order_relaxed);
	int on = p->stress_at > 0 && (was ? open > p->stress_leave_at : open >= p->stress_at);

	sc->changed = on != was;
	if (!sc->changed)
		return;
	atomic_store_explicit(&p->srv->stress, on, memory_order_relaxed);
	*sc = (struct stress_change){ 1, on, open, p->stress_at, p->max_sessions, p->stress_leave_at };
}

static void
stress_log(const struct stress_change *sc)
{
	if (sc->changed)
		log_info("stress=%s sessions=%llu threshold=%llu max_sessions=%llu leave_at=%llu (%s)",
		    sc->on ? "on" : "off", (unsigned long long)sc->open, (unsigned long long)sc->at,
		    (unsigned long long)sc->max, (unsigned long long)sc->leave_at,
		    sc->on ? "new waits use smtp.stress_timeout_*" : "timeouts restored");
}

/* The one place a connection gives its admission back: sessions_open goes
 * down, and the worker slot it held (m; NULL for one that only waited)
 * goes to the oldest waiter. */
static void
slot_release(struct pool *p, struct member *m)
{
	struct stress_change sc;

	pthread_mutex_lock(&p->adm);
	atomic_fetch_sub(&p->srv->sessions_open, 1);
	stress_update_locked(p, &sc);
	if (m != NULL) {
		m->n_sessions--;
		if (!p->draining)
			admit_waiting_locked(p);
	}
	pthread_mutex_unlock(&p->adm);
	stress_log(&sc);
}

/* A connection counted by pool_admit_client has ended (any thread). */
static void
client_release(struct pool *p, const struct sockaddr *peer, int counted)
{
	if (!counted)
		return;
	pthread_mutex_lock(&p->adm);
	anvil_disconnect(p->clients, peer);
	pthread_mutex_unlock(&p->adm);
}

/* worker_closed_fn: a session of m's worker has ended. */
static void
member_session_closed(void *arg, const struct handoff *conn)
{
	struct member *m = arg;

	client_release(m->pool, (const struct sockaddr *)&conn->peer, conn->counted);
	slot_release(m->pool, m);
}

/* worker_admit_fn: the client behind a PROXY header, counted from now
 * on in place of the balancer (which the listener did not count). */
static int
member_admit_client(void *arg, struct handoff *conn, const struct sockaddr *peer, socklen_t len)
{
	struct member *m = arg;
	int counted;
	enum admission a;

	if (conn->counted)
		return CLIENT_ADMIT_OK;	/* the connection was counted at accept */
	a = pool_admit_client(m->pool, peer, monotime_now_us(), &counted);
	if (a == ADMIT_CLIENT_SESSIONS)
		return CLIENT_ADMIT_SESSIONS;
	if (a == ADMIT_CLIENT_RATE)
		return CLIENT_ADMIT_RATE;
	if (counted) {
		memcpy(&conn->peer, peer, len < sizeof conn->peer ? len : sizeof conn->peer);
		conn->peerlen = len;
		conn->counted = 1;
	}
	return CLIENT_ADMIT_OK;
}

enum admission
pool_admit_client(struct pool *p, const struct sockaddr *peer, uint64_t now_us, int *counted)
{
	enum anvil_verdict v;

	pthread_mutex_lock(&p->adm);
	v = anvil_connect(p->clients, peer, now_us);
	pthread_mutex_unlock(&p->adm);
	*counted = v == ANVIL_OK;
	if (v == ANVIL_TOO_MANY_SESSIONS)
		return ADMIT_CLIENT_SESSIONS;
	if (v == ANVIL_TOO_FAST)
		return ADMIT_CLIENT_RATE;
	return ADMIT_STARTED;
}

/* Decides where h goes. A connection that gets a slot is not posted
 * here: *to names the worker, and the caller posts it once the session
 * is counted, so the worker never starts a session that stress mode does
 * not know of yet. */
static enum admission
admit_locked(struct pool *p, struct handoff *h, struct member **to)
{
	struct member *m;

	*to = NULL;
	if (STAILQ_EMPTY(&p->waiting) && (m = pick_worker_locked(p)) != NULL) {
		m->n_sessions++;
		*to = m;
		return ADMIT_STARTED;
	}
	if (p->n_waiting >= p->queue_max && p->overflow != OVERFLOW_WAIT)
		return ADMIT_REJECTED;
	STAILQ_INSERT_TAIL(&p->waiting, h, link);
	p->n_waiting++;
	if (p->overflow == OVERFLOW_WAIT && p->n_waiting >= p->queue_max) {
		p->queue_full = 1;
		return ADMIT_QUEUED_FULL;
	}
	return ADMIT_QUEUED;
}

enum admission
pool_admit(struct pool *p, int fd, const struct sockaddr *peer, socklen_t peerlen,
    uint64_t accept_us, int counted)
{
	struct handoff *h = calloc(1, sizeof *h);
	struct stress_change sc = { 0 };
	struct member *to;
	enum admission result;

	if (h == NULL) {
		client_release(p, peer, counted);
		return ADMIT_REJECTED;
	}
	h->kind = HANDOFF_CONN;
	h->fd = fd;
	memcpy(&h->peer, peer, peerlen);
	h->peerlen = peerlen;
	h->accept_us = accept_us;
	h->counted = counted;
	pthread_mutex_lock(&p->adm);
	result = admit_locked(p, h, &to);
	if (result != ADMIT_REJECTED) {
		atomic_fetch_add(&p->srv->sessions_open, 1);	/* given back by slot_release */
		stress_update_locked(p, &sc);
	}
	if (to != NULL)
		worker_post(to->w, h);
	pthread_mutex_unlock(&p->adm);
	stress_log(&sc);
	if (result == ADMIT_REJECTED) {
		client_release(p, peer, counted);
		free(h);
	}
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

/* ---- the workers (main thread) ---- */

static int
member_spawn(struct pool *p, char *err, size_t errlen)
{
	struct member *m = calloc(1, sizeof *m);
	struct worker_params wp = {
		p->next_id++, p->srv, p->rpool, p->exit_fd, member_session_closed, m, member_admit_client,
	};

	if (m == NULL) {
		snprintf(err, errlen, "out of memory for a worker");
		return -1;
	}
	m->pool = p;
	m->w = worker_spawn(&wp, err, errlen);
	if (m->w == NULL) {
		free(m);
		return -1;
	}
	p->all[p->n_all++] = m;
	pthread_mutex_lock(&p->adm);
	p->active[p->n_active++] = m;
	pthread_mutex_unlock(&p->adm);
	return 0;
}

/* After worker_join. Connections still in its inbox come back through
 * member_session_closed, so m is freed last. */
static void
member_destroy(struct pool *p, struct member *m)
{
	metrics_add(p->gone, worker_metrics(m->w));
	worker_destroy(m->w);
	free(m);
}

static void
set_limits(struct pool *p, const struct config *c)
{
	struct stress_change sc;

	pthread_mutex_lock(&p->adm);
	p->slot_limit = c->pool_sessions_per_worker;
	p->queue_max = c->pool_queue_max;
	p->overflow = c->pool_overflow;
	p->dispatch = c->pool_dispatch;
	p->max_sessions = c->listen_max_sessions;
	/* Rounded up, so 80% of 10 is 8 and any share above 0 is one or more. */
	p->stress_at = (c->listen_max_sessions * c->smtp_stress_threshold + 99) / 100;
	/* Rounded down, and below stress_at: a leave share at or above the
	 * threshold means no hysteresis, leaving as soon as it is not met. */
	p->stress_leave_at = c->listen_max_sessions * c->smtp_stress_leave_threshold / 100;
	if (p->stress_at > 0 && p->stress_leave_at >= p->stress_at)
		p->stress_leave_at = p->stress_at - 1;
	stress_update_locked(p, &sc);
	pthread_mutex_unlock(&p->adm);
	stress_log(&sc);
}

static struct anvil_limits
client_limits(const struct config *c)
{
	return (struct anvil_limits){
		.max_sessions = c->listen_max_sessions_per_client,
		.max_rate = c->listen_max_connect_rate_per_client,
		.window_us = ANVIL_RATE_WINDOW_US,
		.prefix_v4 = (unsigned)c->listen_client_prefix_v4,
		.prefix_v6 = (unsigned)c->listen_client_prefix_v6,
	};
}

/* A new table size or prefix takes effect on reload (anvil_configure). */
static void
clients_reconfigure(struct pool *p, const struct config *c)
{
	struct anvil_limits lim = client_limits(c);
	int rc;

	pthread_mutex_lock(&p->adm);
	rc = anvil_configure(p->clients, c->listen_client_table_size, &lim);
	pthread_mutex_unlock(&p->adm);
	if (rc != 0)
		log_error("pool: out of memory for listen.client_table_size; the old size stays");
}

static struct anvil *
clients_new(const struct config *c)
{
	struct anvil_limits lim = client_limits(c);
	uint64_t seed = 0;

	/* Without the kernel's randomness the seed is weaker, not absent. */
	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed)
		seed = (uint64_t)getpid() ^ (uint64_t)(uintptr_t)&lim;
	return anvil_new(c->listen_client_table_size, &lim, seed);
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
	p->clients = clients_new(c);
	set_limits(p, c);
	p->rpool = rdns_pool_start(c, err, errlen);
	if (p->exit_fd < 0 || p->admission_fd < 0 || p->gone == NULL || p->rpool == NULL ||
	    p->clients == NULL) {
		if (p->rpool == NULL)
			return NULL;	/* err says why; exiting anyway */
		snprintf(err, errlen, "cannot set up the worker pool");
		return NULL;
	}
	for (unsigned i = 0; i < c->pool_workers; i++)
		if (member_spawn(p, err, errlen) != 0)
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
		if (member_spawn(p, err, sizeof err) != 0) {
			log_error("pool: %s", err);
			break;
		}
	/* Shrinking: the workers beyond n take no new session and exit once
	 * their own sessions have ended; none is dropped. */
	pthread_mutex_lock(&p->adm);
	while (p->n_active > n) {
		struct member *m = p->active[--p->n_active];
		m->retiring = 1;
		if (worker_post_kind(m->w, HANDOFF_RETIRE, 0) != 0)
			log_error("pool: out of memory retiring a worker");
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
	clients_reconfigure(p, c);
	resize_workers(p, (unsigned)c->pool_workers);
	rdns_pool_reconfigure(p->rpool, c);
	pthread_mutex_lock(&p->adm);
	admit_waiting_locked(p);	/* new capacity serves the queue at once */
	pthread_mutex_unlock(&p->adm);
	for (unsigned i = 0; i < p->n_all; i++)
		if (worker_post_kind(p->all[i]->w, HANDOFF_RELOAD, 0) != 0)
			log_error("pool: out of memory reloading worker");
}

/* Connections that never got a worker: told so, best effort, and closed. */
static void
close_waiting(struct pool *p, struct handoff_list *list)
{
	struct handoff *h;

	while ((h = STAILQ_FIRST(list)) != NULL) {
		STAILQ_REMOVE_HEAD(list, link);
		if (send(h->fd, SHUTDOWN_REPLY, sizeof SHUTDOWN_REPLY - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			(void)0;
		close(h->fd);
		client_release(p, (const struct sockaddr *)&h->peer, h->counted);
		slot_release(p, NULL);
		free(h);
	}
}

void
pool_drain(struct pool *p, uint64_t timeout_us)
{
	struct handoff_list waiting = STAILQ_HEAD_INITIALIZER(waiting);

	pthread_mutex_lock(&p->adm);
	p->draining = 1;
	STAILQ_CONCAT(&waiting, &p->waiting);
	p->n_waiting = 0;
	pthread_mutex_unlock(&p->adm);
	close_waiting(p, &waiting);
	for (unsigned i = 0; i < p->n_all; i++)
		if (worker_post_kind(p->all[i]->w, HANDOFF_DRAIN, timeout_us) != 0)
			abort();	/* cannot stop cleanly without it */
}

unsigned
pool_reap(struct pool *p)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < p->n_all; i++) {
		struct member *m = p->all[i];
		if (!worker_exited(m->w)) {
			p->all[kept++] = m;
			continue;
		}
		worker_join(m->w);
		member_destroy(p, m);
	}
	p->n_all = kept;
	return kept;
}

void
pool_join(struct pool *p)
{
	pthread_mutex_lock(&p->adm);
	p->draining = 1;	/* from here no connection goes to a worker */
	pthread_mutex_unlock(&p->adm);
	for (unsigned i = 0; i < p->n_all; i++)
		worker_join(p->all[i]->w);
	/* Resolver threads hand jobs back to the workers' resolvers: stop
	 * them while those still exist. */
	rdns_pool_stop(p->rpool);
	for (unsigned i = 0; i < p->n_all; i++)
		member_destroy(p, p->all[i]);
	close_waiting(p, &p->waiting);
	close(p->exit_fd);
	close(p->admission_fd);
	metrics_free(p->gone);
	anvil_free(p->clients);
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
		metrics_add(m, worker_metrics(p->all[i]->w));
	pthread_mutex_lock(&p->adm);
	g->queue_depth = p->n_waiting;
	g->pool_workers = p->n_active;
	g->sessions_per_worker = p->slot_limit;
	g->stress = (uint64_t)atomic_load(&p->srv->stress);
	pthread_mutex_unlock(&p->adm);
	g->sessions = pool_sessions(p);
	g->rdns_queue_depth = rdns_pool_queue_depth(p->rpool);
	g->rdns_threads = rdns_pool_threads(p->rpool);
}
