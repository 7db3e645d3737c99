/*
 * Secret memory for keys: guarded, locked, zeroed pages (libsodium's
 * sodium_malloc), and the wipe and constant-time comparison the protocol
 * rooms use. The one place outside the providers that calls libsodium; the
 * sans-IO core reaches it only through these four names (crypto.h).
 * A socket allocates secret memory only when a key is set.
 */
#include <string.h>

#include <sodium.h>

#include "crypto.h"

static int so_init(void) { return sodium_init() < 0; }

void *smart__secure_alloc(size_t n) {
  if (so_init())
    return NULL;
  void *p = sodium_malloc(n);
  if (p)
    memset(p, 0, n);
  return p;
}

void smart__secure_free(void *p) { sodium_free(p); }

void smart__memzero(void *p, size_t n) { sodium_memzero(p, n); }

int smart__ct_equal(const void *a, const void *b, size_t n) {
  return sodium_memcmp(a, b, n) == 0;
}
