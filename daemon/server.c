#include "server.h"

#include "config.h"

void
server_init(struct server *srv, struct config *conf)
{
	pthread_mutex_init(&srv->conf_lock, NULL);
	srv->conf = conf;
	atomic_init(&srv->sessions_open, 0);
	atomic_init(&srv->stress, 0);
	atomic_init(&srv->next_sid, 1);
}

struct config *
server_config(struct server *srv)
{
	struct config *c;

	pthread_mutex_lock(&srv->conf_lock);
	c = config_ref(srv->conf);
	pthread_mutex_unlock(&srv->conf_lock);
	return c;
}

void
server_config_swap(struct server *srv, struct config *conf)
{
	struct config *old;

	pthread_mutex_lock(&srv->conf_lock);
	old = srv->conf;
	srv->conf = conf;
	pthread_mutex_unlock(&srv->conf_lock);
	config_unref(old);
}

void
server_destroy(struct server *srv)
{
	config_unref(srv->conf);
	srv->conf = NULL;
	pthread_mutex_destroy(&srv->conf_lock);
}
