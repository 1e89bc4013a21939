#ifndef BANNERLAB_ERRFMT_H
#define BANNERLAB_ERRFMT_H
/* An error message into the caller's buffer, returning -1, so that a
 * parser can say why and fail in one statement:
 *     return errfmt(why, whylen, "line %u: %s", line, what); */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline int __attribute__((format(printf, 3, 4)))
errfmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return -1;
}

#endif
