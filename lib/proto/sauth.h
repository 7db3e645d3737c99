/*
 * Source authentication: every datagram verifiable as coming from the
 * sender, not merely from some holder of the group key, at high rates.
 *
 * Signatures are amortised over manifests (after EMSS / AMBI): the sender
 * takes a 16-byte digest of every datagram it seals and, every N datagrams
 * or T milliseconds, multicasts a MANIFEST message listing them (sender ID,
 * first counter, the digests in counter order) and signed with its Ed25519
 * identity. A receiver that requires source authentication holds each
 * datagram that passed the AEAD until a manifest signed by a pinned sender
 * key covers its counter with the same digest, then releases it to the
 * engine; anything else is dropped. A lost manifest costs a repair round:
 * the held datagrams expire, the engine requests the data again, and the
 * repair (sealed afresh) is covered by a later manifest. N = 1 signs every
 * datagram (a manifest right after each one), for low rates.
 *
 * Early manifests (N >= 2): a sender that has nothing more to send signs
 * what is pending at once instead of waiting for the N-th datagram or the
 * interval, so a lone message waits one signature and one verification.
 * Two budgets bound them: a signing credit that grows by a share
 * (early_pct) of the time the sender spent idle, so a sender kept busy
 * makes none; and at most one per 4 signature times on average (a bucket
 * of two), so a sender spends at most a quarter of a CPU on them and a
 * receiver of the same speed under 60%. An early manifest lists again the
 * last CARRY counters of the one before, so that a receiver that fell
 * behind verifies only the manifests that cover the others (flush()).
 * Cost and latency: smart-security(7) "SOURCE AUTHENTICATION".
 */
#ifndef SMART_SAUTH_H
#define SMART_SAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "smart/smart.h"

struct smart__sauth;
struct smart__presign_ops;

struct smart__sauth_cfg {
  const struct smart_crypto_ops *ops;
  /* sender: signing in two steps (crypto.h), when ops is the built-in
   * provider; NULL: every manifest is signed by ops->sign */
  const struct smart__presign_ops *presign;
  const uint8_t *sk;    /* sender: 64-byte identity secret key, or NULL */
  uint32_t every;       /* sender: datagrams per manifest (>= 1), 0 = not signing */
  uint64_t interval_ns; /* sender: a pending manifest waits at most this long */
  uint32_t early_pct;   /* sender: share of idle time early manifests may sign in (0: none) */
  int require;          /* receiver: hold datagrams until signed */
  uint64_t hold_ns;     /* receiver: how long an unsigned datagram is held */
  size_t max_len;       /* receiver: the largest datagram held */
};

int smart__sauth_new(struct smart__sauth **out, const struct smart__sauth_cfg *cfg);
void smart__sauth_del(struct smart__sauth *sa);
/* Receiver: trust manifests signed by this key. */
int smart__sauth_pin(struct smart__sauth *sa, const uint8_t pk[32]);

/* Sender: note a datagram just sealed (its wire bytes and the sealing
 * sender ID and counter). Returns 1 when a manifest is due (full). */
int smart__sauth_note(struct smart__sauth *sa, uint32_t sender, uint64_t counter,
                       const uint8_t *sealed, size_t len, uint64_t now);
/* Sender: the next manifest (plaintext, to be sealed like any message), or 0. */
smart_ssize smart__sauth_output(struct smart__sauth *sa, uint8_t *buf, size_t cap,
                                uint8_t sync, uint32_t group_v4, uint64_t now);

/* Sender: what one signature costs, measured by the caller (the default
 * until then: SMART__SAUTH_SIGN_NS). */
#define SMART__SAUTH_SIGN_NS 24000u
void smart__sauth_set_sign_cost(struct smart__sauth *sa, uint64_t ns);
/* Sender: one signature over a dummy buffer, for the caller to time.
 * 0, or SMART_ESTATE when this room does not sign. */
int smart__sauth_sign_probe(struct smart__sauth *sa);
/* Sender, signing in two steps: 1 when the next signature's nonce is
 * still to be made (after each signature); prepare() makes it. The caller
 * calls it once what it has produced has left: it costs what a signature
 * did, and the manifest just signed should not wait for it. */
int smart__sauth_prepare_due(const struct smart__sauth *sa);
void smart__sauth_prepare(struct smart__sauth *sa);
/* Sender: whether it is idle from `now` (nothing queued, everything sent)
 * or busy again (a message submitted). */
void smart__sauth_idle(struct smart__sauth *sa, int idle, uint64_t now);
/* Sender, idle: 1 when an early manifest may be signed now. */
int smart__sauth_early(const struct smart__sauth *sa, uint64_t now);
/* Sender: the pending manifest now (early()), or 0. */
smart_ssize smart__sauth_output_early(struct smart__sauth *sa, uint8_t *buf, size_t cap,
                                      uint8_t sync, uint32_t group_v4, uint64_t now);

/* Receiver: must a datagram of this type be held? (Data and sender commands
 * are; peers' requests and reports are not.) */
int smart__sauth_holds(const struct smart__sauth *sa, const uint8_t *plain, size_t len);
/* Receiver: hold a datagram that passed the AEAD. `sealed` is what arrived
 * (its digest is checked against manifests), `plain` what the engine will
 * get. Returns 0 (held or released at once: see take()), or SMART_ENOMEM
 * (dropped). */
int smart__sauth_hold(struct smart__sauth *sa, uint32_t sender, uint64_t counter,
                      const uint8_t *sealed, size_t slen, const uint8_t *plain, size_t plen,
                      uint64_t now);
/* Receiver: a manifest (plaintext). Returns 1 if it was one (valid or not),
 * 0 if the datagram is not a manifest. It is kept, up to 16, until
 * flush(), which the caller calls at the end of each batch of input
 * (expire() and a due expiry() flush too): then a manifest that a later
 * one of the batch covers is not verified (a receiver that fell behind
 * verifies the newest early manifest, which lists again the last
 * datagrams the earlier ones did), and the others are verified and
 * release what they vouch for, oldest first. */
int smart__sauth_manifest(struct smart__sauth *sa, const uint8_t *plain, size_t len,
                          uint64_t now);
void smart__sauth_flush(struct smart__sauth *sa);
/* Receiver: the next released datagram: its length (copied into out) and
 * sender ID, or 0 when none is ready. */
size_t smart__sauth_take(struct smart__sauth *sa, uint8_t *out, size_t cap, uint32_t *sender);
/* The time the datagram take() returned last arrived (was held from). */
uint64_t smart__sauth_taken_at(const struct smart__sauth *sa);
/* Receiver: drop what waited too long; when output or expiry is next due. */
void smart__sauth_expire(struct smart__sauth *sa, uint64_t now);
uint64_t smart__sauth_expiry(const struct smart__sauth *sa);

struct smart__sauth_stats {
  uint64_t manifests_sent, manifests_verified, drops_unsigned;
  uint64_t manifests_early; /* of manifests_sent: signed early */
  uint64_t manifests_superseded; /* not verified: a later one of the batch covered them */
};
void smart__sauth_stats(const struct smart__sauth *sa, struct smart__sauth_stats *st);

#endif
