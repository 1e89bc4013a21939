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
