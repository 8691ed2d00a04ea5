/*
 * Fixed-point requantization as in TFLite / gemmlowp: docs/int8.md#fixed-point-requantization.
 *
 * A real multiplier M > 0 is stored as (M0, e) with M = M0 * 2^(e - 31), M0 in [2^30, 2^31).
 * An int32 accumulator x is scaled by MBQM(x) = RDBPOT(SRDHM(x << max(e, 0), M0), max(-e, 0)):
 * a rounding doubling high multiply, then a rounding right shift (the default "double
 * rounding" form). These are the scalar definitions; the AVX2 kernels (x86/) must match them
 * bit for bit (tests/test_int8_kernels.c).
 */
#ifndef FROST_INT8_REQUANT_H
#define FROST_INT8_REQUANT_H

#include <math.h>
#include <stdint.h>

/* (M0, e) for a real multiplier m >= 0 (frexp, round half away from zero, M0 == 2^31 folds
 * into 2^30 with e + 1; below 2^-31 the multiplier is 0). */
void frost_quantize_multiplier(double m, int32_t *m0, int32_t *e);

/* Saturating rounding doubling high multiply: round(a * b / 2^31), ties toward +inf. */
static inline int32_t frost_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    int64_t p = (int64_t)a * (int64_t)b;
    int64_t nudge = p >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((p + nudge) / (INT64_C(1) << 31)); /* C division truncates */
}

/* Rounding divide by 2^e (0 <= e <= 31), ties away from zero. */
static inline int32_t frost_rdbpot(int32_t x, int e)
{
    int32_t mask = (int32_t)((UINT32_C(1) << e) - 1);
    int32_t rem = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0);
    return (x >> e) + (rem > threshold);
}

/* MultiplyByQuantizedMultiplier: x * M0 * 2^(e - 31), double rounding. */
static inline int32_t frost_mbqm(int32_t x, int32_t m0, int32_t e)
{
    int left = e > 0 ? e : 0, right = e > 0 ? 0 : -e;
    return frost_rdbpot(frost_srdhm((int32_t)((uint32_t)x << left), m0), right);
}

/* clamp(MBQM(acc) + zp, lo, hi). */
static inline uint8_t frost_requant_u8(int32_t acc, int32_t m0, int32_t e, int32_t zp, int32_t lo,
                                       int32_t hi)
{
    int32_t v = frost_mbqm(acc, m0, e) + zp;
    return (uint8_t)(v < lo ? lo : v > hi ? hi : v);
}

/*
 * Float requantization, the option frost_int8_set_float_requant turns on (XNNPACK's, ONNX
 * Runtime's and oneDNN's scheme; not integer-only): v = (float)acc * scale in float32, v
 * clamped to [-32768, 32767] (so the conversion cannot overflow; every clamped value lies
 * outside [0, 255] after the zero point anyway), rounded half to even. The scalar form
 * here and the vector one (cvtdq2ps, mulps, cvtps2dq) give the same bits: IEEE float32
 * operations in the default rounding mode, no fused multiply-add (-ffp-contract=off).
 */
static inline int32_t frost_round_clamped(float v)
{
    v = v < -32768.0f ? -32768.0f : v > 32767.0f ? 32767.0f : v;
    return (int32_t)nearbyintf(v);
}

static inline int32_t frost_requant_float(int32_t acc, float scale)
{
    return frost_round_clamped((float)acc * scale);
}

static inline uint8_t frost_requant_u8_float(int32_t acc, float scale, int32_t zp, int32_t lo,
                                             int32_t hi)
{
    int32_t v = frost_requant_float(acc, scale) + zp;
    return (uint8_t)(v < lo ? lo : v > hi ? hi : v);
}

#endif
