/*
 * Receiver role: per-sender state, gap detection, ordered delivery,
 * reassembly, loss reports, and what requests and QUIET from others teach.
 * The request timers themselves (RFC 3170 §5.3, SRM, NORM RFC 5740 §5.3,
 * PGM RFC 3208) are in nak.c.
 */
#include "engine_int.h"

#include <string.h>

#include "util/bytes.h"
#include "util/fmath.h"

/* Packets more than this far from the largest sequence are dropped
 * (ALGORITHMS.md §3). */
#define ACCEPT_SPAN ((uint64_t)SMART__MAX_SPAN)
/* The receive ring never spans more than this. */
#define RING_MAX (2u * SMART__MAX_SPAN)
/* How far past the highest sequence heard a heartbeat, confirm or peer's
 * request may place the sender's Lead and be believed at once (a receiver
 * that lost the last packets before a heartbeat). */
#define POS_SLACK 64u

static int advance(struct smart__engine *e, struct smart__rxs *r);

/* ---- Lookup and creation ----------------------------------------------- */

struct smart__rxs *smart__rx_find(const struct smart__engine *e, uint32_t src) {
  if (e->rx_last && e->rx_last->src == src)
    return e->rx_last;
  for (uint32_t i = 0; i < e->nrx; i++)
    if (e->rx[i]->src == src)
      return e->rx[i];
  return NULL;
}

static void set_gsize(struct smart__rxs *r, uint32_t gsize) {
  if (gsize == 0)
    gsize = 1;
  r->gsize = gsize;
  /* NORM: λ = ln(GSIZE) + 1 (RFC 5740 §5.3). */
  r->lambda = smart__ln((double)gsize) + 1.0;
  r->elam = smart__exp(r->lambda) - 1.0;
}

static struct smart__rxs *rx_get(struct smart__engine *e, uint32_t src) {
  struct smart__rxs *r = smart__rx_find(e, src);
  if (r) {
    e->rx_last = r;
    return r;
  }
  if (smart__grow(e, (void **)&e->rx, &e->rxcap, e->nrx + 1, sizeof(*e->rx)))
    return NULL;
  if (!e->rx_inline_ptr) {
    r = e->rx_inline_ptr = &e->rx_inline; /* zeroed with the engine */
  } else {
    r = smart__zalloc(e, sizeof(*r));
    if (!r)
      return NULL;
  }
  r->cap = 64;
  r->slots = smart__zalloc(e, r->cap * sizeof(*r->slots));
  if (!r->slots) {
    if (r != &e->rx_inline)
      smart__free(e, r);
    else
      e->rx_inline_ptr = NULL;
    return NULL;
  }
  r->src = src;
  r->k = e->cfg.k;
  r->grtt_ns = e->grtt_ns;
  r->deadline = SMART__NEVER;
  r->status_due = SMART__NEVER;
  r->status_pos = UINT64_MAX;
  r->want_wm = UINT64_MAX;
  set_gsize(r, e->cfg.gsize);
  if (smart__ev_new_sender(e, src, 0)) {
    smart__free(e, r->slots);
    if (r != &e->rx_inline) {
      smart__free(e, r);
    } else {
      memset(r, 0, sizeof(*r));
      e->rx_inline_ptr = NULL;
    }
    return NULL;
  }
  e->rx[e->nrx++] = r;
  e->rx_last = r;
  return r;
}

static void rx_clear(struct smart__engine *e, struct smart__rxs *r) {
  memset(r->slots, 0, (size_t)r->cap * sizeof(*r->slots));
  r->store_used = r->store_live = 0;
  smart__free(e, r->asm_buf);
  e->asm_bytes -= r->asm_cap;
  r->asm_buf = NULL;
  r->asm_cap = 0;
  r->asm_on = r->asm_skip = 0;
  r->nqn = 0;
  r->nmissing = 0;
  r->deadline = SMART__NEVER;
  r->claim_on = 0;
}

void smart__rxs_free(struct smart__engine *e, struct smart__rxs *r) {
  rx_clear(e, r);
  smart__free(e, r->slots);
  smart__free(e, r->nq);
  smart__free(e, r->store);
  if (r != &e->rx_inline)
    smart__free(e, r);
}

void smart__engine_arrival(struct smart__engine *e, uint64_t at) { e->rx_at = at; }

void smart__engine_local_drops(struct smart__engine *e, uint32_t n) {
  e->rx_drops = n > UINT32_MAX - e->rx_drops ? UINT32_MAX : e->rx_drops + n;
  e->rx_drops_all += n;
}

void smart__engine_forget(struct smart__engine *e, uint32_t src) {
  if (!e)
    return;
  for (uint32_t i = 0; i < e->nrx; i++) {
    struct smart__rxs *r = e->rx[i];
    if (r->src != src)
      continue;
    e->rx[i] = e->rx[--e->nrx];
    if (e->rx_last == r)
      e->rx_last = NULL;
    smart__rxs_free(e, r);
    if (r == &e->rx_inline) {
      memset(r, 0, sizeof(*r));
      e->rx_inline_ptr = NULL;
    }
    return;
  }
}

static inline struct smart__rx_slot *slot(struct smart__rxs *r, uint64_t s) {
  return smart__rx_slot(r, s);
}

/* Make the ring hold [lo, hi_new). Slots of [next, hi) keep their data. */
static int ensure_cap(struct smart__engine *e, struct smart__rxs *r,
                      uint64_t lo, uint64_t hi_new) {
  uint64_t need = hi_new - lo;
  if (need <= r->cap)
    return 0;
  if (need > RING_MAX)
    return SMART_ERANGE;
  uint32_t ncap = r->cap;
  while (ncap < need)
    ncap *= 2;
  struct smart__rx_slot *n = smart__zalloc(e, (size_t)ncap * sizeof(*n));
  if (!n)
    return SMART_ENOMEM;
  for (uint64_t s = r->next; s < r->hi; s++)
    n[s & (ncap - 1)] = *slot(r, s);
  smart__free(e, r->slots);
  r->slots = n;
  r->cap = ncap;
  return 0;
}

/* ---- Gaps ---------------------------------------------------------------- */

/* Mark [lo, hi) missing and start their timers: the request timer, or,
 * when `held`, the wait for a repair someone else asked for. */
static void mark_missing(struct smart__engine *e, struct smart__rxs *r,
                         uint64_t lo, uint64_t hi, uint64_t now, int held) {
  for (uint64_t s = lo; s < hi; s++) {
    struct smart__rx_slot *sl = slot(r, s);
    memset(sl, 0, sizeof(*sl));
    sl->state = RX_MISSING;
    sl->deadline = SMART__NEVER;
    if (held) {
      sl->deadline = 0;
      smart__nak_arm_hold(r, sl, now);
    } else {
      smart__nak_arm_wait(e, r, sl, now);
    }
    r->nmissing++;
  }
}

/* Mark [hi, to) as existing and missing. */
static int add_missing(struct smart__engine *e, struct smart__rxs *r,
                       uint64_t to, uint64_t now, int held) {
  if (to <= r->hi)
    return 0;
  int rc = ensure_cap(e, r, r->next, to);
  if (rc)
    return rc;
  mark_missing(e, r, r->hi, to, now, held);
  r->hi = to;
  return 0;
}

/* Window join: reach back from next to lo (< next), all missing. */
static int reach_back(struct smart__engine *e, struct smart__rxs *r,
                      uint64_t lo, uint64_t now) {
  int rc = ensure_cap(e, r, lo, r->hi);
  if (rc)
    return rc;
  mark_missing(e, r, lo, r->next, now, 0);
  r->next = lo;
  return 0;
}

/* ---- Delivery -------------------------------------------------------------- */

static void asm_abort(struct smart__engine *e, struct smart__rxs *r) {
  smart__free(e, r->asm_buf);
  e->asm_bytes -= r->asm_cap;
  r->asm_buf = NULL;
  r->asm_cap = 0;
  r->asm_on = 0;
}

/* Reassembly memory is committed as fragments arrive, not when the first
 * one announces the length (a forged first fragment reserved up to the
 * whole max_queue): the buffer starts at ASM_FIRST bytes and doubles, up
 * to the message's length, and all senders' buffers together stay within
 * max_queue. 0, or SMART_ENOMEM (the budget or memory ran out). */
#define ASM_FIRST (64u << 10)
static int asm_room(struct smart__engine *e, struct smart__rxs *r, uint32_t need) {
  if (need <= r->asm_cap)
    return 0;
  uint64_t cap = r->asm_cap ? (uint64_t)r->asm_cap * 2 : ASM_FIRST;
  if (cap < need)
    cap = need;
  if (cap > r->asm_len)
    cap = r->asm_len;
  if (e->asm_bytes - r->asm_cap + cap > e->cfg.max_queue)
    return SMART_ENOMEM;
  uint8_t *b = smart__realloc(e, r->asm_buf, (size_t)cap);
  if (!b)
    return SMART_ENOMEM;
  e->asm_bytes += cap - r->asm_cap;
  r->asm_buf = b;
  r->asm_cap = (uint32_t)cap;
  return 0;
}

/* A lost sequence at the delivery point. The fragments already taken of a
 * message it breaks are reported with it, and so are the later fragments
 * of that message (asm_skip = 2): the application learns of every lost
 * message, never silently. */
static int deliver_loss(struct smart__engine *e, struct smart__rxs *r,
                        uint64_t s) {
  int rc;
  if (r->asm_on) {
    rc = smart__ev_loss(e, r->src, r->asm_seq, s - r->asm_seq);
    asm_abort(e, r);
    if (rc)
      return rc;
    r->asm_skip = 2;
  } else if (r->asm_skip == 1) {
    r->asm_skip = 2;
  }
  return smart__ev_loss(e, r->src, s, 1);
}

/* Deliver one in-order payload of sequence s. */
static int deliver(struct smart__engine *e, struct smart__rxs *r, uint64_t s,
                   unsigned fmt, const uint8_t *p, size_t len) {
  int rc;
  if (fmt != SMART__FMT_FRAG) {
    if (r->asm_on) {
      /* A message start while one is incomplete: cannot happen with
       * consecutive fragments unless the sender broke it; report it. */
      rc = smart__ev_loss(e, r->src, r->asm_seq, s - r->asm_seq);
      asm_abort(e, r);
      if (rc)
        return rc;
    }
    r->asm_skip = 0;
    if (fmt == SMART__FMT_WHOLE)
      return smart__ev_msg(e, r->src, s, p, len);
    struct smart__pack_iter it;
    const uint8_t *m;
    size_t ml;
    smart__pack_iter_init(&it, p, len);
    while (smart__pack_next(&it, &m, &ml))
      if ((rc = smart__ev_msg(e, r->src, s, m, ml)))
        return rc;
    return 0;
  }
  struct smart__frag f;
  if (smart__frag_decode(&f, p, len))
    return 0; /* validated at receipt */
  if (f.offset == 0 && f.msg_len > e->cfg.max_queue) {
    /* Larger than we agreed to reassemble: reported, not delivered. */
    r->asm_skip = 2;
    return smart__ev_loss(e, r->src, s, 1);
  }
  if (f.offset == 0) {
    if (r->asm_on) {
      rc = smart__ev_loss(e, r->src, r->asm_seq, s - r->asm_seq);
      asm_abort(e, r);
      if (rc)
        return rc;
    }
    r->asm_skip = 0;
    r->asm_len = f.msg_len;
    if (asm_room(e, r, (uint32_t)f.len) != 0) {
      asm_abort(e, r);
      r->asm_skip = 2;
      return smart__ev_loss(e, r->src, s, 1);
    }
    memcpy(r->asm_buf, f.bytes, f.len);
    r->asm_fill = (uint32_t)f.len;
    r->asm_seq = s;
    r->asm_on = 1;
  } else if (r->asm_on && f.offset == r->asm_fill && f.msg_len == r->asm_len) {
    if (asm_room(e, r, r->asm_fill + (uint32_t)f.len) != 0) {
      rc = smart__ev_loss(e, r->src, r->asm_seq, s + 1 - r->asm_seq);
      asm_abort(e, r);
      r->asm_skip = 2;
      return rc;
    }
    memcpy(r->asm_buf + r->asm_fill, f.bytes, f.len);
    r->asm_fill += (uint32_t)f.len;
  } else {
    /* The tail of a message whose start we never had. Before the join
     * point that is expected and silent (asm_skip 1); otherwise it
     * belongs to a lost message. */
    if (r->asm_on) {
      rc = smart__ev_loss(e, r->src, r->asm_seq, s - r->asm_seq);
      asm_abort(e, r);
      if (rc)
        return rc;
      r->asm_skip = 2;
    }
    if (r->asm_skip == 1)
      return 0;
    return smart__ev_loss(e, r->src, s, 1);
  }
  if (r->asm_fill == r->asm_len) {
    uint8_t *b = r->asm_buf;
    e->asm_bytes -= r->asm_cap; /* the event owns it now */
    r->asm_buf = NULL;
    r->asm_cap = 0;
    r->asm_on = 0;
    return smart__ev_msg_owned(e, r->src, r->asm_seq, b, r->asm_len);
  }
  return 0;
}

/* Deliver everything ready at the head of the ring. */
static int advance(struct smart__engine *e, struct smart__rxs *r) {
  if (r->hold)
    return 0;
  while (r->next < r->hi) {
    struct smart__rx_slot *sl = slot(r, r->next);
    int rc = 0;
    if (sl->state == RX_HAVE) {
      rc = deliver(e, r, r->next, sl->fmt, r->store + sl->off, sl->len);
      r->store_live -= sl->len;
      if (r->store_live == 0)
        r->store_used = 0;
    } else if (sl->state == RX_LOST) {
      rc = deliver_loss(e, r, r->next);
    } else {
      break;
    }
    memset(sl, 0, sizeof(*sl));
    r->next++;
    if (rc)
      return rc;
  }
  if (r->nmissing == 0)
    r->deadline = SMART__NEVER;
  return 0;
}

/* ---- Position from the sender (heartbeat / confirm) ---------------------- */

/* Heard again after it was reported gone, in the session it had: where
 * its stream goes on (at the trail at the earliest, and then what lies
 * before the trail, [resume_next, trail), is reported lost here), or
 * UINT64_MAX when this is a new start. Decided once. */
static uint64_t resume_from(struct smart__engine *e, struct smart__rxs *r, uint64_t lead,
                            uint64_t trail, int *rc) {
  *rc = 0;
  if (!r->resume)
    return UINT64_MAX;
  r->resume = 0;
  if (!r->have_session || r->session != r->resume_session || r->resume_next > lead)
    return UINT64_MAX;
  if (r->resume_next >= trail)
    return r->resume_next;
  *rc = smart__ev_loss(e, r->src, r->resume_next, trail - r->resume_next);
  return trail;
}

static int learn_position(struct smart__engine *e, struct smart__rxs *r,
                          uint64_t lead, uint64_t trail, uint64_t now) {
  int rc;
  if (!r->synced) {
    /* Late join (ALGORITHMS.md §4): "current" starts at the lead; "window"
     * asks for everything the sender still holds. */
    r->synced = 1;
    /* A stream that has released nothing yet (START) is taken from its
     * first sequence: a receiver listening when it began gets all of it. */
    uint64_t from = resume_from(e, r, lead, trail, &rc);
    if (rc)
      return rc;
    if (from == UINT64_MAX)
      from = e->cfg.join_policy == SMART__JOIN_WINDOW || r->hb_start ? trail : lead;
    else
      r->asm_skip = 1; /* a message cut by the loss reported is not ours */
    r->next = r->hi = from;
    r->hold = 0;
    return add_missing(e, r, lead, now, 0);
  }
  if (r->hold) {
    /* Window join: data heard first; now reach back to the trail. A
     * stream that goes on after it was reported gone reaches back to
     * where it was left instead; one that is heard first past there is a
     * new start (older data came late: not asked for again). */
    r->hold = 0;
    uint64_t lo = resume_from(e, r, lead, trail, &rc);
    if (rc)
      return rc;
    if (lo == UINT64_MAX)
      lo = r->hold_window ? trail : r->next;
    if (lo < r->next && r->hi - lo <= RING_MAX)
      if ((rc = reach_back(e, r, lo, now)))
        return rc;
  }
  if (trail > r->next) {
    /* Below the trail nothing can be repaired any more: report it
     * (PGM: data below TXW_TRAIL is unrecoverable, RFC 3208 §6.3). */
    uint64_t end = trail < r->hi ? trail : r->hi;
    for (uint64_t s = r->next; s < end; s++)
      smart__rx_mark_lost(r, slot(r, s));
    if ((rc = advance(e, r)))
      return rc;
    if (trail > r->hi && r->next == r->hi) {
      if ((rc = deliver_loss(e, r, r->hi)))
        return rc;
      if (trail - r->hi > 1)
        if ((rc = smart__ev_loss(e, r->src, r->hi + 1, trail - r->hi - 1)))
          return rc;
      r->next = r->hi = trail;
    }
  }
  if (lead > r->hi) {
    if (lead - r->next > RING_MAX)
      return SMART_ERANGE;
    /* Tail loss: the sender has sent up to lead - 1. */
    return add_missing(e, r, lead, now, 0);
  }
  return 0;
}

/* The low 16 bits were all we had before the first heartbeat: move to the
 * sender's 64-bit numbering (a multiple of 2^16, ring positions unchanged). */
static void rebase(struct smart__rxs *r, uint64_t lead) {
  uint64_t near = smart__seq_expand(r->hi, (uint16_t)lead);
  if (near == lead)
    return;
  uint64_t d = lead - near; /* modulo 2^64: also correct when negative */
  r->next += d;
  r->hi += d;
  r->asm_seq += d;
  for (uint32_t i = 0; i < r->nqn; i++)
    r->nq[i] += d;
}

static int on_session(struct smart__engine *e, struct smart__rxs *r,
                      uint32_t session) {
  if (r->have_session && r->session != session) {
    /* A new sender instance on the same source: start over. */
    rx_clear(e, r);
    r->synced = 0;
    r->hold = 0;
    r->rtt_ns = 0;
    int rc = smart__ev_new_sender(e, r->src, session);
    if (rc)
      return rc;
  }
  r->session = session;
  r->have_session = 1;
  return 0;
}

/* ---- Positions past what we know ------------------------------------------ */
/*
 * A heartbeat or confirm names the sender's Lead and Trail; anyone who can
 * send to the group (a member, in a group-key session without source
 * authentication) can forge one, and one Trail far ahead used to give up
 * every sequence before it: the receiver then refused the sender's real
 * data as out of range, and the stream was over. So a position is
 * believed at once only if it lies within what we know: Lead at most
 * POS_SLACK past the highest sequence heard (`hi`), Trail at most `hi`.
 * Another is a claim, held and not acted on, until the sender's own
 * datagrams agree with it: a later heartbeat or confirm at or past it, or
 * data that fits it (an original at its Lead, a repair inside it), heard at
 * least half the sender's shortest heartbeat spacing after it. A datagram
 * of the sender that contradicts it (a position within what we know, new
 * data where the claim says there can be none) drops it: the sender's
 * Lead and Trail never go back. smart-security(7) states what is left.
 */

static uint64_t claim_gap(const struct smart__rxs *r) {
  uint64_t b = r->grtt_ns > SMART__MS(10) ? r->grtt_ns : SMART__MS(10);
  return b / 2; /* heartbeats after data stops: max(GRTT, 10 ms) apart */
}

static int pos_known(const struct smart__rxs *r, uint64_t lead, uint64_t trail) {
  return lead <= r->hi + POS_SLACK && trail <= r->hi;
}

/* A sender's position (lead, trail), in our numbering: 0 to act on it now,
 * 1 to hold it (a claim is kept or started). */
static int pos_hold(struct smart__rxs *r, uint64_t lead, uint64_t trail, uint64_t now) {
  if (!r->synced)
    return 0; /* nothing known yet to judge by */
  if (pos_known(r, lead, trail)) {
    r->claim_on = 0; /* behind the claim (it was false) or past it (moot) */
    return 0;
  }
  if (r->claim_on && lead >= r->claim_lead && trail >= r->claim_trail) {
    if (now - r->claim_at < claim_gap(r))
      return 1; /* agrees, but too soon: the first one's time stands */
    r->claim_on = 0;
    return 0;
  }
  r->claim_on = 1;
  r->claim_lead = lead;
  r->claim_trail = trail;
  r->claim_at = now;
  return 1;
}

static int learn_position(struct smart__engine *e, struct smart__rxs *r,
                          uint64_t lead, uint64_t trail, uint64_t now);

/* Data from the sender while a claim is held: 1 when it confirms it (the
 * position is then applied), 0 otherwise (a contradiction drops it), or an
 * error. */
static int claim_check(struct smart__engine *e, struct smart__rxs *r, const struct smart__pkt *p,
                       uint64_t now) {
  uint64_t s = smart__seq_expand(r->hi, p->u.data.seq);
  uint64_t sc = smart__seq_expand(r->claim_lead, p->u.data.seq);
  int orig = p->cmd == SMART__DCMD_DATA;
  int fits = sc >= r->claim_trail && sc <= r->claim_lead + ACCEPT_SPAN &&
             (orig ? sc + POS_SLACK >= r->claim_lead : sc < r->claim_lead);
  if (!fits) {
    if (orig && s + ACCEPT_SPAN >= r->hi && s <= r->hi + ACCEPT_SPAN)
      r->claim_on = 0; /* new data where the claim says none can be */
    return 0;
  }
  if (now - r->claim_at < claim_gap(r))
    return 0;
  r->claim_on = 0;
  int rc = learn_position(e, r, r->claim_lead, r->claim_trail, now);
  if (rc == 0)
    rc = advance(e, r);
  return rc ? rc : 1;
}

/* A heartbeat's or confirmation's payload: decoded (`decoded` is the
 * decoder's result) and naming a span the window can hold. 0 or the drop. */
static int position_ok(struct smart__engine *e, int decoded, uint64_t lead, uint64_t trail) {
  if (decoded) {
    e->st.drops[SMART__DROP_DECODE]++;
    return SMART_EFORMAT;
  }
  if (lead - trail > SMART__MAX_SPAN) {
    e->st.drops[SMART__DROP_RANGE]++;
    return SMART_ERANGE;
  }
  return 0;
}

static int on_heartbeat(struct smart__engine *e, struct smart__rxs *r,
                        const struct smart__pkt *p, uint64_t now) {
  struct smart__hb hb;
  memset(&hb, 0, sizeof(hb));
  int rc = smart__hb_decode(&hb, p->u.data.payload, p->u.data.payload_len);
  if ((rc = position_ok(e, rc, hb.lead, hb.trail)) != 0)
    return rc;
  int first = !r->have_session;
  if (first || hb.session == r->session) {
    /* Judged in our numbering: before the first heartbeat, by the 16 bits. */
    uint64_t d = first ? hb.lead - smart__seq_expand(r->hi, (uint16_t)hb.lead) : 0;
    if (pos_hold(r, hb.lead - d, hb.trail - d, now)) {
      e->st.drops[SMART__DROP_RANGE]++;
      return SMART_ERANGE; /* nothing of it is used until confirmed */
    }
  }
  rc = on_session(e, r, hb.session);
  if (rc)
    return rc;
  /* Advertised distance and timer constants (NORM advertises GRTT in every
   * sender message, RFC 5740 §5.1). */
  if (hb.grtt_us)
    r->grtt_ns = SMART__US(hb.grtt_us);
  if (hb.k)
    r->k = hb.k;
  if (hb.gsize != r->gsize)
    set_gsize(r, hb.gsize);
  if (first && r->synced)
    rebase(r, hb.lead);
  r->hb_start = (hb.flags & SMART__HB_START) != 0;
  rc = learn_position(e, r, hb.lead, hb.trail, now);
  r->hb_start = 0;
  if (rc)
    return rc;
  if ((rc = advance(e, r)))
    return rc;
  smart__acks_on_hb(e, r, &hb, now);
  return 0;
}

static int on_confirm(struct smart__engine *e, struct smart__rxs *r,
                      const struct smart__pkt *p, uint64_t now) {
  struct smart__conf c;
  memset(&c, 0, sizeof(c));
  int rc = smart__conf_decode(&c, p->u.data.payload, p->u.data.payload_len);
  if ((rc = position_ok(e, rc, c.lead, c.trail)) != 0)
    return rc;
  if (r->have_session && c.session != r->session) {
    e->st.drops[SMART__DROP_SESSION]++;
    return SMART_ESTATE;
  }
  int first = !r->have_session;
  uint64_t d = first ? c.lead - smart__seq_expand(r->hi, (uint16_t)c.lead) : 0;
  if (pos_hold(r, c.lead - d, c.trail - d, now)) {
    e->st.drops[SMART__DROP_RANGE]++;
    return SMART_ERANGE;
  }
  rc = on_session(e, r, c.session);
  if (rc)
    return rc;
  if (first && r->synced)
    rebase(r, c.lead);
  int kind = c.kind == SMART__CONF_PENDING ? SEEN_NCF : SEEN_UNAVAILABLE;
  if (r->synced) {
    for (unsigned i = 0; i < c.count; i++) {
      uint64_t st;
      uint32_t n;
      smart__conf_range(&c, i, &st, &n);
      uint64_t lo = st > r->next ? st : r->next;
      uint64_t hi = st + n < r->hi ? st + n : r->hi;
      for (uint64_t s = lo; s < hi; s++)
        smart__nak_seen(e, r, s, now, kind);
    }
  }
  if ((rc = learn_position(e, r, c.lead, c.trail, now)))
    return rc;
  return advance(e, r);
}

/* ---- Data ------------------------------------------------------------------ */

/* Room for `len` more payload bytes in r->store: compact (copy the live
 * payloads in sequence order into a fresh area) when the end is reached. */
static int store_room(struct smart__engine *e, struct smart__rxs *r,
                      size_t len) {
  if (r->store_cap - r->store_used >= len)
    return 0;
  uint64_t need = 2 * ((uint64_t)r->store_live + len);
  uint64_t ncap = r->store_cap > 4096 ? r->store_cap : 4096;
  while (ncap < need)
    ncap *= 2;
  if (ncap > UINT32_MAX)
    return SMART_ENOMEM;
  uint8_t *n = smart__alloc(e, (size_t)ncap);
  if (!n)
    return SMART_ENOMEM;
  uint32_t used = 0;
  for (uint64_t s = r->next; s < r->hi && used < r->store_live; s++) {
    struct smart__rx_slot *sl = slot(r, s);
    if (sl->state != RX_HAVE)
      continue;
    memcpy(n + used, r->store + sl->off, sl->len);
    sl->off = used;
    used += sl->len;
  }
  smart__free(e, r->store);
  r->store = n;
  r->store_cap = (uint32_t)ncap;
  r->store_used = used;
  return 0;
}

static int store(struct smart__engine *e, struct smart__rxs *r,
                 struct smart__rx_slot *sl, const struct smart__pkt *p) {
  size_t len = p->u.data.payload_len;
  if (store_room(e, r, len)) {
    e->st.drops[SMART__DROP_NOMEM]++;
    return SMART_ENOMEM;
  }
  if (len) /* an empty payload: the store may have no buffer yet */
    memcpy(r->store + r->store_used, p->u.data.payload, len);
  if (sl->state == RX_MISSING)
    r->nmissing--;
  sl->state = RX_HAVE;
  sl->off = r->store_used;
  sl->len = (uint16_t)len;
  sl->fmt = p->u.data.fmt;
  r->store_used += (uint32_t)len;
  r->store_live += (uint32_t)len;
  return 0;
}

/* The DATA QUIET field: q != 0 withholds requests for 2^q ms. */
static void note_quiet(struct smart__rxs *r, unsigned q, uint64_t now) {
  if (!q)
    return;
  uint64_t until = now + (SMART__NS_PER_MS << q);
  if (until > r->quiet_until)
    r->quiet_until = until;
}

/* The first data packet heard from a sender defines where we start. */
static int sync_on_data(struct smart__engine *e, struct smart__rxs *r,
                        const struct smart__pkt *p) {
  if (p->cmd == SMART__DCMD_REPAIR) {
    /* Repairs of data from before we joined never define the start
     * (NORM syncs on original data only). */
    e->st.drops[SMART__DROP_RANGE]++;
    return SMART_ERANGE;
  }
  r->synced = 1;
  r->next = r->hi = p->u.data.seq;
  /* R: the stream's first sequence is still held by the sender, so we may
   * have missed its beginning: hold delivery until a heartbeat (or a
   * confirm) gives the trail, then ask for everything from there, as the
   * window join does. */
  r->hold_window = e->cfg.join_policy == SMART__JOIN_WINDOW || p->u.data.r;
  /* A sender heard again after it was reported gone: held until its
   * session is known (the same one goes on from where it was left). */
  r->hold = r->hold_window || r->resume;
  /* Joining in the middle of a fragmented message: its tail is not ours. */
  r->asm_skip = 1;
  return 0;
}

static int dup(struct smart__engine *e) {
  e->st.duplicates++;
  e->st.drops[SMART__DROP_DUP]++;
  return SMART_ESTATE;
}

/* Sequence s (== next, not held) is delivered now, then whatever it
 * unblocks. */
static int deliver_next(struct smart__engine *e, struct smart__rxs *r,
                        uint64_t s, const struct smart__pkt *p) {
  r->next++;
  int rc = deliver(e, r, s, p->u.data.fmt, p->u.data.payload,
                   p->u.data.payload_len);
  return rc ? rc : advance(e, r);
}

/* A packet inside [next, hi): fills a gap, or is a duplicate. */
static int on_known(struct smart__engine *e, struct smart__rxs *r, uint64_t s,
                    const struct smart__pkt *p, uint64_t now) {
  struct smart__rx_slot *sl = slot(r, s);
  if (sl->state != RX_MISSING)
    return dup(e);
  if (p->cmd == SMART__DCMD_REPAIR) {
    e->st.losses_recovered++;
    smart__nak_learn_rtt(r, sl, now);
  }
  if (s == r->next && !r->hold) {
    r->nmissing--;
    memset(sl, 0, sizeof(*sl));
    return deliver_next(e, r, s, p);
  }
  return store(e, r, sl, p);
}

/* A packet at or past hi: everything between is missing. */
static int on_new(struct smart__engine *e, struct smart__rxs *r, uint64_t s,
                  const struct smart__pkt *p, uint64_t now) {
  int rc;
  if (s - r->next >= RING_MAX) {
    /* Far behind: the sender's window (<= 2^14) cannot hold what lies
     * below s - 2^14, so it is lost. */
    uint64_t cut = s - SMART__MAX_SPAN;
    if ((rc = learn_position(e, r, r->hi, cut, now)))
      return rc;
  }
  if (s == r->hi && s == r->next && !r->hold) {
    /* The hot path: in order, nothing missing. */
    r->hi = r->next = s + 1;
    return deliver(e, r, s, p->u.data.fmt, p->u.data.payload,
                   p->u.data.payload_len);
  }
  if ((rc = add_missing(e, r, s, now, 0)))
    return rc;
  if ((rc = ensure_cap(e, r, r->next, s + 1)))
    return rc;
  struct smart__rx_slot *sl = slot(r, s);
  memset(sl, 0, sizeof(*sl));
  r->hi = s + 1;
  if (s == r->next && !r->hold)
    return deliver_next(e, r, s, p);
  return store(e, r, sl, p);
}

static int on_data(struct smart__engine *e, struct smart__rxs *r, const struct smart__pkt *p,
                   uint64_t now);

int smart__rx_on_data(struct smart__engine *e, uint32_t src,
                      const struct smart__pkt *p, uint64_t now) {
  struct smart__rxs *r = rx_get(e, src);
  if (!r) {
    e->st.drops[SMART__DROP_NOMEM]++;
    return SMART_ENOMEM;
  }
  if (r->gone) {
    /* Heard again after it was reported gone: a new start. */
    r->gone = 0;
    if (smart__ev_new_sender(e, src, 0)) {
      e->st.drops[SMART__DROP_NOMEM]++;
      return SMART_ENOMEM;
    }
  }
  int rc = on_data(e, r, p, now);
  if (rc == 0 || rc == SMART_ESTATE) {
    /* Used, or a duplicate: either way the sender is alive. */
    smart__acks_heard(e, r, now);
    smart__acks_advanced(e, r, now);
    if (p->cmd <= SMART__DCMD_REPAIR) /* loss events, receive rate (cc.c) */
      smart__cc_rx_data(e, r, p, now);
  }
  return rc;
}

static int on_data(struct smart__engine *e, struct smart__rxs *r, const struct smart__pkt *p,
                   uint64_t now) {
  uint32_t src = r->src;
  (void)src;
  if (p->cmd == SMART__DCMD_HEARTBEAT)
    return on_heartbeat(e, r, p, now);
  if (p->cmd == SMART__DCMD_CONFIRM)
    return on_confirm(e, r, p, now);
  note_quiet(r, p->u.data.quiet, now);
  int rc;
  if (!r->synced && (rc = sync_on_data(e, r, p)))
    return rc;
  if (r->claim_on && (rc = claim_check(e, r, p, now)) < 0)
    return rc;
  uint64_t s = smart__seq_expand(r->hi, p->u.data.seq);
  if (s + ACCEPT_SPAN < r->hi || s > r->hi + ACCEPT_SPAN) {
    e->st.drops[SMART__DROP_RANGE]++;
    return SMART_ERANGE;
  }
  if (s < r->next && r->hold && r->hi - s <= SMART__MAX_SPAN) {
    /* Window join, trail not known yet: reordering brought an earlier
     * packet; start from it instead (everything from the trail will be
     * asked for anyway). */
    if ((rc = reach_back(e, r, s, now)))
      return rc;
  }
  if (s < r->next)
    return dup(e);
  if (s < r->hi)
    return on_known(e, r, s, p, now);
  return on_new(e, r, s, p, now);
}

/* ---- Requests heard from peers, QUIET ------------------------------------ */

static void peer_range(struct smart__engine *e, struct smart__rxs *r,
                       uint16_t seq16, uint32_t extra, uint64_t now,
                       uint64_t *budget) {
  uint64_t st = smart__seq_expand(r->hi, seq16);
  if (st + ACCEPT_SPAN < r->hi || st > r->hi + ACCEPT_SPAN)
    return;
  uint64_t end = st + extra + 1;
  /* A peer may know of packets we have not seen yet (a heartbeat we
   * missed): they exist, and a request for them is on its way. Not
   * further than a heartbeat would be believed: a peer is not the
   * sender, and a forged request must not invent sequences. */
  uint64_t known = end < r->hi + POS_SLACK ? end : r->hi + POS_SLACK;
  if (known > r->hi && known - r->next <= SMART__MAX_SPAN && !r->hold)
    add_missing(e, r, known, now, 1);
  uint64_t lo = st > r->next ? st : r->next;
  uint64_t hi = end < r->hi ? end : r->hi;
  for (uint64_t s = lo; s < hi && *budget; s++, (*budget)--)
    smart__nak_seen(e, r, s, now, SEEN_PEER_NAK);
}

void smart__rx_on_peer_request(struct smart__engine *e, uint32_t src,
                               const struct smart__pkt *p, uint64_t now) {
  uint32_t sess = 0;
  int has_sess = smart__pkt_session(p, &sess);
  const uint8_t *nl = NULL;
  size_t nll = 0;
  if (!smart__ext_find(p->ext, p->ext_len, SMART__EXT_NAKLIST, &nl, &nll)) {
    nl = NULL; /* the out-parameters are not defined when not found */
    nll = 0;
  }
  (void)src;
  for (uint32_t i = 0; i < e->nrx; i++) {
    struct smart__rxs *r = e->rx[i];
    if (!r->synced || (has_sess && (!r->have_session || r->session != sess)))
      continue;
    /* Fast path: nothing missing and nothing new can be learnt. */
    if (r->nmissing == 0 && !nl &&
        smart__seq_expand(r->hi, p->u.repl.seq) + p->u.repl.extra < r->hi)
      continue;
    /* A forged request may list thousands of overlapping ranges: bound the
     * work per request. */
    uint64_t budget = 4 * (uint64_t)RING_MAX;
    peer_range(e, r, p->u.repl.seq, p->u.repl.extra, now, &budget);
    for (size_t j = 0; nl && j + 4 <= nll && budget; j += 4)
      peer_range(e, r, smart__get16(nl + j), smart__get16(nl + j + 2), now,
                 &budget);
  }
}

int smart__rx_on_quiet(struct smart__engine *e, uint32_t src,
                       const struct smart__pkt *p, uint64_t now) {
  struct smart__rxs *r = smart__rx_find(e, src);
  uint32_t sess;
  if (smart__pkt_session(p, &sess)) {
    if (!r || (r->have_session && r->session != sess)) {
      r = NULL;
      for (uint32_t i = 0; i < e->nrx; i++)
        if (e->rx[i]->have_session && e->rx[i]->session == sess)
          r = e->rx[i];
    }
  }
  if (!r) {
    e->st.drops[SMART__DROP_SESSION]++;
    return SMART_ESTATE;
  }
  /* Withhold requests for the duration; timers that fall inside it are
   * re-armed at its end with a fresh draw (smart__nak_arm_wait), so the
   * backlog is spread over the normal window rather than sent at once. */
  uint64_t until = now + SMART__MS(p->u.quiet.duration);
  if (until > r->quiet_until)
    r->quiet_until = until;
  return 0;
}

/* ---- Timers (nak.c), then what they gave up --------------------------------- */

int smart__rx_handle_expiry(struct smart__engine *e, uint64_t now) {
  for (uint32_t i = 0; i < e->nrx; i++) {
    struct smart__rxs *r = e->rx[i];
    int rc = smart__nak_expire(e, r, now);
    if (rc > 0) {
      rc = advance(e, r);
      smart__acks_advanced(e, r, now);
    }
    if (rc == 0 && (rc = smart__acks_rx_expire(e, r, now)) > 0)
      rc = 0;
    if (rc)
      return rc;
  }
  return 0;
}

int smart__rx_gone(struct smart__engine *e, struct smart__rxs *r, int ended) {
  int rc;
  r->hold = 0;
  if (r->synced) {
    /* Nobody will send what is still missing: report it, in order with
     * what is held after it. */
    for (uint64_t s = r->next; s < r->hi; s++)
      smart__rx_mark_lost(r, slot(r, s));
    if ((rc = advance(e, r)))
      return rc;
    if (r->asm_on) {
      /* A message whose last fragments never came. */
      rc = smart__ev_loss(e, r->src, r->asm_seq, r->next - r->asm_seq);
      asm_abort(e, r);
      if (rc)
        return rc;
    }
  }
  struct smart__ev_int *ev = smart__ev_push(e, SMART__EV_SENDER_GONE, r->src, r->next, ended ? 1 : 0);
  if (!ev)
    return SMART_ENOMEM;
  ev->session = r->session;
  /* After the first heartbeat our numbering is the sender's: the position
   * can be compared with its heartbeats should it be heard again. */
  r->resume = r->synced && r->have_session && !ended;
  r->resume_session = r->session;
  r->resume_next = r->next;
  e->st.senders_gone++;
  rx_clear(e, r);
  r->synced = r->have_session = 0;
  r->rtt_ns = 0;
  r->inactive = r->ended = r->leaving = r->final_sent = 0;
  r->status_due = SMART__NEVER;
  r->status_pos = UINT64_MAX;
  r->early = 0;
  r->want_wm = UINT64_MAX;
  r->echo = 0;
  r->quiet_until = 0;
  r->gone = 1;
  return 0;
}

int smart__engine_rx_needs(const struct smart__engine *e, uint32_t src_id,
                           uint64_t seq) {
  struct smart__rxs *r = e ? smart__rx_find(e, src_id) : NULL;
  if (!r || !r->synced || seq < r->next)
    return 0;
  if (seq >= r->hi)
    return 1;
  uint8_t st = r->slots[seq & (r->cap - 1)].state;
  return st == RX_MISSING;
}
