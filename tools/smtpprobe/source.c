#include "source.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static int
parse_prefix(const char *p, unsigned max, unsigned *out)
{
	char *end;

	if (*p < '0' || *p > '9')
		return -1;
	unsigned long v = strtoul(p, &end, 10);
	if (*end != '\0' || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Clears the host bits of a big-endian address of `bytes` bytes. */
static void
mask_host(unsigned char *a, unsigned bytes, unsigned prefix)
{
	for (unsigned i = 0; i < bytes; i++) {
		unsigned bits = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * i : 0;
		a[i] &= (unsigned char)(0xff00u >> bits);
	}
}

int
probe_source_parse(const char *text, struct probe_source *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t len = strlen(text);

	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, text, len + 1);
	memset(out, 0, sizeof *out);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, out->base) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, out->base) == 1)
		out->family = AF_INET6;
	else
		return -1;
	unsigned bits = out->family == AF_INET ? 32 : 128;
	out->prefix = bits;
	if (slash && parse_prefix(slash + 1, bits, &out->prefix) != 0)
		return -1;
	mask_host(out->base, bits / 8, out->prefix);
	unsigned host = bits - out->prefix;
	out->count = host >= 32 ? UINT64_C(1) << 32 : UINT64_C(1) << host;
	if (out->family == AF_INET && host >= 2) {
		out->first = 1;
		out->count -= 2;
	}
	return 0;
}

void
probe_source_all(struct probe_source *s)
{
	if (s->first == 1) {
		s->first = 0;
		s->count += 2;
	}
}

void
probe_source_nth(const struct probe_source *s, uint64_t n,
    struct sockaddr_storage *ss, socklen_t *len)
{
	unsigned char a[16];
	unsigned bytes = s->family == AF_INET ? 4 : 16;
	uint64_t off = s->first + n % s->count;

	memcpy(a, s->base, bytes);
	/* Add the offset to the low-order bytes, carrying upwards; the
	 * offset fits in the host part, so no carry leaves the prefix. */
	for (unsigned i = bytes; i-- > 0 && off != 0;) {
		uint64_t sum = (uint64_t)a[i] + (off & 0xff);
		a[i] = (unsigned char)sum;
		off = (off >> 8) + (sum >> 8);
	}
	memset(ss, 0, sizeof *ss);
	if (s->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a, 4);
		*len = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, a, 16);
		*len = sizeof *sin6;
	}
}
