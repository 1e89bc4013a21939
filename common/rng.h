#ifndef BANNERLAB_RNG_H
#define BANNERLAB_RNG_H
/* splitmix64: a tiny seedable generator that gives the same numbers on
 * every platform, so a seed reproduces a lab run (slowdns's faults) and a
 * session id spreads bannerd's banner jitter. Spread, not secrecy: never
 * use it for anything a peer must not guess. The state is owned by the
 * caller; nothing here is shared between threads. */
#include <stdint.h>

struct rng {
	uint64_t state;
};

void rng_seed(struct rng *r, uint64_t seed);
/* The next 64 random bits; advances the state. */
uint64_t rng_next(struct rng *r);
/* Uniform in [0, 1), from the top 53 bits of rng_next(). */
double rng_unit(struct rng *r);

#endif
