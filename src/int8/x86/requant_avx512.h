/* Sixteen-lane versions of requant_avx2.h's requantization, for the AVX-512 VNNI kernels
 * (files built with -mavx512f/bw/vl only; internal). The constants are the same
 * frost_rq_pack arrays; bit for bit the scalar frost_mbqm / frost_requant_float. */
#ifndef FROST_INT8_X86_REQUANT_AVX512_H
#define FROST_INT8_X86_REQUANT_AVX512_H

#include "int8/x86/requant_avx2.h"

/* MBQM of 16 lanes with frost_rq_pack constants at p (arrays `stride` apart): the
 * AVX2 form's steps, with the rounding carry added under a compare mask. */
FROST_RQ_INLINE __m512i frost_mbqm_pre_avx512(__m512i x, const int32_t *p, int stride)
{
    const __m512i nudge = _mm512_set1_epi64(INT64_C(1) << 30);
    x = _mm512_sllv_epi32(x, _mm512_loadu_si512(p + 2 * stride));
    __m512i even = _mm512_add_epi64(_mm512_mul_epi32(x, _mm512_loadu_si512(p)), nudge);
    __m512i odd = _mm512_add_epi64(
        _mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_loadu_si512(p + stride)), nudge);
    /* bits 31..62 of each product: the low dword after >> 31, the high dword after << 1 */
    x = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1));
    __m512i rem = _mm512_and_si512(x, _mm512_loadu_si512(p + 4 * stride));
    __m512i thr = _mm512_add_epi32(_mm512_loadu_si512(p + 5 * stride), _mm512_srli_epi32(x, 31));
    __m512i q = _mm512_srav_epi32(x, _mm512_loadu_si512(p + 3 * stride));
    return _mm512_mask_add_epi32(q, _mm512_cmpgt_epi32_mask(rem, thr), q, _mm512_set1_epi32(1));
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

FROST_RQ_INLINE __m512i frost_requant16_pre_avx512(__m512i x, const int32_t *p, int stride, bool fp)
{
    return fp ? frost_requant_float_avx512(x, p) : frost_mbqm_pre_avx512(x, p, stride);
}

#endif
