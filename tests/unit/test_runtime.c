/* The runtime layer (daemon/runtime.c): precedence file < -o < set,
 * unset back to the file, faults.rule as a list, the entry limit; and
 * the key table's side of bannerctl (config.c): show's values read back
 * as the same values, restart-only keys, where a value came from. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "config.h"
#include "runtime.h"

static char err[1024];

static char *
write_conf(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof path, "/tmp/bannerd-unit-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

/* config_load of the file, cmdline and rt, as ctlcmd_load does. */
static struct config *
load(const char *path, char *const *cmdline, size_t n, const struct runtime *rt)
{
	const char *list[16 + 2 * RUNTIME_MAX_ENTRIES];
	size_t k = runtime_overrides(rt, cmdline, n, list, sizeof list / sizeof list[0]);
	struct config *c = config_load(path, (char *const *)list, k, err, sizeof err);

	ck_assert_msg(c != NULL, "%s", err);
	return c;
}

static int
key(const char *name)
{
	int i = config_key_index(name, err, sizeof err);

	ck_assert_msg(i >= 0, "%s", err);
	return i;
}

START_TEST(precedence_file_then_o_then_set)
{
	char *path = write_conf("[banner]\ndelay = 1s\n[log]\nprotocol_log = medium\n");
	char *cmdline[] = { "banner.delay=2s", "log.protocol_log=maximum" };
	char *set[] = { "banner.delay=3s" };
	struct runtime rt;
	struct config *c;

	runtime_init(&rt);
	c = load(path, cmdline, 2, &rt);
	ck_assert_uint_eq(c->banner_delay_us, 2000000);
	ck_assert_int_eq(c->source[key("banner.delay")], CONF_SRC_OVERRIDE);
	config_unref(c);
	ck_assert_int_eq(runtime_set(&rt, set, 1, err, sizeof err), 0);
	ck_assert(runtime_is_set(&rt, "banner.delay"));
	c = load(path, cmdline, 2, &rt);
	ck_assert_uint_eq(c->banner_delay_us, 3000000);
	ck_assert_int_eq(c->log_protocol_log, PLOG_MAXIMUM);
	config_unref(c);
	/* unset: back to the file's value, even though -o set it too. */
	ck_assert_int_eq(runtime_unset(&rt, "banner.delay", err, sizeof err), 0);
	ck_assert_int_eq(runtime_unset(&rt, "log.protocol_log", err, sizeof err), 0);
	ck_assert(!runtime_is_set(&rt, "banner.delay"));
	ck_assert(runtime_is_masked(&rt, "banner.delay"));
	c = load(path, cmdline, 2, &rt);
	ck_assert_uint_eq(c->banner_delay_us, 1000000);
	ck_assert_int_eq(c->log_protocol_log, PLOG_MEDIUM);
	ck_assert_int_eq(c->source[key("banner.delay")], CONF_SRC_FILE);
	config_unref(c);
	/* A later set clears the mask; unset again masks again. */
	ck_assert_int_eq(runtime_set(&rt, set, 1, err, sizeof err), 0);
	ck_assert(!runtime_is_masked(&rt, "banner.delay"));
	ck_assert_uint_eq(rt.n_sets, 1);
	ck_assert_uint_eq(rt.n_masks, 1);
	runtime_free(&rt);
	unlink(path);
}
END_TEST

/* The file lacks the key: unset gives the default, not the -o. */
START_TEST(unset_without_file_value_is_the_default)
{
	char *cmdline[] = { "banner.delay=2s" };
	struct runtime rt;
	struct config *c;

	runtime_init(&rt);
	ck_assert_int_eq(runtime_unset(&rt, "banner.delay", err, sizeof err), 0);
	/* Twice is one mask. */
	ck_assert_int_eq(runtime_unset(&rt, "banner.delay", err, sizeof err), 0);
	ck_assert_uint_eq(rt.n_masks, 1);
	c = load(NULL, cmdline, 1, &rt);
	ck_assert_uint_eq(c->banner_delay_us, 0);
	ck_assert_int_eq(c->source[key("banner.delay")], CONF_SRC_DEFAULT);
	config_unref(c);
	runtime_free(&rt);
}
END_TEST

START_TEST(fault_rules_are_replaced_as_a_list)
{
	char *path = write_conf("[faults]\nrule = connect delay=1s\nrule = helo 421\n");
	char *cmdline[] = { "faults.rule=mail close" };
	char *set[] = { "faults.rule=rcpt close", "faults.rule=data delay=2s" };
	char *set_none[] = { "faults.rule=" };
	struct runtime rt;
	struct config *c;

	runtime_init(&rt);
	c = load(path, cmdline, 1, &rt);
	ck_assert_uint_eq(c->faults_n, 3);	/* -o adds to the file's */
	config_unref(c);
	ck_assert_int_eq(runtime_set(&rt, set, 2, err, sizeof err), 0);
	c = load(path, cmdline, 1, &rt);
	ck_assert_uint_eq(c->faults_n, 2);
	ck_assert_str_eq(c->faults_text[0], "rcpt close");
	ck_assert_str_eq(c->faults_text[1], "data delay=2s");
	config_unref(c);
	ck_assert_int_eq(runtime_set(&rt, set_none, 1, err, sizeof err), 0);
	c = load(path, cmdline, 1, &rt);
	ck_assert_uint_eq(c->faults_n, 0);
	config_unref(c);
	ck_assert_int_eq(runtime_unset(&rt, "faults.rule", err, sizeof err), 0);
	c = load(path, cmdline, 1, &rt);
	ck_assert_uint_eq(c->faults_n, 2);	/* the file's, without the -o */
	ck_assert_str_eq(c->faults_text[1], "helo 421");
	config_unref(c);
	runtime_free(&rt);
	unlink(path);
}
END_TEST

START_TEST(entries_are_bounded)
{
	char *one[1], text[64];
	struct runtime rt, copy;
	size_t i;

	runtime_init(&rt);
	for (i = 0; i < RUNTIME_MAX_ENTRIES; i++) {
		snprintf(text, sizeof text, "s%zu.k=1", i);
		one[0] = text;
		ck_assert_int_eq(runtime_set(&rt, one, 1, err, sizeof err), 0);
	}
	ck_assert_uint_eq(rt.n_sets, RUNTIME_MAX_ENTRIES);
	/* Changing a key already set stays within the limit ... */
	one[0] = "s0.k=2";
	ck_assert_int_eq(runtime_set(&rt, one, 1, err, sizeof err), 0);
	/* ... one more is refused, and so is a mask. */
	one[0] = "x.y=1";
	ck_assert_int_eq(runtime_set(&rt, one, 1, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "more than 128 runtime settings") != NULL, "%s", err);
	ck_assert_int_eq(runtime_unset(&rt, "x.z", err, sizeof err), -1);
	/* Unsetting a set key frees its entry for its mask. */
	ck_assert_int_eq(runtime_unset(&rt, "s1.k", err, sizeof err), 0);
	ck_assert_uint_eq(rt.n_sets + rt.n_masks, RUNTIME_MAX_ENTRIES);
	ck_assert_int_eq(runtime_copy(&copy, &rt), 0);
	ck_assert_uint_eq(copy.n_sets, rt.n_sets);
	ck_assert_str_eq(copy.sets[0], rt.sets[0]);
	ck_assert_ptr_ne(copy.sets[0], rt.sets[0]);
	runtime_free(&copy);
	runtime_free(&rt);
}
END_TEST

START_TEST(bad_text_is_refused)
{
	char *bad[] = { "banner.delay" };
	char *bad2[] = { "delay=1s" };
	struct runtime rt;

	runtime_init(&rt);
	ck_assert_int_eq(runtime_set(&rt, bad, 1, err, sizeof err), -1);
	ck_assert_int_eq(runtime_set(&rt, bad2, 1, err, sizeof err), -1);
	ck_assert_int_eq(runtime_unset(&rt, "banner.delay=1s", err, sizeof err), -1);
	ck_assert_int_eq(runtime_unset(&rt, "", err, sizeof err), -1);
	ck_assert_uint_eq(rt.n_sets + rt.n_masks, 0);
	ck_assert(!runtime_assign_is("banner.delayx=1", "banner.delay"));
	ck_assert(runtime_assign_is("banner.delay=1", "banner.delay"));
	runtime_free(&rt);
}
END_TEST

/* Every key's shown value, given back as an override, loads to the
 * same value: show's output is what set accepts. */
START_TEST(format_round_trips)
{
	char *path = write_conf("[banner]\ndelay = 1500ms\ntext = ESMTP two words\n"
	    "[smtp]\nmax_message_size = 10M\nstress_threshold = 75%\n"
	    "[faults]\nrule = connect reply=\"451 4.7.1 Try later\"\n");
	struct runtime rt;
	struct config *a = NULL, *b;
	char v1[FAULT_TEXT_MAX], v2[FAULT_TEXT_MAX], assign[FAULT_TEXT_MAX + 128];
	const char *list[1];

	runtime_init(&rt);
	a = load(path, NULL, 0, &rt);
	config_key_format(a, (size_t)key("banner.delay"), 0, v1, sizeof v1);
	ck_assert_str_eq(v1, "1500ms");
	config_key_format(a, (size_t)key("rdns.timeout"), 0, v1, sizeof v1);
	ck_assert_str_eq(v1, "1s");
	for (size_t i = 0; i < config_key_count(); i++) {
		if (config_key_values(a, i) != 1)
			continue;
		config_key_format(a, i, 0, v1, sizeof v1);
		ck_assert_msg(config_key_check(i, v1, err, sizeof err) == 0, "%s", err);
		snprintf(assign, sizeof assign, "%s.%s=%s", config_key_section(i), config_key_name(i), v1);
		list[0] = assign;
		b = config_load(path, (char *const *)list, 1, err, sizeof err);
		ck_assert_msg(b != NULL, "%s: %s", assign, err);
		config_key_format(b, i, 0, v2, sizeof v2);
		ck_assert_str_eq(v1, v2);
		ck_assert_int_eq(b->source[i], CONF_SRC_OVERRIDE);
		config_unref(b);
	}
	ck_assert_uint_eq(config_key_values(a, (size_t)key("faults.rule")), 1);
	config_key_format(a, (size_t)key("faults.rule"), 0, v1, sizeof v1);
	ck_assert_str_eq(v1, "connect reply=\"451 4.7.1 Try later\"");
	config_unref(a);
	unlink(path);
}
END_TEST

START_TEST(key_table_questions)
{
	ck_assert(config_key_restart_only((size_t)key("listen.address")));
	ck_assert(config_key_restart_only((size_t)key("server.control_socket")));
	ck_assert(config_key_restart_only((size_t)key("metrics.listen")));
	ck_assert(!config_key_restart_only((size_t)key("banner.delay")));
	ck_assert(config_key_repeated((size_t)key("faults.rule")));
	ck_assert(!config_key_repeated((size_t)key("banner.delay")));
	ck_assert_int_eq(config_key_index("banner.dealy", err, sizeof err), -1);
	ck_assert_msg(strstr(err, "did you mean banner.delay?") != NULL, "%s", err);
	ck_assert_int_eq(config_key_index("nodot", err, sizeof err), -1);
	ck_assert_int_eq(config_key_check((size_t)key("banner.delay"), "banana", err, sizeof err), -1);
	ck_assert_msg(strncmp(err, "banner.delay: ", 14) == 0, "%s", err);
	ck_assert_int_eq(config_key_check((size_t)key("pool.workers"), "0", err, sizeof err), -1);
	ck_assert_int_eq(config_key_check((size_t)key("pool.workers"), "256", err, sizeof err), 0);
	/* A rule is kept as written, up to FAULT_TEXT_MAX - 1 bytes. */
	{
		static char rule[FAULT_TEXT_MAX + 1];

		memset(rule, ' ', sizeof rule - 1);
		memcpy(rule, "connect close", 13);
		rule[FAULT_TEXT_MAX - 1] = '\0';
		ck_assert_msg(config_key_check((size_t)key("faults.rule"), rule, err, sizeof err) == 0, "%s", err);
		rule[FAULT_TEXT_MAX - 1] = ' ';
		ck_assert_int_eq(config_key_check((size_t)key("faults.rule"), rule, err, sizeof err), -1);
		ck_assert_msg(strstr(err, "longer than 2047 bytes") != NULL, "%s", err);
	}
	/* sun_path holds 107 bytes and the NUL. */
	{
		char p[120];

		memset(p, 'a', sizeof p);
		p[107] = '\0';
		ck_assert_int_eq(config_key_check((size_t)key("server.control_socket"), p, err, sizeof err), 0);
		p[107] = 'a';
		p[108] = '\0';
		ck_assert_int_eq(config_key_check((size_t)key("server.control_socket"), p, err, sizeof err), -1);
	}
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("runtime");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, precedence_file_then_o_then_set);
	tcase_add_test(tc, unset_without_file_value_is_the_default);
	tcase_add_test(tc, fault_rules_are_replaced_as_a_list);
	tcase_add_test(tc, entries_are_bounded);
	tcase_add_test(tc, bad_text_is_refused);
	tcase_add_test(tc, format_round_trips);
	tcase_add_test(tc, key_table_questions);
	suite_add_tcase(s, tc);
	return s;
}
