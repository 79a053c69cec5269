/* Unit tests of key derivation: path, basename, regex (first capture
 * group, whole match, no match), hash and none, on byte names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "catalog/hash.h"
#include "catalog/key.h"
#include "common/util.h"

static struct keyer *make(enum key_kind kind, const char *re)
{
	struct config_root root = {.name = (char *)"r", .key = kind, .key_regex = (char *)re};
	struct keyer *k = NULL;

	assert_int_equal(keyer_new(&root, &k), 0);
	return k;
}

static int derive(struct keyer *k, const char *path, char *buf, size_t n)
{
	return keyer_derive(k, path, strlen(path), NULL, buf, n);
}

static void test_path_and_basename(void **state)
{
	struct keyer *p = make(KEY_PATH, NULL), *b = make(KEY_BASENAME, NULL);
	char buf[64];

	assert_int_equal(derive(p, "a/b/c.txt", buf, sizeof(buf)), 9);
	assert_string_equal(buf, "a/b/c.txt");
	assert_int_equal(derive(b, "a/b/c.txt", buf, sizeof(buf)), 5);
	assert_string_equal(buf, "c.txt");
	assert_int_equal(derive(b, "top", buf, sizeof(buf)), 3);
	assert_string_equal(buf, "top");
	assert_int_equal(derive(p, "a/b/c.txt", buf, 9), -ENOBUFS);
	assert_false(keyer_needs_hash(p));
	/* The path is not read past its length. */
	assert_int_equal(keyer_derive(b, "dir/name-and-more", 8, NULL, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "name");
	keyer_free(p);
	keyer_free(b);
}

static void test_regex(void **state)
{
	struct keyer *k = make(KEY_REGEX, "^([0-9a-f-]{36})_");
	struct keyer *whole = make(KEY_REGEX, "[0-9]+");
	char buf[64];

	assert_int_equal(derive(k, "uploads/0b0c7a43-2a4e-4c1e-9b6e-2f7f1b0e9d11_report final.pdf",
				buf, sizeof(buf)),
			 36);
	assert_string_equal(buf, "0b0c7a43-2a4e-4c1e-9b6e-2f7f1b0e9d11");
	/* The regex runs over the name only, not the directories. */
	assert_int_equal(derive(k, "0b0c7a43-2a4e-4c1e-9b6e-2f7f1b0e9d11_x/plain.txt", buf,
				sizeof(buf)),
			 0);
	assert_int_equal(derive(k, "notes.txt", buf, sizeof(buf)), 0);
	/* No group: the whole match. */
	assert_int_equal(derive(whole, "d/img-0042.png", buf, sizeof(buf)), 4);
	assert_string_equal(buf, "0042");
	/* Bytes that are not UTF-8 do not stop the match. */
	assert_int_equal(derive(whole, "d/\xff\xfe-77", buf, sizeof(buf)), 2);
	assert_string_equal(buf, "77");
	keyer_free(k);
	keyer_free(whole);
}

static void test_bad_regex(void **state)
{
	struct config_root root = {.key = KEY_REGEX, .key_regex = (char *)"(unclosed"};
	struct keyer *k = NULL;

	assert_int_equal(keyer_new(&root, &k), -EINVAL);
	assert_null(k);
	root.key_regex = NULL;
	assert_int_equal(keyer_new(&root, &k), -EINVAL);
}

static void test_hash_and_none(void **state)
{
	struct keyer *h = make(KEY_HASH, NULL), *n = make(KEY_NONE, NULL);
	struct catalog_hash hash;
	char buf[64];

	assert_true(keyer_needs_hash(h));
	assert_int_equal(derive(h, "a", buf, sizeof(buf)), 0);
	assert_int_equal(hash_buffer("hi\n", 3, &hash), 0);
	assert_int_equal(keyer_derive(h, "a", 1, &hash, buf, sizeof(buf)), 32);
	assert_string_equal(buf, "f4d0497cf9394caab34d1a3ab2bece70");
	assert_int_equal(keyer_derive(h, "a", 1, &hash, buf, 32), -ENOBUFS);
	assert_int_equal(derive(n, "a/b", buf, sizeof(buf)), 0);
	keyer_free(h);
	keyer_free(n);
	keyer_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_and_basename),
		cmocka_unit_test(test_regex),
		cmocka_unit_test(test_bad_regex),
		cmocka_unit_test(test_hash_and_none),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
