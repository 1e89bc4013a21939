#ifndef BANNERLAB_HISTOGRAM_H
#define BANNERLAB_HISTOGRAM_H
/* A log-linear histogram of uint64_t values (microseconds by convention),
 * the one histogram of the tree: smtpprobe's percentiles and bannerd's
 * metrics both use it.
 *
 * Values below 128 are counted exactly. Above that, every power of two
 * [2^k, 2^(k+1)) is cut into 128 equal sub-buckets, so a bucket is never
 * wider than 1/128 of its lower bound: any value reported for a bucket is
 * within 0.79% of every value counted in it. Memory is fixed (about 58 KiB)
 * whatever the number of values, so a run of 10^9 connections costs the
 * same as a run of ten. Pure logic: no I/O, no allocation, no locking
 * (merge per-thread histograms instead of sharing one). */
#include <stdbool.h>
#include <stdint.h>

#define HIST_SUB_BITS	7
#define HIST_SUB_COUNT	(1u << HIST_SUB_BITS)		/* 128 */
#define HIST_SLOTS	(HIST_SUB_COUNT * (64 - HIST_SUB_BITS + 1))

struct histogram {
	uint64_t count;
	uint64_t sum;		/* saturates at UINT64_MAX rather than wrap */
	uint64_t min;		/* UINT64_MAX while empty */
	uint64_t max;
	uint64_t slots[HIST_SLOTS];
};

/* One non-empty bucket: values lo..hi (both inclusive) seen count times. */
struct hist_bucket {
	uint64_t lo;
	uint64_t hi;
	uint64_t count;
};

struct hist_iter {
	uint32_t next;		/* slot to look at next; 0 to start */
};

void hist_init(struct histogram *h);
void hist_record(struct histogram *h, uint64_t value);
void hist_record_n(struct histogram *h, uint64_t value, uint64_t n);
/* dst += src. The result is the histogram of both value sets. */
void hist_merge(struct histogram *dst, const struct histogram *src);

/* The value at percentile p (0 < p <= 100): the smallest bucket holding at
 * least p% of the values, reported as the bucket's midpoint clamped to the
 * exact min and max. 0 for an empty histogram; p >= 100 gives max. */
uint64_t hist_percentile(const struct histogram *h, double p);
uint64_t hist_max(const struct histogram *h);
uint64_t hist_min(const struct histogram *h);	/* 0 when empty */
uint64_t hist_count(const struct histogram *h);
uint64_t hist_sum(const struct histogram *h);
double hist_mean(const struct histogram *h);

/* Walks the non-empty buckets in increasing order. Start with
 * `struct hist_iter it = {0};`; returns false when there are no more. */
bool hist_next(const struct histogram *h, struct hist_iter *it, struct hist_bucket *out);

/* The bucket bounds of the slot that value falls in (exposed for tests and
 * for exposition formats that want fixed boundaries). */
void hist_bucket_of(uint64_t value, uint64_t *lo, uint64_t *hi);

#endif
