/*
 * Deterministic network simulator: one sender and N receivers, each an
 * engine (lib/engine), in one process on a virtual clock.
 *
 * Topology: a star around the sender's router. Receiver i sits at one-way
 * delay d_i (drawn once in [delay_min, delay_max]) from it. A datagram from
 * the sender reaches receiver i after d_i + jitter; a request multicast by
 * receiver i reaches the sender after d_i and receiver j after
 * d_i + d_j + jitter. Loss: per receiver, independent (Bernoulli) or bursty
 * (Gilbert-Elliott with the same average), applied to everything a receiver
 * receives; shared upstream loss of sender datagrams (every receiver loses
 * them); loss of requests on the way to the sender; duplication. Jitter
 * reorders. One seed reproduces a run exactly: the simulator has its own
 * PRNG and the engines are seeded from it.
 *
 * Links (congestion): a shared upstream link that every datagram of the
 * senders crosses before the router, and a link of its own in front of
 * each of receivers 1..nlinked (every datagram to it crosses it), each with
 * a capacity (bytes per second) and a drop-tail queue (bytes, the one
 * being sent included): a datagram that does not fit is lost there. The
 * way back (receivers to senders) has no capacity limit. A second sender
 * (node receivers + 1) may share the group: both multicast to every
 * receiver through the upstream link, and receivers send each its STATUS.
 *
 * Messages: message k carries its index in its first 8 bytes and a pattern
 * derived from k after that; every receiver checks order, content and
 * duplicates of what its engine delivers, per sender (a message shorter
 * than 8 bytes is checked as the one expected next). A greedy sender keeps
 * `greedy` messages queued for as long as the run lasts.
 */
#ifndef SMART_TESTS_SIM_H
#define SMART_TESTS_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

struct sim;

/* A link: capacity and a drop-tail queue. rate 0: no limit. */
struct sim_link {
  uint64_t rate;  /* bytes per second */
  uint64_t queue; /* bytes it holds at most, the datagram being sent included */
};

struct sim_config {
  uint32_t receivers;
  uint32_t messages;
  uint64_t interval_ns;   /* between two messages submitted */
  uint32_t msg_min, msg_max; /* message size range (>= 8) */
  const uint32_t *sizes;  /* optional: exact size of message k (overrides) */

  double loss;            /* per receiver, per datagram */
  double burst_len;       /* > 1: Gilbert-Elliott with this mean burst */
  double shared;          /* upstream loss of sender datagrams */
  double fb_loss;         /* loss of a request on the way to the sender */
  double dup;             /* probability a datagram is duplicated */
  uint64_t delay_min_ns, delay_max_ns, jitter_ns;
  uint64_t tick_ns;       /* clock resolution */
  uint64_t seed;
  uint64_t max_sim_ns;    /* stop after this much simulated time */
  uint64_t tail_ns;       /* once complete, run on this long (idle) */

  /* Engine settings (sender's advertised values reach the receivers). */
  uint32_t grtt_us, gsize, window, max_dgram;
  uint8_t k, nak_retries, join_policy;
  const uint8_t *policies; /* optional: join policy of receiver r at [r] */
  uint64_t initial_seq;
  uint64_t rate;
  /* Delivery policy and positions (0 = the engine's defaults; status_ms
   * UINT32_MAX: receivers send no STATUS). */
  uint8_t delivery;
  uint32_t horizon_ms, evict_ms, status_ms, sender_timeout_ms;

  /* Congestion (0 = none): links, a second sender, greedy senders, and
   * the engines' congestion control. */
  struct sim_link upstream; /* every datagram of the senders */
  uint32_t nlinked;         /* receivers 1..nlinked each behind `link` */
  struct sim_link link;
  uint64_t link_delay_ns;   /* their one-way delay (0: drawn as the others) */
  uint32_t senders;         /* 1 (0 means 1) or 2 */
  uint64_t start2_ns;       /* the second sender starts then */
  uint32_t greedy;          /* keep this many messages queued (0: interval) */
  uint8_t cc;               /* the senders run congestion control */
  uint64_t cc_min_rate, cc_floor;

  /* Hooks (optional). user is passed back. */
  void *user;
  /* Return 1 to drop datagram dg on its way to receiver rcv (1..N). */
  int (*drop)(void *user, struct sim *s, uint32_t rcv, const uint8_t *dg,
              size_t len, uint64_t now);
  /* Every event any receiver's engine produces. */
  void (*on_event)(void *user, struct sim *s, uint32_t rcv,
                   const struct smart__event *ev);
  /* Every datagram a node (0 = sender, receivers + 1 = second sender)
   * transmits. */
  void (*on_tx)(void *user, struct sim *s, uint32_t node, const uint8_t *dg,
                size_t len, uint64_t now);
  /* Called once per tick boundary the simulator reaches at `now`
   * (for commands at given times); may be NULL. */
  void (*on_time)(void *user, struct sim *s, uint64_t now);
};

/* Defaults: 10 receivers, 1000 messages every 1 ms of 32 bytes, delays
 * 5..25 ms, jitter 0.5 ms, tick 10 us, GRTT 50 ms. */
void sim_config_init(struct sim_config *c);

struct sim_rcv {
  uint64_t join_ns;       /* datagrams before this time are not received */
  uint64_t down_from, down_until; /* receives nothing in [from, until) */
  uint64_t next_msg;      /* next message index expected */
  uint64_t delivered;     /* messages delivered */
  uint64_t dups;          /* messages delivered twice */
  uint64_t errors;        /* wrong content, or a gap without a loss event */
  uint64_t loss_events;
  uint64_t lost_seqs;
  uint8_t started;        /* delivered something yet */
  uint8_t allow_jump;     /* a loss event allows skipping messages */
};

struct sim_totals {
  uint64_t naks;          /* REPLACEMENT datagrams sent by receivers */
  uint64_t repairs;       /* repair datagrams sent */
  uint64_t data;          /* original data datagrams sent */
  uint64_t losses;        /* data transmissions (original or repair) missed
                             by at least one receiver that needed it */
  uint64_t seq_losses;    /* original sequences missed by >= 1 receiver */
  uint64_t dup_deliveries;
  uint64_t errors;
  uint64_t loss_events;
  uint64_t delivered;
  uint64_t deliveries;    /* datagram deliveries simulated */
  uint64_t elided;        /* deliveries skipped: they could not change the
                             receiver (a repair of a sequence it holds, a
                             request for sequences it holds) */
  uint64_t sim_ns;
  int complete;           /* every receiver delivered every message */
};

struct sim *sim_new(const struct sim_config *c);
void sim_free(struct sim *s);
/* Run to completion (every receiver delivered the last message or reported
 * its loss) or to max_sim_ns. Returns 0, or -1 on an engine error. */
int sim_run(struct sim *s);
void sim_totals(const struct sim *s, struct sim_totals *t);

uint64_t sim_now(const struct sim *s);
struct sim_rcv *sim_receiver(struct sim *s, uint32_t rcv);
struct smart__engine *sim_engine(struct sim *s, uint32_t node);
/* Order a QUIET from the sender now. */
int sim_quiet(struct sim *s, uint32_t ms);
/* Change a link now: 0 the upstream, 1..nlinked a receiver's. */
void sim_set_link(struct sim *s, uint32_t which, const struct sim_link *l);
/* Datagrams a link dropped for want of room, and bytes it carried. */
void sim_link_stats(const struct sim *s, uint32_t which, uint64_t *drops, uint64_t *bytes);
/* Cross traffic (a TCP flow modelled by the caller, from on_time): `len`
 * bytes enter link `which` (0 the upstream, 1..nlinked a receiver's) at
 * `now`, competing with the senders' datagrams for its queue. 1 and the
 * time they leave it, or 0 when the queue had no room (dropped). They
 * count in sim_link_stats() and go nowhere after the link. */
int sim_link_offer(struct sim *s, uint32_t which, size_t len, uint64_t now, uint64_t *depart);
/* The node of sender i (0 or 1). */
uint32_t sim_sender(const struct sim *s, uint32_t i);
/* Receiver rcv's view of sender i's stream (sim_receiver() is sender 0's). */
struct sim_rcv *sim_stream(struct sim *s, uint32_t rcv, uint32_t i);
/* Receiver rcv leaves now (its last STATUS says so), and hears nothing
 * from then on. */
void sim_leave(struct sim *s, uint32_t rcv);
/* Message generator shared with checkers. */
void sim_fill(uint64_t k, uint8_t *buf, size_t len);
size_t sim_msg_len(const struct sim_config *c, uint64_t k);

#endif /* SMART_TESTS_SIM_H */
