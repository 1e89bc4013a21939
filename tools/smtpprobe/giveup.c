#include "giveup.h"

#include <stdbool.h>

#include "outcome.h"

uint64_t
probe_hist_count_over(const struct histogram *h, uint64_t threshold_us)
{
	struct hist_iter it = { 0 };
	struct hist_bucket b;
	uint64_t n = 0;

	/* min and max are exact: decide by them whenever they suffice. */
	if (hist_count(h) == 0 || hist_max(h) <= threshold_us)
		return 0;
	if (hist_min(h) > threshold_us)
		return hist_count(h);
	while (hist_next(h, &it, &b)) {
		/* Inside a bucket the midpoint stands for every value. */
		if (b.lo + (b.hi - b.lo) / 2 > threshold_us)
			n += b.count;
	}
	/* The exact extremes also bound the answer: the max is over, the
	 * min is not. */
	if (n == 0)
		n = 1;
	if (n == hist_count(h))
		n--;
	return n;
}

uint64_t
probe_rows_count_over(const struct probe_try *rows, uint64_t nrows, uint64_t threshold_us)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < nrows; i++)
		if (rows[i].greeted && rows[i].banner_us > threshold_us)
			n++;
	return n;
}

void
probe_giveup_row(const struct probe_banners *b, uint64_t gave_up_tries,
    uint64_t run_give_up_us, uint64_t threshold_us, struct probe_giveup *out)
{
	/* Tries that gave up here waited run_give_up_us without a banner:
	 * a client at least that impatient gives up on them too. */
	bool censored_below = run_give_up_us == 0 || threshold_us > run_give_up_us;

	out->threshold_us = threshold_us;
	out->over = b->rows ? probe_rows_count_over(b->rows, b->nrows, threshold_us)
	    : probe_hist_count_over(b->hist, threshold_us);
	out->unknown = censored_below ? gave_up_tries : 0;
	if (!censored_below)
		out->over += gave_up_tries;
	out->of = hist_count(b->hist) + gave_up_tries;
	out->share = out->of ? (double)out->over / (double)out->of : 0.0;
}

size_t
probe_giveup_matrix(const struct probe_banners *b, uint64_t gave_up_tries,
    uint64_t run_give_up_us, struct probe_giveup *out, size_t max)
{
	const struct probe_profile *p;
	size_t n = 0;

	for (size_t i = 0; n < max && (p = probe_profile_at(i)) != NULL; i++) {
		probe_giveup_row(b, gave_up_tries, run_give_up_us, p->give_up_us, &out[n]);
		out[n].profile = p->name;
		n++;
	}
	return n;
}
