/* AVX-512 VPOPCNTDQ kernels (built with -mavx512f -mavx512vpopcntdq; called only after
 * frost_cpu_has_avx512_vpopcntdq()). The same loops as x86/counts_avx2.c with one zmm of 8
 * words where AVX2 has two ymm, and vpopcntq (a count per 64-bit lane, no byte
 * accumulators, so no 31-step flush) where AVX2 has the nibble table. */
#include <immintrin.h>

#include "binary/binary.h"
#include "binary/kernels.h"

/* dot = base - 2 * differ for one block: the 64-bit lanes narrowed to int32. */
static inline void store_dots(__m512i differ64, const int32_t *base, int32_t *dot)
{
    __m256i differ = _mm512_cvtepi64_epi32(differ64);
    __m256i b = _mm256_loadu_si256((const __m256i *)base);
    _mm256_storeu_si256((__m256i *)dot, _mm256_sub_epi32(b, _mm256_slli_epi32(differ, 1)));
}

/* One block of 8 output channels; `masked` is a constant at each call. */
static inline void counts_block(const uint64_t *x, const uint64_t *wb, const uint64_t *mb,
                                int k_words, bool masked, const int32_t *base, int32_t *dot)
{
    __m512i total = _mm512_setzero_si512();
    for (int k = 0; k < k_words; k++) {
        __m512i xk = _mm512_set1_epi64((long long)x[k]);
        const uint64_t *w = wb + (size_t)k * FROST_BIN_BLOCK;
        __m512i v = _mm512_xor_si512(xk, _mm512_loadu_si512((const void *)w));
        if (masked) {
            const uint64_t *m = mb + (size_t)k * FROST_BIN_BLOCK;
            v = _mm512_and_si512(v, _mm512_loadu_si512((const void *)m));
        }
        total = _mm512_add_epi64(total, _mm512_popcnt_epi64(v));
    }
    store_dots(total, base, dot);
}

void frost_bin_dots_avx512(const uint64_t *x, const uint64_t *bits, const uint64_t *mask,
                           int k_words, int blocks, const int32_t *base, int32_t *dot)
{
    size_t block_words = (size_t)k_words * FROST_BIN_BLOCK;
    for (int b = 0; b < blocks; b++) {
        if (mask)
            counts_block(x, bits + b * block_words, mask + b * block_words, k_words, true,
                         base + b * FROST_BIN_BLOCK, dot + b * FROST_BIN_BLOCK);
        else
            counts_block(x, bits + b * block_words, NULL, k_words, false,
                         base + b * FROST_BIN_BLOCK, dot + b * FROST_BIN_BLOCK);
    }
}

/* vpopcntq per lane, four independent accumulators so the adds do not chain. */
uint64_t frost_bin_popcount_avx512(const uint64_t *w, long n)
{
    __m512i t0 = _mm512_setzero_si512(), t1 = t0, t2 = t0, t3 = t0;
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        t0 = _mm512_add_epi64(t0, _mm512_popcnt_epi64(_mm512_loadu_si512((const void *)(w + i))));
        t1 = _mm512_add_epi64(t1,
                              _mm512_popcnt_epi64(_mm512_loadu_si512((const void *)(w + i + 8))));
        t2 = _mm512_add_epi64(t2,
                              _mm512_popcnt_epi64(_mm512_loadu_si512((const void *)(w + i + 16))));
        t3 = _mm512_add_epi64(t3,
                              _mm512_popcnt_epi64(_mm512_loadu_si512((const void *)(w + i + 24))));
    }
    for (; i + 8 <= n; i += 8)
        t0 = _mm512_add_epi64(t0, _mm512_popcnt_epi64(_mm512_loadu_si512((const void *)(w + i))));
    /* the last n % 8 words through a zero-masked load: no read past the array */
    if (i < n) {
        __mmask8 tail = (__mmask8)((1u << (n - i)) - 1);
        t1 = _mm512_add_epi64(t1, _mm512_popcnt_epi64(_mm512_maskz_loadu_epi64(tail, w + i)));
    }
    __m512i t = _mm512_add_epi64(_mm512_add_epi64(t0, t1), _mm512_add_epi64(t2, t3));
    return (uint64_t)_mm512_reduce_add_epi64(t);
}
