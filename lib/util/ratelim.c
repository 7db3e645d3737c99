/* A token bucket. See ratelim.h. */
#include "util/ratelim.h"

#include "util/time.h"

static void refill(struct smart__ratelim *r, uint64_t now) {
  uint64_t full = r->burst * SMART__NS_PER_S;
  if (now <= r->at)
    return;
  uint64_t dt = now - r->at;
  r->at = now;
  if (dt >= full / r->rate + 1 || r->tokens + dt * r->rate >= full)
    r->tokens = full;
  else
    r->tokens += dt * r->rate;
}

void smart__ratelim_init(struct smart__ratelim *r, uint64_t rate, uint64_t burst, uint64_t now) {
  r->rate = rate;
  r->burst = burst;
  r->tokens = burst * SMART__NS_PER_S;
  r->at = now;
}

int smart__ratelim_take(struct smart__ratelim *r, uint64_t n, uint64_t now) {
  if (!r->rate)
    return 1;
  refill(r, now);
  uint64_t need = n * SMART__NS_PER_S;
  if (r->tokens < need)
    return 0;
  r->tokens -= need;
  return 1;
}

uint64_t smart__ratelim_when(const struct smart__ratelim *r, uint64_t n) {
  if (!r->rate)
    return 0;
  uint64_t need = n * SMART__NS_PER_S;
  if (r->tokens >= need)
    return r->at;
  return r->at + (need - r->tokens + r->rate - 1) / r->rate;
}

void smart__ratelim_set(struct smart__ratelim *r, uint64_t rate, uint64_t burst, uint64_t now) {
  if (r->rate)
    refill(r, now); /* what the old rate earned so far */
  else
    r->tokens = burst * SMART__NS_PER_S;
  r->at = now;
  r->rate = rate;
  r->burst = burst;
  if (r->tokens > burst * SMART__NS_PER_S)
    r->tokens = burst * SMART__NS_PER_S;
}
