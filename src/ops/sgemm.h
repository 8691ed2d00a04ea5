/*
 * FP32 GEMM for training's conv and linear layers (src/ops/conv2d.c, linear.c). Internal
 * to src/.
 *
 *   C[m][n] = beta * C + op(A)[m][k] * op(B)[k][n]      row-major, beta 0 or 1
 *
 * op(A) = A ([m][k], row stride lda) or A^T (A stored [k][m]); op(B) likewise. Training
 * uses three forms: forward X W^T (A plain, B transposed), dX = dY W (both plain) and
 * dW = dY^T X (A transposed). With beta = 0, C is only written (it may hold garbage).
 *
 * frost_sgemm takes the engine frost_cpu_train_gemm() names (core/cpu.h): frost's own
 * AVX-512 kernels where the CPU has AVX-512F (x86/sgemm_avx512.c), else OpenBLAS's
 * cblas_sgemm; FROST_BLAS=openblas / frost overrides that, for comparisons.
 *
 * frost's versions share one driver (sgemm.c): no copy of A is made (the micro-kernel
 * broadcasts A's elements from wherever they are, plain or transposed), B is read in
 * place when it is plain and transposed once per call into a buffer of the calling thread
 * when it is not (kept between calls, so steady-state training allocates nothing); K is
 * cut into blocks that keep a tile's B rows in L1. Each C tile is one thread's from start
 * to end, its k-blocks summed in a fixed order, so the result does not depend on the
 * thread count. The reference (triple loop) is the tests' oracle; the SIMD versions agree
 * with it to float rounding (FMA, a different order over k), not bit for bit.
 */
#ifndef FROST_OPS_SGEMM_H
#define FROST_OPS_SGEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cpu.h"

void frost_sgemm(bool trans_a, bool trans_b, int m, int n, int k, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);

/* One engine, for tests and benchmarks (the SIMD ones only where the CPU has them).
 * False when a scratch buffer could not be allocated (nothing was written to C). */
bool frost_sgemm_with(frost_train_gemm e, bool trans_a, bool trans_b, int m, int n, int k,
                      const float *a, int lda, const float *b, int ldb, float beta, float *c,
                      int ldc);

/* ---- between the driver (sgemm.c) and the micro-kernels (x86/sgemm_*.c) ---- */

/* One micro-tile: rows x cols of C (rows <= the kernel's MR, cols <= its widest strip)
 * from kc steps of k. op(A)'s element (i, kk) is a[i * a_rs + kk * a_cs], where one of
 * the two strides is 1; B's element (kk, j) is b[kk * ldb + j]. add: C += product,
 * else C = product. All MR rows of A are read (the driver pads short tiles). */
typedef struct {
    const float *a;
    int64_t a_rs, a_cs;
    const float *b;
    int64_t ldb;
    float *c;
    int64_t ldc;
    int kc, rows, cols;
    bool add;
} frost_sgemm_tile;

#define FROST_SGEMM_AVX512_MR 8
#define FROST_SGEMM_AVX512_NR 48
#define FROST_SGEMM_AVX2_MR   6
#define FROST_SGEMM_AVX2_NR   16

void frost_sgemm_tile_avx512(const frost_sgemm_tile *t);
void frost_sgemm_tile_avx2(const frost_sgemm_tile *t);

#endif
