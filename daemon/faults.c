/* Fault rules: the parser of "POINT ACTION [OPTION...]" and the decision
 * of what applies at a point. No I/O (see faults.h). */
#include "faults.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errfmt.h"
#include "rng.h"
#include "units.h"

static const char *const point_names[FP_COUNT] = {
	"connect", "helo", "ehlo", "mail", "rcpt", "data", ".", "rset", "noop", "quit",
};

static const char *const action_names[FA_COUNT] = {
	"delay", "reply", "close", "421", "stall",
};

const char *
fault_point_name(enum fault_point p)
{
	return p < FP_COUNT ? point_names[p] : "?";
}

const char *
fault_action_name(enum fault_action a)
{
	return a < FA_COUNT ? action_names[a] : "?";
}

/* ---- words ---- */

#define RULE_WORDS_MAX 16
#define RULE_TEXT_MAX 4096

/* Splits text at blanks into words; a double-quoted part ("...") keeps
 * its blanks and loses its quotes, \" and \\ inside it stand for " and \.
 * Other backslashes stay as they are (the "\n" of a multi-line reply). */
static int
split_words(char *buf, char **words, size_t *n, char *why, size_t whylen)
{
	char *in = buf, *out = buf;

	*n = 0;
	while (*in != '\0') {
		while (*in == ' ' || *in == '\t')
			in++;
		if (*in == '\0')
			break;
		if (*n == RULE_WORDS_MAX)
			return errfmt(why, whylen, "more than %d words", RULE_WORDS_MAX);
		words[(*n)++] = out;
		while (*in != '\0' && *in != ' ' && *in != '\t') {
			if (*in != '"') {
				*out++ = *in++;
				continue;
			}
			for (in++; *in != '"'; in++) {
				if (*in == '\0')
					return errfmt(why, whylen, "a quote (\") is not closed");
				if (*in == '\\' && (in[1] == '"' || in[1] == '\\'))
					in++;
				*out++ = *in;
			}
			in++;
		}
		/* out never passes in: the word ends where a blank was */
		if (*in != '\0')
			in++;
		*out++ = '\0';
	}
	return 0;
}

/* ---- values ---- */

static int
parse_percent(const char *v, double lo, double hi, int whole, double *out)
{
	char *end;
	double d;

	if (!isdigit((unsigned char)*v))
		return -1;
	d = strtod(v, &end);
	if (*end == '%')
		end++;
	if (*end != '\0' || d < lo || d > hi || (whole && d != (double)(unsigned)d))
		return -1;
	*out = d;
	return 0;
}

static int
parse_net(const char *text, struct fault_net *net)
{
	char host[64];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);
	unsigned max;
	char *end;

	if (len == 0 || len >= sizeof host)
		return -1;
	memcpy(host, text, len);
	host[len] = '\0';
	memset(net, 0, sizeof *net);
	if (inet_pton(AF_INET, host, net->addr) == 1)
		net->family = AF_INET, max = 32;
	else if (inet_pton(AF_INET6, host, net->addr) == 1)
		net->family = AF_INET6, max = 128;
	else
		return -1;
	net->bits = max;
	if (slash != NULL) {
		if (!isdigit((unsigned char)slash[1]))
			return -1;
		unsigned long b = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || b > max)
			return -1;
		net->bits = (unsigned)b;
	}
	return 0;
}

static int
parse_clients(const char *v, const struct fault_limits *lim, struct fault_rule *r, char *why,
    size_t whylen)
{
	char copy[RULE_TEXT_MAX], *save = NULL, *item;

	snprintf(copy, sizeof copy, "%s", v);
	for (item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		if (r->n_clients == lim->max_clients || r->n_clients == FAULT_CLIENTS_MAX)
			return errfmt(why, whylen, "clients: more than faults.max_clients (%zu) addresses",
			    lim->max_clients);
		if (parse_net(item, &r->clients[r->n_clients]) != 0)
			return errfmt(why, whylen, "clients: '%s' is not an address or ADDRESS/PREFIX", item);
		r->n_clients++;
	}
	if (r->n_clients == 0)
		return errfmt(why, whylen, "clients: at least one address is needed");
	return 0;
}

/* "451 4.7.1 Greylisted, try again later": a 4xx or 5xx code (RFC 5321
 * 4.2: first digit 4 or 5, second 0-5), a blank, printable text; a
 * backslash and an n between lines of a multi-line reply. */
static int
parse_reply(const char *v, const struct fault_limits *lim, struct fault_rule *r, char *why,
    size_t whylen)
{
	size_t lines = 1, len;

	if (!((v[0] == '4' || v[0] == '5') && v[1] >= '0' && v[1] <= '5' && isdigit((unsigned char)v[2]) &&
	    v[3] == ' ' && v[4] != '\0'))
		return errfmt(why, whylen, "reply: '%s' is not \"CODE TEXT\" with a 4xx or 5xx CODE", v);
	r->code = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
	v += 4;
	len = strlen(v);
	if (len > lim->max_reply || len >= FAULT_REPLY_MAX)
		return errfmt(why, whylen, "reply: text of %zu bytes is longer than faults.max_reply (%zu)",
		    len, lim->max_reply);
	for (const char *p = v, *line = v; ; p++) {
		int end = *p == '\0' || (p[0] == '\\' && p[1] == 'n');

		if (end && p - line > FAULT_REPLY_LINE_MAX)
			return errfmt(why, whylen, "reply: a line is longer than %d bytes", FAULT_REPLY_LINE_MAX);
		if (end && p == line)
			return errfmt(why, whylen, "reply: a line is empty");
		if (*p == '\0')
			break;
		if ((unsigned char)*p < ' ' || (unsigned char)*p > '~')
			return errfmt(why, whylen, "reply: text holds a byte that is not printable ASCII");
		if (end) {
			if (++lines > FAULT_REPLY_LINES_MAX)
				return errfmt(why, whylen, "reply: more than %d lines", FAULT_REPLY_LINES_MAX);
			line = ++p + 1;
		}
	}
	memcpy(r->reply, v, len + 1);
	return 0;
}

/* ---- the rule ---- */

static int
parse_point(const char *w, struct fault_rule *r, char *why, size_t whylen)
{
	for (int i = 0; i < FP_COUNT; i++)
		if (strcasecmp(w, point_names[i]) == 0) {
			r->point = (enum fault_point)i;
			return 0;
		}
	if (strcasecmp(w, "dot") == 0) {
		r->point = FP_DOT;
		return 0;
	}
	return errfmt(why, whylen, "'%s' is not a point (connect|helo|ehlo|mail|rcpt|data|.|rset|noop|quit)", w);
}

static int
parse_action(const char *w, const struct fault_limits *lim, struct fault_rule *r, char *why,
    size_t whylen)
{
	char problem[128];

	if (strncasecmp(w, "delay=", 6) == 0) {
		r->action = FA_DELAY;
		if (units_parse_duration(w + 6, &r->delay_us) != 0) {
			units_duration_problem(w + 6, problem, sizeof problem);
			return errfmt(why, whylen, "delay: %s", problem);
		}
		if (r->delay_us > lim->max_delay_us)
			return errfmt(why, whylen, "delay: '%s' is longer than faults.max_delay (%llu us)",
			    w + 6, (unsigned long long)lim->max_delay_us);
		return 0;
	}
	if (strncasecmp(w, "reply=", 6) == 0) {
		r->action = FA_REPLY;
		return parse_reply(w + 6, lim, r, why, whylen);
	}
	for (int a = FA_CLOSE; a < FA_COUNT; a++)
		if (strcasecmp(w, action_names[a]) == 0) {
			r->action = (enum fault_action)a;
			return 0;
		}
	return errfmt(why, whylen, "'%s' is not an action (delay=DUR|reply=\"CODE TEXT\"|close|421|stall)", w);
}

static int
parse_option(const char *w, const struct fault_limits *lim, struct fault_rule *r, char *why,
    size_t whylen)
{
	const char *eq = strchr(w, '=');
	const char *v = eq ? eq + 1 : "";
	double d;

	if (strncasecmp(w, "odds=", 5) == 0) {
		if (r->action != FA_DELAY)
			return errfmt(why, whylen, "odds: only a delay has odds");
		if (r->odds != 0 || parse_percent(v, 1, 99, 1, &d) != 0)
			return errfmt(why, whylen, "odds: '%s' is not a whole percentage 1..99%% (once)", v);
		r->odds = (unsigned)d;
		return 0;
	}
	if (strcasecmp(w, "first") == 0) {
		if (r->select != FS_ALWAYS)
			return errfmt(why, whylen, "first: only one of every=, chance= and first per rule");
		r->select = FS_FIRST;
		return 0;
	}
	if (strncasecmp(w, "every=", 6) == 0 || strncasecmp(w, "chance=", 7) == 0) {
		int every = tolower((unsigned char)w[0]) == 'e';

		if (r->select != FS_ALWAYS)
			return errfmt(why, whylen, "%s: only one of every=, chance= and first per rule",
			    every ? "every" : "chance");
		if (every) {
			char *end;
			r->every = isdigit((unsigned char)*v) ? strtoull(v, &end, 10) : 0;
			if (r->every < 1 || r->every > 1000000000 || *end != '\0')
				return errfmt(why, whylen, "every: '%s' is not a whole number 1..1000000000", v);
			r->select = FS_EVERY;
			return 0;
		}
		if (parse_percent(v, 0, 100, 0, &d) != 0)
			return errfmt(why, whylen, "chance: '%s' is not a percentage 0..100%% (e.g. 2.5%%)", v);
		r->chance = d / 100;
		r->select = FS_CHANCE;
		return 0;
	}
	if (strncasecmp(w, "clients=", 8) == 0) {
		if (r->n_clients != 0)
			return errfmt(why, whylen, "clients: given twice");
		return parse_clients(v, lim, r, why, whylen);
	}
	return errfmt(why, whylen, "'%s' is not an option (odds=P%%|every=N|chance=P%%|first|clients=LIST)", w);
}

int
fault_rule_parse(const char *text, const struct fault_limits *lim, struct fault_rule *r,
    char *why, size_t whylen)
{
	char buf[RULE_TEXT_MAX], *words[RULE_WORDS_MAX];
	size_t n;

	memset(r, 0, sizeof *r);
	if (strlen(text) >= sizeof buf)
		return errfmt(why, whylen, "rule is longer than %d bytes", RULE_TEXT_MAX - 1);
	memcpy(buf, text, strlen(text) + 1);
	if (split_words(buf, words, &n, why, whylen) != 0)
		return -1;
	if (n < 2)
		return errfmt(why, whylen, "expected POINT ACTION [OPTION...], e.g. rcpt reply=\"451 4.7.1 Try later\"");
	if (parse_point(words[0], r, why, whylen) != 0 || parse_action(words[1], lim, r, why, whylen) != 0)
		return -1;
	for (size_t i = 2; i < n; i++)
		if (parse_option(words[i], lim, r, why, whylen) != 0)
			return -1;
	return 0;
}

/* ---- the decision ---- */

/* The generator for one (seed, rule, hit): the same three give the same
 * draws on any worker, whatever else the server did in between. */
static void
draw_seed(struct rng *g, uint64_t seed, size_t index, uint64_t hit)
{
	rng_seed(g, seed ^ ((uint64_t)(index + 1) * 0xd1b54a32d192ed03ULL));
	rng_seed(g, rng_next(g) ^ (hit * 0x9e3779b97f4a7c15ULL));
	(void)rng_next(g);
}

int
fault_selects(const struct fault_rule *r, size_t index, uint64_t seed, uint64_t hit)
{
	struct rng g;

	switch (r->select) {
	case FS_EVERY:
		return hit % r->every == 0;
	case FS_CHANCE:
		draw_seed(&g, seed, index, hit);
		return rng_unit(&g) < r->chance;
	default:
		return 1;
	}
}

/* smtp-sink's -W command:delay:odds: roll a hundred-sided die and wait
 * one more delay while it comes up under the odds, so 0, 1, 2... delays
 * with a geometric long tail. The rolls come after the selection's draw. */
uint64_t
fault_delay(const struct fault_rule *r, size_t index, uint64_t seed, uint64_t hit,
    uint64_t max_delay_us)
{
	uint64_t total = 0;
	struct rng g;

	if (r->odds == 0)
		return r->delay_us < max_delay_us ? r->delay_us : max_delay_us;
	draw_seed(&g, seed, index, hit);
	(void)rng_next(&g);	/* the selection's */
	while (rng_next(&g) % 100 < r->odds) {
		if (total + r->delay_us >= max_delay_us || r->delay_us == 0)
			return r->delay_us == 0 ? 0 : max_delay_us;
		total += r->delay_us;
	}
	return total;
}

static int
net_contains(const struct fault_net *n, const uint8_t *addr)
{
	unsigned full = n->bits / 8, rest = n->bits % 8;

	if (memcmp(n->addr, addr, full) != 0)
		return 0;
	return rest == 0 || ((n->addr[full] ^ addr[full]) & (0xff00 >> rest) & 0xff) == 0;
}

/* The address bytes of peer and their family, an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) as the IPv4 one; NULL for another family. */
static const uint8_t *
peer_bytes(const struct sockaddr *peer, int *family)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *a;

	if (peer == NULL)
		return NULL;
	if (peer->sa_family == AF_INET) {
		*family = AF_INET;
		return (const uint8_t *)&((const struct sockaddr_in *)(const void *)peer)->sin_addr;
	}
	if (peer->sa_family != AF_INET6)
		return NULL;
	a = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr;
	*family = AF_INET6;
	if (memcmp(a, mapped, sizeof mapped) == 0) {
		*family = AF_INET;
		a += 12;
	}
	return a;
}

int
fault_first_time(struct fault_first_table *t, size_t size, size_t index, const struct sockaddr *peer,
    uint64_t now_us, uint64_t window_us)
{
	int family, first = 1;
	const uint8_t *a = peer_bytes(peer, &family);
	size_t len, victim = 0;

	if (a == NULL || t == NULL || size == 0)
		return 0;
	len = family == AF_INET ? 4 : 16;
	if (size > FAULT_FIRST_MAX)
		size = FAULT_FIRST_MAX;
	now_us = now_us ? now_us : 1;	/* 0 marks a free entry */
	while (atomic_flag_test_and_set_explicit(&t->lock, memory_order_acquire))
		;	/* held for one scan of the table only */
	for (size_t i = 0; i < size; i++) {
		struct fault_seen *e = &t->seen[i];

		if (e->at_us != 0 && e->rule == index && e->family == family && memcmp(e->addr, a, len) == 0) {
			if (now_us - e->at_us < window_us)
				first = 0;
			victim = i;
			break;
		}
		if (e->at_us < t->seen[victim].at_us)
			victim = i;	/* free (0) or the oldest */
	}
	if (first) {
		struct fault_seen *e = &t->seen[victim];

		memset(e->addr, 0, sizeof e->addr);
		memcpy(e->addr, a, len);
		e->family = family;
		e->rule = (uint32_t)index;
		e->at_us = now_us;
	}
	atomic_flag_clear_explicit(&t->lock, memory_order_release);
	return first;
}

int
fault_client_matches(const struct fault_rule *r, const struct sockaddr *peer)
{
	int family;
	const uint8_t *a;

	if (r->n_clients == 0)
		return 1;
	a = peer_bytes(peer, &family);
	if (a == NULL)
		return 0;
	for (size_t i = 0; i < r->n_clients; i++)
		if (r->clients[i].family == family && net_contains(&r->clients[i], a))
			return 1;
	return 0;
}

void
faults_decide(struct fault_rule *rules, size_t n, enum fault_point p, const struct fault_env *env,
    const struct sockaddr *peer, struct fault_decision *d)
{
	uint64_t seed = env->seed, max_delay_us = env->max_delay_us;

	d->delay_us = 0;
	d->delay_rule = d->rule = -1;
	for (size_t i = 0; i < n; i++) {
		struct fault_rule *r = &rules[i];
		uint64_t hit;

		if (r->point != p || !fault_client_matches(r, peer))
			continue;
		hit = atomic_fetch_add_explicit(&r->hits, 1, memory_order_relaxed) + 1;
		if (r->select == FS_FIRST ? !fault_first_time(env->first, env->first_size, i, peer, env->now_us,
		    env->first_window_us) : !fault_selects(r, i, seed, hit))
			continue;
		if (r->action != FA_DELAY) {
			d->rule = (int)i;
			return;
		}
		uint64_t wait = fault_delay(r, i, seed, hit, max_delay_us);
		if (wait == 0)
			continue;	/* the odds said no wait this time */
		d->delay_us += wait;
		if (d->delay_us > max_delay_us)
			d->delay_us = max_delay_us;
		d->delay_rule = (int)i;
	}
}
