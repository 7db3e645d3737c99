/*
 * The relay half of unicast tunnels: client table, cookies, budgets,
 * forwarding. See relay.h for the contracts and smart-protocol(7)
 * "TUNNELING" for the exchange.
 */
#include "proto/relay.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "proto/secure.h"
#include "proto/tunnel.h"
#include "util/ratelim.h"
#include "util/time.h"
#include "wire/wire.h"

/* The forwarding burst: a tenth of a second of the rate, at least 64 KiB,
 * and at most what a token bucket counts without overflowing (tokens are
 * unit-nanoseconds in a uint64_t). */
#define BURST_MIN UINT64_C(65536)
#define BURST_MAX UINT64_C(4000000000)
#define REPLY_MAX 256u /* a reply is the request's layout: at most 76 + 52 bytes */
#define CONTROL_MAX 512u

struct client {
  struct smart__sockaddr addr;
  uint64_t last_heard;
  struct smart__ratelim bytes;    /* forwarding budget */
  struct smart__ratelim feedback; /* feedback budget */
  int used;
};

struct smart__relay {
  const struct smart_crypto_ops *ops;
  struct smart__sockaddr group, upstream;
  uint8_t secret[32];
  uint8_t sync;
  struct smart__sec *sec;    /* secure relay, or NULL */
  struct smart__tunnel *up;  /* our tunnel to the upstream relay, or NULL */
  struct client *clients;
  unsigned max_clients, nclients;
  uint64_t rate, burst;
  struct smart__ratelim challenges;
  uint64_t next_sweep;
  uint8_t *plain; /* an opened datagram */
  /* What the last input produced, handed out by smart__relay_output(). */
  uint8_t reply[REPLY_MAX];
  size_t reply_len;
  struct smart__sockaddr reply_to;
  const uint8_t *fwd; /* a datagram for the clients (and the group) */
  size_t fwd_len;
  int fwd_to_group;
  unsigned cursor;             /* the next client to consider */
  const struct client *except; /* the client it came from */
  uint64_t fwd_now;
  uint8_t control[CONTROL_MAX];
  struct smart__relay_stats st;
};

int smart__relay_new(struct smart__relay **out, const struct smart__relay_cfg *cfg,
                     uint64_t now) {
  if (!out || !cfg || !cfg->ops || !cfg->max_clients || !smart__addr_is_multicast(&cfg->group))
    return SMART_EINVAL;
  struct smart__relay *r = calloc(1, sizeof(*r));
  if (!r)
    return SMART_ENOMEM;
  *out = r;
  r->ops = cfg->ops;
  r->group = cfg->group;
  r->sync = cfg->sync;
  r->max_clients = cfg->max_clients;
  r->rate = cfg->rate;
  r->burst = cfg->rate / 10 > BURST_MIN ? cfg->rate / 10 : BURST_MIN;
  if (r->burst > BURST_MAX)
    r->burst = BURST_MAX;
  smart__ratelim_init(&r->challenges, SMART__RELAY_CHALLENGE_RATE,
                      SMART__RELAY_CHALLENGE_RATE, now);
  r->next_sweep = now + SMART__SEC(1);
  r->clients = calloc(cfg->max_clients, sizeof(*r->clients));
  r->plain = malloc(SMART__RELAY_DGRAM_MAX);
  int rc = 0;
  if (!r->clients || !r->plain)
    rc = SMART_ENOMEM;
  else if (cfg->secret)
    memcpy(r->secret, cfg->secret, sizeof(r->secret));
  else if (r->ops->random(r->secret, sizeof(r->secret), r->ops->user_data) != 0)
    rc = SMART_ESYS;
  if (!rc && cfg->group_key) {
    uint32_t id;
    struct smart__sec_cfg sc = {.ops = r->ops, .mode = SMART__SEC_GROUP,
                                .group_key = cfg->group_key, .grace_ns = SMART__SEC(2)};
    rc = smart__sec_new(&r->sec, &sc, &id);
  }
  if (!rc && cfg->upstream) {
    r->upstream = *cfg->upstream;
    rc = smart__tunnel_new(&r->up, &r->upstream, &r->group, NULL, now);
  }
  if (rc) {
    smart__relay_del(r);
    *out = NULL;
  }
  return rc;
}

void smart__relay_del(struct smart__relay *r) {
  if (!r)
    return;
  smart__tunnel_del(r->up);
  smart__sec_del(r->sec);
  smart__memzero(r->secret, sizeof(r->secret));
  free(r->clients);
  free(r->plain);
  free(r);
}

/* ---- clients ---------------------------------------------------------- */

static struct client *client_find(struct smart__relay *r, const struct smart__sockaddr *a) {
  for (unsigned i = 0; i < r->max_clients; i++)
    if (r->clients[i].used && smart__addr_equal(&r->clients[i].addr, a))
      return &r->clients[i];
  return NULL;
}

static void client_drop(struct smart__relay *r, struct client *c) {
  c->used = 0;
  r->nclients--;
}

/* A slot for a new client: a free one, else the longest-silent client if it
 * missed two keepalives, else NULL (the table is full of live clients). */
static struct client *client_add(struct smart__relay *r, const struct smart__sockaddr *a,
                                 uint64_t now) {
  struct client *free_slot = NULL, *oldest = NULL;
  for (unsigned i = 0; i < r->max_clients; i++) {
    struct client *c = &r->clients[i];
    if (!c->used) {
      if (!free_slot)
        free_slot = c;
    } else if (!oldest || c->last_heard < oldest->last_heard) {
      oldest = c;
    }
  }
  if (!free_slot && oldest && now - oldest->last_heard > 2 * SMART__TUN_KEEPALIVE_NS) {
    client_drop(r, oldest);
    r->st.evicted++;
    free_slot = oldest;
  }
  if (!free_slot)
    return NULL;
  memset(free_slot, 0, sizeof(*free_slot));
  free_slot->used = 1;
  free_slot->addr = *a;
  free_slot->last_heard = now;
  smart__ratelim_init(&free_slot->bytes, r->rate, r->burst, now);
  smart__ratelim_init(&free_slot->feedback, SMART__RELAY_FB_RATE, SMART__RELAY_FB_BURST, now);
  r->nclients++;
  if (r->nclients > r->st.peak)
    r->st.peak = r->nclients;
  return free_slot;
}

void smart__relay_expire(struct smart__relay *r, uint64_t now) {
  if (now < r->next_sweep)
    return;
  r->next_sweep = now + SMART__SEC(1);
  for (unsigned i = 0; i < r->max_clients; i++)
    if (r->clients[i].used && now - r->clients[i].last_heard > SMART__TUN_TIMEOUT_NS) {
      client_drop(r, &r->clients[i]);
      r->st.evicted++;
    }
}

int smart__relay_serves(const struct smart__relay *r, const struct smart__sockaddr *a) {
  return client_find((struct smart__relay *)(uintptr_t)r, a) != NULL;
}

/* ---- tunnel requests -------------------------------------------------- */

/* Encode (and seal) the reply `m`, never longer than the request's
 * `req_len` bytes on the wire, and count it. */
static void reply(struct smart__relay *r, const struct smart__tun_msg *m, size_t req_len,
                  const struct smart__sockaddr *to, uint64_t *count, uint64_t *bytes,
                  uint64_t now) {
  smart_ssize n = smart__tun_encode(r->reply, sizeof(r->reply), m);
  if (n > 0 && r->sec)
    n = smart__sec_seal(r->sec, r->reply, (size_t)n, sizeof(r->reply), now);
  if (n <= 0 || (size_t)n > req_len) { /* cannot happen: same layout */
    r->st.bad++;
    return;
  }
  r->reply_len = (size_t)n;
  r->reply_to = *to;
  (*count)++;
  *bytes += (uint64_t)n;
  r->st.replies++;
  r->st.reply_bytes += (uint64_t)n;
}

/* A request (or leave) from an address whose cookie is valid (1: of this
 * bucket, 2: of the previous one). 1 when it is answered already, 0 when it
 * wants a fresh cookie. */
static int on_valid(struct smart__relay *r, struct smart__tun_msg *m, int valid, size_t wire_len,
                    const struct smart__sockaddr *from, uint64_t now) {
  struct client *c = client_find(r, from);
  if (m->cmd == SMART__TUN_LEAVE) {
    if (c)
      client_drop(r, c);
    reply(r, m, wire_len, from, &r->st.leaves, &r->st.leave_bytes, now);
    return 1;
  }
  if (!c && !(c = client_add(r, from, now))) {
    m->cmd = SMART__TUN_LEAVE; /* full of live clients: refused, cookie echoed */
    reply(r, m, wire_len, from, &r->st.refused, &r->st.refused_bytes, now);
    return 1;
  }
  c->last_heard = now;
  if (valid == 1) { /* granted: the cookie echoed */
    reply(r, m, wire_len, from, &r->st.grants, &r->st.grant_bytes, now);
    return 1;
  }
  return 0; /* served, but the cookie is of the previous bucket */
}

static void on_tunnel(struct smart__relay *r, const uint8_t *dg, size_t len, size_t wire_len,
                      const struct smart__sockaddr *from, uint64_t now) {
  struct smart__tun_msg m;
  if (smart__tun_decode(&m, dg, len) != 0 || !m.has_cookie || !m.has_port ||
      !smart__addr_equal(&m.group, &r->group)) {
    r->st.bad++;
    return;
  }
  int valid = smart__tun_cookie_ok(r->ops, r->secret, now, from, &r->group, m.cookie);
  struct smart__tun_msg a = m; /* the request's layout, the relay's values */
  a.group = r->group;
  a.peer = *from;
  if (!m.addr6 && from->u.sa.sa_family != AF_INET)
    a.peer.len = 0;
  if (valid) {
    if (on_valid(r, &a, valid, wire_len, from, now))
      return;
  } else if (m.cmd == SMART__TUN_LEAVE) {
    r->st.bad++; /* nothing to cancel for an unproven address */
    return;
  } else if (!smart__ratelim_take(&r->challenges, 1, now)) {
    r->st.throttled++;
    return;
  }
  if (smart__tun_cookie(r->ops, r->secret, now / SMART__TUN_BUCKET_NS, from, &r->group,
                        a.cookie) != 0)
    return;
  reply(r, &a, wire_len, from, &r->st.challenges, &r->st.challenge_bytes, now);
}

/* ---- input ------------------------------------------------------------ */

/* Open a sealed datagram into r->plain (secure relay); its length, or -1
 * when it does not authenticate. Without security: the datagram itself. */
static smart_ssize open_dg(struct smart__relay *r, const uint8_t *dg, size_t len,
                           const uint8_t **plain, uint64_t now) {
  *plain = dg;
  if (!r->sec)
    return (smart_ssize)len;
  uint32_t sid;
  smart_ssize n = smart__sec_open(r->sec, dg, len, r->plain, SMART__RELAY_DGRAM_MAX, &sid, now);
  if (n < 0) {
    r->st.auth_failed++;
    return -1;
  }
  *plain = r->plain;
  return n;
}

/* Nothing pending from an earlier input. */
static void clear_output(struct smart__relay *r) {
  r->reply_len = 0;
  r->fwd = NULL;
  r->fwd_to_group = 0;
}

/* `dg` to every client but `except`, each within its byte budget (taken as
 * smart__relay_output() hands the datagrams out). */
static void forward(struct smart__relay *r, const uint8_t *dg, size_t len,
                    const struct client *except, uint64_t now) {
  r->fwd = dg;
  r->fwd_len = len;
  r->cursor = 0;
  r->except = except;
  r->fwd_now = now;
}

void smart__relay_input(struct smart__relay *r, const uint8_t *dg, size_t len,
                        const struct smart__sockaddr *from, uint64_t now) {
  const uint8_t *plain;
  clear_output(r);
  if (!dg || len < 2 || len > SMART__RELAY_DGRAM_MAX) {
    r->st.bad++;
    return;
  }
  unsigned typ = dg[1] >> 6;
  if (typ == SMART__TYP_TUNNEL) {
    r->st.requests++;
    r->st.request_bytes += len;
    smart_ssize n = open_dg(r, dg, len, &plain, now);
    if (n > 0)
      on_tunnel(r, plain, (size_t)n, len, from, now);
    return;
  }
  struct client *c = client_find(r, from);
  if (!c || typ == SMART__TYP_DATA) { /* only clients' feedback is relayed */
    r->st.bad++;
    return;
  }
  /* A keyed relay authenticates before it spends: junk "from" a client
   * does not use up the client's budget (opening costs less than the
   * multicast it would buy). */
  if (open_dg(r, dg, len, &plain, now) < 0)
    return;
  if (!smart__ratelim_take(&c->feedback, 1, now)) {
    r->st.feedback_dropped++;
    return;
  }
  c->last_heard = now;
  r->st.feedback++;
  r->fwd_to_group = 1;
  forward(r, dg, len, c, now); /* other clients suppress on it */
}

void smart__relay_group_input(struct smart__relay *r, const uint8_t *dg, size_t len,
                              const struct smart__sockaddr *from, uint64_t now) {
  const uint8_t *plain;
  clear_output(r);
  if (!dg || len > SMART__RELAY_DGRAM_MAX || (r->up && !smart__addr_equal(from, &r->upstream)))
    return;
  if (r->up && len >= 2 && dg[1] >> 6 == SMART__TYP_TUNNEL) {
    smart_ssize n = open_dg(r, dg, len, &plain, now);
    if (n > 0)
      smart__tunnel_input(r->up, plain, (size_t)n, now);
    return;
  }
  /* Keyed: only what authenticates is forwarded and charged to the
   * clients' byte budgets. */
  if (open_dg(r, dg, len, &plain, now) < 0)
    return;
  forward(r, dg, len, NULL, now);
}

/* ---- output ----------------------------------------------------------- */

static int next_forward(struct smart__relay *r, struct smart__relay_dgram *d) {
  while (r->cursor < r->max_clients) {
    struct client *c = &r->clients[r->cursor++];
    if (!c->used || c == r->except)
      continue;
    if (!smart__ratelim_take(&c->bytes, r->fwd_len, r->fwd_now)) {
      r->st.rate_dropped++;
      continue;
    }
    *d = (struct smart__relay_dgram){SMART__RELAY_FORWARD, r->fwd, r->fwd_len, &c->addr};
    return 1;
  }
  r->fwd = NULL;
  return 0;
}

static int next_control(struct smart__relay *r, struct smart__relay_dgram *d, uint64_t now) {
  if (!r->up)
    return 0;
  smart_ssize n = smart__tunnel_output(r->up, r->control, sizeof(r->control) - SMART__SEC_OVERHEAD,
                                       r->sync, now);
  if (n > 0 && r->sec)
    n = smart__sec_seal(r->sec, r->control, (size_t)n, sizeof(r->control), now);
  if (n <= 0)
    return 0;
  *d = (struct smart__relay_dgram){SMART__RELAY_CONTROL, r->control, (size_t)n, &r->upstream};
  return 1;
}

int smart__relay_output(struct smart__relay *r, struct smart__relay_dgram *d, uint64_t now) {
  if (r->reply_len) {
    *d = (struct smart__relay_dgram){SMART__RELAY_REPLY, r->reply, r->reply_len, &r->reply_to};
    r->reply_len = 0;
    return 1;
  }
  if (r->fwd_to_group) {
    r->fwd_to_group = 0;
    *d = (struct smart__relay_dgram){SMART__RELAY_FEEDBACK, r->fwd, r->fwd_len,
                                     r->up ? &r->upstream : &r->group};
    return 1;
  }
  if (r->fwd && next_forward(r, d))
    return 1;
  return next_control(r, d, now);
}

uint64_t smart__relay_expiry(const struct smart__relay *r) {
  return smart__min_deadline(r->next_sweep, smart__tunnel_expiry(r->up));
}

void smart__relay_leave(struct smart__relay *r, uint64_t now) { smart__tunnel_leave(r->up, now); }

void smart__relay_get_stats(const struct smart__relay *r, struct smart__relay_stats *st) {
  *st = r->st;
  st->clients = r->nclients;
}
