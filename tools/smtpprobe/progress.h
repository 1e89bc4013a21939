#ifndef SMTPPROBE_PROGRESS_H
#define SMTPPROBE_PROGRESS_H
/* The status line smtpprobe refreshes on a terminal about once a second:
 *
 *   attempts 1520  ok 1488  gave up 32  p50 1.204ms  p99 3.010s  rate 49.8/s
 *
 * Each worker counts into its own probe_live under a mutex held for a
 * few additions (only when the line is on: no terminal, no lock); the
 * run's own thread takes the counts and the banner times once a second.
 * p50/p99 and the rate are over the last PROBE_PROGRESS_WINDOW seconds,
 * so the line follows a change made while the load runs. Formatting is
 * pure. */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "histogram.h"
#include "outcome.h"

#define PROBE_PROGRESS_WINDOW 5	/* seconds the percentiles and rate cover */

struct probe_live {
	pthread_mutex_t lock;
	uint64_t attempts, ok, gave_up;	/* since the start */
	struct histogram banner;	/* since the last take */
};

int probe_live_init(struct probe_live *l);
void probe_live_destroy(struct probe_live *l);
/* One try ended: its banner time if greeted (established to greeting),
 * and, when the attempt ended with it, the attempt's outcome. */
void probe_live_try(struct probe_live *l, bool greeted, uint64_t banner_us, bool attempt_done,
    enum probe_outcome final);
/* Adds l's counts to the totals and moves its banner times into h. */
void probe_live_take(struct probe_live *l, uint64_t *attempts, uint64_t *ok, uint64_t *gave_up,
    struct histogram *h);

/* What the line shows. */
struct probe_progress {
	uint64_t attempts, ok, gave_up;
	uint64_t window_count;		/* banner times in the window; 0: p50/p99 shown as "-" */
	uint64_t p50_us, p99_us;
	double rate;			/* attempts per second over the window */
};

/* The line, without CR or newline. Returns its length. */
size_t probe_progress_format(const struct probe_progress *p, char *buf, size_t len);

#endif
