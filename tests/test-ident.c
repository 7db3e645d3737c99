/*
 * The identity room (lib/proto/ident), driven directly: no socket, no
 * session, no clock. A sender with an allow-list and members that pin its
 * key exchange key requests and signed key deliveries in memory: joins,
 * refusals, forgeries, revocation with a rekey, other members' traffic, an
 * unpinned signer, and the member's retries when an answer is lost.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "proto/ident.h"
#include "proto/secure.h"
#include "util/bytes.h"
#include "util/time.h"
#include "wire/wire.h"

#include "forge.h"
#include "unit.h"

#define T0 SMART__SEC(100)
#define SYNC 0x53
#define GROUP4 0xEFFF0101u
#define LEAD SMART__MS(50)

struct party {
  uint8_t pk[32], sk[64];
  struct smart__sec *sec;
  struct smart__ident *id;
};

/* A datagram as it went out. */
struct dg {
  uint8_t b[512];
  size_t n;
};

static void party_keys(struct party *p) {
  memset(p, 0, sizeof(*p));
  ck_assert_int_eq(smart_identity_keypair(p->pk, p->sk), 0);
}

/* allow: members' keys (a sender), or pin: a sender's key (a member). */
static void party_start(struct party *p, const struct party *const *allow, unsigned nallow,
                        const uint8_t *pin, uint64_t now) {
  struct smart__sec_cfg cfg = {.ops = smart_crypto_sodium(),
                               .mode = SMART__SEC_IDENTITY,
                               .identity = p->sk,
                               .grace_ns = SMART__SEC(2)};
  uint32_t sid;
  ck_assert_int_eq(smart__sec_new(&p->sec, &cfg, &sid), 0);
  ck_assert_int_eq(smart__ident_new(&p->id, p->sk), 0);
  for (unsigned i = 0; i < nallow; i++)
    ck_assert_int_eq(smart__ident_allow(p->id, allow[i]->pk), 0);
  if (pin)
    ck_assert_int_eq(smart__ident_pin(p->id, pin), 0);
  ck_assert_int_eq(smart__ident_start(p->id, p->sec, now), 0);
}

static void party_del(struct party *p) {
  smart__ident_del(p->id);
  smart__sec_del(p->sec);
}

/* The next datagram p multicasts at `now` (0: none due). */
static size_t out1(struct party *p, struct dg *d, uint64_t now) {
  smart_ssize n = smart__ident_output(p->id, d->b, sizeof(d->b), SYNC, GROUP4, now);
  ck_assert_int_ge(n, 0);
  d->n = (size_t)n;
  return d->n;
}

/* Is anything due from p at `now`? (What is, is sent and lost.) */
static size_t none(struct party *p, uint64_t now) {
  struct dg x;
  return out1(p, &x, now);
}

/* Offer d to p: smart__ident_input's result, with its out-params. */
static int in1(struct party *p, const struct dg *d, uint64_t now, int *refused, int *bad) {
  return smart__ident_input(p->id, d->b, d->n, now, refused, bad);
}

/* Offer d to p, expecting it consumed with neither flag set. */
static void in_ok(struct party *p, const struct dg *d, uint64_t now) {
  int refused = -1, bad = -1;
  ck_assert_int_eq(in1(p, d, now, &refused, &bad), 1);
  ck_assert_int_eq(refused, 0);
  ck_assert_int_eq(bad, 0);
}

static int same_key(const struct party *a, const struct party *b, uint8_t epoch) {
  uint8_t ka[32], kb[32];
  if (smart__sec_export_key(a->sec, epoch, ka) || smart__sec_export_key(b->sec, epoch, kb))
    return 0;
  return !memcmp(ka, kb, 32);
}

/* The member named in a KEY_DELIVERY (its KEYDELIV value), and its epoch. */
static const uint8_t *deliv_member(const struct dg *d) {
  struct smart__pkt p;
  const uint8_t *v;
  size_t vl;
  ck_assert_int_eq(smart__pkt_decode(&p, d->b, d->n), 0);
  ck_assert_int_eq(p.kind, SMART__K_KEY_DELIVERY);
  ck_assert(smart__ext_find(p.ext, p.ext_len, SMART__EXT_KEYDELIV, &v, &vl));
  ck_assert_uint_eq(vl, 184);
  ck_assert_ptr_eq(v + vl, d->b + d->n); /* the last extension */
  return v;
}
static unsigned deliv_epoch(const struct dg *d) { return deliv_member(d)[32]; }

/* m asks, s answers, m installs: the whole join. */
static void join(struct party *s, struct party *m, uint64_t now) {
  struct dg q, k;
  ck_assert_uint_gt(out1(m, &q, now), 0);
  in_ok(s, &q, now);
  ck_assert_uint_eq(smart__ident_expiry(s->id), 0); /* a delivery is due */
  ck_assert_uint_gt(out1(s, &k, now), 0);
  ck_assert_mem_eq(deliv_member(&k), m->pk, 32);
  in_ok(m, &k, now);
}

/* A provider that counts signature checks (libsodium's, otherwise). */
static unsigned verifies;
static int (*real_verify)(const uint8_t sig[64], const uint8_t *m, size_t mlen, const uint8_t pk[32],
                          void *u);
static int counting_verify(const uint8_t sig[64], const uint8_t *m, size_t mlen,
                           const uint8_t pk[32], void *u) {
  verifies++;
  return real_verify(sig, m, mlen, pk, u);
}

/* Expensive checks after cheap ones: a member with 16 pinned keys pays no
 * signature check for a delivery that would change nothing (it paid one
 * per pin, 16 Ed25519 verifications, for each forged one). */
START_TEST(deliveries_that_change_nothing_cost_no_verification) {
  static struct smart_crypto_ops counting;
  counting = *smart_crypto_sodium();
  real_verify = counting.verify;
  counting.verify = counting_verify;
  struct party s, a;
  party_keys(&s);
  party_keys(&a);
  const struct party *allow[] = {&a};
  party_start(&s, allow, 1, NULL, T0);
  struct smart__sec_cfg cfg = {.ops = &counting, .mode = SMART__SEC_IDENTITY, .identity = a.sk,
                               .grace_ns = SMART__SEC(2)};
  uint32_t sid;
  ck_assert_int_eq(smart__sec_new(&a.sec, &cfg, &sid), 0);
  ck_assert_int_eq(smart__ident_new(&a.id, a.sk), 0);
  uint8_t pk[32] = {0};
  for (int i = 1; i < 16; i++) { /* 15 other senders first, the real one last */
    pk[0] = (uint8_t)i;
    ck_assert_int_eq(smart__ident_pin(a.id, pk), 0);
  }
  ck_assert_int_eq(smart__ident_pin(a.id, s.pk), 0);
  ck_assert_int_eq(smart__ident_start(a.id, a.sec, T0), 0);
  struct dg q, k;
  ck_assert_uint_gt(out1(&a, &q, T0), 0);
  in_ok(&s, &q, T0);
  ck_assert_uint_gt(out1(&s, &k, T0), 0);
  verifies = 0;
  in_ok(&a, &k, T0);
  ck_assert_uint_eq(verifies, 16); /* a delivery it needs: every pin until the signer's */
  ck_assert(same_key(&s, &a, 0));
  struct dg forged = k;
  forged.b[forged.n - 1] ^= 1; /* in the signature */
  verifies = 0;
  for (int i = 0; i < 1000; i++) {
    int refused = -1, bad = -1;
    ck_assert_int_eq(in1(&a, i % 2 ? &forged : &k, T0 + (uint64_t)i, &refused, &bad), 1);
  }
  ck_assert_uint_eq(verifies, 0);
  ck_assert(same_key(&s, &a, 0));
  party_del(&s);
  party_del(&a);
}
END_TEST

START_TEST(join_delivers_the_epoch_key) {
  struct party s, a;
  party_keys(&s);
  party_keys(&a);
  const struct party *allow[] = {&a};
  party_start(&s, allow, 1, NULL, T0);
  party_start(&a, NULL, 0, s.pk, T0);
  ck_assert(smart__ident_is_server(s.id));
  ck_assert(!smart__ident_is_server(a.id));
  ck_assert(smart__sec_have_key(s.sec, 0));
  ck_assert(!smart__sec_have_key(a.sec, 0));
  ck_assert_uint_eq(smart__ident_expiry(s.id), UINT64_MAX); /* nothing to send */
  ck_assert_uint_eq(smart__ident_expiry(a.id), T0);         /* asks at once */

  /* The request: a USAGE_REPORT_JOIN whose KEYREQ names a's key. */
  struct dg q, k;
  ck_assert_uint_gt(out1(&a, &q, T0), 0);
  struct smart__pkt p;
  ck_assert_int_eq(smart__pkt_decode(&p, q.b, q.n), 0);
  ck_assert_int_eq(p.kind, SMART__K_USAGE_JOIN);
  const uint8_t *v;
  size_t vl;
  ck_assert(smart__ext_find(p.ext, p.ext_len, SMART__EXT_KEYREQ, &v, &vl));
  ck_assert_uint_eq(vl, 32 + 8 + 64);
  ck_assert_mem_eq(v, a.pk, 32);
  ck_assert_uint_eq(out1(&s, &k, T0), 0); /* the sender sends nothing unasked */

  in_ok(&s, &q, T0);
  ck_assert_uint_gt(out1(&s, &k, T0 + 1), 0);
  ck_assert_int_eq(smart__pkt_decode(&p, k.b, k.n), 0);
  ck_assert_int_eq(p.kind, SMART__K_KEY_DELIVERY);
  ck_assert_mem_eq(deliv_member(&k), a.pk, 32);
  ck_assert_uint_eq(deliv_epoch(&k), 0);
  ck_assert_uint_eq(none(&s, T0 + 1), 0); /* one only */
  ck_assert_uint_eq(smart__ident_expiry(s.id), UINT64_MAX);

  in_ok(&a, &k, T0 + 2);
  ck_assert(smart__sec_have_key(a.sec, 0));
  ck_assert(same_key(&s, &a, 0));
  ck_assert_uint_eq(smart__sec_epoch(a.sec), 0);
  /* Satisfied: no more requests. */
  ck_assert_uint_eq(smart__ident_expiry(a.id), UINT64_MAX);
  ck_assert_uint_eq(out1(&a, &q, T0 + SMART__SEC(10)), 0);
  /* The same delivery again (a replay) changes nothing and is no fault. */
  in_ok(&a, &k, T0 + 3);
  ck_assert(same_key(&s, &a, 0));

  /* The sealed layer agrees: a's message opens at the sender. */
  uint8_t buf[256] = {SYNC, SMART__TYP_MSG << 6 | SMART__MSG_USAGE_JOIN};
  smart__put16(buf + 2, SMART__ADDR_MSG_LEN);
  smart_ssize n = smart__sec_seal(a.sec, buf, SMART__ADDR_MSG_LEN, sizeof(buf), T0 + 4);
  ck_assert_int_gt(n, 0);
  uint8_t pt[256];
  uint32_t sender;
  ck_assert_int_eq(smart__sec_open(s.sec, buf, (size_t)n, pt, sizeof(pt), &sender, T0 + 4),
                   SMART__ADDR_MSG_LEN);
  party_del(&s);
  party_del(&a);
}
END_TEST

START_TEST(a_key_not_allowed_is_refused) {
  struct party s, a, c;
  party_keys(&s);
  party_keys(&a);
  party_keys(&c); /* never allowed */
  const struct party *allow[] = {&a};
  party_start(&s, allow, 1, NULL, T0);
  party_start(&c, NULL, 0, s.pk, T0);
  struct dg q, k;
  uint64_t now = T0;
  for (int i = 0; i < 5; i++) {
    now = smart__ident_expiry(c.id);
    ck_assert_uint_gt(out1(&c, &q, now), 0);
    int refused = -1, bad = -1;
    ck_assert_int_eq(in1(&s, &q, now, &refused, &bad), 1);
    ck_assert_int_eq(refused, 1);
    ck_assert_int_eq(bad, 0);
    ck_assert_uint_eq(smart__ident_expiry(s.id), UINT64_MAX);
    ck_assert_uint_eq(out1(&s, &k, now), 0);
  }
  ck_assert(!smart__sec_have_key(c.sec, 0));
  /* A request from a's key that c signed (no proof of possession): bad. */
  struct dg f = q;
  memcpy(f.b + SMART__ADDR_MSG_LEN + 4, a.pk, 32);
  int refused = -1, bad = -1;
  ck_assert_int_eq(in1(&s, &f, now, &refused, &bad), 1);
  ck_assert_int_eq(refused, 0);
  ck_assert_int_eq(bad, 1);
  ck_assert_uint_eq(out1(&s, &k, now), 0);
  /* A KEYREQ of the wrong length, or not last: bad. */
  f = q;
  f.n -= 1;
  smart__put16(f.b + 2, (uint16_t)f.n);
  smart__put16(f.b + SMART__ADDR_MSG_LEN + 2, 32 + 8 + 63);
  ck_assert_int_eq(in1(&s, &f, now, &refused, &bad), 1);
  ck_assert_int_eq(bad, 1);
  /* A USAGE_REPORT_JOIN without KEYREQ is not the room's. */
  uint8_t plain[SMART__ADDR_MSG_LEN] = {SYNC, SMART__TYP_MSG << 6 | SMART__MSG_USAGE_JOIN, 0,
                                        SMART__ADDR_MSG_LEN};
  ck_assert_int_eq(smart__ident_input(s.id, plain, sizeof(plain), now, &refused, &bad), 0);
  party_del(&s);
  party_del(&c);
}
END_TEST

START_TEST(forged_deliveries_are_bad) {
  struct party s, a;
  party_keys(&s);
  party_keys(&a);
  const struct party *allow[] = {&a};
  party_start(&s, allow, 1, NULL, T0);
  party_start(&a, NULL, 0, s.pk, T0);
  struct dg q, k;
  ck_assert_uint_gt(out1(&a, &q, T0), 0);
  in_ok(&s, &q, T0);
  ck_assert_uint_gt(out1(&s, &k, T0), 0);
  /* Every single bit flipped in the header's address fields, in KEYBIND
   * (the 64-bit epoch, the request echoed) and in KEYDELIV after the
   * member's key (the epoch, the sender ID, the sealed key, the
   * signature): the delivery is refused. */
  size_t mk = (size_t)(deliv_member(&k) - k.b); /* where the member's key is */
  ck_assert_uint_eq(mk, SMART__ADDR_MSG_LEN + 4 + 16 + 4);
  ck_assert_uint_eq(smart__get16(k.b + SMART__ADDR_MSG_LEN), SMART__EXT_KEYBIND);
  size_t from[] = {4, SMART__ADDR_MSG_LEN + 4, mk + 32};
  size_t to[] = {SMART__ADDR_MSG_LEN, mk - 4, k.n};
  unsigned flips = 0;
  for (int r = 0; r < 3; r++)
    for (size_t i = from[r]; i < to[r]; i++)
      for (int bit = 0; bit < 8; bit += 3) {
        struct dg f = k;
        f.b[i] ^= (uint8_t)(1u << bit);
        int refused = -1, bad = -1;
        ck_assert_int_eq(in1(&a, &f, T0 + 1, &refused, &bad), 1);
        ck_assert_int_eq(refused, 0);
        ck_assert_msg(bad == 1, "byte %zu bit %d", i, bit);
        flips++;
      }
  ck_assert_uint_gt(flips, 400);
  ck_assert(!smart__sec_have_key(a.sec, 0));
  /* A KEYDELIV one byte short: bad. Cut short of its declared length it
   * does not decode, and is left to the caller. */
  struct dg f = k;
  f.n -= 1;
  smart__put16(f.b + 2, (uint16_t)f.n);
  int refused, bad;
  ck_assert_int_eq(in1(&a, &f, T0 + 1, &refused, &bad), 0);
  smart__put16(f.b + mk - 2, 183);
  ck_assert_int_eq(in1(&a, &f, T0 + 1, &refused, &bad), 1);
  ck_assert_int_eq(bad, 1);
  ck_assert(!smart__sec_have_key(a.sec, 0));
  /* Without KEYBIND (a sender of libsmart 0.1), or with a KEYBIND whose
   * epoch is not KEYDELIV's: refused, before any signature is checked. */
  f = k;
  smart__put16(f.b + SMART__ADDR_MSG_LEN, 0x7FF0); /* an unknown type: no KEYBIND */
  ck_assert_int_eq(in1(&a, &f, T0 + 1, &refused, &bad), 1);
  ck_assert_int_eq(bad, 1);
  f = k;
  f.b[mk + 32] ^= 1; /* KEYDELIV's epoch */
  ck_assert_int_eq(in1(&a, &f, T0 + 1, &refused, &bad), 1);
  ck_assert_int_eq(bad, 1);
  ck_assert(!smart__sec_have_key(a.sec, 0));
  /* The genuine one still works. */
  in_ok(&a, &k, T0 + 2);
  ck_assert(same_key(&s, &a, 0));
  party_del(&s);
  party_del(&a);
}
END_TEST

START_TEST(revoked_member_gets_no_new_key) {
  struct party s, a, b, c;
  party_keys(&s);
  party_keys(&a);
  party_keys(&b);
  party_keys(&c);
  const struct party *allow[] = {&a, &b, &c};
  party_start(&s, allow, 3, NULL, T0);
  party_start(&a, NULL, 0, s.pk, T0);
  party_start(&b, NULL, 0, s.pk, T0);
  party_start(&c, NULL, 0, s.pk, T0);
  join(&s, &a, T0);
  join(&s, &b, T0);
  join(&s, &c, T0);
  ck_assert(same_key(&s, &a, 0) && same_key(&s, &b, 0) && same_key(&s, &c, 0));

  /* Revoke b, then start epoch 1. */
  ck_assert_int_eq(smart__ident_revoke(s.id, b.pk), 1);
  ck_assert_int_eq(smart__ident_revoke(s.id, b.pk), 0); /* already gone */
  uint64_t now = T0 + SMART__SEC(1);
  ck_assert_int_eq(smart__ident_rekey(s.id, now, LEAD), 0);
  ck_assert(smart__sec_have_key(s.sec, 1));
  ck_assert_uint_eq(smart__sec_epoch(s.sec), 0); /* the switch waits for the lead */
  ck_assert_uint_eq(smart__ident_expiry(s.id), 0);
  struct dg k[4];
  unsigned nk = 0;
  while (out1(&s, &k[nk], now)) {
    ck_assert_uint_lt(nk, 3);
    ck_assert_uint_eq(deliv_epoch(&k[nk]), 1);
    ck_assert_mem_ne(deliv_member(&k[nk]), b.pk, 32);
    nk++;
  }
  ck_assert_uint_eq(nk, 2); /* a and c */
  ck_assert_uint_eq(smart__ident_expiry(s.id), now + LEAD);
  /* Every member hears both deliveries (multicast). */
  for (unsigned i = 0; i < nk; i++) {
    in_ok(&a, &k[i], now);
    in_ok(&b, &k[i], now); /* not b's: taken silently */
    in_ok(&c, &k[i], now);
  }
  ck_assert(same_key(&s, &a, 1));
  ck_assert(same_key(&s, &c, 1));
  ck_assert_uint_eq(smart__sec_epoch(a.sec), 1);
  ck_assert(!smart__sec_have_key(b.sec, 1));
  ck_assert_uint_eq(smart__sec_epoch(b.sec), 0);

  /* The sender switches once the lead has passed. */
  ck_assert_uint_eq(out1(&s, &k[0], now + LEAD - 1), 0);
  ck_assert_uint_eq(smart__sec_epoch(s.sec), 0);
  ck_assert_uint_eq(out1(&s, &k[0], now + LEAD), 0);
  ck_assert_uint_eq(smart__sec_epoch(s.sec), 1);
  ck_assert_uint_eq(smart__ident_expiry(s.id), UINT64_MAX);

  /* b sees data of epoch 1 and asks again: refused, no delivery. */
  now += LEAD + SMART__MS(10);
  smart__ident_want(b.id, 1, now);
  ck_assert_uint_le(smart__ident_expiry(b.id), now + SMART__MS(50));
  struct dg q;
  ck_assert_uint_gt(out1(&b, &q, now), 0);
  int refused = -1, bad = -1;
  ck_assert_int_eq(in1(&s, &q, now, &refused, &bad), 1);
  ck_assert_int_eq(refused, 1);
  ck_assert_int_eq(bad, 0);
  ck_assert_uint_eq(out1(&s, &k[0], now), 0);
  ck_assert(!smart__sec_have_key(b.sec, 1));

  /* A member that joins after the switch is given the current key. */
  struct party d;
  party_keys(&d);
  ck_assert_int_eq(smart__ident_allow(s.id, d.pk), 0);
  ck_assert_int_eq(smart__ident_allow(s.id, d.pk), 0); /* once only */
  party_start(&d, NULL, 0, s.pk, now);
  join(&s, &d, now);
  ck_assert(same_key(&s, &d, 1));
  ck_assert_uint_eq(smart__sec_epoch(d.sec), 1);
  ck_assert_uint_eq(out1(&s, &k[0], now), 0);

  /* A second rekey: the members that asked get epoch 2; an old delivery
   * replayed takes none of them back. */
  now += SMART__SEC(1);
  ck_assert_int_eq(smart__ident_rekey(s.id, now, LEAD), 0);
  nk = 0;
  struct dg e2[4];
  while (out1(&s, &e2[nk], now)) {
    ck_assert_uint_lt(nk, 3);
    ck_assert_uint_eq(deliv_epoch(&e2[nk]), 2);
    nk++;
  }
  ck_assert_uint_eq(nk, 3); /* a, c, d */
  for (unsigned i = 0; i < nk; i++) {
    in_ok(&a, &e2[i], now);
    in_ok(&c, &e2[i], now);
    in_ok(&d, &e2[i], now);
  }
  ck_assert(same_key(&s, &a, 2) && same_key(&s, &c, 2) && same_key(&s, &d, 2));
  in_ok(&a, &k[1], now); /* the epoch-1 delivery of a or c, again */
  in_ok(&c, &k[1], now);
  ck_assert_uint_eq(smart__sec_epoch(a.sec), 2);
  ck_assert_uint_eq(smart__sec_epoch(c.sec), 2);
  party_del(&s);
  party_del(&a);
  party_del(&b);
  party_del(&c);
  party_del(&d);
}
END_TEST

START_TEST(other_members_traffic_is_taken_silently) {
  struct party s, a, b;
  party_keys(&s);
  party_keys(&a);
  party_keys(&b);
  const struct party *allow[] = {&a, &b};
  party_start(&s, allow, 2, NULL, T0);
  party_start(&a, NULL, 0, s.pk, T0);
  party_start(&b, NULL, 0, s.pk, T0);
  struct dg qa, qb, ka;
  ck_assert_uint_gt(out1(&a, &qa, T0), 0);
  ck_assert_uint_gt(out1(&b, &qb, T0), 0);
  /* Each member hears the other's join (and its own, looped back). */
  in_ok(&a, &qb, T0);
  in_ok(&b, &qa, T0);
  in_ok(&a, &qa, T0);
  in_ok(&s, &qa, T0);
  ck_assert_uint_gt(out1(&s, &ka, T0), 0);
  ck_assert_uint_eq(none(&s, T0), 0); /* b has not asked */
  /* b hears a's delivery: not for b, no fault, no key. */
  in_ok(&b, &ka, T0);
  ck_assert(!smart__sec_have_key(b.sec, 0));
  ck_assert_uint_eq(smart__ident_expiry(b.id), T0 + SMART__MS(200)); /* still asking */
  in_ok(&a, &ka, T0);
  ck_assert(smart__sec_have_key(a.sec, 0));
  /* Datagrams of other kinds are not the room's. */
  uint8_t data[16] = {SYNC, SMART__TYP_DATA << 6, 0, 16};
  int refused, bad;
  ck_assert_int_eq(smart__ident_input(a.id, data, sizeof(data), T0, &refused, &bad), 0);
  ck_assert_int_eq(smart__ident_input(s.id, data, 2, T0, &refused, &bad), 0);
  party_del(&s);
  party_del(&a);
  party_del(&b);
}
END_TEST

START_TEST(a_delivery_from_an_unpinned_key_is_refused) {
  struct party s, r, a;
  party_keys(&s);
  party_keys(&r); /* a rogue sender: it allows a, a does not pin it */
  party_keys(&a);
  const struct party *allow[] = {&a};
  party_start(&s, allow, 1, NULL, T0);
  party_start(&r, allow, 1, NULL, T0);
  party_start(&a, NULL, 0, s.pk, T0);
  struct dg q, k;
  ck_assert_uint_gt(out1(&a, &q, T0), 0);
  in_ok(&r, &q, T0);
  ck_assert_uint_gt(out1(&r, &k, T0), 0);
  ck_assert_mem_eq(deliv_member(&k), a.pk, 32);
  int refused = -1, bad = -1;
  ck_assert_int_eq(in1(&a, &k, T0, &refused, &bad), 1);
  ck_assert_int_eq(bad, 1);
  ck_assert(!smart__sec_have_key(a.sec, 0));
  ck_assert_uint_ne(smart__ident_expiry(a.id), UINT64_MAX); /* still asking */
  /* The pinned sender's answer is taken, and the rogue's replay changes
   * nothing after it. */
  in_ok(&s, &q, T0);
  struct dg ks;
  ck_assert_uint_gt(out1(&s, &ks, T0), 0);
  in_ok(&a, &ks, T0);
  ck_assert(same_key(&s, &a, 0));
  /* It would change nothing (the key is held): dropped before any
   * signature is checked, so not even counted. */
  ck_assert_int_eq(in1(&a, &k, T0, &refused, &bad), 1);
  ck_assert_int_eq(bad, 0);
  ck_assert(same_key(&s, &a, 0));
  ck_assert(!same_key(&r, &a, 0));
  /* A pin is kept once; 16 at most. */
  ck_assert_int_eq(smart__ident_pin(a.id, s.pk), 0);
  uint8_t pk[32] = {0};
  for (int i = 1; i < 16; i++) {
    pk[0] = (uint8_t)i;
    ck_assert_int_eq(smart__ident_pin(a.id, pk), 0);
  }
  pk[0] = 99;
  ck_assert_int_eq(smart__ident_pin(a.id, pk), SMART_ENOMEM);
  party_del(&s);
  party_del(&r);
  party_del(&a);
}
END_TEST

START_TEST(lost_answers_are_asked_for_again) {
  struct party s, a;
  party_keys(&s);
  party_keys(&a);
  const struct party *allow[] = {&a};
  party_start(&s, allow, 1, NULL, T0);
  party_start(&a, NULL, 0, s.pk, T0);
  /* Nothing reaches the sender: the member asks again, backing off from
   * 200 ms to 2 s. */
  struct dg q[8];
  uint64_t at[8], now = T0;
  for (int i = 0; i < 8; i++) {
    at[i] = smart__ident_expiry(a.id);
    ck_assert_uint_ge(at[i], now);
    if (at[i] > now)
      ck_assert_uint_eq(out1(&a, &q[i], at[i] - 1), 0); /* not early */
    now = at[i];
    ck_assert_uint_gt(out1(&a, &q[i], now), 0);
    ck_assert_uint_eq(none(&a, now), 0);
  }
  const uint64_t gaps[] = {200, 400, 800, 1600, 2000, 2000, 2000};
  for (int i = 0; i < 7; i++)
    ck_assert_uint_eq(at[i + 1] - at[i], SMART__MS(gaps[i]));
  /* Every request is fresh (its nonce and signature differ). */
  ck_assert_mem_ne(q[0].b, q[1].b, q[0].n);

  /* The sender answers; the answer is lost. Requests closer than 100 ms
   * (replays) cost no second delivery. */
  struct dg k;
  in_ok(&s, &q[0], now);
  ck_assert_uint_gt(out1(&s, &k, now), 0);
  in_ok(&s, &q[1], now + SMART__MS(50));
  ck_assert_uint_eq(out1(&s, &k, now + SMART__MS(50)), 0);
  /* The sender does not send again by itself ... */
  ck_assert_uint_eq(smart__ident_expiry(s.id), UINT64_MAX);
  /* ... the member's next request brings the key. */
  now = smart__ident_expiry(a.id);
  struct dg r;
  ck_assert_uint_gt(out1(&a, &r, now), 0);
  in_ok(&s, &r, now);
  ck_assert_uint_gt(out1(&s, &k, now), 0);
  in_ok(&a, &k, now);
  ck_assert(same_key(&s, &a, 0));
  ck_assert_uint_eq(smart__ident_expiry(a.id), UINT64_MAX);

  /* Later the member misses an epoch: it asks within 50 ms, from 200 ms. */
  now += SMART__SEC(30);
  smart__ident_want(a.id, -1, now); /* nothing missing: nothing asked */
  ck_assert_uint_eq(smart__ident_expiry(a.id), UINT64_MAX);
  smart__ident_want(a.id, 1, now);
  uint64_t t = smart__ident_expiry(a.id);
  ck_assert_uint_le(t, now + SMART__MS(50));
  ck_assert_uint_gt(out1(&a, &r, now), 0);
  ck_assert_uint_eq(smart__ident_expiry(a.id), now + SMART__MS(200));
  /* A sender never asks. */
  smart__ident_want(s.id, 1, now);
  ck_assert_uint_eq(smart__ident_expiry(s.id), UINT64_MAX);
  party_del(&s);
  party_del(&a);
}
END_TEST

START_TEST(rekey_needs_a_sender) {
  struct party s, a;
  party_keys(&s);
  party_keys(&a);
  struct smart__ident *id;
  ck_assert_int_eq(smart__ident_new(&id, s.sk), 0);
  ck_assert_int_eq(smart__ident_rekey(id, T0, LEAD), SMART_ESTATE); /* not started */
  uint8_t buf[512];
  ck_assert_int_eq(smart__ident_output(id, buf, sizeof(buf), SYNC, GROUP4, T0), 0);
  ck_assert_uint_eq(smart__ident_expiry(id), UINT64_MAX);
  smart__ident_del(id);
  party_start(&a, NULL, 0, s.pk, T0);
  ck_assert_int_eq(smart__ident_rekey(a.id, T0, LEAD), SMART_ESTATE); /* a member */
  /* Output needs room. */
  ck_assert_int_eq(smart__ident_output(a.id, buf, 255, SYNC, GROUP4, T0), 0);
  party_del(&a);
}
END_TEST

/* ---- replayed deliveries, and what a member keeps after revocation ------ */

/* One rekey carried through: every delivery goes to every member (each
 * takes its own), then the lead passes and the sender switches. The
 * delivery for `who`, if any, is kept in *rec. */
static uint64_t rekey_round(struct party *s, struct party *const *m, unsigned nm, uint64_t now,
                            const struct party *who, struct dg *rec) {
  ck_assert_int_eq(smart__ident_rekey(s->id, now, LEAD), 0);
  struct dg k;
  while (out1(s, &k, now)) {
    if (who && !memcmp(deliv_member(&k), who->pk, 32))
      *rec = k;
    for (unsigned i = 0; i < nm; i++)
      in_ok(m[i], &k, now);
  }
  now += LEAD;
  ck_assert_uint_eq(out1(s, &k, now), 0); /* the switch */
  return now + SMART__MS(10);
}

/* A DATA packet sealed by `from`; 1 if `to` opens it. */
static int data_opens(struct party *from, struct party *to, uint16_t seq, uint64_t now) {
  uint8_t buf[128], out[128];
  smart__data_hdr_write(buf, SYNC, SMART__DCMD_DATA, seq, 0, 0, 0, 8);
  memset(buf + SMART__DATA_HDR_LEN, 0x5A, 8);
  smart_ssize n = smart__sec_seal(from->sec, buf, SMART__DATA_HDR_LEN + 8, sizeof(buf), now);
  ck_assert_int_gt(n, 0);
  uint32_t sid;
  return smart__sec_open(to->sec, buf, (size_t)n, out, sizeof(out), &sid, now) > 0;
}

/* A message sealed by `from` (a receiver's request, say); 1 if `to` opens it. */
static int msg_opens(struct party *from, struct party *to, uint64_t now) {
  uint8_t buf[256] = {SYNC, SMART__TYP_MSG << 6 | SMART__MSG_USAGE_JOIN}, out[256];
  smart__put16(buf + 2, SMART__ADDR_MSG_LEN);
  smart_ssize n = smart__sec_seal(from->sec, buf, SMART__ADDR_MSG_LEN, sizeof(buf), now);
  if (n < 0)
    return 0;
  uint32_t sid;
  return smart__sec_open(to->sec, buf, (size_t)n, out, sizeof(out), &sid, now) > 0;
}

/* `holder` kept the key of `epoch`; it forges three DATA packets in the
 * name of sender ID `as` with counters from `counter`: how many `victim`
 * accepts. */
static unsigned forged_accepted(struct party *holder, uint8_t epoch, uint32_t as,
                                struct party *victim, uint64_t counter, uint64_t now) {
  uint8_t key[32], plain[64], dg[160], out[160];
  ck_assert_int_eq(smart__sec_export_key(holder->sec, epoch, key), 0);
  unsigned ok = 0;
  for (unsigned i = 0; i < 3; i++) {
    smart__data_hdr_write(plain, SYNC, SMART__DCMD_DATA, (uint16_t)(900 + i), 0, 0, 0, 16);
    memset(plain + SMART__DATA_HDR_LEN, 'F', 16);
    size_t n = forge_data(smart_crypto_sodium(), key, epoch, as, counter + i, plain,
                          SMART__DATA_HDR_LEN + 16, dg);
    ck_assert_uint_gt(n, 0);
    uint32_t sid;
    if (smart__sec_open(victim->sec, dg, n, out, sizeof(out), &sid, now) > 0)
      ok++;
  }
  smart__memzero(key, sizeof(key));
  return ok;
}

/* Property: a delivery recorded long ago and replayed once the sender's
 * 8-bit epoch has come round (129 or more rekeys later, when the old epoch
 * looks newer modulo 256) moves no member, and the key it carried, which
 * a revoked member kept, lets that member forge nothing. Before, the
 * member went back to epoch 3, which its sender no longer had (its
 * requests were refused), and accepted 3 of 3 forged DATA packets. */
START_TEST(an_old_delivery_after_the_epoch_wrapped_is_refused) {
  struct party s, a, b;
  party_keys(&s);
  party_keys(&a);
  party_keys(&b);
  const struct party *allow[] = {&a, &b};
  party_start(&s, allow, 2, NULL, T0);
  party_start(&a, NULL, 0, s.pk, T0);
  party_start(&b, NULL, 0, s.pk, T0);
  join(&s, &a, T0);
  join(&s, &b, T0);
  struct party *const all[] = {&a, &b};
  struct dg rec;
  memset(&rec, 0, sizeof(rec));
  uint64_t now = T0 + SMART__SEC(1);
  for (int i = 0; i < 3; i++)
    now = rekey_round(&s, all, 2, now, &a, &rec); /* keeps a's delivery of epoch 3 */
  ck_assert_uint_eq(deliv_epoch(&rec), 3);
  ck_assert(same_key(&s, &b, 3));
  /* b is revoked at epoch 3, and keeps its key; 129 rekeys follow. */
  ck_assert_int_eq(smart__ident_revoke(s.id, b.pk), 1);
  for (int i = 0; i < 130; i++)
    now = rekey_round(&s, all, 2, now, NULL, NULL);
  ck_assert_uint_eq(smart__sec_epoch(s.sec), 133);
  ck_assert_uint_eq(smart__sec_epoch(a.sec), 133);
  ck_assert_uint_eq(smart__sec_epoch(b.sec), 3);
  ck_assert(data_opens(&s, &a, 1, now));
  ck_assert(msg_opens(&a, &s, now));
  /* The replay: 3 looks 126 epochs ahead of 133. */
  int refused, bad;
  ck_assert_int_eq(in1(&a, &rec, now, &refused, &bad), 1);
  unsigned epoch = smart__sec_epoch(a.sec);
  int heard = msg_opens(&a, &s, now);
  unsigned forged = forged_accepted(&b, 3, smart__sec_id(s.sec), &a, 1000000, now);
  fprintf(stderr, "wrapped replay: member at epoch %u (sender 133), its request %s, "
          "%u of 3 forged DATA accepted\n", epoch, heard ? "heard" : "refused", forged);
  ck_assert_uint_eq(epoch, 133);
  ck_assert(!smart__sec_have_key(a.sec, 3));
  ck_assert(heard);
  ck_assert_uint_eq(forged, 0);
  ck_assert(data_opens(&s, &a, 2, now)); /* the session goes on */
  party_del(&s);
  party_del(&a);
  party_del(&b);
}
END_TEST

/* Property: a delivery recorded before the sender restarted (its epochs
 * start again at 0, under a new sender ID) and replayed afterwards moves
 * no member, whether the member restarted too or followed the new
 * instance; the revoked member that kept its key forges nothing with it.
 * Before, a restarted member went to epoch 3, which the new instance did
 * not have, and accepted 3 of 3 forged DATA packets; a member that had not
 * restarted never took the new instance's key. */
START_TEST(an_old_delivery_after_the_sender_restarted_is_refused) {
  struct party s1, a, b;
  party_keys(&s1);
  party_keys(&a);
  party_keys(&b);
  const struct party *allow[] = {&a, &b};
  party_start(&s1, allow, 2, NULL, T0);
  party_start(&a, NULL, 0, s1.pk, T0);
  party_start(&b, NULL, 0, s1.pk, T0);
  join(&s1, &a, T0);
  join(&s1, &b, T0);
  struct party *const all[] = {&a, &b};
  struct dg rec;
  memset(&rec, 0, sizeof(rec));
  uint64_t now = T0 + SMART__SEC(1);
  for (int i = 0; i < 3; i++)
    now = rekey_round(&s1, all, 2, now, &a, &rec);
  ck_assert_uint_eq(deliv_epoch(&rec), 3);
  uint32_t old_sid = smart__sec_id(s1.sec);
  /* The sender restarts with the same identity; b is no longer allowed.
   * a2 is a restarted a: the same identity, a new socket. */
  struct party s2, a2;
  party_keys(&s2);
  memcpy(s2.pk, s1.pk, 32);
  memcpy(s2.sk, s1.sk, 64);
  a2 = a;
  a2.sec = NULL;
  a2.id = NULL;
  const struct party *allow2[] = {&a};
  now += SMART__SEC(1);
  party_start(&s2, allow2, 1, NULL, now);
  party_start(&a2, NULL, 0, s2.pk, now);
  join(&s2, &a2, now);
  ck_assert_uint_eq(smart__sec_epoch(a2.sec), 0);
  ck_assert(data_opens(&s2, &a2, 1, now));
  int refused, bad;
  ck_assert_int_eq(in1(&a2, &rec, now, &refused, &bad), 1);
  unsigned epoch = smart__sec_epoch(a2.sec);
  int heard = msg_opens(&a2, &s2, now);
  unsigned forged = forged_accepted(&b, 3, old_sid, &a2, 1000000, now);
  fprintf(stderr, "replay after a restart: restarted member at epoch %u (sender 0), its "
          "request %s, %u of 3 forged DATA accepted\n", epoch, heard ? "heard" : "refused",
          forged);
  int kept3 = smart__sec_have_key(a2.sec, 3), later = data_opens(&s2, &a2, 2, now);

  /* a did not restart: the new instance's data makes it ask, and it takes
   * the new instance's key (an answer to a request it made after its old
   * key came). */
  ck_assert(!data_opens(&s2, &a, 3, now));
  smart__ident_want(a.id, smart__sec_take_missing(a.sec), now);
  uint64_t t = smart__ident_expiry(a.id);
  struct dg q, k;
  int followed = 0;
  if (t != UINT64_MAX && out1(&a, &q, t) > 0) {
    now = t;
    in_ok(&s2, &q, now);
    ck_assert_uint_gt(out1(&s2, &k, now), 0);
    ck_assert_int_eq(in1(&a, &k, now, &refused, &bad), 1);
    followed = same_key(&s2, &a, 0);
  }
  fprintf(stderr, "replay after a restart: the member that did not restart %s the new "
          "instance\n", followed ? "follows" : "does not follow");
  ck_assert_uint_eq(epoch, 0);
  ck_assert(!kept3);
  ck_assert(heard);
  ck_assert_uint_eq(forged, 0);
  ck_assert(later);
  ck_assert(followed);
  ck_assert_uint_eq(smart__sec_epoch(a.sec), 0);
  ck_assert(data_opens(&s2, &a, 4, now));
  ck_assert(msg_opens(&a, &s2, now));
  /* ... and the old instance's delivery, replayed, does not take it back. */
  ck_assert_int_eq(in1(&a, &rec, now, &refused, &bad), 1);
  ck_assert(same_key(&s2, &a, 0));
  ck_assert_uint_eq(smart__sec_epoch(a.sec), 0);
  ck_assert(!smart__sec_have_key(a.sec, 3));
  ck_assert_uint_eq(forged_accepted(&b, 3, old_sid, &a, 2000000, now), 0);
  ck_assert(data_opens(&s2, &a, 5, now));
  party_del(&s1);
  party_del(&s2);
  party_del(&a);
  party_del(&a2);
  party_del(&b);
}
END_TEST

/* The Nonce of a request (its KEYREQ). */
static uint64_t req_nonce(const struct dg *q) {
  struct smart__pkt p;
  const uint8_t *v;
  size_t vl;
  ck_assert_int_eq(smart__pkt_decode(&p, q->b, q->n), 0);
  ck_assert(smart__ext_find(p.ext, p.ext_len, SMART__EXT_KEYREQ, &v, &vl));
  return smart__get64(v + 32);
}

/* The KEYBIND of a delivery: its 64-bit epoch and the request it echoes. */
static void deliv_bind(const struct dg *d, uint64_t *epoch, uint64_t *echo) {
  struct smart__pkt p;
  const uint8_t *v;
  size_t vl;
  ck_assert_int_eq(smart__pkt_decode(&p, d->b, d->n), 0);
  ck_assert(smart__ext_find(p.ext, p.ext_len, SMART__EXT_KEYBIND, &v, &vl));
  ck_assert_uint_eq(vl, 16);
  *epoch = smart__get64(v);
  *echo = smart__get64(v + 8);
}

/* Requests of one socket count up by one from a random start (two sockets
 * of one identity start apart), and every delivery echoes the member's
 * last request, rekeys included; its 64-bit epoch runs on past 255. */
START_TEST(deliveries_echo_the_last_request) {
  struct party s, a, a2;
  party_keys(&s);
  party_keys(&a);
  const struct party *allow[] = {&a};
  party_start(&s, allow, 1, NULL, T0);
  party_start(&a, NULL, 0, s.pk, T0);
  a2 = a;
  party_start(&a2, NULL, 0, s.pk, T0);
  struct dg q1, q2, q3, k;
  ck_assert_uint_gt(out1(&a, &q1, T0), 0);
  ck_assert_uint_gt(out1(&a, &q2, T0 + SMART__MS(200)), 0);
  ck_assert_uint_gt(out1(&a2, &q3, T0), 0);
  ck_assert_uint_eq(req_nonce(&q2), req_nonce(&q1) + 1);
  ck_assert_uint_ne(req_nonce(&q3), req_nonce(&q1));
  ck_assert_uint_lt(req_nonce(&q1), UINT64_C(1) << 62);
  uint64_t now = T0 + SMART__MS(200);
  in_ok(&s, &q2, now);
  ck_assert_uint_gt(out1(&s, &k, now), 0);
  uint64_t epoch, echo;
  deliv_bind(&k, &epoch, &echo);
  ck_assert_uint_eq(epoch, 0);
  ck_assert_uint_eq(echo, req_nonce(&q2));
  in_ok(&a, &k, now);
  ck_assert(same_key(&s, &a, 0));
  /* The answer to an earlier request is as good while no later one was
   * answered (it is this socket's, from this sender instance). */
  struct party *const m[] = {&a};
  struct dg rec;
  now += SMART__SEC(1);
  for (int i = 0; i < 300; i++)
    now = rekey_round(&s, m, 1, now, &a, &rec);
  deliv_bind(&rec, &epoch, &echo);
  ck_assert_uint_eq(epoch, 300);
  ck_assert_uint_eq(deliv_epoch(&rec), 300 % 256);
  ck_assert_uint_eq(echo, req_nonce(&q2));
  ck_assert(same_key(&s, &a, 300 % 256));
  ck_assert(msg_opens(&a, &s, now));
  /* a2, the same identity in another socket, takes none of a's. */
  int refused, bad;
  ck_assert_int_eq(in1(&a2, &k, now, &refused, &bad), 1);
  ck_assert_int_eq(bad, 1);
  ck_assert_int_eq(in1(&a2, &rec, now, &refused, &bad), 1);
  ck_assert_int_eq(bad, 1);
  ck_assert(!smart__sec_have_key(a2.sec, 0) && !smart__sec_have_key(a2.sec, 300 % 256));
  party_del(&s);
  party_del(&a);
  party_del(&a2);
}
END_TEST

/* A member that joins during a rekey's lead gets the current key, then the
 * next: it opens what the sender still seals, and seals in the next epoch,
 * which the sender has. An answer that changes nothing (the member asked
 * for an epoch it had) stops its asking once its signature is checked. */
START_TEST(a_join_in_the_lead_gets_both_keys) {
  struct party s, a, b;
  party_keys(&s);
  party_keys(&a);
  party_keys(&b);
  const struct party *allow[] = {&a, &b};
  party_start(&s, allow, 2, NULL, T0);
  party_start(&a, NULL, 0, s.pk, T0);
  join(&s, &a, T0);
  uint64_t now = T0 + SMART__SEC(1);
  ck_assert_int_eq(smart__ident_rekey(s.id, now, LEAD), 0);
  struct dg k;
  while (out1(&s, &k, now))
    in_ok(&a, &k, now);
  party_start(&b, NULL, 0, s.pk, now);
  struct dg q, k1, k2;
  ck_assert_uint_gt(out1(&b, &q, now), 0);
  in_ok(&s, &q, now);
  ck_assert_uint_gt(out1(&s, &k1, now), 0);
  ck_assert_uint_gt(out1(&s, &k2, now), 0);
  ck_assert_uint_eq(deliv_epoch(&k1), 0);
  ck_assert_uint_eq(deliv_epoch(&k2), 1);
  in_ok(&b, &k1, now);
  in_ok(&b, &k2, now);
  ck_assert(same_key(&s, &b, 0) && same_key(&s, &b, 1));
  ck_assert_uint_eq(smart__sec_epoch(b.sec), 1);
  ck_assert(data_opens(&s, &b, 1, now)); /* still epoch 0 at the sender */
  ck_assert(msg_opens(&b, &s, now));
  /* Delivered the other way round (the first lost and sent again), the
   * older key is taken too, and the member stays in the newer epoch. */
  struct party c;
  party_keys(&c);
  party_start(&c, NULL, 0, s.pk, now);
  ck_assert_int_eq(smart__ident_allow(s.id, c.pk), 0);
  ck_assert_uint_gt(out1(&c, &q, now), 0);
  in_ok(&s, &q, now);
  ck_assert_uint_gt(out1(&s, &k1, now), 0);
  ck_assert_uint_gt(out1(&s, &k2, now), 0);
  in_ok(&c, &k2, now);
  in_ok(&c, &k1, now);
  ck_assert(same_key(&s, &c, 0) && same_key(&s, &c, 1));
  ck_assert_uint_eq(smart__sec_epoch(c.sec), 1);
  ck_assert_uint_eq(smart__ident_expiry(c.id), UINT64_MAX);

  /* a asks although it has what it needs: the answer confirms, and the
   * asking stops. */
  now += LEAD;
  ck_assert_uint_eq(out1(&s, &k, now), 0); /* the switch */
  smart__ident_want(a.id, 1, now);
  uint64_t t = smart__ident_expiry(a.id);
  ck_assert_uint_ne(t, UINT64_MAX);
  ck_assert_uint_gt(out1(&a, &q, t), 0);
  in_ok(&s, &q, t);
  ck_assert_uint_gt(out1(&s, &k, t), 0);
  ck_assert_uint_eq(deliv_epoch(&k), 1);
  in_ok(&a, &k, t);
  ck_assert_uint_eq(smart__ident_expiry(a.id), UINT64_MAX);
  ck_assert_uint_eq(smart__sec_epoch(a.sec), 1);
  party_del(&s);
  party_del(&a);
  party_del(&b);
  party_del(&c);
}
END_TEST

static void add(TCase *t) {
  tcase_add_test(t, join_delivers_the_epoch_key);
  tcase_add_test(t, deliveries_that_change_nothing_cost_no_verification);
  tcase_add_test(t, a_key_not_allowed_is_refused);
  tcase_add_test(t, forged_deliveries_are_bad);
  tcase_add_test(t, revoked_member_gets_no_new_key);
  tcase_add_test(t, other_members_traffic_is_taken_silently);
  tcase_add_test(t, a_delivery_from_an_unpinned_key_is_refused);
  tcase_add_test(t, lost_answers_are_asked_for_again);
  tcase_add_test(t, rekey_needs_a_sender);
  tcase_add_test(t, an_old_delivery_after_the_epoch_wrapped_is_refused);
  tcase_add_test(t, an_old_delivery_after_the_sender_restarted_is_refused);
  tcase_add_test(t, deliveries_echo_the_last_request);
  tcase_add_test(t, a_join_in_the_lead_gets_both_keys);
}

int main(void) { return unit_main("ident", add); }
