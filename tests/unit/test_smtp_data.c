/* Unit tests for the DATA byte-stream machine: dot-unstuffing, the one
 * true terminator, the smuggling shapes of the reliability matrix (A1
 * #1-#3, #5-#8, #12), and "any split of the input gives the same result". */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "smtp_data.h"

#define CANARY 0x5a
#define BUF_MAX 8192

/* Everything a feed run produces, for comparing two runs. */
struct run {
	struct smtp_data d;
	char out[BUF_MAX];
	size_t out_len;
	size_t consumed;
};

/* One smtp_data_feed call with a canary after the room the contract
 * promises (len + 2), so a write past it fails the test. */
static size_t
feed_checked(struct run *r, const char *in, size_t len)
{
	char *out = r->out + r->out_len;
	size_t n = 0, used;

	ck_assert_uint_le(r->out_len + len + 3, sizeof(r->out));
	memset(out, CANARY, len + 3);
	used = smtp_data_feed(&r->d, in, len, out, &n);
	ck_assert_uint_le(used, len);
	ck_assert_uint_le(n, len + 2);
	ck_assert_int_eq((unsigned char)out[len + 2], CANARY);
	r->out_len += n;
	r->consumed += used;
	return used;
}

/* Feeds in[0..len) as chunks that end at the given cut points, stopping
 * where the machine stops, as a session would. */
static void
feed_cuts(struct run *r, const char *in, size_t len, const size_t *cuts,
    size_t ncuts)
{
	size_t i, from = 0;

	memset(r, 0, sizeof(*r));
	smtp_data_init(&r->d);
	for (i = 0; i <= ncuts && r->d.state != DATA_DONE; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		size_t used = feed_checked(r, in + from, to - from);

		if (r->d.state != DATA_DONE)
			ck_assert_uint_eq(used, to - from);
		from = to;
	}
}

static void
feed_once(struct run *r, const char *in, size_t len)
{
	feed_cuts(r, in, len, NULL, 0);
}

static void
feed_bytewise(struct run *r, const char *in, size_t len)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	smtp_data_init(&r->d);
	for (i = 0; i < len && r->d.state != DATA_DONE; i++)
		feed_checked(r, in + i, 1);
}

static void
assert_same(const struct run *a, const struct run *b)
{
	ck_assert_uint_eq(a->consumed, b->consumed);
	ck_assert_uint_eq(a->out_len, b->out_len);
	ck_assert_mem_eq(a->out, b->out, a->out_len);
	ck_assert_int_eq(a->d.state, b->d.state);
	ck_assert_uint_eq(a->d.bytes_out, b->d.bytes_out);
	ck_assert_uint_eq(a->d.bare_lf, b->d.bare_lf);
	ck_assert_uint_eq(a->d.bare_cr, b->d.bare_cr);
}

/* One-shot feeding of a literal; checks output, consumption, end. */
static struct run run;

#define EXPECT(in, want, done) do { \
	feed_once(&run, (in), sizeof(in) - 1); \
	ck_assert_uint_eq(run.out_len, sizeof(want) - 1); \
	ck_assert_mem_eq(run.out, (want), sizeof(want) - 1); \
	ck_assert_int_eq(run.d.state == DATA_DONE, (done)); \
	ck_assert_uint_eq(run.d.bytes_out, sizeof(want) - 1); \
} while (0)

START_TEST(unstuff_leading_dot)
{
	EXPECT("..foo\r\n.\r\n", ".foo\r\n", 1);
	EXPECT(". \r\n.\r\n", " \r\n", 1);
	EXPECT("...\r\n.\r\n", "..\r\n", 1);
	EXPECT("..\r\n.\r\n", ".\r\n", 1);
	EXPECT("a\r\n..b\r\n.\r\n", "a\r\n.b\r\n", 1);
	EXPECT("a.b\r\n.c\r\n.\r\n", "a.b\r\nc\r\n", 1);
	/* Only one dot per line is removed, and only at the line start. */
	EXPECT("x..\r\n....\r\n.\r\n", "x..\r\n...\r\n", 1);
}
END_TEST

START_TEST(empty_message)
{
	EXPECT(".\r\n", "", 1);
	ck_assert_uint_eq(run.consumed, 3);
	EXPECT("\r\n.\r\n", "\r\n", 1);	/* one empty line */
	ck_assert_uint_eq(run.consumed, 5);
}
END_TEST

/* The DATA line's own CRLF counts: the machine starts at a line start. */
START_TEST(terminator_at_start)
{
	struct smtp_data d;

	smtp_data_init(&d);
	ck_assert_int_eq(d.state, DATA_LINE_START);
	ck_assert_uint_eq(d.bytes_out, 0);
	ck_assert_uint_eq(d.bare_lf, 0);
	ck_assert_uint_eq(d.bare_cr, 0);
	EXPECT("Subject: x\r\n\r\nbody\r\n.\r\n",
	    "Subject: x\r\n\r\nbody\r\n", 1);
	ck_assert_uint_eq(run.d.bare_lf, 0);
	ck_assert_uint_eq(run.d.bare_cr, 0);
}
END_TEST

START_TEST(not_yet_done)
{
	EXPECT("abc", "abc", 0);
	EXPECT("abc\r\n", "abc\r\n", 0);
	EXPECT("abc\r\n.", "abc\r\n", 0);	/* the dot waits */
	EXPECT("abc\r\n.\r", "abc\r\n", 0);	/* so does ".\r" */
	EXPECT("abc\r", "abc", 0);		/* and a CR */
	EXPECT("abc\r\n.x", "abc\r\nx", 0);
	EXPECT("abc\r\n. \r\n", "abc\r\n \r\n", 0);
}
END_TEST

/* SMTP smuggling (CVE-2023-51764/51765/51766): none of these end DATA. */
START_TEST(smuggling_lf_dot_lf)
{
	EXPECT("a\n.\nMAIL FROM:<x@y>\r\n.\r\n",
	    "a\n.\nMAIL FROM:<x@y>\r\n", 1);
	ck_assert_uint_eq(run.d.bare_lf, 2);
	ck_assert_uint_eq(run.d.bare_cr, 0);
	EXPECT("\n.\n", "\n.\n", 0);
	ck_assert_uint_eq(run.d.bare_lf, 2);
}
END_TEST

START_TEST(smuggling_lf_dot_crlf)
{
	EXPECT("a\n.\r\nRSET\r\n.\r\n", "a\n.\r\nRSET\r\n", 1);
	ck_assert_uint_eq(run.d.bare_lf, 1);
	ck_assert_uint_eq(run.d.bare_cr, 0);
}
END_TEST

/* ".\n" is a line ".\nRSET" to this machine (bare LF is not a line end),
 * so its leading dot is removed like any other. */
START_TEST(smuggling_crlf_dot_lf)
{
	EXPECT("a\r\n.\nRSET\r\n.\r\n", "a\r\n\nRSET\r\n", 1);
	ck_assert_uint_eq(run.d.bare_lf, 1);
	ck_assert_uint_eq(run.d.bare_cr, 0);
}
END_TEST

START_TEST(smuggling_cr_dot_cr)
{
	EXPECT("a\r.\rRSET\r\n.\r\n", "a\r.\rRSET\r\n", 1);
	ck_assert_uint_eq(run.d.bare_cr, 2);
	ck_assert_uint_eq(run.d.bare_lf, 0);
	EXPECT("a\r\n.\rX\r\n.\r\n", "a\r\n\rX\r\n", 1);
	ck_assert_uint_eq(run.d.bare_cr, 1);
	EXPECT("foo\rbar\r\n.\r\n", "foo\rbar\r\n", 1);
	ck_assert_uint_eq(run.d.bare_cr, 1);
	EXPECT("a\r\r\n.\r\n", "a\r\r\n", 1);
	ck_assert_uint_eq(run.d.bare_cr, 1);
	EXPECT("a\r\n.\r\r\n.\r\n", "a\r\n\r\r\n", 1);
	ck_assert_uint_eq(run.d.bare_cr, 1);
	EXPECT("\r\r\r\n.\r\n", "\r\r\r\n", 1);
	ck_assert_uint_eq(run.d.bare_cr, 2);
}
END_TEST

START_TEST(bare_counts_mixed)
{
	EXPECT("\n\r\n\r\r\n\n\r.\r\n", "\n\r\n\r\r\n\n\r.\r\n", 0);
	ck_assert_uint_eq(run.d.bare_lf, 2);
	ck_assert_uint_eq(run.d.bare_cr, 2);
}
END_TEST

/* Pipelined commands after the terminator stay with the caller. */
START_TEST(pipelined_after_end)
{
	static const char in[] = "hi\r\n.\r\nQUIT\r\n";
	char out[64];
	size_t n = 99;

	feed_once(&run, in, sizeof(in) - 1);
	ck_assert_int_eq(run.d.state, DATA_DONE);
	ck_assert_uint_eq(run.consumed, 7);
	ck_assert_mem_eq(in + run.consumed, "QUIT\r\n", 6);
	ck_assert_uint_eq(run.out_len, 4);
	/* Once done, nothing more is taken. */
	ck_assert_uint_eq(smtp_data_feed(&run.d, "MAIL", 4, out, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(run.d.bytes_out, 4);
	EXPECT(".\r\n.\r\n", "", 1);
	ck_assert_uint_eq(run.consumed, 3);
}
END_TEST

START_TEST(cr_at_chunk_boundary)
{
	static const char in[] = "a\r\nb\r\n.\r\n";
	static const size_t cut1[] = { 2 }, cut2[] = { 5 }, cut3[] = { 8 };
	struct smtp_data d;
	char out[16];
	size_t n;

	smtp_data_init(&d);
	ck_assert_uint_eq(smtp_data_feed(&d, "a\r", 2, out, &n), 2);
	ck_assert_uint_eq(n, 1);	/* the CR waits for its LF */
	ck_assert_int_eq(d.state, DATA_CR);
	ck_assert_uint_eq(smtp_data_feed(&d, "b", 1, out, &n), 1);
	ck_assert_uint_eq(n, 2);	/* now it is bare, and emitted */
	ck_assert_mem_eq(out, "\rb", 2);
	ck_assert_uint_eq(d.bare_cr, 1);

	feed_cuts(&run, in, sizeof(in) - 1, cut1, 1);
	ck_assert_mem_eq(run.out, "a\r\nb\r\n", 6);
	feed_cuts(&run, in, sizeof(in) - 1, cut2, 1);
	ck_assert_mem_eq(run.out, "a\r\nb\r\n", 6);
	feed_cuts(&run, in, sizeof(in) - 1, cut3, 1);
	ck_assert_int_eq(run.d.state, DATA_DONE);
	ck_assert_uint_eq(run.out_len, 6);
}
END_TEST

/* Inputs for the split tests: every shape above, pipelining included. */
static const struct {
	const char *in;
	size_t len;
} samples[] = {
#define S(x) { x, sizeof(x) - 1 }
	S("..foo\r\n. \r\n...\r\n.\r\nQUIT\r\n"),
	S(".\r\n"),
	S("a\n.\nb\n.\r\nc\r\n.\nd\r.\re\r\n.\r\nRSET\r\n"),
	S("\r\r\n.\r\r\n.\rX\r\n..\r\n.\r\n"),
	S("x\0y\r\n.\0\r\n\xff\x80.\r\n.\r\n\0"),
	S("\r\n\r\n.\r\n.\r\n"),
	S("no end at all\r\n.\r"),
#undef S
};

START_TEST(every_split_point)
{
	struct run one, two;
	size_t s, cut;

	for (s = 0; s < sizeof(samples) / sizeof(samples[0]); s++) {
		feed_once(&one, samples[s].in, samples[s].len);
		for (cut = 0; cut <= samples[s].len; cut++) {
			feed_cuts(&two, samples[s].in, samples[s].len, &cut, 1);
			assert_same(&one, &two);
		}
	}
}
END_TEST

START_TEST(every_two_split_points)
{
	struct run one, many;
	size_t s, cuts[2];

	for (s = 0; s < sizeof(samples) / sizeof(samples[0]); s++) {
		feed_once(&one, samples[s].in, samples[s].len);
		for (cuts[0] = 0; cuts[0] <= samples[s].len; cuts[0]++)
			for (cuts[1] = cuts[0]; cuts[1] <= samples[s].len;
			    cuts[1]++) {
				feed_cuts(&many, samples[s].in, samples[s].len,
				    cuts, 2);
				assert_same(&one, &many);
			}
	}
}
END_TEST

START_TEST(byte_by_byte)
{
	struct run one, bytes;
	size_t s;

	for (s = 0; s < sizeof(samples) / sizeof(samples[0]); s++) {
		feed_once(&one, samples[s].in, samples[s].len);
		feed_bytewise(&bytes, samples[s].in, samples[s].len);
		assert_same(&one, &bytes);
	}
}
END_TEST

/* NUL and 8-bit bytes are data, byte-exact (A1 #12). */
START_TEST(binary_bytes_exact)
{
	char in[300], want[300];
	size_t i, n = 0;

	for (i = 0; i < 256; i++)
		if (i != '\r' && i != '\n')
			in[n++] = (char)i;
	memcpy(want, in, n);
	memcpy(want + n, "\r\n", 2);
	memcpy(in + n, "\r\n.\r\n", 5);
	feed_once(&run, in, n + 5);
	ck_assert_int_eq(run.d.state, DATA_DONE);
	ck_assert_uint_eq(run.out_len, n + 2);
	ck_assert_mem_eq(run.out, want, n + 2);
	ck_assert_uint_eq(run.d.bare_lf + run.d.bare_cr, 0);
	EXPECT("\0\r\n.\0\r\n\xff.\r\n.\r\n", "\0\r\n\0\r\n\xff.\r\n", 1);
}
END_TEST

/* A 3000-byte line with a dot where a 2048-byte reader would split it:
 * the dot is mid-line data, not a line start (A1 #6). */
START_TEST(long_line_dot)
{
	static char in[3100];
	size_t cut = 2048;

	memset(in, 'x', 3000);
	in[2048] = '.';
	memcpy(in + 3000, "\r\n.\r\n", 5);
	feed_once(&run, in, 3005);
	ck_assert_int_eq(run.d.state, DATA_DONE);
	ck_assert_uint_eq(run.out_len, 3002);
	ck_assert_mem_eq(run.out, in, 3002);
	feed_cuts(&run, in, 3005, &cut, 1);
	ck_assert_uint_eq(run.out_len, 3002);
	ck_assert_mem_eq(run.out, in, 3002);
}
END_TEST

START_TEST(bytes_out_accumulates)
{
	struct smtp_data d;
	char out[32];
	size_t n, total = 0;

	smtp_data_init(&d);
	smtp_data_feed(&d, "hello\r\n", 7, out, &n);
	total += n;
	smtp_data_feed(&d, "..x\r\n", 5, out, &n);
	total += n;
	smtp_data_feed(&d, ".\r\nEXTRA", 8, out, &n);
	total += n;
	ck_assert_int_eq(d.state, DATA_DONE);
	ck_assert_uint_eq(total, 7 + 4);
	ck_assert_uint_eq(d.bytes_out, 11);
	/* A fresh init starts a new message from zero. */
	smtp_data_init(&d);
	ck_assert_uint_eq(d.bytes_out, 0);
	ck_assert_uint_eq(smtp_data_feed(&d, ".\r\n", 3, out, &n), 3);
	ck_assert_uint_eq(d.bytes_out, 0);
}
END_TEST

START_TEST(zero_length_feed)
{
	struct smtp_data d;
	char out[4];
	size_t n = 7;

	smtp_data_init(&d);
	ck_assert_uint_eq(smtp_data_feed(&d, "", 0, out, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(d.state, DATA_LINE_START);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("smtp_data");
	TCase *t = tcase_create("terminator");
	TCase *c = tcase_create("chunks");

	tcase_add_test(t, unstuff_leading_dot);
	tcase_add_test(t, empty_message);
	tcase_add_test(t, terminator_at_start);
	tcase_add_test(t, not_yet_done);
	tcase_add_test(t, smuggling_lf_dot_lf);
	tcase_add_test(t, smuggling_lf_dot_crlf);
	tcase_add_test(t, smuggling_crlf_dot_lf);
	tcase_add_test(t, smuggling_cr_dot_cr);
	tcase_add_test(t, bare_counts_mixed);
	tcase_add_test(t, pipelined_after_end);
	tcase_add_test(t, binary_bytes_exact);
	tcase_add_test(t, long_line_dot);
	tcase_add_test(c, cr_at_chunk_boundary);
	tcase_add_test(c, every_split_point);
	tcase_add_test(c, every_two_split_points);
	tcase_add_test(c, byte_by_byte);
	tcase_add_test(c, bytes_out_accumulates);
	tcase_add_test(c, zero_length_feed);
	suite_add_tcase(s, t);
	suite_add_tcase(s, c);
	return s;
}
