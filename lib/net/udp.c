/* UDP multicast sockets, batched I/O and the clock, for the socket shell. See udp.h. */
#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netinet/udp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SMART__BATCH_MAX 64

int smart__errno_map(int err) {
  switch (err) {
  case EAGAIN:
#if EWOULDBLOCK != EAGAIN
  case EWOULDBLOCK:
#endif
  case ENOBUFS:
    return SMART_EAGAIN;
  case ENOMEM:
    return SMART_ENOMEM;
  case EINVAL:
  case EADDRNOTAVAIL:
  case EAFNOSUPPORT:
  case ENODEV:
    return SMART_EINVAL;
  case EMSGSIZE:
    return SMART_EMSGSIZE;
  case ENOPROTOOPT:
  case EOPNOTSUPP:
    return SMART_ENOTSUP;
  default:
    return SMART_ESYS;
  }
}

int smart__iface_resolve(const char *text, int family, struct smart__iface *out) {
  struct ifaddrs *ifs = NULL, *i;
  struct smart__sockaddr a;
  int by_addr;
  if (!out)
    return SMART_EINVAL;
  memset(out, 0, sizeof(*out));
  out->family = family;
  if (!text || !*text) /* the kernel's default interface */
    return 0;
  by_addr = smart__addr_parse(text, 1, &a) == 0;
  if (getifaddrs(&ifs) != 0)
    return smart__errno_map(errno);
  int found = 0;
  for (i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr)
      continue;
    int match;
    if (by_addr) {
      match = i->ifa_addr->sa_family == a.u.sa.sa_family &&
              (a.u.sa.sa_family == AF_INET
                   ? ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr.s_addr ==
                         a.u.in4.sin_addr.s_addr
                   : !memcmp(&((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr,
                             &a.u.in6.sin6_addr, 16));
    } else {
      match = strcmp(i->ifa_name, text) == 0;
    }
    if (!match)
      continue;
    out->index = if_nametoindex(i->ifa_name);
    if (i->ifa_addr->sa_family == family) {
      if (family == AF_INET) {
        out->v4 = ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr;
        memcpy(&out->addr.u.in4, i->ifa_addr, sizeof(struct sockaddr_in));
        out->addr.len = sizeof(struct sockaddr_in);
      } else {
        memcpy(&out->addr.u.in6, i->ifa_addr, sizeof(struct sockaddr_in6));
        out->addr.len = sizeof(struct sockaddr_in6);
      }
      out->addr.u.in4.sin_port = 0;
      found = 2;
      break;
    }
    found = found ? found : 1;
  }
  freeifaddrs(ifs);
  if (!found)
    return SMART_EINVAL;
  if (found == 1 && family == AF_INET) /* IPv4 multicast needs an address */
    return SMART_EINVAL;
  return 0;
}

int smart__udp_socket(int family) {
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0)
    return smart__errno_map(errno);
  return fd;
}

int smart__udp_bind_group(int fd, const struct smart__sockaddr *group) {
  int one = 1, zero = 0;
  struct smart__sockaddr b = *group;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
    return smart__errno_map(errno);
  if (group->u.sa.sa_family == AF_INET) {
    /* Binding to the group address filters other groups on the same port. */
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
  } else {
#ifdef IPV6_MULTICAST_ALL
    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof(zero));
#endif
    b.u.in6.sin6_addr = in6addr_any;
    b.u.in6.sin6_scope_id = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (bind(fd, &b.u.sa, b.len) != 0)
    return smart__errno_map(errno);
  /* Large buffers: a burst of datagrams should not overflow them. */
  int sz = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
  return 0;
}

int smart__udp_bind_iface(int fd, const struct smart__iface *ifc) {
  struct smart__sockaddr b;
  memset(&b, 0, sizeof(b));
  if (ifc->addr.len) {
    b = ifc->addr;
  } else if (ifc->family == AF_INET) {
    b.u.in4.sin_family = AF_INET;
    b.len = sizeof(struct sockaddr_in);
  } else {
    int one = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    b.u.in6.sin6_family = AF_INET6;
    b.len = sizeof(struct sockaddr_in6);
  }
  if (bind(fd, &b.u.sa, b.len) != 0)
    return smart__errno_map(errno);
  int sz = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
  return 0;
}

int smart__mcast_out(int fd, int family, const struct smart__iface *ifc,
                     int ttl, int loop) {
  if (family == AF_INET) {
    unsigned char t = (unsigned char)ttl, l = (unsigned char)(loop != 0);
    if (ifc->v4.s_addr != 0 &&
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifc->v4, sizeof(ifc->v4)) != 0)
      return smart__errno_map(errno);
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &t, sizeof(t)) != 0 ||
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &l, sizeof(l)) != 0)
      return smart__errno_map(errno);
  } else {
    int l = loop != 0;
    if (ifc->index &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifc->index, sizeof(ifc->index)) != 0)
      return smart__errno_map(errno);
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof(ttl)) != 0 ||
        setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &l, sizeof(l)) != 0)
      return smart__errno_map(errno);
  }
  return 0;
}

int smart__mcast_membership(int fd, const struct smart__sockaddr *group,
                            const struct smart__iface *ifc,
                            const struct smart__sockaddr *source, int join) {
  int rc;
  if (source) {
    if (source->u.sa.sa_family != group->u.sa.sa_family)
      return SMART_EINVAL;
    struct group_source_req gsr;
    memset(&gsr, 0, sizeof(gsr));
    gsr.gsr_interface = ifc->index;
    memcpy(&gsr.gsr_group, &group->u.ss, group->len);
    memcpy(&gsr.gsr_source, &source->u.ss, source->len);
    int level = group->u.sa.sa_family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
    rc = setsockopt(fd, level, join ? MCAST_JOIN_SOURCE_GROUP : MCAST_LEAVE_SOURCE_GROUP,
                    &gsr, sizeof(gsr));
  } else if (group->u.sa.sa_family == AF_INET) {
    struct ip_mreqn m;
    memset(&m, 0, sizeof(m));
    m.imr_multiaddr = group->u.in4.sin_addr;
    m.imr_address = ifc->v4;
    m.imr_ifindex = (int)ifc->index;
    rc = setsockopt(fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &m,
                    sizeof(m));
  } else {
    struct ipv6_mreq m;
    memset(&m, 0, sizeof(m));
    m.ipv6mr_multiaddr = group->u.in6.sin6_addr;
    m.ipv6mr_interface = ifc->index;
    rc = setsockopt(fd, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &m,
                    sizeof(m));
  }
  return rc == 0 ? 0 : smart__errno_map(errno);
}

int smart__udp_ignore_source(int fd, const struct smart__sockaddr *self) {
  /* Classic BPF on a UDP socket sees the datagram from its UDP header (the
   * source port at offset 0); the IP header is at SKF_NET_OFF. Keep
   * everything unless the source port and then every word of the source
   * address match. */
  struct sock_filter f[12];
  unsigned n = 0, words, net_off;
  uint32_t w[4];
  uint16_t port;
  if (self->u.sa.sa_family == AF_INET) {
    if (self->u.in4.sin_addr.s_addr == htonl(INADDR_ANY))
      return SMART_EINVAL;
    words = 1;
    net_off = 12; /* IPv4 source address */
    w[0] = ntohl(self->u.in4.sin_addr.s_addr);
    port = ntohs(self->u.in4.sin_port);
  } else if (self->u.sa.sa_family == AF_INET6) {
    if (IN6_IS_ADDR_UNSPECIFIED(&self->u.in6.sin6_addr))
      return SMART_EINVAL;
    words = 4;
    net_off = 8; /* IPv6 source address */
    for (unsigned i = 0; i < 4; i++) {
      uint32_t v;
      memcpy(&v, self->u.in6.sin6_addr.s6_addr + 4 * i, 4);
      w[i] = ntohl(v);
    }
    port = ntohs(self->u.in6.sin6_port);
  } else {
    return SMART_EINVAL;
  }
  /* Layout: [ld port, jne keep] then per word [ld, jne keep], drop, keep. */
  unsigned keep = 2 + 2 * words + 1; /* index of the "keep" return */
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 0);
  f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0,
                                      (uint8_t)(keep - n - 1));
  n++;
  for (unsigned i = 0; i < words; i++) {
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          (uint32_t)SKF_NET_OFF + net_off + 4 * i);
    f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, w[i], 0,
                                        (uint8_t)(keep - n - 1));
    n++;
  }
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);          /* drop */
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xFFFFFFFFu); /* keep */
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0)
    return smart__errno_map(errno);
  return 0;
}

/* UDP segmentation offload (Linux 4.18) and GRO delivery (5.0); older
 * headers lack the names. */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

/* Set once the kernel refuses UDP_SEGMENT: plain batches from then on. */
static atomic_int gso_refused;

/* One segmentation-offload send: at most this many segments (the kernel's
 * limit, UDP_MAX_SEGMENTS, is 64 before Linux 6.8) and this many bytes (below
 * the largest UDP payload). */
#define SMART__GSO_SEGS 64u
#define SMART__GSO_BYTES 65000u

static int same_peer(const struct smart__sockaddr *a, const struct smart__sockaddr *b) {
  return a->len == b->len && memcmp(&a->u, &b->u, a->len) == 0;
}

/* One sendmmsg of the n datagrams; with gso, each run of datagrams to one
 * peer, of one size but the last, is one message with UDP_SEGMENT. Returns
 * datagrams sent, or -errno. */
static int send_mm(int fd, struct smart__dgram *d, unsigned n, int gso) {
  struct mmsghdr m[SMART__BATCH_MAX];
  struct iovec iov[SMART__BATCH_MAX];
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    size_t align; /* as struct cmsghdr */
  } ctl[SMART__BATCH_MAX];
  unsigned cnt[SMART__BATCH_MAX], nm = 0;
  for (unsigned i = 0; i < n;) {
    unsigned j = i;
    size_t total = 0;
    do {
      iov[j].iov_base = d[j].buf;
      iov[j].iov_len = d[j].len;
      total += d[j].len;
      j++;
    } while (gso && j < n && j - i < SMART__GSO_SEGS && d[j - 1].len == d[i].len &&
             d[j].len && d[j].len <= d[i].len && total + d[j].len <= SMART__GSO_BYTES &&
             same_peer(&d[j].peer, &d[i].peer));
    struct msghdr *h = &m[nm].msg_hdr;
    memset(h, 0, sizeof(*h));
    h->msg_name = &d[i].peer.u.sa;
    h->msg_namelen = d[i].peer.len;
    h->msg_iov = &iov[i];
    h->msg_iovlen = j - i;
    if (j - i > 1) {
      memset(&ctl[nm], 0, sizeof(ctl[nm]));
      h->msg_control = ctl[nm].buf;
      h->msg_controllen = sizeof(ctl[nm].buf);
      struct cmsghdr *c = CMSG_FIRSTHDR(h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t seg = (uint16_t)d[i].len;
      memcpy(CMSG_DATA(c), &seg, sizeof(seg));
    }
    m[nm].msg_len = 0;
    cnt[nm++] = j - i;
    i = j;
  }
  int r;
  do
    r = sendmmsg(fd, m, nm, MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return -errno;
  unsigned sent = 0;
  for (int k = 0; k < r; k++)
    sent += cnt[k];
  return (int)sent;
}

int smart__udp_send_batch(int fd, struct smart__dgram *d, unsigned n) {
  if (n > SMART__BATCH_MAX)
    n = SMART__BATCH_MAX;
  int r;
  if (n > 1 && !atomic_load_explicit(&gso_refused, memory_order_relaxed)) {
    r = send_mm(fd, d, n, 1);
    if (r >= 0 || r == -EAGAIN || r == -EWOULDBLOCK || r == -ENOBUFS || r == -EINTR)
      return r >= 0 ? r : smart__errno_map(-r);
    /* Refused (an old kernel, a device without checksum offload, ...):
     * the same without segmentation; if that goes, stop asking. */
    r = send_mm(fd, d, n, 0);
    if (r > 0)
      atomic_store_explicit(&gso_refused, 1, memory_order_relaxed);
    return r >= 0 ? r : smart__errno_map(-r);
  }
  r = send_mm(fd, d, n, 0);
  return r >= 0 ? r : smart__errno_map(-r);
}

int smart__udp_rx_fill(int fd, uint32_t *used, uint32_t *size) {
#ifdef SO_MEMINFO
  uint32_t v[SK_MEMINFO_VARS];
  socklen_t l = sizeof(v);
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, v, &l) != 0 ||
      l < (socklen_t)((SK_MEMINFO_RCVBUF + 1) * sizeof(uint32_t)))
    return SMART_ENOTSUP;
  *used = v[SK_MEMINFO_RMEM_ALLOC];
  *size = v[SK_MEMINFO_RCVBUF];
  return 0;
#else
  (void)fd, (void)used, (void)size;
  return SMART_ENOTSUP;
#endif
}

int smart__udp_timestamps(int fd) {
  int one = 1;
  return setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) == 0 ? 0 : SMART_ENOTSUP;
}

int smart__udp_drop_count(int fd) {
#ifdef SO_RXQ_OVFL
  int one = 1;
  return setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) == 0 ? 0 : SMART_ENOTSUP;
#else
  (void)fd;
  return SMART_ENOTSUP;
#endif
}

void smart__udp_rx_options(int fd) {
  (void)smart__udp_gro(fd);
  (void)smart__udp_timestamps(fd);
  (void)smart__udp_drop_count(fd);
}

uint64_t smart__realtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int smart__udp_gro(int fd) {
  int one = 1;
  return setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0 ? 0 : SMART_ENOTSUP;
}

int smart__udp_recv_batch(int fd, struct smart__dgram *d, unsigned n) {
  struct mmsghdr m[SMART__BATCH_MAX];
  struct iovec iov[SMART__BATCH_MAX];
  union {
    char buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct timespec)) +
             CMSG_SPACE(sizeof(uint32_t))];
    size_t align; /* as struct cmsghdr */
  } ctl[SMART__BATCH_MAX];
  if (n > SMART__BATCH_MAX)
    n = SMART__BATCH_MAX;
  for (unsigned i = 0; i < n; i++) {
    iov[i].iov_base = d[i].buf;
    iov[i].iov_len = d[i].len;
    memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
    m[i].msg_hdr.msg_name = &d[i].peer.u.ss;
    m[i].msg_hdr.msg_namelen = sizeof(d[i].peer.u.ss);
    m[i].msg_hdr.msg_iov = &iov[i];
    m[i].msg_hdr.msg_iovlen = 1;
    m[i].msg_hdr.msg_control = ctl[i].buf;
    m[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
  }
  int r;
  do
    r = recvmmsg(fd, m, n, MSG_DONTWAIT, NULL);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : smart__errno_map(errno);
  for (int i = 0; i < r; i++) {
    struct msghdr *h = &m[i].msg_hdr;
    d[i].len = m[i].msg_len;
    d[i].seg = 0;
    d[i].stamp = 0;
    d[i].drops = 0;
    d[i].peer.len = h->msg_namelen;
    if (h->msg_flags & MSG_TRUNC)
      d[i].len = (size_t)-1; /* larger than the buffer: the caller drops it */
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
          c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        int seg;
        memcpy(&seg, CMSG_DATA(c), sizeof(seg));
        if (seg > 0 && d[i].len != (size_t)-1 && (size_t)seg < d[i].len)
          d[i].seg = (size_t)seg;
      } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
                 c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
        struct timespec ts;
        memcpy(&ts, CMSG_DATA(c), sizeof(ts));
        if (ts.tv_sec > 0)
          d[i].stamp = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
      }
#ifdef SO_RXQ_OVFL
      else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL &&
               c->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
        memcpy(&d[i].drops, CMSG_DATA(c), sizeof(d[i].drops));
      }
#endif
    }
  }
  return r;
}

uint64_t smart__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
