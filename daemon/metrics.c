#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "ident.h"

static const char *const stage_names[BANNER_STAGE_COUNT] = {
	"queue", "proxy", "rdns_wait", "rdns", "ident", "delay", "write",
};

static const char *const rdns_results[] = {
	"ok", "nxdomain", "servfail", "refused", "timeout", "unconfirmed", "error", "skipped",
};

/* Upper bounds in microseconds: fine enough at the bottom to see a
 * 100 us banner, long enough at the top for the 15-20 s of KB Q286375
 * and the 30 s beyond it. */
static const uint64_t bucket_le_us[METRICS_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	500000, 1000000, 2000000, 3000000, 5000000, 7500000, 10000000, 15000000,
	20000000, 30000000, 60000000, 120000000, 300000000,
};
#define N_BUCKETS METRICS_BUCKETS

/* The first bound at or above v (N_BUCKETS: above them all). */
static size_t
bucket_index(uint64_t v)
{
	size_t lo = 0, hi = N_BUCKETS;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (bucket_le_us[mid] >= v)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

struct metrics *
metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof *m);

	if (m == NULL)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	hist_init(&m->banner);
	for (int i = 0; i < BANNER_STAGE_COUNT; i++)
		hist_init(&m->stages[i]);
	return m;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void
metrics_count(struct metrics *m, enum metric_counter c)
{
	pthread_mutex_lock(&m->lock);
	m->counters[c]++;
	pthread_mutex_unlock(&m->lock);
}

void
metrics_fault(struct metrics *m, enum fault_point p, enum fault_action a)
{
	pthread_mutex_lock(&m->lock);
	m->faults[p][a]++;
	pthread_mutex_unlock(&m->lock);
}

void
metrics_banner(struct metrics *m, uint64_t banner_us, const uint64_t stage_us[BANNER_STAGE_COUNT])
{
	pthread_mutex_lock(&m->lock);
	m->counters[MC_BANNERS]++;
	hist_record(&m->banner, banner_us);
	m->banner_le[bucket_index(banner_us)]++;
	for (int i = 0; i < BANNER_STAGE_COUNT; i++) {
		hist_record(&m->stages[i], stage_us[i]);
		m->stage_le[i][bucket_index(stage_us[i])]++;
	}
	pthread_mutex_unlock(&m->lock);
}

void
metrics_add(struct metrics *dst, struct metrics *src)
{
	pthread_mutex_lock(&src->lock);
	for (int i = 0; i < MC_COUNT; i++)
		dst->counters[i] += src->counters[i];
	hist_merge(&dst->banner, &src->banner);
	for (int i = 0; i < BANNER_STAGE_COUNT; i++)
		hist_merge(&dst->stages[i], &src->stages[i]);
	for (int p = 0; p < FP_COUNT; p++)
		for (int a = 0; a < FA_COUNT; a++)
			dst->faults[p][a] += src->faults[p][a];
	for (int b = 0; b <= METRICS_BUCKETS; b++) {
		dst->banner_le[b] += src->banner_le[b];
		for (int i = 0; i < BANNER_STAGE_COUNT; i++)
			dst->stage_le[i][b] += src->stage_le[i][b];
	}
	pthread_mutex_unlock(&src->lock);
}

static void
counter(struct evbuffer *out, const char *name, const char *help, uint64_t v)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name,
	    name, (unsigned long long)v);
}

static void
gauge(struct evbuffer *out, const char *name, const char *help, uint64_t v)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name,
	    name, (unsigned long long)v);
}

static void
histogram_series(struct evbuffer *out, const char *name, const char *labels,
    const struct histogram *h, const uint64_t le[METRICS_BUCKETS + 1])
{
	uint64_t cum = 0;
	const char *sep = labels[0] ? "," : "";

	for (size_t i = 0; i < N_BUCKETS; i++) {
		cum += le[i];
		evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
		    (double)bucket_le_us[i] / 1e6, (unsigned long long)cum);
	}
	evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
	    (unsigned long long)hist_count(h));
	evbuffer_add_printf(out, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "", labels,
	    labels[0] ? "}" : "", (double)hist_sum(h) / 1e6);
	evbuffer_add_printf(out, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
	    labels[0] ? "}" : "", (unsigned long long)hist_count(h));
}

static void
expose_counters(const struct metrics *m, struct evbuffer *out)
{
	static const struct { enum metric_counter c; const char *reason; } rejects[] = {
		{ MC_REJECT_MAX_SESSIONS, "max_sessions" }, { MC_REJECT_QUEUE_FULL, "queue_full" },
		{ MC_REJECT_CLIENT_SESSIONS, "per_client_sessions" },
		{ MC_REJECT_CLIENT_RATE, "per_client_rate" },
		{ MC_REJECT_RDNS, "rdns" }, { MC_REJECT_PREGREET, "pregreet" },
		{ MC_REJECT_ERRORS, "errors" }, { MC_REJECT_SHUTDOWN, "shutdown" },
		{ MC_REJECT_PIPELINING, "pipelining" }, { MC_REJECT_PROXY, "proxy" },
	};

	counter(out, "bannerd_connections_total", "Connections accepted.", m->counters[MC_CONNECTIONS]);
	counter(out, "bannerd_banners_total", "220 banners written.", m->counters[MC_BANNERS]);
	counter(out, "bannerd_abandoned_total", "Clients that left before their banner.",
	    m->counters[MC_ABANDONED]);
	counter(out, "bannerd_pregreet_total", "Clients that sent data before their banner.",
	    m->counters[MC_PREGREET]);
	evbuffer_add_printf(out, "# HELP bannerd_rejected_total Connections ended by bannerd with an error reply.\n"
	    "# TYPE bannerd_rejected_total counter\n");
	for (size_t i = 0; i < sizeof rejects / sizeof rejects[0]; i++)
		evbuffer_add_printf(out, "bannerd_rejected_total{reason=\"%s\"} %llu\n", rejects[i].reason,
		    (unsigned long long)m->counters[rejects[i].c]);
	evbuffer_add_printf(out, "# HELP bannerd_rdns_total Reverse DNS lookups by result.\n"
	    "# TYPE bannerd_rdns_total counter\n");
	for (int i = 0; i <= MC_RDNS_LAST - MC_RDNS_FIRST; i++)
		evbuffer_add_printf(out, "bannerd_rdns_total{result=\"%s\"} %llu\n", rdns_results[i],
		    (unsigned long long)m->counters[MC_RDNS_FIRST + i]);
	evbuffer_add_printf(out, "# HELP bannerd_ident_total Ident (RFC 1413) queries by result.\n"
	    "# TYPE bannerd_ident_total counter\n");
	for (int i = 0; i <= MC_IDENT_LAST - MC_IDENT_FIRST; i++)
		evbuffer_add_printf(out, "bannerd_ident_total{result=\"%s\"} %llu\n",
		    ident_result_name((enum ident_result)i), (unsigned long long)m->counters[MC_IDENT_FIRST + i]);
	evbuffer_add_printf(out, "# HELP bannerd_messages_total Messages by the reply at the end of data.\n"
	    "# TYPE bannerd_messages_total counter\n"
	    "bannerd_messages_total{result=\"accepted\"} %llu\n"
	    "bannerd_messages_total{result=\"rejected\"} %llu\n"
	    "bannerd_messages_total{result=\"failed\"} %llu\n",
	    (unsigned long long)m->counters[MC_MSG_ACCEPTED],
	    (unsigned long long)m->counters[MC_MSG_REJECTED],
	    (unsigned long long)m->counters[MC_MSG_FAILED]);
	evbuffer_add_printf(out, "# HELP bannerd_faults_total Fault rules applied ([faults]), by point and action.\n"
	    "# TYPE bannerd_faults_total counter\n");
	for (int p = 0; p < FP_COUNT; p++)
		for (int a = 0; a < FA_COUNT; a++)
			evbuffer_add_printf(out, "bannerd_faults_total{point=\"%s\",action=\"%s\"} %llu\n",
			    fault_point_name((enum fault_point)p), fault_action_name((enum fault_action)a),
			    (unsigned long long)m->faults[p][a]);
}

void
metrics_expose(const struct metrics *m, const struct metrics_gauges *g, struct evbuffer *out)
{
	char labels[64];

	expose_counters(m, out);
	evbuffer_add_printf(out, "# HELP bannerd_banner_seconds From accept to the 220 banner written.\n"
	    "# TYPE bannerd_banner_seconds histogram\n");
	histogram_series(out, "bannerd_banner_seconds", "", &m->banner, m->banner_le);
	evbuffer_add_printf(out, "# HELP bannerd_stage_seconds Each stage of the banner path.\n"
	    "# TYPE bannerd_stage_seconds histogram\n");
	for (int i = 0; i < BANNER_STAGE_COUNT; i++) {
		snprintf(labels, sizeof labels, "stage=\"%s\"", stage_names[i]);
		histogram_series(out, "bannerd_stage_seconds", labels, &m->stages[i], m->stage_le[i]);
	}
	gauge(out, "bannerd_sessions", "Sessions open on the workers.", g->sessions);
	gauge(out, "bannerd_queue_depth", "Accepted connections waiting for a session slot.", g->queue_depth);
	gauge(out, "bannerd_rdns_queue_depth", "Sessions waiting for a resolver thread.", g->rdns_queue_depth);
	gauge(out, "bannerd_pool_workers", "Worker threads.", g->pool_workers);
	gauge(out, "bannerd_pool_sessions_per_worker", "Session slots per worker (0: unlimited).",
	    g->sessions_per_worker);
	gauge(out, "bannerd_rdns_threads", "Resolver threads (rdns.mode = pool; 0 otherwise).", g->rdns_threads);
	gauge(out, "bannerd_stress", "1 in stress mode (smtp.stress_threshold reached), else 0.", g->stress);
	evbuffer_add_printf(out, "# HELP bannerd_listen_queue Connections in the kernel's accept queue.\n"
	    "# TYPE bannerd_listen_queue gauge\n");
	for (unsigned i = 0; i < g->n_listeners; i++)
		evbuffer_add_printf(out, "bannerd_listen_queue{address=\"%s\"} %lld\n",
		    g->listeners[i].address, (long long)g->listeners[i].queue);
	evbuffer_add_printf(out, "# HELP bannerd_listen_backlog The accept queue's limit in force.\n"
	    "# TYPE bannerd_listen_backlog gauge\n");
	for (unsigned i = 0; i < g->n_listeners; i++)
		evbuffer_add_printf(out, "bannerd_listen_backlog{address=\"%s\"} %lld\n",
		    g->listeners[i].address, (long long)g->listeners[i].backlog);
}

void
metrics_summary(const struct metrics *m, const struct metrics_gauges *g, char *buf, size_t len)
{
	size_t o;

	o = (size_t)snprintf(buf, len,
	    "connections=%llu banners=%llu abandoned=%llu pregreet=%llu sessions=%llu queue_depth=%llu "
	    "rdns_queue_depth=%llu workers=%llu rdns_threads=%llu banner_p50_us=%llu banner_p99_us=%llu",
	    (unsigned long long)m->counters[MC_CONNECTIONS], (unsigned long long)m->counters[MC_BANNERS],
	    (unsigned long long)m->counters[MC_ABANDONED], (unsigned long long)m->counters[MC_PREGREET],
	    (unsigned long long)g->sessions, (unsigned long long)g->queue_depth,
	    (unsigned long long)g->rdns_queue_depth, (unsigned long long)g->pool_workers,
	    (unsigned long long)g->rdns_threads,
	    (unsigned long long)hist_percentile(&m->banner, 50),
	    (unsigned long long)hist_percentile(&m->banner, 99));
	for (int i = 0; i < BANNER_STAGE_COUNT && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, " %s_p99_us=%llu", stage_names[i],
		    (unsigned long long)hist_percentile(&m->stages[i], 99));
}

const char *
metrics_stage_name(enum banner_stage s)
{
	return s < BANNER_STAGE_COUNT ? stage_names[s] : "?";
}
