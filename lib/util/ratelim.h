/*
 * One token bucket: `rate` units per second, at most `burst` units saved.
 * Units are whatever the caller counts (bytes, datagrams, requests). Tokens
 * are kept in unit-nanoseconds, so that refilling needs no division and no
 * rounding drift: a bucket earns exactly rate x elapsed, whatever the call
 * pattern. Embedded by value; no allocation, no clock (`now` is passed in).
 */
#ifndef SMART_UTIL_RATELIM_H
#define SMART_UTIL_RATELIM_H

#include <stdint.h>

struct smart__ratelim {
  uint64_t rate;   /* units per second; 0: no limit */
  uint64_t burst;  /* units */
  uint64_t tokens; /* unit-nanoseconds */
  uint64_t at;     /* last refill */
};

/* A full bucket at `now`. */
void smart__ratelim_init(struct smart__ratelim *r, uint64_t rate, uint64_t burst, uint64_t now);
/* Take `n` units if the bucket holds them: 1 (taken) or 0 (refused,
 * nothing taken). Always 1 without a limit. */
int smart__ratelim_take(struct smart__ratelim *r, uint64_t n, uint64_t now);
/* The earliest time `n` units will be there (<= now: already). */
uint64_t smart__ratelim_when(const struct smart__ratelim *r, uint64_t n);
/* A new rate and burst from `now` on, keeping what was earned so far (a
 * bucket that had no limit starts full). */
void smart__ratelim_set(struct smart__ratelim *r, uint64_t rate, uint64_t burst, uint64_t now);

#endif
