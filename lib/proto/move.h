/*
 * Group moves (ADDR_RANGE_CHANGE; smart-protocol(7) "MOVES").
 *
 * A sender that moves listens on the new group at once (requests will come
 * there), announces the change on the group being left (3 announcements
 * 20 ms apart, then one every 250 ms while the old group socket stays
 * open, so that a receiver that lost the first ones, or joins the old
 * group late, still follows), and sends to the new group after a lead of
 * max(50 ms, 4 GRTT), so receivers have joined before data arrives. The old
 * group socket closes 2 s after the switch.
 *
 * A receiver follows an authenticated ADDR_RANGE_CHANGE from a sender it
 * receives data from; its previous group socket keeps listening for 2 s, so
 * that datagrams already on their way are not lost.
 *
 * Sans-IO: which socket to open or close is the caller's business; this
 * room decides when, and what goes on the wire.
 */
#ifndef SMART_PROTO_MOVE_H
#define SMART_PROTO_MOVE_H

#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"
#include "wire/wire.h"

/* How long a previous group socket keeps listening. */
#define SMART__MOVE_LINGER_NS UINT64_C(2000000000)

struct smart__move {
  struct smart__sockaddr next, from; /* sender: the new group; the one left */
  uint64_t switch_at, arc_next;
  unsigned arc_left, arc_sent;
  int moving; /* sender: announced, not yet switched */
};

/* Sender: start a move from `from` to `to`; announcements from `now`, the
 * switch after `lead_ns` (at least 50 ms). Returns the time the old group
 * socket may close. */
uint64_t smart__move_start(struct smart__move *m, const struct smart__sockaddr *from,
                           const struct smart__sockaddr *to, uint64_t lead_ns, uint64_t now);
/* Sender: an announcement due now, into `buf`, addressed to `*dest` (the
 * group being left). Returns its length or 0. */
size_t smart__move_output(struct smart__move *m, uint8_t *buf, size_t cap, uint8_t sync,
                          struct smart__sockaddr *dest, uint64_t now);
/* Sender: has the switch come? 1 once, with the new group in `*group`. */
int smart__move_switch(struct smart__move *m, struct smart__sockaddr *group, uint64_t now);
/* The next time this room needs a call (UINT64_MAX: none). */
uint64_t smart__move_expiry(const struct smart__move *m);

/* ADDR_RANGE_CHANGE naming `g` (a range of one group): Address[1] and [2]
 * the IPv4 group (0 for IPv6, then the ADDR6 extension), PORT the port. */
size_t smart__move_encode(uint8_t *buf, size_t cap, uint8_t sync, const struct smart__sockaddr *g);
/* Receiver: the group a decoded ADDR_RANGE_CHANGE names, in the family of
 * `current`. 0, or -1 when it names nothing usable, or `current` itself. */
int smart__move_target(const struct smart__pkt *p, const struct smart__sockaddr *current,
                       struct smart__sockaddr *g);

#endif
