#ifndef BANNERD_LIVE_H
#define BANNERD_LIVE_H
/* What the live page (GET /live) shows: one record per connection, kept
 * in a bounded ring (metrics.live_buffer records), and the last
 * LIVE_CHANGES_MAX control changes.
 *
 * Workers write records from their own threads, the exporter reads them
 * on the main thread: one mutex, held for a copy of one record on the
 * write side (no allocation, O(1)) and for one copy of the wanted part of
 * the ring on the read side. A record is about 90 bytes; the ring is
 * allocated once, at start-up. */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define LIVE_BUFFER_MIN 16
#define LIVE_BUFFER_MAX 1048576
#define LIVE_CHANGES_MAX 64
#define LIVE_CHANGE_LINE_MAX 1024	/* longer lines are kept cut, ending in "..." */
#define LIVE_ORIGIN_MAX 128

enum live_outcome {
	LIVE_BANNER,		/* the 220 was written */
	LIVE_ABANDONED,		/* the client left before its banner */
	LIVE_REJECTED,		/* bannerd ended it before a banner: a 421, a pregreet, a fault */
};

struct live_record {
	uint64_t seq;			/* 1, 2, ...: the order records were made in */
	int64_t t_us;			/* wall clock (unix, microseconds): banner written, or end */
	uint64_t banner_us;		/* accept -> banner written, or -> end */
	uint64_t stages[BANNER_STAGE_COUNT];
	enum live_outcome outcome;
};

struct live_change {
	int64_t t_us;
	char line[LIVE_CHANGE_LINE_MAX];
	char origin[LIVE_ORIGIN_MAX];
};

/* A copy of what a reader asked for, made under the lock, read without. */
struct live_snapshot {
	uint64_t seq;			/* the highest record seq made so far */
	uint64_t dropped;		/* records overwritten before... ever: seq - capacity */
	size_t n;
	struct live_record *recs;	/* seq > since, oldest first */
	size_t n_changes;
	struct live_change *changes;	/* oldest first, at most LIVE_CHANGES_MAX */
};

struct live;

/* capacity: records kept (LIVE_BUFFER_MIN..LIVE_BUFFER_MAX). NULL when
 * out of memory or out of bounds. */
struct live *live_new(size_t capacity);
void live_free(struct live *l);

/* A session's record: banner_us and the stages as banner_stages made
 * them. t_us 0: now. Any thread; l NULL: nothing. */
void live_record(struct live *l, enum live_outcome o, uint64_t banner_us,
    const uint64_t stages[BANNER_STAGE_COUNT], int64_t t_us);

/* A control change went through (main.c: control_changed). */
void live_note_change(struct live *l, const char *line, const char *origin);

/* Records with seq > since (at most the capacity) and the changes.
 * Returns 0, or -1 when out of memory. Free with live_snapshot_free. */
int live_snapshot(struct live *l, uint64_t since, struct live_snapshot *snap);
void live_snapshot_free(struct live_snapshot *snap);

/* The wall clock in microseconds since the epoch. */
int64_t live_now_us(void);

#endif
