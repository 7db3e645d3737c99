/*
 * The background thread of a blocking sender (SMART_OPT_BACKGROUND).
 *
 * A blocking socket's application calls in when it has something to send
 * and otherwise sleeps or waits on something else; it runs no event loop
 * and never looks at smart_timeout(). What its calls leave queued (the
 * corked end of a burst, data the rate or the window holds) and what the
 * group asks of the sender (repairs, heartbeats) would wait for its next
 * call. So a blocking socket that sends starts one thread, which does what
 * smart_process() would: once the application has made no call for
 * BG_QUIET, it pumps the socket, then sleeps until the socket's next
 * deadline or its next input. While the application keeps calling, its
 * calls drive the socket and the thread only looks (once per BG_QUIET,
 * or less often: below).
 *
 * The application and the thread take turns on the socket, and the
 * application's side costs no locked instruction (a call on a busy sender
 * comes every 100 ns or so, where one would cost a tenth of it; measured).
 * A call stores app_in = 1 and then loads bg_in; the thread stores
 * bg_in = 1, then makes every running thread of the process execute a
 * full memory barrier (membarrier(2), MEMBARRIER_CMD_PRIVATE_EXPEDITED),
 * then loads app_in. The barrier lies between the application's store and
 * its load or before both, so at least one of the two sees the other's
 * flag (Dekker's exclusion with the cost moved to the side that acts
 * rarely). The thread yields: seeing app_in, it withdraws. A call that
 * sees bg_in waits (app_wait, a futex on bg_in) until the thread's pump
 * ends. The same barrier orders the thread's bg_long (it sleeps until a
 * far deadline) against the application's call count: either the thread
 * sees the call and stays awake, or the call, as it leaves, sees bg_long
 * and wakes it.
 *
 * While the application keeps calling and its last smart_send left
 * nothing queued (`pending` is 0: a sender at a moderate rate), the thread
 * looks ever less often, up to once per BG_NAP_MAX, and the same barrier
 * orders its bg_nap against `pending`: a smart_send that leaves messages
 * queued during such a nap wakes it, so they still leave within
 * 2 x BG_QUIET of the last call. What a longer nap delays, once the
 * application stops, is only the socket's own timers (heartbeats, a
 * repair), by BG_NAP_MAX at most.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sock/sock_int.h"
#include "util/time.h"

/* The application is quiet after this long without a call; then the
 * thread drives the socket. It is also the longest a blocking sender's
 * queued data waits for the thread after the application's last call
 * (twice this at most: the thread notices a call up to BG_QUIET late). */
#define BG_QUIET SMART__MS(1)
/* The longest look interval while the application calls and leaves
 * nothing queued. */
#define BG_NAP_MAX SMART__MS(8)

static void futex_wait(_Atomic uint32_t *w, uint32_t val) {
  (void)syscall(SYS_futex, (void *)(uintptr_t)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w) {
  (void)syscall(SYS_futex, (void *)(uintptr_t)w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static int membarrier(int cmd) { return (int)syscall(SYS_membarrier, cmd, 0, 0); }

/* In a child after fork(2), the socket's thread does not exist (and may
 * have been inside when the parent forked): forget it. */
static int bg_forked(smart_sock *s) {
  if (getpid() == s->bg_pid)
    return 0;
  atomic_store_explicit(&s->bg_in, 0, memory_order_relaxed);
  atomic_store_explicit(&s->bg_long, 0, memory_order_relaxed);
  close(s->bg_fd);
  s->bg_fd = -1;
  s->bg_on = 0;
  return 1;
}

/* A call found bg_in set (app_in is set): the thread is pumping, or is
 * about to see app_in and withdraw. Wait until it is out. */
void smart__bg_enter_slow(smart_sock *s) {
  if (bg_forked(s))
    return;
  for (;;) {
    atomic_store_explicit(&s->app_wait, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (!atomic_load_explicit(&s->bg_in, memory_order_acquire))
      break;
    futex_wait(&s->bg_in, 1);
  }
  atomic_store_explicit(&s->app_wait, 0, memory_order_relaxed);
}

void smart__bg_kick(smart_sock *s) {
  uint64_t one = 1;
  ssize_t n = write(s->bg_fd, &one, sizeof(one));
  (void)n; /* a full counter already wakes it */
}

static void bg_release(smart_sock *s) {
  atomic_store_explicit(&s->bg_in, 0, memory_order_release);
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&s->app_wait, memory_order_relaxed))
    futex_wake(&s->bg_in);
}

/* The thread's turn: only while no call is inside, and none has come since
 * `count`. */
static int bg_claim(smart_sock *s, uint32_t count) {
  atomic_store_explicit(&s->bg_in, 1, memory_order_relaxed);
  (void)membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
  if (atomic_load_explicit(&s->app_in, memory_order_acquire) ||
      atomic_load_explicit(&s->calls, memory_order_relaxed) != count) {
    bg_release(s);
    return 0;
  }
  return 1;
}

/* Before a sleep until a far deadline: 1 if no call came since `count`
 * (a call that comes later wakes the thread as it leaves). */
static int bg_sleep_long(smart_sock *s, uint32_t count) {
  atomic_store_explicit(&s->bg_long, 1, memory_order_relaxed);
  (void)membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
  if (atomic_load_explicit(&s->app_in, memory_order_relaxed) ||
      atomic_load_explicit(&s->calls, memory_order_relaxed) != count) {
    atomic_store_explicit(&s->bg_long, 0, memory_order_relaxed);
    return 0;
  }
  return 1;
}

/* Before a nap longer than BG_QUIET while the application calls: 1 if its
 * last smart_send left nothing queued (one that does later wakes us). */
static int bg_nap(smart_sock *s) {
  if (atomic_load_explicit(&s->pending, memory_order_relaxed))
    return 0;
  atomic_store_explicit(&s->bg_nap, 1, memory_order_relaxed);
  (void)membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
  if (atomic_load_explicit(&s->pending, memory_order_relaxed)) {
    atomic_store_explicit(&s->bg_nap, 0, memory_order_relaxed);
    return 0;
  }
  return 1;
}

static void *bg_main(void *arg) {
  smart_sock *s = arg;
  uint64_t look = BG_QUIET; /* the look interval while the application calls */
  uint32_t seen = atomic_load_explicit(&s->calls, memory_order_relaxed);
  uint64_t seen_at = smart__now();
  int input = 0; /* watch the sockets' input while asleep (the application is quiet) */
  while (!atomic_load_explicit(&s->bg_stop, memory_order_acquire)) {
    uint64_t now = smart__now(), wake;
    uint32_t calls = atomic_load_explicit(&s->calls, memory_order_relaxed);
    input = 0;
    atomic_store_explicit(&s->bg_long, 0, memory_order_relaxed);
    atomic_store_explicit(&s->bg_nap, 0, memory_order_relaxed);
    if (calls != seen || atomic_load_explicit(&s->app_in, memory_order_relaxed)) {
      /* A call since the last look, or one in progress: the application
       * drives the socket. Look again in BG_QUIET, or, while its sends
       * leave nothing queued, in twice the last interval up to
       * BG_NAP_MAX. */
      seen = calls;
      seen_at = now;
      look = look < BG_NAP_MAX ? 2 * look : BG_NAP_MAX;
      if (!bg_nap(s))
        look = BG_QUIET;
      wake = now + look;
    } else if (now - seen_at < BG_QUIET) {
      wake = seen_at + BG_QUIET;
    } else if (look = BG_QUIET, !bg_claim(s, seen)) {
      /* Quiet (the next time the application calls, the looks start at
       * BG_QUIET again), but a call came in between: look again. */
      continue;
    } else {
      /* Quiet: what smart_process() would do, then sleep until the
       * socket's next deadline or its input. An error is the next call's
       * to return (and input is not watched until then: it would wake us
       * at once, again and again). */
      int rc = smart__io_pump(s);
      if (rc && !s->tx_error)
        s->tx_error = rc;
      now = smart__now();
      wake = smart__io_deadline(s);
      input = !s->tx_error;
      bg_release(s);
      if (wake > now + BG_QUIET && !bg_sleep_long(s, seen)) {
        wake = now; /* a call came: look again */
        input = 0;
      }
    }
    struct pollfd p[2] = {{.fd = s->bg_fd, .events = POLLIN}, {.fd = s->epfd, .events = POLLIN}};
    struct timespec ts, *tp = NULL;
    if (wake != SMART__NEVER) {
      uint64_t d = wake > now ? wake - now : 0;
      if (d > SMART__SEC(60))
        d = SMART__SEC(60);
      ts.tv_sec = (time_t)(d / SMART__NS_PER_S);
      ts.tv_nsec = (long)(d % SMART__NS_PER_S);
      tp = &ts;
    }
    if (ppoll(p, input ? 2 : 1, tp, NULL) > 0 && (p[0].revents & POLLIN)) {
      uint64_t n;
      ssize_t k = read(s->bg_fd, &n, sizeof(n));
      (void)k;
    }
  }
  return NULL;
}

void smart__bg_start(smart_sock *s) {
  /* The exclusion needs the expedited barrier (Linux 4.14); without it,
   * no thread (the application calls in itself, as with the option 0). */
  if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0)
    return;
  s->bg_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->bg_fd < 0)
    return;
  /* The caller is inside a call, and its return lets the thread in. */
  atomic_store_explicit(&s->app_in, 1, memory_order_relaxed);
  atomic_store_explicit(&s->bg_in, 0, memory_order_relaxed);
  atomic_store_explicit(&s->bg_long, 0, memory_order_relaxed);
  atomic_store_explicit(&s->bg_nap, 0, memory_order_relaxed);
  atomic_store_explicit(&s->pending, 0, memory_order_relaxed);
  atomic_store_explicit(&s->app_wait, 0, memory_order_relaxed);
  atomic_store_explicit(&s->bg_stop, 0, memory_order_relaxed);
  /* The thread takes no signal: the application's handlers run on its
   * own threads. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&s->bg_tid, NULL, bg_main, s);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    close(s->bg_fd);
    s->bg_fd = -1;
    return;
  }
  s->bg_pid = getpid();
  s->bg_on = 1;
}

void smart__bg_stop(smart_sock *s) {
  if (!s->bg_on || bg_forked(s))
    return;
  atomic_store_explicit(&s->bg_stop, 1, memory_order_release);
  smart__bg_kick(s);
  pthread_join(s->bg_tid, NULL);
  close(s->bg_fd);
  s->bg_fd = -1;
  s->bg_on = 0;
}

void smart__bg_update(smart_sock *s) {
  if (s->bg_on && !smart__bg_wanted(s))
    smart__bg_stop(s);
}
