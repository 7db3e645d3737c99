/* Allocator hooks and array growth. See mem.h. */
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

#include "smart/smart.h"

static void *libc_malloc(size_t n, void *u) {
  (void)u;
  return malloc(n);
}
static void libc_free(void *p, void *u) {
  (void)u;
  free(p);
}
static void *libc_calloc(size_t a, size_t b, void *u) {
  (void)u;
  return calloc(a, b);
}
static void *libc_realloc(void *p, size_t n, void *u) {
  (void)u;
  return realloc(p, n);
}

static const struct smart__mem libc_mem = {NULL, libc_malloc, libc_free, libc_calloc,
                                           libc_realloc};

const struct smart__mem *smart__mem_libc(void) { return &libc_mem; }

int smart__mem_init(struct smart__mem *m, const struct smart__mem *from) {
  if (!from) {
    *m = (struct smart__mem){NULL, libc_malloc, libc_free, libc_calloc, libc_realloc};
    return 0;
  }
  if (!from->malloc || !from->free || !from->calloc || !from->realloc)
    return SMART_EINVAL;
  *m = *from;
  return 0;
}

void *smart__mem_alloc(const struct smart__mem *m, size_t n) {
  return m->malloc(n ? n : 1, m->user_data);
}
void *smart__mem_zalloc(const struct smart__mem *m, size_t n) {
  return m->calloc(1, n ? n : 1, m->user_data);
}
void *smart__mem_realloc(const struct smart__mem *m, void *p, size_t n) {
  return m->realloc(p, n ? n : 1, m->user_data);
}
void smart__mem_free(const struct smart__mem *m, void *p) {
  if (p)
    m->free(p, m->user_data);
}

int smart__mem_grow(const struct smart__mem *m, void **arr, uint32_t *cap,
                    uint32_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  uint64_t n = *cap ? *cap : 8;
  while (n < need)
    n *= 2;
  if (n > UINT32_MAX)
    return SMART_ENOMEM;
  void *p = smart__mem_realloc(m, *arr, (size_t)n * elem);
  if (!p)
    return SMART_ENOMEM;
  *arr = p;
  *cap = (uint32_t)n;
  return 0;
}

int smart__mem_ring_grow(const struct smart__mem *m, void **arr, uint32_t *cap,
                         uint32_t *head, uint32_t n, size_t elem,
                         uint32_t first, const void *keep) {
  uint64_t ncap = *cap ? (uint64_t)*cap * 2 : first;
  if (ncap > UINT32_MAX)
    return SMART_ENOMEM;
  uint8_t *a = smart__mem_alloc(m, (size_t)ncap * elem);
  if (!a)
    return SMART_ENOMEM;
  if (n) {
    uint32_t h = *head & (*cap - 1), run = *cap - h < n ? *cap - h : n;
    memcpy(a, (uint8_t *)*arr + (size_t)h * elem, (size_t)run * elem);
    memcpy(a + (size_t)run * elem, *arr, (size_t)(n - run) * elem);
  }
  if (*arr != keep)
    smart__mem_free(m, *arr);
  *arr = a;
  *cap = (uint32_t)ncap;
  *head = 0;
  return 0;
}
