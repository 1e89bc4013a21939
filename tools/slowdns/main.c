/* slowdns: the lab DNS server. Answers PTR, A and AAAA over UDP with
 * libevent's evdns server API, late or wrongly on purpose (faults.h).
 * This file is the I/O: options, the socket, the evdns callback, the
 * delay timers, signals, the control socket and the log. The answers
 * themselves come from the pure modules (labname, zone, dnsanswer,
 * faults, dnscounts), the live settings from dnsctl. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/filter.h>

#include <event2/dns.h>
#include <event2/dns_struct.h>
#include <event2/event.h>

#include <event2/buffer.h>

#include "addr.h"
#include "control.h"
#include "monotime.h"
#include "dnsanswer.h"
#include "dnscounts.h"
#include "dnsctl.h"
#include "faults.h"
#include "units.h"
#include "zone.h"

#define DEFAULT_LISTEN "127.0.0.1:5353"
#define DEFAULT_SEED 1
#define RCVBUF_BYTES (1 << 20)	/* a burst of thousands of queries */
#define ANSWER_TTL 0		/* no resolver in between may cache the lab */
#define DNS_FLAG_TC 0x0200	/* not among libevent's EVDNS_FLAGS_* */
#define LOG_LINE_MAX 2048

struct options {
	struct addr listen;
	struct dns_settings set;	/* what the command line says */
	const char *control_path;	/* NULL: no control socket */
};

/* A reply waiting for its delay timer. The evdns request (with its
 * records already added) stays owned by libevent until we respond or
 * drop it; this struct owns the timer and is on the server's list so
 * that shutdown can free what never fired. */
struct pending {
	struct pending *prev, *next;
	struct server *srv;
	struct evdns_server_request *req;
	struct event *timer;
	uint64_t id;
	int rcode, truncated, mismatch;
};

struct server {
	struct event_base *base;
	struct evdns_server_port *port;
	struct event *sig_term, *sig_int, *sig_usr1;
	struct zone zone;
	struct dns_settings live;	/* command line + control socket's set */
	struct livecfg lc;
	struct control *ctl;
	struct rng rng;
	struct dnscounts counts;
	struct pending *pending;
	uint64_t npending;
	uint64_t next_id;
	char listen_text[ADDR_TEXT_MAX];	/* the address bound, port 0 resolved */
};

/* What the callback decided for one query: the log line and the reply. */
struct verdict {
	uint64_t id;
	struct fault_choice fault;
	struct dnsanswer answer;
	int rcode, truncated, mismatch;
};

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One write(2) per line, so concurrent readers of the log never see
 * half a line. */
static void
log_line(const char *fmt, ...)
{
	char buf[LOG_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof buf - 2)
		n = sizeof buf - 2;
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, (size_t)n);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: slowdns [-hq] [-l addr:port] [-z file] [-d dur] [-j dur]\n"
	    "               [--drop] [--servfail] [--nxdomain] [--refused]\n"
	    "               [--truncate] [--mismatch] [-r rate] [-s seed] [--control path]\n"
	    "  -l, --listen ADDR:PORT  UDP address (default " DEFAULT_LISTEN "; port 0 = any)\n"
	    "  -z, --zone FILE         'ADDRESS NAME' lines, '#' comments\n"
	    "  -d, --delay DUR         answer late: 300ms, 5s, ...\n"
	    "  -j, --jitter DUR        plus a uniform random 0..DUR\n"
	    "      --drop              never answer\n"
	    "      --servfail, --nxdomain, --refused   answer with that rcode\n"
	    "      --truncate          set the TC bit, no records\n"
	    "      --mismatch          A/AAAA answers 192.0.2.1 / 2001:db8::1\n"
	    "  -r, --fault-rate P      apply delay and faults to a fraction P (0..1)\n"
	    "  -s, --seed N            random seed (default %d)\n"
	    "  -q, --quiet             no per-query log lines\n"
	    "      --control PATH      control socket (mode 0600): show, set, unset, stats\n"
	    "  -h, --help              this text\n"
	    "SIGUSR1 prints the counts line; SIGTERM/SIGINT exit cleanly.\n"
	    "Live, through --control: set delay=5s servfail=on fault-rate=0.5; unset delay.\n",
	    DEFAULT_SEED);
}

static void usage_error(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

static void
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "slowdns: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\ntry 'slowdns -h' for the options\n");
	exit(2);
}

/* An option that is also a live setting goes through the setting's own
 * parser (dnsctl.c), so the command line and "set" accept the same text. */
static void
parse_setting(struct options *o, const char *name, const char *arg)
{
	char why[256];

	if (dnsctl_parse(&o->set, name, arg, why, sizeof why) != 0)
		usage_error("bad --%s: %s", name, why);
}

static uint64_t
parse_seed(const char *arg)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-')
		usage_error("bad --seed '%s': expected a non-negative integer", arg);
	return (uint64_t)v;
}

enum { OPT_FAULT = 256, OPT_CONTROL };

static void
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "zone", required_argument, NULL, 'z' },
		{ "delay", required_argument, NULL, 'd' },
		{ "jitter", required_argument, NULL, 'j' },
		{ "fault-rate", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "control", required_argument, NULL, OPT_CONTROL },
		/* Names must match the fault table (faults.c). */
		{ "drop", no_argument, NULL, OPT_FAULT },
		{ "servfail", no_argument, NULL, OPT_FAULT },
		{ "nxdomain", no_argument, NULL, OPT_FAULT },
		{ "refused", no_argument, NULL, OPT_FAULT },
		{ "truncate", no_argument, NULL, OPT_FAULT },
		{ "mismatch", no_argument, NULL, OPT_FAULT },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = DEFAULT_LISTEN;
	int c, idx;

	memset(o, 0, sizeof *o);
	faults_config_init(&o->set.faults);
	o->set.seed = DEFAULT_SEED;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":l:z:d:j:r:s:qh", longopts, &idx)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'z': o->set.zone = optarg; break;
		case 'd': parse_setting(o, "delay", optarg); break;
		case 'j': parse_setting(o, "jitter", optarg); break;
		case 'r': parse_setting(o, "fault-rate", optarg); break;
		case 's': o->set.seed = parse_seed(optarg); break;
		case 'q': parse_setting(o, "quiet", "on"); break;
		case 'h': usage(stdout); exit(0);
		case OPT_CONTROL: o->control_path = optarg; break;
		case OPT_FAULT: parse_setting(o, longopts[idx].name, "on"); break;
		case ':': usage_error("option '%s' needs a value", argv[optind - 1]);
		default: usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (addr_parse(listen, -1, &o->listen) != 0)
		usage_error("bad --listen '%s': expected 127.0.0.1:5353 or [::1]:5353", listen);
	if (o->control_path != NULL && o->control_path[0] == '\0')
		usage_error("bad --control '': give the path of the socket");
	o->set.listen = listen;
}

/* ---- replies ---------------------------------------------------------- */

static void
pending_unlink(struct server *srv, struct pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		srv->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	srv->npending--;
}

static void
reply_send(struct server *srv, struct evdns_server_request *req, uint64_t id,
    int rcode, int truncated, int mismatch)
{
	/* On a failed send libevent keeps the request: drop frees it. */
	if (evdns_server_request_respond(req, rcode) < 0) {
		evdns_server_request_drop(req);
		srv->counts.dropped++;
		log_line("slowdns: error id=%" PRIu64 " reply not sent: %s", id, strerror(errno));
		return;
	}
	dnscounts_reply(&srv->counts, rcode, truncated, mismatch);
}

static void
pending_free(struct pending *p)
{
	pending_unlink(p->srv, p);
	event_free(p->timer);
	free(p);
}

static void
pending_fire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;

	(void)fd;
	(void)what;
	reply_send(p->srv, p->req, p->id, p->rcode, p->truncated, p->mismatch);
	pending_free(p);
}

static int
reply_later(struct server *srv, struct evdns_server_request *req,
    const struct verdict *v)
{
	struct pending *p = calloc(1, sizeof *p);
	struct timeval tv = monotime_timeval(v->fault.delay_us);

	if (p == NULL)
		return -1;
	/* libevent schedules from the time cached at the start of this loop
	 * iteration; a burst of queries read in one iteration would then be
	 * answered a little early. Refresh it: the delay counts from now. */
	event_base_update_cache_time(srv->base);
	p->timer = evtimer_new(srv->base, pending_fire_cb, p);
	if (p->timer == NULL || evtimer_add(p->timer, &tv) != 0) {
		if (p->timer)
			event_free(p->timer);
		free(p);
		return -1;
	}
	p->srv = srv;
	p->req = req;
	p->id = v->id;
	p->rcode = v->rcode;
	p->truncated = v->truncated;
	p->mismatch = v->mismatch;
	p->next = srv->pending;
	if (srv->pending)
		srv->pending->prev = p;
	srv->pending = p;
	srv->npending++;
	return 0;
}

static void
add_records(struct evdns_server_request *req, const char *qname,
    const struct dnsanswer *a)
{
	for (size_t i = 0; i < a->n; i++) {
		const struct dnsanswer_rr *rr = &a->rr[i];

		if (rr->type == QTYPE_PTR)
			evdns_server_request_add_ptr_reply(req, NULL, qname, rr->host, ANSWER_TTL);
		else if (rr->type == QTYPE_A)
			evdns_server_request_add_a_reply(req, qname, 1, rr->addr.bytes, ANSWER_TTL);
		else
			evdns_server_request_add_aaaa_reply(req, qname, 1, rr->addr.bytes, ANSWER_TTL);
	}
}

/* ---- the query callback ------------------------------------------------ */

static void
verdict_decide(struct server *srv, const struct evdns_server_question *q,
    struct verdict *v)
{
	static const int outcome_rcode[] = {
		[OUTCOME_SERVFAIL] = RCODE_SERVFAIL,
		[OUTCOME_NXDOMAIN] = RCODE_NXDOMAIN,
		[OUTCOME_REFUSED] = RCODE_REFUSED,
	};

	faults_pick(&srv->live.faults, &srv->rng, &v->fault);
	srv->counts.faulted += v->fault.faulted != 0;
	dnsanswer_build(&srv->zone, q->name, q->type, q->dns_question_class,
	    v->fault.mismatch, &v->answer);
	v->rcode = v->answer.rcode;
	v->mismatch = v->fault.mismatch && v->answer.n > 0 &&
	    (q->type == QTYPE_A || q->type == QTYPE_AAAA);
	if (v->fault.outcome != OUTCOME_ANSWER && v->fault.outcome != OUTCOME_DROP) {
		v->rcode = outcome_rcode[v->fault.outcome];
		v->answer.n = 0;
		v->mismatch = 0;
	}
	v->truncated = v->fault.truncate;
	if (v->truncated) {
		/* A truncated reply carries no records: a client that
		 * ignores TC learns nothing, one that honours it retries
		 * over TCP, which slowdns does not serve. */
		v->answer.n = 0;
		v->mismatch = 0;
	}
}

static void
verdict_log(const struct server *srv, struct evdns_server_request *req,
    const struct evdns_server_question *q, const struct verdict *v)
{
	struct sockaddr_storage ss;
	char peer[ADDR_TEXT_MAX] = "?", name[DNSNAME_BUF], fault[64], delay[32];
	char answer[LOG_LINE_MAX / 2], tbuf[16], rbuf[16];

	if (srv->live.quiet)
		return;
	if (evdns_server_request_get_requesting_addr(req, (struct sockaddr *)&ss, sizeof ss) > 0)
		addr_format((struct sockaddr *)&ss, peer, sizeof peer);
	dnsname_sanitize(q->name, name, sizeof name);
	faults_describe(&v->fault, fault, sizeof fault);
	if (v->fault.delay_us == 0)
		snprintf(delay, sizeof delay, "0");
	else
		units_format_duration(v->fault.delay_us, delay, sizeof delay);
	dnsanswer_format(&v->answer, answer, sizeof answer);
	log_line("slowdns: query id=%" PRIu64 " peer=%s name=%s type=%s fault=%s delay=%s rcode=%s answer=%s",
	    v->id, peer, name[0] ? name : ".", dnsanswer_type_name(q->type, tbuf, sizeof tbuf),
	    fault, delay, v->fault.outcome == OUTCOME_DROP ? "-" :
	    dnsanswer_rcode_name(v->rcode, rbuf, sizeof rbuf),
	    v->fault.outcome == OUTCOME_DROP ? "-" : answer);
}

/* Only the first question is answered: resolvers send exactly one. */
static void
server_request_cb(struct evdns_server_request *req, void *arg)
{
	struct server *srv = arg;
	const struct evdns_server_question *q;
	struct verdict v = { .id = ++srv->next_id };

	if (req->nquestions < 1) {
		dnscounts_query(&srv->counts, -1);
		reply_send(srv, req, v.id, RCODE_FORMERR, 0, 0);
		return;
	}
	q = req->questions[0];
	dnscounts_query(&srv->counts, q->type);
	verdict_decide(srv, q, &v);
	verdict_log(srv, req, q, &v);
	if (v.fault.outcome == OUTCOME_DROP) {
		evdns_server_request_drop(req);
		srv->counts.dropped++;
		return;
	}
	add_records(req, q->name, &v.answer);
	evdns_server_request_set_flags(req, (req->flags & ~DNS_FLAG_TC) | EVDNS_FLAGS_AA |
	    (v.truncated ? DNS_FLAG_TC : 0));
	if (v.fault.delay_us > 0 && reply_later(srv, req, &v) == 0)
		return;
	/* No delay, or no memory for the timer: answering now is the
	 * better failure than never answering. */
	reply_send(srv, req, v.id, v.rcode, v.truncated, v.mismatch);
}

/* ---- the control socket ------------------------------------------------- */

static void
counts_print(const struct server *srv)
{
	char buf[LOG_LINE_MAX];

	dnscounts_format(&srv->counts, srv->npending, buf, sizeof buf);
	log_line("slowdns: counts %s", buf);
}

static void
control_stats(void *arg, struct evbuffer *out)
{
	struct server *srv = arg;
	char buf[LOG_LINE_MAX];

	dnscounts_format(&srv->counts, srv->npending, buf, sizeof buf);
	evbuffer_add_printf(out, "%s\n", buf);
}

/* show/set/unset are dnsctl's table; stats is the counts line. A change
 * (or a refused one) is logged with who asked, as bannerd logs its own. */
static int
control_cb(void *arg, const char *origin, const char *line, struct evbuffer *out,
    char *err, size_t errlen)
{
	struct server *srv = arg;
	int changed, rc = livecfg_request(&srv->lc, line, control_stats, srv, out, err, errlen,
	    &changed);

	if (changed)
		log_line("slowdns: control: %s (from %s)", line, origin);
	else if (rc != 0)
		log_line("slowdns: control: rejected: %s (from %s): %s", line, origin, err);
	return rc;
}

/* ---- start-up, signals, shutdown ---------------------------------------- */

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;

	(void)what;
	if (sig == SIGUSR1) {
		counts_print(srv);
		return;
	}
	log_line("slowdns: exiting signal=%s", sig == SIGTERM ? "TERM" : "INT");
	event_base_loopbreak(srv->base);
}

/* libevent 2.1.12's request parser dereferences NULL on a datagram too
 * short for a DNS header (its error path assumes the request was
 * allocated): one stray byte would kill the server. The kernel drops
 * such datagrams for us with a socket filter. A UDP socket filter sees
 * the datagram from its UDP header on, hence 8 + 12 bytes. */
static int
drop_short_datagrams(int fd)
{
	static struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 8 + 12, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffffU),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { sizeof code / sizeof code[0], code };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

static evutil_socket_t
open_socket(const struct addr *a)
{
	int rcvbuf = RCVBUF_BYTES;
	int fd = socket(a->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	/* Best effort: the kernel caps it at net.core.rmem_max. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (drop_short_datagrams(fd) != 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static int
server_listen(struct server *srv, const struct addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char text[ADDR_TEXT_MAX];
	evutil_socket_t fd = open_socket(a);

	addr_format((const struct sockaddr *)&a->ss, text, sizeof text);
	if (fd < 0) {
		fprintf(stderr, "slowdns: cannot listen on %s: %s\n", text, strerror(errno));
		return -1;
	}
	srv->port = evdns_add_server_port_with_base(srv->base, fd, 0, server_request_cb, srv);
	if (srv->port == NULL) {
		fprintf(stderr, "slowdns: evdns_add_server_port_with_base failed on %s\n", text);
		close(fd);
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		addr_format((struct sockaddr *)&ss, text, sizeof text);
	memcpy(srv->listen_text, text, sizeof text);
	log_line("slowdns: listening on %s", text);
	return 0;
}

static int
server_signals(struct server *srv)
{
	srv->sig_term = evsignal_new(srv->base, SIGTERM, signal_cb, srv);
	srv->sig_int = evsignal_new(srv->base, SIGINT, signal_cb, srv);
	srv->sig_usr1 = evsignal_new(srv->base, SIGUSR1, signal_cb, srv);
	if (!srv->sig_term || !srv->sig_int || !srv->sig_usr1)
		return -1;
	if (evsignal_add(srv->sig_term, NULL) || evsignal_add(srv->sig_int, NULL) ||
	    evsignal_add(srv->sig_usr1, NULL))
		return -1;
	return 0;
}

/* Pending requests hold a reference on the evdns port: drop them all
 * before closing it, so the port (and its socket) is really freed. */
static void
server_free(struct server *srv)
{
	control_stop(srv->ctl);
	livecfg_free(&srv->lc);
	while (srv->pending) {
		evdns_server_request_drop(srv->pending->req);
		pending_free(srv->pending);
	}
	if (srv->port)
		evdns_close_server_port(srv->port);
	if (srv->sig_term)
		event_free(srv->sig_term);
	if (srv->sig_int)
		event_free(srv->sig_int);
	if (srv->sig_usr1)
		event_free(srv->sig_usr1);
	if (srv->base)
		event_base_free(srv->base);
	zone_free(&srv->zone);
}

/* Without PRECISE_TIMER libevent reads CLOCK_MONOTONIC_COARSE on Linux,
 * whose tick (1-4 ms) lets a delay end measurably early: a lab that
 * promises "300ms" must not answer at 299. */
static struct event_base *
base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

static void
config_log(const struct server *srv, const struct options *o)
{
	char faults[128], delay[32], jitter[32];

	faults_describe_config(&o->set.faults, faults, sizeof faults);
	units_format_duration(o->set.faults.delay_us, delay, sizeof delay);
	units_format_duration(o->set.faults.jitter_us, jitter, sizeof jitter);
	log_line("slowdns: config zone=%s entries=%zu faults=%s fault_rate=%g delay=%s jitter=%s seed=%" PRIu64,
	    o->set.zone ? o->set.zone : "-", srv->zone.n, faults, o->set.faults.rate,
	    delay, jitter, o->set.seed);
}

int
main(int argc, char **argv)
{
	struct options o;
	struct server srv = { 0 };
	char err[512];
	int rc = 1;

	parse_options(argc, argv, &o);
	if (o.set.zone && zone_load(&srv.zone, o.set.zone, err, sizeof err) != 0) {
		fprintf(stderr, "slowdns: bad zone file: %s\n", err);
		return 2;
	}
	livecfg_init(&srv.lc, dnsctl_defs, dnsctl_ndefs, sizeof srv.live, &o.set, &srv.live);
	rng_seed(&srv.rng, o.set.seed);
	signal(SIGPIPE, SIG_IGN);
	if ((srv.base = base_new()) == NULL || server_signals(&srv) != 0) {
		fprintf(stderr, "slowdns: cannot set up the event loop\n");
		goto out;
	}
	config_log(&srv, &o);
	/* Before "listening on": whoever waits for that line may use it. */
	if (o.control_path != NULL) {
		srv.ctl = control_start(srv.base, o.control_path, 0600, (uid_t)-1, (gid_t)-1,
		    control_cb, &srv, err, sizeof err);
		if (srv.ctl == NULL) {
			fprintf(stderr, "slowdns: %s\n", err);
			goto out;
		}
		log_line("slowdns: control socket %s", o.control_path);
	}
	if (server_listen(&srv, &o.listen) != 0)
		goto out;
	o.set.listen = srv.live.listen = srv.listen_text;	/* what show prints */
	if (event_base_dispatch(srv.base) < 0) {
		fprintf(stderr, "slowdns: event loop failed\n");
		goto out;
	}
	counts_print(&srv);
	rc = 0;
out:
	server_free(&srv);
	libevent_global_shutdown();
	return rc;
}
