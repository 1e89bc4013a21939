/* smtpprobe: time to connect and time to banner, as a connecting MTA sees
 * them, one probe or a load. Argument parsing and start-up only; the work
 * is in engine.c, the verdicts in outcome.c, the output in report.c. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "engine.h"
#include "expect.h"
#include "merge.h"
#include "outcome.h"
#include "report.h"
#include "units.h"

#define EXPECT_MAX 32
#define THREADS_MAX 64

struct options {
	struct probe_config cfg;
	const char *json_path;
	const char *csv_path;
	const char *profile;
	struct probe_expect expects[EXPECT_MAX];
	unsigned nexpects;
	bool quiet;
	int progress;		/* --progress 1, --no-progress 0, -1: stderr is a terminal */
	char client[256];
	bool set_attempts, set_give_up, set_retries, set_retry_after;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: smtpprobe [options] HOST[:PORT]      (numeric address, default port 25)\n"
	    "       smtpprobe merge [--json FILE|-] [--expect EXPR]... [-q] FILE...\n"
	    "  -n, --connections N       attempts in total (default 1)\n"
	    "  -c, --concurrency C       closed loop: keep C attempts in flight\n"
	    "  -r, --rate R              open loop: start R attempts per second on schedule\n"
	    "  -d, --duration DUR        stop starting attempts after DUR\n"
	    "  -m, --mode banner|session|idle\n"
	    "      --size BYTES          session mode message size (default 1k)\n"
	    "      --hold DUR            idle mode: hold each greeted connection (default 10s)\n"
	    "      --give-up DUR         greeting timeout of the emulated connecting host\n"
	    "      --retries K           tries after a give-up; all given up: ndr\n"
	    "      --retry-after DUR[,DUR...]  waits before each retry (last repeats)\n"
	    "      --retry-tempfail      retry after a 4xx too (greylisting); the last bounces: ndr\n"
	    "      --profile NAME|list   greeting timeout and retries of a known MTA\n"
	    "      --source ADDR[/PREFIX]  bind connections to these addresses in turn\n"
	    "      --proxy v1|v2         send a PROXY protocol header first (bannerd listen.proxy_protocol)\n"
	    "      --proxy-source ADDR[/PREFIX]  the clients the headers name, in turn\n"
	    "      --connect-timeout DUR (default 30s)  --timeout DUR  replies after the greeting (default 300s)\n"
	    "      --helo NAME           EHLO name in session mode\n"
	    "      --json FILE|-         summary as one JSON object (with lossless histograms)\n"
	    "      --client NAME         this run's name in a merge (default: the host's name)\n"
	    "      --csv FILE|-          one row per try\n"
	    "      --expect EXPR         e.g. 'banner.p99<=200ms'; repeatable; exit 1 if one fails\n"
	    "  -t, --threads N           event loops (threads) to spread the load over\n"
	    "  -q, --quiet               no human summary\n"
	    "      --progress, --no-progress  the status line on stderr each second\n"
	    "                            (default: on when stderr is a terminal)\n"
	    "      --grace DUR           after Ctrl-C, for the attempts in flight (default 2s)\n"
	    "Ctrl-C (SIGINT) or SIGTERM: no new attempts, the summary of what was done;\n"
	    "a second one exits at once (status 130).\n");
}

static int fail_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
fail_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "smtpprobe: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(smtpprobe --help for the options)\n");
	return -1;
}

/* A duration option; zero refused where it would mean "never". The
 * message says why, as the daemon's configuration does: a bare "5"
 * gets "did you mean 5ms or 5s?". */
static int
parse_duration_opt(const char *opt, const char *arg, uint64_t *us, bool nonzero)
{
	char why[128];

	if (units_parse_duration(arg, us) == 0 && (!nonzero || *us > 0))
		return 0;
	if (units_parse_duration(arg, us) == 0)
		return fail_usage("bad %s '%s': it must be more than 0", opt, arg);
	units_duration_problem(arg, why, sizeof why);
	return fail_usage("bad %s: %s", opt, why);
}

static int
parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	uint64_t v;

	if (parse_count(s, min, max, &v) != 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int
parse_rate(const char *s, double *out)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || end == s || !(v > 0) || v > 1e7)
		return -1;
	*out = v;
	return 0;
}

static void
profile_list(void)
{
	const struct probe_profile *p;
	char buf[32];

	printf("%-14s %-9s %-7s %-18s %s\n", "profile", "give-up", "retries", "retry-after", "source");
	for (size_t i = 0; (p = probe_profile_at(i)) != NULL; i++) {
		units_format_duration(p->give_up_us, buf, sizeof buf);
		printf("%-14s %-9s %-7u %-18s %s\n", p->name, buf, p->retries, p->retry_after, p->source);
	}
}

/* The profile sets defaults; explicit --give-up/--retries/--retry-after
 * win whatever their place on the command line. */
static int
apply_profile(struct options *o)
{
	const struct probe_profile *p = probe_profile_find(o->profile);
	struct probe_retry r;

	if (p == NULL)
		return fail_usage("unknown profile '%s' (smtpprobe --profile list)", o->profile);
	if (!o->set_give_up)
		o->cfg.give_up_us = p->give_up_us;
	if (!o->set_retries)
		o->cfg.retry.retries = p->retries;
	if (!o->set_retry_after) {
		if (probe_retry_parse(p->retry_after, &r) != 0)
			return fail_usage("profile '%s' has a bad retry schedule", p->name);
		r.retries = o->cfg.retry.retries;
		r.tempfail = o->cfg.retry.tempfail;
		o->cfg.retry = r;
	}
	return 0;
}

enum {
	OPT_SIZE = 256, OPT_HOLD, OPT_GIVE_UP, OPT_RETRIES, OPT_RETRY_AFTER, OPT_PROFILE,
	OPT_SOURCE, OPT_PROXY, OPT_PROXY_SOURCE, OPT_JSON, OPT_CSV, OPT_EXPECT, OPT_CONNECT_TIMEOUT,
	OPT_TIMEOUT, OPT_HELO, OPT_CLIENT, OPT_RETRY_TEMPFAIL, OPT_PROGRESS, OPT_NO_PROGRESS, OPT_GRACE,
};

static const struct option long_opts[] = {
	{ "connections", required_argument, NULL, 'n' },
	{ "concurrency", required_argument, NULL, 'c' },
	{ "rate", required_argument, NULL, 'r' },
	{ "duration", required_argument, NULL, 'd' },
	{ "mode", required_argument, NULL, 'm' },
	{ "threads", required_argument, NULL, 't' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "hold", required_argument, NULL, OPT_HOLD },
	{ "give-up", required_argument, NULL, OPT_GIVE_UP },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "retry-after", required_argument, NULL, OPT_RETRY_AFTER },
	{ "retry-tempfail", no_argument, NULL, OPT_RETRY_TEMPFAIL },
	{ "profile", required_argument, NULL, OPT_PROFILE },
	{ "source", required_argument, NULL, OPT_SOURCE },
	{ "proxy", required_argument, NULL, OPT_PROXY },
	{ "proxy-source", required_argument, NULL, OPT_PROXY_SOURCE },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "expect", required_argument, NULL, OPT_EXPECT },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "helo", required_argument, NULL, OPT_HELO },
	{ "client", required_argument, NULL, OPT_CLIENT },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ NULL, 0, NULL, 0 },
};

static int
parse_mode(const char *s, enum probe_mode *m)
{
	if (strcmp(s, "banner") == 0)
		*m = MODE_BANNER;
	else if (strcmp(s, "session") == 0)
		*m = MODE_SESSION;
	else if (strcmp(s, "idle") == 0)
		*m = MODE_IDLE;
	else
		return -1;
	return 0;
}

static int
add_expect(struct options *o, const char *text)
{
	char err[160];

	if (o->nexpects == EXPECT_MAX)
		return fail_usage("at most %s --expect options", "32");
	if (probe_expect_parse(text, &o->expects[o->nexpects], err, sizeof err) != 0) {
		fprintf(stderr, "smtpprobe: --expect '%s': %s\n", text, err);
		return -1;
	}
	o->nexpects++;
	return 0;
}

/* One option; returns 0, 1 for "exit 0 now", -1 for a usage error. */
static int
parse_one(struct options *o, int ch, const char *arg)
{
	struct probe_config *c = &o->cfg;
	uint64_t v;

	switch (ch) {
	case 'n':
		o->set_attempts = true;
		return parse_count(arg, 1, UINT64_MAX / 2, &c->attempts) ? fail_usage("bad -n '%s'", arg) : 0;
	case 'c':
		return parse_uint(arg, 1, 1000000, &c->concurrency) ? fail_usage("bad -c '%s'", arg) : 0;
	case 'r':
		return parse_rate(arg, &c->rate) ? fail_usage("bad -r '%s' (attempts per second, > 0)", arg) : 0;
	case 'd':
		return parse_duration_opt("-d", arg, &c->duration_us, true);
	case 'm':
		return parse_mode(arg, &c->mode) ? fail_usage("bad -m '%s' (banner, session or idle)", arg) : 0;
	case 't':
		return parse_uint(arg, 1, THREADS_MAX, &c->threads) ? fail_usage("bad -t '%s' (1 to 64)", arg) : 0;
	case 'q':
		o->quiet = true;
		return 0;
	case 'h':
		usage(stdout);
		return 1;
	case OPT_SIZE:
		return units_parse_size(arg, &c->size) ? fail_usage("bad --size '%s'", arg) : 0;
	case OPT_HOLD:
		return parse_duration_opt("--hold", arg, &c->hold_us, false);
	case OPT_GIVE_UP:
		o->set_give_up = true;
		return parse_duration_opt("--give-up", arg, &c->give_up_us, true);
	case OPT_RETRIES:
		o->set_retries = true;
		if (parse_count(arg, 0, 1000, &v) != 0)
			return fail_usage("bad --retries '%s' (0 to 1000)", arg);
		c->retry.retries = (unsigned)v;
		return 0;
	case OPT_RETRY_AFTER: {
		unsigned keep = c->retry.retries;
		bool keep_tempfail = c->retry.tempfail;
		o->set_retry_after = true;
		if (probe_retry_parse(arg, &c->retry) != 0)
			return fail_usage("bad --retry-after '%s' (durations, comma-separated)", arg);
		c->retry.retries = keep;
		c->retry.tempfail = keep_tempfail;
		return 0;
	}
	case OPT_RETRY_TEMPFAIL:
		c->retry.tempfail = true;
		return 0;
	case OPT_PROFILE:
		if (strcmp(arg, "list") == 0) {
			profile_list();
			return 1;
		}
		o->profile = arg;
		return 0;
	case OPT_SOURCE:
		c->use_source = true;
		return probe_source_parse(arg, &c->source) ? fail_usage("bad --source '%s' (ADDR or ADDR/PREFIX)", arg) : 0;
	case OPT_PROXY:
		if (strcmp(arg, "v1") != 0 && strcmp(arg, "v2") != 0)
			return fail_usage("bad --proxy '%s' (v1 or v2)", arg);
		c->proxy_version = arg[1] - '0';
		return 0;
	case OPT_PROXY_SOURCE:
		c->use_proxy_source = true;
		if (probe_source_parse(arg, &c->proxy_source) != 0)
			return fail_usage("bad --proxy-source '%s' (ADDR or ADDR/PREFIX)", arg);
		probe_source_all(&c->proxy_source);	/* claimed, never bound */
		return 0;
	case OPT_JSON:
		o->json_path = arg;
		return 0;
	case OPT_CSV:
		o->csv_path = arg;
		return 0;
	case OPT_EXPECT:
		return add_expect(o, arg);
	case OPT_CONNECT_TIMEOUT:
		return parse_duration_opt("--connect-timeout", arg, &c->connect_timeout_us, true);
	case OPT_TIMEOUT:
		return parse_duration_opt("--timeout", arg, &c->timeout_us, true);
	case OPT_HELO:
		c->helo = arg;
		return strlen(arg) > 255 || strpbrk(arg, "\r\n ") ? fail_usage("bad --helo '%s'", arg) : 0;
	case OPT_PROGRESS:
	case OPT_NO_PROGRESS:
		o->progress = ch == OPT_PROGRESS;
		return 0;
	case OPT_GRACE:
		return parse_duration_opt("--grace", arg, &c->grace_us, false);
	case OPT_CLIENT:
		if (strlen(arg) >= sizeof o->client)
			return fail_usage("bad --client '%s' (at most 255 bytes)", arg);
		snprintf(o->client, sizeof o->client, "%s", arg);
		return 0;
	default:
		usage(stderr);
		return -1;
	}
}

/* Every --expect names a figure that exists: a typo is a usage error
 * before the run, not a failure after it. */
static int
check_expect_names(const struct options *o)
{
	struct probe_metric m[PROBE_METRICS_MAX];
	struct probe_result *empty;
	char err[160];
	double dummy;

	if ((empty = probe_result_new()) == NULL)
		return fail_usage("%s", "out of memory");
	size_t n = probe_metrics(empty, o->cfg.give_up_us, m);
	probe_result_free(empty);
	for (unsigned i = 0; i < o->nexpects; i++) {
		if (probe_expect_eval(&o->expects[i], m, n, &dummy, err, sizeof err) < 0) {
			fprintf(stderr, "smtpprobe: --expect '%s': %s\n", o->expects[i].text, err);
			return -1;
		}
	}
	return 0;
}

/* Cross-option rules, checked once everything is read. */
static int
finish_options(struct options *o)
{
	struct probe_config *c = &o->cfg;

	if (o->profile && apply_profile(o) != 0)
		return -1;
	if (o->client[0] == '\0' && gethostname(o->client, sizeof o->client - 1) != 0)
		o->client[0] = '\0';
	c->client = o->client;
	if (c->retry.retries > 0 && c->give_up_us == 0 && !c->retry.tempfail)
		return fail_usage("%s needs --give-up or --retry-tempfail (a retry follows a give-up or a 4xx)",
		    "--retries");
	if (c->use_proxy_source && c->proxy_version == 0)
		return fail_usage("%s needs --proxy v1|v2", "--proxy-source");
	/* a PROXY header names one family for both ends */
	if (c->use_proxy_source && c->proxy_source.family != c->target.ss.ss_family)
		return fail_usage("%s", "--proxy-source and the target must both be IPv4 or both IPv6");
	if (!o->set_attempts)
		c->attempts = c->duration_us ? 0 : 1;
	if (c->rate <= 0 && c->threads > (c->concurrency ? c->concurrency : 1))
		c->threads = c->concurrency ? c->concurrency : 1;
	c->keep_tries = o->csv_path != NULL;
	/* The status line goes to stderr, where a person running the probe
	 * in a terminal looks; pipes, files and the lab get none of it. */
	c->progress = o->progress < 0 ? isatty(STDERR_FILENO) == 1 : o->progress == 1;
	return check_expect_names(o);
}

static int
parse_args(struct options *o, int argc, char **argv)
{
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "n:c:r:d:m:t:qh", long_opts, NULL)) != -1)
		if ((rc = parse_one(o, ch, optarg)) != 0)
			return rc;
	if (optind != argc - 1)
		return fail_usage("%s", "give exactly one target, HOST[:PORT]");
	if (addr_parse(argv[optind], 25, &o->cfg.target) != 0)
		return fail_usage("bad target '%s' (a numeric address: 127.0.0.1:2525, [::1]:25)", argv[optind]);
	return finish_options(o);
}

static FILE *
open_out(const char *path)
{
	if (strcmp(path, "-") == 0)
		return stdout;
	FILE *f = fopen(path, "w");
	if (f == NULL)
		fprintf(stderr, "smtpprobe: cannot write %s: %s\n", path, strerror(errno));
	return f;
}

/* Ends what open_out opened: standard output is flushed, a file closed. */
static int
close_out(FILE *f, const char *path)
{
	if (f == stdout)
		return fflush(f) == 0 ? 0 : -1;
	if (fclose(f) != 0) {
		fprintf(stderr, "smtpprobe: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
write_out(const char *path, const struct options *o, const struct probe_result *res, bool json)
{
	FILE *f = open_out(path);

	if (f == NULL)
		return -1;
	if (json)
		probe_report_json(f, &o->cfg, res);
	else
		probe_report_csv(f, res);
	return close_out(f, path);
}

/* Returns how many expectations failed (or could not be evaluated). */
static unsigned
check_expects(const struct options *o, const struct probe_result *res, FILE *f)
{
	struct probe_metric m[PROBE_METRICS_MAX];
	size_t n = probe_metrics(res, o->cfg.give_up_us, m);
	unsigned failed = 0;
	char err[160];
	double actual = 0;

	for (unsigned i = 0; i < o->nexpects; i++) {
		int ok = probe_expect_eval(&o->expects[i], m, n, &actual, err, sizeof err);
		if (ok != 1)
			failed++;
		if (ok < 0)
			fprintf(stderr, "smtpprobe: expect %s: %s\n", o->expects[i].text, err);
		else if (ok == 0 || !o->quiet)
			fprintf(ok ? f : stderr, "expect %s: %s (actual %.6g)\n", o->expects[i].text,
			    ok ? "pass" : "FAIL", actual);
	}
	return failed;
}

/* ---- smtpprobe merge FILE... ---- */

static const struct option merge_opts[] = {
	{ "json", required_argument, NULL, OPT_JSON },
	{ "expect", required_argument, NULL, OPT_EXPECT },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Reads a whole file; NULL with a message on stderr. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (f == NULL) {
		fprintf(stderr, "smtpprobe merge: cannot read %s: %s\n", path, strerror(errno));
		return NULL;
	}
	do {
		if (n == cap) {
			char *p = realloc(buf, cap = cap ? cap * 2 : 65536);
			if (p == NULL) {
				fprintf(stderr, "smtpprobe merge: %s: out of memory\n", path);
				goto fail;
			}
			buf = p;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	if (ferror(f)) {
		fprintf(stderr, "smtpprobe merge: cannot read %s\n", path);
		goto fail;
	}
	fclose(f);
	*len = n;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

static int
merge_parse(struct options *o, int argc, char **argv)
{
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "qh", merge_opts, NULL)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			return 1;
		}
		if (ch != OPT_JSON && ch != OPT_EXPECT && ch != 'q')
			return fail_usage("%s", "smtpprobe merge takes --json, --expect and -q, then files");
		if (parse_one(o, ch, optarg) != 0)
			return -1;
	}
	if (optind >= argc)
		return fail_usage("%s", "merge: give the --json files of the runs to merge");
	return check_expect_names(o);
}

/* Every file is read and checked before anything is printed: a bad one
 * is an error (exit 2), never silently left out of the figures. */
static int
merge_files(struct probe_merge *m, int n, char **files)
{
	char err[512];

	for (int i = 0; i < n; i++) {
		size_t len = 0;
		char *text = slurp(files[i], &len);
		if (text == NULL)
			return -1;
		int rc = probe_merge_add(m, files[i], text, len, err, sizeof err);
		free(text);
		if (rc != 0) {
			fprintf(stderr, "smtpprobe merge: %s\n", err);
			return -1;
		}
	}
	probe_merge_finish(m);
	return 0;
}

static int
merge_write_json(const char *path, const struct probe_merge *m)
{
	FILE *f = open_out(path);

	if (f == NULL)
		return -1;
	probe_report_json_merged(f, m);
	return close_out(f, path);
}

static int
merge_main(int argc, char **argv)
{
	static struct options o;
	struct probe_merge m;
	int rc;

	if ((rc = merge_parse(&o, argc, argv)) != 0)
		return rc > 0 ? 0 : 2;
	if (probe_merge_init(&m) != 0) {
		fprintf(stderr, "smtpprobe merge: out of memory\n");
		return 1;
	}
	if (merge_files(&m, argc - optind, argv + optind) != 0) {
		probe_merge_free(&m);
		return 2;
	}
	o.cfg.give_up_us = m.give_up_us;
	FILE *human = o.json_path && strcmp(o.json_path, "-") == 0 ? stderr : stdout;
	rc = 0;
	if (!o.quiet)
		probe_report_human_merged(human, &m);
	if (o.json_path && merge_write_json(o.json_path, &m) != 0)
		rc = 1;
	if (check_expects(&o, m.res, human) > 0)
		rc = 1;
	probe_merge_free(&m);
	return rc;
}

int
main(int argc, char **argv)
{
	static struct options o;	/* large (the expectations); zeroed */
	int rc;

	if (argc > 1 && strcmp(argv[1], "merge") == 0)
		return merge_main(argc - 1, argv + 1);

	o.cfg.connect_timeout_us = 30000000;	/* Postfix smtp_connect_timeout */
	o.cfg.timeout_us = 300000000;		/* RFC 5321 4.5.3.2 */
	o.cfg.hold_us = 10000000;
	o.cfg.size = 1024;
	o.cfg.threads = 1;
	o.cfg.helo = "smtpprobe.invalid";
	o.cfg.grace_us = 2000000;
	o.progress = -1;
	if ((rc = parse_args(&o, argc, argv)) != 0)
		return rc > 0 ? 0 : 2;
	struct probe_result *res = probe_result_new();
	if (res == NULL || probe_run(&o.cfg, res) != 0) {
		fprintf(stderr, "smtpprobe: the run failed\n");
		probe_result_free(res);
		return 1;
	}
	bool stdout_taken = (o.json_path && strcmp(o.json_path, "-") == 0) ||
	    (o.csv_path && strcmp(o.csv_path, "-") == 0);
	FILE *human = stdout_taken ? stderr : stdout;
	rc = 0;
	if (!o.quiet)
		probe_report_human(human, &o.cfg, res);
	if (o.json_path && write_out(o.json_path, &o, res, true) != 0)
		rc = 1;
	if (o.csv_path && write_out(o.csv_path, &o, res, false) != 0)
		rc = 1;
	if (check_expects(&o, res, human) > 0)
		rc = 1;
	probe_result_free(res);
	return rc;
}
