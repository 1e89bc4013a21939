#ifndef SMTPPROBE_MERGE_H
#define SMTPPROBE_MERGE_H
/* `smtpprobe merge FILE...`: many runs' --json into one result, as if one
 * run had made every try. Pure: JSON text in, a probe_result out.
 *
 * Exact because each file carries its histograms losslessly (every
 * non-empty bucket, and the exact count, sum, min and max): the merged
 * histogram is the one a single run over all the samples would have
 * built, so its percentiles are not averages of percentiles. That holds
 * only when every file used this smtpprobe's bucket layout; a file with
 * another layout is refused. The would-give-up matrix is the sum of each
 * file's counts (over, unknown, of), so a run that kept its tries (--csv)
 * stays exact. */
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "giveup.h"

/* One file, for the per-run rows of the merged summary. */
struct probe_merge_source {
	char file[256];
	char client[128];	/* the run's --client, or its host's name */
	char target[64];
	uint64_t attempts, tries, elapsed_us;
	uint64_t outcome[OUTCOME_COUNT];
	uint64_t banner_p50_us, banner_p99_us, banner_max_us, banner_count;
};

struct probe_merge {
	struct probe_result *res;	/* the merged figures; elapsed_us = the longest run */
	char mode[16];
	char target[64];		/* "mixed" when the files name different targets */
	char loop[8];			/* "open", "closed" or "mixed" */
	unsigned threads, concurrency;	/* summed over the runs */
	double target_rate;		/* summed */
	uint64_t give_up_us;		/* the longest of the runs' --give-up */
	unsigned retries;		/* the most of the runs' --retries */
	struct probe_giveup giveup[PROBE_GIVEUP_MAX];
	size_t ngiveup;
	struct probe_merge_source *sources;
	size_t nsources;
};

/* Returns 0, or -1 when out of memory. */
int probe_merge_init(struct probe_merge *m);
void probe_merge_free(struct probe_merge *m);
/* Adds one file's JSON text; name is what messages and the per-run row
 * call it. Returns 0, or -1 with the reason in err (the merge is then
 * unchanged): not JSON, not smtpprobe's, no histograms (an older
 * smtpprobe), another bucket layout, another mode, inconsistent counts. */
int probe_merge_add(struct probe_merge *m, const char *name, const char *text, size_t len,
    char *err, size_t errlen);
/* The matrix's shares; call once every file is in. Points m->res at the
 * merged matrix so that report.c prints it rather than recomputing. */
void probe_merge_finish(struct probe_merge *m);

#endif
