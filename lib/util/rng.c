/* The library's one PRNG. See rng.h. */
#include "util/rng.h"

uint64_t smart__splitmix64(uint64_t *x) {
  uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

void smart__rng_seed(struct smart__rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++)
    r->s[i] = smart__splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** */
uint64_t smart__rng_next(struct smart__rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double smart__rng_unit(struct smart__rng *r) {
  return (double)(smart__rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t smart__rng_between(struct smart__rng *r, uint64_t lo, uint64_t hi) {
  return hi > lo ? lo + smart__rng_next(r) % (hi - lo) : lo;
}
