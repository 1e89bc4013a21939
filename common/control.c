/* The shared control socket (control.h): accept, read one line, run the
 * handler, write the reply, close. Bounded in size and in time, so a
 * client that never finishes its line costs one descriptor for a few
 * seconds and nothing else. */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define CONTROL_READ_TIMEOUT_S 5
#define CONTROL_MAX_CLIENTS 16	/* at once; more are closed at accept */

struct control {
	struct evconnlistener *listener;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	control_fn *fn;
	void *arg;
	unsigned clients;
	int stopped;	/* the listener is gone; freed with its last client */
};

struct control_client {
	struct control *ctl;
	struct bufferevent *bev;
	char origin[64];
	int replied;
};

int
control_split(char *line, char **argv, int max)
{
	int n = 0;
	char *p = line;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return n;
		if (n == max)
			return -1;
		argv[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
}

int
control_run(control_fn *fn, void *arg, const char *origin, const char *line,
    struct evbuffer *out)
{
	char err[512] = "";
	struct evbuffer *body = evbuffer_new();
	int rc;

	if (body == NULL) {
		evbuffer_add_printf(out, "ERR out of memory\n");
		return -1;
	}
	rc = fn(arg, origin, line, body, err, sizeof err) == 0 ? 0 : -1;
	if (rc == 0) {
		evbuffer_add_buffer(out, body);
		evbuffer_add_printf(out, "OK\n");
	} else {
		/* A failed request's partial body would read as an answer. */
		for (char *p = err; *p != '\0'; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		evbuffer_add_printf(out, "ERR %s\n", err[0] ? err : "failed");
	}
	evbuffer_free(body);
	return rc;
}

static void
client_free(struct control_client *cl)
{
	struct control *ctl = cl->ctl;

	bufferevent_free(cl->bev);
	free(cl);
	if (--ctl->clients == 0 && ctl->stopped)
		free(ctl);
}

static void
client_reply(struct control_client *cl, const char *line)
{
	struct evbuffer *out = bufferevent_get_output(cl->bev);

	cl->replied = 1;
	bufferevent_disable(cl->bev, EV_READ);
	if (line != NULL)
		control_run(cl->ctl->fn, cl->ctl->arg, cl->origin, line, out);
}

static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	struct control_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line;

	if (cl->replied)
		return;
	line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > CONTROL_LINE_MAX) {
			evbuffer_add_printf(bufferevent_get_output(bev),
			    "ERR request longer than %d bytes\n", CONTROL_LINE_MAX);
			client_reply(cl, NULL);
		}
		return;
	}
	if (len > CONTROL_LINE_MAX)
		evbuffer_add_printf(bufferevent_get_output(bev),
		    "ERR request longer than %d bytes\n", CONTROL_LINE_MAX);
	else if (memchr(line, '\0', len) != NULL)
		evbuffer_add_printf(bufferevent_get_output(bev), "ERR NUL byte in the request\n");
	else {
		client_reply(cl, line);
		free(line);
		return;
	}
	free(line);
	client_reply(cl, NULL);
}

/* Once the reply has left, the connection has done its job. */
static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_client *cl = arg;

	if (cl->replied && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		client_free(cl);
}

static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct control_client *cl = arg;

	if ((what & BEV_EVENT_EOF) && !cl->replied) {
		/* A last line without its newline still counts. */
		struct evbuffer *in = bufferevent_get_input(bev);
		size_t len = evbuffer_get_length(in);

		if (len > 0 && len <= CONTROL_LINE_MAX) {
			char *line = malloc(len + 1);

			if (line != NULL) {
				evbuffer_remove(in, line, len);
				line[len] = '\0';
				if (strlen(line) == len) {
					client_reply(cl, line);
					free(line);
					bufferevent_enable(bev, EV_WRITE);
					return;
				}
				free(line);
			}
		}
	}
	client_free(cl);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct control *ctl = arg;
	struct control_client *cl;
	struct timeval tv = { CONTROL_READ_TIMEOUT_S, 0 };
	struct ucred cred;
	socklen_t credlen = sizeof cred;

	if (ctl->clients >= CONTROL_MAX_CLIENTS || (cl = calloc(1, sizeof *cl)) == NULL) {
		close(fd);
		return;
	}
	cl->ctl = ctl;
	cl->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	if (cl->bev == NULL) {
		close(fd);
		free(cl);
		return;
	}
	ctl->clients++;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == 0)
		snprintf(cl->origin, sizeof cl->origin, "socket uid=%ld pid=%ld", (long)cred.uid,
		    (long)cred.pid);
	else
		snprintf(cl->origin, sizeof cl->origin, "socket");
	bufferevent_setcb(cl->bev, client_read_cb, client_write_cb, client_event_cb, cl);
	bufferevent_set_timeouts(cl->bev, &tv, &tv);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
}

/* A socket file left by a process that died is removed; one that
 * answers belongs to a running process and is left alone. */
static int
clear_stale(const char *path, const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "control socket %s: %s", path,
		    strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "control socket %s: exists and is not a socket; remove it or "
		    "choose another path", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "control socket %s: another process is listening on it", path);
		return -1;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "control socket %s: cannot remove the stale socket: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

struct control *
control_start(struct event_base *base, const char *path, mode_t mode, uid_t uid, gid_t gid,
    control_fn *fn, void *arg, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct control *ctl;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		snprintf(err, errlen, "control socket %s: path longer than %zu bytes", path,
		    sizeof sun.sun_path - 1);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (clear_stale(path, &sun, err, errlen) != 0)
		return NULL;
	ctl = calloc(1, sizeof *ctl);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl == NULL || fd < 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		snprintf(err, errlen, "control socket %s: bind: %s", path, strerror(errno));
		goto fail;
	}
	/* Nobody can connect before listen(): the mode and owner are right
	 * from the first connection on. */
	if (chmod(path, mode) != 0 || ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    chown(path, uid, gid) != 0)) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	ctl->listener = evconnlistener_new(base, accept_cb, ctl, LEV_OPT_CLOSE_ON_FREE, 16, fd);
	if (ctl->listener == NULL) {
		snprintf(err, errlen, "control socket %s: listen: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	memcpy(ctl->path, path, strlen(path) + 1);
	ctl->fn = fn;
	ctl->arg = arg;
	return ctl;
fail:
	if (fd >= 0)
		close(fd);
	free(ctl);
	return NULL;
}

void
control_stop(struct control *ctl)
{
	if (ctl == NULL)
		return;
	evconnlistener_free(ctl->listener);
	unlink(ctl->path);
	/* A client still being answered points at ctl: the last one frees it. */
	ctl->stopped = 1;
	if (ctl->clients == 0)
		free(ctl);
}
