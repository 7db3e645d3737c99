/*
 * The batched UDP layer (lib/net) on loopback multicast: segmentation
 * offload out (UDP_SEGMENT), coalesced datagrams in (UDP_GRO), and the
 * receive-buffer gauge flow control reads. Whatever the kernel does with a
 * batch (one offload send or many, one coalesced read or many), every
 * receiver must see the same datagrams, with the same boundaries, in order.
 */
#include <arpa/inet.h>
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/udp.h"

static struct smart__iface lo;

static void group(struct smart__sockaddr *g, int n) {
  char text[64];
  snprintf(text, sizeof(text), "239.255.%d.%u:%u", 40 + n, (unsigned)(getpid() % 250) + 1,
           21000u + (unsigned)(getpid() % 20000));
  ck_assert_int_eq(smart__addr_parse(text, 0, g), 0);
}

/* A group socket on loopback, with or without UDP_GRO. */
static int rx_socket(const struct smart__sockaddr *g, int gro) {
  int fd = smart__udp_socket(AF_INET);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(smart__udp_bind_group(fd, g), 0);
  ck_assert_int_eq(smart__mcast_membership(fd, g, &lo, NULL, 1), 0);
  if (gro)
    ck_assert_int_eq(smart__udp_gro(fd), 0); /* Linux >= 5.0 */
  return fd;
}

static int tx_socket(void) {
  int fd = smart__udp_socket(AF_INET);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(smart__udp_bind_iface(fd, &lo), 0);
  ck_assert_int_eq(smart__mcast_out(fd, AF_INET, &lo, 1, 1), 0);
  return fd;
}

/* Datagram i: `len` bytes naming i. */
static void fill(uint8_t *p, size_t len, unsigned i) {
  for (size_t k = 0; k < len; k++)
    p[k] = (uint8_t)(i * 31u + k);
}

/* Read until `want` datagrams came (split as the kernel says) or 2 s
 * passed; check each against lens[] and fill(). Returns the entries read
 * (a coalesced read is one entry). */
static unsigned expect(int fd, const size_t *lens, const unsigned *ids, unsigned want) {
  static uint8_t bufs[8][65536];
  struct smart__dgram d[8];
  unsigned got = 0, entries = 0;
  for (int waited = 0; got < want && waited < 2000;) {
    for (unsigned i = 0; i < 8; i++) {
      d[i].buf = bufs[i];
      d[i].len = sizeof(bufs[i]);
    }
    int n = smart__udp_recv_batch(fd, d, 8);
    ck_assert_int_ge(n, 0);
    if (n == 0) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      poll(&p, 1, 10);
      waited += 10;
      continue;
    }
    for (int i = 0; i < n; i++) {
      ck_assert(d[i].len != (size_t)-1);
      size_t seg = d[i].seg ? d[i].seg : d[i].len;
      entries++;
      for (size_t off = 0; off < d[i].len; off += seg) {
        size_t len = d[i].len - off < seg ? d[i].len - off : seg;
        ck_assert_uint_lt(got, want);
        ck_assert_uint_eq(len, lens[got]);
        uint8_t exp[2048];
        fill(exp, len, ids[got]);
        ck_assert_msg(memcmp(d[i].buf + off, exp, len) == 0, "datagram %u differs", got);
        got++;
      }
    }
  }
  ck_assert_uint_eq(got, want);
  return entries;
}

/* Ten datagrams of 1,000 bytes and a last one of 300 to one group: the
 * sender may send them as one offload send; a receiver with UDP_GRO may
 * read them as one entry (segment size 1,000), one without gets eleven. */
START_TEST(segmented_batch_same_datagrams) {
  struct smart__sockaddr g;
  group(&g, 1);
  int with = rx_socket(&g, 1), without = rx_socket(&g, 0), tx = tx_socket();
  static uint8_t out[11][1000];
  struct smart__dgram d[11];
  size_t lens[11];
  unsigned ids[11];
  for (unsigned i = 0; i < 11; i++) {
    lens[i] = i < 10 ? 1000 : 300;
    ids[i] = i;
    fill(out[i], lens[i], i);
    d[i].buf = out[i];
    d[i].len = lens[i];
    d[i].peer = g;
  }
  ck_assert_int_eq(smart__udp_send_batch(tx, d, 11), 11);
  unsigned e_with = expect(with, lens, ids, 11);
  unsigned e_without = expect(without, lens, ids, 11);
  ck_assert_uint_eq(e_without, 11); /* no UDP_GRO: one datagram per entry */
  printf("segmented batch: %u entr%s with UDP_GRO, %u without\n", e_with,
         e_with == 1 ? "y" : "ies", e_without);
  close(with);
  close(without);
  close(tx);
}
END_TEST

/* A batch mixing sizes and destinations: runs are cut where the size grows,
 * after a shorter datagram, and where the destination changes. */
START_TEST(mixed_batch_keeps_order_and_boundaries) {
  struct smart__sockaddr ga, gb;
  group(&ga, 2);
  group(&gb, 3);
  int ra = rx_socket(&ga, 1), rb = rx_socket(&gb, 1), tx = tx_socket();
  /* to A: 500 500 200 700 700 | to B: 64 64 | to A: 500 1 */
  const size_t L[] = {500, 500, 200, 700, 700, 64, 64, 500, 1};
  const int to_b[] = {0, 0, 0, 0, 0, 1, 1, 0, 0};
  static uint8_t out[9][1000];
  struct smart__dgram d[9];
  size_t la[9], lb[9];
  unsigned ia[9], ib[9], na = 0, nb = 0;
  for (unsigned i = 0; i < 9; i++) {
    fill(out[i], L[i], i);
    d[i].buf = out[i];
    d[i].len = L[i];
    d[i].peer = to_b[i] ? gb : ga;
    if (to_b[i]) {
      lb[nb] = L[i];
      ib[nb++] = i;
    } else {
      la[na] = L[i];
      ia[na++] = i;
    }
  }
  unsigned sent = 0;
  while (sent < 9) { /* a full socket buffer sends part of it */
    int n = smart__udp_send_batch(tx, d + sent, 9 - sent);
    ck_assert_int_gt(n, 0);
    sent += (unsigned)n;
  }
  expect(ra, la, ia, na);
  expect(rb, lb, ib, nb);
  close(ra);
  close(rb);
  close(tx);
}
END_TEST

/* The gauge: an empty buffer holds (almost) nothing; after 100 datagrams
 * nobody reads, it holds at least their bytes, and never more than it may. */
START_TEST(receive_buffer_gauge) {
  struct smart__sockaddr g;
  group(&g, 4);
  int rx = rx_socket(&g, 0), tx = tx_socket();
  uint32_t used0, size0, used1, size1;
  ck_assert_int_eq(smart__udp_rx_fill(rx, &used0, &size0), 0);
  ck_assert_uint_gt(size0, 0);
  ck_assert_uint_lt(used0, 1000);
  static uint8_t out[1200];
  struct smart__dgram d = {.buf = out, .len = sizeof(out), .peer = g};
  for (unsigned i = 0; i < 100; i++)
    ck_assert_int_eq(smart__udp_send_batch(tx, &d, 1), 1);
  usleep(20000);
  ck_assert_int_eq(smart__udp_rx_fill(rx, &used1, &size1), 0);
  ck_assert_uint_eq(size1, size0);
  ck_assert_uint_ge(used1, 100u * sizeof(out));
  ck_assert_uint_le(used1, size1 + 65536u);
  close(rx);
  close(tx);
}
END_TEST

int main(void) {
  if (smart__iface_resolve("127.0.0.1", AF_INET, &lo) != 0) {
    fprintf(stderr, "test-udp: no loopback interface with 127.0.0.1\n");
    return EXIT_FAILURE;
  }
  Suite *su = suite_create("udp");
  TCase *t = tcase_create("loopback");
  tcase_add_test(t, segmented_batch_same_datagrams);
  tcase_add_test(t, mixed_batch_keeps_order_and_boundaries);
  tcase_add_test(t, receive_buffer_gauge);
  suite_add_tcase(su, t);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
