#ifndef SMTPPROBE_EXPECT_H
#define SMTPPROBE_EXPECT_H
/* --expect 'banner.p99<=200ms': assertions on the run's figures that set
 * the exit code. Pure: parse text, evaluate against a table of named
 * figures (built by report.c from the same numbers --json prints).
 *
 * Grammar:  PATH OP NUMBER [UNIT]
 *   PATH   [a-z0-9_.]+ as in the JSON: rate, attempts, banner.p99, outcome.ndr
 *   OP     <= < >= > == !=   (= is taken as ==)
 *   UNIT   us ms s m h, only on durations; a bare number on a duration
 *          is microseconds, the unit of the JSON. */
#include <stdbool.h>
#include <stddef.h>

enum probe_expect_op { EXPECT_LE, EXPECT_LT, EXPECT_GE, EXPECT_GT, EXPECT_EQ, EXPECT_NE };

struct probe_metric {
	char name[32];
	double value;
	bool duration;		/* microseconds */
};

struct probe_expect {
	char text[128];
	char path[32];
	enum probe_expect_op op;
	double value;		/* microseconds when has_unit */
	bool has_unit;
};

/* Returns 0, or -1 with a reason in err. */
int probe_expect_parse(const char *text, struct probe_expect *e, char *err, size_t errlen);
const char *probe_expect_op_name(enum probe_expect_op op);
/* 1 if it holds, 0 if not, -1 if the path is unknown or a unit is given
 * for a figure that is not a duration (reason in err). */
int probe_expect_eval(const struct probe_expect *e, const struct probe_metric *m,
    size_t n, double *actual, char *err, size_t errlen);

#endif
