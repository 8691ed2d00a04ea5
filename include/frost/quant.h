/*
 * Quantization primitives: integer ranges, scale/zero-point rules, affine
 * fake-quantization with a straight-through estimator, and observers.
 *
 * Rules (the same as PyTorch's fake_quantize_per_tensor_affine /
 * fake_quantize_per_channel_affine and its observers' calculate_qparams):
 *   - A range [mn, mx] is first widened to include 0: mn = min(mn, 0), mx = max(mx, 0).
 *   - Affine:    S = max((mx - mn) / (qmax - qmin), FLT_EPSILON),
 *                Z = clamp(qmin - nearbyint(mn / S), qmin, qmax)  (round half to even),
 *                so real 0 is exactly q = Z.
 *   - Symmetric: S = max(max(-mn, mx) / ((qmax - qmin) / 2), FLT_EPSILON), Z = 0 for a signed
 *                range; unsigned: 128 for [0, 255], else floor((qmin + qmax) / 2).
 *   - Fake-quant: inv = 1.0f / S (float32); qf = Z + nearbyint(x * inv) (multiply by the
 *                inverse, round half to even); y = (clamp(qf, qmin, qmax) - Z) * S.
 *   - STE backward: dx = dy where qmin <= qf <= qmax on the *unclamped* qf, else 0.
 * All arithmetic is float32, in the order above, so for finite inputs with |x/S| < 2^63
 * results are bit-identical to PyTorch's (tests/test_quant_parity.c).
 *
 * Non-finite input, where frost deliberately differs from PyTorch (whose int64 cast sends
 * NaN, +-Inf and huge values to qmin): +-Inf and huge values saturate to the nearer range
 * end, NaN stays NaN; the gradient is 0 for all of them, as in PyTorch. Observers skip NaN
 * and +-Inf (PyTorch's keep a NaN forever); an observer that saw no finite value has no
 * range (frost_observer_range fails). An all-zero tensor gives S = FLT_EPSILON (never 0 or
 * NaN); a non-zero constant c is widened to include 0, so S = |c| / (qmax - qmin) or so.
 *
 * Ranges: a signed b-bit range is [-2^(b-1), 2^(b-1)-1], or [-(2^(b-1)-1), 2^(b-1)-1] when
 * narrow (frost's default for weights: symmetric int8 weights in [-127, 127], S = max|w|/127,
 * as the TFLite int8 spec requires); unsigned is [0, 2^b-1]. reduce_range drops one bit
 * (PyTorch's fbgemm setting).
 */
#ifndef FROST_QUANT_H
#define FROST_QUANT_H

#include <stdbool.h>
#include <stdint.h>

#include "frost/status.h"

/* The integer range of a b-bit type. Fails unless 2 <= bits <= 8 (and bits >= 3 with
 * reduce_range, so at least 2 bits remain). */
frost_status frost_qrange(int bits, bool is_signed, bool narrow, bool reduce_range, int *qmin,
                          int *qmax);

/* Scale and zero point for the range [mn, mx] (rules above). Fails on NaN/Inf bounds,
 * mn > mx or qmin >= qmax. */
frost_status frost_qparams(float mn, float mx, int qmin, int qmax, bool symmetric, float *scale,
                           int *zero_point);

/* Per-tensor fake-quant of n values (y may equal x). Requires scale > 0 and qmin <= Z <= qmax
 * (frost_qparams guarantees both; the caller checks other sources). */
void frost_fake_quant(int64_t n, const float *x, float scale, int zero_point, int qmin, int qmax,
                      float *y);
/* The clamped integer one value fake-quantizes to (the q of y = (q - Z) * S above); the
 * int8 converter builds its tables and clamps with it. NaN gives the zero point. */
int frost_quantize_one(float x, float scale, int zero_point, int qmin, int qmax);
/* STE: dx[i] += dy[i] where x[i] quantizes inside [qmin, qmax], else adds 0. */
void frost_fake_quant_backward(int64_t n, const float *x, float scale, int zero_point, int qmin,
                               int qmax, const float *dy, float *dx);
/* The same, but dx[i] = masked dy[i] (no read of dx: saves clearing it first). */
void frost_fake_quant_backward_write(int64_t n, const float *x, float scale, int zero_point,
                                     int qmin, int qmax, const float *dy, float *dx);

/* Per-channel over a tensor laid out [outer][channels][inner] (conv weights OHWI:
 * outer 1, inner kh*kw*cin; NHWC activations: inner 1). */
void frost_fake_quant_per_channel(int64_t outer, int channels, int64_t inner, const float *x,
                                  const float *scale, const int *zero_point, int qmin, int qmax,
                                  float *y);
void frost_fake_quant_per_channel_backward(int64_t outer, int channels, int64_t inner,
                                           const float *x, const float *scale,
                                           const int *zero_point, int qmin, int qmax,
                                           const float *dy, float *dx);

/* Min and max of the finite values of x (+Inf, -Inf if there are none). */
void frost_minmax_finite(int64_t n, const float *x, float *mn, float *mx);

/* Per-channel min and max (finite values only; a channel with none gets 0, 0). */
void frost_minmax_per_channel(int64_t outer, int channels, int64_t inner, const float *x, float *mn,
                              float *mx);

/* ---- Observers: collect a range from the tensors they see ---- */

typedef enum {
    FROST_OBS_MINMAX = 0, /* running min and max of everything seen */
    FROST_OBS_EMA,        /* first batch sets [min, max], then m += c * (m_batch - m) */
    FROST_OBS_HISTOGRAM,  /* 2048-bin histogram, range by L2-error search (PyTorch's) */
    FROST_OBS_PERCENTILE, /* clip at the p-th percentile of |x| (symmetric threshold) */
    FROST_OBS_ENTROPY,    /* 2048-bin histogram of |x|, threshold by KL divergence (TensorRT's) */
    FROST_OBS_COUNT
} frost_observer_kind;

/* "minmax", "ema", "hist", "percentile", "entropy" <-> kind; parse returns -1 if unknown. */
const char *frost_observer_kind_name(frost_observer_kind k);
int frost_observer_kind_parse(const char *name);

typedef struct frost_observer frost_observer;

typedef struct {
    frost_observer_kind kind;
    float ema_constant; /* EMA: 0.01 */
    float percentile;   /* PERCENTILE: in (50, 100], e.g. 99.99 */
    int dst_bins;       /* HISTOGRAM, ENTROPY: 2^bits of the target type (256 for 8 bits) */
    bool symmetric;     /* ENTROPY: the target is signed with Z = 0, so non-negative data
                         * gets only dst_bins / 2 levels over [0, T] (else all of them) */
} frost_observer_config;

frost_observer_config frost_observer_defaults(frost_observer_kind kind);

frost_status frost_observer_new(const frost_observer_config *cfg, frost_observer **out);
void frost_observer_free(frost_observer *o);
void frost_observer_reset(frost_observer *o);
/* Feeds n values. Fails only on allocation failure. */
frost_status frost_observer_observe(frost_observer *o, int64_t n, const float *x);
/* The observed range (before widening to include 0). Fails if nothing finite was seen. */
frost_status frost_observer_range(const frost_observer *o, float *mn, float *mx);

#endif
