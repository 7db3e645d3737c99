/* smart-cp: the file-distribution tool's shared declarations.
 *
 * The application protocol rides on libsmart messages. Every message starts
 * with a 16-byte header: "SCP" 1 (magic and version), a type, three zero
 * bytes, and the 64-bit session ID the sender drew. All integers are big
 * endian. smart-cp(1) describes the exchange. */
#ifndef SMART_CP_H
#define SMART_CP_H

#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

#include <smart/smart.h>

#define CP_HDR 16u
enum cp_type {
  CP_ANNOUNCE = 1, /* sender: a session, its files, who registered */
  CP_MANIFEST = 2, /* sender: a part of the file list */
  CP_CHUNK = 3,    /* sender: file, chunk, data */
  CP_HASHES = 4,   /* sender: chunk hashes (and the file hash) of a file */
  CP_STATUS_REQ = 5, /* sender: every receiver, say what you lack */
  CP_DONE = 6,     /* sender: the session is over */
  CP_STATUS = 16,  /* receiver: registration and status */
  CP_NOTICE = 17   /* receiver, in the clear on port + 1: cannot take part */
};

/* Receiver states in CP_STATUS. */
enum { CP_ST_RECEIVING = 0, CP_ST_COMPLETE = 1, CP_ST_ERROR = 2 };

#define CP_HASH 32u            /* BLAKE2b-256 */
#define CP_NO_CHUNK 0xFFFFFFFFu /* a range that asks for a file's hashes */
#define CP_MAX_RANGES 4000u    /* per status message */
#define CP_MAX_REGISTERED 1024u /* node IDs listed in an announce */
#define CP_HASHES_PER_MSG 2048u

/* One entry of the file list: a directory or a regular file. */
struct cp_entry {
  char *path;        /* relative, '/'-separated */
  char *src;         /* sender: where it is read from */
  uint64_t size;
  int64_t mtime_s;
  uint32_t mtime_ns;
  uint32_t mode;     /* st_mode: type and permission bits */
  uint32_t nchunks;
  uint8_t *hashes;   /* nchunks * CP_HASH */
  uint8_t fhash[CP_HASH];
};

/* Big-endian writing and reading into a bounded buffer. */
struct cp_buf {
  uint8_t *p;
  size_t len, cap;
  int bad; /* overflow (writing) or short input (reading) */
};
void cp_put8(struct cp_buf *b, uint8_t v);
void cp_put16(struct cp_buf *b, uint16_t v);
void cp_put32(struct cp_buf *b, uint32_t v);
void cp_put64(struct cp_buf *b, uint64_t v);
void cp_putmem(struct cp_buf *b, const void *m, size_t n);
uint8_t cp_get8(struct cp_buf *b);
uint16_t cp_get16(struct cp_buf *b);
uint32_t cp_get32(struct cp_buf *b);
uint64_t cp_get64(struct cp_buf *b);
const uint8_t *cp_getmem(struct cp_buf *b, size_t n);
void cp_hdr(struct cp_buf *b, uint8_t type, uint64_t session);
/* Parse a header: the type, or -1 if it is not a smart-cp message. */
int cp_parse_hdr(struct cp_buf *b, uint64_t *session);

/* The file list. */
struct cp_list {
  struct cp_entry *e;
  uint32_t n, cap;
  uint64_t total;  /* bytes of regular files */
  uint32_t chunk;  /* chunk size */
};
/* Sender: add PATH (a file or a tree) under its base name. Returns 0, or -1
 * after printing one line. */
int cp_list_add(struct cp_list *l, const char *path);
void cp_list_chunks(struct cp_list *l, uint32_t chunk);
void cp_list_free(struct cp_list *l);
/* Encode entries from *next into one manifest message of at most cap bytes;
 * advances *next. */
void cp_manifest_put(struct cp_buf *b, const struct cp_list *l, uint32_t *next);
/* A path as it arrives: safe (relative, no "..", ".", empty component). */
int cp_path_ok(const char *p, size_t len);

/* Chunk hashes and the file hash: BLAKE2b-256 of (size, chunk size, every
 * chunk hash). */
void cp_hash_chunk(uint8_t out[CP_HASH], const uint8_t *data, size_t len);
void cp_hash_file(uint8_t out[CP_HASH], const struct cp_entry *e, uint32_t chunk);
static inline uint64_t cp_chunk_len(const struct cp_entry *e, uint32_t chunk, uint32_t c) {
  uint64_t off = (uint64_t)c * chunk;
  return e->size - off < chunk ? e->size - off : chunk;
}

/* Bitmaps. */
static inline int cp_bit(const uint8_t *m, uint32_t i) { return m[i >> 3] >> (i & 7) & 1; }
static inline void cp_set(uint8_t *m, uint32_t i) { m[i >> 3] |= (uint8_t)(1u << (i & 7)); }
static inline void cp_clr(uint8_t *m, uint32_t i) { m[i >> 3] &= (uint8_t)~(1u << (i & 7)); }

void cp_background_thread(void);

/* Time, sizes, progress. */
double cp_now(void);
const char *cp_size(char out[32], double bytes);
struct cp_progress {
  int tty, quiet;
  double start, last, last_bytes, rate;
};
void cp_progress_init(struct cp_progress *p, int quiet);
/* done/total bytes; `extra` is appended (receivers complete, pass). */
void cp_progress(struct cp_progress *p, double done, double total, const char *extra, int final);
void cp_json_str(FILE *f, const char *s);

/* Common settings of both sides. */
struct cp_opts {
  const char *group, *iface, *dir, *name;
  uint32_t sync, expect, chunk, max_passes;
  uint64_t rate;
  double wait_s, timeout_s, gone_s;
  int insecure, json, quiet, ttl, fsync;
  void *sec; /* struct cli_security */
};
int cp_send_main(const struct cp_opts *o, char **paths, int npaths);
int cp_recv_main(const struct cp_opts *o);
/* Open and join a socket; dies on failure. On the session's group it takes
 * the security options; elsewhere it is in the clear, or keyed with `key`. */
/* Bytes a sender's library queue may hold untransmitted (SMART_OPT_SNDBUF). */
#define CP_QUEUE_CAP (8u << 20)
smart_sock *cp_open(const struct cp_opts *o, int sender, const char *group, const uint8_t *key);
/* Side channels: the group's port + 1 carries refusal notices in the clear;
 * port + 2 the receivers' status in identity mode, under a key the sender
 * hands out in its (encrypted) announcements: in identity mode libsmart
 * gives receivers the sender's keys, not a way to send to it. */
void cp_side_group(char out[80], const char *group, int plus);
#define CP_ANN_STATUS_KEY 2u /* announce flag: a status-channel key follows */

#endif
