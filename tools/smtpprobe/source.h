#ifndef SMTPPROBE_SOURCE_H
#define SMTPPROBE_SOURCE_H
/* --source ADDR[/PREFIX]: the local addresses connections are bound to,
 * handed out in turn so the server sees many distinct clients. Pure. */
#include <stdint.h>
#include <sys/socket.h>

struct probe_source {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char base[16];		/* network address, host bits cleared */
	unsigned prefix;
	uint64_t count;			/* usable addresses, capped at 2^32 */
	uint64_t first;			/* offset of the first usable one */
};

/* "127.0.1.0/24", "127.0.0.5", "fd00::/120". For IPv4 prefixes up to /30
 * the network and broadcast addresses are skipped. Returns 0 or -1. */
int probe_source_parse(const char *text, struct probe_source *out);
/* Counts every address of the range, the network and broadcast ones of
 * an IPv4 prefix too: for addresses only claimed (--proxy-source), never
 * bound, where 198.51.100.0/30 is four clients. */
void probe_source_all(struct probe_source *s);
/* The n-th address, cycling (n modulo count); port 0. */
void probe_source_nth(const struct probe_source *s, uint64_t n,
    struct sockaddr_storage *ss, socklen_t *len);

#endif
