/*
 * smart-filerun: a file through the API at the library's defaults, as a new
 * user would send it: one sender process and three receiver processes on
 * loopback multicast, the last receiver dropping a share of what arrives
 * (SMART_OPT_DROP_PPM). The sender sends the file in 64 KiB messages and
 * calls smart_flush(); each receiver checks that it got every byte, in
 * order, identical (a 64-bit FNV-1a digest of the whole file), and says
 * how it ended. Prints one line per run and a summary; exit 0 only when
 * every receiver of every run was complete and identical.
 *
 *   smart-filerun [--mb 256] [--drop-ppm 100000] [--runs 1] [--group G:P]
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

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001B3ull;
  }
  return h;
}

static int receiver(const char *group, uint64_t total, uint64_t want, uint32_t drop) {
  smart_sock *s;
  if (smart_open(&s, 0))
    return 3;
  smart_setopt(s, SMART_OPT_DROP_PPM, &drop, sizeof(drop));
  int32_t to = 30000;
  smart_setopt(s, SMART_OPT_RCVTIMEO_MS, &to, sizeof(to));
  if (smart_join(s, group, "127.0.0.1", NULL, 0))
    return 3;
  static uint8_t buf[CHUNK];
  uint64_t got = 0, h = 0xCBF29CE484222325ull;
  int rc = 0;
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
    h = fnv(h, buf, (size_t)n);
    got += (uint64_t)n;
  }
  if (rc == 0 && (got != total || h != want))
    rc = 4;
  smart_close(s);
  return rc;
}

int main(int argc, char **argv) {
  uint64_t mb = 256;
  uint32_t drop = 100000;
  int runs = 1;
  const char *group = "239.255.91.1:9100";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--mb"))
      mb = strtoull(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--drop-ppm"))
      drop = (uint32_t)strtoul(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--runs"))
      runs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--group"))
      group = argv[i + 1];
    else {
      fprintf(stderr, "usage: smart-filerun [--mb N] [--drop-ppm P] [--runs R] [--group G:P]\n");
      return 2;
    }
  }
  uint64_t total = mb << 20;
  static uint8_t chunk[CHUNK];
  uint64_t want = 0xCBF29CE484222325ull;
  for (uint64_t off = 0; off < total; off += CHUNK) {
    size_t n = total - off < CHUNK ? (size_t)(total - off) : CHUNK;
    fill(chunk, n, off);
    want = fnv(want, chunk, n);
  }
  int good_runs = 0;
  for (int r = 0; r < runs; r++) {
    pid_t pid[NRECV];
    for (int k = 0; k < NRECV; k++) {
      pid[k] = fork();
      if (pid[k] == 0)
        _exit(receiver(group, total, want, k == NRECV - 1 ? drop : 0));
    }
    usleep(300000); /* the receivers join first */
    smart_sock *s;
    if (smart_open(&s, 0) || smart_join(s, group, "127.0.0.1", NULL, 0)) {
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
    int fr = smart_flush(s, 60000);
    double t1 = now_s();
    struct smart_stats st = {.size = sizeof(st)};
    smart_stats(s, &st);
    smart_close(s);
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
           r + 1, (unsigned long long)mb, t1 - t0, (double)total / (t1 - t0) / 1e6,
           smart_strerror(fr), ok, NRECV, what, (unsigned long long)st.repairs_sent);
    fflush(stdout);
    good_runs += ok == NRECV;
  }
  printf("smart-filerun: %d of %d runs complete at every receiver (%llu MB, one receiver dropping "
         "%u ppm)\n",
         good_runs, runs, (unsigned long long)mb, drop);
  return good_runs == runs ? 0 : 1;
}
