/*
 * util/mem: allocator hooks, the growth helper and ring growth, with a
 * counting allocator that can be told to fail.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "smart/smart.h"
#include "util/mem.h"

#include "unit.h"

struct counting {
  int live;      /* allocations not yet freed */
  int calls;     /* allocator calls */
  int fail_next; /* the next call returns NULL */
};

static void *c_malloc(size_t n, void *u) {
  struct counting *c = u;
  c->calls++;
  if (c->fail_next) {
    c->fail_next = 0;
    return NULL;
  }
  c->live++;
  return malloc(n);
}
static void c_free(void *p, void *u) {
  ((struct counting *)u)->live--;
  free(p);
}
static void *c_calloc(size_t a, size_t b, void *u) {
  void *p = c_malloc(a * b, u);
  if (p)
    memset(p, 0, a * b);
  return p;
}
static void *c_realloc(void *p, size_t n, void *u) {
  struct counting *c = u;
  if (!p)
    return c_malloc(n, u);
  c->calls++;
  if (c->fail_next) {
    c->fail_next = 0;
    return NULL;
  }
  return realloc(p, n);
}

static struct smart__mem counting_mem(struct counting *c) {
  struct smart__mem hooks = {c, c_malloc, c_free, c_calloc, c_realloc}, m;
  ck_assert_int_eq(smart__mem_init(&m, &hooks), 0);
  return m;
}

START_TEST(init_libc_and_incomplete_hooks) {
  struct smart__mem m;
  ck_assert_int_eq(smart__mem_init(&m, NULL), 0);
  /* A size of 0 still gives a pointer that can be freed. */
  void *p = smart__mem_alloc(&m, 0);
  ck_assert_ptr_nonnull(p);
  smart__mem_free(&m, p);
  uint8_t *z = smart__mem_zalloc(&m, 64);
  for (int i = 0; i < 64; i++)
    ck_assert_uint_eq(z[i], 0);
  smart__mem_free(&m, z);
  smart__mem_free(&m, NULL);
  /* All four hooks or none. */
  struct counting c = {0};
  struct smart__mem bad = {&c, c_malloc, NULL, c_calloc, c_realloc}, keep = m;
  ck_assert_int_eq(smart__mem_init(&m, &bad), SMART_EINVAL);
  ck_assert(memcmp(&m, &keep, sizeof(m)) == 0);
}
END_TEST

START_TEST(hooks_are_used) {
  struct counting c = {0};
  struct smart__mem m = counting_mem(&c);
  void *p = smart__mem_alloc(&m, 10);
  p = smart__mem_realloc(&m, p, 100);
  void *q = smart__mem_zalloc(&m, 10);
  ck_assert_int_eq(c.live, 2);
  smart__mem_free(&m, p);
  smart__mem_free(&m, q);
  ck_assert_int_eq(c.live, 0);
  ck_assert_int_eq(c.calls, 3);
}
END_TEST

START_TEST(grow_doubles_and_fails_cleanly) {
  struct counting c = {0};
  struct smart__mem m = counting_mem(&c);
  uint32_t *a = NULL, cap = 0;
  ck_assert_int_eq(smart__mem_grow(&m, (void **)&a, &cap, 1, sizeof(*a)), 0);
  ck_assert_uint_eq(cap, 8);
  for (uint32_t i = 0; i < 8; i++)
    a[i] = i;
  /* Enough already: no call. */
  int calls = c.calls;
  ck_assert_int_eq(smart__mem_grow(&m, (void **)&a, &cap, 8, sizeof(*a)), 0);
  ck_assert_int_eq(c.calls, calls);
  ck_assert_int_eq(smart__mem_grow(&m, (void **)&a, &cap, 33, sizeof(*a)), 0);
  ck_assert_uint_eq(cap, 64);
  for (uint32_t i = 0; i < 8; i++)
    ck_assert_uint_eq(a[i], i);
  /* Out of memory: the array and its capacity are untouched. */
  uint32_t *before = a;
  c.fail_next = 1;
  ck_assert_int_eq(smart__mem_grow(&m, (void **)&a, &cap, 65, sizeof(*a)), SMART_ENOMEM);
  ck_assert_ptr_eq(a, before);
  ck_assert_uint_eq(cap, 64);
  /* More than 32 bits of elements cannot be asked for. */
  ck_assert_int_eq(smart__mem_grow(&m, (void **)&a, &cap, UINT32_MAX, 1), SMART_ENOMEM);
  ck_assert_uint_eq(cap, 64);
  smart__mem_free(&m, a);
  ck_assert_int_eq(c.live, 0);
}
END_TEST

START_TEST(ring_grow_unrolls_in_order) {
  struct counting c = {0};
  struct smart__mem m = counting_mem(&c);
  uint64_t inline_ring[4], *ring = inline_ring;
  uint32_t cap = 4, head = 3, n = 4;
  /* Full and wrapped: elements 10..13 stored from index 3. */
  for (uint32_t i = 0; i < n; i++)
    ring[(head + i) & (cap - 1)] = 10 + i;
  ck_assert_int_eq(smart__mem_ring_grow(&m, (void **)&ring, &cap, &head, n,
                                        sizeof(*ring), 64, inline_ring), 0);
  ck_assert_uint_eq(cap, 8);
  ck_assert_uint_eq(head, 0);
  for (uint32_t i = 0; i < n; i++)
    ck_assert_uint_eq(ring[i], 10 + i);
  ck_assert_int_eq(c.live, 1); /* the inline storage was not freed */
  /* Again, from the heap: the old array is freed. */
  head = 6;
  for (uint32_t i = 0; i < 8; i++)
    ring[(head + i) & 7] = 20 + i;
  ck_assert_int_eq(smart__mem_ring_grow(&m, (void **)&ring, &cap, &head, 8,
                                        sizeof(*ring), 64, inline_ring), 0);
  ck_assert_uint_eq(cap, 16);
  for (uint32_t i = 0; i < 8; i++)
    ck_assert_uint_eq(ring[i], 20 + i);
  ck_assert_int_eq(c.live, 1);
  /* Out of memory: unchanged. */
  uint64_t *before = ring;
  c.fail_next = 1;
  head = 5;
  ck_assert_int_eq(smart__mem_ring_grow(&m, (void **)&ring, &cap, &head, 16,
                                        sizeof(*ring), 64, inline_ring), SMART_ENOMEM);
  ck_assert_ptr_eq(ring, before);
  ck_assert_uint_eq(cap, 16);
  ck_assert_uint_eq(head, 5);
  smart__mem_free(&m, ring);
  /* An empty ring starts at `first`. */
  uint32_t *r2 = NULL, cap2 = 0, head2 = 0;
  ck_assert_int_eq(smart__mem_ring_grow(&m, (void **)&r2, &cap2, &head2, 0,
                                        sizeof(*r2), 64, NULL), 0);
  ck_assert_uint_eq(cap2, 64);
  smart__mem_free(&m, r2);
  ck_assert_int_eq(c.live, 0);
}
END_TEST

static void add_tests(TCase *t) {
  tcase_add_test(t, init_libc_and_incomplete_hooks);
  tcase_add_test(t, hooks_are_used);
  tcase_add_test(t, grow_doubles_and_fails_cleanly);
  tcase_add_test(t, ring_grow_unrolls_in_order);
}

int main(void) { return unit_main("mem", add_tests); }
