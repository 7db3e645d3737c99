/* Crypto providers (sodium.c, null.c) and secret-memory helpers. */
#ifndef SMART_CRYPTO_H
#define SMART_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "smart/smart.h"

/* Zeroed, guarded memory for keys (sodium_malloc); NULL on failure. */
void *smart__secure_alloc(size_t n);
void smart__secure_free(void *p);
void smart__memzero(void *p, size_t n);
/* Constant-time comparison: 1 if equal. */
int smart__ct_equal(const void *a, const void *b, size_t n);

#endif
