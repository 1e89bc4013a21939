#ifndef BANNERLAB_CONTROL_H
#define BANNERLAB_CONTROL_H
/* The control socket that bannerd, slowdns and slowrelay share, and that
 * bannerctl speaks: a UNIX stream socket, one request a connection.
 *
 *   request:  one line of words separated by blanks, LF or CRLF ended,
 *             at most CONTROL_LINE_MAX bytes ("set banner.delay=3s")
 *   reply:    zero or more body lines, then a last line that is either
 *             "OK" or "ERR <why>"; then the server closes.
 *
 * The handler runs on the event loop's thread, so it may change what
 * that thread owns (a reload, a fault setting) without locks. */
#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct evbuffer;
struct control;

#define CONTROL_LINE_MAX 4096
#define CONTROL_ARGS_MAX 64

/* origin says who asked, for the log: "socket uid=1000" (from the
 * peer's credentials) or whatever another front end passes, such as
 * "http 127.0.0.1". line has no line end. Body lines go to out, each
 * ending in "\n". Returns 0 for OK, or -1 with err set for ERR. */
typedef int control_fn(void *arg, const char *origin, const char *line,
    struct evbuffer *out, char *err, size_t errlen);

/* Listens on path with the given mode (0600: the owner only). A stale
 * socket file nobody answers on is replaced; a live one is an error,
 * as is any other file at path. uid/gid: the owner to give the socket
 * (-1 to keep). Returns NULL with err set on failure. */
struct control *control_start(struct event_base *base, const char *path,
    mode_t mode, uid_t uid, gid_t gid, control_fn *fn, void *arg,
    char *err, size_t errlen);
/* Closes the listener and removes the socket file. NULL is fine. */
void control_stop(struct control *c);

/* Runs one request through fn and writes the whole reply (body, then
 * "OK" or "ERR why") to out: what the socket does, for other front ends.
 * Returns fn's answer (0 for OK, -1 for ERR), so that a front end with
 * its own status (HTTP's) need not read it back from the reply. */
int control_run(control_fn *fn, void *arg, const char *origin,
    const char *line, struct evbuffer *out);

/* Splits line in place into at most max blank-separated words. Returns
 * their number, or -1 when there are more than max. Pure. */
int control_split(char *line, char **argv, int max);

#endif
