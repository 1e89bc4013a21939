#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
parse_port(const char *s, int *port)
{
	char *end;
	long v;

	if (*s == '\0')
		return -1;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 0 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static int
fill(const char *host, int port, struct addr *out)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		out->len = sizeof *sin;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		out->len = sizeof *sin6;
		return 0;
	}
	return -1;
}

int
addr_parse(const char *text, int default_port, struct addr *out)
{
	char host[ADDR_TEXT_MAX];
	const char *colon;
	int port = default_port;
	size_t n;

	while (*text == ' ' || *text == '\t')
		text++;
	if (*text == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || (size_t)(close - text - 1) >= sizeof host)
			return -1;
		n = (size_t)(close - text - 1);
		memcpy(host, text + 1, n);
		host[n] = '\0';
		if (close[1] == ':') {
			if (parse_port(close + 2, &port) != 0)
				return -1;
		} else if (close[1] != '\0')
			return -1;
	} else {
		colon = strchr(text, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			colon = NULL;	/* a bare IPv6 address: no port */
		n = colon ? (size_t)(colon - text) : strlen(text);
		if (n >= sizeof host)
			return -1;
		memcpy(host, text, n);
		host[n] = '\0';
		if (colon != NULL && parse_port(colon + 1, &port) != 0)
			return -1;
	}
	if (port < 0)
		return -1;
	return fill(host, port, out);
}

void
addr_format_host(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *src = NULL;

	if (sa->sa_family == AF_INET)
		src = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		src = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (src == NULL || inet_ntop(sa->sa_family, src, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "unknown");
}

void
addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	unsigned port = 0;

	addr_format_host(sa, host, sizeof host);
	if (sa->sa_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	else if (sa->sa_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	if (sa->sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", host, port);
	else
		snprintf(buf, len, "%s:%u", host, port);
}

void
addr_unmap_v4(struct addr *a)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
	struct sockaddr_in sin;

	if (a->ss.ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
		return;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = sin6->sin6_port;
	memcpy(&sin.sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
	memset(&a->ss, 0, sizeof a->ss);
	memcpy(&a->ss, &sin, sizeof sin);
	a->len = sizeof sin;
}

/* One "ADDRESS[/PREFIX]" into its family, address bytes and prefix. */
static int
cidr_parse(const char *text, size_t n, int *family, unsigned char a[16], unsigned *prefix)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;

	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, text, n);
	buf[n] = '\0';
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, a) == 1)
		*family = AF_INET, *prefix = 32;
	else if (inet_pton(AF_INET6, buf, a) == 1)
		*family = AF_INET6, *prefix = 128;
	else
		return -1;
	if (slash != NULL) {
		unsigned long v;

		if (slash[1] < '0' || slash[1] > '9')
			return -1;
		v = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || v > *prefix)
			return -1;
		*prefix = (unsigned)v;
	}
	return 0;
}

static int
bits_equal(const unsigned char *x, const unsigned char *y, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;

	if (memcmp(x, y, whole) != 0)
		return 0;
	return rest == 0 || ((x[whole] ^ y[whole]) & (0xff00u >> rest) & 0xff) == 0;
}

int
addr_cidr_list_match(const char *list, const struct sockaddr *sa)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	unsigned char mine[16], a[16];
	int fam = sa->sa_family, found = 0;

	if (fam == AF_INET)
		memcpy(mine, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (fam == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
		memcpy(mine, sin6->sin6_addr.s6_addr + 12, 4), fam = AF_INET;
	else if (fam == AF_INET6)
		memcpy(mine, &sin6->sin6_addr, 16);
	else
		fam = AF_UNSPEC;
	for (const char *p = list; *p != '\0';) {
		size_t skip = strspn(p, ", \t"), len;
		int family;
		unsigned prefix;

		p += skip;
		len = strcspn(p, ", \t");
		if (len == 0)
			break;
		if (cidr_parse(p, len, &family, a, &prefix) != 0)
			return -1;
		if (family == fam && bits_equal(mine, a, prefix))
			found = 1;
		p += len;
	}
	return found;
}
