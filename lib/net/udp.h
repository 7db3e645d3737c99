/*
 * Real sockets: UDP multicast over IPv4 and IPv6, any-source and
 * source-specific joins, batched I/O, the clock. Only this file's .c and the
 * socket shell (lib/sock/) make system calls or read the clock; everything
 * that decides protocol behaviour is sans-IO (lib/session/, lib/proto/).
 */
#ifndef SMART_NET_UDP_H
#define SMART_NET_UDP_H

#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"
#include "smart/smart.h"

/*
 * An interface named by address ("127.0.0.1", "::1") or by name ("lo").
 * For IPv4 multicast the interface is its address; for IPv6 its index. Fills
 * `addr` with the interface's unicast address of `family` when it has one.
 */
struct smart__iface {
  int family;
  unsigned index;
  struct in_addr v4;
  struct smart__sockaddr addr;
};
int smart__iface_resolve(const char *text, int family, struct smart__iface *out);

/* Map errno to a SMART_E* code (unmapped: SMART_ESYS). */
int smart__errno_map(int err);

/* A non-blocking, close-on-exec UDP socket of `family`. Returns fd or error. */
int smart__udp_socket(int family);

/* Bind the group socket: the group's port, address-reuse on, receiving only
 * the groups joined on this socket (IP_MULTICAST_ALL off). */
int smart__udp_bind_group(int fd, const struct smart__sockaddr *group);

/* Bind the send socket to the interface address with an ephemeral port. */
int smart__udp_bind_iface(int fd, const struct smart__iface *ifc);

/* Outgoing multicast: interface, TTL / hop limit, loopback. */
int smart__mcast_out(int fd, int family, const struct smart__iface *ifc,
                     int ttl, int loop);

/* Join or leave (join = 1/0) a group on an interface; any-source when
 * `source` is NULL, else source-specific. */
int smart__mcast_membership(int fd, const struct smart__sockaddr *group,
                            const struct smart__iface *ifc,
                            const struct smart__sockaddr *source, int join);

/* Best effort: have the kernel drop datagrams arriving on `fd` whose source
 * is exactly `self` (our own multicast looped back to the group socket),
 * before they are queued, so they cost no wake-up, copy or system call.
 * `self` must be a specific address (not the wildcard). Returns 0 or an
 * error; callers must still recognise such datagrams themselves. */
int smart__udp_ignore_source(int fd, const struct smart__sockaddr *self);

/* Batched I/O. The caller owns the arrays; nothing is allocated here. */
struct smart__dgram {
  uint8_t *buf;
  size_t len; /* in: bytes to send / capacity; out: bytes received */
  size_t seg; /* out: 0, or the segment size of coalesced datagrams (GRO) */
  uint64_t stamp; /* out: when the kernel received it, CLOCK_REALTIME ns
                     (smart__udp_timestamps); 0 when not known */
  uint32_t drops; /* out: how many entries (datagrams, or GRO trains) the
                     socket had dropped, its buffer full, when this one was
                     queued (SO_RXQ_OVFL, smart__udp_drop_count; wraps); 0
                     when none or not known */
  struct smart__sockaddr peer;
};
/* Send up to n datagrams; returns how many went, or a SMART_E* error
 * (SMART_EAGAIN when the socket is full and none went). Consecutive
 * datagrams to one peer, all of one size but the last (which may be
 * shorter), leave as one UDP segmentation-offload send (UDP_SEGMENT) where
 * the kernel has it: one trip through the stack for up to 64 datagrams.
 * The datagrams on the wire are the same. */
int smart__udp_send_batch(int fd, struct smart__dgram *d, unsigned n);
/* Receive up to n datagrams without blocking; returns how many, 0 when none
 * were waiting, or an error. On a socket with smart__udp_gro() on, one
 * entry may hold several datagrams of `seg` bytes each (the last may be
 * shorter): the buffers should hold 64 KiB. */
int smart__udp_recv_batch(int fd, struct smart__dgram *d, unsigned n);
/* Ask the kernel to stamp what it receives on `fd` (SO_TIMESTAMPNS): the
 * time a datagram waited in the socket is then known, and a round trip
 * measured from it is the path's, not the reader's backlog. */
int smart__udp_timestamps(int fd);
/* Ask the kernel to tell, with each datagram, how many entries the socket
 * has dropped so far for want of buffer space (SO_RXQ_OVFL: dgram.drops). */
int smart__udp_drop_count(int fd);
/* Best effort, every receiving socket: smart__udp_gro, smart__udp_timestamps
 * and smart__udp_drop_count (a kernel without one works without it). */
void smart__udp_rx_options(int fd);
/* The real-time clock, ns, to compare with a dgram's stamp. */
uint64_t smart__realtime(void);
/* Best effort: let the kernel hand datagrams of one UDP segmentation-
 * offload send (or coalesced by GRO) to recv_batch as one entry
 * (UDP_GRO). Returns 0 or SMART_ENOTSUP. */
int smart__udp_gro(int fd);
/* How full the socket's receive buffer is: bytes held (as the kernel
 * charges them) and the limit (SO_MEMINFO). Returns 0 or SMART_ENOTSUP. */
int smart__udp_rx_fill(int fd, uint32_t *used, uint32_t *size);

/* Monotonic clock in nanoseconds. */
uint64_t smart__now(void);

#endif
