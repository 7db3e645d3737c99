/* Source authentication by signed manifests. See sauth.h. */
#include "sauth.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/bytes.h"
#include "util/time.h"
#include "wire/wire.h"

#define MAN_MAX 64u   /* digests per manifest */
#define HOLD_MAX 2048u /* datagrams held, all senders together */
#define SEEN_MAX 4096u /* verified digests remembered */
#define MAN_FIXED (4u + 8u + 2u + 2u) /* sender, first counter, count, reserved */
#define SIG 64u
/* Early manifests: at most one per EARLY_GAP signature times on average, up
 * to EARLY_BURST in a row; idle credit kept up to CREDIT_MAX signatures. */
#define EARLY_GAP 4u
#define EARLY_BURST 2u
#define CREDIT_MAX 2u
/* An early manifest (and one of N = 1) lists again the last CARRY counters
 * of the one before (sauth.h): a receiver behind verifies the newest. */
#define CARRY 7u
/* Manifests a receiver keeps until the end of a batch of input (sauth.h). */
#define PEND_MAX 16u
#define MAN_BYTES (SMART__ADDR_MSG_LEN + SMART__EXT_HDR_LEN + MAN_FIXED + 16u * MAN_MAX + SIG)
#define SIGN_NS_MIN 1000u
#define SIGN_NS_MAX 10000000u

struct held {
  uint8_t used, released;
  uint32_t sender;
  uint64_t counter, at, deadline;
  uint8_t digest[16];
  uint16_t len;
  uint8_t *bytes; /* SLOT_BYTES, from the slab */
};

struct seen { /* a digest a verified manifest vouched for */
  uint8_t used;
  uint32_t sender;
  uint64_t counter, at;
  uint8_t digest[16];
};

/* A manifest's fields, once its layout is checked (man_parse). */
struct man {
  const uint8_t *plain, *digests;
  size_t len;
  uint32_t sender;
  uint64_t first;
  unsigned count;
};

struct smart__sauth {
  struct smart__sauth_cfg cfg;
  uint8_t sk[64];
  /* sender */
  void *ps;      /* two-step signing's state (cfg.presign), or NULL */
  int ps_due;    /* its nonce is to be made */
  uint32_t tx_sender;
  uint64_t first, first_at; /* first_at: of the first datagram not yet signed */
  unsigned count;           /* listed: carried + not yet signed */
  unsigned carried;         /* the first ones, signed in the previous early manifest */
  uint8_t digests[MAN_MAX][16];
  /* sender: early manifests (see sauth.h) */
  uint64_t sign_ns;    /* one signature's cost */
  uint64_t tat;        /* the rate bucket's theoretical arrival time */
  uint64_t credit;     /* idle credit, ns of signing, as of idle_since */
  uint64_t idle_since; /* idle from then on (when idle) */
  int idle;
  /* receiver */
  uint8_t pins[16][32];
  unsigned npins;
  struct held *held;     /* indexed by counter % HOLD_MAX */
  uint8_t *slab;
  struct seen *seen;
  uint16_t *ready;       /* FIFO of released slots */
  unsigned ready_head, ready_n;
  unsigned waiting;      /* held and not yet released */
  uint64_t taken_at;     /* the arrival of what take() returned last */
  uint64_t next_scan;
  size_t slot_bytes;
  uint8_t *pend;          /* PEND_MAX manifests of MAN_BYTES, not yet verified */
  struct man pend_m[PEND_MAX]; /* their fields, in pend */
  unsigned npend;
  uint64_t pend_at;       /* the last one's arrival */
  uint32_t signers[16]; /* sender IDs a verified manifest has named */
  unsigned nsigners;
  struct smart__sauth_stats st;
};

static int known_signer(const struct smart__sauth *sa, uint32_t sender) {
  for (unsigned i = 0; i < sa->nsigners; i++)
    if (sa->signers[i] == sender)
      return 1;
  return 0;
}

static void release(struct smart__sauth *sa, struct held *x) {
  x->released = 1;
  sa->waiting--;
  sa->ready[(sa->ready_head + sa->ready_n++) % HOLD_MAX] = (uint16_t)(x - sa->held);
}

int smart__sauth_new(struct smart__sauth **out, const struct smart__sauth_cfg *cfg) {
  struct smart__sauth *sa = calloc(1, sizeof(*sa));
  if (!sa)
    return SMART_ENOMEM;
  sa->cfg = *cfg;
  if (cfg->every > MAN_MAX)
    sa->cfg.every = MAN_MAX;
  if (cfg->sk)
    memcpy(sa->sk, cfg->sk, 64);
  sa->cfg.sk = NULL;
  /* Without its state (no memory) every manifest is signed in one step. */
  if (cfg->sk && sa->cfg.every && cfg->presign &&
      cfg->presign->state_new(&sa->ps, sa->sk) == 0)
    sa->ps_due = 1;
  if (sa->cfg.early_pct > 100)
    sa->cfg.early_pct = 100;
  sa->sign_ns = SMART__SAUTH_SIGN_NS;
  sa->credit = CREDIT_MAX * sa->sign_ns; /* a new sender has been idle */
  if (cfg->require) {
    sa->slot_bytes = cfg->max_len ? cfg->max_len : 1500;
    sa->held = calloc(HOLD_MAX, sizeof(*sa->held));
    sa->slab = malloc((size_t)HOLD_MAX * sa->slot_bytes);
    sa->seen = calloc(SEEN_MAX, sizeof(*sa->seen));
    sa->ready = calloc(HOLD_MAX, sizeof(*sa->ready));
    sa->pend = malloc((size_t)PEND_MAX * MAN_BYTES);
    if (!sa->held || !sa->slab || !sa->seen || !sa->ready || !sa->pend) {
      smart__sauth_del(sa);
      return SMART_ENOMEM;
    }
    for (unsigned i = 0; i < HOLD_MAX; i++)
      sa->held[i].bytes = sa->slab + (size_t)i * sa->slot_bytes;
  }
  *out = sa;
  return 0;
}

void smart__sauth_del(struct smart__sauth *sa) {
  if (!sa)
    return;
  free(sa->held);
  free(sa->slab);
  free(sa->seen);
  free(sa->ready);
  free(sa->pend);
  if (sa->ps)
    sa->cfg.presign->state_del(sa->ps);
  smart__memzero(sa->sk, sizeof(sa->sk));
  free(sa);
}

int smart__sauth_pin(struct smart__sauth *sa, const uint8_t pk[32]) {
  if (sa->npins >= 16)
    return SMART_ENOMEM;
  memcpy(sa->pins[sa->npins++], pk, 32);
  return 0;
}

/* ---- sender ----------------------------------------------------------- */

int smart__sauth_note(struct smart__sauth *sa, uint32_t sender, uint64_t counter,
                      const uint8_t *sealed, size_t len, uint64_t now) {
  if (!sa->cfg.every)
    return 0;
  /* A manifest lists consecutive counters of one sender ID. The manifests
   * themselves are sealed too; they need no cover, and leave a gap. */
  if (len >= 2 && sealed[1] == (SMART__TYP_MSG << 6 | SMART__MSG_MANIFEST))
    return 0;
  /* What is carried leads this run only if it is of the same run and
   * close: else it is dropped (signed already, it needs no cover). */
  if (sa->count && sa->count == sa->carried &&
      (sender != sa->tx_sender || counter < sa->first + sa->count ||
       counter - (sa->first + sa->count) > CARRY))
    sa->count = sa->carried = 0;
  if (sa->count && (sender != sa->tx_sender || counter < sa->first + sa->count ||
                    counter - sa->first >= MAN_MAX))
    return 1; /* not in this manifest's run (cannot happen with one sealing layer) */
  /* Datagrams sealed and not noted (tunnel control, to the relay) leave a
   * gap in the counters: it is listed with digests no datagram has. */
  while (sa->count && sa->first + sa->count < counter) {
    if (sa->count == sa->carried)
      sa->carried++; /* a gap after what is carried is no datagram to sign */
    memset(sa->digests[sa->count++], 0, 16);
  }
  if (sa->count == 0) {
    sa->tx_sender = sender;
    sa->first = counter;
  }
  if (sa->count == sa->carried)
    sa->first_at = now;
  if (sa->count < MAN_MAX &&
      sa->cfg.ops->hash(sa->digests[sa->count], sealed, len, sa->cfg.ops->user_data) == 0)
    sa->count++;
  return sa->count - sa->carried >= sa->cfg.every || sa->count >= MAN_MAX;
}

/* Datagrams noted and not yet signed. */
static unsigned pending(const struct smart__sauth *sa) { return sa->count - sa->carried; }

/* With the nonce made ahead when there is one (sauth.h), else in one step. */
static int sign(struct smart__sauth *sa, uint8_t sig[SIG], const uint8_t *m, size_t len) {
  if (sa->ps) {
    sa->ps_due = 1; /* used, or refused (none, or made before a fork) */
    if (sa->cfg.presign->sign(sa->ps, sig, m, len) == 0)
      return 0;
  }
  return sa->cfg.ops->sign(sig, m, len, sa->sk, sa->cfg.ops->user_data);
}

int smart__sauth_prepare_due(const struct smart__sauth *sa) { return sa->ps_due; }

void smart__sauth_prepare(struct smart__sauth *sa) {
  /* A failure is not retried before the next signature, which is then
   * signed in one step. */
  if (sa->ps_due)
    (void)sa->cfg.presign->prepare(sa->ps);
  sa->ps_due = 0;
  /* Making it is most of a signature's cost, spent while the sender has
   * nothing queued: not idle time that earns early-manifest credit. */
  if (sa->idle)
    sa->idle_since += sa->sign_ns;
}

/* Sign what is pending into a MANIFEST, after what is carried; its
 * length, or 0. An early one, or one of N = 1 (`carry`), leaves its last
 * CARRY counters carried into the next. */
static smart_ssize build(struct smart__sauth *sa, uint8_t *buf, size_t cap, uint8_t sync,
                         uint32_t group_v4, int carry) {
  size_t vlen = MAN_FIXED + 16u * sa->count + SIG;
  size_t len = SMART__ADDR_MSG_LEN + SMART__EXT_HDR_LEN + vlen;
  if (cap < len)
    return 0;
  buf[0] = sync;
  buf[1] = (uint8_t)(SMART__TYP_MSG << 6 | SMART__MSG_MANIFEST);
  smart__put16(buf + 2, (uint16_t)len);
  smart__put32(buf + 4, group_v4);
  smart__put32(buf + 8, 0);
  uint8_t *e = buf + SMART__ADDR_MSG_LEN;
  smart__put16(e, SMART__EXT_MANIFEST);
  smart__put16(e + 2, (uint16_t)vlen);
  uint8_t *v = e + SMART__EXT_HDR_LEN;
  smart__put32(v, sa->tx_sender);
  smart__put64(v + 4, sa->first);
  smart__put16(v + 12, (uint16_t)sa->count);
  smart__put16(v + 14, 0);
  memcpy(v + MAN_FIXED, sa->digests, 16u * sa->count);
  if (sign(sa, buf + len - SIG, buf, len - SIG) != 0)
    return 0;
  unsigned keep = carry ? (sa->count < CARRY ? sa->count : CARRY) : 0;
  if (keep) {
    memmove(sa->digests, sa->digests[sa->count - keep], 16u * keep);
    sa->first += sa->count - keep;
  }
  sa->count = sa->carried = keep;
  sa->st.manifests_sent++;
  return (smart_ssize)len;
}

smart_ssize smart__sauth_output(struct smart__sauth *sa, uint8_t *buf, size_t cap,
                                uint8_t sync, uint32_t group_v4, uint64_t now) {
  if (!sa->cfg.every || pending(sa) == 0)
    return 0;
  if (pending(sa) < sa->cfg.every && sa->count < MAN_MAX &&
      now - sa->first_at < sa->cfg.interval_ns)
    return 0;
  /* N = 1 signs each datagram as an early manifest would: it carries too */
  return build(sa, buf, cap, sync, group_v4, sa->cfg.every == 1);
}

/* ---- sender: early manifests -------------------------------------------- */

void smart__sauth_set_sign_cost(struct smart__sauth *sa, uint64_t ns) {
  sa->sign_ns = ns < SIGN_NS_MIN ? SIGN_NS_MIN : ns > SIGN_NS_MAX ? SIGN_NS_MAX : ns;
}

int smart__sauth_sign_probe(struct smart__sauth *sa) {
  if (!sa->cfg.every)
    return SMART_ESTATE;
  /* As long as a full manifest; all zero, so no manifest (its type byte)
   * and nothing a receiver would take. */
  uint8_t m[SMART__ADDR_MSG_LEN + SMART__EXT_HDR_LEN + MAN_FIXED + 16u * MAN_MAX], sig[SIG];
  memset(m, 0, sizeof(m));
  int rc = sa->cfg.ops->sign(sig, m, sizeof(m), sa->sk, sa->cfg.ops->user_data);
  smart__memzero(sig, sizeof(sig));
  return rc ? SMART_ESYS : 0;
}

static int early_on(const struct smart__sauth *sa) {
  return sa->cfg.every >= 2 && sa->cfg.early_pct;
}

/* Idle credit as of `now`. */
static uint64_t credit_at(const struct smart__sauth *sa, uint64_t now) {
  uint64_t c = sa->credit, cap = CREDIT_MAX * sa->sign_ns;
  if (sa->idle && now > sa->idle_since) {
    uint64_t d = now - sa->idle_since;
    if (d > SMART__SEC(1))
      d = SMART__SEC(1);
    c += d * sa->cfg.early_pct / 100u;
  }
  return c < cap ? c : cap;
}

void smart__sauth_idle(struct smart__sauth *sa, int idle, uint64_t now) {
  if (!early_on(sa))
    return;
  sa->credit = credit_at(sa, now);
  sa->idle = idle;
  sa->idle_since = now;
}

/* From when an early manifest may go, by both budgets (ignoring whether
 * one is pending); SMART__NEVER when credit cannot come (not idle). */
static uint64_t early_at(const struct smart__sauth *sa, uint64_t now) {
  uint64_t gap = EARLY_GAP * sa->sign_ns, slack = (EARLY_BURST - 1) * gap;
  uint64_t t = sa->tat > slack ? sa->tat - slack : 0;
  uint64_t c = credit_at(sa, now);
  if (c < sa->sign_ns) {
    if (!sa->idle)
      return SMART__NEVER;
    uint64_t from = now > sa->idle_since ? now : sa->idle_since;
    uint64_t need = (sa->sign_ns - c) * 100u / sa->cfg.early_pct + 1;
    if (from + need > t)
      t = from + need;
  }
  return t;
}

int smart__sauth_early(const struct smart__sauth *sa, uint64_t now) {
  return early_on(sa) && pending(sa) && early_at(sa, now) <= now;
}

smart_ssize smart__sauth_output_early(struct smart__sauth *sa, uint8_t *buf, size_t cap,
                                      uint8_t sync, uint32_t group_v4, uint64_t now) {
  if (!smart__sauth_early(sa, now))
    return 0;
  uint64_t c = credit_at(sa, now);
  smart_ssize n = build(sa, buf, cap, sync, group_v4, 1);
  sa->tat = (sa->tat > now ? sa->tat : now) + EARLY_GAP * sa->sign_ns;
  if (n <= 0)
    return n; /* the bucket is charged: a failing signature is not retried at once */
  sa->credit = c - sa->sign_ns;
  sa->idle = 0; /* signing is not idle time: it starts again once sent */
  sa->idle_since = now;
  sa->st.manifests_early++;
  return n;
}

/* ---- receiver --------------------------------------------------------- */

int smart__sauth_holds(const struct smart__sauth *sa, const uint8_t *plain, size_t len) {
  if (!sa->cfg.require || len < 2)
    return 0;
  unsigned typ = plain[1] >> 6, cmd = plain[1] & 0x3F;
  if (typ == SMART__TYP_DATA)
    return 1; /* data, repairs, heartbeats, confirmations */
  /* Sender commands: QUIET and ADDR_RANGE_CHANGE are a hijack if forged. */
  return (typ == SMART__TYP_REQ && cmd == SMART__REQ_QUIET) ||
         (typ == SMART__TYP_MSG && cmd == SMART__MSG_ADDR_RANGE_CHANGE);
}

static struct held *held_slot(struct smart__sauth *sa, uint32_t sender, uint64_t counter) {
  return &sa->held[(counter + (uint64_t)sender * 2654435761u) % HOLD_MAX];
}

static struct seen *seen_slot(struct smart__sauth *sa, uint32_t sender, uint64_t counter) {
  return &sa->seen[(counter ^ sender) % SEEN_MAX];
}

static int vouched(struct smart__sauth *sa, uint32_t sender, uint64_t counter,
                   const uint8_t digest[16]) {
  struct seen *v = seen_slot(sa, sender, counter);
  return v->used && v->sender == sender && v->counter == counter &&
         !memcmp(v->digest, digest, 16);
}

int smart__sauth_hold(struct smart__sauth *sa, uint32_t sender, uint64_t counter,
                      const uint8_t *sealed, size_t slen, const uint8_t *plain, size_t plen,
                      uint64_t now) {
  uint8_t digest[16];
  if (plen > sa->slot_bytes || sa->cfg.ops->hash(digest, sealed, slen, sa->cfg.ops->user_data)) {
    sa->st.drops_unsigned++;
    return SMART_ENOMEM;
  }
  struct held *h = held_slot(sa, sender, counter);
  if (h->used) {
    /* Keep what is waiting its turn, and another sender's datagram unless
     * this one comes from a sender a verified manifest has named and that
     * one does not: an unsigned flood must not evict the real sender's
     * data, nor sit in its way (senders advance their counters together,
     * so a band of another sender's held datagrams can shadow the signer's
     * slots for as long as they are held). A datagram refused here is
     * requested again and its repair lands elsewhere. */
    if (h->released ||
        (h->sender != sender && (!known_signer(sa, sender) || known_signer(sa, h->sender)))) {
      sa->st.drops_unsigned++;
      return SMART_ENOMEM;
    }
    h->used = 0; /* the same sender's, a window ago, never signed; or an unnamed sender's */
    sa->waiting--;
    sa->st.drops_unsigned++;
  }
  h->used = 1;
  h->released = 0;
  h->sender = sender;
  h->counter = counter;
  h->at = now;
  /* A sender no manifest has named yet gets a short wait: its first
   * manifest comes within the manifest interval, and junk from insiders
   * must not sit in the table. */
  uint64_t wait = known_signer(sa, sender) ? sa->cfg.hold_ns : 8 * sa->cfg.interval_ns;
  if (wait < 50000000u)
    wait = 50000000u;
  h->deadline = now + wait;
  memcpy(h->digest, digest, 16);
  h->len = (uint16_t)plen;
  memcpy(h->bytes, plain, plen);
  sa->waiting++;
  if (vouched(sa, sender, counter, digest)) /* the manifest came first */
    release(sa, h);
  return 0;
}


/* 0, or -1 when the layout is wrong. */
static int man_parse(struct man *m, const uint8_t *plain, size_t len) {
  const uint8_t *v;
  size_t vl;
  struct smart__pkt p;
  if (smart__pkt_decode(&p, plain, len) != 0 ||
      !smart__ext_find(p.ext, p.ext_len, SMART__EXT_MANIFEST, &v, &vl) || vl < MAN_FIXED + SIG ||
      v + vl != plain + len)
    return -1;
  unsigned count = smart__get16(v + 12);
  if (count == 0 || count > MAN_MAX || vl != MAN_FIXED + 16u * count + SIG)
    return -1;
  m->plain = plain;
  m->len = len;
  m->sender = smart__get32(v);
  m->first = smart__get64(v + 4);
  m->count = count;
  m->digests = v + MAN_FIXED;
  return 0;
}

static int man_verify(const struct smart__sauth *sa, const struct man *m) {
  for (unsigned i = 0; i < sa->npins; i++)
    if (sa->cfg.ops->verify(m->plain + m->len - SIG, m->plain, m->len - SIG, sa->pins[i],
                            sa->cfg.ops->user_data) == 0)
      return 1;
  return 0;
}

/* A gap's digest (a counter no datagram of the run has: sauth_note). */
static int is_gap(const uint8_t d[16]) {
  static const uint8_t zero[16];
  return !memcmp(d, zero, 16);
}

/* Counter c of sender is listed by a manifest marked verified (st 1). */
static int listed(const struct man *m, const int *st, unsigned n, uint32_t sender, uint64_t c) {
  for (unsigned j = 0; j < n; j++)
    if (st[j] == 1 && m[j].sender == sender && c >= m[j].first && c - m[j].first < m[j].count)
      return 1;
  return 0;
}

/* What a verified manifest vouches for: remembered, and released. */
static void man_apply(struct smart__sauth *sa, const struct man *m, uint64_t now) {
  uint32_t sender = m->sender;
  uint64_t first = m->first;
  unsigned count = m->count;
  sa->st.manifests_verified++;
  if (!known_signer(sa, sender)) {
    if (sa->nsigners < 16)
      sa->signers[sa->nsigners++] = sender;
    else
      sa->signers[(sa->st.manifests_verified) % 16] = sender;
  }
  /* Held datagrams of this sender well before this manifest lost theirs:
   * drop them now, so that the engine asks for them again at once. */
  for (unsigned h = 0; h < HOLD_MAX && sa->waiting; h++) {
    struct held *x = &sa->held[h];
    if (x->used && !x->released && x->sender == sender && x->counter + 2 * MAN_MAX < first) {
      x->used = 0;
      sa->waiting--;
      sa->st.drops_unsigned++;
    }
  }
  for (unsigned k = 0; k < count; k++) {
    struct seen *s = seen_slot(sa, sender, first + k);
    s->used = 1;
    s->sender = sender;
    s->counter = first + k;
    s->at = now;
    memcpy(s->digest, m->digests + 16u * k, 16);
  }
  for (unsigned k = 0; k < count; k++) {
    struct held *x = held_slot(sa, sender, first + k);
    if (!x->used || x->released || x->sender != sender || x->counter != first + k)
      continue;
    if (!memcmp(x->digest, m->digests + 16u * k, 16)) {
      release(sa, x);
    } else { /* the sender signed something else: a forgery */
      x->used = 0;
      sa->waiting--;
      sa->st.drops_unsigned++;
    }
  }
}

int smart__sauth_manifest(struct smart__sauth *sa, const uint8_t *plain, size_t len,
                          uint64_t now) {
  if (len < 2 || plain[1] != (SMART__TYP_MSG << 6 | SMART__MSG_MANIFEST))
    return 0;
  if (!sa->cfg.require)
    return 1;
  if (len > MAN_BYTES)
    return 1;
  if (sa->npend == PEND_MAX)
    smart__sauth_flush(sa);
  uint8_t *copy = sa->pend + (size_t)sa->npend * MAN_BYTES;
  memcpy(copy, plain, len);
  if (man_parse(&sa->pend_m[sa->npend], copy, len) != 0)
    return 1;
  sa->npend++;
  sa->pend_at = now;
  return 1;
}

void smart__sauth_flush(struct smart__sauth *sa) {
  if (!sa->npend)
    return;
  const struct man *m = sa->pend_m;
  int st[PEND_MAX] = {0}; /* 0 undecided, 1 verified, 2 covered by verified ones, -1 refused */
  unsigned n = sa->npend;
  sa->npend = 0;
  /* Verify the manifest that lists the most datagrams no verified one
   * lists yet (the newest of equals), until every one left lists only
   * such datagrams (and gaps): those need no verification of their own.
   * A batch of early manifests that each list again the previous ones'
   * last datagrams costs a verification or two, not one each. */
  for (;;) {
    unsigned best = n, best_new = 0;
    for (unsigned i = 0; i < n; i++) {
      if (st[i] != 0)
        continue;
      unsigned fresh = 0;
      for (unsigned k = 0; k < m[i].count; k++)
        fresh += !is_gap(m[i].digests + 16u * k) &&
                 !listed(m, st, n, m[i].sender, m[i].first + k);
      if (fresh == 0) {
        st[i] = 2;
        sa->st.manifests_superseded++;
      } else if (fresh >= best_new) {
        best = i;
        best_new = fresh;
      }
    }
    if (best == n)
      break;
    st[best] = man_verify(sa, &m[best]) ? 1 : -1;
  }
  /* Oldest first: what they release goes to the engine in counter order. */
  for (unsigned i = 0; i < n; i++)
    if (st[i] == 1)
      man_apply(sa, &m[i], sa->pend_at);
}

size_t smart__sauth_take(struct smart__sauth *sa, uint8_t *out, size_t cap, uint32_t *sender) {
  while (sa->ready && sa->ready_n) {
    struct held *x = &sa->held[sa->ready[sa->ready_head]];
    sa->ready_head = (sa->ready_head + 1) % HOLD_MAX;
    sa->ready_n--;
    if (!x->used || !x->released)
      continue;
    x->used = 0;
    if (x->len > cap)
      continue;
    memcpy(out, x->bytes, x->len);
    *sender = x->sender;
    sa->taken_at = x->at;
    return x->len;
  }
  return 0;
}

uint64_t smart__sauth_taken_at(const struct smart__sauth *sa) { return sa->taken_at; }

void smart__sauth_expire(struct smart__sauth *sa, uint64_t now) {
  smart__sauth_flush(sa); /* what waited for the end of a batch vouches first */
  if (!sa->held || !sa->waiting || now < sa->next_scan)
    return;
  /* A full scan, at most every 25 ms. */
  sa->next_scan = now + 25000000u;
  for (unsigned i = 0; i < HOLD_MAX; i++) {
    struct held *x = &sa->held[i];
    if (x->used && !x->released && now >= x->deadline) {
      x->used = 0;
      sa->waiting--;
      sa->st.drops_unsigned++;
    }
  }
}

uint64_t smart__sauth_expiry(const struct smart__sauth *sa) {
  uint64_t t = UINT64_MAX;
  if (sa->cfg.every && pending(sa))
    t = sa->first_at + sa->cfg.interval_ns;
  /* An idle sender's early manifest, once the budgets allow it. */
  if (sa->cfg.every && pending(sa) && early_on(sa) && sa->idle) {
    uint64_t e = early_at(sa, sa->idle_since);
    if (e < t)
      t = e;
  }
  if (sa->held && sa->waiting && sa->next_scan < t)
    t = sa->next_scan;
  if ((sa->ready && sa->ready_n) || sa->npend)
    t = 0;
  return t;
}

void smart__sauth_stats(const struct smart__sauth *sa, struct smart__sauth_stats *st) {
  *st = sa->st;
}
