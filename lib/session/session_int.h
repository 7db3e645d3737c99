/* The session's state, shared by its files (session.c: input, timers,
 * control; output.c: the producer table). See session.h. */
#ifndef SMART_SESSION_INT_H
#define SMART_SESSION_INT_H

#include "session/session.h"

#include "proto/flow.h"
#include "proto/ident.h"
#include "proto/members.h"
#include "proto/move.h"
#include "proto/peers.h"
#include "proto/sauth.h"
#include "proto/secure.h"
#include "proto/tunnel.h"
#include "util/rng.h"

#define SMART__SCRATCH 65536u /* an opened datagram */
#define SMART__CMDQ 4u

struct smart__session {
  struct smart__opts o; /* copied at creation (keys and lists stay with the socket) */
  struct smart__engine_config cfg;
  struct smart__engine *eng;
  struct smart__sockaddr group, self, relay;
  uint32_t group4; /* the IPv4 group as a host-order word, or 0 */
  struct smart__peers peers;
  struct smart__flow flow;
  struct smart__move move;
  /* security (NULL sec: plain session) */
  struct smart__sec *sec;
  struct smart__ident *ident;
  struct smart__sauth *sauth;
  struct smart__members *mem;
  struct smart__tunnel *tunnel;
  uint8_t *scratch;
  /* datagrams produced since the last batch went (session_sent); an early
   * manifest waits for them to leave first */
  uint32_t unsent;
  int early_wait;
  int leaving; /* send USAGE_REPORT_LEAVE */
  /* the previous group socket: open until old_close_at */
  int have_old;
  uint64_t old_close_at;
  struct smart__sockaddr pending; /* a group socket asked for */
  int pending_kind;               /* 0, or 1 follow (receiver) / 2 move (sender) */
  struct smart__cmd cmdq[SMART__CMDQ];
  unsigned ncmd;
  /* report triggers, checked every second */
  uint64_t check_at, seen_auth, seen_rx, seen_bad;
  /* flush */
  uint64_t flush_activity, flush_count;
  struct smart__rng rng;
  uint64_t now; /* the time of the last input or tick */
  uint64_t rx_at;  /* kernel arrival of the datagram about to be read (0: now) */
  uint64_t rx_cur; /* ... and of the one being handled */
  /* SMART_CIPHER_AUTO (smart__sec_chooses): whether every receiver that
   * reports opens AES-256-GCM, as last looked at (output.c). */
  uint8_t all_gcm;
  uint64_t gcm_looked;
  uint8_t **ref; /* smart__session_send_ref's out-parameter while it runs (output.c) */
  /* counters the engine does not keep */
  uint64_t dgrams_received, drops_injected, drops_other, drops_auth, drops_replay;
  uint64_t joins_refused, naks_limited, rekeys, senders, msgs_delivered, bytes_delivered;
};

#endif
