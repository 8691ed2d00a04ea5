/*
 * Fused batch norm + activation (identity, ReLU, ReLU6) for training speed.
 *
 * In a mobile CNN, BN followed by ReLU/ReLU6 is memory bound: unfused, the
 * forward reads x twice and writes the BN output z, then reads z again to
 * write y; the backward zeroes a scratch gradient, masks dy into it, and reads
 * it back twice. The fused ops make the minimum number of passes:
 *   forward (training): one pass for the statistics of x, one pass writing
 *     y = act((x - mean) * gamma*invstd + beta);
 *   forward (eval): one pass writing y;
 *   backward: one pass for the per-channel sums of g and g*x, where
 *     g = dy masked by the activation's derivative, one pass adding into dx.
 * The derivative of these three activations is a 0/1 mask recoverable from the
 * output y (relu: y > 0; relu6: 0 < y < 6; identity: 1), which is what lets the
 * backward skip the pre-activation tensor.
 *
 * The numbers are batch norm's: the statistics, the saved mean/invstd, the
 * running statistics and the parameter gradients come from the same drivers
 * (batchnorm.c, via frost_bn_*_pass), so they are bit-identical to
 * frost_bn_forward_train / frost_bn_backward with the same thread count, and
 * deterministic for a fixed thread count (no atomics). Conventions as in
 * ops/ops.h: NHWC, m rows of c channels, gamma/beta and the running/saved
 * statistics nullable as in batch norm, backward ADDS into dx (nullable),
 * dgamma and dbeta (nullable). AVX2/FMA kernels are picked at run time with
 * frost_cpu_has_avx2(), with AVX-512F sums where frost_cpu_has_avx512f().
 */
#ifndef FROST_OPS_BN_ACT_H
#define FROST_OPS_BN_ACT_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/ops.h"

/* True for FROST_ACT_IDENTITY, FROST_ACT_RELU and FROST_ACT_RELU6: their
 * derivative is recoverable from the output y. The fused functions below
 * require such an act; see each for what happens otherwise. */
bool frost_bn_act_fusable(frost_act_kind act);

/* Training forward: y = act(BN_batchstats(x)). Updates running_mean/running_var
 * and saves the batch mean and 1/sqrt(var+eps) exactly like
 * frost_bn_forward_train (bit for bit). x and y may be the same buffer.
 * A non-fusable act is computed unfused (BN, then the activation in place):
 * right, but slower and useless for the fused backward. */
void frost_bn_act_forward_train(const frost_bn_params *p, frost_act_kind act, int64_t m, int c,
                                const float *x, const float *gamma, const float *beta,
                                float *running_mean, float *running_var, float *save_mean,
                                float *save_invstd, float *y);

/* Eval forward with the running statistics: y = act(BN_running(x)), one pass.
 * x and y may be the same buffer. A non-fusable act is computed unfused. */
void frost_bn_act_forward_eval(const frost_bn_params *p, frost_act_kind act, int64_t m, int c,
                               const float *x, const float *gamma, const float *beta,
                               const float *running_mean, const float *running_var, float *y);

/* Backward from dy (gradient w.r.t. y): the activation mask comes from y
 * (relu: y > 0, relu6: 0 < y < 6, identity: all), then BN backward with the
 * saved statistics. ADDS into dx (nullable), dgamma and dbeta (nullable).
 * With a non-fusable act the gradient cannot be recovered from y: nothing is
 * written (callers must check frost_bn_act_fusable first). */
void frost_bn_act_backward(frost_bn_sync *sync, frost_act_kind act, int64_t m, int c,
                           const float *x, const float *y, const float *gamma,
                           const float *save_mean, const float *save_invstd, const float *dy,
                           float *dx, float *dgamma, float *dbeta);
/* frost_bn_act_backward that writes dx (old contents ignored) instead of adding into
 * it, bit-identical to clearing dx first (see frost_bn_backward_write). */
void frost_bn_act_backward_write(frost_bn_sync *sync, frost_act_kind act, int64_t m, int c,
                                 const float *x, const float *y, const float *gamma,
                                 const float *save_mean, const float *save_invstd, const float *dy,
                                 float *dx, float *dgamma, float *dbeta);

/* ---- tile kernels: portable reference (bn_act.c), AVX2/FMA (x86/bn_act_avx2.c)
 *      and, for the sums only, AVX-512F (x86/bn_act_avx512.c) ----
 *
 * Like the BN tile kernels of ops/elementwise.h: `rows` rows of `tc`
 * consecutive channels, consecutive rows `ld` floats apart. `act` is one of
 * the fusable kinds (anything else is treated as identity). The AVX2 versions
 * are only called after frost_cpu_has_avx2(), the AVX-512 ones after
 * frost_cpu_has_avx512f() (which FROST_NO_AVX512 turns off). The AVX-512
 * sums keep the AVX2 numerical contract: bit-identical to the reference (each
 * channel's rows in order, in double). There is no AVX-512 apply or dx: zmm
 * measured slower than AVX2 for these memory-bound passes on Zen 5, so the
 * AVX-512 dispatch uses the AVX2 ones. */

/* y[r][j] = act((x[r][j] - mean[j]) * scale[j] + shift[j]); x and y may alias.
 * The reference is bit-identical to frost_bn_apply_ref then frost_act_forward_ref;
 * the AVX2 version rounds like frost_bn_apply_avx2 (one FMA), tail channels
 * included (masked vectors rather than the reference). */
void frost_bn_act_apply_ref(frost_act_kind act, int64_t rows, int tc, int64_t ld, const float *x,
                            const float *mean, const float *scale, const float *shift, float *y);
void frost_bn_act_apply_avx2(frost_act_kind act, int64_t rows, int tc, int64_t ld, const float *x,
                             const float *mean, const float *scale, const float *shift, float *y);

/* With g = keep(y) ? dy : 0 (keep = the activation's 0/1 derivative read from y):
 * s1[j] += sum_r g[r][j] and s2[j] += sum_r g[r][j]*x[r][j], in double, rows in
 * order: the same values as frost_bn_sums_ref(g, x). The AVX2 version is
 * bit-identical to the reference (float products are exact in double). */
void frost_bn_act_sums_ref(frost_act_kind act, int64_t rows, int tc, int64_t ld, const float *dy,
                           const float *y, const float *x, double *s1, double *s2);
void frost_bn_act_sums_avx2(frost_act_kind act, int64_t rows, int tc, int64_t ld, const float *dy,
                            const float *y, const float *x, double *s1, double *s2);
void frost_bn_act_sums_avx512(frost_act_kind act, int64_t rows, int tc, int64_t ld, const float *dy,
                              const float *y, const float *x, double *s1, double *s2);

/* dx[r][j] += scale[j] * ((g[r][j] - k1[j]) - (x[r][j] - mean[j]) * k2[j]), g as above
 * (with overwrite the old dx is taken as 0 without being read, as frost_bn_dx_*):
 * frost_bn_dx_* applied to the masked gradient, without materialising it
 * (rounding as above: the reference matches frost_bn_dx_ref bit for bit). */
void frost_bn_act_dx_ref(frost_act_kind act, int64_t rows, int tc, int64_t ld, const float *x,
                         const float *y, const float *dy, const float *mean, const float *scale,
                         const float *k1, const float *k2, float *dx, bool overwrite);
void frost_bn_act_dx_avx2(frost_act_kind act, int64_t rows, int tc, int64_t ld, const float *x,
                          const float *y, const float *dy, const float *mean, const float *scale,
                          const float *k1, const float *k2, float *dx, bool overwrite);

#endif
