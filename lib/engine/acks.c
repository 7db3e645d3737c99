/*
 * Receiver positions: who holds what, and what the sender may forget.
 *
 * Receiver side. Each receiver tells each sender it hears where it stands
 * with a STATUS (TYP 2, CMD 3, by unicast to the sender): its delivery
 * point, every sequence below it delivered or reported lost. It sends one
 * soon after it first hears the sender, then one every T = max(status_ms,
 * gsize / 1000 s) x U[0.5, 1.5] (RTCP's scaling, RFC 3550 §6.2: the whole
 * group sends about 1,000 a second at most, whatever its size), and one
 * within U[0, GRTT/2] when a heartbeat asks (ACKREQ) and it holds the
 * watermark the heartbeat names, or as soon as it reaches that watermark.
 * It also watches the sender: silent for sender_timeout/2 it is INACTIVE,
 * silent for sender_timeout it is GONE, and whatever was still missing from
 * it is reported lost first (the sender heartbeats at least once a second,
 * so the default timeout of 4 s is three missed heartbeats and more).
 *
 * Sender side. The receivers that report form a table. Under the reliable
 * policy the sender releases the oldest datagram of a full window only
 * when every live receiver's delivery point is past it; while it cannot,
 * it is blocked (new data waits: SMART_EAGAIN or a blocking send), its
 * heartbeats ask for positions, and a receiver that holds the window for
 * evict_ms without progress is evicted (an event, and the sender goes on
 * without it: it gets CONFIRM UNAVAILABLE and reports the loss). A
 * receiver silent for max(evict_ms, 3 report intervals) is gone. Without
 * any report (nobody listening, or only peers that do not send STATUS)
 * the time rule of NORM's flow control applies (smart__tx_release_hold).
 * Under the real-time policy reports never hold data: what was sent more
 * than the horizon ago is released, and a full window releases by the
 * time rule as well.
 *
 * A heartbeat asks (ACKREQ) at most once per max(2 GRTT, 1 ms x live
 * receivers), so the answers stay under about 1,000 a second as well.
 */
#include "engine_int.h"

#include <string.h>

#include "util/bytes.h"

#define RT_DEFAULT_HORIZON SMART__MS(1000)
#define SWEEP SMART__MS(100)
/* After its first STATUS to a sender a receiver sends EARLY_STATUS more at
 * 2, 4, 8 and 16 GRTT from the one before (the last about 30 GRTT after
 * the first), so that the loss of a few reports does not leave it unknown;
 * a sender holds by the time rule as well only while a receiver that heard
 * its first data may still be unknown: EARLY_SPAN GRTT, EARLY_MIN at
 * least (a loaded host delays a receiver's first reads and reports by
 * that much: one that was not scheduled for 100 ms must not find the
 * start of the stream released), or 1.5 report intervals if shorter. */
#define EARLY_STATUS 4u
#define EARLY_SPAN 40u
#define EARLY_MIN SMART__MS(250)

/* ---- Receiver side ------------------------------------------------------- */

static uint64_t grtt_of(const struct smart__rxs *r) {
  return r->rtt_ns > r->grtt_ns ? r->rtt_ns : r->grtt_ns;
}

static uint64_t status_ivl(const struct smart__engine *e, uint32_t gsize) {
  uint64_t t = SMART__MS(e->cfg.status_ms);
  uint64_t g = SMART__MS(gsize); /* gsize / 1000 per second */
  return t > g ? t : g;
}

static void status_at(const struct smart__engine *e, struct smart__rxs *r, uint64_t t) {
  if (e->cfg.status_ms && t < r->status_due) /* status_ms 0: never report */
    r->status_due = t;
}

static void status_soon(struct smart__engine *e, struct smart__rxs *r, uint64_t now,
                        uint64_t spread) {
  status_at(e, r, now + (spread ? smart__rng_between(&e->rng, 0, spread) : 0));
}

void smart__acks_status_now(struct smart__engine *e, struct smart__rxs *r, uint64_t now) {
  status_at(e, r, now);
}

void smart__acks_heard(struct smart__engine *e, struct smart__rxs *r, uint64_t now) {
  r->last_heard = now;
  r->inactive = 0;
  if (r->status_pos == UINT64_MAX && r->status_due == SMART__NEVER && r->have_session)
    status_soon(e, r, now, grtt_of(r)); /* the first: make ourselves known */
}

void smart__acks_on_hb(struct smart__engine *e, struct smart__rxs *r, const struct smart__hb *hb,
                       uint64_t now) {
  if (hb->flags & SMART__HB_END) {
    r->ended = 1;
    r->end_lead = hb->lead;
  }
  if (!r->synced)
    return;
  if ((hb->flags & (SMART__HB_ACKREQ | SMART__HB_CC)) && hb->stamp) {
    r->echo = hb->stamp; /* echoed by every STATUS: the sender's RTT sample */
    r->echo_at = smart__rx_time(e, now); /* the delay we add counts from its arrival */
  }
  if (hb->flags & SMART__HB_CC)
    smart__cc_rx_hb(e, r, hb, now);
  if (!(hb->flags & SMART__HB_ACKREQ))
    return;
  if (r->next >= hb->watermark) {
    status_soon(e, r, now, grtt_of(r) / 2);
    r->want_wm = UINT64_MAX;
  } else {
    /* Say where we are now (the sender may release up to there), and
     * again when we reach the point asked for. Keep the first point asked
     * for: a sender that asks again while we catch up must not move the
     * target away from us. */
    if (r->status_pos != r->next)
      status_soon(e, r, now, grtt_of(r) / 2);
    if (r->want_wm == UINT64_MAX)
      r->want_wm = hb->watermark;
  }
}

void smart__acks_advanced(struct smart__engine *e, struct smart__rxs *r, uint64_t now) {
  if (r->want_wm != UINT64_MAX && r->next >= r->want_wm) {
    r->want_wm = UINT64_MAX;
    status_soon(e, r, now, grtt_of(r) / 4);
  }
  if (r->ended && r->next >= r->end_lead && r->nmissing == 0)
    status_at(e, r, now); /* a last report, then the sender is done */
}

uint64_t smart__acks_rx_expiry(const struct smart__engine *e, const struct smart__rxs *r) {
  if (!r->have_session && !r->synced)
    return SMART__NEVER;
  uint64_t to = SMART__MS(e->cfg.sender_timeout_ms);
  uint64_t t = r->status_due;
  if (e->cfg.status_ms) /* congestion control reports by STATUS */
    t = smart__min_deadline(t, smart__cc_rx_expiry(r));
  uint64_t silent = r->last_heard + (r->inactive ? to : to / 2);
  if (r->ended && r->next >= r->end_lead && r->nmissing == 0 &&
      (r->final_sent || !e->cfg.status_ms))
    return 0; /* at once: the stream is complete and we said so */
  return silent < t ? silent : t;
}

int smart__acks_rx_expire(struct smart__engine *e, struct smart__rxs *r, uint64_t now) {
  if (!r->have_session && !r->synced)
    return 0;
  uint64_t to = SMART__MS(e->cfg.sender_timeout_ms);
  int done = r->ended && r->next >= r->end_lead && r->nmissing == 0 &&
             (r->final_sent || !e->cfg.status_ms);
  if (done || now >= r->last_heard + to) {
    int rc = smart__rx_gone(e, r, done);
    r->cc.on = 0; /* heard again, it starts over */
    return rc ? rc : 1;
  }
  if (e->cfg.status_ms)
    smart__cc_rx_expire(e, r, now);
  if (!r->inactive && now >= r->last_heard + to / 2) {
    r->inactive = 1;
    struct smart__ev_int *ev = smart__ev_push(e, SMART__EV_SENDER_INACTIVE, r->src, r->next, 0);
    if (!ev)
      return SMART_ENOMEM;
    ev->session = r->session;
  }
  return 0;
}

smart_ssize smart__acks_rx_send(struct smart__engine *e, struct smart__rxs *r, uint8_t *out,
                                size_t outlen, uint64_t now) {
  if (r->status_due > now || !r->have_session || !r->synced || r->hold)
    return 0; /* held: where we start is not known yet */
  uint8_t ext[3 * SMART__EXT_HDR_LEN + 4 + SMART__POS_LEN + SMART__CCFB_LEN];
  size_t el = 0;
  uint8_t sv[4], pv[SMART__POS_LEN], fv[SMART__CCFB_LEN];
  smart__put32(sv, r->session);
  struct smart__pos ps = {.position = r->next,
                          .flags = (uint8_t)((r->leaving ? SMART__POS_LEAVING : 0) |
                                             (e->cfg.pos_flags & SMART__POS_GCM))};
  if (r->echo) {
    ps.echo = r->echo;
    uint64_t d = (now - r->echo_at) / SMART__NS_PER_US;
    ps.delay_us = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
  }
  smart__pos_encode(pv, &ps);
  smart__ext_put(ext, sizeof(ext), &el, SMART__EXT_SESSION, sv, 4);
  smart__ext_put(ext, sizeof(ext), &el, SMART__EXT_POSITION, pv, SMART__POS_LEN);
  struct smart__ccfb fb;
  int with_fb = smart__cc_rx_fill(e, r, &fb, now);
  if (with_fb) { /* congestion control's figures, in every STATUS (cc.c) */
    smart__ccfb_encode(fv, &fb);
    smart__ext_put(ext, sizeof(ext), &el, SMART__EXT_CCFB, fv, SMART__CCFB_LEN);
  }
  struct smart__pkt p;
  memset(&p, 0, sizeof(p));
  p.sync = e->cfg.sync;
  p.typ = SMART__TYP_REQ;
  p.cmd = SMART__REQ_STATUS;
  p.u.repl.group = e->cfg.group;
  p.u.repl.seq = (uint16_t)r->next;
  p.ext = ext;
  p.ext_len = el;
  if (!smart__ratelim_take(&e->fb, SMART__REQ_MSG_LEN + el, now))
    return 0;
  smart_ssize n = smart__pkt_encode(out, outlen, &p);
  if (n < 0)
    return n;
  int first = r->status_pos == UINT64_MAX;
  r->status_pos = r->next;
  if (r->ended && r->next >= r->end_lead && r->nmissing == 0)
    r->final_sent = 1;
  if (r->leaving) {
    r->status_due = SMART__NEVER;
  } else if (first || r->early + 1u < EARLY_STATUS) {
    /* the first once more, and again, at 2, 4, 8, 16 GRTT from the last */
    if (!first)
      r->early++;
    r->status_due = now + ((uint64_t)2 << r->early) * grtt_of(r);
  } else {
    uint64_t t = status_ivl(e, r->gsize);
    r->status_due = now + t / 2 + smart__rng_between(&e->rng, 0, t + 1);
  }
  e->st.statuses_sent++;
  if (with_fb)
    smart__cc_rx_sent(e, r, now);
  return n;
}

void smart__engine_leave(struct smart__engine *e, uint64_t now) {
  if (!e)
    return;
  for (uint32_t i = 0; i < e->nrx; i++) {
    struct smart__rxs *r = e->rx[i];
    if (r->have_session && r->synced && r->status_pos != UINT64_MAX) {
      r->leaving = 1;
      r->status_due = now;
    }
  }
}

/* ---- Sender side ---------------------------------------------------------- */

#define REV_MAX 1024u /* receiver events kept for the application */
#define NOTICE_EVERY SMART__SEC(1) /* an evicted receiver is told at most this often */
#define BEHIND_AFTER SMART__SEC(1)

void smart__acks_rev(struct smart__engine *e, uint32_t type, const struct smart__rcv *rc,
                     uint64_t reason, uint64_t rate, uint32_t loss_ppm, uint32_t rtt_us) {
  struct smart__tx *tx = e->tx;
  if (tx->revn == REV_MAX) { /* nobody reads them: the oldest go */
    tx->revhead = (tx->revhead + 1) & (tx->revcap - 1);
    tx->revn--;
  }
  if (tx->revn == tx->revcap &&
      smart__mem_ring_grow(&e->mem, (void **)&tx->rev, &tx->revcap, &tx->revhead, tx->revn,
                           sizeof(*tx->rev), 16, NULL))
    return; /* out of memory: the event is lost, the state is not */
  struct smart__rcv_event *ev = &tx->rev[(tx->revhead + tx->revn) & (tx->revcap - 1)];
  tx->revn++;
  ev->type = type;
  ev->src_id = rc->src;
  ev->pos = rc->pos;
  ev->reason = reason;
  ev->rate = rate;
  ev->loss_ppm = loss_ppm;
  ev->rtt_us = rtt_us;
}

static void rev_push(struct smart__engine *e, uint32_t type, const struct smart__rcv *rc,
                     uint64_t reason) {
  smart__acks_rev(e, type, rc, reason, 0, 0, 0);
}

int smart__engine_rcv_poll(struct smart__engine *e, struct smart__rcv_event *ev) {
  if (!e || !e->tx || !ev || !e->tx->revn)
    return 0;
  struct smart__tx *tx = e->tx;
  *ev = tx->rev[tx->revhead];
  tx->revhead = (tx->revhead + 1) & (tx->revcap - 1);
  tx->revn--;
  return 1;
}

static struct smart__rcv *rcv_find(struct smart__tx *tx, uint32_t src) {
  for (uint32_t i = 0; i < tx->nrcv; i++)
    if (tx->rcv[i].src == src)
      return &tx->rcv[i];
  return NULL;
}

static void rcv_remove(struct smart__engine *e, struct smart__rcv *rc, uint64_t reason) {
  struct smart__tx *tx = e->tx;
  rev_push(e, SMART__RCV_GONE, rc, reason);
  if (e->cfg.cc)
    smart__cc_tx_gone(e, rc, e->last_now); /* the CLR leaves: the next takes over */
  if (!rc->evicted)
    tx->nlive--;
  if (rc->notify)
    tx->nnotify--;
  *rc = tx->rcv[--tx->nrcv];
  tx->min_dirty = 1;
}

static uint64_t min_pos(struct smart__tx *tx) {
  if (tx->min_dirty) {
    uint64_t m = UINT64_MAX;
    for (uint32_t i = 0; i < tx->nrcv; i++)
      if (!tx->rcv[i].evicted && tx->rcv[i].pos < m)
        m = tx->rcv[i].pos;
    tx->min_pos = m;
    tx->min_dirty = 0;
  }
  return tx->min_pos;
}

int smart__acks_on_status(struct smart__engine *e, uint32_t src, const struct smart__pkt *p,
                          uint64_t now) {
  struct smart__tx *tx = e->tx;
  const uint8_t *v;
  size_t vl;
  struct smart__pos ps;
  if (!smart__ext_find(p->ext, p->ext_len, SMART__EXT_POSITION, &v, &vl) ||
      smart__pos_decode(&ps, v, vl)) {
    e->st.drops[SMART__DROP_DECODE]++;
    return SMART_EFORMAT;
  }
  if (ps.position > tx->lead || ps.position < e->cfg.initial_seq) {
    e->st.drops[SMART__DROP_RANGE]++;
    return SMART_ERANGE;
  }
  e->st.statuses_received++;
  struct smart__rcv *rc = rcv_find(tx, src);
  if (ps.flags & SMART__POS_LEAVING) {
    if (rc) {
      rc->pos = ps.position;
      rcv_remove(e, rc, 1);
    }
    return 0;
  }
  if (!rc) {
    if (tx->nrcv >= SMART__MAX_RCV) {
      e->st.drops[SMART__DROP_NOMEM]++;
      return SMART_ENOMEM;
    }
    if (smart__grow(e, (void **)&tx->rcv, &tx->rcvcap, tx->nrcv + 1, sizeof(*tx->rcv))) {
      e->st.drops[SMART__DROP_NOMEM]++;
      return SMART_ENOMEM;
    }
    rc = &tx->rcv[tx->nrcv++];
    memset(rc, 0, sizeof(*rc));
    rc->src = src;
    rc->pos = ps.position;
    rc->progress = now;
    tx->nlive++;
    tx->min_dirty = 1;
    rev_push(e, SMART__RCV_NEW, rc, 0);
  }
  rc->last = now;
  rc->pos_flags = ps.flags & SMART__POS_GCM;
  if (ps.position > rc->pos) {
    rc->pos = ps.position;
    rc->progress = now;
    rc->behind = 0;
    tx->min_dirty = 1;
  }
  if (rc->evicted && rc->pos >= tx->trail && !rc->cc_slow) {
    /* It caught up with what we hold (the loss was reported to it): a
     * receiver like the others again. */
    rc->evicted = 0;
    if (rc->notify) {
      rc->notify = 0;
      tx->nnotify--;
    }
    tx->nlive++;
    tx->min_dirty = 1;
    rev_push(e, SMART__RCV_NEW, rc, 0);
  } else if (rc->evicted && !rc->notify && now >= rc->notified + NOTICE_EVERY) {
    rc->notify = 1; /* still behind: tell it again, in case the notice was lost */
    tx->nnotify++;
  }
  uint64_t sample = 0;
  if (ps.echo) {
    /* From when the STATUS arrived, not when we got to it. */
    uint32_t now_us = (uint32_t)(smart__rx_time(e, now) / SMART__NS_PER_US);
    uint32_t rtt = now_us - ps.echo - ps.delay_us;
    if (rtt < 60000000u) {
      uint64_t s = SMART__US(rtt);
      sample = s;
      rc->rtt_ns = rc->rtt_ns ? (3 * rc->rtt_ns + s) / 4 : s;
      if (e->cfg.cc)
        smart__cc_tx_rtt(e, rc, s); /* the measured GRTT */
    }
  }
  if (e->cfg.cc && smart__ext_find(p->ext, p->ext_len, SMART__EXT_CCFB, &v, &vl)) {
    struct smart__ccfb fb;
    if (smart__ccfb_decode(&fb, v, vl) == 0)
      smart__cc_tx_report(e, rc, &fb, ps.echo ? SMART__US(ps.delay_us) : UINT64_MAX, sample,
                          now);
  }
  if (tx->flushing && !rc->complete && !rc->evicted && tx->mn == 0 && rc->pos >= tx->lead) {
    rc->complete = 1;
    rev_push(e, SMART__RCV_COMPLETE, rc, 0);
  }
  return 0;
}

uint64_t smart__acks_horizon(const struct smart__engine *e) {
  if (e->cfg.horizon_ms)
    return SMART__MS(e->cfg.horizon_ms);
  return e->cfg.policy == SMART__POLICY_REALTIME ? RT_DEFAULT_HORIZON : 0;
}

static int by_reports(const struct smart__engine *e) {
  return e->cfg.policy == SMART__POLICY_RELIABLE && e->tx->nlive;
}

/* Under reports, the shortest hold: a receiver that heard a datagram has
 * had time to make itself known (its first STATUS comes within GRTT of the
 * first packet it hears, and again 2 GRTT later); at the start of the
 * stream, while a receiver that heard the first data may still be unknown
 * (its first reports all lost: the early ones end about 30 GRTT after the
 * first), the time rule as well. */
static uint64_t report_hold(const struct smart__engine *e) {
  uint64_t h = 3 * e->grtt_ns;
  uint64_t start = 3 * status_ivl(e, e->cfg.gsize) / 2, early = EARLY_SPAN * e->grtt_ns;
  if (early < EARLY_MIN)
    early = EARLY_MIN;
  if (early < start)
    start = early;
  if (e->tx->first_at + start > e->last_now) {
    uint64_t t = smart__tx_release_hold(e);
    if (t > h)
      h = t;
  }
  return h;
}

int smart__acks_may_release(struct smart__engine *e, uint64_t now) {
  struct smart__tx *tx = e->tx;
  const struct smart__tx_slot *sl = &tx->slots[tx->trail & (tx->cap - 1)];
  uint64_t h = smart__acks_horizon(e);
  if (h && now >= sl->sent_at + h)
    return 1; /* past the horizon, whoever still needs it */
  if (!by_reports(e))
    return now >= sl->sent_at + smart__tx_release_hold(e);
  if (tx->trail < min_pos(tx))
    return now >= sl->sent_at + report_hold(e);
  if (!tx->blocked_at)
    tx->blocked_at = now;
  return 0;
}

uint64_t smart__acks_release_at(struct smart__engine *e) {
  struct smart__tx *tx = e->tx;
  const struct smart__tx_slot *sl = &tx->slots[tx->trail & (tx->cap - 1)];
  uint64_t h = smart__acks_horizon(e), t = SMART__NEVER;
  if (h)
    t = sl->sent_at + h;
  uint64_t r = SMART__NEVER;
  if (!by_reports(e))
    r = sl->sent_at + smart__tx_release_hold(e);
  else if (tx->trail < min_pos(tx))
    r = sl->sent_at + report_hold(e);
  return r < t ? r : t;
}

/* Heartbeats ask for positions while a flush waits, or while the window is
 * half full under the reliable policy. */
static int want_positions(const struct smart__engine *e) {
  const struct smart__tx *tx = e->tx;
  if (tx->flushing && tx->mn == 0)
    return 1;
  return by_reports(e) && tx->lead - tx->trail >= e->cfg.window / 2;
}

static uint64_t ask_spacing(const struct smart__engine *e) {
  uint64_t a = 2 * e->grtt_ns, b = SMART__MS(e->tx->nlive);
  return a > b ? a : b;
}

static uint64_t ask_at(const struct smart__engine *e) {
  const struct smart__tx *tx = e->tx;
  if (!want_positions(e))
    return SMART__NEVER;
  return tx->wm_at ? tx->wm_at + ask_spacing(e) : 0;
}

int smart__acks_hb_due(const struct smart__engine *e, uint64_t now) {
  return ask_at(e) <= now;
}

void smart__acks_hb_fill(struct smart__engine *e, struct smart__hb *hb, uint64_t now) {
  struct smart__tx *tx = e->tx;
  if (tx->ended)
    hb->flags |= SMART__HB_END;
  if (smart__tx_starting(e, now))
    hb->flags |= SMART__HB_START;
  if (!want_positions(e))
    return;
  if (e->cfg.cc && ask_at(e) > now)
    return; /* heartbeats come often for congestion control: ask no more
               often than the spacing allows */
  hb->flags |= SMART__HB_ACKREQ;
  hb->watermark = tx->lead;
  hb->stamp = (uint32_t)(now / SMART__NS_PER_US);
  if (!hb->stamp)
    hb->stamp = 1; /* 0 means "no echo" */
  tx->wm = tx->lead;
  tx->wm_at = now ? now : 1;
}

static uint64_t silence_limit(const struct smart__engine *e) {
  uint64_t t = 3 * status_ivl(e, e->cfg.gsize) * 3 / 2;
  uint64_t ev = SMART__MS(e->cfg.evict_ms);
  return t > ev ? t : ev;
}

void smart__acks_tx_expire(struct smart__engine *e, uint64_t now) {
  struct smart__tx *tx = e->tx;
  if (!tx || !tx->nrcv || now < tx->rcv_check)
    return;
  tx->rcv_check = now + SWEEP;
  if (e->cfg.cc)
    smart__cc_tx_sweep(e, now); /* a silent CLR, slow receivers, CLR events */
  uint64_t silent = silence_limit(e), stall = SMART__MS(e->cfg.evict_ms);
  int blocked = tx->blocked_at && tx->lead - tx->trail >= e->cfg.window;
  for (uint32_t i = 0; i < tx->nrcv;) {
    struct smart__rcv *rc = &tx->rcv[i];
    if (now >= rc->last + silent) {
      rcv_remove(e, rc, 0);
      continue; /* the last entry moved here */
    }
    int holding = blocked && !rc->evicted && rc->pos <= tx->trail;
    if (holding && !rc->behind && now >= tx->blocked_at + BEHIND_AFTER &&
        now >= rc->progress + BEHIND_AFTER) {
      rc->behind = 1; /* reset when it makes progress */
      rev_push(e, SMART__RCV_BEHIND, rc, 0);
    }
    if (holding && e->cfg.policy == SMART__POLICY_RELIABLE && now >= rc->progress + stall &&
        now >= tx->blocked_at + stall) {
      rc->evicted = 1;
      if (!rc->notify) {
        rc->notify = 1; /* tell it why its requests go unanswered */
        tx->nnotify++;
      }
      e->st.rcv_evicted++;
      tx->nlive--;
      tx->min_dirty = 1;
      rev_push(e, SMART__RCV_EVICTED, rc, 0);
    }
    i++;
  }
}

uint64_t smart__acks_tx_expiry(const struct smart__engine *e) {
  const struct smart__tx *tx = e->tx;
  uint64_t t = ask_at(e);
  if (tx->nrcv) {
    uint64_t c = tx->rcv_check;
    if (c < t)
      t = c;
  }
  return t;
}

void smart__acks_tx_free(struct smart__engine *e) {
  smart__free(e, e->tx->rcv);
  smart__free(e, e->tx->rev);
}

uint32_t smart__engine_rcv_list(const struct smart__engine *e, struct smart__rcv_info *out,
                                uint32_t n) {
  if (!e || !e->tx)
    return 0;
  const struct smart__tx *tx = e->tx;
  for (uint32_t i = 0; i < tx->nrcv && i < n && out; i++) {
    out[i].src_id = tx->rcv[i].src;
    out[i].state = tx->rcv[i].evicted;
    out[i].pos = tx->rcv[i].pos;
    out[i].last_ns = tx->rcv[i].last;
    out[i].rtt_ns = tx->rcv[i].rtt_ns;
  }
  return tx->nrcv;
}

void smart__engine_flush_begin(struct smart__engine *e, uint64_t now) {
  if (!e || !e->tx)
    return;
  struct smart__tx *tx = e->tx;
  (void)now;
  tx->flushing = 1;
  tx->wm_at = 0; /* ask at once */
  for (uint32_t i = 0; i < tx->nrcv; i++)
    tx->rcv[i].complete = 0;
}

int smart__engine_flush_state(struct smart__engine *e, uint32_t *pending) {
  uint32_t n = 0;
  int rc = -1;
  if (e && e->tx && e->tx->nlive) {
    struct smart__tx *tx = e->tx;
    for (uint32_t i = 0; i < tx->nrcv; i++)
      if (!tx->rcv[i].evicted && (tx->mn || tx->rcv[i].pos < tx->lead))
        n++;
    rc = n == 0;
  }
  if (pending)
    *pending = n;
  return rc;
}

int smart__engine_rcv_all(const struct smart__engine *e, uint8_t flag) {
  if (!e || !e->tx || !e->tx->nlive)
    return 0;
  const struct smart__tx *tx = e->tx;
  for (uint32_t i = 0; i < tx->nrcv; i++)
    if (!tx->rcv[i].evicted && !(tx->rcv[i].pos_flags & flag))
      return 0;
  return 1;
}

void smart__engine_flush_end(struct smart__engine *e) {
  if (e && e->tx)
    e->tx->flushing = 0;
}

/* ---- Eviction notices ------------------------------------------------------ */

/* Sender: the next EVICTED notice, a STATUS by unicast to the receiver it
 * is about (SESSION, and POSITION with the flag EVICTED and our trail). */
smart_ssize smart__acks_tx_notice(struct smart__engine *e, uint8_t *out, size_t outlen,
                                  uint64_t now) {
  struct smart__tx *tx = e->tx;
  for (uint32_t i = 0; i < tx->nrcv; i++) {
    struct smart__rcv *rc = &tx->rcv[i];
    if (!rc->notify)
      continue;
    uint8_t ext[8 + 4 + 8 + SMART__POS_LEN], sv[4], pv[SMART__POS_LEN];
    size_t el = 0;
    smart__put32(sv, tx->session);
    struct smart__pos ps = {.position = tx->trail, .flags = SMART__POS_EVICTED};
    smart__pos_encode(pv, &ps);
    smart__ext_put(ext, sizeof(ext), &el, SMART__EXT_SESSION, sv, 4);
    smart__ext_put(ext, sizeof(ext), &el, SMART__EXT_POSITION, pv, SMART__POS_LEN);
    struct smart__pkt p;
    memset(&p, 0, sizeof(p));
    p.sync = e->cfg.sync;
    p.typ = SMART__TYP_REQ;
    p.cmd = SMART__REQ_STATUS;
    p.u.repl.group = e->cfg.group;
    p.u.repl.seq = (uint16_t)tx->trail;
    p.ext = ext;
    p.ext_len = el;
    if (!smart__ratelim_take(&e->tb, SMART__REQ_MSG_LEN + el, now))
      return 0;
    smart_ssize n = smart__pkt_encode(out, outlen, &p);
    if (n < 0)
      return n;
    rc->notify = 0;
    rc->notified = now;
    tx->nnotify--;
    e->out_unicast = 1;
    e->out_src = rc->src;
    return n;
  }
  tx->nnotify = 0;
  return 0;
}

/* Receiver: a sender's EVICTED notice. Only an event, once per eviction
 * (a notice before our position passed the one the last notice named is
 * the same eviction, repeated): what we can no longer get is reported
 * lost by the usual path, when the sender confirms it unavailable. */
int smart__acks_on_notice(struct smart__engine *e, uint32_t src, const struct smart__pos *ps,
                          uint32_t session) {
  struct smart__rxs *r = smart__rx_find(e, src);
  if (!r || !r->have_session || r->session != session || !r->synced)
    return 0;
  if (ps->position > r->hi + SMART__MAX_SPAN) {
    e->st.drops[SMART__DROP_RANGE]++;
    return SMART_ERANGE;
  }
  if (r->evicted_told && r->next <= r->evicted_seq)
    return 0; /* no progress since the last one: the same eviction */
  struct smart__ev_int *ev = smart__ev_push(e, SMART__EV_EVICTED, r->src, ps->position, 0);
  if (!ev)
    return SMART_ENOMEM;
  ev->session = r->session;
  r->evicted_told = 1;
  r->evicted_seq = ps->position;
  return 0;
}
