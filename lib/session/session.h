/*
 * The session: the sans-IO conductor between the socket shell (lib/sock)
 * and the protocol (lib/engine, lib/proto).
 *
 * One session per joined socket. It owns the engine and every protocol
 * room (security, identity, source authentication, membership, tunnel
 * client, flow control, moves, peers) and makes every protocol decision the
 * socket used to make: it takes `(datagram, from, now)` and gives back
 * `(datagram, to)`, deliveries, events, the next deadline and *commands*
 * for the shell (open a group socket, close the previous one), the way
 * ngtcp2 hands migration's socket to the application. It never opens a
 * socket and never reads a clock: every time is `now`, passed in
 * (monotonic nanoseconds, never going backwards). So every feature runs in
 * the simulator (tests/sim.c) as it runs on sockets.
 *
 * How the shell drives it:
 *   - its receive buffer lent (smart__session_rx_lend) while datagrams read
 *     into it are handed on, and taken back (rx_unlend) before reading
 *     into it again;
 *   - every datagram read: smart__session_recv(); on the group socket also
 *     the bytes read (smart__session_rx_read) and, after a full batch when
 *     smart__session_rx_look_due(), the buffer's fill (smart__session_rx_fill);
 *     once what was waiting is read, smart__session_rx_end() (or the tick
 *     after the input does its work: manifests wait for one or the other);
 *   - smart__session_send() until it returns 0, sending each datagram to
 *     the address it names (a batch ends early when it says so), and the
 *     bytes the kernel took to smart__session_sent();
 *   - smart__session_tick() whenever smart__session_expiry() is reached
 *     (and after input); then smart__session_cmd() until it returns 0;
 *   - smart__session_poll() for the application's messages and losses.
 */
#ifndef SMART_SESSION_H
#define SMART_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "net/addr.h"
#include "smart/smart.h"

#define SMART__PINS_MAX 16u

struct smart__presign_ops;

/* Options: the value the socket's option table fills (lib/sock/opt.c) and
 * the session copies at creation. */
struct smart__opts {
  struct smart__engine_config eng; /* sync, window, grtt_us, k, gsize, ... */
  int32_t ttl, loop, rcvtimeo_ms, nonblock;
  int32_t background; /* SMART_OPT_BACKGROUND (the shell's: lib/sock/bg.c) */
  uint32_t linger_ms, drop_ppm, mtu, max_msg;
  uint64_t rate; /* SMART_OPT_RATE: an upper bound, 0 = none */
  /* security */
  const struct smart_crypto_ops *ops;
  uint8_t *keys; /* secret memory, allocated when a key is set: group key
                    [0..32), identity [32..96) */
  int have_group_key, have_identity;
  int32_t auth_only;
  uint32_t rekey_ms, grace_ms;
  uint64_t rekey_bytes;
  uint32_t sauth_every, sauth_ms, sauth_early;
  uint8_t pins[SMART__PINS_MAX][32]; /* pinned sender keys */
  uint32_t npins;
  uint8_t (*allowed)[32]; /* a sender's allow-list, until the join */
  uint32_t nallowed;
  /* membership */
  uint32_t report_ms, member_timeout_ms;
  /* security: SMART_OPT_CIPHER */
  uint32_t cipher;
  /* the provider is the built-in one, which opens in place (the shell says) */
  int ops_in_place;
  /* and signs in two steps (crypto.h): the built-in provider's, or NULL */
  const struct smart__presign_ops *presign;
};

/* Addresses the shell resolved at the join. */
struct smart__session_addrs {
  struct smart__sockaddr group; /* the group joined */
  struct smart__sockaddr self;  /* our send socket's address */
  const struct smart__sockaddr *relay; /* joined through this relay, or NULL */
};

/* Commands for the shell. */
enum {
  SMART__CMD_NONE = 0,
  SMART__CMD_OPEN_GROUP,  /* open and join a group socket for `group`;
                             answer with smart__session_group_ready() */
  SMART__CMD_CLOSE_OLD,   /* close the previous group socket */
};
struct smart__cmd {
  int kind;
  struct smart__sockaddr group;
};

/* What smart__session_poll() hands the application. */
enum { SMART__DLV_MESSAGE = 1, SMART__DLV_LOSS = 2 };
struct smart__delivery {
  int kind;
  uint32_t sender_id;
  const char *sender; /* address as text, NUL-padded to the size of
                         smart_msginfo.sender; valid until the next call */
  uint64_t seq;
  uint32_t count; /* loss: messages lost */
  const uint8_t *data; /* message: valid until the next poll */
  size_t len;
};

struct smart__session;

void smart__opts_init(struct smart__opts *o);
/* Free what the options value allocated (keys, allow-list). */
void smart__opts_free(struct smart__opts *o);

int smart__session_new(struct smart__session **out, const struct smart__opts *o,
                       const struct smart__session_addrs *a, uint64_t now);
void smart__session_del(struct smart__session *ss);

/* Input. */
void smart__session_recv(struct smart__session *ss, const uint8_t *dg, size_t len,
                         const struct smart__sockaddr *from, uint64_t now);
/* The same, and the session may overwrite dg[0..len) (a secure session
 * opens it in place: with the buffer lent, no copy at all). */
void smart__session_recv_writable(struct smart__session *ss, uint8_t *dg, size_t len,
                                  const struct smart__sockaddr *from, uint64_t now);
/* The shell's receive buffer: datagrams given to recv() from inside it stay
 * unchanged (but for what recv_writable() opens in place) until
 * rx_unlend(), so their in-order messages are handed to poll() from it
 * without a copy (smart__engine_lend). Call rx_unlend() before the buffer
 * is read into again: the messages not yet polled are copied then. */
void smart__session_rx_lend(struct smart__session *ss, const uint8_t *buf, size_t len);
void smart__session_rx_unlend(struct smart__session *ss);
/* Before smart__session_recv: when that datagram reached the socket (the
 * kernel's stamp, on `now`'s clock; 0 or `now` when not known). Round
 * trips are measured from it, so that time spent queued behind the
 * reader's backlog does not count as path. `drops`: how many entries
 * the host dropped at that socket, its buffer full, just before this one
 * (smart__engine_local_drops). Applies to the next smart__session_recv or
 * smart__session_recv_writable only. */
void smart__session_arrival(struct smart__session *ss, uint64_t at, uint32_t drops);
void smart__session_rx_read(struct smart__session *ss, uint64_t bytes, uint64_t now);
/* The end of a run of input: the source-authentication manifests it
 * brought are verified now, the newest covering ones only (sauth.h). */
void smart__session_rx_end(struct smart__session *ss, uint64_t now);
int smart__session_rx_look_due(const struct smart__session *ss, uint64_t now);
void smart__session_rx_fill(struct smart__session *ss, uint32_t used, uint32_t size, uint64_t now);

/* Output: the next datagram into buf[0..cap) (cap >= 65536 recommended),
 * its destination in `*to`; `*end_batch` set when the batch should go to
 * the kernel now (a manifest is due before more data). Returns its length,
 * 0 when nothing is due, or an error. */
smart_ssize smart__session_send(struct smart__session *ss, uint8_t *buf, size_t cap,
                                struct smart__sockaddr *to, int *end_batch, uint64_t now);
/* The same, but a plain session's new data datagram may come by reference:
 * *data is then the datagram (the sender's window copy, unchanged while
 * fewer than SMART__SESSION_REF_SPAN more datagrams are asked for and the
 * session lives) and buf is untouched; else *data is buf. */
#define SMART__SESSION_REF_SPAN 64u
smart_ssize smart__session_send_ref(struct smart__session *ss, uint8_t *buf, size_t cap,
                                    struct smart__sockaddr *to, int *end_batch, uint64_t now,
                                    uint8_t **data);
/* The kernel took `bytes` (flow control measures the send rate), at `now`
 * (after the system call: from then on the sender may be idle). */
void smart__session_sent(struct smart__session *ss, uint64_t bytes, uint64_t now);
/* Source authentication's sender: one signature over a dummy buffer, for
 * the shell to time (0, or SMART_ESTATE when the session does not sign),
 * and the cost it measured (early manifests budget by it). */
int smart__session_sign_probe(struct smart__session *ss);
void smart__session_sign_cost(struct smart__session *ss, uint64_t ns);

/* Timers: handle what is due; the next deadline (UINT64_MAX: none). */
int smart__session_tick(struct smart__session *ss, uint64_t now);
uint64_t smart__session_expiry(const struct smart__session *ss);
/* The next command, 1, or 0 when none. */
int smart__session_cmd(struct smart__session *ss, struct smart__cmd *c);
/* The shell opened (ok = 1) or failed to open the socket of `g`. */
int smart__session_group_ready(struct smart__session *ss, const struct smart__sockaddr *g, int ok,
                               uint64_t now);

/* The application's side. */
int smart__session_submit(struct smart__session *ss, const void *buf, size_t len, uint64_t now);
/* The next message or loss, 1, or 0. A loss is reported to the group
 * (ERROR_REPORT) dated by the last input or tick. */
int smart__session_poll(struct smart__session *ss, struct smart__delivery *d);
/* The largest datagram the engine produces (the MTU less the envelope). */
uint32_t smart__session_max_dgram(const struct smart__session *ss);
/* Data queued or sent but not yet quiet (linger and flush). */
int smart__session_tx_busy(const struct smart__session *ss);
/* Messages the local sender has queued and not yet put in a datagram. */
uint32_t smart__session_tx_queued(const struct smart__session *ss);
/* Flush: the repair interval max(4 x (K + 2) x GRTT, 1 s) of silence after
 * the last data, request, confirmation or repair, once nothing is queued. */
void smart__session_flush_start(struct smart__session *ss, uint64_t now);
/* 1 when flushed; else `*until` is when to look again. */
int smart__session_flushed(struct smart__session *ss, uint64_t now, uint64_t *until);
/* Closing or leaving: a receiver's USAGE_REPORT_LEAVE goes out (send next);
 * through a tunnel, LEAVE_TUNNEL until echoed. */
void smart__session_leave(struct smart__session *ss, uint64_t now);
/* 1 while a tunnel leave awaits its echo. */
int smart__session_leaving_tunnel(const struct smart__session *ss);
uint64_t smart__session_leave_wait_ns(void);

/* Control. */
/* SMART_OPT_DROP_PPM may change at any time. */
void smart__session_set_drop(struct smart__session *ss, uint32_t ppm);
int smart__session_move(struct smart__session *ss, const struct smart__sockaddr *g, uint64_t now);
int smart__session_rekey(struct smart__session *ss, uint64_t now);
int smart__session_allow(struct smart__session *ss, const uint8_t pk[32]);
int smart__session_revoke(struct smart__session *ss, const uint8_t pk[32], uint64_t now);
int smart__session_event(struct smart__session *ss, struct smart_event *ev);
/* The receivers that report their position (smart_receivers). */
smart_ssize smart__session_receivers(struct smart__session *ss, struct smart_receiver *out,
                                     size_t max, size_t stride, uint64_t now);
/* A flush is over (done or timed out). */
void smart__session_flush_end(struct smart__session *ss);
size_t smart__session_members(struct smart__session *ss, struct smart_member *out, size_t max,
                              size_t stride, uint64_t now);
/* Fill what the session counts into `v` (the shell adds its own). */
void smart__session_stats(const struct smart__session *ss, struct smart_stats *v);
const struct smart__sockaddr *smart__session_group(const struct smart__session *ss);
/* Where "the group" is for what we send: the relay when tunnelled. */
const struct smart__sockaddr *smart__session_dest(const struct smart__session *ss);
int smart__session_tunnelled(const struct smart__session *ss);

#endif
