#include "rdns_pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "monotime.h"

#define MAX_RESOLVERS 256

struct resolver {
	struct rdns_pool *pool;
	unsigned id;
	pthread_t thread;
	_Atomic int retire;	/* finish the current job, then exit */
	int kick_fd;		/* written to abandon the lookup in flight */
};

struct rdns_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	STAILQ_HEAD(, rdns_job) jobs;	/* under lock */
	unsigned depth;			/* under lock */
	unsigned generation;		/* config version, under lock */
	struct config *conf;		/* under lock; a private copy */
	int stopping;			/* under lock */
	unsigned n_active;		/* threads taking jobs */
	struct resolver *threads[MAX_RESOLVERS];	/* 0..n_active-1 */
	struct resolver *retired[MAX_RESOLVERS];
	unsigned n_retired;
};

/* A lookup on this thread's own loop, run until its answer is in. */
struct lookup_ctx {
	struct event_base *base;
	struct rdns_job *job;
	int done;
};

static void
lookup_done_cb(void *arg, const struct rdns_answer *a)
{
	struct lookup_ctx *ctx = arg;
	struct rdns_job *job = ctx->job;

	job->result = a->result;
	job->timeouts = a->timeouts;
	job->confirmed = a->confirmed;
	snprintf(job->name, sizeof job->name, "%s", a->name != NULL ? a->name : "");
	snprintf(job->detail, sizeof job->detail, "%s", a->detail != NULL ? a->detail : "");
	ctx->done = 1;
	event_base_loopbreak(ctx->base);
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct event_base *base = arg;
	uint64_t n;

	if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
		(void)0;
	event_base_loopbreak(base);
}

static struct rdns_job *
next_job(struct resolver *r, unsigned *generation, struct config **conf)
{
	struct rdns_pool *p = r->pool;
	struct rdns_job *job = NULL;

	pthread_mutex_lock(&p->lock);
	while (!p->stopping && !atomic_load(&r->retire) && STAILQ_EMPTY(&p->jobs))
		pthread_cond_wait(&p->cond, &p->lock);
	if (!p->stopping && !atomic_load(&r->retire)) {
		job = STAILQ_FIRST(&p->jobs);
		STAILQ_REMOVE_HEAD(&p->jobs, link);
		p->depth--;
		if (*generation != p->generation) {
			*generation = p->generation;
			config_unref(*conf);
			*conf = config_ref(p->conf);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return job;
}

static void
run_job(struct resolver *r, struct event_base *base, struct rdns **rdns, struct rdns_job *job,
    int *stale)
{
	struct lookup_ctx ctx = { base, job, 0 };
	struct rdns_query *q;

	job->started_us = monotime_now_us();
	if (atomic_load(&job->cancelled)) {
		job->result = RDNS_ERROR;	/* the client left while queued */
		snprintf(job->detail, sizeof job->detail, "client gone");
	} else if ((q = rdns_lookup(*rdns, (struct sockaddr *)&job->peer, job->forward_confirm,
	    lookup_done_cb, &ctx)) == NULL) {
		job->result = RDNS_ERROR;
		snprintf(job->detail, sizeof job->detail, "out of memory");
	} else {
		event_base_dispatch(base);
		if (!ctx.done) {	/* kicked: the pool is stopping */
			rdns_query_cancel(q);
			job->result = RDNS_ERROR;
			snprintf(job->detail, sizeof job->detail, "resolver stopped");
			*stale = 1;
		}
	}
	job->done_us = monotime_now_us();
}

static void *
resolver_main(void *arg)
{
	struct resolver *r = arg;
	struct event_config *cfg = event_config_new();
	struct event_base *base = NULL;
	struct event *kick = NULL;
	struct config *conf = NULL;
	struct rdns *rdns = NULL;
	unsigned generation = (unsigned)-1, built = (unsigned)-1;
	struct rdns_job *job;
	char err[512];

	if (cfg != NULL) {
		event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
		base = event_base_new_with_config(cfg);
		event_config_free(cfg);
	}
	if (base != NULL)
		kick = event_new(base, r->kick_fd, EV_READ | EV_PERSIST, kick_cb, base);
	if (kick == NULL || event_add(kick, NULL) != 0) {
		log_error("resolver %u: cannot set up its event loop", r->id);
		goto out;
	}
	while ((job = next_job(r, &generation, &conf)) != NULL) {
		int stale = 0;
		if (built != generation || rdns == NULL) {
			rdns_free(rdns);
			rdns = rdns_new(base, conf, err, sizeof err);
			built = generation;
		}
		if (rdns == NULL) {
			job->started_us = job->done_us = monotime_now_us();
			job->result = RDNS_ERROR;
			snprintf(job->detail, sizeof job->detail, "%.90s", err);
		} else
			run_job(r, base, &rdns, job, &stale);
		job->done(job);
		if (stale)
			break;	/* stopping */
	}
out:
	rdns_free(rdns);
	config_unref(conf);
	if (kick != NULL)
		event_free(kick);
	if (base != NULL)
		event_base_free(base);
	return NULL;
}

static int
resolver_spawn(struct rdns_pool *p, unsigned id)
{
	struct resolver *r = calloc(1, sizeof *r);
	sigset_t all, old;
	int rc;

	if (r == NULL)
		return -1;
	r->pool = p;
	r->id = id;
	r->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->kick_fd < 0) {
		free(r);
		return -1;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&r->thread, NULL, resolver_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		close(r->kick_fd);
		free(r);
		return -1;
	}
	p->threads[id] = r;
	return 0;
}

static void
resolver_join(struct resolver *r)
{
	uint64_t one = 1;

	if (write(r->kick_fd, &one, sizeof one) < 0)
		(void)0;
	pthread_join(r->thread, NULL);
	close(r->kick_fd);
	free(r);
}

/* Threads told to retire finish the lookup they are on (a shrink never
 * abandons one) and exit; they are joined here once done, or at stop. */
static void
reap_retired(struct rdns_pool *p)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < p->n_retired; i++) {
		struct resolver *r = p->retired[i];
		if (pthread_tryjoin_np(r->thread, NULL) == 0) {
			close(r->kick_fd);
			free(r);
		} else
			p->retired[kept++] = r;
	}
	p->n_retired = kept;
}

/* Main thread: bring the number of job-taking threads to n. */
static void
resize(struct rdns_pool *p, unsigned n)
{
	unsigned i, old = p->n_active;

	reap_retired(p);
	for (i = n; i < old && p->n_retired < MAX_RESOLVERS; i++) {
		atomic_store(&p->threads[i]->retire, 1);
		p->retired[p->n_retired++] = p->threads[i];
		p->threads[i] = NULL;
	}
	if (n < old)
		p->n_active = i == old ? n : i;
	pthread_mutex_lock(&p->lock);
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = old; i < n; i++)
		if (resolver_spawn(p, i) != 0) {
			log_error("rdns: cannot start resolver thread %u", i);
			break;
		}
	if (n > old)
		p->n_active = i;
}

struct rdns_pool *
rdns_pool_start(const struct config *c, char *err, size_t errlen)
{
	struct rdns_pool *p = calloc(1, sizeof *p);

	if (p == NULL)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	STAILQ_INIT(&p->jobs);
	p->conf = config_ref((struct config *)c);
	resize(p, (unsigned)c->rdns_threads);
	if (p->n_active == 0) {
		snprintf(err, errlen, "rdns: cannot start any resolver thread");
		rdns_pool_stop(p);
		return NULL;
	}
	return p;
}

int
rdns_pool_submit(struct rdns_pool *p, struct rdns_job *job, unsigned max_depth)
{
	int queued = 0;

	pthread_mutex_lock(&p->lock);
	if (max_depth == 0 || p->depth < max_depth) {
		STAILQ_INSERT_TAIL(&p->jobs, job, link);
		p->depth++;
		pthread_cond_signal(&p->cond);
		queued = 1;
	}
	pthread_mutex_unlock(&p->lock);
	return queued;
}

void
rdns_pool_reconfigure(struct rdns_pool *p, const struct config *c)
{
	pthread_mutex_lock(&p->lock);
	config_unref(p->conf);
	p->conf = config_ref((struct config *)c);
	p->generation++;
	pthread_mutex_unlock(&p->lock);
	if ((unsigned)c->rdns_threads != p->n_active) {
		log_info("rdns: resolver threads %u -> %llu", p->n_active,
		    (unsigned long long)c->rdns_threads);
		resize(p, (unsigned)c->rdns_threads);
	}
}

unsigned
rdns_pool_queue_depth(struct rdns_pool *p)
{
	unsigned n;

	pthread_mutex_lock(&p->lock);
	n = p->depth;
	pthread_mutex_unlock(&p->lock);
	return n;
}

unsigned
rdns_pool_threads(struct rdns_pool *p)
{
	return p->n_active;
}

void
rdns_pool_stop(struct rdns_pool *p)
{
	struct rdns_job *job;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_active; i++)
		resolver_join(p->threads[i]);
	for (unsigned i = 0; i < p->n_retired; i++)
		resolver_join(p->retired[i]);
	while ((job = STAILQ_FIRST(&p->jobs)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->jobs, link);
		job->started_us = job->done_us = monotime_now_us();
		job->result = RDNS_ERROR;
		snprintf(job->detail, sizeof job->detail, "resolver stopped");
		job->done(job);
	}
	config_unref(p->conf);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
