/* hash-impl.h compiled for AVX2: xxhash.h's AVX2 code is about three
 * times faster than its SSE2 code, and Debian's libxxhash is built
 * without it. hash.c calls these only when the CPU has AVX2. */
#if defined(__x86_64__)
#pragma GCC target("avx2")
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "catalog/hash-impl.h"

int hash_fd_buf_avx2(int fd, void *buf, size_t bufsz, int64_t expect, struct catalog_hash *ret,
		     uint64_t *ret_bytes)
{
	return impl_fd_buf(fd, buf, bufsz, expect, ret, ret_bytes);
}

int hash_buffer_avx2(const void *p, size_t n, struct catalog_hash *ret)
{
	impl_canonical(XXH3_128bits(p, n), ret);
	return 0;
}
#endif
