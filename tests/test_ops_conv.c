/*
 * Convolution and linear kernels: forward against a direct-loop convolution
 * computed in double, every backward against finite differences of
 * loss = sum(y * r), the AVX2 depthwise kernels against the portable reference
 * over a few hundred random shapes, scratch bounds, determinism across thread
 * counts, and frost_conv_out_dim's edge cases.
 */
#include "core/cpu.h"
#include "frost/frost.h"
#include "harness.h"
#include "ops/depthwise.h"
#include "ops/elementwise.h"
#include "ops/ops.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- small utilities ---- */

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static float *random_floats(size_t n, unsigned long long seed)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    frost_test_fill_uniform(p, (long)n, -1.0f, 1.0f, seed);
    return p;
}

static float *zero_floats(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static double *zero_doubles(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

/* Number of i with |got-want| > atol + rtol*|want|; prints the first few. */
static long count_mismatches(const char *what, const float *got, const double *want, size_t n,
                             double atol, double rtol)
{
    long bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(fabs(got[i] - want[i]) <= atol + rtol * fabs(want[i]))) {
            if (bad < 4)
                fprintf(stderr, "  %s[%zu]: got %.8g want %.8g\n", what, i, (double)got[i],
                        want[i]);
            bad++;
        }
    }
    return bad;
}

static size_t weight_count(const frost_conv_params *p)
{
    return (size_t)p->cout * p->kh * p->kw * (p->cin / p->groups);
}

static frost_shape4 out_shape(const frost_conv_params *p, frost_shape4 in)
{
    return (frost_shape4){in.n, frost_conv_out_dim(in.h, p->kh, p->stride, p->pad_h),
                          frost_conv_out_dim(in.w, p->kw, p->stride, p->pad_w), p->cout};
}

static size_t numel(frost_shape4 s) { return (size_t)s.n * s.h * s.w * s.c; }

static frost_conv_params conv_params(int k, int stride, int pad, int groups, int cin, int cout)
{
    return (frost_conv_params){.kh = k,
                               .kw = k,
                               .stride = stride,
                               .pad_h = pad,
                               .pad_w = pad,
                               .groups = groups,
                               .cin = cin,
                               .cout = cout};
}

/* ---- direct-loop convolution in double: the independent reference ---- */

/* Calls visit(ctx, y index, x index, w index) for every multiply of the conv;
 * forward and backward references are both built on it, so they cannot
 * disagree with each other about which products exist. */
typedef void (*tap_visitor)(void *ctx, size_t yi, size_t xi, size_t wi);

static void naive_conv_taps(const frost_conv_params *p, frost_shape4 in, tap_visitor visit,
                            void *ctx)
{
    frost_shape4 o = out_shape(p, in);
    int cig = p->cin / p->groups, cog = p->cout / p->groups;
    for (int n = 0; n < in.n; n++)
        for (int oh = 0; oh < o.h; oh++)
            for (int ow = 0; ow < o.w; ow++)
                for (int co = 0; co < p->cout; co++) {
                    size_t yi = (((size_t)n * o.h + oh) * o.w + ow) * p->cout + co;
                    int g = co / cog;
                    for (int ki = 0; ki < p->kh; ki++)
                        for (int kj = 0; kj < p->kw; kj++) {
                            int ih = oh * p->stride - p->pad_h + ki;
                            int iw = ow * p->stride - p->pad_w + kj;
                            if (ih < 0 || ih >= in.h || iw < 0 || iw >= in.w)
                                continue;
                            for (int ci = 0; ci < cig; ci++) {
                                size_t xi = (((size_t)n * in.h + ih) * in.w + iw) * in.c +
                                            (size_t)g * cig + ci;
                                size_t wi = (((size_t)co * p->kh + ki) * p->kw + kj) * cig + ci;
                                visit(ctx, yi, xi, wi);
                            }
                        }
                }
}

typedef struct {
    const float *x, *w, *dy;
    double *y, *dx, *dw;
} naive_ctx;

static void visit_forward(void *ctx, size_t yi, size_t xi, size_t wi)
{
    naive_ctx *c = ctx;
    c->y[yi] += (double)c->x[xi] * c->w[wi];
}

static void visit_backward(void *ctx, size_t yi, size_t xi, size_t wi)
{
    naive_ctx *c = ctx;
    c->dx[xi] += (double)c->dy[yi] * c->w[wi];
    c->dw[wi] += (double)c->dy[yi] * c->x[xi];
}

static void naive_forward(const frost_conv_params *p, frost_shape4 in, const float *x,
                          const float *w, const float *b, double *y)
{
    frost_shape4 o = out_shape(p, in);
    for (size_t i = 0; i < numel(o); i++)
        y[i] = b ? b[i % p->cout] : 0.0;
    naive_ctx c = {.x = x, .w = w, .y = y};
    naive_conv_taps(p, in, visit_forward, &c);
}

/* Sets dx, dw, db (not added). */
static void naive_backward(const frost_conv_params *p, frost_shape4 in, const float *x,
                           const float *w, const float *dy, double *dx, double *dw, double *db)
{
    frost_shape4 o = out_shape(p, in);
    memset(dx, 0, numel(in) * sizeof *dx);
    memset(dw, 0, weight_count(p) * sizeof *dw);
    memset(db, 0, (size_t)p->cout * sizeof *db);
    for (size_t i = 0; i < numel(o); i++)
        db[i % p->cout] += dy[i];
    naive_ctx c = {.x = x, .w = w, .dy = dy, .dx = dx, .dw = dw};
    naive_conv_taps(p, in, visit_backward, &c);
}

/* ---- one conv problem with its buffers ---- */

#define GUARD_FLOATS 64
#define GUARD_VALUE  12345.5f

typedef struct {
    frost_conv_params p;
    frost_shape4 in, out;
    float *x, *w, *b, *r, *y, *scratch;
    size_t scratch_floats;
} conv_case;

/* Scratch is allocated exactly (plus a guard checked by scratch_intact), so an
 * undersized *_scratch_floats() shows up as a failure, not just under ASan. */
static conv_case case_new(frost_conv_params p, frost_shape4 in, bool bias, unsigned long long seed)
{
    conv_case c = {.p = p, .in = in, .out = out_shape(&p, in)};
    c.x = random_floats(numel(in), seed);
    c.w = random_floats(weight_count(&p), seed + 1);
    c.b = bias ? random_floats((size_t)p.cout, seed + 2) : NULL;
    c.r = random_floats(numel(c.out), seed + 3);
    c.y = zero_floats(numel(c.out));
    c.scratch_floats = frost_conv2d_scratch_floats(&p, in);
    c.scratch = malloc((c.scratch_floats + GUARD_FLOATS) * sizeof(float));
    for (int i = 0; i < GUARD_FLOATS; i++)
        c.scratch[c.scratch_floats + i] = GUARD_VALUE;
    return c;
}

static bool scratch_intact(const conv_case *c)
{
    for (int i = 0; i < GUARD_FLOATS; i++)
        if (c->scratch[c->scratch_floats + i] != GUARD_VALUE)
            return false;
    return true;
}

static void case_free(conv_case *c)
{
    free(c->x);
    free(c->w);
    free(c->b);
    free(c->r);
    free(c->y);
    free(c->scratch);
}

static double conv_loss(void *ctx)
{
    conv_case *c = ctx;
    frost_conv2d_forward(&c->p, c->in, c->x, c->w, c->b, c->y, c->scratch);
    double sum = 0.0;
    for (size_t i = 0; i < numel(c->out); i++)
        sum += (double)c->y[i] * c->r[i];
    return sum;
}

/* Forward against the direct loops (with and without bias). */
static void check_forward(const char *name, frost_conv_params p, frost_shape4 in)
{
    for (int bias = 0; bias <= 1; bias++) {
        conv_case c = case_new(p, in, bias, 100 + (unsigned long long)bias);
        double *want = zero_doubles(numel(c.out));
        naive_forward(&p, in, c.x, c.w, c.b, want);
        frost_conv2d_forward(&p, in, c.x, c.w, c.b, c.y, c.scratch);
        long bad = count_mismatches(name, c.y, want, numel(c.out), 2e-4, 1e-4);
        if (bad)
            fprintf(stderr, "  %s (bias %d): %ld of %zu outputs differ\n", name, bias, bad,
                    numel(c.out));
        CHECK_EQ_INT(bad, 0);
        CHECK(scratch_intact(&c));
        free(want);
        case_free(&c);
    }
}

/* Backward (with dy = r) against finite differences of sum(y*r) for x, w, b. */
static void check_gradients(const char *name, frost_conv_params p, frost_shape4 in)
{
    conv_case c = case_new(p, in, true, 7);
    float *dx = zero_floats(numel(in)), *dw = zero_floats(weight_count(&p));
    float *db = zero_floats((size_t)p.cout);
    frost_conv2d_backward(&p, in, c.x, c.w, c.r, dx, dw, db, c.scratch);
    CHECK(scratch_intact(&c));
    /* the loss is linear in each parameter, so a large step only reduces the
     * float rounding noise of the forward pass */
    const double h = 0.05, atol = 2e-3, rtol = 2e-3;
    char what[96];
    snprintf(what, sizeof what, "%s dx", name);
    CHECK_EQ_INT(
        frost_test_gradcheck(what, conv_loss, &c, c.x, dx, (long)numel(in), h, atol, rtol, 60), 0);
    snprintf(what, sizeof what, "%s dw", name);
    CHECK_EQ_INT(frost_test_gradcheck(what, conv_loss, &c, c.w, dw, (long)weight_count(&p), h, atol,
                                      rtol, 60),
                 0);
    snprintf(what, sizeof what, "%s db", name);
    CHECK_EQ_INT(frost_test_gradcheck(what, conv_loss, &c, c.b, db, p.cout, h, atol, rtol, 60), 0);
    free(dx);
    free(dw);
    free(db);
    case_free(&c);
}

/* Backward against the direct loops. The gradients must be ADDED to what the
 * buffers already hold, and dx / db may be NULL. */
static void check_backward_exact(const char *name, frost_conv_params p, frost_shape4 in)
{
    conv_case c = case_new(p, in, true, 11);
    size_t nx = numel(in), nw = weight_count(&p), nb = (size_t)p.cout;
    double *gx = zero_doubles(nx), *gw = zero_doubles(nw), *gb = zero_doubles(nb);
    naive_backward(&p, in, c.x, c.w, c.r, gx, gw, gb);
    /* start from known non-zero contents: want = preset + gradient */
    float *dx = random_floats(nx, 21), *dw = random_floats(nw, 22), *db = random_floats(nb, 23);
    double *want_x = zero_doubles(nx), *want_w = zero_doubles(nw), *want_b = zero_doubles(nb);
    for (size_t i = 0; i < nx; i++)
        want_x[i] = dx[i] + gx[i];
    for (size_t i = 0; i < nw; i++)
        want_w[i] = dw[i] + gw[i];
    for (size_t i = 0; i < nb; i++)
        want_b[i] = db[i] + gb[i];
    frost_conv2d_backward(&p, in, c.x, c.w, c.r, dx, dw, db, c.scratch);
    CHECK(scratch_intact(&c));
    char what[96];
    snprintf(what, sizeof what, "%s dx", name);
    CHECK_EQ_INT(count_mismatches(what, dx, want_x, nx, 5e-4, 1e-4), 0);
    snprintf(what, sizeof what, "%s dw", name);
    CHECK_EQ_INT(count_mismatches(what, dw, want_w, nw, 5e-4, 1e-4), 0);
    snprintf(what, sizeof what, "%s db", name);
    CHECK_EQ_INT(count_mismatches(what, db, want_b, nb, 5e-4, 1e-4), 0);

    float *dw_only = zero_floats(nw);
    frost_conv2d_backward(&p, in, c.x, c.w, c.r, NULL, dw_only, NULL, c.scratch);
    snprintf(what, sizeof what, "%s dw (dx, db NULL)", name);
    CHECK_EQ_INT(count_mismatches(what, dw_only, gw, nw, 5e-4, 1e-4), 0);

    free(dw_only);
    free(gx);
    free(gw);
    free(gb);
    free(want_x);
    free(want_w);
    free(want_b);
    free(dx);
    free(dw);
    free(db);
    case_free(&c);
}

/* ---- tests ---- */

TEST(test_conv_out_dim)
{
    CHECK_EQ_INT(frost_conv_out_dim(28, 3, 1, 1), 28);
    CHECK_EQ_INT(frost_conv_out_dim(28, 3, 2, 1), 14);
    CHECK_EQ_INT(frost_conv_out_dim(7, 3, 2, 1), 4);
    CHECK_EQ_INT(frost_conv_out_dim(9, 5, 2, 2), 5);
    CHECK_EQ_INT(frost_conv_out_dim(5, 5, 1, 0), 1);
    CHECK_EQ_INT(frost_conv_out_dim(1, 1, 1, 0), 1);
    CHECK_EQ_INT(frost_conv_out_dim(1, 1, 1, 2), 5);  /* outputs that only see padding */
    CHECK_EQ_INT(frost_conv_out_dim(3, 5, 1, 1), 1);  /* kernel wider than input, padding fits */
    CHECK_EQ_INT(frost_conv_out_dim(10, 3, 3, 0), 3); /* remainder dropped */
    CHECK_EQ_INT(frost_conv_out_dim(12, 3, 3, 0), 4);
    CHECK_EQ_INT(frost_conv_out_dim(27, 2, 2, 0), 13);
    CHECK(frost_conv_out_dim(4, 5, 1, 0) <= 0); /* kernel does not fit */
    CHECK(frost_conv_out_dim(2, 5, 1, 1) <= 0); /* -1 / stride must not round to 0 */
    CHECK(frost_conv_out_dim(2, 5, 2, 1) <= 0);
    CHECK(frost_conv_out_dim(0, 1, 1, 0) <= 0);
    CHECK(frost_conv_out_dim(8, 0, 1, 0) <= 0);
    CHECK(frost_conv_out_dim(8, 3, 0, 1) <= 0);
    CHECK(frost_conv_out_dim(8, 3, -1, 1) <= 0);
    CHECK(frost_conv_out_dim(8, 3, 1, -1) <= 0);
    CHECK(frost_conv_out_dim(2000000000, 1, 1, 2000000000) <= 0); /* overflows int */
}

/* The shapes every gradient test uses (odd sizes catch border mistakes). */
static const struct {
    const char *name;
    int k, stride, pad, groups, cin, cout, h, w;
} grad_cases[] = {
    {"3x3 s1", 3, 1, 1, 1, 3, 5, 6, 5},       {"3x3 s2", 3, 2, 1, 1, 3, 4, 7, 8},
    {"5x5 s1", 5, 1, 2, 1, 2, 3, 7, 6},       {"1x1 s1", 1, 1, 0, 1, 6, 5, 4, 3},
    {"1x1 s2", 1, 2, 0, 1, 4, 6, 7, 5},       {"3x3 groups=2", 3, 1, 1, 2, 4, 6, 5, 5},
    {"1x1 groups=2", 1, 1, 0, 2, 4, 6, 3, 4}, {"dw 3x3 s1", 3, 1, 1, 11, 11, 11, 7, 7},
    {"dw 3x3 s2", 3, 2, 1, 11, 11, 11, 9, 9}, {"dw 5x5 s1", 5, 1, 2, 10, 10, 10, 9, 9},
    {"dw 5x5 s2", 5, 2, 2, 10, 10, 10, 7, 7},
};

TEST(test_conv_gradients)
{
    for (size_t i = 0; i < LEN(grad_cases); i++) {
        frost_conv_params p =
            conv_params(grad_cases[i].k, grad_cases[i].stride, grad_cases[i].pad,
                        grad_cases[i].groups, grad_cases[i].cin, grad_cases[i].cout);
        frost_shape4 in = {2, grad_cases[i].h, grad_cases[i].w, grad_cases[i].cin};
        check_gradients(grad_cases[i].name, p, in);
    }
}

/* Shapes beyond the gradient cases: rectangular kernels, padding wider than
 * half the kernel (outputs that only see padding), stride 3, channel
 * multipliers, a 1-channel stem, and shapes big enough for the im2col to be
 * split into chunks of whole images and of partial images. */
typedef struct {
    const char *name;
    frost_conv_params p;
    frost_shape4 in;
} shape_case;

static int shape_cases(shape_case *out)
{
    int n = 0;
    for (size_t i = 0; i < LEN(grad_cases); i++)
        out[n++] =
            (shape_case){grad_cases[i].name,
                         conv_params(grad_cases[i].k, grad_cases[i].stride, grad_cases[i].pad,
                                     grad_cases[i].groups, grad_cases[i].cin, grad_cases[i].cout),
                         {2, grad_cases[i].h, grad_cases[i].w, grad_cases[i].cin}};
    frost_conv_params rect = conv_params(3, 1, 0, 1, 3, 4);
    rect.kh = 1;
    rect.pad_w = 1;
    out[n++] = (shape_case){"1x3 pad 0,1", rect, {2, 5, 6, 3}};
    frost_conv_params rect_dw = {
        .kh = 3, .kw = 1, .stride = 2, .pad_h = 1, .pad_w = 0, .groups = 9, .cin = 9, .cout = 9};
    out[n++] = (shape_case){"dw 3x1 s2", rect_dw, {2, 7, 6, 9}};
    out[n++] = (shape_case){"2x2 s3", conv_params(2, 3, 0, 1, 3, 5), {2, 8, 7, 3}};
    out[n++] = (shape_case){"3x3 pad 2", conv_params(3, 1, 2, 1, 2, 3), {1, 4, 5, 2}};
    out[n++] = (shape_case){"1x1 pad 1", conv_params(1, 1, 1, 1, 3, 2), {2, 3, 3, 3}};
    out[n++] = (shape_case){"dw 1x1 pad 1", conv_params(1, 1, 1, 5, 5, 5), {2, 3, 3, 5}};
    out[n++] = (shape_case){"3x3 s2 groups=3", conv_params(3, 2, 1, 3, 6, 9), {2, 7, 7, 6}};
    out[n++] = (shape_case){"dw multiplier 2", conv_params(3, 1, 1, 3, 3, 6), {2, 5, 5, 3}};
    out[n++] = (shape_case){"single channel", conv_params(3, 1, 1, 1, 1, 1), {2, 6, 6, 1}};
    out[n++] = (shape_case){"stem 3x3 s2 cin=1", conv_params(3, 2, 1, 1, 1, 8), {2, 28, 28, 1}};
    out[n++] = (shape_case){"dw 7x7 s1", conv_params(7, 1, 3, 17, 17, 17), {2, 9, 9, 17}};
    /* a batch of at least FROST_DW_PARTS images takes the per-image backward */
    out[n++] = (shape_case){"dw 3x3 s2 batch 19", conv_params(3, 2, 1, 12, 12, 12), {19, 5, 6, 12}};
    out[n++] = (shape_case){"dw 5x5 s1 batch 16", conv_params(5, 1, 2, 9, 9, 9), {16, 4, 4, 9}};
    out[n++] = (shape_case){"chunks of 6 images", conv_params(3, 1, 1, 1, 64, 5), {8, 12, 12, 64}};
    out[n++] =
        (shape_case){"chunks inside an image", conv_params(3, 1, 1, 1, 256, 4), {2, 16, 16, 256}};
    out[n++] = (shape_case){
        "chunks inside an image s2 5x5", conv_params(5, 2, 2, 1, 256, 3), {2, 21, 21, 256}};
    out[n++] = (shape_case){"grouped chunks", conv_params(3, 1, 1, 2, 512, 4), {1, 17, 17, 512}};
    return n;
}

TEST(test_conv_forward_matches_direct)
{
    shape_case cases[64];
    int n = shape_cases(cases);
    for (int i = 0; i < n; i++)
        check_forward(cases[i].name, cases[i].p, cases[i].in);
}

TEST(test_conv_backward_matches_direct)
{
    shape_case cases[64];
    int n = shape_cases(cases);
    for (int i = 0; i < n; i++)
        check_backward_exact(cases[i].name, cases[i].p, cases[i].in);
}

/* ---- depthwise: AVX2 against the reference, the reference against the loops ---- */

static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;

static int rand_between(int lo, int hi) /* inclusive */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (int)(rng_state % (unsigned long long)(hi - lo + 1));
}

/* |got - want| <= tol * (|want| + scale), scale = the largest |want|: relative
 * to the data's magnitude, so sums that cancel to ~0 do not demand more than
 * float precision. Returns the number of mismatches. */
static long compare_scaled(const char *what, const float *got, const float *want, size_t n,
                           double tol)
{
    double scale = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    static int print_budget = 12; /* the first few mismatches of the whole test */
    long bad = 0;
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= tol * (fabs(want[i]) + scale))) {
            if (bad < 3 && print_budget-- > 0)
                fprintf(stderr, "  %s[%zu]: %.9g vs %.9g\n", what, i, (double)got[i],
                        (double)want[i]);
            bad++;
        }
    return bad;
}

static long compare_to_double(const char *what, const float *got, const double *want, size_t n,
                              double tol)
{
    float *w = malloc((n ? n : 1) * sizeof *w);
    for (size_t i = 0; i < n; i++)
        w[i] = (float)want[i];
    long bad = compare_scaled(what, got, w, n, tol);
    free(w);
    return bad;
}

typedef struct {
    float *y, *dx, *dw;
} dw_result;

/* Forward and backward (dy = r) through one kernel family; dx and dw start at
 * `dx0` / `dw0` to exercise the accumulation. */
static dw_result run_depthwise(const frost_dw_geom *g, frost_dw_kernels kernels, const float *x,
                               const float *w, const float *b, const float *r, const float *dx0,
                               const float *dw0)
{
    size_t nx = (size_t)g->n * g->h * g->w * g->c, ny = (size_t)g->n * g->oh * g->ow * g->c;
    size_t nw = (size_t)g->c * g->kh * g->kw;
    dw_result res = {zero_floats(ny), malloc(nx * sizeof(float)), malloc(nw * sizeof(float))};
    memcpy(res.dx, dx0, nx * sizeof(float));
    memcpy(res.dw, dw0, nw * sizeof(float));
    float *scratch = malloc(frost_dw_scratch_floats(g) * sizeof(float));
    frost_dw_forward(g, kernels, x, w, b, res.y, scratch);
    frost_dw_backward(g, kernels, x, w, r, res.dx, false, res.dw, scratch);
    free(scratch);
    return res;
}

/* Backward writing dx (over a buffer of other values) against clearing it and adding:
 * the same bits, every element (rows and columns no output reads included). */
static long dw_write_mismatches(const frost_dw_geom *g, frost_dw_kernels kernels, const float *x,
                                const float *w, const float *r, const float *junk)
{
    size_t nx = (size_t)g->n * g->h * g->w * g->c, nw = (size_t)g->c * g->kh * g->kw;
    float *written = malloc(nx * sizeof(float)), *added = zero_floats(nx);
    float *dw1 = zero_floats(nw), *dw2 = zero_floats(nw);
    float *scratch = malloc(frost_dw_scratch_floats(g) * sizeof(float));
    memcpy(written, junk, nx * sizeof(float));
    frost_dw_backward(g, kernels, x, w, r, written, true, dw1, scratch);
    frost_dw_backward(g, kernels, x, w, r, added, false, dw2, scratch);
    long bad = memcmp(written, added, nx * sizeof(float)) != 0;
    bad += memcmp(dw1, dw2, nw * sizeof(float)) != 0;
    if (bad)
        fprintf(stderr, "  write mode differs (kernels %d)\n", (int)kernels);
    free(written), free(added), free(dw1), free(dw2), free(scratch);
    return bad;
}

static void dw_result_free(dw_result *r)
{
    free(r->y);
    free(r->dx);
    free(r->dw);
}

static bool random_depthwise_case(frost_conv_params *p, frost_shape4 *in)
{
    static const int ks[] = {1, 2, 3, 3, 3, 4, 5, 5, 7};
    int c = rand_between(1, 40);
    *p = (frost_conv_params){.kh = ks[rand_between(0, 8)],
                             .stride = rand_between(1, 3),
                             .groups = c,
                             .cin = c,
                             .cout = c};
    p->kw = rand_between(0, 3) == 0 ? ks[rand_between(0, 8)] : p->kh;
    p->pad_h = rand_between(0, p->kh);
    p->pad_w = rand_between(0, 3) == 0 ? rand_between(0, p->kw) : p->pad_h;
    *in = (frost_shape4){rand_between(1, 3), rand_between(1, 13), rand_between(1, 13), c};
    return frost_conv_out_dim(in->h, p->kh, p->stride, p->pad_h) > 0 &&
           frost_conv_out_dim(in->w, p->kw, p->stride, p->pad_w) > 0;
}

/* Both SIMD families, called directly (the AVX2 one stays covered where the CPU has
 * AVX-512). */
TEST(test_depthwise_avx2_matches_reference)
{
    bool avx2 = frost_cpu_has_avx2(), avx512 = frost_cpu_has_avx512f();
    if (!avx2)
        printf("  (no AVX2/FMA: only the reference is checked)\n");
    else if (!avx512)
        printf("  (no AVX-512 or FROST_NO_AVX512: the zmm kernels are not checked)\n");
    int done = 0, failures = 0;
    while (done < 300) {
        frost_conv_params p;
        frost_shape4 in;
        if (!random_depthwise_case(&p, &in))
            continue;
        frost_shape4 o = out_shape(&p, in);
        frost_dw_geom g = {.n = in.n,
                           .h = in.h,
                           .w = in.w,
                           .c = in.c,
                           .oh = o.h,
                           .ow = o.w,
                           .kh = p.kh,
                           .kw = p.kw,
                           .stride = p.stride,
                           .pad_h = p.pad_h,
                           .pad_w = p.pad_w};
        size_t nx = numel(in), ny = numel(o), nw = weight_count(&p);
        unsigned long long seed = 1000 + (unsigned long long)done * 10;
        float *x = random_floats(nx, seed), *w = random_floats(nw, seed + 1);
        float *b = done % 2 ? random_floats((size_t)in.c, seed + 2) : NULL;
        float *r = random_floats(ny, seed + 3), *dx0 = random_floats(nx, seed + 4);
        float *dw0 = random_floats(nw, seed + 5);

        /* the reference against the direct loops */
        dw_result ref = run_depthwise(&g, FROST_DW_REF, x, w, b, r, dx0, dw0);
        double *y = zero_doubles(ny), *gx = zero_doubles(nx), *gw = zero_doubles(nw);
        double *gb = zero_doubles((size_t)in.c);
        naive_forward(&p, in, x, w, b, y);
        naive_backward(&p, in, x, w, r, gx, gw, gb);
        for (size_t i = 0; i < nx; i++)
            gx[i] += dx0[i];
        for (size_t i = 0; i < nw; i++)
            gw[i] += dw0[i];
        long bad = compare_to_double("ref y", ref.y, y, ny, 1e-5) +
                   compare_to_double("ref dx", ref.dx, gx, nx, 1e-5) +
                   compare_to_double("ref dw", ref.dw, gw, nw, 1e-5);
        bad += dw_write_mismatches(&g, FROST_DW_REF, x, w, r, dx0);
        if (avx2)
            bad += dw_write_mismatches(&g, FROST_DW_AVX2, x, w, r, dx0);
        if (avx512)
            bad += dw_write_mismatches(&g, FROST_DW_AVX512, x, w, r, dx0);
        if (avx2) {
            dw_result fast = run_depthwise(&g, FROST_DW_AVX2, x, w, b, r, dx0, dw0);
            bad += compare_scaled("avx2 y", fast.y, ref.y, ny, 1e-5) +
                   compare_scaled("avx2 dx", fast.dx, ref.dx, nx, 1e-5) +
                   compare_scaled("avx2 dw", fast.dw, ref.dw, nw, 1e-5);
            dw_result_free(&fast);
        }
        if (avx512) {
            dw_result fast = run_depthwise(&g, FROST_DW_AVX512, x, w, b, r, dx0, dw0);
            bad += compare_scaled("avx512 y", fast.y, ref.y, ny, 1e-5) +
                   compare_scaled("avx512 dx", fast.dx, ref.dx, nx, 1e-5) +
                   compare_scaled("avx512 dw", fast.dw, ref.dw, nw, 1e-5);
            dw_result_free(&fast);
        }
        if (bad && failures++ < 5)
            fprintf(stderr, "  case %d: n%d h%d w%d c%d k%dx%d s%d pad %d,%d\n", done, in.n, in.h,
                    in.w, in.c, p.kh, p.kw, p.stride, p.pad_h, p.pad_w);
        dw_result_free(&ref);
        free(y);
        free(gx);
        free(gw);
        free(gb);
        free(x);
        free(w);
        free(b);
        free(r);
        free(dx0);
        free(dw0);
        done++;
    }
    CHECK_EQ_INT(failures, 0);
}

/* Outputs of FROST_DW_STREAM_FLOATS or more are written with streaming stores
 * by the AVX2 forward: it must still match the reference. */
TEST(test_depthwise_streamed_output_matches_reference)
{
    if (!frost_cpu_has_avx2())
        return;
    frost_dw_geom g = {.n = 1,
                       .h = 128,
                       .w = 128,
                       .c = 256,
                       .oh = 128,
                       .ow = 128,
                       .kh = 3,
                       .kw = 3,
                       .stride = 1,
                       .pad_h = 1,
                       .pad_w = 1};
    size_t n = (size_t)g.n * g.h * g.w * g.c, nw = (size_t)g.c * 9;
    CHECK(n >= FROST_DW_STREAM_FLOATS);
    float *x = random_floats(n, 61), *w = random_floats(nw, 62), *b = random_floats(256, 63);
    /* 32-byte aligned like the model's buffers, else the kernel cannot stream */
    float *y_ref = zero_floats(n), *y = aligned_alloc(64, n * sizeof(float));
    float *scratch = malloc(frost_dw_scratch_floats(&g) * sizeof(float));
    frost_dw_forward(&g, FROST_DW_REF, x, w, b, y_ref, scratch);
    frost_dw_forward(&g, FROST_DW_AVX2, x, w, b, y, scratch);
    CHECK_EQ_INT(compare_scaled("streamed y", y, y_ref, n, 1e-5), 0);
    if (frost_cpu_has_avx512f()) {
        memset(y, 0, n * sizeof(float));
        frost_dw_forward(&g, FROST_DW_AVX512, x, w, b, y, scratch);
        CHECK_EQ_INT(compare_scaled("streamed y avx512", y, y_ref, n, 1e-5), 0);
    }
    free(scratch);
    free(x);
    free(w);
    free(b);
    free(y_ref);
    free(y);
}

/* The FP32 engine's depthwise row with a fused activation equals the reference row
 * followed by the reference activation, for every activation, on random shapes (the
 * unrolled 3x3 / 5x5 kernels and the generic tiles). */
TEST(test_depthwise_fused_activation_matches_reference)
{
    if (!frost_cpu_has_avx512f())
        return;
    int done = 0, failures = 0;
    while (done < 120) {
        frost_conv_params p;
        frost_shape4 in;
        if (!random_depthwise_case(&p, &in))
            continue;
        frost_shape4 o = out_shape(&p, in);
        frost_dw_geom g = {.n = in.n,
                           .h = in.h,
                           .w = in.w,
                           .c = in.c,
                           .oh = o.h,
                           .ow = o.w,
                           .kh = p.kh,
                           .kw = p.kw,
                           .stride = p.stride,
                           .pad_h = p.pad_h,
                           .pad_w = p.pad_w};
        frost_act_kind act = (frost_act_kind)(done % FROST_ACT_COUNT);
        size_t nx = numel(in), ny = numel(o), taps = (size_t)p.kh * p.kw;
        float *x = random_floats(nx, 7000 + (unsigned long long)done * 3);
        float *wt = random_floats(taps * (size_t)in.c, 7001 + (unsigned long long)done * 3);
        float *b = random_floats((size_t)in.c, 7002 + (unsigned long long)done * 3);
        float *want = zero_floats(ny), *got = zero_floats(ny);
        const int64_t row = (int64_t)o.w * in.c;
        for (int n = 0; n < in.n; n++)
            for (int r = 0; r < o.h; r++) {
                float *wr = want + ((size_t)n * o.h + r) * (size_t)row;
                frost_dw_forward_row_ref(&g, n, r, x, wt, b, want);
                frost_act_forward_ref(act, row, wr, wr);
                frost_dw_forward_row_act_avx512(&g, n, r, x, wt, b, act, got);
            }
        long bad = compare_scaled("fused act y", got, want, ny, 1e-5);
        if (bad && failures++ < 5)
            fprintf(stderr, "  case %d: act %d n%d h%d w%d c%d k%dx%d s%d pad %d,%d\n", done,
                    (int)act, in.n, in.h, in.w, in.c, p.kh, p.kw, p.stride, p.pad_h, p.pad_w);
        free(x), free(wt), free(b), free(want), free(got);
        done++;
    }
    CHECK_EQ_INT(failures, 0);
}

/* Gradients are reduced in a fixed order: the same bits with 1 and 2 threads. */
TEST(test_conv_backward_deterministic_across_threads)
{
    static const struct {
        frost_conv_params p;
        frost_shape4 in;
    } cases[] = {
        {{.kh = 3,
          .kw = 3,
          .stride = 1,
          .pad_h = 1,
          .pad_w = 1,
          .groups = 24,
          .cin = 24,
          .cout = 24},
         {5, 14, 14, 24}},
        {{.kh = 5,
          .kw = 5,
          .stride = 2,
          .pad_h = 2,
          .pad_w = 2,
          .groups = 13,
          .cin = 13,
          .cout = 13},
         {3, 11, 11, 13}},
        {{.kh = 3,
          .kw = 3,
          .stride = 1,
          .pad_h = 1,
          .pad_w = 1,
          .groups = 16,
          .cin = 16,
          .cout = 16},
         {FROST_DW_PARTS + 3, 6, 6, 16}},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        conv_case c = case_new(cases[i].p, cases[i].in, true, 31);
        size_t nx = numel(c.in), nw = weight_count(&c.p), nb = (size_t)c.p.cout;
        float *grads[2][3];
        for (int t = 0; t < 2; t++) {
            frost_set_threads(t + 1);
            grads[t][0] = zero_floats(nx);
            grads[t][1] = zero_floats(nw);
            grads[t][2] = zero_floats(nb);
            frost_conv2d_backward(&c.p, c.in, c.x, c.w, c.r, grads[t][0], grads[t][1], grads[t][2],
                                  c.scratch);
        }
        frost_set_threads(0);
        CHECK(memcmp(grads[0][0], grads[1][0], nx * sizeof(float)) == 0);
        CHECK(memcmp(grads[0][1], grads[1][1], nw * sizeof(float)) == 0);
        CHECK(memcmp(grads[0][2], grads[1][2], nb * sizeof(float)) == 0);
        for (int t = 0; t < 2; t++)
            for (int j = 0; j < 3; j++)
                free(grads[t][j]);
        case_free(&c);
    }
}

/* ---- linear ---- */

typedef struct {
    int n, in, out;
    float *x, *w, *b, *r, *y;
} linear_case;

static double linear_loss(void *ctx)
{
    linear_case *c = ctx;
    frost_linear_forward(c->n, c->in, c->out, c->x, c->w, c->b, c->y);
    double sum = 0.0;
    for (int i = 0; i < c->n * c->out; i++)
        sum += (double)c->y[i] * c->r[i];
    return sum;
}

TEST(test_linear_forward_hand_computed)
{
    /* x = [[1, 2, 3], [-1, 0, 2]], w = [[1, 0, -1], [0.5, 0.5, 0.5]], b = [0.25, -1] */
    const float x[] = {1, 2, 3, -1, 0, 2}, w[] = {1, 0, -1, 0.5f, 0.5f, 0.5f};
    const float b[] = {0.25f, -1};
    float y[4];
    frost_linear_forward(2, 3, 2, x, w, b, y);
    CHECK_NEAR(y[0], -1.75, 1e-6, 0);
    CHECK_NEAR(y[1], 2.0, 1e-6, 0);
    CHECK_NEAR(y[2], -2.75, 1e-6, 0);
    CHECK_NEAR(y[3], -0.5, 1e-6, 0);
    frost_linear_forward(2, 3, 2, x, w, NULL, y);
    CHECK_NEAR(y[0], -2.0, 1e-6, 0);
    CHECK_NEAR(y[3], 0.5, 1e-6, 0);
    /* backward with dy = [[1, 0], [0, 2]] onto dx = 1, dw = 0, db = 1 */
    const float dy[] = {1, 0, 0, 2};
    float dx[6] = {1, 1, 1, 1, 1, 1}, dw[6] = {0}, db[2] = {1, 1};
    frost_linear_backward(2, 3, 2, x, w, dy, dx, dw, db);
    const float want_dx[] = {2, 1, 0, 2, 2, 2};  /* 1 + dy * w */
    const float want_dw[] = {1, 2, 3, -2, 0, 4}; /* dy^T x */
    for (int i = 0; i < 6; i++) {
        CHECK_NEAR(dx[i], want_dx[i], 1e-6, 0);
        CHECK_NEAR(dw[i], want_dw[i], 1e-6, 0);
    }
    CHECK_NEAR(db[0], 2.0, 1e-6, 0);
    CHECK_NEAR(db[1], 3.0, 1e-6, 0);
}

TEST(test_linear_gradients)
{
    linear_case c = {.n = 5, .in = 37, .out = 10};
    c.x = random_floats((size_t)c.n * c.in, 51);
    c.w = random_floats((size_t)c.out * c.in, 52);
    c.b = random_floats((size_t)c.out, 53);
    c.r = random_floats((size_t)c.n * c.out, 54);
    c.y = zero_floats((size_t)c.n * c.out);
    float *dx = zero_floats((size_t)c.n * c.in), *dw = zero_floats((size_t)c.out * c.in);
    float *db = zero_floats((size_t)c.out);
    frost_linear_backward(c.n, c.in, c.out, c.x, c.w, c.r, dx, dw, db);
    CHECK_EQ_INT(frost_test_gradcheck("linear dx", linear_loss, &c, c.x, dx, c.n * c.in, 0.05, 1e-3,
                                      1e-3, 80),
                 0);
    CHECK_EQ_INT(frost_test_gradcheck("linear dw", linear_loss, &c, c.w, dw, c.out * c.in, 0.05,
                                      1e-3, 1e-3, 80),
                 0);
    CHECK_EQ_INT(
        frost_test_gradcheck("linear db", linear_loss, &c, c.b, db, c.out, 0.05, 1e-3, 1e-3, 80),
        0);
    /* dx and db may be NULL */
    float *dw2 = zero_floats((size_t)c.out * c.in);
    frost_linear_backward(c.n, c.in, c.out, c.x, c.w, c.r, NULL, dw2, NULL);
    for (int i = 0; i < c.out * c.in; i++)
        CHECK_NEAR(dw2[i], dw[i], 1e-6, 1e-6);
    free(dw2);
    free(dx);
    free(dw);
    free(db);
    free(c.x);
    free(c.w);
    free(c.b);
    free(c.r);
    free(c.y);
}

FROST_TEST_MAIN(RUN(test_conv_out_dim); RUN(test_conv_forward_matches_direct);
                RUN(test_conv_backward_matches_direct); RUN(test_conv_gradients);
                RUN(test_depthwise_avx2_matches_reference);
                RUN(test_depthwise_streamed_output_matches_reference);
                RUN(test_depthwise_fused_activation_matches_reference);
                RUN(test_conv_backward_deterministic_across_threads);
                RUN(test_linear_forward_hand_computed); RUN(test_linear_gradients))
