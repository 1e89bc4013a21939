#include "exporter.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "addr.h"
#include "config.h"
#include "log.h"
#include "webassets.h"

/* evhttp reads a whole body before the handler sees it: bounded here
 * (beyond, evhttp answers 413 itself), the handler's own limit is
 * EXPORTER_BODY_MAX, so that one answers 413 cleanly. */
#define HTTP_BODY_READ_MAX (64 * 1024)
#define HTTP_HEADERS_MAX (16 * 1024)

struct exporter {
	struct evhttp *http;
	exporter_collect_fn *collect;
	exporter_live_fn *live;
	void *arg;
	control_fn *control;
	void *control_arg;
	int control_on;				/* metrics.control */
	char control_allow[CONF_STR_MAX];	/* metrics.control_allow */
	char token[EXPORTER_TOKEN_LEN + 1];
};

static void
send_text(struct evhttp_request *req, int code, const char *reason, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason, body);
}

/* A one-line text answer with its status: what a client script prints. */
static void
send_message(struct evhttp_request *req, int code, const char *reason, const char *msg)
{
	struct evbuffer *out = evbuffer_new();

	if (out == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add_printf(out, "%s\n", msg);
	send_text(req, code, reason, out);
	evbuffer_free(out);
}

static void
metrics_cb(struct evhttp_request *req, void *arg)
{
	struct exporter *e = arg;
	struct evbuffer *out = evbuffer_new();

	if (out == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	e->collect(e->arg, out);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

/* The peer of req as a sockaddr (into ss), or -1. */
static int
peer_of(struct evhttp_request *req, struct sockaddr_storage *ss)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	const struct sockaddr *sa = conn != NULL ? evhttp_connection_get_addr(conn) : NULL;

	if (sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return -1;
	memcpy(ss, sa, sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	return 0;
}

/* metrics.control on and the peer in metrics.control_allow. */
static int
peer_may_control(const struct exporter *e, struct evhttp_request *req)
{
	struct sockaddr_storage ss;

	return e->control_on && peer_of(req, &ss) == 0 &&
	    addr_cidr_list_match(e->control_allow, (struct sockaddr *)&ss) == 1;
}

/* "since" from the query: absent is 0, anything but a decimal number
 * that fits 64 bits is refused. */
static int
parse_since(struct evhttp_request *req, uint64_t *since)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq params;
	const char *v;
	int rc = 0;

	*since = 0;
	if (query == NULL)
		return 0;
	TAILQ_INIT(&params);
	if (evhttp_parse_query_str(query, &params) != 0)
		return -1;
	if ((v = evhttp_find_header(&params, "since")) != NULL) {
		uint64_t n = 0;

		rc = *v == '\0' ? -1 : 0;
		for (const char *p = v; rc == 0 && *p != '\0'; p++) {
			if (*p < '0' || *p > '9' || n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
				rc = -1;
			else
				n = n * 10 + (uint64_t)(*p - '0');
		}
		*since = n;
	}
	evhttp_clear_headers(&params);
	return rc;
}

static void
live_cb(struct evhttp_request *req, void *arg)
{
	struct exporter *e = arg;
	struct evbuffer *out;
	uint64_t since;

	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		send_message(req, 405, "Method Not Allowed", "GET /live");
		return;
	}
	if (parse_since(req, &since) != 0) {
		send_message(req, 400, "Bad Request", "since: not a record number (0 or more)");
		return;
	}
	if ((out = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	e->live(e->arg, since, peer_may_control(e, req), out);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

int
exporter_token_ok(const char *want, const char *given)
{
	size_t n = strlen(want);
	unsigned char diff = 0;

	if (given == NULL || strlen(given) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(want[i] ^ given[i]);
	return diff == 0;
}

/* The body as one request line: one line end at the end is fine, any
 * other line break or a NUL is not. Returns the line (malloc'd) or NULL
 * with why set. */
static char *
body_line(struct evbuffer *body, const char **why)
{
	size_t len = evbuffer_get_length(body);
	char *line = malloc(len + 1);

	if (line == NULL) {
		*why = "ERR out of memory";
		return NULL;
	}
	evbuffer_copyout(body, line, len);
	line[len] = '\0';
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (strlen(line) != len || strpbrk(line, "\r\n") != NULL) {
		free(line);
		*why = "ERR one request line, without NUL bytes";
		return NULL;
	}
	return line;
}

static void
control_cb(struct evhttp_request *req, void *arg)
{
	struct exporter *e = arg;
	struct evbuffer *body = evhttp_request_get_input_buffer(req), *out;
	struct sockaddr_storage ss;
	char host[ADDR_TEXT_MAX], origin[ADDR_TEXT_MAX + 8];
	const char *why = NULL;
	char *line;

	if (!e->control_on) {
		send_message(req, 404, "Not Found", "ERR controls are off (metrics.control = off)");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		send_message(req, 405, "Method Not Allowed", "ERR POST one request line to /control");
		return;
	}
	if (!peer_may_control(e, req) || peer_of(req, &ss) != 0) {
		send_message(req, 403, "Forbidden", "ERR this address is not in metrics.control_allow");
		return;
	}
	if (!exporter_token_ok(e->token, evhttp_find_header(evhttp_request_get_input_headers(req),
	    "X-Bannerd-Token"))) {
		send_message(req, 403, "Forbidden", "ERR missing or wrong X-Bannerd-Token");
		return;
	}
	if (evbuffer_get_length(body) > EXPORTER_BODY_MAX) {
		send_message(req, 413, "Payload Too Large", "ERR request longer than 4096 bytes");
		return;
	}
	if (e->control == NULL) {
		send_message(req, 503, "Service Unavailable", "ERR no control handler");
		return;
	}
	if ((line = body_line(body, &why)) == NULL) {
		send_message(req, 400, "Bad Request", why);
		return;
	}
	if ((out = evbuffer_new()) == NULL) {
		free(line);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	{
		/* "http 127.0.0.1", also from a dual-stack listener */
		struct addr peer = { .len = sizeof ss };

		memcpy(&peer.ss, &ss, sizeof ss);
		addr_unmap_v4(&peer);
		addr_format_host((struct sockaddr *)&peer.ss, host, sizeof host);
	}
	snprintf(origin, sizeof origin, "http %s", host);
	if (control_run(e->control, e->control_arg, origin, line, out) == 0)
		send_text(req, 200, "OK", out);
	else
		send_text(req, 400, "Bad Request", out);
	evbuffer_free(out);
	free(line);
}

/* GET / and /static/NAME: the live page and its assets, compiled in
 * (webassets.h). The page is never cached, so a restarted bannerd shows
 * its own; the assets change only with it too, but an hour is harmless.
 * The policy keeps the page to this server: it loads nothing else. */
static bool
asset_reply(struct evhttp_request *req)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	const struct webasset *a = webasset_find(path);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out;

	if (a == NULL || evhttp_request_get_command(req) == EVHTTP_REQ_POST)
		return false;
	if ((out = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return true;
	}
	evbuffer_add_reference(out, a->data, a->len, NULL, NULL);
	evhttp_add_header(h, "Content-Type", a->content_type);
	evhttp_add_header(h, "Cache-Control", a->cacheable ? "max-age=3600" : "no-cache");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Content-Security-Policy",
	    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
	return true;
}

static void
other_cb(struct evhttp_request *req, void *arg)
{
	if (!asset_reply(req))
		evhttp_send_error(req, 404, "try / or /metrics");
}

/* 32 hex digits from the kernel's generator: whoever reads the start-up
 * log may change the server from the page, nobody else. */
static int
make_token(char *token, char *err, size_t errlen)
{
	unsigned char raw[EXPORTER_TOKEN_LEN / 2];
	size_t got = 0;

	while (got < sizeof raw) {
		ssize_t n = getrandom(raw + got, sizeof raw - got, 0);

		if (n <= 0) {
			snprintf(err, errlen, "metrics.control: no randomness for the token");
			return -1;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(token + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

struct exporter *
exporter_start(struct event_base *base, const struct config *c, exporter_collect_fn *collect,
    exporter_live_fn *live, void *arg, control_fn *control, void *control_arg, char *err, size_t errlen)
{
	const char *address = c->metrics_listen;
	struct exporter *e = calloc(1, sizeof *e);
	struct evhttp_bound_socket *bound;
	struct sockaddr_storage real;
	socklen_t len = sizeof real;
	char host[ADDR_TEXT_MAX], shown[ADDR_TEXT_MAX];
	struct addr a;

	if (e == NULL || addr_parse(address, -1, &a) != 0 || (e->http = evhttp_new(base)) == NULL) {
		snprintf(err, errlen, "metrics.listen: cannot use '%s'", address);
		free(e);
		return NULL;
	}
	if (make_token(e->token, err, errlen) != 0) {
		evhttp_free(e->http);
		free(e);
		return NULL;
	}
	e->collect = collect;
	e->live = live;
	e->arg = arg;
	e->control = control;
	e->control_arg = control_arg;
	e->control_on = c->metrics_control;
	snprintf(e->control_allow, sizeof e->control_allow, "%s", c->metrics_control_allow);
	evhttp_set_allowed_methods(e->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_max_body_size(e->http, HTTP_BODY_READ_MAX);
	evhttp_set_max_headers_size(e->http, HTTP_HEADERS_MAX);
	evhttp_set_cb(e->http, "/metrics", metrics_cb, e);
	if (live != NULL)
		evhttp_set_cb(e->http, "/live", live_cb, e);
	evhttp_set_cb(e->http, "/control", control_cb, e);
	evhttp_set_gencb(e->http, other_cb, e);
	addr_format_host((struct sockaddr *)&a.ss, host, sizeof host);
	/* sin_port and sin6_port sit at the same offset */
	bound = evhttp_bind_socket_with_handle(e->http, host,
	    ntohs(((struct sockaddr_in *)&a.ss)->sin_port));
	if (bound == NULL) {
		snprintf(err, errlen, "metrics.listen: cannot listen on %s", address);
		evhttp_free(e->http);
		free(e);
		return NULL;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&real, &len) == 0) {
		addr_format((struct sockaddr *)&real, shown, sizeof shown);
		log_info("metrics on http://%s/metrics", shown);
		if (e->control_on)
			log_info("live page: http://%s/#token=%s (controls on)", shown, e->token);
		else
			log_info("live page: http://%s/ (read-only)", shown);
	}
	return e;
}

void
exporter_stop(struct exporter *e)
{
	if (e == NULL)
		return;
	evhttp_free(e->http);
	free(e);
}
