/*
 * Deterministic random numbers (xoshiro256**, seeded through splitmix64).
 * Every random decision in frost (init, shuffling, augmentation, dropout)
 * draws from an explicitly passed frost_rng, so a run is reproducible from
 * its seed, and the state can be saved in a checkpoint for exact resume.
 */
#ifndef FROST_CORE_RNG_H
#define FROST_CORE_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} frost_rng;

void frost_rng_seed(frost_rng *r, uint64_t seed);
/* An independent stream derived from r's seed material and a label (e.g. a layer index). */
frost_rng frost_rng_fork(const frost_rng *r, uint64_t label);
uint64_t frost_rng_u64(frost_rng *r);
/* Uniform in [0, 1). */
float frost_rng_uniform(frost_rng *r);
/* Uniform integer in [0, n). n > 0. */
uint32_t frost_rng_below(frost_rng *r, uint32_t n);
/* Standard normal (Box-Muller). */
float frost_rng_normal(frost_rng *r);

#endif
