#ifndef BANNERD_IDENT_REPLY_H
#define BANNERD_IDENT_REPLY_H
/* RFC 1413 (ident) replies, pure: the bytes an ident server sent back,
 * checked against the query that was asked, never trusted. No I/O; the
 * fuzz target tests/fuzz/fuzz_ident.c feeds it any bytes.
 *
 *   query:  "<port on the client's host> , <port on ours>\r\n"
 *   reply:  "6191, 25 : USERID : UNIX : stjohns\r\n"
 *           "6191, 25 : ERROR : NO-USER\r\n"
 *
 * A reply is one line. RFC 1413 bounds the user id at 512 octets, so a
 * line past IDENT_REPLY_MAX is malformed however it goes on. */
#include <stddef.h>

#define IDENT_REPLY_MAX 1000	/* one line, CRLF included */
#define IDENT_USER_MAX 512	/* RFC 1413: "up to 512 octets" */
#define IDENT_TOKEN_MAX 64	/* an error token or an opsys name */

enum ident_reply_kind {
	IDENT_REPLY_USERID,	/* user, opsys set */
	IDENT_REPLY_ERROR,	/* token set: INVALID-PORT, NO-USER, HIDDEN-USER, UNKNOWN-ERROR, X-... */
	IDENT_REPLY_BAD,	/* why set: not a reply to this query */
};

struct ident_reply {
	enum ident_reply_kind kind;
	char opsys[IDENT_TOKEN_MAX + 1];
	char token[IDENT_TOKEN_MAX + 1];
	/* the user id as sent (any octets but NUL, CR, LF); escape it before
	 * it is logged */
	char user[IDENT_USER_MAX + 1];
	size_t user_len;
	const char *why;
};

/* Where the line ends: the length of the line with its CRLF (or lone LF,
 * which RFC 1413 servers send too), 0 when no line end is in buf yet, or
 * (size_t)-1 when none can come within IDENT_REPLY_MAX. */
size_t ident_line_end(const char *buf, size_t len);

/* Parses one line (without needing its line end) against the ports of
 * the query. Always fills r; r->kind says what it was. */
void ident_reply_parse(const char *line, size_t len, unsigned client_port, unsigned server_port,
    struct ident_reply *r);

/* "ok", "error", ... for the log (with ident.c's refused and timeout). */
const char *ident_reply_kind_name(enum ident_reply_kind k);

#endif
