#include "session.h"

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
#include "rdns_pool.h"
#include "server.h"
#include "smtp_data.h"
#include "smtp_parse.h"
#include "spool.h"

/* The states before the banner are explicit too: a slow banner must be
 * explained by the state the session was waiting in. */
enum session_state {
	STATE_QUEUED,		/* accepted, not yet on a worker */
	STATE_RDNS_WAIT,	/* waiting for a free resolver thread (rdns.mode = pool) */
	STATE_RESOLVING,	/* reverse-DNS lookup of the peer */
	STATE_DELAYING,		/* injected delay (packet-filter model) */
	STATE_GREETED,		/* 220 sent, no EHLO/HELO yet */
	STATE_READY,		/* EHLO/HELO done, no transaction */
	STATE_MAIL,		/* MAIL accepted */
	STATE_RCPT,		/* at least one RCPT accepted */
	STATE_DATA,		/* reading the message */
	STATE_CLOSING,		/* last reply queued, closing once flushed */
};

static const char *const state_names[] = {
	"QUEUED", "RDNS_WAIT", "RESOLVING", "DELAYING", "GREETED", "READY", "MAIL", "RCPT", "DATA", "CLOSING",
};

enum outcome {
	OUTCOME_NONE,
	OUTCOME_NORMAL,		/* QUIT */
	OUTCOME_ABANDONED,	/* client left before its banner */
	OUTCOME_TIMEOUT,
	OUTCOME_421,		/* we closed with 421 (errors, shutdown) */
	OUTCOME_PREGREET,	/* pregreet = reject */
	OUTCOME_DISCONNECT,	/* client left after the banner without QUIT */
	OUTCOME_ERROR,		/* I/O error */
};

static const char *const outcome_names[] = {
	"none", "normal", "abandoned", "timeout", "421", "pregreet", "disconnect", "error",
};

#define DATA_CHUNK	16384
#define RAW_LOG_CHUNK	1024

struct session {
	TAILQ_ENTRY(session) link;
	struct session_env env;
	struct config *conf;
	struct bufferevent *bev;
	struct event *timer;
	uint64_t sid;
	uint64_t rnd;
	char peer[ADDR_TEXT_MAX];
	struct addr peer_addr;
	enum session_state state;
	enum outcome outcome;
	const char *reason;

	/* Monotonic timestamps of the banner path (0: not reached). */
	uint64_t accept_us, start_us, banner_queued_us, banner_sent_us;
	uint64_t delay_us;	/* the delay drawn */
	uint64_t delay_start_us;
	/* rdns_wait + rdns = the session's own view, from starting the
	 * lookup to handling its answer, so the stages add up. */
	uint64_t rdns_us, rdns_start_us, rdns_wait_us;
	int rdns_run;

	struct rdns_query *rdnsq;	/* in flight (async), or NULL */
	struct rdns_job *rdns_job;	/* with the resolver threads (pool), or NULL */
	enum rdns_result rdns_result;
	char client_name[256];		/* validated PTR name, or "" */

	int awaiting_banner_flush;
	int paused;
	int discarding_line;	/* inside an over-long command line */
	size_t raw_seen;	/* input bytes already written to the raw log */

	int pregreet;
	uint64_t pregreet_us;

	char helo[SMTP_ARG_MAX];
	unsigned commands, errors, messages, rcpts;

	struct smtp_data data;
	struct spool_msg spool;
	int too_big;
	char queue_id[32];
	char *data_buf;
};

typedef void cmd_fn(struct session *, const struct smtp_command *);

static void session_free(struct session *s);
static void process_input(struct session *s);
static void close_after_flush(struct session *s);

static uint64_t
since_accept(const struct session *s)
{
	return monotime_now_us() - s->accept_us;
}

static void
log_begin(const struct session *s, struct log_line *l, const char *event)
{
	char sid[24];

	snprintf(sid, sizeof sid, "%08llx", (unsigned long long)s->sid);
	log_line_begin(l, event);
	log_line_str(l, "sid", sid);
	log_line_str(l, "peer", s->peer);
	log_line_u64(l, "t_us", since_accept(s));
}

static void
log_raw(struct session *s, const char *dir, const char *p, size_t n)
{
	struct log_line l;

	for (size_t off = 0; off < n; off += RAW_LOG_CHUNK) {
		size_t len = n - off < RAW_LOG_CHUNK ? n - off : RAW_LOG_CHUNK;
		log_begin(s, &l, "raw");
		log_line_str(&l, "dir", dir);
		log_line_mem(&l, "bytes", p + off, len);
		log_line_end(&l);
	}
}

/* Queues one reply (possibly multi-line, lines separated by '\n' in text
 * after the first) and logs it at level medium. */
static void __attribute__((format(printf, 3, 4)))
reply(struct session *s, int code, const char *fmt, ...)
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
		log_begin(s, &l, "reply");
		log_line_u64(&l, "code", (uint64_t)code);
		log_line_str(&l, "text", text);
		log_line_end(&l);
	}
	if (s->conf->log_protocol_log >= PLOG_MAXIMUM)
		log_raw(s, "out", wire, (size_t)n);
}

/* A multi-line reply: "250-a", "250-b", "250 c". */
static void
reply_lines(struct session *s, int code, const char *const *lines, size_t n)
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
			log_raw(s, "out", wire, (size_t)len);
		if (s->conf->log_protocol_log >= PLOG_MEDIUM) {
			log_begin(s, &l, "reply");
			log_line_u64(&l, "code", (uint64_t)code);
			log_line_str(&l, "text", lines[i]);
			log_line_end(&l);
		}
	}
}

/* A reply to a client mistake. After smtp.max_errors of them the session
 * ends with 421, as Postfix's hard error limit does. */
static void
client_error(struct session *s, int code, const char *text)
{
	reply(s, code, "%s", text);
	if (++s->errors < s->conf->smtp_max_errors)
		return;
	reply(s, 421, "4.7.0 %s Error: too many errors", s->conf->banner_hostname);
	s->outcome = OUTCOME_421;
	s->reason = "errors";
	close_after_flush(s);
}

static void
transaction_reset(struct session *s)
{
	if (s->spool.fd >= 0)
		spool_abort(&s->spool);
	s->rcpts = 0;
	s->too_big = 0;
	if (s->state > STATE_GREETED && s->state < STATE_CLOSING)
		s->state = STATE_READY;
}

/* ---- commands ---- */

static void
cmd_ehlo(struct session *s, const struct smtp_command *c)
{
	char hello[SMTP_ARG_MAX + 300], size[64];
	const char *lines[5] = { hello, "PIPELINING", size, "8BITMIME", "ENHANCEDSTATUSCODES" };

	transaction_reset(s);
	snprintf(s->helo, sizeof s->helo, "%s", c->arg);
	s->state = STATE_READY;
	if (c->verb == CMD_HELO) {
		reply(s, 250, "%s", s->conf->banner_hostname);
		return;
	}
	snprintf(hello, sizeof hello, "%s Hello %s", s->conf->banner_hostname, c->arg);
	snprintf(size, sizeof size, "SIZE %llu", (unsigned long long)s->conf->smtp_max_message_size);
	reply_lines(s, 250, lines, 5);
}

static void
cmd_mail(struct session *s, const struct smtp_command *c)
{
	s->state = STATE_MAIL;
	s->rcpts = 0;
	reply(s, 250, "2.1.0 Ok");
}

static void
cmd_rcpt(struct session *s, const struct smtp_command *c)
{
	/* RFC 5321 4.5.3.1.10: too many recipients is 452, and the
	 * transaction stays usable with the recipients already taken. */
	if (s->rcpts >= s->conf->smtp_max_recipients) {
		reply(s, 452, "4.5.3 Error: too many recipients");
		return;
	}
	s->rcpts++;
	s->state = STATE_RCPT;
	reply(s, 250, "2.1.5 Ok");
}

static void
cmd_data(struct session *s, const struct smtp_command *c)
{
	struct timeval tv;

	spool_queue_id(s->queue_id, sizeof s->queue_id);
	s->spool.fd = -1;
	s->spool.tmp_path[0] = '\0';
	if (s->conf->smtp_sink == SINK_MAILDIR)
		spool_begin(&s->spool, s->conf->smtp_maildir, s->conf->banner_hostname, s->queue_id);
	if (s->data_buf == NULL)
		s->data_buf = malloc(DATA_CHUNK + 2);
	smtp_data_init(&s->data);
	s->too_big = 0;
	s->state = STATE_DATA;
	tv.tv_sec = (time_t)(s->conf->smtp_timeout_data_us / 1000000);
	tv.tv_usec = (suseconds_t)(s->conf->smtp_timeout_data_us % 1000000);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	reply(s, 354, "End data with <CR><LF>.<CR><LF>");
}

static void
cmd_rset(struct session *s, const struct smtp_command *c)
{
	transaction_reset(s);
	reply(s, 250, "2.0.0 Ok");
}

static void
cmd_noop(struct session *s, const struct smtp_command *c)
{
	reply(s, 250, "2.0.0 Ok");
}

static void
cmd_quit(struct session *s, const struct smtp_command *c)
{
	reply(s, 221, "2.0.0 Bye");
	s->outcome = OUTCOME_NORMAL;
	close_after_flush(s);
}

static void
cmd_vrfy(struct session *s, const struct smtp_command *c)
{
	reply(s, 252, "2.0.0 Cannot VRFY user, but will accept message and attempt delivery");
}

static void
cmd_help(struct session *s, const struct smtp_command *c)
{
	reply(s, 214, "2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
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

static void
dispatch_line(struct session *s, const char *line, size_t len)
{
	struct smtp_parse_limits lim = { s->conf->smtp_max_message_size };
	const struct smtp_reply *err = NULL;
	struct smtp_command cmd;
	struct log_line l;

	s->commands++;
	if (s->conf->log_protocol_log >= PLOG_MEDIUM) {
		log_begin(s, &l, "cmd");
		log_line_str(&l, "state", state_names[s->state]);
		log_line_mem(&l, "line", line, len);
		log_line_end(&l);
	}
	if (smtp_parse_command(line, len, &lim, &cmd, &err) != 0) {
		client_error(s, err->code, err->text);
		return;
	}
	for (size_t i = 0; i < sizeof cmd_table / sizeof cmd_table[0]; i++) {
		const struct cmd_entry *e = &cmd_table[i];
		if (e->verb != cmd.verb)
			continue;
		if (!(e->states & IN(s->state)))
			client_error(s, 503, bad_sequence_text(s, e));
		else
			e->run(s, &cmd);
		return;
	}
	client_error(s, 500, "5.5.2 Error: command not recognized");
}

/* ---- DATA ---- */

static void
data_finish(struct session *s)
{
	struct log_line l;
	int code;

	s->state = STATE_READY;
	s->rcpts = 0;
	if (s->too_big) {
		spool_abort(&s->spool);
		code = 552;
		reply(s, 552, "5.3.4 Error: message exceeds fixed maximum message size");
	} else if (s->data.bare_lf || s->data.bare_cr) {
		/* Against SMTP smuggling: a message with a bare LF or CR is
		 * refused as a whole, after the real end of data. */
		spool_abort(&s->spool);
		code = 550;
		reply(s, 550, "5.5.2 Error: bare <%s> received", s->data.bare_lf ? "LF" : "CR");
	} else if (s->conf->smtp_sink == SINK_MAILDIR &&
	    spool_commit(&s->spool, s->conf->smtp_maildir) != 0) {
		code = 451;
		log_error("sid=%08llx maildir write failed: %s", (unsigned long long)s->sid,
		    strerror(s->spool.error));
		reply(s, 451, "4.3.0 Error: local error in processing");
	} else {
		code = 250;
		s->messages++;
		reply(s, 250, "2.0.0 Ok: queued as %s", s->queue_id);
	}
	metrics_count(s->env.metrics, code == 250 ? MC_MSG_ACCEPTED :
	    code >= 500 ? MC_MSG_REJECTED : MC_MSG_FAILED);
	if (s->conf->log_protocol_log >= PLOG_MINIMUM) {
		log_begin(s, &l, "message");
		log_line_str(&l, "queue_id", s->queue_id);
		log_line_u64(&l, "size", s->data.bytes_out);
		log_line_u64(&l, "code", (uint64_t)code);
		log_line_str(&l, "sink", s->conf->smtp_sink == SINK_MAILDIR ? "maildir" : "discard");
		log_line_end(&l);
	}
	if (s->state != STATE_CLOSING) {
		struct timeval tv = { (time_t)(s->conf->smtp_timeout_command_us / 1000000),
		    (suseconds_t)(s->conf->smtp_timeout_command_us % 1000000) };
		bufferevent_set_timeouts(s->bev, &tv, &tv);
	}
}

/* Feeds what is buffered to the DATA machine; returns when the input is
 * used up or the end of data was seen. */
static void
data_consume(struct session *s, struct evbuffer *in)
{
	while (s->state == STATE_DATA && evbuffer_get_length(in) > 0) {
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
		if (s->data.state == DATA_DONE)
			data_finish(s);
	}
}

/* ---- command lines ---- */

/* Returns 1 if a line was handled, 0 if more input is needed. */
static int
command_consume(struct session *s, struct evbuffer *in)
{
	size_t eol_len = 0, len = evbuffer_get_length(in);
	struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF_STRICT);
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
	if (s->discarding_line || (size_t)eol.pos + 2 > s->conf->smtp_max_line) {
		evbuffer_drain(in, (size_t)eol.pos + eol_len);
		s->discarding_line = 0;
		s->commands++;
		client_error(s, 500, "5.5.6 Error: line too long");
		return 1;
	}
	line = malloc((size_t)eol.pos + 1);
	if (line == NULL) {
		s->outcome = OUTCOME_ERROR;
		session_free(s);
		return -1;
	}
	evbuffer_remove(in, line, (size_t)eol.pos);
	evbuffer_drain(in, eol_len);
	line[eol.pos] = '\0';
	dispatch_line(s, line, (size_t)eol.pos);
	free(line);
	return 1;
}

static void
process_input(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer *out = bufferevent_get_output(s->bev);

	while (s->state >= STATE_GREETED && s->state != STATE_CLOSING) {
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
		int rc = command_consume(s, in);
		if (rc < 0)
			return;	/* freed */
		if (rc == 0)
			return;
	}
	if (s->state == STATE_CLOSING)
		evbuffer_drain(in, evbuffer_get_length(in));	/* junk after QUIT */
}

/* ---- banner path ---- */

static void
set_command_timeouts(struct session *s)
{
	struct timeval tv = { (time_t)(s->conf->smtp_timeout_command_us / 1000000),
	    (suseconds_t)(s->conf->smtp_timeout_command_us % 1000000) };

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

static void
send_banner(struct session *s)
{
	s->state = STATE_GREETED;
	s->banner_queued_us = monotime_now_us();
	s->awaiting_banner_flush = 1;
	reply(s, 220, "%s %s", s->conf->banner_hostname, s->conf->banner_text);
	bufferevent_setwatermark(s->bev, EV_READ, 0, 0);
	bufferevent_enable(s->bev, EV_READ);
	if (s->pregreet && s->conf->banner_pregreet == PREGREET_REJECT) {
		reply(s, 554, "5.5.0 %s Error: client sent data before the greeting",
		    s->conf->banner_hostname);
		s->outcome = OUTCOME_PREGREET;
		close_after_flush(s);
		return;
	}
	set_command_timeouts(s);
	process_input(s);	/* pregreet = allow: early commands run now */
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
	tv.tv_sec = (time_t)(delay / 1000000);
	tv.tv_usec = (suseconds_t)(delay % 1000000);
	evtimer_assign(s->timer, s->env.base, delay_done_cb, s);
	evtimer_add(s->timer, &tv);
}

static void
log_rdns(struct session *s, const struct rdns_answer *a)
{
	struct log_line l;

	if (s->conf->log_protocol_log < PLOG_MINIMUM)
		return;
	log_begin(s, &l, "rdns");
	log_line_str(&l, "result", rdns_result_name(a->result));
	log_line_str(&l, "name", a->name != NULL ? a->name : "-");
	log_line_dur(&l, "duration", a->elapsed_us, 1);
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

	s->rdnsq = NULL;
	s->rdns_us = monotime_now_us() - s->rdns_start_us - s->rdns_wait_us;
	s->rdns_result = a->result;
	if (a->result == RDNS_OK && a->name != NULL)
		snprintf(s->client_name, sizeof s->client_name, "%s", a->name);
	log_rdns(s, a);
	metrics_count(s->env.metrics, (enum metric_counter)(MC_RDNS_FIRST + a->result));
	if (a->result != RDNS_OK && s->conf->rdns_on_failure == RDNS_FAIL_TEMPFAIL) {
		metrics_count(s->env.metrics, MC_REJECT_RDNS);
		/* Instead of the banner, as MTAs that refuse unknown clients do. */
		reply(s, 421, "4.7.1 %s Client host rejected: cannot find your hostname (%s)",
		    s->conf->banner_hostname, rdns_result_name(a->result));
		s->outcome = OUTCOME_421;
		s->reason = "rdns";
		close_after_flush(s);
		return;
	}
	banner_path_delay(s);
}

void
session_rdns_job_done(struct session *s, struct rdns_job *job)
{
	struct rdns_answer a = {
		job->result, job->name[0] ? job->name : NULL, job->done_us - job->started_us,
		job->timeouts, job->detail[0] ? job->detail : NULL,
	};

	s->rdns_job = NULL;
	s->rdns_wait_us = job->started_us > s->rdns_start_us ? job->started_us - s->rdns_start_us : 0;
	rdns_done_cb(s, &a);
	free(job);
}

/* The legacy resolver: the lookup waits for a free resolver thread. */
static void
rdns_pool_start_lookup(struct session *s)
{
	struct rdns_job *job = calloc(1, sizeof *job);

	if (job == NULL) {
		struct rdns_answer a = { RDNS_ERROR, NULL, 0, 0, "out of memory" };
		rdns_done_cb(s, &a);
		return;
	}
	memcpy(&job->peer, &s->peer_addr.ss, sizeof job->peer);
	job->forward_confirm = s->conf->rdns_forward_confirm;
	job->post = s->env.job_post;
	job->target = s->env.job_target;
	job->session = s;
	s->rdns_job = job;
	s->state = STATE_RDNS_WAIT;
	rdns_pool_submit(s->env.rpool, job);
}

static void
banner_path_start(struct session *s)
{
	if (!config_rdns_active(s->conf) || s->env.rdns == NULL) {
		banner_path_delay(s);
		return;
	}
	s->rdns_run = 1;
	s->rdns_start_us = monotime_now_us();
	if (s->conf->rdns_mode == RDNS_MODE_POOL && s->env.rpool != NULL) {
		rdns_pool_start_lookup(s);
		return;
	}
	s->state = STATE_RESOLVING;
	s->rdnsq = rdns_lookup(s->env.rdns, (struct sockaddr *)&s->peer_addr.ss,
	    s->conf->rdns_forward_confirm, rdns_done_cb, s);
	if (s->rdnsq == NULL) {
		struct rdns_answer a = { RDNS_ERROR, NULL, 0, 0, "out of memory" };
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
	s->pregreet_us = since_accept(s);
	metrics_count(s->env.metrics, MC_PREGREET);
	if (s->conf->log_protocol_log < PLOG_MINIMUM)
		return;	/* still on the close line */
	log_begin(s, &l, "pregreet");
	log_line_u64(&l, "bytes", n);
	log_line_str(&l, "state", state_names[s->state]);
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
		log_raw(s, "in", (const char *)p + s->raw_seen, len - s->raw_seen);
	}
	if (s->state < STATE_GREETED) {
		note_pregreet(s, len);
		s->raw_seen = len;
		return;
	}
	process_input(s);
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
		process_input(s);
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & BEV_EVENT_TIMEOUT) {
		if ((what & BEV_EVENT_READING) && s->state != STATE_CLOSING) {
			reply(s, 421, "4.4.2 %s Error: timeout exceeded", s->conf->banner_hostname);
			s->outcome = OUTCOME_TIMEOUT;
			close_after_flush(s);
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

static void
close_after_flush(struct session *s)
{
	struct timeval tv = { (time_t)(s->conf->smtp_timeout_close_us / 1000000),
	    (suseconds_t)(s->conf->smtp_timeout_close_us % 1000000) };

	s->state = STATE_CLOSING;
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

	log_begin(s, &l, "close");
	log_line_str(&l, "outcome", outcome_names[s->outcome]);
	if (s->reason != NULL)
		log_line_str(&l, "reason", s->reason);
	log_line_str(&l, "state", state_names[s->state]);
	log_line_dur(&l, "queue", start - s->accept_us, 1);
	if (s->rdnsq != NULL || s->rdns_job != NULL)	/* still waiting: what it cost so far */
		s->rdns_us = monotime_now_us() - s->rdns_start_us;
	if (s->conf->rdns_mode == RDNS_MODE_POOL && s->rdns_run)
		log_line_dur(&l, "rdns_wait", s->rdns_wait_us, s->rdns_job == NULL);
	log_line_dur(&l, "rdns", s->rdns_us, s->rdns_run);
	if (s->rdns_run) {
		log_line_str(&l, "rdns_result", s->rdnsq != NULL || s->rdns_job != NULL ? "pending" :
		    rdns_result_name(s->rdns_result));
		log_line_str(&l, "client", s->client_name[0] ? s->client_name : "unknown");
	}
	log_line_dur(&l, "delay", queued - s->delay_start_us, greeted);
	log_line_dur(&l, "write", s->banner_sent_us - queued, s->banner_sent_us != 0);
	log_line_dur(&l, "banner", s->banner_sent_us - s->accept_us, s->banner_sent_us != 0);
	if (!greeted)
		log_line_dur(&l, "waited", since_accept(s), 1);
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

static void
session_free(struct session *s)
{
	if (s->outcome == OUTCOME_NONE)
		s->outcome = OUTCOME_ERROR;
	log_close_line(s);
	if (s->spool.fd >= 0 || s->spool.tmp_path[0] != '\0')
		spool_abort(&s->spool);
	rdns_cancel(s->rdnsq);
	if (s->rdns_job != NULL)
		atomic_store(&s->rdns_job->cancelled, 1);	/* the worker frees it when it returns */
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
	log_begin(s, &l, "connect");
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
	reply(s, 421, "4.3.2 %s Service shutting down", s->conf->banner_hostname);
	s->outcome = OUTCOME_421;
	s->reason = "shutdown";
	close_after_flush(s);
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
