#include "rdns_rcode.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "monotime.h"

int
rdns_rcode_parse(const unsigned char *pkt, size_t n, char *name, size_t len, int *rcode)
{
	size_t i = 12, o = 0;

	if (n < 12 || len == 0 || !(pkt[2] & 0x80) || ((pkt[4] << 8) | pkt[5]) != 1)
		return -1;	/* not a response, or not one question */
	*rcode = pkt[3] & 0x0f;
	while (i < n && pkt[i] != 0) {
		size_t l = pkt[i];

		if (l > 63 || i + 1 + l > n || o + l + 2 > len)
			return -1;	/* a compression pointer, or truncated */
		if (o > 0)
			name[o++] = '.';
		memcpy(name + o, pkt + i + 1, l);
		o += l;
		i += 1 + l;
	}
	if (i >= n)
		return -1;
	name[o] = '\0';
	return 0;
}

void
rdns_rcode_note(struct rdns_rcode_witness *w, const unsigned char *pkt, size_t n, uint64_t now_us)
{
	struct rdns_rcode_seen *s = &w->seen[w->next % RDNS_RCODE_SLOTS];
	char name[sizeof s->name];
	int rcode;

	if (rdns_rcode_parse(pkt, n, name, sizeof name, &rcode) != 0)
		return;
	if (rcode != 2 && rcode != 4 && rcode != 5)
		return;
	memcpy(s->name, name, sizeof name);
	s->rcode = rcode;
	s->at_us = now_us;
	w->next++;
}

int
rdns_rcode_last(const struct rdns_rcode_witness *w, const char *name, uint64_t since_us)
{
	/* Newest first: the last server's word is the one that counts. */
	for (unsigned k = 1; k <= RDNS_RCODE_SLOTS; k++) {
		const struct rdns_rcode_seen *s = &w->seen[(w->next - k) % RDNS_RCODE_SLOTS];

		if (s->at_us != 0 && s->at_us >= since_us && strcasecmp(s->name, name) == 0)
			return s->rcode;
	}
	return 0;
}

/* ---- the socket functions: plain system calls, plus the witness ---- */

/* c-ares 1.18 leaves user-managed sockets as they are made (no
 * non-blocking mode), so ask for it here. */
static ares_socket_t
w_socket(int family, int type, int protocol, void *arg)
{
	return socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
}

static int
w_close(ares_socket_t fd, void *arg)
{
	return close(fd);
}

static int
w_connect(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len, void *arg)
{
	return connect(fd, sa, len);
}

/* from is NULL on TCP, whose reads are pieces of a stream: only UDP
 * datagrams are whole responses. */
static ares_ssize_t
w_recvfrom(ares_socket_t fd, void *buf, size_t len, int flags, struct sockaddr *from,
    ares_socklen_t *fromlen, void *arg)
{
	ares_ssize_t n = recvfrom(fd, buf, len, flags, from, fromlen);

	if (n > 0 && from != NULL)
		rdns_rcode_note(arg, buf, (size_t)n, monotime_now_us());
	return n;
}

static ares_ssize_t
w_sendv(ares_socket_t fd, const struct iovec *iov, int n, void *arg)
{
	return writev(fd, iov, n);
}

static const struct ares_socket_functions witness_functions = {
	w_socket, w_close, w_connect, w_recvfrom, w_sendv,
};

void
rdns_rcode_attach(ares_channel ch, struct rdns_rcode_witness *w)
{
	ares_set_socket_functions(ch, &witness_functions, w);
}
