/*
 * Engine events and the delivery arena: what smart__engine_poll() hands
 * out. Messages are copied into one arena that is reset when the queue
 * runs empty, unless they lie in the buffer the caller lent (then they are
 * handed out from there until unlend moves them); reassembled messages
 * keep their own buffer, freed at the next engine call after poll (the
 * contract in engine.h).
 */
#include "engine_int.h"

#include <string.h>

void smart__evq_begin(struct smart__engine *e) {
  for (uint32_t i = 0; i < e->nretired; i++)
    smart__free(e, e->retired[i]);
  e->nretired = 0;
  if (e->evn == 0) {
    e->arena_len = 0;
    e->evhead = 0; /* keep reusing the same (cached) entries */
  }
}

void smart__evq_free(struct smart__engine *e) {
  for (uint32_t i = 0; i < e->evn; i++)
    smart__free(e, e->ev[(e->evhead + i) & (e->evcap - 1)].owned);
  if (e->ev != e->ev_inline)
    smart__free(e, e->ev);
  if (e->arena != e->arena_inline)
    smart__free(e, e->arena);
  for (uint32_t i = 0; i < e->nretired; i++)
    smart__free(e, e->retired[i]);
  smart__free(e, e->retired);
}

/* A new event at the tail of the queue. */
static struct smart__ev_int *ev_push(struct smart__engine *e, uint32_t type,
                                     uint32_t src, uint64_t seq,
                                     uint64_t count) {
  if (e->evn == e->evcap &&
      smart__mem_ring_grow(&e->mem, (void **)&e->ev, &e->evcap, &e->evhead,
                           e->evn, sizeof(*e->ev), 64, e->ev_inline))
    return NULL;
  struct smart__ev_int *ev = &e->ev[(e->evhead + e->evn) & (e->evcap - 1)];
  e->evn++;
  memset(ev, 0, sizeof(*ev));
  ev->type = type;
  ev->src_id = src;
  ev->seq = seq;
  ev->count = count;
  return ev;
}

struct smart__ev_int *smart__ev_push(struct smart__engine *e, uint32_t type, uint32_t src,
                                     uint64_t seq, uint64_t count) {
  return ev_push(e, type, src, seq, count);
}

static struct smart__ev_int *ev_last(struct smart__engine *e) {
  if (!e->evn)
    return NULL;
  return &e->ev[(e->evhead + e->evn - 1) & (e->evcap - 1)];
}

/* Room for `len` more bytes in the arena (the first bytes live inside the
 * engine; past them it moves to an allocation that doubles). */
static int arena_room(struct smart__engine *e, size_t len) {
  if (e->arena_cap - e->arena_len >= len)
    return 0;
  uint64_t ncap = e->arena_cap * 2;
  while (ncap - e->arena_len < len)
    ncap *= 2;
  uint8_t *a;
  if (e->arena == e->arena_inline) {
    a = smart__alloc(e, (size_t)ncap);
    if (a)
      memcpy(a, e->arena, (size_t)e->arena_len);
  } else {
    a = smart__realloc(e, e->arena, (size_t)ncap);
  }
  if (!a)
    return SMART_ENOMEM;
  e->arena = a;
  e->arena_cap = ncap;
  return 0;
}

/* A message event of `len` bytes: its data in the arena at `off`, or in
 * `owned`. */
static int ev_msg(struct smart__engine *e, uint32_t src, uint64_t seq,
                  uint64_t off, uint8_t *owned, size_t len) {
  struct smart__ev_int *ev = ev_push(e, SMART__EV_MSG, src, seq, 1);
  if (!ev)
    return SMART_ENOMEM;
  ev->off = off;
  ev->owned = owned;
  ev->len = len;
  e->msgs_received++;
  e->bytes_received += len;
  return 0;
}

int smart__ev_msg(struct smart__engine *e, uint32_t src, uint64_t seq,
                  const uint8_t *p, size_t len) {
  uintptr_t a = (uintptr_t)p;
  if (len && a >= e->lend_lo && a < e->lend_hi && len <= e->lend_hi - a) {
    int rc = ev_msg(e, src, seq, 0, NULL, len);
    if (rc)
      return rc;
    ev_last(e)->lent = p;
    e->nlent++;
    return 0;
  }
  if (arena_room(e, len))
    return SMART_ENOMEM;
  int rc = ev_msg(e, src, seq, e->arena_len, NULL, len);
  if (rc)
    return rc;
  if (len)
    memcpy(e->arena + e->arena_len, p, len);
  e->arena_len += len;
  return 0;
}

int smart__ev_msg_owned(struct smart__engine *e, uint32_t src, uint64_t seq,
                        uint8_t *buf, size_t len) {
  int rc = ev_msg(e, src, seq, 0, buf, len);
  if (rc)
    smart__free(e, buf);
  return rc;
}

int smart__ev_loss(struct smart__engine *e, uint32_t src, uint64_t seq,
                   uint64_t count) {
  e->st.losses_unrecoverable += count;
  struct smart__ev_int *l = ev_last(e);
  /* Adjacent losses of one sender become one range. */
  if (l && l->type == SMART__EV_LOSS && l->src_id == src &&
      l->seq + l->count == seq) {
    l->count += count;
    return 0;
  }
  return ev_push(e, SMART__EV_LOSS, src, seq, count) ? 0 : SMART_ENOMEM;
}

int smart__ev_new_sender(struct smart__engine *e, uint32_t src,
                         uint32_t session) {
  struct smart__ev_int *ev = ev_push(e, SMART__EV_NEW_SENDER, src, 0, 0);
  if (!ev)
    return SMART_ENOMEM;
  ev->session = session;
  return 0;
}

int smart__evq_unlend(struct smart__engine *e) {
  int rc = 0;
  for (uint32_t i = 0; i < e->evn && e->nlent; i++) {
    struct smart__ev_int *ev = &e->ev[(e->evhead + i) & (e->evcap - 1)];
    if (!ev->lent)
      continue;
    e->nlent--;
    if (arena_room(e, ev->len) == 0) {
      memcpy(e->arena + e->arena_len, ev->lent, ev->len);
      ev->off = e->arena_len;
      e->arena_len += ev->len;
    } else { /* not kept: reported, never silently gone */
      ev->type = SMART__EV_LOSS;
      ev->count = 1;
      e->msgs_received--;
      e->bytes_received -= ev->len;
      ev->len = 0;
      e->st.losses_unrecoverable++;
      rc = SMART_ENOMEM;
    }
    ev->lent = NULL;
  }
  e->nlent = 0;
  return rc;
}

/* A reassembled buffer handed out: kept until the next engine call. */
static int retire(struct smart__engine *e, uint8_t *buf) {
  if (smart__grow(e, (void **)&e->retired, &e->retiredcap, e->nretired + 1,
                  sizeof(*e->retired)))
    return SMART_ENOMEM;
  e->retired[e->nretired++] = buf;
  return 0;
}

int smart__engine_poll(struct smart__engine *e, struct smart__event *out) {
  if (!e || !out || !e->evn)
    return 0;
  struct smart__ev_int *ev = &e->ev[e->evhead];
  e->evhead = (e->evhead + 1) & (e->evcap - 1);
  e->evn--;
  out->type = ev->type;
  out->src_id = ev->src_id;
  out->seq = ev->seq;
  out->count = ev->count;
  out->session = ev->session;
  out->len = ev->len;
  out->data = NULL;
  if (ev->type != SMART__EV_MSG)
    return 1;
  if (ev->lent) {
    out->data = ev->lent;
    e->nlent--;
  } else if (!ev->owned) {
    out->data = e->arena + ev->off;
  } else if (retire(e, ev->owned) == 0) {
    out->data = ev->owned; /* freed at the next engine call */
  } else {
    /* Out of memory: the data cannot be handed out safely. */
    smart__free(e, ev->owned);
    out->len = 0;
  }
  return 1;
}
