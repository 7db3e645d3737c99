/*
 * smart-recv: print each delivered SMART message as one line, in order.
 *
 *   smart-recv --group ADDR:PORT --iface ADDR [--sync N] [--count N]
 *              [--timeout SECONDS] [--drop P] [--tunnel RELAY:PORT] [--skip-lost]
 *
 * Exits 0 after N messages; non-zero, with one line on standard error, when
 * SECONDS pass before that or when data is lost beyond repair. With
 * --skip-lost a loss is one line on standard error and receiving goes on;
 * a stream that ends short of N then exits 3.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"

static void usage(FILE *o) {
  fputs("usage: smart-recv --group ADDR:PORT --iface ADDR [--sync N] [--count N]\n"
        "                  [--timeout SECONDS] [--drop P] [--skip-lost] [--verbose]\n"
        "                  [--key-file FILE | --identity FILE --peer-key HEX] [--tunnel RELAY:PORT]\n"
        "                  [--cipher AEAD]\n",
        o);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"group", required_argument, 0, 'g'},   {"iface", required_argument, 0, 'i'},
      {"sync", required_argument, 0, 's'},    {"count", required_argument, 0, 'c'},
      {"timeout", required_argument, 0, 't'}, {"drop", required_argument, 0, 'd'},
      CLI_SECURITY_OPTIONS, {"tunnel", required_argument, 0, 'T'},
      {"skip-lost", no_argument, 0, 'S'},     {"verbose", no_argument, 0, 'v'},
      {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
  const char *group = NULL, *iface = NULL, *tunnel = NULL;
  uint32_t sync = 0x53, drop_ppm = 0;
  double count = 0, timeout = 0;
  int c, skip_lost = 0, verbose = 0;
  unsigned long long lost = 0, losses = 0;
  struct cli_security sec = {0};
  cli_prog = "smart-recv";
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'g': group = optarg; break;
    case 'i': iface = optarg; break;
    case 's': sync = (uint32_t)cli_number("--sync", optarg, 0, 255); break;
    case 'c': count = cli_number("--count", optarg, 1, 1e15); break;
    case 't': timeout = cli_number("--timeout", optarg, 0.001, 1e7); break;
    case 'd': drop_ppm = (uint32_t)(cli_number("--drop", optarg, 0, 1) * 1e6 + 0.5); break;
    case 'T': tunnel = optarg; break;
    case 'S': skip_lost = 1; break;
    case 'v': verbose = 1; break;
    case 'h': usage(stdout); return 0;
    default:
      if (cli_security_opt(&sec, c, optarg))
        break;
      usage(stderr);
      return 2;
    }
  }
  if (!group || !iface || optind != argc) {
    usage(stderr);
    return 2;
  }
  smart_sock *s;
  int rc = smart_open(&s, 0);
  if (rc)
    cli_die(1, "open: %s", smart_strerror(rc));
  cli_setopt(s, SMART_OPT_SYNC, &sync, sizeof(sync), "--sync");
  cli_setopt(s, SMART_OPT_DROP_PPM, &drop_ppm, sizeof(drop_ppm), "--drop");
  cli_apply_security(s, &sec);
  char url[160];
  if (tunnel) { /* no multicast here: the group through a relay */
    snprintf(url, sizeof(url), "smart+tunnel://%s/%s", tunnel, group);
    group = url;
  }
  if ((rc = smart_join(s, group, iface, NULL, 0)) != 0)
    cli_die(1, "join %s on %s: %s", group, iface, smart_strerror(rc));
  static char buf[1 << 20];
  double deadline = timeout > 0 ? now_s() + timeout : 0;
  unsigned long long got = 0;
  while (count == 0 || (double)got < count) {
    int32_t wait_ms = -1;
    if (deadline > 0) {
      double left = deadline - now_s();
      if (left <= 0) {
        struct smart_stats st = {.size = sizeof(st)};
        smart_stats(s, &st);
        cli_die(1,
                "timed out after %g s with %llu message(s) (%llu datagrams, %llu requests sent, "
                "%llu recovered, %llu lost)",
                timeout, got, (unsigned long long)st.dgrams_received,
                (unsigned long long)st.naks_sent, (unsigned long long)st.losses_recovered,
                (unsigned long long)st.losses_unrecoverable);
      }
      wait_ms = (int32_t)(left * 1000) + 1;
    }
    if (wait_ms < 0 || wait_ms > 250)
      wait_ms = 250; /* look at the events (a sender gone) between waits */
    smart_setopt(s, SMART_OPT_RCVTIMEO_MS, &wait_ms, sizeof(wait_ms));
    struct smart_msginfo info = {.size = sizeof(info)};
    smart_ssize n = smart_recv(s, buf, sizeof(buf), &info, 0);
    if (verbose)
      cli_cc_line(s, 0); /* once a second at most */
    struct smart_event ev = {.size = sizeof(ev)};
    while (n == SMART_EAGAIN && smart_event(s, &ev) == 1) {
      if (ev.type == SMART_EVENT_EVICTED)
        fprintf(stderr, "smart-recv: sender %s evicted this receiver (no progress for too long) "
                        "at sequence %llu; what it no longer holds will be reported lost\n",
                ev.member, (unsigned long long)ev.seq);
      if (ev.type != SMART_EVENT_SENDER_GONE)
        continue;
      int ended = (ev.flags & SMART_EVENT_ENDED) != 0;
      if (count > 0 && skip_lost && ended && losses > 0) { /* every gap was reported */
        if (fflush(stdout) != 0)
          cli_die(1, "write: output error");
        cli_die(3, "sender %s ended its stream after %llu of %.0f message(s); %llu datagram(s) "
                   "lost in %llu loss(es)", ev.member, got, count, lost, losses);
      }
      if (count > 0)
        cli_die(1, "sender %s %s after %llu of %.0f message(s)", ev.member,
                ended ? "ended its stream" : "is gone (silent too long)", got, count);
      fprintf(stderr, "smart-recv: sender %s %s after %llu message(s)\n", ev.member,
              ended ? "ended its stream" : "is gone (silent too long)", got);
    }
    if (n == SMART_EAGAIN)
      continue;
    if (n == SMART_ELOST && skip_lost) {
      fprintf(stderr, "smart-recv: lost %llu datagram(s) from %s at sequence %llu after %llu "
                      "message(s)\n", (unsigned long long)info.count, info.sender,
              (unsigned long long)info.seq, got);
      lost += info.count;
      losses++;
      continue;
    }
    if (n == SMART_ELOST)
      cli_die(1, "unrecoverable loss from %s: %llu datagram(s) from sequence %llu",
              info.sender, (unsigned long long)info.count, (unsigned long long)info.seq);
    if (n < 0)
      cli_die(1, "receive: %s", smart_strerror((int)n));
    if (info.flags & SMART_RECV_TRUNC) /* report rather than print half a line */
      cli_die(1, "message of %zu bytes is longer than %zu", info.len, sizeof(buf));
    fwrite(buf, 1, (size_t)n, stdout);
    fputc('\n', stdout);
    got++;
  }
  if (fflush(stdout) != 0)
    cli_die(1, "write: output error");
  if (verbose) {
    struct smart_stats st = {.size = sizeof(st)};
    smart_stats(s, &st);
    fprintf(stderr,
            "smart-recv: %llu message(s) in %llu datagram(s), %llu of them repairs; %llu "
            "request(s) sent, %llu suppressed; %llu gap(s) repaired, %llu datagram(s) lost\n",
            got, (unsigned long long)st.dgrams_received, (unsigned long long)st.repairs_received,
            (unsigned long long)st.naks_sent, (unsigned long long)st.naks_suppressed,
            (unsigned long long)st.losses_recovered, (unsigned long long)st.losses_unrecoverable);
  }
  smart_close(s);
  return 0;
}
