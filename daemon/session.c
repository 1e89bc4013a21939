/* One connection's life on its worker, in the order it happens: start,
 * the balancer's PROXY header (proxy_parse.h), reverse DNS (resolver.h), injected delay, the 220, the hand-off to the
 * ESMTP dialogue (dialogue.c), and the close with its stage timings.
 * State changes, replies and log lines go through session_io.c. */
#include "session_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "addr.h"
#include "config.h"
#include "dialogue.h"
#include "live.h"
#include "log.h"
#include "metrics.h"
#include "monotime.h"
#include "proxy_parse.h"
#include "resolver.h"
#include "rng.h"
#include "server.h"
#include "session_io.h"
#include "spool.h"

static void proxy_start(struct session *s);
static void proxy_input(struct session *s);
static void proxy_timeout_cb(evutil_socket_t fd, short what, void *arg);
static void banner_path_start(struct session *s);
static void banner_path_after_lookups(struct session *s);
static void rdns_done_cb(void *arg, const struct rdns_answer *a);
static void ident_done_cb(void *arg, const struct ident_answer *a);
static void banner_path_delay(struct session *s);
static void banner_path_wait(struct session *s);
static void delay_done_cb(evutil_socket_t fd, short what, void *arg);
static void send_banner(struct session *s);
static void note_pregreet(struct session *s, size_t n);
static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void close_timer_cb(evutil_socket_t fd, short what, void *arg);
static void session_free(struct session *s);

/* ---- start ---- */

static struct session *
session_new(const struct session_env *env, const struct sockaddr *peer, socklen_t peerlen,
    uint64_t accept_us)
{
	struct session *s = calloc(1, sizeof *s);

	if (s == NULL)
		return NULL;
	s->env = *env;
	s->conf = server_config(env->srv);
	s->sid = atomic_fetch_add(&env->srv->next_sid, 1);
	rng_seed(&s->rng, s->sid);
	s->entered_us[STATE_QUEUED] = accept_us;	/* calloc: state is STATE_QUEUED */
	s->spool.fd = -1;
	addr_format(peer, s->peer, sizeof s->peer);
	memcpy(&s->peer_addr.ss, peer, peerlen < sizeof s->peer_addr.ss ? peerlen : sizeof s->peer_addr.ss);
	s->peer_addr.len = peerlen;
	s->delay_timer = evtimer_new(env->base, delay_done_cb, s);
	s->close_timer = evtimer_new(env->base, close_timer_cb, s);
	s->deadline_timer = evtimer_new(env->base, session_deadline_cb, s);
	s->fault_timer = evtimer_new(env->base, session_fault_timer_cb, s);
	s->fault_rule = -1;
	s->proxy_timer = evtimer_new(env->base, proxy_timeout_cb, s);
	return s;
}

/* What session_new and session_start built; the close line is not ours. */
static void
session_destroy(struct session *s)
{
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (s->delay_timer != NULL)
		event_free(s->delay_timer);
	if (s->close_timer != NULL)
		event_free(s->close_timer);
	if (s->deadline_timer != NULL)
		event_free(s->deadline_timer);
	if (s->fault_timer != NULL)
		event_free(s->fault_timer);
	free(s->fault_line);
	if (s->proxy_timer != NULL)
		event_free(s->proxy_timer);
	free(s->data_buf);
	free(s->helo);
	free(s->client_name);
	free(s->ident_user);
	config_unref(s->conf);
	free(s);
}

static void
log_connect(struct session *s, int fd)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof local;
	char local_text[ADDR_TEXT_MAX] = "unknown";
	struct log_line l;

	if (s->conf->log_protocol_log < PLOG_MINIMUM)
		return;
	if (getsockname(fd, (struct sockaddr *)&local, &len) == 0)
		addr_format((struct sockaddr *)&local, local_text, sizeof local_text);
	session_log_begin(s, &l, "connect");
	log_line_str(&l, "local", local_text);
	log_line_end(&l);
}

struct session *
session_start(const struct session_env *env, int fd, const struct sockaddr *peer,
    socklen_t peerlen, uint64_t accept_us)
{
	struct session *s = session_new(env, peer, peerlen, accept_us);

	if (s == NULL) {
		close(fd);
		return NULL;
	}
	s->bev = bufferevent_socket_new(env->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL || s->delay_timer == NULL || s->close_timer == NULL || s->deadline_timer == NULL ||
	    s->fault_timer == NULL || s->proxy_timer == NULL) {
		if (s->bev == NULL)
			close(fd);
		session_destroy(s);
		return NULL;
	}
	TAILQ_INSERT_TAIL(env->list, s, link);
	bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
	/* Reading is on before the banner only to notice pregreet bytes and
	 * clients that give up; the watermark bounds what we buffer. */
	bufferevent_setwatermark(s->bev, EV_READ, 0, s->conf->banner_pregreet_buffer);
	bufferevent_enable(s->bev, EV_READ);
	log_connect(s, fd);
	if (s->conf->listen_proxy_protocol != PROXY_ACCEPT_OFF)
		proxy_start(s);
	else
		banner_path_start(s);
	return s;
}

/* ---- the PROXY header (haproxy doc/proxy-protocol.txt) ---- */

/* Before anything else, the balancer's header: nothing is asked about
 * the client and no banner goes out until it is complete and valid, and
 * one timer bounds it whole (a header dripped a byte at a time must not
 * extend it). */
static void
proxy_start(struct session *s)
{
	struct timeval tv = monotime_timeval(s->conf->listen_proxy_timeout_us);

	session_enter_state(s, STATE_PROXY);
	/* a whole v2 header must fit under the watermark */
	if (s->conf->listen_proxy_v2_max > s->conf->banner_pregreet_buffer)
		bufferevent_setwatermark(s->bev, EV_READ, 0, s->conf->listen_proxy_v2_max);
	event_base_update_cache_time(s->env.base);
	evtimer_add(s->proxy_timer, &tv);
}

/* Postfix's "haproxy read: <reason>: <bytes>": the bytes escaped, so a
 * port scanner's or a misconfigured balancer's input can be read. */
static void
proxy_reject(struct session *s, const char *reason)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t n = evbuffer_get_length(in);
	size_t show = n < PROXY_V1_MAX + 1 ? n : PROXY_V1_MAX + 1;
	struct log_line l;

	evtimer_del(s->proxy_timer);
	metrics_count(s->env.metrics, MC_REJECT_PROXY);
	if (s->conf->log_protocol_log >= PLOG_MINIMUM) {
		session_log_begin(s, &l, "proxy");
		log_line_str(&l, "result", "rejected");
		log_line_str(&l, "reason", reason);
		log_line_u64(&l, "bytes", n);
		log_line_mem(&l, "header", evbuffer_pullup(in, (ev_ssize_t)show), show);
		log_line_end(&l);
	}
	session_close_421(s, "proxy", "4.3.0 %s Server local error", s->conf->banner_hostname);
}

static void
proxy_log(struct session *s, const struct proxy_header *h, const char *via)
{
	char dst[ADDR_TEXT_MAX];
	struct log_line l;

	if (s->conf->log_protocol_log < PLOG_MINIMUM)
		return;
	session_log_begin(s, &l, "proxy");
	log_line_str(&l, "result", "ok");
	log_line_u64(&l, "version", (uint64_t)h->version);
	log_line_str(&l, "via", via);
	if (h->local) {
		log_line_str(&l, "addresses", "real");	/* v1 UNKNOWN, v2 LOCAL or UNSPEC */
	} else {
		addr_format((const struct sockaddr *)&h->dst, dst, sizeof dst);
		log_line_str(&l, "dst", dst);
	}
	log_line_u64(&l, "bytes", h->len);
	log_line_end(&l);
}

/* From here on the header's source is the client: reverse DNS, ident,
 * the log's peer=, the close line and the per-client counts all use it. */
static void
proxy_apply(struct session *s, const struct proxy_header *h)
{
	char via[ADDR_TEXT_MAX];

	snprintf(via, sizeof via, "%s", s->peer);
	if (!h->local) {
		memcpy(&s->peer_addr.ss, &h->src, sizeof h->src);
		s->peer_addr.len = h->addr_len;
		addr_unmap_v4(&s->peer_addr);
		addr_format((struct sockaddr *)&s->peer_addr.ss, s->peer, sizeof s->peer);
		memcpy(&s->proxy_dst.ss, &h->dst, sizeof h->dst);
		s->proxy_dst.len = h->addr_len;
		addr_unmap_v4(&s->proxy_dst);
		s->proxied = 1;
	}
	proxy_log(s, h, via);
}

/* The listener's per-client limits, applied to the client the header
 * named; the balancer itself was not counted. Same answer as at accept. */
static int
proxy_admit(struct session *s)
{
	char host[ADDR_TEXT_MAX];
	int v;

	if (!s->proxied || s->env.admit_client == NULL)
		return 0;
	v = s->env.admit_client(s->env.arg, (struct sockaddr *)&s->peer_addr.ss, s->peer_addr.len);
	if (v == CLIENT_ADMIT_OK)
		return 0;
	metrics_count(s->env.metrics, v == CLIENT_ADMIT_SESSIONS ? MC_REJECT_CLIENT_SESSIONS : MC_REJECT_CLIENT_RATE);
	addr_format_host((struct sockaddr *)&s->peer_addr.ss, host, sizeof host);
	session_close_421(s, v == CLIENT_ADMIT_SESSIONS ? "per_client_sessions" : "per_client_rate",
	    "4.7.0 %s Error: too many connections from %s", s->conf->banner_hostname, host);
	return -1;
}

static void
proxy_input(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t n = evbuffer_get_length(in), want = s->conf->listen_proxy_v2_max;
	const unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)(n < want ? n : want));
	struct proxy_header h;
	enum proxy_result r = proxy_parse(p, n < want ? n : want,
	    (enum proxy_accept)s->conf->listen_proxy_protocol, want, &h);

	if (r == PROXY_MORE)
		return;
	/* the peer's own address, before any header could change it */
	if (addr_cidr_list_match(s->conf->listen_proxy_trusted, (struct sockaddr *)&s->peer_addr.ss) != 1) {
		proxy_reject(s, "source not in listen.proxy_trusted");
		return;
	}
	if (r == PROXY_BAD) {
		proxy_reject(s, h.why);
		return;
	}
	evtimer_del(s->proxy_timer);
	proxy_apply(s, &h);
	if (proxy_admit(s) != 0)
		return;
	evbuffer_drain(in, h.len);
	bufferevent_setwatermark(s->bev, EV_READ, 0, s->conf->banner_pregreet_buffer);
	if (evbuffer_get_length(in) > 0)
		note_pregreet(s, evbuffer_get_length(in));
	banner_path_start(s);
}

static void
proxy_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	proxy_reject(s, evbuffer_get_length(bufferevent_get_input(s->bev)) > 0 ?
	    "partial header at listen.proxy_timeout" : "no header within listen.proxy_timeout");
}

/* ---- reverse DNS ---- */

/* ---- ident (RFC 1413), beside the lookup ---- */

/* Asked from the address the client connected to, at once with the
 * reverse lookup: the banner waits for the longer of the two. Sendmail
 * asked in sequence (getauthinfo, then the host name), Exim too (the
 * rfc1413 query after the host lookup); bannerd's worker loop can do both
 * at once, and the close line says how much of the wait was ident's
 * alone. */
static void
proxy_local_port(struct sockaddr_storage *local, const struct sockaddr_storage *dst)
{
	if (local->ss_family == AF_INET)
		((struct sockaddr_in *)local)->sin_port = ((const struct sockaddr_in *)dst)->sin_port;
	else if (local->ss_family == AF_INET6)
		((struct sockaddr_in6 *)local)->sin6_port = ((const struct sockaddr_in6 *)dst)->sin6_port;
}

static void
ident_start_query(struct session *s)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof local;

	if (s->conf->ident_enabled == 0)
		return;
	if (getsockname(bufferevent_getfd(s->bev), (struct sockaddr *)&local, &len) != 0)
		local.ss_family = AF_UNSPEC;
	/* Behind a balancer the client's ident server knows the connection
	 * by the header's ports (client's, and the one it connected to); the
	 * query still leaves from our own address, which is the one we can
	 * bind. */
	if (s->proxied && local.ss_family == s->proxy_dst.ss.ss_family)
		proxy_local_port(&local, &s->proxy_dst.ss);
	if (local.ss_family != s->peer_addr.ss.ss_family) {
		struct ident_answer a = { IDENT_FAILED, NULL, 0, "no local address", 0, 0 };

		ident_done_cb(s, &a);
		return;
	}
	s->ident = ident_start(s->env.base, (struct sockaddr *)&s->peer_addr.ss, (struct sockaddr *)&local,
	    (unsigned)s->conf->ident_port, s->conf->ident_timeout_us, ident_done_cb, s);
	if (s->ident == NULL) {
		struct ident_answer a = { IDENT_FAILED, NULL, 0, "out of memory", 0, 0 };

		ident_done_cb(s, &a);
	}
}

static void
log_ident(struct session *s, const struct ident_answer *a)
{
	struct log_line l;

	if (s->conf->log_protocol_log < PLOG_MINIMUM)
		return;
	session_log_begin(s, &l, "ident");
	log_line_str(&l, "result", ident_result_name(a->result));
	if (a->result == IDENT_OK)
		log_line_str(&l, "user", s->ident_user != NULL ? s->ident_user : "-");
	log_line_dur(&l, "duration", a->finished_us - a->started_us, 1);
	if (a->detail != NULL)
		log_line_str(&l, a->result == IDENT_OK ? "opsys" : "detail", a->detail);
	log_line_end(&l);
}

/* Runs from the loop, or at once from ident_start_query when the query
 * could not even start; never after session_drop_lookup. */
static void
ident_done_cb(void *arg, const struct ident_answer *a)
{
	struct session *s = arg;

	s->ident = NULL;
	s->ident_answered = 1;
	s->ident_result = a->result;
	s->ident_us = a->finished_us - a->started_us;
	if (a->result == IDENT_OK && a->user != NULL)
		s->ident_user = strndup(a->user, a->user_len);	/* NULL (out of memory): "-" */
	log_ident(s, a);
	metrics_count(s->env.metrics, (enum metric_counter)(MC_IDENT_FIRST + a->result));
	/* the lookup still out goes on to the delay when it ends */
	if (s->state == STATE_IDENT)
		banner_path_delay(s);
}

/* Both lookups are in, or were never asked: on to the delay. The one
 * still out calls back here, or ident_done_cb goes on, when it ends. */
static void
banner_path_after_lookups(struct session *s)
{
	if (s->ident != NULL) {
		session_enter_state(s, STATE_IDENT);
		return;
	}
	banner_path_delay(s);
}

static void
banner_path_start(struct session *s)
{
	ident_start_query(s);	/* first: a lookup answered at once must see it out */
	if (!config_rdns_active(s->conf) || s->env.resolver == NULL) {
		banner_path_after_lookups(s);
		return;
	}
	/* Admission control, as redis refuses before it allocates: past
	 * rdns.max_inflight a lookup would only queue behind the others and
	 * hold the banner of every client (skip), or this one is told to come
	 * back (tempfail, in rdns_done_cb). */
	switch (rdns_start(s->env.resolver, (struct sockaddr *)&s->peer_addr.ss,
	    (unsigned)s->conf->rdns_max_inflight, rdns_done_cb, s, &s->rdns)) {
	case RDNS_STARTED:
		session_enter_state(s, s->conf->rdns_mode == RDNS_MODE_POOL ? STATE_RDNS_WAIT :
		    STATE_RESOLVING);
		break;
	case RDNS_START_FULL: {
		uint64_t now = monotime_now_us();
		struct rdns_answer a = { RDNS_SKIPPED, NULL, now, now, now, 0,
		    "rdns.max_inflight reached", 0 };

		rdns_done_cb(s, &a);
		break;
	}
	case RDNS_START_NOMEM: {
		struct rdns_answer a = { RDNS_ERROR, NULL, 0, 0, 0, 0, "out of memory", 0 };

		log_error("sid=%08llx rdns: out of memory", (unsigned long long)s->sid);
		rdns_done_cb(s, &a);
		break;
	}
	}
}

static void
log_rdns(struct session *s, const struct rdns_answer *a)
{
	struct log_line l;

	if (s->conf->log_protocol_log < PLOG_MINIMUM)
		return;
	session_log_begin(s, &l, "rdns");
	log_line_str(&l, "result", rdns_result_name(a->result));
	log_line_str(&l, "name", a->name != NULL ? a->name : "-");
	log_line_dur(&l, "duration", a->finished_us - a->started_us, 1);
	log_line_u64(&l, "timeouts", (uint64_t)a->timeouts);
	/* Postfix keeps the verified name apart from the claimed one: without
	 * forward confirmation, ok means "a PTR name", not "this client". */
	if (a->result == RDNS_OK)
		log_line_str(&l, "confirmed", a->confirmed ? "yes" : "no");
	if (a->detail != NULL)
		log_line_str(&l, "detail", a->detail);
	log_line_end(&l);
}

/* Runs on the worker's loop, never from inside rdns_start; not at all
 * if the session let the lookup go first (session_drop_lookup). */
static void
rdns_done_cb(void *arg, const struct rdns_answer *a)
{
	struct session *s = arg;

	s->rdns = NULL;
	s->rdns_answered = 1;
	s->rdns_wait_us = a->started_us - a->queued_us;
	s->rdns_result = a->result;
	s->rdns_confirmed = a->confirmed;
	if (a->result == RDNS_OK && a->name != NULL)
		s->client_name = strdup(a->name);	/* NULL (out of memory): "unknown" */
	log_rdns(s, a);
	metrics_count(s->env.metrics, (enum metric_counter)(MC_RDNS_FIRST + a->result));
	if (a->result == RDNS_SKIPPED) {
		if (s->conf->rdns_on_overload == RDNS_OVERLOAD_TEMPFAIL) {
			metrics_count(s->env.metrics, MC_REJECT_RDNS);
			session_close_421(s, "rdns_overload", "4.7.1 %s Too many reverse DNS lookups in progress, "
			    "try again later", s->conf->banner_hostname);
			return;
		}
		banner_path_after_lookups(s);
		return;
	}
	if (a->result != RDNS_OK && s->conf->rdns_on_failure == RDNS_FAIL_TEMPFAIL) {
		metrics_count(s->env.metrics, MC_REJECT_RDNS);
		/* Instead of the banner, as MTAs that refuse unknown clients do. */
		session_close_421(s, "rdns", "4.7.1 %s Client host rejected: cannot find your hostname (%s)",
		    s->conf->banner_hostname, rdns_result_name(a->result));
		return;
	}
	banner_path_after_lookups(s);
}

/* ---- injected delay ---- */

/* The connect point of the [faults] rules comes first: its delay, then
 * banner.delay, are both the banner's delay stage. */
static void
banner_path_delay(struct session *s)
{
	static const struct session_fault_hooks connect_hooks = { banner_path_wait, NULL, NULL };

	if (session_fault(s, FP_CONNECT, &connect_hooks) == 0)
		banner_path_wait(s);
}

static void
banner_path_wait(struct session *s)
{
	uint64_t delay = s->conf->banner_delay_us;
	struct timeval tv;

	if (s->conf->banner_delay_jitter_us > 0)
		delay += rng_next(&s->rng) % (s->conf->banner_delay_jitter_us + 1);
	if (delay == 0) {
		send_banner(s);
		return;
	}
	session_enter_state(s, STATE_DELAYING);
	tv = monotime_timeval(delay);
	/* libevent measures timeouts from the time it cached at the top of
	 * this loop iteration, which is older than the DELAYING stamp;
	 * refresh it so the delay is never shorter than the one reported. */
	event_base_update_cache_time(s->env.base);
	evtimer_add(s->delay_timer, &tv);
}

static void
delay_done_cb(evutil_socket_t fd, short what, void *arg)
{
	send_banner(arg);
}

/* ---- banner ---- */

#define BANNER_MAX_LINES 16

/* banner.text may hold several lines separated by a backslash and an n,
 * as written in the file: the 220- continuation lines that RFC 5321 4.2.1
 * allows and that some sites use for a notice. */
static void
reply_banner(struct session *s)
{
	char text[CONF_STR_MAX + 300], *lines[BANNER_MAX_LINES], *p = text;
	size_t n = 0;

	snprintf(text, sizeof text, "%s %s", s->conf->banner_hostname, s->conf->banner_text);
	lines[n++] = p;
	while (n < BANNER_MAX_LINES && (p = strstr(p, "\\n")) != NULL) {
		*p = '\0';
		p += 2;
		lines[n++] = p;
	}
	session_reply_lines(s, 220, (const char *const *)lines, n);
}

static void
send_banner(struct session *s)
{
	session_enter_state(s, STATE_GREETED);
	s->awaiting_banner_flush = 1;
	/* The command timeout is chosen before the 220 goes out: the banner
	 * is often written at once, and a client that reacts to it (another
	 * connection tipping stress mode on) must not find this session's
	 * timeout chosen after the fact. */
	session_set_timeouts(s, session_timeout_command(s));
	reply_banner(s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, 0);
	bufferevent_enable(s->bev, EV_READ);
	if (s->pregreet && s->conf->banner_pregreet == PREGREET_REJECT) {
		session_reply(s, 554, "5.5.0 %s Error: client sent data before the greeting",
		    s->conf->banner_hostname);
		s->outcome = OUTCOME_PREGREET;
		session_close_after_flush(s);
		return;
	}
	dialogue_process_input(s);	/* pregreet = allow: early commands run now */
}

/* The banner stages, from the state stamps: each stage runs from the
 * entry of its state to the entry of the next one on the path (or to the
 * close, or to now, for a session that never got further). So the stages
 * add up to the banner time. The rdns stage is the session's own view,
 * from asking to handling the answer, less the wait for a resolver. The
 * close line and the metrics both read them from here. */
static void
banner_stages(const struct session *s, uint64_t now, uint64_t st[BANNER_STAGE_COUNT])
{
	const uint64_t *t = s->entered_us;
	uint64_t end = t[STATE_CLOSING] ? t[STATE_CLOSING] : now;
	uint64_t delay = t[STATE_DELAYING] ? t[STATE_DELAYING] : t[STATE_GREETED];
	uint64_t rdns = t[STATE_RDNS_WAIT] ? t[STATE_RDNS_WAIT] : t[STATE_RESOLVING];
	uint64_t ident = t[STATE_IDENT];	/* ident alone: after the lookup, or without one */
	uint64_t ident_end = delay ? delay : end;
	uint64_t rdns_end = ident ? ident : ident_end;
	uint64_t proxy = t[STATE_PROXY], proxy_end = rdns ? rdns : rdns_end;

	st[BANNER_STAGE_QUEUE] = (proxy ? proxy : proxy_end) - t[STATE_QUEUED];
	st[BANNER_STAGE_PROXY] = proxy ? proxy_end - proxy : 0;
	st[BANNER_STAGE_IDENT] = ident ? ident_end - ident : 0;
	st[BANNER_STAGE_RDNS_WAIT] = s->rdns_wait_us;
	st[BANNER_STAGE_RDNS] = 0;
	if (rdns && rdns_end - rdns > s->rdns_wait_us)
		st[BANNER_STAGE_RDNS] = rdns_end - rdns - s->rdns_wait_us;
	st[BANNER_STAGE_DELAY] = t[STATE_GREETED] ? t[STATE_GREETED] - delay : 0;
	st[BANNER_STAGE_WRITE] = s->banner_sent_us ? s->banner_sent_us - t[STATE_GREETED] : 0;
}

/* ---- hand-off to the dialogue ---- */

static void
note_pregreet(struct session *s, size_t n)
{
	struct log_line l;

	if (s->pregreet)
		return;
	s->pregreet = 1;
	s->pregreet_us = session_since_accept(s);
	metrics_count(s->env.metrics, MC_PREGREET);
	if (s->conf->log_protocol_log < PLOG_MINIMUM)
		return;	/* still on the close line */
	session_log_begin(s, &l, "pregreet");
	log_line_u64(&l, "bytes", n);
	log_line_str(&l, "state", session_state_names[s->state]);
	log_line_end(&l);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);

	if (s->lingering || s->fault_stalled) {
		evbuffer_drain(in, len);
		return;
	}
	if (s->conf->log_protocol_log >= PLOG_MAXIMUM && len > s->raw_seen) {
		unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)len);
		session_log_raw(s, "in", (const char *)p + s->raw_seen, len - s->raw_seen);
	}
	if (s->state == STATE_PROXY) {
		/* the header is consumed here, before pregreet can see it */
		proxy_input(s);
		s->raw_seen = evbuffer_get_length(in);
		return;
	}
	if (s->state < STATE_GREETED) {
		note_pregreet(s, len);
		s->raw_seen = len;
		return;
	}
	dialogue_process_input(s);
	if (s->conf->log_protocol_log >= PLOG_MAXIMUM)
		s->raw_seen = evbuffer_get_length(in);
}

/* Everything queued is with the kernel (session_send did it at once, or
 * the bufferevent has written it): the banner, if it was waiting, has
 * been sent. */
void
session_flushed(struct session *s)
{
	uint64_t st[BANNER_STAGE_COUNT];

	if (!s->awaiting_banner_flush)
		return;
	s->awaiting_banner_flush = 0;
	s->banner_sent_us = monotime_now_us();
	banner_stages(s, s->banner_sent_us, st);
	metrics_banner(s->env.metrics, s->banner_sent_us - s->entered_us[STATE_QUEUED], st);
	live_record(s->env.srv->live, LIVE_BANNER, s->banner_sent_us - s->entered_us[STATE_QUEUED], st, 0);
}

/* The last reply is with the kernel. Closing now with input from the
 * client still unread (the rest of a junk flood, commands pipelined after
 * the one that ended the session) makes the kernel answer with a reset,
 * and a reset can destroy the reply in the client's receive buffer before
 * the client reads it. Then the write side is shut instead (the client
 * reads our FIN after the reply) and what still comes is dropped until the
 * client closes or smtp.linger_time has passed since (the close timer), as
 * Apache's lingering close does. Without unread input, or once lingering,
 * the session is freed. */
static void
linger_or_free(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	evutil_socket_t fd = bufferevent_getfd(s->bev);
	struct timeval tv = monotime_timeval(s->conf->smtp_linger_time_us);
	int unread = 0;

	/* After QUIT (outcome normal) the client is done and reads its 221;
	 * only a session bannerd ends pays for the check (FIONREAD). */
	if (!s->lingering && s->outcome != OUTCOME_NORMAL && s->conf->smtp_linger_time_us > 0 && fd >= 0 &&
	    (evbuffer_get_length(in) > 0 || (ioctl(fd, FIONREAD, &unread) == 0 && unread > 0)) &&
	    shutdown(fd, SHUT_WR) == 0) {
		s->lingering = 1;
		evbuffer_drain(in, evbuffer_get_length(in));
		bufferevent_disable(s->bev, EV_WRITE);
		bufferevent_setwatermark(s->bev, EV_READ, 0, 0);
		bufferevent_set_timeouts(s->bev, NULL, NULL);
		bufferevent_enable(s->bev, EV_READ);
		/* one deadline for the whole linger: a client dripping bytes
		 * must not extend it */
		evtimer_add(s->close_timer, &tv);
		return;
	}
	session_free(s);
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	session_flushed(s);
	if (s->state == STATE_CLOSING) {
		linger_or_free(s);
		return;
	}
	if (s->paused) {
		s->paused = 0;
		bufferevent_enable(bev, EV_READ);
		dialogue_process_input(s);
	}
}

/* How a client left: "fin" (end of file) or "rst" (a reset: ECONNRESET
 * on a read, EPIPE on a write). Both are the client leaving, not our
 * failure, so both are outcome disconnect; NULL for any other error. */
static const char *
peer_close_how(short what, int err)
{
	if (!(what & BEV_EVENT_ERROR))
		return "fin";
	return err == ECONNRESET || err == EPIPE ? "rst" : NULL;
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	int err = EVUTIL_SOCKET_ERROR();	/* before any call can change it */

	if (s->lingering) {	/* the client closed, or linger_time is up */
		session_free(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if ((what & BEV_EVENT_READING) && s->state != STATE_CLOSING) {
			session_reply(s, 421, "4.4.2 %s Error: timeout exceeded", s->conf->banner_hostname);
			s->outcome = OUTCOME_TIMEOUT;
			session_close_after_flush(s);
			return;
		}
		if (s->outcome == OUTCOME_NONE)
			s->outcome = OUTCOME_TIMEOUT;
		session_free(s);
		return;
	}
	if (s->state == STATE_PROXY && (what & BEV_EVENT_EOF) &&
	    evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
		/* half a header, then the end: still told why (the write
		 * side may be open) */
		proxy_reject(s, "partial header at end of input");
		return;
	}
	if (s->outcome == OUTCOME_NONE) {
		s->how = peer_close_how(what, err);
		if (s->state < STATE_GREETED)
			s->outcome = OUTCOME_ABANDONED;
		else
			s->outcome = s->how != NULL ? OUTCOME_DISCONNECT : OUTCOME_ERROR;
	}
	session_free(s);
}

/* ---- close ---- */

static void
close_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	linger_or_free(arg);
}

static void
log_rdns_stages(const struct session *s, struct log_line *l, const uint64_t st[BANNER_STAGE_COUNT])
{
	int ran = s->entered_us[STATE_RDNS_WAIT] || s->entered_us[STATE_RESOLVING];
	int skipped = s->rdns_answered && s->rdns_result == RDNS_SKIPPED;

	if (s->conf->rdns_mode == RDNS_MODE_POOL && ran)
		log_line_dur(l, "rdns_wait", st[BANNER_STAGE_RDNS_WAIT], s->rdns_answered);
	log_line_dur(l, "rdns", st[BANNER_STAGE_RDNS], ran);
	if (!ran && !skipped)
		return;
	log_line_str(l, "rdns_result", s->rdns_answered ? rdns_result_name(s->rdns_result) : "pending");
	log_line_str(l, "client", s->client_name != NULL ? s->client_name : "unknown");
	if (s->rdns_answered && s->rdns_result == RDNS_OK)
		log_line_str(l, "confirmed", s->rdns_confirmed ? "yes" : "no");
}

/* A session that bannerd ended (a 421 at a drain or a timeout, a 554) is
 * logged in the state it was cut off in: "shutdown in DATA" is what a
 * mail admin needs to know, CLOSING says nothing. After QUIT, CLOSING. */
static enum session_state
close_line_state(const struct session *s)
{
	if (s->state == STATE_CLOSING && s->outcome != OUTCOME_NORMAL)
		return s->closed_in;
	return s->state;
}

/* Reads the session, changes nothing. */
static void
log_close_line(const struct session *s)
{
	uint64_t st[BANNER_STAGE_COUNT], sent = s->banner_sent_us;
	int greeted = s->entered_us[STATE_GREETED] != 0;
	struct log_line l;

	banner_stages(s, monotime_now_us(), st);
	session_log_begin(s, &l, "close");
	log_line_str(&l, "outcome", session_outcome_names[s->outcome]);
	if (s->reason != NULL)
		log_line_str(&l, "reason", s->reason);
	if (s->how != NULL)
		log_line_str(&l, "how", s->how);
	log_line_str(&l, "state", session_state_names[close_line_state(s)]);
	log_line_dur(&l, "queue", st[BANNER_STAGE_QUEUE], 1);
	if (s->entered_us[STATE_PROXY])
		log_line_dur(&l, "proxy", st[BANNER_STAGE_PROXY], 1);
	log_rdns_stages(s, &l, st);
	if (s->ident_answered || s->ident != NULL || s->entered_us[STATE_IDENT]) {
		log_line_dur(&l, "ident", st[BANNER_STAGE_IDENT], 1);
		log_line_str(&l, "ident_result", s->ident_answered ? ident_result_name(s->ident_result) :
		    "pending");
	}
	log_line_dur(&l, "delay", st[BANNER_STAGE_DELAY], greeted);
	log_line_dur(&l, "write", st[BANNER_STAGE_WRITE], sent != 0);
	log_line_dur(&l, "banner", sent - s->entered_us[STATE_QUEUED], sent != 0);
	if (!greeted)
		log_line_dur(&l, "waited", session_since_accept(s), 1);
	if (s->pregreet)
		log_line_dur(&l, "pregreet", s->pregreet_us, 1);
	if (s->helo != NULL)
		log_line_str(&l, "helo", s->helo);
	log_line_u64(&l, "commands", s->commands);
	log_line_u64(&l, "messages", s->messages);
	log_line_u64(&l, "errors", s->errors);
	log_line_end(&l);
}

static void
count_outcome(struct session *s)
{
	static const struct { const char *reason; enum metric_counter c; } rejects[] = {
		{ "errors", MC_REJECT_ERRORS }, { "shutdown", MC_REJECT_SHUTDOWN },
		{ "pipelining", MC_REJECT_PIPELINING },
	};

	if (s->outcome == OUTCOME_ABANDONED)
		metrics_count(s->env.metrics, MC_ABANDONED);
	else if (s->outcome == OUTCOME_PREGREET)
		metrics_count(s->env.metrics, MC_REJECT_PREGREET);
	else if ((s->outcome == OUTCOME_421 || s->outcome == OUTCOME_554) && s->reason != NULL)
		for (size_t i = 0; i < sizeof rejects / sizeof rejects[0]; i++)
			if (strcmp(s->reason, rejects[i].reason) == 0)
				metrics_count(s->env.metrics, rejects[i].c);
}

/* The live page's record of a session that ended without its banner
 * (one with a banner has it from session_flushed): the stages it got
 * through, the time it waited. */
static void
live_note_unbannered(const struct session *s)
{
	uint64_t st[BANNER_STAGE_COUNT], now = monotime_now_us();

	if (s->banner_sent_us != 0 || s->env.srv->live == NULL)
		return;
	banner_stages(s, now, st);
	live_record(s->env.srv->live, s->outcome == OUTCOME_ABANDONED ? LIVE_ABANDONED : LIVE_REJECTED,
	    now - s->entered_us[STATE_QUEUED], st, 0);
}

/* Only from the loop (a bufferevent callback or the close timer), never
 * under a caller that still holds s. */
static void
session_free(struct session *s)
{
	void (*on_close)(void *);
	void *arg;

	if (s->outcome == OUTCOME_NONE)
		s->outcome = OUTCOME_ERROR;
	log_close_line(s);
	session_drop_lookup(s);
	if (s->spool.fd >= 0 || s->spool.name[0] != '\0')
		spool_abort(&s->spool);
	count_outcome(s);
	live_note_unbannered(s);
	TAILQ_REMOVE(s->env.list, s, link);
	on_close = s->env.on_close;
	arg = s->env.arg;
	session_destroy(s);	/* the socket is closed before the slot is given back */
	on_close(arg);
}

void
session_shutdown(struct session *s)
{
	if (s->state == STATE_CLOSING)
		return;
	session_close_421(s, "shutdown", "4.3.2 %s Service shutting down", s->conf->banner_hostname);
}

void
session_shutdown_all(struct session_list *list)
{
	struct session *s;

	/* session_shutdown never frees synchronously, so walking the list
	 * while it runs is safe. */
	TAILQ_FOREACH(s, list, link)
		session_shutdown(s);
}
