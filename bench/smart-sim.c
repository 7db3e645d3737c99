/*
 * smart-sim: run the reliability engine over the simulated network and
 * report how much feedback and repair a loss costs.
 *
 *   smart-sim --receivers N --loss P --messages M --seed S [--burst]
 *             [--shared Q] [--k K] [--grtt-ms G] [--interval-us I]
 *             [--fb-loss F] [--jitter-us J] [--size B]
 *
 * The last line is
 *   receivers=N loss=P messages=M complete=yes|no naks_per_loss=X
 *   repairs_per_loss=Y dup_deliveries=D sim_ms=T wall_ms=W
 * where a loss is one transmission of a data packet (original or repair)
 * missed by at least one receiver that still needed it, counted once
 * however many missed it; naks_per_loss = REPLACEMENT datagrams sent by all
 * receivers / losses; repairs_per_loss = repair datagrams / losses. The
 * line before it gives the same ratios per original sequence lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

static void usage(void) {
  fprintf(stderr,
          "usage: smart-sim --receivers N --loss P --messages M --seed S "
          "[--burst] [--shared Q]\n"
          "       [--k K] [--grtt-ms G] [--interval-us I] [--fb-loss F] "
          "[--jitter-us J] [--size B]\n"
          "       [--initial-seq Q] [--delay-ms MIN:MAX] [--window W]\n"
          "       [--delivery reliable|realtime] [--rate BYTES_PER_S]\n");
  exit(2);
}

static double num(const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end) {
    fprintf(stderr, "smart-sim: not a number: %s\n", s);
    exit(2);
  }
  return v;
}

static uint64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
  struct sim_config c;
  sim_config_init(&c);
  int have_n = 0, have_p = 0, have_m = 0, have_s = 0, burst = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--burst")) {
      burst = 1;
      continue;
    }
    if (i + 1 >= argc)
      usage();
    const char *v = argv[++i];
    if (!strcmp(a, "--receivers")) {
      c.receivers = (uint32_t)num(v);
      have_n = 1;
    } else if (!strcmp(a, "--loss")) {
      c.loss = num(v);
      have_p = 1;
    } else if (!strcmp(a, "--messages")) {
      c.messages = (uint32_t)num(v);
      have_m = 1;
    } else if (!strcmp(a, "--seed")) {
      c.seed = (uint64_t)num(v);
      have_s = 1;
    } else if (!strcmp(a, "--shared")) {
      c.shared = num(v);
    } else if (!strcmp(a, "--k")) {
      c.k = (uint8_t)num(v);
    } else if (!strcmp(a, "--grtt-ms")) {
      c.grtt_us = (uint32_t)(num(v) * 1000);
    } else if (!strcmp(a, "--interval-us")) {
      c.interval_ns = (uint64_t)(num(v) * 1000);
    } else if (!strcmp(a, "--fb-loss")) {
      c.fb_loss = num(v);
    } else if (!strcmp(a, "--jitter-us")) {
      c.jitter_ns = (uint64_t)(num(v) * 1000);
    } else if (!strcmp(a, "--initial-seq")) {
      c.initial_seq = (uint64_t)num(v);
    } else if (!strcmp(a, "--delay-ms")) {
      /* "MIN:MAX" one-way delays */
      char *colon = strchr(v, ':');
      if (!colon)
        usage();
      *colon = 0;
      c.delay_min_ns = (uint64_t)(num(v) * 1e6);
      c.delay_max_ns = (uint64_t)(num(colon + 1) * 1e6);
    } else if (!strcmp(a, "--window")) {
      c.window = (uint32_t)num(v);
    } else if (!strcmp(a, "--delivery")) {
      c.delivery = !strcmp(v, "realtime") ? 1 : 0;
    } else if (!strcmp(a, "--rate")) {
      c.rate = (uint64_t)num(v);
    } else if (!strcmp(a, "--size")) {
      c.msg_min = c.msg_max = (uint32_t)num(v);
    } else {
      usage();
    }
  }
  if (!have_n || !have_p || !have_m || !have_s || c.receivers == 0 ||
      c.messages == 0 || c.loss < 0 || c.loss >= 1 || c.shared < 0 ||
      c.shared >= 1 || c.msg_min < 8)
    usage();
  if (burst)
    c.burst_len = 10; /* mean burst of 10 packets, same average loss */

  uint64_t t0 = wall_ns();
  struct sim *s = sim_new(&c);
  if (!s) {
    fprintf(stderr, "smart-sim: cannot create the simulation\n");
    return 1;
  }
  int rc = sim_run(s);
  struct sim_totals t;
  sim_totals(s, &t);
  if (getenv("SMART_SIM_VERBOSE")) {
    for (uint32_t r = 1; r <= c.receivers; r++) {
      struct sim_rcv *rv = sim_receiver(s, r);
      if (rv->next_msg != c.messages || rv->errors || rv->loss_events)
        fprintf(stderr, "receiver %u: next=%llu errors=%llu loss_events=%llu"
                " lost_seqs=%llu\n", r, (unsigned long long)rv->next_msg,
                (unsigned long long)rv->errors,
                (unsigned long long)rv->loss_events,
                (unsigned long long)rv->lost_seqs);
    }
  }
  sim_free(s);
  uint64_t wall = (wall_ns() - t0) / 1000000;

  double l = t.losses ? (double)t.losses : 1;
  double sl = t.seq_losses ? (double)t.seq_losses : 1;
  printf("data=%llu repairs=%llu naks=%llu losses=%llu seq_losses=%llu "
         "naks_per_seq_loss=%.3f repairs_per_seq_loss=%.3f errors=%llu "
         "loss_events=%llu deliveries=%llu elided=%llu\n",
         (unsigned long long)t.data, (unsigned long long)t.repairs,
         (unsigned long long)t.naks, (unsigned long long)t.losses,
         (unsigned long long)t.seq_losses, (double)t.naks / sl,
         (double)t.repairs / sl, (unsigned long long)t.errors,
         (unsigned long long)t.loss_events,
         (unsigned long long)t.deliveries, (unsigned long long)t.elided);
  printf("receivers=%u loss=%g messages=%u complete=%s naks_per_loss=%.3f "
         "repairs_per_loss=%.3f dup_deliveries=%llu sim_ms=%llu wall_ms=%llu\n",
         c.receivers, c.loss, c.messages,
         (rc == 0 && t.complete) ? "yes" : "no",
         t.losses ? (double)t.naks / l : 0.0,
         t.losses ? (double)t.repairs / l : 0.0,
         (unsigned long long)t.dup_deliveries,
         (unsigned long long)(t.sim_ns / 1000000), (unsigned long long)wall);
  return rc == 0 && t.complete ? 0 : 1;
}
