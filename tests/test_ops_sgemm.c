/*
 * The training GEMM (ops/sgemm.h): frost's AVX-512 and AVX2 versions against the reference
 * over random shapes (tails in m, n and k, several k-blocks, row strides wider than the
 * rows), all four transpose forms, beta 0 (C holding NaN beforehand) and 1; nothing outside
 * C's m x n entries is written; the same bits at 1 and 2 threads; the engine choice
 * (FROST_BLAS, FROST_NO_AVX512) and what frost_cpu_describe reports for it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/rng.h"
#include "frost/frost.h"
#include "harness.h"
#include "ops/sgemm.h"

typedef struct {
    bool ta, tb;
    int m, n, k, lda, ldb, ldc;
    float beta;
} gemm_case;

typedef struct {
    float *a, *b, *c0;
    size_t na, nb, nc;
} operands;

static size_t span(int rows, int cols, int ld) { return (size_t)(rows - 1) * ld + cols; }

static operands make_operands(const gemm_case *g, unsigned long long seed)
{
    operands o;
    o.na = g->ta ? span(g->k, g->m, g->lda) : span(g->m, g->k, g->lda);
    o.nb = g->tb ? span(g->n, g->k, g->ldb) : span(g->k, g->n, g->ldb);
    o.nc = span(g->m, g->n, g->ldc);
    o.a = malloc(sizeof(float) * o.na), o.b = malloc(sizeof(float) * o.nb);
    o.c0 = malloc(sizeof(float) * o.nc);
    frost_test_fill_uniform(o.a, (long)o.na, -1.0f, 1.0f, seed);
    frost_test_fill_uniform(o.b, (long)o.nb, -1.0f, 1.0f, seed + 1);
    frost_test_fill_uniform(o.c0, (long)o.nc, -1.0f, 1.0f, seed + 2);
    if (g->beta == 0.0f) /* C is only written then: whatever it held must not leak in */
        for (int i = 0; i < g->m; i++)
            for (int j = 0; j < g->n; j++)
                o.c0[(size_t)i * g->ldc + j] = NAN;
    return o;
}

static void free_operands(operands *o) { free(o->a), free(o->b), free(o->c0); }

static float *run(frost_train_gemm e, const gemm_case *g, const operands *o)
{
    float *c = malloc(sizeof(float) * o->nc);
    memcpy(c, o->c0, sizeof(float) * o->nc);
    CHECK(frost_sgemm_with(e, g->ta, g->tb, g->m, g->n, g->k, o->a, g->lda, o->b, g->ldb, g->beta,
                           c, g->ldc));
    return c;
}

/* Each entry within float rounding of the reference (scaled by the sum of |terms|), and the
 * padding between rows of C (j >= n) exactly as it was. */
static bool close_to_reference(const gemm_case *g, const operands *o, const float *want,
                               const float *got)
{
    bool ok = true;
    for (int i = 0; i < g->m; i++)
        for (int j = 0; j < g->ldc && (size_t)i * g->ldc + j < o->nc; j++) {
            size_t at = (size_t)i * g->ldc + j;
            if (j >= g->n) {
                ok &= memcmp(&got[at], &o->c0[at], sizeof(float)) == 0;
                continue;
            }
            double scale = g->beta != 0.0f ? fabs(o->c0[at]) : 0.0;
            for (int kk = 0; kk < g->k; kk++) {
                float x = g->ta ? o->a[(size_t)kk * g->lda + i] : o->a[(size_t)i * g->lda + kk];
                float y = g->tb ? o->b[(size_t)j * g->ldb + kk] : o->b[(size_t)kk * g->ldb + j];
                scale += fabs((double)x * y);
            }
            ok &= fabs((double)got[at] - want[at]) <= 2e-6 * scale + 1e-30;
        }
    return ok;
}

static gemm_case random_case(frost_rng *r, int max_m, int max_n, int max_k)
{
    gemm_case g;
    g.ta = frost_rng_u64(r) & 1, g.tb = frost_rng_u64(r) & 1;
    g.m = 1 + (int)(frost_rng_u64(r) % (unsigned)max_m);
    g.n = 1 + (int)(frost_rng_u64(r) % (unsigned)max_n);
    g.k = 1 + (int)(frost_rng_u64(r) % (unsigned)max_k);
    int pad = (int)(frost_rng_u64(r) % 3) * 5; /* 0, 5 or 10 extra floats per row */
    g.lda = (g.ta ? g.m : g.k) + pad, g.ldb = (g.tb ? g.k : g.n) + pad, g.ldc = g.n + pad;
    g.beta = (frost_rng_u64(r) & 1) ? 1.0f : 0.0f;
    return g;
}

static void check_engine_on_random_shapes(frost_train_gemm e)
{
    frost_rng r;
    frost_rng_seed(&r, 42);
    int bad = 0;
    for (int t = 0; t < 300; t++) {
        /* mostly small (every tail), some with several k-blocks and row blocks */
        gemm_case g = t % 10 == 9 ? random_case(&r, 600, 150, 900) : random_case(&r, 40, 110, 70);
        operands o = make_operands(&g, 100 + t);
        float *want = run(FROST_TRAIN_GEMM_REFERENCE, &g, &o), *got = run(e, &g, &o);
        if (!close_to_reference(&g, &o, want, got) && bad++ < 5)
            printf("     %s differs: ta %d tb %d m %d n %d k %d lda %d ldb %d ldc %d beta %g\n",
                   frost_train_gemm_name(e), g.ta, g.tb, g.m, g.n, g.k, g.lda, g.ldb, g.ldc,
                   (double)g.beta);
        free(want), free(got), free_operands(&o);
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(avx512_matches_reference)
{
    if (!frost_cpu_has_avx512f()) {
        printf("     (no AVX-512F here: skipped)\n");
        return;
    }
    check_engine_on_random_shapes(FROST_TRAIN_GEMM_AVX512);
}

TEST(avx2_matches_reference)
{
    if (!frost_cpu_has_avx2()) {
        printf("     (no AVX2 here: skipped)\n");
        return;
    }
    check_engine_on_random_shapes(FROST_TRAIN_GEMM_AVX2);
}

TEST(reference_matches_double_sums)
{
    frost_rng r;
    frost_rng_seed(&r, 7);
    for (int t = 0; t < 40; t++) {
        gemm_case g = random_case(&r, 30, 30, 50);
        operands o = make_operands(&g, 500 + t);
        float *got = run(FROST_TRAIN_GEMM_REFERENCE, &g, &o);
        for (int i = 0; i < g.m; i++)
            for (int j = 0; j < g.n; j++) {
                double s = g.beta != 0.0f ? o.c0[(size_t)i * g.ldc + j] : 0.0;
                for (int kk = 0; kk < g.k; kk++)
                    s +=
                        (double)(g.ta ? o.a[(size_t)kk * g.lda + i] : o.a[(size_t)i * g.lda + kk]) *
                        (g.tb ? o.b[(size_t)j * g.ldb + kk] : o.b[(size_t)kk * g.ldb + j]);
                CHECK_NEAR(got[(size_t)i * g.ldc + j], s, 1e-4, 1e-5);
            }
        free(got), free_operands(&o);
    }
}

/* Each C tile belongs to one thread and sums its k-blocks in one order. */
TEST(same_bits_at_one_and_two_threads)
{
    frost_train_gemm engines[] = {FROST_TRAIN_GEMM_AVX512, FROST_TRAIN_GEMM_AVX2};
    for (int e = 0; e < 2; e++) {
        if ((engines[e] == FROST_TRAIN_GEMM_AVX512 && !frost_cpu_has_avx512f()) ||
            !frost_cpu_has_avx2())
            continue;
        gemm_case shapes[] = {{false, true, 1001, 70, 300, 300, 300, 70, 1.0f},
                              {true, false, 50, 90, 3000, 50, 90, 90, 1.0f},
                              {false, false, 777, 45, 33, 33, 45, 45, 0.0f}};
        for (int s = 0; s < 3; s++) {
            operands o = make_operands(&shapes[s], 900 + s);
            frost_set_threads(1);
            float *one = run(engines[e], &shapes[s], &o);
            frost_set_threads(2);
            float *two = run(engines[e], &shapes[s], &o);
            CHECK(memcmp(one, two, sizeof(float) * o.nc) == 0);
            free(one), free(two), free_operands(&o);
        }
    }
    frost_set_threads(0);
}

TEST(empty_products)
{
    float c[6] = {1, 2, 3, 4, 5, 6}, a[1] = {0}, b[1] = {0};
    CHECK(frost_sgemm_with(FROST_TRAIN_GEMM_REFERENCE, false, false, 2, 3, 0, a, 1, b, 3, 1.0f, c,
                           3));
    CHECK(c[0] == 1 && c[5] == 6);
    frost_train_gemm e = frost_cpu_has_avx2() ? FROST_TRAIN_GEMM_AVX2 : FROST_TRAIN_GEMM_REFERENCE;
    CHECK(frost_sgemm_with(e, false, false, 2, 3, 0, a, 1, b, 3, 0.0f, c, 3));
    CHECK(c[0] == 0 && c[5] == 0);
}

static void choose(const char *blas, const char *no_avx512)
{
    blas ? setenv("FROST_BLAS", blas, 1) : unsetenv("FROST_BLAS");
    no_avx512 ? setenv("FROST_NO_AVX512", no_avx512, 1) : unsetenv("FROST_NO_AVX512");
    frost_cpu_forget();
}

TEST(engine_choice_and_description)
{
    const char *saved_blas = getenv("FROST_BLAS"), *saved_no = getenv("FROST_NO_AVX512");
    char *keep_blas = saved_blas ? strdup(saved_blas) : NULL;
    char *keep_no = saved_no ? strdup(saved_no) : NULL;
    frost_cpu_info info;

    choose(NULL, NULL);
    frost_train_gemm want =
        frost_cpu_has_avx512f() ? FROST_TRAIN_GEMM_AVX512 : FROST_TRAIN_GEMM_OPENBLAS;
    CHECK(frost_cpu_train_gemm() == want);
    frost_cpu_describe(&info);
    if (want == FROST_TRAIN_GEMM_AVX512)
        CHECK(!strcmp(info.train_gemm, "frost-avx512"));
    else
        CHECK(!strncmp(info.train_gemm, "openblas-", 9));

    choose("openblas", NULL);
    CHECK(frost_cpu_train_gemm() == FROST_TRAIN_GEMM_OPENBLAS);
    frost_cpu_describe(&info);
    CHECK(!strncmp(info.train_gemm, "openblas-", 9));

    choose(NULL, "1"); /* no AVX-512: OpenBLAS, frost's AVX2 only when asked for */
    CHECK(frost_cpu_train_gemm() == FROST_TRAIN_GEMM_OPENBLAS);
    choose("frost", "1");
    CHECK(frost_cpu_train_gemm() ==
          (frost_cpu_has_avx2() ? FROST_TRAIN_GEMM_AVX2 : FROST_TRAIN_GEMM_REFERENCE));
    frost_cpu_describe(&info);
    CHECK(!strncmp(info.train_gemm, "frost-", 6));

    choose(keep_blas, keep_no);
    free(keep_blas), free(keep_no);
}

FROST_TEST_MAIN(RUN(reference_matches_double_sums); RUN(avx512_matches_reference);
                RUN(avx2_matches_reference); RUN(same_bits_at_one_and_two_threads);
                RUN(empty_products); RUN(engine_choice_and_description))
