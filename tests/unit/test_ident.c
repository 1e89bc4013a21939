/* Unit tests of daemon/ident_reply.c: RFC 1413 replies, good, refused and
 * hostile, against the ports of the query asked. */
#include <check.h>
#include <string.h>

#include "check_main.h"
#include "ident_reply.h"

static struct ident_reply r;

static void
parse(const char *line)
{
	ident_reply_parse(line, strlen(line), 6191, 25, &r);
}

START_TEST(userid_and_error)
{
	parse("6191, 25 : USERID : UNIX : stjohns\r\n");
	ck_assert_int_eq(r.kind, IDENT_REPLY_USERID);
	ck_assert_str_eq(r.opsys, "UNIX");
	ck_assert_str_eq(r.user, "stjohns");
	/* RFC 1413's own examples: spaces optional, a charset after the
	 * opsys, colons inside the user id */
	parse("6191,25:USERID:OTHER,US-ASCII:a:b c");
	ck_assert_int_eq(r.kind, IDENT_REPLY_USERID);
	ck_assert_str_eq(r.opsys, "OTHER");
	ck_assert_str_eq(r.user, "a:b c");
	parse("6191 , 25 : ERROR : NO-USER\n");
	ck_assert_int_eq(r.kind, IDENT_REPLY_ERROR);
	ck_assert_str_eq(r.token, "NO-USER");
	parse("6191, 25 : error : X-LAB-REFUSED");
	ck_assert_int_eq(r.kind, IDENT_REPLY_ERROR);
	ck_assert_str_eq(ident_reply_kind_name(r.kind), "error");
}
END_TEST

START_TEST(wrong_ports_are_another_connection)
{
	parse("6192, 25 : USERID : UNIX : mallory");
	ck_assert_int_eq(r.kind, IDENT_REPLY_BAD);
	ck_assert_str_eq(r.why, "the ports of another connection");
	parse("6191, 26 : USERID : UNIX : mallory");
	ck_assert_int_eq(r.kind, IDENT_REPLY_BAD);
	parse("0, 25 : USERID : UNIX : x");
	ck_assert_int_eq(r.kind, IDENT_REPLY_BAD);
	parse("65536, 25 : USERID : UNIX : x");
	ck_assert_int_eq(r.kind, IDENT_REPLY_BAD);
	parse("006191, 25 : USERID : UNIX : x");	/* six digits */
	ck_assert_int_eq(r.kind, IDENT_REPLY_BAD);
}
END_TEST

START_TEST(malformed)
{
	const char *bad[] = {
		"", "\r\n", "garbage", "6191 25 : USERID : UNIX : x", "6191, 25", "6191, 25 : WHO : x",
		"6191, 25 : USERID", "6191, 25 : USERID : UNIX", "6191, 25 : USERID : UNIX :   ",
		"6191, 25 : USERID : : x", "6191, 25 : USERID : UN IX : x", "6191, 25 : ERROR",
		"6191, 25 : ERROR : ", "6191, 25 : ERROR : TWO WORDS",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		parse(bad[i]);
		ck_assert_msg(r.kind == IDENT_REPLY_BAD, "accepted: '%s'", bad[i]);
		ck_assert_ptr_nonnull(r.why);
	}
}
END_TEST

START_TEST(control_bytes_and_lengths_at_the_limit)
{
	char line[IDENT_REPLY_MAX + 8];
	size_t head;

	/* a NUL or a CR inside is refused, not cut short */
	ident_reply_parse("6191, 25 : USERID : UNIX : a\0b", 30, 6191, 25, &r);
	ck_assert_int_eq(r.kind, IDENT_REPLY_BAD);
	parse("6191, 25 : USERID : UNIX : a\rb");
	ck_assert_int_eq(r.kind, IDENT_REPLY_BAD);
	/* other control and 8-bit bytes are a user id's own: kept as sent,
	 * escaped by the log */
	parse("6191, 25 : USERID : UNIX : \x1b[31m\xff");
	ck_assert_int_eq(r.kind, IDENT_REPLY_USERID);
	ck_assert_uint_eq(r.user_len, 6);
	/* 512 octets of user id: ok; 513: refused */
	strcpy(line, "6191, 25 : USERID : UNIX : ");
	head = strlen(line);
	memset(line + head, 'u', IDENT_USER_MAX);
	line[head + IDENT_USER_MAX] = '\0';
	parse(line);
	ck_assert_int_eq(r.kind, IDENT_REPLY_USERID);
	ck_assert_uint_eq(r.user_len, IDENT_USER_MAX);
	line[head + IDENT_USER_MAX] = 'u';
	line[head + IDENT_USER_MAX + 1] = '\0';
	parse(line);
	ck_assert_int_eq(r.kind, IDENT_REPLY_BAD);
	ck_assert_str_eq(r.why, "user id over 512 octets");
}
END_TEST

START_TEST(line_end)
{
	char big[IDENT_REPLY_MAX + 10];

	ck_assert_uint_eq(ident_line_end("abc", 3), 0);
	ck_assert_uint_eq(ident_line_end("ab\r\nzz", 6), 4);
	ck_assert_uint_eq(ident_line_end("ab\nzz", 5), 3);
	memset(big, 'x', sizeof big);
	ck_assert_uint_eq(ident_line_end(big, IDENT_REPLY_MAX - 1), 0);
	ck_assert_uint_eq(ident_line_end(big, IDENT_REPLY_MAX), (size_t)-1);
	big[IDENT_REPLY_MAX - 1] = '\n';
	ck_assert_uint_eq(ident_line_end(big, sizeof big), IDENT_REPLY_MAX);
	big[IDENT_REPLY_MAX - 1] = 'x';
	big[IDENT_REPLY_MAX] = '\n';	/* one past the bound: too late */
	ck_assert_uint_eq(ident_line_end(big, sizeof big), (size_t)-1);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("ident");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, userid_and_error);
	tcase_add_test(tc, wrong_ports_are_another_connection);
	tcase_add_test(tc, malformed);
	tcase_add_test(tc, control_bytes_and_lengths_at_the_limit);
	tcase_add_test(tc, line_end);
	suite_add_tcase(s, tc);
	return s;
}
