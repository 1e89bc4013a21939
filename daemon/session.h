#ifndef BANNERD_SESSION_H
#define BANNERD_SESSION_H
/* One SMTP connection on one worker's event loop, from accept to close:
 * the banner path (queue, PROXY header, reverse DNS and ident, delay,
 * banner write), the hand-off
 * to the ESMTP dialogue (dialogue.h), and the close line with the stage
 * timings. A session never leaves the thread whose event_base it was
 * created on. */
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

struct event_base;
struct metrics;
struct resolver;
struct server;
struct session;

TAILQ_HEAD(session_list, session);

/* The per-client limits' answer for a client named by a PROXY header. */
enum { CLIENT_ADMIT_OK, CLIENT_ADMIT_SESSIONS, CLIENT_ADMIT_RATE };

/* What the worker lends a session: its loop, its list, and a callback
 * that runs once, when the session is freed. */
struct session_env {
	struct event_base *base;
	struct server *srv;
	struct resolver *resolver;	/* the worker's (resolver.h), or NULL */
	struct metrics *metrics;	/* the worker's */
	struct session_list *list;
	void (*on_close)(void *arg);
	/* The per-client limits for the client a PROXY header names (with
	 * arg): CLIENT_ADMIT_OK within them, else which one is over. NULL:
	 * no limits. */
	int (*admit_client)(void *arg, const struct sockaddr *peer, socklen_t len);
	void *arg;
};

/* Takes ownership of fd. accept_us is the monotonic time of accept(2), so
 * the queue stage covers the hand-off to this worker. Returns NULL (and
 * closes fd) only when out of memory. */
struct session *session_start(const struct session_env *env, int fd,
    const struct sockaddr *peer, socklen_t peerlen, uint64_t accept_us);

/* Server shutdown: answer "421 4.3.2 ... shutting down" and close. */
void session_shutdown(struct session *s);
void session_shutdown_all(struct session_list *list);

#endif
