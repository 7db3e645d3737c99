/*
 * Sans-IO reliability engine (internal API, ngtcp2 style).
 *
 * One `struct smart__engine` per socket. It may have a local sender role
 * (created on the first smart__engine_submit()) and keeps independent
 * receiver state for every remote sender it hears, identified by the
 * caller's source id (the facade maps a socket address to an id). It never
 * touches a socket, a clock, a thread or global state: the caller passes
 * datagrams in (smart__engine_recv), pulls datagrams out (smart__engine_send),
 * asks for the next deadline (smart__engine_expiry) and calls
 * smart__engine_handle_expiry() when it is reached. Time `now` is monotonic
 * nanoseconds and must never go backwards between calls. All randomness
 * comes from a PRNG seeded by the configuration, so a run is reproducible.
 * Every byte read or written goes through the wire codec (lib/wire).
 *
 * ---------------------------------------------------------------------------
 * Documented decisions (numbers measured with tests/sim.c via
 * bench/smart-sim; the full table is in bench/RESULTS.md)
 * ---------------------------------------------------------------------------
 *
 * Distance / GRTT. The sender advertises GRTT (config grtt_us: the
 * application's estimate of the largest round trip to a receiver, as
 * NORM's initial GRTT), K and the group-size estimate in every heartbeat;
 * receivers use the advertised values (their own configuration until the
 * first heartbeat). A receiver also learns its own round trip to the
 * sender: the time from sending a REPLACEMENT to receiving the repair (or
 * a CONFIRM PENDING) for that sequence; the sender answers at once, so
 * this is a real round trip (EWMA, 1/4 gain). Timers use
 * max(advertised GRTT, learned RTT): never shorter than the real distance.
 *
 * Request timer (per missing packet). NORM's truncated exponential
 * (RFC 5740 §5.3): t = (T/λ)·ln(1 + u·(e^λ − 1)), u uniform in [0,1),
 * λ = ln(gsize) + 1, T = K·GRTT. The density grows like e^(λt/T): few
 * receivers fire early and the rest hear them first. K defaults to
 * SMART__DEFAULT_K = 6, chosen with bench/smart-sim (one-way delays
 * 5..25 ms, GRTT 50 ms, 3,000 messages; REPLACEMENT datagrams per loss
 * with --loss 0 --shared 0.01, all receivers losing the same packets):
 *     N =       100    1,000   10,000
 *     K = 4     1.7     2.4     4.3
 *     K = 6     1.1     1.7     2.5
 *     K = 8     1.1     1.3     2.0
 *     K = 12    0.8     1.1     1.1
 * (about 30 losses per run: a trend, not a precise curve.)
 * K = 6 is the smallest K that keeps shared loss under 3 requests per
 * loss at 10,000 receivers (NORM's K = 4 curve predicts 4.6); a larger K
 * costs latency (a lone loss is requested about 0.9·K·GRTT after it is
 * seen) and memory (receivers hold what follows a gap in order).
 * Unlike NORM, which sends one NACK per timer, a timer that fires also
 * carries every other missing sequence of the same sender whose timer is
 * running and that was detected at least GRTT/4 ago (so reordering is not
 * requested): one REPLACEMENT (base range plus SMART__EXT_NAKLIST) covers
 * all of a receiver's gaps, and other receivers suppress on all of them.
 *
 * Suppression (RFC 3170 §5.3, SRM): hearing another receiver's REPLACEMENT
 * or the sender's CONFIRM PENDING for a sequence whose timer is running
 * cancels the timer and waits for the repair (hold-off below). A peer's
 * request also teaches sequences not seen yet (a heartbeat we missed).
 * Hearing CONFIRM UNAVAILABLE, or a trail beyond a gap, reports the loss.
 *
 * Hold-offs and backoff. After sending or suppressing a request a receiver
 * waits SMART__HOLD_GRTT (3) × GRTT for the repair (the sender repairs at
 * once, so the repair is due one round trip later; NORM waits (K+2)·GRTT
 * because its sender aggregates for (K+1)·GRTT first). If none comes, the
 * timer is re-armed with backoff ×2 (once: SRM doubles up to a limit), so a
 * whole retry cycle stays within (3 + 2K)·GRTT. The sender repairs a
 * sequence at most once per GRTT (NORM's 1·GRTT repair hold-off): every
 * request for it in between is merged into that one repair. It multicasts
 * a CONFIRM PENDING (PGM's NCF, RFC 3208 §5.3) for accepted requests whose
 * repair cannot go out at once (rate limit); when the repair itself goes
 * out at once it is the confirmation, and the NCF is left out.
 *
 * Retry limit. A receiver reports a loss after nak_retries (default 20)
 * rounds without a repair (PGM also bounds its NAK retries). Rounds that
 * end under QUIET do not count.
 *
 * Heartbeats (PGM's SPM schedule, RFC 3208 §6.1, scaled to the session).
 * Three heartbeats go out before the first data packet (receivers learn the
 * session, GRTT, K, gsize and the 64-bit position), one every
 * SMART__HB_AMBIENT (1 s) while data flows, and after data stops 4 at
 * max(GRTT, 10 ms) spacing, then doubling, capped at 1 s. Each carries the
 * 64-bit lead (next sequence) and trail (oldest repairable), so a receiver
 * detects the loss of the last packets, knows which gaps can no longer be
 * repaired, and places the 16-bit wire sequence in the 64-bit space.
 *
 * Window. The sender keeps the last `window` encoded datagrams (capped at
 * 2^14 so the 16-bit wire sequence is never ambiguous). It releases the
 * oldest only when the window is full and that packet was last sent (or
 * repaired) more than 4·(K+1)·GRTT ago: twice NORM's flow-control delay,
 * so that a receiver's whole retry cycle fits; otherwise new data waits
 * (messages queued meanwhile may then be packed). A request for a released
 * sequence is answered with CONFIRM UNAVAILABLE.
 *
 * Rate. One token bucket (rate, burst) covers everything the engine sends,
 * requests included. Order of service: repairs (each at most once per GRTT
 * per sequence, so they cannot starve new data forever), confirmations,
 * QUIET, new data, heartbeats. With congestion control (cfg.cc, cc.c) the
 * bucket runs at the rate it chooses, cfg.rate being its ceiling, and a
 * heartbeat it needs at once, or the once-a-second one, goes first.
 *
 * Late join. Policy SMART__JOIN_CURRENT (default): a receiver starts at the
 * first original data packet it hears (or at the lead of the first
 * heartbeat) and never requests below it; the tail of a message already
 * under way is skipped silently. SMART__JOIN_WINDOW: it holds delivery
 * until it has heard the sender's trail (heartbeat or confirm), then
 * requests everything from the trail on.
 *
 * QUIET. A QUIET packet (or a DATA QUIET field q != 0: 2^q ms) silences
 * requests until now + duration. Loss state is kept; a timer that expires
 * in the silence is re-armed at its end plus a fresh draw from the request
 * distribution, so the backlog is spread over the normal window.
 *
 * Unrecoverable loss is an SMART__EV_LOSS event for the sequence range,
 * in order with the messages; the fragments of a message broken by a loss
 * are included in the range. Nothing is skipped silently.
 */
#ifndef SMART_ENGINE_H
#define SMART_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "smart/smart.h"
#include "util/mem.h" /* struct smart__mem: allocator hooks */
#include "util/time.h"

#define SMART__DEFAULT_K 6u
#define SMART__HOLD_GRTT 3u
/* Heartbeats sent back to back before the first data packet. */
#define SMART__HB_ANNOUNCE 3u
#define SMART__HB_AMBIENT SMART__SEC(1)
/* The largest span from the oldest repairable to the newest sequence. */
#define SMART__MAX_SPAN (1u << 14)
/* The largest message smart__engine_submit() accepts (fragment offsets are
 * 32 bits). */
#define SMART__MAX_MSG UINT32_MAX
/* The send queue holds messages in the datagrams they will leave in
 * (packed, whole or fragmented as they are submitted); besides its
 * length, each queued message counts SMART__TX_MSG_COST bytes against
 * cfg.sndbuf. */
#define SMART__TX_MSG_COST 16u
/* Datagram buffers read out of the window kept for the next messages. */
#define SMART__TX_SPARE 256u
/* A message is taken while less than this waits in the queue, and less
 * than twice this in the datagrams it fills (and it fits under
 * cfg.sndbuf):
 * a sender far ahead of the network waits there, not 128 MiB ahead
 * (every byte of fresh queue memory costs a page fault the first time,
 * on the sender's own thread: a 200 MB file queued whole during slow
 * start cost 20% of its transfer). A message larger than it, up to
 * cfg.sndbuf, is still taken, once the queue is below it. */
#define SMART__TX_LEAD (UINT64_C(8) << 20)

/* Congestion control: the default lower bound of the rate, and the least
 * one accepted (bytes/s). */
#define SMART__CC_MIN_RATE 16384u
#define SMART__CC_RATE_LEAST 1024u
/* A receiver that heard nothing of a sender for this long sends it no
 * congestion feedback; a sender ignores the feedback of one whose echo
 * says it heard no heartbeat for the second. */
#define SMART__CC_STALE SMART__SEC(3)
#define SMART__CC_STALE_ECHO SMART__SEC(10)

enum { SMART__JOIN_CURRENT = 0, SMART__JOIN_WINDOW = 1 };
/* Delivery policies (smart(7) "DELIVERY GUARANTEES"). */
enum { SMART__POLICY_RELIABLE = 0, SMART__POLICY_REALTIME = 1 };
/* The most receivers a sender tracks (their STATUS reports). */
#define SMART__MAX_RCV 65536u

/*
 * Configuration, size-versioned: set `size` (smart__engine_config_init does)
 * and only change what you need. Fields added later go at the end.
 */
struct smart__engine_config {
  size_t size;
  uint8_t sync;           /* Access Synch code; others are dropped */
  uint8_t k;              /* request timer scale (T = K x GRTT), 1..255 */
  uint8_t nak_retries;    /* request rounds before a loss is reported */
  uint8_t join_policy;    /* SMART__JOIN_CURRENT or SMART__JOIN_WINDOW */
  uint8_t no_pack;        /* 1: every message in datagrams of its own (no FMT 2) */
  uint32_t session;       /* local sender's session ID; 0 = draw one */
  uint32_t group;         /* IPv4 group address for REPLACEMENT/QUIET, or 0 */
  uint32_t max_dgram;     /* largest datagram produced, 64..65535 */
  uint32_t window;        /* sender window in packets, 1..2^14 */
  uint32_t grtt_us;       /* advertised group RTT estimate (sender) and the
                             value used until a heartbeat is heard */
  uint32_t gsize;         /* group size estimate, >= 1 */
  uint64_t rate;          /* token bucket, bytes per second; 0 = unlimited */
  uint32_t burst;         /* token bucket depth in bytes (>= max_dgram) */
  uint64_t max_queue;     /* the largest message reassembled, and the
                             reassembly memory of all senders together */
  uint64_t initial_seq;   /* first sequence of the local sender */
  uint64_t seed;          /* PRNG seed */
  const struct smart__mem *mem; /* NULL = libc */
  /* Appended in 0.2 (the repair horizon and receiver positions). */
  uint8_t policy;          /* SMART__POLICY_RELIABLE or SMART__POLICY_REALTIME */
  uint32_t horizon_ms;     /* release what was sent this long ago (0: no
                              time horizon; real-time: 0 means 1000) */
  uint32_t evict_ms;       /* reliable: a receiver that holds the buffer
                              without progress this long is evicted; also
                              the silence after which it is gone */
  uint32_t status_ms;      /* receivers: base interval of STATUS reports
                              (0: never send one) */
  uint32_t sender_timeout_ms; /* receivers: a silent sender is gone after
                                 this (inactive after half of it) */
  uint64_t sndbuf;        /* bytes the send queue may hold (SMART_EAGAIN;
                             a message that can never fit: SMART_EMSGSIZE),
                             >= 1 */
  /* Appended in 0.2 (congestion control, cc.c). */
  uint8_t cc;             /* 1: the local sender runs congestion control;
                             `rate` is then its upper bound */
  uint64_t cc_min_rate;   /* its lower bound, bytes/s */
  uint64_t cc_floor;      /* a receiver whose rate stays below this is
                             slow (0: cc_min_rate) */
  /* Appended in 0.2 (what receivers tell senders they can open). */
  uint8_t pos_flags;      /* receivers: capability bits (SMART__POS_GCM) put
                             in every STATUS */
};

/* Fill `cfg` with defaults (and cfg->size). */
void smart__engine_config_init(struct smart__engine_config *cfg);

struct smart__engine;

/*
 * Create an engine. The config is copied (min(size, sizeof) bytes; trailing
 * bytes of a larger struct must be zero). Returns 0, SMART_EINVAL (bad
 * values or NULL), SMART_E2BIG (unknown size or non-zero unknown bytes) or
 * SMART_ENOMEM.
 */
int smart__engine_new(struct smart__engine **pe,
                      const struct smart__engine_config *cfg);
/* Free everything; NULL is accepted. */
void smart__engine_del(struct smart__engine *e);

/*
 * Consume one datagram received from `src_id` at `now`. The datagram is not
 * retained. Returns 0 when it was used, or a negative code when it was
 * dropped (and counted in the stats by reason): a codec error, SMART_ESYNC,
 * SMART_ENOTSUP (D=1 envelope, packet kinds the engine does not handle),
 * SMART_ERANGE (sequence outside largest ± 2^14 or outside the window),
 * SMART_ESTATE (not for us: another session, own sender not running,
 * duplicates). SMART_ENOMEM is the only error after which state may be
 * incomplete (the datagram is then treated as lost).
 */
int smart__engine_recv(struct smart__engine *e, uint32_t src_id,
                       const uint8_t *dgram, size_t len, uint64_t now);
/* When the datagrams handed to smart__engine_recv from now on reached the
 * host (at <= now; 0: at `now`). Round-trip echoes are measured from it:
 * the time a heartbeat or a STATUS waited behind the reader's backlog is
 * the reader's, not the path's. */
void smart__engine_arrival(struct smart__engine *e, uint64_t at);
/* The host dropped `n` entries, its socket buffer full, just before the
 * datagram handed to smart__engine_recv next (the socket's drop counter,
 * SO_RXQ_OVFL, grew by n when that one was queued). They add up until a
 * gap they explain, or an original in order, uses them up. An entry
 * is a datagram or a train of them (segmentation offload: up to
 * SMART__DROP_ENTRY_MAX, Linux's UDP_MAX_SEGMENTS since 6.8; 64 before).
 * Congestion control leaves a gap this explains out of the loss event
 * rate: the reader, not the path, was too slow, and flow control answers
 * that. The gap is still repaired. */
#define SMART__DROP_ENTRY_MAX 128u
void smart__engine_local_drops(struct smart__engine *e, uint32_t n);

/* Destination of a datagram produced by smart__engine_send(). */
enum { SMART__DST_GROUP = 0, SMART__DST_UNICAST = 1 };
struct smart__dst {
  uint32_t kind;   /* SMART__DST_GROUP or SMART__DST_UNICAST */
  uint32_t src_id; /* for SMART__DST_UNICAST: the peer's source id */
};

/*
 * Write the next datagram to transmit into out[0..outlen) and its
 * destination into *dst. Returns its length, 0 when nothing is due now
 * (rate limit, empty queues), SMART_ENOBUF if outlen < max_dgram, or
 * SMART_ENOMEM. Call it until it returns 0 after every recv, submit,
 * command and handle_expiry.
 */
/*
 * The same, but a new DATA datagram (not a repair, heartbeat or anything
 * else) may be handed over by reference: *ref points to the window's copy
 * instead of the datagram being copied to out. It stays unchanged while
 * fewer than SMART__ENGINE_REF_SPAN more datagrams are produced and the
 * engine lives. *ref is NULL when the datagram is in out. Only with a
 * window of at least 2 x SMART__ENGINE_REF_SPAN datagrams; with a smaller
 * one every datagram is copied.
 */
#define SMART__ENGINE_REF_SPAN 64u
smart_ssize smart__engine_send_ref(struct smart__engine *e, uint8_t *out, size_t outlen,
                                   struct smart__dst *dst, uint64_t now, uint8_t **ref);
smart_ssize smart__engine_send(struct smart__engine *e, uint8_t *out,
                               size_t outlen, struct smart__dst *dst,
                               uint64_t now);

/* The next time handle_expiry (or send) has work; UINT64_MAX if none. */
uint64_t smart__engine_expiry(struct smart__engine *e);

/* Run the timers due at `now`. Returns 0 or SMART_ENOMEM. */
int smart__engine_handle_expiry(struct smart__engine *e, uint64_t now);

/*
 * Queue one message (1..SMART__MAX_MSG bytes, copied) for the local sender.
 * Small messages queued together may share one FMT 2 datagram; a lone
 * message always goes alone (FMT 0); large ones are fragmented (FMT 1).
 * Returns 0, SMART_EMSGSIZE (also: longer than the whole queue, sndbuf),
 * SMART_EAGAIN (no room in the queue now),
 * SMART_EINVAL or SMART_ENOMEM.
 */
int smart__engine_submit(struct smart__engine *e, const void *msg,
                         size_t len, uint64_t now);

/*
 * Sender command: order the group to withhold requests for `ms`
 * milliseconds (1..65535). Sends one QUIET packet. Returns 0, SMART_EINVAL
 * or SMART_ENOMEM.
 */
int smart__engine_quiet(struct smart__engine *e, uint32_t ms, uint64_t now);

/* Events for the application, in order. */
enum {
  SMART__EV_MSG = 1,        /* a message: data/len, seq = its (first) seq */
  SMART__EV_LOSS = 2,       /* unrecoverable: sequences [seq, seq + count) */
  SMART__EV_NEW_SENDER = 3, /* first packet from src; session if known */
  SMART__EV_SENDER_INACTIVE = 4, /* src silent for half its timeout */
  SMART__EV_SENDER_GONE = 5,     /* src silent for its timeout, or its stream
                                    ended (count 1); what was missing from it
                                    was reported lost just before */
  SMART__EV_EVICTED = 6          /* src evicted us (reliable policy: no
                                    progress); seq = its oldest datagram then */
};
struct smart__event {
  uint32_t type;
  uint32_t src_id;
  uint64_t seq;
  uint64_t count;
  uint32_t session;
  const uint8_t *data; /* SMART__EV_MSG: the message bytes */
  size_t len;
};

/*
 * Take the oldest pending event: 1 and fills *ev, or 0 when there is none.
 * ev->data stays valid until the next call to recv, send, submit, quiet,
 * handle_expiry or del on this engine.
 */
int smart__engine_poll(struct smart__engine *e, struct smart__event *ev);

/*
 * Lending (the receive path without a copy). The caller promises that the
 * bytes of [buf, buf + len) do not change until smart__engine_unlend():
 * an in-order message recv() finds inside a datagram that lies there is
 * then handed out by poll() from it, not copied into the event arena.
 * What must outlive the buffer is still copied: out-of-order datagrams
 * (kept for ordering) and fragments (reassembly). unlend() moves the
 * messages not yet polled to the arena; call it before the buffer changes.
 * It returns 0, or SMART_ENOMEM when some could not be kept (each is then
 * a loss event: the application learns of it). lend() with len 0 lends
 * nothing. lent_pending() says how many pending events point into it.
 */
void smart__engine_lend(struct smart__engine *e, const uint8_t *buf, size_t len);
int smart__engine_unlend(struct smart__engine *e);
uint32_t smart__engine_lent_pending(const struct smart__engine *e);

/* Drop reasons counted in the stats. */
enum {
  SMART__DROP_DECODE = 0, /* the codec rejected it */
  SMART__DROP_SYNC,       /* wrong Access Synch */
  SMART__DROP_UNSUPPORTED,/* D=1, or a kind the engine does not handle */
  SMART__DROP_RANGE,      /* sequence outside the acceptable range */
  SMART__DROP_SESSION,    /* addressed to another session / no sender */
  SMART__DROP_DUP,        /* duplicate data */
  SMART__DROP_NOMEM,      /* could not be stored */
  SMART__DROP_COUNT
};

/* Statistics, size-versioned like the config (never written past size). */
struct smart__stats {
  size_t size;
  uint64_t msgs_sent, bytes_sent;           /* application messages */
  uint64_t dgrams_sent, data_sent;          /* all datagrams; new data */
  uint64_t repairs_sent, confirms_sent, heartbeats_sent, quiets_sent;
  uint64_t naks_received, naks_merged;      /* sender side */
  uint64_t naks_budget, repairs_limited;    /* ... cut short by the repair
                                               budget, and the sequences it
                                               did not repair */
  uint64_t msgs_received, bytes_received;   /* delivered to the app */
  uint64_t naks_sent, naks_suppressed;      /* receiver side */
  uint64_t losses_recovered;                /* gaps filled by a repair */
  uint64_t losses_unrecoverable;            /* sequences reported lost */
  uint64_t duplicates;                      /* data already held */
  uint64_t drops[SMART__DROP_COUNT];
  uint64_t statuses_sent, statuses_received; /* STATUS reports */
  uint64_t senders_gone;                     /* receiver side */
  uint64_t rcv_evicted;                      /* sender side */
  uint64_t held_peak;                        /* most datagrams kept for repair */
  uint64_t queued_peak;                      /* most bytes in the send queue */
  /* Congestion control, sender side: the rate it allows now (0: off), the
   * limiting receiver (src id, 0: none), its loss event rate (ppm) and
   * round trip; the GRTT advertised; CC reports heard (STATUS with CCFB)
   * and those sent for congestion control (flag REPORT). */
  uint64_t cc_rate, cc_clr, cc_clr_loss_ppm, cc_clr_rtt_us, grtt_us;
  uint64_t cc_reports_received, cc_triggered_received;
  /* Receiver side: reports sent for congestion control, and for the
   * sender it hears that limits it most, its loss event rate (ppm), round
   * trip estimate, and the rate the equation gives (0: no loss yet). */
  uint64_t cc_reports_sent, cc_loss_ppm, cc_rtt_us, cc_calc_rate;
  uint64_t cc_losses_local; /* gaps left out of it: the host's socket dropped them */
  uint64_t naks_kept; /* reliable: request rounds past the limit, the sender still heard */
};

/* Change the token bucket (cfg.rate, cfg.burst) from `now` on: what the
 * old rate earned is kept, up to the new depth; rate 0 = unlimited. The
 * session's flow control (proto/flow.c) uses it. */
void smart__engine_set_rate(struct smart__engine *e, uint64_t rate, uint32_t burst,
                            uint64_t now);

/* Drop everything the receiving role holds of sender `src_id` (its id is
 * about to name another peer); nothing is reported. No-op if unknown. */
void smart__engine_forget(struct smart__engine *e, uint32_t src_id);

/* Copy statistics into *st (st->size must be set). */
void smart__engine_get_stats(const struct smart__engine *e,
                             struct smart__stats *st);

/*
 * Introspection for tests and simulators: 1 if the receiver state for
 * `src_id` still needs sequence `seq` (not yet received, not declared lost,
 * at or after its start), else 0.
 */
int smart__engine_rx_needs(const struct smart__engine *e, uint32_t src_id,
                           uint64_t seq);

/* ---- Receivers as the sender sees them (acks.c) ---------------------- */
enum {
  SMART__RCV_NEW = 1,      /* first STATUS from a receiver */
  SMART__RCV_COMPLETE = 2, /* it holds everything up to the flush point */
  SMART__RCV_BEHIND = 3,   /* it holds the buffer full (once per stall) */
  SMART__RCV_EVICTED = 4,  /* no progress for evict_ms while holding it */
  SMART__RCV_GONE = 5,     /* it left (seq 1) or went silent (seq 0) */
  SMART__RCV_SLOW = 6,     /* its rate stayed below the floor (cc.c) */
  SMART__RCV_CLR = 7       /* it is the new limiting receiver (cc.c) */
};
/* SMART__RCV_EVICTED reasons. */
enum { SMART__EVICT_STALLED = 0, SMART__EVICT_SLOW = 1 };
struct smart__rcv_event {
  uint32_t type;   /* SMART__RCV_* */
  uint32_t src_id;
  uint64_t pos;    /* its delivery point */
  uint64_t reason; /* GONE: 1 left, 0 silent; EVICTED: SMART__EVICT_* */
  uint64_t rate;   /* SLOW, CLR: its rate, bytes/s */
  uint32_t loss_ppm, rtt_us; /* SLOW, CLR: its loss event rate, round trip */
};
/* Take the oldest receiver event of the local sender: 1, or 0. */
int smart__engine_rcv_poll(struct smart__engine *e, struct smart__rcv_event *ev);

struct smart__rcv_info {
  uint32_t src_id;
  uint32_t state;      /* 0 live, 1 evicted */
  uint64_t pos;        /* its delivery point */
  uint64_t last_ns;    /* time of its last STATUS */
  uint64_t rtt_ns;     /* measured round trip (0: none yet) */
};
/* The sender's receivers: fills up to n, returns how many there are. */
uint32_t smart__engine_rcv_list(const struct smart__engine *e,
                                struct smart__rcv_info *out, uint32_t n);

/*
 * Flush: the local sender wants to know when every receiver holds all that
 * was queued. Call begin once, then state until it returns 1: 1 when the
 * queue is empty and every live receiver's delivery point reached the
 * lead; 0 while some do not (*pending = how many); -1 when the sender
 * knows no receiver (the caller falls back to waiting for quiet). While a
 * flush is on, heartbeats ask the receivers for their position.
 */
void smart__engine_flush_begin(struct smart__engine *e, uint64_t now);
int smart__engine_flush_state(struct smart__engine *e, uint32_t *pending);
void smart__engine_flush_end(struct smart__engine *e);

/* The local sender's stream ends: the next heartbeats say so (END), and
 * receivers holding everything report the sender gone at once. */
void smart__engine_end(struct smart__engine *e, uint64_t now);
/* A receiver leaves: one last STATUS per sender says so. */
void smart__engine_leave(struct smart__engine *e, uint64_t now);

/* The local sender's next sequence, or 0 if it has no sender role yet. */
uint64_t smart__engine_tx_lead(const struct smart__engine *e);
/* 1 when the local sender has at least one live receiver that reports and
 * every one of them set capability bit `flag` (SMART__POS_*) in its last
 * STATUS; else 0. */
int smart__engine_rcv_all(const struct smart__engine *e, uint8_t flag);
/* Messages the local sender has queued and not yet put in a datagram. */
uint32_t smart__engine_tx_queued(const struct smart__engine *e);
/* The local sender's oldest repairable sequence. */
uint64_t smart__engine_tx_trail(const struct smart__engine *e);

#endif /* SMART_ENGINE_H */
