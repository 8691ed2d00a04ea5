/*
 * AVX2/FMA versions of the batch-norm tile kernels and the activations
 * (contracts in ops/elementwise.h). Whatever does not fill a vector (channel
 * or element tails) is handed to the reference kernel, except for sigmoid and SiLU:
 * their vector exp rounds differently from expf, so their tails go through the same
 * vector code (see exp_tail_forward).
 */
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "ops/elementwise.h"
#include "ops/x86/exp_avx2.h"

/* ---- batch norm ---- */

static __m256d cvt_lo(const float *p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }

/* Sums of 16 channels over all rows, with 8 independent double accumulators
 * (enough to hide the add/FMA latency). Rows are added in order, as in the
 * reference, and a float*float product is exact in double, so FMA rounds
 * exactly like the reference's multiply-then-add: the results are identical.
 * `same` (a == b, the forward statistics) skips converting b again. */
static void sums16(int64_t rows, int64_t ld, const float *a, const float *b, bool same, double *s1,
                   double *s2)
{
    __m256d p0 = _mm256_loadu_pd(s1), p1 = _mm256_loadu_pd(s1 + 4);
    __m256d p2 = _mm256_loadu_pd(s1 + 8), p3 = _mm256_loadu_pd(s1 + 12);
    __m256d q0 = _mm256_loadu_pd(s2), q1 = _mm256_loadu_pd(s2 + 4);
    __m256d q2 = _mm256_loadu_pd(s2 + 8), q3 = _mm256_loadu_pd(s2 + 12);
    for (int64_t r = 0; r < rows; r++) {
        const float *ar = a + r * ld, *br = b + r * ld;
        __m256d a0 = cvt_lo(ar), a1 = cvt_lo(ar + 4), a2 = cvt_lo(ar + 8), a3 = cvt_lo(ar + 12);
        __m256d b0 = a0, b1 = a1, b2 = a2, b3 = a3;
        if (!same) {
            b0 = cvt_lo(br);
            b1 = cvt_lo(br + 4);
            b2 = cvt_lo(br + 8);
            b3 = cvt_lo(br + 12);
        }
        p0 = _mm256_add_pd(p0, a0);
        p1 = _mm256_add_pd(p1, a1);
        p2 = _mm256_add_pd(p2, a2);
        p3 = _mm256_add_pd(p3, a3);
        q0 = _mm256_fmadd_pd(a0, b0, q0);
        q1 = _mm256_fmadd_pd(a1, b1, q1);
        q2 = _mm256_fmadd_pd(a2, b2, q2);
        q3 = _mm256_fmadd_pd(a3, b3, q3);
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

static void sums4(int64_t rows, int64_t ld, const float *a, const float *b, double *s1, double *s2)
{
    __m256d p = _mm256_loadu_pd(s1), q = _mm256_loadu_pd(s2);
    for (int64_t r = 0; r < rows; r++) {
        __m256d av = cvt_lo(a + r * ld);
        p = _mm256_add_pd(p, av);
        q = _mm256_fmadd_pd(av, cvt_lo(b + r * ld), q);
    }
    _mm256_storeu_pd(s1, p);
    _mm256_storeu_pd(s2, q);
}

void frost_bn_sums_avx2(int64_t rows, int tc, int64_t ld, const float *a, const float *b,
                        double *s1, double *s2)
{
    int j = 0;
    for (; j + 16 <= tc; j += 16)
        sums16(rows, ld, a + j, b + j, a == b, s1 + j, s2 + j);
    for (; j + 4 <= tc; j += 4)
        sums4(rows, ld, a + j, b + j, s1 + j, s2 + j);
    if (j < tc)
        frost_bn_sums_ref(rows, tc - j, ld, a + j, b + j, s1 + j, s2 + j);
}

/* The channels past the last multiple of 8 (rare: mobile CNN widths are
 * multiples of 8) go to the reference kernel afterwards as a narrower tile. */
void frost_bn_apply_avx2(int64_t rows, int tc, int64_t ld, const float *x, const float *mean,
                         const float *scale, const float *shift, float *y)
{
    int tv = tc & ~7;
    for (int64_t r = 0; r < rows && tv > 0; r++) {
        const float *xr = x + r * ld;
        float *yr = y + r * ld;
        for (int j = 0; j < tv; j += 8) {
            __m256 xc = _mm256_sub_ps(_mm256_loadu_ps(xr + j), _mm256_loadu_ps(mean + j));
            _mm256_storeu_ps(yr + j, _mm256_fmadd_ps(xc, _mm256_loadu_ps(scale + j),
                                                     _mm256_loadu_ps(shift + j)));
        }
    }
    if (tv < tc)
        frost_bn_apply_ref(rows, tc - tv, ld, x + tv, mean + tv, scale + tv, shift + tv, y + tv);
}

void frost_bn_dx_avx2(int64_t rows, int tc, int64_t ld, const float *x, const float *dy,
                      const float *mean, const float *scale, const float *k1, const float *k2,
                      float *dx, bool overwrite)
{
    int tv = tc & ~7;
    for (int64_t r = 0; r < rows && tv > 0; r++) {
        const float *xr = x + r * ld, *dyr = dy + r * ld;
        float *dxr = dx + r * ld;
        for (int j = 0; j < tv; j += 8) {
            __m256 xc = _mm256_sub_ps(_mm256_loadu_ps(xr + j), _mm256_loadu_ps(mean + j));
            __m256 t = _mm256_sub_ps(_mm256_loadu_ps(dyr + j), _mm256_loadu_ps(k1 + j));
            t = _mm256_fnmadd_ps(xc, _mm256_loadu_ps(k2 + j), t);
            __m256 old = overwrite ? _mm256_setzero_ps() : _mm256_loadu_ps(dxr + j);
            _mm256_storeu_ps(dxr + j, _mm256_fmadd_ps(_mm256_loadu_ps(scale + j), t, old));
        }
    }
    if (tv < tc)
        frost_bn_dx_ref(rows, tc - tv, ld, x + tv, dy + tv, mean + tv, scale + tv, k1 + tv, k2 + tv,
                        dx + tv, overwrite);
}

/* ---- activations ---- */

/* max/min return their second operand when either is NaN: putting x second
 * lets NaN propagate, as in the reference. */
static __m256 relu_v(__m256 x) { return _mm256_max_ps(_mm256_setzero_ps(), x); }

static __m256 relu6_v(__m256 x)
{
    return _mm256_min_ps(_mm256_set1_ps(6.0f), _mm256_max_ps(_mm256_setzero_ps(), x));
}

static __m256 hardtanh_v(__m256 x)
{
    return _mm256_min_ps(_mm256_set1_ps(1.0f), _mm256_max_ps(_mm256_set1_ps(-1.0f), x));
}

static __m256 act_v(frost_act_kind k, __m256 x)
{
    const __m256 three = _mm256_set1_ps(3.0f), sixth = _mm256_set1_ps(1.0f / 6.0f);
    switch (k) {
    case FROST_ACT_RELU: return relu_v(x);
    case FROST_ACT_RELU6: return relu6_v(x);
    case FROST_ACT_HARDTANH: return hardtanh_v(x);
    case FROST_ACT_HSWISH:
        return _mm256_mul_ps(_mm256_mul_ps(x, relu6_v(_mm256_add_ps(x, three))), sixth);
    case FROST_ACT_HSIGMOID: return _mm256_mul_ps(relu6_v(_mm256_add_ps(x, three)), sixth);
    case FROST_ACT_SIGMOID: return frost_sigmoid_ps_avx2(x);
    case FROST_ACT_SILU: return _mm256_mul_ps(x, frost_sigmoid_ps_avx2(x));
    case FROST_ACT_IDENTITY:
    case FROST_ACT_COUNT: break;
    }
    return x;
}

/* The last n < 8 elements of sigmoid and SiLU, through the vector code on a padded copy:
 * every element then gets the same bits whatever its position, so results do not depend
 * on how the callers split the work over threads. */
static void exp_tail_forward(frost_act_kind k, int64_t n, const float *x, float *y)
{
    float xb[8] = {0}, yb[8];
    memcpy(xb, x, sizeof(float) * (size_t)n);
    _mm256_storeu_ps(yb, act_v(k, _mm256_loadu_ps(xb)));
    memcpy(y, yb, sizeof(float) * (size_t)n);
}

/* The per-kind switch sits inside a small inline function; gcc hoists it out of
 * the loop (each kind gets its own loop), so the vector body is branch free. */
void frost_act_forward_avx2(frost_act_kind k, int64_t n, const float *x, float *y)
{
    int64_t i = 0;
    switch (k) {
#define ACT_LOOP(kind)                                          \
    case kind:                                                  \
        for (; i + 16 <= n; i += 16) {                          \
            __m256 a = act_v(kind, _mm256_loadu_ps(x + i));     \
            __m256 b = act_v(kind, _mm256_loadu_ps(x + i + 8)); \
            _mm256_storeu_ps(y + i, a);                         \
            _mm256_storeu_ps(y + i + 8, b);                     \
        }                                                       \
        break;
        ACT_LOOP(FROST_ACT_RELU)
        ACT_LOOP(FROST_ACT_RELU6)
        ACT_LOOP(FROST_ACT_HSWISH)
        ACT_LOOP(FROST_ACT_HSIGMOID)
        ACT_LOOP(FROST_ACT_HARDTANH)
#define EXP_ACT_LOOP(kind)                                                \
    case kind:                                                            \
        for (; i + 8 <= n; i += 8)                                        \
            _mm256_storeu_ps(y + i, act_v(kind, _mm256_loadu_ps(x + i))); \
        if (i < n)                                                        \
            exp_tail_forward(kind, n - i, x + i, y + i);                  \
        return;
        EXP_ACT_LOOP(FROST_ACT_SIGMOID)
        EXP_ACT_LOOP(FROST_ACT_SILU)
#undef EXP_ACT_LOOP
#undef ACT_LOOP
    case FROST_ACT_IDENTITY: /* the reference copies */
    case FROST_ACT_COUNT: break;
    }
    if (i < n)
        frost_act_forward_ref(k, n - i, x + i, y + i);
}

/* f'(x) * dy for one vector, with PyTorch's choices at the kinks. */
static __m256 act_grad_v(frost_act_kind k, __m256 x, __m256 dy)
{
    const __m256 zero = _mm256_setzero_ps(), three = _mm256_set1_ps(3.0f);
    const __m256 mthree = _mm256_set1_ps(-3.0f);
    switch (k) {
    case FROST_ACT_RELU: return _mm256_and_ps(_mm256_cmp_ps(x, zero, _CMP_GT_OQ), dy);
    case FROST_ACT_RELU6: {
        __m256 in = _mm256_and_ps(_mm256_cmp_ps(x, zero, _CMP_GT_OQ),
                                  _mm256_cmp_ps(x, _mm256_set1_ps(6.0f), _CMP_LT_OQ));
        return _mm256_and_ps(in, dy);
    }
    case FROST_ACT_HARDTANH: {
        __m256 in = _mm256_and_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-1.0f), _CMP_GT_OQ),
                                  _mm256_cmp_ps(x, _mm256_set1_ps(1.0f), _CMP_LT_OQ));
        return _mm256_and_ps(in, dy);
    }
    case FROST_ACT_HSWISH: {
        /* x < -3: 0; -3 <= x <= 3: x/3 + 1/2; x > 3 (or NaN): 1 */
        __m256 mid = _mm256_fmadd_ps(x, _mm256_set1_ps(1.0f / 3.0f), _mm256_set1_ps(0.5f));
        __m256 g = _mm256_blendv_ps(_mm256_set1_ps(1.0f), mid, _mm256_cmp_ps(x, three, _CMP_LE_OQ));
        g = _mm256_andnot_ps(_mm256_cmp_ps(x, mthree, _CMP_LT_OQ), g);
        return _mm256_mul_ps(g, dy);
    }
    case FROST_ACT_HSIGMOID: {
        __m256 in = _mm256_and_ps(_mm256_cmp_ps(x, mthree, _CMP_GT_OQ),
                                  _mm256_cmp_ps(x, three, _CMP_LT_OQ));
        return _mm256_and_ps(in, _mm256_mul_ps(dy, _mm256_set1_ps(1.0f / 6.0f)));
    }
    case FROST_ACT_SIGMOID: { /* dy * s * (1 - s), in that order */
        __m256 s = frost_sigmoid_ps_avx2(x);
        return _mm256_mul_ps(_mm256_mul_ps(dy, s), _mm256_sub_ps(_mm256_set1_ps(1.0f), s));
    }
    case FROST_ACT_SILU: { /* dy * s * (1 + x (1 - s)), in that order, no FMA */
        const __m256 one = _mm256_set1_ps(1.0f);
        __m256 s = frost_sigmoid_ps_avx2(x);
        __m256 t = _mm256_add_ps(one, _mm256_mul_ps(x, _mm256_sub_ps(one, s)));
        return _mm256_mul_ps(_mm256_mul_ps(dy, s), t);
    }
    case FROST_ACT_IDENTITY:
    case FROST_ACT_COUNT: break;
    }
    return dy;
}

/* dx += f'(x) dy on the last n < 8 elements of sigmoid and SiLU (see exp_tail_forward). */
static void exp_tail_backward(frost_act_kind k, int64_t n, const float *x, const float *dy,
                              float *dx)
{
    float xb[8] = {0}, dyb[8] = {0}, dxb[8] = {0};
    memcpy(xb, x, sizeof(float) * (size_t)n);
    memcpy(dyb, dy, sizeof(float) * (size_t)n);
    memcpy(dxb, dx, sizeof(float) * (size_t)n);
    __m256 g = act_grad_v(k, _mm256_loadu_ps(xb), _mm256_loadu_ps(dyb));
    _mm256_storeu_ps(dxb, _mm256_add_ps(_mm256_loadu_ps(dxb), g));
    memcpy(dx, dxb, sizeof(float) * (size_t)n);
}

void frost_act_backward_avx2(frost_act_kind k, int64_t n, const float *x, const float *dy,
                             float *dx)
{
    int64_t i = 0;
    switch (k) {
#define ACT_GRAD_LOOP(kind)                                                               \
    case kind:                                                                            \
        for (; i + 8 <= n; i += 8) {                                                      \
            __m256 g = act_grad_v(kind, _mm256_loadu_ps(x + i), _mm256_loadu_ps(dy + i)); \
            _mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i), g));          \
        }                                                                                 \
        break;
        ACT_GRAD_LOOP(FROST_ACT_IDENTITY)
        ACT_GRAD_LOOP(FROST_ACT_RELU)
        ACT_GRAD_LOOP(FROST_ACT_RELU6)
        ACT_GRAD_LOOP(FROST_ACT_HSWISH)
        ACT_GRAD_LOOP(FROST_ACT_HSIGMOID)
        ACT_GRAD_LOOP(FROST_ACT_HARDTANH)
#define EXP_GRAD_LOOP(kind)                                                               \
    case kind:                                                                            \
        for (; i + 8 <= n; i += 8) {                                                      \
            __m256 g = act_grad_v(kind, _mm256_loadu_ps(x + i), _mm256_loadu_ps(dy + i)); \
            _mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i), g));          \
        }                                                                                 \
        if (i < n)                                                                        \
            exp_tail_backward(kind, n - i, x + i, dy + i, dx + i);                        \
        return;
        EXP_GRAD_LOOP(FROST_ACT_SIGMOID)
        EXP_GRAD_LOOP(FROST_ACT_SILU)
#undef EXP_GRAD_LOOP
#undef ACT_GRAD_LOOP
    case FROST_ACT_COUNT: break;
    }
    if (i < n)
        frost_act_backward_ref(k, n - i, x + i, dy + i, dx + i);
}
