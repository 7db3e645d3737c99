/*
 * Engine: configuration, the dispatch of datagrams to the sender role
 * (tx.c) and receiver roles (rx.c, nak.c), and statistics. Events live in
 * evq.c; the leaves it uses (memory, rate limit, PRNG) in util/.
 */
#include "engine_int.h"

#include <string.h>

#include "util/bytes.h"

/* ---- Configuration ------------------------------------------------------ */

void smart__engine_config_init(struct smart__engine_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->size = sizeof(*cfg);
  cfg->sync = 0;
  cfg->k = SMART__DEFAULT_K;
  cfg->nak_retries = 20;
  cfg->join_policy = SMART__JOIN_CURRENT;
  cfg->max_dgram = 1408; /* 1400 bytes of payload after the 8-byte header */
  cfg->window = 4096;
  cfg->grtt_us = 100000;
  cfg->gsize = 1000;
  cfg->rate = 0;
  cfg->burst = 64 * 1024;
  cfg->max_queue = UINT64_C(256) << 20;
  cfg->seed = 1;
  cfg->policy = SMART__POLICY_RELIABLE;
  cfg->horizon_ms = 0;
  cfg->evict_ms = 10000;
  cfg->status_ms = 1000;
  cfg->sender_timeout_ms = 4000;
  /* Twice SMART_OPT_MAX_MSG's default (64 MiB): the largest message a
   * socket accepts by default fits while another one drains. Memory is
   * taken in chunks as messages wait, so this bounds only a producer that
   * outruns the network. */
  cfg->sndbuf = UINT64_C(128) << 20;
  /* Congestion control (cc.c), off in the engine (the socket turns it
   * on): its lower bound 16 KiB/s, the floor of receivers the same. */
  cfg->cc = 0;
  cfg->cc_min_rate = SMART__CC_MIN_RATE;
  cfg->cc_floor = 0;
}

static int config_copy(struct smart__engine_config *dst,
                       const struct smart__engine_config *src) {
  if (!src || src->size < sizeof(*dst) || src->size > 4096)
    return src ? SMART_E2BIG : SMART_EINVAL;
  const uint8_t *extra = (const uint8_t *)src + sizeof(*dst);
  for (size_t i = 0; i < src->size - sizeof(*dst); i++)
    if (extra[i])
      return SMART_E2BIG;
  memcpy(dst, src, sizeof(*dst));
  dst->size = sizeof(*dst);
  if (dst->k == 0 || dst->max_dgram < 64 || dst->max_dgram > SMART__MAX_DGRAM ||
      dst->window == 0 || dst->window > SMART__MAX_SPAN || dst->grtt_us == 0 ||
      dst->gsize == 0 || dst->join_policy > SMART__JOIN_WINDOW ||
      dst->nak_retries == 0 || dst->policy > SMART__POLICY_REALTIME || dst->evict_ms == 0 ||
      dst->sender_timeout_ms < 2 || dst->sndbuf == 0 || dst->cc > 1 ||
      (dst->cc && dst->cc_min_rate < SMART__CC_RATE_LEAST))
    return SMART_EINVAL;
  if (dst->burst < dst->max_dgram)
    dst->burst = dst->max_dgram;
  return 0;
}

int smart__engine_new(struct smart__engine **pe,
                      const struct smart__engine_config *cfg) {
  if (!pe)
    return SMART_EINVAL;
  *pe = NULL;
  struct smart__engine_config c;
  int rc = config_copy(&c, cfg);
  if (rc)
    return rc;
  struct smart__mem m;
  if ((rc = smart__mem_init(&m, c.mem)))
    return rc;
  struct smart__engine *e = m.calloc(1, sizeof(*e), m.user_data);
  if (!e)
    return SMART_ENOMEM;
  e->cfg = c;
  e->sync = c.sync;
  e->ev = e->ev_inline;
  e->evcap = SMART__EV_INLINE;
  e->arena = e->arena_inline;
  e->arena_cap = SMART__ARENA_INLINE;
  e->mem = m;
  e->cfg.mem = NULL;
  smart__rng_seed(&e->rng, c.seed);
  e->grtt_ns = SMART__US(c.grtt_us);
  smart__ratelim_init(&e->tb, c.rate, c.burst, 0);
  smart__ratelim_init(&e->fb, c.rate, c.burst, 0);
  e->st.size = sizeof(e->st);
  *pe = e;
  return 0;
}

void smart__engine_del(struct smart__engine *e) {
  if (!e)
    return;
  smart__tx_free(e);
  smart__rb_free(e);
  for (uint32_t i = 0; i < e->nrx; i++)
    smart__rxs_free(e, e->rx[i]);
  smart__free(e, e->rx);
  smart__evq_free(e);
  struct smart__mem m = e->mem;
  m.free(e, m.user_data);
}

/* Start of every call that may invalidate event data handed out before. */
static void begin_call(struct smart__engine *e, uint64_t now) {
  smart__evq_begin(e);
  if (now > e->last_now)
    e->last_now = now;
}

/* ---- Rate ------------------------------------------------------------------ */

void smart__engine_set_rate(struct smart__engine *e, uint64_t rate, uint32_t burst, uint64_t now) {
  if (!e)
    return;
  if (burst < e->cfg.max_dgram)
    burst = e->cfg.max_dgram;
  e->cfg.rate = rate;
  e->cfg.burst = burst;
  smart__ratelim_set(&e->fb, rate, burst, now);
  if (e->cfg.cc && e->tx) {
    /* The ceiling of congestion control's rate (cc.c). */
    e->tx->cc.applied = 0;
    smart__cc_tx_apply(e, now);
    return;
  }
  smart__ratelim_set(&e->tb, rate, burst, now);
}

/* ---- Requests: the parts every REPLACEMENT and QUIET share ----------------- */

int smart__pkt_session(const struct smart__pkt *p, uint32_t *sess) {
  const uint8_t *v;
  size_t vl;
  if (!smart__ext_find(p->ext, p->ext_len, SMART__EXT_SESSION, &v, &vl) || vl != 4)
    return 0;
  *sess = smart__get32(v);
  return 1;
}

void smart__req_init(const struct smart__engine *e, struct smart__pkt *p,
                     unsigned cmd, int has_session, uint32_t session,
                     uint8_t ext[8]) {
  memset(p, 0, sizeof(*p));
  p->sync = e->cfg.sync;
  p->typ = SMART__TYP_REQ;
  p->cmd = (uint8_t)cmd;
  if (cmd == SMART__REQ_QUIET)
    p->u.quiet.group = e->cfg.group;
  else
    p->u.repl.group = e->cfg.group;
  if (has_session) {
    uint8_t sv[4];
    size_t el = 0;
    smart__put32(sv, session);
    smart__ext_put(ext, 8, &el, SMART__EXT_SESSION, sv, 4);
    p->ext = ext;
    p->ext_len = el;
  }
}

/* ---- Dispatch ------------------------------------------------------------ */

int smart__engine_recv(struct smart__engine *e, uint32_t src_id,
                       const uint8_t *dgram, size_t len, uint64_t now) {
  if (!e || (!dgram && len))
    return SMART_EINVAL;
  begin_call(e, now);
  struct smart__pkt p;
  int rc = smart__pkt_decode(&p, dgram, len);
  if (rc) {
    e->st.drops[SMART__DROP_DECODE]++;
    return rc;
  }
  if (p.sync != e->sync) {
    e->st.drops[SMART__DROP_SYNC]++;
    return SMART_ESYNC;
  }
  switch (p.kind) {
  case SMART__K_DATA:
    if (p.u.data.d) {
      /* Secure envelopes are opened by the security layer, not yet here. */
      e->st.drops[SMART__DROP_UNSUPPORTED]++;
      return SMART_ENOTSUP;
    }
    return smart__rx_on_data(e, src_id, &p, now);
  case SMART__K_REPLACEMENT: {
    uint32_t sess = 0;
    int has_sess = smart__pkt_session(&p, &sess);
    int used = 0;
    /* A sender ignores requests naming another session (absent = any). */
    if (e->tx && (!has_sess || sess == e->tx->session)) {
      rc = smart__tx_on_request(e, src_id, &p, now);
      if (rc < 0)
        return rc;
      used = 1;
    }
    /* Shared learning: every receiver of that sender hears it too. */
    if (e->nrx) {
      smart__rx_on_peer_request(e, src_id, &p, now);
      used = 1;
    }
    if (!used) {
      e->st.drops[SMART__DROP_SESSION]++;
      return SMART_ESTATE;
    }
    return 0;
  }
  case SMART__K_QUIET:
    return smart__rx_on_quiet(e, src_id, &p, now);
  case SMART__K_STATUS: {
    uint32_t sess = 0;
    const uint8_t *v;
    size_t vl;
    struct smart__pos ps;
    if (smart__ext_find(p.ext, p.ext_len, SMART__EXT_POSITION, &v, &vl) &&
        smart__pos_decode(&ps, v, vl) == 0 && (ps.flags & SMART__POS_EVICTED)) {
      /* A sender's notice to us, its receiver. */
      if (!smart__pkt_session(&p, &sess)) {
        e->st.drops[SMART__DROP_DECODE]++;
        return SMART_EFORMAT;
      }
      return smart__acks_on_notice(e, src_id, &ps, sess);
    }
    if (!e->tx || !smart__pkt_session(&p, &sess) || sess != e->tx->session)
      return 0; /* another sender's: not ours to use, not an error either */
    return smart__acks_on_status(e, src_id, &p, now);
  }
  default:
    e->st.drops[SMART__DROP_UNSUPPORTED]++;
    return SMART_ENOTSUP;
  }
}

smart_ssize smart__engine_send_ref(struct smart__engine *e, uint8_t *out, size_t outlen,
                                   struct smart__dst *dst, uint64_t now, uint8_t **ref) {
  if (!e || !out || !dst || !ref)
    return SMART_EINVAL;
  *ref = NULL;
  e->out_ref = e->tx && e->tx->cap >= 2 * SMART__ENGINE_REF_SPAN ? ref : NULL;
  smart_ssize n = smart__engine_send(e, out, outlen, dst, now);
  e->out_ref = NULL;
  return n;
}

smart_ssize smart__engine_send(struct smart__engine *e, uint8_t *out,
                               size_t outlen, struct smart__dst *dst,
                               uint64_t now) {
  if (!e || !out || !dst)
    return SMART_EINVAL;
  begin_call(e, now);
  if (outlen < e->cfg.max_dgram)
    return SMART_ENOBUF;
  dst->kind = SMART__DST_GROUP;
  dst->src_id = 0;
  e->out_unicast = 0;
  smart_ssize n = 0;
  if (e->nrx)
    n = smart__rx_send(e, out, e->cfg.max_dgram, now);
  if (n == 0 && e->tx && e->tx->nnotify)
    n = smart__acks_tx_notice(e, out, e->cfg.max_dgram, now);
  if (n == 0 && e->tx)
    n = smart__tx_send(e, out, e->cfg.max_dgram, now);
  if (n > 0) {
    e->st.dgrams_sent++;
    if (e->out_unicast) {
      dst->kind = SMART__DST_UNICAST;
      dst->src_id = e->out_src;
    }
  }
  return n;
}

uint64_t smart__engine_expiry(struct smart__engine *e) {
  if (!e)
    return SMART__NEVER;
  uint64_t t = e->tx ? smart__tx_expiry(e) : SMART__NEVER;
  return e->nrx ? smart__min_deadline(t, smart__rx_expiry(e)) : t;
}

int smart__engine_handle_expiry(struct smart__engine *e, uint64_t now) {
  if (!e)
    return SMART_EINVAL;
  begin_call(e, now);
  /* The sender's timers (heartbeats, pacing) act in send(); its sweep of
   * silent and stalled receivers here. */
  if (e->tx)
    smart__acks_tx_expire(e, now);
  return e->nrx ? smart__rx_handle_expiry(e, now) : 0;
}

void smart__engine_end(struct smart__engine *e, uint64_t now) {
  if (!e || !e->tx || e->tx->ended)
    return;
  e->tx->ended = 1;
  e->tx->hb_count = 0;
  e->tx->hb_due = now; /* say so at once, then on the usual schedule */
}

int smart__engine_submit(struct smart__engine *e, const void *msg, size_t len,
                         uint64_t now) {
  if (!e || (!msg && len))
    return SMART_EINVAL;
  begin_call(e, now);
  if (len == 0 || len > SMART__MAX_MSG)
    return SMART_EMSGSIZE;
  if (!e->tx) {
    int rc = smart__tx_create(e);
    if (rc)
      return rc;
  }
  return smart__tx_submit(e, msg, len, now);
}

int smart__engine_quiet(struct smart__engine *e, uint32_t ms, uint64_t now) {
  if (!e || ms == 0 || ms > 0xFFFFu)
    return SMART_EINVAL;
  begin_call(e, now);
  if (!e->tx) {
    int rc = smart__tx_create(e);
    if (rc)
      return rc;
  }
  e->tx->quiet_ms = (uint16_t)ms;
  return 0;
}

void smart__engine_get_stats(const struct smart__engine *e,
                             struct smart__stats *st) {
  if (!e || !st || st->size < sizeof(size_t))
    return;
  struct smart__stats all = e->st;
  all.msgs_received = e->msgs_received;
  all.bytes_received = e->bytes_received;
  all.grtt_us = e->grtt_ns / SMART__NS_PER_US;
  if (e->tx && e->cfg.cc) {
    const struct smart__cct *cc = &e->tx->cc;
    all.cc_rate = e->cfg.rate && e->cfg.rate < cc->x ? e->cfg.rate : cc->x;
    if (cc->have_clr) {
      all.cc_clr = cc->clr;
      all.cc_clr_loss_ppm = ((uint64_t)cc->clr_p * 1000000u) >> 32;
      all.cc_clr_rtt_us = cc->clr_rtt / SMART__NS_PER_US;
    }
  }
  /* A receiver: the sender whose equation rate is the lowest. */
  uint64_t low = UINT64_MAX;
  for (uint32_t i = 0; i < e->nrx; i++) {
    const struct smart__rxs *r = e->rx[i];
    all.cc_losses_local += r->cc.local;
    if (!r->cc.on)
      continue;
    uint64_t x = smart__cc_rx_rate(r);
    if (all.cc_rtt_us && x >= low)
      continue;
    low = x;
    all.cc_calc_rate = x == UINT64_MAX ? 0 : x;
    all.cc_loss_ppm = (uint64_t)(smart__cc_rx_p(r) * 1e6);
    all.cc_rtt_us = smart__cc_rx_rtt(r) / SMART__NS_PER_US;
    if (!all.cc_rtt_us)
      all.cc_rtt_us = 1;
  }
  size_t n = st->size < sizeof(*st) ? st->size : sizeof(*st);
  size_t keep = st->size;
  memcpy(st, &all, n);
  st->size = keep;
}

void smart__engine_lend(struct smart__engine *e, const uint8_t *buf, size_t len) {
  if (!e)
    return;
  e->lend_lo = len ? (uintptr_t)buf : 0;
  e->lend_hi = len ? (uintptr_t)buf + len : 0;
}

int smart__engine_unlend(struct smart__engine *e) {
  if (!e)
    return 0;
  e->lend_lo = e->lend_hi = 0;
  return e->nlent ? smart__evq_unlend(e) : 0;
}

uint32_t smart__engine_lent_pending(const struct smart__engine *e) { return e ? e->nlent : 0; }


uint64_t smart__engine_tx_lead(const struct smart__engine *e) {
  return e && e->tx ? e->tx->lead : 0;
}

uint32_t smart__engine_tx_queued(const struct smart__engine *e) {
  return e && e->tx ? e->tx->mn : 0;
}

uint64_t smart__engine_tx_trail(const struct smart__engine *e) {
  return e && e->tx ? e->tx->trail : 0;
}
