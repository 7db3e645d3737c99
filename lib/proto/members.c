/* Membership, accounting, error and problem reports. See members.h. */
#include "members.h"

#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"
#include "util/mem.h"
#include "util/ratelim.h"
#include "util/rng.h"
#include "util/time.h"
#include "wire/wire.h"

#define EXT_STATS 0x000Au /* received | recovered | lost | interval ms (4 x 32) */
#define STATS_LEN 16u
#define MAX_MEMBERS 65536u
#define EVQ 256u
#define REPORTS_PER_S 10u /* per member, at the sender */
#define REPORT_BUDGET 3u  /* a receiver's error or problem reports: burst, then 1/s */
#define NS_PER_MS SMART__NS_PER_MS
#define NS_PER_S SMART__NS_PER_S

struct member {
  uint64_t id;
  char addr[48];
  uint64_t since, last;
  uint64_t reports, received, recovered, lost;
  uint64_t interval_ns;
  struct smart__ratelim reports_rl; /* REPORTS_PER_S reports per second */
};

struct pending_report {
  uint8_t error; /* 1 ERROR_REPORT, 0 PROBLEM_REPORT */
  uint32_t code, a1, a2;
};

struct smart__members {
  uint64_t base_ns, timeout_ns;
  struct smart__rng rng;
  /* receiver */
  int heard;
  uint32_t gsize;
  uint64_t next_report, interval_ns;
  int joined_sent, left;
  struct pending_report q[8];
  unsigned nq;
  struct smart__ratelim budget[2]; /* error, problem reports */
  /* sender */
  struct member *mem;
  uint32_t nmem, cap;
  struct smart_event ev[EVQ];
  unsigned ev_head, ev_n;
  uint64_t limited;
};

/* uniform in [lo, hi) */
static uint64_t between(struct smart__members *m, uint64_t lo, uint64_t hi) {
  return smart__rng_between(&m->rng, lo, hi);
}

int smart__members_new(struct smart__members **out, uint64_t report_ns, uint64_t timeout_ns,
                       uint64_t seed) {
  struct smart__members *m = calloc(1, sizeof(*m));
  if (!m)
    return SMART_ENOMEM;
  m->base_ns = report_ns;
  m->timeout_ns = timeout_ns;
  smart__rng_seed(&m->rng, seed);
  smart__ratelim_init(&m->budget[0], 1, REPORT_BUDGET, 0);
  smart__ratelim_init(&m->budget[1], 1, REPORT_BUDGET, 0);
  *out = m;
  return 0;
}

void smart__members_del(struct smart__members *m) {
  if (!m)
    return;
  free(m->mem);
  free(m);
}

/* ---- receiver --------------------------------------------------------- */

static uint64_t interval(const struct smart__members *m) {
  /* The whole group sends about 100 reports per second. */
  uint64_t t = (uint64_t)m->gsize * NS_PER_S / 100u;
  return t > m->base_ns ? t : m->base_ns;
}

void smart__members_heard(struct smart__members *m, uint32_t gsize, uint64_t now) {
  if (gsize)
    m->gsize = gsize;
  if (m->heard)
    return;
  m->heard = 1;
  m->interval_ns = interval(m);
  m->next_report = now + between(m, 0, m->interval_ns / 2 + 1);
}

int smart__members_report(struct smart__members *m, unsigned kind_error, uint32_t code,
                          uint32_t a1, uint32_t a2, uint64_t now) {
  unsigned k = kind_error ? 0 : 1;
  /* One per second, burst of 3. */
  if (m->nq == 8 || !smart__ratelim_take(&m->budget[k], 1, now))
    return SMART_EAGAIN;
  m->q[m->nq++] = (struct pending_report){(uint8_t)kind_error, code, a1, a2};
  return 0;
}

int smart__members_pressure(struct smart__members *m, uint32_t kib_s, uint32_t permille) {
  for (unsigned i = 0; i < m->nq; i++) { /* one waiting already: bring it up to date */
    if (m->q[i].error && m->q[i].code == SMART_ERROR_OVERFLOW) {
      m->q[i].a1 = kib_s;
      m->q[i].a2 = permille;
      return 0;
    }
  }
  if (m->nq == 8)
    return SMART_EAGAIN;
  memmove(m->q + 1, m->q, m->nq * sizeof(m->q[0])); /* first in line */
  m->q[0] = (struct pending_report){1, SMART_ERROR_OVERFLOW, kib_s, permille};
  m->nq++;
  return 0;
}

smart_ssize smart__members_output(struct smart__members *m, uint8_t *buf, size_t cap,
                                  uint8_t sync, uint32_t self_v4, uint32_t group_v4,
                                  const struct smart__rx_counts *c, int leaving, uint64_t now) {
  if (cap < 64)
    return 0;
  if (m->nq) {
    struct pending_report r = m->q[0];
    memmove(m->q, m->q + 1, (--m->nq) * sizeof(m->q[0]));
    buf[0] = sync;
    buf[1] = (uint8_t)(SMART__TYP_MSG << 6 |
                       (r.error ? SMART__MSG_ERROR_REPORT : SMART__MSG_PROBLEM_REPORT));
    smart__put16(buf + 2, SMART__REPORT_MSG_LEN);
    smart__put32(buf + 4, self_v4);
    smart__put32(buf + 8, group_v4);
    smart__put32(buf + 12, r.code);
    smart__put32(buf + 16, r.a1);
    smart__put32(buf + 20, r.a2);
    return SMART__REPORT_MSG_LEN;
  }
  if (!m->heard || m->left)
    return 0;
  if (!leaving && now < m->next_report)
    return 0;
  m->interval_ns = interval(m);
  m->next_report = now + between(m, m->interval_ns / 2, m->interval_ns * 3 / 2 + 1);
  if (leaving)
    m->left = 1;
  buf[0] = sync;
  buf[1] = (uint8_t)(SMART__TYP_MSG << 6 |
                     (leaving ? SMART__MSG_USAGE_LEAVE : SMART__MSG_USAGE_JOIN));
  size_t len = SMART__ADDR_MSG_LEN + SMART__EXT_HDR_LEN + STATS_LEN;
  smart__put16(buf + 2, (uint16_t)len);
  smart__put32(buf + 4, self_v4);
  smart__put32(buf + 8, group_v4);
  uint8_t *e = buf + SMART__ADDR_MSG_LEN;
  smart__put16(e, EXT_STATS);
  smart__put16(e + 2, STATS_LEN);
  smart__put32(e + 4, (uint32_t)c->received);
  smart__put32(e + 8, (uint32_t)c->recovered);
  smart__put32(e + 12, (uint32_t)c->lost);
  smart__put32(e + 16, (uint32_t)(m->interval_ns / NS_PER_MS));
  m->joined_sent = 1;
  return (smart_ssize)len;
}

/* ---- sender ----------------------------------------------------------- */

void smart__members_push(struct smart__members *m, const struct smart_event *ev) {
  if (m->ev_n == EVQ) { /* full: the oldest is lost */
    m->ev_head = (m->ev_head + 1) % EVQ;
    m->ev_n--;
  }
  m->ev[(m->ev_head + m->ev_n++) % EVQ] = *ev;
}

static void push_member_event(struct smart__members *m, uint32_t type, uint32_t flags,
                              const struct member *x, uint32_t code, uint32_t a1, uint32_t a2) {
  struct smart_event e;
  memset(&e, 0, sizeof(e));
  e.size = sizeof(e);
  e.type = type;
  e.flags = flags;
  e.code = code;
  e.args[0] = a1;
  e.args[1] = a2;
  e.member_id = x->id;
  memcpy(e.member, x->addr, sizeof(e.member));
  smart__members_push(m, &e);
}

static struct member *find(struct smart__members *m, uint64_t id) {
  for (uint32_t i = 0; i < m->nmem; i++)
    if (m->mem[i].id == id)
      return &m->mem[i];
  return NULL;
}

static void remove_member(struct smart__members *m, struct member *x) {
  *x = m->mem[--m->nmem];
}

int smart__members_input(struct smart__members *m, uint64_t id, const char *addr,
                         const uint8_t *dg, size_t len, uint64_t now) {
  if (len < 2 || dg[1] >> 6 != SMART__TYP_MSG)
    return 0;
  unsigned cmd = dg[1] & 0x3F;
  if (cmd != SMART__MSG_USAGE_JOIN && cmd != SMART__MSG_USAGE_LEAVE &&
      cmd != SMART__MSG_ERROR_REPORT && cmd != SMART__MSG_PROBLEM_REPORT)
    return 0;
  struct smart__pkt p;
  if (smart__pkt_decode(&p, dg, len) != 0)
    return 0; /* malformed: the engine drops and counts it */
  struct member *x = find(m, id);
  if (x) { /* at most REPORTS_PER_S reports per member and second */
    if (!smart__ratelim_take(&x->reports_rl, 1, now)) {
      m->limited++;
      return 1;
    }
  }
  if (p.kind == SMART__K_ERROR_REPORT || p.kind == SMART__K_PROBLEM_REPORT) {
    struct member anon;
    if (!x) {
      memset(&anon, 0, sizeof(anon));
      anon.id = id;
      strncpy(anon.addr, addr, sizeof(anon.addr) - 1);
    }
    push_member_event(m,
                      p.kind == SMART__K_ERROR_REPORT ? SMART_EVENT_ERROR_REPORT
                                                      : SMART_EVENT_PROBLEM_REPORT,
                      0, x ? x : &anon, p.u.report.data[0], p.u.report.data[1],
                      p.u.report.data[2]);
    return 1;
  }
  const uint8_t *v;
  size_t vl;
  uint32_t rcv = 0, rec = 0, lost = 0, ivl = 0;
  if (smart__ext_find(p.ext, p.ext_len, EXT_STATS, &v, &vl) && vl == STATS_LEN) {
    rcv = smart__get32(v);
    rec = smart__get32(v + 4);
    lost = smart__get32(v + 8);
    ivl = smart__get32(v + 12);
  }
  if (p.kind == SMART__K_USAGE_LEAVE) {
    if (x) {
      x->received = rcv, x->recovered = rec, x->lost = lost;
      push_member_event(m, SMART_EVENT_LEAVE, 0, x, 0, 0, 0);
      remove_member(m, x);
    }
    return 1;
  }
  if (!x) {
    if (m->nmem >= MAX_MEMBERS) {
      m->limited++;
      return 1;
    }
    void *grown = m->mem;
    if (smart__mem_grow(smart__mem_libc(), &grown, &m->cap, m->nmem + 1, sizeof(*m->mem)) != 0)
      return 1;
    m->mem = grown;
    x = &m->mem[m->nmem++];
    memset(x, 0, sizeof(*x));
    x->id = id;
    x->since = now;
    smart__ratelim_init(&x->reports_rl, REPORTS_PER_S, REPORTS_PER_S, now);
    (void)smart__ratelim_take(&x->reports_rl, 1, now);
    strncpy(x->addr, addr, sizeof(x->addr) - 1);
    push_member_event(m, SMART_EVENT_JOIN, 0, x, 0, 0, 0);
  }
  strncpy(x->addr, addr, sizeof(x->addr) - 1);
  x->last = now;
  x->reports++;
  x->received = rcv, x->recovered = rec, x->lost = lost;
  x->interval_ns = (uint64_t)ivl * NS_PER_MS;
  return 1;
}

static uint64_t member_timeout(const struct smart__members *m, const struct member *x) {
  uint64_t t = x->interval_ns * 7 / 2; /* 3.5 intervals */
  return t > m->timeout_ns ? t : m->timeout_ns;
}

void smart__members_expire(struct smart__members *m, uint64_t now) {
  for (uint32_t i = 0; i < m->nmem;) {
    struct member *x = &m->mem[i];
    if (now - x->last > member_timeout(m, x)) {
      push_member_event(m, SMART_EVENT_LEAVE, SMART_EVENT_TIMEOUT, x, 0, 0, 0);
      remove_member(m, x);
    } else {
      i++;
    }
  }
}

int smart__members_event(struct smart__members *m, struct smart_event *ev) {
  if (!m->ev_n)
    return 0;
  *ev = m->ev[m->ev_head];
  m->ev_head = (m->ev_head + 1) % EVQ;
  m->ev_n--;
  return 1;
}

void smart__members_list_one(const struct smart__members *m, size_t i, struct smart_member *v,
                             uint64_t now) {
  const struct member *x = &m->mem[i];
  memset(v, 0, sizeof(*v));
  v->size = sizeof(*v);
  v->member_id = x->id;
  memcpy(v->addr, x->addr, sizeof(v->addr));
  v->since_ms = (now - x->since) / NS_PER_MS;
  v->last_report_ms = (now - x->last) / NS_PER_MS;
  v->reports = x->reports;
  v->received = x->received;
  v->recovered = x->recovered;
  v->lost = x->lost;
}

size_t smart__members_list(const struct smart__members *m, struct smart_member *out, size_t max,
                           uint64_t now) {
  for (size_t i = 0; i < m->nmem && i < max; i++)
    smart__members_list_one(m, i, &out[i], now);
  return m->nmem;
}

uint64_t smart__members_expiry(const struct smart__members *m) {
  uint64_t t = UINT64_MAX;
  if (m->nq)
    return 0;
  if (m->heard && !m->left)
    t = m->next_report;
  for (uint32_t i = 0; i < m->nmem; i++) {
    uint64_t e = m->mem[i].last + member_timeout(m, &m->mem[i]) + 1;
    if (e < t)
      t = e;
  }
  return t;
}

uint64_t smart__members_limited(const struct smart__members *m) { return m->limited; }

int smart__members_due(const struct smart__members *m, int leaving, uint64_t now) {
  return m->nq || (m->heard && !m->left && (leaving || now >= m->next_report));
}
