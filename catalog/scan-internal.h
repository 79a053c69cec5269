/* The scanner's two halves share these: the walking thread (scan.c) and
 * the pool of hashing threads (scan-pool.c), which take a job per file,
 * stat it if the walker did not, apply the quick-check, and read and hash
 * it. Private to the catalog module. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "catalog/catalog.h"
#include "catalog/key.h"

#define QUEUE_MAX 1024
#define HASH_BUF (512 * 1024)
#define KEY_MAX 4096

/* A directory fd shared by the jobs queued from it; the last user closes. */
struct dirref {
	int fd;
	atomic_int refs;
};

/* What the scanner knows of a file: from statx, or from a catalog row. */
struct meta {
	int64_t size, mtime_ns, ctime_ns;
	uint64_t ino, dev;
	uint32_t mode;
};

/* The catalog row of a file, as far as the comparison needs it. */
struct old {
	bool exists, hashed;
	struct catalog_hash hash;
	struct meta m;
	enum catalog_state state;
	unsigned flags;
};

/* One file to hash. The walker fills the input half; a worker fills
 * the result half (res, error, hash, bytes, got). */
struct job {
	struct job *next;
	struct dirref *dir;
	struct meta seen;
	struct old old;
	/* RES_SKIP: no longer a regular file of this filesystem. */
	enum { RES_OK, RES_UNCHANGED, RES_VANISHED, RES_SKIP, RES_UNREADABLE } res;
	int error;
	struct catalog_hash hash;
	uint64_t bytes;
	struct meta got;
	char *key; /* derived on the hashing thread, malloc'd; NULL: none */
	size_t name_off, path_len;
	char path[];
};

/* Where the root is: what "the root's filesystem" means for the walk. */
struct fsid {
	uint64_t dev, mnt_id;
	bool have_mnt_id, one_fs;
};

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t more, space, done_cond;
	struct job *head, *tail, *done;
	unsigned queued, busy, idle;
	bool waits_space, waits_done; /* the walker sleeps on space / done_cond */
	bool stop, verify;
	const struct fsid *fs;
	const struct keyer *keyer;
	pthread_t *threads;
	unsigned n_threads;
};

void scan_dirref_put(struct dirref *d); /* accepts NULL */
struct dirref *scan_dirref_new(int fd);  /* takes fd; NULL: out of memory */
void scan_meta_from_statx(const struct statx *sx, struct meta *m);
/* True if sx is not on the root's filesystem: another device, another
 * mount, or the root of a (bind) mount. Always false without one_fs. */
bool scan_is_mount_point(const struct fsid *fs, const struct statx *sx);
/* statx() of a name in a directory, never following a symlink. */
int scan_statx(int dfd, const char *name, struct statx *sx);
/* The quick-check: size, mtime, ctime and inode as the catalog has them. */
bool scan_quick_same(const struct old *o, const struct meta *m);
void scan_log_thread_cpu(const char *who);

int scan_pool_start(struct pool *p, unsigned n, const struct fsid *fs, const struct keyer *keyer,
		    bool verify);
bool scan_pool_full(struct pool *p);
/* Queues a job, waiting while the queue is full. */
void scan_pool_push(struct pool *p, struct job *j);
/* The finished jobs as a list (NULL if none); with `wait`, blocks until
 * there is one or nothing is queued or running. */
struct job *scan_pool_take_done(struct pool *p, bool wait);
/* Stops and joins the threads; frees finished jobs not taken. */
void scan_pool_stop(struct pool *p);
