/* smart-cp recv: the receiver's state, shared by its two source files. */
#ifndef SMART_CP_RECV_H
#define SMART_CP_RECV_H

#include <pthread.h>
#include <stdatomic.h>

#include "cp.h"

enum { F_PENDING, F_VERIFYING, F_DONE };
#define RC_POOL 16 /* receive buffers the verifier may hold */

/* A verifier job: hash chunk c of file f (from mem when not NULL, handing
 * slot back after), or check file f when c is CP_NO_CHUNK. */
struct rc_job {
  uint32_t f, c;
  const uint8_t *mem;
  uint8_t *slot;
};

struct rc_file {
  uint8_t *have, *hhave; /* chunks written; chunk hashes received */
  uint8_t *lh, *lhave;   /* the verifier's own hashes of the chunks written */
  uint32_t nchunks, nhave, nhashes;
  int got_fhash, fd, state, dirty, inplace;
  atomic_int vdone;      /* the verifier finished with it */
  uint32_t vbad;         /* chunks that did not match */
  int vfile_ok;
};

struct rcvr {
  const struct cp_opts *o;
  smart_sock *s, *bs; /* the session; the status channel (identity mode) */
  int root;
  uint64_t node;
  uint8_t pk[32];
  uint64_t session, sender_id, done_session;
  int have_session, prepared, registered, error;
  struct cp_list L;
  uint8_t *mhave; /* manifest entries received */
  uint32_t nmanifest, last_round, files_done;
  struct rc_file *f;
  uint64_t received, resumed, need_bytes, bad_chunks;
  char err[320];
  double heard, started, first_auth_drop, t_first, t_last, last_save;
  uint8_t *buf;
  size_t buf_cap;
  /* the verifier */
  pthread_t vth;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct rc_job *vq;
  uint64_t vq_cap, vq_head, vq_tail;
  int vstop, vstarted;
  uint8_t *vbuf, *pool[RC_POOL], *freebuf[RC_POOL], *cur;
  size_t pool_len;
  unsigned nfree;
  struct cp_progress prog;
};

int rc_parent(int root, const char *path, int create, const char **leaf);
void rc_tmpname(char *out, size_t cap, const char *leaf, const char *suffix);
void rc_save_state(struct rcvr *R, uint32_t i);
int rc_prepare(struct rcvr *R);
int rc_write_chunk(struct rcvr *R, uint32_t i, uint32_t c, const uint8_t *data, size_t len,
                   uint8_t **slot);
uint8_t *rc_take_buf(struct rcvr *R, size_t *cap);
void rc_give_buf(struct rcvr *R, uint8_t *b);
void rc_verify_start(struct rcvr *R);
void rc_verify_stop(struct rcvr *R);
int rc_maybe_verify(struct rcvr *R, uint32_t i);
int rc_hash_later(struct rcvr *R, uint32_t i, uint32_t c, const uint8_t *mem, uint8_t *slot);
int rc_poll_verified(struct rcvr *R);
void rc_finish_dirs(struct rcvr *R);
void rc_raise_nofile(void);

#endif
