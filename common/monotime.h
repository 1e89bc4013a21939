#ifndef BANNERLAB_MONOTIME_H
#define BANNERLAB_MONOTIME_H
/* Monotonic time in microseconds. Every duration in bannerlab is a
 * uint64_t of microseconds taken from CLOCK_MONOTONIC, so stage timings
 * can be subtracted without caring about wall-clock jumps. */
#include <stdint.h>
#include <sys/time.h>

uint64_t monotime_now_us(void);
/* Wall-clock time in microseconds since the epoch, for log timestamps only. */
uint64_t walltime_now_us(void);

/* A duration in microseconds as the struct timeval libevent wants. */
struct timeval monotime_timeval(uint64_t us);

#endif
