/* Crypto providers (sodium.c, null.c) and secret-memory helpers. */
#ifndef SMART_CRYPTO_H
#define SMART_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "smart/smart.h"

/* Zeroed, guarded memory for keys (sodium_malloc); NULL on failure. */
void *smart__secure_alloc(size_t n);
void smart__secure_free(void *p);
void smart__memzero(void *p, size_t n);
/* Constant-time comparison: 1 if equal. */
int smart__ct_equal(const void *a, const void *b, size_t n);

/* The bit of an AEAD suite (SMART_CIPHER_*) in a provider's ciphers() mask. */
#define SMART__CIPHER_BIT(c) (UINT32_C(1) << (c))

/* The smallest table accepted: the 0.1 layout, which ends at hash. */
#define SMART__OPS_MIN_SIZE (offsetof(struct smart_crypto_ops, hash) + sizeof(void (*)(void)))

/* The suites beyond XChaCha20-Poly1305 that provider `o` offers here (a mask
 * of SMART__CIPHER_BIT): 0 for a table too short to hold aead_seal and
 * aead_open, or with any of the three unset. */
static inline uint32_t smart__ops_ciphers(const struct smart_crypto_ops *o) {
  if (!o || o->size < offsetof(struct smart_crypto_ops, aead_open) + sizeof(o->aead_open) ||
      !o->ciphers || !o->aead_seal || !o->aead_open)
    return 0;
  return o->ciphers(o->user_data) & SMART__CIPHER_BIT(SMART_CIPHER_AES256GCM);
}

#endif
