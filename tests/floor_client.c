/* floor_client ADDR:PORT N C: the least a banner client can do, the
 * reference against which make bench measures smtpprobe's own speed.
 * One thread, epoll, nonblocking, closed loop: keep C connections in
 * flight, N in total; each connects, reads the 220 line, sends QUIT,
 * reads until the server closes, and closes. No timing per connection,
 * no histogram: only the count and the elapsed time, printed as
 *   floor_client: sessions=N ok=N errors=N elapsed_us=N rate=R
 * The run stops after 120 s whatever is left (a bound, not a measure).
 * Plain C on purpose, like floor_server: no libevent, no common/. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_US (120ull * 1000000)

enum { FREE, GREETING, QUITTING };

struct conn {
	int fd;
	int state;
	size_t have;		/* bytes of the greeting so far */
};

static struct sockaddr_in target;
static struct conn *conns;
static unsigned long started, ok, errors;
static int ep;

static unsigned long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000 + (unsigned long long)ts.tv_nsec / 1000;
}

static void
conn_end(struct conn *c, int good)
{
	close(c->fd);	/* also takes it out of the epoll set */
	c->fd = -1;
	c->state = FREE;
	if (good)
		ok++;
	else
		errors++;
}

/* Starts one connection in slot i; a failure counts as an error at once. */
static void
conn_start(unsigned i)
{
	struct conn *c = &conns[i];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	started++;
	if (fd < 0) {
		errors++;
		return;
	}
	if (connect(fd, (struct sockaddr *)&target, sizeof target) != 0 && errno != EINPROGRESS) {
		close(fd);
		errors++;
		return;
	}
	/* connect completion needs no event of its own: the greeting (or an
	 * error, which epoll always reports) is what wakes the slot */
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
		close(fd);
		errors++;
		return;
	}
	c->fd = fd;
	c->state = GREETING;
	c->have = 0;
}

/* The greeting: wait for its first line's LF, then QUIT. Afterwards read
 * (the 221) until the server closes. */
static void
conn_readable(struct conn *c)
{
	char buf[512];
	ssize_t n = recv(c->fd, buf, sizeof buf, 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_end(c, n == 0 && c->state == QUITTING);
		return;
	}
	if (c->state == GREETING) {
		if (c->have == 0 && buf[0] != '2') {
			conn_end(c, 0);
			return;
		}
		c->have += (size_t)n;
		if (memchr(buf, '\n', (size_t)n) == NULL)
			return;
		if (send(c->fd, "QUIT\r\n", 6, MSG_NOSIGNAL) != 6) {
			conn_end(c, 0);
			return;
		}
		c->state = QUITTING;
	}
}

static int
parse_target(const char *arg)
{
	char host[64];
	const char *colon = strrchr(arg, ':');

	if (colon == NULL || (size_t)(colon - arg) >= sizeof host)
		return -1;
	memcpy(host, arg, (size_t)(colon - arg));
	host[colon - arg] = '\0';
	target.sin_family = AF_INET;
	target.sin_port = htons((unsigned short)atoi(colon + 1));
	return inet_pton(AF_INET, host, &target.sin_addr) == 1 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[256];
	struct rlimit rl;

	if (argc != 4 || parse_target(argv[1]) != 0) {
		fprintf(stderr, "usage: floor_client ADDR:PORT N C   (numeric IPv4)\n");
		return 2;
	}
	unsigned long n = strtoul(argv[2], NULL, 10);
	unsigned c = (unsigned)strtoul(argv[3], NULL, 10);
	if (n == 0 || c == 0) {
		fprintf(stderr, "floor_client: N and C must be positive\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((conns = calloc(c, sizeof *conns)) == NULL || (ep = epoll_create1(0)) < 0) {
		perror("floor_client");
		return 1;
	}
	unsigned long long t0 = now_us();
	for (unsigned i = 0; i < c && started < n; i++)
		conn_start(i);
	while (ok + errors < n && now_us() - t0 < DEADLINE_US) {
		int k = epoll_wait(ep, evs, 256, 1000);
		for (int j = 0; j < k; j++) {
			struct conn *cn = &conns[evs[j].data.u32];
			if (cn->state == FREE)
				continue;
			conn_readable(cn);
			/* a slot that ended (or failed to start) starts the next */
			while (cn->state == FREE && started < n)
				conn_start(evs[j].data.u32);
		}
	}
	unsigned long long el = now_us() - t0;
	printf("floor_client: sessions=%lu ok=%lu errors=%lu elapsed_us=%llu rate=%.1f\n",
	       ok + errors, ok, errors, el, el ? (double)ok * 1e6 / (double)el : 0.0);
	return ok + errors < n ? 1 : 0;
}
