#ifndef BANNERD_RDNS_RCODE_H
#define BANNERD_RDNS_RCODE_H
/* What the servers said when c-ares did not keep it. Without
 * ARES_FLAG_NOCHECKRESP, c-ares 1.18 fails over from a SERVFAIL or REFUSED
 * answer to the next server (what rdns.servers = A,B is for), but once out
 * of servers it reports ARES_ECONNREFUSED and drops the rcodes. A witness
 * wraps the channel's sockets (ares_set_socket_functions) and remembers the
 * last such rcode seen for each question name, so the lookup can be
 * classified after the last server, not the first.
 *
 * One witness per channel, used on that channel's thread only (the socket
 * functions run inside ares_process_fd). */
#include <stddef.h>
#include <stdint.h>

#include <ares.h>

#define RDNS_RCODE_SLOTS 16

struct rdns_rcode_seen {
	uint64_t at_us;		/* monotonic; 0: empty */
	int rcode;		/* 2 SERVFAIL, 4 NOTIMP, 5 REFUSED */
	char name[256];		/* the question, as the server echoed it */
};

struct rdns_rcode_witness {
	struct rdns_rcode_seen seen[RDNS_RCODE_SLOTS];	/* a ring */
	unsigned next;
};

/* A DNS response's rcode and first question name (dotted, no trailing
 * dot). Pure. Returns 0, or -1 when pkt is not a response with one
 * uncompressed question. */
int rdns_rcode_parse(const unsigned char *pkt, size_t n, char *name, size_t len, int *rcode);

/* Records pkt if it is a SERVFAIL, NOTIMP or REFUSED response. */
void rdns_rcode_note(struct rdns_rcode_witness *w, const unsigned char *pkt, size_t n, uint64_t now_us);

/* The rcode last recorded for name at or after since_us, or 0. */
int rdns_rcode_last(const struct rdns_rcode_witness *w, const char *name, uint64_t since_us);

/* Makes ch's sockets report to w (w must outlive ch). */
void rdns_rcode_attach(ares_channel ch, struct rdns_rcode_witness *w);

#endif
