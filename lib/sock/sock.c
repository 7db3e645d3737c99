/*
 * smart_open, smart_close, smart_join, smart_leave, smart_process,
 * smart_fd, smart_timeout: descriptors and the session's lifetime. See
 * sock_int.h.
 */
#include <arpa/inet.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "proto/tunnel.h"
#include "sock/sock_int.h"
#include "util/rng.h"
#include "util/time.h"

SMART_API int smart_open(smart_sock **out, uint32_t flags) {
  if (!out || (flags & ~SMART_OPEN_NONBLOCK))
    return SMART_EINVAL;
  *out = NULL;
  smart_sock *s = calloc(1, sizeof(*s));
  if (!s)
    return SMART_ENOMEM;
  s->open_flags = flags;
  smart__opts_init(&s->o);
  s->o.nonblock = (flags & SMART_OPEN_NONBLOCK) != 0;
  s->gfd = s->sfd = s->epfd = s->old_gfd = s->tfd = s->bg_fd = -1;
  /* Seeds differ per socket; SMART_OPT_SEED makes a run reproducible. */
  uint64_t x = smart__now() ^ (uint64_t)(uintptr_t)s ^ ((uint64_t)getpid() << 32);
  s->o.eng.seed = smart__splitmix64(&x);
  *out = s;
  return 0;
}

/* A source-authenticating sender budgets early manifests by what one
 * signature costs here: the fastest of three (the session has no clock). */
static void measure_signing(smart_sock *s) {
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < 3; i++) {
    uint64_t t0 = smart__now();
    if (smart__session_sign_probe(s->ss) != 0)
      return;
    uint64_t d = smart__now() - t0;
    if (d < best)
      best = d;
  }
  smart__session_sign_cost(s->ss, best);
}

/* Buffers and the session, once the sockets are there. */
static int session_start(smart_sock *s, const struct smart__sockaddr *g,
                         const struct smart__sockaddr *relay) {
  if (!s->obuf)
    s->obuf = malloc((size_t)SMART__BATCH * SMART__SLOT);
  if (!s->ibuf)
    s->ibuf = malloc((size_t)SMART__BATCH * SMART__RECV_BUF);
  if (!s->obuf || !s->ibuf)
    return SMART_ENOMEM;
  struct smart__opts o = s->o;
  if (!o.ops && (o.have_group_key || o.have_identity))
    o.ops = smart_crypto_sodium();
  /* libsodium's AEAD verifies, then decrypts with the output at the
   * input's own address; a third-party provider promises no such thing. */
  o.ops_in_place = o.ops && o.ops == smart_crypto_sodium();
  o.presign = o.ops_in_place ? smart__presign_sodium() : NULL;
  struct smart__session_addrs a = {.group = *g, .self = s->self, .relay = relay};
  s->nout = s->out_head = 0; /* what the old session left unsent (by reference, too) */
  smart__session_del(s->ss); /* joined again after a leave: a new session */
  s->ss = NULL;
  int rc = smart__session_new(&s->ss, &o, &a, smart__now());
  if (rc) {
    smart__session_del(s->ss);
    s->ss = NULL;
    return rc;
  }
  measure_signing(s);
  return 0;
}

/* Leaving: a receiver's USAGE_REPORT_LEAVE first (through the tunnel while
 * it still exists), then the tunnel's LEAVE_TUNNEL, repeated as the relay's
 * echo is awaited. */
static void say_goodbye(smart_sock *s) {
  if (!s->joined || !s->ss)
    return;
  uint64_t now = smart__now(), end = now + smart__session_leave_wait_ns();
  smart__session_leave(s->ss, now);
  smart__io_tx(s, now);
  while (smart__session_leaving_tunnel(s->ss) && (now = smart__now()) < end) {
    smart__io_tx(s, now);
    struct pollfd p = {.fd = s->sfd, .events = POLLIN};
    if (poll(&p, 1, 20) > 0)
      smart__io_rx(s, s->sfd, 0, smart__now());
  }
}

SMART_API void smart_close(smart_sock *s) {
  if (!s)
    return;
  smart__enter(s);
  smart__bg_stop(s);
  /* Linger: what is queued goes out first (at the rate limit), then the
   * group has until the repair interval is quiet, all within the linger.
   * Without one, what autocork held goes (the application was told it was
   * sent); what the rate or the window holds is discarded. */
  if (s->joined && s->ss && smart__session_tx_busy(s->ss) && s->o.linger_ms)
    smart__io_flush_until(s, smart__now() + SMART__MS(s->o.linger_ms));
  else if (s->joined && s->ss && s->corked_bytes)
    (void)smart__io_tx(s, smart__now());
  say_goodbye(s);
  smart__io_close_fds(s);
  smart__session_del(s->ss);
  smart__opts_free(&s->o);
  free(s->obuf);
  free(s->ibuf);
  free(s);
}

/* The send socket (bound to the interface) and the epoll set. */
static int open_send(smart_sock *s, int fam) {
  s->sfd = smart__udp_socket(fam);
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (s->sfd < 0 || s->epfd < 0)
    return s->sfd < 0 ? s->sfd : SMART_ESYS;
  int rc = smart__udp_bind_iface(s->sfd, &s->ifc);
  if (rc)
    return rc;
  s->self.len = sizeof(s->self.u.ss);
  if (getsockname(s->sfd, &s->self.u.sa, &s->self.len) != 0)
    return SMART_ESYS;
  smart__udp_rx_options(s->sfd);
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.fd = s->sfd;
  return epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sfd, &ev) != 0 ? SMART_ESYS : 0;
}

/* Join through a relay: one unicast socket; the relay forwards the group's
 * datagrams to it, and everything we would multicast goes to the relay. */
static int join_tunnel(smart_sock *s, const char *url, const char *iface, const char *source) {
  struct smart__sockaddr relay, g;
  int rc;
  if (source || smart__tunnel_parse(url, &relay, &g) != 0)
    return SMART_EINVAL;
  if ((rc = smart__iface_resolve(iface, relay.u.sa.sa_family, &s->ifc)) != 0)
    return smart__io_err(s, rc);
  if ((rc = open_send(s, relay.u.sa.sa_family)) == 0 && (rc = session_start(s, &g, &relay)) == 0) {
    s->joined = 1;
    return smart__io_tx(s, smart__now()); /* the first REQUEST_TUNNEL */
  }
  smart__io_err(s, rc);
  smart__io_close_fds(s);
  return rc;
}

/* The group socket: bound to the group's port, joined, watched. */
static int open_group(smart_sock *s, const struct smart__sockaddr *g, const char *source) {
  int fam = g->u.sa.sa_family, rc;
  s->gfd = smart__udp_socket(fam);
  if (s->gfd < 0)
    return s->gfd;
  if ((rc = smart__udp_bind_group(s->gfd, g)) != 0 ||
      (rc = smart__mcast_out(s->sfd, fam, &s->ifc, s->o.ttl, s->o.loop)) != 0 ||
      (rc = smart__mcast_membership(s->gfd, g, &s->ifc, source ? &s->source : NULL, 1)) != 0)
    return rc;
  /* Our own multicast comes back to the group socket: let the kernel drop
   * it (the shell still skips anything that gets through). */
  (void)smart__udp_ignore_source(s->gfd, &s->self);
  smart__udp_rx_options(s->gfd);
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.fd = s->gfd;
  return epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->gfd, &ev) != 0 ? SMART_ESYS : 0;
}

static uint16_t port_of(const struct smart__sockaddr *a) {
  return ntohs(a->u.sa.sa_family == AF_INET ? a->u.in4.sin_port : a->u.in6.sin6_port);
}

SMART_API int smart_join(smart_sock *s, const char *group, const char *iface, const char *source,
                         uint32_t flags) {
  struct smart__sockaddr g, src;
  int rc;
  if (!s || !group || flags)
    return SMART_EINVAL;
  SMART__HOLD(s);
  if (smart__tunnel_is_url(group))
    return s->joined ? SMART_EINVAL : join_tunnel(s, group, iface, source);
  if (smart__addr_parse(group, 0, &g) != 0 || !smart__addr_is_multicast(&g) || port_of(&g) == 0)
    return SMART_EINVAL;
  /* A source is an address: "A.B.C.D:PORT" names a socket, not a source. */
  if (source && (smart__addr_parse(source, 0, &src) == 0 || smart__addr_parse(source, 1, &src) != 0 ||
                 src.u.sa.sa_family != g.u.sa.sa_family))
    return SMART_EINVAL;
  if (s->joined) {
    /* One group per socket; more sources for a source-specific join. */
    if (!smart__addr_equal(&g, smart__session_group(s->ss)) || !source ||
        smart__session_tunnelled(s->ss))
      return SMART_EINVAL;
    return smart__io_err(s, smart__mcast_membership(s->gfd, &g, &s->ifc, &src, 1));
  }
  if ((rc = smart__iface_resolve(iface, g.u.sa.sa_family, &s->ifc)) != 0)
    return smart__io_err(s, rc);
  s->have_source = source != NULL;
  if (source)
    s->source = src;
  if ((rc = open_send(s, g.u.sa.sa_family)) == 0 && (rc = open_group(s, &g, source)) == 0 &&
      (rc = session_start(s, &g, NULL)) == 0) {
    s->joined = 1;
    return 0;
  }
  smart__io_err(s, rc);
  smart__io_close_fds(s);
  return rc;
}

/* smart_leave's argument names the group joined (or the tunnel's URL). */
static int names_group(smart_sock *s, const char *group) {
  struct smart__sockaddr g, relay;
  const struct smart__sockaddr *cur = smart__session_group(s->ss);
  if (smart__session_tunnelled(s->ss) && smart__tunnel_is_url(group))
    return smart__tunnel_parse(group, &relay, &g) == 0 &&
           smart__addr_equal(&relay, smart__session_dest(s->ss)) && smart__addr_equal(&g, cur);
  return smart__addr_parse(group, 0, &g) == 0 && smart__addr_equal(&g, cur);
}

SMART_API int smart_leave(smart_sock *s, const char *group, const char *source) {
  struct smart__sockaddr src;
  if (!s || !group)
    return SMART_EINVAL;
  SMART__HOLD(s);
  if (!s->joined)
    return SMART_ENOTCONN;
  if (!names_group(s, group))
    return SMART_EINVAL;
  if (source) {
    if (smart__session_tunnelled(s->ss) || smart__addr_parse(source, 1, &src) != 0)
      return SMART_EINVAL;
    return smart__io_err(s, smart__mcast_membership(s->gfd, smart__session_group(s->ss), &s->ifc,
                                                    &src, 0));
  }
  smart__bg_stop(s); /* it pumps the descriptors closed here */
  if (smart__session_tunnelled(s->ss))
    say_goodbye(s);
  smart__io_close_fds(s);
  return 0;
}

SMART_API int smart_process(smart_sock *s, uint32_t events) {
  (void)events;
  if (!s)
    return SMART_EINVAL;
  SMART__HOLD(s);
  if (!s->joined)
    return SMART_ENOTCONN;
  int rc = smart__io_take_error(s);
  return rc ? rc : smart__io_pump(s);
}

SMART_API int smart_fd(smart_sock *s) {
  if (!s)
    return SMART_EINVAL;
  return s->joined ? s->epfd : SMART_ENOTCONN;
}

SMART_API int32_t smart_timeout(smart_sock *s) {
  if (!s || !s->joined)
    return -1;
  SMART__HOLD(s);
  uint64_t t = smart__io_deadline(s);
  if (t == SMART__NEVER)
    return -1;
  uint64_t now = smart__now();
  if (t <= now)
    return 0;
  uint64_t ms = (t - now + SMART__NS_PER_MS - 1) / SMART__NS_PER_MS;
  return ms > INT32_MAX ? INT32_MAX : (int32_t)ms;
}
