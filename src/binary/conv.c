/* Binary / ternary conv and linear drivers: the path choice, the per-pixel patch gather
 * with -1 padding, the inner counts (kernels.h) and the fused output stages. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "binary/binary.h"
#include "binary/kernels.h"
#include "core/cpu.h"

/* ---- paths ---- */

const char *frost_bin_path_name(frost_bin_path p)
{
    switch (p) {
    case FROST_BIN_REF: return "reference";
    case FROST_BIN_POPCNT: return "popcnt";
    case FROST_BIN_AVX2: return "avx2";
    case FROST_BIN_AVX512: return "avx512-vpopcntdq";
    case FROST_BIN_PATH_COUNT: break;
    }
    return "?";
}

bool frost_bin_path_available(frost_bin_path p)
{
    switch (p) {
    case FROST_BIN_REF: return true;
    /* every AVX2 CPU has POPCNT; FROST_NO_SIMD turns both off */
    case FROST_BIN_POPCNT: return frost_cpu_has_avx2() && __builtin_cpu_supports("popcnt");
    case FROST_BIN_AVX2: return frost_cpu_has_avx2();
    case FROST_BIN_AVX512: return frost_cpu_has_avx512_vpopcntdq();
    case FROST_BIN_PATH_COUNT: break;
    }
    return false;
}

frost_bin_path frost_bin_best_path(void)
{
    if (frost_bin_path_available(FROST_BIN_AVX512))
        return FROST_BIN_AVX512;
    return frost_bin_path_available(FROST_BIN_AVX2) ? FROST_BIN_AVX2 : FROST_BIN_REF;
}

static frost_status check_path(frost_bin_path p)
{
    if ((unsigned)p >= FROST_BIN_PATH_COUNT)
        return frost_fail(FROST_ERR_ARG, "binary kernels: no path %d", (int)p);
    if (!frost_bin_path_available(p))
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "binary kernels: the %s path needs instructions this CPU lacks (or "
                          "the environment turned it off)",
                          frost_bin_path_name(p));
    return FROST_OK;
}

frost_bin_dots_fn frost_bin_dots_for(frost_bin_path p)
{
    switch (p) {
    case FROST_BIN_POPCNT: return frost_bin_dots_popcnt;
    case FROST_BIN_AVX2: return frost_bin_dots_avx2;
    case FROST_BIN_AVX512: return frost_bin_dots_avx512;
    case FROST_BIN_REF:
    case FROST_BIN_PATH_COUNT: break;
    }
    return frost_bin_dots_ref;
}

uint64_t frost_bin_popcount(const uint64_t *words, long n, frost_bin_path path)
{
    if (n <= 0 || !frost_bin_path_available(path))
        return n <= 0 ? 0 : frost_bin_popcount_ref(words, n);
    switch (path) {
    case FROST_BIN_POPCNT: return frost_bin_popcount_popcnt(words, n);
    case FROST_BIN_AVX2: return frost_bin_popcount_avx2(words, n);
    case FROST_BIN_AVX512: return frost_bin_popcount_avx512(words, n);
    case FROST_BIN_REF:
    case FROST_BIN_PATH_COUNT: break;
    }
    return frost_bin_popcount_ref(words, n);
}

/* ---- geometry ---- */

frost_status frost_bin_conv_geom_init(frost_bin_conv_geom *g, const frost_bin_weights *w)
{
    if (!g || !w || !w->bits)
        return frost_fail(FROST_ERR_ARG, "binary conv: no geometry or weights");
    if (g->n < 1 || g->h < 1 || g->w < 1 || g->stride < 1 || g->pad < 0 || g->pad >= w->kh ||
        g->pad >= w->kw)
        return frost_fail(FROST_ERR_ARG,
                          "binary conv: input %dx%dx%d, stride %d, pad %d (kernel %dx%d)", g->n,
                          g->h, g->w, g->stride, g->pad, w->kh, w->kw);
    if (g->h + 2 * g->pad < w->kh || g->w + 2 * g->pad < w->kw)
        return frost_fail(FROST_ERR_SHAPE,
                          "binary conv: %dx%d kernel larger than the padded %dx%d input", w->kh,
                          w->kw, g->h + 2 * g->pad, g->w + 2 * g->pad);
    g->oh = (g->h + 2 * g->pad - w->kh) / g->stride + 1;
    g->ow = (g->w + 2 * g->pad - w->kw) / g->stride + 1;
    return FROST_OK;
}

/* ---- output stages ---- */

static frost_status check_output(const frost_bin_output *out, const void *y)
{
    if (!out || !y)
        return frost_fail(FROST_ERR_ARG, "binary kernels: no output");
    if ((unsigned)out->kind > FROST_BIN_OUT_BITS)
        return frost_fail(FROST_ERR_ARG, "binary kernels: no output kind %d", (int)out->kind);
    if (out->kind == FROST_BIN_OUT_FLOAT && !out->alpha)
        return frost_fail(FROST_ERR_ARG, "binary kernels: float output without alpha");
    if (out->kind == FROST_BIN_OUT_BITS && !out->thresh)
        return frost_fail(FROST_ERR_ARG, "binary kernels: bit output without thresholds");
    return FROST_OK;
}

/* Writes output pixel p from the o dot products: counts, alpha * dot + bias, or the
 * thresholded sign bits (bit 1 = +1, tail zero); simd: the AVX2 versions (same results). */
static void emit_pixel(const frost_bin_output *out, const int32_t *dot, int o, long p, void *y,
                       bool simd)
{
    switch (out->kind) {
    case FROST_BIN_OUT_COUNTS: memcpy((int32_t *)y + p * o, dot, sizeof *dot * (size_t)o); break;
    case FROST_BIN_OUT_FLOAT: {
        float *dst = (float *)y + p * o;
        if (simd) {
            frost_bin_emit_float_avx2(dot, out->alpha, out->bias, o, dst);
            break;
        }
        for (int j = 0; j < o; j++)
            dst[j] = out->alpha[j] * (float)dot[j] + (out->bias ? out->bias[j] : 0.0f);
        break;
    }
    case FROST_BIN_OUT_BITS: { /* many pixels: conv_rows compares with bit_cuts instead */
        int words = frost_bin_words(o);
        uint64_t *dst = (uint64_t *)y + p * words;
        if (simd) {
            frost_bin_emit_bits_avx2(dot, out->thresh, o, dst);
            break;
        }
        memset(dst, 0, sizeof *dst * (size_t)words);
        for (int j = 0; j < o; j++) {
            const frost_bin_thresh *t = &out->thresh[j];
            int32_t v = t->flip ? -dot[j] : dot[j];
            dst[j / 64] |= (uint64_t)(v >= t->thr) << (j % 64);
        }
        break;
    }
    }
}

/* ---- binary activations ---- */

/* Writes a row of bits word by word, the unfinished word held in a register: each word is
 * stored once (OR-ing into memory made a chain of store-to-load waits per tap). */
typedef struct bit_writer {
    uint64_t *dst, cur;
    int pos; /* bits of cur already filled, 0..63 */
} bit_writer;

/* Appends the low b bits of v (1 <= b <= 64; v's bits from b on are zero). */
static inline void put_bits(bit_writer *bw, uint64_t v, int b)
{
    bw->cur |= v << bw->pos;
    int end = bw->pos + b;
    if (end < 64) {
        bw->pos = end;
        return;
    }
    *bw->dst++ = bw->cur;
    bw->cur = bw->pos ? v >> (64 - bw->pos) : 0;
    bw->pos = end - 64;
}

/* Appends one packed pixel's c bits, or c zero bits (-1 values) when src is NULL. */
static inline void put_pixel(bit_writer *bw, const uint64_t *src, int c)
{
    for (int i = 0; 64 * i < c; i++) {
        int b = c - 64 * i < 64 ? c - 64 * i : 64;
        put_bits(bw, src ? src[i] : 0, b);
    }
}

static inline void copy_words(uint64_t *d, const uint64_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) /* a few words: a loop beats a memcpy call */
        d[i] = src ? src[i] : 0;
}

/* gather_patch for c a multiple of 64: every tap is whole words, and the kw taps of one
 * kernel row are adjacent input pixels, so inside the image each kernel row is one run of
 * kw * tap_words words (no shifting: the bit writer cost as much as the counts on 64-channel
 * layers). */
static void gather_whole_words(const frost_bin_conv_geom *g, const frost_bin_weights *w,
                               const uint64_t *img, int iy0, int ix0, uint64_t *d)
{
    size_t tw = (size_t)w->tap_words, span = (size_t)w->kw * tw;
    bool cols_in = ix0 >= 0 && ix0 + w->kw <= g->w;
    for (int ky = 0; ky < w->kh; ky++, d += span) {
        int iy = iy0 + ky;
        if (iy < 0 || iy >= g->h) {
            copy_words(d, NULL, span);
            continue;
        }
        const uint64_t *row = img + (size_t)iy * g->w * tw;
        if (cols_in)
            copy_words(d, row + (size_t)ix0 * tw, span);
        else
            for (int kx = 0; kx < w->kw; kx++) {
                int ix = ix0 + kx;
                copy_words(d + kx * tw, ix < 0 || ix >= g->w ? NULL : row + (size_t)ix * tw, tw);
            }
    }
}

/* The row of output pixel (oy, ox), laid out like a weight row: the kh*kw taps' c bits
 * back to back, zeros (-1) where a tap falls in the padding. Returns the input pixel
 * itself when the row is one unpadded pixel (1x1 kernels). */
static const uint64_t *gather_patch(const frost_bin_conv_geom *g, const frost_bin_weights *w,
                                    const uint64_t *img, int oy, int ox, uint64_t *patch)
{
    int tw = w->tap_words, iy0 = oy * g->stride - g->pad, ix0 = ox * g->stride - g->pad;
    if (w->kh == 1 && w->kw == 1 && g->pad == 0)
        return img + ((size_t)iy0 * g->w + ix0) * tw;
    if (w->c % 64 == 0) {
        gather_whole_words(g, w, img, iy0, ix0, patch);
        return patch;
    }
    bit_writer bw = {.dst = patch, .cur = 0, .pos = 0};
    for (int ky = 0; ky < w->kh; ky++) {
        int iy = iy0 + ky;
        bool row_in = iy >= 0 && iy < g->h;
        for (int kx = 0; kx < w->kw; kx++) {
            int ix = ix0 + kx;
            bool in = row_in && ix >= 0 && ix < g->w;
            put_pixel(&bw, in ? img + ((size_t)iy * g->w + ix) * tw : NULL, w->c);
        }
    }
    if (bw.pos)
        *bw.dst = bw.cur;
    return patch;
}

/* Threads for a layer of `work` word operations: one for small layers (waking a second
 * thread costs more than it saves), never more than the output rows. */
static int threads_for(double work, int rows)
{
    int threads = work < 50000.0 ? 1 : frost_get_threads();
    threads = threads < 1 ? 1 : threads;
    return threads > rows ? rows : threads;
}

static int32_t clamp_to_i32(int64_t v)
{
    return v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v;
}

/* The thresholds as one signed compare per channel: (flip ? -dot : dot) >= thr is
 * dot > thr - 1 without flip and NOT(dot > -thr) with it, so bit = (dot > cut) XOR inv with
 * cut = thr - 1 or -thr (clamped to int32, exact for every |dot| < 2^31 - 1) and inv = 0 or
 * all ones. Channels from o to `padded` get cut = inv = 0 (their bits are cleared). */
static void bit_cuts(const frost_bin_thresh *t, int o, int padded, int32_t *cut, int32_t *inv)
{
    for (int j = 0; j < padded; j++) {
        bool flip = j < o && t[j].flip;
        cut[j] = j >= o ? 0 : clamp_to_i32(flip ? -(int64_t)t[j].thr : (int64_t)t[j].thr - 1);
        inv[j] = flip ? -1 : 0;
    }
}

#define LOW_NIBBLES UINT64_C(0x0f0f0f0f0f0f0f0f)

/* The nibble planes of frost_bin_dots_nibbles_avx2 (kernels.h) from the blocked weight bits:
 * each group of 8 words (one word k of a block) becomes its 8 low-nibble words and then its
 * 8 high-nibble words. */
void frost_bin_split_nibbles(const uint64_t *bits, size_t groups, uint64_t *wn)
{
    for (size_t gi = 0; gi < groups; gi++)
        for (int i = 0; i < FROST_BIN_BLOCK; i++) {
            uint64_t v = bits[gi * FROST_BIN_BLOCK + i];
            wn[gi * 2 * FROST_BIN_BLOCK + i] = v & LOW_NIBBLES;
            wn[gi * 2 * FROST_BIN_BLOCK + FROST_BIN_BLOCK + i] = (v >> 4) & LOW_NIBBLES;
        }
}

/* Nibble-split weights for this call, or NULL for the plain kernels: AVX2 binary (unmasked)
 * weights, enough output pixels to repay the split (it costs about two pixels' reads of the
 * weights), and split weights within half of the 32 KiB L1 data cache. The split kernel
 * loads twice the bytes for 3/4 of the vector operations: from L1 it ran a 3x3 64-channel
 * layer 12% faster on the Zen 3, from L2 (128 and 256 channels) 5-13% slower. */
static uint64_t *nibble_weights(const frost_bin_weights *w, frost_bin_path path, long pixels)
{
    size_t groups = (size_t)w->blocks * w->k_words;
    if (path != FROST_BIN_AVX2 || w->mask || pixels < 16 ||
        groups * 2 * FROST_BIN_BLOCK * sizeof(uint64_t) > 16 * 1024)
        return NULL;
    uint64_t *wn = malloc(groups * 2 * FROST_BIN_BLOCK * sizeof *wn);
    if (wn) /* no memory: the plain kernels need none */
        frost_bin_split_nibbles(w->bits, groups, wn);
    return wn;
}

/* Output rows [r0, r1) (row = image * oh + oy) of a binary conv; false when out of memory.
 * Int32 output with whole blocks of channels is written in place, without the copy. wn:
 * nibble-split weights (nibble_weights) or NULL. */
static bool conv_rows(const frost_bin_conv_geom *g, const uint64_t *x, const frost_bin_weights *w,
                      const uint64_t *wn, const frost_bin_output *out, void *y, frost_bin_path path,
                      int r0, int r1)
{
    int padded = w->blocks * FROST_BIN_BLOCK;
    uint64_t *patch = malloc(sizeof *patch * (size_t)w->k_words * 3), *xn = patch + w->k_words;
    int32_t *dot = malloc(sizeof *dot * (size_t)padded * 3), *cut = dot + padded,
            *inv = cut + padded;
    bool ok = patch && dot;
    bool in_place = out->kind == FROST_BIN_OUT_COUNTS && w->o % FROST_BIN_BLOCK == 0;
    bool simd = path == FROST_BIN_AVX2 || path == FROST_BIN_AVX512;
    /* the cuts cost about as much as one pixel's bit stage: worth it from a few pixels on
     * (a linear layer at batch 1 compares with the thresholds directly) */
    bool simd_bits = simd && out->kind == FROST_BIN_OUT_BITS && (long)(r1 - r0) * g->ow >= 8;
    int out_words = frost_bin_words(w->o);
    if (ok && simd_bits)
        bit_cuts(out->thresh, w->o, padded, cut, inv);
    frost_bin_dots_fn dots = frost_bin_dots_for(path);
    size_t image_words = (size_t)g->h * g->w * w->tap_words;
    for (int r = r0; ok && r < r1; r++) {
        int b = r / g->oh, oy = r % g->oh;
        for (int ox = 0; ox < g->ow; ox++) {
            long p = (long)r * g->ow + ox;
            const uint64_t *px = gather_patch(g, w, x + b * image_words, oy, ox, patch);
            int32_t *d = in_place ? (int32_t *)y + p * w->o : dot;
            if (wn) {
                for (int k = 0; k < w->k_words; k++) {
                    xn[2 * k] = px[k] & LOW_NIBBLES;
                    xn[2 * k + 1] = (px[k] >> 4) & LOW_NIBBLES;
                }
                frost_bin_dots_nibbles_avx2(xn, wn, w->k_words, w->blocks, w->base, d);
            } else {
                dots(px, w->bits, w->mask, w->k_words, w->blocks, w->base, d);
            }
            if (simd_bits)
                frost_bin_emit_bits_cut_avx2(d, cut, inv, w->o, (uint64_t *)y + p * out_words);
            else if (!in_place)
                emit_pixel(out, d, w->o, p, y, simd);
        }
    }
    free(patch), free(dot);
    return ok;
}

frost_status frost_bin_conv(const frost_bin_conv_geom *g, const uint64_t *x,
                            const frost_bin_weights *w, const frost_bin_output *out, void *y,
                            frost_bin_path path)
{
    frost_bin_conv_geom geom = *g;
    frost_status s = check_path(path);
    if (s == FROST_OK)
        s = frost_bin_conv_geom_init(&geom, w);
    if (s == FROST_OK)
        s = check_output(out, y);
    if (s != FROST_OK)
        return s;
    if (!x)
        return frost_fail(FROST_ERR_ARG, "binary conv: no input");
    int rows = geom.n * geom.oh;
    int threads = threads_for((double)rows * geom.ow * w->blocks * w->k_words, rows);
    uint64_t *wn = nibble_weights(w, path, (long)rows * geom.ow);
    bool ok = true;
#pragma omp parallel num_threads(threads) reduction(&& : ok)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        ok = conv_rows(&geom, x, w, wn, out, y, path, (int)((int64_t)rows * t / nt),
                       (int)((int64_t)rows * (t + 1) / nt));
    }
    free(wn);
    return ok ? FROST_OK : frost_fail(FROST_ERR_NOMEM, "binary conv: out of memory");
}

frost_status frost_bin_linear(int n, const uint64_t *x, const frost_bin_weights *w,
                              const frost_bin_output *out, void *y, frost_bin_path path)
{
    if (!w || w->kh != 1 || w->kw != 1)
        return frost_fail(FROST_ERR_ARG, "binary linear: weights must be packed with kh = kw = 1");
    frost_bin_conv_geom g = {.n = n, .h = 1, .w = 1, .stride = 1, .pad = 0};
    return frost_bin_conv(&g, x, w, out, y, path);
}

/* ---- ternary weights x int8 activations ---- */

/* The int8 patch of output pixel (oy, ox) as uint8 (x + 128), pad_value where a tap falls
 * in the padding, zeros past kh*kw*c (where the weights are zero too). */
static void gather_s8_patch(const frost_bin_conv_geom *g, const frost_bin_weights *w,
                            const int8_t *img, int8_t pad_value, int oy, int ox, uint8_t *patch)
{
    int c = w->c, iy0 = oy * g->stride - g->pad, ix0 = ox * g->stride - g->pad;
    for (int ky = 0; ky < w->kh; ky++)
        for (int kx = 0; kx < w->kw; kx++) {
            int iy = iy0 + ky, ix = ix0 + kx;
            uint8_t *dst = patch + (ky * w->kw + kx) * c;
            if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) {
                memset(dst, (uint8_t)pad_value ^ 0x80, (size_t)c);
                continue;
            }
            const int8_t *src = img + ((size_t)iy * g->w + ix) * c;
            for (int ch = 0; ch < c; ch++) /* x + 128 as uint8: flip the sign bit */
                dst[ch] = (uint8_t)src[ch] ^ 0x80;
        }
    int used = w->kh * w->kw * c;
    memset(patch + used, 0, (size_t)(w->s8_stride - used));
}

/* Output rows [r0, r1) of a ternary x int8 conv; false when out of memory. */
static bool ternary_s8_rows(const frost_bin_conv_geom *g, const int8_t *x, int8_t pad_value,
                            const frost_bin_weights *w, int32_t *y, bool avx2, int r0, int r1)
{
    uint8_t *patch = malloc((size_t)w->s8_stride);
    size_t image = (size_t)g->h * g->w * w->c;
    for (int r = r0; patch && r < r1; r++) {
        int b = r / g->oh, oy = r % g->oh;
        for (int ox = 0; ox < g->ow; ox++) {
            gather_s8_patch(g, w, x + b * image, pad_value, oy, ox, patch);
            int32_t *dst = y + ((size_t)r * g->ow + ox) * w->o;
            if (avx2)
                frost_bin_s8dot_avx2(patch, w->s8, w->s8_stride, w->o, dst);
            else
                frost_bin_s8dot_ref(patch, w->s8, w->s8_stride, w->o, dst);
            /* sum w * (x + 128) = sum w * x + 128 * sum w */
            for (int j = 0; j < w->o; j++)
                dst[j] -= 128 * w->s8_sum[j];
        }
    }
    bool ok = patch != NULL;
    free(patch);
    return ok;
}

frost_status frost_bin_conv_ternary_s8(const frost_bin_conv_geom *g, const int8_t *x,
                                       int8_t pad_value, const frost_bin_weights *w, int32_t *y,
                                       frost_bin_path path)
{
    frost_bin_conv_geom geom = *g;
    frost_status s = check_path(path);
    if (s == FROST_OK)
        s = frost_bin_conv_geom_init(&geom, w);
    if (s != FROST_OK)
        return s;
    if (!w->s8 || !x || !y)
        return frost_fail(FROST_ERR_ARG,
                          "ternary int8 conv: needs ternary weights, input and output");
    bool avx2 = path == FROST_BIN_AVX2 || path == FROST_BIN_AVX512;
    int rows = geom.n * geom.oh;
    int threads = threads_for((double)rows * geom.ow * w->o * w->s8_stride / 64.0, rows);
    bool ok = true;
#pragma omp parallel num_threads(threads) reduction(&& : ok)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        ok = ternary_s8_rows(&geom, x, pad_value, w, y, avx2, (int)((int64_t)rows * t / nt),
                             (int)((int64_t)rows * (t + 1) / nt));
    }
    return ok ? FROST_OK : frost_fail(FROST_ERR_NOMEM, "ternary int8 conv: out of memory");
}

/* ---- BN + sign ---- */

void frost_bin_bn_affine(float alpha, float bias, float gamma, float beta, float mean, float var,
                         float eps, float *s, float *t)
{
    float inv = gamma / sqrtf(var + eps);
    *s = inv * alpha;
    *t = inv * (bias - mean) + beta;
}

/* The documented float expression; `volatile` keeps the product rounded to float before the
 * sum whatever the compiler's contraction settings. */
static bool plus_at(float s, float t, int32_t d)
{
    volatile float prod = s * (float)d;
    return prod + t >= 0.0f;
}

static int32_t clamp_i32(double v, int32_t lo, int32_t hi)
{
    if (!(v >= lo)) /* NaN goes low; the walks below correct it */
        return lo;
    return v > hi ? hi : (int32_t)v;
}

frost_bin_thresh frost_bin_threshold(float s, float t, int n)
{
    frost_bin_thresh r = {.thr = n + 1, .flip = 0}; /* never +1 */
    if (isnan(s) || isnan(t))
        return r;
    if (s == 0.0f) {
        if (plus_at(s, t, 0))
            r.thr = -n; /* always +1 */
        return r;
    }
    if (s > 0.0f) {
        /* plus_at is non-decreasing in d: the smallest d in [-n, n + 1] where it holds */
        int32_t d = clamp_i32(ceil(-(double)t / s), -n, n + 1);
        while (d > -n && plus_at(s, t, d - 1))
            d--;
        while (d <= n && !plus_at(s, t, d))
            d++;
        r.thr = d;
        return r;
    }
    /* s < 0: non-increasing, the largest d in [-n - 1, n] where it holds; bit = dot <= d */
    int32_t d = clamp_i32(floor(-(double)t / s), -n - 1, n);
    while (d < n && plus_at(s, t, d + 1))
        d++;
    while (d >= -n && !plus_at(s, t, d))
        d--;
    r.thr = -d;
    r.flip = 1;
    return r;
}
