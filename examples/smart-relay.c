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
 *
 * Every decision is the protocol room's (lib/proto/relay.h); this program
 * owns the sockets, the clock, the signals and the command line.
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
#include "proto/relay.h"
#include "util/time.h"

#define BATCH 32
#define DGRAM_MAX SMART__RELAY_DGRAM_MAX

struct args {
  const char *group, *iface, *listen, *key_file, *upstream;
  double rate, stats_every;
  unsigned max_clients;
  uint8_t sync;
};

static struct {
  int gfd, sfd, lfd, ufd; /* group (receive), multicast send, listening, upstream */
  struct smart__sockaddr group, listen, upstream, self;
  struct smart__iface ifc;
  struct smart__relay *relay;
  uint64_t forwarded, fwd_bytes, sock_dropped; /* what the sockets did */
  uint8_t *rbuf;
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
  struct smart__relay_stats s;
  smart__relay_get_stats(R.relay, &s);
  fprintf(o,
          "smart-relay: clients=%u peak=%llu evicted=%llu forwarded=%llu bytes=%llu "
          "rate_dropped=%llu sock_dropped=%llu requests=%llu request_bytes=%llu "
          "challenges=%llu challenge_bytes=%llu grants=%llu grant_bytes=%llu "
          "leaves=%llu leave_bytes=%llu refused=%llu refused_bytes=%llu "
          "replies=%llu reply_bytes=%llu bad=%llu auth_failed=%llu "
          "throttled=%llu feedback=%llu feedback_dropped=%llu\n",
          (unsigned)s.clients, (unsigned long long)s.peak, (unsigned long long)s.evicted,
          (unsigned long long)R.forwarded, (unsigned long long)R.fwd_bytes,
          (unsigned long long)s.rate_dropped, (unsigned long long)R.sock_dropped,
          (unsigned long long)s.requests, (unsigned long long)s.request_bytes,
          (unsigned long long)s.challenges, (unsigned long long)s.challenge_bytes,
          (unsigned long long)s.grants, (unsigned long long)s.grant_bytes,
          (unsigned long long)s.leaves, (unsigned long long)s.leave_bytes,
          (unsigned long long)s.refused, (unsigned long long)s.refused_bytes,
          (unsigned long long)s.replies, (unsigned long long)s.reply_bytes,
          (unsigned long long)s.bad,
          (unsigned long long)s.auth_failed, (unsigned long long)s.throttled,
          (unsigned long long)s.feedback, (unsigned long long)s.feedback_dropped);
  fflush(o);
}

/* ---- sending ---------------------------------------------------------- */

/* Send d[0..n) by the listening socket; what the socket does not take
 * (full, or an error) misses this round. */
static void send_clients(struct smart__dgram *d, unsigned n, int forwards) {
  unsigned off = 0;
  while (off < n) {
    int r = smart__udp_send_batch(R.lfd, d + off, n - off);
    if (r <= 0) {
      R.sock_dropped += n - off;
      return;
    }
    if (forwards) {
      R.forwarded += (uint64_t)r;
      R.fwd_bytes += (uint64_t)r * d[0].len;
    }
    off += (unsigned)r;
  }
}

/* Everything the relay has to send now: replies and forwards to clients
 * (forwards in batches), feedback and control towards the group. */
static void send_output(uint64_t now) {
  struct smart__dgram d[BATCH];
  struct smart__relay_dgram o;
  unsigned n = 0;
  while (smart__relay_output(R.relay, &o, now)) {
    struct smart__dgram one = {.buf = (uint8_t *)(uintptr_t)o.buf, .len = o.len, .peer = *o.to};
    if (o.kind == SMART__RELAY_FORWARD) {
      d[n++] = one;
      if (n == BATCH) {
        send_clients(d, n, 1);
        n = 0;
      }
    } else if (SMART__RELAY_BY_LISTEN(o.kind)) {
      send_clients(&one, 1, 0);
    } else {
      (void)smart__udp_send_batch(R.ufd >= 0 ? R.ufd : R.sfd, &one, 1);
    }
  }
  if (n)
    send_clients(d, n, 1);
}

/* ---- receiving -------------------------------------------------------- */

/* Read a few batches from `fd` and hand each datagram to the relay. */
static void drain(int fd, int listening) {
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
      if (listening)
        smart__relay_input(R.relay, d[i].buf, d[i].len, &d[i].peer, now);
      else if (R.gfd < 0 || !smart__addr_equal(&d[i].peer, &R.self)) /* not our own */
        smart__relay_group_input(R.relay, d[i].buf, d[i].len, &d[i].peer, now);
      send_output(now);
    }
    if (n < BATCH)
      return;
  }
}

/* ---- setting up ------------------------------------------------------- */

static void parse_args(int argc, char **argv, struct args *a) {
  static const struct option opts[] = {
      {"group", required_argument, 0, 'g'},       {"iface", required_argument, 0, 'i'},
      {"listen", required_argument, 0, 'l'},      {"key-file", required_argument, 0, 'K'},
      {"upstream", required_argument, 0, 'u'},    {"rate", required_argument, 0, 'r'},
      {"max-clients", required_argument, 0, 'm'}, {"stats-every", required_argument, 0, 'S'},
      {"sync", required_argument, 0, 's'},        {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int c;
  *a = (struct args){.rate = 12500000, .max_clients = 256, .sync = 0x53};
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'g': a->group = optarg; break;
    case 'i': a->iface = optarg; break;
    case 'l': a->listen = optarg; break;
    case 'K': a->key_file = optarg; break;
    case 'u': a->upstream = optarg; break;
    case 'r': a->rate = cli_number("--rate", optarg, 0, 1e12); break;
    case 'm': a->max_clients = (unsigned)cli_number("--max-clients", optarg, 1, 65536); break;
    case 'S': a->stats_every = cli_number("--stats-every", optarg, 0, 1e6); break;
    case 's': a->sync = (uint8_t)cli_number("--sync", optarg, 0, 255); break;
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); exit(2);
    }
  }
  if (!a->group || !a->iface || !a->listen || optind != argc) {
    usage(stderr);
    exit(2);
  }
  if (smart__addr_parse(a->group, 0, &R.group) != 0 || !smart__addr_is_multicast(&R.group))
    cli_die(2, "--group: not a multicast ADDR:PORT: %s", a->group);
  if (smart__addr_parse(a->listen, 0, &R.listen) != 0)
    cli_die(2, "--listen: not an ADDR:PORT: %s", a->listen);
  if (a->upstream && smart__addr_parse(a->upstream, 0, &R.upstream) != 0)
    cli_die(2, "--upstream: not an ADDR:PORT: %s", a->upstream);
  int rc = smart__iface_resolve(a->iface, R.group.u.sa.sa_family, &R.ifc);
  if (rc)
    cli_die(2, "--iface %s: %s", a->iface, smart_strerror(rc));
}

/* The group side: a socket towards the upstream relay, or the group's
 * receive and send sockets, joined on the interface. */
static void open_group_side(const struct args *a) {
  int gfam = R.group.u.sa.sa_family, rc;
  R.gfd = R.sfd = R.ufd = -1;
  if (a->upstream) {
    R.ufd = smart__udp_socket(R.upstream.u.sa.sa_family);
    if (R.ufd < 0)
      cli_die(1, "socket: %s", smart_strerror(R.ufd));
    if (R.upstream.u.sa.sa_family == gfam && R.ifc.addr.len &&
        smart__udp_bind_iface(R.ufd, &R.ifc) != 0)
      cli_die(1, "bind %s: %s", a->iface, strerror(errno));
    return;
  }
  R.gfd = smart__udp_socket(gfam);
  R.sfd = smart__udp_socket(gfam);
  if (R.gfd < 0 || R.sfd < 0)
    cli_die(1, "socket: %s", smart_strerror(R.gfd < 0 ? R.gfd : R.sfd));
  if ((rc = smart__udp_bind_group(R.gfd, &R.group)) != 0 ||
      (rc = smart__udp_bind_iface(R.sfd, &R.ifc)) != 0 ||
      (rc = smart__mcast_out(R.sfd, gfam, &R.ifc, 1, 1)) != 0 ||
      (rc = smart__mcast_membership(R.gfd, &R.group, &R.ifc, NULL, 1)) != 0)
    cli_die(1, "join %s on %s: %s", a->group, a->iface, smart_strerror(rc));
  R.self.len = sizeof(R.self.u.ss);
  if (getsockname(R.sfd, &R.self.u.sa, &R.self.len) != 0)
    cli_die(1, "getsockname: %s", strerror(errno));
  (void)smart__udp_ignore_source(R.gfd, &R.self);
}

static void open_sockets(const struct args *a) {
  open_group_side(a);
  R.lfd = smart__udp_socket(R.listen.u.sa.sa_family);
  if (R.lfd < 0 || bind(R.lfd, &R.listen.u.sa, R.listen.len) != 0)
    cli_die(1, "listen on %s: %s", a->listen, strerror(errno));
  int buf = 4 << 20;
  (void)setsockopt(R.lfd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  (void)setsockopt(R.lfd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  if (R.gfd >= 0)
    (void)setsockopt(R.gfd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

static void make_relay(const struct args *a, uint64_t now) {
  uint8_t key[32];
  struct smart__relay_cfg cfg = {.ops = smart_crypto_sodium(), .group = R.group,
                                 .upstream = a->upstream ? &R.upstream : NULL,
                                 .group_key = a->key_file ? key : NULL,
                                 .max_clients = a->max_clients, .rate = (uint64_t)a->rate,
                                 .sync = a->sync};
  if (a->key_file)
    cli_read_key(a->key_file, key, sizeof(key), "--key-file");
  int rc = smart__relay_new(&R.relay, &cfg, now);
  smart__memzero(key, sizeof(key));
  if (rc)
    cli_die(1, "relay: %s", smart_strerror(rc));
  R.rbuf = malloc((size_t)BATCH * DGRAM_MAX);
  if (!R.rbuf)
    cli_die(1, "out of memory");
}

static void on_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

/* ---- running ---------------------------------------------------------- */

static void run(double stats_every) {
  uint64_t every = (uint64_t)(stats_every * 1e9);
  uint64_t next_stats = every ? smart__now() + every : SMART__NEVER;
  while (!stop) {
    uint64_t now = smart__now();
    send_output(now); /* our own requests upstream, when due */
    uint64_t deadline = smart__min_deadline(smart__relay_expiry(R.relay), next_stats);
    int wait_ms = deadline <= now ? 0 : (int)((deadline - now) / SMART__NS_PER_MS) + 1;
    struct pollfd p[2] = {{.fd = R.lfd, .events = POLLIN},
                          {.fd = R.ufd >= 0 ? R.ufd : R.gfd, .events = POLLIN}};
    int r = poll(p, 2, wait_ms);
    if (r < 0 && errno != EINTR)
      cli_die(1, "poll: %s", strerror(errno));
    if (r > 0 && (p[1].revents & POLLIN))
      drain(p[1].fd, 0);
    if (r > 0 && (p[0].revents & POLLIN))
      drain(R.lfd, 1);
    now = smart__now();
    smart__relay_expire(R.relay, now);
    if (now >= next_stats) {
      print_stats(stderr);
      next_stats = now + every;
    }
  }
}

static void close_all(void) {
  smart__relay_del(R.relay);
  free(R.rbuf);
  int fds[] = {R.gfd, R.sfd, R.ufd, R.lfd};
  for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
    if (fds[i] >= 0)
      close(fds[i]);
}

int main(int argc, char **argv) {
  struct args a;
  cli_prog = "smart-relay";
  parse_args(argc, argv, &a);
  make_relay(&a, smart__now());
  open_sockets(&a);
  on_signals();
  fprintf(stderr, "smart-relay: group %s, listening on %s%s%s%s\n", a.group, a.listen,
          a.upstream ? ", upstream " : "", a.upstream ? a.upstream : "",
          a.key_file ? ", secure" : "");
  run(a.stats_every);
  smart__relay_leave(R.relay, smart__now()); /* say goodbye upstream, briefly */
  send_output(smart__now());
  print_stats(stdout);
  close_all();
  return 0;
}
