/* The metrics' pure parts: merging per-worker figures, and the
 * Prometheus exposition (cumulative buckets, +Inf = count, sums in
 * seconds, every label value). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "check_main.h"
#include "metrics.h"

static char *
expose(const struct metrics *m)
{
	struct metrics_gauges g;
	struct evbuffer *out = evbuffer_new();
	size_t n;
	char *text;

	memset(&g, 0, sizeof g);
	g.pool_workers = 3;
	g.n_listeners = 1;
	strcpy(g.listeners[0].address, "127.0.0.1:2525");
	g.listeners[0].queue = 7;
	g.listeners[0].backlog = 4096;
	metrics_expose(m, &g, out);
	n = evbuffer_get_length(out);
	text = malloc(n + 1);
	evbuffer_remove(out, text, n);
	text[n] = '\0';
	evbuffer_free(out);
	return text;
}

START_TEST(merge_adds_everything)
{
	struct metrics *a = metrics_new(), *b = metrics_new(), *sum = metrics_new();
	uint64_t st[BANNER_STAGE_COUNT] = { [BANNER_STAGE_QUEUE] = 10, [BANNER_STAGE_PROXY] = 5,
	    [BANNER_STAGE_RDNS] = 300000, [BANNER_STAGE_WRITE] = 15 };

	metrics_count(a, MC_CONNECTIONS);
	metrics_count(b, MC_CONNECTIONS);
	metrics_count(b, MC_ABANDONED);
	metrics_banner(a, 300030, st);
	metrics_banner(b, 300030, st);
	metrics_add(sum, a);
	metrics_add(sum, b);
	ck_assert_uint_eq(sum->counters[MC_CONNECTIONS], 2);
	ck_assert_uint_eq(sum->counters[MC_BANNERS], 2);
	ck_assert_uint_eq(sum->counters[MC_ABANDONED], 1);
	ck_assert_uint_eq(hist_count(&sum->banner), 2);
	ck_assert_uint_eq(hist_sum(&sum->stages[BANNER_STAGE_RDNS]), 600000);
	ck_assert_uint_eq(hist_sum(&sum->stages[BANNER_STAGE_PROXY]), 10);
	ck_assert_str_eq(metrics_stage_name(BANNER_STAGE_PROXY), "proxy");
	metrics_free(a);
	metrics_free(b);
	metrics_free(sum);
}
END_TEST

START_TEST(exposition_is_cumulative_and_complete)
{
	struct metrics *m = metrics_new();
	uint64_t st[BANNER_STAGE_COUNT] = { 0 };
	char *text;

	for (int i = 0; i < 3; i++)
		metrics_banner(m, 50, st);		/* 50 us */
	metrics_banner(m, 2000000, st);			/* 2 s */
	metrics_banner(m, 400000000, st);		/* beyond the last bucket */
	metrics_count(m, MC_REJECT_QUEUE_FULL);
	metrics_count(m, MC_RDNS_FIRST + 4);		/* timeout */
	text = expose(m);
	ck_assert_ptr_nonnull(strstr(text, "# TYPE bannerd_banner_seconds histogram\n"));
	ck_assert_ptr_nonnull(strstr(text, "bannerd_banner_seconds_bucket{le=\"0.0001\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(text, "bannerd_banner_seconds_bucket{le=\"1\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(text, "bannerd_banner_seconds_bucket{le=\"2\"} 4\n"));
	ck_assert_ptr_nonnull(strstr(text, "bannerd_banner_seconds_bucket{le=\"300\"} 4\n"));
	ck_assert_ptr_nonnull(strstr(text, "bannerd_banner_seconds_bucket{le=\"+Inf\"} 5\n"));
	ck_assert_ptr_nonnull(strstr(text, "bannerd_banner_seconds_count 5\n"));
	ck_assert_ptr_nonnull(strstr(text, "bannerd_banner_seconds_sum 402.000150\n"));
	ck_assert_ptr_nonnull(strstr(text, "bannerd_stage_seconds_count{stage=\"rdns_wait\"} 5\n"));
	ck_assert_ptr_nonnull(strstr(text, "bannerd_rejected_total{reason=\"queue_full\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "bannerd_rdns_total{result=\"timeout\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "bannerd_rdns_total{result=\"unconfirmed\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(text, "bannerd_pool_workers 3\n"));
	ck_assert_ptr_nonnull(strstr(text, "bannerd_listen_queue{address=\"127.0.0.1:2525\"} 7\n"));
	ck_assert_ptr_nonnull(strstr(text, "bannerd_listen_backlog{address=\"127.0.0.1:2525\"} 4096\n"));
	free(text);
	metrics_free(m);
}
END_TEST

START_TEST(summary_line)
{
	struct metrics *m = metrics_new();
	struct metrics_gauges g;
	uint64_t st[BANNER_STAGE_COUNT] = { 1000, 0, 0, 0, 0 };
	char line[1024];

	memset(&g, 0, sizeof g);
	g.queue_depth = 4;
	metrics_banner(m, 1000, st);
	metrics_summary(m, &g, line, sizeof line);
	ck_assert_ptr_nonnull(strstr(line, "banners=1 "));
	ck_assert_ptr_nonnull(strstr(line, "queue_depth=4 "));
	ck_assert_ptr_nonnull(strstr(line, " queue_p99_us="));
	ck_assert_str_eq(metrics_stage_name(BANNER_STAGE_RDNS_WAIT), "rdns_wait");
	metrics_free(m);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, merge_adds_everything);
	tcase_add_test(tc, exposition_is_cumulative_and_complete);
	tcase_add_test(tc, summary_line);
	suite_add_tcase(s, tc);
	return s;
}
