/*
 * AVX2/FMA versions of the fused BN + activation tile kernels (contracts in
 * ops/bn_act.h). Each kernel is written once for a generic activation kind and
 * instantiated per kind through a switch, so the vector loops are branch free.
 *
 * Channel tails (tc not a multiple of 8) use masked loads and stores inside
 * the same row loop instead of a second sweep over the rows: a tile's rows are
 * far apart in memory, and a second sweep would fetch their cache lines again.
 */
#include <immintrin.h>
#include <string.h>

#include "ops/bn_act.h"

#define BN_ACT_INLINE static inline __attribute__((always_inline))

/* max/min return their second operand when either is NaN: putting z second
 * lets NaN propagate, as in the reference. */
BN_ACT_INLINE __m256 act_v(frost_act_kind k, __m256 z)
{
    switch (k) {
    case FROST_ACT_RELU: return _mm256_max_ps(_mm256_setzero_ps(), z);
    case FROST_ACT_RELU6:
        return _mm256_min_ps(_mm256_set1_ps(6.0f), _mm256_max_ps(_mm256_setzero_ps(), z));
    case FROST_ACT_HARDTANH:
        return _mm256_min_ps(_mm256_set1_ps(1.0f), _mm256_max_ps(_mm256_set1_ps(-1.0f), z));
    case FROST_ACT_IDENTITY:
    case FROST_ACT_HSWISH: /* not a clamp: never fused (frost_bn_act_fusable) */
    case FROST_ACT_HSIGMOID:
    case FROST_ACT_SIGMOID:
    case FROST_ACT_SILU:
    case FROST_ACT_COUNT: break;
    }
    return z;
}

/* All-ones lanes where the activation's derivative (read from its output y) is 1. */
BN_ACT_INLINE __m256 keep_v(frost_act_kind k, __m256 y)
{
    const __m256 zero = _mm256_setzero_ps();
    switch (k) {
    case FROST_ACT_RELU: return _mm256_cmp_ps(y, zero, _CMP_GT_OQ);
    case FROST_ACT_RELU6:
        return _mm256_and_ps(_mm256_cmp_ps(y, zero, _CMP_GT_OQ),
                             _mm256_cmp_ps(y, _mm256_set1_ps(6.0f), _CMP_LT_OQ));
    case FROST_ACT_HARDTANH:
        return _mm256_and_ps(_mm256_cmp_ps(y, _mm256_set1_ps(-1.0f), _CMP_GT_OQ),
                             _mm256_cmp_ps(y, _mm256_set1_ps(1.0f), _CMP_LT_OQ));
    case FROST_ACT_IDENTITY:
    case FROST_ACT_HSWISH: /* not a clamp: never fused (frost_bn_act_fusable) */
    case FROST_ACT_HSIGMOID:
    case FROST_ACT_SIGMOID:
    case FROST_ACT_SILU:
    case FROST_ACT_COUNT: break;
    }
    return _mm256_castsi256_ps(_mm256_set1_epi32(-1));
}

/* Masked gradient g = keep(y) ? dy : +0, as the reference. */
BN_ACT_INLINE __m256 masked_grad(frost_act_kind k, __m256 y, __m256 dy)
{
    return _mm256_and_ps(keep_v(k, y), dy);
}

/* Lanes 0..n-1 set (n in 0..8), for the masked loads/stores of a channel tail. */
static __m256i lanes_below(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* ---- forward: y = act((x - mean) * scale + shift) ---- */

BN_ACT_INLINE void apply_rows(frost_act_kind k, int64_t rows, int tc, int64_t ld, const float *x,
                              const float *mean, const float *scale, const float *shift, float *y)
{
    int tv = tc & ~7, rem = tc - tv;
    __m256i tail = lanes_below(rem); /* all clear when rem == 0: nothing is touched */
    __m256 tmean = _mm256_maskload_ps(mean + tv, tail);
    __m256 tscale = _mm256_maskload_ps(scale + tv, tail);
    __m256 tshift = _mm256_maskload_ps(shift + tv, tail);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ld;
        float *yr = y + r * ld;
        for (int j = 0; j < tv; j += 8) {
            __m256 xc = _mm256_sub_ps(_mm256_loadu_ps(xr + j), _mm256_loadu_ps(mean + j));
            __m256 z = _mm256_fmadd_ps(xc, _mm256_loadu_ps(scale + j), _mm256_loadu_ps(shift + j));
            _mm256_storeu_ps(yr + j, act_v(k, z));
        }
        if (rem) {
            __m256 xc = _mm256_sub_ps(_mm256_maskload_ps(xr + tv, tail), tmean);
            _mm256_maskstore_ps(yr + tv, tail, act_v(k, _mm256_fmadd_ps(xc, tscale, tshift)));
        }
    }
}

void frost_bn_act_apply_avx2(frost_act_kind act, int64_t rows, int tc, int64_t ld, const float *x,
                             const float *mean, const float *scale, const float *shift, float *y)
{
    switch (act) {
    case FROST_ACT_RELU: apply_rows(FROST_ACT_RELU, rows, tc, ld, x, mean, scale, shift, y); break;
    case FROST_ACT_RELU6:
        apply_rows(FROST_ACT_RELU6, rows, tc, ld, x, mean, scale, shift, y);
        break;
    case FROST_ACT_HARDTANH:
        apply_rows(FROST_ACT_HARDTANH, rows, tc, ld, x, mean, scale, shift, y);
        break;
    case FROST_ACT_IDENTITY: /* and the non-clamps, which never fuse */
    case FROST_ACT_HSWISH:
    case FROST_ACT_HSIGMOID:
    case FROST_ACT_SIGMOID:
    case FROST_ACT_SILU:
    case FROST_ACT_COUNT:
        apply_rows(FROST_ACT_IDENTITY, rows, tc, ld, x, mean, scale, shift, y);
        break;
    }
}

/* ---- backward statistics: sums of g and g*x in double ---- */

static __m256d lo_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
static __m256d hi_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }

/* 16 channels with 8 independent double accumulators (enough to hide the
 * add/FMA latency). Rows are added in order and g*x is exact in double, so the
 * FMA rounds exactly like the reference's multiply-then-add: identical sums. */
BN_ACT_INLINE void sums16(frost_act_kind k, int64_t rows, int64_t ld, const float *dy,
                          const float *y, const float *x, double *s1, double *s2)
{
    __m256d p0 = _mm256_loadu_pd(s1), p1 = _mm256_loadu_pd(s1 + 4);
    __m256d p2 = _mm256_loadu_pd(s1 + 8), p3 = _mm256_loadu_pd(s1 + 12);
    __m256d q0 = _mm256_loadu_pd(s2), q1 = _mm256_loadu_pd(s2 + 4);
    __m256d q2 = _mm256_loadu_pd(s2 + 8), q3 = _mm256_loadu_pd(s2 + 12);
    for (int64_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * ld, *yr = y + r * ld, *xr = x + r * ld;
        __m256 ga = masked_grad(k, _mm256_loadu_ps(yr), _mm256_loadu_ps(dyr));
        __m256 gb = masked_grad(k, _mm256_loadu_ps(yr + 8), _mm256_loadu_ps(dyr + 8));
        __m256 xa = _mm256_loadu_ps(xr), xb = _mm256_loadu_ps(xr + 8);
        __m256d g0 = lo_pd(ga), g1 = hi_pd(ga), g2 = lo_pd(gb), g3 = hi_pd(gb);
        p0 = _mm256_add_pd(p0, g0);
        p1 = _mm256_add_pd(p1, g1);
        p2 = _mm256_add_pd(p2, g2);
        p3 = _mm256_add_pd(p3, g3);
        q0 = _mm256_fmadd_pd(g0, lo_pd(xa), q0);
        q1 = _mm256_fmadd_pd(g1, hi_pd(xa), q1);
        q2 = _mm256_fmadd_pd(g2, lo_pd(xb), q2);
        q3 = _mm256_fmadd_pd(g3, hi_pd(xb), q3);
    }
    _mm256_storeu_pd(s1, p0);
    _mm256_storeu_pd(s1 + 4, p1);
    _mm256_storeu_pd(s1 + 8, p2);
    _mm256_storeu_pd(s1 + 12, p3);
    _mm256_storeu_pd(s2, q0);
    _mm256_storeu_pd(s2 + 4, q1);
    _mm256_storeu_pd(s2 + 8, q2);
    _mm256_storeu_pd(s2 + 12, q3);
}

/* n (1..8) channels through masked loads: the lanes past n load 0 and are not
 * written back. */
BN_ACT_INLINE void sums_upto8(frost_act_kind k, int64_t rows, int64_t ld, int n, const float *dy,
                              const float *y, const float *x, double *s1, double *s2)
{
    double t1[8] = {0}, t2[8] = {0};
    memcpy(t1, s1, sizeof(double) * (size_t)n);
    memcpy(t2, s2, sizeof(double) * (size_t)n);
    __m256i lanes = lanes_below(n);
    __m256d p0 = _mm256_loadu_pd(t1), p1 = _mm256_loadu_pd(t1 + 4);
    __m256d q0 = _mm256_loadu_pd(t2), q1 = _mm256_loadu_pd(t2 + 4);
    for (int64_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * ld, *yr = y + r * ld, *xr = x + r * ld;
        __m256 g = masked_grad(k, _mm256_maskload_ps(yr, lanes), _mm256_maskload_ps(dyr, lanes));
        __m256 xv = _mm256_maskload_ps(xr, lanes);
        __m256d g0 = lo_pd(g), g1 = hi_pd(g);
        p0 = _mm256_add_pd(p0, g0);
        p1 = _mm256_add_pd(p1, g1);
        q0 = _mm256_fmadd_pd(g0, lo_pd(xv), q0);
        q1 = _mm256_fmadd_pd(g1, hi_pd(xv), q1);
    }
    _mm256_storeu_pd(t1, p0);
    _mm256_storeu_pd(t1 + 4, p1);
    _mm256_storeu_pd(t2, q0);
    _mm256_storeu_pd(t2 + 4, q1);
    memcpy(s1, t1, sizeof(double) * (size_t)n);
    memcpy(s2, t2, sizeof(double) * (size_t)n);
}

/* Floats of one input per row block: the three inputs of a block (dy, y, x)
 * then take 24 KB and stay in L1 while each group of channels sweeps it. */
#define SUMS_BLOCK_FLOATS 2048

/* Each channel still adds its rows in order, block after block, so the
 * blocking does not change the sums. */
BN_ACT_INLINE void sums_tile(frost_act_kind k, int64_t rows, int tc, int64_t ld, const float *dy,
                             const float *y, const float *x, double *s1, double *s2)
{
    int64_t block = SUMS_BLOCK_FLOATS / tc > 0 ? SUMS_BLOCK_FLOATS / tc : 1;
    for (int64_t r = 0; r < rows; r += block) {
        int64_t nr = rows - r < block ? rows - r : block;
        const float *dyb = dy + r * ld, *yb = y + r * ld, *xb = x + r * ld;
        int j = 0;
        for (; j + 16 <= tc; j += 16)
            sums16(k, nr, ld, dyb + j, yb + j, xb + j, s1 + j, s2 + j);
        for (; j < tc; j += 8) {
            int n = tc - j < 8 ? tc - j : 8;
            sums_upto8(k, nr, ld, n, dyb + j, yb + j, xb + j, s1 + j, s2 + j);
        }
    }
}

void frost_bn_act_sums_avx2(frost_act_kind act, int64_t rows, int tc, int64_t ld, const float *dy,
                            const float *y, const float *x, double *s1, double *s2)
{
    switch (act) {
    case FROST_ACT_RELU: sums_tile(FROST_ACT_RELU, rows, tc, ld, dy, y, x, s1, s2); break;
    case FROST_ACT_RELU6: sums_tile(FROST_ACT_RELU6, rows, tc, ld, dy, y, x, s1, s2); break;
    case FROST_ACT_HARDTANH: sums_tile(FROST_ACT_HARDTANH, rows, tc, ld, dy, y, x, s1, s2); break;
    case FROST_ACT_IDENTITY: /* and the non-clamps, which never fuse */
    case FROST_ACT_HSWISH:
    case FROST_ACT_HSIGMOID:
    case FROST_ACT_SIGMOID:
    case FROST_ACT_SILU:
    case FROST_ACT_COUNT: sums_tile(FROST_ACT_IDENTITY, rows, tc, ld, dy, y, x, s1, s2); break;
    }
}

/* ---- backward: dx += scale * ((g - k1) - (x - mean) * k2) ---- */

BN_ACT_INLINE __m256 dx_update(frost_act_kind k, __m256 xv, __m256 yv, __m256 dyv, __m256 dxv,
                               __m256 mean, __m256 scale, __m256 k1, __m256 k2)
{
    __m256 t = _mm256_sub_ps(masked_grad(k, yv, dyv), k1);
    t = _mm256_fnmadd_ps(_mm256_sub_ps(xv, mean), k2, t);
    return _mm256_fmadd_ps(scale, t, dxv);
}

BN_ACT_INLINE void dx_rows(frost_act_kind k, int64_t rows, int tc, int64_t ld, const float *x,
                           const float *y, const float *dy, const float *mean, const float *scale,
                           const float *k1, const float *k2, float *dx, bool overwrite)
{
    int tv = tc & ~7, rem = tc - tv;
    __m256i tail = lanes_below(rem);
    __m256 tmean = _mm256_maskload_ps(mean + tv, tail);
    __m256 tscale = _mm256_maskload_ps(scale + tv, tail);
    __m256 tk1 = _mm256_maskload_ps(k1 + tv, tail), tk2 = _mm256_maskload_ps(k2 + tv, tail);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ld, *yr = y + r * ld, *dyr = dy + r * ld;
        float *dxr = dx + r * ld;
        for (int j = 0; j < tv; j += 8)
            _mm256_storeu_ps(dxr + j,
                             dx_update(k, _mm256_loadu_ps(xr + j), _mm256_loadu_ps(yr + j),
                                       _mm256_loadu_ps(dyr + j),
                                       overwrite ? _mm256_setzero_ps() : _mm256_loadu_ps(dxr + j),
                                       _mm256_loadu_ps(mean + j), _mm256_loadu_ps(scale + j),
                                       _mm256_loadu_ps(k1 + j), _mm256_loadu_ps(k2 + j)));
        if (rem)
            _mm256_maskstore_ps(
                dxr + tv, tail,
                dx_update(k, _mm256_maskload_ps(xr + tv, tail), _mm256_maskload_ps(yr + tv, tail),
                          _mm256_maskload_ps(dyr + tv, tail),
                          overwrite ? _mm256_setzero_ps() : _mm256_maskload_ps(dxr + tv, tail),
                          tmean, tscale, tk1, tk2));
    }
}

void frost_bn_act_dx_avx2(frost_act_kind act, int64_t rows, int tc, int64_t ld, const float *x,
                          const float *y, const float *dy, const float *mean, const float *scale,
                          const float *k1, const float *k2, float *dx, bool overwrite)
{
    switch (act) {
    case FROST_ACT_RELU:
        dx_rows(FROST_ACT_RELU, rows, tc, ld, x, y, dy, mean, scale, k1, k2, dx, overwrite);
        break;
    case FROST_ACT_RELU6:
        dx_rows(FROST_ACT_RELU6, rows, tc, ld, x, y, dy, mean, scale, k1, k2, dx, overwrite);
        break;
    case FROST_ACT_HARDTANH:
        dx_rows(FROST_ACT_HARDTANH, rows, tc, ld, x, y, dy, mean, scale, k1, k2, dx, overwrite);
        break;
    case FROST_ACT_IDENTITY: /* and the non-clamps, which never fuse */
    case FROST_ACT_HSWISH:
    case FROST_ACT_HSIGMOID:
    case FROST_ACT_SIGMOID:
    case FROST_ACT_SILU:
    case FROST_ACT_COUNT:
        dx_rows(FROST_ACT_IDENTITY, rows, tc, ld, x, y, dy, mean, scale, k1, k2, dx, overwrite);
        break;
    }
}
