#ifndef BANNERLAB_UNITS_H
#define BANNERLAB_UNITS_H
/* Parsing and printing of durations and sizes, shared by the daemon's
 * configuration and the tools' command lines. Pure functions. */
#include <stddef.h>
#include <stdint.h>

/* "250ms", "3s", "1m", "15us", "1.5s"; a bare number is seconds.
 * Returns 0 and stores microseconds, or -1 on bad syntax or overflow. */
int units_parse_duration(const char *text, uint64_t *out_us);

/* "512", "10M", "64k" (k = 1024, M = 1024*1024, G too).
 * Returns 0 and stores bytes, or -1 on bad syntax or overflow. */
int units_parse_size(const char *text, uint64_t *out_bytes);

/* A short human form: "12us", "300.4ms", "4.100s". Always NUL-terminated. */
void units_format_duration(uint64_t us, char *buf, size_t len);

#endif
