/*
 * libsmart: secure, reliable IP multicast (SMART Multicast).
 *
 * Public API. Everything here is an ABI promise:
 *   - handles are opaque pointers, never structs passed by value;
 *   - errors are negative ints with fixed values, the same on every platform;
 *   - a struct that must cross the ABI starts with `size_t size` (size-versioned)
 *     and only ever grows at its end;
 *   - only fixed-width integers, size_t, smart_ssize and pointers appear in
 *     signatures (no bool, long, ssize_t or time_t), so every call can be made
 *     from Python ctypes, Rust or Go without a C shim.
 *
 * Copyright (c) 2026 the libsmart authors. ISC licence, see COPYING.
 */
#ifndef SMART_SMART_H
#define SMART_SMART_H

#include <stddef.h>
#include <stdint.h>

#include <smart/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && !defined(SMART_STATIC)
#  ifdef SMART_BUILDING
#    define SMART_API __declspec(dllexport)
#  else
#    define SMART_API __declspec(dllimport)
#  endif
#elif defined(SMART_BUILDING) && !defined(SMART_STATIC) && defined(__GNUC__)
#  define SMART_API __attribute__((visibility("default")))
#else
#  define SMART_API
#endif

/** A byte count (>= 0) or a negative SMART_E* error code. */
typedef ptrdiff_t smart_ssize;

/** Monotonic time in nanoseconds. */
typedef uint64_t smart_tstamp;

/**
 * Error codes. Values are fixed forever; new codes are appended.
 * X(name, value, message)
 */
#define SMART_ERRNO_MAP(X)                                                      \
  X(EINVAL, -1, "invalid argument")                                           \
  X(ENOMEM, -2, "out of memory")                                              \
  X(ENOBUF, -3, "output buffer too small")                                    \
  X(ETRUNC, -4, "datagram truncated: shorter than its packet layout")         \
  X(ESIZE, -5, "Packet Size field does not match the datagram length")        \
  X(ECMD, -6, "unknown command for this packet type")                         \
  X(ERESERVED, -7, "reserved bits set that must be zero")                     \
  X(EFORMAT, -8, "malformed payload for its format")                          \
  X(EEXT, -9, "malformed or unknown critical extension")                      \
  X(ESYNC, -10, "access sync code does not match the session")               \
  X(EAGAIN, -11, "operation would block; try again")                          \
  X(EMSGSIZE, -12, "message too large")                                       \
  X(ENOTCONN, -13, "not joined to a group")                                   \
  X(ECLOSED, -14, "handle is closed")                                         \
  X(ETIMEDOUT, -15, "timed out")                                              \
  X(EAUTH, -16, "authentication failed")                                      \
  X(ENOPROTOOPT, -17, "unknown option")                                       \
  X(E2BIG, -18, "struct size unsupported or unknown trailing bytes set")      \
  X(ESYS, -19, "operating system error (see SMART_OPT_LAST_OS_ERROR)")        \
  X(ECALLBACK, -20, "callback failed")                                        \
  X(ESTATE, -21, "operation not valid in the current state")                  \
  X(ERANGE, -22, "sequence or value out of the acceptable range")             \
  X(ELOST, -23, "data lost: no longer available for repair")                  \
  X(ENOTSUP, -24, "not supported")

/** Error codes: 0 is success, every error is negative. */
enum smart_error {
  SMART_OK = 0,
#define SMART__ERRENUM(name, val, msg) SMART_##name = (val),
  SMART_ERRNO_MAP(SMART__ERRENUM)
#undef SMART__ERRENUM
  /** One past the most negative code in use (for bindings' tables). */
  SMART_ERR_LAST = -25
};

/**
 * The library's version string, for example "0.1.0".
 * @return a static string, never NULL.
 * @since 0.1
 */
SMART_API const char *smart_version(void);

/**
 * The library's version as 0xMMmmpp (compare with SMART_VERSION_NUM to detect
 * a header/library mismatch at run time).
 * @since 0.1
 */
SMART_API uint32_t smart_version_num(void);

/**
 * A human-readable message for an error code.
 * @param err  a SMART_E* code (or 0).
 * @return a static string, never NULL; "unknown error" for unknown codes.
 * @note Thread-safe.
 * @since 0.1
 */
SMART_API const char *smart_strerror(int err);

/**
 * The symbolic name of an error code, for example "SMART_EAGAIN".
 * @return a static string, never NULL; "SMART_UNKNOWN" for unknown codes.
 * @since 0.1
 */
SMART_API const char *smart_err_name(int err);

/* ======================================================================
 * Sockets
 *
 * Threading contract: a smart_sock is used by one thread at a time (calls on
 * one socket must not overlap; different sockets are independent). libsmart
 * starts no thread and installs no signal handler. Blocking calls wait in
 * poll(2) on the socket's own descriptors.
 * ====================================================================== */

/** An opaque SMART socket: one sender, a receiver of every sender heard on
 *  the joined group, or both. */
typedef struct smart_sock smart_sock;

/** smart_open() flags. */
#define SMART_OPEN_NONBLOCK 0x1u /**< calls never block; they return SMART_EAGAIN */

/**
 * Create a socket. Nothing goes on the network before smart_join().
 * @param out    receives the socket.
 * @param flags  0 or SMART_OPEN_NONBLOCK.
 * @return 0, SMART_EINVAL, SMART_ENOMEM or SMART_ESYS.
 * @since 0.1
 */
SMART_API int smart_open(smart_sock **out, uint32_t flags);

/**
 * Close a socket. A sender first lingers for SMART_OPT_LINGER_MS answering
 * repair requests (0: close at once). Accepts NULL.
 * @since 0.1
 */
SMART_API void smart_close(smart_sock *s);

/**
 * Join a group, as "239.255.1.1:5000" or "[ff15::1]:5000".
 * @param iface   interface by address ("127.0.0.1") or name ("lo"); NULL for
 *                the system's default.
 * @param source  NULL for any-source; else a sender's address (no port) for a
 *                source-specific join.
 * @param flags   0.
 * @return 0, SMART_EINVAL (bad address, not multicast, unknown interface,
 *         already joined to another group), SMART_ESYS.
 * @since 0.1
 */
SMART_API int smart_join(smart_sock *s, const char *group, const char *iface,
                         const char *source, uint32_t flags);

/**
 * Leave the group (or one source of a source-specific join).
 * @return 0, SMART_EINVAL, SMART_ENOTCONN, SMART_ESYS.
 * @since 0.1
 */
SMART_API int smart_leave(smart_sock *s, const char *group, const char *source);

/** smart_send() / smart_recv() flags. */
#define SMART_MSG_DONTWAIT 0x1u /**< do not block for this call */

/**
 * Queue one message for reliable, ordered delivery to the group.
 * @param buf    the message; copied before return.
 * @param len    1..SMART_OPT_MAX_MSG bytes; queued whole or not at all.
 * @return len once queued (errors from transmitting come back from later
 *         calls), SMART_EAGAIN (send queue full and non-blocking),
 *         SMART_EMSGSIZE, SMART_ENOTCONN (not joined), SMART_ENOMEM,
 *         SMART_EINVAL.
 * @since 0.1
 */
SMART_API smart_ssize smart_send(smart_sock *s, const void *buf, size_t len,
                                 uint32_t flags);

/** What smart_recv() returned. */
#define SMART_RECV_MESSAGE 1u /**< a message */
#define SMART_RECV_LOSS 2u    /**< an unrecoverable gap (smart_recv returns SMART_ELOST) */
#define SMART_RECV_TRUNC 0x1u /**< flag: the message was longer than the buffer */

/**
 * Information about a received message or loss. Size-versioned: set `size`
 * to sizeof(struct smart_msginfo) before the call; fields are only appended,
 * and the library never writes past `size` (a program built against an older
 * header keeps working).
 */
struct smart_msginfo {
  size_t size;
  uint32_t kind;      /**< SMART_RECV_MESSAGE or SMART_RECV_LOSS */
  uint32_t flags;     /**< SMART_RECV_TRUNC */
  uint64_t seq;       /**< sequence of the message's first datagram; first lost one */
  uint64_t count;     /**< datagrams lost (LOSS); 1 (MESSAGE) */
  uint64_t sender_id; /**< the socket's id for the sender: stable while it is heard */
  size_t len;         /**< the message's full length (MESSAGE) */
  char sender[48];    /**< the sender's address as text, "A.B.C.D:PORT" or "[V6]:PORT" */
};

/**
 * Receive the next message, in order, from any sender on the group.
 * @param buf    where the message goes; a longer message is truncated and
 *               flagged SMART_RECV_TRUNC.
 * @param info   NULL, or filled (see struct smart_msginfo).
 * @return the number of bytes stored; SMART_ELOST for an unrecoverable gap
 *         (info says which sender and which sequences: loss is never
 *         silent); SMART_EAGAIN (nothing yet and non-blocking, or the receive
 *         timeout SMART_OPT_RCVTIMEO_MS passed); SMART_ENOTCONN; SMART_EINVAL.
 * @since 0.1
 */
SMART_API smart_ssize smart_recv(smart_sock *s, void *buf, size_t len,
                                 struct smart_msginfo *info, uint32_t flags);

/**
 * Sender: transmit everything queued and wait until every receiver that
 * reports its position (see smart_receivers()) holds all of it (evicted
 * ones excepted), at most timeout_ms (-1: no limit). A sender that has
 * heard no report waits instead until the group has had its chance to ask
 * for repairs (no request for the repair interval after the last datagram).
 * @return 0, SMART_ETIMEDOUT (smart_receivers() says who is behind),
 *         SMART_EAGAIN (non-blocking: call again).
 * @since 0.1
 */
SMART_API int smart_flush(smart_sock *s, int32_t timeout_ms);

/** Options: each documents exactly one C type; a wrong length is SMART_EINVAL. */
enum smart_option {
  SMART_OPT_TTL = 1,             /**< int32: multicast TTL / hop limit (default 1) */
  SMART_OPT_LOOPBACK = 2,        /**< int32 0/1: deliver to this host too (default 1) */
  SMART_OPT_SYNC = 3,            /**< uint32 0..255: Access Synch code (default 0x53) */
  SMART_OPT_RATE = 4,            /**< uint64: bytes/s, 0 = unlimited: what it sends as a sender,
                                      and apart what it sends as a receiver (reports) */
  SMART_OPT_WINDOW = 5,          /**< uint32: datagrams kept for repair (<= 16384) */
  SMART_OPT_GRTT_US = 6,         /**< uint32: group round-trip time advertised, us */
  SMART_OPT_NAK_K = 7,           /**< uint32: requests spread over [0, K*GRTT] */
  SMART_OPT_GSIZE = 8,           /**< uint32: group size estimate for the timers */
  SMART_OPT_LINGER_MS = 9,       /**< uint32: smart_close() answers repairs this long */
  SMART_OPT_DROP_PPM = 10,       /**< uint32: testing: drop this many per million incoming */
  SMART_OPT_RCVTIMEO_MS = 11,    /**< int32: blocking smart_recv() gives up after (-1: never) */
  SMART_OPT_NONBLOCK = 12,       /**< int32 0/1 */
  SMART_OPT_LAST_OS_ERROR = 13,  /**< int32, get only: errno behind the last SMART_ESYS */
  SMART_OPT_MAX_MSG = 14,        /**< uint32: largest message accepted (default 64 MiB) */
  SMART_OPT_LATE_JOIN = 15,      /**< uint32: SMART_JOIN_CURRENT or SMART_JOIN_WINDOW */
  SMART_OPT_NAK_RETRIES = 16,    /**< uint32: request rounds before a loss is reported */
  SMART_OPT_SEED = 17,           /**< uint64: seed the timer randomness (tests) */
  SMART_OPT_MTU = 18,            /**< uint32: largest datagram sent (default 1472) */
  SMART_OPT_CRYPTO = 19,         /**< const struct smart_crypto_ops *: the provider */
  SMART_OPT_GROUP_KEY = 20,      /**< uint8_t[32]: pre-shared group key: secure session */
  SMART_OPT_AUTH_ONLY = 21,      /**< int32 0/1: authenticate data without encrypting it */
  SMART_OPT_IDENTITY = 22,       /**< uint8_t[64]: this socket's identity secret key */
  SMART_OPT_PEER_KEY = 23,       /**< uint8_t[32]: pin a sender's identity public key */
  SMART_OPT_REKEY_MS = 24,       /**< uint32: sender starts a new epoch this often (0: never) */
  SMART_OPT_REKEY_BYTES = 25,    /**< uint64: ... or after this many bytes (0: never) */
  SMART_OPT_EPOCH_GRACE_MS = 26, /**< uint32: an old epoch is accepted this long (default 2000) */
  SMART_OPT_SOURCE_AUTH = 27,    /**< uint32: source authentication: 0 off, 1 a signature on every
                                      datagram, N >= 2 a signed manifest every N datagrams */
  SMART_OPT_SOURCE_AUTH_MS = 28, /**< uint32: a manifest at least this often (default 10); an
                                      idle sender signs sooner: SMART_OPT_SOURCE_AUTH_EARLY */
  SMART_OPT_REPORT_MS = 29,      /**< uint32: receivers' base usage-report interval (default 5000) */
  SMART_OPT_MEMBER_TIMEOUT_MS = 30, /**< uint32: a silent member leaves after (default 20000) */
  SMART_OPT_NO_PACK = 31, /**< int32 0/1: never pack messages into one datagram (FMT 2), for
                            peers that speak only the seed's formats (default 0) */
  SMART_OPT_DELIVERY = 32,  /**< uint32: SMART_DELIVERY_RELIABLE (default) or _REALTIME */
  SMART_OPT_HORIZON_MS = 33, /**< uint32: release what was sent this long ago (default 0:
                                none; real-time: 0 means 1000) */
  SMART_OPT_EVICT_MS = 34,  /**< uint32: reliable: evict a receiver that holds the buffer
                               without progress this long (default 10000) */
  SMART_OPT_STATUS_MS = 35, /**< uint32: receivers' base position-report interval
                               (default 1000; 0: never report) */
  SMART_OPT_SENDER_TIMEOUT_MS = 36, /**< uint32: a silent sender is gone after this
                                      (default 4000; inactive after half) */
  SMART_OPT_SNDBUF = 39, /**< uint64: bytes the send queue may hold, 16 per message included
                           (default 128 MiB); when full, or 8 MiB are queued already,
                           smart_send() waits or SMART_EAGAIN */
  SMART_OPT_CIPHER = 40, /**< uint32: the AEAD this socket seals with, SMART_CIPHER_* (default
                           0, auto: AES-256-GCM for data while every receiver that reports
                           opens it, else XChaCha20-Poly1305); it opens every suite it can */
  SMART_OPT_CC = 41, /**< uint32: congestion control, SMART_CC_ON (default) or SMART_CC_OFF
                       (SMART_OPT_RATE is then the rate); with it SMART_OPT_RATE is its upper
                       bound (@since 0.2) */
  SMART_OPT_CC_MIN_RATE = 42, /**< uint64: congestion control's lower bound, bytes/s (default
                                16384, at least 1024) (@since 0.2) */
  SMART_OPT_CC_FLOOR = 43, /**< uint64: a receiver whose rate stays below this, bytes/s, is
                            reported slow (SMART_EVENT_RECEIVER_SLOW) and, under the reliable
                            policy, evicted; 0 (default): SMART_OPT_CC_MIN_RATE (@since 0.2) */
  SMART_OPT_SOURCE_AUTH_EARLY = 48 /**< uint32: source authentication with N >= 2: a sender
                            with nothing more to send signs its pending manifest at once,
                            spending at most this percentage of its idle time signing and at
                            most a quarter of a CPU (default 50; 0: manifests only by N and
                            SMART_OPT_SOURCE_AUTH_MS) (@since 0.2) */,
  SMART_OPT_BACKGROUND = 49 /**< int32 0/1: a blocking socket that sends starts a thread that
                            moves what its calls left queued, answers repair requests and
                            sends heartbeats while the application makes no call (default 1;
                            0: no thread, the application calls in itself) (@since 0.2) */
};

/** SMART_OPT_CC values: see smart(7) "CONGESTION CONTROL". */
#define SMART_CC_OFF 0u /**< a fixed rate: SMART_OPT_RATE (0: unlimited) */
#define SMART_CC_ON 1u  /**< single-rate, TCP-friendly, follows the limiting receiver */

/** SMART_OPT_DELIVERY values: see smart(7) "DELIVERY GUARANTEES". */
#define SMART_DELIVERY_RELIABLE 0u /**< complete, or the receiver is evicted, with events */
#define SMART_DELIVERY_REALTIME 1u /**< release after the horizon; late receivers skip */

/** SMART_OPT_LATE_JOIN values. */
#define SMART_JOIN_CURRENT 0u /**< start at the first datagram heard (default) */
#define SMART_JOIN_WINDOW 1u  /**< also ask for what the sender still holds */

/** AEAD suites: the values of SMART_OPT_CIPHER, and the bits of a provider's ciphers(). */
#define SMART_CIPHER_AUTO 0u              /**< the default: AES-256-GCM for data and repairs
                                               where the provider offers it and every receiver
                                               that reports opens it; else XChaCha20-Poly1305
                                               (smart-security(7)) */
#define SMART_CIPHER_XCHACHA20POLY1305 1u /**< any processor */
#define SMART_CIPHER_AES256GCM 2u         /**< AES-256-GCM: the provider must offer it
                                               (libsodium's needs AES-NI), else SMART_ENOTSUP */

/**
 * Set an option. The options the engine and the security layer take when
 * the socket first joins (sync code, rate, window, timers, MTU, late join,
 * retries, seed, and every security option) can only be set before the
 * first smart_join(); the others (TTL, loopback, linger, drop, receive
 * timeout, non-blocking, maximum message) at any time.
 * @return 0, SMART_EINVAL (wrong length or value), SMART_ENOPROTOOPT
 *         (unknown option), SMART_ESTATE (an engine option after the join).
 * @since 0.1
 */
SMART_API int smart_setopt(smart_sock *s, int opt, const void *val, size_t len);

/**
 * Read an option. *len is the buffer's size in, the value's size out.
 * @return 0, SMART_EINVAL, SMART_ENOPROTOOPT.
 * @since 0.1
 */
SMART_API int smart_getopt(smart_sock *s, int opt, void *val, size_t *len);

/**
 * A descriptor to watch for readability in poll/epoll/select: when it is
 * readable, or when smart_timeout() expires, call smart_process().
 * @return the descriptor (owned by the socket), or SMART_ENOTCONN.
 * @since 0.1
 */
SMART_API int smart_fd(smart_sock *s);

/**
 * Milliseconds until smart_process() must be called even if nothing arrives
 * (rounded up; 0 = now; -1 = no timer pending). Suits poll(2) directly.
 * @since 0.1
 */
SMART_API int32_t smart_timeout(smart_sock *s);

/**
 * Do all pending work without blocking: read datagrams, run due timers,
 * transmit what is queued. Messages become available to smart_recv().
 * @param events  0 (reserved for poll events).
 * @return 0 or a SMART_E* error (SMART_ESYS from the OS).
 * @since 0.1
 */
SMART_API int smart_process(smart_sock *s, uint32_t events);

/** Counters. Size-versioned: set `size` before smart_stats(); appended only. */
struct smart_stats {
  size_t size;
  uint64_t msgs_sent;        /**< messages queued by smart_send */
  uint64_t bytes_sent;       /**< their bytes */
  uint64_t msgs_received;    /**< messages delivered to smart_recv */
  uint64_t bytes_received;   /**< their bytes */
  uint64_t dgrams_sent;      /**< datagrams handed to the OS */
  uint64_t dgrams_received;  /**< datagrams read from the OS */
  uint64_t repairs_sent;     /**< repair datagrams sent (sender) */
  uint64_t repairs_received; /**< repair datagrams that filled a gap */
  uint64_t naks_sent;        /**< REPLACEMENT requests sent */
  uint64_t naks_suppressed;  /**< requests not sent: someone asked first */
  uint64_t naks_received;    /**< REPLACEMENT requests heard */
  uint64_t losses_recovered; /**< gaps filled by repair */
  uint64_t losses_unrecoverable; /**< datagrams reported lost */
  uint64_t drops_malformed;  /**< datagrams that did not parse */
  uint64_t drops_sync;       /**< wrong Access Synch code */
  uint64_t drops_duplicate;  /**< already had it */
  uint64_t drops_window;     /**< outside the acceptable sequence window */
  uint64_t drops_injected;   /**< dropped by SMART_OPT_DROP_PPM */
  uint64_t drops_other;      /**< unsupported or otherwise refused */
  uint64_t senders;          /**< senders heard */
  uint64_t drops_auth;       /**< failed authentication, unknown key or epoch (secure mode) */
  uint64_t drops_replay;     /**< replayed datagrams (secure mode) */
  uint64_t naks_limited;     /**< requests ignored by the per-requester rate limit */
  uint64_t rekeys;           /**< key epochs started (sender) or adopted (receiver) */
  uint64_t joins_refused;    /**< identity mode: join requests from keys not allowed */
  uint64_t manifests_sent;   /**< source authentication: manifests signed (sender) */
  uint64_t manifests_verified; /**< manifests whose signature verified (receiver) */
  uint64_t drops_unsigned;   /**< data never covered by a valid signature, or not matching it */
  uint64_t drops_cipher;     /**< of drops_auth: sealed with an AEAD suite this socket cannot open */
  uint64_t tx_refused;       /**< datagrams the system refused for the moment (EPERM from a
                                  firewall, unreachable): skipped and repaired later (@since 0.2) */
  uint64_t window_peak;      /**< most datagrams the sender kept for repair at once; at most
                                  SMART_OPT_WINDOW (@since 0.2) */
  uint64_t sndbuf_peak;      /**< most bytes its send queue held at once, 16 per message
                                  included; at most SMART_OPT_SNDBUF (@since 0.2) */
  /* Congestion control (@since 0.2). Sender: */
  uint64_t cc_rate;          /**< the rate it allows now, bytes/s (0: congestion control off) */
  uint64_t cc_clr;           /**< the limiting receiver (its member_id in events), 0: none */
  uint64_t cc_clr_loss_ppm;  /**< its loss event rate, parts per million */
  uint64_t cc_clr_rtt_us;    /**< its round trip, microseconds */
  uint64_t grtt_us;          /**< the group round trip advertised now (measured with CC) */
  uint64_t cc_reports;       /**< sender: reports heard; receiver: reports sent for CC */
  /* Receiver, for the sender that limits it most: */
  uint64_t cc_loss_ppm;      /**< its loss event rate, parts per million */
  uint64_t cc_rtt_us;        /**< its round-trip estimate, microseconds */
  uint64_t cc_calc_rate;     /**< the rate the TCP equation gives it, bytes/s (0: no loss yet) */
  /* Receiver (@since 0.2): */
  uint64_t drops_socket;     /**< datagrams the host dropped at this socket, its receive buffer
                                  full (SO_RXQ_OVFL); repaired like any loss */
  uint64_t cc_losses_local;  /**< gaps those drops explain, left out of the loss event rate */
};

/**
 * Read the socket's counters; never writes past st->size.
 * @return 0, SMART_EINVAL (NULL, or size smaller than the first version).
 * @since 0.1
 */
SMART_API int smart_stats(smart_sock *s, struct smart_stats *st);

/* ======================================================================
 * Security: pluggable crypto providers
 *
 * A provider is a table of functions. libsmart ships two: libsodium's
 * (smart_crypto_sodium(), the default whenever a key is set) and null
 * (smart_crypto_null(): no security at all, for tests; explicit opt-in). A
 * third party plugs its own by filling a struct smart_crypto_ops (size set to
 * sizeof, every function up to hash non-NULL, with the sizes of SMART_KEY_BYTES and the
 * other constants below) and passing a pointer to it with SMART_OPT_CRYPTO before
 * smart_join(); the table must outlive the socket. See smart-security(7).
 * ====================================================================== */

/** Sizes every provider works with. */
#define SMART_KEY_BYTES 32u     /**< symmetric keys (group key, epoch keys) */
#define SMART_NONCE_BYTES 24u   /**< AEAD nonces */
#define SMART_TAG_BYTES 16u     /**< AEAD tags */
#define SMART_PUBKEY_BYTES 32u  /**< identity public keys (Ed25519) */
#define SMART_SECKEY_BYTES 64u  /**< identity secret keys (Ed25519, seed + public) */
#define SMART_SIG_BYTES 64u     /**< signatures */
#define SMART_GCM_NONCE_BYTES 12u /**< AES-256-GCM nonces (aead_seal, aead_open) */

/** A crypto provider. Every function returns 0 on success, negative on failure. */
struct smart_crypto_ops {
  size_t size;       /**< sizeof(struct smart_crypto_ops) */
  const char *name;  /**< for logs and smart_getopt */
  void *user_data;   /**< passed back to every function */
  /** AEAD: out = ciphertext || tag (ptlen + 16 bytes). */
  int (*seal)(uint8_t *out, const uint8_t *pt, size_t ptlen, const uint8_t *ad,
              size_t adlen, const uint8_t nonce[24], const uint8_t key[32],
              void *user_data);
  /** AEAD: ct holds ciphertext || tag (ctlen >= 16); out gets ctlen - 16 bytes. */
  int (*open)(uint8_t *out, const uint8_t *ct, size_t ctlen, const uint8_t *ad,
              size_t adlen, const uint8_t nonce[24], const uint8_t key[32],
              void *user_data);
  /** Key schedule: a 32-byte subkey of `key` for (id, 8-byte context). */
  int (*derive)(uint8_t out[32], uint64_t id, const char ctx[8],
                const uint8_t key[32], void *user_data);
  /** Unpredictable bytes. */
  int (*random)(uint8_t *out, size_t len, void *user_data);
  /** Signatures with identity keys. */
  int (*sign)(uint8_t sig[64], const uint8_t *m, size_t mlen,
              const uint8_t sk[64], void *user_data);
  int (*verify)(const uint8_t sig[64], const uint8_t *m, size_t mlen,
                const uint8_t pk[32], void *user_data);
  /** Seal a 32-byte key to an identity public key (anonymous sender);
   *  out gets 80 bytes. */
  int (*wrap)(uint8_t out[80], const uint8_t key[32], const uint8_t pk[32],
              void *user_data);
  /** Open what wrap() made, with the identity's secret key. */
  int (*unwrap)(uint8_t key[32], const uint8_t in[80], const uint8_t sk[64],
                void *user_data);
  /** A 16-byte collision-resistant digest (source-authentication manifests). */
  int (*hash)(uint8_t out[16], const uint8_t *m, size_t mlen, void *user_data);
  /* Since 0.2, read only when `size` covers them: a table of the 0.1 layout
   * ends at hash and seals with XChaCha20-Poly1305 (seal, open) only. */
  /** The further AEAD suites aead_seal and aead_open compute on this machine,
   *  a mask of (1u << SMART_CIPHER_*): today SMART_CIPHER_AES256GCM. NULL or 0: none. */
  uint32_t (*ciphers)(void *user_data);
  /** AEAD of suite `cipher`, one ciphers() offers, as seal and open; the nonce
   *  is SMART_GCM_NONCE_BYTES long for SMART_CIPHER_AES256GCM. */
  int (*aead_seal)(uint32_t cipher, uint8_t *out, const uint8_t *pt, size_t ptlen,
                   const uint8_t *ad, size_t adlen, const uint8_t *nonce,
                   const uint8_t key[32], void *user_data);
  int (*aead_open)(uint32_t cipher, uint8_t *out, const uint8_t *ct, size_t ctlen,
                   const uint8_t *ad, size_t adlen, const uint8_t *nonce,
                   const uint8_t key[32], void *user_data);
};

/** The libsodium provider (XChaCha20-Poly1305, and AES-256-GCM where the
 *  processor has AES-NI; BLAKE2b KDF, Ed25519, X25519 sealed boxes). Never
 *  NULL. @since 0.1 */
SMART_API const struct smart_crypto_ops *smart_crypto_sodium(void);

/** The null provider: no confidentiality, no authentication (tags are zero).
 *  For tests and fuzzing only. Never NULL. @since 0.1 */
SMART_API const struct smart_crypto_ops *smart_crypto_null(void);

/**
 * Create an identity key pair.
 * @param pk  receives the 32-byte public key (share it).
 * @param sk  receives the 64-byte secret key (keep it).
 * @return 0 or SMART_ESYS.
 * @since 0.1
 */
SMART_API int smart_identity_keypair(uint8_t pk[32], uint8_t sk[64]);

/**
 * Sender in identity mode: allow (or, with smart_revoke(), remove) a
 * receiver's public key. Revoking rekeys the group at once: the new epoch
 * key goes to the remaining members only.
 * @return 0, SMART_EINVAL, SMART_ENOMEM, SMART_ESTATE (no identity set).
 * @since 0.1
 */
SMART_API int smart_allow(smart_sock *s, const uint8_t pk[32]);
SMART_API int smart_revoke(smart_sock *s, const uint8_t pk[32]);

/**
 * Start a new key epoch now (group-key or identity mode, sender only).
 * @return 0, SMART_ESTATE (no security or not a sender yet).
 * @since 0.1
 */
SMART_API int smart_rekey(smart_sock *s);

/* ======================================================================
 * Membership, reports and address changes
 *
 * Receivers report that they joined (USAGE_REPORT_JOIN, repeated while they
 * are members at a randomised interval that grows with the group, as RTCP
 * does), that they leave (USAGE_REPORT_LEAVE, from smart_close), errors
 * (ERROR_REPORT) and problems (PROBLEM_REPORT). A sender turns them into
 * events and a member list; a member that stops reporting leaves by
 * timeout. A sender can move its session to another group (ADDR_RANGE_CHANGE);
 * its receivers follow without losing or repeating a message.
 * ====================================================================== */

/** Event types. */
#define SMART_EVENT_JOIN 1u          /**< a member joined (sender) */
#define SMART_EVENT_LEAVE 2u         /**< a member left or timed out (flags) (sender) */
#define SMART_EVENT_ERROR_REPORT 3u  /**< a member reported an error (code, args) */
#define SMART_EVENT_PROBLEM_REPORT 4u /**< a member reported a problem (code, args) */
#define SMART_EVENT_GROUP_CHANGED 5u /**< the session moved to the group in `member` */
#define SMART_EVENT_SENDER_INACTIVE 6u /**< receiver: a sender went silent (member: it) */
#define SMART_EVENT_SENDER_GONE 7u     /**< receiver: a sender is gone; what was missing
                                            from it was reported lost (SMART_ELOST) first */
#define SMART_EVENT_RECEIVER_NEW 8u    /**< sender: a receiver reported its position */
#define SMART_EVENT_RECEIVER_COMPLETE 9u /**< sender: it holds everything (during a flush) */
#define SMART_EVENT_RECEIVER_BEHIND 10u  /**< sender: it holds the buffer full (seq: its point) */
#define SMART_EVENT_RECEIVER_EVICTED 11u /**< sender: no progress for SMART_OPT_EVICT_MS */
#define SMART_EVENT_RECEIVER_GONE 12u    /**< sender: it left, or went silent (TIMEOUT) */
#define SMART_EVENT_EVICTED 15u /**< receiver: a sender evicted this receiver for making no
                                     progress (member: the sender; seq: its oldest datagram
                                     then); what is lost comes as SMART_ELOST (@since 0.2) */
#define SMART_EVENT_RECEIVER_SLOW 13u    /**< sender: its rate stayed below SMART_OPT_CC_FLOOR
                                              (rate, loss_ppm, rtt_us: its figures) (@since 0.2) */
#define SMART_EVENT_CC_LIMIT 14u         /**< sender: congestion control follows this receiver
                                              now, at most one a second (@since 0.2) */
#define SMART_EVENT_TIMEOUT 0x1u     /**< flag on LEAVE, RECEIVER_GONE: no report for too long */
#define SMART_EVENT_ENDED 0x2u       /**< flag on SENDER_GONE: its stream ended, all received */
#define SMART_EVENT_SLOW 0x4u        /**< flag on RECEIVER_EVICTED: slow, not stalled (@since 0.2) */

/** ERROR_REPORT codes (Message Data [1]) and their arguments [2], [3]. */
#define SMART_ERROR_LOSS 1u        /**< unrecoverable loss: first sequence (low 32 bits), count */
#define SMART_ERROR_AUTH 2u        /**< repeated authentication failures: count */
#define SMART_ERROR_OVERFLOW 3u    /**< receiver falling behind: its rate KiB/s, buffer fill per mille */
/** PROBLEM_REPORT codes. */
#define SMART_PROBLEM_HIGH_LOSS 1u /**< persistent high loss: parts per million */

/** An event. Size-versioned like struct smart_msginfo. */
struct smart_event {
  size_t size;
  uint32_t type;      /**< SMART_EVENT_* */
  uint32_t flags;     /**< SMART_EVENT_TIMEOUT */
  uint32_t code;      /**< report code */
  uint32_t args[2];   /**< report arguments */
  uint64_t member_id; /**< the member's id on this socket */
  char member[48];    /**< its address ("A.B.C.D:PORT"), or the new group */
  uint64_t seq;       /**< SENDER_* and RECEIVER_*: the delivery point (@since 0.2) */
  uint64_t rate;      /**< RECEIVER_SLOW, CC_LIMIT: its rate, bytes/s (@since 0.2) */
  uint32_t loss_ppm;  /**< ... its loss event rate, parts per million (@since 0.2) */
  uint32_t rtt_us;    /**< ... its round trip, microseconds (@since 0.2) */
};

/**
 * Take the next event, without blocking.
 * @return 1 and fills *ev; 0 when there is none; SMART_EINVAL.
 * @since 0.1
 */
SMART_API int smart_event(smart_sock *s, struct smart_event *ev);

/** A member as a sender sees it. Size-versioned: set `size`. */
struct smart_member {
  size_t size;
  uint64_t member_id;
  char addr[48];            /**< where its reports come from */
  uint64_t since_ms;        /**< member for this long */
  uint64_t last_report_ms;  /**< its last report, this long ago */
  uint64_t reports;         /**< reports heard */
  uint64_t received;        /**< datagrams it says it received */
  uint64_t recovered;       /**< ... recovered by repair */
  uint64_t lost;            /**< ... lost beyond repair */
};

/**
 * List the current members (sender).
 * @param out   an array of `max` structs, each with `size` set alike.
 * @return the number of members (which may exceed max: only max are
 *         written), or SMART_EINVAL.
 * @since 0.1
 */
SMART_API smart_ssize smart_members(smart_sock *s, struct smart_member *out, size_t max);

/** A receiver as a sender sees it from its position reports. Size-versioned. */
struct smart_receiver {
  size_t size;
  uint64_t id;           /**< its id on this socket (as member_id in events) */
  char addr[48];         /**< where its reports come from */
  uint32_t state;        /**< 0 live, 1 evicted */
  uint64_t position;     /**< every sequence below it is delivered or reported lost */
  uint64_t behind;       /**< sequences sent that it does not hold yet */
  uint64_t last_ms;      /**< its last report, this long ago */
  uint64_t rtt_us;       /**< measured round trip (0: not yet) */
};

/**
 * List the receivers that report their position (sender). After a
 * smart_flush() that timed out, those with behind > 0 are the ones that
 * do not hold everything.
 * @param out   an array of `max` structs, each with `size` set alike.
 * @return how many there are (only max are written), SMART_EINVAL or
 *         SMART_ENOMEM.
 * @since 0.2
 */
SMART_API smart_ssize smart_receivers(smart_sock *s, struct smart_receiver *out, size_t max);

/**
 * Sender: move the session to another group ("239.255.2.2:5000"). The
 * change is announced on the current group; receivers join the new one and
 * continue in order, with no gap and no duplicate.
 * @return 0, SMART_EINVAL (bad or other-family address), SMART_ENOTCONN,
 *         SMART_ESTATE (not a sender), SMART_ESYS.
 * @since 0.1
 */
SMART_API int smart_move(smart_sock *s, const char *group);

#ifdef __cplusplus
}
#endif

#endif /* SMART_SMART_H */
