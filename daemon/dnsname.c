#include "dnsname.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int
dnsname_ptr_query(const struct sockaddr *sa, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	if (sa->sa_family == AF_INET) {
		const unsigned char *a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
		int n = snprintf(buf, len, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
		return n > 0 && (size_t)n < len ? 0 : -1;
	}
	if (sa->sa_family == AF_INET6) {
		const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		size_t o = 0;
		if (len < 64 + sizeof "ip6.arpa")
			return -1;
		for (int i = 15; i >= 0; i--) {
			buf[o++] = hex[a[i] & 0xf];
			buf[o++] = '.';
			buf[o++] = hex[a[i] >> 4];
			buf[o++] = '.';
		}
		memcpy(buf + o, "ip6.arpa", sizeof "ip6.arpa");
		return 0;
	}
	return -1;
}

static int
label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int
dnsname_valid(const char *name)
{
	size_t len = strlen(name), label = 0;
	int all_numeric = 1;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (c == '.') {
			if (label == 0 || name[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!label_char(c) || ++label > 63 || (label == 1 && c == '-'))
			return 0;
		if (!(c >= '0' && c <= '9'))
			all_numeric = 0;
	}
	return label > 0 && name[len - 1] != '-' && !all_numeric;
}
