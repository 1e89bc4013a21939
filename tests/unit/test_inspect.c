/* Unit tests for slowrelay's SMTP inspection (PIX / ASA): the masked
 * banner, the allowed commands per mode, X's over any chunking, the ASA's
 * 512-byte line and 100-RCPT drops, the multi-line banner, STARTTLS, and
 * the stream's length kept in every case. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../../tools/slowrelay/inspect.h"

#define OUT_MAX 65536

struct run {
	struct inspect in;
	int notes;
	enum inspect_action action[256];
	char detail[256][80];
	uint8_t out[OUT_MAX];
	size_t out_len, in_len;
	int drop;
};

static void
note_cb(void *arg, enum inspect_action action, const char *detail)
{
	struct run *r = arg;

	if (r->notes < 256) {
		r->action[r->notes] = action;
		snprintf(r->detail[r->notes], sizeof r->detail[0], "%s", detail);
	}
	r->notes++;
}

static struct run *
run_new(enum inspect_mode mode)
{
	struct run *r = calloc(1, sizeof *r);

	ck_assert_ptr_nonnull(r);
	inspect_init(&r->in, mode, note_cb, r);
	return r;
}

/* Feeds text from one side in pieces of chunk bytes, checks the room the
 * contract promises, and appends what comes out. */
static void
feed(struct run *r, int from_client, const char *text, size_t chunk)
{
	size_t len = strlen(text);

	for (size_t i = 0; i < len; i += chunk) {
		size_t n = len - i < chunk ? len - i : chunk, m;

		ck_assert_uint_le(r->out_len + n + INSPECT_HOLD_MAX, OUT_MAX);
		m = from_client ?
		    inspect_from_client(&r->in, (const uint8_t *)text + i, n, r->out + r->out_len, &r->drop) :
		    inspect_from_server(&r->in, (const uint8_t *)text + i, n, r->out + r->out_len, &r->drop);
		ck_assert_uint_le(m, n + INSPECT_HOLD_MAX);
		r->out_len += m;
		r->in_len += n;
		if (r->drop)
			return;
	}
}

/* What came out since the last take, as a string; the length check is
 * the "packet lengths are never changed" rule. */
static void
expect_out(struct run *r, const char *want)
{
	ck_assert_uint_eq(r->out_len, r->in_len);
	ck_assert_uint_eq(r->out_len, strlen(want));
	ck_assert_mem_eq(r->out, want, r->out_len);
	r->out_len = r->in_len = 0;
}

static const char *
through(enum inspect_mode mode, int from_client, const char *text, size_t chunk)
{
	static char buf[OUT_MAX];
	struct run *r = run_new(mode);

	if (from_client)
		feed(r, 0, "220 x\r\n", 64);
	r->out_len = r->in_len = 0;
	feed(r, from_client, text, chunk);
	ck_assert_int_eq(r->drop, 0);
	ck_assert_uint_eq(r->out_len, r->in_len);
	memcpy(buf, r->out, r->out_len);
	buf[r->out_len] = '\0';
	free(r);
	return buf;
}

START_TEST(banner_masked_pix)
{
	struct run *r = run_new(INSPECT_PIX);

	feed(r, 0, "220 mx0.example.com ESMTP Postfix 2.0\r\n", 7);
	expect_out(r, "220 **0************ ***** ******* 2*0\r\n");
	ck_assert_int_eq(r->notes, 1);
	ck_assert_int_eq(r->action[0], INSPECT_BANNER_MASKED);
	ck_assert_str_eq(r->detail[0], "lines=1 bytes=39");
	feed(r, 0, "250 mx0 Hello\r\n", 3);	/* replies after the greeting pass */
	expect_out(r, "250 mx0 Hello\r\n");
	free(r);
}
END_TEST

START_TEST(banner_masked_asa_and_pix44)
{
	ck_assert_str_eq(through(INSPECT_ASA, 0, "220 a1 b2\r\n", 1), "220 ** *2\r\n");
	ck_assert_str_eq(through(INSPECT_PIX44, 0, "220 a1 b2\r\n", 100), "*********\r\n");
}
END_TEST

START_TEST(multiline_banner_loses_final_line)
{
	struct run *r = run_new(INSPECT_PIX);

	for (size_t chunk = 1; chunk < 40; chunk++) {
		inspect_init(&r->in, INSPECT_PIX, note_cb, r);
		r->notes = 0;
		feed(r, 0, "220-mx0 first\r\n220-second\r\n220 last\r\n", chunk);
		expect_out(r, "220-**0 *****\r\n**********\r\n********\r\n");
		ck_assert_int_eq(r->notes, 1);
		ck_assert_str_eq(r->detail[0], "lines=3 bytes=37");
	}
	free(r);
}
END_TEST

/* Every verb, in each mode: allowed as sent, or the whole line but its
 * CRLF overwritten with X's. */
START_TEST(allowed_commands_per_mode)
{
	static const char *pix[] = { "HELO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT" };
	static const char *asa_only[] = { "AUTH", "EHLO", "ETRN", "HELP", "SAML", "SEND", "SOML", "VRFY" };
	static const char *never[] = { "STARTTLS", "BDAT", "XEXCH50", "TURN", "EXPN", "HELOX", "X" };
	char line[64], x[64];

	for (size_t i = 0; i < 7; i++) {
		snprintf(line, sizeof line, "%s arg\r\n", pix[i]);
		ck_assert_str_eq(through(INSPECT_PIX, 1, line, 2), line);
		ck_assert_str_eq(through(INSPECT_ASA, 1, line, 2), line);
	}
	for (size_t i = 0; i < 8; i++) {
		snprintf(line, sizeof line, "%s arg\r\n", asa_only[i]);
		ck_assert_str_eq(through(INSPECT_ASA, 1, line, 3), line);
		ck_assert_str_eq(through(INSPECT_PIX, 1, line, 3), "XXXXXXXX\r\n");
	}
	for (size_t i = 0; i < 7; i++) {
		size_t n = strlen(never[i]);

		snprintf(line, sizeof line, "%s\r\n", never[i]);
		memset(x, 'X', n);
		memcpy(x + n, "\r\n", 3);
		ck_assert_str_eq(through(INSPECT_ASA, 1, line, 1), x);
		ck_assert_str_eq(through(INSPECT_PIX, 1, line, 64), x);
	}
	ck_assert_str_eq(through(INSPECT_PIX, 1, "helo lower\r\n", 1), "helo lower\r\n");
	ck_assert_str_eq(through(INSPECT_PIX, 1, "\r\n", 1), "\r\n");
}
END_TEST

START_TEST(rewrite_logged_with_verb)
{
	struct run *r = run_new(INSPECT_PIX);

	feed(r, 1, "EHLO client.example\r\nE\x01HLO\r\n", 4);
	ck_assert_int_eq(r->notes, 2);
	ck_assert_int_eq(r->action[0], INSPECT_COMMAND_REWRITTEN);
	ck_assert_str_eq(r->detail[0], "EHLO");
	ck_assert_str_eq(r->detail[1], "E\\x01HLO");
	expect_out(r, "XXXXXXXXXXXXXXXXXXX\r\nXXXXX\r\n");
	free(r);
}
END_TEST

/* Any chunking gives the same bytes: a verb split across reads is still
 * recognised, a refused one still X'd to the byte. */
START_TEST(any_chunking_same_result)
{
	const char *in = "EHLO a.example\r\nHELO a.example\r\nSTARTTLS\r\nhelo b\r\nMAIL FROM:<a@b>\r\n"
	    "VRFY root\r\nQUIT\r\n";
	const char *want = "XXXXXXXXXXXXXX\r\nHELO a.example\r\nXXXXXXXX\r\nhelo b\r\nMAIL FROM:<a@b>\r\n"
	    "XXXXXXXXX\r\nQUIT\r\n";

	for (size_t chunk = 1; chunk <= strlen(in); chunk++)
		ck_assert_str_eq(through(INSPECT_PIX, 1, in, chunk), want);
}
END_TEST

/* One byte a packet, a telnet client in character mode: a refused verb
 * becomes X byte by byte as it arrives, nothing is held for it. */
START_TEST(byte_per_packet)
{
	struct run *r = run_new(INSPECT_PIX);
	const char *in = "EHLO x\r\n";
	uint8_t out[1 + INSPECT_HOLD_MAX];
	int drop = 0;

	for (size_t i = 0; i < strlen(in); i++) {
		size_t m = inspect_from_client(&r->in, (const uint8_t *)in + i, 1, out, &drop);

		ck_assert_uint_eq(m, 1);
		ck_assert_int_eq(out[0], in[i] == '\r' || in[i] == '\n' ? in[i] : 'X');
	}
	/* an allowed verb is held until its end: 4 bytes, then all five */
	for (size_t i = 0; i < 4; i++)
		ck_assert_uint_eq(inspect_from_client(&r->in, (const uint8_t *)"HELO" + i, 1, out, &drop), 0);
	ck_assert_uint_eq(inspect_from_client(&r->in, (const uint8_t *)" ", 1, out, &drop), 5);
	ck_assert_mem_eq(out, "HELO ", 5);
	free(r);
}
END_TEST

static char *
line_of(size_t total)
{
	char *s = malloc(total + 1);

	memcpy(s, "NOOP ", 5);
	memset(s + 5, 'a', total - 7);
	memcpy(s + total - 2, "\r\n", 3);
	return s;
}

START_TEST(asa_drops_line_over_512)
{
	char *ok = line_of(512), *over = line_of(513);
	struct run *r = run_new(INSPECT_ASA);

	ck_assert_str_eq(through(INSPECT_ASA, 1, ok, 100), ok);
	feed(r, 1, over, 1);
	ck_assert_int_eq(r->drop, 1);
	ck_assert_uint_eq(r->in_len, 512);	/* decided at the 512th byte, not the end */
	ck_assert_int_eq(r->action[r->notes - 1], INSPECT_DROPPED);
	ck_assert_str_eq(r->detail[r->notes - 1], "command-line-over-512");
	/* dropped stays dropped */
	ck_assert_uint_eq(inspect_from_server(&r->in, (const uint8_t *)"250 x\r\n", 7, r->out, &r->drop), 0);
	free(r);
	/* the PIX has no such limit: a long line passes, never buffered */
	free(over);
	over = line_of(40000);
	ck_assert_str_eq(through(INSPECT_PIX, 1, over, 4096), over);
	free(ok);
	free(over);
}
END_TEST

START_TEST(asa_drops_rcpt_over_100)
{
	struct run *r = run_new(INSPECT_ASA);
	struct run *p = run_new(INSPECT_PIX);

	feed(r, 1, "MAIL FROM:<a@b>\r\n", 5);
	feed(p, 1, "MAIL FROM:<a@b>\r\n", 5);
	for (int i = 0; i < 100; i++) {
		feed(r, 1, "RCPT TO:<c@d>\r\n", 6);
		feed(p, 1, "RCPT TO:<c@d>\r\n", 6);
	}
	ck_assert_int_eq(r->drop, 0);
	feed(r, 1, "RCPT TO:<c@d>\r\n", 6);
	feed(p, 1, "RCPT TO:<c@d>\r\n", 6);
	ck_assert_int_eq(r->drop, 1);
	ck_assert_str_eq(r->detail[r->notes - 1], "rcpt-count-over-100");
	ck_assert_int_eq(p->drop, 0);
	free(r);
	free(p);
}
END_TEST

START_TEST(rcpt_count_is_per_transaction)
{
	struct run *r = run_new(INSPECT_ASA);

	for (int t = 0; t < 3; t++) {
		feed(r, 1, "MAIL FROM:<a@b>\r\n", 64);
		for (int i = 0; i < 100; i++)
			feed(r, 1, "RCPT TO:<c@d>\r\n", 64);
		feed(r, 1, "RSET\r\n", 64);
	}
	ck_assert_int_eq(r->drop, 0);
	free(r);
}
END_TEST

START_TEST(asa_removes_starttls)
{
	const char *reply = "250-mx.example\r\n250-PIPELINING\r\n250-STARTTLS\r\n250-STARTTLSX\r\n"
	    "250-START\r\n250 starttls\r\n";
	const char *want = "250-mx.example\r\n250-PIPELINING\r\n250-XXXXXXXX\r\n250-STARTTLSX\r\n"
	    "250-START\r\n250 XXXXXXXX\r\n";

	for (size_t chunk = 1; chunk <= strlen(reply); chunk++) {
		struct run *r = run_new(INSPECT_ASA);

		feed(r, 0, "220 x\r\n", 64);
		feed(r, 1, "EHLO c\r\n", 64);
		r->out_len = r->in_len = 0;
		feed(r, 0, reply, chunk);
		expect_out(r, want);
		ck_assert_int_eq(r->action[r->notes - 1], INSPECT_STARTTLS_REMOVED);
		/* only the reply to EHLO: the next reply passes untouched */
		feed(r, 1, "HELP\r\n", 64);
		r->out_len = r->in_len = 0;
		feed(r, 0, "250 STARTTLS\r\n", chunk);
		expect_out(r, "250 STARTTLS\r\n");
		free(r);
	}
}
END_TEST

/* The message passes as sent, command words in it included; after its
 * end the commands are inspected again. */
START_TEST(data_body_passes)
{
	for (size_t chunk = 1; chunk < 20; chunk++) {
		struct run *r = run_new(INSPECT_PIX);

		feed(r, 0, "220 x\r\n", chunk);
		feed(r, 1, "MAIL FROM:<a@b>\r\n", chunk);
		feed(r, 0, "250 ok\r\n", chunk);
		feed(r, 1, "RCPT TO:<c@d>\r\n", chunk);
		feed(r, 0, "250 ok\r\n", chunk);
		feed(r, 1, "DATA\r\n", chunk);
		feed(r, 0, "354 go\r\n", chunk);
		r->out_len = r->in_len = 0;
		feed(r, 1, "Subject: x\r\n\r\nEHLO in body\r\n..\r\n.x\r\n.\r\nEHLO y\r\n", chunk);
		expect_out(r, "Subject: x\r\n\r\nEHLO in body\r\n..\r\n.x\r\n.\r\nXXXXXX\r\n");
		free(r);
	}
}
END_TEST

START_TEST(data_refused_stays_inspected)
{
	struct run *r = run_new(INSPECT_PIX);

	feed(r, 0, "220 x\r\n", 64);
	feed(r, 1, "DATA\r\n", 64);
	feed(r, 0, "503 no\r\n", 64);
	r->out_len = r->in_len = 0;
	feed(r, 1, "EHLO y\r\n", 64);
	expect_out(r, "XXXXXX\r\n");
	free(r);
}
END_TEST

/* AUTH's exchange: after 334 the client's base64 line is no command. */
START_TEST(auth_responses_pass)
{
	struct run *r = run_new(INSPECT_ASA);

	feed(r, 0, "220 x\r\n", 64);
	feed(r, 1, "AUTH LOGIN\r\n", 3);
	feed(r, 0, "334 VXNlcm5hbWU6\r\n", 5);
	r->out_len = r->in_len = 0;
	feed(r, 1, "dXNlcg==\r\n", 1);
	expect_out(r, "dXNlcg==\r\n");
	feed(r, 0, "334 UGFzc3dvcmQ6\r\n", 64);
	feed(r, 1, "cGFzcw==\r\n", 4);
	feed(r, 0, "235 ok\r\n", 64);
	feed(r, 1, "XAUTH\r\n", 64);	/* commands are inspected again */
	r->out_len = r->in_len = 0;
	feed(r, 1, "cGFzcw==\r\n", 64);
	expect_out(r, "XXXXXXXX\r\n");
	ck_assert_int_eq(r->notes, 3);		/* the banner and the two X'd lines */
	free(r);
}
END_TEST

/* Random bytes from SMTP's alphabet, both directions, random chunks:
 * nothing is lost or invented beyond what is held for a word, in any
 * mode, and a drop stops everything. */
START_TEST(random_streams_keep_their_length)
{
	static const char alpha[] = "HELOEHLORCPTDATASTARTLS AUTH334250354220-.X\r\n\r\n";
	uint64_t seed = 0x9e3779b97f4a7c15u;
	uint8_t in[256], out[256 + INSPECT_HOLD_MAX];

	for (int round = 0; round < 2000; round++) {
		struct inspect st;
		size_t from[2] = { 0, 0 }, to[2] = { 0, 0 };
		int drop = 0;

		inspect_init(&st, (enum inspect_mode)(1 + round % 3), NULL, NULL);
		for (int step = 0; step < 40 && !drop; step++) {
			seed = seed * 6364136223846793005u + 1442695040888963407u;
			int side = (int)(seed >> 63);
			size_t n = (size_t)(seed >> 33) % sizeof in;

			for (size_t i = 0; i < n; i++) {
				seed = seed * 6364136223846793005u + 1442695040888963407u;
				in[i] = (uint8_t)alpha[(seed >> 33) % (sizeof alpha - 1)];
			}
			size_t m = side ? inspect_from_client(&st, in, n, out, &drop) :
			    inspect_from_server(&st, in, n, out, &drop);
			from[side] += n;
			to[side] += m;
			ck_assert(!drop || m == 0);
			ck_assert_uint_le(to[side], from[side]);
			ck_assert_uint_le(from[side] - to[side], INSPECT_HOLD_MAX);
		}
	}
}
END_TEST

START_TEST(mode_names)
{
	enum inspect_mode m;

	ck_assert_int_eq(inspect_mode_parse("pix", &m), 0);
	ck_assert_int_eq(m, INSPECT_PIX);
	ck_assert_int_eq(inspect_mode_parse("pix44", &m), 0);
	ck_assert_int_eq(m, INSPECT_PIX44);
	ck_assert_int_eq(inspect_mode_parse("asa", &m), 0);
	ck_assert_str_eq(inspect_mode_name(m), "asa");
	ck_assert_int_eq(inspect_mode_parse("ASA5505", &m), -1);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("inspect");
	TCase *t = tcase_create("core");

	tcase_add_test(t, banner_masked_pix);
	tcase_add_test(t, banner_masked_asa_and_pix44);
	tcase_add_test(t, multiline_banner_loses_final_line);
	tcase_add_test(t, allowed_commands_per_mode);
	tcase_add_test(t, rewrite_logged_with_verb);
	tcase_add_test(t, any_chunking_same_result);
	tcase_add_test(t, byte_per_packet);
	tcase_add_test(t, asa_drops_line_over_512);
	tcase_add_test(t, asa_drops_rcpt_over_100);
	tcase_add_test(t, rcpt_count_is_per_transaction);
	tcase_add_test(t, asa_removes_starttls);
	tcase_add_test(t, data_body_passes);
	tcase_add_test(t, data_refused_stays_inspected);
	tcase_add_test(t, auth_responses_pass);
	tcase_add_test(t, random_streams_keep_their_length);
	tcase_add_test(t, mode_names);
	suite_add_tcase(s, t);
	return s;
}
