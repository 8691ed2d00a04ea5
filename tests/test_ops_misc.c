/*
 * Batch norm, activations, pooling, add/mul/concat/dropout and softmax
 * cross-entropy: hand-computed and PyTorch-computed values, finite-difference
 * gradient checks (loss = sum(y*r) for a fixed random r, so dy = r), and the
 * AVX2 kernels against their portable references.
 */
#include <float.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/util.h"
#include "frost/frost.h"
#include "harness.h"
#include "ops/act_def.h"
#include "ops/elementwise.h"
#include "ops/ops.h"

/* ---- a generic probe for gradient checks: loss = sum_i y[i]*r[i] in double ---- */

typedef struct {
    void (*forward)(void *op); /* recomputes y from the op's (possibly perturbed) inputs */
    void *op;
    const float *y, *r;
    long ny;
} probe;

static double probe_loss(void *ctx)
{
    probe *p = ctx;
    p->forward(p->op);
    double s = 0.0;
    for (long i = 0; i < p->ny; i++)
        s += (double)p->y[i] * p->r[i];
    return s;
}

static float *alloc_uniform(long n, float lo, float hi, unsigned long long seed)
{
    float *v = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    frost_test_fill_uniform(v, n, lo, hi, seed);
    return v;
}

static float *alloc_zero(long n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

/* ---- activations ---- */

TEST(act_names_round_trip)
{
    for (int k = 0; k < FROST_ACT_COUNT; k++)
        CHECK_EQ_INT(frost_act_from_name(frost_act_name((frost_act_kind)k)), k);
    CHECK_EQ_INT(frost_act_from_name("relu6"), FROST_ACT_RELU6);
    CHECK_EQ_INT(frost_act_from_name("hswish"), FROST_ACT_HSWISH);
    CHECK_EQ_INT(frost_act_from_name("swish"), -1);
    CHECK_EQ_INT(frost_act_from_name(NULL), -1);
}

TEST(act_forward_values)
{
    const float x[6] = {-4.0f, -1.0f, 0.0f, 1.0f, 4.0f, 7.0f};
    const float want[FROST_ACT_COUNT][6] = {
        {-4, -1, 0, 1, 4, 7},                /* identity */
        {0, 0, 0, 1, 4, 7},                  /* relu */
        {0, 0, 0, 1, 4, 6},                  /* relu6 */
        {0, -1.0f / 3, 0, 2.0f / 3, 4, 7},   /* hswish */
        {0, 1.0f / 3, 0.5f, 2.0f / 3, 1, 1}, /* hsigmoid */
        /* sigmoid, silu: 1/(1+e^-x) and x/(1+e^-x), from Python's math.exp */
        {0.01798621f, 0.268941421f, 0.5f, 0.731058579f, 0.98201379f, 0.999088949f},
        {-0.0719448398f, -0.268941421f, 0, 0.731058579f, 3.92805516f, 6.99362264f},
        {-1, -1, 0, 1, 1, 1}, /* hardtanh: clip(x, -1, 1) */
    };
    for (int k = 0; k < FROST_ACT_COUNT; k++) {
        float y[6];
        frost_act_forward((frost_act_kind)k, 6, x, y);
        for (int i = 0; i < 6; i++)
            CHECK_NEAR(y[i], want[k][i], 1e-6, 1e-6);
    }
}

TEST(act_backward_kinks_follow_pytorch)
{
    /* the kinks and both sides of them */
    const float x[7] = {-3.0f, 0.0f, 3.0f, 6.0f, -3.5f, 2.0f, 6.5f};
    const float want[FROST_ACT_COUNT][7] = {
        {1, 1, 1, 1, 1, 1, 1},                         /* identity */
        {0, 0, 1, 1, 0, 1, 1},                         /* relu: 0 at x <= 0 */
        {0, 0, 1, 0, 0, 1, 0},                         /* relu6: 0 < x < 6 */
        {-0.5f, 0.5f, 1.5f, 1, 0, 2.0f / 3 + 0.5f, 1}, /* hswish: x/3+.5 on [-3,3] */
        {0, 1.0f / 6, 0, 0, 0, 1.0f / 6, 0},           /* hsigmoid: -3 < x < 3 */
        /* sigmoid: s(1-s); silu: s(1 + x(1-s)) (smooth: no kinks) */
        {0.0451766597f, 0.25f, 0.0451766597f, 0.00246650929f, 0.0284530239f, 0.104993585f,
         0.00149892871f},
        {-0.088104106f, 0.5f, 1.08810411f, 1.01232643f, -0.0702733528f, 1.09078425f, 1.00824185f},
        {0, 1, 0, 0, 0, 0, 0}, /* hardtanh: -1 < x < 1 (its own kinks: the next test) */
    };
    float dy[7] = {1, 1, 1, 1, 1, 1, 1};
    for (int k = 0; k < FROST_ACT_COUNT; k++) {
        float dx[7];
        for (int i = 0; i < 7; i++)
            dx[i] = 10.0f; /* backward adds */
        frost_act_backward((frost_act_kind)k, 7, x, dy, dx);
        for (int i = 0; i < 7; i++)
            CHECK_NEAR(dx[i] - 10.0f, want[k][i], 1e-6, 1e-6);
    }
    frost_act_backward(FROST_ACT_RELU, 7, x, dy, NULL); /* no input gradient: a no-op */
}

/* Hardtanh's kinks at -1 and 1 (PyTorch: gradient dy strictly inside only), and NaN
 * passing through the forward pass. */
TEST(hardtanh_kinks_follow_pytorch)
{
    const float x[8] = {-1.0f, 1.0f, -0.999f, 0.999f, -1.001f, 1.001f, 0.25f, -0.5f};
    const float want_y[8] = {-1, 1, -0.999f, 0.999f, -1, 1, 0.25f, -0.5f};
    const float want_dx[8] = {0, 0, 2, 2, 0, 0, 2, 2};
    const float dy[8] = {2, 2, 2, 2, 2, 2, 2, 2};
    float y[8], dx[8] = {0};
    frost_act_forward(FROST_ACT_HARDTANH, 8, x, y);
    frost_act_backward(FROST_ACT_HARDTANH, 8, x, dy, dx);
    for (int i = 0; i < 8; i++) {
        CHECK_FLOAT_EQ(y[i], want_y[i]);
        CHECK_FLOAT_EQ(dx[i], want_dx[i]);
    }
    float lo, hi;
    CHECK(frost_act_clamp(FROST_ACT_HARDTANH, &lo, &hi));
    CHECK_FLOAT_EQ(lo, -1.0f);
    CHECK_FLOAT_EQ(hi, 1.0f);
    CHECK(frost_act_is_real_clamp(FROST_ACT_HARDTANH));
    CHECK_EQ_INT(frost_act_from_name("hardtanh"), FROST_ACT_HARDTANH);
    float nan_in = NAN, nan_out = 0.0f;
    frost_act_forward(FROST_ACT_HARDTANH, 1, &nan_in, &nan_out);
    CHECK(isnan(nan_out));
}

/* Large |x|: no overflow, no NaN, and the tiny values keep their relative accuracy (a
 * naive e^x / (1 + e^x) overflows to inf/inf = NaN beyond x = 88). */
TEST(sigmoid_silu_stable_for_large_inputs)
{
    const float x[6] = {-1000.0f, -100.0f, -30.0f, 30.0f, 100.0f, 1000.0f};
    float y[6], ys[6], dx[6] = {0}, dxs[6] = {0};
    const float dy[6] = {1, 1, 1, 1, 1, 1};
    frost_act_forward(FROST_ACT_SIGMOID, 6, x, y);
    frost_act_forward(FROST_ACT_SILU, 6, x, ys);
    frost_act_backward(FROST_ACT_SIGMOID, 6, x, dy, dx);
    frost_act_backward(FROST_ACT_SILU, 6, x, dy, dxs);
    for (int i = 0; i < 6; i++)
        CHECK(isfinite(y[i]) && isfinite(ys[i]) && isfinite(dx[i]) && isfinite(dxs[i]));
    CHECK_FLOAT_EQ(y[0], 0.0f);
    CHECK_FLOAT_EQ(y[5], 1.0f);
    CHECK_FLOAT_EQ(y[4], 1.0f);
    CHECK_NEAR(y[2], 9.35762297e-14, 0, 1e-5); /* e^-30 / (1 + e^-30) */
    CHECK_NEAR(ys[2], -30.0 * 9.35762297e-14, 0, 1e-5);
    CHECK_NEAR(y[1], 3.72007598e-44, 1e-45, 0.2); /* subnormal, but not 0 */
    CHECK_FLOAT_EQ(ys[5], 1000.0f);
    CHECK_FLOAT_EQ(dxs[5], 1.0f);
    CHECK_NEAR(dx[2], 9.35762297e-14, 0, 1e-5);
    CHECK_NEAR(dxs[2], 9.35762297e-14 * (1.0 - 30.0), 0, 1e-4);
}

typedef struct {
    frost_act_kind kind;
    long n;
    float *x, *y;
} act_op;

static void act_op_forward(void *op)
{
    act_op *a = op;
    frost_act_forward(a->kind, a->n, a->x, a->y);
}

/* Moves values off the kinks (0, 6, +-3, +-1) so finite differences stay on one side. */
static void avoid_kinks(float *x, long n)
{
    const float kinks[6] = {0.0f, 6.0f, 3.0f, -3.0f, 1.0f, -1.0f};
    for (long i = 0; i < n; i++)
        for (int k = 0; k < 6; k++)
            if (fabsf(x[i] - kinks[k]) < 0.05f)
                x[i] = kinks[k] + (x[i] < kinks[k] ? -0.1f : 0.1f);
}

TEST(act_gradcheck)
{
    const long n = 300;
    for (int k = 0; k < FROST_ACT_COUNT; k++) {
        act_op a = {(frost_act_kind)k, n, alloc_uniform(n, -8.0f, 8.0f, 11 + k), alloc_zero(n)};
        avoid_kinks(a.x, n);
        float *r = alloc_uniform(n, -1.0f, 1.0f, 21 + k), *dx = alloc_zero(n);
        frost_act_backward(a.kind, n, a.x, r, dx);
        probe p = {act_op_forward, &a, a.y, r, n};
        frost_test_gradcheck(frost_act_name(a.kind), probe_loss, &p, a.x, dx, n, 1e-2, 1e-3, 1e-3,
                             n);
        free(a.x), free(a.y), free(r), free(dx);
    }
}

TEST(act_large_input_uses_threads_and_matches_ref)
{
    /* big enough to be split over threads by frost_parallel_range */
    const long n = 100003;
    float *x = alloc_uniform(n, -8.0f, 8.0f, 5), *dy = alloc_uniform(n, -1.0f, 1.0f, 6);
    float *y = alloc_zero(n), *y_ref = alloc_zero(n), *dx = alloc_zero(n), *dx_ref = alloc_zero(n);
    for (int k = 0; k < FROST_ACT_COUNT; k++) {
        frost_act_forward((frost_act_kind)k, n, x, y);
        frost_act_forward_ref((frost_act_kind)k, n, x, y_ref);
        memset(dx, 0, sizeof(float) * n);
        memset(dx_ref, 0, sizeof(float) * n);
        frost_act_backward((frost_act_kind)k, n, x, dy, dx);
        frost_act_backward_ref((frost_act_kind)k, n, x, dy, dx_ref);
        int bad = 0;
        for (long i = 0; i < n; i++)
            bad += !(fabsf(y[i] - y_ref[i]) <= 1e-6f * (1.0f + fabsf(y_ref[i])) &&
                     fabsf(dx[i] - dx_ref[i]) <= 1e-6f * (1.0f + fabsf(dx_ref[i])));
        CHECK_EQ_INT(bad, 0);
    }
    free(x), free(dy), free(y), free(y_ref), free(dx), free(dx_ref);
}

TEST(act_avx2_matches_ref)
{
    if (!frost_cpu_has_avx2()) {
        printf("     (no AVX2: skipped)\n");
        return;
    }
    const long sizes[] = {1, 7, 8, 15, 16, 17, 31, 100, 1001};
    for (size_t s = 0; s < FROST_ARRAY_LEN(sizes); s++) {
        long n = sizes[s];
        float *x = alloc_uniform(n, -8.0f, 8.0f, 100 + s), *dy = alloc_uniform(n, -2, 2, 200 + s);
        x[0] = 3.0f; /* a kink in every run (the vector part for n >= 8) */
        if (n > 9)
            x[9] = -3.0f, x[3] = 0.0f, x[5] = 6.0f, x[6] = -1.0f, x[7] = 1.0f;
        float *y1 = alloc_zero(n), *y2 = alloc_zero(n);
        float *d1 = alloc_uniform(n, -1, 1, 7), *d2 = alloc_uniform(n, -1, 1, 7);
        for (int k = 0; k < FROST_ACT_COUNT; k++) {
            frost_act_forward_ref((frost_act_kind)k, n, x, y1);
            frost_act_forward_avx2((frost_act_kind)k, n, x, y2);
            frost_act_backward_ref((frost_act_kind)k, n, x, dy, d1);
            frost_act_backward_avx2((frost_act_kind)k, n, x, dy, d2);
            for (long i = 0; i < n; i++) {
                CHECK_NEAR(y2[i], y1[i], 1e-6, 1e-5);
                CHECK_NEAR(d2[i], d1[i], 1e-6, 1e-5);
            }
        }
        /* NaN propagates through the forward pass on both paths */
        x[0] = NAN;
        frost_act_forward_avx2(FROST_ACT_RELU6, n, x, y2);
        frost_act_forward_ref(FROST_ACT_RELU6, n, x, y1);
        CHECK(isnan(y1[0]) && isnan(y2[0]));
        free(x), free(dy), free(y1), free(y2), free(d1), free(d2);
    }
}

/* ---- sigmoid and SiLU on the vector exp (x86/exp_avx2.h) against exact values ----
 *
 * The AVX2 sigmoid and SiLU compute e^x themselves, so they are not bit-identical to the
 * reference (which calls expf); both are held to the exact value of the formula, computed
 * in double from a stable exp. The error is measured relative to the size of the
 * formula's terms, in units of u = 2^-24 (float's unit roundoff, half an ulp at 1):
 *   sigmoid  s            relative to s
 *   silu     x s          relative to |x| s
 *   sigmoid' dy s (1-s)   relative to |dy| s
 *   silu'    dy s (1 + x (1-s))   relative to |dy| s (1 + |x|)
 * (below FLT_MIN a rounding is absolute, so s and the products are floored there). For the
 * forward passes that is the plain relative error. The backward formulas subtract:
 * 1 - s in float keeps the absolute error of s (a few u times s), which is all of 1 - s
 * when s is near 1, and 1 + x (1 - s) cancels near silu's minimum (x = -1.278); measured
 * against the terms, the float formula is as good as its roundings, and a wrong
 * coefficient, clamp or scaling in the exp still shows up.
 *
 * Bounds: 4 u forward, 6 u backward, for each path; 6 u between the two paths. Where the
 * error comes from: expf is within 1/2 ulp and the vector exp within about 1 ulp (at most
 * 1.01 ulp over every float in [-104, 89]), and that reaches s at most halved (the
 * e/(1+e) form); 1 + e and the division round once each. x s rounds once more; backward,
 * dy s and the last product round too, and 1 - s carries s's error at the scale of s.
 * Measured over this sweep, the worse of the two paths: sigmoid 2.8 u, silu 3.5 u,
 * sigmoid' 4.0 u, silu' 3.5 u; between the paths up to 3.9 u (two errors of opposite
 * sign). The forward bound is the tight one (1.15x over silu's); a coefficient off in its
 * 6th digit already fails it.
 */
#define ACT_EXP_MAX_U(grad) ((grad) ? 6.0 : 4.0)

/* the sweep: dense near 0, the whole range to +-104 (where e^x leaves float), magnitudes
 * from the smallest subnormal to 2^7 in 1/16 steps, random points, and the edges */
static long exp_sweep(float *x, long cap)
{
    long n = 0;
    for (int i = -8 * 1024; i <= 8 * 1024 && n < cap; i++)
        x[n++] = (float)i / 1024.0f;
    for (int i = -110 * 64; i <= 110 * 64 && n < cap; i++)
        x[n++] = (float)i / 64.0f;
    for (int e = -149; e <= 6; e++)
        for (int j = 0; j < 16 && n + 2 <= cap; j++) {
            float v = ldexpf(1.0f + j / 16.0f, e);
            x[n++] = v;
            x[n++] = -v;
        }
    const float edges[] = {0.0f,        1.0f,  1.2784645f, 16.635532f,   87.336548f,  88.722839f,
                           88.7228394f, 89.0f, 89.5f,      103.2789f,    103.972076f, 104.0f,
                           150.0f,      1e10f, FLT_MIN,    FLT_TRUE_MIN, FLT_MAX,     0.34657359f};
    for (size_t i = 0; i < FROST_ARRAY_LEN(edges) && n + 2 <= cap; i++) {
        x[n++] = edges[i];
        x[n++] = -edges[i];
    }
    long r0 = n, nr = cap - n < 65536 ? cap - n : 65536;
    frost_test_fill_uniform(x + r0, nr, -30.0f, 30.0f, 77);
    return n + nr;
}

/* The exact value of the formula (sigmoid'/silu' with dy), and the size of its terms. */
static double exp_act_exact(frost_act_kind k, bool grad, double x, double dy, double *scale)
{
    double e = exp(-fabs(x)), s = x >= 0 ? 1 / (1 + e) : e / (1 + e);
    double one_minus_s = x >= 0 ? e / (1 + e) : 1 / (1 + e); /* no cancellation */
    /* below FLT_MIN a rounding is absolute (half of 2^-149): s, dy s and the result */
    double sf = fmax(s, FLT_MIN), t = FLT_MIN;
    if (k == FROST_ACT_SIGMOID && !grad)
        return *scale = sf, s;
    if (k == FROST_ACT_SILU && !grad)
        return *scale = fmax(fabs(x) * sf, t), x * s;
    if (k == FROST_ACT_SIGMOID)
        return *scale = fmax(fabs(dy) * sf, t), dy * s * one_minus_s;
    *scale = fmax(fabs(dy) * sf, t) * (1 + fabs(x));
    return dy * s * (1 + x * one_minus_s);
}

/* Largest error over finite x, in u; counts the values outside `bound` u. */
static double exp_act_error_u(frost_act_kind k, bool grad, long n, const float *x, const float *dy,
                              const float *got, double bound, int *over)
{
    double worst = 0;
    for (long i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            continue;
        double scale, want = exp_act_exact(k, grad, x[i], dy[i], &scale);
        double err = scale > 0 ? fabs(got[i] - want) / scale / 0x1p-24 : fabs(got[i] - want);
        if (!(err <= bound))
            (*over)++;
        worst = fmax(worst, isnan(err) ? INFINITY : err);
    }
    return worst;
}

static void exp_act_run(frost_act_kind k, bool grad, bool simd, long n, const float *x,
                        const float *dy, float *out)
{
    if (grad) {
        memset(out, 0, sizeof(float) * (size_t)n); /* backward adds */
        (simd ? frost_act_backward_avx2 : frost_act_backward_ref)(k, n, x, dy, out);
    } else {
        (simd ? frost_act_forward_avx2 : frost_act_forward_ref)(k, n, x, out);
    }
}

TEST(sigmoid_silu_avx2_exp_accuracy)
{
    const long cap = 16385 + 14081 + 156 * 32 + 36 + 65536;
    float *x = malloc(sizeof(float) * cap), *dy = malloc(sizeof(float) * cap);
    float *ref = malloc(sizeof(float) * cap), *vec = malloc(sizeof(float) * cap);
    float *piece = malloc(sizeof(float) * cap);
    long n = exp_sweep(x, cap);
    frost_test_fill_uniform(dy, n, -2.0f, 2.0f, 78);
    for (long i = 0; i < n; i += 3)
        dy[i] = 1.0f;
    bool avx2 = frost_cpu_has_avx2();
    const frost_act_kind kinds[2] = {FROST_ACT_SIGMOID, FROST_ACT_SILU};
    for (int ki = 0; ki < 2; ki++)
        for (int grad = 0; grad < 2; grad++) {
            frost_act_kind k = kinds[ki];
            int over_ref = 0, over_vec = 0, over_diff = 0;
            exp_act_run(k, grad, false, n, x, dy, ref);
            double e_ref = exp_act_error_u(k, grad, n, x, dy, ref, ACT_EXP_MAX_U(grad), &over_ref);
            printf("     %s%s: reference %.2f u", frost_act_name(k), grad ? "'" : "", e_ref);
            CHECK_EQ_INT(over_ref, 0);
            if (!avx2) {
                printf(" (no AVX2: the vector kernels skipped)\n");
                continue;
            }
            exp_act_run(k, grad, true, n, x, dy, vec);
            double e_vec = exp_act_error_u(k, grad, n, x, dy, vec, ACT_EXP_MAX_U(grad), &over_vec);
            /* the two paths against each other, measured the same way (ref as "exact") */
            double diff = 0;
            for (long i = 0; i < n; i++) {
                if (!isfinite(x[i]))
                    continue;
                double scale;
                exp_act_exact(k, grad, x[i], dy[i], &scale);
                double d = fabs((double)vec[i] - ref[i]) / scale / 0x1p-24;
                over_diff += !(d <= ACT_EXP_MAX_U(true));
                diff = fmax(diff, d);
            }
            printf(", AVX2 %.2f u, AVX2 - reference %.2f u\n", e_vec, diff);
            CHECK_EQ_INT(over_vec, 0);
            CHECK_EQ_INT(over_diff, 0);
            /* the same bits whatever the split (tails run through the vector code too) */
            for (long i = 0; i < n; i += 13) {
                long m = n - i < 13 ? n - i : 13;
                exp_act_run(k, grad, true, m, x + i, dy + i, piece + i);
            }
            CHECK(memcmp(piece, vec, sizeof(float) * (size_t)n) == 0);
        }
    free(x), free(dy), free(ref), free(vec), free(piece);
}

/* The vector exp itself, including the positive side sigmoid never uses: within 1.1 ulp of
 * double's exp over [-104, 89] (1.01 ulp measured over every float there), overflow to
 * +inf beyond FLT_MAX, +0 below the subnormals, correctly placed subnormals, NaN through;
 * and the AVX-512 one of act_avx512.h bit for bit equal to it.
 * (The function is compiled here for AVX2 + FMA and only called after the CPU check.) */
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "ops/x86/exp_avx2.h"
static void exp8_avx2(const float *x, float *y)
{
    _mm256_storeu_ps(y, frost_exp_ps_avx2(_mm256_loadu_ps(x)));
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512vl,avx512bw,avx512dq")
#include "ops/x86/act_avx512.h"
static void exp16_avx512(const float *x, float *y)
{
    _mm512_storeu_ps(y, frost_exp_ps_avx512(_mm512_loadu_ps(x)));
}
#pragma GCC pop_options

static double ulp_of_float_near(double t)
{
    float f = (float)fabs(t);
    if (f < FLT_MIN)
        return 0x1p-149;
    int e;
    frexpf(f, &e);
    return ldexp(1.0, e - 24);
}

TEST(exp_avx2_accuracy_and_edges)
{
    if (!frost_cpu_has_avx2()) {
        printf("     (no AVX2: skipped)\n");
        return;
    }
    double worst = 0;
    float worst_x = 0;
    for (int i = -104 * 512; i <= 89 * 512; i += 8) {
        float x[8], y[8];
        for (int j = 0; j < 8; j++)
            x[j] = (float)(i + j) / 512.0f + 0x1p-12f * (float)j; /* off the grid too */
        exp8_avx2(x, y);
        for (int j = 0; j < 8; j++) {
            double want = exp((double)x[j]);
            if (want > FLT_MAX) {
                CHECK(isinf(y[j]) && y[j] > 0);
                continue;
            }
            double e = fabs(y[j] - want) / ulp_of_float_near(want);
            if (e > worst)
                worst = e, worst_x = x[j];
        }
    }
    printf("     exp: %.3f ulp at most (x = %.6g)\n", worst, worst_x);
    if (frost_cpu_has_avx512f()) { /* the zmm exp (the FP32 engine's) gives the same bits */
        int differ = 0;
        for (int i = -110 * 512; i <= 110 * 512; i += 16) {
            float x[16], y8[16], y16[16];
            for (int j = 0; j < 16; j++)
                x[j] = (float)(i + j) / 512.0f + 0x1p-12f * (float)j;
            x[0] = i == 0 ? NAN : x[0];
            x[1] = i == 0 ? INFINITY : x[1];
            x[2] = i == 0 ? -INFINITY : x[2];
            exp8_avx2(x, y8);
            exp8_avx2(x + 8, y8 + 8);
            exp16_avx512(x, y16);
            differ += memcmp(y8, y16, sizeof y8) != 0;
        }
        CHECK_EQ_INT(differ, 0);
    }
    CHECK(worst <= 1.1);
    const float x[8] = {INFINITY, -INFINITY, NAN, 88.7228317f, 88.7228394f, -103.0f, -104.5f, 0.0f};
    float y[8];
    exp8_avx2(x, y);
    CHECK(isinf(y[0]) && y[0] > 0);
    CHECK_FLOAT_EQ(y[1], 0.0f);
    CHECK(isnan(y[2]));
    CHECK(isfinite(y[3]) && y[3] > 3.4e38f);    /* just below ln(FLT_MAX) */
    CHECK(isinf(y[4]));                         /* just above */
    CHECK_NEAR(y[5], exp(-103.0), 0x1p-149, 0); /* subnormal, right to its last bit */
    CHECK_FLOAT_EQ(y[6], 0.0f);
    CHECK_FLOAT_EQ(y[7], 1.0f);
}

/* Infinities, NaN and signed zeros: the AVX2 kernels give what the reference gives (NaN
 * where its formula makes one, e.g. silu(-inf) = -inf * 0). */
TEST(sigmoid_silu_avx2_special_values)
{
    if (!frost_cpu_has_avx2()) {
        printf("     (no AVX2: skipped)\n");
        return;
    }
    const float x[8] = {INFINITY, -INFINITY, NAN, -NAN, 0.0f, -0.0f, FLT_TRUE_MIN, -FLT_MAX};
    const float dy[8] = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, -2.0f, 1.0f, 1.0f};
    const frost_act_kind kinds[2] = {FROST_ACT_SIGMOID, FROST_ACT_SILU};
    for (int ki = 0; ki < 2; ki++)
        for (int grad = 0; grad < 2; grad++) {
            float ref[8], vec[8];
            exp_act_run(kinds[ki], grad, false, 8, x, dy, ref);
            exp_act_run(kinds[ki], grad, true, 8, x, dy, vec);
            for (int i = 0; i < 8; i++)
                CHECK((isnan(ref[i]) && isnan(vec[i])) ||
                      memcmp(&ref[i], &vec[i], sizeof(float)) == 0);
            if (!grad)
                CHECK(isnan(vec[2]) && isnan(vec[3])); /* NaN propagates */
        }
    float y[8];
    frost_act_forward_avx2(FROST_ACT_SIGMOID, 8, x, y);
    CHECK(y[0] == 1.0f && y[1] == 0.0f && y[4] == 0.5f && y[5] == 0.5f && y[7] == 0.0f);
}

/* ---- batch norm ---- */

static const frost_bn_params bn_default = {.eps = 1e-5f, .momentum = 0.1f};

TEST(bn_running_stats_hand_numbers)
{
    /* one channel [1,2,3,4] and one constant channel [5,5,5,5] */
    const float x[8] = {1, 5, 2, 5, 3, 5, 4, 5};
    float gamma[2] = {2.0f, 1.0f}, beta[2] = {0.5f, -1.0f};
    float rm[2] = {0.0f, 1.0f}, rv[2] = {1.0f, 2.0f}, mean[2], invstd[2], y[8];
    frost_bn_forward_train(&bn_default, 4, 2, x, gamma, beta, rm, rv, mean, invstd, y);
    /* mean 2.5, biased var 1.25, unbiased 5/3 */
    CHECK_NEAR(mean[0], 2.5, 1e-7, 0);
    CHECK_NEAR(invstd[0], 1.0 / sqrt(1.25 + 1e-5), 0, 1e-6);
    CHECK_NEAR(rm[0], 0.9 * 0.0 + 0.1 * 2.5, 0, 1e-6);
    CHECK_NEAR(rv[0], 0.9 * 1.0 + 0.1 * (5.0 / 3.0), 0, 1e-6);
    CHECK_NEAR(y[0], (1 - 2.5) / sqrt(1.25 + 1e-5) * 2 + 0.5, 1e-6, 1e-6);
    CHECK_NEAR(y[6], (4 - 2.5) / sqrt(1.25 + 1e-5) * 2 + 0.5, 1e-6, 1e-6);
    /* a constant channel: variance 0, output = beta */
    CHECK_NEAR(mean[1], 5.0, 0, 1e-7);
    CHECK_NEAR(invstd[1], 1.0 / sqrt(1e-5), 0, 1e-5);
    CHECK_NEAR(rm[1], 0.9 * 1.0 + 0.1 * 5.0, 0, 1e-6);
    CHECK_NEAR(rv[1], 0.9 * 2.0, 0, 1e-6);
    CHECK_NEAR(y[3], -1.0, 1e-6, 0);

    /* eval with the updated running statistics */
    frost_bn_forward_eval(&bn_default, 4, 2, x, gamma, beta, rm, rv, y);
    CHECK_NEAR(y[0], (1 - 0.25) / sqrt(0.9 + 1.0 / 6.0 + 1e-5) * 2 + 0.5, 1e-6, 1e-6);
    CHECK_NEAR(y[1], (5 - 1.4) / sqrt(1.8 + 1e-5) - 1.0, 1e-6, 1e-6);
}

TEST(bn_matches_pytorch)
{
    /* torch.nn.BatchNorm1d(2) in float64, weight [2,-.5], bias [.5,1], running
     * mean [.2,0], var [1,2], one train step and loss sum(y*r). */
    const float x[6] = {1, -2, 2, 0.5f, 4, 1};
    const float r[6] = {1, 2, -1, 0.5f, 3, -2};
    float gamma[2] = {2.0f, -0.5f}, beta[2] = {0.5f, 1.0f};
    float rm[2] = {0.2f, 0.0f}, rv[2] = {1.0f, 2.0f}, mean[2], invstd[2], y[6];
    frost_bn_forward_train(&bn_default, 3, 2, x, gamma, beta, rm, rv, mean, invstd, y);
    const double y_pt[6] = {-1.6380830629005954, 1.6984986706046252, -0.03452076572514917,
                            0.7460004834164998,  3.172603828625743,  0.5555008459788748};
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(y[i], y_pt[i], 1e-5, 1e-5);
    CHECK_NEAR(rm[0], 0.41333333, 1e-6, 1e-6);
    CHECK_NEAR(rm[1], -0.016666667, 1e-6, 1e-6);
    CHECK_NEAR(rv[0], 1.1333333333, 1e-6, 1e-6);
    CHECK_NEAR(rv[1], 2.0583333333, 1e-6, 1e-6);

    float dx[6] = {0}, dgamma[2] = {0}, dbeta[2] = {0};
    frost_bn_backward(NULL, 3, 2, x, gamma, mean, invstd, r, dx, dgamma, dbeta);
    const double dx_pt[6] = {1.8326308441450834,  0.06759219727282767, -2.7489668833146217,
                             -0.4055782557017329, 0.9163360391695384,  0.3379860584289052};
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(dx[i], dx_pt[i], 1e-5, 1e-5);
    CHECK_NEAR(dgamma[0], 3.207124594350892, 1e-5, 1e-5);
    CHECK_NEAR(dgamma[1], -4.317991781919501, 1e-5, 1e-5);
    CHECK_NEAR(dbeta[0], 3.0, 1e-6, 1e-6);
    CHECK_NEAR(dbeta[1], 0.5, 1e-6, 1e-6);

    const double eval_pt[6] = {1.602149884855633,  1.6912048976911471, 3.4808144699032537,
                               0.8199382199291969, 7.238143639998495,  0.6456848843768069};
    frost_bn_forward_eval(&bn_default, 3, 2, x, gamma, beta, rm, rv, y);
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(y[i], eval_pt[i], 1e-5, 1e-5);
}

typedef struct {
    int64_t m;
    int c;
    float *x, *gamma, *beta, *rm, *rv, *mean, *invstd, *y;
} bn_op;

static void bn_op_forward(void *op)
{
    bn_op *b = op;
    frost_bn_forward_train(&bn_default, b->m, b->c, b->x, b->gamma, b->beta, b->rm, b->rv, b->mean,
                           b->invstd, b->y);
}

static bn_op bn_op_new(int64_t m, int c, unsigned long long seed)
{
    bn_op b = {m,
               c,
               alloc_uniform(m * c, -2.0f, 3.0f, seed),
               alloc_uniform(c, 0.5f, 1.5f, seed + 1),
               alloc_uniform(c, -1.0f, 1.0f, seed + 2),
               alloc_zero(c),
               alloc_zero(c),
               alloc_zero(c),
               alloc_zero(c),
               alloc_zero(m * c)};
    return b;
}

static void bn_op_free(bn_op *b)
{
    free(b->x), free(b->gamma), free(b->beta), free(b->rm), free(b->rv), free(b->mean);
    free(b->invstd), free(b->y);
}

TEST(bn_train_gradcheck)
{
    const int64_t m = 18; /* e.g. N=2, H=3, W=3 */
    const int c = 5;
    bn_op b = bn_op_new(m, c, 31);
    float *r = alloc_uniform(m * c, -1.0f, 1.0f, 41);
    float *dx = alloc_uniform(m * c, -1, 1, 42), *dx0 = malloc(sizeof(float) * m * c);
    memcpy(dx0, dx, sizeof(float) * m * c); /* backward adds: start from non-zero */
    float dgamma[5] = {0}, dbeta[5] = {0};
    bn_op_forward(&b);
    frost_bn_backward(NULL, m, c, b.x, b.gamma, b.mean, b.invstd, r, dx, dgamma, dbeta);
    for (long i = 0; i < m * c; i++)
        dx[i] -= dx0[i];
    probe p = {bn_op_forward, &b, b.y, r, m * c};
    frost_test_gradcheck("bn.x", probe_loss, &p, b.x, dx, m * c, 1e-2, 2e-3, 2e-2, m * c);
    frost_test_gradcheck("bn.gamma", probe_loss, &p, b.gamma, dgamma, c, 1e-2, 2e-3, 2e-2, c);
    frost_test_gradcheck("bn.beta", probe_loss, &p, b.beta, dbeta, c, 1e-2, 2e-3, 2e-2, c);
    free(r), free(dx), free(dx0);
    bn_op_free(&b);
}

/* Double-precision BN of channel ch, for comparing against the float kernels. */
static void bn_naive_channel(int64_t m, int c, int ch, const float *x, const float *dy,
                             double gamma, double beta, double *y, double *dx)
{
    double s = 0, ss = 0, sdy = 0, sdyxh = 0;
    for (int64_t r = 0; r < m; r++)
        s += x[r * c + ch];
    double mean = s / m;
    for (int64_t r = 0; r < m; r++)
        ss += (x[r * c + ch] - mean) * (x[r * c + ch] - mean);
    double invstd = 1.0 / sqrt(ss / m + 1e-5);
    for (int64_t r = 0; r < m; r++) {
        double xh = (x[r * c + ch] - mean) * invstd;
        y[r] = xh * gamma + beta;
        sdy += dy[r * c + ch];
        sdyxh += dy[r * c + ch] * xh;
    }
    for (int64_t r = 0; r < m; r++) {
        double xh = (x[r * c + ch] - mean) * invstd;
        dx[r] = gamma * invstd * (dy[r * c + ch] - sdy / m - xh * sdyxh / m);
    }
}

/* Runs BN forward + backward on `threads` threads; returns how many y / dx values
 * are off the double-precision reference, and whether a rerun was bit-identical. */
static int bn_run_threads(bn_op *b, const float *dy, const double *y_ref, const double *dx_ref,
                          int threads, bool *repeatable)
{
    int64_t n = b->m * b->c;
    float *dx = alloc_zero(n), *dx2 = alloc_zero(n), *y1 = malloc(sizeof(float) * n);
    float *dg = alloc_zero(b->c), *dg2 = alloc_zero(b->c);
    frost_set_threads(threads);
    bn_op_forward(b);
    frost_bn_backward(NULL, b->m, b->c, b->x, b->gamma, b->mean, b->invstd, dy, dx, dg, NULL);
    memcpy(y1, b->y, sizeof(float) * n);
    bn_op_forward(b);
    frost_bn_backward(NULL, b->m, b->c, b->x, b->gamma, b->mean, b->invstd, dy, dx2, dg2, NULL);
    *repeatable = memcmp(y1, b->y, sizeof(float) * n) == 0 &&
                  memcmp(dx, dx2, sizeof(float) * n) == 0 &&
                  memcmp(dg, dg2, sizeof(float) * b->c) == 0;
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        bad += !(fabs(y1[i] - y_ref[i]) <= 2e-5 + 2e-5 * fabs(y_ref[i]));
        bad += !(fabs(dx[i] - dx_ref[i]) <= 2e-5 + 2e-5 * fabs(dx_ref[i]));
    }
    free(dx), free(dx2), free(y1), free(dg), free(dg2);
    return bad;
}

/* More channels than one tile (256) and enough rows for many threads, including
 * more than BN's cap of 8: against a double-precision reference, and
 * bit-identical when repeated with the same thread count. */
TEST(bn_wide_multithreaded)
{
    const int64_t m = 1100;
    const int c = 300;
    bn_op b = bn_op_new(m, c, 51);
    for (int64_t i = 0; i < m * c; i++)
        b.x[i] += 10.0f; /* an offset mean makes a naive E[x^2]-E[x]^2 in float fail */
    float *dy = alloc_uniform(m * c, -1, 1, 52);
    double *y_ref = malloc(sizeof(double) * m * c), *dx_ref = malloc(sizeof(double) * m * c);
    double *yc = malloc(sizeof(double) * m), *dxc = malloc(sizeof(double) * m);
    for (int ch = 0; ch < c; ch++) {
        bn_naive_channel(m, c, ch, b.x, dy, b.gamma[ch], b.beta[ch], yc, dxc);
        for (int64_t r = 0; r < m; r++)
            y_ref[r * c + ch] = yc[r], dx_ref[r * c + ch] = dxc[r];
    }
    const int threads[] = {1, 2, 3, 8, 11};
    for (size_t t = 0; t < FROST_ARRAY_LEN(threads); t++) {
        bool repeatable = false;
        CHECK_EQ_INT(bn_run_threads(&b, dy, y_ref, dx_ref, threads[t], &repeatable), 0);
        CHECK(repeatable);
    }
    frost_set_threads(0);
    free(dy), free(y_ref), free(dx_ref), free(yc), free(dxc);
    bn_op_free(&b);
}

TEST(bn_backward_optional_outputs)
{
    const int64_t m = 6;
    const int c = 3;
    bn_op b = bn_op_new(m, c, 61);
    float *dy = alloc_uniform(m * c, -1, 1, 62);
    float dg_all[3] = {0}, db_all[3] = {0}, dg[3] = {0};
    float *dx_all = alloc_zero(m * c);
    bn_op_forward(&b);
    frost_bn_backward(NULL, m, c, b.x, b.gamma, b.mean, b.invstd, dy, dx_all, dg_all, db_all);
    frost_bn_backward(NULL, m, c, b.x, b.gamma, b.mean, b.invstd, dy, NULL, dg, NULL);
    for (int j = 0; j < c; j++)
        CHECK_FLOAT_EQ(dg[j], dg_all[j]);
    free(dy), free(dx_all);
    bn_op_free(&b);
}

TEST(bn_avx2_kernels_match_ref)
{
    if (!frost_cpu_has_avx2()) {
        printf("     (no AVX2: skipped)\n");
        return;
    }
    const int tcs[] = {1, 3, 4, 5, 8, 13, 16, 17, 29, 32, 45, 64, 100, 256};
    const int64_t rowss[] = {1, 2, 7, 33};
    int bad = 0;
    unsigned long long seed = 1000;
    for (size_t a = 0; a < FROST_ARRAY_LEN(tcs); a++)
        for (size_t b = 0; b < FROST_ARRAY_LEN(rowss); b++) {
            int tc = tcs[a];
            int64_t rows = rowss[b], ld = tc + (int)(b % 2) * 3; /* also a strided tile */
            int64_t n = rows * ld;
            float *x = alloc_uniform(n, -3, 5, seed++), *dy = alloc_uniform(n, -1, 1, seed++);
            float *mean = alloc_uniform(tc, 0, 1, seed++),
                  *scale = alloc_uniform(tc, -2, 2, seed++);
            float *shift = alloc_uniform(tc, -1, 1, seed++), *k2 = alloc_uniform(tc, -1, 1, seed++);
            double *s1 = calloc(tc, sizeof(double)), *s2 = calloc(tc, sizeof(double));
            double *t1 = calloc(tc, sizeof(double)), *t2 = calloc(tc, sizeof(double));
            /* sums: bit-identical, both the x,x (forward) and dy,x (backward) forms */
            frost_bn_sums_ref(rows, tc, ld, x, x, s1, s2);
            frost_bn_sums_avx2(rows, tc, ld, x, x, t1, t2);
            frost_bn_sums_ref(rows, tc, ld, dy, x, s1, s2);
            frost_bn_sums_avx2(rows, tc, ld, dy, x, t1, t2);
            for (int j = 0; j < tc; j++)
                bad += s1[j] != t1[j] || s2[j] != t2[j];
            float *y1 = alloc_zero(n), *y2 = alloc_zero(n);
            float *d1 = alloc_uniform(n, -1, 1, 9), *d2 = alloc_uniform(n, -1, 1, 9);
            frost_bn_apply_ref(rows, tc, ld, x, mean, scale, shift, y1);
            frost_bn_apply_avx2(rows, tc, ld, x, mean, scale, shift, y2);
            frost_bn_dx_ref(rows, tc, ld, x, dy, mean, scale, shift, k2, d1, false);
            frost_bn_dx_avx2(rows, tc, ld, x, dy, mean, scale, shift, k2, d2, false);
            for (int64_t i = 0; i < n; i++)
                bad += !(fabsf(y1[i] - y2[i]) <= 1e-5f * (1e-1f + fabsf(y1[i])) &&
                         fabsf(d1[i] - d2[i]) <= 1e-5f * (1e-1f + fabsf(d1[i])));
            /* write mode: the bits of clearing the tile and adding, gaps untouched */
            for (int simd = 0; simd < 2; simd++) {
                float *w1 = alloc_uniform(n, 9, 10, 5), *w2 = alloc_uniform(n, 9, 10, 5);
                for (int64_t q = 0; q < rows; q++)
                    memset(w2 + q * ld, 0, sizeof(float) * tc);
                void (*dx)(int64_t, int, int64_t, const float *, const float *, const float *,
                           const float *, const float *, const float *, float *, bool) =
                    simd ? frost_bn_dx_avx2 : frost_bn_dx_ref;
                dx(rows, tc, ld, x, dy, mean, scale, shift, k2, w1, true);
                dx(rows, tc, ld, x, dy, mean, scale, shift, k2, w2, false);
                bad += memcmp(w1, w2, sizeof(float) * n) != 0;
                free(w1), free(w2);
            }
            free(x), free(dy), free(mean), free(scale), free(shift), free(k2);
            free(s1), free(s2), free(t1), free(t2), free(y1), free(y2), free(d1), free(d2);
        }
    CHECK_EQ_INT(bad, 0);
}

/* ---- pooling ---- */

/* Runs a pool on a 1xHxWx1 ramp x[i] = i and checks the exact output and that
 * nothing past the expected oh*ow outputs was written. */
static void check_pool_ramp(bool max, int h, int w, frost_pool_params p, int oh, int ow,
                            const float *want)
{
    frost_shape4 in = {1, h, w, 1};
    float x[64], y[32];
    int32_t am[32];
    for (int i = 0; i < h * w; i++)
        x[i] = (float)i;
    for (int i = 0; i < 32; i++)
        y[i] = -777.0f, am[i] = -777;
    if (max)
        frost_maxpool_forward(&p, in, x, y, am);
    else
        frost_avgpool_forward(&p, in, x, y);
    for (int i = 0; i < oh * ow; i++) {
        CHECK_NEAR(y[i], want[i], 1e-6, 1e-6);
        if (max)
            CHECK_EQ_INT(am[i], (int)want[i]); /* the ramp value is its own index */
    }
    CHECK_FLOAT_EQ(y[oh * ow], -777.0f);
    if (max)
        CHECK_EQ_INT(am[oh * ow], -777);
}

TEST(pool_odd_sizes)
{
    /* 5x5, k3 s2 p1 -> 3x3 */
    const float max5[9] = {6, 8, 9, 16, 18, 19, 21, 23, 24};
    check_pool_ramp(true, 5, 5, (frost_pool_params){3, 2, 1}, 3, 3, max5);
    /* averages over the taps inside the image only */
    const float avg5[9] = {3, 4.5f, 6, 10.5f, 12, 13.5f, 18, 19.5f, 21};
    check_pool_ramp(false, 5, 5, (frost_pool_params){3, 2, 1}, 3, 3, avg5);
    /* 7x7, k2 s2 p0 -> 3x3: the last row and column are dropped (floor) */
    const float max7[9] = {8, 10, 12, 22, 24, 26, 36, 38, 40};
    check_pool_ramp(true, 7, 7, (frost_pool_params){2, 2, 0}, 3, 3, max7);
    /* 3x5 (non-square), k3 s1 p1 -> 3x5 */
    const float max35[15] = {6, 7, 8, 9, 9, 11, 12, 13, 14, 14, 11, 12, 13, 14, 14};
    check_pool_ramp(true, 3, 5, (frost_pool_params){3, 1, 1}, 3, 5, max35);
    /* 1x1, k3 s2 p1 -> 1x1 */
    const float one[1] = {0};
    check_pool_ramp(false, 1, 1, (frost_pool_params){3, 2, 1}, 1, 1, one);

    /* ties (and an all -inf window) pick the first tap in scan order, as PyTorch */
    const frost_pool_params p = {2, 2, 0};
    /* 2x2 pixels of 2 channels: channel 0 all -inf, channel 1 = 1, 3, 3, 3 */
    const float x[8] = {-INFINITY, 1, -INFINITY, 3, -INFINITY, 3, -INFINITY, 3};
    float y[2];
    int32_t am[2];
    frost_maxpool_forward(&p, (frost_shape4){1, 2, 2, 2}, x, y, am);
    CHECK_EQ_INT(am[0], 0);
    CHECK_EQ_INT(am[1], 3);
    CHECK_FLOAT_EQ(y[1], 3.0f);
    const float ties[4] = {1, 3, 3, 3};
    frost_maxpool_forward(&p, (frost_shape4){1, 2, 2, 1}, ties, y, am);
    CHECK_EQ_INT(am[0], 1);
    CHECK_FLOAT_EQ(y[0], 3.0f);
}

typedef struct {
    frost_pool_params p;
    frost_shape4 in;
    float *x, *y;
    int32_t *argmax;
    bool max;
} pool_op;

static void pool_op_forward(void *op)
{
    pool_op *o = op;
    if (o->max)
        frost_maxpool_forward(&o->p, o->in, o->x, o->y, o->argmax);
    else
        frost_avgpool_forward(&o->p, o->in, o->x, o->y);
}

static void pool_gradcheck(bool max, frost_shape4 in, frost_pool_params p, int oh, int ow)
{
    long nx = (long)in.n * in.h * in.w * in.c, ny = (long)in.n * oh * ow * in.c;
    pool_op o = {p, in, alloc_zero(nx), alloc_zero(ny), malloc(sizeof(int32_t) * ny), max};
    /* distinct values 0.05 apart in a shuffled order: a 1e-3 step never changes an argmax */
    for (long i = 0; i < nx; i++)
        o.x[i] = 0.05f * (float)((i * 7919) % nx) - 1.0f;
    float *r = alloc_uniform(ny, -1, 1, 71), *dx = alloc_zero(nx);
    pool_op_forward(&o);
    for (int twice = 0; twice < 2; twice++) /* backward adds: twice the gradient */
        if (max)
            frost_maxpool_backward(&p, in, r, o.argmax, dx);
        else
            frost_avgpool_backward(&p, in, r, dx);
    for (long i = 0; i < nx; i++)
        dx[i] *= 0.5f;
    probe pr = {pool_op_forward, &o, o.y, r, ny};
    frost_test_gradcheck(max ? "maxpool.x" : "avgpool.x", probe_loss, &pr, o.x, dx, nx, 1e-3, 1e-3,
                         1e-3, nx);
    free(o.x), free(o.y), free(o.argmax), free(r), free(dx);
}

TEST(maxpool_gradcheck)
{
    pool_gradcheck(true, (frost_shape4){2, 7, 6, 3}, (frost_pool_params){3, 2, 1}, 4, 3);
    pool_gradcheck(true, (frost_shape4){1, 4, 4, 5}, (frost_pool_params){2, 2, 0}, 2, 2);
}

TEST(avgpool_gradcheck_with_padding)
{
    pool_gradcheck(false, (frost_shape4){2, 5, 6, 3}, (frost_pool_params){3, 2, 1}, 3, 3);
    pool_gradcheck(false, (frost_shape4){1, 4, 3, 2}, (frost_pool_params){3, 1, 1}, 4, 3);
}

typedef struct {
    frost_shape4 in;
    float *x, *y;
} gap_op;

static void gap_op_forward(void *op)
{
    gap_op *g = op;
    frost_gap_forward(g->in, g->x, g->y);
}

TEST(gap_values_and_gradcheck)
{
    frost_shape4 in = {3, 4, 5, 6};
    long nx = 3 * 4 * 5 * 6, ny = 3 * 6;
    gap_op g = {in, alloc_uniform(nx, -2, 2, 81), alloc_zero(ny)};
    gap_op_forward(&g);
    double want = 0;
    for (int q = 0; q < 20; q++)
        want += g.x[(1 * 20 + q) * 6 + 4]; /* image 1, channel 4 */
    CHECK_NEAR(g.y[1 * 6 + 4], want / 20, 1e-6, 1e-5);
    float *r = alloc_uniform(ny, -1, 1, 82), *dx = alloc_zero(nx);
    frost_gap_backward(in, r, dx);
    frost_gap_backward(in, r, dx); /* adds: twice the gradient */
    for (long i = 0; i < nx; i++)
        dx[i] *= 0.5f;
    CHECK_NEAR(dx[(2 * 20 + 7) * 6 + 1], r[2 * 6 + 1] / 20.0, 1e-7, 1e-6);
    probe p = {gap_op_forward, &g, g.y, r, ny};
    frost_test_gradcheck("gap.x", probe_loss, &p, g.x, dx, nx, 1e-2, 1e-4, 1e-3, nx);
    free(g.x), free(g.y), free(r), free(dx);
}

/* ---- structural ---- */

typedef struct {
    long n;
    float *a, *b, *y;
} add_op;

static void add_op_forward(void *op)
{
    add_op *o = op;
    frost_add_forward(o->n, o->a, o->b, o->y);
}

TEST(add_and_vec_add)
{
    const long n = 77;
    add_op o = {n, alloc_uniform(n, -1, 1, 91), alloc_uniform(n, -1, 1, 92), alloc_zero(n)};
    add_op_forward(&o);
    for (long i = 0; i < n; i++)
        CHECK_FLOAT_EQ(o.y[i], o.a[i] + o.b[i]);
    /* the gradient of an add is dy for both inputs, accumulated with frost_vec_add_inplace */
    float *r = alloc_uniform(n, -1, 1, 93), *da = alloc_uniform(n, -1, 1, 94);
    float *da0 = malloc(sizeof(float) * n), *db = alloc_zero(n);
    memcpy(da0, da, sizeof(float) * n);
    frost_vec_add_inplace(n, r, da);
    frost_vec_add_inplace(n, r, db);
    for (long i = 0; i < n; i++)
        CHECK_FLOAT_EQ(da[i], da0[i] + r[i]);
    probe p = {add_op_forward, &o, o.y, r, n};
    frost_test_gradcheck("add.a", probe_loss, &p, o.a, db, n, 1e-2, 1e-4, 1e-3, n);
    frost_test_gradcheck("add.b", probe_loss, &p, o.b, db, n, 1e-2, 1e-4, 1e-3, n);

    /* large: split over threads */
    const long big = 200001;
    float *x = alloc_uniform(big, -1, 1, 95), *y = alloc_uniform(big, -1, 1, 96);
    float *y0 = malloc(sizeof(float) * big);
    memcpy(y0, y, sizeof(float) * big);
    frost_vec_add_inplace(big, x, y);
    int bad = 0;
    for (long i = 0; i < big; i++)
        bad += y[i] != y0[i] + x[i];
    CHECK_EQ_INT(bad, 0);
    free(o.a), free(o.b), free(o.y), free(r), free(da), free(da0), free(db);
    free(x), free(y), free(y0);
}

typedef struct {
    int n;
    int64_t hw;
    int c;
    bool per_channel;
    float *a, *b, *y;
} mul_op;

static void mul_op_forward(void *op)
{
    mul_op *o = op;
    frost_mul_forward(o->n, o->hw, o->c, o->a, o->b, o->per_channel, o->y);
}

TEST(mul_values)
{
    /* 2 images of 2 pixels x 3 channels, times the same shape and times a gate */
    const float a[12] = {1, 2, 3, 4, 5, 6, -1, -2, -3, 0.5f, 0.25f, 2};
    const float b[12] = {2, 2, 2, -1, 0, 1, 3, 3, 3, 4, 4, 4};
    const float gate[6] = {0.5f, 1, 2, -1, 0, 10}; /* [image][channel] */
    const float want_same[12] = {2, 4, 6, -4, 0, 6, -3, -6, -9, 2, 1, 8};
    const float want_gate[12] = {0.5f, 2, 6, 2, 5, 12, 1, 0, -30, -0.5f, 0, 20};
    float y[12];
    frost_mul_forward(2, 2, 3, a, b, false, y);
    for (int i = 0; i < 12; i++)
        CHECK_FLOAT_EQ(y[i], want_same[i]);
    frost_mul_forward(2, 2, 3, a, gate, true, y);
    for (int i = 0; i < 12; i++)
        CHECK_FLOAT_EQ(y[i], want_gate[i]);
    /* backward by hand with dy = 1: da = gate, dgate = sum over the 2 pixels of a */
    const float dy[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    float da[12] = {0}, dg[6] = {0};
    frost_mul_backward(2, 2, 3, a, gate, true, dy, da, dg);
    const float want_dg[6] = {5, 7, 9, -0.5f, -1.75f, -1};
    for (int i = 0; i < 6; i++)
        CHECK_FLOAT_EQ(dg[i], want_dg[i]);
    CHECK_FLOAT_EQ(da[4], 1.0f);
    CHECK_FLOAT_EQ(da[11], 10.0f);
}

/* Gradients of both inputs against finite differences, for both shapes of input 1, with
 * enough pixels to split over threads. */
static void mul_gradcheck(bool per_channel, int hw)
{
    const int n = 3, c = 5;
    long na = (long)n * hw * c, nb = per_channel ? (long)n * c : na;
    mul_op o = {n,
                hw,
                c,
                per_channel,
                alloc_uniform(na, -2, 2, 301 + hw),
                alloc_uniform(nb, -2, 2, 302 + hw),
                alloc_zero(na)};
    float *r = alloc_uniform(na, -1, 1, 303), *da = alloc_zero(na), *db = alloc_zero(nb);
    frost_mul_backward(n, hw, c, o.a, o.b, per_channel, r, da, db);
    probe p = {mul_op_forward, &o, o.y, r, na};
    const char *what = per_channel ? "mul(per-channel)" : "mul(same shape)";
    CHECK_EQ_INT(frost_test_gradcheck(what, probe_loss, &p, o.a, da, na, 1e-2, 1e-3, 1e-3, 200), 0);
    CHECK_EQ_INT(frost_test_gradcheck(what, probe_loss, &p, o.b, db, nb, 1e-2, 1e-3, 1e-3, 200), 0);
    /* either gradient alone gives the same numbers (NULL for the other) */
    float *db2 = alloc_zero(nb);
    frost_mul_backward(n, hw, c, o.a, o.b, per_channel, r, NULL, db2);
    CHECK(memcmp(db, db2, sizeof(float) * (size_t)nb) == 0);
    free(o.a), free(o.b), free(o.y), free(r), free(da), free(db), free(db2);
}

TEST(mul_gradcheck_both_inputs_both_shapes)
{
    mul_gradcheck(false, 4);
    mul_gradcheck(true, 4);
    mul_gradcheck(false, 7000); /* 105000 values: threaded */
    mul_gradcheck(true, 7000);
}

typedef struct {
    int64_t m;
    int ci[3];
    float *xs[3], *y;
} concat_op;

static void concat_op_forward(void *op)
{
    concat_op *o = op;
    const float *const xs[3] = {o->xs[0], o->xs[1], o->xs[2]};
    frost_concat_forward(o->m, 3, o->ci, xs, o->y);
}

TEST(concat_values_and_gradcheck)
{
    concat_op o = {7, {3, 5, 2}, {NULL}, NULL};
    for (int i = 0; i < 3; i++)
        o.xs[i] = alloc_uniform(o.m * o.ci[i], -1, 1, 101 + i);
    long ny = o.m * 10;
    o.y = alloc_zero(ny);
    concat_op_forward(&o);
    CHECK_FLOAT_EQ(o.y[4 * 10 + 0], o.xs[0][4 * 3 + 0]);
    CHECK_FLOAT_EQ(o.y[4 * 10 + 3 + 2], o.xs[1][4 * 5 + 2]);
    CHECK_FLOAT_EQ(o.y[6 * 10 + 9], o.xs[2][6 * 2 + 1]);
    float *r = alloc_uniform(ny, -1, 1, 111);
    float *dxs[3] = {alloc_zero(o.m * 3), NULL, alloc_zero(o.m * 2)}; /* input 1 needs none */
    frost_concat_backward(o.m, 3, o.ci, r, dxs);
    frost_concat_backward(o.m, 3, o.ci, r, dxs); /* adds: twice the gradient */
    for (long i = 0; i < o.m * 3; i++)
        dxs[0][i] *= 0.5f;
    for (long i = 0; i < o.m * 2; i++)
        dxs[2][i] *= 0.5f;
    probe p = {concat_op_forward, &o, o.y, r, ny};
    frost_test_gradcheck("concat.x0", probe_loss, &p, o.xs[0], dxs[0], o.m * 3, 1e-2, 1e-4, 1e-3,
                         100);
    frost_test_gradcheck("concat.x2", probe_loss, &p, o.xs[2], dxs[2], o.m * 2, 1e-2, 1e-4, 1e-3,
                         100);
    for (int i = 0; i < 3; i++)
        free(o.xs[i]), free(dxs[i]);
    free(o.y), free(r);
}

typedef struct {
    long n;
    float p;
    uint64_t seed;
    float *x, *mask, *y;
} dropout_op;

static void dropout_op_forward(void *op)
{
    dropout_op *d = op;
    frost_rng rng;
    frost_rng_seed(&rng, d->seed); /* the same mask on every call */
    frost_dropout_forward(1, d->n, d->p, &rng, 0, d->x, d->mask, d->y);
}

TEST(dropout_mask_and_gradcheck)
{
    const long n = 20000;
    dropout_op d = {n, 0.3f, 1234, alloc_uniform(n, -1, 1, 121), alloc_zero(n), alloc_zero(n)};
    dropout_op_forward(&d);
    long dropped = 0, odd = 0;
    for (long i = 0; i < n; i++) {
        dropped += d.mask[i] == 0.0f;
        odd += d.mask[i] != 0.0f && d.mask[i] != 1.0f / 0.7f;
        odd += d.y[i] != d.x[i] * d.mask[i];
    }
    CHECK_EQ_INT(odd, 0);
    CHECK_NEAR((double)dropped / n, 0.3, 0.015, 0); /* ~5 standard deviations */

    float *r = alloc_uniform(n, -1, 1, 122), *dx = alloc_zero(n);
    frost_dropout_backward(n, d.mask, r, dx);
    frost_dropout_backward(n, d.mask, r, dx); /* adds: twice the gradient */
    for (long i = 0; i < n; i++)
        dx[i] *= 0.5f;
    probe p = {dropout_op_forward, &d, d.y, r, n};
    frost_test_gradcheck("dropout.x", probe_loss, &p, d.x, dx, n, 1e-2, 1e-4, 1e-3, 500);

    /* p = 0 keeps everything */
    frost_rng a;
    frost_rng_seed(&a, 5);
    frost_dropout_forward(1, n, 0.0f, &a, 0, d.x, d.mask, d.y);
    CHECK(memcmp(d.x, d.y, sizeof(float) * n) == 0);
    /* p = 1 drops everything */
    frost_dropout_forward(1, n, 1.0f, &a, 0, d.x, d.mask, d.y);
    CHECK_FLOAT_EQ(d.y[17], 0.0f);
    CHECK_FLOAT_EQ(d.mask[17], 0.0f);
    /* an image's mask depends on its global index only: images 3..4 of a batch of 5 are
     * drawn alike when a second process handles them as its images 0..1 (first = 3) */
    const int images = 5, per = 4000;
    float *whole = alloc_zero(images * per), *part = alloc_zero(2 * per);
    frost_dropout_forward(images, per, 0.5f, &a, 0, d.x, whole, d.y);
    frost_dropout_forward(2, per, 0.5f, &a, 3, d.x + 3 * per, part, d.y);
    CHECK(memcmp(whole + 3 * per, part, sizeof(float) * 2 * per) == 0);
    CHECK(memcmp(whole, whole + per, sizeof(float) * per) != 0); /* images differ */
    free(whole), free(part);
    free(d.x), free(d.mask), free(d.y), free(r), free(dx);
}

/* ---- softmax cross-entropy ---- */

TEST(xent_hand_values)
{
    const float z[3] = {1, 2, 3};
    const uint8_t label[1] = {2};
    float d[3];
    int correct = -1;
    /* log(e + e^2 + e^3) - 3 */
    CHECK_NEAR(frost_softmax_xent(1, 3, z, label, 0.0f, d, &correct), 0.40760596, 1e-7, 1e-6);
    CHECK_EQ_INT(correct, 1);
    CHECK_NEAR(d[0], 0.09003057, 1e-7, 1e-6);
    CHECK_NEAR(d[2], 0.66524096 - 1.0, 1e-7, 1e-6);
    /* eps = 0.1: target [1/30, 1/30, 0.9 + 1/30]: 3.40760596 - 0.9*3 - (0.1/3)*6 */
    CHECK_NEAR(frost_softmax_xent(1, 3, z, label, 0.1f, d, NULL), 0.50760596, 1e-7, 1e-6);
    CHECK_NEAR(d[0], 0.09003057 - 0.1 / 3, 1e-7, 1e-6);
}

TEST(xent_matches_pytorch)
{
    /* F.cross_entropy(z, [2,0,1], label_smoothing=eps) in float64 */
    const float z[9] = {1, 2, 3, 0.5f, -1, 2, 3, 0, -2};
    const uint8_t labels[3] = {2, 0, 1};
    const double loss_pt[2] = {1.734634165492895, 1.7568563877151173};
    const double grad_pt[2][9] = {
        {0.030010191056793478, 0.08157615701826587, -0.1115863480750594, -0.27490320261998774,
         0.013037524423562482, 0.26186567819642526, 0.31549970751763123, -0.31762552782511194,
         0.0021258203074807653},
        {0.018899079945682365, 0.07046504590715476, -0.0893641258528372, -0.25268098039776554,
         0.001926413312451373, 0.2507545670853142, 0.30438859640652016, -0.29540330560288974,
         -0.008985290803630346}};
    const float eps[2] = {0.0f, 0.1f};
    for (int e = 0; e < 2; e++) {
        float d[9];
        int correct = -1;
        CHECK_NEAR(frost_softmax_xent(3, 3, z, labels, eps[e], d, &correct), loss_pt[e], 1e-6,
                   1e-6);
        CHECK_EQ_INT(correct, 1); /* only row 0's argmax is its label */
        for (int i = 0; i < 9; i++)
            CHECK_NEAR(d[i], grad_pt[e][i], 1e-7, 1e-5);
    }
}

typedef struct {
    int n, k;
    float *z;
    const uint8_t *labels;
    float eps;
} xent_op;

static double xent_loss(void *ctx)
{
    xent_op *o = ctx;
    return frost_softmax_xent(o->n, o->k, o->z, o->labels, o->eps, NULL, NULL);
}

TEST(xent_gradcheck)
{
    const int n = 6, k = 10;
    const uint8_t labels[6] = {0, 9, 3, 3, 7, 1};
    const float eps[2] = {0.0f, 0.1f};
    for (int e = 0; e < 2; e++) {
        xent_op o = {n, k, alloc_uniform(n * k, -3, 3, 131 + e), labels, eps[e]};
        float *d = alloc_zero(n * k);
        frost_softmax_xent(n, k, o.z, labels, eps[e], d, NULL);
        frost_test_gradcheck(e ? "xent.smooth" : "xent", xent_loss, &o, o.z, d, n * k, 1e-2, 2e-5,
                             2e-3, n * k);
        free(o.z), free(d);
    }
}

TEST(xent_stable_and_checked)
{
    const float z[6] = {1000, 0, -1000, 50, 60, 70};
    const uint8_t good[2] = {0, 2}, wrong[2] = {1, 2}, bad_label[2] = {0, 3};
    float d[6];
    int correct = 0;
    float l = frost_softmax_xent(2, 3, z, good, 0.0f, d, &correct);
    /* row 0: loss ~0; row 1: log(e^-20 + e^-10 + 1) */
    CHECK_NEAR(l, 0.5 * log(1 + exp(-10.0) + exp(-20.0)), 1e-7, 1e-5);
    CHECK_EQ_INT(correct, 2);
    l = frost_softmax_xent(2, 3, z, wrong, 0.0f, d, &correct);
    CHECK_NEAR(l, 0.5 * (1000 + log(1 + exp(-10.0) + exp(-20.0))), 1e-3, 1e-6);
    CHECK_EQ_INT(correct, 1);
    CHECK(isfinite(d[0]) && isfinite(d[1]) && isfinite(d[2]));
    CHECK_NEAR(d[1], -0.5, 1e-7, 0);
    /* a label >= k gives NaN rather than reading past the row */
    CHECK(isnan(frost_softmax_xent(2, 3, z, bad_label, 0.0f, d, NULL)));
}

FROST_TEST_MAIN(RUN(act_names_round_trip); RUN(act_forward_values);
                RUN(act_backward_kinks_follow_pytorch); RUN(hardtanh_kinks_follow_pytorch);
                RUN(sigmoid_silu_stable_for_large_inputs); RUN(act_gradcheck);
                RUN(act_large_input_uses_threads_and_matches_ref); RUN(act_avx2_matches_ref);
                RUN(sigmoid_silu_avx2_exp_accuracy); RUN(sigmoid_silu_avx2_special_values);
                RUN(exp_avx2_accuracy_and_edges); RUN(bn_running_stats_hand_numbers);
                RUN(bn_matches_pytorch); RUN(bn_train_gradcheck); RUN(bn_wide_multithreaded);
                RUN(bn_backward_optional_outputs); RUN(bn_avx2_kernels_match_ref);
                RUN(pool_odd_sizes); RUN(maxpool_gradcheck); RUN(avgpool_gradcheck_with_padding);
                RUN(gap_values_and_gradcheck); RUN(add_and_vec_add); RUN(mul_values);
                RUN(mul_gradcheck_both_inputs_both_shapes); RUN(concat_values_and_gradcheck);
                RUN(dropout_mask_and_gradcheck); RUN(xent_hand_values); RUN(xent_matches_pytorch);
                RUN(xent_gradcheck); RUN(xent_stable_and_checked))
