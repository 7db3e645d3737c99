/*
 * Helpers shared by the tests that drive real sockets: a monotonic clock
 * in milliseconds, and one turn of an event loop over several sockets
 * (poll on every smart_fd() for at most the shortest smart_timeout(), then
 * smart_process() each), as an application's loop would.
 */
#ifndef SMART_TESTS_LOOP_H
#define SMART_TESTS_LOOP_H

#include <check.h>
#include <poll.h>
#include <stdint.h>
#include <time.h>

#include <smart/smart.h>

static inline uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void turn(smart_sock **v, int n, int max_ms) {
  struct pollfd p[16];
  int t = max_ms;
  ck_assert_int_le(n, 16);
  for (int i = 0; i < n; i++) {
    p[i].fd = smart_fd(v[i]);
    p[i].events = POLLIN;
    ck_assert_int_ge(p[i].fd, 0);
    int32_t ti = smart_timeout(v[i]);
    if (ti >= 0 && ti < t)
      t = ti;
  }
  ck_assert_int_ge(poll(p, (nfds_t)n, t), 0);
  for (int i = 0; i < n; i++)
    ck_assert_int_eq(smart_process(v[i], 0), 0);
}

#endif
