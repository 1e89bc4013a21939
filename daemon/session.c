/* One connection's life on its worker: the banner path (queue, reverse
 * DNS, injected delay, the 220), the bufferevent callbacks, replies and
 * the protocol log lines, and the close line with its stage timings. The
 * ESMTP commands and DATA are in dialogue.c. */
#include "session_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "addr.h"
#include "config.h"
#include "log.h"
#include "monotime.h"
#include "metrics.h"
#include "rdns.h"
#include "resolver.h"
#include "server.h"
#include "smtp_data.h"
#include "smtp_parse.h"
#include "spool.h"

const char *const session_state_names[] = {
	"QUEUED", "RDNS_WAIT", "RESOLVING", "DELAYING", "GREETED", "READY", "MAIL", "RCPT", "DATA", "CLOSING",
};

const char *const session_outcome_names[] = {
	"none", "normal", "abandoned", "timeout", "421", "pregreet", "disconnect", "error",
};

uint64_t
session_since_accept(const struct session *s)
{
	return monotime_now_us() - s->accept_us;
}

void
session_log_begin(const struct session *s, struct log_line *l, const char *event)
{
	char sid[24];

	snprintf(sid, sizeof sid, "%08llx", (unsigned long long)s->sid);
	log_line_begin(l, event);
	log_line_str(l, "sid", sid);
	log_line_str(l, "peer", s->peer);
	log_line_u64(l, "t_us", session_since_accept(s));
}

void
session_log_raw(struct session *s, const char *dir, const char *p, size_t n)
{
	struct log_line l;

	for (size_t off = 0; off < n; off += RAW_LOG_CHUNK) {
		size_t len = n - off < RAW_LOG_CHUNK ? n - off : RAW_LOG_CHUNK;
		session_log_begin(s, &l, "raw");
		log_line_str(&l, "dir", dir);
		log_line_mem(&l, "bytes", p + off, len);
		log_line_end(&l);
	}
}

/* Queues one reply (possibly multi-line, lines separated by '\n' in text
 * after the first) and logs it at level medium. */
void
session_reply(struct session *s, int code, const char *fmt, ...)
{
	char text[1024], wire[1200];
	struct log_line l;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	n = snprintf(wire, sizeof wire, "%d %s\r\n", code, text);
	if (n < 0 || (size_t)n >= sizeof wire)
		n = (int)sizeof wire - 1;
	bufferevent_write(s->bev, wire, (size_t)n);
	if (s->conf->log_protocol_log >= PLOG_MEDIUM) {
		session_log_begin(s, &l, "reply");
		log_line_u64(&l, "code", (uint64_t)code);
		log_line_str(&l, "text", text);
		log_line_end(&l);
	}
	if (s->conf->log_protocol_log >= PLOG_MAXIMUM)
		session_log_raw(s, "out", wire, (size_t)n);
}

/* A multi-line reply: "250-a", "250-b", "250 c". */
void
session_reply_lines(struct session *s, int code, const char *const *lines, size_t n)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	struct log_line l;

	for (size_t i = 0; i < n; i++) {
		char wire[SMTP_ARG_MAX + 320];
		int len = snprintf(wire, sizeof wire, "%d%c%s\r\n", code, i + 1 < n ? '-' : ' ', lines[i]);

		if (len < 0 || (size_t)len >= sizeof wire)
			len = (int)sizeof wire - 1;
		evbuffer_add(out, wire, (size_t)len);
		if (s->conf->log_protocol_log >= PLOG_MAXIMUM)
			session_log_raw(s, "out", wire, (size_t)len);
		if (s->conf->log_protocol_log >= PLOG_MEDIUM) {
			session_log_begin(s, &l, "reply");
			log_line_u64(&l, "code", (uint64_t)code);
			log_line_str(&l, "text", lines[i]);
			log_line_end(&l);
		}
	}
}

/* A reply to a client mistake. After smtp.max_errors of them the session
 * ends with 421, as Postfix's hard error limit does. */
void
session_client_error(struct session *s, int code, const char *text)
{
	session_reply(s, code, "%s", text);
	if (++s->errors < s->conf->smtp_max_errors)
		return;
	session_reply(s, 421, "4.7.0 %s Error: too many errors", s->conf->banner_hostname);
	s->outcome = OUTCOME_421;
	s->reason = "errors";
	session_close_after_flush(s);
}

void
session_set_timeouts(struct session *s, uint64_t read_us)
{
	struct timeval tv = monotime_timeval(read_us);

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

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
	s->state = STATE_GREETED;
	s->banner_queued_us = monotime_now_us();
	s->awaiting_banner_flush = 1;
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
	session_set_timeouts(s, s->conf->smtp_timeout_command_us);
	dialogue_process_input(s);	/* pregreet = allow: early commands run now */
}

static void
delay_done_cb(evutil_socket_t fd, short what, void *arg)
{
	send_banner(arg);
}

static uint64_t
next_random(struct session *s)
{
	/* splitmix64: jitter needs spread, not secrecy */
	uint64_t z = (s->rnd += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static void
banner_path_delay(struct session *s)
{
	uint64_t delay = s->conf->banner_delay_us;
	struct timeval tv;

	s->delay_start_us = monotime_now_us();
	if (s->conf->banner_delay_jitter_us > 0)
		delay += next_random(s) % (s->conf->banner_delay_jitter_us + 1);
	if (delay == 0) {
		send_banner(s);
		return;
	}
	s->delay_us = delay;
	s->state = STATE_DELAYING;
	tv = monotime_timeval(delay);
	evtimer_assign(s->timer, s->env.base, delay_done_cb, s);
	/* libevent measures timeouts from the time it cached at the top of
	 * this loop iteration, which is older than delay_start_us; refresh it
	 * so the delay is never shorter than the one reported. */
	event_base_update_cache_time(s->env.base);
	evtimer_add(s->timer, &tv);
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
	if (a->detail != NULL)
		log_line_str(&l, "detail", a->detail);
	log_line_end(&l);
}

/* Runs on the worker's loop, never from inside rdns_lookup; not at all
 * if the session went away first (rdns_cancel). */
static void
rdns_done_cb(void *arg, const struct rdns_answer *a)
{
	struct session *s = arg;

	s->rdns = NULL;
	s->rdns_wait_us = a->started_us - a->queued_us;
	s->rdns_us = monotime_now_us() - s->rdns_start_us - s->rdns_wait_us;
	s->rdns_result = a->result;
	if (a->result == RDNS_OK && a->name != NULL)
		snprintf(s->client_name, sizeof s->client_name, "%s", a->name);
	log_rdns(s, a);
	metrics_count(s->env.metrics, (enum metric_counter)(MC_RDNS_FIRST + a->result));
	if (a->result != RDNS_OK && s->conf->rdns_on_failure == RDNS_FAIL_TEMPFAIL) {
		metrics_count(s->env.metrics, MC_REJECT_RDNS);
		/* Instead of the banner, as MTAs that refuse unknown clients do. */
		session_reply(s, 421, "4.7.1 %s Client host rejected: cannot find your hostname (%s)",
		    s->conf->banner_hostname, rdns_result_name(a->result));
		s->outcome = OUTCOME_421;
		s->reason = "rdns";
		session_close_after_flush(s);
		return;
	}
	banner_path_delay(s);
}

static void
banner_path_start(struct session *s)
{
	if (!config_rdns_active(s->conf) || s->env.resolver == NULL) {
		banner_path_delay(s);
		return;
	}
	s->rdns_run = 1;
	s->rdns_start_us = monotime_now_us();
	s->state = s->conf->rdns_mode == RDNS_MODE_POOL ? STATE_RDNS_WAIT : STATE_RESOLVING;
	s->rdns = rdns_start(s->env.resolver, (struct sockaddr *)&s->peer_addr.ss, rdns_done_cb, s);
	if (s->rdns == NULL) {
		struct rdns_answer a = { RDNS_ERROR, NULL, 0, 0, 0, 0, "out of memory" };
		log_error("sid=%08llx rdns: out of memory", (unsigned long long)s->sid);
		rdns_done_cb(s, &a);
	}
}

/* ---- bufferevent callbacks ---- */

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

	if (s->conf->log_protocol_log >= PLOG_MAXIMUM && len > s->raw_seen) {
		unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)len);
		session_log_raw(s, "in", (const char *)p + s->raw_seen, len - s->raw_seen);
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

/* The stages add up to the banner time: queue, rdns_wait, rdns, delay
 * and write are consecutive, and what lies between them is event-loop
 * bookkeeping of a few microseconds. */
static void
stage_times(const struct session *s, uint64_t st[STAGE_COUNT])
{
	st[STAGE_QUEUE] = s->start_us - s->accept_us;
	st[STAGE_RDNS_WAIT] = s->rdns_wait_us;
	st[STAGE_RDNS] = s->rdns_run ? s->rdns_us : 0;
	st[STAGE_DELAY] = s->banner_queued_us - s->delay_start_us;
	st[STAGE_WRITE] = s->banner_sent_us - s->banner_queued_us;
}

static void
banner_metrics(struct session *s)
{
	uint64_t st[STAGE_COUNT];

	stage_times(s, st);
	metrics_banner(s->env.metrics, s->banner_sent_us - s->accept_us, st);
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (s->awaiting_banner_flush) {
		s->awaiting_banner_flush = 0;
		s->banner_sent_us = monotime_now_us();
		banner_metrics(s);
	}
	if (s->state == STATE_CLOSING) {
		session_free(s);
		return;
	}
	if (s->paused) {
		s->paused = 0;
		bufferevent_enable(bev, EV_READ);
		dialogue_process_input(s);
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

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
	if (s->outcome == OUTCOME_NONE) {
		if (s->state < STATE_GREETED)
			s->outcome = OUTCOME_ABANDONED;
		else if (what & BEV_EVENT_ERROR)
			s->outcome = OUTCOME_ERROR;
		else
			s->outcome = OUTCOME_DISCONNECT;
	}
	session_free(s);
}

static void
closing_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	session_free(arg);
}

/* A lookup still running when the session closes is let go: its answer
 * must never restart the banner path of a closing session (and the query
 * or job is freed by its owner, so the pointers are dropped here). */
static void
abandon_lookup(struct session *s)
{
	if (s->rdns == NULL)
		return;
	s->rdns_us = monotime_now_us() - s->rdns_start_us;	/* what it cost so far */
	s->rdns_abandoned = 1;
	rdns_cancel(s->rdns);
	s->rdns = NULL;
}

void
session_close_after_flush(struct session *s)
{
	struct timeval tv = monotime_timeval(s->conf->smtp_timeout_close_us);

	s->state = STATE_CLOSING;
	abandon_lookup(s);
	bufferevent_disable(s->bev, EV_READ);
	/* A peer that never reads must not keep us: bound the final flush. */
	bufferevent_set_timeouts(s->bev, NULL, &tv);
	/* The timer may still carry the banner delay: re-aim it. */
	event_del(s->timer);
	evtimer_assign(s->timer, s->env.base, closing_timer_cb, s);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		event_active(s->timer, EV_TIMEOUT, 0);	/* free from the loop, not under the caller */
	else
		bufferevent_enable(s->bev, EV_WRITE);
}

/* ---- life cycle ---- */

static void
log_close_line(struct session *s)
{
	uint64_t start = s->start_us, queued = s->banner_queued_us;
	int greeted = queued != 0;
	struct log_line l;

	session_log_begin(s, &l, "close");
	log_line_str(&l, "outcome", session_outcome_names[s->outcome]);
	if (s->reason != NULL)
		log_line_str(&l, "reason", s->reason);
	log_line_str(&l, "state", session_state_names[s->state]);
	log_line_dur(&l, "queue", start - s->accept_us, 1);
	abandon_lookup(s);
	if (s->conf->rdns_mode == RDNS_MODE_POOL && s->rdns_run)
		log_line_dur(&l, "rdns_wait", s->rdns_wait_us, !s->rdns_abandoned);
	log_line_dur(&l, "rdns", s->rdns_us, s->rdns_run);
	if (s->rdns_run) {
		log_line_str(&l, "rdns_result", s->rdns_abandoned ? "pending" :
		    rdns_result_name(s->rdns_result));
		log_line_str(&l, "client", s->client_name[0] ? s->client_name : "unknown");
	}
	log_line_dur(&l, "delay", queued - s->delay_start_us, greeted);
	log_line_dur(&l, "write", s->banner_sent_us - queued, s->banner_sent_us != 0);
	log_line_dur(&l, "banner", s->banner_sent_us - s->accept_us, s->banner_sent_us != 0);
	if (!greeted)
		log_line_dur(&l, "waited", session_since_accept(s), 1);
	if (s->pregreet)
		log_line_dur(&l, "pregreet", s->pregreet_us, 1);
	if (s->helo[0] != '\0')
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
	};

	if (s->outcome == OUTCOME_ABANDONED)
		metrics_count(s->env.metrics, MC_ABANDONED);
	else if (s->outcome == OUTCOME_PREGREET)
		metrics_count(s->env.metrics, MC_REJECT_PREGREET);
	else if (s->outcome == OUTCOME_421 && s->reason != NULL)
		for (size_t i = 0; i < sizeof rejects / sizeof rejects[0]; i++)
			if (strcmp(s->reason, rejects[i].reason) == 0)
				metrics_count(s->env.metrics, rejects[i].c);
}

void
session_free(struct session *s)
{
	if (s->outcome == OUTCOME_NONE)
		s->outcome = OUTCOME_ERROR;
	log_close_line(s);
	if (s->spool.fd >= 0 || s->spool.tmp_path[0] != '\0')
		spool_abort(&s->spool);
	abandon_lookup(s);
	count_outcome(s);
	TAILQ_REMOVE(s->env.list, s, link);
	bufferevent_free(s->bev);
	event_free(s->timer);
	free(s->data_buf);
	config_unref(s->conf);
	atomic_fetch_sub(&s->env.srv->sessions_open, 1);
	s->env.on_close(s->env.arg);
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
	struct session *s = calloc(1, sizeof *s);

	if (s == NULL) {
		close(fd);
		return NULL;
	}
	s->env = *env;
	s->conf = server_config(env->srv);
	s->sid = atomic_fetch_add(&env->srv->next_sid, 1);
	s->rnd = s->sid;
	s->accept_us = accept_us;
	s->start_us = monotime_now_us();
	s->spool.fd = -1;
	s->state = STATE_QUEUED;
	addr_format(peer, s->peer, sizeof s->peer);
	memcpy(&s->peer_addr.ss, peer, peerlen < sizeof s->peer_addr.ss ? peerlen : sizeof s->peer_addr.ss);
	s->peer_addr.len = peerlen;
	s->bev = bufferevent_socket_new(env->base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->timer = evtimer_new(env->base, closing_timer_cb, s);
	if (s->bev == NULL || s->timer == NULL) {
		if (s->bev != NULL)
			bufferevent_free(s->bev);
		else
			close(fd);
		if (s->timer != NULL)
			event_free(s->timer);
		config_unref(s->conf);
		free(s);
		return NULL;
	}
	TAILQ_INSERT_TAIL(env->list, s, link);
	bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
	/* Reading is on before the banner only to notice pregreet bytes and
	 * clients that give up; the watermark bounds what we buffer. */
	bufferevent_setwatermark(s->bev, EV_READ, 0, s->conf->banner_pregreet_buffer);
	bufferevent_enable(s->bev, EV_READ);
	log_connect(s, fd);
	banner_path_start(s);
	return s;
}

void
session_shutdown(struct session *s)
{
	if (s->state == STATE_CLOSING)
		return;
	if (s->state == STATE_DELAYING)
		event_del(s->timer);
	session_reply(s, 421, "4.3.2 %s Service shutting down", s->conf->banner_hostname);
	s->outcome = OUTCOME_421;
	s->reason = "shutdown";
	session_close_after_flush(s);
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
