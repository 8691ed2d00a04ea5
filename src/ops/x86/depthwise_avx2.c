/*
 * Depthwise convolution row kernels, AVX2/FMA (compiled with -mavx2 -mfma and
 * only called when frost_cpu_has_avx2() says so). Same contract as the _ref
 * kernels in ../depthwise.c, which the tests compare these against.
 *
 * Vectorised along channels, 8 per register; the last partial block of
 * channels uses masked loads/stores so any channel count works. Outputs that
 * share the same valid taps (everywhere but the borders) are computed 8 or 4
 * at a time: each weight load then feeds that many FMAs, into independent
 * accumulators that hide the FMA latency.
 */
#include "ops/depthwise.h"

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

/* Lanes [0, valid) set. */
static __m256i tail_mask(int valid)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* `full` is a compile-time constant at every call site after inlining, so the
 * full-block loops carry no mask. */
INLINE __m256 load8(const float *p, bool full, __m256i mask)
{
    return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
}

INLINE void store8(float *p, __m256 v, bool full, __m256i mask)
{
    if (full)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, mask, v);
}

INLINE void add_store8(float *p, __m256 v, bool full, __m256i mask)
{
    store8(p, _mm256_add_ps(load8(p, full, mask), v), full, mask);
}

static const float *pixel(const float *t, int h, int w, int c, int n, int y, int x)
{
    return t + (((size_t)n * h + y) * w + x) * c;
}

/* A rectangle of valid taps [ki0..ki1] x [kj0..kj1]. */
typedef struct {
    int ki0, ki1, kj0, kj1;
} tap_box;

/* Where a tile's operands live. Tap (i, j) of the tile (i, j counted from its
 * first valid tap) reads, for its first destination, src[i*src_row + j*src_col]
 * and w[i*w_row + j*w_col]; destination q reads q*src_next floats further and
 * sits at dst + q*dst_next. Offsets stay integers until they name a valid
 * element, so no pointer ever points outside its tensor. */
typedef struct {
    const float *src, *w;
    ptrdiff_t src_row, src_col, src_next, w_row, w_col;
    int rows, cols; /* taps per axis */
    float *dst;
    ptrdiff_t dst_next;
    bool stream; /* write dst with streaming stores (never when accumulating) */
} tile_plan;

/* `count` (1, 4 or 8: a constant after inlining) destinations, channels
 * [cb, cb+8): dst = init + sum over taps of src * w, where init is the bias
 * (forward) or dst itself (backward data accumulates). */
INLINE void tile_block(const tile_plan *t, int count, bool accumulate, const float *bias, int cb,
                       bool full, __m256i mask)
{
    const float *src = t->src + cb, *w = t->w + cb;
    __m256 a[8];
    __m256 init = bias ? load8(bias + cb, full, mask) : _mm256_setzero_ps();
#pragma GCC unroll 8
    for (int q = 0; q < count; q++)
        a[q] = accumulate ? load8(t->dst + q * t->dst_next + cb, full, mask) : init;
    for (int i = 0; i < t->rows; i++) {
        for (int j = 0; j < t->cols; j++) {
            const ptrdiff_t so = i * t->src_row + j * t->src_col;
            __m256 wv = load8(w + (i * t->w_row + j * t->w_col), full, mask);
#pragma GCC unroll 8
            for (int q = 0; q < count; q++)
                a[q] = _mm256_fmadd_ps(load8(src + (so + q * t->src_next), full, mask), wv, a[q]);
        }
    }
#pragma GCC unroll 8
    for (int q = 0; q < count; q++) {
        float *d = t->dst + q * t->dst_next + cb;
        if (t->stream && full && ((uintptr_t)d & 31) == 0)
            _mm256_stream_ps(d, a[q]);
        else
            store8(d, a[q], full, mask);
    }
}

INLINE void tile_run(const tile_plan *t, int c, int count, bool accumulate, const float *bias)
{
    int cb = 0;
    for (; cb + 8 <= c; cb += 8)
        tile_block(t, count, accumulate, bias, cb, true, _mm256_setzero_si256());
    if (cb < c)
        tile_block(t, count, accumulate, bias, cb, false, tail_mask(c - cb));
}

static void tile_any(const tile_plan *t, int c, int count, bool accumulate, const float *bias)
{
    if (count == 8)
        tile_run(t, c, 8, accumulate, bias);
    else if (count == 4)
        tile_run(t, c, 4, accumulate, bias);
    else
        tile_run(t, c, 1, accumulate, bias);
}

/* ---- forward ---- */

void frost_dw_forward_row_avx2(const frost_dw_geom *g, int n, int oh, const float *x,
                               const float *wt, const float *b, float *y)
{
    const int c = g->c, s = g->stride;
    float *yrow = y + ((size_t)n * g->oh + oh) * g->ow * c;
    tap_box box;
    bool rows_ok = frost_dw_window_taps(oh, g->kh, s, g->pad_h, g->h, &box.ki0, &box.ki1);
    int ow = 0;
    while (ow < g->ow) {
        tile_plan t = {.dst = yrow + (size_t)ow * c, .dst_next = c, .stream = g->stream_output};
        if (!rows_ok || !frost_dw_window_taps(ow, g->kw, s, g->pad_w, g->w, &box.kj0, &box.kj1)) {
            tile_any(&t, c, 1, false, b); /* the window is all padding: just the bias */
            ow++;
            continue;
        }
        /* the valid tap range only shrinks towards the borders, so equal ranges at
         * ow and ow+count-1 mean all those outputs share it */
        int count = 1, kj0, kj1;
        for (int try = 8; try >= 4 && count == 1; try /= 2)
            if (ow + try <= g->ow &&
                frost_dw_window_taps(ow + try - 1, g->kw, s, g->pad_w, g->w, &kj0, &kj1) &&
                kj0 == box.kj0 && kj1 == box.kj1)
                count = try;
        t.src =
            pixel(x, g->h, g->w, c, n, oh * s - g->pad_h + box.ki0, ow * s - g->pad_w + box.kj0);
        t.src_row = (ptrdiff_t)g->w * c;
        t.src_col = c;
        t.src_next = (ptrdiff_t)s * c;
        t.w = wt + (size_t)(box.ki0 * g->kw + box.kj0) * c;
        t.w_row = (ptrdiff_t)g->kw * c;
        t.w_col = c;
        t.rows = box.ki1 - box.ki0 + 1;
        t.cols = box.kj1 - box.kj0 + 1;
        tile_any(&t, c, count, false, b);
        ow += count;
    }
    if (g->stream_output)
        _mm_sfence(); /* streamed stores are weakly ordered: publish them */
}

/* ---- backward data (gather) ---- */

/* Input columns iw, iw+s, iw+2s, ... share their taps, and for a given tap
 * their outputs are neighbours: they form the tiles here. */
void frost_dw_backward_data_row_avx2(const frost_dw_geom *g, int n, int ih, const float *dy,
                                     const float *wt, float *dx, bool overwrite)
{
    const int c = g->c, s = g->stride;
    tap_box box;
    float *dxrow = dx + ((size_t)n * g->h + ih) * g->w * c;
    if (!frost_dw_gather_taps(ih + g->pad_h, g->kh, s, g->oh, &box.ki0, &box.ki1)) {
        if (overwrite) /* a row no output reads: its gradient is 0 */
            memset(dxrow, 0, (size_t)g->w * c * sizeof(float));
        return;
    }
    const int oh0 = (ih + g->pad_h - box.ki0) / s; /* output row of the first tap row */
    for (int first = 0; first < s && first < g->w; first++) {
        int iw = first;
        while (iw < g->w) {
            if (!frost_dw_gather_taps(iw + g->pad_w, g->kw, s, g->ow, &box.kj0, &box.kj1)) {
                if (overwrite)
                    memset(dxrow + (size_t)iw * c, 0, (size_t)c * sizeof(float));
                iw += s;
                continue;
            }
            int count = 1, kj0, kj1;
            for (int try = 8; try >= 4 && count == 1; try /= 2)
                if (iw + (try - 1) * s < g->w &&
                    frost_dw_gather_taps(iw + (try - 1) * s + g->pad_w, g->kw, s, g->ow, &kj0,
                                         &kj1) &&
                    kj0 == box.kj0 && kj1 == box.kj1)
                    count = try;
            /* the next tap (ki + s, kj + s) reads the previous output row / column */
            tile_plan t = {
                .src = pixel(dy, g->oh, g->ow, c, n, oh0, (iw + g->pad_w - box.kj0) / s),
                .src_row = -(ptrdiff_t)g->ow * c,
                .src_col = -(ptrdiff_t)c,
                .src_next = c,
                .w = wt + (size_t)(box.ki0 * g->kw + box.kj0) * c,
                .w_row = (ptrdiff_t)s * g->kw * c,
                .w_col = (ptrdiff_t)s * c,
                .rows = (box.ki1 - box.ki0) / s + 1,
                .cols = (box.kj1 - box.kj0) / s + 1,
                .dst = dxrow + (size_t)iw * c,
                .dst_next = (ptrdiff_t)s * c,
            };
            /* writing starts the sums at 0 instead of dx: the same FMAs as after a memset */
            tile_any(&t, c, count, !overwrite, NULL);
            iw += count * s;
        }
    }
}

/* ---- backward weight ---- */

/* Taps kj0 .. kj0+G-1 of filter row ki (G <= 4, a constant after inlining),
 * channels [cb, cb+8), summed over the output rows [r0, r1) (r = n*oh + row).
 * Each dy load feeds G FMAs; over the outputs where all G taps are inside the
 * input, two outputs per step give 2G independent accumulators. */
INLINE void weight_taps(const frost_dw_geom *g, int64_t r0, int64_t r1, int ki, int kj0, int G,
                        const float *x, const float *dy, float *dwt, int cb, bool full,
                        __m256i mask)
{
    const ptrdiff_t c = g->c, s = g->stride, shift = kj0 - g->pad_w;
    /* outputs each tap reads inside the input: [first[t], last[t]] */
    int first[4], last[4], f = 0, l = g->ow - 1, lo = g->ow, hi = -1;
#pragma GCC unroll 4
    for (int t = 0; t < G; t++) {
        if (!frost_dw_output_span(kj0 + t, g->stride, g->pad_w, g->w, g->ow, &first[t], &last[t])) {
            first[t] = g->ow; /* the tap never lands inside the input */
            last[t] = -1;
        }
        f = first[t] > f ? first[t] : f;
        l = last[t] < l ? last[t] : l;
        lo = first[t] < lo ? first[t] : lo;
        hi = last[t] > hi ? last[t] : hi;
    }
    /* [f, l]: the outputs every tap of the group reads (empty near tiny maps);
     * [lo, f) and (l, hi] are the borders, where each tap checks its own span */
    if (f > l) {
        f = hi + 1;
        l = hi;
    }
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int t = 0; t < G; t++)
        acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (int64_t r = r0; r < r1; r++) {
        int n = (int)(r / g->oh), oh = (int)(r % g->oh);
        int ih = oh * g->stride - g->pad_h + ki;
        if (ih < 0 || ih >= g->h)
            continue;
        const float *dyrow = dy + r * g->ow * c + cb;
        /* tap kj0+t of output o reads input column o*s + shift + t (>= 0 when valid) */
        const float *xrow = pixel(x, g->h, g->w, g->c, n, ih, 0) + cb;
        int o = f;
        for (; o + 1 <= l; o += 2) {
            __m256 d0 = load8(dyrow + o * c, full, mask);
            __m256 d1 = load8(dyrow + (o + 1) * c, full, mask);
            const ptrdiff_t col = o * s + shift;
#pragma GCC unroll 4
            for (int t = 0; t < G; t++) {
                acc[t][0] = _mm256_fmadd_ps(load8(xrow + (col + t) * c, full, mask), d0, acc[t][0]);
                acc[t][1] =
                    _mm256_fmadd_ps(load8(xrow + (col + s + t) * c, full, mask), d1, acc[t][1]);
            }
        }
        for (; o <= l; o++) {
            __m256 d0 = load8(dyrow + o * c, full, mask);
#pragma GCC unroll 4
            for (int t = 0; t < G; t++)
                acc[t][0] = _mm256_fmadd_ps(load8(xrow + (o * s + shift + t) * c, full, mask), d0,
                                            acc[t][0]);
        }
        for (int side = 0; side < 2; side++) {
            int b0 = side ? l + 1 : lo, b1 = side ? hi : f - 1;
            for (o = b0; o <= b1; o++) {
                __m256 d0 = load8(dyrow + o * c, full, mask);
#pragma GCC unroll 4
                for (int t = 0; t < G; t++)
                    if (o >= first[t] && o <= last[t])
                        acc[t][1] = _mm256_fmadd_ps(
                            load8(xrow + (o * s + shift + t) * c, full, mask), d0, acc[t][1]);
            }
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < G; t++)
        add_store8(dwt + (size_t)(ki * g->kw + kj0 + t) * c + cb,
                   _mm256_add_ps(acc[t][0], acc[t][1]), full, mask);
}

INLINE void weight_block(const frost_dw_geom *g, int64_t r0, int64_t r1, const float *x,
                         const float *dy, float *dwt, int cb, bool full, __m256i mask)
{
    for (int ki = 0; ki < g->kh; ki++)
        for (int kj0 = 0; kj0 < g->kw; kj0 += 4) {
            int left = g->kw - kj0;
            if (left >= 4)
                weight_taps(g, r0, r1, ki, kj0, 4, x, dy, dwt, cb, full, mask);
            else if (left == 3)
                weight_taps(g, r0, r1, ki, kj0, 3, x, dy, dwt, cb, full, mask);
            else if (left == 2)
                weight_taps(g, r0, r1, ki, kj0, 2, x, dy, dwt, cb, full, mask);
            else
                weight_taps(g, r0, r1, ki, kj0, 1, x, dy, dwt, cb, full, mask);
        }
}

void frost_dw_backward_weight_rows_avx2(const frost_dw_geom *g, int64_t r0, int64_t r1,
                                        const float *x, const float *dy, float *dwt)
{
    /* Blocks of ~256 outputs: enough to amortise the set-up of each (channel
     * block, tap group) pass, few enough that the block's rows of x and dy stay
     * in L2 while the channel blocks sweep them. */
    const int64_t block = g->ow >= 256 ? 1 : 256 / g->ow;
    for (int64_t b0 = r0; b0 < r1; b0 += block) {
        int64_t b1 = b0 + block < r1 ? b0 + block : r1;
        int cb = 0;
        for (; cb + 8 <= g->c; cb += 8)
            weight_block(g, b0, b1, x, dy, dwt, cb, true, _mm256_setzero_si256());
        if (cb < g->c)
            weight_block(g, b0, b1, x, dy, dwt, cb, false, tail_mask(g->c - cb));
    }
}
