/*
 * Affine fake-quantization and its straight-through gradient, per tensor and
 * per channel; integer ranges and scale/zero-point rules. The rules and the
 * order of float32 operations follow PyTorch (see include/frost/quant.h), so
 * this file is built with -ffp-contract=off: a fused multiply-add would round
 * once where PyTorch rounds twice.
 */
#include <float.h>
#include <math.h>

#include "core/cpu.h"
#include "frost/quant.h"
#include "quant/fq_kernels.h"

frost_status frost_qrange(int bits, bool is_signed, bool narrow, bool reduce_range, int *qmin,
                          int *qmax)
{
    if (bits < 2 || bits > 8)
        return frost_fail(FROST_ERR_ARG, "quantization bits must be 2..8 (got %d)", bits);
    int b = reduce_range ? bits - 1 : bits;
    if (b < 2)
        return frost_fail(FROST_ERR_ARG, "reduce_range needs at least 3 bits (got %d)", bits);
    if (is_signed) {
        *qmax = (1 << (b - 1)) - 1;
        *qmin = narrow ? -*qmax : -*qmax - 1;
    } else {
        *qmin = 0;
        *qmax = (1 << b) - 1;
    }
    return FROST_OK;
}

frost_status frost_qparams(float mn, float mx, int qmin, int qmax, bool symmetric, float *scale,
                           int *zero_point)
{
    if (!isfinite(mn) || !isfinite(mx))
        return frost_fail(FROST_ERR_NUMERIC, "quantization range [%g, %g] is not finite",
                          (double)mn, (double)mx);
    if (mn > mx)
        return frost_fail(FROST_ERR_ARG, "quantization range [%g, %g] has min > max", (double)mn,
                          (double)mx);
    if (qmin >= qmax)
        return frost_fail(FROST_ERR_ARG, "integer range [%d, %d] is empty", qmin, qmax);
    float neg = fminf(mn, 0.0f), pos = fmaxf(mx, 0.0f);
    if (symmetric) {
        float amax = fmaxf(-neg, pos);
        float s = amax / ((float)(qmax - qmin) / 2.0f);
        *scale = fmaxf(s, FLT_EPSILON);
        if (qmin < 0)
            *zero_point = 0;
        else /* PyTorch: 128 for the full quint8 range, the rounded-down midpoint otherwise */
            *zero_point = (qmin == 0 && qmax == 255) ? 128 : (qmin + qmax) / 2;
        return FROST_OK;
    }
    float s = fmaxf((pos - neg) / (float)(qmax - qmin), FLT_EPSILON);
    /* neg <= 0 and neg/s >= -(qmax - qmin), so r is a small integer */
    long z = (long)qmin - (long)nearbyintf(neg / s);
    *scale = s;
    *zero_point = (int)(z < qmin ? qmin : z > qmax ? qmax : z);
    return FROST_OK;
}

/* Round half to even, as nearbyintf in the default rounding mode, without the libm
 * call: below 2^22 in magnitude, adding and subtracting 1.5 * 2^23 leaves exactly the
 * integer part rounded half-to-even (the sum's ulp is 1). -0.3 gives +0 where nearbyintf
 * gives -0; every caller adds the zero point first, which erases that difference. */
static inline float round_half_even(float v)
{
    if (fabsf(v) < 4194304.0f)
        return (v + 12582912.0f) - 12582912.0f;
    return nearbyintf(v); /* large, Inf or NaN */
}

/* The unclamped quantized value as a float (PyTorch: zero_point + nearbyint(x * inv)). */
static inline float quant_float(float x, float inv, int zero_point)
{
    return (float)zero_point + round_half_even(x * inv);
}

static inline float fq_one(float x, float scale, float inv, int zp, float qmin, float qmax)
{
    float q = quant_float(x, inv, zp);
    if (isnan(q))
        return q; /* NaN stays NaN */
    q = q < qmin ? qmin : q > qmax ? qmax : q;
    return (q - (float)zp) * scale;
}

static inline bool fq_inside(float x, float inv, int zp, float qmin, float qmax)
{
    float q = quant_float(x, inv, zp);
    return q >= qmin && q <= qmax; /* false for NaN */
}

int frost_quantize_one(float x, float scale, int zero_point, int qmin, int qmax)
{
    float q = quant_float(x, 1.0f / scale, zero_point);
    if (isnan(q))
        return zero_point;
    return q < (float)qmin ? qmin : q > (float)qmax ? qmax : (int)q;
}

/* ---- reference kernels (the oracle for the AVX2 ones in x86/fq_avx2.c) ---- */

void frost_fake_quant_ref(int64_t n, const float *x, float scale, float inv, int zp, float lo,
                          float hi, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = fq_one(x[i], scale, inv, zp, lo, hi);
}

void frost_fake_quant_grad_ref(int64_t n, const float *x, float inv, int zp, float lo, float hi,
                               const float *dy, float *dx, bool accumulate)
{
    for (int64_t i = 0; i < n; i++) {
        float g = fq_inside(x[i], inv, zp, lo, hi) ? dy[i] : 0.0f;
        dx[i] = accumulate ? dx[i] + g : g;
    }
}

void frost_minmax_finite_ref(int64_t n, const float *x, float *mn, float *mx)
{
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i])) {
            lo = x[i] < lo ? x[i] : lo;
            hi = x[i] > hi ? x[i] : hi;
        }
    *mn = lo;
    *mx = hi;
}

/* ---- dispatch: AVX2 when the CPU has it, blocks spread over threads ---- */

/* Elementwise, so any split gives identical results; small tensors stay on one thread. */
#define FQ_BLOCK        16384
#define FQ_PARALLEL_MIN (4 * FQ_BLOCK)

static void fq(int64_t n, const float *x, float scale, int zp, int qmin, int qmax, float *y)
{
    float inv = 1.0f / scale;
    bool avx2 = frost_cpu_has_avx2();
    int64_t blocks = (n + FQ_BLOCK - 1) / FQ_BLOCK;
#pragma omp parallel for if (n >= FQ_PARALLEL_MIN) num_threads(frost_get_threads()) schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t i = b * FQ_BLOCK, len = n - i < FQ_BLOCK ? n - i : FQ_BLOCK;
        if (avx2)
            frost_fake_quant_avx2(len, x + i, scale, inv, zp, (float)qmin, (float)qmax, y + i);
        else
            frost_fake_quant_ref(len, x + i, scale, inv, zp, (float)qmin, (float)qmax, y + i);
    }
}

static void fq_grad(int64_t n, const float *x, float scale, int zp, int qmin, int qmax,
                    const float *dy, float *dx, bool accumulate)
{
    float inv = 1.0f / scale;
    bool avx2 = frost_cpu_has_avx2();
    int64_t blocks = (n + FQ_BLOCK - 1) / FQ_BLOCK;
#pragma omp parallel for if (n >= FQ_PARALLEL_MIN) num_threads(frost_get_threads()) schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t i = b * FQ_BLOCK, len = n - i < FQ_BLOCK ? n - i : FQ_BLOCK;
        if (avx2)
            frost_fake_quant_grad_avx2(len, x + i, inv, zp, (float)qmin, (float)qmax, dy + i,
                                       dx + i, accumulate);
        else
            frost_fake_quant_grad_ref(len, x + i, inv, zp, (float)qmin, (float)qmax, dy + i, dx + i,
                                      accumulate);
    }
}

/* Min and max are exact, so per-block results combine to the same answer in any order. */
void frost_minmax_finite(int64_t n, const float *x, float *mn, float *mx)
{
    bool avx2 = frost_cpu_has_avx2();
    float lo = INFINITY, hi = -INFINITY;
    int64_t blocks = (n + FQ_BLOCK - 1) / FQ_BLOCK;
#pragma omp parallel for if (n >= FQ_PARALLEL_MIN) num_threads(frost_get_threads()) \
    schedule(static) reduction(min                                                  \
                               : lo) reduction(max                                  \
                                               : hi)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t i = b * FQ_BLOCK, len = n - i < FQ_BLOCK ? n - i : FQ_BLOCK;
        float bl, bh;
        if (avx2)
            frost_minmax_finite_avx2(len, x + i, &bl, &bh);
        else
            frost_minmax_finite_ref(len, x + i, &bl, &bh);
        lo = bl < lo ? bl : lo;
        hi = bh > hi ? bh : hi;
    }
    *mn = lo;
    *mx = hi;
}

void frost_fake_quant(int64_t n, const float *x, float scale, int zero_point, int qmin, int qmax,
                      float *y)
{
    fq(n, x, scale, zero_point, qmin, qmax, y);
}

void frost_fake_quant_backward(int64_t n, const float *x, float scale, int zero_point, int qmin,
                               int qmax, const float *dy, float *dx)
{
    fq_grad(n, x, scale, zero_point, qmin, qmax, dy, dx, true);
}

void frost_fake_quant_backward_write(int64_t n, const float *x, float scale, int zero_point,
                                     int qmin, int qmax, const float *dy, float *dx)
{
    fq_grad(n, x, scale, zero_point, qmin, qmax, dy, dx, false);
}

/* Per channel: runs of `inner` values share a channel; with inner == 1 (NHWC activations)
 * each value has its own, so the scalar loop is used. */
void frost_fake_quant_per_channel(int64_t outer, int channels, int64_t inner, const float *x,
                                  const float *scale, const int *zero_point, int qmin, int qmax,
                                  float *y)
{
    for (int64_t o = 0; o < outer; o++)
        for (int c = 0; c < channels; c++) {
            int64_t base = (o * channels + c) * inner;
            if (inner >= 8)
                fq(inner, x + base, scale[c], zero_point[c], qmin, qmax, y + base);
            else
                frost_fake_quant_ref(inner, x + base, scale[c], 1.0f / scale[c], zero_point[c],
                                     (float)qmin, (float)qmax, y + base);
        }
}

void frost_fake_quant_per_channel_backward(int64_t outer, int channels, int64_t inner,
                                           const float *x, const float *scale,
                                           const int *zero_point, int qmin, int qmax,
                                           const float *dy, float *dx)
{
    for (int64_t o = 0; o < outer; o++)
        for (int c = 0; c < channels; c++) {
            int64_t base = (o * channels + c) * inner;
            if (inner >= 8)
                fq_grad(inner, x + base, scale[c], zero_point[c], qmin, qmax, dy + base, dx + base,
                        true);
            else
                frost_fake_quant_grad_ref(inner, x + base, 1.0f / scale[c], zero_point[c],
                                          (float)qmin, (float)qmax, dy + base, dx + base, true);
        }
}

void frost_minmax_per_channel(int64_t outer, int channels, int64_t inner, const float *x, float *mn,
                              float *mx)
{
    for (int c = 0; c < channels; c++) {
        mn[c] = INFINITY;
        mx[c] = -INFINITY;
    }
    for (int64_t o = 0; o < outer; o++)
        for (int c = 0; c < channels; c++) {
            const float *p = x + (o * channels + c) * inner;
            float lo = mn[c], hi = mx[c];
            for (int64_t i = 0; i < inner; i++)
                if (isfinite(p[i])) {
                    lo = p[i] < lo ? p[i] : lo;
                    hi = p[i] > hi ? p[i] : hi;
                }
            mn[c] = lo;
            mx[c] = hi;
        }
    for (int c = 0; c < channels; c++)
        if (mn[c] > mx[c])
            mn[c] = mx[c] = 0.0f;
}
