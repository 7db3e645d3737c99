/*
 * Unicast tunnels (REQUEST_TUNNEL / LEAVE_TUNNEL): the client's state
 * machine, and the message codec and cookie that relays use.
 *
 * Sans-IO: nothing here touches a socket or reads the clock; the caller
 * passes `now` (monotonic nanoseconds, never going backwards) and moves the
 * datagrams. Every byte goes through the wire codec (lib/wire). The byte
 * layouts and the exchange are in smart-protocol(7) "TUNNELING".
 *
 * The exchange, in short:
 *
 *   client                                  relay
 *   REQUEST_TUNNEL  COOKIE=0   ---------->  (stateless) same size back:
 *                              <----------  REQUEST_TUNNEL COOKIE=c  (challenge)
 *   REQUEST_TUNNEL  COOKIE=c   ---------->  cookie valid: forward the group
 *                              <----------  REQUEST_TUNNEL COOKIE=c  (grant: echo)
 *   <========== every datagram of the group, verbatim, by unicast ========
 *   REQUEST_TUNNEL  COOKIE=c   ---------->  every 5 s (keepalive), granted
 *   REPLACEMENT, reports       ---------->  multicast into the group
 *   LEAVE_TUNNEL    COOKIE=c   ---------->  stop
 *                              <----------  LEAVE_TUNNEL COOKIE=c (echo)
 *
 * A relay's REQUEST_TUNNEL whose COOKIE equals the one the client sent is a
 * grant; any other cookie is a challenge (also sent, while still serving,
 * when the client's cookie is from the previous time bucket: the client
 * then repeats its request with the new one at once). A relay's
 * LEAVE_TUNNEL naming the client's cookie ends the tunnel: the echo of the
 * client's leave, or a refusal (table full).
 *
 * A relay's reply is never longer than the request it answers: the client
 * always sends a COOKIE extension (zeros until it has a cookie), and the
 * relay answers with exactly the request's layout. A relay ignores a
 * request without COOKIE.
 *
 * How the facade drives a client (one tunnel per socket):
 *   - smart__tunnel_output() until it returns 0, after smart__tunnel_new(),
 *     after every smart__tunnel_input() that returned 1, and whenever
 *     smart__tunnel_expiry() is reached; seal each datagram (secure
 *     session) and send it to the relay;
 *   - every datagram from the relay's address: open it (secure session),
 *     then smart__tunnel_input(); 1: consumed, 0: a datagram of the group,
 *     hand it to the engine (its source is the relay: in a session without
 *     security every sender behind one relay has the relay's address);
 *   - datagrams the engine addresses to the group (requests, reports) go
 *     to the relay instead, which multicasts them into the group;
 *   - smart__tunnel_leave() on smart_leave()/smart_close(), then drain
 *     smart__tunnel_output() (LEAVE_TUNNEL) before closing the socket.
 */
#ifndef SMART_PROTO_TUNNEL_H
#define SMART_PROTO_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"
#include "smart/smart.h"

/* Extension type of the tunnel exchange (registry of smart-protocol(7)):
 * non-critical, 16 bytes. Request: the cookie (zeros: none yet); relay's
 * reply: the same cookie (granted) or a new one (challenge). */
#define SMART__EXT_COOKIE 0x0009u
#define SMART__TUN_COOKIE_LEN 16u

/* Timers, documented in smart-protocol(7). */
#define SMART__TUN_KEEPALIVE_NS UINT64_C(5000000000)  /* client keepalive */
#define SMART__TUN_RETRY_NS UINT64_C(250000000)       /* first retry of an
                                                         unanswered request */
#define SMART__TUN_DEAD_NS UINT64_C(15000000000)      /* no grant for this
                                                         long: re-establish */
#define SMART__TUN_REFUSED_NS UINT64_C(5000000000)    /* wait after a refusal */
#define SMART__TUN_LEAVE_TRIES 3u                     /* LEAVE_TUNNEL sends */
#define SMART__TUN_LEAVE_GAP_NS UINT64_C(200000000)
#define SMART__TUN_TIMEOUT_NS UINT64_C(20000000000)   /* relay: silent client
                                                         stops being served */
#define SMART__TUN_BUCKET_NS UINT64_C(30000000000)    /* relay: cookie time
                                                         bucket */

/* ---- URL ------------------------------------------------------------- */

/*
 * Parse "smart+tunnel://RELAY:PORT/GROUP:PORT" (scheme case-insensitive;
 * RELAY and GROUP numeric, "A.B.C.D" or "[V6]"; both ports required; the
 * group must be multicast; the two families may differ). Returns 0 or
 * SMART_EINVAL. Either output may be NULL.
 */
int smart__tunnel_parse(const char *url, struct smart__sockaddr *relay,
                        struct smart__sockaddr *group);

/* Is `text` a tunnel URL (starts with the scheme)? */
int smart__tunnel_is_url(const char *text);

/* ---- Messages (client and relay) ------------------------------------- */

/* A decoded REQUEST_TUNNEL or LEAVE_TUNNEL. */
struct smart__tun_msg {
  uint8_t sync;
  uint8_t cmd;      /* SMART__TUN_REQUEST or SMART__TUN_LEAVE */
  uint8_t addr6;    /* carries ADDR6 (else the IPv4 base fields) */
  uint8_t has_port; /* carries PORT */
  uint8_t has_cookie;
  uint8_t cookie[SMART__TUN_COOKIE_LEN]; /* COOKIE value */
  /* Address [1] / Port [1]: the group. Address [2] / Port [2]: the
   * client's address (client: as it knows it, any port 0 if unknown;
   * relay: as the relay sees it). len 0 when the field is all zero. */
  struct smart__sockaddr group, peer;
};

/*
 * Decode a plaintext (already opened) datagram as a tunnel message.
 * Returns 0, SMART_ENOTSUP (not TYP 3: not a tunnel message), or a codec
 * error (SMART_EFORMAT and others) for a malformed TYP 3 datagram.
 * An ADDR6 group that is a v4-mapped address is returned as IPv4.
 */
int smart__tun_decode(struct smart__tun_msg *m, const uint8_t *dg, size_t len);

/*
 * Encode: base layout, then ADDR6 (if m->addr6, or if either address is
 * IPv6), PORT (if m->has_port, or if a port is set), then COOKIE (if
 * m->has_cookie). Returns the length or SMART_ENOBUF / SMART_EINVAL.
 */
smart_ssize smart__tun_encode(uint8_t *out, size_t cap, const struct smart__tun_msg *m);

/* ---- Cookies (relay) ------------------------------------------------- */

struct smart_crypto_ops;

/*
 * cookie = first 16 bytes of hash(K || client || group), where
 * K = derive(secret, bucket, "SMARTtun") and bucket = now / BUCKET_NS;
 * client and group are encoded as 16-byte IPv6 (v4-mapped) + 2-byte port.
 * Returns 0 or an error of the provider.
 */
int smart__tun_cookie(const struct smart_crypto_ops *ops, const uint8_t secret[32],
                      uint64_t bucket, const struct smart__sockaddr *client,
                      const struct smart__sockaddr *group,
                      uint8_t out[SMART__TUN_COOKIE_LEN]);

/* 1 if `cookie` is the one of the current time bucket for (client,
 * group), 2 if it is the one of the previous bucket (still valid: reply
 * with a fresh one), else 0. Constant time in the cookie bytes. */
int smart__tun_cookie_ok(const struct smart_crypto_ops *ops, const uint8_t secret[32],
                         uint64_t now, const struct smart__sockaddr *client,
                         const struct smart__sockaddr *group,
                         const uint8_t cookie[SMART__TUN_COOKIE_LEN]);

/* ---- Client state machine -------------------------------------------- */

enum smart__tun_state {
  SMART__TUN_REQUESTING = 1,  /* no grant yet (or lost): requesting */
  SMART__TUN_ESTABLISHED = 2, /* the relay forwards; keepalives run */
  SMART__TUN_REFUSED = 3,     /* the relay said no: retrying later */
  SMART__TUN_LEAVING = 4,     /* sending LEAVE_TUNNEL */
  SMART__TUN_CLOSED = 5       /* done: nothing more to send */
};

struct smart__tunnel;

struct smart__tunnel_stats {
  uint64_t requests;   /* REQUEST_TUNNEL sent */
  uint64_t challenges; /* cookie challenges received */
  uint64_t grants;     /* grants (cookie echoes) received */
  uint64_t refusals;   /* LEAVE_TUNNEL from the relay while not leaving */
  uint64_t ignored;    /* tunnel messages that did not concern us */
  uint64_t downs;      /* established tunnels that went silent */
};

/*
 * A client for `group` through the relay `relay`. `self` is the client's
 * own address as it knows it (put in Address [2]), or NULL. The state starts
 * at SMART__TUN_REQUESTING with the first request due at `now`.
 * Returns 0, SMART_EINVAL (group not multicast), SMART_ENOMEM.
 */
int smart__tunnel_new(struct smart__tunnel **out, const struct smart__sockaddr *relay,
                      const struct smart__sockaddr *group,
                      const struct smart__sockaddr *self, uint64_t now);
void smart__tunnel_del(struct smart__tunnel *t);

/*
 * The next control datagram for the relay (plaintext; the caller seals it
 * in a secure session, so leave SMART__SEC_OVERHEAD bytes of room), or 0 when
 * none is due at `now`. Returns its length, 0, or SMART_ENOBUF.
 */
smart_ssize smart__tunnel_output(struct smart__tunnel *t, uint8_t *buf, size_t cap,
                                 uint8_t sync, uint64_t now);

/*
 * A plaintext datagram received from the relay. Returns 1 when it was a
 * tunnel message (TYP 3: consumed, valid or not; call
 * smart__tunnel_output() next, a reply may be due), 0 when it is anything
 * else: a datagram of the group for the engine. Datagrams that do not come
 * from the relay's address must not be passed here.
 */
int smart__tunnel_input(struct smart__tunnel *t, const uint8_t *dg, size_t len,
                        uint64_t now);

/* When smart__tunnel_output() next has something to send (UINT64_MAX:
 * never, when closed). */
uint64_t smart__tunnel_expiry(const struct smart__tunnel *t);

/* Start leaving: LEAVE_TUNNEL is sent (up to SMART__TUN_LEAVE_TRIES times,
 * until echoed); then CLOSED. Without a cookie there is nothing to cancel:
 * CLOSED at once. */
void smart__tunnel_leave(struct smart__tunnel *t, uint64_t now);

int smart__tunnel_state(const struct smart__tunnel *t);
const char *smart__tunnel_state_name(int state);
const struct smart__sockaddr *smart__tunnel_relay(const struct smart__tunnel *t);
const struct smart__sockaddr *smart__tunnel_group(const struct smart__tunnel *t);
/* The client's address as the relay last saw it (len 0 if not known). */
const struct smart__sockaddr *smart__tunnel_seen_as(const struct smart__tunnel *t);
void smart__tunnel_get_stats(const struct smart__tunnel *t, struct smart__tunnel_stats *st);

#endif
