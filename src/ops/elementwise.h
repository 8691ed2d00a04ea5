/*
 * Internal: the hot element-wise kernels of batch norm and the activations,
 * each as a portable reference (`_ref`, the oracle) and an AVX2/FMA version
 * (`_avx2`, in x86/elementwise_avx2.c, only called after frost_cpu_has_avx2()),
 * plus the small threading helpers the element-wise ops share.
 *
 * The BN kernels work on a "tile": `rows` rows of `tc` consecutive channels,
 * consecutive rows `ld` floats apart (ld = the tensor's channel count), so a
 * caller can hand them any block of an NHWC tensor without copying.
 */
#ifndef FROST_OPS_ELEMENTWISE_H
#define FROST_OPS_ELEMENTWISE_H

#include <stdint.h>

#include "ops/ops.h"

/* ---- batch norm tile kernels ---- */

/* s1[j] += sum_r a[r][j] and s2[j] += sum_r a[r][j]*b[r][j], in double, adding
 * rows in order. A float product is exact in double, so the AVX2 version (FMA
 * on the same values in the same order) is bit-identical to the reference.
 * Forward statistics pass a == b == x; backward passes a = dy, b = x. */
void frost_bn_sums_ref(int64_t rows, int tc, int64_t ld, const float *a, const float *b, double *s1,
                       double *s2);
void frost_bn_sums_avx2(int64_t rows, int tc, int64_t ld, const float *a, const float *b,
                        double *s1, double *s2);
/* The same sums with zmm double accumulators (x86/bn_act_avx512.c, only called
 * after frost_cpu_has_avx512f()): still each channel's rows in order, so still
 * bit-identical to the reference. */
void frost_bn_sums_avx512(int64_t rows, int tc, int64_t ld, const float *a, const float *b,
                          double *s1, double *s2);

/* y[r][j] = (x[r][j] - mean[j]) * scale[j] + shift[j]. x and y may alias. */
void frost_bn_apply_ref(int64_t rows, int tc, int64_t ld, const float *x, const float *mean,
                        const float *scale, const float *shift, float *y);
void frost_bn_apply_avx2(int64_t rows, int tc, int64_t ld, const float *x, const float *mean,
                         const float *scale, const float *shift, float *y);

/* dx[r][j] += scale[j] * (dy[r][j] - k1[j] - (x[r][j] - mean[j]) * k2[j]).
 * With overwrite the old dx is taken as 0 without being read: the same operations on the
 * same values as clearing dx first, so bit-identical to memset + add (also for -0). */
void frost_bn_dx_ref(int64_t rows, int tc, int64_t ld, const float *x, const float *dy,
                     const float *mean, const float *scale, const float *k1, const float *k2,
                     float *dx, bool overwrite);
void frost_bn_dx_avx2(int64_t rows, int tc, int64_t ld, const float *x, const float *dy,
                      const float *mean, const float *scale, const float *k1, const float *k2,
                      float *dx, bool overwrite);

/* ---- batch norm pass drivers (batchnorm.c), shared with the fused BN + activation ----
 *
 * A driver owns the threading (static row partition, per-thread double partial
 * sums added in thread order) and the per-channel math (statistics, running
 * values, parameter gradients); the row kernels it calls are plugged in. So a
 * fused op (ops/bn_act.c) gets batch norm's numbers bit for bit by supplying
 * kernels that only read or write differently. */

/* Per-channel constants of the channel tile [c0, c0+tc) (index 0 = channel c0):
 *   forward:  out = (x - mean) * scale + shift                 (k2 unused)
 *   backward: dx += scale * ((g - shift) - (x - mean) * k2),   g = dL/d(BN output) */
typedef struct {
    const float *mean, *scale, *shift, *k2;
} frost_bn_consts;

typedef struct {
    /* Adds s1[j] += a, s2[j] += a*b over rows [r0, r0+rows) of channels
     * [c0, c0+tc), each channel's rows in order, exactly like frost_bn_sums_ref
     * (forward: a = b = x; backward: a = g, b = x). Unused by the eval driver. */
    void (*sums)(const void *ctx, int64_t r0, int64_t rows, int c0, int tc, double *s1, double *s2);
    /* Writes the output of rows [r0, r0+rows) x channels [c0, c0+tc). */
    void (*apply)(const void *ctx, int64_t r0, int64_t rows, int c0, int tc,
                  const frost_bn_consts *k);
    const void *ctx;
} frost_bn_row_kernels;

/* frost_bn_forward_train without the tensors: same statistics, saved and running values. */
void frost_bn_train_pass(const frost_bn_row_kernels *rk, const frost_bn_params *p, int64_t m, int c,
                         const float *gamma, const float *beta, float *running_mean,
                         float *running_var, float *save_mean, float *save_invstd);
/* frost_bn_forward_eval without the tensors (rk->sums is not called). */
void frost_bn_eval_pass(const frost_bn_row_kernels *rk, const frost_bn_params *p, int64_t m, int c,
                        const float *gamma, const float *beta, const float *running_mean,
                        const float *running_var);
/* frost_bn_backward without the tensors: adds into dgamma and dbeta (nullable). */
void frost_bn_backward_pass(frost_bn_sync *sync, const frost_bn_row_kernels *rk, int64_t m, int c,
                            const float *gamma, const float *save_mean, const float *save_invstd,
                            float *dgamma, float *dbeta);

/* ---- activation kernels (single-threaded; the callers in act.c split the work) ---- */
void frost_act_forward_ref(frost_act_kind k, int64_t n, const float *x, float *y);
void frost_act_forward_avx2(frost_act_kind k, int64_t n, const float *x, float *y);
/* dx[i] += f'(x[i]) * dy[i] */
void frost_act_backward_ref(frost_act_kind k, int64_t n, const float *x, const float *dy,
                            float *dx);
void frost_act_backward_avx2(frost_act_kind k, int64_t n, const float *x, const float *dy,
                             float *dx);

/* ---- threading helpers (structural.c) ---- */

/* Below this many elements per thread, starting threads costs more than it saves. */
#define FROST_EW_MIN_PER_THREAD 16384

/* How many threads to use for `work` elements: frost_get_threads(), fewer for small work. */
int frost_ew_threads(int64_t work);

/* Calls fn(ctx, begin, end) on disjoint chunks covering items [0, n), one chunk
 * per thread of frost_ew_threads(n * floats_per_item) (the cost estimate). Items
 * smaller than 16 floats are grouped by 16, so with 1-float items threads never
 * write to the same 64-byte cache line. The split depends only on n and the
 * thread count, so results are reproducible. */
typedef void (*frost_range_fn)(void *ctx, int64_t begin, int64_t end);
void frost_parallel_range(int64_t n, int64_t floats_per_item, frost_range_fn fn, void *ctx);

#endif
