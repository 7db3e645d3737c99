/*
 * smart-filerun: a file through the API at the library's defaults, as a new
 * user would send it: one sender process and three receiver processes on
 * loopback multicast, the last receiver dropping a share of what arrives
 * (SMART_OPT_DROP_PPM). The sender sends the file in 64 KiB messages and
 * calls smart_flush(); each receiver checks that it got every byte, in
 * order, identical (compared with the generator's bytes as they arrive),
 * and says how it ended. Prints one line per run and a summary; exit 0 only when
 * every receiver of every run was complete and identical.
 *
 *   smart-filerun [--mb 256] [--drop-ppm 100000] [--runs 1] [--group G:P]
 *   smart-filerun --recv IFACE [--mb 256] [--group G:P]
 *   smart-filerun --send IFACE [--mb 256] [--group G:P]
 *
 * --recv and --send run one side only, on the interface with that address,
 * for a receiver and a sender in hosts (or network namespaces) of their
 * own: tests/netns-file.sh. The receiver exits 0 when it got the file
 * complete and identical; the sender when its flush saw every receiver
 * hold everything.
 *
 * A benchmark, not a test: it prints figures and asserts no timing.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <smart/smart.h>

#define CHUNK 65536u
#define NRECV 3

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The file's bytes: a fixed pseudo-random stream. */
static void fill(uint8_t *b, size_t n, uint64_t off) {
  uint64_t x = 0x9E3779B97F4A7C15ull ^ (off / 8);
  for (size_t i = 0; i < n; i++) {
    if (((off + i) & 7) == 0 || i == 0) {
      x = ((off + i) / 8) * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
      x ^= x >> 31;
      x *= 0xBF58476D1CE4E5B9ull;
      x ^= x >> 27;
    }
    b[i] = (uint8_t)(x >> (8 * ((off + i) & 7)));
  }
}


/* Receive the file; every byte is compared with what the sender's fill()
 * made at that offset, as it arrives (nothing to compute before joining:
 * a receiver must be listening when the sender starts). */
static int receiver(const char *group, const char *iface, uint64_t total, uint32_t drop) {
  smart_sock *s;
  if (smart_open(&s, 0))
    return 3;
  smart_setopt(s, SMART_OPT_DROP_PPM, &drop, sizeof(drop));
  int32_t to = 30000;
  smart_setopt(s, SMART_OPT_RCVTIMEO_MS, &to, sizeof(to));
  if (smart_join(s, group, iface, NULL, 0))
    return 3;
  static uint8_t buf[CHUNK], ref[CHUNK];
  uint64_t got = 0;
  int rc = 0, differ = 0;
  while (got < total) {
    struct smart_msginfo in = {.size = sizeof(in)};
    smart_ssize n = smart_recv(s, buf, sizeof(buf), &in, 0);
    if (n == SMART_ELOST) {
      fprintf(stderr, "  receiver (drop %u ppm): SMART_ELOST %llu datagram(s) at %llu\n", drop,
              (unsigned long long)in.count, (unsigned long long)in.seq);
      rc = 1;
      break;
    }
    if (n < 0) {
      fprintf(stderr, "  receiver (drop %u ppm): %s after %llu bytes\n", drop,
              smart_strerror((int)n), (unsigned long long)got);
      rc = 2;
      break;
    }
    if (got + (uint64_t)n > total) {
      differ = 1;
      break;
    }
    fill(ref, (size_t)n, got);
    differ |= memcmp(buf, ref, (size_t)n) != 0;
    got += (uint64_t)n;
  }
  if (rc == 0 && (got != total || differ))
    rc = 4;
  struct smart_stats st = {.size = sizeof(st)};
  smart_stats(s, &st);
  fprintf(stderr,
          "  receiver on %s: %llu of %llu bytes, %s; %llu datagrams, %llu requests sent, "
          "%llu gaps repaired, %llu lost\n",
          iface, (unsigned long long)got, (unsigned long long)total,
          rc == 0 ? "complete and identical" : rc == 4 ? "DIFFERENT" : "INCOMPLETE",
          (unsigned long long)st.dgrams_received, (unsigned long long)st.naks_sent,
          (unsigned long long)st.losses_recovered, (unsigned long long)st.losses_unrecoverable);
  smart_close(s);
  return rc;
}

/* Send the file once; 0 when the flush saw every receiver complete. */
static int sender(const char *group, const char *iface, uint64_t total, double *secs,
                  struct smart_stats *st, int *flush_rc) {
  static uint8_t chunk[CHUNK];
  smart_sock *s;
  if (smart_open(&s, 0) || smart_join(s, group, iface, NULL, 0)) {
    fprintf(stderr, "smart-filerun: cannot open the sender\n");
    return 3;
  }
  double t0 = now_s();
  for (uint64_t off = 0; off < total; off += CHUNK) {
    size_t n = total - off < CHUNK ? (size_t)(total - off) : CHUNK;
    fill(chunk, n, off);
    smart_ssize w = smart_send(s, chunk, n, 0);
    if (w != (smart_ssize)n) {
      fprintf(stderr, "smart-filerun: send: %s\n", smart_strerror((int)w));
      return 3;
    }
  }
  *flush_rc = smart_flush(s, 60000);
  *secs = now_s() - t0;
  st->size = sizeof(*st);
  smart_stats(s, st);
  smart_close(s);
  return *flush_rc == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  uint64_t mb = 256;
  uint32_t drop = 100000;
  int runs = 1, drop_set = 0;
  const char *group = "239.255.91.1:9100", *recv_if = NULL, *send_if = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--mb"))
      mb = strtoull(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--drop-ppm"))
      drop = (uint32_t)strtoul(argv[i + 1], NULL, 10), drop_set = 1;
    else if (!strcmp(argv[i], "--runs"))
      runs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--group"))
      group = argv[i + 1];
    else if (!strcmp(argv[i], "--recv"))
      recv_if = argv[i + 1];
    else if (!strcmp(argv[i], "--send"))
      send_if = argv[i + 1];
    else {
      fprintf(stderr, "usage: smart-filerun [--mb N] [--drop-ppm P] [--runs R] [--group G:P]\n"
                      "       smart-filerun --recv IFACE | --send IFACE [--mb N] [--group G:P]\n");
      return 2;
    }
  }
  if (argc % 2 == 0 || mb == 0 || mb > 65536) {
    fprintf(stderr, "smart-filerun: options come in pairs; --mb is 1 to 65536\n");
    return 2;
  }
  uint64_t total = mb << 20;
  if (send_if) { /* one sender in a host of its own */
    double secs = 0;
    struct smart_stats st;
    int fr = 0, rc = sender(group, send_if, total, &secs, &st, &fr);
    printf("sender: %llu MB in %.2f s (%.1f MB/s) flush=%s, repairs sent %llu, window peak "
           "%llu\n",
           (unsigned long long)mb, secs, (double)total / secs / 1e6, smart_strerror(fr),
           (unsigned long long)st.repairs_sent, (unsigned long long)st.window_peak);
    return rc;
  }
  if (recv_if)
    return receiver(group, recv_if, total, drop_set ? drop : 0); /* none unless asked */
  int good_runs = 0;
  for (int r = 0; r < runs; r++) {
    pid_t pid[NRECV];
    for (int k = 0; k < NRECV; k++) {
      pid[k] = fork();
      if (pid[k] == 0)
        _exit(receiver(group, "127.0.0.1", total, k == NRECV - 1 ? drop : 0));
    }
    usleep(300000); /* the receivers join first */
    double secs = 0;
    struct smart_stats st;
    int fr = 0;
    if (sender(group, "127.0.0.1", total, &secs, &st, &fr) == 3)
      return 3;
    int ok = 0;
    char what[64] = "";
    for (int k = 0; k < NRECV; k++) {
      int status = 0;
      waitpid(pid[k], &status, 0);
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : 9;
      ok += code == 0;
      size_t l = strlen(what);
      snprintf(what + l, sizeof(what) - l, "%s%d", k ? "," : "", code);
    }
    printf("run %d: %llu MB in %.2f s (%.1f MB/s) flush=%s, receivers complete and identical: "
           "%d of %d (exit codes %s), repairs sent %llu\n",
           r + 1, (unsigned long long)mb, secs, (double)total / secs / 1e6,
           smart_strerror(fr), ok, NRECV, what, (unsigned long long)st.repairs_sent);
    fflush(stdout);
    good_runs += ok == NRECV;
  }
  printf("smart-filerun: %d of %d runs complete at every receiver (%llu MB, one receiver dropping "
         "%u ppm)\n",
         good_runs, runs, (unsigned long long)mb, drop);
  return good_runs == runs ? 0 : 1;
}
