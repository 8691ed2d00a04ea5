/* The FP32 kernels' fused activation on 16 lanes, shared by the AVX-512 GEMM and depthwise
 * (internal to src/ops/x86; only for files built with AVX-512F). The same expressions as
 * the scalar definitions in ops/act_def.h. */
#ifndef FROST_OPS_X86_ACT_AVX512_H
#define FROST_OPS_X86_ACT_AVX512_H

#include <immintrin.h>

#include "ops/act_def.h"

/* Activations without a vector form (no vector exp yet): each lane through the scalar
 * definition, so the result has the reference's bits. */
static inline __m512 frost_act_lanes_zmm(frost_act_kind act, __m512 v)
{
    float t[16];
    _mm512_storeu_ps(t, v);
    for (int i = 0; i < 16; i++)
        t[i] = frost_act_value(act, t[i]);
    return _mm512_loadu_ps(t);
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
    case FROST_ACT_SIGMOID:
    case FROST_ACT_SILU: return frost_act_lanes_zmm(act, v);
    case FROST_ACT_IDENTITY:
    case FROST_ACT_COUNT: break;
    }
    return v;
}

#endif
