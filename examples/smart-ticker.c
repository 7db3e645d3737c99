/*
 * smart-ticker: a live demo of reliable multicast on one host.
 *
 *   smart-ticker [--group ADDR:PORT] [--iface ADDR] [--quotes N] [--rate N]
 *
 * A ticker publisher sends N stock quotes at N per second (default 20,000 at
 * 10,000/s) to a multicast group on loopback; three subscribers receive
 * them, the third one dropping 10% of everything that reaches it. The
 * session is encrypted and authenticated with a fresh random group key
 * (--insecure turns that off); an eavesdropper joined to the same group
 * with another key receives nothing. One thread
 * drives all four sockets through smart_fd(), smart_timeout() and
 * smart_process(), the way an application's event loop would. At the end
 * each subscriber's count, order check and counters are printed.
 */
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define SUBS 3

static const char *const symbols[] = {"ACME", "INIT", "GLOB", "UMBR", "STRK", "WAYN", "OCRP"};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int quote(char *buf, size_t len, unsigned i) {
  unsigned sym = i % 7;
  double px = 100.0 + (double)((i * 2654435761u) % 10000u) / 100.0;
  return snprintf(buf, len, "%08u %s %.2f %u", i, symbols[sym], px, 100 * (1 + i % 50));
}

static smart_sock *open_sock(const char *group, const char *iface, uint32_t drop_ppm,
                             const uint8_t *key) {
  smart_sock *s;
  int rc = smart_open(&s, SMART_OPEN_NONBLOCK);
  if (rc)
    cli_die(1, "open: %s", smart_strerror(rc));
  cli_setopt(s, SMART_OPT_DROP_PPM, &drop_ppm, sizeof(drop_ppm), "drop");
  if (key)
    cli_setopt(s, SMART_OPT_GROUP_KEY, key, 32, "group key");
  if ((rc = smart_join(s, group, iface, NULL, 0)) != 0)
    cli_die(1, "join %s on %s: %s", group, iface, smart_strerror(rc));
  return s;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"group", required_argument, 0, 'g'}, {"iface", required_argument, 0, 'i'},
      {"quotes", required_argument, 0, 'n'}, {"rate", required_argument, 0, 'r'},
      {"insecure", no_argument, 0, 'x'},    {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  const char *group = "239.255.42.42:4242", *iface = "127.0.0.1";
  unsigned total = 20000;
  double rate = 10000;
  int c, secure = 1;
  cli_prog = "smart-ticker";
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'g': group = optarg; break;
    case 'i': iface = optarg; break;
    case 'n': total = (unsigned)cli_number("--quotes", optarg, 1, 1e8); break;
    case 'r': rate = cli_number("--rate", optarg, 1, 1e7); break;
    case 'x': secure = 0; break;
    case 'h':
      puts("usage: smart-ticker [--group ADDR:PORT] [--iface ADDR] [--quotes N] [--rate N]\n"
           "                    [--insecure]");
      return 0;
    default: return 2;
    }
  }
  uint8_t key[32], other[32];
  smart_crypto_sodium()->random(key, sizeof(key), NULL);
  smart_crypto_sodium()->random(other, sizeof(other), NULL);
  const uint8_t *k = secure ? key : NULL;
  smart_sock *sub[SUBS], *all[SUBS + 2];
  for (int i = 0; i < SUBS; i++)
    all[i + 1] = sub[i] = open_sock(group, iface, i == SUBS - 1 ? 100000 : 0, k);
  smart_sock *pub = all[0] = open_sock(group, iface, 0, k);
  int nsock = SUBS + 1;
  smart_sock *spy = NULL;
  if (secure) /* joined to the group, but with a key of its own */
    spy = all[nsock++] = open_sock(group, iface, 0, other);
  printf("publisher -> %s on %s: %u quotes at %.0f/s; subscriber 3 drops 10%% of what it receives\n",
         group, iface, total, rate);
  printf("%s\n", secure ? "session encrypted and authenticated (XChaCha20-Poly1305, random group key);"
                          " an eavesdropper with another key listens too"
                        : "session NOT secured (--insecure)");

  unsigned sent = 0, got[SUBS] = {0}, disorder[SUBS] = {0};
  double start = now_s(), deadline = start + (double)total / rate + 30;
  char buf[256], exp[256];
  while (now_s() < deadline) {
    /* Publish what is due by now (paced). */
    unsigned due = (unsigned)((now_s() - start) * rate);
    while (sent < total && sent <= due) {
      int n = quote(buf, sizeof(buf), sent);
      smart_ssize r = smart_send(pub, buf, (size_t)n, 0);
      if (r == SMART_EAGAIN)
        break;
      if (r < 0)
        cli_die(1, "send: %s", smart_strerror((int)r));
      sent++;
    }
    /* Wait for traffic or a timer, at most 1 ms (the publisher's pace). */
    struct pollfd p[SUBS + 2];
    int t = 1;
    for (int i = 0; i < nsock; i++) {
      p[i].fd = smart_fd(all[i]);
      p[i].events = POLLIN;
      int32_t ti = smart_timeout(all[i]);
      if (ti >= 0 && ti < t)
        t = ti;
    }
    poll(p, (nfds_t)nsock, t);
    for (int i = 0; i < nsock; i++)
      smart_process(all[i], 0);
    char junk[256];
    while (spy && smart_recv(spy, junk, sizeof(junk), NULL, 0) >= 0)
      cli_die(1, "the eavesdropper read a quote: the session is not secure");
    int done = sent == total;
    for (int i = 0; i < SUBS; i++) {
      struct smart_msginfo info = {.size = sizeof(info)};
      smart_ssize n;
      while ((n = smart_recv(sub[i], buf, sizeof(buf) - 1, &info, 0)) != SMART_EAGAIN) {
        if (n == SMART_ELOST)
          cli_die(1, "subscriber %d: %" PRIu64 " quote datagram(s) lost", i + 1, info.count);
        if (n < 0)
          cli_die(1, "subscriber %d: %s", i + 1, smart_strerror((int)n));
        int el = quote(exp, sizeof(exp), got[i]);
        if (n != el || memcmp(buf, exp, (size_t)n) != 0)
          disorder[i]++;
        buf[n] = 0;
        if (got[i] % (total / 4 > 0 ? total / 4 : 1) == 0)
          printf("  subscriber %d <- %s\n", i + 1, buf);
        got[i]++;
        info.size = sizeof(info);
      }
      done &= got[i] == total;
    }
    if (done)
      break;
  }
  double secs = now_s() - start;
  int ok = 1;
  printf("\n%-12s %9s %8s %8s %8s %9s %10s %8s\n", "subscriber", "quotes", "in order", "dropped",
         "NAKs", "NAKs held", "recovered", "lost");
  for (int i = 0; i < SUBS; i++) {
    struct smart_stats st = {.size = sizeof(st)};
    smart_stats(sub[i], &st);
    printf("%-12d %9u %8s %8" PRIu64 " %8" PRIu64 " %9" PRIu64 " %10" PRIu64 " %8" PRIu64 "\n",
           i + 1, got[i], disorder[i] ? "NO" : "yes", st.drops_injected, st.naks_sent,
           st.naks_suppressed, st.losses_recovered, st.losses_unrecoverable);
    ok &= got[i] == total && !disorder[i];
  }
  struct smart_stats ps = {.size = sizeof(ps)};
  smart_stats(pub, &ps);
  printf("publisher: %" PRIu64 " quotes in %" PRIu64 " datagrams, %" PRIu64
         " repairs, %" PRIu64 " requests heard, %.2f s\n",
         ps.msgs_sent, ps.dgrams_sent, ps.repairs_sent, ps.naks_received, secs);
  if (spy) {
    struct smart_stats es = {.size = sizeof(es)};
    smart_stats(spy, &es);
    printf("eavesdropper: 0 quotes read, %" PRIu64 " datagrams refused (authentication failed)\n",
           es.drops_auth);
    ok &= es.msgs_received == 0;
  }
  printf("%s\n", ok ? "every subscriber received every quote, in order"
                    : "FAILED: a subscriber missed quotes");
  for (int i = 0; i < nsock; i++)
    smart_close(all[i]);
  return ok ? 0 : 1;
}
