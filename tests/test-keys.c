/*
 * Identity-mode keys in whole sessions (the simulator, tests/sess-sim.c):
 * a KEY_DELIVERY recorded in a sender's earlier run and replayed after it
 * restarted, with the old key a former member kept; and a revoked member
 * that seals DATA in the sender's name under the epoch key it kept, in the
 * grace after the switch and, against source authentication, during the
 * lead. Every run is deterministic (one seed, one result).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "forge.h"
#include "sess-sim.h"
#include "smart/smart.h"
#include "util/bytes.h"
#include "wire/wire.h"

#define MS UINT64_C(1000000)
#define RECEIVERS 8u
#define NFORGED 3u

struct keys_ctx {
  uint32_t n;                   /* nodes 1..n */
  uint8_t pk[RECEIVERS + 2][32], sk[RECEIVERS + 2][64]; /* node 0: the sender */
  uint32_t excluded;            /* not on the sender's list (0: none) */
  uint32_t revoked;             /* on it until ACT_REVOKE removes it (0: none) */
  uint32_t sauth;               /* SMART_OPT_SOURCE_AUTH of every node (0: off) */
  /* What the watch keeps: one delivery as it went out, and a key a member
   * received (unwrapped with its secret key, as that member can). */
  uint32_t rec_node, rec_epoch;
  uint8_t rec[512];
  size_t rec_len;
  uint32_t key_node, key_epoch;
  uint8_t key[32];
  int have_key;
  uint32_t key_sid; /* the Sender ID the kept key is bound to */
  uint16_t last_seq;     /* the newest DATA sequence the sender sent */
  uint64_t last_counter; /* and the newest envelope counter */
  /* actions, by the index of their time in `at` */
  uint64_t at[4];
  int act[4];
  uint64_t submitted_at[4];
};

enum { ACT_REKEY = 1, ACT_REVOKE, ACT_REPLAY, ACT_FORGE };

static void keys_setup(void *user, struct ssim *s, uint32_t node, struct smart__opts *o) {
  struct keys_ctx *x = user;
  (void)s;
  o->ops = smart_crypto_sodium();
  o->keys = smart__secure_alloc(96);
  ck_assert_ptr_nonnull(o->keys);
  memset(o->keys, 0, 96);
  memcpy(o->keys + 32, x->sk[node], 64);
  o->have_identity = 1;
  o->sauth_every = x->sauth;
  if (node == 0) {
    o->allowed = malloc((size_t)x->n * 32);
    ck_assert_ptr_nonnull(o->allowed);
    for (uint32_t i = 1; i <= x->n; i++)
      if (i != x->excluded)
        memcpy(o->allowed[o->nallowed++], x->pk[i], 32);
  } else {
    memcpy(o->pins[0], x->pk[0], 32);
    o->npins = 1;
  }
}

/* Sees every datagram on its way (drops none). */
static int keys_watch(void *user, struct ssim *s, uint32_t from, uint32_t node, const uint8_t *dg,
                      size_t len, uint64_t now) {
  struct keys_ctx *x = user;
  (void)s;
  (void)node;
  (void)now;
  if (from != 0 || len < SMART__HDR_LEN)
    return 0;
  if (dg[1] >> 6 == SMART__TYP_DATA && ((dg[1] >> 4) & 3) == SMART__DCMD_DATA) {
    uint16_t seq = smart__get16(dg + 4);
    if ((uint16_t)(seq - x->last_seq) < 0x8000u)
      x->last_seq = seq;
    if ((dg[6] & 0x20) && len >= 40 && smart__get64(dg + 32) > x->last_counter)
      x->last_counter = smart__get64(dg + 32);
    return 0;
  }
  struct smart__pkt p;
  const uint8_t *v;
  size_t vl;
  if (smart__pkt_kind(dg[1] >> 6, dg[1] & 0x3F) != SMART__K_KEY_DELIVERY ||
      smart__pkt_decode(&p, dg, len) != 0 ||
      !smart__ext_find(p.ext, p.ext_len, SMART__EXT_KEYDELIV, &v, &vl) || vl != 184)
    return 0;
  if (!x->rec_len && v[32] == x->rec_epoch && !memcmp(v, x->pk[x->rec_node], 32) &&
      len <= sizeof(x->rec)) {
    memcpy(x->rec, dg, len);
    x->rec_len = len;
  }
  if (!x->have_key && v[32] == x->key_epoch && !memcmp(v, x->pk[x->key_node], 32)) {
    const struct smart_crypto_ops *o = smart_crypto_sodium();
    ck_assert_int_eq(o->unwrap(x->key, v + 40, x->sk[x->key_node], o->user_data), 0);
    x->key_sid = smart__get32(v + 36);
    x->have_key = 1;
  }
  return 0;
}

/* The kept key's holder seals NFORGED DATA packets in the name of the
 * Sender ID it was bound to, a little ahead of the sender's sequence and
 * counter (not so far ahead that the members' replay windows would refuse
 * the sender's own datagrams as too old: smart-security(7), "Insiders
 * disrupting"), and multicasts them from the sender's address. Their payload is no message of the sender's: a
 * receiver that delivers one counts it as an error. */
static void forge(struct keys_ctx *x, struct ssim *s, uint64_t now) {
  ck_assert(x->have_key);
  for (uint32_t k = 0; k < NFORGED; k++) {
    uint8_t plain[8 + 64], dg[8 + 64 + 48];
    smart__data_hdr_write(plain, 0x53, SMART__DCMD_DATA, (uint16_t)(x->last_seq + 3 + k), 0, 0,
                          0, 64);
    memset(plain + 8, 0xEE, 64);
    size_t n = forge_data(smart_crypto_sodium(), x->key, (uint8_t)x->key_epoch, x->key_sid,
                          x->last_counter + 50 + k, plain, sizeof(plain), dg);
    ck_assert_uint_eq(n, sizeof(dg));
    for (uint32_t i = 1; i <= x->n; i++)
      smart__session_recv(ssim_node(s, i)->ss, dg, n, &ssim_node(s, 0)->addr, now);
  }
  for (uint32_t i = 1; i <= x->n; i++)
    ssim_kick(s, i);
}

static void keys_time(void *user, struct ssim *s, uint32_t i, uint64_t now) {
  struct keys_ctx *x = user;
  x->submitted_at[i] = ssim_submitted(s);
  switch (x->act[i]) {
  case ACT_REKEY:
    ck_assert_int_eq(smart__session_rekey(ssim_node(s, 0)->ss, now), 0);
    ssim_kick(s, 0);
    break;
  case ACT_REVOKE:
    ck_assert_int_eq(smart__session_revoke(ssim_node(s, 0)->ss, x->pk[x->revoked], now), 0);
    ssim_kick(s, 0);
    break;
  case ACT_REPLAY: /* the recorded delivery, to the member it names */
    ck_assert_uint_gt(x->rec_len, 0);
    smart__session_recv(ssim_node(s, x->rec_node)->ss, x->rec, x->rec_len,
                        &ssim_node(s, 0)->addr, now);
    ssim_kick(s, x->rec_node);
    break;
  case ACT_FORGE:
    forge(x, s, now);
    break;
  }
}

static void keys_config(struct ssim_config *c, struct keys_ctx *x, uint32_t messages,
                        uint64_t seed) {
  ssim_config_init(c);
  c->receivers = x->n;
  c->messages = messages;
  c->start_ns = 500 * MS; /* members ask for their keys first */
  c->loss = 0.02;
  c->seed = seed;
  c->max_sim_ns = UINT64_C(20000) * MS;
  c->user = x;
  c->setup = keys_setup;
  c->drop = keys_watch;
  c->on_time = keys_time;
  c->at = x->at;
}

static void keys_new(struct keys_ctx *x) {
  memset(x, 0, sizeof(*x));
  x->n = RECEIVERS;
  for (uint32_t i = 0; i <= RECEIVERS + 1; i++)
    ck_assert_int_eq(smart_identity_keypair(x->pk[i], x->sk[i]), 0);
}

/* Run once; the same again must come to the same figures. */
static struct ssim *run(const struct ssim_config *c, struct keys_ctx *x, uint32_t skip) {
  struct keys_ctx saved = *x;
  struct ssim_totals t[2];
  struct ssim *s = NULL;
  for (int k = 0; k < 2; k++) {
    if (s)
      ssim_free(s);
    *x = saved;
    s = ssim_new(c);
    ck_assert_ptr_nonnull(s);
    if (skip)
      ssim_node(s, skip)->expect_all = 0;
    ck_assert_int_eq(ssim_run(s), 0);
    ssim_totals(s, &t[k]);
  }
  t[0].digest = t[1].digest = 0; /* sender IDs and keys are random: compare the figures */
  ck_assert_msg(memcmp(&t[0], &t[1], sizeof(t[0])) == 0, "two runs of one seed differ");
  return s;
}

/* Messages node i delivered that are not the sender's: every message the
 * session handed on, less those the simulator found to be the sender's
 * (in order or repeated). */
static uint64_t forged_at(struct ssim *s, uint32_t i) {
  struct smart_stats st;
  memset(&st, 0, sizeof(st));
  st.size = sizeof(st);
  smart__session_stats(ssim_node(s, i)->ss, &st);
  struct ssim_node *n = ssim_node(s, i);
  return st.msgs_received - n->delivered - n->dups;
}

/* Sum of the forged messages the members (all but the revoked one) delivered. */
static uint64_t forged_delivered(struct ssim *s, const struct keys_ctx *x, uint64_t *worst) {
  uint64_t sum = 0;
  *worst = 0;
  for (uint32_t i = 1; i <= x->n; i++) {
    if (i == x->excluded || i == x->revoked)
      continue;
    uint64_t e = forged_at(s, i);
    sum += e;
    if (e > *worst)
      *worst = e;
  }
  return sum;
}

/* Property: a KEY_DELIVERY recorded in the sender's previous run (epoch 3
 * there) and replayed to a member after the sender restarted (its epochs
 * start again at 0) moves no member; with the key of that old epoch, which
 * a former member kept, nothing forged is delivered. Before: the member
 * switched to epoch 3, its requests were refused, and it delivered a small
 * part of the messages (the others all 1,000), and it delivered the 3
 * forged messages. */
START_TEST(a_delivery_replayed_after_a_restart_changes_nothing) {
  static struct keys_ctx x;
  keys_new(&x);
  /* The sender's previous run: three rekeys; node 1's delivery of epoch 3
   * is recorded, node 2 keeps its key of epoch 3. */
  x.rec_node = 1;
  x.rec_epoch = 3;
  x.key_node = 2;
  x.key_epoch = 3;
  struct ssim_config c;
  keys_config(&c, &x, 300, 21);
  x.at[0] = 600 * MS, x.act[0] = ACT_REKEY;
  x.at[1] = 700 * MS, x.act[1] = ACT_REKEY;
  x.at[2] = 800 * MS, x.act[2] = ACT_REKEY;
  c.nat = 3;
  struct ssim *s = run(&c, &x, 0);
  ck_assert_uint_gt(x.rec_len, 0);
  ck_assert(x.have_key);
  ssim_free(s);

  /* The sender restarts (the same identities, node 2 no longer allowed):
   * the recorded delivery goes to node 1 at 0.8 s, node 2 forges at 0.9 s,
   * the sender rekeys at 1 s. */
  keys_config(&c, &x, 1000, 22);
  memset(x.at, 0, sizeof(x.at));
  x.excluded = 2;
  x.last_seq = 0;
  x.last_counter = 0;
  x.at[0] = 800 * MS, x.act[0] = ACT_REPLAY;
  x.at[1] = 900 * MS, x.act[1] = ACT_FORGE;
  x.at[2] = 1000 * MS, x.act[2] = ACT_REKEY;
  c.nat = 3;
  s = run(&c, &x, 1);
  struct ssim_node *v = ssim_node(s, 1), *ctl = ssim_node(s, 3);
  fprintf(stderr,
          "replay after a restart: the member delivered %llu of %u (a control member %llu), "
          "%llu forged, %llu losses; %llu were submitted at the rekey\n",
          (unsigned long long)v->delivered, c.messages, (unsigned long long)ctl->delivered,
          (unsigned long long)forged_at(s, 1), (unsigned long long)v->loss_events,
          (unsigned long long)x.submitted_at[2]);
  ck_assert_uint_le(x.submitted_at[2], c.messages / 2);
  ck_assert_uint_eq(forged_at(s, 1), 0);
  ck_assert_uint_eq(v->errors, 0);
  ck_assert_uint_eq(v->delivered, c.messages);
  ck_assert_uint_eq(v->loss_events, 0);
  ck_assert_uint_eq(ctl->delivered, c.messages);
  for (uint32_t i = 1; i <= x.n; i++)
    if (i != 2)
      ck_assert_uint_eq(ssim_node(s, i)->errors, 0);
  ssim_free(s);
}
END_TEST

/* A run with a revocation at 1 s and a forgery `forge_after` later by the
 * revoked member, with the key of epoch 0 it kept. */
static struct ssim *revoked_forges(struct keys_ctx *x, uint32_t sauth, uint64_t forge_after,
                                   uint64_t seed) {
  keys_new(x);
  x->revoked = x->n; /* the last member joins, then is revoked */
  x->key_node = x->n;
  x->key_epoch = 0;
  x->sauth = sauth;
  struct ssim_config c;
  keys_config(&c, x, 3000, seed);
  x->at[0] = 1000 * MS, x->act[0] = ACT_REVOKE;
  x->at[1] = 1000 * MS + forge_after, x->act[1] = ACT_FORGE;
  c.nat = 2;
  struct ssim *s = run(&c, x, x->n);
  return s;
}

/* Property: 1.5 s after smart_revoke(), within the 2 s grace of the old
 * epoch, the revoked member seals DATA in the sender's name under the old
 * epoch's key: no member delivers any of it (before: 3 of 3 at every
 * member), and every member delivers every message. */
START_TEST(a_revoked_member_forges_nothing_after_the_switch) {
  static struct keys_ctx x;
  struct ssim *s = revoked_forges(&x, 0, 1500 * MS, 23);
  uint64_t worst, sum = forged_delivered(s, &x, &worst);
  fprintf(stderr, "revoked member, 1.5 s after the revocation: %llu forged messages delivered "
          "in all, %llu of %u at the worst member\n", (unsigned long long)sum,
          (unsigned long long)worst, NFORGED);
  ck_assert_uint_eq(sum, 0);
  for (uint32_t i = 1; i < x.n; i++)
    ck_assert_uint_eq(ssim_node(s, i)->delivered, 3000);
  ssim_free(s);
}
END_TEST

/* During the lead (the first max(50 ms, 4 GRTT) after smart_revoke(), while
 * the sender still seals under the old key) no epoch tells the revoked
 * member from the sender: without source authentication its forgery is
 * delivered, as smart-security(7) says. Source authentication stops it,
 * there and after the switch: nothing forged is delivered, and every
 * member delivers every message. */
START_TEST(source_authentication_stops_the_revoked_member) {
  static struct keys_ctx x;
  struct ssim *s = revoked_forges(&x, 0, 20 * MS, 24);
  uint64_t worst, plain = forged_delivered(s, &x, &worst);
  fprintf(stderr, "revoked member, in the lead, no source authentication: %llu forged "
          "delivered in all\n", (unsigned long long)plain);
  ck_assert_uint_gt(plain, 0);
  ssim_free(s);
  const uint64_t when[2] = {20 * MS, 1500 * MS};
  for (int k = 0; k < 2; k++) {
    s = revoked_forges(&x, 32, when[k], 25 + (uint64_t)k);
    uint64_t sum = forged_delivered(s, &x, &worst);
    uint64_t unsigned_drops = 0;
    for (uint32_t i = 1; i < x.n; i++) {
      struct smart_stats st;
      memset(&st, 0, sizeof(st));
      st.size = sizeof(st);
      smart__session_stats(ssim_node(s, i)->ss, &st);
      unsigned_drops += st.drops_unsigned;
      ck_assert_uint_eq(ssim_node(s, i)->delivered, 3000);
    }
    fprintf(stderr, "revoked member, %llu ms after the revocation, source authentication: "
            "%llu forged delivered, %llu datagrams dropped unsigned\n",
            (unsigned long long)(when[k] / MS), (unsigned long long)sum,
            (unsigned long long)unsigned_drops);
    ck_assert_uint_eq(sum, 0);
    ssim_free(s);
  }
}
END_TEST

int main(void) {
  Suite *su = suite_create("keys");
  TCase *t = tcase_create("sim");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, a_delivery_replayed_after_a_restart_changes_nothing);
  tcase_add_test(t, a_revoked_member_forges_nothing_after_the_switch);
  tcase_add_test(t, source_authentication_stops_the_revoked_member);
  suite_add_tcase(su, t);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
