/*
 * libFuzzer target for the wire decoder: decode, re-encode, decode again.
 * A datagram that decodes must re-encode to the very same bytes and decode
 * to the same fields; the payload and extension walkers must stay in bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk_bodies(const struct smart__pkt *p) {
  if (p->kind == SMART__K_DATA && !p->u.data.d) {
    const uint8_t *b = p->u.data.payload;
    size_t n = p->u.data.payload_len;
    struct smart__hb hb;
    struct smart__conf c;
    struct smart__frag f;
    struct smart__pack_iter it;
    const uint8_t *m;
    size_t ml, total = 0;
    if (smart__hb_decode(&hb, b, n) == 0 && hb.trail > hb.lead)
      abort();
    if (smart__conf_decode(&c, b, n) == 0) {
      for (unsigned i = 0; i < c.count; i++) {
        uint64_t s;
        uint32_t len;
        smart__conf_range(&c, i, &s, &len);
        if (len == 0)
          abort();
      }
    }
    if (smart__frag_decode(&f, b, n) == 0 &&
        (f.bytes + f.len != b + n || (uint64_t)f.offset + f.len > f.msg_len))
      abort();
    int cnt = smart__pack_check(b, n);
    smart__pack_iter_init(&it, b, n);
    int seen = 0;
    while (smart__pack_next(&it, &m, &ml)) {
      if (m < b || m + ml > b + n)
        abort();
      total += ml + 2;
      seen++;
    }
    if (cnt > 0 && (seen != cnt || total != n))
      abort();
  }
  if (p->ext) {
    struct smart__ext_iter it;
    uint16_t t;
    const uint8_t *v;
    size_t vl, total = 0;
    smart__ext_iter_init(&it, p->ext, p->ext_len);
    while (smart__ext_next(&it, &t, &v, &vl))
      total += 4 + vl;
    if (total != p->ext_len)
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct smart__pkt a, b;
  static uint8_t out[SMART__MAX_DGRAM];
  int rc = smart__pkt_decode(&a, data, size);
  if (rc != 0) {
    if (rc > 0 || rc < SMART_ERR_LAST)
      abort();
    return 0;
  }
  walk_bodies(&a);
  smart_ssize w = smart__pkt_encode(out, sizeof(out), &a);
  if (w < 0 || (size_t)w != size || memcmp(out, data, size) != 0)
    abort();
  if (smart__pkt_decode(&b, out, (size_t)w) != 0)
    abort();
  if (a.kind != b.kind || a.sync != b.sync || a.typ != b.typ || a.cmd != b.cmd ||
      a.size != b.size || a.ext_len != b.ext_len)
    abort();
  if (a.kind == SMART__K_DATA) {
    if (a.u.data.seq != b.u.data.seq || a.u.data.fmt != b.u.data.fmt ||
        a.u.data.d != b.u.data.d || a.u.data.quiet != b.u.data.quiet ||
        a.u.data.r != b.u.data.r || a.u.data.payload_len != b.u.data.payload_len ||
        memcmp(a.u.data.payload, b.u.data.payload, a.u.data.payload_len) != 0)
      abort();
  } else if (memcmp(&a.u, &b.u, sizeof(a.u.report)) != 0 ||
             (a.ext_len && memcmp(a.ext, b.ext, a.ext_len) != 0)) {
    abort();
  }
  /* Sequence reconstruction always lands within 2^15 of the expectation. */
  if (size >= 10) {
    uint64_t e;
    memcpy(&e, data + 2, 8);
    uint64_t s = smart__seq_expand(e, (uint16_t)(data[0] << 8 | data[1]));
    if ((uint16_t)s != (uint16_t)(data[0] << 8 | data[1]))
      abort();
    uint64_t d = s > e ? s - e : e - s;
    if (d > 32768 && e > 65536 && e < UINT64_MAX - 65536)
      abort();
  }
  return 0;
}
