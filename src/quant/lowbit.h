/*
 * Binary and ternary weight schemes and binary activations (internal): the forward
 * maps of each scheme and their straight-through backward rules, on plain arrays.
 * Formulas, conventions and worked values: docs/lowbit.md.
 *
 * Weights are laid out as `groups` runs of `inner` values; a group is one output
 * channel (per filter) or the whole tensor (groups = 1, per layer). sign(0) = +1
 * everywhere. Backward functions ADD their gradient into dw (the executor zeroes it).
 */
#ifndef FROST_QUANT_LOWBIT_H
#define FROST_QUANT_LOWBIT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/rng.h"
#include "ops/ops.h"

static inline float frost_sign1(float x) { return x >= 0.0f ? 1.0f : -1.0f; }

/* BinaryConnect's magnitude H from the layer's fan-in and fan-out (Glorot uniform's
 * bound halved: sqrt(1.5 / (fan_in + fan_out))). */
float frost_binary_glorot_h(int64_t fan_in, int64_t fan_out);

/* BinaryConnect, deterministic: y = +H where w >= 0, else -H. */
void frost_binary_forward(int64_t n, const float *w, float h, float *y);
/* BinaryConnect, stochastic: y = +H with probability clip((w/H + 1)/2, 0, 1), else -H;
 * one draw of rng per weight, in order. */
void frost_binary_stochastic_forward(int64_t n, const float *w, float h, frost_rng *rng, float *y);
/* BinaryConnect's constraint after an optimizer step: w = clip(w, -H, H). */
void frost_binary_clip(int64_t n, float *w, float h);

/* BWN: alpha[g] = mean |w| over the group, y = alpha[g] * sign(w). */
void frost_bwn_forward(int groups, int64_t inner, const float *w, float *alpha, float *y);
/* dw += dy * (1/inner + alpha[g] * 1{|w| <= 1}). */
void frost_bwn_backward(int groups, int64_t inner, const float *w, const float *alpha,
                        const float *dy, float *dw);

/* TWN: delta[g] = 0.7 * mean |w|; a[g] = mean |w| over |w| > delta (0 if none);
 * y = +a where w > delta, -a where w < -delta, else 0. The backward is the identity
 * (dw += dy). */
void frost_twn_forward(int groups, int64_t inner, const float *w, float *delta, float *a, float *y);

/* TTQ: threshold = t * max |w| over the tensor; y = +wp where w > thr, -wn where
 * w < -thr, else 0. Returns the threshold. */
float frost_ttq_forward(int64_t n, const float *w, float t, float wp, float wn, float *y);
/* dw += wp*dy (positive set), dy (zero set), wn*dy (negative set);
 * *dwp += MEAN of dy over the positive set, *dwn -= mean of dy over the negative set (the
 * true derivatives divided by the sets' sizes: docs/lowbit.md says why; 0 for an empty
 * set). */
void frost_ttq_backward(int64_t n, const float *w, float thr, float wp, float wn, const float *dy,
                        float *dw, float *dwp, float *dwn);
/* TTQ's constraint after an optimizer step: Wp, Wn >= FROST_TTQ_MIN_SCALE. A negative scale
 * would flip the sign of its set's weights and of their gradients; the floor is a sign
 * guard, not a size (a following BN makes only the ratio Wp : Wn matter). */
#define FROST_TTQ_MIN_SCALE 1e-6f
void frost_ttq_keep_positive(float *scales);
/* TTQ's starting scales: the mean |w| over the positive and the negative set (1e-3 if a
 * set is empty), so the first forward matches the real weights' magnitude. */
void frost_ttq_init_scales(int64_t n, const float *w, float t, float *wp, float *wn);

/* Binary activations: y = sign(x). */
void frost_sign_forward(int64_t n, const float *x, float *y);
/* BinaryNet's STE: dx += dy * 1{|x| <= 1}. */
void frost_sign_backward(int64_t n, const float *x, const float *dy, float *dx);
/* Bi-Real's ApproxSign derivative: 2 + 2x on [-1, 0), 2 - 2x on [0, 1), 0 elsewhere. */
float frost_approx_sign_grad(float x);
/* dx += dy * frost_approx_sign_grad(x). */
void frost_approx_sign_backward(int64_t n, const float *x, const float *dy, float *dx);

/* XNOR-Net's input scaling of a binary conv: A[n,h,w] = mean over channels of |x|, then
 * K[n,oy,ox] = the sum of A over the kernel window at that output (zero padding, the
 * conv's stride) divided by kh*kw. a: [n*h*w] scratch, k: [n*oh*ow]. */
void frost_xnor_conv_k(const frost_conv_params *p, frost_shape4 in, const float *x, float *a,
                       float *k);
/* XNOR-Net's scaling of a binary linear layer: beta[n] = mean |x[n, :]|. */
void frost_xnor_linear_beta(int n, int64_t in, const float *x, float *beta);
/* y[r, :] = k[r] * (y[r, :] - b) + b over rows of c outputs (b may be NULL): the scale
 * applies to the binary product, not to the bias. */
void frost_xnor_scale_rows(int64_t rows, int c, const float *k, const float *b, float *y);

#endif
