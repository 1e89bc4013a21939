#include "faults.h"

#include <stdio.h>
#include <string.h>

enum fault_kind { KIND_OUTCOME, KIND_MODIFIER };

static const struct fault_def {
	const char *name;
	unsigned flag;
	enum fault_kind kind;
	enum fault_outcome outcome;	/* KIND_OUTCOME only */
} fault_table[] = {
	{ "drop", FAULT_DROP, KIND_OUTCOME, OUTCOME_DROP },
	{ "servfail", FAULT_SERVFAIL, KIND_OUTCOME, OUTCOME_SERVFAIL },
	{ "nxdomain", FAULT_NXDOMAIN, KIND_OUTCOME, OUTCOME_NXDOMAIN },
	{ "refused", FAULT_REFUSED, KIND_OUTCOME, OUTCOME_REFUSED },
	{ "truncate", FAULT_TRUNCATE, KIND_MODIFIER, OUTCOME_ANSWER },
	{ "mismatch", FAULT_MISMATCH, KIND_MODIFIER, OUTCOME_ANSWER },
};
#define NFAULTS (sizeof fault_table / sizeof fault_table[0])

unsigned
faults_flag_by_name(const char *name)
{
	for (size_t i = 0; i < NFAULTS; i++)
		if (strcmp(fault_table[i].name, name) == 0)
			return fault_table[i].flag;
	return 0;
}

const char *
faults_flag_name(size_t i)
{
	return i < NFAULTS ? fault_table[i].name : NULL;
}

void
faults_config_init(struct fault_config *c)
{
	memset(c, 0, sizeof *c);
	c->rate = 1.0;
}

static enum fault_outcome
pick_outcome(unsigned flags, uint64_t draw)
{
	const struct fault_def *enabled[NFAULTS];
	size_t n = 0;

	for (size_t i = 0; i < NFAULTS; i++)
		if (fault_table[i].kind == KIND_OUTCOME && (flags & fault_table[i].flag))
			enabled[n++] = &fault_table[i];
	return n == 0 ? OUTCOME_ANSWER : enabled[draw % n]->outcome;
}

void
faults_pick(const struct fault_config *c, struct rng *r,
    struct fault_choice *out)
{
	/* Always three draws, used or not: see the header. */
	double u_rate = rng_unit(r);
	uint64_t u_outcome = rng_next(r);
	uint64_t u_jitter = rng_next(r);

	memset(out, 0, sizeof *out);
	out->outcome = OUTCOME_ANSWER;
	if (!(u_rate < c->rate))
		return;
	if (c->flags == 0 && c->delay_us == 0 && c->jitter_us == 0)
		return;		/* nothing to apply: not counted as faulted */
	out->faulted = 1;
	out->outcome = pick_outcome(c->flags, u_outcome);
	out->truncate = (c->flags & FAULT_TRUNCATE) != 0;
	out->mismatch = (c->flags & FAULT_MISMATCH) != 0;
	out->delay_us = c->delay_us;
	if (c->jitter_us > 0)
		out->delay_us += u_jitter % (c->jitter_us + 1);
}

static void
append(char *buf, size_t len, size_t *off, const char *word)
{
	int n = snprintf(buf + *off, len - *off, "%s%s", *off ? "+" : "", word);

	if (n > 0 && *off + (size_t)n < len)
		*off += (size_t)n;
}

void
faults_describe(const struct fault_choice *f, char *buf, size_t len)
{
	static const char *outcome_names[] = {
		[OUTCOME_ANSWER] = NULL, [OUTCOME_DROP] = "drop",
		[OUTCOME_SERVFAIL] = "servfail", [OUTCOME_NXDOMAIN] = "nxdomain",
		[OUTCOME_REFUSED] = "refused",
	};
	size_t off = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (f->faulted && outcome_names[f->outcome])
		append(buf, len, &off, outcome_names[f->outcome]);
	if (f->faulted && f->truncate)
		append(buf, len, &off, "truncate");
	if (f->faulted && f->mismatch)
		append(buf, len, &off, "mismatch");
	if (off == 0)
		snprintf(buf, len, "none");
}

void
faults_describe_config(const struct fault_config *c, char *buf, size_t len)
{
	size_t off = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < NFAULTS; i++)
		if (c->flags & fault_table[i].flag)
			append(buf, len, &off, fault_table[i].name);
	if (off == 0)
		snprintf(buf, len, "none");
}
