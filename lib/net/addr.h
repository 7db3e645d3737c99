/*
 * Socket addresses of either family: the type every layer shares, and pure
 * helpers (no system call). See addr.c.
 */
#ifndef SMART_NET_ADDR_H
#define SMART_NET_ADDR_H

#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>

/* A socket address of either family, with its length. */
struct smart__sockaddr {
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    struct sockaddr_storage ss;
  } u;
  socklen_t len;
};

/*
 * Parse "A.B.C.D:PORT", "[V6]:PORT", or, when port_optional, a bare address.
 * Numeric only (no name resolution: nothing here blocks). Returns 0 or
 * SMART_EINVAL.
 */
int smart__addr_parse(const char *text, int port_optional,
                      struct smart__sockaddr *out);

/* Format an address as "A.B.C.D:PORT" or "[V6]:PORT". */
void smart__addr_format(const struct smart__sockaddr *a, char *buf, size_t len);

/* Same address and port. */
int smart__addr_equal(const struct smart__sockaddr *a,
                      const struct smart__sockaddr *b);

/* Is this a multicast address? */
int smart__addr_is_multicast(const struct smart__sockaddr *a);

#endif
