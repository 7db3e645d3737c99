/*
 * The secure datagram layer. See secure.h for the contract and
 * smart-security(7) for the reasoning.
 *
 * Keys. Every epoch has a 32-byte epoch key: in group-key mode it is derived
 * from the pre-shared group key (derive(group key, epoch, "SMARTepk")); in
 * identity mode it is random, drawn by the sender and handed to each allowed
 * member sealed to its identity (ident.c). Every datagram is sealed under a
 * per-sender subkey derive(epoch key, sender ID, "SMARTsnd"), so no two
 * senders ever share a key.
 *
 * Nonces are unique per key by construction: 16 bytes of salt drawn at random
 * when the socket is created and whenever its epoch changes, then a 64-bit
 * counter that increases with every datagram sealed and never goes back. A
 * restart draws a new salt, so a restarted sender (even with the same sender
 * ID) repeats a nonce only if two 128-bit random salts collide.
 *
 * Suites. The Flags byte of every envelope names the AEAD that sealed it
 * (SMART__SEC_F_SUITE): XChaCha20-Poly1305 under the sealing key and the
 * 24-byte nonce above, or AES-256-GCM, whose 96-bit nonce has no room for
 * the salt: the salt goes into its key instead,
 *   AES key = derive(derive(sealing key, salt[0..8), "SMARTgc1"),
 *                    salt[8..16), "SMARTgc2"),
 * and the nonce is Sender ID || Counter. The AES key thus belongs to one
 * (epoch, sender ID, salt), which one socket uses, and under it the counter
 * alone keeps nonces apart: the same argument as above. A socket seals with
 * the suite it was configured with and opens every suite its provider
 * offers; others are refused with SMART_ENOTSUP and counted.
 *
 * Replay. The counter is the replay sequence: each remote sender has a
 * window of SMART__REPLAY_BITS counters (RFC 6479 / WireGuard style), updated
 * only after the tag verified (RFC 4303 §3.4.3). A datagram below the window
 * or already seen is refused, whatever address it comes from.
 */
#include "secure.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/bytes.h"
#include "util/mem.h"
#include "wire/wire.h"

#define SMART__REPLAY_BITS 4096u
#define SMART__REPLAY_WORDS (SMART__REPLAY_BITS / 64u)
/* The sender-ID table: at most REMOTE_MAX entries (about 700 bytes each,
 * 2.9 MB in all). When it is full, a newcomer that authenticated takes the
 * slot of the entry heard longest ago among those whose data the engine
 * never took (requesters, reporters, made-up IDs), else of a data sender
 * silent for REMOTE_IDLE_NS; only a table of active data senders refuses
 * it (smart-security(7) "Replay window"). */
#define REMOTE_MAX 4096u
#define REMOTE_IDLE_NS (UINT64_C(60) * 1000000000u)
#define KEY_SLOTS 4u
/* The previous epoch of a sender, once a datagram of its new one was
 * accepted: only counters below the lowest accepted in the new one, and at
 * most this far below it (reordering at the switch, not a forger's room). */
#define GRACE_REORDER 256u

struct remote {
  uint32_t id;
  uint8_t used;
  uint8_t cur, prev; /* epochs */
  uint8_t have_prev;
  uint64_t switched_at;
  uint64_t cur_low; /* the lowest counter accepted in `cur` */
  uint64_t top; /* one past the highest counter accepted */
  uint64_t bits[SMART__REPLAY_WORDS];
  uint8_t key_epoch[2];
  uint8_t key_valid[2];
  uint8_t key[2][32]; /* derived subkeys for cur/prev (cache) */
  struct gcm_key {    /* AES-256-GCM keys of (epoch, salt) (cache) */
    uint8_t valid, epoch;
    uint8_t salt[16];
    uint8_t key[32];
  } gk[2];
  uint8_t gk_next; /* the entry the next new key replaces */
};

/* What lookup and eviction read of each remote, kept apart and compact
 * (16 bytes instead of ~700): a datagram from a new sender ID scans it. */
struct remote_meta {
  uint32_t id;
  uint32_t data;  /* the engine took DATA from it (smart__sec_heard_data) */
  uint64_t heard; /* last datagram accepted */
};

struct epoch_key {
  uint8_t valid, epoch;
  uint32_t data_sender; /* identity mode: the only sender ID for DATA (0: any) */
  uint64_t serial;      /* install order, to replace the oldest */
  uint8_t key[32];
};

/* Lives in guarded secret memory (smart__secure_alloc). */
struct secrets {
  uint8_t group_key[32];
  uint8_t identity[64];
  struct epoch_key ek[KEY_SLOTS];
  uint8_t tx_key[32];
  uint8_t tx_gkey[32]; /* AES-256-GCM: of tx_key and the salt */
};

struct smart__sec {
  struct smart__sec_cfg cfg;
  struct secrets *sk;
  uint32_t my_id;
  uint8_t tx_epoch;
  uint8_t tx_key_valid;
  uint8_t tx_gkey_valid; /* tx_gkey is of tx_key and the salt */
  uint8_t salt[16];
  uint64_t counter;
  uint64_t last_rekey, bytes;
  uint8_t last_nonce[24];
  struct remote *remotes;
  struct remote_meta *meta; /* [i] describes remotes[i] */
  uint32_t nremotes, cap_remotes, cap_meta;
  uint32_t last_remote;     /* index of the remote found last */
  uint64_t evicted;         /* slots given to newcomers when full */
  uint64_t key_serial;
  int missing; /* epoch refused for want of a key, or -1 */
  uint8_t prev_tx_epoch, have_prev_tx;
  uint64_t tx_switched_at;
  uint64_t adopted; /* newer epochs adopted from others */
  uint8_t fresh;    /* group-key mode: nothing sealed or accepted yet */
  uint8_t suite;    /* SMART__SEC_SUITE_* this socket seals with (next) */
  uint8_t chooses;  /* SMART_CIPHER_AUTO with AES-256-GCM here: the session
                       picks the suite of each datagram (smart__sec_choose) */
  uint8_t gcm_ok;   /* the provider offers AES-256-GCM here */
  uint8_t in_place; /* the provider opens in place (cfg.open_in_place) */
  uint64_t salt_from;    /* the counter when the salt was drawn */
  uint64_t cipher_drops; /* refused: a suite this socket cannot open */
};

/* ---- keys ------------------------------------------------------------- */

static struct epoch_key *epoch_key(struct smart__sec *s, uint8_t epoch) {
  for (unsigned i = 0; i < KEY_SLOTS; i++)
    if (s->sk->ek[i].valid && s->sk->ek[i].epoch == epoch)
      return &s->sk->ek[i];
  if (s->cfg.mode != SMART__SEC_GROUP)
    return NULL; /* identity mode: only keys the sender handed us */
  /* Group mode: derive it, replacing the slot furthest from `epoch`. */
  unsigned victim = 0, worst = 0;
  for (unsigned i = 0; i < KEY_SLOTS; i++) {
    if (!s->sk->ek[i].valid) {
      victim = i;
      break;
    }
    unsigned d = (uint8_t)(epoch - s->sk->ek[i].epoch);
    d = d > 128 ? 256 - d : d;
    if (d > worst)
      worst = d, victim = i;
  }
  struct epoch_key *k = &s->sk->ek[victim];
  if (s->cfg.ops->derive(k->key, epoch, "SMARTepk", s->sk->group_key, s->cfg.ops->user_data))
    return NULL;
  k->valid = 1;
  k->epoch = epoch;
  return k;
}

static int sender_key(struct smart__sec *s, uint8_t epoch, uint32_t id, uint8_t out[32]) {
  struct epoch_key *k = epoch_key(s, epoch);
  if (!k)
    return SMART_EAUTH;
  return s->cfg.ops->derive(out, id, "SMARTsnd", k->key, s->cfg.ops->user_data) ? SMART_EAUTH
                                                                                 : 0;
}

/* The AES-256-GCM key of a sealing key and a 16-byte salt: derive() over
 * each half of the salt in turn, a PRF of all 128 bits. */
static int gcm_key(const struct smart_crypto_ops *o, const uint8_t key[32],
                   const uint8_t salt[16], uint8_t out[32]) {
  uint8_t k1[32];
  int rc = o->derive(k1, smart__get64(salt), "SMARTgc1", key, o->user_data);
  if (rc == 0)
    rc = o->derive(out, smart__get64(salt + 8), "SMARTgc2", k1, o->user_data);
  smart__memzero(k1, sizeof(k1));
  return rc ? SMART_EAUTH : 0;
}

/* The AES-256-GCM nonce of an envelope: Sender ID || Counter. */
static void gcm_nonce(uint8_t n12[12], uint32_t id, const uint8_t nonce[24]) {
  smart__put32(n12, id);
  memcpy(n12 + 4, nonce + 16, 8);
}

static int tx_prepare(struct smart__sec *s) {
  if (!s->tx_key_valid) {
    if (sender_key(s, s->tx_epoch, s->my_id, s->sk->tx_key) != 0)
      return SMART_ESTATE;
    s->tx_key_valid = 1;
    s->tx_gkey_valid = 0;
  }
  if (s->suite == SMART__SEC_SUITE_AESGCM && !s->tx_gkey_valid) {
    if (gcm_key(s->cfg.ops, s->sk->tx_key, s->salt, s->sk->tx_gkey) != 0)
      return SMART_ESTATE;
    s->tx_gkey_valid = 1;
  }
  return 0;
}

/* Seal with this socket's suite. */
static int tx_seal(struct smart__sec *s, uint8_t *out, const uint8_t *pt, size_t ptlen,
                   const uint8_t *ad, size_t adlen, const uint8_t nonce[24]) {
  const struct smart_crypto_ops *o = s->cfg.ops;
  if (s->suite == SMART__SEC_SUITE_XCHACHA)
    return o->seal(out, pt, ptlen, ad, adlen, nonce, s->sk->tx_key, o->user_data);
  uint8_t n12[12];
  gcm_nonce(n12, s->my_id, nonce);
  return o->aead_seal(SMART_CIPHER_AES256GCM, out, pt, ptlen, ad, adlen, n12, s->sk->tx_gkey,
                      o->user_data);
}

/* Move this socket's transmit epoch; a fresh salt with every epoch. */
static int set_tx_epoch(struct smart__sec *s, uint8_t epoch, uint64_t now) {
  if (epoch != s->tx_epoch) {
    s->prev_tx_epoch = s->tx_epoch;
    s->have_prev_tx = 1;
    s->tx_switched_at = now;
  }
  s->tx_epoch = epoch;
  s->tx_key_valid = 0;
  s->last_rekey = now;
  s->bytes = 0;
  s->salt_from = s->counter;
  return s->cfg.ops->random(s->salt, sizeof(s->salt), s->cfg.ops->user_data);
}

/* ---- lifecycle -------------------------------------------------------- */

int smart__sec_new(struct smart__sec **out, const struct smart__sec_cfg *cfg,
                   uint32_t *my_id) {
  if (!out || !cfg || !cfg->ops || cfg->ops->size < SMART__OPS_MIN_SIZE ||
      (cfg->mode == SMART__SEC_GROUP && !cfg->group_key) ||
      (cfg->mode != SMART__SEC_GROUP && cfg->mode != SMART__SEC_IDENTITY) ||
      cfg->cipher > SMART_CIPHER_AES256GCM)
    return SMART_EINVAL;
  const struct smart_crypto_ops *o = cfg->ops;
  if (!o->seal || !o->open || !o->derive || !o->random || !o->sign || !o->verify || !o->wrap ||
      !o->unwrap || !o->hash)
    return SMART_EINVAL;
  int gcm_ok = (smart__ops_ciphers(o) & SMART__CIPHER_BIT(SMART_CIPHER_AES256GCM)) != 0;
  if (cfg->cipher == SMART_CIPHER_AES256GCM && !gcm_ok)
    return SMART_ENOTSUP;
  struct smart__sec *s = calloc(1, sizeof(*s));
  if (!s)
    return SMART_ENOMEM;
  s->sk = smart__secure_alloc(sizeof(*s->sk));
  if (!s->sk) {
    free(s);
    return SMART_ENOMEM;
  }
  s->cfg = *cfg;
  s->cfg.group_key = s->cfg.identity = NULL;
  s->gcm_ok = (uint8_t)gcm_ok;
  s->in_place = cfg->open_in_place != 0;
  s->suite = cfg->cipher == SMART_CIPHER_AES256GCM ? SMART__SEC_SUITE_AESGCM
                                                   : SMART__SEC_SUITE_XCHACHA;
  s->chooses = (uint8_t)(cfg->cipher == SMART_CIPHER_AUTO && gcm_ok);
  if (cfg->group_key)
    memcpy(s->sk->group_key, cfg->group_key, 32);
  if (cfg->identity)
    memcpy(s->sk->identity, cfg->identity, 64);
  uint8_t r[4];
  do {
    if (o->random(r, sizeof(r), o->user_data) != 0) {
      smart__sec_del(s);
      return SMART_ESYS;
    }
    s->my_id = smart__get32(r);
  } while (s->my_id == 0);
  if (set_tx_epoch(s, 0, 0) != 0) {
    smart__sec_del(s);
    return SMART_ESYS;
  }
  s->missing = -1;
  s->fresh = cfg->mode == SMART__SEC_GROUP;
  *my_id = s->my_id;
  *out = s;
  return 0;
}

void smart__sec_del(struct smart__sec *s) {
  if (!s)
    return;
  if (s->sk)
    smart__secure_free(s->sk);
  if (s->remotes) /* cached subkeys */
    smart__memzero(s->remotes, (size_t)s->cap_remotes * sizeof(*s->remotes));
  free(s->remotes);
  free(s->meta);
  smart__memzero(s, sizeof(*s));
  free(s);
}

/* ---- sealing ---------------------------------------------------------- */

static void next_nonce(struct smart__sec *s, uint8_t nonce[24]) {
  memcpy(nonce, s->salt, 16);
  smart__put64(nonce + 16, s->counter++);
  memcpy(s->last_nonce, nonce, 24);
}

static void env_hdr(struct smart__sec *s, uint8_t *p, uint8_t flags) {
  p[0] = s->tx_epoch;
  p[1] = (uint8_t)(flags | s->suite);
  p[2] = p[3] = 0;
  smart__put32(p + 4, s->my_id);
}

static smart_ssize seal(struct smart__sec *s, uint8_t *buf, size_t len, size_t cap, uint64_t now,
                        int shifted);

smart_ssize smart__sec_seal(struct smart__sec *s, uint8_t *buf, size_t len, size_t cap,
                            uint64_t now) {
  return seal(s, buf, len, cap, now, 0);
}

smart_ssize smart__sec_seal_shifted(struct smart__sec *s, uint8_t *buf, size_t len, size_t cap,
                                    uint64_t now) {
  if (!s || !buf || len < SMART__DATA_HDR_LEN || cap < SMART__SEC_HDR + SMART__SEC_NONCE + len ||
      (buf[SMART__SEC_HDR + SMART__SEC_NONCE + 1] >> 6) != SMART__TYP_DATA)
    return SMART_EINVAL;
  return seal(s, buf, len, cap, now, 1);
}

static smart_ssize seal(struct smart__sec *s, uint8_t *buf, size_t len, size_t cap, uint64_t now,
                        int shifted) {
  if (!s || !buf || len < SMART__HDR_LEN)
    return SMART_EINVAL;
  if (shifted) /* the DATA header down to its place; the body is at its own */
    memmove(buf, buf + SMART__SEC_HDR + SMART__SEC_NONCE, SMART__DATA_HDR_LEN);
  if (cap < len + SMART__SEC_OVERHEAD || len + SMART__SEC_OVERHEAD > SMART__MAX_DGRAM)
    return SMART_ENOBUF;
  if (s->suite == SMART__SEC_SUITE_AESGCM && s->counter - s->salt_from >= SMART__GCM_SALT_LIFE) {
    /* A new AES key long before the data limit (smart-security(7)). */
    if (s->cfg.ops->random(s->salt, sizeof(s->salt), s->cfg.ops->user_data) != 0)
      return SMART_ESYS;
    s->salt_from = s->counter;
    s->tx_gkey_valid = 0;
  }
  int rc = tx_prepare(s);
  if (rc)
    return rc;
  s->fresh = 0;
  if (s->last_rekey == 0) /* the rekey timer runs from the first datagram */
    s->last_rekey = now;
  unsigned typ = buf[1] >> 6;
  if (typ == SMART__TYP_DATA) {
    if (len < SMART__DATA_HDR_LEN || (buf[6] & 0x20))
      return SMART_EINVAL;
    size_t body = len - SMART__DATA_HDR_LEN;
    size_t total = len + SMART__SEC_DATA_OVERHEAD;
    int enc = !s->cfg.auth_only || ((buf[1] >> 4) & 3) >= 2; /* control always sealed */
    if (!shifted)
      memmove(buf + SMART__DATA_HDR_LEN + SMART__SEC_HDR + SMART__SEC_NONCE,
              buf + SMART__DATA_HDR_LEN, body);
    smart__put16(buf + 2, (uint16_t)total);
    buf[6] |= 0x20; /* D = 1 */
    uint8_t *env = buf + SMART__DATA_HDR_LEN;
    env_hdr(s, env, enc ? SMART__SEC_F_ENCRYPTED : 0);
    uint8_t *nonce = env + SMART__SEC_HDR;
    next_nonce(s, nonce);
    uint8_t *b = nonce + SMART__SEC_NONCE;
    if (enc)
      rc = tx_seal(s, b, b, body, buf, (size_t)(b - buf), nonce);
    else
      rc = tx_seal(s, b + body, NULL, 0, buf, (size_t)(b - buf) + body, nonce);
    if (rc)
      return SMART_EINVAL;
    if (((buf[1] >> 4) & 3) == SMART__DCMD_DATA)
      s->bytes += body;
    return (smart_ssize)total;
  }
  /* Messages: the AUTH extension goes last and covers everything before
   * its tag. */
  size_t total = len + SMART__SEC_MSG_OVERHEAD;
  smart__put16(buf + 2, (uint16_t)total);
  uint8_t *e = buf + len;
  smart__put16(e, SMART__EXT_AUTH);
  smart__put16(e + 2, SMART__SEC_AUTH_LEN);
  env_hdr(s, e + 4, 0);
  uint8_t *nonce = e + 4 + SMART__SEC_HDR;
  next_nonce(s, nonce);
  uint8_t *tag = nonce + SMART__SEC_NONCE;
  if (tx_seal(s, tag, NULL, 0, buf, (size_t)(tag - buf), nonce))
    return SMART_EINVAL;
  return (smart_ssize)total;
}

/* ---- opening ---------------------------------------------------------- */

static struct remote *remote_find(struct smart__sec *s, uint32_t id) {
  /* Most datagrams come from the sender heard last. */
  if (s->last_remote < s->nremotes && s->meta[s->last_remote].id == id)
    return &s->remotes[s->last_remote];
  for (uint32_t i = 0; i < s->nremotes; i++)
    if (s->meta[i].id == id) {
      s->last_remote = i;
      return &s->remotes[i];
    }
  return NULL;
}

static struct remote *remote_init(struct smart__sec *s, uint32_t i, uint32_t id, uint64_t now) {
  struct remote *r = &s->remotes[i];
  smart__memzero(r, sizeof(*r)); /* an evicted entry's cached subkeys too */
  r->id = id;
  s->meta[i].id = id;
  s->meta[i].data = 0;
  s->meta[i].heard = now;
  s->last_remote = i;
  return r;
}

/* A full table: the slot of the entry heard longest ago among those that
 * never sent data the engine took, else among data senders silent for
 * REMOTE_IDLE_NS; NULL when every entry is an active data sender. */
static struct remote *remote_evict(struct smart__sec *s, uint32_t id, uint64_t now) {
  uint32_t v = UINT32_MAX;
  for (uint32_t i = 0; i < s->nremotes; i++) {
    const struct remote_meta *m = &s->meta[i];
    if (m->data && now - m->heard < REMOTE_IDLE_NS)
      continue;
    if (v == UINT32_MAX || (s->meta[v].data && !m->data) ||
        (s->meta[v].data == m->data && m->heard < s->meta[v].heard))
      v = i;
  }
  if (v == UINT32_MAX)
    return NULL;
  s->evicted++;
  return remote_init(s, v, id, now);
}

static struct remote *remote_add(struct smart__sec *s, uint32_t id, uint64_t now) {
  if (s->nremotes >= REMOTE_MAX)
    return remote_evict(s, id, now);
  void *v = s->remotes, *m = s->meta;
  if (smart__mem_grow(smart__mem_libc(), &v, &s->cap_remotes, s->nremotes + 1,
                      sizeof(*s->remotes)) != 0)
    return NULL;
  s->remotes = v;
  if (smart__mem_grow(smart__mem_libc(), &m, &s->cap_meta, s->nremotes + 1,
                      sizeof(*s->meta)) != 0)
    return NULL;
  s->meta = m;
  return remote_init(s, s->nremotes++, id, now);
}

/* Is `counter` fresh for r? (Does not record it.) The bitmap holds the
 * SMART__REPLAY_WORDS words ending with the one of top - 1; a counter more
 * than SMART__REPLAY_BITS - 64 below the top is refused as too old. */
static int replay_fresh(const struct remote *r, uint64_t counter) {
  if (counter >= r->top)
    return 1;
  if (r->top - 1 - counter >= SMART__REPLAY_BITS - 64)
    return 0;
  return !(r->bits[(counter / 64) % SMART__REPLAY_WORDS] >> (counter % 64) & 1);
}

static void replay_mark(struct remote *r, uint64_t counter) {
  if (!r->used) {
    memset(r->bits, 0, sizeof(r->bits));
    r->top = counter + 1;
  } else if (counter >= r->top) {
    uint64_t last = (r->top - 1) / 64, next = counter / 64;
    uint64_t n = next - last < SMART__REPLAY_WORDS ? next - last : SMART__REPLAY_WORDS;
    for (uint64_t i = 1; i <= n; i++) /* words the window slides over start empty */
      r->bits[(last + i) % SMART__REPLAY_WORDS] = 0;
    r->top = counter + 1;
  }
  r->bits[(counter / 64) % SMART__REPLAY_WORDS] |= UINT64_C(1) << (counter % 64);
}

/* The subkey for (r, epoch), from the cache or derived. */
static int remote_key(struct smart__sec *s, struct remote *r, uint32_t id, uint8_t epoch,
                      const uint8_t **key, uint8_t scratch[32]) {
  if (r)
    for (int i = 0; i < 2; i++)
      if (r->key_valid[i] && r->key_epoch[i] == epoch) {
        *key = r->key[i];
        return 0;
      }
  if (sender_key(s, epoch, id, scratch) != 0)
    return SMART_EAUTH;
  *key = scratch;
  return 0;
}

/* Which epochs are acceptable from r now: 1 if `epoch` is, for a datagram
 * with `counter`. A sender ID never heard before is held to this socket's
 * own epochs: the newest it knows (or a newer one), the one before it only
 * during the grace period. A sender's previous epoch is acceptable during
 * the grace period only for what it sealed before its switch: a socket's
 * counter never goes back, so that is counters below the first of the new
 * epoch; a member that kept the old key cannot seal in its name under it
 * once the new epoch is in (smart-security(7), "Epochs and grace"). */
static int epoch_ok(const struct smart__sec *s, const struct remote *r, uint8_t epoch,
                    uint64_t counter, uint64_t now) {
  if (!r || !r->used) {
    /* A socket that has sealed and accepted nothing yet (a receiver that
     * just joined, in group-key mode) takes the session's epoch, however
     * far the group has rekeyed: every epoch's key derives from the group
     * key, and the tag decides. */
    if (s->fresh)
      return 1;
    uint8_t ahead = (uint8_t)(epoch - s->tx_epoch);
    if (ahead < 128)
      return 1;
    return s->have_prev_tx && epoch == s->prev_tx_epoch &&
           now - s->tx_switched_at < s->cfg.grace_ns;
  }
  if (epoch == r->cur)
    return 1;
  uint8_t ahead = (uint8_t)(epoch - r->cur);
  if (ahead >= 1 && ahead < 128)
    return 1; /* newer: adopted once it authenticates */
  return r->have_prev && epoch == r->prev && now - r->switched_at < s->cfg.grace_ns &&
         counter < r->cur_low && r->cur_low - counter <= GRACE_REORDER;
}

/* The cached AES-256-GCM key of (r, epoch, salt), or NULL. */
static const uint8_t *gcm_cached(const struct remote *r, uint8_t epoch, const uint8_t salt[16]) {
  if (r)
    for (int i = 0; i < 2; i++)
      if (r->gk[i].valid && r->gk[i].epoch == epoch && !memcmp(r->gk[i].salt, salt, 16))
        return r->gk[i].key;
  return NULL;
}

/* Keep an AES-256-GCM key that just authenticated a datagram: a sender
 * uses one salt per epoch (and per 2^28 datagrams), so two entries hold
 * the current key and the one before a switch. */
static void gcm_remember(struct remote *r, uint8_t epoch, const uint8_t salt[16],
                         const uint8_t *key) {
  if (gcm_cached(r, epoch, salt))
    return;
  struct gcm_key *g = &r->gk[r->gk_next];
  r->gk_next ^= 1;
  g->valid = 1;
  g->epoch = epoch;
  memcpy(g->salt, salt, 16);
  memcpy(g->key, key, 32);
}

static void remote_accept(struct smart__sec *s, struct remote *r, uint8_t epoch,
                          const uint8_t *key, uint64_t counter, uint64_t now) {
  if (!r->used) {
    r->cur = epoch;
    r->cur_low = counter;
  } else if (epoch != r->cur && (uint8_t)(epoch - r->cur) < 128) {
    r->prev = r->cur;
    r->have_prev = 1;
    r->switched_at = now;
    r->cur = epoch;
    r->cur_low = counter;
  } else if (epoch == r->cur && counter < r->cur_low) {
    r->cur_low = counter; /* a datagram of the new epoch that came late */
  }
  /* Cache the subkey in the slot of the other epoch. */
  int slot = r->key_valid[0] && r->key_epoch[0] == epoch   ? 0
             : r->key_valid[1] && r->key_epoch[1] == epoch ? 1
             : (r->key_valid[0] && r->key_epoch[0] == r->cur) ? 1
                                                             : 0;
  if (key != r->key[slot]) {
    memcpy(r->key[slot], key, 32);
    r->key_epoch[slot] = epoch;
    r->key_valid[slot] = 1;
  }
  replay_mark(r, counter);
  r->used = 1;
  s->meta[r - s->remotes].heard = now;
  if (s->fresh) { /* a newcomer joins the session's epoch */
    s->fresh = 0;
    if (epoch != s->tx_epoch) {
      set_tx_epoch(s, epoch, now);
      s->adopted++;
    }
    return;
  }
  /* Members follow the newest epoch they have seen authenticated. */
  if ((uint8_t)(epoch - s->tx_epoch) >= 1 && (uint8_t)(epoch - s->tx_epoch) < 128) {
    set_tx_epoch(s, epoch, now);
    s->adopted++;
  }
  else if (s->cfg.mode == SMART__SEC_IDENTITY && !smart__sec_have_key(s, s->tx_epoch))
    set_tx_epoch(s, epoch, now);
}

/* Where the envelope of a sealed datagram is: 0, or SMART_EAUTH when its
 * layout is wrong. DATA carries it after the header, other kinds in the
 * AUTH extension that ends the datagram. */
static int env_locate(const uint8_t *in, size_t len, int data, const uint8_t **env) {
  if (data) {
    if (len < SMART__DATA_HDR_LEN + SMART__SEC_DATA_OVERHEAD || !(in[6] & 0x20))
      return SMART_EAUTH;
    *env = in + SMART__DATA_HDR_LEN;
    return 0;
  }
  if (len < SMART__HDR_LEN + SMART__SEC_MSG_OVERHEAD)
    return SMART_EAUTH;
  const uint8_t *e = in + len - SMART__SEC_MSG_OVERHEAD;
  if (smart__get16(e) != SMART__EXT_AUTH || smart__get16(e + 2) != SMART__SEC_AUTH_LEN)
    return SMART_EAUTH;
  *env = e + 4;
  return 0;
}

/* Identity mode: is the epoch's key installed, and may `id` send DATA
 * with it (limiting senders: only the sender ID the key came with)? DATA
 * from a sender ID no key is bound to may come from the sender restarted:
 * the caller asks for the key then too (ident.c decides whether an answer
 * may move this socket to another sender instance). */
static int ident_key_ok(struct smart__sec *s, uint8_t epoch, uint32_t id, int data) {
  const struct epoch_key *ek = NULL;
  for (unsigned i = 0; i < KEY_SLOTS; i++)
    if (s->sk->ek[i].valid && s->sk->ek[i].epoch == epoch)
      ek = &s->sk->ek[i];
  if (!ek) {
    s->missing = epoch; /* the caller asks the sender for it */
    return 0;
  }
  if (data && ek->data_sender && ek->data_sender != id) {
    s->missing = epoch;
    return 0;
  }
  return 1;
}

/* How to open one envelope: the suite, its nonce (the envelope's 24 bytes,
 * or the 12 of AES-256-GCM) and key. */
struct rx_aead {
  const struct smart_crypto_ops *o;
  unsigned suite;
  const uint8_t *nonce, *key;
};

static int rx_open(const struct rx_aead *a, uint8_t *out, const uint8_t *ct, size_t ctlen,
                   const uint8_t *ad, size_t adlen) {
  const struct smart_crypto_ops *o = a->o;
  if (a->suite == SMART__SEC_SUITE_XCHACHA)
    return o->open(out, ct, ctlen, ad, adlen, a->nonce, a->key, o->user_data);
  return o->aead_open(SMART_CIPHER_AES256GCM, out, ct, ctlen, ad, adlen, a->nonce, a->key,
                      o->user_data);
}

/* Verify (and decrypt) into `out`: the plaintext's length, or SMART_EAUTH.
 * In place (inplace: out is `in` itself, writable): a message stays where
 * it is; a DATA packet's body is opened where it lies and the plaintext
 * starts 8 bytes before it (*start), where the header is moved. */
static smart_ssize aead_open(const struct rx_aead *a, const uint8_t *in, size_t len,
                             uint8_t *out, int data, uint8_t flags, const uint8_t *nonce,
                             int inplace, uint8_t **start) {
  const uint8_t *tag = in + len - SMART__SEC_TAG;
  uint8_t dummy[1];
  *start = out;
  if (!data) {
    if (rx_open(a, dummy, tag, SMART__SEC_TAG, in, (size_t)(tag - in)))
      return SMART_EAUTH;
    size_t plain = len - SMART__SEC_MSG_OVERHEAD;
    if (!inplace)
      memmove(out, in, plain);
    return (smart_ssize)plain;
  }
  const uint8_t *b = nonce + SMART__SEC_NONCE;
  size_t body = len - SMART__DATA_HDR_LEN - SMART__SEC_DATA_OVERHEAD, adlen = (size_t)(b - in);
  if (inplace) /* the body's own place: b - 8 is inside the envelope */
    *start = out = out + adlen - SMART__DATA_HDR_LEN;
  int rc;
  if (flags & SMART__SEC_F_ENCRYPTED) {
    rc = rx_open(a, out + SMART__DATA_HDR_LEN, b, body + SMART__SEC_TAG, in, adlen);
  } else {
    rc = rx_open(a, dummy, tag, SMART__SEC_TAG, in, adlen + body);
    if (rc == 0 && !inplace)
      memmove(out + SMART__DATA_HDR_LEN, b, body);
  }
  if (rc)
    return SMART_EAUTH;
  memcpy(out, in, SMART__DATA_HDR_LEN); /* in place: 8 bytes apart at least */
  out[6] &= (uint8_t)~0x20; /* D = 0 for the engine */
  return (smart_ssize)(SMART__DATA_HDR_LEN + body);
}

static smart_ssize sec_open(struct smart__sec *s, const uint8_t *in, size_t len, uint8_t *out,
                            uint32_t *sender, uint64_t now, int inplace, uint8_t **start);

smart_ssize smart__sec_open(struct smart__sec *s, const uint8_t *in, size_t len,
                            uint8_t *out, size_t cap, uint32_t *sender, uint64_t now) {
  if (!s || !in || !out || cap < len)
    return SMART_EINVAL;
  uint8_t *start;
  return sec_open(s, in, len, out, sender, now, 0, &start);
}

int smart__sec_opens_in_place(const struct smart__sec *s) { return s && s->in_place; }

smart_ssize smart__sec_open_in_place(struct smart__sec *s, uint8_t *buf, size_t len,
                                     const uint8_t **pt, uint32_t *sender, uint64_t now) {
  if (!s || !buf || !pt)
    return SMART_EINVAL;
  if (!smart__sec_opens_in_place(s) || len < SMART__HDR_LEN ||
      ((buf[1] >> 6) == SMART__TYP_DATA && len >= SMART__DATA_HDR_LEN + SMART__SEC_HDR &&
       (buf[SMART__DATA_HDR_LEN + 1] & SMART__SEC_F_SUITE) != SMART__SEC_SUITE_XCHACHA))
    return SMART_ENOTSUP;
  uint8_t *start;
  smart_ssize n = sec_open(s, buf, len, buf, sender, now, 1, &start);
  if (n >= 0)
    *pt = start;
  return n;
}

static smart_ssize sec_open(struct smart__sec *s, const uint8_t *in, size_t len, uint8_t *out,
                            uint32_t *sender, uint64_t now, int inplace, uint8_t **start) {
  if (len < SMART__HDR_LEN || smart__get16(in + 2) != len)
    return SMART_EAUTH;
  int data = in[1] >> 6 == SMART__TYP_DATA;
  const uint8_t *env;
  if (env_locate(in, len, data, &env) != 0)
    return SMART_EAUTH;
  const uint8_t *nonce = env + SMART__SEC_HDR;
  uint8_t epoch = env[0], flags = env[1];
  uint32_t id = smart__get32(env + 4);
  uint64_t counter = smart__get64(nonce + 16);
  unsigned suite = flags & SMART__SEC_F_SUITE;
  if (env[2] || env[3] || (flags & SMART__SEC_F_ZERO) || id == 0 ||
      (!data && (flags & SMART__SEC_F_ENCRYPTED)))
    return SMART_EAUTH;
  if (suite != SMART__SEC_SUITE_XCHACHA && !(suite == SMART__SEC_SUITE_AESGCM && s->gcm_ok)) {
    s->cipher_drops++; /* an unassigned suite, or AES-GCM the provider lacks here */
    return SMART_ENOTSUP;
  }
  if (id == s->my_id)
    return SMART_EAUTH; /* our own datagram reflected back: never accepted */
  if (counter == UINT64_MAX)
    return SMART_ERANGE; /* no sender gets there; accepted, it would wrap the window */
  struct remote *r = remote_find(s, id);
  if (!epoch_ok(s, r, epoch, counter, now)) {
    if (s->cfg.mode == SMART__SEC_IDENTITY && data && (!r || !r->used))
      s->missing = epoch; /* DATA from a new sender ID: perhaps the sender restarted */
    return SMART_EAUTH;
  }
  if (r && r->used && !replay_fresh(r, counter))
    return SMART_ERANGE;
  if (s->cfg.mode == SMART__SEC_IDENTITY && !ident_key_ok(s, epoch, id, data))
    return SMART_EAUTH;
  uint8_t scratch[32], gscratch[32], n12[12];
  const uint8_t *key;
  if (remote_key(s, r, id, epoch, &key, scratch) != 0)
    return SMART_EAUTH;
  struct rx_aead a = {.o = s->cfg.ops, .suite = suite, .nonce = nonce, .key = key};
  if (suite == SMART__SEC_SUITE_AESGCM) {
    if (!(a.key = gcm_cached(r, epoch, nonce))) {
      if (gcm_key(s->cfg.ops, key, nonce, gscratch) != 0) {
        smart__memzero(scratch, sizeof(scratch));
        return SMART_EAUTH;
      }
      a.key = gscratch;
    }
    gcm_nonce(n12, id, nonce);
    a.nonce = n12;
  }
  smart_ssize plain = aead_open(&a, in, len, out, data, flags, nonce, inplace, start);
  if (plain >= 0) {
    smart__put16(*start + 2, (uint16_t)plain);
    if (!r && !(r = remote_add(s, id, now))) {
      plain = SMART_EAUTH; /* active data senders only: refuse rather than forget */
    } else {
      remote_accept(s, r, epoch, key, counter, now);
      if (suite == SMART__SEC_SUITE_AESGCM)
        gcm_remember(r, epoch, nonce, a.key);
    }
  }
  smart__memzero(scratch, sizeof(scratch));
  smart__memzero(gscratch, sizeof(gscratch));
  if (plain >= 0)
    *sender = id;
  return plain;
}

/* ---- epochs ----------------------------------------------------------- */

int smart__sec_rekey(struct smart__sec *s, uint64_t now) {
  if (!s)
    return SMART_EINVAL;
  if (s->cfg.mode != SMART__SEC_GROUP)
    return SMART_ESTATE; /* identity mode rekeys through ident.c */
  s->fresh = 0;
  return set_tx_epoch(s, (uint8_t)(s->tx_epoch + 1), now) ? SMART_ESYS : 0;
}

void smart__sec_rekey_started(struct smart__sec *s, uint64_t now) {
  s->last_rekey = now;
  s->bytes = 0;
}

int smart__sec_rekey_due(const struct smart__sec *s, uint64_t now) {
  return (s->cfg.rekey_ns && now - s->last_rekey >= s->cfg.rekey_ns) ||
         (s->cfg.rekey_bytes && s->bytes >= s->cfg.rekey_bytes);
}

unsigned smart__sec_epoch(const struct smart__sec *s) { return s->tx_epoch; }

int smart__sec_install_key(struct smart__sec *s, uint8_t epoch, const uint8_t key[32],
                           uint32_t data_sender) {
  if (!s || !key || s->cfg.mode != SMART__SEC_IDENTITY)
    return SMART_EINVAL;
  struct epoch_key *slot = NULL;
  for (unsigned i = 0; i < KEY_SLOTS && !slot; i++)
    if (s->sk->ek[i].valid && s->sk->ek[i].epoch == epoch)
      slot = &s->sk->ek[i];
  for (unsigned i = 0; i < KEY_SLOTS && !slot; i++)
    if (!s->sk->ek[i].valid)
      slot = &s->sk->ek[i];
  if (!slot) { /* replace the oldest */
    slot = &s->sk->ek[0];
    for (unsigned i = 1; i < KEY_SLOTS; i++)
      if (s->sk->ek[i].serial < slot->serial)
        slot = &s->sk->ek[i];
  }
  /* Cached subkeys of a replaced epoch are stale. */
  for (uint32_t i = 0; i < s->nremotes; i++)
    for (int k = 0; k < 2; k++) {
      if (s->remotes[i].key_valid[k] && s->remotes[i].key_epoch[k] == epoch)
        s->remotes[i].key_valid[k] = 0;
      if (s->remotes[i].gk[k].valid && s->remotes[i].gk[k].epoch == epoch)
        s->remotes[i].gk[k].valid = 0;
    }
  if (s->tx_epoch == epoch)
    s->tx_key_valid = 0;
  memcpy(slot->key, key, 32);
  slot->epoch = epoch;
  slot->data_sender = data_sender;
  slot->serial = ++s->key_serial;
  slot->valid = 1;
  if (s->missing == epoch)
    s->missing = -1;
  return 0;
}

/* Forget one key slot, and the subkeys cached from it. */
static void drop_slot(struct smart__sec *s, struct epoch_key *k) {
  for (uint32_t i = 0; i < s->nremotes; i++)
    for (int j = 0; j < 2; j++) {
      if (s->remotes[i].key_valid[j] && s->remotes[i].key_epoch[j] == k->epoch)
        s->remotes[i].key_valid[j] = 0;
      if (s->remotes[i].gk[j].valid && s->remotes[i].gk[j].epoch == k->epoch)
        s->remotes[i].gk[j].valid = 0;
    }
  if (s->tx_epoch == k->epoch)
    s->tx_key_valid = 0;
  smart__memzero(k, sizeof(*k));
}

void smart__sec_keep_keys(struct smart__sec *s, uint32_t data_sender, uint8_t newest,
                          unsigned span) {
  for (unsigned i = 0; i < KEY_SLOTS; i++) {
    struct epoch_key *k = &s->sk->ek[i];
    if (k->valid && (k->data_sender != data_sender || (uint8_t)(newest - k->epoch) > span))
      drop_slot(s, k);
  }
}

int smart__sec_export_key(const struct smart__sec *s, uint8_t epoch, uint8_t key[32]) {
  for (unsigned i = 0; i < KEY_SLOTS; i++)
    if (s->sk->ek[i].valid && s->sk->ek[i].epoch == epoch) {
      memcpy(key, s->sk->ek[i].key, 32);
      return 0;
    }
  return SMART_ESTATE;
}

int smart__sec_have_key(const struct smart__sec *s, uint8_t epoch) {
  for (unsigned i = 0; i < KEY_SLOTS; i++)
    if (s->sk->ek[i].valid && s->sk->ek[i].epoch == epoch)
      return 1;
  return 0;
}

int smart__sec_use_epoch(struct smart__sec *s, uint8_t epoch, uint64_t now) {
  if (!smart__sec_have_key(s, epoch))
    return SMART_ESTATE;
  return set_tx_epoch(s, epoch, now) ? SMART_ESYS : 0;
}

int smart__sec_take_missing(struct smart__sec *s) {
  int m = s->missing;
  s->missing = -1;
  return m;
}

uint32_t smart__sec_id(const struct smart__sec *s) { return s->my_id; }

uint64_t smart__sec_adopted(const struct smart__sec *s) { return s->adopted; }

const struct smart_crypto_ops *smart__sec_ops(const struct smart__sec *s) { return s->cfg.ops; }

void smart__sec_last_nonce(const struct smart__sec *s, uint8_t nonce[24]) {
  memcpy(nonce, s->last_nonce, 24);
}

uint64_t smart__sec_last_counter(const struct smart__sec *s) { return smart__get64(s->last_nonce + 16); }

uint64_t smart__sec_counter_of(const uint8_t *sealed, size_t len) {
  /* DATA: the envelope follows the 8-byte header (epoch, flags, sender ID,
   * then the 24-byte nonce: salt and counter); other kinds carry it in the
   * trailer, whose last 24 bytes are nonce and tag. See env_hdr(). */
  const uint8_t *c = sealed[1] >> 6 == SMART__TYP_DATA ? sealed + 32 : sealed + len - 24;
  return smart__get64(c);
}

void smart__sec_test_set_counter(struct smart__sec *s, uint64_t counter) { s->counter = counter; }

void smart__sec_test_set_id(struct smart__sec *s, uint32_t id) {
  s->my_id = id;
  s->tx_key_valid = 0; /* the sealing key is of (epoch, sender ID) */
}

uint64_t smart__sec_cipher_drops(const struct smart__sec *s) { return s->cipher_drops; }

void smart__sec_heard_data(struct smart__sec *s, uint32_t id) {
  if (remote_find(s, id))
    s->meta[s->last_remote].data = 1;
}

uint64_t smart__sec_evicted(const struct smart__sec *s) { return s->evicted; }

uint32_t smart__sec_senders(const struct smart__sec *s) { return s->nremotes; }

unsigned smart__sec_suite(const struct smart__sec *s) { return s->suite; }

int smart__sec_opens_gcm(const struct smart__sec *s) { return s && s->gcm_ok; }

int smart__sec_chooses(const struct smart__sec *s) { return s && s->chooses; }

void smart__sec_choose(struct smart__sec *s, int gcm) {
  if (s && s->chooses)
    s->suite = gcm ? SMART__SEC_SUITE_AESGCM : SMART__SEC_SUITE_XCHACHA;
}
