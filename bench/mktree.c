/* mktree: writes the benchmark tree, fast and the same every time. At
 * scale 1 it is 200,000 small files (0-16 KiB) spread over 2,000
 * directories plus 2,000 files of 1-8 MiB, one in twenty of them an exact
 * copy of an earlier file (so duplicate finders have work to do). Every
 * file's size and content follow from the seed and its index alone, so
 * two runs with the same parameters give byte-identical trees, and a
 * duplicate is simply a file that borrows an earlier index's recipe.
 * Directories are shared out over worker threads; content comes from
 * splitmix64, which fills a buffer far faster than the disk takes it.
 *
 * usage: mktree [-s SCALE] [-S SEED] [-j THREADS] [-n] DIR
 *   -n  print the counts and bytes the tree would have, write nothing */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/util.h"

#define SMALL_FILES 200000
#define DIRS 2000
#define BIG_FILES 2000
#define SMALL_MAX (16 * 1024)
#define BIG_MIN (1024 * 1024)
#define BIG_MAX (8 * 1024 * 1024)
#define DUP_PERCENT 5
#define CHUNK (1024 * 1024)

struct tree {
	int dfd;
	uint64_t seed;
	unsigned dirs, small, big, threads;
};

/* What one file holds: content stream `content` cut at `size` bytes. */
struct recipe {
	uint64_t size;
	uint64_t content;
	bool dup;
};

struct worker {
	const struct tree *t;
	unsigned first; /* this worker does directories first, first+threads, ... */
	uint64_t files, bytes;
	int error;
	pthread_t thread;
};

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t mix(uint64_t seed, uint64_t kind, uint64_t i)
{
	uint64_t s = seed ^ (kind << 56) ^ (i * 0xd1b54a32d192ed03ULL);
	return splitmix64(&s);
}

/* kind 1 = small files, 2 = big files. A duplicate takes the recipe of a
 * random earlier file of its kind, which may itself be a duplicate. */
static struct recipe recipe_of(const struct tree *t, uint64_t kind, uint64_t i)
{
	uint64_t r = mix(t->seed, kind, i);

	if (i > 0 && (r >> 32) % 100 < DUP_PERCENT) {
		struct recipe rc = recipe_of(t, kind, (r & 0xffffffffULL) % i);
		rc.dup = true;
		return rc;
	}
	uint64_t size = kind == 1 ? (r >> 8) % (SMALL_MAX + 1)
				  : BIG_MIN + (r >> 8) % (BIG_MAX - BIG_MIN + 1);
	return (struct recipe){.size = size, .content = mix(t->seed, kind + 16, i)};
}

static int write_file(int dfd, const char *name, const struct recipe *rc, uint64_t *buf)
{
	_cleanup_close_ int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return negative_errno();
	uint64_t state = rc->content;
	for (uint64_t left = rc->size; left > 0;) {
		size_t n = MIN(left, (uint64_t)CHUNK);
		for (size_t w = 0; w < (n + 7) / 8; w++)
			buf[w] = splitmix64(&state);
		int r = loop_write(fd, buf, n);
		if (r < 0)
			return r;
		left -= n;
	}
	return 0;
}

static int make_dir(struct worker *w, unsigned d, uint64_t *buf)
{
	const struct tree *t = w->t;
	char name[32];
	int r;

	snprintf(name, sizeof(name), "d%04u", d);
	if (mkdirat(t->dfd, name, 0755) < 0 && errno != EEXIST)
		return negative_errno();
	_cleanup_close_ int dfd = openat(t->dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return negative_errno();
	for (uint64_t i = d; i < t->small; i += t->dirs) {
		struct recipe rc = recipe_of(t, 1, i);
		snprintf(name, sizeof(name), "f%06" PRIu64 ".dat", i);
		r = write_file(dfd, name, &rc, buf);
		if (r < 0)
			return r;
		w->files++;
		w->bytes += rc.size;
	}
	for (uint64_t i = d; i < t->big; i += t->dirs) {
		struct recipe rc = recipe_of(t, 2, i);
		snprintf(name, sizeof(name), "big%05" PRIu64 ".bin", i);
		r = write_file(dfd, name, &rc, buf);
		if (r < 0)
			return r;
		w->files++;
		w->bytes += rc.size;
	}
	return 0;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	_cleanup_free_ uint64_t *buf = malloc(CHUNK);

	if (!buf) {
		w->error = -ENOMEM;
		return NULL;
	}
	for (unsigned d = w->first; d < w->t->dirs && w->error == 0; d += w->t->threads)
		w->error = make_dir(w, d, buf);
	return NULL;
}

static void print_plan(const struct tree *t)
{
	uint64_t bytes = 0, dups = 0, dup_bytes = 0;

	for (uint64_t kind = 1; kind <= 2; kind++) {
		uint64_t n = kind == 1 ? t->small : t->big;
		for (uint64_t i = 0; i < n; i++) {
			struct recipe rc = recipe_of(t, kind, i);
			bytes += rc.size;
			dups += rc.dup;
			dup_bytes += rc.dup ? rc.size : 0;
		}
	}
	printf("dirs=%u small=%u big=%u files=%u bytes=%" PRIu64 " dups=%" PRIu64
	       " dup_bytes=%" PRIu64 "\n",
	       t->dirs, t->small, t->big, t->small + t->big, bytes, dups, dup_bytes);
}

static int run_workers(const struct tree *t)
{
	struct worker w[64] = {0};
	uint64_t files = 0, bytes = 0;
	int r = 0;

	for (unsigned k = 0; k < t->threads; k++) {
		w[k] = (struct worker){.t = t, .first = k};
		int e = pthread_create(&w[k].thread, NULL, worker_run, &w[k]);
		if (e != 0)
			return log_error_errno(-e, "Failed to start a writer thread: %m");
	}
	for (unsigned k = 0; k < t->threads; k++) {
		pthread_join(w[k].thread, NULL);
		files += w[k].files;
		bytes += w[k].bytes;
		if (w[k].error < 0 && r == 0)
			r = w[k].error;
	}
	if (r < 0)
		return log_error_errno(r, "Failed to write the tree: %m");
	fprintf(stderr, "mktree: wrote %" PRIu64 " files, %" PRIu64 " bytes\n", files, bytes);
	return 0;
}

static unsigned scaled(unsigned n, double scale)
{
	double v = round(n * scale);
	return v < 1 ? 1 : (unsigned)v;
}

int main(int argc, char **argv)
{
	struct tree t = {.seed = 1, .threads = 2};
	double scale = 1.0;
	bool dry = false;
	int c;

	log_set_ident("mktree");
	while ((c = getopt(argc, argv, "s:S:j:n")) >= 0) {
		switch (c) {
		case 's':
			scale = strtod(optarg, NULL);
			break;
		case 'S':
			t.seed = strtoull(optarg, NULL, 0);
			break;
		case 'j':
			t.threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			dry = true;
			break;
		default:
			fprintf(stderr, "usage: mktree [-s SCALE] [-S SEED] [-j THREADS] [-n] DIR\n");
			return 2;
		}
	}
	if (!(scale > 0 && scale <= 100) || t.threads < 1 || t.threads > 64 ||
	    (!dry && optind != argc - 1)) {
		fprintf(stderr, "usage: mktree [-s SCALE (0-100]] [-S SEED] [-j 1-64] [-n] DIR\n");
		return 2;
	}
	t.small = scaled(SMALL_FILES, scale);
	t.dirs = scaled(DIRS, scale);
	t.big = scaled(BIG_FILES, scale);
	if (dry) {
		print_plan(&t);
		return 0;
	}
	if (mkdir(argv[optind], 0755) < 0 && errno != EEXIST)
		return log_error_errno(negative_errno(), "Failed to create '%s': %m", argv[optind]), 1;
	t.dfd = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t.dfd < 0)
		return log_error_errno(negative_errno(), "Failed to open '%s': %m", argv[optind]), 1;
	int r = run_workers(&t);
	close(t.dfd);
	return r < 0 ? 1 : 0;
}
