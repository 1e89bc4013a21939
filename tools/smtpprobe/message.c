#include "message.h"

static const char head[] = "Subject: smtpprobe\r\n\r\n";
static const char tail[] = "\r\n.\r\n";
#define HEAD_LEN	(sizeof head - 1)
#define TAIL_LEN	(sizeof tail - 1)

void
probe_message_fill(char *fill)
{
	for (size_t i = 0; i < PROBE_FILL_SIZE; i++)
		fill[i] = i % PROBE_FILL_LINE == PROBE_FILL_LINE - 2 ? '\r' :
		    i % PROBE_FILL_LINE == PROBE_FILL_LINE - 1 ? '\n' : 'x';
}

uint64_t
probe_message_len(uint64_t size)
{
	return HEAD_LEN + size + TAIL_LEN;
}

int
probe_message_iov(const char *fill, uint64_t size, uint64_t off, struct iovec *iov, int max)
{
	int n = 0;

	if (off < HEAD_LEN) {
		iov[n++] = (struct iovec){ (char *)head + off, HEAD_LEN - (size_t)off };
		off = 0;
	} else {
		off -= HEAD_LEN;
	}
	while (off < size && n < max) {
		/* The fill is whole lines: from any line phase, a run of it
		 * is the body's next bytes. */
		size_t phase = (size_t)(off % PROBE_FILL_LINE);
		size_t len = PROBE_FILL_SIZE - phase;
		if (len > size - off)
			len = (size_t)(size - off);
		iov[n++] = (struct iovec){ (char *)fill + phase, len };
		off += len;
	}
	if (off >= size && n < max)
		iov[n++] = (struct iovec){ (char *)tail + (off - size), TAIL_LEN - (size_t)(off - size) };
	return n;
}
