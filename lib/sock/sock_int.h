/*
 * The public socket: a thin shell over the session (lib/session) and the
 * UDP layer (lib/net/udp). It owns descriptors, batches, blocking, the
 * clock and linger, and makes no protocol decision: what it reads goes to
 * the session, what the session produces goes to the kernel, and the
 * session's commands (open a group socket, close the previous one) are
 * obeyed here.
 *
 * Each joined socket owns two UDP sockets and an epoll descriptor:
 *   - the group socket, bound to the group's port and joined to the group:
 *     it hears data, heartbeats, confirmations and every receiver's requests;
 *   - the send socket, bound to the interface with an ephemeral port: every
 *     datagram leaves from it, so each sender has a distinct source address
 *     and port even when many share one host, and receivers tell senders
 *     apart by it. Datagrams on the group socket from our own send socket
 *     are our multicast loopback echo and are not fed to the session;
 *   - the epoll descriptor watches both and is what smart_fd() returns.
 * Batches leave with UDP segmentation offload where the kernel has it, and
 * the sockets take coalesced datagrams in (UDP_GRO): see lib/net/udp.h.
 *
 * Files: sock.c (open, close, join, leave, fd, timeout, process), io.c
 * (the pump: batches in and out, waiting, commands), msg.c (send with
 * autocork, recv, flush), opt.c (the option table), control.c (stats,
 * events, members, move, rekey, allow, revoke).
 */
#ifndef SMART_SOCK_INT_H
#define SMART_SOCK_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "net/udp.h"
#include "session/session.h"
#include "smart/smart.h"

#define SMART__BATCH 32
#define SMART__RECV_BUF 65536u
#define SMART__SLOT 65536u /* one output datagram's room */

struct smart_sock {
  uint32_t open_flags;
  int joined;
  int gfd, sfd, epfd, old_gfd;
  int tfd;        /* timerfd of the blocking waits (smart__io_wait), opened on first use */
  uint64_t tfd_at; /* the expiry it is armed at (monotonic ns), SMART__NEVER if none */
  struct smart__sockaddr source, self;
  int have_source;
  struct smart__iface ifc;
  struct smart__opts o;
  struct smart__session *ss;
  int32_t last_os_error;

  /* output: datagrams produced but not yet accepted by the kernel
   * (SMART_EAGAIN), sent first next time */
  uint8_t *obuf;
  struct smart__dgram out[SMART__BATCH];
  unsigned nout, out_head;

  /* input batch */
  uint8_t *ibuf;
  struct smart__dgram in[SMART__BATCH];

  /* autocork (msg.c) */
  uint64_t tx_cost, corked_since;
  uint64_t last_ret; /* when the last smart_send() returned */
  size_t corked_bytes;
  size_t cork_fill;     /* bytes in the corked datagram being filled */
  unsigned cork_dgrams; /* corked datagrams already full */
  unsigned busy_calls;  /* smart_send() calls in a row that found the send path busy */
  unsigned clock_skips; /* corked calls since the last clock read (CLOCK_EVERY, msg.c) */
  uint32_t backlog;     /* messages still queued after the last transmit (the rate or
                           the window held them) */

  uint64_t dgrams_sent, drops_other, tx_refused;
  uint64_t drops_socket; /* the kernel's, at our receive buffers (SO_RXQ_OVFL) */
  uint32_t ovfl_g, ovfl_s, ovfl_old; /* the drop counter last seen on gfd, sfd, old_gfd */
  uint64_t own_echo; /* our multicast datagrams that the group socket's filter may
                        yet count as drops (its echo, smart__udp_ignore_source) */
  int tx_error; /* from transmitting what smart_send() had queued: the next call's */
  int out_deferred; /* smart_recv() delivered before the second half of its pump */

  /* the background thread of a blocking sender (bg.c) */
  _Atomic uint32_t app_in;   /* the application is inside a call */
  _Atomic uint32_t calls;    /* the application's calls, counted */
  _Atomic uint32_t app_wait; /* the application waits for the thread to leave */
  _Atomic uint32_t bg_in;    /* the thread is inside (or about to be) */
  _Atomic uint32_t bg_long;  /* the thread sleeps until a far deadline: wake it */
  _Atomic uint32_t pending;  /* smart_send left messages queued (corked, or held) */
  _Atomic uint32_t bg_nap;   /* the thread looks less often: wake it if pending */
  _Atomic int bg_stop;
  int bg_on; /* the thread runs; only the application's calls change this */
  int bg_fd; /* the eventfd that wakes it */
  pthread_t bg_tid;
  pid_t bg_pid; /* the process it runs in: a child after fork(2) has no copy of it */
};

/* bg.c */
void smart__bg_enter_slow(smart_sock *s);
void smart__bg_kick(smart_sock *s);
/* Whether the socket wants the thread: blocking, joined, the option on. */
static inline int smart__bg_wanted(const smart_sock *s) {
  return s->o.background && !s->o.nonblock && s->joined;
}
/* Start the thread (called inside a call, when wanted and not running). */
void smart__bg_start(smart_sock *s);
/* Start it if the socket wants one; the test inline, so that a
 * non-blocking sender's sends pay no call for it. */
static inline void smart__bg_maybe_start(smart_sock *s) {
  if (!s->bg_on && smart__bg_wanted(s))
    smart__bg_start(s);
}
/* Stop and join it (called inside a call, or with no thread). */
void smart__bg_stop(smart_sock *s);
/* Stop it if an option or a leave means the socket no longer wants it. */
void smart__bg_update(smart_sock *s);

/* A public call on a socket with a background thread takes its turn
 * without a locked instruction: it says it is inside and looks whether
 * the thread is; the thread, the side that yields, pairs its own flag with
 * a process-wide memory barrier (bg.c). Without the thread, no cost but a
 * test. SMART__HOLD(s) enters, and leaves on every return. */
static inline void smart__enter(smart_sock *s) {
  if (!s->bg_on)
    return;
  atomic_store_explicit(&s->app_in, 1, memory_order_relaxed);
  atomic_store_explicit(&s->calls, atomic_load_explicit(&s->calls, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  atomic_signal_fence(memory_order_seq_cst); /* the stores before the load; see bg.c */
  if (atomic_load_explicit(&s->bg_in, memory_order_acquire))
    smart__bg_enter_slow(s);
}

static inline void smart__leave(smart_sock *s) {
  if (!s->bg_on)
    return;
  atomic_store_explicit(&s->app_in, 0, memory_order_release);
  if (atomic_load_explicit(&s->bg_long, memory_order_relaxed) &&
      atomic_exchange_explicit(&s->bg_long, 0, memory_order_relaxed))
    smart__bg_kick(s);
}

/* smart_send says whether it left messages queued: while it does, the
 * thread looks every millisecond (it sends them soon after the last
 * call); while it does not, less often (bg.c). */
static inline void smart__bg_pending(smart_sock *s, uint32_t pending) {
  if (!s->bg_on || atomic_load_explicit(&s->pending, memory_order_relaxed) == pending)
    return;
  atomic_store_explicit(&s->pending, pending, memory_order_relaxed);
  atomic_signal_fence(memory_order_seq_cst); /* the store before the load; see bg.c */
  if (pending && atomic_load_explicit(&s->bg_nap, memory_order_relaxed) &&
      atomic_exchange_explicit(&s->bg_nap, 0, memory_order_relaxed))
    smart__bg_kick(s);
}

static inline void smart__leave_at(smart_sock **s) { smart__leave(*s); }
#define SMART__HOLD(s)                                                                            \
  smart_sock *smart__held __attribute__((cleanup(smart__leave_at), unused)) = (s);              \
  smart__enter(smart__held)

/* Which sockets have input: READY_GROUP | READY_SEND | READY_OLD, as
 * smart__io_wait() found them, or READY_UNKNOWN. */
#define SMART__READY_GROUP 1
#define SMART__READY_SEND 2
#define SMART__READY_OLD 4
#define SMART__READY_UNKNOWN (-1)

/* clock_skips after a pump: the next smart_send reads the clock (the
 * session must never be given a time older than one it has seen). */
#define SMART__CLOCK_READ 0x40000000u

/* A corked datagram waits at most this long. */
#define SMART__CORK_MAX_NS 1000000u

/* io.c */
int smart__io_err(smart_sock *s, int code);
/* The transmit error an earlier smart_send() left, once (0: none). */
int smart__io_take_error(smart_sock *s);
int smart__io_tx(smart_sock *s, uint64_t now);
int smart__io_tx_lone(smart_sock *s, uint64_t now);
/* A pump in two halves: input (READY_ bits, or READY_UNKNOWN to look),
 * then timers, commands and output. smart_recv() hands a message over
 * between the two and leaves the second for its next call (out_deferred). */
int smart__io_pump_in(smart_sock *s, int ready, uint64_t now);
int smart__io_pump_out(smart_sock *s, uint64_t now);
int smart__io_rx(smart_sock *s, int fd, int is_group, uint64_t now);
int smart__io_pump_ready(smart_sock *s, int ready);
int smart__io_pump(smart_sock *s);
int smart__io_wait(smart_sock *s, uint64_t deadline);
uint64_t smart__io_deadline(smart_sock *s);
int smart__io_commands(smart_sock *s, uint64_t now);
int smart__io_flush_until(smart_sock *s, uint64_t deadline);
void smart__io_close_fds(smart_sock *s);

#endif
