/* The peer table. See peers.h. */
#include "proto/peers.h"

#include <stdlib.h>
#include <string.h>

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
      if (sid && !smart__addr_equal(&p->addr, a)) /* it moved (secure mode) */
        p->addr = *a;
      t->last = i;
      return p->id;
    }
  }
  if (t->n >= SMART__PEER_MAX)
    return 0;
  if ((t->n & (t->n - 1)) == 0) { /* 0, 1, 2, 4...: full at a power of two */
    uint32_t cap = t->n ? t->n * 2 : 8;
    struct smart__peer *np = t->n < 8 && t->v ? t->v : realloc(t->v, cap * sizeof(*np));
    if (!np)
      return 0;
    t->v = np;
  }
  struct smart__peer *p = &t->v[t->n];
  memset(p, 0, sizeof(*p));
  p->addr = *a;
  p->last_heard = now;
  p->sid = sid;
  p->id = t->n + 1;
  smart__ratelim_init(&p->naks, SMART__NAK_RATE, SMART__NAK_BURST, now);
  t->n++;
  return p->id;
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

const char *smart__peers_text(struct smart__peers *t, uint32_t id) {
  struct smart__peer *p = smart__peers_get(t, id);
  if (!p)
    return "";
  if (!p->text[0] || !smart__addr_equal(&p->text_of, &p->addr)) {
    smart__addr_format(&p->addr, p->text, sizeof(p->text));
    p->text_of = p->addr;
  }
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
