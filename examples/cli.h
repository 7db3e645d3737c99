/* Small helpers shared by the example programs. */
#ifndef SMART_EXAMPLES_CLI_H
#define SMART_EXAMPLES_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <smart/smart.h>

/* Print "PROG: message" and exit with `status`. */
void cli_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse a number within [min, max] or die naming the option. */
double cli_number(const char *opt, const char *text, double min, double max);
/* Set an option or die with the library's message. */
void cli_setopt(smart_sock *s, int opt, const void *val, size_t len, const char *what);
extern const char *cli_prog;
/* --verbose: one line of congestion-control figures on standard error, at
 * most once a second (sender: its rate, the limiting receiver, its loss
 * and round trip, GRTT; receiver: its loss, round trip, equation rate). */
void cli_cc_line(smart_sock *s, int sender);
/* --verbose, sender: the congestion-control events waiting, one line each
 * (other events are dropped). */
void cli_cc_events(smart_sock *s);

#endif

/* Hex helpers for key files: parse exactly n bytes of hex (whitespace
 * ignored) or return -1. */
int cli_unhex(const char *text, uint8_t *out, size_t n);
void cli_hex(char *out, const uint8_t *in, size_t n);
/* Read the first line of a key file as n bytes of hex, or die. */
void cli_read_key(const char *path, uint8_t *out, size_t n, const char *what);
/* Apply --key-file / --identity / --peer-key / --allow to a socket. */
struct cli_security {
  const char *key_file, *identity_file, *allow_file, *cipher;
  const char *peer_keys[16];
  int npeer_keys;
};
void cli_apply_security(smart_sock *s, const struct cli_security *sec);
/* The getopt_long entries of the security options, and their handler:
 * 1 if `c` was one of them (recorded in sec), else 0. */
#define CLI_SECURITY_OPTIONS                                                        \
  {"key-file", required_argument, 0, 'K'}, {"identity", required_argument, 0, 'I'}, \
      {"peer-key", required_argument, 0, 'P'}, {"allow", required_argument, 0, 'A'}, \
      {"cipher", required_argument, 0, 'C'}
int cli_security_opt(struct cli_security *sec, int c, const char *arg);
