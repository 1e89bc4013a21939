#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "monotime.h"
#include "units.h"

enum target_kind { TARGET_STDERR, TARGET_FILE, TARGET_SYSLOG };

/* The logger is process-wide: every worker writes through it. The mutex
 * guards only the target switch and the write itself. */
static struct {
	pthread_mutex_t lock;
	enum target_kind kind;
	int fd;
	_Atomic int format;	/* read without the lock by log_line_begin */
	_Atomic int batchable;	/* not syslog: lines may be batched (log.h) */
	char path[4096];
} logger = { PTHREAD_MUTEX_INITIALIZER, TARGET_STDERR, 2, LOGFMT_TEXT, 1, "" };

int
log_open(const char *target, int format, char *err, size_t errlen)
{
	enum target_kind kind = TARGET_FILE;
	int fd = -1;

	if (strcmp(target, "stderr") == 0) {
		kind = TARGET_STDERR;
		fd = 2;
	} else if (strcmp(target, "syslog") == 0) {
		kind = TARGET_SYSLOG;
		openlog("bannerd", LOG_PID | LOG_NDELAY, LOG_MAIL);
	} else {
		fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0) {
			snprintf(err, errlen, "log.target: cannot open %s: %s", target, strerror(errno));
			return -1;
		}
	}
	pthread_mutex_lock(&logger.lock);
	if (logger.kind == TARGET_FILE && logger.fd > 2)
		close(logger.fd);
	logger.kind = kind;
	logger.fd = fd;
	logger.format = format;
	logger.batchable = kind != TARGET_SYSLOG;
	snprintf(logger.path, sizeof logger.path, "%s", target);
	pthread_mutex_unlock(&logger.lock);
	return 0;
}

void
log_reopen(void)
{
	int fd;

	pthread_mutex_lock(&logger.lock);
	if (logger.kind == TARGET_FILE) {
		fd = open(logger.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd >= 0) {
			close(logger.fd);
			logger.fd = fd;
		}
	}
	pthread_mutex_unlock(&logger.lock);
}

void
log_close(void)
{
	pthread_mutex_lock(&logger.lock);
	if (logger.kind == TARGET_FILE && logger.fd > 2)
		close(logger.fd);
	if (logger.kind == TARGET_SYSLOG)
		closelog();
	logger.kind = TARGET_STDERR;
	logger.fd = 2;
	logger.batchable = 1;
	pthread_mutex_unlock(&logger.lock);
}

static void
put(struct log_line *l, const char *s, size_t n)
{
	/* Leave room for the closing "}\n" of a JSON line. */
	if (l->len + n + 3 > sizeof l->buf) {
		l->truncated = 1;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
puts_(struct log_line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* Escapes for both formats: printable ASCII passes except quote and
 * backslash; everything else becomes \n, \r, \t or \xNN (JSON: \u00NN),
 * so no peer-controlled byte can forge a log line. */
static void
put_escaped(struct log_line *l, const unsigned char *p, size_t n)
{
	char tmp[8];

	for (size_t i = 0; i < n && !l->truncated; i++) {
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			put(l, tmp, 2);
		} else if (c == '\r')
			put(l, "\\r", 2);
		else if (c == '\n')
			put(l, "\\n", 2);
		else if (c == '\t')
			put(l, "\\t", 2);
		else if (c < 0x20 || c >= 0x7f) {
			snprintf(tmp, sizeof tmp, l->json ? "\\u%04x" : "\\x%02x", c);
			puts_(l, tmp);
		} else
			put(l, (const char *)&c, 1);
	}
}

static int
needs_quotes(const unsigned char *p, size_t n)
{
	if (n == 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (p[i] <= ' ' || p[i] >= 0x7f || p[i] == '"' || p[i] == '=' || p[i] == '\\')
			return 1;
	return 0;
}

static void
put_key(struct log_line *l, const char *key)
{
	if (l->json) {
		puts_(l, ",\"");
		puts_(l, key);
		puts_(l, "\":");
	} else {
		puts_(l, " ");
		puts_(l, key);
		puts_(l, "=");
	}
}

void
log_line_begin(struct log_line *l, const char *event)
{
	char ts[64];
	uint64_t now = walltime_now_us();
	time_t sec = (time_t)(now / 1000000);
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    (unsigned)(now % 1000000));
	l->len = 0;
	l->truncated = 0;
	l->json = atomic_load(&logger.format) == LOGFMT_JSON;
	if (l->json) {
		puts_(l, "{\"ts\":\"");
		puts_(l, ts);
		puts_(l, "\",\"event\":\"");
		puts_(l, event);
		puts_(l, "\"");
	} else {
		if (logger.kind != TARGET_SYSLOG) {
			puts_(l, ts);
			puts_(l, " ");
		}
		puts_(l, event);
	}
}

void
log_line_mem(struct log_line *l, const char *key, const void *p, size_t n)
{
	int quote = l->json || needs_quotes(p, n);

	put_key(l, key);
	if (quote)
		puts_(l, "\"");
	put_escaped(l, p, n);
	if (quote)
		puts_(l, "\"");
}

void
log_line_str(struct log_line *l, const char *key, const char *val)
{
	log_line_mem(l, key, val, strlen(val));
}

void
log_line_u64(struct log_line *l, const char *key, uint64_t v)
{
	char num[32];

	put_key(l, key);
	snprintf(num, sizeof num, "%llu", (unsigned long long)v);
	puts_(l, num);
}

void
log_line_dur(struct log_line *l, const char *key, uint64_t us, int present)
{
	char num[32], jkey[64];

	if (l->json) {
		snprintf(jkey, sizeof jkey, "%s_us", key);
		put_key(l, jkey);
		if (present)
			snprintf(num, sizeof num, "%llu", (unsigned long long)us);
		else
			snprintf(num, sizeof num, "null");
	} else {
		put_key(l, key);
		if (present)
			units_format_duration(us, num, sizeof num);
		else
			snprintf(num, sizeof num, "-");
	}
	puts_(l, num);
}

/* A thread's batch (log.h): lines kept in order until the thread's loop
 * has nothing else to do, then written with one write(2). */
static _Thread_local struct {
	int on;
	size_t len;
	void (*wake)(void *);
	void *arg;
	char *buf;	/* LOG_BATCH_MAX bytes, on the heap: thread-local storage
			 * is set up for every thread, resolver threads too */
} batch;

static void
write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t rc = write(logger.fd, p, n);

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return;		/* nowhere to report it: the log is the report */
		p += rc;
		n -= (size_t)rc;
	}
}

void
log_batch_flush(void)
{
	if (batch.len == 0)
		return;
	pthread_mutex_lock(&logger.lock);
	write_all(batch.buf, batch.len);
	pthread_mutex_unlock(&logger.lock);
	batch.len = 0;
}

void
log_batch_begin(void (*wake)(void *), void *arg)
{
	batch.buf = malloc(LOG_BATCH_MAX);
	batch.wake = wake;
	batch.arg = arg;
	batch.len = 0;
	batch.on = batch.buf != NULL;	/* without it, lines go out one by one */
}

void
log_batch_end(void)
{
	log_batch_flush();
	batch.on = 0;
	free(batch.buf);
	batch.buf = NULL;
}

/* Keeps a finished line; 0 when it must be written now instead (syslog
 * takes lines one by one). A line that does not fit after the kept ones
 * writes them first. */
static int
batch_add(const char *p, size_t n)
{
	if (atomic_load_explicit(&logger.batchable, memory_order_relaxed) == 0)
		return 0;
	if (batch.len + n > LOG_BATCH_MAX)
		log_batch_flush();
	if (batch.len == 0 && batch.wake != NULL)
		batch.wake(batch.arg);
	memcpy(batch.buf + batch.len, p, n);
	batch.len += n;
	return 1;
}

/* Daemon messages are rare and are what an operator waits for (a
 * storage error, a reload): they go out at once, after the thread's batch
 * so that the order holds. */
static void
line_end(struct log_line *l, int may_batch)
{
	if (l->truncated && !l->json)
		puts_(l, " truncated=1");
	l->len = l->len + 2 < sizeof l->buf ? l->len : sizeof l->buf - 3;
	if (l->json)
		l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	if (batch.on && may_batch && batch_add(l->buf, l->len))
		return;
	if (batch.on)
		log_batch_flush();
	pthread_mutex_lock(&logger.lock);
	if (logger.kind == TARGET_SYSLOG)
		syslog(LOG_INFO, "%.*s", (int)(l->len - 1), l->buf);
	else
		write_all(l->buf, l->len);
	pthread_mutex_unlock(&logger.lock);
}

void
log_line_end(struct log_line *l)
{
	line_end(l, 1);
}

static void
log_msg(const char *event, const char *fmt, va_list ap)
{
	struct log_line l;
	char msg[2048];

	vsnprintf(msg, sizeof msg, fmt, ap);
	log_line_begin(&l, event);
	log_line_str(&l, "msg", msg);
	line_end(&l, 0);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_msg("daemon", fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_msg("error", fmt, ap);
	va_end(ap);
}
