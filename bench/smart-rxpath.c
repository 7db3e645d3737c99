/*
 * smart-rxpath: the receive path alone, in one process, without the
 * kernel. A sender session's datagrams are laid out as the kernel hands
 * them to the socket with UDP_GRO (trains of equal segments, up to 64 KiB
 * an entry, 32 entries a batch) and given to a receiver session the way
 * lib/sock/io.c does (the batch lent, each segment a slice of its entry),
 * and every message is taken as smart_recv() takes it (copied to the
 * caller's buffer). It prints the wall time per message of that phase
 * (rx_phase), fastest of --runs:
 *
 *   smart-rxpath [--key] [--size BYTES] [--msgs N] [--runs R]
 *
 * Instructions per message: run it under
 *   valgrind --tool=callgrind --collect-atstart=no --toggle-collect=rx_phase
 * and divide the total by N. It prints figures and never fails on them.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "session/session.h"

#define ENTRY 65536u
#define BATCH 32u
#define MAX_ENTRIES 4096u

static struct smart__sockaddr v4(uint32_t host, uint16_t port) {
  struct smart__sockaddr a;
  memset(&a, 0, sizeof(a));
  a.u.in4.sin_family = AF_INET;
  a.u.in4.sin_addr.s_addr = htonl(host);
  a.u.in4.sin_port = htons(port);
  a.len = sizeof(struct sockaddr_in);
  return a;
}

static const uint8_t gkey[32] = {9, 8, 7};

static void opts(struct smart__opts *o, int key, uint64_t seed) {
  smart__opts_init(o);
  o->eng.seed = seed;
  o->eng.cc = SMART_CC_OFF;
  o->eng.window = 16384;
  o->eng.grtt_us = 1000;
  o->eng.sndbuf = 1ull << 30;
  if (key) {
    o->ops = smart_crypto_sodium();
    o->ops_in_place = 1; /* as the socket says for the built-in provider */
    o->keys = smart__secure_alloc(96);
    if (!o->keys)
      exit(1);
    memcpy(o->keys, gkey, 32);
    o->have_group_key = 1;
  }
}

static uint8_t *trains; /* the datagrams, as GRO entries: the receive buffers */
static size_t nent, elen[MAX_ENTRIES], eseg[MAX_ENTRIES];
static uint8_t out[65536];
static unsigned long long got;
static struct smart__sockaddr from;

/* One pass of the receive path over every entry (not static: callgrind
 * toggles on its name). */
void rx_phase(struct smart__session *rx, uint64_t now);
__attribute__((noinline)) void rx_phase(struct smart__session *rx, uint64_t now) {
  for (size_t b = 0; b < nent; b += BATCH) {
    smart__session_rx_unlend(rx);
    /* The batch as the kernel left it in the receive buffer (the entries
     * lie where they were built: no copy of the kernel's is timed). */
    size_t k = nent - b < BATCH ? nent - b : BATCH;
    uint8_t *ibuf = trains + b * ENTRY;
    smart__session_rx_lend(rx, ibuf, (size_t)BATCH * ENTRY);
    for (size_t i = 0; i < k; i++) {
      uint8_t *e = ibuf + i * ENTRY;
      size_t len = elen[b + i], seg = eseg[b + i];
      for (size_t off = 0; off < len; off += seg)
        smart__session_recv_writable(rx, e + off, len - off < seg ? len - off : seg, &from, now);
    }
    struct smart__delivery d;
    while (smart__session_poll(rx, &d))
      if (d.kind == SMART__DLV_MESSAGE) {
        memcpy(out, d.data, d.len);
        got++;
      }
  }
}

int main(int argc, char **argv) {
  int key = 0, runs = 5;
  size_t size = 1400;
  unsigned msgs = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--key"))
      key = 1;
    else if (!strcmp(argv[i], "--size") && i + 1 < argc)
      size = (size_t)atol(argv[++i]);
    else if (!strcmp(argv[i], "--msgs") && i + 1 < argc)
      msgs = (unsigned)atol(argv[++i]);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: smart-rxpath [--key] [--size BYTES] [--msgs N] [--runs R]\n");
      return 2;
    }
  }
  if (size < 1 || size > 8192 || runs < 1)
    return 2;
  if (!msgs)
    msgs = size >= 1000 ? 40000 : 400000;
  trains = malloc((size_t)(MAX_ENTRIES + BATCH) * ENTRY);
  if (!trains)
    return 1;
  double best = 0;
  size_t dgrams = 0;
  for (int r = 0; r < runs; r++) {
    struct smart__opts so, ro;
    opts(&so, key, 1);
    opts(&ro, key, 2);
    struct smart__sockaddr g = v4(0xEFFF0909u, 5000);
    struct smart__session_addrs sa = {.group = g, .self = v4(0xC6336402u, 4002)};
    struct smart__session_addrs ra = {.group = g, .self = v4(0xC6336401u, 4001)};
    from = sa.self;
    struct smart__session *tx, *rx;
    uint64_t now = 1000000000ull;
    if (smart__session_new(&tx, &so, &sa, now) || smart__session_new(&rx, &ro, &ra, now))
      return 1;
    static uint8_t msg[8192], dg[65536];
    memset(msg, 0x5a, sizeof(msg));
    size_t cur = 0, fill = 0;
    unsigned sent = 0;
    dgrams = 0;
    while (sent < msgs) {
      for (unsigned k = 0; k < 256 && sent < msgs; k++, sent++)
        if (smart__session_submit(tx, msg, size, now))
          return 1;
      struct smart__sockaddr to;
      int end;
      smart_ssize n;
      while ((n = smart__session_send(tx, dg, sizeof(dg), &to, &end, now)) > 0) {
        dgrams++;
        /* A train continues while the segments are equal (GRO). */
        if (!(fill && (size_t)n == eseg[cur] && fill + (size_t)n <= ENTRY)) {
          if (fill)
            cur++;
          if (cur >= MAX_ENTRIES) {
            fprintf(stderr, "too many datagrams: fewer --msgs\n");
            return 1;
          }
          fill = 0;
          eseg[cur] = (size_t)n;
        }
        memcpy(trains + cur * ENTRY + fill, dg, (size_t)n);
        fill += (size_t)n;
        elen[cur] = fill;
      }
      smart__session_sent(tx, 0, now);
      now += 1000000;
      smart__session_tick(tx, now);
    }
    nent = cur + 1;
    got = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rx_phase(rx, now);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / msgs;
    if (r == 0 || ns < best)
      best = ns;
    smart__session_del(tx);
    smart__session_del(rx);
    smart__opts_free(&so);
    smart__opts_free(&ro);
    if (got != msgs)
      fprintf(stderr, "delivered %llu of %u\n", got, msgs);
  }
  printf("rxpath %s size=%zu msgs=%u dgrams=%zu entries=%zu ns_per_msg=%.1f (fastest of %d)\n",
         key ? "group-key" : "plain", size, msgs, dgrams, nent, best, runs);
  return 0;
}
