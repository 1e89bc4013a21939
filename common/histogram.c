#include "histogram.h"

#include <string.h>

/* Slot layout: slots 0..127 hold the values 0..127 exactly. For a value
 * with highest set bit k >= 7, the top 8 bits (1xxxxxxx) select one of
 * 128 sub-buckets of width 2^(k-7) inside [2^k, 2^(k+1)). */
static uint32_t
slot_of(uint64_t v)
{
	if (v < HIST_SUB_COUNT)
		return (uint32_t)v;
	unsigned k = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = k - HIST_SUB_BITS;
	uint32_t sub = (uint32_t)(v >> shift) - HIST_SUB_COUNT;
	return HIST_SUB_COUNT * (shift + 1) + sub;
}

static void
slot_bounds(uint32_t slot, uint64_t *lo, uint64_t *hi)
{
	if (slot < HIST_SUB_COUNT) {
		*lo = *hi = slot;
		return;
	}
	unsigned shift = slot / HIST_SUB_COUNT - 1;
	uint64_t sub = slot % HIST_SUB_COUNT + HIST_SUB_COUNT;
	*lo = sub << shift;
	*hi = *lo + ((UINT64_C(1) << shift) - 1);
}

void
hist_init(struct histogram *h)
{
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

static uint64_t
add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

void
hist_record_n(struct histogram *h, uint64_t value, uint64_t n)
{
	if (n == 0)
		return;
	h->slots[slot_of(value)] += n;
	h->count += n;
	uint64_t prod = (value != 0 && n > UINT64_MAX / value) ? UINT64_MAX : value * n;
	h->sum = add_sat(h->sum, prod);
	if (value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
}

void
hist_record(struct histogram *h, uint64_t value)
{
	hist_record_n(h, value, 1);
}

void
hist_merge(struct histogram *dst, const struct histogram *src)
{
	if (src->count == 0)
		return;
	for (uint32_t i = 0; i < HIST_SLOTS; i++)
		dst->slots[i] += src->slots[i];
	dst->count += src->count;
	dst->sum = add_sat(dst->sum, src->sum);
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
hist_percentile(const struct histogram *h, double p)
{
	if (h->count == 0)
		return 0;
	if (p >= 100.0)
		return h->max;
	if (p < 0.0)
		p = 0.0;
	/* rank is 1-based: the value below which p% of the values lie. */
	double r = p / 100.0 * (double)h->count;
	uint64_t rank = (uint64_t)r;
	if ((double)rank < r || rank == 0)
		rank++;
	uint64_t seen = 0;
	for (uint32_t i = 0; i < HIST_SLOTS; i++) {
		seen += h->slots[i];
		if (seen < rank)
			continue;
		uint64_t lo, hi;
		slot_bounds(i, &lo, &hi);
		uint64_t mid = lo + (hi - lo) / 2;
		if (mid < h->min)
			return h->min;
		return mid > h->max ? h->max : mid;
	}
	return h->max;
}

uint64_t
hist_max(const struct histogram *h)
{
	return h->max;
}

uint64_t
hist_min(const struct histogram *h)
{
	return h->count ? h->min : 0;
}

uint64_t
hist_count(const struct histogram *h)
{
	return h->count;
}

uint64_t
hist_sum(const struct histogram *h)
{
	return h->sum;
}

double
hist_mean(const struct histogram *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

bool
hist_next(const struct histogram *h, struct hist_iter *it, struct hist_bucket *out)
{
	while (it->next < HIST_SLOTS) {
		uint32_t i = it->next++;
		if (h->slots[i] == 0)
			continue;
		slot_bounds(i, &out->lo, &out->hi);
		out->count = h->slots[i];
		return true;
	}
	return false;
}

void
hist_bucket_of(uint64_t value, uint64_t *lo, uint64_t *hi)
{
	slot_bounds(slot_of(value), lo, hi);
}
