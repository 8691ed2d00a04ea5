/* Global average pooling (AVX2): the reference's exact integers, 16 channels at a time.
 * Per block of 16 channels the bytes are summed in uint16 lanes over runs of at most 257
 * pixels (257 * 255 < 2^16: no wrap), then widened into int32 sums; sum(x - in_zp) is
 * sum(x) - n * in_zp, the same int32 as the reference's running sum (every partial sum is
 * within +-2^30, which frost_int8_prepare checks), and the requantization is the
 * reference's MBQM lane by lane (requant_avx2.h). Channels past the last whole block go
 * through the reference loop. */
#include "int8/kernels.h"
#include "int8/requant.h"
#include "int8/x86/requant_avx2.h"

#define RUN_PIXELS 257 /* 257 * 255 = 65535 */

/* sum over n pixels of 16 channels at x (pixel stride c) into two int32 x 8 halves. */
static void sum16(const uint8_t *x, int64_t n, int c, __m256i *s_lo, __m256i *s_hi)
{
    __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
    for (int64_t p0 = 0; p0 < n; p0 += RUN_PIXELS) {
        int64_t p1 = p0 + RUN_PIXELS < n ? p0 + RUN_PIXELS : n;
        __m256i s16 = _mm256_setzero_si256();
        for (int64_t p = p0; p < p1; p++)
            s16 = _mm256_add_epi16(
                s16, _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(x + p * c))));
        lo = _mm256_add_epi32(lo, _mm256_cvtepu16_epi32(_mm256_castsi256_si128(s16)));
        hi = _mm256_add_epi32(hi, _mm256_cvtepu16_epi32(_mm256_extracti128_si256(s16, 1)));
    }
    *s_lo = lo;
    *s_hi = hi;
}

void frost_int8_gap_avx2(const frost_int8_pool_args *a, const uint8_t *x, uint8_t *y)
{
    int64_t n = (int64_t)a->h * a->w;
    __m256i zsum = _mm256_set1_epi32((int32_t)(n * a->in_zp));
    __m128i shift = _mm_cvtsi32_si128(a->acc_shift);
    __m256i m0 = _mm256_set1_epi32(a->mult[0]), e = _mm256_set1_epi32(a->shift[0]);
    __m256i zp = _mm256_set1_epi32(a->out_zp);
    __m128i lo = _mm_set1_epi8((char)a->lo), hi = _mm_set1_epi8((char)a->hi);
    int c0 = 0;
    for (; c0 + 16 <= a->c; c0 += 16) {
        __m256i s0, s1;
        sum16(x + c0, n, a->c, &s0, &s1);
        s0 = _mm256_sll_epi32(_mm256_sub_epi32(s0, zsum), shift);
        s1 = _mm256_sll_epi32(_mm256_sub_epi32(s1, zsum), shift);
        s0 = _mm256_add_epi32(frost_mbqm_avx2(s0, m0, e), zp);
        s1 = _mm256_add_epi32(frost_mbqm_avx2(s1, m0, e), zp);
        /* packs works per 128-bit lane: 0-3 8-11 4-7 12-15, put back in order */
        __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(s0, s1), 0xD8);
        _mm_storeu_si128((__m128i *)(y + c0), frost_bytes16_avx2(w, lo, hi));
    }
    for (int c = c0; c < a->c; c++) { /* the reference's loop for the last channels */
        int32_t acc = 0;
        for (int64_t p = 0; p < n; p++)
            acc += (int32_t)x[p * a->c + c] - a->in_zp;
        acc = (int32_t)((uint32_t)acc << a->acc_shift);
        y[c] = frost_requant_u8(acc, a->mult[0], a->shift[0], a->out_zp, a->lo, a->hi);
    }
}
