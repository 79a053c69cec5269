/* Content hashing with XXH3-128, streamed so that memory does not grow
 * with file size. */
#pragma once

#include <stdint.h>

#include "catalog/catalog.h"

/* Hashes everything readable from fd (from its current offset).
 * *ret_bytes gets the number of bytes read. */
int hash_fd(int fd, struct catalog_hash *ret, uint64_t *ret_bytes);
int hash_buffer(const void *p, size_t n, struct catalog_hash *ret);
/* Like hash_fd(), with the caller's buffer (its size is the read size;
 * 256 KiB to 1 MiB suits) and the size fstat() reported, or -1: a first
 * read returning exactly `expect` bytes is taken as the whole file. */
int hash_fd_buf(int fd, void *buf, size_t bufsz, int64_t expect, struct catalog_hash *ret,
		uint64_t *ret_bytes);
/* 32 lowercase hex digits and a NUL. */
void hash_to_hex(const struct catalog_hash *h, char out[static 33]);
int hash_from_hex(const char *hex, struct catalog_hash *ret); /* -EINVAL */
