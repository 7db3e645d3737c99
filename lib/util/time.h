/*
 * Time units. Every time in the library is a monotonic uint64_t count of
 * nanoseconds, passed in by the caller (the socket shell reads the clock;
 * nothing below it does). No raw nanosecond literals elsewhere: write
 * SMART__MS(20), not 20000000u.
 */
#ifndef SMART_UTIL_TIME_H
#define SMART_UTIL_TIME_H

#include <stdint.h>

#define SMART__NS_PER_US UINT64_C(1000)
#define SMART__NS_PER_MS UINT64_C(1000000)
#define SMART__NS_PER_S UINT64_C(1000000000)

#define SMART__US(n) ((uint64_t)(n) * SMART__NS_PER_US)
#define SMART__MS(n) ((uint64_t)(n) * SMART__NS_PER_MS)
#define SMART__SEC(n) ((uint64_t)(n) * SMART__NS_PER_S)

/* "No deadline". */
#define SMART__NEVER UINT64_MAX

/* The earlier of two deadlines. */
static inline uint64_t smart__min_deadline(uint64_t a, uint64_t b) { return a < b ? a : b; }

#endif
