/*
 * Congestion control: single-rate, TFMCC-like (RFC 4654), over the
 * heartbeats and STATUS reports the engine already has. The reasoning and
 * every parameter are in smart-protocol(7), "CONGESTION CONTROL".
 *
 * Receivers measure, for each sender that runs it, their loss event rate
 * p (TFRC's, RFC 5348 §5: losses within one round trip are one event, the
 * weighted mean of the last 8 loss intervals, the open interval counted
 * when it raises the mean) and their receive rate, and say both in every
 * STATUS (CCFB extension), with the echo of the sender's last heartbeat
 * Timestamp that the sender measures their round trip from. The sender
 * keeps each receiver's mean round trip (over 0.5 s: the saw-tooth of a
 * queue, not its last tooth) and turns each report into a rate with the
 * TCP equation (RFC 5348 §3.1); the receiver with the lowest rate is the
 * current limiting receiver (CLR). The rate follows what the CLR allows:
 * the equation's rate or, since its last loss event, TCP's additive
 * increase from there; damped by its last round trip against the mean
 * (RFC 5348 §4.5, linear: a queue that builds slows us before it
 * overflows, as a TCP window would); never more than an eighth above
 * what it receives (twice in slow start), the ack clock a rate lacks.
 * Slow start doubles per feedback round, at the start and after idle.
 *
 * Feedback does not grow with the group. The CLR reports when its rate
 * fell by a tenth or rose by a quarter, or its receive rate by an eighth,
 * and every max(4 RTT, 256 segments) to stay known. Every other receiver
 * reports only when the rate it computes for itself is at least 10%
 * below the lowest rate reported in the current feedback round, after a
 * random timer biased to the lowest rates (TFMCC's, over 6 GRTT, 4 in
 * slow start, for an upper bound of max(gsize, 10,000) receivers, a
 * quarter of it by rate, as NORM-CC does); the sender echoes the lowest
 * rate heard, at once, even before repairs, and the others' timers stop.
 * Position STATUS (acks.c) carry the same figures, so every receiver is
 * heard now and then anyway; the sender echoes each reporter's round trip
 * to it in later heartbeats.
 *
 * The sender also measures GRTT: the peak of the round trips of the
 * reports, a larger one at once (3/4 of it), decaying by 1/10 a second
 * otherwise (NORM), never below the configured GRTT. Heartbeats advertise
 * it, and the request timers of the receivers follow.
 */
#include "engine_int.h"

#include <string.h>

#include "util/fmath.h"

/* Feedback timer spread, in GRTT (in slow start, when overshoot costs
 * most, shorter); a round lasts one GRTT more. */
#define FB_T 6u
#define FB_T_SS 4u
/* Report only when at least this far below the suppression rate. */
#define FB_DELTA 0.1
/* Share of the timer given by the rate (NORM-CC's bias). */
#define FB_GAMMA 0.25
/* Receivers assumed at most, for the timer's shape (TFMCC's N). */
#define FB_NMAX 10000u
/* The CLR: keepalive in round trips, and in segments at the rate. */
#define CLR_KEEP_RTT 4u
#define CLR_KEEP_SEG 256u
#define CLR_KEEP_MAX SMART__SEC(1) /* ... the segments' part at most */
/* ... and given up after this many keepalives without a report. */
#define CLR_LOST 3u
/* The CLR's reports, whatever the round trip: at most one per 10 ms. */
#define FB_GAP SMART__MS(10)
/* In slow start, on a short path, four round trips (1 ms at least): the
 * CLR's reports and the receive and send rates' windows, so that the
 * doubling is paced by the feedback round (FB_T_SS + 1 round trips), not
 * by a 10 ms window that the rate outgrows (on a LAN, 10 ms is a hundred
 * round trips: slow start to 1 GB/s took 120 ms). From a 2.5 ms round
 * trip on, FB_GAP. */
#define SS_GAP_MIN SMART__MS(1)
/* The token bucket's depth at most (smart__cc_tx_apply). */
#define CC_BURST_MAX (1u << 20)
/* Without any report since the first data, the rate waits this long. */
#define NOFB_WAIT SMART__SEC(1)
/* Idle (no data) this long: the rate decays and slow start restarts. */
#define IDLE_MIN SMART__MS(100)
/* Below the floor this long: the receiver is slow. */
#define SLOW_AFTER SMART__SEC(2)
/* A heartbeat at least every max(10 ms, 32 segments at the rate). */
#define HB_MIN SMART__MS(10)
#define HB_SEG 32u
/* At most one CLR event to the application a second. */
#define EV_GAP SMART__SEC(1)
/* GRTT: the peak of each second. */
#define GRTT_PROBE SMART__SEC(1)
#define RTT_FLOOR SMART__US(100)
/* The rate is updated at most this often without a report (cc_tx_update). */
#define UPD_MIN SMART__US(50)
/* Round trips below this are one to the damping: under a millisecond the
 * difference is the hosts' scheduling, not a queue (one of 1 ms is 6 KB
 * at 50 Mbit/s; a bottleneck's queue that matters is longer). */
#define DAMP_FLOOR SMART__MS(1)
/* The mean round trip of a receiver, for the equation: over 0.5 s. */
#define CC_RTT_TAU SMART__MS(500)

static const double w8[SMART__CC_HIST] = {1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2};

uint64_t smart__cc_equation(double s, uint64_t r_ns, double p) {
  if (!(p > 0))
    return UINT64_MAX;
  if (p > 1)
    p = 1;
  double r = (double)(r_ns < RTT_FLOOR ? RTT_FLOOR : r_ns) / 1e9;
  double f = r * smart__sqrt(2 * p / 3) +
             4 * r * (3 * smart__sqrt(3 * p / 8)) * p * (1 + 32 * p * p);
  double x = s / f;
  return x >= 1.8e19 ? UINT64_MAX - 1 : (uint64_t)x;
}

/* The p that gives rate x (RFC 5348 §6.3.1: the first loss interval is the
 * one that gives half the receive rate), by bisection over ln p. */
static double p_for(double s, uint64_t r_ns, double x) {
  double lo = -23, hi = 0; /* ln 1e-10 .. ln 1 */
  for (int i = 0; i < 50; i++) {
    double mid = (lo + hi) / 2;
    if ((double)smart__cc_equation(s, r_ns, smart__exp(mid)) > x)
      lo = mid; /* still too fast: more loss */
    else
      hi = mid;
  }
  return smart__exp((lo + hi) / 2);
}

/* ---- Receiver ------------------------------------------------------------ */

/* Our round trip: as the sender measured and echoed it (its mean); until
 * then GRTT, the largest in the group (TFMCC's conservative start: our
 * rate is then low, we report and get measured; a smaller guess splits
 * one loss event into many). Not the one learnt from our requests
 * (nak.c): a repair someone else asked for earlier makes it short. */
uint64_t smart__cc_rx_rtt(const struct smart__rxs *r) {
  const struct smart__ccr *c = &r->cc;
  return c->rtt_ns ? c->rtt_ns : r->grtt_ns;
}

double smart__cc_rx_p(const struct smart__rxs *r) {
  const struct smart__ccr *c = &r->cc;
  if (!c->loss || !c->hi)
    return 0;
  /* RFC 5348 §5.4: the mean of the closed intervals, and of the open one
   * with all but the oldest; the larger. */
  double open = (double)(c->hi - c->ev_seq);
  double t0 = 0, w0 = 0, t1 = 0, w1 = 0;
  for (unsigned i = 0; i < c->nhist; i++) {
    t1 += c->hist[i] * w8[i];
    w1 += w8[i];
  }
  double m1 = w1 > 0 ? t1 / w1 : 0;
  /* History discounting (§5.5): an open interval twice the mean weighs the
   * older ones down, by half at most, so the rate recovers sooner when
   * the congestion is over. */
  double df = open > 2 * m1 && m1 > 0 ? 2 * m1 / open : 1;
  if (df < 0.5)
    df = 0.5;
  t0 = open * w8[0];
  w0 = w8[0];
  for (unsigned i = 0; i + 1 < SMART__CC_HIST && i < c->nhist; i++) {
    t0 += df * c->hist[i] * w8[i + 1];
    w0 += df * w8[i + 1];
  }
  double m0 = t0 / w0;
  double mean = m0 > m1 ? m0 : m1;
  return mean >= 1 ? 1 / mean : 1;
}

static double seg_of(const struct smart__rxs *r) { return r->cc.seg ? r->cc.seg : 1400; }

uint64_t smart__cc_rx_rate(const struct smart__rxs *r) {
  return smart__cc_equation(seg_of(r), smart__cc_rx_rtt(r), smart__cc_rx_p(r));
}

/* What this receiver would limit the sender to: the equation's rate, or
 * before any loss, while the sender is in slow start, twice what it
 * receives (RFC 5348 §4.3; TFMCC's slow start). */
static uint64_t limit_of(const struct smart__rxs *r) {
  const struct smart__ccr *c = &r->cc;
  if (c->loss)
    return smart__cc_rx_rate(r);
  return c->ss && c->x_recv ? 2 * c->x_recv : UINT64_MAX;
}

static uint64_t ss_gap(uint64_t rtt) {
  uint64_t g = 4 * rtt;
  return g < SS_GAP_MIN ? SS_GAP_MIN : g > FB_GAP ? FB_GAP : g;
}

static uint64_t clr_keep(uint64_t rtt, uint64_t rate, double seg, int ss) {
  if (ss) { /* slow start grows by the CLR's reports: one a round trip */
    uint64_t g = ss_gap(rtt);
    return rtt > g ? rtt : g;
  }
  uint64_t a = CLR_KEEP_RTT * rtt;
  uint64_t b = rate ? (uint64_t)(CLR_KEEP_SEG * seg * 1e9 / (double)rate) : a;
  if (b > CLR_KEEP_MAX)
    b = CLR_KEEP_MAX;
  a = a > b ? a : b;
  return a > FB_GAP ? a : FB_GAP;
}

static void cc_reset(struct smart__ccr *c, uint32_t session) {
  uint64_t local = c->local; /* a counter, for the statistics */
  memset(c, 0, sizeof(*c));
  c->local = local;
  c->session = session;
  c->fb_due = c->clr_due = SMART__NEVER;
}

/* What our rate is compared with: once a receiver reported in this round
 * (the heartbeat names it), the lowest rate the sender heard or its own if
 * lower, as is (a receiver's own figure, in slow start twice what it
 * receives, as ours is); before that the sender's rate, in slow start
 * twice that, the rate it will have reached by the next round (the rate
 * it says is one our queue held back: behind a queue that fills, we would
 * speak too late). Comparing with twice the first report too, and not
 * knowing of a report that was not below the rate, made every receiver of
 * an application-limited sender (which stays in slow start at twice what
 * they receive) report in every round. */
static uint64_t compare_with(const struct smart__ccr *c) {
  if (c->x_supp && (c->supp_heard || c->x_supp < c->x_send))
    return c->x_supp;
  if (c->ss)
    return c->x_send > UINT64_MAX / 2 ? UINT64_MAX : 2 * c->x_send;
  return c->x_send;
}

/* Should we report in this round? Then arm the timer (once per round). */
static void consider(struct smart__engine *e, struct smart__rxs *r, uint64_t now) {
  struct smart__ccr *c = &r->cc;
  if (c->clr || c->reported)
    return;
  uint64_t m = limit_of(r);
  uint64_t cmp = compare_with(c);
  int want = m != UINT64_MAX && (double)m < (1 - FB_DELTA) * (double)cmp;
  if (!want) {
    c->fb_due = SMART__NEVER; /* someone as low has spoken: suppressed */
    return;
  }
  if (c->fb_due != SMART__NEVER)
    return;
  /* TFMCC's timer, t = T max(0, 1 + ln u / ln N), with a quarter of T
   * given by the rate: the lower the rate, the earlier. */
  double T = (double)((c->ss ? FB_T_SS : FB_T) * r->grtt_ns);
  double n = r->gsize > FB_NMAX ? r->gsize : FB_NMAX;
  double u = 1 - smart__rng_unit(&e->rng); /* (0, 1] */
  double te = T * (1 + smart__ln(u) / smart__ln(n));
  if (te < 0)
    te = 0;
  double ratio = (double)m / (double)cmp;
  c->fb_due = now + (uint64_t)(FB_GAMMA * ratio * T + (1 - FB_GAMMA) * te);
}

static void report_soon(struct smart__rxs *r, uint64_t now) {
  struct smart__ccr *c = &r->cc;
  uint64_t rtt = smart__cc_rx_rtt(r), g = rtt / 4, least = c->ss ? ss_gap(rtt) : FB_GAP;
  uint64_t t = c->last_fb + (g > least ? g : least);
  if (t < now)
    t = now;
  if (t < c->clr_due)
    c->clr_due = t;
}

/* The CLR reports when its rate fell by 10% since its last report (a loss
 * event, a longer round trip), or rose by a quarter; otherwise at its
 * keepalive. */
static void clr_check(struct smart__rxs *r, uint64_t now) {
  struct smart__ccr *c = &r->cc;
  if (!c->x_last)
    return;
  uint64_t m = limit_of(r);
  if (m < c->x_last - c->x_last / 10 || m / 5 > c->x_last / 4 ||
      c->x_recv > c->recv_last + c->recv_last / 8)
    report_soon(r, now);
}

/* A loss at sequence q, seen at time t. */
static void lost(struct smart__engine *e, struct smart__rxs *r, uint64_t q, uint64_t t,
                 uint64_t now) {
  struct smart__ccr *c = &r->cc;
  uint64_t rtt = smart__cc_rx_rtt(r);
  if (!c->loss) {
    /* The first: an interval that gives half the receive rate, or of
     * what the sender allows, if more (a sender that had little to send:
     * its receive rate says nothing of the path). */
    double x = (double)(c->x_recv > c->x_send ? c->x_recv : c->x_send) / 2;
    double p = x > 0 ? p_for(seg_of(r), rtt, x) : 1;
    double i1 = 1 / p;
    c->hist[0] = i1 > 4e9 ? 4000000000u : (uint32_t)(i1 < 1 ? 1 : i1);
    c->nhist = 1;
    c->loss = 1;
    c->first = 1;
  } else if (q >= c->ev_seq && t >= c->ev_at + rtt) {
    memmove(c->hist + 1, c->hist, (SMART__CC_HIST - 1) * sizeof(c->hist[0]));
    c->first = 0;
    uint64_t iv = q - c->ev_seq;
    c->hist[0] = iv > 4000000000u ? 4000000000u : iv ? (uint32_t)iv : 1;
    if (c->nhist < SMART__CC_HIST)
      c->nhist++;
  } else {
    return; /* the same loss event */
  }
  c->ev_seq = q;
  c->ev_at = t;
  c->events++;
  if (c->clr)
    clr_check(r, now);
  else
    consider(e, r, now);
}

/* A candidate judged lost: a loss event, unless our own socket dropped it. */
static void judged(struct smart__engine *e, struct smart__rxs *r, const struct smart__cc_cand *k,
                   uint64_t now) {
  if (k->local)
    r->cc.local++;
  else
    lost(e, r, k->lo, k->at, now);
}

static void cand_add(struct smart__engine *e, struct smart__rxs *r, uint64_t lo, uint64_t hi,
                     uint64_t at, int local, uint64_t now) {
  struct smart__ccr *c = &r->cc;
  if (c->ncand == SMART__CC_CAND) { /* full: the oldest is judged lost */
    struct smart__cc_cand old = c->cand[0];
    memmove(c->cand, c->cand + 1, (SMART__CC_CAND - 1) * sizeof(c->cand[0]));
    c->ncand--;
    judged(e, r, &old, now);
  }
  c->cand[c->ncand++] = (struct smart__cc_cand){lo, hi, at, (uint8_t)(local != 0)};
}

/* A new gap [lo, hi): ours, when the host's socket dropped entries since
 * the last original that came in order, as many as the gap can fill (an
 * entry is a datagram or a segmentation-offload train of up to
 * SMART__DROP_ENTRY_MAX); a larger gap is a loss event, as a drop
 * elsewhere in the path would be. The drops explain this one gap. (The
 * datagram that tells of them may be a repair or a heartbeat that shows
 * no gap: they wait for the gap, but not past an original in order, which
 * says they were not ours.) */
static void gap_add(struct smart__engine *e, struct smart__rxs *r, uint64_t lo, uint64_t hi,
                    uint64_t now) {
  int local = e->rx_drops && hi - lo <= (uint64_t)e->rx_drops * SMART__DROP_ENTRY_MAX;
  e->rx_drops = 0;
  cand_add(e, r, lo, hi, now, local, now);
}

static void cand_drop(struct smart__ccr *c, unsigned i) {
  memmove(c->cand + i, c->cand + i + 1, (c->ncand - i - 1) * sizeof(c->cand[0]));
  c->ncand--;
}

/* Judge the candidates: lost once three later originals came and 1 ms
 * passed, or once a quarter round trip passed (2 ms at least); reordering
 * in between is not loss. */
static void cand_check(struct smart__engine *e, struct smart__rxs *r, uint64_t now) {
  struct smart__ccr *c = &r->cc;
  uint64_t age = smart__cc_rx_rtt(r) / 4;
  if (age < SMART__MS(2))
    age = SMART__MS(2);
  for (unsigned i = 0; i < c->ncand;) {
    struct smart__cc_cand *k = &c->cand[i];
    if ((c->hi >= k->hi + 3 && now >= k->at + SMART__MS(1)) || now >= k->at + age) {
      struct smart__cc_cand old = *k;
      cand_drop(c, i);
      judged(e, r, &old, now);
      continue;
    }
    i++;
  }
}

void smart__cc_rx_data(struct smart__engine *e, struct smart__rxs *r, const struct smart__pkt *p,
                       uint64_t now) {
  struct smart__ccr *c = &r->cc;
  if (!c->on || !r->synced)
    return;
  uint64_t s = smart__seq_expand(c->hi ? c->hi : r->hi, p->u.data.seq);
  /* Receive rate: every data byte, repairs too, over windows of a round
   * trip (10 ms at least), or of the gap to the next datagram when the
   * rate is lower than that (a low rate is a rate: the sender knows when
   * it had little to send, RFC 5348 4.3). By arrival (the kernel's stamp),
   * not by when it was read: the path's rate, not the application's (a
   * receiver held up for a few milliseconds reads the backlog at once;
   * by read time that window would say a tenth of what the path carried,
   * and the sender would cut its rate for a stall that was not the path's:
   * a receiver slower than the sender is flow control's, flow.c). For
   * the same reason a window in which this host's socket dropped
   * datagrams (its buffer overflowed: the receiver could not keep up)
   * says nothing of the path and leaves the rate as it was: the network
   * delivered more than was counted, and flow control slows the sender
   * for such a receiver (TCP's receive window, not its congestion
   * window). */
  uint64_t win = smart__cc_rx_rtt(r), arr = smart__rx_time(e, now);
  uint64_t least = c->ss ? ss_gap(win) : FB_GAP;
  if (win < least)
    win = least;
  c->win_bytes += p->size;
  if (!c->win_at) {
    c->win_at = arr;
    c->win_bytes = 0;
    c->win_drops = e->rx_drops_all;
  } else if (arr > c->win_at && arr - c->win_at >= win) {
    uint64_t dt = arr - c->win_at;
    if (c->win_drops == e->rx_drops_all || !c->x_recv)
      c->x_recv = c->win_bytes * SMART__NS_PER_S / dt;
    c->win_at = arr;
    c->win_bytes = 0;
    c->win_drops = e->rx_drops_all;
  }
  if (!c->hi) {
    /* Where we start counting: past what the receiver already knows of
     * (what came before congestion control began, or out of order
     * before this, is neither loss nor reordering to us). */
    c->hi = r->hi > s + 1 ? r->hi : s + 1;
    c->ev_seq = c->hi;
    return;
  }
  if (s + SMART__MAX_SPAN < c->hi || s > c->hi + SMART__MAX_SPAN)
    return; /* nonsense for loss accounting */
  if (p->cmd == SMART__DCMD_DATA) {
    if (s >= c->hi) {
      if (s > c->hi)
        gap_add(e, r, c->hi, s, now);
      else
        e->rx_drops = 0; /* in order: what the host dropped was not ours */
      c->hi = s + 1;
    } else {
      /* Late, not lost: out of its range (split in two if inside). */
      for (unsigned i = 0; i < c->ncand; i++) {
        struct smart__cc_cand *k = &c->cand[i];
        if (s < k->lo || s >= k->hi)
          continue;
        if (s == k->lo) {
          k->lo++;
        } else if (s == k->hi - 1) {
          k->hi--;
        } else {
          uint64_t hi = k->hi, at = k->at;
          int local = k->local;
          k->hi = s;
          cand_add(e, r, s + 1, hi, at, local, now); /* may move the others */
          break;
        }
        if (k->lo == k->hi)
          cand_drop(c, i);
        break;
      }
    }
  } else {
    /* A repair of a sequence we miss: its original was lost. */
    for (unsigned i = 0; i < c->ncand; i++) {
      struct smart__cc_cand *k = &c->cand[i];
      if (s >= k->lo && s < k->hi) {
        struct smart__cc_cand old = *k;
        cand_drop(c, i);
        judged(e, r, &old, now);
        break;
      }
    }
  }
  if (c->ncand)
    cand_check(e, r, now);
  if (c->clr)
    clr_check(r, now);
}

void smart__cc_rx_hb(struct smart__engine *e, struct smart__rxs *r, const struct smart__hb *hb,
                     uint64_t now) {
  struct smart__ccr *c = &r->cc;
  if (!r->synced)
    return;
  if (!c->on || c->session != hb->session) {
    cc_reset(c, hb->session);
    c->on = 1;
    c->round = hb->cc_round;
    while (!e->cc_tag)
      e->cc_tag = (uint32_t)(smart__rng_next(&e->rng) >> 32);
  }
  c->x_send = hb->cc_rate;
  c->x_supp = hb->cc_supp;
  c->supp_heard = hb->cc_supp_tag != 0;
  c->seg = hb->cc_seg;
  c->ss = (hb->cc_flags & SMART__CC_F_SLOWSTART) != 0;
  int was = c->clr;
  c->clr = hb->cc_clr == e->cc_tag;
  for (unsigned i = 0; i < hb->cc_n; i++) {
    if (!hb->cc_rtt_us[i])
      continue;
    if (hb->cc_tag[i] == e->cc_tag)
      c->rtt_ns = SMART__US(hb->cc_rtt_us[i]);
  }
  if (hb->cc_round != c->round) {
    c->round = hb->cc_round;
    c->reported = 0;
    c->fb_due = SMART__NEVER;
  }
  if (c->clr) {
    c->fb_due = SMART__NEVER;
    if (!was || c->clr_due == SMART__NEVER)
      c->clr_due = now + clr_keep(smart__cc_rx_rtt(r), c->x_send, seg_of(r), c->ss);
  } else {
    c->clr_due = SMART__NEVER;
  }
  /* Data the sender sent that never came (tail loss). */
  if (c->hi && hb->lead > c->hi && hb->lead - c->hi <= SMART__MAX_SPAN) {
    gap_add(e, r, c->hi, hb->lead, now);
    c->hi = hb->lead;
  }
  if (c->ncand)
    cand_check(e, r, now);
  if (!c->clr)
    consider(e, r, now);
}

uint64_t smart__cc_rx_expiry(const struct smart__rxs *r) {
  const struct smart__ccr *c = &r->cc;
  if (!c->on)
    return SMART__NEVER;
  return c->fb_due < c->clr_due ? c->fb_due : c->clr_due;
}

void smart__cc_rx_expire(struct smart__engine *e, struct smart__rxs *r, uint64_t now) {
  struct smart__ccr *c = &r->cc;
  if (!c->on)
    return;
  if (c->clr_due <= now) {
    c->clr_due = SMART__NEVER;
    c->pending = 1;
    smart__acks_status_now(e, r, now);
  }
  if (c->fb_due <= now) {
    c->fb_due = SMART__NEVER;
    /* Still at least 10% below what the sender says it heard? */
    uint64_t m = limit_of(r);
    uint64_t cmp = compare_with(c);
    if (!c->clr && !c->reported && m != UINT64_MAX &&
        (double)m < (1 - FB_DELTA) * (double)cmp) {
      c->reported = 1;
      c->pending = 1;
      smart__acks_status_now(e, r, now);
    }
  }
}

int smart__cc_rx_fill(struct smart__engine *e, struct smart__rxs *r, struct smart__ccfb *f,
                      uint64_t now) {
  struct smart__ccr *c = &r->cc;
  if (!c->on || !e->cc_tag || now > r->last_heard + SMART__CC_STALE)
    return 0; /* we heard nothing of it of late (cut off, or its key is
                 gone): nothing to say */
  double p = smart__cc_rx_p(r);
  double q = p * 4294967296.0;
  memset(f, 0, sizeof(*f));
  f->tag = e->cc_tag;
  f->loss = !c->loss ? 0 : q >= 4294967295.0 ? UINT32_MAX : q < 1 ? 1 : (uint32_t)q;
  f->recv = c->x_recv;
  f->rate = limit_of(r);
  uint64_t own = smart__cc_rx_rtt(r) / SMART__NS_PER_US;
  f->rtt_us = own > UINT32_MAX ? UINT32_MAX : own ? (uint32_t)own : 1;
  f->events = c->events;
  f->flags = (c->clr ? SMART__CCFB_CLR : 0) | (c->pending ? SMART__CCFB_REPORT : 0) |
             (c->first ? SMART__CCFB_FIRST : 0);
  return 1;
}

void smart__cc_rx_sent(struct smart__engine *e, struct smart__rxs *r, uint64_t now) {
  struct smart__ccr *c = &r->cc;
  if (c->pending)
    e->st.cc_reports_sent++;
  c->pending = 0;
  c->last_fb = now;
  if (c->clr) {
    c->x_last = limit_of(r);
    c->recv_last = c->x_recv;
    c->clr_due = now + clr_keep(smart__cc_rx_rtt(r), c->x_send, seg_of(r), c->ss);
  }
}

/* ---- Sender --------------------------------------------------------------- */

static double seg_tx(const struct smart__engine *e) { return (double)e->cfg.max_dgram; }

static uint64_t floor_of(const struct smart__engine *e) {
  return e->cfg.cc_floor ? e->cfg.cc_floor : e->cfg.cc_min_rate;
}

/* The round trip that paces increases: the CLR's, or GRTT (in slow start
 * always: every receiver must have had its say before the next doubling). */
static uint64_t pace_rtt(const struct smart__engine *e) {
  const struct smart__cct *cc = &e->tx->cc;
  uint64_t r = cc->have_clr && cc->clr_rtt && !cc->ss ? cc->clr_rtt : e->grtt_ns;
  return r < RTT_FLOOR ? RTT_FLOOR : r;
}

static uint64_t round_len(const struct smart__engine *e) { return (FB_T + 1) * e->grtt_ns; }
static uint64_t idle_after(const struct smart__engine *e);
static uint64_t hb_gap(const struct smart__engine *e);

/* RFC 5348 §4.2: min(4 s, max(2 s, 4380 bytes)) per round trip. */
static double w_init(const struct smart__engine *e) {
  double s = seg_tx(e), w = 4 * s;
  double m = 2 * s > 4380 ? 2 * s : 4380;
  return m < w ? m : w;
}

void smart__cc_tx_init(struct smart__engine *e, uint64_t now) {
  struct smart__cct *cc = &e->tx->cc;
  memset(cc, 0, sizeof(*cc));
  uint64_t x = (uint64_t)(w_init(e) * 1e9 / (double)e->grtt_ns);
  if (x < e->cfg.cc_min_rate)
    x = e->cfg.cc_min_rate;
  cc->x = cc->x_init = x;
  cc->ss = 1;
  cc->upd_at = now;
  cc->round_at = now;
  cc->supp = x;
  cc->supp_at = SMART__NEVER;
  cc->grtt = 0;
  cc->peak_at = now;
  smart__cc_tx_apply(e, now);
}

void smart__cc_tx_apply(struct smart__engine *e, uint64_t now) {
  struct smart__cct *cc = &e->tx->cc;
  uint64_t r = cc->x;
  if (e->cfg.rate && e->cfg.rate < r)
    r = e->cfg.rate;
  if (r == cc->applied)
    return;
  /* Small increases wait (every call would reset the bucket's clock). */
  if (cc->applied && r > cc->applied && (r - cc->applied) * 64 < cc->applied)
    return;
  /* A depth of 4 ms at the rate, the configured depth (16 datagrams) at
   * most, but 250 us at the rate at least (1 MiB at most), and two
   * datagrams: at 700 MB/s 16 datagrams are 33 us of tokens, less than a
   * sender's wake-up takes (a timer's slack alone is 50 us), and a late
   * wake-up lost what the bucket could not hold. Deeper still, the bursts
   * overflow a LAN switch's queue (sim_cc_lan_slow_start: 4 ms made 76%
   * of the link of 89%). */
  uint64_t b = r / 250, lo = 2 * (uint64_t)e->cfg.max_dgram, wake = r / 4000;
  if (b > e->cfg.burst)
    b = e->cfg.burst;
  if (wake > CC_BURST_MAX)
    wake = CC_BURST_MAX;
  if (b < wake)
    b = wake;
  if (b < lo)
    b = lo;
  smart__ratelim_set(&e->tb, r, b, now);
  cc->applied = r;
  /* Heartbeats every 32 segments at the rate, 10 ms at least (hb_gap). */
  uint64_t g = r ? (uint64_t)(HB_SEG * seg_tx(e) * 1e9 / (double)r) : HB_MIN;
  cc->hb_gap_ns = g > HB_MIN ? g : HB_MIN;
}

static uint64_t effective(const struct smart__engine *e) {
  uint64_t r = e->tx->cc.x;
  return e->cfg.rate && e->cfg.rate < r ? e->cfg.rate : r;
}

static void set_grtt(struct smart__engine *e) {
  uint64_t g = SMART__US(e->cfg.grtt_us), m = e->tx->cc.grtt;
  e->grtt_ns = m > g ? m : g;
}

static int excluded(const struct smart__rcv *rc);

/* The CLR's receive rate as a limit (RFC 5348 4.3): what it says, unless
 * we sent well below our rate in either of our last two windows (the
 * window was full, the application had little to send, or a ceiling held
 * us: its rate, flow control's; the CLR's window overlaps both, and a
 * stall of ours in one of them, a repair that held the window's oldest
 * for 10 ms, showed as a receive rate of a quarter and cost 100 ms of
 * climbing back): then what it received says nothing of its path, and
 * the limit holds, halved on a new loss event. Our rate is congestion
 * control's, not the ceiling's: while flow control holds the sender for a
 * slow receiver, what the CLR receives is what the ceiling let through. */
static uint64_t recv_limit(const struct smart__engine *e, uint64_t held, uint64_t said, int loss) {
  const struct smart__cct *cc = &e->tx->cc;
  uint64_t sent = cc->actual < cc->actual_prev ? cc->actual : cc->actual_prev;
  if (!held || !cc->x || sent >= cc->x - cc->x / 4)
    return said;
  if (loss)
    held /= 2;
  return said > held ? said : held;
}

/* What the CLR allows at `now`: the equation's rate at its mean round
 * trip or, since its last loss event, what TCP would have reached by then
 * (a segment per round trip per round trip above the equation's rate at
 * that event: its loss history is slow to forget the event), damped by
 * its last round trip against the mean (RFC 5348 4.5, linear), and
 * bounded by what it receives. */
static uint64_t clr_allows(const struct smart__engine *e, uint64_t now) {
  const struct smart__cct *cc = &e->tx->cc;
  if (!cc->have_clr || cc->clr_rate == UINT64_MAX)
    return UINT64_MAX;
  double x = (double)cc->clr_rate;
  if (!cc->ss && cc->dec_at && now > cc->dec_at) {
    uint64_t r = cc->clr_rtt < RTT_FLOOR ? RTT_FLOOR : cc->clr_rtt;
    double rs = (double)r / 1e9;
    double probe = (double)cc->dec_x + (double)(now - cc->dec_at) / 1e9 * seg_tx(e) / (rs * rs);
    if (probe > x)
      x = probe;
  }
  /* The damping says how the CLR's queue stood at its last report: as
   * that grows old (two mean round trips), it counts less. Not in slow
   * start: there the rate is held to twice what the CLR receives, and
   * slow start ends at the first loss; damped by a mean round trip that
   * is still the path's base (a fraction of a millisecond on a LAN,
   * where a host's scheduling alone delays a sample by several), two
   * senders sharing a bottleneck cut each other's rate by 80-90% at every
   * queue they built, never filled it, never lost anything and never
   * left slow start. */
  double d = !cc->ss && cc->clr_damp > 0 && cc->clr_damp < 1 ? cc->clr_damp : 1;
  if (d < 1 && now > cc->clr_at) {
    double age = (double)(now - cc->clr_at) / (2.0 * (double)(cc->clr_rtt ? cc->clr_rtt : 1));
    d += (1 - d) * (age < 1 ? age : 1);
  }
  x *= d;
  if (cc->clr_recv) {
    /* Not beyond what it receives: in slow start twice (TFMCC), after it
     * an eighth and a segment per max(R, 10 ms) more (an ack clock's
     * allowance: a rate probes past the bottleneck's by that much at
     * most, until the next report). */
    uint64_t r = cc->clr_rtt < FB_GAP ? FB_GAP : cc->clr_rtt;
    double rv = (double)cc->clr_recv;
    double lim = cc->ss ? 2 * rv : rv + rv / 8 + seg_tx(e) * 1e9 / (double)r;
    if (lim < (double)cc->x_init)
      lim = (double)cc->x_init; /* RFC 5348 4.3: the initial rate at least */
    if (x > lim)
      x = lim;
  }
  return x >= 1.8e19 ? UINT64_MAX - 1 : (uint64_t)x;
}

void smart__cc_tx_rtt(struct smart__engine *e, const struct smart__rcv *rc, uint64_t sample) {
  struct smart__cct *cc = &e->tx->cc;
  cc->upd_force = 1; /* what the rate follows may change */
  if (excluded(rc))
    return; /* a slow or evicted receiver's queue is not the group's */
  if (!cc->rtt_init) {
    /* RFC 5348 §4.2: at the first feedback the rate becomes W_init / R,
     * R measured (before it, GRTT's configured floor stood for R). */
    cc->rtt_init = 1;
    uint64_t r = sample < RTT_FLOOR ? RTT_FLOOR : sample;
    uint64_t x = (uint64_t)(w_init(e) * 1e9 / (double)r);
    if (cc->ss && !cc->dec_at && x > cc->x)
      cc->x = x;
  }
  if (sample > cc->peak)
    cc->peak = sample;
  if (sample > cc->grtt) {
    cc->grtt = cc->grtt ? (cc->grtt + 3 * sample) / 4 : sample;
    set_grtt(e);
  }
}

static void new_clr(struct smart__engine *e, struct smart__rcv *rc) {
  struct smart__cct *cc = &e->tx->cc;
  cc->have_clr = 1;
  cc->clr = rc->src;
  cc->clr_tag = rc->cc_tag;
  cc->clr_rate = rc->cc_rate;
  cc->clr_p = rc->cc_p;
  cc->clr_rtt = rc->cc_rtt ? rc->cc_rtt : rc->rtt_ns;
  cc->clr_at = rc->cc_at;
  cc->clr_damp = rc->cc_damp > 0 ? rc->cc_damp : 1;
  cc->clr_recv = rc->cc_recv;
  cc->clr_new = 1;
  cc->ev_due = 1;
}

static int excluded(const struct smart__rcv *rc) { return rc->evicted || rc->cc_slow; }

/* GRTT anew from the receivers that count (one was just excluded: its
 * round trip, often a queue of seconds, must not hold the group's timers). */
static void grtt_again(struct smart__engine *e) {
  struct smart__tx *tx = e->tx;
  uint64_t m = 0;
  for (uint32_t i = 0; i < tx->nrcv; i++)
    if (!excluded(&tx->rcv[i]) && tx->rcv[i].rtt_ns > m)
      m = tx->rcv[i].rtt_ns;
  tx->cc.grtt = tx->cc.peak = m;
  set_grtt(e);
}

/* The CLR is gone: the receiver with the lowest recent rate takes over, or
 * none (the rate then rises until someone says otherwise). */
static void clr_lost(struct smart__engine *e, uint64_t now) {
  struct smart__tx *tx = e->tx;
  struct smart__cct *cc = &tx->cc;
  uint32_t old = cc->clr;
  cc->have_clr = 0;
  cc->clr_new = 1;
  uint64_t recent = 4 * round_len(e);
  if (recent < SMART__SEC(1))
    recent = SMART__SEC(1);
  struct smart__rcv *best = NULL;
  for (uint32_t i = 0; i < tx->nrcv; i++) {
    struct smart__rcv *rc = &tx->rcv[i];
    if (rc->src == old || excluded(rc) || !rc->cc_at || rc->cc_rate == UINT64_MAX ||
        now > rc->cc_at + recent)
      continue;
    if (!best || rc->cc_rate < best->cc_rate)
      best = rc;
  }
  if (best)
    new_clr(e, best);
}

void smart__cc_tx_update(struct smart__engine *e, uint64_t now) {
  struct smart__tx *tx = e->tx;
  struct smart__cct *cc = &tx->cc;
  /* Called for every datagram: within UPD_MIN of the last update, with no
   * report since, nothing it follows has changed (growth counts the time
   * since the last update, so nothing is lost by waiting). */
  if (!cc->upd_force && now >= cc->upd_at && now - cc->upd_at < UPD_MIN)
    return;
  cc->upd_force = 0;
  uint64_t r = pace_rtt(e);
  /* GRTT: each second's peak, decaying by 1/10 without larger samples. */
  if (now >= cc->peak_at + GRTT_PROBE) {
    uint64_t d = cc->grtt - cc->grtt / 10;
    cc->grtt = cc->peak > d ? cc->peak : d;
    cc->peak = 0;
    cc->peak_at = now;
    set_grtt(e);
  }
  if (now >= cc->round_at + round_len(e)) {
    cc->round++;
    cc->round_at = now;
    cc->supp = effective(e);
    cc->supp_tag = 0;
    if (tx->last_data && now <= tx->last_data + idle_after(e))
      cc->supp_at = now; /* receivers learn of the new round (idle: they
                            have nothing to report) */
  }
  /* After idle the rate decays by half per four round trips (never below
   * the initial rate) and slow start begins again (RFC 5348 §4.4). */
  uint64_t idle = idle_after(e);
  if (tx->mn && tx->last_data && now > tx->last_data + idle && !cc->idle && cc->drained) {
    cc->idle = 1; /* once per idle period: data sent clears it */
    uint64_t h = (now - tx->last_data) / (4 * r);
    uint64_t x = h >= 63 ? 0 : cc->x >> h;
    cc->x = x > cc->x_init ? x : cc->x_init;
    cc->ss = 1;
    cc->win_at = now;
    cc->win_bytes = 0;
    cc->actual = cc->actual_prev = 0;
  }
  uint64_t dt = now - cc->upd_at;
  cc->upd_at = now;
  int waiting = !cc->heard && (tx->lead == e->cfg.initial_seq || now < tx->first_at + NOFB_WAIT);
  /* Not beyond twice what was sent (RFC 5348's data-limited rule). */
  double used = (double)(cc->actual > cc->actual_prev ? cc->actual : cc->actual_prev);
  double cap = 2 * used > (double)cc->x_init ? 2 * used : (double)cc->x_init;
  if (cc->have_clr && !cc->ss) {
    /* Congestion avoidance: what the CLR allows, now. The ceiling (the
     * application's rate, flow control's) is not the path's: it bounds
     * the bucket (smart__cc_tx_apply), not this rate, which the
     * data-limited rule holds near what was sent meanwhile. Were it pulled
     * down with a ceiling, a receiver's stall of a few milliseconds (flow
     * control cuts to what it read) would cost the climb back from there
     * once the ceiling lifts. */
    uint64_t t = clr_allows(e, now);
    if ((double)t > cap && t > cc->x)
      t = cap > (double)cc->x ? (uint64_t)cap : cc->x;
    cc->x = t;
  } else {
    uint64_t target = cc->have_clr ? clr_allows(e, now) : UINT64_MAX;
    if (cc->x < target && dt && !waiting && tx->mn) {
      double x = (double)cc->x, rs = (double)r / 1e9, ds = (double)dt / 1e9;
      double nx;
      if (cc->ss) {
        /* Doubling once per slow-start feedback round (FB_T_SS + 1 round
         * trips, as TFMCC), the CLR's round trip once measured (below a
         * configured GRTT: 0.2 ms on a LAN configured at 1 ms): a
         * receiver that cannot take more is heard before the rate has
         * doubled again. */
        double rss = rs;
        if (cc->have_clr && cc->clr_rtt && cc->clr_rtt < r)
          rss = (double)(cc->clr_rtt < RTT_FLOOR ? RTT_FLOOR : cc->clr_rtt) / 1e9;
        nx = x * smart__exp(0.6931471805599453 * (ds / (rss * (FB_T_SS + 1))));
      } else {
        /* Nobody limits us: up by a segment or an eighth per round trip. */
        double a1 = seg_tx(e) / rs, b1 = x / 8;
        nx = x + ds * (a1 > b1 ? a1 : b1) / rs;
      }
      if (nx > cap)
        nx = cap > x ? cap : x;
      if (nx > (double)target)
        nx = (double)target;
      cc->x = nx >= 1.8e19 ? UINT64_MAX - 1 : (uint64_t)nx;
    } else if (target < cc->x) {
      cc->x = target; /* slow start too: down at once */
    }
  }
  if (cc->x < e->cfg.cc_min_rate)
    cc->x = e->cfg.cc_min_rate;
  smart__cc_tx_apply(e, now);
}

/* Every heartbeat is a round-trip probe (its Timestamp comes back in
 * STATUS): every 10 ms or 32 segments at the rate, whichever is longer,
 * whatever GRTT is (the CLR's queue must be seen as it builds). */
static uint64_t hb_gap(const struct smart__engine *e) {
  /* At the rate the bucket runs at, as smart__cc_tx_apply set it. */
  uint64_t g = e->tx->cc.hb_gap_ns;
  return g ? g : HB_MIN;
}

int smart__cc_tx_urgent(const struct smart__engine *e, uint64_t now) {
  const struct smart__cct *cc = &e->tx->cc;
  return cc->clr_new || cc->supp_at <= now;
}

int smart__cc_tx_hb_due(const struct smart__engine *e, uint64_t now) {
  return smart__cc_tx_expiry(e) <= now;
}

static uint64_t idle_after(const struct smart__engine *e) {
  uint64_t r = 4 * pace_rtt(e);
  return r > IDLE_MIN ? r : IDLE_MIN;
}

/* Heartbeats for congestion control: at once for a new CLR, soon for a
 * lower suppression rate, and, while data flows (not idle), at each new
 * round and every hb_gap. A round or a gap that falls due after data
 * stopped is no heartbeat: every heartbeat runs update(), which starts
 * the round due, so neither stays in the past. */
uint64_t smart__cc_tx_expiry(const struct smart__engine *e) {
  const struct smart__tx *tx = e->tx;
  const struct smart__cct *cc = &tx->cc;
  if (cc->clr_new)
    return 0;
  uint64_t t = cc->supp_at, until = tx->last_data + idle_after(e);
  uint64_t p = cc->hb_at + hb_gap(e), rd = cc->round_at + round_len(e);
  if (p < rd)
    rd = p;
  if (tx->last_data && rd <= until && rd < t)
    t = rd;
  return t;
}

void smart__cc_tx_hb_fill(struct smart__engine *e, struct smart__hb *hb, uint64_t now) {
  struct smart__cct *cc = &e->tx->cc;
  /* In full, never skipped: it starts the round that is due (else the
   * round, still due, would call for another heartbeat at once). */
  cc->upd_force = 1;
  smart__cc_tx_update(e, now);
  hb->flags |= SMART__HB_CC;
  if (!hb->stamp) {
    hb->stamp = (uint32_t)(now / SMART__NS_PER_US);
    if (!hb->stamp)
      hb->stamp = 1;
  }
  hb->grtt_us = (uint32_t)(e->grtt_ns / SMART__NS_PER_US);
  hb->cc_rate = effective(e);
  hb->cc_supp = cc->supp < hb->cc_rate ? cc->supp : hb->cc_rate;
  hb->cc_clr = cc->have_clr ? cc->clr_tag : 0;
  hb->cc_supp_tag = cc->supp_tag; /* someone reported in this round */
  hb->cc_round = cc->round;
  hb->cc_seg = (uint16_t)e->cfg.max_dgram;
  hb->cc_flags = cc->ss ? SMART__CC_F_SLOWSTART : 0;
  unsigned n = 0;
  if (cc->have_clr) {
    hb->cc_tag[n] = cc->clr_tag;
    hb->cc_rtt_us[n++] = (uint32_t)(cc->clr_rtt / SMART__NS_PER_US);
  }
  if (hb->cc_supp_tag && hb->cc_supp_tag != hb->cc_clr) {
    hb->cc_tag[n] = cc->supp_tag;
    hb->cc_rtt_us[n++] = (uint32_t)(cc->supp_rtt / SMART__NS_PER_US);
  }
  while (n < SMART__HB_CC_ECHOES && cc->en) {
    hb->cc_tag[n] = cc->etag[cc->ehead];
    hb->cc_rtt_us[n++] = cc->ertt[cc->ehead];
    cc->ehead = (uint8_t)((cc->ehead + 1) % SMART__CC_ECHO_RING);
    cc->en--;
  }
  hb->cc_n = (uint8_t)n;
  cc->hb_at = now;
  cc->supp_at = SMART__NEVER;
  cc->clr_new = 0;
}

void smart__cc_tx_sent(struct smart__engine *e, size_t len, int data, uint64_t now) {
  struct smart__cct *cc = &e->tx->cc;
  if (data) {
    cc->idle = 0;
    cc->drained = e->tx->mn == 0; /* idle is an empty queue, not a blocked one */
  }
  uint64_t w = pace_rtt(e);
  uint64_t least = cc->ss ? ss_gap(cc->grtt ? cc->grtt : e->grtt_ns) : FB_GAP;
  if (w < least)
    w = least;
  cc->win_bytes += len;
  if (!cc->win_at) {
    cc->win_at = now;
  } else if (now - cc->win_at >= w) {
    cc->actual_prev = cc->actual;
    cc->actual = cc->win_bytes * SMART__NS_PER_S / (now - cc->win_at);
    cc->win_at = now;
    cc->win_bytes = 0;
  }
}

static void echo_push(struct smart__cct *cc, uint32_t tag, uint64_t rtt) {
  for (unsigned i = 0; i < cc->en; i++) {
    unsigned k = (cc->ehead + i) % SMART__CC_ECHO_RING;
    if (cc->etag[k] == tag) {
      cc->ertt[k] = (uint32_t)(rtt / SMART__NS_PER_US);
      return;
    }
  }
  if (cc->en == SMART__CC_ECHO_RING) {
    cc->ehead = (uint8_t)((cc->ehead + 1) % SMART__CC_ECHO_RING);
    cc->en--;
  }
  unsigned k = (cc->ehead + cc->en) % SMART__CC_ECHO_RING;
  cc->etag[k] = tag;
  cc->ertt[k] = (uint32_t)(rtt / SMART__NS_PER_US);
  cc->en++;
}

void smart__cc_tx_report(struct smart__engine *e, struct smart__rcv *rc,
                         const struct smart__ccfb *f, uint64_t since_hb, uint64_t sample,
                         uint64_t now) {
  struct smart__cct *cc = &e->tx->cc;
  cc->upd_force = 1; /* what the rate follows may change */
  if (since_hb > SMART__CC_STALE_ECHO) {
    /* It has heard no heartbeat of ours for very long: whatever it says
     * of its loss is old. */
    if (cc->have_clr && cc->clr == rc->src)
      clr_lost(e, now);
    rc->cc_at = 0;
    return;
  }
  cc->heard = 1;
  e->st.cc_reports_received++;
  if (f->flags & SMART__CCFB_REPORT)
    e->st.cc_triggered_received++;
  /* Its round trip: the mean of its samples (below); before the first,
   * our average, its own estimate, GRTT. */
  uint64_t rtt = rc->rtt_ns ? rc->rtt_ns
                 : sample    ? sample
                 : f->rtt_us ? SMART__US(f->rtt_us)
                             : e->grtt_ns;
  if (sample) {
    /* The mean for the equation: over CC_RTT_TAU (4 round trips at
     * least), whatever the pace of its reports; the damping: how its last
     * sample stands against it (never above 1: a queue that drains does
     * not speed us up, the equation and the probe do). */
    uint64_t tau = rc->cc_rtt * 4 > CC_RTT_TAU ? rc->cc_rtt * 4 : CC_RTT_TAU;
    if (!rc->cc_rtt) {
      rc->cc_rtt = sample;
    } else {
      double a = (double)(now - rc->cc_rtt_at) / (double)tau;
      if (a > 0.25)
        a = 0.25; /* reports far apart: a sample is still one of several */
      rc->cc_rtt = (uint64_t)((double)rc->cc_rtt + a * ((double)sample - (double)rc->cc_rtt));
    }
    rc->cc_rtt_at = now;
    uint64_t fl = sample < DAMP_FLOOR ? DAMP_FLOOR : sample;
    uint64_t mean = rc->cc_rtt < DAMP_FLOOR ? DAMP_FLOOR : rc->cc_rtt;
    rc->cc_damp = mean < fl ? (double)mean / (double)fl : 1;
  } else if (!(rc->cc_damp > 0)) {
    rc->cc_damp = 1;
  }
  if (rc->cc_rtt)
    rtt = rc->cc_rtt;
  rc->cc_recv = f->recv;
  /* Its rate: the equation with our measurement of its round trip; but
   * before its second loss event, what it computed itself: its only
   * interval was made to give half its receive rate at its own estimate
   * (RFC 5348 §6.3.1), and before any loss (slow start) it says twice
   * what it receives. */
  uint64_t rate = smart__cc_equation(seg_tx(e), rtt, (double)f->loss / 4294967296.0);
  if ((f->flags & SMART__CCFB_FIRST) || !f->loss)
    rate = cc->ss || f->loss ? f->rate : UINT64_MAX;
  if (!rate)
    rate = UINT64_MAX;
  rc->cc_tag = f->tag;
  uint8_t ev_before = rc->cc_events;
  rc->cc_events = f->events;
  rc->cc_p = f->loss;
  rc->cc_rate = rate;
  rc->cc_at = now;
  int is_clr = cc->have_clr && cc->clr == rc->src;
  if (!is_clr)
    echo_push(cc, f->tag, rtt);
  /* Below the floor: noted; the sweep reports it after SLOW_AFTER. Below
   * it too: one that takes in less than half the floor while we send at
   * least the floor (the window it holds may leave little new data to
   * measure its loss by). */
  uint64_t fl = floor_of(e);
  uint64_t sent = cc->actual > cc->actual_prev ? cc->actual : cc->actual_prev;
  if (fl && (rate < fl || (f->recv && f->recv < fl / 2 && sent >= fl))) {
    if (!rc->slow_since)
      rc->slow_since = now;
  } else {
    rc->slow_since = 0;
    rc->cc_slow = 0;
  }
  if (excluded(rc)) {
    if (is_clr)
      clr_lost(e, now);
    return;
  }
  /* The suppression rate is in the receivers' own terms (the rate each
   * computes with its own round-trip estimate), as TFMCC echoes it: the
   * others compare theirs with it. */
  /* The first report of a round sets it whatever its rate (the rate, if
   * lower, stays the figure): the heartbeat then says that one was heard,
   * and the others, no lower by a tenth, keep quiet. */
  if (f->rate && (f->rate < cc->supp || !cc->supp_tag)) {
    if (f->rate < cc->supp)
      cc->supp = f->rate;
    cc->supp_tag = f->tag;
    cc->supp_rtt = rtt;
    uint64_t t = cc->hb_at + e->grtt_ns / 16; /* others stop their timers */
    if (t < now)
      t = now;
    if (t < cc->supp_at)
      cc->supp_at = t;
  }
  /* The CLR spoke: a new one, or a new loss event (its count changed, or
   * p grew), starts the probe again from the equation's rate; the rate
   * follows what it allows (update), down and up.
   * Slow start ends with the first loss that limits us. A cut of a tenth
   * or more is told at once. */
  int fresh = 0, more = 0;
  if (is_clr) {
    if (rate == UINT64_MAX) {
      clr_lost(e, now); /* no loss any more: it limits nothing */
      return;
    }
    more = f->events != ev_before || f->loss > cc->clr_p;
    fresh = more || cc->ss;
    cc->clr_rate = rate;
    cc->clr_p = f->loss;
    cc->clr_rtt = rtt;
    cc->clr_at = now;
    cc->clr_tag = f->tag;
    cc->clr_damp = rc->cc_damp;
    cc->clr_recv = recv_limit(e, cc->clr_recv, f->recv, more);
    if (cc->ss && !f->loss && cc->clr_recv)
      cc->clr_rate = 2 * cc->clr_recv; /* as it would say, from the limit */
  } else if (rate != UINT64_MAX && (!cc->have_clr || rate < cc->clr_rate)) {
    new_clr(e, rc);
    cc->clr_rtt = rtt;
    fresh = 1;
  } else {
    return;
  }
  if (cc->ss && f->loss && clr_allows(e, now) <= cc->x)
    cc->ss = 0;
  if (fresh && !cc->ss) {
    cc->dec_x = rate;
    cc->dec_at = now;
  }
  uint64_t before = cc->x;
  smart__cc_tx_update(e, now);
  if (cc->x < before - before / 10 && now < cc->supp_at)
    cc->supp_at = now;
  smart__cc_tx_apply(e, now);
}

void smart__cc_tx_gone(struct smart__engine *e, const struct smart__rcv *rc, uint64_t now) {
  struct smart__cct *cc = &e->tx->cc;
  cc->upd_force = 1; /* what the rate follows may change */
  if (cc->have_clr && cc->clr == rc->src)
    clr_lost(e, now);
}

static uint32_t ppm(uint32_t loss) { return (uint32_t)(((uint64_t)loss * 1000000u) >> 32); }

void smart__cc_tx_sweep(struct smart__engine *e, uint64_t now) {
  struct smart__tx *tx = e->tx;
  struct smart__cct *cc = &tx->cc;
  cc->upd_force = 1; /* what the rate follows may change */
  if (cc->have_clr) {
    uint64_t keep = clr_keep(cc->clr_rtt, effective(e), seg_tx(e), cc->ss);
    if (now > cc->clr_at + CLR_LOST * keep + cc->clr_rtt)
      clr_lost(e, now); /* silent: as if it had left */
  }
  for (uint32_t i = 0; i < tx->nrcv; i++) {
    struct smart__rcv *rc = &tx->rcv[i];
    if (!rc->slow_since || rc->cc_slow || now < rc->slow_since + SLOW_AFTER)
      continue;
    rc->cc_slow = 1;
    uint32_t rtt = (uint32_t)(rc->rtt_ns / SMART__NS_PER_US);
    smart__acks_rev(e, SMART__RCV_SLOW, rc, 0, rc->cc_rate, ppm(rc->cc_p), rtt);
    if (e->cfg.policy == SMART__POLICY_RELIABLE && !rc->evicted) {
      /* It would hold the group below the floor for good: evicted, with
       * the reason (it reports what it then misses as lost). */
      rc->evicted = 1;
      e->st.rcv_evicted++;
      tx->nlive--;
      tx->min_dirty = 1;
      smart__acks_rev(e, SMART__RCV_EVICTED, rc, SMART__EVICT_SLOW, rc->cc_rate, ppm(rc->cc_p),
                      rtt);
    }
    if (cc->have_clr && cc->clr == rc->src)
      clr_lost(e, now);
    grtt_again(e);
  }
  if (cc->ev_due && cc->have_clr && (!cc->ev_at || now >= cc->ev_at + EV_GAP)) {
    struct smart__rcv fake;
    memset(&fake, 0, sizeof(fake));
    fake.src = cc->clr;
    for (uint32_t i = 0; i < tx->nrcv; i++)
      if (tx->rcv[i].src == cc->clr)
        fake = tx->rcv[i];
    smart__acks_rev(e, SMART__RCV_CLR, &fake, 0, cc->clr_rate, ppm(cc->clr_p),
                    (uint32_t)(cc->clr_rtt / SMART__NS_PER_US));
    cc->ev_due = 0;
    cc->ev_at = now;
  }
}
