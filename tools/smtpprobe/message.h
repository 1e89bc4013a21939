#ifndef SMTPPROBE_MESSAGE_H
#define SMTPPROBE_MESSAGE_H
/* The message session mode sends after DATA, as one byte stream: a header,
 * `size` bytes of 76-character lines, and the final dot. Pure: it only
 * points iovecs at that stream, so the engine can hand all of it to the
 * kernel in one call (a dot in a write of its own waits for the server's
 * delayed ACK under Nagle's algorithm). */
#include <stdint.h>
#include <sys/uio.h>

#define PROBE_FILL_LINE	78			/* 76 bytes of text and CRLF */
#define PROBE_FILL_SIZE	(PROBE_FILL_LINE * 840)	/* whole lines only */

/* Fills PROBE_FILL_SIZE bytes with the filler lines. */
void probe_message_fill(char *fill);
/* Bytes in the whole stream for a body of `size` bytes. */
uint64_t probe_message_len(uint64_t size);
/* Points iov (at most max entries, max >= 1) at the stream from offset
 * off < probe_message_len(size) onwards, as far as the entries reach;
 * returns how many it used. fill is what probe_message_fill made. */
int probe_message_iov(const char *fill, uint64_t size, uint64_t off,
    struct iovec *iov, int max);

#endif
