#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "addr.h"
#include "config.h"
#include "live.h"
#include "log.h"
#include "metrics.h"
#include "monotime.h"
#include "pool.h"
#include "server.h"

#define MAX_LISTENERS 16

struct listen_sock {
	struct listeners *set;
	int fd;
	char text[ADDR_TEXT_MAX];
	struct evconnlistener *lev;
	struct event *retry;		/* re-enables accept after EMFILE */
	/* An episode of descriptor (or memory) exhaustion runs from the first
	 * failed accept until a whole accept_retry passes without one: while
	 * sessions close, accept succeeds a few times and fails again, and
	 * that is still the same episode. Its first error is logged, the
	 * others only counted, and the count is logged when it ends. */
	int exhausted;
	int failed_since_retry;		/* an error since retry_cb last ran */
	unsigned long suppressed;	/* errors after the first of the episode */
};

struct listeners {
	struct listen_sock socks[MAX_LISTENERS];
	unsigned n;
	int backlog;
	struct server *srv;
	struct pool *pool;
	struct metrics *metrics;	/* the main thread's: accept-time counters */
	int paused;			/* the admission queue is full (overflow = wait) */
	/* Copied from the config on the main thread, the only reader. */
	uint64_t max_sessions;
	uint64_t accept_retry_us;
	char hostname[256];
	int plog;
	int proxy;				/* listen.proxy_protocol is on */
	char proxy_trusted[CONF_STR_MAX];
};

/* The kernel silently caps listen(2)'s backlog at somaxconn; the lab must
 * know the value really in force, so it is computed and logged. */
static int
effective_backlog(uint64_t wanted, long *somaxconn)
{
	FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");

	*somaxconn = -1;
	if (f != NULL) {
		if (fscanf(f, "%ld", somaxconn) != 1)
			*somaxconn = -1;
		fclose(f);
	}
	if (*somaxconn > 0 && wanted > (uint64_t)*somaxconn)
		return (int)*somaxconn;
	return (int)wanted;
}

static unsigned
addr_port(const struct addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

/* The lowest port an unprivileged process may bind (Linux: 1024 unless
 * net.ipv4.ip_unprivileged_port_start says otherwise). */
static unsigned
unprivileged_port_start(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");
	unsigned v = 1024;

	if (f != NULL) {
		if (fscanf(f, "%u", &v) != 1)
			v = 1024;
		fclose(f);
	}
	return v;
}

/* A failed bind or listen, with its usual cause and the way out for the
 * two an operator meets first: a privileged port, a port already taken. */
/* An address of this set, bound before a, on the same port and family:
 * listen.address may list one port twice, or a wildcard and a specific
 * address on it, and EADDRINUSE then comes from bannerd itself. */
static const char *
same_port_earlier(const struct listeners *set, const struct addr *a)
{
	for (unsigned i = 0; i + 1 < set->n; i++) {
		const struct listen_sock *ls = &set->socks[i];
		struct addr mine;

		if (ls->fd >= 0 && addr_parse(ls->text, 25, &mine) == 0 &&
		    mine.ss.ss_family == a->ss.ss_family && addr_port(&mine) == addr_port(a))
			return ls->text;
	}
	return NULL;
}

static void
bind_error(const struct listeners *set, const char *what, const struct addr *a, int e,
    char *err, size_t errlen)
{
	const char *earlier;
	char text[ADDR_TEXT_MAX];
	unsigned port = addr_port(a), first;

	addr_format((const struct sockaddr *)&a->ss, text, sizeof text);
	if (e == EACCES && port < (first = unprivileged_port_start())) {
		snprintf(err, errlen, "listen.address: cannot %s %s: %s: a port below %u needs root "
		    "or the CAP_NET_BIND_SERVICE capability; start bannerd as root (server.user "
		    "drops privileges once the port is bound), or choose a port >= %u",
		    what, text, strerror(e), first, first);
		return;
	}
	if (e == EADDRINUSE && (earlier = same_port_earlier(set, a)) != NULL) {
		snprintf(err, errlen, "listen.address: cannot %s %s: %s: it overlaps %s, listed "
		    "before it in listen.address; list each address once", what, text, strerror(e),
		    earlier);
		return;
	}
	if (e == EADDRINUSE) {
		snprintf(err, errlen, "listen.address: cannot %s %s: %s: another process holds "
		    "%s (see which: ss -ltnp 'sport = :%u'); stop it, or choose another port",
		    what, text, strerror(e), text, port);
		return;
	}
	if (e == EADDRNOTAVAIL) {
		snprintf(err, errlen, "listen.address: cannot %s %s: %s: the address is not one of "
		    "this machine's (see: ip -brief address)", what, text, strerror(e));
		return;
	}
	snprintf(err, errlen, "listen.address: cannot %s %s: %s", what, text, strerror(e));
}

/* Binds and listens at once, so that every error of a listening socket
 * shows here, at start-up, before privileges are dropped. */
static int
bind_one(struct listen_sock *ls, const struct addr *a, int backlog, char *err, size_t errlen)
{
	int one = 1;
	struct sockaddr_storage real;
	socklen_t len = sizeof real;

	ls->fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ls->fd < 0) {
		bind_error(ls->set, "create a socket for", a, errno, err, errlen);
		return -1;
	}
	setsockopt(ls->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* 127.0.0.1 and ::1 on the same port must not collide. */
	if (a->ss.ss_family == AF_INET6)
		setsockopt(ls->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(ls->fd, (const struct sockaddr *)&a->ss, a->len) != 0) {
		bind_error(ls->set, "bind", a, errno, err, errlen);
		return -1;
	}
	/* Two sockets with SO_REUSEADDR may both bind a port that neither
	 * listens on yet: the second learns it at listen(2). */
	if (listen(ls->fd, backlog) != 0) {
		bind_error(ls->set, "listen on", a, errno, err, errlen);
		return -1;
	}
	if (getsockname(ls->fd, (struct sockaddr *)&real, &len) == 0)
		addr_format((struct sockaddr *)&real, ls->text, sizeof ls->text);
	return 0;
}

struct listeners *
listeners_bind(const struct config *c, char *err, size_t errlen)
{
	struct listeners *set = calloc(1, sizeof *set);
	char list[CONF_STR_MAX], *save = NULL, *item;
	long somaxconn;

	if (set == NULL)
		return NULL;
	set->backlog = effective_backlog(c->listen_backlog, &somaxconn);
	snprintf(list, sizeof list, "%s", c->listen_address);
	for (item = strtok_r(list, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		struct listen_sock *ls = &set->socks[set->n];
		struct addr a;

		while (*item == ' ')
			item++;
		if (set->n == MAX_LISTENERS) {
			snprintf(err, errlen, "listen.address: more than %d addresses", MAX_LISTENERS);
			goto fail;
		}
		snprintf(ls->text, sizeof ls->text, "%s", item);
		ls->fd = -1;
		ls->set = set;
		set->n++;
		if (addr_parse(item, 25, &a) != 0) {
			snprintf(err, errlen, "listen.address: '%s' is not ADDRESS[:PORT]", item);
			goto fail;
		}
		if (bind_one(ls, &a, set->backlog, err, errlen) != 0)
			goto fail;
	}
	listeners_set_config(set, c);
	log_info("listen.backlog: configured %llu, kernel somaxconn %ld, in force %d",
	    (unsigned long long)c->listen_backlog, somaxconn, set->backlog);
	return set;
fail:
	listeners_close(set);
	return NULL;
}

/* status is the enhanced code: 4.3.2 for a busy server, 4.7.0 for a
 * client over its own limits. */
static void
reject(struct listeners *set, int fd, const struct sockaddr *peer, const char *reason,
    const char *status, const char *text)
{
	char msg[512], peer_text[ADDR_TEXT_MAX];
	struct log_line l;
	int n;

	n = snprintf(msg, sizeof msg, "421 %s %s %s\r\n", status, set->hostname, text);
	if (n < 0 || (size_t)n >= sizeof msg)
		n = snprintf(msg, sizeof msg, "421 %s Error: try again later\r\n", status);
	/* Best effort: the socket is fresh, its buffer has room. */
	if (send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		(void)0;
	close(fd);
	/* on the live page too: a 421 at the door is a banner never sent */
	live_record(set->srv->live, LIVE_REJECTED, 0, (const uint64_t[BANNER_STAGE_COUNT]){ 0 }, 0);
	if (set->plog < PLOG_MINIMUM)
		return;
	addr_format(peer, peer_text, sizeof peer_text);
	log_line_begin(&l, "reject");
	log_line_str(&l, "peer", peer_text);
	log_line_str(&l, "reason", reason);
	log_line_u64(&l, "code", 421);
	log_line_end(&l);
}

/* Postfix's anvil answer, before any session, lookup or allocation: 1 when
 * the client is over listen.max_sessions_per_client or
 * listen.max_connect_rate_per_client and has been answered and closed. */
static int
client_over_limit(struct listeners *set, int fd, const struct sockaddr *peer, uint64_t now,
    int *counted)
{
	char text[256], host[ADDR_TEXT_MAX];
	enum admission a = pool_admit_client(set->pool, peer, now, counted);
	int sessions = a == ADMIT_CLIENT_SESSIONS;

	if (a != ADMIT_CLIENT_SESSIONS && a != ADMIT_CLIENT_RATE)
		return 0;
	metrics_count(set->metrics, sessions ? MC_REJECT_CLIENT_SESSIONS : MC_REJECT_CLIENT_RATE);
	addr_format_host(peer, host, sizeof host);
	snprintf(text, sizeof text, "Error: too many connections from %s", host);
	reject(set, fd, peer, sessions ? "per_client_sessions" : "per_client_rate", "4.7.0", text);
	return 1;
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *peer,
    int peerlen, void *arg)
{
	struct listen_sock *ls = arg;
	struct listeners *set = ls->set;
	uint64_t now = monotime_now_us();
	int counted;

	metrics_count(set->metrics, MC_CONNECTIONS);
	if (atomic_load(&set->srv->sessions_open) >= set->max_sessions) {
		metrics_count(set->metrics, MC_REJECT_MAX_SESSIONS);
		reject(set, fd, peer, "max_sessions", "4.3.2", "Too many connections, try again later");
		return;
	}
	/* A trusted balancer is not a client: its connections are counted
	 * against the address its PROXY header names, once the worker has
	 * read it (session.c, proxy_admit). */
	counted = 0;
	if (!(set->proxy && addr_cidr_list_match(set->proxy_trusted, peer) == 1) &&
	    client_over_limit(set, fd, peer, now, &counted))
		return;
	switch (pool_admit(set->pool, fd, peer, (socklen_t)peerlen, now, counted)) {
	case ADMIT_STARTED:
	case ADMIT_QUEUED:
		break;
	case ADMIT_QUEUED_FULL:
		/* overflow = wait: leave the rest in the kernel's backlog */
		listeners_pause(set);
		break;
	case ADMIT_REJECTED:
		metrics_count(set->metrics, MC_REJECT_QUEUE_FULL);
		reject(set, fd, peer, "queue_full", "4.3.2", "All server slots busy, try again later");
		break;
	case ADMIT_CLIENT_SESSIONS:
	case ADMIT_CLIENT_RATE:
		break;	/* not from pool_admit */
	}
}

void
listeners_pause(struct listeners *set)
{
	if (set->paused)
		return;
	set->paused = 1;
	for (unsigned i = 0; i < set->n; i++)
		if (set->socks[i].lev != NULL)
			evconnlistener_disable(set->socks[i].lev);
	log_info("admission queue full (pool.overflow = wait): accept paused");
}

void
listeners_resume(struct listeners *set)
{
	if (!set->paused)
		return;
	set->paused = 0;
	for (unsigned i = 0; i < set->n; i++)
		if (set->socks[i].lev != NULL && !evtimer_pending(set->socks[i].retry, NULL))
			evconnlistener_enable(set->socks[i].lev);
	log_info("admission queue has room: accept resumed");
}

/* The kernel's accept queue of a listening socket: on Linux, TCP_INFO
 * reports its length in tcpi_unacked and its limit in tcpi_sacked. */
void
listeners_gauges(struct listeners *set, struct metrics_gauges *g)
{
	g->n_listeners = 0;
	for (unsigned i = 0; set != NULL && i < set->n && i < 16; i++) {
		struct listen_sock *ls = &set->socks[i];
		struct tcp_info ti;
		socklen_t len = sizeof ti;
		int fd = ls->lev != NULL ? evconnlistener_get_fd(ls->lev) : ls->fd;

		snprintf(g->listeners[i].address, sizeof g->listeners[i].address, "%s", ls->text);
		g->listeners[i].queue = -1;
		g->listeners[i].backlog = set->backlog;
		if (fd >= 0 && getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
			g->listeners[i].queue = ti.tcpi_unacked;
			g->listeners[i].backlog = ti.tcpi_sacked;
		}
		g->n_listeners++;
	}
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listen_sock *ls = arg;
	struct timeval tv = monotime_timeval(ls->set->accept_retry_us);

	if (ls->exhausted && !ls->failed_since_retry) {
		log_info("accept on %s resumed (%lu further errors while paused)", ls->text,
		    ls->suppressed);
		ls->exhausted = 0;
		ls->suppressed = 0;
	} else if (ls->exhausted) {
		/* Accept again, and come back after one more accept_retry to
		 * see whether the episode is over. */
		ls->failed_since_retry = 0;
		evtimer_add(ls->retry, &tv);
	}
	/* listeners_resume leaves a listener with a pending timer to us. */
	if (!ls->set->paused)
		evconnlistener_enable(ls->lev);
}

/* libevent 2.1 leaves the listener enabled after EMFILE/ENFILE, and the
 * level-triggered listen socket then fires forever: pause it and retry
 * from a timer, as nginx does. */
static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listen_sock *ls = arg;
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv = monotime_timeval(ls->set->accept_retry_us);

	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) {
		log_error("accept on %s: %s", ls->text, strerror(e));
		return;
	}
	/* The timer re-enabled the listener and accept failed again: the
	 * same episode, counted rather than logged every accept_retry. */
	evconnlistener_disable(lev);
	if (ls->exhausted)
		ls->suppressed++;
	else
		log_error("accept on %s: %s; pausing accept for %llu ms", ls->text, strerror(e),
		    (unsigned long long)(ls->set->accept_retry_us / 1000));
	ls->exhausted = 1;
	ls->failed_since_retry = 1;
	/* Restarts the quiet period if retry_cb armed one. */
	evtimer_add(ls->retry, &tv);
}

int
listeners_start(struct listeners *set, struct event_base *base, struct server *srv,
    struct pool *pool, struct metrics *metrics, char *err, size_t errlen)
{
	set->srv = srv;
	set->pool = pool;
	set->metrics = metrics;
	for (unsigned i = 0; i < set->n; i++) {
		struct listen_sock *ls = &set->socks[i];
		/* Backlog 0: the socket listens already (bind_one). */
		ls->lev = evconnlistener_new(base, accept_cb, ls,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, ls->fd);
		ls->retry = evtimer_new(base, retry_cb, ls);
		if (ls->lev == NULL || ls->retry == NULL) {
			snprintf(err, errlen, "cannot listen on %s: %s", ls->text, strerror(errno));
			return -1;
		}
		ls->fd = -1;	/* owned by the evconnlistener now */
		evconnlistener_set_error_cb(ls->lev, accept_error_cb);
		log_info("listening on %s backlog=%d", ls->text, set->backlog);
	}
	return 0;
}

void
listeners_set_config(struct listeners *set, const struct config *c)
{
	set->max_sessions = c->listen_max_sessions;
	set->accept_retry_us = c->listen_accept_retry_us;
	set->plog = c->log_protocol_log;
	set->proxy = c->listen_proxy_protocol != 0;
	snprintf(set->proxy_trusted, sizeof set->proxy_trusted, "%s", c->listen_proxy_trusted);
	snprintf(set->hostname, sizeof set->hostname, "%s", c->banner_hostname);
}

void
listeners_close(struct listeners *set)
{
	if (set == NULL)
		return;
	for (unsigned i = 0; i < set->n; i++) {
		struct listen_sock *ls = &set->socks[i];
		if (ls->lev != NULL)
			evconnlistener_free(ls->lev);
		if (ls->retry != NULL)
			event_free(ls->retry);
		if (ls->fd >= 0)
			close(ls->fd);
	}
	free(set);
}
