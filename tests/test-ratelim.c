/*
 * util/ratelim: the token bucket every rate limit in the library uses.
 * Burst, exact refill whatever the call pattern, when(), changing the rate,
 * no limit, and the largest rates and bursts without overflow.
 */
#include <check.h>

#include "util/ratelim.h"
#include "util/time.h"

#include "unit.h"

/* Take units one at a time until refused: how many the bucket held. */
static uint64_t drain(struct smart__ratelim *r, uint64_t now) {
  uint64_t n = 0;
  while (smart__ratelim_take(r, 1, now))
    n++;
  return n;
}

START_TEST(starts_full_and_holds_burst) {
  struct smart__ratelim r;
  smart__ratelim_init(&r, 100, 10, SMART__SEC(5));
  ck_assert_uint_eq(drain(&r, SMART__SEC(5)), 10);
  /* A refused take takes nothing. */
  ck_assert(!smart__ratelim_take(&r, 1, SMART__SEC(5)));
  /* However long it rests, it saves at most the burst. */
  ck_assert_uint_eq(drain(&r, SMART__SEC(3600)), 10);
  /* Several units at once, all or nothing. */
  smart__ratelim_init(&r, 100, 10, 0);
  ck_assert(smart__ratelim_take(&r, 7, 0));
  ck_assert(!smart__ratelim_take(&r, 4, 0));
  ck_assert(smart__ratelim_take(&r, 3, 0));
  ck_assert(!smart__ratelim_take(&r, 1, 0));
}
END_TEST

START_TEST(refills_at_the_rate) {
  struct smart__ratelim r;
  smart__ratelim_init(&r, 1000, 1000, 0); /* one unit per millisecond */
  ck_assert_uint_eq(drain(&r, 0), 1000);
  ck_assert(!smart__ratelim_take(&r, 1, SMART__MS(1) - 1));
  ck_assert(smart__ratelim_take(&r, 1, SMART__MS(1)));
  ck_assert_uint_eq(drain(&r, SMART__MS(250)), 249);
  /* Time that goes backwards earns nothing and loses nothing. */
  ck_assert_uint_eq(drain(&r, SMART__MS(100)), 0);
  ck_assert_uint_eq(drain(&r, SMART__MS(251)), 1);
}
END_TEST

START_TEST(no_drift_many_small_steps) {
  /* Rates that do not divide a second: what many small refills earn is
   * exactly what one refill over the same time earns. */
  static const uint64_t rates[] = {3, 7, 1000, 299993, UINT64_C(9999999967)};
  for (size_t k = 0; k < sizeof(rates) / sizeof(rates[0]); k++) {
    uint64_t burst = UINT64_C(1) << 20;
    struct smart__ratelim a, b;
    smart__ratelim_init(&a, rates[k], burst, 0);
    smart__ratelim_init(&b, rates[k], burst, 0);
    ck_assert(smart__ratelim_take(&a, burst, 0));
    ck_assert(smart__ratelim_take(&b, burst, 0));
    /* Stop before the bucket is full (1 MiB at 10 GB/s takes ~105 us). */
    uint64_t end = rates[k] > 1000000 ? SMART__US(100) : SMART__SEC(3);
    uint64_t t = 0, i = 0, span = end / 10000;
    while (t < end) {
      t += 1 + i++ * 7919 % span; /* uneven steps, some of 1 ns */
      if (t > end)
        t = end;
      ck_assert(smart__ratelim_take(&a, 0, t)); /* refills only */
    }
    ck_assert(smart__ratelim_take(&b, 0, end));
    ck_assert_uint_eq(a.tokens, b.tokens);
    ck_assert_uint_eq(smart__ratelim_when(&a, 1), smart__ratelim_when(&b, 1));
    /* Exactly rate x elapsed, in whole units. */
    uint64_t earned = rates[k] * end / SMART__NS_PER_S;
    ck_assert(smart__ratelim_take(&a, earned, end));
    ck_assert(!smart__ratelim_take(&a, 1, end));
  }
}
END_TEST

START_TEST(when_is_the_first_time_it_succeeds) {
  struct smart__ratelim r;
  smart__ratelim_init(&r, 3, 5, SMART__SEC(1));
  /* Already there: a time not after now. */
  ck_assert_uint_le(smart__ratelim_when(&r, 5), SMART__SEC(1));
  ck_assert(smart__ratelim_take(&r, 5, SMART__SEC(1)));
  uint64_t w = smart__ratelim_when(&r, 2);
  /* 2 units at 3 per second: 2/3 s, rounded up to the nanosecond. */
  ck_assert_uint_eq(w, SMART__SEC(1) + 666666667);
  struct smart__ratelim early = r;
  ck_assert(!smart__ratelim_take(&early, 2, w - 1));
  ck_assert(smart__ratelim_take(&r, 2, w));
  ck_assert(!smart__ratelim_take(&r, 1, w));
}
END_TEST

START_TEST(set_keeps_earned_tokens) {
  struct smart__ratelim r;
  smart__ratelim_init(&r, 1000, 100, 0);
  ck_assert(smart__ratelim_take(&r, 100, 0));
  /* 50 units earned at the old rate by 50 ms, kept across the change. */
  smart__ratelim_set(&r, 10, 100, SMART__MS(50));
  ck_assert(!smart__ratelim_take(&r, 51, SMART__MS(50)));
  ck_assert(smart__ratelim_take(&r, 50, SMART__MS(50)));
  /* From then on the new rate: 10 per second. */
  ck_assert(!smart__ratelim_take(&r, 1, SMART__MS(149)));
  ck_assert(smart__ratelim_take(&r, 1, SMART__MS(150)));
  /* A smaller burst cuts what was saved. */
  smart__ratelim_set(&r, 10, 100, SMART__SEC(100));
  smart__ratelim_set(&r, 10, 4, SMART__SEC(100));
  ck_assert_uint_eq(drain(&r, SMART__SEC(100)), 4);
  /* From no limit to a limit: a full bucket of the new burst. */
  smart__ratelim_set(&r, 0, 4, SMART__SEC(100));
  smart__ratelim_set(&r, 5, 8, SMART__SEC(100));
  ck_assert_uint_eq(drain(&r, SMART__SEC(100)), 8);
}
END_TEST

START_TEST(rate_zero_is_unlimited) {
  struct smart__ratelim r;
  smart__ratelim_init(&r, 0, 1, 0);
  for (int i = 0; i < 1000; i++)
    ck_assert(smart__ratelim_take(&r, UINT64_C(1) << 40, 0));
  ck_assert_uint_eq(smart__ratelim_when(&r, UINT64_C(1) << 40), 0);
  /* And back to a limit. */
  smart__ratelim_set(&r, 1, 1, 0);
  ck_assert(smart__ratelim_take(&r, 1, 0));
  ck_assert(!smart__ratelim_take(&r, 1, 0));
}
END_TEST

START_TEST(large_rates_and_bursts) {
  /* Up to 10 GB/s and a 1 MiB burst, over long idle times. */
  static const uint64_t rates[] = {1, 1000000, UINT64_C(1250000000), UINT64_C(10000000000)};
  const uint64_t burst = UINT64_C(1) << 20;
  for (size_t k = 0; k < sizeof(rates) / sizeof(rates[0]); k++) {
    uint64_t rate = rates[k];
    struct smart__ratelim r;
    uint64_t t0 = SMART__SEC(86400);
    smart__ratelim_init(&r, rate, burst, t0);
    ck_assert(smart__ratelim_take(&r, burst, t0));
    ck_assert(!smart__ratelim_take(&r, 1, t0));
    /* The whole burst comes back after burst/rate seconds, rounded up. */
    uint64_t w = smart__ratelim_when(&r, burst);
    uint64_t need = burst * SMART__NS_PER_S;
    ck_assert_uint_eq(w, t0 + (need + rate - 1) / rate);
    struct smart__ratelim early = r;
    ck_assert(!smart__ratelim_take(&early, burst, w - 1));
    ck_assert(smart__ratelim_take(&r, burst, w));
    /* A very long rest fills it exactly, never beyond. */
    uint64_t far = UINT64_MAX - SMART__SEC(1);
    ck_assert(smart__ratelim_take(&r, burst, far));
    ck_assert(!smart__ratelim_take(&r, 1, far));
    ck_assert(smart__ratelim_take(&r, 0, UINT64_MAX));
    ck_assert_uint_le(r.tokens, need);
  }
}
END_TEST

static void add_tests(TCase *t) {
  tcase_add_test(t, starts_full_and_holds_burst);
  tcase_add_test(t, refills_at_the_rate);
  tcase_add_test(t, no_drift_many_small_steps);
  tcase_add_test(t, when_is_the_first_time_it_succeeds);
  tcase_add_test(t, set_keeps_earned_tokens);
  tcase_add_test(t, rate_zero_is_unlimited);
  tcase_add_test(t, large_rates_and_bursts);
}

int main(void) { return unit_main("ratelim", add_tests); }
