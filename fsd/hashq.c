/* The hashing queue: files the watcher saw written wait here, once each,
 * for a worker thread to read and hash them; finished jobs go back to the
 * loop thread through a list and an eventfd, so that only the loop thread
 * ever writes the catalog.
 *
 * Sharing: the path set (which paths have a job) and `again` belong to
 * the loop thread alone. The FIFO, the done list and each job's `state`
 * are guarded by `lock`; a worker owns a job's result while the job is
 * RUNNING. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <xxhash.h>

#include "catalog/hash.h"
#include "common/failpoint.h"
#include "common/util.h"
#include "fsd/fsd.h"

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct job {
	struct job *hnext; /* path set chain */
	struct job *qnext; /* FIFO or done list */
	enum job_state state;
	bool again; /* written again while it was being hashed */
	int root_fd;
	struct hash_result res;
	uint64_t hkey;
	size_t len;
	char path[];
};

struct hashq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_cond_t finished; /* a worker finished a job */
	struct job *head, *tail; /* FIFO of JOB_QUEUED */
	struct job *done;        /* LIFO of JOB_DONE, reversed on collect */
	bool stop;
	bool kick; /* jobs were queued since the workers were last woken */
	uint64_t n_queued, n_running, n_done;

	struct job **buckets;
	size_t n_buckets, n_jobs;

	int efd;
	pthread_t *threads;
	unsigned n_threads;
};

int open_beneath(int dirfd, const char *path, int flags)
{
	static int have_openat2 = 1;
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV,
	};

	if (__atomic_load_n(&have_openat2, __ATOMIC_RELAXED)) {
		long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS)
			return negative_errno();
		__atomic_store_n(&have_openat2, 0, __ATOMIC_RELAXED);
	}
	int fd = openat(dirfd, path, flags | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? negative_errno() : fd;
}

static uint64_t path_key(size_t root, const char *path, size_t len)
{
	return XXH3_64bits_withSeed(path, len, root);
}

static void fill_stat(struct stat_lite *s, const struct stat *st)
{
	s->size = st->st_size;
	s->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
	s->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
	s->ino = st->st_ino;
	s->dev = st->st_dev;
	s->mode = st->st_mode;
}

/* Reads one file; everything it learns goes into j->res. Whether the file
 * changed while it was read is not asked here: the loop compares the
 * identity read here with the file's when it records the result, and a
 * file written meanwhile differs (or has its own event queued). */
static void job_hash(struct job *j)
{
	struct hash_result *res = &j->res;
	struct stat before;
	_cleanup_close_ int fd = -1;

	res->error = 0;
	fd = open_beneath(j->root_fd, j->path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		res->error = -fd;
		return;
	}
	if (fstat(fd, &before) < 0) {
		res->error = errno;
		return;
	}
	fill_stat(&res->st, &before);
	if (!S_ISREG(before.st_mode))
		return;
	int r = FAILPOINT("daemon-hash");
	if (r == 0)
		r = hash_fd(fd, &res->hash, &res->bytes);
	if (r < 0)
		res->error = -r;
}

/* Takes up to `max` queued jobs at once: with small files the cost is in
 * handing jobs between threads, so they travel in batches. */
static struct job *take_batch(struct hashq *q, unsigned max)
{
	struct job *first = q->head, *last = q->head;
	unsigned n = 1;
	while (n < max && last->qnext) {
		last = last->qnext;
		n++;
	}
	q->head = last->qnext;
	if (!q->head)
		q->tail = NULL;
	last->qnext = NULL;
	for (struct job *j = first; j; j = j->qnext)
		j->state = JOB_RUNNING;
	q->n_queued -= n;
	q->n_running += n;
	return first;
}

static void *worker_main(void *arg)
{
	struct hashq *q = arg;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->head && !q->stop)
			pthread_cond_wait(&q->cond, &q->lock);
		if (q->stop)
			break;
		/* a fair share, so that every worker gets some of a burst */
		unsigned share = (unsigned)(q->n_queued / q->n_threads) + 1;
		struct job *batch = take_batch(q, MIN(share, 64u));
		pthread_mutex_unlock(&q->lock);

		unsigned n = 1;
		struct job *last = batch;
		job_hash(batch);
		for (struct job *j = batch->qnext; j; j = j->qnext) {
			job_hash(j);
			last = j;
			n++;
		}

		pthread_mutex_lock(&q->lock);
		for (struct job *j = batch; j; j = j->qnext)
			j->state = JOB_DONE;
		/* One wake-up per batch of results: the loop takes the whole
		 * list when it wakes. */
		bool wake = !q->done;
		last->qnext = q->done;
		q->done = batch;
		q->n_running -= n;
		q->n_done += n;
		pthread_cond_broadcast(&q->finished);
		uint64_t one = 1;
		if (wake)
			(void)!write(q->efd, &one, sizeof one);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int hashq_new(unsigned workers, struct hashq **ret)
{
	struct hashq *q = calloc(1, sizeof *q);
	if (!q)
		return -ENOMEM;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	pthread_cond_init(&q->finished, NULL);
	q->n_buckets = 1024;
	q->buckets = calloc(q->n_buckets, sizeof *q->buckets);
	q->threads = calloc(workers, sizeof *q->threads);
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!q->buckets || !q->threads || q->efd < 0) {
		hashq_free(q);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < workers; i++) {
		int r = pthread_create(&q->threads[i], NULL, worker_main, q);
		if (r != 0) {
			hashq_free(q);
			return -r;
		}
		q->n_threads++;
	}
	*ret = q;
	return 0;
}

static void free_chain(struct job *j)
{
	while (j) {
		struct job *n = j->hnext;
		free(j);
		j = n;
	}
}

void hashq_free(struct hashq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	for (unsigned i = 0; i < q->n_threads; i++)
		pthread_join(q->threads[i], NULL);
	for (size_t i = 0; q->buckets && i < q->n_buckets; i++)
		free_chain(q->buckets[i]);
	free(q->buckets);
	free(q->threads);
	if (q->efd >= 0)
		close(q->efd);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	pthread_cond_destroy(&q->finished);
	free(q);
}

int hashq_fd(const struct hashq *q)
{
	return q->efd;
}

static struct job **find_slot(struct hashq *q, size_t root, const char *path, size_t len,
			      uint64_t key)
{
	struct job **p = &q->buckets[key & (q->n_buckets - 1)];
	for (; *p; p = &(*p)->hnext) {
		struct job *j = *p;
		if (j->hkey == key && j->res.root == root && j->len == len &&
		    memcmp(j->path, path, len) == 0)
			break;
	}
	return p;
}

static void grow(struct hashq *q)
{
	size_t n = q->n_buckets * 2;
	struct job **b = calloc(n, sizeof *b);
	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < q->n_buckets; i++) {
		struct job *j = q->buckets[i];
		while (j) {
			struct job *next = j->hnext;
			j->hnext = b[j->hkey & (n - 1)];
			b[j->hkey & (n - 1)] = j;
			j = next;
		}
	}
	free(q->buckets);
	q->buckets = b;
	q->n_buckets = n;
}

/* Workers are woken by hashq_kick(), once per batch of new jobs. */
static void enqueue_locked(struct hashq *q, struct job *j)
{
	j->state = JOB_QUEUED;
	j->qnext = NULL;
	if (q->tail)
		q->tail->qnext = j;
	else
		q->head = j;
	q->tail = j;
	q->n_queued++;
	q->kick = true;
}

void hashq_kick(struct hashq *q)
{
	pthread_mutex_lock(&q->lock);
	if (q->kick) {
		q->kick = false;
		if (q->n_queued > 1)
			pthread_cond_broadcast(&q->cond);
		else
			pthread_cond_signal(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
}

int hashq_add(struct hashq *q, size_t root, int root_fd, const char *path, size_t len)
{
	uint64_t key = path_key(root, path, len);
	struct job **slot = find_slot(q, root, path, len, key);

	if (*slot) {
		pthread_mutex_lock(&q->lock);
		if ((*slot)->state != JOB_QUEUED)
			(*slot)->again = true;
		pthread_mutex_unlock(&q->lock);
		return 0;
	}
	struct job *j = calloc(1, sizeof *j + len + 1);
	if (!j)
		return -ENOMEM;
	memcpy(j->path, path, len);
	j->len = len;
	j->hkey = key;
	j->root_fd = root_fd;
	j->res.root = root;
	j->res.path = j->path;
	j->res.path_len = len;
	*slot = j;
	if (++q->n_jobs > q->n_buckets)
		grow(q);
	pthread_mutex_lock(&q->lock);
	enqueue_locked(q, j);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

bool hashq_contains(struct hashq *q, size_t root, const char *path, size_t len)
{
	return *find_slot(q, root, path, len, path_key(root, path, len)) != NULL;
}

bool hashq_any_under(struct hashq *q, size_t root, const char *dir, size_t len)
{
	if (q->n_jobs == 0)
		return false;
	for (size_t i = 0; i < q->n_buckets; i++)
		for (struct job *j = q->buckets[i]; j; j = j->hnext)
			if (j->res.root == root && j->len > len && j->path[len] == '/' &&
			    memcmp(j->path, dir, len) == 0)
				return true;
	return false;
}

static void forget(struct hashq *q, struct job *j)
{
	struct job **slot = find_slot(q, j->res.root, j->path, j->len, j->hkey);
	if (*slot == j)
		*slot = j->hnext;
	q->n_jobs--;
	free(j);
}

int hashq_collect(struct hashq *q, int (*cb)(struct daemon *d, const struct hash_result *res),
		  struct daemon *d)
{
	uint64_t n;
	(void)!read(q->efd, &n, sizeof n);

	pthread_mutex_lock(&q->lock);
	struct job *list = q->done, *rev = NULL;
	q->done = NULL;
	pthread_mutex_unlock(&q->lock);
	while (list) { /* oldest first */
		struct job *next = list->qnext;
		list->qnext = rev;
		rev = list;
		list = next;
	}

	int r = 0;
	for (struct job *j = rev, *next; j; j = next) {
		next = j->qnext;
		int k = cb(d, &j->res);
		if (k < 0 && r == 0)
			r = k;
		pthread_mutex_lock(&q->lock);
		q->n_done--;
		if (j->again) {
			j->again = false;
			enqueue_locked(q, j);
			j = NULL;
		}
		pthread_mutex_unlock(&q->lock);
		if (j)
			forget(q, j);
	}
	return r;
}

void hashq_drop_all(struct hashq *q)
{
	/* Waits for running jobs so that no result of the old roots comes
	 * back after the roots were replaced. */
	pthread_mutex_lock(&q->lock);
	q->head = q->tail = NULL;
	q->n_queued = 0;
	while (q->n_running > 0)
		pthread_cond_wait(&q->finished, &q->lock);
	q->done = NULL;
	q->n_done = 0;
	pthread_mutex_unlock(&q->lock);
	for (size_t i = 0; i < q->n_buckets; i++) {
		free_chain(q->buckets[i]);
		q->buckets[i] = NULL;
	}
	q->n_jobs = 0;
}

void hashq_depths(struct hashq *q, uint64_t *ret_queued, uint64_t *ret_running,
		  uint64_t *ret_done)
{
	pthread_mutex_lock(&q->lock);
	*ret_queued = q->n_queued;
	*ret_running = q->n_running;
	*ret_done = q->n_done;
	pthread_mutex_unlock(&q->lock);
}
