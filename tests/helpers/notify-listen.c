/* notify-listen: stands in for systemd's notification socket in tests.
 *
 *   notify-listen SOCKET OUT
 *       binds a Unix datagram socket at SOCKET and appends every message
 *       a service sends (READY=1, STATUS=..., WATCHDOG=1, ...) to OUT, one
 *       assignment per line, until killed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[4096];

	if (argc != 3 || strlen(argv[1]) >= sizeof sa.sun_path) {
		fprintf(stderr, "usage: notify-listen SOCKET OUT\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror(argv[1]);
		return 1;
	}
	FILE *out = fopen(argv[2], "ae");
	if (!out) {
		perror(argv[2]);
		return 1;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 1;
		buf[n] = 0;
		fprintf(out, "%s%s", buf, n > 0 && buf[n - 1] == '\n' ? "" : "\n");
		fflush(out);
	}
}
