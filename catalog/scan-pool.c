/* The scanner's hashing threads (scan-internal.h): each takes a job from
 * a bounded queue, stats the file if the walker did not, applies the
 * quick-check, opens it with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
 * | RESOLVE_NO_XDEV) where the kernel has it (else O_NOFOLLOW), checks
 * that a regular file of the root's filesystem was opened, hashes it and
 * derives its key, and puts the job on the finished list for the walker.
 * Wake-ups are rationed: they are system calls, and there is one job per
 * file. */
#include "catalog/scan-internal.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "catalog/hash.h"
#include "common/failpoint.h"
#include "common/log.h"
#include "common/util.h"

void scan_dirref_put(struct dirref *d)
{
	if (d && atomic_fetch_sub(&d->refs, 1) == 1) {
		close(d->fd);
		free(d);
	}
}

struct dirref *scan_dirref_new(int fd)
{
	struct dirref *d = malloc(sizeof(*d));
	if (!d)
		return NULL;
	d->fd = fd;
	atomic_init(&d->refs, 1);
	return d;
}

static int64_t ts_ns(const struct statx_timestamp *t)
{
	return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

void scan_meta_from_statx(const struct statx *sx, struct meta *m)
{
	*m = (struct meta){
		.size = (int64_t)sx->stx_size,
		.mtime_ns = ts_ns(&sx->stx_mtime),
		.ctime_ns = ts_ns(&sx->stx_ctime),
		.ino = sx->stx_ino,
		.dev = makedev(sx->stx_dev_major, sx->stx_dev_minor),
		.mode = sx->stx_mode,
	};
}

static void meta_from_stat(const struct stat *st, struct meta *m)
{
	*m = (struct meta){
		.size = st->st_size,
		.mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec,
		.ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec,
		.ino = st->st_ino,
		.dev = st->st_dev,
		.mode = st->st_mode,
	};
}

bool scan_is_mount_point(const struct fsid *fs, const struct statx *sx)
{
	if (!fs->one_fs)
		return false;
	if (makedev(sx->stx_dev_major, sx->stx_dev_minor) != fs->dev)
		return true;
	if ((sx->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (sx->stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return true;
	return fs->have_mnt_id && (sx->stx_mask & STATX_MNT_ID) && sx->stx_mnt_id != fs->mnt_id;
}

int scan_statx(int dfd, const char *name, struct statx *sx)
{
	if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
		  STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_MTIME | STATX_CTIME |
			  STATX_MNT_ID,
		  sx) < 0)
		return -errno;
	return 0;
}

/* The quick-check: size, mtime, ctime and inode as the catalog has them. */
bool scan_quick_same(const struct old *o, const struct meta *m)
{
	return o->exists && o->state == CATALOG_PRESENT && o->hashed && o->m.size == m->size &&
	       o->m.mtime_ns == m->mtime_ns && o->m.ctime_ns == m->ctime_ns && o->m.ino == m->ino;
}

static atomic_int no_openat2;

static int open_beneath(int dirfd, const char *name, bool one_fs)
{
	int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;

	if (!atomic_load_explicit(&no_openat2, memory_order_relaxed)) {
		struct open_how how = {
			.flags = (uint64_t)flags,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
				   (one_fs ? RESOLVE_NO_XDEV : 0),
		};
		long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
		if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
			return fd < 0 ? -errno : (int)fd;
		/* Seccomp filters answer EPERM for syscalls they do not know. */
		atomic_store(&no_openat2, 1);
	}
	int fd = openat(dirfd, name, flags);
	return fd < 0 ? -errno : fd;
}

static int classify_error(struct job *j, int r)
{
	j->error = -r;
	if (r == -ENOENT)
		j->res = RES_VANISHED;
	/* No longer a regular file of this filesystem (a symlink, another
	 * type, a mount point) since it was listed. */
	else if (r == -ELOOP || r == -ENOTDIR || r == -EXDEV || r == -EISDIR)
		j->res = RES_SKIP;
	else
		j->res = RES_UNREADABLE;
	return r;
}

/* Takes the file's metadata (unless the walker did) and decides whether
 * its content must be read. Returns 1 to read it, 0 if done. */
static int check_job(struct pool *p, struct job *j)
{
	struct statx sx;
	int r;

	/* A file to be read anyway needs no statx of its own where openat2()
	 * refuses symlinks and mount crossings: fstat() of the open file
	 * gives the metadata, and says whether it is a regular file. */
	if (!j->seen.mode && (p->verify || !j->old.exists) &&
	    !atomic_load_explicit(&no_openat2, memory_order_relaxed))
		return 1;
	if (!j->seen.mode) {
		r = scan_statx(j->dir->fd, j->path + j->name_off, &sx);
		if (r < 0)
			return classify_error(j, r), 0;
		if (!S_ISREG(sx.stx_mode) || scan_is_mount_point(p->fs, &sx))
			return classify_error(j, -EISDIR), 0;
		scan_meta_from_statx(&sx, &j->seen);
	}
	if (!p->verify && scan_quick_same(&j->old, &j->seen)) {
		j->res = RES_UNCHANGED;
		return 0;
	}
	return 1;
}

static void hash_job(struct pool *p, struct job *j, void *buf)
{
	struct stat st;
	int r;

	if (check_job(p, j) == 0)
		return;
	r = FAILPOINT("scan-before-hash");
	if (r < 0) {
		classify_error(j, r);
		return;
	}
	_cleanup_close_ int fd = open_beneath(j->dir->fd, j->path + j->name_off, p->fs->one_fs);
	if (fd < 0) {
		struct statx sx;
		/* An unreadable file's row still gets its metadata. */
		if (classify_error(j, fd) && j->res == RES_UNREADABLE && !j->seen.mode &&
		    scan_statx(j->dir->fd, j->path + j->name_off, &sx) == 0)
			scan_meta_from_statx(&sx, &j->seen);
		return;
	}
	if (fstat(fd, &st) < 0) {
		classify_error(j, -errno);
		return;
	}
	if (!S_ISREG(st.st_mode) || (p->fs->one_fs && st.st_dev != p->fs->dev)) {
		classify_error(j, -EISDIR);
		return;
	}
	meta_from_stat(&st, &j->got);
	if (!j->seen.mode)
		j->seen = j->got;
	r = hash_fd_buf(fd, buf, HASH_BUF, st.st_size, &j->hash, &j->bytes);
	if (r < 0) {
		classify_error(j, r);
		return;
	}
	j->res = RES_OK;
	/* A regex over the name costs microseconds: here, not on the walker. */
	char key[KEY_MAX];
	if (keyer_derive(p->keyer, j->path, j->path_len, &j->hash, key, sizeof(key)) > 0)
		j->key = strdup(key); /* out of memory: no key, as for a too long one */
}

void scan_log_thread_cpu(const char *who)
{
	struct rusage ru;

	if (log_get_max_level() < LOG_DEBUG || getrusage(RUSAGE_THREAD, &ru) < 0)
		return;
	log_debug("scan: %s used %ld.%03lds user, %ld.%03lds system", who, (long)ru.ru_utime.tv_sec,
		  (long)ru.ru_utime.tv_usec / 1000, (long)ru.ru_stime.tv_sec,
		  (long)ru.ru_stime.tv_usec / 1000);
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	_cleanup_free_ void *buf = malloc(HASH_BUF);

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->head && !p->stop) {
			p->idle++;
			pthread_cond_wait(&p->more, &p->lock);
			p->idle--;
		}
		if (!p->head)
			break;
		struct job *j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
		p->busy++;
		/* Wake a walker waiting for room only once half the queue is
		 * free: one wake-up per many jobs, not one per job. */
		if (p->waits_space && p->queued <= QUEUE_MAX / 2) {
			p->waits_space = false;
			pthread_cond_signal(&p->space);
		}
		pthread_mutex_unlock(&p->lock);

		if (buf)
			hash_job(p, j, buf);
		else
			classify_error(j, -ENOMEM);

		pthread_mutex_lock(&p->lock);
		p->busy--;
		j->next = p->done;
		p->done = j;
		if (p->waits_done) {
			p->waits_done = false;
			pthread_cond_signal(&p->done_cond);
		}
	}
	pthread_mutex_unlock(&p->lock);
	scan_log_thread_cpu("hashing thread");
	return NULL;
}

int scan_pool_start(struct pool *p, unsigned n, const struct fsid *fs,
		      const struct keyer *keyer, bool verify)
{
	*p = (struct pool){.fs = fs, .keyer = keyer, .verify = verify};
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->more, NULL);
	pthread_cond_init(&p->space, NULL);
	pthread_cond_init(&p->done_cond, NULL);
	p->threads = calloc(n, sizeof(pthread_t));
	if (!p->threads)
		return -ENOMEM;
	for (; p->n_threads < n; p->n_threads++) {
		int r = pthread_create(&p->threads[p->n_threads], NULL, worker, p);
		if (r != 0)
			return p->n_threads > 0 ? 0 : -r;
	}
	return 0;
}

bool scan_pool_full(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	bool full = p->queued >= QUEUE_MAX;
	pthread_mutex_unlock(&p->lock);
	return full;
}

void scan_pool_push(struct pool *p, struct job *j)
{
	pthread_mutex_lock(&p->lock);
	while (p->queued >= QUEUE_MAX) {
		p->waits_space = true;
		pthread_cond_wait(&p->space, &p->lock);
	}
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->queued++;
	/* Only a sleeping worker needs the (system call of a) wake-up. */
	if (p->idle)
		pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->lock);
}

/* Takes the finished jobs, in no particular order. */
struct job *scan_pool_take_done(struct pool *p, bool wait)
{
	pthread_mutex_lock(&p->lock);
	while (wait && !p->done && (p->queued || p->busy)) {
		p->waits_done = true;
		pthread_cond_wait(&p->done_cond, &p->lock);
	}
	struct job *d = p->done;
	p->done = NULL;
	pthread_mutex_unlock(&p->lock);
	return d;
}

void scan_pool_stop(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	for (struct job *j = p->done, *next; j; j = next) {
		next = j->next;
		scan_dirref_put(j->dir);
		free(j->key);
		free(j);
	}
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->more);
	pthread_cond_destroy(&p->space);
	pthread_cond_destroy(&p->done_cond);
}

