/*
 * 2-D convolution, forward and backward, NHWC activations, OHWI weights.
 *
 * Three strategies, picked from the parameters:
 *  - depthwise (groups == cin == cout): dedicated kernels (depthwise.c);
 *  - pointwise (1x1, stride 1, no padding): the NHWC input already is the GEMM
 *    operand X[N*H*W, cin], so each group is one sgemm with leading-dimension
 *    offsets, and no copy is made;
 *  - everything else: im2col into the caller's scratch, one row per output
 *    position holding its (kh, kw, cin/groups) patch (the same order as an OHWI
 *    filter row), then sgemm. The rows are processed in chunks so the scratch
 *    stays a few MB whatever the batch size.
 * Backward of the data for im2col convs computes the patch gradients with one
 * sgemm and then gathers them back per input pixel (col2im as a gather, so input
 * rows are independent: parallel and deterministic).
 */
#include "core/cpu.h"
#include "ops/depthwise.h"
#include "ops/ops.h"
#include "ops/sgemm.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

/* Upper bound on one im2col chunk (floats): 2 MB stays cache-friendly. */
#define IM2COL_CHUNK_FLOATS ((size_t)1 << 19)
/* The bias gradient sums rows in this many fixed slices, added in order, so
 * the result does not depend on the thread count. */
#define BIAS_PARTS 16

int frost_conv_out_dim(int in, int k, int stride, int pad)
{
    if (in <= 0 || k <= 0 || stride <= 0 || pad < 0)
        return 0;
    long long span = (long long)in + 2LL * pad - k;
    if (span < 0)
        return 0;
    long long out = span / stride + 1;
    return out > INT_MAX ? 0 : (int)out;
}

typedef enum { CONV_DEPTHWISE, CONV_POINTWISE, CONV_IM2COL } conv_kind;

typedef struct {
    conv_kind kind;
    int oh, ow;
    int cin_g, cout_g;
    int64_t m;          /* output positions N*OH*OW = GEMM rows */
    int k;              /* GEMM depth: kh*kw*cin_g */
    int64_t chunk_rows; /* im2col rows per chunk */
    frost_dw_geom dw;
} conv_plan;

/* False when the parameters do not describe a conv this input can go through
 * (the graph checks shapes when it is built, so kernels just do nothing). */
static bool plan_conv(const frost_conv_params *p, frost_shape4 in, conv_plan *pl)
{
    if (p->groups <= 0 || p->cin <= 0 || p->cout <= 0 || in.c != p->cin || in.n <= 0 ||
        p->cin % p->groups != 0 || p->cout % p->groups != 0)
        return false;
    pl->oh = frost_conv_out_dim(in.h, p->kh, p->stride, p->pad_h);
    pl->ow = frost_conv_out_dim(in.w, p->kw, p->stride, p->pad_w);
    if (pl->oh <= 0 || pl->ow <= 0)
        return false;
    pl->cin_g = p->cin / p->groups;
    pl->cout_g = p->cout / p->groups;
    pl->m = (int64_t)in.n * pl->oh * pl->ow;
    pl->k = p->kh * p->kw * pl->cin_g;
    pl->dw = (frost_dw_geom){.n = in.n,
                             .h = in.h,
                             .w = in.w,
                             .c = in.c,
                             .oh = pl->oh,
                             .ow = pl->ow,
                             .kh = p->kh,
                             .kw = p->kw,
                             .stride = p->stride,
                             .pad_h = p->pad_h,
                             .pad_w = p->pad_w};
    if (p->groups == p->cin && p->cout == p->cin)
        pl->kind = CONV_DEPTHWISE;
    else if (p->kh == 1 && p->kw == 1 && p->stride == 1 && p->pad_h == 0 && p->pad_w == 0)
        pl->kind = CONV_POINTWISE;
    else
        pl->kind = CONV_IM2COL;
    /* whole images per chunk when one fits (fewer, larger GEMMs), else part of one */
    int64_t per_image = (int64_t)pl->oh * pl->ow;
    int64_t cap = (int64_t)(IM2COL_CHUNK_FLOATS / (size_t)pl->k);
    if (cap < 1)
        cap = 1;
    pl->chunk_rows = cap >= per_image ? cap / per_image * per_image : cap;
    if (pl->chunk_rows > pl->m)
        pl->chunk_rows = pl->m;
    return true;
}

size_t frost_conv2d_scratch_floats(const frost_conv_params *p, frost_shape4 in)
{
    conv_plan pl;
    if (!plan_conv(p, in, &pl))
        return 0;
    size_t bias = (size_t)BIAS_PARTS * p->cout; /* used before the rest, so shared */
    size_t kernel = 0;
    if (pl.kind == CONV_DEPTHWISE)
        kernel = frost_dw_scratch_floats(&pl.dw);
    else if (pl.kind == CONV_IM2COL)
        kernel = (size_t)pl.k * (size_t)pl.chunk_rows;
    return kernel > bias ? kernel : bias;
}

/* ---- bias ---- */

static void fill_rows_with_bias(int64_t m, int c, const float *b, float *y)
{
#pragma omp parallel for schedule(static) if (m * c >= FROST_CONV_MIN_PARALLEL_WORK)
    for (int64_t r = 0; r < m; r++)
        memcpy(y + r * c, b, (size_t)c * sizeof *b);
}

/* db[ch] += sum over the m rows of dy[., ch]; partial holds BIAS_PARTS*c floats. */
static void bias_gradient(int64_t m, int c, const float *dy, float *db, float *partial)
{
    const int parts = m < BIAS_PARTS ? (int)m : BIAS_PARTS;
#pragma omp parallel for schedule(static) if (m * c >= FROST_CONV_MIN_PARALLEL_WORK)
    for (int p = 0; p < parts; p++) {
        float *acc = partial + (size_t)p * c;
        memset(acc, 0, (size_t)c * sizeof *acc);
        for (int64_t r = m * p / parts; r < m * (p + 1) / parts; r++) {
            const float *row = dy + r * c;
            for (int ch = 0; ch < c; ch++)
                acc[ch] += row[ch];
        }
    }
    for (int p = 0; p < parts; p++)
        for (int ch = 0; ch < c; ch++)
            db[ch] += partial[(size_t)p * c + ch];
}

/* ---- pointwise: X[m, cin] is the NHWC input itself ---- */

static void pointwise_forward(const frost_conv_params *p, const conv_plan *pl, const float *x,
                              const float *w, float beta, float *y)
{
    for (int g = 0; g < p->groups; g++)
        frost_sgemm(false, true, (int)pl->m, pl->cout_g, pl->cin_g, x + (size_t)g * pl->cin_g,
                    p->cin, w + (size_t)g * pl->cout_g * pl->cin_g, pl->cin_g, beta,
                    y + (size_t)g * pl->cout_g, p->cout);
}

static void pointwise_backward(const frost_conv_params *p, const conv_plan *pl, const float *x,
                               const float *w, const float *dy, float *dx, float *dw)
{
    for (int g = 0; g < p->groups; g++) {
        const float *dyg = dy + (size_t)g * pl->cout_g;
        size_t wg = (size_t)g * pl->cout_g * pl->cin_g;
        /* dX[m, cin_g] += dY[m, cout_g] * W[cout_g, cin_g] */
        if (dx)
            frost_sgemm(false, false, (int)pl->m, pl->cin_g, pl->cout_g, dyg, p->cout, w + wg,
                        pl->cin_g, 1.0f, dx + (size_t)g * pl->cin_g, p->cin);
        /* dW[cout_g, cin_g] += dY^T X */
        frost_sgemm(true, false, pl->cout_g, pl->cin_g, (int)pl->m, dyg, p->cout,
                    x + (size_t)g * pl->cin_g, p->cin, 1.0f, dw + wg, pl->cin_g);
    }
}

/* ---- im2col ---- */

static void copy_floats(float *dst, const float *src, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = src[i];
}

/* col[r, (ki, kj, ci)] = x[n, oh*s-ph+ki, ow*s-pw+kj, group*cin_g + ci] (0 in the
 * padding) for the output positions m0 .. m0+rows-1. */
static void im2col(const frost_conv_params *p, frost_shape4 in, const conv_plan *pl, const float *x,
                   int group, int64_t m0, int64_t rows, float *col)
{
    const int cg = pl->cin_g;
#pragma omp parallel for schedule(static) if (rows * pl->k >= FROST_CONV_MIN_PARALLEL_WORK)
    for (int64_t r = 0; r < rows; r++) {
        int64_t mi = m0 + r;
        int ow = (int)(mi % pl->ow), oh = (int)(mi / pl->ow % pl->oh);
        int64_t n = mi / ((int64_t)pl->ow * pl->oh);
        float *dst = col + r * pl->k;
        for (int ki = 0; ki < p->kh; ki++) {
            int ih = oh * p->stride - p->pad_h + ki;
            for (int kj = 0; kj < p->kw; kj++, dst += cg) {
                int iw = ow * p->stride - p->pad_w + kj;
                if (ih < 0 || ih >= in.h || iw < 0 || iw >= in.w)
                    memset(dst, 0, (size_t)cg * sizeof *dst);
                else
                    copy_floats(dst, x + ((n * in.h + ih) * in.w + iw) * in.c + (size_t)group * cg,
                                cg);
            }
        }
    }
}

/* The inverse of im2col for gradients: every input pixel of the images the chunk
 * touches adds up the patch entries that read it, taps in a fixed order. */
static void col2im_add(const frost_conv_params *p, frost_shape4 in, const conv_plan *pl,
                       const float *dcol, int group, int64_t m0, int64_t rows, float *dx)
{
    const int cg = pl->cin_g, s = p->stride;
    const int64_t per_image = (int64_t)pl->oh * pl->ow;
    const int64_t n0 = m0 / per_image, n1 = (m0 + rows - 1) / per_image;
    const int64_t in_rows = (n1 - n0 + 1) * in.h;
#pragma omp parallel for schedule(static) if (rows * pl->k >= FROST_CONV_MIN_PARALLEL_WORK)
    for (int64_t ir = 0; ir < in_rows; ir++) {
        int64_t n = n0 + ir / in.h;
        int ih = (int)(ir % in.h), ki0, ki1;
        if (!frost_dw_gather_taps(ih + p->pad_h, p->kh, s, pl->oh, &ki0, &ki1))
            continue;
        for (int iw = 0; iw < in.w; iw++) {
            int kj0, kj1;
            if (!frost_dw_gather_taps(iw + p->pad_w, p->kw, s, pl->ow, &kj0, &kj1))
                continue;
            float *dxp = dx + ((n * in.h + ih) * in.w + iw) * in.c + (size_t)group * cg;
            for (int ki = ki0; ki <= ki1; ki += s) {
                int oh = (ih + p->pad_h - ki) / s;
                for (int kj = kj0; kj <= kj1; kj += s) {
                    int ow = (iw + p->pad_w - kj) / s;
                    int64_t r = (n * pl->oh + oh) * pl->ow + ow - m0;
                    if (r < 0 || r >= rows)
                        continue; /* that output belongs to another chunk */
                    const float *src = dcol + r * pl->k + (size_t)(ki * p->kw + kj) * cg;
                    for (int ci = 0; ci < cg; ci++)
                        dxp[ci] += src[ci];
                }
            }
        }
    }
}

static void im2col_forward(const frost_conv_params *p, frost_shape4 in, const conv_plan *pl,
                           const float *x, const float *w, float beta, float *y, float *col)
{
    for (int64_t m0 = 0; m0 < pl->m; m0 += pl->chunk_rows) {
        int64_t rows = pl->m - m0 < pl->chunk_rows ? pl->m - m0 : pl->chunk_rows;
        for (int g = 0; g < p->groups; g++) {
            im2col(p, in, pl, x, g, m0, rows, col);
            frost_sgemm(false, true, (int)rows, pl->cout_g, pl->k, col, pl->k,
                        w + (size_t)g * pl->cout_g * pl->k, pl->k, beta,
                        y + m0 * p->cout + (size_t)g * pl->cout_g, p->cout);
        }
    }
}

static void im2col_backward(const frost_conv_params *p, frost_shape4 in, const conv_plan *pl,
                            const float *x, const float *w, const float *dy, float *dx, float *dw,
                            float *col)
{
    for (int64_t m0 = 0; m0 < pl->m; m0 += pl->chunk_rows) {
        int64_t rows = pl->m - m0 < pl->chunk_rows ? pl->m - m0 : pl->chunk_rows;
        for (int g = 0; g < p->groups; g++) {
            const float *dyg = dy + m0 * p->cout + (size_t)g * pl->cout_g;
            const float *wg = w + (size_t)g * pl->cout_g * pl->k;
            im2col(p, in, pl, x, g, m0, rows, col);
            /* dW[cout_g, k] += dY^T[cout_g, rows] * col[rows, k] */
            frost_sgemm(true, false, pl->cout_g, pl->k, (int)rows, dyg, p->cout, col, pl->k, 1.0f,
                        dw + (size_t)g * pl->cout_g * pl->k, pl->k);
            if (!dx)
                continue;
            /* the patches are no longer needed: reuse the buffer for their gradient */
            frost_sgemm(false, false, (int)rows, pl->k, pl->cout_g, dyg, p->cout, wg, pl->k, 0.0f,
                        col, pl->k);
            col2im_add(p, in, pl, col, g, m0, rows, dx);
        }
    }
}

/* ---- entry points ---- */

void frost_conv2d_forward(const frost_conv_params *p, frost_shape4 in, const float *x,
                          const float *w, const float *b, float *y, float *scratch)
{
    conv_plan pl;
    if (!plan_conv(p, in, &pl))
        return;
    if (pl.kind == CONV_DEPTHWISE) {
        frost_dw_forward(&pl.dw, frost_dw_best_kernels(), x, w, b, y, scratch);
        return;
    }
    /* GEMMs accumulate onto the bias (beta = 1) instead of adding it afterwards */
    if (b)
        fill_rows_with_bias(pl.m, p->cout, b, y);
    float beta = b ? 1.0f : 0.0f;
    if (pl.kind == CONV_POINTWISE)
        pointwise_forward(p, &pl, x, w, beta, y);
    else
        im2col_forward(p, in, &pl, x, w, beta, y, scratch);
}

static void conv2d_backward(const frost_conv_params *p, frost_shape4 in, const float *x,
                            const float *w, const float *dy, float *dx, bool dx_overwrite,
                            float *dw, float *db, float *scratch)
{
    conv_plan pl;
    bool planned = plan_conv(p, in, &pl);
    if (dx && dx_overwrite && !(planned && pl.kind == CONV_DEPTHWISE)) /* only these write */
        memset(dx, 0, (size_t)in.n * in.h * in.w * in.c * sizeof(float));
    if (!planned)
        return;
    if (db)
        bias_gradient(pl.m, p->cout, dy, db, scratch);
    if (pl.kind == CONV_DEPTHWISE)
        frost_dw_backward(&pl.dw, frost_dw_best_kernels(), x, w, dy, dx, dx_overwrite, dw, scratch);
    else if (pl.kind == CONV_POINTWISE)
        pointwise_backward(p, &pl, x, w, dy, dx, dw);
    else
        im2col_backward(p, in, &pl, x, w, dy, dx, dw, scratch);
}

void frost_conv2d_backward(const frost_conv_params *p, frost_shape4 in, const float *x,
                           const float *w, const float *dy, float *dx, float *dw, float *db,
                           float *scratch)
{
    conv2d_backward(p, in, x, w, dy, dx, false, dw, db, scratch);
}

void frost_conv2d_backward_write(const frost_conv_params *p, frost_shape4 in, const float *x,
                                 const float *w, const float *dy, float *dx, float *dw, float *db,
                                 float *scratch)
{
    conv2d_backward(p, in, x, w, dy, dx, true, dw, db, scratch);
}
