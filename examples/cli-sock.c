/* The command-line helpers that set options on a socket (the public API);
 * cli.c has the ones that need no socket. */
#include "cli.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void cli_setopt(smart_sock *s, int opt, const void *val, size_t len, const char *what) {
  int rc = smart_setopt(s, opt, val, len);
  if (rc != 0)
    cli_die(2, "%s: %s", what, smart_strerror(rc));
}

void cli_apply_security(smart_sock *s, const struct cli_security *sec) {
  uint8_t key[64];
  if (sec->key_file) {
    cli_read_key(sec->key_file, key, 32, "--key-file");
    cli_setopt(s, SMART_OPT_GROUP_KEY, key, 32, "--key-file");
  }
  if (sec->identity_file) {
    cli_read_key(sec->identity_file, key, 64, "--identity");
    cli_setopt(s, SMART_OPT_IDENTITY, key, 64, "--identity");
  }
  memset(key, 0, sizeof(key));
  if (sec->cipher) {
    uint32_t c = !strcmp(sec->cipher, "aes256gcm")           ? SMART_CIPHER_AES256GCM
                 : !strcmp(sec->cipher, "xchacha20poly1305") ? SMART_CIPHER_XCHACHA20POLY1305
                                                             : SMART_CIPHER_AUTO;
    int rc = smart_setopt(s, SMART_OPT_CIPHER, &c, sizeof(c));
    if (rc == SMART_ENOTSUP)
      cli_die(2, "--cipher %s: this machine's crypto provider does not offer it (AES-256-GCM "
                 "needs AES-NI)", sec->cipher);
    if (rc)
      cli_die(2, "--cipher: %s", smart_strerror(rc));
  }
  for (int i = 0; i < sec->npeer_keys; i++) {
    uint8_t pk[32];
    if (cli_unhex(sec->peer_keys[i], pk, 32) != 0)
      cli_die(2, "--peer-key wants 64 hex digits");
    cli_setopt(s, SMART_OPT_PEER_KEY, pk, 32, "--peer-key");
  }
  if (sec->allow_file) {
    FILE *f = fopen(sec->allow_file, "r");
    char line[512];
    int n = 0;
    if (!f)
      cli_die(2, "--allow: cannot open %s", sec->allow_file);
    while (fgets(line, sizeof(line), f)) {
      uint8_t pk[32];
      char *c = line;
      while (isspace((unsigned char)*c))
        c++;
      if (!*c || *c == '#')
        continue;
      if (cli_unhex(c, pk, 32) != 0)
        cli_die(2, "--allow: %s: not a 64-hex-digit public key: %s", sec->allow_file, c);
      int rc = smart_allow(s, pk);
      if (rc)
        cli_die(2, "--allow: %s", smart_strerror(rc));
      n++;
    }
    fclose(f);
    if (n == 0)
      cli_die(2, "--allow: %s lists no key", sec->allow_file);
  }
}

int cli_security_opt(struct cli_security *sec, int c, const char *arg) {
  switch (c) {
  case 'K': sec->key_file = arg; return 1;
  case 'I': sec->identity_file = arg; return 1;
  case 'A': sec->allow_file = arg; return 1;
  case 'C':
    if (strcmp(arg, "auto") && strcmp(arg, "xchacha20poly1305") && strcmp(arg, "aes256gcm"))
      cli_die(2, "--cipher: '%s' is none of auto, xchacha20poly1305, aes256gcm", arg);
    sec->cipher = arg;
    return 1;
  case 'P':
    if (sec->npeer_keys == 16)
      cli_die(2, "at most 16 --peer-key");
    sec->peer_keys[sec->npeer_keys++] = arg;
    return 1;
  default:
    return 0;
  }
}

void cli_cc_line(smart_sock *s, int sender) {
  static double last;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
  if (now < last + 1)
    return;
  last = now;
  struct smart_stats st = {.size = sizeof(st)};
  if (smart_stats(s, &st) != 0)
    return;
  if (sender)
    fprintf(stderr,
            "%s: rate %.1f KiB/s (limiting receiver %llu: loss %.4f%%, rtt %.1f ms), grtt %.1f "
            "ms, %llu reports, %llu repairs\n",
            cli_prog, (double)st.cc_rate / 1024, (unsigned long long)st.cc_clr,
            (double)st.cc_clr_loss_ppm / 1e4, (double)st.cc_clr_rtt_us / 1e3,
            (double)st.grtt_us / 1e3, (unsigned long long)st.cc_reports,
            (unsigned long long)st.repairs_sent);
  else
    fprintf(stderr,
            "%s: loss %.4f%%, rtt %.1f ms, equation rate %.1f KiB/s, %llu reports sent, %llu "
            "datagrams, %llu recovered, %llu lost, %llu dropped by our socket (%llu gaps left "
            "out of the loss rate)\n",
            cli_prog, (double)st.cc_loss_ppm / 1e4, (double)st.cc_rtt_us / 1e3,
            (double)st.cc_calc_rate / 1024, (unsigned long long)st.cc_reports,
            (unsigned long long)st.dgrams_received, (unsigned long long)st.losses_recovered,
            (unsigned long long)st.losses_unrecoverable, (unsigned long long)st.drops_socket,
            (unsigned long long)st.cc_losses_local);
}

void cli_cc_events(smart_sock *s) {
  struct smart_event ev = {.size = sizeof(ev)};
  while (smart_event(s, &ev) == 1) {
    if (ev.type == SMART_EVENT_CC_LIMIT)
      fprintf(stderr, "%s: limiting receiver now %s (%.1f KiB/s, loss %.4f%%, rtt %.1f ms)\n",
              cli_prog, ev.member, (double)ev.rate / 1024, (double)ev.loss_ppm / 1e4,
              (double)ev.rtt_us / 1e3);
    else if (ev.type == SMART_EVENT_RECEIVER_SLOW)
      fprintf(stderr, "%s: receiver %s is slow (%.1f KiB/s, loss %.4f%%, rtt %.1f ms)\n",
              cli_prog, ev.member, (double)ev.rate / 1024, (double)ev.loss_ppm / 1e4,
              (double)ev.rtt_us / 1e3);
    else if (ev.type == SMART_EVENT_RECEIVER_EVICTED)
      fprintf(stderr, "%s: receiver %s evicted (%s)\n", cli_prog, ev.member,
              (ev.flags & SMART_EVENT_SLOW) ? "slow" : "stalled");
  }
}
