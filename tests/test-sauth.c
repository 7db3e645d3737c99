/*
 * The source-authentication room (lib/proto/sauth), driven directly: no
 * socket, no session, no clock. A sender seals datagrams (the secure room,
 * group mode), notes them and emits signed manifests; a receiver opens
 * them, holds them until a manifest signed by a pinned key vouches for
 * them, releases them in order and drops what no manifest covers.
 */
#include <check.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "proto/sauth.h"
#include "proto/secure.h"
#include "util/bytes.h"
#include "util/time.h"
#include "wire/wire.h"

#include "unit.h"

#define T0 SMART__SEC(100)
#define SYNC 0x53
#define GROUP4 0xEFFF0101u
#define IVL SMART__MS(10)
#define HOLD SMART__MS(500)

static const uint8_t group_key[32] = {7, 7, 7};

/* One datagram as sealed and as opened. */
struct dg {
  uint8_t sealed[256], plain[256];
  size_t slen, plen;
  uint32_t sid;
  uint64_t counter;
};

struct rig {
  uint8_t pk[32], sk[64];
  struct smart__sec *tx_sec, *rx_sec;
  struct smart__sauth *tx, *rx;
  uint32_t tx_id;
};

static struct smart__sec *sec_make(uint32_t *id) {
  struct smart__sec_cfg cfg = {.ops = smart_crypto_sodium(),
                               .mode = SMART__SEC_GROUP,
                               .group_key = group_key,
                               .grace_ns = SMART__SEC(2)};
  struct smart__sec *s;
  ck_assert_int_eq(smart__sec_new(&s, &cfg, id), 0);
  return s;
}

static struct smart__sauth *tx_make(const uint8_t sk[64], uint32_t every) {
  struct smart__sauth_cfg c = {.ops = smart_crypto_sodium(), .sk = sk, .every = every,
                               .interval_ns = IVL};
  struct smart__sauth *sa;
  ck_assert_int_eq(smart__sauth_new(&sa, &c), 0);
  return sa;
}

static struct smart__sauth *tx_make_early(const uint8_t sk[64], uint32_t every, uint32_t pct) {
  struct smart__sauth_cfg c = {.ops = smart_crypto_sodium(), .sk = sk, .every = every,
                               .interval_ns = IVL, .early_pct = pct};
  struct smart__sauth *sa;
  ck_assert_int_eq(smart__sauth_new(&sa, &c), 0);
  return sa;
}

static struct smart__sauth *rx_make(const uint8_t *pin) {
  struct smart__sauth_cfg c = {.ops = smart_crypto_sodium(), .interval_ns = IVL, .require = 1,
                               .hold_ns = HOLD, .max_len = 1500};
  struct smart__sauth *sa;
  ck_assert_int_eq(smart__sauth_new(&sa, &c), 0);
  if (pin)
    ck_assert_int_eq(smart__sauth_pin(sa, pin), 0);
  return sa;
}

static void rig_make(struct rig *r, uint32_t every) {
  memset(r, 0, sizeof(*r));
  ck_assert_int_eq(smart_identity_keypair(r->pk, r->sk), 0);
  uint32_t rx_id;
  r->tx_sec = sec_make(&r->tx_id);
  r->rx_sec = sec_make(&rx_id);
  r->tx = tx_make(r->sk, every);
  r->rx = rx_make(r->pk);
}

static void rig_del(struct rig *r) {
  smart__sec_del(r->tx_sec);
  smart__sec_del(r->rx_sec);
  smart__sauth_del(r->tx);
  smart__sauth_del(r->rx);
}

/* A rig whose sender makes early manifests (sauth.h), signing in `sign`
 * ns (0: as measured by default). */
static void rig_make_early(struct rig *r, uint32_t every, uint32_t pct, uint64_t sign) {
  rig_make(r, 64);
  smart__sauth_del(r->tx);
  r->tx = tx_make_early(r->sk, every, pct);
  if (sign)
    smart__sauth_set_sign_cost(r->tx, sign);
}

/* Seal a DATA datagram with payload byte i; the receiver opens it. Not
 * noted (the caller decides). */
static void seal_data(struct rig *r, struct dg *d, unsigned i, uint64_t now) {
  uint8_t *b = d->sealed;
  size_t len = SMART__DATA_HDR_LEN + 20;
  memset(b, 0, sizeof(d->sealed));
  b[0] = SYNC;
  b[1] = SMART__TYP_DATA << 6 | SMART__DCMD_DATA << 4;
  smart__put16(b + 2, (uint16_t)len);
  smart__put16(b + 4, (uint16_t)i);
  memset(b + SMART__DATA_HDR_LEN, (int)(i & 0xFF), 20);
  smart_ssize n = smart__sec_seal(r->tx_sec, b, len, sizeof(d->sealed), now);
  ck_assert_int_gt(n, 0);
  d->slen = (size_t)n;
  d->counter = smart__sec_last_counter(r->tx_sec);
  ck_assert_uint_eq(smart__sec_counter_of(b, d->slen), d->counter);
  smart_ssize m = smart__sec_open(r->rx_sec, b, d->slen, d->plain, sizeof(d->plain), &d->sid, now);
  ck_assert_int_eq(m, (smart_ssize)len);
  ck_assert_uint_eq(d->sid, r->tx_id);
  d->plen = (size_t)m;
  ck_assert(smart__sauth_holds(r->rx, d->plain, d->plen));
}

/* Seal and note: the note's result (1: a manifest is due). */
static int send_data(struct rig *r, struct dg *d, unsigned i, uint64_t now) {
  seal_data(r, d, i, now);
  return smart__sauth_note(r->tx, r->tx_id, d->counter, d->sealed, d->slen, now);
}

static void hold(struct rig *r, const struct dg *d, uint64_t now) {
  ck_assert_int_eq(smart__sauth_hold(r->rx, d->sid, d->counter, d->sealed, d->slen, d->plain,
                                     d->plen, now),
                   0);
}

/* The next manifest, or 0. */
static size_t manifest(struct smart__sauth *tx, uint8_t *buf, uint64_t now) {
  smart_ssize n = smart__sauth_output(tx, buf, 4096, SYNC, GROUP4, now);
  ck_assert_int_ge(n, 0);
  return (size_t)n;
}

/* A manifest arrives alone: its batch of input ends with it. */
static int man_in(struct smart__sauth *sa, const uint8_t *m, size_t n, uint64_t now) {
  int rc = smart__sauth_manifest(sa, m, n, now);
  smart__sauth_flush(sa);
  return rc;
}

/* Take everything released: the payload bytes, in order. */
static unsigned take_all(struct rig *r, unsigned *got, unsigned max) {
  uint8_t out[1500];
  uint32_t sid;
  size_t n;
  unsigned k = 0;
  while ((n = smart__sauth_take(r->rx, out, sizeof(out), &sid)) > 0) {
    ck_assert_uint_lt(k, max);
    ck_assert_uint_eq(n, SMART__DATA_HDR_LEN + 20);
    ck_assert_uint_eq(sid, r->tx_id);
    ck_assert_int_eq(out[1] >> 6, SMART__TYP_DATA);
    ck_assert_int_eq(out[6] & 0x20, 0); /* the plaintext the engine gets */
    got[k++] = smart__get16(out + 4);
  }
  return k;
}

static struct smart__sauth_stats stats(const struct smart__sauth *sa) {
  struct smart__sauth_stats st;
  smart__sauth_stats(sa, &st);
  return st;
}

START_TEST(a_manifest_when_full_or_after_the_interval) {
  struct rig r;
  rig_make(&r, 4);
  struct dg d[8];
  uint8_t m[4096];
  uint64_t now = T0;
  ck_assert_uint_eq(smart__sauth_expiry(r.tx), UINT64_MAX);
  for (unsigned i = 0; i < 3; i++)
    ck_assert_int_eq(send_data(&r, &d[i], i, now + i), 0);
  ck_assert_uint_eq(smart__sauth_expiry(r.tx), now + IVL); /* from the first one */
  ck_assert_uint_eq(manifest(r.tx, m, now + 3), 0);        /* neither full nor late */
  ck_assert_int_eq(send_data(&r, &d[3], 3, now + 3), 1);   /* full */
  size_t n = manifest(r.tx, m, now + 3);
  ck_assert_uint_gt(n, 0);
  /* MANIFEST: sender ID, first counter, count, the digests, a signature. */
  struct smart__pkt p;
  ck_assert_int_eq(smart__pkt_decode(&p, m, n), 0);
  ck_assert_int_eq(p.kind, SMART__K_MANIFEST);
  const uint8_t *v;
  size_t vl;
  ck_assert(smart__ext_find(p.ext, p.ext_len, SMART__EXT_MANIFEST, &v, &vl));
  ck_assert_uint_eq(vl, 16 + 4 * 16 + 64);
  ck_assert_uint_eq(smart__get32(v), r.tx_id);
  ck_assert_uint_eq(smart__get64(v + 4), d[0].counter);
  ck_assert_uint_eq(smart__get16(v + 12), 4);
  uint8_t h[16];
  const struct smart_crypto_ops *o = smart_crypto_sodium();
  for (unsigned i = 0; i < 4; i++) {
    ck_assert_uint_eq(d[i].counter, d[0].counter + i);
    ck_assert_int_eq(o->hash(h, d[i].sealed, d[i].slen, o->user_data), 0);
    ck_assert_mem_eq(v + 16 + 16 * i, h, 16);
  }
  ck_assert_int_eq(o->verify(m + n - 64, m, n - 64, r.pk, o->user_data), 0);
  ck_assert_uint_eq(manifest(r.tx, m, now + SMART__SEC(1)), 0); /* nothing pending */
  ck_assert_uint_eq(smart__sauth_expiry(r.tx), UINT64_MAX);
  ck_assert_uint_eq(stats(r.tx).manifests_sent, 1);

  /* The manifest itself, sealed, is never noted. */
  ck_assert_int_gt(smart__sec_seal(r.tx_sec, m, n, sizeof(m), now + 3), 0);
  ck_assert_int_eq(smart__sauth_note(r.tx, r.tx_id, smart__sec_last_counter(r.tx_sec), m,
                                     n + SMART__SEC_MSG_OVERHEAD, now + 3),
                   0);
  ck_assert_uint_eq(smart__sauth_expiry(r.tx), UINT64_MAX);

  /* Two datagrams, then the interval passes: a manifest of two. */
  now += SMART__SEC(1);
  ck_assert_int_eq(send_data(&r, &d[4], 4, now), 0);
  ck_assert_int_eq(send_data(&r, &d[5], 5, now + SMART__MS(5)), 0);
  ck_assert_uint_eq(manifest(r.tx, m, now + IVL - 1), 0);
  n = manifest(r.tx, m, now + IVL);
  ck_assert_uint_eq(n, SMART__ADDR_MSG_LEN + 4 + 16 + 2 * 16 + 64);
  ck_assert_uint_eq(stats(r.tx).manifests_sent, 2);
  /* The receiver takes both. */
  hold(&r, &d[4], now + IVL);
  hold(&r, &d[5], now + IVL);
  ck_assert_int_eq(man_in(r.rx, m, n, now + IVL), 1);
  unsigned got[4];
  ck_assert_uint_eq(take_all(&r, got, 4), 2);
  ck_assert_uint_eq(got[0], 4);
  ck_assert_uint_eq(got[1], 5);

  /* every = 1 signs each datagram at once; every is at most 64. */
  struct smart__sauth *one = tx_make(r.sk, 1);
  seal_data(&r, &d[6], 6, now);
  ck_assert_int_eq(smart__sauth_note(one, r.tx_id, d[6].counter, d[6].sealed, d[6].slen, now), 1);
  ck_assert_uint_eq(manifest(one, m, now), SMART__ADDR_MSG_LEN + 4 + 16 + 16 + 64);
  smart__sauth_del(one);
  struct smart__sauth *big = tx_make(r.sk, 1000);
  unsigned due = 0;
  for (unsigned i = 0; i < 64; i++) {
    seal_data(&r, &d[7], 7, now);
    due = (unsigned)smart__sauth_note(big, r.tx_id, d[7].counter, d[7].sealed, d[7].slen, now);
    ck_assert_uint_eq(due, i == 63);
  }
  ck_assert_uint_eq(manifest(big, m, now), SMART__ADDR_MSG_LEN + 4 + 16 + 64 * 16 + 64);
  smart__sauth_del(big);
  /* A sender that does not sign notes nothing. */
  struct smart__sauth *none = tx_make(NULL, 0);
  ck_assert_int_eq(smart__sauth_note(none, r.tx_id, d[7].counter, d[7].sealed, d[7].slen, now),
                   0);
  ck_assert_uint_eq(manifest(none, m, now + SMART__SEC(1)), 0);
  ck_assert_uint_eq(smart__sauth_expiry(none), UINT64_MAX);
  smart__sauth_del(none);
  rig_del(&r);
}
END_TEST

START_TEST(held_until_the_manifest_then_released_in_order) {
  struct rig r;
  rig_make(&r, 8);
  struct dg d[8];
  uint8_t m[4096];
  uint64_t now = T0;
  for (unsigned i = 0; i < 8; i++)
    ck_assert_int_eq(send_data(&r, &d[i], i, now), i == 7);
  size_t n = manifest(r.tx, m, now);
  ck_assert_uint_gt(n, 0);
  /* They arrive out of order, before their manifest: held. */
  const unsigned order[8] = {3, 0, 7, 1, 6, 2, 5, 4};
  for (unsigned i = 0; i < 8; i++)
    hold(&r, &d[order[i]], now + 1);
  unsigned got[16];
  ck_assert_uint_eq(take_all(&r, got, 16), 0);
  smart__sauth_expire(r.rx, now + 1); /* nothing is due yet: a scan each 25 ms */
  ck_assert_uint_eq(smart__sauth_expiry(r.rx), now + 1 + SMART__MS(25));
  ck_assert_uint_eq(stats(r.rx).manifests_verified, 0);
  ck_assert_uint_eq(stats(r.rx).drops_unsigned, 0);
  /* The manifest: all eight, in counter order. */
  ck_assert_int_eq(man_in(r.rx, m, n, now + 2), 1);
  ck_assert_uint_eq(stats(r.rx).manifests_verified, 1);
  ck_assert_uint_eq(smart__sauth_expiry(r.rx), 0); /* ready to take */
  ck_assert_uint_eq(take_all(&r, got, 16), 8);
  for (unsigned i = 0; i < 8; i++)
    ck_assert_uint_eq(got[i], i);
  ck_assert_uint_eq(smart__sauth_expiry(r.rx), UINT64_MAX);
  /* The manifest again (a replay) releases nothing more. */
  ck_assert_int_eq(man_in(r.rx, m, n, now + 3), 1);
  ck_assert_uint_eq(take_all(&r, got, 16), 0);

  /* The other order: the manifest first, each datagram released as it
   * arrives. */
  now += SMART__SEC(1);
  for (unsigned i = 0; i < 8; i++)
    ck_assert_int_eq(send_data(&r, &d[i], 8 + i, now), i == 7);
  n = manifest(r.tx, m, now);
  ck_assert_int_eq(man_in(r.rx, m, n, now), 1);
  ck_assert_uint_eq(take_all(&r, got, 16), 0);
  for (unsigned i = 0; i < 8; i++) {
    hold(&r, &d[order[i]], now + 1);
    ck_assert_uint_eq(take_all(&r, got, 16), 1);
    ck_assert_uint_eq(got[0], 8 + order[i]);
  }
  /* A copy of one already taken is held anew and released (the engine
   * drops the duplicate). */
  hold(&r, &d[0], now + 2);
  ck_assert_uint_eq(take_all(&r, got, 16), 1);
  ck_assert_uint_eq(stats(r.rx).drops_unsigned, 0);
  /* take() copies only into room enough: a datagram too large for the
   * caller is skipped. */
  hold(&r, &d[1], now + 3);
  uint8_t small[8];
  uint32_t sid;
  ck_assert_uint_eq(smart__sauth_take(r.rx, small, sizeof(small), &sid), 0);
  rig_del(&r);
}
END_TEST

START_TEST(what_no_manifest_vouches_for_is_never_released) {
  struct rig r;
  rig_make(&r, 4);
  struct dg d[8], f;
  uint8_t m[4096];
  unsigned got[16];
  uint64_t now = T0;
  /* A sender no manifest has named yet: its datagrams wait at most
   * max(8 intervals, 50 ms), here 80 ms. Its first manifest is lost. */
  for (unsigned i = 0; i < 4; i++) {
    ck_assert_int_eq(send_data(&r, &d[i], i, now), i == 3);
    hold(&r, &d[i], now);
  }
  ck_assert_uint_gt(manifest(r.tx, m, now), 0); /* lost */
  smart__sauth_expire(r.rx, now + SMART__MS(79));
  ck_assert_uint_eq(stats(r.rx).drops_unsigned, 0);
  ck_assert_uint_le(smart__sauth_expiry(r.rx), now + SMART__MS(79) + SMART__MS(25));
  smart__sauth_expire(r.rx, now + SMART__MS(80));
  ck_assert_uint_eq(stats(r.rx).drops_unsigned, 0); /* the next scan is 25 ms on */
  smart__sauth_expire(r.rx, now + SMART__MS(104));
  ck_assert_uint_eq(stats(r.rx).drops_unsigned, 4);
  ck_assert_uint_eq(take_all(&r, got, 16), 0);
  ck_assert_uint_eq(smart__sauth_expiry(r.rx), UINT64_MAX);

  /* The next manifest names the sender: from now on its datagrams wait
   * the full hold time. A datagram sealed and never noted (its digest in
   * no manifest) waits, is never released, and is dropped after it. */
  now += SMART__SEC(1);
  for (unsigned i = 0; i < 4; i++)
    ck_assert_int_eq(send_data(&r, &d[i], 10 + i, now), i == 3);
  size_t n = manifest(r.tx, m, now);
  ck_assert_int_eq(man_in(r.rx, m, n, now), 1);
  seal_data(&r, &f, 99, now); /* not noted: no manifest will list it */
  hold(&r, &f, now);
  for (unsigned i = 0; i < 4; i++)
    hold(&r, &d[i], now);
  ck_assert_uint_eq(take_all(&r, got, 16), 4);
  for (uint64_t t = now; t < now + HOLD; t += SMART__MS(30))
    smart__sauth_expire(r.rx, t);
  ck_assert_uint_eq(stats(r.rx).drops_unsigned, 4);
  ck_assert_uint_eq(take_all(&r, got, 16), 0);
  smart__sauth_expire(r.rx, now + HOLD + SMART__MS(30));
  ck_assert_uint_eq(stats(r.rx).drops_unsigned, 5);
  ck_assert_uint_eq(take_all(&r, got, 16), 0);

  /* A forgery: the sender's ID and counter, other bytes. Before its
   * manifest: dropped when the manifest says otherwise. */
  now += SMART__SEC(1);
  for (unsigned i = 0; i < 4; i++)
    ck_assert_int_eq(send_data(&r, &d[i], 20 + i, now), i == 3);
  n = manifest(r.tx, m, now);
  f = d[2];
  f.sealed[f.slen - 1] ^= 1;
  f.plain[SMART__DATA_HDR_LEN] ^= 1;
  hold(&r, &f, now);
  ck_assert_int_eq(man_in(r.rx, m, n, now), 1);
  ck_assert_uint_eq(stats(r.rx).drops_unsigned, 6);
  ck_assert_uint_eq(take_all(&r, got, 16), 0);
  /* After its manifest: held (not vouched), and the genuine datagram
   * still gets through when it comes. */
  f = d[3];
  f.sealed[20] ^= 0x80;
  hold(&r, &f, now + 1);
  ck_assert_uint_eq(take_all(&r, got, 16), 0);
  for (unsigned i = 0; i < 4; i++)
    hold(&r, &d[i], now + 2);
  ck_assert_uint_eq(take_all(&r, got, 16), 4);
  for (unsigned i = 0; i < 4; i++)
    ck_assert_uint_eq(got[i], 20 + i);
  ck_assert_uint_eq(stats(r.rx).drops_unsigned, 7); /* the forgery, replaced */

  /* A datagram larger than max_len is dropped at once. */
  struct smart__sauth_cfg c = {.ops = smart_crypto_sodium(), .interval_ns = IVL, .require = 1,
                               .hold_ns = HOLD, .max_len = 16};
  struct smart__sauth *tiny;
  ck_assert_int_eq(smart__sauth_new(&tiny, &c), 0);
  ck_assert_int_eq(smart__sauth_hold(tiny, d[0].sid, d[0].counter, d[0].sealed, d[0].slen,
                                     d[0].plain, d[0].plen, now),
                   SMART_ENOMEM);
  ck_assert_uint_eq(stats(tiny).drops_unsigned, 1);
  smart__sauth_del(tiny);
  rig_del(&r);
}
END_TEST

START_TEST(a_lost_manifest_drops_its_datagrams_once_a_later_one_verifies) {
  struct rig r;
  rig_make(&r, 64);
  struct dg d;
  uint8_t m[4096];
  unsigned got[64];
  uint64_t now = T0;
  size_t n = 0;
  unsigned nm = 0;
  for (unsigned i = 0; nm < 4; i++) {
    int due = send_data(&r, &d, i, now);
    if (i < 64)
      hold(&r, &d, now); /* the first manifest's datagrams arrive ... */
    if (due) {
      ck_assert_uint_gt((n = manifest(r.tx, m, now)), 0);
      nm++;
    }
  }
  /* ... that manifest and the next two are lost. The fourth, whose first
   * counter is more than 128 past all of them, verifies: they are dropped
   * at once, so that the engine asks for them again without waiting out
   * the hold time. */
  ck_assert_uint_eq(take_all(&r, got, 64), 0);
  ck_assert_int_eq(man_in(r.rx, m, n, now + 1), 1);
  ck_assert_uint_eq(stats(r.rx).manifests_verified, 1);
  ck_assert_uint_eq(stats(r.rx).drops_unsigned, 64);
  ck_assert_uint_eq(take_all(&r, got, 64), 0);
  ck_assert_uint_eq(smart__sauth_expiry(r.rx), UINT64_MAX);
  rig_del(&r);
}
END_TEST

START_TEST(a_manifest_from_an_unpinned_key_is_refused) {
  struct rig r;
  rig_make(&r, 4);
  uint8_t rpk[32], rsk[64];
  ck_assert_int_eq(smart_identity_keypair(rpk, rsk), 0);
  struct smart__sauth *rogue = tx_make(rsk, 4);
  struct dg d[4];
  uint8_t m[4096], fm[4096];
  unsigned got[8];
  uint64_t now = T0;
  for (unsigned i = 0; i < 4; i++) {
    ck_assert_int_eq(send_data(&r, &d[i], i, now), i == 3);
    /* the rogue lists the very same datagrams */
    ck_assert_int_eq(smart__sauth_note(rogue, r.tx_id, d[i].counter, d[i].sealed, d[i].slen, now),
                     i == 3);
    hold(&r, &d[i], now);
  }
  size_t fn = manifest(rogue, fm, now), n = manifest(r.tx, m, now);
  ck_assert_uint_eq(fn, n);
  ck_assert_int_eq(man_in(r.rx, fm, fn, now), 1);
  ck_assert_uint_eq(stats(r.rx).manifests_verified, 0);
  ck_assert_uint_eq(take_all(&r, got, 8), 0);
  /* The genuine manifest, its signature bit-flipped: refused too. */
  m[n - 1] ^= 1;
  ck_assert_int_eq(man_in(r.rx, m, n, now), 1);
  ck_assert_uint_eq(stats(r.rx).manifests_verified, 0);
  ck_assert_uint_eq(take_all(&r, got, 8), 0);
  m[n - 1] ^= 1;
  /* Malformed: cut short, count 0, count not matching the length. */
  uint8_t b[4096];
  memcpy(b, m, n);
  ck_assert_int_eq(man_in(r.rx, b, n - 16, now), 1);
  smart__put16(b + SMART__ADDR_MSG_LEN + 4 + 12, 0);
  ck_assert_int_eq(man_in(r.rx, b, n, now), 1);
  smart__put16(b + SMART__ADDR_MSG_LEN + 4 + 12, 3);
  ck_assert_int_eq(man_in(r.rx, b, n, now), 1);
  ck_assert_uint_eq(stats(r.rx).manifests_verified, 0);
  ck_assert_uint_eq(take_all(&r, got, 8), 0);
  /* Not a manifest at all: not the room's. */
  ck_assert_int_eq(man_in(r.rx, d[0].plain, d[0].plen, now), 0);
  ck_assert_int_eq(man_in(r.rx, m, 1, now), 0);
  /* The genuine one releases them. */
  ck_assert_int_eq(man_in(r.rx, m, n, now), 1);
  ck_assert_uint_eq(stats(r.rx).manifests_verified, 1);
  ck_assert_uint_eq(take_all(&r, got, 8), 4);
  /* A receiver pinning the rogue instead believes only the rogue. */
  struct smart__sauth *other = rx_make(rpk);
  ck_assert_int_eq(man_in(other, m, n, now), 1);
  ck_assert_uint_eq(stats(other).manifests_verified, 0);
  ck_assert_int_eq(man_in(other, fm, fn, now), 1);
  ck_assert_uint_eq(stats(other).manifests_verified, 1);
  smart__sauth_del(other);
  /* A receiver that requires nothing takes manifests as its own but does
   * nothing with them, and holds nothing. */
  struct smart__sauth_cfg c = {.ops = smart_crypto_sodium()};
  struct smart__sauth *lax;
  ck_assert_int_eq(smart__sauth_new(&lax, &c), 0);
  ck_assert_int_eq(man_in(lax, m, n, now), 1);
  ck_assert(!smart__sauth_holds(lax, d[0].plain, d[0].plen));
  ck_assert_uint_eq(stats(lax).manifests_verified, 0);
  smart__sauth_del(lax);
  /* Sixteen pins at most. */
  for (int i = 1; i < 16; i++)
    ck_assert_int_eq(smart__sauth_pin(r.rx, rpk), 0);
  ck_assert_int_eq(smart__sauth_pin(r.rx, rpk), SMART_ENOMEM);
  smart__sauth_del(rogue);
  rig_del(&r);
}
END_TEST

START_TEST(what_is_held) {
  struct smart__sauth *rx = rx_make(NULL);
  uint8_t b[SMART__REPORT_MSG_LEN] = {SYNC};
  const struct {
    uint8_t typ, cmd;
    int held;
  } k[] = {
      {SMART__TYP_DATA, SMART__DCMD_DATA << 4, 1},
      {SMART__TYP_DATA, SMART__DCMD_REPAIR << 4, 1},
      {SMART__TYP_DATA, SMART__DCMD_HEARTBEAT << 4, 1},
      {SMART__TYP_DATA, SMART__DCMD_CONFIRM << 4, 1},
      {SMART__TYP_REQ, SMART__REQ_QUIET, 1},
      {SMART__TYP_MSG, SMART__MSG_ADDR_RANGE_CHANGE, 1},
      {SMART__TYP_REQ, SMART__REQ_REPLACEMENT, 0},
      {SMART__TYP_MSG, SMART__MSG_USAGE_JOIN, 0},
      {SMART__TYP_MSG, SMART__MSG_USAGE_LEAVE, 0},
      {SMART__TYP_MSG, SMART__MSG_ERROR_REPORT, 0},
      {SMART__TYP_MSG, SMART__MSG_MANIFEST, 0},
      {SMART__TYP_TUNNEL, SMART__TUN_REQUEST, 0},
  };
  for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
    b[1] = (uint8_t)(k[i].typ << 6 | k[i].cmd);
    ck_assert_int_eq(smart__sauth_holds(rx, b, sizeof(b)), k[i].held);
  }
  ck_assert_int_eq(smart__sauth_holds(rx, b, 1), 0);
  smart__sauth_del(rx);
}
END_TEST

/* The session seals some datagrams it does not note (tunnel control, to
 * the relay): the sender's counters then skip one. What is noted after
 * the gap is still covered by a manifest. */
START_TEST(a_gap_in_the_counters_leaves_nothing_uncovered) {
  struct rig r;
  rig_make(&r, 8);
  struct dg d[8], gap;
  uint8_t m[4096];
  unsigned got[16];
  uint64_t now = T0;
  for (unsigned i = 0; i < 3; i++) {
    ck_assert_int_eq(send_data(&r, &d[i], i, now), 0);
    hold(&r, &d[i], now);
  }
  seal_data(&r, &gap, 50, now); /* sealed, not noted */
  for (unsigned i = 3; i < 8; i++) {
    send_data(&r, &d[i], i, now);
    hold(&r, &d[i], now);
  }
  size_t n;
  for (uint64_t t = now; t <= now + SMART__SEC(1); t += SMART__MS(1))
    while ((n = manifest(r.tx, m, t)) > 0)
      ck_assert_int_eq(man_in(r.rx, m, n, t), 1);
  ck_assert_uint_eq(take_all(&r, got, 16), 8);
  for (unsigned i = 0; i < 8; i++)
    ck_assert_uint_eq(got[i], i);
  rig_del(&r);
}
END_TEST

/* Early manifests: an idle sender signs what is pending at once, within
 * its budgets (idle credit; one per 4 signature times, two in a row). */
#define SIGN SMART__US(20)
START_TEST(an_idle_sender_signs_early_within_its_budgets) {
  struct rig r;
  rig_make_early(&r, 64, 50, SIGN);
  struct dg d[8];
  uint8_t m[4096];
  unsigned got[8];
  uint64_t now = T0;
  /* A new sender has credit for two: the first datagram is signed at once
   * and released on its manifest. */
  ck_assert_int_eq(send_data(&r, &d[0], 0, now), 0);
  ck_assert_uint_eq(manifest(r.tx, m, now), 0); /* not by N or the interval */
  ck_assert(smart__sauth_early(r.tx, now));
  smart_ssize n = smart__sauth_output_early(r.tx, m, sizeof(m), SYNC, GROUP4, now);
  ck_assert_int_gt(n, 0);
  hold(&r, &d[0], now);
  ck_assert_uint_eq(take_all(&r, got, 8), 0);
  ck_assert_int_eq(man_in(r.rx, m, (size_t)n, now), 1);
  ck_assert_uint_eq(take_all(&r, got, 8), 1);
  ck_assert_uint_eq(got[0], 0);
  ck_assert(!smart__sauth_early(r.tx, now)); /* nothing pending */
  /* The second in a row too (a burst of two, credit for one more). */
  ck_assert_int_eq(send_data(&r, &d[1], 1, now + 1), 0);
  ck_assert_int_gt(smart__sauth_output_early(r.tx, m, sizeof(m), SYNC, GROUP4, now + 1), 0);
  /* The third waits: no credit left and the sender is busy (no timer but
   * the interval's). */
  ck_assert_int_eq(send_data(&r, &d[2], 2, now + 2), 0);
  ck_assert(!smart__sauth_early(r.tx, now + 2));
  ck_assert_int_eq(smart__sauth_output_early(r.tx, m, sizeof(m), SYNC, GROUP4, now + 2), 0);
  ck_assert_uint_eq(smart__sauth_expiry(r.tx), now + 2 + IVL);
  /* Idle from now + 10: half its idle time is credit (a signature's worth
   * after 40 us), and the bucket allows the next one 4 x 20 us after the
   * first: the later of the two is the timer. */
  smart__sauth_idle(r.tx, 1, now + 10);
  uint64_t at = smart__sauth_expiry(r.tx);
  ck_assert_uint_eq(at, now + 4 * SIGN);
  ck_assert(!smart__sauth_early(r.tx, at - 1));
  ck_assert(smart__sauth_early(r.tx, at));
  ck_assert_int_gt(smart__sauth_output_early(r.tx, m, sizeof(m), SYNC, GROUP4, at), 0);
  ck_assert_uint_eq(stats(r.tx).manifests_sent, 3);
  ck_assert_uint_eq(stats(r.tx).manifests_early, 3);
  ck_assert_uint_eq(smart__sauth_expiry(r.tx), UINT64_MAX);
  /* Long after, idle again: the bucket is full, the credit (what was left
   * after the third, just under a signature) decides. */
  uint64_t t = at + SMART__MS(1);
  ck_assert_int_eq(send_data(&r, &d[3], 3, t), 0);
  smart__sauth_idle(r.tx, 1, t + 1);
  at = smart__sauth_expiry(r.tx);
  ck_assert_uint_gt(at, t + 1);
  ck_assert_uint_le(at, t + 1 + 2 * SIGN + 1);
  ck_assert(smart__sauth_early(r.tx, at));
  rig_del(&r);
}
END_TEST

/* However often it goes idle, a sender makes at most one early manifest
 * per 4 signature times (plus the burst of two), and never spends more
 * than its share of the time it was idle signing them. */
START_TEST(early_manifests_are_bounded) {
  static const uint64_t gaps[] = {SMART__US(5), SMART__US(30), SMART__US(100), SMART__MS(1)};
  for (unsigned g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++) {
    struct rig r;
    rig_make_early(&r, 64, 50, SIGN);
    uint8_t m[4096];
    struct dg d;
    uint64_t now = T0, idle = 0, span = SMART__MS(100);
    unsigned early = 0, sent = 0, k = 0;
    while (now < T0 + span) {
      smart__sauth_idle(r.tx, 0, now); /* a message */
      send_data(&r, &d, k++, now);
      manifest(r.tx, m, now); /* by N or the interval */
      if (smart__sauth_output_early(r.tx, m, sizeof(m), SYNC, GROUP4, now) > 0)
        early++;
      now += SMART__US(2); /* sent */
      smart__sauth_idle(r.tx, 1, now);
      idle += gaps[g];
      now += gaps[g];
      sent++;
    }
    ck_assert_uint_le(early, span / (4 * SIGN) + 2);
    ck_assert_uint_le(early * SIGN, idle / 2 + 2 * SIGN);
    if (gaps[g] >= SMART__US(100))
      ck_assert_uint_eq(early, sent); /* every message signed alone */
    else
      ck_assert_uint_lt(early, sent / 2);
    ck_assert_uint_gt(early, 0);
    rig_del(&r);
  }
}
END_TEST

/* Off (0), or N = 1: never early. */
START_TEST(no_early_manifests_when_off_or_n_is_1) {
  for (unsigned c = 0; c < 2; c++) {
    struct rig r;
    rig_make_early(&r, c == 0 ? 64 : 1, c == 0 ? 0 : 50, 0);
    struct dg d;
    uint8_t m[4096];
    send_data(&r, &d, 0, T0);
    smart__sauth_idle(r.tx, 1, T0 + 1);
    ck_assert(!smart__sauth_early(r.tx, T0 + SMART__MS(1)));
    ck_assert_int_eq(smart__sauth_output_early(r.tx, m, sizeof(m), SYNC, GROUP4, T0 + 5), 0);
    ck_assert_uint_eq(smart__sauth_expiry(r.tx), T0 + IVL);
    rig_del(&r);
  }
}
END_TEST


/* Ed25519 in two steps (crypto.h): a nonce made ahead, then a signature
 * any Ed25519 verifier accepts; each nonce signs once. */
START_TEST(two_step_signatures_are_ed25519_and_use_a_nonce_once) {
  const struct smart__presign_ops *ps = smart__presign_sodium();
  const struct smart_crypto_ops *o = smart_crypto_sodium();
  uint8_t pk[32], sk[64], other_pk[32], other_sk[64];
  ck_assert_int_eq(smart_identity_keypair(pk, sk), 0);
  ck_assert_int_eq(smart_identity_keypair(other_pk, other_sk), 0);
  void *st;
  ck_assert_int_eq(ps->state_new(&st, sk), 0);
  uint8_t m[200], sig[64], first[64];
  for (unsigned i = 0; i < sizeof(m); i++)
    m[i] = (uint8_t)(i * 7);
  ck_assert_int_eq(ps->sign(st, sig, m, sizeof(m)), SMART_ESTATE); /* none made yet */
  ck_assert_int_eq(ps->prepare(st), 0);
  ck_assert_int_eq(ps->sign(st, first, m, sizeof(m)), 0);
  ck_assert_int_eq(o->verify(first, m, sizeof(m), pk, o->user_data), 0);
  ck_assert_int_ne(o->verify(first, m, sizeof(m), other_pk, o->user_data), 0);
  m[3] ^= 1;
  ck_assert_int_ne(o->verify(first, m, sizeof(m), pk, o->user_data), 0);
  m[3] ^= 1;
  ck_assert_int_eq(ps->sign(st, sig, m, sizeof(m)), SMART_ESTATE); /* used once */
  /* Every length, every nonce: all verify; no two nonce points alike, none
   * the one-step signature's (which is deterministic). */
  uint8_t points[64][32], det[64];
  ck_assert_int_eq(o->sign(det, m, sizeof(m), sk, o->user_data), 0);
  for (unsigned i = 0; i < 64; i++) {
    ck_assert_int_eq(ps->prepare(st), 0);
    size_t len = (i * 37) % (sizeof(m) + 1);
    ck_assert_int_eq(ps->sign(st, sig, m, len), 0);
    ck_assert_int_eq(o->verify(sig, m, len, pk, o->user_data), 0);
    memcpy(points[i], sig, 32);
    ck_assert(memcmp(sig, det, 32) != 0);
    for (unsigned j = 0; j < i; j++)
      ck_assert(memcmp(points[i], points[j], 32) != 0);
  }
  ps->state_del(st);
  /* A state is its key's: another key's signatures verify under that key. */
  ck_assert_int_eq(ps->state_new(&st, other_sk), 0);
  ck_assert_int_eq(ps->prepare(st), 0);
  ck_assert_int_eq(ps->sign(st, sig, m, sizeof(m)), 0);
  ck_assert_int_eq(o->verify(sig, m, sizeof(m), other_pk, o->user_data), 0);
  ck_assert_int_ne(o->verify(sig, m, sizeof(m), pk, o->user_data), 0);
  ps->state_del(st);
}
END_TEST

/* A nonce made before a fork: the child refuses it (two processes signing
 * different messages with one nonce would give the key away), the parent
 * uses it. */
START_TEST(a_nonce_made_before_a_fork_is_not_the_childs) {
  const struct smart__presign_ops *ps = smart__presign_sodium();
  const struct smart_crypto_ops *o = smart_crypto_sodium();
  uint8_t pk[32], sk[64], m[32] = {1, 2, 3}, sig[64];
  ck_assert_int_eq(smart_identity_keypair(pk, sk), 0);
  void *st;
  ck_assert_int_eq(ps->state_new(&st, sk), 0);
  ck_assert_int_eq(ps->prepare(st), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int refused = ps->sign(st, sig, m, sizeof(m)) == SMART_ESTATE;
    int fresh = ps->prepare(st) == 0 && ps->sign(st, sig, m, sizeof(m)) == 0 &&
                o->verify(sig, m, sizeof(m), pk, o->user_data) == 0;
    _exit(refused && fresh ? 0 : 1);
  }
  int status = -1;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  ck_assert_int_eq(WEXITSTATUS(status), 0);
  ck_assert_int_eq(ps->sign(st, sig, m, sizeof(m)), 0);
  ck_assert_int_eq(o->verify(sig, m, sizeof(m), pk, o->user_data), 0);
  ps->state_del(st);
}
END_TEST

/* The room with two-step signing: a nonce is due at the start and after
 * each manifest; manifests signed with one and without (none prepared) are
 * both verified and release what they cover. */
START_TEST(manifests_signed_in_two_steps_or_one_release_their_datagrams) {
  struct rig r;
  rig_make(&r, 2);
  smart__sauth_del(r.tx);
  struct smart__sauth_cfg c = {.ops = smart_crypto_sodium(), .presign = smart__presign_sodium(),
                               .sk = r.sk, .every = 2, .interval_ns = IVL};
  ck_assert_int_eq(smart__sauth_new(&r.tx, &c), 0);
  ck_assert(smart__sauth_prepare_due(r.tx));
  smart__sauth_prepare(r.tx);
  ck_assert(!smart__sauth_prepare_due(r.tx));
  struct dg d[6];
  uint8_t m[4096];
  unsigned got[6], k = 0;
  for (unsigned round = 0; round < 3; round++) {
    uint64_t now = T0 + round * SMART__MS(1);
    for (unsigned i = 0; i < 2; i++) {
      send_data(&r, &d[2 * round + i], 2 * round + i, now);
      hold(&r, &d[2 * round + i], now);
    }
    size_t n = manifest(r.tx, m, now);
    ck_assert_uint_gt(n, 0);
    ck_assert(smart__sauth_prepare_due(r.tx));
    /* Which way it was signed: one step is deterministic (its R is the
     * one-step signature's), two steps are not. */
    const struct smart_crypto_ops *o = smart_crypto_sodium();
    uint8_t det[64];
    ck_assert_int_eq(o->sign(det, m, n - 64, r.sk, o->user_data), 0);
    ck_assert_int_eq(memcmp(det, m + n - 64, 64) == 0, round == 1);
    ck_assert_int_eq(man_in(r.rx, m, n, now), 1);
    k += take_all(&r, got + k, 6 - k);
    ck_assert_uint_eq(k, 2 * round + 2);
    if (round == 0) /* the second round's manifest: one step */
      continue;
    smart__sauth_prepare(r.tx);
  }
  for (unsigned i = 0; i < 6; i++)
    ck_assert_uint_eq(got[i], i);
  ck_assert_uint_eq(stats(r.rx).manifests_verified, 3);
  ck_assert_uint_eq(stats(r.rx).drops_unsigned, 0);
  /* A receiver, and a sender with another provider, never have a nonce due. */
  ck_assert(!smart__sauth_prepare_due(r.rx));
  struct smart__sauth *plain = tx_make(r.sk, 2);
  ck_assert(!smart__sauth_prepare_due(plain));
  smart__sauth_del(plain);
  rig_del(&r);
}
END_TEST

/* A manifest's first counter and count. */
static void man_range(const uint8_t *m, size_t n, uint64_t *first, unsigned *count) {
  struct smart__pkt p;
  const uint8_t *v;
  size_t vl;
  ck_assert_int_eq(smart__pkt_decode(&p, m, n), 0);
  ck_assert(smart__ext_find(p.ext, p.ext_len, SMART__EXT_MANIFEST, &v, &vl));
  *first = smart__get64(v + 4);
  *count = smart__get16(v + 12);
}

/* An idle sender's manifests, one per message: each sealed as on the
 * wire (its own counter is a gap in the next one's run). */
#define RUN 10u
static void early_run(struct rig *r, struct dg *d, uint8_t (*m)[4096], size_t *n, uint64_t now) {
  for (unsigned i = 0; i < RUN; i++) {
    uint64_t t = now + i * SMART__MS(1);
    smart__sauth_idle(r->tx, 0, t);
    ck_assert_int_eq(send_data(r, &d[i], i, t), 0);
    smart__sauth_idle(r->tx, 1, t + 1);
    smart_ssize k = smart__sauth_output_early(r->tx, m[i], 4096, SYNC, GROUP4, t + 1);
    ck_assert_int_gt(k, 0);
    n[i] = (size_t)k;
    smart__sauth_idle(r->tx, 1, t + 2); /* sent: idle again */
    uint8_t sealed[4096];
    memcpy(sealed, m[i], n[i]);
    ck_assert_int_gt(smart__sec_seal(r->tx_sec, sealed, n[i], sizeof(sealed), t + 1), 0);
  }
}

/* An early manifest lists again the last datagrams of the one before (up
 * to 7 counters, the manifest's own among them); one by N or the interval
 * carries nothing into the next. */
START_TEST(an_early_manifest_lists_again_the_last_ones_before_it) {
  struct rig r;
  rig_make_early(&r, 4, 100, SIGN);
  struct dg d[RUN + 8];
  static uint8_t m[RUN][4096];
  size_t n[RUN];
  early_run(&r, d, m, n, T0);
  for (unsigned i = 0; i < RUN; i++) {
    uint64_t first;
    unsigned count;
    man_range(m[i], n[i], &first, &count);
    /* d[i] and the manifests between: counters 2 apart */
    ck_assert_uint_eq(d[i].counter, d[0].counter + 2 * i);
    ck_assert_uint_eq(first + count, d[i].counter + 1); /* ends with its datagram */
    /* 7 carried, the gap of the manifest before, its datagram: 9 */
    ck_assert_uint_eq(count, i < 4 ? 2 * i + 1 : 9);
    const struct smart_crypto_ops *o = smart_crypto_sodium();
    ck_assert_int_eq(o->verify(m[i] + n[i] - 64, m[i], n[i] - 64, r.pk, o->user_data), 0);
  }
  ck_assert_uint_eq(stats(r.tx).manifests_early, RUN);
  /* N = 4 reached: that manifest lists what was carried and the four, and
   * the next run starts afresh. */
  uint64_t t = T0 + SMART__SEC(1);
  smart__sauth_idle(r.tx, 0, t);
  for (unsigned i = 0; i < 4; i++)
    ck_assert_int_eq(send_data(&r, &d[RUN + i], RUN + i, t), i == 3);
  uint8_t full[4096];
  size_t fn = manifest(r.tx, full, t);
  uint64_t first;
  unsigned count;
  man_range(full, fn, &first, &count);
  ck_assert_uint_eq(first + count, d[RUN + 3].counter + 1);
  ck_assert_uint_eq(count, 12); /* 7 carried, the last manifest's gap, the four */
  ck_assert_int_eq(send_data(&r, &d[RUN + 4], RUN + 4, t + 1), 0);
  smart__sauth_idle(r.tx, 1, t + 2);
  smart_ssize k = smart__sauth_output_early(r.tx, full, sizeof(full), SYNC, GROUP4, t + 2);
  ck_assert_int_gt(k, 0);
  man_range(full, (size_t)k, &first, &count);
  ck_assert_uint_eq(first, d[RUN + 4].counter);
  ck_assert_uint_eq(count, 1);
  /* N = 1: every manifest carries, as early ones do. */
  struct smart__sauth *one = tx_make(r.sk, 1);
  uint64_t c0 = 0;
  for (unsigned i = 0; i < 6; i++) {
    seal_data(&r, &d[RUN], RUN, T0);
    ck_assert_int_eq(smart__sauth_note(one, r.tx_id, d[RUN].counter, d[RUN].sealed, d[RUN].slen,
                                       T0),
                     1);
    uint8_t mm[4096], sealed[4096];
    size_t k1 = manifest(one, mm, T0);
    ck_assert_uint_gt(k1, 0);
    memcpy(sealed, mm, k1);
    ck_assert_int_gt(smart__sec_seal(r.tx_sec, sealed, k1, sizeof(sealed), T0), 0);
    uint64_t f1;
    unsigned n1;
    man_range(mm, k1, &f1, &n1);
    if (i == 0)
      c0 = d[RUN].counter;
    ck_assert_uint_eq(f1 + n1, d[RUN].counter + 1);
    ck_assert_uint_eq(n1, i < 4 ? 2 * i + 1 : 9);
    ck_assert_uint_eq(d[RUN].counter, c0 + 2 * i);
  }
  smart__sauth_del(one);
  rig_del(&r);
}
END_TEST

/* A receiver that fell behind gets the run of early manifests in one
 * batch: it verifies two (the newest, then one that lists the oldest
 * counters), not ten, and releases all ten datagrams in order. One
 * manifest a batch, each is verified. A forged newest one costs its
 * verification and hides nothing. */
START_TEST(a_receiver_behind_verifies_the_newest_manifests_only) {
  for (unsigned c = 0; c < 3; c++) {
    struct rig r;
    rig_make_early(&r, 64, 100, SIGN);
    struct dg d[RUN];
    static uint8_t m[RUN][4096];
    size_t n[RUN];
    early_run(&r, d, m, n, T0);
    if (c == 2)
      m[RUN - 1][n[RUN - 1] - 1] ^= 1; /* the newest, forged */
    uint64_t now = T0 + SMART__MS(20);
    for (unsigned i = 0; i < RUN; i++) {
      hold(&r, &d[i], now);
      ck_assert_int_eq(smart__sauth_manifest(r.rx, m[i], n[i], now), 1);
      if (c == 1)
        smart__sauth_flush(r.rx);
    }
    unsigned got[RUN], k = 0;
    if (c != 1) { /* nothing verified before the batch ends; due at once */
      ck_assert_uint_eq(stats(r.rx).manifests_verified, 0);
      ck_assert_uint_eq(take_all(&r, got, RUN), 0);
      ck_assert_uint_eq(smart__sauth_expiry(r.rx), 0);
    }
    smart__sauth_flush(r.rx);
    k = take_all(&r, got, RUN);
    ck_assert_uint_eq(k, c == 2 ? RUN - 1 : RUN);
    for (unsigned i = 0; i < k; i++)
      ck_assert_uint_eq(got[i], i);
    struct smart__sauth_stats st = stats(r.rx);
    if (c == 0) {
      ck_assert_uint_eq(st.manifests_verified, 2);
      ck_assert_uint_eq(st.manifests_superseded, RUN - 2);
    } else if (c == 1) {
      ck_assert_uint_eq(st.manifests_verified, RUN);
      ck_assert_uint_eq(st.manifests_superseded, 0);
    } else { /* the newest refused: its datagram waits for a repair */
      ck_assert_uint_ge(st.manifests_verified, 2);
      ck_assert_uint_le(st.manifests_verified, 3);
      ck_assert_uint_eq(st.drops_unsigned, 0);
    }
    rig_del(&r);
  }
}
END_TEST

static void add(TCase *t) {
  tcase_add_test(t, a_manifest_when_full_or_after_the_interval);
  tcase_add_test(t, held_until_the_manifest_then_released_in_order);
  tcase_add_test(t, what_no_manifest_vouches_for_is_never_released);
  tcase_add_test(t, a_lost_manifest_drops_its_datagrams_once_a_later_one_verifies);
  tcase_add_test(t, a_manifest_from_an_unpinned_key_is_refused);
  tcase_add_test(t, what_is_held);
  tcase_add_test(t, a_gap_in_the_counters_leaves_nothing_uncovered);
  tcase_add_test(t, an_idle_sender_signs_early_within_its_budgets);
  tcase_add_test(t, early_manifests_are_bounded);
  tcase_add_test(t, no_early_manifests_when_off_or_n_is_1);
  tcase_add_test(t, two_step_signatures_are_ed25519_and_use_a_nonce_once);
  tcase_add_test(t, a_nonce_made_before_a_fork_is_not_the_childs);
  tcase_add_test(t, manifests_signed_in_two_steps_or_one_release_their_datagrams);
  tcase_add_test(t, an_early_manifest_lists_again_the_last_ones_before_it);
  tcase_add_test(t, a_receiver_behind_verifies_the_newest_manifests_only);
}

int main(void) { return unit_main("sauth", add); }
