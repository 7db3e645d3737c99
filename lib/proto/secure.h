/*
 * The secure datagram layer, between the socket facade and the engine.
 *
 * Outgoing, every datagram the engine produces is sealed: DATA packets
 * (data, repairs, heartbeats, confirmations) become D = 1 envelopes,
 * message packets (requests, QUIET, reports, tunnel messages) get an AUTH
 * extension as their last bytes. Incoming, nothing reaches the engine that
 * did not authenticate under a key of a known epoch and pass the replay
 * window of its sender; the engine sees the plaintext datagram with D = 0.
 * Layouts: smart-protocol(7) "SECURE ENVELOPE"; reasoning: smart-security(7).
 */
#ifndef SMART_SECURE_H
#define SMART_SECURE_H

#include <stddef.h>
#include <stdint.h>

#include "smart/smart.h"

/* Envelope: Epoch | Flags | Reserved(16) | Sender ID(32) | Nonce(192) ...
 * ... body ... | Tag(128). */
#define SMART__SEC_HDR 8u
#define SMART__SEC_NONCE 24u
#define SMART__SEC_TAG 16u
#define SMART__SEC_DATA_OVERHEAD (SMART__SEC_HDR + SMART__SEC_NONCE + SMART__SEC_TAG)
/* AUTH extension: 4-byte TLV header + the same 48 bytes with no body. */
#define SMART__SEC_AUTH_LEN (SMART__SEC_HDR + SMART__SEC_NONCE + SMART__SEC_TAG)
#define SMART__SEC_MSG_OVERHEAD (4u + SMART__SEC_AUTH_LEN)
#define SMART__SEC_OVERHEAD SMART__SEC_MSG_OVERHEAD /* the larger of the two */

/* Envelope flags: E | Zero(4) | Suite(3). */
#define SMART__SEC_F_ENCRYPTED 0x80u /* body is ciphertext (else authenticated only) */
#define SMART__SEC_F_ZERO 0x78u      /* must be zero */
#define SMART__SEC_F_SUITE 0x07u     /* the AEAD that sealed it: */
#define SMART__SEC_SUITE_XCHACHA 0u  /*   XChaCha20-Poly1305 (the only one of 0.1) */
#define SMART__SEC_SUITE_AESGCM 1u   /*   AES-256-GCM; 2..7 unassigned */

/* AES-256-GCM: a sender draws a new salt, hence a new key, after this many
 * datagrams under one (smart-security(7) "Nonces": the data limit). */
#define SMART__GCM_SALT_LIFE (UINT64_C(1) << 28)

enum { SMART__SEC_OFF = 0, SMART__SEC_GROUP = 1, SMART__SEC_IDENTITY = 2 };

struct smart__sec;

struct smart__sec_cfg {
  const struct smart_crypto_ops *ops;
  int mode;                 /* SMART__SEC_GROUP or SMART__SEC_IDENTITY */
  const uint8_t *group_key; /* 32 bytes (group mode) */
  const uint8_t *identity;  /* 64-byte secret key (identity mode), or NULL */
  int auth_only;            /* data authenticated, not encrypted */
  uint64_t grace_ns;        /* how long a superseded epoch stays acceptable */
  uint64_t rekey_ns;        /* sender: new epoch this often (0 never) */
  uint64_t rekey_bytes;     /* sender: ... or after this many bytes (0 never) */
  uint32_t cipher;          /* SMART_CIPHER_* this socket seals with (0: XChaCha20) */
  int open_in_place;        /* the provider opens XChaCha20-Poly1305 with the output at
                               the input's address (libsodium's AEAD: it verifies, then
                               decrypts), so smart__sec_open_in_place() may be used */
};

/* Create the layer; *my_id receives this socket's random sender ID (use it
 * as the engine's session ID). Returns 0, SMART_EINVAL, SMART_ENOMEM, or
 * SMART_ENOTSUP when cfg->cipher is a suite the provider does not offer. */
int smart__sec_new(struct smart__sec **out, const struct smart__sec_cfg *cfg,
                   uint32_t *my_id);
void smart__sec_del(struct smart__sec *s);

/*
 * Seal the plaintext datagram in buf[0..len) in place (cap bytes available;
 * cap >= len + SMART__SEC_OVERHEAD). Returns the new length, or
 * SMART_ESTATE when no key is available yet (identity mode before the key
 * arrived: the datagram is not sent), SMART_ENOBUF, SMART_EINVAL.
 */
smart_ssize smart__sec_seal(struct smart__sec *s, uint8_t *buf, size_t len, size_t cap,
                            uint64_t now);
/* The same for a DATA packet of len bytes that lies at buf + SMART__SEC_HDR +
 * SMART__SEC_NONCE (its body already where the envelope puts it: nothing
 * but the 8-byte header moves); the sealed packet starts at buf. */
smart_ssize smart__sec_seal_shifted(struct smart__sec *s, uint8_t *buf, size_t len, size_t cap,
                                    uint64_t now);

/*
 * Authenticate and open in[0..len) into out (cap >= len). On success returns
 * the plaintext datagram's length and the sender ID in *sender. Errors:
 * SMART_EAUTH (no or bad authentication, unknown epoch or key),
 * SMART_ERANGE (replayed or too old), SMART_ENOTSUP (sealed with a suite
 * this socket cannot open: counted, smart__sec_cipher_drops), SMART_EINVAL.
 */
smart_ssize smart__sec_open(struct smart__sec *s, const uint8_t *in, size_t len,
                            uint8_t *out, size_t cap, uint32_t *sender, uint64_t now);
/* The same, in place: buf[0..len) is overwritten with the plaintext, which
 * starts at *pt (inside buf: a DATA packet's body is opened where it lies
 * and its header moved up to it). Only where the provider opens in place
 * (cfg.open_in_place) and for XChaCha20-Poly1305; otherwise SMART_ENOTSUP
 * and buf is untouched. On an error buf's contents are undefined. */
int smart__sec_opens_in_place(const struct smart__sec *s);
smart_ssize smart__sec_open_in_place(struct smart__sec *s, uint8_t *buf, size_t len,
                                     const uint8_t **pt, uint32_t *sender, uint64_t now);

/* Sender: start a new epoch now (group mode: the next derived key;
 * identity mode: a fresh random key). Returns 0 or an error. */
int smart__sec_rekey(struct smart__sec *s, uint64_t now);

/* Identity mode: a rekey was started by ident.c: restart the timers. */
void smart__sec_rekey_started(struct smart__sec *s, uint64_t now);

/* Sender: has the rekey timer or byte budget run out? */
int smart__sec_rekey_due(const struct smart__sec *s, uint64_t now);

/* The current transmit epoch. */
unsigned smart__sec_epoch(const struct smart__sec *s);

/* Identity mode. Install the key of `epoch` (received from the sender, or
 * drawn by it); `data_sender` is the one sender ID whose DATA this key may
 * authenticate (0: any). Returns 0 or SMART_EINVAL. */
int smart__sec_install_key(struct smart__sec *s, uint8_t epoch, const uint8_t key[32],
                           uint32_t data_sender);
/* Identity mode (member): keep only the keys bound to `data_sender` whose
 * epochs are at most `span` before `newest`; forget the others. */
void smart__sec_keep_keys(struct smart__sec *s, uint32_t data_sender, uint8_t newest,
                          unsigned span);
/* Identity mode: switch this socket's transmit epoch to `epoch`, whose key
 * must be installed. */
int smart__sec_use_epoch(struct smart__sec *s, uint8_t epoch, uint64_t now);
/* Identity mode (sender): a copy of the key of `epoch`, to wrap for a member. */
int smart__sec_export_key(const struct smart__sec *s, uint8_t epoch, uint8_t key[32]);
/* Identity mode: is the key of `epoch` installed? */
int smart__sec_have_key(const struct smart__sec *s, uint8_t epoch);
/* The epoch of the last datagram refused for want of its key (member in
 * identity mode), or -1. Reading clears it. */
int smart__sec_take_missing(struct smart__sec *s);
uint32_t smart__sec_id(const struct smart__sec *s);
/* Newer epochs this socket adopted from other senders (a receiver's rekeys). */
uint64_t smart__sec_adopted(const struct smart__sec *s);
const struct smart_crypto_ops *smart__sec_ops(const struct smart__sec *s);

/* Test hook: the counter the next datagram is sealed with. */
void smart__sec_test_set_counter(struct smart__sec *s, uint64_t counter);
/* Test hook: seal under sender ID `id` (a member forging another's). */
void smart__sec_test_set_id(struct smart__sec *s, uint32_t id);
/* Test hook: the nonce of the last datagram sealed. */
void smart__sec_last_nonce(const struct smart__sec *s, uint8_t nonce[24]);
/* The envelope counter of the last datagram sealed (source authentication
 * notes it), and that of a sealed datagram as received (at least
 * SMART__SEC_OVERHEAD bytes: the caller opened it first). */
uint64_t smart__sec_last_counter(const struct smart__sec *s);
uint64_t smart__sec_counter_of(const uint8_t *sealed, size_t len);

/* Datagrams refused with SMART_ENOTSUP: an unassigned suite, or one the
 * provider does not offer here (AES-256-GCM without AES-NI). */
uint64_t smart__sec_cipher_drops(const struct smart__sec *s);
/* The suite this socket seals with next (SMART__SEC_SUITE_*). */
unsigned smart__sec_suite(const struct smart__sec *s);
/* 1 when this socket can open AES-256-GCM (its provider offers it). */
int smart__sec_opens_gcm(const struct smart__sec *s);
/* 1 when the suite is chosen per datagram: SMART_CIPHER_AUTO where the
 * provider offers AES-256-GCM (smart-security(7) "AEAD"). */
int smart__sec_chooses(const struct smart__sec *s);
/* When it is: seal the next datagrams with AES-256-GCM (gcm 1) or
 * XChaCha20-Poly1305 (gcm 0). Nonces stay unique whatever the mix: one
 * counter numbers every datagram of both suites, under different keys.
 * Otherwise nothing. */
void smart__sec_choose(struct smart__sec *s, int gcm);

/* The sender-ID table (at most 4096 entries): the engine took DATA from
 * sender `id`, whose datagram was just opened. A full table gives a
 * newcomer the slot of the entry heard longest ago that never sent such
 * data, else of a data sender silent for 60 s, and refuses it only when
 * every entry is a data sender heard within the last 60 s. */
void smart__sec_heard_data(struct smart__sec *s, uint32_t id);
/* Entries given to newcomers so far, and entries held now. */
uint64_t smart__sec_evicted(const struct smart__sec *s);
uint32_t smart__sec_senders(const struct smart__sec *s);

#endif
