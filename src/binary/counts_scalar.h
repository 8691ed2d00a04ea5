/* The scalar counting loops, shared by the portable reference (counts_ref.c) and the POPCNT
 * path (x86/counts_popcnt.c), which include this file with their own POPCOUNT64. */
#ifndef FROST_BINARY_COUNTS_SCALAR_H
#define FROST_BINARY_COUNTS_SCALAR_H

#include "binary/binary.h"

#define DEFINE_SCALAR_DOTS(NAME, POPCOUNT64)                                                 \
    void NAME(const uint64_t *x, const uint64_t *bits, const uint64_t *mask, int k_words,    \
              int blocks, const int32_t *base, int32_t *dot)                                 \
    {                                                                                        \
        for (int b = 0; b < blocks; b++) {                                                   \
            const uint64_t *wb = bits + (size_t)b * k_words * FROST_BIN_BLOCK;               \
            const uint64_t *mb = mask ? mask + (size_t)b * k_words * FROST_BIN_BLOCK : NULL; \
            uint32_t acc[FROST_BIN_BLOCK] = {0};                                             \
            for (int k = 0; k < k_words; k++) {                                              \
                uint64_t xk = x[k];                                                          \
                for (int j = 0; j < FROST_BIN_BLOCK; j++) {                                  \
                    uint64_t v = xk ^ wb[k * FROST_BIN_BLOCK + j];                           \
                    if (mb)                                                                  \
                        v &= mb[k * FROST_BIN_BLOCK + j];                                    \
                    acc[j] += (uint32_t)POPCOUNT64(v);                                       \
                }                                                                            \
            }                                                                                \
            for (int j = 0; j < FROST_BIN_BLOCK; j++)                                        \
                dot[b * FROST_BIN_BLOCK + j] =                                               \
                    base[b * FROST_BIN_BLOCK + j] - 2 * (int32_t)acc[j];                     \
        }                                                                                    \
    }

#define DEFINE_SCALAR_POPCOUNT(NAME, POPCOUNT64) \
    uint64_t NAME(const uint64_t *w, long n)     \
    {                                            \
        uint64_t total = 0;                      \
        for (long i = 0; i < n; i++)             \
            total += (uint64_t)POPCOUNT64(w[i]); \
        return total;                            \
    }

#endif
