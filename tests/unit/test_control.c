/* common/control: the request splitter and the reply framing that every
 * control front end (the UNIX socket, bannerd's HTTP page) shares. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "check_main.h"
#include "control.h"

START_TEST(split_words)
{
	char line[] = "  set\tbanner.delay=3s  rdns.enabled=off ";
	char *argv[CONTROL_ARGS_MAX];

	ck_assert_int_eq(control_split(line, argv, CONTROL_ARGS_MAX), 3);
	ck_assert_str_eq(argv[0], "set");
	ck_assert_str_eq(argv[1], "banner.delay=3s");
	ck_assert_str_eq(argv[2], "rdns.enabled=off");
}
END_TEST

START_TEST(split_empty_and_limit)
{
	char blank[] = " \t ";
	char three[] = "a b c";
	char two[] = "a b";
	char *argv[2];

	ck_assert_int_eq(control_split(blank, argv, 2), 0);
	ck_assert_int_eq(control_split(three, argv, 2), -1);	/* more than max */
	ck_assert_int_eq(control_split(two, argv, 2), 2);	/* exactly max */
	ck_assert_str_eq(argv[1], "b");
}
END_TEST

static int
echo_handler(void *arg, const char *origin, const char *line, struct evbuffer *out,
    char *err, size_t errlen)
{
	evbuffer_add_printf(out, "partial body\n");
	if (strcmp(line, "fail") == 0) {
		snprintf(err, errlen, "bad\nvalue");
		return -1;
	}
	evbuffer_add_printf(out, "%s said %s\n", origin, line);
	return 0;
}

static char *
drain(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);

	evbuffer_remove(b, s, n);
	s[n] = '\0';
	return s;
}

START_TEST(run_frames_ok_and_err)
{
	struct evbuffer *out = evbuffer_new();
	char *s;

	ck_assert_int_eq(control_run(echo_handler, NULL, "test", "show", out), 0);
	s = drain(out);
	ck_assert_str_eq(s, "partial body\ntest said show\nOK\n");
	free(s);
	/* A failure drops the body (it would read as an answer) and keeps
	 * the reason on the one ERR line. */
	ck_assert_int_eq(control_run(echo_handler, NULL, "test", "fail", out), -1);
	s = drain(out);
	ck_assert_str_eq(s, "ERR bad value\n");
	free(s);
	evbuffer_free(out);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, split_words);
	tcase_add_test(tc, split_empty_and_limit);
	tcase_add_test(tc, run_frames_ok_and_err);
	suite_add_tcase(s, tc);
	return s;
}
