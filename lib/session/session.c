/*
 * The session: creation, the receive policy, timers, commands, control and
 * statistics. The send side's producer table is in output.c. See
 * session.h; the protocol's reasoning is in smart-protocol(7) and
 * smart-security(7).
 */
#include "session/session_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/bytes.h"
#include "util/time.h"
#include "wire/wire.h"

#define DEFAULT_SYNC 0x53
#define DEFAULT_GRTT_US 5000u
#define DEFAULT_MTU 1472u /* 1500-byte Ethernet frame less IPv4 and UDP headers */
#define SAUTH_HOLD SMART__MS(500)
#define REKEY_MIN_LEAD SMART__MS(50)
#define CHECK_EVERY SMART__SEC(1) /* report triggers */
#define FLUSH_MIN_QUIET SMART__SEC(1)
#define TUN_LEAVE_WAIT (SMART__TUN_LEAVE_TRIES * SMART__TUN_LEAVE_GAP_NS)

/* ---- options ----------------------------------------------------------- */

void smart__opts_init(struct smart__opts *o) {
  memset(o, 0, sizeof(*o));
  smart__engine_config_init(&o->eng);
  o->eng.sync = DEFAULT_SYNC;
  o->eng.grtt_us = DEFAULT_GRTT_US;
  o->eng.cc = SMART_CC_ON; /* congestion control (engine/cc.c) */
  o->ttl = 1;
  o->loop = 1;
  o->background = 1;
  o->rcvtimeo_ms = -1;
  o->mtu = DEFAULT_MTU;
  o->max_msg = 64u << 20;
  o->grace_ms = 2000;
  o->report_ms = 5000;
  o->member_timeout_ms = 20000;
  o->sauth_ms = 10;
  o->sauth_early = 50;
}

void smart__opts_free(struct smart__opts *o) {
  if (o->keys)
    smart__secure_free(o->keys);
  free(o->allowed);
  o->keys = NULL;
  o->allowed = NULL;
  o->nallowed = 0;
}

/* ---- creation ------------------------------------------------------------ */

static uint32_t v4_of(const struct smart__sockaddr *a) {
  return a->u.sa.sa_family == AF_INET ? ntohl(a->u.in4.sin_addr.s_addr) : 0;
}

static const uint8_t *identity_key(const struct smart__opts *o) {
  return o->have_identity ? o->keys + 32 : NULL;
}

/* Identity mode: the allow-list and pins the options gathered. */
static int ident_setup(struct smart__session *ss, uint64_t now) {
  const struct smart__opts *o = &ss->o;
  int rc = smart__ident_new(&ss->ident, identity_key(o));
  for (uint32_t i = 0; i < o->nallowed && rc == 0; i++)
    rc = smart__ident_allow(ss->ident, o->allowed[i]);
  for (uint32_t i = 0; i < o->npins && rc == 0; i++)
    rc = smart__ident_pin(ss->ident, o->pins[i]);
  return rc ? rc : smart__ident_start(ss->ident, ss->sec, now);
}

/* Source authentication: a sender signs manifests with its identity; a
 * socket that pinned sender keys requires them. */
static int sauth_setup(struct smart__session *ss, const struct smart_crypto_ops *ops) {
  const struct smart__opts *o = &ss->o;
  struct smart__sauth_cfg ac = {
      .ops = ops,
      .presign = o->presign,
      .sk = identity_key(o),
      .every = o->have_identity ? o->sauth_every : 0,
      .interval_ns = SMART__MS(o->sauth_ms),
      .early_pct = o->sauth_early,
      .require = o->npins > 0,
      .hold_ns = SAUTH_HOLD,
      .max_len = o->mtu,
  };
  int rc = smart__sauth_new(&ss->sauth, &ac);
  for (uint32_t i = 0; i < o->npins && rc == 0; i++)
    rc = smart__sauth_pin(ss->sauth, o->pins[i]);
  return rc;
}

static int security_setup(struct smart__session *ss, uint64_t now) {
  const struct smart__opts *o = &ss->o;
  struct smart__sec_cfg sc = {
      .ops = o->ops, /* the shell names the default provider */
      .mode = o->have_group_key ? SMART__SEC_GROUP : SMART__SEC_IDENTITY,
      .group_key = o->have_group_key ? o->keys : NULL,
      .identity = identity_key(o),
      .auth_only = o->auth_only,
      .grace_ns = SMART__MS(o->grace_ms),
      .rekey_ns = SMART__MS(o->rekey_ms),
      .rekey_bytes = o->rekey_bytes,
      .cipher = o->cipher,
      .open_in_place = o->ops_in_place,
  };
  uint32_t id;
  int rc = smart__sec_new(&ss->sec, &sc, &id);
  if (rc == 0 && !o->have_group_key)
    rc = ident_setup(ss, now);
  if (rc == 0 && o->sauth_every)
    rc = sauth_setup(ss, sc.ops);
  ss->cfg.session = id; /* heartbeats name the same sender ID */
  ss->cfg.max_dgram = o->mtu - SMART__SEC_OVERHEAD;
  return rc;
}

static void apply_rate(struct smart__session *ss, uint64_t now) {
  uint32_t burst = ss->cfg.burst;
  uint64_t r = smart__flow_limit(&ss->flow, ss->o.rate, &burst);
  smart__engine_set_rate(ss->eng, r, burst, now);
}

int smart__session_new(struct smart__session **out, const struct smart__opts *o,
                       const struct smart__session_addrs *a, uint64_t now) {
  struct smart__session *ss = calloc(1, sizeof(*ss));
  if (!ss)
    return SMART_ENOMEM;
  *out = ss;
  ss->o = *o;
  ss->cfg = o->eng;
  ss->group = a->group;
  ss->self = a->self;
  ss->group4 = v4_of(&a->group);
  ss->cfg.max_dgram = o->mtu;
  smart__rng_seed(&ss->rng, o->eng.seed ^ UINT64_C(0x5bd1e995));
  smart__flow_init(&ss->flow, SMART__US(o->eng.grtt_us));
  ss->now = now;
  ss->check_at = now + CHECK_EVERY;
  if (!(ss->scratch = malloc(SMART__SCRATCH)))
    return SMART_ENOMEM;
  int rc = 0;
  if (o->have_group_key || o->have_identity)
    rc = security_setup(ss, now);
  if (rc == 0 && ss->sec && smart__sec_opens_gcm(ss->sec))
    ss->cfg.pos_flags |= SMART__POS_GCM; /* receivers say so in every STATUS */
  ss->cfg.rate = o->rate;
  if (ss->cfg.burst < o->mtu)
    ss->cfg.burst = o->mtu * 16;
  ss->cfg.group = ss->group4;
  if (rc == 0)
    rc = smart__members_new(&ss->mem, SMART__MS(o->report_ms), SMART__MS(o->member_timeout_ms),
                            smart__rng_next(&ss->rng));
  if (rc == 0)
    rc = smart__engine_new(&ss->eng, &ss->cfg);
  if (rc == 0 && a->relay) {
    ss->relay = *a->relay;
    rc = smart__tunnel_new(&ss->tunnel, a->relay, &a->group, &a->self, now);
  }
  return rc;
}

void smart__session_del(struct smart__session *ss) {
  if (!ss)
    return;
  smart__engine_del(ss->eng);
  smart__ident_del(ss->ident);
  smart__sauth_del(ss->sauth);
  smart__members_del(ss->mem);
  smart__tunnel_del(ss->tunnel);
  smart__sec_del(ss->sec);
  smart__peers_free(&ss->peers);
  free(ss->scratch);
  free(ss);
}

/* ---- commands ------------------------------------------------------------ */

static void command(struct smart__session *ss, int kind, const struct smart__sockaddr *g) {
  if (ss->ncmd == SMART__CMDQ)
    return; /* cannot happen: at most one open and one close are pending */
  ss->cmdq[ss->ncmd].kind = kind;
  if (g)
    ss->cmdq[ss->ncmd].group = *g;
  ss->ncmd++;
}

int smart__session_cmd(struct smart__session *ss, struct smart__cmd *c) {
  if (!ss->ncmd)
    return 0;
  *c = ss->cmdq[0];
  memmove(ss->cmdq, ss->cmdq + 1, --ss->ncmd * sizeof(ss->cmdq[0]));
  return 1;
}

/* Ask for a group socket; what follows is in group_ready(). */
static void want_group(struct smart__session *ss, const struct smart__sockaddr *g, int why) {
  ss->pending = *g;
  ss->pending_kind = why;
  command(ss, SMART__CMD_OPEN_GROUP, g);
}

static void group_changed_event(struct smart__session *ss, const struct smart__sockaddr *g) {
  struct smart_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.size = sizeof(ev);
  ev.type = SMART_EVENT_GROUP_CHANGED;
  smart__addr_format(g, ev.member, sizeof(ev.member));
  smart__members_push(ss->mem, &ev);
}

int smart__session_group_ready(struct smart__session *ss, const struct smart__sockaddr *g, int ok,
                               uint64_t now) {
  int why = ss->pending_kind;
  if (!why || !smart__addr_equal(g, &ss->pending))
    return SMART_ESTATE;
  ss->pending_kind = 0;
  if (!ok)
    return 0; /* a receiver stays where it is; smart_move() reports the error */
  ss->have_old = 1;
  if (why == 1) { /* a receiver follows at once */
    ss->old_close_at = now + SMART__MOVE_LINGER_NS;
    ss->group = *g;
    ss->group4 = v4_of(g);
    group_changed_event(ss, g);
  } else { /* a sender announces first: see move.h */
    uint64_t lead = 4 * SMART__US(ss->cfg.grtt_us);
    ss->old_close_at = smart__move_start(&ss->move, &ss->group, g, lead, now);
  }
  return 0;
}

/* ---- receive ------------------------------------------------------------- */

static int kind_of(const uint8_t *p, size_t len) {
  return len >= SMART__HDR_LEN ? smart__pkt_kind(p[1] >> 6, p[1] & 0x3F) : SMART__K_NONE;
}

/* An authenticated ADDR_RANGE_CHANGE: follow it if it comes from a sender
 * we receive (a relay serves one group: not through a tunnel). Returns 0
 * when malformed (the engine drops and counts it). */
static int follow_move(struct smart__session *ss, struct smart__peer *p, const uint8_t *dg,
                       size_t len) {
  struct smart__pkt pkt;
  struct smart__sockaddr g;
  if (smart__pkt_decode(&pkt, dg, len) != 0)
    return 0;
  /* Under source authentication without pinned senders (a sender's own
   * socket) nothing vouches for the mover: a sender moves only by
   * smart_move(), never because a member said so. */
  int unvouched = ss->sauth && !ss->o.npins && smart__engine_tx_lead(ss->eng);
  if (!p->data || ss->tunnel || unvouched)
    ss->drops_other++; /* a change from someone who sends us nothing, or unvouched */
  else if (smart__move_target(&pkt, &ss->group, &g) == 0 && !ss->pending_kind)
    want_group(ss, &g, 1);
  return 1;
}

/* DATA from a sender: the membership room learns of it and of the group
 * size its heartbeats carry. */
static void data_heard(struct smart__session *ss, struct smart__peer *p, const uint8_t *dg,
                       size_t len, uint64_t now) {
  if (!p->data) {
    p->data = 1;
    smart__members_heard(ss->mem, 0, now);
  }
  struct smart__hb hb;
  if (((dg[1] >> 4) & 3) == SMART__DCMD_HEARTBEAT && !(dg[6] & 0x20) &&
      smart__hb_decode(&hb, dg + SMART__DATA_HDR_LEN, len - SMART__DATA_HDR_LEN) == 0)
    smart__members_heard(ss->mem, hb.gsize, now);
}

/* A datagram that passed every check, by kind: reports to the membership
 * room (an overflow report to flow control first), moves to the move
 * room, everything else to the engine. */
static void deliver(struct smart__session *ss, uint32_t id, int kind, const uint8_t *dg,
                    size_t len, uint64_t now) {
  struct smart__peer *p = smart__peers_get(&ss->peers, id);
  switch (kind) {
  case SMART__K_DATA: /* a data sender only once the engine took its datagram */
    if (smart__engine_recv(ss->eng, id, dg, len, now) == 0 && len >= SMART__DATA_HDR_LEN) {
      data_heard(ss, p, dg, len, now);
      if (ss->sec && p->sid) /* its replay window is kept when the table is full */
        smart__sec_heard_data(ss->sec, p->sid);
    }
    return;
  case SMART__K_ADDR_RANGE_CHANGE:
    if (follow_move(ss, p, dg, len))
      return;
    break;
  case SMART__K_ERROR_REPORT:
    if (len >= SMART__REPORT_MSG_LEN && smart__get32(dg + 12) == SMART_ERROR_OVERFLOW &&
        smart__engine_tx_lead(ss->eng) && smart__flow_cut(&ss->flow, smart__get32(dg + 16), now))
      apply_rate(ss, now);
    /* then it is a report like any other */
    /* fall through */
  case SMART__K_PROBLEM_REPORT:
  case SMART__K_USAGE_JOIN:
  case SMART__K_USAGE_LEAVE:
    if (smart__members_input(ss->mem, id, smart__peers_text(&ss->peers, id), dg, len, now))
      return;
    break;
  default:
    break;
  }
  smart__engine_recv(ss->eng, id, dg, len, now); /* drops are counted inside */
}

/* Hand on every held datagram a verified manifest released. */
static void sauth_release(struct smart__session *ss, uint64_t now) {
  uint32_t sid;
  size_t n;
  while ((n = smart__sauth_take(ss->sauth, ss->scratch, SMART__SCRATCH, &sid)) > 0) {
    uint32_t id = smart__peers_by_sid(&ss->peers, sid);
    if (!id)
      continue;
    /* The round trip a heartbeat measures leaves out its wait here. */
    smart__engine_arrival(ss->eng, smart__sauth_taken_at(ss->sauth));
    deliver(ss, id, kind_of(ss->scratch, n), ss->scratch, n, now);
    smart__engine_arrival(ss->eng, ss->rx_cur);
  }
}

void smart__session_rx_end(struct smart__session *ss, uint64_t now) {
  if (!ss->sauth)
    return;
  smart__sauth_flush(ss->sauth);
  sauth_release(ss, now);
}

/* Open the envelope (secure session): 0 and the plaintext, or -1 (counted).
 * In the caller's buffer (`mut`, the datagram itself, writable) where the
 * provider opens in place and source authentication does not need the
 * sealed bytes afterwards (their digest): then the engine gets it where
 * it lies, in the shell's lent buffer, without a copy. Else in scratch. */
static int open_sealed(struct smart__session *ss, const uint8_t *dg, uint8_t *mut, size_t len,
                       const uint8_t **pt, size_t *plen, uint32_t *sid, uint64_t now) {
  smart_ssize n = SMART_ENOTSUP;
  if (mut && !ss->sauth)
    n = smart__sec_open_in_place(ss->sec, mut, len, pt, sid, now);
  if (n >= 0) {
    *plen = (size_t)n;
    return 0;
  }
  if (n == SMART_ENOTSUP)
    n = smart__sec_open(ss->sec, dg, len, ss->scratch, SMART__SCRATCH, sid, now);
  if (n < 0) {
    if (n == SMART_ERANGE)
      ss->drops_replay++;
    else
      ss->drops_auth++;
    if (ss->ident)
      smart__ident_want(ss->ident, smart__sec_take_missing(ss->sec), now);
    return -1;
  }
  *pt = ss->scratch;
  *plen = (size_t)n;
  return 0;
}

/*
 * The receive policy, in order:
 *   1. identity messages (joins, key deliveries) are signed, not sealed:
 *      the identity room takes them before opening;
 *   2. everything else is opened (secure session) — what fails is dropped;
 *   3. tunnel control is taken only from the relay;
 *   4. the peer gets its id (full table: dropped);
 *   5. requests are served within the peer's budget;
 *   6. source authentication: manifests verify; data and sender commands
 *      wait for the manifest that vouches for them;
 *   7. deliver(): moves only from a data sender, reports, the engine.
 */
static void recv_dg(struct smart__session *ss, const uint8_t *dg, uint8_t *mut, size_t len,
                    const struct smart__sockaddr *from, uint64_t now);

void smart__session_arrival(struct smart__session *ss, uint64_t at, uint32_t drops) {
  ss->rx_at = at;
  if (drops) /* the engine adds them up until a gap uses them */
    smart__engine_local_drops(ss->eng, drops);
}

/* Every datagram: the engine learns when it arrived (smart__session_arrival)
 * for as long as it is handled. */
static void recv_at(struct smart__session *ss, const uint8_t *dg, uint8_t *mut, size_t len,
                    const struct smart__sockaddr *from, uint64_t now) {
  ss->rx_cur = ss->rx_at;
  ss->rx_at = 0;
  smart__engine_arrival(ss->eng, ss->rx_cur);
  recv_dg(ss, dg, mut, len, from, now);
  smart__engine_arrival(ss->eng, 0);
  ss->rx_cur = 0;
}

void smart__session_recv(struct smart__session *ss, const uint8_t *dg, size_t len,
                         const struct smart__sockaddr *from, uint64_t now) {
  recv_at(ss, dg, NULL, len, from, now);
}

void smart__session_recv_writable(struct smart__session *ss, uint8_t *dg, size_t len,
                                  const struct smart__sockaddr *from, uint64_t now) {
  recv_at(ss, dg, dg, len, from, now);
}

static void recv_dg(struct smart__session *ss, const uint8_t *dg, uint8_t *mut, size_t len,
                    const struct smart__sockaddr *from, uint64_t now) {
  ss->now = now;
  ss->dgrams_received++;
  if (len > SMART__MAX_DGRAM) { /* truncated by the kernel: larger than any SMART datagram */
    ss->drops_other++;
    return;
  }
  if (ss->o.drop_ppm && smart__rng_next(&ss->rng) % 1000000u < ss->o.drop_ppm) {
    ss->drops_injected++;
    return;
  }
  int refused, bad;
  if (ss->ident && smart__ident_input(ss->ident, dg, len, now, &refused, &bad)) {
    ss->joins_refused += (uint64_t)refused;
    ss->drops_auth += (uint64_t)bad;
    return;
  }
  const uint8_t *pt = dg;
  size_t plen = len;
  uint32_t sid = 0;
  if (ss->sec && open_sealed(ss, dg, mut, len, &pt, &plen, &sid, now) != 0)
    return;
  if (ss->tunnel && smart__addr_equal(from, &ss->relay) &&
      smart__tunnel_input(ss->tunnel, pt, plen, now))
    return; /* a reply may be due: the shell sends next */
  uint32_t id = smart__peers_id(&ss->peers, from, sid, now);
  if (ss->peers.forgot) { /* an idle sender's slot went to a newcomer */
    smart__engine_forget(ss->eng, ss->peers.forgot);
    ss->peers.forgot = 0;
  }
  if (!id) {
    ss->drops_other++;
    return;
  }
  int kind = kind_of(pt, plen);
  if (kind == SMART__K_REPLACEMENT && !smart__peers_nak_allowed(&ss->peers, id, now)) {
    ss->naks_limited++;
    return;
  }
  if (ss->sauth && kind == SMART__K_MANIFEST && smart__sauth_manifest(ss->sauth, pt, plen, now))
    return; /* verified once this input ends (rx_end, or the tick after it) */
  if (ss->sauth && smart__sauth_holds(ss->sauth, pt, plen)) {
    /* Held from its arrival: its round trip leaves the hold out. */
    uint64_t at = ss->rx_cur && ss->rx_cur <= now ? ss->rx_cur : now;
    smart__sauth_hold(ss->sauth, sid, smart__sec_counter_of(dg, len), dg, len, pt, plen, at);
    sauth_release(ss, now); /* its manifest may have come first */
    return;
  }
  deliver(ss, id, kind, pt, plen, now);
}

void smart__session_rx_lend(struct smart__session *ss, const uint8_t *buf, size_t len) {
  smart__engine_lend(ss->eng, buf, len);
}

void smart__session_rx_unlend(struct smart__session *ss) { (void)smart__engine_unlend(ss->eng); }

void smart__session_rx_read(struct smart__session *ss, uint64_t bytes, uint64_t now) {
  smart__flow_read(&ss->flow, bytes, now);
}

int smart__session_rx_look_due(const struct smart__session *ss, uint64_t now) {
  return smart__flow_look_due(&ss->flow, now);
}

void smart__session_rx_fill(struct smart__session *ss, uint32_t used, uint32_t size, uint64_t now) {
  uint32_t kib, permille;
  if (smart__flow_look(&ss->flow, used, size, now, &kib, &permille))
    (void)smart__members_pressure(ss->mem, kib, permille);
}

/* ---- send ---------------------------------------------------------------- */

void smart__session_sent(struct smart__session *ss, uint64_t bytes, uint64_t now) {
  smart__flow_sent(&ss->flow, bytes, now);
  ss->unsent = 0;
  if (ss->sauth) /* idle from now on when nothing is queued (early manifests) */
    smart__sauth_idle(ss->sauth, smart__engine_tx_queued(ss->eng) == 0, now);
}

int smart__session_submit(struct smart__session *ss, const void *buf, size_t len, uint64_t now) {
  if (ss->sauth)
    smart__sauth_idle(ss->sauth, 0, now);
  return smart__engine_submit(ss->eng, buf, len, now);
}

int smart__session_sign_probe(struct smart__session *ss) {
  return ss->sauth ? smart__sauth_sign_probe(ss->sauth) : SMART_ESTATE;
}

void smart__session_sign_cost(struct smart__session *ss, uint64_t ns) {
  if (ss->sauth)
    smart__sauth_set_sign_cost(ss->sauth, ns);
}

/* ---- timers -------------------------------------------------------------- */

/* A new key epoch: derived (group key) or drawn and delivered (identity),
 * switched to after a lead of max(50 ms, 4 GRTT) in identity mode. */
static int do_rekey(struct smart__session *ss, uint64_t now) {
  int rc;
  if (ss->ident) {
    uint64_t lead = 4 * SMART__US(ss->cfg.grtt_us);
    rc = smart__ident_rekey(ss->ident, now, lead < REKEY_MIN_LEAD ? REKEY_MIN_LEAD : lead);
    if (rc == 0)
      smart__sec_rekey_started(ss->sec, now);
  } else {
    rc = smart__sec_rekey(ss->sec, now);
  }
  if (rc == 0)
    ss->rekeys++;
  return rc;
}

/* Error and problem reports from counters, checked every second: 100 or
 * more datagrams that failed authentication; more than 5% of 100 or more
 * datagrams lost. */
static void report_triggers(struct smart__session *ss, uint64_t now) {
  if (now < ss->check_at)
    return;
  ss->now = now;
  ss->check_at = now + CHECK_EVERY;
  struct smart__stats e;
  e.size = sizeof(e);
  smart__engine_get_stats(ss->eng, &e);
  uint64_t rx = ss->dgrams_received, bad = e.losses_recovered + e.losses_unrecoverable;
  if (ss->drops_auth - ss->seen_auth >= 100)
    smart__members_report(ss->mem, 1, SMART_ERROR_AUTH,
                          (uint32_t)(ss->drops_auth - ss->seen_auth), 0, now);
  if (rx - ss->seen_rx >= 100 && (bad - ss->seen_bad) * 20 > rx - ss->seen_rx)
    smart__members_report(ss->mem, 0, SMART_PROBLEM_HIGH_LOSS,
                          (uint32_t)((bad - ss->seen_bad) * 1000000u / (rx - ss->seen_rx)), 0,
                          now);
  ss->seen_auth = ss->drops_auth;
  ss->seen_rx = rx;
  ss->seen_bad = bad;
}

int smart__session_tick(struct smart__session *ss, uint64_t now) {
  struct smart__sockaddr g;
  ss->now = now;
  if (smart__move_switch(&ss->move, &g, now)) { /* a sender's move takes effect */
    ss->group = g;
    ss->group4 = v4_of(&g);
  }
  if (ss->have_old && now >= ss->old_close_at) {
    ss->have_old = 0;
    command(ss, SMART__CMD_CLOSE_OLD, NULL);
  }
  smart__members_expire(ss->mem, now);
  report_triggers(ss, now);
  if (smart__flow_grow(&ss->flow, now))
    apply_rate(ss, now);
  if (ss->sauth) { /* the manifests of the input before this tick, then expiry */
    smart__sauth_expire(ss->sauth, now);
    sauth_release(ss, now);
  }
  int rc;
  if (smart__engine_expiry(ss->eng) <= now && (rc = smart__engine_handle_expiry(ss->eng, now)) != 0)
    return rc;
  if (ss->sec && smart__engine_tx_lead(ss->eng) && smart__sec_rekey_due(ss->sec, now))
    (void)do_rekey(ss, now);
  return 0;
}

uint64_t smart__session_expiry(const struct smart__session *ss) {
  uint64_t t = smart__engine_expiry(ss->eng);
  if (ss->ident)
    t = smart__min_deadline(t, smart__ident_expiry(ss->ident));
  if (ss->sauth)
    t = smart__min_deadline(t, smart__sauth_expiry(ss->sauth));
  if (ss->tunnel)
    t = smart__min_deadline(t, smart__tunnel_expiry(ss->tunnel));
  t = smart__min_deadline(t, smart__members_expiry(ss->mem));
  t = smart__min_deadline(t, smart__move_expiry(&ss->move));
  if (ss->have_old)
    t = smart__min_deadline(t, ss->old_close_at);
  if (ss->ncmd)
    t = 0;
  return t;
}

/* ---- the application's side ---------------------------------------------- */

static void peer_event(struct smart__session *ss, uint32_t type, uint32_t flags, uint32_t id,
                       uint64_t seq);

int smart__session_poll(struct smart__session *ss, struct smart__delivery *d) {
  struct smart__event ev;
  while (smart__engine_poll(ss->eng, &ev)) {
    if (ev.type == SMART__EV_NEW_SENDER) {
      ss->senders++;
      continue;
    }
    if (ev.type == SMART__EV_EVICTED) {
      peer_event(ss, SMART_EVENT_EVICTED, 0, ev.src_id, ev.seq);
      continue;
    }
    if (ev.type == SMART__EV_SENDER_INACTIVE || ev.type == SMART__EV_SENDER_GONE) {
      peer_event(ss,
                 ev.type == SMART__EV_SENDER_GONE ? SMART_EVENT_SENDER_GONE
                                                  : SMART_EVENT_SENDER_INACTIVE,
                 ev.count ? SMART_EVENT_ENDED : 0, ev.src_id, ev.seq);
      continue;
    }
    memset(d, 0, sizeof(*d));
    d->sender_id = ev.src_id;
    _Static_assert(SMART__PEER_TEXT == sizeof(((struct smart_msginfo *)0)->sender),
                   "sender text size");
    d->sender = smart__peers_text(&ss->peers, ev.src_id);
    d->seq = ev.seq;
    d->count = ev.count;
    if (ev.type == SMART__EV_LOSS) {
      smart__members_report(ss->mem, 1, SMART_ERROR_LOSS, (uint32_t)ev.seq, (uint32_t)ev.count,
                            ss->now);
      d->kind = SMART__DLV_LOSS;
      return 1;
    }
    d->kind = SMART__DLV_MESSAGE;
    d->data = ev.data;
    d->len = ev.len;
    ss->msgs_delivered++;
    ss->bytes_delivered += ev.len;
    return 1;
  }
  return 0;
}

uint32_t smart__session_tx_queued(const struct smart__session *ss) {
  return smart__engine_tx_queued(ss->eng);
}

int smart__session_tx_busy(const struct smart__session *ss) {
  return smart__engine_tx_lead(ss->eng) || smart__engine_tx_queued(ss->eng);
}

uint32_t smart__session_max_dgram(const struct smart__session *ss) { return ss->cfg.max_dgram; }

static uint64_t activity(const struct smart__session *ss) {
  struct smart__stats st;
  st.size = sizeof(st);
  smart__engine_get_stats(ss->eng, &st);
  return st.data_sent + st.repairs_sent + st.confirms_sent + st.naks_received;
}

void smart__session_flush_start(struct smart__session *ss, uint64_t now) {
  ss->flush_activity = now;
  ss->flush_count = UINT64_MAX;
  smart__engine_flush_begin(ss->eng, now);
}

void smart__session_flush_end(struct smart__session *ss) { smart__engine_flush_end(ss->eng); }

int smart__session_flushed(struct smart__session *ss, uint64_t now, uint64_t *until) {
  /* Receivers that report their position say when they hold everything. */
  int st = smart__engine_flush_state(ss->eng, NULL);
  if (st >= 0) {
    *until = SMART__NEVER; /* their reports wake us */
    return st;
  }
  /* A receiver that lost a repair backs off before it asks again: give the
   * slowest a full second of silence before calling the group done. */
  uint64_t quiet = 4 * ((uint64_t)ss->cfg.k + 2) * SMART__US(ss->cfg.grtt_us);
  if (quiet < FLUSH_MIN_QUIET)
    quiet = FLUSH_MIN_QUIET;
  uint64_t count = activity(ss);
  if (count != ss->flush_count) {
    ss->flush_count = count;
    ss->flush_activity = now;
  }
  *until = ss->flush_activity + quiet;
  return smart__engine_tx_queued(ss->eng) == 0 && now >= *until;
}

void smart__session_leave(struct smart__session *ss, uint64_t now) {
  ss->leaving = 1;
  smart__engine_leave(ss->eng, now); /* a last STATUS to each sender */
  smart__engine_end(ss->eng, now);   /* a sender's heartbeats say END */
  if (ss->tunnel)
    smart__tunnel_leave(ss->tunnel, now);
}

int smart__session_leaving_tunnel(const struct smart__session *ss) {
  return ss->tunnel && smart__tunnel_state(ss->tunnel) != SMART__TUN_CLOSED;
}

uint64_t smart__session_leave_wait_ns(void) { return TUN_LEAVE_WAIT; }

/* ---- control ------------------------------------------------------------- */

void smart__session_set_drop(struct smart__session *ss, uint32_t ppm) { ss->o.drop_ppm = ppm; }

const struct smart__sockaddr *smart__session_group(const struct smart__session *ss) {
  return &ss->group;
}

const struct smart__sockaddr *smart__session_dest(const struct smart__session *ss) {
  return ss->tunnel ? &ss->relay : &ss->group;
}

int smart__session_tunnelled(const struct smart__session *ss) { return ss->tunnel != NULL; }

int smart__session_move(struct smart__session *ss, const struct smart__sockaddr *g, uint64_t now) {
  (void)now;
  if (!smart__engine_tx_lead(ss->eng))
    return SMART_ESTATE;
  if (smart__addr_equal(g, &ss->group))
    return 0;
  if (ss->pending_kind)
    return SMART_EAGAIN; /* a move is being set up */
  want_group(ss, g, 2);
  return 0;
}

int smart__session_rekey(struct smart__session *ss, uint64_t now) {
  if (!ss->sec || !smart__engine_tx_lead(ss->eng))
    return SMART_ESTATE;
  return do_rekey(ss, now);
}

int smart__session_allow(struct smart__session *ss, const uint8_t pk[32]) {
  /* after the join: only a sender (non-empty list at join) */
  if (!ss->ident || !smart__ident_is_server(ss->ident))
    return SMART_ESTATE;
  return smart__ident_allow(ss->ident, pk);
}

int smart__session_revoke(struct smart__session *ss, const uint8_t pk[32], uint64_t now) {
  if (!ss->ident)
    return SMART_ESTATE;
  if (!smart__ident_revoke(ss->ident, pk))
    return SMART_EINVAL;
  /* The revoked member must not read what follows: a new epoch at once. */
  return do_rekey(ss, now);
}

/* The engine's news about receivers (sender side) and senders (receiver
 * side) as application events. */
static void peer_event_cc(struct smart__session *ss, uint32_t type, uint32_t flags, uint32_t id,
                          uint64_t seq, const struct smart__rcv_event *rv);
static void peer_event(struct smart__session *ss, uint32_t type, uint32_t flags, uint32_t id,
                       uint64_t seq) {
  peer_event_cc(ss, type, flags, id, seq, NULL);
}

static void peer_event_cc(struct smart__session *ss, uint32_t type, uint32_t flags, uint32_t id,
                          uint64_t seq, const struct smart__rcv_event *rv) {
  struct smart_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.size = sizeof(ev);
  ev.type = type;
  ev.flags = flags;
  ev.member_id = id;
  ev.seq = seq;
  if (rv) {
    ev.rate = rv->rate;
    ev.loss_ppm = rv->loss_ppm;
    ev.rtt_us = rv->rtt_us;
  }
  const char *t = smart__peers_text(&ss->peers, id);
  if (t)
    snprintf(ev.member, sizeof(ev.member), "%s", t);
  smart__members_push(ss->mem, &ev);
}

static void rcv_events(struct smart__session *ss) {
  static const uint32_t map[] = {
      [SMART__RCV_NEW] = SMART_EVENT_RECEIVER_NEW,
      [SMART__RCV_COMPLETE] = SMART_EVENT_RECEIVER_COMPLETE,
      [SMART__RCV_BEHIND] = SMART_EVENT_RECEIVER_BEHIND,
      [SMART__RCV_EVICTED] = SMART_EVENT_RECEIVER_EVICTED,
      [SMART__RCV_GONE] = SMART_EVENT_RECEIVER_GONE,
      [SMART__RCV_SLOW] = SMART_EVENT_RECEIVER_SLOW,
      [SMART__RCV_CLR] = SMART_EVENT_CC_LIMIT,
  };
  struct smart__rcv_event rv;
  while (smart__engine_rcv_poll(ss->eng, &rv)) {
    if (rv.type >= sizeof(map) / sizeof(map[0]) || !map[rv.type])
      continue;
    uint32_t flags = 0;
    if (rv.type == SMART__RCV_GONE && rv.reason == 0)
      flags = SMART_EVENT_TIMEOUT;
    if (rv.type == SMART__RCV_EVICTED && rv.reason == SMART__EVICT_SLOW)
      flags = SMART_EVENT_SLOW;
    peer_event_cc(ss, map[rv.type], flags, rv.src_id, rv.pos, &rv);
  }
}

int smart__session_event(struct smart__session *ss, struct smart_event *ev) {
  rcv_events(ss);
  return smart__members_event(ss->mem, ev);
}

smart_ssize smart__session_receivers(struct smart__session *ss, struct smart_receiver *out,
                                     size_t max, size_t stride, uint64_t now) {
  uint32_t n = smart__engine_rcv_list(ss->eng, NULL, 0);
  uint32_t m = max < n ? (uint32_t)max : n;
  if (!m)
    return n;
  const struct smart__mem *lm = smart__mem_libc();
  struct smart__rcv_info *all = smart__mem_alloc(lm, (size_t)m * sizeof(*all));
  if (!all)
    return SMART_ENOMEM;
  smart__engine_rcv_list(ss->eng, all, m);
  uint64_t lead = smart__engine_tx_lead(ss->eng);
  for (uint32_t i = 0; i < m; i++) {
    const struct smart__rcv_info *x = &all[i];
    struct smart_receiver one;
    memset(&one, 0, sizeof(one));
    one.size = sizeof(one);
    one.id = x->src_id;
    const char *t = smart__peers_text(&ss->peers, x->src_id);
    if (t)
      snprintf(one.addr, sizeof(one.addr), "%s", t);
    one.state = x->state;
    one.position = x->pos;
    one.behind = lead > x->pos ? lead - x->pos : 0;
    one.last_ms = now > x->last_ns ? (now - x->last_ns) / SMART__NS_PER_MS : 0;
    one.rtt_us = x->rtt_ns / SMART__NS_PER_US;
    struct smart_receiver *dst = (struct smart_receiver *)(void *)((uint8_t *)out + i * stride);
    memcpy(dst, &one, sizeof(one) < stride ? sizeof(one) : stride);
    dst->size = stride;
  }
  smart__mem_free(lm, all);
  return n;
}

size_t smart__session_members(struct smart__session *ss, struct smart_member *out, size_t max,
                              size_t stride, uint64_t now) {
  size_t n = smart__members_list(ss->mem, NULL, 0, now);
  struct smart_member one;
  for (size_t i = 0; i < n && i < max; i++) { /* one at a time, at the caller's stride */
    one.size = sizeof(one);
    smart__members_list_one(ss->mem, i, &one, now);
    struct smart_member *dst = (struct smart_member *)(void *)((uint8_t *)out + i * stride);
    memcpy(dst, &one, sizeof(one) < stride ? sizeof(one) : stride);
    dst->size = stride;
  }
  return n;
}

static void engine_stats(const struct smart__session *ss, struct smart_stats *v) {
  struct smart__stats e;
  e.size = sizeof(e);
  smart__engine_get_stats(ss->eng, &e);
  v->msgs_sent = e.msgs_sent;
  v->bytes_sent = e.bytes_sent;
  v->repairs_sent = e.repairs_sent;
  v->repairs_received = e.losses_recovered;
  v->naks_sent = e.naks_sent;
  v->naks_suppressed = e.naks_suppressed;
  v->naks_received = e.naks_received;
  v->losses_recovered = e.losses_recovered;
  v->losses_unrecoverable = e.losses_unrecoverable;
  v->drops_malformed = e.drops[SMART__DROP_DECODE];
  v->drops_sync = e.drops[SMART__DROP_SYNC];
  v->drops_duplicate = e.drops[SMART__DROP_DUP]; /* each duplicate once (duplicates counts the same) */
  v->drops_window = e.drops[SMART__DROP_RANGE];
  v->naks_limited = e.naks_budget;
  v->drops_other = e.drops[SMART__DROP_UNSUPPORTED] + e.drops[SMART__DROP_SESSION] +
                   e.drops[SMART__DROP_NOMEM];
  v->window_peak = e.held_peak;
  v->sndbuf_peak = e.queued_peak;
  v->cc_rate = e.cc_rate;
  v->cc_clr = e.cc_clr;
  v->cc_clr_loss_ppm = e.cc_clr_loss_ppm;
  v->cc_clr_rtt_us = e.cc_clr_rtt_us;
  v->grtt_us = e.grtt_us;
  v->cc_reports = e.cc_reports_received + e.cc_reports_sent;
  v->cc_loss_ppm = e.cc_loss_ppm;
  v->cc_rtt_us = e.cc_rtt_us;
  v->cc_calc_rate = e.cc_calc_rate;
  v->cc_losses_local = e.cc_losses_local;
}

void smart__session_stats(const struct smart__session *ss, struct smart_stats *v) {
  engine_stats(ss, v);
  v->msgs_received = ss->msgs_delivered;
  v->bytes_received = ss->bytes_delivered;
  v->dgrams_received = ss->dgrams_received;
  v->drops_injected = ss->drops_injected;
  v->drops_other += ss->drops_other;
  v->senders = ss->senders;
  v->drops_auth = ss->drops_auth;
  v->drops_replay = ss->drops_replay;
  v->rekeys = ss->rekeys + (ss->sec ? smart__sec_adopted(ss->sec) : 0);
  v->joins_refused = ss->joins_refused;
  v->naks_limited += ss->naks_limited; /* the engine's: cut short by the repair budget */
  if (ss->sauth) {
    struct smart__sauth_stats as;
    smart__sauth_stats(ss->sauth, &as);
    v->manifests_sent = as.manifests_sent;
    v->manifests_verified = as.manifests_verified;
    v->drops_unsigned = as.drops_unsigned;
  }
  v->drops_cipher = ss->sec ? smart__sec_cipher_drops(ss->sec) : 0;
}
