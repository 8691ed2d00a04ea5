/*
 * int8 depthwise convolution (AVX2), NHWC, 16 channels at a time. Two taps' activations
 * are interleaved as int16 (unpacklo/hi) and multiplied by the two taps' weights with
 * vpmaddwd, giving x0*w0 + x1*w1 per channel in int32 (exact). The unpack works per
 * 128-bit lane, so the "lo" accumulator holds channels 0-3 and 8-11 and "hi" 4-7 and
 * 12-15; weights, bias and multipliers are packed in that order, and packs_epi32(lo, hi)
 * puts the results back in channel order.
 *
 * Packed, per block of 16 channels: for each tap pair, 16 int16 for "lo" then 16 for
 * "hi" (each channel's (w[t0], w[t1])); then bias_eff and the requant constants
 * (requant_avx2.h) as 16 int32 each, in lo/hi order.
 *
 * A last block of 8 or fewer channels (c = 24, 40, 120, ...) is packed in channel order
 * instead: per tap pair 16 int16 = channels 0-7 as (w[t0], w[t1]), then 16 zeros; bias
 * and constants for lanes 0-7 = channels 0-7. Its kernel interleaves the two taps' bytes
 * (punpcklbw) and widens once: one multiply-add per pair for its 8 channels, one 8-lane
 * requantization, where the 16-channel kernel would do twice the work on zeros.
 */
#include <string.h>

#include "int8/kernels.h"
#include "int8/x86/requant_avx2.h"

static int blocks16(int c) { return (c + 15) / 16; }
static int pairs(int k) { return (k * k + 1) / 2; }
/* Channel of lane i (0..7) of the lo (h = 0) or hi (h = 1) accumulator. */
static int lane_channel(int h, int i) { return (i < 4 ? i : i + 4) + 4 * h; }
/* Block b holds the last 8 or fewer channels: packed in channel order (above). */
static bool is_tail8(int c, int b) { return c - 16 * b <= 8; }

size_t frost_int8_dw_packed_bytes(int c, int k)
{
    return (size_t)blocks16(c) * (32 * 2 * (size_t)pairs(k) + 16 * 4 * (1 + FROST_RQ_ARRAYS));
}

void frost_int8_dw_pack(int c, int k, int acc_shift, const int8_t *w, const int32_t *bias_eff,
                        const int32_t *mult, const int32_t *shift, const float *fscale,
                        void *packed)
{
    int taps = k * k, np = pairs(k);
    uint8_t *p = packed;
    for (int b = 0; b < blocks16(c); b++) {
        int16_t *wp = (int16_t *)p;
        bool tail = is_tail8(c, b);
        for (int j = 0; j < np; j++)
            for (int h = 0; h < 2; h++)
                for (int i = 0; i < 8; i++)
                    for (int t = 0; t < 2; t++) {
                        int ch = tail ? (h ? c : 16 * b + i) : 16 * b + lane_channel(h, i);
                        int tap = 2 * j + t;
                        *wp++ = ch < c && tap < taps
                                    ? (int16_t)(w[(int64_t)ch * taps + tap] * (1 << acc_shift))
                                    : 0;
                    }
        int32_t *q = (int32_t *)wp, m0[16] = {0}, e[16] = {0};
        float fs[16] = {0};
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < 8; i++) {
                int ch = tail ? (h ? c : 16 * b + i) : 16 * b + lane_channel(h, i);
                int at = 8 * h + i;
                q[at] = ch < c ? bias_eff[ch] : 0;
                m0[at] = ch < c ? mult[ch] : 0;
                e[at] = ch < c ? shift[ch] : 0;
                fs[at] = ch < c && fscale ? fscale[ch] : 0.0f;
            }
        /* per 8-lane half: the odd-lane multiplier must come from the same half */
        frost_rq_pack(m0, e, fscale ? fs : NULL, 8, 8, q + 16, 16);
        frost_rq_pack(m0 + 8, e + 8, fscale ? fs + 8 : NULL, 8, 8, q + 24, 16);
        p = (uint8_t *)(q + 16 * (1 + FROST_RQ_ARRAYS));
    }
}

/* Requantizes the two accumulators of a block and stores its 16 (or nch) bytes. */
static inline __attribute__((always_inline)) void dw_store(const frost_int8_conv_args *a,
                                                           const int32_t *q, __m256i lo, __m256i hi,
                                                           uint8_t *y, int nch, const bool fp)
{
    __m256i zp = _mm256_set1_epi32(a->out_zp);
    lo = _mm256_add_epi32(frost_requant8_pre_avx2(lo, q + 16, 16, fp), zp);
    hi = _mm256_add_epi32(frost_requant8_pre_avx2(hi, q + 24, 16, fp), zp);
    __m128i v = frost_bytes16_avx2(_mm256_packs_epi32(lo, hi), _mm_set1_epi8((char)a->lo),
                                   _mm_set1_epi8((char)a->hi));
    if (nch == 16) {
        _mm_storeu_si128((__m128i *)y, v);
    } else {
        uint8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, v);
        memcpy(y, tmp, (size_t)nch);
    }
}

/* 16 activations of tap (iy, ix) as int16; outside the input they read the zero point. */
static inline __m256i load_tap(const frost_int8_conv_args *a, const uint8_t *x, int iy, int ix,
                               int c0, int nch, __m256i zp16)
{
    if (iy < 0 || iy >= a->h || ix < 0 || ix >= a->w)
        return zp16;
    const uint8_t *xp = x + ((int64_t)iy * a->w + ix) * a->cin + c0;
    if (nch == 16)
        return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)xp));
    uint8_t tmp[16] = {0};
    memcpy(tmp, xp, (size_t)nch);
    return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)tmp));
}

static void dw_pixel_block(const frost_int8_conv_args *a, const uint8_t *x, int oy, int ox, int b,
                           const int16_t *wb, uint8_t *y)
{
    int k = a->k, taps = k * k, c0 = 16 * b, nch = a->cin - c0 < 16 ? a->cin - c0 : 16;
    const int32_t *q = (const int32_t *)(wb + 32 * pairs(k));
    __m256i lo = _mm256_loadu_si256((const __m256i *)q),
            hi = _mm256_loadu_si256((const __m256i *)(q + 8));
    __m256i zp16 = _mm256_set1_epi16((int16_t)a->in_zp);
    int iy0 = oy * a->stride - a->pad, ix0 = ox * a->stride - a->pad;
    for (int j = 0; j < pairs(k); j++) {
        int t0 = 2 * j, t1 = t0 + 1 < taps ? t0 + 1 : t0;
        __m256i x0 = load_tap(a, x, iy0 + t0 / k, ix0 + t0 % k, c0, nch, zp16);
        __m256i x1 = load_tap(a, x, iy0 + t1 / k, ix0 + t1 % k, c0, nch, zp16);
        lo = _mm256_add_epi32(
            lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1),
                                  _mm256_loadu_si256((const __m256i *)(wb + 32 * j))));
        hi = _mm256_add_epi32(
            hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1),
                                  _mm256_loadu_si256((const __m256i *)(wb + 32 * j + 16))));
    }
    dw_store(a, q, lo, hi, y, nch, a->fscale != NULL);
}

static inline __m256i ld16(const uint8_t *p)
{
    return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p));
}

/* An output pixel whose window lies inside the input, 16 full channels, kernel K (a
 * constant after inlining, so the tap loop unrolls). x points at the window's top-left
 * pixel and channel block; rs is the input row stride in bytes. */
static inline __attribute__((always_inline)) void dw_interior(const frost_int8_conv_args *a,
                                                              const uint8_t *x, const int64_t *off,
                                                              const int16_t *wb, uint8_t *y,
                                                              int nch, const int K, const bool fp)
{
    const int taps = K * K;
    const int32_t *q = (const int32_t *)(wb + 32 * ((taps + 1) / 2));
    __m256i lo = _mm256_loadu_si256((const __m256i *)q),
            hi = _mm256_loadu_si256((const __m256i *)(q + 8));
#pragma GCC unroll 16
    for (int t = 0; t < taps; t += 2) {
        __m256i x0 = ld16(x + off[t]);
        __m256i x1 = t + 1 < taps ? ld16(x + off[t + 1]) : x0;
        lo = _mm256_add_epi32(
            lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1),
                                  _mm256_loadu_si256((const __m256i *)(wb + 16 * t))));
        hi = _mm256_add_epi32(
            hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1),
                                  _mm256_loadu_si256((const __m256i *)(wb + 16 * t + 16))));
    }
    dw_store(a, q, lo, hi, y, nch, fp);
}

/* Two output pixels of the interior at once (x and x2: their windows' corners): each
 * tap pair's weights and offsets are loaded once for both. */
static inline __attribute__((always_inline)) void
dw_interior2(const frost_int8_conv_args *a, const uint8_t *x, const uint8_t *x2, const int64_t *off,
             const int16_t *wb, uint8_t *y, uint8_t *y2, int nch, const int K, const bool fp)
{
    const int taps = K * K;
    const int32_t *q = (const int32_t *)(wb + 32 * ((taps + 1) / 2));
    __m256i lo = _mm256_loadu_si256((const __m256i *)q),
            hi = _mm256_loadu_si256((const __m256i *)(q + 8));
    __m256i lo2 = lo, hi2 = hi;
#pragma GCC unroll 16
    for (int t = 0; t < taps; t += 2) {
        int64_t o0 = off[t], o1 = t + 1 < taps ? off[t + 1] : o0;
        __m256i wl = _mm256_loadu_si256((const __m256i *)(wb + 16 * t));
        __m256i wh = _mm256_loadu_si256((const __m256i *)(wb + 16 * t + 16));
        __m256i x0 = ld16(x + o0), x1 = t + 1 < taps ? ld16(x + o1) : x0;
        __m256i z0 = ld16(x2 + o0), z1 = t + 1 < taps ? ld16(x2 + o1) : z0;
        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1), wl));
        hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1), wh));
        lo2 = _mm256_add_epi32(lo2, _mm256_madd_epi16(_mm256_unpacklo_epi16(z0, z1), wl));
        hi2 = _mm256_add_epi32(hi2, _mm256_madd_epi16(_mm256_unpackhi_epi16(z0, z1), wh));
    }
    dw_store(a, q, lo, hi, y, nch, fp);
    dw_store(a, q, lo2, hi2, y2, nch, fp);
}

/* One output row of one channel block: the interior through the unrolled kernel for K
 * (3 or 5; 0: the checked one everywhere), the borders through the checked one.
 * Specialized on K and on the requantization mode (fp: float). */
static inline __attribute__((always_inline)) void
dw_row_block_k(const frost_int8_conv_args *a, const uint8_t *x, int oy, int b, const int16_t *wb,
               const int64_t *off, uint8_t *y, const int K, const bool fp)
{
    int k = a->k, s = a->stride, c0 = 16 * b, nch = a->cin - c0 < 16 ? a->cin - c0 : 16;
    int iy0 = oy * s - a->pad;
    bool rows_in = iy0 >= 0 && iy0 + k <= a->h;
    int64_t rs = (int64_t)a->w * a->cin;
    for (int ox = 0; ox < a->ow; ox++) {
        int ix0 = ox * s - a->pad;
        uint8_t *yo = y + ((int64_t)oy * a->ow + ox) * a->cout + c0;
        if (K && rows_in && ix0 >= 0 && ix0 + s + k <= a->w && ox + 1 < a->ow) {
            /* this pixel and the next: both windows inside */
            const uint8_t *xp = x + (int64_t)iy0 * rs + (int64_t)ix0 * a->cin + c0;
            dw_interior2(a, xp, xp + (int64_t)s * a->cin, off, wb, yo, yo + a->cout, nch, K, fp);
            ox++;
        } else if (K && rows_in && ix0 >= 0 && ix0 + k <= a->w) {
            /* a partial block reads up to 15 bytes past its channels (kernels.h) */
            const uint8_t *xp = x + (int64_t)iy0 * rs + (int64_t)ix0 * a->cin + c0;
            dw_interior(a, xp, off, wb, yo, nch, K, fp);
        } else {
            dw_pixel_block(a, x, oy, ox, b, wb, yo);
        }
    }
}

static void dw_row_block(const frost_int8_conv_args *a, const uint8_t *x, int oy, int b,
                         const int16_t *wb, const int64_t *off, uint8_t *y)
{
    bool fp = a->fscale != NULL;
    if (a->k == 3 && !fp)
        dw_row_block_k(a, x, oy, b, wb, off, y, 3, false);
    else if (a->k == 5 && !fp)
        dw_row_block_k(a, x, oy, b, wb, off, y, 5, false);
    else if (a->k == 3)
        dw_row_block_k(a, x, oy, b, wb, off, y, 3, true);
    else if (a->k == 5)
        dw_row_block_k(a, x, oy, b, wb, off, y, 5, true);
    else
        dw_row_block_k(a, x, oy, b, wb, off, y, 0, fp);
}

/* 8 bytes of channels c0.. of input pixel (iy, ix); outside the input, the zero point. */
static inline __m128i tail_tap(const frost_int8_conv_args *a, const uint8_t *x, int iy, int ix,
                               int c0)
{
    if (iy < 0 || iy >= a->h || ix < 0 || ix >= a->w)
        return _mm_set1_epi8((char)a->in_zp);
    return _mm_loadl_epi64((const __m128i *)(x + ((int64_t)iy * a->w + ix) * a->cin + c0));
}

/* The 8 (or nch < 8) channels of a tail block at one output pixel, kernel K. inside: the
 * window lies inside the input and xw points at its corner's channel c0, off holds the
 * K * K tap offsets; otherwise every tap is checked (outside ones read the zero point).
 * Reads 8 bytes per tap: up to 7 past the block's channels (kernels.h allows 15). */
static inline __attribute__((always_inline)) void
dw_tail_pixel(const frost_int8_conv_args *a, const uint8_t *x, const uint8_t *xw, int iy0, int ix0,
              const bool inside, const int64_t *off, const int16_t *wb, uint8_t *y, int c0, int nch,
              const int K, const bool fp)
{
    const int taps = K * K;
    const int32_t *q = (const int32_t *)(wb + 32 * ((taps + 1) / 2));
    __m256i acc = _mm256_loadu_si256((const __m256i *)q);
#pragma GCC unroll 13
    for (int t = 0; t < taps; t += 2) {
        int t1 = t + 1 < taps ? t + 1 : t; /* an odd last tap pairs with a zero weight */
        __m128i x0 = inside ? _mm_loadl_epi64((const __m128i *)(xw + off[t]))
                            : tail_tap(a, x, iy0 + t / K, ix0 + t % K, c0);
        __m128i x1 = inside ? _mm_loadl_epi64((const __m128i *)(xw + off[t1]))
                            : tail_tap(a, x, iy0 + t1 / K, ix0 + t1 % K, c0);
        __m256i v = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(x0, x1));
        acc = _mm256_add_epi32(
            acc, _mm256_madd_epi16(v, _mm256_loadu_si256((const __m256i *)(wb + 16 * t))));
    }
    frost_store8_avx2(y, acc, q + 16, 16, fp, _mm256_set1_epi32(a->out_zp),
                      _mm_set1_epi8((char)a->lo), _mm_set1_epi8((char)a->hi), nch);
}

/* One output row of a tail block, kernel K (3, 5, or 0: any, a->k). */
static inline __attribute__((always_inline)) void
dw_tail_row_k(const frost_int8_conv_args *a, const uint8_t *x, int oy, int b, const int16_t *wb,
              const int64_t *off, uint8_t *y, const int K, const bool fp)
{
    int k = K ? K : a->k, s = a->stride, c0 = 16 * b, nch = a->cin - c0;
    int iy0 = oy * s - a->pad;
    bool rows_in = iy0 >= 0 && iy0 + k <= a->h;
    int64_t rs = (int64_t)a->w * a->cin;
    for (int ox = 0; ox < a->ow; ox++) {
        int ix0 = ox * s - a->pad;
        bool inside = rows_in && ix0 >= 0 && ix0 + k <= a->w;
        uint8_t *yo = y + ((int64_t)oy * a->ow + ox) * a->cout + c0;
        const uint8_t *xw = x + (int64_t)iy0 * rs + (int64_t)ix0 * a->cin + c0;
        if (K && inside)
            dw_tail_pixel(a, x, xw, iy0, ix0, true, off, wb, yo, c0, nch, K, fp);
        else
            dw_tail_pixel(a, x, xw, iy0, ix0, false, off, wb, yo, c0, nch, k, fp);
    }
}

static void dw_tail_row(const frost_int8_conv_args *a, const uint8_t *x, int oy, int b,
                        const int16_t *wb, const int64_t *off, uint8_t *y)
{
    bool fp = a->fscale != NULL;
    if (a->k == 3 && !fp)
        dw_tail_row_k(a, x, oy, b, wb, off, y, 3, false);
    else if (a->k == 5 && !fp)
        dw_tail_row_k(a, x, oy, b, wb, off, y, 5, false);
    else if (fp)
        dw_tail_row_k(a, x, oy, b, wb, off, y, 0, true);
    else
        dw_tail_row_k(a, x, oy, b, wb, off, y, 0, false);
}

void frost_int8_dwconv_avx2(const frost_int8_conv_args *a, const void *packed, const uint8_t *x,
                            uint8_t *y, int row0, int row1)
{
    size_t block = frost_int8_dw_packed_bytes(16, a->k) / 2; /* one block, in int16 units */
    const int16_t *w = packed;
    /* the taps' offsets from a window's corner, once per call (not per row and block:
     * the 4x4 layers of a small model have 15-36 blocks of 4 pixels per row) */
    int64_t rs = (int64_t)a->w * a->cin, off[225];
    for (int t = 0; t < a->k * a->k; t++)
        off[t] = (t / a->k) * rs + (int64_t)(t % a->k) * a->cin;
    for (int oy = row0; oy < row1; oy++)
        for (int b = 0; b < blocks16(a->cout); b++) {
            if (is_tail8(a->cout, b))
                dw_tail_row(a, x, oy, b, w + block * b, off, y);
            else
                dw_row_block(a, x, oy, b, w + block * b, off, y);
        }
}
