/* Content hashing with XXH3-128, streamed so that memory does not grow
 * with file size. */
#pragma once

#include <stdint.h>

#include "catalog/catalog.h"

/* Hashes everything readable from fd (from its current offset).
 * *ret_bytes gets the number of bytes read. */
int hash_fd(int fd, struct catalog_hash *ret, uint64_t *ret_bytes);
int hash_buffer(const void *p, size_t n, struct catalog_hash *ret);
/* 32 lowercase hex digits and a NUL. */
void hash_to_hex(const struct catalog_hash *h, char out[static 33]);
int hash_from_hex(const char *hex, struct catalog_hash *ret); /* -EINVAL */
