/*
 * Forgeries by a holder of an epoch key: a DATA datagram sealed in the name
 * of any sender ID, as every member can seal one (smart-security(7),
 * "Insiders forging"). The envelope of smart-protocol(7) "SECURE ENVELOPE",
 * XChaCha20-Poly1305, built by hand so that no library code is trusted to
 * make it.
 */
#ifndef SMART_TESTS_FORGE_H
#define SMART_TESTS_FORGE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smart/smart.h"
#include "util/bytes.h"
#include "wire/wire.h"

/* Seal the plaintext DATA datagram plain[0..plen) (D = 0) under
 * KDF(ekey, id, "SMARTsnd") as sender `id` in `epoch` with `counter`; the
 * sealed datagram goes to out (plen + 48 bytes). Returns its length, or 0. */
static inline size_t forge_data(const struct smart_crypto_ops *o, const uint8_t ekey[32],
                                uint8_t epoch, uint32_t id, uint64_t counter,
                                const uint8_t *plain, size_t plen, uint8_t *out) {
  if (plen < SMART__DATA_HDR_LEN)
    return 0;
  size_t body = plen - SMART__DATA_HDR_LEN, total = plen + 48;
  memcpy(out, plain, SMART__DATA_HDR_LEN);
  smart__put16(out + 2, (uint16_t)total);
  out[6] |= 0x20; /* D = 1 */
  uint8_t *env = out + SMART__DATA_HDR_LEN;
  env[0] = epoch;
  env[1] = 0x80; /* E, Suite 0 */
  env[2] = env[3] = 0;
  smart__put32(env + 4, id);
  uint8_t *nonce = env + 8;
  for (int i = 0; i < 16; i++)
    nonce[i] = (uint8_t)(0xF0 ^ i ^ counter); /* any salt will do */
  smart__put64(nonce + 16, counter);
  uint8_t *b = nonce + 24, skey[32];
  memcpy(b, plain + SMART__DATA_HDR_LEN, body);
  if (o->derive(skey, id, "SMARTsnd", ekey, o->user_data) != 0 ||
      o->seal(b, b, body, out, (size_t)(b - out), nonce, skey, o->user_data) != 0)
    return 0;
  return total;
}

#endif
