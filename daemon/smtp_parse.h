#ifndef BANNERD_SMTP_PARSE_H
#define BANNERD_SMTP_PARSE_H
/* The SMTP command parser: one command line in (without its CRLF), one
 * command or one error reply out. Pure: no I/O, no allocation, no global
 * state, so it is unit-tested and fuzzed directly. Sequence rules (503)
 * belong to the session's command table, not here. */
#include <stddef.h>
#include <stdint.h>

#define SMTP_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX	255	/* RFC 5321 4.5.3.1.2 */
#define SMTP_PATH_MAX	256	/* RFC 5321 4.5.3.1.3, without the brackets */
#define SMTP_ARG_MAX	512	/* the longest command line we accept by default */

enum smtp_verb {
	CMD_UNKNOWN = 0,
	CMD_EHLO,
	CMD_HELO,
	CMD_MAIL,
	CMD_RCPT,
	CMD_DATA,
	CMD_RSET,
	CMD_NOOP,
	CMD_QUIT,
	CMD_VRFY,
	CMD_HELP,
	CMD_VERB_COUNT
};

enum smtp_body { BODY_UNSPECIFIED = 0, BODY_7BIT, BODY_8BITMIME };

/* A reply as it goes on the wire: code, then "x.y.z text". */
struct smtp_reply {
	int code;
	const char *text;	/* includes the enhanced status code */
};

struct smtp_command {
	enum smtp_verb verb;
	char arg[SMTP_ARG_MAX];		/* EHLO/HELO domain, VRFY/HELP/NOOP argument */
	char path[SMTP_PATH_MAX + 1];	/* MAIL/RCPT address without <>; "" for <> */
	int null_path;			/* MAIL FROM:<> */
	int has_size;
	uint64_t size;			/* MAIL ... SIZE=n */
	enum smtp_body body;		/* MAIL ... BODY= */
};

struct smtp_parse_limits {
	uint64_t max_message_size;	/* SIZE= above this: 552 5.3.4 */
};

/* Parses one command line of len bytes (it may contain NUL or 8-bit
 * bytes; they are judged, never used to truncate). Returns 0 and fills
 * *cmd, or returns the reply code and points *err at a static reply. */
int smtp_parse_command(const char *line, size_t len,
    const struct smtp_parse_limits *lim, struct smtp_command *cmd,
    const struct smtp_reply **err);

/* The verb's name in upper case, for logs and tables. */
const char *smtp_verb_name(enum smtp_verb verb);

#endif
