/* The reverse-DNS stage's pure parts: PTR query names, name validation
 * (what a hostile PTR answer must not get through), the worst-case
 * arithmetic of the c-ares retry schedule. */
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "addr.h"
#include "dnsname.h"
#include "rdns.h"
#include "rdns_rcode.h"

START_TEST(ptr_query_names)
{
	struct addr a;
	char buf[128];

	ck_assert_int_eq(addr_parse("127.0.0.1", 0, &a), 0);
	ck_assert_int_eq(dnsname_ptr_query((struct sockaddr *)&a.ss, buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "1.0.0.127.in-addr.arpa");
	ck_assert_int_eq(addr_parse("192.0.2.10", 0, &a), 0);
	dnsname_ptr_query((struct sockaddr *)&a.ss, buf, sizeof buf);
	ck_assert_str_eq(buf, "10.2.0.192.in-addr.arpa");
	ck_assert_int_eq(addr_parse("::1", 0, &a), 0);
	ck_assert_int_eq(dnsname_ptr_query((struct sockaddr *)&a.ss, buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa");
	ck_assert_int_eq(addr_parse("2001:db8::ab", 0, &a), 0);
	dnsname_ptr_query((struct sockaddr *)&a.ss, buf, sizeof buf);
	ck_assert_str_eq(buf, "b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	ck_assert_int_eq(dnsname_ptr_query((struct sockaddr *)&a.ss, buf, 20), -1);
}
END_TEST

START_TEST(v4_mapped_is_unmapped)
{
	struct addr a;
	char buf[64];

	ck_assert_int_eq(addr_parse("[::ffff:10.1.2.3]:25", 0, &a), 0);
	addr_unmap_v4(&a);
	ck_assert_int_eq(a.ss.ss_family, AF_INET);
	addr_format((struct sockaddr *)&a.ss, buf, sizeof buf);
	ck_assert_str_eq(buf, "10.1.2.3:25");
}
END_TEST

START_TEST(valid_names)
{
	static const char *good[] = {
		"host-127-0-0-1.lab.test", "mx.example.com.", "a", "_dmarc.example.org",
		"1host.example", "xn--bcher-kva.example",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ck_assert_msg(dnsname_valid(good[i]), "%s", good[i]);
}
END_TEST

START_TEST(hostile_names)
{
	static const char *bad[] = {
		"", ".", "a..b", ".a", "-a.example", "a-.example", "1.2.3.4", "127.0.0.1.",
		"with space.example", "new\nline.example", "semi;colon.example",
		"back\\slash.example", "quote\".example", "\x80high.example",
	};
	char longlabel[80], longname[300];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!dnsname_valid(bad[i]), "%s", bad[i]);
	memset(longlabel, 'a', 64);
	longlabel[64] = '\0';
	ck_assert(!dnsname_valid(longlabel));
	longlabel[63] = '\0';
	ck_assert(dnsname_valid(longlabel));
	/* 253 octets is the longest name; 254 is not */
	for (int i = 0; i < 253; i++)
		longname[i] = (i % 2) ? '.' : 'a';
	longname[253] = '\0';
	ck_assert(dnsname_valid(longname));
	longname[253] = 'b';
	longname[254] = '\0';
	ck_assert(!dnsname_valid(longname));
}
END_TEST

/* The two policies of common/dnsname.h differ on exactly two points. */
START_TEST(ptr_answer_and_zone_host_policies)
{
	ck_assert_int_eq(dnsname_valid("_dmarc.example.org"), 1);
	ck_assert_int_eq(dnsname_valid_host("_dmarc.example.org"), 0);
	ck_assert_int_eq(dnsname_valid("1.2.3.4"), 0);
	ck_assert_int_eq(dnsname_valid_host("1.2.3.4"), 1);
	ck_assert_int_eq(dnsname_valid("mx-1.lab.test."), 1);
	ck_assert_int_eq(dnsname_valid_host("mx-1.lab.test."), 1);
	ck_assert_int_eq(dnsname_valid("1.2.3.4a"), 1);
	ck_assert_int_eq(dnsname_valid_host("a-.b"), 0);
	ck_assert_int_eq(dnsname_valid("a-.b"), 0);
}
END_TEST

START_TEST(worst_case_schedule)
{
	/* NT 4.0 SP4: 1 s, doubling, four tries: 1+2+4+8 = 15 s */
	ck_assert_uint_eq(rdns_worst_case_us(1, 1000000, 4), 15000000);
	ck_assert_uint_eq(rdns_worst_case_us(1, 200000, 3), 1400000);
	ck_assert_uint_eq(rdns_worst_case_us(1, 1000000, 2), 3000000);
	/* c-ares's own defaults would be 5 s x 4 tries = 75 s */
	ck_assert_uint_eq(rdns_worst_case_us(1, 5000000, 4), 75000000);
	/* each round goes over every server */
	ck_assert_uint_eq(rdns_worst_case_us(2, 1000000, 2), 6000000);
	ck_assert_uint_eq(rdns_worst_case_us(0, 1000000, 1), 1000000);
	ck_assert_uint_eq(rdns_server_count(""), 0);
	ck_assert_uint_eq(rdns_server_count("127.0.0.1:5353"), 1);
	ck_assert_uint_eq(rdns_server_count("127.0.0.1:5353, [::1]:5353"), 2);
	ck_assert_str_eq(rdns_result_name(RDNS_UNCONFIRMED), "unconfirmed");
}
END_TEST

/* A response header (id 0x1234, QR set, rcode), one question. */
static size_t
response(unsigned char *p, int rcode, const char *labels, size_t llen)
{
	static const unsigned char hdr[12] = { 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0 };

	memcpy(p, hdr, 12);
	p[3] = (unsigned char)(0x80 | rcode);
	memcpy(p + 12, labels, llen);
	memcpy(p + 12 + llen, "\0\0\x0c\0\x01", 5);
	return 12 + llen + 5;
}

START_TEST(rcode_witness)
{
	static const char q[] = "\0011\0010\0010\003127\007in-addr\004arpa";
	struct rdns_rcode_witness w;
	unsigned char pkt[128];
	char name[256];
	int rcode;
	size_t n = response(pkt, 2, q, sizeof q - 1);

	ck_assert_int_eq(rdns_rcode_parse(pkt, n, name, sizeof name, &rcode), 0);
	ck_assert_str_eq(name, "1.0.0.127.in-addr.arpa");
	ck_assert_int_eq(rcode, 2);
	ck_assert_int_eq(rdns_rcode_parse(pkt, 11, name, sizeof name, &rcode), -1);
	ck_assert_int_eq(rdns_rcode_parse(pkt, 20, name, sizeof name, &rcode), -1);	/* cut in a label */
	ck_assert_int_eq(rdns_rcode_parse(pkt, n, name, 8, &rcode), -1);
	pkt[2] = 0x01;	/* a query, not a response */
	ck_assert_int_eq(rdns_rcode_parse(pkt, n, name, sizeof name, &rcode), -1);
	pkt[2] = 0x81;
	pkt[12] = 0xc0;	/* a compression pointer in the question */
	ck_assert_int_eq(rdns_rcode_parse(pkt, n, name, sizeof name, &rcode), -1);

	memset(&w, 0, sizeof w);
	n = response(pkt, 5, q, sizeof q - 1);
	rdns_rcode_note(&w, pkt, n, 100);
	n = response(pkt, 2, q, sizeof q - 1);
	rdns_rcode_note(&w, pkt, n, 200);
	n = response(pkt, 3, q, sizeof q - 1);	/* NXDOMAIN is kept by c-ares: not noted */
	rdns_rcode_note(&w, pkt, n, 300);
	ck_assert_int_eq(rdns_rcode_last(&w, "1.0.0.127.IN-ADDR.arpa", 50), 2);	/* the last server's */
	ck_assert_int_eq(rdns_rcode_last(&w, "1.0.0.127.in-addr.arpa", 201), 0);	/* older than the lookup */
	ck_assert_int_eq(rdns_rcode_last(&w, "2.0.0.127.in-addr.arpa", 0), 0);
	for (int i = 0; i < RDNS_RCODE_SLOTS + 3; i++)	/* the ring wraps */
		rdns_rcode_note(&w, pkt, response(pkt, 5, q, sizeof q - 1), 400 + (uint64_t)i);
	ck_assert_int_eq(rdns_rcode_last(&w, "1.0.0.127.in-addr.arpa", 0), 5);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("dnsname");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, ptr_query_names);
	tcase_add_test(tc, v4_mapped_is_unmapped);
	tcase_add_test(tc, valid_names);
	tcase_add_test(tc, hostile_names);
	tcase_add_test(tc, ptr_answer_and_zone_host_policies);
	tcase_add_test(tc, worst_case_schedule);
	tcase_add_test(tc, rcode_witness);
	suite_add_tcase(s, tc);
	return s;
}
