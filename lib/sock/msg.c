/*
 * smart_send (with autocork), smart_recv, smart_flush.
 *
 * Autocorking (small-message packing), in the manner of TCP's autocork: a
 * message is held back only while the application is backlogged, that is
 * while it keeps calling faster than the send path drains (each call comes
 * less than one send-syscall time after the previous datagram left), and
 * only once it has done so for CORK_AFTER calls in a row. Then messages
 * gather in the engine's queue and leave packed (FMT 2) when a batch of
 * datagrams is full, on a call that comes after a pause, on any call that
 * processes the socket, or when smart_timeout() expires (at most
 * SMART__CORK_MAX_NS later). A message sent at a moderate rate, or one of
 * a short burst (a paced sender catching up after its thread was held up,
 * a few replies at once), never waits for a later one: it leaves at once.
 * It times system calls, so it lives in the shell, not in the session.
 */
#include <string.h>

#include "sock/sock_int.h"
#include "util/time.h"

#define DATA_HDR 8u /* the DATA header before a datagram's payload */

/* Queue the message, moving data out and waiting for room if the queue is
 * full (unless non-blocking). Returns 0 or an error; `*now` is the time it
 * was queued (with `stale`, the last call's: see CLOCK_EVERY). */
static int submit(smart_sock *s, const void *buf, size_t len, int nonblock, int stale,
                  uint64_t *now) {
  for (;;) {
    *now = stale ? s->last_ret : smart__now();
    stale = 0;
    int rc = smart__session_submit(s->ss, buf, len, *now);
    if (rc != SMART_EAGAIN)
      return rc;
    /* Queue full: move data out, then wait for room. */
    if ((rc = smart__io_pump(s)) != 0)
      return rc;
    *now = smart__now();
    rc = smart__session_submit(s->ss, buf, len, *now);
    if (rc != SMART_EAGAIN || nonblock)
      return rc;
    if ((rc = smart__io_wait(s, SMART__NEVER)) < 0)
      return rc;
  }
}

/* Autocork. A call is "busy" when the application comes back less than
 * one send-path time (what sending one datagram alone takes) after the
 * previous smart_send() returned, or when messages queued earlier are
 * still waiting (the rate or the window held them: the new one would wait
 * behind them anyway): it is backlogged, and datagrams then leave a batch
 * per system call.
 * Corking starts only after CORK_AFTER busy calls in a row: one busy call,
 * or a few, are a burst, not a backlog, and every message of a burst goes
 * at once (were one held, it would wait for the application's next call).
 * A call that finds the send path idle, or that comes after a pause, sends
 * at once, with whatever is corked. Returns 1 to hold the message. */
#define CORK_AFTER 16u

/* While messages are corked, a call reads the clock only once in
 * CLOCK_EVERY calls; the others take the last call's time, which makes
 * them busy, and cork. The read is a third of a corked call's cost (a
 * build with none sent 10-13 M 64-byte msgs/s against 5-8 M; one in 8
 * gave peerbench t64 +10% to +65%). What it would have seen is a pause
 * since the last call; but a message corked after such a pause waits
 * only behind messages that are themselves still corked (had the pause
 * lasted until the corked ones left, on the background thread of a
 * blocking sender or the event loop's smart_timeout, nothing would be
 * corked and the call reads the clock), and the next read, CLOCK_EVERY -
 * 1 calls later at most, or the corked datagram's deadline sends them
 * all. One in 4 bounds what such a pause can hold to three calls: a
 * paced sender at 1,000 msgs/s that fell behind and corked waits 3 ms at
 * most. A pump since the last call (the event loop, another call, the
 * background thread) gave the session a later time than that call's:
 * then the next call reads the clock (io.c sets clock_skips), so the
 * session's time never goes back. The call that reads the clock after
 * skipped ones measures the time of all of them since the last read: it
 * is busy if they came less than one send-path time apart on average
 * (against one call's time, corked calls of 1,400 bytes could look like
 * a pause and send a batch early). */
#define CLOCK_EVERY 4u
static int cork(smart_sock *s, size_t len, uint64_t now, unsigned span) {
  uint64_t cost = s->tx_cost;
  int busy = (s->last_ret && now - s->last_ret < cost * span) || s->backlog;
  if (!busy) {
    s->busy_calls = 0;
    return 0;
  }
  if (s->busy_calls < CORK_AFTER) {
    s->busy_calls++;
    return 0;
  }
  size_t room = smart__session_max_dgram(s->ss) - DATA_HDR, entry = len + 2;
  if (!s->corked_bytes) {
    s->corked_since = now;
    s->cork_fill = 0;
    s->cork_dgrams = 0;
  }
  /* The engine packs entries of 2 + len bytes into max_dgram - 8 bytes of
   * payload: follow its packing. */
  if (s->cork_fill && s->cork_fill + entry > room) {
    s->cork_dgrams++;
    s->cork_fill = 0;
  }
  s->cork_fill += entry;
  s->corked_bytes += entry;
  /* Hold, without a system call, until a batch of datagrams is full
   * (another message of this size would not fit), for at most
   * CORK_MAX_NS. */
  return (s->cork_dgrams + 1 < SMART__BATCH || s->cork_fill + entry <= room) &&
         now - s->corked_since < SMART__CORK_MAX_NS;
}

SMART_API smart_ssize smart_send(smart_sock *s, const void *buf, size_t len, uint32_t flags) {
  if (!s || (!buf && len) || len == 0 || (flags & ~SMART_MSG_DONTWAIT))
    return SMART_EINVAL;
  SMART__HOLD(s);
  if (!s->joined)
    return SMART_ENOTCONN;
  if (len > s->o.max_msg)
    return SMART_EMSGSIZE;
  int rc = smart__io_take_error(s); /* an earlier call's transmit error */
  if (rc)
    return rc;
  uint64_t now;
  int stale = 0;
  unsigned span = 1; /* the calls since last_ret was read from the clock */
  if (s->corked_bytes && ++s->clock_skips < CLOCK_EVERY) {
    stale = 1;
  } else {
    if (s->clock_skips == CLOCK_EVERY)
      span = CLOCK_EVERY; /* busy: CLOCK_EVERY calls in CLOCK_EVERY send-path times */
    s->clock_skips = 0;
  }
  if ((rc = submit(s, buf, len, s->o.nonblock || (flags & SMART_MSG_DONTWAIT), stale, &now)) != 0)
    return rc;
  int lone = !s->corked_bytes && !s->backlog;
  if (cork(s, len, now, span)) {
    s->last_ret = now; /* corked: the call is about over */
    smart__bg_maybe_start(s); /* a blocking sender: see bg.c */
    smart__bg_pending(s, 1);
    return (smart_ssize)len;
  }
  /* The message first (alone, its datagram before anything else is
   * looked at), then whatever came in (requests are answered on this same
   * call, right after). The message is queued: an error from transmitting
   * it is the next call's to return. */
  if (stale)
    now = smart__now(); /* the corked datagrams leave: at the real time */
  rc = lone ? smart__io_tx_lone(s, now) : smart__io_tx(s, now);
  if (rc == 0)
    rc = smart__io_pump(s);
  s->tx_error = rc;
  smart__bg_maybe_start(s);
  smart__bg_pending(s, s->corked_bytes || s->backlog);
  s->last_ret = smart__now();
  return (smart_ssize)len;
}

/* The size of struct smart_msginfo in 0.1: callers pass at least this. */
#define SMART__MSGINFO_V1 (offsetof(struct smart_msginfo, sender) + 48)

/* One delivery to the caller: the message's length, or SMART_ELOST. The
 * caller's struct is filled in place, every field of this version (a
 * later version's larger struct keeps its tail as it was); smart_recv
 * has refused one smaller than 0.1's, which is this version's. */
_Static_assert(SMART__MSGINFO_V1 == sizeof(struct smart_msginfo), "msginfo grew: copy what fits");
static smart_ssize hand_over(const struct smart__delivery *d, void *buf, size_t len,
                             struct smart_msginfo *info) {
  int loss = d->kind == SMART__DLV_LOSS;
  if (info) {
    info->kind = loss ? SMART_RECV_LOSS : SMART_RECV_MESSAGE;
    info->flags = !loss && d->len > len ? SMART_RECV_TRUNC : 0;
    info->seq = d->seq;
    info->count = d->count;
    info->sender_id = d->sender_id;
    info->len = loss ? 0 : d->len;
    memcpy(info->sender, d->sender, sizeof(info->sender)); /* NUL-padded */
    info->sender[sizeof(info->sender) - 1] = 0;
  }
  if (loss)
    return SMART_ELOST;
  size_t n = d->len < len ? d->len : len;
  if (n)
    memcpy(buf, d->data, n);
  return (smart_ssize)n;
}

SMART_API smart_ssize smart_recv(smart_sock *s, void *buf, size_t len, struct smart_msginfo *info,
                                 uint32_t flags) {
  if (!s || (!buf && len) || (flags & ~SMART_MSG_DONTWAIT))
    return SMART_EINVAL;
  SMART__HOLD(s);
  if (info && (info->size < SMART__MSGINFO_V1 || info->size > 4096))
    return SMART_EINVAL;
  if (!s->joined)
    return SMART_ENOTCONN;
  int nonblock = s->o.nonblock || (flags & SMART_MSG_DONTWAIT);
  /* The receive timeout runs from the first time the call has to wait: a
   * message already queued costs no clock read. */
  uint64_t deadline = 0;
  int pumped = 0, ready = SMART__READY_UNKNOWN, rc;
  for (;;) {
    struct smart__delivery d;
    if (smart__session_poll(s->ss, &d))
      return hand_over(&d, buf, len, info);
    /* The rest of the pump that delivered the last message: timers,
     * reports, requests (before any wait). */
    if (s->out_deferred && (rc = smart__io_pump_out(s, smart__now())) != 0)
      return rc;
    if (smart__session_poll(s->ss, &d))
      return hand_over(&d, buf, len, info);
    if (nonblock && pumped)
      return SMART_EAGAIN;
    /* A blocking call waits at once: the wait itself finds input already
     * there (and a timer already due) without sleeping, so a separate
     * look first would be one more system call per message. Only a zero
     * timeout looks (once) without waiting. */
    if (!nonblock && (pumped || s->o.rcvtimeo_ms != 0)) {
      uint64_t now = smart__now();
      if (!deadline)
        deadline = s->o.rcvtimeo_ms < 0 ? SMART__NEVER : now + SMART__MS(s->o.rcvtimeo_ms);
      if (now >= deadline)
        return SMART_EAGAIN;
      ready = smart__io_wait(s, deadline);
      if (ready < 0)
        return ready;
    }
    /* Input first; a message it completes is handed over at once, and
     * the rest of the pump (timers, what to send) waits for the next call
     * (or smart_timeout() says 0): the message does not wait for a
     * report or a request to go out before it. */
    uint64_t now = smart__now();
    if ((rc = smart__io_pump_in(s, ready, now)) != 0)
      return rc;
    if (smart__session_poll(s->ss, &d)) {
      s->out_deferred = 1;
      return hand_over(&d, buf, len, info);
    }
    if ((rc = smart__io_pump_out(s, smart__now())) != 0) /* see smart__io_pump_ready */
      return rc;
    pumped = 1;
  }
}

SMART_API int smart_flush(smart_sock *s, int32_t timeout_ms) {
  if (!s)
    return SMART_EINVAL;
  SMART__HOLD(s);
  if (!s->joined)
    return SMART_ENOTCONN;
  int rc = smart__io_take_error(s);
  if (rc)
    return rc;
  if (s->o.nonblock) {
    rc = smart__io_pump(s);
    if (rc)
      return rc;
    return s->nout == s->out_head ? 0 : SMART_EAGAIN;
  }
  uint64_t deadline = timeout_ms < 0 ? SMART__NEVER : smart__now() + SMART__MS(timeout_ms);
  return smart__io_flush_until(s, deadline);
}
