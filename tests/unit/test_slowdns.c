/* Unit tests for the pure parts of slowdns: reverse names, synthesized
 * names, zone lines, answers and the seeded fault choice. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_main.h"
#include "../../tools/slowdns/dnsanswer.h"
#include "../../tools/slowdns/dnscounts.h"
#include "../../tools/slowdns/labname.h"
#include "../../tools/slowdns/faults.h"
#include "../../tools/slowdns/zone.h"

static struct dns_addr
addr_of(const char *text)
{
	struct dns_addr a;

	ck_assert_int_eq(dns_addr_parse(text, &a), 0);
	return a;
}

static void
assert_addr(const struct dns_addr *a, const char *text)
{
	char buf[64];

	dns_addr_format(a, buf, sizeof buf);
	ck_assert_str_eq(buf, text);
}

/* ---- reverse names ------------------------------------------------------ */

START_TEST(reverse_v4)
{
	struct dns_addr a;

	ck_assert_int_eq(dnsname_parse_reverse("1.0.0.127.in-addr.arpa", &a), 0);
	ck_assert_int_eq(a.family, AF_INET);
	assert_addr(&a, "127.0.0.1");
	ck_assert_int_eq(dnsname_parse_reverse("4.3.2.1.IN-ADDR.ARPA.", &a), 0);
	assert_addr(&a, "1.2.3.4");
	ck_assert_int_eq(dnsname_parse_reverse("255.255.255.255.in-addr.arpa", &a), 0);
	assert_addr(&a, "255.255.255.255");
}
END_TEST

START_TEST(reverse_v6)
{
	struct dns_addr a;
	const char *one = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa";
	const char *doc = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6.arpa";

	ck_assert_int_eq(dnsname_parse_reverse(one, &a), 0);
	ck_assert_int_eq(a.family, AF_INET6);
	assert_addr(&a, "::1");
	ck_assert_int_eq(dnsname_parse_reverse(doc, &a), 0);
	assert_addr(&a, "2001:db8::1");
}
END_TEST

START_TEST(reverse_bad)
{
	static const char *bad[] = {
		"", ".", "in-addr.arpa", ".in-addr.arpa", "0.127.in-addr.arpa",
		"1.0.0.0.127.in-addr.arpa", "256.0.0.127.in-addr.arpa",
		"01.0.0.127.in-addr.arpa", "1..0.127.in-addr.arpa",
		"a.0.0.127.in-addr.arpa", "1.0.0.127.in-addr.arpa.com",
		"1.0.0.127", "-1.0.0.127.in-addr.arpa", "1.0.0.127in-addr.arpa",
		"1.0.ip6.arpa",
		"10.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
		"g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
		"host-127-0-0-1.lab.test",
	};
	struct dns_addr a;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(dnsname_parse_reverse(bad[i], &a) == -1, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(reverse_round_trip)
{
	static const char *addrs[] = {
		"127.0.0.1", "0.0.0.0", "10.20.30.40", "::1", "::", "2001:db8::1",
		"fe80::1:2:3:4", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	};
	char name[DNSNAME_BUF];
	struct dns_addr a, b;

	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		a = addr_of(addrs[i]);
		ck_assert_int_eq(dnsname_format_reverse(&a, name, sizeof name), 0);
		ck_assert_int_eq(dnsname_parse_reverse(name, &b), 0);
		ck_assert_msg(dns_addr_equal(&a, &b), "round trip of %s via %s", addrs[i], name);
	}
	a = addr_of("::1");
	ck_assert_int_eq(dnsname_format_reverse(&a, name, 20), -1);
}
END_TEST

/* ---- synthesized names -------------------------------------------------- */

START_TEST(synth_names)
{
	char name[DNSNAME_BUF];
	struct dns_addr a;

	a = addr_of("127.0.0.1");
	ck_assert_int_eq(dnsname_synthesize(&a, name, sizeof name), 0);
	ck_assert_str_eq(name, "host-127-0-0-1.lab.test");
	a = addr_of("::1");
	ck_assert_int_eq(dnsname_synthesize(&a, name, sizeof name), 0);
	ck_assert_str_eq(name, "host-0-0-0-0-0-0-0-1.lab.test");
	a = addr_of("2001:db8::abcd");
	ck_assert_int_eq(dnsname_synthesize(&a, name, sizeof name), 0);
	ck_assert_str_eq(name, "host-2001-db8-0-0-0-0-0-abcd.lab.test");
	ck_assert_int_eq(dnsname_synthesize(&a, name, 10), -1);
}
END_TEST

START_TEST(synth_reverse)
{
	static const char *addrs[] = {
		"127.0.0.1", "0.0.0.0", "192.0.2.255", "::1", "::",
		"2001:db8::abcd", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	};
	char name[DNSNAME_BUF];
	struct dns_addr a, b;

	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		a = addr_of(addrs[i]);
		ck_assert_int_eq(dnsname_synthesize(&a, name, sizeof name), 0);
		ck_assert_int_eq(dnsname_parse_synthesized(name, &b), 0);
		ck_assert_msg(dns_addr_equal(&a, &b), "round trip of %s via %s", addrs[i], name);
	}
	ck_assert_int_eq(dnsname_parse_synthesized("HOST-127-0-0-1.LAB.TEST.", &b), 0);
	assert_addr(&b, "127.0.0.1");
	ck_assert_int_eq(dnsname_parse_synthesized("host-2001-DB8-0-0-0-0-0-1.lab.test", &b), 0);
	assert_addr(&b, "2001:db8::1");
}
END_TEST

START_TEST(synth_bad)
{
	static const char *bad[] = {
		"", "lab.test", "host-.lab.test", "host-127-0-0.lab.test",
		"host-127-0-0-1-2.lab.test", "host-127-0-0-01.lab.test",
		"host-256-0-0-1.lab.test", "host-127-0-0-1.lab.test.org",
		"host-127-0-0-1.other.test", "h-127-0-0-1.lab.test",
		"host-127--0-1.lab.test", "host-0-0-0-0-0-0-0-10000.lab.test",
		"host-0-0-0-0-0-0-0-01.lab.test", "host-0-0-0-0-0-0-1.lab.test",
		"host-0-0-0-0-0-0-0-g.lab.test", "host-127-0-0-1lab.test",
		"mail.lab.test",
	};
	struct dns_addr a;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(dnsname_parse_synthesized(bad[i], &a) == -1, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(host_validation)
{
	char label63[64], label64[65], name253[254], name254[255];

	memset(label63, 'a', 63);
	label63[63] = '\0';
	memset(label64, 'a', 64);
	label64[64] = '\0';
	/* 4 labels of 63 + 3 dots = 255; build 253 and 254 by trimming. */
	snprintf(name254, sizeof name254, "%.63s.%.63s.%.63s.%.62s", label63, label63, label63, label63);
	ck_assert_uint_eq(strlen(name254), 254);
	snprintf(name253, sizeof name253, "%.63s.%.63s.%.63s.%.61s", label63, label63, label63, label63);
	ck_assert_uint_eq(strlen(name253), 253);

	ck_assert_int_eq(dnsname_valid_host("mail.lab.test"), 1);
	ck_assert_int_eq(dnsname_valid_host("mail.lab.test."), 1);
	ck_assert_int_eq(dnsname_valid_host("a-b.c9"), 1);
	ck_assert_int_eq(dnsname_valid_host("localhost"), 1);
	ck_assert_int_eq(dnsname_valid_host(label63), 1);
	ck_assert_int_eq(dnsname_valid_host(label64), 0);
	ck_assert_int_eq(dnsname_valid_host(name253), 1);
	ck_assert_int_eq(dnsname_valid_host(name254), 0);
	ck_assert_int_eq(dnsname_valid_host(""), 0);
	ck_assert_int_eq(dnsname_valid_host("."), 0);
	ck_assert_int_eq(dnsname_valid_host("a..b"), 0);
	ck_assert_int_eq(dnsname_valid_host(".a"), 0);
	ck_assert_int_eq(dnsname_valid_host("-a.b"), 0);
	ck_assert_int_eq(dnsname_valid_host("a-.b"), 0);
	ck_assert_int_eq(dnsname_valid_host("a_b.c"), 0);
	ck_assert_int_eq(dnsname_valid_host("a b"), 0);
	ck_assert_int_eq(dnsname_valid_host("a.b.."), 0);
}
END_TEST

START_TEST(sanitize)
{
	char buf[16];

	dnsname_sanitize("a b=c\n\x80z", buf, sizeof buf);
	ck_assert_str_eq(buf, "a?b?c??z");
	dnsname_sanitize("abcdefghijkl", buf, 5);
	ck_assert_str_eq(buf, "abcd");
}
END_TEST

/* ---- zone lines ----------------------------------------------------------- */

START_TEST(zone_lines)
{
	struct zone_entry e;
	const char *why = NULL;

	ck_assert_int_eq(zone_parse_line("127.0.0.1 Mail.Lab.Test.\n", &e, &why), ZONE_LINE_ENTRY);
	assert_addr(&e.addr, "127.0.0.1");
	ck_assert_str_eq(e.name, "mail.lab.test");
	ck_assert_int_eq(zone_parse_line("  ::1\tsix.lab.test   # comment\n", &e, &why), ZONE_LINE_ENTRY);
	assert_addr(&e.addr, "::1");
	ck_assert_str_eq(e.name, "six.lab.test");
	ck_assert_int_eq(zone_parse_line("10.0.0.1 x#trailing", &e, &why), ZONE_LINE_ENTRY);
	ck_assert_str_eq(e.name, "x");
	ck_assert_int_eq(zone_parse_line("", &e, &why), ZONE_LINE_EMPTY);
	ck_assert_int_eq(zone_parse_line("   \n", &e, &why), ZONE_LINE_EMPTY);
	ck_assert_int_eq(zone_parse_line("# 127.0.0.1 x\n", &e, &why), ZONE_LINE_EMPTY);
	ck_assert_int_eq(zone_parse_line("\r\n", &e, &why), ZONE_LINE_EMPTY);
}
END_TEST

START_TEST(zone_lines_bad)
{
	static const char *bad[] = {
		"127.0.0.1\n", "127.0.0.1 # no name\n", "mail.lab.test 127.0.0.1\n",
		"127.0.0.256 x\n", "127.0.0.1 bad_name\n", "127.0.0.1 a..b\n",
		"127.0.0.1 x y\n", "127.0.0.1 -x\n", "localhost x\n",
		"127.0.0.1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b\n",
	};
	struct zone_entry e;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *why = NULL;

		ck_assert_msg(zone_parse_line(bad[i], &e, &why) == ZONE_LINE_ERROR, "accepted '%s'", bad[i]);
		ck_assert_ptr_nonnull(why);
	}
}
END_TEST

static char *
write_temp(const char *text)
{
	static char path[] = "/tmp/test_slowdns_zoneXXXXXX";
	int fd;

	strcpy(path, "/tmp/test_slowdns_zoneXXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	return path;
}

START_TEST(zone_file)
{
	struct zone z = { 0 };
	char err[256] = "";
	char *path = write_temp("# lab zone\n127.0.0.1 mail.lab.test\n\n::1 mail.lab.test\n"
	    "127.0.0.1 alias.lab.test\n");

	ck_assert_int_eq(zone_load(&z, path, err, sizeof err), 0);
	unlink(path);
	ck_assert_uint_eq(z.n, 3);
	struct dns_addr lo = addr_of("127.0.0.1");
	ck_assert_str_eq(zone_by_addr(&z, &lo, 0)->name, "mail.lab.test");
	ck_assert_str_eq(zone_by_addr(&z, &lo, 1)->name, "alias.lab.test");
	ck_assert_ptr_null(zone_by_addr(&z, &lo, 2));
	ck_assert_ptr_nonnull(zone_by_name(&z, "MAIL.lab.test.", 1));
	ck_assert_ptr_null(zone_by_name(&z, "mail.lab.test", 2));
	zone_free(&z);

	path = write_temp("127.0.0.1 ok.lab.test\n127.0.0.1 bad_name\n");
	ck_assert_int_eq(zone_load(&z, path, err, sizeof err), -1);
	unlink(path);
	ck_assert_msg(strstr(err, ":2: ") != NULL, "error names the line: %s", err);
	ck_assert_uint_eq(z.n, 0);
	ck_assert_int_eq(zone_load(&z, "/nonexistent/zone", err, sizeof err), -1);
}
END_TEST

/* ---- answers ----------------------------------------------------------------- */

START_TEST(answers)
{
	struct zone z = { 0 };
	struct zone_entry e;
	struct dnsanswer a;
	const char *why;
	char buf[512];

	ck_assert_int_eq(zone_parse_line("10.0.0.5 mail.lab.test", &e, &why), ZONE_LINE_ENTRY);
	zone_add(&z, &e);

	dnsanswer_build(&z, "1.0.0.127.in-addr.arpa", QTYPE_PTR, QCLASS_IN, 0, &a);
	ck_assert_int_eq(a.rcode, RCODE_NOERROR);
	ck_assert_uint_eq(a.n, 1);
	ck_assert_str_eq(a.rr[0].host, "host-127-0-0-1.lab.test");

	dnsanswer_build(&z, "5.0.0.10.in-addr.arpa", QTYPE_PTR, QCLASS_IN, 0, &a);
	ck_assert_uint_eq(a.n, 1);
	ck_assert_str_eq(a.rr[0].host, "mail.lab.test");

	dnsanswer_build(&z, "mail.lab.test", QTYPE_A, QCLASS_IN, 0, &a);
	dnsanswer_format(&a, buf, sizeof buf);
	ck_assert_str_eq(buf, "10.0.0.5");
	dnsanswer_build(&z, "mail.lab.test", QTYPE_AAAA, QCLASS_IN, 0, &a);
	ck_assert_int_eq(a.rcode, RCODE_NOERROR);
	ck_assert_uint_eq(a.n, 0);
	dnsanswer_format(&a, buf, sizeof buf);
	ck_assert_str_eq(buf, "-");

	dnsanswer_build(&z, "host-0-0-0-0-0-0-0-1.lab.test", QTYPE_AAAA, QCLASS_IN, 0, &a);
	dnsanswer_format(&a, buf, sizeof buf);
	ck_assert_str_eq(buf, "::1");
	dnsanswer_build(&z, "host-127-0-0-1.lab.test", QTYPE_A, QCLASS_IN, 1, &a);
	dnsanswer_format(&a, buf, sizeof buf);
	ck_assert_str_eq(buf, DNSANSWER_MISMATCH_V4);
	dnsanswer_build(&z, "host-0-0-0-0-0-0-0-1.lab.test", QTYPE_AAAA, QCLASS_IN, 1, &a);
	dnsanswer_format(&a, buf, sizeof buf);
	ck_assert_str_eq(buf, DNSANSWER_MISMATCH_V6);

	dnsanswer_build(&z, "unknown.lab.test", QTYPE_A, QCLASS_IN, 0, &a);
	ck_assert_int_eq(a.rcode, RCODE_NXDOMAIN);
	dnsanswer_build(&z, "0.127.in-addr.arpa", QTYPE_PTR, QCLASS_IN, 0, &a);
	ck_assert_int_eq(a.rcode, RCODE_NXDOMAIN);
	dnsanswer_build(&z, "mail.lab.test", 15, QCLASS_IN, 0, &a);
	ck_assert_int_eq(a.rcode, RCODE_NOERROR);
	ck_assert_uint_eq(a.n, 0);
	dnsanswer_build(&z, "unknown.lab.test", 15, QCLASS_IN, 0, &a);
	ck_assert_int_eq(a.rcode, RCODE_NXDOMAIN);
	dnsanswer_build(&z, "mail.lab.test", QTYPE_A, 3, 0, &a);
	ck_assert_int_eq(a.rcode, RCODE_NOTIMP);
	zone_free(&z);
}
END_TEST

START_TEST(names_for_log)
{
	char buf[16];

	ck_assert_str_eq(dnsanswer_type_name(QTYPE_PTR, buf, sizeof buf), "PTR");
	ck_assert_str_eq(dnsanswer_type_name(15, buf, sizeof buf), "TYPE15");
	ck_assert_str_eq(dnsanswer_rcode_name(RCODE_SERVFAIL, buf, sizeof buf), "SERVFAIL");
	ck_assert_str_eq(dnsanswer_rcode_name(9, buf, sizeof buf), "RCODE9");
}
END_TEST

/* ---- faults ------------------------------------------------------------------ */

START_TEST(faults_table)
{
	ck_assert_uint_eq(faults_flag_by_name("drop"), FAULT_DROP);
	ck_assert_uint_eq(faults_flag_by_name("mismatch"), FAULT_MISMATCH);
	ck_assert_uint_eq(faults_flag_by_name("nope"), 0);
	ck_assert_str_eq(faults_flag_name(0), "drop");
	ck_assert_ptr_null(faults_flag_name(6));
}
END_TEST

START_TEST(faults_all_without_rate)
{
	struct fault_config c;
	struct rng r;
	struct fault_choice f;
	char buf[64];

	faults_config_init(&c);
	rng_seed(&r, 7);
	faults_pick(&c, &r, &f);
	ck_assert_int_eq(f.faulted, 0);
	faults_describe(&f, buf, sizeof buf);
	ck_assert_str_eq(buf, "none");

	c.flags = FAULT_SERVFAIL | FAULT_TRUNCATE;
	c.delay_us = 300000;
	for (int i = 0; i < 100; i++) {
		faults_pick(&c, &r, &f);
		ck_assert_int_eq(f.faulted, 1);
		ck_assert_int_eq(f.outcome, OUTCOME_SERVFAIL);
		ck_assert_int_eq(f.truncate, 1);
		ck_assert_int_eq(f.mismatch, 0);
		ck_assert_uint_eq(f.delay_us, 300000);
	}
	faults_describe(&f, buf, sizeof buf);
	ck_assert_str_eq(buf, "servfail+truncate");
	faults_describe_config(&c, buf, sizeof buf);
	ck_assert_str_eq(buf, "servfail+truncate");
}
END_TEST

START_TEST(faults_jitter_bounds)
{
	struct fault_config c;
	struct rng r;
	struct fault_choice f;
	uint64_t lo = UINT64_MAX, hi = 0;

	faults_config_init(&c);
	c.delay_us = 1000;
	c.jitter_us = 500;
	rng_seed(&r, 1);
	for (int i = 0; i < 2000; i++) {
		faults_pick(&c, &r, &f);
		lo = f.delay_us < lo ? f.delay_us : lo;
		hi = f.delay_us > hi ? f.delay_us : hi;
	}
	ck_assert_uint_ge(lo, 1000);
	ck_assert_uint_le(hi, 1500);
	ck_assert_uint_lt(lo, 1050);	/* spread over the whole range */
	ck_assert_uint_gt(hi, 1450);
}
END_TEST

/* Counts the faulted queries of n picks with a seed; fills seq with the
 * outcomes so two runs can be compared. */
static int
run_rate(uint64_t seed, double rate, unsigned flags, int n, int *seq)
{
	struct fault_config c;
	struct rng r;
	struct fault_choice f;
	int faulted = 0;

	faults_config_init(&c);
	c.flags = flags;
	c.rate = rate;
	rng_seed(&r, seed);
	for (int i = 0; i < n; i++) {
		faults_pick(&c, &r, &f);
		faulted += f.faulted;
		seq[i] = f.faulted ? (int)f.outcome + 1 : 0;
	}
	return faulted;
}

START_TEST(faults_rate_seeded)
{
	enum { N = 10000 };
	static int a[N], b[N], c[N];
	int fa = run_rate(42, 0.3, FAULT_SERVFAIL | FAULT_NXDOMAIN, N, a);
	int fb = run_rate(42, 0.3, FAULT_SERVFAIL | FAULT_NXDOMAIN, N, b);
	int sf = 0, nx = 0, other = 0;

	ck_assert_int_eq(fa, fb);
	ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
	ck_assert_int_gt(fa, N * 27 / 100);
	ck_assert_int_lt(fa, N * 33 / 100);
	for (int i = 0; i < N; i++) {
		sf += a[i] == OUTCOME_SERVFAIL + 1;
		nx += a[i] == OUTCOME_NXDOMAIN + 1;
		other += a[i] != 0 && a[i] != OUTCOME_SERVFAIL + 1 && a[i] != OUTCOME_NXDOMAIN + 1;
	}
	ck_assert_int_eq(other, 0);
	ck_assert_int_gt(sf, fa * 2 / 5);	/* both outcomes, roughly half each */
	ck_assert_int_gt(nx, fa * 2 / 5);

	run_rate(43, 0.3, FAULT_SERVFAIL | FAULT_NXDOMAIN, N, c);
	ck_assert_int_ne(memcmp(a, c, sizeof a), 0);
	ck_assert_int_eq(run_rate(1, 0.0, FAULT_DROP, N, c), 0);
	ck_assert_int_eq(run_rate(1, 1.0, FAULT_DROP, N, c), N);
}
END_TEST

/* ---- counts -------------------------------------------------------------------- */

START_TEST(counts_line)
{
	struct dnscounts c = { 0 };
	char buf[512];

	dnscounts_query(&c, QTYPE_PTR);
	dnscounts_query(&c, QTYPE_A);
	dnscounts_query(&c, QTYPE_AAAA);
	dnscounts_query(&c, 15);
	dnscounts_reply(&c, RCODE_NOERROR, 1, 0);
	dnscounts_reply(&c, RCODE_SERVFAIL, 0, 0);
	dnscounts_reply(&c, RCODE_NOERROR, 0, 1);
	c.dropped++;
	dnscounts_format(&c, 3, buf, sizeof buf);
	ck_assert_msg(strncmp(buf, "queries=4 ptr=1 a=1 aaaa=1 other=1 answered=2 dropped=1 servfail=1 ", 67) == 0, "%s", buf);
	ck_assert_ptr_nonnull(strstr(buf, " truncated=1 mismatch=1 "));
	ck_assert_ptr_nonnull(strstr(buf, " pending=3"));
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("slowdns");
	TCase *names = tcase_create("names");
	TCase *zone = tcase_create("zone");
	TCase *answer = tcase_create("answer");
	TCase *faults = tcase_create("faults");

	tcase_add_test(names, reverse_v4);
	tcase_add_test(names, reverse_v6);
	tcase_add_test(names, reverse_bad);
	tcase_add_test(names, reverse_round_trip);
	tcase_add_test(names, synth_names);
	tcase_add_test(names, synth_reverse);
	tcase_add_test(names, synth_bad);
	tcase_add_test(names, host_validation);
	tcase_add_test(names, sanitize);
	tcase_add_test(zone, zone_lines);
	tcase_add_test(zone, zone_lines_bad);
	tcase_add_test(zone, zone_file);
	tcase_add_test(answer, answers);
	tcase_add_test(answer, names_for_log);
	tcase_add_test(answer, counts_line);
	tcase_add_test(faults, faults_table);
	tcase_add_test(faults, faults_all_without_rate);
	tcase_add_test(faults, faults_jitter_bounds);
	tcase_add_test(faults, faults_rate_seeded);
	suite_add_tcase(s, names);
	suite_add_tcase(s, zone);
	suite_add_tcase(s, answer);
	suite_add_tcase(s, faults);
	return s;
}
