/*
 * One pseudo-random generator for the whole library: xoshiro256** seeded
 * through splitmix64 (Blackman and Vigna). Deterministic and the same on
 * every C library, so a simulation with a fixed seed is bit-identical; not
 * for secrets (keys and nonces come from the crypto provider).
 */
#ifndef SMART_UTIL_RNG_H
#define SMART_UTIL_RNG_H

#include <stdint.h>

struct smart__rng {
  uint64_t s[4];
};

void smart__rng_seed(struct smart__rng *r, uint64_t seed);
uint64_t smart__rng_next(struct smart__rng *r);
/* Uniform in [0, 1). */
double smart__rng_unit(struct smart__rng *r);
/* Uniform in [lo, hi); lo when hi <= lo. */
uint64_t smart__rng_between(struct smart__rng *r, uint64_t lo, uint64_t hi);

/* One step of splitmix64 over a single word of state: for seeding. */
uint64_t smart__splitmix64(uint64_t *state);

#endif
