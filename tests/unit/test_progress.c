/* Unit tests for smtpprobe's status line (tools/smtpprobe/progress.c):
 * the counts a worker adds, what a take moves, the line's exact text. */
#include <check.h>
#include <string.h>

#include "check_main.h"
#include "../../tools/smtpprobe/progress.h"

START_TEST(live_counts_and_take)
{
	struct probe_live l;
	struct histogram h;
	uint64_t attempts = 0, ok = 0, gave_up = 0;

	ck_assert_int_eq(probe_live_init(&l), 0);
	hist_init(&h);
	probe_live_try(&l, true, 1000, true, OUTCOME_OK);
	probe_live_try(&l, false, 0, false, OUTCOME_GAVE_UP);	/* a try, then a retry */
	probe_live_try(&l, false, 0, true, OUTCOME_NDR);		/* the attempt bounces */
	probe_live_try(&l, false, 0, true, OUTCOME_GAVE_UP);
	probe_live_try(&l, true, 3000, true, OUTCOME_TEMPFAIL);
	probe_live_take(&l, &attempts, &ok, &gave_up, &h);
	ck_assert_uint_eq(attempts, 4);
	ck_assert_uint_eq(ok, 1);
	ck_assert_uint_eq(gave_up, 2);
	ck_assert_uint_eq(hist_count(&h), 2);
	/* the counts are totals, the banner times move out with each take */
	attempts = ok = gave_up = 0;
	probe_live_take(&l, &attempts, &ok, &gave_up, &h);
	ck_assert_uint_eq(attempts, 4);
	ck_assert_uint_eq(hist_count(&h), 2);
	ck_assert_uint_eq(hist_count(&l.banner), 0);
	probe_live_destroy(&l);
}
END_TEST

START_TEST(line_text)
{
	struct probe_progress p = { .attempts = 1520, .ok = 1488, .gave_up = 32, .window_count = 9,
	    .p50_us = 1204, .p99_us = 3010000, .rate = 49.84 };
	char buf[256];

	ck_assert_uint_eq(probe_progress_format(&p, buf, sizeof buf), strlen(buf));
	ck_assert_str_eq(buf, "attempts 1520  ok 1488  gave up 32  p50 1.2ms  p99 3.010s  rate 49.8/s");
	p = (struct probe_progress){ 0 };
	probe_progress_format(&p, buf, sizeof buf);
	ck_assert_str_eq(buf, "attempts 0  ok 0  gave up 0  p50 -  p99 -  rate 0.0/s");
	/* a short buffer: cut, terminated, the length what is there */
	ck_assert_uint_eq(probe_progress_format(&p, buf, 9), 8);
	ck_assert_str_eq(buf, "attempts");
	ck_assert_uint_eq(probe_progress_format(&p, buf, 0), 0);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("progress");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, live_counts_and_take);
	tcase_add_test(tc, line_text);
	suite_add_tcase(s, tc);
	return s;
}
