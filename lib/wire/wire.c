/*
 * SMART wire codec. Layouts: the seed's packet diagrams ("Experimental SMART
 * Protocol Structure"); decisions where the seed is silent: smart-protocol(7).
 */
#include "wire.h"

#include <string.h>

#include "util/bytes.h"

static const char *const kind_names[SMART__K_COUNT] = {
    [SMART__K_NONE] = "?",
    [SMART__K_DATA] = "DATA",
    [SMART__K_ADDR_RANGE_CHANGE] = "ADDR_RANGE_CHANGE",
    [SMART__K_USAGE_JOIN] = "USAGE_REPORT_JOIN",
    [SMART__K_USAGE_LEAVE] = "USAGE_REPORT_LEAVE",
    [SMART__K_ERROR_REPORT] = "ERROR_REPORT",
    [SMART__K_PROBLEM_REPORT] = "PROBLEM_REPORT",
    [SMART__K_REPLACEMENT] = "REPLACEMENT",
    [SMART__K_QUIET] = "QUIET",
    [SMART__K_REQUEST_TUNNEL] = "REQUEST_TUNNEL",
    [SMART__K_LEAVE_TUNNEL] = "LEAVE_TUNNEL",
    [SMART__K_KEY_DELIVERY] = "KEY_DELIVERY",
    [SMART__K_MANIFEST] = "MANIFEST",
    [SMART__K_STATUS] = "STATUS",
};

const char *smart__kind_name(int kind) {
  if (kind <= SMART__K_NONE || kind >= SMART__K_COUNT)
    return "?";
  return kind_names[kind];
}

int smart__pkt_kind(unsigned typ, unsigned cmd) {
  switch (typ) {
  case SMART__TYP_DATA:
    return cmd <= 3 ? SMART__K_DATA : SMART__K_NONE;
  case SMART__TYP_MSG:
    switch (cmd) {
    case SMART__MSG_ADDR_RANGE_CHANGE:
      return SMART__K_ADDR_RANGE_CHANGE;
    case SMART__MSG_USAGE_JOIN:
      return SMART__K_USAGE_JOIN;
    case SMART__MSG_USAGE_LEAVE:
      return SMART__K_USAGE_LEAVE;
    case SMART__MSG_ERROR_REPORT:
      return SMART__K_ERROR_REPORT;
    case SMART__MSG_PROBLEM_REPORT:
      return SMART__K_PROBLEM_REPORT;
    case SMART__MSG_KEY_DELIVERY:
      return SMART__K_KEY_DELIVERY;
    case SMART__MSG_MANIFEST:
      return SMART__K_MANIFEST;
    }
    return SMART__K_NONE;
  case SMART__TYP_REQ:
    if (cmd == SMART__REQ_REPLACEMENT)
      return SMART__K_REPLACEMENT;
    if (cmd == SMART__REQ_QUIET)
      return SMART__K_QUIET;
    if (cmd == SMART__REQ_STATUS)
      return SMART__K_STATUS;
    return SMART__K_NONE;
  case SMART__TYP_TUNNEL:
    if (cmd == SMART__TUN_REQUEST)
      return SMART__K_REQUEST_TUNNEL;
    if (cmd == SMART__TUN_LEAVE)
      return SMART__K_LEAVE_TUNNEL;
    return SMART__K_NONE;
  }
  return SMART__K_NONE;
}

/* Base layout length (header included) of a message kind. */
static size_t base_len(int kind) {
  switch (kind) {
  case SMART__K_DATA:
    return SMART__DATA_HDR_LEN;
  case SMART__K_ERROR_REPORT:
  case SMART__K_PROBLEM_REPORT:
    return SMART__REPORT_MSG_LEN;
  case SMART__K_REPLACEMENT:
  case SMART__K_QUIET:
  case SMART__K_STATUS:
    return SMART__REQ_MSG_LEN;
  default:
    return SMART__ADDR_MSG_LEN;
  }
}

/* ---- Extensions ------------------------------------------------------- */

int smart__ext_check(const uint8_t *ext, size_t len) {
  size_t off = 0;
  while (off < len) {
    if (len - off < SMART__EXT_HDR_LEN)
      return SMART_EEXT;
    uint16_t type = smart__get16(ext + off);
    size_t vlen = smart__get16(ext + off + 2);
    if (type == 0 || len - off - SMART__EXT_HDR_LEN < vlen)
      return SMART_EEXT;
    off += SMART__EXT_HDR_LEN + vlen;
    switch (type) {
    case SMART__EXT_ADDR6:
    case SMART__EXT_SESSION:
    case SMART__EXT_NAKLIST:
    case SMART__EXT_PORT:
    case SMART__EXT_KEYREQ:
    case SMART__EXT_KEYDELIV:
    case SMART__EXT_KEYBIND:
    case SMART__EXT_MANIFEST:
      break;
    case SMART__EXT_AUTH:
      if (off != len) /* the secure trailer must come last */
        return SMART_EEXT;
      break;
    default:
      if (type & SMART__EXT_CRITICAL)
        return SMART_EEXT;
    }
  }
  return 0;
}

void smart__ext_iter_init(struct smart__ext_iter *it, const uint8_t *ext,
                          size_t len) {
  it->p = ext;
  it->left = ext ? len : 0;
}

int smart__ext_next(struct smart__ext_iter *it, uint16_t *type,
                    const uint8_t **val, size_t *vlen) {
  if (it->left < SMART__EXT_HDR_LEN)
    return 0;
  size_t l = smart__get16(it->p + 2);
  if (it->left - SMART__EXT_HDR_LEN < l)
    return 0;
  *type = smart__get16(it->p);
  *val = it->p + SMART__EXT_HDR_LEN;
  *vlen = l;
  it->p += SMART__EXT_HDR_LEN + l;
  it->left -= SMART__EXT_HDR_LEN + l;
  return 1;
}

int smart__ext_find(const uint8_t *ext, size_t len, uint16_t type,
                    const uint8_t **val, size_t *vlen) {
  struct smart__ext_iter it;
  uint16_t t;
  smart__ext_iter_init(&it, ext, len);
  while (smart__ext_next(&it, &t, val, vlen))
    if (t == type)
      return 1;
  return 0;
}

int smart__ext_put(uint8_t *out, size_t outlen, size_t *off, uint16_t type,
                   const void *val, size_t vlen) {
  if (type == 0 || vlen > 0xFFFFu || (vlen && !val))
    return SMART_EINVAL;
  if (*off > outlen || outlen - *off < SMART__EXT_HDR_LEN + vlen)
    return SMART_ENOBUF;
  smart__put16(out + *off, type);
  smart__put16(out + *off + 2, (uint16_t)vlen);
  if (vlen)
    memcpy(out + *off + SMART__EXT_HDR_LEN, val, vlen);
  *off += SMART__EXT_HDR_LEN + vlen;
  return 0;
}

/* ---- DATA bodies ------------------------------------------------------ */

int smart__frag_decode(struct smart__frag *f, const uint8_t *p, size_t len) {
  if (len < SMART__FRAG_HDR_LEN)
    return SMART_EFORMAT;
  f->msg_len = smart__get32(p);
  f->offset = smart__get32(p + 4);
  f->bytes = p + SMART__FRAG_HDR_LEN;
  f->len = len - SMART__FRAG_HDR_LEN;
  /* A fragment carries at least one byte and lies inside its message. */
  if (f->len == 0 || f->offset >= f->msg_len ||
      f->len > (size_t)(f->msg_len - f->offset))
    return SMART_EFORMAT;
  return 0;
}

void smart__frag_hdr_write(uint8_t *out, uint32_t msg_len, uint32_t offset) {
  smart__put32(out, msg_len);
  smart__put32(out + 4, offset);
}

int smart__pack_check(const uint8_t *p, size_t len) {
  int n = 0;
  size_t off = 0;
  if (len == 0)
    return SMART_EFORMAT;
  while (off < len) {
    if (len - off < SMART__PACK_ENTRY_HDR)
      return SMART_EFORMAT;
    size_t l = smart__get16(p + off);
    off += SMART__PACK_ENTRY_HDR;
    if (len - off < l)
      return SMART_EFORMAT;
    off += l;
    n++;
  }
  return n;
}

void smart__pack_iter_init(struct smart__pack_iter *it, const uint8_t *p,
                           size_t len) {
  it->p = p;
  it->left = len;
}

int smart__pack_next(struct smart__pack_iter *it, const uint8_t **msg,
                     size_t *len) {
  if (it->left < SMART__PACK_ENTRY_HDR)
    return 0;
  size_t l = smart__get16(it->p);
  if (it->left - SMART__PACK_ENTRY_HDR < l)
    return 0;
  *msg = it->p + SMART__PACK_ENTRY_HDR;
  *len = l;
  it->p += SMART__PACK_ENTRY_HDR + l;
  it->left -= SMART__PACK_ENTRY_HDR + l;
  return 1;
}

int smart__hb_decode(struct smart__hb *hb, const uint8_t *p, size_t len) {
  if (len < SMART__HB_LEN)
    return SMART_EFORMAT;
  hb->session = smart__get32(p);
  hb->lead = smart__get64(p + 4);
  hb->trail = smart__get64(p + 12);
  hb->grtt_us = smart__get32(p + 20);
  hb->gsize = smart__get32(p + 24);
  hb->k = p[28];
  hb->flags = p[29];
  hb->watermark = 0;
  hb->stamp = 0;
  hb->cc_n = 0;
  /* The repairable window never runs ahead of what was sent. */
  if (hb->trail > hb->lead)
    return SMART_EFORMAT;
  if (hb->flags & (SMART__HB_ACKREQ | SMART__HB_CC)) {
    /* The request's fields follow; without them the flags are ignored. */
    if (len < SMART__HB_LEN + SMART__HB_EXT_LEN) {
      hb->flags &= (uint8_t)~(SMART__HB_ACKREQ | SMART__HB_CC);
    } else {
      hb->stamp = smart__get32(p + 40);
      if (hb->flags & SMART__HB_ACKREQ) {
        hb->watermark = smart__get64(p + 32);
        if (hb->watermark > hb->lead)
          return SMART_EFORMAT;
      }
    }
  }
  if (hb->flags & SMART__HB_CC) {
    const uint8_t *c = p + SMART__HB_LEN + SMART__HB_EXT_LEN;
    size_t left = len - SMART__HB_LEN - SMART__HB_EXT_LEN;
    if (left < SMART__HB_CC_LEN || left - SMART__HB_CC_LEN < (size_t)c[29] * SMART__HB_CC_ECHO_LEN) {
      hb->flags &= (uint8_t)~SMART__HB_CC; /* the block is not all there */
      return 0;
    }
    hb->cc_rate = smart__get64(c);
    hb->cc_supp = smart__get64(c + 8);
    hb->cc_clr = smart__get32(c + 16);
    hb->cc_supp_tag = smart__get32(c + 20);
    hb->cc_round = smart__get16(c + 24);
    hb->cc_seg = smart__get16(c + 26);
    hb->cc_flags = c[28];
    unsigned n = c[29];
    if (n > SMART__HB_CC_ECHOES)
      n = SMART__HB_CC_ECHOES; /* the rest is ignored */
    for (unsigned i = 0; i < n; i++) {
      hb->cc_tag[i] = smart__get32(c + SMART__HB_CC_LEN + i * SMART__HB_CC_ECHO_LEN);
      hb->cc_rtt_us[i] = smart__get32(c + SMART__HB_CC_LEN + i * SMART__HB_CC_ECHO_LEN + 4);
    }
    hb->cc_n = (uint8_t)n;
  }
  return 0;
}

size_t smart__hb_encode(uint8_t *out, const struct smart__hb *hb) {
  smart__put32(out, hb->session);
  smart__put64(out + 4, hb->lead);
  smart__put64(out + 12, hb->trail);
  smart__put32(out + 20, hb->grtt_us);
  smart__put32(out + 24, hb->gsize);
  out[28] = hb->k;
  out[29] = hb->flags;
  out[30] = out[31] = 0;
  if (!(hb->flags & (SMART__HB_ACKREQ | SMART__HB_CC)))
    return SMART__HB_LEN;
  smart__put64(out + 32, (hb->flags & SMART__HB_ACKREQ) ? hb->watermark : 0);
  smart__put32(out + 40, hb->stamp);
  if (!(hb->flags & SMART__HB_CC))
    return SMART__HB_LEN + SMART__HB_EXT_LEN;
  uint8_t *c = out + SMART__HB_LEN + SMART__HB_EXT_LEN;
  unsigned n = hb->cc_n < SMART__HB_CC_ECHOES ? hb->cc_n : SMART__HB_CC_ECHOES;
  smart__put64(c, hb->cc_rate);
  smart__put64(c + 8, hb->cc_supp);
  smart__put32(c + 16, hb->cc_clr);
  smart__put32(c + 20, hb->cc_supp_tag);
  smart__put16(c + 24, hb->cc_round);
  smart__put16(c + 26, hb->cc_seg);
  c[28] = hb->cc_flags;
  c[29] = (uint8_t)n;
  c[30] = c[31] = 0;
  for (unsigned i = 0; i < n; i++) {
    smart__put32(c + SMART__HB_CC_LEN + i * SMART__HB_CC_ECHO_LEN, hb->cc_tag[i]);
    smart__put32(c + SMART__HB_CC_LEN + i * SMART__HB_CC_ECHO_LEN + 4, hb->cc_rtt_us[i]);
  }
  return SMART__HB_LEN + SMART__HB_EXT_LEN + SMART__HB_CC_LEN + n * SMART__HB_CC_ECHO_LEN;
}

int smart__pos_decode(struct smart__pos *ps, const uint8_t *v, size_t len) {
  if (len < SMART__POS_LEN)
    return SMART_EFORMAT;
  ps->position = smart__get64(v);
  ps->echo = smart__get32(v + 8);
  ps->delay_us = smart__get32(v + 12);
  ps->flags = v[16];
  return 0;
}

void smart__pos_encode(uint8_t out[SMART__POS_LEN], const struct smart__pos *ps) {
  smart__put64(out, ps->position);
  smart__put32(out + 8, ps->echo);
  smart__put32(out + 12, ps->delay_us);
  out[16] = ps->flags;
  out[17] = out[18] = out[19] = 0;
}

int smart__ccfb_decode(struct smart__ccfb *f, const uint8_t *v, size_t len) {
  if (len < SMART__CCFB_LEN)
    return SMART_EFORMAT;
  f->tag = smart__get32(v);
  f->loss = smart__get32(v + 4);
  f->recv = smart__get64(v + 8);
  f->rate = smart__get64(v + 16);
  f->rtt_us = smart__get32(v + 24);
  f->flags = v[28];
  f->events = v[29];
  return f->tag ? 0 : SMART_EFORMAT;
}

void smart__ccfb_encode(uint8_t out[SMART__CCFB_LEN], const struct smart__ccfb *f) {
  smart__put32(out, f->tag);
  smart__put32(out + 4, f->loss);
  smart__put64(out + 8, f->recv);
  smart__put64(out + 16, f->rate);
  smart__put32(out + 24, f->rtt_us);
  out[28] = f->flags;
  out[29] = f->events;
  out[30] = out[31] = 0;
}

int smart__conf_decode(struct smart__conf *c, const uint8_t *p, size_t len) {
  if (len < SMART__CONF_HDR_LEN)
    return SMART_EFORMAT;
  c->session = smart__get32(p);
  c->kind = p[4];
  c->count = p[5];
  c->lead = smart__get64(p + 8);
  c->trail = smart__get64(p + 16);
  c->ranges = p + SMART__CONF_HDR_LEN;
  if (c->kind != SMART__CONF_PENDING && c->kind != SMART__CONF_UNAVAILABLE)
    return SMART_EFORMAT;
  if (c->trail > c->lead)
    return SMART_EFORMAT;
  if ((len - SMART__CONF_HDR_LEN) / SMART__CONF_RANGE_LEN < c->count)
    return SMART_EFORMAT;
  for (unsigned i = 0; i < c->count; i++)
    if (smart__get32(c->ranges + i * SMART__CONF_RANGE_LEN + 8) == 0)
      return SMART_EFORMAT;
  return 0;
}

void smart__conf_range(const struct smart__conf *c, unsigned i, uint64_t *start,
                       uint32_t *n) {
  const uint8_t *r = c->ranges + (size_t)i * SMART__CONF_RANGE_LEN;
  *start = smart__get64(r);
  *n = smart__get32(r + 8);
}

smart_ssize smart__conf_encode(uint8_t *out, size_t outlen, uint32_t session,
                               unsigned kind, uint64_t lead, uint64_t trail,
                               const uint64_t *starts, const uint32_t *lens,
                               unsigned count) {
  if (count > 255)
    return SMART_EINVAL;
  size_t need = SMART__CONF_HDR_LEN + (size_t)count * SMART__CONF_RANGE_LEN;
  if (outlen < need)
    return SMART_ENOBUF;
  smart__put32(out, session);
  out[4] = (uint8_t)kind;
  out[5] = (uint8_t)count;
  out[6] = out[7] = 0;
  smart__put64(out + 8, lead);
  smart__put64(out + 16, trail);
  for (unsigned i = 0; i < count; i++) {
    uint8_t *r = out + SMART__CONF_HDR_LEN + (size_t)i * SMART__CONF_RANGE_LEN;
    smart__put64(r, starts[i]);
    smart__put32(r + 8, lens[i]);
  }
  return (smart_ssize)need;
}

/* Payload framing check of a DATA packet (see "DATA formats"). */
static int data_payload_check(const struct smart__pkt *pkt) {
  const uint8_t *p = pkt->u.data.payload;
  size_t len = pkt->u.data.payload_len;
  unsigned fmt = pkt->u.data.fmt;
  if (fmt == SMART__FMT_EXT)
    return SMART_EFORMAT;
  if (pkt->u.data.d) /* secure envelope: opaque here, but has its frame */
    return len >= SMART__ENV_HDR_LEN + SMART__ENV_TAG_LEN ? 0 : SMART_EFORMAT;
  switch (pkt->cmd) {
  case SMART__DCMD_HEARTBEAT: {
    struct smart__hb hb;
    return fmt == SMART__FMT_WHOLE ? smart__hb_decode(&hb, p, len)
                                   : SMART_EFORMAT;
  }
  case SMART__DCMD_CONFIRM: {
    struct smart__conf c;
    return fmt == SMART__FMT_WHOLE ? smart__conf_decode(&c, p, len)
                                   : SMART_EFORMAT;
  }
  default:
    if (fmt == SMART__FMT_FRAG) {
      struct smart__frag f;
      return smart__frag_decode(&f, p, len);
    }
    if (fmt == SMART__FMT_PACK) {
      int n = smart__pack_check(p, len);
      return n < 0 ? n : 0;
    }
    return 0;
  }
}

/* ---- Packets ---------------------------------------------------------- */

int smart__pkt_decode(struct smart__pkt *pkt, const uint8_t *in, size_t inlen) {
  if (!pkt || (!in && inlen))
    return SMART_EINVAL;
  memset(pkt, 0, sizeof(*pkt));
  if (inlen < SMART__HDR_LEN)
    return SMART_ETRUNC;
  pkt->sync = in[0];
  pkt->typ = (uint8_t)(in[1] >> 6);
  pkt->size = smart__get16(in + 2);
  if (pkt->size != inlen)
    return SMART_ESIZE;
  if (pkt->typ == SMART__TYP_DATA) {
    pkt->cmd = (uint8_t)((in[1] >> 4) & 3);
    if (in[1] & 0x0F)
      return SMART_ERESERVED;
  } else {
    pkt->cmd = (uint8_t)(in[1] & 0x3F);
  }
  int kind = smart__pkt_kind(pkt->typ, pkt->cmd);
  if (kind == SMART__K_NONE)
    return SMART_ECMD;
  pkt->kind = (uint8_t)kind;
  size_t base = base_len(kind);
  if (inlen < base)
    return SMART_ETRUNC;
  const uint8_t *b = in + SMART__HDR_LEN;
  switch (kind) {
  case SMART__K_DATA:
    pkt->u.data.seq = smart__get16(b);
    pkt->u.data.fmt = (uint8_t)(b[2] >> 6);
    pkt->u.data.d = (uint8_t)((b[2] >> 5) & 1);
    pkt->u.data.quiet = (uint8_t)((b[2] >> 1) & 0x0F);
    pkt->u.data.r = (uint8_t)(b[2] & 1);
    if (b[3] != 0)
      return SMART_ERESERVED;
    pkt->u.data.payload = in + base;
    pkt->u.data.payload_len = inlen - base;
    return data_payload_check(pkt);
  case SMART__K_ERROR_REPORT:
  case SMART__K_PROBLEM_REPORT:
    pkt->u.report.reporter = smart__get32(b);
    pkt->u.report.concerning = smart__get32(b + 4);
    for (int i = 0; i < 3; i++)
      pkt->u.report.data[i] = smart__get32(b + 8 + 4 * i);
    break;
  case SMART__K_REPLACEMENT:
  case SMART__K_STATUS:
    pkt->u.repl.group = smart__get32(b);
    pkt->u.repl.seq = smart__get16(b + 4);
    pkt->u.repl.extra = smart__get16(b + 6);
    break;
  case SMART__K_QUIET:
    pkt->u.quiet.group = smart__get32(b);
    pkt->u.quiet.duration = smart__get16(b + 4);
    pkt->u.quiet.rsvd = smart__get16(b + 6);
    if (pkt->u.quiet.rsvd != 0)
      return SMART_ERESERVED;
    break;
  default:
    pkt->u.addr.addr1 = smart__get32(b);
    pkt->u.addr.addr2 = smart__get32(b + 4);
    break;
  }
  if (inlen > base) {
    pkt->ext = in + base;
    pkt->ext_len = inlen - base;
    return smart__ext_check(pkt->ext, pkt->ext_len);
  }
  return 0;
}

smart_ssize smart__data_hdr_write(uint8_t *out, uint8_t sync, unsigned cmd,
                                  uint16_t seq, unsigned fmt, unsigned d,
                                  unsigned quiet, size_t payload_len) {
  if (cmd > 3 || fmt > 3 || d > 1 || quiet > 15 ||
      payload_len > SMART__MAX_DGRAM - SMART__DATA_HDR_LEN)
    return SMART_EINVAL;
  out[0] = sync;
  out[1] = (uint8_t)(SMART__TYP_DATA << 6 | cmd << 4);
  smart__put16(out + 2, (uint16_t)(SMART__DATA_HDR_LEN + payload_len));
  smart__put16(out + 4, seq);
  out[6] = (uint8_t)(fmt << 6 | d << 5 | quiet << 1);
  out[7] = 0;
  return SMART__DATA_HDR_LEN;
}

smart_ssize smart__pkt_encode(uint8_t *out, size_t outlen,
                              const struct smart__pkt *pkt) {
  if (!pkt || (!out && outlen) || pkt->typ > 3)
    return SMART_EINVAL;
  int kind = smart__pkt_kind(pkt->typ, pkt->cmd);
  if (kind == SMART__K_NONE)
    return SMART_EINVAL;
  size_t base = base_len(kind);
  size_t body = kind == SMART__K_DATA ? pkt->u.data.payload_len : pkt->ext_len;
  if (body > SMART__MAX_DGRAM - base)
    return SMART_EINVAL;
  if (kind == SMART__K_DATA) {
    if (pkt->u.data.r > 1 || (body && !pkt->u.data.payload))
      return SMART_EINVAL;
  } else if (pkt->ext_len && (!pkt->ext ||
                              smart__ext_check(pkt->ext, pkt->ext_len) != 0)) {
    return SMART_EINVAL;
  }
  if (outlen < base + body)
    return SMART_ENOBUF;
  uint8_t *b = out + SMART__HDR_LEN;
  out[0] = pkt->sync;
  smart__put16(out + 2, (uint16_t)(base + body));
  switch (kind) {
  case SMART__K_DATA: {
    smart_ssize r = smart__data_hdr_write(out, pkt->sync, pkt->cmd,
                                          pkt->u.data.seq, pkt->u.data.fmt,
                                          pkt->u.data.d, pkt->u.data.quiet, body);
    if (r < 0)
      return r;
    out[6] |= pkt->u.data.r;
    if (body)
      memmove(out + base, pkt->u.data.payload, body);
    return (smart_ssize)(base + body);
  }
  case SMART__K_ERROR_REPORT:
  case SMART__K_PROBLEM_REPORT:
    smart__put32(b, pkt->u.report.reporter);
    smart__put32(b + 4, pkt->u.report.concerning);
    for (int i = 0; i < 3; i++)
      smart__put32(b + 8 + 4 * i, pkt->u.report.data[i]);
    break;
  case SMART__K_REPLACEMENT:
  case SMART__K_STATUS:
    smart__put32(b, pkt->u.repl.group);
    smart__put16(b + 4, pkt->u.repl.seq);
    smart__put16(b + 6, pkt->u.repl.extra);
    break;
  case SMART__K_QUIET:
    if (pkt->u.quiet.rsvd)
      return SMART_EINVAL;
    smart__put32(b, pkt->u.quiet.group);
    smart__put16(b + 4, pkt->u.quiet.duration);
    smart__put16(b + 6, 0);
    break;
  default:
    smart__put32(b, pkt->u.addr.addr1);
    smart__put32(b + 4, pkt->u.addr.addr2);
    break;
  }
  out[1] = (uint8_t)(pkt->typ << 6 | (pkt->cmd & 0x3F));
  if (body)
    memmove(out + base, pkt->ext, body);
  return (smart_ssize)(base + body);
}

/* RFC 9000 appendix A.3, with a 16-bit truncated number. */
uint64_t smart__seq_expand(uint64_t expected, uint16_t wire) {
  const uint64_t win = UINT64_C(1) << 16, hwin = win / 2, mask = win - 1;
  uint64_t cand = (expected & ~mask) | wire;
  if (expected >= hwin && cand <= expected - hwin &&
      cand <= UINT64_MAX - win)
    return cand + win;
  if (cand > expected + hwin && cand >= win && expected <= UINT64_MAX - hwin)
    return cand - win;
  return cand;
}
