/*
 * The pump: batches in (to the session), batches out (from the session),
 * waiting on the sockets, the session's commands. No protocol decision is
 * made here. See sock_int.h.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "sock/sock_int.h"
#include "util/time.h"

int smart__io_err(smart_sock *s, int code) {
  if (code == SMART_ESYS)
    s->last_os_error = errno;
  return code;
}

int smart__io_take_error(smart_sock *s) {
  int rc = s->tx_error;
  s->tx_error = 0;
  return rc;
}

/* ---- output -------------------------------------------------------------- */

/* Send errors that say "not now" rather than "never": smart_fd(3). */
static int transient(int err) {
  return err == EPERM || err == EACCES || err == ECONNREFUSED || err == EHOSTUNREACH ||
         err == ENETUNREACH || err == ENETDOWN;
}

/* Hand pending datagrams to the kernel. Returns 0, SMART_EAGAIN when the
 * socket is full (some stay pending), or an error. */
static int tx_pending(smart_sock *s) {
  while (s->out_head < s->nout) {
    uint64_t t0 = smart__now();
    int n = smart__udp_send_batch(s->sfd, s->out + s->out_head, s->nout - s->out_head);
    uint64_t t1 = smart__now();
    if (n < 0) {
      if (n == SMART_EAGAIN)
        return SMART_EAGAIN;
      if (n == SMART_EINVAL || n == SMART_EMSGSIZE) { /* drop the culprit */
        s->out_head++;
        s->drops_other++;
        continue;
      }
      if (n == SMART_ESYS && transient(errno)) {
        /* Refused for now (a firewall rule, a route that is down): the
         * datagram is skipped, as if lost on the way, and the protocol
         * repairs it; the error is kept for SMART_OPT_LAST_OS_ERROR. */
        s->last_os_error = errno;
        s->out_head++;
        s->tx_refused++;
        continue;
      }
      return smart__io_err(s, n);
    }
    s->dgrams_sent += (uint64_t)n;
    uint64_t bytes = 0;
    for (int i = 0; i < n; i++) {
      const struct smart__dgram *d = &s->out[s->out_head + (unsigned)i];
      bytes += d->len;
      if (s->o.loop && smart__addr_is_multicast(&d->peer))
        s->own_echo++; /* looped back, the group socket's filter drops it */
    }
    smart__session_sent(s->ss, bytes, t1);
    s->out_head += (unsigned)n;
    /* The send-path time, for autocork: what a system call for one
     * datagram takes when nothing else gets in its way (a message sent
     * alone costs that; corked ones share a call). Measured on calls of
     * one datagram only. A sample is wall time and includes any
     * preemption during the call (on one host, often by the receiver the
     * datagram just woke), so the estimate follows the fast samples (a
     * quarter of the way down) and rises only slowly (by a thirty-second
     * at most per call): slow calls, however many, do not make a sender
     * at a moderate rate look backlogged. */
    if (n == 1) {
      uint64_t per = t1 - t0;
      if (!s->tx_cost) {
        s->tx_cost = per ? per : 1;
      } else if (per < s->tx_cost) {
        s->tx_cost -= (s->tx_cost - per) / 4;
      } else {
        uint64_t up = per - s->tx_cost, most = s->tx_cost / 32 + 1;
        s->tx_cost += up < most ? up : most;
      }
    }
  }
  s->nout = s->out_head = 0;
  return 0;
}

/* Fill the batch (up to `max` datagrams) from the session; *end 1 when it
 * should go now, though not full. */
static smart_ssize fill_batch(smart_sock *s, uint64_t now, unsigned max, int *end) {
  *end = 0;
  while (s->nout < max && !*end) {
    struct smart__dgram *d = &s->out[s->nout];
    /* A plain session's data may come by reference to the sender's
     * window (no copy); it stays as it is while fewer than
     * SMART__SESSION_REF_SPAN more datagrams are produced, and none are
     * while these wait for the kernel (tx_pending first). */
    uint8_t *data;
    smart_ssize n = smart__session_send_ref(s->ss, s->obuf + (size_t)s->nout * SMART__SLOT,
                                            SMART__SLOT, &d->peer, end, now, &data);
    if (n < 0)
      return n;
    if (n == 0)
      break;
    d->buf = data;
    d->len = (size_t)n;
    s->nout++;
  }
  return 0;
}

/* Pull everything due from the session and transmit it in batches; the
 * first batch of at most `first` datagrams. */
static int tx_all(smart_sock *s, uint64_t now, unsigned first) {
  int rc = tx_pending(s);
  if (rc)
    return rc;
  for (unsigned max = first;; max = SMART__BATCH) {
    int end;
    smart_ssize n = fill_batch(s, now, max, &end);
    if (n < 0)
      return (int)n;
    if (s->nout == 0)
      break;
    int again = s->nout == max || end;
    rc = tx_pending(s);
    if (rc)
      return rc;
    if (!again)
      break;
  }
  s->corked_bytes = 0;
  s->corked_since = 0;
  s->cork_fill = 0;
  s->cork_dgrams = 0;
  return 0;
}

static int io_tx(smart_sock *s, uint64_t now, unsigned first) {
  int rc = tx_all(s, now, first);
  /* What still waits (for the rate, the window or room in the kernel):
   * autocork's backlog. */
  s->backlog = smart__session_tx_queued(s->ss) + (s->nout - s->out_head);
  return rc == SMART_EAGAIN ? 0 : rc;
}

int smart__io_tx(smart_sock *s, uint64_t now) { return io_tx(s, now, SMART__BATCH); }

/* A message that goes alone: its datagram to the kernel first, before the
 * session is asked for anything else (that second look costs time the
 * message would wait). */
int smart__io_tx_lone(smart_sock *s, uint64_t now) { return io_tx(s, now, 1); }

/* ---- input --------------------------------------------------------------- */

/* When the datagram reached the socket, on the monotonic clock: `now`
 * less the time it waited there (its kernel stamp against `rt`, the
 * real-time clock read after the batch); the engine ignores an arrival
 * more than 1 s old (smart__rx_time). */
static uint64_t arrived(const struct smart__dgram *d, uint64_t now, uint64_t rt) {
  if (!d->stamp || d->stamp >= rt || rt - d->stamp >= now)
    return now;
  return now - (rt - d->stamp);
}

static void rx_one(smart_sock *s, const struct smart__dgram *d, uint32_t drops, uint64_t now,
                   uint64_t rt) {
  uint64_t at = arrived(d, now, rt);
  if (!d->seg) {
    smart__session_arrival(s->ss, at, drops);
    smart__session_recv_writable(s->ss, d->buf, d->len, &d->peer, now);
    return;
  }
  /* Datagrams of one segmentation-offload send, delivered together: each
   * is a datagram of its own, a slice of the entry (not copied), all of
   * one arrival. */
  for (size_t off = 0; off < d->len; off += d->seg) {
    smart__session_arrival(s->ss, at, off ? 0 : drops);
    smart__session_recv_writable(s->ss, d->buf + off,
                                 d->len - off < d->seg ? d->len - off : d->seg, &d->peer, now);
  }
}

/* What the group socket told flow control: bytes read and, after a full
 * batch (a backlog), how full its buffer is. */
static void rx_gauge(smart_sock *s, int fd, int n, uint64_t now) {
  uint64_t bytes = 0;
  for (int i = 0; i < n; i++)
    bytes += s->in[i].len != (size_t)-1 ? s->in[i].len : 0;
  smart__session_rx_read(s->ss, bytes, now);
  uint32_t used, size;
  if (n == SMART__BATCH && smart__session_rx_look_due(s->ss, now) &&
      smart__udp_rx_fill(fd, &used, &size) == 0)
    smart__session_rx_fill(s->ss, used, size, now);
}

/* Read what is waiting on `fd` and hand it on: a few batches, about
 * RX_DRAIN_MAX datagrams at most, so that the application gets them soon
 * (one entry may hold many datagrams of a segmentation-offload send).
 * The buffer is lent to the session while what was read into it is
 * handed on: in-order messages are delivered from it, without a copy (a
 * GRO train's datagrams are slices of one entry, and a secure session
 * opens them in place), until it is taken back before the next read: what
 * the application has not taken by then is copied. One batch of GRO
 * trains usually reaches RX_DRAIN_MAX; single datagrams take more rounds,
 * and the messages of all but the last are copied, as they always were. */
#define RX_DRAIN_MAX 256u

/* What the kernel dropped at `fd` just before a datagram that found its
 * drop counter at `counter` (`*ovfl`: the value last seen; the counter
 * wraps, and 0 is "not told"): counted, and told to the session. On the
 * group socket the counter also counts what the filter dropped: our own
 * multicast, looped back. What our sends can explain is theirs; a datagram
 * sent after this one was queued is taken off too early, so real drops
 * may go uncounted, never the other way round. (A GRO socket counts a
 * segmentation-offload train once: a sender's group socket then seldom
 * tells anything, as if not told at all.) The previous group's socket
 * tells nothing: our echo is not counted there. */
static uint32_t socket_drops(smart_sock *s, int fd, uint32_t *ovfl, uint32_t counter) {
  uint32_t drops = counter - *ovfl;
  if (!counter || drops >= 0x80000000u)
    return 0; /* none since the last (or not told) */
  *ovfl = counter;
  if (fd == s->old_gfd)
    return 0;
  if (fd == s->gfd) {
    uint32_t own = s->own_echo < drops ? (uint32_t)s->own_echo : drops;
    s->own_echo -= own;
    drops -= own;
  }
  s->drops_socket += drops;
  return drops;
}

int smart__io_rx(smart_sock *s, int fd, int is_group, uint64_t now) {
  unsigned got = 0;
  /* The socket's drop counter, as each datagram found it when queued: a
   * rise is what the kernel dropped just before that one. */
  uint32_t *ovfl = fd == s->sfd ? &s->ovfl_s : fd == s->gfd ? &s->ovfl_g : &s->ovfl_old;
  for (int rounds = 0; rounds < 8 && got < RX_DRAIN_MAX; rounds++) {
    smart__session_rx_unlend(s->ss); /* what was not taken is copied now */
    for (unsigned i = 0; i < SMART__BATCH; i++) {
      s->in[i].buf = s->ibuf + (size_t)i * SMART__RECV_BUF;
      s->in[i].len = SMART__RECV_BUF;
    }
    int n = smart__udp_recv_batch(fd, s->in, SMART__BATCH);
    if (n < 0)
      return smart__io_err(s, n);
    smart__session_rx_lend(s->ss, s->ibuf, (size_t)SMART__BATCH * SMART__RECV_BUF);
    if (is_group)
      rx_gauge(s, fd, n, now);
    uint64_t rt = n ? smart__realtime() : 0;
    for (int i = 0; i < n; i++) {
      struct smart__dgram *d = &s->in[i];
      uint32_t drops = socket_drops(s, fd, ovfl, d->drops);
      if (is_group && smart__addr_equal(&d->peer, &s->self))
        continue; /* our own multicast, looped back */
      got += d->seg && d->len != (size_t)-1 ? (unsigned)((d->len + d->seg - 1) / d->seg) : 1;
      rx_one(s, d, drops, now, rt);
    }
    if (n < SMART__BATCH)
      break;
  }
  return 0;
}

/* ---- commands ------------------------------------------------------------ */

/* A new group socket for `g`, joined and watched; -1 or an fd. */
static int open_group_fd(smart_sock *s, const struct smart__sockaddr *g) {
  int fd = smart__udp_socket(g->u.sa.sa_family);
  if (fd < 0)
    return -1;
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.fd = fd;
  if (smart__udp_bind_group(fd, g) != 0 ||
      smart__mcast_membership(fd, g, &s->ifc, s->have_source ? &s->source : NULL, 1) != 0 ||
      epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    close(fd);
    return -1;
  }
  (void)smart__udp_ignore_source(fd, &s->self);
  smart__udp_rx_options(fd);
  return fd;
}

/* Obey the session: the new group socket becomes the group socket, the
 * current one keeps listening until the session closes it. Returns
 * SMART_ESYS when a group socket could not be opened. */
int smart__io_commands(smart_sock *s, uint64_t now) {
  struct smart__cmd c;
  int rc = 0;
  while (smart__session_cmd(s->ss, &c)) {
    if (c.kind == SMART__CMD_CLOSE_OLD && s->old_gfd >= 0) {
      close(s->old_gfd);
      s->old_gfd = -1;
    } else if (c.kind == SMART__CMD_OPEN_GROUP) {
      int fd = open_group_fd(s, &c.group);
      if (fd >= 0) {
        if (s->old_gfd >= 0)
          close(s->old_gfd);
        s->old_gfd = s->gfd;
        s->ovfl_old = s->ovfl_g;
        s->ovfl_g = 0;
        s->own_echo = 0;
        s->gfd = fd;
      } else {
        rc = SMART_ESYS;
      }
      smart__session_group_ready(s->ss, &c.group, fd >= 0, now);
    }
  }
  return rc;
}

/* ---- the pump ------------------------------------------------------------ */

static int ready_now(smart_sock *s) {
  /* One non-blocking look at every socket (the epoll set is level
   * triggered) costs less than a recvmmsg on each that finds nothing, the
   * common case for a sender. */
  struct epoll_event ev[3];
  int nev = epoll_wait(s->epfd, ev, 3, 0);
  if (nev < 0 && errno != EINTR)
    return smart__io_err(s, SMART_ESYS);
  int ready = 0;
  for (int i = 0; i < nev; i++)
    ready |= ev[i].data.fd == s->gfd                          ? SMART__READY_GROUP
             : ev[i].data.fd == s->sfd                        ? SMART__READY_SEND
             : s->old_gfd >= 0 && ev[i].data.fd == s->old_gfd ? SMART__READY_OLD
                                                                : 0;
  return ready;
}

int smart__io_pump_in(smart_sock *s, int ready, uint64_t now) {
  int rc = 0;
  s->clock_skips = SMART__CLOCK_READ; /* the session has a later time than smart_send's last */
  if (ready == SMART__READY_UNKNOWN && (ready = ready_now(s)) < 0)
    return ready;
  if (((ready & SMART__READY_GROUP) && (rc = smart__io_rx(s, s->gfd, 1, now)) != 0) ||
      ((ready & SMART__READY_SEND) && (rc = smart__io_rx(s, s->sfd, 0, now)) != 0) ||
      ((ready & SMART__READY_OLD) && (rc = smart__io_rx(s, s->old_gfd, 1, now)) != 0))
    return rc;
  if (ready)
    smart__session_rx_end(s->ss, now);
  return 0;
}

int smart__io_pump_out(smart_sock *s, uint64_t now) {
  int rc;
  s->clock_skips = SMART__CLOCK_READ;
  s->out_deferred = 0;
  if ((rc = smart__session_tick(s->ss, now)) != 0)
    return rc;
  (void)smart__io_commands(s, now); /* a receiver that cannot follow stays */
  return smart__io_tx(s, now);
}

int smart__io_pump_ready(smart_sock *s, int ready) {
  int rc = smart__io_pump_in(s, ready, smart__now());
  /* The clock again: reading a batch can take long (a preempted thread,
   * hundreds of datagrams), and a report sent now says how long it held
   * the heartbeat it echoes (its round trip must not count our delay). */
  return rc ? rc : smart__io_pump_out(s, smart__now());
}

int smart__io_pump(smart_sock *s) { return smart__io_pump_ready(s, SMART__READY_UNKNOWN); }

uint64_t smart__io_deadline(smart_sock *s) {
  if (s->out_deferred)
    return 0; /* a delivery went first: the rest of its pump is due now */
  uint64_t t = smart__session_expiry(s->ss);
  if (s->corked_bytes)
    t = smart__min_deadline(t, s->corked_since + SMART__CORK_MAX_NS);
  if (s->nout > s->out_head) /* the kernel refused some: retry soon */
    t = smart__min_deadline(t, smart__now() + SMART__US(200));
  return t;
}

/* A wait of at least this long keeps its timer in the timerfd. */
#define SMART__TFD_MIN SMART__US(100)

/* Arm the timerfd for `t` unless it is armed for `t` or earlier already
 * (it then wakes the wait early, once, which costs less than arming and
 * cancelling a timer on every wait). Returns 1 when the wait may rely on
 * it, 0 when it cannot be had (the wait then keeps its own timeout). */
static int tfd_arm(smart_sock *s, uint64_t t) {
  if (s->tfd < 0) {
    s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (s->tfd < 0)
      return 0;
    s->tfd_at = SMART__NEVER;
  }
  if (s->tfd_at <= t)
    return 1;
  struct itimerspec its = {{0, 0}, {(time_t)(t / SMART__NS_PER_S), (long)(t % SMART__NS_PER_S)}};
  if (timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
    return 0;
  s->tfd_at = t;
  return 1;
}

/* Wait for input or the next timer, at most until `deadline` (UINT64_MAX:
 * no limit). Returns the READY_ bits of the sockets with input (0 when the
 * time came first, or a timer armed for an earlier deadline), for
 * smart__io_pump_ready(), or an error.
 * A wait's own timeout is a timer armed when the thread sleeps and
 * cancelled when input wakes it; on a virtual machine each costs a trap
 * to the hypervisor when it is the processor's next timer, several µs a
 * message for a receiver whose next timer is a millisecond away (measured:
 * p50 one-way 17.6 µs with a 50 ms timeout, 22.8 with 1 ms, 25.8 with
 * 300 µs, on loopback). A wait of SMART__TFD_MIN or more leaves its timer
 * in a timerfd, which stays armed from one wait to the next while the
 * expiry does not come earlier. A shorter one (a sender waiting for
 * tokens) keeps its own timeout, to the nanosecond. */
int smart__io_wait(smart_sock *s, uint64_t deadline) {
  uint64_t now = smart__now();
  uint64_t t = smart__min_deadline(smart__io_deadline(s), deadline);
  struct timespec ts, *tp = NULL;
  if (t != SMART__NEVER) {
    uint64_t d = t > now ? t - now : 0;
    if (d > SMART__SEC(60))
      d = SMART__SEC(60);
    if (d < SMART__TFD_MIN || !tfd_arm(s, now + d)) {
      ts.tv_sec = (time_t)(d / SMART__NS_PER_S);
      ts.tv_nsec = (long)(d % SMART__NS_PER_S);
      tp = &ts;
    }
  }
  /* The sockets themselves rather than the epoll descriptor: one wake-up
   * instead of two, and it says which socket has input. */
  struct pollfd p[4];
  int bit[4], np = 0;
  if (s->gfd >= 0) {
    p[np] = (struct pollfd){.fd = s->gfd, .events = POLLIN};
    bit[np++] = SMART__READY_GROUP;
  }
  p[np] = (struct pollfd){.fd = s->sfd, .events = POLLIN};
  if (s->nout > s->out_head)
    p[np].events |= POLLOUT;
  bit[np++] = SMART__READY_SEND;
  if (s->old_gfd >= 0) {
    p[np] = (struct pollfd){.fd = s->old_gfd, .events = POLLIN};
    bit[np++] = SMART__READY_OLD;
  }
  /* An armed timerfd is watched on every wait (a short wait too): one
   * left armed early must be read when it fires, or every wait after it
   * would return at once. */
  if (s->tfd >= 0 && s->tfd_at != SMART__NEVER) {
    p[np] = (struct pollfd){.fd = s->tfd, .events = POLLIN};
    bit[np++] = 0;
  }
  int r = ppoll(p, (nfds_t)np, tp, NULL);
  if (r < 0)
    return errno == EINTR ? 0 : smart__io_err(s, SMART_ESYS);
  int ready = 0;
  for (int i = 0; r > 0 && i < np; i++) {
    if (!(p[i].revents & (POLLIN | POLLERR | POLLHUP)))
      continue;
    if (p[i].fd == s->tfd) {
      uint64_t n; /* fired: read, and armed again by the next wait that needs it */
      ssize_t k = read(s->tfd, &n, sizeof(n));
      (void)k;
      s->tfd_at = SMART__NEVER;
    } else {
      ready |= bit[i];
    }
  }
  return ready;
}

/* Process until the sender has queued nothing and the session calls the
 * group quiet (smart__session_flushed), or until the deadline. */
int smart__io_flush_until(smart_sock *s, uint64_t deadline) {
  smart__session_flush_start(s->ss, smart__now());
  for (;;) {
    int rc = smart__io_pump(s);
    if (rc) {
      smart__session_flush_end(s->ss);
      return rc;
    }
    uint64_t now = smart__now(), until;
    int quiet = smart__session_flushed(s->ss, now, &until);
    if (quiet && s->nout == s->out_head && s->corked_bytes == 0) {
      smart__session_flush_end(s->ss);
      return 0;
    }
    if (now >= deadline) {
      smart__session_flush_end(s->ss);
      return SMART_ETIMEDOUT;
    }
    if ((rc = smart__io_wait(s, smart__min_deadline(deadline, until))) < 0) {
      smart__session_flush_end(s->ss);
      return rc;
    }
  }
}

void smart__io_close_fds(smart_sock *s) {
  if (s->epfd >= 0)
    close(s->epfd);
  if (s->gfd >= 0)
    close(s->gfd);
  if (s->sfd >= 0)
    close(s->sfd);
  if (s->old_gfd >= 0)
    close(s->old_gfd);
  if (s->tfd >= 0)
    close(s->tfd);
  s->epfd = s->gfd = s->sfd = s->old_gfd = s->tfd = -1;
  s->joined = 0;
}
