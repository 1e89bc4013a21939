#ifndef BANNERD_POOL_H
#define BANNERD_POOL_H
/* The worker pool: pool.workers threads, each with its own event_base.
 * The listener hands an accepted socket to one worker (least-loaded or
 * round-robin) through that worker's inbox and an eventfd; the session
 * then lives on that thread until it closes. Admission limits (slots,
 * FIFO queue) belong here, in pool_dispatch, and nowhere else. */
#include <stdint.h>
#include <sys/socket.h>

struct pool;
struct server;

struct pool *pool_start(struct server *srv, unsigned workers, int dispatch,
    char *err, size_t errlen);

/* Called on the listener thread. Takes ownership of fd. */
void pool_dispatch(struct pool *p, int fd, const struct sockaddr *peer,
    socklen_t peerlen, uint64_t accept_us);

/* Graceful stop: sessions may finish for timeout_us, then each gets
 * "421 4.3.2 shutting down"; every worker exits once it has none left.
 * Calling it again with a shorter timeout shortens the wait. */
void pool_drain(struct pool *p, uint64_t timeout_us);

/* After the server's config was swapped: each worker builds a resolver
 * from the new settings. */
void pool_reload(struct pool *p);

/* Waits for every worker to exit and frees the pool. */
void pool_join(struct pool *p);

unsigned pool_sessions(const struct pool *p);
unsigned pool_size(const struct pool *p);

/* Readable (an eventfd counter) as workers exit after a drain, so the
 * main loop keeps running, and answering signals, while they drain. */
int pool_exit_fd(const struct pool *p);

#endif
