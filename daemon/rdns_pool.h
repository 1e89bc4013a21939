#ifndef BANNERD_RDNS_POOL_H
#define BANNERD_RDNS_POOL_H
/* rdns.mode = pool: the legacy resolver of Exchange 5.5's IMS. A fixed
 * number of resolver threads (rdns.threads), each running ONE lookup at a
 * time to completion, fed from a FIFO. A session waits for a free
 * resolver before its lookup starts, so with 2 threads and lookups that
 * time out after 15 s the pool serves 2 clients per 15 s and everyone
 * else queues: the wait shows up in the banner as rdns_wait.
 *
 * Each thread has its own event_base and c-ares channel (rdns.c) and runs
 * its loop only for the lookup at hand. This is the machinery under the
 * pool backend (resolver_pool.c), which owns the jobs and takes every one
 * back, through job->done, on the thread that finished it. */
#include <stdatomic.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "rdns.h"

struct config;
struct rdns_pool;

struct rdns_job {
	STAILQ_ENTRY(rdns_job) link;
	struct sockaddr_storage peer;
	int forward_confirm;
	/* Set by the owner when nobody waits for the answer any more: the
	 * lookup is skipped if it has not started, and the job still comes
	 * back through done. */
	_Atomic int cancelled;
	/* Called once per job, on a resolver thread (or the main thread at
	 * stop): every job comes back, answered or not, and the pool never
	 * frees one. */
	void (*done)(struct rdns_job *job);
	uint64_t started_us, done_us;
	enum rdns_result result;
	int timeouts;
	int confirmed;
	char name[256];
	char detail[96];
};

struct rdns_pool *rdns_pool_start(const struct config *c, char *err, size_t errlen);

/* Queues a job (any thread) unless max_depth > 0 and that many already
 * wait: then returns 0 and the job is not the pool's. The test and the
 * insert are one step under the pool's lock, so workers sharing the queue
 * cannot all pass the bound at once. A queued job comes back through
 * job->done. */
int rdns_pool_submit(struct rdns_pool *p, struct rdns_job *job, unsigned max_depth);

/* Grows or shrinks to c->rdns_threads and takes c's servers and timeouts
 * for every lookup started from now on (main thread). */
void rdns_pool_reconfigure(struct rdns_pool *p, const struct config *c);

unsigned rdns_pool_queue_depth(struct rdns_pool *p);
unsigned rdns_pool_threads(struct rdns_pool *p);

/* Stops every thread (a lookup in flight is abandoned) and frees the
 * pool. Jobs not yet answered come back through done as errors
 * ("resolver stopped"), so their owners must still exist. */
void rdns_pool_stop(struct rdns_pool *p);

#endif
