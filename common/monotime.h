#ifndef BANNERLAB_MONOTIME_H
#define BANNERLAB_MONOTIME_H
/* Monotonic time in microseconds. Every duration in bannerlab is a
 * uint64_t of microseconds taken from CLOCK_MONOTONIC, so stage timings
 * can be subtracted without caring about wall-clock jumps. */
#include <stdint.h>

uint64_t monotime_now_us(void);
/* Wall-clock time in microseconds since the epoch, for log timestamps only. */
uint64_t walltime_now_us(void);

#endif
