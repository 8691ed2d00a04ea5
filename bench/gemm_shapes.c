/*
 * bench_gemm_shapes: every GEMM frost's training runs for the benchmarked zoo models,
 * timed with OpenBLAS and with frost's own training GEMM (ops/sgemm.h, AVX-512 and AVX2
 * micro-kernels) at 1 and 2 threads: the data for "does OpenBLAS stay?".
 *
 *   bench_gemm_shapes [--models LIST] [--width W] [--input S] [--in-channels C]
 *                     [--classes K] [--batch B] [--threads LIST] [--repeats R]
 *                     [--min-ms T] [--list] [--out FILE]
 *
 * Finding the shapes: this program defines cblas_sgemm itself, and records one training
 * step of each model with FROST_BLAS=openblas, so the conv and linear layers (through
 * frost_sgemm) call this definition, which records the call and passes it on to
 * OpenBLAS's (dlsym RTLD_NEXT). The list is what training really runs, not a
 * re-derivation: forward products (A no-trans, B trans), input gradients dX (no-trans,
 * no-trans) and weight gradients dW (trans, no-trans). Depthwise convs have their own
 * kernels and make no GEMM.
 *
 * Timing each distinct shape (same strides and beta as recorded), median of R repeats,
 * each repeat as many calls as fill T ms, the engines taking turns (the order reversed
 * every repeat): OpenBLAS's cblas_sgemm exactly as frost called it, and
 * frost_sgemm_with(avx512 / avx2), which include everything they do per call (B's
 * transposed copy for the forward form, the accumulation into C). Every product is first
 * checked against frost's reference (relative max difference); a wrong one is an error.
 * At 1 thread the time is the thread's CPU time, at more threads wall-clock time.
 * GFLOP/s = 2 M N K / time; the share is of 2 x the per-core FP32 FMA zmm peak
 * (bench/peaks.h) times the threads, measured at the start.
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
#include "ops/sgemm.h"
#include "peaks.h"

#define MAX_SHAPES        512
#define MAX_THREAD_COUNTS 4

/* The engines compared; frost's only where the CPU has their instructions. */
enum { ENGINE_BLAS, ENGINE_AVX512, ENGINE_AVX2, ENGINES };
static const char *const ENGINE_NAMES[] = {"OpenBLAS", "frost avx512", "frost avx2"};
static bool g_engine_on[ENGINES];
static int g_threads[MAX_THREAD_COUNTS], g_nthreads;

typedef enum { ROLE_FORWARD, ROLE_DX, ROLE_DW, ROLE_OTHER } gemm_role;
static const char *const ROLE_NAMES[] = {"forward", "dX", "dW", "other"};

typedef struct {
    const char *model;
    int ta, tb; /* CBLAS_TRANSPOSE values */
    int m, n, k, lda, ldb, ldc;
    bool accumulate; /* beta != 0 */
    int calls;       /* per training step */
    /* results per engine (ENGINE_*) and thread count (index into the --threads list) */
    double ms[MAX_THREAD_COUNTS][3], max_rel_diff[3];
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
    const char *threads;
} bench_args;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_gemm_shapes [--models LIST (mobilenetv2,frostnet_s)] [--width W (0.5)]\n"
            "  [--input S (28)] [--in-channels C (1)] [--classes K (10)] [--batch B (64)]\n"
            "  [--threads LIST (1,2)] [--repeats R (7)] [--min-ms T (20)] [--list]\n"
            "  [--out FILE (stdout)]\n");
}

static int parse_args(int argc, char **argv, bench_args *a)
{
    memset(a, 0, sizeof *a);
    a->models = "mobilenetv2,frostnet_s";
    a->opts = frost_builtin_defaults();
    a->opts.width = 0.5f, a->opts.input = 28, a->opts.in_channels = 1, a->opts.classes = 10;
    a->batch = 64, a->repeats = 7, a->min_ms = 20.0, a->threads = "1,2";
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
        else if (!strcmp(k, "--threads"))
            a->threads = v;
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

/* ---- the engines ---- */

typedef struct {
    const gemm_shape *s;
    const float *a, *b;
    float *c;
} gemm_operands;

static void run_engine(const gemm_operands *o, int engine)
{
    const gemm_shape *s = o->s;
    float beta = s->accumulate ? 1.0f : 0.0f;
    bool ta = s->ta == CblasTrans, tb = s->tb == CblasTrans;
    if (engine == ENGINE_BLAS)
        g_blas_sgemm(CblasRowMajor, s->ta, s->tb, s->m, s->n, s->k, 1.0f, o->a, s->lda, o->b,
                     s->ldb, beta, o->c, s->ldc);
    else
        frost_sgemm_with(engine == ENGINE_AVX512 ? FROST_TRAIN_GEMM_AVX512 : FROST_TRAIN_GEMM_AVX2,
                         ta, tb, s->m, s->n, s->k, o->a, s->lda, o->b, s->ldb, beta, o->c, s->ldc);
}

/* ---- timing ---- */

/* At 1 thread: CPU time of this thread (everything runs in it; on a machine shared with
 * other jobs it leaves out the time the thread waits for a core, which wall-clock time
 * would add to whichever engine it hit). At more threads the helpers' time counts too:
 * wall-clock. */
static double clock_ms(bool one_thread)
{
    struct timespec ts;
    clock_gettime(one_thread ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

/* ms per call: as many calls as fill min_ms (at least 1). */
static double time_engine(const gemm_operands *o, int engine, double min_ms, bool one_thread)
{
    int calls = 0;
    double t0 = clock_ms(one_thread), t;
    do {
        run_engine(o, engine);
        calls++;
        t = clock_ms(one_thread) - t0;
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

/* Relative max difference of each engine's product from frost's reference. */
static frost_status check_engines(gemm_shape *s, gemm_operands *o, const float *c0, size_t nc)
{
    float *want = malloc(nc * sizeof(float));
    if (!want)
        return frost_fail(FROST_ERR_NOMEM, "bench: reference C");
    memcpy(want, c0, nc * sizeof(float));
    frost_sgemm_with(FROST_TRAIN_GEMM_REFERENCE, s->ta == CblasTrans, s->tb == CblasTrans, s->m,
                     s->n, s->k, o->a, s->lda, o->b, s->ldb, s->accumulate ? 1.0f : 0.0f, want,
                     s->ldc);
    frost_status st = FROST_OK;
    for (int e = 0; e < ENGINES && st == FROST_OK; e++) {
        if (!g_engine_on[e])
            continue;
        memcpy(o->c, c0, nc * sizeof(float));
        run_engine(o, e);
        double diff = 0, scale = 0;
        for (int i = 0; i < s->m; i++)
            for (int j = 0; j < s->n; j++) {
                size_t at = (size_t)i * s->ldc + j;
                diff = fmax(diff, fabs((double)want[at] - o->c[at]));
                scale = fmax(scale, fabs((double)want[at]));
            }
        s->max_rel_diff[e] = scale > 0 ? diff / scale : diff;
        if (!(s->max_rel_diff[e] < 1e-4))
            st = frost_fail(FROST_ERR_NUMERIC, "%s %s %dx%dx%d: %s and the reference differ by %g",
                            s->model, ROLE_NAMES[role_of(s->ta, s->tb)], s->m, s->n, s->k,
                            ENGINE_NAMES[e], s->max_rel_diff[e]);
    }
    free(want);
    return st;
}

static frost_status time_shape(gemm_shape *s, const bench_args *a)
{
    int a_rows = s->ta == CblasTrans ? s->k : s->m, a_cols = s->ta == CblasTrans ? s->m : s->k;
    int b_rows = s->tb == CblasTrans ? s->n : s->k, b_cols = s->tb == CblasTrans ? s->k : s->n;
    size_t na = rows_span(a_rows, a_cols, s->lda), nb = rows_span(b_rows, b_cols, s->ldb);
    size_t nc = rows_span(s->m, s->n, s->ldc);
    float *a_buf = malloc(na * sizeof(float)), *b_buf = malloc(nb * sizeof(float));
    float *c0 = malloc(nc * sizeof(float)), *c = malloc(nc * sizeof(float));
    double *ms = malloc(sizeof(double) * ENGINES * a->repeats);
    gemm_operands o = {.s = s, .a = a_buf, .b = b_buf, .c = c};
    frost_status st = FROST_OK;
    if (!a_buf || !b_buf || !c0 || !c || !ms) {
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
    st = check_engines(s, &o, c0, nc);
    /* The output keeps accumulating across timed calls; the values stay finite at these
     * call counts and the work per call does not depend on them. */
    for (int ti = 0; ti < g_nthreads && st == FROST_OK; ti++) {
        frost_set_threads(g_threads[ti]);
        for (int r = 0; r < a->repeats; r++)
            for (int i = 0; i < ENGINES; i++) {
                int e = r % 2 == 0 ? i : ENGINES - 1 - i; /* take turns: none always runs warm */
                if (g_engine_on[e])
                    ms[e * a->repeats + r] = time_engine(&o, e, a->min_ms, g_threads[ti] == 1);
            }
        for (int e = 0; e < ENGINES; e++)
            s->ms[ti][e] = g_engine_on[e] ? median_of(ms + e * a->repeats, a->repeats) : 0.0;
    }
done:
    free(a_buf), free(b_buf), free(c0), free(c), free(ms);
    return st;
}

/* ---- report ---- */

static double gflops(const gemm_shape *s, double ms)
{
    return ms > 0 ? 2.0 * s->m * s->n * s->k / (ms * 1e6) : 0.0;
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

/* frost's engine in the comparison: its AVX-512 one where the CPU has it. */
static int frost_engine(void) { return g_engine_on[ENGINE_AVX512] ? ENGINE_AVX512 : ENGINE_AVX2; }

static void print_table(FILE *f, const char *model, int ti, double peak_gflops)
{
    const int fe = frost_engine();
    fprintf(f, "| role | M | N | K | lda ldb ldc | beta | calls/step |");
    for (int e = 0; e < ENGINES; e++)
        if (g_engine_on[e])
            fprintf(f, " %s GFLOP/s |", ENGINE_NAMES[e]);
    fprintf(f,
            " OpenBLAS %% peak | %s %% peak | %s / OpenBLAS speed |\n|---|---|---|---|---|---|---|",
            ENGINE_NAMES[fe], ENGINE_NAMES[fe]);
    for (int e = 0; e < ENGINES; e++)
        if (g_engine_on[e])
            fprintf(f, "---|");
    fprintf(f, "---|---|---|\n");
    for (int i = 0; i < g_nshapes; i++) {
        const gemm_shape *s = &g_shapes[i];
        if (strcmp(s->model, model))
            continue;
        fprintf(f, "| %s | %d | %d | %d | %d %d %d | %d | %d |", ROLE_NAMES[role_of(s->ta, s->tb)],
                s->m, s->n, s->k, s->lda, s->ldb, s->ldc, s->accumulate, s->calls);
        for (int e = 0; e < ENGINES; e++)
            if (g_engine_on[e])
                fprintf(f, " %.1f |", gflops(s, s->ms[ti][e]));
        double gb = gflops(s, s->ms[ti][ENGINE_BLAS]), gf = gflops(s, s->ms[ti][fe]);
        fprintf(f, " %.0f%% | %.0f%% | %.2f |\n", 100 * gb / peak_gflops, 100 * gf / peak_gflops,
                gf / gb);
    }
}

typedef struct {
    double ms[ENGINES]; /* per training step */
    int shapes, wins;   /* shapes where frost's engine is faster than OpenBLAS */
    double worst;       /* lowest frost / OpenBLAS speed */
} totals;

static totals totals_of(const char *model /* NULL: all */, int role /* -1: all */, int ti)
{
    totals t = {.worst = 1e9};
    const int fe = frost_engine();
    for (int i = 0; i < g_nshapes; i++) {
        const gemm_shape *s = &g_shapes[i];
        if ((model && strcmp(s->model, model)) || (role >= 0 && (int)role_of(s->ta, s->tb) != role))
            continue;
        for (int e = 0; e < ENGINES; e++)
            t.ms[e] += s->calls * s->ms[ti][e];
        t.shapes++;
        t.wins += s->ms[ti][fe] < s->ms[ti][ENGINE_BLAS];
        t.worst = fmin(t.worst, s->ms[ti][ENGINE_BLAS] / s->ms[ti][fe]);
    }
    return t;
}

static void print_totals(FILE *f, const char *model, int ti)
{
    const int fe = frost_engine();
    fprintf(f, "\nGEMM time per training step (calls x median), ms:\n\n| role | shapes |");
    for (int e = 0; e < ENGINES; e++)
        if (g_engine_on[e])
            fprintf(f, " %s |", ENGINE_NAMES[e]);
    fprintf(f, " %s faster on | its lowest speed ratio |\n|---|---|", ENGINE_NAMES[fe]);
    for (int e = 0; e < ENGINES; e++)
        if (g_engine_on[e])
            fprintf(f, "---|");
    fprintf(f, "---|---|\n");
    for (int role = -1; role < ROLE_OTHER; role++) {
        totals t = totals_of(model, role, ti);
        if (!t.shapes)
            continue;
        fprintf(f, "| %s | %d |", role < 0 ? "all" : ROLE_NAMES[role], t.shapes);
        for (int e = 0; e < ENGINES; e++)
            if (g_engine_on[e])
                fprintf(f, " %.2f |", t.ms[e]);
        fprintf(f, " %d of %d | %.2f |\n", t.wins, t.shapes, t.worst);
    }
    fprintf(f, "\n");
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

    fprintf(f, "# Training GEMM shapes: OpenBLAS vs frost's own training GEMM\n\n");
    fprintf(f, "Command: `bench_gemm_shapes");
    for (int i = 1; i < argc; i++)
        fprintf(f, " %s", argv[i]);
    fprintf(f, "` (built by `cmake --build build --target bench_gemm_shapes`)\n\n");
    fprintf(f,
            "- CPU: %s; per-core FP32 FMA %s peak %.1f GMAC/s = %.1f GFLOP/s, measured "
            "(CPU time) at the start of this run (bench/peaks.h)\n",
            text, g_engine_on[ENGINE_AVX512] ? "zmm" : "ymm", peak_gmacs, peak_gflops);
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
            "%.0f ms, the engines taking turns; at 1 thread the thread's CPU time "
            "(CLOCK_THREAD_CPUTIME_ID: waiting for a core on this shared machine is not "
            "counted, cache sharing with other jobs still is), at more threads wall-clock "
            "time (noisier)\n",
            a->repeats, a->min_ms);
    fprintf(f, "- roles: forward = X W^T (A no-trans, B trans); dX = dY W (no-trans, "
               "no-trans); dW = dY^T X (trans, no-trans). beta 1 = accumulates into C.\n");
    fprintf(f, "- frost = frost_sgemm_with (ops/sgemm.h) as training calls it, everything "
               "included (B's transposed copy for forward, accumulation into C). Every "
               "product was checked against frost's reference (relative max difference "
               "< 1e-4). %% peak is of the per-core peak times the threads.\n\n");

    for (int ti = 0; ti < g_nthreads; ti++)
        for (const char *m = a->models; *m;) {
            size_t len = strcspn(m, ",");
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)len, m);
            m += len + (m[len] == ',');
            fprintf(f, "## %s w%.2g, %d thread%s\n\n", name, (double)a->opts.width, g_threads[ti],
                    g_threads[ti] > 1 ? "s" : "");
            print_table(f, name, ti, peak_gflops * g_threads[ti]);
            print_totals(f, name, ti);
        }
}

/* What the numbers say about keeping OpenBLAS for training, on this CPU only. */
static void print_decision(FILE *f, const bench_args *a)
{
    const int fe = frost_engine();
    fprintf(f, "## What this supports on this CPU\n\n");
    bool all_won = true;
    for (int ti = 0; ti < g_nthreads; ti++) {
        totals t = totals_of(NULL, -1, ti);
        all_won &= t.wins == t.shapes;
        fprintf(f,
                "- %d thread%s, the %d shapes of %s, one training step each: OpenBLAS %.1f ms, "
                "%s %.1f ms (x%.2f), faster on %d of %d shapes, its worst shape at x%.2f "
                "of OpenBLAS's speed.\n",
                g_threads[ti], g_threads[ti] > 1 ? "s" : "", t.shapes, a->models, t.ms[ENGINE_BLAS],
                ENGINE_NAMES[fe], t.ms[fe], t.ms[ENGINE_BLAS] / t.ms[fe], t.wins, t.shapes,
                t.worst);
    }
    fprintf(f, "\n%s\n",
            all_won ? "frost's GEMM is faster on every shape at every thread count measured."
                    : "frost's GEMM is not faster on every shape at every thread count: "
                      "read the per-step totals and the worst shapes above before deciding.");
}

int main(int argc, char **argv)
{
    (void)bench_print_peaks; /* peaks.h: only the FMA kernels are used here */
    bench_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    for (const char *t = a.threads; *t && g_nthreads < MAX_THREAD_COUNTS;) {
        size_t len = strcspn(t, ",");
        char one[16];
        snprintf(one, sizeof one, "%.*s", (int)len, t);
        if (!parse_int(one, 1, 256, &g_threads[g_nthreads++])) {
            fprintf(stderr, "bench_gemm_shapes: bad thread count '%s'\n", one);
            return 2;
        }
        t += len + (t[len] == ',');
    }
    /* frost's conv and linear layers reach OpenBLAS (and so the recorder) only when it is
     * the training GEMM */
    setenv("FROST_BLAS", "openblas", 1);
    frost_cpu_forget();
    g_blas_sgemm = (sgemm_fn)dlsym(RTLD_NEXT, "cblas_sgemm");
    if (!g_blas_sgemm) {
        fprintf(stderr, "bench_gemm_shapes: OpenBLAS's cblas_sgemm not found: %s\n", dlerror());
        return 1;
    }
    frost_cpu_info cpu;
    frost_cpu_describe(&cpu);
    if (!a.list_only && !frost_cpu_has_avx2()) {
        fprintf(stderr, "bench_gemm_shapes: this CPU has no AVX2+FMA: frost's SIMD GEMMs cannot "
                        "run here (use --list for the shapes alone)\n");
        return 1;
    }
    g_engine_on[ENGINE_BLAS] = true;
    g_engine_on[ENGINE_AVX512] = frost_cpu_has_avx512f();
    g_engine_on[ENGINE_AVX2] = true;
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
        peaks[r] = g_engine_on[ENGINE_AVX512] ? peak_fma_zmm() : peak_fma_ymm();
    double peak = median_of(peaks, 3);

    for (int i = 0; i < g_nshapes; i++) {
        frost_status s = time_shape(&g_shapes[i], &a);
        if (s != FROST_OK) {
            fprintf(stderr, "bench_gemm_shapes: %s\n", frost_last_error());
            return 1;
        }
        const gemm_shape *g = &g_shapes[i];
        fprintf(stderr, "%d/%d %s %s %dx%dx%d at %d thread(s): OpenBLAS %.1f, %s %.1f GFLOP/s\n",
                i + 1, g_nshapes, g->model, ROLE_NAMES[role_of(g->ta, g->tb)], g->m, g->n, g->k,
                g_threads[0], gflops(g, g->ms[0][ENGINE_BLAS]), ENGINE_NAMES[frost_engine()],
                gflops(g, g->ms[0][frost_engine()]));
    }
    FILE *f = a.out ? fopen(a.out, "w") : stdout;
    if (!f) {
        fprintf(stderr, "bench_gemm_shapes: cannot write %s: %s\n", a.out, strerror(errno));
        return 1;
    }
    print_report(f, argc, argv, &a, peak, load_start);
    print_decision(f, &a);
    if (a.out && fclose(f) != 0) {
        fprintf(stderr, "bench_gemm_shapes: writing %s failed\n", a.out);
        return 1;
    }
    return 0;
}
