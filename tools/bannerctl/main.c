/* bannerctl: one request to a control socket (bannerd's, slowdns's or
 * slowrelay's; common/control.h), its answer printed.
 *
 *   bannerctl -s /run/bannerd.ctl set log.protocol_log=none
 *
 * Plain sockets and no libevent (inih reads -c's file, as bannerd
 * does): one connect, one line out, the reply in, under one deadline
 * for the whole exchange. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>

#include "control.h"

#define DEFAULT_TIMEOUT_MS 10000
#define REPLY_MAX (1 << 20)	/* a show of every key is a few kB */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: bannerctl [-s socket | -c bannerd.conf] [-t seconds] command [args...]\n"
	    "  show [section.key...]          every key (or those) with its value and origin\n"
	    "  set section.key=value ...      change keys at runtime, checked as the file is\n"
	    "  unset section.key ...          back to the file's value (drops -o too)\n"
	    "  reload                         re-read the file, keeping runtime sets\n"
	    "  stats                          the SIGUSR1 figures\n"
	    "  -s socket   the control socket (bannerd, slowdns or slowrelay)\n"
	    "  -c file     read server.control_socket from bannerd's configuration\n"
	    "  -t seconds  deadline for the whole exchange (default 10)\n");
}

struct conf_socket {
	char *path;
	size_t len;
	int found;
};

static int
conf_socket_cb(void *user, const char *section, const char *name, const char *value)
{
	struct conf_socket *cs = user;

	if (strcmp(section, "server") == 0 && strcmp(name, "control_socket") == 0) {
		snprintf(cs->path, cs->len, "%s", value);
		cs->found = 1;	/* the last one wins, as in bannerd */
	}
	return 1;	/* the rest of the file is bannerd's to judge */
}

/* server.control_socket from bannerd's configuration file, read with
 * the INI reader bannerd itself uses. Returns 0 with path set, or -1
 * after saying why. */
static int
socket_from_conf(const char *file, char *path, size_t len)
{
	struct conf_socket cs = { path, len, 0 };

	if (ini_parse(file, conf_socket_cb, &cs) == -1) {
		fprintf(stderr, "bannerctl: %s: %s\n", file, strerror(errno));
		return -1;
	}
	if (!cs.found || path[0] == '\0') {
		fprintf(stderr, "bannerctl: %s sets no server.control_socket; pass -s PATH\n", file);
		return -1;
	}
	return 0;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for events before the deadline. */
static int
wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int rc;

	do {
		long long left = deadline - now_ms();

		if (left <= 0)
			return 0;
		rc = poll(&p, 1, (int)left);
	} while (rc < 0 && errno == EINTR);
	return rc > 0;
}

static int
connect_to(const char *path, long long deadline)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		fprintf(stderr, "bannerctl: %s: path longer than %zu bytes\n", path,
		    sizeof sun.sun_path - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		fprintf(stderr, "bannerctl: cannot connect to %s: %s (is bannerd running with "
		    "server.control_socket = %s?)\n", path, strerror(errno), path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	(void)deadline;	/* a UNIX socket connects at once or fails */
	return fd;
}

static int
send_all(int fd, const char *buf, size_t len, long long deadline)
{
	while (len > 0) {
		ssize_t n;

		if (!wait_fd(fd, POLLOUT, deadline))
			return -1;
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Prints the body lines and reports the last line: 0 for OK, 1 for ERR
 * or a reply that ends without either. */
static int
print_reply(char *reply, size_t len)
{
	char *last, *p;

	while (len > 0 && reply[len - 1] == '\n')
		reply[--len] = '\0';
	last = strrchr(reply, '\n');
	last = last != NULL ? last + 1 : reply;
	if ((p = strchr(last, '\r')) != NULL)
		*p = '\0';
	if (strcmp(last, "OK") != 0 && strncmp(last, "ERR", 3) != 0) {
		fwrite(reply, 1, len, stdout);
		fprintf(stderr, "bannerctl: the reply ended without OK or ERR\n");
		return 1;
	}
	fwrite(reply, 1, (size_t)(last - reply), stdout);
	if (strcmp(last, "OK") == 0)
		return 0;
	last += 3;
	while (*last == ' ')
		last++;
	fprintf(stderr, "bannerctl: %s\n", *last ? last : "failed");
	return 1;
}

int
main(int argc, char **argv)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1] = "", line[CONTROL_LINE_MAX + 2];
	const char *conf = NULL, *sock = NULL;
	long long timeout_ms = DEFAULT_TIMEOUT_MS, deadline;
	size_t linelen = 0, used = 0, cap = 0;
	char *reply = NULL;
	int ch, fd, rc;

	while ((ch = getopt(argc, argv, "+s:c:t:h")) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			conf = optarg;
			break;
		case 't': {
			char *end;
			double s = strtod(optarg, &end);

			if (*end != '\0' || !(s > 0) || s > 86400) {
				fprintf(stderr, "bannerctl: -t %s: expected seconds, more than 0\n", optarg);
				return 2;
			}
			timeout_ms = (long long)(s * 1000 + 0.5);
			if (timeout_ms == 0)
				timeout_ms = 1;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "bannerctl: no command\n");
		usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		size_t n = strlen(argv[i]);

		if (strpbrk(argv[i], "\r\n") != NULL) {
			fprintf(stderr, "bannerctl: an argument contains a line break\n");
			return 2;
		}
		if (linelen + n + (i > optind) > CONTROL_LINE_MAX) {
			fprintf(stderr, "bannerctl: the request is longer than %d bytes\n", CONTROL_LINE_MAX);
			return 2;
		}
		if (i > optind)
			line[linelen++] = ' ';
		memcpy(line + linelen, argv[i], n);
		linelen += n;
	}
	line[linelen++] = '\n';
	if (sock == NULL) {
		if (conf == NULL) {
			fprintf(stderr, "bannerctl: which socket? pass -s PATH (or -c bannerd.conf)\n");
			return 2;
		}
		if (socket_from_conf(conf, path, sizeof path) != 0)
			return 1;
		sock = path;
	}
	deadline = now_ms() + timeout_ms;
	if ((fd = connect_to(sock, deadline)) < 0)
		return 1;
	if (send_all(fd, line, linelen, deadline) != 0) {
		fprintf(stderr, "bannerctl: %s: cannot send the request: %s\n", sock,
		    errno ? strerror(errno) : "timed out");
		close(fd);
		return 1;
	}
	/* No shutdown(SHUT_WR): the line's end is the request's end. */
	for (;;) {
		ssize_t n;

		if (cap - used < 4096) {
			char *bigger;

			if (cap >= REPLY_MAX) {
				fprintf(stderr, "bannerctl: %s: reply longer than %d bytes\n", sock, REPLY_MAX);
				close(fd);
				return 1;
			}
			cap = cap ? cap * 2 : 8192;
			if ((bigger = realloc(reply, cap + 1)) == NULL) {
				fprintf(stderr, "bannerctl: out of memory\n");
				return 1;
			}
			reply = bigger;
		}
		if (!wait_fd(fd, POLLIN, deadline)) {
			fprintf(stderr, "bannerctl: %s: no complete reply within %.1f s\n", sock,
			    (double)timeout_ms / 1000);
			close(fd);
			return 1;
		}
		n = recv(fd, reply + used, cap - used, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			fprintf(stderr, "bannerctl: %s: %s\n", sock, strerror(errno));
			close(fd);
			return 1;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	reply[used] = '\0';
	if (used == 0) {
		fprintf(stderr, "bannerctl: %s: closed without a reply\n", sock);
		return 1;
	}
	rc = print_reply(reply, used);
	free(reply);
	return rc;
}
