/* SMTP inspection of a PIX or ASA, byte by byte: see inspect.h for the
 * contract and wave2-anchors.md section 1 for the sources cited here. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "inspect.h"

enum { CMD_HELO, CMD_MAIL, CMD_RCPT, CMD_DATA, CMD_RSET, CMD_NOOP, CMD_QUIT,
       CMD_AUTH, CMD_EHLO, CMD_ETRN, CMD_HELP, CMD_SAML, CMD_SEND, CMD_SOML, CMD_VRFY };

/* The PIX passes the seven commands of RFC 821 section 4.5.1 (its "minimum
 * implementation"); the ASA's inspect esmtp adds eight ESMTP ones. Every
 * verb is four letters, so a word is decided by its fifth byte at most. */
static const struct {
	const char *verb;
	int asa_only;
} commands[] = {
	[CMD_HELO] = { "HELO", 0 }, [CMD_MAIL] = { "MAIL", 0 }, [CMD_RCPT] = { "RCPT", 0 },
	[CMD_DATA] = { "DATA", 0 }, [CMD_RSET] = { "RSET", 0 }, [CMD_NOOP] = { "NOOP", 0 },
	[CMD_QUIT] = { "QUIT", 0 },
	[CMD_AUTH] = { "AUTH", 1 }, [CMD_EHLO] = { "EHLO", 1 }, [CMD_ETRN] = { "ETRN", 1 },
	[CMD_HELP] = { "HELP", 1 }, [CMD_SAML] = { "SAML", 1 }, [CMD_SEND] = { "SEND", 1 },
	[CMD_SOML] = { "SOML", 1 }, [CMD_VRFY] = { "VRFY", 1 },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char starttls[] = "STARTTLS";

/* Body states: where the message is in "\r\n.\r\n". */
enum { BODY_LINE_START, BODY_MID, BODY_CR, BODY_DOT, BODY_DOT_CR };

void
inspect_init(struct inspect *in, enum inspect_mode mode, inspect_note_fn *note, void *arg)
{
	memset(in, 0, sizeof *in);
	in->mode = mode;
	in->note = note;
	in->note_arg = arg;
	in->c.word = 1;
	in->cmd = -1;
	in->last_cmd = -1;
}

int
inspect_mode_parse(const char *text, enum inspect_mode *mode)
{
	static const char *names[] = { "off", "pix44", "pix", "asa" };

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(text, names[i]) == 0) {
			*mode = (enum inspect_mode)i;
			return 0;
		}
	return -1;
}

const char *
inspect_mode_name(enum inspect_mode mode)
{
	switch (mode) {
	case INSPECT_PIX44: return "pix44";
	case INSPECT_PIX: return "pix";
	case INSPECT_ASA: return "asa";
	default: return "off";
	}
}

const char *
inspect_action_name(enum inspect_action action)
{
	switch (action) {
	case INSPECT_BANNER_MASKED: return "banner-masked";
	case INSPECT_COMMAND_REWRITTEN: return "command-rewritten";
	case INSPECT_STARTTLS_REMOVED: return "starttls-removed";
	default: return "dropped";
	}
}

static void
note(struct inspect *in, enum inspect_action action, const char *detail)
{
	if (in->note != NULL)
		in->note(in->note_arg, action, detail);
}

static void
drop(struct inspect *in, const char *reason, int *dropped)
{
	in->dropped = 1;
	*dropped = 1;
	note(in, INSPECT_DROPPED, reason);
}

static int
allowed(const struct inspect *in, size_t i)
{
	return !commands[i].asa_only || in->mode == INSPECT_ASA;
}

/* The allowed command the word is (or -1); *prefix: it may still become one. */
static int
verb_lookup(const struct inspect *in, const uint8_t *w, size_t len, int *prefix)
{
	*prefix = 0;
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (!allowed(in, i) || len > 4 || strncasecmp((const char *)w, commands[i].verb, len) != 0)
			continue;
		if (len == 4)
			return (int)i;
		*prefix = 1;
	}
	return -1;
}

static int
is_word_end(uint8_t b)
{
	return b == ' ' || b == '\r' || b == '\n';
}

static size_t
emit_hold(struct inspect_side *s, uint8_t *out, int as_x)
{
	size_t n = s->hold_len;

	if (as_x)
		memset(out, 'X', n);
	else
		memcpy(out, s->hold, n);
	s->hold_len = 0;
	return n;
}

/* A command that starts a transaction, or is one of its recipients: the
 * ASA counts RCPT ("match cmd RCPT count gt 100"); we count per
 * transaction, as RFC 5321's 100-recipient buffer is per message. */
static void
command_seen(struct inspect *in, int cmd, int *dropped)
{
	in->cmd = cmd;
	if (cmd == CMD_MAIL || cmd == CMD_RSET || cmd == CMD_HELO || cmd == CMD_EHLO)
		in->rcpt = 0;
	if (cmd == CMD_RCPT && ++in->rcpt > INSPECT_RCPT_MAX && in->mode == INSPECT_ASA)
		drop(in, "rcpt-count-over-100", dropped);
}

/* The verb has ended (b is a space, CR or LF) or cannot be an allowed one:
 * forward it, or overwrite it with X's of its length (cisco.com 113423:
 * "replaced by Xs, which makes the command invalid"; the server answers
 * 500 and the client falls back, appriver KB). An empty line passes. */
static size_t
client_decide(struct inspect *in, int ended, uint8_t *out, int *dropped)
{
	int prefix, cmd = verb_lookup(in, in->c.hold, in->c.hold_len, &prefix);
	int pass = ended && (cmd >= 0 || in->c.hold_len == 0);

	in->c.word = 0;
	if (!pass) {
		in->c.mask = 1;
		return emit_hold(&in->c, out, 1);
	}
	if (cmd >= 0)
		command_seen(in, cmd, dropped);
	return emit_hold(&in->c, out, 0);
}

static void
escape_verb(const char *verb, size_t len, char *dst, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < size; i++) {
		unsigned char ch = (unsigned char)verb[i];

		if (ch > 0x20 && ch < 0x7f && ch != '\\')
			dst[o++] = (char)ch;
		else
			o += (size_t)snprintf(dst + o, size - o, "\\x%02x", ch);
	}
	dst[o] = '\0';
}

static void
client_line_end(struct inspect *in)
{
	if (in->c.mask) {
		char esc[INSPECT_VERB_LOG_MAX * 4 + 8];

		escape_verb(in->verb, in->verb_len, esc, sizeof esc);
		note(in, INSPECT_COMMAND_REWRITTEN, esc);
		in->last_cmd = -1;
	} else {
		in->last_cmd = in->cmd;
	}
	in->auth_response = 0;
	in->c.line_len = 0;
	in->c.word = 1;
	in->c.mask = 0;
	in->cmd = -1;
	in->verb_len = 0;
	in->verb_done = 0;
}

/* The message after DATA's 354 passes as it is; only its end, the one
 * "\r\n.\r\n", brings the inspection of commands back. */
static void
body_byte(struct inspect *in, uint8_t b)
{
	switch (in->body_state) {
	case BODY_LINE_START:
		in->body_state = b == '.' ? BODY_DOT : b == '\r' ? BODY_CR : BODY_MID;
		break;
	case BODY_DOT:
		in->body_state = b == '\r' ? BODY_DOT_CR : BODY_MID;
		break;
	case BODY_DOT_CR:
		if (b == '\n') {
			in->in_body = 0;
			in->rcpt = 0;
			return;
		}
		in->body_state = b == '\r' ? BODY_CR : BODY_MID;
		break;
	case BODY_CR:
		in->body_state = b == '\n' ? BODY_LINE_START : b == '\r' ? BODY_CR : BODY_MID;
		break;
	default:
		in->body_state = b == '\r' ? BODY_CR : BODY_MID;
		break;
	}
}

static size_t
client_byte(struct inspect *in, uint8_t b, uint8_t *out, int *dropped)
{
	size_t n = 0;

	if (in->in_body) {
		body_byte(in, b);
		out[0] = b;
		return 1;
	}
	/* ASA "match cmd line length gt 512": the line with its CRLF, so at
	 * most 511 bytes before the LF; dropped the moment it is longer, with
	 * nothing of it buffered. */
	if (b != '\n' && ++in->c.line_len > INSPECT_LINE_MAX - 1 && in->mode == INSPECT_ASA) {
		drop(in, "command-line-over-512", dropped);
		return 0;
	}
	if (!in->verb_done && !is_word_end(b) && in->verb_len < INSPECT_VERB_LOG_MAX)
		in->verb[in->verb_len++] = (char)b;
	else
		in->verb_done = 1;
	if (in->c.word && in->auth_response) {
		in->c.word = 0;		/* the whole line passes */
		in->cmd = CMD_AUTH;	/* so that the next 334 is understood */
	}
	if (in->c.word && is_word_end(b)) {
		n = client_decide(in, 1, out, dropped);
	} else if (in->c.word) {
		int prefix;

		in->c.hold[in->c.hold_len++] = b;
		if (verb_lookup(in, in->c.hold, in->c.hold_len, &prefix) >= 0 || prefix)
			return 0;
		return client_decide(in, 0, out, dropped);
	}
	if (*dropped)
		return 0;
	out[n++] = in->c.mask && b != '\r' && b != '\n' ? 'X' : b;
	if (b == '\n')
		client_line_end(in);
	return n;
}

size_t
inspect_from_client(struct inspect *in, const uint8_t *buf, size_t n, uint8_t *out, int *drop_out)
{
	size_t o = 0;

	*drop_out = in->dropped;
	for (size_t i = 0; i < n && !*drop_out; i++)
		o += client_byte(in, buf[i], out + o, drop_out);
	return *drop_out ? 0 : o;
}

/* The greeting, PIX 5.1+: every character but '2', '0' and space becomes
 * '*', CR and LF stay (appriver KB: "220 *********0******...***2****");
 * PIX 4.4 masked every character. A multi-line greeting keeps only its
 * first line's code and '-': the continuation lines become asterisks
 * entirely, so no final "220 " line ever reaches the client, which waits
 * until its greeting timeout (gordano KB). */
static uint8_t
banner_mask(const struct inspect *in, uint8_t b, size_t pos)
{
	if (b == '\r' || b == '\n')
		return b;
	if (in->mode == INSPECT_PIX44 || in->banner_lines > 0)
		return '*';
	if (b == '2' || b == '0' || b == ' ' || (pos == 3 && b == '-'))
		return b;
	return '*';
}

static size_t
banner_byte(struct inspect *in, uint8_t b, uint8_t *out)
{
	size_t pos = in->s.line_len;

	out[0] = banner_mask(in, b, pos);
	in->banner_bytes++;
	if (b != '\n') {
		if (pos < 4)
			in->code[pos] = (char)b;
		in->s.line_len++;
		return 1;
	}
	in->banner_lines++;
	/* The greeting ends with the line that is not "ddd-" (a bare
	 * line too: the inspection must not stay in the greeting forever). */
	if (in->s.line_len < 4 || in->code[3] != '-') {
		char detail[64];

		in->greeted = 1;
		snprintf(detail, sizeof detail, "lines=%u bytes=%zu", in->banner_lines, in->banner_bytes);
		note(in, INSPECT_BANNER_MASKED, detail);
	}
	in->s.line_len = 0;
	return 1;
}

/* ASA "no allow-tls": the STARTTLS keyword of the EHLO reply overwritten
 * with X's of its length ("250-XXXXXXXX"): the client does not know that
 * extension and stays in plain text, and the reply keeps its length. */
static size_t
starttls_decide(struct inspect *in, int ended, uint8_t *out)
{
	int hit = ended && in->s.hold_len == sizeof starttls - 1;

	in->s.word = 0;
	if (hit)
		note(in, INSPECT_STARTTLS_REMOVED, "");
	return emit_hold(&in->s, out, hit);
}

static void
reply_code_seen(struct inspect *in)
{
	if (in->last_cmd == CMD_DATA && memcmp(in->code, "354", 3) == 0) {
		in->in_body = 1;
		in->body_state = BODY_LINE_START;
	}
	/* AUTH's 334 asks for a response line (base64), not a command: it
	 * passes as it is, and a further 334 asks for the next one. */
	if (in->last_cmd == CMD_AUTH && memcmp(in->code, "334", 3) == 0)
		in->auth_response = 1;
	in->s.word = in->mode == INSPECT_ASA && in->last_cmd == CMD_EHLO &&
	    memcmp(in->code, "250", 3) == 0 && (in->code[3] == '-' || in->code[3] == ' ');
}

static size_t
reply_byte(struct inspect *in, uint8_t b, uint8_t *out)
{
	size_t pos = in->s.line_len, n = 0;

	if (in->s.word && !is_word_end(b) && in->s.hold_len < sizeof starttls - 1 &&
	    (b | 0x20) == (starttls[in->s.hold_len] | 0x20)) {
		in->s.hold[in->s.hold_len++] = b;
		return 0;
	}
	if (in->s.word)	/* the keyword ended here, or is another one */
		n = starttls_decide(in, is_word_end(b), out);
	out[n++] = b;
	if (b != '\n') {
		if (pos < 4)
			in->code[pos] = (char)b;
		if (pos == 3)
			reply_code_seen(in);
		in->s.line_len++;
		return n;
	}
	if (pos < 4 || in->code[3] != '-')	/* the reply is over */
		in->last_cmd = -1;
	in->s.line_len = 0;
	in->s.word = 0;
	return n;
}

size_t
inspect_from_server(struct inspect *in, const uint8_t *buf, size_t n, uint8_t *out, int *drop_out)
{
	size_t o = 0;

	*drop_out = in->dropped;
	if (*drop_out)
		return 0;
	for (size_t i = 0; i < n; i++)
		o += in->greeted ? reply_byte(in, buf[i], out + o) : banner_byte(in, buf[i], out + o);
	return o;
}
