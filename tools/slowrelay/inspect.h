#ifndef BANNERLAB_INSPECT_H
#define BANNERLAB_INSPECT_H
/* SMTP inspection as the Cisco PIX ("fixup protocol smtp", Mailguard) and
 * ASA ("inspect esmtp", _default_esmtp_map) did it: pure logic, no I/O.
 *
 * One struct inspect per relayed connection, fed the bytes read from each
 * side in chunks of any size. Each call writes the bytes to forward to the
 * other side and returns how many; the stream's length is never changed
 * (the device substituted bytes, it never grew or shrank a packet), but up
 * to INSPECT_HOLD_MAX bytes of a word still being recognised may come out
 * of a later call. Memory is the struct alone: a line of any length is
 * never buffered. Sources: /work/shared/research/wave2-anchors.md section 1.
 */
#include <stddef.h>
#include <stdint.h>

enum inspect_mode {
	INSPECT_OFF,
	INSPECT_PIX44,	/* PIX 4.4: the banner masked entirely */
	INSPECT_PIX,	/* PIX 5.1+: fixup protocol smtp */
	INSPECT_ASA,	/* ASA 7.x+: inspect esmtp, the default map */
};

enum inspect_action {
	INSPECT_BANNER_MASKED,	/* detail: lines=N bytes=N */
	INSPECT_COMMAND_REWRITTEN,	/* detail: the original verb, escaped */
	INSPECT_STARTTLS_REMOVED,
	INSPECT_DROPPED,	/* detail: the reason */
};

/* The longest word held back while it may still be an allowed verb (4)
 * or STARTTLS (8); an output buffer needs this much room beyond the input. */
#define INSPECT_HOLD_MAX 8
#define INSPECT_VERB_LOG_MAX 16
/* ASA _default_esmtp_map: "match cmd line length gt 512", "match cmd RCPT
 * count gt 100", both "drop-connection log". */
#define INSPECT_LINE_MAX 512
#define INSPECT_RCPT_MAX 100

typedef void inspect_note_fn(void *arg, enum inspect_action action, const char *detail);

/* One direction's word being recognised and line position. */
struct inspect_side {
	uint8_t hold[INSPECT_HOLD_MAX];
	size_t hold_len;
	size_t line_len;	/* bytes of the current line, LF excluded */
	int word;		/* 1 while the line's word is undecided */
	int mask;		/* the rest of this line is overwritten */
};

struct inspect {
	enum inspect_mode mode;
	inspect_note_fn *note;
	void *note_arg;
	int dropped;
	/* client -> server */
	struct inspect_side c;
	char verb[INSPECT_VERB_LOG_MAX + 1];	/* the line's verb as sent, for the log */
	size_t verb_len;
	int verb_done;
	int cmd;		/* the allowed verb of the current line, an index, or -1 */
	int last_cmd;		/* the last complete allowed command */
	unsigned rcpt;		/* RCPT commands in this transaction */
	int in_body;		/* DATA accepted: the message passes uninspected */
	int auth_response;	/* AUTH's 334 came: the next line is its answer */
	int body_state;		/* where in "\r\n.\r\n" the body is */
	/* server -> client */
	struct inspect_side s;
	int greeted;		/* the greeting (first reply) is over */
	unsigned banner_lines;
	size_t banner_bytes;
	char code[4];		/* the first 4 bytes of the current reply line */
};

void inspect_init(struct inspect *in, enum inspect_mode mode, inspect_note_fn *note, void *arg);
/* "pix44", "pix", "asa" (or "off"); -1 for anything else. */
int inspect_mode_parse(const char *text, enum inspect_mode *mode);
const char *inspect_mode_name(enum inspect_mode mode);
const char *inspect_action_name(enum inspect_action action);

/* Feed n bytes read from the client (or the server); out needs room for
 * n + INSPECT_HOLD_MAX bytes. Returns how many bytes of out to forward.
 * Once *drop is set, the connection must be closed and nothing more
 * forwarded: the ASA drops it (and so does every later call). */
size_t inspect_from_client(struct inspect *in, const uint8_t *buf, size_t n, uint8_t *out, int *drop);
size_t inspect_from_server(struct inspect *in, const uint8_t *buf, size_t n, uint8_t *out, int *drop);

#endif
