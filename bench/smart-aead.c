/*
 * smart-aead: what sealing and opening one 1,400-byte datagram costs with
 * each AEAD suite of the secure envelope (SMART_OPT_CIPHER), on one core.
 *
 *   smart-aead [--ms N]     N ms per measurement (default 100)
 *
 * For XChaCha20-Poly1305 and, where libsodium can compute it (AES-NI),
 * AES-256-GCM, in ns per datagram:
 *
 *   aead_seal, aead_open    the provider's AEAD alone (smart_crypto_sodium):
 *                           1,400 bytes with 40 bytes of associated data,
 *                           as a DATA envelope has;
 *   env_seal, env_open      the whole secure envelope of lib/proto/secure.c
 *                           (smart__sec_seal, smart__sec_open) on a DATA
 *                           packet with a 1,400-byte payload, encrypted:
 *                           key lookup, replay window, moves and all. The
 *                           seal figure excludes restoring the plaintext
 *                           before each call (measured apart, subtracted).
 *
 * Time is the CPU time of the thread (CLOCK_THREAD_CPUTIME_ID), so that other
 * programs on the machine disturb the figures less; each is the median of 5
 * measurements. The last line is
 *
 *   size=1400 xchacha_seal_ns=... xchacha_open_ns=... gcm_seal_ns=... gcm_open_ns=...
 *
 * with the envelope figures (gcm: 0 without AES-NI). It takes about 3 s, and
 * prints figures without judging them.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/secure.h"
#include "smart/smart.h"
#include "util/bytes.h"
#include "wire/wire.h"

#define PAYLOAD 1400u
#define RING 4096u /* sealed datagrams opened per receiver (its replay window) */
#define RUNS 5

static double run_ns = 100e6;

/* The thread's CPU time: on a shared machine, preemption does not count. */
static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void die(const char *what, long rc) {
  fprintf(stderr, "smart-aead: %s failed (%ld)\n", what, rc);
  exit(1);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double v[RUNS]) {
  qsort(v, RUNS, sizeof(v[0]), cmp_double);
  return v[RUNS / 2];
}

static const uint8_t group_key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                      17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
                                      31, 32};

static struct smart__sec *sec(uint32_t cipher) {
  struct smart__sec_cfg c = {.ops = smart_crypto_sodium(), .mode = SMART__SEC_GROUP,
                             .group_key = group_key, .grace_ns = 2000000000u,
                             .cipher = cipher};
  struct smart__sec *s;
  uint32_t id;
  int rc = smart__sec_new(&s, &c, &id);
  if (rc)
    die("smart__sec_new", rc);
  return s;
}

static size_t plain_dgram(uint8_t *buf, uint16_t seq) {
  smart__data_hdr_write(buf, 0x53, SMART__DCMD_DATA, seq, 0, 0, 0, PAYLOAD);
  for (size_t i = 0; i < PAYLOAD; i++)
    buf[8 + i] = (uint8_t)(i * 7 + seq);
  return 8 + PAYLOAD;
}

/* The provider's AEAD alone. */
static void provider_aead(uint32_t cipher, double *seal_ns, double *open_ns) {
  const struct smart_crypto_ops *o = smart_crypto_sodium();
  static uint8_t pt[PAYLOAD], ct[PAYLOAD + 16], back[PAYLOAD];
  uint8_t ad[40], key[32], nonce[24];
  memset(pt, 0x5a, sizeof(pt));
  memset(ad, 0x33, sizeof(ad));
  memset(key, 0x42, sizeof(key));
  memset(nonce, 0, sizeof(nonce));
  double s[RUNS], op[RUNS];
  for (int r = 0; r < RUNS; r++) {
    for (int pass = 0; pass < 2; pass++) {
      unsigned long n = 0;
      double t0 = now_ns(), t;
      do {
        for (int k = 0; k < 64; k++, n++) {
          int rc;
          if (pass == 0) {
            nonce[0] = (uint8_t)n; /* a new nonce each time, as the envelope has */
            rc = cipher == SMART_CIPHER_AES256GCM
                     ? o->aead_seal(cipher, ct, pt, PAYLOAD, ad, 40, nonce, key, o->user_data)
                     : o->seal(ct, pt, PAYLOAD, ad, 40, nonce, key, o->user_data);
          } else {
            rc = cipher == SMART_CIPHER_AES256GCM
                     ? o->aead_open(cipher, back, ct, PAYLOAD + 16, ad, 40, nonce, key,
                                    o->user_data)
                     : o->open(back, ct, PAYLOAD + 16, ad, 40, nonce, key, o->user_data);
          }
          if (rc)
            die(pass ? "open" : "seal", rc);
        }
      } while ((t = now_ns() - t0) < run_ns);
      (pass ? op : s)[r] = t / (double)n;
    }
  }
  *seal_ns = median(s);
  *open_ns = median(op);
}

/* The whole envelope. */
static void envelope(uint32_t cipher, double *seal_ns, double *open_ns) {
  static uint8_t plain[8 + PAYLOAD], work[8 + PAYLOAD + 64], out[8 + PAYLOAD + 64];
  static uint8_t ring[RING][8 + PAYLOAD + 64];
  static size_t ring_len[RING];
  size_t pl = plain_dgram(plain, 1);
  double s[RUNS], op[RUNS];
  uint64_t now = 1;
  for (int r = 0; r < RUNS; r++) {
    struct smart__sec *tx = sec(cipher);
    /* Restoring the plaintext alone, to subtract. */
    unsigned long n = 0;
    double t0 = now_ns(), t, copy;
    do {
      for (int k = 0; k < 64; k++, n++) {
        memcpy(work, plain, pl);
        __asm__ volatile("" : : "r"(work) : "memory");
      }
    } while ((t = now_ns() - t0) < run_ns / 4);
    copy = t / (double)n;
    n = 0;
    t0 = now_ns();
    do {
      for (int k = 0; k < 64; k++, n++) {
        memcpy(work, plain, pl);
        smart_ssize sl = smart__sec_seal(tx, work, pl, sizeof(work), now);
        if (sl <= 0)
          die("smart__sec_seal", (long)sl);
      }
    } while ((t = now_ns() - t0) < run_ns);
    s[r] = t / (double)n - copy;
    /* Open: RING datagrams sealed in advance, a fresh receiver for each
     * pass over them (its replay window takes each once). */
    for (unsigned i = 0; i < RING; i++) {
      memcpy(ring[i], plain, pl);
      smart_ssize sl = smart__sec_seal(tx, ring[i], pl, sizeof(ring[i]), now);
      if (sl <= 0)
        die("smart__sec_seal", (long)sl);
      ring_len[i] = (size_t)sl;
    }
    double total = 0;
    n = 0;
    while (total < run_ns) {
      struct smart__sec *rx = sec(SMART_CIPHER_AUTO);
      uint32_t sender;
      t0 = now_ns();
      for (unsigned i = 0; i < RING; i++, n++) {
        smart_ssize ol = smart__sec_open(rx, ring[i], ring_len[i], out, sizeof(out), &sender, now);
        if (ol != (smart_ssize)pl)
          die("smart__sec_open", (long)ol);
      }
      total += now_ns() - t0;
      smart__sec_del(rx);
    }
    op[r] = total / (double)n;
    smart__sec_del(tx);
  }
  *seal_ns = median(s);
  *open_ns = median(op);
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--ms") && atoi(argv[2]) > 0)
    run_ns = atoi(argv[2]) * 1e6;
  else if (argc != 1) {
    fprintf(stderr, "usage: smart-aead [--ms N]\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  (void)smart_crypto_sodium(); /* initialises libsodium */
  int aes = crypto_aead_aes256gcm_is_available();
  printf("smart-aead: libsmart %s, libsodium %s, AES-NI %s; %u-byte payloads, "
         "ns of CPU per datagram, median of %d runs of %.0f ms\n",
         smart_version(), sodium_version_string(), aes ? "yes" : "no", PAYLOAD, RUNS,
         run_ns / 1e6);
  printf("%-20s %10s %10s %10s %10s\n", "suite", "aead_seal", "aead_open", "env_seal",
         "env_open");
  double xs, xo, gs = 0, go = 0, as, ao;
  provider_aead(SMART_CIPHER_XCHACHA20POLY1305, &as, &ao);
  envelope(SMART_CIPHER_XCHACHA20POLY1305, &xs, &xo);
  printf("%-20s %10.0f %10.0f %10.0f %10.0f\n", "xchacha20poly1305", as, ao, xs, xo);
  if (aes) {
    provider_aead(SMART_CIPHER_AES256GCM, &as, &ao);
    envelope(SMART_CIPHER_AES256GCM, &gs, &go);
    printf("%-20s %10.0f %10.0f %10.0f %10.0f\n", "aes256gcm", as, ao, gs, go);
  } else {
    printf("%-20s (libsodium computes it only with AES-NI)\n", "aes256gcm");
  }
  printf("size=%u xchacha_seal_ns=%.0f xchacha_open_ns=%.0f gcm_seal_ns=%.0f gcm_open_ns=%.0f\n",
         PAYLOAD, xs, xo, gs, go);
  return 0;
}
