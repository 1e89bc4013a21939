#ifndef BANNERD_LOG_H
#define BANNERD_LOG_H
/* The protocol log and the daemon's own messages: one key=value line (or
 * one JSON object) per event, written with a single write(2) so lines
 * from several worker threads never interleave. Targets: stderr, a file
 * (reopened on SIGHUP, for log rotation) or syslog. */
#include <stddef.h>
#include <stdint.h>

#define LOG_LINE_MAX 8192

/* Opens (or switches to) a target: "stderr", "syslog" or a file path.
 * format is LOGFMT_TEXT or LOGFMT_JSON. Returns 0, or -1 with err set. */
int log_open(const char *target, int format, char *err, size_t errlen);
/* Reopens the current file target (after rotation). */
void log_reopen(void);
void log_close(void);

struct log_line {
	char buf[LOG_LINE_MAX];
	size_t len;
	int json;
	int truncated;
};

void log_line_begin(struct log_line *l, const char *event);
void log_line_str(struct log_line *l, const char *key, const char *val);
/* Bytes that may be anything (NUL, CR, 8-bit): always escaped. */
void log_line_mem(struct log_line *l, const char *key, const void *p, size_t n);
void log_line_u64(struct log_line *l, const char *key, uint64_t v);
/* A duration: text "300.4ms" (or "-" when absent), JSON KEY_us or null. */
void log_line_dur(struct log_line *l, const char *key, uint64_t us, int present);
void log_line_end(struct log_line *l);

/* Daemon messages: event=daemon (or error) with msg="...". */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
