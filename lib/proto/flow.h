/*
 * Flow control (smart-protocol(7), "FLOW CONTROL"): receivers that fall
 * behind slow senders down.
 *
 * A receiver measures what it reads from its group socket (bytes/s, over
 * at least FC_RATE_MIN). After a full batch (a backlog) it looks at how
 * full the socket's buffer is, at most once per FC_LOOK; more than half
 * full and fuller than at its previous look, or more than three quarters
 * full, it multicasts ERROR_REPORT 3 with its reading rate (KiB/s) and the
 * fill (per mille). A sender that hears one limits itself to the lower of
 * 7/8 of that rate and 3/4 of what it sent (measured) or was allowed, at
 * most once per max(GRTT, FC_GAP) and never below FC_FLOOR; every such
 * interval without a report raises the limit by 1/32, and a second without
 * one lifts it. SMART_OPT_RATE stays an upper bound. So a sender with
 * segmentation offload does not bury a receiver that spends more per
 * datagram (decryption, verification, a slow application) than it does.
 *
 * Sans-IO: the socket shell measures (bytes read, the buffer's fill, bytes
 * the kernel took) and hands the figures in with `now`.
 */
#ifndef SMART_PROTO_FLOW_H
#define SMART_PROTO_FLOW_H

#include <stdint.h>

#define SMART__FC_FLOOR (1u << 20) /* bytes/s */

struct smart__flow {
  uint64_t gap;   /* max(GRTT, FC_GAP) */
  uint64_t rate;  /* sender: bytes/s now allowed; 0 = no limit of ours */
  uint64_t est, win_at, win_bytes; /* sender: measured send rate */
  uint64_t cut_at, grow_at;        /* sender: last decrease, last increase */
  uint64_t heard_at;               /* sender: last ERROR_REPORT 3 heard */
  uint64_t fill_next;              /* receiver: next look at the buffer */
  uint32_t fill_last;              /* receiver: bytes it held then */
  uint64_t rx_bytes, rx_rate;      /* receiver: read from the group socket; bytes/s */
  uint64_t rate_at, rate_bytes;    /* receiver: start of the rate's window */
};

void smart__flow_init(struct smart__flow *f, uint64_t grtt_ns);

/* Sender: the kernel took `bytes` at `now` (the measured send rate). */
void smart__flow_sent(struct smart__flow *f, uint64_t bytes, uint64_t now);
/* Sender: an ERROR_REPORT 3 from a receiver reading `kib_s` KiB/s (0:
 * unknown). Returns 1 when the allowed rate changed. */
int smart__flow_cut(struct smart__flow *f, uint32_t kib_s, uint64_t now);
/* Sender: a quiet interval raises the limit. 1 when it changed. */
int smart__flow_grow(struct smart__flow *f, uint64_t now);
/* The rate to hand the engine (ours and the application's `app_rate`, 0 =
 * none) and its burst (`burst` at least, a millisecond's worth at most
 * 1 MiB). */
uint64_t smart__flow_limit(const struct smart__flow *f, uint64_t app_rate, uint32_t *burst);

/* Receiver: `bytes` read from the group socket. */
void smart__flow_read(struct smart__flow *f, uint64_t bytes, uint64_t now);
/* Receiver: is it time to look at the buffer (after a full batch)? */
int smart__flow_look_due(const struct smart__flow *f, uint64_t now);
/* Receiver: the buffer holds `used` of `size` bytes. 1 when a report is
 * due, with its arguments (always a reading rate: while none is measured
 * yet, at the start of a window, it looks again at the next batch). */
int smart__flow_look(struct smart__flow *f, uint32_t used, uint32_t size, uint64_t now,
                     uint32_t *kib_s, uint32_t *permille);

#endif
