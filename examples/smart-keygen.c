/*
 * smart-keygen: make keys for secure SMART sessions.
 *
 *   smart-keygen --group-key FILE   a new random 32-byte group key (hex)
 *   smart-keygen --identity FILE    a new identity key pair: FILE holds the
 *                                   secret key (hex, then the public key on
 *                                   a second line); the public key is
 *                                   printed as hex on standard output
 *
 * Secret files are created with mode 0600 (an existing file is replaced,
 * and its mode reset to 0600).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void write_secret(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    cli_die(1, "%s: %s", path, strerror(errno));
  size_t len = strlen(text);
  if (fchmod(fd, 0600) != 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
    int e = errno;
    close(fd);
    cli_die(1, "%s: %s", path, strerror(e));
  }
  if (close(fd) != 0)
    cli_die(1, "%s: %s", path, strerror(errno));
}

int main(int argc, char **argv) {
  cli_prog = "smart-keygen";
  if (argc != 3 || (strcmp(argv[1], "--group-key") && strcmp(argv[1], "--identity"))) {
    fputs("usage: smart-keygen --group-key FILE | --identity FILE\n", argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
    return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
  }
  char text[400];
  if (!strcmp(argv[1], "--group-key")) {
    uint8_t key[32];
    if (smart_crypto_sodium()->random(key, sizeof(key), NULL) != 0)
      cli_die(1, "no randomness");
    cli_hex(text, key, sizeof(key));
    strcat(text, "\n");
    write_secret(argv[2], text);
    memset(key, 0, sizeof(key));
  } else {
    uint8_t pk[32], sk[64];
    int rc = smart_identity_keypair(pk, sk);
    if (rc)
      cli_die(1, "keypair: %s", smart_strerror(rc));
    cli_hex(text, sk, sizeof(sk));
    strcat(text, "\n");
    cli_hex(text + strlen(text), pk, sizeof(pk));
    strcat(text, "\n");
    write_secret(argv[2], text);
    char pub[65];
    cli_hex(pub, pk, sizeof(pk));
    puts(pub);
    memset(sk, 0, sizeof(sk));
  }
  memset(text, 0, sizeof(text));
  return 0;
}
