/* Unit tests of `smtpprobe merge` (tools/smtpprobe/merge.c) and its JSON
 * reader: merged histograms equal one histogram over every sample, bad
 * files are refused and leave the merge as it was. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../../tools/smtpprobe/engine.h"
#include "../../tools/smtpprobe/json.h"
#include "../../tools/smtpprobe/merge.h"
#include "../../tools/smtpprobe/report.h"

/* ---- the JSON reader ---- */

START_TEST(test_json_values)
{
	const char *t = "{\"a\": [1, -2, 3.5, 18446744073709551615, 18446744073709551616],"
	    " \"s\": \"q\\\"\\\\\\n\\u00e9\", \"t\": true, \"n\": null, \"o\": {}}";
	char err[128];
	struct json_value *v = json_parse(t, strlen(t), err, sizeof err);

	ck_assert_msg(v != NULL, "%s", err);
	const struct json_value *a = json_get(v, "a");
	ck_assert_int_eq(a->n, 5);
	ck_assert(a->items[0]->is_uint && a->items[0]->u == 1);
	ck_assert(!a->items[1]->is_uint && a->items[1]->number == -2);
	ck_assert(!a->items[2]->is_uint);
	ck_assert(a->items[3]->is_uint && a->items[3]->u == UINT64_MAX);
	ck_assert(!a->items[4]->is_uint);	/* too big to be exact */
	ck_assert_str_eq(json_get(v, "s")->string, "q\"\\\n\xc3\xa9");
	ck_assert(json_get(v, "t")->boolean);
	ck_assert_int_eq(json_get(v, "n")->type, JSON_NULL);
	ck_assert_int_eq(json_get(v, "o")->type, JSON_OBJECT);
	ck_assert_ptr_null(json_get(v, "missing"));
	json_free(v);
}
END_TEST

START_TEST(test_json_bad)
{
	static const char *bad[] = {
		"", "{", "[1,]", "{\"a\" 1}", "{\"a\": 1} x", "\"abc", "tru", "[\"\\x\"]",
		"{1: 2}", "-", "[01a]", "[\"\\u0000\"]",
	};
	char err[128], deep[200];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct json_value *v = json_parse(bad[i], strlen(bad[i]), err, sizeof err);
		ck_assert_msg(v == NULL, "accepted %s", bad[i]);
		ck_assert(err[0] != '\0');
	}
	memset(deep, '[', sizeof deep);
	ck_assert_ptr_null(json_parse(deep, sizeof deep, err, sizeof err));
	ck_assert_ptr_null(json_parse("[1]\0", 4, err, sizeof err));
}
END_TEST

/* ---- merge ---- */

/* A run with n banner latencies drawn from a spread that crosses many
 * buckets (and the 5 s and 10 s give-up thresholds). */
static void
fill_run(struct probe_result *r, unsigned seed, unsigned n, uint64_t scale)
{
	for (unsigned i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		uint64_t banner = (seed >> 8) % scale + i % 7;
		hist_record(&r->stage[STAGE_CONNECT], 50 + i % 300);
		hist_record(&r->stage[STAGE_BANNER], banner);
		hist_record(&r->stage[STAGE_TOTAL], banner + 50 + i % 300);
		r->outcome[i % 5 == 0 ? OUTCOME_GAVE_UP : OUTCOME_OK]++;
		r->try_outcome[i % 5 == 0 ? OUTCOME_GAVE_UP : OUTCOME_OK]++;
	}
	r->attempts = r->tries = n;
	r->elapsed_us = 1000000 + seed % 1000;
}

/* The run's --json, in memory. */
static char *
run_json(const struct probe_result *r, const char *client, size_t *len)
{
	struct probe_config cfg;
	char *buf = NULL;
	FILE *f;

	memset(&cfg, 0, sizeof cfg);
	ck_assert_int_eq(addr_parse("127.0.0.1:2525", 25, &cfg.target), 0);
	cfg.give_up_us = 30000000;
	cfg.client = client;
	cfg.concurrency = 4;
	ck_assert_ptr_nonnull(f = open_memstream(&buf, len));
	probe_report_json(f, &cfg, r);
	fclose(f);
	return buf;
}

static void
assert_same_histogram(const struct histogram *a, const struct histogram *b)
{
	ck_assert_uint_eq(a->count, b->count);
	ck_assert_uint_eq(a->sum, b->sum);
	ck_assert_uint_eq(hist_min(a), hist_min(b));
	ck_assert_uint_eq(a->max, b->max);
	ck_assert(memcmp(a->slots, b->slots, sizeof a->slots) == 0);
	static const double p[] = { 1, 50, 90, 99, 99.9, 100 };
	for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
		ck_assert_uint_eq(hist_percentile(a, p[i]), hist_percentile(b, p[i]));
}

static void
merge_ok(struct probe_merge *m, const char *name, const char *text, size_t len)
{
	char err[512];

	ck_assert_msg(probe_merge_add(m, name, text, len, err, sizeof err) == 0, "%s", err);
}

START_TEST(test_merge_exact)
{
	struct probe_result *a = probe_result_new(), *b = probe_result_new(), *both = probe_result_new();
	struct probe_merge m;
	size_t la, lb;

	fill_run(a, 1, 5000, 2000000);
	fill_run(b, 2, 3000, 40000000);		/* a slower machine */
	char *ja = run_json(a, "alice", &la), *jb = run_json(b, "bob", &lb);
	ck_assert_int_eq(probe_result_merge(both, a), 0);
	ck_assert_int_eq(probe_result_merge(both, b), 0);
	ck_assert_int_eq(probe_merge_init(&m), 0);
	merge_ok(&m, "a.json", ja, la);
	merge_ok(&m, "b.json", jb, lb);
	probe_merge_finish(&m);
	for (int s = 0; s < STAGE_COUNT; s++)
		assert_same_histogram(&m.res->stage[s], &both->stage[s]);
	ck_assert_uint_eq(m.res->attempts, 8000);
	ck_assert_uint_eq(m.res->outcome[OUTCOME_GAVE_UP], a->outcome[OUTCOME_GAVE_UP] + b->outcome[OUTCOME_GAVE_UP]);
	ck_assert_uint_eq(m.res->elapsed_us, a->elapsed_us > b->elapsed_us ? a->elapsed_us : b->elapsed_us);
	ck_assert_uint_eq(m.nsources, 2);
	ck_assert_str_eq(m.sources[0].client, "alice");
	ck_assert_str_eq(m.sources[1].file, "b.json");
	ck_assert_uint_eq(m.sources[1].attempts, 3000);
	ck_assert_str_eq(m.target, "127.0.0.1:2525");
	ck_assert_uint_eq(m.concurrency, 8);
	probe_merge_free(&m);
	free(ja);
	free(jb);
	probe_result_free(a);
	probe_result_free(b);
	probe_result_free(both);
}
END_TEST

/* The matrix is the sum of each run's counts, and the figures --expect
 * sees are the merged ones. */
START_TEST(test_merge_giveup_and_metrics)
{
	struct probe_result *a = probe_result_new(), *b = probe_result_new();
	struct probe_metric ma[PROBE_METRICS_MAX], mb[PROBE_METRICS_MAX], mm[PROBE_METRICS_MAX];
	struct probe_merge m;
	size_t la, lb;

	fill_run(a, 3, 2000, 20000000);
	fill_run(b, 4, 1000, 8000000);
	char *ja = run_json(a, "a", &la), *jb = run_json(b, "b", &lb);
	ck_assert_int_eq(probe_merge_init(&m), 0);
	merge_ok(&m, "a", ja, la);
	merge_ok(&m, "b", jb, lb);
	probe_merge_finish(&m);
	size_t n = probe_metrics(a, 30000000, ma);
	probe_metrics(b, 30000000, mb);
	ck_assert_uint_eq(probe_metrics(m.res, m.give_up_us, mm), n);
	ck_assert(m.ngiveup > 0);
	for (size_t i = 0; i < n; i++) {
		if (strncmp(mm[i].name, "would_give_up.", 14) != 0)
			continue;
		/* share = (over_a + over_b) / (of_a + of_b) */
		double want = (ma[i].value * 2000 + mb[i].value * 1000) / 3000;
		ck_assert_msg(mm[i].value > want - 1e-3 && mm[i].value < want + 1e-3, "%s: %f vs %f",
		    mm[i].name, mm[i].value, want);
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(mm[i].name, "attempts") == 0)
			ck_assert(mm[i].value == 3000);
	probe_merge_free(&m);
	free(ja);
	free(jb);
	probe_result_free(a);
	probe_result_free(b);
}
END_TEST

/* A merged file is itself mergeable: a trainer can merge the merges of
 * two classes. */
START_TEST(test_merge_of_merges)
{
	struct probe_result *a = probe_result_new();
	struct probe_merge m, m2;
	char *buf = NULL;
	size_t la, lm;

	fill_run(a, 5, 700, 3000000);
	char *ja = run_json(a, "a", &la);
	ck_assert_int_eq(probe_merge_init(&m), 0);
	merge_ok(&m, "a", ja, la);
	merge_ok(&m, "a again", ja, la);
	probe_merge_finish(&m);
	FILE *f = open_memstream(&buf, &lm);
	probe_report_json_merged(f, &m);
	fclose(f);
	ck_assert_int_eq(probe_merge_init(&m2), 0);
	merge_ok(&m2, "merged", buf, lm);
	probe_merge_finish(&m2);
	for (int s = 0; s < STAGE_COUNT; s++)
		assert_same_histogram(&m2.res->stage[s], &m.res->stage[s]);
	ck_assert_uint_eq(m2.res->attempts, 1400);
	for (size_t i = 0; i < m.ngiveup; i++)
		ck_assert_uint_eq(m2.giveup[i].over, m.giveup[i].over);
	probe_merge_free(&m);
	probe_merge_free(&m2);
	free(buf);
	free(ja);
	probe_result_free(a);
}
END_TEST

/* text with the first occurrence of from replaced by to. */
static char *
edit(const char *text, const char *from, const char *to)
{
	const char *p = strstr(text, from);
	ck_assert_msg(p != NULL, "no %s", from);
	char *out = malloc(strlen(text) + strlen(to) + 1);
	sprintf(out, "%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
	return out;
}

static void
refused(struct probe_merge *m, const char *text, const char *why)
{
	char err[512];

	ck_assert_int_eq(probe_merge_add(m, "x.json", text, strlen(text), err, sizeof err), -1);
	ck_assert_msg(strstr(err, why) != NULL, "'%s' does not say '%s'", err, why);
	ck_assert_msg(strncmp(err, "x.json: ", 8) == 0, "'%s' does not name the file", err);
}

START_TEST(test_merge_refuses)
{
	struct probe_result *a = probe_result_new();
	struct probe_merge m;
	size_t la;

	fill_run(a, 6, 300, 1000000);
	char *ja = run_json(a, "a", &la);
	ck_assert_int_eq(probe_merge_init(&m), 0);
	merge_ok(&m, "a", ja, la);
	refused(&m, "attempts,tries\n1,1\n", "not JSON");
	refused(&m, "[1, 2]", "not smtpprobe --json output");
	refused(&m, "{\"mode\": \"banner\"}", "no \"attempts\"");
	char *t;
	refused(&m, t = edit(ja, "\"sub_bits\": 7", "\"sub_bits\": 6"), "layout");
	free(t);
	refused(&m, t = edit(ja, "\"histograms\"", "\"histogramz\""), "no \"histograms\"");
	free(t);
	refused(&m, t = edit(ja, "\"mode\": \"banner\"", "\"mode\": \"session\""), "session-mode");
	free(t);
	refused(&m, t = edit(ja, "\"count\": 300, \"sum\"", "\"count\": 301, \"sum\""), "count 301");
	free(t);
	refused(&m, t = edit(ja, "\"buckets\": [[", "\"buckets\": [[1, 1], ["), "bucket");
	free(t);
	refused(&m, t = edit(ja, "\"attempts\": 300", "\"attempts\": -1"), "not a count");
	free(t);
	/* Nothing of the refused files got in. */
	ck_assert_uint_eq(m.nsources, 1);
	ck_assert_uint_eq(m.res->attempts, 300);
	ck_assert_uint_eq(hist_count(&m.res->stage[STAGE_BANNER]), 300);
	probe_merge_free(&m);
	free(ja);
	probe_result_free(a);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("merge");
	TCase *tc = tcase_create("pure");

	tcase_add_test(tc, test_json_values);
	tcase_add_test(tc, test_json_bad);
	tcase_add_test(tc, test_merge_exact);
	tcase_add_test(tc, test_merge_giveup_and_metrics);
	tcase_add_test(tc, test_merge_of_merges);
	tcase_add_test(tc, test_merge_refuses);
	suite_add_tcase(s, tc);
	return s;
}
