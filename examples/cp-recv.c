/* smart-cp recv: registration, chunks into partial files beside their final
 * names, resume state, verification, and status reports to the sender. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "cp-recv.h"

/* ---- paths under DIR, never through a symbolic link ---- */

/* Open the directory that holds `path` (relative to root), creating missing
 * directories if asked; *leaf points at the last component. -1 on failure. */
int rc_parent(int root, const char *path, int create, const char **leaf) {
  int fd = dup(root);
  const char *p = path;
  for (const char *slash; fd >= 0 && (slash = strchr(p, '/')) != NULL; p = slash + 1) {
    char comp[256];
    size_t n = (size_t)(slash - p);
    if (n >= sizeof(comp)) {
      close(fd);
      errno = ENAMETOOLONG;
      return -1;
    }
    memcpy(comp, p, n);
    comp[n] = 0;
    int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && create && mkdirat(fd, comp, 0700) == 0)
      next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(fd);
    errno = e;
    fd = next;
  }
  *leaf = p;
  return fd;
}

void rc_tmpname(char *out, size_t cap, const char *leaf, const char *suffix) {
  snprintf(out, cap, ".%s.smart-%s", leaf, suffix);
}

/* ---- state files: ".NAME.smart-state" beside ".NAME.smart-part" ---- */

static size_t state_len(const struct rc_file *f) { return 40 + (f->nchunks + 7) / 8; }

void rc_save_state(struct rcvr *R, uint32_t i) {
  struct rc_file *f = &R->f[i];
  const struct cp_entry *e = &R->L.e[i];
  if (!f->dirty || f->state != F_PENDING)
    return;
  uint8_t head[40];
  struct cp_buf b = {head, 0, sizeof(head), 0};
  cp_putmem(&b, "SCPSTAT1", 8);
  cp_put64(&b, e->size);
  cp_put64(&b, (uint64_t)e->mtime_s);
  cp_put32(&b, e->mtime_ns);
  cp_put32(&b, R->L.chunk);
  cp_put32(&b, f->nchunks);
  cp_put32(&b, 0);
  const char *leaf;
  char name[300];
  int dfd = rc_parent(R->root, e->path, 0, &leaf);
  if (dfd < 0)
    return;
  rc_tmpname(name, sizeof(name), leaf, "state");
  int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  close(dfd);
  if (fd < 0)
    return;
  if (pwrite(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head) &&
      pwrite(fd, f->have, state_len(f) - 40, 40) == (ssize_t)(state_len(f) - 40))
    f->dirty = 0;
  close(fd);
}

/* Load a matching state; 1 if the partial file and its bitmap are usable. */
static int load_state(struct rcvr *R, uint32_t i, int dfd, const char *leaf) {
  struct rc_file *f = &R->f[i];
  const struct cp_entry *e = &R->L.e[i];
  char name[300];
  rc_tmpname(name, sizeof(name), leaf, "state");
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return 0;
  uint8_t head[40];
  int ok = pread(fd, head, 40, 0) == 40;
  struct cp_buf b = {head, 0, sizeof(head), 0};
  ok = ok && !memcmp(cp_getmem(&b, 8), "SCPSTAT1", 8) && cp_get64(&b) == e->size &&
       cp_get64(&b) == (uint64_t)e->mtime_s && cp_get32(&b) == e->mtime_ns &&
       cp_get32(&b) == R->L.chunk && cp_get32(&b) == f->nchunks;
  ok = ok && pread(fd, f->have, state_len(f) - 40, 40) == (ssize_t)(state_len(f) - 40);
  close(fd);
  rc_tmpname(name, sizeof(name), leaf, "part");
  struct stat st;
  if (!ok || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
    memset(f->have, 0, (f->nchunks + 7) / 8 + 1);
    return 0;
  }
  for (uint32_t c = 0; c < f->nchunks; c++) /* beyond the part file's end: not held */
    if (cp_bit(f->have, c) && (uint64_t)c * R->L.chunk + cp_chunk_len(e, R->L.chunk, c) > (uint64_t)st.st_size)
      cp_clr(f->have, c);
  return 1;
}

/* A final file already in place with the same size and time: held, to be
 * verified where it is. */
static int already_there(struct rcvr *R, uint32_t i, int dfd, const char *leaf) {
  const struct cp_entry *e = &R->L.e[i];
  struct stat st;
  if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
      (uint64_t)st.st_size != e->size || st.st_mtim.tv_sec != e->mtime_s ||
      (uint32_t)st.st_mtim.tv_nsec != e->mtime_ns)
    return 0;
  struct rc_file *f = &R->f[i];
  f->inplace = 1;
  memset(f->have, 0xff, (f->nchunks + 7) / 8);
  return 1;
}

static int prepare_entry(struct rcvr *R, uint32_t i) {
  struct cp_entry *e = &R->L.e[i];
  struct rc_file *f = &R->f[i];
  const char *leaf;
  int dfd = rc_parent(R->root, e->path, 1, &leaf);
  if (dfd < 0) {
    snprintf(R->err, sizeof(R->err), "%s/%s: %s", R->o->dir, e->path, strerror(errno));
    return -1;
  }
  if (S_ISDIR(e->mode)) {
    if (mkdirat(dfd, leaf, 0700) != 0 && errno != EEXIST) {
      snprintf(R->err, sizeof(R->err), "%s/%s: %s", R->o->dir, e->path, strerror(errno));
      close(dfd);
      return -1;
    }
    f->state = F_DONE;
    R->files_done++;
    close(dfd);
    return 0;
  }
  if (!already_there(R, i, dfd, leaf))
    load_state(R, i, dfd, leaf);
  close(dfd);
  for (uint32_t c = 0; c < f->nchunks; c++)
    if (cp_bit(f->have, c)) {
      f->nhave++;
      R->resumed += cp_chunk_len(e, R->L.chunk, c);
    } else {
      R->need_bytes += cp_chunk_len(e, R->L.chunk, c);
    }
  return 0;
}

/* Everything the list names: safe paths, directories made, states loaded,
 * and room for what is missing. */
int rc_prepare(struct rcvr *R) {
  R->f = calloc(R->L.n, sizeof(*R->f));
  if (!R->f)
    cli_die(1, "out of memory");
  for (uint32_t i = 0; i < R->L.n; i++) {
    struct cp_entry *e = &R->L.e[i];
    struct rc_file *f = &R->f[i];
    f->fd = -1;
    if (!e->path || !cp_path_ok(e->path, strlen(e->path)) ||
        !(S_ISREG(e->mode) || S_ISDIR(e->mode)) ||
        e->size / R->L.chunk >= 0xFFFFFFF0u) {
      snprintf(R->err, sizeof(R->err), "the sender's list names an unsafe path or type: %s",
               e->path ? e->path : "(none)");
      return -1;
    }
    f->nchunks = (uint32_t)((e->size + R->L.chunk - 1) / R->L.chunk);
    size_t bm = (f->nchunks + 7) / 8 + 1;
    f->have = calloc(bm, 1);
    f->hhave = calloc(bm, 1);
    f->lhave = calloc(bm, 1);
    f->lh = malloc((size_t)f->nchunks * CP_HASH + 1);
    e->hashes = malloc((size_t)f->nchunks * CP_HASH + 1);
    e->nchunks = f->nchunks;
    if (!f->have || !f->hhave || !f->lhave || !f->lh || !e->hashes)
      cli_die(1, "out of memory");
  }
  for (uint32_t i = 0; i < R->L.n; i++)
    if (prepare_entry(R, i) != 0)
      return -1;
  struct statvfs vfs;
  if (fstatvfs(R->root, &vfs) == 0 && (double)vfs.f_bavail * vfs.f_frsize < (double)R->need_bytes) {
    char a[32], b[32];
    snprintf(R->err, sizeof(R->err), "%s: no space left on device: %s to receive, %s free",
             R->o->dir, cp_size(a, (double)R->need_bytes),
             cp_size(b, (double)vfs.f_bavail * vfs.f_frsize));
    return -1;
  }
  R->prepared = 1;
  return 0;
}

/* ---- writing chunks ---- */

static int open_part(struct rcvr *R, uint32_t i) {
  struct rc_file *f = &R->f[i];
  if (f->fd >= 0)
    return 0;
  const char *leaf;
  char name[300];
  int dfd = rc_parent(R->root, R->L.e[i].path, 1, &leaf);
  if (dfd >= 0) {
    if (f->inplace) {
      f->fd = openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    } else {
      rc_tmpname(name, sizeof(name), leaf, "part");
      f->fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    int e = errno;
    close(dfd);
    errno = e;
  }
  if (f->fd < 0) {
    snprintf(R->err, sizeof(R->err), "%s/%s: %s", R->o->dir, R->L.e[i].path, strerror(errno));
    return -1;
  }
  return 0;
}

int rc_write_chunk(struct rcvr *R, uint32_t i, uint32_t c, const uint8_t *data, size_t len,
                   uint8_t **slot) {
  struct rc_file *f = &R->f[i];
  const struct cp_entry *e = &R->L.e[i];
  if (f->state != F_PENDING || c >= f->nchunks || cp_bit(f->have, c) ||
      len != cp_chunk_len(e, R->L.chunk, c))
    return 0;
  if (f->inplace) { /* it failed verification in place: start a partial file */
    f->inplace = 0;
    close(f->fd);
    f->fd = -1;
  }
  if (open_part(R, i) != 0)
    return -1;
  ssize_t w = pwrite(f->fd, data, len, (off_t)c * R->L.chunk);
  if (w != (ssize_t)len) {
    int err = w < 0 ? errno : ENOSPC;
    snprintf(R->err, sizeof(R->err), "%s/%s: %s", R->o->dir, e->path,
             err == ENOSPC ? "no space left on device" : strerror(err));
    return -1;
  }
  cp_set(f->have, c);
  f->nhave++;
  f->dirty = 1;
  R->received += len;
  if (rc_hash_later(R, i, c, data, *slot))
    *slot = NULL; /* the verifier hands it back */
  return 0;
}

/* ---- verification, in a thread of its own ----
 *
 * The verifier hashes each chunk soon after it is written (from the page
 * cache, while the next chunks arrive), and checks a file once its chunks
 * and the sender's hashes are all in. Jobs run in order: a file's check comes
 * after the hashing of its chunks. */

#define VQ_CHUNKS (1u << 16)

static void hash_one(struct rcvr *R, uint32_t i, uint32_t c) {
  struct rc_file *f = &R->f[i];
  size_t len = (size_t)cp_chunk_len(&R->L.e[i], R->L.chunk, c);
  if (pread(f->fd, R->vbuf, len, (off_t)c * R->L.chunk) != (ssize_t)len)
    return;
  cp_hash_chunk(f->lh + (size_t)c * CP_HASH, R->vbuf, len);
  cp_set(f->lhave, c);
}

static void verify_file(struct rcvr *R, uint32_t i) {
  struct rc_file *f = &R->f[i];
  struct cp_entry *e = &R->L.e[i];
  uint32_t bad = 0;
  for (uint32_t c = 0; c < f->nchunks; c++) {
    if (!cp_bit(f->lhave, c))
      hash_one(R, i, c);
    if (!cp_bit(f->lhave, c) ||
        memcmp(f->lh + (size_t)c * CP_HASH, e->hashes + (size_t)c * CP_HASH, CP_HASH) != 0) {
      cp_clr(f->have, c);
      cp_clr(f->lhave, c);
      bad++;
    }
  }
  uint8_t h[CP_HASH];
  cp_hash_file(h, e, R->L.chunk);
  f->vbad = bad;
  f->vfile_ok = memcmp(h, e->fhash, CP_HASH) == 0;
  if (!bad && f->vfile_ok && !f->inplace && R->o->fsync)
    fdatasync(f->fd);
}

/* Receive buffers the verifier hashes straight from memory, then hands back:
 * the chunk is not read again from the file. */
uint8_t *rc_take_buf(struct rcvr *R, size_t *cap) {
  uint8_t *b = NULL;
  if (R->vstarted) {
    pthread_mutex_lock(&R->mu);
    if (R->nfree)
      b = R->freebuf[--R->nfree];
    pthread_mutex_unlock(&R->mu);
  }
  *cap = b ? R->pool_len : R->buf_cap;
  return b ? b : R->buf;
}

void rc_give_buf(struct rcvr *R, uint8_t *b) {
  if (b == R->buf || !b)
    return;
  pthread_mutex_lock(&R->mu);
  R->freebuf[R->nfree++] = b;
  pthread_mutex_unlock(&R->mu);
}

static void *verify_thread(void *arg) {
  struct rcvr *R = arg;
  cp_background_thread();
  pthread_mutex_lock(&R->mu);
  for (;;) {
    while (R->vq_head == R->vq_tail && !R->vstop)
      pthread_cond_wait(&R->cv, &R->mu);
    if (R->vq_head == R->vq_tail)
      break;
    struct rc_job job = R->vq[R->vq_head++ % R->vq_cap];
    pthread_mutex_unlock(&R->mu);
    struct rc_file *f = &R->f[job.f];
    if (job.c == CP_NO_CHUNK) {
      verify_file(R, job.f);
      atomic_store_explicit(&f->vdone, 1, memory_order_release);
    } else if (job.mem) {
      cp_hash_chunk(f->lh + (size_t)job.c * CP_HASH, job.mem,
                    (size_t)cp_chunk_len(&R->L.e[job.f], R->L.chunk, job.c));
      cp_set(f->lhave, job.c);
    } else {
      hash_one(R, job.f, job.c);
    }
    pthread_mutex_lock(&R->mu);
    if (job.slot)
      R->freebuf[R->nfree++] = job.slot;
  }
  pthread_mutex_unlock(&R->mu);
  return NULL;
}

static int push_job(struct rcvr *R, uint32_t i, uint32_t c, const uint8_t *mem, uint8_t *slot) {
  int taken = 0;
  pthread_mutex_lock(&R->mu);
  if (c == CP_NO_CHUNK || R->vq_tail - R->vq_head < VQ_CHUNKS) { /* else hashed at the check */
    R->vq[R->vq_tail++ % R->vq_cap] = (struct rc_job){i, c, mem, slot};
    taken = 1;
    pthread_cond_signal(&R->cv);
  }
  pthread_mutex_unlock(&R->mu);
  return taken;
}

/* The chunk just written: hash it from `mem` (in receive buffer `slot`,
 * which the verifier then owns: 1) or later from the file (0). */
int rc_hash_later(struct rcvr *R, uint32_t i, uint32_t c, const uint8_t *mem, uint8_t *slot) {
  if (!R->vstarted)
    return 0;
  int own = slot && slot != R->buf;
  return push_job(R, i, c, own ? mem : NULL, own ? slot : NULL) && own;
}

void rc_verify_start(struct rcvr *R) {
  R->vbuf = malloc(R->L.chunk);
  R->vq_cap = VQ_CHUNKS + R->L.n;
  R->vq = calloc(R->vq_cap, sizeof(*R->vq));
  R->pool_len = (R->L.chunk > 65536 ? R->L.chunk : 65536) + 4096;
  for (R->nfree = 0; R->nfree < RC_POOL; R->nfree++)
    if (!(R->pool[R->nfree] = R->freebuf[R->nfree] = malloc(R->pool_len)))
      cli_die(1, "out of memory");
  if (!R->vbuf || !R->vq || pthread_mutex_init(&R->mu, NULL) || pthread_cond_init(&R->cv, NULL) ||
      pthread_create(&R->vth, NULL, verify_thread, R))
    cli_die(1, "cannot start the verification thread");
  R->vstarted = 1;
}

void rc_verify_stop(struct rcvr *R) {
  if (!R->vstarted)
    return;
  pthread_mutex_lock(&R->mu);
  R->vstop = 1;
  pthread_cond_signal(&R->cv);
  pthread_mutex_unlock(&R->mu);
  pthread_join(R->vth, NULL);
  R->vstarted = 0;
}

/* Queue a file whose chunks and hashes are all in. */
int rc_maybe_verify(struct rcvr *R, uint32_t i) {
  struct rc_file *f = &R->f[i];
  if (f->state != F_PENDING || f->nhave != f->nchunks || f->nhashes != f->nchunks || !f->got_fhash)
    return 0;
  if (open_part(R, i) != 0)
    return -1;
  f->state = F_VERIFYING;
  atomic_store_explicit(&f->vdone, 0, memory_order_relaxed);
  push_job(R, i, CP_NO_CHUNK, NULL, NULL);
  return 0;
}

/* Verified: mode, times, and the rename into place. */
static int finalize(struct rcvr *R, uint32_t i) {
  struct rc_file *f = &R->f[i];
  const struct cp_entry *e = &R->L.e[i];
  struct timespec ts[2] = {{.tv_sec = e->mtime_s, .tv_nsec = e->mtime_ns},
                           {.tv_sec = e->mtime_s, .tv_nsec = e->mtime_ns}};
  const char *leaf;
  char part[300], state[300];
  int dfd = rc_parent(R->root, e->path, 0, &leaf);
  /* Set-user-ID and set-group-ID bits are not taken from the network. */
  int rc = dfd < 0 || fchmod(f->fd, e->mode & 01777) != 0 || futimens(f->fd, ts) != 0;
  if (!rc && !f->inplace) {
    rc_tmpname(part, sizeof(part), leaf, "part");
    rc = renameat(dfd, part, dfd, leaf) != 0;
  }
  if (rc)
    snprintf(R->err, sizeof(R->err), "%s/%s: %s", R->o->dir, e->path, strerror(errno));
  if (dfd >= 0) {
    rc_tmpname(state, sizeof(state), leaf, "state");
    unlinkat(dfd, state, 0);
    close(dfd);
  }
  close(f->fd);
  f->fd = -1;
  f->state = F_DONE;
  R->files_done++;
  return rc ? -1 : 0;
}

/* Collect the verifier's results. */
int rc_poll_verified(struct rcvr *R) {
  for (uint32_t i = 0; i < R->L.n; i++) {
    struct rc_file *f = &R->f[i];
    if (f->state != F_VERIFYING || !atomic_load_explicit(&f->vdone, memory_order_acquire))
      continue;
    if (!f->vbad && f->vfile_ok) {
      if (finalize(R, i) != 0)
        return -1;
      continue;
    }
    f->state = F_PENDING;
    f->nhave -= f->vbad;
    if (f->inplace) { /* the file in place differs: receive it whole */
      memset(f->have, 0, (f->nchunks + 7) / 8 + 1);
      f->nhave = 0;
      f->inplace = 0;
      close(f->fd);
      f->fd = -1;
    }
    if (!f->vbad) { /* every chunk matches but the list does not: ask for it again */
      memset(f->hhave, 0, (f->nchunks + 7) / 8 + 1);
      f->nhashes = 0;
      f->got_fhash = 0;
    }
    f->dirty = 1;
    R->bad_chunks += f->vbad;
  }
  return 0;
}

/* Directories get their modes and times once their files are in. */
void rc_finish_dirs(struct rcvr *R) {
  for (uint32_t i = R->L.n; i-- > 0;) {
    const struct cp_entry *e = &R->L.e[i];
    if (!S_ISDIR(e->mode))
      continue;
    const char *leaf;
    int dfd = rc_parent(R->root, e->path, 0, &leaf);
    if (dfd < 0)
      continue;
    struct timespec ts[2] = {{.tv_sec = e->mtime_s, .tv_nsec = e->mtime_ns},
                             {.tv_sec = e->mtime_s, .tv_nsec = e->mtime_ns}};
    fchmodat(dfd, leaf, e->mode & 01777, 0);
    utimensat(dfd, leaf, ts, AT_SYMLINK_NOFOLLOW);
    close(dfd);
  }
}

void rc_raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}
