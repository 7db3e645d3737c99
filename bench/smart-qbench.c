/*
 * smart-qbench: the sender's message queue alone. One engine, no network,
 * no receiver, no clock of its own: it is handed messages and asked for
 * datagrams, as the socket does, and the CPU time of the process is
 * measured per message.
 *
 *   smart-qbench [--size BYTES] [--bound BYTES] [--seconds S]
 *
 * Two runs, each for about S seconds of CPU (default 1):
 *
 *   full   the queue is filled to its bound first, then kept there: every
 *          message waits for one datagram to leave (SMART_EAGAIN, then
 *          room), as for a blocking smart_send() that outruns the network;
 *   short  every message leaves in the next datagram (the queue holds one).
 *
 * --size is the message length (default 1,400 bytes, one datagram each with
 * the default 1,408-byte datagram), --bound the queue's bound in bytes
 * (default: the engine's). The window always has room (GRTT 1 us, time
 * advancing 1 ms per datagram), so only the queue and the datagram copy are
 * measured. The peak memory the engine held is printed too. It prints
 * figures and never fails on them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"

static size_t mem_now, mem_peak;

static void *b_malloc(size_t n, void *u) {
  (void)u;
  size_t *p = malloc(n + 16);
  if (!p)
    return NULL;
  *p = n;
  mem_now += n;
  if (mem_now > mem_peak)
    mem_peak = mem_now;
  return (char *)p + 16;
}
static void b_free(void *q, void *u) {
  (void)u;
  if (!q)
    return;
  size_t *p = (size_t *)(void *)((char *)q - 16);
  mem_now -= *p;
  free(p);
}
static void *b_calloc(size_t a, size_t b, void *u) {
  void *q = b_malloc(a * b, u);
  if (q)
    memset(q, 0, a * b);
  return q;
}
static void *b_realloc(void *q, size_t n, void *u) {
  if (!q)
    return b_malloc(n, u);
  size_t *p = (size_t *)(void *)((char *)q - 16), old = *p;
  size_t *np = realloc(p, n + 16);
  if (!np)
    return NULL;
  *np = n;
  mem_now = mem_now - old + n;
  if (mem_now > mem_peak)
    mem_peak = mem_now;
  return (char *)np + 16;
}

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc) {
  fprintf(stderr, "smart-qbench: %s: %d\n", what, rc);
  exit(1);
}

/* One datagram out; 0 if none was due. */
static smart_ssize send_one(struct smart__engine *e, uint64_t *now) {
  static uint8_t out[65536];
  struct smart__dst dst;
  *now += 1000000; /* 1 ms: the window's oldest datagram may always go */
  smart_ssize n = smart__engine_send(e, out, sizeof(out), &dst, *now);
  if (n < 0)
    die("smart__engine_send", (int)n);
  return n;
}

static void run(const struct smart__engine_config *c, size_t size, int full, double seconds) {
  struct smart__engine *e;
  mem_now = mem_peak = 0;
  int rc = smart__engine_new(&e, c);
  if (rc)
    die("smart__engine_new", rc);
  uint8_t *msg = malloc(size);
  if (!msg)
    die("malloc", 0);
  memset(msg, 'q', size);
  uint64_t now = 1000000, n = 0, prefill = 0;
  if (full) {
    while ((rc = smart__engine_submit(e, msg, size, now)) == 0)
      prefill++;
    if (rc != SMART_EAGAIN)
      die("smart__engine_submit", rc);
  }
  double t0 = cpu_s();
  for (;;) {
    while ((rc = smart__engine_submit(e, msg, size, now)) == SMART_EAGAIN)
      if (send_one(e, &now) == 0)
        die("no progress", 0);
    if (rc)
      die("smart__engine_submit", rc);
    if (!full)
      while (smart__engine_tx_queued(e))
        send_one(e, &now);
    n++;
    /* The clock is a system call: read it every 256 messages (every
     * message while they are few, in case each is slow). */
    if (n < 256 || (n & 255) == 0) {
      if (cpu_s() - t0 >= seconds)
        break;
    }
  }
  double dt = cpu_s() - t0;
  printf("%-5s queue: %8.3f us CPU per %zu-byte message (%llu messages in %.2f s CPU",
         full ? "full" : "short", dt * 1e6 / (double)n, size, (unsigned long long)n, dt);
  if (full)
    printf(", %llu queued first", (unsigned long long)prefill);
  printf("); engine memory at most %.1f MiB\n", (double)mem_peak / (1 << 20));
  free(msg);
  smart__engine_del(e);
}

int main(int argc, char **argv) {
  size_t size = 1400;
  double seconds = 1.0;
  unsigned long long bound = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--size"))
      size = strtoull(argv[i + 1], NULL, 0);
    else if (!strcmp(argv[i], "--bound"))
      bound = strtoull(argv[i + 1], NULL, 0);
    else if (!strcmp(argv[i], "--seconds"))
      seconds = strtod(argv[i + 1], NULL);
    else
      argc = 0;
  }
  if (argc % 2 == 0 || size == 0) {
    fprintf(stderr, "usage: smart-qbench [--size BYTES] [--bound BYTES] [--seconds S]\n");
    return 2;
  }
  struct smart__mem hooks = {NULL, b_malloc, b_free, b_calloc, b_realloc};
  struct smart__engine_config c;
  smart__engine_config_init(&c);
  c.window = SMART__MAX_SPAN;
  c.grtt_us = 1;
  c.mem = &hooks;
  if (bound)
    c.sndbuf = bound;
  printf("smart-qbench: send queue bound %llu bytes, %zu-byte messages\n",
         (unsigned long long)c.sndbuf, size);
  run(&c, size, 1, seconds);
  run(&c, size, 0, seconds);
  return 0;
}
