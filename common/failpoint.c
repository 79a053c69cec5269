/* Failpoints (common/failpoint.h): FSD_FAILPOINTS is parsed once, before
 * main(), into a small fixed table; each hit of a configured name counts
 * atomically, so that "@N" means the N-th hit across all threads. A pause
 * hands control to the test through two FIFOs and blocks until it answers;
 * pauses are serialised so that two threads never interleave on them. */
#include "common/failpoint.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "common/util.h"

#define FAILPOINTS_MAX 16

enum fp_action {
	FP_ERROR,
	FP_KILL,
	FP_PAUSE,
};

struct fp {
	char name[64];
	enum fp_action action;
	int error;
	unsigned long nth; /* 0: every hit */
	atomic_ulong hits;
};

int failpoint_enabled;
static struct fp table[FAILPOINTS_MAX];
static size_t n_table;
static pthread_mutex_t pause_lock = PTHREAD_MUTEX_INITIALIZER;

static int errno_from_name(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s && !*end && v > 0)
		return (int)v;
	for (int e = 1; e < 200; e++) {
		const char *n = strerrorname_np(e);
		if (n && streq(n, s))
			return e;
	}
	return EIO;
}

/* One "name=ACTION[@N]" item; malformed items are ignored. */
static void parse_item(char *item)
{
	char *eq = strchr(item, '='), *at;
	struct fp *f;

	if (!eq || n_table >= FAILPOINTS_MAX || (size_t)(eq - item) >= sizeof(f->name))
		return;
	f = &table[n_table];
	*eq = '\0';
	snprintf(f->name, sizeof(f->name), "%s", item);
	at = strchr(eq + 1, '@');
	if (at) {
		*at = '\0';
		f->nth = strtoul(at + 1, NULL, 10);
	}
	const char *action = eq + 1, *arg;
	if ((arg = startswith(action, "error:"))) {
		f->action = FP_ERROR;
		f->error = errno_from_name(arg);
	} else if (streq(action, "error")) {
		f->action = FP_ERROR;
		f->error = EIO;
	} else if (streq(action, "kill"))
		f->action = FP_KILL;
	else if (streq(action, "pause"))
		f->action = FP_PAUSE;
	else
		return;
	n_table++;
}

__attribute__((constructor)) static void failpoint_init(void)
{
	const char *env = getenv("FSD_FAILPOINTS");
	_cleanup_free_ char *copy = NULL;
	char *save = NULL;

	if (isempty(env))
		return;
	copy = strdup(env);
	if (!copy)
		return;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save))
		parse_item(item);
	failpoint_enabled = n_table > 0;
}

/* Tells the test we are here and waits for its answer line. */
static int do_pause(const char *name)
{
	const char *fifo = getenv("FSD_FAILPOINT_FIFO");
	char reply[4096], line[128];

	if (isempty(fifo))
		return 0;
	snprintf(reply, sizeof(reply), "%s.reply", fifo);
	snprintf(line, sizeof(line), "%s\n", name);
	pthread_mutex_lock(&pause_lock);
	/* A test that is not listening leaves nothing to wait for. */
	_cleanup_close_ int w = open(fifo, O_WRONLY | O_CLOEXEC);
	if (w >= 0 && loop_write(w, line, strlen(line)) == 0) {
		_cleanup_close_ int rd = open(reply, O_RDONLY | O_CLOEXEC);
		char c;
		while (rd >= 0 && read(rd, &c, 1) == 1 && c != '\n')
			;
	}
	pthread_mutex_unlock(&pause_lock);
	return 0;
}

int failpoint(const char *name)
{
	for (size_t i = 0; i < n_table; i++) {
		struct fp *f = &table[i];
		if (!streq(f->name, name))
			continue;
		unsigned long hit = atomic_fetch_add(&f->hits, 1) + 1;
		if (f->nth && hit != f->nth)
			return 0;
		switch (f->action) {
		case FP_KILL:
			raise(SIGKILL);
			return -EINTR;
		case FP_PAUSE:
			return do_pause(name);
		default:
			return -f->error;
		}
	}
	return 0;
}
