/*
 * The null provider: no security. "Sealing" copies the plaintext and writes
 * a zero tag; "opening" accepts any zero tag. Keys are ignored. It exists so
 * tests and fuzzers can drive the secure code paths without cryptography;
 * an application must select it explicitly (SMART_OPT_CRYPTO).
 */
#include <stdatomic.h>
#include <string.h>

#include "util/rng.h"

#include "crypto.h"

static int nu_seal(uint8_t *out, const uint8_t *pt, size_t ptlen, const uint8_t *ad,
                   size_t adlen, const uint8_t nonce[24], const uint8_t key[32], void *u) {
  (void)ad, (void)adlen, (void)nonce, (void)key, (void)u;
  if (ptlen) /* pt may be NULL when empty */
    memmove(out, pt, ptlen);
  memset(out + ptlen, 0, 16);
  return 0;
}

static int nu_open(uint8_t *out, const uint8_t *ct, size_t ctlen, const uint8_t *ad,
                   size_t adlen, const uint8_t nonce[24], const uint8_t key[32], void *u) {
  static const uint8_t zero[16];
  (void)ad, (void)adlen, (void)nonce, (void)key, (void)u;
  if (ctlen < 16 || memcmp(ct + ctlen - 16, zero, 16) != 0)
    return SMART_EAUTH;
  if (ctlen > 16)
    memmove(out, ct, ctlen - 16);
  return 0;
}

/* The null function under every suite: the secure layer's AES-GCM paths
 * run in tests and fuzzers on any processor. */
static uint32_t nu_ciphers(void *u) {
  (void)u;
  return SMART__CIPHER_BIT(SMART_CIPHER_AES256GCM);
}

static int nu_aead_seal(uint32_t cipher, uint8_t *out, const uint8_t *pt, size_t ptlen,
                        const uint8_t *ad, size_t adlen, const uint8_t *nonce,
                        const uint8_t key[32], void *u) {
  if (cipher != SMART_CIPHER_AES256GCM)
    return SMART_ENOTSUP;
  return nu_seal(out, pt, ptlen, ad, adlen, nonce, key, u);
}

static int nu_aead_open(uint32_t cipher, uint8_t *out, const uint8_t *ct, size_t ctlen,
                        const uint8_t *ad, size_t adlen, const uint8_t *nonce,
                        const uint8_t key[32], void *u) {
  if (cipher != SMART_CIPHER_AES256GCM)
    return SMART_ENOTSUP;
  return nu_open(out, ct, ctlen, ad, adlen, nonce, key, u);
}

static int nu_derive(uint8_t out[32], uint64_t id, const char ctx[8], const uint8_t key[32],
                     void *u) {
  (void)u;
  for (int i = 0; i < 32; i++)
    out[i] = (uint8_t)(key[i] ^ (uint8_t)(id >> (8 * (i % 8))) ^ (uint8_t)ctx[i % 8]);
  return 0;
}

/* Deterministic, like everything else here: splitmix64 over one counter
 * that every call advances atomically (thread-safe; a single-threaded run
 * draws the same bytes every time). */
static _Atomic uint64_t nu_counter;

static int nu_random(uint8_t *out, size_t len, void *u) {
  (void)u;
  for (size_t i = 0; i < len; i += 8) {
    uint64_t x = atomic_fetch_add(&nu_counter, 1);
    uint64_t v = smart__splitmix64(&x);
    for (size_t k = 0; k < 8 && i + k < len; k++)
      out[i + k] = (uint8_t)(v >> (8 * k));
  }
  return 0;
}

static int nu_sign(uint8_t sig[64], const uint8_t *m, size_t mlen, const uint8_t sk[64],
                   void *u) {
  (void)m, (void)mlen, (void)sk, (void)u;
  memset(sig, 0, 64);
  return 0;
}

static int nu_verify(const uint8_t sig[64], const uint8_t *m, size_t mlen,
                     const uint8_t pk[32], void *u) {
  (void)sig, (void)m, (void)mlen, (void)pk, (void)u;
  return 0;
}

static int nu_wrap(uint8_t out[80], const uint8_t key[32], const uint8_t pk[32], void *u) {
  (void)pk, (void)u;
  memset(out, 0, 80);
  memcpy(out, key, 32);
  return 0;
}

static int nu_unwrap(uint8_t key[32], const uint8_t in[80], const uint8_t sk[64], void *u) {
  (void)sk, (void)u;
  memcpy(key, in, 32);
  return 0;
}

static int nu_hash(uint8_t out[16], const uint8_t *m, size_t mlen, void *u) {
  uint64_t h = 0xcbf29ce484222325u; /* FNV-1a: no security, as promised */
  (void)u;
  for (size_t i = 0; i < mlen; i++)
    h = (h ^ m[i]) * 0x100000001b3u;
  for (int i = 0; i < 16; i++)
    out[i] = (uint8_t)(h >> (8 * (i % 8)));
  return 0;
}

static const struct smart_crypto_ops null_ops = {
    .size = sizeof(struct smart_crypto_ops),
    .name = "null",
    .seal = nu_seal,
    .open = nu_open,
    .derive = nu_derive,
    .random = nu_random,
    .sign = nu_sign,
    .verify = nu_verify,
    .wrap = nu_wrap,
    .unwrap = nu_unwrap,
    .hash = nu_hash,
    .ciphers = nu_ciphers,
    .aead_seal = nu_aead_seal,
    .aead_open = nu_aead_open,
};

SMART_API const struct smart_crypto_ops *smart_crypto_null(void) { return &null_ops; }
