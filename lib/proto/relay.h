/*
 * The relay half of unicast tunnels (REQUEST_TUNNEL / LEAVE_TUNNEL): the
 * client table, cookie checks, budgets, and the forwarding decisions of a
 * relay that serves a group to hosts without multicast. The client half and
 * the codec are in tunnel.h; the byte layouts, the exchange and the
 * reasoning (stateless challenges, no amplification) are in
 * smart-protocol(7) "TUNNELING".
 *
 * Sans-IO: nothing here touches a socket or reads the clock. The caller
 * (smart-relay) reads datagrams, passes them in with their source and `now`
 * (monotonic nanoseconds, never going backwards), and then sends what
 * smart__relay_output() hands back, until it returns 0.
 *
 * What the relay decides:
 *   - a tunnel request (TYP 3, opened first under the group key in a secure
 *     relay) is answered with exactly its own layout: a challenge (a new
 *     cookie) when the cookie is not valid, within a budget shared by all
 *     requesters; a grant (the cookie echoed) when it is, adding the client
 *     to the table if there is room (a slot of a client silent for two
 *     keepalives is taken over); a refusal (LEAVE_TUNNEL, cookie echoed)
 *     when the table is full of live clients; a leave is echoed and ends
 *     the client's service. A reply is never longer than its request;
 *   - a datagram of the group goes, verbatim, to every client within its
 *     byte budget;
 *   - a client's feedback (any TYP but DATA and TUNNEL), within its
 *     feedback budget and once it authenticates, goes into the group
 *     (multicast, or to the upstream relay) and to the other clients, which
 *     suppress their own requests on it;
 *   - with an upstream relay, this relay is itself a tunnel client of it
 *     (tunnel.h): its control datagrams come out of smart__relay_output()
 *     too, and the upstream's replies go to smart__relay_group_input().
 *
 * Budgets (util/ratelim): per client, `rate` bytes per second of forwarding
 * (burst max(rate / 10, 64 KiB)) and 200 feedback datagrams per second
 * (burst 100); for all requesters together, 20,000 challenges per second
 * (burst as many).
 */
#ifndef SMART_PROTO_RELAY_H
#define SMART_PROTO_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"
#include "smart/smart.h"

/* The largest datagram the relay takes in. */
#define SMART__RELAY_DGRAM_MAX 65536u

#define SMART__RELAY_FB_RATE 200u         /* feedback datagrams per second per client ... */
#define SMART__RELAY_FB_BURST 100u        /* ... after a burst of this many */
#define SMART__RELAY_CHALLENGE_RATE 20000u /* cookie challenges per second, all clients */

struct smart_crypto_ops;
struct smart__relay;

struct smart__relay_cfg {
  const struct smart_crypto_ops *ops;   /* cookies, and the secure layer */
  struct smart__sockaddr group;         /* the group served (multicast) */
  const struct smart__sockaddr *upstream; /* receive the group through this relay, or NULL */
  const uint8_t *group_key;             /* 32 bytes: secure relay, or NULL */
  const uint8_t *secret;                /* 32 bytes of cookie secret, or NULL: drawn */
  unsigned max_clients;                 /* >= 1 */
  uint64_t rate;                        /* bytes per second per client; 0: no limit */
  uint8_t sync;                         /* Sync byte of this relay's own requests */
};

/* Returns 0, SMART_EINVAL (no ops, group not multicast, no clients),
 * SMART_ENOMEM, or an error of the provider or the secure layer. */
int smart__relay_new(struct smart__relay **out, const struct smart__relay_cfg *cfg,
                     uint64_t now);
void smart__relay_del(struct smart__relay *r);

/* A datagram from the listening socket: a tunnel request, or a client's
 * feedback. `len` above SMART__RELAY_DGRAM_MAX (a receive error) counts as
 * bad. What it produced comes out of smart__relay_output(), which must be
 * drained before the next input: the datagrams it hands back may point into
 * `dg`. */
void smart__relay_input(struct smart__relay *r, const uint8_t *dg, size_t len,
                        const struct smart__sockaddr *from, uint64_t now);

/* A datagram of the group: from the group socket (the caller drops its own
 * multicast looped back), or from the upstream relay (anything not from the
 * upstream's address is ignored; its tunnel replies go to the relay's own
 * tunnel client). Same contract as smart__relay_input(). */
void smart__relay_group_input(struct smart__relay *r, const uint8_t *dg, size_t len,
                              const struct smart__sockaddr *from, uint64_t now);

enum smart__relay_kind {
  SMART__RELAY_REPLY = 1,    /* a tunnel reply, by the listening socket */
  SMART__RELAY_FORWARD = 2,  /* a datagram of the group to a client, by the listening socket */
  SMART__RELAY_FEEDBACK = 3, /* a client's feedback into the group: multicast, or upstream */
  SMART__RELAY_CONTROL = 4   /* this relay's own tunnel request, to the upstream relay */
};

/* Is a datagram of this kind sent by the listening socket (else by the
 * group's: the multicast send socket, or the one towards the upstream)? */
#define SMART__RELAY_BY_LISTEN(kind) ((kind) <= SMART__RELAY_FORWARD)

struct smart__relay_dgram {
  int kind; /* enum smart__relay_kind */
  const uint8_t *buf;
  size_t len;
  const struct smart__sockaddr *to;
};

/*
 * The next datagram to send: 1 and *d filled, or 0 when nothing is due.
 * First what the last input produced (a reply; or the feedback into the
 * group, then the datagram to each client in its budget), then this relay's
 * own tunnel requests to the upstream, when due at `now`. A FORWARD or
 * FEEDBACK datagram is the last input's `dg` itself; a REPLY stays valid
 * until the next input, a CONTROL one until the next call of this function;
 * `d->to` until the next input.
 */
int smart__relay_output(struct smart__relay *r, struct smart__relay_dgram *d, uint64_t now);

/* When something is next due: the sweep of silent clients (once a second)
 * or the upstream tunnel's next request. */
uint64_t smart__relay_expiry(const struct smart__relay *r);

/* At or after the expiry: stop serving clients silent for more than
 * SMART__TUN_TIMEOUT_NS. */
void smart__relay_expire(struct smart__relay *r, uint64_t now);

/* Shutting down: leave the upstream relay (its LEAVE_TUNNEL comes out of
 * smart__relay_output()). Nothing without an upstream. */
void smart__relay_leave(struct smart__relay *r, uint64_t now);

struct smart__relay_stats {
  uint64_t clients, peak, evicted;
  uint64_t rate_dropped;           /* forwards refused by a client's byte budget */
  uint64_t requests, request_bytes; /* tunnel datagrams received (as on the wire) */
  uint64_t challenges, challenge_bytes, grants, grant_bytes;
  uint64_t leaves, leave_bytes, refused, refused_bytes;
  uint64_t replies, reply_bytes;   /* the four above together */
  uint64_t bad;                    /* malformed, not ours, or from a non-client */
  uint64_t auth_failed;            /* did not authenticate (secure relay) */
  uint64_t throttled;              /* challenges refused by the challenge budget */
  uint64_t feedback, feedback_dropped;
};
void smart__relay_get_stats(const struct smart__relay *r, struct smart__relay_stats *st);

/* Is `a` a client being served? (For tests and diagnostics.) */
int smart__relay_serves(const struct smart__relay *r, const struct smart__sockaddr *a);

#endif
