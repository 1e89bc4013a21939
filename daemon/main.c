/* bannerd: start-up, signals, reload and shutdown. Everything else lives
 * in the modules; this file owns the process-wide state. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ares.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "control.h"
#include "ctlcmd.h"
#include "exporter.h"
#include "listener.h"
#include "live.h"
#include "live_json.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "rdns.h"
#include "server.h"
#include "spool.h"

#define BANNERD_VERSION "0.1.0"
#define MAX_OVERRIDES 128

static struct {
	const char *conf_path;
	char *overrides[MAX_OVERRIDES];
	size_t n_overrides;
	int check_only;
	int daemonize;
	struct server srv;
	struct event_base *base;
	struct listeners *listeners;
	struct pool *pool;
	struct metrics *metrics;	/* the listener's counters */
	struct exporter *exporter;
	struct live *live;		/* GET /live's records and changes */
	struct ctlcmd ctl;		/* bannerctl's commands and the runtime layer */
	struct control *control;	/* server.control_socket's listener */
	char metrics_listen[CONF_STR_MAX];
	int stopping;
	char pidfile[4096];	/* the one written, whatever a reload says */
	int ready_fd;		/* -D: the pipe to the waiting parent, else -1 */
	int log_to_stderr;	/* log.target = stderr at start-up */
} g = { .ready_fd = -1 };

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: bannerd [-fDt] [-c file] [-o section.key=value ...]\n"
	    "  -c file   configuration file (INI); without it, built-in defaults\n"
	    "  -o k=v    override one key, e.g. -o listen.address=127.0.0.1:2600 (repeatable)\n"
	    "  -t        check the configuration and exit (0 ok, 2 bad)\n"
	    "  -f        stay in the foreground (the default)\n"
	    "  -D        daemonize once ready; writes server.pidfile if set\n"
	    "  -h        this help\n"
	    "  -V        version\n");
}

static void
parse_args(int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "c:o:tfDhV")) != -1) {
		switch (ch) {
		case 'c':
			g.conf_path = optarg;
			break;
		case 'o':
			if (g.n_overrides == MAX_OVERRIDES) {
				fprintf(stderr, "bannerd: more than %d -o options\n", MAX_OVERRIDES);
				exit(2);
			}
			g.overrides[g.n_overrides++] = optarg;
			break;
		case 't':
			g.check_only = 1;
			break;
		case 'f':
			g.daemonize = 0;
			break;
		case 'D':
			g.daemonize = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("bannerd %s (libevent %s, c-ares %s)\n", BANNERD_VERSION,
			    event_get_version(), ares_version(NULL));
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "bannerd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		exit(2);
	}
}

/* A start-up failure: logged, and said on standard error as well when
 * the log goes elsewhere, since whoever started bannerd is looking
 * there. With -D the waiting parent gets the exit status. */
static int
startup_fail(int code, const char *msg)
{
	unsigned char status = (unsigned char)code;

	log_error("%s", msg);
	if (!g.log_to_stderr)
		fprintf(stderr, "bannerd: %s\n", msg);
	if (g.ready_fd >= 0) {
		if (write(g.ready_fd, &status, 1) != 1)
			(void)0;	/* the parent is gone: nobody to tell */
		close(g.ready_fd);
		g.ready_fd = -1;
	}
	return code;
}

static int
drop_privileges(const char *user, char *err, size_t errlen)
{
	struct passwd *pw;

	if (user[0] == '\0')
		return 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		snprintf(err, errlen, "server.user: no such user '%s'", user);
		return 2;
	}
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		snprintf(err, errlen, "server.user: cannot become '%s': %s (start as root)",
		    user, strerror(errno));
		return 1;
	}
	return 0;
}

static void
write_pidfile(const char *path)
{
	FILE *f;

	if (path[0] == '\0')
		return;
	f = fopen(path, "w");
	if (f == NULL) {
		log_error("server.pidfile: cannot write %s: %s", path, strerror(errno));
		return;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
	snprintf(g.pidfile, sizeof g.pidfile, "%s", path);
}

/* -D, before anything else starts, so that every line the daemon logs,
 * "starting: pid=" first, carries its own pid. The parent waits for the
 * daemon to be ready to accept connections, or to fail, and exits with
 * its status: "bannerd -D && next" never runs next against a daemon that
 * died binding its port. */
static void
daemonize(void)
{
	int pfd[2], fd;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) != 0 || (pid = fork()) < 0) {
		fprintf(stderr, "bannerd: cannot daemonize: %s\n", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		unsigned char status;
		ssize_t n;

		close(pfd[1]);
		do
			n = read(pfd[0], &status, 1);
		while (n < 0 && errno == EINTR);
		waitpid(pid, NULL, 0);	/* the middle child, gone at once */
		/* No byte: the daemon died before it could say why. */
		_exit(n == 1 ? status : 1);
	}
	close(pfd[0]);
	setsid();
	pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid > 0)
		_exit(0);
	g.ready_fd = pfd[1];
	/* Relative paths in the configuration stay meaningful: no chdir.
	 * Standard error stays until the daemon is ready, for start-up errors. */
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (fd > 2)
			close(fd);
	}
}

/* -D: ready to accept connections; the parent may exit 0 now. Standard
 * error is let go first (unless the log goes there), so that whoever
 * reads the parent's output to its end is not held by the daemon. */
static void
daemon_ready(void)
{
	unsigned char ok = 0;
	int fd;

	if (g.ready_fd < 0)
		return;
	if (!g.log_to_stderr && (fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	if (write(g.ready_fd, &ok, 1) != 1)
		(void)0;	/* the parent is gone: nobody to tell */
	close(g.ready_fd);
	g.ready_fd = -1;
}

static void rdns_log(const struct config *c);

/* Everything a scrape shows, merged on the main thread. */
static struct metrics *
collect(struct metrics_gauges *gauges)
{
	struct metrics *m = metrics_new();

	if (m == NULL)
		return NULL;
	memset(gauges, 0, sizeof *gauges);
	metrics_add(m, g.metrics);
	pool_collect(g.pool, m, gauges);
	listeners_gauges(g.listeners, gauges);
	return m;
}

static void
exporter_collect_cb(void *arg, struct evbuffer *out)
{
	struct metrics_gauges gauges;
	struct metrics *m = collect(&gauges);

	if (m == NULL) {
		evbuffer_add_printf(out, "# out of memory\n");
		return;
	}
	metrics_expose(m, &gauges, out);
	metrics_free(m);
}

/* GET /live: the records past since, the gauges as /metrics has them,
 * and the keys as they are now (a reload or a set changes them). */
static void
exporter_live_cb(void *arg, uint64_t since, int control, struct evbuffer *out)
{
	struct metrics_gauges gauges;
	struct metrics *m = collect(&gauges);
	struct live_snapshot snap;
	struct config *c;

	if (m == NULL || live_snapshot(g.live, since, &snap) != 0) {
		metrics_free(m);
		evbuffer_add_printf(out, "{\"error\":\"out of memory\"}\n");
		return;
	}
	c = server_config(&g.srv);
	live_json_write(out, &snap, &gauges, c, control, live_now_us());
	config_unref(c);
	live_snapshot_free(&snap);
	metrics_free(m);
}

static void
log_metrics(void)
{
	struct metrics_gauges gauges;
	struct metrics *m = collect(&gauges);
	char line[2048];

	if (m == NULL)
		return;
	metrics_summary(m, &gauges, line, sizeof line);
	log_info("metrics %s", line);
	metrics_free(m);
}

/* Keys read once at start-up (config.c's list): a reload that changes
 * them says so. */
static void
warn_restart_only(const struct config *old, const struct config *c)
{
	char was[CONF_STR_MAX], now[CONF_STR_MAX];

	for (size_t i = 0; i < config_key_count(); i++) {
		if (!config_key_restart_only(i))
			continue;
		config_key_format(old, i, 0, was, sizeof was);
		config_key_format(c, i, 0, now, sizeof now);
		if (strcmp(was, now) != 0)
			log_error("reload: %s.%s changed; it takes effect only after a restart",
			    config_key_section(i), config_key_name(i));
	}
}

/* Puts c in force, as a reload does: SIGHUP and every bannerctl change
 * come here. Takes c; 0, or -1 with err set and the old configuration
 * still in force. */
static int
apply_config(struct config *c, char *err, size_t errlen)
{
	struct config *old;
	char why[1024];

	if (c->smtp_sink == SINK_MAILDIR && spool_maildir_prepare(c->smtp_maildir, err, errlen) != 0) {
		config_unref(c);
		return -1;
	}
	old = server_config(&g.srv);
	warn_restart_only(old, c);
	if (strcmp(c->log_target, old->log_target) != 0 || c->log_format != old->log_format) {
		if (log_open(c->log_target, c->log_format, why, sizeof why) != 0)
			log_error("reload: %s; keeping the old log target", why);
	} else
		log_reopen();
	listeners_set_config(g.listeners, c);
	server_config_swap(&g.srv, c);
	pool_reconfigure(g.pool, c);
	rdns_log(c);
	config_unref(old);
	return 0;
}

static void
reload(void)
{
	char err[1024];
	struct config *c = ctlcmd_load(&g.ctl, &g.ctl.rt, err, sizeof err);

	if (c == NULL || apply_config(c, err, sizeof err) != 0) {
		log_error("reload failed, the old configuration stays in force: %s", err);
		return;
	}
	log_info("reload: configuration %s loaded", g.conf_path ? g.conf_path : "(defaults)");
}

/* Every change a control front end made (the socket, the live page):
 * one line, in one place, so that whatever else wants to know about
 * changes is fed from here. */
static void
control_changed(const char *line, const char *origin)
{
	log_info("control: %s (from %s)", line, origin);
	live_note_change(g.live, line, origin);	/* the live page's list of changes */
}

static void
control_rejected(const char *line, const char *origin, const char *why)
{
	log_error("control: rejected: %s (from %s): %s", line, origin, why);
}

static struct config *
control_current(void)
{
	return server_config(&g.srv);
}

/* bannerctl stats: SIGUSR1's figures, as the body. */
static void
control_stats(struct evbuffer *out)
{
	struct metrics_gauges gauges;
	struct metrics *m = collect(&gauges);
	char line[2048];

	if (m == NULL) {
		evbuffer_add_printf(out, "out of memory\n");
		return;
	}
	metrics_summary(m, &gauges, line, sizeof line);
	evbuffer_add_printf(out, "%s\n", line);
	metrics_free(m);
}

/* server.control_socket: made before the privileges go (the directory
 * may be root's) and given to server.user, so that the daemon's user
 * owns it; mode 0600. */
static int
control_open(const struct config *c, char *err, size_t errlen)
{
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	struct passwd *pw;

	if (c->server_control_socket[0] == '\0')
		return 0;
	if (c->server_user[0] != '\0' && (pw = getpwnam(c->server_user)) != NULL && geteuid() == 0) {
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	g.control = control_start(g.base, c->server_control_socket, 0600, uid, gid, bannerd_control,
	    &g.ctl, err, errlen);
	if (g.control == NULL)
		return 1;
	log_info("control socket: %s", c->server_control_socket);
	return 0;
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct config *c;

	switch (sig) {
	case SIGHUP:
		reload();
		break;
	case SIGUSR1:
		log_metrics();
		break;
	default:
		if (g.stopping) {
			log_info("shutdown: %s received again, closing %u sessions now",
			    strsignal((int)sig), pool_sessions(g.pool));
			pool_drain(g.pool, 0);
			return;
		}
		g.stopping = 1;
		c = server_config(&g.srv);
		/* Closed before the line is logged: whoever reads it may rely
		 * on new connections being refused. */
		listeners_close(g.listeners);
		g.listeners = NULL;
		log_info("shutdown: %s received, not accepting, draining %u sessions for up to %llu ms",
		    strsignal((int)sig), pool_sessions(g.pool),
		    (unsigned long long)(c->server_shutdown_timeout_us / 1000));
		pool_drain(g.pool, c->server_shutdown_timeout_us);
		config_unref(c);
		break;
	}
}

/* Workers exit when retired by a shrink, or at the end of a drain. */
static void
worker_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	if (read(fd, &n, sizeof n) < 0)
		return;
	if (pool_reap(g.pool) == 0 && g.stopping)
		event_base_loopbreak(g.base);
}

static void
admission_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	if (read(fd, &n, sizeof n) >= 0 && g.listeners != NULL && pool_queue_has_room(g.pool))
		listeners_resume(g.listeners);
}

static struct config *
load_or_exit(void)
{
	char err[1024];
	struct config *c = config_load(g.conf_path, g.overrides, g.n_overrides, err, sizeof err);

	if (c == NULL) {
		fprintf(stderr, "bannerd: %s\n", err);
		exit(2);
	}
	if (g.check_only && c->server_user[0] != '\0' && getpwnam(c->server_user) == NULL) {
		fprintf(stderr, "bannerd: server.user: no such user '%s'\n", c->server_user);
		exit(2);
	}
	if (g.check_only) {
		printf("bannerd: configuration %s ok\n", g.conf_path ? g.conf_path : "(defaults)");
		config_unref(c);
		exit(0);
	}
	return c;
}

static void
rdns_log(const struct config *c)
{
	char list[CONF_STR_MAX];
	int fallback;
	unsigned servers;
	uint64_t worst;

	if (!config_rdns_active(c)) {
		log_info("rdns: off (rdns.enabled = %s, protocol_log = %s)",
		    c->rdns_enabled == RDNS_OFF ? "off" : "auto", config_plog_name(c->log_protocol_log));
		return;
	}
	/* The servers c-ares really asks, not the setting: an empty
	 * rdns.servers means resolv.conf's, or c-ares's silent 127.0.0.1. */
	servers = rdns_servers_in_force(c, list, sizeof list, &fallback);
	worst = rdns_worst_case_us(servers, c->rdns_timeout_us, (unsigned)c->rdns_tries);
	if (fallback)
		log_error("rdns: warning: /etc/resolv.conf names no nameserver and rdns.servers is empty: "
		    "c-ares falls back to %s; set rdns.servers", list);
	log_info("rdns: on (rdns.enabled = %s%s); servers %s (%s); timeout %llu ms x %llu tries: "
	    "worst case per lookup %llu ms = %u server(s) x %llu ms x (2^%llu - 1)%s",
	    c->rdns_enabled == RDNS_ON ? "on" : "auto, because the protocol log is on", "",
	    list, c->rdns_servers[0] ? "rdns.servers" : fallback ? "c-ares fallback" : "from resolv.conf",
	    (unsigned long long)(c->rdns_timeout_us / 1000), (unsigned long long)c->rdns_tries,
	    (unsigned long long)(worst / 1000), servers ? servers : 1,
	    (unsigned long long)(c->rdns_timeout_us / 1000), (unsigned long long)c->rdns_tries,
	    c->rdns_forward_confirm ? "; twice that with forward confirmation" : "");
}

static void
startup_log(const struct config *c)
{
	log_info("bannerd %s starting: pid=%ld workers=%llu max_sessions=%llu protocol_log=%s "
	    "sink=%s banner.delay=%llu us", BANNERD_VERSION, (long)getpid(),
	    (unsigned long long)c->pool_workers, (unsigned long long)c->listen_max_sessions,
	    config_plog_name(c->log_protocol_log),
	    c->smtp_sink == SINK_MAILDIR ? "maildir" : "discard",
	    (unsigned long long)c->banner_delay_us);
	rdns_log(c);
}

int
main(int argc, char **argv)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct event *sig_ev[4], *exit_ev, *admission_ev;
	char err[1024];
	struct config *c;
	int rc;

	parse_args(argc, argv);
	c = load_or_exit();
	g.log_to_stderr = strcmp(c->log_target, "stderr") == 0;
	if (g.daemonize)
		daemonize();
	signal(SIGPIPE, SIG_IGN);
	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		g.log_to_stderr = 1;	/* no log yet: stderr is where it goes */
		rc = startup_fail(1, "c-ares initialisation failed");
		goto fail;
	}
	if (log_open(c->log_target, c->log_format, err, sizeof err) != 0) {
		g.log_to_stderr = 1;
		rc = startup_fail(2, err);
		goto fail;
	}
	startup_log(c);
	g.ctl = (struct ctlcmd){ .conf_path = g.conf_path, .overrides = g.overrides,
	    .n_overrides = g.n_overrides, .current = control_current, .apply = apply_config,
	    .stats = control_stats, .changed = control_changed, .rejected = control_rejected };
	runtime_init(&g.ctl.rt);
	g.base = event_base_new();
	if (g.base == NULL) {
		rc = startup_fail(1, "cannot create the main event loop");
		goto fail;
	}
	g.listeners = listeners_bind(c, err, sizeof err);
	rc = g.listeners == NULL ? 1 : control_open(c, err, sizeof err);
	if (rc == 0)
		rc = drop_privileges(c->server_user, err, sizeof err);
	if (rc == 0 && c->smtp_sink == SINK_MAILDIR &&
	    (spool_maildir_prepare(c->smtp_maildir, err, sizeof err) != 0 ||
	    spool_maildir_startup(c->smtp_maildir, c->banner_hostname, err, sizeof err) != 0))
		rc = 1;
	if (rc != 0) {
		startup_fail(rc, err);
		goto fail;
	}
	write_pidfile(c->server_pidfile);
	server_init(&g.srv, c);
	g.metrics = metrics_new();
	/* before the workers: they read srv.live without a lock */
	g.srv.live = g.live = live_new(c->metrics_live_buffer);
	g.pool = pool_start(&g.srv, c, err, sizeof err);
	if (g.base == NULL || g.pool == NULL || g.metrics == NULL || g.live == NULL)
		return startup_fail(1, g.pool == NULL ? err : "cannot create the main event loop");
	/* Handlers before "listening on" is logged: whoever waits for that
	 * line may signal at once, and SIGHUP's default action kills. */
	for (size_t i = 0; i < 4; i++) {
		sig_ev[i] = evsignal_new(g.base, sigs[i], signal_cb, NULL);
		evsignal_add(sig_ev[i], NULL);
	}
	if (listeners_start(g.listeners, g.base, &g.srv, g.pool, g.metrics, err, sizeof err) != 0)
		return startup_fail(1, err);
	snprintf(g.metrics_listen, sizeof g.metrics_listen, "%s", c->metrics_listen);
	if (g.metrics_listen[0] != '\0' &&
	    (g.exporter = exporter_start(g.base, c, exporter_collect_cb, exporter_live_cb, NULL,
	    bannerd_control, &g.ctl, err, sizeof err)) == NULL)
		return startup_fail(1, err);
	/* One line once every listener and the metrics endpoint are up:
	 * what scripts and tests wait for. */
	log_info("ready to accept connections");
	daemon_ready();
	exit_ev = event_new(g.base, pool_exit_fd(g.pool), EV_READ | EV_PERSIST, worker_exit_cb, NULL);
	admission_ev = event_new(g.base, pool_admission_fd(g.pool), EV_READ | EV_PERSIST, admission_cb, NULL);
	event_add(exit_ev, NULL);
	event_add(admission_ev, NULL);
	event_base_dispatch(g.base);

	pool_join(g.pool);
	event_free(exit_ev);
	event_free(admission_ev);
	exporter_stop(g.exporter);
	control_stop(g.control);
	runtime_free(&g.ctl.rt);
	metrics_free(g.metrics);
	g.srv.live = NULL;
	live_free(g.live);
	log_info("stopped");
	for (size_t i = 0; i < 4; i++)
		event_free(sig_ev[i]);
	listeners_close(g.listeners);
	event_base_free(g.base);
	if (g.pidfile[0] != '\0')
		unlink(g.pidfile);
	server_destroy(&g.srv);
	ares_library_cleanup();
	log_close();
	return 0;

fail:
	/* Before server_init, nothing but these is held; a failure after it
	 * (pool, event loop, metrics endpoint) exits with threads running. */
	listeners_close(g.listeners);
	control_stop(g.control);
	if (g.base != NULL)
		event_base_free(g.base);
	config_unref(c);
	ares_library_cleanup();
	log_close();
	return rc;
}
