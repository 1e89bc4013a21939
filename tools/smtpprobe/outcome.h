#ifndef SMTPPROBE_OUTCOME_H
#define SMTPPROBE_OUTCOME_H
/* What a connecting MTA makes of a try, and when it tries again.
 * Pure logic: outcome classification, the multi-line reply reader, retry
 * schedules and the table of known MTA profiles. No I/O. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum probe_outcome {
	OUTCOME_OK,		/* 2xx greeting (and, in session mode, 2xx/3xx replies) */
	OUTCOME_GAVE_UP,	/* no complete greeting within --give-up */
	OUTCOME_NDR,		/* attempt only: every try gave up */
	OUTCOME_REFUSED,	/* connect(): ECONNREFUSED */
	OUTCOME_RESET,		/* RST, or the server closed before a complete greeting */
	OUTCOME_TEMPFAIL,	/* 4xx reply, e.g. 421 greeting */
	OUTCOME_PERMFAIL,	/* 5xx reply */
	OUTCOME_ERROR,		/* anything else: timeouts after the greeting, garbage, local errors */
	OUTCOME_COUNT
};

/* What happened to a try, as the engine saw it. */
enum probe_event {
	EVENT_CONNECT_ERROR,	/* err = errno of the connect */
	EVENT_READ_ERROR,	/* err = errno of the read or write */
	EVENT_EOF,		/* server closed before the reply was complete */
	EVENT_GIVE_UP,		/* greeting deadline expired */
	EVENT_TIMEOUT,		/* connect or post-greeting reply deadline expired */
	EVENT_REPLY,		/* a complete reply; code = its code, 0 if malformed */
};

const char *probe_outcome_name(enum probe_outcome o);
/* Returns the outcome named, or -1. */
int probe_outcome_parse(const char *name);
enum probe_outcome probe_classify(enum probe_event ev, int err, int code);

/* The outcome of the attempt whose try number try_no (1-based) ended with
 * try_outcome, given `retries` retries allowed. Sets *retry when another
 * try is due. ndr needs retries >= 1: a single probe that gives up is
 * reported as gave_up, a sender with a retry queue bounces. With
 * retry_tempfail a 4xx is retried too, as an MTA defers on any 4xx
 * (greylisting's 451 among them), and a last 4xx bounces as ndr. */
enum probe_outcome probe_attempt_outcome(enum probe_outcome try_outcome,
    unsigned try_no, unsigned retries, bool retry_tempfail, bool *retry);

/* A multi-line SMTP reply ("220-a\r\n220 b\r\n"), fed as bytes arrive. */
struct probe_reply {
	int code;		/* code of the first line; 0 until known */
	unsigned char head[4];
	unsigned hlen;
	bool done;		/* the last line (code + space or bare code) was read */
	bool bad;		/* a line without a 3-digit code, or codes differ */
	/* What a firewall's SMTP inspection leaves (slowrelay(1), INSPECTION):
	 * a greeting made only of "20 *\t" besides CR LF, one '*' at least, is
	 * masked (a PIX or ASA, detected as Postfix's smtp_proto.c does); an
	 * EHLO keyword made only of X's is one the ASA overwrote (STARTTLS). */
	bool other_char;	/* a byte outside "20 *\t\r\n" */
	bool star;
	unsigned line, lpos;	/* line index and position in it */
	unsigned kw_len;	/* the line's keyword (from column 4) so far */
	bool kw_x;		/* ... made only of X's */
	unsigned masked_kw;	/* lines after the first whose keyword is all X's */
};

void probe_reply_reset(struct probe_reply *r);
/* Consumes bytes up to and including the final line's LF and returns how
 * many were used; stops early when done or bad. */
size_t probe_reply_feed(struct probe_reply *r, const char *p, size_t n);
/* The reply so far looks like a masked banner ("220 ****0***"), complete
 * or not (a masked multi-line banner never completes). */
bool probe_reply_masked(const struct probe_reply *r);

#define PROBE_RETRY_MAX 16

/* --retries K --retry-after W1,W2,...: the wait before retry i (0-based) is
 * W(i+1), the last wait repeating when K exceeds the list. */
struct probe_retry {
	unsigned retries;
	bool tempfail;		/* --retry-tempfail: a 4xx is retried too */
	unsigned n_after;
	uint64_t after_us[PROBE_RETRY_MAX];
};

/* "50ms", "5m,10m,20m". Returns 0, or -1 on bad syntax or too many. */
int probe_retry_parse(const char *list, struct probe_retry *out);
uint64_t probe_retry_wait(const struct probe_retry *r, unsigned retry_index);

/* A connecting MTA's greeting timeout and retry habit, with its source. */
struct probe_profile {
	const char *name;
	uint64_t give_up_us;
	unsigned retries;
	const char *retry_after;	/* --retry-after syntax */
	const char *source;
};

const struct probe_profile *probe_profile_find(const char *name);
/* The table, for --profile list and the man page; NULL past the end. */
const struct probe_profile *probe_profile_at(size_t i);

#endif
