#ifndef BANNERD_SESSION_IO_H
#define BANNERD_SESSION_IO_H
/* What the dialogue (and the banner path) may do to a session: change its
 * state, reply, count a client error, set its timeouts, close it once the
 * output is flushed, and write its log lines. Nothing here frees a
 * session: closing ends in session.c, from the loop. */
#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>

#include "session_priv.h"

/* The only place a session's state changes: stamps entered_us[next] and,
 * at log.protocol_log = maximum, logs "state from=OLD to=NEW". Entering
 * the state the session is already in does nothing. */
void session_enter_state(struct session *s, enum session_state next);

uint64_t session_since_accept(const struct session *s);
void session_log_begin(const struct session *s, struct log_line *l, const char *event);
void session_log_raw(struct session *s, const char *dir, const char *p, size_t n);

void session_reply(struct session *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void session_reply_lines(struct session *s, int code, const char *const *lines, size_t n);
/* A reply to a client mistake; after smtp.max_errors of them, 421. */
void session_client_error(struct session *s, int code, const char *text);
void session_set_timeouts(struct session *s, uint64_t read_us);

/* The idle timeouts for a wait that starts now: smtp.timeout_command and
 * smtp.timeout_data, or their smtp.stress_* values while the server is in
 * stress mode (server.h). */
uint64_t session_timeout_command(const struct session *s);
uint64_t session_timeout_data(const struct session *s);

/* Deadlines, because a per-read timeout alone lets a client that sends a
 * byte now and then keep its session for ever (Postfix's
 * smtpd_per_record_deadline and smtpd_min_data_rate). A command line must
 * be complete smtp.command_deadline after its first byte arrived: call
 * session_line_progress whenever the dialogue waits for more input, with
 * in_line set if part of a line is buffered (or being discarded). The
 * DATA phase starts with the data timeout as its budget; each chunk
 * received adds bytes / smtp.min_data_rate seconds, never past that
 * timeout. When a deadline passes the session ends with 421 4.4.2,
 * outcome timeout. session_deadline_stop disarms either. */
void session_line_progress(struct session *s, int in_line);
void session_data_deadline_start(struct session *s);
void session_data_progress(struct session *s, size_t bytes);
void session_deadline_stop(struct session *s);
/* The deadline timer's callback (session.c creates the timer). */
void session_deadline_cb(evutil_socket_t fd, short what, void *arg);

/* Ends the session with "421 <fmt...>", reason naming why on the close
 * line. */
void session_close_421(struct session *s, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Enters CLOSING: no more input is read, a lookup still running is let
 * go, and the session is freed from the loop once its output is written
 * (or smtp.timeout_close has passed). */
void session_close_after_flush(struct session *s);

/* All output so far is with the kernel: stamps the banner as sent if it
 * was waiting for that (session.c). */
void session_flushed(struct session *s);

/* Lets a lookup still running go: its answer must never restart the
 * banner path of a closing session. */
void session_drop_lookup(struct session *s);

#endif
