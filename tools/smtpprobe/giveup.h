#ifndef SMTPPROBE_GIVEUP_H
#define SMTPPROBE_GIVEUP_H
/* Who would give up: from one run's banner latencies, the share of
 * connections each known client profile (outcome.h's table) would have
 * abandoned before the greeting, i.e. the senders that would retry and
 * finally bounce (KB Q286375's "lower wait threshold"). Pure logic. */
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "histogram.h"

/* One row of the matrix. A try that gave up in this run at run_give_up_us
 * never showed its banner: for a threshold at or below that it counts as
 * over, above it its latency is unknown (counted in `unknown`, not in
 * `over`), so `share` is a lower bound whenever unknown > 0. */
struct probe_giveup {
	const char *profile;
	uint64_t threshold_us;
	uint64_t over;		/* tries whose greeting took longer than threshold_us */
	uint64_t unknown;	/* gave up here before threshold_us: latency not known */
	uint64_t of;		/* tries that connected: greeted + gave up */
	double share;		/* over / of; 0 when of == 0 */
};

/* Values recorded in h that are greater than threshold_us. A bucket is
 * counted as over when its midpoint is: the answer is off only for values
 * within the histogram's 0.8% of the threshold. */
uint64_t probe_hist_count_over(const struct histogram *h, uint64_t threshold_us);

/* The same count, exact, from the per-try records (kept for --csv). */
uint64_t probe_rows_count_over(const struct probe_try *rows, uint64_t nrows, uint64_t threshold_us);

/* The banner latencies of a run: the histogram always, the per-try rows
 * when they were kept (rows == NULL otherwise), which make counts exact. */
struct probe_banners {
	const struct histogram *hist;
	const struct probe_try *rows;
	uint64_t nrows;
};

void probe_giveup_row(const struct probe_banners *b, uint64_t gave_up_tries,
    uint64_t run_give_up_us, uint64_t threshold_us, struct probe_giveup *out);

#define PROBE_GIVEUP_MAX 32

/* One row per profile, in the profile table's order; returns the count
 * (at most max). */
size_t probe_giveup_matrix(const struct probe_banners *b, uint64_t gave_up_tries,
    uint64_t run_give_up_us, struct probe_giveup *out, size_t max);

#endif
