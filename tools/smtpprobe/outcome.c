#include "outcome.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"

static const char *const outcome_names[OUTCOME_COUNT] = {
	[OUTCOME_OK] = "ok",
	[OUTCOME_GAVE_UP] = "gave_up",
	[OUTCOME_NDR] = "ndr",
	[OUTCOME_REFUSED] = "refused",
	[OUTCOME_RESET] = "reset",
	[OUTCOME_TEMPFAIL] = "tempfail",
	[OUTCOME_PERMFAIL] = "permfail",
	[OUTCOME_ERROR] = "error",
};

const char *
probe_outcome_name(enum probe_outcome o)
{
	return (unsigned)o < OUTCOME_COUNT ? outcome_names[o] : "?";
}

int
probe_outcome_parse(const char *name)
{
	for (int i = 0; i < OUTCOME_COUNT; i++)
		if (strcmp(name, outcome_names[i]) == 0)
			return i;
	return -1;
}

static enum probe_outcome
classify_errno(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return OUTCOME_REFUSED;
	case ECONNRESET:
	case EPIPE:
	case ECONNABORTED:
		return OUTCOME_RESET;
	default:
		return OUTCOME_ERROR;
	}
}

static enum probe_outcome
classify_code(int code)
{
	if (code >= 200 && code < 400)
		return OUTCOME_OK;
	if (code >= 400 && code < 500)
		return OUTCOME_TEMPFAIL;
	if (code >= 500 && code < 600)
		return OUTCOME_PERMFAIL;
	return OUTCOME_ERROR;
}

enum probe_outcome
probe_classify(enum probe_event ev, int err, int code)
{
	switch (ev) {
	case EVENT_CONNECT_ERROR:
	case EVENT_READ_ERROR:
		return classify_errno(err);
	case EVENT_EOF:
		/* An MTA sees "lost connection" either way; FIN and RST
		 * before the reply both end the try without an answer. */
		return OUTCOME_RESET;
	case EVENT_GIVE_UP:
		return OUTCOME_GAVE_UP;
	case EVENT_TIMEOUT:
		return OUTCOME_ERROR;
	case EVENT_REPLY:
		return classify_code(code);
	}
	return OUTCOME_ERROR;
}

enum probe_outcome
probe_attempt_outcome(enum probe_outcome try_outcome, unsigned try_no,
    unsigned retries, bool retry_tempfail, bool *retry)
{
	*retry = false;
	if (try_outcome == OUTCOME_TEMPFAIL && retry_tempfail) {
		if (try_no <= retries) {
			*retry = true;
			return OUTCOME_TEMPFAIL;
		}
		return retries > 0 ? OUTCOME_NDR : OUTCOME_TEMPFAIL;
	}
	if (try_outcome != OUTCOME_GAVE_UP)
		return try_outcome;
	if (try_no <= retries) {
		*retry = true;
		return OUTCOME_GAVE_UP;
	}
	return retries > 0 ? OUTCOME_NDR : OUTCOME_GAVE_UP;
}

void
probe_reply_reset(struct probe_reply *r)
{
	memset(r, 0, sizeof *r);
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* A line ended: check its code and whether it was the last one. */
static void
reply_line_end(struct probe_reply *r)
{
	unsigned char *h = r->head;

	if (r->hlen < 3 || !is_digit(h[0]) || !is_digit(h[1]) || !is_digit(h[2])) {
		r->bad = true;
		return;
	}
	int code = (h[0] - '0') * 100 + (h[1] - '0') * 10 + (h[2] - '0');
	if (r->code != 0 && code != r->code) {
		r->bad = true;
		return;
	}
	r->code = code;
	if (r->hlen < 4 || h[3] != '-')
		r->done = true;
	r->hlen = 0;
}

/* The masked-banner and masked-keyword marks, byte by byte. */
static void
reply_scan(struct probe_reply *r, unsigned char c)
{
	/* the '-' of "220-" is the reply's syntax, not its text */
	if ((c == '\0' || strchr("20 *\t\r\n", c) == NULL) && !(c == '-' && r->lpos == 3))
		r->other_char = true;
	if (c == '*')
		r->star = true;
	if (c == '\n') {
		if (r->line > 0 && r->kw_len > 0 && r->kw_x)
			r->masked_kw++;
		r->line++;
		r->lpos = r->kw_len = 0;
		return;
	}
	if (r->lpos >= 4 && r->kw_len == r->lpos - 4 && c != ' ' && c != '\r') {
		r->kw_x = (r->kw_len == 0 || r->kw_x) && c == 'X';
		r->kw_len++;
	}
	r->lpos++;
}

bool
probe_reply_masked(const struct probe_reply *r)
{
	return r->star && !r->other_char;
}

size_t
probe_reply_feed(struct probe_reply *r, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && !r->done && !r->bad) {
		unsigned char c = (unsigned char)p[i++];
		reply_scan(r, c);
		if (c == '\n')
			reply_line_end(r);
		else if (r->hlen < sizeof r->head && !(c == '\r' && r->hlen >= 3))
			r->head[r->hlen++] = c;
	}
	return i;
}

int
probe_retry_parse(const char *list, struct probe_retry *out)
{
	char buf[256];
	size_t len = strlen(list);

	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, list, len + 1);
	out->n_after = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (out->n_after == PROBE_RETRY_MAX)
			return -1;
		if (units_parse_duration(tok, &out->after_us[out->n_after]) != 0)
			return -1;
		out->n_after++;
	}
	/* strtok_r skips empty fields: ",," or a trailing comma is a typo. */
	if (out->n_after == 0 || list[len - 1] == ',' || list[0] == ',' || strstr(list, ",,"))
		return -1;
	return 0;
}

uint64_t
probe_retry_wait(const struct probe_retry *r, unsigned retry_index)
{
	if (r->n_after == 0)
		return 0;
	if (retry_index >= r->n_after)
		retry_index = r->n_after - 1;
	return r->after_us[retry_index];
}

#define SEC(n) ((uint64_t)(n) * 1000000u)

/* Keep in step with the PROFILES section of man/smtpprobe.1. Retry waits
 * are the sender's real schedule (hours for most): override them with
 * --retry-after to run a lab scenario in minutes. */
static const struct probe_profile profiles[] = {
	{ "rfc5321", SEC(300), 3, "30m",
	  "RFC 5321 4.5.3.2.1 (initial 220: 5 minutes), 4.5.4.1 (retry at least 30 minutes)" },
	{ "rfc1123", SEC(300), 3, "30m",
	  "RFC 1123 5.3.2 (initial 220: 5 minutes), 5.3.1.1 (retry at least 30 minutes)" },
	{ "sendmail", SEC(300), 3, "30m",
	  "sendmail Timeout.initial=5m (cf/m4/proto.m4, readcf.c); retries at the queue-run interval, "
	  "set by -q on the daemon command line (30m is the usual choice, not a built-in default)" },
	{ "exim", SEC(300), 3, "15m",
	  "Exim smtp transport command_timeout=5m, used for the banner (spec.xfpt); "
	  "default retry rule F,2h,15m (configure.default)" },
	{ "postfix", SEC(300), 3, "300s,600s,1200s",
	  "Postfix smtp_helo_timeout=300s covers the initial greeting (postconf.proto); "
	  "minimal_backoff_time=300s doubling up to maximal_backoff_time=4000s" },
	{ "qmail", SEC(1200), 3, "400s,1200s,2000s",
	  "qmail-remote control/timeoutremote=1200 (qmail-remote.c, qmail-control.9); "
	  "qmail-send nextretry(): remote chanskip 20, tries at birth+400s, +1600s, +3600s" },
	{ "exchange2003", SEC(600), 4, "15m,30m,60m,240m",
	  "Exchange 2000/2003 SMTP virtual server outbound time-out 10 min; "
	  "retries after 15, 30, 60 minutes then every 240 (admin help)" },
	{ "kumomta", SEC(60), 3, "1m",
	  "KumoMTA banner_timeout=60s (docs.kumomta.com make_egress_path); retry wait: lab choice" },
	{ "impatient-60", SEC(60), 2, "1m",
	  "a 60 s threshold (KumoMTA banner_timeout); retries: lab choice" },
	{ "impatient-30", SEC(30), 2, "30s",
	  "a 30 s threshold (Microsoft CDO smtpconnectiontimeout, swaks --timeout); retries: lab choice" },
	{ "impatient-10", SEC(10), 2, "10s",
	  "a 10 s threshold (smtpsmug --timeout); retries: lab choice" },
	{ "impatient-5", SEC(5), 2, "5s",
	  "a 5 s threshold (Symfony Mailer socket timeout as reported in mailpit #230); retries: lab choice" },
};

const struct probe_profile *
probe_profile_at(size_t i)
{
	return i < sizeof profiles / sizeof profiles[0] ? &profiles[i] : NULL;
}

const struct probe_profile *
probe_profile_find(const char *name)
{
	for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
		if (strcmp(profiles[i].name, name) == 0)
			return &profiles[i];
	return NULL;
}
