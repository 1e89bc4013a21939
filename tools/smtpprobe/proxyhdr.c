#include "proxyhdr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const unsigned char v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

/* The address bytes (4 or 16) and port of sa, as the family wants:
 * an IPv4-mapped IPv6 address becomes IPv4 when want is AF_INET. */
static int
split(const struct sockaddr *sa, int want, unsigned char a[16], uint16_t *port)
{
	if (sa->sa_family == AF_INET && want == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		memcpy(a, &sin->sin_addr, 4);
		*port = ntohs(sin->sin_port);
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -1;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	*port = ntohs(sin6->sin6_port);
	if (want == AF_INET6) {
		memcpy(a, &sin6->sin6_addr, 16);
		return 0;
	}
	if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
		return -1;
	memcpy(a, sin6->sin6_addr.s6_addr + 12, 4);
	return 0;
}

size_t
probe_proxy_header(int version, const struct sockaddr *src, const struct sockaddr *dst,
    unsigned char out[PROBE_PROXY_MAX])
{
	int fam = src->sa_family;
	unsigned char s[16], d[16];
	uint16_t sport, dport;
	size_t alen = fam == AF_INET ? 4 : 16;

	if ((fam != AF_INET && fam != AF_INET6) || split(src, fam, s, &sport) != 0 ||
	    split(dst, fam, d, &dport) != 0)
		return 0;
	if (version == 1) {
		char st[INET6_ADDRSTRLEN], dt[INET6_ADDRSTRLEN];
		int n;

		inet_ntop(fam, s, st, sizeof st);
		inet_ntop(fam, d, dt, sizeof dt);
		n = snprintf((char *)out, PROBE_PROXY_MAX, "PROXY %s %s %s %u %u\r\n",
		    fam == AF_INET ? "TCP4" : "TCP6", st, dt, (unsigned)sport, (unsigned)dport);
		return n > 0 && n < PROBE_PROXY_MAX ? (size_t)n : 0;
	}
	memcpy(out, v2_sig, sizeof v2_sig);
	out[12] = 0x21;				/* version 2, PROXY */
	out[13] = fam == AF_INET ? 0x11 : 0x21;	/* TCP over IPv4 / IPv6 */
	out[14] = 0;
	out[15] = (unsigned char)(2 * alen + 4);
	memcpy(out + 16, s, alen);
	memcpy(out + 16 + alen, d, alen);
	out[16 + 2 * alen] = (unsigned char)(sport >> 8);
	out[17 + 2 * alen] = (unsigned char)sport;
	out[18 + 2 * alen] = (unsigned char)(dport >> 8);
	out[19 + 2 * alen] = (unsigned char)dport;
	return 16 + 2 * alen + 4;
}
