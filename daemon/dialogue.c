/* The ESMTP dialogue of one session: the command table and its handlers,
 * line framing with the smtp.max_line limit, and the DATA phase into the
 * sink. Runs on the session's worker thread, called from session.c; acts
 * on the session through session_io.h only. */
#include "dialogue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "session_fault.h"
#include "session_io.h"

typedef void cmd_fn(struct session *, const struct smtp_command *);

static void
transaction_reset(struct session *s)
{
	if (s->spool.fd >= 0)
		spool_abort(&s->spool);
	s->rcpts = 0;
	s->too_big = 0;
	if (s->state > STATE_GREETED && s->state < STATE_CLOSING)
		session_enter_state(s, STATE_READY);
}

/* ---- commands ---- */

static void
cmd_ehlo(struct session *s, const struct smtp_command *c)
{
	char hello[SMTP_ARG_MAX + 300], size[64];
	const char *lines[5] = { hello, "PIPELINING", size, "8BITMIME", "ENHANCEDSTATUSCODES" };

	transaction_reset(s);
	free(s->helo);
	s->helo = strdup(c->arg);	/* NULL (out of memory): not logged */
	session_enter_state(s, STATE_READY);
	if (c->verb == CMD_HELO) {
		session_reply(s, 250, "%s", s->conf->banner_hostname);
		return;
	}
	snprintf(hello, sizeof hello, "%s Hello %s", s->conf->banner_hostname, c->arg);
	snprintf(size, sizeof size, "SIZE %llu", (unsigned long long)s->conf->smtp_max_message_size);
	session_reply_lines(s, 250, lines, 5);
}

static void
cmd_mail(struct session *s, const struct smtp_command *c)
{
	session_enter_state(s, STATE_MAIL);
	s->rcpts = 0;
	session_reply(s, 250, "2.1.0 Ok");
}

static void
cmd_rcpt(struct session *s, const struct smtp_command *c)
{
	/* RFC 5321 4.5.3.1.10: too many recipients is 452, and the
	 * transaction stays usable with the recipients already taken. */
	if (s->rcpts >= s->conf->smtp_max_recipients) {
		session_reply(s, 452, "4.5.3 Error: too many recipients");
		return;
	}
	s->rcpts++;
	session_enter_state(s, STATE_RCPT);
	session_reply(s, 250, "2.1.5 Ok");
}

/* Bytes the client sent behind DATA, before it could have seen our 354:
 * those still in our buffer and, since a group split over two reads is
 * the same violation, those still in the kernel's. */
static size_t
input_after_data(struct session *s)
{
	size_t n = evbuffer_get_length(bufferevent_get_input(s->bev));
	int pending = 0;

	if (ioctl(bufferevent_getfd(s->bev), FIONREAD, &pending) == 0 && pending > 0)
		n += (size_t)pending;
	return n;
}

/* RFC 2920 3.1: DATA may only end a group. A client that sends its
 * message before the 354 does not read replies at all (a spambot, or a
 * smuggling attempt), so it gets what Postfix >= 3.9 says to it
 * (smtpd_forbid_unauth_pipelining) and is disconnected. */
static void
reject_pipelining(struct session *s, size_t n)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	char next[64];
	ev_ssize_t got = evbuffer_copyout(in, next, sizeof next);
	struct log_line l;

	if (s->conf->log_protocol_log >= PLOG_MINIMUM) {
		session_log_begin(s, &l, "pipelining");
		log_line_str(&l, "after", "DATA");
		log_line_u64(&l, "bytes", n);
		log_line_mem(&l, "next", next, got > 0 ? (size_t)got : 0);
		log_line_end(&l);
	}
	session_reply(s, 554, "5.5.0 Error: improper command pipelining after DATA");
	s->outcome = OUTCOME_554;
	s->reason = "pipelining";
	session_close_after_flush(s);
}

static void
cmd_data(struct session *s, const struct smtp_command *c)
{
	size_t early = s->conf->smtp_forbid_pipelining_after_data ? input_after_data(s) : 0;

	if (early > 0) {
		reject_pipelining(s, early);
		return;
	}
	spool_queue_id(s->queue_id, sizeof s->queue_id);
	s->spool.fd = -1;
	s->spool.name[0] = '\0';
	if (s->conf->smtp_sink == SINK_MAILDIR)
		spool_begin(&s->spool, s->conf->smtp_maildir, s->conf->banner_hostname, s->queue_id);
	if (s->data_buf == NULL)
		s->data_buf = malloc(DATA_CHUNK + 2);
	smtp_data_init(&s->data);
	s->too_big = 0;
	session_enter_state(s, STATE_DATA);
	session_set_timeouts(s, session_timeout_data(s));
	session_data_deadline_start(s);
	session_reply(s, 354, "End data with <CR><LF>.<CR><LF>");
}

static void
cmd_rset(struct session *s, const struct smtp_command *c)
{
	transaction_reset(s);
	session_reply(s, 250, "2.0.0 Ok");
}

static void
cmd_noop(struct session *s, const struct smtp_command *c)
{
	session_reply(s, 250, "2.0.0 Ok");
}

static void
cmd_quit(struct session *s, const struct smtp_command *c)
{
	session_reply(s, 221, "2.0.0 Bye");
	s->outcome = OUTCOME_NORMAL;
	session_close_after_flush(s);
}

static void
cmd_vrfy(struct session *s, const struct smtp_command *c)
{
	session_reply(s, 252, "2.0.0 Cannot VRFY user, but will accept message and attempt delivery");
}

static void
cmd_help(struct session *s, const struct smtp_command *c)
{
	session_reply(s, 214, "2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
}

#define IN(st)	(1u << (st))
#define GREETED_ANY (IN(STATE_GREETED) | IN(STATE_READY) | IN(STATE_MAIL) | IN(STATE_RCPT))

/* Which command may run in which state, and what a client that sends it
 * out of sequence is told (RFC 5321 4.1.4: 503). */
static const struct cmd_entry {
	enum smtp_verb verb;
	unsigned states;
	const char *bad_sequence;
	cmd_fn *run;
} cmd_table[] = {
	{ CMD_EHLO, GREETED_ANY, NULL, cmd_ehlo },
	{ CMD_HELO, GREETED_ANY, NULL, cmd_ehlo },
	{ CMD_MAIL, IN(STATE_READY), NULL, cmd_mail },
	{ CMD_RCPT, IN(STATE_MAIL) | IN(STATE_RCPT), "5.5.1 Error: need MAIL command", cmd_rcpt },
	{ CMD_DATA, IN(STATE_RCPT), NULL, cmd_data },
	{ CMD_RSET, GREETED_ANY, NULL, cmd_rset },
	{ CMD_NOOP, GREETED_ANY, NULL, cmd_noop },
	{ CMD_QUIT, GREETED_ANY, NULL, cmd_quit },
	{ CMD_VRFY, GREETED_ANY, NULL, cmd_vrfy },
	{ CMD_HELP, GREETED_ANY, NULL, cmd_help },
};

static const char *
bad_sequence_text(const struct session *s, const struct cmd_entry *e)
{
	if (s->state == STATE_GREETED)
		return "5.5.1 Error: send HELO/EHLO first";
	if (e->bad_sequence != NULL)
		return e->bad_sequence;
	if (e->verb == CMD_MAIL)
		return "5.5.1 Error: nested MAIL command";
	if (e->verb == CMD_DATA && s->state == STATE_MAIL)
		return "5.5.1 Error: need RCPT command";
	return "5.5.1 Error: need MAIL command";
}

/* The [faults] point of each verb that has one. */
static const struct {
	enum smtp_verb verb;
	enum fault_point point;
} fault_points[] = {
	{ CMD_HELO, FP_HELO }, { CMD_EHLO, FP_EHLO }, { CMD_MAIL, FP_MAIL }, { CMD_RCPT, FP_RCPT },
	{ CMD_DATA, FP_DATA }, { CMD_RSET, FP_RSET }, { CMD_NOOP, FP_NOOP }, { CMD_QUIT, FP_QUIT },
};

static void resume_command(struct session *s);
static void resume_input(struct session *s);
static void message_refused(struct session *s, int code);
static void data_finish(struct session *s);

static const struct session_fault_hooks command_hooks = { resume_command, NULL, resume_input };
static const struct session_fault_hooks dot_hooks = { data_finish, message_refused, resume_input };

/* A command that would run (parsed, in sequence) meets its point's fault
 * rules first; a delay keeps a copy of the line, run by resume_command
 * once the delay is over. Returns 1 if the faults took it. */
static int
command_faulted(struct session *s, enum smtp_verb verb, const char *line, size_t len)
{
	if (s->conf->faults_n == 0)
		return 0;
	for (size_t i = 0; i < sizeof fault_points / sizeof fault_points[0]; i++) {
		if (fault_points[i].verb != verb)
			continue;
		free(s->fault_line);
		s->fault_line = strndup(line, len);	/* NULL (out of memory): the delay ends in nothing */
		return session_fault(s, fault_points[i].point, &command_hooks);
	}
	return 0;
}

/* Parses and runs one line; check_faults is 0 for a line a fault delay
 * held, whose rules were met already. */
static void
run_line(struct session *s, const char *line, size_t len, int check_faults)
{
	struct smtp_parse_limits lim = { s->conf->smtp_max_message_size };
	const struct smtp_reply *err = NULL;
	struct smtp_command cmd;

	if (smtp_parse_command(line, len, &lim, &cmd, &err) != 0) {
		session_client_error(s, err->code, err->text);
		return;
	}
	for (size_t i = 0; i < sizeof cmd_table / sizeof cmd_table[0]; i++) {
		const struct cmd_entry *e = &cmd_table[i];
		if (e->verb != cmd.verb)
			continue;
		if (!(e->states & IN(s->state)))
			session_client_error(s, 503, bad_sequence_text(s, e));
		else if (!check_faults || !command_faulted(s, e->verb, line, len))
			e->run(s, &cmd);
		return;
	}
	session_client_error(s, 500, "5.5.2 Error: command not recognized");
}

static void
resume_command(struct session *s)
{
	if (s->fault_line != NULL)
		run_line(s, s->fault_line, strlen(s->fault_line), 0);
}

static void
dispatch_line(struct session *s, const char *line, size_t len)
{
	struct log_line l;

	s->commands++;
	session_deadline_stop(s);	/* the line is whole: the next one starts afresh */
	if (s->conf->log_protocol_log >= PLOG_MEDIUM) {
		session_log_begin(s, &l, "cmd");
		log_line_str(&l, "state", session_state_names[s->state]);
		log_line_mem(&l, "line", line, len);
		log_line_end(&l);
	}
	run_line(s, line, len, 1);
}

/* ---- DATA ---- */

static void
message_counted(struct session *s, int code)
{
	metrics_count(s->env.metrics, code == 250 ? MC_MSG_ACCEPTED :
	    code >= 500 ? MC_MSG_REJECTED : MC_MSG_FAILED);
}

/* A [faults] rule answered the end of data with code: the message is
 * dropped and counted, the transaction ends. */
static void
message_refused(struct session *s, int code)
{
	spool_abort(&s->spool);
	s->rcpts = 0;
	session_enter_state(s, STATE_READY);
	message_counted(s, code);
	session_deadline_stop(s);
	session_set_timeouts(s, session_timeout_command(s));
}

static void
data_finish(struct session *s)
{
	struct log_line l;
	int code;

	session_enter_state(s, STATE_READY);
	s->rcpts = 0;
	if (s->too_big) {
		spool_abort(&s->spool);
		code = 552;
		session_reply(s, 552, "5.3.4 Error: message exceeds fixed maximum message size");
	} else if (s->data.bare_lf || s->data.bare_cr) {
		/* Against SMTP smuggling: a message with a bare LF or CR is
		 * refused as a whole, after the real end of data. */
		spool_abort(&s->spool);
		code = 550;
		session_reply(s, 550, "5.5.2 Error: bare <%s> received", s->data.bare_lf ? "LF" : "CR");
	} else if (s->conf->smtp_sink == SINK_MAILDIR &&
	    spool_commit(&s->spool, s->conf->smtp_maildir) != 0) {
		code = spool_error_is_storage(s->spool.error) ? 452 : 451;
		log_error("sid=%08llx maildir write failed: %s", (unsigned long long)s->sid,
		    strerror(s->spool.error));
		session_reply(s, code, "%s", code == 452 ? "4.3.1 Insufficient system storage" :
		    "4.3.0 Error: local error in processing");
	} else {
		code = 250;
		s->messages++;
		session_reply(s, 250, "2.0.0 Ok: queued as %s", s->queue_id);
	}
	message_counted(s, code);
	if (s->conf->log_protocol_log >= PLOG_MINIMUM) {
		session_log_begin(s, &l, "message");
		log_line_str(&l, "queue_id", s->queue_id);
		log_line_u64(&l, "size", s->data.bytes_out);
		log_line_u64(&l, "code", (uint64_t)code);
		log_line_str(&l, "sink", s->conf->smtp_sink == SINK_MAILDIR ? "maildir" : "discard");
		log_line_end(&l);
	}
	session_deadline_stop(s);
	if (s->state != STATE_CLOSING)
		session_set_timeouts(s, session_timeout_command(s));
}

/* Feeds what is buffered to the DATA machine; returns when the input is
 * used up or the end of data was seen. */
static void
data_consume(struct session *s, struct evbuffer *in)
{
	while (s->state == STATE_DATA && !s->fault_held && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		size_t used, out_len;

		if (s->data_buf == NULL || evbuffer_peek(in, DATA_CHUNK, NULL, &v, 1) < 1)
			break;
		if (v.iov_len > DATA_CHUNK)
			v.iov_len = DATA_CHUNK;
		used = smtp_data_feed(&s->data, v.iov_base, v.iov_len, s->data_buf, &out_len);
		if (s->data.bytes_out > s->conf->smtp_max_message_size && !s->too_big) {
			s->too_big = 1;	/* keep reading to the end, store nothing */
			spool_abort(&s->spool);
		}
		if (!s->too_big && s->conf->smtp_sink == SINK_MAILDIR)
			spool_write(&s->spool, s->data_buf, out_len);
		evbuffer_drain(in, used);
		session_data_progress(s, used);
		if (s->data.state == DATA_DONE && session_fault(s, FP_DOT, &dot_hooks) == 0)
			data_finish(s);
	}
}

/* ---- command lines ---- */

/* eol is at an LF. Moves it back onto the CR before it (eol_len 2) and
 * returns 0, or returns 1 for a bare LF (eol_len 1). RFC 5321 2.3.8 lets
 * only CR LF end a line; a bare LF is answered at once rather than waited
 * on until the timeout, and what it ends never runs as a command. */
static int
line_end_is_bare_lf(struct evbuffer *in, struct evbuffer_ptr *eol, size_t *eol_len)
{
	struct evbuffer_ptr cr;
	char c = 0;

	if (eol->pos > 0 && evbuffer_ptr_set(in, &cr, (size_t)eol->pos - 1, EVBUFFER_PTR_SET) == 0 &&
	    evbuffer_copyout_from(in, &cr, &c, 1) == 1 && c == '\r') {
		*eol = cr;
		*eol_len = 2;
		return 0;
	}
	*eol_len = 1;
	return 1;
}

/* Returns 1 if a line was handled (the session may now be closing), 0 if
 * more input is needed. */
static int
command_consume(struct session *s, struct evbuffer *in)
{
	size_t eol_len = 0, len = evbuffer_get_length(in);
	struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	char *line;

	if (eol.pos < 0) {
		/* No CRLF yet. Past the limit, throw the line away as it
		 * arrives (keeping a trailing CR that may pair with the next
		 * LF) so memory stays bounded, and answer at its end. */
		if (len > s->conf->smtp_max_line) {
			struct evbuffer_ptr tail;
			unsigned char last;
			size_t keep = 0;

			if (evbuffer_ptr_set(in, &tail, len - 1, EVBUFFER_PTR_SET) == 0 &&
			    evbuffer_copyout_from(in, &tail, &last, 1) == 1 && last == '\r')
				keep = 1;
			evbuffer_drain(in, len - keep);
			s->discarding_line = 1;
		}
		return 0;
	}
	if (line_end_is_bare_lf(in, &eol, &eol_len) && !s->discarding_line) {
		evbuffer_drain(in, (size_t)eol.pos + eol_len);
		s->commands++;
		session_deadline_stop(s);
		session_client_error(s, 500, "5.5.2 Error: bare <LF> received");
		return 1;
	}
	if (s->discarding_line || (size_t)eol.pos + 2 > s->conf->smtp_max_line) {
		evbuffer_drain(in, (size_t)eol.pos + eol_len);
		s->discarding_line = 0;
		s->commands++;
		session_deadline_stop(s);
		session_client_error(s, 500, "5.5.6 Error: line too long");
		return 1;
	}
	line = malloc((size_t)eol.pos + 1);
	if (line == NULL) {
		log_error("sid=%08llx out of memory for a command line", (unsigned long long)s->sid);
		s->outcome = OUTCOME_ERROR;
		session_close_after_flush(s);
		return 1;
	}
	evbuffer_remove(in, line, (size_t)eol.pos);
	evbuffer_drain(in, eol_len);
	line[eol.pos] = '\0';
	dispatch_line(s, line, (size_t)eol.pos);
	free(line);
	return 1;
}

void
dialogue_process_input(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer *out = bufferevent_get_output(s->bev);

	while (s->state >= STATE_GREETED && s->state != STATE_CLOSING && !s->fault_held) {
		if (evbuffer_get_length(out) > s->conf->smtp_max_unread_replies) {
			/* The client does not read its replies: stop reading
			 * its commands until it does (write_cb resumes). */
			s->paused = 1;
			bufferevent_disable(s->bev, EV_READ);
			return;
		}
		if (s->state == STATE_DATA) {
			data_consume(s, in);
			if (s->state == STATE_DATA)
				return;
			continue;
		}
		if (command_consume(s, in) == 0) {
			session_line_progress(s, evbuffer_get_length(in) > 0 || s->discarding_line);
			return;
		}
	}
	if (s->state == STATE_CLOSING)
		evbuffer_drain(in, evbuffer_get_length(in));	/* junk after QUIT */
}

/* After a [faults] delay: read again and run what was buffered. */
static void
resume_input(struct session *s)
{
	if (s->state < STATE_GREETED || s->state == STATE_CLOSING || s->fault_held)
		return;
	bufferevent_enable(s->bev, EV_READ);
	dialogue_process_input(s);
}
