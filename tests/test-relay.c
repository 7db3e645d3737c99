/*
 * The relay protocol room (lib/proto/relay), driven directly: no socket,
 * no clock. Cookie challenges and grants, a full table, eviction, the three
 * budgets under floods, forwarding, leaving; and the tunnel client
 * (lib/proto/tunnel) against it end to end in memory, plain, sealed, and
 * through a chain of two relays.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "proto/relay.h"
#include "proto/secure.h"
#include "proto/tunnel.h"
#include "util/time.h"
#include "wire/wire.h"

#define T0 SMART__SEC(1000) /* well inside a cookie bucket */
#define GROUP "239.255.1.1:8080"
#define OUT_MAX 64

static struct smart__sockaddr addr(const char *text) {
  struct smart__sockaddr a;
  ck_assert_int_eq(smart__addr_parse(text, 0, &a), 0);
  return a;
}

static struct smart__relay *relay_make(unsigned max_clients, uint64_t rate, uint64_t now) {
  static const uint8_t secret[32] = {1, 2, 3};
  struct smart__relay_cfg cfg = {.ops = smart_crypto_sodium(), .group = addr(GROUP),
                                 .secret = secret, .max_clients = max_clients, .rate = rate,
                                 .sync = 0x53};
  struct smart__relay *r;
  ck_assert_int_eq(smart__relay_new(&r, &cfg, now), 0);
  return r;
}

/* What one input produced. */
struct outs {
  unsigned n;
  struct smart__relay_dgram d[OUT_MAX];
  struct smart__sockaddr to[OUT_MAX];
  uint8_t buf[OUT_MAX][256];
};

static void drain_out(struct smart__relay *r, struct outs *o, uint64_t now) {
  struct smart__relay_dgram d;
  o->n = 0;
  while (smart__relay_output(r, &d, now)) {
    ck_assert_uint_lt(o->n, OUT_MAX);
    o->to[o->n] = *d.to;
    if (d.len <= sizeof(o->buf[0]))
      memcpy(o->buf[o->n], d.buf, d.len);
    o->d[o->n++] = d;
  }
}

/* A REQUEST_TUNNEL or LEAVE_TUNNEL as a client sends it. */
static size_t tun_msg(uint8_t *buf, int cmd, const char *group, const uint8_t *cookie) {
  struct smart__tun_msg m;
  memset(&m, 0, sizeof(m));
  m.sync = 0x53;
  m.cmd = (uint8_t)cmd;
  m.group = addr(group);
  m.has_port = 1;
  m.has_cookie = cookie != NULL;
  if (cookie)
    memcpy(m.cookie, cookie, SMART__TUN_COOKIE_LEN);
  smart_ssize n = smart__tun_encode(buf, 256, &m);
  ck_assert_int_gt(n, 0);
  return (size_t)n;
}

/* Send a request; returns the number of replies (0 or 1) in *o. */
static unsigned ask(struct smart__relay *r, struct outs *o, int cmd, const uint8_t *cookie,
                    const struct smart__sockaddr *from, uint64_t now) {
  uint8_t q[256];
  size_t n = tun_msg(q, cmd, GROUP, cookie);
  smart__relay_input(r, q, n, from, now);
  drain_out(r, o, now);
  for (unsigned i = 0; i < o->n; i++) {
    ck_assert_int_eq(o->d[i].kind, SMART__RELAY_REPLY);
    ck_assert_uint_le(o->d[i].len, n); /* never larger than the request */
    ck_assert(smart__addr_equal(&o->to[i], from));
  }
  return o->n;
}

static struct smart__tun_msg reply_msg(const struct outs *o) {
  struct smart__tun_msg m;
  ck_assert_uint_eq(o->n, 1);
  ck_assert_int_eq(smart__tun_decode(&m, o->buf[0], o->d[0].len), 0);
  return m;
}

/* A full cookie exchange for `from`: its cookie. */
static void join(struct smart__relay *r, const struct smart__sockaddr *from, uint8_t cookie[16],
                 uint64_t now) {
  struct outs o;
  uint8_t zero[16] = {0};
  ck_assert_uint_eq(ask(r, &o, SMART__TUN_REQUEST, zero, from, now), 1);
  struct smart__tun_msg m = reply_msg(&o);
  memcpy(cookie, m.cookie, 16);
  ck_assert_uint_eq(ask(r, &o, SMART__TUN_REQUEST, cookie, from, now), 1);
  m = reply_msg(&o);
  ck_assert_int_eq(m.cmd, SMART__TUN_REQUEST);
  ck_assert_mem_eq(m.cookie, cookie, 16);
  ck_assert(smart__relay_serves(r, from));
}

static struct smart__relay_stats stats(const struct smart__relay *r) {
  struct smart__relay_stats st;
  smart__relay_get_stats(r, &st);
  return st;
}

START_TEST(challenge_and_grant) {
  struct smart__relay *r = relay_make(8, 0, T0);
  struct smart__sockaddr a = addr("198.51.100.7:40000"), b = addr("198.51.100.8:40000");
  struct outs o;
  uint8_t zero[16] = {0}, cookie[16];
  /* A cookieless request: a challenge of the same size, nothing served. */
  ck_assert_uint_eq(ask(r, &o, SMART__TUN_REQUEST, zero, &a, T0), 1);
  struct smart__tun_msg m = reply_msg(&o);
  ck_assert_int_eq(m.cmd, SMART__TUN_REQUEST);
  ck_assert(memcmp(m.cookie, zero, 16) != 0);
  ck_assert(smart__addr_equal(&m.peer, &a)); /* as the relay sees it */
  ck_assert(!smart__relay_serves(r, &a));
  memcpy(cookie, m.cookie, 16);
  /* Someone else's cookie is no proof: challenged again, not served. */
  ck_assert_uint_eq(ask(r, &o, SMART__TUN_REQUEST, cookie, &b, T0), 1);
  ck_assert(memcmp(reply_msg(&o).cookie, cookie, 16) != 0);
  ck_assert(!smart__relay_serves(r, &b));
  /* Echoed: granted, served. */
  ck_assert_uint_eq(ask(r, &o, SMART__TUN_REQUEST, cookie, &a, T0), 1);
  ck_assert_mem_eq(reply_msg(&o).cookie, cookie, 16);
  ck_assert(smart__relay_serves(r, &a));
  /* In the next bucket the cookie still serves, with a fresh one back. */
  uint64_t later = T0 + SMART__TUN_BUCKET_NS;
  ck_assert_uint_eq(ask(r, &o, SMART__TUN_REQUEST, cookie, &a, later), 1);
  ck_assert(memcmp(reply_msg(&o).cookie, cookie, 16) != 0);
  ck_assert(smart__relay_serves(r, &a));
  /* No COOKIE, another group, garbage: no answer at all. */
  uint8_t q[256];
  size_t n = tun_msg(q, SMART__TUN_REQUEST, GROUP, NULL);
  smart__relay_input(r, q, n, &b, T0);
  drain_out(r, &o, T0);
  ck_assert_uint_eq(o.n, 0);
  n = tun_msg(q, SMART__TUN_REQUEST, "239.255.1.2:8080", zero);
  smart__relay_input(r, q, n, &b, T0);
  smart__relay_input(r, q, 1, &b, T0);
  smart__relay_input(r, q, (size_t)-1, &b, T0);
  drain_out(r, &o, T0);
  ck_assert_uint_eq(o.n, 0);
  struct smart__relay_stats st = stats(r);
  ck_assert_uint_eq(st.challenges, 3);
  ck_assert_uint_eq(st.grants, 1);
  ck_assert_uint_eq(st.bad, 4);
  ck_assert_uint_eq(st.clients, 1);
  ck_assert_uint_eq(st.replies, st.challenges + st.grants);
  ck_assert_uint_le(st.reply_bytes, st.request_bytes);
  smart__relay_del(r);
}
END_TEST

START_TEST(full_table_and_eviction) {
  struct smart__relay *r = relay_make(2, 0, T0);
  struct smart__sockaddr a = addr("198.51.100.1:1"), b = addr("198.51.100.2:1"),
                         c = addr("198.51.100.3:1");
  uint8_t ka[16], kb[16], kc[16], zero[16] = {0};
  struct outs o;
  join(r, &a, ka, T0);
  join(r, &b, kb, T0 + SMART__SEC(1));
  /* Full of live clients: the third is refused, its cookie echoed. */
  ck_assert_uint_eq(ask(r, &o, SMART__TUN_REQUEST, zero, &c, T0), 1);
  memcpy(kc, reply_msg(&o).cookie, 16);
  ck_assert_uint_eq(ask(r, &o, SMART__TUN_REQUEST, kc, &c, T0), 1);
  struct smart__tun_msg m = reply_msg(&o);
  ck_assert_int_eq(m.cmd, SMART__TUN_LEAVE);
  ck_assert_mem_eq(m.cookie, kc, 16);
  ck_assert(!smart__relay_serves(r, &c));
  ck_assert_uint_eq(stats(r).refused, 1);
  /* Once the longest-silent client missed two keepalives, its slot goes to
   * the newcomer. */
  uint64_t t = T0 + 2 * SMART__TUN_KEEPALIVE_NS + 1;
  ck_assert_uint_eq(ask(r, &o, SMART__TUN_REQUEST, kc, &c, t), 1);
  ck_assert_int_eq(reply_msg(&o).cmd, SMART__TUN_REQUEST);
  ck_assert(smart__relay_serves(r, &c));
  ck_assert(!smart__relay_serves(r, &a));
  ck_assert(smart__relay_serves(r, &b));
  ck_assert_uint_eq(stats(r).evicted, 1);
  /* A client silent for the timeout stops being served at the next sweep. */
  ck_assert_uint_le(smart__relay_expiry(r), T0 + SMART__SEC(1));
  smart__relay_expire(r, T0 + SMART__SEC(2) + SMART__TUN_TIMEOUT_NS);
  ck_assert(!smart__relay_serves(r, &b)); /* heard last at T0 + 1 s ... */
  ck_assert(smart__relay_serves(r, &c));  /* ... c at t */
  smart__relay_expire(r, t + SMART__TUN_TIMEOUT_NS + SMART__SEC(1));
  ck_assert(!smart__relay_serves(r, &c));
  struct smart__relay_stats st = stats(r);
  ck_assert_uint_eq(st.evicted, 3);
  ck_assert_uint_eq(st.clients, 0);
  ck_assert_uint_eq(st.peak, 2);
  smart__relay_del(r);
}
END_TEST

START_TEST(leave) {
  struct smart__relay *r = relay_make(4, 0, T0);
  struct smart__sockaddr a = addr("198.51.100.1:1"), b = addr("198.51.100.2:1");
  uint8_t ka[16], forged[16];
  struct outs o;
  join(r, &a, ka, T0);
  /* A leave without the address's cookie cancels nothing and draws no reply. */
  memset(forged, 0x5a, 16);
  ck_assert_uint_eq(ask(r, &o, SMART__TUN_LEAVE, forged, &a, T0), 0);
  ck_assert_uint_eq(ask(r, &o, SMART__TUN_LEAVE, ka, &b, T0), 0);
  ck_assert(smart__relay_serves(r, &a));
  /* With it: echoed, and no longer served. */
  ck_assert_uint_eq(ask(r, &o, SMART__TUN_LEAVE, ka, &a, T0), 1);
  struct smart__tun_msg m = reply_msg(&o);
  ck_assert_int_eq(m.cmd, SMART__TUN_LEAVE);
  ck_assert_mem_eq(m.cookie, ka, 16);
  ck_assert(!smart__relay_serves(r, &a));
  struct smart__relay_stats st = stats(r);
  ck_assert(st.leaves == 1 && st.bad == 2 && st.clients == 0);
  smart__relay_del(r);
}
END_TEST

START_TEST(forwarding) {
  struct smart__relay *r = relay_make(8, 0, T0);
  struct smart__sockaddr c[3] = {addr("198.51.100.1:1"), addr("198.51.100.2:1"),
                                 addr("[2001:db8::3]:1")};
  struct smart__sockaddr group = addr(GROUP), stranger = addr("198.51.100.9:1");
  uint8_t k[16];
  struct outs o;
  for (int i = 0; i < 3; i++)
    join(r, &c[i], k, T0);
  /* A datagram of the group goes, verbatim, to every client. */
  uint8_t data[12] = {0x53, 0x00, 0x00, 0x0c, 0, 1, 0, 0, 'a', 'b', 'c', 'd'};
  smart__relay_group_input(r, data, sizeof(data), &group, T0);
  drain_out(r, &o, T0);
  ck_assert_uint_eq(o.n, 3);
  for (unsigned i = 0; i < 3; i++) {
    ck_assert_int_eq(o.d[i].kind, SMART__RELAY_FORWARD);
    ck_assert_ptr_eq(o.d[i].buf, data);
    ck_assert(smart__addr_equal(&o.to[i], &c[i]));
  }
  /* A client's feedback: into the group first, then to the others. */
  uint8_t repl[12] = {0x53, 0x81, 0x00, 0x0c, 0xef, 0xff, 0x01, 0x01, 0, 5, 0, 0};
  smart__relay_input(r, repl, sizeof(repl), &c[1], T0);
  drain_out(r, &o, T0);
  ck_assert_uint_eq(o.n, 3);
  ck_assert_int_eq(o.d[0].kind, SMART__RELAY_FEEDBACK);
  ck_assert(!SMART__RELAY_BY_LISTEN(o.d[0].kind));
  ck_assert(smart__addr_equal(&o.to[0], &group));
  ck_assert(smart__addr_equal(&o.to[1], &c[0]));
  ck_assert(smart__addr_equal(&o.to[2], &c[2]));
  ck_assert(SMART__RELAY_BY_LISTEN(o.d[1].kind));
  /* DATA from a client, feedback from a stranger: nothing relayed. */
  smart__relay_input(r, data, sizeof(data), &c[0], T0);
  drain_out(r, &o, T0);
  ck_assert_uint_eq(o.n, 0);
  smart__relay_input(r, repl, sizeof(repl), &stranger, T0);
  drain_out(r, &o, T0);
  ck_assert_uint_eq(o.n, 0);
  /* An input discards what the previous one left undrained. */
  smart__relay_group_input(r, data, sizeof(data), &group, T0);
  smart__relay_input(r, data, sizeof(data), &c[0], T0);
  drain_out(r, &o, T0);
  ck_assert_uint_eq(o.n, 0);
  struct smart__relay_stats st = stats(r);
  ck_assert_uint_eq(st.feedback, 1);
  ck_assert_uint_eq(st.bad, 3);
  smart__relay_del(r);
}
END_TEST

/* Count what one group datagram of `len` bytes reaches. */
static unsigned forward_count(struct smart__relay *r, size_t len, uint64_t now) {
  static uint8_t dg[2048];
  struct smart__sockaddr g = addr(GROUP);
  struct outs o;
  smart__relay_group_input(r, dg, len, &g, now);
  drain_out(r, &o, now);
  return o.n;
}

START_TEST(byte_and_feedback_budgets) {
  /* 100,000 B/s per client: the burst is the 64 KiB floor. */
  struct smart__relay *r = relay_make(4, 100000, T0);
  struct smart__sockaddr a = addr("198.51.100.1:1"), b = addr("198.51.100.2:1");
  uint8_t k[16];
  join(r, &a, k, T0);
  unsigned got = 0;
  for (int i = 0; i < 100; i++)
    got += forward_count(r, 1000, T0);
  ck_assert_uint_eq(got, 65); /* 65,536 bytes of burst */
  ck_assert_uint_eq(stats(r).rate_dropped, 35);
  /* 10 ms earn 1,000 bytes: one more datagram, exactly. */
  ck_assert_uint_eq(forward_count(r, 1000, T0 + SMART__MS(10)), 1);
  ck_assert_uint_eq(forward_count(r, 1000, T0 + SMART__MS(10)), 0);
  /* A whole idle second earns 100,000 bytes, capped at the burst. */
  got = 0;
  for (int i = 0; i < 100; i++)
    got += forward_count(r, 1000, T0 + SMART__SEC(2));
  ck_assert_uint_eq(got, 65);

  /* Feedback: 100 at once, then 200 per second. */
  join(r, &b, k, T0);
  uint8_t repl[12] = {0x53, 0x81, 0x00, 0x0c, 0xef, 0xff, 0x01, 0x01, 0, 5, 0, 0};
  unsigned to_group = 0;
  for (int i = 0; i < 150; i++) {
    struct outs o;
    smart__relay_input(r, repl, sizeof(repl), &b, T0 + SMART__SEC(3));
    drain_out(r, &o, T0 + SMART__SEC(3));
    if (o.n)
      to_group++;
    for (unsigned j = 0; j < o.n; j++) /* never back to its sender */
      ck_assert(!smart__addr_equal(&o.to[j], &b));
  }
  ck_assert_uint_eq(to_group, 100);
  struct smart__relay_stats st = stats(r);
  ck_assert_uint_eq(st.feedback, 100);
  ck_assert_uint_eq(st.feedback_dropped, 50);
  smart__relay_input(r, repl, sizeof(repl), &b, T0 + SMART__SEC(3) + SMART__MS(5));
  ck_assert_uint_eq(stats(r).feedback, 101);
  smart__relay_del(r);
}
END_TEST

/* 10,000 spoofed requests in a victim's name, of every kind: the relay
 * answers no more bytes than it received, only with challenges, and grows
 * no state. */
START_TEST(spoofed_flood) {
  struct smart__relay *r = relay_make(4, 0, T0);
  struct smart__sockaddr victim = addr("198.51.100.3:40000");
  size_t in = 0, out = 0;
  unsigned replies = 0;
  srand(1);
  for (int i = 0; i < 10000; i++) {
    uint8_t q[256], cookie[16];
    for (int j = 0; j < 16; j++)
      cookie[j] = (uint8_t)rand();
    size_t n;
    switch (i % 6) {
    case 0: memset(cookie, 0, 16); /* fall through */
    case 1: n = tun_msg(q, SMART__TUN_REQUEST, GROUP, cookie); break;
    case 2: n = tun_msg(q, SMART__TUN_REQUEST, GROUP, NULL); break;
    case 3: n = tun_msg(q, SMART__TUN_REQUEST, "[ff15::1]:8080", cookie); break;
    case 4: n = tun_msg(q, SMART__TUN_LEAVE, GROUP, cookie); break;
    default:
      n = tun_msg(q, SMART__TUN_REQUEST, GROUP, cookie);
      n = (size_t)rand() % n; /* truncated */
    }
    struct outs o;
    uint64_t now = T0 + (uint64_t)i * SMART__US(10);
    smart__relay_input(r, q, n, &victim, now);
    drain_out(r, &o, now);
    in += n;
    for (unsigned j = 0; j < o.n; j++) {
      ck_assert_int_eq(o.d[j].kind, SMART__RELAY_REPLY);
      ck_assert_int_eq(o.buf[j][1], 0xc1); /* a challenge, never a grant */
      ck_assert_uint_le(o.d[j].len, n); /* no amplification, datagram by datagram */
      out += o.d[j].len;
      replies++;
    }
  }
  ck_assert_uint_le(out, in);
  ck_assert_uint_le(replies, 10000 / 6 * 2 + 2);
  struct smart__relay_stats st = stats(r);
  ck_assert_uint_eq(st.clients, 0);
  ck_assert_uint_eq(st.grants + st.leaves + st.refused, 0);
  ck_assert_uint_eq(st.reply_bytes, out);
  smart__relay_del(r);
}
END_TEST

/* The challenge budget: 20,000 at once for everyone, then 20 per ms. */
START_TEST(challenge_budget) {
  struct smart__relay *r = relay_make(4, 0, T0);
  uint8_t q[256], zero[16] = {0};
  size_t n = tun_msg(q, SMART__TUN_REQUEST, GROUP, zero);
  unsigned replies = 0;
  for (int i = 0; i < 30000; i++) {
    struct smart__sockaddr from = addr("198.51.100.3:1");
    from.u.in4.sin_port = htons((uint16_t)(i % 60000 + 1));
    struct outs o;
    smart__relay_input(r, q, n, &from, T0);
    drain_out(r, &o, T0);
    replies += o.n;
  }
  ck_assert_uint_eq(replies, SMART__RELAY_CHALLENGE_RATE);
  ck_assert_uint_eq(stats(r).throttled, 10000);
  replies = 0;
  for (int i = 0; i < 100; i++) {
    struct smart__sockaddr from = addr("198.51.100.4:1");
    struct outs o;
    smart__relay_input(r, q, n, &from, T0 + SMART__MS(1));
    drain_out(r, &o, T0 + SMART__MS(1));
    replies += o.n;
  }
  ck_assert_uint_eq(replies, 20);
  smart__relay_del(r);
}
END_TEST

/* ---- the tunnel client against the relay, in memory ------------------- */

/* A secure layer for one end, or NULL. */
static struct smart__sec *sec_make(const uint8_t *key) {
  if (!key)
    return NULL;
  struct smart__sec_cfg cfg = {.ops = smart_crypto_sodium(), .mode = SMART__SEC_GROUP,
                               .group_key = key, .grace_ns = SMART__SEC(2)};
  struct smart__sec *s;
  uint32_t id;
  ck_assert_int_eq(smart__sec_new(&s, &cfg, &id), 0);
  return s;
}

/* Client t at `me` and relay r, until neither has anything to say; group
 * datagrams the relay forwards to `me` are counted in *delivered. */
static void converse(struct smart__tunnel *t, struct smart__sec *cs, struct smart__relay *r,
                     const struct smart__sockaddr *me, uint64_t now, unsigned *delivered) {
  for (int rounds = 0; rounds < 20; rounds++) {
    uint8_t q[256], plain[256];
    smart_ssize n = smart__tunnel_output(t, q, sizeof(q) - SMART__SEC_OVERHEAD, 0x53, now);
    ck_assert_int_ge(n, 0);
    if (n == 0)
      return;
    if (cs)
      n = smart__sec_seal(cs, q, (size_t)n, sizeof(q), now);
    smart__relay_input(r, q, (size_t)n, me, now);
    struct outs o;
    drain_out(r, &o, now);
    for (unsigned i = 0; i < o.n; i++) {
      ck_assert(smart__addr_equal(&o.to[i], me));
      ck_assert_uint_le(o.d[i].len, (size_t)n);
      const uint8_t *p = o.buf[i];
      size_t pl = o.d[i].len;
      uint32_t sid;
      if (cs) {
        smart_ssize k = smart__sec_open(cs, p, pl, plain, sizeof(plain), &sid, now);
        ck_assert_int_gt(k, 0);
        p = plain;
        pl = (size_t)k;
      }
      int used = smart__tunnel_input(t, p, pl, now);
      if (!used && delivered)
        (*delivered)++;
    }
  }
  ck_abort_msg("client and relay did not settle");
}

static void end_to_end(const uint8_t *key) {
  uint8_t secret[32] = {9};
  struct smart__relay_cfg cfg = {.ops = smart_crypto_sodium(), .group = addr(GROUP),
                                 .secret = secret, .group_key = key, .max_clients = 4,
                                 .sync = 0x53};
  struct smart__relay *r;
  ck_assert_int_eq(smart__relay_new(&r, &cfg, T0), 0);
  struct smart__sec *cs = sec_make(key);
  struct smart__sockaddr relay = addr("192.0.2.1:7000"), me = addr("198.51.100.7:40000");
  struct smart__tunnel *t;
  ck_assert_int_eq(smart__tunnel_new(&t, &relay, &cfg.group, NULL, T0), 0);
  converse(t, cs, r, &me, T0, NULL);
  ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_ESTABLISHED);
  ck_assert(smart__relay_serves(r, &me));
  /* Keepalives for two minutes, across cookie buckets, with a sweep every
   * second: the client stays served. */
  uint64_t now = T0;
  while (now < T0 + SMART__SEC(120)) {
    now = smart__min_deadline(smart__tunnel_expiry(t), smart__relay_expiry(r));
    smart__relay_expire(r, now);
    converse(t, cs, r, &me, now, NULL);
    ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_ESTABLISHED);
  }
  ck_assert(smart__relay_serves(r, &me));
  /* The group reaches it: not a tunnel message, for the engine. */
  uint8_t data[128] = {0x53, 0x00, 0x00, 0x0c, 0, 1, 0, 0, 'a', 'b', 'c', 'd'};
  size_t dlen = 12;
  struct smart__sockaddr g = cfg.group;
  struct outs o;
  if (key) { /* keyed: what does not authenticate is neither forwarded nor charged */
    smart__relay_group_input(r, data, dlen, &g, now);
    drain_out(r, &o, now);
    ck_assert_uint_eq(o.n, 0);
    struct smart__sec *sender = sec_make(key);
    smart_ssize sl = smart__sec_seal(sender, data, dlen, sizeof(data), now);
    ck_assert_int_gt(sl, 0);
    dlen = (size_t)sl;
    smart__sec_del(sender);
  }
  smart__relay_group_input(r, data, dlen, &g, now);
  drain_out(r, &o, now);
  ck_assert_uint_eq(o.n, 1);
  ck_assert_int_eq(smart__tunnel_input(t, o.d[0].buf, o.d[0].len, now), 0);
  if (key) { /* keyed: junk "from" the client does not spend its feedback budget */
    uint8_t junk[24] = {0x53, 0x4B, 0x00, 24};
    for (int i = 0; i < 1000; i++) {
      smart__relay_input(r, junk, sizeof(junk), &me, now);
      drain_out(r, &o, now);
      ck_assert_uint_eq(o.n, 0);
    }
    uint8_t fb[128] = {0x53, 0x4B, 0x00, 24};
    smart_ssize fl = smart__sec_seal(cs, fb, 24, sizeof(fb), now);
    ck_assert_int_gt(fl, 0);
    smart__relay_input(r, fb, (size_t)fl, &me, now);
    drain_out(r, &o, now);
    ck_assert_uint_eq(o.n, 1); /* into the group */
  }
  /* Leave: echoed, closed, no longer served. */
  smart__tunnel_leave(t, now);
  converse(t, cs, r, &me, now, NULL);
  ck_assert_int_eq(smart__tunnel_state(t), SMART__TUN_CLOSED);
  ck_assert(!smart__relay_serves(r, &me));
  struct smart__relay_stats st = stats(r);
  ck_assert_uint_le(st.reply_bytes, st.request_bytes);
  ck_assert_uint_eq(st.auth_failed, key ? 1001 : 0); /* the unsealed group datagram, the junk */
  if (key) { /* an unsealed request does not open */
    uint8_t q[256], zero[16] = {0};
    smart__relay_input(r, q, tun_msg(q, SMART__TUN_REQUEST, GROUP, zero), &me, now);
    drain_out(r, &o, now);
    ck_assert_uint_eq(o.n, 0);
    ck_assert_uint_eq(stats(r).auth_failed, 1002);
  }
  smart__tunnel_del(t);
  smart__sec_del(cs);
  smart__relay_del(r);
}

START_TEST(client_end_to_end) { end_to_end(NULL); }
END_TEST

START_TEST(client_end_to_end_sealed) {
  uint8_t key[32];
  memset(key, 0x42, sizeof(key));
  end_to_end(key);
}
END_TEST

/* Relay b receives the group through relay a's tunnel and serves client c. */
START_TEST(chain_of_relays) {
  struct smart__sockaddr aa = addr("192.0.2.1:7000"), ba = addr("192.0.2.2:7000");
  struct smart__sockaddr me = addr("198.51.100.7:40000"), g = addr(GROUP);
  struct smart__relay *a = relay_make(4, 0, T0);
  struct smart__relay_cfg cfg = {.ops = smart_crypto_sodium(), .group = g, .upstream = &aa,
                                 .max_clients = 4, .sync = 0x53};
  struct smart__relay *b;
  ck_assert_int_eq(smart__relay_new(&b, &cfg, T0), 0);
  ck_assert_uint_eq(smart__relay_expiry(b), T0); /* its first request is due */
  struct outs o, back;
  for (int i = 0; i < 4; i++) { /* b's requests to a, a's replies to b */
    drain_out(b, &o, T0);
    for (unsigned j = 0; j < o.n; j++) {
      ck_assert_int_eq(o.d[j].kind, SMART__RELAY_CONTROL);
      ck_assert(smart__addr_equal(&o.to[j], &aa));
      smart__relay_input(a, o.buf[j], o.d[j].len, &ba, T0);
      drain_out(a, &back, T0);
      for (unsigned k = 0; k < back.n; k++)
        smart__relay_group_input(b, back.buf[k], back.d[k].len, &aa, T0);
    }
  }
  ck_assert(smart__relay_serves(a, &ba));
  uint8_t kc[16];
  join(b, &me, kc, T0);
  /* The group, from a's group socket, reaches c through b. */
  uint8_t data[12] = {0x53, 0x00, 0x00, 0x0c, 0, 1, 0, 0, 'a', 'b', 'c', 'd'};
  smart__relay_group_input(a, data, sizeof(data), &g, T0);
  drain_out(a, &o, T0);
  ck_assert_uint_eq(o.n, 1);
  smart__relay_group_input(b, o.d[0].buf, o.d[0].len, &aa, T0);
  drain_out(b, &back, T0);
  ck_assert_uint_eq(back.n, 1);
  ck_assert(smart__addr_equal(&back.to[0], &me));
  /* Not from the upstream: ignored. */
  smart__relay_group_input(b, data, sizeof(data), &g, T0);
  drain_out(b, &back, T0);
  ck_assert_uint_eq(back.n, 0);
  /* c's feedback goes up to a, which multicasts it. */
  uint8_t repl[12] = {0x53, 0x81, 0x00, 0x0c, 0xef, 0xff, 0x01, 0x01, 0, 5, 0, 0};
  smart__relay_input(b, repl, sizeof(repl), &me, T0);
  drain_out(b, &o, T0);
  ck_assert_uint_eq(o.n, 1);
  ck_assert_int_eq(o.d[0].kind, SMART__RELAY_FEEDBACK);
  ck_assert(smart__addr_equal(&o.to[0], &aa));
  smart__relay_input(a, o.d[0].buf, o.d[0].len, &ba, T0);
  drain_out(a, &back, T0);
  ck_assert_uint_eq(back.n, 1);
  ck_assert(smart__addr_equal(&back.to[0], &g));
  /* Shutting down, b leaves a. */
  smart__relay_leave(b, T0);
  drain_out(b, &o, T0);
  ck_assert_uint_eq(o.n, 1);
  ck_assert_int_eq(o.buf[0][1], 0xc2);
  smart__relay_input(a, o.buf[0], o.d[0].len, &ba, T0);
  ck_assert(!smart__relay_serves(a, &ba));
  smart__relay_del(a);
  smart__relay_del(b);
}
END_TEST

START_TEST(bad_config) {
  struct smart__relay_cfg cfg = {.ops = smart_crypto_sodium(), .group = addr("192.0.2.1:1"),
                                 .max_clients = 1};
  struct smart__relay *r = (struct smart__relay *)1;
  ck_assert_int_eq(smart__relay_new(&r, &cfg, T0), SMART_EINVAL);
  cfg.group = addr(GROUP);
  cfg.max_clients = 0;
  ck_assert_int_eq(smart__relay_new(&r, &cfg, T0), SMART_EINVAL);
  cfg.max_clients = 1;
  cfg.ops = NULL;
  ck_assert_int_eq(smart__relay_new(&r, &cfg, T0), SMART_EINVAL);
  smart__relay_del(NULL);
}
END_TEST

static Suite *relay_suite(void) {
  Suite *s = suite_create("relay");
  TCase *t = tcase_create("relay");
  tcase_add_test(t, challenge_and_grant);
  tcase_add_test(t, full_table_and_eviction);
  tcase_add_test(t, leave);
  tcase_add_test(t, forwarding);
  tcase_add_test(t, byte_and_feedback_budgets);
  tcase_add_test(t, spoofed_flood);
  tcase_add_test(t, challenge_budget);
  tcase_add_test(t, client_end_to_end);
  tcase_add_test(t, client_end_to_end_sealed);
  tcase_add_test(t, chain_of_relays);
  tcase_add_test(t, bad_config);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(relay_suite());
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
