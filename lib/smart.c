/*
 * The socket-like facade: drives the sans-IO engine (lib/engine) with real
 * UDP multicast sockets (lib/net) and the monotonic clock.
 *
 * Each joined socket owns two UDP sockets and an epoll descriptor:
 *   - the group socket, bound to the group's port and joined to the group:
 *     it hears data, heartbeats, confirmations and every receiver's requests;
 *   - the send socket, bound to the interface with an ephemeral port: every
 *     datagram leaves from it, so each sender has a distinct source address
 *     and port even when many share one host, and receivers tell senders
 *     apart by it. Datagrams on the group socket from our own send socket
 *     are our multicast loopback echo and are not fed to the engine;
 *   - the epoll descriptor watches both and is what smart_fd() returns.
 * Batches leave with UDP segmentation offload where the kernel has it, and
 * the sockets take coalesced datagrams in (UDP_GRO): see lib/net/udp.h.
 * Receivers that fall behind slow senders down: "Flow control" below.
 *
 * Autocorking (small-message packing): a message is handed to the kernel at
 * once unless the previous datagram left less than one send-syscall time
 * ago (the application is sending faster than the socket drains). Then
 * messages gather in the engine's queue and leave packed (FMT 2) when a
 * datagram's worth is queued, on the next call, or when smart_timeout()
 * expires (at most about a millisecond later). At moderate rates every
 * message leaves alone, at once.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "engine/engine.h"
#include "net/udp.h"
#include "proto/tunnel.h"
#include "proto/ident.h"
#include "proto/members.h"
#include "proto/sauth.h"
#include "proto/secure.h"
#include "util/bytes.h"
#include "wire/wire.h"
#include "smart/smart.h"

#define BATCH 32
#define PEER_MAX 4096
#define DEFAULT_SYNC 0x53
#define DEFAULT_GRTT_US 5000u
#define DEFAULT_MTU 1472u /* 1500-byte Ethernet frame less IPv4 and UDP headers */
#define RECV_BUF 65536u
#define CORK_MAX_NS 1000000u /* a corked datagram waits at most this long */
#define DATA_HDR 8u          /* the DATA header before a datagram's payload */

struct peer {
  struct smart__sockaddr addr; /* where it was last heard from */
  uint64_t last_heard;
  uint32_t id;
  uint32_t sid; /* secure mode: its authenticated sender ID */
  int used;
  /* `addr` as text, for smart_msginfo.sender: formatted when it changes,
   * not once per message */
  struct smart__sockaddr text_of;
  char text[48];
  uint64_t nak_tokens, nak_refill; /* per-requester request budget */
  int data; /* it sent DATA: a sender whose moves we follow */
};

/* Requests (REPLACEMENT) accepted from one peer: a burst of NAK_BURST, then
 * NAK_RATE per second. A flood of requests, forged or not, costs the sender
 * at most this much repair work per requester. */
#define NAK_RATE 200u
#define NAK_BURST 100u

static int nak_allowed(struct peer *p, uint64_t now) {
  uint64_t per = 1000000000u / NAK_RATE;
  if (p->nak_refill == 0) {
    p->nak_refill = now;
    p->nak_tokens = NAK_BURST;
  }
  if (now - p->nak_refill >= per) {
    uint64_t add = (now - p->nak_refill) / per;
    p->nak_tokens = p->nak_tokens + add > NAK_BURST ? NAK_BURST : p->nak_tokens + add;
    p->nak_refill += add * per;
  }
  if (p->nak_tokens == 0)
    return 0;
  p->nak_tokens--;
  return 1;
}

struct smart_sock {
  uint32_t open_flags;
  int nonblock;
  int joined;
  int gfd, sfd, epfd;
  struct smart__sockaddr group, source, self;
  int have_source;
  struct smart__iface ifc;
  struct smart__engine *eng;
  struct smart__engine_config cfg;

  /* options */
  int32_t ttl, loop, rcvtimeo_ms, last_os_error;
  uint32_t linger_ms, drop_ppm, mtu, max_msg;
  uint64_t rate;

  /* peers: id = index + 1 */
  struct peer *peers;
  uint32_t last_peer; /* index of the peer heard last */
  uint32_t npeers;

  /* output: datagrams produced by the engine but not yet accepted by the
   * kernel (SMART_EAGAIN), sent first next time */
  uint8_t *obuf;
  struct smart__dgram out[BATCH];
  unsigned nout, out_head;

  /* input batch */
  uint8_t *ibuf;
  struct smart__dgram in[BATCH];

  /* flow control (see "Flow control" below) */
  uint64_t fc_rate;               /* bytes/s now allowed; 0 = no limit of ours */
  uint64_t fc_est, fc_win_at, fc_win_bytes; /* measured send rate */
  uint64_t fc_cut_at, fc_grow_at; /* last decrease, last increase */
  uint64_t fc_heard_at;           /* last ERROR_REPORT 3 heard */
  uint64_t fill_next;             /* receiver: next look at the buffer */
  uint32_t fill_last;             /* receiver: bytes it held then */
  uint64_t rx_bytes, rx_rate;     /* receiver: read from the group socket; bytes/s */
  uint64_t rate_at, rate_bytes;   /* receiver: start of the rate's window */

  /* autocork */
  uint64_t last_tx, tx_cost, corked_since, last_call;
  size_t corked_bytes;
  size_t cork_fill;     /* bytes in the corked datagram being filled */
  unsigned cork_dgrams; /* corked datagrams already full */

  /* security (NULL sec: plain session) */
  struct smart__sec *sec;
  const struct smart_crypto_ops *ops;
  uint8_t *keys; /* secret memory: group key [0..32), identity [32..96) */
  int have_group_key, have_identity, auth_only;
  uint32_t rekey_ms, grace_ms;
  uint64_t rekey_bytes;
  uint8_t *scratch; /* opened datagrams */
  struct smart__ident *ident;   /* identity mode */
  struct smart__sauth *sauth;   /* source authentication */
  struct smart__members *mem;   /* membership, reports, events */
  uint32_t report_ms, member_timeout_ms;
  int leaving;                  /* smart_close: send USAGE_REPORT_LEAVE */
  uint64_t check_at, seen_auth, seen_rx, seen_bad; /* report triggers */
  /* a move (ADDR_RANGE_CHANGE): the previous group socket stays open for a
   * grace period; a sender announces the change before switching */
  int old_gfd;
  uint64_t old_close_at, switch_at, arc_next;
  unsigned arc_left, arc_sent;
  int arc_now; /* own_output just produced an announcement */
  struct smart__sockaddr next_group, arc_from;
  int moving;
  struct smart__tunnel *tunnel; /* joined through a relay (smart+tunnel://) */
  struct smart__sockaddr relay;
  uint32_t sauth_every, sauth_ms;
  uint8_t (*allowed)[32];       /* sender's allow-list, until the join */
  uint32_t nallowed;
  uint8_t pins[16][32];         /* pinned sender keys, until the join */
  uint32_t npins;
  uint64_t joins_refused, naks_limited;
  uint64_t drops_auth, drops_replay, rekeys;

  /* counters the engine does not keep */
  uint64_t dgrams_sent, dgrams_received, drops_injected, drops_other;
  uint64_t msgs_delivered, bytes_delivered, senders, drops_sync_pre;
  uint64_t rng;
};

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static int sys_err(smart_sock *s, int code) {
  if (code == SMART_ESYS)
    s->last_os_error = errno;
  return code;
}

/* The engine's id for a peer: by authenticated sender ID in a secure
 * session (its address may change or be spoofed), else by address. */
static uint32_t peer_id(smart_sock *s, const struct smart__sockaddr *a, uint32_t sid,
                        uint64_t now) {
  /* Most datagrams come from the peer the previous one came from (a
   * receiver hears one sender): try it first, then scan. */
  for (uint32_t k = 0; k < s->npeers; k++) {
    uint32_t i = k == 0 ? s->last_peer : k - 1 + (k - 1 >= s->last_peer);
    if (i >= s->npeers)
      continue;
    struct peer *p = &s->peers[i];
    if (p->used && (sid ? p->sid == sid : smart__addr_equal(&p->addr, a))) {
      p->last_heard = now;
      if (sid && !smart__addr_equal(&p->addr, a)) /* it moved (secure mode) */
        p->addr = *a;
      s->last_peer = i;
      return p->id;
    }
  }
  if (s->npeers >= PEER_MAX)
    return 0;
  if ((s->npeers & (s->npeers - 1)) == 0 || s->npeers == 0) {
    uint32_t cap = s->npeers ? s->npeers * 2 : 8;
    struct peer *np = realloc(s->peers, cap * sizeof(*np));
    if (!np)
      return 0;
    s->peers = np;
  }
  struct peer *p = &s->peers[s->npeers];
  memset(p, 0, sizeof(*p));
  p->addr = *a;
  p->last_heard = now;
  p->text[0] = 0;
  p->sid = sid;
  p->id = s->npeers + 1;
  p->used = 1;
  s->npeers++;
  return p->id;
}

static const struct smart__sockaddr *peer_addr(smart_sock *s, uint32_t id) {
  if (id == 0 || id > s->npeers)
    return NULL;
  return &s->peers[id - 1].addr;
}

static int engine_ensure(smart_sock *s) {
  if (s->eng)
    return 0;
  s->cfg.max_dgram = s->mtu;
  if (s->have_group_key || s->have_identity) {
    struct smart__sec_cfg sc = {
        .ops = s->ops ? s->ops : smart_crypto_sodium(),
        .mode = s->have_group_key ? SMART__SEC_GROUP : SMART__SEC_IDENTITY,
        .group_key = s->have_group_key ? s->keys : NULL,
        .identity = s->have_identity ? s->keys + 32 : NULL,
        .auth_only = s->auth_only,
        .grace_ns = (uint64_t)s->grace_ms * 1000000u,
        .rekey_ns = (uint64_t)s->rekey_ms * 1000000u,
        .rekey_bytes = s->rekey_bytes,
    };
    uint32_t id;
    int rc = smart__sec_new(&s->sec, &sc, &id);
    if (rc)
      return rc;
    if (!s->have_group_key) { /* identity mode */
      if ((rc = smart__ident_new(&s->ident, s->keys + 32)) != 0)
        return rc;
      for (uint32_t i = 0; i < s->nallowed && rc == 0; i++)
        rc = smart__ident_allow(s->ident, s->allowed[i]);
      for (uint32_t i = 0; i < s->npins && rc == 0; i++)
        rc = smart__ident_pin(s->ident, s->pins[i]);
      if (rc == 0)
        rc = smart__ident_start(s->ident, s->sec, smart__now());
      if (rc)
        return rc;
    }
    if (s->sauth_every) {
      /* A sender signs manifests with its identity; a socket that pinned
       * sender keys requires them. */
      struct smart__sauth_cfg ac = {
          .ops = sc.ops,
          .sk = s->have_identity ? s->keys + 32 : NULL,
          .every = s->have_identity ? s->sauth_every : 0,
          .interval_ns = (uint64_t)s->sauth_ms * 1000000u,
          .require = s->npins > 0,
          .hold_ns = 500000000u,
          .max_len = s->mtu,
      };
      if ((rc = smart__sauth_new(&s->sauth, &ac)) != 0)
        return rc;
      for (uint32_t i = 0; i < s->npins && rc == 0; i++)
        rc = smart__sauth_pin(s->sauth, s->pins[i]);
      if (rc)
        return rc;
    }
    s->cfg.session = id; /* heartbeats name the same sender ID */
    s->cfg.max_dgram = s->mtu - SMART__SEC_OVERHEAD;
  }
  s->cfg.rate = s->rate;
  if (s->cfg.burst < s->mtu)
    s->cfg.burst = s->mtu * 16;
  if (s->group.u.sa.sa_family == AF_INET)
    s->cfg.group = ntohl(s->group.u.in4.sin_addr.s_addr);
  int erc = smart__members_new(&s->mem, (uint64_t)s->report_ms * 1000000u,
                               (uint64_t)s->member_timeout_ms * 1000000u, rng_next(&s->rng));
  if (erc)
    return erc;
  return smart__engine_new(&s->eng, &s->cfg);
}

/* ---- open / close ----------------------------------------------------- */

SMART_API int smart_open(smart_sock **out, uint32_t flags) {
  if (!out || (flags & ~SMART_OPEN_NONBLOCK))
    return SMART_EINVAL;
  *out = NULL;
  smart_sock *s = calloc(1, sizeof(*s));
  if (!s)
    return SMART_ENOMEM;
  s->open_flags = flags;
  s->nonblock = (flags & SMART_OPEN_NONBLOCK) != 0;
  s->gfd = s->sfd = s->epfd = -1;
  s->ttl = 1;
  s->loop = 1;
  s->rcvtimeo_ms = -1;
  s->mtu = DEFAULT_MTU;
  s->max_msg = 64u << 20;
  smart__engine_config_init(&s->cfg);
  s->cfg.sync = DEFAULT_SYNC;
  s->cfg.grtt_us = DEFAULT_GRTT_US;
  s->grace_ms = 2000;
  s->report_ms = 5000;
  s->member_timeout_ms = 20000;
  s->old_gfd = -1;
  s->sauth_ms = 10;
  s->obuf = malloc((size_t)BATCH * 65536u);
  s->ibuf = malloc((size_t)BATCH * RECV_BUF);
  s->scratch = malloc(RECV_BUF);
  s->keys = smart__secure_alloc(96);
  if (!s->obuf || !s->ibuf || !s->scratch || !s->keys) {
    free(s->obuf);
    free(s->ibuf);
    free(s->scratch);
    if (s->keys)
      smart__secure_free(s->keys);
    free(s);
    return SMART_ENOMEM;
  }
  /* Seeds differ per socket; SMART_OPT_SEED makes a run reproducible. */
  s->rng = smart__now() ^ (uint64_t)(uintptr_t)s ^ ((uint64_t)getpid() << 32);
  s->cfg.seed = rng_next(&s->rng);
  *out = s;
  return 0;
}

static void close_fds(smart_sock *s) {
  if (s->epfd >= 0)
    close(s->epfd);
  if (s->gfd >= 0)
    close(s->gfd);
  if (s->sfd >= 0)
    close(s->sfd);
  if (s->old_gfd >= 0)
    close(s->old_gfd);
  s->epfd = s->gfd = s->sfd = s->old_gfd = -1;
  s->joined = 0;
}

static int flush_until(smart_sock *s, uint64_t deadline);
static int tx_drain(smart_sock *s, uint64_t now);
static void say_goodbye(smart_sock *s);
static int rx_drain(smart_sock *s, int fd, int is_group, uint64_t now);

SMART_API void smart_close(smart_sock *s) {
  if (!s)
    return;
  /* Linger: what is queued goes out first (at the rate limit), then the
   * group has until the repair interval is quiet, all within the linger. */
  if (s->joined && s->eng && (smart__engine_tx_lead(s->eng) || smart__engine_tx_queued(s->eng)) &&
      s->linger_ms)
    flush_until(s, smart__now() + (uint64_t)s->linger_ms * 1000000u);
  say_goodbye(s);
  close_fds(s);
  smart__engine_del(s->eng);
  smart__ident_del(s->ident);
  smart__sauth_del(s->sauth);
  smart__members_del(s->mem);
  smart__tunnel_del(s->tunnel);
  smart__sec_del(s->sec);
  smart__secure_free(s->keys);
  free(s->allowed);
  free(s->peers);
  free(s->obuf);
  free(s->ibuf);
  free(s->scratch);
  free(s);
}

/* ---- join / leave ----------------------------------------------------- */

/* Join through a relay: one unicast socket; the relay forwards the group's
 * datagrams to it, and everything we would multicast goes to the relay. */
static int join_tunnel(smart_sock *s, const char *url, const char *iface, const char *source) {
  struct smart__sockaddr relay, g;
  struct smart__iface ifc;
  int rc;
  if (s->joined || source || smart__tunnel_parse(url, &relay, &g) != 0)
    return SMART_EINVAL;
  if ((rc = smart__iface_resolve(iface, relay.u.sa.sa_family, &ifc)) != 0)
    return rc;
  s->sfd = smart__udp_socket(relay.u.sa.sa_family);
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (s->sfd < 0 || s->epfd < 0) {
    rc = s->sfd < 0 ? s->sfd : SMART_ESYS;
    goto fail;
  }
  if ((rc = smart__udp_bind_iface(s->sfd, &ifc)) != 0)
    goto fail;
  (void)smart__udp_gro(s->sfd);
  s->self.len = sizeof(s->self.u.ss);
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.fd = s->sfd;
  if (getsockname(s->sfd, &s->self.u.sa, &s->self.len) != 0 ||
      epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sfd, &ev) != 0) {
    rc = SMART_ESYS;
    goto fail;
  }
  s->group = g;
  s->relay = relay;
  s->ifc = ifc;
  if ((rc = engine_ensure(s)) != 0)
    goto fail;
  if ((rc = smart__tunnel_new(&s->tunnel, &relay, &g, &s->self, smart__now())) != 0)
    goto fail;
  s->joined = 1;
  return tx_drain(s, smart__now()); /* the first REQUEST_TUNNEL */
fail:
  sys_err(s, rc);
  close_fds(s);
  return rc;
}

SMART_API int smart_join(smart_sock *s, const char *group, const char *iface,
                         const char *source, uint32_t flags) {
  struct smart__sockaddr g, src;
  int rc;
  if (!s || !group || flags)
    return SMART_EINVAL;
  if (smart__tunnel_is_url(group))
    return join_tunnel(s, group, iface, source);
  if (smart__addr_parse(group, 0, &g) != 0 || !smart__addr_is_multicast(&g))
    return SMART_EINVAL;
  if (source && smart__addr_parse(source, 1, &src) != 0)
    return SMART_EINVAL;
  if (source && src.u.sa.sa_family != g.u.sa.sa_family)
    return SMART_EINVAL;
  if (s->joined) {
    /* One group per socket; more sources for a source-specific join. */
    if (!smart__addr_equal(&g, &s->group) || !source)
      return SMART_EINVAL;
    rc = smart__mcast_membership(s->gfd, &s->group, &s->ifc, &src, 1);
    return sys_err(s, rc);
  }
  int fam = g.u.sa.sa_family;
  struct smart__iface ifc;
  if ((rc = smart__iface_resolve(iface, fam, &ifc)) != 0)
    return rc;
  s->gfd = smart__udp_socket(fam);
  s->sfd = smart__udp_socket(fam);
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (s->gfd < 0 || s->sfd < 0 || s->epfd < 0) {
    rc = s->gfd < 0 ? s->gfd : s->sfd < 0 ? s->sfd : SMART_ESYS;
    goto fail;
  }
  if ((rc = smart__udp_bind_group(s->gfd, &g)) != 0 ||
      (rc = smart__udp_bind_iface(s->sfd, &ifc)) != 0 ||
      (rc = smart__mcast_out(s->sfd, fam, &ifc, s->ttl, s->loop)) != 0 ||
      (rc = smart__mcast_membership(s->gfd, &g, &ifc, source ? &src : NULL, 1)) != 0)
    goto fail;
  s->self.len = sizeof(s->self.u.ss);
  if (getsockname(s->sfd, &s->self.u.sa, &s->self.len) != 0) {
    rc = SMART_ESYS;
    goto fail;
  }
  /* Our own multicast comes back to the group socket: let the kernel drop
   * it (rx_drain still skips anything that gets through). */
  (void)smart__udp_ignore_source(s->gfd, &s->self);
  (void)smart__udp_gro(s->gfd);
  (void)smart__udp_gro(s->sfd);
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.fd = s->gfd;
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->gfd, &ev) != 0) {
    rc = SMART_ESYS;
    goto fail;
  }
  ev.data.fd = s->sfd;
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sfd, &ev) != 0) {
    rc = SMART_ESYS;
    goto fail;
  }
  s->group = g;
  s->ifc = ifc;
  s->have_source = source != NULL;
  if (source)
    s->source = src;
  if ((rc = engine_ensure(s)) != 0)
    goto fail;
  s->joined = 1;
  return 0;
fail:
  sys_err(s, rc);
  close_fds(s);
  return rc;
}

/* Leaving: a receiver's USAGE_REPORT_LEAVE first (through the tunnel while
 * it still exists), then the tunnel's LEAVE_TUNNEL, repeated as the relay's
 * echo is awaited for up to 3 x 200 ms. */
static void say_goodbye(smart_sock *s) {
  if (!s->joined || !s->mem)
    return;
  s->leaving = 1;
  tx_drain(s, smart__now());
  if (!s->tunnel)
    return;
  uint64_t end = smart__now() + SMART__TUN_LEAVE_TRIES * SMART__TUN_LEAVE_GAP_NS;
  smart__tunnel_leave(s->tunnel, smart__now());
  while (smart__tunnel_state(s->tunnel) != SMART__TUN_CLOSED && smart__now() < end) {
    tx_drain(s, smart__now());
    struct pollfd p = {.fd = s->sfd, .events = POLLIN};
    if (poll(&p, 1, 20) > 0)
      rx_drain(s, s->sfd, 0, smart__now());
  }
}

SMART_API int smart_leave(smart_sock *s, const char *group, const char *source) {
  struct smart__sockaddr g, src;
  if (!s || !group)
    return SMART_EINVAL;
  if (!s->joined)
    return SMART_ENOTCONN;
  if (s->tunnel) { /* the URL it was joined with, or its group */
    struct smart__sockaddr relay;
    int same = smart__tunnel_is_url(group)
                   ? smart__tunnel_parse(group, &relay, &g) == 0 &&
                         smart__addr_equal(&relay, &s->relay) && smart__addr_equal(&g, &s->group)
                   : smart__addr_parse(group, 0, &g) == 0 && smart__addr_equal(&g, &s->group);
    if (!same || source)
      return SMART_EINVAL;
    say_goodbye(s);
    smart__tunnel_del(s->tunnel);
    s->tunnel = NULL;
    close_fds(s);
    return 0;
  }
  if (smart__addr_parse(group, 0, &g) != 0 || !smart__addr_equal(&g, &s->group))
    return SMART_EINVAL;
  if (source) {
    if (smart__addr_parse(source, 1, &src) != 0)
      return SMART_EINVAL;
    return sys_err(s, smart__mcast_membership(s->gfd, &g, &s->ifc, &src, 0));
  }
  close_fds(s);
  return 0;
}

/* ---- the I/O pump ----------------------------------------------------- */

/* Flow control (smart-protocol(7), "FLOW CONTROL"). A receiver measures
 * what it reads from its group socket (bytes/s, over at least
 * FC_RATE_MIN_NS). After a full batch (a backlog) it looks at how full the
 * socket's buffer is, at most once per FC_LOOK_NS; more than half full and
 * fuller than at its previous look, or more than three quarters full, it
 * multicasts ERROR_REPORT 3 with its reading rate (KiB/s) and the fill
 * (per mille). A sender that hears one limits itself to the lower of 7/8 of
 * that rate and 3/4 of what it sent (measured) or was allowed, at most once
 * per max(GRTT, FC_GAP_NS) and never below FC_FLOOR; every such interval
 * without a report raises the limit by 1/32, and a second without one lifts
 * it. SMART_OPT_RATE stays an upper bound. So a sender with segmentation
 * offload does not bury a receiver that spends more per datagram
 * (decryption, verification, a slow application) than it does. */
#define FC_WINDOW_NS 2000000u    /* send rate measured over 2 ms windows */
#define FC_GAP_NS 2000000u       /* at most one cut per max(GRTT, 2 ms) */
#define FC_LOOK_NS 1000000u      /* a receiver looks at its buffer once per ms */
#define FC_RATE_MIN_NS 10000000u /* its reading rate: over 10 ms at least */
#define FC_RATE_MAX_NS 200000000u /* ... and 200 ms at most (else idle: no rate) */
#define FC_FLOOR (1u << 20)      /* bytes/s */
#define FC_LIFT_NS 1000000000u   /* no report for this long: no limit */

static uint64_t fc_gap(const smart_sock *s) {
  uint64_t g = (uint64_t)s->cfg.grtt_us * 1000u;
  return g > FC_GAP_NS ? g : FC_GAP_NS;
}

/* Hand the engine the rate allowed now: ours and the application's. */
static void fc_apply(smart_sock *s, uint64_t now) {
  uint64_t r = s->fc_rate;
  if (s->rate && (!r || s->rate < r))
    r = s->rate;
  uint64_t burst = s->cfg.burst, ms = r / 1000u; /* a millisecond's worth at least */
  if (r && ms > burst)
    burst = ms < (1u << 20) ? ms : (1u << 20);
  smart__engine_set_rate(s->eng, r, (uint32_t)burst, now);
}

/* An ERROR_REPORT 3 from a receiver reading `kib_s` KiB/s (0: unknown). */
static void fc_cut(smart_sock *s, uint32_t kib_s, uint64_t now) {
  if (!smart__engine_tx_lead(s->eng))
    return; /* not sending */
  s->fc_heard_at = now;
  if (s->fc_cut_at && now - s->fc_cut_at < fc_gap(s))
    return; /* reports on their way already knew of the last cut */
  uint64_t base = s->fc_rate && s->fc_rate < s->fc_est ? s->fc_rate : s->fc_est;
  uint64_t r = base - base / 4, rx = (uint64_t)kib_s * 1024u;
  if (rx && (!r || rx - rx / 8 < r))
    r = rx - rx / 8;
  if (!r)
    return;
  s->fc_rate = r > FC_FLOOR ? r : FC_FLOOR;
  s->fc_cut_at = s->fc_grow_at = now;
  fc_apply(s, now);
}

static void fc_grow(smart_sock *s, uint64_t now) {
  uint64_t gap = fc_gap(s);
  if (now - s->fc_grow_at < gap)
    return;
  s->fc_grow_at = now;
  if (now - s->fc_heard_at < gap)
    return; /* still hearing reports */
  s->fc_rate = now - s->fc_heard_at >= FC_LIFT_NS ? 0 : s->fc_rate + s->fc_rate / 32;
  fc_apply(s, now);
}

/* Receiver: what it read from its group socket, for its reading rate. */
static void fc_count(smart_sock *s, uint64_t bytes, uint64_t now) {
  s->rx_bytes += bytes;
  uint64_t dt = now - s->rate_at;
  if (dt < FC_RATE_MIN_NS)
    return;
  s->rx_rate = dt <= FC_RATE_MAX_NS ? (s->rx_bytes - s->rate_bytes) * 1000000000u / dt : 0;
  s->rate_at = now;
  s->rate_bytes = s->rx_bytes;
}

/* Receiver: after a full batch from the group socket, is the buffer
 * filling? */
static void fc_look(smart_sock *s, int fd, uint64_t now) {
  uint32_t used, size;
  if (now < s->fill_next || smart__udp_rx_fill(fd, &used, &size) != 0 || !size)
    return;
  s->fill_next = now + FC_LOOK_NS;
  uint64_t kib = s->rx_rate / 1024u;
  if ((uint64_t)used * 2 > size &&
      (used > s->fill_last || (uint64_t)used * 4 > (uint64_t)size * 3))
    (void)smart__members_pressure(s->mem, kib > UINT32_MAX ? UINT32_MAX : (uint32_t)kib,
                                  (uint32_t)((uint64_t)used * 1000u / size));
  s->fill_last = used;
}

/* Hand pending datagrams to the kernel. Returns 0, SMART_EAGAIN when the
 * socket is full (some stay pending), or an error. */
static int tx_pending(smart_sock *s) {
  while (s->out_head < s->nout) {
    uint64_t t0 = smart__now();
    int n = smart__udp_send_batch(s->sfd, s->out + s->out_head, s->nout - s->out_head);
    uint64_t t1 = smart__now();
    if (n < 0) {
      if (n == SMART_EAGAIN)
        return SMART_EAGAIN;
      if (n == SMART_EINVAL || n == SMART_EMSGSIZE) { /* drop the culprit */
        s->out_head++;
        s->drops_other++;
        continue;
      }
      return sys_err(s, n);
    }
    s->dgrams_sent += (uint64_t)n;
    for (int i = 0; i < n; i++)
      s->fc_win_bytes += s->out[s->out_head + (unsigned)i].len;
    if (t1 - s->fc_win_at >= FC_WINDOW_NS) {
      uint64_t r = s->fc_win_at ? s->fc_win_bytes * 1000000000u / (t1 - s->fc_win_at) : 0;
      s->fc_est = s->fc_est ? (s->fc_est + r) / 2 : r;
      s->fc_win_at = t1;
      s->fc_win_bytes = 0;
    }
    s->out_head += (unsigned)n;
    /* Per-datagram cost of the send path, smoothed (1/8). A sample is
     * wall time and includes any preemption during the call (on one host,
     * often by the receiver the datagram just woke): it counts for at most
     * twice the estimate, so that one slow call does not make a sender at a
     * moderate rate look backlogged. */
    uint64_t per = (t1 - t0) / (uint64_t)n;
    if (s->tx_cost && per > 2 * s->tx_cost)
      per = 2 * s->tx_cost;
    s->tx_cost = s->tx_cost ? s->tx_cost - s->tx_cost / 8 + per / 8 : per;
    s->last_tx = t1;
  }
  s->nout = s->out_head = 0;
  return 0;
}

/* Source authentication, sender side: note what was just sealed. */
static int sauth_note(smart_sock *s, const uint8_t *sealed, size_t len, uint64_t now) {
  uint8_t nonce[24];
  smart__sec_last_nonce(s->sec, nonce);
  uint64_t counter = (uint64_t)nonce[16] << 56 | (uint64_t)nonce[17] << 48 |
                     (uint64_t)nonce[18] << 40 | (uint64_t)nonce[19] << 32 |
                     (uint64_t)nonce[20] << 24 | (uint64_t)nonce[21] << 16 |
                     (uint64_t)nonce[22] << 8 | nonce[23];
  return smart__sauth_note(s->sauth, smart__sec_id(s->sec), counter, sealed, len, now);
}

/* Pull everything due from the engine and transmit it in batches. */
/* Where "the group" is for what we send: the relay when tunnelled. */
static const struct smart__sockaddr *group_dest(const smart_sock *s) {
  return s->tunnel ? &s->relay : &s->group;
}

static uint32_t v4_of(const struct smart__sockaddr *a) {
  return a->u.sa.sa_family == AF_INET ? ntohl(a->u.in4.sin_addr.s_addr) : 0;
}

static uint16_t port_of(const struct smart__sockaddr *a) {
  return ntohs(a->u.sa.sa_family == AF_INET ? a->u.in4.sin_port : a->u.in6.sin6_port);
}

/* ADDR_RANGE_CHANGE naming `g` (a range of one group): Address[1] and [2]
 * the IPv4 group (0 for IPv6, then the ADDR6 extension), PORT the port. */
static size_t arc_build(smart_sock *s, uint8_t *buf, size_t cap, const struct smart__sockaddr *g) {
  struct smart__pkt p;
  uint8_t ext[64], ports[4];
  size_t el = 0;
  memset(&p, 0, sizeof(p));
  p.sync = s->cfg.sync;
  p.typ = SMART__TYP_MSG;
  p.cmd = SMART__MSG_ADDR_RANGE_CHANGE;
  p.u.addr.addr1 = p.u.addr.addr2 = v4_of(g);
  ports[0] = ports[2] = (uint8_t)(port_of(g) >> 8);
  ports[1] = ports[3] = (uint8_t)port_of(g);
  smart__ext_put(ext, sizeof(ext), &el, SMART__EXT_PORT, ports, 4);
  if (g->u.sa.sa_family == AF_INET6) {
    uint8_t two[32];
    memcpy(two, &g->u.in6.sin6_addr, 16);
    memcpy(two + 16, &g->u.in6.sin6_addr, 16);
    smart__ext_put(ext, sizeof(ext), &el, SMART__EXT_ADDR6, two, 32);
  }
  p.ext = ext;
  p.ext_len = el;
  smart_ssize n = smart__pkt_encode(buf, cap, &p);
  return n > 0 ? (size_t)n : 0;
}

/* What the facade itself sends: a move's announcements, then reports. */
static smart_ssize own_output(smart_sock *s, uint8_t *buf, size_t cap, uint64_t now) {
  if (s->arc_left && now >= s->arc_next) {
    /* Three announcements 20 ms apart, then one every 250 ms while the old
     * group socket stays open, so that a receiver that lost the first ones
     * (or joins the old group late) still follows. */
    s->arc_left--;
    s->arc_next = now + (++s->arc_sent < 3 ? 20000000u : 250000000u);
    s->arc_now = 1;
    return (smart_ssize)arc_build(s, buf, cap, &s->next_group);
  }
  s->arc_now = 0;
  if (!smart__members_due(s->mem, s->leaving, now))
    return 0; /* the common case: no report due, no counters to gather */
  struct smart__stats e;
  e.size = sizeof(e);
  smart__engine_get_stats(s->eng, &e);
  struct smart__rx_counts c = {e.msgs_received, e.losses_recovered, e.losses_unrecoverable,
                               s->drops_auth};
  return smart__members_output(s->mem, buf, cap, s->cfg.sync, v4_of(&s->self), v4_of(&s->group),
                               &c, s->leaving, now);
}

static int tx_drain(smart_sock *s, uint64_t now) {
  int man_due = 0;
  int rc = tx_pending(s);
  if (rc)
    return rc == SMART_EAGAIN ? 0 : rc;
  for (;;) {
    while (s->tunnel && s->nout < BATCH) { /* tunnel requests, keepalives, leave */
      struct smart__dgram *d = &s->out[s->nout];
      d->buf = s->obuf + (size_t)s->nout * 65536u;
      smart_ssize n = smart__tunnel_output(s->tunnel, d->buf, 65536u - SMART__SEC_OVERHEAD,
                                           s->cfg.sync, now);
      if (n <= 0)
        break;
      if (s->sec && (n = smart__sec_seal(s->sec, d->buf, (size_t)n, 65536u, now)) < 0)
        break;
      d->len = (size_t)n;
      d->peer = s->relay;
      s->nout++;
    }
    while (s->ident && s->nout < BATCH) { /* joins and key deliveries */
      struct smart__dgram *d = &s->out[s->nout];
      d->buf = s->obuf + (size_t)s->nout * 65536u;
      uint32_t g4 = s->group.u.sa.sa_family == AF_INET ? ntohl(s->group.u.in4.sin_addr.s_addr) : 0;
      smart_ssize n = smart__ident_output(s->ident, d->buf, 65536u, s->cfg.sync, g4, now);
      if (n <= 0)
        break;
      d->len = (size_t)n;
      d->peer = *group_dest(s);
      s->nout++;
    }
    while (s->sauth && s->nout < BATCH) { /* signed manifests */
      struct smart__dgram *d = &s->out[s->nout];
      d->buf = s->obuf + (size_t)s->nout * 65536u;
      uint32_t g4 = s->group.u.sa.sa_family == AF_INET ? ntohl(s->group.u.in4.sin_addr.s_addr) : 0;
      smart_ssize n = smart__sauth_output(s->sauth, d->buf, 65536u, s->cfg.sync, g4, now);
      if (n <= 0)
        break;
      n = smart__sec_seal(s->sec, d->buf, (size_t)n, 65536u, now);
      if (n < 0)
        break;
      d->len = (size_t)n;
      d->peer = *group_dest(s);
      s->nout++;
    }
    while (s->mem && s->nout < BATCH) { /* reports and announcements */
      struct smart__dgram *d = &s->out[s->nout];
      d->buf = s->obuf + (size_t)s->nout * 65536u;
      smart_ssize n = own_output(s, d->buf, 65536u, now);
      if (n <= 0)
        break;
      if (s->sec) {
        n = smart__sec_seal(s->sec, d->buf, (size_t)n, 65536u, now);
        if (n < 0)
          break; /* no key yet: reports wait */
        if (s->sauth)
          sauth_note(s, d->buf, (size_t)n, now);
      }
      d->len = (size_t)n;
      /* An announcement goes to the group being left, even after the
       * switch; everything else to the current group. */
      d->peer = s->arc_now && !s->tunnel ? s->arc_from : *group_dest(s);
      s->nout++;
    }
    while (s->nout < BATCH) {
      struct smart__dgram *d = &s->out[s->nout];
      struct smart__dst dst;
      d->buf = s->obuf + (size_t)s->nout * 65536u;
      smart_ssize n = smart__engine_send(s->eng, d->buf, 65536u, &dst, now);
      if (n < 0)
        return n;
      if (n == 0)
        break;
      if (s->sec) {
        n = smart__sec_seal(s->sec, d->buf, (size_t)n, 65536u, now);
        if (n == SMART_ESTATE) /* no key yet (identity mode): not sent */
          continue;
        if (n < 0)
          return n;
        if (s->sauth && sauth_note(s, d->buf, (size_t)n, now))
          man_due = 1; /* a manifest is full: send it before more data */
      }
      d->len = (size_t)n;
      if (dst.kind == SMART__DST_UNICAST) {
        const struct smart__sockaddr *a = peer_addr(s, dst.src_id);
        if (!a)
          continue;
        d->peer = *a;
      } else {
        d->peer = *group_dest(s);
      }
      s->nout++;
      if (man_due)
        break;
    }
    if (s->nout == 0)
      break;
    int again = s->nout == BATCH || man_due;
    man_due = 0;
    rc = tx_pending(s);
    if (rc)
      return rc == SMART_EAGAIN ? 0 : rc;
    if (!again)
      break;
  }
  s->corked_bytes = 0;
  s->corked_since = 0;
  s->cork_fill = 0;
  s->cork_dgrams = 0;
  return 0;
}

static const char *peer_text(smart_sock *s, uint32_t id) {
  struct peer *p = &s->peers[id - 1];
  if (!p->text[0] || !smart__addr_equal(&p->text_of, &p->addr)) {
    smart__addr_format(&p->addr, p->text, sizeof(p->text));
    p->text_of = p->addr;
  }
  return p->text;
}

/* A new group socket for `g`, joined and watched; -1 or an fd. */
static int open_group_fd(smart_sock *s, const struct smart__sockaddr *g) {
  int fd = smart__udp_socket(g->u.sa.sa_family);
  if (fd < 0)
    return -1;
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.fd = fd;
  if (smart__udp_bind_group(fd, g) != 0 ||
      smart__mcast_membership(fd, g, &s->ifc, s->have_source ? &s->source : NULL, 1) != 0 ||
      epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    close(fd);
    return -1;
  }
  (void)smart__udp_ignore_source(fd, &s->self);
  (void)smart__udp_gro(fd);
  return fd;
}

/* Start using group `g` for receiving (and, for a receiver, for its own
 * feedback); the previous group socket keeps listening for 2 s, so that
 * datagrams already on their way are not lost. */
static int switch_group(smart_sock *s, const struct smart__sockaddr *g, uint64_t now) {
  int fd = open_group_fd(s, g);
  if (fd < 0)
    return SMART_ESYS;
  if (s->old_gfd >= 0)
    close(s->old_gfd);
  s->old_gfd = s->gfd;
  s->old_close_at = now + 2000000000u;
  s->gfd = fd;
  return 0;
}

/* An authenticated ADDR_RANGE_CHANGE from a sender we receive: follow it. */
static void follow_move(smart_sock *s, const uint8_t *dg, size_t len, uint64_t now) {
  struct smart__pkt p;
  const uint8_t *v;
  size_t vl;
  if (smart__pkt_decode(&p, dg, len) != 0)
    return;
  struct smart__sockaddr g;
  memset(&g, 0, sizeof(g));
  if (!smart__ext_find(p.ext, p.ext_len, SMART__EXT_PORT, &v, &vl) || vl != 4)
    return;
  uint16_t port = (uint16_t)(v[0] << 8 | v[1]);
  if (s->group.u.sa.sa_family == AF_INET) {
    g.u.in4.sin_family = AF_INET;
    g.u.in4.sin_addr.s_addr = htonl(p.u.addr.addr1);
    g.u.in4.sin_port = htons(port);
    g.len = sizeof(struct sockaddr_in);
  } else {
    if (!smart__ext_find(p.ext, p.ext_len, SMART__EXT_ADDR6, &v, &vl) || vl != 32)
      return;
    g.u.in6.sin6_family = AF_INET6;
    memcpy(&g.u.in6.sin6_addr, v, 16);
    g.u.in6.sin6_port = htons(port);
    g.len = sizeof(struct sockaddr_in6);
  }
  if (!smart__addr_is_multicast(&g) || smart__addr_equal(&g, &s->group))
    return; /* a repeat of the announcement, or nonsense */
  if (switch_group(s, &g, now) != 0)
    return;
  s->group = g;
  struct smart_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.size = sizeof(ev);
  ev.type = SMART_EVENT_GROUP_CHANGED;
  smart__addr_format(&g, ev.member, sizeof(ev.member));
  smart__members_push(s->mem, &ev);
}

/* Route a datagram that passed every check: reports and moves are the
 * facade's; everything else is the engine's. */
static void deliver(smart_sock *s, uint32_t id, const uint8_t *dg, size_t len, uint64_t now) {
  struct peer *p = &s->peers[id - 1];
  if (len >= SMART__DATA_HDR_LEN && dg[1] >> 6 == SMART__TYP_DATA) {
    if (!p->data) {
      p->data = 1;
      smart__members_heard(s->mem, 0, now);
    }
    struct smart__hb hb;
    if (((dg[1] >> 4) & 3) == SMART__DCMD_HEARTBEAT && !(dg[6] & 0x20) &&
        smart__hb_decode(&hb, dg + SMART__DATA_HDR_LEN, len - SMART__DATA_HDR_LEN) == 0)
      smart__members_heard(s->mem, hb.gsize, now);
  } else if (len >= 2 && dg[1] == (SMART__TYP_MSG << 6 | SMART__MSG_ADDR_RANGE_CHANGE) &&
             smart__pkt_decode(&(struct smart__pkt){0}, dg, len) == 0) {
    if (p->data && !s->tunnel) /* only a sender we receive moves us (a relay serves one group) */
      follow_move(s, dg, len, now);
    else
      s->drops_other++; /* a change from someone who sends us nothing */
    return;
  } else {
    if (len >= SMART__REPORT_MSG_LEN && dg[1] == (SMART__TYP_MSG << 6 | SMART__MSG_ERROR_REPORT) &&
        smart__get32(dg + 12) == SMART_ERROR_OVERFLOW)
      fc_cut(s, smart__get32(dg + 16), now); /* then it is a report like any other */
    if (smart__members_input(s->mem, id, peer_text(s, id), dg, len, now))
      return;
  }
  smart__engine_recv(s->eng, id, dg, len, now); /* drops are counted inside */
}

static uint32_t peer_by_sid(smart_sock *s, uint32_t sid) {
  for (uint32_t i = 0; i < s->npeers; i++)
    if (s->peers[i].used && s->peers[i].sid == sid)
      return s->peers[i].id;
  return 0;
}

/* Hand the engine every held datagram a verified manifest released. */
static void sauth_release(smart_sock *s, uint64_t now) {
  uint32_t sid;
  size_t n;
  while ((n = smart__sauth_take(s->sauth, s->scratch, RECV_BUF, &sid)) > 0) {
    uint32_t id = peer_by_sid(s, sid);
    if (id)
      deliver(s, id, s->scratch, n, now);
  }
}

static void rx_one(smart_sock *s, struct smart__dgram *d, uint64_t now) {
  s->dgrams_received++;
  if (d->len == (size_t)-1) { /* truncated by the kernel: larger than any SMART datagram */
    s->drops_other++;
    return;
  }
  if (s->drop_ppm && rng_next(&s->rng) % 1000000u < s->drop_ppm) {
    s->drops_injected++;
    return;
  }
  const uint8_t *dg = d->buf;
  size_t len = d->len;
  uint32_t sid = 0;
  if (s->ident) {
    int refused, bad;
    if (smart__ident_input(s->ident, d->buf, d->len, now, &refused, &bad)) {
      s->joins_refused += (uint64_t)refused;
      s->drops_auth += (uint64_t)bad;
      return;
    }
  }
  if (s->sec) {
    smart_ssize n = smart__sec_open(s->sec, d->buf, d->len, s->scratch, RECV_BUF, &sid, now);
    if (n < 0) {
      if (n == SMART_ERANGE)
        s->drops_replay++;
      else
        s->drops_auth++;
      if (s->ident)
        smart__ident_want(s->ident, smart__sec_take_missing(s->sec), now);
      return;
    }
    dg = s->scratch;
    len = (size_t)n;
  }
  if (s->tunnel && smart__addr_equal(&d->peer, &s->relay) &&
      smart__tunnel_input(s->tunnel, dg, len, now)) {
    tx_drain(s, now); /* a reply may be due */
    return;
  }
  uint32_t id = peer_id(s, &d->peer, sid, now);
  if (!id) {
    s->drops_other++;
    return;
  }
  if (len >= 2 && dg[1] == (SMART__TYP_REQ << 6 | SMART__REQ_REPLACEMENT) &&
      !nak_allowed(&s->peers[id - 1], now)) {
    s->naks_limited++;
    return;
  }
  if (s->sauth) {
    if (smart__sauth_manifest(s->sauth, dg, len, now)) {
      sauth_release(s, now);
      return;
    }
    if (smart__sauth_holds(s->sauth, dg, len)) {
      const uint8_t *c = d->buf[1] >> 6 == SMART__TYP_DATA ? d->buf + 32 : d->buf + d->len - 24;
      uint64_t counter = (uint64_t)c[0] << 56 | (uint64_t)c[1] << 48 | (uint64_t)c[2] << 40 |
                         (uint64_t)c[3] << 32 | (uint64_t)c[4] << 24 | (uint64_t)c[5] << 16 |
                         (uint64_t)c[6] << 8 | c[7];
      smart__sauth_hold(s->sauth, sid, counter, d->buf, d->len, dg, len, now);
      sauth_release(s, now); /* its manifest may have come first */
      return;
    }
  }
  deliver(s, id, dg, len, now);
}

/* Read what is waiting on `fd` and hand it on: a few batches, about
 * RX_DRAIN_MAX datagrams at most, so that the application gets them soon
 * (one entry may hold many datagrams of a segmentation-offload send). */
#define RX_DRAIN_MAX 256u
static int rx_drain(smart_sock *s, int fd, int is_group, uint64_t now) {
  unsigned got = 0;
  for (int rounds = 0; rounds < 8 && got < RX_DRAIN_MAX; rounds++) {
    for (unsigned i = 0; i < BATCH; i++) {
      s->in[i].buf = s->ibuf + (size_t)i * RECV_BUF;
      s->in[i].len = RECV_BUF;
    }
    int n = smart__udp_recv_batch(fd, s->in, BATCH);
    if (n < 0)
      return sys_err(s, n);
    if (is_group) {
      uint64_t bytes = 0;
      for (int i = 0; i < n; i++)
        bytes += s->in[i].len != (size_t)-1 ? s->in[i].len : 0;
      fc_count(s, bytes, now);
      if (n == BATCH)
        fc_look(s, fd, now); /* a backlog: is the buffer filling? */
    }
    for (int i = 0; i < n; i++) {
      struct smart__dgram *d = &s->in[i];
      if (is_group && smart__addr_equal(&d->peer, &s->self))
        continue; /* our own multicast, looped back */
      if (!d->seg) {
        got++;
        rx_one(s, d, now);
        continue;
      }
      /* Datagrams of one segmentation-offload send, delivered together:
       * each is a datagram of its own. */
      struct smart__dgram one = *d;
      for (size_t off = 0; off < d->len; off += d->seg) {
        one.buf = d->buf + off;
        one.len = d->len - off < d->seg ? d->len - off : d->seg;
        got++;
        rx_one(s, &one, now);
      }
    }
    if (n < BATCH)
      break;
  }
  return 0;
}

/* A new key epoch: derived (group key) or drawn and delivered (identity),
 * switched to after a lead of max(50 ms, 4 GRTT) in identity mode. */
static int do_rekey(smart_sock *s, uint64_t now) {
  if (s->ident) {
    uint64_t lead = 4 * (uint64_t)s->cfg.grtt_us * 1000u;
    int rc = smart__ident_rekey(s->ident, now, lead < 50000000u ? 50000000u : lead);
    if (rc == 0)
      smart__sec_rekey_started(s->sec, now);
    return rc;
  }
  return smart__sec_rekey(s->sec, now);
}

/* Timers of the facade: a move's switch, the old group socket, members,
 * and the triggers of error and problem reports (checked every second). */
static void housekeeping(smart_sock *s, uint64_t now) {
  if (s->moving && now >= s->switch_at) { /* a sender's move takes effect */
    s->group = s->next_group;
    s->moving = 0;
  }
  if (s->old_gfd >= 0 && now >= s->old_close_at) {
    close(s->old_gfd);
    s->old_gfd = -1;
  }
  smart__members_expire(s->mem, now);
  if (now < s->check_at)
    return;
  s->check_at = now + 1000000000u;
  struct smart__stats e;
  e.size = sizeof(e);
  smart__engine_get_stats(s->eng, &e);
  uint64_t rx = s->dgrams_received, bad = e.losses_recovered + e.losses_unrecoverable;
  if (s->drops_auth - s->seen_auth >= 100)
    smart__members_report(s->mem, 1, SMART_ERROR_AUTH, (uint32_t)(s->drops_auth - s->seen_auth),
                          0, now);
  if (rx - s->seen_rx >= 100 && (bad - s->seen_bad) * 20 > rx - s->seen_rx)
    smart__members_report(s->mem, 0, SMART_PROBLEM_HIGH_LOSS,
                          (uint32_t)((bad - s->seen_bad) * 1000000u / (rx - s->seen_rx)), 0, now);
  s->seen_auth = s->drops_auth;
  s->seen_rx = rx;
  s->seen_bad = bad;
}

/* Which sockets have input: READY_GROUP | READY_SEND | READY_OLD, as
 * wait_io() found them, or READY_UNKNOWN. */
#define READY_GROUP 1
#define READY_SEND 2
#define READY_OLD 4
#define READY_UNKNOWN (-1)

static int pump_ready(smart_sock *s, int ready) {
  uint64_t now = smart__now();
  int rc;
  if (ready == READY_UNKNOWN) {
    /* One non-blocking look at every socket (the epoll set is level
     * triggered) costs less than a recvmmsg on each that finds nothing,
     * the common case for a sender. */
    struct epoll_event ev[3];
    int nev = epoll_wait(s->epfd, ev, 3, 0);
    if (nev < 0 && errno != EINTR)
      return sys_err(s, SMART_ESYS);
    ready = 0;
    for (int i = 0; i < nev; i++)
      ready |= ev[i].data.fd == s->gfd   ? READY_GROUP
               : ev[i].data.fd == s->sfd ? READY_SEND
               : s->old_gfd >= 0 && ev[i].data.fd == s->old_gfd ? READY_OLD
                                                                  : 0;
  }
  int g_ready = ready & READY_GROUP, s_ready = ready & READY_SEND, o_ready = ready & READY_OLD;
  if ((g_ready && (rc = rx_drain(s, s->gfd, 1, now)) != 0) ||
      (s_ready && (rc = rx_drain(s, s->sfd, 0, now)) != 0) ||
      (o_ready && (rc = rx_drain(s, s->old_gfd, 1, now)) != 0))
    return rc;
  housekeeping(s, now);
  if (s->fc_rate)
    fc_grow(s, now);
  if (s->sauth)
    smart__sauth_expire(s->sauth, now);
  if (smart__engine_expiry(s->eng) <= now &&
      (rc = smart__engine_handle_expiry(s->eng, now)) != 0)
    return rc;
  if (s->sec && smart__engine_tx_lead(s->eng) && smart__sec_rekey_due(s->sec, now) &&
      do_rekey(s, now) == 0)
    s->rekeys++;
  return tx_drain(s, now);
}

static int pump(smart_sock *s) { return pump_ready(s, READY_UNKNOWN); }

SMART_API int smart_process(smart_sock *s, uint32_t events) {
  if (!s)
    return SMART_EINVAL;
  if (!s->joined)
    return SMART_ENOTCONN;
  return pump(s);
}

SMART_API int smart_fd(smart_sock *s) {
  if (!s)
    return SMART_EINVAL;
  return s->joined ? s->epfd : SMART_ENOTCONN;
}

static uint64_t next_deadline(smart_sock *s) {
  uint64_t t = smart__engine_expiry(s->eng);
  if (s->ident) {
    uint64_t it = smart__ident_expiry(s->ident);
    t = it < t ? it : t;
  }
  if (s->sauth) {
    uint64_t at = smart__sauth_expiry(s->sauth);
    t = at < t ? at : t;
  }
  if (s->tunnel) {
    uint64_t tt = smart__tunnel_expiry(s->tunnel);
    t = tt < t ? tt : t;
  }
  uint64_t mt = smart__members_expiry(s->mem);
  t = mt < t ? mt : t;
  if (s->arc_left && s->arc_next < t)
    t = s->arc_next;
  if (s->moving && s->switch_at < t)
    t = s->switch_at;
  if (s->old_gfd >= 0 && s->old_close_at < t)
    t = s->old_close_at;
  if (s->corked_bytes && s->corked_since + CORK_MAX_NS < t)
    t = s->corked_since + CORK_MAX_NS;
  if (s->nout > s->out_head) /* the kernel refused some: retry soon */
    t = smart__now() + 200000u < t ? smart__now() + 200000u : t;
  return t;
}

SMART_API int32_t smart_timeout(smart_sock *s) {
  if (!s || !s->joined)
    return -1;
  uint64_t t = next_deadline(s);
  if (t == UINT64_MAX)
    return -1;
  uint64_t now = smart__now();
  if (t <= now)
    return 0;
  uint64_t ms = (t - now + 999999u) / 1000000u;
  return ms > INT32_MAX ? INT32_MAX : (int32_t)ms;
}

/* Wait for input or the next timer, at most until `deadline` (UINT64_MAX:
 * no limit). Returns the READY_ bits of the sockets with input (0 when the
 * time came first), for pump_ready(), or an error. */
static int wait_io(smart_sock *s, uint64_t deadline) {
  uint64_t now = smart__now();
  uint64_t t = next_deadline(s);
  if (deadline < t)
    t = deadline;
  /* To the nanosecond: a rate-limited sender waits for tokens, often far
   * less than a millisecond. */
  struct timespec ts, *tp = NULL;
  if (t != UINT64_MAX) {
    uint64_t d = t > now ? t - now : 0;
    if (d > 60000000000u)
      d = 60000000000u;
    ts.tv_sec = (time_t)(d / 1000000000u);
    ts.tv_nsec = (long)(d % 1000000000u);
    tp = &ts;
  }
  /* The sockets themselves rather than the epoll descriptor: one wake-up
   * instead of two, and it says which socket has input. */
  struct pollfd p[3];
  int bit[3], np = 0;
  if (s->gfd >= 0) {
    p[np] = (struct pollfd){.fd = s->gfd, .events = POLLIN};
    bit[np++] = READY_GROUP;
  }
  p[np] = (struct pollfd){.fd = s->sfd, .events = POLLIN};
  if (s->nout > s->out_head)
    p[np].events |= POLLOUT;
  bit[np++] = READY_SEND;
  if (s->old_gfd >= 0) {
    p[np] = (struct pollfd){.fd = s->old_gfd, .events = POLLIN};
    bit[np++] = READY_OLD;
  }
  int r = ppoll(p, (nfds_t)np, tp, NULL);
  if (r < 0)
    return errno == EINTR ? 0 : sys_err(s, SMART_ESYS);
  int ready = 0;
  for (int i = 0; r > 0 && i < np; i++)
    if (p[i].revents & (POLLIN | POLLERR | POLLHUP))
      ready |= bit[i];
  return ready;
}

/* ---- send / recv / flush ---------------------------------------------- */

SMART_API smart_ssize smart_send(smart_sock *s, const void *buf, size_t len,
                                 uint32_t flags) {
  if (!s || (!buf && len) || len == 0 || (flags & ~SMART_MSG_DONTWAIT))
    return SMART_EINVAL;
  if (!s->joined)
    return SMART_ENOTCONN;
  if (len > s->max_msg)
    return SMART_EMSGSIZE;
  int nonblock = s->nonblock || (flags & SMART_MSG_DONTWAIT);
  uint64_t now;
  for (;;) {
    now = smart__now();
    int rc = smart__engine_submit(s->eng, buf, len, now);
    if (rc == 0)
      break;
    if (rc != SMART_EAGAIN)
      return rc;
    /* Queue full: move data out, then wait for room. */
    if ((rc = pump(s)) != 0)
      return rc;
    now = smart__now();
    rc = smart__engine_submit(s->eng, buf, len, now);
    if (rc == 0)
      break;
    if (rc != SMART_EAGAIN || nonblock)
      return rc;
    if ((rc = wait_io(s, UINT64_MAX)) < 0)
      return rc;
  }
  /* Autocork. Cork when the previous datagram is still "in the kernel's
   * hands" (it left less than one send-path time ago), and keep corking
   * while the application calls faster than one send-path time apart: it
   * is backlogged, and datagrams then leave a batch per system call. A
   * call that finds the send path idle, or that comes after a pause, sends
   * at once, with whatever is corked. */
  uint64_t cost = s->tx_cost;
  int busy = (s->last_tx && now - s->last_tx < cost) ||
             (s->corked_bytes && now - s->last_call < cost);
  s->last_call = now;
  if (busy) {
    size_t room = s->cfg.max_dgram - DATA_HDR, entry = len + 2;
    if (!s->corked_bytes) {
      s->corked_since = now;
      s->cork_fill = 0;
      s->cork_dgrams = 0;
    }
    /* The engine packs entries of 2 + len bytes into max_dgram - 8 bytes
     * of payload: follow its packing. */
    if (s->cork_fill && s->cork_fill + entry > room) {
      s->cork_dgrams++;
      s->cork_fill = 0;
    }
    s->cork_fill += entry;
    s->corked_bytes += entry;
    /* Hold, without a system call, until a batch of datagrams is full
     * (another message of this size would not fit), for at most
     * CORK_MAX_NS. */
    if ((s->cork_dgrams + 1 < BATCH || s->cork_fill + entry <= room) &&
        now - s->corked_since < CORK_MAX_NS)
      return (smart_ssize)len;
  }
  /* The message first, then whatever came in (requests are answered on
   * this same call, right after). */
  int rc = tx_drain(s, now);
  if (rc == 0)
    rc = pump(s);
  return rc ? rc : (smart_ssize)len;
}

/* The size of struct smart_msginfo in 0.1: callers pass at least this. */
#define SMART__MSGINFO_V1 (offsetof(struct smart_msginfo, sender) + 48)

/* Copy what fits in the caller's version of the struct; keep its size. */
static void info_out(struct smart_msginfo *info, const struct smart_msginfo *mi) {
  size_t sz = info->size, n = sz < sizeof(*mi) ? sz : sizeof(*mi);
  memcpy(info, mi, n);
  info->size = sz;
}

static void fill_sender(smart_sock *s, uint32_t id, struct smart_msginfo *info) {
  info->sender_id = id;
  if (id == 0 || id > s->npeers) {
    info->sender[0] = 0;
    return;
  }
  memcpy(info->sender, peer_text(s, id), sizeof(info->sender));
}

SMART_API smart_ssize smart_recv(smart_sock *s, void *buf, size_t len,
                                 struct smart_msginfo *info, uint32_t flags) {
  if (!s || (!buf && len) || (flags & ~SMART_MSG_DONTWAIT))
    return SMART_EINVAL;
  if (info && (info->size < SMART__MSGINFO_V1 || info->size > 4096))
    return SMART_EINVAL;
  if (!s->joined)
    return SMART_ENOTCONN;
  int nonblock = s->nonblock || (flags & SMART_MSG_DONTWAIT);
  /* The receive timeout runs from the first time the call has to wait:
   * a message already queued costs no clock read. */
  uint64_t deadline = 0;
  int pumped = 0, ready = READY_UNKNOWN;
  for (;;) {
    struct smart__event ev;
    while (smart__engine_poll(s->eng, &ev)) {
      if (ev.type == SMART__EV_NEW_SENDER) {
        s->senders++;
        continue;
      }
      struct smart_msginfo mi;
      memset(&mi, 0, sizeof(mi));
      if (info) {
        fill_sender(s, ev.src_id, &mi);
        mi.seq = ev.seq;
        mi.count = ev.count;
      }
      if (ev.type == SMART__EV_LOSS) {
        smart__members_report(s->mem, 1, SMART_ERROR_LOSS, (uint32_t)ev.seq, (uint32_t)ev.count,
                              smart__now());
        if (info) {
          mi.kind = SMART_RECV_LOSS;
          info_out(info, &mi);
        }
        return SMART_ELOST;
      }
      size_t n = ev.len < len ? ev.len : len;
      if (n)
        memcpy(buf, ev.data, n);
      s->msgs_delivered++;
      s->bytes_delivered += ev.len;
      if (info) {
        mi.kind = SMART_RECV_MESSAGE;
        mi.len = ev.len;
        if (ev.len > len)
          mi.flags |= SMART_RECV_TRUNC;
        info_out(info, &mi);
      }
      return (smart_ssize)n;
    }
    if (nonblock && pumped)
      return SMART_EAGAIN;
    if (!nonblock && pumped) {
      uint64_t now = smart__now();
      if (!deadline)
        deadline = s->rcvtimeo_ms < 0 ? UINT64_MAX
                                      : now + (uint64_t)s->rcvtimeo_ms * 1000000u;
      if (now >= deadline)
        return SMART_EAGAIN;
      ready = wait_io(s, deadline);
      if (ready < 0)
        return ready;
    }
    int rc = pump_ready(s, ready);
    if (rc)
      return rc;
    pumped = 1;
  }
}

/* Process until the sender has queued nothing and no new data, request,
 * confirmation or repair happened for the repair interval
 * max(4 x (K + 2) x GRTT, 1 s) (a receiver's request timer, its hold-off, a repair's
 * round trip and a backed-off retry fit in it); or until the deadline. */
static int flush_until(smart_sock *s, uint64_t deadline) {
  struct smart__stats st;
  uint64_t last_activity = smart__now(), last_count = UINT64_MAX;
  uint64_t quiet_ns = 4 * ((uint64_t)s->cfg.k + 2) * (uint64_t)s->cfg.grtt_us * 1000u;
  /* A receiver that lost a repair backs off before it asks again: give the
   * slowest a full second of silence before calling the group done. */
  if (quiet_ns < 1000000000u)
    quiet_ns = 1000000000u;
  for (;;) {
    int rc = pump(s);
    if (rc)
      return rc;
    st.size = sizeof(st);
    smart__engine_get_stats(s->eng, &st);
    uint64_t count = st.data_sent + st.repairs_sent + st.confirms_sent + st.naks_received;
    uint64_t now = smart__now();
    if (count != last_count) {
      last_count = count;
      last_activity = now;
    }
    int drained = s->nout == s->out_head && s->corked_bytes == 0 &&
                  smart__engine_tx_queued(s->eng) == 0;
    if (drained && now - last_activity >= quiet_ns)
      return 0;
    if (now >= deadline)
      return SMART_ETIMEDOUT;
    uint64_t until = last_activity + quiet_ns;
    if ((rc = wait_io(s, deadline < until ? deadline : until)) < 0)
      return rc;
  }
}

SMART_API int smart_flush(smart_sock *s, int32_t timeout_ms) {
  if (!s)
    return SMART_EINVAL;
  if (!s->joined)
    return SMART_ENOTCONN;
  if (s->nonblock) {
    int rc = pump(s);
    if (rc)
      return rc;
    return s->nout == s->out_head ? 0 : SMART_EAGAIN;
  }
  uint64_t deadline = timeout_ms < 0 ? UINT64_MAX
                                     : smart__now() + (uint64_t)timeout_ms * 1000000u;
  return flush_until(s, deadline);
}

/* ---- options ---------------------------------------------------------- */

#define GET_VAL(T, var)            \
  do {                             \
    if (len != sizeof(T))          \
      return SMART_EINVAL;         \
    memcpy(&(var), val, sizeof(T)); \
  } while (0)

SMART_API int smart_setopt(smart_sock *s, int opt, const void *val, size_t len) {
  int32_t i32;
  uint32_t u32;
  uint64_t u64;
  if (!s || !val)
    return SMART_EINVAL;
  /* Options the engine copies at creation: before smart_join() only. */
  int engine_opt = opt == SMART_OPT_CRYPTO || opt == SMART_OPT_GROUP_KEY ||
                   opt == SMART_OPT_AUTH_ONLY || opt == SMART_OPT_IDENTITY ||
                   opt == SMART_OPT_PEER_KEY || opt == SMART_OPT_SOURCE_AUTH ||
                   opt == SMART_OPT_SOURCE_AUTH_MS || opt == SMART_OPT_REPORT_MS ||
                   opt == SMART_OPT_MEMBER_TIMEOUT_MS ||
                   opt == SMART_OPT_REKEY_MS || opt == SMART_OPT_REKEY_BYTES ||
                   opt == SMART_OPT_EPOCH_GRACE_MS || opt == SMART_OPT_SYNC || opt == SMART_OPT_WINDOW || opt == SMART_OPT_GRTT_US ||
                   opt == SMART_OPT_NAK_K || opt == SMART_OPT_GSIZE || opt == SMART_OPT_LATE_JOIN ||
                   opt == SMART_OPT_NAK_RETRIES || opt == SMART_OPT_SEED || opt == SMART_OPT_MTU ||
                   opt == SMART_OPT_RATE;
  if (engine_opt && s->eng)
    return SMART_ESTATE;
  switch (opt) {
  case SMART_OPT_TTL:
    GET_VAL(int32_t, i32);
    if (i32 < 0 || i32 > 255)
      return SMART_EINVAL;
    s->ttl = i32;
    if (s->joined)
      return sys_err(s, smart__mcast_out(s->sfd, s->group.u.sa.sa_family, &s->ifc, s->ttl, s->loop));
    return 0;
  case SMART_OPT_LOOPBACK:
    GET_VAL(int32_t, i32);
    if (i32 != 0 && i32 != 1)
      return SMART_EINVAL;
    s->loop = i32;
    if (s->joined)
      return sys_err(s, smart__mcast_out(s->sfd, s->group.u.sa.sa_family, &s->ifc, s->ttl, s->loop));
    return 0;
  case SMART_OPT_SYNC:
    GET_VAL(uint32_t, u32);
    if (u32 > 255)
      return SMART_EINVAL;
    s->cfg.sync = (uint8_t)u32;
    return 0;
  case SMART_OPT_RATE:
    GET_VAL(uint64_t, u64);
    s->rate = u64;
    return 0;
  case SMART_OPT_WINDOW:
    GET_VAL(uint32_t, u32);
    if (u32 == 0 || u32 > SMART__MAX_SPAN)
      return SMART_EINVAL;
    s->cfg.window = u32;
    return 0;
  case SMART_OPT_GRTT_US:
    GET_VAL(uint32_t, u32);
    if (u32 == 0 || u32 > 60000000u)
      return SMART_EINVAL;
    s->cfg.grtt_us = u32;
    return 0;
  case SMART_OPT_NAK_K:
    GET_VAL(uint32_t, u32);
    if (u32 == 0 || u32 > 255)
      return SMART_EINVAL;
    s->cfg.k = (uint8_t)u32;
    return 0;
  case SMART_OPT_GSIZE:
    GET_VAL(uint32_t, u32);
    if (u32 == 0)
      return SMART_EINVAL;
    s->cfg.gsize = u32;
    return 0;
  case SMART_OPT_LINGER_MS:
    GET_VAL(uint32_t, u32);
    s->linger_ms = u32;
    return 0;
  case SMART_OPT_DROP_PPM:
    GET_VAL(uint32_t, u32);
    if (u32 > 1000000u)
      return SMART_EINVAL;
    s->drop_ppm = u32;
    return 0;
  case SMART_OPT_RCVTIMEO_MS:
    GET_VAL(int32_t, i32);
    if (i32 < -1)
      return SMART_EINVAL;
    s->rcvtimeo_ms = i32;
    return 0;
  case SMART_OPT_NONBLOCK:
    GET_VAL(int32_t, i32);
    if (i32 != 0 && i32 != 1)
      return SMART_EINVAL;
    s->nonblock = i32;
    return 0;
  case SMART_OPT_MAX_MSG:
    GET_VAL(uint32_t, u32);
    if (u32 == 0)
      return SMART_EINVAL;
    s->max_msg = u32;
    return 0;
  case SMART_OPT_LATE_JOIN:
    GET_VAL(uint32_t, u32);
    if (u32 > SMART_JOIN_WINDOW)
      return SMART_EINVAL;
    s->cfg.join_policy = (uint8_t)u32;
    return 0;
  case SMART_OPT_NAK_RETRIES:
    GET_VAL(uint32_t, u32);
    if (u32 == 0 || u32 > 255)
      return SMART_EINVAL;
    s->cfg.nak_retries = (uint8_t)u32;
    return 0;
  case SMART_OPT_SEED:
    GET_VAL(uint64_t, u64);
    s->cfg.seed = u64;
    s->rng = u64 ^ UINT64_C(0x5bd1e995);
    return 0;
  case SMART_OPT_MTU:
    GET_VAL(uint32_t, u32);
    if (u32 < 256 || u32 > 65507)
      return SMART_EINVAL;
    s->mtu = u32;
    return 0;
  case SMART_OPT_CRYPTO: {
    const struct smart_crypto_ops *o;
    GET_VAL(const struct smart_crypto_ops *, o);
    if (o && o->size < sizeof(struct smart_crypto_ops))
      return SMART_EINVAL;
    s->ops = o;
    return 0;
  }
  case SMART_OPT_GROUP_KEY:
    if (len != SMART_KEY_BYTES)
      return SMART_EINVAL;
    memcpy(s->keys, val, SMART_KEY_BYTES);
    s->have_group_key = 1;
    return 0;
  case SMART_OPT_IDENTITY:
    if (len != SMART_SECKEY_BYTES)
      return SMART_EINVAL;
    memcpy(s->keys + 32, val, SMART_SECKEY_BYTES);
    s->have_identity = 1;
    return 0;
  case SMART_OPT_PEER_KEY:
    if (len != SMART_PUBKEY_BYTES)
      return SMART_EINVAL;
    if (s->npins >= 16)
      return SMART_ENOMEM;
    memcpy(s->pins[s->npins++], val, SMART_PUBKEY_BYTES);
    return 0;
  case SMART_OPT_AUTH_ONLY:
    GET_VAL(int32_t, i32);
    if (i32 != 0 && i32 != 1)
      return SMART_EINVAL;
    s->auth_only = i32;
    return 0;
  case SMART_OPT_REKEY_MS:
    GET_VAL(uint32_t, u32);
    s->rekey_ms = u32;
    return 0;
  case SMART_OPT_REPORT_MS:
    GET_VAL(uint32_t, u32);
    if (u32 < 10)
      return SMART_EINVAL;
    s->report_ms = u32;
    return 0;
  case SMART_OPT_MEMBER_TIMEOUT_MS:
    GET_VAL(uint32_t, u32);
    if (u32 < 10)
      return SMART_EINVAL;
    s->member_timeout_ms = u32;
    return 0;
  case SMART_OPT_SOURCE_AUTH:
    GET_VAL(uint32_t, u32);
    if (u32 > 64)
      return SMART_EINVAL;
    s->sauth_every = u32;
    return 0;
  case SMART_OPT_SOURCE_AUTH_MS:
    GET_VAL(uint32_t, u32);
    if (u32 == 0 || u32 > 60000)
      return SMART_EINVAL;
    s->sauth_ms = u32;
    return 0;
  case SMART_OPT_REKEY_BYTES:
    GET_VAL(uint64_t, u64);
    s->rekey_bytes = u64;
    return 0;
  case SMART_OPT_EPOCH_GRACE_MS:
    GET_VAL(uint32_t, u32);
    s->grace_ms = u32;
    return 0;
  case SMART_OPT_LAST_OS_ERROR:
    return SMART_EINVAL; /* read only */
  default:
    return SMART_ENOPROTOOPT;
  }
}

SMART_API int smart_rekey(smart_sock *s) {
  if (!s)
    return SMART_EINVAL;
  if (!s->sec || !s->eng || !smart__engine_tx_lead(s->eng))
    return SMART_ESTATE;
  int rc = do_rekey(s, smart__now());
  if (rc == 0)
    s->rekeys++;
  return rc;
}

SMART_API int smart_allow(smart_sock *s, const uint8_t pk[32]) {
  if (!s || !pk)
    return SMART_EINVAL;
  if (!s->have_identity)
    return SMART_ESTATE;
  if (s->ident) /* after the join: only a sender (non-empty list at join) */
    return smart__ident_is_server(s->ident) ? smart__ident_allow(s->ident, pk) : SMART_ESTATE;
  for (uint32_t i = 0; i < s->nallowed; i++)
    if (!memcmp(s->allowed[i], pk, 32))
      return 0;
  uint8_t(*n)[32] = realloc(s->allowed, (s->nallowed + 1) * sizeof(*n));
  if (!n)
    return SMART_ENOMEM;
  s->allowed = n;
  memcpy(s->allowed[s->nallowed++], pk, 32);
  return 0;
}

SMART_API int smart_revoke(smart_sock *s, const uint8_t pk[32]) {
  if (!s || !pk)
    return SMART_EINVAL;
  if (!s->have_identity)
    return SMART_ESTATE;
  if (!s->ident) {
    for (uint32_t i = 0; i < s->nallowed; i++)
      if (!memcmp(s->allowed[i], pk, 32)) {
        memmove(s->allowed[i], s->allowed[s->nallowed - 1], 32);
        s->nallowed--;
        return 0;
      }
    return SMART_EINVAL;
  }
  if (!smart__ident_revoke(s->ident, pk))
    return SMART_EINVAL;
  /* The revoked member must not read what follows: a new epoch at once. */
  int rc = do_rekey(s, smart__now());
  if (rc == 0)
    s->rekeys++;
  return rc;
}

#define PUT_VAL(T, v)                     \
  do {                                    \
    T tmp_ = (T)(v);                      \
    if (*len < sizeof(T))                 \
      return SMART_EINVAL;                \
    memcpy(val, &tmp_, sizeof(T));        \
    *len = sizeof(T);                     \
    return 0;                             \
  } while (0)

SMART_API int smart_getopt(smart_sock *s, int opt, void *val, size_t *len) {
  if (!s || !val || !len)
    return SMART_EINVAL;
  switch (opt) {
  case SMART_OPT_TTL:
    PUT_VAL(int32_t, s->ttl);
  case SMART_OPT_LOOPBACK:
    PUT_VAL(int32_t, s->loop);
  case SMART_OPT_SYNC:
    PUT_VAL(uint32_t, s->cfg.sync);
  case SMART_OPT_RATE:
    PUT_VAL(uint64_t, s->rate);
  case SMART_OPT_WINDOW:
    PUT_VAL(uint32_t, s->cfg.window);
  case SMART_OPT_GRTT_US:
    PUT_VAL(uint32_t, s->cfg.grtt_us);
  case SMART_OPT_NAK_K:
    PUT_VAL(uint32_t, s->cfg.k);
  case SMART_OPT_GSIZE:
    PUT_VAL(uint32_t, s->cfg.gsize);
  case SMART_OPT_LINGER_MS:
    PUT_VAL(uint32_t, s->linger_ms);
  case SMART_OPT_DROP_PPM:
    PUT_VAL(uint32_t, s->drop_ppm);
  case SMART_OPT_RCVTIMEO_MS:
    PUT_VAL(int32_t, s->rcvtimeo_ms);
  case SMART_OPT_NONBLOCK:
    PUT_VAL(int32_t, s->nonblock);
  case SMART_OPT_LAST_OS_ERROR:
    PUT_VAL(int32_t, s->last_os_error);
  case SMART_OPT_MAX_MSG:
    PUT_VAL(uint32_t, s->max_msg);
  case SMART_OPT_LATE_JOIN:
    PUT_VAL(uint32_t, s->cfg.join_policy);
  case SMART_OPT_NAK_RETRIES:
    PUT_VAL(uint32_t, s->cfg.nak_retries);
  case SMART_OPT_SEED:
    PUT_VAL(uint64_t, s->cfg.seed);
  case SMART_OPT_MTU:
    PUT_VAL(uint32_t, s->mtu);
  case SMART_OPT_CRYPTO:
    PUT_VAL(const struct smart_crypto_ops *, s->ops);
  case SMART_OPT_AUTH_ONLY:
    PUT_VAL(int32_t, s->auth_only);
  case SMART_OPT_REKEY_MS:
    PUT_VAL(uint32_t, s->rekey_ms);
  case SMART_OPT_REPORT_MS:
    PUT_VAL(uint32_t, s->report_ms);
  case SMART_OPT_MEMBER_TIMEOUT_MS:
    PUT_VAL(uint32_t, s->member_timeout_ms);
  case SMART_OPT_SOURCE_AUTH:
    PUT_VAL(uint32_t, s->sauth_every);
  case SMART_OPT_SOURCE_AUTH_MS:
    PUT_VAL(uint32_t, s->sauth_ms);
  case SMART_OPT_REKEY_BYTES:
    PUT_VAL(uint64_t, s->rekey_bytes);
  case SMART_OPT_EPOCH_GRACE_MS:
    PUT_VAL(uint32_t, s->grace_ms);
  case SMART_OPT_GROUP_KEY:
  case SMART_OPT_IDENTITY:
  case SMART_OPT_PEER_KEY:
    return SMART_EINVAL; /* keys are write-only */
  default:
    return SMART_ENOPROTOOPT;
  }
}

/* ---- stats ------------------------------------------------------------ */

SMART_API int smart_stats(smart_sock *s, struct smart_stats *st) {
  if (!s || !st || st->size < offsetof(struct smart_stats, senders) + sizeof(uint64_t))
    return SMART_EINVAL;
  struct smart_stats v;
  memset(&v, 0, sizeof(v));
  if (s->eng) {
    struct smart__stats e;
    e.size = sizeof(e);
    smart__engine_get_stats(s->eng, &e);
    v.msgs_sent = e.msgs_sent;
    v.bytes_sent = e.bytes_sent;
    v.repairs_sent = e.repairs_sent;
    v.repairs_received = e.losses_recovered;
    v.naks_sent = e.naks_sent;
    v.naks_suppressed = e.naks_suppressed;
    v.naks_received = e.naks_received;
    v.losses_recovered = e.losses_recovered;
    v.losses_unrecoverable = e.losses_unrecoverable;
    v.drops_malformed = e.drops[SMART__DROP_DECODE];
    v.drops_sync = e.drops[SMART__DROP_SYNC];
    v.drops_duplicate = e.drops[SMART__DROP_DUP] + e.duplicates;
    v.drops_window = e.drops[SMART__DROP_RANGE];
    v.drops_other = e.drops[SMART__DROP_UNSUPPORTED] + e.drops[SMART__DROP_SESSION] +
                    e.drops[SMART__DROP_NOMEM];
  }
  v.msgs_received = s->msgs_delivered;
  v.bytes_received = s->bytes_delivered;
  v.dgrams_sent = s->dgrams_sent;
  v.dgrams_received = s->dgrams_received;
  v.drops_injected = s->drops_injected;
  v.drops_other += s->drops_other;
  v.senders = s->senders;
  v.drops_auth = s->drops_auth;
  v.drops_replay = s->drops_replay;
  v.rekeys = s->rekeys + (s->sec ? smart__sec_adopted(s->sec) : 0);
  v.joins_refused = s->joins_refused;
  v.naks_limited = s->naks_limited;
  if (s->sauth) {
    struct smart__sauth_stats as;
    smart__sauth_stats(s->sauth, &as);
    v.manifests_sent = as.manifests_sent;
    v.manifests_verified = as.manifests_verified;
    v.drops_unsigned = as.drops_unsigned;
  }
  size_t n = st->size < sizeof(v) ? st->size : sizeof(v);
  v.size = st->size;
  memcpy(st, &v, n);
  return 0;
}

/* ---- membership, events, moves ---------------------------------------- */

SMART_API int smart_event(smart_sock *s, struct smart_event *ev) {
  if (!s || !ev || ev->size < sizeof(struct smart_event) - 0 || ev->size > 4096)
    return SMART_EINVAL;
  if (!s->mem)
    return 0;
  if (s->joined) {
    int rc = pump(s);
    if (rc)
      return rc;
  }
  struct smart_event e;
  if (!smart__members_event(s->mem, &e))
    return 0;
  size_t sz = ev->size;
  memcpy(ev, &e, sizeof(e) < sz ? sizeof(e) : sz);
  ev->size = sz;
  return 1;
}

SMART_API smart_ssize smart_members(smart_sock *s, struct smart_member *out, size_t max) {
  if (!s || (max && (!out || out[0].size < sizeof(struct smart_member) || out[0].size > 4096)))
    return SMART_EINVAL;
  if (!s->mem)
    return 0;
  size_t stride = max ? out[0].size : 0;
  struct smart_member one;
  size_t n = smart__members_list(s->mem, NULL, 0, smart__now());
  for (size_t i = 0; i < n && i < max; i++) {
    /* one at a time, at the caller's stride */
    one.size = sizeof(one);
    smart__members_list_one(s->mem, i, &one, smart__now());
    struct smart_member *dst = (struct smart_member *)(void *)((uint8_t *)out + i * stride);
    memcpy(dst, &one, sizeof(one) < stride ? sizeof(one) : stride);
    dst->size = stride;
  }
  return (smart_ssize)n;
}

SMART_API int smart_move(smart_sock *s, const char *group) {
  struct smart__sockaddr g;
  if (!s || !group)
    return SMART_EINVAL;
  if (!s->joined)
    return SMART_ENOTCONN;
  if (smart__addr_parse(group, 0, &g) != 0 || !smart__addr_is_multicast(&g) ||
      g.u.sa.sa_family != s->group.u.sa.sa_family)
    return SMART_EINVAL;
  if (!smart__engine_tx_lead(s->eng))
    return SMART_ESTATE;
  if (smart__addr_equal(&g, &s->group))
    return 0;
  uint64_t now = smart__now();
  /* Listen on the new group at once (requests will come there), announce
   * the change three times on the old one, and send there after a lead of
   * max(50 ms, 4 GRTT), so receivers have joined before data arrives. */
  int rc = switch_group(s, &g, now);
  if (rc)
    return sys_err(s, rc);
  uint64_t lead = 4 * (uint64_t)s->cfg.grtt_us * 1000u;
  s->next_group = g;
  s->arc_from = s->group;
  s->arc_left = 3 + 8; /* 3 quick ones, then every 250 ms for 2 s */
  s->arc_sent = 0;
  s->arc_next = now;
  s->switch_at = now + (lead < 50000000u ? 50000000u : lead);
  s->old_close_at = s->switch_at + 2000000000u;
  s->moving = 1;
  return pump(s);
}
