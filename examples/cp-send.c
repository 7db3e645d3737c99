/* smart-cp send: announce, registration, passes from the files on disk,
 * per-receiver status. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "cp.h"

enum { R_ACTIVE, R_COMPLETE, R_ERROR, R_GONE };
static const char *const rstate_name[] = {"incomplete", "complete", "error", "gone"};

struct rcv {
  uint64_t node;
  char addr[48], name[64], err[256];
  uint8_t pk[32];
  int has_pk, state;
  uint32_t round, files_done, files_missing;
  double heard;
  uint64_t missing_chunks, missing_bytes, received;
};

struct notice {
  char addr[48], name[64], err[256];
};

struct snd {
  const struct cp_opts *o;
  smart_sock *s, *ns, *bs; /* the session, notices, identity-mode status */
  uint8_t bkey[32];
  struct cp_list L;
  uint64_t session;
  struct rcv *r;
  uint32_t nr, rcap;
  struct notice notes[16];
  uint32_t nnotes;
  uint8_t **need;    /* per file: chunks some receiver lacks */
  uint8_t *need_hash; /* per file: some receiver lacks the hashes */
  atomic_uint hashed; /* files the hash thread finished, in list order */
  int hash_err;
  uint32_t hash_err_file;
  size_t P;          /* payload of one datagram */
  uint64_t data_bytes, data_msgs;
  uint32_t pass, round;
  uint8_t *out, *in;
  size_t out_cap, in_cap;
  struct cp_progress prog;
  double t_start, t_xfer, t_xfer_end;
};


/* ---- the hash thread: chunk hashes and file hashes, in list order ---- */

/* A file that shrinks while it is mapped faults (SIGBUS) in the thread
 * reading it: that thread jumps back and reports the file. */
static _Thread_local sigjmp_buf *bus_jump;
static void on_sigbus(int sig) {
  if (!bus_jump) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  siglongjmp(*bus_jump, 1);
}

/* Hash file i from read-only mappings of a few MB at a time (no copy, and
 * the mapped pages do not pile up in the resident set), else with pread. */
static int hash_file(struct snd *S, uint32_t i, uint8_t *buf) {
  struct cp_entry *e = &S->L.e[i];
  int fd = open(e->src, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), step = (4u << 20) / S->L.chunk + 1;
  const uint8_t *volatile map = NULL;
  volatile size_t maplen = 0;
  sigjmp_buf jb;
  if (sigsetjmp(jb, 1)) {
    bus_jump = NULL;
    munmap((void *)(uintptr_t)map, maplen);
    close(fd);
    return EIO; /* it shrank */
  }
  bus_jump = &jb;
  int err = 0;
  for (uint32_t c0 = 0; c0 < e->nchunks && !err; c0 += (uint32_t)step) {
    uint32_t c1 = e->nchunks - c0 < step ? e->nchunks : c0 + (uint32_t)step;
    uint64_t off = (uint64_t)c0 * S->L.chunk, aoff = off & ~(page - 1);
    uint64_t end = c1 == e->nchunks ? e->size : (uint64_t)c1 * S->L.chunk;
    void *m = mmap(NULL, (size_t)(end - aoff), PROT_READ, MAP_SHARED, fd, (off_t)aoff);
    map = m == MAP_FAILED ? NULL : m;
    maplen = (size_t)(end - aoff);
    for (uint32_t c = c0; c < c1 && !err; c++) {
      size_t len = (size_t)cp_chunk_len(e, S->L.chunk, c);
      uint64_t at = (uint64_t)c * S->L.chunk;
      const uint8_t *src = map ? map + (at - aoff) : buf;
      ssize_t got = map ? (ssize_t)len : pread(fd, buf, len, (off_t)at);
      if (got != (ssize_t)len)
        err = got < 0 ? errno : EIO;
      else
        cp_hash_chunk(e->hashes + (size_t)c * CP_HASH, src, len);
    }
    if (map)
      munmap((void *)(uintptr_t)map, maplen);
    map = NULL;
  }
  bus_jump = NULL;
  close(fd);
  return err;
}

static void *hash_thread(void *arg) {
  struct snd *S = arg;
  cp_background_thread();
  uint8_t *buf = malloc(S->L.chunk);
  for (uint32_t i = 0; buf && i < S->L.n; i++) {
    struct cp_entry *e = &S->L.e[i];
    int err = S_ISREG(e->mode) && e->size ? hash_file(S, i, buf) : 0;
    if (err) {
      S->hash_err_file = i;
      S->hash_err = err;
      break;
    }
    cp_hash_file(e->fhash, e, S->L.chunk);
    atomic_store_explicit(&S->hashed, i + 1, memory_order_release);
  }
  free(buf);
  return NULL;
}

/* ---- sending, with the library's queue kept short ---- */

static void handle(struct snd *S, uint8_t *m, size_t len, const struct smart_msginfo *info);

static void drain(struct snd *S) {
  struct smart_event ev = {.size = sizeof(ev)};
  while (smart_event(S->s, &ev) == 1)
    ; /* membership comes from our own status messages */
  for (int i = 0; i < 64; i++) {
    struct smart_msginfo info = {.size = sizeof(info)};
    smart_ssize n = smart_recv(S->s, S->in, S->in_cap, &info, SMART_MSG_DONTWAIT);
    if (n == SMART_EAGAIN)
      break;
    if (n == SMART_ELOST)
      continue; /* a receiver's status lost: it answers the next request */
    if (n < 0)
      cli_die(1, "receive: %s", smart_strerror((int)n));
    if (!(info.flags & SMART_RECV_TRUNC))
      handle(S, S->in, (size_t)n, &info);
  }
  smart_sock *side[2] = {S->ns, S->bs};
  for (int k = 0; k < 2; k++)
    for (int i = 0; side[k] && i < 64; i++) {
      struct smart_msginfo info = {.size = sizeof(info)};
      smart_ssize n = smart_recv(side[k], S->in, S->in_cap, &info, SMART_MSG_DONTWAIT);
      if (n == SMART_EAGAIN)
        break;
      if (n > 0 && !(info.flags & SMART_RECV_TRUNC))
        handle(S, S->in, (size_t)n, &info);
    }
}

/* The library's send queue holds at most CP_QUEUE_CAP bytes
 * (SMART_OPT_SNDBUF, cp_open): when it is full, work the socket (the receivers'
 * status messages, its timers) until there is room. */
static void send_msg(struct snd *S, const uint8_t *m, size_t len) {
  for (;;) {
    smart_ssize n = smart_send(S->s, m, len, SMART_MSG_DONTWAIT);
    if (n >= 0)
      return;
    if (n != SMART_EAGAIN)
      cli_die(1, "send: %s", smart_strerror((int)n));
    struct pollfd p = {.fd = smart_fd(S->s), .events = POLLIN};
    int32_t to = smart_timeout(S->s);
    poll(&p, 1, to < 0 || to > 5 ? 5 : to);
    drain(S);
  }
}

static struct cp_buf out_buf(struct snd *S, uint8_t type) {
  struct cp_buf b = {S->out, 0, S->out_cap, 0};
  cp_hdr(&b, type, S->session);
  return b;
}

static void send_announce(struct snd *S, int open) {
  struct cp_buf b = out_buf(S, CP_ANNOUNCE);
  cp_put32(&b, S->L.n);
  cp_put32(&b, S->L.chunk);
  cp_put64(&b, S->L.total);
  cp_put32(&b, (open ? 1u : 0u) | (S->bs ? CP_ANN_STATUS_KEY : 0u));
  if (S->bs)
    cp_putmem(&b, S->bkey, 32);
  uint32_t n = S->nr < CP_MAX_REGISTERED ? S->nr : CP_MAX_REGISTERED;
  cp_put32(&b, n);
  for (uint32_t i = 0; i < n; i++)
    cp_put64(&b, S->r[i].node);
  send_msg(S, b.p, b.len);
}

static void send_manifest(struct snd *S) {
  uint32_t next = 0;
  do {
    struct cp_buf b = out_buf(S, CP_MANIFEST);
    b.cap = 60000; /* a part fits a few dozen datagrams */
    cp_manifest_put(&b, &S->L, &next);
    send_msg(S, b.p, b.len);
  } while (next < S->L.n);
}

static void send_hashes(struct snd *S, uint32_t f) {
  const struct cp_entry *e = &S->L.e[f];
  uint32_t c = 0;
  do {
    uint32_t k = e->nchunks - c < CP_HASHES_PER_MSG ? e->nchunks - c : CP_HASHES_PER_MSG;
    int last = c + k == e->nchunks;
    struct cp_buf b = out_buf(S, CP_HASHES);
    cp_put32(&b, f);
    cp_put32(&b, c);
    cp_put32(&b, k);
    cp_put32(&b, last ? 1u : 0u);
    if (last)
      cp_putmem(&b, e->fhash, CP_HASH);
    cp_putmem(&b, e->hashes + (size_t)c * CP_HASH, (size_t)k * CP_HASH);
    send_msg(S, b.p, b.len);
    c += k;
  } while (c < e->nchunks);
  S->need_hash[f] = 0;
}

static void send_chunk(struct snd *S, uint32_t f, uint32_t c, int *fd) {
  struct cp_entry *e = &S->L.e[f];
  if (*fd < 0 && (*fd = open(e->src, O_RDONLY | O_CLOEXEC)) < 0)
    cli_die(1, "%s: %s", e->src, strerror(errno));
  struct cp_buf b = out_buf(S, CP_CHUNK);
  cp_put32(&b, f);
  cp_put32(&b, c);
  size_t len = (size_t)cp_chunk_len(e, S->L.chunk, c);
  ssize_t got = pread(*fd, b.p + b.len, len, (off_t)c * S->L.chunk);
  if (got != (ssize_t)len)
    cli_die(1, "%s: %s", e->src, got < 0 ? strerror(errno) : "file shrank while being sent");
  send_msg(S, b.p, b.len + len);
  S->data_bytes += len;
  S->data_msgs++;
}

/* ---- receivers ---- */

static struct rcv *find_rcv(struct snd *S, uint64_t node, int add) {
  for (uint32_t i = 0; i < S->nr; i++)
    if (S->r[i].node == node)
      return &S->r[i];
  if (!add)
    return NULL;
  if (S->nr == S->rcap) {
    uint32_t cap = S->rcap ? 2 * S->rcap : 16;
    struct rcv *r = realloc(S->r, cap * sizeof(*r));
    if (!r)
      cli_die(1, "out of memory");
    S->r = r;
    S->rcap = cap;
  }
  struct rcv *r = &S->r[S->nr++];
  memset(r, 0, sizeof(*r));
  r->node = node;
  return r;
}

static void copy_text(char *dst, size_t cap, const uint8_t *src, size_t len) {
  size_t n = len < cap - 1 ? len : cap - 1;
  for (size_t i = 0; i < n; i++)
    dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
  dst[n] = 0;
}

static void handle_notice(struct snd *S, struct cp_buf *b, const struct smart_msginfo *info) {
  uint8_t nl = cp_get8(b);
  const uint8_t *name = cp_getmem(b, nl);
  uint16_t el = cp_get16(b);
  const uint8_t *err = cp_getmem(b, el);
  if (b->bad || S->nnotes == 16)
    return;
  for (uint32_t i = 0; i < S->nnotes; i++)
    if (!strcmp(S->notes[i].addr, info->sender))
      return;
  struct notice *n = &S->notes[S->nnotes++];
  snprintf(n->addr, sizeof(n->addr), "%s", info->sender);
  copy_text(n->name, sizeof(n->name), name, nl);
  copy_text(n->err, sizeof(n->err), err, el);
}

static void handle_status(struct snd *S, struct cp_buf *b, const struct smart_msginfo *info) {
  uint64_t node = cp_get64(b);
  uint32_t round = cp_get32(b);
  uint8_t state = cp_get8(b);
  cp_get8(b);
  cp_get16(b);
  uint32_t fdone = cp_get32(b), fmiss = cp_get32(b);
  uint64_t mchunks = cp_get64(b), mbytes = cp_get64(b), received = cp_get64(b);
  uint8_t nl = cp_get8(b);
  const uint8_t *name = cp_getmem(b, nl);
  const uint8_t *pk = cp_getmem(b, 32);
  uint16_t el = cp_get16(b);
  const uint8_t *err = cp_getmem(b, el);
  uint32_t nranges = cp_get32(b);
  if (b->bad || state > CP_ST_ERROR || nranges > CP_MAX_RANGES || b->cap - b->len < 12u * nranges)
    return;
  struct rcv *r = find_rcv(S, node, S->pass == 0);
  if (!r || r->state == R_GONE)
    return; /* registration is over, or it was given up */
  snprintf(r->addr, sizeof(r->addr), "%s", info->sender);
  copy_text(r->name, sizeof(r->name), name, nl);
  memcpy(r->pk, pk, 32);
  r->has_pk = !sodium_is_zero(pk, 32);
  r->heard = cp_now();
  if (round >= r->round)
    r->round = round;
  r->files_done = fdone;
  r->files_missing = fmiss;
  r->missing_chunks = mchunks;
  r->missing_bytes = mbytes;
  r->received = received;
  r->state = state == CP_ST_COMPLETE ? R_COMPLETE : state == CP_ST_ERROR ? R_ERROR : R_ACTIVE;
  if (state == CP_ST_ERROR)
    copy_text(r->err, sizeof(r->err), err, el);
  for (uint32_t i = 0; i < nranges && state == CP_ST_RECEIVING; i++) {
    uint32_t f = cp_get32(b), first = cp_get32(b), count = cp_get32(b);
    if (f >= S->L.n)
      continue;
    if (first == CP_NO_CHUNK) {
      S->need_hash[f] = 1;
      continue;
    }
    uint32_t nc = S->L.e[f].nchunks;
    for (uint32_t c = first; c < nc && c - first < count; c++)
      cp_set(S->need[f], c);
  }
}

static void handle(struct snd *S, uint8_t *m, size_t len, const struct smart_msginfo *info) {
  struct cp_buf b = {m, 0, len, 0};
  uint64_t session;
  int type = cp_parse_hdr(&b, &session);
  if (type == CP_STATUS && session == S->session)
    handle_status(S, &b, info);
  else if (type == CP_NOTICE) /* from a receiver that never learnt the session */
    handle_notice(S, &b, info);
}

/* ---- the session ---- */

static uint32_t count_state(const struct snd *S, int state) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < S->nr; i++)
    n += S->r[i].state == state;
  return n;
}

static void progress(struct snd *S, int final) {
  char extra[96];
  snprintf(extra, sizeof(extra), "pass %u, %u/%u receivers complete", S->pass,
           count_state(S, R_COMPLETE), S->nr);
  double total = (double)S->L.total;
  cp_progress(&S->prog, (double)S->data_bytes, total > S->data_bytes ? total : (double)S->data_bytes,
              extra, final);
}

/* Work the socket for about `secs` seconds. */
static void work_for(struct snd *S, double secs) {
  double end = cp_now() + secs;
  for (double t = cp_now(); t < end; t = cp_now()) {
    struct pollfd p[3] = {{.fd = smart_fd(S->s), .events = POLLIN},
                          {.fd = smart_fd(S->ns), .events = POLLIN},
                          {.fd = S->bs ? smart_fd(S->bs) : -1, .events = POLLIN}};
    int32_t to = smart_timeout(S->s), bto = S->bs ? smart_timeout(S->bs) : -1;
    if (bto >= 0 && (to < 0 || bto < to))
      to = bto;
    int ms = (int)((end - t) * 1000) + 1;
    poll(p, 3, to >= 0 && to < ms ? to : ms);
    drain(S);
  }
}

static void registration(struct snd *S) {
  const struct cp_opts *o = S->o;
  double t0 = cp_now(), wait = o->wait_s > 0 ? o->wait_s : o->expect ? 60 : 5;
  if (!o->quiet)
    fprintf(stderr, "%s: announcing %u entries, %.0f bytes; waiting for %s\n", cli_prog, S->L.n,
            (double)S->L.total, o->expect ? "the expected receivers" : "registrations");
  while (cp_now() - t0 < wait) {
    send_announce(S, 1);
    send_manifest(S);
    for (int k = 0; k < 30 && !(o->expect && S->nr + S->nnotes >= o->expect); k++)
      work_for(S, 0.01); /* announce again after 300 ms */
    if (o->expect && S->nr + S->nnotes >= o->expect)
      break;
  }
  send_announce(S, 0); /* the final list, so that late repeats stop */
  work_for(S, 0.05);
}

/* Ask every active receiver for its status until each has answered this
 * round, or has been silent for too long. */
static uint32_t unanswered(const struct snd *S) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < S->nr; i++)
    n += S->r[i].state == R_ACTIVE && S->r[i].round < S->round;
  return n;
}

static void status_round(struct snd *S) {
  S->round++;
  double t0 = cp_now();
  for (;;) {
    struct cp_buf b = out_buf(S, CP_STATUS_REQ);
    cp_put32(&b, S->pass);
    cp_put32(&b, S->round);
    send_msg(S, b.p, b.len);
    for (int k = 0; k < 50 && unanswered(S); k++) /* ask again after 250 ms */
      work_for(S, 0.005);
    uint32_t waiting = 0;
    double t = cp_now();
    for (uint32_t i = 0; i < S->nr; i++) {
      struct rcv *r = &S->r[i];
      if (r->state != R_ACTIVE || r->round >= S->round)
        continue;
      if (t - r->heard > S->o->gone_s && t - t0 > S->o->gone_s) {
        r->state = R_GONE;
        fprintf(stderr, "%s%s: receiver %s (%s) is gone: nothing heard for %.0f s\n",
                S->prog.tty ? "\n" : "", cli_prog, r->name, r->addr, t - r->heard);
      } else {
        waiting++;
      }
    }
    progress(S, 0);
    if (!waiting)
      break;
  }
}

static void check_hash_thread(struct snd *S) {
  if (S->hash_err)
    cli_die(1, "%s: %s", S->L.e[S->hash_err_file].src,
            S->hash_err == EIO ? "shrank while being read" : strerror(S->hash_err));
}

static void one_pass(struct snd *S) {
  S->pass++;
  for (uint32_t f = 0; f < S->L.n; f++) {
    int fd = -1;
    for (uint32_t c = 0; c < S->L.e[f].nchunks; c++)
      if (cp_bit(S->need[f], c)) {
        cp_clr(S->need[f], c);
        send_chunk(S, f, c, &fd);
        progress(S, 0);
      }
    if (fd >= 0)
      close(fd);
    if (S->need_hash[f] && atomic_load_explicit(&S->hashed, memory_order_acquire) > f)
      send_hashes(S, f);
  }
  for (uint32_t f = 0; f < S->L.n; f++) {
    while (S->need_hash[f] && atomic_load_explicit(&S->hashed, memory_order_acquire) <= f) {
      check_hash_thread(S);
      work_for(S, 0.01);
    }
    if (S->need_hash[f])
      send_hashes(S, f);
  }
}

static int anything_needed(const struct snd *S) {
  for (uint32_t f = 0; f < S->L.n; f++) {
    if (S->need_hash[f])
      return 1;
    for (uint32_t i = 0; i < (S->L.e[f].nchunks + 7) / 8; i++)
      if (S->need[f][i])
        return 1;
  }
  return 0;
}

static void transfer(struct snd *S) {
  S->t_xfer = cp_now();
  uint32_t idle_rounds = 0;
  while (count_state(S, R_ACTIVE) > 0) {
    if (anything_needed(S)) {
      if (S->pass >= S->o->max_passes)
        break;
      one_pass(S);
      idle_rounds = 0;
      S->t_xfer_end = cp_now();
    } else if (++idle_rounds > 1) {
      work_for(S, 0.02); /* receivers verifying: ask again shortly */
    }
    status_round(S);
  }
  if (S->t_xfer_end == 0)
    S->t_xfer_end = cp_now();
}

/* ---- the report ---- */

static void print_rcv(const struct snd *S, const struct rcv *r) {
  char key[20] = "", a[32];
  if (r->has_pk) {
    memcpy(key, ", key ", 6);
    cli_hex(key + 6, r->pk, 6);
  }
  fprintf(stderr, "  %s (%s%s): %s", r->name, r->addr, key, rstate_name[r->state]);
  if (r->state == R_ERROR)
    fprintf(stderr, ": %s", r->err);
  else if (r->state != R_COMPLETE)
    fprintf(stderr, ": %u of %u files, %llu chunks (%s) missing", r->files_missing, S->L.n,
            (unsigned long long)r->missing_chunks, cp_size(a, (double)r->missing_bytes));
  fputc('\n', stderr);
}

/* Keys of the allow-list that never registered (identity mode). */
static uint32_t unregistered_keys(const struct snd *S, int print) {
  const struct cli_security *sec = S->o->sec;
  FILE *f = sec->allow_file ? fopen(sec->allow_file, "r") : NULL;
  char line[512];
  uint32_t n = 0;
  while (f && fgets(line, sizeof(line), f)) {
    uint8_t pk[32];
    char *c = line + strspn(line, " \t");
    if (*c == '#' || cli_unhex(c, pk, 32) != 0)
      continue;
    int seen = 0;
    for (uint32_t i = 0; i < S->nr; i++)
      seen |= S->r[i].has_pk && !memcmp(S->r[i].pk, pk, 32);
    if (!seen && print) {
      char hex[13];
      cli_hex(hex, pk, 6);
      fprintf(stderr, "  key %s: never registered (not running, or not given the session key)\n", hex);
    }
    n += !seen;
  }
  if (f)
    fclose(f);
  return n;
}

static void json_report(const struct snd *S, int ok, double secs) {
  FILE *f = stdout;
  struct smart_stats st = {.size = sizeof(st)};
  smart_stats(S->s, &st);
  fprintf(f, "{\"ok\":%s,\"entries\":%u,\"bytes\":%llu,\"chunk\":%u,\"passes\":%u,"
          "\"chunk_bytes_sent\":%llu,\"repair_datagrams\":%llu,\"datagram_payload\":%zu,"
          "\"seconds\":%.3f,\"transfer_seconds\":%.3f,\"expected\":%u,\"receivers\":[",
          ok ? "true" : "false", S->L.n, (unsigned long long)S->L.total, S->L.chunk, S->pass,
          (unsigned long long)S->data_bytes, (unsigned long long)st.repairs_sent, S->P - 8,
          cp_now() - S->t_start, secs, S->o->expect);
  for (uint32_t i = 0; i < S->nr; i++) {
    const struct rcv *r = &S->r[i];
    char key[65];
    cli_hex(key, r->pk, 32);
    fprintf(f, "%s{\"name\":", i ? "," : "");
    cp_json_str(f, r->name);
    fprintf(f, ",\"addr\":\"%s\",\"key\":\"%s\",\"status\":\"%s\",\"files_missing\":%u,"
            "\"chunks_missing\":%llu,\"bytes_missing\":%llu,\"bytes_received\":%llu,\"error\":",
            r->addr, r->has_pk ? key : "", rstate_name[r->state], r->files_missing,
            (unsigned long long)r->missing_chunks, (unsigned long long)r->missing_bytes,
            (unsigned long long)r->received);
    cp_json_str(f, r->err);
    fputc('}', f);
  }
  fprintf(f, "],\"refused\":[");
  for (uint32_t i = 0; i < S->nnotes; i++) {
    fprintf(f, "%s{\"name\":", i ? "," : "");
    cp_json_str(f, S->notes[i].name);
    fprintf(f, ",\"addr\":\"%s\",\"error\":", S->notes[i].addr);
    cp_json_str(f, S->notes[i].err);
    fputc('}', f);
  }
  fprintf(f, "]}\n");
  fflush(f);
}

static int report(struct snd *S) {
  double secs = S->t_xfer_end - S->t_xfer;
  uint32_t complete = count_state(S, R_COMPLETE);
  char a[32], b[32], c[32];
  if (!S->o->quiet || complete != S->nr)
    fprintf(stderr, "%s: %u entries, %s; sent %s of chunks in %u pass(es), %.2f s (%s/s); "
            "%u of %u receivers complete\n", cli_prog, S->L.n, cp_size(a, (double)S->L.total),
            cp_size(b, (double)S->data_bytes), S->pass, secs,
            cp_size(c, secs > 0 ? (double)S->data_bytes / secs : 0), complete, S->nr);
  for (uint32_t i = 0; i < S->nr; i++)
    print_rcv(S, &S->r[i]);
  for (uint32_t i = 0; i < S->nnotes; i++)
    fprintf(stderr, "  %s (%s): refused: %s (unauthenticated notice)\n", S->notes[i].name,
            S->notes[i].addr, S->notes[i].err);
  uint32_t never = unregistered_keys(S, 1);
  if (S->o->expect > S->nr + S->nnotes && !never)
    fprintf(stderr, "  %u expected receiver(s) never registered\n", S->o->expect - S->nr - S->nnotes);
  int ok = complete == S->nr && complete >= (S->o->expect ? S->o->expect : 1) && !never;
  if (S->o->json)
    json_report(S, ok, secs);
  return ok ? 0 : 1;
}

int cp_send_main(const struct cp_opts *o, char **paths, int npaths) {
  static struct snd S0;
  struct snd *S = &S0;
  S->o = o;
  for (int i = 0; i < npaths; i++)
    if (cp_list_add(&S->L, paths[i]) != 0)
      return 2;
  if (S->L.n == 0)
    cli_die(2, "nothing to send");
  cp_list_chunks(&S->L, o->chunk);
  S->need = calloc(S->L.n, sizeof(*S->need));
  S->need_hash = calloc(S->L.n, 1);
  for (uint32_t i = 0; S->need && i < S->L.n; i++) {
    S->L.e[i].hashes = malloc((size_t)S->L.e[i].nchunks * CP_HASH + 1);
    S->need[i] = calloc((S->L.e[i].nchunks + 7) / 8 + 1, 1);
    if (!S->L.e[i].hashes || !S->need[i])
      cli_die(1, "out of memory");
  }
  S->out_cap = CP_HDR + 16 + S->L.chunk;
  S->in_cap = 1 << 20;
  S->out = malloc(S->out_cap > 70000 ? S->out_cap : 70000);
  S->in = malloc(S->in_cap);
  if (!S->need || !S->need_hash || !S->out || !S->in)
    cli_die(1, "out of memory");
  if (S->out_cap < 70000)
    S->out_cap = 70000;
  randombytes_buf(&S->session, sizeof(S->session));
  S->P = (o->insecure ? 1472u : 1420u) - 8u;
  S->t_start = cp_now();
  struct sigaction sa = {.sa_handler = on_sigbus};
  sigaction(SIGBUS, &sa, NULL);
  pthread_t th;
  if (pthread_create(&th, NULL, hash_thread, S) != 0)
    cli_die(1, "cannot start a thread");
  S->s = cp_open(o, 1, o->group, NULL);
  char side[80];
  cp_side_group(side, o->group, 1);
  S->ns = cp_open(o, 0, side, NULL);
  const struct cli_security *sec = o->sec;
  if (sec->identity_file && !sec->key_file) {
    randombytes_buf(S->bkey, sizeof(S->bkey));
    cp_side_group(side, o->group, 2);
    S->bs = cp_open(o, 0, side, S->bkey);
  }
  cp_progress_init(&S->prog, o->quiet);
  registration(S);
  transfer(S);
  progress(S, 1);
  struct cp_buf b = out_buf(S, CP_DONE);
  send_msg(S, b.p, b.len);
  smart_flush(S->s, 3000);
  pthread_join(th, NULL);
  check_hash_thread(S);
  int rc = report(S);
  smart_close(S->s);
  smart_close(S->ns);
  smart_close(S->bs);
  sodium_memzero(S->bkey, sizeof(S->bkey));
  return rc;
}
