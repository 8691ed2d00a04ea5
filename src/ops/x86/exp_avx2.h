/*
 * e^x and the logistic sigmoid on 8 floats, AVX2 + FMA (internal to src/ops/x86; only for
 * files built with -mavx2 -mfma, called after frost_cpu_has_avx2()).
 *
 * e^x = 2^n * e^r with n = round(x / ln2) and r = x - n*ln2, |r| <= ln2/2 (a hair more
 * when x*log2(e) rounds the other way). The reduction subtracts n*ln2 in two steps,
 * ln2 = LN2_HI + LN2_LO with LN2_HI the float nearest ln2: x - n*LN2_HI is exact in
 * float (|n| <= 150 and the difference is below 1/2, so it needs no more bits than x and
 * LN2_HI have) and FMA forms it with no rounding at all; the second step rounds once.
 *
 * e^r = 1 + r + r^2 Q(r), Q of degree 4: a minimax fit of the relative error on
 * [-ln2/2, ln2/2] with the 1 + r held exact, made with a Remez exchange in 40-digit
 * arithmetic and rounded to float (scripts/exp-remez prints them). With the float
 * coefficients the fit's own relative error is below 3.9e-9 (1/15 of half an ulp), so what
 * is left is the rounding of the few last operations.
 *
 * 2^n is applied as two powers of two, 2^(n - n/2) and then 2^(n/2), each built from
 * exponent bits: the first product stays normal for every n the clamp allows, and the
 * second rounds once, so results that underflow into the subnormals come out correctly
 * rounded (the same values glibc's expf gives, within its own error) instead of as
 * garbage from an out-of-range exponent field.
 *
 * Edges: x is clamped to [-104, 89] first. Below -104, e^x is under half the smallest
 * subnormal and the result is +0 (so is e^-inf); above 89 it is beyond FLT_MAX and the
 * scaling overflows to +inf, as for +inf. The clamps put x second in min/max, which return
 * their second operand for NaN, so NaN propagates.
 */
#ifndef FROST_OPS_X86_EXP_AVX2_H
#define FROST_OPS_X86_EXP_AVX2_H

#include <immintrin.h>

#define FROST_EXP_INLINE static inline __attribute__((always_inline))

/* e^x within about an ulp: at most 1.01 ulp over every float in [-104, 89] against double
 * (a scan outside the test suite; tests/test_ops_misc.c holds sigmoid and SiLU to it). */
FROST_EXP_INLINE __m256 frost_exp_ps_avx2(__m256 x)
{
    const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
    const __m256 ln2_hi = _mm256_set1_ps(0x1.62e430p-1f);   /* float(ln2) */
    const __m256 ln2_lo = _mm256_set1_ps(-0x1.05c610p-29f); /* float(ln2 - ln2_hi) */
    const __m256 c2 = _mm256_set1_ps(0x1.fffffcp-2f), c3 = _mm256_set1_ps(0x1.555492p-3f);
    const __m256 c4 = _mm256_set1_ps(0x1.5558f2p-5f), c5 = _mm256_set1_ps(0x1.1239d4p-7f);
    const __m256 c6 = _mm256_set1_ps(0x1.6a244cp-10f);
    const __m256i bias = _mm256_set1_epi32(127);

    x = _mm256_min_ps(_mm256_set1_ps(89.0f), x);
    x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x);

    __m256 nf =
        _mm256_round_ps(_mm256_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(nf, ln2_hi, x); /* exact */
    r = _mm256_fnmadd_ps(nf, ln2_lo, r);

    __m256 q = _mm256_fmadd_ps(c6, r, c5);
    q = _mm256_fmadd_ps(q, r, c4);
    q = _mm256_fmadd_ps(q, r, c3);
    q = _mm256_fmadd_ps(q, r, c2);
    __m256 p = _mm256_fmadd_ps(q, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));

    /* n in [-150, 128]: both halves in [-75, 64], valid normal exponents */
    __m256i n = _mm256_cvtps_epi32(nf);
    __m256i half = _mm256_srai_epi32(n, 1);
    __m256i rest = _mm256_sub_epi32(n, half);
    __m256 scale_rest = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(rest, bias), 23));
    __m256 scale_half = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, scale_rest), scale_half);
}

/* 1/(1+e^-x) in the form of frost_sigmoidf (ops/act_def.h): from e = e^-|x|, which never
 * overflows, 1/(1+e) for x >= 0 and e/(1+e) below, with a true division; so it differs
 * from the reference only by the rounding of e. NaN gives NaN (x >= 0 is false, e is NaN). */
FROST_EXP_INLINE __m256 frost_sigmoid_ps_avx2(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 e = frost_exp_ps_avx2(_mm256_or_ps(x, _mm256_set1_ps(-0.0f))); /* e^-|x| */
    __m256 num = _mm256_blendv_ps(e, one, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ));
    return _mm256_div_ps(num, _mm256_add_ps(one, e));
}

#endif
