#ifndef BANNERD_METRICS_H
#define BANNERD_METRICS_H
/* Counters and latency histograms. Each worker owns one struct metrics
 * and updates it under its own mutex, which only a scrape ever contends:
 * the hot path takes no global lock. A scrape (GET /metrics, SIGUSR1)
 * merges the workers' copies and writes the Prometheus text format. */
#include <pthread.h>
#include <stdint.h>

#include "faults.h"
#include "histogram.h"

struct evbuffer;

enum metric_counter {
	MC_CONNECTIONS,		/* accepted (listener) */
	MC_BANNERS,
	MC_ABANDONED,
	MC_PREGREET,
	MC_REJECT_MAX_SESSIONS,
	MC_REJECT_QUEUE_FULL,
	MC_REJECT_CLIENT_SESSIONS,	/* listen.max_sessions_per_client (listener) */
	MC_REJECT_CLIENT_RATE,		/* listen.max_connect_rate_per_client (listener) */
	MC_REJECT_RDNS,
	MC_REJECT_PREGREET,
	MC_REJECT_ERRORS,
	MC_REJECT_SHUTDOWN,
	MC_REJECT_PIPELINING,	/* input behind DATA before the 354 */
	MC_REJECT_PROXY,	/* a bad, partial, late or untrusted PROXY header */
	MC_RDNS_FIRST,		/* one per enum rdns_result, in its order */
	MC_RDNS_LAST = MC_RDNS_FIRST + 7,
	MC_IDENT_FIRST,		/* one per enum ident_result, in its order */
	MC_IDENT_LAST = MC_IDENT_FIRST + 5,
	MC_MSG_ACCEPTED,
	MC_MSG_REJECTED,	/* 5xx at the end of data */
	MC_MSG_FAILED,		/* 4xx at the end of data */
	MC_COUNT
};

enum banner_stage {
	BANNER_STAGE_QUEUE,	/* accept -> a session slot */
	BANNER_STAGE_PROXY,	/* slot -> the PROXY header read (listen.proxy_protocol) */
	BANNER_STAGE_RDNS_WAIT,	/* slot -> a free resolver thread (rdns.mode = pool) */
	BANNER_STAGE_RDNS,	/* the lookup itself */
	BANNER_STAGE_IDENT,	/* the ident query, past the lookup it ran beside */
	BANNER_STAGE_DELAY,	/* injected delay */
	BANNER_STAGE_WRITE,	/* banner queued -> written */
	BANNER_STAGE_COUNT
};

/* Prometheus bucket bounds, from 100 us to 300 s (see metrics.c). */
#define METRICS_BUCKETS 24

struct metrics {
	pthread_mutex_t lock;
	uint64_t counters[MC_COUNT];
	/* The log-linear histograms give percentiles (SIGUSR1); the exact
	 * per-bound counts give Prometheus buckets that never move a value
	 * across a bound. Index METRICS_BUCKETS is beyond the last bound. */
	struct histogram banner;
	struct histogram stages[BANNER_STAGE_COUNT];
	uint64_t banner_le[METRICS_BUCKETS + 1];
	uint64_t stage_le[BANNER_STAGE_COUNT][METRICS_BUCKETS + 1];
	uint64_t faults[FP_COUNT][FA_COUNT];	/* [faults] rules applied */
};

/* Gauges are read at scrape time, not kept. */
struct metrics_gauges {
	uint64_t sessions, queue_depth, rdns_queue_depth, pool_workers, rdns_threads;
	uint64_t sessions_per_worker;
	uint64_t stress;	/* 1 in stress mode (server.h) */
	unsigned n_listeners;
	struct {
		char address[64];
		int64_t queue;		/* connections waiting in the kernel for accept() */
		int64_t backlog;	/* the limit in force */
	} listeners[16];
};

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

void metrics_count(struct metrics *m, enum metric_counter c);
/* A [faults] rule applied (bannerd_faults_total{point,action}). */
void metrics_fault(struct metrics *m, enum fault_point p, enum fault_action a);
/* A banner went out: its total and every stage, in microseconds. */
void metrics_banner(struct metrics *m, uint64_t banner_us, const uint64_t stage_us[BANNER_STAGE_COUNT]);

/* dst += src, taking src's lock. */
void metrics_add(struct metrics *dst, struct metrics *src);

/* The Prometheus text exposition (version 0.0.4) of m and g. */
void metrics_expose(const struct metrics *m, const struct metrics_gauges *g, struct evbuffer *out);

/* One line of figures for the log (SIGUSR1). */
void metrics_summary(const struct metrics *m, const struct metrics_gauges *g, char *buf, size_t len);

const char *metrics_stage_name(enum banner_stage s);

#endif
