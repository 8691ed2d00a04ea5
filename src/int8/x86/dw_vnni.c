/*
 * int8 depthwise convolution with AVX-512 VNNI, 64 channels at a time in zmm registers
 * (a block of 32 or fewer channels two output pixels per zmm, an odd last pixel in ymm).
 * Pixels whose window lies inside the input read it in place; the few whose window
 * crosses the border (padding) copy their taps into a small zero-point-filled window
 * first, so the runtime needs no padded copy of the input (copying every padded input
 * cost about 5% of MobileNetV2's time). Four taps' bytes are interleaved per channel
 * with unpack{lo,hi}_epi8 then _epi16, so one vpdpbusd adds x[t0..t3] . w[t0..t3] for 16
 * channels. The unpacks work per 128-bit lane: in accumulator k (0..3), lane L holds
 * channels 16L+4k .. 16L+4k+3; weights, biases and requant constants are packed in that
 * order, and packs/packus of the four accumulators put the bytes back in channel order.
 * The low 256 bits of every packed vector are the same layout for 32 channels: a block
 * of 32 or fewer channels stores them in both halves, so that one zmm step computes the
 * block for two pixels (upper half: the next pixel's input), and ymm code the last one.
 *
 * Packed, per block of 64 channels: for each group of 4 taps, 4 vectors of 64 bytes (one
 * per accumulator, 4 weight bytes per channel); then bias_eff[64] (frost_rq512_bias) and the
 * requant constants [9][64] (requant_avx512.h), both in accumulator order. Sums: acc = bias_eff +
 * (sum << acc_shift). Reads up to 31 bytes past the input's end when the channel count is not a
 * multiple of 32.
 */
#include <string.h>

#include "int8/kernels.h"
#include "int8/x86/requant_avx512.h"

static int blocks64(int c) { return (c + 63) / 64; }
static int groups4(int k) { return (k * k + 3) / 4; }
/* Channel of lane i (0..15) of accumulator k. */
static int acc_channel(int k, int i) { return 16 * (i / 4) + 4 * k + i % 4; }

/* The channel in lane i of accumulator k of block b. A block of 32 channels or fewer
 * holds them twice, in both halves of its vectors: its zmm code runs two pixels at once. */
static int channel_of(int c, int b, int k, int i)
{
    int ch = acc_channel(k, i);
    return 64 * b + (c - 64 * b <= 32 ? ch % 32 : ch);
}

static size_t block_bytes(int k)
{
    return (size_t)groups4(k) * 256 + 64 * 4 * (1 + FROST_RQ512_ARRAYS);
}

size_t frost_int8_dw_vnni_packed_bytes(int c, int k)
{
    return (size_t)blocks64(c) * block_bytes(k);
}

void frost_int8_dw_vnni_pack(int c, int k, int acc_shift, const int8_t *w, const int32_t *bias_eff,
                             const int32_t *mult, const int32_t *shift, const float *fscale,
                             void *packed)
{
    int taps = k * k;
    for (int b = 0; b < blocks64(c); b++) {
        int8_t *p = (int8_t *)packed + (size_t)b * block_bytes(k);
        for (int g = 0; g < groups4(k); g++)
            for (int a = 0; a < 4; a++)
                for (int i = 0; i < 16; i++)
                    for (int t = 0; t < 4; t++) {
                        int ch = channel_of(c, b, a, i), tap = 4 * g + t;
                        *p++ = ch < c && tap < taps ? w[(int64_t)ch * taps + tap] : 0;
                    }
        int32_t *q = (int32_t *)p, m0[64] = {0}, e[64] = {0};
        float fs[64] = {0};
        for (int a = 0; a < 4; a++)
            for (int i = 0; i < 16; i++) {
                int ch = channel_of(c, b, a, i), at = 16 * a + i;
                q[at] = ch < c ? frost_rq512_bias(bias_eff[ch], shift[ch], fscale != NULL) : 0;
                m0[at] = ch < c ? mult[ch] : 0;
                e[at] = ch < c ? shift[ch] : 0;
                fs[at] = ch < c && fscale ? fscale[ch] : 0.0f;
            }
        for (int a = 0; a < 4; a++) /* odd-lane multipliers stay within their vector */
            frost_rq512_pack(m0 + 16 * a, e + 16 * a, fscale ? fs + 16 * a : NULL, acc_shift, 16,
                             16, q + 64 + 16 * a, 64);
    }
}

static inline __m256i ld32(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* Accumulator k of a block: bias + (sum << sh), requantized, plus the zero point. */
static inline __m256i requant(__m256i acc, const int32_t *q, int k, int sh, bool fp, __m256i zp)
{
    (void)sh; /* in the packed shifts */
    __m256i v = frost_acc8_avx512(acc, q + 16 * k, q + 64 + 16 * k, 64);
    return _mm256_add_epi32(frost_requant8_avx512(v, q + 64 + 16 * k, 64, fp), zp);
}

/* One output pixel, the first 32 channels of a block (the low halves of its vectors):
 * x points at the window's corner + the block's channel. */
static inline __attribute__((always_inline)) void dw_pixel32(const frost_int8_conv_args *a,
                                                             const uint8_t *x, const int64_t *off,
                                                             const int8_t *wb, uint8_t *y, int nch,
                                                             const int K)
{
    const int taps = K * K, groups = (taps + 3) / 4;
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
#pragma GCC unroll 8
    for (int g = 0; g < groups; g++) {
        int t = 4 * g;
        __m256i x0 = ld32(x + off[t]);
        __m256i x1 = t + 1 < taps ? ld32(x + off[t + 1]) : x0;
        __m256i x2 = t + 2 < taps ? ld32(x + off[t + 2]) : x0;
        __m256i x3 = t + 3 < taps ? ld32(x + off[t + 3]) : x0;
        __m256i l01 = _mm256_unpacklo_epi8(x0, x1), h01 = _mm256_unpackhi_epi8(x0, x1);
        __m256i l23 = _mm256_unpacklo_epi8(x2, x3), h23 = _mm256_unpackhi_epi8(x2, x3);
        const int8_t *wg = wb + 256 * g;
        acc0 =
            _mm256_dpbusd_epi32(acc0, _mm256_unpacklo_epi16(l01, l23), ld32((const uint8_t *)wg));
        acc1 = _mm256_dpbusd_epi32(acc1, _mm256_unpackhi_epi16(l01, l23),
                                   ld32((const uint8_t *)wg + 64));
        acc2 = _mm256_dpbusd_epi32(acc2, _mm256_unpacklo_epi16(h01, h23),
                                   ld32((const uint8_t *)wg + 128));
        acc3 = _mm256_dpbusd_epi32(acc3, _mm256_unpackhi_epi16(h01, h23),
                                   ld32((const uint8_t *)wg + 192));
    }
    const int32_t *q = (const int32_t *)(wb + 256 * groups);
    __m256i zp = _mm256_set1_epi32(a->out_zp);
    int sh = a->acc_shift;
    bool fp = a->fscale != NULL;
    __m256i r0 = requant(acc0, q, 0, sh, fp, zp), r1 = requant(acc1, q, 1, sh, fp, zp);
    __m256i r2 = requant(acc2, q, 2, sh, fp, zp), r3 = requant(acc3, q, 3, sh, fp, zp);
    __m256i v = _mm256_packus_epi16(_mm256_packs_epi32(r0, r1), _mm256_packs_epi32(r2, r3));
    v = _mm256_min_epu8(_mm256_max_epu8(v, _mm256_set1_epi8((char)a->lo)),
                        _mm256_set1_epi8((char)a->hi));
    if (nch == 32) {
        _mm256_storeu_si256((__m256i *)y, v);
    } else {
        uint8_t tmp[32];
        _mm256_storeu_si256((__m256i *)tmp, v);
        memcpy(y, tmp, (size_t)nch);
    }
}

static inline __m512i ld64(const void *p) { return _mm512_loadu_si512(p); }

/* Accumulator k of a 64-channel block, as requant() in 16 lanes. */
static inline __attribute__((always_inline)) __m512i requant64(__m512i acc, const int32_t *q, int k,
                                                               int sh, bool fp, __m512i zp)
{
    (void)sh; /* in the packed shifts */
    __m512i v = frost_acc_avx512(acc, q + 16 * k, q + 64 + 16 * k, 64);
    return _mm512_add_epi32(frost_requant16_avx512(v, q + 64 + 16 * k, 64, fp), zp);
}

/* 64 bytes for tap offset o: one block's channels of one pixel, or (pair) 32 channels of
 * this pixel and of the next one, xs bytes on. */
static inline __attribute__((always_inline)) __m512i ld_taps(const uint8_t *x, int64_t o,
                                                             int64_t xs, bool pair)
{
    if (!pair)
        return ld64(x + o);
    return _mm512_inserti64x4(_mm512_castsi256_si512(ld32(x + o)), ld32(x + o + xs), 1);
}

/* One output pixel and a whole block (33..64 valid channels), or (pair) a block of nch <=
 * 32 channels for two pixels: the second reads xs bytes on and writes ys bytes on. */
static inline __attribute__((always_inline)) void
dw_pixel64(const frost_int8_conv_args *a, const uint8_t *x, const int64_t *off, const int8_t *wb,
           uint8_t *y, int nch, const int K, bool pair, int64_t xs, int64_t ys)
{
    const int taps = K * K, groups = (taps + 3) / 4;
    __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
#pragma GCC unroll 8
    for (int g = 0; g < groups; g++) {
        int t = 4 * g;
        __m512i x0 = ld_taps(x, off[t], xs, pair);
        __m512i x1 = t + 1 < taps ? ld_taps(x, off[t + 1], xs, pair) : x0;
        __m512i x2 = t + 2 < taps ? ld_taps(x, off[t + 2], xs, pair) : x0;
        __m512i x3 = t + 3 < taps ? ld_taps(x, off[t + 3], xs, pair) : x0;
        __m512i l01 = _mm512_unpacklo_epi8(x0, x1), h01 = _mm512_unpackhi_epi8(x0, x1);
        __m512i l23 = _mm512_unpacklo_epi8(x2, x3), h23 = _mm512_unpackhi_epi8(x2, x3);
        const int8_t *wg = wb + 256 * g;
        acc0 = _mm512_dpbusd_epi32(acc0, _mm512_unpacklo_epi16(l01, l23), ld64(wg));
        acc1 = _mm512_dpbusd_epi32(acc1, _mm512_unpackhi_epi16(l01, l23), ld64(wg + 64));
        acc2 = _mm512_dpbusd_epi32(acc2, _mm512_unpacklo_epi16(h01, h23), ld64(wg + 128));
        acc3 = _mm512_dpbusd_epi32(acc3, _mm512_unpackhi_epi16(h01, h23), ld64(wg + 192));
    }
    const int32_t *q = (const int32_t *)(wb + 256 * groups);
    __m512i zp = _mm512_set1_epi32(a->out_zp);
    int sh = a->acc_shift;
    bool fp = a->fscale != NULL;
    __m512i r0 = requant64(acc0, q, 0, sh, fp, zp), r1 = requant64(acc1, q, 1, sh, fp, zp);
    __m512i r2 = requant64(acc2, q, 2, sh, fp, zp), r3 = requant64(acc3, q, 3, sh, fp, zp);
    __m512i v = _mm512_packus_epi16(_mm512_packs_epi32(r0, r1), _mm512_packs_epi32(r2, r3));
    v = _mm512_min_epu8(_mm512_max_epu8(v, _mm512_set1_epi8((char)a->lo)),
                        _mm512_set1_epi8((char)a->hi));
    if (pair) {
        __mmask32 m = (__mmask32)(~UINT32_C(0) >> (32 - nch));
        _mm256_mask_storeu_epi8(y, m, _mm512_castsi512_si256(v));
        _mm256_mask_storeu_epi8(y + ys, m, _mm512_extracti64x4_epi64(v, 1));
    } else if (nch == 64)
        _mm512_storeu_si512(y, v);
    else
        _mm512_mask_storeu_epi8(y, (__mmask64)(~UINT64_C(0) >> (64 - nch)), v);
}

/* `count` output pixels of a row from x / y on, one block, K x K taps all inside. */
static inline __attribute__((always_inline)) void dw_run(const frost_int8_conv_args *a,
                                                         const uint8_t *x, const int64_t *off,
                                                         const int8_t *wb, uint8_t *y, int nch,
                                                         const int K, int count)
{
    int64_t xs = (int64_t)a->stride * a->cin; /* input bytes between output pixels */
    if (nch > 32) {
        for (int ox = 0; ox < count; ox++)
            dw_pixel64(a, x + ox * xs, off, wb, y + (int64_t)ox * a->cout, nch, K, false, 0, 0);
        return;
    }
    int ox = 0;
    for (; ox + 1 < count; ox += 2)
        dw_pixel64(a, x + ox * xs, off, wb, y + (int64_t)ox * a->cout, nch, K, true, xs, a->cout);
    if (ox < count)
        dw_pixel32(a, x + ox * xs, off, wb, y + (int64_t)ox * a->cout, nch, K);
}

/* One output pixel (oy, ox) whose window crosses the input's border, one block: the taps
 * inside read the input, those outside a vector of zero points (zps, 64 bytes), through
 * the same pixel code with per-pixel tap offsets from the block's base xb. */
static void dw_border_pixel(const frost_int8_conv_args *a, const uint8_t *xb, const int8_t *wb,
                            uint8_t *y, int nch, int oy, int ox, const uint8_t *zps)
{
    int k = a->k;
    int64_t off[25], to_zps = (int64_t)((uintptr_t)zps - (uintptr_t)xb);
    int iy0 = oy * a->stride - a->pad, ix0 = ox * a->stride - a->pad;
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            int iy = iy0 + ky, ix = ix0 + kx;
            bool outside = iy < 0 || iy >= a->h || ix < 0 || ix >= a->w;
            off[ky * k + kx] = outside ? to_zps : ((int64_t)iy * a->w + ix) * a->cin;
        }
    if (nch > 32 && k == 3)
        dw_pixel64(a, xb, off, wb, y, nch, 3, false, 0, 0);
    else if (nch > 32)
        dw_pixel64(a, xb, off, wb, y, nch, 5, false, 0, 0);
    else if (k == 3)
        dw_pixel32(a, xb, off, wb, y, nch, 3);
    else
        dw_pixel32(a, xb, off, wb, y, nch, 5);
}

void frost_int8_dwconv_vnni(const frost_int8_conv_args *a, const void *packed, const uint8_t *x,
                            uint8_t *y, int row0, int row1)
{
    int k = a->k, s = a->stride, p = a->pad;
    int64_t rs = (int64_t)a->w * a->cin, off[25];
    for (int t = 0; t < k * k && k <= 5; t++)
        off[t] = (t / k) * rs + (int64_t)(t % k) * a->cin;
    /* columns [ox0, ox1): the window inside the input's width */
    int span = a->w + p - k, ox0 = (p + s - 1) / s, ox1 = span < 0 ? 0 : span / s + 1;
    ox0 = ox0 < a->ow ? ox0 : a->ow;
    ox1 = ox1 < ox0 ? ox0 : ox1 > a->ow ? a->ow : ox1;
    uint8_t zps[64];
    memset(zps, a->in_zp, sizeof zps);
    for (int oy = row0; oy < row1; oy++) {
        int iy = oy * s - p;
        bool inside = iy >= 0 && iy + k <= a->h;
        for (int b = 0; b < blocks64(a->cout); b++) {
            const int8_t *wb = (const int8_t *)packed + (size_t)b * block_bytes(k);
            int c0 = 64 * b, nch = a->cout - c0 < 64 ? a->cout - c0 : 64;
            uint8_t *yr = y + (int64_t)oy * a->ow * a->cout + c0;
            int mid0 = inside ? ox0 : a->ow, mid1 = inside ? ox1 : a->ow;
            for (int ox = 0; ox < mid0; ox++)
                dw_border_pixel(a, x + c0, wb, yr + (int64_t)ox * a->cout, nch, oy, ox, zps);
            if (mid1 > mid0) {
                const uint8_t *xr = x + (int64_t)iy * rs + (int64_t)(mid0 * s - p) * a->cin + c0;
                uint8_t *ym = yr + (int64_t)mid0 * a->cout;
                if (k == 3)
                    dw_run(a, xr, off, wb, ym, nch, 3, mid1 - mid0);
                else
                    dw_run(a, xr, off, wb, ym, nch, 5, mid1 - mid0);
            }
            for (int ox = mid1 > mid0 ? mid1 : mid0; ox < a->ow; ox++)
                dw_border_pixel(a, x + c0, wb, yr + (int64_t)ox * a->cout, nch, oy, ox, zps);
        }
    }
}
