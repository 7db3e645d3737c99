/*
 * Sender role: the repair budget, how much requests may make the sender
 * send again (smart-security(7) "Amplification"; smart-protocol(7)
 * "Repair budget").
 *
 * One REPLACEMENT names up to 2^16 sequences, and requests are multicast
 * by anyone who can send to the group (in a secure session, by any member,
 * under any sender ID it makes up): one 20-byte request asks for the whole
 * window, and the same request every GRTT asked for it again and again.
 * Every repair is therefore paid for, at the time it is queued, by two
 * accounts of bytes: the requester's (the first to ask pays; requests
 * merged into a pending repair cost nothing) and one that all requesters
 * share, as 29West (Ultra Messaging) caps all of a source's
 * retransmissions with one rate, so that one lossy or lying receiver
 * cannot set off a storm.
 *
 * What a genuine receiver may need sets the sizes. H is what the sender
 * holds, the bytes of its datagrams from trail to lead: a receiver cut off
 * for a while may have lost all of it at once. A receiver that lost a
 * share p of the data asks for that share of the new data, then again for
 * the share p of those repairs it lost in turn, and so on; it never asks
 * for the same sequence again sooner than its hold of 3 GRTT after the
 * repair. So an account
 *   - holds at most its cap: H for a requester, 2 H for all of them
 *     (a new requester starts full);
 *   - earns a multiple of the original data sent: twice for a requester
 *     (it may have lost all of it and half of the repairs), eight times for
 *     all of them (the simulator's harshest groups, 1,000 receivers losing
 *     20% and 20 losing 50%, repair 4.2 and 4.7 times the data);
 *   - earns back half of what it spent, 3 GRTT after it spent it (a
 *     receiver asks again for what it lost of its repairs, at most half of
 *     them), and H / 16 a second whatever happens (so that a sender whose
 *     window is blocked by a lossy receiver never stops repairing).
 * Spending S then earns at most S / 2 back, so S <= 2 (cap + earned): a
 * requester asking for the whole window again and again gets it repaired
 * twice in all, then H / 8 a second (H / 16 and half of that again); all
 * requesters together, however many sender IDs or addresses they use,
 * 4 H, then sixteen times the new data and H / 8 a second. A sequence
 * refused is neither repaired nor confirmed: the receiver asks again after
 * its hold.
 */
#include "engine_int.h"

#include <string.h>

#define RB_MAX 1024u      /* requesters tracked; beyond, the least recent goes */
#define RB_EARN_ONE 2u    /* a requester earns twice the new data ... */
#define RB_EARN_ALL 8u    /* ... all of them eight times */
#define RB_FLOOR_DIV 16u  /* and every account H / 16 a second */

struct smart__rb_acct {
  uint64_t credit; /* bytes it may still spend */
  uint64_t spent;  /* bytes spent in the current cycle */
  uint64_t cycle;  /* start of the current cycle */
  uint64_t orig;   /* the sender's original bytes when last brought up to date */
  uint64_t at;     /* when its time share was last added */
};

struct smart__rb_req {
  uint32_t src;
  uint64_t used; /* last request, for replacement */
  struct smart__rb_acct a;
};

struct smart__rbudget {
  uint64_t orig;     /* original data bytes sent */
  uint64_t held;     /* bytes of the datagrams in [trail, lead) ... */
  uint64_t trail;    /* ... as of this trail */
  struct smart__rb_acct all;
  uint8_t all_on; /* `all` started */
  struct smart__rb_req *v;
  uint32_t n, cap, last;
};

/* The budget, its count of the held bytes brought up to the sender's
 * trail: what was released since leaves it. This runs at every request and
 * before every new datagram takes its slot, the only moment a released
 * slot is reused, so the lengths read are still those released. */
static struct smart__rbudget *rb_get(struct smart__engine *e) {
  struct smart__tx *tx = e->tx;
  struct smart__rbudget *b = e->rb;
  if (!b) {
    if (!(b = e->rb = smart__zalloc(e, sizeof(*e->rb))))
      return NULL;
    for (uint64_t s = b->trail = tx->trail; s < tx->lead; s++)
      b->held += tx->slots[s & (tx->cap - 1)].len;
  }
  for (; b->trail < tx->trail; b->trail++)
    b->held -= tx->slots[b->trail & (tx->cap - 1)].len;
  return b;
}

void smart__rb_free(struct smart__engine *e) {
  if (!e->rb)
    return;
  smart__free(e, e->rb->v);
  smart__free(e, e->rb);
  e->rb = NULL;
}

void smart__rb_sent(struct smart__engine *e, size_t len) {
  struct smart__rbudget *b = rb_get(e);
  if (!b)
    return;
  b->orig += len;
  b->held += len;
}

/* H: what the sender holds, in bytes (at least one datagram). */
static uint64_t held(const struct smart__engine *e, const struct smart__rbudget *b) {
  return b->held > e->cfg.max_dgram ? b->held : e->cfg.max_dgram;
}

static void acct_start(struct smart__rb_acct *a, const struct smart__rbudget *b, uint64_t cap,
                       uint64_t now) {
  a->credit = cap;
  a->spent = 0;
  a->cycle = a->at = now;
  a->orig = b->orig;
}

/* Bring an account up to `now`: what it earned since, within its cap. */
static void acct_earn(struct smart__rb_acct *a, const struct smart__rbudget *b, uint64_t mult,
                      uint64_t h, uint64_t cap, uint64_t cycle, uint64_t now) {
  if (now - a->cycle >= cycle) { /* half of a cycle's spending comes back */
    a->credit += a->spent / 2;
    a->spent = 0;
    a->cycle = now;
  }
  a->credit += mult * (b->orig - a->orig);
  a->orig = b->orig;
  uint64_t dt = now - a->at;
  if (dt > SMART__SEC(RB_FLOOR_DIV))
    dt = SMART__SEC(RB_FLOOR_DIV); /* at most H at once from the time share */
  uint64_t share = (uint64_t)((double)h * (double)dt / ((double)RB_FLOOR_DIV * 1e9));
  if (share) { /* else the time keeps counting */
    a->credit += share;
    a->at = now;
  }
  if (a->credit > cap)
    a->credit = cap;
}

static struct smart__rb_req *req_get(struct smart__engine *e, struct smart__rbudget *b,
                                     uint32_t src, uint64_t h, uint64_t now) {
  if (b->last < b->n && b->v[b->last].src == src)
    return &b->v[b->last];
  for (uint32_t i = 0; i < b->n; i++)
    if (b->v[i].src == src) {
      b->last = i;
      return &b->v[i];
    }
  uint32_t i = b->n;
  if (b->n >= RB_MAX) { /* the one heard from longest ago gives way */
    i = 0;
    for (uint32_t k = 1; k < b->n; k++)
      if (b->v[k].used < b->v[i].used)
        i = k;
  } else if (smart__grow(e, (void **)&b->v, &b->cap, b->n + 1, sizeof(*b->v)) != 0) {
    return NULL;
  } else {
    b->n++;
  }
  struct smart__rb_req *r = &b->v[i];
  r->src = src;
  acct_start(&r->a, b, h, now); /* it may have lost all that is held */
  b->last = i;
  return r;
}

int smart__rb_take(struct smart__engine *e, uint32_t src, uint32_t bytes, uint64_t now) {
  struct smart__rbudget *b = rb_get(e);
  if (!b)
    return 0; /* no memory: no repair (the receiver asks again) */
  uint64_t h = held(e, b);
  uint64_t cycle = SMART__HOLD_GRTT * e->grtt_ns;
  if (cycle < SMART__MS(1))
    cycle = SMART__MS(1);
  if (!b->all_on) {
    acct_start(&b->all, b, 2 * h, now);
    b->all_on = 1;
  }
  acct_earn(&b->all, b, RB_EARN_ALL, h, 2 * h, cycle, now);
  struct smart__rb_req *r = req_get(e, b, src, h, now);
  if (!r)
    return 0;
  r->used = now;
  acct_earn(&r->a, b, RB_EARN_ONE, h, h, cycle, now);
  if (r->a.credit < bytes || b->all.credit < bytes)
    return 0;
  r->a.credit -= bytes;
  r->a.spent += bytes;
  b->all.credit -= bytes;
  b->all.spent += bytes;
  return 1;
}
