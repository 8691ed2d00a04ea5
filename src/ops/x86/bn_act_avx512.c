/*
 * AVX-512F versions of the per-channel sums of batch norm: the fused BN +
 * activation's masked-gradient sums (ops/bn_act.h) and batch norm's own
 * statistics sums (ops/elementwise.h). Only called after frost_cpu_has_avx512f().
 *
 * Numerical contract, the same as the AVX2 versions: each channel adds its
 * rows in order into its own double lane, and a float product is exact in
 * double, so the FMA rounds like the reference's multiply-then-add:
 * bit-identical to the reference (and to AVX2). Wider vectors only put more
 * channels side by side; no lane ever sums across rows in another order.
 *
 * Channel tails use AVX-512 lane masks inside the same row loop (no second
 * sweep over the rows); masked-off lanes are neither read (no fault) nor
 * written.
 */
#include <immintrin.h>
#include <stdbool.h>

#include "ops/bn_act.h"
#include "ops/elementwise.h"

#define BN_ACT_INLINE static inline __attribute__((always_inline))

/* Lanes where the activation's derivative (read from its output y) is 1, on 8
 * lanes (AVX-512VL compares), for the sums, which widen 8 floats to 8 doubles
 * at a time; ordered compares, so a NaN y drops its gradient as in the
 * reference. */
BN_ACT_INLINE __mmask8 keep8(frost_act_kind k, __m256 y)
{
    switch (k) {
    case FROST_ACT_RELU: return _mm256_cmp_ps_mask(y, _mm256_setzero_ps(), _CMP_GT_OQ);
    case FROST_ACT_RELU6:
        return _mm256_cmp_ps_mask(y, _mm256_setzero_ps(), _CMP_GT_OQ) &
               _mm256_cmp_ps_mask(y, _mm256_set1_ps(6.0f), _CMP_LT_OQ);
    case FROST_ACT_HARDTANH:
        return _mm256_cmp_ps_mask(y, _mm256_set1_ps(-1.0f), _CMP_GT_OQ) &
               _mm256_cmp_ps_mask(y, _mm256_set1_ps(1.0f), _CMP_LT_OQ);
    case FROST_ACT_IDENTITY:
    case FROST_ACT_HSWISH:
    case FROST_ACT_HSIGMOID:
    case FROST_ACT_SIGMOID:
    case FROST_ACT_SILU:
    case FROST_ACT_COUNT: break;
    }
    return (__mmask8)0xFF;
}

/* Lanes 0..n-1 set, n clamped to 0..8. */
static __mmask8 lanes8(int n)
{
    return n <= 0 ? 0 : n >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << n) - 1u);
}

/* ---- sums of g and g*x in double ----
 *
 * A group is 8 channels: 8 floats widened to one zmm of doubles. sums_groups
 * runs `ng` (1..4, a constant after inlining) groups over the rows, each with
 * its own s1 and s2 accumulator, so four groups give 8 independent chains
 * (enough to hide the add/FMA latency). Each group has a lane mask: full for
 * the body, partial or empty for the channel tail.
 *
 * `plain` is batch norm's own statistics (g = a, no mask, no y); `same` (the
 * forward statistics, a == b) skips loading b again. */
/* One row of one group: p += g, q += g*x. */
BN_ACT_INLINE void sums_step(frost_act_kind k, bool plain, bool same, __mmask8 m, const float *dyr,
                             const float *yr, const float *xr, __m512d *p, __m512d *q)
{
    __m256 dyv = _mm256_maskz_loadu_ps(m, dyr);
    __mmask8 keep = plain ? m : (__mmask8)(m & keep8(k, _mm256_maskz_loadu_ps(m, yr)));
    /* dropped lanes become +0.0, the reference's masked gradient */
    __m512d gv = _mm512_maskz_cvtps_pd(keep, dyv);
    __m512d xv = same ? gv : _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, xr));
    *p = _mm512_add_pd(*p, gv);
    *q = _mm512_fmadd_pd(gv, xv, *q);
}

/* The groups are spelled out (not an array walked by a loop) so that the
 * accumulators stay in registers: an array of them was kept in memory by gcc,
 * which chained every add through a store and a reload. */
BN_ACT_INLINE void sums_groups(frost_act_kind k, bool plain, bool same, int ng, int n, int64_t rows,
                               int64_t ld, const float *dy, const float *y, const float *x,
                               double *s1, double *s2)
{
    __mmask8 m0 = lanes8(n), m1 = ng > 1 ? lanes8(n - 8) : 0;
    __mmask8 m2 = ng > 2 ? lanes8(n - 16) : 0, m3 = ng > 3 ? lanes8(n - 24) : 0;
    __m512d p0 = _mm512_maskz_loadu_pd(m0, s1), q0 = _mm512_maskz_loadu_pd(m0, s2);
    __m512d p1 = _mm512_maskz_loadu_pd(m1, s1 + 8), q1 = _mm512_maskz_loadu_pd(m1, s2 + 8);
    __m512d p2 = _mm512_maskz_loadu_pd(m2, s1 + 16), q2 = _mm512_maskz_loadu_pd(m2, s2 + 16);
    __m512d p3 = _mm512_maskz_loadu_pd(m3, s1 + 24), q3 = _mm512_maskz_loadu_pd(m3, s2 + 24);
    for (int64_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * ld, *yr = y + r * ld, *xr = x + r * ld;
        sums_step(k, plain, same, m0, dyr, yr, xr, &p0, &q0);
        if (ng > 1)
            sums_step(k, plain, same, m1, dyr + 8, yr + 8, xr + 8, &p1, &q1);
        if (ng > 2)
            sums_step(k, plain, same, m2, dyr + 16, yr + 16, xr + 16, &p2, &q2);
        if (ng > 3)
            sums_step(k, plain, same, m3, dyr + 24, yr + 24, xr + 24, &p3, &q3);
    }
    _mm512_mask_storeu_pd(s1, m0, p0);
    _mm512_mask_storeu_pd(s2, m0, q0);
    _mm512_mask_storeu_pd(s1 + 8, m1, p1);
    _mm512_mask_storeu_pd(s2 + 8, m1, q1);
    _mm512_mask_storeu_pd(s1 + 16, m2, p2);
    _mm512_mask_storeu_pd(s2 + 16, m2, q2);
    _mm512_mask_storeu_pd(s1 + 24, m3, p3);
    _mm512_mask_storeu_pd(s2 + 24, m3, q3);
}

/* Floats of one input per row block: the three inputs of a block (dy, y, x)
 * then take 24 KB and stay in L1 while each group of channels sweeps it. */
#define SUMS_BLOCK_FLOATS 2048

/* Each channel still adds its rows in order, block after block, so neither the
 * blocking nor the channel grouping changes the sums. */
BN_ACT_INLINE void sums_tile(frost_act_kind k, bool plain, bool same, int64_t rows, int tc,
                             int64_t ld, const float *dy, const float *y, const float *x,
                             double *s1, double *s2)
{
    int64_t block = SUMS_BLOCK_FLOATS / tc > 0 ? SUMS_BLOCK_FLOATS / tc : 1;
    for (int64_t r = 0; r < rows; r += block) {
        int64_t nr = rows - r < block ? rows - r : block;
        const float *dyb = dy + r * ld, *yb = y + r * ld, *xb = x + r * ld;
        int j = 0;
        for (; j + 32 <= tc; j += 32)
            sums_groups(k, plain, same, 4, 32, nr, ld, dyb + j, yb + j, xb + j, s1 + j, s2 + j);
        int n = tc - j; /* 0..31 channels left */
        if (n > 16)
            sums_groups(k, plain, same, 4, n, nr, ld, dyb + j, yb + j, xb + j, s1 + j, s2 + j);
        else if (n > 8)
            sums_groups(k, plain, same, 2, n, nr, ld, dyb + j, yb + j, xb + j, s1 + j, s2 + j);
        else if (n > 0)
            sums_groups(k, plain, same, 1, n, nr, ld, dyb + j, yb + j, xb + j, s1 + j, s2 + j);
    }
}

void frost_bn_act_sums_avx512(frost_act_kind act, int64_t rows, int tc, int64_t ld, const float *dy,
                              const float *y, const float *x, double *s1, double *s2)
{
    switch (act) {
    case FROST_ACT_RELU:
        sums_tile(FROST_ACT_RELU, false, false, rows, tc, ld, dy, y, x, s1, s2);
        break;
    case FROST_ACT_RELU6:
        sums_tile(FROST_ACT_RELU6, false, false, rows, tc, ld, dy, y, x, s1, s2);
        break;
    case FROST_ACT_HARDTANH:
        sums_tile(FROST_ACT_HARDTANH, false, false, rows, tc, ld, dy, y, x, s1, s2);
        break;
    case FROST_ACT_IDENTITY: /* and the non-clamps, which never fuse */
    case FROST_ACT_HSWISH:
    case FROST_ACT_HSIGMOID:
    case FROST_ACT_SIGMOID:
    case FROST_ACT_SILU:
    case FROST_ACT_COUNT:
        sums_tile(FROST_ACT_IDENTITY, true, false, rows, tc, ld, dy, y, x, s1, s2);
        break;
    }
}

/* Batch norm's statistics: sums of a and a*b (y is never read when plain). */
void frost_bn_sums_avx512(int64_t rows, int tc, int64_t ld, const float *a, const float *b,
                          double *s1, double *s2)
{
    if (a == b)
        sums_tile(FROST_ACT_IDENTITY, true, true, rows, tc, ld, a, a, a, s1, s2);
    else
        sums_tile(FROST_ACT_IDENTITY, true, false, rows, tc, ld, a, a, b, s1, s2);
}

/* No apply or dx kernel here: their zmm versions (streaming, memory-bound
 * element-wise passes) measured slower than the AVX2 ones on Zen 5 (dx 5-20%
 * in a kernel microbenchmark, the apply ~20% more profile samples inside a
 * training step), so the AVX-512 dispatch keeps frost_bn_act_apply_avx2 and
 * frost_bn_act_dx_avx2. */
