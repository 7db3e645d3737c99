/*
 * Sender role: message queue, fragmentation and packing, the transmit
 * window, repairs, confirmations, heartbeats and QUIET.
 */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"

/* Sequence ranges collected for a CONFIRM. */
struct rng64 {
  uint64_t start;
  uint64_t count;
};

uint64_t smart__tx_release_hold(const struct smart__engine *e) {
  /* NORM's flow-control delay is 2 x GRTT x (K + 1) (ALGORITHMS.md §4);
   * our receivers back off once (x2), so a retry cycle can last
   * (3 + 2K) GRTT: hold twice NORM's delay. */
  return 4 * e->grtt_ns * ((uint64_t)e->cfg.k + 1);
}

static uint64_t hb_base(const struct smart__engine *e) {
  return e->grtt_ns > SMART__MS(10) ? e->grtt_ns : SMART__MS(10);
}

int smart__tx_starting(const struct smart__engine *e, uint64_t now) {
  const struct smart__tx *tx = e->tx;
  return tx->trail == e->cfg.initial_seq &&
         (tx->lead == e->cfg.initial_seq || now < tx->first_at + SMART__TX_START);
}

/* While data flows: one heartbeat a second; in the stream's first second,
 * while nothing was released (data goes with R), every 4 x max(GRTT,
 * 10 ms), so that a receiver that missed the announcing heartbeats and
 * holds its delivery learns where the stream starts soon. */
static uint64_t hb_ambient(const struct smart__engine *e) {
  if (smart__tx_starting(e, e->last_now)) {
    uint64_t t = 4 * hb_base(e);
    return t < SMART__HB_AMBIENT ? t : SMART__HB_AMBIENT;
  }
  return SMART__HB_AMBIENT;
}

/* When the next heartbeat is due: the schedule after data stops, or the
 * ambient one while data flows. */
static uint64_t hb_next(const struct smart__engine *e) {
  const struct smart__tx *tx = e->tx;
  uint64_t due = tx->hb_due;
  if (tx->last_data > tx->last_hb && tx->last_hb + hb_ambient(e) < due)
    due = tx->last_hb + hb_ambient(e);
  return due;
}

/* The tokens a heartbeat takes: the largest it may be. */
static size_t hb_cost(const struct smart__engine *e) {
  return SMART__DATA_HDR_LEN +
         (e->cfg.cc ? SMART__HB_MAX_LEN : SMART__HB_LEN + SMART__HB_EXT_LEN);
}

/* Heartbeat spacing after data stops: PGM sends SPMs at a short interval a
 * few times, then backs off to an ambient rate (RFC 3208 §6.1). Here: 4 at
 * max(GRTT, 10 ms), then doubling, capped at 1 s: receivers call a sender
 * inactive after 2 s of silence and gone after 4 s (acks.c), so an idle
 * sender must still be heard every second. */
static uint64_t hb_ivl(const struct smart__engine *e, uint32_t n) {
  uint64_t b = hb_base(e), cap = SMART__HB_AMBIENT;
  if (n < 4)
    return b;
  uint32_t sh = n - 3;
  if (sh > 20 || (b << sh) > cap)
    return cap;
  return b << sh;
}

int smart__tx_create(struct smart__engine *e) {
  struct smart__tx *tx = smart__zalloc(e, sizeof(*tx));
  if (!tx)
    return SMART_ENOMEM;
  uint32_t cap = 1;
  while (cap < e->cfg.window)
    cap <<= 1;
  tx->slots = smart__zalloc(e, (size_t)cap * sizeof(*tx->slots));
  if (!tx->slots) {
    smart__free(e, tx);
    return SMART_ENOMEM;
  }
  tx->cap = cap;
  tx->session = e->cfg.session;
  while (tx->session == 0)
    tx->session = (uint32_t)(smart__rng_next(&e->rng) >> 32);
  tx->lead = tx->trail = e->cfg.initial_seq;
  tx->hb_due = SMART__NEVER;
  /* Three announcing heartbeats: a receiver already listening learns the
   * first sequence even if it loses the first data packet and two of them
   * (with 10% independent loss, one receiver in 10^4 misses all four). */
  tx->hb_first = SMART__HB_ANNOUNCE;
  e->tx = tx;
  if (e->cfg.cc)
    smart__cc_tx_init(e, e->last_now);
  return 0;
}

void smart__tx_free(struct smart__engine *e) {
  struct smart__tx *tx = e->tx;
  if (!tx)
    return;
  for (uint32_t i = 0; i < tx->cap; i++)
    smart__free(e, tx->slots[i].buf);
  smart__free(e, tx->slots);
  for (uint32_t i = 0; i < tx->un; i++)
    smart__free(e, tx->units[(tx->uhead + i) & (tx->ucap - 1)].buf);
  smart__free(e, tx->units);
  while (tx->nspare)
    smart__free(e, tx->spare[--tx->nspare]);
  smart__free(e, tx->rq);
  smart__free(e, tx->ncf);
  smart__free(e, tx->unav);
  smart__acks_tx_free(e);
  smart__free(e, tx);
  e->tx = NULL;
}

/* ---- Queue --------------------------------------------------------------- */
/*
 * A message is written once, when it is submitted, into the datagram it
 * will leave in: after the DATA header's room of a unit's buffer, whole,
 * packed behind the messages already waiting (FMT 2: the same greedy
 * packing the sender did when the datagram left, which packed what was
 * waiting then), or, larger than a datagram's payload, as fragments of one
 * unit each, their headers written. When the datagram leaves, its header
 * is written in front and its buffer becomes the window slot's; the
 * slot's old buffer waits (SMART__TX_SPARE at most) for a later unit. A steady
 * sender allocates nothing, nothing queued is ever moved, and memory
 * follows what is queued. The bound, cfg.sndbuf, counts every message's
 * length plus SMART__TX_MSG_COST; twice SMART__TX_LEAD also bounds the
 * units' memory (1-byte messages, not packed, take a datagram each; a
 * fragment fills 98% of one).
 */
/* An empty unit ring this large is freed (a burst of small messages). */
#define QUNITS_KEEP 4096u

static uint8_t *buf_get(struct smart__engine *e) {
  struct smart__tx *tx = e->tx;
  if (tx->nspare)
    return tx->spare[--tx->nspare];
  return smart__alloc(e, e->cfg.max_dgram);
}

static void buf_put(struct smart__engine *e, uint8_t *b) {
  struct smart__tx *tx = e->tx;
  if (!b)
    return;
  if (tx->nspare == SMART__TX_SPARE)
    smart__free(e, b);
  else
    tx->spare[tx->nspare++] = b;
}

static struct smart__qunit *q_at(struct smart__tx *tx, uint32_t i) {
  return &tx->units[(tx->uhead + i) & (tx->ucap - 1)];
}

/* Room in the unit ring for n more. */
static int q_room(struct smart__engine *e, uint32_t n) {
  struct smart__tx *tx = e->tx;
  while (tx->ucap - tx->un < n) {
    if (smart__mem_ring_grow(&e->mem, (void **)&tx->units, &tx->ucap, &tx->uhead, tx->un,
                             sizeof(*tx->units), 64, NULL))
      return SMART_ENOMEM;
  }
  return 0;
}

static void q_counted(struct smart__engine *e, size_t len) {
  struct smart__tx *tx = e->tx;
  tx->qbytes += (uint64_t)len + SMART__TX_MSG_COST;
  if (tx->qbytes > e->st.queued_peak)
    e->st.queued_peak = tx->qbytes;
  tx->mn++;
  e->st.msgs_sent++;
  e->st.bytes_sent += len;
}

int smart__tx_submit(struct smart__engine *e, const void *msg, size_t len,
                     uint64_t now) {
  struct smart__tx *tx = e->tx;
  (void)now;
  uint64_t cost = (uint64_t)len + SMART__TX_MSG_COST;
  if (cost > e->cfg.sndbuf)
    return SMART_EMSGSIZE; /* would never fit: not an endless SMART_EAGAIN */
  if (tx->qbytes + cost > e->cfg.sndbuf || tx->qbytes >= SMART__TX_LEAD ||
      (uint64_t)tx->un * e->cfg.max_dgram >= 2 * SMART__TX_LEAD)
    return SMART_EAGAIN;
  size_t P = e->cfg.max_dgram - SMART__DATA_HDR_LEN;
  if (len <= P) {
    if (tx->un && len <= 0xFFFFu && !e->cfg.no_pack) {
      /* The common case: packed behind what waits. */
      struct smart__qunit *u = q_at(tx, tx->un - 1);
      uint8_t *w = u->buf + SMART__DATA_HDR_LEN;
      if (u->fmt == SMART__FMT_PACK && u->pl + SMART__PACK_ENTRY_HDR + len <= P) {
        smart__put16(w + u->pl, (uint16_t)len);
        memcpy(w + u->pl + SMART__PACK_ENTRY_HDR, msg, len);
        u->pl += (uint32_t)(SMART__PACK_ENTRY_HDR + len);
        u->ends++;
        u->cost += cost;
        q_counted(e, len);
        return 0;
      }
      if (u->fmt == SMART__FMT_WHOLE && u->pl <= 0xFFFFu &&
          u->pl + 2 * SMART__PACK_ENTRY_HDR + len <= P) {
        /* A second message: the first gets its entry header. */
        memmove(w + SMART__PACK_ENTRY_HDR, w, u->pl);
        smart__put16(w, (uint16_t)u->pl);
        u->pl += SMART__PACK_ENTRY_HDR;
        smart__put16(w + u->pl, (uint16_t)len);
        memcpy(w + u->pl + SMART__PACK_ENTRY_HDR, msg, len);
        u->pl += (uint32_t)(SMART__PACK_ENTRY_HDR + len);
        u->fmt = SMART__FMT_PACK;
        u->ends++;
        u->cost += cost;
        q_counted(e, len);
        return 0;
      }
    }
    uint8_t *b;
    if (q_room(e, 1) || !(b = buf_get(e)))
      return SMART_ENOMEM;
    struct smart__qunit *u = q_at(tx, tx->un++);
    u->buf = b;
    u->pl = (uint32_t)len;
    u->ends = 1;
    u->cost = cost;
    u->fmt = SMART__FMT_WHOLE;
    memcpy(b + SMART__DATA_HDR_LEN, msg, len);
    q_counted(e, len);
    return 0;
  }
  /* Fragments, one datagram each; every buffer is had before anything
   * changes: a failure leaves the queue as it was. */
  size_t F = P - SMART__FRAG_HDR_LEN;
  uint64_t nf = ((uint64_t)len + F - 1) / F;
  if (nf > UINT32_MAX - tx->un || q_room(e, (uint32_t)nf))
    return SMART_ENOMEM;
  for (uint32_t i = 0; i < nf; i++) {
    uint8_t *b = buf_get(e);
    if (!b) {
      while (i--)
        buf_put(e, q_at(tx, tx->un + i)->buf);
      return SMART_ENOMEM;
    }
    q_at(tx, tx->un + i)->buf = b;
  }
  const uint8_t *p = msg;
  for (size_t done = 0; done < len; tx->un++) {
    struct smart__qunit *u = q_at(tx, tx->un);
    size_t k = len - done < F ? len - done : F;
    uint8_t *w = u->buf + SMART__DATA_HDR_LEN;
    smart__frag_hdr_write(w, (uint32_t)len, (uint32_t)done);
    memcpy(w + SMART__FRAG_HDR_LEN, p + done, k);
    u->pl = (uint32_t)(SMART__FRAG_HDR_LEN + k);
    u->fmt = SMART__FMT_FRAG;
    done += k;
    u->ends = done == len;
    u->cost = k + (done == len ? SMART__TX_MSG_COST : 0);
  }
  q_counted(e, len);
  return 0;
}

/* The first unit has left: its buffer is the window's now. */
static void q_pop(struct smart__engine *e) {
  struct smart__tx *tx = e->tx;
  struct smart__qunit *u = q_at(tx, 0);
  tx->qbytes -= u->cost;
  tx->mn -= u->ends;
  tx->uhead = (tx->uhead + 1) & (tx->ucap - 1);
  tx->un--;
  if (tx->un == 0 && tx->ucap > QUNITS_KEEP) {
    smart__free(e, tx->units);
    tx->units = NULL;
    tx->ucap = tx->uhead = 0;
  }
}

/* ---- Requests -------------------------------------------------------- */

static int rng_add(struct smart__engine *e, uint64_t **arr, uint32_t *n,
                   uint32_t *cap, uint64_t start, uint64_t count) {
  /* Stored as pairs in a uint64_t array. Extend the last range if it is
   * adjacent (requests usually arrive in order). */
  if (*n && (*arr)[2 * (*n - 1)] + (*arr)[2 * (*n - 1) + 1] == start) {
    (*arr)[2 * (*n - 1) + 1] += count;
    return 0;
  }
  uint32_t c2 = *cap;
  if (*n + 1 > c2 / 2) {
    int rc = smart__grow(e, (void **)arr, cap, 2 * (*n + 1), sizeof(uint64_t));
    if (rc)
      return rc;
  }
  (*arr)[2 * *n] = start;
  (*arr)[2 * *n + 1] = count;
  (*n)++;
  return 0;
}

static int tx_request_range(struct smart__engine *e, uint32_t src, uint16_t seq16,
                            uint32_t extra, uint64_t now, uint64_t *budget) {
  struct smart__tx *tx = e->tx;
  if (tx->lead == e->cfg.initial_seq)
    return 0; /* nothing sent yet */
  /* RFC 9000 A.3 decoding against the next sequence we will use. */
  uint64_t start = smart__seq_expand(tx->lead, seq16);
  if (start >= tx->lead)
    return 0; /* not sent yet: bogus or stale, ignore */
  uint64_t end = start + extra + 1;
  if (end > tx->lead || end < start)
    end = tx->lead;
  if (start < tx->trail) {
    /* Left the window: say so explicitly (CONFIRM UNAVAILABLE). */
    uint64_t uend = end < tx->trail ? end : tx->trail;
    int rc = rng_add(e, &tx->unav, &tx->unavn, &tx->unavcap, start,
                     uend - start);
    if (rc)
      return rc;
    start = uend;
  }
  for (uint64_t s = start; s < end && *budget; s++, (*budget)--) {
    struct smart__tx_slot *sl = &tx->slots[s & (tx->cap - 1)];
    /* One repair however many ask: requests for a sequence already queued,
     * or repaired less than one GRTT ago, are merged into that repair
     * (NORM repair hold-off, RFC 5740 §5.4.3; SRM's ignore window). */
    if (sl->pending || now < sl->holdoff) {
      e->st.naks_merged++;
      continue;
    }
    if (!smart__rb_take(e, src, sl->len, now)) { /* rbudget.c */
      e->st.repairs_limited++;
      continue;
    }
    if (smart__grow(e, (void **)&tx->rq, &tx->rqcap, tx->rqn + 1,
                    sizeof(*tx->rq)))
      return SMART_ENOMEM;
    if (tx->rqhead + tx->rqn >= tx->rqcap) {
      memmove(tx->rq, tx->rq + tx->rqhead, tx->rqn * sizeof(*tx->rq));
      tx->rqhead = 0;
    }
    tx->rq[tx->rqhead + tx->rqn++] = s;
    sl->pending = 1;
    /* Confirm at once so that receivers still waiting suppress theirs
     * (PGM NCF, RFC 3208 §5.3). */
    int rc = rng_add(e, &tx->ncf, &tx->ncfn, &tx->ncfcap, s, 1);
    if (rc)
      return rc;
  }
  return 0;
}

int smart__tx_on_request(struct smart__engine *e, uint32_t src, const struct smart__pkt *p,
                         uint64_t now) {
  e->st.naks_received++;
  uint64_t limited = e->st.repairs_limited;
  /* A request may list thousands of overlapping ranges (forged or not):
   * the work per request is bounded. */
  uint64_t budget = 4 * (uint64_t)SMART__MAX_SPAN;
  int rc = tx_request_range(e, src, p->u.repl.seq, p->u.repl.extra, now, &budget);
  if (rc)
    return rc;
  const uint8_t *v;
  size_t vl;
  if (smart__ext_find(p->ext, p->ext_len, SMART__EXT_NAKLIST, &v, &vl)) {
    for (size_t i = 0; i + 4 <= vl && budget; i += 4) {
      rc = tx_request_range(e, src, smart__get16(v + i), smart__get16(v + i + 2),
                            now, &budget);
      if (rc)
        return rc;
    }
  }
  e->st.naks_budget += e->st.repairs_limited != limited;
  return 0;
}

/* ---- Output -------------------------------------------------------------- */

static int cmp_rng(const void *a, const void *b) {
  const uint64_t *x = a, *y = b;
  return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Build a CONFIRM of `kind` from the ranges in arr (pairs); consumes what
 * fits and keeps the rest. */
static smart_ssize tx_confirm(struct smart__engine *e, uint8_t *out,
                              size_t outlen, unsigned kind, uint64_t *arr,
                              uint32_t *n, uint64_t now) {
  struct smart__tx *tx = e->tx;
  qsort(arr, *n, 2 * sizeof(uint64_t), cmp_rng);
  /* Merge overlapping or adjacent ranges in place. */
  uint32_t m = 0;
  for (uint32_t i = 0; i < *n; i++) {
    uint64_t s = arr[2 * i], c = arr[2 * i + 1];
    if (m && arr[2 * (m - 1)] + arr[2 * (m - 1) + 1] >= s) {
      uint64_t end = s + c, pend = arr[2 * (m - 1)] + arr[2 * (m - 1) + 1];
      if (end > pend)
        arr[2 * (m - 1) + 1] = end - arr[2 * (m - 1)];
      continue;
    }
    arr[2 * m] = s;
    arr[2 * m + 1] = c;
    m++;
  }
  *n = m;
  size_t room = outlen - SMART__DATA_HDR_LEN - SMART__CONF_HDR_LEN;
  unsigned cnt = (unsigned)(room / SMART__CONF_RANGE_LEN);
  if (cnt > 255)
    cnt = 255;
  if (cnt > m)
    cnt = m;
  uint64_t starts[255];
  uint32_t lens[255];
  unsigned used = 0;
  uint32_t i = 0;
  for (; i < m && used < cnt; i++) {
    uint64_t s = arr[2 * i], c = arr[2 * i + 1];
    /* A range longer than 32 bits is split over several entries. */
    uint32_t l = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
    starts[used] = s;
    lens[used++] = l;
    if (l < c) {
      arr[2 * i] += l;
      arr[2 * i + 1] -= l;
      break;
    }
  }
  size_t len = SMART__DATA_HDR_LEN + SMART__CONF_HDR_LEN +
               (size_t)used * SMART__CONF_RANGE_LEN;
  if (!smart__ratelim_take(&e->tb, len, now))
    return 0;
  smart_ssize pl = smart__conf_encode(out + SMART__DATA_HDR_LEN,
                                      outlen - SMART__DATA_HDR_LEN,
                                      tx->session, kind, tx->lead, tx->trail,
                                      starts, lens, used);
  if (pl < 0)
    return pl;
  smart_ssize h = smart__data_hdr_write(out, e->cfg.sync, SMART__DCMD_CONFIRM,
                                        (uint16_t)tx->lead, SMART__FMT_WHOLE,
                                        0, 0, (size_t)pl);
  if (h < 0)
    return h;
  /* Drop what was sent. */
  memmove(arr, arr + 2 * i, (size_t)(m - i) * 2 * sizeof(uint64_t));
  *n = m - i;
  e->st.confirms_sent++;
  return h + pl;
}

static smart_ssize tx_heartbeat(struct smart__engine *e, uint8_t *out,
                                uint64_t now) {
  struct smart__tx *tx = e->tx;
  size_t len = hb_cost(e);
  if (!smart__ratelim_take(&e->tb, len, now))
    return 0;
  struct smart__hb hb = {
      .session = tx->session,
      .lead = tx->lead,
      .trail = tx->trail,
      .grtt_us = (uint32_t)(e->grtt_ns / SMART__NS_PER_US),
      .gsize = e->cfg.gsize,
      .k = e->cfg.k,
      .flags = 0,
  };
  smart__acks_hb_fill(e, &hb, now);
  if (e->cfg.cc)
    smart__cc_tx_hb_fill(e, &hb, now); /* congestion control: every heartbeat */
  len = SMART__DATA_HDR_LEN + smart__hb_len(&hb);
  smart__data_hdr_write(out, e->cfg.sync, SMART__DCMD_HEARTBEAT,
                        (uint16_t)tx->lead, SMART__FMT_WHOLE, 0, 0,
                        smart__hb_len(&hb));
  smart__hb_encode(out + SMART__DATA_HDR_LEN, &hb);
  tx->last_hb = now;
  tx->hb_count++;
  tx->hb_due = now + hb_ivl(e, tx->hb_count);
  e->st.heartbeats_sent++;
  return (smart_ssize)len;
}

static smart_ssize tx_quiet(struct smart__engine *e, uint8_t *out,
                            size_t outlen, uint64_t now) {
  struct smart__tx *tx = e->tx;
  uint8_t ext[8];
  struct smart__pkt p;
  smart__req_init(e, &p, SMART__REQ_QUIET, 1, tx->session, ext);
  p.u.quiet.duration = tx->quiet_ms;
  if (!smart__ratelim_take(&e->tb, SMART__REQ_MSG_LEN + p.ext_len, now))
    return 0;
  smart_ssize n = smart__pkt_encode(out, outlen, &p);
  if (n > 0) {
    tx->quiet_ms = 0;
    e->st.quiets_sent++;
  }
  return n;
}

/* Room for one more new packet: the window has space, or its oldest
 * packet may be released. */
static int tx_window_ok(struct smart__engine *e, uint64_t now) {
  struct smart__tx *tx = e->tx;
  /* The hard limit of 2^14 keeps the 16-bit wire sequence unambiguous
   * (ALGORITHMS.md §3); window <= 2^14 by configuration. What may go is
   * the policy's rule (acks.c). */
  while (tx->lead - tx->trail >= e->cfg.window) {
    struct smart__tx_slot *sl = &tx->slots[tx->trail & (tx->cap - 1)];
    if (sl->pending || !smart__acks_may_release(e, now))
      return 0;
    tx->trail++;
  }
  tx->blocked_at = 0;
  return 1;
}

/* A time horizon (real-time policy, or set): what was sent longer ago is
 * released even when the window has room. */
static void tx_horizon(struct smart__engine *e, uint64_t now) {
  struct smart__tx *tx = e->tx;
  while (tx->trail < tx->lead && tx->lead - tx->trail < e->cfg.window) {
    struct smart__tx_slot *sl = &tx->slots[tx->trail & (tx->cap - 1)];
    if (sl->pending || now < sl->sent_at + smart__acks_horizon(e))
      return;
    tx->trail++;
  }
}

static smart_ssize tx_data(struct smart__engine *e, uint8_t *out, uint64_t now) {
  struct smart__tx *tx = e->tx;
  struct smart__qunit *u = q_at(tx, 0);
  size_t len = SMART__DATA_HDR_LEN + u->pl;
  if (!smart__ratelim_take(&e->tb, len, now))
    return 0;
  uint64_t seq = tx->lead;
  if (seq == e->cfg.initial_seq)
    tx->first_at = now;
  struct smart__tx_slot *sl = &tx->slots[seq & (tx->cap - 1)];
  smart__rb_sent(e, len); /* before its slot is taken (rbudget.c) */
  uint8_t *b = u->buf;
  buf_put(e, sl->buf); /* the datagram of seq - cap: long released */
  sl->buf = b;
  smart__data_hdr_write(b, e->cfg.sync, SMART__DCMD_DATA, (uint16_t)seq, u->fmt, 0, 0, u->pl);
  if (!e->cfg.no_pack && smart__tx_starting(e, now))
    b[6] |= 1; /* R: the stream's first sequence is still repairable (not for
                  peers of the seed's formats only: they see it reserved) */
  q_pop(e);
  sl->len = (uint32_t)len;
  sl->pending = 0;
  sl->sent_at = now;
  sl->holdoff = 0;
  tx->lead++;
  if (tx->lead - tx->trail > e->st.held_peak)
    e->st.held_peak = tx->lead - tx->trail;
  tx->last_data = now;
  tx->hb_count = 0;
  tx->hb_due = now + hb_base(e);
  if (e->out_ref)
    *e->out_ref = b; /* smart__engine_send_ref: the window's copy goes */
  else
    memcpy(out, b, len);
  e->st.data_sent++;
  return (smart_ssize)len;
}

static smart_ssize tx_repair(struct smart__engine *e, uint8_t *out,
                             uint64_t now) {
  struct smart__tx *tx = e->tx;
  while (tx->rqn) {
    uint64_t s = tx->rq[tx->rqhead];
    struct smart__tx_slot *sl = &tx->slots[s & (tx->cap - 1)];
    if (s < tx->trail || !sl->pending) {
      tx->rqhead++;
      tx->rqn--;
      continue;
    }
    if (!smart__ratelim_take(&e->tb, sl->len, now))
      return 0;
    tx->rqhead++;
    tx->rqn--;
    /* A repair is the original datagram byte for byte; only the DATA CMD
     * differs (smart-protocol(7) "DATA commands"). */
    struct smart__pkt p;
    if (smart__pkt_decode(&p, sl->buf, sl->len) != 0)
      return SMART_EINVAL; /* our own encoding: cannot happen */
    memcpy(out, sl->buf, sl->len);
    smart__data_hdr_write(out, e->cfg.sync, SMART__DCMD_REPAIR, p.u.data.seq,
                          p.u.data.fmt, p.u.data.d, p.u.data.quiet,
                          p.u.data.payload_len);
    out[6] |= p.u.data.r;
    sl->pending = 0;
    sl->sent_at = now;
    sl->holdoff = now + e->grtt_ns;
    e->st.repairs_sent++;
    return (smart_ssize)sl->len;
  }
  if (tx->rqn == 0)
    tx->rqhead = 0;
  return 0;
}

/* Keep in the NCF list only sequences whose repair has not gone yet. */
static void ncf_prune(struct smart__tx *tx) {
  uint32_t m = 0;
  uint64_t *a = tx->ncf;
  for (uint32_t i = 0; i < tx->ncfn; i++) {
    uint64_t s = a[2 * i], end = s + a[2 * i + 1];
    for (; s < end; s++) {
      if (s < tx->trail || !tx->slots[s & (tx->cap - 1)].pending)
        continue;
      if (m && a[2 * (m - 1)] + a[2 * (m - 1) + 1] == s) {
        a[2 * (m - 1) + 1]++;
      } else {
        /* m <= i: the write never overtakes the read. */
        a[2 * m] = s;
        a[2 * m + 1] = 1;
        m++;
      }
    }
  }
  tx->ncfn = m;
}

static smart_ssize tx_send(struct smart__engine *e, uint8_t *out, size_t outlen,
                           uint64_t now);

smart_ssize smart__tx_send(struct smart__engine *e, uint8_t *out,
                           size_t outlen, uint64_t now) {
  if (!e->cfg.cc)
    return tx_send(e, out, outlen, now);
  /* Congestion control: the rate of now, then what went (cc.c). */
  smart__cc_tx_update(e, now);
  uint64_t data = e->st.data_sent;
  smart_ssize n = tx_send(e, out, outlen, now);
  if (n > 0)
    smart__cc_tx_sent(e, (size_t)n, e->st.data_sent != data, now);
  return n;
}

static smart_ssize tx_send(struct smart__engine *e, uint8_t *out, size_t outlen,
                           uint64_t now) {
  struct smart__tx *tx = e->tx;
  /* Priority: repairs (with their confirmation), unavailability, QUIET,
   * data, heartbeats. A higher class waiting for tokens blocks the lower
   * ones. PGM multicasts an NCF because RDATA may be delayed (RFC 3208
   * §5.3): when the repair itself goes out at once it is the confirmation,
   * and the NCF is left out. It goes out only for repairs still queued.
   * Before all, a heartbeat congestion control needs at once (a new CLR,
   * a lower suppression rate: receivers must hear of it before they
   * report, even while repairs take every token). */
  if (e->cfg.cc && !tx->hb_first && tx->lead != e->cfg.initial_seq &&
      smart__cc_tx_urgent(e, now))
    return tx_heartbeat(e, out, now);
  /* And once a second whatever waits: receivers call a sender silent for
   * 2 s inactive (a slow rate spent on repairs must not make it so). */
  if (e->cfg.cc && !tx->hb_first && tx->lead != e->cfg.initial_seq &&
      now >= tx->last_hb + SMART__HB_AMBIENT)
    return tx_heartbeat(e, out, now);
  if (tx->rqn) {
    smart_ssize n = tx_repair(e, out, now);
    if (n)
      return n;
  }
  if (tx->ncfn) {
    ncf_prune(tx);
    if (tx->ncfn)
      return tx_confirm(e, out, outlen, SMART__CONF_PENDING, tx->ncf,
                        &tx->ncfn, now);
  }
  if (tx->rqn)
    return 0; /* waiting for tokens */
  if (tx->unavn)
    return tx_confirm(e, out, outlen, SMART__CONF_UNAVAILABLE, tx->unav,
                      &tx->unavn, now);
  if (tx->quiet_ms)
    return tx_quiet(e, out, outlen, now);
  if ((e->cfg.horizon_ms || e->cfg.policy == SMART__POLICY_REALTIME) && tx->trail < tx->lead)
    tx_horizon(e, now);
  if (!tx->hb_first && tx->lead != e->cfg.initial_seq &&
      (smart__acks_hb_due(e, now) || (e->cfg.cc && smart__cc_tx_hb_due(e, now))))
    return tx_heartbeat(e, out, now); /* asks the receivers where they stand,
                                         or tells them the rate (cc.c) */
  if (tx->mn) {
    if (tx->hb_first) {
      /* Announce the session before the first data packet. */
      smart_ssize n = tx_heartbeat(e, out, now);
      if (n > 0)
        tx->hb_first--;
      return n;
    }
    if (tx_window_ok(e, now)) {
      smart_ssize n = tx_data(e, out, now);
      if (n)
        return n;
      /* waiting for tokens: a heartbeat due (smaller) may still go */
    }
  }
  if (!tx->hb_first) {
    if (hb_next(e) <= now)
      return tx_heartbeat(e, out, now);
  }
  return 0;
}

uint64_t smart__tx_expiry(struct smart__engine *e) {
  struct smart__tx *tx = e->tx;
  size_t big = e->cfg.max_dgram;
  if (tx->ncfn || tx->unavn || tx->rqn || tx->quiet_ms)
    return smart__ratelim_when(&e->tb, big);
  uint64_t t = SMART__NEVER;
  if (tx->mn) {
    if (tx->hb_first)
      return smart__ratelim_when(&e->tb, big);
    if (tx->lead - tx->trail < e->cfg.window) {
      t = smart__ratelim_when(&e->tb, big);
    } else {
      struct smart__tx_slot *sl = &tx->slots[tx->trail & (tx->cap - 1)];
      uint64_t r = sl->pending ? smart__ratelim_when(&e->tb, big)
                               : smart__acks_release_at(e);
      uint64_t w = smart__ratelim_when(&e->tb, big);
      t = r > w ? r : w;
    }
  }
  if (!tx->hb_first) {
    uint64_t due = hb_next(e);
    uint64_t w = smart__ratelim_when(&e->tb, hb_cost(e));
    if (w > due)
      due = w;
    if (due < t)
      t = due;
  }
  if (tx->lead != e->cfg.initial_seq) {
    uint64_t a = smart__acks_tx_expiry(e);
    if (e->cfg.cc)
      a = smart__min_deadline(a, smart__cc_tx_expiry(e));
    uint64_t w = smart__ratelim_when(&e->tb, hb_cost(e));
    if (a < w)
      a = w;
    if (a < t)
      t = a;
  }
  if ((e->cfg.horizon_ms || e->cfg.policy == SMART__POLICY_REALTIME) && tx->trail < tx->lead) {
    uint64_t h = tx->slots[tx->trail & (tx->cap - 1)].sent_at + smart__acks_horizon(e);
    if (h < t)
      t = h;
  }
  return t;
}
