#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *cli_prog = "smart";

void cli_die(int status, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", cli_prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(status);
}

double cli_number(const char *opt, const char *text, double min, double max) {
  char *end;
  double v = text ? strtod(text, &end) : 0;
  if (!text || !*text || *end || v < min || v > max)
    cli_die(2, "%s wants a number from %g to %g", opt, min, max);
  return v;
}

void cli_setopt(smart_sock *s, int opt, const void *val, size_t len, const char *what) {
  int rc = smart_setopt(s, opt, val, len);
  if (rc != 0)
    cli_die(2, "%s: %s", what, smart_strerror(rc));
}

#include <ctype.h>
#include <string.h>

int cli_unhex(const char *text, uint8_t *out, size_t n) {
  size_t got = 0;
  int hi = -1;
  for (const char *c = text; *c; c++) {
    if (isspace((unsigned char)*c))
      continue;
    int v = isdigit((unsigned char)*c) ? *c - '0'
            : (*c >= 'a' && *c <= 'f') ? *c - 'a' + 10
            : (*c >= 'A' && *c <= 'F') ? *c - 'A' + 10
                                       : -1;
    if (v < 0 || got >= n)
      return -1;
    if (hi < 0) {
      hi = v;
    } else {
      out[got++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  return got == n && hi < 0 ? 0 : -1;
}

void cli_hex(char *out, const uint8_t *in, size_t n) {
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", in[i]);
}

void cli_read_key(const char *path, uint8_t *out, size_t n, const char *what) {
  FILE *f = fopen(path, "r");
  char line[512];
  if (!f)
    cli_die(2, "%s: cannot open %s", what, path);
  int ok = fgets(line, sizeof(line), f) && cli_unhex(line, out, n) == 0;
  fclose(f);
  memset(line, 0, sizeof(line));
  if (!ok)
    cli_die(2, "%s: %s does not start with a %zu-byte hex key", what, path, n);
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
  case 'P':
    if (sec->npeer_keys == 16)
      cli_die(2, "at most 16 --peer-key");
    sec->peer_keys[sec->npeer_keys++] = arg;
    return 1;
  default:
    return 0;
  }
}
