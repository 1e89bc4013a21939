/* Unit tests of daemon/live.c (the record ring and the changes),
 * daemon/live_json.c (GET /live's JSON, its escaping), the [metrics]
 * keys of the live page (their limits, config_key_text) and the token
 * comparison of POST /control. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "check_main.h"
#include "config.h"
#include "exporter.h"
#include "live.h"
#include "live_json.h"
#include "metrics.h"

static const uint64_t zero[BANNER_STAGE_COUNT];

/* n records whose banner_us is their own seq, for telling them apart. */
static void
add(struct live *l, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct live_snapshot s;
		uint64_t next;

		ck_assert_int_eq(live_snapshot(l, UINT64_MAX, &s), 0);
		next = s.seq + 1;
		live_snapshot_free(&s);
		live_record(l, LIVE_BANNER, next, zero, 1);
	}
}

START_TEST(capacity_bounds)
{
	struct live *l;

	ck_assert_ptr_null(live_new(LIVE_BUFFER_MIN - 1));
	ck_assert_ptr_null(live_new(LIVE_BUFFER_MAX + 1));
	ck_assert_ptr_nonnull(l = live_new(LIVE_BUFFER_MIN));
	live_free(l);
	/* calloc'd: the pages of the largest ring are not touched here */
	ck_assert_ptr_nonnull(l = live_new(LIVE_BUFFER_MAX));
	live_free(l);
	live_free(NULL);
	live_record(NULL, LIVE_BANNER, 1, zero, 0);	/* no ring: nothing, no crash */
	live_note_change(NULL, "set a=b", "nobody");
}
END_TEST

START_TEST(ring_wraps_at_the_limit)
{
	struct live *l = live_new(16);
	struct live_snapshot s;

	add(l, 16);
	ck_assert_int_eq(live_snapshot(l, 0, &s), 0);
	ck_assert_uint_eq(s.n, 16);
	ck_assert_uint_eq(s.seq, 16);
	ck_assert_uint_eq(s.dropped, 0);
	ck_assert_uint_eq(s.recs[0].seq, 1);
	ck_assert_uint_eq(s.recs[15].seq, 16);
	live_snapshot_free(&s);

	add(l, 1);	/* the 17th overwrites the first */
	ck_assert_int_eq(live_snapshot(l, 0, &s), 0);
	ck_assert_uint_eq(s.n, 16);
	ck_assert_uint_eq(s.seq, 17);
	ck_assert_uint_eq(s.dropped, 1);
	ck_assert_uint_eq(s.recs[0].seq, 2);
	ck_assert_uint_eq(s.recs[0].banner_us, 2);
	ck_assert_uint_eq(s.recs[15].seq, 17);
	ck_assert_uint_eq(s.recs[15].banner_us, 17);
	live_snapshot_free(&s);

	add(l, 1000);
	ck_assert_int_eq(live_snapshot(l, 0, &s), 0);
	ck_assert_uint_eq(s.n, 16);
	ck_assert_uint_eq(s.dropped, 1017 - 16);
	for (size_t i = 0; i < s.n; i++)
		ck_assert_uint_eq(s.recs[i].seq, 1017 - 15 + i);
	live_snapshot_free(&s);
	live_free(l);
}
END_TEST

START_TEST(since_filters)
{
	struct live *l = live_new(16);
	struct live_snapshot s;

	ck_assert_int_eq(live_snapshot(l, 0, &s), 0);	/* empty */
	ck_assert_uint_eq(s.n, 0);
	ck_assert_uint_eq(s.seq, 0);
	live_snapshot_free(&s);

	add(l, 10);
	ck_assert_int_eq(live_snapshot(l, 7, &s), 0);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_uint_eq(s.recs[0].seq, 8);
	ck_assert_uint_eq(s.seq, 10);
	live_snapshot_free(&s);

	ck_assert_int_eq(live_snapshot(l, 10, &s), 0);	/* nothing new */
	ck_assert_uint_eq(s.n, 0);
	ck_assert_uint_eq(s.seq, 10);
	live_snapshot_free(&s);

	ck_assert_int_eq(live_snapshot(l, 99, &s), 0);	/* from the future: the real seq */
	ck_assert_uint_eq(s.n, 0);
	ck_assert_uint_eq(s.seq, 10);
	live_snapshot_free(&s);

	add(l, 30);	/* 40 made, 25..40 kept */
	ck_assert_int_eq(live_snapshot(l, 5, &s), 0);	/* asked for overwritten ones */
	ck_assert_uint_eq(s.n, 16);
	ck_assert_uint_eq(s.recs[0].seq, 25);
	live_snapshot_free(&s);
	ck_assert_int_eq(live_snapshot(l, 38, &s), 0);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_uint_eq(s.recs[0].seq, 39);
	live_snapshot_free(&s);
	live_free(l);
}
END_TEST

START_TEST(changes_keep_the_last_64)
{
	struct live *l = live_new(16);
	struct live_snapshot s;
	char line[64], longline[LIVE_CHANGE_LINE_MAX + 100];

	for (int i = 1; i <= 65; i++) {
		snprintf(line, sizeof line, "set banner.delay=%dms", i);
		live_note_change(l, line, "socket uid=0 pid=1");
	}
	ck_assert_int_eq(live_snapshot(l, 0, &s), 0);
	ck_assert_uint_eq(s.n_changes, LIVE_CHANGES_MAX);
	ck_assert_str_eq(s.changes[0].line, "set banner.delay=2ms");
	ck_assert_str_eq(s.changes[63].line, "set banner.delay=65ms");
	ck_assert_str_eq(s.changes[63].origin, "socket uid=0 pid=1");
	ck_assert(s.changes[63].t_us > 1600000000LL * 1000000);
	live_snapshot_free(&s);

	memset(longline, 'x', sizeof longline - 1);
	longline[sizeof longline - 1] = '\0';
	live_note_change(l, longline, "http 127.0.0.1");
	ck_assert_int_eq(live_snapshot(l, 0, &s), 0);
	ck_assert_uint_eq(strlen(s.changes[63].line), LIVE_CHANGE_LINE_MAX - 1);
	ck_assert_str_eq(s.changes[63].line + LIVE_CHANGE_LINE_MAX - 4, "...");
	ck_assert_str_eq(s.changes[0].line, "set banner.delay=3ms");
	live_snapshot_free(&s);
	live_free(l);
}
END_TEST

static char *
json_of(const char *in)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *s;

	live_json_string(b, in);
	n = evbuffer_get_length(b);
	s = malloc(n + 1);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	evbuffer_free(b);
	return s;
}

#define JSON_IS(in, want) do { \
		char *got_ = json_of(in); \
		ck_assert_str_eq(got_, want); \
		free(got_); \
	} while (0)

START_TEST(json_strings_escape)
{
	JSON_IS("", "\"\"");
	JSON_IS("plain 127.0.0.1:53", "\"plain 127.0.0.1:53\"");
	JSON_IS("a\"b\\c", "\"a\\\"b\\\\c\"");
	JSON_IS("tab\there\nnl\r\x01\x1f\x7f", "\"tab\\u0009here\\u000anl\\u000d\\u0001\\u001f\\u007f\"");
	JSON_IS("<script>&", "\"\\u003cscript\\u003e\\u0026\"");
	JSON_IS("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7\"");
	/* not UTF-8: each bad byte is one U+FFFD, the rest survives */
	JSON_IS("a\xff" "b", "\"a\\ufffdb\"");
	JSON_IS("cut\xc3", "\"cut\\ufffd\"");
	JSON_IS("\xc0\xaf", "\"\\ufffd\\ufffd\"");		/* overlong '/' */
	JSON_IS("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");	/* a surrogate */
	JSON_IS("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");	/* past U+10FFFF */
	JSON_IS("\xe2\x82" "x", "\"\\ufffd\\ufffdx\"");
}
END_TEST

static char *
live_json_of(struct live *l, uint64_t since, const struct config *c, int control)
{
	struct metrics_gauges g = { .sessions = 3, .queue_depth = 2, .pool_workers = 4,
	    .sessions_per_worker = 1, .rdns_threads = 5 };
	struct live_snapshot s;
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *out;

	ck_assert_int_eq(live_snapshot(l, since, &s), 0);
	live_json_write(b, &s, &g, c, control, 1796213894433030LL);
	live_snapshot_free(&s);
	n = evbuffer_get_length(b);
	out = malloc(n + 1);
	evbuffer_remove(b, out, n);
	out[n] = '\0';
	evbuffer_free(b);
	return out;
}

#define HAS(hay, needle) ck_assert_msg(strstr(hay, needle) != NULL, "no %s in %s", needle, hay)

START_TEST(json_document)
{
	char err[512];
	struct config *c = config_load_text("[banner]\ndelay = 300ms\n[rdns]\nenabled = off\n"
	    "servers = 127.0.0.1:5353\ntimeout = 1500us\n[pool]\nworkers = 3\n", err, sizeof err);
	struct live *l = live_new(16);
	uint64_t st[BANNER_STAGE_COUNT] = { 10, 0, 20, 30, 0, 300000, 40 };
	char *j;

	ck_assert_msg(c != NULL, "%s", err);
	live_record(l, LIVE_BANNER, 300100, st, 1500000);
	live_record(l, LIVE_ABANDONED, 7, zero, 2000001);
	live_record(l, LIVE_REJECTED, 0, zero, 3000000);
	live_note_change(l, "set rdns.servers=\"x\"", "http ::1");
	j = live_json_of(l, 0, c, 1);
	HAS(j, "{\"now\":1796213894.433030,\"seq\":3,\"dropped\":0,\"conns\":[");
	HAS(j, "{\"seq\":1,\"t\":1.500000,\"banner_us\":300100,\"outcome\":\"banner\",\"stages\":"
	    "{\"queue\":10,\"proxy\":0,\"rdns_wait\":20,\"rdns\":30,\"ident\":0,\"delay\":300000,\"write\":40}}");
	HAS(j, "{\"seq\":2,\"t\":2.000001,\"banner_us\":7,\"outcome\":\"abandoned\"");
	HAS(j, "{\"seq\":3,\"t\":3.000000,\"banner_us\":0,\"outcome\":\"rejected\"");
	HAS(j, "\"gauges\":{\"sessions\":3,\"queued\":2,\"workers\":4,\"sessions_per_worker\":1,"
	    "\"rdns_threads\":5}");
	HAS(j, "\"log.protocol_log\":\"minimum\",\"rdns.enabled\":\"off\",\"rdns.active\":false,"
	    "\"rdns.mode\":\"async\",\"rdns.servers\":\"127.0.0.1:5353\",\"rdns.timeout\":\"1500us\","
	    "\"rdns.tries\":2,");
	HAS(j, "\"ident.enabled\":\"off\",\"banner.delay\":\"300ms\",\"banner.delay_jitter\":\"0\","
	    "\"pool.workers\":3,\"pool.sessions_per_worker\":0,\"pool.queue_max\":");
	HAS(j, "\"control\":true,\"changes\":[{\"t\":");
	HAS(j, ",\"line\":\"set rdns.servers=\\\"x\\\"\",\"origin\":\"http ::1\"}]}\n");
	free(j);

	j = live_json_of(l, 2, c, 0);	/* since: only the third; read-only */
	ck_assert_ptr_null(strstr(j, "\"seq\":1,"));
	ck_assert_ptr_null(strstr(j, "\"seq\":2,"));
	HAS(j, "\"seq\":3,\"dropped\":0,\"conns\":[{\"seq\":3,");
	HAS(j, "\"control\":false");
	free(j);

	j = live_json_of(l, 3, c, 0);
	HAS(j, "\"conns\":[]");
	free(j);
	live_free(l);
	config_unref(c);
}
END_TEST

static struct config *
load(const char *text, char *err, size_t errlen)
{
	return config_load_text(text, err, errlen);
}

START_TEST(metrics_keys_at_their_limits)
{
	char err[512], v[64];
	struct config *c;

	ck_assert_ptr_nonnull(c = load("", err, sizeof err));
	ck_assert_uint_eq(c->metrics_live_buffer, 4096);
	ck_assert_int_eq(c->metrics_control, 0);
	ck_assert_str_eq(c->metrics_control_allow, "127.0.0.0/8, ::1");
	ck_assert_int_eq(config_key_text(c, "metrics.live_buffer", v, sizeof v), 0);
	ck_assert_str_eq(v, "4096");
	ck_assert_int_eq(config_key_text(c, "rdns.timeout", v, sizeof v), 0);
	ck_assert_str_eq(v, "1s");
	ck_assert_int_eq(config_key_text(c, "smtp.stress_threshold", v, sizeof v), 0);
	ck_assert_str_eq(v, "80%");
	ck_assert_int_eq(config_key_text(c, "metrics.control", v, sizeof v), 0);
	ck_assert_str_eq(v, "off");
	ck_assert_int_eq(config_key_text(c, "no.such", v, sizeof v), -1);
	ck_assert_int_eq(config_key_text(c, "nodot", v, sizeof v), -1);
	ck_assert_int_eq(config_key_text(c, "faults.rule", v, sizeof v), -1);
	config_unref(c);

	ck_assert_ptr_nonnull(c = load("[metrics]\nlive_buffer = 16\n", err, sizeof err));
	config_unref(c);
	ck_assert_ptr_nonnull(c = load("[metrics]\nlive_buffer = 1048576\n", err, sizeof err));
	config_unref(c);
	ck_assert_ptr_null(load("[metrics]\nlive_buffer = 15\n", err, sizeof err));
	ck_assert_msg(strstr(err, "live_buffer") != NULL, "%s", err);
	ck_assert_ptr_null(load("[metrics]\nlive_buffer = 1048577\n", err, sizeof err));
	ck_assert_msg(strstr(err, "live_buffer") != NULL, "%s", err);

	ck_assert_ptr_null(load("[metrics]\ncontrol = on\n", err, sizeof err));
	ck_assert_msg(strstr(err, "metrics.control: on needs metrics.listen") != NULL, "%s", err);
	ck_assert_ptr_null(load("[metrics]\ncontrol = maybe\n", err, sizeof err));
	ck_assert_ptr_nonnull(c = load("[metrics]\ncontrol = on\nlisten = 127.0.0.1:0\n"
	    "control_allow = 127.0.0.2/32 ::1\n", err, sizeof err));
	ck_assert_int_eq(c->metrics_control, 1);
	config_unref(c);
	ck_assert_ptr_null(load("[metrics]\ncontrol_allow = 127.0.0.1/33\n", err, sizeof err));
	ck_assert_msg(strstr(err, "metrics.control_allow") != NULL, "%s", err);
	ck_assert_ptr_null(load("[metrics]\ncontrol_allow = everyone\n", err, sizeof err));
}
END_TEST

START_TEST(token_comparison)
{
	ck_assert_int_eq(exporter_token_ok("0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"), 1);
	ck_assert_int_eq(exporter_token_ok("0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdee"), 0);
	ck_assert_int_eq(exporter_token_ok("0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcde"), 0);
	ck_assert_int_eq(exporter_token_ok("0123456789abcdef0123456789abcdef", ""), 0);
	ck_assert_int_eq(exporter_token_ok("0123456789abcdef0123456789abcdef", NULL), 0);
}
END_TEST

/* Workers write at once while a reader takes snapshots: every record
 * arrives once, in seq order, none torn. Also prints what a record
 * costs, uncontended and with four writers. */
#define WRITERS 4
#define PER_WRITER 50000

static void *
writer(void *arg)
{
	struct live *l = arg;
	uint64_t st[BANNER_STAGE_COUNT];

	for (uint64_t i = 0; i < PER_WRITER; i++) {
		for (int k = 0; k < BANNER_STAGE_COUNT; k++)
			st[k] = i;
		live_record(l, LIVE_BANNER, i * BANNER_STAGE_COUNT, st, 0);
	}
	return NULL;
}

static double
secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(threads_write_while_a_reader_reads)
{
	struct live *l = live_new(4096);
	pthread_t t[WRITERS];
	uint64_t since = 0, seen = 0;
	double t0 = secs(), t1;

	writer(l);	/* one thread alone: the uncontended cost */
	t1 = secs();
	printf("live_record: %.0f ns uncontended", (t1 - t0) * 1e9 / PER_WRITER);
	since = PER_WRITER;
	t0 = secs();
	for (int i = 0; i < WRITERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, writer, l), 0);
	while (seen < (uint64_t)WRITERS * PER_WRITER) {
		struct live_snapshot s;

		ck_assert_int_eq(live_snapshot(l, since, &s), 0);
		for (size_t i = 0; i < s.n; i++) {
			const struct live_record *r = &s.recs[i];

			/* consecutive, unless the ring lapped this reader */
			ck_assert(r->seq > since);
			seen += r->seq - since;
			since = r->seq;
			ck_assert_uint_eq(r->banner_us, r->stages[0] * BANNER_STAGE_COUNT);
			ck_assert_uint_eq(r->stages[0], r->stages[BANNER_STAGE_COUNT - 1]);
		}
		ck_assert_uint_eq(s.seq, since);
		live_snapshot_free(&s);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(t[i], NULL);
	t1 = secs();
	printf(", %.0f ns with %d writers and a reader\n", (t1 - t0) * 1e9 / (WRITERS * PER_WRITER), WRITERS);
	ck_assert_uint_eq(since, (uint64_t)(WRITERS + 1) * PER_WRITER);
	live_free(l);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("live");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, capacity_bounds);
	tcase_add_test(tc, ring_wraps_at_the_limit);
	tcase_add_test(tc, since_filters);
	tcase_add_test(tc, changes_keep_the_last_64);
	tcase_add_test(tc, json_strings_escape);
	tcase_add_test(tc, json_document);
	tcase_add_test(tc, metrics_keys_at_their_limits);
	tcase_add_test(tc, token_comparison);
	tcase_add_test(tc, threads_write_while_a_reader_reads);
	suite_add_tcase(s, tc);
	return s;
}
