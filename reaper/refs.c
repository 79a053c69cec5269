/* The database-independent half of reference sources: compact key sets
 * (64-bit hashes in an open-addressing table, so a million keys cost
 * 16-32 MiB instead of a million malloc'd strings) and the scanner that
 * finds key-shaped tokens in text such as Open WebUI's chat JSON. A hash
 * collision only ever makes a key look referenced, which is the safe
 * direction for a reaper. */
#include "reaper/refs.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct refkeys {
	uint64_t *slots; /* 0 = empty */
	size_t mask;     /* capacity - 1, capacity a power of two */
	size_t n;
};

static uint64_t key_hash(const char *key, size_t len)
{
	uint64_t h = XXH3_64bits(key, len);
	return h ? h : 1;
}

int refkeys_new(struct refkeys **ret)
{
	struct refkeys *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->slots = calloc(1024, sizeof(uint64_t));
	if (!k->slots) {
		free(k);
		return -ENOMEM;
	}
	k->mask = 1023;
	*ret = k;
	return 0;
}

void refkeys_free(struct refkeys *k)
{
	if (!k)
		return;
	free(k->slots);
	free(k);
}

static void slots_put(uint64_t *slots, size_t mask, uint64_t h)
{
	size_t i = h & mask;
	while (slots[i] && slots[i] != h)
		i = (i + 1) & mask;
	slots[i] = h;
}

static int refkeys_grow(struct refkeys *k)
{
	size_t cap = (k->mask + 1) * 2;
	uint64_t *slots = calloc(cap, sizeof(uint64_t));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i <= k->mask; i++)
		if (k->slots[i])
			slots_put(slots, cap - 1, k->slots[i]);
	free(k->slots);
	k->slots = slots;
	k->mask = cap - 1;
	return 0;
}

int refkeys_add(struct refkeys *k, const char *key, size_t len)
{
	uint64_t h = key_hash(key, len);
	size_t i = h & k->mask;

	while (k->slots[i]) {
		if (k->slots[i] == h)
			return 0;
		i = (i + 1) & k->mask;
	}
	if ((k->n + 1) * 2 > k->mask + 1) {
		int r = refkeys_grow(k);
		if (r < 0)
			return r;
		slots_put(k->slots, k->mask, h);
	} else
		k->slots[i] = h;
	k->n++;
	return 1;
}

bool refkeys_contains(const struct refkeys *k, const char *key, size_t len)
{
	uint64_t h = key_hash(key, len);
	for (size_t i = h & k->mask; k->slots[i]; i = (i + 1) & k->mask)
		if (k->slots[i] == h)
			return true;
	return false;
}

size_t refkeys_size(const struct refkeys *k)
{
	return k->n;
}

/* ---- key-shaped tokens ---- */

struct refscan {
	bool uuid;
	regex_t re;
};

int refscan_new(const char *key_pattern, struct refscan **ret)
{
	struct refscan *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (isempty(key_pattern) || streq(key_pattern, "uuid"))
		s->uuid = true;
	else if (regcomp(&s->re, key_pattern, REG_EXTENDED) != 0) {
		free(s);
		return -EINVAL;
	}
	*ret = s;
	return 0;
}

void refscan_free(struct refscan *s)
{
	if (!s)
		return;
	if (!s->uuid)
		regfree(&s->re);
	free(s);
}

#define UUID_LEN 36

static bool uuid_at(const char *p)
{
	for (int i = 0; i < UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (p[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)p[i]))
			return false;
	}
	return true;
}

/* A dash where a uuid has its first one is the cheap filter; the full
 * shape is checked only there. Neighbouring hex digits do not disqualify
 * a token: a longer hex run yielding an extra token can only keep more
 * keys alive. */
static int scan_uuid(const char *text, size_t len, int (*cb)(const char *, size_t, void *),
		     void *ud)
{
	char tok[UUID_LEN];

	for (size_t i = 0; i + UUID_LEN <= len; i++) {
		if (text[i + 8] != '-' || !uuid_at(text + i))
			continue;
		for (int j = 0; j < UUID_LEN; j++)
			tok[j] = (char)tolower((unsigned char)text[i + j]);
		int r = cb(tok, UUID_LEN, ud);
		if (r < 0)
			return r;
		i += UUID_LEN - 1;
	}
	return 0;
}

/* regexec() needs a NUL-terminated string: a text with NUL bytes in it
 * is scanned piece by piece. */
static int scan_regex_piece(const regex_t *re, const char *p, const char *end,
			    int (*cb)(const char *, size_t, void *), void *ud)
{
	const char *start = p;
	regmatch_t m[2];

	while (p < end && regexec(re, p, 2, m, p == start ? 0 : REG_NOTBOL) == 0) {
		int g = m[1].rm_so >= 0 ? 1 : 0;
		if (m[g].rm_eo > m[g].rm_so) {
			int r = cb(p + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so), ud);
			if (r < 0)
				return r;
		}
		p += m[0].rm_eo > 0 ? m[0].rm_eo : 1;
	}
	return 0;
}

static int scan_regex(const regex_t *re, const char *text, size_t len,
		      int (*cb)(const char *, size_t, void *), void *ud)
{
	_cleanup_free_ char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = 0;
	for (const char *p = copy; p < copy + len; p += strlen(p) + 1) {
		int r = scan_regex_piece(re, p, p + strlen(p), cb, ud);
		if (r < 0)
			return r;
	}
	return 0;
}

int refscan_text(const struct refscan *s, const char *text, size_t len,
		 int (*cb)(const char *tok, size_t tok_len, void *ud), void *ud)
{
	if (s->uuid)
		return scan_uuid(text, len, cb, ud);
	return scan_regex(&s->re, text, len, cb, ud);
}

int refscan_normalize(const struct refscan *s, const char *key, size_t len, char *buf,
		      size_t bufsz)
{
	if (len + 1 > bufsz)
		return -ENOBUFS;
	for (size_t i = 0; i < len; i++)
		buf[i] = s->uuid ? (char)tolower((unsigned char)key[i]) : key[i];
	buf[len] = 0;
	return (int)len;
}
