#include "report.h"

#include <inttypes.h>
#include <string.h>

#include "giveup.h"
#include "merge.h"
#include "units.h"

/* Figures of one stage, in JSON and --expect order. */
static const struct {
	const char *name;
	double pct;		/* > 0: a percentile */
} figures[] = {
	{ "p50", 50.0 }, { "p90", 90.0 }, { "p99", 99.0 }, { "p999", 99.9 },
	{ "max", 0 }, { "min", 0 }, { "mean", 0 }, { "count", 0 },
};
#define NFIGURES (sizeof figures / sizeof figures[0])

static double
figure_value(const struct histogram *h, size_t i)
{
	if (figures[i].pct > 0)
		return (double)hist_percentile(h, figures[i].pct);
	if (strcmp(figures[i].name, "max") == 0)
		return (double)hist_max(h);
	if (strcmp(figures[i].name, "min") == 0)
		return (double)hist_min(h);
	if (strcmp(figures[i].name, "mean") == 0)
		return hist_mean(h);
	return (double)hist_count(h);
}

const char *
probe_mode_name(enum probe_mode m)
{
	return m == MODE_SESSION ? "session" : m == MODE_IDLE ? "idle" : "banner";
}

static double
run_rate(const struct probe_result *res)
{
	return res->elapsed_us ? (double)res->attempts * 1e6 / (double)res->elapsed_us : 0.0;
}

static void
metric_add(struct probe_metric *out, size_t *n, const char *name, double v, bool dur)
{
	if (*n >= PROBE_METRICS_MAX)
		return;
	snprintf(out[*n].name, sizeof out[*n].name, "%s", name);
	out[*n].value = v;
	out[*n].duration = dur;
	(*n)++;
}

/* The who-would-give-up matrix of a run: every try that connected. */
static size_t
run_giveup(const struct probe_result *res, uint64_t give_up_us, struct probe_giveup *g)
{
	/* Rows, when kept, make the counts exact; rows == tries then. */
	struct probe_banners b = { &res->stage[STAGE_BANNER], NULL, 0 };

	if (res->giveup != NULL) {
		size_t n = res->ngiveup < PROBE_GIVEUP_MAX ? res->ngiveup : PROBE_GIVEUP_MAX;
		memcpy(g, res->giveup, n * sizeof *g);
		return n;
	}
	if (res->nrows > 0 && res->nrows == res->tries) {
		b.rows = res->rows;
		b.nrows = res->nrows;
	}
	return probe_giveup_matrix(&b, res->try_outcome[OUTCOME_GAVE_UP], give_up_us, g, PROBE_GIVEUP_MAX);
}

size_t
probe_metrics(const struct probe_result *res, uint64_t give_up_us, struct probe_metric *out)
{
	size_t n = 0;
	char name[32];

	metric_add(out, &n, "attempts", (double)res->attempts, false);
	metric_add(out, &n, "tries", (double)res->tries, false);
	metric_add(out, &n, "rate", run_rate(res), false);
	metric_add(out, &n, "elapsed_us", (double)res->elapsed_us, true);
	metric_add(out, &n, "banner_masked", (double)res->banner_masked, false);
	metric_add(out, &n, "ehlo_refused", (double)res->ehlo_refused, false);
	metric_add(out, &n, "ehlo_masked", (double)res->ehlo_masked, false);
	for (int s = 0; s < STAGE_COUNT; s++) {
		for (size_t i = 0; i < NFIGURES; i++) {
			snprintf(name, sizeof name, "%s.%s", probe_stage_name(s), figures[i].name);
			metric_add(out, &n, name, figure_value(&res->stage[s], i),
			    strcmp(figures[i].name, "count") != 0);
		}
	}
	for (int o = 0; o < OUTCOME_COUNT; o++) {
		snprintf(name, sizeof name, "outcome.%s", probe_outcome_name(o));
		metric_add(out, &n, name, (double)res->outcome[o], false);
		snprintf(name, sizeof name, "try_outcome.%s", probe_outcome_name(o));
		metric_add(out, &n, name, (double)res->try_outcome[o], false);
	}
	struct probe_giveup g[PROBE_GIVEUP_MAX];
	size_t ng = run_giveup(res, give_up_us, g);
	for (size_t i = 0; i < ng; i++) {
		snprintf(name, sizeof name, "would_give_up.%s", g[i].profile);
		metric_add(out, &n, name, g[i].share, false);
	}
	return n;
}

/* ---- JSON ---- */

static void
json_stage(FILE *f, const char *name, const struct histogram *h)
{
	fprintf(f, "  \"%s\": {", name);
	for (size_t i = 0; i < NFIGURES; i++) {
		double v = figure_value(h, i);
		if (strcmp(figures[i].name, "mean") == 0)
			fprintf(f, "%s\"%s\": %.1f", i ? ", " : "", figures[i].name, v);
		else
			fprintf(f, "%s\"%s\": %.0f", i ? ", " : "", figures[i].name, v);
	}
	fprintf(f, "},\n");
}

static void
json_outcomes(FILE *f, const char *name, const uint64_t *counts, bool last)
{
	fprintf(f, "  \"%s\": {", name);
	for (int o = 0; o < OUTCOME_COUNT; o++)
		fprintf(f, "%s\"%s\": %" PRIu64, o ? ", " : "", probe_outcome_name(o), counts[o]);
	fprintf(f, "}%s\n", last ? "" : ",");
}

/* "would_give_up": {profile: share}, and the counts behind each share. */
static void
json_giveup(FILE *f, const struct probe_result *res, uint64_t give_up_us)
{
	struct probe_giveup g[PROBE_GIVEUP_MAX];
	size_t n = run_giveup(res, give_up_us, g);

	fprintf(f, "  \"would_give_up\": {");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\"%s\": %.4f", i ? ", " : "", g[i].profile, g[i].share);
	fprintf(f, "},\n  \"would_give_up_detail\": {");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\n    \"%s\": {\"threshold_us\": %" PRIu64 ", \"over\": %" PRIu64
		    ", \"unknown\": %" PRIu64 ", \"of\": %" PRIu64 "}", i ? "," : "", g[i].profile,
		    g[i].threshold_us, g[i].over, g[i].unknown, g[i].of);
	fprintf(f, "\n  },\n");
}

/* A JSON string's body: what smtpprobe itself writes needs no more than
 * quotes, backslashes and control bytes escaped. */
static void
json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* "histograms": every stage's buckets, lossless, so that `smtpprobe
 * merge` can add runs exactly. A bucket is [lo, count], lo its lower
 * bound in microseconds; the layout says how wide each one is. */
static void
json_histograms(FILE *f, const struct probe_result *res, enum probe_mode mode)
{
	fprintf(f, "  \"histograms\": {\n    \"layout\": {\"kind\": \"log-linear\", \"sub_bits\": %u, "
	    "\"exact_below\": %u}", HIST_SUB_BITS, HIST_SUB_COUNT);
	for (int s = 0; s < STAGE_COUNT; s++) {
		const struct histogram *h = &res->stage[s];
		bool session_stage = s != STAGE_CONNECT && s != STAGE_BANNER && s != STAGE_TOTAL;
		if (session_stage && mode != MODE_SESSION)
			continue;
		fprintf(f, ",\n    \"%s\": {\"count\": %" PRIu64 ", \"sum\": %" PRIu64 ", \"min\": %" PRIu64
		    ", \"max\": %" PRIu64 ", \"buckets\": [", probe_stage_name(s), hist_count(h), hist_sum(h),
		    hist_min(h), hist_max(h));
		struct hist_iter it = { 0 };
		struct hist_bucket b;
		for (bool first = true; hist_next(h, &it, &b); first = false)
			fprintf(f, "%s[%" PRIu64 ", %" PRIu64 "]", first ? "" : ", ", b.lo, b.count);
		fprintf(f, "]}");
	}
	fprintf(f, "\n  },\n");
}

/* Everything after the run's configuration: the same keys for a run and
 * for a merge. The closing brace is the caller's. */
static void
json_body(FILE *f, enum probe_mode mode, uint64_t give_up_us, const struct probe_result *res, bool last)
{
	fprintf(f, "  \"attempts\": %" PRIu64 ",\n  \"tries\": %" PRIu64 ",\n", res->attempts, res->tries);
	fprintf(f, "  \"elapsed_us\": %" PRIu64 ",\n  \"rate\": %.3f,\n", res->elapsed_us, run_rate(res));
	/* Tries that met a firewall's SMTP inspection: counts of tries. */
	fprintf(f, "  \"banner_masked\": %" PRIu64 ",\n  \"ehlo_refused\": %" PRIu64
	    ",\n  \"ehlo_masked\": %" PRIu64 ",\n", res->banner_masked, res->ehlo_refused, res->ehlo_masked);
	for (int s = 0; s < STAGE_COUNT; s++) {
		bool session_stage = s != STAGE_CONNECT && s != STAGE_BANNER && s != STAGE_TOTAL;
		if (session_stage && mode != MODE_SESSION)
			continue;
		json_stage(f, probe_stage_name(s), &res->stage[s]);
	}
	json_giveup(f, res, give_up_us);
	json_histograms(f, res, mode);
	json_outcomes(f, "try_outcome", res->try_outcome, false);
	json_outcomes(f, "outcome", res->outcome, last);
}

void
probe_report_json(FILE *f, const struct probe_config *cfg, const struct probe_result *res)
{
	char target[ADDR_TEXT_MAX];

	addr_format((const struct sockaddr *)&cfg->target.ss, target, sizeof target);
	fprintf(f, "{\n  \"target\": \"%s\",\n  \"mode\": \"%s\",\n", target, probe_mode_name(cfg->mode));
	fprintf(f, "  \"client\": ");
	json_string(f, cfg->client ? cfg->client : "");
	fprintf(f, ",\n  \"loop\": \"%s\",\n  \"threads\": %u,\n", cfg->rate > 0 ? "open" : "closed",
	    cfg->threads ? cfg->threads : 1);
	fprintf(f, "  \"concurrency\": %u,\n  \"target_rate\": %.3f,\n", cfg->concurrency, cfg->rate);
	fprintf(f, "  \"give_up_us\": %" PRIu64 ",\n  \"retries\": %u,\n", cfg->give_up_us, cfg->retry.retries);
	/* A run cut short by SIGINT/SIGTERM says so: its figures are those
	 * of the attempts that ended, interrupted ones left out. */
	fprintf(f, "  \"stopped\": \"%s\",\n  \"interrupted\": %" PRIu64 ",\n",
	    res->stopped ? "signal" : "end", res->interrupted);
	json_body(f, cfg->mode, cfg->give_up_us, res, true);
	fprintf(f, "}\n");
}

static enum probe_mode
merge_mode(const struct probe_merge *m)
{
	return strcmp(m->mode, "session") == 0 ? MODE_SESSION : strcmp(m->mode, "idle") == 0 ? MODE_IDLE
	    : MODE_BANNER;
}

static void
json_sources(FILE *f, const struct probe_merge *m)
{
	fprintf(f, "  \"merged_runs\": %zu,\n  \"sources\": [", m->nsources);
	for (size_t i = 0; i < m->nsources; i++) {
		const struct probe_merge_source *s = &m->sources[i];
		fprintf(f, "%s\n    {\"file\": ", i ? "," : "");
		json_string(f, s->file);
		fprintf(f, ", \"client\": ");
		json_string(f, s->client);
		fprintf(f, ", \"target\": ");
		json_string(f, s->target);
		fprintf(f, ", \"attempts\": %" PRIu64 ", \"tries\": %" PRIu64 ", \"elapsed_us\": %" PRIu64
		    ", \"banner\": {\"p50\": %" PRIu64 ", \"p99\": %" PRIu64 ", \"max\": %" PRIu64
		    ", \"count\": %" PRIu64 "}, \"outcome\": {", s->attempts, s->tries, s->elapsed_us,
		    s->banner_p50_us, s->banner_p99_us, s->banner_max_us, s->banner_count);
		for (int o = 0; o < OUTCOME_COUNT; o++)
			fprintf(f, "%s\"%s\": %" PRIu64, o ? ", " : "", probe_outcome_name(o), s->outcome[o]);
		fprintf(f, "}}");
	}
	fprintf(f, "\n  ]\n");
}

/* The same keys as a run's (target "mixed" when the runs differ;
 * threads, concurrency and target_rate summed; elapsed the longest run),
 * then merged_runs and one row per file in "sources". */
void
probe_report_json_merged(FILE *f, const struct probe_merge *m)
{
	fprintf(f, "{\n  \"target\": ");
	json_string(f, m->target);
	fprintf(f, ",\n  \"mode\": \"%s\",\n  \"client\": \"\",\n  \"loop\": \"%s\",\n", m->mode, m->loop);
	fprintf(f, "  \"threads\": %u,\n  \"concurrency\": %u,\n  \"target_rate\": %.3f,\n",
	    m->threads, m->concurrency, m->target_rate);
	fprintf(f, "  \"give_up_us\": %" PRIu64 ",\n  \"retries\": %u,\n", m->give_up_us, m->retries);
	json_body(f, merge_mode(m), m->give_up_us, m->res, false);
	json_sources(f, m);
	fprintf(f, "}\n");
}

/* ---- CSV ---- */

/* source is the try's local ADDR:PORT: the peer that the server logs for
 * the same connection. New columns go at the end so readers that count
 * columns keep working: then what a firewall's inspection did to the try
 * (banner_masked and ehlo_refused 0 or 1, masked_extensions a count). */
void
probe_report_csv(FILE *f, const struct probe_result *res)
{
	char source[ADDR_TEXT_MAX];

	fprintf(f, "attempt,try,start_us,connect_us,banner_us,total_us,outcome,code,source,"
	    "banner_masked,ehlo_refused,masked_extensions\n");
	for (uint64_t i = 0; i < res->nrows; i++) {
		const struct probe_try *t = &res->rows[i];
		source[0] = '\0';
		if (t->source.sa.sa_family != AF_UNSPEC)
			addr_format(&t->source.sa, source, sizeof source);
		fprintf(f, "%" PRIu64 ",%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%s,%u,%s,%u,%u,%u\n",
		    t->attempt + 1, (unsigned)t->try_no, t->start_us, t->connect_us,
		    t->banner_us, t->total_us, probe_outcome_name(t->outcome), (unsigned)t->code, source,
		    (unsigned)t->banner_masked, (unsigned)t->ehlo_refused, (unsigned)t->masked_extensions);
	}
}

/* ---- human ---- */

static void
human_row(FILE *f, const char *name, const struct histogram *h)
{
	static const double pcts[] = { 50.0, 90.0, 99.0, 99.9 };
	char buf[32];

	fprintf(f, "  %-8s", name);
	for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
		units_format_duration(hist_percentile(h, pcts[i]), buf, sizeof buf);
		fprintf(f, " %10s", buf);
	}
	units_format_duration(hist_max(h), buf, sizeof buf);
	fprintf(f, " %10s %10" PRIu64 "\n", buf, hist_count(h));
}

#define HIST_ROWS_MAX 16

/* Rows are powers of two (then of four, sixteen... so that at most
 * HIST_ROWS_MAX rows cover min..max); each bucket lands in the row of
 * its upper bound. */
void
probe_report_histogram(FILE *f, const struct histogram *h, unsigned width)
{
	uint64_t rows[HIST_ROWS_MAX] = { 0 }, peak = 0;
	unsigned lo_bit = 0, hi_bit = 0, step = 1;
	struct hist_iter it = { 0 };
	struct hist_bucket b;
	char a[32], z[32];

	if (hist_count(h) == 0)
		return;
	while ((UINT64_C(1) << lo_bit) <= hist_min(h) / 2 && lo_bit < 63)
		lo_bit++;
	while (hi_bit < 63 && (UINT64_C(1) << hi_bit) <= hist_max(h))
		hi_bit++;
	while ((hi_bit - lo_bit + step - 1) / step > HIST_ROWS_MAX)
		step++;
	unsigned nrows = (hi_bit - lo_bit + step - 1) / step;
	if (nrows == 0)
		nrows = 1;
	while (hist_next(h, &it, &b)) {
		unsigned bit = 0;
		while (bit < 63 && (UINT64_C(1) << bit) <= b.hi)
			bit++;
		unsigned r = bit <= lo_bit ? 0 : (bit - lo_bit - 1) / step;
		rows[r < nrows ? r : nrows - 1] += b.count;
	}
	for (unsigned r = 0; r < nrows; r++)
		if (rows[r] > peak)
			peak = rows[r];
	for (unsigned r = 0; r < nrows; r++) {
		unsigned top = lo_bit + (r + 1) * step;
		units_format_duration(r == 0 ? 0 : UINT64_C(1) << (lo_bit + r * step), a, sizeof a);
		units_format_duration(top >= 64 ? UINT64_MAX : UINT64_C(1) << top, z, sizeof z);
		unsigned bar = peak ? (unsigned)((rows[r] * width + peak - 1) / peak) : 0;
		fprintf(f, "  %9s .. %-9s %10" PRIu64 " |", a, z, rows[r]);
		for (unsigned i = 0; i < bar; i++)
			fputc('#', f);
		fputc('\n', f);
	}
}

/* One line per distinct threshold, longest first, naming every profile
 * that has it: a sender's impatience decides, not its brand. */
static void
human_giveup(FILE *f, const struct probe_result *res, uint64_t give_up_us)
{
	struct probe_giveup g[PROBE_GIVEUP_MAX];
	size_t n = run_giveup(res, give_up_us, g);
	uint64_t done = UINT64_MAX;
	char buf[32];

	if (n == 0 || g[0].of == 0)
		return;
	fprintf(f, "who would give up (greeting timeout: share of %" PRIu64 " connections with a later banner):\n",
	    g[0].of);
	for (;;) {
		uint64_t t = 0;
		for (size_t i = 0; i < n; i++)
			if (g[i].threshold_us < done && g[i].threshold_us > t)
				t = g[i].threshold_us;
		if (t == 0)
			break;
		size_t k = 0;
		while (g[k].threshold_us != t)
			k++;
		units_format_duration(t, buf, sizeof buf);
		fprintf(f, "  %9s %s%6.1f%% ", buf, g[k].unknown ? ">=" : "  ", 100.0 * g[k].share);
		for (size_t i = 0; i < n; i++)
			if (g[i].threshold_us == t)
				fprintf(f, " %s", g[i].profile);
		fputc('\n', f);
		done = t;
	}
	units_format_duration(give_up_us, buf, sizeof buf);
	if (res->try_outcome[OUTCOME_GAVE_UP] > 0)
		fprintf(f, "  (>=: %" PRIu64 " tries gave up here after %s; later thresholds are a lower bound)\n",
		    res->try_outcome[OUTCOME_GAVE_UP], buf);
}

/* What a PIX or ASA inspecting SMTP on the path did, when it did
 * anything: lines only then, so a plain run's summary is unchanged. */
static void
human_inspection(FILE *f, const struct probe_result *res)
{
	if (res->banner_masked)
		fprintf(f, "banner masked: %" PRIu64 " of %" PRIu64 " tries (only 2, 0, space and * after"
		    " the code: a PIX or ASA inspecting SMTP on the path)\n", res->banner_masked, res->tries);
	if (res->ehlo_refused)
		fprintf(f, "EHLO refused, fell back to HELO: %" PRIu64 " tries; ESMTP features lost:"
		    " all (no PIPELINING, SIZE, 8BITMIME, STARTTLS...)\n", res->ehlo_refused);
	if (res->ehlo_masked)
		fprintf(f, "EHLO extensions overwritten with X's: %" PRIu64 " tries; ESMTP features lost:"
		    " those (an ASA removes STARTTLS this way)\n", res->ehlo_masked);
}

/* Everything after the first line: the same for a run and a merge. */
static void
human_body(FILE *f, uint64_t give_up_us, const struct probe_result *res)
{
	char el[32];

	units_format_duration(res->elapsed_us, el, sizeof el);
	fprintf(f, "attempts %" PRIu64 "  tries %" PRIu64 "  elapsed %s  rate %.1f attempts/s\n",
	    res->attempts, res->tries, el, run_rate(res));
	fprintf(f, "outcomes:");
	for (int o = 0; o < OUTCOME_COUNT; o++)
		if (res->outcome[o])
			fprintf(f, " %s %" PRIu64, probe_outcome_name(o), res->outcome[o]);
	fprintf(f, "\n  %-8s %10s %10s %10s %10s %10s %10s\n", "", "p50", "p90", "p99", "p99.9", "max", "count");
	for (int s = 0; s < STAGE_COUNT; s++)
		if (hist_count(&res->stage[s]))
			human_row(f, probe_stage_name(s), &res->stage[s]);
	if (hist_count(&res->stage[STAGE_BANNER])) {
		fprintf(f, "banner latency (established to complete greeting):\n");
		probe_report_histogram(f, &res->stage[STAGE_BANNER], 40);
	}
	human_giveup(f, res, give_up_us);
	human_inspection(f, res);
}

void
probe_report_human(FILE *f, const struct probe_config *cfg, const struct probe_result *res)
{
	char target[ADDR_TEXT_MAX];

	addr_format((const struct sockaddr *)&cfg->target.ss, target, sizeof target);
	if (cfg->rate > 0)
		fprintf(f, "smtpprobe %s: %s mode, open loop at %.1f/s, %u thread(s)\n", target,
		    probe_mode_name(cfg->mode), cfg->rate, cfg->threads ? cfg->threads : 1);
	else
		fprintf(f, "smtpprobe %s: %s mode, closed loop, concurrency %u, %u thread(s)\n", target,
		    probe_mode_name(cfg->mode), cfg->concurrency ? cfg->concurrency : 1,
		    cfg->threads ? cfg->threads : 1);
	if (res->stopped)
		fprintf(f, "stopped by a signal: %" PRIu64 " attempt(s) still in flight after the grace"
		    " are not counted\n", res->interrupted);
	human_body(f, cfg->give_up_us, res);
}

/* One row per file: who measured what, so a student whose machine saw
 * something else stands out. */
static void
human_sources(FILE *f, const struct probe_merge *m)
{
	char p50[32], p99[32], max[32];

	fprintf(f, "per run:\n  %-20s %-16s %9s %9s %9s %9s %10s %10s %10s\n", "file", "client",
	    "attempts", "ok", "gave_up", "ndr", "banner p50", "p99", "max");
	for (size_t i = 0; i < m->nsources; i++) {
		const struct probe_merge_source *s = &m->sources[i];
		units_format_duration(s->banner_p50_us, p50, sizeof p50);
		units_format_duration(s->banner_p99_us, p99, sizeof p99);
		units_format_duration(s->banner_max_us, max, sizeof max);
		fprintf(f, "  %-20s %-16s %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %10s %10s %10s\n",
		    s->file, s->client[0] ? s->client : "-", s->attempts, s->outcome[OUTCOME_OK],
		    s->outcome[OUTCOME_GAVE_UP], s->outcome[OUTCOME_NDR], p50, p99, max);
	}
}

void
probe_report_human_merged(FILE *f, const struct probe_merge *m)
{
	fprintf(f, "smtpprobe merge of %zu run(s) against %s: %s mode, %s loop, %u thread(s) in all\n",
	    m->nsources, m->target, m->mode, m->loop, m->threads);
	human_body(f, m->give_up_us, m->res);
	human_sources(f, m);
}
