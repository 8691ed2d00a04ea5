#include "core/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void frost_rng_seed(frost_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

frost_rng frost_rng_fork(const frost_rng *r, uint64_t label)
{
    frost_rng out;
    frost_rng_seed(&out, r->s[0] ^ (label * 0xd1342543de82ef95ULL) ^ r->s[3]);
    return out;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t frost_rng_u64(frost_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float frost_rng_uniform(frost_rng *r)
{
    return (float)(frost_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

uint32_t frost_rng_below(frost_rng *r, uint32_t n)
{
    /* Lemire's multiply-shift; the tiny bias for huge n is irrelevant here. */
    return (uint32_t)(((frost_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

float frost_rng_normal(frost_rng *r)
{
    double u1 = ((double)(frost_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(frost_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
