/* slowrelay: a TCP relay that holds back the server's first bytes, the
 * lab's packet filter on the path. The server sends its banner at once;
 * the client sees it late. Measured from both sides, as KB Q286375 asks
 * ("perform telnet tests from both sides of all routers"), the difference
 * is the path, not the server.
 *
 *   slowrelay -l 127.0.0.1:2526 -u 127.0.0.1:2525 --banner-delay 8s
 *
 * With --inspect pix|pix44|asa it also inspects SMTP as those firewalls
 * did (inspect.c: the rules; here only the I/O around them).
 *
 * With --control PATH its settings change while it runs (relayctl.c:
 * the table; here the socket's handler).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "addr.h"
#include "control.h"
#include "inspect.h"
#include "monotime.h"
#include "relayctl.h"

struct conn;

struct relay {
	struct event_base *base;
	LIST_HEAD(, conn) conns;	/* freed at exit too */
	struct addr upstream;
	struct relay_settings live;	/* command line + control socket's set */
	struct livecfg lc;
	struct control *ctl;
	unsigned long next_id, open, total, failed;
	unsigned long dropped;	/* by the inspection */
	int inspected;		/* a connection was accepted with inspection on */
};

/* One client connection and its upstream connection. Server bytes wait
 * in the upstream's input buffer until the hold ends. */
struct conn {
	LIST_ENTRY(conn) link;
	struct relay *r;
	unsigned long id;
	struct bufferevent *client, *server;
	struct event *hold;
	uint64_t accept_us, first_server_byte_us, released_us;
	int held;
	struct inspect insp;	/* mode fixed at accept; unused when off */
	char peer[ADDR_TEXT_MAX];
	char via[ADDR_TEXT_MAX];	/* our end of the upstream connection: the peer the server logs */
};

static void event_cb(struct bufferevent *bev, short what, void *arg);

/* The address the server sees as its peer, so that a line of ours can be
 * matched with the server's own log line for the same connection. */
static void
note_upstream_address(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(bufferevent_getfd(c->server), (struct sockaddr *)&ss, &len) == 0)
		addr_format((struct sockaddr *)&ss, c->via, sizeof c->via);
}

static void
conn_log(const struct conn *c, const char *event)
{
	if (c->r->live.quiet)
		return;
	fprintf(stderr, "slowrelay: %s id=%lu client=%s", event, c->id, c->peer);
	if (c->via[0] != '\0')
		fprintf(stderr, " via=%s", c->via);
	if (c->first_server_byte_us)
		fprintf(stderr, " server_first_byte_us=%llu",
		    (unsigned long long)(c->first_server_byte_us - c->accept_us));
	if (c->released_us)
		fprintf(stderr, " client_first_byte_us=%llu",
		    (unsigned long long)(c->released_us - c->accept_us));
	fputc('\n', stderr);
}

static void
conn_free(struct conn *c)
{
	conn_log(c, "close");
	if (c->client != NULL)
		bufferevent_free(c->client);
	if (c->server != NULL)
		bufferevent_free(c->server);
	event_free(c->hold);
	LIST_REMOVE(c, link);
	c->r->open--;
	free(c);
}

/* One line per inspection action, as the ASA logged its drops. */
static void
inspect_note_cb(void *arg, enum inspect_action action, const char *detail)
{
	const struct conn *c = arg;
	const char *key = action == INSPECT_COMMAND_REWRITTEN ? " verb=" :
	    action == INSPECT_DROPPED ? " reason=" : action == INSPECT_BANNER_MASKED ? " " : "";

	if (c->r->live.quiet)
		return;
	fprintf(stderr, "slowrelay: inspect id=%lu client=%s mode=%s action=%s%s%s\n", c->id, c->peer,
	    inspect_mode_name(c->insp.mode), inspect_action_name(action), key, key[0] ? detail : "");
}

/* Passes what src has read through the inspection, chunk by chunk: the
 * bytes out are as many as in (a few may wait for the next chunk). */
static int
forward_inspected(struct conn *c, struct bufferevent *src, struct bufferevent *dst)
{
	uint8_t in[4096], out[sizeof in + INSPECT_HOLD_MAX];
	struct evbuffer *from = bufferevent_get_input(src), *to = bufferevent_get_output(dst);
	int n, drop = 0;

	while ((n = evbuffer_remove(from, in, sizeof in)) > 0) {
		size_t m = src == c->client ? inspect_from_client(&c->insp, in, (size_t)n, out, &drop) :
		    inspect_from_server(&c->insp, in, (size_t)n, out, &drop);

		if (drop)
			return -1;
		evbuffer_add(to, out, m);
	}
	return 0;
}

/* Moves what src has read to dst's output. Server bytes move only once
 * the hold is over. -1: the inspection dropped the connection, and c is
 * freed: the caller must not touch it. */
static int
forward(struct conn *c, struct bufferevent *src, struct bufferevent *dst)
{
	if (c->insp.mode == INSPECT_OFF) {
		evbuffer_add_buffer(bufferevent_get_output(dst), bufferevent_get_input(src));
		return 0;
	}
	if (forward_inspected(c, src, dst) == 0)
		return 0;
	c->r->dropped++;
	conn_free(c);
	return -1;
}

static void
server_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->first_server_byte_us == 0)
		c->first_server_byte_us = monotime_now_us();
	if (!c->held)
		forward(c, c->server, c->client);
}

static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	forward(c, c->client, c->server);
}

static void
hold_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	c->held = 0;
	c->released_us = monotime_now_us();
	if (forward(c, c->server, c->client) != 0)
		return;
	conn_log(c, "released");
	if (!(bufferevent_get_enabled(c->server) & EV_READ))	/* the server already left */
		event_cb(c->server, BEV_EVENT_EOF, c);
}

static void
client_drained_cb(struct bufferevent *bev, void *arg)
{
	conn_free(arg);
}

/* The client leaving ends both sides at once. The server leaving (after
 * its 221, say) ends them once the client has been given what the server
 * said, held or not, within a few seconds. */
static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct timeval flush = { 5, 0 };

	if (what & BEV_EVENT_CONNECTED) {
		note_upstream_address(c);
		return;
	}
	if (bev == c->client) {
		conn_free(c);
		return;
	}
	if (!(what & BEV_EVENT_EOF)) {
		c->r->failed++;
		conn_log(c, "upstream-error");
	}
	bufferevent_disable(c->server, EV_READ);
	if (c->held)
		return;	/* hold_done_cb forwards, then we flush below */
	if (forward(c, c->server, c->client) != 0)
		return;
	if (evbuffer_get_length(bufferevent_get_output(c->client)) == 0) {
		conn_free(c);
		return;
	}
	bufferevent_setcb(c->client, NULL, client_drained_cb, event_cb, c);
	bufferevent_set_timeouts(c->client, NULL, &flush);
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	struct relay *r = arg;
	struct conn *c = calloc(1, sizeof *c);
	struct timeval tv = monotime_timeval(r->live.banner_delay_us);

	if (c == NULL) {
		close(fd);
		return;
	}
	c->r = r;
	LIST_INSERT_HEAD(&r->conns, c, link);
	c->id = ++r->next_id;
	c->accept_us = monotime_now_us();
	/* The hold and the inspection are this connection's from here on: a
	 * live change applies to the next connections. */
	c->held = r->live.banner_delay_us > 0;
	inspect_init(&c->insp, r->live.inspect, inspect_note_cb, c);
	r->inspected |= r->live.inspect != INSPECT_OFF;
	addr_format(sa, c->peer, sizeof c->peer);
	c->client = bufferevent_socket_new(r->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->server = bufferevent_socket_new(r->base, -1, BEV_OPT_CLOSE_ON_FREE);
	c->hold = evtimer_new(r->base, hold_done_cb, c);
	if (c->client == NULL || c->server == NULL || c->hold == NULL ||
	    bufferevent_socket_connect(c->server, (struct sockaddr *)&r->upstream.ss,
	    (int)r->upstream.len) != 0) {
		r->failed++;
		if (c->client == NULL)
			close(fd);
		r->open++;
		conn_free(c);
		return;
	}
	r->open++;
	r->total++;
	bufferevent_setcb(c->client, client_read_cb, NULL, event_cb, c);
	bufferevent_setcb(c->server, server_read_cb, NULL, event_cb, c);
	bufferevent_enable(c->client, EV_READ | EV_WRITE);
	bufferevent_enable(c->server, EV_READ | EV_WRITE);
	/* libevent counts from the time it cached at the top of this loop
	 * iteration, older than accept_us: refresh it so the hold is never
	 * shorter than asked. */
	event_base_update_cache_time(r->base);
	if (c->held)
		evtimer_add(c->hold, &tv);
	conn_log(c, "accept");
}

static void
format_counts(const struct relay *r, char *buf, size_t len)
{
	int n = snprintf(buf, len, "connections=%lu open=%lu upstream_failures=%lu", r->total,
	    r->open, r->failed);

	/* inspect_drops once the inspection is or was on: a figure that
	 * can only be 0 is noise. */
	if ((r->live.inspect != INSPECT_OFF || r->inspected) && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " inspect_drops=%lu", r->dropped);
}

static void
print_counts(const struct relay *r)
{
	char buf[256];

	format_counts(r, buf, sizeof buf);
	fprintf(stderr, "slowrelay: counts %s\n", buf);
}

static void
control_stats(void *arg, struct evbuffer *out)
{
	char buf[256];

	format_counts(arg, buf, sizeof buf);
	evbuffer_add_printf(out, "%s\n", buf);
}

/* show/set/unset are relayctl's table; stats is the counts line. A
 * change (or a refused one) is logged with who asked. */
static int
control_cb(void *arg, const char *origin, const char *line, struct evbuffer *out,
    char *err, size_t errlen)
{
	struct relay *r = arg;
	int changed, rc = livecfg_request(&r->lc, line, control_stats, r, out, err, errlen,
	    &changed);

	if (changed)
		fprintf(stderr, "slowrelay: control: %s (from %s)\n", line, origin);
	else if (rc != 0)
		fprintf(stderr, "slowrelay: control: rejected: %s (from %s): %s\n", line, origin, err);
	return rc;
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct relay *r = arg;

	print_counts(r);
	if (sig != SIGUSR1)
		event_base_loopbreak(r->base);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: slowrelay -u ADDR:PORT [-l ADDR:PORT] [-b DUR] [-i MODE] [-q] [--control PATH]\n"
	    "  -l, --listen ADDR:PORT     where clients connect (default 127.0.0.1:2526; port 0 = any)\n"
	    "  -u, --upstream ADDR:PORT   the SMTP server behind the relay (required)\n"
	    "  -b, --banner-delay DUR     hold the server's bytes this long after accept (default 0)\n"
	    "  -i, --inspect MODE         inspect SMTP as a firewall did: pix, pix44, asa (default off)\n"
	    "  -q, --quiet                no per-connection lines\n"
	    "      --control PATH         control socket (mode 0600): show, set, unset, stats;\n"
	    "                             live: set banner-delay=8s inspect=asa quiet=on\n"
	    "  -h, --help                 this text\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "upstream", required_argument, NULL, 'u' },
		{ "banner-delay", required_argument, NULL, 'b' },
		{ "inspect", required_argument, NULL, 'i' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "control", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	struct relay r = { 0 };
	struct relay_settings cmdline = { .inspect = INSPECT_OFF };
	const char *control_path = NULL;
	char err[512];
	const char *listen_text = "127.0.0.1:2526", *up_text = NULL;
	struct addr listen_addr;
	struct evconnlistener *lev;
	struct sockaddr_storage real;
	socklen_t len = sizeof real;
	char shown[ADDR_TEXT_MAX];
	struct event *sigs[3];
	int ch;

	while ((ch = getopt_long(argc, argv, "l:u:b:i:qh", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			listen_text = optarg;
			break;
		case 'u':
			up_text = optarg;
			break;
		case 'b':
		case 'i':
		case 'q':
			/* the live settings' own parsers: "set" accepts the same */
			if (relayctl_parse(&cmdline, ch == 'b' ? "banner-delay" : ch == 'i' ? "inspect" :
			    "quiet", ch == 'q' ? "on" : optarg, err, sizeof err) != 0) {
				fprintf(stderr, "slowrelay: --%s: %s\n", ch == 'b' ? "banner-delay" : "inspect",
				    err);
				return 2;
			}
			break;
		case 'C':
			control_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (up_text == NULL || optind != argc || (control_path != NULL && control_path[0] == '\0')) {
		usage(stderr);
		return 2;
	}
	if (addr_parse(up_text, 25, &r.upstream) != 0 || addr_parse(listen_text, 2526, &listen_addr) != 0) {
		fprintf(stderr, "slowrelay: addresses are numeric ADDR:PORT ([::1]:PORT for IPv6)\n");
		return 2;
	}
	cmdline.listen = listen_text;
	cmdline.upstream = up_text;
	livecfg_init(&r.lc, relayctl_defs, relayctl_ndefs, sizeof r.live, &cmdline, &r.live);
	signal(SIGPIPE, SIG_IGN);
	{
		struct event_config *cfg = event_config_new();

		if (cfg != NULL) {	/* precise: the coarse clock can end a hold early */
			event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
			r.base = event_base_new_with_config(cfg);
			event_config_free(cfg);
		}
	}
	lev = r.base ? evconnlistener_new_bind(r.base, accept_cb, &r,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
	    (struct sockaddr *)&listen_addr.ss, (int)listen_addr.len) : NULL;
	if (lev == NULL) {
		fprintf(stderr, "slowrelay: cannot listen on %s: %s\n", listen_text, strerror(errno));
		return 1;
	}
	getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&real, &len);
	addr_format((struct sockaddr *)&real, shown, sizeof shown);
	cmdline.listen = r.live.listen = shown;	/* what show prints: port 0 resolved */
	/* Handlers first: whoever waits for "listening on" may signal at once. */
	sigs[0] = evsignal_new(r.base, SIGTERM, signal_cb, &r);
	sigs[1] = evsignal_new(r.base, SIGINT, signal_cb, &r);
	sigs[2] = evsignal_new(r.base, SIGUSR1, signal_cb, &r);
	for (int i = 0; i < 3; i++)
		evsignal_add(sigs[i], NULL);
	/* Before "listening on": whoever waits for that line may use it. */
	if (control_path != NULL) {
		r.ctl = control_start(r.base, control_path, 0600, (uid_t)-1, (gid_t)-1, control_cb, &r,
		    err, sizeof err);
		if (r.ctl == NULL) {
			fprintf(stderr, "slowrelay: %s\n", err);
			for (int i = 0; i < 3; i++)
				event_free(sigs[i]);
			evconnlistener_free(lev);
			event_base_free(r.base);
			return 1;
		}
		fprintf(stderr, "slowrelay: control socket %s\n", control_path);
	}
	fprintf(stderr, "slowrelay: listening on %s upstream=%s banner_delay_us=%llu inspect=%s\n", shown,
	    up_text, (unsigned long long)r.live.banner_delay_us, inspect_mode_name(r.live.inspect));
	LIST_INIT(&r.conns);
	event_base_dispatch(r.base);
	while (!LIST_EMPTY(&r.conns))
		conn_free(LIST_FIRST(&r.conns));
	control_stop(r.ctl);
	livecfg_free(&r.lc);
	for (int i = 0; i < 3; i++)
		event_free(sigs[i]);
	evconnlistener_free(lev);
	event_base_free(r.base);
	return 0;
}
