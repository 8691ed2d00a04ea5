/*
 * Depthwise convolution: portable reference row kernels and the parallel
 * drivers that run any of the kernel families (see depthwise.h).
 *
 * The reference kernels are written for clarity first: one accumulation per
 * tap straight into the destination, channels innermost (which the compiler
 * still vectorises). The AVX2 and AVX-512 versions must match them to rounding.
 */
#include "ops/depthwise.h"

#include <stdint.h>
#include <string.h>

#include "core/cpu.h"

/* ---- index arithmetic shared with x86/depthwise_avx2.c ---- */

bool frost_dw_window_taps(int o, int k, int stride, int pad, int in, int *first, int *last)
{
    int base = o * stride - pad; /* input position of tap 0 */
    *first = base < 0 ? -base : 0;
    *last = in - 1 - base < k - 1 ? in - 1 - base : k - 1;
    return *first <= *last;
}

bool frost_dw_output_span(int t, int stride, int pad, int in, int out, int *first, int *last)
{
    int lo = pad - t;          /* need o*stride >= lo */
    int hi = in - 1 + pad - t; /* need o*stride <= hi */
    if (hi < 0)
        return false;
    *first = lo <= 0 ? 0 : (lo + stride - 1) / stride;
    *last = hi / stride < out - 1 ? hi / stride : out - 1;
    return *first <= *last;
}

bool frost_dw_gather_taps(int pos, int k, int stride, int out, int *first, int *last)
{
    /* tap t feeds output (pos - t) / stride: need 0 <= pos - t <= (out-1)*stride */
    int lo = pos - (out - 1) * stride;
    if (lo < 0)
        lo = 0;
    int hi = pos < k - 1 ? pos : k - 1;
    if (lo > hi)
        return false;
    *first = lo + (pos - lo) % stride;
    if (*first > hi)
        return false;
    *last = hi - (hi - *first) % stride;
    return true;
}

/* ---- reference row kernels ---- */

static const float *pixel(const float *t, int h, int w, int c, int n, int y, int x)
{
    return t + (((size_t)n * h + y) * w + x) * c;
}

void frost_dw_forward_row_ref(const frost_dw_geom *g, int n, int oh, const float *x,
                              const float *wt, const float *b, float *y)
{
    const int c = g->c;
    int ki0, ki1;
    bool rows_ok = frost_dw_window_taps(oh, g->kh, g->stride, g->pad_h, g->h, &ki0, &ki1);
    for (int ow = 0; ow < g->ow; ow++) {
        float *yp = y + (((size_t)n * g->oh + oh) * g->ow + ow) * c;
        for (int ch = 0; ch < c; ch++)
            yp[ch] = b ? b[ch] : 0.0f;
        int kj0, kj1;
        if (!rows_ok || !frost_dw_window_taps(ow, g->kw, g->stride, g->pad_w, g->w, &kj0, &kj1))
            continue;
        for (int ki = ki0; ki <= ki1; ki++) {
            int ih = oh * g->stride - g->pad_h + ki;
            for (int kj = kj0; kj <= kj1; kj++) {
                int iw = ow * g->stride - g->pad_w + kj;
                const float *xp = pixel(x, g->h, g->w, c, n, ih, iw);
                const float *wp = wt + (size_t)(ki * g->kw + kj) * c;
                for (int ch = 0; ch < c; ch++)
                    yp[ch] += xp[ch] * wp[ch];
            }
        }
    }
}

void frost_dw_backward_data_row_ref(const frost_dw_geom *g, int n, int ih, const float *dy,
                                    const float *wt, float *dx, bool overwrite)
{
    const int c = g->c, s = g->stride;
    int ki0, ki1;
    float *dxrow = dx + ((size_t)n * g->h + ih) * g->w * c;
    if (!frost_dw_gather_taps(ih + g->pad_h, g->kh, s, g->oh, &ki0, &ki1)) {
        if (overwrite) /* a row no output reads: its gradient is 0 */
            memset(dxrow, 0, (size_t)g->w * c * sizeof(float));
        return;
    }
    for (int iw = 0; iw < g->w; iw++) {
        int kj0, kj1;
        float *dxp = dxrow + (size_t)iw * c;
        if (overwrite) /* the reference is the oracle, not fast: clear, then add */
            memset(dxp, 0, (size_t)c * sizeof(float));
        if (!frost_dw_gather_taps(iw + g->pad_w, g->kw, s, g->ow, &kj0, &kj1))
            continue;
        for (int ki = ki0; ki <= ki1; ki += s) {
            int oh = (ih + g->pad_h - ki) / s;
            for (int kj = kj0; kj <= kj1; kj += s) {
                int ow = (iw + g->pad_w - kj) / s;
                const float *dyp = pixel(dy, g->oh, g->ow, c, n, oh, ow);
                const float *wp = wt + (size_t)(ki * g->kw + kj) * c;
                for (int ch = 0; ch < c; ch++)
                    dxp[ch] += dyp[ch] * wp[ch];
            }
        }
    }
}

static void weight_row_ref(const frost_dw_geom *g, int n, int oh, const float *x, const float *dy,
                           float *dwt)
{
    const int c = g->c, s = g->stride;
    int ki0, ki1;
    if (!frost_dw_window_taps(oh, g->kh, s, g->pad_h, g->h, &ki0, &ki1))
        return;
    for (int ki = ki0; ki <= ki1; ki++) {
        int ih = oh * s - g->pad_h + ki;
        for (int kj = 0; kj < g->kw; kj++) {
            int ow0, ow1;
            if (!frost_dw_output_span(kj, s, g->pad_w, g->w, g->ow, &ow0, &ow1))
                continue;
            float *dwp = dwt + (size_t)(ki * g->kw + kj) * c;
            for (int ow = ow0; ow <= ow1; ow++) {
                const float *xp = pixel(x, g->h, g->w, c, n, ih, ow * s - g->pad_w + kj);
                const float *dyp = pixel(dy, g->oh, g->ow, c, n, oh, ow);
                for (int ch = 0; ch < c; ch++)
                    dwp[ch] += dyp[ch] * xp[ch];
            }
        }
    }
}

void frost_dw_backward_weight_rows_ref(const frost_dw_geom *g, int64_t r0, int64_t r1,
                                       const float *x, const float *dy, float *dwt)
{
    for (int64_t r = r0; r < r1; r++)
        weight_row_ref(g, (int)(r / g->oh), (int)(r % g->oh), x, dy, dwt);
}

/* ---- drivers ---- */

typedef void (*dw_forward_row_fn)(const frost_dw_geom *, int, int, const float *, const float *,
                                  const float *, float *);
typedef void (*dw_data_row_fn)(const frost_dw_geom *, int, int, const float *, const float *,
                               float *, bool);
typedef void (*dw_weight_rows_fn)(const frost_dw_geom *, int64_t, int64_t, const float *,
                                  const float *, float *);

size_t frost_dw_scratch_floats(const frost_dw_geom *g)
{
    size_t taps = (size_t)g->kh * g->kw * g->c;
    return taps * (1 + FROST_DW_PARTS); /* transposed weight + partial weight gradients */
}

/* Whether a whole pass (one multiply-add per tap and output) is worth threads. */
static bool dw_threaded(const frost_dw_geom *g)
{
    return (int64_t)g->n * g->oh * g->ow * g->c * g->kh * g->kw >= FROST_CONV_MIN_PARALLEL_WORK;
}

/* OHWI [c][kh*kw] (one input channel per group) -> [kh*kw][c]. */
static void transpose_weight(const frost_dw_geom *g, const float *w, float *wt)
{
    const int taps = g->kh * g->kw;
    for (int ch = 0; ch < g->c; ch++)
        for (int t = 0; t < taps; t++)
            wt[(size_t)t * g->c + ch] = w[(size_t)ch * taps + t];
}

frost_dw_kernels frost_dw_best_kernels(void)
{
    return frost_cpu_has_avx512f() ? FROST_DW_AVX512
           : frost_cpu_has_avx2()  ? FROST_DW_AVX2
                                   : FROST_DW_REF;
}

void frost_dw_forward(const frost_dw_geom *g, frost_dw_kernels kernels, const float *x,
                      const float *w, const float *b, float *y, float *scratch)
{
    dw_forward_row_fn row = kernels == FROST_DW_AVX512 ? frost_dw_forward_row_avx512
                            : kernels == FROST_DW_AVX2 ? frost_dw_forward_row_avx2
                                                       : frost_dw_forward_row_ref;
    float *wt = scratch;
    transpose_weight(g, w, wt);
    frost_dw_geom gs = *g;
    gs.stream_output = (size_t)g->n * g->oh * g->ow * g->c >= FROST_DW_STREAM_FLOATS;
    const int64_t rows = (int64_t)g->n * g->oh;
#pragma omp parallel for schedule(static) if (dw_threaded(g))
    for (int64_t r = 0; r < rows; r++)
        row(&gs, (int)(r / g->oh), (int)(r % g->oh), x, wt, b, y);
}

/* dw[ch][t] += sum over parts of partial[part][t][ch], parts in order. */
static void reduce_weight_partials(const frost_dw_geom *g, int parts, const float *partial,
                                   float *dw)
{
    const int taps = g->kh * g->kw;
    const int64_t per_part = (int64_t)taps * g->c;
#pragma omp parallel for schedule(static) if (per_part * parts >= FROST_CONV_MIN_PARALLEL_WORK)
    for (int64_t i = 0; i < per_part; i++) {
        float sum = 0.0f;
        for (int p = 0; p < parts; p++)
            sum += partial[p * per_part + i];
        int64_t t = i / g->c, ch = i % g->c;
        dw[ch * taps + t] += sum;
    }
}

void frost_dw_backward(const frost_dw_geom *g, frost_dw_kernels kernels, const float *x,
                       const float *w, const float *dy, float *dx, bool dx_overwrite, float *dw,
                       float *scratch)
{
    dw_data_row_fn data_row = kernels == FROST_DW_AVX512 ? frost_dw_backward_data_row_avx512
                              : kernels == FROST_DW_AVX2 ? frost_dw_backward_data_row_avx2
                                                         : frost_dw_backward_data_row_ref;
    dw_weight_rows_fn weight_rows = kernels == FROST_DW_AVX512
                                        ? frost_dw_backward_weight_rows_avx512
                                    : kernels == FROST_DW_AVX2 ? frost_dw_backward_weight_rows_avx2
                                                               : frost_dw_backward_weight_rows_ref;
    const size_t per_part = (size_t)g->kh * g->kw * g->c;
    float *wt = scratch, *partial = scratch + per_part;
    if (dx)
        transpose_weight(g, w, wt);
    /* With enough images every part owns whole ones, and each image's weight
     * and data gradients are computed back to back, so its dy is still in
     * cache for the second pass (on large maps these kernels wait on memory).
     * Otherwise the parts are slices of output rows, and the data gradient
     * is a separate pass over input rows. Either way the split depends only
     * on the shape, not on the threads. */
    const bool by_image = g->n >= FROST_DW_PARTS;
    const int64_t rows = (int64_t)g->n * g->oh;
    const int parts = by_image || rows >= FROST_DW_PARTS ? FROST_DW_PARTS : (int)rows;
    if (dx && !by_image) {
        const int64_t in_rows = (int64_t)g->n * g->h;
#pragma omp parallel for schedule(static) if (dw_threaded(g))
        for (int64_t r = 0; r < in_rows; r++)
            data_row(g, (int)(r / g->h), (int)(r % g->h), dy, wt, dx, dx_overwrite);
    }
#pragma omp parallel for schedule(static) if (dw_threaded(g))
    for (int p = 0; p < parts; p++) {
        float *acc = partial + (size_t)p * per_part;
        memset(acc, 0, per_part * sizeof *acc);
        if (!by_image) {
            weight_rows(g, rows * p / parts, rows * (p + 1) / parts, x, dy, acc);
            continue;
        }
        for (int n = g->n * p / parts; n < g->n * (p + 1) / parts; n++) {
            weight_rows(g, (int64_t)n * g->oh, (int64_t)(n + 1) * g->oh, x, dy, acc);
            for (int ih = 0; dx && ih < g->h; ih++)
                data_row(g, n, ih, dy, wt, dx, dx_overwrite);
        }
    }
    reduce_weight_partials(g, parts, partial, dw);
}
