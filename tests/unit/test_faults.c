/* The [faults] rules: the parser (every point, action and option, and
 * what a bad rule is told), the limits at their bounds, and the
 * selection's sequence, which a seed must reproduce exactly. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "config.h"
#include "faults.h"

static const struct fault_limits lim = { 512, 600000000ULL, 16 };
static char why[512];
static struct fault_rule r;

static int
parse(const char *text)
{
	why[0] = '\0';
	return fault_rule_parse(text, &lim, &r, why, sizeof why);
}

static void
refused(const char *text, const char *phrase)
{
	ck_assert_msg(parse(text) == -1, "'%s' was accepted", text);
	ck_assert_msg(strstr(why, phrase) != NULL, "'%s': '%s' does not say '%s'", text, why, phrase);
}

START_TEST(every_point)
{
	static const char *const names[] = { "connect", "helo", "ehlo", "mail", "rcpt", "data", ".", "rset",
		"noop", "quit" };

	for (int i = 0; i < FP_COUNT; i++) {
		char text[64];

		snprintf(text, sizeof text, "%s close", names[i]);
		ck_assert_int_eq(parse(text), 0);
		ck_assert_int_eq(r.point, i);
		ck_assert_str_eq(fault_point_name(r.point), names[i]);
	}
	ck_assert_int_eq(parse("DOT close"), 0);
	ck_assert_int_eq(r.point, FP_DOT);
	ck_assert_int_eq(parse("RCPT Stall"), 0);
	ck_assert_int_eq(r.point, FP_RCPT);
	ck_assert_int_eq(r.action, FA_STALL);
}
END_TEST

START_TEST(every_action)
{
	ck_assert_int_eq(parse("connect delay=5s"), 0);
	ck_assert_int_eq(r.action, FA_DELAY);
	ck_assert_uint_eq(r.delay_us, 5000000);
	ck_assert_uint_eq(r.odds, 0);
	ck_assert_int_eq(parse("connect delay=250ms odds=30%"), 0);
	ck_assert_uint_eq(r.delay_us, 250000);
	ck_assert_uint_eq(r.odds, 30);
	ck_assert_int_eq(parse("rcpt reply=\"451 4.7.1 Greylisted, try again later\""), 0);
	ck_assert_int_eq(r.action, FA_REPLY);
	ck_assert_int_eq(r.code, 451);
	ck_assert_str_eq(r.reply, "4.7.1 Greylisted, try again later");
	ck_assert_int_eq(parse("mail 421"), 0);
	ck_assert_int_eq(r.action, FA_421);
	ck_assert_int_eq(parse("quit close"), 0);
	ck_assert_int_eq(r.action, FA_CLOSE);
	ck_assert_int_eq(parse("data stall"), 0);
	ck_assert_int_eq(r.action, FA_STALL);
	ck_assert_str_eq(fault_action_name(FA_421), "421");
}
END_TEST

START_TEST(replies)
{
	/* multi-line: the lines are split when sent, kept whole here */
	ck_assert_int_eq(parse("connect reply=\"554 5.3.2 No service\\nCome back later\""), 0);
	ck_assert_int_eq(r.code, 554);
	ck_assert_str_eq(r.reply, "5.3.2 No service\\nCome back later");
	/* quotes may be escaped, and a quoted part may sit inside a word */
	ck_assert_int_eq(parse("rcpt \"reply=550 5.1.1 \\\"no\\\" such user\""), 0);
	ck_assert_str_eq(r.reply, "5.1.1 \"no\" such user");
	ck_assert_int_eq(parse("rcpt reply=\"559 x\""), 0);
	ck_assert_int_eq(parse("rcpt reply=\"400 x\""), 0);
	refused("rcpt reply=\"250 ok\"", "4xx or 5xx");
	refused("rcpt reply=\"600 no\"", "4xx or 5xx");
	refused("rcpt reply=\"461 no\"", "4xx or 5xx");
	refused("rcpt reply=\"45 no\"", "4xx or 5xx");
	refused("rcpt reply=\"451\"", "4xx or 5xx");
	refused("rcpt reply=\"451 \"", "4xx or 5xx");
	refused("rcpt reply=451", "4xx or 5xx");
	refused("rcpt reply=\"451 a\\n\\nb\"", "empty");
	refused("rcpt reply=\"451 a\tb\"", "printable");
	refused("rcpt reply=\"451 open", "not closed");
}
END_TEST

START_TEST(options)
{
	ck_assert_int_eq(parse("rcpt reply=\"451 4.7.1 x\""), 0);
	ck_assert_int_eq(r.select, FS_ALWAYS);
	ck_assert_int_eq(parse("mail 421 every=3"), 0);
	ck_assert_int_eq(r.select, FS_EVERY);
	ck_assert_uint_eq(r.every, 3);
	ck_assert_int_eq(parse("rcpt close chance=2.5%"), 0);
	ck_assert_int_eq(r.select, FS_CHANCE);
	ck_assert(r.chance > 0.0249 && r.chance < 0.0251);
	ck_assert_int_eq(parse("quit stall clients=127.0.0.2,198.51.100.0/24,::1"), 0);
	ck_assert_uint_eq(r.n_clients, 3);
	ck_assert_uint_eq(r.clients[1].bits, 24);
	ck_assert_int_eq(r.clients[2].family, AF_INET6);
	ck_assert_int_eq(parse("  rcpt\tclose   every=2 clients=10.0.0.0/8  "), 0);
}
END_TEST

START_TEST(bad_rules)
{
	refused("", "expected POINT ACTION");
	refused("rcpt", "expected POINT ACTION");
	refused("vrfy close", "'vrfy' is not a point");
	refused("rcpt stal", "'stal' is not an action");
	refused("rcpt delay=5", "needs a unit");
	refused("rcpt delay=soon", "not a duration");
	refused("rcpt close odds=30%", "only a delay has odds");
	refused("rcpt delay=1s odds=0%", "1..99");
	refused("rcpt delay=1s odds=100", "1..99");
	refused("rcpt delay=1s odds=2.5%", "1..99");
	refused("rcpt delay=1s odds=20% odds=30%", "once");
	refused("rcpt close every=0", "1..1000000000");
	refused("rcpt close every=x", "1..1000000000");
	refused("rcpt close chance=101%", "0..100");
	refused("rcpt close chance=-1", "0..100");
	refused("rcpt close every=2 chance=5%", "only one of");
	refused("rcpt close clients=localhost", "'localhost' is not an address");
	refused("rcpt close clients=10.0.0.0/33", "is not an address");
	refused("rcpt close clients=::1/129", "is not an address");
	refused("rcpt close clients=1.2.3.4 clients=1.2.3.5", "given twice");
	refused("rcpt close sometimes", "'sometimes' is not an option");
	refused("a b c d e f g h i j k l m n o p q", "more than 16 words");
}
END_TEST

/* Each limit accepts its own value and refuses one more. */
START_TEST(limits_at_their_bounds)
{
	struct fault_limits small = { 16, 2000000, 2 };
	char text[2048], reply[600];

	ck_assert_int_eq(fault_rule_parse("rcpt delay=2s", &small, &r, why, sizeof why), 0);
	ck_assert_int_eq(fault_rule_parse("rcpt delay=2000001us", &small, &r, why, sizeof why), -1);
	ck_assert_ptr_nonnull(strstr(why, "faults.max_delay"));
	ck_assert_int_eq(fault_rule_parse("rcpt reply=\"451 0123456789abcdef\"", &small, &r, why, sizeof why), 0);
	ck_assert_int_eq(fault_rule_parse("rcpt reply=\"451 0123456789abcdefg\"", &small, &r, why, sizeof why),
	    -1);
	ck_assert_ptr_nonnull(strstr(why, "faults.max_reply (16)"));
	ck_assert_int_eq(fault_rule_parse("rcpt close clients=1.1.1.1,2.2.2.2", &small, &r, why, sizeof why), 0);
	ck_assert_int_eq(fault_rule_parse("rcpt close clients=1.1.1.1,2.2.2.2,3.3.3.3", &small, &r, why,
	    sizeof why), -1);
	ck_assert_ptr_nonnull(strstr(why, "faults.max_clients (2)"));

	/* RFC 5321's 512-byte reply line: 506 bytes of text with the code */
	memset(reply, 'x', 506);
	reply[506] = '\0';
	snprintf(text, sizeof text, "rcpt reply=\"451 %s\"", reply);
	ck_assert_int_eq(parse(text), 0);
	snprintf(text, sizeof text, "rcpt reply=\"451 %sy\"", reply);
	ck_assert_int_eq(parse(text), -1);
	ck_assert_ptr_nonnull(strstr(why, "longer than 506"));
	/* sixteen lines, not seventeen */
	snprintf(text, sizeof text, "rcpt reply=\"451 a");
	for (int i = 1; i < FAULT_REPLY_LINES_MAX; i++)
		strcat(text, "\\nb");
	ck_assert_int_eq(parse(strcat(text, "\"")), 0);
	text[strlen(text) - 1] = '\0';
	ck_assert_int_eq(parse(strcat(text, "\\nc\"")), -1);
	ck_assert_ptr_nonnull(strstr(why, "more than 16 lines"));
}
END_TEST

START_TEST(every_nth)
{
	ck_assert_int_eq(parse("mail 421 every=3"), 0);
	for (uint64_t hit = 1; hit <= 12; hit++)
		ck_assert_int_eq(fault_selects(&r, 0, 1, hit), hit % 3 == 0);
}
END_TEST

/* The same seed gives the same outcomes, hit for hit, and no hidden state
 * lies between them: asking for hit 7 first changes nothing. */
START_TEST(chance_is_reproducible)
{
	int a[200], b[200], n = 0, differ = 0;

	ck_assert_int_eq(parse("rcpt close chance=30%"), 0);
	for (int i = 0; i < 200; i++)
		a[i] = fault_selects(&r, 2, 42, (uint64_t)i + 1);
	(void)fault_selects(&r, 2, 42, 7);
	for (int i = 199; i >= 0; i--)
		b[i] = fault_selects(&r, 2, 42, (uint64_t)i + 1);
	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(a[i], b[i]);
		n += a[i];
		differ += a[i] != fault_selects(&r, 2, 43, (uint64_t)i + 1);
	}
	ck_assert_msg(n > 35 && n < 85, "30%% of 200 gave %d", n);
	ck_assert_msg(differ > 0, "another seed gave the same 200 outcomes");
	ck_assert_int_eq(parse("rcpt close chance=0%"), 0);
	for (int i = 1; i <= 1000; i++)
		ck_assert(!fault_selects(&r, 0, 1, (uint64_t)i));
	ck_assert_int_eq(parse("rcpt close chance=100"), 0);
	for (int i = 1; i <= 1000; i++)
		ck_assert(fault_selects(&r, 0, 1, (uint64_t)i));
}
END_TEST

/* smtp-sink's odds: a whole number of delays, 0 most often at 30%, a
 * long tail, capped by faults.max_delay. */
START_TEST(odds_make_a_long_tail)
{
	unsigned counts[8] = { 0 };

	ck_assert_int_eq(parse("connect delay=1s odds=30%"), 0);
	for (uint64_t hit = 1; hit <= 10000; hit++) {
		uint64_t d = fault_delay(&r, 0, 9, hit, 600000000ULL);

		ck_assert_uint_eq(d % 1000000, 0);
		ck_assert_uint_eq(d, fault_delay(&r, 0, 9, hit, 600000000ULL));
		counts[d / 1000000 < 7 ? d / 1000000 : 7]++;
	}
	ck_assert_msg(counts[0] > 6500 && counts[0] < 7500, "no wait %u times of 10000", counts[0]);
	ck_assert(counts[1] > counts[2] && counts[2] > counts[3] && counts[3] > 0);
	ck_assert_int_eq(parse("connect delay=1s odds=99%"), 0);
	for (uint64_t hit = 1; hit <= 100; hit++)
		ck_assert_uint_le(fault_delay(&r, 0, 9, hit, 3000000), 3000000);
	ck_assert_int_eq(parse("connect delay=1s"), 0);
	ck_assert_uint_eq(fault_delay(&r, 0, 9, 1, 600000000ULL), 1000000);
}
END_TEST

static struct sockaddr_storage
sa(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof ss);
	if (strchr(text, ':') == NULL) {
		ss.ss_family = AF_INET;
		inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr);
	} else {
		ss.ss_family = AF_INET6;
		inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr);
	}
	return ss;
}

static int
match(const char *text)
{
	struct sockaddr_storage ss = sa(text);

	return fault_client_matches(&r, (struct sockaddr *)&ss);
}

#define MATCH(text) match(text)

START_TEST(clients_match)
{
	ck_assert_int_eq(parse("rcpt close clients=127.0.0.2,198.51.100.0/24,2001:db8::/32,10.0.0.0/9"), 0);
	ck_assert(MATCH("127.0.0.2"));
	ck_assert(!MATCH("127.0.0.1"));
	ck_assert(MATCH("198.51.100.200"));
	ck_assert(!MATCH("198.51.101.1"));
	ck_assert(MATCH("10.127.255.255"));
	ck_assert(!MATCH("10.128.0.0"));
	ck_assert(MATCH("2001:db8:1::5"));
	ck_assert(!MATCH("2001:db9::5"));
	ck_assert(MATCH("::ffff:127.0.0.2"));	/* a v4 client on a v6 socket */
	ck_assert(!fault_client_matches(&r, NULL));
	ck_assert_int_eq(parse("rcpt close clients=0.0.0.0/0"), 0);
	ck_assert(MATCH("203.0.113.9"));
	ck_assert(!MATCH("::1"));
	ck_assert_int_eq(parse("rcpt close"), 0);
	ck_assert(MATCH("::1"));
}
END_TEST

/* Delay rules add up; the first terminal rule that selects ends the
 * walk, and the rules after it are not reached (their counts stay). */
START_TEST(decide_walks_in_order)
{
	struct fault_rule rules[5];
	struct fault_decision d;
	struct sockaddr_storage peer = sa("127.0.0.1");
	struct fault_env env = { 1, 600000000ULL, 1, 1000000, 0, NULL };

	ck_assert_int_eq(fault_rule_parse("rcpt delay=1s", &lim, &rules[0], why, sizeof why), 0);
	ck_assert_int_eq(fault_rule_parse("mail close", &lim, &rules[1], why, sizeof why), 0);
	ck_assert_int_eq(fault_rule_parse("rcpt delay=2s clients=127.0.0.9", &lim, &rules[2], why, sizeof why), 0);
	ck_assert_int_eq(fault_rule_parse("rcpt reply=\"451 4.7.1 x\" every=2", &lim, &rules[3], why, sizeof why), 0);
	ck_assert_int_eq(fault_rule_parse("rcpt 421", &lim, &rules[4], why, sizeof why), 0);

	faults_decide(rules, 5, FP_RCPT, &env, (struct sockaddr *)&peer, &d);
	ck_assert_uint_eq(d.delay_us, 1000000);
	ck_assert_int_eq(d.delay_rule, 0);
	ck_assert_int_eq(d.rule, 4);	/* every=2 said no at its first hit */
	faults_decide(rules, 5, FP_RCPT, &env, (struct sockaddr *)&peer, &d);
	ck_assert_int_eq(d.rule, 3);
	ck_assert_uint_eq(rules[4].hits, 1);	/* not reached the second time */
	ck_assert_uint_eq(rules[2].hits, 0);	/* another client's */
	ck_assert_uint_eq(rules[1].hits, 0);	/* another point's */
	env.max_delay_us = 500000;
	faults_decide(rules, 5, FP_RCPT, &env, (struct sockaddr *)&peer, &d);
	ck_assert_uint_eq(d.delay_us, 500000);	/* capped */
	faults_decide(rules, 5, FP_NOOP, &env, (struct sockaddr *)&peer, &d);
	ck_assert_int_eq(d.rule, -1);
	ck_assert_int_eq(d.delay_rule, -1);
	ck_assert_uint_eq(d.delay_us, 0);
}
END_TEST

/* Greylisting: a client's first time is selected, its retries within
 * the window are not, and after the window it is new again. Each rule
 * and each address apart; a full table forgets its oldest client. */
START_TEST(first_time_per_client_and_window)
{
	static struct fault_first_table t;	/* 128 KB: not on the stack */
	struct sockaddr_storage a = sa("192.0.2.1"), b = sa("192.0.2.2"), a6 = sa("::ffff:192.0.2.1");
	struct sockaddr *pa = (struct sockaddr *)&a, *pb = (struct sockaddr *)&b;
	const uint64_t w = 1000000;

	memset(&t, 0, sizeof t);
	ck_assert_int_eq(parse("rcpt reply=\"451 4.7.1 Greylisted\" first"), 0);
	ck_assert_int_eq(r.select, FS_FIRST);
	refused("rcpt close first every=2", "only one of");
	refused("rcpt close chance=5% first", "only one of");
	ck_assert_int_eq(fault_first_time(&t, 16, 0, pa, 100, w), 1);
	ck_assert_int_eq(fault_first_time(&t, 16, 0, pa, 200, w), 0);
	ck_assert_int_eq(fault_first_time(&t, 16, 0, (struct sockaddr *)&a6, 300, w), 0);
	ck_assert_int_eq(fault_first_time(&t, 16, 1, pa, 300, w), 1);	/* another rule */
	ck_assert_int_eq(fault_first_time(&t, 16, 0, pb, 400, w), 1);	/* another client */
	ck_assert_int_eq(fault_first_time(&t, 16, 0, pa, 100 + w - 1, w), 0);
	ck_assert_int_eq(fault_first_time(&t, 16, 0, pa, 100 + w, w), 1);	/* the window is over */
	ck_assert_int_eq(fault_first_time(&t, 16, 0, pa, 200 + w, w), 0);
	ck_assert_int_eq(fault_first_time(&t, 16, 0, NULL, 1, w), 0);

	/* 16 entries: the 17th client pushes out the oldest (b, at 400) */
	memset(&t, 0, sizeof t);
	for (int i = 0; i < 16; i++) {
		char text[32];
		struct sockaddr_storage c;

		snprintf(text, sizeof text, "10.0.0.%d", i);
		c = sa(text);
		ck_assert_int_eq(fault_first_time(&t, 16, 0, (struct sockaddr *)&c, 1000 + (uint64_t)i, w), 1);
	}
	ck_assert_int_eq(fault_first_time(&t, 16, 0, pb, 2000, w), 1);
	{
		struct sockaddr_storage c0 = sa("10.0.0.0"), c1 = sa("10.0.0.1");

		ck_assert_int_eq(fault_first_time(&t, 16, 0, (struct sockaddr *)&c1, 2001, w), 0);
		ck_assert_int_eq(fault_first_time(&t, 16, 0, (struct sockaddr *)&c0, 2002, w), 1);
	}
}
END_TEST

START_TEST(decide_first)
{
	static struct fault_first_table t;
	struct fault_rule rules[1];
	struct fault_decision d;
	struct sockaddr_storage peer = sa("127.0.0.1");
	struct fault_env env = { 1, 600000000ULL, 10, 1000000, 1024, &t };

	memset(&t, 0, sizeof t);
	ck_assert_int_eq(fault_rule_parse("rcpt reply=\"451 4.7.1 x\" first", &lim, &rules[0], why, sizeof why), 0);
	faults_decide(rules, 1, FP_RCPT, &env, (struct sockaddr *)&peer, &d);
	ck_assert_int_eq(d.rule, 0);
	env.now_us = 20;
	faults_decide(rules, 1, FP_RCPT, &env, (struct sockaddr *)&peer, &d);
	ck_assert_int_eq(d.rule, -1);
}
END_TEST

/* ---- through the configuration reader ---- */

static char err[1024];

START_TEST(config_rules)
{
	struct config *c = config_load_text("[faults]\nseed = 7\n"
	    "rule = rcpt reply=\"451 4.7.1 Greylisted, try again later\"\n"
	    "rule = connect delay=5s odds=30%\n", err, sizeof err);

	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->faults_seed, 7);
	ck_assert_uint_eq(c->faults_n, 2);
	ck_assert_int_eq(c->faults[0].code, 451);
	ck_assert_uint_eq(c->faults[1].odds, 30);
	config_unref(c);
	c = config_load_text("", err, sizeof err);
	ck_assert_uint_eq(c->faults_n, 0);
	ck_assert_uint_eq(c->faults_seed, 1);
	ck_assert_uint_eq(c->faults_max_rules, 32);
	config_unref(c);
}
END_TEST

START_TEST(config_errors_name_line_and_key)
{
	ck_assert_ptr_null(config_load_text("[faults]\n\nrule = rcpt close\nrule = rcpt stal\n", err, sizeof err));
	ck_assert_str_eq(err, "(text):4: faults.rule: 'stal' is not an action "
	    "(delay=DUR|reply=\"CODE TEXT\"|close|421|stall)");
	ck_assert_ptr_null(config_load_text("[faults]\nrules = rcpt close\n", err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "did you mean faults.rule"));
	ck_assert_ptr_null(config_load_text("[faults]\nmax_delay = 1s\nrule = . delay=2s\n", err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "(text):3: faults.rule: delay: '2s' is longer than faults.max_delay"));
	/* a limit set after the rule it limits still holds */
	ck_assert_ptr_null(config_load_text("[faults]\nrule = . delay=2s\nmax_delay = 1s\n", err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "faults.rule #1: delay is longer than faults.max_delay"));
	ck_assert_ptr_null(config_load_text("[faults]\nrule = rcpt reply=\"451 0123456789abcdefg\"\n"
	    "max_reply = 16\n", err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "faults.rule #1: reply text is longer than faults.max_reply (16)"));
	ck_assert_ptr_null(config_load_text("[faults]\nrule = rcpt close clients=1.1.1.1,2.2.2.2\n"
	    "max_clients = 1\n", err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "more than faults.max_clients (1)"));
}
END_TEST

START_TEST(max_rules_is_inclusive)
{
	char text[4096] = "[faults]\nmax_rules = 3\n";
	struct config *c;

	for (int i = 0; i < 3; i++)
		strcat(text, "rule = noop close every=5\n");
	c = config_load_text(text, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->faults_n, 3);
	config_unref(c);
	strcat(text, "rule = noop close\n");
	ck_assert_ptr_null(config_load_text(text, err, sizeof err));
	ck_assert_str_eq(err, "(text):6: faults.rule: more than faults.max_rules (3) rules");
	/* the table's own room is the most max_rules may say */
	ck_assert_ptr_null(config_load_text("[faults]\nmax_rules = 65\n", err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "out of range (0..64)"));
	c = config_load_text("[faults]\nmax_rules = 64\n", err, sizeof err);
	ck_assert_ptr_nonnull(c);
	config_unref(c);
	/* max_rules = 0 refuses any rule */
	ck_assert_ptr_null(config_load_text("[faults]\nmax_rules = 0\nrule = noop close\n", err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "more than faults.max_rules (0)"));
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, every_point);
	tcase_add_test(tc, every_action);
	tcase_add_test(tc, replies);
	tcase_add_test(tc, options);
	tcase_add_test(tc, bad_rules);
	tcase_add_test(tc, limits_at_their_bounds);
	tcase_add_test(tc, every_nth);
	tcase_add_test(tc, chance_is_reproducible);
	tcase_add_test(tc, odds_make_a_long_tail);
	tcase_add_test(tc, clients_match);
	tcase_add_test(tc, decide_walks_in_order);
	tcase_add_test(tc, first_time_per_client_and_window);
	tcase_add_test(tc, decide_first);
	tcase_add_test(tc, config_rules);
	tcase_add_test(tc, config_errors_name_line_and_key);
	tcase_add_test(tc, max_rules_is_inclusive);
	suite_add_tcase(s, tc);
	return s;
}
