/* Group moves. See move.h and smart-protocol(7) "MOVES". */
#include "proto/move.h"

#include <arpa/inet.h>
#include <string.h>

#include "util/time.h"

#define ARC_QUICK 3u /* announcements ARC_QUICK_GAP apart ... */
#define ARC_QUICK_GAP SMART__MS(20)
#define ARC_SLOW 8u /* ... then ARC_SLOW every ARC_SLOW_GAP: 2 s */
#define ARC_SLOW_GAP SMART__MS(250)
#define MOVE_MIN_LEAD SMART__MS(50)

static uint32_t v4_of(const struct smart__sockaddr *a) {
  return a->u.sa.sa_family == AF_INET ? ntohl(a->u.in4.sin_addr.s_addr) : 0;
}

static uint16_t port_of(const struct smart__sockaddr *a) {
  return ntohs(a->u.sa.sa_family == AF_INET ? a->u.in4.sin_port : a->u.in6.sin6_port);
}

uint64_t smart__move_start(struct smart__move *m, const struct smart__sockaddr *from,
                           const struct smart__sockaddr *to, uint64_t lead_ns, uint64_t now) {
  m->next = *to;
  m->from = *from;
  m->arc_left = ARC_QUICK + ARC_SLOW;
  m->arc_sent = 0;
  m->arc_next = now;
  m->switch_at = now + (lead_ns < MOVE_MIN_LEAD ? MOVE_MIN_LEAD : lead_ns);
  m->moving = 1;
  return m->switch_at + SMART__MOVE_LINGER_NS;
}

size_t smart__move_output(struct smart__move *m, uint8_t *buf, size_t cap, uint8_t sync,
                          struct smart__sockaddr *dest, uint64_t now) {
  if (!m->arc_left || now < m->arc_next)
    return 0;
  m->arc_left--;
  m->arc_next = now + (++m->arc_sent < ARC_QUICK ? ARC_QUICK_GAP : ARC_SLOW_GAP);
  *dest = m->from;
  return smart__move_encode(buf, cap, sync, &m->next);
}

int smart__move_switch(struct smart__move *m, struct smart__sockaddr *group, uint64_t now) {
  if (!m->moving || now < m->switch_at)
    return 0;
  m->moving = 0;
  *group = m->next;
  return 1;
}

uint64_t smart__move_expiry(const struct smart__move *m) {
  uint64_t t = SMART__NEVER;
  if (m->arc_left)
    t = m->arc_next;
  if (m->moving)
    t = smart__min_deadline(t, m->switch_at);
  return t;
}

size_t smart__move_encode(uint8_t *buf, size_t cap, uint8_t sync, const struct smart__sockaddr *g) {
  struct smart__pkt p;
  uint8_t ext[64], ports[4];
  size_t el = 0;
  memset(&p, 0, sizeof(p));
  p.sync = sync;
  p.typ = SMART__TYP_MSG;
  p.cmd = SMART__MSG_ADDR_RANGE_CHANGE;
  p.u.addr.addr1 = p.u.addr.addr2 = v4_of(g);
  ports[0] = ports[2] = (uint8_t)(port_of(g) >> 8);
  ports[1] = ports[3] = (uint8_t)port_of(g);
  smart__ext_put(ext, sizeof(ext), &el, SMART__EXT_PORT, ports, 4);
  if (g->u.sa.sa_family == AF_INET6) {
    uint8_t two[32];
    memcpy(two, &g->u.in6.sin6_addr, 16);
    memcpy(two + 16, &g->u.in6.sin6_addr, 16);
    smart__ext_put(ext, sizeof(ext), &el, SMART__EXT_ADDR6, two, 32);
  }
  p.ext = ext;
  p.ext_len = el;
  smart_ssize n = smart__pkt_encode(buf, cap, &p);
  return n > 0 ? (size_t)n : 0;
}

int smart__move_target(const struct smart__pkt *p, const struct smart__sockaddr *current,
                       struct smart__sockaddr *g) {
  const uint8_t *v;
  size_t vl;
  memset(g, 0, sizeof(*g));
  if (!smart__ext_find(p->ext, p->ext_len, SMART__EXT_PORT, &v, &vl) || vl != 4)
    return -1;
  uint16_t port = (uint16_t)(v[0] << 8 | v[1]);
  if (current->u.sa.sa_family == AF_INET) {
    g->u.in4.sin_family = AF_INET;
    g->u.in4.sin_addr.s_addr = htonl(p->u.addr.addr1);
    g->u.in4.sin_port = htons(port);
    g->len = sizeof(struct sockaddr_in);
  } else {
    if (!smart__ext_find(p->ext, p->ext_len, SMART__EXT_ADDR6, &v, &vl) || vl != 32)
      return -1;
    g->u.in6.sin6_family = AF_INET6;
    memcpy(&g->u.in6.sin6_addr, v, 16);
    g->u.in6.sin6_port = htons(port);
    g->len = sizeof(struct sockaddr_in6);
  }
  if (!smart__addr_is_multicast(g) || smart__addr_equal(g, current))
    return -1; /* a repeat of the announcement, or nonsense */
  return 0;
}
