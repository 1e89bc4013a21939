#ifndef BANNERD_RDNS_H
#define BANNERD_RDNS_H
/* The reverse-DNS engine: c-ares on one thread's own event_base, under
 * both resolver backends (resolver.h: a worker's loop for async, a
 * resolver thread's loop for pool). Channels belong to one loop (c-ares
 * 1.18 has no locking): a channel for every rdns.lookups_per_port lookups,
 * so each asks from a fresh UDP source port, at most rdns.max_ports open
 * at once. Their sockets are watched by libevent events, their retry
 * schedules driven by timers re-armed from ares_timeout after every call.
 * No thread, no blocking call, no polling loop.
 *
 * The callback of a lookup is never run from inside rdns_lookup (c-ares
 * may complete synchronously; we defer that to the loop), and never after
 * rdns_query_cancel. */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct config;
struct event_base;
struct rdns;
struct rdns_query;

enum rdns_result {
	RDNS_OK,
	RDNS_NXDOMAIN,
	RDNS_SERVFAIL,
	RDNS_REFUSED,
	RDNS_TIMEOUT,
	RDNS_UNCONFIRMED,	/* forward lookup does not list the peer */
	RDNS_ERROR,		/* anything else, a malformed name included */
	RDNS_SKIPPED,		/* not asked: rdns.max_inflight reached (session.c) */
	RDNS_RESULT_COUNT
};

struct rdns_answer {
	enum rdns_result result;
	const char *name;	/* validated PTR name, or NULL */
	/* Monotonic: asked for, a resolver took it up, answer in. The wait
	 * for a resolver (rdns_wait) is started - queued: 0 unless pooled. */
	uint64_t queued_us, started_us, finished_us;
	int timeouts;		/* tries that expired (c-ares's count) */
	const char *detail;	/* c-ares's words for a failure, or NULL */
	/* RDNS_OK only: 1 when the name's forward lookup listed the peer,
	 * 0 when it was not asked (rdns.forward_confirm = off): the name is
	 * then the PTR record's claim, unverified. */
	int confirmed;
};

typedef void rdns_done_fn(void *arg, const struct rdns_answer *answer);

/* Channel settings (servers, timeout, tries, hosts file) are taken from c.
 * Returns NULL with err set when c-ares refuses them. */
struct rdns *rdns_new(struct event_base *base, const struct config *c, char *err, size_t errlen);

/* Lookups started and not yet ended (a replaced resolver is freed once
 * this is 0). */
unsigned rdns_pending(const struct rdns *r);

/* Destroys the channels now: lookups still in flight end with RDNS_ERROR
 * (their callbacks run, unless cancelled). Never call it from inside an
 * rdns callback. The event_base must still be alive. */
void rdns_free(struct rdns *r);

/* Starts a PTR lookup of peer (and, with forward_confirm, the A/AAAA
 * lookup of the name). Returns NULL only when out of memory. */
struct rdns_query *rdns_lookup(struct rdns *r, const struct sockaddr *peer,
    int forward_confirm, rdns_done_fn *cb, void *arg);

/* The session is going away: its callback will not run. The lookup itself
 * finishes (or times out) in the background: c-ares 1.18 can only cancel
 * a whole channel. */
void rdns_query_cancel(struct rdns_query *q);

const char *rdns_result_name(enum rdns_result r);

/* The longest a lookup can take with these settings: c-ares doubles the
 * per-try timeout after each round over the servers, so
 * servers x timeout x (2^tries - 1). */
uint64_t rdns_worst_case_us(unsigned servers, uint64_t timeout_us, unsigned tries);

/* The servers a channel built from c asks, as c-ares holds them
 * ("HOST:PORT,..." into buf): rdns.servers, else resolv.conf's, else
 * c-ares's silent fallback, 127.0.0.1:53, and then *fallback is set.
 * Builds and destroys a throwaway channel: main thread, after
 * ares_library_init. Returns how many, 0 when c-ares fails. */
unsigned rdns_servers_in_force(const struct config *c, char *buf, size_t len, int *fallback);

/* Lines of a resolv.conf that name a nameserver (-1: unreadable). */
int rdns_resolv_conf_nameservers(const char *path);

/* How many servers a rdns.servers value names (0: resolv.conf's). */
unsigned rdns_server_count(const char *servers);

#endif
