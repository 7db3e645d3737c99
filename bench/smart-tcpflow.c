/*
 * smart-tcpflow: one bounded bulk TCP flow, the competing traffic of
 * tests/netns-cc-tcp.sh (a stand-in for iperf3, which is not always
 * there). The sender writes as fast as the connection takes for SECONDS,
 * then closes; the receiver reads until the sender closes. Each side prints
 * the bytes it moved in every INTERVAL and a total line:
 *
 *   smart-tcpflow --listen ADDR:PORT [--interval S] [--timeout S]
 *   smart-tcpflow --connect ADDR:PORT --seconds S [--interval S] [--timeout S]
 *
 * Lines (standard output), times in seconds since the first byte:
 *
 *   tcpflow: interval T0-T1 BYTES bytes
 *   tcpflow: total BYTES bytes in T s (R bytes/s) cc CONGESTION-ALGORITHM
 *            [rtt MS ms cwnd SEGMENTS retransmitted SEGMENTS]
 *
 * (the last three the sender's, from TCP_INFO as the flow ends: its
 * smoothed round trip, its window and the segments it sent again).
 *
 * The congestion control algorithm is the kernel's for that connection
 * (TCP_CONGESTION), reno, cubic or another; --cc NAME asks for one on the
 * sender. Everything is bounded: the receiver gives up after --timeout
 * (60 s by default) without the sender closing, the sender after --timeout
 * of not being able to write. Exit 0 when the flow ran to its end.
 *
 * A benchmark, not a test: it prints figures and asserts no timing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "smart-tcpflow: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int parse_addr(const char *s, struct sockaddr_in *a) {
  char host[64];
  const char *colon = strrchr(s, ':');
  if (!colon || (size_t)(colon - s) >= sizeof(host))
    return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = 0;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port <= 0 || port > 65535)
    return -1;
  memset(a, 0, sizeof(*a));
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)port);
  return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static double number(const char *opt, const char *s, double lo, double hi) {
  char *end;
  double v = strtod(s, &end);
  if (*end || !(v >= lo && v <= hi)) {
    fprintf(stderr, "smart-tcpflow: %s: '%s' is not a number in [%g, %g]\n", opt, s, lo, hi);
    exit(2);
  }
  return v;
}

/* Per-interval counting, relative to the first byte. */
struct meter {
  double t0, next, step;
  unsigned long long bytes, total;
  int started;
};

static void meter_tick(struct meter *m, double t) {
  while (m->started && t >= m->next) {
    printf("tcpflow: interval %.1f-%.1f %llu bytes\n", m->next - m->step - m->t0,
           m->next - m->t0, m->bytes);
    m->bytes = 0;
    m->next += m->step;
  }
}

static void meter_add(struct meter *m, size_t n, double t) {
  if (!m->started) {
    m->started = 1;
    m->t0 = t;
    m->next = t + m->step;
  }
  meter_tick(m, t);
  m->bytes += n;
  m->total += n;
}

static void meter_end(struct meter *m, int fd, double t) {
  meter_tick(m, t);
  if (m->started && m->bytes)
    printf("tcpflow: interval %.1f-%.1f %llu bytes\n", m->next - m->step - m->t0, t - m->t0,
           m->bytes);
  char alg[32] = "?";
  socklen_t len = sizeof(alg) - 1;
  if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, alg, &len) == 0)
    alg[len < sizeof(alg) ? len : sizeof(alg) - 1] = 0;
  double dt = m->started ? t - m->t0 : 0;
  printf("tcpflow: total %llu bytes in %.2f s (%.0f bytes/s) cc %s", m->total, dt,
         dt > 0 ? (double)m->total / dt : 0, alg);
  struct tcp_info ti;
  len = sizeof(ti);
  memset(&ti, 0, sizeof(ti));
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_snd_cwnd > 1)
    printf(" rtt %.1f ms cwnd %u retransmitted %u", (double)ti.tcpi_rtt / 1e3, ti.tcpi_snd_cwnd,
           ti.tcpi_total_retrans); /* the sender's view, at the end */
  printf("\n");
  fflush(stdout);
}

static void usage(FILE *o) {
  fputs("usage: smart-tcpflow --listen ADDR:PORT [--interval S] [--timeout S]\n"
        "       smart-tcpflow --connect ADDR:PORT --seconds S [--interval S] [--timeout S]\n"
        "                     [--cc ALGORITHM]\n",
        o);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"listen", required_argument, 0, 'l'},   {"connect", required_argument, 0, 'c'},
      {"seconds", required_argument, 0, 's'},  {"interval", required_argument, 0, 'i'},
      {"timeout", required_argument, 0, 't'},  {"cc", required_argument, 0, 'C'},
      {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
  const char *listen_at = NULL, *connect_to = NULL, *alg = NULL;
  double seconds = 0, interval = 1, timeout = 60;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'l': listen_at = optarg; break;
    case 'c': connect_to = optarg; break;
    case 's': seconds = number("--seconds", optarg, 0.001, 86400); break;
    case 'i': interval = number("--interval", optarg, 0.01, 3600); break;
    case 't': timeout = number("--timeout", optarg, 0.1, 86400); break;
    case 'C': alg = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  struct sockaddr_in addr;
  if (optind != argc || !!listen_at == !!connect_to || (connect_to && seconds <= 0) ||
      parse_addr(listen_at ? listen_at : connect_to, &addr) != 0) {
    usage(stderr);
    return 2;
  }
  static char buf[1 << 17];
  struct meter m = {.step = interval};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    die("socket");
  if (listen_at) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
      die("bind");
    if (listen(fd, 1) != 0)
      die("listen");
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, (int)(timeout * 1000));
    if (r <= 0) {
      fprintf(stderr, "smart-tcpflow: no connection within %g s\n", timeout);
      return 1;
    }
    int cfd = accept(fd, NULL, NULL);
    if (cfd < 0)
      die("accept");
    close(fd);
    fd = cfd;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    double idle_since = now_s();
    for (;;) {
      p = (struct pollfd){fd, POLLIN, 0};
      poll(&p, 1, 100);
      double t = now_s();
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n > 0) {
        meter_add(&m, (size_t)n, t);
        idle_since = t;
        continue;
      }
      if (n == 0)
        break; /* the sender closed: the flow is over */
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        die("read");
      meter_tick(&m, t);
      if (t > idle_since + timeout) {
        meter_end(&m, fd, t);
        fprintf(stderr, "smart-tcpflow: nothing for %g s; giving up\n", timeout);
        return 1;
      }
    }
    meter_end(&m, fd, now_s());
    close(fd);
    return 0;
  }
  if (alg && setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, alg, (socklen_t)strlen(alg)) != 0)
    die("TCP_CONGESTION");
  double until = now_s() + timeout;
  while (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
    /* The listener may not be up yet: try again, within the timeout. */
    if ((errno != ECONNREFUSED && errno != ENETUNREACH) || now_s() > until)
      die("connect");
    close(fd);
    usleep(50000);
    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
      die("socket");
    if (alg && setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, alg, (socklen_t)strlen(alg)) != 0)
      die("TCP_CONGESTION");
  }
  fcntl(fd, F_SETFL, O_NONBLOCK);
  memset(buf, 'x', sizeof(buf));
  double start = now_s(), end = start + seconds, stuck_since = start;
  for (;;) {
    double t = now_s();
    if (t >= end)
      break;
    struct pollfd p = {fd, POLLOUT, 0};
    int left = (int)((end - t) * 1000) + 1;
    poll(&p, 1, left < 100 ? left : 100);
    t = now_s();
    ssize_t n = write(fd, buf, sizeof(buf));
    if (n > 0) {
      meter_add(&m, (size_t)n, t);
      stuck_since = t;
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      die("write");
    meter_tick(&m, t);
    if (t > stuck_since + timeout) {
      fprintf(stderr, "smart-tcpflow: could not write for %g s; giving up\n", timeout);
      meter_end(&m, fd, t);
      return 1;
    }
  }
  meter_end(&m, fd, now_s());
  /* What is still in the socket buffer drains after close; the receiver
   * sees the end. */
  close(fd);
  return 0;
}
