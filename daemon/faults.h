#ifndef BANNERD_FAULTS_H
#define BANNERD_FAULTS_H
/* Fault rules ([faults] in bannerd.conf): at a point of the dialogue, an
 * action (a delay, a chosen reply, a close, a 421, a stall) for the
 * clients and the times a selection picks. Pure: parsing a rule and
 * deciding what applies take text and numbers and return values; the
 * session applies the decision (session_fault.c). The only state is each
 * rule's hit counter, an atomic, so that every worker shares one sequence
 * per rule. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum fault_point {
	FP_CONNECT,	/* the greeting */
	FP_HELO, FP_EHLO, FP_MAIL, FP_RCPT, FP_DATA,
	FP_DOT,		/* the end of data: "." */
	FP_RSET, FP_NOOP, FP_QUIT,
	FP_COUNT
};

enum fault_action {
	FA_DELAY,	/* wait, then carry on (or do the next rule's action) */
	FA_REPLY,	/* a chosen 4xx/5xx instead of the normal answer */
	FA_CLOSE,	/* close without a reply */
	FA_421,		/* 421 and close */
	FA_STALL,	/* never answer; a session deadline ends it */
	FA_COUNT
};

enum fault_select {
	FS_ALWAYS,
	FS_EVERY,	/* the Nth, 2Nth, ... time the rule is reached */
	FS_CHANCE,	/* with a probability, from the seeded sequence */
	FS_FIRST,	/* a client's first time in faults.first_window (greylisting) */
};

/* Compile-time room; the limits in force are the faults.max_* keys. */
#define FAULTS_RULES_MAX	64
#define FAULT_REPLY_MAX		1025	/* faults.max_reply is at most 1024 */
#define FAULT_REPLY_LINE_MAX	506	/* RFC 5321 4.5.3.1.5: 512 with the code and CRLF */
#define FAULT_CLIENTS_MAX	16
#define FAULT_REPLY_LINES_MAX	16
#define FAULT_FIRST_MAX		4096	/* faults.first_table_size is at most this */

struct fault_net {
	int family;		/* AF_INET or AF_INET6 */
	unsigned bits;		/* prefix length */
	uint8_t addr[16];
};

struct fault_rule {
	enum fault_point point;
	enum fault_action action;
	uint64_t delay_us;		/* FA_DELAY */
	unsigned odds;			/* FA_DELAY: 1..99 smtp-sink odds, 0: fixed */
	int code;			/* FA_REPLY */
	char reply[FAULT_REPLY_MAX];	/* FA_REPLY: the text after the code; "\n" splits lines */
	enum fault_select select;
	uint64_t every;			/* FS_EVERY */
	double chance;			/* FS_CHANCE: 0..1 */
	size_t n_clients;		/* 0: every client */
	struct fault_net clients[FAULT_CLIENTS_MAX];
	_Atomic uint64_t hits;		/* times reached by a matching client */
};

/* The clients each "first" rule has seen: (rule, address, when it was
 * selected). Shared by the workers, behind a spin lock held for a scan;
 * when it is full the oldest entry goes, so a flood of new addresses
 * makes old clients "first" again, never the table grow. */
struct fault_seen {
	uint8_t addr[16];
	int family;
	uint32_t rule;
	uint64_t at_us;		/* 0: free */
};

struct fault_first_table {
	atomic_flag lock;
	struct fault_seen seen[FAULT_FIRST_MAX];
};

/* What faults_decide needs besides the rules. */
struct fault_env {
	uint64_t seed;
	uint64_t max_delay_us;
	uint64_t now_us;		/* monotonic, for "first" */
	uint64_t first_window_us;
	size_t first_size;		/* entries of first used, <= FAULT_FIRST_MAX */
	struct fault_first_table *first;
};

/* What the faults.max_* keys allow a rule. */
struct fault_limits {
	size_t max_reply;	/* bytes of reply text */
	uint64_t max_delay_us;
	size_t max_clients;
};

/* Parses "POINT ACTION [OPTION...]" into r (hits start at zero). Returns
 * 0, or -1 with one phrase in why saying what is wrong. */
int fault_rule_parse(const char *text, const struct fault_limits *lim, struct fault_rule *r,
    char *why, size_t whylen);

/* What applies at a point: the sum of the delays of the delay rules that
 * select, and the first other rule that selects (the rules after it are
 * not reached). rule and delay_rule are indexes into the rules, -1 for
 * none. */
struct fault_decision {
	uint64_t delay_us;
	int delay_rule;		/* the last delay rule that applied */
	int rule;		/* the terminal rule that applied */
};

/* Advances the hit counters of the rules reached. peer may be NULL (then
 * rules with clients= never match, and "first" never selects).
 * env->max_delay_us caps the total. */
void faults_decide(struct fault_rule *rules, size_t n, enum fault_point p, const struct fault_env *env,
    const struct sockaddr *peer, struct fault_decision *d);

/* For "first": 1 if peer has not been selected by rule index in the last
 * window (and records it now), 0 if it has. */
int fault_first_time(struct fault_first_table *t, size_t size, size_t index, const struct sockaddr *peer,
    uint64_t now_us, uint64_t window_us);

/* The pure heart of faults_decide, for the tests: whether rule number
 * index (0-based) selects at its hit number hit (1-based), and the delay
 * it asks for then. Both draw from the sequence of (seed, index, hit). */
int fault_selects(const struct fault_rule *r, size_t index, uint64_t seed, uint64_t hit);
uint64_t fault_delay(const struct fault_rule *r, size_t index, uint64_t seed, uint64_t hit,
    uint64_t max_delay_us);
int fault_client_matches(const struct fault_rule *r, const struct sockaddr *peer);

const char *fault_point_name(enum fault_point p);
const char *fault_action_name(enum fault_action a);

#endif
