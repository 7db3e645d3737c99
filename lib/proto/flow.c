/* Flow control. See flow.h and smart-protocol(7) "FLOW CONTROL". */
#include "proto/flow.h"

#include <string.h>

#include "util/time.h"

#define FC_WINDOW SMART__MS(2)     /* send rate measured over 2 ms windows */
#define FC_GAP SMART__MS(2)        /* at most one cut per max(GRTT, 2 ms) */
#define FC_LOOK SMART__MS(1)       /* a receiver looks at its buffer once per ms */
#define FC_RATE_MIN SMART__MS(10)  /* its reading rate: over 10 ms at least */
#define FC_RATE_MAX SMART__MS(200) /* ... and 200 ms at most (else idle: no rate) */
#define FC_LIFT SMART__SEC(1)      /* no report for this long: no limit */

void smart__flow_init(struct smart__flow *f, uint64_t grtt_ns) {
  memset(f, 0, sizeof(*f));
  f->gap = grtt_ns > FC_GAP ? grtt_ns : FC_GAP;
}

void smart__flow_sent(struct smart__flow *f, uint64_t bytes, uint64_t now) {
  f->win_bytes += bytes;
  if (now - f->win_at < FC_WINDOW)
    return;
  uint64_t r = f->win_at ? f->win_bytes * SMART__NS_PER_S / (now - f->win_at) : 0;
  f->est = f->est ? (f->est + r) / 2 : r;
  f->win_at = now;
  f->win_bytes = 0;
}

int smart__flow_cut(struct smart__flow *f, uint32_t kib_s, uint64_t now) {
  f->heard_at = now;
  if (f->cut_at && now - f->cut_at < f->gap)
    return 0; /* reports on their way already knew of the last cut */
  uint64_t base = f->rate && f->rate < f->est ? f->rate : f->est;
  uint64_t r = base - base / 4, rx = (uint64_t)kib_s * 1024u;
  if (rx && (!r || rx - rx / 8 < r))
    r = rx - rx / 8;
  if (!r)
    return 0;
  f->rate = r > SMART__FC_FLOOR ? r : SMART__FC_FLOOR;
  f->cut_at = f->grow_at = now;
  return 1;
}

int smart__flow_grow(struct smart__flow *f, uint64_t now) {
  if (!f->rate || now - f->grow_at < f->gap)
    return 0;
  f->grow_at = now;
  if (now - f->heard_at < f->gap)
    return 0; /* still hearing reports */
  f->rate = now - f->heard_at >= FC_LIFT ? 0 : f->rate + f->rate / 32;
  return 1;
}

uint64_t smart__flow_limit(const struct smart__flow *f, uint64_t app_rate, uint32_t *burst) {
  uint64_t r = f->rate;
  if (app_rate && (!r || app_rate < r))
    r = app_rate;
  uint64_t ms = r / 1000u; /* a millisecond's worth at least */
  if (r && ms > *burst)
    *burst = ms < (1u << 20) ? (uint32_t)ms : (1u << 20);
  return r;
}

void smart__flow_read(struct smart__flow *f, uint64_t bytes, uint64_t now) {
  f->rx_bytes += bytes;
  uint64_t dt = now - f->rate_at;
  if (dt < FC_RATE_MIN)
    return;
  f->rx_rate = dt <= FC_RATE_MAX ? (f->rx_bytes - f->rate_bytes) * SMART__NS_PER_S / dt : 0;
  f->rate_at = now;
  f->rate_bytes = f->rx_bytes;
}

int smart__flow_look_due(const struct smart__flow *f, uint64_t now) { return now >= f->fill_next; }

int smart__flow_look(struct smart__flow *f, uint32_t used, uint32_t size, uint64_t now,
                     uint32_t *kib_s, uint32_t *permille) {
  if (!size)
    return 0;
  uint64_t rate = f->rx_rate, dt = now - f->rate_at;
  if (!rate && dt > 0 && dt <= FC_RATE_MAX) /* no full window yet: what it has */
    rate = (f->rx_bytes - f->rate_bytes) * SMART__NS_PER_S / dt;
  if (!rate)
    return 0; /* the window has just started (after idle): look again next batch */
  f->fill_next = now + FC_LOOK;
  uint64_t kib = rate / 1024u;
  int due = (uint64_t)used * 2 > size &&
            (used > f->fill_last || (uint64_t)used * 4 > (uint64_t)size * 3);
  f->fill_last = used;
  *kib_s = kib > UINT32_MAX ? UINT32_MAX : (uint32_t)kib;
  *permille = (uint32_t)((uint64_t)used * 1000u / size);
  return due;
}
