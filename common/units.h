#ifndef BANNERLAB_UNITS_H
#define BANNERLAB_UNITS_H
/* Parsing and printing of durations and sizes, shared by the daemon's
 * configuration and the tools' command lines. Pure functions. */
#include <stddef.h>
#include <stdint.h>

/* "250ms", "3s", "1m", "15us", "1.5s": a number and its unit. A bare
 * number is refused unless it is zero ("0", "0.0"): "500" could mean
 * 500 ms or 500 s, and a lab must not guess.
 * Returns 0 and stores microseconds; UNITS_NO_UNIT for a non-zero number
 * without a unit; -1 on any other bad syntax or on overflow. */
#define UNITS_NO_UNIT (-2)
int units_parse_duration(const char *text, uint64_t *out_us);

/* Why units_parse_duration refused text, as one phrase for a message:
 * "\"500\" needs a unit (us, ms, s, m, h): did you mean 500ms or 500s?"
 * or "'soon' is not a duration (e.g. 250ms, 3s, 5m)". NUL-terminated. */
void units_duration_problem(const char *text, char *buf, size_t len);

/* "512", "10M", "64k" (k = 1024, M = 1024*1024, G too).
 * Returns 0 and stores bytes, or -1 on bad syntax or overflow. */
int units_parse_size(const char *text, uint64_t *out_bytes);

/* A short human form: "12us", "300.4ms", "4.100s". Always NUL-terminated. */
void units_format_duration(uint64_t us, char *buf, size_t len);

#endif
