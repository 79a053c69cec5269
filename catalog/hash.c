/* XXH3-128 content hashing. xxhash.h is compiled inline here rather than
 * linked from the system library, which Debian builds without AVX2; the
 * digest is stored in canonical (big-endian) byte order, so its hex form
 * is what `xxhsum -H2` prints. Files are streamed in fixed-size chunks:
 * memory does not grow with file size. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "catalog/hash.h"

#include <fcntl.h>

#include "common/util.h"

#define HASH_CHUNK (512 * 1024)

static void to_canonical(XXH128_hash_t h, struct catalog_hash *ret)
{
	XXH128_canonical_t canon;

	XXH128_canonicalFromHash(&canon, h);
	memcpy(ret->b, canon.digest, CATALOG_HASH_SIZE);
}

int hash_buffer(const void *p, size_t n, struct catalog_hash *ret)
{
	to_canonical(XXH3_128bits(p, n), ret);
	return 0;
}

static ssize_t read_some(int fd, void *buf, size_t n)
{
	for (;;) {
		ssize_t k = read(fd, buf, n);
		if (k >= 0 || errno != EINTR)
			return k < 0 ? negative_errno() : k;
	}
}

/* Streams the rest of the file after the first chunk `buf[0..n)`. */
static int hash_stream(int fd, void *buf, size_t bufsz, size_t n, struct catalog_hash *ret,
		       uint64_t *ret_bytes)
{
	XXH3_state_t st;
	uint64_t total = n;
	ssize_t k;

	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, buf, n);
	while ((k = read_some(fd, buf, bufsz)) > 0) {
		XXH3_128bits_update(&st, buf, (size_t)k);
		total += (uint64_t)k;
	}
	if (k < 0)
		return (int)k;
	to_canonical(XXH3_128bits_digest(&st), ret);
	*ret_bytes = total;
	return 0;
}

int hash_fd_buf(int fd, void *buf, size_t bufsz, int64_t expect, struct catalog_hash *ret,
		uint64_t *ret_bytes)
{
	ssize_t k = read_some(fd, buf, bufsz);

	if (k < 0)
		return (int)k;
	/* With a known size, a first read of exactly that size is taken as
	 * the whole file, which saves the read that would return 0: small
	 * files are most files. If the file grew meanwhile its mtime changed
	 * too, and the next scan reads it again. */
	if ((size_t)k < bufsz && (k == 0 || k == expect)) {
		to_canonical(XXH3_128bits(buf, (size_t)k), ret);
		*ret_bytes = (uint64_t)k;
		return 0;
	}
	return hash_stream(fd, buf, bufsz, (size_t)k, ret, ret_bytes);
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
