/* Unit tests of daemon/anvil.c: per-client session and rate counts,
 * prefixes, the rate window, and the bounded table (eviction, the
 * uncounted client, a rebuild that keeps every count). */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "anvil.h"
#include "check_main.h"

#define MIN_US (60ULL * 1000 * 1000)

/* An address from text, in one of a ring of buffers, so that a test may
 * hold a few at once. */
static const struct sockaddr *
SA(const char *text)
{
	static struct sockaddr_storage ring[8];
	static unsigned next;
	struct sockaddr_storage *ss = &ring[next++ % 8];

	memset(ss, 0, sizeof *ss);
	if (strchr(text, ':') != NULL) {
		ss->ss_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)ss)->sin6_addr), 1);
	} else {
		ss->ss_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, text, &((struct sockaddr_in *)ss)->sin_addr), 1);
	}
	return (const struct sockaddr *)ss;
}

static struct anvil *
make(size_t limit, uint64_t max_sessions, uint64_t max_rate, unsigned v4, unsigned v6)
{
	struct anvil_limits lim = { max_sessions, max_rate, MIN_US, v4, v6 };
	struct anvil *a = anvil_new(limit, &lim, 42);

	ck_assert_ptr_nonnull(a);
	return a;
}

START_TEST(sessions_at_the_limit)
{
	struct anvil *a = make(64, 2, 0, 32, 128);

	ck_assert_int_eq(anvil_connect(a, SA("192.0.2.1"), 0), ANVIL_OK);
	ck_assert_int_eq(anvil_connect(a, SA("192.0.2.1"), 1), ANVIL_OK);
	ck_assert_int_eq(anvil_connect(a, SA("192.0.2.1"), 2), ANVIL_TOO_MANY_SESSIONS);
	ck_assert_int_eq(anvil_connect(a, SA("192.0.2.2"), 3), ANVIL_OK);
	ck_assert_uint_eq(anvil_sessions(a, SA("192.0.2.1")), 2);
	anvil_disconnect(a, SA("192.0.2.1"));
	ck_assert_int_eq(anvil_connect(a, SA("192.0.2.1"), 4), ANVIL_OK);
	anvil_free(a);
}
END_TEST

START_TEST(no_limit_forgets_closed_clients)
{
	struct anvil *a = make(64, 0, 0, 32, 128);

	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(anvil_connect(a, SA("192.0.2.1"), (uint64_t)i), ANVIL_OK);
	ck_assert_uint_eq(anvil_sessions(a, SA("192.0.2.1")), 1000);
	for (int i = 0; i < 1000; i++)
		anvil_disconnect(a, SA("192.0.2.1"));
	ck_assert_uint_eq(anvil_clients(a), 0);
	anvil_disconnect(a, SA("192.0.2.1"));	/* never below zero */
	ck_assert_uint_eq(anvil_sessions(a, SA("192.0.2.1")), 0);
	anvil_free(a);
}
END_TEST

START_TEST(rate_at_the_limit_and_the_next_window)
{
	struct anvil *a = make(64, 0, 3, 32, 128);

	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(anvil_connect(a, SA("2001:db8::1"), (uint64_t)i), ANVIL_OK);
		anvil_disconnect(a, SA("2001:db8::1"));
	}
	ck_assert_int_eq(anvil_connect(a, SA("2001:db8::1"), 10), ANVIL_TOO_FAST);
	ck_assert_int_eq(anvil_connect(a, SA("2001:db8::2"), 10), ANVIL_OK);
	/* The refused attempt counted: still over just before the minute. */
	ck_assert_int_eq(anvil_connect(a, SA("2001:db8::1"), MIN_US - 1), ANVIL_TOO_FAST);
	ck_assert_int_eq(anvil_connect(a, SA("2001:db8::1"), MIN_US), ANVIL_OK);
	anvil_free(a);
}
END_TEST

START_TEST(prefixes_group_clients)
{
	struct anvil *a = make(64, 2, 0, 24, 64);

	ck_assert_int_eq(anvil_connect(a, SA("198.51.100.1"), 0), ANVIL_OK);
	ck_assert_int_eq(anvil_connect(a, SA("198.51.100.254"), 0), ANVIL_OK);
	ck_assert_int_eq(anvil_connect(a, SA("198.51.100.7"), 0), ANVIL_TOO_MANY_SESSIONS);
	ck_assert_int_eq(anvil_connect(a, SA("198.51.101.7"), 0), ANVIL_OK);
	ck_assert_int_eq(anvil_connect(a, SA("2001:db8:0:1::1"), 0), ANVIL_OK);
	ck_assert_int_eq(anvil_connect(a, SA("2001:db8:0:1:ffff::9"), 0), ANVIL_OK);
	ck_assert_int_eq(anvil_connect(a, SA("2001:db8:0:1::2"), 0), ANVIL_TOO_MANY_SESSIONS);
	ck_assert_int_eq(anvil_connect(a, SA("2001:db8:0:2::1"), 0), ANVIL_OK);
	anvil_disconnect(a, SA("198.51.100.99"));	/* any address of the /24 */
	ck_assert_uint_eq(anvil_sessions(a, SA("198.51.100.1")), 1);
	anvil_free(a);
}
END_TEST

START_TEST(odd_prefix_lengths)
{
	struct anvil *a = make(64, 1, 0, 20, 127);

	ck_assert_int_eq(anvil_connect(a, SA("10.0.0.1"), 0), ANVIL_OK);
	ck_assert_int_eq(anvil_connect(a, SA("10.0.15.255"), 0), ANVIL_TOO_MANY_SESSIONS);
	ck_assert_int_eq(anvil_connect(a, SA("10.0.16.0"), 0), ANVIL_OK);
	ck_assert_int_eq(anvil_connect(a, SA("::2"), 0), ANVIL_OK);
	ck_assert_int_eq(anvil_connect(a, SA("::3"), 0), ANVIL_TOO_MANY_SESSIONS);
	ck_assert_int_eq(anvil_connect(a, SA("::4"), 0), ANVIL_OK);
	anvil_free(a);
}
END_TEST

static const char *
nth(char *buf, size_t len, unsigned i)
{
	snprintf(buf, len, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
	return buf;
}

START_TEST(full_table_evicts_idle_then_admits_uncounted)
{
	struct anvil *a = make(16, 1, 100, 32, 128);
	char buf[32];

	/* 16 clients with a session each fill the table. */
	for (unsigned i = 0; i < 16; i++)
		ck_assert_int_eq(anvil_connect(a, SA(nth(buf, sizeof buf, i)), i), ANVIL_OK);
	ck_assert_uint_eq(anvil_clients(a), 16);
	ck_assert_int_eq(anvil_connect(a, SA("192.0.2.1"), 20), ANVIL_UNTRACKED);
	ck_assert_int_eq(anvil_connect(a, SA("192.0.2.1"), 21), ANVIL_UNTRACKED);
	/* One closes: its rate entry stays until room is needed. */
	anvil_disconnect(a, SA(nth(buf, sizeof buf, 3)));
	ck_assert_uint_eq(anvil_clients(a), 16);
	ck_assert_int_eq(anvil_connect(a, SA("192.0.2.1"), 22), ANVIL_OK);
	ck_assert_int_eq(anvil_connect(a, SA("192.0.2.1"), 23), ANVIL_TOO_MANY_SESSIONS);
	ck_assert_uint_eq(anvil_clients(a), 16);
	/* Every other client is still found after the shifts. */
	for (unsigned i = 0; i < 16; i++)
		ck_assert_uint_eq(anvil_sessions(a, SA(nth(buf, sizeof buf, i))), i == 3 ? 0 : 1);
	anvil_free(a);
}
END_TEST

START_TEST(churn_keeps_every_count)
{
	struct anvil *a = make(512, 0, 5, 32, 128);
	char buf[32];

	/* Many more clients than the table holds, one connection each,
	 * every one closed: the table stays bounded and lookups stay right. */
	for (unsigned i = 0; i < 20000; i++) {
		ck_assert_int_eq(anvil_connect(a, SA(nth(buf, sizeof buf, i)), i), ANVIL_OK);
		anvil_disconnect(a, SA(nth(buf, sizeof buf, i)));
		ck_assert_uint_le(anvil_clients(a), 512);
	}
	for (unsigned i = 0; i < 300; i++)
		ck_assert_int_eq(anvil_connect(a, SA(nth(buf, sizeof buf, 100000 + i)), 30000), ANVIL_OK);
	for (unsigned i = 0; i < 300; i++)
		ck_assert_uint_eq(anvil_sessions(a, SA(nth(buf, sizeof buf, 100000 + i))), 1);
	anvil_free(a);
}
END_TEST

START_TEST(reconfigure_keeps_or_resets)
{
	struct anvil *a = make(16, 1, 0, 32, 128);
	struct anvil_limits lim = { 2, 0, MIN_US, 32, 128 };
	char buf[32];

	for (unsigned i = 0; i < 16; i++)
		ck_assert_int_eq(anvil_connect(a, SA(nth(buf, sizeof buf, i)), 0), ANVIL_OK);
	ck_assert_int_eq(anvil_configure(a, 4096, &lim), 0);
	for (unsigned i = 0; i < 16; i++)
		ck_assert_uint_eq(anvil_sessions(a, SA(nth(buf, sizeof buf, i))), 1);
	ck_assert_int_eq(anvil_connect(a, SA(nth(buf, sizeof buf, 0)), 0), ANVIL_OK);
	ck_assert_int_eq(anvil_connect(a, SA(nth(buf, sizeof buf, 0)), 0), ANVIL_TOO_MANY_SESSIONS);
	ck_assert_int_eq(anvil_connect(a, SA("192.0.2.1"), 0), ANVIL_OK);
	/* A new prefix starts afresh. */
	lim.prefix_v4 = 8;
	ck_assert_int_eq(anvil_configure(a, 4096, &lim), 0);
	ck_assert_uint_eq(anvil_clients(a), 0);
	anvil_free(a);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("anvil");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, sessions_at_the_limit);
	tcase_add_test(tc, no_limit_forgets_closed_clients);
	tcase_add_test(tc, rate_at_the_limit_and_the_next_window);
	tcase_add_test(tc, prefixes_group_clients);
	tcase_add_test(tc, odd_prefix_lengths);
	tcase_add_test(tc, full_table_evicts_idle_then_admits_uncounted);
	tcase_add_test(tc, churn_keeps_every_count);
	tcase_add_test(tc, reconfigure_keeps_or_resets);
	suite_add_tcase(s, tc);
	return s;
}
