/* AVX2 packing of float / int8 activations (built with -mavx2; pack.c calls these only after
 * frost_cpu_has_avx2()). Eight floats or 32 int8 per compare and movemask where the scalar
 * loop shifted one flag at a time; the same bits (tests/test_binary_kernels.c). */
#include <immintrin.h>

#include "binary/binary.h"
#include "binary/kernels.h"

/* x >= 0 as an ordered compare: -0.0 gives 1 and NaN 0, exactly as the C expression. */
void frost_bin_pack_f32_avx2(const float *x, long pixels, int c, uint64_t *out)
{
    const __m256 zero = _mm256_setzero_ps();
    int words = frost_bin_words(c);
    for (long p = 0; p < pixels; p++) {
        const float *px = x + p * c;
        for (int w = 0; w < words; w++) {
            int begin = 64 * w, end = begin + 64 < c ? begin + 64 : c, i = begin;
            uint64_t v = 0;
            for (; i + 8 <= end; i += 8) {
                __m256 ge = _mm256_cmp_ps(_mm256_loadu_ps(px + i), zero, _CMP_GE_OQ);
                v |= (uint64_t)(unsigned)_mm256_movemask_ps(ge) << (i - begin);
            }
            for (; i < end; i++)
                v |= (uint64_t)(px[i] >= 0.0f) << (i - begin);
            out[p * words + w] = v;
        }
    }
}

/* q >= zero as max(q, zero) == q: no zero - 1 to wrap at -128. */
void frost_bin_pack_s8_avx2(const int8_t *x, long pixels, int c, int8_t zero, uint64_t *out)
{
    const __m256i z = _mm256_set1_epi8(zero);
    int words = frost_bin_words(c);
    for (long p = 0; p < pixels; p++) {
        const int8_t *px = x + p * c;
        for (int w = 0; w < words; w++) {
            int begin = 64 * w, end = begin + 64 < c ? begin + 64 : c, i = begin;
            uint64_t v = 0;
            for (; i + 32 <= end; i += 32) {
                __m256i q = _mm256_loadu_si256((const __m256i *)(px + i));
                __m256i plus = _mm256_cmpeq_epi8(_mm256_max_epi8(q, z), q);
                v |= (uint64_t)(uint32_t)_mm256_movemask_epi8(plus) << (i - begin);
            }
            for (; i < end; i++)
                v |= (uint64_t)(px[i] >= zero) << (i - begin);
            out[p * words + w] = v;
        }
    }
}
