#ifndef BANNERD_PROXY_PARSE_H
#define BANNERD_PROXY_PARSE_H
/* The PROXY protocol header (haproxy doc/proxy-protocol.txt, versions 1
 * and 2), pure: the first bytes a load balancer sent, checked exactly
 * against the spec, never guessed at. No I/O; the fuzz target
 * tests/fuzz/fuzz_proxy.c feeds it any bytes.
 *
 *   v1: "PROXY TCP4 192.0.2.1 198.51.100.7 56324 25\r\n"   (at most 107 bytes)
 *   v2: 12-byte signature, ver/cmd, family, length, addresses, TLVs
 *
 * The parser is called again with more bytes until it says OK or BAD:
 * a receiver must not decide before the whole header is in, and must
 * abort as soon as the bytes cannot become a valid one. */
#include <stddef.h>
#include <sys/socket.h>

#define PROXY_V1_MAX 107	/* spec: longest line, CRLF included */
#define PROXY_V2_FIXED 16	/* signature, ver/cmd, family, length */
#define PROXY_V2_ADDR_MIN 216	/* the largest address block (AF_UNIX) */

/* Which versions a listener accepts (listen.proxy_protocol). */
enum proxy_accept {
	PROXY_ACCEPT_OFF = 0,
	PROXY_ACCEPT_V1 = 1,
	PROXY_ACCEPT_V2 = 2,
	PROXY_ACCEPT_ANY = 3,
};

enum proxy_result {
	PROXY_OK,	/* h filled; h->len bytes are the header */
	PROXY_MORE,	/* a valid prefix so far: wait for more bytes */
	PROXY_BAD,	/* h->why says why; drop the connection */
};

struct proxy_header {
	int version;			/* 1 or 2 */
	/* 0: src/dst hold the client and the address it connected to.
	 * 1: v1 UNKNOWN, v2 LOCAL, or a v2 family other than TCP over IP
	 *    (the spec's fallback to UNSPEC): use the real endpoints. */
	int local;
	struct sockaddr_storage src, dst;
	socklen_t addr_len;
	size_t len;			/* bytes the header takes on the wire */
	const char *why;		/* PROXY_BAD: a short static reason */
};

/* v2_max bounds a v2 header (16 + address block + TLVs); the TLVs are
 * walked only to check that each fits, then skipped. */
enum proxy_result proxy_parse(const unsigned char *buf, size_t len, enum proxy_accept accept,
    size_t v2_max, struct proxy_header *h);

/* "off", "v1", "v2", "any"; proxy_accept_parse returns -1 on others. */
const char *proxy_accept_name(enum proxy_accept a);
int proxy_accept_parse(const char *text, enum proxy_accept *out);

#endif
