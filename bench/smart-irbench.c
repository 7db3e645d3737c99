/*
 * smart-irbench: a sender and a receiver socket in one thread, both
 * non-blocking, on loopback multicast (127.0.0.1, TTL 0), congestion
 * control off (unless IRBENCH_CC), GRTT 1 ms, window 16,384: the sender queues BURST messages
 * of SIZE bytes with smart_send() and processes its socket, the receiver
 * takes what has arrived, until COUNT messages were delivered. It prints
 * nothing but the counts: it is meant to run under valgrind --tool=callgrind,
 * where the instructions of smart_send and smart_recv over COUNT are the CPU
 * per message (bench/RESULTS.md "Performance"), free of what else the
 * machine runs.
 *
 *   smart-irbench [SIZE [COUNT]]     (defaults 1400 and 20000)
 *   env IRBENCH_BURST (64), IRBENCH_KEY=1: a group key (both ends),
 *   IRBENCH_CC=1: congestion control on
 *
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out bench/smart-irbench 1400 20000
 *   callgrind_annotate --inclusive=yes cg.out | grep -E 'smart_send |smart_recv '
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <smart/smart.h>

static smart_sock *mk(const char *group) {
  smart_sock *s;
  int32_t ttl = 0;
  uint32_t grtt = 1000, window = 16384, cc = getenv("IRBENCH_CC") ? SMART_CC_ON : SMART_CC_OFF;
  if (smart_open(&s, SMART_OPEN_NONBLOCK) != 0)
    exit(1);
  smart_setopt(s, SMART_OPT_TTL, &ttl, sizeof(ttl));
  smart_setopt(s, SMART_OPT_GRTT_US, &grtt, sizeof(grtt));
  smart_setopt(s, SMART_OPT_WINDOW, &window, sizeof(window));
  smart_setopt(s, SMART_OPT_CC, &cc, sizeof(cc));
  if (getenv("IRBENCH_KEY")) {
    uint8_t key[32];
    memset(key, 7, sizeof(key));
    smart_setopt(s, SMART_OPT_GROUP_KEY, key, sizeof(key));
  }
  int rc = smart_join(s, group, "127.0.0.1", NULL, 0);
  if (rc) {
    fprintf(stderr, "smart-irbench: join %s: %s\n", group, smart_strerror(rc));
    exit(1);
  }
  return s;
}

int main(int argc, char **argv) {
  size_t size = argc > 1 ? (size_t)atoi(argv[1]) : 1400;
  long count = argc > 2 ? atol(argv[2]) : 20000;
  int burst = getenv("IRBENCH_BURST") ? atoi(getenv("IRBENCH_BURST")) : 64;
  if (size < 1 || size > 65536 || count < 1 || burst < 1) {
    fprintf(stderr, "usage: smart-irbench [SIZE [COUNT]]\n");
    return 2;
  }
  char group[64];
  snprintf(group, sizeof(group), "239.255.78.%d:%d", 1 + (int)(getpid() % 200),
           31000 + (int)(getpid() % 20000));
  smart_sock *tx = mk(group), *rx = mk(group);
  static char buf[65536];
  memset(buf, 3, sizeof(buf));
  long sent = 0, got = 0;
  while (got < count) {
    for (int i = 0; i < burst && sent < count; i++) {
      smart_ssize r = smart_send(tx, buf, size, 0);
      if (r == SMART_EAGAIN)
        break;
      if (r < 0) {
        fprintf(stderr, "smart-irbench: smart_send: %s\n", smart_strerror((int)r));
        return 1;
      }
      sent++;
    }
    smart_process(tx, 0);
    while (smart_recv(rx, buf, sizeof(buf), NULL, SMART_MSG_DONTWAIT) >= 0)
      got++;
    if (sent >= count)
      usleep(100);
  }
  printf("smart-irbench: %ld messages of %zu bytes sent, %ld delivered\n", sent, size, got);
  smart_close(tx);
  smart_close(rx);
  return 0;
}
