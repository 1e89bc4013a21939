#include "live.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct live {
	pthread_mutex_t lock;
	struct live_record *ring;
	size_t cap;
	uint64_t seq;			/* the last record's, 0: none yet */
	struct live_change changes[LIVE_CHANGES_MAX];
	uint64_t n_changes;		/* ever noted; the slot is n % LIVE_CHANGES_MAX */
};

struct live *
live_new(size_t capacity)
{
	struct live *l;

	if (capacity < LIVE_BUFFER_MIN || capacity > LIVE_BUFFER_MAX)
		return NULL;
	l = calloc(1, sizeof *l);
	if (l == NULL)
		return NULL;
	/* calloc: the pages are touched only as records arrive */
	l->ring = calloc(capacity, sizeof *l->ring);
	if (l->ring == NULL) {
		free(l);
		return NULL;
	}
	l->cap = capacity;
	pthread_mutex_init(&l->lock, NULL);
	return l;
}

void
live_free(struct live *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l->ring);
	free(l);
}

int64_t
live_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
live_record(struct live *l, enum live_outcome o, uint64_t banner_us,
    const uint64_t stages[BANNER_STAGE_COUNT], int64_t t_us)
{
	struct live_record r = { .t_us = t_us ? t_us : live_now_us(), .banner_us = banner_us,
	    .outcome = o };

	if (l == NULL)
		return;
	memcpy(r.stages, stages, sizeof r.stages);
	/* Built outside the lock: inside, one copy. */
	pthread_mutex_lock(&l->lock);
	r.seq = ++l->seq;
	l->ring[(r.seq - 1) % l->cap] = r;
	pthread_mutex_unlock(&l->lock);
}

/* Keeps the start of s and says it was cut: a change too long to keep
 * whole is still shown for what it is. */
static void
copy_cut(char *dst, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n < size) {
		memcpy(dst, s, n + 1);
		return;
	}
	memcpy(dst, s, size - 4);
	memcpy(dst + size - 4, "...", 4);
}

void
live_note_change(struct live *l, const char *line, const char *origin)
{
	struct live_change *c;

	if (l == NULL)
		return;
	pthread_mutex_lock(&l->lock);
	c = &l->changes[l->n_changes++ % LIVE_CHANGES_MAX];
	c->t_us = live_now_us();
	copy_cut(c->line, sizeof c->line, line);
	copy_cut(c->origin, sizeof c->origin, origin);
	pthread_mutex_unlock(&l->lock);
}

/* The oldest record a reader past since still gets (the ring may have
 * overwritten what it asked for). Under the lock. */
static uint64_t
first_wanted(const struct live *l, uint64_t since)
{
	uint64_t oldest = l->seq > l->cap ? l->seq - l->cap + 1 : 1;

	return since >= oldest ? since + 1 : oldest;
}

int
live_snapshot(struct live *l, uint64_t since, struct live_snapshot *snap)
{
	uint64_t first, want, n_ch;

	memset(snap, 0, sizeof *snap);
	/* Sized under the lock, allocated outside it, so the workers never
	 * wait for malloc; what arrived in between waits for the next read
	 * (seq says how far this one got). */
	pthread_mutex_lock(&l->lock);
	first = first_wanted(l, since);
	want = first <= l->seq ? l->seq - first + 1 : 0;
	pthread_mutex_unlock(&l->lock);
	snap->recs = malloc((want ? want : 1) * sizeof *snap->recs);
	snap->changes = malloc(LIVE_CHANGES_MAX * sizeof *snap->changes);
	if (snap->recs == NULL || snap->changes == NULL) {
		live_snapshot_free(snap);
		return -1;
	}
	pthread_mutex_lock(&l->lock);
	snap->dropped = l->seq > l->cap ? l->seq - l->cap : 0;
	first = first_wanted(l, since);
	for (uint64_t s = first; s <= l->seq && snap->n < want; s++)
		snap->recs[snap->n++] = l->ring[(s - 1) % l->cap];
	snap->seq = snap->n > 0 ? snap->recs[snap->n - 1].seq : (since < l->seq ? since : l->seq);
	n_ch = l->n_changes < LIVE_CHANGES_MAX ? l->n_changes : LIVE_CHANGES_MAX;
	for (uint64_t i = l->n_changes - n_ch; i < l->n_changes; i++)
		snap->changes[snap->n_changes++] = l->changes[i % LIVE_CHANGES_MAX];
	pthread_mutex_unlock(&l->lock);
	return 0;
}

void
live_snapshot_free(struct live_snapshot *snap)
{
	free(snap->recs);
	free(snap->changes);
	snap->recs = NULL;
	snap->changes = NULL;
	snap->n = snap->n_changes = 0;
}
