/* The body of the file hashing in hash.c, included by two translation
 * units: hash.c (the baseline instruction set, SSE2 on x86-64) and
 * hash-avx2.c (compiled for AVX2 and used when the CPU has it), because
 * xxhash.h picks its vector code when it is compiled, not when it runs.
 * Each includer defines XXH_INLINE_ALL and includes <xxhash.h> first. */
#pragma once

#include <fcntl.h>

#include "catalog/hash.h"
#include "common/util.h"

/* The variants compiled for AVX2 (hash-avx2.c); x86 only. */
int hash_fd_buf_avx2(int fd, void *buf, size_t bufsz, int64_t expect, struct catalog_hash *ret,
		     uint64_t *ret_bytes);
int hash_buffer_avx2(const void *p, size_t n, struct catalog_hash *ret);

static void impl_canonical(XXH128_hash_t h, struct catalog_hash *ret)
{
	XXH128_canonical_t canon;

	XXH128_canonicalFromHash(&canon, h);
	memcpy(ret->b, canon.digest, CATALOG_HASH_SIZE);
}

static ssize_t impl_read(int fd, void *buf, size_t n)
{
	for (;;) {
		ssize_t k = read(fd, buf, n);
		if (k >= 0 || errno != EINTR)
			return k < 0 ? negative_errno() : k;
	}
}

/* Streams the rest of the file after the first chunk `buf[0..n)`. */
static int impl_stream(int fd, void *buf, size_t bufsz, size_t n, struct catalog_hash *ret,
		       uint64_t *ret_bytes)
{
	XXH3_state_t st;
	uint64_t total = n;
	ssize_t k;

	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, buf, n);
	while ((k = impl_read(fd, buf, bufsz)) > 0) {
		XXH3_128bits_update(&st, buf, (size_t)k);
		total += (uint64_t)k;
	}
	if (k < 0)
		return (int)k;
	impl_canonical(XXH3_128bits_digest(&st), ret);
	*ret_bytes = total;
	return 0;
}

static int impl_fd_buf(int fd, void *buf, size_t bufsz, int64_t expect, struct catalog_hash *ret,
		       uint64_t *ret_bytes)
{
	ssize_t k = impl_read(fd, buf, bufsz);

	if (k < 0)
		return (int)k;
	/* With a known size, a first read of exactly that size is taken as
	 * the whole file, which saves the read that would return 0: small
	 * files are most files. If the file grew meanwhile its mtime changed
	 * too, and the next scan reads it again. */
	if ((size_t)k < bufsz && (k == 0 || k == expect)) {
		impl_canonical(XXH3_128bits(buf, (size_t)k), ret);
		*ret_bytes = (uint64_t)k;
		return 0;
	}
	return impl_stream(fd, buf, bufsz, (size_t)k, ret, ret_bytes);
}
