#ifndef BANNERD_ANVIL_H
#define BANNERD_ANVIL_H
/* Per-client admission counts, as Postfix's anvil keeps them: for each
 * client (an address, or its prefix: listen.client_prefix_v4 / _v6) the
 * sessions open now and the connections in the current rate window.
 * Pure: no I/O, no clock, no lock; the caller passes the time in.
 *
 * Memory is bounded: the table remembers at most `limit` clients
 * (listen.client_table_size). A full table first forgets clients with no
 * open session (only their rate count is lost); a client that still finds
 * no room is let in uncounted (ANVIL_UNTRACKED), since refusing strangers
 * because a table is full would be a cheaper attack than the one the
 * limits stop.
 *
 * Not thread-safe. In bannerd the table belongs to the pool and is used
 * only under the admission lock (pool.h). */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Postfix's anvil_rate_time_unit: rates are connections per minute. */
#define ANVIL_RATE_WINDOW_US (60ULL * 1000 * 1000)

struct anvil;

struct anvil_limits {
	uint64_t max_sessions;		/* open sessions per client; 0: no limit */
	uint64_t max_rate;		/* connections per window per client; 0: no limit */
	uint64_t window_us;		/* the rate window (fixed, per client) */
	unsigned prefix_v4;		/* 1..32: bits of an IPv4 address that name a client */
	unsigned prefix_v6;		/* 1..128 */
};

enum anvil_verdict {
	ANVIL_OK,			/* counted: call anvil_disconnect when it closes */
	ANVIL_UNTRACKED,		/* let in, not counted: the table is full of open clients */
	ANVIL_TOO_MANY_SESSIONS,	/* max_sessions open already: not counted */
	ANVIL_TOO_FAST,			/* over max_rate in this window: not counted */
};

/* NULL when out of memory. seed keys the hash, so that a peer cannot
 * choose addresses that collide. */
struct anvil *anvil_new(size_t limit, const struct anvil_limits *lim, uint64_t seed);
void anvil_free(struct anvil *a);

/* New limits (reload); a new table size rebuilds the table, keeping every
 * client it holds. -1 when out of memory (the old table stays). */
int anvil_configure(struct anvil *a, size_t limit, const struct anvil_limits *lim);

/* A connection from peer at now_us. Every attempt counts in the rate,
 * the refused ones too, so a client hammering a limit stays over it. */
enum anvil_verdict anvil_connect(struct anvil *a, const struct sockaddr *peer, uint64_t now_us);

/* A session counted by anvil_connect (ANVIL_OK) has closed. */
void anvil_disconnect(struct anvil *a, const struct sockaddr *peer);

/* For tests and the metrics: clients remembered, and the open sessions
 * counted for peer's client. */
size_t anvil_clients(const struct anvil *a);
uint64_t anvil_sessions(const struct anvil *a, const struct sockaddr *peer);

#endif
