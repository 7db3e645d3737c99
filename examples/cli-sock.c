/* The command-line helpers that set options on a socket (the public API);
 * cli.c has the ones that need no socket. */
#include "cli.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

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
