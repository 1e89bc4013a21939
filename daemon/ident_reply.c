/* RFC 1413 replies: see ident_reply.h. Every field is bounded and checked
 * before it is copied; nothing here allocates. */
#include "ident_reply.h"

#include <string.h>
#include <strings.h>

size_t
ident_line_end(const char *buf, size_t len)
{
	const char *nl = memchr(buf, '\n', len < IDENT_REPLY_MAX ? len : IDENT_REPLY_MAX);

	if (nl != NULL)
		return (size_t)(nl - buf) + 1;
	return len >= IDENT_REPLY_MAX ? (size_t)-1 : 0;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* A field between separators, without the white space around it. */
struct field {
	const char *p;
	size_t n;
};

static struct field
trim(const char *p, size_t n)
{
	struct field f;

	while (n > 0 && is_space(*p)) {
		p++;
		n--;
	}
	while (n > 0 && is_space(p[n - 1]))
		n--;
	f.p = p;
	f.n = n;
	return f;
}

/* A port as RFC 1413 writes it: 1 to 5 digits, 1..65535. */
static int
port_of(struct field f, unsigned *port)
{
	unsigned v = 0;

	if (f.n == 0 || f.n > 5)
		return -1;
	for (size_t i = 0; i < f.n; i++) {
		if (f.p[i] < '0' || f.p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(f.p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = v;
	return 0;
}

/* A token (opsys, error): printable ASCII without separators, bounded. */
static int
token_of(struct field f, char *out)
{
	if (f.n == 0 || f.n > IDENT_TOKEN_MAX)
		return -1;
	for (size_t i = 0; i < f.n; i++)
		if (f.p[i] <= ' ' || f.p[i] > '~' || f.p[i] == ':' || f.p[i] == ',')
			return -1;
	memcpy(out, f.p, f.n);
	out[f.n] = '\0';
	return 0;
}

static int
token_is(struct field f, const char *word)
{
	return f.n == strlen(word) && strncasecmp(f.p, word, f.n) == 0;
}

static void
bad(struct ident_reply *r, const char *why)
{
	r->kind = IDENT_REPLY_BAD;
	r->why = why;
}

void
ident_reply_parse(const char *line, size_t len, unsigned client_port, unsigned server_port,
    struct ident_reply *r)
{
	const char *colon1, *colon2, *comma, *end;
	unsigned cport, sport;
	struct field kind;

	memset(r, 0, sizeof *r);
	if (len > IDENT_REPLY_MAX) {
		bad(r, "reply too long");
		return;
	}
	/* the line end, if the caller passed it, is not part of the reply */
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (memchr(line, '\0', len) != NULL || memchr(line, '\n', len) != NULL ||
	    memchr(line, '\r', len) != NULL) {
		bad(r, "NUL, CR or LF inside the reply");
		return;
	}
	end = line + len;
	if ((colon1 = memchr(line, ':', len)) == NULL) {
		bad(r, "no ':' after the ports");
		return;
	}
	if ((comma = memchr(line, ',', (size_t)(colon1 - line))) == NULL) {
		bad(r, "no ',' between the ports");
		return;
	}
	if (port_of(trim(line, (size_t)(comma - line)), &cport) != 0 ||
	    port_of(trim(comma + 1, (size_t)(colon1 - comma - 1)), &sport) != 0) {
		bad(r, "ports not numbers from 1 to 65535");
		return;
	}
	if (cport != client_port || sport != server_port) {
		bad(r, "the ports of another connection");
		return;
	}
	colon2 = memchr(colon1 + 1, ':', (size_t)(end - colon1 - 1));
	kind = trim(colon1 + 1, (size_t)((colon2 != NULL ? colon2 : end) - colon1 - 1));
	if (token_is(kind, "ERROR")) {
		if (colon2 == NULL || token_of(trim(colon2 + 1, (size_t)(end - colon2 - 1)), r->token) != 0) {
			bad(r, "ERROR without a token");
			return;
		}
		r->kind = IDENT_REPLY_ERROR;
		return;
	}
	if (!token_is(kind, "USERID")) {
		bad(r, "neither USERID nor ERROR");
		return;
	}
	{
		/* USERID : opsys [, charset] : user-id. The user id is the rest
		 * of the line, colons and all, leading spaces dropped. */
		const char *colon3, *charset;
		struct field opsys;

		if (colon2 == NULL || (colon3 = memchr(colon2 + 1, ':', (size_t)(end - colon2 - 1))) == NULL) {
			bad(r, "USERID without an opsys and a user id");
			return;
		}
		charset = memchr(colon2 + 1, ',', (size_t)(colon3 - colon2 - 1));
		opsys = trim(colon2 + 1, (size_t)((charset != NULL ? charset : colon3) - colon2 - 1));
		if (token_of(opsys, r->opsys) != 0) {
			bad(r, "USERID with a bad opsys");
			return;
		}
		{
			const char *u = colon3 + 1;

			while (u < end && is_space(*u))
				u++;
			if (u == end) {
				bad(r, "USERID with an empty user id");
				return;
			}
			if ((size_t)(end - u) > IDENT_USER_MAX) {
				bad(r, "user id over 512 octets");
				return;
			}
			r->user_len = (size_t)(end - u);
			memcpy(r->user, u, r->user_len);
			r->user[r->user_len] = '\0';
		}
		r->kind = IDENT_REPLY_USERID;
	}
}

const char *
ident_reply_kind_name(enum ident_reply_kind k)
{
	switch (k) {
	case IDENT_REPLY_USERID:
		return "ok";
	case IDENT_REPLY_ERROR:
		return "error";
	case IDENT_REPLY_BAD:
		return "bad";
	}
	return "bad";
}
