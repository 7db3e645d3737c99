/*
 * smart-relay: serve a SMART group to hosts without multicast, over unicast
 * tunnels (REQUEST_TUNNEL / LEAVE_TUNNEL, smart-protocol(7) "TUNNELING").
 *
 *   smart-relay --group ADDR:PORT --iface ADDR --listen ADDR:PORT
 *               [--key-file FILE] [--upstream RELAY:PORT]
 *               [--rate BYTES_PER_S_PER_CLIENT] [--max-clients N]
 *               [--stats-every SECONDS]
 *
 * It joins the group on --iface (or, with --upstream, receives it through
 * the tunnel of another relay) and forwards every datagram of the group,
 * verbatim, to each tunnel client; it multicasts the clients' feedback
 * (REPLACEMENT requests and reports) into the group (or sends it upstream)
 * and passes it to its other clients. A client is served only once it has
 * echoed a cookie, proving it receives at its address; a reply to a request
 * is never larger than the request. With --key-file, tunnel messages must
 * authenticate under the group key, and the relay's replies are sealed.
 * SIGINT or SIGTERM prints one line of statistics and exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "crypto/crypto.h"
#include "net/udp.h"
#include "proto/tunnel.h"
#include "proto/secure.h"
#include "wire/wire.h"

#define BATCH 32
#define DGRAM_MAX 65536u
#define NS 1000000000ull
#define FB_RATE 200u  /* feedback datagrams per second per client ... */
#define FB_BURST 100u /* ... after a burst of this many */
#define CHALLENGE_RATE 20000u /* cookie challenges per second, all clients */

struct client {
  struct smart__sockaddr addr;
  uint64_t last_heard;
  uint64_t tokens, refill;       /* forwarding budget, bytes */
  uint64_t fb_tokens, fb_refill; /* feedback budget, datagrams */
  int used;
};

struct stats {
  uint64_t forwarded, fwd_bytes, rate_dropped, sock_dropped;
  uint64_t requests, request_bytes, challenges, challenge_bytes, grants, grant_bytes;
  uint64_t leaves, leave_bytes, refused, refused_bytes, bad, auth_failed, throttled;
  uint64_t replies, reply_bytes; /* all of the above replies */
  uint64_t feedback, feedback_dropped, evicted, peak;
};

static struct {
  int gfd, sfd, lfd, ufd;
  struct smart__sockaddr group, listen, upstream, self;
  struct smart__iface ifc;
  struct client *clients;
  unsigned max_clients, nclients;
  uint64_t rate, burst;
  uint8_t secret[32];
  const struct smart_crypto_ops *ops;
  struct smart__sec *sec;
  struct smart__tunnel *up;
  uint64_t ch_tokens, ch_refill;
  struct stats st;
  uint8_t *rbuf, *plain;
} R;

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static void usage(FILE *o) {
  fputs("usage: smart-relay --group ADDR:PORT --iface ADDR --listen ADDR:PORT\n"
        "                   [--key-file FILE] [--upstream RELAY:PORT]\n"
        "                   [--rate BYTES_PER_S_PER_CLIENT] [--max-clients N]\n"
        "                   [--stats-every SECONDS]\n",
        o);
}

static void print_stats(FILE *o) {
  const struct stats *s = &R.st;
  fprintf(o,
          "smart-relay: clients=%u peak=%llu evicted=%llu forwarded=%llu bytes=%llu "
          "rate_dropped=%llu sock_dropped=%llu requests=%llu request_bytes=%llu "
          "challenges=%llu challenge_bytes=%llu grants=%llu grant_bytes=%llu "
          "leaves=%llu leave_bytes=%llu refused=%llu refused_bytes=%llu "
          "replies=%llu reply_bytes=%llu bad=%llu auth_failed=%llu "
          "throttled=%llu feedback=%llu feedback_dropped=%llu\n",
          R.nclients, (unsigned long long)s->peak, (unsigned long long)s->evicted,
          (unsigned long long)s->forwarded, (unsigned long long)s->fwd_bytes,
          (unsigned long long)s->rate_dropped, (unsigned long long)s->sock_dropped,
          (unsigned long long)s->requests, (unsigned long long)s->request_bytes,
          (unsigned long long)s->challenges, (unsigned long long)s->challenge_bytes,
          (unsigned long long)s->grants, (unsigned long long)s->grant_bytes,
          (unsigned long long)s->leaves, (unsigned long long)s->leave_bytes,
          (unsigned long long)s->refused, (unsigned long long)s->refused_bytes,
          (unsigned long long)s->replies, (unsigned long long)s->reply_bytes,
          (unsigned long long)s->bad,
          (unsigned long long)s->auth_failed, (unsigned long long)s->throttled,
          (unsigned long long)s->feedback, (unsigned long long)s->feedback_dropped);
  fflush(o);
}

/* ---- clients ---------------------------------------------------------- */

static struct client *client_find(const struct smart__sockaddr *a) {
  for (unsigned i = 0; i < R.max_clients; i++)
    if (R.clients[i].used && smart__addr_equal(&R.clients[i].addr, a))
      return &R.clients[i];
  return NULL;
}

static void client_drop(struct client *c) {
  c->used = 0;
  R.nclients--;
}

/* A slot for a new client: a free one, else the longest-silent client if it
 * missed two keepalives, else NULL (the table is full of live clients). */
static struct client *client_add(const struct smart__sockaddr *a, uint64_t now) {
  struct client *free_slot = NULL, *oldest = NULL;
  for (unsigned i = 0; i < R.max_clients; i++) {
    struct client *c = &R.clients[i];
    if (!c->used) {
      if (!free_slot)
        free_slot = c;
    } else if (!oldest || c->last_heard < oldest->last_heard) {
      oldest = c;
    }
  }
  if (!free_slot && oldest && now - oldest->last_heard > 2 * SMART__TUN_KEEPALIVE_NS) {
    client_drop(oldest);
    R.st.evicted++;
    free_slot = oldest;
  }
  if (!free_slot)
    return NULL;
  memset(free_slot, 0, sizeof(*free_slot));
  free_slot->used = 1;
  free_slot->addr = *a;
  free_slot->last_heard = now;
  free_slot->tokens = R.burst;
  free_slot->refill = now;
  free_slot->fb_tokens = FB_BURST;
  free_slot->fb_refill = now;
  R.nclients++;
  if (R.nclients > R.st.peak)
    R.st.peak = R.nclients;
  return free_slot;
}

static void clients_sweep(uint64_t now) {
  for (unsigned i = 0; i < R.max_clients; i++)
    if (R.clients[i].used && now - R.clients[i].last_heard > SMART__TUN_TIMEOUT_NS) {
      client_drop(&R.clients[i]);
      R.st.evicted++;
    }
}

static int take_bytes(struct client *c, size_t len, uint64_t now) {
  if (R.rate == 0)
    return 1;
  uint64_t dt = now - c->refill;
  c->refill = now;
  if (dt >= NS)
    c->tokens = R.burst;
  else if ((c->tokens += dt * R.rate / NS) > R.burst)
    c->tokens = R.burst;
  if (c->tokens < len)
    return 0;
  c->tokens -= len;
  return 1;
}

static int take_feedback(struct client *c, uint64_t now) {
  uint64_t per = NS / FB_RATE;
  if (now - c->fb_refill >= per) {
    uint64_t add = (now - c->fb_refill) / per;
    c->fb_tokens = c->fb_tokens + add > FB_BURST ? FB_BURST : c->fb_tokens + add;
    c->fb_refill += add * per;
  }
  if (!c->fb_tokens)
    return 0;
  c->fb_tokens--;
  return 1;
}

static int take_challenge(uint64_t now) {
  uint64_t per = NS / CHALLENGE_RATE;
  if (now - R.ch_refill >= per) {
    uint64_t add = (now - R.ch_refill) / per;
    R.ch_tokens = R.ch_tokens + add > CHALLENGE_RATE ? CHALLENGE_RATE : R.ch_tokens + add;
    R.ch_refill += add * per;
  }
  if (!R.ch_tokens)
    return 0;
  R.ch_tokens--;
  return 1;
}

/* ---- sending ---------------------------------------------------------- */

static int send_one(int fd, const uint8_t *buf, size_t len, const struct smart__sockaddr *to) {
  struct smart__dgram d;
  d.buf = (uint8_t *)(uintptr_t)buf;
  d.len = len;
  d.peer = *to;
  return smart__udp_send_batch(fd, &d, 1);
}

/* A datagram of the group to every client but `except`, within each
 * client's rate. */
static void forward_all(const uint8_t *buf, size_t len, const struct client *except,
                        uint64_t now) {
  struct smart__dgram d[BATCH];
  unsigned n = 0;
  for (unsigned i = 0; i <= R.max_clients; i++) {
    if (i < R.max_clients) {
      struct client *c = &R.clients[i];
      if (!c->used || c == except)
        continue;
      if (!take_bytes(c, len, now)) {
        R.st.rate_dropped++;
        continue;
      }
      d[n].buf = (uint8_t *)(uintptr_t)buf;
      d[n].len = len;
      d[n].peer = c->addr;
      n++;
    }
    if (n == BATCH || (i == R.max_clients && n)) {
      unsigned off = 0;
      while (off < n) {
        int r = smart__udp_send_batch(R.lfd, d + off, n - off);
        if (r <= 0) { /* full socket or an error: the rest miss this one */
          R.st.sock_dropped += n - off;
          break;
        }
        R.st.forwarded += (uint64_t)r;
        R.st.fwd_bytes += (uint64_t)r * len;
        off += (unsigned)r;
      }
      n = 0;
    }
  }
}

/* Seal (secure mode) and send a reply, never longer than the request. */
static void reply(const struct smart__tun_msg *m, size_t req_len,
                  const struct smart__sockaddr *to, uint64_t *count, uint64_t *bytes,
                  uint64_t now) {
  uint8_t buf[256];
  smart_ssize n = smart__tun_encode(buf, sizeof(buf), m);
  if (n > 0 && R.sec)
    n = smart__sec_seal(R.sec, buf, (size_t)n, sizeof(buf), now);
  if (n <= 0 || (size_t)n > req_len) { /* cannot happen: same layout */
    R.st.bad++;
    return;
  }
  if (send_one(R.lfd, buf, (size_t)n, to) == 1) {
    (*count)++;
    *bytes += (uint64_t)n;
    R.st.replies++;
    R.st.reply_bytes += (uint64_t)n;
  }
}

/* ---- tunnel requests -------------------------------------------------- */

static void on_tunnel(const uint8_t *dg, size_t len, size_t wire_len,
                      const struct smart__sockaddr *from, uint64_t now) {
  struct smart__tun_msg m;
  if (smart__tun_decode(&m, dg, len) != 0 || !m.has_cookie || !m.has_port ||
      !smart__addr_equal(&m.group, &R.group)) {
    R.st.bad++;
    return;
  }
  int valid = smart__tun_cookie_ok(R.ops, R.secret, now, from, &R.group, m.cookie);
  struct smart__tun_msg r = m; /* the request's layout, the relay's values */
  r.group = R.group;
  r.peer = *from;
  if (!m.addr6 && from->u.sa.sa_family != AF_INET)
    r.peer.len = 0;
  if (m.cmd == SMART__TUN_LEAVE) {
    if (!valid) {
      R.st.bad++; /* nothing to cancel for an unproven address */
      return;
    }
    struct client *c = client_find(from);
    if (c)
      client_drop(c);
    reply(&r, wire_len, from, &R.st.leaves, &R.st.leave_bytes, now);
    return;
  }
  if (valid) {
    struct client *c = client_find(from);
    if (!c && !(c = client_add(from, now))) {
      r.cmd = SMART__TUN_LEAVE; /* full of live clients: refused, cookie echoed */
      reply(&r, wire_len, from, &R.st.refused, &R.st.refused_bytes, now);
      return;
    }
    c->last_heard = now;
    if (valid == 1) { /* granted: the cookie echoed */
      reply(&r, wire_len, from, &R.st.grants, &R.st.grant_bytes, now);
      return;
    }
    /* Served, but the cookie is of the previous bucket: a fresh one. */
  } else if (!take_challenge(now)) {
    R.st.throttled++;
    return;
  }
  if (smart__tun_cookie(R.ops, R.secret, now / SMART__TUN_BUCKET_NS, from, &R.group,
                        r.cookie) != 0)
    return;
  reply(&r, wire_len, from, &R.st.challenges, &R.st.challenge_bytes, now);
}

/* Open a sealed datagram into R.plain (secure mode); returns its length or
 * -1 when it does not authenticate. Without security: a copy. */
static smart_ssize open_dg(const uint8_t *dg, size_t len, uint64_t now) {
  if (!R.sec) {
    memcpy(R.plain, dg, len);
    return (smart_ssize)len;
  }
  uint32_t sid;
  smart_ssize n = smart__sec_open(R.sec, dg, len, R.plain, DGRAM_MAX, &sid, now);
  if (n < 0) {
    R.st.auth_failed++;
    return -1;
  }
  return n;
}

/* Feedback to where the group is: multicast, or the upstream relay. */
static void to_group(const uint8_t *dg, size_t len) {
  if (R.up)
    send_one(R.ufd, dg, len, &R.upstream);
  else
    send_one(R.sfd, dg, len, &R.group);
}

static void on_listen(struct smart__dgram *d, uint64_t now) {
  if (d->len == (size_t)-1 || d->len < 2) {
    R.st.bad++;
    return;
  }
  unsigned typ = d->buf[1] >> 6;
  if (typ == SMART__TYP_TUNNEL) {
    R.st.requests++;
    R.st.request_bytes += d->len;
    smart_ssize n = open_dg(d->buf, d->len, now);
    if (n > 0)
      on_tunnel(R.plain, (size_t)n, d->len, &d->peer, now);
    return;
  }
  struct client *c = client_find(&d->peer);
  if (!c || typ == SMART__TYP_DATA) { /* only clients' feedback is relayed */
    R.st.bad++;
    return;
  }
  if (!take_feedback(c, now)) {
    R.st.feedback_dropped++;
    return;
  }
  if (open_dg(d->buf, d->len, now) < 0)
    return;
  c->last_heard = now;
  R.st.feedback++;
  to_group(d->buf, d->len);
  forward_all(d->buf, d->len, c, now); /* other clients suppress on it */
}

static void on_upstream(struct smart__dgram *d, uint64_t now) {
  if (d->len == (size_t)-1 || !smart__addr_equal(&d->peer, &R.upstream))
    return;
  if (d->len >= 2 && d->buf[1] >> 6 == SMART__TYP_TUNNEL) {
    smart_ssize n = open_dg(d->buf, d->len, now);
    if (n > 0)
      smart__tunnel_input(R.up, R.plain, (size_t)n, now);
    return;
  }
  forward_all(d->buf, d->len, NULL, now);
}

static void upstream_output(uint8_t sync, uint64_t now) {
  uint8_t buf[512];
  smart_ssize n;
  while ((n = smart__tunnel_output(R.up, buf, sizeof(buf) - SMART__SEC_OVERHEAD, sync, now)) > 0) {
    if (R.sec && (n = smart__sec_seal(R.sec, buf, (size_t)n, sizeof(buf), now)) < 0)
      break;
    send_one(R.ufd, buf, (size_t)n, &R.upstream);
  }
}

typedef void (*rx_fn)(struct smart__dgram *d, uint64_t now);

static void drain(int fd, int is_group, rx_fn fn) {
  struct smart__dgram d[BATCH];
  for (int rounds = 0; rounds < 16; rounds++) {
    for (unsigned i = 0; i < BATCH; i++) {
      d[i].buf = R.rbuf + (size_t)i * DGRAM_MAX;
      d[i].len = DGRAM_MAX;
    }
    int n = smart__udp_recv_batch(fd, d, BATCH);
    if (n <= 0)
      return;
    uint64_t now = smart__now();
    for (int i = 0; i < n; i++) {
      if (is_group) {
        if (d[i].len == (size_t)-1 || smart__addr_equal(&d[i].peer, &R.self))
          continue; /* our own multicast, looped back */
        forward_all(d[i].buf, d[i].len, NULL, now);
      } else {
        fn(&d[i], now);
      }
    }
    if (n < BATCH)
      return;
  }
}

static int bind_to(int fd, const struct smart__sockaddr *a) {
  return bind(fd, &a->u.sa, a->len) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"group", required_argument, 0, 'g'},       {"iface", required_argument, 0, 'i'},
      {"listen", required_argument, 0, 'l'},      {"key-file", required_argument, 0, 'K'},
      {"upstream", required_argument, 0, 'u'},    {"rate", required_argument, 0, 'r'},
      {"max-clients", required_argument, 0, 'm'}, {"stats-every", required_argument, 0, 'S'},
      {"sync", required_argument, 0, 's'},        {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  const char *group = NULL, *iface = NULL, *listen_at = NULL, *key_file = NULL,
             *upstream = NULL;
  double rate = 12500000, stats_every = 0;
  unsigned max_clients = 256;
  uint8_t sync = 0x53;
  int c;
  cli_prog = "smart-relay";
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'g': group = optarg; break;
    case 'i': iface = optarg; break;
    case 'l': listen_at = optarg; break;
    case 'K': key_file = optarg; break;
    case 'u': upstream = optarg; break;
    case 'r': rate = cli_number("--rate", optarg, 0, 1e12); break;
    case 'm': max_clients = (unsigned)cli_number("--max-clients", optarg, 1, 65536); break;
    case 'S': stats_every = cli_number("--stats-every", optarg, 0, 1e6); break;
    case 's': sync = (uint8_t)cli_number("--sync", optarg, 0, 255); break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!group || !iface || !listen_at || optind != argc) {
    usage(stderr);
    return 2;
  }
  if (smart__addr_parse(group, 0, &R.group) != 0 || !smart__addr_is_multicast(&R.group))
    cli_die(2, "--group: not a multicast ADDR:PORT: %s", group);
  if (smart__addr_parse(listen_at, 0, &R.listen) != 0)
    cli_die(2, "--listen: not an ADDR:PORT: %s", listen_at);
  if (upstream && smart__addr_parse(upstream, 0, &R.upstream) != 0)
    cli_die(2, "--upstream: not an ADDR:PORT: %s", upstream);
  int gfam = R.group.u.sa.sa_family;
  int rc = smart__iface_resolve(iface, gfam, &R.ifc);
  if (rc)
    cli_die(2, "--iface %s: %s", iface, smart_strerror(rc));
  R.max_clients = max_clients;
  R.rate = (uint64_t)rate;
  R.burst = R.rate / 10 > 65536 ? R.rate / 10 : 65536;
  R.clients = calloc(max_clients, sizeof(*R.clients));
  R.rbuf = malloc((size_t)BATCH * DGRAM_MAX);
  R.plain = malloc(DGRAM_MAX);
  if (!R.clients || !R.rbuf || !R.plain)
    cli_die(1, "out of memory");
  R.ops = smart_crypto_sodium();
  if (R.ops->random(R.secret, sizeof(R.secret), R.ops->user_data) != 0)
    cli_die(1, "no random bytes");
  if (key_file) {
    uint8_t key[32];
    uint32_t id;
    cli_read_key(key_file, key, 32, "--key-file");
    struct smart__sec_cfg sc = {.ops = R.ops, .mode = SMART__SEC_GROUP, .group_key = key,
                                .grace_ns = 2 * NS};
    rc = smart__sec_new(&R.sec, &sc, &id);
    smart__memzero(key, sizeof(key));
    if (rc)
      cli_die(1, "security: %s", smart_strerror(rc));
  }
  R.gfd = R.sfd = R.ufd = -1;
  uint64_t now = smart__now();
  if (upstream) {
    /* A client of another relay: the group comes through its tunnel. */
    R.ufd = smart__udp_socket(R.upstream.u.sa.sa_family);
    if (R.ufd < 0)
      cli_die(1, "socket: %s", smart_strerror(R.ufd));
    if (R.upstream.u.sa.sa_family == gfam && R.ifc.addr.len &&
        smart__udp_bind_iface(R.ufd, &R.ifc) != 0)
      cli_die(1, "bind %s: %s", iface, strerror(errno));
    if ((rc = smart__tunnel_new(&R.up, &R.upstream, &R.group, NULL, now)) != 0)
      cli_die(1, "tunnel: %s", smart_strerror(rc));
  } else {
    R.gfd = smart__udp_socket(gfam);
    R.sfd = smart__udp_socket(gfam);
    if (R.gfd < 0 || R.sfd < 0)
      cli_die(1, "socket: %s", smart_strerror(R.gfd < 0 ? R.gfd : R.sfd));
    if ((rc = smart__udp_bind_group(R.gfd, &R.group)) != 0 ||
        (rc = smart__udp_bind_iface(R.sfd, &R.ifc)) != 0 ||
        (rc = smart__mcast_out(R.sfd, gfam, &R.ifc, 1, 1)) != 0 ||
        (rc = smart__mcast_membership(R.gfd, &R.group, &R.ifc, NULL, 1)) != 0)
      cli_die(1, "join %s on %s: %s", group, iface, smart_strerror(rc));
    R.self.len = sizeof(R.self.u.ss);
    if (getsockname(R.sfd, &R.self.u.sa, &R.self.len) != 0)
      cli_die(1, "getsockname: %s", strerror(errno));
    (void)smart__udp_ignore_source(R.gfd, &R.self);
  }
  R.lfd = smart__udp_socket(R.listen.u.sa.sa_family);
  if (R.lfd < 0 || bind_to(R.lfd, &R.listen) != 0)
    cli_die(1, "listen on %s: %s", listen_at, strerror(errno));
  int sndbuf = 4 << 20;
  (void)setsockopt(R.lfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  (void)setsockopt(R.lfd, SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof(sndbuf));
  if (R.gfd >= 0)
    (void)setsockopt(R.gfd, SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof(sndbuf));

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  fprintf(stderr, "smart-relay: group %s, listening on %s%s%s%s\n", group, listen_at,
          upstream ? ", upstream " : "", upstream ? upstream : "",
          R.sec ? ", secure" : "");

  uint64_t next_sweep = now + NS;
  uint64_t next_stats = stats_every > 0 ? now + (uint64_t)(stats_every * 1e9) : UINT64_MAX;
  R.ch_tokens = CHALLENGE_RATE;
  R.ch_refill = now;
  while (!stop) {
    now = smart__now();
    if (R.up)
      upstream_output(sync, now);
    uint64_t deadline = next_sweep < next_stats ? next_sweep : next_stats;
    if (R.up && smart__tunnel_expiry(R.up) < deadline)
      deadline = smart__tunnel_expiry(R.up);
    int wait_ms = deadline <= now ? 0 : (int)((deadline - now) / 1000000u) + 1;
    struct pollfd p[3];
    int np = 0;
    p[np++] = (struct pollfd){.fd = R.lfd, .events = POLLIN};
    p[np++] = (struct pollfd){.fd = R.up ? R.ufd : R.gfd, .events = POLLIN};
    int r = poll(p, (nfds_t)np, wait_ms);
    if (r < 0 && errno != EINTR)
      cli_die(1, "poll: %s", strerror(errno));
    if (r > 0) {
      if (p[1].revents & POLLIN) {
        if (R.up)
          drain(R.ufd, 0, on_upstream);
        else
          drain(R.gfd, 1, NULL);
      }
      if (p[0].revents & POLLIN)
        drain(R.lfd, 0, on_listen);
    }
    now = smart__now();
    if (now >= next_sweep) {
      clients_sweep(now);
      next_sweep = now + NS;
    }
    if (now >= next_stats) {
      print_stats(stderr);
      next_stats = now + (uint64_t)(stats_every * 1e9);
    }
  }
  if (R.up) { /* say goodbye upstream, briefly */
    smart__tunnel_leave(R.up, smart__now());
    upstream_output(sync, smart__now());
  }
  print_stats(stdout);
  smart__tunnel_del(R.up);
  smart__sec_del(R.sec);
  free(R.clients);
  free(R.rbuf);
  free(R.plain);
  if (R.gfd >= 0)
    close(R.gfd);
  if (R.sfd >= 0)
    close(R.sfd);
  if (R.ufd >= 0)
    close(R.ufd);
  close(R.lfd);
  return 0;
}
