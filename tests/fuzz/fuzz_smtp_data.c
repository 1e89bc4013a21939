/* libFuzzer harness for the DATA byte-stream machine. The first two
 * bytes pick a cut; the rest is the stream, fed once whole and once in
 * two chunks, each chunk in its own exact-size allocation so that ASan
 * sees any read past it, and each output buffer exactly len + 2 bytes as
 * the contract promises. Both runs must agree with each other and with
 * an independent reference written from the header's contract. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	char *out;
	size_t out_len;
	size_t consumed;
	int done;
	uint64_t bytes_out;
	unsigned bare_lf, bare_cr;
};

/* Feeds one chunk from a private copy into a private len + 2 buffer. */
static void
feed_chunk(struct smtp_data *d, const uint8_t *in, size_t len,
    struct result *r)
{
	char *copy = malloc(len ? len : 1), *out = malloc(len + 2);
	size_t n = 0, used;

	if (copy == NULL || out == NULL)
		abort();
	memcpy(copy, in, len);
	used = smtp_data_feed(d, copy, len, out, &n);
	if (used > len || n > len + 2)
		abort();
	if (d->state != DATA_DONE && used != len)
		abort();
	memcpy(r->out + r->out_len, out, n);
	r->out_len += n;
	r->consumed += used;
	free(copy);
	free(out);
}

static void
run_machine(const uint8_t *in, size_t len, size_t cut, struct result *r)
{
	struct smtp_data d;

	smtp_data_init(&d);
	feed_chunk(&d, in, cut, r);
	if (d.state != DATA_DONE)
		feed_chunk(&d, in + cut, len - cut, r);
	r->done = d.state == DATA_DONE;
	r->bytes_out = d.bytes_out;
	r->bare_lf = d.bare_lf;
	r->bare_cr = d.bare_cr;
}

static int
crlf_before(const uint8_t *in, size_t i)
{
	return i == 0 || (i >= 2 && in[i - 2] == '\r' && in[i - 1] == '\n');
}

/* The contract, stated without a state machine: the end is the first
 * ".\r\n" at a line start (input start or after CRLF); each line loses
 * one leading dot; a bare LF or CR is data and counted; a CR still
 * waiting for its LF at the end of the input is not yet output. */
static void
run_reference(const uint8_t *in, size_t len, struct result *r)
{
	size_t i, body = len;

	r->consumed = len;
	for (i = 0; i + 3 <= len; i++)
		if (in[i] == '.' && in[i + 1] == '\r' && in[i + 2] == '\n' &&
		    crlf_before(in, i)) {
			r->done = 1;
			r->consumed = i + 3;
			body = i;
			break;
		}
	for (i = 0; i < body; i++) {
		if (in[i] == '.' && crlf_before(in, i))
			continue;
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			r->bare_lf++;
		if (in[i] == '\r' && i + 1 < len && in[i + 1] != '\n')
			r->bare_cr++;
		r->out[r->out_len++] = (char)in[i];
	}
	if (!r->done && len > 0 && in[len - 1] == '\r')
		r->out_len--;
	r->bytes_out = r->out_len;
}

static int
same(const struct result *a, const struct result *b)
{
	return a->out_len == b->out_len && a->consumed == b->consumed &&
	    a->done == b->done && a->bytes_out == b->bytes_out &&
	    a->bare_lf == b->bare_lf && a->bare_cr == b->bare_cr &&
	    memcmp(a->out, b->out, a->out_len) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result one = { 0 }, two = { 0 }, ref = { 0 };
	const uint8_t *in = data + 2;
	size_t len, cut;

	if (size < 2)
		return 0;
	len = size - 2;
	cut = ((size_t)data[0] | (size_t)data[1] << 8) % (len + 1);
	one.out = malloc(len + 4);
	two.out = malloc(len + 4);
	ref.out = malloc(len + 4);
	if (one.out == NULL || two.out == NULL || ref.out == NULL)
		abort();
	run_machine(in, len, len, &one);
	run_machine(in, len, cut, &two);
	run_reference(in, len, &ref);
	if (!same(&one, &two) || !same(&one, &ref))
		abort();
	free(one.out);
	free(two.out);
	free(ref.out);
	return 0;
}
