#ifndef BANNERD_LISTENER_H
#define BANNERD_LISTENER_H
/* The accept loop: one evconnlistener per listen.address, on the main
 * thread's event_base. It enforces listen.max_sessions and the per-client
 * limits (pool_admit_client) with a 421 before any allocation or lookup,
 * survives descriptor exhaustion without spinning (logged once per
 * episode), and hands every accepted socket to the pool. */
#include <stddef.h>

struct config;
struct event_base;
struct listeners;
struct metrics;
struct metrics_gauges;
struct pool;
struct server;

/* Creates and binds the sockets (no event_base yet, so this may run
 * before daemonizing and before dropping privileges). */
struct listeners *listeners_bind(const struct config *c, char *err, size_t errlen);

/* Starts accepting on base, handing connections to pool. */
int listeners_start(struct listeners *ls, struct event_base *base, struct server *srv,
    struct pool *pool, struct metrics *metrics, char *err, size_t errlen);

/* overflow = wait: stop accepting while the admission queue is full. */
void listeners_pause(struct listeners *ls);
void listeners_resume(struct listeners *ls);

/* Each listener's kernel accept queue and backlog, for the metrics. */
void listeners_gauges(struct listeners *ls, struct metrics_gauges *g);

/* The limits in force after a reload (main thread). */
void listeners_set_config(struct listeners *ls, const struct config *c);

/* Stops accepting and closes the sockets. */
void listeners_close(struct listeners *ls);

#endif
