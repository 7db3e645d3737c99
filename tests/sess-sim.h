/*
 * Deterministic simulator of whole sessions (lib/session): one sender,
 * N receivers and optional extra nodes (an insider), each a
 * struct smart__session driven the way the socket shell (lib/sock/io.c)
 * drives it, on a virtual clock, in one process.
 *
 * Every node has an IPv4 address (198.51.100.x, a port of its own) and a
 * set of open group sockets (the current one and the previous one): a
 * datagram addressed to a group reaches every other node that has that
 * group open when it arrives; one addressed to a node reaches that node.
 * SMART__CMD_OPEN_GROUP and SMART__CMD_CLOSE_OLD are obeyed as io.c obeys
 * them. Topology: a star; node i is at one-way delay d_i from the router
 * (the sender at 0), so a datagram from a to b takes d_a + d_b + jitter.
 * Loss: independent per receiving node (Bernoulli), drawn from the
 * simulator's PRNG (lib/util/rng.h), which also seeds every session.
 *
 * Receive buffers (flow control): a node with a service rate has a finite
 * group-socket buffer (bytes); arrivals that do not fit overflow (dropped,
 * counted); it reads batches of up to 32 datagrams and is then busy for
 * the batch's service time. As io.c, it tells the session the bytes read
 * (smart__session_rx_read) and, after a full batch when
 * smart__session_rx_look_due(), the buffer's fill (smart__session_rx_fill).
 * A node without a service rate reads every datagram as it arrives.
 *
 * Messages: message k of the sender carries k in its first 8 bytes and a
 * pattern derived from k after that; every receiver checks order,
 * content, sender and exactly-once of what it delivers.
 */
#ifndef SMART_TESTS_SESS_SIM_H
#define SMART_TESTS_SESS_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"
#include "session/session.h"

struct ssim;

struct ssim_config {
  uint32_t receivers; /* nodes 1..receivers */
  uint32_t extra;     /* nodes receivers+1 .. : neither sender nor checked */
  uint32_t messages;  /* the sender submits messages 0..messages-1 */
  uint32_t msg_len;   /* >= 8 */
  uint64_t start_ns;  /* first message submitted at */
  uint64_t interval_ns; /* between two messages; 0: as fast as the queue takes them */
  double loss;        /* per receiving receiver node, per datagram */
  double fb_loss;     /* per datagram the sender receives */
  uint64_t delay_min_ns, delay_max_ns, jitter_ns;
  uint64_t seed;
  uint64_t max_sim_ns; /* give up after this much simulated time */
  uint64_t tail_ns;    /* keep running this long once every receiver is done */
  uint32_t grtt_us;
  uint64_t rate;       /* the sender's SMART_OPT_RATE (0: none) */

  /* Receive buffers: a node with service_dps[node] > 0 datagrams per
   * second has a buffer of rcvbuf[node] bytes (rcvbuf_default when 0). */
  const uint32_t *service_dps;
  const uint32_t *rcvbuf;
  uint32_t rcvbuf_default;
  int no_gauge; /* the shell tells flow control nothing (a sender that is
                   never told to slow down): for comparison runs */

  void *user;
  /* Per node option setup (keys, pins, allow-list); called after the
   * simulator's defaults. May be NULL. */
  void (*setup)(void *user, struct ssim *s, uint32_t node, struct smart__opts *o);
  /* 1: drop datagram dg on its way to `node`. May be NULL. */
  int (*drop)(void *user, struct ssim *s, uint32_t from, uint32_t node, const uint8_t *dg,
              size_t len, uint64_t now);
  /* Called at every time in `at` (ascending), e.g. for a revocation or a
   * move; the simulator pumps every node afterwards as needed. */
  const uint64_t *at;
  uint32_t nat;
  void (*on_time)(void *user, struct ssim *s, uint32_t i, uint64_t now);
  /* Every event smart__session_event() hands node `node`. May be NULL. */
  void (*on_event)(void *user, struct ssim *s, uint32_t node, const struct smart_event *ev);
  /* The extra nodes: called whenever an extra node is pumped (it may
   * submit messages of its own). May be NULL. */
  void (*extra_step)(void *user, struct ssim *s, uint32_t node, uint64_t now);
};

void ssim_config_init(struct ssim_config *c);

struct ssim_node {
  struct smart__session *ss;
  struct smart__opts o;
  struct smart__sockaddr addr;
  struct smart__sockaddr groups[2]; /* [0] current group socket, [1] previous */
  int ngroups_open[2];
  int expect_all;       /* checked for delivering every message (default: receivers) */
  uint64_t next_msg;    /* next message index expected */
  uint64_t delivered, dups, errors, foreign, loss_events, lost;
  uint64_t last_deliver_ns;
  uint64_t overflows;   /* datagrams dropped at a full receive buffer */
  uint64_t closed_drops; /* arrived for a group socket no longer open */
  uint64_t group_changes; /* SMART_EVENT_GROUP_CHANGED */
  uint64_t overflow_reports; /* sender: SMART_EVENT_ERROR_REPORT code 3 */
  uint64_t overflow_bad_args;
  uint64_t events;
  uint64_t tx_dgrams, tx_bytes, rx_dgrams;
  uint64_t first_tx_ns, last_tx_ns;
  uint64_t max_fill; /* receive buffer: most bytes held */
  /* internal */
  uint64_t sched, busy_until;
  uint32_t q_head, q_n, q_cap, *q;
  uint64_t q_bytes, buf_cap, service_ns;
  int serving;
  uint64_t delay;
  struct smart_crypto_ops det_ops; /* the node's provider, its random() seeded */
};

/* What a run comes to: compared between two runs of one seed. */
struct ssim_totals {
  uint64_t sim_ns;        /* when the run ended */
  uint64_t done_ns;       /* when the last expected receiver completed */
  uint64_t delivered, dups, errors, foreign, loss_events, overflows, closed_drops;
  uint64_t group_changes, overflow_reports, events, datagrams, deliveries;
  uint64_t tx_bytes, naks_sent, repairs_sent, drops_auth, joins_refused;
  uint64_t manifests_sent, manifests_verified, drops_unsigned, rekeys;
  uint64_t digest; /* of every node's figures */
  int complete;    /* every expected receiver delivered every message */
};

struct ssim *ssim_new(const struct ssim_config *c);
void ssim_free(struct ssim *s);
/* Run until every expected receiver delivered every message (then tail_ns
 * more) or max_sim_ns. 0, or -1 on a session error. */
int ssim_run(struct ssim *s);
void ssim_totals(const struct ssim *s, struct ssim_totals *t);

uint64_t ssim_now(const struct ssim *s);
uint32_t ssim_nodes(const struct ssim *s);
struct ssim_node *ssim_node(struct ssim *s, uint32_t node);
/* The message index the sender submits next. */
uint64_t ssim_submitted(const struct ssim *s);
/* Node i is no longer expected to deliver every message (decided during
 * the run: the run then ends when the others have). */
void ssim_unexpect(struct ssim *s, uint32_t i);
/* Pump `node` now (after the test called a control function on it). */
void ssim_kick(struct ssim *s, uint32_t node);
/* The group address (239.255.0.x, port) of group number `i`. */
void ssim_group_addr(struct smart__sockaddr *g, uint32_t i);
/* Message generator. */
void ssim_fill(uint64_t k, uint8_t *buf, size_t len);
/* A draw from the simulator's PRNG (deterministic per seed). */
uint64_t ssim_rand(struct ssim *s);

#endif /* SMART_TESTS_SESS_SIM_H */
