#ifndef BANNERD_SESSION_PRIV_H
#define BANNERD_SESSION_PRIV_H
/* The session's data, shared by session.c (the connection's life: banner
 * path, I/O, close), session_io.c (what the dialogue may do to it) and
 * dialogue.c (the ESMTP commands and DATA). Not for other modules. */
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "log.h"
#include "ident.h"
#include "rdns.h"
#include "rng.h"
#include "session_fault.h"
#include "session.h"
#include "smtp_data.h"
#include "smtp_parse.h"
#include "spool.h"

/* The states before the banner are explicit too: a slow banner must be
 * explained by the state the session was waiting in. */
enum session_state {
	STATE_QUEUED,		/* accepted, not yet on a worker */
	STATE_PROXY,		/* on a worker, reading the PROXY header */
	STATE_RDNS_WAIT,	/* waiting for a free resolver thread (rdns.mode = pool) */
	STATE_RESOLVING,	/* reverse-DNS lookup of the peer (and ident, at once) */
	STATE_IDENT,		/* the ident query alone: rdns off, or answered first */
	STATE_DELAYING,		/* injected delay (packet-filter model) */
	STATE_GREETED,		/* 220 sent, no EHLO/HELO yet */
	STATE_READY,		/* EHLO/HELO done, no transaction */
	STATE_MAIL,		/* MAIL accepted */
	STATE_RCPT,		/* at least one RCPT accepted */
	STATE_DATA,		/* reading the message */
	STATE_CLOSING,		/* last reply queued, closing once flushed */
	STATE_COUNT
};

extern const char *const session_state_names[];

enum outcome {
	OUTCOME_NONE,
	OUTCOME_NORMAL,		/* QUIT */
	OUTCOME_ABANDONED,	/* client left before its banner */
	OUTCOME_TIMEOUT,
	OUTCOME_421,		/* we closed with 421 (errors, shutdown) */
	OUTCOME_PREGREET,	/* pregreet = reject */
	OUTCOME_DISCONNECT,	/* client left after the banner without QUIT (how: fin, rst) */
	OUTCOME_ERROR,		/* I/O error other than a reset */
	OUTCOME_554,		/* we closed with 554 (pipelining) */
	OUTCOME_FAULT,		/* a [faults] rule closed, stalled or refused the greeting */
};

extern const char *const session_outcome_names[];

#define DATA_CHUNK	16384
#define RAW_LOG_CHUNK	1024

struct session {
	TAILQ_ENTRY(session) link;
	struct session_env env;
	struct config *conf;
	struct bufferevent *bev;
	struct event *delay_timer;	/* the injected delay before the banner */
	struct event *close_timer;	/* frees the session from the loop once closing */
	struct event *deadline_timer;	/* the command line's or the DATA phase's deadline */
	struct event *fault_timer;	/* a [faults] delay, or the end of a stall */
	uint64_t deadline_us;		/* when it fires (monotonic), 0: not armed */
	uint64_t deadline_cap_us;	/* DATA: the most time a chunk may buy */
	const char *deadline_reason;	/* for the close line when it fires */
	uint64_t sid;
	struct rng rng;			/* banner jitter, seeded with the sid */
	char peer[ADDR_TEXT_MAX];
	struct addr peer_addr;
	enum session_state state;	/* changed by session_enter_state only */
	enum outcome outcome;
	const char *reason;
	enum session_state closed_in;	/* the state a close interrupted */
	const char *how;		/* a client that left: fin or rst */

	/* Monotonic time each state was last entered, 0 if never; QUEUED's
	 * is the accept(2) on the listener. The banner stages are derived
	 * from these (session.c: banner_stages). */
	uint64_t entered_us[STATE_COUNT];
	uint64_t banner_sent_us;	/* the 220 left the output buffer, or 0 */

	/* PROXY protocol: the header's destination, which ident asks from
	 * instead of our socket's address (proxied: 1) */
	struct event *proxy_timer;	/* listen.proxy_timeout, for the whole header */
	int proxied;
	struct addr proxy_dst;

	struct rdns_handle *rdns;	/* the lookup in flight, or NULL */
	int rdns_answered;
	uint64_t rdns_wait_us;		/* the answer's started - queued */
	enum rdns_result rdns_result;
	int rdns_confirmed;		/* the answer's confirmed (RDNS_OK only) */
	char *client_name;		/* validated PTR name, or NULL */

	struct ident_query *ident;	/* the ident query in flight, or NULL */
	int ident_answered;
	enum ident_result ident_result;
	uint64_t ident_us;		/* the query's own duration */
	char *ident_user;		/* IDENT_OK: the user id, escaped for the log */

	int awaiting_banner_flush;
	int paused;
	int lingering;		/* closed for writing, dropping late input (session.c) */
	int discarding_line;	/* inside an over-long command line */
	size_t raw_seen;	/* input bytes already written to the raw log */

	int pregreet;
	uint64_t pregreet_us;

	char *helo;		/* the last EHLO/HELO argument, or NULL; on the heap,
				 * as client_name, so an idle session stays small */
	unsigned commands, errors, messages, rcpts;

	struct smtp_data data;
	struct spool_msg spool;
	int too_big;
	char queue_id[32];
	char *data_buf;

	/* [faults] (session_fault.c) */
	int fault_held;			/* a delay or a stall holds the dialogue */
	int fault_stalled;
	int fault_rule;			/* the terminal rule due after the delay, or -1 */
	enum fault_point fault_point;
	const struct session_fault_hooks *fault_hooks;
	char *fault_line;		/* the command line a delay holds back */
};

#endif
