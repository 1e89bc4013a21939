/* libFuzzer harness for RFC 1413 replies: any bytes as what an ident
 * server sent back. Beyond the sanitizers it checks what ident_reply.h
 * promises: a parsed user id is within its bound, has no NUL, CR or LF,
 * and a reply is only ever accepted for the ports asked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ident_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ident_reply r;
	size_t end = ident_line_end((const char *)data, size);

	if (end != (size_t)-1 && end > size)
		abort();
	ident_reply_parse((const char *)data, size, 6191, 25, &r);
	switch (r.kind) {
	case IDENT_REPLY_USERID:
		if (r.user_len == 0 || r.user_len > IDENT_USER_MAX || r.user[r.user_len] != '\0' ||
		    memchr(r.user, '\0', r.user_len) != NULL || memchr(r.user, '\r', r.user_len) != NULL ||
		    memchr(r.user, '\n', r.user_len) != NULL || r.opsys[0] == '\0')
			abort();
		/* the same bytes asked for other ports are not this reply */
		ident_reply_parse((const char *)data, size, 6192, 25, &r);
		if (r.kind != IDENT_REPLY_BAD)
			abort();
		break;
	case IDENT_REPLY_ERROR:
		if (r.token[0] == '\0' || strlen(r.token) > IDENT_TOKEN_MAX)
			abort();
		break;
	case IDENT_REPLY_BAD:
		if (r.why == NULL)
			abort();
		break;
	default:
		abort();
	}
	return 0;
}
