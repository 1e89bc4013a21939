#include "dnsname.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* What a policy admits beyond the rules both share (see the header). */
struct name_policy {
	int underscore;		/* '_' is a label character */
	int all_numeric;	/* digits and dots alone make a name */
};

static const struct name_policy ptr_answer = { .underscore = 1, .all_numeric = 0 };
static const struct name_policy zone_host = { .underscore = 0, .all_numeric = 1 };

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

/* ASCII by hand, not isalnum(): the answer must not depend on a locale. */
static int
label_char(char c, const struct name_policy *p)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || (c == '_' && p->underscore);
}

static int
label_ok(const char *s, size_t n, const struct name_policy *p)
{
	if (n == 0 || n > DNSNAME_LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!label_char(s[i], p))
			return 0;
	return 1;
}

static int
all_numeric(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '.' && !(s[i] >= '0' && s[i] <= '9'))
			return 0;
	return 1;
}

/* The one walker: label by label, then the whole name. */
static int
name_valid(const char *name, const struct name_policy *p)
{
	size_t n = strlen(name);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > DNSNAME_MAX)
		return 0;
	for (size_t start = 0; start <= n;) {
		const char *dot = memchr(name + start, '.', n - start);
		size_t end = dot ? (size_t)(dot - name) : n;

		if (!label_ok(name + start, end - start, p))
			return 0;
		start = end + 1;
	}
	return p->all_numeric || !all_numeric(name, n);
}

int
dnsname_valid(const char *name)
{
	return name_valid(name, &ptr_answer);
}

int
dnsname_valid_host(const char *name)
{
	return name_valid(name, &zone_host);
}
