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

/* One c-ares channel, and so one UDP source port per server: c-ares 1.18
 * sends every query of a channel from the socket it opened first, so a
 * fresh port for each lookup (what makes an off-path forger guess the
 * port as well as the 16-bit id) needs a channel for each lookup. Without
 * ARES_FLAG_STAYOPEN c-ares closes a channel's sockets when its last
 * query ends, so a lane that took its rdns.lookups_per_port lookups and
 * went idle asks from a new port the next time: idle lanes are kept
 * (up to LANES_IDLE_KEPT) and reused, since making a channel costs more
 * than the socket (it reads /dev/urandom, and its tables are ~70 KiB).
 * Past rdns.max_ports lanes, new lookups share the busy ones in turn, so a
 * burst costs a bounded number of descriptors and spreads its answers
 * over that many receive buffers. */
#define LANES_IDLE_KEPT 16

struct rdns_lane {
	struct rdns *r;
	ares_channel ch;
	struct event *timer;
	struct dns_fd fds[MAX_DNS_FDS];
	unsigned taken;		/* lookups started since it was last idle */
	unsigned pending;	/* lookups on it not yet ended */
	int closing;		/* one idle lane too many: the reaper destroys it */
	struct rdns_lane *next;		/* every lane */
	struct rdns_lane *next_idle;
};

struct rdns {
	struct event_base *base;
	struct ares_options opts;	/* every lane's options (saved from a template) */
	int optmask;
	struct ares_addr_port_node *servers;	/* with their ports */
	struct rdns_lane *lanes;	/* all of them, newest first */
	unsigned n_lanes;
	struct rdns_lane *idle;		/* a stack of lanes with nothing in flight */
	unsigned n_idle;
	struct rdns_lane *current;	/* takes new lookups until it has its share */
	struct rdns_lane *turn;		/* all max_ports busy: the next to share */
	unsigned lookups_per_port, max_ports;
	struct event *reaper;		/* destroys lanes outside c-ares callbacks */
	int hosts_file;
	unsigned pending;	/* lookups not yet ended */
	int destroying;
	struct rdns_rcode_witness rcodes;	/* what failed-over servers said */
};

struct rdns_query {
	struct rdns *r;
	struct rdns_lane *lane;
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


/* ---- c-ares <-> libevent glue (the recipe's section 3), per lane ---- */

static void
rearm_timer(struct rdns_lane *l)
{
	struct timeval tv, *tvp;

	if (l->r->destroying)
		return;
	tvp = ares_timeout(l->ch, NULL, &tv);
	if (tvp != NULL)
		evtimer_add(l->timer, tvp);
	else
		evtimer_del(l->timer);
}

static void
io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rdns_lane *l = arg;

	ares_process_fd(l->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	rearm_timer(l);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rdns_lane *l = arg;

	ares_process_fd(l->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm_timer(l);
}

/* Called from inside c-ares: only update events here, never call ares_*. */
static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct rdns_lane *l = data;
	struct dns_fd *slot = NULL;

	for (int i = 0; i < MAX_DNS_FDS; i++)
		if (l->fds[i].ev != NULL && l->fds[i].fd == fd)
			slot = &l->fds[i];
	if (slot == NULL && (readable || writable))
		for (int i = 0; i < MAX_DNS_FDS && slot == NULL; i++)
			if (l->fds[i].ev == NULL)
				slot = &l->fds[i];
	if (slot == NULL)
		return;	/* table full: c-ares will time the query out */
	if (slot->ev != NULL) {
		event_free(slot->ev);
		slot->ev = NULL;
	}
	if (!readable && !writable)
		return;
	slot->fd = fd;
	slot->ev = event_new(l->r->base, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0) | EV_PERSIST,
	    io_cb, l);
	if (slot->ev != NULL)
		event_add(slot->ev, NULL);
}

/* ---- lanes ---- */

/* ares_destroy closes the lane's sockets through sock_state_cb, so the fd
 * table must still be alive; with lookups in flight it runs their
 * callbacks (ARES_EDESTRUCTION), which is why only rdns_free and the
 * reaper (idle lanes), never a c-ares callback, call it. */
static void
lane_destroy(struct rdns_lane *l)
{
	if (l->ch != NULL)
		ares_destroy(l->ch);
	for (int i = 0; i < MAX_DNS_FDS; i++)
		if (l->fds[i].ev != NULL)
			event_free(l->fds[i].ev);
	if (l->timer != NULL)
		event_free(l->timer);
	free(l);
}

static struct rdns_lane *
lane_new(struct rdns *r)
{
	struct rdns_lane *l = calloc(1, sizeof *l);
	struct ares_options o = r->opts;

	if (l == NULL)
		return NULL;
	l->r = r;
	l->timer = evtimer_new(r->base, timer_cb, l);
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = l;
	if (l->timer == NULL || ares_init_options(&l->ch, &o, r->optmask) != ARES_SUCCESS) {
		l->ch = NULL;
		lane_destroy(l);
		return NULL;
	}
	rdns_rcode_attach(l->ch, &r->rcodes);
	if (r->servers != NULL && ares_set_servers_ports(l->ch, r->servers) != ARES_SUCCESS) {
		lane_destroy(l);
		return NULL;
	}
	l->next = r->lanes;
	r->lanes = l;
	r->n_lanes++;
	return l;
}

/* The lane for the next lookup: the current one while it has room, else
 * an idle one, else a new one, else (max_ports open) the busy ones in
 * turn. */
static struct rdns_lane *
lane_pick(struct rdns *r)
{
	struct rdns_lane *l;

	if (r->current != NULL && r->current->taken < r->lookups_per_port)
		return r->current;
	if ((l = r->idle) != NULL) {
		r->idle = l->next_idle;
		r->n_idle--;
		l->taken = 0;
		return r->current = l;
	}
	if (r->n_lanes < r->max_ports && (l = lane_new(r)) != NULL)
		return r->current = l;
	for (int pass = 0; pass < 2; pass++) {
		for (l = r->turn != NULL ? r->turn : r->lanes; l != NULL; l = l->next)
			if (!l->closing) {
				r->turn = l->next;
				return l;
			}
		r->turn = NULL;
	}
	return NULL;
}

static void
reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rdns *r = arg;
	struct rdns_lane **pp = &r->lanes;

	while (*pp != NULL) {
		struct rdns_lane *l = *pp;

		if (!l->closing) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		r->n_lanes--;
		if (r->turn == l)
			r->turn = l->next;
		lane_destroy(l);
	}
}

/* A lookup on l ended (we may be inside its c-ares callback). With none
 * left, c-ares closes the lane's socket as the callback returns, and the
 * lane waits on the idle stack for a lookup that will open a new one;
 * one idle lane past LANES_IDLE_KEPT is destroyed, from the loop. */
static void
lane_release(struct rdns_lane *l)
{
	struct rdns *r = l->r;

	l->pending--;
	if (l->pending > 0 || r->destroying)
		return;
	if (r->current == l)
		r->current = NULL;
	if (r->n_idle >= LANES_IDLE_KEPT) {
		l->closing = 1;
		event_active(r->reaper, EV_TIMEOUT, 0);
		return;
	}
	l->next_idle = r->idle;
	r->idle = l;
	r->n_idle++;
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
	struct rdns_lane *l = q->lane;

	free(q);
	r->pending--;
	if (l != NULL)
		lane_release(l);
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
	if (!q->forward_confirm || q->r->destroying || q->lane == NULL) {
		finish(q, RDNS_OK, status);
		return;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = q->peer.ss.ss_family;
	hints.ai_flags = ARES_AI_NOSORT;	/* sorting opens a socket per address */
	ares_getaddrinfo(q->lane->ch, q->name, NULL, &hints, forward_cb, q);
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
	} else if ((q->lane = lane_pick(r)) == NULL) {
		q->detail = "no c-ares channel (out of memory or descriptors)";
		q->result = RDNS_ERROR;
		q->finished = 1;
	} else {
		q->lane->taken++;
		q->lane->pending++;
		if (r->hosts_file) {
			const void *a = p->sa_family == AF_INET ?
			    (const void *)&((const struct sockaddr_in *)p)->sin_addr :
			    (const void *)&((const struct sockaddr_in6 *)p)->sin6_addr;
			ares_gethostbyaddr(q->lane->ch, a, p->sa_family == AF_INET ? 4 : 16, p->sa_family,
			    ptr_host_cb, q);
		} else
			ares_query(q->lane->ch, qname, ns_c_in, ns_t_ptr, ptr_query_cb, q);
	}
	q->starting = 0;
	if (q->finished)	/* c-ares answered before returning */
		event_base_once(r->base, -1, EV_TIMEOUT, deferred_deliver_cb, q, NULL);
	else
		rearm_timer(q->lane);
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
	ares_channel tmpl;
	int rc, mask;

	if (r == NULL)
		return NULL;
	r->base = base;
	r->hosts_file = c->rdns_hosts_file;
	r->lookups_per_port = c->rdns_lookups_per_port;
	r->max_ports = c->rdns_max_ports;
	memset(&o, 0, sizeof o);
	o.timeout = (int)(c->rdns_timeout_us / 1000);	/* ARES_OPT_TIMEOUTMS: ms */
	o.tries = (int)c->rdns_tries;
	o.lookups = (char *)(c->rdns_hosts_file ? "fb" : "b");
	/* NOSEARCH: a PTR name such as "mail" is never expanded with
	 * resolv.conf's search list. Not NOCHECKRESP: with it c-ares keeps the first
	 * server's SERVFAIL or REFUSED and never asks the next one. Without
	 * it c-ares fails over, and once out of servers reports "could not
	 * contact DNS servers", hiding the very fault the lab injects: the
	 * witness (rdns_rcode.h) remembers the rcode, and recover_status
	 * gives it back. Not STAYOPEN: an idle lane's socket is closed, so
	 * its next lookup asks from a new port. */
	o.flags = ARES_FLAG_NOSEARCH;
	mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS | ARES_OPT_FLAGS;
	/* The template reads resolv.conf once; the lanes start from what it
	 * saved (ares_save_options), so making one reads no file. Its IPv4
	 * servers come without their ports: the lanes get the full list. */
	rc = ares_init_options(&tmpl, &o, mask);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "rdns: c-ares initialisation failed: %s", ares_strerror(rc));
		free(r);
		return NULL;
	}
	set_servers(tmpl, c->rdns_servers, err, errlen, &rc);
	if (rc == ARES_SUCCESS)
		rc = ares_get_servers_ports(tmpl, &r->servers);
	if (rc == ARES_SUCCESS)
		rc = ares_save_options(tmpl, &r->opts, &r->optmask);
	ares_destroy(tmpl);
	r->optmask |= ARES_OPT_SOCK_STATE_CB;
	r->reaper = event_new(base, -1, 0, reaper_cb, r);
	if (rc != ARES_SUCCESS || r->reaper == NULL) {
		if (rc != ARES_SUCCESS && err[0] == '\0')
			snprintf(err, errlen, "rdns: c-ares initialisation failed: %s", ares_strerror(rc));
		rdns_free(r);
		return NULL;
	}
	return r;
}

/* Lookups still in flight end as errors (ARES_EDESTRUCTION, through their
 * callbacks) as each lane is destroyed. */
void
rdns_free(struct rdns *r)
{
	if (r == NULL)
		return;
	r->destroying = 1;
	while (r->lanes != NULL) {
		struct rdns_lane *l = r->lanes;

		r->lanes = l->next;
		lane_destroy(l);
	}
	if (r->reaper != NULL)
		event_free(r->reaper);
	ares_free_data(r->servers);
	if (r->optmask != 0)
		ares_destroy_options(&r->opts);
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
