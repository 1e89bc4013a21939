#include "exporter.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/util.h>

#include "addr.h"
#include "log.h"
#include "webassets.h"

struct exporter {
	struct evhttp *http;
	exporter_collect_fn *collect;
	void *arg;
};

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

	if (a == NULL)
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

struct exporter *
exporter_start(struct event_base *base, const char *address, exporter_collect_fn *collect,
    void *arg, char *err, size_t errlen)
{
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
	e->collect = collect;
	e->arg = arg;
	evhttp_set_allowed_methods(e->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_cb(e->http, "/metrics", metrics_cb, e);
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
