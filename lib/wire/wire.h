/*
 * Pure SMART wire codec: bytes <-> structs for every packet type of the seed.
 *
 * Contract for every function here: no allocation, no I/O, no clock, no global
 * state. Decoders never read outside [in, in + inlen); on success pointers in
 * the decoded struct point into `in` (zero copy) and stay valid as long as the
 * caller's buffer does. Encoders never write outside [out, out + outlen).
 *
 * The byte layouts are documented, with diagrams and test vectors, in
 * man/smart-protocol.7; section names below refer to that page.
 */
#ifndef SMART_WIRE_H
#define SMART_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "smart/smart.h"

/* The first 32-bit word shared by every packet. */
#define SMART__HDR_LEN 4u
/* DATA: header word + (Packet Sequence | FMT D QUIET R | RESERVED). */
#define SMART__DATA_HDR_LEN 8u
/* Base layouts (IPv4 form) of the message packets, header included. */
#define SMART__ADDR_MSG_LEN 12u   /* ADDR_RANGE_CHANGE, USAGE_*, *_TUNNEL */
#define SMART__REPORT_MSG_LEN 24u /* ERROR_REPORT, PROBLEM_REPORT */
#define SMART__REQ_MSG_LEN 12u    /* REPLACEMENT, QUIET */
#define SMART__MAX_DGRAM 65535u   /* Packet Size is 16 bits */

/* TYP (2 bits). */
enum {
  SMART__TYP_DATA = 0,
  SMART__TYP_MSG = 1,
  SMART__TYP_REQ = 2,
  SMART__TYP_TUNNEL = 3
};

/* CMD (6 bits) of the message types. */
enum {
  SMART__MSG_ADDR_RANGE_CHANGE = 0x01,
  SMART__MSG_USAGE_JOIN = 0x02,
  SMART__MSG_USAGE_LEAVE = 0x03,
  SMART__MSG_ERROR_REPORT = 0x0B,
  SMART__MSG_PROBLEM_REPORT = 0x10,
  SMART__MSG_KEY_DELIVERY = 0x20, /* libsmart: an epoch key for one member */
  SMART__MSG_MANIFEST = 0x21,     /* libsmart: signed digests of a sender's datagrams */
  SMART__REQ_REPLACEMENT = 0x01,
  SMART__REQ_QUIET = 0x02,
  SMART__REQ_STATUS = 0x03, /* libsmart: a receiver's delivery point */
  SMART__TUN_REQUEST = 0x01,
  SMART__TUN_LEAVE = 0x02
};

/* DATA CMD (2 bits). Decided in smart-protocol(7) "DATA commands". */
enum {
  SMART__DCMD_DATA = 0,      /* original transmission */
  SMART__DCMD_REPAIR = 1,    /* retransmission of a sequence already sent */
  SMART__DCMD_HEARTBEAT = 2, /* sender state; consumes no sequence */
  SMART__DCMD_CONFIRM = 3    /* sender's answer to requests (NCF / unavailable) */
};

/* DATA FMT (2 bits): how the (plaintext) payload is framed. */
enum {
  SMART__FMT_WHOLE = 0, /* exactly one whole message */
  SMART__FMT_FRAG = 1,  /* one fragment of a larger message */
  SMART__FMT_PACK = 2,  /* several small messages, each length-prefixed */
  SMART__FMT_EXT = 3    /* reserved for a future framing; rejected today */
};

/* Every packet kind, as smart-dump names them. 0 is "none". */
enum smart__kind {
  SMART__K_NONE = 0,
  SMART__K_DATA,
  SMART__K_ADDR_RANGE_CHANGE,
  SMART__K_USAGE_JOIN,
  SMART__K_USAGE_LEAVE,
  SMART__K_ERROR_REPORT,
  SMART__K_PROBLEM_REPORT,
  SMART__K_REPLACEMENT,
  SMART__K_QUIET,
  SMART__K_REQUEST_TUNNEL,
  SMART__K_LEAVE_TUNNEL,
  SMART__K_KEY_DELIVERY,
  SMART__K_MANIFEST,
  SMART__K_STATUS,
  SMART__K_COUNT
};

/* Extension types (TYP 1..3 packets carry extensions after the base layout).
 * Types with the top bit set are critical: a decoder that does not know one
 * rejects the packet (SMART_EEXT); unknown non-critical ones are skipped. */
enum {
  SMART__EXT_ADDR6 = 0x0001,    /* IPv6 form of the address fields */
  SMART__EXT_SESSION = 0x0002,  /* 32-bit session ID of the sender concerned */
  SMART__EXT_NAKLIST = 0x0003,  /* further (seq16, extra16) ranges */
  SMART__EXT_PORT = 0x0004,     /* UDP ports for the address fields */
  SMART__EXT_KEYREQ = 0x0005,   /* identity join: key, nonce, signature */
  SMART__EXT_KEYDELIV = 0x0006, /* sealed epoch key for one member, signed */
  SMART__EXT_MANIFEST = 0x0007, /* digests of datagrams, signed by the sender */
  SMART__EXT_POSITION = 0x0008, /* STATUS: delivery point, echo, flags */
  SMART__EXT_KEYBIND = 0x000B,  /* KEY_DELIVERY: 64-bit epoch, request echoed */
  SMART__EXT_CCFB = 0x000C,     /* STATUS: congestion-control feedback */
  SMART__EXT_AUTH = 0xFF00      /* secure trailer; must be the last extension */
};
#define SMART__EXT_CRITICAL 0x8000u
#define SMART__EXT_HDR_LEN 4u

/* A decoded packet. `kind` selects the member of `u` that is valid. */
struct smart__pkt {
  uint8_t sync;  /* Access Synch code */
  uint8_t typ;   /* 0..3 */
  uint8_t cmd;   /* 2-bit for DATA, 6-bit for the others */
  uint8_t kind;  /* enum smart__kind */
  uint16_t size; /* Packet Size (== datagram length after a decode) */
  union {
    struct {
      uint16_t seq;   /* Packet Sequence (low 16 bits of the 64-bit one) */
      uint8_t fmt;    /* 0..3 */
      uint8_t d;      /* 0/1: payload is a secure envelope */
      uint8_t quiet;  /* 0..15: feedback hold-off hint */
      uint8_t r;      /* 0/1: R bit: the stream's first sequence is still
                         repairable (smart-protocol(7)) */
      const uint8_t *payload;
      size_t payload_len;
    } data;
    struct {
      uint32_t addr1, addr2;
    } addr; /* ADDR_RANGE_CHANGE, USAGE_REPORT_*, REQUEST/LEAVE_TUNNEL */
    struct {
      uint32_t reporter, concerning;
      uint32_t data[3];
    } report; /* ERROR_REPORT, PROBLEM_REPORT */
    struct {
      uint32_t group;
      uint16_t seq;
      uint16_t extra; /* further consecutive sequences also requested */
    } repl; /* REPLACEMENT; also STATUS (seq: low 16 bits of the position,
               extra 0) */
    struct {
      uint32_t group;
      uint16_t duration; /* milliseconds */
      uint16_t rsvd;     /* reserved, zero */
    } quiet;
  } u;
  /* Extension area of TYP 1..3 packets (validated TLVs), else NULL/0. */
  const uint8_t *ext;
  size_t ext_len;
};

/*
 * Decode one datagram. Returns 0, or SMART_ETRUNC, SMART_ESIZE, SMART_ECMD,
 * SMART_ERESERVED, SMART_EFORMAT, SMART_EEXT, SMART_EINVAL (NULL arguments).
 * For DATA with D = 0 the payload framing of its FMT is validated too.
 */
int smart__pkt_decode(struct smart__pkt *pkt, const uint8_t *in, size_t inlen);

/*
 * Encode `pkt` (its size field is ignored and computed). For DATA the payload
 * bytes are copied from pkt->u.data.payload; for the others the extension
 * bytes from pkt->ext (which must be well-formed TLVs). Returns the number of
 * bytes written, or SMART_ENOBUF, SMART_EINVAL (bad field values or a result
 * over 65535 bytes).
 */
smart_ssize smart__pkt_encode(uint8_t *out, size_t outlen,
                              const struct smart__pkt *pkt);

/* The packet kind of (typ, cmd) or SMART__K_NONE. */
int smart__pkt_kind(unsigned typ, unsigned cmd);
/* "DATA", "QUIET", ... for a kind; "?" for none. */
const char *smart__kind_name(int kind);

/*
 * Hot path: write the 8-byte DATA header for a payload of `payload_len` bytes
 * that the caller places right after it. Returns 8 or SMART_EINVAL.
 */
smart_ssize smart__data_hdr_write(uint8_t *out, uint8_t sync, unsigned cmd,
                                  uint16_t seq, unsigned fmt, unsigned d,
                                  unsigned quiet, size_t payload_len);

/* ---- Extensions ------------------------------------------------------- */

struct smart__ext_iter {
  const uint8_t *p;
  size_t left;
};
/* Start iterating a validated extension area. */
void smart__ext_iter_init(struct smart__ext_iter *it, const uint8_t *ext,
                          size_t len);
/* Next extension: 1 and fills type/val/len, or 0 at the end. */
int smart__ext_next(struct smart__ext_iter *it, uint16_t *type,
                    const uint8_t **val, size_t *vlen);
/* Find the first extension of `type`: 1 if found. */
int smart__ext_find(const uint8_t *ext, size_t len, uint16_t type,
                    const uint8_t **val, size_t *vlen);
/* Append one extension at out[*off]; returns 0 or SMART_ENOBUF/SMART_EINVAL. */
int smart__ext_put(uint8_t *out, size_t outlen, size_t *off, uint16_t type,
                   const void *val, size_t vlen);
/* Validate a TLV area: 0, or SMART_EEXT. */
int smart__ext_check(const uint8_t *ext, size_t len);

/* ---- DATA payload bodies ---------------------------------------------- */

/* FMT 1 fragment header: Message Length (32) | Fragment Offset (32). */
#define SMART__FRAG_HDR_LEN 8u
struct smart__frag {
  uint32_t msg_len;
  uint32_t offset;
  const uint8_t *bytes;
  size_t len;
};
int smart__frag_decode(struct smart__frag *f, const uint8_t *p, size_t len);
void smart__frag_hdr_write(uint8_t *out, uint32_t msg_len, uint32_t offset);

/* FMT 2 packing: repeated { Length (16) | bytes }, filling the payload. */
#define SMART__PACK_ENTRY_HDR 2u
struct smart__pack_iter {
  const uint8_t *p;
  size_t left;
};
/* Validate a packed payload; returns the number of messages (>= 1) or
 * SMART_EFORMAT. */
int smart__pack_check(const uint8_t *p, size_t len);
void smart__pack_iter_init(struct smart__pack_iter *it, const uint8_t *p,
                           size_t len);
int smart__pack_next(struct smart__pack_iter *it, const uint8_t **msg,
                     size_t *len);

/* CMD 2 heartbeat body (32 bytes). */
#define SMART__HB_LEN 32u
/* With SMART__HB_ACKREQ or SMART__HB_CC: Watermark (64) | Timestamp (32)
 * follow (the Watermark is 0 and ignored without ACKREQ). */
#define SMART__HB_EXT_LEN 12u
/* With SMART__HB_CC, after those: Rate (64) | Suppression Rate (64) |
 * CLR Tag (32) | Suppression Tag (32) | Round (16) | Segment Size (16) |
 * CC Flags (8) | Count (8) | Reserved (16) | Count x { Tag (32) |
 * RTT us (32) }. */
#define SMART__HB_CC_LEN 32u
#define SMART__HB_CC_ECHO_LEN 8u
#define SMART__HB_CC_ECHOES 4u /* RTT echoes kept by the decoder, and sent */
enum {
  SMART__HB_ACKREQ = 0x01, /* receivers: report once you hold Watermark */
  SMART__HB_END = 0x02,    /* the stream ended: nothing at or after Lead */
  SMART__HB_START = 0x04,  /* nothing released yet: Trail is the stream's
                              first sequence */
  SMART__HB_CC = 0x08      /* congestion control: Timestamp and the CC
                              block follow */
};
enum { SMART__CC_F_SLOWSTART = 0x01 };
struct smart__hb {
  uint32_t session;   /* sender's random session ID */
  uint64_t lead;      /* next sequence the sender will use */
  uint64_t trail;     /* oldest sequence still repairable */
  uint32_t grtt_us;   /* group round-trip time estimate, microseconds */
  uint32_t gsize;     /* group size estimate */
  uint8_t k;          /* NAK timer scale: requests spread over [0, k*GRTT] */
  uint8_t flags;      /* SMART__HB_* */
  uint64_t watermark; /* SMART__HB_ACKREQ: report when holding all below */
  uint32_t stamp;     /* SMART__HB_ACKREQ or _CC: sender's clock, microseconds */
  /* SMART__HB_CC */
  uint64_t cc_rate;   /* the sender's allowed rate, bytes/s */
  uint64_t cc_supp;   /* the lowest rate reported in this feedback round */
  uint32_t cc_clr;    /* the current limiting receiver's tag (0: none) */
  uint32_t cc_supp_tag; /* the tag of the report that set cc_supp (0: none) */
  uint16_t cc_round;  /* feedback round */
  uint16_t cc_seg;    /* segment size of the rate equation, bytes */
  uint8_t cc_flags;   /* SMART__CC_F_* */
  uint8_t cc_n;       /* RTT echoes below (at most SMART__HB_CC_ECHOES) */
  uint32_t cc_tag[SMART__HB_CC_ECHOES];    /* a receiver's tag ... */
  uint32_t cc_rtt_us[SMART__HB_CC_ECHOES]; /* ... and its round trip */
};
int smart__hb_decode(struct smart__hb *hb, const uint8_t *p, size_t len);
/* Writes SMART__HB_LEN bytes, plus SMART__HB_EXT_LEN with ACKREQ or CC,
 * plus the CC block: the length written (smart__hb_len). */
size_t smart__hb_encode(uint8_t *out, const struct smart__hb *hb);
static inline size_t smart__hb_len(const struct smart__hb *hb) {
  size_t n = SMART__HB_LEN;
  if (hb->flags & (SMART__HB_ACKREQ | SMART__HB_CC))
    n += SMART__HB_EXT_LEN;
  if (hb->flags & SMART__HB_CC)
    n += SMART__HB_CC_LEN + (size_t)hb->cc_n * SMART__HB_CC_ECHO_LEN;
  return n;
}
/* The largest heartbeat body smart__hb_encode writes. */
#define SMART__HB_MAX_LEN                                                                          \
  (SMART__HB_LEN + SMART__HB_EXT_LEN + SMART__HB_CC_LEN +                                          \
   SMART__HB_CC_ECHOES * SMART__HB_CC_ECHO_LEN)

/* STATUS POSITION extension: Position (64) | Echo (32) | Echo Delay (32) |
 * Flags (8) | Reserved (24). */
#define SMART__POS_LEN 20u
/* LEAVING: a receiver's last report. EVICTED: from a sender to one receiver,
 * unicast: it was evicted; Position is the sender's oldest datagram then.
 * GCM: the receiver opens envelopes of Suite 1, AES-256-GCM (a sender at
 * SMART_CIPHER_AUTO seals its data with it once every receiver says so). */
enum { SMART__POS_LEAVING = 0x01, SMART__POS_EVICTED = 0x02, SMART__POS_GCM = 0x04 };
struct smart__pos {
  uint64_t position; /* every sequence below was delivered or reported lost */
  uint32_t echo;     /* Timestamp of the last ACKREQ heartbeat heard, or 0 */
  uint32_t delay_us; /* time since it was heard, microseconds */
  uint8_t flags;     /* SMART__POS_* */
};
int smart__pos_decode(struct smart__pos *ps, const uint8_t *v, size_t len);
void smart__pos_encode(uint8_t out[SMART__POS_LEN], const struct smart__pos *ps);

/* STATUS CCFB extension: Tag (32) | Loss Event Rate (32, p x 2^32) |
 * Receive Rate (64, bytes/s) | Rate (64, bytes/s) | RTT (32, us) |
 * Flags (8) | Reserved (24). */
#define SMART__CCFB_LEN 32u
enum {
  SMART__CCFB_CLR = 0x01,   /* the sender names this receiver its CLR */
  SMART__CCFB_REPORT = 0x02, /* sent for congestion control (not the
                                position schedule) */
  SMART__CCFB_FIRST = 0x04   /* the loss history is its first interval only,
                                made to give half the receive rate */
};
struct smart__ccfb {
  uint32_t tag;     /* the receiver's congestion-control tag, not 0 */
  uint32_t loss;    /* loss event rate x 2^32 (0: no loss event yet) */
  uint64_t recv;    /* receive rate, bytes/s */
  uint64_t rate;    /* the rate it computes for itself, bytes/s
                       (UINT64_MAX: no limit) */
  uint32_t rtt_us;  /* the receiver's round-trip estimate (0: none) */
  uint8_t flags;    /* SMART__CCFB_* */
  uint8_t events;   /* loss events it counted, modulo 256 */
};
int smart__ccfb_decode(struct smart__ccfb *f, const uint8_t *v, size_t len);
void smart__ccfb_encode(uint8_t out[SMART__CCFB_LEN], const struct smart__ccfb *f);

/* CMD 3 confirmation body: Session (32) | Kind (8) | Count (8) | Rsvd (16) |
 * Lead (64) | Trail (64) | Count x { Start (64) | Length (32) }. */
#define SMART__CONF_HDR_LEN 24u
#define SMART__CONF_RANGE_LEN 12u
enum { SMART__CONF_PENDING = 1, SMART__CONF_UNAVAILABLE = 2 };
struct smart__conf {
  uint32_t session;
  uint8_t kind;
  uint8_t count;
  uint64_t lead, trail;
  const uint8_t *ranges; /* count * 12 bytes */
};
int smart__conf_decode(struct smart__conf *c, const uint8_t *p, size_t len);
void smart__conf_range(const struct smart__conf *c, unsigned i, uint64_t *start,
                       uint32_t *n);
/* Write header + ranges; returns bytes or SMART_ENOBUF. */
smart_ssize smart__conf_encode(uint8_t *out, size_t outlen, uint32_t session,
                               unsigned kind, uint64_t lead, uint64_t trail,
                               const uint64_t *starts, const uint32_t *lens,
                               unsigned count);

/* D = 1 secure envelope: Epoch (8) | Flags (8) | Reserved (16) |
 * Sender ID (32) | body ... | Tag (128). */
#define SMART__ENV_HDR_LEN 8u
#define SMART__ENV_TAG_LEN 16u

/* ---- Serial-number arithmetic (RFC 1982, 16 bits) --------------------- */

/* a < b in serial arithmetic. A distance of exactly 2^15 is undefined in
 * RFC 1982; both smart__seq16_lt(a, b) and (b, a) are then 0. */
static inline int smart__seq16_lt(uint16_t a, uint16_t b) {
  uint16_t d = (uint16_t)(b - a);
  return d != 0 && d < 0x8000u;
}
static inline int smart__seq16_gt(uint16_t a, uint16_t b) {
  return smart__seq16_lt(b, a);
}
/* Signed distance b - a for |b - a| < 2^15 (a distance of 2^15 gives -32768). */
static inline int32_t smart__seq16_diff(uint16_t a, uint16_t b) {
  return (int32_t)(int16_t)(uint16_t)(b - a);
}

/*
 * Reconstruct a 64-bit sequence from its 16 wire bits, as the candidate
 * closest to `expected` (the next sequence expected: largest accepted + 1).
 * RFC 9000 appendix A.3 with n = 16.
 */
uint64_t smart__seq_expand(uint64_t expected, uint16_t wire);

#endif /* SMART_WIRE_H */
