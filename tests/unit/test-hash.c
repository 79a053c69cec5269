/* Unit tests of content hashing: XXH3-128 digests in canonical byte order
 * as `xxhsum -H2` prints them (known vectors, and files compared with the
 * real xxhsum when it is installed), streaming across chunk boundaries,
 * and the hex round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>

#include "catalog/hash.h"
#include "common/util.h"

static void hex_of_buffer(const void *p, size_t n, char out[static 33])
{
	struct catalog_hash h;

	assert_int_equal(hash_buffer(p, n, &h), 0);
	hash_to_hex(&h, out);
}

/* Digests printed by `xxhsum -H2` (xxHash 0.8.1) for these inputs. */
static void test_known_vectors(void **state)
{
	char hex[33];

	hex_of_buffer("", 0, hex);
	assert_string_equal(hex, "99aa06d3014798d86001c324468d497f");
	hex_of_buffer("hi\n", 3, hex);
	assert_string_equal(hex, "f4d0497cf9394caab34d1a3ab2bece70");
}

static int scratch_file(const void *data, size_t n, size_t repeat)
{
	char path[] = "/tmp/test-hash.XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);

	assert_true(fd >= 0);
	unlink(path);
	for (size_t i = 0; i < repeat; i++)
		assert_int_equal(loop_write(fd, data, n), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* A file hashed in chunks gives the digest of its bytes in one piece,
 * for sizes around the chunk sizes and XXH3's internal block sizes. */
static void test_stream_equals_oneshot(void **state)
{
	static const size_t sizes[] = {0, 1, 16, 17, 128, 129, 240, 241, 1024, 65536,
				       262144, 524287, 524288, 524289, 3 * 524288 + 7};
	uint8_t *data = malloc(3 * 524288 + 7);

	assert_non_null(data);
	for (size_t i = 0; i < 3 * 524288 + 7; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	for (size_t k = 0; k < ELEMENTSOF(sizes); k++) {
		struct catalog_hash a, b, c;
		uint64_t n = 0;
		char buf[4096];
		int fd = scratch_file(data, sizes[k], 1);

		assert_int_equal(hash_buffer(data, sizes[k], &a), 0);
		assert_int_equal(hash_fd(fd, &b, &n), 0);
		assert_int_equal(n, sizes[k]);
		assert_memory_equal(a.b, b.b, CATALOG_HASH_SIZE);
		/* A small caller buffer and a wrong size hint still read it all. */
		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		assert_int_equal(hash_fd_buf(fd, buf, sizeof(buf), 3, &c, &n), 0);
		assert_int_equal(n, sizes[k]);
		assert_memory_equal(a.b, c.b, CATALOG_HASH_SIZE);
		close(fd);
	}
	free(data);
}

/* The real xxhsum agrees, on a file of a few MiB (the streamed path). */
static void test_matches_xxhsum(void **state)
{
	char path[] = "/tmp/test-hash.XXXXXX", cmd[128], want[40] = "", hex[33];
	struct catalog_hash h;
	uint64_t n;

	if (system("command -v xxhsum >/dev/null 2>&1") != 0) {
		skip();
		return;
	}
	int fd = mkostemp(path, O_CLOEXEC);
	assert_true(fd >= 0);
	for (int i = 0; i < 3000; i++) {
		char line[1024];
		memset(line, 'a' + i % 26, sizeof(line));
		assert_int_equal(loop_write(fd, line, sizeof(line)), 0);
	}
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(hash_fd(fd, &h, &n), 0);
	close(fd);
	hash_to_hex(&h, hex);
	snprintf(cmd, sizeof(cmd), "xxhsum -H2 %s 2>/dev/null", path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(want, sizeof(want), p));
	pclose(p);
	unlink(path);
	want[32] = '\0';
	assert_string_equal(hex, want);
	assert_int_equal(n, 3000 * 1024);
}

static void test_hex_round_trip(void **state)
{
	struct catalog_hash h, back;
	char hex[33];

	for (int i = 0; i < CATALOG_HASH_SIZE; i++)
		h.b[i] = (uint8_t)(i * 17);
	hash_to_hex(&h, hex);
	assert_string_equal(hex, "00112233445566778899aabbccddeeff");
	assert_int_equal(hash_from_hex(hex, &back), 0);
	assert_memory_equal(h.b, back.b, CATALOG_HASH_SIZE);
	assert_int_equal(hash_from_hex("00112233445566778899AABBCCDDEEFF", &back), 0);
	assert_memory_equal(h.b, back.b, CATALOG_HASH_SIZE);
	assert_int_equal(hash_from_hex("0011", &back), -EINVAL);
	assert_int_equal(hash_from_hex("00112233445566778899aabbccddeefg", &back), -EINVAL);
}

static void test_unreadable_fd(void **state)
{
	struct catalog_hash h;
	uint64_t n;
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(hash_fd(fd, &h, &n), -EISDIR);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_stream_equals_oneshot),
		cmocka_unit_test(test_matches_xxhsum),
		cmocka_unit_test(test_hex_round_trip),
		cmocka_unit_test(test_unreadable_fd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
