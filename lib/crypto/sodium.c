/*
 * The libsodium crypto provider.
 *
 * AEAD: XChaCha20-Poly1305 (IETF), on every processor, and AES-256-GCM
 * where libsodium can compute it, that is where the processor has AES-NI and
 * PCLMULQDQ (crypto_aead_aes256gcm_is_available()). On the reference machine
 * (libsodium 1.0.18, one core, 1,400-byte datagrams) XChaCha20-Poly1305
 * seals at 1.52 us and AES-256-GCM at 0.96 us. XChaCha20's 192-bit nonce
 * holds a 128-bit random salt next to the 64-bit counter; AES-GCM's 96-bit
 * nonce does not, so the secure layer moves the salt into the AES-GCM key
 * (lib/proto/secure.c, smart-security(7) "Nonces"). This file only computes
 * the two constructions.
 * KDF: crypto_kdf (BLAKE2b). Signatures: Ed25519 (and, for manifests, in
 * two steps with a nonce made ahead: crypto.h). Key wrapping:
 * crypto_box_seal to the X25519 form of an Ed25519 public key.
 */
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"

static int so_init(void) { return sodium_init() < 0 ? SMART_ESYS : 0; }

static int so_seal(uint8_t *out, const uint8_t *pt, size_t ptlen, const uint8_t *ad,
                   size_t adlen, const uint8_t nonce[24], const uint8_t key[32],
                   void *u) {
  (void)u;
  unsigned long long clen;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out, &clen, pt, ptlen, ad, adlen, NULL,
                                             nonce, key);
  return 0;
}

static int so_open(uint8_t *out, const uint8_t *ct, size_t ctlen, const uint8_t *ad,
                   size_t adlen, const uint8_t nonce[24], const uint8_t key[32],
                   void *u) {
  (void)u;
  unsigned long long mlen;
  if (ctlen < crypto_aead_xchacha20poly1305_ietf_ABYTES)
    return SMART_EAUTH;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, ct, ctlen, ad, adlen,
                                                    nonce, key) == 0
             ? 0
             : SMART_EAUTH;
}

static uint32_t so_ciphers(void *u) {
  (void)u;
  if (so_init())
    return 0;
  return crypto_aead_aes256gcm_is_available() ? SMART__CIPHER_BIT(SMART_CIPHER_AES256GCM) : 0;
}

/* AES-256-GCM with a 96-bit nonce. libsodium's implementation exists only
 * with AES-NI: without it, refuse rather than call it. (The flag is set by
 * sodium_init(), which smart_crypto_sodium() ran; no lock per datagram.) */
static int so_aead_seal(uint32_t cipher, uint8_t *out, const uint8_t *pt, size_t ptlen,
                        const uint8_t *ad, size_t adlen, const uint8_t *nonce,
                        const uint8_t key[32], void *u) {
  (void)u;
  if (cipher != SMART_CIPHER_AES256GCM || !crypto_aead_aes256gcm_is_available())
    return SMART_ENOTSUP;
  unsigned long long clen;
  return crypto_aead_aes256gcm_encrypt(out, &clen, pt, ptlen, ad, adlen, NULL, nonce, key) == 0
             ? 0
             : SMART_EINVAL;
}

static int so_aead_open(uint32_t cipher, uint8_t *out, const uint8_t *ct, size_t ctlen,
                        const uint8_t *ad, size_t adlen, const uint8_t *nonce,
                        const uint8_t key[32], void *u) {
  (void)u;
  if (cipher != SMART_CIPHER_AES256GCM || !crypto_aead_aes256gcm_is_available())
    return SMART_ENOTSUP;
  unsigned long long mlen;
  if (ctlen < crypto_aead_aes256gcm_ABYTES)
    return SMART_EAUTH;
  return crypto_aead_aes256gcm_decrypt(out, &mlen, NULL, ct, ctlen, ad, adlen, nonce, key) == 0
             ? 0
             : SMART_EAUTH;
}

static int so_derive(uint8_t out[32], uint64_t id, const char ctx[8], const uint8_t key[32],
                     void *u) {
  (void)u;
  return crypto_kdf_derive_from_key(out, 32, id, ctx, key) == 0 ? 0 : SMART_EINVAL;
}

static int so_random(uint8_t *out, size_t len, void *u) {
  (void)u;
  if (so_init())
    return SMART_ESYS;
  randombytes_buf(out, len);
  return 0;
}

static int so_sign(uint8_t sig[64], const uint8_t *m, size_t mlen, const uint8_t sk[64],
                   void *u) {
  (void)u;
  return crypto_sign_detached(sig, NULL, m, mlen, sk) == 0 ? 0 : SMART_EINVAL;
}

static int so_verify(const uint8_t sig[64], const uint8_t *m, size_t mlen,
                     const uint8_t pk[32], void *u) {
  (void)u;
  return crypto_sign_verify_detached(sig, m, mlen, pk) == 0 ? 0 : SMART_EAUTH;
}

/* ---- Ed25519 in two steps (crypto.h) ------------------------------------ */

struct presign {
  uint8_t a[32];      /* the secret scalar, clamped */
  uint8_t prefix[32]; /* the nonce key */
  uint8_t pk[32];
  uint8_t r[32], R[32]; /* the prepared nonce and its point */
  uint64_t made;        /* nonces made */
  pid_t pid;            /* the process that made r; 0: none ready */
};

static int ps_new(void **st, const uint8_t sk[64]) {
  if (so_init())
    return SMART_ESYS;
  struct presign *p = smart__secure_alloc(sizeof(*p));
  if (!p)
    return SMART_ENOMEM;
  uint8_t az[64];
  crypto_hash_sha512(az, sk, 32);
  az[0] &= 248;
  az[31] &= 127;
  az[31] |= 64;
  memcpy(p->a, az, 32);
  memcpy(p->prefix, az + 32, 32);
  memcpy(p->pk, sk + 32, 32);
  sodium_memzero(az, sizeof(az));
  *st = p;
  return 0;
}

static void ps_del(void *st) {
  if (st)
    smart__secure_free(st); /* sodium_free wipes it */
}

static int ps_prepare(void *st) {
  struct presign *p = st;
  uint8_t in[32 + 32 + 8 + 4], h[64];
  pid_t pid = getpid();
  memcpy(in, p->prefix, 32);
  randombytes_buf(in + 32, 32);
  uint64_t n = ++p->made;
  uint32_t id = (uint32_t)pid;
  for (int i = 0; i < 8; i++)
    in[64 + i] = (uint8_t)(n >> (8 * i));
  for (int i = 0; i < 4; i++)
    in[72 + i] = (uint8_t)(id >> (8 * i));
  crypto_hash_sha512(h, in, sizeof(in));
  crypto_core_ed25519_scalar_reduce(p->r, h);
  sodium_memzero(in, sizeof(in));
  sodium_memzero(h, sizeof(h));
  /* rB is the identity only for r = 0 (mod L): refused, never used */
  if (crypto_scalarmult_ed25519_base_noclamp(p->R, p->r) != 0) {
    sodium_memzero(p->r, sizeof(p->r));
    p->pid = 0;
    return SMART_ESYS;
  }
  p->pid = pid;
  return 0;
}

static int ps_sign(void *st, uint8_t sig[64], const uint8_t *m, size_t mlen) {
  struct presign *p = st;
  if (!p->pid)
    return SMART_ESTATE;
  if (p->pid != getpid()) { /* made before a fork: the parent may use it */
    sodium_memzero(p->r, sizeof(p->r));
    p->pid = 0;
    return SMART_ESTATE;
  }
  crypto_hash_sha512_state hs;
  uint8_t h64[64], h[32], ha[32];
  crypto_hash_sha512_init(&hs);
  crypto_hash_sha512_update(&hs, p->R, 32);
  crypto_hash_sha512_update(&hs, p->pk, 32);
  crypto_hash_sha512_update(&hs, m, mlen);
  crypto_hash_sha512_final(&hs, h64);
  crypto_core_ed25519_scalar_reduce(h, h64);
  crypto_core_ed25519_scalar_mul(ha, h, p->a);
  memcpy(sig, p->R, 32);
  crypto_core_ed25519_scalar_add(sig + 32, ha, p->r);
  sodium_memzero(ha, sizeof(ha));
  sodium_memzero(p->r, sizeof(p->r));
  p->pid = 0;
  return 0;
}

static const struct smart__presign_ops presign_ops = {
    .state_new = ps_new,
    .state_del = ps_del,
    .prepare = ps_prepare,
    .sign = ps_sign,
};

const struct smart__presign_ops *smart__presign_sodium(void) { return &presign_ops; }

static int so_wrap(uint8_t out[80], const uint8_t key[32], const uint8_t pk[32], void *u) {
  (void)u;
  uint8_t xpk[crypto_box_PUBLICKEYBYTES];
  if (crypto_sign_ed25519_pk_to_curve25519(xpk, pk) != 0)
    return SMART_EINVAL;
  return crypto_box_seal(out, key, 32, xpk) == 0 ? 0 : SMART_EINVAL;
}

static int so_unwrap(uint8_t key[32], const uint8_t in[80], const uint8_t sk[64], void *u) {
  (void)u;
  uint8_t xpk[crypto_box_PUBLICKEYBYTES], xsk[crypto_box_SECRETKEYBYTES];
  if (crypto_sign_ed25519_pk_to_curve25519(xpk, sk + 32) != 0 ||
      crypto_sign_ed25519_sk_to_curve25519(xsk, sk) != 0)
    return SMART_EINVAL;
  int rc = crypto_box_seal_open(key, in, 80, xpk, xsk) == 0 ? 0 : SMART_EAUTH;
  sodium_memzero(xsk, sizeof(xsk));
  return rc;
}

static int so_hash(uint8_t out[16], const uint8_t *m, size_t mlen, void *u) {
  (void)u;
  return crypto_generichash(out, 16, m, mlen, NULL, 0) == 0 ? 0 : SMART_EINVAL;
}

static const struct smart_crypto_ops sodium_ops = {
    .size = sizeof(struct smart_crypto_ops),
    .name = "libsodium",
    .seal = so_seal,
    .open = so_open,
    .derive = so_derive,
    .random = so_random,
    .sign = so_sign,
    .verify = so_verify,
    .wrap = so_wrap,
    .unwrap = so_unwrap,
    .hash = so_hash,
    .ciphers = so_ciphers,
    .aead_seal = so_aead_seal,
    .aead_open = so_aead_open,
};

SMART_API const struct smart_crypto_ops *smart_crypto_sodium(void) {
  (void)so_init();
  return &sodium_ops;
}

SMART_API int smart_identity_keypair(uint8_t pk[32], uint8_t sk[64]) {
  if (!pk || !sk)
    return SMART_EINVAL;
  if (so_init())
    return SMART_ESYS;
  return crypto_sign_keypair(pk, sk) == 0 ? 0 : SMART_ESYS;
}
