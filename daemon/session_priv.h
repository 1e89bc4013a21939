#ifndef BANNERD_SESSION_PRIV_H
#define BANNERD_SESSION_PRIV_H
/* What session.c (the connection's life: banner path, I/O, close) and
 * dialogue.c (the ESMTP commands and DATA) share. Not for other modules. */
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "log.h"
#include "rdns.h"
#include "session.h"
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

extern const char *const session_state_names[];

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

extern const char *const session_outcome_names[];

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
	int rdns_abandoned;	/* the session closed while its lookup ran */

	struct rdns_handle *rdns;	/* the lookup in flight, or NULL */
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

/* session.c */
uint64_t session_since_accept(const struct session *s);
void session_log_begin(const struct session *s, struct log_line *l, const char *event);
void session_log_raw(struct session *s, const char *dir, const char *p, size_t n);
void session_reply(struct session *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void session_reply_lines(struct session *s, int code, const char *const *lines, size_t n);
/* A reply to a client mistake; after smtp.max_errors of them, 421. */
void session_client_error(struct session *s, int code, const char *text);
void session_set_timeouts(struct session *s, uint64_t read_us);
/* Marks the session CLOSING; it is freed once the output is written. */
void session_close_after_flush(struct session *s);
void session_free(struct session *s);

/* dialogue.c: runs every complete command line (and DATA) buffered, in
 * order, until more input is needed or the session closes. */
void dialogue_process_input(struct session *s);
void dialogue_transaction_reset(struct session *s);

#endif
