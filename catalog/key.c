/* Key derivation: the name under which a reference source knows a file.
 * A root says whether that is the relative path, the file name, the first
 * capture group (or whole match) of a POSIX extended regex over the file
 * name, the hex content hash, or nothing. Names are bytes; the regex runs
 * with REG_STARTEND so that no copy is needed. */
#include "catalog/key.h"

#include <regex.h>

#include "catalog/hash.h"
#include "common/util.h"

struct keyer {
	enum key_kind kind;
	bool have_regex;
	regex_t re;
};

int keyer_new(const struct config_root *root, struct keyer **ret)
{
	_cleanup_free_ struct keyer *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	if (root->key < 0 || root->key >= _KEY_KIND_MAX)
		return -EINVAL;
	k->kind = root->key;
	if (k->kind == KEY_REGEX) {
		if (isempty(root->key_regex))
			return -EINVAL;
		if (regcomp(&k->re, root->key_regex, REG_EXTENDED) != 0)
			return -EINVAL;
		k->have_regex = true;
	}
	*ret = TAKE_PTR(k);
	return 0;
}

void keyer_free(struct keyer *k)
{
	if (!k)
		return;
	if (k->have_regex)
		regfree(&k->re);
	free(k);
}

int keyer_needs_hash(const struct keyer *k)
{
	return k->kind == KEY_HASH;
}

static int put(const char *s, size_t n, char *buf, size_t bufsz)
{
	if (n == 0)
		return 0;
	if (n + 1 > bufsz)
		return -ENOBUFS;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return (int)n;
}

static int derive_regex(const struct keyer *k, const char *name, size_t len, char *buf,
			size_t bufsz)
{
	regmatch_t m[2] = {{.rm_so = 0, .rm_eo = (regoff_t)len}};

	if (regexec(&k->re, name, 2, m, REG_STARTEND) != 0)
		return 0;
	if (k->re.re_nsub > 0 && m[1].rm_so >= 0)
		return put(name + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so), buf, bufsz);
	return put(name + m[0].rm_so, (size_t)(m[0].rm_eo - m[0].rm_so), buf, bufsz);
}

int keyer_derive(const struct keyer *k, const char *path, size_t path_len,
		 const struct catalog_hash *hash, char *buf, size_t bufsz)
{
	const char *slash = memrchr(path, '/', path_len);
	const char *name = slash ? slash + 1 : path;
	size_t name_len = path_len - (size_t)(name - path);

	switch (k->kind) {
	case KEY_PATH:
		return put(path, path_len, buf, bufsz);
	case KEY_BASENAME:
		return put(name, name_len, buf, bufsz);
	case KEY_REGEX:
		return derive_regex(k, name, name_len, buf, bufsz);
	case KEY_HASH:
		if (!hash)
			return 0;
		if (bufsz < 33)
			return -ENOBUFS;
		hash_to_hex(hash, buf);
		return 32;
	default:
		return 0;
	}
}
