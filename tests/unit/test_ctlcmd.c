/* bannerd's control commands (daemon/ctlcmd.c) without a socket: the
 * handler with a fake "configuration in force", so that what a refusal
 * leaves alone, what is logged, and how a line becomes words can be
 * checked on their own. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "check_main.h"
#include "config.h"
#include "control.h"
#include "ctlcmd.h"

static struct config *in_force;
static int applied, changed, rejected, fail_apply;
static char last_line[CONTROL_LINE_MAX + 1], last_why[1024];

static struct config *
current(void)
{
	return config_ref(in_force);
}

static int
apply(struct config *c, char *err, size_t errlen)
{
	if (fail_apply) {
		config_unref(c);
		snprintf(err, errlen, "maildir unusable");
		return -1;
	}
	config_unref(in_force);
	in_force = c;
	applied++;
	return 0;
}

static void
stats(struct evbuffer *out)
{
	evbuffer_add_printf(out, "connections=0\n");
}

static void
on_changed(const char *line, const char *origin)
{
	changed++;
	snprintf(last_line, sizeof last_line, "%s", line);
}

static void
on_rejected(const char *line, const char *origin, const char *why)
{
	rejected++;
	snprintf(last_line, sizeof last_line, "%s", line);
	snprintf(last_why, sizeof last_why, "%s", why);
}

static char *cmdline[] = { "banner.delay=2s" };
static struct ctlcmd cc;

static void
setup(void)
{
	char err[512];

	cc = (struct ctlcmd){ .overrides = cmdline, .n_overrides = 1, .current = current,
	    .apply = apply, .stats = stats, .changed = on_changed, .rejected = on_rejected };
	runtime_init(&cc.rt);
	in_force = ctlcmd_load(&cc, &cc.rt, err, sizeof err);
	ck_assert_msg(in_force != NULL, "%s", err);
	applied = changed = rejected = fail_apply = 0;
}

static void
teardown(void)
{
	runtime_free(&cc.rt);
	config_unref(in_force);
}

/* The whole reply, as the socket sends it. */
static char *
ask(const char *line)
{
	static char text[1 << 16];
	struct evbuffer *out = evbuffer_new();
	size_t n;

	control_run(bannerd_control, &cc, "test", line, out);
	n = evbuffer_get_length(out);
	ck_assert_uint_lt(n, sizeof text);
	evbuffer_remove(out, text, n);
	text[n] = '\0';
	evbuffer_free(out);
	return text;
}

START_TEST(set_applies_and_is_logged_once)
{
	ck_assert_str_eq(ask("set banner.delay=3s log.protocol_log=none"), "OK\n");
	ck_assert_uint_eq(in_force->banner_delay_us, 3000000);
	ck_assert_int_eq(in_force->log_protocol_log, PLOG_NONE);
	ck_assert_int_eq(applied, 1);
	ck_assert_int_eq(changed, 1);
	ck_assert_str_eq(last_line, "set banner.delay=3s log.protocol_log=none");
	ck_assert_str_eq(ask("show banner.delay"), "banner.delay = 3s  # from set\nOK\n");
	ck_assert_int_eq(changed, 1);	/* show is no change */
	ck_assert_str_eq(ask("unset banner.delay"), "OK\n");
	ck_assert_str_eq(ask("show banner.delay"), "banner.delay = 0  # from default\nOK\n");
	ck_assert_str_eq(ask("stats"), "connections=0\nOK\n");
}
END_TEST

START_TEST(refusals_change_nothing)
{
	static const char *const bad[] = {
		"set banner.delay=1s pool.workers=0", "set banner.delay=banana", "set listen.address=x",
		"unset listen.backlog", "set nosuch.key=1", "set", "unset", "bogus", "",
		"set banner.delay=1s banner.delay=2s", "show banner.dealy", "stats now",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *reply = ask(bad[i]);

		ck_assert_msg(strncmp(reply, "ERR ", 4) == 0 && strchr(reply, '\n') == reply + strlen(reply) - 1,
		    "%s -> %s", bad[i], reply);
		ck_assert_str_eq(last_line, bad[i]);
	}
	ck_assert_int_eq(rejected, (int)(sizeof bad / sizeof bad[0]));
	ck_assert_int_eq(applied, 0);
	ck_assert_int_eq(changed, 0);
	ck_assert_uint_eq(cc.rt.n_sets + cc.rt.n_masks, 0);
	ck_assert_uint_eq(in_force->banner_delay_us, 2000000);
	/* A failure in applying (the maildir) leaves the runtime layer too. */
	fail_apply = 1;
	ck_assert_str_eq(ask("set banner.delay=5s"), "ERR maildir unusable\n");
	ck_assert_uint_eq(cc.rt.n_sets, 0);
	ck_assert_str_eq(last_why, "maildir unusable");
}
END_TEST

/* Words that do not start "section.key=" continue the value before. */
START_TEST(values_with_blanks)
{
	ck_assert_str_eq(ask("set banner.text=ESMTP  a   lab listen.proxy_trusted=10.0.0.0/8, ::1"), "OK\n");
	ck_assert_str_eq(in_force->banner_text, "ESMTP a lab");
	ck_assert_str_eq(in_force->listen_proxy_trusted, "10.0.0.0/8, ::1");
	ck_assert_str_eq(ask("set faults.rule=rcpt reply=\"451 4.7.1 Try later\" faults.rule=connect close"),
	    "OK\n");
	ck_assert_uint_eq(in_force->faults_n, 2);
	ck_assert_str_eq(ask("show faults.rule"),
	    "faults.rule = rcpt reply=\"451 4.7.1 Try later\"  # from set\n"
	    "faults.rule = connect close  # from set\nOK\n");
	ck_assert_str_eq(ask("set faults.rule="), "OK\n");
	ck_assert_str_eq(ask("show faults.rule"), "faults.rule =   # from set\nOK\n");
	ck_assert_str_eq(ask("set 4.7.1=x"), "ERR '4.7.1=x' is not section.key=value\n");
}
END_TEST

/* An HTTP body may bring the line's end; a second line is refused. */
START_TEST(line_ends)
{
	ck_assert_str_eq(ask("set banner.delay=1s\r\n"), "OK\n");
	ck_assert_str_eq(last_line, "set banner.delay=1s");
	ck_assert_str_eq(ask("show banner.delay\nset banner.delay=9s"), "ERR a request is one line\n");
	ck_assert_uint_eq(in_force->banner_delay_us, 1000000);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("ctlcmd");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, set_applies_and_is_logged_once);
	tcase_add_test(tc, refusals_change_nothing);
	tcase_add_test(tc, values_with_blanks);
	tcase_add_test(tc, line_ends);
	suite_add_tcase(s, tc);
	return s;
}
