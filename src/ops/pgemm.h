/*
 * FP32 GEMM with prepacked weights and a fused bias + activation epilogue, for batch-1
 * inference (src/infer). Internal to src/.
 *
 *   y[p][o] = act(bias[o] + sum_k x[p][k] * w[o][k])   for rows p in [p0, p1)
 *
 * x rows are NHWC pixels (or im2col patches), w is a conv's OHWI weight seen as
 * [cout][kdim]. The packed layout is blocks of FROST_PGEMM_NR output channels: each
 * block holds its NR biases, then kdim rows of NR weights (zero past cout), so the
 * micro-kernel reads the weights as contiguous vectors and never transposes.
 *
 * Three versions with one signature: a portable reference (pgemm.c), the oracle the tests
 * compare against; an AVX2/FMA one (x86/pgemm_avx2.c, 6 rows x 16 channels per
 * micro-tile) and an AVX-512 one (x86/pgemm_avx512.c, 12 rows x 32 channels, only called
 * after frost_cpu_has_avx512f()), both applying the activation in registers. They agree
 * with the reference to float rounding (the FMA contracts what the reference rounds
 * twice), not bit for bit.
 */
#ifndef FROST_OPS_PGEMM_H
#define FROST_OPS_PGEMM_H

#include <stddef.h>
#include <stdint.h>

#include "ops/ops.h"

#define FROST_PGEMM_NR 16

/* Floats of the packed weights + biases for a [cout][kdim] weight. */
size_t frost_pgemm_packed_floats(int cout, int kdim);
/* Packs w [cout][kdim] and bias [cout] (NULL = zeros). */
void frost_pgemm_pack(int cout, int kdim, const float *w, const float *bias, float *packed);

/* Rows [p0, p1) of y (row stride ldy) from rows of x (row stride ldx). */
void frost_pgemm_ref(frost_act_kind act, int p0, int p1, int kdim, int cout, const float *x,
                     int64_t ldx, const float *packed, float *y, int64_t ldy);
void frost_pgemm_avx2(frost_act_kind act, int p0, int p1, int kdim, int cout, const float *x,
                      int64_t ldx, const float *packed, float *y, int64_t ldy);
void frost_pgemm_avx512(frost_act_kind act, int p0, int p1, int kdim, int cout, const float *x,
                        int64_t ldx, const float *packed, float *y, int64_t ldy);

#endif
