/* Eight-lane versions of requant.h's SRDHM / RDBPOT / MBQM (internal, AVX2 files only). */
#ifndef FROST_INT8_X86_REQUANT_AVX2_H
#define FROST_INT8_X86_REQUANT_AVX2_H

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* The requantization helpers sit in the kernels' innermost loops: inlined always (gcc
 * otherwise kept the 16-byte store out of line, a call per 16 outputs), so that a kernel
 * specialized on `fp` drops the other mode's code. */
#define FROST_RQ_INLINE static inline __attribute__((always_inline))

/* round(a * b / 2^31) with ties toward +inf: floor((a*b + 2^30) / 2^31), which equals the
 * scalar nudge-and-truncate form. The scalar's one saturating case, a == b == INT32_MIN,
 * cannot occur: multipliers are checked to lie in [0, 2^31) when a model is made or loaded. */
static inline __m256i frost_srdhm_avx2(__m256i a, __m256i b)
{
    const __m256i nudge = _mm256_set1_epi64x(INT64_C(1) << 30);
    __m256i even = _mm256_add_epi64(_mm256_mul_epi32(a, b), nudge);
    __m256i odd = _mm256_add_epi64(
        _mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32)), nudge);
    /* bits 31..62 of each product: the low dword after >> 31, the high dword after << 1 */
    return _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
}

/* Rounding right shift by per-lane e in [0, 31], ties away from zero. */
static inline __m256i frost_rdbpot_avx2(__m256i x, __m256i e)
{
    const __m256i one = _mm256_set1_epi32(1);
    __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, e), one);
    __m256i rem = _mm256_and_si256(x, mask);
    __m256i thr = _mm256_add_epi32(_mm256_srai_epi32(mask, 1), _mm256_srli_epi32(x, 31));
    return _mm256_sub_epi32(_mm256_srav_epi32(x, e), _mm256_cmpgt_epi32(rem, thr));
}

/* MBQM per lane: x * m0 * 2^(e - 31). */
static inline __m256i frost_mbqm_avx2(__m256i x, __m256i m0, __m256i e)
{
    __m256i zero = _mm256_setzero_si256();
    __m256i left = _mm256_max_epi32(e, zero),
            right = _mm256_max_epi32(_mm256_sub_epi32(zero, e), zero);
    return frost_rdbpot_avx2(frost_srdhm_avx2(_mm256_sllv_epi32(x, left), m0), right);
}

/* Per-channel requant constants, computed once when weights are packed, so that the
 * inner loops skip the shift bookkeeping: [0] M0, [1] M0 of the next lane (the odd lanes'
 * multiplier, where vpmuldq reads it), [2] left shift, [3] right shift, [4] the rounding
 * mask (1 << right) - 1, [5] mask >> 1. Stored as 6 arrays `stride` apart. With float
 * requantization (fscale non-NULL) array [0] holds the float scales. */
#define FROST_RQ_ARRAYS 6
static inline void frost_rq_pack(const int32_t *m0, const int32_t *e, const float *fscale,
                                 int n_valid, int n, int32_t *out, int stride)
{
    for (int i = 0; i < n; i++) { /* lanes past n_valid: M0 = 0, no shift */
        int32_t ei = i < n_valid ? e[i] : 0;
        int32_t left = ei > 0 ? ei : 0, right = ei > 0 ? 0 : -ei;
        int32_t mask = (int32_t)((UINT32_C(1) << right) - 1);
        out[i] = i < n_valid ? m0[i] : 0;
        out[stride + i] = i + 1 < n_valid ? m0[i + 1] : 0;
        out[2 * stride + i] = left;
        out[3 * stride + i] = right;
        out[4 * stride + i] = mask;
        out[5 * stride + i] = mask >> 1;
        if (fscale) { /* float requant: [0] holds the float scale instead */
            float f = i < n_valid ? fscale[i] : 0.0f;
            memcpy(&out[i], &f, sizeof f);
        }
    }
}

/* MBQM of 8 lanes with frost_rq_pack constants at p (arrays `stride` apart). */
FROST_RQ_INLINE __m256i frost_mbqm_pre_avx2(__m256i x, const int32_t *p, int stride)
{
    const __m256i nudge = _mm256_set1_epi64x(INT64_C(1) << 30);
    x = _mm256_sllv_epi32(x, _mm256_loadu_si256((const __m256i *)(p + 2 * stride)));
    __m256i even =
        _mm256_add_epi64(_mm256_mul_epi32(x, _mm256_loadu_si256((const __m256i *)p)), nudge);
    __m256i odd =
        _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32),
                                          _mm256_loadu_si256((const __m256i *)(p + stride))),
                         nudge);
    x = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
    __m256i rem = _mm256_and_si256(x, _mm256_loadu_si256((const __m256i *)(p + 4 * stride)));
    __m256i thr = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(p + 5 * stride)),
                                   _mm256_srli_epi32(x, 31));
    return _mm256_sub_epi32(
        _mm256_srav_epi32(x, _mm256_loadu_si256((const __m256i *)(p + 3 * stride))),
        _mm256_cmpgt_epi32(rem, thr));
}

/* frost_requant_float (requant.h) of 8 lanes, float scales at p. */
FROST_RQ_INLINE __m256i frost_requant_float_avx2(__m256i x, const int32_t *p)
{
    __m256 v =
        _mm256_mul_ps(_mm256_cvtepi32_ps(x), _mm256_loadu_ps((const float *)(const void *)p));
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-32768.0f)), _mm256_set1_ps(32767.0f));
    return _mm256_cvtps_epi32(v);
}

/* Requantization of 8 lanes in the model's mode (fp: float, else fixed point). */
FROST_RQ_INLINE __m256i frost_requant8_pre_avx2(__m256i x, const int32_t *p, int stride, bool fp)
{
    return fp ? frost_requant_float_avx2(x, p) : frost_mbqm_pre_avx2(x, p, stride);
}

/* 16 int16 in channel order -> 16 bytes clamped to [lo, hi] (within [0, 255]: the
 * saturating packs clamp to [0, 255] first, which the final clamp then narrows). */
FROST_RQ_INLINE __m128i frost_bytes16_avx2(__m256i w, __m128i lo, __m128i hi)
{
    __m256i b = _mm256_packus_epi16(w, w);
    __m128i v = _mm256_castsi256_si128(_mm256_permute4x64_epi64(b, 0x08));
    return _mm_min_epu8(_mm_max_epu8(v, lo), hi);
}

/* Requantizes two 8-lane accumulators (output channels 0-7 and 8-15 of a block, constants
 * at rq, arrays `stride` apart; fp: float requantization), adds the zero point, clamps and stores n
 * (<= 16) bytes. */
FROST_RQ_INLINE void frost_store16_avx2(uint8_t *y, __m256i acc0, __m256i acc1, const int32_t *rq,
                                        int stride, bool fp, __m256i zp, __m128i lo, __m128i hi,
                                        int n)
{
    acc0 = _mm256_add_epi32(frost_requant8_pre_avx2(acc0, rq, stride, fp), zp);
    acc1 = _mm256_add_epi32(frost_requant8_pre_avx2(acc1, rq + 8, stride, fp), zp);
    __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(acc0, acc1), 0xD8);
    __m128i v = frost_bytes16_avx2(w, lo, hi);
    if (n == 16) {
        _mm_storeu_si128((__m128i *)y, v);
    } else {
        uint8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, v);
        memcpy(y, tmp, (size_t)n);
    }
}

/* The same for one 8-lane accumulator (channels 0-7 of a block, in order): n <= 8 bytes. */
FROST_RQ_INLINE void frost_store8_avx2(uint8_t *y, __m256i acc, const int32_t *rq, int stride,
                                       bool fp, __m256i zp, __m128i lo, __m128i hi, int n)
{
    acc = _mm256_add_epi32(frost_requant8_pre_avx2(acc, rq, stride, fp), zp);
    __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    __m128i v = _mm_min_epu8(_mm_max_epu8(_mm_packus_epi16(w, w), lo), hi);
    if (n == 8) {
        _mm_storel_epi64((__m128i *)y, v);
    } else {
        uint8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, v);
        memcpy(y, tmp, (size_t)n);
    }
}

#endif
