#ifndef SMTPPROBE_ENGINE_H
#define SMTPPROBE_ENGINE_H
/* The load engine: one libevent loop per thread, each driving its share of
 * the attempts through an explicit per-connection state machine.
 *
 * Closed loop (-c): keep `concurrency` attempts in flight, start the next
 * when one ends. Open loop (-r): attempt a starts at t0 + a/rate whatever
 * the server does; every latency of its first try is measured from that
 * scheduled time, so a client that fell behind (or a server that stalled
 * it) cannot hide the wait (coordinated omission).
 *
 * The run's own thread waits for the workers on a loop of its own, with
 * SIGINT and SIGTERM (stop starting attempts; those in flight get
 * grace_us to end, the rest are counted as interrupted; a second signal
 * exits at once) and, with progress, a one-second timer that prints the
 * status line (progress.h) on standard error. */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "histogram.h"
#include "outcome.h"
#include "source.h"

struct probe_giveup;

enum probe_mode { MODE_BANNER, MODE_SESSION, MODE_IDLE };

struct probe_config {
	struct addr target;
	enum probe_mode mode;
	uint64_t attempts;		/* 0: unbounded, stop on duration_us */
	unsigned concurrency;		/* closed loop; in open loop a cap on in-flight attempts */
	double rate;			/* > 0: open loop, attempts per second */
	uint64_t duration_us;		/* 0: none */
	uint64_t give_up_us;		/* 0: wait for ever (bounded by timeout_us) */
	uint64_t connect_timeout_us;
	uint64_t timeout_us;		/* every reply after the greeting */
	uint64_t hold_us;		/* idle mode */
	uint64_t size;			/* session mode message size */
	struct probe_retry retry;
	bool use_source;
	struct probe_source source;
	int proxy_version;		/* --proxy: 1 or 2; 0: no PROXY header */
	bool use_proxy_source;		/* --proxy-source: the clients the headers name */
	struct probe_source proxy_source;
	unsigned threads;
	bool keep_tries;		/* keep a record per try (for --csv) */
	const char *helo;
	const char *client;		/* --client: this run's name in a merge (report only) */
	bool progress;			/* the status line on stderr, refreshed each second */
	uint64_t grace_us;		/* after a stop signal, for the attempts in flight */
};

/* A socket address as getsockname fills it; sa.sa_family is AF_UNSPEC
 * when there is none. */
union probe_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

/* One row of --csv. */
struct probe_try {
	uint64_t attempt;		/* 0-based */
	uint64_t start_us;		/* scheduled start, from the run's t0 */
	uint64_t connect_us;		/* start to established; 0 if never */
	uint64_t banner_us;		/* established to complete greeting; 0 if none */
	uint64_t total_us;		/* start to the end of the try */
	uint32_t try_no;		/* 1-based */
	uint16_t code;			/* greeting code, or the failing reply's */
	uint8_t outcome;
	uint8_t greeted;
	uint8_t banner_masked;		/* the greeting was masked (a PIX or ASA) */
	uint8_t ehlo_refused;		/* EHLO got 5xx, the try fell back to HELO */
	uint16_t masked_extensions;	/* EHLO keywords overwritten with X's */
	union probe_sockaddr source;	/* local end once connected; AF_UNSPEC if it never was */
};

enum probe_stage {
	STAGE_CONNECT, STAGE_BANNER, STAGE_EHLO, STAGE_MAIL, STAGE_RCPT,
	STAGE_DATA, STAGE_MESSAGE, STAGE_TOTAL, STAGE_COUNT
};

struct probe_result {
	uint64_t attempts;			/* finished attempts */
	uint64_t tries;
	uint64_t outcome[OUTCOME_COUNT];	/* per attempt */
	uint64_t try_outcome[OUTCOME_COUNT];	/* per try */
	/* Tries that met a firewall's SMTP inspection (slowrelay --inspect): */
	uint64_t banner_masked;			/* a masked greeting */
	uint64_t ehlo_refused;			/* EHLO refused, fell back to HELO */
	uint64_t ehlo_masked;			/* EHLO keywords overwritten with X's */
	uint64_t elapsed_us;
	bool stopped;				/* by SIGINT or SIGTERM before the end */
	uint64_t interrupted;			/* attempts still in flight after the grace: not counted */
	struct histogram stage[STAGE_COUNT];
	struct probe_try *rows;
	uint64_t nrows, cap_rows;
	/* A merged result's would-give-up matrix (merge.h), summed from the
	 * files' counts; NULL for a run, whose matrix report.c computes. */
	const struct probe_giveup *giveup;
	size_t ngiveup;
};

const char *probe_stage_name(enum probe_stage s);

/* Allocated zeroed with initialised histograms; free with probe_result_free. */
struct probe_result *probe_result_new(void);
void probe_result_free(struct probe_result *r);
/* dst += src (rows are moved, src loses them). */
int probe_result_merge(struct probe_result *dst, struct probe_result *src);
/* Rows sorted by attempt, then try. */
void probe_result_sort_rows(struct probe_result *r);

/* Runs the whole load and fills res. Returns 0, or -1 with a message on
 * stderr when it could not start (no event base, no threads). A second
 * SIGINT or SIGTERM exits the process with status 130 from inside. */
int probe_run(const struct probe_config *cfg, struct probe_result *res);

#endif
