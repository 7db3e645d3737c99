/*
 * smart-dump: decode SMART datagrams for people debugging a SMART network.
 *
 *   smart-dump --hex     one hex-encoded datagram per input line; one line of
 *                        space-separated key=value pairs per input line.
 *
 * See smart-dump(1) for the keys and smart-protocol(7) for the fields.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "wire/wire.h"

static void print_ipv4(FILE *o, const char *key, uint32_t a) {
  fprintf(o, " %s=%u.%u.%u.%u", key, (unsigned)(a >> 24), (unsigned)(a >> 16) & 255,
          (unsigned)(a >> 8) & 255, (unsigned)a & 255);
}

static void print_hex(FILE *o, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    fprintf(o, "%02x", p[i]);
}

static void print_ipv6(FILE *o, const char *key, const uint8_t *a) {
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, a, buf, sizeof(buf)))
    fprintf(o, " %s=%s", key, buf);
}

static const char *err_word(int err) {
  switch (err) {
  case SMART_ETRUNC:
    return "truncated";
  case SMART_ESIZE:
    return "size";
  case SMART_ECMD:
    return "command";
  case SMART_ERESERVED:
    return "reserved";
  case SMART_EFORMAT:
    return "format";
  case SMART_EEXT:
    return "extension";
  default:
    return "invalid";
  }
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

/* Sizes of the secure layouts (smart-protocol(7) "SECURE ENVELOPE"). */
#define ENV_HDR 8u     /* Epoch | Flags | Reserved | Sender ID */
#define ENV_NONCE 24u  /* salt (16) || counter (8) */
#define ENV_TAG 16u
#define ENV_MIN (ENV_HDR + ENV_NONCE + ENV_TAG)
#define ENV_F_ENCRYPTED 0x80u
#define ENV_F_SUITE 0x07u /* the AEAD: 0 XChaCha20-Poly1305 (not printed), 1 AES-256-GCM */
#define KEYREQ_LEN 104u   /* member key 32 | nonce 8 | signature 64 */
#define KEYDELIV_LEN 184u /* member key 32 | epoch 1 | 3 | sender 4 | wrapped 80 | signature 64 */
#define KEYBIND_LEN 16u   /* epoch 8 | echo 8 */
#define MANIFEST_FIXED 16u /* sender 4 | first counter 8 | count 2 | reserved 2 */
#define SIG_LEN 64u        /* ... count digests of 16 bytes | signature 64 */
#define EXT_STATS 0x000Au  /* usage reports: received | recovered | lost | interval ms */
#define STATS_LEN 16u
#define EXT_COOKIE 0x0009u /* tunnel messages: a relay's cookie */
#define COOKIE_LEN 16u

/* The AEAD suite of an envelope's Flags, when it is not XChaCha20-Poly1305. */
static void print_suite(FILE *o, uint8_t flags) {
  unsigned suite = flags & ENV_F_SUITE;
  if (suite == 1)
    fprintf(o, " aead=aes256gcm");
  else if (suite)
    fprintf(o, " aead=unassigned%u", suite);
}

/* Extensions of TYP 1..3 packets: extra keys. */
static void print_ext(FILE *o, const struct smart__pkt *pkt) {
  struct smart__ext_iter it;
  uint16_t type;
  const uint8_t *v;
  size_t n;
  smart__ext_iter_init(&it, pkt->ext, pkt->ext_len);
  while (smart__ext_next(&it, &type, &v, &n)) {
    switch (type) {
    case SMART__EXT_ADDR6:
      if (n == 16) {
        print_ipv6(o, "group6", v);
      } else if (n == 32) {
        print_ipv6(o, "addr1_6", v);
        print_ipv6(o, "addr2_6", v + 16);
      }
      break;
    case SMART__EXT_SESSION:
      if (n == 4)
        fprintf(o, " session=%" PRIu32, be32(v));
      break;
    case SMART__EXT_NAKLIST:
      fprintf(o, " naklist=");
      for (size_t i = 0; i + 4 <= n; i += 4)
        fprintf(o, "%s%u+%u", i ? "," : "", be16(v + i), be16(v + i + 2));
      break;
    case SMART__EXT_PORT:
      if (n == 4)
        fprintf(o, " port1=%u port2=%u", be16(v), be16(v + 2));
      break;
    case SMART__EXT_AUTH:
      fprintf(o, " auth_len=%zu", n);
      if (n == ENV_MIN) { /* Epoch | Flags | Reserved | Sender ID | Nonce | Tag */
        fprintf(o, " epoch=%u sender=%" PRIu32 " counter=%" PRIu64, v[0], be32(v + 4),
                be64(v + ENV_HDR + 16));
        print_suite(o, v[1]);
      }
      break;
    case SMART__EXT_KEYREQ:
      if (n != KEYREQ_LEN)
        goto other;
      fprintf(o, " member=");
      print_hex(o, v, 32);
      fprintf(o, " nonce=%" PRIu64, be64(v + 32));
      break;
    case SMART__EXT_KEYDELIV:
      if (n != KEYDELIV_LEN)
        goto other;
      fprintf(o, " member=");
      print_hex(o, v, 32);
      fprintf(o, " epoch=%u sender=%" PRIu32, v[32], be32(v + 36));
      break;
    case SMART__EXT_KEYBIND:
      if (n != KEYBIND_LEN)
        goto other;
      fprintf(o, " epoch64=%" PRIu64 " echo=%" PRIu64, be64(v), be64(v + 8));
      break;
    case SMART__EXT_MANIFEST:
      if (n < MANIFEST_FIXED + SIG_LEN || n != MANIFEST_FIXED + 16u * be16(v + 12) + SIG_LEN)
        goto other;
      /* the sender ID and counters the digests cover: SENDER:FIRST+COUNT */
      fprintf(o, " covers=%" PRIu32 ":%" PRIu64 "+%u", be32(v), be64(v + 4), be16(v + 12));
      break;
    case EXT_STATS:
      if (n != STATS_LEN)
        goto other;
      fprintf(o, " received=%" PRIu32 " recovered=%" PRIu32 " lost=%" PRIu32
                 " interval_ms=%" PRIu32,
              be32(v), be32(v + 4), be32(v + 8), be32(v + 12));
      break;
    case SMART__EXT_POSITION:
      if (n < SMART__POS_LEN)
        goto other;
      fprintf(o, " position=%" PRIu64 " echo=%" PRIu32 " delay_us=%" PRIu32 "%s%s%s", be64(v),
              be32(v + 8), be32(v + 12), (v[16] & SMART__POS_LEAVING) ? " leaving" : "",
              (v[16] & SMART__POS_EVICTED) ? " evicted" : "",
              (v[16] & SMART__POS_GCM) ? " gcm" : "");
      break;
    case SMART__EXT_CCFB: {
      struct smart__ccfb f;
      if (smart__ccfb_decode(&f, v, n))
        goto other;
      fprintf(o, " cc_tag=%08" PRIx32 " cc_loss=%.6f cc_recv=%" PRIu64, f.tag,
              (double)f.loss / 4294967296.0, f.recv);
      if (f.rate == UINT64_MAX)
        fprintf(o, " cc_rate=none");
      else
        fprintf(o, " cc_rate=%" PRIu64, f.rate);
      fprintf(o, " cc_rtt_us=%" PRIu32 " cc_events=%u%s%s%s", f.rtt_us, (unsigned)f.events,
              (f.flags & SMART__CCFB_CLR) ? " clr" : "",
              (f.flags & SMART__CCFB_REPORT) ? " report" : "",
              (f.flags & SMART__CCFB_FIRST) ? " first" : "");
      break;
    }
    case EXT_COOKIE:
      if (n != COOKIE_LEN)
        goto other;
      fprintf(o, " cookie=");
      print_hex(o, v, n);
      break;
    default:
    other:
      fprintf(o, " ext%u=", type);
      print_hex(o, v, n);
    }
  }
}

/* The meaning of an ERROR_REPORT or PROBLEM_REPORT code, as one word. */
static const char *report_word(unsigned kind, uint32_t code) {
  if (kind == SMART__K_ERROR_REPORT) {
    switch (code) {
    case SMART_ERROR_LOSS:
      return "loss";
    case SMART_ERROR_AUTH:
      return "auth";
    case SMART_ERROR_OVERFLOW:
      return "overflow";
    }
  } else if (code == SMART_PROBLEM_HIGH_LOSS) {
    return "high_loss";
  }
  return "unknown";
}

static const char *const dcmd_names[4] = {"data", "repair", "heartbeat", "confirm"};

static void print_data(FILE *o, const struct smart__pkt *pkt) {
  const uint8_t *p = pkt->u.data.payload;
  size_t len = pkt->u.data.payload_len;
  fprintf(o, " cmd=%u seq=%u fmt=%u d=%u quiet=%u len=%zu r=%u kind=%s",
          pkt->cmd, pkt->u.data.seq, pkt->u.data.fmt, pkt->u.data.d,
          pkt->u.data.quiet, len, pkt->u.data.r, dcmd_names[pkt->cmd & 3]);
  if (pkt->u.data.d) {
    fprintf(o, " epoch=%u sender=%" PRIu32, p[0], be32(p + 4));
    if (len >= ENV_MIN) { /* a whole sealed envelope: flags and nonce too */
      fprintf(o, " encrypted=%u counter=%" PRIu64, (p[1] & ENV_F_ENCRYPTED) ? 1u : 0u,
              be64(p + ENV_HDR + 16));
      print_suite(o, p[1]);
    }
    return;
  }
  if (pkt->cmd == SMART__DCMD_HEARTBEAT) {
    struct smart__hb hb;
    if (smart__hb_decode(&hb, p, len) == 0) {
      fprintf(o,
              " session=%" PRIu32 " lead=%" PRIu64 " trail=%" PRIu64
              " grtt_us=%" PRIu32 " gsize=%" PRIu32 " k=%u",
              hb.session, hb.lead, hb.trail, hb.grtt_us, hb.gsize, hb.k);
      if (hb.flags & SMART__HB_CC) { /* congestion control's block */
        fprintf(o,
                " stamp=%" PRIu32 " cc_rate=%" PRIu64 " cc_supp=%" PRIu64 " cc_clr=%08" PRIx32
                " cc_supp_tag=%08" PRIx32 " cc_round=%u cc_seg=%u%s",
                hb.stamp, hb.cc_rate, hb.cc_supp, hb.cc_clr, hb.cc_supp_tag, hb.cc_round,
                hb.cc_seg, (hb.cc_flags & SMART__CC_F_SLOWSTART) ? " slowstart" : "");
        for (unsigned i = 0; i < hb.cc_n; i++)
          fprintf(o, "%s%08" PRIx32 ":%" PRIu32, i ? "," : " echo=", hb.cc_tag[i],
                  hb.cc_rtt_us[i]);
      }
    }
    return;
  }
  if (pkt->cmd == SMART__DCMD_CONFIRM) {
    struct smart__conf c;
    if (smart__conf_decode(&c, p, len) == 0) {
      fprintf(o, " session=%" PRIu32 " confirm=%s lead=%" PRIu64 " trail=%" PRIu64,
              c.session, c.kind == SMART__CONF_PENDING ? "pending" : "unavailable",
              c.lead, c.trail);
      fprintf(o, " ranges=");
      for (unsigned i = 0; i < c.count; i++) {
        uint64_t s;
        uint32_t n;
        smart__conf_range(&c, i, &s, &n);
        fprintf(o, "%s%" PRIu64 "+%" PRIu32, i ? "," : "", s, n);
      }
    }
    return;
  }
  if (pkt->u.data.fmt == SMART__FMT_FRAG) {
    struct smart__frag f;
    if (smart__frag_decode(&f, p, len) == 0)
      fprintf(o, " msg_len=%" PRIu32 " offset=%" PRIu32, f.msg_len, f.offset);
  } else if (pkt->u.data.fmt == SMART__FMT_PACK) {
    fprintf(o, " messages=%d", smart__pack_check(p, len));
  }
}

static void dump(FILE *o, const uint8_t *dg, size_t n) {
  struct smart__pkt pkt;
  int rc = smart__pkt_decode(&pkt, dg, n);
  if (rc != 0) {
    fprintf(o, "error=%s\n", err_word(rc));
    return;
  }
  fprintf(o, "type=%s sync=%u size=%u", smart__kind_name(pkt.kind), pkt.sync,
          pkt.size);
  switch (pkt.kind) {
  case SMART__K_DATA:
    print_data(o, &pkt);
    break;
  case SMART__K_ERROR_REPORT:
  case SMART__K_PROBLEM_REPORT:
    print_ipv4(o, "reporter", pkt.u.report.reporter);
    print_ipv4(o, "concerning", pkt.u.report.concerning);
    fprintf(o, " data=");
    print_hex(o, dg + 12, 12);
    fprintf(o, " code=%" PRIu32 " meaning=%s", pkt.u.report.data[0],
            report_word(pkt.kind, pkt.u.report.data[0]));
    break;
  case SMART__K_REPLACEMENT:
    print_ipv4(o, "group", pkt.u.repl.group);
    fprintf(o, " seq=%u extra=%u", pkt.u.repl.seq, pkt.u.repl.extra);
    break;
  case SMART__K_STATUS:
    print_ipv4(o, "group", pkt.u.repl.group);
    fprintf(o, " seq=%u", pkt.u.repl.seq);
    break;
  case SMART__K_QUIET:
    print_ipv4(o, "group", pkt.u.quiet.group);
    fprintf(o, " duration=%u", pkt.u.quiet.duration);
    break;
  default:
    print_ipv4(o, "addr1", pkt.u.addr.addr1);
    print_ipv4(o, "addr2", pkt.u.addr.addr2);
    break;
  }
  print_ext(o, &pkt);
  fputc('\n', o);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Decode hex in place (whitespace inside the line is ignored); -1 on error. */
static long unhex(char *line, uint8_t *out) {
  long n = 0;
  int hi = -1;
  for (char *c = line; *c; c++) {
    if (isspace((unsigned char)*c))
      continue;
    int v = hexval((unsigned char)*c);
    if (v < 0)
      return -1;
    if (hi < 0) {
      hi = v;
    } else {
      out[n++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  return hi < 0 ? n : -1;
}

static void usage(FILE *o) {
  fputs("usage: smart-dump --hex   (one hex datagram per line on standard input)\n", o);
}

int main(int argc, char **argv) {
  if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    usage(stdout);
    return 0;
  }
  if (argc != 2 || strcmp(argv[1], "--hex") != 0) {
    usage(stderr);
    return 2;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  uint8_t *buf = NULL;
  size_t bufcap = 0;
  while ((got = getline(&line, &cap, stdin)) >= 0) {
    if ((size_t)got / 2 + 1 > bufcap) {
      size_t want = (size_t)got / 2 + 1;
      uint8_t *nb = realloc(buf, want);
      if (!nb) {
        fputs("smart-dump: out of memory\n", stderr);
        return 1;
      }
      buf = nb;
      bufcap = want;
    }
    long n = unhex(line, buf);
    if (n < 0)
      puts("error=hex");
    else
      dump(stdout, buf, (size_t)n);
  }
  free(line);
  free(buf);
  return ferror(stdout) ? 1 : 0;
}
