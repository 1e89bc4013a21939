/* common/units: durations and sizes as the daemon's configuration and the
 * tools' options read them, and the short form the logs print. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "units.h"

START_TEST(durations)
{
	uint64_t v;

	ck_assert_int_eq(units_parse_duration("250ms", &v), 0);
	ck_assert_uint_eq(v, 250000);
	ck_assert_int_eq(units_parse_duration("3s", &v), 0);
	ck_assert_uint_eq(v, 3000000);
	ck_assert_int_eq(units_parse_duration("1.5s", &v), 0);
	ck_assert_uint_eq(v, 1500000);
	ck_assert_int_eq(units_parse_duration("2m", &v), 0);
	ck_assert_uint_eq(v, 120000000);
	ck_assert_int_eq(units_parse_duration("15us", &v), 0);
	ck_assert_uint_eq(v, 15);
	ck_assert_int_eq(units_parse_duration(" 1 h ", &v), 0);
	ck_assert_uint_eq(v, 3600000000ULL);
	ck_assert_int_eq(units_parse_duration("", &v), -1);
	ck_assert_int_eq(units_parse_duration("ms", &v), -1);
	ck_assert_int_eq(units_parse_duration("5 x", &v), -1);
	ck_assert_int_eq(units_parse_duration("-1s", &v), -1);
	ck_assert_int_eq(units_parse_duration("99999999999999999999s", &v), -1);
}
END_TEST

/* The edge of "a duration needs its unit": zero is the same in every unit,
 * anything else without one is refused, and said so. */
START_TEST(duration_needs_a_unit_except_zero)
{
	uint64_t v = 99;

	ck_assert_int_eq(units_parse_duration("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	v = 99;
	ck_assert_int_eq(units_parse_duration("0ms", &v), 0);
	ck_assert_uint_eq(v, 0);
	v = 99;
	ck_assert_int_eq(units_parse_duration(" 0.0 ", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(units_parse_duration("500ms", &v), 0);
	ck_assert_uint_eq(v, 500000);
	v = 99;
	ck_assert_int_eq(units_parse_duration("500", &v), UNITS_NO_UNIT);
	ck_assert_uint_eq(v, 99);	/* untouched on error */
	ck_assert_int_eq(units_parse_duration("1", &v), UNITS_NO_UNIT);
	ck_assert_int_eq(units_parse_duration("0.5", &v), UNITS_NO_UNIT);
	ck_assert_int_eq(units_parse_duration("7", &v), UNITS_NO_UNIT);
}
END_TEST

START_TEST(duration_problem_says_what_to_write)
{
	char buf[160];

	units_duration_problem("500", buf, sizeof buf);
	ck_assert_str_eq(buf, "\"500\" needs a unit (us, ms, s, m, h): did you mean 500ms or 500s?");
	units_duration_problem(" 1.5 ", buf, sizeof buf);
	ck_assert_str_eq(buf, "\"1.5\" needs a unit (us, ms, s, m, h): did you mean 1.5ms or 1.5s?");
	units_duration_problem("soon", buf, sizeof buf);
	ck_assert_str_eq(buf, "'soon' is not a duration (e.g. 250ms, 3s, 5m)");
	units_duration_problem("500", buf, 8);	/* cut short, still a string */
	ck_assert_uint_eq(strlen(buf), 7);
}
END_TEST

START_TEST(sizes_and_format)
{
	uint64_t v;
	char buf[32];

	ck_assert_int_eq(units_parse_size("512", &v), 0);	/* bytes need no unit */
	ck_assert_uint_eq(v, 512);
	ck_assert_int_eq(units_parse_size("64k", &v), 0);
	ck_assert_uint_eq(v, 65536);
	ck_assert_int_eq(units_parse_size("10M", &v), 0);
	ck_assert_uint_eq(v, 10485760);
	ck_assert_int_eq(units_parse_size("1.5M", &v), 0);
	ck_assert_uint_eq(v, 1572864);
	ck_assert_int_eq(units_parse_size("1.5", &v), -1);
	ck_assert_int_eq(units_parse_size("10Q", &v), -1);
	units_format_duration(12, buf, sizeof buf);
	ck_assert_str_eq(buf, "12us");
	units_format_duration(300400, buf, sizeof buf);
	ck_assert_str_eq(buf, "300.4ms");
	units_format_duration(4100000, buf, sizeof buf);
	ck_assert_str_eq(buf, "4.100s");
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("units");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, durations);
	tcase_add_test(tc, duration_needs_a_unit_except_zero);
	tcase_add_test(tc, duration_problem_says_what_to_write);
	tcase_add_test(tc, sizes_and_format);
	suite_add_tcase(s, tc);
	return s;
}
