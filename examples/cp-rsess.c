/* smart-cp recv: the session with a sender, and the receiver's main loop. */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "cp-recv.h"

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static uint8_t out[CP_HDR + 200 + 320 + 12 * CP_MAX_RANGES + 64];

static int complete(const struct rcvr *R) {
  return R->prepared && R->files_done == R->L.n;
}

static void put_ranges(struct rcvr *R, struct cp_buf *b, uint64_t *mchunks, uint64_t *mbytes,
                       uint32_t *fmiss) {
  size_t at = b->len;
  uint32_t n = 0;
  cp_put32(b, 0);
  for (uint32_t i = 0; i < R->L.n; i++) {
    struct rc_file *f = &R->f[i];
    if (f->state == F_DONE)
      continue;
    (*fmiss)++;
    if (f->state != F_PENDING)
      continue;
    if ((f->nhashes != f->nchunks || !f->got_fhash) && n < CP_MAX_RANGES) {
      cp_put32(b, i), cp_put32(b, CP_NO_CHUNK), cp_put32(b, 0);
      n++;
    }
    for (uint32_t c = 0; c < f->nchunks; c++) {
      if (cp_bit(f->have, c))
        continue;
      uint32_t e = c;
      while (e < f->nchunks && !cp_bit(f->have, e)) {
        *mbytes += cp_chunk_len(&R->L.e[i], R->L.chunk, e);
        e++;
      }
      *mchunks += e - c;
      if (n < CP_MAX_RANGES) {
        cp_put32(b, i), cp_put32(b, c), cp_put32(b, e - c);
        n++;
      }
      c = e;
    }
  }
  struct cp_buf w = {b->p + at, 0, 4, 0};
  cp_put32(&w, n);
}

static void send_status(struct rcvr *R, uint32_t round) {
  struct cp_buf b = {out, 0, sizeof(out), 0};
  cp_hdr(&b, CP_STATUS, R->session);
  cp_put64(&b, R->node);
  cp_put32(&b, round);
  cp_put8(&b, R->error ? CP_ST_ERROR : complete(R) ? CP_ST_COMPLETE : CP_ST_RECEIVING);
  cp_put8(&b, 0);
  cp_put16(&b, 0);
  uint32_t fmiss = 0;
  uint64_t mchunks = 0, mbytes = 0;
  uint8_t tail[12 * CP_MAX_RANGES + 4];
  struct cp_buf rb = {tail, 0, sizeof(tail), 0};
  if (R->prepared)
    put_ranges(R, &rb, &mchunks, &mbytes, &fmiss);
  else
    fmiss = R->L.n;
  cp_put32(&b, R->files_done);
  cp_put32(&b, fmiss);
  cp_put64(&b, mchunks);
  cp_put64(&b, mbytes);
  cp_put64(&b, R->received);
  size_t nl = strlen(R->o->name);
  cp_put8(&b, (uint8_t)(nl > 63 ? 63 : nl));
  cp_putmem(&b, R->o->name, nl > 63 ? 63 : nl);
  cp_putmem(&b, R->pk, 32);
  size_t el = R->error ? strlen(R->err) : 0;
  cp_put16(&b, (uint16_t)el);
  cp_putmem(&b, R->err, el);
  if (R->error || !R->prepared)
    cp_put32(&b, 0);
  else
    cp_putmem(&b, tail, rb.len);
  smart_ssize n = smart_send(R->bs ? R->bs : R->s, b.p, b.len, 0);
  if (n < 0)
    cli_die(1, "send: %s", smart_strerror((int)n));
}

static void save_all(struct rcvr *R) {
  for (uint32_t i = 0; R->prepared && i < R->L.n; i++)
    rc_save_state(R, i);
  R->last_save = cp_now();
}

static void summary(struct rcvr *R, const char *status) {
  double secs = R->t_last > R->t_first ? R->t_last - R->t_first : 0;
  char a[32], b[32], c[32];
  if (!R->o->quiet && !strcmp(status, "complete"))
    fprintf(stderr, "%s: complete: %u entries, %s in %s; received %s (%s already held) in %.2f s (%s/s)\n",
            cli_prog, R->L.n, cp_size(a, (double)R->L.total), R->o->dir,
            cp_size(b, (double)R->received), cp_size(c, (double)R->resumed), secs,
            cp_size(a, secs > 0 ? (double)R->received / secs : 0));
  if (R->o->json) {
    printf("{\"status\":\"%s\",\"entries\":%u,\"bytes\":%llu,\"bytes_received\":%llu,"
           "\"bytes_resumed\":%llu,\"bad_chunks\":%llu,\"transfer_seconds\":%.3f,\"error\":",
           status, R->L.n, (unsigned long long)R->L.total, (unsigned long long)R->received,
           (unsigned long long)R->resumed, (unsigned long long)R->bad_chunks, secs);
    cp_json_str(stdout, R->err);
    printf("}\n");
    fflush(stdout);
  }
}

/* Stop with one line: tell the sender first when there is one. */
static void fail(struct rcvr *R, const char *msg) {
  if (!R->error && msg != R->err)
    snprintf(R->err, sizeof(R->err), "%s", msg);
  R->error = 1;
  if (R->prog.tty)
    fputc('\n', stderr);
  save_all(R);
  rc_verify_stop(R);
  summary(R, "error");
  if (R->have_session) {
    send_status(R, R->last_round);
    smart_flush(R->bs ? R->bs : R->s, 2000);
  }
  smart_close(R->s);
  smart_close(R->bs);
  cli_die(1, "%s", R->err);
}

/* Wrong key, or not on the allow-list: nothing authenticates. A notice in
 * the clear on the group's port + 1 lets the sender name this receiver. */
static void fail_auth(struct rcvr *R) {
  snprintf(R->err, sizeof(R->err), "the sender's datagrams do not authenticate: wrong key, or not "
           "on the sender's allow-list");
  char g[80];
  cp_side_group(g, R->o->group, 1);
  smart_sock *ns = cp_open(R->o, 0, g, NULL);
  uint8_t m[CP_HDR + 400];
  struct cp_buf b = {m, 0, sizeof(m), 0};
  cp_hdr(&b, CP_NOTICE, 0);
  size_t nl = strlen(R->o->name) > 63 ? 63 : strlen(R->o->name), el = strlen(R->err);
  cp_put8(&b, (uint8_t)nl);
  cp_putmem(&b, R->o->name, nl);
  cp_put16(&b, (uint16_t)el);
  cp_putmem(&b, R->err, el);
  for (int i = 0; i < 3; i++)
    smart_send(ns, m, b.len, 0);
  smart_flush(ns, 1500);
  smart_close(ns);
  fail(R, R->err);
}

static void adopt(struct rcvr *R, struct cp_buf *b, uint64_t session, const struct smart_msginfo *info) {
  uint32_t n = cp_get32(b), chunk = cp_get32(b);
  uint64_t total = cp_get64(b);
  if (b->bad || n == 0 || n > (1u << 24) || chunk < 1024 || chunk > (64u << 20))
    return;
  R->have_session = 1;
  R->session = session;
  R->sender_id = info->sender_id;
  R->L.n = n;
  R->L.chunk = chunk;
  R->L.total = total;
  R->L.e = calloc(n, sizeof(*R->L.e));
  R->mhave = calloc(n, 1);
  if (!R->L.e || !R->mhave)
    cli_die(1, "out of memory");
  if (!R->o->quiet)
    fprintf(stderr, "%s: session from %s: %u entries, %.0f bytes\n", cli_prog, info->sender, n,
            (double)total);
}

static void on_announce(struct rcvr *R, struct cp_buf *b) {
  cp_getmem(b, 16);
  uint32_t flags = cp_get32(b); /* registration open; a status-channel key */
  const uint8_t *key = flags & CP_ANN_STATUS_KEY ? cp_getmem(b, 32) : NULL;
  if (key && !R->bs && !b->bad) {
    char g[80];
    cp_side_group(g, R->o->group, 2);
    R->bs = cp_open(R->o, 0, g, key);
  }
  uint32_t n = cp_get32(b);
  for (uint32_t i = 0; i < n && !b->bad; i++)
    if (cp_get64(b) == R->node)
      R->registered = 1;
  if ((R->prepared || R->error) && !R->registered)
    send_status(R, 0);
}

static void on_manifest(struct rcvr *R, struct cp_buf *b) {
  uint32_t first = cp_get32(b), count = cp_get32(b);
  for (uint32_t k = 0; k < count && !b->bad && first + k < R->L.n; k++) {
    struct cp_entry e = {0};
    e.size = cp_get64(b);
    e.mtime_s = (int64_t)cp_get64(b);
    e.mtime_ns = cp_get32(b);
    e.mode = cp_get32(b);
    uint16_t pl = cp_get16(b);
    const uint8_t *p = cp_getmem(b, pl);
    if (b->bad || R->mhave[first + k] || e.mtime_ns >= 1000000000u)
      continue;
    e.path = malloc((size_t)pl + 1);
    if (!e.path)
      cli_die(1, "out of memory");
    memcpy(e.path, p, pl);
    e.path[pl] = 0;
    if (strlen(e.path) != pl) /* a NUL inside: refused in rc_prepare */
      e.path[0] = '/';
    R->L.e[first + k] = e;
    R->mhave[first + k] = 1;
    R->nmanifest++;
  }
  if (R->nmanifest == R->L.n && !R->prepared && !R->error) {
    if (rc_prepare(R) != 0)
      fail(R, R->err);
    rc_verify_start(R);
    send_status(R, 0);
  }
}

static void on_chunk(struct rcvr *R, struct cp_buf *b) {
  uint32_t f = cp_get32(b), c = cp_get32(b);
  if (b->bad || !R->prepared || f >= R->L.n)
    return;
  double t = cp_now();
  if (R->t_first == 0)
    R->t_first = t;
  R->t_last = t;
  if (rc_write_chunk(R, f, c, b->p + b->len, b->cap - b->len, &R->cur) != 0)
    fail(R, R->err);
  if (rc_maybe_verify(R, f) != 0)
    fail(R, R->err);
}

static void on_hashes(struct rcvr *R, struct cp_buf *b) {
  uint32_t f = cp_get32(b), first = cp_get32(b), count = cp_get32(b), flags = cp_get32(b);
  if (b->bad || !R->prepared || f >= R->L.n || R->f[f].state != F_PENDING)
    return;
  struct rc_file *rf = &R->f[f];
  const uint8_t *fh = flags & 1 ? cp_getmem(b, CP_HASH) : NULL;
  const uint8_t *h = cp_getmem(b, (size_t)count * CP_HASH);
  if (b->bad || first > rf->nchunks || count > rf->nchunks - first)
    return;
  for (uint32_t k = 0; k < count; k++)
    if (!cp_bit(rf->hhave, first + k)) {
      memcpy(R->L.e[f].hashes + (size_t)(first + k) * CP_HASH, h + (size_t)k * CP_HASH, CP_HASH);
      cp_set(rf->hhave, first + k);
      rf->nhashes++;
    }
  if (fh) {
    memcpy(R->L.e[f].fhash, fh, CP_HASH);
    rf->got_fhash = 1;
  }
  if (rc_maybe_verify(R, f) != 0)
    fail(R, R->err);
}

static int handle(struct rcvr *R, smart_ssize n, const struct smart_msginfo *info) {
  struct cp_buf b = {R->cur, 0, (size_t)n, 0};
  uint64_t session;
  int type = cp_parse_hdr(&b, &session);
  if (type < 0 || type >= CP_STATUS)
    return 0; /* other receivers' reports, or not ours */
  if (!R->have_session) {
    if (type != CP_ANNOUNCE || session == R->done_session)
      return 0;
    struct cp_buf a = b;
    adopt(R, &a, session, info);
    if (!R->have_session)
      return 0;
  }
  if (session != R->session || info->sender_id != R->sender_id)
    return 0;
  R->heard = cp_now();
  switch (type) {
  case CP_ANNOUNCE: on_announce(R, &b); break;
  case CP_MANIFEST: on_manifest(R, &b); break;
  case CP_CHUNK: on_chunk(R, &b); break;
  case CP_HASHES: on_hashes(R, &b); break;
  case CP_STATUS_REQ:
    cp_get32(&b);
    R->last_round = cp_get32(&b);
    R->registered = 1;
    if (R->error)
      fail(R, R->err);
    if (R->prepared)
      send_status(R, R->last_round);
    break;
  case CP_DONE: return 1;
  default: break;
  }
  return 0;
}

/* Work that does not wait for a message: results of the verifier, state
 * saving, progress, the sender's silence. */
static int periodic(struct rcvr *R) {
  double t = cp_now();
  while (R->bs && smart_recv(R->bs, out, sizeof(out), NULL, SMART_MSG_DONTWAIT) != SMART_EAGAIN)
    ; /* others' status: not ours to read, but the socket must answer repairs */
  if (R->prepared) {
    int was = complete(R);
    if (rc_poll_verified(R) != 0)
      fail(R, R->err);
    if (!was && complete(R))
      send_status(R, R->last_round); /* tell the sender without being asked */
    if (t - R->last_save > 0.2)
      save_all(R);
    char extra[64];
    snprintf(extra, sizeof(extra), "%u/%u files", R->files_done, R->L.n);
    cp_progress(&R->prog, (double)(R->received + R->resumed), (double)R->L.total, extra, 0);
  }
  if (R->have_session && t - R->heard > R->o->timeout_s) {
    if (complete(R))
      return 1; /* all in; the sender's end was not heard */
    char why[160];
    snprintf(why, sizeof(why), "the sender went away: nothing heard for %.0f s; what was "
             "received is kept for resume", t - R->heard);
    fail(R, why);
  }
  if (!R->have_session) {
    struct smart_stats st = {.size = sizeof(st)};
    smart_stats(R->s, &st);
    if (st.drops_auth && R->first_auth_drop == 0)
      R->first_auth_drop = t;
    if (R->first_auth_drop && t - R->first_auth_drop > 3)
      fail_auth(R);
    if (t - R->started > R->o->timeout_s) {
      char why[64];
      snprintf(why, sizeof(why), "no sender heard in %.0f s", t - R->started);
      fail(R, why);
    }
  }
  return 0;
}

static void check_dir(struct rcvr *R) {
  R->root = open(R->o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (R->root < 0) {
    snprintf(R->err, sizeof(R->err), "%s: %s", R->o->dir, strerror(errno));
    R->error = 1;
    return;
  }
  char probe[64];
  snprintf(probe, sizeof(probe), ".smart-cp-probe.%ld", (long)getpid());
  int fd = openat(R->root, probe, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    snprintf(R->err, sizeof(R->err), "%s: not writable: %s", R->o->dir, strerror(errno));
    R->error = 1;
    return;
  }
  close(fd);
  unlinkat(R->root, probe, 0);
}

int cp_recv_main(const struct cp_opts *o) {
  static struct rcvr R0;
  struct rcvr *R = &R0;
  R->o = o;
  rc_raise_nofile();
  randombytes_buf(&R->node, sizeof(R->node));
  const struct cli_security *sec = o->sec;
  if (sec->identity_file) {
    uint8_t sk[64];
    cli_read_key(sec->identity_file, sk, 64, "--identity");
    memcpy(R->pk, sk + 32, 32);
    sodium_memzero(sk, sizeof(sk));
  }
  check_dir(R);
  if (R->error && !o->quiet)
    fprintf(stderr, "%s: %s (waiting for the sender, to tell it)\n", cli_prog, R->err);
  R->s = cp_open(o, 0, o->group, NULL);
  int32_t to = 200;
  cli_setopt(R->s, SMART_OPT_RCVTIMEO_MS, &to, sizeof(to), "timeout");
  R->buf_cap = (64u << 20) + 4096; /* the largest chunk; untouched pages cost nothing */
  R->buf = malloc(R->buf_cap);
  if (!R->buf)
    cli_die(1, "out of memory");
  R->started = cp_now();
  cp_progress_init(&R->prog, o->quiet);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  for (;;) {
    if (stop_signal) {
      save_all(R);
      rc_verify_stop(R);
      cli_die(128 + stop_signal, "interrupted: what was received is kept in %s for resume", o->dir);
    }
    struct smart_msginfo info = {.size = sizeof(info)};
    size_t cap;
    R->cur = rc_take_buf(R, &cap);
    smart_ssize n = smart_recv(R->s, R->cur, cap, &info, 0);
    int done = n >= 0 && !(info.flags & SMART_RECV_TRUNC) && handle(R, n, &info);
    rc_give_buf(R, R->cur); /* unless the verifier took it */
    if (done)
      break;
    if (n < 0 && n != SMART_EAGAIN && n != SMART_ELOST)
      fail(R, smart_strerror((int)n));
    if (periodic(R))
      break;
    if (R->error && R->have_session && R->registered)
      fail(R, R->err);
  }
  /* The sender is done. */
  save_all(R);
  rc_verify_stop(R);
  R->done_session = R->session;
  if (R->prog.tty)
    fputc('\n', stderr);
  if (!complete(R)) {
    uint32_t left = R->L.n - R->files_done;
    char why[80];
    snprintf(why, sizeof(why), "%u of %u entries", left, R->L.n);
    snprintf(R->err, sizeof(R->err), "the sender ended the session with %s incomplete", why);
    summary(R, "incomplete");
    smart_close(R->s);
    smart_close(R->bs);
    cli_die(1, "%s", R->err);
  }
  rc_finish_dirs(R);
  summary(R, "complete");
  smart_close(R->s);
  smart_close(R->bs);
  return 0;
}
