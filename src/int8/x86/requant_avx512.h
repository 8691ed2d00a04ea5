/* Sixteen- and eight-lane requantization for the AVX-512 VNNI kernels (files built with
 * -mavx512f/bw/vl only; internal), bit for bit the scalar frost_mbqm / frost_requant_float.
 *
 * The fixed-point form here rounds once, in 64-bit lanes, instead of twice in 32-bit ones
 * as requant_avx2.h does; both give the scalar's bits. With P = (x << L) * M0 (exact, |P| <=
 * 2^62) the scalar's SRDHM is s = floor((P + 2^30) / 2^31) and its rounding right shift by
 * R >= 1 (ties away from zero) is floor((s + 2^(R-1) - [s < 0]) / 2^R), so that
 *   MBQM = floor((P + 2^30 + 2^(30+R) - 2^31 [P < 0]) / 2^(31+R))    (R >= 1),
 *   MBQM = floor((P + 2^30) / 2^31)                                    (R == 0).
 * (Nested floors of integer quotients fold into one; [s < 0] may be replaced by [P < 0]:
 * where they differ, -2^30 <= P < 0, both forms give 0. The sum stays below 2^63.) Per 16
 * lanes that is 12 vector operations after the shift by L (folded into the accumulator's,
 * below) against 14 for the two-rounding form, in the output stage of every VNNI conv. The per-lane constants C = 2^30 (+ 2^(30+R)), NEG = -2^31 (or
 * 0) and S = 31 + R are 64-bit, stored for the even and the odd lanes apart.
 */
#ifndef FROST_INT8_X86_REQUANT_AVX512_H
#define FROST_INT8_X86_REQUANT_AVX512_H

#include "int8/x86/requant_avx2.h"

/* Constant arrays, `stride` int32 apart: [0] M0 (or the float scale), [1] M0 of the next
 * lane (odd lanes, where vpmuldq reads it), [2] the accumulator's left shift acc_shift + L
 * (acc_shift alone with float requantization), then 64-bit values, qword j of a vector
 * for lanes 2j (even) / 2j + 1 (odd): [3] C even, [4] C odd, [5] NEG even, [6] NEG odd,
 * [7] S even, [8] S odd. n must be even.
 *
 * The kernels fold MBQM's left shift into the accumulator's: (bias + (sum << acc_shift))
 * << L equals (bias << L) + (sum << (acc_shift + L)) modulo 2^32, as the scalar's
 * unsigned shift wraps, so they compute acc = sllv(sum, [2]) + frost_rq512_bias and skip
 * one shift per vector. */
#define FROST_RQ512_ARRAYS 9

/* The bias the kernels add after the shift: bias << L (fixed point) or bias (float). */
static inline int32_t frost_rq512_bias(int32_t bias, int32_t e, bool fp)
{
    int left = !fp && e > 0 ? e : 0;
    return left >= 32 ? 0 : (int32_t)((uint32_t)bias << left);
}

static inline void frost_rq512_pack(const int32_t *m0, const int32_t *e, const float *fscale,
                                    int acc_shift, int n_valid, int n, int32_t *out, int stride)
{
    for (int i = 0; i < n; i++) { /* lanes past n_valid: M0 = 0, no shift: 0 */
        int32_t ei = i < n_valid ? e[i] : 0;
        int32_t left = ei > 0 ? ei : 0, right = ei > 0 ? 0 : -ei;
        out[i] = i < n_valid ? m0[i] : 0;
        out[stride + i] = i + 1 < n_valid ? m0[i + 1] : 0;
        out[2 * stride + i] = (fscale ? 0 : left) + acc_shift;
        int64_t c = (INT64_C(1) << 30) + (right > 0 ? INT64_C(1) << (30 + right) : 0);
        int64_t neg = right > 0 ? -(INT64_C(1) << 31) : 0, s = 31 + right;
        int odd = i % 2, q = i - odd; /* dword offset of lane pair i / 2 */
        memcpy(out + (3 + odd) * stride + q, &c, 8);
        memcpy(out + (5 + odd) * stride + q, &neg, 8);
        memcpy(out + (7 + odd) * stride + q, &s, 8);
        if (fscale) { /* float requant: [0] holds the float scale instead */
            float f = i < n_valid ? fscale[i] : 0.0f;
            memcpy(&out[i], &f, sizeof f);
        }
    }
}

/* The accumulator of 16 lanes, shifted for the requantization (see above). */
FROST_RQ_INLINE __m512i frost_acc_avx512(__m512i sum, const int32_t *bias, const int32_t *p,
                                         int stride)
{
    return _mm512_add_epi32(_mm512_sllv_epi32(sum, _mm512_loadu_si512(p + 2 * stride)),
                            _mm512_loadu_si512(bias));
}

FROST_RQ_INLINE __m256i frost_acc8_avx512(__m256i sum, const int32_t *bias, const int32_t *p,
                                          int stride)
{
    return _mm256_add_epi32(
        _mm256_sllv_epi32(sum, _mm256_loadu_si256((const __m256i *)(p + 2 * stride))),
        _mm256_loadu_si256((const __m256i *)bias));
}

/* MBQM of 16 lanes with frost_rq512_pack constants at p, x already shifted left by L. */
FROST_RQ_INLINE __m512i frost_mbqm_avx512(__m512i x, const int32_t *p, int stride)
{
    const __m512i zero = _mm512_setzero_si512();
    __m512i pe = _mm512_mul_epi32(x, _mm512_loadu_si512(p));
    __m512i po = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_loadu_si512(p + stride));
    __mmask8 ne = _mm512_cmplt_epi64_mask(pe, zero), no = _mm512_cmplt_epi64_mask(po, zero);
    pe = _mm512_add_epi64(pe, _mm512_loadu_si512(p + 3 * stride));
    po = _mm512_add_epi64(po, _mm512_loadu_si512(p + 4 * stride));
    pe = _mm512_mask_add_epi64(pe, ne, pe, _mm512_loadu_si512(p + 5 * stride));
    po = _mm512_mask_add_epi64(po, no, po, _mm512_loadu_si512(p + 6 * stride));
    pe = _mm512_srav_epi64(pe, _mm512_loadu_si512(p + 7 * stride));
    po = _mm512_srav_epi64(po, _mm512_loadu_si512(p + 8 * stride));
    /* the odd lanes' results (low dwords of po) into the odd dwords */
    return _mm512_mask_shuffle_epi32(pe, 0xAAAA, po, (_MM_PERM_ENUM)_MM_SHUFFLE(2, 2, 0, 0));
}

/* The same for 8 lanes (the first 8 of a 16-lane constant group). */
FROST_RQ_INLINE __m256i frost_mbqm8_avx512(__m256i x, const int32_t *p, int stride)
{
    const __m256i zero = _mm256_setzero_si256();
    __m256i pe = _mm256_mul_epi32(x, _mm256_loadu_si256((const __m256i *)p));
    __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(x, 32),
                                  _mm256_loadu_si256((const __m256i *)(p + stride)));
    __mmask8 ne = _mm256_cmplt_epi64_mask(pe, zero), no = _mm256_cmplt_epi64_mask(po, zero);
    pe = _mm256_add_epi64(pe, _mm256_loadu_si256((const __m256i *)(p + 3 * stride)));
    po = _mm256_add_epi64(po, _mm256_loadu_si256((const __m256i *)(p + 4 * stride)));
    pe = _mm256_mask_add_epi64(pe, ne, pe, _mm256_loadu_si256((const __m256i *)(p + 5 * stride)));
    po = _mm256_mask_add_epi64(po, no, po, _mm256_loadu_si256((const __m256i *)(p + 6 * stride)));
    pe = _mm256_srav_epi64(pe, _mm256_loadu_si256((const __m256i *)(p + 7 * stride)));
    po = _mm256_srav_epi64(po, _mm256_loadu_si256((const __m256i *)(p + 8 * stride)));
    return _mm256_mask_shuffle_epi32(pe, 0xAA, po, (_MM_PERM_ENUM)_MM_SHUFFLE(2, 2, 0, 0));
}

/* frost_requant_float of 16 lanes, float scales at p (cvtps2dq: the default rounding,
 * half to even, as nearbyintf). */
FROST_RQ_INLINE __m512i frost_requant_float_avx512(__m512i x, const int32_t *p)
{
    __m512 v =
        _mm512_mul_ps(_mm512_cvtepi32_ps(x), _mm512_loadu_ps((const float *)(const void *)p));
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-32768.0f)), _mm512_set1_ps(32767.0f));
    return _mm512_cvtps_epi32(v);
}

/* Requantization in the model's mode (fp: float, else fixed point), 16 and 8 lanes. */
FROST_RQ_INLINE __m512i frost_requant16_avx512(__m512i x, const int32_t *p, int stride, bool fp)
{
    return fp ? frost_requant_float_avx512(x, p) : frost_mbqm_avx512(x, p, stride);
}

FROST_RQ_INLINE __m256i frost_requant8_avx512(__m256i x, const int32_t *p, int stride, bool fp)
{
    return fp ? frost_requant_float_avx2(x, p) : frost_mbqm8_avx512(x, p, stride);
}

#endif
