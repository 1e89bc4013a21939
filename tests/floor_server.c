/* floor_server PORT: the fastest SMTP greeter we can write, the floor
 * against which smtpprobe's own cost is measured. One thread, epoll,
 * nonblocking: 220 on accept, 221 to QUIT (then close), close on EOF.
 * Port 0 picks a free port; the chosen one is printed on stderr. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static int
listen_on(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	socklen_t len = sizeof sin;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(fd, 4096) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		perror("floor_server");
		exit(1);
	}
	fprintf(stderr, "floor_server: listening on 127.0.0.1:%d\n", ntohs(sin.sin_port));
	return fd;
}

static void
accept_all(int lfd, int ep)
{
	static const char banner[] = "220 floor ESMTP\r\n";
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		if (send(fd, banner, sizeof banner - 1, MSG_NOSIGNAL) < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
			close(fd);
	}
}

/* Any line starting with QUIT ends the session; other input is ignored. */
static void
serve(int fd)
{
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof buf, 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && strncasecmp(buf, "QUIT", n < 4 ? (size_t)n : 4) != 0)
		return;
	if (n > 0)
		(void)send(fd, "221 bye\r\n", 9, MSG_NOSIGNAL);
	close(fd);	/* also takes it out of the epoll set */
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[256];

	if (argc != 2) {
		fprintf(stderr, "usage: floor_server PORT\n");
		return 2;
	}
	int lfd = listen_on(atoi(argv[1]));
	int ep = epoll_create1(0);
	struct epoll_event lev = { .events = EPOLLIN, .data.fd = lfd };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0) {
		perror("floor_server: epoll");
		return 1;
	}
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == lfd)
				accept_all(lfd, ep);
			else
				serve(evs[i].data.fd);
		}
	}
}
