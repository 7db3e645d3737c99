/*
 * Whole sessions (lib/session) in the deterministic simulator
 * (tests/sess-sim.c), at 200 receivers: a plain group under loss, identity
 * mode with a refused key and a revocation, source authentication under
 * loss with an insider, a move with lost announcements, and flow control
 * with slow receivers. Every scenario runs twice with one seed and must
 * come to the very same figures.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "sess-sim.h"
#include "smart/smart.h"
#include "wire/wire.h"

/* Sanitizers make the crypto and the engine several times slower: fewer
 * receivers there (20 against 200; every scenario and check the same) keep
 * the run short. The plain builds run all 200. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifdef SANITIZED
#define RECEIVERS 20u
#else
#define RECEIVERS 200u
#endif

#define MS UINT64_C(1000000)

static void report(const char *name, const struct ssim_totals *t) {
  fprintf(stderr,
          "%s: done %.3f s (sim %.3f s) delivered %llu dgrams %llu naks %llu repairs %llu "
          "loss %llu overflows %llu auth %llu refused %llu manifests %llu/%llu unsigned %llu "
          "rekeys %llu moves %llu reports3 %llu\n",
          name, (double)t->done_ns / 1e9, (double)t->sim_ns / 1e9,
          (unsigned long long)t->delivered, (unsigned long long)t->datagrams,
          (unsigned long long)t->naks_sent, (unsigned long long)t->repairs_sent,
          (unsigned long long)t->loss_events, (unsigned long long)t->overflows,
          (unsigned long long)t->drops_auth, (unsigned long long)t->joins_refused,
          (unsigned long long)t->manifests_sent, (unsigned long long)t->manifests_verified,
          (unsigned long long)t->drops_unsigned, (unsigned long long)t->rekeys,
          (unsigned long long)t->group_changes, (unsigned long long)t->overflow_reports);
}

/* Run `c` twice: the same seed must give the same figures. Returns the
 * second run (to inspect its nodes); `prep` adjusts a run before it starts. */
static struct ssim *run_twice(const char *name, const struct ssim_config *c,
                              void (*prep)(struct ssim *s, void *user), struct ssim_totals *t) {
  struct ssim_totals first;
  struct ssim *s = NULL;
  for (int k = 0; k < 2; k++) {
    if (s)
      ssim_free(s);
    s = ssim_new(c);
    ck_assert_ptr_nonnull(s);
    if (prep)
      prep(s, c->user);
    ck_assert_int_eq(ssim_run(s), 0);
    ssim_totals(s, k ? t : &first);
  }
  report(name, t);
  ck_assert_msg(memcmp(&first, t, sizeof(first)) == 0, "%s: two runs of one seed differ", name);
  return s;
}

/* Every expected receiver delivered every message, in order, once. */
static void assert_all_delivered(struct ssim *s, uint32_t messages) {
  for (uint32_t i = 1; i < ssim_nodes(s); i++) {
    struct ssim_node *n = ssim_node(s, i);
    if (!n->expect_all)
      continue;
    ck_assert_msg(n->delivered == messages && n->loss_events == 0,
                  "receiver %u delivered %llu of %u (%llu losses)", i,
                  (unsigned long long)n->delivered, messages,
                  (unsigned long long)n->loss_events);
    ck_assert_uint_eq(n->dups, 0);
    ck_assert_uint_eq(n->errors, 0);
    ck_assert_uint_eq(n->foreign, 0);
  }
}

static uint8_t *keys_alloc(void) {
  uint8_t *k = smart__secure_alloc(96);
  ck_assert_ptr_nonnull(k);
  memset(k, 0, 96);
  return k;
}

/* ---- plain --------------------------------------------------------------- */

START_TEST(plain_5pct) {
  struct ssim_config c;
  ssim_config_init(&c);
  c.receivers = RECEIVERS;
  c.messages = 2000;
  c.loss = 0.05;
  c.seed = 11;
  struct ssim_totals t;
  struct ssim *s = run_twice("plain", &c, NULL, &t);
  ck_assert(t.complete);
  assert_all_delivered(s, c.messages);
  ck_assert_uint_gt(t.naks_sent, 0);
  ck_assert_uint_gt(t.repairs_sent, 0);
  ssim_free(s);
}
END_TEST

/* ---- identity mode: a refused key, a revocation ---------------------------- */

struct ident_ctx {
  uint32_t n, refused, revoked;
  uint8_t (*pk)[32], (*sk)[64];
  uint64_t at[2];
  uint64_t sub_at_revoke, sub_after_switch;
  uint64_t got_at_revoke; /* the most any member had delivered by then */
};

static void ident_setup(void *user, struct ssim *s, uint32_t node, struct smart__opts *o) {
  struct ident_ctx *x = user;
  (void)s;
  o->ops = smart_crypto_sodium();
  o->keys = keys_alloc();
  memcpy(o->keys + 32, x->sk[node], 64);
  o->have_identity = 1;
  if (node == 0) {
    o->allowed = malloc((size_t)x->n * 32);
    ck_assert_ptr_nonnull(o->allowed);
    for (uint32_t i = 1; i <= x->n; i++)
      if (i != x->refused)
        memcpy(o->allowed[o->nallowed++], x->pk[i], 32);
  } else {
    memcpy(o->pins[0], x->pk[0], 32);
    o->npins = 1;
  }
}

static void ident_time(void *user, struct ssim *s, uint32_t i, uint64_t now) {
  struct ident_ctx *x = user;
  if (i == 0) {
    x->sub_at_revoke = ssim_submitted(s);
    /* The member revoked is the one furthest ahead: one whose key
     * delivery was lost is behind by then (by hundreds of messages, and
     * which one that is depends on the run), and what it read before
     * would measure that, not the revocation. */
    x->revoked = 0;
    for (uint32_t k = 1; k <= x->n; k++) {
      if (k == x->refused)
        continue;
      uint64_t v = ssim_node(s, k)->next_msg;
      if (v > x->got_at_revoke)
        x->got_at_revoke = v;
      if (!x->revoked || v > ssim_node(s, x->revoked)->next_msg)
        x->revoked = k;
    }
    ssim_unexpect(s, x->revoked);
    ck_assert_int_eq(smart__session_revoke(ssim_node(s, 0)->ss, x->pk[x->revoked], now), 0);
    ssim_kick(s, 0);
  } else {
    x->sub_after_switch = ssim_submitted(s);
  }
}

static void ident_prep(struct ssim *s, void *user) {
  struct ident_ctx *x = user;
  ssim_node(s, x->refused)->expect_all = 0; /* the revoked one: when it is chosen */
}

START_TEST(identity_refusal_and_revocation) {
  struct ident_ctx x;
  memset(&x, 0, sizeof(x));
  x.n = RECEIVERS;
  x.refused = RECEIVERS; /* the last one is not on the list */
  x.pk = calloc(x.n + 1, 32);
  x.sk = calloc(x.n + 1, 64);
  for (uint32_t i = 0; i <= x.n; i++)
    ck_assert_int_eq(smart_identity_keypair(x.pk[i], x.sk[i]), 0);
  struct ssim_config c;
  ssim_config_init(&c);
  c.receivers = RECEIVERS;
  c.messages = 2000;
  c.start_ns = 500 * MS; /* members ask for their keys first */
  c.loss = 0.02;
  c.seed = 12;
  c.user = &x;
  c.setup = ident_setup;
  /* Revoke at 1.5 s; the new epoch is used after a lead of
   * max(50 ms, 4 GRTT) = 200 ms: look at what was submitted by then. */
  x.at[0] = 1500 * MS;
  x.at[1] = 1500 * MS + 4 * c.grtt_us * UINT64_C(1000) + MS;
  c.at = x.at;
  c.nat = 2;
  c.on_time = ident_time;
  struct ssim_totals t;
  struct ssim *s = run_twice("identity", &c, ident_prep, &t);
  ck_assert(t.complete);
  assert_all_delivered(s, c.messages);
  struct smart_stats st;
  memset(&st, 0, sizeof(st));
  st.size = sizeof(st);
  smart__session_stats(ssim_node(s, 0)->ss, &st);
  ck_assert_uint_gt(st.joins_refused, 0);
  ck_assert_uint_ge(st.rekeys, 1);
  struct ssim_node *ref = ssim_node(s, x.refused), *rev = ssim_node(s, x.revoked);
  ck_assert_uint_eq(ref->delivered, 0); /* never got a key */
  ck_assert_uint_eq(ref->foreign + ref->errors, 0);
  /* The revoked member read what came before, nothing sealed after. */
  ck_assert_uint_gt(x.sub_at_revoke, 500);
  ck_assert_uint_lt(x.sub_after_switch, c.messages);
  /* (up to its last gap before the switch: a repair that comes after it
   * is sealed in the new epoch) */
  fprintf(stderr, "identity: %llu submitted, %llu delivered at the revocation; the revoked "
                  "member delivered %llu\n", (unsigned long long)x.sub_at_revoke,
          (unsigned long long)x.got_at_revoke, (unsigned long long)rev->delivered);
  ck_assert_uint_ge(rev->delivered, x.got_at_revoke / 2);
  ck_assert_msg(rev->next_msg <= x.sub_after_switch,
                "revoked member delivered message %llu; %llu were submitted at the switch",
                (unsigned long long)rev->next_msg - 1, (unsigned long long)x.sub_after_switch);
  memset(&st, 0, sizeof(st));
  st.size = sizeof(st);
  smart__session_stats(rev->ss, &st);
  ck_assert_uint_gt(st.drops_auth, 0);
  /* The members' own join requests, multicast to the group, are no
   * authentication failure at the other members (each counted every other
   * member's requests, about 250 here, before). A member whose key
   * delivery was lost counts the datagrams it could not open until its
   * next request is answered: so the median, not every member, stays far
   * below the 100 that would make a member report SMART_ERROR_AUTH. */
  uint64_t auth[RECEIVERS + 1];
  uint32_t na = 0;
  for (uint32_t i = 1; i <= x.n; i++) {
    if (i == x.refused || i == x.revoked)
      continue;
    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    smart__session_stats(ssim_node(s, i)->ss, &st);
    uint32_t k = na++;
    for (; k > 0 && auth[k - 1] > st.drops_auth; k--)
      auth[k] = auth[k - 1];
    auth[k] = st.drops_auth;
  }
  ck_assert_msg(auth[na / 2] < 20, "median member: %llu authentication failures",
                (unsigned long long)auth[na / 2]);
  ssim_free(s);
  free(x.pk);
  free(x.sk);
}
END_TEST

/* ---- source authentication under loss, with an insider --------------------- */

static const uint8_t gkey[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

struct sauth_ctx {
  uint8_t pk[32], sk[64];
  uint32_t insider;
  uint64_t insider_sent;
  int insider_moved;
};

static void sauth_setup(void *user, struct ssim *s, uint32_t node, struct smart__opts *o) {
  struct sauth_ctx *x = user;
  (void)s;
  o->ops = smart_crypto_sodium();
  o->keys = keys_alloc();
  memcpy(o->keys, gkey, 32);
  o->have_group_key = 1;
  if (node == 0) {
    memcpy(o->keys + 32, x->sk, 64);
    o->have_identity = 1;
    o->sauth_every = 32;
  } else if (node != x->insider) {
    o->sauth_every = 32;
    memcpy(o->pins[0], x->pk, 32);
    o->npins = 1;
  }
}

/* The insider holds the group key and sends look-alikes of the sender's
 * messages (same indices, same content), unsigned. */
static void sauth_insider(void *user, struct ssim *s, uint32_t node, uint64_t now) {
  struct sauth_ctx *x = user;
  uint8_t msg[64];
  while (x->insider_sent < ssim_submitted(s)) {
    ssim_fill(x->insider_sent, msg, sizeof(msg));
    if (smart__session_submit(ssim_node(s, node)->ss, msg, sizeof(msg), now) != 0)
      break;
    x->insider_sent++;
  }
  /* Once it sends, it also announces a move of the group: nothing vouches
   * for it, so neither the pinned receivers nor the sender follow. */
  if (!x->insider_moved && x->insider_sent >= 200) {
    struct smart__sockaddr g;
    ssim_group_addr(&g, 1);
    ck_assert_int_eq(smart__session_move(ssim_node(s, node)->ss, &g, now), 0);
    x->insider_moved = 1;
  }
}

START_TEST(source_auth_5pct_with_insider) {
  struct sauth_ctx x;
  memset(&x, 0, sizeof(x));
  ck_assert_int_eq(smart_identity_keypair(x.pk, x.sk), 0);
  struct ssim_config c;
  ssim_config_init(&c);
  c.receivers = RECEIVERS;
  c.extra = 1;
  x.insider = RECEIVERS + 1;
  c.messages = 1500;
  c.loss = 0.05;
  c.seed = 13;
  c.user = &x;
  c.setup = sauth_setup;
  c.extra_step = sauth_insider;
  struct ssim_totals t;
  struct ssim *s = NULL;
  struct ssim_totals first;
  for (int k = 0; k < 2; k++) { /* twice, as run_twice, with the insider's count reset */
    x.insider_sent = 0;
    x.insider_moved = 0;
    if (s)
      ssim_free(s);
    s = ssim_new(&c);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(ssim_run(s), 0);
    ssim_totals(s, k ? &t : &first);
  }
  report("source-auth", &t);
  ck_assert_msg(memcmp(&first, &t, sizeof(t)) == 0, "two runs of one seed differ");
  ck_assert(t.complete);
  assert_all_delivered(s, c.messages); /* nothing from the insider (foreign == 0) */
  ck_assert_uint_gt(x.insider_sent, c.messages / 2);
  ck_assert_uint_gt(t.manifests_sent, 0);
  uint64_t unsigned_drops = 0;
  for (uint32_t i = 1; i <= RECEIVERS; i++) {
    struct smart_stats st;
    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    smart__session_stats(ssim_node(s, i)->ss, &st);
    ck_assert_uint_gt(st.manifests_verified, 0);
    unsigned_drops += st.drops_unsigned;
  }
  ck_assert_uint_gt(unsigned_drops, 0); /* the insider's datagrams were held and dropped */
  ck_assert(x.insider_moved);
  struct smart__sockaddr g0;
  ssim_group_addr(&g0, 0);
  ck_assert(smart__addr_equal(smart__session_group(ssim_node(s, 0)->ss), &g0));
  ssim_free(s);
}
END_TEST

/* ---- a move, with lost announcements -------------------------------------- */

struct move_ctx {
  uint64_t at[1];
  uint32_t lost[RECEIVERS + 1];
  uint64_t moved_at;
};

static void move_time(void *user, struct ssim *s, uint32_t i, uint64_t now) {
  struct move_ctx *x = user;
  (void)i;
  struct smart__sockaddr g;
  ssim_group_addr(&g, 1);
  x->moved_at = ssim_submitted(s);
  ck_assert_int_eq(smart__session_move(ssim_node(s, 0)->ss, &g, now), 0);
  ssim_kick(s, 0);
}

/* Every fourth receiver loses the first three announcements (the quick
 * ones): it follows on a later one. */
static int move_drop(void *user, struct ssim *s, uint32_t from, uint32_t node, const uint8_t *dg,
                     size_t len, uint64_t now) {
  struct move_ctx *x = user;
  (void)s;
  (void)now;
  if (from != 0 || node == 0 || node % 4 || len < SMART__HDR_LEN ||
      smart__pkt_kind(dg[1] >> 6, dg[1] & 0x3F) != SMART__K_ADDR_RANGE_CHANGE)
    return 0;
  return x->lost[node] < 3 ? (x->lost[node]++, 1) : 0;
}

START_TEST(move_with_lost_announcements) {
  struct move_ctx x;
  struct ssim_config c;
  ssim_config_init(&c);
  c.receivers = RECEIVERS;
  c.messages = 3000;
  c.loss = 0.05;
  c.seed = 14;
  c.user = &x;
  c.drop = move_drop;
  x.at[0] = 1000 * MS;
  c.at = x.at;
  c.nat = 1;
  c.on_time = move_time;
  struct ssim_totals t, first;
  struct ssim *s = NULL;
  for (int k = 0; k < 2; k++) {
    memset(&x, 0, sizeof(x));
    x.at[0] = 1000 * MS;
    if (s)
      ssim_free(s);
    s = ssim_new(&c);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(ssim_run(s), 0);
    ssim_totals(s, k ? &t : &first);
  }
  report("move", &t);
  ck_assert_msg(memcmp(&first, &t, sizeof(t)) == 0, "two runs of one seed differ");
  ck_assert(t.complete);
  assert_all_delivered(s, c.messages);
  ck_assert_uint_gt(x.moved_at, 500);
  ck_assert_uint_lt(x.moved_at, c.messages - 500);
  struct smart__sockaddr g1;
  ssim_group_addr(&g1, 1);
  for (uint32_t i = 0; i <= RECEIVERS; i++) {
    struct ssim_node *n = ssim_node(s, i);
    ck_assert_msg(smart__addr_equal(&n->groups[0], &g1), "node %u did not move", i);
    ck_assert(smart__addr_equal(smart__session_group(n->ss), &g1));
    if (i) {
      ck_assert_uint_eq(n->group_changes, 1);
      if (i % 4 == 0)
        ck_assert_uint_eq(x.lost[i], 3);
    }
  }
  ck_assert_uint_eq(t.group_changes, RECEIVERS);
  ssim_free(s);
}
END_TEST

/* ---- flow control --------------------------------------------------------- */

struct fc_ctx {
  uint32_t service[RECEIVERS + 1];
  uint64_t from_ns, until_ns, bytes; /* what the sender sent node 1 in a window */
};

static int fc_watch(void *user, struct ssim *s, uint32_t from, uint32_t node, const uint8_t *dg,
                    size_t len, uint64_t now) {
  struct fc_ctx *x = user;
  (void)s;
  (void)dg;
  uint64_t t = now - UINT64_C(1000000000);
  if (from == 0 && node == 1 && t >= x->from_ns && t < x->until_ns)
    x->bytes += len;
  return 0;
}

static void fc_config(struct ssim_config *c, struct fc_ctx *x) {
  memset(x, 0, sizeof(*x));
  /* two slow receivers among them: 3,000 datagrams a second (about
   * 3 MB/s), a 256 KiB buffer; the others read everything at once */
  x->service[5] = x->service[RECEIVERS / 2] = 3000;
  x->from_ns = 600 * MS; /* the sender's rate once it settled */
  x->until_ns = 1100 * MS;
  ssim_config_init(c);
  c->receivers = RECEIVERS;
  c->messages = 4000;
  c->msg_len = 1000;
  c->interval_ns = 0; /* as fast as the sender may */
  c->rate = 20000000; /* SMART_OPT_RATE: 20 MB/s */
  c->grtt_us = 10000;
  c->delay_min_ns = 1 * MS;
  c->delay_max_ns = 3 * MS;
  c->jitter_ns = 100000;
  c->seed = 15;
  c->service_dps = x->service;
  c->rcvbuf_default = 256 * 1024;
  c->max_sim_ns = UINT64_C(30) * 1000000000;
  c->user = x;
  c->drop = fc_watch;
}

START_TEST(flow_control_slow_receivers) {
  struct fc_ctx x;
  struct ssim_config c;
  struct ssim_totals t, first, off;
  struct ssim *s = NULL;
  for (int k = 0; k < 2; k++) {
    fc_config(&c, &x);
    if (s)
      ssim_free(s);
    s = ssim_new(&c);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(ssim_run(s), 0);
    ssim_totals(s, k ? &t : &first);
  }
  report("flow", &t);
  ck_assert_msg(memcmp(&first, &t, sizeof(t)) == 0, "two runs of one seed differ");
  ck_assert(t.complete);
  assert_all_delivered(s, c.messages);
  struct ssim_node *snd = ssim_node(s, 0);
  ck_assert_uint_gt(snd->overflow_reports, 0); /* ERROR_REPORT 3 heard */
  ck_assert_uint_eq(snd->overflow_bad_args, 0);  /* each with the reading rate */
  uint64_t rate = x.bytes * 1000000000u / (x.until_ns - x.from_ns);
  ck_assert_msg(rate < c.rate / 3, "the sender still sends %llu B/s", (unsigned long long)rate);
  uint64_t fc_overflows = t.overflows;
  ssim_free(s);

  /* The same run with a shell that tells flow control nothing: the sender
   * never hears a report and buries the slow receivers. */
  fc_config(&c, &x);
  c.no_gauge = 1;
  s = ssim_new(&c);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(ssim_run(s), 0);
  ssim_totals(s, &off);
  report("flow-off", &off);
  ck_assert_uint_eq(ssim_node(s, 0)->overflow_reports, 0);
  ck_assert_msg(fc_overflows * 4 < off.overflows, "%llu overflows with flow control, %llu without",
                (unsigned long long)fc_overflows, (unsigned long long)off.overflows);
  ssim_free(s);
}
END_TEST

/* CPU time per scenario, for the log (nothing asserts on it). */
static clock_t cpu0;
static void cpu_start(void) { cpu0 = clock(); }
static void cpu_end(void) {
  fprintf(stderr, "  (%.1f s of CPU)\n", (double)(clock() - cpu0) / CLOCKS_PER_SEC);
}

int main(void) {
  Suite *su = suite_create("session");
  TCase *t = tcase_create("sim");
  tcase_set_timeout(t, 300);
  tcase_add_checked_fixture(t, cpu_start, cpu_end);
  tcase_add_test(t, plain_5pct);
  tcase_add_test(t, identity_refusal_and_revocation);
  tcase_add_test(t, source_auth_5pct_with_insider);
  tcase_add_test(t, move_with_lost_announcements);
  tcase_add_test(t, flow_control_slow_receivers);
  suite_add_tcase(su, t);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
