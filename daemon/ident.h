#ifndef BANNERD_IDENT_H
#define BANNERD_IDENT_H
/* The ident stage (RFC 1413) on a worker's event loop: one TCP query to
 * the client's ident port, asking who owns the connection, bounded by
 * one deadline for connect, query and reply together. No thread, no
 * blocking call. Sendmail (Timeout.ident, 5 s) and Exim
 * (rfc1413_query_timeout) asked this before the banner; a filter that
 * silently drops port 113 makes every banner wait the whole timeout.
 *
 * The reply is parsed by ident_reply.c and never trusted: a user id is
 * kept only when the reply names this connection's ports. */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct ident_query;

enum ident_result {
	IDENT_OK,	/* USERID: user set */
	IDENT_ERROR,	/* ERROR: the server's token in detail */
	IDENT_REFUSED,	/* the port is closed: RST or ICMP unreachable */
	IDENT_TIMEOUT,	/* no reply line within ident.timeout */
	IDENT_BAD,	/* a reply that is not one to this query (detail: why) */
	IDENT_FAILED,	/* our side: no socket, no memory (detail: why) */
	IDENT_RESULT_COUNT
};

struct ident_answer {
	enum ident_result result;
	const char *user;	/* IDENT_OK: the user id, user_len octets, NUL-terminated */
	size_t user_len;
	const char *detail;	/* IDENT_OK: the opsys; else the error token, or why the
				 * reply was refused; or NULL */
	uint64_t started_us, finished_us;
};

typedef void ident_done_fn(void *arg, const struct ident_answer *a);

/* Asks peer's ident server (at its address, port `port`, from `local`'s
 * address) who owns the connection peer -> local. The callback runs
 * once, from the loop, never from inside ident_start, never after
 * ident_cancel. NULL only when out of memory (the callback never runs). */
struct ident_query *ident_start(struct event_base *base, const struct sockaddr *peer,
    const struct sockaddr *local, unsigned port, uint64_t timeout_us, ident_done_fn *cb, void *arg);

/* Nobody waits for the answer: the query ends now, the callback never
 * runs. NULL is ignored. */
void ident_cancel(struct ident_query *q);

const char *ident_result_name(enum ident_result r);

#endif
