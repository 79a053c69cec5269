/* burst: makes file-system events as fast as one process can, for the
 * daemon's tests and benchmarks.
 *
 *   burst create DIR N [DIRS [SIZE [RATE]]]
 *       N files spread over DIRS subdirectories d0000... of DIR (made
 *       first), each SIZE bytes (default 64) of content unique to the file;
 *       RATE files per second if given (0: as fast as possible). With
 *       BURST_LOG=FILE, writes "relpath close_ns" (CLOCK_REALTIME) per file.
 *   burst rewrite FILE N
 *       writes FILE N times, each time with different content and size.
 *   burst rename DIR N
 *       renames N files f<i> in DIR (as made by "create" with DIRS=0) to
 *       g<i>, then half of them back to h<i>: a rename storm.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int write_file(const char *path, size_t size, unsigned long seed)
{
	char buf[65536];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	size_t done = 0;
	while (done < size) {
		size_t n = size - done < sizeof buf ? size - done : sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)('a' + (seed * 31 + done + i) % 26);
		int head = snprintf(buf, n, "%lu\n", seed);
		(void)head;
		if (write(fd, buf, n) != (ssize_t)n) {
			int r = -errno;
			close(fd);
			return r;
		}
		done += n;
	}
	if (size == 0 && write(fd, "", 0) < 0) {
		close(fd);
		return -errno;
	}
	return close(fd) < 0 ? -errno : 0;
}

static void pace(int64_t start, unsigned long i, double rate)
{
	if (rate <= 0)
		return;
	int64_t due = start + (int64_t)((double)i * 1e9 / rate);
	int64_t now = clock_ns(CLOCK_MONOTONIC);
	if (due > now) {
		struct timespec ts = {.tv_sec = (due - now) / 1000000000LL,
				      .tv_nsec = (due - now) % 1000000000LL};
		nanosleep(&ts, NULL);
	}
}

static int do_create(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	const char *dir = argv[2];
	unsigned long n = strtoul(argv[3], NULL, 10);
	unsigned long dirs = argc > 4 ? strtoul(argv[4], NULL, 10) : 0;
	size_t size = argc > 5 ? strtoul(argv[5], NULL, 10) : 64;
	double rate = argc > 6 ? strtod(argv[6], NULL) : 0;
	const char *logp = getenv("BURST_LOG");
	FILE *log = logp ? fopen(logp, "we") : NULL;
	char path[4096];

	for (unsigned long d = 0; d < dirs; d++) {
		snprintf(path, sizeof path, "%s/d%04lu", dir, d);
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			perror(path);
			return 1;
		}
	}
	int64_t start = clock_ns(CLOCK_MONOTONIC);
	for (unsigned long i = 0; i < n; i++) {
		pace(start, i, rate);
		int rel;
		if (dirs)
			rel = snprintf(path, sizeof path, "%s/d%04lu/f%lu", dir, i % dirs, i);
		else
			rel = snprintf(path, sizeof path, "%s/f%lu", dir, i);
		(void)rel;
		int r = write_file(path, size + i % 7, i);
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", path, strerror(-r));
			return 1;
		}
		if (log)
			fprintf(log, "%s %lld\n", path + strlen(dir) + 1,
				(long long)clock_ns(CLOCK_REALTIME));
	}
	if (log)
		fclose(log);
	return 0;
}

static int do_rewrite(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	unsigned long n = strtoul(argv[3], NULL, 10);
	for (unsigned long i = 0; i < n; i++) {
		int r = write_file(argv[2], 4096 + (i * 977) % 200000, i + 7);
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", argv[2], strerror(-r));
			return 1;
		}
	}
	return 0;
}

static int do_rename(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	unsigned long n = strtoul(argv[3], NULL, 10);
	char a[4096], b[4096];
	for (unsigned long i = 0; i < n; i++) {
		snprintf(a, sizeof a, "%s/f%lu", argv[2], i);
		snprintf(b, sizeof b, "%s/g%lu", argv[2], i);
		if (rename(a, b) < 0) {
			perror(a);
			return 1;
		}
	}
	for (unsigned long i = 0; i < n; i += 2) {
		snprintf(a, sizeof a, "%s/g%lu", argv[2], i);
		snprintf(b, sizeof b, "%s/h%lu", argv[2], i);
		if (rename(a, b) < 0) {
			perror(a);
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	int r = 2;
	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		r = do_create(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "rewrite") == 0)
		r = do_rewrite(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "rename") == 0)
		r = do_rename(argc, argv);
	if (r == 2)
		fprintf(stderr, "usage: burst create DIR N [DIRS [SIZE [RATE]]]\n"
				"       burst rewrite FILE N\n"
				"       burst rename DIR N\n");
	return r;
}
