/*
 * Deterministic network simulator (see sim.h).
 *
 * Scheduling is a timing wheel of 2^16 ticks with an overflow heap for
 * later events. Events live in one pool and are linked per bucket, so no
 * event allocates; datagrams are stored once in a pool and reference
 * counted by the deliveries in flight. Delivering one multicast datagram to
 * every receiver is the hot loop: one PRNG draw for loss, one for jitter,
 * one pooled event.
 */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

#define NONE UINT32_MAX
#define EV_TIMER (UINT32_MAX - 1)
#define EV_SUBMIT (UINT32_MAX - 2)
/* node field of a class delivery: CLASS_BIT | class */
#define CLASS_BIT 0x80000000u
/* ... with LINK_BIT: it crossed the class's link, deliver it now */
#define LINK_BIT 0x40000000u
#define MAX_CLASSES 256u
/* Expected message contents kept (direct-mapped by index), for the check. */
#define FILL_SLOTS 256u
#define FILL_MAX 2048u
/* Requests listing at most this many sequences may be elided. */
#define NAK_ELIDE_MAX 16
/* Rows of the "has received" bitset: a power of two >= any window. */
#define HAVE_ROWS (1u << 14)
#define WHEEL_BITS 16
#define WHEEL (1u << WHEEL_BITS)

struct ev {
  uint32_t next;
  uint32_t node;
  uint32_t pkt;
};

struct far_ev {
  uint64_t tick;
  uint32_t node, pkt;
};

struct pkt_meta {
  uint32_t refs;
  uint32_t len;
  uint32_t from;       /* node id: 0 sender, 1..N receivers */
  uint32_t to;         /* from the sender by unicast: that receiver (0: the group) */
  uint8_t is_data;     /* original (1) or repair (2) data from the sender */
  uint8_t lost_needed; /* some receiver that needed it lost it */
  uint8_t nseq;        /* request: sequences listed (0: not elidable) */
  uint64_t seq;
  uint64_t req[NAK_ELIDE_MAX];
};

struct link_state {
  struct sim_link l;
  uint64_t busy;          /* the link is sending until then */
  uint64_t drops, bytes;
};

struct node {
  struct smart__engine *e;
  uint64_t delay;  /* one-way delay to the router, ns (its class's) */
  uint64_t sched;  /* tick of the pending timer event, UINT64_MAX if none */
  uint8_t bad;     /* Gilbert-Elliott state */
  uint64_t ge_slot; /* time slot of that state */
};

struct sim {
  struct sim_config c;
  uint64_t rng;
  uint64_t tick;     /* current tick */
  uint64_t thr_loss, thr_shared, thr_fb, thr_dup;
  int ge;
  double ge_pi, ge_decay; /* stationary P(bad), 1 - P(g->b) - P(b->g) */

  struct node *nodes; /* 0 = sender, 1..N receivers, N + 1 second sender */
  struct sim_rcv *rcv; /* [i * (N + 1) + r]: receiver r, sender i */
  uint32_t n, nsend;
  struct link_state up, *clink; /* upstream; classes 0..nlinked-1 */
  uint64_t fill_k[FILL_SLOTS];
  uint32_t fill_len[FILL_SLOTS];
  uint8_t *fill; /* FILL_SLOTS x FILL_MAX */
  /* Delay classes: receivers [cfirst[c], cfirst[c + 1]) share delay
   * cdelay[c]. */
  uint32_t nclass, *cfirst;
  uint64_t *cdelay;

  /* Event pool and wheel. */
  struct ev *evs;
  uint32_t nev, evcap, evfree;
  uint32_t head[WHEEL], tail[WHEEL];
  struct far_ev *far;
  uint32_t nfar, farcap;

  /* Datagram pool. */
  uint8_t *pbuf;
  struct pkt_meta *pm;
  uint32_t pcap, pfree_n, *pfree;
  size_t stride;

  /* have[row * words + r / 64] bit r: receiver r received sequence
   * row_seq[row]. A repair of a sequence a receiver holds, or a request all
   * of whose sequences it holds, cannot change its engine's state (it would
   * only count a duplicate), so such deliveries are skipped (elided). */
  uint64_t *have, *row_seq;
  uint32_t words;
  uint64_t elided;

  uint8_t *out;     /* engine output buffer */
  uint8_t *msgbuf;  /* message generator buffer */
  size_t msgcap;

  uint64_t submitted, submitted2;
  uint32_t ndone;
  int failed;
  struct sim_totals t;
};

/* ---- PRNG (wyrand) ------------------------------------------------------ */

static inline uint64_t rnd(struct sim *s) {
  s->rng += UINT64_C(0xa0761d6478bd642f);
  __uint128_t m = (__uint128_t)s->rng * (s->rng ^ UINT64_C(0xe7037ed1a0b428db));
  return (uint64_t)(m >> 64) ^ (uint64_t)m;
}

static uint64_t prob(double p) {
  if (p <= 0)
    return 0;
  if (p >= 1)
    return UINT64_MAX;
  return (uint64_t)(p * 18446744073709551616.0);
}

static inline int has_seq(const struct sim *s, uint32_t r, uint64_t seq) {
  uint32_t row = (uint32_t)(seq & (HAVE_ROWS - 1));
  return s->row_seq[row] == seq &&
         (s->have[(size_t)row * s->words + r / 64] >> (r % 64) & 1);
}

static inline void set_seq(struct sim *s, uint32_t r, uint64_t seq) {
  uint32_t row = (uint32_t)(seq & (HAVE_ROWS - 1));
  if (s->row_seq[row] == seq)
    s->have[(size_t)row * s->words + r / 64] |= UINT64_C(1) << (r % 64);
}

/* ---- Messages -------------------------------------------------------------- */

void sim_fill(uint64_t k, uint8_t *buf, size_t len) {
  for (size_t i = 0; i < len && i < 8; i++)
    buf[i] = (uint8_t)(k >> (8 * i));
  for (size_t i = 8; i < len; i++)
    buf[i] = (uint8_t)(k * 131 + i * 7 + (i >> 8));
}

size_t sim_msg_len(const struct sim_config *c, uint64_t k) {
  if (c->sizes)
    return c->sizes[k];
  if (c->msg_max <= c->msg_min)
    return c->msg_min;
  return c->msg_min +
         (size_t)((k * UINT64_C(2654435761)) % (c->msg_max - c->msg_min + 1));
}

void sim_config_init(struct sim_config *c) {
  memset(c, 0, sizeof(*c));
  c->receivers = 10;
  c->messages = 1000;
  c->interval_ns = 1000000;
  c->msg_min = c->msg_max = 32;
  c->burst_len = 0;
  c->delay_min_ns = 5000000;
  c->delay_max_ns = 25000000;
  c->jitter_ns = 500000;
  c->tick_ns = 10000;
  c->seed = 1;
  c->max_sim_ns = UINT64_C(600) * 1000000000;
  c->grtt_us = 50000;
  c->gsize = 0; /* 0: the number of receivers */
  c->window = 4096;
  c->max_dgram = 1408;
  c->k = 0; /* 0: engine default */
  c->nak_retries = 0;
  c->join_policy = SMART__JOIN_WINDOW; /* receivers are there from the start */
  c->initial_seq = 0;
}

/* ---- Scheduling --------------------------------------------------------- */

static uint32_t ev_alloc(struct sim *s) {
  if (s->evfree != NONE) {
    uint32_t i = s->evfree;
    s->evfree = s->evs[i].next;
    return i;
  }
  if (s->nev == s->evcap) {
    uint32_t ncap = s->evcap ? s->evcap * 2 : 1u << 16;
    struct ev *n = realloc(s->evs, (size_t)ncap * sizeof(*n));
    if (!n)
      abort();
    s->evs = n;
    s->evcap = ncap;
  }
  return s->nev++;
}

static void bucket_add(struct sim *s, uint64_t tick, uint32_t node,
                       uint32_t pkt) {
  uint32_t i = ev_alloc(s);
  s->evs[i].next = NONE;
  s->evs[i].node = node;
  s->evs[i].pkt = pkt;
  uint32_t b = (uint32_t)(tick & (WHEEL - 1));
  if (s->tail[b] == NONE)
    s->head[b] = i;
  else
    s->evs[s->tail[b]].next = i;
  s->tail[b] = i;
}

static void far_push(struct sim *s, uint64_t tick, uint32_t node, uint32_t pkt) {
  if (s->nfar == s->farcap) {
    s->farcap = s->farcap ? s->farcap * 2 : 1024;
    s->far = realloc(s->far, s->farcap * sizeof(*s->far));
    if (!s->far)
      abort();
  }
  uint32_t i = s->nfar++;
  /* Ties keep insertion order through the node/pkt-independent sequence:
   * order among far events of one tick does not matter for determinism
   * since the heap is itself deterministic. */
  while (i) {
    uint32_t p = (i - 1) / 2;
    if (s->far[p].tick <= tick)
      break;
    s->far[i] = s->far[p];
    i = p;
  }
  s->far[i] = (struct far_ev){tick, node, pkt};
}

static struct far_ev far_pop(struct sim *s) {
  struct far_ev top = s->far[0], last = s->far[--s->nfar];
  uint32_t i = 0;
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, m = i;
    uint64_t mt = last.tick;
    if (l < s->nfar && s->far[l].tick < mt) {
      m = l;
      mt = s->far[l].tick;
    }
    if (r < s->nfar && s->far[r].tick < mt)
      m = r;
    if (m == i)
      break;
    s->far[i] = s->far[m];
    i = m;
  }
  if (s->nfar)
    s->far[i] = last;
  return top;
}

static void schedule(struct sim *s, uint64_t tick, uint32_t node,
                     uint32_t pkt) {
  if (tick < s->tick)
    tick = s->tick;
  if (tick - s->tick < WHEEL)
    bucket_add(s, tick, node, pkt);
  else
    far_push(s, tick, node, pkt);
}

static uint64_t to_ticks(const struct sim *s, uint64_t ns) {
  return (ns + s->c.tick_ns - 1) / s->c.tick_ns;
}

/* Keep one timer event for the node's next engine deadline. */
static void resched(struct sim *s, uint32_t node) {
  struct node *nd = &s->nodes[node];
  uint64_t t = smart__engine_expiry(nd->e);
  if (t == UINT64_MAX)
    return;
  uint64_t tk = to_ticks(s, t);
  if (tk <= s->tick)
    tk = s->tick + 1;
  if (tk < nd->sched) {
    nd->sched = tk;
    schedule(s, tk, node, EV_TIMER);
  }
}

/* ---- Senders and links ------------------------------------------------- */

/* Sender index (0 or 1) of a node, or -1 for a receiver. */
static inline int sender_of(const struct sim *s, uint32_t node) {
  if (node == 0)
    return 0;
  return s->nsend > 1 && node == s->n + 1 ? 1 : -1;
}

uint32_t sim_sender(const struct sim *s, uint32_t i) { return i ? s->n + 1 : 0; }

struct sim_rcv *sim_stream(struct sim *s, uint32_t rcv, uint32_t i) {
  return &s->rcv[(size_t)i * (s->n + 1) + rcv];
}

/* A datagram of `len` bytes enters link L at `now`: 1 and its departure
 * time, or 0 when the queue has no room (drop-tail). */
static int link_admit(struct link_state *L, size_t len, uint64_t now, uint64_t *depart) {
  if (!L->l.rate) {
    *depart = now;
    return 1;
  }
  uint64_t start = L->busy > now ? L->busy : now;
  uint64_t backlog = L->busy > now ? (L->busy - now) * L->l.rate / 1000000000u : 0;
  if (backlog + len > L->l.queue) {
    L->drops++;
    return 0;
  }
  L->busy = start + ((uint64_t)len * 1000000000u + L->l.rate - 1) / L->l.rate;
  L->bytes += len;
  *depart = L->busy;
  return 1;
}

void sim_set_link(struct sim *s, uint32_t which, const struct sim_link *l) {
  if (which == 0)
    s->up.l = *l;
  else if (which <= s->c.nlinked)
    s->clink[which - 1].l = *l;
}

int sim_link_offer(struct sim *s, uint32_t which, size_t len, uint64_t now, uint64_t *depart) {
  struct link_state *L = which == 0               ? &s->up
                         : which <= s->c.nlinked ? &s->clink[which - 1]
                                                 : NULL;
  if (!L) {
    *depart = now;
    return 1;
  }
  return link_admit(L, len, now, depart);
}

void sim_link_stats(const struct sim *s, uint32_t which, uint64_t *drops, uint64_t *bytes) {
  const struct link_state *L = which == 0               ? &s->up
                               : which <= s->c.nlinked ? &s->clink[which - 1]
                                                       : NULL;
  *drops = L ? L->drops : 0;
  *bytes = L ? L->bytes : 0;
}

/* ---- Datagrams -------------------------------------------------------- */

static uint32_t pkt_new(struct sim *s, const uint8_t *dg, size_t len,
                        uint32_t from) {
  uint32_t i;
  if (s->pfree_n) {
    i = s->pfree[--s->pfree_n];
  } else {
    uint32_t old = s->pcap;
    uint32_t ncap = old ? old * 2 : 1024;
    uint8_t *b = realloc(s->pbuf, (size_t)ncap * s->stride);
    struct pkt_meta *m = realloc(s->pm, (size_t)ncap * sizeof(*m));
    uint32_t *f = realloc(s->pfree, (size_t)ncap * sizeof(*f));
    if (!b || !m || !f)
      abort();
    s->pbuf = b;
    s->pm = m;
    s->pfree = f;
    s->pcap = ncap;
    for (uint32_t k = ncap; k > old + 1; k--)
      s->pfree[s->pfree_n++] = k - 1;
    i = old;
  }
  memcpy(s->pbuf + (size_t)i * s->stride, dg, len);
  s->pm[i].refs = 0;
  s->pm[i].len = (uint32_t)len;
  s->pm[i].from = from;
  return i;
}

static void pkt_unref(struct sim *s, uint32_t i) {
  if (--s->pm[i].refs)
    return;
  if (s->pm[i].lost_needed) {
    s->t.losses++;
    if (s->pm[i].is_data == 1)
      s->t.seq_losses++;
  }
  s->pfree[s->pfree_n++] = i;
}

/* Does receiver r (1..N) lose this datagram (its own loss process)?
 * Gilbert-Elliott runs in time: one step per message interval, so a burst
 * is a stretch of time (mean burst_len intervals) in which everything to
 * that receiver is lost, whatever the traffic then. */
static inline int rcv_loses(struct sim *s, uint32_t r) {
  if (!s->ge)
    return s->thr_loss && rnd(s) < s->thr_loss;
  struct node *nd = &s->nodes[r];
  uint64_t slot = s->tick * s->c.tick_ns / s->c.interval_ns;
  if (slot != nd->ge_slot) {
    /* n steps of the two-state chain at once:
     * P(bad after n) = pi + (bad ? 1 - pi : -pi) * decay^n. */
    uint64_t n = slot - nd->ge_slot;
    double d = 1, b = s->ge_decay;
    for (; n; n >>= 1, b *= b)
      if (n & 1)
        d *= b;
    double pb = s->ge_pi + (nd->bad ? 1 - s->ge_pi : -s->ge_pi) * d;
    nd->bad = rnd(s) < prob(pb);
    nd->ge_slot = slot;
  }
  return nd->bad;
}

static inline int rcv_up(const struct sim *s, uint32_t r, uint64_t now) {
  const struct sim_rcv *rv = &s->rcv[r];
  return now >= rv->join_ns && !(now >= rv->down_from && now < rv->down_until);
}

/* Schedule the delivery of datagram pi to class c (or to sender node
 * `node` when c == NONE) after `delay` plus jitter. */
static void deliver_to(struct sim *s, uint32_t c, uint32_t pi, uint64_t delay, uint32_t node) {
  uint64_t j = s->c.jitter_ns ? rnd(s) % (s->c.jitter_ns + 1) : 0;
  s->pm[pi].refs++;
  schedule(s, s->tick + to_ticks(s, delay + j), c == NONE ? node : (CLASS_BIT | c), pi);
}

/* The sequences a request lists, as the sender numbers them. */
static void nak_seqs(struct sim *s, struct pkt_meta *m,
                     const struct smart__pkt *p) {
  uint64_t lead = smart__engine_tx_lead(s->nodes[0].e);
  unsigned n = 0;
  uint16_t sq[1 + 64], ex[1 + 64];
  unsigned nr = 0;
  sq[nr] = p->u.repl.seq;
  ex[nr++] = p->u.repl.extra;
  const uint8_t *v;
  size_t vl;
  if (smart__ext_find(p->ext, p->ext_len, SMART__EXT_NAKLIST, &v, &vl)) {
    for (size_t i = 0; i + 4 <= vl; i += 4) {
      if (nr == 1 + 64)
        return;
      sq[nr] = (uint16_t)(v[i] << 8 | v[i + 1]);
      ex[nr++] = (uint16_t)(v[i + 2] << 8 | v[i + 3]);
    }
  }
  for (unsigned i = 0; i < nr; i++) {
    uint64_t st = smart__seq_expand(lead, sq[i]);
    for (uint32_t k = 0; k <= ex[i]; k++) {
      if (n == NAK_ELIDE_MAX)
        return;
      m->req[n++] = st + k;
    }
  }
  m->nseq = (uint8_t)n;
}

static int elide(const struct sim *s, const struct pkt_meta *m, uint32_t r) {
  if (m->is_data == 2)
    return has_seq(s, r, m->seq);
  if (!m->nseq)
    return 0;
  for (unsigned i = 0; i < m->nseq; i++)
    if (!has_seq(s, r, m->req[i]))
      return 0;
  return 1;
}

static void transmit(struct sim *s, uint32_t from, const uint8_t *dg, size_t len,
                     const struct smart__dst *dst) {
  uint64_t now = s->tick * s->c.tick_ns;
  if (s->c.on_tx)
    s->c.on_tx(s->c.user, s, from, dg, len, now);
  struct smart__pkt p;
  if (smart__pkt_decode(&p, dg, len) != 0) {
    s->failed = 1; /* an engine produced something the codec rejects */
    return;
  }
  uint32_t pi = pkt_new(s, dg, len, from);
  struct pkt_meta *m = &s->pm[pi];
  m->is_data = 0;
  m->lost_needed = 0;
  m->nseq = 0;
  int si = sender_of(s, from);
  m->to = si >= 0 && dst->kind == SMART__DST_UNICAST ? dst->src_id : 0;
  if (si >= 0) {
    if (si == 0 && p.kind == SMART__K_DATA &&
        (p.cmd == SMART__DCMD_DATA || p.cmd == SMART__DCMD_REPAIR)) {
      uint64_t lead = smart__engine_tx_lead(s->nodes[0].e);
      if (p.cmd == SMART__DCMD_DATA) {
        m->seq = lead - 1;
        m->is_data = 1;
        s->t.data++;
        uint32_t row = (uint32_t)(m->seq & (HAVE_ROWS - 1));
        s->row_seq[row] = m->seq;
        memset(s->have + (size_t)row * s->words, 0,
               s->words * sizeof(*s->have));
      } else {
        m->seq = smart__seq_expand(lead, p.u.data.seq);
        m->is_data = 2;
        s->t.repairs++;
      }
    }
    /* Into the upstream link after a random delay within the jitter: the
     * senders' datagrams meet the queue in no fixed phase (deterministic
     * pacing into a drop-tail queue otherwise drops one sender's
     * datagrams more, for ever). */
    uint64_t at = now;
    if (s->up.l.rate && s->c.jitter_ns)
      at += rnd(s) % (s->c.jitter_ns + 1);
    uint64_t depart = at;
    if ((s->thr_shared && rnd(s) < s->thr_shared) || !link_admit(&s->up, len, at, &depart)) {
      /* Lost upstream of everyone. */
      if (m->is_data) {
        s->t.losses++;
        if (m->is_data == 1)
          s->t.seq_losses++;
      }
    } else {
      for (uint32_t c = 0; c < s->nclass; c++)
        deliver_to(s, c, pi, depart - now + s->cdelay[c], 0);
    }
  } else {
    if (p.kind == SMART__K_REPLACEMENT) {
      s->t.naks++;
      if (s->nsend == 1)
        nak_seqs(s, m, &p);
    }
    uint64_t d = s->nodes[from].delay;
    /* A STATUS goes by unicast to the sender it is about: the other
     * receivers and senders never see it. */
    for (uint32_t k = 0; k < s->nsend; k++) {
      uint32_t snode = sim_sender(s, k);
      if (dst->kind == SMART__DST_UNICAST && dst->src_id != snode)
        continue;
      if (!(s->thr_fb && rnd(s) < s->thr_fb))
        deliver_to(s, NONE, pi, d, snode);
    }
    for (uint32_t c = 0; c < s->nclass && dst->kind != SMART__DST_UNICAST; c++)
      deliver_to(s, c, pi, d + s->cdelay[c], 0);
  }
  if (m->refs == 0)
    s->pfree[s->pfree_n++] = pi;
}

/* Send everything the node's engine has, then poll its events. */
/* The expected bytes of message k (len bytes), from the cache when small. */
static const uint8_t *expected(struct sim *s, uint64_t k, size_t want) {
  if (want <= FILL_MAX) {
    uint32_t i = (uint32_t)(k % FILL_SLOTS);
    uint8_t *b = s->fill + (size_t)i * FILL_MAX;
    if (s->fill_k[i] != k || s->fill_len[i] != want) {
      sim_fill(k, b, want);
      s->fill_k[i] = k;
      s->fill_len[i] = (uint32_t)want;
    }
    return b;
  }
  if (want > s->msgcap) {
    free(s->msgbuf);
    s->msgbuf = malloc(want);
    if (!s->msgbuf)
      abort();
    s->msgcap = want;
  }
  sim_fill(k, s->msgbuf, want);
  return s->msgbuf;
}

static void check_event(struct sim *s, uint32_t r,
                        const struct smart__event *ev) {
  int si = sender_of(s, ev->src_id);
  struct sim_rcv *rv = sim_stream(s, r, si > 0 ? (uint32_t)si : 0);
  if (s->c.on_event)
    s->c.on_event(s->c.user, s, r, ev);
  if (ev->type == SMART__EV_LOSS) {
    rv->loss_events++;
    rv->lost_seqs += ev->count;
    rv->allow_jump = 1;
    s->t.loss_events++;
    return;
  }
  if (ev->type != SMART__EV_MSG)
    return;
  uint64_t k = 0;
  if (ev->len < 8) {
    k = rv->next_msg; /* too short to carry its index */
  } else {
    for (int i = 0; i < 8; i++)
      k |= (uint64_t)ev->data[i] << (8 * i);
  }
  if (k >= s->c.messages) {
    rv->errors++;
    return;
  }
  size_t want = sim_msg_len(&s->c, k);
  if (ev->len != want) {
    rv->errors++;
    return;
  }
  if (memcmp(expected(s, k, want), ev->data, want) != 0) {
    rv->errors++;
    return;
  }
  if (rv->started && k < rv->next_msg) {
    rv->dups++;
    s->t.dup_deliveries++;
    return;
  }
  if (k != rv->next_msg && !rv->allow_jump &&
      !(rv->started == 0 && s->rcv[r].join_ns > 0))
    rv->errors++; /* messages skipped without a loss event */
  rv->started = 1;
  rv->allow_jump = 0;
  rv->next_msg = k + 1;
  rv->delivered++;
  s->t.delivered++;
  if (rv->next_msg == s->c.messages)
    s->ndone++;
}

static int submit_one(struct sim *s, int si);

static void after(struct sim *s, uint32_t node) {
  struct node *nd = &s->nodes[node];
  uint64_t now = s->tick * s->c.tick_ns;
  struct smart__dst dst;
  int si = sender_of(s, node);
  for (;;) {
    if (si >= 0 && s->c.greedy) {
      /* A greedy sender keeps its queue topped up. */
      uint64_t *sub = si ? &s->submitted2 : &s->submitted;
      while (!s->failed && *sub < s->c.messages && (si == 0 || now >= s->c.start2_ns) &&
             smart__engine_tx_queued(nd->e) < s->c.greedy)
        if (submit_one(s, si))
          break; /* the queue is full: on the next call */
    }
    smart_ssize n =
        smart__engine_send(nd->e, s->out, s->c.max_dgram, &dst, now);
    if (n < 0) {
      s->failed = 1;
      break;
    }
    if (n == 0)
      break;
    transmit(s, node, s->out, (size_t)n, &dst);
  }
  if (si < 0) {
    struct smart__event ev;
    while (smart__engine_poll(nd->e, &ev))
      check_event(s, node, &ev);
  }
  resched(s, node);
}

/* ---- Setup --------------------------------------------------------------- */

static struct smart__engine *mk_engine(struct sim *s, uint32_t node,
                                       uint64_t seed) {
  struct smart__engine_config ec;
  smart__engine_config_init(&ec);
  ec.sync = 0x5A;
  ec.session = sender_of(s, node) == 1 ? 0x53494D32 : 0x53494D31;
  ec.group = 0xEFFF0001;
  ec.grtt_us = s->c.grtt_us;
  ec.gsize = s->c.gsize ? s->c.gsize : s->c.receivers;
  ec.window = s->c.window;
  ec.max_dgram = s->c.max_dgram;
  if (s->c.k)
    ec.k = s->c.k;
  if (s->c.nak_retries)
    ec.nak_retries = s->c.nak_retries;
  ec.join_policy = s->c.policies && node ? s->c.policies[node]
                                         : s->c.join_policy;
  ec.initial_seq = s->c.initial_seq;
  ec.rate = s->c.rate;
  ec.seed = seed;
  ec.policy = s->c.delivery;
  if (s->c.horizon_ms)
    ec.horizon_ms = s->c.horizon_ms;
  if (s->c.evict_ms)
    ec.evict_ms = s->c.evict_ms;
  if (s->c.status_ms)
    ec.status_ms = s->c.status_ms == UINT32_MAX ? 0 : s->c.status_ms;
  if (s->c.sender_timeout_ms)
    ec.sender_timeout_ms = s->c.sender_timeout_ms;
  ec.cc = s->c.cc;
  if (s->c.cc_min_rate)
    ec.cc_min_rate = s->c.cc_min_rate;
  ec.cc_floor = s->c.cc_floor;
  struct smart__engine *e;
  if (smart__engine_new(&e, &ec) != 0)
    return NULL;
  return e;
}

struct sim *sim_new(const struct sim_config *c) {
  struct sim *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  s->c = *c;
  if (s->c.tick_ns == 0)
    s->c.tick_ns = 10000;
  s->n = c->receivers;
  s->nsend = c->senders > 1 ? 2 : 1;
  if (s->c.nlinked > s->n)
    s->c.nlinked = s->n;
  s->rng = c->seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
  s->stride = (c->max_dgram + 15) & ~(size_t)15;
  s->thr_shared = prob(c->shared);
  s->thr_fb = prob(c->fb_loss);
  s->thr_dup = prob(c->dup);
  if (c->burst_len > 1 && c->loss > 0) {
    /* Gilbert-Elliott: bad state loses everything, mean stay burst_len;
     * stationary P(bad) = loss. */
    s->ge = 1;
    double pbg = 1.0 / c->burst_len;
    double pgb = c->loss * pbg / (1.0 - c->loss);
    s->ge_pi = c->loss;
    s->ge_decay = 1.0 - pgb - pbg;
  } else {
    s->thr_loss = prob(c->loss);
  }
  s->evfree = NONE;
  for (uint32_t i = 0; i < WHEEL; i++)
    s->head[i] = s->tail[i] = NONE;
  s->nodes = calloc((size_t)s->n + 1 + (s->nsend > 1), sizeof(*s->nodes));
  s->rcv = calloc(((size_t)s->n + 1) * s->nsend, sizeof(*s->rcv));
  s->fill = malloc((size_t)FILL_SLOTS * FILL_MAX);
  s->clink = calloc((size_t)s->c.nlinked + 1, sizeof(*s->clink));
  memset(s->fill_k, 0xFF, sizeof(s->fill_k));
  s->up.l = c->upstream;
  s->out = malloc(c->max_dgram);
  s->words = (s->n + 1 + 63) / 64;
  s->have = calloc((size_t)HAVE_ROWS * s->words, sizeof(*s->have));
  s->row_seq = malloc(HAVE_ROWS * sizeof(*s->row_seq));
  if (s->row_seq)
    memset(s->row_seq, 0xFF, HAVE_ROWS * sizeof(*s->row_seq));
  if (!s->nodes || !s->rcv || !s->out || !s->have || !s->row_seq || !s->fill || !s->clink) {
    sim_free(s);
    return NULL;
  }
  s->nclass = s->n < MAX_CLASSES ? s->n : MAX_CLASSES;
  s->cfirst = calloc((size_t)s->nclass + 1, sizeof(*s->cfirst));
  s->cdelay = calloc((size_t)s->nclass + 1, sizeof(*s->cdelay));
  if (!s->cfirst || !s->cdelay) {
    sim_free(s);
    return NULL;
  }
  uint64_t span = c->delay_max_ns - c->delay_min_ns;
  /* Receivers behind links of their own are classes of their own, the
   * first ones; the others share the remaining classes evenly. */
  uint32_t L = s->c.nlinked, rest = s->n - L, nrest = s->nclass - L;
  if (L && nrest == 0 && rest)
    nrest = 1, s->nclass = L + 1;
  for (uint32_t k = 0; k < s->nclass; k++) {
    s->cfirst[k] = k < L ? 1 + k : 1 + L + (uint32_t)((uint64_t)(k - L) * rest / nrest);
    s->cdelay[k] = c->delay_min_ns + (span ? rnd(s) % (span + 1) : 0);
    if (k < L) {
      s->clink[k].l = c->link;
      if (c->link_delay_ns)
        s->cdelay[k] = c->link_delay_ns;
    }
  }
  s->cfirst[s->nclass] = s->n + 1;
  for (uint32_t i = 0; i <= s->n + (s->nsend > 1); i++) {
    s->nodes[i].e = mk_engine(s, i, rnd(s));
    s->nodes[i].sched = UINT64_MAX;
    if (!s->nodes[i].e) {
      sim_free(s);
      return NULL;
    }
  }
  for (uint32_t k = 0; k < s->nclass; k++)
    for (uint32_t r = s->cfirst[k]; r < s->cfirst[k + 1]; r++)
      s->nodes[r].delay = s->cdelay[k];
  schedule(s, 0, 0, EV_SUBMIT);
  if (s->nsend > 1)
    schedule(s, to_ticks(s, c->start2_ns), s->n + 1, EV_SUBMIT);
  return s;
}

void sim_free(struct sim *s) {
  if (!s)
    return;
  if (s->nodes)
    for (uint32_t i = 0; i <= s->n + (s->nsend > 1); i++)
      smart__engine_del(s->nodes[i].e);
  free(s->nodes);
  free(s->fill);
  free(s->clink);
  free(s->rcv);
  free(s->cfirst);
  free(s->cdelay);
  free(s->evs);
  free(s->far);
  free(s->pbuf);
  free(s->pm);
  free(s->pfree);
  free(s->out);
  free(s->msgbuf);
  free(s->have);
  free(s->row_seq);
  free(s);
}

uint64_t sim_now(const struct sim *s) { return s->tick * s->c.tick_ns; }
struct sim_rcv *sim_receiver(struct sim *s, uint32_t r) { return &s->rcv[r]; }
struct smart__engine *sim_engine(struct sim *s, uint32_t node) {
  return s->nodes[node].e;
}

void sim_leave(struct sim *s, uint32_t r) {
  smart__engine_leave(s->nodes[r].e, sim_now(s));
  after(s, r); /* the last STATUS goes now */
  s->rcv[r].down_from = sim_now(s) + 1;
  s->rcv[r].down_until = UINT64_MAX;
}

int sim_quiet(struct sim *s, uint32_t ms) {
  int rc = smart__engine_quiet(s->nodes[0].e, ms, sim_now(s));
  if (rc == 0)
    after(s, 0);
  return rc;
}

/* ---- Main loop ------------------------------------------------------------ */

/* 1 when the queue is full (SMART_EAGAIN: the same message goes again
 * later, as an application's would), else 0. */
static int submit_one(struct sim *s, int si) {
  uint64_t *sub = si ? &s->submitted2 : &s->submitted, k = (*sub)++;
  size_t len = sim_msg_len(&s->c, k);
  if (len > s->msgcap) {
    free(s->msgbuf);
    s->msgbuf = malloc(len);
    if (!s->msgbuf)
      abort();
    s->msgcap = len;
  }
  sim_fill(k, s->msgbuf, len);
  int rc = smart__engine_submit(s->nodes[sim_sender(s, (uint32_t)si)].e, s->msgbuf, len, sim_now(s));
  if (rc == SMART_EAGAIN) {
    (*sub)--;
    return 1;
  }
  if (rc != 0)
    s->failed = 1;
  return 0;
}

static void run_event(struct sim *s, uint32_t node, uint32_t pkt) {
  uint64_t now = s->tick * s->c.tick_ns;
  struct node *nd = &s->nodes[node & CLASS_BIT ? 0 : node];
  if (pkt == EV_SUBMIT) {
    int si = sender_of(s, node);
    if (!s->c.greedy) {
      submit_one(s, si);
      if ((si ? s->submitted2 : s->submitted) < s->c.messages)
        schedule(s, s->tick + to_ticks(s, s->c.interval_ns), node, EV_SUBMIT);
    }
    after(s, node); /* a greedy sender fills its queue there */
    return;
  }
  if (pkt == EV_TIMER) {
    if (nd->sched != s->tick)
      return; /* superseded */
    nd->sched = UINT64_MAX;
    if (smart__engine_handle_expiry(nd->e, now) != 0)
      s->failed = 1;
    after(s, node);
    return;
  }
  struct pkt_meta *m = &s->pm[pkt];
  const uint8_t *dg = s->pbuf + (size_t)pkt * s->stride;
  if (!(node & CLASS_BIT)) { /* to the sender */
    s->t.deliveries++;
    if (smart__engine_recv(nd->e, m->from, dg, m->len, now) == SMART_ENOMEM)
      s->failed = 1;
    pkt_unref(s, pkt);
    after(s, node);
    return;
  }
  uint32_t c = node & ~(CLASS_BIT | LINK_BIT);
  if (c < s->c.nlinked && !(node & LINK_BIT)) {
    /* Into the receiver's link first; out of it when it has been sent. */
    uint64_t depart;
    if (!link_admit(&s->clink[c], m->len, now, &depart)) {
      uint32_t r = s->cfirst[c];
      if (m->is_data && !m->lost_needed && rcv_up(s, r, now) &&
          (m->is_data == 1 || smart__engine_rx_needs(s->nodes[r].e, 0, m->seq)))
        m->lost_needed = 1;
    } else {
      m->refs++;
      schedule(s, to_ticks(s, depart), node | LINK_BIT, pkt);
    }
    pkt_unref(s, pkt);
    return;
  }
  for (uint32_t r = s->cfirst[c]; r < s->cfirst[c + 1]; r++) {
    /* after() may transmit, and a transmission may grow the datagram pool:
     * take the pointers afresh for every receiver. */
    m = &s->pm[pkt];
    dg = s->pbuf + (size_t)pkt * s->stride;
    if (r == m->from || (m->to && r != m->to) || !rcv_up(s, r, now))
      continue;
    if (elide(s, m, r)) {
      s->elided++;
      continue;
    }
    int lost = rcv_loses(s, r);
    if (!lost && s->c.drop && s->c.drop(s->c.user, s, r, dg, m->len, now))
      lost = 1;
    if (lost) {
      if (m->is_data && !m->lost_needed &&
          (m->is_data == 1 ||
           smart__engine_rx_needs(s->nodes[r].e, 0, m->seq)))
        m->lost_needed = 1;
      continue;
    }
    int copies = 1 + (s->thr_dup && rnd(s) < s->thr_dup);
    struct smart__engine *e = s->nodes[r].e;
    for (int k = 0; k < copies; k++) {
      s->t.deliveries++;
      int rc = smart__engine_recv(e, m->from, dg, m->len, now);
      if (rc == SMART_ENOMEM)
        s->failed = 1;
      if (m->is_data && rc == 0) /* accepted: it holds it from now on */
        set_seq(s, r, m->seq);
    }
    after(s, r);
  }
  pkt_unref(s, pkt);
}

int sim_run(struct sim *s) {
  uint64_t max_tick = to_ticks(s, s->c.max_sim_ns), end_tick = UINT64_MAX;
  while (!s->failed && s->tick <= max_tick && s->tick < end_tick) {
    if (end_tick == UINT64_MAX && s->submitted == s->c.messages && s->ndone == s->n * s->nsend &&
        (s->nsend == 1 || s->submitted2 == s->c.messages)) {
      if (!s->c.tail_ns)
        break;
      end_tick = s->tick + to_ticks(s, s->c.tail_ns);
    }
    if (s->c.on_time)
      s->c.on_time(s->c.user, s, sim_now(s));
    /* Bring far events into the wheel. */
    while (s->nfar && s->far[0].tick < s->tick + WHEEL) {
      struct far_ev f = far_pop(s);
      bucket_add(s, f.tick < s->tick ? s->tick : f.tick, f.node, f.pkt);
    }
    uint32_t b = (uint32_t)(s->tick & (WHEEL - 1));
    while (s->head[b] != NONE) {
      uint32_t i = s->head[b];
      struct ev ev = s->evs[i];
      s->head[b] = ev.next;
      if (s->head[b] == NONE)
        s->tail[b] = NONE;
      s->evs[i].next = s->evfree;
      s->evfree = i;
      run_event(s, ev.node, ev.pkt);
    }
    s->tick++;
  }
  return s->failed ? -1 : 0;
}

void sim_totals(const struct sim *s, struct sim_totals *t) {
  *t = s->t;
  t->elided = s->elided;
  t->sim_ns = sim_now(s);
  t->complete = !s->failed;
  for (uint32_t i = 0; i < s->nsend; i++)
    for (uint32_t r = 1; r <= s->n; r++) {
      const struct sim_rcv *rv = &s->rcv[(size_t)i * (s->n + 1) + r];
      t->errors += rv->errors;
      if (rv->next_msg != s->c.messages || rv->errors || rv->loss_events ||
          rv->dups)
        t->complete = 0;
    }
}
