/*
 * smart-bench: libsmart against raw UDP multicast on the loopback interface.
 *
 *   smart-bench [--cc on|off]              all of it (the contract below)
 *   smart-bench [--cc on|off] --only TEST  one part, for profiling: raw64,
 *                     raw1400, smart64, smart1400, secure1400, sauth1400,
 *                     gcm1400 (secure1400 with AES-256-GCM, SMART_OPT_CIPHER
 *                     2: needs AES-NI), chacha1400 (secure1400 with
 *                     XChaCha20-Poly1305, SMART_OPT_CIPHER 1), latency
 *                     (plain), latency-key (group key) or latency-sauth
 *                     (group key and source authentication)
 *
 *   --cc on|off sets SMART_OPT_CC on every libsmart socket (default: the
 *   library's default, on), to see what congestion control costs here.
 *
 * Everything stays on this host: the outgoing multicast interface and the
 * joins are 127.0.0.1, the TTL is 0, the groups are in 239.255.0.0/16 and
 * every run uses its own port. It takes about 30 seconds.
 *
 * It measures, one after the other, with a sender and a receiver each with
 * its own socket(s) (throughput: two threads of this process; latency: two
 * processes, as separate applications would be):
 *
 *   1. raw UDP throughput: one message per datagram, the sender blasts
 *      batches of 32 with sendmmsg, the receiver reads batches of 32 with
 *      recvmmsg. The figure is what the receiver got (the kernel drops what
 *      it cannot take; the drop rate is printed). This is the physical
 *      limit of loopback multicast here.
 *   2. libsmart throughput (reliability on, no loss, no security): the
 *      sender calls smart_send() in a loop, the receiver smart_recv(), both
 *      blocking, as an application would. The receiver checks a sequence
 *      counter in every payload; at the end the sender flushes and the
 *      receiver must have had every message sent, in order, else a WARNING
 *      line says what went wrong. The sender's CPU per message (its
 *      thread's CPU time, the final flush included, over the messages it
 *      queued) is printed too.
 *   3. one-way latency at 10,000 messages/s (paced, 64 bytes), raw UDP and
 *      libsmart in the same 5.2 s, alternating blocks of 2,000 messages from
 *      one sender thread, so that whatever else the machine does falls on
 *      both alike: the sender puts CLOCK_MONOTONIC in the payload, each
 *      receiver subtracts it from the time of delivery. The receivers (one
 *      thread each) run in a child process, the sender in this one. It is
 *      measured three times: plain, with a group key (every datagram
 *      sealed, the default cipher) and with source authentication as well
 *      (a manifest every 64 datagrams or 1 ms), each with p50, p99 and
 *      p99.9 of raw UDP beside it. The samples start with the 1,001st
 *      message of each side (the first tenth of a second).
 *
 * libsmart runs with its defaults except two settings for loopback: the
 * advertised group round trip (SMART_OPT_GRTT_US) is 1 ms, already generous
 * for a path of tens of microseconds, and the window (SMART_OPT_WINDOW) is
 * its maximum, 16,384 datagrams. A sender releases a datagram once every
 * receiver that reports holds it and 3 GRTT have passed (and, for the first
 * 40 GRTT of the stream, 4 (K + 1) GRTT: 28 ms here), so the window allows
 * 16,384 / 3 ms = 5.4M datagrams/s here once the stream has started
 * (585k/s in its first 40 ms). With congestion control on (the default) the
 * group round trip is measured: a larger one lengthens both holds.
 *
 * Throughput counts the messages delivered to the receiving application
 * during a fixed window (THRU_S, after a warm-up), in messages/s and MB/s of
 * message payload (MB = 10^6 bytes). A line before the last two says how
 * much CPU other programs took during the run: on a busy machine the
 * figures are not to be trusted. The last two lines are
 *
 *   size=64 raw_msgs_s=... smart_msgs_s=... ratio=...
 *   size=1400 raw_MB_s=... smart_MB_s=... ratio=...
 *   size=1400 sauth_MB_s=... plain_MB_s=... ratio=...   (source-authenticated)
 *   size=1400 secure_MB_s=... plain_MB_s=... ratio=...  (encrypted; the last line)
 *
 * with ratio = libsmart / raw. It prints figures and never fails on them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <smart/smart.h>

#define BATCH 32                /* sendmmsg/recvmmsg batch, as in libsmart */
#define SOCKBUF (4 << 20)       /* socket buffers, as in libsmart */
#define WARMUP_S 0.3            /* before a throughput window opens */
#define THRU_S 3.0              /* throughput window */
#define LAT_RATE 10000.0        /* latency test: messages per second */
#define LAT_WARMUP 1000u        /* latency samples discarded at the start */
#define LAT_COUNT 25000u        /* latency samples kept (2.5 s at 10k/s) */
#define LAT_SIZE 64u
#define DRAIN_MAX_S 5.0         /* the receiver waits this long for the tail */
#define IFACE "127.0.0.1"

/* libsmart settings for loopback (see the top of the file). */
#define SMART_GRTT_US 1000u
#define SMART_WINDOW 16384u

static char group_ip[32];
static unsigned next_port;

/* Security of the libsmart runs: none, a group key (every datagram
 * encrypted and authenticated), or a group key plus source authentication
 * (a signed manifest every SAUTH_EVERY datagrams or 10 ms: 64, the most one
 * manifest holds, at the high end of what smart-security(7) advises for high
 * rates; the signature and its verification are then 1/64 of a datagram's
 * cost, the per-datagram digest and AEAD the rest). */
enum { SEC_NONE = 0, SEC_KEY = 1, SEC_SAUTH = 2 };
static int sec_mode;
static uint32_t sec_cipher; /* SMART_OPT_CIPHER of both ends (gcm1400, chacha1400) */
static int cc_opt = -1;     /* SMART_OPT_CC of every libsmart socket; -1: the default */
#define SAUTH_EVERY 64u
static uint32_t sauth_ms = 10; /* SMART_OPT_SOURCE_AUTH_MS: 10 (the default); 1 for latency */
static uint8_t group_key[32], sender_pk[32], sender_sk[64];

/* ---- small helpers ------------------------------------------------------ */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double secs(uint64_t ns) { return (double)ns / 1e9; }

static void sleep_until(uint64_t t) {
  struct timespec ts = {.tv_sec = (time_t)(t / 1000000000u),
                        .tv_nsec = (long)(t % 1000000000u)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

static void sleep_s(double s) { sleep_until(now_ns() + (uint64_t)(s * 1e9)); }

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("smart-bench: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint64_t get64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* Threads are named (for perf and top): bench-tx, bench-rx. */
static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg, const char *name) {
  int rc = pthread_create(t, NULL, fn, arg);
  if (rc)
    die("pthread_create: %s", strerror(rc));
  pthread_setname_np(*t, name);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* CPU seconds used by the whole machine (not idle, not waiting) and by this
 * process, to tell whether other programs competed with the run. */
static double machine_busy_s(void) {
  FILE *f = fopen("/proc/stat", "r");
  unsigned long long v[8] = {0};
  if (!f)
    return -1;
  int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                 &v[4], &v[5], &v[6], &v[7]);
  fclose(f);
  if (n != 8)
    return -1;
  long hz = sysconf(_SC_CLK_TCK);
  /* user nice system [idle iowait] irq softirq steal */
  return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)(hz > 0 ? hz : 100);
}

/* CPU time of the calling thread. */
static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* ---- raw UDP sockets ---------------------------------------------------- */

static struct sockaddr_in group_addr(unsigned port) {
  struct sockaddr_in g;
  memset(&g, 0, sizeof(g));
  g.sin_family = AF_INET;
  g.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, group_ip, &g.sin_addr) != 1)
    die("bad group %s", group_ip);
  return g;
}

/* A receiver: bound to group:port, joined on 127.0.0.1, only this group. */
static int raw_rx_socket(unsigned port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  int one = 1, zero = 0, sz = SOCKBUF;
  if (fd < 0)
    die("socket: %s", strerror(errno));
  struct sockaddr_in g = group_addr(port);
  struct ip_mreqn m;
  memset(&m, 0, sizeof(m));
  m.imr_multiaddr = g.sin_addr;
  inet_pton(AF_INET, IFACE, &m.imr_address);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero)) ||
      bind(fd, (struct sockaddr *)&g, sizeof(g)) ||
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)) ||
      setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof(m)))
    die("raw receiver socket on %s:%u: %s", group_ip, port, strerror(errno));
  return fd;
}

/* A sender: bound to 127.0.0.1, multicast out of it, TTL 0, loopback on. */
static int raw_tx_socket(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  int sz = SOCKBUF;
  unsigned char ttl = 0, loop = 1;
  if (fd < 0)
    die("socket: %s", strerror(errno));
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  inet_pton(AF_INET, IFACE, &a.sin_addr);
  struct in_addr ifa = a.sin_addr;
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof(ifa)) ||
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) ||
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) ||
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)))
    die("raw sender socket: %s", strerror(errno));
  return fd;
}

/* ---- libsmart sockets --------------------------------------------------- */

static void smart_check(int rc, const char *what) {
  if (rc < 0)
    die("%s: %s", what, smart_strerror(rc));
}

static smart_sock *smart_socket(unsigned port, int32_t rcvtimeo_ms) {
  smart_sock *s;
  char g[64];
  int32_t ttl = 0;
  uint32_t grtt = SMART_GRTT_US, win = SMART_WINDOW, every = SAUTH_EVERY;
  smart_check(smart_open(&s, 0), "smart_open");
  if (sec_mode >= SEC_KEY)
    smart_check(smart_setopt(s, SMART_OPT_GROUP_KEY, group_key, 32), "SMART_OPT_GROUP_KEY");
  if (sec_mode >= SEC_KEY && sec_cipher)
    smart_check(smart_setopt(s, SMART_OPT_CIPHER, &sec_cipher, 4), "SMART_OPT_CIPHER");
  if (sec_mode == SEC_SAUTH) {
    /* rcvtimeo -1 is the sender (it signs); the receiver pins its key */
    if (rcvtimeo_ms < 0) {
      smart_check(smart_setopt(s, SMART_OPT_IDENTITY, sender_sk, 64), "SMART_OPT_IDENTITY");
      smart_check(smart_setopt(s, SMART_OPT_SOURCE_AUTH_MS, &sauth_ms, 4),
                  "SMART_OPT_SOURCE_AUTH_MS");
    } else
      smart_check(smart_setopt(s, SMART_OPT_PEER_KEY, sender_pk, 32), "SMART_OPT_PEER_KEY");
    smart_check(smart_setopt(s, SMART_OPT_SOURCE_AUTH, &every, 4), "SMART_OPT_SOURCE_AUTH");
  }
  smart_check(smart_setopt(s, SMART_OPT_TTL, &ttl, sizeof(ttl)), "SMART_OPT_TTL");
  if (cc_opt >= 0) {
    uint32_t cc = (uint32_t)cc_opt;
    smart_check(smart_setopt(s, SMART_OPT_CC, &cc, sizeof(cc)), "SMART_OPT_CC");
  }
  smart_check(smart_setopt(s, SMART_OPT_GRTT_US, &grtt, sizeof(grtt)), "SMART_OPT_GRTT_US");
  smart_check(smart_setopt(s, SMART_OPT_WINDOW, &win, sizeof(win)), "SMART_OPT_WINDOW");
  smart_check(smart_setopt(s, SMART_OPT_RCVTIMEO_MS, &rcvtimeo_ms, sizeof(rcvtimeo_ms)),
              "SMART_OPT_RCVTIMEO_MS");
  snprintf(g, sizeof(g), "%s:%u", group_ip, port);
  smart_check(smart_join(s, g, IFACE, NULL, 0), "smart_join");
  return s;
}

static struct smart_stats smart_get_stats(smart_sock *s) {
  struct smart_stats st;
  memset(&st, 0, sizeof(st));
  st.size = sizeof(st);
  smart_check(smart_stats(s, &st), "smart_stats");
  return st;
}

/* ---- throughput --------------------------------------------------------- */

struct thru {
  int smart;             /* 0: raw UDP, 1: libsmart */
  size_t size;
  unsigned port;
  atomic_int rx_ready;   /* the receiver has joined */
  atomic_int stop;       /* the window closed: the sender stops */
  atomic_uint_fast64_t delivered; /* messages delivered so far */
  atomic_uint_fast64_t sent;      /* messages handed to send so far */
  atomic_int tx_done;    /* the sender has flushed; `sent` is final */
  /* results */
  uint64_t bad_order, first_bad, first_bad_got, lost_events, lost_dgrams;
  struct smart_stats tx_st, rx_st;
  int tx_error, rx_error;
  uint64_t tx_cpu_ns;    /* the sender thread's CPU time, flush included */
};

static void *raw_thru_rx(void *arg) {
  struct thru *t = arg;
  int fd = raw_rx_socket(t->port);
  static uint8_t bufs[BATCH][2048];
  struct mmsghdr m[BATCH];
  struct iovec iov[BATCH];
  uint64_t got = 0, expect = 0;
  atomic_store(&t->rx_ready, 1);
  for (;;) {
    for (unsigned i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = sizeof(bufs[i]);
      memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
      m[i].msg_hdr.msg_iov = &iov[i];
      m[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR)
        die("recvmmsg: %s", strerror(errno));
      if (atomic_load(&t->tx_done))
        break;
      struct pollfd p = {.fd = fd, .events = POLLIN};
      poll(&p, 1, 20);
      continue;
    }
    for (int i = 0; i < n; i++) {
      uint64_t seq = get64(bufs[i]);
      if (seq < expect) /* raw UDP may drop but must not reorder here */
        t->bad_order++;
      expect = seq + 1;
    }
    got += (uint64_t)n;
    atomic_store_explicit(&t->delivered, got, memory_order_relaxed);
  }
  close(fd);
  return NULL;
}

static void *raw_thru_tx(void *arg) {
  struct thru *t = arg;
  int fd = raw_tx_socket();
  struct sockaddr_in g = group_addr(t->port);
  static uint8_t bufs[BATCH][2048];
  struct mmsghdr m[BATCH];
  struct iovec iov[BATCH];
  uint64_t seq = 0;
  for (unsigned i = 0; i < BATCH; i++)
    memset(bufs[i], 'r', sizeof(bufs[i]));
  while (!atomic_load_explicit(&t->stop, memory_order_relaxed)) {
    for (unsigned i = 0; i < BATCH; i++) {
      put64(bufs[i], seq + i);
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = t->size;
      memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
      m[i].msg_hdr.msg_name = &g;
      m[i].msg_hdr.msg_namelen = sizeof(g);
      m[i].msg_hdr.msg_iov = &iov[i];
      m[i].msg_hdr.msg_iovlen = 1;
    }
    unsigned off = 0;
    while (off < BATCH) {
      int n = sendmmsg(fd, m + off, BATCH - off, MSG_DONTWAIT);
      if (n < 0) {
        if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR)
          die("sendmmsg: %s", strerror(errno));
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        poll(&p, 1, 10);
        continue;
      }
      off += (unsigned)n;
    }
    seq += BATCH;
    atomic_store_explicit(&t->sent, seq, memory_order_relaxed);
  }
  close(fd);
  sleep_s(0.05); /* let the last datagrams land */
  atomic_store(&t->tx_done, 1);
  return NULL;
}

static void *smart_thru_rx(void *arg) {
  struct thru *t = arg;
  smart_sock *s = smart_socket(t->port, 50);
  static uint8_t buf[65536];
  struct smart_msginfo info;
  uint64_t got = 0;
  uint64_t drain_deadline = 0;
  atomic_store(&t->rx_ready, 1);
  for (;;) {
    info.size = sizeof(info);
    smart_ssize n = smart_recv(s, buf, sizeof(buf), &info, 0);
    if (n >= 0) {
      uint64_t seq = n >= 8 ? get64(buf) : UINT64_MAX;
      if (seq != got || (size_t)n != t->size) {
        if (!t->bad_order++) {
          t->first_bad = got;
          t->first_bad_got = seq;
        }
      }
      got++;
      atomic_store_explicit(&t->delivered, got, memory_order_relaxed);
      continue;
    }
    if (n == SMART_ELOST) {
      t->lost_events++;
      t->lost_dgrams += info.count;
      continue;
    }
    if (n != SMART_EAGAIN) {
      fprintf(stderr, "smart-bench: smart_recv: %s\n", smart_strerror((int)n));
      t->rx_error = 1;
      break;
    }
    if (atomic_load(&t->tx_done)) {
      if (got >= atomic_load(&t->sent))
        break;
      if (!drain_deadline)
        drain_deadline = now_ns() + (uint64_t)(DRAIN_MAX_S * 1e9);
      else if (now_ns() > drain_deadline)
        break;
    }
  }
  t->rx_st = smart_get_stats(s);
  smart_close(s);
  return NULL;
}

static void *smart_thru_tx(void *arg) {
  struct thru *t = arg;
  smart_sock *s = smart_socket(t->port, -1);
  static uint8_t buf[2048];
  uint64_t seq = 0;
  memset(buf, 's', sizeof(buf));
  uint64_t cpu0 = thread_cpu_ns();
  while (!atomic_load_explicit(&t->stop, memory_order_relaxed)) {
    put64(buf, seq);
    smart_ssize r = smart_send(s, buf, t->size, 0);
    if (r < 0) {
      fprintf(stderr, "smart-bench: smart_send: %s\n", smart_strerror((int)r));
      t->tx_error = 1;
      break;
    }
    seq++;
    if ((seq & 255) == 0)
      atomic_store_explicit(&t->sent, seq, memory_order_relaxed);
  }
  atomic_store(&t->sent, seq);
  /* Everything queued goes out and the group gets its chance to repair. */
  int rc = smart_flush(s, 3000);
  if (rc)
    fprintf(stderr, "smart-bench: smart_flush: %s\n", smart_strerror(rc));
  t->tx_cpu_ns = thread_cpu_ns() - cpu0;
  t->tx_st = smart_get_stats(s);
  atomic_store(&t->tx_done, 1);
  smart_close(s);
  return NULL;
}

/* Run one throughput test; returns delivered messages per second. */
static double run_thru(int smart, size_t size) {
  static struct thru t; /* large-ish, and reused one run at a time */
  memset(&t, 0, sizeof(t));
  t.smart = smart;
  t.size = size;
  t.port = next_port++;
  pthread_t rx, tx;
  start_thread(&rx, smart ? smart_thru_rx : raw_thru_rx, &t, "bench-rx");
  while (!atomic_load(&t.rx_ready))
    sleep_s(0.001);
  start_thread(&tx, smart ? smart_thru_tx : raw_thru_tx, &t, "bench-tx");
  sleep_s(WARMUP_S);
  uint64_t c0 = atomic_load(&t.delivered), s0 = atomic_load(&t.sent), t0 = now_ns();
  sleep_s(THRU_S);
  uint64_t c1 = atomic_load(&t.delivered), s1 = atomic_load(&t.sent), t1 = now_ns();
  atomic_store(&t.stop, 1);
  pthread_join(tx, NULL);
  pthread_join(rx, NULL);
  double dt = secs(t1 - t0);
  double rate = (double)(c1 - c0) / dt;
  double mbs = rate * (double)size / 1e6;
  const char *name = !smart                  ? "raw UDP"
                     : sec_mode == SEC_KEY   ? (sec_cipher == SMART_CIPHER_AES256GCM ? "gcm"
                                                : sec_cipher ? "chacha"
                                                             : "secure")
                     : sec_mode == SEC_SAUTH ? "src-auth"
                                             : "libsmart";
  printf("%-8s %4zu B: %10.0f msgs/s %8.1f MB/s delivered", name, size, rate, mbs);
  if (!smart) {
    double sr = (double)(s1 - s0) / dt;
    printf("  (sent %.0f/s, %.1f%% dropped by the kernel)\n", sr,
           sr > 0 && sr > rate ? 100.0 * (1 - rate / sr) : 0.0);
    if (t.bad_order)
      printf("WARNING: raw UDP %zu B: %llu datagrams out of order\n", size,
             (unsigned long long)t.bad_order);
  } else {
    uint64_t sent = atomic_load(&t.sent), got = atomic_load(&t.delivered);
    printf("  (%.1f msgs/datagram, %.0f datagrams/s)\n",
           t.tx_st.dgrams_sent ? (double)t.tx_st.msgs_sent / (double)t.tx_st.dgrams_sent : 0.0,
           t.tx_st.msgs_sent ? rate * (double)t.tx_st.dgrams_sent / (double)t.tx_st.msgs_sent
                             : 0.0);
    printf("         sender: %.2f us CPU per message (%llu messages, %.2f s CPU, flush"
           " included)\n",
           sent ? (double)t.tx_cpu_ns / 1e3 / (double)sent : 0.0, (unsigned long long)sent,
           (double)t.tx_cpu_ns / 1e9);
    if (t.tx_st.cc_rate)
      printf("         congestion control at the end: rate %.1f MB/s, group round trip %llu us,"
             " limiting receiver's round trip %llu us and loss %llu ppm; %llu reports\n",
             (double)t.tx_st.cc_rate / 1e6, (unsigned long long)t.tx_st.grtt_us,
             (unsigned long long)t.tx_st.cc_clr_rtt_us,
             (unsigned long long)t.tx_st.cc_clr_loss_ppm, (unsigned long long)t.tx_st.cc_reports);
    printf("         receiver: %llu naks sent, %llu repairs received, %llu duplicates,"
           " %llu datagrams dropped\n",
           (unsigned long long)t.rx_st.naks_sent, (unsigned long long)t.rx_st.repairs_received,
           (unsigned long long)t.rx_st.drops_duplicate,
           (unsigned long long)(t.rx_st.drops_malformed + t.rx_st.drops_sync +
                                t.rx_st.drops_window + t.rx_st.drops_other));
    if (t.bad_order)
      printf("WARNING: libsmart %zu B: %llu messages out of order or corrupt (first: "
             "expected #%llu, got #%llu)\n",
             size, (unsigned long long)t.bad_order, (unsigned long long)t.first_bad,
             (unsigned long long)t.first_bad_got);
    if (t.lost_events)
      printf("WARNING: libsmart %zu B: %llu unrecoverable losses reported (%llu datagrams)\n",
             size, (unsigned long long)t.lost_events, (unsigned long long)t.lost_dgrams);
    if (got != sent)
      printf("WARNING: libsmart %zu B: %llu messages sent, %llu delivered\n", size,
             (unsigned long long)sent, (unsigned long long)got);
    if (t.tx_error || t.rx_error)
      printf("WARNING: libsmart %zu B: the run ended on an error (see above)\n", size);
  }
  fflush(stdout);
  return rate;
}

/* ---- latency ------------------------------------------------------------ */

/* Raw UDP and libsmart are measured in the same 5 seconds, in alternating
 * blocks of LAT_BLOCK messages from one paced sender thread, so that
 * whatever else the machine does (another tenant, an interrupt storm)
 * falls on both alike. Each has its own receiver thread, blocked in its
 * own wait between messages, as an application would be. */
#define LAT_BLOCK 2000u

struct lat_side {
  unsigned port;
  atomic_int rx_ready;
  uint64_t *samples; /* one-way latency, ns, in message order (shared mapping) */
  uint64_t nsamples, sent, bad;
};

struct lat {
  struct lat_side side[2]; /* 0: raw UDP, 1: libsmart */
  atomic_int tx_done;
  struct smart_stats tx_st;
  struct smart_stats rx_st; /* the libsmart receiver's, for its manifests */
};

static void lat_record(struct lat_side *t, const uint8_t *p, size_t len, uint64_t now,
                       uint64_t *expect) {
  if (len != LAT_SIZE) {
    t->bad++;
    return;
  }
  uint64_t seq = get64(p), ts = get64(p + 8);
  if (seq != *expect)
    t->bad++;
  *expect = seq + 1;
  if (seq >= LAT_WARMUP && t->nsamples < LAT_COUNT)
    t->samples[t->nsamples++] = now - ts;
}

static void *raw_lat_rx(void *arg) {
  struct lat *l = arg;
  struct lat_side *t = &l->side[0];
  int fd = raw_rx_socket(t->port);
  static uint8_t bufs[BATCH][2048];
  struct mmsghdr m[BATCH];
  struct iovec iov[BATCH];
  uint64_t expect = 0;
  atomic_store(&t->rx_ready, 1);
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 50) == 0) {
      if (atomic_load(&l->tx_done))
        break;
      continue;
    }
    for (unsigned i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = sizeof(bufs[i]);
      memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
      m[i].msg_hdr.msg_iov = &iov[i];
      m[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
    uint64_t now = now_ns();
    for (int i = 0; i < n; i++)
      lat_record(t, bufs[i], m[i].msg_len, now, &expect);
  }
  close(fd);
  return NULL;
}

static void *smart_lat_rx(void *arg) {
  struct lat *l = arg;
  struct lat_side *t = &l->side[1];
  smart_sock *s = smart_socket(t->port, 50);
  static uint8_t buf[2048];
  struct smart_msginfo info;
  uint64_t expect = 0;
  atomic_store(&t->rx_ready, 1);
  for (;;) {
    info.size = sizeof(info);
    smart_ssize n = smart_recv(s, buf, sizeof(buf), &info, 0);
    if (n >= 0) {
      lat_record(t, buf, (size_t)n, now_ns(), &expect);
      continue;
    }
    if (n != SMART_EAGAIN) {
      t->bad++;
      if (n != SMART_ELOST)
        break;
      continue;
    }
    if (atomic_load(&l->tx_done))
      break;
  }
  l->rx_st = smart_get_stats(s);
  smart_close(s);
  return NULL;
}

/* The paced sender: one message every 1/LAT_RATE seconds, LAT_BLOCK to raw
 * UDP, then LAT_BLOCK through libsmart, and so on. */
static void lat_tx(struct lat *l) {
  smart_sock *s = smart_socket(l->side[1].port, -1);
  int fd = raw_tx_socket();
  struct sockaddr_in g = group_addr(l->side[0].port);
  uint8_t buf[LAT_SIZE];
  memset(buf, 'l', sizeof(buf));
  /* Pace precisely: without this, sleeps end up to 50 us late. */
  prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  uint64_t period = (uint64_t)(1e9 / LAT_RATE), start = now_ns() + 1000000u;
  uint64_t total = 2 * (LAT_WARMUP + LAT_COUNT);
  for (uint64_t i = 0; i < total; i++) {
    struct lat_side *t = &l->side[(i / LAT_BLOCK) % 2];
    sleep_until(start + i * period);
    put64(buf, t->sent);
    put64(buf + 8, now_ns());
    if (t == &l->side[1]) {
      smart_ssize r = smart_send(s, buf, sizeof(buf), 0);
      if (r < 0)
        die("smart_send: %s", smart_strerror((int)r));
    } else if (sendto(fd, buf, sizeof(buf), 0, (struct sockaddr *)&g, sizeof(g)) < 0) {
      die("sendto: %s", strerror(errno));
    }
    t->sent++;
  }
  smart_flush(s, 1000);
  l->tx_st = smart_get_stats(s);
  smart_close(s);
  close(fd);
  sleep_s(0.05);
  atomic_store(&l->tx_done, 1);
}

struct lat_result {
  double p50_us, p99_us, p999_us, max_us;
};

static struct lat_result lat_report(struct lat_side *t, int smart) {
  struct lat_result r = {0, 0, 0, 0};
  uint64_t n = t->nsamples;
  const char *name = smart ? "libsmart" : "raw UDP";
  if (n) {
    qsort(t->samples, n, sizeof(*t->samples), cmp_u64);
    r.p50_us = (double)t->samples[n / 2] / 1e3;
    r.p99_us = (double)t->samples[n * 99 / 100] / 1e3;
    r.p999_us = (double)t->samples[n * 999 / 1000] / 1e3;
    r.max_us = (double)t->samples[n - 1] / 1e3;
  }
  printf("%-8s latency at %.0f msgs/s, %u B: p50=%.1f us p99=%.1f us (p99.9=%.1f us, "
         "max=%.1f us, %llu samples)\n",
         name, LAT_RATE, LAT_SIZE, r.p50_us, r.p99_us, r.p999_us, r.max_us,
         (unsigned long long)n);
  if (n != LAT_COUNT || t->bad)
    printf("WARNING: %s latency: %llu of %u samples, %llu lost or out of order\n", name,
           (unsigned long long)n, LAT_COUNT, (unsigned long long)t->bad);
  return r;
}

static const char *sec_name(void) {
  return sec_mode == SEC_SAUTH ? "group key + source authentication"
         : sec_mode == SEC_KEY ? "group key"
                               : "plain";
}

/* Both latencies, measured together: res[0] raw UDP, res[1] libsmart, in
 * the security mode of the moment (sec_mode). The receivers run in a child
 * process (a thread each), the sender in this one; the samples come back
 * through a shared mapping. */
static void run_lat(struct lat_result res[2]) {
  size_t bytes = sizeof(struct lat) + 2 * (size_t)LAT_COUNT * sizeof(uint64_t);
  void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED)
    die("mmap: %s", strerror(errno));
  memset(mem, 0, bytes);
  struct lat *l = mem;
  uint64_t *samples = (uint64_t *)(l + 1);
  for (int k = 0; k < 2; k++) {
    l->side[k].port = next_port++;
    l->side[k].samples = samples + (size_t)k * LAT_COUNT;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0)
    die("fork: %s", strerror(errno));
  if (pid == 0) { /* the receivers' process */
    prctl(PR_SET_NAME, "bench-rxproc", 0UL, 0UL, 0UL);
    pthread_t rx[2];
    start_thread(&rx[0], raw_lat_rx, l, "bench-rx-raw");
    start_thread(&rx[1], smart_lat_rx, l, "bench-rx");
    pthread_join(rx[0], NULL);
    pthread_join(rx[1], NULL);
    fflush(stdout);
    _exit(0);
  }
  uint64_t give_up = now_ns() + 10000000000u;
  while (!atomic_load(&l->side[0].rx_ready) || !atomic_load(&l->side[1].rx_ready)) {
    if (now_ns() > give_up || waitpid(pid, NULL, WNOHANG) == pid)
      die("the latency receivers did not start");
    sleep_s(0.001);
  }
  sleep_s(0.05); /* both joined */
  lat_tx(l);
  int st = 0;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    printf("WARNING: latency: the receivers' process failed (status %d)\n", st);
  printf("latency (%s): raw UDP and libsmart interleaved in blocks of %u messages, %.1f s in "
         "all, receivers in another process\n",
         sec_name(), LAT_BLOCK, 2.0 * (LAT_WARMUP + LAT_COUNT) / LAT_RATE);
  res[0] = lat_report(&l->side[0], 0);
  res[1] = lat_report(&l->side[1], 1);
  if (l->tx_st.dgrams_sent)
    printf("         sender: %llu messages in %llu datagrams (heartbeats included)\n",
           (unsigned long long)l->tx_st.msgs_sent, (unsigned long long)l->tx_st.dgrams_sent);
  if (l->tx_st.manifests_sent)
    printf("         manifests: %llu sent, %llu verified by the receiver (the others covered by "
           "later ones it verified)\n",
           (unsigned long long)l->tx_st.manifests_sent,
           (unsigned long long)l->rx_st.manifests_verified);
  printf("latency %s: p50 %+.1f us, p99 %+.1f us, p99.9 %+.1f us (libsmart - raw)\n",
         sec_mode == SEC_SAUTH ? "sauth" : sec_mode == SEC_KEY ? "key" : "plain",
         res[1].p50_us - res[0].p50_us, res[1].p99_us - res[0].p99_us,
         res[1].p999_us - res[0].p999_us);
  fflush(stdout);
  munmap(mem, bytes);
}

/* The latency run of one security mode. */
static struct lat_result lat_mode(int mode) {
  struct lat_result lr[2];
  int saved = sec_mode;
  uint32_t saved_ms = sauth_ms;
  sec_mode = mode;
  sauth_ms = 1;
  run_lat(lr);
  sec_mode = saved;
  sauth_ms = saved_ms;
  return lr[1];
}

static void make_keys(void) {
  smart_crypto_sodium()->random(group_key, sizeof(group_key), NULL);
  smart_check(smart_identity_keypair(sender_pk, sender_sk), "smart_identity_keypair");
}

/* ---- main --------------------------------------------------------------- */

#define USAGE                                                                                \
  "usage: smart-bench [--cc on|off] [--only raw64|raw1400|smart64|smart1400|secure1400|"     \
  "sauth1400|gcm1400|chacha1400|latency|latency-key|latency-sauth]\n"

int main(int argc, char **argv) {
  /* For profiling one part: --only TEST; --cc on|off for every libsmart socket */
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--only") && i + 1 < argc) {
      only = argv[++i];
    } else if (!strcmp(argv[i], "--cc") && i + 1 < argc &&
               (!strcmp(argv[i + 1], "on") || !strcmp(argv[i + 1], "off"))) {
      cc_opt = !strcmp(argv[++i], "on") ? (int)SMART_CC_ON : (int)SMART_CC_OFF;
    } else {
      fputs(USAGE, stderr);
      return 2;
    }
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* A group and ports of our own, so that concurrent runs do not meet. */
  unsigned id = (unsigned)getpid() ^ (unsigned)(now_ns() >> 10);
  snprintf(group_ip, sizeof(group_ip), "239.255.%u.%u", 1 + (id >> 8) % 250, 1 + id % 250);
  next_port = 20000 + (id >> 4) % 40000;

  printf("smart-bench: libsmart %s, loopback multicast: group %s, ports %u-%u, "
         "interface " IFACE ", TTL 0\n",
         smart_version(), group_ip, next_port, next_port + 5);
  printf("libsmart options: reliability on, no security, GRTT %u us, window %u "
         "datagrams, MTU default, congestion control %s; blocking smart_send/smart_recv\n",
         SMART_GRTT_US, SMART_WINDOW,
         cc_opt < 0 ? "default (on)" : cc_opt ? "on" : "off");
  printf("security runs: group key (the default cipher on every datagram, unless the test "
         "names one); source authentication: one Ed25519-signed manifest every %u datagrams "
         "or 10 ms (1 ms in the latency runs)\n",
         SAUTH_EVERY);
  printf("throughput: delivered to the receiving application over %.1f s after "
         "%.1f s warm-up; MB = 10^6 payload bytes\n",
         THRU_S, WARMUP_S);
  if (only) {
    if (!strcmp(only, "raw64"))
      run_thru(0, 64);
    else if (!strcmp(only, "raw1400"))
      run_thru(0, 1400);
    else if (!strcmp(only, "smart64"))
      run_thru(1, 64);
    else if (!strcmp(only, "smart1400"))
      run_thru(1, 1400);
    else if (!strcmp(only, "secure1400") || !strcmp(only, "sauth1400") ||
             !strcmp(only, "gcm1400") || !strcmp(only, "chacha1400")) {
      if (!strcmp(only, "gcm1400"))
        sec_cipher = SMART_CIPHER_AES256GCM;
      if (!strcmp(only, "chacha1400"))
        sec_cipher = SMART_CIPHER_XCHACHA20POLY1305;
      make_keys();
      sec_mode = !strcmp(only, "sauth1400") ? SEC_SAUTH : SEC_KEY;
      run_thru(1, 1400);
    } else if (!strcmp(only, "latency") || !strcmp(only, "latency-key") ||
               !strcmp(only, "latency-sauth")) {
      make_keys();
      lat_mode(!strcmp(only, "latency")       ? SEC_NONE
               : !strcmp(only, "latency-key") ? SEC_KEY
                                              : SEC_SAUTH);
    } else {
      fprintf(stderr, "smart-bench: unknown test %s\n", only);
      return 2;
    }
    return 0;
  }

  double busy0 = machine_busy_s(), self0 = self_cpu_s(), wall0 = secs(now_ns());
  double raw64 = run_thru(0, 64);
  double raw1400 = run_thru(0, 1400);
  double sm64 = run_thru(1, 64);
  double sm1400 = run_thru(1, 1400);
  /* Security (smart-security(7)): a group key; then also source
   * authentication by signed manifests. */
  make_keys();
  sec_mode = SEC_KEY;
  double sec1400 = run_thru(1, 1400);
  sec_mode = SEC_SAUTH;
  double sa1400 = run_thru(1, 1400);
  sec_mode = SEC_NONE;
  /* Latency: plain, encrypted, source-authenticated (receivers in another
   * process). */
  lat_mode(SEC_NONE);
  lat_mode(SEC_KEY);
  lat_mode(SEC_SAUTH);
  double other = machine_busy_s() - busy0 - (self_cpu_s() - self0), wall = secs(now_ns()) - wall0;
  if (busy0 >= 0) {
    printf("other programs used %.0f%% of one CPU during the run%s\n",
           other > 0 ? 100 * other / wall : 0.0,
           other / wall > 0.05 ? " (WARNING: figures disturbed; rerun on a quiet machine)" : "");
  }

  double raw_mb = raw1400 * 1400 / 1e6, sm_mb = sm1400 * 1400 / 1e6;
  printf("size=64 raw_msgs_s=%.0f smart_msgs_s=%.0f ratio=%.2f\n", raw64, sm64,
         raw64 > 0 ? sm64 / raw64 : 0.0);
  printf("size=1400 raw_MB_s=%.1f smart_MB_s=%.1f ratio=%.2f\n", raw_mb, sm_mb,
         raw_mb > 0 ? sm_mb / raw_mb : 0.0);
  /* Security: encrypted (group key), and source-authenticated (the last
   * line is the encrypted one). */
  double sec_mb = sec1400 * 1400 / 1e6, sa_mb = sa1400 * 1400 / 1e6;
  printf("size=1400 sauth_MB_s=%.1f plain_MB_s=%.1f ratio=%.2f\n", sa_mb, sm_mb,
         sm_mb > 0 ? sa_mb / sm_mb : 0.0);
  printf("size=1400 secure_MB_s=%.1f plain_MB_s=%.1f ratio=%.2f\n", sec_mb, sm_mb,
         sm_mb > 0 ? sec_mb / sm_mb : 0.0);
  return 0;
}
