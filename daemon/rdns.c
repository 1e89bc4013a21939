#include "rdns.h"

#include <arpa/nameser.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <event2/event.h>

#include "addr.h"
#include "config.h"
#include "dnsname.h"
#include "monotime.h"
#include "rdns_rcode.h"

#define MAX_DNS_FDS 16	/* c-ares 1.18 uses one UDP (+ one TCP) socket per server */

struct dns_fd {
	ares_socket_t fd;
	struct event *ev;
};

struct rdns {
	struct event_base *base;
	ares_channel ch;
	struct event *timer;
	struct dns_fd fds[MAX_DNS_FDS];
	int hosts_file;
	unsigned pending;	/* lookups not yet ended */
	int destroying;
	struct rdns_rcode_witness rcodes;	/* what failed-over servers said */
};

struct rdns_query {
	struct rdns *r;
	rdns_done_fn *cb;	/* NULL once cancelled */
	void *arg;
	struct addr peer;
	int forward_confirm;
	int starting;		/* inside rdns_lookup: defer completion */
	int finished;
	uint64_t start_us;
	int timeouts;
	int confirmed;		/* the forward lookup listed the peer */
	enum rdns_result result;
	const char *detail;
	char name[256];
	char qname[128];	/* the PTR question (in-addr.arpa / ip6.arpa) */
};


/* ---- c-ares <-> libevent glue (the recipe's section 3) ---- */

static void
rearm_timer(struct rdns *r)
{
	struct timeval tv, *tvp;

	if (r->destroying)
		return;
	tvp = ares_timeout(r->ch, NULL, &tv);
	if (tvp != NULL)
		evtimer_add(r->timer, tvp);
	else
		evtimer_del(r->timer);
}

static void
io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rdns *r = arg;

	ares_process_fd(r->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	rearm_timer(r);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rdns *r = arg;

	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm_timer(r);
}

/* Called from inside c-ares: only update events here, never call ares_*. */
static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct rdns *r = data;
	struct dns_fd *slot = NULL;

	for (int i = 0; i < MAX_DNS_FDS; i++)
		if (r->fds[i].ev != NULL && r->fds[i].fd == fd)
			slot = &r->fds[i];
	if (slot == NULL && (readable || writable))
		for (int i = 0; i < MAX_DNS_FDS && slot == NULL; i++)
			if (r->fds[i].ev == NULL)
				slot = &r->fds[i];
	if (slot == NULL)
		return;	/* table full: c-ares will time the query out */
	if (slot->ev != NULL) {
		event_free(slot->ev);
		slot->ev = NULL;
	}
	if (!readable && !writable)
		return;
	slot->fd = fd;
	slot->ev = event_new(r->base, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0) | EV_PERSIST,
	    io_cb, r);
	if (slot->ev != NULL)
		event_add(slot->ev, NULL);
}

/* ---- results ---- */

/* notfound_hides_timeout: the status comes from ares_gethostbyaddr or
 * ares_getaddrinfo, which report a timeout as ENOTFOUND; the timeouts
 * count tells them apart there. From ares_query (the PTR lookup without
 * the hosts file) ENOTFOUND is the server's NXDOMAIN, even when it
 * answered an earlier try late (c-ares keeps the query id across tries,
 * so a 1.5 s NXDOMAIN ends a 1 s x 2 lookup with timeouts = 1): that is
 * nxdomain, not timeout. */
static enum rdns_result
classify(int status, int timeouts, int notfound_hides_timeout)
{
	switch (status) {
	case ARES_SUCCESS:
		return RDNS_OK;
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
		return notfound_hides_timeout && timeouts > 0 ? RDNS_TIMEOUT : RDNS_NXDOMAIN;
	case ARES_ESERVFAIL:
		return RDNS_SERVFAIL;
	case ARES_EREFUSED:
		return RDNS_REFUSED;
	case ARES_ETIMEOUT:
		return RDNS_TIMEOUT;
	default:
		return RDNS_ERROR;
	}
}

/* c-ares moved on from a SERVFAIL, NOTIMP or REFUSED answer to the next
 * server and, out of servers, said ECONNREFUSED: give back the rcode the
 * last server answered with (rdns_rcode.h), if one did. */
static int
recover_status(const struct rdns_query *q, const char *name, int status)
{
	if (status != ARES_ECONNREFUSED)
		return status;
	switch (rdns_rcode_last(&q->r->rcodes, name, q->start_us)) {
	case 2:
		return ARES_ESERVFAIL;
	case 4:
		return ARES_ENOTIMP;
	case 5:
		return ARES_EREFUSED;
	default:
		return status;	/* nobody answered: a refused port, say */
	}
}

static void
query_free(struct rdns_query *q)
{
	struct rdns *r = q->r;

	free(q);
	r->pending--;
}

static void
deliver(struct rdns_query *q)
{
	struct rdns_answer a = {
		q->result, q->result == RDNS_OK || q->result == RDNS_UNCONFIRMED ? q->name : NULL,
		q->start_us, q->start_us, monotime_now_us(), q->timeouts, q->detail,
		q->confirmed,
	};

	if (q->cb != NULL)
		q->cb(q->arg, &a);
	query_free(q);
}

static void
deferred_deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	deliver(arg);
}

static void
finish(struct rdns_query *q, enum rdns_result result, int status)
{
	q->result = result;
	q->finished = 1;
	if (result != RDNS_OK && status != ARES_SUCCESS)
		q->detail = ares_strerror(status);
	if (q->starting)
		return;	/* rdns_lookup defers it */
	deliver(q);
}

static int
peer_listed(const struct rdns_query *q, const struct ares_addrinfo *ai)
{
	const struct sockaddr *p = (const struct sockaddr *)&q->peer.ss;

	for (const struct ares_addrinfo_node *n = ai->nodes; n != NULL; n = n->ai_next) {
		if (n->ai_family != p->sa_family)
			continue;
		if (p->sa_family == AF_INET &&
		    memcmp(&((struct sockaddr_in *)n->ai_addr)->sin_addr,
		    &((const struct sockaddr_in *)p)->sin_addr, 4) == 0)
			return 1;
		if (p->sa_family == AF_INET6 &&
		    memcmp(&((struct sockaddr_in6 *)n->ai_addr)->sin6_addr,
		    &((const struct sockaddr_in6 *)p)->sin6_addr, 16) == 0)
			return 1;
	}
	return 0;
}

static void
forward_cb(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct rdns_query *q = arg;
	enum rdns_result res;

	q->timeouts += timeouts;
	status = recover_status(q, q->name, status);
	if (status == ARES_SUCCESS) {
		q->confirmed = peer_listed(q, ai);
		res = q->confirmed ? RDNS_OK : RDNS_UNCONFIRMED;
	}
	else if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED)
		res = RDNS_ERROR;
	else {
		/* Postfix keeps TEMP apart from FORGED: a forward lookup that
		 * timed out or failed is not proof of a forged name. */
		res = classify(status, timeouts, 1);
		if (res == RDNS_NXDOMAIN)
			res = RDNS_UNCONFIRMED;
	}
	if (ai != NULL)
		ares_freeaddrinfo(ai);
	finish(q, res, status);
}

/* The first PTR record of the answer. ares_parse_ptr_reply (1.18.1)
 * overwrites h_name with each record in turn, so h_name is the last one;
 * h_aliases lists them all in answer order. Postfix and the resolvers
 * behind getnameinfo take the first. */
static const char *
first_ptr_name(const struct hostent *h)
{
	if (h == NULL)
		return NULL;
	if (h->h_aliases != NULL && h->h_aliases[0] != NULL)
		return h->h_aliases[0];
	return h->h_name;
}

/* The PTR answer is in; validate the name and maybe confirm it. */
static void
ptr_done(struct rdns_query *q, const char *name, int status)
{
	struct ares_addrinfo_hints hints;

	if (status != ARES_SUCCESS) {
		finish(q, classify(status, q->timeouts, q->r->hosts_file), status);
		return;
	}
	if (name == NULL || !dnsname_valid(name)) {
		q->detail = "malformed name in the PTR answer";
		finish(q, RDNS_ERROR, ARES_SUCCESS);
		return;
	}
	snprintf(q->name, sizeof q->name, "%s", name);
	if (!q->forward_confirm || q->r->destroying) {
		finish(q, RDNS_OK, status);
		return;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = q->peer.ss.ss_family;
	hints.ai_flags = ARES_AI_NOSORT;	/* sorting opens a socket per address */
	ares_getaddrinfo(q->r->ch, q->name, NULL, &hints, forward_cb, q);
}

static void
ptr_query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct rdns_query *q = arg;
	struct hostent *h = NULL;
	const struct sockaddr *p = (const struct sockaddr *)&q->peer.ss;
	const void *addr = p->sa_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)p)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)p)->sin6_addr;

	q->timeouts = timeouts;
	status = recover_status(q, q->qname, status);
	if (status == ARES_SUCCESS)
		status = ares_parse_ptr_reply(abuf, alen, addr, p->sa_family == AF_INET ? 4 : 16,
		    p->sa_family, &h);
	ptr_done(q, status == ARES_SUCCESS ? first_ptr_name(h) : NULL, status);
	if (h != NULL)
		ares_free_hostent(h);
}

static void
ptr_host_cb(void *arg, int status, int timeouts, struct hostent *h)
{
	struct rdns_query *q = arg;

	q->timeouts = timeouts;
	status = recover_status(q, q->qname, status);
	/* h_name, not first_ptr_name: the answer may come from /etc/hosts,
	 * where h_name is the line's canonical (first) name and the aliases
	 * follow it; c-ares does not say which source answered. */
	ptr_done(q, status == ARES_SUCCESS && h != NULL ? h->h_name : NULL, status);
}

/* ---- public ---- */

struct rdns_query *
rdns_lookup(struct rdns *r, const struct sockaddr *peer, int forward_confirm,
    rdns_done_fn *cb, void *arg)
{
	struct rdns_query *q = calloc(1, sizeof *q);
	char qname[128];
	const struct sockaddr *p;

	if (q == NULL)
		return NULL;
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->forward_confirm = forward_confirm;
	q->start_us = monotime_now_us();
	memcpy(&q->peer.ss, peer, peer->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	q->peer.len = peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	addr_unmap_v4(&q->peer);	/* a v4 client on a v6 socket is looked up as v4 */
	p = (const struct sockaddr *)&q->peer.ss;
	r->pending++;
	q->starting = 1;
	if (dnsname_ptr_query(p, qname, sizeof qname) == 0)
		snprintf(q->qname, sizeof q->qname, "%s", qname);
	if (q->qname[0] == '\0') {
		q->detail = "unsupported address family";
		q->result = RDNS_ERROR;
		q->finished = 1;
	} else if (r->hosts_file) {
		const void *a = p->sa_family == AF_INET ?
		    (const void *)&((const struct sockaddr_in *)p)->sin_addr :
		    (const void *)&((const struct sockaddr_in6 *)p)->sin6_addr;
		ares_gethostbyaddr(r->ch, a, p->sa_family == AF_INET ? 4 : 16, p->sa_family, ptr_host_cb, q);
	} else
		ares_query(r->ch, qname, ns_c_in, ns_t_ptr, ptr_query_cb, q);
	q->starting = 0;
	if (q->finished)	/* c-ares answered before returning */
		event_base_once(r->base, -1, EV_TIMEOUT, deferred_deliver_cb, q, NULL);
	rearm_timer(r);
	return q;
}

void
rdns_query_cancel(struct rdns_query *q)
{
	if (q != NULL)
		q->cb = NULL;
}

static void
set_servers(ares_channel ch, const char *servers, char *err, size_t errlen, int *rc)
{
	char csv[CONF_STR_MAX];
	size_t o = 0;

	for (const char *s = servers; *s && o + 1 < sizeof csv; s++)
		if (!isspace((unsigned char)*s))
			csv[o++] = *s;
	csv[o] = '\0';
	if (o == 0)
		return;
	*rc = ares_set_servers_ports_csv(ch, csv);
	if (*rc != ARES_SUCCESS)
		snprintf(err, errlen, "rdns.servers: '%s': %s (expected HOST[:PORT], comma separated, [::1]:5353 for IPv6)",
		    servers, ares_strerror(*rc));
}

struct rdns *
rdns_new(struct event_base *base, const struct config *c, char *err, size_t errlen)
{
	struct rdns *r = calloc(1, sizeof *r);
	struct ares_options o;
	int rc, mask;

	if (r == NULL)
		return NULL;
	r->base = base;
	r->hosts_file = c->rdns_hosts_file;
	memset(&o, 0, sizeof o);
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = r;
	o.timeout = (int)(c->rdns_timeout_us / 1000);	/* ARES_OPT_TIMEOUTMS: ms */
	o.tries = (int)c->rdns_tries;
	o.lookups = (char *)(c->rdns_hosts_file ? "fb" : "b");
	/* STAYOPEN: no socket churn under load. NOSEARCH: a PTR name such
	 * as "mail" is never expanded with resolv.conf's search list.
	 * Not NOCHECKRESP: with it c-ares keeps the first server's SERVFAIL
	 * or REFUSED and never asks the next one. Without it c-ares fails
	 * over, and once out of servers reports "could not contact DNS
	 * servers", hiding the very fault the lab injects: the witness
	 * (rdns_rcode.h) remembers the rcode, and recover_status gives it
	 * back. */
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_STAYOPEN;
	mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_LOOKUPS | ARES_OPT_FLAGS;
	rc = ares_init_options(&r->ch, &o, mask);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "rdns: c-ares initialisation failed: %s", ares_strerror(rc));
		free(r);
		return NULL;
	}
	rdns_rcode_attach(r->ch, &r->rcodes);
	set_servers(r->ch, c->rdns_servers, err, errlen, &rc);
	r->timer = evtimer_new(base, timer_cb, r);
	if (rc != ARES_SUCCESS || r->timer == NULL) {
		rdns_free(r);
		return NULL;
	}
	return r;
}

/* ares_destroy runs the callbacks of lookups still in flight (with
 * ARES_EDESTRUCTION) and then closes its sockets through sock_state_cb,
 * so the fd table and the base must still be alive here. */
void
rdns_free(struct rdns *r)
{
	if (r == NULL)
		return;
	r->destroying = 1;
	ares_destroy(r->ch);
	for (int i = 0; i < MAX_DNS_FDS; i++)
		if (r->fds[i].ev != NULL)
			event_free(r->fds[i].ev);
	if (r->timer != NULL)
		event_free(r->timer);
	free(r);
}

unsigned
rdns_pending(const struct rdns *r)
{
	return r->pending;
}

static const char *const result_names[] = {
	"ok", "nxdomain", "servfail", "refused", "timeout", "unconfirmed", "error", "skipped",
};

const char *
rdns_result_name(enum rdns_result res)
{
	return res < RDNS_RESULT_COUNT ? result_names[res] : "?";
}

uint64_t
rdns_worst_case_us(unsigned servers, uint64_t timeout_us, unsigned tries)
{
	if (servers == 0)
		servers = 1;
	if (tries > 30)
		tries = 30;
	return (uint64_t)servers * timeout_us * ((1ULL << tries) - 1);
}

int
rdns_resolv_conf_nameservers(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512], word[16];
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, " %15s", word) == 1 && strcmp(word, "nameserver") == 0)
			n++;
	fclose(f);
	return n;
}

static unsigned
format_servers(const struct ares_addr_port_node *s, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	size_t o = 0;
	unsigned n = 0;

	buf[0] = '\0';
	for (; s != NULL && o < len; s = s->next, n++) {
		int v6 = s->family == AF_INET6;

		if (ares_inet_ntop(s->family, &s->addr, host, sizeof host) == NULL)
			snprintf(host, sizeof host, "?");
		o += (size_t)snprintf(buf + o, len - o, "%s%s%s%s:%d", n ? "," : "", v6 ? "[" : "",
		    host, v6 ? "]" : "", s->udp_port ? s->udp_port : 53);
	}
	return n;
}

unsigned
rdns_servers_in_force(const struct config *c, char *buf, size_t len, int *fallback)
{
	struct ares_options o;
	struct ares_addr_port_node *list = NULL;
	ares_channel ch;
	char err[256];
	int rc = ARES_SUCCESS;
	unsigned n = 0;

	*fallback = 0;
	snprintf(buf, len, "?");
	memset(&o, 0, sizeof o);
	o.lookups = (char *)"b";
	if (ares_init_options(&ch, &o, ARES_OPT_LOOKUPS) != ARES_SUCCESS)
		return 0;
	set_servers(ch, c->rdns_servers, err, sizeof err, &rc);
	if (rc == ARES_SUCCESS && ares_get_servers_ports(ch, &list) == ARES_SUCCESS)
		n = format_servers(list, buf, len);
	ares_free_data(list);
	ares_destroy(ch);
	/* c-ares 1.18 (init_by_defaults) asks 127.0.0.1 when resolv.conf
	 * names no server, and says nothing. */
	if (c->rdns_servers[0] == '\0' && rdns_resolv_conf_nameservers("/etc/resolv.conf") <= 0)
		*fallback = 1;
	return n;
}

unsigned
rdns_server_count(const char *servers)
{
	unsigned n = 0;
	int in_item = 0;

	for (const char *s = servers; *s; s++) {
		if (*s == ',')
			in_item = 0;
		else if (!isspace((unsigned char)*s) && !in_item) {
			in_item = 1;
			n++;
		}
	}
	return n;
}
