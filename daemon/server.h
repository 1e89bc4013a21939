#ifndef BANNERD_SERVER_H
#define BANNERD_SERVER_H
/* State shared by the listener and every worker: the current
 * configuration (swapped whole on reload) and process-wide counters.
 * Everything here is either atomic or behind conf_lock. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct config;
struct live;

struct server {
	pthread_mutex_t conf_lock;
	struct config *conf;		/* current; sessions hold their own ref */
	_Atomic uint64_t sessions_open;	/* across all workers, for max_sessions */
	/* 1 while sessions_open is at or past smtp.stress_threshold of
	 * listen.max_sessions: pool.c sets it under its admission lock,
	 * sessions read it (relaxed) when they arm a timeout. */
	_Atomic int stress;
	_Atomic uint64_t next_sid;
	/* GET /live's records (live.h: it has its own lock), or NULL; set
	 * before the workers start, never changed after. */
	struct live *live;
};

void server_init(struct server *srv, struct config *conf);
/* A reference to the current config; release it with config_unref. */
struct config *server_config(struct server *srv);
/* Installs a new config (takes over the caller's reference). */
void server_config_swap(struct server *srv, struct config *conf);
void server_destroy(struct server *srv);

#endif
