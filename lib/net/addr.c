/*
 * Socket addresses: parse, format, compare. Pure (no system call, no
 * clock): the session and the protocol rooms use the address type and
 * these functions; only lib/net/udp.c and lib/sock/ make system calls.
 */
#include "addr.h"

#include "smart/smart.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, uint16_t *port) {
  char *end;
  if (!*s)
    return SMART_EINVAL;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (*end || errno || v > 65535 || *s == '-' || *s == '+')
    return SMART_EINVAL;
  *port = (uint16_t)v;
  return 0;
}

int smart__addr_parse(const char *text, int port_optional,
                      struct smart__sockaddr *out) {
  char host[INET6_ADDRSTRLEN + 1];
  const char *port_s = NULL;
  uint16_t port = 0;
  if (!text || !out)
    return SMART_EINVAL;
  memset(out, 0, sizeof(*out));
  size_t tl = strlen(text);
  if (text[0] == '[') {
    const char *close = strchr(text, ']');
    if (!close || (size_t)(close - text - 1) >= sizeof(host))
      return SMART_EINVAL;
    memcpy(host, text + 1, (size_t)(close - text - 1));
    host[close - text - 1] = 0;
    if (close[1] == ':')
      port_s = close + 2;
    else if (close[1] != 0)
      return SMART_EINVAL;
  } else {
    const char *colon = strchr(text, ':');
    if (colon && strchr(colon + 1, ':')) { /* bare IPv6, no port */
      if (tl >= sizeof(host))
        return SMART_EINVAL;
      memcpy(host, text, tl + 1);
    } else {
      size_t hl = colon ? (size_t)(colon - text) : tl;
      if (hl >= sizeof(host))
        return SMART_EINVAL;
      memcpy(host, text, hl);
      host[hl] = 0;
      if (colon)
        port_s = colon + 1;
    }
  }
  if (port_s) {
    if (parse_port(port_s, &port) != 0)
      return SMART_EINVAL;
  } else if (!port_optional) {
    return SMART_EINVAL;
  }
  if (inet_pton(AF_INET, host, &out->u.in4.sin_addr) == 1) {
    out->u.in4.sin_family = AF_INET;
    out->u.in4.sin_port = htons(port);
    out->len = sizeof(struct sockaddr_in);
    return 0;
  }
  char *pct = strchr(host, '%'); /* scope: [fe80::1%lo]:5000 */
  unsigned scope = 0;
  if (pct) {
    *pct = 0;
    scope = if_nametoindex(pct + 1);
    if (!scope)
      return SMART_EINVAL;
  }
  if (inet_pton(AF_INET6, host, &out->u.in6.sin6_addr) == 1) {
    out->u.in6.sin6_family = AF_INET6;
    out->u.in6.sin6_port = htons(port);
    out->u.in6.sin6_scope_id = scope;
    out->len = sizeof(struct sockaddr_in6);
    return 0;
  }
  return SMART_EINVAL;
}

void smart__addr_format(const struct smart__sockaddr *a, char *buf, size_t len) {
  char h[INET6_ADDRSTRLEN] = "?";
  if (a->u.sa.sa_family == AF_INET) {
    inet_ntop(AF_INET, &a->u.in4.sin_addr, h, sizeof(h));
    snprintf(buf, len, "%s:%u", h, ntohs(a->u.in4.sin_port));
  } else if (a->u.sa.sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &a->u.in6.sin6_addr, h, sizeof(h));
    snprintf(buf, len, "[%s]:%u", h, ntohs(a->u.in6.sin6_port));
  } else {
    snprintf(buf, len, "?");
  }
}

int smart__addr_equal(const struct smart__sockaddr *a,
                      const struct smart__sockaddr *b) {
  if (a->u.sa.sa_family != b->u.sa.sa_family)
    return 0;
  if (a->u.sa.sa_family == AF_INET)
    return a->u.in4.sin_port == b->u.in4.sin_port &&
           a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
  if (a->u.sa.sa_family == AF_INET6)
    return a->u.in6.sin6_port == b->u.in6.sin6_port &&
           !memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, 16);
  return 0;
}

int smart__addr_is_multicast(const struct smart__sockaddr *a) {
  if (a->u.sa.sa_family == AF_INET)
    return IN_MULTICAST(ntohl(a->u.in4.sin_addr.s_addr));
  if (a->u.sa.sa_family == AF_INET6)
    return IN6_IS_ADDR_MULTICAST(&a->u.in6.sin6_addr);
  return 0;
}
