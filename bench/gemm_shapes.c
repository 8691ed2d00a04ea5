/*
 * bench_gemm_shapes: every GEMM frost's training runs for the benchmarked zoo models,
 * timed with OpenBLAS and with frost's own AVX2 GEMM (ops/pgemm.h) at 1 thread: the data
 * for "does OpenBLAS stay?".
 *
 *   bench_gemm_shapes [--models LIST] [--width W] [--input S] [--in-channels C]
 *                     [--classes K] [--batch B] [--repeats R] [--min-ms T] [--list]
 *                     [--out FILE]
 *
 * Finding the shapes: this program defines cblas_sgemm itself, so the conv and linear
 * layers linked into it (src/ops/conv2d.c, linear.c) call this definition, which records
 * the call and passes it on to OpenBLAS's (dlsym RTLD_NEXT). One training step of each
 * model (zero grad, forward in training mode, softmax cross-entropy, backward) is recorded,
 * so the list is what training really runs, not a re-derivation: forward products
 * (A no-trans, B trans), input gradients dX (no-trans, no-trans) and weight gradients dW
 * (trans, no-trans). Depthwise convs have their own kernels and make no GEMM.
 *
 * Timing each distinct shape (same strides and beta as recorded), median of R repeats,
 * each repeat as many calls as fill T ms, the two engines taking turns:
 *  - OpenBLAS: cblas_sgemm exactly as frost calls it;
 *  - frost: frost_pgemm_avx2, which computes C = X * W^T from rows of X and weights
 *    packed in blocks of 16 columns. Its kernel time is reported alone, and with what a
 *    training GEMM would need around it: packing B (weights change every step), the
 *    transposed copy of A for dW (pgemm reads A's rows along k), and, where frost's
 *    training accumulates (beta = 1), adding the product into C.
 * Both results are compared (relative max difference); a wrong product is an error.
 * GFLOP/s = 2 M N K / time; the share is of 2 x the per-core FP32 FMA ymm peak
 * (bench/peaks.h), measured at the start.
 */
#define _GNU_SOURCE
#include <cblas.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_args.h"
#include "core/util.h"
#include "frost/frost.h"
#include "ops/ops.h"
#include "ops/pgemm.h"
#include "peaks.h"

#define MAX_SHAPES 512

typedef enum { ROLE_FORWARD, ROLE_DX, ROLE_DW, ROLE_OTHER } gemm_role;
static const char *const ROLE_NAMES[] = {"forward", "dX", "dW", "other"};

typedef struct {
    const char *model;
    int ta, tb; /* CBLAS_TRANSPOSE values */
    int m, n, k, lda, ldb, ldc;
    bool accumulate; /* beta != 0 */
    int calls;       /* per training step */
    /* results */
    double blas_ms, frost_kernel_ms, frost_extra_ms, max_rel_diff;
} gemm_shape;

static gemm_shape g_shapes[MAX_SHAPES];
static int g_nshapes;
static const char *g_recording; /* model name while one training step is recorded */
static bool g_overflow;

typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE,
                         const enum CBLAS_TRANSPOSE, const blasint, const blasint, const blasint,
                         const float, const float *, const blasint, const float *, const blasint,
                         const float, float *, const blasint);
static sgemm_fn g_blas_sgemm;

static gemm_role role_of(int ta, int tb)
{
    if (ta == CblasNoTrans && tb == CblasTrans)
        return ROLE_FORWARD;
    if (ta == CblasNoTrans && tb == CblasNoTrans)
        return ROLE_DX;
    if (ta == CblasTrans && tb == CblasNoTrans)
        return ROLE_DW;
    return ROLE_OTHER;
}

static void record(int ta, int tb, int m, int n, int k, int lda, int ldb, int ldc, float beta)
{
    for (int i = 0; i < g_nshapes; i++) {
        gemm_shape *s = &g_shapes[i];
        if (s->model == g_recording && s->ta == ta && s->tb == tb && s->m == m && s->n == n &&
            s->k == k && s->lda == lda && s->ldb == ldb && s->ldc == ldc &&
            s->accumulate == (beta != 0.0f)) {
            s->calls++;
            return;
        }
    }
    if (g_nshapes == MAX_SHAPES) {
        g_overflow = true;
        return;
    }
    g_shapes[g_nshapes++] = (gemm_shape){.model = g_recording,
                                         .ta = ta,
                                         .tb = tb,
                                         .m = m,
                                         .n = n,
                                         .k = k,
                                         .lda = lda,
                                         .ldb = ldb,
                                         .ldc = ldc,
                                         .accumulate = beta != 0.0f,
                                         .calls = 1};
}

/* The definition frost's conv and linear layers call in this program (see the top). */
void cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER Order, OPENBLAS_CONST enum CBLAS_TRANSPOSE TransA,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE TransB, OPENBLAS_CONST blasint M,
                 OPENBLAS_CONST blasint N, OPENBLAS_CONST blasint K, OPENBLAS_CONST float alpha,
                 OPENBLAS_CONST float *A, OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *B,
                 OPENBLAS_CONST blasint ldb, OPENBLAS_CONST float beta, float *C,
                 OPENBLAS_CONST blasint ldc)
{
    if (g_recording && Order == CblasRowMajor && alpha == 1.0f)
        record(TransA, TransB, M, N, K, lda, ldb, ldc, beta);
    else if (g_recording)
        g_overflow = true; /* a form this bench does not time: refuse to give a partial list */
    g_blas_sgemm(Order, TransA, TransB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* ---- options ---- */

typedef struct {
    const char *models, *out;
    frost_builtin_opts opts;
    int batch, repeats;
    double min_ms;
    bool list_only;
} bench_args;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_gemm_shapes [--models LIST (mobilenetv2,frostnet_s)] [--width W (0.5)]\n"
            "  [--input S (28)] [--in-channels C (1)] [--classes K (10)] [--batch B (64)]\n"
            "  [--repeats R (7)] [--min-ms T (20)] [--list] [--out FILE (stdout)]\n");
}

static int parse_args(int argc, char **argv, bench_args *a)
{
    memset(a, 0, sizeof *a);
    a->models = "mobilenetv2,frostnet_s";
    a->opts = frost_builtin_defaults();
    a->opts.width = 0.5f, a->opts.input = 28, a->opts.in_channels = 1, a->opts.classes = 10;
    a->batch = 64, a->repeats = 7, a->min_ms = 20.0;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        double width = 0;
        if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(k, "--list")) {
            a->list_only = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "bench_gemm_shapes: %s needs a value\n", k);
            return 2;
        }
        if (!strcmp(k, "--models"))
            a->models = v;
        else if (!strcmp(k, "--out"))
            a->out = v;
        else if (!strcmp(k, "--width"))
            ok = parse_double(v, 0.01, 4.0, &width), a->opts.width = (float)width;
        else if (!strcmp(k, "--input"))
            ok = parse_int(v, 1, 4096, &a->opts.input);
        else if (!strcmp(k, "--in-channels"))
            ok = parse_int(v, 1, 4096, &a->opts.in_channels);
        else if (!strcmp(k, "--classes"))
            ok = parse_int(v, 2, 1 << 20, &a->opts.classes);
        else if (!strcmp(k, "--batch"))
            ok = parse_int(v, 1, 1 << 16, &a->batch);
        else if (!strcmp(k, "--repeats"))
            ok = parse_int(v, 1, 1000, &a->repeats);
        else if (!strcmp(k, "--min-ms"))
            ok = parse_double(v, 0.01, 10000.0, &a->min_ms);
        else {
            fprintf(stderr, "bench_gemm_shapes: unknown option %s\n", k);
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "bench_gemm_shapes: bad value '%s' for %s\n", v, k);
            return 2;
        }
        i++;
    }
    return 0;
}

/* ---- recording one training step ---- */

static frost_status record_model(const char *name, const bench_args *a)
{
    frost_model *m = NULL;
    FROST_TRY(frost_model_builtin(name, &a->opts, &m));
    frost_model_init_weights(m, 1);
    int h, w, c, classes = frost_model_classes(m);
    frost_model_input_shape(m, &h, &w, &c);
    size_t pixels = (size_t)a->batch * h * w * c;
    float *x = calloc(pixels, sizeof *x), *dlogits = malloc(sizeof(float) * a->batch * classes);
    uint8_t *labels = calloc((size_t)a->batch, 1);
    frost_status s = x && dlogits && labels ? frost_model_set_batch(m, a->batch)
                                            : frost_fail(FROST_ERR_NOMEM, "bench: buffers");
    frost_rng rng;
    frost_rng_seed(&rng, 7);
    for (size_t i = 0; s == FROST_OK && i < pixels; i++)
        x[i] = frost_rng_normal(&rng);
    if (s == FROST_OK) {
        g_recording = name;
        frost_model_zero_grad(m);
        s = frost_model_forward(m, x, a->batch, true);
        if (s == FROST_OK) {
            frost_softmax_xent(a->batch, classes, frost_model_logits(m), labels, 0.0f, dlogits,
                               NULL);
            s = frost_model_backward(m, dlogits);
        }
        g_recording = NULL;
    }
    free(x);
    free(dlogits);
    free(labels);
    frost_model_free(m);
    if (s == FROST_OK && g_overflow)
        s = frost_fail(FROST_ERR_UNSUPPORTED,
                       "%s: a GEMM this bench cannot time (column-major, alpha != 1) or more "
                       "than %d shapes",
                       name, MAX_SHAPES);
    return s;
}

/* ---- the frost side: pgemm plus what training would need around it ---- */

/* Packs B given as [k][n] rows (stride ldb) into pgemm's blocks (the layout of
 * frost_pgemm_pack for w[n][k]), zero biases. */
static void pack_kn(int n, int k, const float *b, int ldb, float *packed)
{
    const int nr = FROST_PGEMM_NR;
    memset(packed, 0, frost_pgemm_packed_floats(n, k) * sizeof *packed);
    for (int o0 = 0; o0 < n; o0 += nr) {
        float *blk = packed + (size_t)(o0 / nr) * nr * ((size_t)k + 1);
        int cols = n - o0 < nr ? n - o0 : nr;
        for (int kk = 0; kk < k; kk++)
            memcpy(blk + (size_t)(kk + 1) * nr, b + (size_t)kk * ldb + o0, cols * sizeof *b);
    }
}

/* B given as [n][k] rows (stride ldb) */
static void pack_nk(int n, int k, const float *b, int ldb, float *packed)
{
    if (ldb == k) {
        frost_pgemm_pack(n, k, b, NULL, packed);
        return;
    }
    const int nr = FROST_PGEMM_NR;
    memset(packed, 0, frost_pgemm_packed_floats(n, k) * sizeof *packed);
    for (int o = 0; o < n; o++) {
        float *blk = packed + (size_t)(o / nr) * nr * ((size_t)k + 1) + o % nr;
        for (int kk = 0; kk < k; kk++)
            blk[(size_t)(kk + 1) * nr] = b[(size_t)o * ldb + kk];
    }
}

/* at[m][k] = a[k][m] (a with row stride lda) */
static void transpose(int m, int k, const float *a, int lda, float *at)
{
    enum { T = 32 };
    for (int k0 = 0; k0 < k; k0 += T)
        for (int m0 = 0; m0 < m; m0 += T)
            for (int kk = k0; kk < k0 + T && kk < k; kk++)
                for (int mm = m0; mm < m0 + T && mm < m; mm++)
                    at[(size_t)mm * k + kk] = a[(size_t)kk * lda + mm];
}

typedef struct {
    const gemm_shape *s;
    const float *a, *b;
    float *c_blas, *c_frost;
    float *packed, *at, *tmp; /* frost's work buffers */
} gemm_operands;

/* The preparation a training GEMM needs before pgemm: pack B, transpose A for dW. */
static void frost_prepare(const gemm_operands *o, const float **x, int *ldx)
{
    const gemm_shape *s = o->s;
    if (s->tb == CblasTrans)
        pack_nk(s->n, s->k, o->b, s->ldb, o->packed);
    else
        pack_kn(s->n, s->k, o->b, s->ldb, o->packed);
    if (s->ta == CblasTrans) {
        transpose(s->m, s->k, o->a, s->lda, o->at);
        *x = o->at, *ldx = s->k;
    } else {
        *x = o->a, *ldx = s->lda;
    }
}

static void frost_kernel(const gemm_operands *o, const float *x, int ldx)
{
    const gemm_shape *s = o->s;
    float *y = s->accumulate ? o->tmp : o->c_frost;
    int64_t ldy = s->accumulate ? s->n : s->ldc;
    frost_pgemm_avx2(FROST_ACT_IDENTITY, 0, s->m, s->k, s->n, x, ldx, o->packed, y, ldy);
}

static void frost_accumulate(const gemm_operands *o)
{
    const gemm_shape *s = o->s;
    if (!s->accumulate)
        return;
    for (int i = 0; i < s->m; i++) {
        float *c = o->c_frost + (size_t)i * s->ldc;
        const float *t = o->tmp + (size_t)i * s->n;
        for (int j = 0; j < s->n; j++)
            c[j] += t[j];
    }
}

static void blas_call(const gemm_operands *o)
{
    const gemm_shape *s = o->s;
    g_blas_sgemm(CblasRowMajor, s->ta, s->tb, s->m, s->n, s->k, 1.0f, o->a, s->lda, o->b, s->ldb,
                 s->accumulate ? 1.0f : 0.0f, o->c_blas, s->ldc);
}

/* ---- timing ---- */

typedef enum { PART_BLAS, PART_FROST_PREPARE, PART_FROST_KERNEL, PART_FROST_ACCUMULATE } part;

static void run_part(const gemm_operands *o, part p)
{
    static const float *x;
    static int ldx;
    switch (p) {
    case PART_BLAS: blas_call(o); break;
    case PART_FROST_PREPARE: frost_prepare(o, &x, &ldx); break;
    case PART_FROST_KERNEL: frost_kernel(o, x, ldx); break;
    case PART_FROST_ACCUMULATE: frost_accumulate(o); break;
    }
}

/* CPU time of this thread: everything timed here runs in it (OpenBLAS at 1 thread computes
 * in the caller), and on a machine shared with other jobs it leaves out the time the
 * thread waits for a core, which wall-clock time would add to whichever engine it hit. */
static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

/* ms per call of one part: as many calls as fill min_ms (at least 1). */
static double time_part(const gemm_operands *o, part p, double min_ms)
{
    int calls = 0;
    double t0 = thread_cpu_ms(), t;
    do {
        run_part(o, p);
        calls++;
        t = thread_cpu_ms() - t0;
    } while (t < min_ms);
    return t / calls;
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static size_t rows_span(int rows, int cols, int ld)
{
    return rows == 0 ? 0 : (size_t)(rows - 1) * ld + cols;
}

static frost_status time_shape(gemm_shape *s, const bench_args *a)
{
    int a_rows = s->ta == CblasTrans ? s->k : s->m, a_cols = s->ta == CblasTrans ? s->m : s->k;
    int b_rows = s->tb == CblasTrans ? s->n : s->k, b_cols = s->tb == CblasTrans ? s->k : s->n;
    size_t na = rows_span(a_rows, a_cols, s->lda), nb = rows_span(b_rows, b_cols, s->ldb);
    size_t nc = rows_span(s->m, s->n, s->ldc);
    float *a_buf = malloc(na * sizeof(float)), *b_buf = malloc(nb * sizeof(float));
    float *c0 = malloc(nc * sizeof(float)), *cb = malloc(nc * sizeof(float));
    float *cf = malloc(nc * sizeof(float));
    gemm_operands o = {.s = s,
                       .a = a_buf,
                       .b = b_buf,
                       .c_blas = cb,
                       .c_frost = cf,
                       .packed = malloc(frost_pgemm_packed_floats(s->n, s->k) * sizeof(float)),
                       .at = malloc((size_t)s->m * s->k * sizeof(float)),
                       .tmp = malloc((size_t)s->m * s->n * sizeof(float))};
    frost_status st = FROST_OK;
    if (!a_buf || !b_buf || !c0 || !cb || !cf || !o.packed || !o.at || !o.tmp) {
        st = frost_fail(FROST_ERR_NOMEM, "bench: buffers for %dx%dx%d", s->m, s->n, s->k);
        goto done;
    }
    frost_rng rng;
    frost_rng_seed(&rng, 11);
    for (size_t i = 0; i < na; i++)
        a_buf[i] = frost_rng_normal(&rng);
    for (size_t i = 0; i < nb; i++)
        b_buf[i] = frost_rng_normal(&rng);
    for (size_t i = 0; i < nc; i++)
        c0[i] = frost_rng_normal(&rng);

    /* correctness first: one call each from the same C */
    memcpy(cb, c0, nc * sizeof(float));
    memcpy(cf, c0, nc * sizeof(float));
    run_part(&o, PART_BLAS);
    run_part(&o, PART_FROST_PREPARE);
    run_part(&o, PART_FROST_KERNEL);
    run_part(&o, PART_FROST_ACCUMULATE);
    double diff = 0, scale = 0;
    for (int i = 0; i < s->m; i++)
        for (int j = 0; j < s->n; j++) {
            size_t at = (size_t)i * s->ldc + j;
            diff = fmax(diff, fabs((double)cb[at] - cf[at]));
            scale = fmax(scale, fabs((double)cb[at]));
        }
    s->max_rel_diff = scale > 0 ? diff / scale : diff;
    if (!(s->max_rel_diff < 1e-4)) {
        st = frost_fail(FROST_ERR_NUMERIC, "%s %s %dx%dx%d: frost and OpenBLAS differ by %g",
                        s->model, ROLE_NAMES[role_of(s->ta, s->tb)], s->m, s->n, s->k,
                        s->max_rel_diff);
        goto done;
    }

    /* The outputs keep accumulating across timed calls; the values stay finite at these
     * call counts and the work per call does not depend on them. */
    double *blas = malloc(sizeof(double) * 4 * a->repeats);
    if (!blas) {
        st = frost_fail(FROST_ERR_NOMEM, "bench: repeats");
        goto done;
    }
    double *prep = blas + a->repeats, *kern = prep + a->repeats, *acc = kern + a->repeats;
    for (int r = 0; r < a->repeats; r++) {
        bool blas_first = r % 2 == 0; /* take turns, so neither always runs warm */
        if (blas_first)
            blas[r] = time_part(&o, PART_BLAS, a->min_ms);
        prep[r] = time_part(&o, PART_FROST_PREPARE, a->min_ms / 4);
        kern[r] = time_part(&o, PART_FROST_KERNEL, a->min_ms);
        acc[r] = s->accumulate ? time_part(&o, PART_FROST_ACCUMULATE, a->min_ms / 4) : 0.0;
        if (!blas_first)
            blas[r] = time_part(&o, PART_BLAS, a->min_ms);
    }
    s->blas_ms = median_of(blas, a->repeats);
    s->frost_kernel_ms = median_of(kern, a->repeats);
    s->frost_extra_ms = median_of(prep, a->repeats) + median_of(acc, a->repeats);
    free(blas);
done:
    free(a_buf), free(b_buf), free(c0), free(cb), free(cf);
    free(o.packed), free(o.at), free(o.tmp);
    return st;
}

/* ---- report ---- */

static double gflops(const gemm_shape *s, double ms)
{
    return 2.0 * s->m * s->n * s->k / (ms * 1e6);
}

static void load_average(char *out, size_t size)
{
    FILE *f = fopen("/proc/loadavg", "r");
    float l1, l5, l15;
    if (f && fscanf(f, "%f %f %f", &l1, &l5, &l15) == 3)
        snprintf(out, size, "%.2f %.2f %.2f", l1, l5, l15);
    else
        snprintf(out, size, "unknown");
    if (f)
        fclose(f);
}

static void print_table(FILE *f, const char *model, double peak_gflops)
{
    fprintf(f, "| role | M | N | K | lda ldb ldc | beta | calls/step | OpenBLAS GFLOP/s | "
               "frost kernel GFLOP/s | frost incl. pack GFLOP/s | OpenBLAS %% peak | "
               "frost kernel %% peak | frost incl. / OpenBLAS |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < g_nshapes; i++) {
        const gemm_shape *s = &g_shapes[i];
        if (strcmp(s->model, model))
            continue;
        double gb = gflops(s, s->blas_ms), gk = gflops(s, s->frost_kernel_ms);
        double gi = gflops(s, s->frost_kernel_ms + s->frost_extra_ms);
        fprintf(f,
                "| %s | %d | %d | %d | %d %d %d | %d | %d | %.1f | %.1f | %.1f | %.0f%% | %.0f%% | "
                "%.2f |\n",
                ROLE_NAMES[role_of(s->ta, s->tb)], s->m, s->n, s->k, s->lda, s->ldb, s->ldc,
                s->accumulate, s->calls, gb, gk, gi, 100 * gb / peak_gflops, 100 * gk / peak_gflops,
                gi / gb);
    }
}

typedef struct {
    double blas, kernel, incl; /* ms per training step */
    int shapes, kernel_wins, incl_wins;
} model_totals;

static model_totals totals_of(const char *model, int role /* -1: all */)
{
    model_totals t = {0};
    for (int i = 0; i < g_nshapes; i++) {
        const gemm_shape *s = &g_shapes[i];
        if (strcmp(s->model, model) || (role >= 0 && (int)role_of(s->ta, s->tb) != role))
            continue;
        double incl = s->frost_kernel_ms + s->frost_extra_ms;
        t.blas += s->calls * s->blas_ms;
        t.kernel += s->calls * s->frost_kernel_ms;
        t.incl += s->calls * incl;
        t.shapes++;
        t.kernel_wins += s->frost_kernel_ms < s->blas_ms;
        t.incl_wins += incl < s->blas_ms;
    }
    return t;
}

static void print_report(FILE *f, int argc, char **argv, const bench_args *a, double peak_gmacs,
                         const char *load_start)
{
    frost_cpu_info c;
    frost_cpu_describe(&c);
    char text[FROST_CPU_TEXT_MAX], load_end[64], date[64];
    frost_cpu_text(&c, text, sizeof text);
    load_average(load_end, sizeof load_end);
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    double peak_gflops = 2 * peak_gmacs;

    fprintf(f, "# Training GEMM shapes: OpenBLAS vs frost's own AVX2 GEMM, 1 thread\n\n");
    fprintf(f, "Command: `bench_gemm_shapes");
    for (int i = 1; i < argc; i++)
        fprintf(f, " %s", argv[i]);
    fprintf(f, "` (built by `cmake --build build --target bench_gemm_shapes`)\n\n");
    fprintf(f,
            "- CPU: %s; per-core FP32 FMA ymm peak %.1f GMAC/s = %.1f GFLOP/s, measured "
            "(CPU time) at the start of this run (bench/peaks.h)\n",
            text, peak_gmacs, peak_gflops);
    fprintf(f, "- OpenBLAS core: %s; OPENBLAS_CORETYPE %s\n", openblas_get_corename(),
            coretype ? coretype : "not set");
    fprintf(f,
            "- Date %s; load average (1/5/15 min) %s at start, %s at end (a quiet machine "
            "is near 0; other jobs shared these 2 cores)\n",
            date, load_start, load_end);
    fprintf(f,
            "- Models: %s, width %.2g, input %dx%dx%d, batch %d: every cblas_sgemm call of "
            "one training step, recorded as frost makes it (see bench/gemm_shapes.c)\n",
            a->models, (double)a->opts.width, a->opts.input, a->opts.input, a->opts.in_channels,
            a->batch);
    fprintf(f,
            "- Timing: median of %d repeats per shape, each repeat as many calls as fill "
            "%.0f ms, OpenBLAS and frost taking turns; 1 thread for both; times are the "
            "thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so waiting for a core on this "
            "shared machine is not counted (cache sharing with other jobs still is)\n",
            a->repeats, a->min_ms);
    fprintf(f, "- roles: forward = X W^T (A no-trans, B trans); dX = dY W (no-trans, "
               "no-trans); dW = dY^T X (trans, no-trans). beta 1 = accumulates into C.\n");
    fprintf(f,
            "- frost kernel = frost_pgemm_avx2 alone (6x16 FMA tile) on prepared operands; "
            "frost incl. pack = kernel + packing B (weights change every step) + the "
            "transposed copy of A for dW + the add into C where beta = 1 (a real "
            "training kernel could fuse the last two, so this bounds it from above). "
            "Every product was checked against OpenBLAS's (relative max difference < 1e-4).\n\n");

    for (const char *m = a->models; *m;) {
        size_t len = strcspn(m, ",");
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)len, m);
        m += len + (m[len] == ',');
        fprintf(f, "## %s w%.2g\n\n", name, (double)a->opts.width);
        print_table(f, name, peak_gflops);
        fprintf(f, "\nGEMM time per training step (calls x median), ms:\n\n"
                   "| role | shapes | OpenBLAS | frost kernel | frost incl. pack | frost "
                   "kernel faster on | frost incl. faster on |\n|---|---|---|---|---|---|---|\n");
        for (int role = -1; role < ROLE_OTHER; role++) {
            model_totals t = totals_of(name, role);
            if (!t.shapes)
                continue;
            fprintf(f, "| %s | %d | %.2f | %.2f | %.2f | %d of %d | %d of %d |\n",
                    role < 0 ? "all" : ROLE_NAMES[role], t.shapes, t.blas, t.kernel, t.incl,
                    t.kernel_wins, t.shapes, t.incl_wins, t.shapes);
        }
        fprintf(f, "\n");
    }
}

/* What the numbers say about keeping OpenBLAS for training, on this CPU only. */
static void print_decision(FILE *f, const bench_args *a, const frost_cpu_info *c)
{
    model_totals all = {0};
    for (int i = 0; i < g_nshapes; i++) {
        const gemm_shape *s = &g_shapes[i];
        double incl = s->frost_kernel_ms + s->frost_extra_ms;
        all.blas += s->calls * s->blas_ms, all.kernel += s->calls * s->frost_kernel_ms;
        all.incl += s->calls * incl, all.shapes++;
        all.kernel_wins += s->frost_kernel_ms < s->blas_ms, all.incl_wins += incl < s->blas_ms;
    }
    fprintf(f, "## What this supports on this CPU\n\n");
    fprintf(f,
            "Over the %d shapes of %s, one training step: OpenBLAS %.1f ms, frost's kernel "
            "alone %.1f ms (faster on %d), frost with packing/transposes/accumulation %.1f ms "
            "(faster on %d).\n\n",
            all.shapes, a->models, all.blas, all.kernel, all.kernel_wins, all.incl, all.incl_wins);
    if (all.incl_wins == all.shapes)
        fprintf(f, "frost's own GEMM, as training would have to call it, beats OpenBLAS on every "
                   "shape here: on this CPU the numbers support dropping OpenBLAS from "
                   "training.\n\n");
    else
        fprintf(f,
                "frost's own GEMM does not beat OpenBLAS on every shape as training would "
                "have to call it (%d of %d): on this CPU the numbers do not support dropping "
                "OpenBLAS with the kernel as it is. Dropping it would first need "
                "training-specific entry points (a dW form that reads A along its columns "
                "instead of a transposed copy, accumulation into C in the epilogue, a dX "
                "form for small K), then this comparison again.\n\n",
                all.incl_wins, all.shapes);
    fprintf(f, "This CPU %s AVX-512: %s\n", c->avx512f ? "has" : "has no",
            c->avx512f ? "the issue's AVX-512 decision can be read from this run only if "
                         "frost has zmm GEMM kernels, which this bench does not time yet."
                       : "the AVX-512 decision (frost zmm kernels vs OpenBLAS's AVX-512 "
                         "path) needs this bench on an AVX-512 machine; nothing here speaks "
                         "for that CPU.");
}

int main(int argc, char **argv)
{
    (void)bench_print_peaks; /* peaks.h: only the FMA ymm kernel is used here */
    bench_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    g_blas_sgemm = (sgemm_fn)dlsym(RTLD_NEXT, "cblas_sgemm");
    if (!g_blas_sgemm) {
        fprintf(stderr, "bench_gemm_shapes: OpenBLAS's cblas_sgemm not found: %s\n", dlerror());
        return 1;
    }
    frost_cpu_info cpu;
    frost_cpu_describe(&cpu);
    if (!a.list_only && !(cpu.avx2 && cpu.fma)) {
        fprintf(stderr, "bench_gemm_shapes: this CPU has no AVX2+FMA: frost's AVX2 GEMM cannot "
                        "run here (use --list for the shapes alone)\n");
        return 1;
    }
    frost_set_threads(1);
    char load_start[64];
    load_average(load_start, sizeof load_start);

    for (const char *m = a.models; *m;) {
        size_t len = strcspn(m, ",");
        char *name = strndup(m, len); /* lives to the end: the shapes point at it */
        m += len + (m[len] == ',');
        frost_status s = name ? record_model(name, &a) : FROST_ERR_NOMEM;
        if (s != FROST_OK) {
            fprintf(stderr, "bench_gemm_shapes: %s: %s: %s\n", name ? name : "?",
                    frost_status_name(s), frost_last_error());
            return 1;
        }
    }
    if (a.list_only) {
        printf("model\trole\tM\tN\tK\tlda\tldb\tldc\tbeta\tcalls\n");
        for (int i = 0; i < g_nshapes; i++) {
            const gemm_shape *s = &g_shapes[i];
            printf("%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", s->model,
                   ROLE_NAMES[role_of(s->ta, s->tb)], s->m, s->n, s->k, s->lda, s->ldb, s->ldc,
                   s->accumulate, s->calls);
        }
        return 0;
    }

    double peaks[3]; /* CPU time, like the GEMMs (peaks.h) */
    for (int r = 0; r < 3; r++)
        peaks[r] = peak_fma_ymm();
    double peak = median_of(peaks, 3);

    for (int i = 0; i < g_nshapes; i++) {
        frost_status s = time_shape(&g_shapes[i], &a);
        if (s != FROST_OK) {
            fprintf(stderr, "bench_gemm_shapes: %s\n", frost_last_error());
            return 1;
        }
        const gemm_shape *g = &g_shapes[i];
        fprintf(stderr, "%d/%d %s %s %dx%dx%d: OpenBLAS %.1f, frost kernel %.1f GFLOP/s\n", i + 1,
                g_nshapes, g->model, ROLE_NAMES[role_of(g->ta, g->tb)], g->m, g->n, g->k,
                gflops(g, g->blas_ms), gflops(g, g->frost_kernel_ms));
    }
    FILE *f = a.out ? fopen(a.out, "w") : stdout;
    if (!f) {
        fprintf(stderr, "bench_gemm_shapes: cannot write %s: %s\n", a.out, strerror(errno));
        return 1;
    }
    print_report(f, argc, argv, &a, peak, load_start);
    print_decision(f, &a, &cpu);
    if (a.out && fclose(f) != 0) {
        fprintf(stderr, "bench_gemm_shapes: writing %s failed\n", a.out);
        return 1;
    }
    return 0;
}
