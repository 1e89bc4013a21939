#include "merge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errfmt.h"
#include "json.h"

/* One file as read, before it joins the merge: nothing is added until the
 * whole file has been checked. */
struct run_in {
	struct probe_result *res;
	struct probe_merge_source src;
	char mode[16], loop[8];
	unsigned threads, concurrency, retries;
	double target_rate;
	uint64_t give_up_us;
	struct probe_giveup giveup[PROBE_GIVEUP_MAX];
	size_t ngiveup;
};

int
probe_merge_init(struct probe_merge *m)
{
	memset(m, 0, sizeof *m);
	if ((m->res = probe_result_new()) == NULL)
		return -1;
	return 0;
}

void
probe_merge_free(struct probe_merge *m)
{
	probe_result_free(m->res);
	free(m->sources);
	memset(m, 0, sizeof *m);
}

/* A count member: a non-negative integer, exact. */
static int
get_u64(const struct json_value *o, const char *key, bool required, uint64_t *out, char *err, size_t errlen)
{
	const struct json_value *v = json_get(o, key);

	*out = 0;
	if (v == NULL)
		return required ? errfmt(err, errlen, "no \"%s\"", key) : 0;
	if (v->type != JSON_NUMBER || !v->is_uint)
		return errfmt(err, errlen, "\"%s\" is not a count", key);
	*out = v->u;
	return 0;
}

static void
get_text(const struct json_value *o, const char *key, char *out, size_t outlen)
{
	const struct json_value *v = json_get(o, key);

	snprintf(out, outlen, "%s", v && v->type == JSON_STRING ? v->string : "");
}

static int
read_outcomes(const struct json_value *doc, const char *key, uint64_t *counts, char *err, size_t errlen)
{
	const struct json_value *o = json_get(doc, key);

	if (o == NULL || o->type != JSON_OBJECT)
		return errfmt(err, errlen, "no \"%s\" object", key);
	for (int i = 0; i < OUTCOME_COUNT; i++)
		if (get_u64(o, probe_outcome_name(i), false, &counts[i], err, errlen) != 0)
			return -1;
	return 0;
}

/* The layout must be ours: a bucket index means nothing in another. */
static int
check_layout(const struct json_value *hs, char *err, size_t errlen)
{
	const struct json_value *l = json_get(hs, "layout"), *kind = json_get(l, "kind");
	uint64_t sub_bits, exact_below;

	if (l == NULL || kind == NULL || kind->type != JSON_STRING)
		return errfmt(err, errlen, "no histogram layout");
	if (get_u64(l, "sub_bits", true, &sub_bits, err, errlen) != 0 ||
	    get_u64(l, "exact_below", true, &exact_below, err, errlen) != 0)
		return -1;
	if (strcmp(kind->string, "log-linear") != 0 || sub_bits != HIST_SUB_BITS || exact_below != HIST_SUB_COUNT)
		return errfmt(err, errlen, "histogram layout %s sub_bits=%llu exact_below=%llu differs from this "
		    "smtpprobe's (log-linear sub_bits=%u exact_below=%u): percentiles cannot be merged "
		    "exactly; merge files made by the same smtpprobe version", kind->string,
		    (unsigned long long)sub_bits, (unsigned long long)exact_below, HIST_SUB_BITS, HIST_SUB_COUNT);
	return 0;
}

/* [[lo, count], ...]: every lo the lower bound of a bucket, increasing. */
static int
read_buckets(const struct json_value *b, struct histogram *h, char *err, size_t errlen)
{
	uint64_t prev_lo = 0;

	if (b == NULL || b->type != JSON_ARRAY)
		return errfmt(err, errlen, "no \"buckets\" array");
	for (size_t i = 0; i < b->n; i++) {
		const struct json_value *p = b->items[i];
		uint64_t lo, hi;
		if (p->type != JSON_ARRAY || p->n != 2 || !p->items[0]->is_uint || !p->items[1]->is_uint ||
		    p->items[0]->type != JSON_NUMBER || p->items[1]->type != JSON_NUMBER)
			return errfmt(err, errlen, "bucket %zu is not [lo, count]", i);
		uint64_t v = p->items[0]->u, n = p->items[1]->u;
		hist_bucket_of(v, &lo, &hi);
		if (lo != v || n == 0 || (i > 0 && v <= prev_lo))
			return errfmt(err, errlen, "bucket %zu [%llu, %llu] is not a bucket of this layout, "
			    "in order, non-empty", i, (unsigned long long)v, (unsigned long long)n);
		if (h->count > UINT64_MAX - n)
			return errfmt(err, errlen, "bucket counts overflow");
		hist_record_n(h, v, n);
		prev_lo = v;
	}
	return 0;
}

/* One stage's histogram; the exact count, sum, min and max replace what
 * recording the buckets' lower bounds gave. */
static int
read_histogram(const struct json_value *o, struct histogram *h, char *err, size_t errlen)
{
	uint64_t count, sum, min, max, lo, hi;

	if (get_u64(o, "count", true, &count, err, errlen) != 0 || get_u64(o, "sum", true, &sum, err, errlen) != 0 ||
	    get_u64(o, "min", true, &min, err, errlen) != 0 || get_u64(o, "max", true, &max, err, errlen) != 0 ||
	    read_buckets(json_get(o, "buckets"), h, err, errlen) != 0)
		return -1;
	if (count != h->count)
		return errfmt(err, errlen, "count %llu is not the buckets' total %llu",
		    (unsigned long long)count, (unsigned long long)h->count);
	if (count == 0)
		return 0;
	hist_bucket_of(min, &lo, &hi);
	bool min_ok = lo == hist_min(h);
	hist_bucket_of(max, &lo, &hi);
	if (!min_ok || lo != h->max || max < min)
		return errfmt(err, errlen, "min/max outside the buckets");
	h->sum = sum;
	h->min = min;
	h->max = max;
	return 0;
}

static int
read_histograms(const struct json_value *doc, struct probe_result *res, char *err, size_t errlen)
{
	const struct json_value *hs = json_get(doc, "histograms");
	char why[200];

	if (hs == NULL || hs->type != JSON_OBJECT)
		return errfmt(err, errlen, "no \"histograms\": made by an smtpprobe that did not carry them; "
		    "run it again with this one");
	if (check_layout(hs, err, errlen) != 0)
		return -1;
	for (int s = 0; s < STAGE_COUNT; s++) {
		const struct json_value *o = json_get(hs, probe_stage_name(s));
		if (o == NULL)
			continue;
		if (o->type != JSON_OBJECT || read_histogram(o, &res->stage[s], why, sizeof why) != 0)
			return errfmt(err, errlen, "histogram \"%s\": %s", probe_stage_name(s),
			    o->type != JSON_OBJECT ? "not an object" : why);
	}
	return 0;
}

/* The file's own matrix counts where it has them for a profile of ours
 * (same threshold); else the row computed from its banner histogram. */
static void
read_giveup(const struct json_value *doc, struct run_in *r)
{
	const struct json_value *d = json_get(doc, "would_give_up_detail");
	struct probe_banners b = { &r->res->stage[STAGE_BANNER], NULL, 0 };
	uint64_t gave_up = r->res->try_outcome[OUTCOME_GAVE_UP];
	const struct probe_profile *p;
	char ignore[8];

	r->ngiveup = probe_giveup_matrix(&b, gave_up, r->give_up_us, r->giveup, PROBE_GIVEUP_MAX);
	for (size_t i = 0; i < r->ngiveup && (p = probe_profile_at(i)) != NULL; i++) {
		const struct json_value *row = json_get(d, p->name);
		uint64_t t, over, unknown, of;
		if (get_u64(row, "threshold_us", true, &t, ignore, sizeof ignore) != 0 || t != p->give_up_us ||
		    get_u64(row, "over", true, &over, ignore, sizeof ignore) != 0 ||
		    get_u64(row, "unknown", true, &unknown, ignore, sizeof ignore) != 0 ||
		    get_u64(row, "of", true, &of, ignore, sizeof ignore) != 0 || of != r->giveup[i].of)
			continue;
		r->giveup[i].over = over;
		r->giveup[i].unknown = unknown;
	}
}

static int
read_config(const struct json_value *doc, struct run_in *r, char *err, size_t errlen)
{
	uint64_t v;

	get_text(doc, "mode", r->mode, sizeof r->mode);
	if (strcmp(r->mode, "banner") != 0 && strcmp(r->mode, "session") != 0 && strcmp(r->mode, "idle") != 0)
		return errfmt(err, errlen, "no \"mode\" (banner, session or idle): not smtpprobe --json output");
	get_text(doc, "loop", r->loop, sizeof r->loop);
	get_text(doc, "target", r->src.target, sizeof r->src.target);
	get_text(doc, "client", r->src.client, sizeof r->src.client);
	const struct json_value *rate = json_get(doc, "target_rate");
	r->target_rate = rate && rate->type == JSON_NUMBER && rate->number > 0 ? rate->number : 0;
	if (get_u64(doc, "threads", false, &v, err, errlen) != 0)
		return -1;
	r->threads = (unsigned)v;
	if (get_u64(doc, "concurrency", false, &v, err, errlen) != 0)
		return -1;
	r->concurrency = (unsigned)v;
	if (get_u64(doc, "retries", false, &v, err, errlen) != 0)
		return -1;
	r->retries = (unsigned)v;
	return get_u64(doc, "give_up_us", false, &r->give_up_us, err, errlen);
}

static int
read_run(const struct json_value *doc, struct run_in *r, char *err, size_t errlen)
{
	struct probe_result *res = r->res;

	if (doc->type != JSON_OBJECT)
		return errfmt(err, errlen, "not a JSON object: not smtpprobe --json output");
	if (read_config(doc, r, err, errlen) != 0 ||
	    get_u64(doc, "attempts", true, &res->attempts, err, errlen) != 0 ||
	    get_u64(doc, "tries", true, &res->tries, err, errlen) != 0 ||
	    get_u64(doc, "elapsed_us", true, &res->elapsed_us, err, errlen) != 0 ||
	    get_u64(doc, "banner_masked", false, &res->banner_masked, err, errlen) != 0 ||
	    get_u64(doc, "ehlo_refused", false, &res->ehlo_refused, err, errlen) != 0 ||
	    get_u64(doc, "ehlo_masked", false, &res->ehlo_masked, err, errlen) != 0 ||
	    read_outcomes(doc, "outcome", res->outcome, err, errlen) != 0 ||
	    read_outcomes(doc, "try_outcome", res->try_outcome, err, errlen) != 0 ||
	    read_histograms(doc, res, err, errlen) != 0)
		return -1;
	read_giveup(doc, r);
	return 0;
}

static void
source_fill(struct probe_merge_source *s, const char *name, const struct probe_result *res)
{
	const struct histogram *b = &res->stage[STAGE_BANNER];

	snprintf(s->file, sizeof s->file, "%s", name);
	s->attempts = res->attempts;
	s->tries = res->tries;
	s->elapsed_us = res->elapsed_us;
	memcpy(s->outcome, res->outcome, sizeof s->outcome);
	s->banner_p50_us = hist_percentile(b, 50.0);
	s->banner_p99_us = hist_percentile(b, 99.0);
	s->banner_max_us = hist_max(b);
	s->banner_count = hist_count(b);
}

static void
merge_text(char *dst, size_t len, const char *src, const char *mixed, bool first)
{
	if (first)
		snprintf(dst, len, "%s", src);
	else if (strcmp(dst, src) != 0)
		snprintf(dst, len, "%s", mixed);
}

/* The checked run joins the merge; nothing here can fail but memory. */
static int
merge_run(struct probe_merge *m, struct run_in *r)
{
	struct probe_merge_source *s = realloc(m->sources, (m->nsources + 1) * sizeof *s);
	bool first = m->nsources == 0;

	if (s == NULL)
		return -1;
	m->sources = s;
	s[m->nsources++] = r->src;
	uint64_t elapsed = m->res->elapsed_us > r->res->elapsed_us ? m->res->elapsed_us : r->res->elapsed_us;
	if (probe_result_merge(m->res, r->res) != 0)
		return -1;
	/* The runs are taken to be concurrent (a class, a lab's clients). */
	m->res->elapsed_us = elapsed;
	if (first)
		snprintf(m->mode, sizeof m->mode, "%s", r->mode);
	merge_text(m->target, sizeof m->target, r->src.target, "mixed", first);
	merge_text(m->loop, sizeof m->loop, r->loop, "mixed", first);
	m->threads += r->threads;
	m->concurrency += r->concurrency;
	m->target_rate += r->target_rate;
	if (r->give_up_us > m->give_up_us)
		m->give_up_us = r->give_up_us;
	if (r->retries > m->retries)
		m->retries = r->retries;
	for (size_t i = 0; i < r->ngiveup; i++) {
		if (first)
			m->giveup[i] = r->giveup[i];
		else {
			m->giveup[i].over += r->giveup[i].over;
			m->giveup[i].unknown += r->giveup[i].unknown;
			m->giveup[i].of += r->giveup[i].of;
		}
	}
	m->ngiveup = r->ngiveup;
	return 0;
}

int
probe_merge_add(struct probe_merge *m, const char *name, const char *text, size_t len,
    char *err, size_t errlen)
{
	struct run_in r;
	char why[320];
	int rc = -1;

	memset(&r, 0, sizeof r);
	struct json_value *doc = json_parse(text, len, why, sizeof why);
	if (doc == NULL)
		return errfmt(err, errlen, "%s: not JSON (%s): give files written by smtpprobe --json", name, why);
	if ((r.res = probe_result_new()) == NULL) {
		errfmt(err, errlen, "%s: out of memory", name);
		goto out;
	}
	if (read_run(doc, &r, why, sizeof why) != 0) {
		errfmt(err, errlen, "%s: %s", name, why);
		goto out;
	}
	if (m->nsources > 0 && strcmp(m->mode, r.mode) != 0) {
		errfmt(err, errlen, "%s: a %s-mode run cannot join %s-mode runs (their stages differ)",
		    name, r.mode, m->mode);
		goto out;
	}
	source_fill(&r.src, name, r.res);
	if (merge_run(m, &r) != 0) {
		errfmt(err, errlen, "%s: out of memory", name);
		goto out;
	}
	rc = 0;
out:
	probe_result_free(r.res);
	json_free(doc);
	return rc;
}

void
probe_merge_finish(struct probe_merge *m)
{
	for (size_t i = 0; i < m->ngiveup; i++)
		m->giveup[i].share = m->giveup[i].of ? (double)m->giveup[i].over / (double)m->giveup[i].of : 0.0;
	m->res->giveup = m->giveup;
	m->res->ngiveup = m->ngiveup;
}
