/* The ident query's I/O: see ident.h. One socket, one event for it and
 * one deadline timer; every way out goes through finish(). */
#include "ident.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ident_reply.h"
#include "monotime.h"

struct ident_query {
	struct event_base *base;
	int fd;
	struct event *io;
	struct event *deadline;	/* the whole query; also the deferred start failure */
	ident_done_fn *cb;
	void *arg;
	unsigned client_port, server_port;	/* the query: their port, ours */
	int connected;
	enum ident_result failed;	/* set before the deferred callback of a failed start */
	const char *failed_why;
	uint64_t started_us;
	size_t len;
	char buf[IDENT_REPLY_MAX];
};

static void
port_of(const struct sockaddr *sa, unsigned *port)
{
	*port = sa->sa_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)sa)->sin6_port) :
	    ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

static socklen_t
len_of(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void
release(struct ident_query *q)
{
	if (q->io != NULL)
		event_free(q->io);
	if (q->deadline != NULL)
		event_free(q->deadline);
	if (q->fd >= 0)
		close(q->fd);
	free(q);
}

static void
finish(struct ident_query *q, enum ident_result result, const char *user, size_t user_len,
    const char *detail)
{
	struct ident_answer a = { result, user, user_len, detail, q->started_us, monotime_now_us() };

	q->cb(q->arg, &a);
	release(q);
}

/* A whole line is in: what it says. */
static void
answer(struct ident_query *q, size_t line_len)
{
	struct ident_reply r;

	ident_reply_parse(q->buf, line_len, q->client_port, q->server_port, &r);
	switch (r.kind) {
	case IDENT_REPLY_USERID:
		finish(q, IDENT_OK, r.user, r.user_len, r.opsys);
		return;
	case IDENT_REPLY_ERROR:
		finish(q, IDENT_ERROR, NULL, 0, r.token);
		return;
	case IDENT_REPLY_BAD:
		finish(q, IDENT_BAD, NULL, 0, r.why);
		return;
	}
}

static void
read_reply(struct ident_query *q)
{
	for (;;) {
		ssize_t n = read(q->fd, q->buf + q->len, sizeof q->buf - q->len);
		size_t end;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			finish(q, errno == ECONNREFUSED ? IDENT_REFUSED : IDENT_BAD, NULL, 0,
			    errno == ECONNRESET ? "reset before a reply" : "read failed");
			return;
		}
		if (n == 0) {
			finish(q, IDENT_BAD, NULL, 0, "closed without a whole reply line");
			return;
		}
		q->len += (size_t)n;
		end = ident_line_end(q->buf, q->len);
		if (end == (size_t)-1) {
			finish(q, IDENT_BAD, NULL, 0, "no line end within 1000 bytes");
			return;
		}
		if (end > 0) {
			answer(q, end);
			return;
		}
	}
}

static void
io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ident_query *q = arg;
	char query[32];
	int err = 0, n;
	socklen_t len = sizeof err;

	if (q->connected) {
		read_reply(q);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		finish(q, err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH ? IDENT_REFUSED :
		    IDENT_BAD, NULL, 0, strerror(err));
		return;
	}
	q->connected = 1;
	/* RFC 1413: "<port-on-server> , <port-on-client>", the server being
	 * the ident server: the client's port first */
	n = snprintf(query, sizeof query, "%u , %u\r\n", q->client_port, q->server_port);
	if (write(fd, query, (size_t)n) != n) {	/* 14 bytes into an empty socket buffer */
		finish(q, IDENT_BAD, NULL, 0, "cannot send the query");
		return;
	}
	event_free(q->io);
	q->io = event_new(q->base, fd, EV_READ | EV_PERSIST, io_cb, q);
	if (q->io == NULL || event_add(q->io, NULL) != 0)
		finish(q, IDENT_FAILED, NULL, 0, "out of memory");
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ident_query *q = arg;

	if (q->failed != IDENT_OK)
		finish(q, q->failed, NULL, 0, q->failed_why);
	else
		finish(q, IDENT_TIMEOUT, NULL, 0, q->connected ? "no reply" : "no connection");
}

struct ident_query *
ident_start(struct event_base *base, const struct sockaddr *peer, const struct sockaddr *local,
    unsigned port, uint64_t timeout_us, ident_done_fn *cb, void *arg)
{
	struct ident_query *q = calloc(1, sizeof *q);
	struct sockaddr_storage to, from;
	struct timeval tv;

	if (q == NULL)
		return NULL;
	q->base = base;
	q->fd = -1;
	q->cb = cb;
	q->arg = arg;
	q->started_us = monotime_now_us();
	port_of(peer, &q->client_port);
	port_of(local, &q->server_port);
	q->deadline = evtimer_new(base, deadline_cb, q);
	if (q->deadline == NULL) {
		release(q);
		return NULL;
	}
	memcpy(&to, peer, len_of(peer));
	memcpy(&from, local, len_of(local));
	if (to.ss_family == AF_INET6) {
		((struct sockaddr_in6 *)&to)->sin6_port = htons((uint16_t)port);
		((struct sockaddr_in6 *)&from)->sin6_port = 0;
	} else {
		((struct sockaddr_in *)&to)->sin_port = htons((uint16_t)port);
		((struct sockaddr_in *)&from)->sin_port = 0;
	}
	/* From the address the client connected to, as its ident server
	 * expects: that is the connection it is asked about. */
	q->fd = socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (q->fd < 0 || bind(q->fd, (struct sockaddr *)&from, len_of(local)) != 0 ||
	    (connect(q->fd, (struct sockaddr *)&to, len_of(peer)) != 0 && errno != EINPROGRESS)) {
		int e = errno;

		/* the callback must not run from here: it runs from the loop */
		q->failed = e == ECONNREFUSED ? IDENT_REFUSED : IDENT_FAILED;
		q->failed_why = q->fd < 0 ? "no socket (descriptors?)" : "cannot connect";
		tv.tv_sec = 0;
		tv.tv_usec = 0;
		evtimer_add(q->deadline, &tv);
		return q;
	}
	q->io = event_new(base, q->fd, EV_WRITE, io_cb, q);
	tv = monotime_timeval(timeout_us);
	if (q->io == NULL || event_add(q->io, NULL) != 0 || evtimer_add(q->deadline, &tv) != 0) {
		release(q);
		return NULL;
	}
	return q;
}

void
ident_cancel(struct ident_query *q)
{
	if (q != NULL)
		release(q);
}

const char *
ident_result_name(enum ident_result r)
{
	static const char *const names[IDENT_RESULT_COUNT] = {
		"ok", "error", "refused", "timeout", "bad", "failed",
	};

	return (unsigned)r < IDENT_RESULT_COUNT ? names[r] : "failed";
}
