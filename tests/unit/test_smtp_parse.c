/* Unit tests for the SMTP command parser: every verb, every reply, both
 * sides of each RFC 5321 length limit, and the hostile shapes from the
 * reliability matrix (A1 #11, A2 #15/#19, A3 #20-#22/#27). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "smtp_parse.h"

static struct smtp_command cmd;
static const struct smtp_reply *err;
static struct smtp_parse_limits lim = { 10 * 1024 * 1024 };

static int
parse_n(const char *line, size_t len)
{
	return smtp_parse_command(line, len, &lim, &cmd, &err);
}

static int
parse(const char *line)
{
	return parse_n(line, strlen(line));
}

/* Asserts the line parses, with the given verb. */
#define OK(line, v) do { \
	int rc_ = parse(line); \
	ck_assert_msg(rc_ == 0, "'%s': got %d %s", (line), rc_, \
	    err ? err->text : ""); \
	ck_assert_ptr_null(err); \
	ck_assert_int_eq(cmd.verb, (v)); \
} while (0)

/* Asserts the line is refused with this code and reply text. */
#define REPLY(line, c, want) do { \
	int rc_ = parse(line); \
	ck_assert_msg(rc_ == (c), "'%s': want %d, got %d", (line), (c), rc_); \
	ck_assert_ptr_nonnull(err); \
	ck_assert_int_eq(err->code, (c)); \
	ck_assert_str_eq(err->text, (want)); \
} while (0)

#define BAD_SYNTAX	"5.5.2 Error: bad syntax"
#define UNKNOWN		"5.5.2 Error: command not recognized"
#define BAD_SENDER	"5.1.7 Bad sender address syntax"
#define BAD_RCPT	"5.1.3 Bad recipient address syntax"
#define SIZE_SYNTAX	"5.5.4 Bad message size syntax"
#define SIZE_LIMIT	"5.3.4 Message size exceeds fixed maximum message size"
#define BODY_BAD	"5.5.4 Unsupported BODY parameter"
#define OPTION		"5.5.4 Unsupported option"
#define NO_ARGS		"5.5.4 Syntax error: no arguments allowed"
#define EHLO_SYNTAX	"5.5.4 Syntax: EHLO hostname"
#define HELO_SYNTAX	"5.5.4 Syntax: HELO hostname"

static char big[4096];

/* prefix + n copies of c + suffix, in a static buffer. */
static const char *
build(const char *prefix, char c, size_t n, const char *suffix)
{
	size_t p = strlen(prefix);

	ck_assert_uint_lt(p + n + strlen(suffix), sizeof(big));
	memcpy(big, prefix, p);
	memset(big + p, c, n);
	strcpy(big + p + n, suffix);
	return big;
}

/* A domain of exactly n octets: 63-octet labels joined by dots. */
static void
make_domain(char *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = (i % 64 == 63) ? '.' : 'd';
	if (n > 0 && out[n - 1] == '.')
		out[n - 1] = 'e';
	out[n] = '\0';
}

START_TEST(verbs_all)
{
	OK("EHLO mx.example.org", CMD_EHLO);
	OK("HELO mx.example.org", CMD_HELO);
	OK("MAIL FROM:<a@b.example>", CMD_MAIL);
	OK("RCPT TO:<a@b.example>", CMD_RCPT);
	OK("DATA", CMD_DATA);
	OK("RSET", CMD_RSET);
	OK("NOOP", CMD_NOOP);
	OK("QUIT", CMD_QUIT);
	OK("VRFY user", CMD_VRFY);
	OK("HELP", CMD_HELP);
}
END_TEST

START_TEST(verbs_case_insensitive)
{
	OK("ehlo x", CMD_EHLO);
	OK("HeLo x", CMD_HELO);
	OK("mail from:<a@b>", CMD_MAIL);
	OK("rCpT tO:<a@b>", CMD_RCPT);
	OK("data", CMD_DATA);
	OK("rset", CMD_RSET);
	OK("nOoP", CMD_NOOP);
	OK("quit", CMD_QUIT);
	OK("vrfy x", CMD_VRFY);
	OK("help", CMD_HELP);
}
END_TEST

START_TEST(verbs_unknown)
{
	REPLY("FOO", 500, UNKNOWN);
	REPLY("EHLOX foo", 500, UNKNOWN);
	REPLY("EHL", 500, UNKNOWN);
	REPLY("MAILFROM:<a@b>", 500, UNKNOWN);
	REPLY("STARTTLS", 500, UNKNOWN);
	REPLY("AUTH PLAIN x", 500, UNKNOWN);
	REPLY(" EHLO x", 500, UNKNOWN);	/* the verb must open the line */
	REPLY("\tQUIT", 500, UNKNOWN);
	REPLY("QU\xc3\x8dT", 500, UNKNOWN);	/* 8-bit in the verb */
	REPLY("MA\xc4\xb0L FROM:<a@b>", 500, UNKNOWN);
	ck_assert_int_eq(cmd.verb, CMD_UNKNOWN);
}
END_TEST

START_TEST(verb_names)
{
	ck_assert_str_eq(smtp_verb_name(CMD_EHLO), "EHLO");
	ck_assert_str_eq(smtp_verb_name(CMD_HELO), "HELO");
	ck_assert_str_eq(smtp_verb_name(CMD_MAIL), "MAIL");
	ck_assert_str_eq(smtp_verb_name(CMD_RCPT), "RCPT");
	ck_assert_str_eq(smtp_verb_name(CMD_DATA), "DATA");
	ck_assert_str_eq(smtp_verb_name(CMD_RSET), "RSET");
	ck_assert_str_eq(smtp_verb_name(CMD_NOOP), "NOOP");
	ck_assert_str_eq(smtp_verb_name(CMD_QUIT), "QUIT");
	ck_assert_str_eq(smtp_verb_name(CMD_VRFY), "VRFY");
	ck_assert_str_eq(smtp_verb_name(CMD_HELP), "HELP");
	ck_assert_str_eq(smtp_verb_name(CMD_UNKNOWN), "UNKNOWN");
	ck_assert_str_eq(smtp_verb_name(CMD_VERB_COUNT), "UNKNOWN");
	ck_assert_str_eq(smtp_verb_name((enum smtp_verb)-1), "UNKNOWN");
}
END_TEST

START_TEST(empty_and_blank_lines)
{
	REPLY("", 500, BAD_SYNTAX);
	ck_assert_int_eq(smtp_parse_command(NULL, 0, &lim, &cmd, &err), 500);
	REPLY(" ", 500, UNKNOWN);
	REPLY("   \t ", 500, UNKNOWN);
}
END_TEST

START_TEST(control_bytes)
{
	REPLY("NOOP a\rb", 500, BAD_SYNTAX);
	REPLY("NOOP a\nb", 500, BAD_SYNTAX);
	REPLY("EHLO x\r", 500, BAD_SYNTAX);
	REPLY("NOOP \x1b[31m", 500, BAD_SYNTAX);
	REPLY("NOOP \x7f", 500, BAD_SYNTAX);
	REPLY("QUIT\x01", 500, BAD_SYNTAX);
	REPLY("\x04QUIT", 500, BAD_SYNTAX);
	OK("NOOP a\tb", CMD_NOOP);	/* TAB is the tolerated one */
	ck_assert_str_eq(cmd.arg, "a\tb");
}
END_TEST

/* A NUL must never truncate the line: "QUIT\0junk" is not QUIT. */
START_TEST(nul_anywhere)
{
	static const char *lines[] = {
		"HELO a\0b", "MAIL FROM:<a\0@b>", "QUIT\0", "\0QUIT",
		"RCPT TO:<a@b>\0 NOTIFY=NEVER", "NOOP \0", "VRFY x\0y",
	};
	static const size_t lens[] = { 8, 17, 5, 5, 27, 6, 8 };
	size_t i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		ck_assert_int_eq(parse_n(lines[i], lens[i]), 500);
		ck_assert_str_eq(err->text, BAD_SYNTAX);
	}
}
END_TEST

START_TEST(spacing)
{
	OK("EHLO   mx.example  ", CMD_EHLO);
	ck_assert_str_eq(cmd.arg, "mx.example");
	OK("EHLO\tmx.example\t", CMD_EHLO);
	ck_assert_str_eq(cmd.arg, "mx.example");
	OK("MAIL\tFROM:<a@b>", CMD_MAIL);
	OK("MAIL FROM:   <a@b>   SIZE=10    BODY=8BITMIME   ", CMD_MAIL);
	ck_assert_str_eq(cmd.path, "a@b");
	ck_assert_int_eq(cmd.size, 10);
	ck_assert_int_eq(cmd.body, BODY_8BITMIME);
	OK("RCPT TO:\t<a@b>\t", CMD_RCPT);
	OK("QUIT   ", CMD_QUIT);
	OK("DATA\t", CMD_DATA);
	OK("NOOP   hello   world  ", CMD_NOOP);
	ck_assert_str_eq(cmd.arg, "hello   world");
	REPLY("MAIL FROM :<a@b>", 501, "5.5.4 Syntax: MAIL FROM:<address>");
	REPLY("MAIL FROM<a@b>", 501, "5.5.4 Syntax: MAIL FROM:<address>");
	REPLY("RCPT TO :<a@b>", 501, "5.5.4 Syntax: RCPT TO:<address>");
}
END_TEST

START_TEST(hello_args)
{
	OK("EHLO mx.example.org", CMD_EHLO);
	ck_assert_str_eq(cmd.arg, "mx.example.org");
	OK("EHLO [192.0.2.1]", CMD_EHLO);
	ck_assert_str_eq(cmd.arg, "[192.0.2.1]");
	OK("HELO [IPv6:2001:db8::1]", CMD_HELO);
	OK("EHLO [ipv6:::1]", CMD_EHLO);
	OK("EHLO under_score.example", CMD_EHLO);	/* RFC 5321 4.1.4 */
	REPLY("EHLO", 501, EHLO_SYNTAX);
	REPLY("EHLO    ", 501, EHLO_SYNTAX);
	REPLY("HELO", 501, HELO_SYNTAX);
	REPLY("EHLO a b", 501, EHLO_SYNTAX);
	REPLY("HELO a\tb", 501, HELO_SYNTAX);
	REPLY("EHLO [1.2.3]", 501, EHLO_SYNTAX);
	REPLY("EHLO [1.2.3.4", 501, EHLO_SYNTAX);
	REPLY("EHLO [IPv6:zz]", 501, EHLO_SYNTAX);
	REPLY("EHLO [tag:content]", 501, EHLO_SYNTAX);
	REPLY("EHLO []", 501, EHLO_SYNTAX);
	REPLY("EHLO m\xc3\xbcnchen.example", 501, EHLO_SYNTAX);
	REPLY("HELO \xff", 501, HELO_SYNTAX);
}
END_TEST

START_TEST(hello_length)
{
	char line[600];

	strcpy(line, "EHLO ");
	make_domain(line + 5, 255);
	OK(line, CMD_EHLO);
	ck_assert_uint_eq(strlen(cmd.arg), 255);
	make_domain(line + 5, 256);
	REPLY(line, 501, EHLO_SYNTAX);
	REPLY(build("HELO ", 'a', 2000, ""), 501, HELO_SYNTAX);
}
END_TEST

START_TEST(no_arg_verbs)
{
	REPLY("DATA x", 501, NO_ARGS);
	REPLY("RSET now", 501, NO_ARGS);
	REPLY("QUIT please", 501, NO_ARGS);
	REPLY("DATA \xff", 501, NO_ARGS);
	ck_assert_int_eq(cmd.verb, CMD_DATA);
}
END_TEST

START_TEST(optional_arg_verbs)
{
	OK("NOOP", CMD_NOOP);
	ck_assert_str_eq(cmd.arg, "");
	OK("NOOP anything at all", CMD_NOOP);
	ck_assert_str_eq(cmd.arg, "anything at all");
	OK("HELP MAIL", CMD_HELP);
	ck_assert_str_eq(cmd.arg, "MAIL");
	OK("VRFY postmaster", CMD_VRFY);
	ck_assert_str_eq(cmd.arg, "postmaster");
	OK("VRFY J\xc3\xbcrgen <j@example>", CMD_VRFY);	/* 8-bit allowed */
	ck_assert_str_eq(cmd.arg, "J\xc3\xbcrgen <j@example>");
	OK("HELP \x80\xff", CMD_HELP);
	OK("NOOP \xe2\x82\xac", CMD_NOOP);
	REPLY("VRFY", 501, "5.5.4 Syntax: VRFY address");
	REPLY("VRFY   ", 501, "5.5.4 Syntax: VRFY address");
}
END_TEST

START_TEST(optional_arg_length)
{
	OK(build("NOOP ", 'x', SMTP_ARG_MAX - 1, ""), CMD_NOOP);
	ck_assert_uint_eq(strlen(cmd.arg), SMTP_ARG_MAX - 1);
	REPLY(build("NOOP ", 'x', SMTP_ARG_MAX, ""), 501,
	    "5.5.4 Syntax: NOOP [string]");
	REPLY(build("HELP ", 'x', 3000, ""), 501,
	    "5.5.4 Syntax: HELP [keyword]");
	REPLY(build("VRFY ", 'x', 3000, ""), 501,
	    "5.5.4 Syntax: VRFY address");
}
END_TEST

START_TEST(mail_paths)
{
	OK("MAIL FROM:<user@example.org>", CMD_MAIL);
	ck_assert_str_eq(cmd.path, "user@example.org");
	ck_assert_int_eq(cmd.null_path, 0);
	ck_assert_int_eq(cmd.has_size, 0);
	ck_assert_int_eq(cmd.body, BODY_UNSPECIFIED);
	OK("MAIL FROM:<>", CMD_MAIL);
	ck_assert_int_eq(cmd.null_path, 1);
	ck_assert_str_eq(cmd.path, "");
	OK("MAIL FROM: <>", CMD_MAIL);
	ck_assert_int_eq(cmd.null_path, 1);
	OK("MAIL FROM:<first.last+tag@sub-1.example.org>", CMD_MAIL);
	OK("MAIL FROM:<a@[192.0.2.7]>", CMD_MAIL);
	OK("MAIL FROM:<a@[IPv6:2001:db8::7]>", CMD_MAIL);
	OK("MAIL FROM:<\"john doe\"@example.org>", CMD_MAIL);
	ck_assert_str_eq(cmd.path, "\"john doe\"@example.org");
	OK("MAIL FROM:<\"a>b\\\"c\"@example.org>", CMD_MAIL);
	ck_assert_str_eq(cmd.path, "\"a>b\\\"c\"@example.org");
	OK("MAIL FROM:<\"\"@example.org>", CMD_MAIL);
	OK("MAIL FROM:<1@2.3>", CMD_MAIL);
}
END_TEST

START_TEST(mail_bad_paths)
{
	static const char *bad[] = {
		"MAIL FROM:a@b", "MAIL FROM:", "MAIL FROM:<a@b",
		"MAIL FROM:a@b>", "MAIL FROM:<a@b>x", "MAIL FROM:<a@b>SIZE=1",
		"MAIL FROM:<@>", "MAIL FROM:<a@>", "MAIL FROM:<@b>",
		"MAIL FROM:<a>", "MAIL FROM:<postmaster>", "MAIL FROM:< a@b>",
		"MAIL FROM:<a @b>", "MAIL FROM:<a@b c>", "MAIL FROM:<.a@b>",
		"MAIL FROM:<a.@b>", "MAIL FROM:<a..b@c>", "MAIL FROM:<a@b.>",
		"MAIL FROM:<a@.b>", "MAIL FROM:<a@b..c>", "MAIL FROM:<a@-b>",
		"MAIL FROM:<a@b->", "MAIL FROM:<a@b_c>", "MAIL FROM:<a@@b>",
		"MAIL FROM:<a@b@c>", "MAIL FROM:<a(b)@c>", "MAIL FROM:<\"a@b>",
		"MAIL FROM:<\"a\"b@c>", "MAIL FROM:<a@[1.2.3.4>",
		"MAIL FROM:<a@[300.1.1.1]>", "MAIL FROM:<a@[IPv6:1.2.3.4]>",
		"MAIL FROM:<a@[x]>", "MAIL FROM:<<a@b>>", "MAIL FROM:<a@b>>",
		"MAIL FROM:<\"a\\\">", "MAIL FROM:<a\xc3\xa9@b>",
		"MAIL FROM:<a@b\xc3\xa9.c>", "MAIL FROM:<\"\xff\"@b>",
		"MAIL FROM:<\"a\\\xff\"@b>",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		REPLY(bad[i], 501, BAD_SENDER);
}
END_TEST

START_TEST(rcpt_paths)
{
	OK("RCPT TO:<user@example.org>", CMD_RCPT);
	ck_assert_str_eq(cmd.path, "user@example.org");
	OK("RCPT TO:<postmaster>", CMD_RCPT);
	ck_assert_str_eq(cmd.path, "postmaster");
	OK("RCPT TO:<PostMaster>", CMD_RCPT);
	ck_assert_str_eq(cmd.path, "PostMaster");
	OK("RCPT TO:<postmaster@example.org>", CMD_RCPT);
	REPLY("RCPT TO:<>", 501, BAD_RCPT);
	ck_assert_int_eq(cmd.null_path, 0);
	REPLY("RCPT TO:<postmasterx>", 501, BAD_RCPT);
	REPLY("RCPT TO:<postmaste>", 501, BAD_RCPT);
	REPLY("RCPT TO:<a>", 501, BAD_RCPT);
	REPLY("RCPT TO:a@b", 501, BAD_RCPT);
	REPLY("RCPT TO:<a@b", 501, BAD_RCPT);
	REPLY("RCPT TO:<a b@c>", 501, BAD_RCPT);
	REPLY("RCPT FROM:<a@b>", 501, "5.5.4 Syntax: RCPT TO:<address>");
	REPLY("RCPT", 501, "5.5.4 Syntax: RCPT TO:<address>");
	REPLY("MAIL", 501, "5.5.4 Syntax: MAIL FROM:<address>");
}
END_TEST

START_TEST(source_routes)
{
	OK("MAIL FROM:<@a.example,@b.example:user@c.example>", CMD_MAIL);
	ck_assert_str_eq(cmd.path, "user@c.example");
	OK("RCPT TO:<@relay.example:user@c.example>", CMD_RCPT);
	ck_assert_str_eq(cmd.path, "user@c.example");
	OK("RCPT TO:<@[192.0.2.1]:user@c.example>", CMD_RCPT);
	OK("RCPT TO:<@a:postmaster>", CMD_RCPT);
	ck_assert_str_eq(cmd.path, "postmaster");
	REPLY("MAIL FROM:<@a.example:>", 501, BAD_SENDER);
	REPLY("MAIL FROM:<@a.example>", 501, BAD_SENDER);
	REPLY("MAIL FROM:<@a.example,user@c>", 501, BAD_SENDER);
	REPLY("MAIL FROM:<@:user@c>", 501, BAD_SENDER);
	REPLY("MAIL FROM:<@a,:user@c>", 501, BAD_SENDER);
	REPLY("MAIL FROM:<@a,b:user@c>", 501, BAD_SENDER);
	REPLY("MAIL FROM:<@a;b:user@c>", 501, BAD_SENDER);
	REPLY("RCPT TO:<@a.example:>", 501, BAD_RCPT);
}
END_TEST

/* CVE-2020-7247: OpenSMTPD let "<;sleep 66;>" through as a sender. */
START_TEST(cve_2020_7247_shapes)
{
	static const char *shapes[] = {
		"<;sleep 66;>", "<;sleep 66;@example.org>", "<a;b@c>",
		"<|cmd>", "<`id`>", "<$(id)@x>", "<a@b;c>", "<a@$(id)>",
		"<;ping -c1 x;@>", "<a@b `id`>", "<a&&b>", "<a@b|c>",
		"<\"; sleep 66 \">", "<a\\@b@c>", "<a@b\\c>",
	};
	char line[128];
	size_t i;

	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		snprintf(line, sizeof(line), "MAIL FROM:%s", shapes[i]);
		REPLY(line, 501, BAD_SENDER);
		snprintf(line, sizeof(line), "RCPT TO:%s", shapes[i]);
		REPLY(line, 501, BAD_RCPT);
	}
}
END_TEST

START_TEST(local_part_limit)
{
	char line[600];

	snprintf(line, sizeof(line), "MAIL FROM:<%s@example.org>",
	    build("", 'l', 64, ""));
	OK(line, CMD_MAIL);
	ck_assert_uint_eq(strlen(cmd.path), 64 + 12);
	snprintf(line, sizeof(line), "MAIL FROM:<%s@example.org>",
	    build("", 'l', 65, ""));
	REPLY(line, 501, BAD_SENDER);
	/* A quoted local part counts its quotes: 62 + 2 = 64. */
	snprintf(line, sizeof(line), "RCPT TO:<\"%s\"@example.org>",
	    build("", 'q', 62, ""));
	OK(line, CMD_RCPT);
	snprintf(line, sizeof(line), "RCPT TO:<\"%s\"@example.org>",
	    build("", 'q', 63, ""));
	REPLY(line, 501, BAD_RCPT);
}
END_TEST

/* The path limit (256, without brackets) binds before the domain limit
 * can inside an address: a 255-octet domain needs "x@" too, 257 in all.
 * So the domain's own 255/256 edge is tested with EHLO, and here with a
 * source route, whose domains are checked and then dropped. */
START_TEST(domain_limit)
{
	char dom[300], line[700];

	make_domain(dom, 254);
	snprintf(line, sizeof(line), "MAIL FROM:<x@%s>", dom);
	OK(line, CMD_MAIL);
	ck_assert_uint_eq(strlen(cmd.path), 256);
	make_domain(dom, 255);
	snprintf(line, sizeof(line), "MAIL FROM:<x@%s>", dom);
	REPLY(line, 501, BAD_SENDER);
	make_domain(dom, 256);
	snprintf(line, sizeof(line), "RCPT TO:<x@%s>", dom);
	REPLY(line, 501, BAD_RCPT);
	/* Labels: 63 octets pass, 64 fail. */
	snprintf(line, sizeof(line), "MAIL FROM:<x@%s.example>",
	    build("", 'L', 63, ""));
	OK(line, CMD_MAIL);
	snprintf(line, sizeof(line), "MAIL FROM:<x@%s.example>",
	    build("", 'L', 64, ""));
	REPLY(line, 501, BAD_SENDER);
}
END_TEST

START_TEST(path_limit)
{
	char line[700];

	/* 64 + 1 + 191 = 256 octets between the brackets. */
	snprintf(line, sizeof(line), "MAIL FROM:<%s@", build("", 'l', 64, ""));
	make_domain(line + strlen(line), 191);
	strcat(line, ">");
	OK(line, CMD_MAIL);
	ck_assert_uint_eq(strlen(cmd.path), SMTP_PATH_MAX);
	snprintf(line, sizeof(line), "MAIL FROM:<%s@", build("", 'l', 64, ""));
	make_domain(line + strlen(line), 192);
	strcat(line, ">");
	REPLY(line, 501, BAD_SENDER);
	/* A source route counts towards the path: 19 + 237 = 256. */
	snprintf(line, sizeof(line), "RCPT TO:<@route.example.org:%s@",
	    build("", 'l', 64, ""));
	make_domain(line + strlen(line), 172);
	strcat(line, ">");
	OK(line, CMD_RCPT);
	ck_assert_uint_eq(strlen(cmd.path), 64 + 1 + 172);
	snprintf(line, sizeof(line), "RCPT TO:<@route.example.org:%s@",
	    build("", 'l', 64, ""));
	make_domain(line + strlen(line), 173);
	strcat(line, ">");
	REPLY(line, 501, BAD_RCPT);
	/* Far past every buffer. */
	REPLY(build("MAIL FROM:<", 'a', 3000, "@b>"), 501, BAD_SENDER);
	REPLY(build("RCPT TO:<a@", 'b', 3000, ">"), 501, BAD_RCPT);
	REPLY(build("MAIL FROM:<a@b> SIZE=", '9', 3000, ""), 501,
	    SIZE_SYNTAX);
}
END_TEST

START_TEST(size_param)
{
	OK("MAIL FROM:<a@b> SIZE=0", CMD_MAIL);
	ck_assert_int_eq(cmd.has_size, 1);
	ck_assert_uint_eq(cmd.size, 0);
	OK("MAIL FROM:<> size=1000", CMD_MAIL);
	ck_assert_uint_eq(cmd.size, 1000);
	OK("MAIL FROM:<a@b> SiZe=000042", CMD_MAIL);
	ck_assert_uint_eq(cmd.size, 42);
	OK("MAIL FROM:<a@b> SIZE=10485760", CMD_MAIL);	/* == limit */
	REPLY("MAIL FROM:<a@b> SIZE=10485761", 552, SIZE_LIMIT);
	REPLY("MAIL FROM:<a@b> SIZE=99999999999", 552, SIZE_LIMIT);
	REPLY("MAIL FROM:<a@b> SIZE=18446744073709551615", 552, SIZE_LIMIT);
	REPLY("MAIL FROM:<a@b> SIZE=18446744073709551616", 501, SIZE_SYNTAX);
	REPLY("MAIL FROM:<a@b> SIZE=99999999999999999999", 501, SIZE_SYNTAX);
	REPLY("MAIL FROM:<a@b> SIZE=184467440737095516150", 501, SIZE_SYNTAX);
	REPLY("MAIL FROM:<a@b> SIZE=", 501, SIZE_SYNTAX);
	REPLY("MAIL FROM:<a@b> SIZE", 501, SIZE_SYNTAX);
	REPLY("MAIL FROM:<a@b> SIZE=x", 501, SIZE_SYNTAX);
	REPLY("MAIL FROM:<a@b> SIZE=12k", 501, SIZE_SYNTAX);
	REPLY("MAIL FROM:<a@b> SIZE=-1", 501, SIZE_SYNTAX);
	REPLY("MAIL FROM:<a@b> SIZE=+1", 501, SIZE_SYNTAX);
	REPLY("MAIL FROM:<a@b> SIZE=1=2", 501, SIZE_SYNTAX);
	/* a keyword once only; the duplicate is judged before its value */
	REPLY("MAIL FROM:<a@b> SIZE=1 SIZE=1", 501, "5.5.4 Error: duplicate SIZE parameter");
	REPLY("MAIL FROM:<a@b> SIZE=1 size=99999999999", 501, "5.5.4 Error: duplicate SIZE parameter");
	REPLY("MAIL FROM:<a@b> SIZE=1 BODY=7BIT SIZE=x", 501, "5.5.4 Error: duplicate SIZE parameter");
	REPLY("MAIL FROM:<a@b> BODY=7BIT BODY=8BITMIME", 501, "5.5.4 Error: duplicate BODY parameter");
	REPLY("MAIL FROM:<a@b> SIZE=\"", 501, SIZE_SYNTAX);
	REPLY("MAIL FROM:<a@b> SIZE=\xd9\xa1", 501, SIZE_SYNTAX);
}
END_TEST

START_TEST(size_without_limit)
{
	struct smtp_parse_limits none = { 0 };
	const char *l = "MAIL FROM:<a@b> SIZE=18446744073709551615";

	ck_assert_int_eq(smtp_parse_command(l, strlen(l), &none, &cmd, &err), 0);
	ck_assert_uint_eq(cmd.size, UINT64_MAX);
	ck_assert_int_eq(smtp_parse_command(l, strlen(l), NULL, &cmd, &err), 0);
	ck_assert_uint_eq(cmd.size, UINT64_MAX);
}
END_TEST

START_TEST(body_param)
{
	OK("MAIL FROM:<a@b> BODY=7BIT", CMD_MAIL);
	ck_assert_int_eq(cmd.body, BODY_7BIT);
	OK("MAIL FROM:<a@b> body=8bitmime", CMD_MAIL);
	ck_assert_int_eq(cmd.body, BODY_8BITMIME);
	OK("MAIL FROM:<a@b> SIZE=5 BODY=8BITMIME", CMD_MAIL);
	ck_assert_int_eq(cmd.body, BODY_8BITMIME);
	ck_assert_uint_eq(cmd.size, 5);
	REPLY("MAIL FROM:<a@b> BODY=BINARYMIME", 501, BODY_BAD);
	REPLY("MAIL FROM:<a@b> BODY=", 501, BODY_BAD);
	REPLY("MAIL FROM:<a@b> BODY", 501, BODY_BAD);
	REPLY("MAIL FROM:<a@b> BODY=8BIT", 501, BODY_BAD);
	REPLY("MAIL FROM:<a@b> BODY=7BITX", 501, BODY_BAD);
}
END_TEST

START_TEST(unknown_params)
{
	REPLY("MAIL FROM:<a@b> AUTH=<>", 555, OPTION);
	REPLY("MAIL FROM:<a@b> SMTPUTF8", 555, OPTION);
	REPLY("MAIL FROM:<a@b> RET=HDRS", 555, OPTION);
	REPLY("MAIL FROM:<a@b> SIZE=1 XFOO", 555, OPTION);
	REPLY("MAIL FROM:<a@b> SIZEX=1", 555, OPTION);
	REPLY("RCPT TO:<a@b> NOTIFY=NEVER", 555, OPTION);
	REPLY("RCPT TO:<a@b> ORCPT=rfc822;a+0Ab", 555, OPTION);
	REPLY("RCPT TO:<a@b> SIZE=1", 555, OPTION);
	REPLY("RCPT TO:<postmaster> X", 555, OPTION);
	REPLY("MAIL FROM:<a@b> \xc3\xa9=1", 555, OPTION);
	/* The first bad parameter answers. */
	REPLY("MAIL FROM:<a@b> XFOO SIZE=x", 555, OPTION);
	REPLY("MAIL FROM:<a@b> SIZE=x XFOO", 501, SIZE_SYNTAX);
}
END_TEST

/* CVE-2020-28022 (Exim extract_option): '=' shapes at the line's end. */
START_TEST(equals_shapes)
{
	static const char *shapes[] = {
		"=", "\"=", "=\"", "==", "=1", "-=1", "-SIZE=1", "a_b=1",
		"=====", "\"", "\"=\"",
	};
	char line[64];
	size_t i;

	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		snprintf(line, sizeof(line), "MAIL FROM:<a@b> %s", shapes[i]);
		REPLY(line, 555, OPTION);
		snprintf(line, sizeof(line), "RCPT TO:<a@b> %s", shapes[i]);
		REPLY(line, 555, OPTION);
	}
	REPLY("MAIL FROM:<a@b>=", 501, BAD_SENDER);
	REPLY("MAIL FROM:<a@b> SIZE==", 501, SIZE_SYNTAX);
}
END_TEST

/* An earlier failure must leave no stale data in *cmd. */
START_TEST(command_reset)
{
	OK("MAIL FROM:<a@b> SIZE=9 BODY=7BIT", CMD_MAIL);
	OK("MAIL FROM:<>", CMD_MAIL);
	ck_assert_int_eq(cmd.has_size, 0);
	ck_assert_int_eq(cmd.body, BODY_UNSPECIFIED);
	ck_assert_str_eq(cmd.path, "");
	OK("NOOP x", CMD_NOOP);
	OK("NOOP", CMD_NOOP);
	ck_assert_str_eq(cmd.arg, "");
	OK("QUIT", CMD_QUIT);
	ck_assert_ptr_null(err);
}
END_TEST

/* Lines far longer than any caller passes must still be safe. */
START_TEST(huge_lines)
{
	size_t n = 1 << 20;
	char *p = malloc(n);

	ck_assert_ptr_nonnull(p);
	memcpy(p, "NOOP ", 5);
	memset(p + 5, 'x', n - 5);
	ck_assert_int_eq(parse_n(p, n), 501);
	memcpy(p, "MAIL FROM:<", 11);
	ck_assert_int_eq(parse_n(p, n), 501);
	memcpy(p, "EHLO ", 5);
	ck_assert_int_eq(parse_n(p, n), 501);
	p[n - 1] = '\0';
	ck_assert_int_eq(parse_n(p, n), 500);
	free(p);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("smtp_parse");
	TCase *v = tcase_create("verbs");
	TCase *a = tcase_create("addresses");
	TCase *p = tcase_create("params");

	tcase_add_test(v, verbs_all);
	tcase_add_test(v, verbs_case_insensitive);
	tcase_add_test(v, verbs_unknown);
	tcase_add_test(v, verb_names);
	tcase_add_test(v, empty_and_blank_lines);
	tcase_add_test(v, control_bytes);
	tcase_add_test(v, nul_anywhere);
	tcase_add_test(v, spacing);
	tcase_add_test(v, hello_args);
	tcase_add_test(v, hello_length);
	tcase_add_test(v, no_arg_verbs);
	tcase_add_test(v, optional_arg_verbs);
	tcase_add_test(v, optional_arg_length);
	tcase_add_test(v, command_reset);
	tcase_add_test(v, huge_lines);
	tcase_add_test(a, mail_paths);
	tcase_add_test(a, mail_bad_paths);
	tcase_add_test(a, rcpt_paths);
	tcase_add_test(a, source_routes);
	tcase_add_test(a, cve_2020_7247_shapes);
	tcase_add_test(a, local_part_limit);
	tcase_add_test(a, domain_limit);
	tcase_add_test(a, path_limit);
	tcase_add_test(p, size_param);
	tcase_add_test(p, size_without_limit);
	tcase_add_test(p, body_param);
	tcase_add_test(p, unknown_params);
	tcase_add_test(p, equals_shapes);
	suite_add_tcase(s, v);
	suite_add_tcase(s, a);
	suite_add_tcase(s, p);
	return s;
}
