/*
 * Security tests: the sealed-datagram layer directly (tamper, replay,
 * nonce uniqueness across a million packets, a restart and a rekey),
 * bounded state and forgeries by members in memory (the sender-ID table,
 * forged heartbeats, sealed requests for a whole window), and
 * secure sessions over real loopback multicast (wrong key, replay of a
 * captured session from a spoofed address, forged control messages from an
 * outsider, identity mode with revocation).
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

#include "crypto/crypto.h"
#include "proto/secure.h"
#include "session/session_int.h"
#include "smart/smart.h"
#include "forge.h"
#include "loop.h"
#include "util/bytes.h"
#include "util/time.h"
#include "wire/wire.h"

static const uint8_t gkey[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static struct smart__sec *sec_group(const uint8_t *key, uint32_t *id) {
  struct smart__sec_cfg c = {.ops = smart_crypto_sodium(), .mode = SMART__SEC_GROUP,
                             .group_key = key, .grace_ns = 2000000000u};
  struct smart__sec *s;
  ck_assert_int_eq(smart__sec_new(&s, &c, id), 0);
  return s;
}

/* A plaintext DATA datagram with `n` bytes of payload. */
static size_t make_data(uint8_t *buf, uint16_t seq, size_t n) {
  smart__data_hdr_write(buf, 0x53, SMART__DCMD_DATA, seq, 0, 0, 0, n);
  for (size_t i = 0; i < n; i++)
    buf[8 + i] = (uint8_t)(i * 31 + seq);
  return 8 + n;
}

/* A plaintext REPLACEMENT request. */
static size_t make_nak(uint8_t *buf, uint16_t seq) {
  struct smart__pkt p;
  memset(&p, 0, sizeof(p));
  p.sync = 0x53;
  p.typ = SMART__TYP_REQ;
  p.cmd = SMART__REQ_REPLACEMENT;
  p.u.repl.group = 0xefff0101u;
  p.u.repl.seq = seq;
  p.u.repl.extra = 2;
  return (size_t)smart__pkt_encode(buf, 256, &p);
}

START_TEST(tamper_every_bit_rejected) {
  uint32_t ida, idb;
  struct smart__sec *tx = sec_group(gkey, &ida), *rx = sec_group(gkey, &idb);
  uint8_t plain[2][512], sealed[2][512], bad[512], out[512];
  size_t pl[2] = {make_data(plain[0], 7, 100), make_nak(plain[1], 9)};
  size_t sl[2];
  for (int k = 0; k < 2; k++) {
    memcpy(sealed[k], plain[k], pl[k]);
    smart_ssize n = smart__sec_seal(tx, sealed[k], pl[k], sizeof(sealed[k]), 1);
    ck_assert_int_gt(n, (smart_ssize)pl[k]);
    sl[k] = (size_t)n;
  }
  unsigned rejected = 0, total = 0;
  for (int k = 0; k < 2; k++)
    for (size_t bit = 0; bit < sl[k] * 8; bit++) {
      memcpy(bad, sealed[k], sl[k]);
      bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      uint32_t sender;
      smart_ssize r = smart__sec_open(rx, bad, sl[k], out, sizeof(out), &sender, 2);
      total++;
      if (r < 0)
        rejected++;
      else
        ck_abort_msg("datagram %d with bit %zu flipped was accepted", k, bit);
    }
  ck_assert_uint_eq(rejected, total);
  /* The intact ones still open, to the very plaintext. */
  for (int k = 0; k < 2; k++) {
    uint32_t sender = 0;
    smart_ssize r = smart__sec_open(rx, sealed[k], sl[k], out, sizeof(out), &sender, 3);
    ck_assert_int_eq(r, (smart_ssize)pl[k]);
    ck_assert_mem_eq(out, plain[k], pl[k]);
    ck_assert_uint_eq(sender, ida);
  }
  /* ... and only once. */
  uint32_t sender;
  ck_assert_int_eq(smart__sec_open(rx, sealed[0], sl[0], out, sizeof(out), &sender, 4),
                   SMART_ERANGE);
  smart__sec_del(tx);
  smart__sec_del(rx);
}
END_TEST

/* Opening in place gives the very plaintext opening into another buffer
 * gives (data encrypted, data authenticated only, a message), refuses
 * what that refuses, and leaves AES-256-GCM to the copying path. */
START_TEST(open_in_place_same_as_open) {
  for (int auth_only = 0; auth_only < 2; auth_only++) {
    uint32_t ida, idb;
    struct smart__sec_cfg c = {.ops = smart_crypto_sodium(), .mode = SMART__SEC_GROUP,
                               .group_key = gkey, .grace_ns = 2000000000u,
                               .auth_only = auth_only};
    struct smart__sec *tx, *rx;
    ck_assert_int_eq(smart__sec_new(&tx, &c, &ida), 0);
    c.auth_only = 0;
    c.open_in_place = 1;
    ck_assert_int_eq(smart__sec_new(&rx, &c, &idb), 0);
    ck_assert(smart__sec_opens_in_place(rx));
    ck_assert(!smart__sec_opens_in_place(tx)); /* not unless the caller says */
    uint8_t plain[3][1500], sealed[3][1600];
    size_t pl[3] = {make_data(plain[0], 7, 1400), make_data(plain[1], 8, 3),
                    make_nak(plain[2], 9)};
    for (int k = 0; k < 3; k++) {
      memcpy(sealed[k], plain[k], pl[k]);
      smart_ssize n = smart__sec_seal(tx, sealed[k], pl[k], sizeof(sealed[k]), 1);
      ck_assert_int_gt(n, (smart_ssize)pl[k]);
      uint8_t bad[1600], again[1600];
      memcpy(bad, sealed[k], (size_t)n);
      memcpy(again, sealed[k], (size_t)n);
      bad[n - 1] ^= 1;
      const uint8_t *pt = NULL;
      uint32_t sender = 0;
      ck_assert_int_lt(smart__sec_open_in_place(rx, bad, (size_t)n, &pt, &sender, 2), 0);
      smart_ssize r = smart__sec_open_in_place(rx, sealed[k], (size_t)n, &pt, &sender, 2);
      ck_assert_int_eq(r, (smart_ssize)pl[k]);
      ck_assert((uintptr_t)pt >= (uintptr_t)sealed[k] &&
                (uintptr_t)pt + pl[k] <= (uintptr_t)sealed[k] + (size_t)n);
      ck_assert_mem_eq(pt, plain[k], pl[k]);
      ck_assert_uint_eq(sender, ida);
      ck_assert_int_eq(smart__sec_open_in_place(rx, again, (size_t)n, &pt, &sender, 3),
                       SMART_ERANGE); /* once only */
    }
    smart__sec_del(tx);
    smart__sec_del(rx);
  }
  /* AES-256-GCM where the provider has it: not in place, untouched. */
  uint32_t ida, idb;
  struct smart__sec_cfg c = {.ops = smart_crypto_sodium(), .mode = SMART__SEC_GROUP,
                             .group_key = gkey, .grace_ns = 2000000000u,
                             .cipher = SMART_CIPHER_AES256GCM};
  struct smart__sec_cfg rc = {.ops = smart_crypto_sodium(), .mode = SMART__SEC_GROUP,
                              .group_key = gkey, .grace_ns = 2000000000u, .open_in_place = 1};
  struct smart__sec *tx, *rx;
  ck_assert_int_eq(smart__sec_new(&rx, &rc, &idb), 0);
  if (smart__sec_new(&tx, &c, &ida) == 0) {
    uint8_t plain[64], sealed[256], copy[256];
    size_t pl = make_data(plain, 1, 20);
    memcpy(sealed, plain, pl);
    smart_ssize n = smart__sec_seal(tx, sealed, pl, sizeof(sealed), 1);
    ck_assert_int_gt(n, 0);
    memcpy(copy, sealed, (size_t)n);
    const uint8_t *pt;
    uint32_t sender;
    ck_assert_int_eq(smart__sec_open_in_place(rx, sealed, (size_t)n, &pt, &sender, 2),
                     SMART_ENOTSUP);
    ck_assert_mem_eq(sealed, copy, (size_t)n);
    smart__sec_del(tx);
  }
  smart__sec_del(rx);
}
END_TEST

START_TEST(wrong_key_and_plain_rejected) {
  uint8_t other[32];
  memcpy(other, gkey, 32);
  other[31] ^= 1;
  uint32_t ida, idb;
  struct smart__sec *tx = sec_group(gkey, &ida), *rx = sec_group(other, &idb);
  uint8_t buf[512], out[512];
  size_t n = make_data(buf, 1, 50);
  uint32_t sender;
  /* Plain (unsealed) datagrams are refused in a secure session. */
  ck_assert_int_eq(smart__sec_open(rx, buf, n, out, sizeof(out), &sender, 1), SMART_EAUTH);
  n = make_nak(buf, 3);
  ck_assert_int_eq(smart__sec_open(rx, buf, n, out, sizeof(out), &sender, 1), SMART_EAUTH);
  n = make_data(buf, 1, 50);
  smart_ssize s = smart__sec_seal(tx, buf, n, sizeof(buf), 1);
  ck_assert_int_eq(smart__sec_open(rx, buf, (size_t)s, out, sizeof(out), &sender, 1),
                   SMART_EAUTH);
  smart__sec_del(tx);
  smart__sec_del(rx);
}
END_TEST

START_TEST(replay_window) {
  uint32_t ida, idb;
  struct smart__sec *tx = sec_group(gkey, &ida), *rx = sec_group(gkey, &idb);
  enum { N = 6000 };
  static uint8_t dg[N][128];
  static size_t len[N];
  for (int i = 0; i < N; i++) {
    size_t n = make_data(dg[i], (uint16_t)i, 8);
    smart_ssize sl = smart__sec_seal(tx, dg[i], n, sizeof(dg[i]), 1);
    ck_assert_int_gt(sl, 0);
    len[i] = (size_t)sl;
  }
  uint8_t out[128];
  uint32_t sender;
  /* Out of order within the window: all accepted once. */
  for (int i = 0; i < 100; i++)
    ck_assert_int_gt(smart__sec_open(rx, dg[99 - i], len[99 - i], out, sizeof(out), &sender, 1), 0);
  for (int i = 0; i < 100; i++)
    ck_assert_int_eq(smart__sec_open(rx, dg[i], len[i], out, sizeof(out), &sender, 1),
                     SMART_ERANGE);
  /* Far ahead, then the old ones are too old to judge: refused. */
  ck_assert_int_gt(smart__sec_open(rx, dg[N - 1], len[N - 1], out, sizeof(out), &sender, 1), 0);
  ck_assert_int_eq(smart__sec_open(rx, dg[150], len[150], out, sizeof(out), &sender, 1),
                   SMART_ERANGE);
  /* Recent ones not yet seen are still welcome, once. */
  ck_assert_int_gt(smart__sec_open(rx, dg[N - 2], len[N - 2], out, sizeof(out), &sender, 1), 0);
  ck_assert_int_eq(smart__sec_open(rx, dg[N - 2], len[N - 2], out, sizeof(out), &sender, 1),
                   SMART_ERANGE);
  smart__sec_del(tx);
  smart__sec_del(rx);
}
END_TEST

/* A member seals under another's sender ID with the last counter there is:
 * refused, and the window does not wrap (it did: the member's old datagrams
 * were then accepted again). */
START_TEST(replay_window_does_not_wrap) {
  uint32_t ida, idb;
  struct smart__sec *tx = sec_group(gkey, &ida), *rx = sec_group(gkey, &idb);
  static uint8_t dg[10][128], top[128];
  size_t len[10];
  uint8_t out[128];
  uint32_t sender;
  for (int i = 0; i < 10; i++) {
    smart_ssize sl = smart__sec_seal(tx, dg[i], make_data(dg[i], (uint16_t)i, 8), 128, 1);
    ck_assert_int_gt(sl, 0);
    len[i] = (size_t)sl;
    ck_assert_int_gt(smart__sec_open(rx, dg[i], len[i], out, sizeof(out), &sender, 1), 0);
  }
  smart__sec_test_set_counter(tx, UINT64_MAX);
  smart_ssize tl = smart__sec_seal(tx, top, make_data(top, 10, 8), sizeof(top), 1);
  ck_assert_int_gt(tl, 0);
  ck_assert_int_eq(smart__sec_open(rx, top, (size_t)tl, out, sizeof(out), &sender, 1),
                   SMART_ERANGE);
  for (int i = 0; i < 10; i++)
    ck_assert_int_eq(smart__sec_open(rx, dg[i], len[i], out, sizeof(out), &sender, 1),
                     SMART_ERANGE);
  smart__sec_del(tx);
  smart__sec_del(rx);
}
END_TEST

/* Group-key mode after many rekeys: a receiver that joins when the
 * sender's epoch has passed 127 (its own is 0) takes the session's epoch,
 * and what it seals the sender accepts (before, it refused the sender's
 * datagrams as old: 0 of 60 delivered). */
START_TEST(late_joiner_after_many_rekeys) {
  uint32_t ida, idb;
  struct smart__sec *tx = sec_group(gkey, &ida), *rx = sec_group(gkey, &idb);
  uint8_t dg[128], out[128];
  uint32_t sender;
  for (int i = 0; i < 200; i++)
    ck_assert_int_eq(smart__sec_rekey(tx, 1), 0);
  ck_assert_uint_eq(smart__sec_epoch(tx), 200);
  for (int i = 0; i < 60; i++) {
    smart_ssize n = smart__sec_seal(tx, dg, make_data(dg, (uint16_t)i, 8), sizeof(dg), 2);
    ck_assert_int_gt(n, 0);
    ck_assert_int_gt(smart__sec_open(rx, dg, (size_t)n, out, sizeof(out), &sender, 2), 0);
  }
  ck_assert_uint_eq(smart__sec_epoch(rx), 200);
  smart_ssize n = smart__sec_seal(rx, dg, make_nak(dg, 3), sizeof(dg), 3);
  ck_assert_int_gt(n, 0);
  ck_assert_int_gt(smart__sec_open(tx, dg, (size_t)n, out, sizeof(out), &sender, 3), 0);
  ck_assert_uint_eq(smart__sec_epoch(tx), 200); /* nobody moved back */
  /* A socket that has taken part already does not jump back: a sender ID
   * at an older epoch (100 against 200) is refused. */
  struct smart__sec *old = sec_group(gkey, &ida);
  for (int i = 0; i < 100; i++)
    ck_assert_int_eq(smart__sec_rekey(old, 1), 0);
  n = smart__sec_seal(old, dg, make_data(dg, 0, 8), sizeof(dg), 4);
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(smart__sec_open(rx, dg, (size_t)n, out, sizeof(out), &sender, 4), SMART_EAUTH);
  ck_assert_uint_eq(smart__sec_epoch(rx), 200);
  smart__sec_del(old);
  smart__sec_del(tx);
  smart__sec_del(rx);
}
END_TEST

/* Identity-mode layers with the keys of epochs 0 and 1 installed by hand,
 * both bound to the sender ID `data_sender` (0: this socket's own). */
static struct smart__sec *sec_ident(const uint8_t k0[32], const uint8_t k1[32],
                                    uint32_t data_sender, uint32_t *id) {
  struct smart__sec_cfg c = {.ops = smart_crypto_sodium(), .mode = SMART__SEC_IDENTITY,
                             .grace_ns = 2000000000u};
  struct smart__sec *s;
  ck_assert_int_eq(smart__sec_new(&s, &c, id), 0);
  uint32_t ds = data_sender ? data_sender : *id;
  ck_assert_int_eq(smart__sec_install_key(s, 0, k0, ds), 0);
  ck_assert_int_eq(smart__sec_install_key(s, 1, k1, ds), 0);
  ck_assert_int_eq(smart__sec_use_epoch(s, 0, 0), 0);
  return s;
}

/* Property: after a revocation, a member that kept the old epoch's key
 * cannot seal DATA in the sender's name under it once a receiver has the
 * sender's datagrams of the new epoch: the previous epoch is accepted only
 * for what the sender sealed before it switched (counters below the first
 * of the new epoch, and at most 256 below). Before, for the 2 s of grace,
 * 3 of 3 forged DATA packets sealed 1.5 s after the switch were accepted. */
START_TEST(old_epoch_after_the_switch_only_below_it) {
  const uint64_t S = UINT64_C(1000000000); /* the switch, at 1 s */
  uint8_t k0[32], k1[32];
  memset(k0, 0x10, 32);
  memset(k1, 0x11, 32);
  uint32_t sid, rid;
  struct smart__sec *tx = sec_ident(k0, k1, 0, &sid), *rx = sec_ident(k0, k1, 0, &rid);
  smart__sec_del(rx);
  rx = sec_ident(k0, k1, sid, &rid);
  static uint8_t dg[400][128];
  size_t len[400];
  uint8_t out[160], plain[64], fake[160];
  uint32_t sender;
  /* 300 datagrams in epoch 0 (counters 0..299): the receiver gets all but
   * 10, 200 and 290..299 before the switch ... */
  for (int i = 0; i < 400; i++) {
    if (i == 300)
      ck_assert_int_eq(smart__sec_use_epoch(tx, 1, S), 0);
    smart_ssize n = smart__sec_seal(tx, dg[i], make_data(dg[i], (uint16_t)i, 8), 128, S);
    ck_assert_int_gt(n, 0);
    len[i] = (size_t)n;
  }
  for (int i = 0; i < 290; i++)
    if (i != 10 && i != 200)
      ck_assert_int_gt(smart__sec_open(rx, dg[i], len[i], out, sizeof(out), &sender, S), 0);
  /* ... then the new epoch's first datagrams (counters 300..309) ... */
  for (int i = 300; i < 310; i++)
    ck_assert_int_gt(smart__sec_open(rx, dg[i], len[i], out, sizeof(out), &sender, S + 1), 0);
  /* ... then, late, some of the old epoch's: sealed before the switch,
   * they still count. */
  for (int i = 290; i < 295; i++)
    ck_assert_int_gt(smart__sec_open(rx, dg[i], len[i], out, sizeof(out), &sender, S + 2), 0);
  /* 1.5 s after the switch, within the grace, a member that kept the key
   * of epoch 0 seals DATA as the sender, with counters ahead of everything. */
  unsigned forged = 0;
  for (unsigned i = 0; i < 3; i++) {
    size_t pl = make_data(plain, (uint16_t)(500 + i), 8);
    size_t n = forge_data(smart_crypto_sodium(), k0, 0, sid, 100000 + i, plain, pl, fake);
    ck_assert_uint_gt(n, 0);
    if (smart__sec_open(rx, fake, n, out, sizeof(out), &sender, S + S / 2) > 0)
      forged++;
  }
  fprintf(stderr, "old epoch 1.5 s after the switch: %u of 3 forged DATA accepted\n", forged);
  ck_assert_uint_eq(forged, 0);
  /* Nor at the counters of the new epoch it has not seen yet. */
  size_t pl = make_data(plain, 510, 8);
  size_t n = forge_data(smart_crypto_sodium(), k0, 0, sid, 320, plain, pl, fake);
  ck_assert_int_eq(smart__sec_open(rx, fake, n, out, sizeof(out), &sender, S + S / 2),
                   SMART_EAUTH);
  /* The sender's own late ones below the switch still count in the grace;
   * one more than 256 below the first new counter it saw does not (it is
   * repaired like a loss). */
  ck_assert_int_gt(smart__sec_open(rx, dg[295], len[295], out, sizeof(out), &sender, S + S / 2), 0);
  ck_assert_int_eq(smart__sec_open(rx, dg[10], len[10], out, sizeof(out), &sender, S + S / 2),
                   SMART_EAUTH);
  ck_assert_int_gt(smart__sec_open(rx, dg[200], len[200], out, sizeof(out), &sender, S + S / 2), 0);
  /* What this layer cannot tell apart: a forgery at a counter of the old
   * epoch the receiver never got (296..299 here), within the grace. Only
   * source authentication stops that one (smart-security(7)). */
  n = forge_data(smart_crypto_sodium(), k0, 0, sid, 297, plain, pl, fake);
  ck_assert_int_gt(smart__sec_open(rx, fake, n, out, sizeof(out), &sender, S + S / 2), 0);
  /* After the grace, nothing of epoch 0 at all. */
  ck_assert_int_eq(smart__sec_open(rx, dg[296], len[296], out, sizeof(out), &sender, 3 * S + 1),
                   SMART_EAUTH);
  /* The new epoch goes on. */
  for (int i = 310; i < 400; i++)
    ck_assert_int_gt(smart__sec_open(rx, dg[i], len[i], out, sizeof(out), &sender, 3 * S + 2), 0);
  smart__sec_del(tx);
  smart__sec_del(rx);
}
END_TEST

static int cmp24(const void *a, const void *b) { return memcmp(a, b, 24 + 8); }

START_TEST(nonces_never_repeat) {
  /* 1,000,000 packets from one sender (100,000 under a sanitizer), then a
   * restart of that sender with the same group key, then a rekey: every
   * (key, nonce) pair is distinct. */
  enum { EXTRA = 20000 };
  size_t first = getenv("SMART_TEST_SANITIZED") ? 100000 : 1000000;
  size_t total = first + 2 * EXTRA;
  uint8_t(*seen)[32] = malloc(total * 32);
  ck_assert_ptr_nonnull(seen);
  uint32_t id;
  struct smart__sec *tx = sec_group(gkey, &id);
  uint8_t buf[128];
  size_t k = 0;
  for (int phase = 0; phase < 3; phase++) {
    if (phase == 1) { /* restart: a new instance */
      smart__sec_del(tx);
      tx = sec_group(gkey, &id);
    } else if (phase == 2) {
      ck_assert_int_eq(smart__sec_rekey(tx, 5), 0);
    }
    size_t count = phase == 0 ? first : EXTRA;
    for (size_t i = 0; i < count; i++) {
      size_t n = make_data(buf, (uint16_t)i, 4);
      ck_assert_int_gt(smart__sec_seal(tx, buf, n, sizeof(buf), 1), 0);
      /* the key is (epoch, sender ID); with the nonce: 32 bytes */
      memset(seen[k], 0, 32);
      seen[k][0] = (uint8_t)smart__sec_epoch(tx);
      smart__put32(seen[k] + 4, id);
      smart__sec_last_nonce(tx, seen[k] + 8);
      ck_assert_mem_eq(seen[k] + 8, buf + 16, 24); /* the nonce on the wire */
      k++;
    }
  }
  qsort(seen, k, 32, cmp24);
  for (size_t i = 1; i < k; i++)
    ck_assert_msg(memcmp(seen[i - 1] + 8, seen[i] + 8, 24) != 0, "nonce repeated");
  free(seen);
  smart__sec_del(tx);
}
END_TEST

/* ---- over real sockets ----------------------------------------------- */

static void group_name(char *buf, size_t len, int test, char *ip, unsigned *port) {
  *port = 21000u + (unsigned)(getpid() % 20000);
  snprintf(ip, 32, "239.255.%d.%u", 60 + test, (unsigned)(getpid() % 250) + 1);
  snprintf(buf, len, "%s:%u", ip, *port);
}

static smart_sock *mk(const char *group, const uint8_t *key) {
  smart_sock *s;
  ck_assert_int_eq(smart_open(&s, SMART_OPEN_NONBLOCK), 0);
  uint32_t grtt = 2000;
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_GRTT_US, &grtt, 4), 0);
  if (key)
    ck_assert_int_eq(smart_setopt(s, SMART_OPT_GROUP_KEY, key, 32), 0);
  ck_assert_int_eq(smart_join(s, group, "127.0.0.1", NULL, 0), 0);
  return s;
}

/* Drain messages "msg N" from r, checking order from *next; returns how many. */
static unsigned drain(smart_sock *r, unsigned *next) {
  char buf[256], exp[64];
  unsigned got = 0;
  for (;;) {
    smart_ssize n = smart_recv(r, buf, sizeof(buf) - 1, NULL, SMART_MSG_DONTWAIT);
    if (n == SMART_EAGAIN)
      return got;
    ck_assert_int_ge(n, 0);
    buf[n] = 0;
    snprintf(exp, sizeof(exp), "msg %u", *next);
    ck_assert_str_eq(buf, exp);
    (*next)++;
    got++;
  }
}

static void send_msgs(smart_sock *s, unsigned from, unsigned to) {
  char buf[64];
  for (unsigned i = from; i < to; i++) {
    int n = snprintf(buf, sizeof(buf), "msg %u", i);
    ck_assert_int_eq(smart_send(s, buf, (size_t)n, 0), n);
  }
}

/* A plain socket joined to the group: it captures what goes by. */
static int capture_socket(const char *ip, unsigned port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, ip, &a.sin_addr);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  struct ip_mreq m;
  inet_pton(AF_INET, ip, &m.imr_multiaddr);
  m.imr_interface.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof(m)), 0);
  return fd;
}

static int raw_sender(void) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct in_addr lo = {htonl(INADDR_LOOPBACK)};
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof(lo));
  return fd;
}

static void raw_send(int fd, const char *ip, unsigned port, const uint8_t *b, size_t n) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, ip, &a.sin_addr);
  ck_assert_int_ge(sendto(fd, b, n, 0, (struct sockaddr *)&a, sizeof(a)), 0);
}

START_TEST(session_replay_from_spoofed_source) {
  char group[64], ip[32];
  unsigned port;
  group_name(group, sizeof(group), 1, ip, &port);
  int cap = capture_socket(ip, port);
  smart_sock *v[2] = {mk(group, gkey), mk(group, gkey)};
  uint8_t wrong[32];
  memset(wrong, 7, 32);
  smart_sock *outsider = mk(group, wrong);
  smart_sock *all[3] = {v[0], v[1], outsider};
  send_msgs(v[0], 0, 300);
  unsigned next = 0, onext = 0;
  uint64_t deadline = now_ms() + 10000;
  while (next < 300 && now_ms() < deadline) {
    turn(all, 3, 5);
    drain(v[1], &next);
    drain(outsider, &onext);
  }
  ck_assert_uint_eq(next, 300);
  ck_assert_uint_eq(onext, 0); /* wrong key: nothing delivered */
  struct smart_stats st = {.size = sizeof(st)};
  smart_stats(outsider, &st);
  ck_assert_uint_gt(st.drops_auth, 0);
  /* Replay everything captured, from another socket (another source address
   * and port), twice. */
  static uint8_t dgs[4096][1500];
  static size_t lens[4096];
  unsigned ncap = 0;
  for (;;) {
    ssize_t r = recv(cap, dgs[ncap], sizeof(dgs[0]), 0);
    if (r < 0 || ncap == 4095)
      break;
    lens[ncap++] = (size_t)r;
  }
  ck_assert_uint_gt(ncap, 0);
  int raw = raw_sender();
  struct smart_stats before = {.size = sizeof(before)};
  smart_stats(v[1], &before);
  for (int round = 0; round < 2; round++)
    for (unsigned i = 0; i < ncap; i++) {
      raw_send(raw, ip, port, dgs[i], lens[i]);
      if (i % 32 == 31)
        turn(v, 2, 0);
    }
  for (int k = 0; k < 30; k++) {
    turn(v, 2, 5);
    ck_assert_uint_eq(drain(v[1], &next), 0); /* nothing delivered twice */
  }
  struct smart_stats after = {.size = sizeof(after)};
  smart_stats(v[1], &after);
  ck_assert_uint_eq(after.msgs_received, 300);
  /* Every replayed datagram from the sender was refused by the replay
   * window (its own echoes it never accepts either). */
  ck_assert_uint_ge(after.drops_replay - before.drops_replay, 1);
  ck_assert_uint_eq(after.msgs_received, before.msgs_received);
  close(raw);
  close(cap);
  for (int i = 0; i < 3; i++)
    smart_close(all[i]);
}
END_TEST

START_TEST(forged_control_from_outsider_ignored) {
  char group[64], ip[32];
  unsigned port;
  group_name(group, sizeof(group), 2, ip, &port);
  smart_sock *v[2] = {mk(group, gkey), mk(group, gkey)};
  send_msgs(v[0], 0, 50);
  unsigned next = 0;
  uint64_t deadline = now_ms() + 5000;
  while (next < 50 && now_ms() < deadline) {
    turn(v, 2, 5);
    drain(v[1], &next);
  }
  ck_assert_uint_eq(next, 50);
  struct smart_stats s0 = {.size = sizeof(s0)}, r0 = {.size = sizeof(r0)};
  smart_stats(v[0], &s0);
  smart_stats(v[1], &r0);
  /* An outsider forges a REPLACEMENT for everything, a QUIET, and an
   * ADDR_RANGE_CHANGE, plain and with a bogus AUTH trailer. */
  int raw = raw_sender();
  uint8_t b[256];
  struct smart__pkt p;
  const int kinds[3][2] = {{SMART__TYP_REQ, SMART__REQ_REPLACEMENT},
                           {SMART__TYP_REQ, SMART__REQ_QUIET},
                           {SMART__TYP_MSG, SMART__MSG_ADDR_RANGE_CHANGE}};
  unsigned forged = 0;
  for (int k = 0; k < 3; k++)
    for (int variant = 0; variant < 2; variant++) {
      memset(&p, 0, sizeof(p));
      p.sync = 0x53;
      p.typ = (uint8_t)kinds[k][0];
      p.cmd = (uint8_t)kinds[k][1];
      if (k == 0) {
        p.u.repl.seq = 0;
        p.u.repl.extra = 49;
      } else if (k == 1) {
        p.u.quiet.duration = 60000;
      } else {
        p.u.addr.addr1 = 0xefff0909u;
        p.u.addr.addr2 = 0xefff0909u;
      }
      uint8_t ext[64];
      size_t el = 0;
      if (variant) {
        uint8_t junk[48];
        memset(junk, 0xa5, sizeof(junk));
        junk[0] = 0;
        smart__ext_put(ext, sizeof(ext), &el, SMART__EXT_AUTH, junk, sizeof(junk));
        p.ext = ext;
        p.ext_len = el;
      }
      smart_ssize n = smart__pkt_encode(b, sizeof(b), &p);
      ck_assert_int_gt(n, 0);
      for (int rep = 0; rep < 20; rep++) {
        raw_send(raw, ip, port, b, (size_t)n);
        forged++;
      }
    }
  close(raw);
  for (int k = 0; k < 30; k++)
    turn(v, 2, 5);
  struct smart_stats s1 = {.size = sizeof(s1)}, r1 = {.size = sizeof(r1)};
  smart_stats(v[0], &s1);
  smart_stats(v[1], &r1);
  ck_assert_uint_eq(s1.repairs_sent, s0.repairs_sent);   /* no repair for the forged NAK */
  ck_assert_uint_eq(s1.naks_received, s0.naks_received); /* never even reached the engine */
  ck_assert_uint_eq(s1.drops_auth - s0.drops_auth, forged);
  ck_assert_uint_eq(r1.drops_auth - r0.drops_auth, forged);
  /* The session carries on (the forged QUIET silenced nobody). */
  send_msgs(v[0], 50, 100);
  deadline = now_ms() + 5000;
  while (next < 100 && now_ms() < deadline) {
    turn(v, 2, 5);
    drain(v[1], &next);
  }
  ck_assert_uint_eq(next, 100);
  smart_close(v[0]);
  smart_close(v[1]);
}
END_TEST

static smart_sock *mk_ident(const char *group, const uint8_t sk[64], const uint8_t *peer) {
  smart_sock *s;
  ck_assert_int_eq(smart_open(&s, SMART_OPEN_NONBLOCK), 0);
  uint32_t grtt = 2000;
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_GRTT_US, &grtt, 4), 0);
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_IDENTITY, sk, 64), 0);
  if (peer)
    ck_assert_int_eq(smart_setopt(s, SMART_OPT_PEER_KEY, peer, 32), 0);
  return s;
}

START_TEST(identity_join_and_revocation) {
  char group[64], ip[32];
  unsigned port;
  group_name(group, sizeof(group), 3, ip, &port);
  uint8_t spk[32], ssk[64], apk[32], ask[64], bpk[32], bsk[64], cpk[32], csk[64];
  smart_identity_keypair(spk, ssk);
  smart_identity_keypair(apk, ask);
  smart_identity_keypair(bpk, bsk);
  smart_identity_keypair(cpk, csk); /* never allowed */
  smart_sock *snd = mk_ident(group, ssk, NULL);
  ck_assert_int_eq(smart_allow(snd, apk), 0);
  ck_assert_int_eq(smart_allow(snd, bpk), 0);
  ck_assert_int_eq(smart_join(snd, group, "127.0.0.1", NULL, 0), 0);
  smart_sock *a = mk_ident(group, ask, spk), *b = mk_ident(group, bsk, spk),
             *c = mk_ident(group, csk, spk);
  ck_assert_int_eq(smart_join(a, group, "127.0.0.1", NULL, 0), 0);
  ck_assert_int_eq(smart_join(b, group, "127.0.0.1", NULL, 0), 0);
  ck_assert_int_eq(smart_join(c, group, "127.0.0.1", NULL, 0), 0);
  smart_sock *all[4] = {snd, a, b, c};
  /* Let the members join and receive their keys. */
  for (int k = 0; k < 40; k++)
    turn(all, 4, 10);
  unsigned na = 0, nb = 0, nc = 0;
  send_msgs(snd, 0, 500);
  uint64_t deadline = now_ms() + 10000;
  while ((na < 500 || nb < 500) && now_ms() < deadline) {
    turn(all, 4, 5);
    drain(a, &na);
    drain(b, &nb);
    drain(c, &nc);
  }
  ck_assert_uint_eq(na, 500);
  ck_assert_uint_eq(nb, 500);
  ck_assert_uint_eq(nc, 0); /* not on the allow-list: never gets a key */
  struct smart_stats st = {.size = sizeof(st)};
  smart_stats(snd, &st);
  ck_assert_uint_gt(st.joins_refused, 0);
  /* Revoke b: a new epoch goes to a only. */
  ck_assert_int_eq(smart_revoke(snd, bpk), 0);
  for (int k = 0; k < 20; k++) { /* the switch lead (>= 50 ms) passes */
    turn(all, 4, 10);
    drain(a, &na);
    drain(b, &nb);
  }
  unsigned nb_at_switch = nb;
  send_msgs(snd, 500, 1000);
  deadline = now_ms() + 10000;
  while (na < 1000 && now_ms() < deadline) {
    turn(all, 4, 5);
    drain(a, &na);
    drain(b, &nb);
    drain(c, &nc);
  }
  for (int k = 0; k < 20; k++) {
    turn(all, 4, 5);
    drain(b, &nb);
  }
  ck_assert_uint_eq(na, 1000); /* the others lose nothing, in order */
  ck_assert_uint_eq(nb, nb_at_switch); /* the revoked member reads nothing after */
  ck_assert_uint_eq(nb, 500);
  ck_assert_uint_eq(nc, 0);
  struct smart_stats bs = {.size = sizeof(bs)};
  smart_stats(b, &bs);
  ck_assert_uint_gt(bs.drops_auth, 0);
  for (int i = 0; i < 4; i++)
    smart_close(all[i]);
}
END_TEST

/* Source authentication: a receiver that pinned the sender's key delivers
 * only what the sender signed (through manifests), even when another holder
 * of the group key sends on the group; with loss, lost manifests are
 * recovered through repairs. */
static void source_auth_case(uint32_t every, uint32_t drop_ppm, unsigned total) {
  char group[64], ip[32];
  unsigned port;
  group_name(group, sizeof(group), every == 1 ? 4 : 5, ip, &port);
  uint8_t spk[32], ssk[64];
  smart_identity_keypair(spk, ssk);
  smart_sock *snd, *rcv, *insider;
  ck_assert_int_eq(smart_open(&snd, SMART_OPEN_NONBLOCK), 0);
  ck_assert_int_eq(smart_open(&rcv, SMART_OPEN_NONBLOCK), 0);
  uint32_t grtt = 2000;
  ck_assert_int_eq(smart_setopt(snd, SMART_OPT_GRTT_US, &grtt, 4), 0);
  ck_assert_int_eq(smart_setopt(rcv, SMART_OPT_GRTT_US, &grtt, 4), 0);
  ck_assert_int_eq(smart_setopt(snd, SMART_OPT_GROUP_KEY, gkey, 32), 0);
  ck_assert_int_eq(smart_setopt(rcv, SMART_OPT_GROUP_KEY, gkey, 32), 0);
  ck_assert_int_eq(smart_setopt(snd, SMART_OPT_IDENTITY, ssk, 64), 0);
  ck_assert_int_eq(smart_setopt(snd, SMART_OPT_SOURCE_AUTH, &every, 4), 0);
  ck_assert_int_eq(smart_setopt(rcv, SMART_OPT_PEER_KEY, spk, 32), 0);
  ck_assert_int_eq(smart_setopt(rcv, SMART_OPT_SOURCE_AUTH, &every, 4), 0);
  ck_assert_int_eq(smart_setopt(rcv, SMART_OPT_DROP_PPM, &drop_ppm, 4), 0);
  /* With loss the very first datagrams may be lost too: ask for what the
   * sender's window holds rather than start at the first one heard. */
  uint32_t join = SMART_JOIN_WINDOW;
  ck_assert_int_eq(smart_setopt(rcv, SMART_OPT_LATE_JOIN, &join, 4), 0);
  ck_assert_int_eq(smart_join(snd, group, "127.0.0.1", NULL, 0), 0);
  ck_assert_int_eq(smart_join(rcv, group, "127.0.0.1", NULL, 0), 0);
  insider = mk(group, gkey);
  smart_sock *all[3] = {snd, rcv, insider};
  char buf[64];
  unsigned next = 0;
  uint64_t deadline = now_ms() + 30000;
  unsigned sent = 0;
  while (next < total && now_ms() < deadline) {
    for (int k = 0; k < 16 && sent < total; k++, sent++) {
      int n = snprintf(buf, sizeof(buf), "msg %u", sent);
      ck_assert_int_eq(smart_send(snd, buf, (size_t)n, 0), n);
      /* The insider sends look-alike messages of its own. */
      n = snprintf(buf, sizeof(buf), "msg %u", sent + 1000000);
      ck_assert_int_eq(smart_send(insider, buf, (size_t)n, 0), n);
    }
    turn(all, 3, sent < total ? 1 : 5);
    drain(rcv, &next); /* asserts "msg <next>" in order: nothing from the insider */
  }
  ck_assert_uint_eq(next, total);
  struct smart_stats ss = {.size = sizeof(ss)}, rs = {.size = sizeof(rs)};
  smart_stats(snd, &ss);
  smart_stats(rcv, &rs);
  fprintf(stderr, "END every %u: rx dgrams %llu naks %llu recovered %llu | tx dgrams %llu repairs %llu\n", every, (unsigned long long)rs.dgrams_received, (unsigned long long)rs.naks_sent, (unsigned long long)rs.losses_recovered, (unsigned long long)ss.dgrams_sent, (unsigned long long)ss.repairs_sent);
  ck_assert_uint_gt(ss.manifests_sent, 0);
  ck_assert_uint_gt(rs.manifests_verified, 0);
  if (every > 1)
    ck_assert_uint_lt(ss.manifests_sent, ss.dgrams_sent / 2);
  /* The insider's held datagrams do not stand in the way of the signer's:
   * repairs are about what was lost (none without loss; at 5%, a few
   * hundred with the manifests' share). When they did, the sender repaired
   * a third to all of its data without loss and 2 to 5 times all of it at
   * 5%. */
  ck_assert_msg(ss.repairs_sent < (drop_ppm ? total : total / 4), "%llu repairs for %u messages",
                (unsigned long long)ss.repairs_sent, total);
  for (int i = 0; i < 3; i++)
    smart_close(all[i]);
}

START_TEST(source_auth_manifests) { source_auth_case(32, 0, 3000); }
END_TEST

START_TEST(source_auth_manifests_with_loss) { source_auth_case(32, 50000, 3000); }
END_TEST

START_TEST(source_auth_every_datagram) { source_auth_case(1, 0, 300); }
END_TEST

/* Periodic rekey (SMART_OPT_REKEY_MS) while data flows: every epoch
 * switch is seamless for the receiver (nothing lost, nothing twice). */
START_TEST(periodic_rekey_is_seamless) {
  char group[64], ip[32];
  unsigned port;
  group_name(group, sizeof(group), 6, ip, &port);
  smart_sock *snd, *rcv;
  ck_assert_int_eq(smart_open(&snd, SMART_OPEN_NONBLOCK), 0);
  uint32_t grtt = 2000, every_ms = 100;
  ck_assert_int_eq(smart_setopt(snd, SMART_OPT_GRTT_US, &grtt, 4), 0);
  ck_assert_int_eq(smart_setopt(snd, SMART_OPT_GROUP_KEY, gkey, 32), 0);
  ck_assert_int_eq(smart_setopt(snd, SMART_OPT_REKEY_MS, &every_ms, 4), 0);
  ck_assert_int_eq(smart_join(snd, group, "127.0.0.1", NULL, 0), 0);
  rcv = mk(group, gkey);
  smart_sock *v[2] = {snd, rcv};
  unsigned next = 0, sent = 0;
  uint64_t start = now_ms(), deadline = start + 10000;
  while (next < 1500 && now_ms() < deadline) {
    if (sent < 1500 && now_ms() - start >= sent) { /* one per millisecond */
      send_msgs(snd, sent, sent + 1);
      sent++;
    }
    turn(v, 2, 1);
    drain(rcv, &next);
  }
  ck_assert_uint_eq(next, 1500);
  struct smart_stats ss = {.size = sizeof(ss)}, rs = {.size = sizeof(rs)};
  smart_stats(snd, &ss);
  smart_stats(rcv, &rs);
  ck_assert_uint_ge(ss.rekeys, 8);        /* about one per 100 ms for 1.5 s */
  ck_assert_uint_ge(rs.rekeys, 8);        /* the receiver followed each one */
  ck_assert_uint_eq(rs.drops_auth, 0);    /* no datagram failed across a switch */
  ck_assert_uint_eq(rs.losses_unrecoverable, 0);
  smart_close(snd);
  smart_close(rcv);
}
END_TEST


/* ---- bounded state, in memory ----------------------------------------- */

/* Seal buf[0..n) with s; the sealed length. */
static size_t seal_at(struct smart__sec *s, uint8_t *buf, size_t n, size_t cap, uint64_t now) {
  smart_ssize r = smart__sec_seal(s, buf, n, cap, now);
  ck_assert_int_gt(r, 0);
  return (size_t)r;
}

/* A member makes up 4,100 sender IDs (one sealed request each) after a
 * data sender was heard: every one is heard, the table stays at 4,096
 * entries, the data sender keeps its slot and its replay window, and a
 * later sender is heard (it was refused: 0 of 300). */
START_TEST(made_up_sender_ids_do_not_lock_out_a_sender) {
  uint32_t idr, ida, idb, idm;
  struct smart__sec *rx = sec_group(gkey, &idr), *a = sec_group(gkey, &ida);
  uint8_t first[256], dg[256], out[256];
  uint32_t sender;
  uint64_t now = SMART__SEC(1);
  size_t fl = seal_at(a, first, make_data(first, 0, 20), sizeof(first), now);
  ck_assert_int_gt(smart__sec_open(rx, first, fl, out, sizeof(out), &sender, now), 0);
  smart__sec_heard_data(rx, ida); /* the engine took its data */
  unsigned made_up = 0;
  for (int i = 0; i < 4100; i++) {
    struct smart__sec *m = sec_group(gkey, &idm);
    size_t n = seal_at(m, dg, make_nak(dg, (uint16_t)i), sizeof(dg), now);
    now += SMART__MS(1);
    made_up += smart__sec_open(rx, dg, n, out, sizeof(out), &sender, now) > 0;
    smart__sec_del(m);
  }
  ck_assert_uint_eq(made_up, 4100);
  ck_assert_uint_eq(smart__sec_senders(rx), 4096);
  ck_assert_uint_eq(smart__sec_evicted(rx), 4100 - 4095);
  struct smart__sec *b = sec_group(gkey, &idb);
  unsigned heard = 0;
  for (int i = 0; i < 300; i++) {
    size_t n = seal_at(b, dg, make_data(dg, (uint16_t)i, 20), sizeof(dg), now);
    now += SMART__MS(1);
    heard += smart__sec_open(rx, dg, n, out, sizeof(out), &sender, now) > 0;
  }
  ck_assert_uint_eq(heard, 300);
  ck_assert_uint_eq(smart__sec_senders(rx), 4096);
  /* The data sender was not pushed out: its first datagram is still a
   * replay, its next one is heard. */
  ck_assert_int_eq(smart__sec_open(rx, first, fl, out, sizeof(out), &sender, now), SMART_ERANGE);
  size_t n = seal_at(a, dg, make_data(dg, 1, 20), sizeof(dg), now);
  ck_assert_int_gt(smart__sec_open(rx, dg, n, out, sizeof(out), &sender, now), 0);
  /* The later sender took one more made-up ID's slot. */
  ck_assert_uint_eq(smart__sec_evicted(rx), 4100 - 4095 + 1);
  smart__sec_del(b);
  smart__sec_del(a);
  smart__sec_del(rx);
}
END_TEST

/* Identity mode: a revoked member still holds the old epoch's key and,
 * within the grace, fills the sender's table with made-up IDs. A receiver
 * that joins later is still heard (its requests were refused: no repairs). */
START_TEST(revoked_member_in_grace_does_not_lock_out_a_receiver) {
  struct smart__sec_cfg c = {.ops = smart_crypto_sodium(), .mode = SMART__SEC_IDENTITY,
                             .grace_ns = SMART__SEC(2)};
  uint8_t k0[32], k1[32], dg[256], out[256];
  memset(k0, 0x10, 32);
  memset(k1, 0x11, 32);
  uint32_t ids, idm, idl, sender;
  struct smart__sec *snd;
  ck_assert_int_eq(smart__sec_new(&snd, &c, &ids), 0);
  uint64_t now = SMART__SEC(1);
  ck_assert_int_eq(smart__sec_install_key(snd, 0, k0, ids), 0);
  ck_assert_int_eq(smart__sec_use_epoch(snd, 0, now), 0);
  /* The revocation: epoch 1, whose key the member never gets. */
  ck_assert_int_eq(smart__sec_install_key(snd, 1, k1, ids), 0);
  ck_assert_int_eq(smart__sec_use_epoch(snd, 1, now), 0);
  unsigned made_up = 0;
  for (int i = 0; i < 4100; i++) {
    struct smart__sec *m;
    ck_assert_int_eq(smart__sec_new(&m, &c, &idm), 0);
    ck_assert_int_eq(smart__sec_install_key(m, 0, k0, ids), 0);
    ck_assert_int_eq(smart__sec_use_epoch(m, 0, now), 0);
    size_t n = seal_at(m, dg, make_nak(dg, (uint16_t)i), sizeof(dg), now);
    now += SMART__US(100);
    made_up += smart__sec_open(snd, dg, n, out, sizeof(out), &sender, now) > 0;
    smart__sec_del(m);
  }
  ck_assert_uint_eq(made_up, 4100);
  struct smart__sec *late;
  ck_assert_int_eq(smart__sec_new(&late, &c, &idl), 0);
  ck_assert_int_eq(smart__sec_install_key(late, 1, k1, ids), 0);
  ck_assert_int_eq(smart__sec_use_epoch(late, 1, now), 0);
  unsigned heard = 0;
  for (int i = 0; i < 50; i++) {
    size_t n = seal_at(late, dg, make_nak(dg, (uint16_t)i), sizeof(dg), now);
    now += SMART__MS(1);
    heard += smart__sec_open(snd, dg, n, out, sizeof(out), &sender, now) > 0;
  }
  ck_assert_uint_eq(heard, 50);
  smart__sec_del(late);
  smart__sec_del(snd);
}
END_TEST

/* A table of 4,096 data senders heard within the last minute refuses a
 * newcomer rather than forget a replay window; once one of them has been
 * silent for 60 s, the newcomer takes its entry. */
START_TEST(table_of_active_data_senders_refuses_then_expires) {
  uint32_t idr, id;
  struct smart__sec *rx = sec_group(gkey, &idr);
  uint8_t dg[256], out[256];
  uint32_t sender;
  uint64_t now = SMART__SEC(1);
  for (int i = 0; i < 4096; i++) {
    struct smart__sec *m = sec_group(gkey, &id);
    size_t n = seal_at(m, dg, make_data(dg, 0, 8), sizeof(dg), now);
    ck_assert_int_gt(smart__sec_open(rx, dg, n, out, sizeof(out), &sender, now), 0);
    smart__sec_heard_data(rx, id);
    smart__sec_del(m);
    now += SMART__US(10);
  }
  struct smart__sec *late = sec_group(gkey, &id);
  size_t n = seal_at(late, dg, make_data(dg, 0, 8), sizeof(dg), now);
  ck_assert_int_eq(smart__sec_open(rx, dg, n, out, sizeof(out), &sender, now + SMART__SEC(59)),
                   SMART_EAUTH);
  ck_assert_uint_eq(smart__sec_evicted(rx), 0);
  ck_assert_int_gt(smart__sec_open(rx, dg, n, out, sizeof(out), &sender, now + SMART__SEC(61)),
                   0);
  ck_assert_uint_eq(smart__sec_evicted(rx), 1);
  ck_assert_uint_eq(smart__sec_senders(rx), 4096);
  smart__sec_del(late);
  smart__sec_del(rx);
}
END_TEST

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

/* Options of an in-memory session in group-key mode. */
static void opts_group(struct smart__opts *o, uint64_t seed) {
  smart__opts_init(o);
  o->eng.seed = seed;
  o->ops = smart_crypto_sodium();
  o->keys = smart__secure_alloc(SMART_KEY_BYTES + SMART_SECKEY_BYTES);
  ck_assert_ptr_nonnull(o->keys);
  memcpy(o->keys, gkey, 32);
  o->have_group_key = 1;
}

/* Hand every datagram tx has due at `now` to rx (as if from `from`), and
 * what rx answers (requests, reports) back to tx from `back`. */
static void pump2(struct smart__session *tx, const struct smart__sockaddr *from,
                  struct smart__session *rx, const struct smart__sockaddr *back, uint64_t now) {
  static uint8_t buf[65536];
  struct smart__sockaddr to;
  int end, moved;
  smart_ssize n;
  do {
    moved = 0;
    smart__session_tick(tx, now);
    while ((n = smart__session_send(tx, buf, sizeof(buf), &to, &end, now)) > 0) {
      smart__session_recv(rx, buf, (size_t)n, from, now);
      moved = 1;
    }
    ck_assert_int_ge(n, 0);
    smart__session_tick(rx, now);
    while (back && (n = smart__session_send(rx, buf, sizeof(buf), &to, &end, now)) > 0) {
      smart__session_recv(tx, buf, (size_t)n, back, now);
      moved = 1;
    }
    ck_assert_int_ge(n, 0);
  } while (moved);
}

static void pump(struct smart__session *tx, const struct smart__sockaddr *from,
                 struct smart__session *rx, uint64_t now) {
  pump2(tx, from, rx, NULL, now);
}

/* Messages rx delivers; every one must be "m N" in order from *next. */
static unsigned delivered(struct smart__session *rx, unsigned *next) {
  struct smart__delivery d;
  unsigned k = 0;
  char want[32];
  while (smart__session_poll(rx, &d)) {
    ck_assert_msg(d.kind == SMART__DLV_MESSAGE, "loss of %u at %llu, expecting m %u", d.count,
                  (unsigned long long)d.seq, *next);
    int n = snprintf(want, sizeof(want), "m %u", *next);
    ck_assert_uint_eq(d.len, (size_t)n);
    ck_assert_mem_eq(d.data, want, (size_t)n);
    (*next)++;
    k++;
  }
  return k;
}

/* Source authentication between two sessions: a lone message is released
 * as soon as the sender has nothing more to send (an early manifest), not
 * after the interval; with early manifests off, only after the interval. */
/* pump2, with the shell's side of the contract: a batch ends where the
 * session says (end_batch) and what went is reported (session_sent). */
static void pump_sent(struct smart__session *tx, const struct smart__sockaddr *from,
                      struct smart__session *rx, const struct smart__sockaddr *back,
                      uint64_t now) {
  static uint8_t buf[65536];
  struct smart__sockaddr to;
  int end, moved;
  smart_ssize n;
  do {
    moved = 0;
    smart__session_tick(tx, now);
    do {
      uint64_t bytes = 0;
      while ((n = smart__session_send(tx, buf, sizeof(buf), &to, &end, now)) > 0) {
        smart__session_recv(rx, buf, (size_t)n, from, now);
        bytes += (uint64_t)n;
        moved = 1;
        if (end)
          break;
      }
      ck_assert_int_ge(n, 0);
      if (bytes)
        smart__session_sent(tx, bytes, now);
    } while (end);
    smart__session_tick(rx, now);
    while ((n = smart__session_send(rx, buf, sizeof(buf), &to, &end, now)) > 0) {
      smart__session_recv(tx, buf, (size_t)n, back, now);
      moved = 1;
    }
    ck_assert_int_ge(n, 0);
  } while (moved);
}

START_TEST(session_source_auth_lone_message_early) {
  for (uint32_t early = 0; early <= 50; early += 50) {
    uint8_t pk[32], sk[64];
    ck_assert_int_eq(smart_identity_keypair(pk, sk), 0);
    struct smart__opts ro, so;
    opts_group(&ro, 11);
    opts_group(&so, 12);
    memcpy(so.keys + 32, sk, 64);
    so.have_identity = 1;
    so.sauth_every = ro.sauth_every = 64;
    so.sauth_early = early;
    memcpy(ro.pins[0], pk, 32);
    ro.npins = 1;
    struct smart__sockaddr g = v4(0xEFFF0405u, 5000);
    struct smart__session_addrs ra = {.group = g, .self = v4(HOST(1), 4001)};
    struct smart__session_addrs sa = {.group = g, .self = v4(HOST(2), 4002)};
    struct smart__session *rx, *tx;
    uint64_t now = SMART__SEC(1);
    ck_assert_int_eq(smart__session_new(&rx, &ro, &ra, now), 0);
    ck_assert_int_eq(smart__session_new(&tx, &so, &sa, now), 0);
    unsigned next = 0;
    for (unsigned i = 0; i < 20; i++) {
      char msg[32];
      int n = snprintf(msg, sizeof(msg), "m %u", i);
      ck_assert_int_eq(smart__session_submit(tx, msg, (size_t)n, now), 0);
      pump_sent(tx, &sa.self, rx, &ra.self, now);
      unsigned got = delivered(rx, &next);
      if (early) {
        ck_assert_uint_eq(got, 1); /* at once */
      } else {
        ck_assert_uint_eq(got, 0); /* held until the manifest */
        pump_sent(tx, &sa.self, rx, &ra.self, now + SMART__MS(10));
        ck_assert_uint_eq(delivered(rx, &next), 1);
      }
      now += SMART__MS(20); /* idle in between: credit for the next */
    }
    ck_assert_uint_eq(next, 20);
    struct smart_stats st;
    memset(&st, 0, sizeof(st));
    smart__session_stats(rx, &st);
    ck_assert_uint_eq(st.drops_unsigned, 0);
    ck_assert_uint_ge(st.manifests_verified, 20);
    smart__session_del(rx);
    smart__session_del(tx);
    smart__opts_free(&ro);
    smart__opts_free(&so);
  }
}
END_TEST

/* The same through a receiver session: a member's 4,100 made-up sender
 * IDs, then a real sender's 300 messages, all delivered (0 of 300 before). */
START_TEST(session_made_up_ids_do_not_lock_out_a_sender) {
  struct smart__opts ro, so;
  opts_group(&ro, 7);
  opts_group(&so, 8);
  struct smart__sockaddr g = v4(0xEFFF0404u, 5000);
  struct smart__session_addrs ra = {.group = g, .self = v4(HOST(1), 4001)};
  struct smart__session_addrs sa = {.group = g, .self = v4(HOST(2), 4002)};
  struct smart__session *rx, *tx;
  uint64_t now = SMART__SEC(1);
  ck_assert_int_eq(smart__session_new(&rx, &ro, &ra, now), 0);
  uint8_t dg[256];
  for (uint32_t i = 0; i < 4100; i++) {
    uint32_t id;
    struct smart__sec *m = sec_group(gkey, &id);
    size_t n = seal_at(m, dg, make_nak(dg, (uint16_t)i), sizeof(dg), now);
    struct smart__sockaddr from = v4(HOST(9), (uint16_t)(10000 + i));
    smart__session_recv(rx, dg, n, &from, now);
    smart__sec_del(m);
    now += SMART__US(100);
  }
  ck_assert_int_eq(smart__session_new(&tx, &so, &sa, now), 0);
  unsigned next = 0, got = 0;
  char msg[32];
  for (unsigned i = 0; i < 300; i++) {
    int n = snprintf(msg, sizeof(msg), "m %u", i);
    ck_assert_int_eq(smart__session_submit(tx, msg, (size_t)n, now), 0);
    pump(tx, &sa.self, rx, now);
    got += delivered(rx, &next);
    now += SMART__MS(1);
  }
  ck_assert_uint_eq(got, 300);
  struct smart_stats st;
  memset(&st, 0, sizeof(st));
  smart__session_stats(rx, &st);
  ck_assert_uint_eq(st.drops_auth, 0);
  smart__session_del(rx);
  smart__session_del(tx);
  smart__opts_free(&ro);
  smart__opts_free(&so);
}
END_TEST

/* One forged heartbeat claiming a lead far ahead, by an outsider in a plain
 * session and by a member in a group-key session (sealed under the
 * sender's ID): the next 1,500 messages are all delivered (0 of 1,500). */
START_TEST(forged_heartbeat_does_not_end_the_stream) {
  for (int keyed = 0; keyed < 2; keyed++) {
    struct smart__opts ro, so;
    if (keyed) {
      opts_group(&ro, 11);
      opts_group(&so, 12);
    } else {
      smart__opts_init(&ro);
      smart__opts_init(&so);
      ro.eng.seed = 11;
      so.eng.seed = 12;
      so.eng.session = 0x5e551017u; /* what a forger reads off a heartbeat */
    }
    struct smart__sockaddr g = v4(0xEFFF0505u, 5000);
    struct smart__session_addrs ra = {.group = g, .self = v4(HOST(1), 4001)};
    struct smart__session_addrs sa = {.group = g, .self = v4(HOST(2), 4002)};
    struct smart__session *rx, *tx;
    uint64_t now = SMART__SEC(1);
    ck_assert_int_eq(smart__session_new(&rx, &ro, &ra, now), 0);
    ck_assert_int_eq(smart__session_new(&tx, &so, &sa, now), 0);
    unsigned next = 0, got = 0;
    char msg[32];
    for (unsigned i = 0; i < 1600; i++) {
      if (i == 100) { /* the forgery */
        uint8_t f[512];
        uint64_t lead = smart__engine_tx_lead(tx->eng) + 1000000;
        struct smart__hb hb = {.session = tx->cfg.session, .lead = lead, .trail = lead,
                               .grtt_us = 5000, .gsize = 1000, .k = 6};
        smart__hb_encode(f + 8, &hb);
        size_t n = 8 + smart__hb_len(&hb);
        smart__data_hdr_write(f, so.eng.sync, SMART__DCMD_HEARTBEAT, (uint16_t)lead,
                              SMART__FMT_WHOLE, 0, 0, smart__hb_len(&hb));
        if (keyed) {
          uint32_t idm;
          struct smart__sec *m = sec_group(gkey, &idm);
          smart__sec_test_set_id(m, tx->cfg.session);
          /* a counter ahead of the sender's, by less than its window */
          smart__sec_test_set_counter(m, smart__sec_last_counter(tx->sec) + 50);
          n = seal_at(m, f, n, sizeof(f), now);
          smart__sec_del(m);
        }
        smart__session_recv(rx, f, n, &sa.self, now);
        ck_assert_uint_eq(got, 100);
      }
      int n = snprintf(msg, sizeof(msg), "m %u", i);
      ck_assert_int_eq(smart__session_submit(tx, msg, (size_t)n, now), 0);
      pump2(tx, &sa.self, rx, &ra.self, now);
      got += delivered(rx, &next);
      now += SMART__MS(1);
    }
    for (int t = 0; t < 2000 && got < 1600; t++, now += SMART__MS(1)) {
      pump2(tx, &sa.self, rx, &ra.self, now);
      got += delivered(rx, &next);
    }
    ck_assert_msg(got == 1600, "%s: %u of 1500 delivered after the forgery",
                  keyed ? "group key" : "plain", got - 100);
    smart__session_del(rx);
    smart__session_del(tx);
    smart__opts_free(&ro);
    smart__opts_free(&so);
  }
}
END_TEST

/* A member's sealed requests for the whole window of an idle sender, 10 ms
 * apart, under 19 made-up sender IDs: the sender's repairs are bounded
 * (19 requests drew 19 windows, 77,824 repairs). */
START_TEST(sealed_requests_do_not_storm) {
  struct smart__opts so;
  opts_group(&so, 13);
  so.eng.cc = SMART_CC_OFF; /* the whole window goes out at once */
  struct smart__sockaddr g = v4(0xEFFF0606u, 5000);
  struct smart__session_addrs sa = {.group = g, .self = v4(HOST(2), 4002)};
  struct smart__session *tx;
  uint64_t now = SMART__SEC(1);
  ck_assert_int_eq(smart__session_new(&tx, &so, &sa, now), 0);
  static uint8_t m[1400], buf[65536];
  for (unsigned i = 0; i < 4096; i++) {
    memset(m, (int)i, sizeof(m));
    ck_assert_int_eq(smart__session_submit(tx, m, sizeof(m), now), 0);
  }
  struct smart__sockaddr to;
  int end;
  smart_ssize n;
  while ((n = smart__session_send(tx, buf, sizeof(buf), &to, &end, now)) > 0)
    ;
  ck_assert_int_eq(n, 0);
  ck_assert_uint_eq(smart__engine_tx_lead(tx->eng), 4096);
  uint64_t req_bytes = 0, out_bytes = 0, repairs = 0;
  for (unsigned i = 0; i < 19; i++) {
    now += SMART__MS(10);
    uint8_t sv[4], ext[8];
    size_t el = 0;
    smart__put32(sv, tx->cfg.session);
    ck_assert_int_eq(smart__ext_put(ext, sizeof(ext), &el, SMART__EXT_SESSION, sv, 4), 0);
    struct smart__pkt p;
    memset(&p, 0, sizeof(p));
    p.sync = so.eng.sync;
    p.typ = SMART__TYP_REQ;
    p.cmd = SMART__REQ_REPLACEMENT;
    p.u.repl.seq = 0;
    p.u.repl.extra = 4095;
    p.ext = ext;
    p.ext_len = el;
    uint8_t rq[256];
    smart_ssize rl = smart__pkt_encode(rq, sizeof(rq), &p);
    ck_assert_int_gt(rl, 0);
    uint32_t id;
    struct smart__sec *mb = sec_group(gkey, &id);
    size_t sl = seal_at(mb, rq, (size_t)rl, sizeof(rq), now);
    smart__sec_del(mb);
    struct smart__sockaddr from = v4(HOST(9), (uint16_t)(20000 + i));
    smart__session_recv(tx, rq, sl, &from, now);
    req_bytes += sl;
    while ((n = smart__session_send(tx, buf, sizeof(buf), &to, &end, now)) > 0) {
      out_bytes += (uint64_t)n;
      repairs += (buf[1] >> 6) == SMART__TYP_DATA && ((buf[1] >> 4) & 3) == SMART__DCMD_REPAIR;
    }
    smart__session_tick(tx, now);
  }
  fprintf(stderr, "sealed: 19 requests (%llu B) drew %llu repairs (%llu B out, %.0fx)\n",
          (unsigned long long)req_bytes, (unsigned long long)repairs,
          (unsigned long long)out_bytes, (double)out_bytes / (double)req_bytes);
  /* All of them together: the window twice, and its return, 4 windows. */
  ck_assert_uint_ge(repairs, 4096);
  ck_assert_uint_le(repairs, 4 * 4096 + 4096 / 8);
  struct smart_stats st;
  memset(&st, 0, sizeof(st));
  smart__session_stats(tx, &st);
  ck_assert_uint_gt(st.naks_limited, 0);
  smart__session_del(tx);
  smart__opts_free(&so);
}
END_TEST

int main(void) {
  Suite *su = suite_create("secure");
  TCase *u = tcase_create("layer");
  tcase_add_test(u, open_in_place_same_as_open);
  tcase_set_timeout(u, 300);
  tcase_add_test(u, tamper_every_bit_rejected);
  tcase_add_test(u, wrong_key_and_plain_rejected);
  tcase_add_test(u, replay_window);
  tcase_add_test(u, replay_window_does_not_wrap);
  tcase_add_test(u, late_joiner_after_many_rekeys);
  tcase_add_test(u, old_epoch_after_the_switch_only_below_it);
  suite_add_tcase(su, u);
  TCase *b = tcase_create("bounds"); /* bounded state, in memory */
  tcase_set_timeout(b, 300);
  tcase_add_test(b, made_up_sender_ids_do_not_lock_out_a_sender);
  tcase_add_test(b, revoked_member_in_grace_does_not_lock_out_a_receiver);
  tcase_add_test(b, table_of_active_data_senders_refuses_then_expires);
  tcase_add_test(b, session_made_up_ids_do_not_lock_out_a_sender);
  tcase_add_test(b, session_source_auth_lone_message_early);
  tcase_add_test(b, forged_heartbeat_does_not_end_the_stream);
  tcase_add_test(b, sealed_requests_do_not_storm);
  suite_add_tcase(su, b);
  TCase *nn = tcase_create("nonces"); /* a million seals: not under valgrind */
  tcase_set_timeout(nn, 300);
  tcase_add_test(nn, nonces_never_repeat);
  suite_add_tcase(su, nn);
  TCase *n = tcase_create("sockets");
  tcase_set_timeout(n, 300);
  tcase_add_test(n, session_replay_from_spoofed_source);
  tcase_add_test(n, forged_control_from_outsider_ignored);
  tcase_add_test(n, identity_join_and_revocation);
  tcase_add_test(n, periodic_rekey_is_seamless);
  tcase_add_test(n, source_auth_manifests);
  tcase_add_test(n, source_auth_manifests_with_loss);
  tcase_add_test(n, source_auth_every_datagram);
  suite_add_tcase(su, n);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
