/*
 * libFuzzer target for the whole receive path of a session: the input is a
 * sequence of datagrams, each from one of four peers, fed to a plain
 * session and to a secure one (group key, the null provider, whose "tag"
 * is sixteen zero bytes, so that sealed datagrams the fuzzer writes open
 * and reach every room behind the envelope). Between datagrams the clock
 * advances, timers run, the output is drained and the commands answered,
 * as the socket shell does. A third session, secure too, requires source
 * authentication (a pinned key; the null provider verifies any signature):
 * every secure datagram goes to it as well, so that held datagrams,
 * manifests, their batches and releases are fuzzed.
 * Nothing may crash, leak or read out of bounds;
 * every delivery must lie in the message it claims.
 *
 * Record: peer (1 byte: low 2 bits the peer, bit 2 the secure session,
 * bits 3-7 milliseconds to advance) | length (2 bytes, big-endian) | bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "crypto/crypto.h"
#include "session/session.h"
#include "util/time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct smart__sockaddr v4(uint32_t host, uint16_t port) {
  struct smart__sockaddr a;
  memset(&a, 0, sizeof(a));
  a.u.in4.sin_family = AF_INET;
  a.u.in4.sin_addr.s_addr = htonl(host);
  a.u.in4.sin_port = htons(port);
  a.len = sizeof(struct sockaddr_in);
  return a;
}

static struct smart__session *make(int secure, int sauth, uint64_t now) {
  struct smart__opts o;
  smart__opts_init(&o);
  o.eng.seed = 7;
  o.drop_ppm = 0;
  if (secure) {
    o.ops = smart_crypto_null();
    o.keys = smart__secure_alloc(96);
    if (!o.keys)
      return NULL;
    memset(o.keys, 0x42, 32);
    o.have_group_key = 1;
  }
  if (sauth) {
    o.sauth_every = 64;
    memset(o.pins[0], 0x5A, 32);
    o.npins = 1;
  }
  struct smart__session_addrs a = {.group = v4(0xEFFF0101u, 5000), .self = v4(0xC6336401u, 4000)};
  struct smart__session *ss = NULL;
  int rc = smart__session_new(&ss, &o, &a, now);
  smart__opts_free(&o); /* the session took what it needs */
  if (rc) {
    smart__session_del(ss);
    return NULL;
  }
  return ss;
}

/* What the shell does after input: timers, commands, output, deliveries. */
static void pump(struct smart__session *ss, uint64_t now) {
  static uint8_t out[65536];
  struct smart__cmd c;
  struct smart__sockaddr to;
  struct smart__delivery d;
  int end;
  (void)smart__session_tick(ss, now);
  while (smart__session_cmd(ss, &c))
    if (c.kind == SMART__CMD_OPEN_GROUP)
      smart__session_group_ready(ss, &c.group, 1, now);
  for (int i = 0; i < 256 && smart__session_send(ss, out, sizeof(out), &to, &end, now) > 0; i++)
    smart__session_sent(ss, 100, now);
  while (smart__session_poll(ss, &d)) {
    if (d.kind == SMART__DLV_MESSAGE && d.len) {
      volatile uint8_t x = d.data[0] ^ d.data[d.len - 1]; /* in bounds (ASan) */
      (void)x;
    }
  }
  struct smart_event ev;
  while (smart__session_event(ss, &ev))
    ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t now = SMART__SEC(1);
  struct smart__session *ss[3] = {make(0, 0, now), make(1, 0, now), make(1, 1, now)};
  if (!ss[0] || !ss[1] || !ss[2])
    abort();
  struct smart__sockaddr peers[4] = {v4(0xC6336402u, 4000), v4(0xC6336403u, 4000),
                                     v4(0xC6336404u, 4001), v4(0xC6336401u, 4000)};
  size_t off = 0;
  while (off + 3 <= size) {
    uint8_t h = data[off];
    size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
    off += 3;
    if (len > size - off)
      len = size - off;
    now += SMART__MS(h >> 3);
    int secure = (h >> 2) & 1;
    for (int k = secure; k <= 2 * secure; k++) {
      smart__session_recv(ss[k], data + off, len, &peers[h & 3], now);
      if ((h & 0xF8) || off + len >= size)
        pump(ss[k], now);
    }
    off += len;
  }
  now += SMART__SEC(30); /* let every timer run out */
  for (int k = 0; k < 3; k++)
    pump(ss[k], now);
  struct smart_stats st;
  memset(&st, 0, sizeof(st));
  smart__session_stats(ss[0], &st);
  for (int k = 0; k < 3; k++)
    smart__session_del(ss[k]);
  return 0;
}
