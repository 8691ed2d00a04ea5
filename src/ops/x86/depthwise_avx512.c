/*
 * Depthwise convolution row kernels, AVX-512 (compiled with -mavx512f/vl/bw/dq and
 * only called when frost_cpu_has_avx512f() says so). Same contract as the _ref
 * kernels in ../depthwise.c, which the tests compare these against, and the same
 * structure as x86/depthwise_avx2.c with 16 channels per zmm register: the last
 * partial block of channels loads with a zeroing lane mask (masked-off lanes never
 * touch memory, so no read past the tensor) and stores through the same mask.
 * Outputs that share the same valid taps are computed 8 or 4 at a time, each
 * weight load feeding that many FMAs into independent accumulators.
 */
#include "ops/depthwise.h"

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ops/act_def.h"
#include "ops/x86/act_avx512.h"

#define INLINE static inline __attribute__((always_inline))

/* Lanes [0, valid) set. */
static __mmask16 tail_mask(int valid) { return (__mmask16)((1u << valid) - 1u); }

/* `full` is a compile-time constant at every call site after inlining, so the
 * full-block loops carry no mask. */
INLINE __m512 load16(const float *p, bool full, __mmask16 mask)
{
    return full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(mask, p);
}

INLINE void store16(float *p, __m512 v, bool full, __mmask16 mask)
{
    if (full)
        _mm512_storeu_ps(p, v);
    else
        _mm512_mask_storeu_ps(p, mask, v);
}

INLINE void add_store16(float *p, __m512 v, bool full, __mmask16 mask)
{
    store16(p, _mm512_add_ps(load16(p, full, mask), v), full, mask);
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
 * [cb, cb+16): dst = init + sum over taps of src * w, where init is the bias
 * (forward) or dst itself (backward data accumulates). */
INLINE void tile_block(const tile_plan *t, int count, bool accumulate, const float *bias, int cb,
                       bool full, __mmask16 mask)
{
    const float *src = t->src + cb, *w = t->w + cb;
    __m512 a[8];
    __m512 init = bias ? load16(bias + cb, full, mask) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int q = 0; q < count; q++)
        a[q] = accumulate ? load16(t->dst + q * t->dst_next + cb, full, mask) : init;
    for (int i = 0; i < t->rows; i++) {
        for (int j = 0; j < t->cols; j++) {
            const ptrdiff_t so = i * t->src_row + j * t->src_col;
            __m512 wv = load16(w + (i * t->w_row + j * t->w_col), full, mask);
#pragma GCC unroll 8
            for (int q = 0; q < count; q++)
                a[q] = _mm512_fmadd_ps(load16(src + (so + q * t->src_next), full, mask), wv, a[q]);
        }
    }
#pragma GCC unroll 8
    for (int q = 0; q < count; q++) {
        float *d = t->dst + q * t->dst_next + cb;
        if (t->stream && full && ((uintptr_t)d & 63) == 0)
            _mm512_stream_ps(d, a[q]);
        else
            store16(d, a[q], full, mask);
    }
}

INLINE void tile_run(const tile_plan *t, int c, int count, bool accumulate, const float *bias)
{
    int cb = 0;
    for (; cb + 16 <= c; cb += 16)
        tile_block(t, count, accumulate, bias, cb, true, (__mmask16)0);
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

/* Outputs [ow, ow1) of one output row through the generic tiles. */
static void forward_cols(const frost_dw_geom *g, int n, int oh, const float *x, const float *wt,
                         const float *b, float *yrow, int ow, int ow1)
{
    const int c = g->c, s = g->stride;
    tap_box box;
    bool rows_ok = frost_dw_window_taps(oh, g->kh, s, g->pad_h, g->h, &box.ki0, &box.ki1);
    while (ow < ow1) {
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
            if (ow + try <= ow1 &&
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
}

/* Stores one output vector, activated; `act` is FROST_ACT_IDENTITY for training. */
INLINE void put16(const frost_dw_geom *g, frost_act_kind act, float *d, __m512 v, bool full,
                  __mmask16 mask)
{
    v = frost_activate_zmm(act, v);
    if (g->stream_output && full && ((uintptr_t)d & 63) == 0)
        _mm512_stream_ps(d, v);
    else
        store16(d, v, full, mask);
}

/* G consecutive outputs of a K x K filter with stride S whose window columns all lie
 * inside the input (window rows ki0..ki1 valid), one block of 16 channels: G independent
 * accumulators. src is the first output's window at its first valid row. The loops walk
 * each window row's input pixels once, feeding every (output, tap) pair that reads a
 * pixel (up to K of them at stride 1). K, S and G are constants after inlining: the
 * loops unroll completely (a row outside ki0..ki1 is one predictable branch), the
 * weights stay in registers, the pointers step by c so no offset needs a register of
 * its own (the generic tiles keep theirs on the stack), and each pixel is loaded once
 * (a 3 x 3 stride-1 window row of 8 outputs: 10 loads for 24 FMAs). */
INLINE void window_outputs(int K, int S, int G, const frost_dw_geom *g, frost_act_kind act,
                           const float *src, const __m512 *wv, __m512 init, int ki0, int ki1,
                           float *dst, bool full, __mmask16 mask)
{
    const ptrdiff_t c = g->c, row = (ptrdiff_t)g->w * c;
    /* fewer than 4 outputs: odd window rows on a second chain per output, so the FMAs
     * do not wait on each other's results */
    const bool split = G < 4;
    __m512 a[8], e[8];
#pragma GCC unroll 8
    for (int q = 0; q < G; q++) {
        a[q] = init;
        e[q] = _mm512_setzero_ps();
    }
    const float *r = src;
#pragma GCC unroll 5
    for (int i = 0; i < K; i++) {
        if (i < ki0 || i > ki1)
            continue;
        __m512 *acc = split && (i & 1) ? e : a;
        const float *px = r;
#pragma GCC unroll 19
        for (int m = 0; m < (G - 1) * S + K; m++, px += c) {
            __m512 v = load16(px, full, mask);
            /* an empty asm that "changes" v: gcc must keep the loaded pixel in a
             * register instead of folding a fresh load into each of its FMAs */
            __asm__("" : "+v"(v));
#pragma GCC unroll 5
            for (int j = 0; j < K; j++)
                if (m >= j && (m - j) % S == 0 && (m - j) / S < G)
                    acc[(m - j) / S] = _mm512_fmadd_ps(v, wv[i * K + j], acc[(m - j) / S]);
        }
        r += row;
    }
#pragma GCC unroll 8
    for (int q = 0; q < G; q++, dst += c)
        put16(g, act, dst, split ? _mm512_add_ps(a[q], e[q]) : a[q], full, mask);
}

/* One output whose window is cut by the left or right border: taps (ki0..ki1) x
 * (kj0..kj1) valid; src is the pixel of tap (ki0, kj0). */
INLINE void border_output(int K, const frost_dw_geom *g, frost_act_kind act, const float *src,
                          const __m512 *wv, __m512 init, int ki0, int ki1, int kj0, int kj1,
                          float *dst, bool full, __mmask16 mask)
{
    const ptrdiff_t c = g->c, row = (ptrdiff_t)g->w * c;
    /* even and odd window rows on two chains: one output alone would wait for each
     * FMA's result before issuing the next */
    __m512 a[2] = {init, _mm512_setzero_ps()};
    const float *r = src;
#pragma GCC unroll 5
    for (int i = 0; i < K; i++) {
        if (i < ki0 || i > ki1)
            continue;
        const float *px = r;
#pragma GCC unroll 5
        for (int j = 0; j < K; j++) {
            if (j < kj0 || j > kj1)
                continue;
            a[i & 1] = _mm512_fmadd_ps(load16(px, full, mask), wv[i * K + j], a[i & 1]);
            px += c;
        }
        r += row;
    }
    put16(g, act, dst, _mm512_add_ps(a[0], a[1]), full, mask);
}

/* Which part of an output row of a K x K depthwise filter reads real input. */
typedef struct {
    bool rows_ok; /* some window row lies inside the input */
    int ki0, ki1; /* the window rows that do */
    int o0, o1;   /* outputs [o0, o1) whose window columns all do (o0 >= o1: none) */
} row_span;

static row_span span_of_row(const frost_dw_geom *g, int oh)
{
    const int s = g->stride;
    row_span sp = {.o0 = 0, .o1 = 0};
    sp.rows_ok = frost_dw_window_taps(oh, g->kh, s, g->pad_h, g->h, &sp.ki0, &sp.ki1);
    if (g->w >= g->kw) {
        sp.o0 = (g->pad_w + s - 1) / s;           /* first ow with ow*s - pad_w >= 0 */
        int last = (g->w - g->kw + g->pad_w) / s; /* last ow with ow*s - pad_w + kw <= w */
        sp.o1 = last + 1 < g->ow ? last + 1 : g->ow;
    }
    return sp;
}

/* Output row oh, channels [cb, cb+16), for K x K filters at stride S: the weights are
 * loaded once for the row, its interior outputs go 8, 4 or 1 at a time, the border
 * outputs one by one with only their valid taps. */
INLINE void row_block(int K, int S, const frost_dw_geom *g, frost_act_kind act, int n, int oh,
                      const row_span *sp, const float *x, const float *wt, const float *b,
                      float *yrow, int cb, bool full, __mmask16 mask)
{
    const ptrdiff_t c = g->c;
    const __m512 init = b ? load16(b + cb, full, mask) : _mm512_setzero_ps();
    float *d = yrow + cb;
    if (!sp->rows_ok) { /* every window is all padding: just the bias */
        for (int o = 0; o < g->ow; o++)
            put16(g, act, d + (ptrdiff_t)o * c, init, full, mask);
        return;
    }
    __m512 wv[K * K];
#pragma GCC unroll 25
    for (int t = 0; t < K * K; t++)
        wv[t] = load16(wt + (size_t)t * c + cb, full, mask);
    /* input row of the first valid window row, column 0 */
    const float *xr = pixel(x, g->h, g->w, g->c, n, oh * S - g->pad_h + sp->ki0, 0) + cb;
    int o = 0;
    while (o < g->ow) {
        if (o == sp->o0 && sp->o0 < sp->o1) {
            const float *src = xr + (ptrdiff_t)(o * S - g->pad_w) * c;
            for (; o + 8 <= sp->o1; o += 8, src += 8 * S * c)
                window_outputs(K, S, 8, g, act, src, wv, init, sp->ki0, sp->ki1,
                               d + (ptrdiff_t)o * c, full, mask);
            if (o + 4 <= sp->o1) {
                window_outputs(K, S, 4, g, act, src, wv, init, sp->ki0, sp->ki1,
                               d + (ptrdiff_t)o * c, full, mask);
                o += 4, src += 4 * S * c;
            }
            for (; o < sp->o1; o++, src += S * c)
                window_outputs(K, S, 1, g, act, src, wv, init, sp->ki0, sp->ki1,
                               d + (ptrdiff_t)o * c, full, mask);
            continue;
        }
        int kj0, kj1;
        if (frost_dw_window_taps(o, K, S, g->pad_w, g->w, &kj0, &kj1))
            border_output(K, g, act, xr + (ptrdiff_t)(o * S - g->pad_w + kj0) * c, wv, init,
                          sp->ki0, sp->ki1, kj0, kj1, d + (ptrdiff_t)o * c, full, mask);
        else
            put16(g, act, d + (ptrdiff_t)o * c, init, full, mask);
        o++;
    }
}

INLINE void row_blocks(int K, int S, const frost_dw_geom *g, frost_act_kind act, int n, int oh,
                       const float *x, const float *wt, const float *b, float *yrow)
{
    const row_span sp = span_of_row(g, oh);
    int cb = 0;
    for (; cb + 16 <= g->c; cb += 16)
        row_block(K, S, g, act, n, oh, &sp, x, wt, b, yrow, cb, true, 0);
    if (cb < g->c)
        row_block(K, S, g, act, n, oh, &sp, x, wt, b, yrow, cb, false, tail_mask(g->c - cb));
}

/* The generic tiles store plain sums: the activation then goes over the row. */
static void activate_row(frost_act_kind act, float *row, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(row + i, frost_activate_zmm(act, _mm512_loadu_ps(row + i)));
    if (i < n) {
        const __mmask16 m = tail_mask((int)(n - i));
        _mm512_mask_storeu_ps(row + i, m,
                              frost_activate_zmm(act, _mm512_maskz_loadu_ps(m, row + i)));
    }
}

void frost_dw_forward_row_act_avx512(const frost_dw_geom *g, int n, int oh, const float *x,
                                     const float *wt, const float *b, frost_act_kind act, float *y)
{
    float *yrow = y + ((size_t)n * g->oh + oh) * g->ow * g->c;
    /* the common filters get the unrolled kernels; the rest the generic tiles */
    const bool square = g->kh == g->kw;
    if (square && g->kh == 3 && g->stride == 1)
        row_blocks(3, 1, g, act, n, oh, x, wt, b, yrow);
    else if (square && g->kh == 3 && g->stride == 2)
        row_blocks(3, 2, g, act, n, oh, x, wt, b, yrow);
    else if (square && g->kh == 5 && g->stride == 1)
        row_blocks(5, 1, g, act, n, oh, x, wt, b, yrow);
    else if (square && g->kh == 5 && g->stride == 2)
        row_blocks(5, 2, g, act, n, oh, x, wt, b, yrow);
    else {
        forward_cols(g, n, oh, x, wt, b, yrow, 0, g->ow);
        if (act != FROST_ACT_IDENTITY)
            activate_row(act, yrow, (int64_t)g->ow * g->c);
    }
    if (g->stream_output)
        _mm_sfence(); /* streamed stores are weakly ordered: publish them */
}

void frost_dw_forward_row_avx512(const frost_dw_geom *g, int n, int oh, const float *x,
                                 const float *wt, const float *b, float *y)
{
    frost_dw_forward_row_act_avx512(g, n, oh, x, wt, b, FROST_ACT_IDENTITY, y);
}

/* ---- backward data (gather) ---- */

/* Input columns iw, iw+s, iw+2s, ... share their taps, and for a given tap
 * their outputs are neighbours: they form the tiles here. */
void frost_dw_backward_data_row_avx512(const frost_dw_geom *g, int n, int ih, const float *dy,
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
 * channels [cb, cb+16), summed over the output rows [r0, r1) (r = n*oh + row).
 * Each dy load feeds G FMAs; over the outputs where all G taps are inside the
 * input, two outputs per step give 2G independent accumulators. */
INLINE void weight_taps(const frost_dw_geom *g, int64_t r0, int64_t r1, int ki, int kj0, int G,
                        const float *x, const float *dy, float *dwt, int cb, bool full,
                        __mmask16 mask)
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
    __m512 acc[4][2];
#pragma GCC unroll 4
    for (int t = 0; t < G; t++)
        acc[t][0] = acc[t][1] = _mm512_setzero_ps();
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
            __m512 d0 = load16(dyrow + o * c, full, mask);
            __m512 d1 = load16(dyrow + (o + 1) * c, full, mask);
            const ptrdiff_t col = o * s + shift;
#pragma GCC unroll 4
            for (int t = 0; t < G; t++) {
                acc[t][0] =
                    _mm512_fmadd_ps(load16(xrow + (col + t) * c, full, mask), d0, acc[t][0]);
                acc[t][1] =
                    _mm512_fmadd_ps(load16(xrow + (col + s + t) * c, full, mask), d1, acc[t][1]);
            }
        }
        for (; o <= l; o++) {
            __m512 d0 = load16(dyrow + o * c, full, mask);
#pragma GCC unroll 4
            for (int t = 0; t < G; t++)
                acc[t][0] = _mm512_fmadd_ps(load16(xrow + (o * s + shift + t) * c, full, mask), d0,
                                            acc[t][0]);
        }
        for (int side = 0; side < 2; side++) {
            int b0 = side ? l + 1 : lo, b1 = side ? hi : f - 1;
            for (o = b0; o <= b1; o++) {
                __m512 d0 = load16(dyrow + o * c, full, mask);
#pragma GCC unroll 4
                for (int t = 0; t < G; t++)
                    if (o >= first[t] && o <= last[t])
                        acc[t][1] = _mm512_fmadd_ps(
                            load16(xrow + (o * s + shift + t) * c, full, mask), d0, acc[t][1]);
            }
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < G; t++)
        add_store16(dwt + (size_t)(ki * g->kw + kj0 + t) * c + cb,
                    _mm512_add_ps(acc[t][0], acc[t][1]), full, mask);
}

INLINE void weight_block(const frost_dw_geom *g, int64_t r0, int64_t r1, const float *x,
                         const float *dy, float *dwt, int cb, bool full, __mmask16 mask)
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

void frost_dw_backward_weight_rows_avx512(const frost_dw_geom *g, int64_t r0, int64_t r1,
                                          const float *x, const float *dy, float *dwt)
{
    /* Blocks of ~256 outputs: enough to amortise the set-up of each (channel
     * block, tap group) pass, few enough that the block's rows of x and dy stay
     * in L2 while the channel blocks sweep them. */
    const int64_t block = g->ow >= 256 ? 1 : 256 / g->ow;
    for (int64_t b0 = r0; b0 < r1; b0 += block) {
        int64_t b1 = b0 + block < r1 ? b0 + block : r1;
        int cb = 0;
        for (; cb + 16 <= g->c; cb += 16)
            weight_block(g, b0, b1, x, dy, dwt, cb, true, (__mmask16)0);
        if (cb < g->c)
            weight_block(g, b0, b1, x, dy, dwt, cb, false, tail_mask(g->c - cb));
    }
}
