/*
 * The scalar definition of every activation: the one place that says what each
 * computes. The reference kernels (ops/act.c, ops/bn_act.c, ops/pgemm.c) and the int8
 * converter's tables call these; the SIMD kernels implement the same expressions in
 * the same order, and the tests hold them to the reference bit for bit, except where a
 * SIMD kernel computes e^x itself (sigmoid and SiLU in ops/x86/elementwise_avx2.c): those
 * differ from the reference only by the rounding of e^x and are held to a few ulps.
 *
 * Values follow PyTorch, including the gradient at the kinks (relu: 0 at x <= 0;
 * relu6: dy only for 0 < x < 6; hardtanh: dy only for -1 < x < 1; hardswish: 0 for
 * x < -3, dy*(x/3 + 1/2) for -3 <= x <= 3, dy above; hardsigmoid: dy/6 for -3 < x < 3).
 * Comparisons are written to be false for NaN, so NaN passes through the forward pass.
 *
 * Sigmoid is computed from e^-|x| (which never overflows): 1/(1+e^-x) for x >= 0 and
 * e^x/(1+e^x) below, so it keeps its relative accuracy (a few ulps) for any |x|, down to
 * the tiny values far left, and never forms inf/inf.
 * SiLU (swish) is x * sigmoid(x) on that sigmoid.
 */
#ifndef FROST_OPS_ACT_DEF_H
#define FROST_OPS_ACT_DEF_H

#include <math.h>
#include <stdbool.h>

#include "ops/ops.h"

static inline float frost_relu6f(float v) { return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v); }

/* clip(v, -1, 1): Bi-Real Net's real-valued activation (PyTorch's Hardtanh) */
static inline float frost_hardtanhf(float v) { return v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v); }

/* 1/(1+e^-x), stable for large |x| (NaN gives NaN). */
static inline float frost_sigmoidf(float x)
{
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* y = f(x) */
static inline float frost_act_value(frost_act_kind k, float x)
{
    const float sixth = 1.0f / 6.0f;
    switch (k) {
    case FROST_ACT_IDENTITY: return x;
    case FROST_ACT_RELU: return x < 0.0f ? 0.0f : x;
    case FROST_ACT_RELU6: return frost_relu6f(x);
    case FROST_ACT_HSWISH: return x * frost_relu6f(x + 3.0f) * sixth;
    case FROST_ACT_HSIGMOID: return frost_relu6f(x + 3.0f) * sixth;
    case FROST_ACT_SIGMOID: return frost_sigmoidf(x);
    case FROST_ACT_SILU: return x * frost_sigmoidf(x);
    case FROST_ACT_HARDTANH: return frost_hardtanhf(x);
    case FROST_ACT_COUNT: break;
    }
    return x;
}

/* f'(x) * dy, from the forward input x. */
static inline float frost_act_grad(frost_act_kind k, float x, float dy)
{
    const float sixth = 1.0f / 6.0f, third = 1.0f / 3.0f;
    switch (k) {
    case FROST_ACT_IDENTITY: return dy;
    case FROST_ACT_RELU: return x > 0.0f ? dy : 0.0f;
    case FROST_ACT_RELU6: return (x > 0.0f && x < 6.0f) ? dy : 0.0f;
    case FROST_ACT_HSWISH: {
        float g = x < -3.0f ? 0.0f : (x <= 3.0f ? x * third + 0.5f : 1.0f);
        return g * dy;
    }
    case FROST_ACT_HSIGMOID: return (x > -3.0f && x < 3.0f) ? dy * sixth : 0.0f;
    case FROST_ACT_SIGMOID: {
        float s = frost_sigmoidf(x);
        return dy * s * (1.0f - s);
    }
    case FROST_ACT_SILU: { /* d/dx x s(x) = s + x s (1 - s) */
        float s = frost_sigmoidf(x);
        return dy * s * (1.0f + x * (1.0f - s));
    }
    case FROST_ACT_HARDTANH: return (x > -1.0f && x < 1.0f) ? dy : 0.0f;
    case FROST_ACT_COUNT: break;
    }
    return dy;
}

/* Whether f is a clamp of its input to [*lo, *hi] (infinite bounds: no clamp). Clamps
 * fuse into BN kernels and into int8 requantization (as the output range); the others
 * need their own pass (or a table in int8). */
static inline bool frost_act_clamp(frost_act_kind k, float *lo, float *hi)
{
    *lo = -INFINITY;
    *hi = INFINITY;
    switch (k) {
    case FROST_ACT_IDENTITY: return true;
    case FROST_ACT_RELU: *lo = 0.0f; return true;
    case FROST_ACT_RELU6:
        *lo = 0.0f;
        *hi = 6.0f;
        return true;
    case FROST_ACT_HARDTANH:
        *lo = -1.0f;
        *hi = 1.0f;
        return true;
    case FROST_ACT_HSWISH:
    case FROST_ACT_HSIGMOID:
    case FROST_ACT_SIGMOID:
    case FROST_ACT_SILU:
    case FROST_ACT_COUNT: break;
    }
    return false;
}

/* Whether the fake-quant after f uses the fixed range [*lo, *hi] instead of an observed
 * one. Sigmoid: [0, 1], its whole output range, so the int8 gate of a squeeze-excite
 * block spends its 256 levels on (0, 1) with 0 exact (scale 1/255, zero point 0) and a
 * calibration that saw only part of the range cannot clip it. Hard-sigmoid is bounded
 * too but keeps its observed range: models quantized before keep their numbers. */
static inline bool frost_act_fixed_qrange(frost_act_kind k, float *lo, float *hi)
{
    *lo = -INFINITY;
    *hi = INFINITY;
    switch (k) {
    case FROST_ACT_SIGMOID:
        *lo = 0.0f;
        *hi = 1.0f;
        return true;
    case FROST_ACT_IDENTITY:
    case FROST_ACT_RELU:
    case FROST_ACT_RELU6:
    case FROST_ACT_HSWISH:
    case FROST_ACT_HSIGMOID:
    case FROST_ACT_SILU:
    case FROST_ACT_HARDTANH: /* a clamp: its range comes from the unit's observer */
    case FROST_ACT_COUNT: break;
    }
    return false;
}

/* A clamp that does something (relu, relu6, hardtanh): joins a conv-BN unit in quantization. */
static inline bool frost_act_is_real_clamp(frost_act_kind k)
{
    float lo, hi;
    return frost_act_clamp(k, &lo, &hi) && k != FROST_ACT_IDENTITY;
}

#endif
