#ifndef BANNERLAB_SLOWDNS_DNSCOUNTS_H
#define BANNERLAB_SLOWDNS_DNSCOUNTS_H
/* The counters behind the "slowdns: counts ..." line. Queries are
 * counted by type when they arrive; outcomes when the reply is sent or
 * the query dropped, so a query still waiting for its delay is in
 * "pending" only. answered = NOERROR replies (with or without records);
 * nxdomain, servfail, refused = replies with that rcode, injected or
 * genuine; truncated and mismatch count replies those faults touched
 * (they are also in answered or another rcode). */
#include <stddef.h>
#include <stdint.h>

struct dnscounts {
	uint64_t queries, ptr, a, aaaa, other;
	uint64_t faulted;
	uint64_t answered, nxdomain, servfail, refused, formerr, notimp, dropped;
	uint64_t truncated, mismatch;
};

void dnscounts_query(struct dnscounts *c, int qtype);
/* One reply sent with rcode; truncated/mismatch as applied to it. */
void dnscounts_reply(struct dnscounts *c, int rcode, int truncated, int mismatch);

/* "queries=N ptr=N a=N aaaa=N other=N answered=N dropped=N ... pending=N" */
void dnscounts_format(const struct dnscounts *c, uint64_t pending,
    char *buf, size_t len);

#endif
