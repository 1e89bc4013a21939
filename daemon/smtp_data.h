#ifndef BANNERD_SMTP_DATA_H
#define BANNERD_SMTP_DATA_H
/* The DATA phase as a pure byte-stream state machine: bytes in, unstuffed
 * message bytes out, and "the end of data was here". No I/O, no
 * allocation, so it is unit-tested and fuzzed without a socket.
 *
 * Only <CRLF>.<CRLF> ends the data (the DATA command's own CRLF counts as
 * the first CRLF). A bare LF or bare CR anywhere is kept as data and
 * flagged, so the session can refuse the message after the end of data,
 * as Postfix does against SMTP smuggling: "\n.\n" never ends a message. */
#include <stddef.h>
#include <stdint.h>

enum smtp_data_state {
	DATA_LINE_START,	/* after CRLF */
	DATA_DOT,		/* line began with '.' */
	DATA_DOT_CR,		/* line is ".\r" so far */
	DATA_MID,		/* inside a line */
	DATA_CR,		/* saw '\r' inside a line */
	DATA_DONE,
};

struct smtp_data {
	enum smtp_data_state state;
	uint64_t bytes_out;	/* message size after unstuffing */
	uint64_t bare_lf;	/* count of LF not preceded by CR */
	uint64_t bare_cr;	/* count of CR not followed by LF */
};

void smtp_data_init(struct smtp_data *d);

/* Consumes bytes from in[0..len) and appends the unstuffed message bytes
 * to out, which must have room for len + 2 bytes. Stops right after the
 * terminating ".\r\n", so what follows (pipelined commands) stays with
 * the caller. Returns the number of input bytes consumed; *out_len gets
 * the number of bytes written. d->state == DATA_DONE once the end of data
 * was seen (the terminator itself is not part of the output). */
size_t smtp_data_feed(struct smtp_data *d, const char *in, size_t len,
    char *out, size_t *out_len);

#endif
