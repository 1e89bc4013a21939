/* Unit tests of smtpprobe's pure parts: --expect, outcome classification,
 * the reply reader, retry schedules, profiles, source cycling, metrics,
 * the session-mode message stream, the --csv rows. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../../tools/smtpprobe/engine.h"
#include "../../tools/smtpprobe/expect.h"
#include "../../tools/smtpprobe/giveup.h"
#include "../../tools/smtpprobe/message.h"
#include "../../tools/smtpprobe/outcome.h"
#include "../../tools/smtpprobe/report.h"
#include "../../tools/smtpprobe/proxyhdr.h"
#include "../../tools/smtpprobe/source.h"
#include "proxy_parse.h"

/* ---- --expect ---- */

static const struct probe_metric metrics[] = {
	{ "banner.p99", 150000, true },
	{ "outcome.ndr", 0, false },
	{ "rate", 5200.5, false },
};
#define NMETRICS (sizeof metrics / sizeof metrics[0])

static int
eval(const char *text)
{
	struct probe_expect e;
	char err[160];
	double actual;

	ck_assert_msg(probe_expect_parse(text, &e, err, sizeof err) == 0, "%s: %s", text, err);
	return probe_expect_eval(&e, metrics, NMETRICS, &actual, err, sizeof err);
}

START_TEST(test_expect_operators)
{
	ck_assert_int_eq(eval("banner.p99<=200ms"), 1);
	ck_assert_int_eq(eval("banner.p99<=150ms"), 1);
	ck_assert_int_eq(eval("banner.p99<150ms"), 0);
	ck_assert_int_eq(eval("banner.p99 < 151ms"), 1);
	ck_assert_int_eq(eval("banner.p99>=0.15s"), 1);
	ck_assert_int_eq(eval("banner.p99>0.15s"), 0);
	ck_assert_int_eq(eval("banner.p99==150000us"), 1);
	ck_assert_int_eq(eval("banner.p99!=150000us"), 0);
	ck_assert_int_eq(eval("banner.p99==150000"), 1);	/* bare: microseconds */
	ck_assert_int_eq(eval("outcome.ndr==0"), 1);
	ck_assert_int_eq(eval("outcome.ndr=0"), 1);
	ck_assert_int_eq(eval("outcome.ndr!=0"), 0);
	ck_assert_int_eq(eval("rate>=5000"), 1);
	ck_assert_int_eq(eval("rate>5200.5"), 0);
	ck_assert_int_eq(eval("  rate  >=  5200.5  "), 1);
}
END_TEST

START_TEST(test_expect_units)
{
	struct probe_expect e;
	char err[160];

	ck_assert_int_eq(probe_expect_parse("banner.p50<2s", &e, err, sizeof err), 0);
	ck_assert(e.has_unit && e.value == 2e6);
	ck_assert_int_eq(probe_expect_parse("banner.p50<250us", &e, err, sizeof err), 0);
	ck_assert(e.value == 250);
	ck_assert_int_eq(probe_expect_parse("banner.p50<1.5ms", &e, err, sizeof err), 0);
	ck_assert(e.value == 1500);
	ck_assert_int_eq(probe_expect_parse("banner.p50<12", &e, err, sizeof err), 0);
	ck_assert(!e.has_unit && e.value == 12);
	ck_assert_int_eq(e.op, EXPECT_LT);
}
END_TEST

START_TEST(test_expect_bad)
{
	static const char *const bad[] = {
		"", "banner.p99", "banner.p99<=", "<=200ms", "banner.p99=>200ms",
		"banner.p99<=200xs", "banner.p99<=abc", "Banner.p99<1", ".p99<1",
		"banner.<1", "banner.p99<=-5", "banner.p99 ~ 5",
	};
	struct probe_expect e;
	char err[160];
	double actual;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(probe_expect_parse(bad[i], &e, err, sizeof err) == -1, "accepted '%s'", bad[i]);
	/* Well-formed but not evaluable: unknown figure, unit on a count. */
	ck_assert_int_eq(probe_expect_parse("banner.p42<1ms", &e, err, sizeof err), 0);
	ck_assert_int_eq(probe_expect_eval(&e, metrics, NMETRICS, &actual, err, sizeof err), -1);
	ck_assert_int_eq(probe_expect_parse("outcome.ndr<1ms", &e, err, sizeof err), 0);
	ck_assert_int_eq(probe_expect_eval(&e, metrics, NMETRICS, &actual, err, sizeof err), -1);
}
END_TEST

START_TEST(test_metrics_names)
{
	struct probe_result *r = probe_result_new();
	struct probe_metric m[PROBE_METRICS_MAX];
	static const char *const want[] = {
		"attempts", "tries", "rate", "connect.p50", "banner.p99", "banner.p999",
		"banner.max", "total.p90", "outcome.ok", "outcome.ndr", "outcome.gave_up",
		"try_outcome.gave_up", "would_give_up.impatient-10", "would_give_up.rfc5321",
		"banner_masked", "ehlo_refused", "ehlo_masked",
	};

	hist_record(&r->stage[STAGE_BANNER], 1000);
	r->outcome[OUTCOME_NDR] = 3;
	size_t n = probe_metrics(r, 0, m);
	ck_assert(n < PROBE_METRICS_MAX);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		size_t j = 0;
		while (j < n && strcmp(m[j].name, want[i]) != 0)
			j++;
		ck_assert_msg(j < n, "no figure %s", want[i]);
		if (strcmp(want[i], "outcome.ndr") == 0)
			ck_assert(m[j].value == 3 && !m[j].duration);
		if (strcmp(want[i], "banner.max") == 0)
			ck_assert(m[j].value == 1000 && m[j].duration);
	}
	probe_result_free(r);
}
END_TEST

/* ---- outcomes ---- */

START_TEST(test_classify)
{
	ck_assert_int_eq(probe_classify(EVENT_CONNECT_ERROR, ECONNREFUSED, 0), OUTCOME_REFUSED);
	ck_assert_int_eq(probe_classify(EVENT_CONNECT_ERROR, ECONNRESET, 0), OUTCOME_RESET);
	ck_assert_int_eq(probe_classify(EVENT_CONNECT_ERROR, ENETUNREACH, 0), OUTCOME_ERROR);
	ck_assert_int_eq(probe_classify(EVENT_CONNECT_ERROR, EADDRNOTAVAIL, 0), OUTCOME_ERROR);
	ck_assert_int_eq(probe_classify(EVENT_READ_ERROR, ECONNRESET, 0), OUTCOME_RESET);
	ck_assert_int_eq(probe_classify(EVENT_READ_ERROR, EPIPE, 0), OUTCOME_RESET);
	ck_assert_int_eq(probe_classify(EVENT_EOF, 0, 0), OUTCOME_RESET);
	ck_assert_int_eq(probe_classify(EVENT_GIVE_UP, 0, 0), OUTCOME_GAVE_UP);
	ck_assert_int_eq(probe_classify(EVENT_TIMEOUT, ETIMEDOUT, 0), OUTCOME_ERROR);
	ck_assert_int_eq(probe_classify(EVENT_REPLY, 0, 220), OUTCOME_OK);
	ck_assert_int_eq(probe_classify(EVENT_REPLY, 0, 354), OUTCOME_OK);
	ck_assert_int_eq(probe_classify(EVENT_REPLY, 0, 421), OUTCOME_TEMPFAIL);
	ck_assert_int_eq(probe_classify(EVENT_REPLY, 0, 450), OUTCOME_TEMPFAIL);
	ck_assert_int_eq(probe_classify(EVENT_REPLY, 0, 554), OUTCOME_PERMFAIL);
	ck_assert_int_eq(probe_classify(EVENT_REPLY, 0, 0), OUTCOME_ERROR);
	ck_assert_int_eq(probe_classify(EVENT_REPLY, 0, 199), OUTCOME_ERROR);
	ck_assert_int_eq(probe_classify(EVENT_REPLY, 0, 600), OUTCOME_ERROR);
}
END_TEST

START_TEST(test_outcome_names)
{
	for (int o = 0; o < OUTCOME_COUNT; o++)
		ck_assert_int_eq(probe_outcome_parse(probe_outcome_name(o)), o);
	ck_assert_str_eq(probe_outcome_name(OUTCOME_GAVE_UP), "gave_up");
	ck_assert_int_eq(probe_outcome_parse("nope"), -1);
}
END_TEST

START_TEST(test_attempt_outcome)
{
	bool retry;

	/* No retries: one give-up is gave_up, not an NDR. */
	ck_assert_int_eq(probe_attempt_outcome(OUTCOME_GAVE_UP, 1, 0, false, &retry), OUTCOME_GAVE_UP);
	ck_assert(!retry);
	/* Two retries: tries 1 and 2 retry, try 3 bounces. */
	ck_assert_int_eq(probe_attempt_outcome(OUTCOME_GAVE_UP, 1, 2, false, &retry), OUTCOME_GAVE_UP);
	ck_assert(retry);
	ck_assert_int_eq(probe_attempt_outcome(OUTCOME_GAVE_UP, 2, 2, false, &retry), OUTCOME_GAVE_UP);
	ck_assert(retry);
	ck_assert_int_eq(probe_attempt_outcome(OUTCOME_GAVE_UP, 3, 2, false, &retry), OUTCOME_NDR);
	ck_assert(!retry);
	/* A retry that gets through ends the attempt with its own outcome. */
	ck_assert_int_eq(probe_attempt_outcome(OUTCOME_OK, 2, 2, false, &retry), OUTCOME_OK);
	ck_assert(!retry);
	ck_assert_int_eq(probe_attempt_outcome(OUTCOME_REFUSED, 1, 2, false, &retry), OUTCOME_REFUSED);
	ck_assert(!retry);
	ck_assert_int_eq(probe_attempt_outcome(OUTCOME_TEMPFAIL, 1, 5, false, &retry), OUTCOME_TEMPFAIL);
	ck_assert(!retry);
	/* --retry-tempfail: a 4xx is deferred and retried, the last bounces */
	ck_assert_int_eq(probe_attempt_outcome(OUTCOME_TEMPFAIL, 1, 1, true, &retry), OUTCOME_TEMPFAIL);
	ck_assert(retry);
	ck_assert_int_eq(probe_attempt_outcome(OUTCOME_TEMPFAIL, 2, 1, true, &retry), OUTCOME_NDR);
	ck_assert(!retry);
	ck_assert_int_eq(probe_attempt_outcome(OUTCOME_TEMPFAIL, 1, 0, true, &retry), OUTCOME_TEMPFAIL);
	ck_assert(!retry);
	ck_assert_int_eq(probe_attempt_outcome(OUTCOME_PERMFAIL, 1, 1, true, &retry), OUTCOME_PERMFAIL);
	ck_assert(!retry);
}
END_TEST

static struct probe_reply
feed(const char *text, size_t chunk)
{
	struct probe_reply r;
	size_t len = strlen(text), off = 0;

	probe_reply_reset(&r);
	while (off < len && !r.done && !r.bad) {
		size_t n = len - off < chunk ? len - off : chunk;
		off += probe_reply_feed(&r, text + off, n);
	}
	return r;
}

START_TEST(test_reply_reader)
{
	for (size_t chunk = 1; chunk <= 64; chunk *= 2) {
		struct probe_reply r = feed("220 mx ESMTP\r\n", chunk);
		ck_assert(r.done && !r.bad && r.code == 220);
		r = feed("220-first\r\n220-second\r\n220 last\r\n", chunk);
		ck_assert(r.done && r.code == 220);
		r = feed("220-first\r\n220-second\r\n", chunk);
		ck_assert(!r.done && !r.bad);
		r = feed("421 4.3.2 busy\r\n", chunk);
		ck_assert(r.done && r.code == 421);
		r = feed("220\r\n", chunk);		/* bare code, no text */
		ck_assert(r.done && r.code == 220);
		r = feed("220 lf only\n", chunk);
		ck_assert(r.done && r.code == 220);
		r = feed("220-a\r\n250 b\r\n", chunk);	/* codes differ */
		ck_assert(r.bad);
		r = feed("HTTP/1.1 400\r\n", chunk);
		ck_assert(r.bad);
		r = feed("22\r\n", chunk);
		ck_assert(r.bad);
	}
	/* It stops after the last line: the rest is the next reply's. */
	struct probe_reply r;
	probe_reply_reset(&r);
	const char *two = "250 ok\r\n221 bye\r\n";
	ck_assert_uint_eq(probe_reply_feed(&r, two, strlen(two)), 8);
}
END_TEST

/* A greeting made only of "20 *\t" (Postfix's PIX test), one '*' at
 * least, is masked; an EHLO keyword of X's is one the ASA overwrote. */
START_TEST(test_reply_masked)
{
	for (size_t chunk = 1; chunk <= 64; chunk *= 2) {
		struct probe_reply r = feed("220 **0************* *****\r\n", chunk);
		ck_assert(r.done && r.code == 220 && probe_reply_masked(&r));
		r = feed("220 mx0 ESMTP\r\n", chunk);
		ck_assert(!probe_reply_masked(&r));
		r = feed("220 20\r\n", chunk);		/* no '*': nothing to say */
		ck_assert(!probe_reply_masked(&r));
		r = feed("220-**0***\r\n**********\r\n", chunk);	/* the multi-line one */
		ck_assert(r.bad && probe_reply_masked(&r));
		r = feed("250-mx\r\n250-XXXXXXXX\r\n250-XSIZE\r\n250 XXXX 10\r\n", chunk);
		ck_assert(r.done && r.masked_kw == 2 && !probe_reply_masked(&r));
		r = feed("250-XXX\r\n250 SIZE\r\n", chunk);	/* the first line is the domain */
		ck_assert_uint_eq(r.masked_kw, 0);
	}
}
END_TEST

/* ---- retries and profiles ---- */

START_TEST(test_retry_schedule)
{
	struct probe_retry r = { 0 };

	ck_assert_int_eq(probe_retry_parse("50ms", &r), 0);
	ck_assert_uint_eq(r.n_after, 1);
	ck_assert_uint_eq(probe_retry_wait(&r, 0), 50000);
	ck_assert_uint_eq(probe_retry_wait(&r, 7), 50000);	/* last repeats */
	ck_assert_int_eq(probe_retry_parse("5m,10m,1h", &r), 0);
	ck_assert_uint_eq(r.n_after, 3);
	ck_assert_uint_eq(probe_retry_wait(&r, 0), 300000000ULL);
	ck_assert_uint_eq(probe_retry_wait(&r, 1), 600000000ULL);
	ck_assert_uint_eq(probe_retry_wait(&r, 2), 3600000000ULL);
	ck_assert_uint_eq(probe_retry_wait(&r, 9), 3600000000ULL);
	ck_assert_int_eq(probe_retry_parse("", &r), -1);
	ck_assert_int_eq(probe_retry_parse("5m,", &r), -1);
	ck_assert_int_eq(probe_retry_parse(",5m", &r), -1);
	ck_assert_int_eq(probe_retry_parse("5m,,6m", &r), -1);
	ck_assert_int_eq(probe_retry_parse("soon", &r), -1);
	ck_assert_int_eq(probe_retry_parse("1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s", &r), -1);
	struct probe_retry none = { 0 };
	ck_assert_uint_eq(probe_retry_wait(&none, 0), 0);
}
END_TEST

START_TEST(test_profiles)
{
	static const struct { const char *name; uint64_t give_up_us; } want[] = {
		{ "rfc5321", 300000000ULL }, { "sendmail", 300000000ULL }, { "exim", 300000000ULL },
		{ "postfix", 300000000ULL }, { "qmail", 1200000000ULL }, { "impatient-60", 60000000ULL },
		{ "impatient-30", 30000000ULL }, { "impatient-10", 10000000ULL }, { "impatient-5", 5000000ULL },
	};
	const struct probe_profile *p;

	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		p = probe_profile_find(want[i].name);
		ck_assert_msg(p != NULL, "no profile %s", want[i].name);
		ck_assert_uint_eq(p->give_up_us, want[i].give_up_us);
	}
	ck_assert_ptr_null(probe_profile_find("nonesuch"));
	for (size_t i = 0; (p = probe_profile_at(i)) != NULL; i++) {
		struct probe_retry r;
		ck_assert_msg(probe_retry_parse(p->retry_after, &r) == 0, "%s: bad schedule", p->name);
		ck_assert(p->source != NULL && strlen(p->source) > 10);
		ck_assert(p->give_up_us > 0);
	}
	p = probe_profile_find("postfix");
	struct probe_retry r;
	probe_retry_parse(p->retry_after, &r);
	ck_assert_uint_eq(probe_retry_wait(&r, 1), 600000000ULL);	/* doubling backoff */
}
END_TEST

/* ---- who would give up ---- */

#define MS(n) ((uint64_t)(n) * 1000u)
#define S(n) ((uint64_t)(n) * 1000000u)

START_TEST(test_count_over)
{
	struct histogram h;

	hist_init(&h);
	ck_assert_uint_eq(probe_hist_count_over(&h, 0), 0);
	for (int i = 1; i <= 100; i++)
		hist_record(&h, MS(100) * (uint64_t)i);	/* 0.1 s .. 10 s */
	ck_assert_uint_eq(probe_hist_count_over(&h, 0), 100);
	ck_assert_uint_eq(probe_hist_count_over(&h, S(10)), 0);	/* the max is exact */
	ck_assert_uint_eq(probe_hist_count_over(&h, S(10) - 1), 1);
	ck_assert_uint_eq(probe_hist_count_over(&h, S(5)), 50);
	ck_assert_uint_eq(probe_hist_count_over(&h, MS(2550)), 75);
	ck_assert_uint_eq(probe_hist_count_over(&h, MS(99)), 100);	/* below the exact min */
}
END_TEST

START_TEST(test_giveup_row)
{
	struct histogram h;
	struct probe_giveup g;
	struct probe_banners b = { &h, NULL, 0 };

	hist_init(&h);
	for (int i = 0; i < 6; i++)
		hist_record(&h, S(15));		/* six banners after 15 s */
	for (int i = 0; i < 2; i++)
		hist_record(&h, MS(2));		/* two fast ones */
	/* No give-up in the run: nothing censored. */
	probe_giveup_row(&b, 0, 0, S(10), &g);
	ck_assert_uint_eq(g.over, 6);
	ck_assert_uint_eq(g.of, 8);
	ck_assert_uint_eq(g.unknown, 0);
	ck_assert(g.share > 0.749 && g.share < 0.751);
	probe_giveup_row(&b, 0, 0, S(300), &g);
	ck_assert_uint_eq(g.over, 0);
	ck_assert(g.share == 0.0);
	/* Two more tries gave up at 20 s: over for a 10 s client, unknown
	 * (a lower bound) for a 300 s one. */
	probe_giveup_row(&b, 2, S(20), S(10), &g);
	ck_assert_uint_eq(g.over, 8);
	ck_assert_uint_eq(g.of, 10);
	ck_assert_uint_eq(g.unknown, 0);
	probe_giveup_row(&b, 2, S(20), S(20), &g);
	ck_assert_uint_eq(g.over, 2);
	ck_assert_uint_eq(g.unknown, 0);
	probe_giveup_row(&b, 2, S(20), S(300), &g);
	ck_assert_uint_eq(g.over, 0);
	ck_assert_uint_eq(g.unknown, 2);
	/* Nothing connected: share 0, not a division by zero. */
	hist_init(&h);
	probe_giveup_row(&b, 0, 0, S(5), &g);
	ck_assert_uint_eq(g.of, 0);
	ck_assert(g.share == 0.0);
}
END_TEST

START_TEST(test_giveup_matrix)
{
	struct histogram h;
	struct probe_giveup g[PROBE_GIVEUP_MAX];
	struct probe_banners b = { &h, NULL, 0 };
	const struct probe_profile *p;
	size_t nprof = 0;

	while (probe_profile_at(nprof) != NULL)
		nprof++;
	hist_init(&h);
	for (int i = 0; i < 4; i++)
		hist_record(&h, S(15));
	size_t n = probe_giveup_matrix(&b, 0, 0, g, PROBE_GIVEUP_MAX);
	ck_assert_uint_eq(n, nprof);
	for (size_t i = 0; i < n; i++) {
		p = probe_profile_at(i);
		ck_assert_str_eq(g[i].profile, p->name);
		ck_assert_uint_eq(g[i].threshold_us, p->give_up_us);
		/* A 15 s banner: the 5 and 10 s senders bounce, the rest wait. */
		ck_assert(g[i].share == (p->give_up_us < S(15) ? 1.0 : 0.0));
	}
	ck_assert_uint_eq(probe_giveup_matrix(&b, 0, 0, g, 3), 3);
}
END_TEST

/* With the per-try rows the count is exact, even within the histogram's
 * 0.8% of the threshold. */
START_TEST(test_giveup_rows_exact)
{
	struct histogram h;
	struct probe_try rows[3] = {
		{ .banner_us = S(10) + 20000, .greeted = 1 },
		{ .banner_us = S(10) - 20000, .greeted = 1 },
		{ .banner_us = 0, .greeted = 0 },
	};
	struct probe_banners b = { &h, rows, 3 };
	struct probe_giveup g;

	hist_init(&h);
	hist_record(&h, rows[0].banner_us);
	hist_record(&h, rows[1].banner_us);
	ck_assert_uint_eq(probe_rows_count_over(rows, 3, S(10)), 1);
	probe_giveup_row(&b, 1, MS(500), S(10), &g);
	ck_assert_uint_eq(g.over, 1);
	ck_assert_uint_eq(g.unknown, 1);
	ck_assert_uint_eq(g.of, 3);
}
END_TEST

START_TEST(test_expect_profile_figure)
{
	struct probe_expect e;
	char err[128];

	ck_assert_int_eq(probe_expect_parse("would_give_up.impatient-10<=0.05", &e, err, sizeof err), 0);
	ck_assert_str_eq(e.path, "would_give_up.impatient-10");
}
END_TEST

/* ---- --source ---- */

static const char *
nth_text(const struct probe_source *s, uint64_t n, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	probe_source_nth(s, n, &ss, &sl);
	if (ss.ss_family == AF_INET)
		return inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, (socklen_t)len);
	return inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, (socklen_t)len);
}

START_TEST(test_source_cycle)
{
	struct probe_source s;
	char buf[64];

	ck_assert_int_eq(probe_source_parse("127.0.1.0/28", &s), 0);
	ck_assert_uint_eq(s.count, 14);		/* .0 and .15 skipped */
	ck_assert_str_eq(nth_text(&s, 0, buf, sizeof buf), "127.0.1.1");
	ck_assert_str_eq(nth_text(&s, 13, buf, sizeof buf), "127.0.1.14");
	ck_assert_str_eq(nth_text(&s, 14, buf, sizeof buf), "127.0.1.1");	/* cycles */
	ck_assert_int_eq(probe_source_parse("127.0.1.77/24", &s), 0);	/* host bits cleared */
	ck_assert_str_eq(nth_text(&s, 0, buf, sizeof buf), "127.0.1.1");
	ck_assert_str_eq(nth_text(&s, 253, buf, sizeof buf), "127.0.1.254");
	ck_assert_int_eq(probe_source_parse("10.0.0.0/16", &s), 0);
	ck_assert_str_eq(nth_text(&s, 255, buf, sizeof buf), "10.0.1.0");	/* carry */
	ck_assert_int_eq(probe_source_parse("127.0.0.9", &s), 0);
	ck_assert_uint_eq(s.count, 1);
	ck_assert_str_eq(nth_text(&s, 5, buf, sizeof buf), "127.0.0.9");
	ck_assert_int_eq(probe_source_parse("127.0.0.8/31", &s), 0);
	ck_assert_uint_eq(s.count, 2);
	ck_assert_str_eq(nth_text(&s, 1, buf, sizeof buf), "127.0.0.9");
	ck_assert_int_eq(probe_source_parse("fd00::/120", &s), 0);
	ck_assert_uint_eq(s.count, 256);
	ck_assert_str_eq(nth_text(&s, 255, buf, sizeof buf), "fd00::ff");
	ck_assert_str_eq(nth_text(&s, 256, buf, sizeof buf), "fd00::");
}
END_TEST

START_TEST(test_source_bad)
{
	static const char *const bad[] = {
		"", "127.0.0.1/33", "127.0.0.1/", "127.0.0.1/x", "::1/129", "host/24", "127.0.0.1/-1",
	};
	struct probe_source s;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(probe_source_parse(bad[i], &s) == -1, "accepted '%s'", bad[i]);
}
END_TEST

/* ---- the session-mode message ---- */

/* Gathers the stream from offset `from` on, `max` entries a call, moving on
 * by `step` bytes at most per call (what a short write would take). */
static char *
message_gather(const char *fill, uint64_t size, uint64_t from, int max, uint64_t step)
{
	uint64_t len = probe_message_len(size), off = from;
	char *out = malloc(len - from + 1);
	struct iovec iov[16];

	ck_assert_ptr_nonnull(out);
	while (off < len) {
		int n = probe_message_iov(fill, size, off, iov, max);
		uint64_t took = 0;
		ck_assert_int_ge(n, 1);
		ck_assert_int_le(n, max);
		for (int i = 0; i < n && took < step; i++) {
			size_t k = iov[i].iov_len;
			ck_assert_uint_gt(k, 0);
			if (k > step - took)
				k = (size_t)(step - took);
			memcpy(out + (off - from) + took, iov[i].iov_base, k);
			took += k;
		}
		off += took;
	}
	ck_assert_uint_eq(off, len);
	out[len - from] = '\0';
	return out;
}

/* The header, size bytes of 76-character lines, the final dot: the same
 * bytes whatever the split into calls and entries. */
START_TEST(test_message_stream)
{
	static const uint64_t sizes[] = { 0, 1, 76, 77, 78, 100, 1024, PROBE_FILL_SIZE - 1,
	    PROBE_FILL_SIZE, PROBE_FILL_SIZE + 1, 3 * PROBE_FILL_SIZE + 5 };
	static const char head[] = "Subject: smtpprobe\r\n\r\n";
	char *fill = malloc(PROBE_FILL_SIZE);

	ck_assert_ptr_nonnull(fill);
	probe_message_fill(fill);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		uint64_t size = sizes[i], len = probe_message_len(size);
		char *want = malloc(len + 1);
		ck_assert_ptr_nonnull(want);
		ck_assert_uint_eq(len, strlen(head) + size + 5);
		memcpy(want, head, strlen(head));
		for (uint64_t b = 0; b < size; b++)
			want[strlen(head) + b] = b % 78 == 76 ? '\r' : b % 78 == 77 ? '\n' : 'x';
		memcpy(want + strlen(head) + size, "\r\n.\r\n", 6);
		static const struct { int max; uint64_t step; } splits[] = {
			{ 16, UINT64_MAX }, { 1, UINT64_MAX }, { 2, 7 }, { 16, 1000 }, { 3, 65483 },
		};
		for (size_t j = 0; j < sizeof splits / sizeof splits[0]; j++) {
			if (splits[j].step < 100 && size > 1024)
				continue;	/* byte dribbles of the large ones: slow, nothing new */
			char *got = message_gather(fill, size, 0, splits[j].max, splits[j].step);
			ck_assert_msg(memcmp(got, want, len) == 0, "size %llu split %zu",
			    (unsigned long long)size, j);
			free(got);
		}
		/* From inside the header, the body and the dot. */
		uint64_t froms[] = { 3, strlen(head) + size / 2, len - 2 };
		for (size_t j = 0; j < 3; j++) {
			char *got = message_gather(fill, size, froms[j], 16, UINT64_MAX);
			ck_assert(memcmp(got, want + froms[j], len - froms[j]) == 0);
			free(got);
		}
		free(want);
	}
	free(fill);
}
END_TEST

/* A message that fits a socket buffer is one call: header, body and dot
 * together (a dot on its own waits for a delayed ACK). */
START_TEST(test_message_one_write)
{
	char *fill = malloc(PROBE_FILL_SIZE);
	struct iovec iov[16];

	ck_assert_ptr_nonnull(fill);
	probe_message_fill(fill);
	ck_assert_int_eq(probe_message_iov(fill, 100, 0, iov, 16), 3);
	ck_assert_uint_eq(iov[2].iov_len, 5);
	ck_assert(memcmp(iov[2].iov_base, "\r\n.\r\n", 5) == 0);
	int n = probe_message_iov(fill, 65536, 0, iov, 16);
	uint64_t sum = 0;
	for (int i = 0; i < n; i++)
		sum += iov[i].iov_len;
	ck_assert_uint_eq(sum, probe_message_len(65536));
	free(fill);
}
END_TEST

/* ---- --csv ---- */

static char *
csv_text(const struct probe_try *rows, uint64_t n)
{
	struct probe_result res = { .rows = (struct probe_try *)rows, .nrows = n };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	probe_report_csv(f, &res);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

/* source is the last column, ADDR:PORT, [ADDR]:PORT for IPv6, empty when
 * the try never connected; the columns before it are unchanged. */
START_TEST(test_csv_source_column)
{
	struct probe_try rows[3] = {
		{ .attempt = 0, .try_no = 1, .start_us = 5, .connect_us = 10, .banner_us = 20,
		  .total_us = 40, .outcome = OUTCOME_OK, .code = 220, .greeted = 1,
		  .banner_masked = 1, .ehlo_refused = 1 },
		{ .attempt = 1, .try_no = 1, .start_us = 6, .connect_us = 11, .banner_us = 21,
		  .total_us = 41, .outcome = OUTCOME_OK, .code = 220, .greeted = 1, .masked_extensions = 1 },
		{ .attempt = 2, .try_no = 1, .start_us = 7, .total_us = 3, .outcome = OUTCOME_REFUSED },
	};
	rows[0].source.sin.sin_family = AF_INET;
	rows[0].source.sin.sin_port = htons(45334);
	inet_pton(AF_INET, "127.0.0.1", &rows[0].source.sin.sin_addr);
	rows[1].source.sin6.sin6_family = AF_INET6;
	rows[1].source.sin6.sin6_port = htons(2525);
	inet_pton(AF_INET6, "::1", &rows[1].source.sin6.sin6_addr);

	char *text = csv_text(rows, 3);
	ck_assert_str_eq(text,
	    "attempt,try,start_us,connect_us,banner_us,total_us,outcome,code,source,"
	    "banner_masked,ehlo_refused,masked_extensions\n"
	    "1,1,5,10,20,40,ok,220,127.0.0.1:45334,1,1,0\n"
	    "2,1,6,11,21,41,ok,220,[::1]:2525,0,0,1\n"
	    "3,1,7,0,0,3,refused,0,,0,0,0\n");
	free(text);
}
END_TEST

static void
inet(struct sockaddr_storage *ss, const char *text, unsigned port)
{
	memset(ss, 0, sizeof *ss);
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, text, &sin6->sin6_addr);
		sin6->sin6_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		inet_pton(AF_INET, text, &sin->sin_addr);
		sin->sin_port = htons((uint16_t)port);
	}
}

/* What --proxy writes is what bannerd's parser accepts, naming the same
 * client. */
START_TEST(test_proxy_header_round_trip)
{
	struct sockaddr_storage src, dst;
	unsigned char out[PROBE_PROXY_MAX];
	struct proxy_header h;
	size_t n;

	inet(&src, "198.51.100.3", 40000);
	inet(&dst, "127.0.0.1", 2525);
	n = probe_proxy_header(1, (struct sockaddr *)&src, (struct sockaddr *)&dst, out);
	ck_assert_uint_eq(n, strlen("PROXY TCP4 198.51.100.3 127.0.0.1 40000 2525\r\n"));
	ck_assert_int_eq(memcmp(out, "PROXY TCP4 198.51.100.3 127.0.0.1 40000 2525\r\n", n), 0);
	for (int v = 1; v <= 2; v++) {
		n = probe_proxy_header(v, (struct sockaddr *)&src, (struct sockaddr *)&dst, out);
		ck_assert_int_eq(proxy_parse(out, n, PROXY_ACCEPT_ANY, 536, &h), PROXY_OK);
		ck_assert_uint_eq(h.len, n);
		ck_assert_int_eq(h.version, v);
		ck_assert_int_eq(memcmp(&h.src, &src, sizeof(struct sockaddr_in)), 0);
		ck_assert_int_eq(memcmp(&h.dst, &dst, sizeof(struct sockaddr_in)), 0);
	}
	inet(&src, "2001:db8::7", 1);
	inet(&dst, "::1", 25);
	n = probe_proxy_header(2, (struct sockaddr *)&src, (struct sockaddr *)&dst, out);
	ck_assert_uint_eq(n, 52);
	ck_assert_int_eq(proxy_parse(out, n, PROXY_ACCEPT_V2, 536, &h), PROXY_OK);
	ck_assert_int_eq(h.src.ss_family, AF_INET6);
	n = probe_proxy_header(1, (struct sockaddr *)&src, (struct sockaddr *)&dst, out);
	ck_assert_int_eq(proxy_parse(out, n, PROXY_ACCEPT_V1, 536, &h), PROXY_OK);
	/* one family for both ends */
	inet(&dst, "127.0.0.1", 25);
	ck_assert_uint_eq(probe_proxy_header(1, (struct sockaddr *)&src, (struct sockaddr *)&dst, out), 0);
}
END_TEST

START_TEST(test_proxy_source_counts_every_address)
{
	struct probe_source s;
	struct sockaddr_storage ss;
	socklen_t len;
	char text[INET_ADDRSTRLEN];

	ck_assert_int_eq(probe_source_parse("198.51.100.0/30", &s), 0);
	ck_assert_uint_eq(s.count, 2);	/* bound sources skip network and broadcast */
	probe_source_all(&s);
	ck_assert_uint_eq(s.count, 4);
	for (unsigned i = 0; i < 5; i++) {
		char want[32];

		probe_source_nth(&s, i, &ss, &len);
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, text, sizeof text);
		snprintf(want, sizeof want, "198.51.100.%u", i % 4);
		ck_assert_str_eq(text, want);
	}
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("smtpprobe");
	TCase *tc = tcase_create("pure");

	tcase_add_test(tc, test_expect_operators);
	tcase_add_test(tc, test_proxy_header_round_trip);
	tcase_add_test(tc, test_proxy_source_counts_every_address);
	tcase_add_test(tc, test_expect_units);
	tcase_add_test(tc, test_expect_bad);
	tcase_add_test(tc, test_metrics_names);
	tcase_add_test(tc, test_classify);
	tcase_add_test(tc, test_outcome_names);
	tcase_add_test(tc, test_attempt_outcome);
	tcase_add_test(tc, test_reply_reader);
	tcase_add_test(tc, test_reply_masked);
	tcase_add_test(tc, test_retry_schedule);
	tcase_add_test(tc, test_profiles);
	tcase_add_test(tc, test_count_over);
	tcase_add_test(tc, test_giveup_row);
	tcase_add_test(tc, test_giveup_matrix);
	tcase_add_test(tc, test_giveup_rows_exact);
	tcase_add_test(tc, test_expect_profile_figure);
	tcase_add_test(tc, test_source_cycle);
	tcase_add_test(tc, test_source_bad);
	tcase_add_test(tc, test_message_stream);
	tcase_add_test(tc, test_message_one_write);
	tcase_add_test(tc, test_csv_source_column);
	suite_add_tcase(s, tc);
	return s;
}
