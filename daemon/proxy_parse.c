#include "proxy_parse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

static const unsigned char v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};
static const char v1_sig[] = "PROXY ";

static enum proxy_result
bad(struct proxy_header *h, const char *why)
{
	h->why = why;
	return PROXY_BAD;
}

/* Do the len bytes we have agree with sig so far? */
static int
prefix_of(const unsigned char *buf, size_t len, const void *sig, size_t sig_len)
{
	return memcmp(buf, sig, len < sig_len ? len : sig_len) == 0;
}

/* A decimal in [0, max] with no heading zero, the whole of [p, end). */
static int
dec_parse(const char *p, const char *end, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (p == end || end - p > 5 || (*p == '0' && end - p > 1))
		return -1;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* Exactly four dot-separated decimals 0..255 without heading zeroes. */
static int
v1_ipv4(const char *p, const char *end, struct in_addr *out)
{
	unsigned char a[4];

	for (int i = 0; i < 4; i++) {
		const char *dot = i < 3 ? memchr(p, '.', (size_t)(end - p)) : end;
		unsigned long v;

		if (dot == NULL || dec_parse(p, dot, 255, &v) != 0)
			return -1;
		a[i] = (unsigned char)v;
		p = dot + 1;
	}
	memcpy(out, a, 4);
	return 0;
}

/* Hex groups, colons, one "::" (inet_pton checks the rest: 128 bits, at
 * most 4 digits a group); a dotted tail is not among the spec's forms. */
static int
v1_ipv6(const char *p, const char *end, struct in6_addr *out)
{
	char text[INET6_ADDRSTRLEN];
	size_t n = (size_t)(end - p);

	if (n == 0 || n >= sizeof text || strspn(p, "0123456789abcdefABCDEF:") < n)
		return -1;
	memcpy(text, p, n);
	text[n] = '\0';
	return inet_pton(AF_INET6, text, out) == 1 ? 0 : -1;
}

static void
set_inet(struct sockaddr_storage *ss, const void *a, unsigned port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof *ss);
	sin->sin_family = AF_INET;
	memcpy(&sin->sin_addr, a, 4);
	sin->sin_port = htons((uint16_t)port);
}

static void
set_inet6(struct sockaddr_storage *ss, const void *a, unsigned port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	sin6->sin6_family = AF_INET6;
	memcpy(&sin6->sin6_addr, a, 16);
	sin6->sin6_port = htons((uint16_t)port);
}

/* Splits "A B C D" into exactly four fields, one space apart. */
static int
v1_fields(const char *p, const char *end, const char *f[4], const char *fe[4])
{
	for (int i = 0; i < 4; i++) {
		const char *sp = i < 3 ? memchr(p, ' ', (size_t)(end - p)) : end;

		if (sp == NULL || sp == p)
			return -1;
		f[i] = p;
		fe[i] = sp;
		p = sp + 1;
	}
	return memchr(f[3], ' ', (size_t)(end - f[3])) == NULL ? 0 : -1;
}

/* The line between "PROXY " and the CRLF. */
static enum proxy_result
v1_decode(const char *p, const char *end, struct proxy_header *h)
{
	const char *f[4], *fe[4];
	unsigned char src[16], dst[16];
	unsigned long sport, dport;
	int v6;

	if ((size_t)(end - p) >= 7 && memcmp(p, "UNKNOWN", 7) == 0 && (end - p == 7 || p[7] == ' ')) {
		h->local = 1;	/* the rest of the line is to be ignored */
		return PROXY_OK;
	}
	if ((size_t)(end - p) < 5 || (memcmp(p, "TCP4 ", 5) != 0 && memcmp(p, "TCP6 ", 5) != 0))
		return bad(h, "v1 protocol not TCP4, TCP6 or UNKNOWN");
	v6 = p[3] == '6';
	if (v1_fields(p + 5, end, f, fe) != 0)
		return bad(h, "v1 fields not four, one space apart");
	if (v6 ? v1_ipv6(f[0], fe[0], (struct in6_addr *)src) != 0 :
	    v1_ipv4(f[0], fe[0], (struct in_addr *)src) != 0)
		return bad(h, "v1 bad source address");
	if (v6 ? v1_ipv6(f[1], fe[1], (struct in6_addr *)dst) != 0 :
	    v1_ipv4(f[1], fe[1], (struct in_addr *)dst) != 0)
		return bad(h, "v1 bad destination address");
	if (dec_parse(f[2], fe[2], 65535, &sport) != 0 || dec_parse(f[3], fe[3], 65535, &dport) != 0)
		return bad(h, "v1 bad port");
	(v6 ? set_inet6 : set_inet)(&h->src, src, (unsigned)sport);
	(v6 ? set_inet6 : set_inet)(&h->dst, dst, (unsigned)dport);
	h->addr_len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	return PROXY_OK;
}

static enum proxy_result
v1_parse(const unsigned char *buf, size_t len, struct proxy_header *h)
{
	size_t n = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;

	/* Abort at the first byte that cannot belong: a lone CR or LF, or
	 * anything that is not printable ASCII. */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = buf[i];

		if (c == '\r') {
			if (i + 1 == PROXY_V1_MAX)
				break;	/* its LF would be byte 108 */
			if (i + 1 == len)
				return PROXY_MORE;
			if (buf[i + 1] != '\n')
				return bad(h, "v1 CR without LF");
			h->len = i + 2;
			return v1_decode((const char *)buf + 6, (const char *)buf + i, h);
		}
		if (c == '\n')
			return bad(h, "v1 LF without CR");
		if (c < 0x20 || c > 0x7e)
			return bad(h, "v1 byte not printable");
	}
	if (n == PROXY_V1_MAX)
		return bad(h, "v1 no CRLF within 107 bytes");
	return PROXY_MORE;
}

/* Each TLV (type, 16-bit length, value) must lie within the header. */
static int
v2_tlvs_fit(const unsigned char *p, size_t n)
{
	while (n > 0) {
		if (n < 3)
			return -1;
		size_t tl = 3 + ((size_t)p[1] << 8 | p[2]);
		if (tl > n)
			return -1;
		p += tl;
		n -= tl;
	}
	return 0;
}

/* The families of the spec's section 2.2 and their address blocks. Only
 * TCP over IPv4 or IPv6 names a client bannerd can use; the others are
 * valid and fall back to UNSPEC: the real endpoints. */
static const struct v2_family {
	unsigned char code;
	unsigned char used;
	unsigned char len;	/* 216 for AF_UNIX fits a byte */
} v2_families[] = {
	{ 0x00, 0, 0 }, { 0x11, 1, 12 }, { 0x12, 0, 12 }, { 0x21, 1, 36 }, { 0x22, 0, 36 },
	{ 0x31, 0, 216 }, { 0x32, 0, 216 },
};

static const struct v2_family *
v2_family(unsigned code)
{
	for (size_t i = 0; i < sizeof v2_families / sizeof v2_families[0]; i++)
		if (v2_families[i].code == code)
			return &v2_families[i];
	return NULL;
}

static enum proxy_result
v2_addresses(const unsigned char *buf, size_t body, struct proxy_header *h)
{
	const unsigned char *a = buf + PROXY_V2_FIXED;
	const struct v2_family *f = v2_family(buf[13]);
	size_t need;

	if (f == NULL)
		return bad(h, "v2 unknown family");
	need = f->len;
	if (body < need)
		return bad(h, "v2 address block shorter than its family");
	if (v2_tlvs_fit(a + need, body - need) != 0)
		return bad(h, "v2 TLV past the header");
	if (!f->used) {
		h->local = 1;
		return PROXY_OK;
	}
	unsigned sport = (unsigned)a[need - 4] << 8 | a[need - 3];
	unsigned dport = (unsigned)a[need - 2] << 8 | a[need - 1];
	if (f->code == 0x11) {
		set_inet(&h->src, a, sport);
		set_inet(&h->dst, a + 4, dport);
		h->addr_len = sizeof(struct sockaddr_in);
	} else {
		set_inet6(&h->src, a, sport);
		set_inet6(&h->dst, a + 16, dport);
		h->addr_len = sizeof(struct sockaddr_in6);
	}
	return PROXY_OK;
}

/* What the fixed part says as far as it has come: each byte is judged as
 * soon as it arrives, so a bad one aborts without waiting for the rest. */
static const char *
v2_fixed_wrong(const unsigned char *buf, size_t len)
{
	if (len > 12 && buf[12] >> 4 != 2)
		return "v2 version not 2";
	if (len > 12 && (buf[12] & 0x0f) > 1)
		return "v2 command not LOCAL or PROXY";
	if (len > 13 && v2_family(buf[13]) == NULL)
		return "v2 unknown family";
	return NULL;
}

static enum proxy_result
v2_parse(const unsigned char *buf, size_t len, size_t v2_max, struct proxy_header *h)
{
	const char *why = v2_fixed_wrong(buf, len);

	if (why != NULL)
		return bad(h, why);
	if (len < PROXY_V2_FIXED)
		return PROXY_MORE;
	size_t body = (size_t)buf[14] << 8 | buf[15];
	if (PROXY_V2_FIXED + body > v2_max)
		return bad(h, "v2 header longer than listen.proxy_v2_max");
	if (len < PROXY_V2_FIXED + body)
		return PROXY_MORE;
	h->len = PROXY_V2_FIXED + body;
	if ((buf[12] & 0x0f) == 0) {
		/* LOCAL: the balancer's own connection (a health check);
		 * the address block is skipped whatever it holds */
		h->local = 1;
		return PROXY_OK;
	}
	return v2_addresses(buf, body, h);
}

enum proxy_result
proxy_parse(const unsigned char *buf, size_t len, enum proxy_accept accept, size_t v2_max,
    struct proxy_header *h)
{
	memset(h, 0, sizeof *h);
	if (len == 0)
		return PROXY_MORE;
	if (prefix_of(buf, len, v2_sig, sizeof v2_sig)) {
		if (!(accept & PROXY_ACCEPT_V2))
			return bad(h, "v2 header where only v1 is accepted");
		h->version = 2;
		return len <= sizeof v2_sig ? PROXY_MORE : v2_parse(buf, len, v2_max, h);
	}
	if (prefix_of(buf, len, v1_sig, sizeof v1_sig - 1)) {
		if (!(accept & PROXY_ACCEPT_V1))
			return bad(h, "v1 header where only v2 is accepted");
		h->version = 1;
		return len < sizeof v1_sig - 1 ? PROXY_MORE : v1_parse(buf, len, h);
	}
	return bad(h, "not a PROXY protocol header");
}

static const char *const accept_names[] = { "off", "v1", "v2", "any" };

const char *
proxy_accept_name(enum proxy_accept a)
{
	return (unsigned)a < 4 ? accept_names[a] : "?";
}

int
proxy_accept_parse(const char *text, enum proxy_accept *out)
{
	for (unsigned i = 0; i < 4; i++)
		if (strcmp(text, accept_names[i]) == 0) {
			*out = (enum proxy_accept)i;
			return 0;
		}
	return -1;
}
