/* daemon-latency: how long after a file's close() its hashed row is in
 * fsd's catalog, under a steady creation rate.
 *
 *   daemon-latency CATALOG DIR N RATE   creates DIR/lat-<i> (1 KiB each) at
 *       RATE files/s while a second thread polls CATALOG (read-only, every
 *       millisecond) for new hashed rows; prints "p50_ms p99_ms max_ms
 *       missing" for the N files.
 *   daemon-latency --create DIR N       creates N files of 1 KiB in DIR as
 *       fast as it can (for the CPU figure).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int make_file(const char *dir, unsigned long i)
{
	char path[4096], buf[1024];
	snprintf(path, sizeof path, "%s/lat-%lu", dir, i);
	memset(buf, 'a' + (int)(i % 26), sizeof buf);
	snprintf(buf, sizeof buf, "%lu", i);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) {
		perror(path);
		return -1;
	}
	return close(fd);
}

struct poll_ctx {
	const char *catalog;
	unsigned long n;
	int64_t *seen;
	atomic_ulong found;
	atomic_int stop;
};

static void *poller(void *arg)
{
	struct poll_ctx *p = arg;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t last = 0;

	if (sqlite3_open_v2(p->catalog, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT id, path FROM files WHERE id > ?1 AND hash IS NOT NULL",
			       -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", p->catalog, db ? sqlite3_errmsg(db) : "?");
		atomic_store(&p->stop, 2);
		return NULL;
	}
	sqlite3_busy_timeout(db, 1000);
	while (!atomic_load(&p->stop) && atomic_load(&p->found) < p->n) {
		sqlite3_bind_int64(st, 1, last);
		while (sqlite3_step(st) == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(st, 0);
			const char *path = (const char *)sqlite3_column_blob(st, 1);
			int len = sqlite3_column_bytes(st, 1);
			last = id > last ? id : last;
			const char *base = memrchr(path, '/', (size_t)len);
			base = base ? base + 1 : path;
			char name[64];
			size_t bl = (size_t)(path + len - base);
			if (bl >= sizeof name || strncmp(base, "lat-", 4) != 0)
				continue;
			memcpy(name, base, bl);
			name[bl] = 0;
			unsigned long i = strtoul(name + 4, NULL, 10);
			if (i < p->n && p->seen[i] == 0) {
				p->seen[i] = clock_ns(CLOCK_REALTIME);
				atomic_fetch_add(&p->found, 1);
			}
		}
		sqlite3_reset(st);
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return NULL;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int latency(const char *catalog, const char *dir, unsigned long n, double rate)
{
	struct poll_ctx p = {.catalog = catalog, .n = n};
	int64_t *closed = calloc(n, sizeof *closed);
	p.seen = calloc(n, sizeof *p.seen);
	pthread_t t;
	if (!closed || !p.seen || pthread_create(&t, NULL, poller, &p) != 0)
		return 1;
	int64_t start = clock_ns(CLOCK_MONOTONIC);
	for (unsigned long i = 0; i < n; i++) {
		int64_t due = start + (int64_t)((double)i * 1e9 / rate);
		int64_t now = clock_ns(CLOCK_MONOTONIC);
		if (due > now) {
			struct timespec ts = {(due - now) / 1000000000LL, (due - now) % 1000000000LL};
			nanosleep(&ts, NULL);
		}
		if (make_file(dir, i) < 0)
			return 1;
		closed[i] = clock_ns(CLOCK_REALTIME);
	}
	int64_t deadline = clock_ns(CLOCK_MONOTONIC) + 60 * 1000000000LL;
	while (atomic_load(&p.found) < n && !atomic_load(&p.stop) &&
	       clock_ns(CLOCK_MONOTONIC) < deadline)
		usleep(10000);
	atomic_store(&p.stop, 1);
	pthread_join(t, NULL);

	unsigned long m = 0, missing = 0;
	for (unsigned long i = 0; i < n; i++) {
		if (p.seen[i])
			closed[m++] = p.seen[i] - closed[i];
		else
			missing++;
	}
	qsort(closed, m, sizeof *closed, cmp64);
	if (m == 0) {
		printf("- - - %lu\n", missing);
		return 1;
	}
	printf("%.1f %.1f %.1f %lu\n", (double)closed[m / 2] / 1e6,
	       (double)closed[(m * 99) / 100] / 1e6, (double)closed[m - 1] / 1e6, missing);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--create") == 0) {
		unsigned long n = strtoul(argv[3], NULL, 10);
		for (unsigned long i = 0; i < n; i++)
			if (make_file(argv[2], i) < 0)
				return 1;
		return 0;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: daemon-latency CATALOG DIR N RATE\n"
				"       daemon-latency --create DIR N\n");
		return 2;
	}
	return latency(argv[1], argv[2], strtoul(argv[3], NULL, 10), strtod(argv[4], NULL));
}
