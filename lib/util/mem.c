/* Allocator hooks and array growth. See mem.h. */
#include "util/mem.h"

#include <stdlib.h>

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
