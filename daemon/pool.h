#ifndef BANNERD_POOL_H
#define BANNERD_POOL_H
/* Admission control for the worker pool (the Perfwiz model).
 *
 * pool.workers threads (worker.h), each with its own event_base; a session
 * lives on one worker from start to close. pool.sessions_per_worker bounds
 * what a worker holds at once (1 = one thread per connection, the legacy
 * shape; 0 = no bound). A connection that finds no free slot waits,
 * already accepted and timestamped, in a FIFO of pool.queue_max; past
 * that, pool.overflow = wait stops accepting (the kernel backlog holds the
 * rest) and reject answers 421. A worker whose session ends takes the
 * next waiting connection itself, at once.
 *
 * Admission is decided here, in one place, under one lock (the admission
 * lock) that the listener and the workers take once per connection. It
 * guards: each worker's taken slots and retiring mark, the list of active
 * workers, the waiting FIFO and its length, the limits (slot limit,
 * queue_max, overflow, dispatch), the queue-full and draining marks,
 * the round-robin cursor, and the per-client counts (anvil.h) with their
 * limits. server.sessions_open goes up in pool_admit and
 * down only in slot_release, both under the lock, and server.stress (the
 * stress mode, smtp.stress_threshold) is decided there from it, so the
 * mode costs one comparison per admission and is logged once each time
 * it is entered or left. */
#include <stdint.h>
#include <sys/socket.h>

struct config;
struct metrics;
struct metrics_gauges;
struct pool;
struct server;

enum admission {
	ADMIT_STARTED,		/* handed to a worker */
	ADMIT_QUEUED,		/* waiting for a slot */
	ADMIT_QUEUED_FULL,	/* waiting, and the queue is now full: pause accept */
	ADMIT_REJECTED,		/* overflow = reject and the queue is full: caller answers 421 */
	ADMIT_CLIENT_SESSIONS,	/* listen.max_sessions_per_client: caller answers 421 */
	ADMIT_CLIENT_RATE,	/* listen.max_connect_rate_per_client: caller answers 421 */
};

struct pool *pool_start(struct server *srv, const struct config *c, char *err, size_t errlen);

/* Listener thread, first, before anything is allocated for the
 * connection: the per-client limits, as Postfix's anvil keeps them. The
 * counts (anvil.h: open sessions and connections per minute, per address
 * or prefix) live in a table that only the admission lock guards; the
 * listener counts a client in here, and the session's close (slot_release
 * and member_session_closed, any worker) counts it out. ADMIT_CLIENT_*:
 * the caller answers 421 and closes. ADMIT_STARTED: go on to pool_admit
 * with *counted. */
enum admission pool_admit_client(struct pool *p, const struct sockaddr *peer,
    uint64_t now_us, int *counted);

/* Listener thread. Takes ownership of fd unless ADMIT_REJECTED. counted
 * is pool_admit_client's. */
enum admission pool_admit(struct pool *p, int fd, const struct sockaddr *peer,
    socklen_t peerlen, uint64_t accept_us, int counted);

/* Whether the admission queue has room again (listener resumes accept). */
int pool_queue_has_room(struct pool *p);

/* Readable when the queue went from full to not full (for overflow =
 * wait); the main loop then resumes accepting. */
int pool_admission_fd(const struct pool *p);

/* After a reload (main thread): resizes the worker and resolver pools
 * without touching established sessions, applies the new slot and queue
 * limits, serves queued connections from new capacity at once, and has
 * every worker rebuild its c-ares channel. */
void pool_reconfigure(struct pool *p, const struct config *c);

/* Graceful stop: sessions may finish for timeout_us, then each gets
 * "421 4.3.2 shutting down"; every worker exits once it has none left.
 * Calling it again with a shorter timeout shortens the wait. Queued
 * connections are closed. */
void pool_drain(struct pool *p, uint64_t timeout_us);

/* Readable (an eventfd counter) as workers exit. */
int pool_exit_fd(const struct pool *p);
/* Joins workers that have exited; returns how many are still running. */
unsigned pool_reap(struct pool *p);

/* Waits for every worker and resolver to exit and frees the pool. */
void pool_join(struct pool *p);

/* Sums every worker's metrics into m and fills the pool's gauges. */
void pool_collect(struct pool *p, struct metrics *m, struct metrics_gauges *g);

unsigned pool_sessions(struct pool *p);

#endif
