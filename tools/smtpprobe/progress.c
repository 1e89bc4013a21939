#include "progress.h"

#include <stdio.h>

#include "units.h"

int
probe_live_init(struct probe_live *l)
{
	l->attempts = l->ok = l->gave_up = 0;
	hist_init(&l->banner);
	return pthread_mutex_init(&l->lock, NULL) == 0 ? 0 : -1;
}

void
probe_live_destroy(struct probe_live *l)
{
	pthread_mutex_destroy(&l->lock);
}

void
probe_live_try(struct probe_live *l, bool greeted, uint64_t banner_us, bool attempt_done,
    enum probe_outcome final)
{
	pthread_mutex_lock(&l->lock);
	if (greeted)
		hist_record(&l->banner, banner_us);
	if (attempt_done) {
		l->attempts++;
		l->ok += final == OUTCOME_OK;
		l->gave_up += final == OUTCOME_GAVE_UP || final == OUTCOME_NDR;
	}
	pthread_mutex_unlock(&l->lock);
}

void
probe_live_take(struct probe_live *l, uint64_t *attempts, uint64_t *ok, uint64_t *gave_up,
    struct histogram *h)
{
	pthread_mutex_lock(&l->lock);
	*attempts += l->attempts;
	*ok += l->ok;
	*gave_up += l->gave_up;
	if (hist_count(&l->banner) > 0) {
		hist_merge(h, &l->banner);
		hist_init(&l->banner);
	}
	pthread_mutex_unlock(&l->lock);
}

size_t
probe_progress_format(const struct probe_progress *p, char *buf, size_t len)
{
	char p50[32] = "-", p99[32] = "-";
	int n;

	if (len == 0)
		return 0;
	if (p->window_count > 0) {
		units_format_duration(p->p50_us, p50, sizeof p50);
		units_format_duration(p->p99_us, p99, sizeof p99);
	}
	n = snprintf(buf, len, "attempts %llu  ok %llu  gave up %llu  p50 %s  p99 %s  rate %.1f/s",
	    (unsigned long long)p->attempts, (unsigned long long)p->ok,
	    (unsigned long long)p->gave_up, p50, p99, p->rate);
	if (n < 0) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)n < len ? (size_t)n : len - 1;
}
