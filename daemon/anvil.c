/* Per-client counts (anvil.h): an open-addressing table with linear
 * probing, at most half full, and deletion by backward shift, so there
 * are no tombstones to sweep. */
#include "anvil.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct anvil_key {
	uint8_t family;			/* 4 or 6 */
	uint8_t bytes[16];		/* the address, bits past the prefix zero */
};

struct anvil_entry {
	struct anvil_key key;
	uint8_t used;
	uint64_t sessions;
	uint64_t rate_count;
	uint64_t window_start_us;
};

struct anvil {
	struct anvil_entry *slots;
	size_t mask;			/* slots - 1, a power of two */
	size_t n_used, limit;
	uint64_t seed;
	struct anvil_limits lim;
};

static void
mask_bits(uint8_t *b, size_t len, unsigned prefix)
{
	for (size_t i = 0; i < len; i++) {
		unsigned keep = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * (unsigned)i : 0;
		b[i] &= (uint8_t)(0xff00u >> keep);
	}
}

/* -1 for a peer that is neither IPv4 nor IPv6 (it is not counted). */
static int
key_from(const struct anvil *a, const struct sockaddr *sa, struct anvil_key *k)
{
	memset(k, 0, sizeof *k);
	if (sa->sa_family == AF_INET) {
		k->family = 4;
		memcpy(k->bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		mask_bits(k->bytes, 4, a->lim.prefix_v4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		k->family = 6;
		memcpy(k->bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		mask_bits(k->bytes, 16, a->lim.prefix_v6);
		return 0;
	}
	return -1;
}

/* FNV-1a from a secret start, then a final mix of the high bits down. */
static size_t
key_hash(const struct anvil *a, const struct anvil_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 0xcbf29ce484222325ULL ^ a->seed;

	for (size_t i = 0; i < sizeof *k; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	h ^= h >> 29;
	return (size_t)(h * 0xbf58476d1ce4e5b9ULL >> 17);
}

/* The slot holding k, or the empty slot where it would go. */
static size_t
probe(const struct anvil *a, const struct anvil_key *k)
{
	size_t i = key_hash(a, k) & a->mask;

	while (a->slots[i].used && memcmp(&a->slots[i].key, k, sizeof *k) != 0)
		i = (i + 1) & a->mask;
	return i;
}

/* Backward-shift deletion: moves later entries of the run up so that
 * every entry stays reachable from its home slot. */
static void
slot_delete(struct anvil *a, size_t i)
{
	size_t j = i;

	a->n_used--;
	for (;;) {
		a->slots[i].used = 0;
		for (;;) {
			size_t home;

			j = (j + 1) & a->mask;
			if (!a->slots[j].used)
				return;
			home = key_hash(a, &a->slots[j].key) & a->mask;
			/* j stays if its home lies cyclically in (i, j]. */
			if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
				continue;
			break;
		}
		a->slots[i] = a->slots[j];
		i = j;
	}
}

static size_t
slots_for(size_t limit)
{
	size_t n = 16;

	while (n < 2 * limit)
		n *= 2;
	return n;
}

static int
rebuild(struct anvil *a, size_t limit)
{
	size_t n = slots_for(limit > a->n_used ? limit : a->n_used);
	struct anvil_entry *old = a->slots, *slots = calloc(n, sizeof *slots);
	size_t old_n = a->mask + 1;

	if (slots == NULL)
		return -1;
	a->slots = slots;
	a->mask = n - 1;
	a->limit = limit;
	for (size_t i = 0; old != NULL && i < old_n; i++)
		if (old[i].used)
			a->slots[probe(a, &old[i].key)] = old[i];
	free(old);
	return 0;
}

struct anvil *
anvil_new(size_t limit, const struct anvil_limits *lim, uint64_t seed)
{
	struct anvil *a = calloc(1, sizeof *a);

	if (a == NULL)
		return NULL;
	a->seed = seed;
	a->lim = *lim;
	if (rebuild(a, limit) != 0) {
		free(a);
		return NULL;
	}
	return a;
}

void
anvil_free(struct anvil *a)
{
	if (a == NULL)
		return;
	free(a->slots);
	free(a);
}

int
anvil_configure(struct anvil *a, size_t limit, const struct anvil_limits *lim)
{
	/* A new prefix changes every key: counts taken under the old one
	 * cannot be split or merged, so the table starts afresh. Sessions
	 * open then are forgotten (their close finds no entry). */
	if (lim->prefix_v4 != a->lim.prefix_v4 || lim->prefix_v6 != a->lim.prefix_v6) {
		memset(a->slots, 0, (a->mask + 1) * sizeof *a->slots);
		a->n_used = 0;
	}
	a->lim = *lim;
	if (limit == a->limit)
		return 0;
	return rebuild(a, limit);
}

/* A full table forgets the clients with no open session: first those
 * whose rate window is over, else the one whose window is oldest. */
static void
evict_idle(struct anvil *a, uint64_t now_us)
{
	size_t oldest = SIZE_MAX;
	size_t before = a->n_used;

	for (size_t i = 0; i <= a->mask; i++) {
		struct anvil_entry *e = &a->slots[i];

		if (!e->used || e->sessions > 0)
			continue;
		if (now_us - e->window_start_us >= a->lim.window_us) {
			slot_delete(a, i);
			i--;	/* slot i now holds the next entry of the run */
			continue;
		}
		if (oldest == SIZE_MAX || e->window_start_us < a->slots[oldest].window_start_us)
			oldest = i;
	}
	if (a->n_used == before && oldest != SIZE_MAX)
		slot_delete(a, oldest);
}

/* The entry of k, made if need be; NULL when the table has no room. */
static struct anvil_entry *
entry_get(struct anvil *a, const struct anvil_key *k, uint64_t now_us)
{
	size_t i = probe(a, k);

	if (a->slots[i].used)
		return &a->slots[i];
	if (a->n_used >= a->limit) {
		evict_idle(a, now_us);
		if (a->n_used >= a->limit)
			return NULL;
		i = probe(a, k);
	}
	memset(&a->slots[i], 0, sizeof a->slots[i]);
	a->slots[i].key = *k;
	a->slots[i].used = 1;
	a->slots[i].window_start_us = now_us;
	a->n_used++;
	return &a->slots[i];
}

enum anvil_verdict
anvil_connect(struct anvil *a, const struct sockaddr *peer, uint64_t now_us)
{
	struct anvil_key k;
	struct anvil_entry *e;

	if (key_from(a, peer, &k) != 0 || (e = entry_get(a, &k, now_us)) == NULL)
		return ANVIL_UNTRACKED;
	if (now_us - e->window_start_us >= a->lim.window_us) {
		e->window_start_us = now_us;
		e->rate_count = 0;
	}
	e->rate_count++;
	if (a->lim.max_sessions > 0 && e->sessions >= a->lim.max_sessions)
		return ANVIL_TOO_MANY_SESSIONS;
	if (a->lim.max_rate > 0 && e->rate_count > a->lim.max_rate)
		return ANVIL_TOO_FAST;
	e->sessions++;
	return ANVIL_OK;
}

void
anvil_disconnect(struct anvil *a, const struct sockaddr *peer)
{
	struct anvil_key k;
	size_t i;

	if (key_from(a, peer, &k) != 0)
		return;
	i = probe(a, &k);
	if (!a->slots[i].used || a->slots[i].sessions == 0)
		return;
	/* Without a rate limit an idle client has nothing to remember. */
	if (--a->slots[i].sessions == 0 && a->lim.max_rate == 0)
		slot_delete(a, i);
}

size_t
anvil_clients(const struct anvil *a)
{
	return a->n_used;
}

uint64_t
anvil_sessions(const struct anvil *a, const struct sockaddr *peer)
{
	struct anvil_key k;
	size_t i;

	if (key_from(a, peer, &k) != 0)
		return 0;
	i = probe(a, &k);
	return a->slots[i].used ? a->slots[i].sessions : 0;
}
