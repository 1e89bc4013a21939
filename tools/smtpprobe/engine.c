#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>	/* struct event embedded in struct conn */

#include "message.h"
#include "monotime.h"
#include "progress.h"
#include "proxyhdr.h"
#include "units.h"

/* Per-connection states, in the order a try goes through them. */
enum conn_state {
	STATE_CONNECTING,	/* SYN sent, waiting for writability */
	STATE_GREETING,		/* established, reading the 220 */
	STATE_EHLO,		/* session mode: waiting for each reply */
	STATE_MAIL,
	STATE_RCPT,
	STATE_DATA,
	STATE_BODY,		/* writing the header, the body and the final dot */
	STATE_DOT,
	STATE_HOLD,		/* idle mode: greeted, holding the connection */
	STATE_QUIT,		/* QUIT sent, waiting for 221 */
	STATE_DRAIN,		/* waiting for the server's FIN */
	STATE_RETRY_WAIT,	/* gave up; socket closed, waiting to try again */
};

#define BODY_IOV	16	/* up to ~1 MiB a call, more than a socket buffer takes */

struct worker;

struct conn {
	struct worker *w;
	struct conn *next_free;
	struct conn *all_next;	/* every conn the worker allocated, freed at the end */
	bool busy;		/* an attempt holds it (not on the free list) */
	struct event ev;
	int fd;
	uint32_t gen;		/* bumped when a try ends: "is this still my try?" */
	bool unconfirmed;	/* connect taken as done from a read edge, see conn_event_cb */
	enum conn_state state;
	uint64_t attempt;
	unsigned try_no;
	uint64_t ref_us;	/* the try's start: scheduled, not when we got to it */
	uint64_t est_us;
	uint64_t greet_us;
	uint64_t step_us;	/* when the command now awaiting its reply was sent */
	uint64_t body_off;	/* into header + body + final dot */
	union probe_sockaddr source;	/* local end, with --csv; AF_UNSPEC if none */
	struct probe_reply reply;
	enum probe_outcome outcome;
	int code;
	bool banner_masked, ehlo_refused;
	unsigned masked_kw;
};

struct worker {
	const struct probe_config *cfg;
	struct event_base *base;
	struct probe_result *res;
	unsigned index, nthreads;
	unsigned cap;		/* attempts in flight at most */
	uint64_t quota;		/* attempts this worker may start */
	uint64_t started;
	unsigned inflight;
	uint64_t t0_us, stop_us;
	bool pumping;
	struct event tick;	/* open loop: next scheduled start */
	const struct timeval *tv_connect, *tv_give_up, *tv_reply;
	struct timeval tv_hold;
	struct conn *free_list;
	struct conn *all;
	char *fill;
	pthread_t thread;
	int rc;
	/* Stopping (a signal to the run's thread): a byte on stop_fd. */
	int stop_fd[2];
	struct event stop_ev, grace;
	bool stopping;
	uint64_t interrupted;	/* in flight when the grace ran out */
	int done_fd;		/* the run's thread hears the end here */
	bool live_on;		/* the status line is on: count into live */
	struct probe_live live;
};

static void conn_event_cb(evutil_socket_t fd, short what, void *arg);
static void conn_readable(struct conn *c, short what);
static void session_body(struct conn *c);
static void try_start(struct conn *c, uint64_t ref_us);
static void worker_pump(struct worker *w);

static const char *const stage_names[STAGE_COUNT] = {
	[STAGE_CONNECT] = "connect", [STAGE_BANNER] = "banner",
	[STAGE_EHLO] = "ehlo", [STAGE_MAIL] = "mail", [STAGE_RCPT] = "rcpt",
	[STAGE_DATA] = "data", [STAGE_MESSAGE] = "message", [STAGE_TOTAL] = "total",
};

const char *
probe_stage_name(enum probe_stage s)
{
	return (unsigned)s < STAGE_COUNT ? stage_names[s] : "?";
}

/* ---- results ---- */

struct probe_result *
probe_result_new(void)
{
	struct probe_result *r = calloc(1, sizeof *r);

	if (r == NULL)
		return NULL;
	for (int i = 0; i < STAGE_COUNT; i++)
		hist_init(&r->stage[i]);
	return r;
}

void
probe_result_free(struct probe_result *r)
{
	if (r == NULL)
		return;
	free(r->rows);
	free(r);
}

static int
rows_reserve(struct probe_result *r, uint64_t need)
{
	if (need <= r->cap_rows)
		return 0;
	uint64_t cap = r->cap_rows ? r->cap_rows : 1024;
	while (cap < need)
		cap *= 2;
	struct probe_try *p = realloc(r->rows, cap * sizeof *p);
	if (p == NULL)
		return -1;
	r->rows = p;
	r->cap_rows = cap;
	return 0;
}

int
probe_result_merge(struct probe_result *dst, struct probe_result *src)
{
	dst->attempts += src->attempts;
	dst->tries += src->tries;
	dst->banner_masked += src->banner_masked;
	dst->ehlo_refused += src->ehlo_refused;
	dst->ehlo_masked += src->ehlo_masked;
	for (int i = 0; i < OUTCOME_COUNT; i++) {
		dst->outcome[i] += src->outcome[i];
		dst->try_outcome[i] += src->try_outcome[i];
	}
	for (int i = 0; i < STAGE_COUNT; i++)
		hist_merge(&dst->stage[i], &src->stage[i]);
	if (src->nrows == 0)
		return 0;
	if (rows_reserve(dst, dst->nrows + src->nrows) != 0)
		return -1;
	memcpy(dst->rows + dst->nrows, src->rows, src->nrows * sizeof *src->rows);
	dst->nrows += src->nrows;
	src->nrows = 0;
	return 0;
}

static int
row_cmp(const void *a, const void *b)
{
	const struct probe_try *x = a, *y = b;

	if (x->attempt != y->attempt)
		return x->attempt < y->attempt ? -1 : 1;
	return x->try_no < y->try_no ? -1 : x->try_no > y->try_no;
}

void
probe_result_sort_rows(struct probe_result *r)
{
	if (r->nrows > 1)
		qsort(r->rows, r->nrows, sizeof *r->rows, row_cmp);
}

/* ---- connections ---- */

static struct conn *
conn_get(struct worker *w)
{
	struct conn *c = w->free_list, *all_next;

	uint32_t gen = 0;

	if (c != NULL) {
		w->free_list = c->next_free;
		gen = c->gen;
		all_next = c->all_next;
	} else if ((c = malloc(sizeof *c)) == NULL) {
		return NULL;
	} else {
		all_next = w->all;
		w->all = c;
	}
	memset(c, 0, sizeof *c);
	c->gen = gen;
	c->all_next = all_next;
	c->busy = true;
	c->w = w;
	c->fd = -1;
	return c;
}

static void
conn_put(struct conn *c)
{
	struct worker *w = c->w;

	c->busy = false;
	c->next_free = w->free_list;
	w->free_list = c;
}

static void
conn_close(struct conn *c)
{
	if (c->fd < 0)
		return;
	event_del(&c->ev);
	close(c->fd);
	c->fd = -1;
}

/* raw is what this try saw; c->outcome is what the CSV says (ndr on the
 * last try of a bounced attempt). */
static void
record_try(struct conn *c, uint64_t now, enum probe_outcome raw)
{
	struct probe_result *r = c->w->res;

	r->tries++;
	r->try_outcome[raw]++;
	r->banner_masked += c->banner_masked;
	r->ehlo_refused += c->ehlo_refused;
	r->ehlo_masked += c->masked_kw > 0;
	if (c->est_us)
		hist_record(&r->stage[STAGE_CONNECT], c->est_us - c->ref_us);
	if (c->greet_us)
		hist_record(&r->stage[STAGE_BANNER], c->greet_us - c->est_us);
	hist_record(&r->stage[STAGE_TOTAL], now - c->ref_us);
	if (!c->w->cfg->keep_tries || rows_reserve(r, r->nrows + 1) != 0)
		return;
	struct probe_try *t = &r->rows[r->nrows++];
	t->attempt = c->attempt;
	t->try_no = c->try_no;
	t->start_us = c->ref_us - c->w->t0_us;
	t->connect_us = c->est_us ? c->est_us - c->ref_us : 0;
	t->banner_us = c->greet_us ? c->greet_us - c->est_us : 0;
	t->total_us = now - c->ref_us;
	t->code = (uint16_t)c->code;
	t->outcome = (uint8_t)c->outcome;
	t->greeted = c->greet_us != 0;
	t->banner_masked = c->banner_masked;
	t->ehlo_refused = c->ehlo_refused;
	t->masked_extensions = (uint16_t)(c->masked_kw < UINT16_MAX ? c->masked_kw : UINT16_MAX);
	t->source = c->source;
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	try_start(c, monotime_now_us());
}

/* The try is over: close, record, and either schedule the next try or
 * finish the attempt. The conn goes back to the free list here; callers
 * must not touch it afterwards. */
static void
try_end(struct conn *c, enum probe_outcome o)
{
	struct worker *w = c->w;
	uint64_t now = monotime_now_us();
	bool retry;

	conn_close(c);
	c->gen++;
	enum probe_outcome final = probe_attempt_outcome(o, c->try_no,
	    w->cfg->retry.retries, w->cfg->retry.tempfail, &retry);
	c->outcome = final;
	record_try(c, now, o);
	if (w->live_on)
		probe_live_try(&w->live, c->greet_us != 0, c->greet_us ? c->greet_us - c->est_us : 0,
		    !retry, final);
	if (retry) {
		uint64_t wait = probe_retry_wait(&w->cfg->retry, c->try_no - 1);
		struct timeval tv = monotime_timeval(wait);
		c->state = STATE_RETRY_WAIT;
		event_assign(&c->ev, w->base, -1, 0, retry_cb, c);
		/* A relative timeout counts from the loop's cached time, which
		 * may be older than now by this iteration's work: the retry
		 * would come early and the retry wait read shorter than set. */
		event_base_update_cache_time(w->base);
		event_add(&c->ev, &tv);
		return;
	}
	w->res->outcome[final]++;
	w->res->attempts++;
	w->inflight--;
	conn_put(c);
	worker_pump(w);
}

static void
try_fail(struct conn *c, enum probe_event ev, int err)
{
	c->outcome = probe_classify(ev, err, 0);
	try_end(c, c->outcome);
}

/* Each connection has one edge-triggered event for reads, writes and the
 * deadline of its state, registered once: a state change only moves the
 * deadline (no epoll_ctl), which is what lets one thread drive tens of
 * thousands of sessions a second. */
static void
conn_deadline(struct conn *c, const struct timeval *tv)
{
	event_add(&c->ev, tv);
}

static int
conn_send(struct conn *c, const char *s, size_t n)
{
	ssize_t k = send(c->fd, s, n, MSG_NOSIGNAL);

	if (k == (ssize_t)n)
		return 0;
	/* Commands are a few bytes on a fresh socket: a short write means
	 * the connection is in trouble, not that the buffer is full. */
	if (k >= 0)
		errno = EAGAIN;
	return -1;
}

/* Sends QUIT after the outcome is decided; the reply does not change it. */
static void
conn_quit(struct conn *c)
{
	if (conn_send(c, "QUIT\r\n", 6) != 0) {
		try_end(c, c->outcome);
		return;
	}
	probe_reply_reset(&c->reply);
	c->state = STATE_QUIT;
	conn_deadline(c, c->w->tv_reply);
}

static void
conn_command(struct conn *c, enum conn_state next, const char *cmd)
{
	if (conn_send(c, cmd, strlen(cmd)) != 0) {
		try_fail(c, EVENT_READ_ERROR, errno);
		return;
	}
	probe_reply_reset(&c->reply);
	c->state = next;
	c->step_us = monotime_now_us();
	conn_deadline(c, c->w->tv_reply);
}

/* The local address and port of the connection, for matching a try with
 * the server's log line for the same peer. Taken once connected, even with
 * --source: IP_BIND_ADDRESS_NO_PORT leaves the port to connect(). Only
 * --csv shows it, so only --csv pays the system call. */
static void
conn_note_source(struct conn *c)
{
	socklen_t len = sizeof c->source;

	if (!c->w->cfg->keep_tries)
		return;
	if (getsockname(c->fd, &c->source.sa, &len) != 0)
		c->source.sa.sa_family = AF_UNSPEC;
}

/* --proxy: the header a balancer would send, first thing on the
 * connection. The client it names is the attempt's address of
 * --proxy-source (a retry is the same client again) with our real local
 * port, or our real local address; the --csv source column shows that
 * client, since it is the peer bannerd logs. */
static int
conn_send_proxy(struct conn *c)
{
	const struct probe_config *cfg = c->w->cfg;
	union probe_sockaddr local;
	struct sockaddr_storage src;
	socklen_t len = sizeof local;
	unsigned char hdr[PROBE_PROXY_MAX];
	size_t n;

	if (getsockname(c->fd, &local.sa, &len) != 0)
		return -1;
	memcpy(&src, &local, len);
	if (cfg->use_proxy_source) {
		probe_source_nth(&cfg->proxy_source, c->attempt, &src, &len);
		if (src.ss_family == AF_INET)
			((struct sockaddr_in *)&src)->sin_port = local.sa.sa_family == AF_INET ? local.sin.sin_port :
			    local.sin6.sin6_port;
		else
			((struct sockaddr_in6 *)&src)->sin6_port = local.sa.sa_family == AF_INET ? local.sin.sin_port :
			    local.sin6.sin6_port;
	}
	n = probe_proxy_header(cfg->proxy_version, (struct sockaddr *)&src,
	    (const struct sockaddr *)&cfg->target.ss, hdr);
	if (n == 0) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if (cfg->keep_tries)
		memcpy(&c->source, &src, len < sizeof c->source ? len : sizeof c->source);
	return conn_send(c, (const char *)hdr, n);
}

static void
conn_established(struct conn *c)
{
	struct worker *w = c->w;

	c->est_us = monotime_now_us();
	conn_note_source(c);
	if (w->cfg->proxy_version != 0 && conn_send_proxy(c) != 0) {
		try_fail(c, EVENT_READ_ERROR, errno);
		return;
	}
	c->state = STATE_GREETING;
	probe_reply_reset(&c->reply);
	conn_deadline(c, w->cfg->give_up_us ? w->tv_give_up : w->tv_reply);
}

static void
conn_greeted(struct conn *c)
{
	struct worker *w = c->w;
	char cmd[300];

	c->greet_us = monotime_now_us();
	c->code = c->reply.code;
	c->banner_masked = probe_reply_masked(&c->reply);
	c->outcome = probe_classify(EVENT_REPLY, 0, c->reply.code);
	if (c->outcome != OUTCOME_OK || w->cfg->mode == MODE_BANNER) {
		conn_quit(c);
		return;
	}
	if (w->cfg->mode == MODE_IDLE) {
		c->state = STATE_HOLD;
		event_add(&c->ev, &w->tv_hold);
		return;
	}
	snprintf(cmd, sizeof cmd, "EHLO %s\r\n", w->cfg->helo);
	conn_command(c, STATE_EHLO, cmd);
}

static void
session_step_done(struct conn *c, enum probe_stage stage)
{
	hist_record(&c->w->res->stage[stage], monotime_now_us() - c->step_us);
}

/* A complete reply in session mode: check it, move to the next command. */
static void
session_reply(struct conn *c)
{
	static const struct {
		enum probe_stage stage;
		int klass;		/* expected first digit */
		enum conn_state next;
		const char *cmd;
	} steps[] = {
		[STATE_EHLO] = { STAGE_EHLO, 2, STATE_MAIL, "MAIL FROM:<probe@smtpprobe.invalid>\r\n" },
		[STATE_MAIL] = { STAGE_MAIL, 2, STATE_RCPT, "RCPT TO:<sink@smtpprobe.invalid>\r\n" },
		[STATE_RCPT] = { STAGE_RCPT, 2, STATE_DATA, "DATA\r\n" },
		[STATE_DATA] = { STAGE_DATA, 3, STATE_BODY, NULL },
		[STATE_DOT] = { STAGE_MESSAGE, 2, STATE_QUIT, NULL },
	};
	int code = c->reply.code;

	/* EHLO refused: fall back to HELO once, without ESMTP, as Postfix
	 * does; a PIX that overwrote EHLO with X's gets a 500 here. */
	if (c->state == STATE_EHLO && code / 100 == 5 && !c->ehlo_refused) {
		char cmd[300];

		c->ehlo_refused = true;
		snprintf(cmd, sizeof cmd, "HELO %s\r\n", c->w->cfg->helo);
		conn_command(c, STATE_EHLO, cmd);
		return;
	}
	if (c->state == STATE_EHLO && !c->ehlo_refused)
		c->masked_kw = c->reply.masked_kw;
	session_step_done(c, steps[c->state].stage);
	if (code / 100 != steps[c->state].klass) {
		c->code = code;
		c->outcome = probe_classify(EVENT_REPLY, 0, code);
		if (c->outcome == OUTCOME_OK)
			c->outcome = OUTCOME_ERROR;	/* e.g. 250 to DATA */
		conn_quit(c);
		return;
	}
	if (steps[c->state].next == STATE_QUIT) {
		conn_quit(c);
		return;
	}
	if (steps[c->state].next == STATE_BODY) {
		c->state = STATE_BODY;
		c->body_off = 0;
		conn_deadline(c, c->w->tv_reply);
		session_body(c);
		return;
	}
	conn_command(c, steps[c->state].next, steps[c->state].cmd);
}

/* Writes as much of the message as the socket takes, gathered into as few
 * calls as possible: a message that fits the send buffer leaves in one
 * write, so no part of it (the final dot above all) waits behind the
 * server's delayed ACK. With separate writes for header, body and dot,
 * every message step measured ~40 ms of Nagle plus delayed ACK. */
static void
session_body(struct conn *c)
{
	struct worker *w = c->w;
	uint64_t end = probe_message_len(w->cfg->size);
	struct iovec iov[BODY_IOV];

	while (c->body_off < end) {
		struct msghdr mh = { .msg_iov = iov };
		mh.msg_iovlen = (size_t)probe_message_iov(w->fill, w->cfg->size, c->body_off, iov, BODY_IOV);
		ssize_t k = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (k < 0) {
			try_fail(c, EVENT_READ_ERROR, errno);
			return;
		}
		c->body_off += (uint64_t)k;
	}
	probe_reply_reset(&c->reply);
	c->state = STATE_DOT;
	c->step_us = monotime_now_us();
	conn_deadline(c, w->tv_reply);
	/* The reply may have come while we wrote: its edge is gone. */
	conn_readable(c, EV_READ);
}

/* Deadline of the current state passed. */
static void
conn_timeout(struct conn *c)
{
	switch (c->state) {
	case STATE_CONNECTING:
		try_fail(c, EVENT_TIMEOUT, ETIMEDOUT);
		break;
	case STATE_GREETING:
		/* An MTA that gives up just closes: no QUIT, no RST. */
		try_fail(c, c->w->cfg->give_up_us ? EVENT_GIVE_UP : EVENT_TIMEOUT, ETIMEDOUT);
		break;
	case STATE_HOLD:
		conn_quit(c);
		break;
	case STATE_QUIT:
	case STATE_DRAIN:
		try_end(c, c->outcome);
		break;
	default:
		try_fail(c, EVENT_TIMEOUT, ETIMEDOUT);
		break;
	}
}

/* Keeps the greeting deadline fixed from the moment of connection:
 * a server trickling bytes must not extend it. */
static void
greeting_rearm(struct conn *c)
{
	const struct probe_config *cfg = c->w->cfg;
	uint64_t limit = cfg->give_up_us ? cfg->give_up_us : cfg->timeout_us;
	uint64_t spent = monotime_now_us() - c->est_us;
	uint64_t left = spent < limit ? limit - spent : 0;
	struct timeval tv = monotime_timeval(left);

	event_add(&c->ev, &tv);
}

/* Feeds input to the reply reader of the current state. */
static void
conn_input(struct conn *c, const char *buf, size_t n)
{
	if (c->state == STATE_DRAIN || c->state == STATE_HOLD)
		return;		/* bytes after the reply we waited for */
	probe_reply_feed(&c->reply, buf, n);
	if (c->reply.bad) {
		if (c->state == STATE_QUIT) {
			try_end(c, c->outcome);
			return;
		}
		c->code = c->reply.code;
		c->outcome = OUTCOME_ERROR;
		if (c->state == STATE_GREETING) {
			c->greet_us = monotime_now_us();
			c->banner_masked = probe_reply_masked(&c->reply);
		}
		conn_quit(c);
		return;
	}
	if (!c->reply.done) {
		if (c->state == STATE_GREETING)
			greeting_rearm(c);
		return;
	}
	switch (c->state) {
	case STATE_GREETING:
		conn_greeted(c);
		break;
	case STATE_QUIT:
		c->state = STATE_DRAIN;
		break;
	default:
		session_reply(c);
		break;
	}
}

/* Edge-triggered: read until the socket is drained. A read shorter than
 * the buffer means it is (a later arrival raises a new edge), except
 * after the 221, where the FIN is usually already queued behind it. */
static void
conn_readable(struct conn *c, short what)
{
	char buf[2048];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof buf, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && c->unconfirmed && errno != ECONNRESET) {
			/* The read edge was the connect failing, e.g. refused. */
			c->est_us = 0;
			c->source.sa.sa_family = AF_UNSPEC;
			try_fail(c, EVENT_CONNECT_ERROR, errno);
			return;
		}
		c->unconfirmed = false;
		if (n < 0 || n == 0) {
			/* After the decisive reply, the end of the connection
			 * is just the end; before it, it is the outcome. */
			bool decided = c->state == STATE_QUIT || c->state == STATE_DRAIN ||
			    c->state == STATE_HOLD;
			if (decided)
				try_end(c, c->outcome);
			else if (n == 0)
				try_fail(c, EVENT_EOF, 0);
			else
				try_fail(c, EVENT_READ_ERROR, errno);
			return;
		}
		uint32_t gen = c->gen;
		conn_input(c, buf, (size_t)n);
		if (c->gen != gen)
			return;		/* the try ended; c may already serve another */
		if ((size_t)n == sizeof buf)
			continue;
		if (!(what & EV_CLOSED) && c->state != STATE_DRAIN)
			return;
		/* The FIN was already in when epoll reported: after the 221
		 * there is no need to read the end of the stream to know it
		 * is there; in any other state, read on and meet it (no new
		 * edge would come for it). */
		if ((what & EV_CLOSED) && c->state == STATE_DRAIN) {
			try_end(c, c->outcome);
			return;
		}
	}
}

/* One dispatcher for every state of a connection. */
static void
conn_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (what & EV_TIMEOUT) {
		conn_timeout(c);
		return;
	}
	if (c->state == STATE_CONNECTING) {
		/* Writable alone means connected: a failed connect raises
		 * EPOLLERR, which libevent reports as read and write. With
		 * read set (often the greeting came with the connect edge,
		 * and there will be no second edge for it), read: bytes prove
		 * the connect worked, and a failed connect fails the read
		 * with its errno, so SO_ERROR is never needed. */
		if (!(what & EV_READ)) {
			conn_established(c);
			return;
		}
		conn_established(c);
		c->unconfirmed = true;
		conn_readable(c, what);
		return;
	}
	if (c->state == STATE_BODY) {
		if (what & EV_WRITE)
			session_body(c);
		return;		/* a reply now is read once the body is out */
	}
	if (what & EV_READ)
		conn_readable(c, what);
}

static int
conn_bind_source(struct conn *c)
{
	struct worker *w = c->w;
	struct sockaddr_storage ss;
	socklen_t len;
	uint64_t n = c->attempt;

#ifdef IP_BIND_ADDRESS_NO_PORT
	/* Let connect() pick the port per (source, destination) pair, or
	 * a /24 of sources still shares one ephemeral port range. */
	int one = 1;
	(void)setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
	probe_source_nth(&w->cfg->source, n, &ss, &len);
	return bind(c->fd, (struct sockaddr *)&ss, len);
}

/* Every command and the message go out in one write each, so Nagle can only
 * delay a segment, never save one; and with it on, a write that follows an
 * unacknowledged one waits for the server's delayed ACK (40 ms on Linux),
 * time a measuring tool would report as the server's. Failure is harmless
 * to the run (only the figures suffer), so it is not fatal. */
static void
conn_nodelay(struct conn *c)
{
	int one = 1;

	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void
try_start(struct conn *c, uint64_t ref_us)
{
	struct worker *w = c->w;
	const struct addr *t = &w->cfg->target;

	c->try_no++;
	c->ref_us = ref_us;
	c->est_us = c->greet_us = 0;
	memset(&c->source, 0, sizeof c->source);
	c->code = 0;
	c->banner_masked = c->ehlo_refused = false;
	c->masked_kw = 0;
	c->outcome = OUTCOME_ERROR;
	c->state = STATE_CONNECTING;
	c->fd = socket(t->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		try_fail(c, EVENT_CONNECT_ERROR, errno);
		return;
	}
	conn_nodelay(c);
	if (w->cfg->use_source && conn_bind_source(c) != 0) {
		close(c->fd);
		c->fd = -1;
		try_fail(c, EVENT_CONNECT_ERROR, errno);
		return;
	}
	event_assign(&c->ev, w->base, c->fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
	    conn_event_cb, c);
	if (connect(c->fd, (const struct sockaddr *)&t->ss, t->len) == 0) {
		conn_established(c);
		return;
	}
	if (errno != EINPROGRESS) {
		int err = errno;
		close(c->fd);
		c->fd = -1;
		try_fail(c, EVENT_CONNECT_ERROR, err);
		return;
	}
	event_add(&c->ev, w->tv_connect);
}

/* ---- scheduling ---- */

static void
attempt_start(struct worker *w, uint64_t attempt, uint64_t sched_us)
{
	struct conn *c = conn_get(w);

	if (c == NULL) {
		w->res->attempts++;
		w->res->tries++;
		w->res->outcome[OUTCOME_ERROR]++;
		w->res->try_outcome[OUTCOME_ERROR]++;
		if (w->live_on)
			probe_live_try(&w->live, false, 0, true, OUTCOME_ERROR);
		return;
	}
	c->attempt = attempt;
	w->inflight++;
	try_start(c, sched_us);
}

static uint64_t
sched_of(const struct worker *w, uint64_t attempt)
{
	return w->t0_us + (uint64_t)((double)attempt * 1e6 / w->cfg->rate);
}

/* Starts every attempt that is due and has room. Attempts ending inside
 * (a refused connect can end at once) call back in; the flag turns that
 * into a no-op so the loop here does the work without recursion. */
static void
worker_pump(struct worker *w)
{
	bool open_loop = w->cfg->rate > 0;

	if (w->pumping)
		return;
	w->pumping = true;
	while (w->started < w->quota && w->inflight < w->cap) {
		uint64_t a = w->started * w->nthreads + w->index;
		uint64_t now = monotime_now_us();
		uint64_t sched = open_loop ? sched_of(w, a) : now;
		if (sched >= w->stop_us) {
			w->quota = w->started;	/* -d reached: start no more */
			break;
		}
		if (sched > now) {
			uint64_t d = sched - now;
			struct timeval tv = monotime_timeval(d);
			event_add(&w->tick, &tv);
			break;
		}
		w->started++;
		attempt_start(w, a, sched);
	}
	w->pumping = false;
	if (w->started >= w->quota && w->inflight == 0)
		event_base_loopbreak(w->base);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	worker_pump(arg);
}

/* The grace is over: what is still in flight is left unfinished. */
static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	w->interrupted = w->inflight;
	event_base_loopbreak(w->base);
}

/* The run's thread asks for a stop: start nothing more (retries of the
 * attempts in flight still happen within the grace), let those in
 * flight end within the grace. */
static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	char buf[16];
	struct timeval tv;

	(void)!read(fd, buf, sizeof buf);
	if (w->stopping)
		return;
	w->stopping = true;
	w->quota = w->started;
	event_del(&w->tick);
	if (w->inflight == 0) {
		event_base_loopbreak(w->base);
		return;
	}
	tv = monotime_timeval(w->cfg->grace_us);
	evtimer_add(&w->grace, &tv);
}

static const struct timeval *
common_tv(struct event_base *base, uint64_t us)
{
	struct timeval tv = monotime_timeval(us);

	/* Every connection shares these durations: libevent keeps such
	 * timeouts in a FIFO instead of the heap, O(1) per connection. */
	const struct timeval *ct = event_base_init_common_timeout(base, &tv);
	return ct;
}

static int
worker_setup(struct worker *w)
{
	const struct probe_config *cfg = w->cfg;
	struct event_config *ec = event_config_new();

	if (ec == NULL)
		return -1;
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	/* Without it libevent's timers read CLOCK_MONOTONIC_COARSE (4 ms
	 * steps here): the schedule, the give-up and the retry wait fired up
	 * to a tick early against the precise clock the figures use. */
	event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
	event_config_require_features(ec, EV_FEATURE_ET | EV_FEATURE_EARLY_CLOSE);
	w->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (w->base == NULL)
		return -1;
	w->tv_connect = common_tv(w->base, cfg->connect_timeout_us);
	w->tv_reply = common_tv(w->base, cfg->timeout_us);
	w->tv_give_up = cfg->give_up_us ? common_tv(w->base, cfg->give_up_us) : w->tv_reply;
	w->tv_hold = monotime_timeval(cfg->hold_us);
	if (w->tv_connect == NULL || w->tv_reply == NULL || w->tv_give_up == NULL)
		return -1;
	evtimer_assign(&w->tick, w->base, tick_cb, w);
	evtimer_assign(&w->grace, w->base, grace_cb, w);
	if (pipe2(w->stop_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
		w->stop_fd[0] = w->stop_fd[1] = -1;
		return -1;
	}
	event_assign(&w->stop_ev, w->base, w->stop_fd[0], EV_READ | EV_PERSIST, stop_cb, w);
	if (event_add(&w->stop_ev, NULL) != 0)
		return -1;
	if (cfg->progress) {
		if (probe_live_init(&w->live) != 0)
			return -1;
		w->live_on = true;
	}
	if (cfg->mode == MODE_SESSION) {
		if ((w->fill = malloc(PROBE_FILL_SIZE)) == NULL)
			return -1;
		probe_message_fill(w->fill);
	}
	return 0;
}

/* Every conn, also those an interrupted run left in flight: their
 * sockets closed, their events off the base before it goes. */
static void
worker_teardown(struct worker *w)
{
	while (w->all) {
		struct conn *c = w->all;
		w->all = c->all_next;
		if (c->busy) {
			event_del(&c->ev);
			if (c->fd >= 0)
				close(c->fd);
		}
		free(c);
	}
	free(w->fill);
	if (w->base) {
		event_del(&w->tick);
		event_del(&w->grace);
		if (w->stop_fd[0] >= 0)
			event_del(&w->stop_ev);
		event_base_free(w->base);
	}
	for (int i = 0; i < 2; i++)
		if (w->stop_fd[i] >= 0)
			close(w->stop_fd[i]);
	if (w->live_on)
		probe_live_destroy(&w->live);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	worker_pump(w);
	if (w->started < w->quota || w->inflight > 0)
		w->rc = event_base_dispatch(w->base) < 0 ? -1 : 0;
	(void)!write(w->done_fd, "", 1);
	return NULL;
}

static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static unsigned
fd_budget(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return 1024;
	return rl.rlim_cur > 1088 ? (unsigned)(rl.rlim_cur - 64) : 1024;
}

static uint64_t
share(uint64_t total, unsigned i, unsigned n)
{
	return total / n + (i < total % n ? 1 : 0);
}

static void
workers_plan(struct worker *ws, unsigned n, const struct probe_config *cfg, uint64_t t0)
{
	unsigned budget = fd_budget() / n;

	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &ws[i];
		w->cfg = cfg;
		w->index = i;
		w->nthreads = n;
		w->t0_us = t0;
		w->stop_us = cfg->duration_us ? t0 + cfg->duration_us : UINT64_MAX;
		w->quota = cfg->attempts ? share(cfg->attempts, i, n) : UINT64_MAX;
		if (cfg->rate > 0)
			w->cap = cfg->concurrency ? (unsigned)share(cfg->concurrency, i, n) : budget;
		else
			w->cap = (unsigned)share(cfg->concurrency ? cfg->concurrency : 1, i, n);
		if (w->cap > budget)
			w->cap = budget;
	}
}

/* ---- the run's own thread: signals, the status line, the end ---- */

struct watch {
	const struct probe_config *cfg;
	struct event_base *base;
	struct worker *ws;
	unsigned started, done;
	unsigned signals;
	int done_fd[2];
	uint64_t t0_us;
	/* the status line: one histogram and one count per second of the window */
	struct histogram win[PROBE_PROGRESS_WINDOW];
	uint64_t win_attempts[PROBE_PROGRESS_WINDOW + 1], win_us[PROBE_PROGRESS_WINDOW + 1];
	unsigned ticks;
	size_t shown;		/* length of the line now on the terminal */
};

/* One write for the whole line, so nothing else lands in its middle. */
static void
status_write(struct watch *wt, const char *text, size_t len)
{
	char buf[512];
	size_t n = 0;

	buf[n++] = '\r';
	if (len > sizeof buf - 2 - 256)
		len = sizeof buf - 2 - 256;
	memcpy(buf + n, text, len);
	n += len;
	/* blanks over what a longer previous line left */
	for (size_t i = len; i < wt->shown && n < sizeof buf - 1; i++)
		buf[n++] = ' ';
	if (len < wt->shown)
		buf[n++] = '\r';
	(void)!write(STDERR_FILENO, buf, n);
	wt->shown = len;
}

static void
status_clear(struct watch *wt)
{
	if (wt->shown > 0) {
		status_write(wt, "", 0);
		wt->shown = 0;
	}
}

static void
status_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct watch *wt = arg;
	struct probe_progress p = { 0 };
	struct histogram *now = &wt->win[wt->ticks % PROBE_PROGRESS_WINDOW];
	unsigned slot = (wt->ticks + 1) % (PROBE_PROGRESS_WINDOW + 1);
	unsigned oldest = wt->ticks + 1 > PROBE_PROGRESS_WINDOW ?
	    (wt->ticks + 1 - PROBE_PROGRESS_WINDOW) % (PROBE_PROGRESS_WINDOW + 1) : 0;
	struct histogram sum;
	char line[256];

	hist_init(now);
	for (unsigned i = 0; i < wt->started; i++)
		probe_live_take(&wt->ws[i].live, &p.attempts, &p.ok, &p.gave_up, now);
	wt->ticks++;
	wt->win_attempts[slot] = p.attempts;
	wt->win_us[slot] = monotime_now_us();
	hist_init(&sum);
	for (unsigned i = 0; i < PROBE_PROGRESS_WINDOW && i < wt->ticks; i++)
		hist_merge(&sum, &wt->win[i]);
	p.window_count = hist_count(&sum);
	p.p50_us = hist_percentile(&sum, 50);
	p.p99_us = hist_percentile(&sum, 99);
	if (wt->win_us[slot] > wt->win_us[oldest])
		p.rate = (double)(p.attempts - wt->win_attempts[oldest]) * 1e6 /
		    (double)(wt->win_us[slot] - wt->win_us[oldest]);
	status_write(wt, line, probe_progress_format(&p, line, sizeof line));
}

/* The first signal stops the run (the workers finish within the grace
 * and the summary is written); a second one leaves at once. */
static void
watch_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct watch *wt = arg;
	char grace[32];

	if (++wt->signals > 1) {
		static const char msg[] = "smtpprobe: second signal: exiting without a summary\n";

		status_clear(wt);
		(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
		_exit(130);
	}
	for (unsigned i = 0; i < wt->started; i++)
		(void)!write(wt->ws[i].stop_fd[1], "", 1);
	if (wt->cfg->progress) {
		char msg[160];
		int n;

		units_format_duration(wt->cfg->grace_us, grace, sizeof grace);
		n = snprintf(msg, sizeof msg, "smtpprobe: stopping: no new attempts, %s for those in "
		    "flight (again to quit at once)\n", grace);
		status_clear(wt);
		if (n > 0)
			(void)!write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
	}
}

static void
watch_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct watch *wt = arg;
	char buf[64];
	ssize_t n = read(fd, buf, sizeof buf);

	if (n > 0)
		wt->done += (unsigned)n;
	if (wt->done >= wt->started)
		event_base_loopbreak(wt->base);
}

/* Signals go to this thread only: the workers are started with them
 * blocked, and this loop is the one that has handlers for them. */
static int
watch_setup(struct watch *wt, struct event **evs)
{
	static const struct timeval second = { 1, 0 };

	if ((wt->base = event_base_new()) == NULL ||
	    pipe2(wt->done_fd, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	evs[0] = evsignal_new(wt->base, SIGINT, watch_signal_cb, wt);
	evs[1] = evsignal_new(wt->base, SIGTERM, watch_signal_cb, wt);
	evs[2] = event_new(wt->base, wt->done_fd[0], EV_READ | EV_PERSIST, watch_done_cb, wt);
	evs[3] = event_new(wt->base, -1, EV_PERSIST, status_tick_cb, wt);
	for (int i = 0; i < 4; i++)
		if (evs[i] == NULL)
			return -1;
	if (event_add(evs[0], NULL) || event_add(evs[1], NULL) || event_add(evs[2], NULL) ||
	    (wt->cfg->progress && event_add(evs[3], &second)))
		return -1;
	return 0;
}

static void
watch_teardown(struct watch *wt, struct event **evs)
{
	for (int i = 0; i < 4; i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
	if (wt->base != NULL)
		event_base_free(wt->base);
	for (int i = 0; i < 2; i++)
		if (wt->done_fd[i] >= 0)
			close(wt->done_fd[i]);
}

int
probe_run(const struct probe_config *cfg, struct probe_result *res)
{
	unsigned n = cfg->threads ? cfg->threads : 1;
	struct worker *ws = calloc(n, sizeof *ws);
	struct watch *wt = calloc(1, sizeof *wt);
	struct event *evs[4] = { NULL };
	sigset_t block, old;
	int rc = 0;

	if (ws == NULL || wt == NULL) {
		free(ws);
		free(wt);
		return -1;
	}
	wt->cfg = cfg;
	wt->ws = ws;
	wt->done_fd[0] = wt->done_fd[1] = -1;
	for (unsigned i = 0; i < n; i++)
		ws[i].stop_fd[0] = ws[i].stop_fd[1] = -1;
	raise_fd_limit();
	if (watch_setup(wt, evs) != 0) {
		fprintf(stderr, "smtpprobe: cannot set up the run's event loop\n");
		rc = -1;
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		ws[i].cfg = cfg;
		ws[i].done_fd = wt->done_fd[1];
		if ((ws[i].res = probe_result_new()) == NULL || worker_setup(&ws[i]) != 0) {
			fprintf(stderr, "smtpprobe: cannot set up event loop %u\n", i);
			rc = -1;
			goto out;
		}
	}
	uint64_t t0 = monotime_now_us();
	wt->win_us[0] = t0;
	workers_plan(ws, n, cfg, t0);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (; wt->started < n; wt->started++) {
		if (pthread_create(&ws[wt->started].thread, NULL, worker_main, &ws[wt->started]) != 0) {
			fprintf(stderr, "smtpprobe: cannot start thread %u\n", wt->started);
			rc = -1;
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)	/* those started stop at once */
		for (unsigned i = 0; i < wt->started; i++)
			(void)!write(ws[i].stop_fd[1], "", 1);
	if (wt->started > 0 && event_base_dispatch(wt->base) < 0)
		rc = -1;
	status_clear(wt);
	for (unsigned i = 0; i < wt->started; i++) {
		pthread_join(ws[i].thread, NULL);
		if (ws[i].rc != 0)
			rc = -1;
	}
	res->elapsed_us = monotime_now_us() - t0;
	res->stopped = wt->signals > 0;
	for (unsigned i = 0; i < wt->started; i++) {
		res->interrupted += ws[i].interrupted;
		if (probe_result_merge(res, ws[i].res) != 0)
			rc = -1;
	}
	probe_result_sort_rows(res);
out:
	for (unsigned i = 0; i < n; i++) {
		worker_teardown(&ws[i]);
		probe_result_free(ws[i].res);
	}
	watch_teardown(wt, evs);
	free(ws);
	free(wt);
	return rc;
}
