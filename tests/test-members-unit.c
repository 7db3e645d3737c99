/*
 * The membership room (lib/proto/members), driven directly: no socket, no
 * session, no clock. Receiver side: when usage reports go out and how
 * their interval scales with the group, the error and problem budgets,
 * pressure reports ahead of the queue, the leave report. Sender side: the
 * member table that reports build, its events, the per-member report
 * limit, silent members' expiry and the member list. (tests/test-members.c
 * covers the same over loopback sockets.)
 */
#include <check.h>
#include <string.h>

#include "proto/members.h"
#include "util/bytes.h"
#include "util/time.h"
#include "wire/wire.h"

#include "unit.h"

#define T0 SMART__SEC(100)
#define SYNC 0x53
#define SELF4 0xC6336401u /* 198.51.100.1 */
#define GROUP4 0xEFFF0101u
#define BASE SMART__SEC(5)
#define TIMEOUT SMART__SEC(20)
#define EXT_STATS 0x000Au

struct rep {
  uint8_t b[256];
  size_t n;
};

static struct smart__members *make(uint64_t seed) {
  struct smart__members *m;
  ck_assert_int_eq(smart__members_new(&m, BASE, TIMEOUT, seed), 0);
  return m;
}

static const struct smart__rx_counts counts = {1000, 20, 3, 0};

/* The receiver's next report at `now` (0: none). */
static size_t out1(struct smart__members *m, struct rep *r, int leaving, uint64_t now) {
  smart_ssize n = smart__members_output(m, r->b, sizeof(r->b), SYNC, SELF4, GROUP4, &counts,
                                        leaving, now);
  ck_assert_int_ge(n, 0);
  r->n = (size_t)n;
  return r->n;
}

static struct smart__pkt decode(const struct rep *r) {
  struct smart__pkt p;
  ck_assert_int_eq(smart__pkt_decode(&p, r->b, r->n), 0);
  return p;
}

/* A usage report's interval field (ms). */
static uint32_t stats_interval(const struct rep *r) {
  struct smart__pkt p = decode(r);
  const uint8_t *v;
  size_t vl;
  ck_assert(smart__ext_find(p.ext, p.ext_len, EXT_STATS, &v, &vl));
  ck_assert_uint_eq(vl, 16);
  ck_assert_uint_eq(smart__get32(v), counts.received);
  ck_assert_uint_eq(smart__get32(v + 4), counts.recovered);
  ck_assert_uint_eq(smart__get32(v + 8), counts.lost);
  return smart__get32(v + 12);
}

/* Run the receiver from `now` until it has sent `n` usage reports; their
 * times in at[]. */
static void run_reports(struct smart__members *m, uint64_t now, uint64_t *at, unsigned n,
                        uint32_t *ivl_ms) {
  struct rep r;
  for (unsigned k = 0; k < n;) {
    uint64_t t = smart__members_expiry(m);
    ck_assert_uint_ge(t, now);
    ck_assert_uint_ne(t, UINT64_MAX);
    if (t > now) {
      ck_assert(!smart__members_due(m, 0, t - 1));
      ck_assert_uint_eq(out1(m, &r, 0, t - 1), 0);
    }
    ck_assert(smart__members_due(m, 0, t));
    ck_assert_uint_gt(out1(m, &r, 0, t), 0);
    ck_assert_int_eq(decode(&r).kind, SMART__K_USAGE_JOIN);
    ck_assert_uint_eq(smart__get32(r.b + 4), SELF4);
    ck_assert_uint_eq(smart__get32(r.b + 8), GROUP4);
    *ivl_ms = stats_interval(&r);
    at[k++] = now = t;
  }
}

START_TEST(usage_reports_start_when_a_sender_is_heard) {
  struct smart__members *m = make(1);
  struct rep r;
  ck_assert_uint_eq(smart__members_expiry(m), UINT64_MAX);
  ck_assert(!smart__members_due(m, 0, T0));
  ck_assert(!smart__members_due(m, 1, T0));
  ck_assert_uint_eq(out1(m, &r, 0, T0 + SMART__SEC(60)), 0);
  ck_assert_uint_eq(out1(m, &r, 1, T0), 0); /* never joined: no leave */
  /* The first report within half an interval of hearing a sender, then
   * every [0.5 T, 1.5 T]; T = 5 s for a small group. */
  uint64_t now = T0 + SMART__SEC(60);
  smart__members_heard(m, 10, now);
  ck_assert_uint_le(smart__members_expiry(m), now + BASE / 2);
  smart__members_heard(m, 10, now + 1); /* heard again: no new draw */
  uint64_t at[200];
  uint32_t ivl;
  run_reports(m, now, at, 200, &ivl);
  ck_assert_uint_eq(ivl, 5000);
  uint64_t sum = 0, lo = UINT64_MAX, hi = 0;
  for (int i = 1; i < 200; i++) {
    uint64_t g = at[i] - at[i - 1];
    ck_assert_uint_ge(g, BASE / 2);
    ck_assert_uint_le(g, BASE * 3 / 2);
    sum += g;
    lo = g < lo ? g : lo;
    hi = g > hi ? g : hi;
  }
  /* Drawn, not fixed: spread over the range, about T on average. */
  ck_assert_uint_lt(lo, BASE * 6 / 10);
  ck_assert_uint_gt(hi, BASE * 14 / 10);
  ck_assert_uint_gt(sum / 199, BASE * 9 / 10);
  ck_assert_uint_lt(sum / 199, BASE * 11 / 10);
  /* The same seed, the same schedule. */
  struct smart__members *m2 = make(1);
  smart__members_heard(m2, 10, now);
  uint64_t at2[200];
  run_reports(m2, now, at2, 200, &ivl);
  ck_assert_mem_eq(at, at2, sizeof(at));
  smart__members_del(m2);

  /* A group of 2,000: the group sends about 100 reports a second, so each
   * member one every 20 s. */
  smart__members_heard(m, 2000, at[199]);
  run_reports(m, at[199], at, 1, &ivl); /* drawn before the group grew */
  run_reports(m, at[0], at, 100, &ivl);
  ck_assert_uint_eq(ivl, 20000);
  for (int i = 1; i < 100; i++) {
    ck_assert_uint_ge(at[i] - at[i - 1], SMART__SEC(10));
    ck_assert_uint_le(at[i] - at[i - 1], SMART__SEC(30));
  }
  /* A new estimate of 0 keeps the last one. */
  smart__members_heard(m, 0, at[99]);
  run_reports(m, at[99], at, 2, &ivl);
  ck_assert_uint_eq(ivl, 20000);

  /* Leaving: the final report at once, then silence. */
  now = at[1] + 1;
  ck_assert(smart__members_due(m, 1, now));
  ck_assert_uint_gt(out1(m, &r, 1, now), 0);
  ck_assert_int_eq(decode(&r).kind, SMART__K_USAGE_LEAVE);
  stats_interval(&r);
  ck_assert(!smart__members_due(m, 1, now));
  ck_assert_uint_eq(out1(m, &r, 1, now), 0);
  ck_assert_uint_eq(out1(m, &r, 0, now + SMART__SEC(100)), 0);
  ck_assert_uint_eq(smart__members_expiry(m), UINT64_MAX);
  /* Error reports still go out. */
  ck_assert_int_eq(smart__members_report(m, 1, SMART_ERROR_LOSS, 1, 2, now), 0);
  ck_assert_uint_eq(out1(m, &r, 1, now), SMART__REPORT_MSG_LEN);
  /* No room: nothing. */
  ck_assert_int_eq(smart__members_report(m, 1, SMART_ERROR_LOSS, 1, 2, now), 0);
  ck_assert_int_eq(smart__members_output(m, r.b, 63, SYNC, SELF4, GROUP4, &counts, 0, now), 0);
  ck_assert_uint_eq(out1(m, &r, 0, now), SMART__REPORT_MSG_LEN);
  smart__members_del(m);
}
END_TEST

static void expect_report(struct smart__members *m, int error, uint32_t code, uint32_t a1,
                          uint32_t a2, uint64_t now) {
  struct rep r;
  ck_assert_uint_eq(out1(m, &r, 0, now), SMART__REPORT_MSG_LEN);
  struct smart__pkt p = decode(&r);
  ck_assert_int_eq(p.kind, error ? SMART__K_ERROR_REPORT : SMART__K_PROBLEM_REPORT);
  ck_assert_uint_eq(p.u.report.reporter, SELF4);
  ck_assert_uint_eq(p.u.report.concerning, GROUP4);
  ck_assert_uint_eq(p.u.report.data[0], code);
  ck_assert_uint_eq(p.u.report.data[1], a1);
  ck_assert_uint_eq(p.u.report.data[2], a2);
}

START_TEST(error_and_problem_budgets) {
  struct smart__members *m = make(2);
  uint64_t now = T0;
  /* Three of each at once, then one a second; each budget its own. */
  for (uint32_t i = 0; i < 3; i++)
    ck_assert_int_eq(smart__members_report(m, 1, SMART_ERROR_LOSS, i, 10, now), 0);
  ck_assert_int_eq(smart__members_report(m, 1, SMART_ERROR_AUTH, 9, 0, now), SMART_EAGAIN);
  for (uint32_t i = 0; i < 3; i++)
    ck_assert_int_eq(smart__members_report(m, 0, SMART_PROBLEM_HIGH_LOSS, 100 + i, 0, now), 0);
  ck_assert_int_eq(smart__members_report(m, 0, SMART_PROBLEM_HIGH_LOSS, 9, 0, now), SMART_EAGAIN);
  /* Queued reports are due at once, whether or not a sender was heard. */
  ck_assert(smart__members_due(m, 0, now));
  ck_assert_uint_eq(smart__members_expiry(m), 0);
  for (uint32_t i = 0; i < 3; i++)
    expect_report(m, 1, SMART_ERROR_LOSS, i, 10, now);
  for (uint32_t i = 0; i < 3; i++)
    expect_report(m, 0, SMART_PROBLEM_HIGH_LOSS, 100 + i, 0, now);
  struct rep r;
  ck_assert_uint_eq(out1(m, &r, 0, now), 0);
  ck_assert(!smart__members_due(m, 0, now));
  /* One per second after the burst. */
  ck_assert_int_eq(smart__members_report(m, 1, SMART_ERROR_AUTH, 1, 0, now + SMART__MS(999)),
                   SMART_EAGAIN);
  ck_assert_int_eq(smart__members_report(m, 1, SMART_ERROR_AUTH, 1, 0, now + SMART__SEC(1)), 0);
  ck_assert_int_eq(smart__members_report(m, 1, SMART_ERROR_AUTH, 1, 0, now + SMART__SEC(1)),
                   SMART_EAGAIN);
  unsigned sent = 0;
  for (uint64_t t = now + SMART__SEC(1); t < now + SMART__SEC(11); t += SMART__MS(100)) {
    sent += smart__members_report(m, 0, SMART_PROBLEM_HIGH_LOSS, 1, 0, t) == 0;
    while (out1(m, &r, 0, t))
      ;
  }
  ck_assert_uint_eq(sent, 10);
  /* A quiet while refills the burst, no more. */
  now += SMART__SEC(100);
  sent = 0;
  for (int i = 0; i < 10; i++) {
    sent += smart__members_report(m, 1, SMART_ERROR_LOSS, 1, 0, now) == 0;
    while (out1(m, &r, 0, now))
      ;
  }
  ck_assert_uint_eq(sent, 3);
  smart__members_del(m);
}
END_TEST

START_TEST(pressure_jumps_the_queue) {
  struct smart__members *m = make(3);
  uint64_t now = T0;
  ck_assert_int_eq(smart__members_report(m, 1, SMART_ERROR_LOSS, 1, 1, now), 0);
  ck_assert_int_eq(smart__members_report(m, 0, SMART_PROBLEM_HIGH_LOSS, 2, 0, now), 0);
  /* Outside the error budget: spend it first. */
  ck_assert_int_eq(smart__members_report(m, 1, SMART_ERROR_LOSS, 3, 3, now), 0);
  ck_assert_int_eq(smart__members_report(m, 1, SMART_ERROR_LOSS, 4, 4, now), 0);
  ck_assert_int_eq(smart__members_report(m, 1, SMART_ERROR_LOSS, 5, 5, now), SMART_EAGAIN);
  ck_assert_int_eq(smart__members_pressure(m, 40000, 600), 0);
  /* A second one while the first waits brings it up to date. */
  ck_assert_int_eq(smart__members_pressure(m, 30000, 800), 0);
  expect_report(m, 1, SMART_ERROR_OVERFLOW, 30000, 800, now);
  expect_report(m, 1, SMART_ERROR_LOSS, 1, 1, now);
  /* Once sent, the next is queued anew, first again. */
  ck_assert_int_eq(smart__members_pressure(m, 20000, 900), 0);
  expect_report(m, 1, SMART_ERROR_OVERFLOW, 20000, 900, now);
  expect_report(m, 0, SMART_PROBLEM_HIGH_LOSS, 2, 0, now);
  expect_report(m, 1, SMART_ERROR_LOSS, 3, 3, now);
  expect_report(m, 1, SMART_ERROR_LOSS, 4, 4, now);
  struct rep r;
  ck_assert_uint_eq(out1(m, &r, 0, now), 0);
  /* The queue holds eight: full, neither kind is taken. */
  now += SMART__SEC(100);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(smart__members_report(m, 1, SMART_ERROR_LOSS, 0, 0, now), 0);
    ck_assert_int_eq(smart__members_report(m, 0, SMART_PROBLEM_HIGH_LOSS, 0, 0, now), 0);
  }
  now += SMART__SEC(1);
  ck_assert_int_eq(smart__members_report(m, 1, SMART_ERROR_LOSS, 0, 0, now), 0);
  ck_assert_int_eq(smart__members_report(m, 0, SMART_PROBLEM_HIGH_LOSS, 0, 0, now), 0);
  now += SMART__SEC(1);
  ck_assert_int_eq(smart__members_report(m, 1, SMART_ERROR_LOSS, 0, 0, now), SMART_EAGAIN);
  ck_assert_int_eq(smart__members_pressure(m, 1, 999), SMART_EAGAIN);
  /* The refused report did not spend its budget. */
  ck_assert_uint_eq(out1(m, &r, 0, now), SMART__REPORT_MSG_LEN);
  ck_assert_int_eq(smart__members_report(m, 1, SMART_ERROR_LOSS, 0, 0, now), 0);
  smart__members_del(m);
}
END_TEST

/* ---- sender ------------------------------------------------------------ */

/* A receiver's usage report (join or leave) with these counts. */
static void usage(struct rep *r, int leave, uint32_t rcv, uint32_t rec, uint32_t lost,
                  uint32_t ivl_ms) {
  memset(r, 0, sizeof(*r));
  r->b[0] = SYNC;
  r->b[1] = (uint8_t)(SMART__TYP_MSG << 6 | (leave ? SMART__MSG_USAGE_LEAVE : SMART__MSG_USAGE_JOIN));
  r->n = SMART__ADDR_MSG_LEN + 4 + 16;
  smart__put16(r->b + 2, (uint16_t)r->n);
  smart__put32(r->b + 4, SELF4);
  smart__put32(r->b + 8, GROUP4);
  smart__put16(r->b + 12, EXT_STATS);
  smart__put16(r->b + 14, 16);
  smart__put32(r->b + 16, rcv);
  smart__put32(r->b + 20, rec);
  smart__put32(r->b + 24, lost);
  smart__put32(r->b + 28, ivl_ms);
}

static void report_msg(struct rep *r, int error, uint32_t code, uint32_t a1, uint32_t a2) {
  memset(r, 0, sizeof(*r));
  r->b[0] = SYNC;
  r->b[1] = (uint8_t)(SMART__TYP_MSG << 6 |
                      (error ? SMART__MSG_ERROR_REPORT : SMART__MSG_PROBLEM_REPORT));
  r->n = SMART__REPORT_MSG_LEN;
  smart__put16(r->b + 2, (uint16_t)r->n);
  smart__put32(r->b + 4, SELF4);
  smart__put32(r->b + 8, GROUP4);
  smart__put32(r->b + 12, code);
  smart__put32(r->b + 16, a1);
  smart__put32(r->b + 20, a2);
}

static int input(struct smart__members *s, uint64_t id, const char *addr, const struct rep *r,
                 uint64_t now) {
  return smart__members_input(s, id, addr, r->b, r->n, now);
}

static void expect_event(struct smart__members *s, uint32_t type, uint32_t flags, uint64_t id,
                         const char *addr) {
  struct smart_event ev;
  ck_assert_int_eq(smart__members_event(s, &ev), 1);
  ck_assert_uint_eq(ev.size, sizeof(ev));
  ck_assert_uint_eq(ev.type, type);
  ck_assert_uint_eq(ev.flags, flags);
  ck_assert_uint_eq(ev.member_id, id);
  ck_assert_str_eq(ev.member, addr);
}

START_TEST(reports_build_the_member_table) {
  struct smart__members *s = make(4);
  uint64_t now = T0;
  struct rep r;
  struct smart_event ev;
  ck_assert_int_eq(smart__members_event(s, &ev), 0);
  ck_assert_uint_eq(smart__members_list(s, NULL, 0, now), 0);
  /* A receiver room's own report, as it comes. */
  struct smart__members *rx = make(5);
  smart__members_heard(rx, 0, now);
  ck_assert_uint_gt(out1(rx, &r, 0, smart__members_expiry(rx)), 0);
  ck_assert_int_eq(input(s, 7, "198.51.100.1:4000", &r, now), 1);
  expect_event(s, SMART_EVENT_JOIN, 0, 7, "198.51.100.1:4000");
  ck_assert_int_eq(smart__members_event(s, &ev), 0);
  struct smart_member v[4];
  ck_assert_uint_eq(smart__members_list(s, v, 4, now + SMART__MS(1500)), 1);
  ck_assert_uint_eq(v[0].size, sizeof(v[0]));
  ck_assert_uint_eq(v[0].member_id, 7);
  ck_assert_str_eq(v[0].addr, "198.51.100.1:4000");
  ck_assert_uint_eq(v[0].since_ms, 1500);
  ck_assert_uint_eq(v[0].last_report_ms, 1500);
  ck_assert_uint_eq(v[0].reports, 1);
  ck_assert_uint_eq(v[0].received, counts.received);
  ck_assert_uint_eq(v[0].recovered, counts.recovered);
  ck_assert_uint_eq(v[0].lost, counts.lost);

  /* A second member; the first reports again (new counts, new address):
   * no second JOIN. */
  usage(&r, 0, 50, 5, 1, 5000);
  ck_assert_int_eq(input(s, 8, "198.51.100.2:4000", &r, now + SMART__SEC(1)), 1);
  expect_event(s, SMART_EVENT_JOIN, 0, 8, "198.51.100.2:4000");
  usage(&r, 0, 2000, 30, 4, 5000);
  ck_assert_int_eq(input(s, 7, "198.51.100.9:4000", &r, now + SMART__SEC(2)), 1);
  ck_assert_int_eq(smart__members_event(s, &ev), 0);
  ck_assert_uint_eq(smart__members_list(s, v, 4, now + SMART__SEC(3)), 2);
  for (int i = 0; i < 2; i++)
    if (v[i].member_id == 7) {
      ck_assert_str_eq(v[i].addr, "198.51.100.9:4000");
      ck_assert_uint_eq(v[i].since_ms, 3000);
      ck_assert_uint_eq(v[i].last_report_ms, 1000);
      ck_assert_uint_eq(v[i].reports, 2);
      ck_assert_uint_eq(v[i].received, 2000);
      ck_assert_uint_eq(v[i].lost, 4);
    } else {
      ck_assert_uint_eq(v[i].member_id, 8);
      ck_assert_uint_eq(v[i].received, 50);
    }
  ck_assert_uint_eq(smart__members_list(s, v, 1, now), 2); /* the count, whatever fits */

  /* Error and problem reports: events with their code and arguments,
   * from a member or from a stranger (no member made of it). */
  report_msg(&r, 1, SMART_ERROR_LOSS, 1234, 56);
  ck_assert_int_eq(input(s, 8, "198.51.100.2:4000", &r, now + SMART__SEC(3)), 1);
  expect_event(s, SMART_EVENT_ERROR_REPORT, 0, 8, "198.51.100.2:4000");
  report_msg(&r, 0, SMART_PROBLEM_HIGH_LOSS, 70000, 0);
  ck_assert_int_eq(input(s, 99, "203.0.113.5:9", &r, now + SMART__SEC(3)), 1);
  ck_assert_int_eq(smart__members_event(s, &ev), 1);
  ck_assert_uint_eq(ev.type, SMART_EVENT_PROBLEM_REPORT);
  ck_assert_uint_eq(ev.code, SMART_PROBLEM_HIGH_LOSS);
  ck_assert_uint_eq(ev.args[0], 70000);
  ck_assert_uint_eq(ev.member_id, 99);
  ck_assert_str_eq(ev.member, "203.0.113.5:9");
  ck_assert_uint_eq(smart__members_list(s, NULL, 0, now), 2);
  /* A receiver room's error report, decoded the same. */
  ck_assert_int_eq(smart__members_report(rx, 1, SMART_ERROR_AUTH, 17, 0, now), 0);
  ck_assert_uint_gt(out1(rx, &r, 0, now), 0);
  ck_assert_int_eq(input(s, 7, "198.51.100.9:4000", &r, now + SMART__SEC(3)), 1);
  ck_assert_int_eq(smart__members_event(s, &ev), 1);
  ck_assert_uint_eq(ev.type, SMART_EVENT_ERROR_REPORT);
  ck_assert_uint_eq(ev.code, SMART_ERROR_AUTH);
  ck_assert_uint_eq(ev.args[0], 17);

  /* Leaving: an event with the final counts, and the member is gone. A
   * leave from a stranger is taken and changes nothing. */
  usage(&r, 1, 2100, 31, 4, 5000);
  ck_assert_int_eq(input(s, 7, "198.51.100.9:4000", &r, now + SMART__SEC(4)), 1);
  expect_event(s, SMART_EVENT_LEAVE, 0, 7, "198.51.100.9:4000");
  ck_assert_int_eq(input(s, 55, "203.0.113.6:9", &r, now + SMART__SEC(4)), 1);
  ck_assert_int_eq(smart__members_event(s, &ev), 0);
  ck_assert_uint_eq(smart__members_list(s, v, 4, now + SMART__SEC(4)), 1);
  ck_assert_uint_eq(v[0].member_id, 8);
  /* It may come back: a new JOIN. */
  usage(&r, 0, 0, 0, 0, 5000);
  ck_assert_int_eq(input(s, 7, "198.51.100.9:4000", &r, now + SMART__SEC(5)), 1);
  expect_event(s, SMART_EVENT_JOIN, 0, 7, "198.51.100.9:4000");

  /* Not reports: not the room's. A report that does not decode: left to
   * the engine. */
  uint8_t data[16] = {SYNC, SMART__TYP_DATA << 6, 0, 16};
  ck_assert_int_eq(smart__members_input(s, 7, "x", data, sizeof(data), now), 0);
  uint8_t nak[SMART__REQ_MSG_LEN] = {SYNC, SMART__TYP_REQ << 6 | SMART__REQ_REPLACEMENT, 0,
                                     SMART__REQ_MSG_LEN};
  ck_assert_int_eq(smart__members_input(s, 7, "x", nak, sizeof(nak), now), 0);
  ck_assert_int_eq(smart__members_input(s, 7, "x", data, 1, now), 0);
  report_msg(&r, 1, 1, 1, 1);
  ck_assert_int_eq(smart__members_input(s, 7, "x", r.b, r.n - 1, now), 0);
  ck_assert_int_eq(smart__members_event(s, &ev), 0);

  /* The application's own events share the queue. */
  struct smart_event g = {.size = sizeof(g), .type = SMART_EVENT_GROUP_CHANGED};
  strcpy(g.member, "239.255.1.2:5000");
  smart__members_push(s, &g);
  ck_assert_int_eq(smart__members_event(s, &ev), 1);
  ck_assert_uint_eq(ev.type, SMART_EVENT_GROUP_CHANGED);
  ck_assert_str_eq(ev.member, "239.255.1.2:5000");
  /* A full queue loses its oldest. */
  for (uint32_t i = 0; i < 300; i++) {
    g.code = i;
    smart__members_push(s, &g);
  }
  uint32_t first = UINT32_MAX, n = 0;
  while (smart__members_event(s, &ev)) {
    if (first == UINT32_MAX)
      first = ev.code;
    n++;
  }
  ck_assert_uint_eq(n, 256);
  ck_assert_uint_eq(first, 300 - 256);
  smart__members_del(rx);
  smart__members_del(s);
}
END_TEST

START_TEST(each_member_is_heard_ten_times_a_second) {
  struct smart__members *s = make(6);
  uint64_t now = T0;
  struct rep r;
  struct smart_member v;
  usage(&r, 0, 1, 0, 0, 5000);
  unsigned taken = 0;
  for (int i = 0; i < 25; i++) {
    ck_assert_int_eq(input(s, 7, "198.51.100.1:4000", &r, now), 1); /* consumed either way */
    smart__members_list_one(s, 0, &v, now);
    taken = (unsigned)v.reports;
  }
  ck_assert_uint_eq(taken, 10);
  ck_assert_uint_eq(smart__members_limited(s), 15);
  /* Error reports count against the same budget: dropped, no event. */
  struct smart_event ev;
  while (smart__members_event(s, &ev))
    ;
  report_msg(&r, 1, SMART_ERROR_LOSS, 1, 1);
  ck_assert_int_eq(input(s, 7, "198.51.100.1:4000", &r, now), 1);
  ck_assert_int_eq(smart__members_event(s, &ev), 0);
  ck_assert_uint_eq(smart__members_limited(s), 16);
  /* Another member has a budget of its own. */
  usage(&r, 0, 1, 0, 0, 5000);
  ck_assert_int_eq(input(s, 8, "198.51.100.2:4000", &r, now), 1);
  expect_event(s, SMART_EVENT_JOIN, 0, 8, "198.51.100.2:4000");
  report_msg(&r, 1, SMART_ERROR_LOSS, 1, 1);
  ck_assert_int_eq(input(s, 8, "198.51.100.2:4000", &r, now), 1);
  expect_event(s, SMART_EVENT_ERROR_REPORT, 0, 8, "198.51.100.2:4000");
  ck_assert_uint_eq(smart__members_limited(s), 16);
  /* Then ten a second: over 3 s at 100 a second, 30 more. */
  usage(&r, 0, 1, 0, 0, 5000);
  for (uint64_t t = now + SMART__MS(10); t <= now + SMART__SEC(3); t += SMART__MS(10))
    input(s, 7, "198.51.100.1:4000", &r, t);
  smart__members_list_one(s, 0, &v, now + SMART__SEC(3));
  ck_assert_uint_eq(v.member_id, 7);
  ck_assert_uint_eq(v.reports, 10 + 30);
  smart__members_del(s);
}
END_TEST

START_TEST(silent_members_time_out) {
  struct smart__members *s = make(7);
  uint64_t now = T0;
  struct rep r;
  struct smart_event ev;
  struct smart_member v[4];
  /* a reports every 5 s (3.5 x 5 s < 20 s: the configured timeout
   * rules), b every 10 s (3.5 x 10 s = 35 s), c sends no interval. */
  usage(&r, 0, 1, 0, 0, 5000);
  ck_assert_int_eq(input(s, 1, "198.51.100.1:4000", &r, now), 1);
  usage(&r, 0, 1, 0, 0, 10000);
  ck_assert_int_eq(input(s, 2, "198.51.100.2:4000", &r, now), 1);
  r.n = SMART__ADDR_MSG_LEN; /* no statistics extension */
  smart__put16(r.b + 2, (uint16_t)r.n);
  ck_assert_int_eq(input(s, 3, "198.51.100.3:4000", &r, now + SMART__SEC(1)), 1);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(smart__members_event(s, &ev), 1);
  ck_assert_uint_eq(smart__members_expiry(s), now + TIMEOUT + 1);
  smart__members_expire(s, now + TIMEOUT);
  ck_assert_int_eq(smart__members_event(s, &ev), 0);
  smart__members_expire(s, now + TIMEOUT + 1);
  expect_event(s, SMART_EVENT_LEAVE, SMART_EVENT_TIMEOUT, 1, "198.51.100.1:4000");
  ck_assert_int_eq(smart__members_event(s, &ev), 0);
  ck_assert_uint_eq(smart__members_list(s, v, 4, now + TIMEOUT + 1), 2);
  ck_assert_uint_eq(smart__members_expiry(s), now + SMART__SEC(1) + TIMEOUT + 1);
  /* A report keeps c. */
  ck_assert_int_eq(input(s, 3, "198.51.100.3:4000", &r, now + SMART__SEC(15)), 1);
  smart__members_expire(s, now + SMART__SEC(1) + TIMEOUT + 1);
  ck_assert_int_eq(smart__members_event(s, &ev), 0);
  ck_assert_uint_eq(smart__members_expiry(s), now + SMART__SEC(35) + 1);
  smart__members_expire(s, now + SMART__SEC(35));
  ck_assert_int_eq(smart__members_event(s, &ev), 0);
  /* b and c go in the same pass. */
  smart__members_expire(s, now + SMART__SEC(36));
  uint64_t gone = 0;
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(smart__members_event(s, &ev), 1);
    ck_assert_uint_eq(ev.type, SMART_EVENT_LEAVE);
    ck_assert_uint_eq(ev.flags, SMART_EVENT_TIMEOUT);
    gone += ev.member_id;
  }
  ck_assert_uint_eq(gone, 2 + 3);
  ck_assert_int_eq(smart__members_event(s, &ev), 0);
  ck_assert_uint_eq(smart__members_list(s, v, 4, now + SMART__SEC(36)), 0);
  ck_assert_uint_eq(smart__members_expiry(s), UINT64_MAX);
  /* Many members, most of them silent: the table shrinks to the ones
   * still heard, and grows again. */
  for (uint64_t id = 1; id <= 1000; id++)
    input(s, id, "198.51.100.4:4000", &r, now + SMART__SEC(100));
  for (uint64_t id = 1; id <= 1000; id += 7)
    input(s, id, "198.51.100.4:4000", &r, now + SMART__SEC(115));
  while (smart__members_event(s, &ev))
    ;
  smart__members_expire(s, now + SMART__SEC(121));
  unsigned left = 0;
  while (smart__members_event(s, &ev)) {
    ck_assert_uint_eq(ev.flags, SMART_EVENT_TIMEOUT);
    ck_assert_uint_ne(ev.member_id % 7, 1);
    left++;
  }
  ck_assert_uint_eq(left, 256); /* 857 left; the queue keeps the latest 256 */
  ck_assert_uint_eq(smart__members_list(s, NULL, 0, now + SMART__SEC(121)), 143);
  for (uint64_t id = 2000; id < 2100; id++)
    input(s, id, "198.51.100.4:4000", &r, now + SMART__SEC(122));
  ck_assert_uint_eq(smart__members_list(s, NULL, 0, now + SMART__SEC(122)), 243);
  smart__members_del(s);
}
END_TEST

static void add(TCase *t) {
  tcase_add_test(t, usage_reports_start_when_a_sender_is_heard);
  tcase_add_test(t, error_and_problem_budgets);
  tcase_add_test(t, pressure_jumps_the_queue);
  tcase_add_test(t, reports_build_the_member_table);
  tcase_add_test(t, each_member_is_heard_ten_times_a_second);
  tcase_add_test(t, silent_members_time_out);
}

int main(void) { return unit_main("members-unit", add); }
