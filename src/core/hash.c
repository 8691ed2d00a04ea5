/* Four independent multiply-rotate lanes over 32-byte blocks (they pipeline, so hashing
 * runs at several GB/s: a 30 MB checkpoint costs a few milliseconds), the tail folded in
 * word by word, and a final avalanche so every input bit reaches every output bit. */
#include "core/hash.h"

#define K1 0x9e3779b185ebca87ULL /* odd constants with well-mixed bits */
#define K2 0xc2b2ae3d27d4eb4fULL
#define K3 0x165667b19e3779f9ULL

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t read_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) /* compilers turn this into one load on little-endian */
        v = (v << 8) | p[i];
    return v;
}

static inline uint64_t lane(uint64_t acc, uint64_t word) { return rotl(acc + word * K2, 31) * K1; }

static uint64_t avalanche(uint64_t h)
{
    h ^= h >> 33;
    h *= K2;
    h ^= h >> 29;
    h *= K3;
    h ^= h >> 32;
    return h;
}

uint64_t frost_hash64(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed + K3 + (uint64_t)n;
    if (n >= 32) {
        uint64_t v[4] = {seed + K1 + K2, seed + K2, seed, seed - K1};
        size_t blocks = n / 32;
        for (size_t b = 0; b < blocks; b++, p += 32)
            for (int i = 0; i < 4; i++)
                v[i] = lane(v[i], read_le64(p + 8 * i));
        h = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18) + (uint64_t)n;
        for (int i = 0; i < 4; i++)
            h = (h ^ lane(0, v[i])) * K1 + K3;
        n %= 32;
    }
    for (; n >= 8; n -= 8, p += 8)
        h = rotl(h ^ lane(0, read_le64(p)), 27) * K1 + K3;
    for (; n > 0; n--, p++)
        h = rotl(h ^ (*p * K3), 11) * K1;
    return avalanche(h);
}
