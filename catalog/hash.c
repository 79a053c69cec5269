/* XXH3-128 content hashing. xxhash.h is compiled inline here rather than
 * linked from the system library, which Debian builds without AVX2; on
 * CPUs with AVX2 the work goes to hash-avx2.c (same code, other target
 * instructions, chosen once at run time). The
 * digest is stored in canonical (big-endian) byte order, so its hex form
 * is what `xxhsum -H2` prints. Files are streamed in fixed-size chunks:
 * memory does not grow with file size. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "catalog/hash-impl.h"

#define HASH_CHUNK (512 * 1024)

static bool use_avx2(void)
{
#if defined(__x86_64__)
	static int avx2 = -1;
	if (avx2 < 0)
		avx2 = __builtin_cpu_supports("avx2");
	return avx2;
#else
	return false;
#endif
}

int hash_buffer(const void *p, size_t n, struct catalog_hash *ret)
{
#if defined(__x86_64__)
	if (use_avx2())
		return hash_buffer_avx2(p, n, ret);
#endif
	impl_canonical(XXH3_128bits(p, n), ret);
	return 0;
}

int hash_fd_buf(int fd, void *buf, size_t bufsz, int64_t expect, struct catalog_hash *ret,
		uint64_t *ret_bytes)
{
#if defined(__x86_64__)
	if (use_avx2())
		return hash_fd_buf_avx2(fd, buf, bufsz, expect, ret, ret_bytes);
#endif
	return impl_fd_buf(fd, buf, bufsz, expect, ret, ret_bytes);
}

int hash_fd(int fd, struct catalog_hash *ret, uint64_t *ret_bytes)
{
	_cleanup_free_ void *buf = malloc(HASH_CHUNK);
	struct catalog_hash h;
	uint64_t n;
	int r;

	if (!buf)
		return -ENOMEM;
	r = hash_fd_buf(fd, buf, HASH_CHUNK, -1, &h, &n);
	if (r < 0)
		return r;
	*ret = h;
	if (ret_bytes)
		*ret_bytes = n;
	return 0;
}

void hash_to_hex(const struct catalog_hash *h, char out[static 33])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < CATALOG_HASH_SIZE; i++) {
		out[2 * i] = digits[h->b[i] >> 4];
		out[2 * i + 1] = digits[h->b[i] & 15];
	}
	out[32] = '\0';
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hash_from_hex(const char *hex, struct catalog_hash *ret)
{
	struct catalog_hash h;

	if (strlen(hex) != 2 * CATALOG_HASH_SIZE)
		return -EINVAL;
	for (size_t i = 0; i < CATALOG_HASH_SIZE; i++) {
		int a = unhex(hex[2 * i]), b = unhex(hex[2 * i + 1]);
		if (a < 0 || b < 0)
			return -EINVAL;
		h.b[i] = (uint8_t)(a << 4 | b);
	}
	*ret = h;
	return 0;
}
