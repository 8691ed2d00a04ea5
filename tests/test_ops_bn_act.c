/*
 * Fused batch norm + activation (ops/bn_act.h): equal to the unfused
 * composition (frost_bn_forward_train then frost_act_forward; frost_act_backward
 * then frost_bn_backward) for identity/ReLU/ReLU6, in training and eval, for
 * channel counts that are not multiples of 8 and more than one channel tile;
 * running statistics bit-identical; AVX2 tile kernels and the AVX-512 sums
 * against the reference;
 * finite-difference gradients of the fused op; dx/dgamma/dbeta accumulate.
 * Ends with a timing printout (not asserted) of fused vs unfused.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cpu.h"
#include "core/util.h"
#include "frost/frost.h"
#include "harness.h"
#include "ops/bn_act.h"
#include "ops/elementwise.h"
#include "ops/ops.h"

static const frost_bn_params bn_default = {.eps = 1e-5f, .momentum = 0.1f};
static const frost_act_kind fusable_acts[] = {FROST_ACT_IDENTITY, FROST_ACT_RELU, FROST_ACT_RELU6,
                                              FROST_ACT_HARDTANH};

static float *alloc_uniform(long n, float lo, float hi, unsigned long long seed)
{
    float *v = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    frost_test_fill_uniform(v, n, lo, hi, seed);
    return v;
}

static float *alloc_zero(long n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static float *alloc_copy(const float *src, long n)
{
    float *v = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    memcpy(v, src, sizeof(float) * (size_t)n);
    return v;
}

static bool same_bits(const float *a, const float *b, long n)
{
    return memcmp(a, b, sizeof(float) * (size_t)n) == 0;
}

/* How many got[i] differ from want[i] by more than rtol relative. Values that
 * cancel to (near) zero are judged against 1% of the tensor's largest value,
 * so a rounding difference at 1e-9 does not count as a 100% error. */
static long count_off(const float *got, const float *want, long n, double rtol)
{
    double big = 0.0;
    for (long i = 0; i < n; i++)
        big = fmax(big, fabs(want[i]));
    long bad = 0;
    for (long i = 0; i < n; i++) {
        double ref = fmax(fabs(want[i]), 1e-2 * big);
        bad += !(fabs((double)got[i] - want[i]) <= rtol * ref);
    }
    return bad;
}

TEST(fusable_kinds)
{
    CHECK(frost_bn_act_fusable(FROST_ACT_IDENTITY));
    CHECK(frost_bn_act_fusable(FROST_ACT_RELU));
    CHECK(frost_bn_act_fusable(FROST_ACT_RELU6));
    CHECK(frost_bn_act_fusable(FROST_ACT_HARDTANH));
    CHECK(!frost_bn_act_fusable(FROST_ACT_HSWISH));
    CHECK(!frost_bn_act_fusable(FROST_ACT_HSIGMOID));
}

/* ---- fused vs unfused, end to end ---- */

/* One BN layer's tensors: x, parameters, running statistics, and a dy. gamma
 * up to 3 and beta up to 2 put plenty of outputs past ReLU6's 6 as well as
 * below 0, so both sides of every mask are exercised. */
typedef struct {
    int64_t m;
    int c;
    float *x, *gamma, *beta, *rm, *rv, *dy;
} bn_case;

static bn_case bn_case_new(int64_t m, int c, unsigned long long seed)
{
    bn_case b = {m,
                 c,
                 alloc_uniform(m * c, -2.0f, 3.0f, seed),
                 alloc_uniform(c, 0.5f, 3.0f, seed + 1),
                 alloc_uniform(c, -1.0f, 2.0f, seed + 2),
                 alloc_uniform(c, -0.5f, 0.5f, seed + 3),
                 alloc_uniform(c, 0.5f, 2.0f, seed + 4),
                 alloc_uniform(m * c, -1.0f, 1.0f, seed + 5)};
    return b;
}

static void bn_case_free(bn_case *b)
{
    free(b->x), free(b->gamma), free(b->beta), free(b->rm), free(b->rv), free(b->dy);
}

/* Outputs of one forward + backward (training), fused or not. */
typedef struct {
    float *y, *rm, *rv, *mean, *invstd, *dx, *dgamma, *dbeta;
} bn_result;

/* Backward gradients start from the same non-zero values, since backward adds. */
static bn_result bn_result_new(const bn_case *b)
{
    long n = b->m * b->c;
    bn_result r = {alloc_zero(n),
                   alloc_copy(b->rm, b->c),
                   alloc_copy(b->rv, b->c),
                   alloc_zero(b->c),
                   alloc_zero(b->c),
                   alloc_uniform(n, -1.0f, 1.0f, 77),
                   alloc_uniform(b->c, -1.0f, 1.0f, 78),
                   alloc_uniform(b->c, -1.0f, 1.0f, 79)};
    return r;
}

static void bn_result_free(bn_result *r)
{
    free(r->y), free(r->rm), free(r->rv), free(r->mean), free(r->invstd), free(r->dx);
    free(r->dgamma), free(r->dbeta);
}

static void run_unfused(const bn_case *b, frost_act_kind act, bn_result *r)
{
    long n = b->m * b->c;
    float *z = alloc_zero(n), *g = alloc_zero(n);
    frost_bn_forward_train(&bn_default, b->m, b->c, b->x, b->gamma, b->beta, r->rm, r->rv, r->mean,
                           r->invstd, z);
    frost_act_forward(act, n, z, r->y);
    frost_act_backward(act, n, z, b->dy, g);
    frost_bn_backward(NULL, b->m, b->c, b->x, b->gamma, r->mean, r->invstd, g, r->dx, r->dgamma,
                      r->dbeta);
    free(z), free(g);
}

static void run_fused(const bn_case *b, frost_act_kind act, bn_result *r)
{
    frost_bn_act_forward_train(&bn_default, act, b->m, b->c, b->x, b->gamma, b->beta, r->rm, r->rv,
                               r->mean, r->invstd, r->y);
    frost_bn_act_backward(NULL, act, b->m, b->c, b->x, r->y, b->gamma, r->mean, r->invstd, b->dy,
                          r->dx, r->dgamma, r->dbeta);
}

static bool results_identical(const bn_result *a, const bn_result *b, long n, int c)
{
    return same_bits(a->y, b->y, n) && same_bits(a->rm, b->rm, c) && same_bits(a->rv, b->rv, c) &&
           same_bits(a->mean, b->mean, c) && same_bits(a->invstd, b->invstd, c) &&
           same_bits(a->dx, b->dx, n) && same_bits(a->dgamma, b->dgamma, c) &&
           same_bits(a->dbeta, b->dbeta, c);
}

/* Shapes: channel counts not multiples of 8, c = 300 > one 256-channel tile
 * (second tile of 44), and 1100 x 300 large enough for several threads. */
static const struct {
    int64_t m;
    int c;
} shapes[] = {{1000, 3}, {64 * 49, 72}, {37, 300}, {1100, 300}, {5, 13}};

TEST(train_matches_unfused)
{
    const int threads[] = {1, 2, 3};
    long clipped_low = 0, clipped_high = 0;
    for (size_t s = 0; s < FROST_ARRAY_LEN(shapes); s++) {
        bn_case b = bn_case_new(shapes[s].m, shapes[s].c, 100 + 10 * s);
        long n = b.m * b.c;
        for (size_t a = 0; a < FROST_ARRAY_LEN(fusable_acts); a++)
            for (size_t t = 0; t < FROST_ARRAY_LEN(threads); t++) {
                frost_act_kind act = fusable_acts[a];
                frost_set_threads(threads[t]);
                bn_result u = bn_result_new(&b), f = bn_result_new(&b), f2 = bn_result_new(&b);
                run_unfused(&b, act, &u);
                run_fused(&b, act, &f);
                CHECK_EQ_INT(count_off(f.y, u.y, n, 1e-5), 0);
                CHECK_EQ_INT(count_off(f.dx, u.dx, n, 1e-5), 0);
                CHECK_EQ_INT(count_off(f.dgamma, u.dgamma, b.c, 1e-5), 0);
                CHECK_EQ_INT(count_off(f.dbeta, u.dbeta, b.c, 1e-5), 0);
                /* the BN statistics are batch norm's own, bit for bit */
                CHECK(same_bits(f.rm, u.rm, b.c) && same_bits(f.rv, u.rv, b.c));
                CHECK(same_bits(f.mean, u.mean, b.c) && same_bits(f.invstd, u.invstd, b.c));
                CHECK(!same_bits(f.rm, b.rm, b.c)); /* and they were updated */
                /* deterministic for a fixed thread count */
                run_fused(&b, act, &f2);
                CHECK(results_identical(&f, &f2, n, b.c));
                for (long i = 0; act == FROST_ACT_RELU6 && i < n; i++) {
                    clipped_low += f.y[i] == 0.0f;
                    clipped_high += f.y[i] == 6.0f;
                }
                bn_result_free(&u), bn_result_free(&f), bn_result_free(&f2);
            }
        bn_case_free(&b);
    }
    frost_set_threads(0);
    CHECK(clipped_low > 1000 && clipped_high > 1000); /* both kinks were exercised */
}

TEST(eval_matches_unfused)
{
    for (size_t s = 0; s < FROST_ARRAY_LEN(shapes); s++) {
        bn_case b = bn_case_new(shapes[s].m, shapes[s].c, 200 + 10 * s);
        long n = b.m * b.c;
        float *z = alloc_zero(n), *yu = alloc_zero(n), *yf = alloc_zero(n);
        for (size_t a = 0; a < FROST_ARRAY_LEN(fusable_acts); a++) {
            frost_act_kind act = fusable_acts[a];
            frost_bn_forward_eval(&bn_default, b.m, b.c, b.x, b.gamma, b.beta, b.rm, b.rv, z);
            frost_act_forward(act, n, z, yu);
            frost_bn_act_forward_eval(&bn_default, act, b.m, b.c, b.x, b.gamma, b.beta, b.rm, b.rv,
                                      yf);
            CHECK_EQ_INT(count_off(yf, yu, n, 1e-5), 0);
            /* in place (x == y) gives the same */
            float *xy = alloc_copy(b.x, n);
            frost_bn_act_forward_eval(&bn_default, act, b.m, b.c, xy, b.gamma, b.beta, b.rm, b.rv,
                                      xy);
            CHECK(same_bits(xy, yf, n));
            free(xy);
        }
        free(z), free(yu), free(yf);
        bn_case_free(&b);
    }
}

TEST(train_in_place_and_null_params)
{
    bn_case b = bn_case_new(300, 20, 300);
    long n = b.m * b.c;
    float *y = alloc_zero(n), *xy = alloc_copy(b.x, n), *z = alloc_zero(n), *yu = alloc_zero(n);
    frost_bn_act_forward_train(&bn_default, FROST_ACT_RELU6, b.m, b.c, b.x, b.gamma, b.beta, NULL,
                               NULL, NULL, NULL, y);
    frost_bn_act_forward_train(&bn_default, FROST_ACT_RELU6, b.m, b.c, xy, b.gamma, b.beta, NULL,
                               NULL, NULL, NULL, xy);
    CHECK(same_bits(xy, y, n));
    /* no gamma/beta: gamma = 1, beta = 0, as in batch norm */
    frost_bn_forward_train(&bn_default, b.m, b.c, b.x, NULL, NULL, NULL, NULL, NULL, NULL, z);
    frost_act_forward(FROST_ACT_RELU, n, z, yu);
    frost_bn_act_forward_train(&bn_default, FROST_ACT_RELU, b.m, b.c, b.x, NULL, NULL, NULL, NULL,
                               NULL, NULL, y);
    CHECK_EQ_INT(count_off(y, yu, n, 1e-5), 0);
    free(y), free(xy), free(z), free(yu);
    bn_case_free(&b);
}

/* Non-fusable kinds: the forward still computes the right thing (unfused);
 * the backward cannot, and leaves every gradient untouched. */
TEST(non_fusable_kinds)
{
    bn_case b = bn_case_new(200, 12, 400);
    long n = b.m * b.c;
    float *z = alloc_zero(n), *yu = alloc_zero(n), *yf = alloc_zero(n);
    frost_bn_forward_train(&bn_default, b.m, b.c, b.x, b.gamma, b.beta, NULL, NULL, NULL, NULL, z);
    frost_act_forward(FROST_ACT_HSWISH, n, z, yu);
    frost_bn_act_forward_train(&bn_default, FROST_ACT_HSWISH, b.m, b.c, b.x, b.gamma, b.beta, NULL,
                               NULL, NULL, NULL, yf);
    CHECK(same_bits(yf, yu, n));
    float *mean = alloc_zero(b.c), *invstd = alloc_uniform(b.c, 0.5f, 1.0f, 401);
    float *dx = alloc_uniform(n, -1, 1, 402), *dx0 = alloc_copy(dx, n);
    float dg[12] = {0}, db[12] = {0}, zeros[12] = {0};
    frost_bn_act_backward(NULL, FROST_ACT_HSIGMOID, b.m, b.c, b.x, yf, b.gamma, mean, invstd, b.dy,
                          dx, dg, db);
    CHECK(same_bits(dx, dx0, n) && same_bits(dg, zeros, 12) && same_bits(db, zeros, 12));
    free(z), free(yu), free(yf), free(mean), free(invstd), free(dx), free(dx0);
    bn_case_free(&b);
}

TEST(backward_accumulates)
{
    bn_case b = bn_case_new(500, 19, 500);
    long n = b.m * b.c;
    float *y = alloc_zero(n), *mean = alloc_zero(b.c), *invstd = alloc_zero(b.c);
    frost_bn_act_forward_train(&bn_default, FROST_ACT_RELU, b.m, b.c, b.x, b.gamma, b.beta, NULL,
                               NULL, mean, invstd, y);
    /* from zero */
    float *dx0 = alloc_zero(n), *dg0 = alloc_zero(b.c), *db0 = alloc_zero(b.c);
    frost_bn_act_backward(NULL, FROST_ACT_RELU, b.m, b.c, b.x, y, b.gamma, mean, invstd, b.dy, dx0,
                          dg0, db0);
    /* from non-zero starting values: the result is start + gradient */
    float *start = alloc_uniform(n, 5.0f, 6.0f, 501), *pstart = alloc_uniform(b.c, 5, 6, 502);
    float *dx = alloc_copy(start, n), *dg = alloc_copy(pstart, b.c), *db = alloc_copy(pstart, b.c);
    frost_bn_act_backward(NULL, FROST_ACT_RELU, b.m, b.c, b.x, y, b.gamma, mean, invstd, b.dy, dx,
                          dg, db);
    long bad = 0;
    for (long i = 0; i < n; i++)
        bad += !(fabs((double)dx[i] - ((double)start[i] + dx0[i])) <= 2e-6 * 6.0);
    CHECK_EQ_INT(bad, 0);
    for (int j = 0; j < b.c; j++) {
        CHECK_NEAR(dg[j], (double)pstart[j] + dg0[j], 1e-5, 1e-6);
        CHECK_NEAR(db[j], (double)pstart[j] + db0[j], 1e-5, 1e-6);
    }
    /* the gradients are not trivially zero */
    double sum_abs = 0.0;
    for (long i = 0; i < n; i++)
        sum_abs += fabs(dx0[i]);
    CHECK(sum_abs > 0.01 * n);
    /* dx and dbeta are optional: dgamma is unchanged without them */
    float *dg2 = alloc_zero(b.c);
    frost_bn_act_backward(NULL, FROST_ACT_RELU, b.m, b.c, b.x, y, b.gamma, mean, invstd, b.dy, NULL,
                          dg2, NULL);
    CHECK(same_bits(dg2, dg0, b.c));
    free(y), free(mean), free(invstd), free(dx0), free(dg0), free(db0), free(start);
    free(pstart), free(dx), free(dg), free(db), free(dg2);
    bn_case_free(&b);
}

/* ---- tile kernels: AVX2 against the reference, reference against BN's ---- */

/* y for the masks: activation outputs with exact zeros and sixes, plus values
 * around and between them. */
static float *mask_source(frost_act_kind act, long n, unsigned long long seed)
{
    float *y = alloc_uniform(n, -2.0f, 8.0f, seed);
    frost_act_forward_ref(act, n, y, y);
    return y;
}

TEST(kernels_ref_equal_unfused_ref)
{
    const int tc = 29;
    const int64_t rows = 41, ld = 33;
    long n = rows * ld;
    for (size_t a = 0; a < FROST_ARRAY_LEN(fusable_acts); a++) {
        frost_act_kind act = fusable_acts[a];
        float *x = alloc_uniform(n, -3, 5, 600), *dy = alloc_uniform(n, -1, 1, 601);
        float *y = mask_source(act, n, 602), *g = alloc_zero(n);
        float *mean = alloc_uniform(tc, 0, 1, 603), *scale = alloc_uniform(tc, -3, 3, 604);
        float *shift = alloc_uniform(tc, -1, 3, 605), *k2 = alloc_uniform(tc, -1, 1, 606);
        /* the unfused ref path materialises g = act'(.) * dy; for these kinds the
         * mask read from y equals the one read from the pre-activation */
        frost_act_backward_ref(act, n, y, dy, g);
        double s1[29] = {0}, s2[29] = {0}, t1[29] = {0}, t2[29] = {0};
        frost_bn_sums_ref(rows, tc, ld, g, x, s1, s2);
        frost_bn_act_sums_ref(act, rows, tc, ld, dy, y, x, t1, t2);
        CHECK(memcmp(s1, t1, sizeof(s1)) == 0 && memcmp(s2, t2, sizeof(s2)) == 0);
        float *d1 = alloc_uniform(n, -1, 1, 607), *d2 = alloc_copy(d1, n);
        frost_bn_dx_ref(rows, tc, ld, x, g, mean, scale, shift, k2, d1, false);
        frost_bn_act_dx_ref(act, rows, tc, ld, x, y, dy, mean, scale, shift, k2, d2, false);
        CHECK(same_bits(d1, d2, n));
        float *o1 = alloc_zero(n), *o2 = alloc_zero(n);
        frost_bn_apply_ref(rows, tc, ld, x, mean, scale, shift, o1);
        for (int64_t r = 0; r < rows; r++)
            frost_act_forward_ref(act, tc, o1 + r * ld, o1 + r * ld);
        frost_bn_act_apply_ref(act, rows, tc, ld, x, mean, scale, shift, o2);
        CHECK(same_bits(o1, o2, n));
        free(x), free(dy), free(y), free(g), free(mean), free(scale), free(shift), free(k2);
        free(d1), free(d2), free(o1), free(o2);
    }
}

/* One ISA's fused tile kernels, and batch norm's statistics kernel they use. */
typedef struct {
    void (*apply)(frost_act_kind, int64_t, int, int64_t, const float *, const float *,
                  const float *, const float *, float *);
    void (*sums)(frost_act_kind, int64_t, int, int64_t, const float *, const float *, const float *,
                 double *, double *);
    void (*dx)(frost_act_kind, int64_t, int, int64_t, const float *, const float *, const float *,
               const float *, const float *, const float *, const float *, float *, bool);
    void (*bn_sums)(int64_t, int, int64_t, const float *, const float *, double *, double *);
} simd_kernels;

/* The sums (fused and plain) bit-identical to the reference, also accumulating
 * across calls; apply and dx within the AVX2 tolerance, stride gaps untouched.
 * Returns the number of mismatches. */
static long simd_kernels_mismatches(const simd_kernels *kk)
{
    const int tcs[] = {1, 3, 7, 8, 9, 13, 16, 17, 24, 29, 31, 33, 45, 48, 72, 100, 256};
    const int64_t rowss[] = {1, 2, 7, 33};
    long bad = 0;
    unsigned long long seed = 1000;
    for (size_t a = 0; a < FROST_ARRAY_LEN(fusable_acts); a++)
        for (size_t i = 0; i < FROST_ARRAY_LEN(tcs); i++)
            for (size_t r = 0; r < FROST_ARRAY_LEN(rowss); r++) {
                frost_act_kind act = fusable_acts[a];
                int tc = tcs[i];
                int64_t rows = rowss[r], ld = tc + (int)(r % 2) * 3; /* also a strided tile */
                long n = rows * ld;
                float *x = alloc_uniform(n, -3, 5, seed++), *dy = alloc_uniform(n, -1, 1, seed++);
                float *y = mask_source(act, n, seed++);
                float *mean = alloc_uniform(tc, 0, 1, seed++);
                float *scale = alloc_uniform(tc, -3, 3, seed++);
                float *shift = alloc_uniform(tc, -1, 3, seed++);
                float *k2 = alloc_uniform(tc, -1, 1, seed++);
                double *s1 = calloc(tc, sizeof(double)), *s2 = calloc(tc, sizeof(double));
                double *t1 = calloc(tc, sizeof(double)), *t2 = calloc(tc, sizeof(double));
                for (int rep = 0; rep < 2; rep++) {
                    frost_bn_act_sums_ref(act, rows, tc, ld, dy, y, x, s1, s2);
                    kk->sums(act, rows, tc, ld, dy, y, x, t1, t2);
                }
                /* plain BN statistics: the forward (x, x) and backward (dy, x) forms */
                frost_bn_sums_ref(rows, tc, ld, x, x, s1, s2);
                kk->bn_sums(rows, tc, ld, x, x, t1, t2);
                frost_bn_sums_ref(rows, tc, ld, dy, x, s1, s2);
                kk->bn_sums(rows, tc, ld, dy, x, t1, t2);
                for (int j = 0; j < tc; j++)
                    bad += s1[j] != t1[j] || s2[j] != t2[j];
                /* outputs start as a sentinel pattern: the stride gaps must survive */
                float *o1 = alloc_uniform(n, 9, 10, 5), *o2 = alloc_uniform(n, 9, 10, 5);
                float *d1 = alloc_uniform(n, -1, 1, 9), *d2 = alloc_uniform(n, -1, 1, 9);
                frost_bn_act_apply_ref(act, rows, tc, ld, x, mean, scale, shift, o1);
                kk->apply(act, rows, tc, ld, x, mean, scale, shift, o2);
                frost_bn_act_dx_ref(act, rows, tc, ld, x, y, dy, mean, scale, shift, k2, d1, false);
                kk->dx(act, rows, tc, ld, x, y, dy, mean, scale, shift, k2, d2, false);
                for (long e = 0; e < n; e++)
                    bad += !(fabsf(o1[e] - o2[e]) <= 1e-5f * (1e-1f + fabsf(o1[e])) &&
                             fabsf(d1[e] - d2[e]) <= 1e-5f * (1e-1f + fabsf(d1[e])));
                free(s1), free(s2), free(t1), free(t2), free(o1), free(o2), free(d1), free(d2);
                /* write mode: the bits of clearing the tile and adding, gaps untouched */
                for (int simd = 0; simd < 2; simd++) {
                    float *w1 = alloc_uniform(n, 9, 10, 5), *w2 = alloc_uniform(n, 9, 10, 5);
                    for (int64_t q = 0; q < rows; q++)
                        memset(w2 + q * ld, 0, sizeof(float) * tc);
                    void (*dx)(frost_act_kind, int64_t, int, int64_t, const float *, const float *,
                               const float *, const float *, const float *, const float *,
                               const float *, float *, bool) = simd ? kk->dx : frost_bn_act_dx_ref;
                    dx(act, rows, tc, ld, x, y, dy, mean, scale, shift, k2, w1, true);
                    dx(act, rows, tc, ld, x, y, dy, mean, scale, shift, k2, w2, false);
                    bad += memcmp(w1, w2, sizeof(float) * n) != 0;
                    free(w1), free(w2);
                }
                free(x), free(dy), free(y), free(mean), free(scale), free(shift), free(k2);
            }
    return bad;
}

TEST(avx2_kernels_match_ref)
{
    if (!frost_cpu_has_avx2()) {
        printf("     (no AVX2: skipped)\n");
        return;
    }
    const simd_kernels avx2 = {frost_bn_act_apply_avx2, frost_bn_act_sums_avx2,
                               frost_bn_act_dx_avx2, frost_bn_sums_avx2};
    CHECK_EQ_INT(simd_kernels_mismatches(&avx2), 0);
}

TEST(avx512_kernels_match_ref)
{
    if (!frost_cpu_has_avx512f()) {
        printf("     (no AVX-512: skipped)\n");
        return;
    }
    /* only the sums have AVX-512 versions: the AVX-512 dispatch uses AVX2's apply and dx */
    const simd_kernels avx512 = {frost_bn_act_apply_avx2, frost_bn_act_sums_avx512,
                                 frost_bn_act_dx_avx2, frost_bn_sums_avx512};
    CHECK_EQ_INT(simd_kernels_mismatches(&avx512), 0);
}

/* ---- finite differences of the fused op: loss = sum(y * r) ---- */

typedef struct {
    frost_act_kind act;
    int64_t m;
    int c;
    float *x, *gamma, *beta, *y;
    const float *r;
} fused_probe;

static double fused_loss(void *ctx)
{
    fused_probe *p = ctx;
    frost_bn_act_forward_train(&bn_default, p->act, p->m, p->c, p->x, p->gamma, p->beta, NULL, NULL,
                               NULL, NULL, p->y);
    double s = 0.0;
    for (long i = 0; i < p->m * p->c; i++)
        s += (double)p->y[i] * p->r[i];
    return s;
}

/* Distance of the BN outputs (before the activation) from the kinks at 0 and 6 (relu,
 * relu6) and -1 and 1 (hardtanh). */
static double kink_distance(const fused_probe *p, float *z, long *moved)
{
    long n = p->m * p->c;
    frost_bn_forward_train(&bn_default, p->m, p->c, p->x, p->gamma, p->beta, NULL, NULL, NULL, NULL,
                           z);
    double nearest = 1e30;
    for (long i = 0; i < n; i++) {
        double d =
            fmin(fmin(fabs(z[i]), fabs(z[i] - 6.0)), fmin(fabs(z[i] - 1.0), fabs(z[i] + 1.0)));
        if (d < 0.15) { /* too close: move this input away, then look again */
            p->x[i] += 0.4f;
            ++*moved;
        }
        nearest = fmin(nearest, d);
    }
    return nearest;
}

TEST(fused_gradcheck)
{
    const int64_t m = 24; /* e.g. N=2, H=3, W=4 */
    const int c = 5;
    /* channel 2 spans about [-2.2, 8.2]: below 0, inside, and past 6 */
    float gamma[5] = {1.0f, 2.5f, 3.0f, 1.5f, 2.8f}, beta[5] = {0.5f, 2.0f, 3.0f, -0.5f, 1.0f};
    for (size_t a = 0; a < FROST_ARRAY_LEN(fusable_acts); a++) {
        frost_act_kind act = fusable_acts[a];
        float *x = alloc_uniform(m * c, -2.0f, 3.0f, 700 + a), *y = alloc_zero(m * c);
        float *z = alloc_zero(m * c), *r = alloc_uniform(m * c, -1.0f, 1.0f, 710 + a);
        fused_probe p = {act, m, c, x, gamma, beta, y, r};
        long moved = 1;
        double nearest = 0.0;
        for (int it = 0; it < 50 && moved; it++) {
            moved = 0;
            nearest = kink_distance(&p, z, &moved);
        }
        CHECK(nearest >= 0.15); /* the FD steps (<= ~0.03 in z) stay on one side */
        long below = 0, above = 0;
        for (long i = 0; i < m * c; i++)
            below += z[i]<0.0f, above += z[i]> 6.0f;
        CHECK(below > 0 && above > 0);

        float mean[5], invstd[5], dgamma[5] = {0}, dbeta[5] = {0};
        float *dx = alloc_zero(m * c);
        frost_bn_act_forward_train(&bn_default, act, m, c, x, gamma, beta, NULL, NULL, mean, invstd,
                                   y);
        frost_bn_act_backward(NULL, act, m, c, x, y, gamma, mean, invstd, r, dx, dgamma, dbeta);
        const char *name = frost_act_name(act);
        CHECK_EQ_INT(
            frost_test_gradcheck(name, fused_loss, &p, x, dx, m * c, 1e-2, 2e-3, 2e-2, m * c), 0);
        CHECK_EQ_INT(
            frost_test_gradcheck(name, fused_loss, &p, gamma, dgamma, c, 1e-2, 2e-3, 2e-2, c), 0);
        CHECK_EQ_INT(
            frost_test_gradcheck(name, fused_loss, &p, beta, dbeta, c, 1e-2, 2e-3, 2e-2, c), 0);
        free(x), free(y), free(z), free(r), free(dx);
    }
}

/* ---- timing (printed, not asserted) ---- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

TEST(timing_fused_vs_unfused)
{
    const int64_t m = 64 * 28 * 28;
    const int c = 48;
    const int reps = 15;
    long n = m * c;
    bn_case b = bn_case_new(m, c, 900);
    float *z = alloc_zero(n), *y = alloc_zero(n), *g = alloc_zero(n), *dx = alloc_zero(n);
    float *mean = alloc_zero(c), *invstd = alloc_zero(c), *dg = alloc_zero(c), *db = alloc_zero(c);
    const frost_act_kind acts[] = {FROST_ACT_RELU, FROST_ACT_RELU6};
    frost_set_threads(0);
    const int threads[] = {1, frost_get_threads()}; /* one thread is the least noisy */
    for (size_t ta = 0; ta < 2 * FROST_ARRAY_LEN(acts); ta++) {
        frost_act_kind act = acts[ta % 2];
        frost_set_threads(threads[ta / 2]);
        double best[4] = {1e30, 1e30, 1e30, 1e30};
        for (int rep = 0; rep < reps; rep++) {
            double t0 = now_ms();
            frost_bn_forward_train(&bn_default, m, c, b.x, b.gamma, b.beta, b.rm, b.rv, mean,
                                   invstd, z);
            frost_act_forward(act, n, z, y);
            double t1 = now_ms();
            /* unfused backward: the activation's gradient needs a zeroed buffer */
            memset(g, 0, sizeof(float) * (size_t)n);
            frost_act_backward(act, n, z, b.dy, g);
            frost_bn_backward(NULL, m, c, b.x, b.gamma, mean, invstd, g, dx, dg, db);
            double t2 = now_ms();
            frost_bn_act_forward_train(&bn_default, act, m, c, b.x, b.gamma, b.beta, b.rm, b.rv,
                                       mean, invstd, y);
            double t3 = now_ms();
            frost_bn_act_backward(NULL, act, m, c, b.x, y, b.gamma, mean, invstd, b.dy, dx, dg, db);
            double t4 = now_ms();
            best[0] = fmin(best[0], t1 - t0), best[1] = fmin(best[1], t2 - t1);
            best[2] = fmin(best[2], t3 - t2), best[3] = fmin(best[3], t4 - t3);
        }
        printf(
            "     m=%lld c=%d %-5s %d thread(s), best of %d (ms): forward unfused %.2f fused %.2f"
            " (x%.2f); backward unfused %.2f fused %.2f (x%.2f)\n",
            (long long)m, c, frost_act_name(act), frost_get_threads(), reps, best[0], best[2],
            best[0] / best[2], best[1], best[3], best[1] / best[3]);
    }
    frost_set_threads(0);
    free(z), free(y), free(g), free(dx), free(mean), free(invstd), free(dg), free(db);
    bn_case_free(&b);
}

FROST_TEST_MAIN(RUN(fusable_kinds); RUN(train_matches_unfused); RUN(eval_matches_unfused);
                RUN(train_in_place_and_null_params); RUN(non_fusable_kinds);
                RUN(backward_accumulates); RUN(kernels_ref_equal_unfused_ref);
                RUN(avx2_kernels_match_ref); RUN(avx512_kernels_match_ref); RUN(fused_gradcheck);
                RUN(timing_fused_vs_unfused))
