/*
 * smart-send: send each line of standard input as one SMART message.
 *
 *   smart-send --group ADDR:PORT --iface ADDR [--sync N] [--rate BYTES_PER_S]
 *              [--linger SECONDS] [--delivery reliable|realtime] [--cc on|off]
 *              [--verbose]
 *
 * At end of input it lingers answering repair requests (until the group has
 * been quiet for a repair interval, at most SECONDS), then exits 0.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* --verbose: what happened to the receivers, as it happens. */
static void print_events(smart_sock *s) {
  struct smart_event ev = {.size = sizeof(ev)};
  while (smart_event(s, &ev) == 1) {
    const char *what = NULL;
    switch (ev.type) {
    case SMART_EVENT_RECEIVER_NEW: what = "reports its position"; break;
    case SMART_EVENT_RECEIVER_BEHIND: what = "holds the window full"; break;
    case SMART_EVENT_RECEIVER_EVICTED: what = "is evicted (no progress)"; break;
    case SMART_EVENT_RECEIVER_GONE:
      what = ev.flags & SMART_EVENT_TIMEOUT ? "is gone (silent)" : "left";
      break;
    case SMART_EVENT_CC_LIMIT:
    case SMART_EVENT_RECEIVER_SLOW:
      fprintf(stderr, "smart-send: receiver %s %s (%.1f KiB/s, loss %.4f%%, rtt %.1f ms)\n",
              ev.member, ev.type == SMART_EVENT_CC_LIMIT ? "limits the rate now" : "is slow",
              (double)ev.rate / 1024, (double)ev.loss_ppm / 1e4, (double)ev.rtt_us / 1e3);
      break;
    default: break;
    }
    if (ev.type == SMART_EVENT_RECEIVER_EVICTED && (ev.flags & SMART_EVENT_SLOW))
      what = "is evicted (too slow)";
    if (what)
      fprintf(stderr, "smart-send: receiver %s %s at sequence %llu\n", ev.member, what,
              (unsigned long long)ev.seq);
  }
}

static void print_stats(smart_sock *s, unsigned long sent) {
  struct smart_stats st = {.size = sizeof(st)};
  uint32_t window = 0;
  uint64_t sndbuf = 0;
  size_t len = sizeof(window);
  smart_getopt(s, SMART_OPT_WINDOW, &window, &len);
  len = sizeof(sndbuf);
  smart_getopt(s, SMART_OPT_SNDBUF, &sndbuf, &len);
  if (smart_stats(s, &st) != 0)
    return;
  fprintf(stderr,
          "smart-send: %lu message(s) in %llu datagram(s), %llu repair(s) for %llu request(s); "
          "held at most %llu of %u datagram(s) for repair, queued at most %llu of %llu byte(s)\n",
          sent, (unsigned long long)st.dgrams_sent, (unsigned long long)st.repairs_sent,
          (unsigned long long)st.naks_received, (unsigned long long)st.window_peak, window,
          (unsigned long long)st.sndbuf_peak, (unsigned long long)sndbuf);
}

static void usage(FILE *o) {
  fputs("usage: smart-send --group ADDR:PORT --iface ADDR [--sync N] [--rate BYTES_PER_S]\n"
        "                  [--linger SECONDS] [--delivery reliable|realtime] [--cc on|off]\n"
        "                  [--verbose]\n"
        "                  [--key-file FILE | --identity FILE --allow FILE] [--cipher AEAD]\n",
        o);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"group", required_argument, 0, 'g'}, {"iface", required_argument, 0, 'i'},
      {"sync", required_argument, 0, 's'},  {"rate", required_argument, 0, 'r'},
      {"linger", required_argument, 0, 'l'}, {"delivery", required_argument, 0, 'D'},
      {"verbose", no_argument, 0, 'v'},     {"cc", required_argument, 0, 'c'},
      CLI_SECURITY_OPTIONS,
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  const char *group = NULL, *iface = NULL;
  uint32_t sync = 0x53, linger_ms = 5000;
  uint64_t rate = 0;
  uint32_t delivery = SMART_DELIVERY_RELIABLE, cc = 0;
  int c, verbose = 0, cc_set = 0;
  struct cli_security sec = {0};
  cli_prog = "smart-send";
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'g': group = optarg; break;
    case 'i': iface = optarg; break;
    case 's': sync = (uint32_t)cli_number("--sync", optarg, 0, 255); break;
    case 'r': rate = (uint64_t)cli_number("--rate", optarg, 0, 1e12); break;
    case 'l': linger_ms = (uint32_t)(cli_number("--linger", optarg, 0, 3600) * 1000); break;
    case 'D':
      if (strcmp(optarg, "reliable") == 0)
        delivery = SMART_DELIVERY_RELIABLE;
      else if (strcmp(optarg, "realtime") == 0)
        delivery = SMART_DELIVERY_REALTIME;
      else
        cli_die(2, "--delivery: '%s' is neither reliable nor realtime", optarg);
      break;
    case 'c':
      if (strcmp(optarg, "on") && strcmp(optarg, "off"))
        cli_die(2, "--cc wants on or off");
      cc = strcmp(optarg, "on") ? SMART_CC_OFF : SMART_CC_ON;
      cc_set = 1;
      break;
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
  cli_setopt(s, SMART_OPT_RATE, &rate, sizeof(rate), "--rate");
  cli_setopt(s, SMART_OPT_LINGER_MS, &linger_ms, sizeof(linger_ms), "--linger");
  cli_setopt(s, SMART_OPT_DELIVERY, &delivery, sizeof(delivery), "--delivery");
  if (cc_set)
    cli_setopt(s, SMART_OPT_CC, &cc, sizeof(cc), "--cc");
  cli_apply_security(s, &sec);
  if ((rc = smart_join(s, group, iface, NULL, 0)) != 0)
    cli_die(1, "join %s on %s: %s", group, iface, smart_strerror(rc));
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  unsigned long sent = 0;
  while ((n = getline(&line, &cap, stdin)) >= 0) {
    if (n > 0 && line[n - 1] == '\n')
      n--;
    if (n == 0)
      continue; /* SMART messages carry at least one byte */
    smart_ssize r = smart_send(s, line, (size_t)n, 0);
    if (r < 0)
      cli_die(1, "send: %s", smart_strerror((int)r));
    sent++;
    if (verbose && sent % 1024 == 0) {
      print_events(s);
      cli_cc_line(s, 1); /* once a second at most */
    }
  }
  free(line);
  /* Everything goes out (at --rate), and the group gets its chance to ask
   * for repairs; then close lingers up to --linger for late requests. */
  int frc;
  if (verbose) { /* a second at a time, to say how it goes */
    while ((frc = smart_flush(s, 1000)) == SMART_ETIMEDOUT) {
      print_events(s);
      cli_cc_line(s, 1);
    }
    print_events(s);
    print_stats(s, sent);
  } else {
    frc = smart_flush(s, -1);
  }
  if (frc != 0)
    cli_die(1, "flush: %s", smart_strerror(frc));
  smart_close(s);
  return 0;
}
