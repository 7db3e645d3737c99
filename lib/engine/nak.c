/*
 * Receiver role, second half: the request (NAK) timers of the gaps, their
 * suppression by what peers and the sender say (shared learning), backoff,
 * and the REPLACEMENT requests they produce. RFC 3170 §5.3, SRM, NORM RFC
 * 5740 §5.3, PGM RFC 3208; the reasoning is in ALGORITHMS.md. rx.c owns the
 * ring and delivery and calls in here to arm timers.
 */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"
#include "util/fmath.h"

/* ---- Timers -------------------------------------------------------------- */

static uint64_t grtt_eff(const struct smart__rxs *r) {
  return r->rtt_ns > r->grtt_ns ? r->rtt_ns : r->grtt_ns;
}

/*
 * Request delay: NORM's truncated exponential over [0, T], T = K·GRTT,
 * λ = ln(gsize) + 1 (RFC 5740 §5.3; NRL normMessage.h ExponentialRand).
 * Inverse CDF of density ∝ e^(λt/T) on [0, T]. Retries back off ×2, once
 * (SRM doubles with a limit): a whole retry cycle, hold-off plus timer, then
 * stays within (3 + 2K)·GRTT, below the sender's release hold of
 * 4·(K + 1)·GRTT, so a retry always finds the data still in the window.
 */
static uint64_t nak_delay(struct smart__engine *e, struct smart__rxs *r,
                          unsigned rounds) {
  double T = (double)r->k * (double)grtt_eff(r);
  if (rounds)
    T *= 2;
  double u = smart__rng_unit(&e->rng);
  double t = T / r->lambda * smart__ln(1.0 + u * r->elam);
  if (t < 0)
    t = 0;
  if (t > T)
    t = T;
  return (uint64_t)t;
}

static uint64_t hold_time(const struct smart__rxs *r) {
  return SMART__HOLD_GRTT * grtt_eff(r);
}

void smart__nak_arm_wait(struct smart__engine *e, struct smart__rxs *r,
                         struct smart__rx_slot *sl, uint64_t now) {
  uint64_t base = now < r->quiet_until ? r->quiet_until : now;
  sl->phase = PH_WAIT;
  sl->own = 0;
  sl->t_nak = T16(now); /* armed at */
  sl->deadline = base + nak_delay(e, r, sl->rounds);
  if (sl->deadline < r->deadline)
    r->deadline = sl->deadline;
}

void smart__nak_arm_hold(struct smart__rxs *r, struct smart__rx_slot *sl,
                         uint64_t now) {
  sl->phase = PH_HOLD;
  uint64_t d = now + hold_time(r);
  if (d > sl->deadline || sl->deadline == SMART__NEVER)
    sl->deadline = d;
  if (sl->deadline < r->deadline)
    r->deadline = sl->deadline;
}

/* ---- What peers and the sender say ----------------------------------------- */

void smart__nak_learn_rtt(struct smart__rxs *r, struct smart__rx_slot *sl,
                          uint64_t now) {
  if (!sl->own)
    return;
  uint64_t sample = T16_AGE(now, sl->t_nak);
  r->rtt_ns = r->rtt_ns ? (3 * r->rtt_ns + sample) / 4 : sample;
  sl->own = 0;
}

void smart__nak_seen(struct smart__engine *e, struct smart__rxs *r,
                     uint64_t s, uint64_t now, int kind) {
  if (s < r->next || s >= r->hi)
    return;
  struct smart__rx_slot *sl = smart__rx_slot(r, s);
  if (sl->state != RX_MISSING)
    return;
  if (kind == SEEN_UNAVAILABLE) {
    smart__rx_mark_lost(r, sl);
    return;
  }
  if (kind == SEEN_NCF)
    smart__nak_learn_rtt(r, sl, now);
  if (sl->phase == PH_WAIT) {
    /* Shared learning: someone asked already, wait for the repair (SRM;
     * RFC 3170 §5.3). */
    e->st.naks_suppressed++;
    sl->deadline = 0;
    smart__nak_arm_hold(r, sl, now);
  } else if (sl->phase == PH_HOLD && kind == SEEN_NCF) {
    /* The sender confirms a repair is on its way: keep waiting. */
    smart__nak_arm_hold(r, sl, now);
  }
}

/* ---- Expiry ------------------------------------------------------------------ */

/* Queue sequence s for our next REPLACEMENT and wait for its repair. */
static int request(struct smart__engine *e, struct smart__rxs *r,
                   struct smart__rx_slot *sl, uint64_t s, uint64_t now) {
  int rc = smart__grow(e, (void **)&r->nq, &r->nqcap, r->nqn + 1,
                       sizeof(*r->nq));
  if (rc)
    return rc;
  r->nq[r->nqn++] = s;
  sl->deadline = 0;
  smart__nak_arm_hold(r, sl, now);
  sl->own = 1;
  sl->t_nak = T16(now);
  return 0;
}

/* A due timer: request (PH_WAIT), or retry or give up (PH_HOLD ran out:
 * no repair came). 1 if the sequence was requested, 2 if given up. */
static int fire(struct smart__engine *e, struct smart__rxs *r,
                struct smart__rx_slot *sl, uint64_t s, uint64_t now) {
  if (now < r->quiet_until) {
    smart__nak_arm_wait(e, r, sl, now); /* QUIET: defer, not a round */
    return 0;
  }
  if (sl->phase == PH_WAIT) {
    int rc = request(e, r, sl, s, now);
    return rc ? rc : 1;
  }
  if (++sl->rounds >= e->cfg.nak_retries) {
    /* Reliable delivery: a sender heard since this round began is alive
     * and, having said nothing of a release (no UNAVAILABLE, its trail
     * still below s), still holds the sequence: the repairs are lost on
     * our side (a socket that overflows drops them too) or held back by
     * its per-requester budget. The round does not count; the requests go
     * on at the backed-off pace. What bounds the wait is the sender: its
     * trail passing s, its eviction of a receiver that holds the window,
     * or its silence (a round with nothing heard counts, and the last
     * one gives up). */
    if (e->cfg.policy == SMART__POLICY_RELIABLE && r->last_heard &&
        now - r->last_heard < T16_AGE(now, sl->t_nak)) {
      sl->rounds = (uint8_t)(e->cfg.nak_retries - 1);
      e->st.naks_kept++;
      smart__nak_arm_wait(e, r, sl, now);
      return 0;
    }
    smart__rx_mark_lost(r, sl);
    return 2;
  }
  smart__nak_arm_wait(e, r, sl, now);
  return 0;
}

/* The request goes anyway: let it carry this receiver's other gaps whose
 * timers are running (NAK ranges), once they have waited a quarter GRTT
 * (so plain reordering is not requested). */
static int piggyback(struct smart__engine *e, struct smart__rxs *r,
                     uint64_t now) {
  uint64_t min_age = grtt_eff(r) / 4;
  for (uint64_t s = r->next; s < r->hi; s++) {
    struct smart__rx_slot *sl = smart__rx_slot(r, s);
    if (sl->state != RX_MISSING || sl->phase != PH_WAIT ||
        now < r->quiet_until || T16_AGE(now, sl->t_nak) < min_age)
      continue;
    int rc = request(e, r, sl, s, now);
    if (rc)
      return rc;
  }
  return 0;
}

static uint64_t earliest(struct smart__rxs *r) {
  uint64_t t = SMART__NEVER;
  for (uint64_t s = r->next; s < r->hi; s++) {
    struct smart__rx_slot *sl = smart__rx_slot(r, s);
    if (sl->state == RX_MISSING && sl->deadline < t)
      t = sl->deadline;
  }
  return t;
}

int smart__nak_expire(struct smart__engine *e, struct smart__rxs *r,
                      uint64_t now) {
  if (r->deadline > now)
    return 0;
  uint64_t next_dl = SMART__NEVER;
  int fired = 0, lost = 0;
  for (uint64_t s = r->next; s < r->hi; s++) {
    struct smart__rx_slot *sl = smart__rx_slot(r, s);
    if (sl->state != RX_MISSING)
      continue;
    if (sl->deadline <= now) {
      int rc = fire(e, r, sl, s, now);
      if (rc < 0)
        return rc;
      fired |= rc == 1;
      if (rc == 2) {
        lost = 1;
        continue;
      }
    }
    if (sl->deadline < next_dl)
      next_dl = sl->deadline;
  }
  if (fired) {
    int rc = piggyback(e, r, now);
    if (rc)
      return rc;
    next_dl = earliest(r);
  }
  r->deadline = next_dl;
  return lost;
}

uint64_t smart__rx_expiry(struct smart__engine *e) {
  uint64_t t = SMART__NEVER;
  for (uint32_t i = 0; i < e->nrx; i++) {
    struct smart__rxs *r = e->rx[i];
    if (r->nqn)
      t = smart__min_deadline(t, smart__ratelim_when(&e->fb, e->cfg.max_dgram));
    t = smart__min_deadline(t, r->deadline);
    uint64_t a = smart__acks_rx_expiry(e, r);
    if (a < t) {
      /* A STATUS due waits for tokens like a request. */
      uint64_t w = a == r->status_due ? smart__ratelim_when(&e->fb, 64) : 0;
      t = smart__min_deadline(t, a > w ? a : w);
    }
  }
  return t;
}

/* ---- Building REPLACEMENT requests ----------------------------------------- */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Keep in the request queue only what is still missing, sorted and
 * unique; how many remain. */
static uint32_t nq_compact(struct smart__rxs *r) {
  qsort(r->nq, r->nqn, sizeof(*r->nq), cmp_u64);
  uint32_t m = 0;
  for (uint32_t i = 0; i < r->nqn; i++) {
    uint64_t s = r->nq[i];
    if (s < r->next || s >= r->hi || smart__rx_slot(r, s)->state != RX_MISSING)
      continue;
    if (m && r->nq[m - 1] == s)
      continue;
    r->nq[m++] = s;
  }
  r->nqn = m;
  return m;
}

/* The run of consecutive sequences starting at nq[*i] (at most 2^16): its
 * first sequence and the count after it; *i moves past it. */
static uint64_t nq_run(const struct smart__rxs *r, uint32_t *i,
                       uint32_t *extra) {
  uint64_t st = r->nq[(*i)++];
  uint32_t ex = 0;
  while (*i < r->nqn && r->nq[*i] == st + ex + 1 && ex < 0xFFFF) {
    ex++;
    (*i)++;
  }
  *extra = ex;
  return st;
}

static smart_ssize build_request(struct smart__engine *e, struct smart__rxs *r,
                                 uint8_t *out, size_t outlen, uint64_t now) {
  uint32_t m = nq_compact(r);
  if (!m)
    return 0;
  size_t base = SMART__REQ_MSG_LEN;
  size_t fixed = base + (r->have_session ? SMART__EXT_HDR_LEN + 4 : 0) +
                 SMART__EXT_HDR_LEN;
  size_t max_pairs = (outlen - fixed) / 4;
  if (max_pairs > 0xFFFF / 4)
    max_pairs = 0xFFFF / 4;
  /* Ranges: the first in the base header, the rest in NAKLIST. */
  uint8_t *pairs = out + fixed; /* staged past the final NAKLIST position */
  uint32_t first_extra, i = 0;
  uint64_t first = nq_run(r, &i, &first_extra);
  size_t np = 0;
  while (i < m && np < max_pairs) {
    uint32_t ex;
    uint64_t st = nq_run(r, &i, &ex);
    smart__put16(pairs + 4 * np, (uint16_t)st);
    smart__put16(pairs + 4 * np + 2, (uint16_t)ex);
    np++;
  }
  size_t total = fixed - (np ? 0 : SMART__EXT_HDR_LEN) + 4 * np;
  if (!smart__ratelim_take(&e->fb, total, now))
    return 0;
  /* Assemble the extension area in place: SESSION, then NAKLIST whose
   * value is already at its final offset. */
  struct smart__pkt p;
  uint8_t ext[8];
  smart__req_init(e, &p, SMART__REQ_REPLACEMENT, r->have_session, r->session, ext);
  size_t el = p.ext_len;
  uint8_t *x = out + base;
  memcpy(x, ext, el);
  if (np) {
    smart__put16(x + el, SMART__EXT_NAKLIST);
    smart__put16(x + el + 2, (uint16_t)(4 * np));
    el += SMART__EXT_HDR_LEN + 4 * np;
  }
  p.u.repl.seq = (uint16_t)first;
  p.u.repl.extra = (uint16_t)first_extra;
  p.ext = el ? x : NULL;
  p.ext_len = el;
  smart_ssize n = smart__pkt_encode(out, outlen, &p);
  if (n < 0)
    return n;
  memmove(r->nq, r->nq + i, (size_t)(m - i) * sizeof(*r->nq));
  r->nqn = m - i;
  e->st.naks_sent++;
  return n;
}

smart_ssize smart__rx_send(struct smart__engine *e, uint8_t *out, size_t outlen,
                           uint64_t now) {
  for (uint32_t k = 0; k < e->nrx; k++) {
    uint32_t i = (e->nak_rr + k) % e->nrx;
    struct smart__rxs *r = e->rx[i];
    if (!r->nqn)
      continue;
    if (now < r->quiet_until) {
      /* Requests queued before a QUIET arrived wait for its end. */
      for (uint32_t j = 0; j < r->nqn; j++) {
        uint64_t s = r->nq[j];
        if (s >= r->next && s < r->hi && smart__rx_slot(r, s)->state == RX_MISSING)
          smart__nak_arm_wait(e, r, smart__rx_slot(r, s), now);
      }
      r->nqn = 0;
      continue;
    }
    smart_ssize n = build_request(e, r, out, outlen, now);
    if (n != 0) {
      e->nak_rr = i + 1;
      return n;
    }
    if (r->nqn)
      return 0; /* waiting for tokens */
  }
  for (uint32_t i = 0; i < e->nrx; i++) {
    smart_ssize n = smart__acks_rx_send(e, e->rx[i], out, outlen, now);
    if (n) {
      e->out_unicast = 1; /* to the sender it is about */
      e->out_src = e->rx[i]->src;
      return n;
    }
  }
  return 0;
}
