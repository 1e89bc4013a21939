#include "expect.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"

static const struct {
	const char *text;
	enum probe_expect_op op;
} ops[] = {	/* two-character operators first */
	{ "<=", EXPECT_LE }, { ">=", EXPECT_GE }, { "==", EXPECT_EQ },
	{ "!=", EXPECT_NE }, { "<", EXPECT_LT }, { ">", EXPECT_GT }, { "=", EXPECT_EQ },
};

const char *
probe_expect_op_name(enum probe_expect_op op)
{
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (ops[i].op == op)
			return ops[i].text;
	return "?";
}

static bool
path_char(int c)
{
	return islower(c) || isdigit(c) || c == '_' || c == '.' || c == '-';
}

static const char *
skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* NUMBER [UNIT] */
static int
parse_value(const char *s, struct probe_expect *e, char *err, size_t errlen)
{
	char *end;

	if (!isdigit((unsigned char)*s) && *s != '.') {
		snprintf(err, errlen, "expected a number after the operator");
		return -1;
	}
	e->value = strtod(s, &end);
	const char *unit = skip_ws(end);
	if (*unit == '\0')
		return 0;
	uint64_t us;
	if (units_parse_duration(s, &us) != 0) {
		snprintf(err, errlen, "bad value '%s' (a number, or a duration like 200ms)", s);
		return -1;
	}
	e->value = (double)us;
	e->has_unit = true;
	return 0;
}

int
probe_expect_parse(const char *text, struct probe_expect *e, char *err, size_t errlen)
{
	const char *s = skip_ws(text);
	size_t n = 0;

	memset(e, 0, sizeof *e);
	snprintf(e->text, sizeof e->text, "%s", text);
	while (path_char((unsigned char)s[n]))
		n++;
	if (n == 0 || n >= sizeof e->path || s[0] == '.' || s[n - 1] == '.') {
		snprintf(err, errlen, "expected a figure name like banner.p99");
		return -1;
	}
	memcpy(e->path, s, n);
	s = skip_ws(s + n);
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		size_t k = strlen(ops[i].text);
		if (strncmp(s, ops[i].text, k) != 0)
			continue;
		e->op = ops[i].op;
		return parse_value(skip_ws(s + k), e, err, errlen);
	}
	snprintf(err, errlen, "expected one of <= < >= > == != after '%s'", e->path);
	return -1;
}

static bool
compare(double a, enum probe_expect_op op, double b)
{
	switch (op) {
	case EXPECT_LE: return a <= b;
	case EXPECT_LT: return a < b;
	case EXPECT_GE: return a >= b;
	case EXPECT_GT: return a > b;
	case EXPECT_EQ: return fabs(a - b) <= 1e-9 * fmax(1.0, fabs(b));
	case EXPECT_NE: return !(fabs(a - b) <= 1e-9 * fmax(1.0, fabs(b)));
	}
	return false;
}

int
probe_expect_eval(const struct probe_expect *e, const struct probe_metric *m,
    size_t n, double *actual, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(m[i].name, e->path) != 0)
			continue;
		if (e->has_unit && !m[i].duration) {
			snprintf(err, errlen, "'%s' is not a duration: give a bare number", e->path);
			return -1;
		}
		*actual = m[i].value;
		return compare(m[i].value, e->op, e->value) ? 1 : 0;
	}
	snprintf(err, errlen, "unknown figure '%s' (see JSON OUTPUT in smtpprobe(1))", e->path);
	return -1;
}
