/*
 * The peer table: who we hear from. Each peer gets a small engine id
 * (index + 1), found by authenticated sender ID in a secure session (its
 * address may change or be spoofed) or else by address; it keeps its
 * address as text for smart_msginfo.sender, and a request budget (a flood
 * of REPLACEMENT requests, forged or not, costs the sender at most
 * NAK_RATE repairs per second per requester, after a burst of NAK_BURST).
 *
 * Sans-IO: `now` is passed in; nothing here makes a system call.
 */
#ifndef SMART_PROTO_PEERS_H
#define SMART_PROTO_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"
#include "util/ratelim.h"

#define SMART__PEER_MAX 4096u
/* An address as text, NUL-padded to this size (smart_msginfo.sender). */
#define SMART__PEER_TEXT 48u
#define SMART__NAK_RATE 200u /* requests per second and requester */
#define SMART__NAK_BURST 100u
/* A data sender not heard for this long may give its slot to a newcomer
 * when the table is full (well past the 4 s after which receivers report
 * a silent sender gone). */
#define SMART__PEER_IDLE (UINT64_C(60) * 1000000000u)

struct smart__peer {
  struct smart__sockaddr addr; /* where it was last heard from */
  uint64_t last_heard;
  uint32_t id;
  uint32_t sid; /* secure mode: its authenticated sender ID */
  /* `addr` as text, formatted when it changes, not once per message */
  struct smart__sockaddr text_of;
  char text[SMART__PEER_TEXT];
  struct smart__ratelim naks; /* per-requester request budget */
  int data; /* it sent DATA: a sender whose moves we follow */
};

struct smart__peers {
  struct smart__peer *v;
  uint32_t n, cap;
  uint32_t last; /* index of the peer heard last */
  uint64_t evicted; /* slots taken over when full */
  uint32_t forgot;  /* the id of a data sender whose slot was just given to a
                       newcomer: its engine state must go (0: none) */
  /* smart__peers_text's last answer, good while `gen` is what it was:
   * `gen` counts every change of a peer's address and of the table (one
   * look per message instead of a comparison of addresses) */
  uint32_t gen, text_id, text_gen;
};

/* The id of the peer at `a` (or with sender ID `sid`, when non-zero), added
 * if new; when the table is full, in the slot of the peer heard longest ago
 * that never sent data (same id), or else of the data sender heard longest
 * ago if that was SMART__PEER_IDLE ago or more (then t->forgot is its id:
 * the caller drops the engine's state of that sender before using the id).
 * 0 when every slot holds a data sender heard within SMART__PEER_IDLE, or
 * memory ran out. */
uint32_t smart__peers_id(struct smart__peers *t, const struct smart__sockaddr *a, uint32_t sid,
                         uint64_t now);
/* The peer of id `id`, or NULL. */
struct smart__peer *smart__peers_get(struct smart__peers *t, uint32_t id);
/* The id of the peer with sender ID `sid`, or 0. */
uint32_t smart__peers_by_sid(const struct smart__peers *t, uint32_t sid);
/* Its address as text ("" for an unknown id), in a buffer of
 * SMART__PEER_TEXT bytes padded with NULs: a caller may copy all of them. */
const char *smart__peers_text_find(struct smart__peers *t, uint32_t id);
static inline const char *smart__peers_text(struct smart__peers *t, uint32_t id) {
  if (id && id == t->text_id && t->gen == t->text_gen)
    return t->v[id - 1].text; /* the common case: every message from one sender */
  return smart__peers_text_find(t, id);
}
/* May this peer's request be served now? 1: yes (a token taken). */
int smart__peers_nak_allowed(struct smart__peers *t, uint32_t id, uint64_t now);
void smart__peers_free(struct smart__peers *t);

#endif
