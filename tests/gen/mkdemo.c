/* fsd-mkdemo: builds an Open WebUI data directory for the demo, the tests
 * and the benchmarks, from the real schemas in tests/fixtures, with a known
 * mix of live files and leftovers, and writes the audit findings it
 * expects (--manifest) so that tests compare fsdctl's report against
 * what was actually planted. The same --seed and --now give the same
 * directory, byte for byte in every file but the SQLite databases, whose
 * contents (not pages) are the same.
 *
 * Manifest: one line per expected finding, "CATEGORY\tROOT\tITEM", sorted
 * bytewise. CATEGORY is the audit's JSON "category"; ROOT is the upload
 * root's name, or the vector store's name for vector-*; ITEM is the path
 * relative to the root (orphan, pending, duplicate: every copy, changed),
 * the file row's id (dangling, unreferenced), the collection name
 * (vector-collection), the directory name (vector-dir) or the missing
 * segment id (vector-rows). Names are escaped as fsdctl prints them:
 * printable UTF-8 as is, control bytes and invalid UTF-8 as \xNN and a
 * backslash as "\\". The "changed" line holds once the tree was scanned
 * and then damaged with --bit-rot. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <sys/stat.h>
#include <time.h>

#include "common/util.h"
#include "tests/gen/gen.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fsd-mkdemo DIR [OPTIONS]\n"
		"       fsd-mkdemo DIR --bit-rot\n\n"
		"Creates an Open WebUI data directory (webui.db, uploads/, vector_db/, cache/)\n"
		"with live files, orphans, dangling and unreferenced rows, duplicates and\n"
		"stale vectors.\n\n"
		"  --seed N           random seed (default 1)\n"
		"  --now EPOCH        the clock every age is relative to (default: now)\n"
		"  --scale N          N more uploads with N rows, referenced (bench size)\n"
		"  --files N          uploads beyond the crafted mix (extra ones are orphans)\n"
		"  --rows N           file rows beyond the crafted mix (extra ones dangle)\n"
		"  --manifest FILE    write the expected audit findings (TSV, sorted)\n"
		"  --fixtures DIR     real schemas (default $FSD_FIXTURES or tests/fixtures)\n"
		"  --app-prefix PATH  DATA_DIR as the app sees it (default /app/backend/data)\n"
		"  --upload-root NAME root name in the manifest (default uploads)\n"
		"  --vector-root NAME vector store name in the manifest (default chroma)\n"
		"  --force            replace DIR if it holds an earlier demo (a webui.db)\n"
		"  --bit-rot          damage one live upload, keeping size and mtime\n"
		"       fsd-mkdemo --escape < BYTES\n"
		"Prints stdin escaped as manifest items are (tests compare reports with it).\n");
}

enum {
	OPT_SEED = 0x100,
	OPT_NOW,
	OPT_SCALE,
	OPT_FILES,
	OPT_ROWS,
	OPT_MANIFEST,
	OPT_FIXTURES,
	OPT_APP_PREFIX,
	OPT_UPLOAD_ROOT,
	OPT_VECTOR_ROOT,
	OPT_FORCE,
	OPT_BIT_ROT,
	OPT_ESCAPE,
};

struct opts {
	const char *manifest;
	bool force, bit_rot, escape;
};

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct gen *g, struct opts *o)
{
	static const struct option longopts[] = {
		{"seed", required_argument, NULL, OPT_SEED},
		{"now", required_argument, NULL, OPT_NOW},
		{"scale", required_argument, NULL, OPT_SCALE},
		{"files", required_argument, NULL, OPT_FILES},
		{"rows", required_argument, NULL, OPT_ROWS},
		{"manifest", required_argument, NULL, OPT_MANIFEST},
		{"fixtures", required_argument, NULL, OPT_FIXTURES},
		{"app-prefix", required_argument, NULL, OPT_APP_PREFIX},
		{"upload-root", required_argument, NULL, OPT_UPLOAD_ROOT},
		{"vector-root", required_argument, NULL, OPT_VECTOR_ROOT},
		{"force", no_argument, NULL, OPT_FORCE},
		{"bit-rot", no_argument, NULL, OPT_BIT_ROT},
		{"escape", no_argument, NULL, OPT_ESCAPE},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) >= 0) {
		int r = 0;
		switch (c) {
		case OPT_SEED: r = parse_u64(optarg, &g->seed); break;
		case OPT_NOW:
			r = parse_u64(optarg, &v);
			g->now = (int64_t)v;
			break;
		case OPT_SCALE:
			r = parse_u64(optarg, &v);
			g->bulk_files = g->bulk_rows = v;
			break;
		case OPT_FILES: r = parse_u64(optarg, &g->bulk_files); break;
		case OPT_ROWS: r = parse_u64(optarg, &g->bulk_rows); break;
		case OPT_MANIFEST: o->manifest = optarg; break;
		case OPT_FIXTURES: g->fixtures = optarg; break;
		case OPT_APP_PREFIX: g->app_prefix = optarg; break;
		case OPT_UPLOAD_ROOT: g->upload_root = optarg; break;
		case OPT_VECTOR_ROOT: g->vector_root = optarg; break;
		case OPT_FORCE: o->force = true; break;
		case OPT_BIT_ROT: o->bit_rot = true; break;
		case OPT_ESCAPE: o->escape = true; return 0;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
		if (r < 0) {
			fprintf(stderr, "fsd-mkdemo: bad number for --%s: '%s'\n",
				longopts[c - OPT_SEED].name, optarg);
			return r;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return -EINVAL;
	}
	g->dir = argv[optind];
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

/* An existing directory is only ever replaced when it holds an earlier
 * demo: a typo in DIR must not wipe someone's files. */
static int prepare_dir(const char *dir, bool force)
{
	struct stat st;
	_cleanup_free_ char *db = NULL;

	if (mkdir(dir, 0755) >= 0)
		return 0;
	if (errno != EEXIST)
		return negative_errno();
	if (asprintf(&db, "%s/webui.db", dir) < 0)
		return -ENOMEM;
	if (rmdir(dir) >= 0)
		return mkdir(dir, 0755) < 0 ? negative_errno() : 0;
	if (!force || lstat(db, &st) < 0) {
		fprintf(stderr, "fsd-mkdemo: %s exists and is not empty%s\n", dir,
			force ? " and holds no webui.db: refusing to replace it" : " (use --force)");
		return -EEXIST;
	}
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		return negative_errno();
	return mkdir(dir, 0755) < 0 ? negative_errno() : 0;
}

static int find_rot_target(int dfd, char name[256])
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	size_t sl = strlen(GEN_BIT_ROT_SUFFIX);
	int r = -ENOENT;

	if (!d)
		return negative_errno();
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > sl && streq(de->d_name + l - sl, GEN_BIT_ROT_SUFFIX)) {
			snprintf(name, 256, "%s", de->d_name);
			r = 0;
			break;
		}
	}
	closedir(d);
	return r;
}

/* Flips one byte in the middle of the handbook and puts its mtime back:
 * what a failing disk does. Only a content hash can tell. */
int gen_bit_rot(const char *dir)
{
	_cleanup_free_ char *up = NULL;
	_cleanup_close_ int fd = -1;
	char name[256];
	struct stat st;
	uint8_t b;
	int dfd, r;

	if (asprintf(&up, "%s/uploads", dir) < 0)
		return -ENOMEM;
	dfd = open(up, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return negative_errno();
	r = find_rot_target(dup(dfd), name);
	if (r >= 0) {
		fd = openat(dfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		r = fd < 0 ? negative_errno() : 0;
	}
	close(dfd);
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0 || st.st_size < 2 || pread(fd, &b, 1, st.st_size / 2) != 1)
		return -EIO;
	b ^= 0x10;
	if (pwrite(fd, &b, 1, st.st_size / 2) != 1)
		return negative_errno();
	struct timespec ts[2] = {st.st_atim, st.st_mtim};
	return futimens(fd, ts) < 0 ? negative_errno() : 0;
}

static int escape_stdin(void)
{
	_cleanup_free_ char *buf = NULL, *esc = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;

	do {
		if (len == cap) {
			char *b = realloc(buf, cap = cap ? cap * 2 : 4096);
			if (!b)
				return -ENOMEM;
			buf = b;
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno != EINTR)
			return negative_errno();
		len += n > 0 ? (size_t)n : 0;
	} while (n != 0);
	esc = gen_escape(buf, len);
	if (!esc)
		return -ENOMEM;
	printf("%s\n", esc);
	return fflush(stdout) == 0 ? 0 : negative_errno();
}

static int generate(struct gen *g, const struct opts *o)
{
	int r = prepare_dir(g->dir, o->force);

	if (r < 0)
		return r;
	g->dirfd = open(g->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g->dirfd < 0)
		return negative_errno();
	rng_seed(&g->rng, g->seed);
	r = gen_webui(g);
	if (r >= 0)
		r = gen_cache(g);
	if (r >= 0 && o->manifest)
		r = manifest_write(g, o->manifest);
	return r;
}

int main(int argc, char **argv)
{
	struct gen g = {
		.seed = 1,
		.now = time(NULL),
		.app_prefix = "/app/backend/data",
		.upload_root = "uploads",
		.vector_root = "chroma",
		.dirfd = -1,
	};
	struct opts o = {0};
	int r;

	g.fixtures = getenv("FSD_FIXTURES") ?: "tests/fixtures";
	if (parse_args(argc, argv, &g, &o) < 0)
		return 2;
	if (o.escape)
		return escape_stdin() < 0 ? 1 : 0;
	r = o.bit_rot ? gen_bit_rot(g.dir) : generate(&g, &o);
	if (g.dirfd >= 0)
		close(g.dirfd);
	manifest_done(&g.manifest);
	if (r < 0) {
		fprintf(stderr, "fsd-mkdemo: %s: %s\n", g.dir, strerror(-r));
		return 1;
	}
	return 0;
}
