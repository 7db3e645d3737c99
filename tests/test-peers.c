/*
 * proto/peers, proto/flow and proto/move, each driven directly, and the
 * session's peer table under a flood of made-up source ports: a full table
 * never locks out a real sender.
 */
#include <arpa/inet.h>
#include <check.h>
#include <string.h>

#include "proto/flow.h"
#include "proto/move.h"
#include "proto/peers.h"
#include "session/session.h"
#include "util/time.h"
#include "wire/wire.h"

#include "unit.h"

static struct smart__sockaddr v4(uint32_t host, uint16_t port) {
  struct smart__sockaddr a;
  memset(&a, 0, sizeof(a));
  a.u.in4.sin_family = AF_INET;
  a.u.in4.sin_addr.s_addr = htonl(host);
  a.u.in4.sin_port = htons(port);
  a.len = sizeof(struct sockaddr_in);
  return a;
}

#define HOST(d) (0xC6336400u | (d)) /* 198.51.100.d */

START_TEST(peers_ids_text_and_sender_ids) {
  struct smart__peers t = {0};
  struct smart__sockaddr a = v4(HOST(1), 4000), b = v4(HOST(2), 4000);
  uint32_t ia = smart__peers_id(&t, &a, 0, 10), ib = smart__peers_id(&t, &b, 0, 11);
  ck_assert_uint_eq(ia, 1);
  ck_assert_uint_eq(ib, 2);
  ck_assert_uint_eq(smart__peers_id(&t, &a, 0, 12), ia);
  ck_assert_str_eq(smart__peers_text(&t, ib), "198.51.100.2:4000");
  ck_assert_str_eq(smart__peers_text(&t, 99), "");
  /* Secure sessions: by sender ID, and the address follows the sender. */
  uint32_t is = smart__peers_id(&t, &a, 77, 13);
  ck_assert_uint_eq(is, 3);
  /* asked twice, the second answer the remembered one; and after the
   * move, the new address (the text follows every change) */
  ck_assert_str_eq(smart__peers_text(&t, is), "198.51.100.1:4000");
  ck_assert_str_eq(smart__peers_text(&t, is), "198.51.100.1:4000");
  ck_assert_uint_eq(smart__peers_id(&t, &b, 77, 14), is);
  ck_assert_str_eq(smart__peers_text(&t, is), "198.51.100.2:4000");
  ck_assert_uint_eq(smart__peers_by_sid(&t, 77), is);
  ck_assert_uint_eq(smart__peers_by_sid(&t, 78), 0);
  smart__peers_free(&t);
}
END_TEST

START_TEST(peers_request_budget) {
  struct smart__peers t = {0};
  struct smart__sockaddr a = v4(HOST(1), 4000);
  uint64_t now = SMART__SEC(1);
  uint32_t id = smart__peers_id(&t, &a, 0, now);
  unsigned served = 0;
  while (smart__peers_nak_allowed(&t, id, now))
    served++;
  ck_assert_uint_eq(served, SMART__NAK_BURST);
  /* then NAK_RATE per second */
  served = 0;
  for (uint64_t ms = 1; ms <= 1000; ms++)
    while (smart__peers_nak_allowed(&t, id, now + SMART__MS(ms)))
      served++;
  ck_assert_uint_eq(served, SMART__NAK_RATE);
  ck_assert(!smart__peers_nak_allowed(&t, 0, now));
  smart__peers_free(&t);
}
END_TEST

START_TEST(peers_full_table_takes_the_oldest_non_sender) {
  struct smart__peers t = {0};
  uint64_t now = 1;
  /* One data sender first, then junk from made-up ports fills the table. */
  struct smart__sockaddr s1 = v4(HOST(1), 4000);
  uint32_t id1 = smart__peers_id(&t, &s1, 0, now);
  smart__peers_get(&t, id1)->data = 1;
  for (uint32_t i = 1; i < SMART__PEER_MAX; i++) {
    struct smart__sockaddr j = v4(HOST(9), (uint16_t)(10000 + i));
    ck_assert_uint_ne(smart__peers_id(&t, &j, 0, ++now), 0);
  }
  ck_assert_uint_eq(t.n, SMART__PEER_MAX);
  /* More junk, and then a real sender: each gets a slot. */
  for (uint32_t i = 0; i < 100; i++) {
    struct smart__sockaddr j = v4(HOST(10), (uint16_t)(20000 + i));
    ck_assert_uint_ne(smart__peers_id(&t, &j, 0, ++now), 0);
  }
  struct smart__sockaddr s2 = v4(HOST(2), 4000);
  uint32_t id2 = smart__peers_id(&t, &s2, 0, ++now);
  ck_assert_uint_ne(id2, 0);
  ck_assert_uint_ne(id2, id1); /* the data sender kept its slot */
  ck_assert_uint_eq(smart__peers_id(&t, &s1, 0, ++now), id1);
  ck_assert_str_eq(smart__peers_text(&t, id2), "198.51.100.2:4000");
  ck_assert_uint_eq(t.evicted, 101);
  /* A table of data senders heard within the last minute refuses rather
   * than forgets one. */
  for (uint32_t i = 0; i < t.n; i++)
    t.v[i].data = 1;
  struct smart__sockaddr s3 = v4(HOST(3), 4000);
  ck_assert_uint_eq(smart__peers_id(&t, &s3, 0, ++now), 0);
  ck_assert_uint_eq(t.forgot, 0);
  smart__peers_free(&t);
}
END_TEST

/* Made-up data senders (a member's, in a session with a group key) fill
 * the table: a later sender is refused while they are heard, and gets the
 * slot of the one silent longest once that one has been silent a minute;
 * the table says which id's engine state must go. */
START_TEST(peers_full_of_data_senders_expires_the_idle) {
  struct smart__peers t = {0};
  uint64_t now = SMART__SEC(1);
  for (uint32_t i = 0; i < SMART__PEER_MAX; i++) {
    struct smart__sockaddr j = v4(HOST(9), (uint16_t)(10000 + i));
    uint32_t id = smart__peers_id(&t, &j, 0, now + i);
    ck_assert_uint_ne(id, 0);
    smart__peers_get(&t, id)->data = 1;
  }
  /* All but the first keep sending. */
  uint64_t later = now + SMART__SEC(59);
  for (uint32_t i = 1; i < SMART__PEER_MAX; i++) {
    struct smart__sockaddr j = v4(HOST(9), (uint16_t)(10000 + i));
    smart__peers_id(&t, &j, 0, later);
  }
  struct smart__sockaddr real = v4(HOST(2), 4000);
  ck_assert_str_eq(smart__peers_text(&t, 1), "198.51.100.9:10000");
  ck_assert_uint_eq(smart__peers_id(&t, &real, 0, later), 0); /* silent for 59 s only */
  ck_assert_uint_eq(t.forgot, 0);
  uint32_t id = smart__peers_id(&t, &real, 0, now + SMART__PEER_IDLE);
  ck_assert_uint_eq(id, 1); /* the first one's slot */
  ck_assert_uint_eq(t.forgot, 1);
  ck_assert_int_eq(smart__peers_get(&t, id)->data, 0);
  ck_assert_str_eq(smart__peers_text(&t, id), "198.51.100.2:4000");
  smart__peers_free(&t);
}
END_TEST

START_TEST(flow_cuts_grows_and_lifts) {
  struct smart__flow f;
  smart__flow_init(&f, SMART__MS(5));
  uint64_t now = SMART__SEC(1);
  /* The sender measured 100 MB/s. */
  for (int i = 0; i <= 10; i++)
    smart__flow_sent(&f, 200000, now + SMART__MS(2) * (uint64_t)i);
  now += SMART__MS(20);
  ck_assert_uint_gt(f.est, 90000000u);
  /* A receiver reading 40,000 KiB/s: 7/8 of that. */
  ck_assert(smart__flow_cut(&f, 40000, now));
  ck_assert_uint_eq(f.rate, 40000u * 1024u - 40000u * 1024u / 8);
  /* Reports already on their way do not cut again within the gap. */
  ck_assert(!smart__flow_cut(&f, 100, now + SMART__MS(1)));
  uint32_t burst = 1472;
  ck_assert_uint_eq(smart__flow_limit(&f, 0, &burst), f.rate);
  ck_assert_uint_eq(smart__flow_limit(&f, 1000000, &burst), 1000000); /* the application's bound */
  /* Quiet intervals raise it by 1/32; a second without reports lifts it. */
  uint64_t r = f.rate;
  ck_assert(smart__flow_grow(&f, now + SMART__MS(12)));
  ck_assert_uint_eq(f.rate, r + r / 32);
  ck_assert(smart__flow_grow(&f, now + SMART__SEC(2)));
  ck_assert_uint_eq(f.rate, 0);
  /* Never below the floor. */
  smart__flow_init(&f, 0);
  f.est = 1000;
  ck_assert(smart__flow_cut(&f, 0, SMART__SEC(1)));
  ck_assert_uint_eq(f.rate, SMART__FC_FLOOR);
}
END_TEST

START_TEST(flow_receiver_reports_a_filling_buffer) {
  struct smart__flow f;
  smart__flow_init(&f, SMART__MS(5));
  uint32_t kib, pm;
  uint64_t now = SMART__SEC(1);
  smart__flow_read(&f, 1, now); /* the rate's window starts */
  smart__flow_read(&f, 1 << 20, now + SMART__MS(5));
  ck_assert(smart__flow_look_due(&f, now + SMART__MS(5)));
  /* Half full exactly: not yet. Then fuller: a report, with a rate measured
   * over the partial window (no full one yet). */
  ck_assert(!smart__flow_look(&f, 500, 1000, now + SMART__MS(5), &kib, &pm));
  ck_assert(!smart__flow_look_due(&f, now + SMART__MS(5)));
  ck_assert(smart__flow_look(&f, 600, 1000, now + SMART__MS(7), &kib, &pm));
  ck_assert_uint_eq(pm, 600);
  ck_assert_uint_gt(kib, 0);
  /* Over three quarters, even if not rising. */
  ck_assert(smart__flow_look(&f, 800, 1000, now + SMART__MS(9), &kib, &pm));
  ck_assert(smart__flow_look(&f, 800, 1000, now + SMART__MS(11), &kib, &pm));
  ck_assert(!smart__flow_look(&f, 700, 1000, now + SMART__MS(13), &kib, &pm));
}
END_TEST

START_TEST(move_announces_switches_and_decodes) {
  struct smart__move m;
  memset(&m, 0, sizeof(m));
  struct smart__sockaddr from = v4(0xEFFF0101u, 5000), to = v4(0xEFFF0202u, 5002), dest, g;
  uint64_t now = SMART__SEC(1);
  uint64_t close_at = smart__move_start(&m, &from, &to, SMART__MS(20), now);
  ck_assert_uint_eq(close_at, now + SMART__MS(50) + SMART__MOVE_LINGER_NS); /* lead >= 50 ms */
  uint8_t buf[256];
  unsigned sent = 0;
  for (uint64_t t = now; t < now + SMART__SEC(3); t += SMART__MS(1)) {
    size_t n = smart__move_output(&m, buf, sizeof(buf), 0x53, &dest, t);
    if (!n)
      continue;
    sent++;
    ck_assert(smart__addr_equal(&dest, &from)); /* to the group being left */
    struct smart__pkt p;
    ck_assert_int_eq(smart__pkt_decode(&p, buf, n), 0);
    ck_assert_int_eq(p.kind, SMART__K_ADDR_RANGE_CHANGE);
    ck_assert_int_eq(smart__move_target(&p, &from, &g), 0);
    ck_assert(smart__addr_equal(&g, &to));
    ck_assert_int_eq(smart__move_target(&p, &to, &g), -1); /* a repeat: already there */
  }
  ck_assert_uint_eq(sent, 11);
  ck_assert(!smart__move_switch(&m, &g, now + SMART__MS(49)));
  ck_assert(smart__move_switch(&m, &g, now + SMART__MS(50)));
  ck_assert(smart__addr_equal(&g, &to));
  ck_assert(!smart__move_switch(&m, &g, now + SMART__MS(51)));
  ck_assert_uint_eq(smart__move_expiry(&m), UINT64_MAX);
}
END_TEST

/* A plain receiver session hears junk from 4,100 ports (more than the peer
 * table holds), then a real sender: its messages are delivered. */
START_TEST(session_junk_does_not_lock_out_a_sender) {
  struct smart__opts o;
  smart__opts_init(&o);
  o.eng.seed = 42;
  struct smart__session_addrs ra = {.group = v4(0xEFFF0303u, 5000), .self = v4(HOST(1), 4001)};
  struct smart__session_addrs sa = {.group = ra.group, .self = v4(HOST(2), 4002)};
  struct smart__session *rx, *tx;
  uint64_t now = SMART__SEC(1);
  ck_assert_int_eq(smart__session_new(&rx, &o, &ra, now), 0);
  o.eng.seed = 43;
  ck_assert_int_eq(smart__session_new(&tx, &o, &sa, now), 0);
  uint8_t junk[1] = {0x53};
  for (uint32_t i = 0; i < 4100; i++) {
    struct smart__sockaddr from = v4(HOST(9), (uint16_t)(10000 + i));
    smart__session_recv(rx, junk, sizeof(junk), &from, now);
  }
  ck_assert_int_eq(smart__session_submit(tx, "hello", 5, now), 0);
  uint8_t buf[65536];
  struct smart__sockaddr to;
  int end;
  smart_ssize n;
  while ((n = smart__session_send(tx, buf, sizeof(buf), &to, &end, now)) > 0)
    smart__session_recv(rx, buf, (size_t)n, &sa.self, now);
  ck_assert_int_ge(n, 0);
  struct smart__delivery d;
  ck_assert_int_eq(smart__session_poll(rx, &d), 1);
  ck_assert_int_eq(d.kind, SMART__DLV_MESSAGE);
  ck_assert_uint_eq(d.len, 5);
  ck_assert_mem_eq(d.data, "hello", 5);
  ck_assert_str_eq(d.sender, "198.51.100.2:4002");
  struct smart_stats st;
  memset(&st, 0, sizeof(st));
  smart__session_stats(rx, &st);
  ck_assert_uint_gt(st.dgrams_received, 4100);
  ck_assert_uint_eq(st.drops_malformed, 4100);
  smart__session_del(rx);
  smart__session_del(tx);
}
END_TEST

static void add(TCase *t) {
  tcase_add_test(t, peers_ids_text_and_sender_ids);
  tcase_add_test(t, peers_request_budget);
  tcase_add_test(t, peers_full_table_takes_the_oldest_non_sender);
  tcase_add_test(t, peers_full_of_data_senders_expires_the_idle);
  tcase_add_test(t, flow_cuts_grows_and_lifts);
  tcase_add_test(t, flow_receiver_reports_a_filling_buffer);
  tcase_add_test(t, move_announces_switches_and_decodes);
  tcase_add_test(t, session_junk_does_not_lock_out_a_sender);
}

int main(void) { return unit_main("peers", add); }
