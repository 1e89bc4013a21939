/* libFuzzer harness for slowrelay's SMTP inspection. The first byte picks
 * the mode; then segments, each a header byte (top bit: from the client;
 * low bits: length) and its bytes. The stream is fed once in those
 * segments, each into an exact-size output buffer (len + INSPECT_HOLD_MAX,
 * as the contract promises) so that ASan sees a write past it, and once
 * byte by byte: per direction the two outputs must agree (up to a drop,
 * after which a chunked run forwards nothing of its chunk), and never be
 * longer than the input nor shorter by more than the held bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/slowrelay/inspect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct side_out {
	uint8_t *buf;
	size_t len, in;
};

static int
run(const uint8_t *data, size_t size, int bytewise, struct side_out out[2])
{
	struct inspect st;
	size_t i = 1;
	int drop = 0;

	inspect_init(&st, (enum inspect_mode)(1 + data[0] % 3), NULL, NULL);
	while (i < size && !drop) {
		int client = data[i] >> 7;
		size_t n = data[i] & 0x7f, step;

		i++;
		if (n > size - i)
			n = size - i;
		for (size_t off = 0; off < n && !drop; off += step) {
			step = bytewise ? 1 : n;
			uint8_t *o = malloc(step + INSPECT_HOLD_MAX);
			size_t m = client ? inspect_from_client(&st, data + i + off, step, o, &drop) :
			    inspect_from_server(&st, data + i + off, step, o, &drop);

			if (m > step + INSPECT_HOLD_MAX || (drop && m != 0))
				abort();
			memcpy(out[client].buf + out[client].len, o, m);
			out[client].len += m;
			out[client].in += step;
			free(o);
			/* a drop forwards nothing of its chunk: only then may more
			 * than the held bytes be missing */
			if (out[client].len > out[client].in ||
			    (!drop && out[client].in - out[client].len > INSPECT_HOLD_MAX))
				abort();
		}
		i += n;
	}
	return drop;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct side_out a[2], b[2];

	if (size < 1)
		return 0;
	for (int s = 0; s < 2; s++) {
		a[s] = (struct side_out){ malloc(size + INSPECT_HOLD_MAX), 0, 0 };
		b[s] = (struct side_out){ malloc(size + INSPECT_HOLD_MAX), 0, 0 };
	}
	int dropped = run(data, size, 0, a);
	run(data, size, 1, b);
	for (int s = 0; s < 2; s++) {
		if (dropped ? a[s].len > b[s].len : a[s].len != b[s].len)
			abort();
		if (memcmp(a[s].buf, b[s].buf, a[s].len) != 0)
			abort();
		free(a[s].buf);
		free(b[s].buf);
	}
	return 0;
}
