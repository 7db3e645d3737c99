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

#ifdef __cplusplus
}
#endif

#endif /* SMART_SMART_H */
