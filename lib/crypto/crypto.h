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

/* Ed25519 signing in two steps, the built-in provider's (sodium.c): the
 * part that costs, the nonce point R = rB, ahead of time and off the
 * latency path (prepare), and at sign time only SHA-512(R || A || M) and
 * S = r + h*a mod L. The signature is an RFC 8032 Ed25519 signature (any
 * verifier checks it as it checks crypto_sign's), but not deterministic:
 * r = SHA-512(prefix || 32 random bytes || a count || the process ID)
 * reduced mod L, with prefix the key's secret half of SHA-512(seed). A
 * nonce is used once and wiped; one made before a fork is not used by the
 * child (sign refuses it). The core gets these through the session's
 * options, as it gets the ops table, when the shell's provider is the
 * built-in one. States live in secret memory. */
struct smart__presign_ops {
  /* A state for identity secret key sk (seed || public key), or an error. */
  int (*state_new)(void **st, const uint8_t sk[64]);
  void (*state_del)(void *st);
  /* Make the next nonce: 0, or an error (then sign refuses). */
  int (*prepare)(void *st);
  /* Sign with the prepared nonce, and wipe it: 0, or SMART_ESTATE when
   * none is ready for this process (the caller signs the usual way). */
  int (*sign)(void *st, uint8_t sig[64], const uint8_t *m, size_t mlen);
};
const struct smart__presign_ops *smart__presign_sodium(void);

#endif
