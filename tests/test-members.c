/*
 * Membership, reports and moves over real loopback multicast: join, leave
 * and timeout events with a member list; error and problem reports reach the
 * sender, rate-limited; a sender moves its session to another group and its
 * receivers follow with no gap and no duplicate; a forged move is ignored.
 */
#include <arpa/inet.h>
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <smart/smart.h>

#include "loop.h"

static void group_name(char *buf, size_t len, int test, unsigned extra) {
  snprintf(buf, len, "239.255.%d.%u:%u", 80 + test, (unsigned)(getpid() % 250) + 1,
           22000u + (unsigned)(getpid() % 20000) + extra);
}

static smart_sock *mk_g(const char *group, uint32_t report_ms, uint32_t drop_ppm,
                        const uint8_t *key, uint32_t gsize) {
  smart_sock *s;
  ck_assert_int_eq(smart_open(&s, SMART_OPEN_NONBLOCK), 0);
  if (gsize)
    ck_assert_int_eq(smart_setopt(s, SMART_OPT_GSIZE, &gsize, 4), 0);
  uint32_t grtt = 2000, timeout = 700;
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_GRTT_US, &grtt, 4), 0);
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_REPORT_MS, &report_ms, 4), 0);
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_MEMBER_TIMEOUT_MS, &timeout, 4), 0);
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_DROP_PPM, &drop_ppm, 4), 0);
  if (key)
    ck_assert_int_eq(smart_setopt(s, SMART_OPT_GROUP_KEY, key, 32), 0);
  ck_assert_int_eq(smart_join(s, group, "127.0.0.1", NULL, 0), 0);
  return s;
}

static smart_sock *mk(const char *group, uint32_t report_ms, uint32_t drop_ppm,
                      const uint8_t *key) {
  return mk_g(group, report_ms, drop_ppm, key, 0);
}

static unsigned drain(smart_sock *r, unsigned *next, unsigned *lost) {
  char buf[256], exp[64];
  unsigned got = 0;
  for (;;) {
    struct smart_msginfo info = {.size = sizeof(info)};
    smart_ssize n = smart_recv(r, buf, sizeof(buf) - 1, &info, SMART_MSG_DONTWAIT);
    if (n == SMART_EAGAIN)
      return got;
    if (n == SMART_ELOST && lost) {
      (*lost)++;
      continue;
    }
    ck_assert_int_ge(n, 0);
    buf[n] = 0;
    if (next) {
      snprintf(exp, sizeof(exp), "msg %u", *next);
      ck_assert_str_eq(buf, exp);
      (*next)++;
    }
    got++;
  }
}

static void send_msgs(smart_sock *s, unsigned from, unsigned to) {
  char buf[64];
  for (unsigned i = from; i < to; i++) {
    int n = snprintf(buf, sizeof(buf), "msg %u", i);
    smart_ssize r;
    while ((r = smart_send(s, buf, (size_t)n, 0)) == SMART_EAGAIN)
      smart_process(s, 0);
    ck_assert_int_eq(r, n);
  }
}

START_TEST(join_leave_timeout) {
  char group[64];
  group_name(group, sizeof(group), 1, 0);
  smart_sock *v[4];
  /* A group of 3 reports often: the interval is max(100 ms, gsize / 100 s). */
  v[0] = mk_g(group, 100, 0, NULL, 3);
  for (int i = 1; i < 4; i++)
    v[i] = mk(group, 100, 0, NULL);
  send_msgs(v[0], 0, 20);
  unsigned joins = 0, leaves = 0, timeouts = 0;
  struct smart_event ev = {.size = sizeof(ev)};
  uint64_t deadline = now_ms() + 5000;
  while (joins < 3 && now_ms() < deadline) {
    turn(v, 4, 10);
    for (int i = 1; i < 4; i++)
      drain(v[i], NULL, NULL);
    while (smart_event(v[0], &ev) == 1)
      if (ev.type == SMART_EVENT_JOIN) {
        joins++;
        ck_assert_ptr_nonnull(strstr(ev.member, "127.0.0.1:"));
      }
  }
  ck_assert_uint_eq(joins, 3);
  struct smart_member m[8];
  for (int i = 0; i < 8; i++)
    m[i].size = sizeof(m[i]);
  ck_assert_int_eq(smart_members(v[0], m, 8), 3);
  for (int i = 0; i < 3; i++) {
    ck_assert_ptr_nonnull(strstr(m[i].addr, "127.0.0.1:"));
    ck_assert_uint_ge(m[i].reports, 1);
  }
  /* Member 1 leaves properly; member 2 vanishes (its socket is no longer
   * driven, so it reports no more). */
  smart_close(v[1]);
  smart_sock *live[2] = {v[0], v[3]};
  deadline = now_ms() + 5000;
  while ((leaves < 1 || timeouts < 1) && now_ms() < deadline) {
    turn(live, 2, 10);
    drain(v[3], NULL, NULL);
    while (smart_event(v[0], &ev) == 1) {
      if (ev.type == SMART_EVENT_LEAVE && !(ev.flags & SMART_EVENT_TIMEOUT))
        leaves++;
      if (ev.type == SMART_EVENT_LEAVE && (ev.flags & SMART_EVENT_TIMEOUT))
        timeouts++;
    }
  }
  ck_assert_uint_eq(leaves, 1);
  ck_assert_uint_eq(timeouts, 1);
  ck_assert_int_eq(smart_members(v[0], m, 8), 1); /* member 3 is still there */
  smart_close(v[0]);
  smart_close(v[2]);
  smart_close(v[3]);
}
END_TEST

START_TEST(error_and_problem_reports) {
  char group[64];
  group_name(group, sizeof(group), 2, 0);
  smart_sock *v[2];
  smart_sock *snd;
  ck_assert_int_eq(smart_open(&snd, SMART_OPEN_NONBLOCK), 0);
  uint32_t window = 64, grtt = 2000;
  ck_assert_int_eq(smart_setopt(snd, SMART_OPT_WINDOW, &window, 4), 0);
  ck_assert_int_eq(smart_setopt(snd, SMART_OPT_GRTT_US, &grtt, 4), 0);
  /* A fixed rate: the blind receiver must not slow the window down (with
   * congestion control it would, and lose nothing). */
  uint32_t cc = SMART_CC_OFF;
  ck_assert_int_eq(smart_setopt(snd, SMART_OPT_CC, &cc, 4), 0);
  /* Real-time: the window moves on without the blind receiver (under the
   * default reliable policy the sender would wait for it). */
  uint32_t rt = SMART_DELIVERY_REALTIME;
  ck_assert_int_eq(smart_setopt(snd, SMART_OPT_DELIVERY, &rt, 4), 0);
  ck_assert_int_eq(smart_join(snd, group, "127.0.0.1", NULL, 0), 0);
  v[0] = snd;
  /* Phase 1: the receiver loses a quarter of what arrives: recoverable,
   * but persistent high loss (a PROBLEM_REPORT). */
  v[1] = mk(group, 200, 250000, NULL);
  unsigned lost = 0, errors = 0, problems = 0, sent = 0;
  struct smart_event ev = {.size = sizeof(ev)};
  uint64_t start = now_ms(), deadline = start + 10000, blind_until = 0;
  uint32_t drop;
  while ((errors == 0 || problems == 0) && now_ms() < deadline) {
    send_msgs(snd, sent, sent + 5);
    sent += 5;
    turn(v, 2, 1);
    drain(v[1], NULL, &lost);
    if (problems && !blind_until) {
      /* Phase 2: the receiver hears nothing for 500 ms; meanwhile the
       * sender's window moves on, so what it missed is gone for good (an
       * ERROR_REPORT of the loss). */
      drop = 1000000;
      smart_setopt(v[1], SMART_OPT_DROP_PPM, &drop, 4);
      blind_until = now_ms() + 500;
    }
    if (blind_until && now_ms() >= blind_until) {
      drop = 0;
      smart_setopt(v[1], SMART_OPT_DROP_PPM, &drop, 4);
    }
    while (smart_event(snd, &ev) == 1) {
      if (ev.type == SMART_EVENT_ERROR_REPORT) {
        ck_assert_uint_eq(ev.code, SMART_ERROR_LOSS);
        ck_assert_uint_ge(ev.args[1], 1);
        errors++;
      }
      if (ev.type == SMART_EVENT_PROBLEM_REPORT) {
        ck_assert_uint_eq(ev.code, SMART_PROBLEM_HIGH_LOSS);
        ck_assert_uint_gt(ev.args[0], 50000); /* more than 5% */
        problems++;
      }
    }
  }
  ck_assert_uint_gt(problems, 0);
  ck_assert_uint_gt(lost, 0);
  ck_assert_uint_gt(errors, 0);
  /* Rate-limited: at most a burst of 3, then one a second. */
  ck_assert_uint_le(errors, 3 + (now_ms() - start) / 1000 + 1);
  smart_close(v[0]);
  smart_close(v[1]);
}
END_TEST

static void move_case(const uint8_t *key) {
  char group[64], group2[64];
  group_name(group, sizeof(group), key ? 4 : 3, 0);
  group_name(group2, sizeof(group2), key ? 4 : 3, 1);
  smart_sock *v[3] = {mk(group, 5000, 0, key), mk(group, 5000, 20000, key),
                      mk(group, 5000, 20000, key)};
  unsigned next[3] = {0, 0, 0};
  send_msgs(v[0], 0, 500);
  uint64_t deadline = now_ms() + 10000;
  while ((next[1] < 500 || next[2] < 500) && now_ms() < deadline) {
    turn(v, 3, 5);
    drain(v[1], &next[1], NULL);
    drain(v[2], &next[2], NULL);
  }
  ck_assert_int_eq(smart_move(v[0], group2), 0);
  send_msgs(v[0], 500, 1000);
  unsigned changed[3] = {0, 0, 0};
  struct smart_event ev = {.size = sizeof(ev)};
  deadline = now_ms() + 10000;
  while ((next[1] < 1000 || next[2] < 1000) && now_ms() < deadline) {
    turn(v, 3, 5);
    for (int i = 1; i < 3; i++) {
      drain(v[i], &next[i], NULL); /* in order, no gap, no duplicate */
      while (smart_event(v[i], &ev) == 1)
        if (ev.type == SMART_EVENT_GROUP_CHANGED) {
          changed[i]++;
          ck_assert_str_eq(ev.member, group2);
        }
    }
  }
  ck_assert_uint_eq(next[1], 1000);
  ck_assert_uint_eq(next[2], 1000);
  /* The messages may all have arrived on the old group during the lead;
   * the announcements keep coming (20 ms apart, then every 250 ms), so a
   * receiver that lost the first one still follows. */
  deadline = now_ms() + 2000;
  while ((changed[1] < 1 || changed[2] < 1) && now_ms() < deadline) {
    turn(v, 3, 5);
    for (int i = 1; i < 3; i++)
      while (smart_event(v[i], &ev) == 1)
        if (ev.type == SMART_EVENT_GROUP_CHANGED)
          changed[i]++;
  }
  ck_assert_uint_eq(changed[1], 1);
  ck_assert_uint_eq(changed[2], 1);
  /* Everything after the move really travels on the new group: a receiver
   * that joins only the new group hears the sender. */
  smart_sock *late = mk(group2, 5000, 0, key);
  smart_sock *w[4] = {v[0], v[1], v[2], late};
  for (int k = 0; k < 20; k++)
    turn(w, 4, 5);
  send_msgs(v[0], 1000, 1010);
  unsigned got = 0;
  deadline = now_ms() + 5000;
  while (got < 10 && now_ms() < deadline) {
    turn(w, 4, 5);
    got += drain(late, NULL, NULL);
    drain(v[1], &next[1], NULL);
    drain(v[2], &next[2], NULL);
  }
  ck_assert_uint_ge(got, 10);
  for (int i = 0; i < 4; i++)
    smart_close(w[i]);
}

START_TEST(move_plain) { move_case(NULL); }
END_TEST

START_TEST(move_secure) {
  static const uint8_t key[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
  move_case(key);
}
END_TEST

/* A forged ADDR_RANGE_CHANGE: from an outsider without the key (secure
 * session), and from a plain socket that is not a sender (plain session). */
static void forged_move_case(const uint8_t *key) {
  char group[64];
  group_name(group, sizeof(group), key ? 6 : 5, 0);
  smart_sock *v[2] = {mk(group, 5000, 0, key), mk(group, 5000, 0, key)};
  unsigned next = 0;
  send_msgs(v[0], 0, 50);
  uint64_t deadline = now_ms() + 5000;
  while (next < 50 && now_ms() < deadline) {
    turn(v, 2, 5);
    drain(v[1], &next, NULL);
  }
  struct smart_stats before = {.size = sizeof(before)};
  smart_stats(v[1], &before);
  char host[32];
  unsigned port;
  ck_assert_int_eq(sscanf(group, "%31[0-9.]:%u", host, &port), 2);
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &dst.sin_addr);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct in_addr lo = {htonl(INADDR_LOOPBACK)};
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof(lo));
  /* ADDR_RANGE_CHANGE to 239.255.99.99:9999 (PORT extension). */
  uint8_t arc[20] = {0x53, 0x41, 0, 20, 239, 255, 99, 99, 239, 255, 99, 99,
                     0, 4, 0, 4, 0x27, 0x0f, 0x27, 0x0f};
  for (int i = 0; i < 10; i++)
    ck_assert_int_eq(sendto(fd, arc, sizeof(arc), 0, (struct sockaddr *)&dst, sizeof(dst)), 20);
  close(fd);
  for (int k = 0; k < 20; k++)
    turn(v, 2, 5);
  struct smart_event ev = {.size = sizeof(ev)};
  while (smart_event(v[1], &ev) == 1)
    ck_assert_uint_ne(ev.type, SMART_EVENT_GROUP_CHANGED);
  struct smart_stats after = {.size = sizeof(after)};
  smart_stats(v[1], &after);
  if (key)
    ck_assert_uint_eq(after.drops_auth - before.drops_auth, 10);
  else
    ck_assert_uint_eq(after.drops_other - before.drops_other, 10);
  /* Still on the old group. */
  send_msgs(v[0], 50, 60);
  deadline = now_ms() + 5000;
  while (next < 60 && now_ms() < deadline) {
    turn(v, 2, 5);
    drain(v[1], &next, NULL);
  }
  ck_assert_uint_eq(next, 60);
  smart_close(v[0]);
  smart_close(v[1]);
}

START_TEST(forged_move_plain) { forged_move_case(NULL); }
END_TEST

START_TEST(forged_move_secure) {
  static const uint8_t key[32] = {1, 1, 2, 3, 5, 8, 13, 21};
  forged_move_case(key);
}
END_TEST

int main(void) {
  Suite *su = suite_create("members");
  TCase *t = tcase_create("loopback");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, join_leave_timeout);
  tcase_add_test(t, error_and_problem_reports);
  tcase_add_test(t, move_plain);
  tcase_add_test(t, move_secure);
  tcase_add_test(t, forged_move_plain);
  tcase_add_test(t, forged_move_secure);
  suite_add_tcase(su, t);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
