#ifndef BANNERLAB_SLOWDNS_FAULTS_H
#define BANNERLAB_SLOWDNS_FAULTS_H
/* The lab faults of slowdns, as a table tuned by command-line flags, and
 * the per-query choice among them. Pure: the random numbers come from a
 * small seeded generator owned by the caller, so a seed reproduces the
 * same sequence of faults for the same sequence of queries.
 *
 * A query is "faulted" with probability rate (1 unless --fault-rate). A
 * faulted query gets, all together:
 *   - the delay: delay_us plus a uniform 0..jitter_us;
 *   - one outcome among the enabled ones (drop, servfail, nxdomain,
 *     refused), chosen uniformly when several are enabled; none enabled
 *     means the normal answer;
 *   - every enabled modifier: truncate (TC bit, no records), mismatch
 *     (forward answers carry a documentation address, not the real one).
 * A query that is not faulted is answered at once and correctly. */
#include <stddef.h>
#include <stdint.h>

#include "rng.h"

enum fault_outcome {
	OUTCOME_ANSWER,
	OUTCOME_DROP,
	OUTCOME_SERVFAIL,
	OUTCOME_NXDOMAIN,
	OUTCOME_REFUSED
};

enum {
	FAULT_DROP = 1 << 0,
	FAULT_SERVFAIL = 1 << 1,
	FAULT_NXDOMAIN = 1 << 2,
	FAULT_REFUSED = 1 << 3,
	FAULT_TRUNCATE = 1 << 4,
	FAULT_MISMATCH = 1 << 5
};

struct fault_config {
	unsigned flags;		/* FAULT_* */
	double rate;		/* 0..1 */
	uint64_t delay_us;
	uint64_t jitter_us;
};

struct fault_choice {
	int faulted;
	enum fault_outcome outcome;
	int truncate;
	int mismatch;
	uint64_t delay_us;
};

/* The FAULT_* bit for a flag name ("drop", "servfail", ...), or 0. */
unsigned faults_flag_by_name(const char *name);
/* The flag names, in table order, for usage text; NULL-terminated. */
const char *faults_flag_name(size_t i);

void faults_config_init(struct fault_config *c);

/* Draws the same number of random values for every query, so the fault
 * of query k depends only on the seed and k. */
void faults_pick(const struct fault_config *c, struct rng *r,
    struct fault_choice *out);

/* "none", or the applied faults joined by '+': "servfail+truncate". */
void faults_describe(const struct fault_choice *f, char *buf, size_t len);
/* "drop+servfail" for the configured flags, or "none". */
void faults_describe_config(const struct fault_config *c, char *buf, size_t len);

#endif
