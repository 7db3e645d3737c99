/*
 * Engine internals shared by engine.c (config, dispatch, stats), evq.c
 * (events and the delivery arena), tx.c (sender role), rx.c (receiver
 * role) and nak.c (the receiver's request timers). Not an API: everything
 * here may change.
 */
#ifndef SMART_ENGINE_INT_H
#define SMART_ENGINE_INT_H

#include "engine.h"
#include "util/mem.h"
#include "util/ratelim.h"
#include "util/rng.h"
#include "util/time.h"
#include "wire/wire.h"

/* ---- Congestion control (cc.c) ------------------------------------------ */
/* Sender side. */
#define SMART__CC_ECHO_RING 8u
struct smart__cct {
  uint64_t x;          /* the rate allowed now, bytes/s (before the ceiling) */
  uint64_t x_init;     /* the initial rate */
  uint64_t upd_at;     /* the last increase step */
  uint8_t upd_force;   /* a report changed what the rate follows: update at once */
  uint64_t hb_gap_ns;  /* heartbeats' spacing at the applied rate (hb_gap) */
  uint64_t applied;    /* the rate the token bucket runs at */
  uint8_t ss;          /* slow start */
  uint8_t heard;       /* some receiver reported */
  uint8_t have_clr;    /* a current limiting receiver (CLR) */
  uint8_t clr_new;     /* the CLR changed: tell the receivers, and the
                          application (at most once a second) */
  uint8_t ev_due;      /* a CLR event waits for its second */
  uint8_t idle;        /* the idle decay was applied (until data goes) */
  uint8_t drained;     /* the queue was empty after the last data */
  uint8_t rtt_init;    /* the initial rate was set by a measured round trip */
  uint32_t clr, clr_tag, clr_p;   /* its src id, tag, loss (x 2^32) */
  uint64_t clr_rate, clr_rtt, clr_at; /* its rate, round trip, last report */
  uint64_t clr_recv;   /* the receive rate it reported */
  double clr_damp;     /* its last sample's damping (RFC 5348 4.5) */
  uint64_t dec_x, dec_at; /* the rate after the last cut, and when */
  uint16_t round;      /* feedback round */
  uint64_t round_at;   /* its start */
  uint64_t supp;       /* the lowest rate reported in this round */
  uint32_t supp_tag;   /* by whom (0: nobody yet) */
  uint64_t supp_rtt;   /* its round trip */
  uint64_t supp_at;    /* a heartbeat to say so is due (NEVER: none) */
  uint64_t hb_at;      /* the last heartbeat (each carries the CC block) */
  uint64_t grtt, peak, peak_at; /* measured GRTT, this second's peak */
  uint64_t win_at, win_bytes, actual, actual_prev; /* what was sent */
  uint64_t ev_at;      /* the last CLR event */
  uint32_t etag[SMART__CC_ECHO_RING], ertt[SMART__CC_ECHO_RING];
  uint8_t ehead, en;   /* RTT echoes waiting for a heartbeat */
};

/* Receiver side, per remote sender: a range of sequences seen missing and
 * not judged yet (lost, or only late). */
#define SMART__CC_HIST 8u
#define SMART__CC_CAND 16u
struct smart__cc_cand {
  uint64_t lo, hi, at;
  uint8_t local; /* dropped by our own socket (its buffer full): not congestion */
};
struct smart__ccr {
  uint32_t session;    /* of the sender whose CC heartbeats we follow */
  uint8_t on;          /* it runs congestion control */
  uint8_t loss;        /* a loss event was seen: the history is defined */
  uint8_t clr;         /* the sender names us its CLR */
  uint8_t reported;    /* we reported in this round */
  uint8_t pending;     /* the next STATUS is a report for CC */
  uint8_t ss;          /* the sender is in slow start */
  uint8_t supp_heard;  /* its heartbeat names a report of this round (Suppression Tag) */
  uint8_t first;       /* the history is only the first, made-up interval */
  uint8_t ncand, nhist;
  uint8_t events;      /* loss events counted, modulo 256 */
  uint16_t round, seg;
  uint64_t x_send, x_supp; /* advertised */
  uint64_t fb_due;     /* the feedback timer of this round (NEVER) */
  uint64_t clr_due;    /* CLR: the next report (NEVER) */
  uint64_t last_fb;    /* the last STATUS carrying our feedback */
  uint64_t x_last;     /* the rate it said */
  uint64_t recv_last;  /* the receive rate it said */
  uint64_t rtt_ns;     /* our round trip, echoed by the sender (0: none) */
  uint64_t hi;         /* one past the highest original sequence (0: none) */
  uint64_t ev_seq, ev_at; /* start of the current loss event */
  uint32_t hist[SMART__CC_HIST]; /* closed loss intervals, newest first */
  struct smart__cc_cand cand[SMART__CC_CAND];
  uint64_t win_at, win_bytes, x_recv; /* receive rate */
  uint64_t win_drops;  /* rx_drops_all when the window began */
  uint64_t local;      /* losses left out: our own socket dropped them */
};

/* ---- Sender ------------------------------------------------------------ */
struct smart__tx_slot {
  uint8_t *buf;      /* the encoded datagram (max_dgram bytes, reused) */
  uint32_t len;
  uint8_t pending;   /* a repair is queued */
  uint64_t sent_at;  /* last (re)transmission */
  uint64_t holdoff;  /* requests before this time are merged into the last
                        repair */
};

/* A datagram of the send queue, filled as messages are submitted (tx.c):
 * its buffer (max_dgram bytes, the DATA header's room first) becomes the
 * window slot's when it leaves. */
struct smart__qunit {
  uint8_t *buf;
  uint32_t pl;   /* payload bytes written after the header's room */
  uint32_t ends; /* messages that end in it */
  uint64_t cost; /* what it counts in qbytes */
  uint8_t fmt;   /* SMART__FMT_WHOLE, _PACK or _FRAG */
};

struct smart__tx {
  uint32_t session;
  uint64_t lead;  /* next sequence to send */
  uint64_t trail; /* oldest sequence still held */
  uint32_t cap;   /* ring size, a power of two >= window */
  struct smart__tx_slot *slots;

  /* Message queue: the datagrams messages are packed or fragmented
   * into as they are submitted, a ring of units (head uhead, un of them);
   * buffers read out of the window wait in spare (nspare of them, never
   * touched there: they are cold) for the next units. qbytes: the queued
   * messages' bytes not yet sent plus SMART__TX_MSG_COST per message,
   * against cfg.sndbuf; mn: the messages not yet sent whole. */
  struct smart__qunit *units;
  uint32_t uhead, un, ucap;
  uint8_t *spare[SMART__TX_SPARE];
  uint32_t nspare;
  uint64_t qbytes;
  uint32_t mn;

  /* Repair FIFO of sequences. */
  uint64_t *rq;
  uint32_t rqhead, rqn, rqcap;
  /* Sequences to confirm (PENDING) / to declare unavailable, unsorted. */
  uint64_t *ncf;
  uint32_t ncfn, ncfcap;
  uint64_t *unav;
  uint32_t unavn, unavcap;

  /* Heartbeats. */
  uint64_t hb_due;      /* next heartbeat time (NEVER: none scheduled) */
  uint32_t hb_count;    /* heartbeats since data stopped */
  uint64_t last_data;   /* time of the last new data datagram */
  uint64_t last_hb;     /* time of the last heartbeat */
  uint8_t hb_first;     /* announcing heartbeats still to go */
  uint16_t quiet_ms;    /* QUIET packet to send (0: none) */
  uint8_t ended;        /* smart__engine_end: heartbeats carry END */
  uint64_t first_at;    /* time of the first data datagram */

  /* Receivers (acks.c): who reported where they stand. */
  struct smart__rcv *rcv;
  uint32_t nrcv, rcvcap;
  uint32_t nlive;       /* receivers not evicted */
  uint32_t nnotify;     /* receivers with an EVICTED notice due */
  uint64_t min_pos;     /* lowest delivery point of the live ones */
  uint8_t min_dirty;
  uint8_t flushing;     /* a flush waits for the receivers */
  uint8_t ackreq_due;   /* the next heartbeat asks for positions */
  uint64_t wm;          /* the last watermark asked for */
  uint64_t wm_at;       /* when (0: never) */
  uint64_t blocked_at;  /* the window is full of data someone needs (0: no) */
  uint64_t rcv_check;   /* next sweep for silent / stalled receivers */
  struct smart__rcv_event *rev; /* event ring */
  uint32_t revhead, revn, revcap;
  struct smart__cct cc; /* congestion control (cfg.cc) */
};

struct smart__rcv {
  uint32_t src;
  uint8_t evicted;
  uint8_t notify;       /* an EVICTED notice is due to it */
  uint64_t notified;    /* when the last one went (0: never) */
  uint8_t behind;       /* BEHIND reported for the current stall */
  uint8_t complete;     /* COMPLETE reported for the current flush */
  uint64_t pos;
  uint64_t last;        /* last STATUS */
  uint64_t progress;    /* last time pos advanced */
  uint64_t rtt_ns;
  /* Congestion control (cc.c): its last report. */
  uint8_t cc_slow;      /* reported slow: it counts no more for the rate */
  uint32_t cc_tag, cc_p;
  uint8_t cc_events;    /* its loss event count, as it last said */
  uint64_t cc_rate;     /* what the equation gives (UINT64_MAX: no loss) */
  uint64_t cc_at;       /* when (0: never) */
  uint64_t slow_since;  /* below the floor since (0: not) */
  uint64_t cc_recv;     /* the receive rate it reported */
  uint64_t cc_rtt, cc_rtt_at; /* its mean round trip, for the equation */
  double cc_damp;       /* that mean over its last sample, 1 at most */
  uint8_t pos_flags;    /* capability bits of its last STATUS (SMART__POS_GCM) */
};

/* ---- Receiver (one per remote sender) ---------------------------------- */
enum { RX_NONE = 0, RX_MISSING, RX_HAVE, RX_LOST };
enum { PH_WAIT = 0, PH_HOLD, PH_QUEUED };

/* 16 bytes, four per cache line: with thousands of receivers in one
 * process (the simulator) the receive rings are the working set. */
struct smart__rx_slot {
  uint8_t state;  /* RX_* */
  uint8_t phase;  /* PH_*: for RX_MISSING */
  uint8_t rounds; /* request rounds spent */
  uint8_t own;    /* our own request is outstanding (RTT sample) */
  union {
    struct {        /* RX_HAVE */
      uint16_t len; /* payload length (< 2^16 by Packet Size) */
      uint8_t fmt;  /* its FMT */
      uint8_t pad;
    };
    uint32_t t_nak; /* RX_MISSING: (time >> 16) when armed or requested */
  };
  union {
    uint64_t deadline; /* RX_MISSING */
    uint32_t off;      /* RX_HAVE: the payload's offset in rxs.store */
  };
};

/* Times in slots are kept in units of 2^16 ns (65.5 us), modulo 2^32. */
#define T16(t) ((uint32_t)((t) >> 16))
#define T16_AGE(now, t16) ((uint64_t)(uint32_t)(T16(now) - (t16)) << 16)

struct smart__rxs {
  uint32_t src;
  uint32_t session;
  uint8_t have_session;
  uint8_t synced;   /* next/hi are defined */
  uint8_t hold;     /* SMART__JOIN_WINDOW: delivery waits for the trail */
  uint8_t k;
  uint64_t next;    /* next sequence to deliver */
  uint64_t hi;      /* one past the largest sequence known to exist */
  uint32_t cap;     /* ring of [next, hi), a power of two */
  struct smart__rx_slot *slots;
  uint32_t nmissing;
  uint64_t deadline; /* earliest timer of the missing slots */
  uint8_t dirty;     /* deadline must be recomputed */
  uint64_t quiet_until;
  uint64_t grtt_ns;  /* advertised */
  uint64_t rtt_ns;   /* learned (0: none yet) */
  uint32_t gsize;
  double lambda, elam; /* λ = ln(gsize)+1 and e^λ - 1 */

  /* Reassembly of a fragmented message (fragments are consecutive). */
  uint8_t *asm_buf;
  uint32_t asm_len, asm_fill, asm_cap; /* message length, bytes held, allocated */
  uint64_t asm_seq;
  uint8_t asm_on;   /* a message is being reassembled */
  uint8_t asm_skip; /* discard fragments until the next message start */

  /* Sequences to request in the next REPLACEMENT. */
  uint64_t *nq;
  uint32_t nqn, nqcap;

  /* A position (heartbeat or confirm) past what we know of the sender,
   * not believed until the sender's own datagrams agree (rx.c). */
  uint8_t claim_on;
  uint64_t claim_lead, claim_trail, claim_at;

  /* Liveness of the sender and our STATUS reports (acks.c). */
  uint64_t last_heard;   /* last packet from this sender */
  uint64_t status_due;   /* next STATUS (NEVER: none) */
  uint64_t status_pos;   /* position last reported (UINT64_MAX: none) */
  uint8_t early;         /* early STATUS sent after the first (acks.c) */
  uint64_t want_wm;      /* the sender asked for a report at this point */
  uint64_t echo_at;      /* when the last ACKREQ was heard */
  uint32_t echo;         /* its Timestamp */
  uint8_t inactive;      /* SMART__EV_SENDER_INACTIVE reported */
  uint8_t ended;         /* the sender said its stream ended (END) */
  uint8_t leaving;       /* our last STATUS says we leave */
  uint8_t final_sent;    /* ended: our last STATUS went out */
  uint8_t gone;          /* reported gone; the next packet is a new start */
  /* Reported gone while its session was known: heard again in the same
   * session, its stream goes on from resume_next (everything before was
   * delivered or reported lost), not from where a new receiver would
   * start; until a heartbeat or confirm names the session, data held. */
  uint8_t resume;
  uint8_t hold_window;   /* hold is for a window join (or R), not only the resume */
  uint32_t resume_session;
  uint64_t resume_next;  /* in the sender's numbering */
  uint8_t hb_start;      /* the heartbeat being read has START */
  uint8_t evicted_told;  /* SMART__EV_EVICTED reported, for evicted_seq */
  uint64_t evicted_seq;  /* the sender's trail in its notice */
  uint64_t end_lead;     /* ... at this lead */

  struct smart__ccr cc;   /* congestion control (cc.c) */

  /* Payloads of packets held out of order, appended in arrival order
   * (which is nearly sequence order), read back in sequence order, and
   * compacted when more than half of the bytes are dead. */
  uint8_t *store;
  uint32_t store_cap, store_used, store_live;
};

/* ---- Events --------------------------------------------------------------- */
struct smart__ev_int {
  uint32_t type;
  uint32_t src_id;
  uint64_t seq;
  uint64_t count;
  uint32_t session;
  uint64_t off;  /* into the delivery arena, when owned == NULL and lent == NULL */
  uint8_t *owned; /* a reassembled message buffer, freed after polling */
  const uint8_t *lent; /* in the caller's lent buffer (smart__engine_lend) */
  size_t len;
};

#define SMART__EV_INLINE 8u      /* event slots inside the engine */
#define SMART__ARENA_INLINE 512u /* event bytes inside the engine */

struct smart__engine {
  /* Fields used for every datagram come first, with the first event slots,
   * a small event arena and the first sender's receiver state inside the
   * struct: a simulator runs thousands of engines, and one datagram then
   * touches one contiguous region instead of five allocations. */
  uint8_t sync;
  uint32_t nrx;
  uint64_t last_now;
  uint64_t rx_at;             /* arrival of what is being read (0: now) */
  uint32_t rx_drops;          /* entries the host dropped just before it
                                 (smart__engine_local_drops), not yet matched to a gap */
  uint64_t rx_drops_all;      /* every entry the host dropped, ever: a
                                 receive-rate window they fall in (cc.c) is
                                 not the path's */
  struct smart__rxs *rx_last; /* lookup cache */
  struct smart__rxs **rx;     /* receiver states */
  struct smart__tx *tx;       /* NULL until the first submit */
  struct smart__ev_int *ev;   /* ring: ev_inline or allocated */
  uint32_t evhead, evn, evcap;
  uint32_t nretired;
  uint8_t *arena;             /* arena_inline or allocated */
  uint64_t arena_len, arena_cap;
  uint64_t msgs_received, bytes_received; /* folded into st on read */
  /* The buffer the caller lends (smart__engine_lend): in-order messages
   * that lie in it are handed out from it, not copied; nlent of the
   * pending events point into it. */
  uintptr_t lend_lo, lend_hi;
  uint32_t nlent;
  struct smart__ev_int ev_inline[SMART__EV_INLINE];
  uint8_t arena_inline[SMART__ARENA_INLINE];
  struct smart__rxs rx_inline; /* the first remote sender */
  struct smart__rxs *rx_inline_ptr;

  struct smart__engine_config cfg;
  struct smart__mem mem;
  struct smart__rng rng;
  uint64_t grtt_ns;
  uint32_t rxcap;
  uint32_t nak_rr;            /* round-robin index for building requests */
  uint64_t asm_bytes;         /* reassembly memory of all senders (<= max_queue) */

  /* Reassembled buffers handed out by poll, freed at the next call. */
  uint8_t **retired;
  uint32_t retiredcap;

  /* What the engine sends as a sender: cfg.rate bytes per second,
   * cfg.burst bytes deep, or congestion control's rate (cc.c). */
  struct smart__ratelim tb;
  /* What it sends as a receiver (requests, reports): cfg.rate, never
   * congestion control's, which is the rate of this socket's own stream.
   * A socket that both sends and receives must not starve its own data
   * for its reports of another sender's stream (reports every 1 to 10 ms
   * took all of a 40 KB/s rate), nor those reports for its data. */
  struct smart__ratelim fb;
  /* What requests may make the sender repair (rbudget.c); NULL until used. */
  struct smart__rbudget *rb;

  struct smart__stats st;

  /* The datagram being produced goes by unicast to out_src. */
  uint8_t out_unicast;
  uint32_t out_src;
  /* smart__engine_send_ref: where a new DATA datagram's window copy is
   * pointed to instead of copied to `out` (NULL: copy). */
  uint8_t **out_ref;

  uint32_t cc_tag; /* receivers: our congestion-control tag (0: not drawn) */
};

/* ---- Memory: util/mem.h, with the engine's allocator ------------------- */
static inline void *smart__alloc(struct smart__engine *e, size_t n) {
  return smart__mem_alloc(&e->mem, n);
}
static inline void *smart__zalloc(struct smart__engine *e, size_t n) {
  return smart__mem_zalloc(&e->mem, n);
}
static inline void *smart__realloc(struct smart__engine *e, void *p, size_t n) {
  return smart__mem_realloc(&e->mem, p, n);
}
static inline void smart__free(struct smart__engine *e, void *p) {
  smart__mem_free(&e->mem, p);
}
/* Grow an array of `*cap` elements of `elem` bytes to hold `need`. */
static inline int smart__grow(struct smart__engine *e, void **arr,
                              uint32_t *cap, uint32_t need, size_t elem) {
  return smart__mem_grow(&e->mem, arr, cap, need, elem);
}

/* ---- Packets (engine.c) ---------------------------------------------------- */
/* The SESSION extension of a request: 1 and `*sess`, or 0 (absent = any). */
int smart__pkt_session(const struct smart__pkt *p, uint32_t *sess);
/* Set up a REPLACEMENT or QUIET (`cmd`) to our group; with a SESSION
 * extension naming `session` (written to ext[8]) when has_session. */
void smart__req_init(const struct smart__engine *e, struct smart__pkt *p,
                     unsigned cmd, int has_session, uint32_t session,
                     uint8_t ext[8]);

/* ---- Events and delivery arena (evq.c) ------------------------------------ */
/* Start of every call: frees what poll handed out last time. */
void smart__evq_begin(struct smart__engine *e);
void smart__evq_free(struct smart__engine *e);
int smart__ev_msg(struct smart__engine *e, uint32_t src, uint64_t seq,
                  const uint8_t *p, size_t len);
/* Move the pending events that point into the lent buffer to the arena. */
int smart__evq_unlend(struct smart__engine *e);
int smart__ev_msg_owned(struct smart__engine *e, uint32_t src, uint64_t seq,
                        uint8_t *buf, size_t len);
int smart__ev_loss(struct smart__engine *e, uint32_t src, uint64_t seq,
                   uint64_t count);
int smart__ev_new_sender(struct smart__engine *e, uint32_t src,
                         uint32_t session);
/* A bare event at the tail of the queue (NULL: out of memory). */
struct smart__ev_int *smart__ev_push(struct smart__engine *e, uint32_t type, uint32_t src,
                                     uint64_t seq, uint64_t count);

/* ---- Sender (tx.c) ------------------------------------------------------ */
int smart__tx_create(struct smart__engine *e);
void smart__tx_free(struct smart__engine *e);
int smart__tx_submit(struct smart__engine *e, const void *msg, size_t len,
                     uint64_t now);
/* A REPLACEMENT from `src` addressed to our session (or to any). */
int smart__tx_on_request(struct smart__engine *e, uint32_t src, const struct smart__pkt *p,
                         uint64_t now);

/* ---- Repair budget (rbudget.c) ------------------------------------------ */
struct smart__rbudget;
/* An original data datagram of `len` bytes goes out now, at the lead (called
 * before it takes its slot). */
void smart__rb_sent(struct smart__engine *e, size_t len);
/* May a repair of `bytes` be queued at `src`'s request? 1: yes (paid). */
int smart__rb_take(struct smart__engine *e, uint32_t src, uint32_t bytes, uint64_t now);
void smart__rb_free(struct smart__engine *e);
smart_ssize smart__tx_send(struct smart__engine *e, uint8_t *out,
                           size_t outlen, uint64_t now);
uint64_t smart__tx_expiry(struct smart__engine *e);

/* ---- Receiver (rx.c) ----------------------------------------------------- */
static inline struct smart__rx_slot *smart__rx_slot(struct smart__rxs *r,
                                                    uint64_t s) {
  return &r->slots[s & (r->cap - 1)];
}
/* A missing sequence given up: no more requests, reported at delivery. */
static inline void smart__rx_mark_lost(struct smart__rxs *r,
                                       struct smart__rx_slot *sl) {
  if (sl->state != RX_MISSING)
    return;
  sl->state = RX_LOST;
  r->nmissing--;
}
void smart__rxs_free(struct smart__engine *e, struct smart__rxs *r);
struct smart__rxs *smart__rx_find(const struct smart__engine *e, uint32_t src);
int smart__rx_on_data(struct smart__engine *e, uint32_t src,
                      const struct smart__pkt *p, uint64_t now);
/* A REPLACEMENT heard from a peer (shared learning). */
void smart__rx_on_peer_request(struct smart__engine *e, uint32_t src,
                               const struct smart__pkt *p, uint64_t now);
int smart__rx_on_quiet(struct smart__engine *e, uint32_t src,
                       const struct smart__pkt *p, uint64_t now);
int smart__rx_handle_expiry(struct smart__engine *e, uint64_t now);
/* Sender r is gone (silent, or `ended` and complete): what is missing is
 * reported lost, then SMART__EV_SENDER_GONE, and its state starts over. */
int smart__rx_gone(struct smart__engine *e, struct smart__rxs *r, int ended);

/* ---- Receiver positions (acks.c) ------------------------------------------ */
/* Receiver side: a packet from sender r at `now`; the sender's heartbeat
 * flags; delivery advanced. */
void smart__acks_heard(struct smart__engine *e, struct smart__rxs *r, uint64_t now);
void smart__acks_on_hb(struct smart__engine *e, struct smart__rxs *r,
                       const struct smart__hb *hb, uint64_t now);
void smart__acks_advanced(struct smart__engine *e, struct smart__rxs *r, uint64_t now);
/* Timers of receiver r: sender silence and STATUS; 1 when the sender was
 * found gone (r was reset), 0, or an error. */
int smart__acks_rx_expire(struct smart__engine *e, struct smart__rxs *r, uint64_t now);
uint64_t smart__acks_rx_expiry(const struct smart__engine *e, const struct smart__rxs *r);
/* The next STATUS of receiver r, if due. */
smart_ssize smart__acks_rx_send(struct smart__engine *e, struct smart__rxs *r,
                                uint8_t *out, size_t outlen, uint64_t now);
/* Sender: the next EVICTED notice due (unicast), or 0. Receiver: a
 * sender's notice (POSITION with SMART__POS_EVICTED). */
smart_ssize smart__acks_tx_notice(struct smart__engine *e, uint8_t *out, size_t outlen,
                                  uint64_t now);
int smart__acks_on_notice(struct smart__engine *e, uint32_t src, const struct smart__pos *ps,
                          uint32_t session);
/* Sender side: a STATUS addressed to us. */
int smart__acks_on_status(struct smart__engine *e, uint32_t src,
                          const struct smart__pkt *p, uint64_t now);
/* May the oldest held sequence go? (The policy's release rule.) */
int smart__acks_may_release(struct smart__engine *e, uint64_t now);
/* The time horizon in ns (0: none). */
uint64_t smart__acks_horizon(const struct smart__engine *e);
/* When the release rule may change by time alone (NEVER: only by reports). */
uint64_t smart__acks_release_at(struct smart__engine *e);
/* Sender timers: silent / stalled receivers, watermark requests. */
void smart__acks_tx_expire(struct smart__engine *e, uint64_t now);
uint64_t smart__acks_tx_expiry(const struct smart__engine *e);
void smart__acks_tx_free(struct smart__engine *e);
/* Fill the ACKREQ fields of a heartbeat when positions are wanted. */
int smart__acks_hb_due(const struct smart__engine *e, uint64_t now);
void smart__acks_hb_fill(struct smart__engine *e, struct smart__hb *hb, uint64_t now);
/* The stream's start phase: nothing released and less than
 * SMART__TX_START since the first data (data carries R, heartbeats START). */
#define SMART__TX_START SMART__MS(500)
int smart__tx_starting(const struct smart__engine *e, uint64_t now);
/* The release hold without reports (NORM's flow-control rule, doubled). */
uint64_t smart__tx_release_hold(const struct smart__engine *e);

/* A STATUS to sender r now (congestion control asks for it). */
void smart__acks_status_now(struct smart__engine *e, struct smart__rxs *r, uint64_t now);
/* Receiver events of the local sender (cc.c pushes SLOW, CLR, EVICTED). */
void smart__acks_rev(struct smart__engine *e, uint32_t type, const struct smart__rcv *rc,
                     uint64_t reason, uint64_t rate, uint32_t loss_ppm, uint32_t rtt_us);

/* ---- Congestion control (cc.c) ------------------------------------------- */
/* The TCP throughput equation (RFC 5348 §3.1, b = 1, t_RTO = 4 R): bytes/s
 * for segments of `s` bytes, round trip `r_ns` and loss event rate `p`;
 * UINT64_MAX for p <= 0. */
uint64_t smart__cc_equation(double s, uint64_t r_ns, double p);
/* Sender. */
void smart__cc_tx_init(struct smart__engine *e, uint64_t now);
void smart__cc_tx_update(struct smart__engine *e, uint64_t now);
void smart__cc_tx_apply(struct smart__engine *e, uint64_t now);
int smart__cc_tx_hb_due(const struct smart__engine *e, uint64_t now);
/* A heartbeat that goes before repairs (a new CLR, a lower rate). */
int smart__cc_tx_urgent(const struct smart__engine *e, uint64_t now);
uint64_t smart__cc_tx_expiry(const struct smart__engine *e);
void smart__cc_tx_hb_fill(struct smart__engine *e, struct smart__hb *hb, uint64_t now);
/* A datagram of `len` bytes went (new data: `data`). */
void smart__cc_tx_sent(struct smart__engine *e, size_t len, int data, uint64_t now);
/* A round-trip sample of receiver rc (the measured GRTT). */
void smart__cc_tx_rtt(struct smart__engine *e, const struct smart__rcv *rc, uint64_t sample_ns);
/* A report: the CCFB of a STATUS whose Echo Delay says the receiver heard
 * our last heartbeat `since_hb` ago (UINT64_MAX: none), with the round
 * trip sample it gave (0: none). */
void smart__cc_tx_report(struct smart__engine *e, struct smart__rcv *rc,
                         const struct smart__ccfb *f, uint64_t since_hb, uint64_t sample,
                         uint64_t now);
void smart__cc_tx_gone(struct smart__engine *e, const struct smart__rcv *rc, uint64_t now);
void smart__cc_tx_sweep(struct smart__engine *e, uint64_t now);
/* Receiver. */
void smart__cc_rx_hb(struct smart__engine *e, struct smart__rxs *r, const struct smart__hb *hb,
                     uint64_t now);
void smart__cc_rx_data(struct smart__engine *e, struct smart__rxs *r, const struct smart__pkt *p,
                       uint64_t now);
uint64_t smart__cc_rx_expiry(const struct smart__rxs *r);
void smart__cc_rx_expire(struct smart__engine *e, struct smart__rxs *r, uint64_t now);
/* Fill the CCFB of the STATUS being built: 1, or 0 when it has none. */
int smart__cc_rx_fill(struct smart__engine *e, struct smart__rxs *r, struct smart__ccfb *f,
                      uint64_t now);
/* That STATUS went. */
void smart__cc_rx_sent(struct smart__engine *e, struct smart__rxs *r, uint64_t now);
/* For the stats: this receiver's figures for sender r. */
uint64_t smart__cc_rx_rate(const struct smart__rxs *r);
double smart__cc_rx_p(const struct smart__rxs *r);
uint64_t smart__cc_rx_rtt(const struct smart__rxs *r);

/* ---- Request timers, suppression, REPLACEMENT (nak.c) --------------------- */
/* Start the request timer of a missing slot (after any QUIET). */
void smart__nak_arm_wait(struct smart__engine *e, struct smart__rxs *r,
                         struct smart__rx_slot *sl, uint64_t now);
/* Wait for a repair that was asked for (by us or a peer). */
void smart__nak_arm_hold(struct smart__rxs *r, struct smart__rx_slot *sl,
                         uint64_t now);
/* A repair of our own request arrived: an RTT sample. */
void smart__nak_learn_rtt(struct smart__rxs *r, struct smart__rx_slot *sl,
                          uint64_t now);
enum { SEEN_PEER_NAK, SEEN_NCF, SEEN_UNAVAILABLE };
/* Sequence s was requested by a peer, or confirmed (pending or
 * unavailable) by the sender. */
void smart__nak_seen(struct smart__engine *e, struct smart__rxs *r,
                     uint64_t s, uint64_t now, int kind);
/* Fire the timers of one sender's gaps that are due: 1 if some sequence was
 * given up (delivery may advance), 0, or an error. */
int smart__nak_expire(struct smart__engine *e, struct smart__rxs *r,
                      uint64_t now);
uint64_t smart__rx_expiry(struct smart__engine *e);
smart_ssize smart__rx_send(struct smart__engine *e, uint8_t *out,
                           size_t outlen, uint64_t now);

/* When the datagram being read arrived (smart__engine_arrival), within
 * [now - 1 s, now]. */
static inline uint64_t smart__rx_time(const struct smart__engine *e, uint64_t now) {
  uint64_t a = e->rx_at;
  return a && a <= now && now - a < SMART__SEC(1) ? a : now;
}

#endif /* SMART_ENGINE_INT_H */
