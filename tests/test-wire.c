/*
 * Wire codec tests: known-answer vectors built byte by byte from the seed's
 * diagrams, round trips of every packet type, every malformed class, and
 * serial-number arithmetic around the wrap.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static struct smart__pkt decode_ok(const uint8_t *in, size_t n) {
  struct smart__pkt p;
  int rc = smart__pkt_decode(&p, in, n);
  ck_assert_msg(rc == 0, "decode failed: %s", smart_strerror(rc));
  ck_assert_uint_eq(p.size, n);
  return p;
}

/* Re-encode a decoded packet and require the very same bytes. */
static void assert_reencodes(const uint8_t *in, size_t n) {
  struct smart__pkt p = decode_ok(in, n);
  uint8_t out[256];
  smart_ssize w = smart__pkt_encode(out, sizeof(out), &p);
  ck_assert_int_eq(w, (smart_ssize)n);
  ck_assert_mem_eq(out, in, n);
}

/* ---- Known answers from the seed's diagrams -------------------------- */

START_TEST(kat_data_plain) {
  /* "DATA PACKET Message TYP = 0x00": Access Synch | TYP CMD RESRV |
   * Packet Size / Packet Sequence | FMT D QUIET R RESERVED / Payload. */
  const uint8_t in[] = {
      0x53,       /* Access Synch = 0x53 */
      0x00,       /* TYP 00, CMD 00, RESRV 0000 */
      0x00, 0x0d, /* Packet Size = 13: the whole datagram */
      0x12, 0x34, /* Packet Sequence = 0x1234 */
      0x00,       /* FMT 00, D 0, QUIET 0000, R 0 */
      0x00,       /* RESERVED */
      'h',  'e',  'l', 'l', 'o'};
  struct smart__pkt p = decode_ok(in, sizeof(in));
  ck_assert_uint_eq(p.kind, SMART__K_DATA);
  ck_assert_uint_eq(p.sync, 0x53);
  ck_assert_uint_eq(p.typ, 0);
  ck_assert_uint_eq(p.cmd, 0);
  ck_assert_uint_eq(p.u.data.seq, 0x1234);
  ck_assert_uint_eq(p.u.data.fmt, 0);
  ck_assert_uint_eq(p.u.data.d, 0);
  ck_assert_uint_eq(p.u.data.quiet, 0);
  ck_assert_uint_eq(p.u.data.payload_len, 5);
  ck_assert_mem_eq(p.u.data.payload, "hello", 5);
  assert_reencodes(in, sizeof(in));
}
END_TEST

START_TEST(kat_data_bits) {
  /* Every sub-byte field at a distinct value: CMD 01 in bits 10-11;
   * FMT 01 | D 0 | QUIET 0101 | R 1 = 0b01001011 in bits 48-55. */
  const uint8_t in[] = {0xa5, 0x10, 0x00, 0x12, 0xff, 0xfe, 0x4b, 0x00,
                        0x00, 0x00, 0x00, 0x05, /* msg length 5 */
                        0x00, 0x00, 0x00, 0x01, /* offset 1 */
                        'b',  'c'};
  struct smart__pkt p = decode_ok(in, sizeof(in));
  ck_assert_uint_eq(p.sync, 0xa5);
  ck_assert_uint_eq(p.cmd, SMART__DCMD_REPAIR);
  ck_assert_uint_eq(p.u.data.seq, 0xfffe);
  ck_assert_uint_eq(p.u.data.fmt, SMART__FMT_FRAG);
  ck_assert_uint_eq(p.u.data.d, 0);
  ck_assert_uint_eq(p.u.data.quiet, 5);
  ck_assert_uint_eq(p.u.data.r, 1);
  struct smart__frag f;
  ck_assert_int_eq(smart__frag_decode(&f, p.u.data.payload, p.u.data.payload_len), 0);
  ck_assert_uint_eq(f.msg_len, 5);
  ck_assert_uint_eq(f.offset, 1);
  ck_assert_uint_eq(f.len, 2);
  assert_reencodes(in, sizeof(in));
}
END_TEST

START_TEST(kat_data_d_bit) {
  /* D is bit 50: FMT 00 | D 1 | QUIET 0000 | R 0 = 0x20. A secure envelope
   * is at least its 8-byte header and 16-byte tag. */
  uint8_t in[8 + 24] = {0x01, 0x00, 0x00, 0x20, 0x00, 0x07, 0x20, 0x00};
  struct smart__pkt p = decode_ok(in, sizeof(in));
  ck_assert_uint_eq(p.u.data.d, 1);
  ck_assert_uint_eq(p.u.data.fmt, 0);
  ck_assert_uint_eq(p.u.data.seq, 7);
  in[3] = 0x1f; /* one byte shorter payload, same Packet Size rule */
  ck_assert_int_eq(smart__pkt_decode(&p, in, 31), SMART_EFORMAT);
}
END_TEST

struct msg_vec {
  const char *name;
  uint8_t byte1; /* TYP(2) | CMD(6) */
  int kind;
};

/* "MESSAGES Message TYP = 0x01", "TYP = 0x02 Replacement Requests",
 * "TYP = 0x03 Tunneling Requests": the CMD values the seed lists. */
static const struct msg_vec msg_vecs[] = {
    {"ADDR_RANGE_CHANGE", 0x41, SMART__K_ADDR_RANGE_CHANGE}, /* 01 000001 */
    {"USAGE_REPORT_JOIN", 0x42, SMART__K_USAGE_JOIN},        /* 01 000010 */
    {"USAGE_REPORT_LEAVE", 0x43, SMART__K_USAGE_LEAVE},      /* 01 000011 */
    {"ERROR_REPORT", 0x4b, SMART__K_ERROR_REPORT},           /* 01 001011 */
    {"PROBLEM_REPORT", 0x50, SMART__K_PROBLEM_REPORT},       /* 01 010000 */
    {"REPLACEMENT", 0x81, SMART__K_REPLACEMENT},             /* 10 000001 */
    {"QUIET", 0x82, SMART__K_QUIET},                         /* 10 000010 */
    {"STATUS", 0x83, SMART__K_STATUS},                       /* 10 000011 */
    {"REQUEST_TUNNEL", 0xc1, SMART__K_REQUEST_TUNNEL},       /* 11 000001 */
    {"LEAVE_TUNNEL", 0xc2, SMART__K_LEAVE_TUNNEL},           /* 11 000010 */
};

START_TEST(kat_messages) {
  const struct msg_vec *v = &msg_vecs[_i];
  int report = v->kind == SMART__K_ERROR_REPORT || v->kind == SMART__K_PROBLEM_REPORT;
  uint8_t in[24] = {0x53, v->byte1, 0x00, (uint8_t)(report ? 24 : 12),
                    0xef, 0xff, 0x01, 0x02,  /* first 32-bit field: 239.255.1.2 */
                    0xc6, 0x33, 0x64, 0x07,  /* second: 198.51.100.7 / seq+extra */
                    0x00, 0x00, 0x00, 0x01,  /* Message Data [1] */
                    0xde, 0xad, 0xbe, 0xef,  /* Message Data [2] */
                    0x00, 0x00, 0x00, 0x2a}; /* Message Data [3] */
  size_t n = report ? 24 : 12;
  if (v->kind == SMART__K_QUIET) {
    in[10] = in[11] = 0; /* the unlabelled 16 bits after Duration are zero */
  }
  struct smart__pkt p = decode_ok(in, n);
  ck_assert_str_eq(smart__kind_name(p.kind), v->name);
  ck_assert_int_eq(p.kind, v->kind);
  ck_assert_uint_eq(p.typ, v->byte1 >> 6);
  ck_assert_uint_eq(p.cmd, v->byte1 & 0x3f);
  ck_assert_ptr_null(p.ext);
  switch (v->kind) {
  case SMART__K_ERROR_REPORT:
  case SMART__K_PROBLEM_REPORT:
    ck_assert_uint_eq(p.u.report.reporter, 0xefff0102u);
    ck_assert_uint_eq(p.u.report.concerning, 0xc6336407u);
    ck_assert_uint_eq(p.u.report.data[0], 1);
    ck_assert_uint_eq(p.u.report.data[1], 0xdeadbeefu);
    ck_assert_uint_eq(p.u.report.data[2], 42);
    break;
  case SMART__K_REPLACEMENT:
  case SMART__K_STATUS:
    ck_assert_uint_eq(p.u.repl.group, 0xefff0102u);
    ck_assert_uint_eq(p.u.repl.seq, 0xc633);
    ck_assert_uint_eq(p.u.repl.extra, 0x6407);
    break;
  case SMART__K_QUIET:
    ck_assert_uint_eq(p.u.quiet.group, 0xefff0102u);
    ck_assert_uint_eq(p.u.quiet.duration, 0xc633);
    break;
  default:
    ck_assert_uint_eq(p.u.addr.addr1, 0xefff0102u);
    ck_assert_uint_eq(p.u.addr.addr2, 0xc6336407u);
  }
  assert_reencodes(in, n);
  /* One byte short of the base layout is truncated, whatever Packet Size says. */
  uint8_t s[24];
  memcpy(s, in, n - 1);
  s[3] = (uint8_t)(n - 1);
  ck_assert_int_eq(smart__pkt_decode(&p, s, n - 1), SMART_ETRUNC);
}
END_TEST

/* ---- Round trips ------------------------------------------------------ */

START_TEST(roundtrip_all_kinds) {
  static const uint8_t typs[][2] = {{1, 1},  {1, 2}, {1, 3}, {1, 0x0b}, {1, 0x10},
                                    {2, 1},  {2, 2}, {2, 3}, {3, 1}, {3, 2}};
  for (size_t i = 0; i < ARRAY_LEN(typs); i++) {
    struct smart__pkt p;
    memset(&p, 0, sizeof(p));
    p.sync = (uint8_t)(0x10 + i);
    p.typ = typs[i][0];
    p.cmd = typs[i][1];
    int kind = smart__pkt_kind(p.typ, p.cmd);
    ck_assert_int_ne(kind, SMART__K_NONE);
    uint8_t ext[64];
    size_t el = 0;
    uint8_t sess[4] = {1, 2, 3, 4};
    ck_assert_int_eq(smart__ext_put(ext, sizeof(ext), &el, SMART__EXT_SESSION, sess, 4), 0);
    p.ext = ext;
    p.ext_len = el;
    switch (kind) {
    case SMART__K_ERROR_REPORT:
    case SMART__K_PROBLEM_REPORT:
      p.u.report.reporter = 0x0a000001u + (uint32_t)i;
      p.u.report.concerning = 0xefff0000u;
      p.u.report.data[0] = 7;
      p.u.report.data[2] = 0xffffffffu;
      break;
    case SMART__K_REPLACEMENT:
    case SMART__K_STATUS:
      p.u.repl.group = 0xefff0101u;
      p.u.repl.seq = 65535;
      p.u.repl.extra = 3;
      break;
    case SMART__K_QUIET:
      p.u.quiet.group = 0xefff0101u;
      p.u.quiet.duration = 1500;
      break;
    default:
      p.u.addr.addr1 = 0xefff0101u;
      p.u.addr.addr2 = 0xefff01ffu;
    }
    uint8_t out[128];
    smart_ssize w = smart__pkt_encode(out, sizeof(out), &p);
    ck_assert_int_gt(w, 0);
    struct smart__pkt q;
    ck_assert_int_eq(smart__pkt_decode(&q, out, (size_t)w), 0);
    ck_assert_int_eq(q.kind, kind);
    ck_assert_uint_eq(q.sync, p.sync);
    ck_assert_uint_eq(q.ext_len, el);
    ck_assert_mem_eq(q.ext, ext, el);
    ck_assert_mem_eq(&q.u, &p.u, sizeof(q.u.report));
    const uint8_t *v;
    size_t vl;
    ck_assert(smart__ext_find(q.ext, q.ext_len, SMART__EXT_SESSION, &v, &vl));
    ck_assert_uint_eq(vl, 4);
    ck_assert_mem_eq(v, sess, 4);
    /* Too small an output buffer is refused, never overrun. */
    ck_assert_int_eq(smart__pkt_encode(out, (size_t)w - 1, &p), SMART_ENOBUF);
  }
}
END_TEST

START_TEST(roundtrip_data_every_field) {
  uint8_t payload[40];
  for (unsigned i = 0; i < sizeof(payload); i++)
    payload[i] = (uint8_t)(i * 7);
  for (unsigned cmd = 0; cmd < 2; cmd++)
    for (unsigned q = 0; q < 16; q++)
      for (unsigned r = 0; r < 2; r++) {
        struct smart__pkt p;
        memset(&p, 0, sizeof(p));
        p.sync = 0xfe;
        p.cmd = (uint8_t)cmd;
        p.u.data.seq = (uint16_t)(q * 4099u + r);
        p.u.data.quiet = (uint8_t)q;
        p.u.data.r = (uint8_t)r;
        p.u.data.payload = payload;
        p.u.data.payload_len = sizeof(payload);
        uint8_t out[64];
        smart_ssize w = smart__pkt_encode(out, sizeof(out), &p);
        ck_assert_int_eq(w, 48);
        struct smart__pkt d = decode_ok(out, 48);
        ck_assert_uint_eq(d.cmd, cmd);
        ck_assert_uint_eq(d.u.data.seq, p.u.data.seq);
        ck_assert_uint_eq(d.u.data.quiet, q);
        ck_assert_uint_eq(d.u.data.r, r);
        ck_assert_mem_eq(d.u.data.payload, payload, sizeof(payload));
      }
}
END_TEST

/* The ACKREQ heartbeat (Watermark, Timestamp after the 32 bytes) and the
 * STATUS POSITION extension, byte for byte (smart-protocol(7)). */
START_TEST(kat_ackreq_and_position) {
  struct smart__hb hb = {.session = 0x01020304, .lead = 0x100, .trail = 0x80, .grtt_us = 5000,
                         .gsize = 3, .k = 6, .flags = SMART__HB_ACKREQ | SMART__HB_END,
                         .watermark = 0xF0, .stamp = 0xA1B2C3D4};
  uint8_t b[64];
  ck_assert_uint_eq(smart__hb_len(&hb), 44);
  ck_assert_uint_eq(smart__hb_encode(b, &hb), 44);
  static const uint8_t tail[] = {6, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xF0, 0xA1, 0xB2, 0xC3, 0xD4};
  ck_assert_mem_eq(b + 28, tail, sizeof(tail));
  struct smart__hb h2;
  ck_assert_int_eq(smart__hb_decode(&h2, b, 44), 0);
  ck_assert_uint_eq(h2.flags, SMART__HB_ACKREQ | SMART__HB_END);
  ck_assert_uint_eq(h2.watermark, 0xF0);
  ck_assert_uint_eq(h2.stamp, 0xA1B2C3D4u);
  /* Without its fields the flag is ignored; a watermark past Lead is
   * nonsense. */
  ck_assert_int_eq(smart__hb_decode(&h2, b, 32), 0);
  ck_assert_uint_eq(h2.flags, SMART__HB_END);
  b[39] = 0xFF;
  b[38] = 0x01; /* watermark 0x1FF > lead 0x100 */
  ck_assert_int_eq(smart__hb_decode(&h2, b, 44), SMART_EFORMAT);
  /* A plain heartbeat stays 32 bytes. */
  hb.flags = 0;
  ck_assert_uint_eq(smart__hb_encode(b, &hb), 32);

  struct smart__pos ps = {.position = UINT64_C(0x0102030405060708), .echo = 0x11223344,
                          .delay_us = 250, .flags = SMART__POS_LEAVING};
  uint8_t v[SMART__POS_LEN];
  smart__pos_encode(v, &ps);
  static const uint8_t pv[] = {1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x22, 0x33, 0x44,
                               0, 0, 0, 250, 1, 0, 0, 0};
  ck_assert_mem_eq(v, pv, sizeof(pv));
  struct smart__pos p2;
  ck_assert_int_eq(smart__pos_decode(&p2, v, sizeof(v)), 0);
  ck_assert_uint_eq(p2.position, ps.position);
  ck_assert_uint_eq(p2.echo, ps.echo);
  ck_assert_uint_eq(p2.delay_us, 250);
  ck_assert_uint_eq(p2.flags, SMART__POS_LEAVING);
  ck_assert_int_eq(smart__pos_decode(&p2, v, SMART__POS_LEN - 1), SMART_EFORMAT);
}
END_TEST

/* The congestion-control heartbeat (Timestamp and the CC block after the
 * 32 bytes, RTT echoes) and the STATUS CCFB extension, byte for byte
 * (smart-protocol(7)). */
START_TEST(kat_cc_heartbeat_and_ccfb) {
  struct smart__hb hb = {.session = 0x01020304, .lead = 0x100, .trail = 0x80, .grtt_us = 40000,
                         .gsize = 1000, .k = 6, .flags = SMART__HB_CC, .stamp = 0xA1B2C3D4,
                         .cc_rate = 2000000, .cc_supp = 1500000, .cc_clr = 0x0BADCAFE,
                         .cc_supp_tag = 0x11111111, .cc_round = 7, .cc_seg = 1408, .cc_flags = 0, .cc_n = 2,
                         .cc_tag = {0x0BADCAFE, 0x11111111}, .cc_rtt_us = {52000, 31000}};
  uint8_t b[SMART__HB_MAX_LEN];
  ck_assert_uint_eq(smart__hb_len(&hb), 32 + 12 + 32 + 16);
  ck_assert_uint_eq(smart__hb_encode(b, &hb), 92);
  static const uint8_t tail[] = {
      0x06, 0x08, 0, 0,                                /* K, Flags CC, Reserved */
      0, 0, 0, 0, 0, 0, 0, 0,                          /* Watermark: 0 without ACKREQ */
      0xA1, 0xB2, 0xC3, 0xD4,                          /* Timestamp */
      0, 0, 0, 0, 0, 0x1E, 0x84, 0x80,                 /* Rate 2,000,000 */
      0, 0, 0, 0, 0, 0x16, 0xE3, 0x60,                 /* Suppression Rate 1,500,000 */
      0x0B, 0xAD, 0xCA, 0xFE,                          /* CLR Tag */
      0x11, 0x11, 0x11, 0x11,                          /* Suppression Tag */
      0, 7, 0x05, 0x80,                                /* Round 7, Segment 1408 */
      0, 2, 0, 0,                                      /* CC Flags, Count 2 */
      0x0B, 0xAD, 0xCA, 0xFE, 0, 0, 0xCB, 0x20,        /* echo: the CLR, 52 ms */
      0x11, 0x11, 0x11, 0x11, 0, 0, 0x79, 0x18};       /* echo: 31 ms */
  ck_assert_mem_eq(b + 28, tail, sizeof(tail));
  struct smart__hb h2;
  ck_assert_int_eq(smart__hb_decode(&h2, b, 92), 0);
  ck_assert_uint_eq(h2.flags, SMART__HB_CC);
  ck_assert_uint_eq(h2.stamp, 0xA1B2C3D4u);
  ck_assert_uint_eq(h2.watermark, 0);
  ck_assert_uint_eq(h2.cc_rate, 2000000);
  ck_assert_uint_eq(h2.cc_supp, 1500000);
  ck_assert_uint_eq(h2.cc_clr, 0x0BADCAFEu);
  ck_assert_uint_eq(h2.cc_supp_tag, 0x11111111u);
  ck_assert_uint_eq(h2.cc_round, 7);
  ck_assert_uint_eq(h2.cc_seg, 1408);
  ck_assert_uint_eq(h2.cc_n, 2);
  ck_assert_uint_eq(h2.cc_tag[1], 0x11111111u);
  ck_assert_uint_eq(h2.cc_rtt_us[1], 31000);
  /* A block cut short is ignored (the flag with it), the rest counts. */
  ck_assert_int_eq(smart__hb_decode(&h2, b, 84), 0);
  ck_assert_uint_eq(h2.flags, 0);
  ck_assert_uint_eq(h2.stamp, 0xA1B2C3D4u);
  ck_assert_int_eq(smart__hb_decode(&h2, b, 40), 0);
  ck_assert_uint_eq(h2.flags, 0);
  /* More echoes than kept: the first ones are read. */
  b[32 + 12 + 29] = 9;
  uint8_t big[32 + 12 + 32 + 9 * 8];
  memset(big, 0, sizeof(big));
  memcpy(big, b, 92);
  ck_assert_int_eq(smart__hb_decode(&h2, big, sizeof(big)), 0);
  ck_assert_uint_eq(h2.cc_n, SMART__HB_CC_ECHOES);
  ck_assert_uint_eq(h2.cc_rtt_us[0], 52000);
  /* With ACKREQ as well, the Watermark is there. */
  hb.flags = SMART__HB_CC | SMART__HB_ACKREQ;
  hb.watermark = 0xF0;
  ck_assert_uint_eq(smart__hb_encode(b, &hb), 92);
  ck_assert_int_eq(smart__hb_decode(&h2, b, 92), 0);
  ck_assert_uint_eq(h2.watermark, 0xF0);
  ck_assert_uint_eq(h2.cc_clr, 0x0BADCAFEu);

  struct smart__ccfb f = {.tag = 0x0BADCAFE, .loss = 0x00A3D70A, .recv = 1000000,
                          .rate = 480000, .rtt_us = 52000, .flags = SMART__CCFB_CLR | SMART__CCFB_REPORT,
                          .events = 5};
  uint8_t v[SMART__CCFB_LEN];
  smart__ccfb_encode(v, &f);
  static const uint8_t fv[] = {0x0B, 0xAD, 0xCA, 0xFE, 0x00, 0xA3, 0xD7, 0x0A,
                               0, 0, 0, 0, 0, 0x0F, 0x42, 0x40,
                               0, 0, 0, 0, 0, 0x07, 0x53, 0x00, 0, 0, 0xCB, 0x20,
                               0x03, 0x05, 0, 0};
  ck_assert_mem_eq(v, fv, sizeof(fv));
  struct smart__ccfb f2;
  ck_assert_int_eq(smart__ccfb_decode(&f2, v, sizeof(v)), 0);
  ck_assert_uint_eq(f2.tag, f.tag);
  ck_assert_uint_eq(f2.loss, f.loss);
  ck_assert_uint_eq(f2.recv, f.recv);
  ck_assert_uint_eq(f2.rate, 480000);
  ck_assert_uint_eq(f2.rtt_us, f.rtt_us);
  ck_assert_uint_eq(f2.flags, f.flags);
  ck_assert_uint_eq(f2.events, 5);
  ck_assert_int_eq(smart__ccfb_decode(&f2, v, SMART__CCFB_LEN - 1), SMART_EFORMAT);
  memset(v, 0, 4); /* tag 0 */
  ck_assert_int_eq(smart__ccfb_decode(&f2, v, sizeof(v)), SMART_EFORMAT);
}
END_TEST

START_TEST(roundtrip_heartbeat_confirm_pack) {
  struct smart__hb hb = {.session = 0xcafef00d, .lead = UINT64_C(0x123456789a),
                         .trail = UINT64_C(0x1234560000), .grtt_us = 2500,
                         .gsize = 10000, .k = 4, .flags = 0};
  uint8_t body[SMART__HB_LEN], dg[64];
  smart__hb_encode(body, &hb);
  ck_assert_int_eq(smart__data_hdr_write(dg, 1, SMART__DCMD_HEARTBEAT, 0x789a, 0, 0, 0,
                                         sizeof(body)), 8);
  memcpy(dg + 8, body, sizeof(body));
  struct smart__pkt p = decode_ok(dg, 8 + sizeof(body));
  struct smart__hb h2;
  ck_assert_int_eq(smart__hb_decode(&h2, p.u.data.payload, p.u.data.payload_len), 0);
  ck_assert_uint_eq(h2.session, hb.session);
  ck_assert_uint_eq(h2.lead, hb.lead);
  ck_assert_uint_eq(h2.trail, hb.trail);
  ck_assert_uint_eq(h2.grtt_us, 2500);
  ck_assert_uint_eq(h2.gsize, 10000);
  ck_assert_uint_eq(h2.k, 4);
  /* trail > lead is nonsense and rejected */
  hb.trail = hb.lead + 1;
  smart__hb_encode(dg + 8, &hb);
  ck_assert_int_eq(smart__pkt_decode(&p, dg, 40), SMART_EFORMAT);

  uint64_t starts[2] = {100, UINT64_C(1) << 40};
  uint32_t lens[2] = {1, 17};
  smart_ssize cl = smart__conf_encode(dg + 8, sizeof(dg) - 8, 9, SMART__CONF_PENDING,
                                      UINT64_C(1) << 41, 50, starts, lens, 2);
  ck_assert_int_eq(cl, 48);
  smart__data_hdr_write(dg, 1, SMART__DCMD_CONFIRM, 0, 0, 0, 0, (size_t)cl);
  p = decode_ok(dg, 8 + (size_t)cl);
  struct smart__conf c;
  ck_assert_int_eq(smart__conf_decode(&c, p.u.data.payload, p.u.data.payload_len), 0);
  ck_assert_uint_eq(c.count, 2);
  ck_assert_uint_eq(c.kind, SMART__CONF_PENDING);
  uint64_t s;
  uint32_t n;
  smart__conf_range(&c, 1, &s, &n);
  ck_assert_uint_eq(s, UINT64_C(1) << 40);
  ck_assert_uint_eq(n, 17);
  /* A count larger than the ranges present is rejected. */
  dg[8 + 5] = 3;
  ck_assert_int_eq(smart__pkt_decode(&p, dg, 8 + (size_t)cl), SMART_EFORMAT);

  /* Packed: "ab", "", "xyz". */
  const uint8_t pack[] = {0, 2, 'a', 'b', 0, 0, 0, 3, 'x', 'y', 'z'};
  ck_assert_int_eq(smart__pack_check(pack, sizeof(pack)), 3);
  struct smart__pack_iter it;
  const uint8_t *m;
  size_t ml;
  smart__pack_iter_init(&it, pack, sizeof(pack));
  ck_assert(smart__pack_next(&it, &m, &ml) && ml == 2 && !memcmp(m, "ab", 2));
  ck_assert(smart__pack_next(&it, &m, &ml) && ml == 0);
  ck_assert(smart__pack_next(&it, &m, &ml) && ml == 3 && !memcmp(m, "xyz", 3));
  ck_assert(!smart__pack_next(&it, &m, &ml));
  ck_assert_int_eq(smart__pack_check(pack, sizeof(pack) - 1), SMART_EFORMAT);
  ck_assert_int_eq(smart__pack_check(pack, 0), SMART_EFORMAT);
}
END_TEST

/* ---- Malformed classes ------------------------------------------------ */

START_TEST(malformed_classes) {
  struct smart__pkt p;
  const uint8_t ok[] = {0x53, 0x00, 0x00, 0x09, 0x00, 0x01, 0x00, 0x00, 'x'};
  uint8_t b[64];

  ck_assert_int_eq(smart__pkt_decode(&p, ok, 0), SMART_ETRUNC);
  ck_assert_int_eq(smart__pkt_decode(&p, ok, 3), SMART_ETRUNC);
  ck_assert_int_eq(smart__pkt_decode(NULL, ok, sizeof(ok)), SMART_EINVAL);
  ck_assert_int_eq(smart__pkt_decode(&p, NULL, 4), SMART_EINVAL);
  /* Packet Size must equal the datagram's length, both ways. */
  ck_assert_int_eq(smart__pkt_decode(&p, ok, sizeof(ok) - 1), SMART_ESIZE);
  memcpy(b, ok, sizeof(ok));
  b[sizeof(ok)] = 0;
  ck_assert_int_eq(smart__pkt_decode(&p, b, sizeof(ok) + 1), SMART_ESIZE);
  /* DATA claiming 4 bytes: size matches, but the second word is missing. */
  const uint8_t short_data[] = {0x53, 0x00, 0x00, 0x04};
  ck_assert_int_eq(smart__pkt_decode(&p, short_data, 4), SMART_ETRUNC);
  /* DATA RESRV (bits 12-15) and RESERVED (bits 56-63) must be zero. */
  for (int bit = 0; bit < 4; bit++) {
    memcpy(b, ok, sizeof(ok));
    b[1] |= (uint8_t)(1u << bit);
    ck_assert_int_eq(smart__pkt_decode(&p, b, sizeof(ok)), SMART_ERESERVED);
  }
  memcpy(b, ok, sizeof(ok));
  b[7] = 0x80;
  ck_assert_int_eq(smart__pkt_decode(&p, b, sizeof(ok)), SMART_ERESERVED);
  /* FMT 3 is reserved. */
  memcpy(b, ok, sizeof(ok));
  b[6] = 0xc0;
  ck_assert_int_eq(smart__pkt_decode(&p, b, sizeof(ok)), SMART_EFORMAT);
  /* Unknown CMD for each message TYP. */
  static const uint8_t bad_cmds[] = {0x40, 0x44, 0x4a, 0x4c, 0x4f, 0x51, 0x7f,
                                     0x80, 0x84, 0xbf, 0xc0, 0xc3, 0xff};
  for (size_t i = 0; i < ARRAY_LEN(bad_cmds); i++) {
    uint8_t m[12] = {0x53, bad_cmds[i], 0, 12};
    ck_assert_int_eq(smart__pkt_decode(&p, m, 12), SMART_ECMD);
  }
  /* QUIET's unlabelled low 16 bits must be zero. */
  uint8_t q[12] = {0x53, 0x82, 0, 12, 239, 255, 0, 1, 0, 100, 0, 1};
  ck_assert_int_eq(smart__pkt_decode(&p, q, 12), SMART_ERESERVED);
  /* Extensions: header cut short, value overrunning, type 0, unknown critical,
   * AUTH not last. */
  uint8_t m[32] = {0x53, 0x41, 0, 0, 239, 255, 0, 1, 239, 255, 0, 2};
  const struct {
    uint8_t bytes[12];
    size_t n;
  } bad_ext[] = {
      {{0x00, 0x02, 0x00}, 3},
      {{0x00, 0x02, 0x00, 0x05, 1, 2, 3, 4}, 8},
      {{0x00, 0x00, 0x00, 0x00}, 4},
      {{0x80, 0x07, 0x00, 0x00}, 4},
      {{0xff, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00}, 8},
  };
  for (size_t i = 0; i < ARRAY_LEN(bad_ext); i++) {
    memcpy(m + 12, bad_ext[i].bytes, bad_ext[i].n);
    m[3] = (uint8_t)(12 + bad_ext[i].n);
    ck_assert_int_eq(smart__pkt_decode(&p, m, 12 + bad_ext[i].n), SMART_EEXT);
  }
  /* An unknown non-critical extension is skipped. */
  const uint8_t skip[] = {0x12, 0x34, 0x00, 0x01, 0x99};
  memcpy(m + 12, skip, sizeof(skip));
  m[3] = 12 + sizeof(skip);
  p = decode_ok(m, 12 + sizeof(skip));
  ck_assert_uint_eq(p.ext_len, sizeof(skip));
  /* Fragment framing. */
  uint8_t f[20] = {0x53, 0x00, 0, 0, 0, 1, 0x40, 0};
  const struct {
    uint32_t total, off;
    size_t n;
  } bad_frag[] = {{0, 0, 1}, {4, 4, 1}, {4, 3, 2}, {4, 0, 0}, {5, 0, 6}};
  for (size_t i = 0; i < ARRAY_LEN(bad_frag); i++) {
    smart__frag_hdr_write(f + 8, bad_frag[i].total, bad_frag[i].off);
    size_t n = 16 + bad_frag[i].n;
    f[3] = (uint8_t)n;
    ck_assert_int_eq(smart__pkt_decode(&p, f, n), SMART_EFORMAT);
  }
  f[3] = 12;
  ck_assert_int_eq(smart__pkt_decode(&p, f, 12), SMART_EFORMAT);
  /* Heartbeat too short, or with a fragment format. */
  uint8_t h[40] = {0x53, 0x20, 0, 39, 0, 0, 0, 0};
  ck_assert_int_eq(smart__pkt_decode(&p, h, 39), SMART_EFORMAT);
  h[3] = 40;
  h[6] = 0x40;
  ck_assert_int_eq(smart__pkt_decode(&p, h, 40), SMART_EFORMAT);
  h[6] = 0;
  decode_ok(h, 40);
}
END_TEST

START_TEST(encode_rejects_bad_fields) {
  struct smart__pkt p;
  uint8_t out[64];
  memset(&p, 0, sizeof(p));
  p.typ = 1;
  p.cmd = 9; /* no such message */
  ck_assert_int_eq(smart__pkt_encode(out, sizeof(out), &p), SMART_EINVAL);
  p.typ = 0;
  p.cmd = 0;
  p.u.data.quiet = 16;
  ck_assert_int_eq(smart__pkt_encode(out, sizeof(out), &p), SMART_EINVAL);
  p.u.data.quiet = 0;
  p.u.data.fmt = 4;
  ck_assert_int_eq(smart__pkt_encode(out, sizeof(out), &p), SMART_EINVAL);
  p.u.data.fmt = 0;
  p.u.data.payload_len = 65535 - 7; /* one byte over the 16-bit Packet Size */
  p.u.data.payload = out;
  ck_assert_int_eq(smart__pkt_encode(out, sizeof(out), &p), SMART_EINVAL);
  ck_assert_int_eq(smart__pkt_encode(NULL, 0, NULL), SMART_EINVAL);
  size_t off = 0;
  ck_assert_int_eq(smart__ext_put(out, 5, &off, 2, "abcd", 4), SMART_ENOBUF);
  ck_assert_int_eq(smart__ext_put(out, 64, &off, 0, "abcd", 4), SMART_EINVAL);
  ck_assert_uint_eq(off, 0);
}
END_TEST

/* ---- Serial arithmetic ------------------------------------------------ */

START_TEST(serial_compare) {
  ck_assert(smart__seq16_lt(0, 1));
  ck_assert(!smart__seq16_lt(1, 0));
  ck_assert(!smart__seq16_lt(5, 5));
  ck_assert(smart__seq16_lt(65535, 0)); /* across the wrap */
  ck_assert(smart__seq16_lt(65000, 100));
  ck_assert(smart__seq16_gt(100, 65000));
  ck_assert(smart__seq16_lt(0, 32767));
  ck_assert(!smart__seq16_lt(0, 32768)); /* exactly 2^15: undefined, neither */
  ck_assert(!smart__seq16_lt(32768, 0));
  ck_assert(smart__seq16_lt(32769, 0));
  ck_assert_int_eq(smart__seq16_diff(65530, 5), 11);
  ck_assert_int_eq(smart__seq16_diff(5, 65530), -11);
  for (uint32_t a = 0; a < 65536; a += 97) {
    uint16_t x = (uint16_t)a;
    ck_assert(smart__seq16_lt(x, (uint16_t)(x + 1)));
    ck_assert(smart__seq16_lt(x, (uint16_t)(x + 32767)));
    ck_assert(smart__seq16_gt(x, (uint16_t)(x - 32767)));
  }
}
END_TEST

START_TEST(serial_expand) {
  /* RFC 9000 A.3's own example, scaled: expected 0xa82f30ea with 16 bits
   * 0x9b32 decodes to 0xa82f9b32. */
  ck_assert_uint_eq(smart__seq_expand(0xa82f30ea, 0x9b32), 0xa82f9b32);
  /* Around the first wrap. */
  ck_assert_uint_eq(smart__seq_expand(65535, 0), 65536);
  ck_assert_uint_eq(smart__seq_expand(65536, 65535), 65535);
  ck_assert_uint_eq(smart__seq_expand(65530, 10), 65546);
  ck_assert_uint_eq(smart__seq_expand(65546, 65530), 65530);
  /* Near zero nothing goes negative. */
  ck_assert_uint_eq(smart__seq_expand(0, 65535), 65535);
  ck_assert_uint_eq(smart__seq_expand(3, 1), 1);
  /* Exhaustive: every value within +-2^15 of many expected points decodes
   * back, through at least three wraps. */
  for (uint64_t e = 40000; e < 4 * 65536 + 40000; e += 4093) {
    for (int64_t d = -32767; d <= 32768; d += 13) {
      if ((int64_t)e + d < 0)
        continue;
      uint64_t s = (uint64_t)((int64_t)e + d);
      ck_assert_uint_eq(smart__seq_expand(e, (uint16_t)s), s);
    }
  }
  /* Near the top of the 64-bit space nothing wraps around. */
  uint64_t top = UINT64_MAX - 10;
  ck_assert_uint_eq(smart__seq_expand(top, (uint16_t)(top - 5)), top - 5);
}
END_TEST

START_TEST(errors_have_text) {
  for (int e = -1; e > SMART_ERR_LAST; e--) {
    ck_assert_str_ne(smart_strerror(e), "unknown error");
    ck_assert_ptr_nonnull(strstr(smart_err_name(e), "SMART_E"));
  }
  ck_assert_str_eq(smart_strerror(1234), "unknown error");
  ck_assert_str_eq(smart_err_name(SMART_EAGAIN), "SMART_EAGAIN");
  ck_assert_str_eq(smart_version(), SMART_VERSION_STR);
  ck_assert_uint_eq(smart_version_num(), SMART_VERSION_NUM);
}
END_TEST

static Suite *wire_suite(void) {
  Suite *s = suite_create("wire");
  TCase *t = tcase_create("codec");
  tcase_add_test(t, kat_data_plain);
  tcase_add_test(t, kat_data_bits);
  tcase_add_test(t, kat_data_d_bit);
  tcase_add_loop_test(t, kat_messages, 0, (int)ARRAY_LEN(msg_vecs));
  tcase_add_test(t, roundtrip_all_kinds);
  tcase_add_test(t, roundtrip_data_every_field);
  tcase_add_test(t, roundtrip_heartbeat_confirm_pack);
  tcase_add_test(t, kat_ackreq_and_position);
  tcase_add_test(t, malformed_classes);
  tcase_add_test(t, encode_rejects_bad_fields);
  tcase_add_test(t, kat_cc_heartbeat_and_ccfb);
  tcase_add_test(t, serial_compare);
  tcase_add_test(t, serial_expand);
  tcase_add_test(t, errors_have_text);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(wire_suite());
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
