/* The peer table. See peers.h. */
#include "proto/peers.h"

#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

static void peer_init(struct smart__peer *p, uint32_t id, const struct smart__sockaddr *a,
                      uint32_t sid, uint64_t now) {
  memset(p, 0, sizeof(*p));
  p->addr = *a;
  p->last_heard = now;
  p->sid = sid;
  p->id = id;
  smart__ratelim_init(&p->naks, SMART__NAK_RATE, SMART__NAK_BURST, now);
}

/* A full table never locks out a sender: the newcomer takes the slot of
 * the peer heard longest ago among those that never sent data (junk from
 * made-up ports, requesters, reporters), keeping its id. Only data senders
 * have state in the engine's receive role under their id: one of them
 * gives its slot only after SMART__PEER_IDLE of silence (made-up data
 * senders of a member fill the table for a minute at most), and the caller
 * drops its engine state (t->forgot). 0 when every slot holds a data
 * sender heard within that time. */
static uint32_t evict(struct smart__peers *t, const struct smart__sockaddr *a, uint32_t sid,
                      uint64_t now) {
  struct smart__peer *victim = NULL, *idle = NULL;
  for (uint32_t i = 0; i < t->n; i++) {
    struct smart__peer *p = &t->v[i];
    if (!p->data && (!victim || p->last_heard < victim->last_heard))
      victim = p;
    if (p->data && (!idle || p->last_heard < idle->last_heard))
      idle = p;
  }
  if (!victim && idle && now - idle->last_heard >= SMART__PEER_IDLE) {
    victim = idle;
    t->forgot = idle->id;
  }
  if (!victim)
    return 0;
  peer_init(victim, victim->id, a, sid, now);
  t->gen++;
  t->evicted++;
  t->last = victim->id - 1;
  return victim->id;
}

uint32_t smart__peers_id(struct smart__peers *t, const struct smart__sockaddr *a, uint32_t sid,
                         uint64_t now) {
  /* Most datagrams come from the peer the previous one came from (a
   * receiver hears one sender): try it first, then scan. */
  for (uint32_t k = 0; k < t->n; k++) {
    uint32_t i = k == 0 ? t->last : k - 1 + (k - 1 >= t->last);
    if (i >= t->n)
      continue;
    struct smart__peer *p = &t->v[i];
    if (sid ? p->sid == sid : smart__addr_equal(&p->addr, a)) {
      p->last_heard = now;
      if (sid && !smart__addr_equal(&p->addr, a)) { /* it moved (secure mode) */
        p->addr = *a;
        t->gen++;
      }
      t->last = i;
      return p->id;
    }
  }
  if (t->n >= SMART__PEER_MAX)
    return evict(t, a, sid, now);
  void *v = t->v;
  if (smart__mem_grow(smart__mem_libc(), &v, &t->cap, t->n + 1, sizeof(*t->v)) != 0)
    return 0;
  t->v = v;
  t->gen++; /* the table may have moved */
  peer_init(&t->v[t->n], t->n + 1, a, sid, now);
  t->last = t->n;
  return ++t->n;
}

struct smart__peer *smart__peers_get(struct smart__peers *t, uint32_t id) {
  return id && id <= t->n ? &t->v[id - 1] : NULL;
}

uint32_t smart__peers_by_sid(const struct smart__peers *t, uint32_t sid) {
  for (uint32_t i = 0; i < t->n; i++)
    if (t->v[i].sid == sid)
      return t->v[i].id;
  return 0;
}

const char *smart__peers_text_find(struct smart__peers *t, uint32_t id) {
  static const char none[SMART__PEER_TEXT]; /* "" padded, as every answer is */
  struct smart__peer *p = smart__peers_get(t, id);
  if (!p)
    return none;
  if (!p->text[0] || !smart__addr_equal(&p->text_of, &p->addr)) {
    memset(p->text, 0, sizeof(p->text));
    smart__addr_format(&p->addr, p->text, sizeof(p->text));
    p->text_of = p->addr;
  }
  t->text_id = id;
  t->text_gen = t->gen;
  return p->text;
}

int smart__peers_nak_allowed(struct smart__peers *t, uint32_t id, uint64_t now) {
  struct smart__peer *p = smart__peers_get(t, id);
  return p && smart__ratelim_take(&p->naks, 1, now);
}

void smart__peers_free(struct smart__peers *t) {
  free(t->v);
  memset(t, 0, sizeof(*t));
}
