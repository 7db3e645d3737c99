/*
 * Allocator hooks and the one array-growth helper. Everything that
 * allocates in the core goes through a `struct smart__mem` (libc unless the
 * embedder gives its own), and every growing array through
 * smart__mem_grow(), which needs only the allocator, not an engine.
 */
#ifndef SMART_UTIL_MEM_H
#define SMART_UTIL_MEM_H

#include <stddef.h>
#include <stdint.h>

/* Allocator hooks; NULL in a config means libc. */
struct smart__mem {
  void *user_data;
  void *(*malloc)(size_t size, void *user_data);
  void (*free)(void *ptr, void *user_data);
  void *(*calloc)(size_t nmemb, size_t size, void *user_data);
  void *(*realloc)(void *ptr, size_t size, void *user_data);
};

/* `*m` = the hooks in `from` (all four must be set), or libc when `from`
 * is NULL. 0, or SMART_EINVAL for incomplete hooks (`*m` untouched). */
int smart__mem_init(struct smart__mem *m, const struct smart__mem *from);

/* The C library's allocator, for rooms that take no hooks. */
const struct smart__mem *smart__mem_libc(void);

/* A size of 0 is allocated as 1 byte, so that NULL always means failure. */
void *smart__mem_alloc(const struct smart__mem *m, size_t n);
void *smart__mem_zalloc(const struct smart__mem *m, size_t n);
void *smart__mem_realloc(const struct smart__mem *m, void *p, size_t n);
/* NULL is ignored. */
void smart__mem_free(const struct smart__mem *m, void *p);

/* Grow an array of `*cap` elements of `elem` bytes to hold `need`: the
 * capacity doubles from 8 until it does. 0 (also when it already did), or
 * SMART_ENOMEM with the array and `*cap` unchanged. */
int smart__mem_grow(const struct smart__mem *m, void **arr, uint32_t *cap,
                    uint32_t need, size_t elem);

/* Double a ring of `*cap` elements (`first` when it has none; capacities
 * are powers of two) that holds `n` from index `*head`: the new array holds
 * them from index 0. The old one is freed unless it is `keep` (storage
 * inside the owner). 0, or SMART_ENOMEM with the ring unchanged. */
int smart__mem_ring_grow(const struct smart__mem *m, void **arr, uint32_t *cap,
                         uint32_t *head, uint32_t n, size_t elem,
                         uint32_t first, const void *keep);

#endif
