/* Key derivation: how a file under a root maps to the key a reference
 * source uses for it (a root's `key = path|basename|regex|hash`). */
#pragma once

#include <stddef.h>

#include "catalog/catalog.h"
#include "common/config.h"

struct keyer;

/* -EINVAL if the root's key-regex does not compile. */
int keyer_new(const struct config_root *root, struct keyer **ret);
void keyer_free(struct keyer *k); /* accepts NULL */
/* Writes the key of the file at relative path `path` (and with content
 * hash `hash`, which may be NULL when not known yet) into buf, NUL-terminated.
 * Returns the key length, 0 when the file has no key, -ENOBUFS. */
int keyer_derive(const struct keyer *k, const char *path, size_t path_len,
		 const struct catalog_hash *hash, char *buf, size_t bufsz);
/* True when the key needs the content hash (key = hash). */
int keyer_needs_hash(const struct keyer *k);
