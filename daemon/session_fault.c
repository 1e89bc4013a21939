/* The [faults] rules applied to one session (see session_fault.h). Runs
 * on the session's worker, like the rest of the session. */
#include "session_fault.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "monotime.h"
#include "session_io.h"

static void
log_fault(struct session *s, enum fault_point p, int index, uint64_t delay_us)
{
	const struct fault_rule *r = &s->conf->faults[index];
	struct log_line l;

	metrics_fault(s->env.metrics, p, r->action);
	if (s->conf->log_protocol_log < PLOG_MINIMUM)
		return;
	session_log_begin(s, &l, "fault");
	log_line_str(&l, "point", fault_point_name(p));
	log_line_str(&l, "action", fault_action_name(r->action));
	log_line_u64(&l, "rule", (uint64_t)index + 1);
	if (r->action == FA_DELAY)
		log_line_dur(&l, "delay", delay_us, 1);
	if (r->action == FA_REPLY)
		log_line_u64(&l, "code", (uint64_t)r->code);
	log_line_end(&l);
}

/* The rule's text, its "\n" pairs as line breaks, after the code. */
static void
reply_rule_text(struct session *s, const struct fault_rule *r)
{
	char text[FAULT_REPLY_MAX], *lines[FAULT_REPLY_LINES_MAX], *p = text;
	size_t n = 0;

	memcpy(text, r->reply, sizeof text);
	lines[n++] = p;
	while (n < FAULT_REPLY_LINES_MAX && (p = strstr(p, "\\n")) != NULL) {
		*p = '\0';
		p += 2;
		lines[n++] = p;
	}
	session_reply_lines(s, r->code, (const char *const *)lines, n);
}

/* A stalled session answers nothing, ever; it still reads (and drops)
 * input, so a client that gives up frees its slot at once. What ends it
 * otherwise is the command timeout in force (smtp.timeout_command, or
 * smtp.stress_timeout_command under stress), armed here once: input does
 * not extend it. Then it is closed without a reply. */
static void
stall(struct session *s)
{
	struct timeval tv = monotime_timeval(session_timeout_command(s));
	struct evbuffer *in = bufferevent_get_input(s->bev);

	s->fault_held = 1;
	s->fault_stalled = 1;
	session_deadline_stop(s);
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_set_timeouts(s->bev, NULL, NULL);
	bufferevent_setwatermark(s->bev, EV_READ, 0, 0);
	bufferevent_enable(s->bev, EV_READ);
	evtimer_add(s->fault_timer, &tv);
}

static void
apply_terminal(struct session *s, enum fault_point p, const struct fault_rule *r,
    const struct session_fault_hooks *h)
{
	int code = r->action == FA_REPLY ? r->code : 421;

	if ((r->action == FA_REPLY || r->action == FA_421) && h->refused != NULL)
		h->refused(s, code);
	switch (r->action) {
	case FA_REPLY:
		reply_rule_text(s, r);
		/* A 421 always closes (RFC 5321 3.8), and a refused greeting
		 * ends the session here, as smtp-sink's and Postfix's do. */
		if (code != 421 && p != FP_CONNECT)
			return;
		s->outcome = code == 421 ? OUTCOME_421 : OUTCOME_FAULT;
		s->reason = "fault";
		session_close_after_flush(s);
		return;
	case FA_421:
		session_close_421(s, "fault", "4.3.0 %s Service not available, closing transmission channel",
		    s->conf->banner_hostname);
		return;
	case FA_CLOSE:
		s->outcome = OUTCOME_FAULT;
		s->reason = "close";
		session_close_after_flush(s);
		return;
	case FA_STALL:
		stall(s);
		return;
	default:
		return;
	}
}

static void
hold(struct session *s, enum fault_point p, uint64_t delay_us)
{
	struct timeval tv = monotime_timeval(delay_us);

	s->fault_held = 1;
	if (p == FP_CONNECT) {
		/* Before the banner reading stays on (pregreet, clients
		 * that give up); the wait is the banner's delay stage. */
		session_enter_state(s, STATE_DELAYING);
		event_base_update_cache_time(s->env.base);	/* as banner_path_delay */
	} else {
		/* The wait is ours, not the client's: no deadline of its
		 * (the DATA budget at ".") may run out during it. */
		session_deadline_stop(s);
		bufferevent_disable(s->bev, EV_READ);
	}
	evtimer_add(s->fault_timer, &tv);
}

int
session_fault(struct session *s, enum fault_point p, const struct session_fault_hooks *hooks)
{
	struct fault_decision d;
	struct config *c = s->conf;
	struct fault_env env;

	if (c->faults_n == 0)
		return 0;
	env.seed = c->faults_seed;
	env.max_delay_us = c->faults_max_delay_us;
	env.now_us = monotime_now_us();
	env.first_window_us = c->faults_first_window_us;
	env.first_size = (size_t)c->faults_first_table_size;
	env.first = &c->faults_first;
	faults_decide(c->faults, c->faults_n, p, &env, (struct sockaddr *)&s->peer_addr.ss, &d);
	if (d.delay_rule >= 0)
		log_fault(s, p, d.delay_rule, d.delay_us);
	if (d.rule >= 0)
		log_fault(s, p, d.rule, 0);
	if (d.delay_us > 0) {
		s->fault_point = p;
		s->fault_rule = d.rule;
		s->fault_hooks = hooks;
		hold(s, p, d.delay_us);
		return 1;
	}
	if (d.rule < 0)
		return 0;
	apply_terminal(s, p, &c->faults[d.rule], hooks);
	return 1;
}

void
session_fault_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	const struct session_fault_hooks *h = s->fault_hooks;
	int rule = s->fault_rule;

	if (s->state == STATE_CLOSING)
		return;
	if (s->fault_stalled) {
		s->outcome = OUTCOME_FAULT;
		s->reason = "stall";
		session_close_after_flush(s);
		return;
	}
	s->fault_held = 0;
	s->fault_rule = -1;
	if (rule >= 0)
		apply_terminal(s, s->fault_point, &s->conf->faults[rule], h);
	else
		h->resume(s);
	free(s->fault_line);
	s->fault_line = NULL;
	if (h->after != NULL)
		h->after(s);
}
