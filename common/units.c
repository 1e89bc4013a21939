#include "units.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Parses "<digits>[.<digits>]" and leaves *end at the first other byte.
 * The value is kept as an integer part and a fraction scaled to 1e6,
 * so "1.5" with unit seconds is exact in microseconds. */
static int
parse_decimal(const char *s, uint64_t *whole, uint64_t *frac_e6, const char **end)
{
	uint64_t w = 0, f = 0, scale = 100000;
	int digits = 0;

	while (isdigit((unsigned char)*s)) {
		if (w > (UINT64_MAX - 9) / 10)
			return -1;
		w = w * 10 + (uint64_t)(*s++ - '0');
		digits++;
	}
	if (*s == '.') {
		s++;
		while (isdigit((unsigned char)*s)) {
			f += (uint64_t)(*s++ - '0') * scale;
			scale /= 10;
			digits++;
		}
	}
	if (digits == 0)
		return -1;
	*whole = w;
	*frac_e6 = f;
	*end = s;
	return 0;
}

static int
scale_value(uint64_t whole, uint64_t frac_e6, uint64_t mult, uint64_t *out)
{
	if (mult != 0 && whole > UINT64_MAX / mult)
		return -1;
	uint64_t v = whole * mult;
	/* frac_e6 < 1e6 and every unit is below 2^32, so this cannot overflow */
	uint64_t f = frac_e6 * mult / 1000000;
	if (v > UINT64_MAX - f)
		return -1;
	*out = v + f;
	return 0;
}

static const char *
skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

struct unit {
	const char *suffix;
	uint64_t mult;
};

/* "<decimal><spaces><suffix>" with the suffix from table; a fraction is
 * refused where one unit is 1 (bytes, microseconds). */
static int
parse_with_units(const char *text, const struct unit *table, size_t n_units, uint64_t *out)
{
	uint64_t whole, frac;
	const char *end;

	if (parse_decimal(skip_space(text), &whole, &frac, &end) != 0)
		return -1;
	end = skip_space(end);
	for (size_t i = 0; i < n_units; i++) {
		size_t n = strlen(table[i].suffix);
		if (strncmp(end, table[i].suffix, n) != 0 || *skip_space(end + n) != '\0')
			continue;
		if (frac != 0 && table[i].mult == 1)
			return -1;	/* "1.5" bytes is not a size */
		return scale_value(whole, frac, table[i].mult, out);
	}
	return -1;
}

/* A bare number: digits, maybe a fraction, blanks around, nothing else. */
static int
is_bare_number(const char *text, uint64_t *whole, uint64_t *frac)
{
	const char *end;

	return parse_decimal(skip_space(text), whole, frac, &end) == 0 && *skip_space(end) == '\0';
}

int
units_parse_duration(const char *text, uint64_t *out_us)
{
	/* "ms" before "m" and "s": the first suffix that matches wins. */
	static const struct unit table[] = {
		{ "us", 1 }, { "ms", 1000 }, { "s", 1000000 },
		{ "m", 60000000 }, { "h", 3600000000ULL },
	};
	uint64_t whole, frac;

	if (parse_with_units(text, table, sizeof table / sizeof table[0], out_us) == 0)
		return 0;
	if (!is_bare_number(text, &whole, &frac))
		return -1;
	/* "500" was read as seconds once, and people meant milliseconds:
	 * only zero means the same in every unit. */
	if (whole != 0 || frac != 0)
		return UNITS_NO_UNIT;
	*out_us = 0;
	return 0;
}

void
units_duration_problem(const char *text, char *buf, size_t len)
{
	uint64_t whole, frac;
	const char *s = skip_space(text);
	int n = (int)strlen(s);

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (is_bare_number(text, &whole, &frac))
		snprintf(buf, len, "\"%.*s\" needs a unit (us, ms, s, m, h): did you mean %.*sms or %.*ss?",
		    n, s, n, s, n, s);
	else
		snprintf(buf, len, "'%s' is not a duration (e.g. 250ms, 3s, 5m)", text);
}

int
units_parse_size(const char *text, uint64_t *out_bytes)
{
	static const struct unit table[] = {
		{ "", 1 }, { "k", 1024 }, { "K", 1024 }, { "M", 1048576 },
		{ "G", 1073741824ULL },
	};

	return parse_with_units(text, table, sizeof table / sizeof table[0], out_bytes);
}

void
units_format_duration(uint64_t us, char *buf, size_t len)
{
	if (us < 1000)
		snprintf(buf, len, "%lluus", (unsigned long long)us);
	else if (us < 1000000)
		snprintf(buf, len, "%.1fms", (double)us / 1000.0);
	else
		snprintf(buf, len, "%.3fs", (double)us / 1000000.0);
}
