/* Unit tests of common/histogram.c: the accuracy bound against an exact
 * sort, merge, and the extremes. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "check_main.h"
#include "histogram.h"

static struct histogram *
new_hist(void)
{
	struct histogram *h = malloc(sizeof *h);

	ck_assert_ptr_nonnull(h);
	hist_init(h);
	return h;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The exact value at percentile p by the same rank rule. */
static uint64_t
exact_percentile(const uint64_t *sorted, size_t n, double p)
{
	double r = p / 100.0 * (double)n;
	size_t rank = (size_t)r;

	if ((double)rank < r || rank == 0)
		rank++;
	return sorted[rank - 1];
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
check_accuracy(uint64_t *v, size_t n)
{
	static const double pcts[] = { 1, 10, 50, 90, 99, 99.9, 99.99 };
	struct histogram *h = new_hist();

	for (size_t i = 0; i < n; i++)
		hist_record(h, v[i]);
	qsort(v, n, sizeof *v, cmp_u64);
	for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
		double exact = (double)exact_percentile(v, n, pcts[i]);
		double got = (double)hist_percentile(h, pcts[i]);
		double err = exact == 0 ? got : (got > exact ? got - exact : exact - got) / exact;
		ck_assert_msg(err <= 0.01, "p%.2f: exact %.0f, histogram %.0f", pcts[i], exact, got);
	}
	ck_assert_uint_eq(hist_max(h), v[n - 1]);
	ck_assert_uint_eq(hist_min(h), v[0]);
	ck_assert_uint_eq(hist_count(h), n);
	free(h);
}

START_TEST(test_accuracy_uniform)
{
	size_t n = 200000;
	uint64_t *v = malloc(n * sizeof *v), s = 88172645463325252ULL;

	for (size_t i = 0; i < n; i++)
		v[i] = xorshift(&s) % 10000000;	/* up to 10 s */
	check_accuracy(v, n);
	free(v);
}
END_TEST

START_TEST(test_accuracy_log_spread)
{
	size_t n = 100000;
	uint64_t *v = malloc(n * sizeof *v), s = 1234567;

	/* From 1 us to about 1000 s, evenly spread in magnitude. */
	for (size_t i = 0; i < n; i++)
		v[i] = (xorshift(&s) >> (xorshift(&s) % 34 + 30)) + 1;
	check_accuracy(v, n);
	free(v);
}
END_TEST

START_TEST(test_bucket_width_bound)
{
	for (uint64_t v = 1; v < (UINT64_C(1) << 62); v = v * 3 + 7) {
		uint64_t lo, hi;
		hist_bucket_of(v, &lo, &hi);
		ck_assert(lo <= v && v <= hi);
		ck_assert_msg((double)(hi - lo) <= (double)lo / 128.0, "bucket %lu..%lu too wide",
		    (unsigned long)lo, (unsigned long)hi);
	}
}
END_TEST

START_TEST(test_merge)
{
	struct histogram *a = new_hist(), *b = new_hist(), *all = new_hist();
	uint64_t s = 42;

	for (int i = 0; i < 50000; i++) {
		uint64_t v = xorshift(&s) % 5000000;
		hist_record(i % 3 ? a : b, v);
		hist_record(all, v);
	}
	hist_merge(a, b);
	ck_assert_uint_eq(hist_count(a), hist_count(all));
	ck_assert_uint_eq(hist_sum(a), hist_sum(all));
	ck_assert_uint_eq(hist_max(a), hist_max(all));
	ck_assert_uint_eq(hist_min(a), hist_min(all));
	for (double p = 1; p < 100; p += 7.5)
		ck_assert_uint_eq(hist_percentile(a, p), hist_percentile(all, p));
	hist_init(b);
	hist_merge(a, b);	/* merging an empty one changes nothing */
	ck_assert_uint_eq(hist_min(a), hist_min(all));
	free(a);
	free(b);
	free(all);
}
END_TEST

START_TEST(test_extremes)
{
	struct histogram *h = new_hist();

	ck_assert_uint_eq(hist_percentile(h, 50), 0);
	ck_assert_uint_eq(hist_min(h), 0);
	ck_assert_uint_eq(hist_max(h), 0);
	ck_assert(hist_mean(h) == 0.0);
	hist_record(h, 0);
	ck_assert_uint_eq(hist_percentile(h, 50), 0);
	hist_record(h, 1);
	ck_assert_uint_eq(hist_percentile(h, 100), 1);
	hist_record(h, UINT64_MAX);
	ck_assert_uint_eq(hist_max(h), UINT64_MAX);
	ck_assert_uint_eq(hist_percentile(h, 100), UINT64_MAX);
	ck_assert(hist_percentile(h, 99.9) >= UINT64_MAX / 128 * 127);	/* within a bucket */
	ck_assert_uint_eq(hist_sum(h), UINT64_MAX);	/* saturated, not wrapped */
	ck_assert_uint_eq(hist_percentile(h, 10), 0);
	free(h);
}
END_TEST

START_TEST(test_small_values_exact)
{
	struct histogram *h = new_hist();

	for (uint64_t v = 0; v < 256; v++)
		hist_record(h, v);
	for (int p = 1; p <= 100; p++) {
		uint64_t want = (uint64_t)((p * 256 + 99) / 100) - 1;
		ck_assert_uint_eq(hist_percentile(h, p), want);
	}
	free(h);
}
END_TEST

START_TEST(test_iterator)
{
	struct histogram *h = new_hist();
	struct hist_iter it = { 0 };
	struct hist_bucket b;
	uint64_t total = 0, last_hi = 0;
	int n = 0;

	hist_record_n(h, 5, 3);
	hist_record(h, 1000);
	hist_record(h, 1001);
	hist_record(h, 3000000);
	while (hist_next(h, &it, &b)) {
		ck_assert(n == 0 || b.lo > last_hi);
		ck_assert(b.count > 0);
		last_hi = b.hi;
		total += b.count;
		n++;
	}
	ck_assert_uint_eq(total, 6);
	ck_assert_int_eq(n, 3);		/* 1000 and 1001 share a bucket */
	ck_assert(!hist_next(h, &it, &b));
	free(h);
}
END_TEST

START_TEST(test_fixed_memory)
{
	/* The size is a constant of the type: about 58 KiB, whatever N. */
	ck_assert(sizeof(struct histogram) < 64 * 1024);
	struct histogram *h = new_hist();
	hist_record_n(h, 123456, UINT64_C(1) << 40);
	ck_assert_uint_eq(hist_count(h), UINT64_C(1) << 40);
	uint64_t p = hist_percentile(h, 50);
	ck_assert(p >= 123456 * 99 / 100 && p <= 123456 * 101 / 100);
	free(h);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("histogram");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_accuracy_uniform);
	tcase_add_test(tc, test_accuracy_log_spread);
	tcase_add_test(tc, test_bucket_width_bound);
	tcase_add_test(tc, test_merge);
	tcase_add_test(tc, test_extremes);
	tcase_add_test(tc, test_small_values_exact);
	tcase_add_test(tc, test_iterator);
	tcase_add_test(tc, test_fixed_memory);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}
