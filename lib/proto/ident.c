/* Identity mode: joins, key delivery, revocation. See ident.h. */
#include "ident.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/bytes.h"
#include "util/mem.h"
#include "wire/wire.h"

#define KEYREQ_LEN (32u + 8u + 64u)
#define KEYDELIV_LEN (32u + 4u + 4u + 80u + 64u)
#define KEYBIND_LEN (8u + 8u) /* Epoch (64 bits) | Echo (64 bits) */
#define NONCE_MASK ((UINT64_C(1) << 62) - 1) /* a member's first nonce: 62 random bits */
#define KEEP_EPOCHS 3u /* a member keeps the keys of its newest epoch and 3 before */
#define MAX_KEYS 1024u
#define REQ_FIRST_NS UINT64_C(200000000)  /* a member asks every 200 ms ... */
#define REQ_MAX_NS UINT64_C(2000000000)   /* ... backing off to 2 s */
#define DELIVER_GAP_NS UINT64_C(100000000) /* at most one delivery per member per 100 ms */

struct member {
  uint8_t pk[32];
  uint8_t joined;              /* has asked: receives rekeys */
  uint8_t need_cur, need_next; /* deliveries queued */
  uint64_t last_delivery;
  uint64_t echo; /* the Nonce of its last request that verified */
};

struct smart__ident {
  struct smart__sec *sec;
  uint8_t *sk; /* secret memory, 64 bytes */
  /* sender */
  struct member *members;
  uint32_t nmembers, cap_members;
  uint8_t have_next;
  uint64_t next_epoch, cur_epoch; /* 64-bit: an instance never repeats one */
  uint64_t switch_at;
  /* member */
  uint8_t pins[16][32];
  unsigned npins;
  uint64_t next_req, req_gap;
  uint64_t nonce_base, nonce; /* requests carry nonce_base + 1, + 2, ... up to nonce */
  int want; /* wants a key (at start, or an epoch it lacks) */
  /* member: the sender instance its keys come from (smart-security(7),
   * "Identity mode": which deliveries a member takes) */
  int bound;          /* holds a key from one */
  uint32_t inst_sid;  /* its Sender ID */
  uint64_t inst_epoch; /* the newest epoch taken from it */
  uint64_t inst_echo; /* the newest request an answer of it echoed */
  uint64_t confirmed; /* the request whose answer confirmed the current key */
  int server; /* the sender's role: decided at start by a non-empty allow-list */
};

int smart__ident_new(struct smart__ident **out, const uint8_t sk[64]) {
  struct smart__ident *id = calloc(1, sizeof(*id));
  if (!id)
    return SMART_ENOMEM;
  id->sk = smart__secure_alloc(64);
  if (!id->sk) {
    free(id);
    return SMART_ENOMEM;
  }
  memcpy(id->sk, sk, 64);
  id->want = 1;
  id->req_gap = REQ_FIRST_NS;
  *out = id;
  return 0;
}

void smart__ident_del(struct smart__ident *id) {
  if (!id)
    return;
  smart__secure_free(id->sk);
  free(id->members);
  free(id);
}

static struct member *member_find(struct smart__ident *id, const uint8_t pk[32]) {
  for (uint32_t i = 0; i < id->nmembers; i++)
    if (!memcmp(id->members[i].pk, pk, 32))
      return &id->members[i];
  return NULL;
}

int smart__ident_allow(struct smart__ident *id, const uint8_t pk[32]) {
  if (member_find(id, pk))
    return 0;
  if (id->nmembers >= MAX_KEYS)
    return SMART_ENOMEM;
  void *v = id->members;
  if (smart__mem_grow(smart__mem_libc(), &v, &id->cap_members, id->nmembers + 1,
                      sizeof(*id->members)) != 0)
    return SMART_ENOMEM;
  struct member *m = id->members = v;
  memset(&m[id->nmembers], 0, sizeof(*m));
  memcpy(m[id->nmembers].pk, pk, 32);
  id->nmembers++;
  return 0;
}

int smart__ident_revoke(struct smart__ident *id, const uint8_t pk[32]) {
  struct member *m = member_find(id, pk);
  if (!m)
    return 0;
  *m = id->members[--id->nmembers];
  return 1;
}

int smart__ident_is_server(const struct smart__ident *id) {
  return id->sec ? id->server : id->nmembers > 0;
}

int smart__ident_pin(struct smart__ident *id, const uint8_t pk[32]) {
  for (unsigned i = 0; i < id->npins; i++)
    if (!memcmp(id->pins[i], pk, 32))
      return 0;
  if (id->npins >= 16)
    return SMART_ENOMEM;
  memcpy(id->pins[id->npins++], pk, 32);
  return 0;
}

/* Sender: draw and install the key of `epoch` (its low 8 bits on the wire). */
static int draw_key(struct smart__ident *id, uint64_t epoch) {
  const struct smart_crypto_ops *o = smart__sec_ops(id->sec);
  uint8_t key[32];
  int rc = o->random(key, sizeof(key), o->user_data);
  if (rc == 0)
    rc = smart__sec_install_key(id->sec, (uint8_t)epoch, key, smart__sec_id(id->sec));
  smart__memzero(key, sizeof(key));
  return rc;
}

int smart__ident_start(struct smart__ident *id, struct smart__sec *sec, uint64_t now) {
  id->server = id->nmembers > 0;
  id->sec = sec;
  id->next_req = now;
  if (!id->server) {
    /* Nonces of this socket's requests: from a random start, so that an
     * answer to another socket's, or to this identity's in an earlier
     * run, echoes none of them. */
    const struct smart_crypto_ops *o = smart__sec_ops(sec);
    uint8_t r[8];
    if (o->random(r, sizeof(r), o->user_data) != 0)
      return SMART_ESYS;
    id->nonce_base = id->nonce = smart__get64(r) & NONCE_MASK;
    id->confirmed = id->nonce_base;
    return 0;
  }
  id->want = 0;
  id->cur_epoch = 0;
  int rc = draw_key(id, 0);
  return rc ? rc : smart__sec_use_epoch(sec, 0, now);
}

/* Sender: the pending epoch becomes the current one. Members that had not
 * yet received it still need it, now as the current key. */
static void switch_epoch(struct smart__ident *id, uint64_t now) {
  smart__sec_use_epoch(id->sec, (uint8_t)id->next_epoch, now);
  id->cur_epoch = id->next_epoch;
  id->have_next = 0;
  for (uint32_t i = 0; i < id->nmembers; i++) {
    struct member *m = &id->members[i];
    m->need_cur = m->need_next;
    m->need_next = 0;
  }
}

/* The signed prefix of a packet: everything before its last 64 bytes. */
static int verify_tail(const struct smart_crypto_ops *o, const uint8_t *dg, size_t len,
                       const uint8_t pk[32]) {
  return o->verify(dg + len - 64, dg, len - 64, pk, o->user_data);
}

/* Queue the current (and a pending next) key for member m, at most once
 * per DELIVER_GAP_NS: a replayed or repeated join costs one small multicast. */
static void queue_delivery(struct smart__ident *id, struct member *m, uint64_t now) {
  if (m->last_delivery && now - m->last_delivery < DELIVER_GAP_NS)
    return;
  m->last_delivery = now;
  m->need_cur = 1;
  m->need_next = id->have_next;
}

/* USAGE_REPORT_JOIN with KEYREQ: a join request. 1 (consumed). */
static int on_keyreq(struct smart__ident *id, const uint8_t *dg, size_t len, const uint8_t *v,
                     size_t vl, uint64_t now, int *refused, int *bad) {
  if (vl != KEYREQ_LEN || v + vl != dg + len) {
    *bad = 1;
    return 1;
  }
  if (!smart__ident_is_server(id))
    return 1; /* another member's join, multicast to the group: not ours to judge */
  /* The allow-list first (cheap): a key not on it is refused without a
   * signature check, so a flood of requests costs no verification. */
  struct member *m = member_find(id, v);
  if (!m) {
    *refused = 1;
    return 1;
  }
  if (verify_tail(smart__sec_ops(id->sec), dg, len, v) != 0) {
    *bad = 1;
    return 1;
  }
  m->echo = smart__get64(v + 32); /* what its deliveries echo from now on */
  m->joined = 1;
  queue_delivery(id, m, now);
  return 1;
}

/* What a delivery is to a member, decided before any signature check, so
 * that deliveries that change nothing cost none. */
enum {
  D_NOTHING = 0, /* an old or repeated delivery: ignored */
  D_STALE,       /* echoes no request of this socket: refused */
  D_NEWER,       /* its instance's newest epoch: taken and used */
  D_CURRENT,     /* the key of the epoch in use, missing: taken and used */
  D_OLDER,       /* a recent epoch's key, missing: taken, not used */
  D_SIDEWAYS,    /* another instance, answering a newer request: taken and used */
  D_CONFIRM,     /* the answer to the last request, changing nothing: checked */
};

/* A delivery of (instance `sid`, 64-bit `epoch`) echoing request `echo`.
 * Fresh: it echoes a request this socket sent (nonce_base, nonce]. Bound
 * to the instance: from the one the member holds keys of, it is taken
 * only for a newer epoch, or for a key of the last few it lacks; from
 * another (the sender restarted), only if it answers a request made after
 * every answer of the current instance. So a recorded delivery replayed
 * never moves a member back, nor to an instance it left. */
static int delivery_kind(const struct smart__ident *id, uint32_t sid, uint64_t epoch,
                         uint64_t echo) {
  if (echo <= id->nonce_base || echo > id->nonce)
    return D_STALE;
  if (!id->bound)
    return D_NEWER;
  if (sid != id->inst_sid)
    return echo > id->inst_echo ? D_SIDEWAYS : D_NOTHING;
  if (epoch > id->inst_epoch)
    return D_NEWER;
  int have = smart__sec_have_key(id->sec, (uint8_t)epoch);
  if (epoch == id->inst_epoch && !have)
    return D_CURRENT;
  if (epoch + KEEP_EPOCHS >= id->inst_epoch && !have)
    return D_OLDER;
  if (id->want && echo == id->nonce && id->confirmed != echo)
    return D_CONFIRM; /* our last request was answered: no need to ask again */
  return D_NOTHING;
}

/* KEY_DELIVERY: for us, signed by a pinned sender. 1 (consumed). */
static int on_delivery(struct smart__ident *id, const uint8_t *dg, size_t len,
                       const struct smart__pkt *p, const uint8_t *v, size_t vl, uint64_t now,
                       int *bad) {
  const struct smart_crypto_ops *o = smart__sec_ops(id->sec);
  if (!v || vl != KEYDELIV_LEN || v + vl != dg + len || smart__ident_is_server(id))
    return *bad = 1, 1;
  if (memcmp(v, id->sk + 32, 32) != 0)
    return 1; /* another member's key: not ours to judge */
  /* KEYBIND: the 64-bit epoch and the request answered (a sender of
   * libsmart 0.1 sends none: refused). */
  const uint8_t *b;
  size_t bl;
  if (!smart__ext_find(p->ext, p->ext_len, SMART__EXT_KEYBIND, &b, &bl) || bl != KEYBIND_LEN ||
      (uint8_t)smart__get64(b) != v[32])
    return *bad = 1, 1;
  uint64_t epoch = smart__get64(b), echo = smart__get64(b + 8);
  uint32_t sender = smart__get32(v + 36);
  int kind = delivery_kind(id, sender, epoch, echo);
  if (kind == D_NOTHING)
    return 1;
  if (kind == D_STALE)
    return *bad = 1, 1;
  unsigned i;
  for (i = 0; i < id->npins; i++)
    if (verify_tail(o, dg, len, id->pins[i]) == 0)
      break;
  if (i == id->npins)
    return *bad = 1, 1;
  if (kind != D_CONFIRM) {
    uint8_t key[32];
    if (o->unwrap(key, v + 40, id->sk, o->user_data) != 0)
      return *bad = 1, 1;
    smart__sec_install_key(id->sec, (uint8_t)epoch, key, sender);
    smart__memzero(key, sizeof(key));
    if (kind == D_NEWER || kind == D_SIDEWAYS) {
      id->bound = 1;
      id->inst_sid = sender;
      id->inst_epoch = epoch;
    }
    /* Only this instance's keys, of its last few epochs: no key of another
     * instance, nor one so old that its 8-bit epoch looks newer. */
    smart__sec_keep_keys(id->sec, sender, (uint8_t)id->inst_epoch, KEEP_EPOCHS);
    if (kind != D_OLDER)
      smart__sec_use_epoch(id->sec, (uint8_t)epoch, now);
  }
  if (kind == D_SIDEWAYS || echo > id->inst_echo)
    id->inst_echo = echo; /* another instance must answer a newer request */
  if (echo == id->nonce)
    id->confirmed = echo;
  id->want = 0;
  id->req_gap = REQ_FIRST_NS;
  return 1;
}

int smart__ident_input(struct smart__ident *id, const uint8_t *dg, size_t len, uint64_t now,
                       int *refused, int *bad) {
  struct smart__pkt p;
  const uint8_t *v = NULL;
  size_t vl = 0;
  *refused = *bad = 0;
  if (len < SMART__HDR_LEN || dg[1] >> 6 != SMART__TYP_MSG)
    return 0;
  unsigned cmd = dg[1] & 0x3F;
  if (cmd != SMART__MSG_USAGE_JOIN && cmd != SMART__MSG_KEY_DELIVERY)
    return 0;
  if (smart__pkt_decode(&p, dg, len) != 0)
    return 0; /* the normal path counts it */
  if (p.kind == SMART__K_USAGE_JOIN) {
    if (!smart__ext_find(p.ext, p.ext_len, SMART__EXT_KEYREQ, &v, &vl))
      return 0; /* an ordinary (authenticated) usage report */
    return on_keyreq(id, dg, len, v, vl, now, refused, bad);
  }
  if (!smart__ext_find(p.ext, p.ext_len, SMART__EXT_KEYDELIV, &v, &vl))
    v = NULL;
  return on_delivery(id, dg, len, &p, v, vl, now, bad);
}

void smart__ident_want(struct smart__ident *id, int epoch, uint64_t now) {
  if (epoch < 0 || smart__ident_is_server(id) || id->want)
    return;
  id->want = 1;
  id->req_gap = REQ_FIRST_NS;
  if (id->next_req > now + REQ_FIRST_NS / 4)
    id->next_req = now + REQ_FIRST_NS / 4;
}

static size_t msg_base(uint8_t *buf, uint8_t sync, unsigned cmd, uint32_t a1, uint32_t a2) {
  buf[0] = sync;
  buf[1] = (uint8_t)(SMART__TYP_MSG << 6 | cmd);
  smart__put32(buf + 4, a1);
  smart__put32(buf + 8, a2);
  return SMART__ADDR_MSG_LEN;
}

static smart_ssize sign_out(struct smart__ident *id, uint8_t *buf, size_t len) {
  const struct smart_crypto_ops *o = smart__sec_ops(id->sec);
  smart__put16(buf + 2, (uint16_t)len);
  if (o->sign(buf + len - 64, buf, len - 64, id->sk, o->user_data) != 0)
    return SMART_EINVAL;
  return (smart_ssize)len;
}

smart_ssize smart__ident_output(struct smart__ident *id, uint8_t *buf, size_t cap,
                                uint8_t sync, uint32_t group_v4, uint64_t now) {
  if (!id->sec || cap < 256)
    return 0;
  const struct smart_crypto_ops *o = smart__sec_ops(id->sec);
  if (!smart__ident_is_server(id)) {
    if (!id->want || now < id->next_req)
      return 0;
    id->next_req = now + id->req_gap;
    id->req_gap = id->req_gap * 2 > REQ_MAX_NS ? REQ_MAX_NS : id->req_gap * 2;
    size_t off = msg_base(buf, sync, SMART__MSG_USAGE_JOIN, 0, group_v4);
    smart__put16(buf + off, SMART__EXT_KEYREQ);
    smart__put16(buf + off + 2, KEYREQ_LEN);
    memcpy(buf + off + 4, id->sk + 32, 32);
    smart__put64(buf + off + 36, ++id->nonce); /* no wrap: 2^62 requests away */
    return sign_out(id, buf, off + 4 + KEYREQ_LEN);
  }
  /* Sender: switch epochs when the lead has passed. */
  if (id->have_next && now >= id->switch_at)
    switch_epoch(id, now);
  for (uint32_t i = 0; i < id->nmembers; i++) {
    struct member *m = &id->members[i];
    uint64_t epoch;
    if (m->need_cur) { /* the current key first: a member takes an older one after */
      epoch = id->cur_epoch;
      m->need_cur = 0;
    } else if (m->need_next && id->have_next) {
      epoch = id->next_epoch;
      m->need_next = 0;
    } else {
      continue;
    }
    /* KEYBIND, then KEYDELIV last (as receivers of libsmart 0.1
     * look for it), both under the signature. */
    size_t off = msg_base(buf, sync, SMART__MSG_KEY_DELIVERY, group_v4, 0);
    smart__put16(buf + off, SMART__EXT_KEYBIND);
    smart__put16(buf + off + 2, KEYBIND_LEN);
    smart__put64(buf + off + 4, epoch);
    smart__put64(buf + off + 12, m->echo);
    off += 4 + KEYBIND_LEN;
    uint8_t *v = buf + off + 4;
    smart__put16(buf + off, SMART__EXT_KEYDELIV);
    smart__put16(buf + off + 2, KEYDELIV_LEN);
    memcpy(v, m->pk, 32);
    v[32] = (uint8_t)epoch;
    v[33] = v[34] = v[35] = 0;
    smart__put32(v + 36, smart__sec_id(id->sec));
    uint8_t key[32];
    if (smart__sec_export_key(id->sec, (uint8_t)epoch, key) != 0 ||
        o->wrap(v + 40, key, m->pk, o->user_data) != 0) {
      smart__memzero(key, sizeof(key));
      continue;
    }
    smart__memzero(key, sizeof(key));
    return sign_out(id, buf, off + 4 + KEYDELIV_LEN);
  }
  return 0;
}

uint64_t smart__ident_expiry(const struct smart__ident *id) {
  uint64_t t = UINT64_MAX;
  if (!id->sec)
    return t;
  if (!smart__ident_is_server(id)) {
    if (id->want)
      t = id->next_req;
    return t;
  }
  if (id->have_next)
    t = id->switch_at;
  for (uint32_t i = 0; i < id->nmembers; i++)
    if (id->members[i].need_cur || (id->members[i].need_next && id->have_next))
      return 0;
  return t;
}

int smart__ident_rekey(struct smart__ident *id, uint64_t now, uint64_t lead_ns) {
  if (!id->sec || !smart__ident_is_server(id))
    return SMART_ESTATE;
  if (id->have_next) /* finish the switch in progress first */
    switch_epoch(id, now);
  uint64_t e = id->cur_epoch + 1;
  int rc = draw_key(id, e);
  if (rc)
    return rc;
  id->next_epoch = e;
  id->have_next = 1;
  id->switch_at = now + lead_ns;
  for (uint32_t i = 0; i < id->nmembers; i++)
    if (id->members[i].joined)
      id->members[i].need_next = 1;
  return 0;
}
