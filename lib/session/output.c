/*
 * The session's send side: one loop over one producer table. Each row is a
 * protocol room that may have a datagram due; the columns say whether it is
 * sealed (secure session) and whether source authentication notes it (it
 * goes into the next manifest). The order is the priority: tunnel control
 * first (without it nothing reaches the group), then identity joins and key
 * deliveries (signed, not sealed), manifests (sealed, not noted: they are
 * what vouches), the session's own messages (a move's announcements, then
 * reports), then the engine's data, repairs, confirmations and heartbeats.
 */
#include "session/session_int.h"

#include <arpa/inet.h>
#include <string.h>

typedef smart_ssize (*produce_fn)(struct smart__session *ss, uint8_t *buf, size_t cap,
                                  struct smart__sockaddr *to, uint64_t now);

static smart_ssize tunnel_next(struct smart__session *ss, uint8_t *buf, size_t cap,
                               struct smart__sockaddr *to, uint64_t now) {
  if (!ss->tunnel)
    return 0;
  *to = ss->relay;
  return smart__tunnel_output(ss->tunnel, buf, cap - SMART__SEC_OVERHEAD, ss->cfg.sync, now);
}

static smart_ssize ident_next(struct smart__session *ss, uint8_t *buf, size_t cap,
                              struct smart__sockaddr *to, uint64_t now) {
  if (!ss->ident)
    return 0;
  *to = *smart__session_dest(ss);
  return smart__ident_output(ss->ident, buf, cap, ss->cfg.sync, ss->group4, now);
}

static smart_ssize sauth_next(struct smart__session *ss, uint8_t *buf, size_t cap,
                              struct smart__sockaddr *to, uint64_t now) {
  if (!ss->sauth)
    return 0;
  *to = *smart__session_dest(ss);
  return smart__sauth_output(ss->sauth, buf, cap - SMART__SEC_OVERHEAD, ss->cfg.sync, ss->group4,
                             now);
}

/* A move's announcements (to the group being left, even after the
 * switch), then reports (to the current group). */
static smart_ssize own_next(struct smart__session *ss, uint8_t *buf, size_t cap,
                            struct smart__sockaddr *to, uint64_t now) {
  size_t n = smart__move_output(&ss->move, buf, cap - SMART__SEC_OVERHEAD, ss->cfg.sync, to, now);
  if (n) {
    if (ss->tunnel)
      *to = ss->relay;
    return (smart_ssize)n;
  }
  if (!smart__members_due(ss->mem, ss->leaving, now))
    return 0; /* the common case: no report due, no counters to gather */
  struct smart__stats e;
  e.size = sizeof(e);
  smart__engine_get_stats(ss->eng, &e);
  struct smart__rx_counts c = {e.msgs_received, e.losses_recovered, e.losses_unrecoverable,
                               ss->drops_auth};
  *to = *smart__session_dest(ss);
  uint32_t self4 = ss->self.u.sa.sa_family == AF_INET ? ntohl(ss->self.u.in4.sin_addr.s_addr) : 0;
  return smart__members_output(ss->mem, buf, cap - SMART__SEC_OVERHEAD, ss->cfg.sync, self4,
                               ss->group4, &c, ss->leaving, now);
}

/* The engine's datagrams: to the group, or by unicast to a peer we know.
 * A plain session's new data may come by reference (ss->ref, set by
 * smart__session_send_ref); a secure session's go SHIFT bytes into buf,
 * where a DATA packet's body already sits where its envelope puts it
 * (smart__sec_seal_shifted): no move of the body before sealing. */
#define SHIFT (SMART__SEC_HDR + SMART__SEC_NONCE)
static smart_ssize engine_next(struct smart__session *ss, uint8_t *buf, size_t cap,
                               struct smart__sockaddr *to, uint64_t now) {
  for (;;) {
    struct smart__dst dst;
    smart_ssize n;
    if (ss->sec)
      n = smart__engine_send(ss->eng, buf + SHIFT, cap - SHIFT - SMART__SEC_OVERHEAD, &dst, now);
    else if (ss->ref)
      n = smart__engine_send_ref(ss->eng, buf, cap - SMART__SEC_OVERHEAD, &dst, now, ss->ref);
    else
      n = smart__engine_send(ss->eng, buf, cap - SMART__SEC_OVERHEAD, &dst, now);
    if (n <= 0)
      return n;
    if (dst.kind != SMART__DST_UNICAST) {
      *to = *smart__session_dest(ss);
      return n;
    }
    if (ss->tunnel) {
      *to = ss->relay; /* behind a relay, everything goes through it */
      return n;
    }
    struct smart__peer *p = smart__peers_get(&ss->peers, dst.src_id);
    if (p) {
      *to = p->addr;
      return n;
    }
    /* a peer we no longer know: dropped, try the next */
  }
}

enum { ROW_TUNNEL, ROW_IDENT, ROW_SAUTH, ROW_OWN, ROW_ENGINE, ROWS };

static const struct producer {
  produce_fn next;
  uint8_t seal, note, retry;
} producers[ROWS] = {
    /*                 seal note retry: an unsealable datagram (no key yet) is
     *                                  dropped; retry: ask the row again */
    [ROW_TUNNEL] = {tunnel_next, 1, 0, 0},
    [ROW_IDENT] = {ident_next, 0, 0, 0},
    [ROW_SAUTH] = {sauth_next, 1, 0, 0},
    [ROW_OWN] = {own_next, 1, 1, 0},
    [ROW_ENGINE] = {engine_next, 1, 1, 1},
};

/* SMART_CIPHER_AUTO where AES-256-GCM is available: the engine's data
 * and repairs are sealed with AES-256-GCM once every receiver that reports
 * has said it opens it (POSITION flag GCM), everything else, and all of it
 * while some receiver has not said so, with XChaCha20-Poly1305, which every
 * receiver opens: a receiver that cannot open AES-256-GCM still hears the
 * heartbeats, reports, and the sender falls back (smart-security(7)).
 * Looked at once a millisecond at most: a scan of the receivers. */
#define GCM_LOOK_NS 1000000u
static void choose_suite(struct smart__session *ss, int row, const uint8_t *buf, size_t n,
                         uint64_t now) {
  int data = row == ROW_ENGINE && n >= SMART__DATA_HDR_LEN && (buf[1] >> 6) == SMART__TYP_DATA &&
             ((buf[1] >> 4) & 3) <= SMART__DCMD_REPAIR;
  if (data && (now - ss->gcm_looked >= GCM_LOOK_NS || now < ss->gcm_looked)) {
    ss->all_gcm = (uint8_t)smart__engine_rcv_all(ss->eng, SMART__POS_GCM);
    ss->gcm_looked = now;
  }
  smart__sec_choose(ss->sec, data && ss->all_gcm);
}

/* Seal (and note) a datagram of `row`: its new length, or an error. The
 * engine's datagrams are SHIFT bytes into buf (engine_next). */
static smart_ssize seal(struct smart__session *ss, const struct producer *pr, uint8_t *buf,
                        size_t n, size_t cap, int *end_batch, uint64_t now) {
  int shifted = pr == &producers[ROW_ENGINE];
  if (shifted && (n < SMART__DATA_HDR_LEN || (buf[SHIFT + 1] >> 6) != SMART__TYP_DATA)) {
    memmove(buf, buf + SHIFT, n); /* not DATA: sealed as it stands */
    shifted = 0;
  }
  if (smart__sec_chooses(ss->sec))
    choose_suite(ss, (int)(pr - producers), shifted ? buf + SHIFT : buf, n, now);
  smart_ssize m = shifted ? smart__sec_seal_shifted(ss->sec, buf, n, cap, now)
                          : smart__sec_seal(ss->sec, buf, n, cap, now);
  if (m < 0 || !pr->note || !ss->sauth)
    return m;
  if (smart__sauth_note(ss->sauth, smart__sec_id(ss->sec), smart__sec_last_counter(ss->sec), buf,
                        (size_t)m, now) &&
      pr == &producers[ROW_ENGINE])
    *end_batch = 1; /* a manifest is full: send it before more data */
  return m;
}

static smart_ssize produce(struct smart__session *ss, uint8_t *buf, size_t cap,
                           struct smart__sockaddr *to, int *end_batch, uint64_t now) {
  for (int r = 0; r < ROWS; r++) {
    const struct producer *pr = &producers[r];
    for (;;) {
      smart_ssize n = pr->next(ss, buf, cap, to, now);
      if (n < 0 && r == ROW_ENGINE)
        return n;
      if (n <= 0)
        break;
      if (!ss->sec || !pr->seal)
        return n;
      smart_ssize m = seal(ss, pr, buf, (size_t)n, cap, end_batch, now);
      if (m >= 0)
        return m;
      if (r == ROW_ENGINE && m != SMART_ESTATE)
        return m;
      if (!pr->retry)
        break; /* no key yet (identity mode): this row waits */
    }
  }
  return 0;
}

/* Nothing more is due and nothing is queued: the sender is idle, and what
 * the pending manifest covers need not wait for more datagrams (sauth.h,
 * smart-protocol(7) "Early manifests"). The datagrams produced since the
 * last batch went out leave first (end_batch), then it is signed: the
 * receivers open them while the sender signs. */
static smart_ssize early_manifest(struct smart__session *ss, uint8_t *buf, size_t cap,
                                  struct smart__sockaddr *to, int *end_batch, uint64_t now) {
  if (!ss->sec || smart__engine_tx_queued(ss->eng) || !smart__sauth_early(ss->sauth, now))
    return 0;
  if (ss->unsent && !ss->early_wait) {
    ss->early_wait = 1;
    *end_batch = 1;
    return 0;
  }
  ss->early_wait = 0;
  smart_ssize n = smart__sauth_output_early(ss->sauth, buf, cap - SMART__SEC_OVERHEAD,
                                            ss->cfg.sync, ss->group4, now);
  if (n <= 0)
    return 0;
  *to = *smart__session_dest(ss);
  smart_ssize m = seal(ss, &producers[ROW_SAUTH], buf, (size_t)n, cap, end_batch, now);
  return m > 0 ? m : 0;
}

smart_ssize smart__session_send(struct smart__session *ss, uint8_t *buf, size_t cap,
                                struct smart__sockaddr *to, int *end_batch, uint64_t now) {
  *end_batch = 0;
  smart_ssize n = produce(ss, buf, cap, to, end_batch, now);
  if (n == 0 && ss->sauth) {
    n = early_manifest(ss, buf, cap, to, end_batch, now);
    /* Nothing more is due: the next signature's nonce, once what was
     * produced (the manifest just signed) has left. */
    if (n == 0 && smart__sauth_prepare_due(ss->sauth)) {
      if (ss->unsent)
        *end_batch = 1;
      else
        smart__sauth_prepare(ss->sauth);
    }
  }
  if (n > 0)
    ss->unsent++;
  return n;
}

smart_ssize smart__session_send_ref(struct smart__session *ss, uint8_t *buf, size_t cap,
                                    struct smart__sockaddr *to, int *end_batch, uint64_t now,
                                    uint8_t **data) {
  *data = NULL;
  ss->ref = data;
  smart_ssize n = smart__session_send(ss, buf, cap, to, end_batch, now);
  ss->ref = NULL;
  if (!*data)
    *data = buf;
  return n;
}
