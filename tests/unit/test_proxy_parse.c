/* Unit tests of daemon/proxy_parse.c: PROXY protocol v1 and v2 headers,
 * good, partial and hostile, one test per rule of the spec. */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "check_main.h"
#include "proxy_parse.h"

#define V2_MAX 536

static struct proxy_header h;

static enum proxy_result
p1(const char *text)
{
	return proxy_parse((const unsigned char *)text, strlen(text), PROXY_ACCEPT_ANY, V2_MAX, &h);
}

static const char *
host(const struct sockaddr_storage *ss)
{
	static char buf[ADDR_TEXT_MAX];

	addr_format((const struct sockaddr *)ss, buf, sizeof buf);
	return buf;
}

static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

/* A v2 header: signature, ver/cmd, family, then body of body_len. */
static size_t
v2(unsigned char *out, unsigned ver_cmd, unsigned fam, const unsigned char *body, size_t body_len)
{
	memcpy(out, sig, 12);
	out[12] = (unsigned char)ver_cmd;
	out[13] = (unsigned char)fam;
	out[14] = (unsigned char)(body_len >> 8);
	out[15] = (unsigned char)body_len;
	memcpy(out + 16, body, body_len);
	return 16 + body_len;
}

static const unsigned char tcp4_body[12] = { 192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x00, 0x19 };

START_TEST(v1_good)
{
	ck_assert_int_eq(p1("PROXY TCP4 192.0.2.1 198.51.100.7 56324 25\r\nEHLO"), PROXY_OK);
	ck_assert_int_eq(h.version, 1);
	ck_assert_int_eq(h.local, 0);
	ck_assert_uint_eq(h.len, strlen("PROXY TCP4 192.0.2.1 198.51.100.7 56324 25\r\n"));
	ck_assert_str_eq(host(&h.src), "192.0.2.1:56324");
	ck_assert_str_eq(host(&h.dst), "198.51.100.7:25");
	ck_assert_int_eq(p1("PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n"), PROXY_OK);
	ck_assert_str_eq(host(&h.src), "[2001:db8::1]:0");
	ck_assert_str_eq(host(&h.dst), "[2001:db8::2]:65535");
	ck_assert_int_eq(p1("PROXY TCP4 0.0.0.0 255.255.255.255 0 0\r\n"), PROXY_OK);
}
END_TEST

START_TEST(v1_unknown_keeps_real_endpoints)
{
	ck_assert_int_eq(p1("PROXY UNKNOWN\r\n"), PROXY_OK);
	ck_assert_int_eq(h.local, 1);
	ck_assert_uint_eq(h.len, 15);
	/* anything after UNKNOWN is ignored */
	ck_assert_int_eq(p1("PROXY UNKNOWN what ever\r\n"), PROXY_OK);
	ck_assert_int_eq(h.local, 1);
	ck_assert_int_eq(p1("PROXY UNKNOWNX\r\n"), PROXY_BAD);
}
END_TEST

START_TEST(v1_partial_waits)
{
	ck_assert_int_eq(p1("P"), PROXY_MORE);
	ck_assert_int_eq(p1("PROXY"), PROXY_MORE);
	ck_assert_int_eq(p1("PROXY TCP4 192.0.2.1 198.51.100.7 56324 25"), PROXY_MORE);
	ck_assert_int_eq(p1("PROXY TCP4 192.0.2.1 198.51.100.7 56324 25\r"), PROXY_MORE);
	ck_assert_int_eq(p1("PROXX"), PROXY_BAD);
	ck_assert_int_eq(p1("EHLO x\r\n"), PROXY_BAD);
	ck_assert_str_eq(h.why, "not a PROXY protocol header");
}
END_TEST

START_TEST(v1_line_ends)
{
	ck_assert_int_eq(p1("PROXY TCP4 192.0.2.1 198.51.100.7 56324 25\n"), PROXY_BAD);
	ck_assert_str_eq(h.why, "v1 LF without CR");
	ck_assert_int_eq(p1("PROXY TCP4 192.0.2.1 198.51.100.7 56324 25\rX"), PROXY_BAD);
	ck_assert_str_eq(h.why, "v1 CR without LF");
	ck_assert_int_eq(p1("PROXY TCP4 192.0.2.1\t198.51.100.7 56324 25\r\n"), PROXY_BAD);
	ck_assert_str_eq(h.why, "v1 byte not printable");
}
END_TEST

START_TEST(v1_length_at_the_limit)
{
	/* the spec's worst case is exactly 107 bytes */
	char line[200] = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";

	ck_assert_uint_eq(strlen(line), PROXY_V1_MAX);
	ck_assert_int_eq(p1(line), PROXY_OK);
	ck_assert_uint_eq(h.len, PROXY_V1_MAX);
	/* one byte more and the CRLF comes too late */
	memcpy(line + 105, "5\r\n", 4);
	ck_assert_int_eq(p1(line), PROXY_BAD);
	ck_assert_str_eq(h.why, "v1 no CRLF within 107 bytes");
	/* 106 bytes without CRLF: still waiting; 107: given up */
	memset(line, 'x', sizeof line);
	memcpy(line, "PROXY ", 6);
	line[106] = '\0';
	ck_assert_int_eq(p1(line), PROXY_MORE);
	line[106] = 'x';
	line[107] = '\0';
	ck_assert_int_eq(p1(line), PROXY_BAD);
}
END_TEST

START_TEST(v1_exact_fields)
{
	const char *bad_lines[] = {
		"PROXY TCP5 192.0.2.1 198.51.100.7 1 2\r\n",
		"PROXY tcp4 192.0.2.1 198.51.100.7 1 2\r\n",
		"PROXY TCP4 192.0.2.01 198.51.100.7 1 2\r\n",	/* heading zero */
		"PROXY TCP4 192.0.2.1 198.51.100.7 01 2\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.7 1 025\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.7 65536 2\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.7 100000 2\r\n",
		"PROXY TCP4 192.0.2.256 198.51.100.7 1 2\r\n",
		"PROXY TCP4 192.0.2 198.51.100.7 1 2\r\n",
		"PROXY TCP4 192.0.2.1.5 198.51.100.7 1 2\r\n",
		"PROXY TCP4 192.0.2.1  198.51.100.7 1 2\r\n",	/* two spaces */
		"PROXY TCP4 192.0.2.1 198.51.100.7 1 2 \r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.7 1\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.7 1 2 3\r\n",
		"PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n",	/* family mismatch */
		"PROXY TCP6 192.0.2.1 198.51.100.7 1 2\r\n",
		"PROXY TCP6 2001:db8::1 ::ffff:192.0.2.1 1 2\r\n",	/* dotted tail */
		"PROXY TCP6 2001:db8:::1 2001:db8::2 1 2\r\n",
		"PROXY TCP6 [2001:db8::1] 2001:db8::2 1 2\r\n",
		"PROXY TCP4 -1.0.0.0 198.51.100.7 1 2\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.7 +1 2\r\n",
		"PROXY  TCP4 192.0.2.1 198.51.100.7 1 2\r\n",
		"PROXY \r\n",
	};

	for (size_t i = 0; i < sizeof bad_lines / sizeof bad_lines[0]; i++)
		ck_assert_msg(p1(bad_lines[i]) == PROXY_BAD, "accepted: %s", bad_lines[i]);
	ck_assert_int_eq(p1("PROXY TCP4 192.0.2.1 198.51.100.7 0 0\r\n"), PROXY_OK);
	ck_assert_int_eq(p1("PROXY TCP6 ::1 ::1 1 2\r\n"), PROXY_OK);
	ck_assert_int_eq(p1("PROXY TCP6 2001:DB8::A 2001:db8::b 1 2\r\n"), PROXY_OK);
}
END_TEST

START_TEST(v2_tcp4_and_tcp6)
{
	unsigned char b[600], body[64];
	size_t n = v2(b, 0x21, 0x11, tcp4_body, sizeof tcp4_body);

	memcpy(b + n, "EHLO", 4);
	ck_assert_int_eq(proxy_parse(b, n + 4, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_OK);
	ck_assert_int_eq(h.version, 2);
	ck_assert_int_eq(h.local, 0);
	ck_assert_uint_eq(h.len, 28);
	ck_assert_str_eq(host(&h.src), "192.0.2.1:56324");
	ck_assert_str_eq(host(&h.dst), "198.51.100.7:25");
	memset(body, 0, sizeof body);
	inet_pton(AF_INET6, "2001:db8::1", body);
	inet_pton(AF_INET6, "2001:db8::2", body + 16);
	body[32] = 0x30, body[33] = 0x39, body[35] = 25;
	n = v2(b, 0x21, 0x21, body, 36);
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_V2, V2_MAX, &h), PROXY_OK);
	ck_assert_str_eq(host(&h.src), "[2001:db8::1]:12345");
	ck_assert_str_eq(host(&h.dst), "[2001:db8::2]:25");
}
END_TEST

START_TEST(v2_partial_waits_then_completes)
{
	unsigned char b[64];
	size_t n = v2(b, 0x21, 0x11, tcp4_body, sizeof tcp4_body);

	for (size_t i = 1; i < n; i++)
		ck_assert_msg(proxy_parse(b, i, PROXY_ACCEPT_ANY, V2_MAX, &h) == PROXY_MORE, "at %zu", i);
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_OK);
	b[5] = 0x0e;	/* signature broken */
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_BAD);
}
END_TEST

START_TEST(v2_version_and_command_nibbles)
{
	unsigned char b[64];

	v2(b, 0x11, 0x11, tcp4_body, sizeof tcp4_body);
	ck_assert_int_eq(proxy_parse(b, 13, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_BAD);
	ck_assert_str_eq(h.why, "v2 version not 2");
	v2(b, 0x22, 0x11, tcp4_body, sizeof tcp4_body);
	ck_assert_int_eq(proxy_parse(b, 28, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_BAD);
	ck_assert_str_eq(h.why, "v2 command not LOCAL or PROXY");
	v2(b, 0x2f, 0x11, tcp4_body, sizeof tcp4_body);
	ck_assert_int_eq(proxy_parse(b, 14, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_BAD);
}
END_TEST

START_TEST(v2_local_and_unspec_keep_real_endpoints)
{
	unsigned char b[64];
	size_t n = v2(b, 0x20, 0x00, tcp4_body, 0);

	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_OK);
	ck_assert_int_eq(h.local, 1);
	ck_assert_uint_eq(h.len, 16);
	/* LOCAL with an address block: skipped, not used */
	n = v2(b, 0x20, 0x11, tcp4_body, sizeof tcp4_body);
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_OK);
	ck_assert_int_eq(h.local, 1);
	ck_assert_uint_eq(h.len, 28);
	/* PROXY over UDP or UNSPEC: falls back to the real endpoints */
	n = v2(b, 0x21, 0x12, tcp4_body, sizeof tcp4_body);
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_OK);
	ck_assert_int_eq(h.local, 1);
	n = v2(b, 0x21, 0x00, tcp4_body, 0);
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_OK);
	ck_assert_int_eq(h.local, 1);
}
END_TEST

START_TEST(v2_families_and_lengths)
{
	unsigned char b[600], big[520];
	size_t n;

	n = v2(b, 0x21, 0x13, tcp4_body, sizeof tcp4_body);
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_BAD);
	ck_assert_str_eq(h.why, "v2 unknown family");
	/* refused at its 14th byte, without waiting for the rest */
	ck_assert_int_eq(proxy_parse(b, 14, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_BAD);
	ck_assert_int_eq(proxy_parse(b, 13, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_MORE);
	n = v2(b, 0x20, 0x41, tcp4_body, 0);
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_BAD);
	n = v2(b, 0x21, 0x11, tcp4_body, 11);	/* too short for TCP4 */
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_BAD);
	ck_assert_str_eq(h.why, "v2 address block shorter than its family");
	n = v2(b, 0x21, 0x21, tcp4_body, 12);	/* too short for TCP6 */
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_BAD);
	memset(big, 0, sizeof big);
	n = v2(b, 0x21, 0x31, big, 215);	/* too short for UNIX */
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_BAD);
	n = v2(b, 0x21, 0x31, big, 216);
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_OK);
	ck_assert_int_eq(h.local, 1);
}
END_TEST

START_TEST(v2_tlvs_skipped_but_bounded)
{
	unsigned char b[600], body[600];
	size_t n;

	memcpy(body, tcp4_body, 12);
	/* NOOP with 3 bytes, then ALPN "smtp" */
	memcpy(body + 12, "\x04\x00\x03xyz\x01\x00\x04smtp", 13);
	n = v2(b, 0x21, 0x11, body, 25);
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_OK);
	ck_assert_uint_eq(h.len, 41);
	ck_assert_str_eq(host(&h.src), "192.0.2.1:56324");
	/* a TLV that runs past the header */
	memcpy(body + 12, "\x04\x00\x09xyz", 6);
	n = v2(b, 0x21, 0x11, body, 18);
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_BAD);
	ck_assert_str_eq(h.why, "v2 TLV past the header");
	n = v2(b, 0x21, 0x11, body, 14);	/* 2 stray bytes */
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_BAD);
	/* the bound: a header of exactly v2_max bytes, then one more */
	memset(body + 12, 0, sizeof body - 12);
	body[12] = 0x04;
	body[13] = (unsigned char)((V2_MAX - 16 - 12 - 3) >> 8);
	body[14] = (unsigned char)(V2_MAX - 16 - 12 - 3);
	n = v2(b, 0x21, 0x11, body, V2_MAX - 16);
	ck_assert_uint_eq(n, V2_MAX);
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_OK);
	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_ANY, V2_MAX - 1, &h), PROXY_BAD);
	ck_assert_str_eq(h.why, "v2 header longer than listen.proxy_v2_max");
	/* refused from the length field alone, before the bytes come */
	ck_assert_int_eq(proxy_parse(b, 16, PROXY_ACCEPT_ANY, V2_MAX - 1, &h), PROXY_BAD);
}
END_TEST

START_TEST(accepted_versions)
{
	unsigned char b[64];
	size_t n = v2(b, 0x21, 0x11, tcp4_body, sizeof tcp4_body);
	const char *l = "PROXY UNKNOWN\r\n";

	ck_assert_int_eq(proxy_parse(b, n, PROXY_ACCEPT_V1, V2_MAX, &h), PROXY_BAD);
	ck_assert_int_eq(proxy_parse(b, 1, PROXY_ACCEPT_V1, V2_MAX, &h), PROXY_BAD);
	ck_assert_int_eq(proxy_parse((const unsigned char *)l, strlen(l), PROXY_ACCEPT_V2, V2_MAX, &h), PROXY_BAD);
	ck_assert_int_eq(proxy_parse((const unsigned char *)l, strlen(l), PROXY_ACCEPT_V1, V2_MAX, &h), PROXY_OK);
	ck_assert_int_eq(proxy_parse(b, 0, PROXY_ACCEPT_ANY, V2_MAX, &h), PROXY_MORE);
}
END_TEST

START_TEST(accept_names)
{
	enum proxy_accept a;

	ck_assert_int_eq(proxy_accept_parse("any", &a), 0);
	ck_assert_int_eq(a, PROXY_ACCEPT_ANY);
	ck_assert_int_eq(proxy_accept_parse("v2", &a), 0);
	ck_assert_int_eq(a, PROXY_ACCEPT_V2);
	ck_assert_int_eq(proxy_accept_parse("v3", &a), -1);
	ck_assert_str_eq(proxy_accept_name(PROXY_ACCEPT_OFF), "off");
}
END_TEST

static int
trusted(const char *list, const char *text)
{
	struct addr a;

	ck_assert_int_eq(addr_parse(text, 25, &a), 0);
	return addr_cidr_list_match(list, (struct sockaddr *)&a.ss);
}

START_TEST(trusted_networks)
{
	const char *list = "127.0.0.0/8, ::1 192.0.2.128/25,2001:db8::/32";

	ck_assert_int_eq(trusted(list, "127.9.9.9"), 1);
	ck_assert_int_eq(trusted(list, "128.0.0.1"), 0);
	ck_assert_int_eq(trusted(list, "192.0.2.128"), 1);
	ck_assert_int_eq(trusted(list, "192.0.2.127"), 0);
	ck_assert_int_eq(trusted(list, "[::1]:25"), 1);
	ck_assert_int_eq(trusted(list, "[::2]:25"), 0);
	ck_assert_int_eq(trusted(list, "[2001:db8:ffff::1]:25"), 1);
	ck_assert_int_eq(trusted(list, "[2001:db9::1]:25"), 0);
	ck_assert_int_eq(trusted(list, "[::ffff:127.0.0.1]:25"), 1);	/* mapped counts as IPv4 */
	ck_assert_int_eq(trusted("0.0.0.0/0", "203.0.113.1"), 1);
	ck_assert_int_eq(trusted("0.0.0.0/0", "[2001:db8::1]:25"), 0);
	ck_assert_int_eq(trusted("", "127.0.0.1"), 0);
	ck_assert_int_eq(trusted("10.0.0.0/33", "10.0.0.1"), -1);
	ck_assert_int_eq(trusted("127.0.0.1, bogus", "127.0.0.1"), -1);
	ck_assert_int_eq(trusted("::/129", "[::1]:25"), -1);
	ck_assert_int_eq(trusted("10.0.0.0/", "10.0.0.1"), -1);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("proxy_parse");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, v1_good);
	tcase_add_test(tc, v1_unknown_keeps_real_endpoints);
	tcase_add_test(tc, v1_partial_waits);
	tcase_add_test(tc, v1_line_ends);
	tcase_add_test(tc, v1_length_at_the_limit);
	tcase_add_test(tc, v1_exact_fields);
	tcase_add_test(tc, v2_tcp4_and_tcp6);
	tcase_add_test(tc, v2_partial_waits_then_completes);
	tcase_add_test(tc, v2_version_and_command_nibbles);
	tcase_add_test(tc, v2_local_and_unspec_keep_real_endpoints);
	tcase_add_test(tc, v2_families_and_lengths);
	tcase_add_test(tc, v2_tlvs_skipped_but_bounded);
	tcase_add_test(tc, accepted_versions);
	tcase_add_test(tc, accept_names);
	tcase_add_test(tc, trusted_networks);
	suite_add_tcase(s, tc);
	return s;
}
