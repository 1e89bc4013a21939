#ifndef BANNERD_LOG_H
#define BANNERD_LOG_H
/* The protocol log and the daemon's own messages: one key=value line (or
 * one JSON object) per event, written whole (one write(2) a line, or a
 * worker's batch of lines at once) so lines from several worker threads
 * never interleave. Targets: stderr, a file
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

/* Batching, for a thread running an event loop (the workers): from
 * log_batch_begin on, the thread's finished lines are kept in order in a
 * buffer of LOG_BATCH_MAX bytes instead of being written one by one;
 * wake(arg) is called when the first line goes into an empty buffer, so
 * the loop can schedule log_batch_flush for when it has nothing else to
 * do (a burst of sessions then costs one write, not one a line). A full
 * buffer is written at once. log_batch_end flushes and stops batching.
 * Lines of different threads stay whole but may be written out of time
 * order; a crash loses what the buffers hold (at most LOG_BATCH_MAX bytes
 * a worker, the lines of its last loop turn). syslog is never batched,
 * nor are the daemon's messages (log_info, log_error): they are written at
 * once, after the thread's batch. */
#define LOG_BATCH_MAX 65536
void log_batch_begin(void (*wake)(void *), void *arg);
void log_batch_flush(void);
void log_batch_end(void);

/* Daemon messages: event=daemon (or error) with msg="...". */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
