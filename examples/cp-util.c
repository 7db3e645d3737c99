/* smart-cp: encoding, the file list, hashes, progress and socket setup. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "cp.h"

void cp_put8(struct cp_buf *b, uint8_t v) { cp_putmem(b, &v, 1); }
void cp_put16(struct cp_buf *b, uint16_t v) {
  uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  cp_putmem(b, x, 2);
}
void cp_put32(struct cp_buf *b, uint32_t v) {
  cp_put16(b, (uint16_t)(v >> 16));
  cp_put16(b, (uint16_t)v);
}
void cp_put64(struct cp_buf *b, uint64_t v) {
  cp_put32(b, (uint32_t)(v >> 32));
  cp_put32(b, (uint32_t)v);
}
void cp_putmem(struct cp_buf *b, const void *m, size_t n) {
  if (b->bad || b->cap - b->len < n) {
    b->bad = 1;
    return;
  }
  if (n)
    memcpy(b->p + b->len, m, n);
  b->len += n;
}
const uint8_t *cp_getmem(struct cp_buf *b, size_t n) {
  if (b->bad || b->cap - b->len < n) {
    b->bad = 1;
    return NULL;
  }
  const uint8_t *r = b->p + b->len;
  b->len += n;
  return r;
}
uint8_t cp_get8(struct cp_buf *b) {
  const uint8_t *p = cp_getmem(b, 1);
  return p ? p[0] : 0;
}
uint16_t cp_get16(struct cp_buf *b) {
  const uint8_t *p = cp_getmem(b, 2);
  return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}
uint32_t cp_get32(struct cp_buf *b) {
  uint32_t hi = cp_get16(b);
  return hi << 16 | cp_get16(b);
}
uint64_t cp_get64(struct cp_buf *b) {
  uint64_t hi = cp_get32(b);
  return hi << 32 | cp_get32(b);
}

void cp_hdr(struct cp_buf *b, uint8_t type, uint64_t session) {
  cp_putmem(b, "SCP\1", 4);
  cp_put8(b, type);
  cp_putmem(b, "\0\0\0", 3);
  cp_put64(b, session);
}

int cp_parse_hdr(struct cp_buf *b, uint64_t *session) {
  const uint8_t *m = cp_getmem(b, 4);
  if (!m || memcmp(m, "SCP\1", 4) != 0)
    return -1;
  int type = cp_get8(b);
  cp_getmem(b, 3);
  *session = cp_get64(b);
  return b->bad ? -1 : type;
}

/* ---- the file list ---- */

static int list_push(struct cp_list *l, const char *path, const char *src, const struct stat *st) {
  for (uint32_t i = 0; i < l->n; i++)
    if (strcmp(l->e[i].path, path) == 0) {
      fprintf(stderr, "%s: %s: named twice (two arguments with the same base name?)\n", cli_prog, path);
      return -1;
    }
  if (l->n == l->cap) {
    uint32_t cap = l->cap ? 2 * l->cap : 64;
    struct cp_entry *e = realloc(l->e, cap * sizeof(*e));
    if (!e)
      cli_die(1, "out of memory");
    l->e = e;
    l->cap = cap;
  }
  struct cp_entry *e = &l->e[l->n++];
  memset(e, 0, sizeof(*e));
  e->path = strdup(path);
  e->src = strdup(src);
  if (!e->path || !e->src)
    cli_die(1, "out of memory");
  e->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
  e->mtime_s = st->st_mtim.tv_sec;
  e->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
  e->mode = st->st_mode & (S_IFMT | 07777);
  l->total += e->size;
  return 0;
}

/* Add src (already lstat'ed) under the name `path`, recursing into
 * directories; symbolic links and special files are skipped with a note. */
static int add_tree(struct cp_list *l, const char *path, const char *src, const struct stat *st) {
  if (S_ISLNK(st->st_mode) || !(S_ISREG(st->st_mode) || S_ISDIR(st->st_mode))) {
    fprintf(stderr, "%s: %s: not a regular file or directory, skipped\n", cli_prog, src);
    return 0;
  }
  if (strlen(path) >= 4000) {
    fprintf(stderr, "%s: %s: path too long\n", cli_prog, src);
    return -1;
  }
  if (list_push(l, path, src, st) != 0)
    return -1;
  if (!S_ISDIR(st->st_mode))
    return 0;
  DIR *d = opendir(src);
  if (!d) {
    fprintf(stderr, "%s: %s: %s\n", cli_prog, src, strerror(errno));
    return -1;
  }
  struct dirent *de;
  int rc = 0;
  while (rc == 0 && (de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    char csrc[PATH_MAX], cpath[PATH_MAX];
    struct stat cst;
    if ((size_t)snprintf(csrc, sizeof(csrc), "%s/%s", src, de->d_name) >= sizeof(csrc) ||
        (size_t)snprintf(cpath, sizeof(cpath), "%s/%s", path, de->d_name) >= sizeof(cpath)) {
      fprintf(stderr, "%s: %s/%s: path too long\n", cli_prog, src, de->d_name);
      rc = -1;
    } else if (lstat(csrc, &cst) != 0) {
      fprintf(stderr, "%s: %s: %s\n", cli_prog, csrc, strerror(errno));
      rc = -1;
    } else {
      rc = add_tree(l, cpath, csrc, &cst);
    }
  }
  closedir(d);
  return rc;
}

int cp_list_add(struct cp_list *l, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) { /* an argument that is a link is followed */
    fprintf(stderr, "%s: %s: %s\n", cli_prog, path, strerror(errno));
    return -1;
  }
  char *copy = strdup(path), *base;
  if (!copy)
    cli_die(1, "out of memory");
  size_t n = strlen(copy);
  while (n > 1 && copy[n - 1] == '/')
    copy[--n] = 0;
  base = strrchr(copy, '/');
  base = base ? base + 1 : copy;
  char real[PATH_MAX];
  if (!strcmp(base, ".") || !strcmp(base, "..") || !*base) {
    if (!realpath(path, real) || !strcmp(real, "/")) {
      fprintf(stderr, "%s: %s: give a directory with a name\n", cli_prog, path);
      free(copy);
      return -1;
    }
    base = strrchr(real, '/') + 1;
  }
  int rc = add_tree(l, base, path, &st);
  free(copy);
  return rc;
}

void cp_list_chunks(struct cp_list *l, uint32_t chunk) {
  /* Bigger chunks for huge lists keep the hashes (32 bytes a chunk) small. */
  while (chunk < (64u << 20) && l->total / chunk > (1u << 20))
    chunk *= 2;
  l->chunk = chunk;
  for (uint32_t i = 0; i < l->n; i++)
    l->e[i].nchunks = (uint32_t)((l->e[i].size + chunk - 1) / chunk);
}

void cp_list_free(struct cp_list *l) {
  for (uint32_t i = 0; i < l->n; i++) {
    free(l->e[i].path);
    free(l->e[i].src);
    free(l->e[i].hashes);
  }
  free(l->e);
  memset(l, 0, sizeof(*l));
}

void cp_manifest_put(struct cp_buf *b, const struct cp_list *l, uint32_t *next) {
  size_t count_at = b->len;
  uint32_t first = *next, count = 0;
  cp_put32(b, first);
  cp_put32(b, 0);
  while (*next < l->n) {
    const struct cp_entry *e = &l->e[*next];
    size_t plen = strlen(e->path);
    if (b->cap - b->len < 30 + plen)
      break;
    cp_put64(b, e->size);
    cp_put64(b, (uint64_t)e->mtime_s);
    cp_put32(b, e->mtime_ns);
    cp_put32(b, e->mode);
    cp_put16(b, (uint16_t)plen);
    cp_putmem(b, e->path, plen);
    (*next)++;
    count++;
  }
  struct cp_buf c = {b->p + count_at + 4, 0, 4, 0};
  cp_put32(&c, count);
}

int cp_path_ok(const char *p, size_t len) {
  if (len == 0 || len >= 4000 || p[0] == '/' || memchr(p, 0, len))
    return 0;
  size_t i = 0;
  while (i <= len) {
    size_t j = i;
    while (j < len && p[j] != '/')
      j++;
    size_t n = j - i;
    if (n == 0 || (n == 1 && p[i] == '.') || (n == 2 && p[i] == '.' && p[i + 1] == '.'))
      return 0;
    if (n > 12 && p[i] == '.' &&
        (!memcmp(p + j - 11, ".smart-part", 11) || !memcmp(p + j - 12, ".smart-state", 12)))
      return 0; /* our own temporary names */
    i = j + 1;
  }
  return 1;
}

void cp_hash_chunk(uint8_t out[CP_HASH], const uint8_t *data, size_t len) {
  crypto_generichash(out, CP_HASH, data, len, NULL, 0);
}

void cp_hash_file(uint8_t out[CP_HASH], const struct cp_entry *e, uint32_t chunk) {
  crypto_generichash_state st;
  uint8_t head[12];
  struct cp_buf b = {head, 0, sizeof(head), 0};
  cp_put64(&b, e->size);
  cp_put32(&b, chunk);
  crypto_generichash_init(&st, NULL, 0, CP_HASH);
  crypto_generichash_update(&st, head, sizeof(head));
  if (e->nchunks)
    crypto_generichash_update(&st, e->hashes, (size_t)e->nchunks * CP_HASH);
  crypto_generichash_final(&st, out, CP_HASH);
}

/* Hashing yields to the threads that keep the network going (nice 19): on
 * a busy machine it catches up in the gaps (Linux: nice applies per thread). */
void cp_background_thread(void) {
#ifdef SYS_gettid
  (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
#endif
}

/* ---- time, sizes, progress ---- */

double cp_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *cp_size(char out[32], double bytes) {
  static const char *unit[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) {
    bytes /= 1000;
    u++;
  }
  snprintf(out, 32, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
  return out;
}

void cp_progress_init(struct cp_progress *p, int quiet) {
  memset(p, 0, sizeof(*p));
  p->tty = isatty(2);
  p->quiet = quiet;
  p->start = p->last = cp_now();
}

void cp_progress(struct cp_progress *p, double done, double total, const char *extra, int final) {
  double t = cp_now();
  if (p->quiet || (!final && t - p->last < (p->tty ? 0.2 : 2.0)))
    return;
  double r = (done - p->last_bytes) / (t - p->last > 1e-6 ? t - p->last : 1e-6);
  p->rate = p->rate > 0 ? 0.7 * p->rate + 0.3 * r : r;
  p->last = t;
  p->last_bytes = done;
  char a[32], b[32], c[32];
  double eta = p->rate > 1 && total > done ? (total - done) / p->rate : 0;
  if (p->tty) {
    int w = total > 0 ? (int)(30 * (done > total ? 1 : done / total)) : 30;
    fprintf(stderr, "\r[%.*s%*s] %s/%s %s/s ETA %d:%02d %s\033[K", w,
            "##############################", 30 - w, "", cp_size(a, done), cp_size(b, total),
            cp_size(c, final ? done / (t - p->start > 1e-6 ? t - p->start : 1e-6) : p->rate),
            (int)eta / 60, (int)eta % 60, extra);
    if (final)
      fputc('\n', stderr);
  } else {
    fprintf(stderr, "%s: %s of %s, %s/s, %s\n", cli_prog, cp_size(a, done), cp_size(b, total),
            cp_size(c, p->rate), extra);
  }
}

void cp_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}

/* ---- sockets ---- */

void cp_side_group(char out[80], const char *group, int plus) {
  const char *colon = strrchr(group, ':');
  long port = colon ? strtol(colon + 1, NULL, 10) : 0;
  snprintf(out, 80, "%.*s:%ld", colon ? (int)(colon - group) : 0, group, port + plus);
}

smart_sock *cp_open(const struct cp_opts *o, int sender, const char *group, const uint8_t *key) {
  smart_sock *s;
  int rc = smart_open(&s, 0);
  if (rc)
    cli_die(1, "open: %s", smart_strerror(rc));
  uint32_t grtt = 1000, window = 16384;
  int32_t ttl = o->ttl;
  cli_setopt(s, SMART_OPT_SYNC, &o->sync, sizeof(o->sync), "--sync");
  cli_setopt(s, SMART_OPT_TTL, &ttl, sizeof(ttl), "--ttl");
  if (sender) {
    uint64_t q = CP_QUEUE_CAP; /* what is read ahead of the wire, at most */
    cli_setopt(s, SMART_OPT_SNDBUF, &q, sizeof(q), "send queue");
  }
  cli_setopt(s, SMART_OPT_GRTT_US, &grtt, sizeof(grtt), "grtt");
  cli_setopt(s, SMART_OPT_WINDOW, &window, sizeof(window), "window");
  if (sender)
    cli_setopt(s, SMART_OPT_RATE, &o->rate, sizeof(o->rate), "--rate");
  if (key) /* the status channel of an identity session */
    cli_setopt(s, SMART_OPT_GROUP_KEY, key, 32, "status channel key");
  else if (group == o->group) /* the notice channel stays in the clear */
    cli_apply_security(s, (const struct cli_security *)o->sec);
  if ((rc = smart_join(s, group, o->iface, NULL, 0)) != 0)
    cli_die(1, "join %s on %s: %s", group, o->iface, smart_strerror(rc));
  return s;
}
