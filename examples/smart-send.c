/*
 * smart-send: send each line of standard input as one SMART message.
 *
 *   smart-send --group ADDR:PORT --iface ADDR [--sync N] [--rate BYTES_PER_S]
 *              [--linger SECONDS] [--cc on|off] [--verbose]
 *
 * At end of input it lingers answering repair requests (until the group has
 * been quiet for a repair interval, at most SECONDS), then exits 0.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *o) {
  fputs("usage: smart-send --group ADDR:PORT --iface ADDR [--sync N] [--rate BYTES_PER_S]\n"
        "                  [--linger SECONDS] [--cc on|off] [--verbose]\n"
        "                  [--key-file FILE | --identity FILE --allow FILE]\n",
        o);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"group", required_argument, 0, 'g'}, {"iface", required_argument, 0, 'i'},
      {"sync", required_argument, 0, 's'},  {"rate", required_argument, 0, 'r'},
      {"linger", required_argument, 0, 'l'}, CLI_SECURITY_OPTIONS,
      {"cc", required_argument, 0, 'C'},    {"verbose", no_argument, 0, 'v'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  const char *group = NULL, *iface = NULL;
  uint32_t sync = 0x53, linger_ms = 5000, cc = SMART_CC_ON;
  uint64_t rate = 0;
  int c, verbose = 0;
  struct cli_security sec = {0};
  cli_prog = "smart-send";
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'g': group = optarg; break;
    case 'i': iface = optarg; break;
    case 's': sync = (uint32_t)cli_number("--sync", optarg, 0, 255); break;
    case 'r': rate = (uint64_t)cli_number("--rate", optarg, 0, 1e12); break;
    case 'l': linger_ms = (uint32_t)(cli_number("--linger", optarg, 0, 3600) * 1000); break;
    case 'C':
      if (strcmp(optarg, "on") && strcmp(optarg, "off"))
        cli_die(2, "--cc wants on or off");
      cc = strcmp(optarg, "on") ? SMART_CC_OFF : SMART_CC_ON;
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
    if (verbose) {
      cli_cc_events(s);
      cli_cc_line(s, 1);
    }
  }
  free(line);
  /* Everything goes out (at --rate), and the group gets its chance to ask
   * for repairs; then close lingers up to --linger for late requests. */
  int frc;
  if (verbose) { /* a second at a time, to say how it goes */
    while ((frc = smart_flush(s, 1000)) == SMART_ETIMEDOUT) {
      cli_cc_events(s);
      cli_cc_line(s, 1);
    }
  } else {
    frc = smart_flush(s, -1);
  }
  if (frc != 0)
    cli_die(1, "flush: %s", smart_strerror(frc));
  smart_close(s);
  return 0;
}
