#ifndef BANNERD_WORKER_H
#define BANNERD_WORKER_H
/* A worker thread: its own event_base (touched by no other thread), the
 * sessions on it, its resolver (resolver.h, rebuilt on reload), and an
 * inbox through which other threads hand it work: a connection to start,
 * a reload, a drain, a retirement. Which worker gets a connection, and
 * when, is pool.c's decision; a worker only reports, through the closed
 * callback, each session that ends (or could not start). */
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

struct metrics;
struct rdns_pool;
struct server;
struct worker;

enum handoff_kind {
	HANDOFF_CONN,		/* start a session for fd */
	HANDOFF_DRAIN,		/* graceful stop within timeout_us */
	HANDOFF_RELOAD,		/* rebuild the resolver from the current config */
	HANDOFF_RETIRE,		/* take no more, exit once empty (pool shrink) */
};

struct handoff {
	STAILQ_ENTRY(handoff) link;
	enum handoff_kind kind;
	int fd;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	uint64_t accept_us;
	uint64_t timeout_us;
	int counted;		/* HANDOFF_CONN: the pool's per-client table counts it */
	struct worker *owner;	/* HANDOFF_CONN: set by the worker that starts it */
};

STAILQ_HEAD(handoff_list, handoff);

/* Runs on the worker's thread when one of its sessions has ended, or
 * could not start; at worker_destroy, on the caller's thread, for each
 * connection still in the inbox. conn is the connection's handoff (its
 * peer, whether the pool counted it), freed when this returns. */
typedef void worker_closed_fn(void *arg, const struct handoff *conn);

/* Runs on the worker's thread when a session learns who its client
 * really is (a PROXY header): the per-client limits for peer, answered
 * as session.h's CLIENT_ADMIT_*. Within them, if counted, conn's peer
 * and counted now say so, so that the closed callback releases the right
 * client. */
typedef int worker_admit_fn(void *arg, struct handoff *conn, const struct sockaddr *peer, socklen_t len);

struct worker_params {
	unsigned id;
	struct server *srv;
	struct rdns_pool *threads;	/* for rdns.mode = pool */
	int exit_fd;			/* an eventfd counted up when the thread exits */
	worker_closed_fn *closed;
	void *arg;
	worker_admit_fn *admit;		/* with the same arg */
};

/* Builds the worker and starts its thread (signals blocked). */
struct worker *worker_spawn(const struct worker_params *wp, char *err, size_t errlen);

/* Any thread. Takes ownership of h. */
void worker_post(struct worker *w, struct handoff *h);
/* A handoff without a connection; -1 when out of memory. */
int worker_post_kind(struct worker *w, enum handoff_kind kind, uint64_t timeout_us);

int worker_exited(const struct worker *w);
void worker_join(struct worker *w);
/* After worker_join: closes what is left in its inbox and frees it. */
void worker_destroy(struct worker *w);
struct metrics *worker_metrics(const struct worker *w);

#endif
