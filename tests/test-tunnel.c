/*
 * Tunnels: the URL form, the REQUEST_TUNNEL / LEAVE_TUNNEL codec with the
 * COOKIE extension, relay cookies, and the client state machine driven
 * against a small relay built from the same functions smart-relay uses.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "crypto/crypto.h"
#include "net/udp.h"
#include "proto/tunnel.h"
#include "proto/secure.h"
#include "wire/wire.h"

#define MS UINT64_C(1000000)
#define SEC UINT64_C(1000000000)
#define T0 (UINT64_C(1000) * SEC) /* a start time well inside a bucket */

static struct smart__sockaddr addr(const char *text) {
  struct smart__sockaddr a;
  ck_assert_int_eq(smart__addr_parse(text, 0, &a), 0);
  return a;
}

/* ---- URL ------------------------------------------------------------- */

START_TEST(url_forms) {
  struct smart__sockaddr r, g;
  char buf[64];
  ck_assert_int_eq(smart__tunnel_parse("smart+tunnel://192.0.2.1:7000/239.255.1.1:5000", &r, &g), 0);
  smart__addr_format(&r, buf, sizeof(buf));
  ck_assert_str_eq(buf, "192.0.2.1:7000");
  smart__addr_format(&g, buf, sizeof(buf));
  ck_assert_str_eq(buf, "239.255.1.1:5000");
  ck_assert_int_eq(smart__tunnel_parse("SMART+TUNNEL://[2001:db8::1]:7000/[ff15::1234]:5000", &r, &g), 0);
  ck_assert_int_eq(r.u.sa.sa_family, AF_INET6);
  ck_assert_int_eq(g.u.sa.sa_family, AF_INET6);
  smart__addr_format(&g, buf, sizeof(buf));
  ck_assert_str_eq(buf, "[ff15::1234]:5000");
  /* mixed families */
  ck_assert_int_eq(smart__tunnel_parse("smart+tunnel://[2001:db8::1]:7000/239.255.1.1:5000", NULL, &g), 0);
  ck_assert_int_eq(g.u.sa.sa_family, AF_INET);
  ck_assert(smart__tunnel_is_url("smart+tunnel://x"));
  ck_assert(!smart__tunnel_is_url("239.255.1.1:5000"));
  static const char *bad[] = {
      "",
      "239.255.1.1:5000",
      "smart://192.0.2.1:7000/239.255.1.1:5000",
      "smart+tunnel://",
      "smart+tunnel:///239.255.1.1:5000",
      "smart+tunnel://192.0.2.1:7000/",
      "smart+tunnel://192.0.2.1:7000",
      "smart+tunnel://192.0.2.1/239.255.1.1:5000",
      "smart+tunnel://192.0.2.1:7000/239.255.1.1",
      "smart+tunnel://192.0.2.1:0/239.255.1.1:5000",
      "smart+tunnel://192.0.2.1:7000/239.255.1.1:0",
      "smart+tunnel://192.0.2.1:7000/192.0.2.2:5000",      /* group not multicast */
      "smart+tunnel://239.255.1.2:7000/239.255.1.1:5000",  /* relay multicast */
      "smart+tunnel://192.0.2.1:7000/239.255.1.1:5000/",
      "smart+tunnel://192.0.2.1:7000/239.255.1.1:5000/x",
      "smart+tunnel://relay.example:7000/239.255.1.1:5000", /* names: no */
      "smart+tunnel://192.0.2.1:7000/239.255.1.1:5000 ",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ck_assert_msg(smart__tunnel_parse(bad[i], &r, &g) == SMART_EINVAL, "accepted %s", bad[i]);
  ck_assert_int_eq(smart__tunnel_parse(NULL, &r, &g), SMART_EINVAL);
}
END_TEST

/* ---- Codec ----------------------------------------------------------- */

START_TEST(codec_vectors) {
  /* Client 198.51.100.7:40000 asks for 239.255.1.1:8080 with no cookie yet:
   * 12 + PORT (8) + COOKIE (20) = 40 bytes. */
  struct smart__tun_msg m;
  memset(&m, 0, sizeof(m));
  m.sync = 0x53;
  m.cmd = SMART__TUN_REQUEST;
  m.group = addr("239.255.1.1:8080");
  m.peer = addr("198.51.100.7:40000");
  m.has_port = 1;
  m.has_cookie = 1;
  uint8_t out[128];
  smart_ssize n = smart__tun_encode(out, sizeof(out), &m);
  static const uint8_t want[40] = {
      0x53, 0xc1, 0x00, 0x28, 0xef, 0xff, 0x01, 0x01, 0xc6, 0x33, 0x64, 0x07,
      0x00, 0x04, 0x00, 0x04, 0x1f, 0x90, 0x9c, 0x40, 0x00, 0x09, 0x00, 0x10,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  ck_assert_int_eq(n, 40);
  ck_assert_mem_eq(out, want, 40);
  /* The codec accepts it (COOKIE is non-critical) and it decodes back. */
  struct smart__pkt p;
  ck_assert_int_eq(smart__pkt_decode(&p, out, 40), 0);
  ck_assert_int_eq(p.kind, SMART__K_REQUEST_TUNNEL);
  struct smart__tun_msg d;
  ck_assert_int_eq(smart__tun_decode(&d, out, 40), 0);
  ck_assert_int_eq(d.cmd, SMART__TUN_REQUEST);
  ck_assert(d.has_port && d.has_cookie && !d.addr6);
  ck_assert(smart__addr_equal(&d.group, &m.group));
  ck_assert(smart__addr_equal(&d.peer, &m.peer));
  /* LEAVE_TUNNEL, client address unknown: Address [2] 0, Port [2] 0. */
  m.cmd = SMART__TUN_LEAVE;
  memset(&m.peer, 0, sizeof(m.peer));
  memset(m.cookie, 0xab, sizeof(m.cookie));
  n = smart__tun_encode(out, sizeof(out), &m);
  ck_assert_int_eq(n, 40);
  ck_assert_int_eq(out[1], 0xc2);
  ck_assert_int_eq(smart__tun_decode(&d, out, 40), 0);
  ck_assert_int_eq(d.peer.len, 0);
  ck_assert_int_eq(d.cookie[15], 0xab);
  /* IPv6 group: ADDR6 (36) too, 76 bytes; base fields 0. */
  m.cmd = SMART__TUN_REQUEST;
  m.group = addr("[ff15::1234]:8080");
  m.peer = addr("198.51.100.7:40000");
  n = smart__tun_encode(out, sizeof(out), &m);
  ck_assert_int_eq(n, 76);
  ck_assert_int_eq(out[4] | out[5] | out[6] | out[7] | out[8] | out[9] | out[10] | out[11], 0);
  ck_assert_int_eq(smart__tun_decode(&d, out, 76), 0);
  ck_assert(d.addr6);
  ck_assert(smart__addr_equal(&d.group, &m.group));
  ck_assert_int_eq(d.peer.u.sa.sa_family, AF_INET); /* v4-mapped comes back IPv4 */
  ck_assert(smart__addr_equal(&d.peer, &m.peer));
  /* Not tunnel messages, and malformed ones. */
  uint8_t data[8] = {0x53, 0x00, 0x00, 0x08, 0, 1, 0, 0};
  ck_assert_int_eq(smart__tun_decode(&d, data, 8), SMART_ENOTSUP);
  ck_assert_int_eq(smart__tun_decode(&d, data, 1), SMART_ENOTSUP);
  uint8_t trunc[10] = {0x53, 0xc1, 0x00, 0x0a, 0xef, 0xff, 0x01, 0x01, 0, 0};
  ck_assert_int_lt(smart__tun_decode(&d, trunc, 10), 0);
  uint8_t badcmd[12] = {0x53, 0xc3, 0x00, 0x0c};
  ck_assert_int_lt(smart__tun_decode(&d, badcmd, 12), 0);
  m.cmd = 3;
  ck_assert_int_eq(smart__tun_encode(out, sizeof(out), &m), SMART_EINVAL);
  m.cmd = SMART__TUN_REQUEST;
  ck_assert_int_eq(smart__tun_encode(out, 20, &m), SMART_ENOBUF);
}
END_TEST

/* ---- Cookies --------------------------------------------------------- */

START_TEST(cookies) {
  const struct smart_crypto_ops *ops = smart_crypto_sodium();
  uint8_t secret[32], other[32];
  memset(secret, 7, 32);
  memset(other, 8, 32);
  struct smart__sockaddr c = addr("198.51.100.7:40000"), g = addr("239.255.1.1:8080");
  struct smart__sockaddr c2 = addr("198.51.100.7:40001"), c3 = addr("198.51.100.8:40000");
  struct smart__sockaddr g2 = addr("239.255.1.2:8080"), c6 = addr("[2001:db8::7]:40000");
  uint64_t b = T0 / SMART__TUN_BUCKET_NS;
  uint8_t k[16], x[16];
  ck_assert_int_eq(smart__tun_cookie(ops, secret, b, &c, &g, k), 0);
  ck_assert_int_eq(smart__tun_cookie(ops, secret, b, &c, &g, x), 0);
  ck_assert_mem_eq(k, x, 16); /* stateless: the same inputs, the same cookie */
  const struct smart__sockaddr *cs[] = {&c2, &c3, &c6};
  for (int i = 0; i < 3; i++) {
    smart__tun_cookie(ops, secret, b, cs[i], &g, x);
    ck_assert(memcmp(k, x, 16) != 0);
  }
  smart__tun_cookie(ops, secret, b, &c, &g2, x);
  ck_assert(memcmp(k, x, 16) != 0);
  smart__tun_cookie(ops, secret, b + 1, &c, &g, x);
  ck_assert(memcmp(k, x, 16) != 0);
  smart__tun_cookie(ops, other, b, &c, &g, x);
  ck_assert(memcmp(k, x, 16) != 0);
  /* Valid in its bucket (1) and the next (2), not after; only for its
   * own address, port and group; every flipped bit refused. */
  uint64_t start = b * SMART__TUN_BUCKET_NS;
  ck_assert_int_eq(smart__tun_cookie_ok(ops, secret, start, &c, &g, k), 1);
  ck_assert_int_eq(smart__tun_cookie_ok(ops, secret, start + SMART__TUN_BUCKET_NS - 1, &c, &g, k), 1);
  ck_assert_int_eq(smart__tun_cookie_ok(ops, secret, start + SMART__TUN_BUCKET_NS, &c, &g, k), 2);
  ck_assert_int_eq(smart__tun_cookie_ok(ops, secret, start + 2 * SMART__TUN_BUCKET_NS, &c, &g, k), 0);
  ck_assert_int_eq(smart__tun_cookie_ok(ops, secret, start - 1, &c, &g, k), 0);
  ck_assert_int_eq(smart__tun_cookie_ok(ops, secret, start, &c2, &g, k), 0);
  ck_assert_int_eq(smart__tun_cookie_ok(ops, secret, start, &c, &g2, k), 0);
  ck_assert_int_eq(smart__tun_cookie_ok(ops, other, start, &c, &g, k), 0);
  for (int bit = 0; bit < 128; bit++) {
    memcpy(x, k, 16);
    x[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    ck_assert_int_eq(smart__tun_cookie_ok(ops, secret, start, &c, &g, x), 0);
  }
  uint8_t zero[16] = {0};
  ck_assert_int_eq(smart__tun_cookie_ok(ops, secret, start, &c, &g, zero), 0);
  /* Bucket 0 has no previous bucket. */
  smart__tun_cookie(ops, secret, 0, &c, &g, x);
  ck_assert_int_eq(smart__tun_cookie_ok(ops, secret, 0, &c, &g, x), 1);
}
END_TEST

/* ---- A small relay, as smart-relay answers ---------------------------- */

struct mini_relay {
  const struct smart_crypto_ops *ops;
  uint8_t secret[32];
  struct smart__sockaddr group;
  int serving, full;
  unsigned replies;
  size_t in_bytes, out_bytes;
};

/* Answer one plaintext request from `from`; returns the reply length (0:
 * none) and checks the reply is never longer than the request. */
static size_t relay_answer(struct mini_relay *r, const uint8_t *req, size_t len,
                           const struct smart__sockaddr *from, uint8_t *out, uint64_t now) {
  struct smart__tun_msg m;
  r->in_bytes += len;
  if (smart__tun_decode(&m, req, len) != 0 || !m.has_cookie || !m.has_port ||
      !smart__addr_equal(&m.group, &r->group))
    return 0;
  int valid = smart__tun_cookie_ok(r->ops, r->secret, now, from, &r->group, m.cookie);
  struct smart__tun_msg a = m;
  a.group = r->group;
  a.peer = *from;
  if (!m.addr6 && from->u.sa.sa_family != AF_INET)
    a.peer.len = 0;
  if (m.cmd == SMART__TUN_LEAVE) {
    if (!valid)
      return 0;
    r->serving = 0;
  } else if (valid && r->full) {
    a.cmd = SMART__TUN_LEAVE;
  } else if (valid == 1) {
    r->serving = 1;
  } else {
    if (valid)
      r->serving = 1;
    smart__tun_cookie(r->ops, r->secret, now / SMART__TUN_BUCKET_NS, from, &r->group, a.cookie);
  }
  smart_ssize n = smart__tun_encode(out, 256, &a);
  ck_assert_int_gt(n, 0);
  ck_assert_uint_le((size_t)n, len);
  r->replies++;
  r->out_bytes += (size_t)n;
  return (size_t)n;
}

static void relay_init(struct mini_relay *r, const char *group) {
  memset(r, 0, sizeof(*r));
  r->ops = smart_crypto_sodium();
  r->ops->random(r->secret, 32, NULL);
  r->group = addr(group);
}

/* Run client <-> relay until nothing is due at `now`. */
static void exchange(struct smart__tunnel *t, struct mini_relay *r,
                     const struct smart__sockaddr *from, uint64_t now) {
  uint8_t q[256], a[256];
  for (int rounds = 0; rounds < 10; rounds++) {
    smart_ssize n = smart__tunnel_output(t, q, sizeof(q), 0x53, now);
    ck_assert_int_ge(n, 0);
    if (n == 0)
      return;
    size_t al = relay_answer(r, q, (size_t)n, from, a, now);
    if (al)
      ck_assert_int_eq(smart__tunnel_input(t, a, al, now), 1);
  }
  ck_abort_msg("client and relay did not settle");
}

START_TEST(client_handshake) {
  struct mini_relay r;
  relay_init(&r, "239.255.1.1:8080");
  struct smart__sockaddr relay = addr("192.0.2.1:7000"), me = addr("198.51.100.7:40000");
  struct smart__sockaddr self = addr("198.51.100.7:40000");
  struct smart__tunnel *t;
  ck_assert_int_eq(smart__tunnel_new(&t, &relay, &r.group, &self, T0), 0);
  ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_REQUESTING);
  ck_assert_uint_eq(smart__tunnel_expiry(t), T0);
  ck_assert(smart__addr_equal(smart__tunnel_relay(t), &relay));
  /* First request: zero cookie, 40 bytes; the challenge: same size; the
   * repeat with the cookie; the grant. */
  exchange(t, &r, &me, T0);
  ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_ESTABLISHED);
  ck_assert_str_eq(smart__tunnel_state_name(smart__tunnel_state(t)), "established");
  ck_assert(r.serving);
  ck_assert_uint_eq(r.replies, 2);
  ck_assert_uint_eq(r.in_bytes, 80);
  ck_assert_uint_eq(r.out_bytes, 80);
  ck_assert(smart__addr_equal(smart__tunnel_seen_as(t), &me));
  struct smart__tunnel_stats st;
  smart__tunnel_get_stats(t, &st);
  ck_assert_uint_eq(st.requests, 2);
  ck_assert_uint_eq(st.challenges, 1);
  ck_assert_uint_eq(st.grants, 1);
  /* Keepalives every 5 s, granted; across bucket boundaries the relay hands
   * out fresh cookies and the client follows without losing the tunnel. */
  uint64_t now = T0;
  for (int i = 0; i < 40; i++) {
    ck_assert_uint_eq(smart__tunnel_expiry(t), now + SMART__TUN_KEEPALIVE_NS);
    uint8_t q[256];
    ck_assert_int_eq(smart__tunnel_output(t, q, sizeof(q), 0x53, now + SEC), 0);
    now += SMART__TUN_KEEPALIVE_NS;
    exchange(t, &r, &me, now);
    ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_ESTABLISHED);
  }
  smart__tunnel_get_stats(t, &st);
  ck_assert_uint_ge(st.challenges, 1 + 40 * 5 / 30 - 1); /* one per bucket */
  ck_assert_uint_eq(st.downs, 0);
  /* A datagram of the group is not the tunnel's. */
  uint8_t data[12] = {0x53, 0x00, 0x00, 0x0c, 0, 1, 0, 0, 'a', 'b', 'c', 'd'};
  ck_assert_int_eq(smart__tunnel_input(t, data, sizeof(data), now), 0);
  uint8_t repl[12] = {0x53, 0x81, 0x00, 0x0c, 0xef, 0xff, 0x01, 0x01, 0, 5, 0, 0};
  ck_assert_int_eq(smart__tunnel_input(t, repl, sizeof(repl), now), 0);
  /* Leave: LEAVE_TUNNEL with the cookie, echoed: closed. */
  smart__tunnel_leave(t, now);
  ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_LEAVING);
  exchange(t, &r, &me, now);
  ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_CLOSED);
  ck_assert(!r.serving);
  ck_assert_uint_eq(smart__tunnel_expiry(t), UINT64_MAX);
  uint8_t q[256];
  ck_assert_int_eq(smart__tunnel_output(t, q, sizeof(q), 0x53, now + 100 * SEC), 0);
  ck_assert_uint_le(r.out_bytes, r.in_bytes);
  smart__tunnel_del(t);
}
END_TEST

START_TEST(client_retries_and_dead_relay) {
  struct smart__sockaddr relay = addr("192.0.2.1:7000"), g = addr("239.255.1.1:8080");
  struct smart__tunnel *t;
  ck_assert_int_eq(smart__tunnel_new(&t, &relay, &g, NULL, T0), 0);
  uint8_t q[256];
  uint64_t now = T0;
  /* Unanswered: 250 ms, then doubling up to the keepalive interval. */
  uint64_t gaps[] = {250 * MS, 500 * MS, 1000 * MS, 2000 * MS, 4000 * MS, 5000 * MS, 5000 * MS};
  for (size_t i = 0; i < sizeof(gaps) / sizeof(gaps[0]); i++) {
    smart_ssize n = smart__tunnel_output(t, q, sizeof(q), 0x53, now);
    ck_assert_int_eq(n, 40);
    ck_assert_int_eq(smart__tunnel_output(t, q, sizeof(q), 0x53, now), 0);
    ck_assert_uint_eq(smart__tunnel_expiry(t), now + gaps[i]);
    now += gaps[i];
  }
  /* Too small a buffer. */
  ck_assert_int_eq(smart__tunnel_output(t, q, 16, 0x53, now), SMART_ENOBUF);
  /* Establish, then the relay goes silent: after 15 s without a grant the
   * client is requesting again. */
  struct mini_relay r;
  relay_init(&r, "239.255.1.1:8080");
  struct smart__sockaddr me = addr("198.51.100.9:1234");
  exchange(t, &r, &me, now);
  ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_ESTABLISHED);
  uint64_t up = now;
  while (smart__tunnel_state(t) == SMART__TUN_ESTABLISHED) {
    now = smart__tunnel_expiry(t);
    ck_assert_int_gt(smart__tunnel_output(t, q, sizeof(q), 0x53, now), 0);
  }
  ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_REQUESTING);
  ck_assert_uint_ge(now - up, SMART__TUN_DEAD_NS);
  ck_assert_uint_eq(smart__tunnel_expiry(t), now + SMART__TUN_RETRY_NS);
  struct smart__tunnel_stats st;
  smart__tunnel_get_stats(t, &st);
  ck_assert_uint_eq(st.downs, 1);
  /* The relay comes back (same secret, so the cookie still holds). */
  now += SMART__TUN_RETRY_NS;
  exchange(t, &r, &me, now);
  ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_ESTABLISHED);
  /* A restarted relay (new secret) challenges the keepalive: the client
   * repeats at once and is served again. */
  r.ops->random(r.secret, 32, NULL);
  now += SMART__TUN_KEEPALIVE_NS;
  exchange(t, &r, &me, now);
  ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_ESTABLISHED);
  ck_assert(r.serving);
  smart__tunnel_del(t);
}
END_TEST

START_TEST(client_refused_and_forged) {
  struct mini_relay r;
  relay_init(&r, "239.255.1.1:8080");
  struct smart__sockaddr relay = addr("192.0.2.1:7000"), me = addr("198.51.100.9:1234");
  struct smart__tunnel *t;
  ck_assert_int_eq(smart__tunnel_new(&t, &relay, &r.group, NULL, T0), 0);
  r.full = 1;
  exchange(t, &r, &me, T0);
  ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_REFUSED);
  ck_assert_uint_eq(smart__tunnel_expiry(t), T0 + SMART__TUN_REFUSED_NS);
  struct smart__tunnel_stats st;
  smart__tunnel_get_stats(t, &st);
  ck_assert_uint_eq(st.refusals, 1);
  r.full = 0;
  exchange(t, &r, &me, T0 + SMART__TUN_REFUSED_NS);
  ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_ESTABLISHED);

  /* Forged messages: a LEAVE_TUNNEL with another cookie, another group,
   * garbage TYP 3: consumed, ignored, the tunnel stays. */
  uint64_t now = T0 + SMART__TUN_REFUSED_NS;
  struct smart__tun_msg m;
  memset(&m, 0, sizeof(m));
  m.sync = 0x53;
  m.cmd = SMART__TUN_LEAVE;
  m.group = r.group;
  m.has_port = 1;
  m.has_cookie = 1;
  memset(m.cookie, 0x5a, 16);
  uint8_t b[256];
  smart_ssize n = smart__tun_encode(b, sizeof(b), &m);
  ck_assert_int_eq(smart__tunnel_input(t, b, (size_t)n, now), 1);
  m.cmd = SMART__TUN_REQUEST;
  m.group = addr("239.255.1.2:8080");
  n = smart__tun_encode(b, sizeof(b), &m);
  ck_assert_int_eq(smart__tunnel_input(t, b, (size_t)n, now), 1);
  uint8_t junk[5] = {0x53, 0xc1, 0x00, 0x05, 0x00};
  ck_assert_int_eq(smart__tunnel_input(t, junk, sizeof(junk), now), 1);
  ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_ESTABLISHED);
  smart__tunnel_get_stats(t, &st);
  ck_assert_uint_eq(st.ignored, 3);

  /* A flood of forged challenges makes the client answer at once only a
   * few times; then it waits for its schedule. */
  m.group = r.group;
  unsigned sent = 0;
  for (int i = 0; i < 1000; i++) {
    m.cookie[0] = (uint8_t)i;
    m.cookie[1] = (uint8_t)(i >> 8);
    m.cookie[2] = 1;
    n = smart__tun_encode(b, sizeof(b), &m);
    ck_assert_int_eq(smart__tunnel_input(t, b, (size_t)n, now), 1);
    while (smart__tunnel_output(t, b, sizeof(b), 0x53, now) > 0)
      sent++;
  }
  ck_assert_uint_le(sent, 4);
  ck_assert_uint_gt(smart__tunnel_expiry(t), now);
  smart__tunnel_del(t);

  /* Leaving without a cookie: nothing to cancel. */
  ck_assert_int_eq(smart__tunnel_new(&t, &relay, &r.group, NULL, T0), 0);
  smart__tunnel_leave(t, T0);
  ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_CLOSED);
  smart__tunnel_del(t);

  /* Leaving unanswered: three LEAVE_TUNNEL, 200 ms apart, then closed. */
  ck_assert_int_eq(smart__tunnel_new(&t, &relay, &r.group, NULL, T0), 0);
  exchange(t, &r, &me, T0);
  smart__tunnel_leave(t, T0);
  now = T0;
  unsigned leaves = 0;
  while (smart__tunnel_state(t) != SMART__TUN_CLOSED) {
    n = smart__tunnel_output(t, b, sizeof(b), 0x53, now);
    if (n > 0) {
      ck_assert_int_eq(b[1], 0xc2);
      leaves++;
    }
    now = smart__tunnel_expiry(t) == UINT64_MAX ? now : smart__tunnel_expiry(t);
    ck_assert_uint_le(now, T0 + SEC);
  }
  ck_assert_uint_eq(leaves, SMART__TUN_LEAVE_TRIES);
  smart__tunnel_del(t);

  ck_assert_int_eq(smart__tunnel_new(&t, &relay, &relay, NULL, T0), SMART_EINVAL);
  ck_assert_int_eq(smart__tunnel_new(NULL, &relay, &r.group, NULL, T0), SMART_EINVAL);
}
END_TEST

/* IPv6 clients and groups, and the size rule in every combination. */
START_TEST(sizes_mirror) {
  const char *groups[] = {"239.255.1.1:8080", "[ff15::1234]:8080"};
  const char *clients[] = {"198.51.100.7:40000", "[2001:db8::7]:40000"};
  const char *selves[] = {NULL, "198.51.100.7:40000", "[2001:db8::7]:40000"};
  for (int gi = 0; gi < 2; gi++)
    for (int ci = 0; ci < 2; ci++)
      for (int si = 0; si < 3; si++) {
        struct mini_relay r;
        relay_init(&r, groups[gi]);
        struct smart__sockaddr relay = addr("192.0.2.1:7000"), me = addr(clients[ci]), self;
        if (selves[si])
          self = addr(selves[si]);
        struct smart__tunnel *t;
        ck_assert_int_eq(smart__tunnel_new(&t, &relay, &r.group, selves[si] ? &self : NULL, T0), 0);
        exchange(t, &r, &me, T0); /* relay_answer asserts reply <= request */
        ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_ESTABLISHED);
        ck_assert_uint_eq(r.out_bytes, r.in_bytes);
        smart__tunnel_del(t);
      }
}
END_TEST

/* Secure mode: sealed request, sealed reply of the same size. */
START_TEST(sealed_sizes) {
  const struct smart_crypto_ops *ops = smart_crypto_sodium();
  uint8_t key[32];
  memset(key, 0x42, 32);
  struct smart__sec_cfg cfg = {.ops = ops, .mode = SMART__SEC_GROUP, .group_key = key,
                               .grace_ns = 2 * SEC};
  struct smart__sec *cs, *rs;
  uint32_t cid, rid;
  ck_assert_int_eq(smart__sec_new(&cs, &cfg, &cid), 0);
  ck_assert_int_eq(smart__sec_new(&rs, &cfg, &rid), 0);
  struct mini_relay r;
  relay_init(&r, "239.255.1.1:8080");
  struct smart__sockaddr relay = addr("192.0.2.1:7000"), me = addr("198.51.100.9:1234");
  struct smart__tunnel *t;
  ck_assert_int_eq(smart__tunnel_new(&t, &relay, &r.group, NULL, T0), 0);
  uint8_t q[256], plain[256], a[256];
  for (int i = 0; i < 3 && smart__tunnel_state(t) != SMART__TUN_ESTABLISHED; i++) {
    smart_ssize n = smart__tunnel_output(t, q, sizeof(q) - SMART__SEC_OVERHEAD, 0x53, T0);
    ck_assert_int_gt(n, 0);
    n = smart__sec_seal(cs, q, (size_t)n, sizeof(q), T0);
    ck_assert_int_eq(n, 40 + 52);
    uint32_t sid;
    smart_ssize pl = smart__sec_open(rs, q, (size_t)n, plain, sizeof(plain), &sid, T0);
    ck_assert_int_eq(pl, 40);
    ck_assert_uint_eq(sid, cid);
    size_t al = relay_answer(&r, plain, (size_t)pl, &me, a, T0);
    ck_assert_uint_gt(al, 0);
    smart_ssize sl = smart__sec_seal(rs, a, al, sizeof(a), T0);
    ck_assert_int_le(sl, n); /* sealed reply no longer than sealed request */
    pl = smart__sec_open(cs, a, (size_t)sl, plain, sizeof(plain), &sid, T0);
    ck_assert_int_eq(pl, (smart_ssize)al);
    ck_assert_int_eq(smart__tunnel_input(t, plain, (size_t)pl, T0), 1);
  }
  ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_ESTABLISHED);
  /* An unsealed request does not open under the group key. */
  smart_ssize n = smart__tunnel_output(t, q, sizeof(q), 0x53, T0 + 10 * SEC);
  ck_assert_int_gt(n, 0);
  uint32_t sid;
  ck_assert_int_lt(smart__sec_open(rs, q, (size_t)n, plain, sizeof(plain), &sid, T0), 0);
  smart__tunnel_del(t);
  smart__sec_del(cs);
  smart__sec_del(rs);
}
END_TEST

static Suite *tunnel_suite(void) {
  Suite *s = suite_create("tunnel");
  TCase *t = tcase_create("tunnel");
  tcase_add_test(t, url_forms);
  tcase_add_test(t, codec_vectors);
  tcase_add_test(t, cookies);
  tcase_add_test(t, client_handshake);
  tcase_add_test(t, client_retries_and_dead_relay);
  tcase_add_test(t, client_refused_and_forged);
  tcase_add_test(t, sizes_mirror);
  tcase_add_test(t, sealed_sizes);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(tunnel_suite());
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
