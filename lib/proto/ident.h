/*
 * Identity mode: limiting receivers and senders with Ed25519 identities.
 *
 * A member (receiver) announces itself with a USAGE_REPORT_JOIN carrying a
 * KEYREQ extension: its public key, a nonce and its signature over the whole
 * packet (proof of possession). The sender answers a member on its
 * allow-list with a KEY_DELIVERY message: the epoch key sealed to that
 * member's key and signed by the sender's identity. Members accept keys only
 * from pinned sender keys. Revocation draws a new random epoch key, delivers
 * it to the remaining members only, and switches to it after a short lead.
 * Layouts: smart-protocol(7); reasoning: smart-security(7).
 */
#ifndef SMART_IDENT_H
#define SMART_IDENT_H

#include <stddef.h>
#include <stdint.h>

#include "secure.h"

struct smart__ident;

/* sk: the socket's 64-byte identity secret key (copied into secret memory). */
int smart__ident_new(struct smart__ident **out, const uint8_t sk[64]);
void smart__ident_del(struct smart__ident *id);

/* Sender: allow or revoke a member's public key. */
int smart__ident_allow(struct smart__ident *id, const uint8_t pk[32]);
/* Returns 1 if the key was allowed (and is now removed), else 0. */
int smart__ident_revoke(struct smart__ident *id, const uint8_t pk[32]);
int smart__ident_is_server(const struct smart__ident *id);

/* Member: pin a sender's public key. */
int smart__ident_pin(struct smart__ident *id, const uint8_t pk[32]);

/* Bind to the secure layer once it exists; a sender draws its first key. */
int smart__ident_start(struct smart__ident *id, struct smart__sec *sec, uint64_t now);

/*
 * Offer an incoming (unsealed) datagram. Returns 1 when it was an identity
 * message and was consumed (valid or not: *refused is set for a join from a
 * key not allowed, *bad for one that failed its checks), 0 when it is not
 * one (the caller opens it normally).
 */
int smart__ident_input(struct smart__ident *id, const uint8_t *dg, size_t len, uint64_t now,
                       int *refused, int *bad);

/* The member saw data of an epoch whose key it lacks: ask again soon. */
void smart__ident_want(struct smart__ident *id, int epoch, uint64_t now);

/* Next identity datagram to multicast (KEYREQ or KEY_DELIVERY): its length,
 * or 0 when nothing is due. */
smart_ssize smart__ident_output(struct smart__ident *id, uint8_t *buf, size_t cap,
                                uint8_t sync, uint32_t group_v4, uint64_t now);

/* When output or a switch is next due (UINT64_MAX: nothing). */
uint64_t smart__ident_expiry(const struct smart__ident *id);

/* Sender: start a new epoch: fresh key, delivered to every member, used
 * after `lead_ns`. */
int smart__ident_rekey(struct smart__ident *id, uint64_t now, uint64_t lead_ns);

#endif
