/*
 * AEAD suites of the secure envelope (SMART_OPT_CIPHER): XChaCha20-
 * Poly1305 and AES-256-GCM.
 *
 *   test-cipher          the sealed-datagram layer in memory: the providers'
 *                        AES-256-GCM against NIST vectors, round trips with
 *                        each suite, tampering, relabelled, unassigned and
 *                        unsupported suites dropped and counted, known-answer
 *                        envelopes, new AES keys with new salts;
 *   test-cipher net      group-key sessions over loopback multicast with
 *                        AES-256-GCM, and the option. Exits 77 (skipped)
 *                        where the processor lacks AES-NI.
 *
 * The cases that need libsodium's AES-256-GCM are left out where the
 * processor cannot compute it; the null provider, which offers both suites
 * everywhere, runs the suite logic in their place.
 */
#include <arpa/inet.h>
#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "loop.h"
#include "proto/secure.h"
#include "smart/smart.h"
#include "util/bytes.h"
#include "wire/wire.h"

static int have_aesni(void) {
  (void)smart_crypto_sodium(); /* initialises libsodium */
  return crypto_aead_aes256gcm_is_available();
}

static void unhex(uint8_t *out, const char *hex, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

static void tohex(char *out, const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", b[i]);
}

/* The group key of the sealed vectors of smart-protocol(7): 00 01 ... 1f. */
static uint8_t vkey[32];

static void init_vkey(void) {
  for (int i = 0; i < 32; i++)
    vkey[i] = (uint8_t)i;
}

/* ---- providers -------------------------------------------------------- */

/* libsodium's table as a provider of libsmart 0.1 would have it: it ends at
 * hash, so it offers XChaCha20-Poly1305 only. */
static struct smart_crypto_ops old_sodium, old_null;

static const struct smart_crypto_ops *old_layout(const struct smart_crypto_ops *base,
                                                 struct smart_crypto_ops *copy) {
  memset(copy, 0xA5, sizeof(*copy)); /* what follows hash must not be read */
  memcpy(copy, base, SMART__OPS_MIN_SIZE);
  copy->size = SMART__OPS_MIN_SIZE;
  return copy;
}

/* libsodium with scripted random bytes: the sender ID, then the salt. */
static uint8_t script[64];
static size_t script_len, script_pos;

static int scripted_random(uint8_t *out, size_t len, void *u) {
  (void)u;
  for (size_t i = 0; i < len; i++)
    out[i] = script_pos < script_len ? script[script_pos++] : 0;
  return 0;
}

static struct smart_crypto_ops scripted;

static const struct smart_crypto_ops *scripted_sodium(uint32_t sender_id, const char *salt_hex) {
  scripted = *smart_crypto_sodium();
  scripted.name = "scripted";
  scripted.random = scripted_random;
  smart__put32(script, sender_id);
  unhex(script + 4, salt_hex, 16);
  script_len = 20;
  script_pos = 0;
  return &scripted;
}

static struct smart__sec *sec_new(const struct smart_crypto_ops *ops, uint32_t cipher,
                                  int auth_only, const uint8_t *key, uint32_t *id) {
  struct smart__sec_cfg c = {.ops = ops, .mode = SMART__SEC_GROUP, .group_key = key,
                             .grace_ns = 2000000000u, .cipher = cipher, .auth_only = auth_only};
  struct smart__sec *s;
  uint32_t dummy;
  ck_assert_int_eq(smart__sec_new(&s, &c, id ? id : &dummy), 0);
  return s;
}

/* A plaintext DATA datagram with `n` bytes of payload. */
static size_t make_data(uint8_t *buf, uint16_t seq, size_t n) {
  smart__data_hdr_write(buf, 0x53, SMART__DCMD_DATA, seq, 0, 0, 0, n);
  for (size_t i = 0; i < n; i++)
    buf[8 + i] = (uint8_t)(i * 31 + seq);
  return 8 + n;
}

/* A plaintext REPLACEMENT request for `seq` (12 bytes). */
static size_t make_nak(uint8_t *buf, uint16_t seq) {
  struct smart__pkt p;
  memset(&p, 0, sizeof(p));
  p.sync = 0x53;
  p.typ = SMART__TYP_REQ;
  p.cmd = SMART__REQ_REPLACEMENT;
  p.u.repl.group = 0xefff0101u;
  p.u.repl.seq = seq;
  return (size_t)smart__pkt_encode(buf, 256, &p);
}

/* The Flags byte of a sealed datagram's envelope. */
static uint8_t *env_flags(uint8_t *sealed, size_t len) {
  return sealed[1] >> 6 == SMART__TYP_DATA ? sealed + 9 : sealed + len - 52 + 5;
}

/* NIST SP 800-38D through the provider: test cases 14 (zero key, IV and
 * block) and 16 (60 bytes with 20 bytes of associated data), of McGrew and
 * Viega's GCM paper. */
START_TEST(provider_aes256gcm_nist_vectors) {
  const struct smart_crypto_ops *o = smart_crypto_sodium();
  ck_assert_uint_eq(smart__ops_ciphers(o), SMART__CIPHER_BIT(SMART_CIPHER_AES256GCM));
  uint8_t key[32] = {0}, iv[12] = {0}, pt[64] = {0}, out[80], back[64], exp[80];
  ck_assert_int_eq(o->aead_seal(SMART_CIPHER_AES256GCM, out, pt, 16, NULL, 0, iv, key,
                                o->user_data), 0);
  unhex(exp, "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919", 32);
  ck_assert_mem_eq(out, exp, 32);

  uint8_t ad[20];
  unhex(key, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", 32);
  unhex(ad, "feedfacedeadbeeffeedfacedeadbeefabaddad2", 20);
  unhex(iv, "cafebabefacedbaddecaf888", 12);
  unhex(pt, "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
            "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", 60);
  unhex(exp, "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
             "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
             "76fc6ece0f4e1768cddf8853bb2d551b", 76);
  ck_assert_int_eq(o->aead_seal(SMART_CIPHER_AES256GCM, out, pt, 60, ad, 20, iv, key,
                                o->user_data), 0);
  ck_assert_mem_eq(out, exp, 76);
  ck_assert_int_eq(o->aead_open(SMART_CIPHER_AES256GCM, back, out, 76, ad, 20, iv, key,
                                o->user_data), 0);
  ck_assert_mem_eq(back, pt, 60);
  /* In place, as the secure layer seals. */
  uint8_t inplace[80];
  memcpy(inplace, pt, 60);
  ck_assert_int_eq(o->aead_seal(SMART_CIPHER_AES256GCM, inplace, inplace, 60, ad, 20, iv, key,
                                o->user_data), 0);
  ck_assert_mem_eq(inplace, exp, 76);
  /* A changed tag, associated datum or nonce does not open. */
  out[75] ^= 1;
  ck_assert_int_ne(o->aead_open(SMART_CIPHER_AES256GCM, back, out, 76, ad, 20, iv, key,
                                o->user_data), 0);
  out[75] ^= 1;
  ad[0] ^= 1;
  ck_assert_int_ne(o->aead_open(SMART_CIPHER_AES256GCM, back, out, 76, ad, 20, iv, key,
                                o->user_data), 0);
  ad[0] ^= 1;
  iv[11] ^= 1;
  ck_assert_int_ne(o->aead_open(SMART_CIPHER_AES256GCM, back, out, 76, ad, 20, iv, key,
                                o->user_data), 0);
  /* Only the suite it offers. */
  ck_assert_int_eq(o->aead_seal(SMART_CIPHER_XCHACHA20POLY1305, out, pt, 16, NULL, 0, iv, key,
                                o->user_data), SMART_ENOTSUP);
  ck_assert_int_eq(o->aead_seal(7, out, pt, 16, NULL, 0, iv, key, o->user_data), SMART_ENOTSUP);
}
END_TEST

/* What each table offers, and what the layer makes of it. */
START_TEST(provider_tables_and_sizes) {
  const struct smart_crypto_ops *so = smart_crypto_sodium(), *nu = smart_crypto_null();
  ck_assert_uint_eq(smart__ops_ciphers(so),
                    have_aesni() ? SMART__CIPHER_BIT(SMART_CIPHER_AES256GCM) : 0u);
  ck_assert_uint_eq(smart__ops_ciphers(nu), SMART__CIPHER_BIT(SMART_CIPHER_AES256GCM));
  ck_assert_uint_eq(so->size, sizeof(struct smart_crypto_ops));
  /* A table of the 0.1 layout: accepted, XChaCha20-Poly1305 only. */
  const struct smart_crypto_ops *old = old_layout(nu, &old_null);
  ck_assert_uint_eq(smart__ops_ciphers(old), 0);
  struct smart__sec_cfg c = {.ops = old, .mode = SMART__SEC_GROUP, .group_key = vkey};
  struct smart__sec *s;
  uint32_t id;
  ck_assert_int_eq(smart__sec_new(&s, &c, &id), 0);
  ck_assert_uint_eq(smart__sec_suite(s), SMART__SEC_SUITE_XCHACHA);
  smart__sec_del(s);
  c.cipher = SMART_CIPHER_XCHACHA20POLY1305;
  ck_assert_int_eq(smart__sec_new(&s, &c, &id), 0);
  smart__sec_del(s);
  c.cipher = SMART_CIPHER_AES256GCM;
  ck_assert_int_eq(smart__sec_new(&s, &c, &id), SMART_ENOTSUP);
  c.cipher = 3;
  ck_assert_int_eq(smart__sec_new(&s, &c, &id), SMART_EINVAL);
  /* The current layout without the optional functions offers nothing more. */
  struct smart_crypto_ops partial = *nu;
  partial.aead_open = NULL;
  ck_assert_uint_eq(smart__ops_ciphers(&partial), 0);
  c.ops = &partial;
  c.cipher = SMART_CIPHER_AES256GCM;
  ck_assert_int_eq(smart__sec_new(&s, &c, &id), SMART_ENOTSUP);
  /* Shorter than the 0.1 layout: refused. */
  struct smart_crypto_ops tiny = *nu;
  tiny.size = SMART__OPS_MIN_SIZE - 1;
  c.ops = &tiny;
  c.cipher = 0;
  ck_assert_int_eq(smart__sec_new(&s, &c, &id), SMART_EINVAL);
  /* The null table with AES-256-GCM. */
  c.ops = nu;
  c.cipher = SMART_CIPHER_AES256GCM;
  ck_assert_int_eq(smart__sec_new(&s, &c, &id), 0);
  ck_assert_uint_eq(smart__sec_suite(s), SMART__SEC_SUITE_AESGCM);
  smart__sec_del(s);
}
END_TEST

/* Seal a DATA packet (encrypted, then authenticated only) and a request
 * with `cipher`; a receiver of each configuration opens all three to the
 * very plaintext, and the Suite bits say which AEAD sealed them. */
static void round_trip(const struct smart_crypto_ops *ops, uint32_t cipher) {
  unsigned want = cipher == SMART_CIPHER_AES256GCM ? SMART__SEC_SUITE_AESGCM
                                                   : SMART__SEC_SUITE_XCHACHA;
  for (int auth_only = 0; auth_only < 2; auth_only++) {
    uint32_t ida;
    struct smart__sec *tx = sec_new(ops, cipher, auth_only, vkey, &ida);
    ck_assert_uint_eq(smart__sec_suite(tx), want);
    uint8_t plain[3][1500], sealed[3][1600], out[1600];
    size_t pl[3] = {make_data(plain[0], 7, 1400), make_data(plain[1], 8, 0),
                    make_nak(plain[2], 9)};
    size_t sl[3];
    for (int k = 0; k < 3; k++) {
      memcpy(sealed[k], plain[k], pl[k]);
      smart_ssize n = smart__sec_seal(tx, sealed[k], pl[k], sizeof(sealed[k]), 1);
      ck_assert_int_gt(n, (smart_ssize)pl[k]);
      sl[k] = (size_t)n;
      ck_assert_uint_eq(*env_flags(sealed[k], sl[k]) & SMART__SEC_F_SUITE, want);
    }
    /* E is set on encrypted DATA only, and the body then differs. */
    ck_assert_uint_eq(*env_flags(sealed[0], sl[0]) & SMART__SEC_F_ENCRYPTED,
                      auth_only ? 0u : SMART__SEC_F_ENCRYPTED);
    ck_assert_uint_eq(*env_flags(sealed[2], sl[2]) & SMART__SEC_F_ENCRYPTED, 0);
    for (uint32_t rc = 0; rc <= SMART_CIPHER_AES256GCM; rc++) {
      if (rc == SMART_CIPHER_AES256GCM && !smart__ops_ciphers(ops))
        continue;
      struct smart__sec *rx = sec_new(ops, rc, 0, vkey, NULL);
      for (int k = 0; k < 3; k++) {
        uint32_t sender = 0;
        smart_ssize r = smart__sec_open(rx, sealed[k], sl[k], out, sizeof(out), &sender, 2);
        ck_assert_int_eq(r, (smart_ssize)pl[k]);
        ck_assert_mem_eq(out, plain[k], pl[k]);
        ck_assert_uint_eq(sender, ida);
        ck_assert_int_eq(smart__sec_open(rx, sealed[k], sl[k], out, sizeof(out), &sender, 3),
                         SMART_ERANGE);
      }
      ck_assert_uint_eq(smart__sec_cipher_drops(rx), 0);
      smart__sec_del(rx);
    }
    smart__sec_del(tx);
  }
}

START_TEST(round_trip_xchacha20poly1305) {
  round_trip(smart_crypto_sodium(), SMART_CIPHER_AUTO);
  round_trip(smart_crypto_sodium(), SMART_CIPHER_XCHACHA20POLY1305);
  round_trip(smart_crypto_null(), SMART_CIPHER_XCHACHA20POLY1305);
}
END_TEST

START_TEST(round_trip_aes256gcm) { round_trip(smart_crypto_sodium(), SMART_CIPHER_AES256GCM); }
END_TEST

START_TEST(round_trip_aes256gcm_null) { round_trip(smart_crypto_null(), SMART_CIPHER_AES256GCM); }
END_TEST

/* Every bit of an AES-256-GCM datagram matters. */
START_TEST(aes256gcm_tamper_every_bit_rejected) {
  struct smart__sec *tx = sec_new(smart_crypto_sodium(), SMART_CIPHER_AES256GCM, 0, vkey, NULL);
  struct smart__sec *rx = sec_new(smart_crypto_sodium(), 0, 0, vkey, NULL);
  uint8_t plain[2][256], sealed[2][320], bad[320], out[320];
  size_t pl[2] = {make_data(plain[0], 7, 100), make_nak(plain[1], 9)}, sl[2];
  for (int k = 0; k < 2; k++) {
    memcpy(sealed[k], plain[k], pl[k]);
    smart_ssize n = smart__sec_seal(tx, sealed[k], pl[k], sizeof(sealed[k]), 1);
    ck_assert_int_gt(n, 0);
    sl[k] = (size_t)n;
  }
  for (int k = 0; k < 2; k++)
    for (size_t bit = 0; bit < sl[k] * 8; bit++) {
      memcpy(bad, sealed[k], sl[k]);
      bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      uint32_t sender;
      smart_ssize r = smart__sec_open(rx, bad, sl[k], out, sizeof(out), &sender, 2);
      ck_assert_msg(r < 0, "datagram %d with bit %zu flipped was accepted", k, bit);
    }
  for (int k = 0; k < 2; k++) {
    uint32_t sender;
    ck_assert_int_eq(smart__sec_open(rx, sealed[k], sl[k], out, sizeof(out), &sender, 3),
                     (smart_ssize)pl[k]);
    ck_assert_mem_eq(out, plain[k], pl[k]);
  }
  smart__sec_del(tx);
  smart__sec_del(rx);
}
END_TEST

/* An envelope relabelled with the other suite fails its tag (the Suite
 * bits are associated data), is counted as an authentication failure only,
 * and moves nothing: the genuine datagram opens afterwards. */
static void relabel(const struct smart_crypto_ops *ops, uint32_t cipher) {
  struct smart__sec *tx = sec_new(ops, cipher, 0, vkey, NULL);
  struct smart__sec *rx = sec_new(ops, 0, 0, vkey, NULL);
  uint8_t plain[2][256], sealed[2][320], bad[320], out[320];
  size_t pl[2] = {make_data(plain[0], 7, 100), make_nak(plain[1], 9)}, sl[2];
  for (int k = 0; k < 2; k++) {
    memcpy(sealed[k], plain[k], pl[k]);
    sl[k] = (size_t)smart__sec_seal(tx, sealed[k], pl[k], sizeof(sealed[k]), 1);
    memcpy(bad, sealed[k], sl[k]);
    *env_flags(bad, sl[k]) ^= 1; /* Suite 0 <-> 1 */
    uint32_t sender;
    ck_assert_int_eq(smart__sec_open(rx, bad, sl[k], out, sizeof(out), &sender, 2), SMART_EAUTH);
    ck_assert_int_eq(smart__sec_open(rx, sealed[k], sl[k], out, sizeof(out), &sender, 2),
                     (smart_ssize)pl[k]);
  }
  ck_assert_uint_eq(smart__sec_cipher_drops(rx), 0);
  smart__sec_del(tx);
  smart__sec_del(rx);
}

START_TEST(wrong_suite_label_rejected) {
  relabel(smart_crypto_sodium(), SMART_CIPHER_XCHACHA20POLY1305);
  relabel(smart_crypto_sodium(), SMART_CIPHER_AES256GCM);
}
END_TEST

/* Suites 2 to 7 are unassigned: refused before any key is derived and
 * counted as cipher drops; the Zero bits are not a suite (refused, not
 * counted there). A datagram's fate does not depend on the receiver's own
 * setting. */
START_TEST(unassigned_suites_dropped_and_counted) {
  const struct smart_crypto_ops *ops = smart_crypto_null(); /* any tag would do */
  for (uint32_t rc = 0; rc <= SMART_CIPHER_AES256GCM; rc++) {
    struct smart__sec *tx = sec_new(ops, SMART_CIPHER_XCHACHA20POLY1305, 0, vkey, NULL);
    struct smart__sec *rx = sec_new(ops, rc, 0, vkey, NULL);
    uint8_t plain[2][256], sealed[2][320], bad[320], out[320];
    size_t pl[2] = {make_data(plain[0], 7, 100), make_nak(plain[1], 9)}, sl[2];
    uint64_t want = 0;
    for (int k = 0; k < 2; k++) {
      memcpy(sealed[k], plain[k], pl[k]);
      sl[k] = (size_t)smart__sec_seal(tx, sealed[k], pl[k], sizeof(sealed[k]), 1);
      uint32_t sender;
      for (unsigned suite = 2; suite <= 7; suite++) {
        memcpy(bad, sealed[k], sl[k]);
        uint8_t *f = env_flags(bad, sl[k]);
        *f = (uint8_t)((*f & ~SMART__SEC_F_SUITE) | suite);
        ck_assert_int_eq(smart__sec_open(rx, bad, sl[k], out, sizeof(out), &sender, 2),
                         SMART_ENOTSUP);
        ck_assert_uint_eq(smart__sec_cipher_drops(rx), ++want);
      }
      for (unsigned zero = 0x08; zero <= 0x40; zero <<= 1) {
        memcpy(bad, sealed[k], sl[k]);
        *env_flags(bad, sl[k]) |= (uint8_t)zero;
        ck_assert_int_eq(smart__sec_open(rx, bad, sl[k], out, sizeof(out), &sender, 2),
                         SMART_EAUTH);
      }
      ck_assert_uint_eq(smart__sec_cipher_drops(rx), want);
      /* None of them counted against the sender's replay window. */
      ck_assert_int_eq(smart__sec_open(rx, sealed[k], sl[k], out, sizeof(out), &sender, 2),
                       (smart_ssize)pl[k]);
    }
    smart__sec_del(tx);
    smart__sec_del(rx);
  }
}
END_TEST

/* A receiver whose provider lacks AES-256-GCM (here a table of the 0.1
 * layout, as on a processor without AES-NI) drops AES-256-GCM datagrams,
 * counted, and still opens XChaCha20-Poly1305 from the same group. */
static void receiver_without_aes(const struct smart_crypto_ops *sender_ops,
                                 const struct smart_crypto_ops *receiver_ops) {
  struct smart__sec *gcm = sec_new(sender_ops, SMART_CIPHER_AES256GCM, 0, vkey, NULL);
  struct smart__sec *xc = sec_new(sender_ops, 0, 0, vkey, NULL);
  struct smart__sec *rx = sec_new(receiver_ops, 0, 0, vkey, NULL);
  uint8_t buf[320], out[320];
  uint32_t sender;
  for (int i = 0; i < 10; i++) {
    size_t n = i % 2 ? make_nak(buf, (uint16_t)i) : make_data(buf, (uint16_t)i, 100);
    smart_ssize s = smart__sec_seal(gcm, buf, n, sizeof(buf), 1);
    ck_assert_int_eq(smart__sec_open(rx, buf, (size_t)s, out, sizeof(out), &sender, 2),
                     SMART_ENOTSUP);
  }
  ck_assert_uint_eq(smart__sec_cipher_drops(rx), 10);
  size_t n = make_data(buf, 1, 100);
  smart_ssize s = smart__sec_seal(xc, buf, n, sizeof(buf), 1);
  ck_assert_int_eq(smart__sec_open(rx, buf, (size_t)s, out, sizeof(out), &sender, 2),
                   (smart_ssize)n);
  ck_assert_uint_eq(smart__sec_cipher_drops(rx), 10);
  smart__sec_del(gcm);
  smart__sec_del(xc);
  smart__sec_del(rx);
}

START_TEST(receiver_without_aes256gcm_counts_drops) {
  receiver_without_aes(smart_crypto_null(), old_layout(smart_crypto_null(), &old_null));
  if (have_aesni())
    receiver_without_aes(smart_crypto_sodium(), old_layout(smart_crypto_sodium(), &old_sodium));
}
END_TEST

#define KAT_DATA_XCHACHA_BODY "c613d7859f" "238d5daa9535d572b6d2dec3a7e6ada7"
#define KAT_DATA_GCM_BODY "874f66d050" "923b94902f9a81c609a2f499ddcc0428"
#define KAT_NAK_GCM_TAG "fd83c8374e1b94c74f4de4590136a12a"

/* Known answers: the envelopes smart-protocol(7) lists under "Sealed
 * vectors" for AES-256-GCM (group key 00..1f, Sender ID 0x5EC0A1E5, salt
 * 00112233445566778899aabbccddeeff, Counter 2), byte for byte; and the same
 * bytes rebuilt with libsodium alone from the construction the page gives. */
static const char *const kat_data_xchacha =
    "5300003d000720000080" "00005ec0a1e5" "00112233445566778899aabbccddeeff"
    "0000000000000002" KAT_DATA_XCHACHA_BODY;
static const char *const kat_data_gcm =
    "5300003d000720000081" "00005ec0a1e5" "00112233445566778899aabbccddeeff"
    "0000000000000002" KAT_DATA_GCM_BODY;
static const char *const kat_nak_gcm =
    "53810040efff010100070000ff000030" "000100005ec0a1e5" "00112233445566778899aabbccddeeff"
    "0000000000000003" KAT_NAK_GCM_TAG;

static const char kat_salt[] = "00112233445566778899aabbccddeeff";
#define KAT_ID 0x5EC0A1E5u

/* "hello" as the payload of DATA sequence 7, and REPLACEMENT of 7. */
static size_t kat_data(uint8_t *buf) {
  smart__data_hdr_write(buf, 0x53, SMART__DCMD_DATA, 7, 0, 0, 0, 5);
  memcpy(buf + 8, "hello", 5);
  return 13;
}

static size_t kat_seal(uint32_t cipher, int nak, uint8_t *buf, size_t cap) {
  struct smart__sec *tx = sec_new(scripted_sodium(KAT_ID, kat_salt), cipher, 0, vkey, NULL);
  smart__sec_test_set_counter(tx, nak ? 3 : 2);
  size_t n = nak ? make_nak(buf, 7) : kat_data(buf);
  smart_ssize s = smart__sec_seal(tx, buf, n, cap, 1);
  ck_assert_int_gt(s, 0);
  smart__sec_del(tx);
  return (size_t)s;
}

/* The keys of smart-protocol(7) "Keys and nonces", straight from
 * libsodium. */
static void kat_keys(uint8_t sealing[32], uint8_t aes[32]) {
  uint8_t epoch[32], k1[32], salt[16];
  unhex(salt, kat_salt, 16);
  crypto_kdf_derive_from_key(epoch, 32, 0, "SMARTepk", vkey);
  crypto_kdf_derive_from_key(sealing, 32, KAT_ID, "SMARTsnd", epoch);
  crypto_kdf_derive_from_key(k1, 32, smart__get64(salt), "SMARTgc1", sealing);
  crypto_kdf_derive_from_key(aes, 32, smart__get64(salt + 8), "SMARTgc2", k1);
}

static void kat_check(const char *what, const uint8_t *got, size_t n, const char *want) {
  char hex[512];
  tohex(hex, got, n);
  ck_assert_msg(strlen(want) == 2 * n && !strcmp(hex, want), "%s: sealed %s, expected %s", what,
                hex, want);
}

START_TEST(known_answer_xchacha20poly1305) {
  uint8_t buf[128], exp[128], sealing[32], aes[32];
  size_t n = kat_seal(SMART_CIPHER_XCHACHA20POLY1305, 0, buf, sizeof(buf));
  kat_check("DATA, XChaCha20-Poly1305", buf, n, kat_data_xchacha);
  /* Rebuilt: AD is the 40 bytes before the body, the nonce salt || counter. */
  kat_keys(sealing, aes);
  memcpy(exp, buf, 40);
  unsigned long long clen;
  crypto_aead_xchacha20poly1305_ietf_encrypt(exp + 40, &clen, (const uint8_t *)"hello", 5, exp,
                                             40, NULL, exp + 16, sealing);
  ck_assert_uint_eq(clen, 21);
  ck_assert_mem_eq(buf, exp, n);
}
END_TEST

START_TEST(known_answer_aes256gcm) {
  uint8_t buf[128], exp[128], sealing[32], aes[32], nonce[12];
  size_t n = kat_seal(SMART_CIPHER_AES256GCM, 0, buf, sizeof(buf));
  kat_check("DATA, AES-256-GCM", buf, n, kat_data_gcm);
  kat_keys(sealing, aes);
  memcpy(exp, buf, 40);
  smart__put32(nonce, KAT_ID);
  smart__put64(nonce + 4, 2);
  unsigned long long clen;
  crypto_aead_aes256gcm_encrypt(exp + 40, &clen, (const uint8_t *)"hello", 5, exp, 40, NULL,
                                nonce, aes);
  ck_assert_mem_eq(buf, exp, n);
  /* A request: the tag over all 48 bytes before it. */
  n = kat_seal(SMART_CIPHER_AES256GCM, 1, buf, sizeof(buf));
  kat_check("REPLACEMENT, AES-256-GCM", buf, n, kat_nak_gcm);
  smart__put64(nonce + 4, 3);
  crypto_aead_aes256gcm_encrypt(exp, &clen, NULL, 0, buf, n - 16, NULL, nonce, aes);
  ck_assert_mem_eq(buf + n - 16, exp, 16);
  /* And they open. */
  struct smart__sec *rx = sec_new(smart_crypto_sodium(), 0, 0, vkey, NULL);
  uint8_t out[128], d[128];
  uint32_t sender;
  size_t dn = kat_seal(SMART_CIPHER_AES256GCM, 0, d, sizeof(d));
  ck_assert_int_eq(smart__sec_open(rx, d, dn, out, sizeof(out), &sender, 1), 13);
  ck_assert_mem_eq(out + 8, "hello", 5);
  ck_assert_int_eq(smart__sec_open(rx, buf, n, out, sizeof(out), &sender, 1), 12);
  ck_assert_uint_eq(sender, KAT_ID);
  smart__sec_del(rx);
}
END_TEST

/* A sender of AES-256-GCM draws a new salt, hence a new key, every
 * SMART__GCM_SALT_LIFE datagrams and with every epoch; receivers follow
 * (their key cache holds two per sender), across both changes and back
 * within the grace period. */
static void fresh_keys(const struct smart_crypto_ops *ops) {
  uint32_t ida;
  struct smart__sec *tx = sec_new(ops, SMART_CIPHER_AES256GCM, 0, vkey, &ida);
  struct smart__sec *rx = sec_new(ops, 0, 0, vkey, NULL);
  uint8_t nonce[24], salt0[16], salt1[16], salt2[16];
  uint8_t dg[6][160], out[160];
  size_t len[6];
  uint32_t sender;
  smart__sec_test_set_counter(tx, SMART__GCM_SALT_LIFE - 2);
  for (int i = 0; i < 6; i++) {
    if (i == 4)
      ck_assert_int_eq(smart__sec_rekey(tx, 10), 0);
    size_t n = make_data(dg[i], (uint16_t)i, 64);
    smart_ssize s = smart__sec_seal(tx, dg[i], n, sizeof(dg[i]), 10);
    ck_assert_int_gt(s, 0);
    len[i] = (size_t)s;
    smart__sec_last_nonce(tx, nonce);
    if (i == 0)
      memcpy(salt0, nonce, 16);
    if (i == 2)
      memcpy(salt1, nonce, 16);
    if (i == 4)
      memcpy(salt2, nonce, 16);
    if (i == 1 || i == 3 || i == 5) /* the same salt as the one before */
      ck_assert_mem_eq(nonce, i == 1 ? salt0 : i == 3 ? salt1 : salt2, 16);
  }
  ck_assert_int_ne(memcmp(salt0, salt1, 16), 0);
  ck_assert_int_ne(memcmp(salt1, salt2, 16), 0);
  /* Out of order across the three keys, each opens once. */
  static const int order[6] = {2, 0, 5, 3, 1, 4};
  for (int k = 0; k < 6; k++) {
    int i = order[k];
    ck_assert_int_eq(smart__sec_open(rx, dg[i], len[i], out, sizeof(out), &sender, 11),
                     (smart_ssize)(8 + 64));
    ck_assert_uint_eq(sender, ida);
  }
  smart__sec_del(tx);
  smart__sec_del(rx);
}

START_TEST(aes256gcm_new_salt_new_key) {
  fresh_keys(smart_crypto_sodium());
}
END_TEST

START_TEST(aes256gcm_new_salt_new_key_null) { fresh_keys(smart_crypto_null()); }
END_TEST

/* Identity mode: the epoch key comes from the sender. A receiver that
 * caches the AES key of an epoch drops it when that epoch's key is
 * replaced: datagrams under the new key open, those under the old no
 * longer do. */
START_TEST(aes256gcm_identity_mode_key_replaced) {
  const struct smart_crypto_ops *ops = smart_crypto_sodium();
  uint8_t ident[64], pk[32], k1[32], k2[32];
  ck_assert_int_eq(smart_identity_keypair(pk, ident), 0);
  memset(k1, 0x11, 32);
  memset(k2, 0x22, 32);
  struct smart__sec_cfg c = {.ops = ops, .mode = SMART__SEC_IDENTITY, .identity = ident,
                             .grace_ns = 2000000000u, .cipher = SMART_CIPHER_AES256GCM};
  struct smart__sec *tx, *rx;
  uint32_t ida, idb;
  ck_assert_int_eq(smart__sec_new(&tx, &c, &ida), 0);
  c.cipher = 0;
  ck_assert_int_eq(smart__sec_new(&rx, &c, &idb), 0);
  ck_assert_int_eq(smart__sec_install_key(tx, 0, k1, 0), 0);
  ck_assert_int_eq(smart__sec_install_key(rx, 0, k1, 0), 0);
  uint8_t a[160], b[160], out[160];
  uint32_t sender;
  size_t n = make_data(a, 1, 64);
  smart_ssize sa = smart__sec_seal(tx, a, n, sizeof(a), 1);
  ck_assert_int_gt(sa, 0);
  n = make_data(b, 2, 64);
  smart_ssize sb = smart__sec_seal(tx, b, n, sizeof(b), 1);
  ck_assert_int_eq(smart__sec_open(rx, a, (size_t)sa, out, sizeof(out), &sender, 2), 72);
  /* Epoch 0 gets another key on both sides. */
  ck_assert_int_eq(smart__sec_install_key(tx, 0, k2, 0), 0);
  ck_assert_int_eq(smart__sec_install_key(rx, 0, k2, 0), 0);
  ck_assert_int_eq(smart__sec_open(rx, b, (size_t)sb, out, sizeof(out), &sender, 3), SMART_EAUTH);
  n = make_data(b, 3, 64);
  sb = smart__sec_seal(tx, b, n, sizeof(b), 4);
  ck_assert_int_eq(smart__sec_open(rx, b, (size_t)sb, out, sizeof(out), &sender, 5), 72);
  ck_assert_uint_eq(sender, ida);
  smart__sec_del(tx);
  smart__sec_del(rx);
}
END_TEST

/* ---- over real sockets ------------------------------------------------ */

static void group_name(char *buf, size_t len, int test, char *ip, unsigned *port) {
  *port = 23000u + (unsigned)(getpid() % 20000);
  snprintf(ip, 32, "239.255.%d.%u", 140 + test, (unsigned)(getpid() % 250) + 1);
  snprintf(buf, len, "%s:%u", ip, *port);
}

/* libsodium, counting the calls of each AEAD. */
static struct smart_crypto_ops counting;
static unsigned long n_seal, n_open, n_gseal, n_gopen;

static int c_seal(uint8_t *out, const uint8_t *pt, size_t ptlen, const uint8_t *ad, size_t adlen,
                  const uint8_t nonce[24], const uint8_t key[32], void *u) {
  n_seal++;
  return smart_crypto_sodium()->seal(out, pt, ptlen, ad, adlen, nonce, key, u);
}
static int c_open(uint8_t *out, const uint8_t *ct, size_t ctlen, const uint8_t *ad, size_t adlen,
                  const uint8_t nonce[24], const uint8_t key[32], void *u) {
  n_open++;
  return smart_crypto_sodium()->open(out, ct, ctlen, ad, adlen, nonce, key, u);
}
static int c_gseal(uint32_t c, uint8_t *out, const uint8_t *pt, size_t ptlen, const uint8_t *ad,
                   size_t adlen, const uint8_t *nonce, const uint8_t key[32], void *u) {
  n_gseal++;
  return smart_crypto_sodium()->aead_seal(c, out, pt, ptlen, ad, adlen, nonce, key, u);
}
static int c_gopen(uint32_t c, uint8_t *out, const uint8_t *ct, size_t ctlen, const uint8_t *ad,
                   size_t adlen, const uint8_t *nonce, const uint8_t key[32], void *u) {
  n_gopen++;
  return smart_crypto_sodium()->aead_open(c, out, ct, ctlen, ad, adlen, nonce, key, u);
}

static const struct smart_crypto_ops *counting_ops(void) {
  counting = *smart_crypto_sodium();
  counting.name = "counting";
  counting.seal = c_seal;
  counting.open = c_open;
  counting.aead_seal = c_gseal;
  counting.aead_open = c_gopen;
  return &counting;
}

static smart_sock *mk(const char *group, const struct smart_crypto_ops *ops, uint32_t cipher) {
  smart_sock *s;
  ck_assert_int_eq(smart_open(&s, SMART_OPEN_NONBLOCK), 0);
  uint32_t grtt = 2000;
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_GRTT_US, &grtt, 4), 0);
  if (ops)
    ck_assert_int_eq(smart_setopt(s, SMART_OPT_CRYPTO, &ops, sizeof(ops)), 0);
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_CIPHER, &cipher, sizeof(cipher)), 0);
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_GROUP_KEY, vkey, 32), 0);
  ck_assert_int_eq(smart_join(s, group, "127.0.0.1", NULL, 0), 0);
  return s;
}

/* A plain socket joined to the group: it sees what goes by. */
static int capture_socket(const char *ip, unsigned port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, ip, &a.sin_addr);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  struct ip_mreq m;
  inet_pton(AF_INET, ip, &m.imr_multiaddr);
  m.imr_interface.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof(m)), 0);
  return fd;
}

/* Count what the capture socket saw, by the Suite of its envelope. */
static void count_suites(int cap, unsigned seen[2]) {
  uint8_t dg[2048];
  ssize_t r;
  while ((r = recv(cap, dg, sizeof(dg), 0)) > 0) {
    if ((size_t)r < 60)
      continue;
    unsigned suite = *env_flags(dg, (size_t)r) & SMART__SEC_F_SUITE;
    ck_assert_uint_le(suite, 1);
    seen[suite]++;
  }
}

static unsigned drain(smart_sock *r, unsigned *next) {
  char buf[2048], exp[64];
  unsigned got = 0;
  for (;;) {
    smart_ssize n = smart_recv(r, buf, sizeof(buf) - 1, NULL, SMART_MSG_DONTWAIT);
    if (n == SMART_EAGAIN)
      return got;
    ck_assert_int_ge(n, 0);
    buf[n] = 0;
    snprintf(exp, sizeof(exp), "msg %u", *next);
    ck_assert_int_eq(strncmp(buf, exp, strlen(exp)), 0);
    (*next)++;
    got++;
  }
}

static void send_msgs(smart_sock *s, unsigned from, unsigned to) {
  char buf[1400];
  memset(buf, 'x', sizeof(buf));
  for (unsigned i = from; i < to; i++) {
    int n = snprintf(buf, 64, "msg %u", i);
    buf[n] = ' ';
    size_t len = i % 3 == 0 ? sizeof(buf) : (size_t)n;
    ck_assert_int_eq(smart_send(s, buf, len, 0), (smart_ssize)len);
  }
}

/* A group-key session with AES-256-GCM, end to end: the sender seals every
 * datagram with it (the wire says Suite 1, the provider was asked for
 * AES-256-GCM only), two receivers with the default setting open it and
 * deliver every message in order, with 5% loss repaired; their own
 * datagrams (requests, reports) go out in XChaCha20-Poly1305, which the
 * sender opens. */
START_TEST(group_key_session_aes256gcm) {
  char group[64], ip[32];
  unsigned port;
  group_name(group, sizeof(group), 1, ip, &port);
  int cap = capture_socket(ip, port);
  n_seal = n_open = n_gseal = n_gopen = 0;
  smart_sock *tx = mk(group, counting_ops(), SMART_CIPHER_AES256GCM);
  smart_sock *rx[2] = {mk(group, NULL, SMART_CIPHER_AUTO), mk(group, NULL, SMART_CIPHER_AUTO)};
  uint32_t ppm = 50000;
  ck_assert_int_eq(smart_setopt(rx[1], SMART_OPT_DROP_PPM, &ppm, sizeof(ppm)), 0);
  smart_sock *all[3] = {tx, rx[0], rx[1]};
  enum { N = 600 };
  send_msgs(tx, 0, N);
  unsigned next[2] = {0, 0}, seen[2] = {0, 0};
  uint64_t deadline = now_ms() + 20000;
  while ((next[0] < N || next[1] < N) && now_ms() < deadline) {
    turn(all, 3, 5);
    drain(rx[0], &next[0]);
    drain(rx[1], &next[1]);
    count_suites(cap, seen);
  }
  ck_assert_uint_eq(next[0], N);
  ck_assert_uint_eq(next[1], N);
  for (int i = 0; i < 2; i++) {
    struct smart_stats st = {.size = sizeof(st)};
    ck_assert_int_eq(smart_stats(rx[i], &st), 0);
    ck_assert_uint_eq(st.msgs_received, N);
    ck_assert_uint_eq(st.drops_auth, 0);
    ck_assert_uint_eq(st.drops_cipher, 0);
    if (i == 1)
      ck_assert_uint_gt(st.repairs_received, 0);
  }
  ck_assert_uint_gt(n_gseal, (unsigned long)N / 2);
  ck_assert_uint_eq(n_seal, 0); /* the sender sealed nothing with XChaCha20 */
  ck_assert_uint_gt(n_open, 0); /* ... and opened the receivers' datagrams */
  /* On the wire: the sender's datagrams say Suite 1 (the receivers'
   * requests, Suite 0, are too few to be sure to get past the capture's
   * overflowing buffer). */
  count_suites(cap, seen);
  ck_assert_uint_ge(seen[1], 50); /* of about 220 */
  close(cap);
  for (int i = 0; i < 3; i++)
    smart_close(all[i]);
}
END_TEST

/* A receiver whose provider lacks AES-256-GCM gets nothing from an
 * AES-256-GCM sender, and says why: drops_cipher, within drops_auth. */
START_TEST(receiver_without_aes256gcm_session) {
  char group[64], ip[32];
  unsigned port;
  group_name(group, sizeof(group), 2, ip, &port);
  smart_sock *tx = mk(group, NULL, SMART_CIPHER_AES256GCM);
  smart_sock *ok = mk(group, NULL, SMART_CIPHER_AUTO);
  smart_sock *old = mk(group, old_layout(smart_crypto_sodium(), &old_sodium), SMART_CIPHER_AUTO);
  smart_sock *all[3] = {tx, ok, old};
  send_msgs(tx, 0, 100);
  unsigned next = 0, onext = 0;
  uint64_t deadline = now_ms() + 10000;
  while (next < 100 && now_ms() < deadline) {
    turn(all, 3, 5);
    drain(ok, &next);
    drain(old, &onext);
  }
  for (int k = 0; k < 20; k++) {
    turn(all, 3, 5);
    drain(old, &onext);
  }
  ck_assert_uint_eq(next, 100);
  ck_assert_uint_eq(onext, 0);
  struct smart_stats st = {.size = sizeof(st)};
  ck_assert_int_eq(smart_stats(old, &st), 0);
  ck_assert_uint_gt(st.drops_cipher, 0);
  ck_assert_uint_ge(st.drops_auth, st.drops_cipher);
  /* A caller built before drops_cipher existed does not get it. */
  struct smart_stats small;
  memset(&small, 0xEE, sizeof(small));
  small.size = offsetof(struct smart_stats, drops_cipher);
  ck_assert_int_eq(smart_stats(old, &small), 0);
  ck_assert_uint_eq(small.drops_cipher, 0xEEEEEEEEEEEEEEEEull);
  for (int i = 0; i < 3; i++)
    smart_close(all[i]);
}
END_TEST

/* The default, SMART_CIPHER_AUTO, where AES-256-GCM is available: the
 * sender starts in XChaCha20-Poly1305 and seals its data with AES-256-GCM
 * once every receiver that reports has said it opens it (POSITION flag
 * GCM); heartbeats stay in XChaCha20-Poly1305. With one receiver that
 * cannot open AES-256-GCM (a provider of the 0.1 layout) among them, the
 * data stays in XChaCha20-Poly1305 (or comes back to it) and every
 * receiver delivers every message. */
static void auto_session(int with_old) {
  char group[64], ip[32];
  unsigned port;
  group_name(group, sizeof(group), 4 + with_old, ip, &port);
  n_seal = n_open = n_gseal = n_gopen = 0;
  smart_sock *tx = mk(group, counting_ops(), SMART_CIPHER_AUTO);
  smart_sock *rx[2] = {mk(group, NULL, SMART_CIPHER_AUTO),
                       with_old ? mk(group, old_layout(smart_crypto_sodium(), &old_sodium),
                                     SMART_CIPHER_AUTO)
                                : mk(group, NULL, SMART_CIPHER_XCHACHA20POLY1305)};
  smart_sock *all[3] = {tx, rx[0], rx[1]};
  enum { N = 600 };
  unsigned next[2] = {0, 0};
  /* A first part, then time for every receiver's first report, then the
   * rest. */
  send_msgs(tx, 0, 100);
  uint64_t deadline = now_ms() + 20000;
  while ((next[0] < 100 || next[1] < 100) && now_ms() < deadline) {
    turn(all, 3, 5);
    drain(rx[0], &next[0]);
    drain(rx[1], &next[1]);
  }
  for (int k = 0; k < 10; k++) {
    turn(all, 3, 5);
    drain(rx[0], &next[0]);
    drain(rx[1], &next[1]);
  }
  unsigned long gseal_before = n_gseal;
  send_msgs(tx, 100, N);
  while ((next[0] < N || next[1] < N) && now_ms() < deadline) {
    turn(all, 3, 5);
    drain(rx[0], &next[0]);
    drain(rx[1], &next[1]);
  }
  ck_assert_uint_eq(next[0], N);
  ck_assert_uint_eq(next[1], N);
  for (int i = 0; i < 2; i++) {
    struct smart_stats st = {.size = sizeof(st)};
    ck_assert_int_eq(smart_stats(rx[i], &st), 0);
    ck_assert_uint_eq(st.msgs_received, N);
  }
  ck_assert_uint_gt(n_seal, 0); /* heartbeats (and the start) in XChaCha20-Poly1305 */
  if (with_old) {
    ck_assert_uint_eq(n_gseal - gseal_before, 0); /* no data it could not open */
  } else {
    ck_assert_uint_gt(n_gseal - gseal_before, (unsigned long)(N - 100) / 2);
  }
  for (int i = 0; i < 3; i++)
    smart_close(all[i]);
}

START_TEST(auto_picks_aes256gcm_when_every_receiver_opens_it) { auto_session(0); }
END_TEST

START_TEST(auto_stays_xchacha_for_a_receiver_without_aes256gcm) { auto_session(1); }
END_TEST

/* SMART_OPT_CIPHER: default 0, range, and SMART_ENOTSUP for a provider
 * without AES-256-GCM, whichever is set first. */
START_TEST(cipher_option) {
  smart_sock *s;
  ck_assert_int_eq(smart_open(&s, 0), 0);
  uint32_t v = 99;
  size_t len = sizeof(v);
  ck_assert_int_eq(smart_getopt(s, SMART_OPT_CIPHER, &v, &len), 0);
  ck_assert_uint_eq(v, SMART_CIPHER_AUTO);
  ck_assert_uint_eq(len, 4);
  for (v = 0; v <= 2; v++) {
    uint32_t got = 99;
    len = sizeof(got);
    ck_assert_int_eq(smart_setopt(s, SMART_OPT_CIPHER, &v, sizeof(v)), 0);
    ck_assert_int_eq(smart_getopt(s, SMART_OPT_CIPHER, &got, &len), 0);
    ck_assert_uint_eq(got, v);
  }
  v = 3;
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_CIPHER, &v, sizeof(v)), SMART_EINVAL);
  uint8_t b = 2;
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_CIPHER, &b, 1), SMART_EINVAL);
  /* A provider of the 0.1 layout, set first: 2 is refused, and the value
   * stays what it was. */
  const struct smart_crypto_ops *old = old_layout(smart_crypto_sodium(), &old_sodium);
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_CRYPTO, &old, sizeof(old)), 0);
  v = 1;
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_CIPHER, &v, sizeof(v)), 0);
  v = 2;
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_CIPHER, &v, sizeof(v)), SMART_ENOTSUP);
  len = sizeof(v);
  ck_assert_int_eq(smart_getopt(s, SMART_OPT_CIPHER, &v, &len), 0);
  ck_assert_uint_eq(v, 1);
  smart_close(s);
  /* ... set afterwards: the join refuses it. */
  char group[64], ip[32];
  unsigned port;
  group_name(group, sizeof(group), 3, ip, &port);
  ck_assert_int_eq(smart_open(&s, 0), 0);
  v = 2;
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_CIPHER, &v, sizeof(v)), 0);
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_CRYPTO, &old, sizeof(old)), 0);
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_GROUP_KEY, vkey, 32), 0);
  ck_assert_int_eq(smart_join(s, group, "127.0.0.1", NULL, 0), SMART_ENOTSUP);
  smart_close(s);
  /* Without a key the option changes nothing: a plain session. */
  ck_assert_int_eq(smart_open(&s, 0), 0);
  ck_assert_int_eq(smart_setopt(s, SMART_OPT_CIPHER, &v, sizeof(v)), 0);
  ck_assert_int_eq(smart_join(s, group, "127.0.0.1", NULL, 0), 0);
  smart_close(s);
}
END_TEST

int main(int argc, char **argv) {
  int net = argc > 1 && !strcmp(argv[1], "net");
  init_vkey();
  if (sodium_init() < 0)
    return EXIT_FAILURE;
  int aes = have_aesni();
  if (net && !aes) {
    printf("no AES-NI here: libsodium cannot compute AES-256-GCM; skipped\n");
    return 77;
  }
  if (!aes)
    printf("no AES-NI here: the cases of libsodium's AES-256-GCM are left out\n");
  Suite *su = suite_create(net ? "cipher-net" : "cipher");
  TCase *t = tcase_create(net ? "sessions" : "envelope");
  tcase_set_timeout(t, 120);
  if (net) {
    tcase_add_test(t, group_key_session_aes256gcm);
    tcase_add_test(t, receiver_without_aes256gcm_session);
    tcase_add_test(t, cipher_option);
    tcase_add_test(t, auto_picks_aes256gcm_when_every_receiver_opens_it);
    tcase_add_test(t, auto_stays_xchacha_for_a_receiver_without_aes256gcm);
  } else {
    tcase_add_test(t, provider_tables_and_sizes);
    tcase_add_test(t, round_trip_xchacha20poly1305);
    tcase_add_test(t, round_trip_aes256gcm_null);
    tcase_add_test(t, unassigned_suites_dropped_and_counted);
    tcase_add_test(t, receiver_without_aes256gcm_counts_drops);
    tcase_add_test(t, known_answer_xchacha20poly1305);
    tcase_add_test(t, aes256gcm_new_salt_new_key_null);
    if (aes) {
      tcase_add_test(t, provider_aes256gcm_nist_vectors);
      tcase_add_test(t, round_trip_aes256gcm);
      tcase_add_test(t, aes256gcm_tamper_every_bit_rejected);
      tcase_add_test(t, wrong_suite_label_rejected);
      tcase_add_test(t, known_answer_aes256gcm);
      tcase_add_test(t, aes256gcm_new_salt_new_key);
      tcase_add_test(t, aes256gcm_identity_mode_key_replaced);
    }
  }
  suite_add_tcase(su, t);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
