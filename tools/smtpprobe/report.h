#ifndef SMTPPROBE_REPORT_H
#define SMTPPROBE_REPORT_H
/* What a run says: the human summary, --json, --csv, and the table of
 * named figures that --expect checks (the same names as the JSON). */
#include <stdio.h>

#include "engine.h"
#include "expect.h"

#define PROBE_METRICS_MAX 160

/* Fills out[] (at least PROBE_METRICS_MAX entries) and returns the count.
 * give_up_us is the run's own greeting timeout (0: none), which bounds
 * what the who-would-give-up figures can know. */
size_t probe_metrics(const struct probe_result *res, uint64_t give_up_us, struct probe_metric *out);

void probe_report_human(FILE *f, const struct probe_config *cfg, const struct probe_result *res);
void probe_report_json(FILE *f, const struct probe_config *cfg, const struct probe_result *res);
void probe_report_csv(FILE *f, const struct probe_result *res);
/* The small text histogram of one stage, log-spaced rows. */
void probe_report_histogram(FILE *f, const struct histogram *h, unsigned width);

const char *probe_mode_name(enum probe_mode m);

/* `--profile list --json`: the profile table (outcome.h) for programs, one
 * array of {name, give_up_us, retries, retry_after, source}. bannerd's
 * live page takes its profile selector from it at build time. */
void probe_report_profiles_json(FILE *f);

/* The same outputs for `smtpprobe merge`: the merged figures, then one
 * row per file (JSON: "merged_runs" and "sources"). */
struct probe_merge;
void probe_report_human_merged(FILE *f, const struct probe_merge *m);
void probe_report_json_merged(FILE *f, const struct probe_merge *m);

#endif
