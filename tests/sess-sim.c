/*
 * Deterministic simulator of whole sessions (see sess-sim.h).
 *
 * One binary heap of events keyed by (time, insertion order), so that one
 * seed gives one order of events and one result. Datagrams are stored
 * once and reference counted by the arrivals in flight. Each node has at
 * most one timer event that counts (a later, stale one is skipped).
 */
#include "sess-sim.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"
#include "wire/wire.h"

#define T0 UINT64_C(1000000000) /* the clock starts at 1 s */
#define BATCH 32u               /* as SMART__BATCH in the socket shell */
#define SPIN_NS UINT64_C(1000)  /* a deadline already passed: look again 1 us later */
#define PORT_BASE 20000u
#define GROUP_PORT 7000u

enum { EV_ARRIVE, EV_TIMER, EV_SERVICE, EV_SUBMIT, EV_AT };

struct hev {
  uint64_t t, seq;
  uint32_t type, node, pkt;
};

struct pkt {
  uint32_t refs, len, from;
  int mcast;
  struct smart__sockaddr to;
  uint8_t *data;
};

struct ssim {
  struct ssim_config c;
  struct smart__rng rng;
  uint64_t now, seq;
  struct hev *heap;
  size_t nheap, capheap;
  struct pkt *pk;
  uint32_t npk, cappk, *pfree, nfree;
  struct ssim_node *nodes;
  uint32_t nn;
  char sender_text[64];
  uint64_t submitted, next_submit;
  int submit_pending;
  uint32_t nexpect, ndone;
  uint64_t done_ns, end_at;
  uint64_t datagrams, deliveries;
  uint8_t *buf, *msg;
  int failed;
};

/* ---- helpers --------------------------------------------------------------- */

uint64_t ssim_rand(struct ssim *s) { return smart__rng_next(&s->rng); }

static uint64_t prob(double p) {
  if (p <= 0)
    return 0;
  if (p >= 1)
    return UINT64_MAX;
  return (uint64_t)(p * 18446744073709551616.0);
}

void ssim_fill(uint64_t k, uint8_t *buf, size_t len) {
  for (size_t i = 0; i < len && i < 8; i++)
    buf[i] = (uint8_t)(k >> (8 * i));
  for (size_t i = 8; i < len; i++)
    buf[i] = (uint8_t)(k * 131 + i * 7 + (i >> 8));
}

static void v4(struct smart__sockaddr *a, uint32_t host, uint16_t port) {
  memset(a, 0, sizeof(*a));
  a->u.in4.sin_family = AF_INET;
  a->u.in4.sin_addr.s_addr = htonl(host);
  a->u.in4.sin_port = htons(port);
  a->len = sizeof(a->u.in4);
}

void ssim_group_addr(struct smart__sockaddr *g, uint32_t i) {
  v4(g, (239u << 24) | (255u << 16) | (i / 250) << 8 | (1 + i % 250), GROUP_PORT);
}

static void node_addr(struct smart__sockaddr *a, uint32_t i) {
  v4(a, (198u << 24) | (51u << 16) | (100u << 8) | (1 + i % 250), (uint16_t)(PORT_BASE + i));
}

void ssim_config_init(struct ssim_config *c) {
  memset(c, 0, sizeof(*c));
  c->receivers = 10;
  c->messages = 1000;
  c->msg_len = 64;
  c->start_ns = 100000000;
  c->interval_ns = 1000000;
  c->delay_min_ns = 1000000;
  c->delay_max_ns = 10000000;
  c->jitter_ns = 200000;
  c->seed = 1;
  c->max_sim_ns = UINT64_C(120) * 1000000000;
  c->tail_ns = 500000000;
  c->grtt_us = 50000;
  c->rcvbuf_default = 212992; /* Linux's default rmem */
}

/* ---- events ---------------------------------------------------------------- */

static int hless(const struct hev *a, const struct hev *b) {
  return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void push(struct ssim *s, uint64_t t, uint32_t type, uint32_t node, uint32_t pkt) {
  if (s->nheap == s->capheap) {
    s->capheap = s->capheap ? s->capheap * 2 : 4096;
    s->heap = realloc(s->heap, s->capheap * sizeof(*s->heap));
    if (!s->heap)
      abort();
  }
  size_t i = s->nheap++;
  struct hev e = {t < s->now ? s->now : t, s->seq++, type, node, pkt};
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!hless(&e, &s->heap[p]))
      break;
    s->heap[i] = s->heap[p];
    i = p;
  }
  s->heap[i] = e;
}

static struct hev pop(struct ssim *s) {
  struct hev top = s->heap[0], last = s->heap[--s->nheap];
  size_t i = 0, n = s->nheap;
  for (;;) {
    size_t l = 2 * i + 1, m = i;
    const struct hev *best = &last;
    if (l < n && hless(&s->heap[l], best))
      m = l, best = &s->heap[l];
    if (l + 1 < n && hless(&s->heap[l + 1], best))
      m = l + 1;
    if (m == i)
      break;
    s->heap[i] = s->heap[m];
    i = m;
  }
  if (n)
    s->heap[i] = last;
  return top;
}

/* ---- datagrams ------------------------------------------------------------- */

static uint32_t pkt_new(struct ssim *s, const uint8_t *dg, size_t len, uint32_t from,
                        const struct smart__sockaddr *to, int mcast) {
  uint32_t i;
  if (s->nfree) {
    i = s->pfree[--s->nfree];
  } else {
    if (s->npk == s->cappk) {
      s->cappk = s->cappk ? s->cappk * 2 : 4096;
      s->pk = realloc(s->pk, s->cappk * sizeof(*s->pk));
      s->pfree = realloc(s->pfree, s->cappk * sizeof(*s->pfree));
      if (!s->pk || !s->pfree)
        abort();
    }
    i = s->npk++;
  }
  struct pkt *p = &s->pk[i];
  p->refs = 0;
  p->len = (uint32_t)len;
  p->from = from;
  p->mcast = mcast;
  p->to = *to;
  if (!(p->data = malloc(len ? len : 1)))
    abort();
  memcpy(p->data, dg, len);
  return i;
}

static void pkt_unref(struct ssim *s, uint32_t i) {
  struct pkt *p = &s->pk[i];
  if (--p->refs)
    return;
  free(p->data);
  p->data = NULL;
  s->pfree[s->nfree++] = i;
}

/* One copy of `pi` on its way from `a` to `b`, unless lost. */
static void route_one(struct ssim *s, uint32_t pi, uint32_t a, uint32_t b) {
  struct pkt *p = &s->pk[pi];
  uint64_t r = ssim_rand(s);
  uint64_t thr = b == 0 ? prob(s->c.fb_loss) : b <= s->c.receivers ? prob(s->c.loss) : 0;
  if (r < thr)
    return;
  if (s->c.drop && s->c.drop(s->c.user, s, a, b, p->data, p->len, s->now))
    return;
  uint64_t j = s->c.jitter_ns ? smart__rng_between(&s->rng, 0, s->c.jitter_ns + 1) : 0;
  p->refs++;
  push(s, s->now + s->nodes[a].delay + s->nodes[b].delay + j, EV_ARRIVE, b, pi);
}

static void route(struct ssim *s, uint32_t a, const uint8_t *dg, size_t len,
                  const struct smart__sockaddr *to) {
  s->datagrams++;
  int mcast = smart__addr_is_multicast(to);
  uint32_t pi = pkt_new(s, dg, len, a, to, mcast);
  s->pk[pi].refs = 1; /* ours, while routing */
  if (mcast) {
    for (uint32_t b = 0; b < s->nn; b++)
      if (b != a)
        route_one(s, pi, a, b);
  } else {
    uint32_t port = ntohs(to->u.in4.sin_port);
    if (port >= PORT_BASE && port - PORT_BASE < s->nn && port - PORT_BASE != a &&
        smart__addr_equal(to, &s->nodes[port - PORT_BASE].addr))
      route_one(s, pi, a, port - PORT_BASE);
  }
  pkt_unref(s, pi);
}

/* ---- a node's pump (lib/sock/io.c: tick, commands, tx) ---------------------- */

static void commands(struct ssim *s, struct ssim_node *n) {
  struct smart__cmd c;
  while (smart__session_cmd(n->ss, &c)) {
    if (c.kind == SMART__CMD_CLOSE_OLD) {
      n->ngroups_open[1] = 0;
    } else if (c.kind == SMART__CMD_OPEN_GROUP) {
      n->groups[1] = n->groups[0];
      n->ngroups_open[1] = n->ngroups_open[0];
      n->groups[0] = c.group;
      n->ngroups_open[0] = 1;
      smart__session_group_ready(n->ss, &c.group, 1, s->now);
    }
  }
}

static void tx(struct ssim *s, uint32_t i) {
  struct ssim_node *n = &s->nodes[i];
  for (;;) {
    uint64_t bytes = 0;
    unsigned k = 0;
    int end = 0;
    while (k < BATCH && !end) {
      struct smart__sockaddr to;
      smart_ssize len = smart__session_send(n->ss, s->buf, 65536, &to, &end, s->now);
      if (len < 0) {
        s->failed = 1;
        return;
      }
      if (len == 0)
        break;
      if (!n->tx_dgrams)
        n->first_tx_ns = s->now;
      n->last_tx_ns = s->now;
      n->tx_dgrams++;
      n->tx_bytes += (uint64_t)len;
      bytes += (uint64_t)len;
      k++;
      route(s, i, s->buf, (size_t)len, &to);
    }
    if (k)
      smart__session_sent(n->ss, bytes, s->now);
    if (k < BATCH && !end)
      return;
  }
}

static void check_done(struct ssim *s, struct ssim_node *n) {
  if (n->expect_all && n->next_msg >= s->c.messages && n->next_msg - 1 < s->c.messages &&
      n->delivered + n->lost >= s->c.messages) {
    n->expect_all = 2; /* done */
    if (++s->ndone == s->nexpect) {
      s->done_ns = s->now;
      s->end_at = s->now + s->c.tail_ns;
    }
  }
}

static void deliveries(struct ssim *s, struct ssim_node *n) {
  struct smart__delivery d;
  while (smart__session_poll(n->ss, &d)) {
    s->deliveries++;
    if (d.kind == SMART__DLV_LOSS) {
      n->loss_events++;
      n->lost += d.count;
      continue;
    }
    if (!d.sender || strcmp(d.sender, s->sender_text) != 0) {
      n->foreign++;
      continue;
    }
    uint64_t k = 0;
    for (size_t b = 0; b < 8 && b < d.len; b++)
      k |= (uint64_t)d.data[b] << (8 * b);
    if (d.len != s->c.msg_len || k >= s->c.messages) {
      n->errors++;
      continue;
    }
    ssim_fill(k, s->msg, d.len);
    if (memcmp(s->msg, d.data, d.len) != 0) {
      n->errors++;
      continue;
    }
    if (k < n->next_msg) {
      n->dups++;
      continue;
    }
    if (k > n->next_msg && !n->loss_events)
      n->errors++; /* a gap without a loss */
    n->next_msg = k + 1;
    n->delivered++;
    n->last_deliver_ns = s->now;
    if (n->expect_all == 1)
      check_done(s, n);
  }
}

static void events(struct ssim *s, uint32_t i) {
  struct ssim_node *n = &s->nodes[i];
  struct smart_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.size = sizeof(ev);
  while (smart__session_event(n->ss, &ev) == 1) {
    n->events++;
    if (ev.type == SMART_EVENT_GROUP_CHANGED)
      n->group_changes++;
    if (ev.type == SMART_EVENT_ERROR_REPORT && ev.code == SMART_ERROR_OVERFLOW) {
      n->overflow_reports++;
      if (ev.args[0] == 0)
        n->overflow_bad_args++;
    }
    if (s->c.on_event)
      s->c.on_event(s->c.user, s, i, &ev);
    memset(&ev, 0, sizeof(ev));
    ev.size = sizeof(ev);
  }
}

static void feed(struct ssim *s) {
  struct ssim_node *n = &s->nodes[0];
  while (s->submitted < s->c.messages && s->now >= s->next_submit) {
    ssim_fill(s->submitted, s->msg, s->c.msg_len);
    int rc = smart__session_submit(n->ss, s->msg, s->c.msg_len, s->now);
    if (rc == SMART_EAGAIN)
      break;
    if (rc < 0) {
      s->failed = 1;
      return;
    }
    s->submitted++;
    if (s->c.interval_ns)
      s->next_submit += s->c.interval_ns;
  }
  if (s->submitted < s->c.messages && !s->submit_pending) {
    /* next message due, or the queue was full: look again */
    uint64_t t = s->now >= s->next_submit ? s->now + SPIN_NS * 100 : s->next_submit;
    s->submit_pending = 1;
    push(s, t, EV_SUBMIT, 0, 0);
  }
}

static void reschedule(struct ssim *s, uint32_t i) {
  struct ssim_node *n = &s->nodes[i];
  uint64_t t = smart__session_expiry(n->ss);
  if (t == UINT64_MAX)
    return;
  if (t <= s->now)
    t = s->now + SPIN_NS;
  if (t < n->sched) {
    n->sched = t;
    push(s, t, EV_TIMER, i, 0);
  }
}

static void pump(struct ssim *s, uint32_t i) {
  struct ssim_node *n = &s->nodes[i];
  if (smart__session_tick(n->ss, s->now) != 0)
    s->failed = 1;
  commands(s, n);
  if (i == 0)
    feed(s);
  else if (i > s->c.receivers && s->c.extra_step)
    s->c.extra_step(s->c.user, s, i, s->now);
  deliveries(s, n);
  tx(s, i);
  events(s, i);
  reschedule(s, i);
}

void ssim_kick(struct ssim *s, uint32_t node) { pump(s, node); }

/* ---- input ----------------------------------------------------------------- */

static int group_open(const struct ssim_node *n, const struct smart__sockaddr *g) {
  return (n->ngroups_open[0] && smart__addr_equal(&n->groups[0], g)) ||
         (n->ngroups_open[1] && smart__addr_equal(&n->groups[1], g));
}

static void recv_one(struct ssim *s, uint32_t b, uint32_t pi) {
  struct pkt *p = &s->pk[pi];
  s->nodes[b].rx_dgrams++;
  smart__session_recv(s->nodes[b].ss, p->data, p->len, &s->nodes[p->from].addr, s->now);
}

static void arrive(struct ssim *s, uint32_t b, uint32_t pi) {
  struct ssim_node *n = &s->nodes[b];
  struct pkt *p = &s->pk[pi];
  if (p->mcast && !group_open(n, &p->to)) {
    n->closed_drops++;
    pkt_unref(s, pi);
    return;
  }
  if (p->mcast && n->service_ns) { /* into the group socket's buffer */
    if (n->q_bytes + p->len > n->buf_cap) {
      n->overflows++;
      pkt_unref(s, pi);
      return;
    }
    if (n->q_n == n->q_cap) {
      uint32_t ncap = n->q_cap ? n->q_cap * 2 : 256;
      uint32_t *q = malloc(ncap * sizeof(*q));
      if (!q)
        abort();
      for (uint32_t k = 0; k < n->q_n; k++)
        q[k] = n->q[(n->q_head + k) % n->q_cap];
      free(n->q);
      n->q = q;
      n->q_cap = ncap;
      n->q_head = 0;
    }
    n->q[(n->q_head + n->q_n++) % n->q_cap] = pi;
    n->q_bytes += p->len;
    if (n->q_bytes > n->max_fill)
      n->max_fill = n->q_bytes;
    if (!n->serving) {
      n->serving = 1;
      push(s, n->busy_until > s->now ? n->busy_until : s->now, EV_SERVICE, b, 0);
    }
    return;
  }
  if (p->mcast && !s->c.no_gauge)
    smart__session_rx_read(n->ss, p->len, s->now);
  recv_one(s, b, pi);
  pkt_unref(s, pi);
  pump(s, b);
}

/* A batch from a slow node's buffer (io.c's smart__io_rx and rx_gauge). */
static void service(struct ssim *s, uint32_t b) {
  struct ssim_node *n = &s->nodes[b];
  uint32_t got[BATCH], k = 0;
  uint64_t bytes = 0;
  while (k < BATCH && n->q_n) {
    got[k] = n->q[n->q_head];
    n->q_head = (n->q_head + 1) % n->q_cap;
    n->q_n--;
    bytes += s->pk[got[k]].len;
    k++;
  }
  n->q_bytes -= bytes;
  if (!s->c.no_gauge) {
    smart__session_rx_read(n->ss, bytes, s->now);
    if (k == BATCH && smart__session_rx_look_due(n->ss, s->now))
      smart__session_rx_fill(n->ss, (uint32_t)n->q_bytes, (uint32_t)n->buf_cap, s->now);
  }
  for (uint32_t j = 0; j < k; j++) {
    recv_one(s, b, got[j]);
    pkt_unref(s, got[j]);
  }
  pump(s, b);
  n->busy_until = s->now + k * n->service_ns;
  if (n->q_n)
    push(s, n->busy_until, EV_SERVICE, b, 0);
  else
    n->serving = 0;
}

/* ---- the run --------------------------------------------------------------- */

/* Every node's crypto provider draws its randomness (sender IDs, salts,
 * keys) from one PRNG seeded by the run's seed, so that two runs of one
 * seed are the same run: the IDs place datagrams in tables (source
 * authentication's hold slots), and real randomness there made runs
 * differ now and then. One simulation runs at a time; ssim_new reseeds. */
static struct smart__rng det_rng;

static int det_random(uint8_t *out, size_t len, void *user_data) {
  (void)user_data;
  for (size_t i = 0; i < len; i += 8) {
    uint64_t x = smart__rng_next(&det_rng);
    size_t k = len - i < 8 ? len - i : 8;
    memcpy(out + i, &x, k);
  }
  return 0;
}

static void det_provider(struct ssim_node *n) {
  if (!n->o.ops || !n->o.ops->random || n->o.ops->size > sizeof(n->det_ops))
    return;
  memset(&n->det_ops, 0, sizeof(n->det_ops));
  memcpy(&n->det_ops, n->o.ops, n->o.ops->size);
  n->det_ops.random = det_random;
  n->o.ops = &n->det_ops;
}

struct ssim *ssim_new(const struct ssim_config *c) {
  struct ssim *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  s->c = *c;
  smart__rng_seed(&s->rng, c->seed);
  s->now = T0;
  s->nn = 1 + c->receivers + c->extra;
  s->nodes = calloc(s->nn, sizeof(*s->nodes));
  s->buf = malloc(65536);
  s->msg = malloc(c->msg_len > 65536 ? c->msg_len : 65536);
  if (!s->nodes || !s->buf || !s->msg)
    abort();
  struct smart__sockaddr g0;
  ssim_group_addr(&g0, 0);
  for (uint32_t i = 0; i < s->nn; i++) {
    struct ssim_node *n = &s->nodes[i];
    node_addr(&n->addr, i);
    n->groups[0] = g0;
    n->ngroups_open[0] = 1;
    n->delay = i == 0 ? 0 : smart__rng_between(&s->rng, c->delay_min_ns, c->delay_max_ns + 1);
    n->sched = UINT64_MAX;
    n->expect_all = i >= 1 && i <= c->receivers;
    uint32_t dps = c->service_dps ? c->service_dps[i] : 0;
    if (dps) {
      n->service_ns = 1000000000u / dps;
      n->buf_cap = c->rcvbuf && c->rcvbuf[i] ? c->rcvbuf[i] : c->rcvbuf_default;
    }
    smart__opts_init(&n->o);
    n->o.eng.seed = ssim_rand(s);
    if (c->grtt_us)
      n->o.eng.grtt_us = c->grtt_us;
    if (i == 0)
      n->o.rate = c->rate;
    else
      n->o.eng.join_policy = SMART__JOIN_WINDOW; /* there from the start */
  }
  smart__addr_format(&s->nodes[0].addr, s->sender_text, sizeof(s->sender_text));
  smart__rng_seed(&det_rng, c->seed ^ 0x5EED5EED5EEDull);
  for (uint32_t i = 0; i < s->nn; i++) {
    struct ssim_node *n = &s->nodes[i];
    if (c->setup)
      c->setup(c->user, s, i, &n->o);
    det_provider(n);
    struct smart__session_addrs a = {.group = g0, .self = n->addr, .relay = NULL};
    if (smart__session_new(&n->ss, &n->o, &a, s->now) != 0) {
      ssim_free(s);
      return NULL;
    }
    n->sched = s->now;
    push(s, s->now, EV_TIMER, i, 0);
  }
  s->next_submit = T0 + c->start_ns;
  s->submit_pending = 1;
  push(s, s->next_submit, EV_SUBMIT, 0, 0);
  for (uint32_t k = 0; k < c->nat; k++)
    push(s, T0 + c->at[k], EV_AT, k, 0);
  return s;
}

void ssim_free(struct ssim *s) {
  if (!s)
    return;
  for (uint32_t i = 0; i < s->nn; i++) {
    smart__session_del(s->nodes[i].ss);
    smart__opts_free(&s->nodes[i].o);
    free(s->nodes[i].q);
  }
  for (uint32_t i = 0; i < s->npk; i++)
    free(s->pk[i].data);
  free(s->pk);
  free(s->pfree);
  free(s->heap);
  free(s->nodes);
  free(s->buf);
  free(s->msg);
  free(s);
}

int ssim_run(struct ssim *s) {
  for (uint32_t i = 0; i < s->nn; i++)
    if (s->nodes[i].expect_all)
      s->nexpect++;
  if (!s->nexpect)
    s->end_at = T0 + s->c.max_sim_ns;
  else
    s->end_at = UINT64_MAX;
  while (s->nheap && !s->failed) {
    if (s->heap[0].t > s->end_at || s->heap[0].t > T0 + s->c.max_sim_ns)
      break;
    struct hev e = pop(s);
    s->now = e.t;
    switch (e.type) {
    case EV_ARRIVE:
      arrive(s, e.node, e.pkt);
      break;
    case EV_TIMER:
      if (e.t != s->nodes[e.node].sched)
        break; /* stale */
      s->nodes[e.node].sched = UINT64_MAX;
      pump(s, e.node);
      break;
    case EV_SERVICE:
      service(s, e.node);
      break;
    case EV_SUBMIT:
      s->submit_pending = 0;
      pump(s, 0);
      break;
    case EV_AT:
      if (s->c.on_time)
        s->c.on_time(s->c.user, s, e.node, s->now);
      break;
    }
  }
  /* what is still in flight */
  while (s->nheap) {
    struct hev e = pop(s);
    if (e.type == EV_ARRIVE)
      pkt_unref(s, e.pkt);
  }
  for (uint32_t i = 0; i < s->nn; i++) {
    struct ssim_node *n = &s->nodes[i];
    while (n->q_n) {
      pkt_unref(s, n->q[n->q_head]);
      n->q_head = (n->q_head + 1) % n->q_cap;
      n->q_n--;
    }
  }
  return s->failed ? -1 : 0;
}

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + UINT64_C(0x9e3779b97f4a7c15) + (h << 6) + (h >> 2);
  return h;
}

void ssim_totals(const struct ssim *s, struct ssim_totals *t) {
  memset(t, 0, sizeof(*t));
  t->sim_ns = s->now - T0;
  t->done_ns = s->done_ns ? s->done_ns - T0 : 0;
  t->complete = s->nexpect && s->ndone == s->nexpect;
  t->datagrams = s->datagrams;
  t->deliveries = s->deliveries;
  uint64_t h = 0;
  for (uint32_t i = 0; i < s->nn; i++) {
    const struct ssim_node *n = &s->nodes[i];
    struct smart_stats st;
    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    smart__session_stats(n->ss, &st);
    t->delivered += n->delivered;
    t->dups += n->dups;
    t->errors += n->errors;
    t->foreign += n->foreign;
    t->loss_events += n->loss_events;
    t->overflows += n->overflows;
    t->closed_drops += n->closed_drops;
    t->group_changes += n->group_changes;
    t->overflow_reports += n->overflow_reports;
    t->events += n->events;
    t->tx_bytes += n->tx_bytes;
    t->naks_sent += st.naks_sent;
    t->repairs_sent += st.repairs_sent;
    t->drops_auth += st.drops_auth;
    t->joins_refused += st.joins_refused;
    t->manifests_sent += st.manifests_sent;
    t->manifests_verified += st.manifests_verified;
    t->drops_unsigned += st.drops_unsigned;
    t->rekeys += st.rekeys;
    const uint64_t v[] = {n->delivered, n->next_msg, n->overflows, n->tx_dgrams, n->tx_bytes,
                          n->rx_dgrams, n->last_deliver_ns, n->events, st.naks_sent,
                          st.repairs_sent, st.drops_auth, st.losses_recovered,
                          st.drops_duplicate, st.manifests_verified};
    for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
      h = mix(h, v[k]);
  }
  t->digest = h;
}

uint64_t ssim_now(const struct ssim *s) { return s->now; }
uint32_t ssim_nodes(const struct ssim *s) { return s->nn; }
struct ssim_node *ssim_node(struct ssim *s, uint32_t node) { return &s->nodes[node]; }
uint64_t ssim_submitted(const struct ssim *s) { return s->submitted; }

void ssim_unexpect(struct ssim *s, uint32_t i) {
  struct ssim_node *n = &s->nodes[i];
  if (n->expect_all != 1)
    return; /* not expected, or done already */
  n->expect_all = 0;
  if (--s->nexpect && s->ndone == s->nexpect) {
    s->done_ns = s->now;
    s->end_at = s->now + s->c.tail_ns;
  }
}
