/*
 * Unicast tunnels: client state machine, message codec, relay cookies.
 * See tunnel.h for the contracts and smart-protocol(7) for the layouts.
 */
#include "proto/tunnel.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/bytes.h"
#include "wire/wire.h"

#define SCHEME "smart+tunnel://"

/* ---- URL ------------------------------------------------------------- */

int smart__tunnel_is_url(const char *text) {
  return text && strncasecmp(text, SCHEME, sizeof(SCHEME) - 1) == 0;
}

int smart__tunnel_parse(const char *url, struct smart__sockaddr *relay,
                        struct smart__sockaddr *group) {
  struct smart__sockaddr r, g;
  char part[128];
  if (!smart__tunnel_is_url(url))
    return SMART_EINVAL;
  const char *p = url + sizeof(SCHEME) - 1;
  const char *slash = strchr(p, '/');
  if (!slash || slash == p || (size_t)(slash - p) >= sizeof(part))
    return SMART_EINVAL;
  memcpy(part, p, (size_t)(slash - p));
  part[slash - p] = 0;
  if (smart__addr_parse(part, 0, &r) != 0)
    return SMART_EINVAL;
  const char *gs = slash + 1;
  if (!*gs || strlen(gs) >= sizeof(part) || strchr(gs, '/'))
    return SMART_EINVAL;
  if (smart__addr_parse(gs, 0, &g) != 0 || !smart__addr_is_multicast(&g))
    return SMART_EINVAL;
  uint16_t rport = r.u.sa.sa_family == AF_INET ? r.u.in4.sin_port : r.u.in6.sin6_port;
  uint16_t gport = g.u.sa.sa_family == AF_INET ? g.u.in4.sin_port : g.u.in6.sin6_port;
  if (rport == 0 || gport == 0 || smart__addr_is_multicast(&r))
    return SMART_EINVAL;
  if (relay)
    *relay = r;
  if (group)
    *group = g;
  return 0;
}

/* ---- Addresses as 16 bytes + port ------------------------------------ */

static void addr_to16(const struct smart__sockaddr *a, uint8_t out[16], uint16_t *port) {
  memset(out, 0, 16);
  *port = 0;
  if (!a || a->len == 0)
    return;
  if (a->u.sa.sa_family == AF_INET) {
    out[10] = out[11] = 0xff;
    memcpy(out + 12, &a->u.in4.sin_addr, 4);
    *port = ntohs(a->u.in4.sin_port);
  } else if (a->u.sa.sa_family == AF_INET6) {
    memcpy(out, &a->u.in6.sin6_addr, 16);
    *port = ntohs(a->u.in6.sin6_port);
  }
}

static int is_zero(const uint8_t *p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++)
    acc |= p[i];
  return acc == 0;
}

static void set_v4(struct smart__sockaddr *a, uint32_t addr, uint16_t port) {
  memset(a, 0, sizeof(*a));
  if (addr == 0 && port == 0)
    return;
  a->u.in4.sin_family = AF_INET;
  a->u.in4.sin_addr.s_addr = htonl(addr);
  a->u.in4.sin_port = htons(port);
  a->len = sizeof(a->u.in4);
}

static void set_16(struct smart__sockaddr *a, const uint8_t in[16], uint16_t port) {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  memset(a, 0, sizeof(*a));
  if (is_zero(in, 16) && port == 0)
    return;
  if (memcmp(in, mapped, 12) == 0) {
    a->u.in4.sin_family = AF_INET;
    memcpy(&a->u.in4.sin_addr, in + 12, 4);
    a->u.in4.sin_port = htons(port);
    a->len = sizeof(a->u.in4);
    return;
  }
  a->u.in6.sin6_family = AF_INET6;
  memcpy(&a->u.in6.sin6_addr, in, 16);
  a->u.in6.sin6_port = htons(port);
  a->len = sizeof(a->u.in6);
}

/* ---- Messages -------------------------------------------------------- */

int smart__tun_decode(struct smart__tun_msg *m, const uint8_t *dg, size_t len) {
  struct smart__pkt p;
  const uint8_t *v;
  size_t vl;
  if (!m || (!dg && len))
    return SMART_EINVAL;
  if (len < 2 || dg[1] >> 6 != SMART__TYP_TUNNEL)
    return SMART_ENOTSUP;
  int rc = smart__pkt_decode(&p, dg, len);
  if (rc)
    return rc;
  memset(m, 0, sizeof(*m));
  m->sync = p.sync;
  m->cmd = p.cmd;
  uint16_t p1 = 0, p2 = 0;
  if (smart__ext_find(p.ext, p.ext_len, SMART__EXT_PORT, &v, &vl) && vl == 4) {
    m->has_port = 1;
    p1 = smart__get16(v);
    p2 = smart__get16(v + 2);
  }
  if (smart__ext_find(p.ext, p.ext_len, SMART__EXT_ADDR6, &v, &vl) && vl == 32) {
    m->addr6 = 1;
    set_16(&m->group, v, p1);
    set_16(&m->peer, v + 16, p2);
  } else {
    set_v4(&m->group, p.u.addr.addr1, p1);
    set_v4(&m->peer, p.u.addr.addr2, p2);
  }
  if (smart__ext_find(p.ext, p.ext_len, SMART__EXT_COOKIE, &v, &vl) &&
      vl == SMART__TUN_COOKIE_LEN) {
    m->has_cookie = 1;
    memcpy(m->cookie, v, SMART__TUN_COOKIE_LEN);
  }
  return 0;
}

smart_ssize smart__tun_encode(uint8_t *out, size_t cap, const struct smart__tun_msg *m) {
  uint8_t ext[4 + 32 + 4 + 4 + 4 + SMART__TUN_COOKIE_LEN];
  size_t el = 0;
  uint8_t g16[16], p16[16];
  uint16_t gp, pp;
  if (!m || (m->cmd != SMART__TUN_REQUEST && m->cmd != SMART__TUN_LEAVE))
    return SMART_EINVAL;
  addr_to16(&m->group, g16, &gp);
  addr_to16(&m->peer, p16, &pp);
  int six = m->addr6 || (m->group.len && m->group.u.sa.sa_family == AF_INET6) ||
            (m->peer.len && m->peer.u.sa.sa_family == AF_INET6);
  struct smart__pkt p;
  memset(&p, 0, sizeof(p));
  p.sync = m->sync;
  p.typ = SMART__TYP_TUNNEL;
  p.cmd = m->cmd;
  if (six) {
    uint8_t both[32];
    memcpy(both, g16, 16);
    memcpy(both + 16, p16, 16);
    if (smart__ext_put(ext, sizeof(ext), &el, SMART__EXT_ADDR6, both, 32))
      return SMART_EINVAL;
  } else {
    p.u.addr.addr1 = smart__get32(g16 + 12);
    p.u.addr.addr2 = smart__get32(p16 + 12);
  }
  if (m->has_port || gp || pp) {
    uint8_t ports[4];
    smart__put16(ports, gp);
    smart__put16(ports + 2, pp);
    if (smart__ext_put(ext, sizeof(ext), &el, SMART__EXT_PORT, ports, 4))
      return SMART_EINVAL;
  }
  if (m->has_cookie && smart__ext_put(ext, sizeof(ext), &el, SMART__EXT_COOKIE,
                                      m->cookie, SMART__TUN_COOKIE_LEN))
    return SMART_EINVAL;
  p.ext = el ? ext : NULL;
  p.ext_len = el;
  return smart__pkt_encode(out, cap, &p);
}

/* ---- Cookies --------------------------------------------------------- */

int smart__tun_cookie(const struct smart_crypto_ops *ops, const uint8_t secret[32],
                      uint64_t bucket, const struct smart__sockaddr *client,
                      const struct smart__sockaddr *group,
                      uint8_t out[SMART__TUN_COOKIE_LEN]) {
  uint8_t m[32 + 18 + 18];
  uint16_t port;
  if (!ops || !secret || !client || !group || !out)
    return SMART_EINVAL;
  if (ops->derive(m, bucket, "SMARTtun", secret, ops->user_data) != 0)
    return SMART_ESYS;
  addr_to16(client, m + 32, &port);
  smart__put16(m + 48, port);
  addr_to16(group, m + 50, &port);
  smart__put16(m + 66, port);
  int rc = ops->hash(out, m, sizeof(m), ops->user_data);
  memset(m, 0, 32);
  return rc ? SMART_ESYS : 0;
}

int smart__tun_cookie_ok(const struct smart_crypto_ops *ops, const uint8_t secret[32],
                         uint64_t now, const struct smart__sockaddr *client,
                         const struct smart__sockaddr *group,
                         const uint8_t cookie[SMART__TUN_COOKIE_LEN]) {
  uint64_t b = now / SMART__TUN_BUCKET_NS;
  int ok = 0;
  for (int i = 0; i < 2 && (i == 0 || b > 0); i++) {
    uint8_t c[SMART__TUN_COOKIE_LEN], diff = 0;
    if (smart__tun_cookie(ops, secret, b - (uint64_t)i, client, group, c) != 0)
      return 0;
    for (unsigned j = 0; j < SMART__TUN_COOKIE_LEN; j++)
      diff |= (uint8_t)(c[j] ^ cookie[j]);
    if (diff == 0 && !ok)
      ok = i + 1;
  }
  return ok;
}

/* ---- Client state machine -------------------------------------------- */

/* Challenges answered at once in a row, before the backoff takes over (a
 * stream of forged challenges must not make the client send in a loop). */
#define QUICK_MAX 4u

struct smart__tunnel {
  struct smart__sockaddr relay, group, self, seen;
  int state;
  int have_cookie;
  uint8_t cookie[SMART__TUN_COOKIE_LEN];
  uint64_t next;       /* the next datagram is due then */
  uint64_t backoff;    /* retry interval while requesting */
  uint64_t last_grant; /* the last GRANT heard */
  unsigned leaves, quick;
  struct smart__tunnel_stats st;
};

int smart__tunnel_new(struct smart__tunnel **out, const struct smart__sockaddr *relay,
                      const struct smart__sockaddr *group,
                      const struct smart__sockaddr *self, uint64_t now) {
  if (!out || !relay || !group || !relay->len || !smart__addr_is_multicast(group))
    return SMART_EINVAL;
  struct smart__tunnel *t = calloc(1, sizeof(*t));
  if (!t)
    return SMART_ENOMEM;
  t->relay = *relay;
  t->group = *group;
  if (self)
    t->self = *self;
  t->state = SMART__TUN_REQUESTING;
  t->next = now;
  t->backoff = SMART__TUN_RETRY_NS;
  *out = t;
  return 0;
}

void smart__tunnel_del(struct smart__tunnel *t) { free(t); }

static smart_ssize build(struct smart__tunnel *t, uint8_t *buf, size_t cap, uint8_t sync,
                         int cmd) {
  struct smart__tun_msg m;
  memset(&m, 0, sizeof(m));
  m.sync = sync;
  m.cmd = (uint8_t)cmd;
  m.group = t->group;
  m.peer = t->self;
  m.has_port = 1;
  m.has_cookie = 1; /* zeros until we have one: see tunnel.h */
  if (t->have_cookie)
    memcpy(m.cookie, t->cookie, SMART__TUN_COOKIE_LEN);
  return smart__tun_encode(buf, cap, &m);
}

smart_ssize smart__tunnel_output(struct smart__tunnel *t, uint8_t *buf, size_t cap,
                                 uint8_t sync, uint64_t now) {
  if (!t || (!buf && cap))
    return SMART_EINVAL;
  if (t->state == SMART__TUN_CLOSED || now < t->next)
    return 0;
  smart_ssize n;
  if (t->state == SMART__TUN_LEAVING) {
    if (t->leaves >= SMART__TUN_LEAVE_TRIES) {
      t->state = SMART__TUN_CLOSED;
      return 0;
    }
    if ((n = build(t, buf, cap, sync, SMART__TUN_LEAVE)) < 0)
      return n;
    t->leaves++;
    t->next = now + SMART__TUN_LEAVE_GAP_NS;
    return n;
  }
  if (t->state == SMART__TUN_ESTABLISHED && now - t->last_grant >= SMART__TUN_DEAD_NS) {
    t->state = SMART__TUN_REQUESTING; /* silent relay: ask again, faster */
    t->backoff = SMART__TUN_RETRY_NS;
    t->st.downs++;
  }
  if ((n = build(t, buf, cap, sync, SMART__TUN_REQUEST)) < 0)
    return n;
  t->st.requests++;
  if (t->state == SMART__TUN_ESTABLISHED) {
    t->next = now + SMART__TUN_KEEPALIVE_NS;
  } else {
    t->next = now + t->backoff;
    t->backoff = t->backoff * 2 > SMART__TUN_KEEPALIVE_NS ? SMART__TUN_KEEPALIVE_NS
                                                          : t->backoff * 2;
  }
  return n;
}

int smart__tunnel_input(struct smart__tunnel *t, const uint8_t *dg, size_t len,
                        uint64_t now) {
  struct smart__tun_msg m;
  if (!t || !dg || len < 2 || dg[1] >> 6 != SMART__TYP_TUNNEL)
    return 0;
  if (smart__tun_decode(&m, dg, len) != 0 || !m.has_port ||
      !smart__addr_equal(&m.group, &t->group) || t->state == SMART__TUN_CLOSED) {
    t->st.ignored++;
    return 1;
  }
  if (m.cmd == SMART__TUN_LEAVE) {
    /* An echo of our leave, or a refusal; either names our cookie, which an
     * off-path forger does not know. */
    if (!m.has_cookie || !t->have_cookie ||
        memcmp(m.cookie, t->cookie, SMART__TUN_COOKIE_LEN) != 0) {
      t->st.ignored++;
      return 1;
    }
    if (t->state == SMART__TUN_LEAVING) {
      t->state = SMART__TUN_CLOSED;
      return 1;
    }
    t->st.refusals++;
    t->state = SMART__TUN_REFUSED;
    t->have_cookie = 0;
    t->next = now + SMART__TUN_REFUSED_NS;
    t->backoff = SMART__TUN_REFUSED_NS;
    return 1;
  }
  if (!m.has_cookie || is_zero(m.cookie, SMART__TUN_COOKIE_LEN)) {
    t->st.ignored++;
    return 1;
  }
  t->seen = m.peer;
  if (t->have_cookie && memcmp(m.cookie, t->cookie, SMART__TUN_COOKIE_LEN) == 0) {
    /* Granted: the relay echoed the cookie we sent. */
    if (t->state == SMART__TUN_LEAVING)
      return 1;
    t->st.grants++;
    if (t->state != SMART__TUN_ESTABLISHED) {
      t->state = SMART__TUN_ESTABLISHED;
      t->next = now + SMART__TUN_KEEPALIVE_NS;
    }
    t->last_grant = now;
    t->backoff = SMART__TUN_RETRY_NS;
    t->quick = 0;
    return 1;
  }
  /* A challenge: a new cookie to repeat the request with. While
   * established this is the relay's fresh cookie for the next time bucket
   * (or a relay that lost us); the dead timer covers the rest. */
  t->st.challenges++;
  memcpy(t->cookie, m.cookie, SMART__TUN_COOKIE_LEN);
  t->have_cookie = 1;
  if (t->state == SMART__TUN_LEAVING)
    return 1; /* the next LEAVE_TUNNEL carries the new cookie */
  if (t->quick < QUICK_MAX) {
    t->quick++;
    t->next = now;
  }
  return 1;
}

uint64_t smart__tunnel_expiry(const struct smart__tunnel *t) {
  if (!t || t->state == SMART__TUN_CLOSED)
    return UINT64_MAX;
  return t->next;
}

void smart__tunnel_leave(struct smart__tunnel *t, uint64_t now) {
  if (!t || t->state == SMART__TUN_CLOSED || t->state == SMART__TUN_LEAVING)
    return;
  if (!t->have_cookie) {
    t->state = SMART__TUN_CLOSED;
    return;
  }
  t->state = SMART__TUN_LEAVING;
  t->leaves = 0;
  t->next = now;
}

int smart__tunnel_state(const struct smart__tunnel *t) { return t ? t->state : 0; }

const char *smart__tunnel_state_name(int state) {
  switch (state) {
  case SMART__TUN_REQUESTING: return "requesting";
  case SMART__TUN_ESTABLISHED: return "established";
  case SMART__TUN_REFUSED: return "refused";
  case SMART__TUN_LEAVING: return "leaving";
  case SMART__TUN_CLOSED: return "closed";
  }
  return "?";
}

const struct smart__sockaddr *smart__tunnel_relay(const struct smart__tunnel *t) {
  return t ? &t->relay : NULL;
}
const struct smart__sockaddr *smart__tunnel_group(const struct smart__tunnel *t) {
  return t ? &t->group : NULL;
}
const struct smart__sockaddr *smart__tunnel_seen_as(const struct smart__tunnel *t) {
  return t ? &t->seen : NULL;
}
void smart__tunnel_get_stats(const struct smart__tunnel *t, struct smart__tunnel_stats *st) {
  if (t && st)
    *st = t->st;
}
