/* The FP32 kernels' fused activation on 16 lanes, shared by the AVX-512 GEMM and depthwise
 * (internal to src/ops/x86; only for files built with AVX-512F). The same expressions as
 * the scalar definitions in ops/act_def.h; sigmoid and SiLU on a vector exp, so they differ
 * from the reference by the rounding of e^x (and match the AVX2 kernels bit for bit). */
#ifndef FROST_OPS_X86_ACT_AVX512_H
#define FROST_OPS_X86_ACT_AVX512_H

#include <immintrin.h>

#include "ops/act_def.h"

/* e^x on 16 lanes: the steps of frost_exp_ps_avx2 (x86/exp_avx2.h, where the method and
 * the constants are explained) with the same constants and operations, except that 2^n is
 * applied by VSCALEFPS, which rounds once as the AVX2 version's two-step scaling does; so
 * both give the same bits. */
static inline __attribute__((always_inline)) __m512 frost_exp_ps_avx512(__m512 x)
{
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), x); /* NaN stays (second operand) */
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
    __m512 nf = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(0x1.62e430p-1f), x);
    r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(-0x1.05c610p-29f), r);
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(0x1.6a244cp-10f), r, _mm512_set1_ps(0x1.1239d4p-7f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0x1.5558f2p-5f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0x1.555492p-3f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0x1.fffffcp-2f));
    __m512 p = _mm512_fmadd_ps(q, _mm512_mul_ps(r, r), r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, nf);
}

/* frost_sigmoidf's form on 16 lanes (see frost_sigmoid_ps_avx2). */
static inline __attribute__((always_inline)) __m512 frost_sigmoid_ps_avx512(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 e = frost_exp_ps_avx512(_mm512_castsi512_ps(
        _mm512_or_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u))));
    __mmask16 nonneg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
    return _mm512_div_ps(_mm512_mask_blend_ps(nonneg, e, one), _mm512_add_ps(one, e));
}

/* Inlined always: the kernels call it with a loop-invariant `act` in their stores. */
static inline __attribute__((always_inline)) __m512 frost_activate_zmm(frost_act_kind act, __m512 v)
{
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    const __m512 three = _mm512_set1_ps(3.0f), sixth = _mm512_set1_ps(1.0f / 6.0f);
    /* max/min return their second operand when either is NaN: the order keeps NaN
     * flowing through, as the reference does */
    switch (act) {
    case FROST_ACT_RELU: return _mm512_max_ps(zero, v);
    case FROST_ACT_RELU6: return _mm512_min_ps(six, _mm512_max_ps(zero, v));
    case FROST_ACT_HARDTANH:
        return _mm512_min_ps(_mm512_set1_ps(1.0f), _mm512_max_ps(_mm512_set1_ps(-1.0f), v));
    case FROST_ACT_HSWISH:
        return _mm512_mul_ps(
            _mm512_mul_ps(v, _mm512_min_ps(six, _mm512_max_ps(zero, _mm512_add_ps(v, three)))),
            sixth);
    case FROST_ACT_HSIGMOID:
        return _mm512_mul_ps(_mm512_min_ps(six, _mm512_max_ps(zero, _mm512_add_ps(v, three))),
                             sixth);
    /* on the vector exp: within a few ulps of the reference, not its bits */
    case FROST_ACT_SIGMOID: return frost_sigmoid_ps_avx512(v);
    case FROST_ACT_SILU: return _mm512_mul_ps(v, frost_sigmoid_ps_avx512(v));
    case FROST_ACT_IDENTITY:
    case FROST_ACT_COUNT: break;
    }
    return v;
}

#endif
