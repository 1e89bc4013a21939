/* What the dialogue and the banner path may do to a session (see
 * session_io.h): the state machine's one transition, replies and the
 * protocol log lines, client errors, timeouts and the close after flush. */
#include "session_io.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "monotime.h"
#include "resolver.h"
#include "server.h"

const char *const session_state_names[] = {
	"QUEUED", "PROXY", "RDNS_WAIT", "RESOLVING", "IDENT", "DELAYING", "GREETED", "READY", "MAIL", "RCPT", "DATA", "CLOSING",
};

const char *const session_outcome_names[] = {
	"none", "normal", "abandoned", "timeout", "421", "pregreet", "disconnect", "error", "554", "fault",
};

void
session_enter_state(struct session *s, enum session_state next)
{
	struct log_line l;

	if (next == s->state)
		return;
	if (s->conf->log_protocol_log >= PLOG_MAXIMUM) {
		session_log_begin(s, &l, "state");
		log_line_str(&l, "from", session_state_names[s->state]);
		log_line_str(&l, "to", session_state_names[next]);
		log_line_end(&l);
	}
	s->state = next;
	s->entered_us[next] = monotime_now_us();
}

uint64_t
session_since_accept(const struct session *s)
{
	return monotime_now_us() - s->entered_us[STATE_QUEUED];
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

/* Replies go straight to the socket when nothing is queued ahead of
 * them: one that fits in the socket buffer (nearly every reply) then costs
 * a single send, and no write interest is switched on and off again (two
 * epoll_ctl and a loop wakeup a reply). What the kernel does not take
 * waits in the bufferevent, which writes it when it can, as before; a
 * failed send is left to the bufferevent to meet again and report
 * (event_cb: rst or error). */
static void
session_send(struct session *s, const char *p, size_t n)
{
	if (n > 0 && evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		ssize_t w = send(bufferevent_getfd(s->bev), p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			if (n == 0)
				session_flushed(s);
		}
	}
	if (n > 0)
		bufferevent_write(s->bev, p, n);
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
	session_send(s, wire, (size_t)n);
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
	char all[4096];		/* the lines, sent together (EHLO's: ~200 bytes) */
	_Static_assert(SMTP_ARG_MAX + 320 <= sizeof all, "a reply line fits in the batch");
	size_t used = 0;
	struct log_line l;

	for (size_t i = 0; i < n; i++) {
		char wire[SMTP_ARG_MAX + 320];
		int len = snprintf(wire, sizeof wire, "%d%c%s\r\n", code, i + 1 < n ? '-' : ' ', lines[i]);

		if (len < 0 || (size_t)len >= sizeof wire)
			len = (int)sizeof wire - 1;
		if (used + (size_t)len > sizeof all) {
			session_send(s, all, used);
			used = 0;
		}
		memcpy(all + used, wire, (size_t)len);
		used += (size_t)len;
		if (s->conf->log_protocol_log >= PLOG_MAXIMUM)
			session_log_raw(s, "out", wire, (size_t)len);
		if (s->conf->log_protocol_log >= PLOG_MEDIUM) {
			session_log_begin(s, &l, "reply");
			log_line_u64(&l, "code", (uint64_t)code);
			log_line_str(&l, "text", lines[i]);
			log_line_end(&l);
		}
	}
	session_send(s, all, used);
}

/* A reply to a client mistake. After smtp.max_errors of them the session
 * ends with 421, as Postfix's hard error limit does. */
void
session_client_error(struct session *s, int code, const char *text)
{
	session_reply(s, code, "%s", text);
	if (++s->errors < s->conf->smtp_max_errors)
		return;
	session_close_421(s, "errors", "4.7.0 %s Error: too many errors", s->conf->banner_hostname);
}

void
session_close_421(struct session *s, const char *reason, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	session_reply(s, 421, "%s", text);
	s->outcome = OUTCOME_421;
	s->reason = reason;
	session_close_after_flush(s);
}

void
session_set_timeouts(struct session *s, uint64_t read_us)
{
	struct timeval tv = monotime_timeval(read_us);

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

/* Read at each arming: a session started in stress keeps its short wait
 * only until its next one. */
static int
under_stress(const struct session *s)
{
	return atomic_load_explicit(&s->env.srv->stress, memory_order_relaxed);
}

uint64_t
session_timeout_command(const struct session *s)
{
	return under_stress(s) ? s->conf->smtp_stress_timeout_command_us : s->conf->smtp_timeout_command_us;
}

uint64_t
session_timeout_data(const struct session *s)
{
	return under_stress(s) ? s->conf->smtp_stress_timeout_data_us : s->conf->smtp_timeout_data_us;
}

static void
deadline_arm(struct session *s, uint64_t now, uint64_t in_us, const char *reason)
{
	struct timeval tv = monotime_timeval(in_us);

	s->deadline_us = now + in_us;
	s->deadline_reason = reason;
	evtimer_add(s->deadline_timer, &tv);
}

void
session_deadline_stop(struct session *s)
{
	s->deadline_us = 0;
	event_del(s->deadline_timer);
}

/* Armed at a line's first byte only: the wait for a command is the idle
 * timeout's business, the time the line takes is the deadline's. */
void
session_line_progress(struct session *s, int in_line)
{
	if (!in_line)
		session_deadline_stop(s);
	else if (s->deadline_us == 0)
		deadline_arm(s, monotime_now_us(), s->conf->smtp_command_deadline_us, "command_deadline");
}

void
session_data_deadline_start(struct session *s)
{
	s->deadline_cap_us = session_timeout_data(s);
	deadline_arm(s, monotime_now_us(), s->deadline_cap_us, "data_deadline");
}

/* Postfix's arithmetic: what is left of the budget, plus the time these
 * bytes earn at smtp.min_data_rate, never more than the cap. A client
 * slower than the rate runs out; one at or above it never does. */
void
session_data_progress(struct session *s, size_t bytes)
{
	uint64_t now = monotime_now_us(), left, earned;

	if (s->deadline_us == 0 || bytes == 0)
		return;
	left = s->deadline_us > now ? s->deadline_us - now : 0;
	earned = (uint64_t)bytes * 1000000ULL / s->conf->smtp_min_data_rate;
	left += earned;	/* both are bounded: no overflow */
	if (left > s->deadline_cap_us)
		left = s->deadline_cap_us;
	deadline_arm(s, now, left, "data_deadline");
}

void
session_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	if (s->state == STATE_CLOSING)
		return;
	s->deadline_us = 0;
	session_reply(s, 421, "4.4.2 %s Error: timeout exceeded", s->conf->banner_hostname);
	s->outcome = OUTCOME_TIMEOUT;
	s->reason = s->deadline_reason;
	session_close_after_flush(s);
}

void
session_drop_lookup(struct session *s)
{
	rdns_cancel(s->rdns);
	s->rdns = NULL;
	ident_cancel(s->ident);
	s->ident = NULL;
}

void
session_close_after_flush(struct session *s)
{
	struct timeval tv = monotime_timeval(s->conf->smtp_timeout_close_us);

	if (s->state != STATE_CLOSING)
		s->closed_in = s->state;	/* for the close line */
	session_enter_state(s, STATE_CLOSING);
	session_drop_lookup(s);
	event_del(s->delay_timer);
	event_del(s->fault_timer);
	s->fault_held = 0;
	event_del(s->proxy_timer);
	session_deadline_stop(s);
	bufferevent_disable(s->bev, EV_READ);
	/* A peer that never reads must not keep us: bound the final flush. */
	bufferevent_set_timeouts(s->bev, NULL, &tv);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		event_active(s->close_timer, EV_TIMEOUT, 0);	/* free from the loop, not under the caller */
	else
		bufferevent_enable(s->bev, EV_WRITE);
}
