/*
 * smart_setopt and smart_getopt: one table says, for every option, its
 * type, its range, whether it may change after the first join, and where it
 * lives in the options value (struct smart__opts, copied by the session at
 * the join). The defaults are in smart__opts_init(). The few options with
 * more to them (keys, the pinned-key list, the crypto provider, TTL and
 * loopback re-applied to a joined socket) are the special cases below.
 */
#include <stddef.h>
#include <string.h>

#include "crypto/crypto.h"
#include "sock/sock_int.h"

enum { T_I32, T_U32, T_U64, T_PTR, T_KEY };
enum { ANY_TIME = 0, BEFORE_JOIN = 1 };

struct opt_row {
  int opt;
  uint8_t type, phase;
  uint16_t off;   /* in struct smart__opts */
  uint8_t fsz;    /* the field's size (engine fields may be uint8_t) */
  int64_t lo, hi; /* accepted range (integers) */
};

#define O(field) (uint16_t) offsetof(struct smart__opts, field), (uint8_t)sizeof(((struct smart__opts *)0)->field)
#define E(field) O(eng.field)
#define U32MAX 0xFFFFFFFFll

static const struct opt_row rows[] = {
    {SMART_OPT_TTL, T_I32, ANY_TIME, O(ttl), 0, 255},
    {SMART_OPT_LOOPBACK, T_I32, ANY_TIME, O(loop), 0, 1},
    {SMART_OPT_SYNC, T_U32, BEFORE_JOIN, E(sync), 0, 255},
    {SMART_OPT_RATE, T_U64, BEFORE_JOIN, O(rate), 0, -1},
    {SMART_OPT_WINDOW, T_U32, BEFORE_JOIN, E(window), 1, SMART__MAX_SPAN},
    {SMART_OPT_GRTT_US, T_U32, BEFORE_JOIN, E(grtt_us), 1, 60000000},
    {SMART_OPT_NAK_K, T_U32, BEFORE_JOIN, E(k), 1, 255},
    {SMART_OPT_GSIZE, T_U32, BEFORE_JOIN, E(gsize), 1, U32MAX},
    {SMART_OPT_LINGER_MS, T_U32, ANY_TIME, O(linger_ms), 0, U32MAX},
    {SMART_OPT_DROP_PPM, T_U32, ANY_TIME, O(drop_ppm), 0, 1000000},
    {SMART_OPT_RCVTIMEO_MS, T_I32, ANY_TIME, O(rcvtimeo_ms), -1, 0x7FFFFFFF},
    {SMART_OPT_NONBLOCK, T_I32, ANY_TIME, O(nonblock), 0, 1},
    {SMART_OPT_BACKGROUND, T_I32, ANY_TIME, O(background), 0, 1},
    {SMART_OPT_MAX_MSG, T_U32, ANY_TIME, O(max_msg), 1, U32MAX},
    {SMART_OPT_LATE_JOIN, T_U32, BEFORE_JOIN, E(join_policy), 0, SMART_JOIN_WINDOW},
    {SMART_OPT_NAK_RETRIES, T_U32, BEFORE_JOIN, E(nak_retries), 1, 255},
    {SMART_OPT_SEED, T_U64, BEFORE_JOIN, E(seed), 0, -1 /* any */},
    {SMART_OPT_MTU, T_U32, BEFORE_JOIN, O(mtu), 256, 65507},
    {SMART_OPT_CRYPTO, T_PTR, BEFORE_JOIN, O(ops), 0, 0},
    {SMART_OPT_GROUP_KEY, T_KEY, BEFORE_JOIN, 0, 0, 0, 0},
    {SMART_OPT_AUTH_ONLY, T_I32, BEFORE_JOIN, O(auth_only), 0, 1},
    {SMART_OPT_IDENTITY, T_KEY, BEFORE_JOIN, 0, 0, 0, 0},
    {SMART_OPT_PEER_KEY, T_KEY, BEFORE_JOIN, 0, 0, 0, 0},
    {SMART_OPT_REKEY_MS, T_U32, BEFORE_JOIN, O(rekey_ms), 0, U32MAX},
    {SMART_OPT_REKEY_BYTES, T_U64, BEFORE_JOIN, O(rekey_bytes), 0, -1},
    {SMART_OPT_EPOCH_GRACE_MS, T_U32, BEFORE_JOIN, O(grace_ms), 0, U32MAX},
    {SMART_OPT_SOURCE_AUTH, T_U32, BEFORE_JOIN, O(sauth_every), 0, 64},
    {SMART_OPT_SOURCE_AUTH_MS, T_U32, BEFORE_JOIN, O(sauth_ms), 1, 60000},
    {SMART_OPT_SOURCE_AUTH_EARLY, T_U32, BEFORE_JOIN, O(sauth_early), 0, 100},
    {SMART_OPT_REPORT_MS, T_U32, BEFORE_JOIN, O(report_ms), 10, U32MAX},
    {SMART_OPT_MEMBER_TIMEOUT_MS, T_U32, BEFORE_JOIN, O(member_timeout_ms), 10, U32MAX},
    {SMART_OPT_NO_PACK, T_I32, BEFORE_JOIN, E(no_pack), 0, 1},
    {SMART_OPT_DELIVERY, T_U32, BEFORE_JOIN, E(policy), 0, SMART_DELIVERY_REALTIME},
    {SMART_OPT_HORIZON_MS, T_U32, BEFORE_JOIN, E(horizon_ms), 0, U32MAX},
    {SMART_OPT_EVICT_MS, T_U32, BEFORE_JOIN, E(evict_ms), 1, U32MAX},
    {SMART_OPT_STATUS_MS, T_U32, BEFORE_JOIN, E(status_ms), 0, U32MAX},
    {SMART_OPT_SENDER_TIMEOUT_MS, T_U32, BEFORE_JOIN, E(sender_timeout_ms), 100, U32MAX},
    {SMART_OPT_SNDBUF, T_U64, BEFORE_JOIN, E(sndbuf), 1, -1 /* any but 0 */},
    {SMART_OPT_CIPHER, T_U32, BEFORE_JOIN, O(cipher), 0, SMART_CIPHER_AES256GCM},
    {SMART_OPT_CC, T_U32, BEFORE_JOIN, E(cc), 0, SMART_CC_ON},
    {SMART_OPT_CC_MIN_RATE, T_U64, BEFORE_JOIN, E(cc_min_rate), SMART__CC_RATE_LEAST, -1},
    {SMART_OPT_CC_FLOOR, T_U64, BEFORE_JOIN, E(cc_floor), 0, -1},
};

static const struct opt_row *row_of(int opt) {
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
    if (rows[i].opt == opt)
      return &rows[i];
  return NULL;
}

static size_t type_size(int type) {
  return type == T_I32 || type == T_U32 ? 4 : type == T_U64 ? 8 : sizeof(void *);
}

/* Keys go to secret memory, allocated when the first key is set. */
static int set_key(smart_sock *s, int opt, const void *val, size_t len) {
  size_t want = opt == SMART_OPT_GROUP_KEY  ? SMART_KEY_BYTES
                : opt == SMART_OPT_IDENTITY ? SMART_SECKEY_BYTES
                                            : SMART_PUBKEY_BYTES;
  if (len != want)
    return SMART_EINVAL;
  if (opt == SMART_OPT_PEER_KEY) {
    if (s->o.npins >= SMART__PINS_MAX)
      return SMART_ENOMEM;
    memcpy(s->o.pins[s->o.npins++], val, len);
    return 0;
  }
  if (!s->o.keys && !(s->o.keys = smart__secure_alloc(SMART_KEY_BYTES + SMART_SECKEY_BYTES)))
    return SMART_ENOMEM;
  if (opt == SMART_OPT_GROUP_KEY) {
    memcpy(s->o.keys, val, len);
    s->o.have_group_key = 1;
  } else {
    memcpy(s->o.keys + SMART_KEY_BYTES, val, len);
    s->o.have_identity = 1;
  }
  return 0;
}

/* Store an integer in a field of `fsz` bytes (host order). */
static void store(void *field, size_t fsz, uint64_t v) {
  if (fsz == 1) {
    uint8_t x = (uint8_t)v;
    memcpy(field, &x, 1);
  } else if (fsz == 4) {
    uint32_t x = (uint32_t)v;
    memcpy(field, &x, 4);
  } else {
    memcpy(field, &v, 8);
  }
}

static uint64_t load(const void *field, size_t fsz) {
  if (fsz == 1)
    return *(const uint8_t *)field;
  if (fsz == 4) {
    uint32_t x;
    memcpy(&x, field, 4);
    return x;
  }
  uint64_t x;
  memcpy(&x, field, 8);
  return x;
}

/* The value of an integer option as given, range-checked. */
static int read_int(const struct opt_row *r, const void *val, size_t len, uint64_t *out) {
  if (len != type_size(r->type))
    return SMART_EINVAL;
  if (r->type == T_I32) {
    int32_t v;
    memcpy(&v, val, 4);
    if (v < r->lo || v > r->hi)
      return SMART_EINVAL;
    *out = (uint64_t)(int64_t)v;
  } else if (r->type == T_U32) {
    uint32_t v;
    memcpy(&v, val, 4);
    if (v < r->lo || v > r->hi)
      return SMART_EINVAL;
    *out = v;
  } else {
    uint64_t v;
    memcpy(&v, val, 8);
    if (v < (uint64_t)r->lo || (r->hi >= 0 && v > (uint64_t)r->hi))
      return SMART_EINVAL;
    *out = v;
  }
  return 0;
}

SMART_API int smart_setopt(smart_sock *s, int opt, const void *val, size_t len) {
  if (!s || !val)
    return SMART_EINVAL;
  SMART__HOLD(s);
  if (opt == SMART_OPT_LAST_OS_ERROR)
    return SMART_EINVAL; /* read only */
  const struct opt_row *r = row_of(opt);
  if (!r)
    return SMART_ENOPROTOOPT;
  /* Options the session copies at creation: before smart_join() only. */
  if (r->phase == BEFORE_JOIN && s->ss)
    return SMART_ESTATE;
  if (r->type == T_KEY)
    return set_key(s, opt, val, len);
  uint8_t *field = (uint8_t *)&s->o + r->off;
  if (r->type == T_PTR) {
    const struct smart_crypto_ops *o;
    if (len != sizeof(o))
      return SMART_EINVAL;
    memcpy(&o, val, sizeof(o));
    if (o && o->size < SMART__OPS_MIN_SIZE) /* the 0.1 layout is the smallest */
      return SMART_EINVAL;
    memcpy(field, &o, sizeof(o));
    return 0;
  }
  uint64_t v;
  int rc = read_int(r, val, len, &v);
  if (rc)
    return rc;
  if (opt == SMART_OPT_CIPHER && v == SMART_CIPHER_AES256GCM &&
      !(smart__ops_ciphers(s->o.ops ? s->o.ops : smart_crypto_sodium()) &
        SMART__CIPHER_BIT(SMART_CIPHER_AES256GCM)))
    return SMART_ENOTSUP; /* the provider set (libsodium by default) lacks it here */
  store(field, r->fsz, v);
  if (opt == SMART_OPT_NONBLOCK || opt == SMART_OPT_BACKGROUND)
    smart__bg_update(s); /* a non-blocking socket has its event loop instead */
  if (opt == SMART_OPT_DROP_PPM && s->ss)
    smart__session_set_drop(s->ss, (uint32_t)v);
  if ((opt == SMART_OPT_TTL || opt == SMART_OPT_LOOPBACK) && s->joined)
    return smart__io_err(s, smart__mcast_out(s->sfd, smart__session_group(s->ss)->u.sa.sa_family,
                                             &s->ifc, s->o.ttl, s->o.loop));
  return 0;
}

SMART_API int smart_getopt(smart_sock *s, int opt, void *val, size_t *len) {
  if (!s || !val || !len)
    return SMART_EINVAL;
  SMART__HOLD(s);
  if (opt == SMART_OPT_LAST_OS_ERROR) {
    if (*len < sizeof(int32_t))
      return SMART_EINVAL;
    memcpy(val, &s->last_os_error, sizeof(int32_t));
    *len = sizeof(int32_t);
    return 0;
  }
  const struct opt_row *r = row_of(opt);
  if (!r)
    return SMART_ENOPROTOOPT;
  if (r->type == T_KEY)
    return SMART_EINVAL; /* keys are write-only */
  size_t n = type_size(r->type);
  if (*len < n)
    return SMART_EINVAL;
  const uint8_t *field = (const uint8_t *)&s->o + r->off;
  if (r->type == T_PTR) {
    memcpy(val, field, n);
  } else {
    uint64_t v = load(field, r->fsz);
    if (n == 4) {
      uint32_t x = (uint32_t)v;
      memcpy(val, &x, 4);
    } else {
      memcpy(val, &v, 8);
    }
  }
  *len = n;
  return 0;
}
