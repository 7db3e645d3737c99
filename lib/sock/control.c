/*
 * smart_stats, smart_event, smart_members, smart_move, smart_rekey,
 * smart_allow, smart_revoke: argument checks, then the session. See
 * sock_int.h.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sock/sock_int.h"

SMART_API int smart_stats(smart_sock *s, struct smart_stats *st) {
  if (!s || !st || st->size < offsetof(struct smart_stats, senders) + sizeof(uint64_t))
    return SMART_EINVAL;
  SMART__HOLD(s);
  struct smart_stats v;
  memset(&v, 0, sizeof(v));
  if (s->ss)
    smart__session_stats(s->ss, &v);
  v.dgrams_sent = s->dgrams_sent;
  v.drops_other += s->drops_other;
  v.tx_refused = s->tx_refused;
  v.drops_socket = s->drops_socket;
  size_t n = st->size < sizeof(v) ? st->size : sizeof(v);
  v.size = st->size;
  memcpy(st, &v, n);
  return 0;
}

/* What arrived and what is due, before answering about it. */
static int pump_joined(smart_sock *s) { return s->joined ? smart__io_pump(s) : 0; }

SMART_API int smart_event(smart_sock *s, struct smart_event *ev) {
  /* Size-versioned: a program built against 0.1 passes the 0.1 size. */
  if (!s || !ev || ev->size < offsetof(struct smart_event, seq) || ev->size > 4096)
    return SMART_EINVAL;
  SMART__HOLD(s);
  if (!s->ss)
    return 0;
  int rc = pump_joined(s);
  if (rc)
    return rc;
  struct smart_event e;
  if (!smart__session_event(s->ss, &e))
    return 0;
  size_t sz = ev->size;
  memcpy(ev, &e, sizeof(e) < sz ? sizeof(e) : sz);
  ev->size = sz;
  return 1;
}

SMART_API smart_ssize smart_members(smart_sock *s, struct smart_member *out, size_t max) {
  if (!s || (max && (!out || out[0].size < sizeof(struct smart_member) || out[0].size > 4096)))
    return SMART_EINVAL;
  SMART__HOLD(s);
  if (!s->ss)
    return 0;
  return (smart_ssize)smart__session_members(s->ss, out, max, max ? out[0].size : 0, smart__now());
}

SMART_API smart_ssize smart_receivers(smart_sock *s, struct smart_receiver *out, size_t max) {
  if (!s || (max && (!out || out[0].size < sizeof(struct smart_receiver) || out[0].size > 4096)))
    return SMART_EINVAL;
  SMART__HOLD(s);
  if (!s->ss)
    return 0;
  int rc = pump_joined(s);
  if (rc)
    return rc;
  return smart__session_receivers(s->ss, out, max, max ? out[0].size : 0, smart__now());
}

SMART_API int smart_move(smart_sock *s, const char *group) {
  struct smart__sockaddr g;
  if (!s || !group)
    return SMART_EINVAL;
  SMART__HOLD(s);
  if (!s->joined)
    return SMART_ENOTCONN;
  if (smart__addr_parse(group, 0, &g) != 0 || !smart__addr_is_multicast(&g) ||
      g.u.sa.sa_family != smart__session_group(s->ss)->u.sa.sa_family)
    return SMART_EINVAL;
  uint64_t now = smart__now();
  int rc = smart__session_move(s->ss, &g, now);
  if (rc == 0 && (rc = smart__io_commands(s, now)) == 0)
    rc = smart__io_pump(s);
  return smart__io_err(s, rc);
}

SMART_API int smart_rekey(smart_sock *s) {
  if (!s)
    return SMART_EINVAL;
  SMART__HOLD(s);
  return s->ss ? smart__session_rekey(s->ss, smart__now()) : SMART_ESTATE;
}

SMART_API int smart_allow(smart_sock *s, const uint8_t pk[32]) {
  if (!s || !pk)
    return SMART_EINVAL;
  SMART__HOLD(s);
  if (!s->o.have_identity)
    return SMART_ESTATE;
  if (s->ss)
    return smart__session_allow(s->ss, pk);
  for (uint32_t i = 0; i < s->o.nallowed; i++)
    if (!memcmp(s->o.allowed[i], pk, 32))
      return 0;
  uint8_t(*n)[32] = realloc(s->o.allowed, (s->o.nallowed + 1) * sizeof(*n));
  if (!n)
    return SMART_ENOMEM;
  s->o.allowed = n;
  memcpy(s->o.allowed[s->o.nallowed++], pk, 32);
  return 0;
}

SMART_API int smart_revoke(smart_sock *s, const uint8_t pk[32]) {
  if (!s || !pk)
    return SMART_EINVAL;
  SMART__HOLD(s);
  if (!s->o.have_identity)
    return SMART_ESTATE;
  if (s->ss)
    return smart__session_revoke(s->ss, pk, smart__now());
  for (uint32_t i = 0; i < s->o.nallowed; i++)
    if (!memcmp(s->o.allowed[i], pk, 32)) {
      memmove(s->o.allowed[i], s->o.allowed[s->o.nallowed - 1], 32);
      s->o.nallowed--;
      return 0;
    }
  return SMART_EINVAL;
}
