#include "labname.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define SYNTH_PREFIX "host-"
#define SYNTH_SUFFIX "." DNSNAME_DOMAIN
#define V4_SUFFIX ".in-addr.arpa"
#define V6_SUFFIX ".ip6.arpa"

/* Lower-cased copy of name without one trailing dot; -1 if too long. */
static int
normalize(const char *name, char *buf, size_t len)
{
	size_t n = strlen(name);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n >= len)
		return -1;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)name[i]);
	buf[n] = '\0';
	return 0;
}

/* Cuts suffix off s in place; -1 if s does not end with it or nothing
 * would be left in front of it. */
static int
cut_suffix(char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	if (n <= m || strcmp(s + n - m, suffix) != 0)
		return -1;
	s[n - m] = '\0';
	return 0;
}

static int
digit_value(char c, int base)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (base == 16 && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parses exactly nvals groups separated by sep, each of 1..maxdigits
 * digits in base, value <= maxval, no leading zeros (the canonical form,
 * so every address has one spelling). The whole string must be used. */
static int
parse_groups(const char *s, char sep, int base, int maxdigits,
    unsigned maxval, unsigned *vals, int nvals)
{
	for (int g = 0; g < nvals; g++) {
		unsigned v = 0;
		int digits = 0, d;

		if (g > 0 && *s++ != sep)
			return -1;
		while ((d = digit_value(*s, base)) >= 0) {
			if (digits == 1 && v == 0)
				return -1;	/* leading zero */
			if (++digits > maxdigits)
				return -1;
			v = v * (unsigned)base + (unsigned)d;
			s++;
		}
		if (digits == 0 || v > maxval)
			return -1;
		vals[g] = v;
	}
	return *s == '\0' ? 0 : -1;
}

static int
parse_v4_reverse(const char *labels, struct dns_addr *out)
{
	unsigned v[4];

	if (parse_groups(labels, '.', 10, 3, 255, v, 4) != 0)
		return -1;
	memset(out, 0, sizeof *out);
	out->family = AF_INET;
	for (int i = 0; i < 4; i++)
		out->bytes[3 - i] = (unsigned char)v[i];
	return 0;
}

/* The first nibble label is the low nibble of the last byte. */
static int
parse_v6_reverse(const char *labels, struct dns_addr *out)
{
	unsigned v[32];

	if (parse_groups(labels, '.', 16, 1, 15, v, 32) != 0)
		return -1;
	memset(out, 0, sizeof *out);
	out->family = AF_INET6;
	for (int i = 0; i < 32; i++)
		out->bytes[15 - i / 2] |= (unsigned char)(i % 2 ? v[i] << 4 : v[i]);
	return 0;
}

int
dnsname_parse_reverse(const char *name, struct dns_addr *out)
{
	char buf[DNSNAME_BUF];

	if (normalize(name, buf, sizeof buf) != 0)
		return -1;
	if (cut_suffix(buf, V4_SUFFIX) == 0)
		return parse_v4_reverse(buf, out);
	if (cut_suffix(buf, V6_SUFFIX) == 0)
		return parse_v6_reverse(buf, out);
	return -1;
}

int
dnsname_format_reverse(const struct dns_addr *a, char *buf, size_t len)
{
	const unsigned char *b = a->bytes;
	size_t off = 0;
	int n;

	if (a->family == AF_INET) {
		n = snprintf(buf, len, "%u.%u.%u.%u" V4_SUFFIX, b[3], b[2], b[1], b[0]);
		return n >= 0 && (size_t)n < len ? 0 : -1;
	}
	if (len < 32 * 2 + sizeof V6_SUFFIX - 1)
		return -1;
	for (int i = 15; i >= 0; i--) {
		n = snprintf(buf + off, len - off, "%x.%x.", b[i] & 0xf, b[i] >> 4);
		off += (size_t)n;
	}
	snprintf(buf + off - 1, len - off + 1, "%s", V6_SUFFIX);
	return 0;
}

int
dnsname_synthesize(const struct dns_addr *a, char *buf, size_t len)
{
	const unsigned char *b = a->bytes;
	int n;

	if (a->family == AF_INET)
		n = snprintf(buf, len, SYNTH_PREFIX "%u-%u-%u-%u" SYNTH_SUFFIX,
		    b[0], b[1], b[2], b[3]);
	else
		n = snprintf(buf, len, SYNTH_PREFIX "%x-%x-%x-%x-%x-%x-%x-%x" SYNTH_SUFFIX,
		    b[0] << 8 | b[1], b[2] << 8 | b[3], b[4] << 8 | b[5],
		    b[6] << 8 | b[7], b[8] << 8 | b[9], b[10] << 8 | b[11],
		    b[12] << 8 | b[13], b[14] << 8 | b[15]);
	return n >= 0 && (size_t)n < len ? 0 : -1;
}

int
dnsname_parse_synthesized(const char *name, struct dns_addr *out)
{
	char buf[DNSNAME_BUF];
	const char *groups = buf + strlen(SYNTH_PREFIX);
	unsigned v[8];

	if (normalize(name, buf, sizeof buf) != 0 || cut_suffix(buf, SYNTH_SUFFIX) != 0)
		return -1;
	if (strncmp(buf, SYNTH_PREFIX, strlen(SYNTH_PREFIX)) != 0)
		return -1;
	memset(out, 0, sizeof *out);
	if (parse_groups(groups, '-', 10, 3, 255, v, 4) == 0) {
		out->family = AF_INET;
		for (int i = 0; i < 4; i++)
			out->bytes[i] = (unsigned char)v[i];
		return 0;
	}
	if (parse_groups(groups, '-', 16, 4, 0xffff, v, 8) == 0) {
		out->family = AF_INET6;
		for (int i = 0; i < 8; i++) {
			out->bytes[2 * i] = (unsigned char)(v[i] >> 8);
			out->bytes[2 * i + 1] = (unsigned char)(v[i] & 0xff);
		}
		return 0;
	}
	return -1;
}

int
dnsname_equal(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	if (na > 0 && a[na - 1] == '.')
		na--;
	if (nb > 0 && b[nb - 1] == '.')
		nb--;
	return na == nb && strncasecmp(a, b, na) == 0;
}

int
dns_addr_parse(const char *text, struct dns_addr *out)
{
	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, text, out->bytes) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, out->bytes) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -1;
}

void
dns_addr_format(const struct dns_addr *a, char *buf, size_t len)
{
	if (len == 0)
		return;
	if (inet_ntop(a->family, a->bytes, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
}

int
dns_addr_equal(const struct dns_addr *a, const struct dns_addr *b)
{
	size_t n = a->family == AF_INET ? 4 : 16;

	return a->family == b->family && memcmp(a->bytes, b->bytes, n) == 0;
}

void
dnsname_sanitize(const char *name, char *buf, size_t len)
{
	size_t i = 0;

	if (len == 0)
		return;
	for (; name[i] != '\0' && i + 1 < len; i++) {
		unsigned char c = (unsigned char)name[i];
		buf[i] = (c <= ' ' || c >= 0x7f || c == '=') ? '?' : (char)c;
	}
	buf[i] = '\0';
}
