/*
 * int8 convolution as a u8 x s8 GEMM with AVX-512 VNNI (vpdpbusd, 512-bit forms): each
 * instruction multiplies 4 unsigned activation bytes by 4 signed weight bytes per lane
 * and adds the sum to an int32 accumulator, exactly (the u8*s8 products fit 16 bits and
 * the sum is 32-bit, no saturation: vpdpbusd, not vpdpbusds). A micro-kernel computes
 * 8 pixels x 32 output channels: one broadcast of a pixel's 4 bytes feeds two zmm
 * vpdpbusd (16 accumulators of the 32 zmm registers). A lone last block of 16 channels
 * runs 8 x 16. The 512-bit forms doubled the 256-bit kernel's speed on Zen 5 (full-width
 * AVX-512); the output stage is 16 lanes wide too (requant_avx512.h) and turns four
 * pixels' sums into bytes at once (bytes4).
 *
 * Packed weights, per block of 16 output channels and per quad of reduction indices
 * (4j .. 4j+3): 64 bytes = channels 0..15, 4 bytes each (one zmm). After all blocks:
 * bias_eff (shifted for the requantization: frost_rq512_bias), then the requant
 * constants (requant_avx512.h), padded to whole blocks. Accumulators: acc = bias_eff +
 * (sum w x << acc_shift), as in kernels.h, computed with MBQM's left shift folded in.
 */
#include <string.h>

#include "int8/kernels.h"
#include "int8/x86/requant_avx512.h"

#define TILE 32 /* pixels gathered at a time */
#define MR   8

static int blocks16(int cout) { return (cout + 15) / 16; }
static int kquad(int kdim) { return (kdim + 3) & ~3; }

size_t frost_int8_vnni_packed_bytes(int cout, int kdim)
{
    size_t nb = (size_t)blocks16(cout);
    return nb * 16 * (size_t)kquad(kdim) + nb * 16 * 4 * (1 + FROST_RQ512_ARRAYS);
}

void frost_int8_vnni_pack(int cout, int kdim, int acc_shift, const int8_t *w,
                          const int32_t *bias_eff, const int32_t *mult, const int32_t *shift,
                          const float *fscale, void *packed)
{
    int nb = blocks16(cout), kq = kquad(kdim);
    int8_t *p = packed;
    for (int b = 0; b < nb; b++)
        for (int j = 0; j < kq / 4; j++)
            for (int c = 0; c < 16; c++)
                for (int t = 0; t < 4; t++) {
                    int co = b * 16 + c, k = 4 * j + t;
                    *p++ = co < cout && k < kdim ? w[(int64_t)co * kdim + k] : 0;
                }
    int32_t *q = (int32_t *)p;
    for (int i = 0; i < nb * 16; i++)
        q[i] = i < cout ? frost_rq512_bias(bias_eff[i], shift[i], fscale != NULL) : 0;
    frost_rq512_pack(mult, shift, fscale, acc_shift, cout, nb * 16, q + nb * 16, nb * 16);
}

size_t frost_int8_vnni_scratch_bytes(const frost_int8_conv_args *a)
{
    return (size_t)TILE * kquad(a->k * a->k * a->cin) + 64;
}

/* n bytes in 16-byte steps: a kernel row of a few channels (a 3-channel stem: 9 bytes) is
 * one load and store instead of a memcpy call. Reads and writes up to 15 bytes past both
 * ends: the input has 64 bytes of slack (arena, padded copy), and the tile rows are
 * filled in order with 64 bytes of slack after the last. */
static inline void copy16(uint8_t *d, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i += 16)
        _mm_storeu_si128((__m128i *)(d + i), _mm_loadu_si128((const __m128i *)(s + i)));
}

/* Row of the tile: the u8 reduction vector of output pixel `pix` (k x k convs run on a
 * zero-point-padded input, pad == 0; the quad padding is 0, against zero weights). */
static void gather_row(const frost_int8_conv_args *a, const uint8_t *x, int pix, uint8_t *row)
{
    int oy = pix / a->ow, ox = pix % a->ow, len = a->k * a->cin, kdim = a->k * len;
    for (int ky = 0; ky < a->k; ky++) {
        int iy = oy * a->stride - a->pad + ky;
        for (int kx = 0; kx < a->k; kx++) {
            int ix = ox * a->stride - a->pad + kx;
            uint8_t *r = row + (ky * a->k + kx) * a->cin;
            if (iy < 0 || iy >= a->h || ix < 0 || ix >= a->w)
                memset(r, a->in_zp, (size_t)a->cin);
            else if (kx == 0 && ix + a->k <= a->w) { /* a whole kernel row at once */
                copy16(r, x + ((int64_t)iy * a->w + ix) * a->cin, (size_t)len);
                break;
            } else
                memcpy(r, x + ((int64_t)iy * a->w + ix) * a->cin, (size_t)a->cin);
        }
    }
    memset(row + kdim, 0, (size_t)(kquad(kdim) - kdim));
}

/* np rows of the tile from output pixel pix on, for an input with no padding (the
 * runtime pads k x k convs' inputs first): every tap is inside, so each kernel row is one
 * run of k * cin bytes, copied 16 at a time, and the pixel position steps along instead
 * of being divided out per row (the stem's 3-channel rows made the general gather, with
 * its per-row division and memset call, half of the stem's time). */
static void gather_rows_unpadded(const frost_int8_conv_args *a, const uint8_t *x, int pix, int np,
                                 int kq, uint8_t *tile)
{
    int oy = pix / a->ow, ox = pix % a->ow, len = a->k * a->cin, kdim = a->k * len;
    size_t rs = (size_t)a->w * a->cin;
    for (int i = 0; i < np; i++) {
        uint8_t *row = tile + (size_t)i * kq;
        const uint8_t *src = x + (size_t)(oy * a->stride) * rs + (size_t)(ox * a->stride) * a->cin;
        for (int ky = 0; ky < a->k; ky++)
            copy16(row + ky * len, src + ky * rs, (size_t)len);
        for (int j = kdim; j < kq; j++)
            row[j] = 0;
        if (++ox == a->ow) {
            ox = 0;
            oy++;
        }
    }
}

/* Four pixels' requantized 16-lane sums -> their clamped bytes, pixel p's 16 channels in
 * 128-bit lane p: packs to int16, the zero point added with saturation, packus, clamp,
 * then one dword permute (the packs interleave the four vectors per 128-bit lane). Exact:
 * with zp, lo, hi in [0, 255] every saturation lands outside [lo, hi] on the same side as
 * the int32 value plus zp would. */
static inline __attribute__((always_inline)) __m512i
bytes4(__m512i r0, __m512i r1, __m512i r2, __m512i r3, const frost_int8_conv_args *a)
{
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    __m512i zp = _mm512_set1_epi16((short)a->out_zp);
    __m512i w01 = _mm512_adds_epi16(_mm512_packs_epi32(r0, r1), zp);
    __m512i w23 = _mm512_adds_epi16(_mm512_packs_epi32(r2, r3), zp);
    __m512i b = _mm512_packus_epi16(w01, w23);
    b = _mm512_min_epu8(_mm512_max_epu8(b, _mm512_set1_epi8((char)a->lo)),
                        _mm512_set1_epi8((char)a->hi));
    return _mm512_permutexvar_epi32(order, b);
}

/* Stores 128-bit lane L of b (pixel i + L's bytes) when that pixel exists. */
#define STORE_LANE(L) \
    if (i + (L) < np) \
        _mm_mask_storeu_epi8(y + (size_t)(i + (L)) * a->cout, m, _mm512_extracti32x4_epi32(b, L));

/* The output stage of one block of 16 channels for np pixels: bias + (sum << acc_shift),
 * requantized, n (<= 16) bytes per pixel, four pixels per byte vector (about 10% faster
 * on small-K layers than packing each pixel's 16 lanes alone with vpmovdb). */
static inline __attribute__((always_inline)) void
store_block(const __m512i *c, int np, const int32_t *bias, const int32_t *rq, int stride,
            const frost_int8_conv_args *a, uint8_t *y, const bool fp, int n)
{
    __mmask16 m = (__mmask16)((1u << n) - 1);
#pragma GCC unroll 2
    for (int i = 0; i < MR; i += 4) {
        if (i >= np)
            break;
        __m512i r[4];
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++)
            r[p] = frost_requant16_avx512(frost_acc_avx512(c[i + p], bias, rq, stride), rq, stride,
                                          fp);
        __m512i b = bytes4(r[0], r[1], r[2], r[3], a);
        STORE_LANE(0)
        STORE_LANE(1)
        STORE_LANE(2)
        STORE_LANE(3)
    }
}

/* np (1..MR) rows of kq bytes times NB (1 or 2) blocks of 16 channels: one 512-bit
 * vpdpbusd per row and block for each quad of k (a block's quad is one zmm of weights).
 * nch: valid channels from wb's first block on; outputs at y (row stride cout). */
static inline __attribute__((always_inline)) void
micro(const uint8_t *rows, int np, int kq, const int8_t *wb, const int32_t *bias, const int32_t *rq,
      int stride, const frost_int8_conv_args *a, uint8_t *y, int nch, const int NB, const bool fp)
{
    const uint8_t *r[MR];
    for (int i = 0; i < MR; i++)
        r[i] = rows + (size_t)(i < np ? i : np - 1) * kq;
    const int8_t *wb1 = wb + (size_t)16 * kq; /* the second block's weights (NB == 2) */
    __m512i c0[MR], c1[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
        c0[i] = c1[i] = _mm512_setzero_si512();
    for (int j = 0; j < kq; j += 4) {
        __m512i w0 = _mm512_loadu_si512(wb + 16 * j);
        __m512i w1 = NB == 2 ? _mm512_loadu_si512(wb1 + 16 * j) : w0;
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            int32_t v;
            memcpy(&v, r[i] + j, 4);
            __m512i av = _mm512_set1_epi32(v);
            c0[i] = _mm512_dpbusd_epi32(c0[i], av, w0);
            if (NB == 2)
                c1[i] = _mm512_dpbusd_epi32(c1[i], av, w1);
        }
    }
    int n0 = nch < 16 ? nch : 16, n1 = nch - 16;
    store_block(c0, np, bias, rq, stride, a, y, fp, n0);
    if (NB == 2)
        store_block(c1, np, bias + 16, rq + 16, stride, a, y + 16, fp, n1);
}

/* The kernel per block count and requantization mode (fp: float), the mode a constant
 * in each copy. */
typedef void micro_fn(const uint8_t *rows, int np, int kq, const int8_t *wb, const int32_t *bias,
                      const int32_t *rq, int stride, const frost_int8_conv_args *a, uint8_t *y,
                      int nch);
#define MICRO(name, NB, FP)                                                                      \
    static void name(const uint8_t *rows, int np, int kq, const int8_t *wb, const int32_t *bias, \
                     const int32_t *rq, int stride, const frost_int8_conv_args *a, uint8_t *y,   \
                     int nch)                                                                    \
    {                                                                                            \
        micro(rows, np, kq, wb, bias, rq, stride, a, y, nch, NB, FP);                            \
    }
MICRO(micro_x32_fixed, 2, false)
MICRO(micro_x16_fixed, 1, false)
MICRO(micro_x32_float, 2, true)
MICRO(micro_x16_float, 1, true)

void frost_int8_conv_vnni(const frost_int8_conv_args *a, const void *packed, const uint8_t *x,
                          uint8_t *y, int pix0, int pix1, void *scratch)
{
    int kdim = a->k * a->k * a->cin, kq = kquad(kdim), nb = blocks16(a->cout);
    const int8_t *w = packed;
    const int32_t *bias = (const int32_t *)(w + (size_t)nb * 16 * kq);
    const int32_t *rq = bias + nb * 16;
    uint8_t *tile = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    /* 1x1, stride 1, whole quads: the input rows are the tile already */
    bool direct = a->k == 1 && a->stride == 1 && a->pad == 0 && kdim == kq;
    micro_fn *x32 = a->fscale ? micro_x32_float : micro_x32_fixed;
    micro_fn *x16 = a->fscale ? micro_x16_float : micro_x16_fixed;
    for (int p0 = pix0; p0 < pix1; p0 += TILE) {
        int np = pix1 - p0 < TILE ? pix1 - p0 : TILE;
        const uint8_t *rows = x + (size_t)p0 * kdim;
        if (!direct) {
            if (a->pad == 0)
                gather_rows_unpadded(a, x, p0, np, kq, tile);
            else
                for (int i = 0; i < np; i++)
                    gather_row(a, x, p0 + i, tile + (size_t)i * kq);
            rows = tile;
        }
        for (int b = 0; b < nb; b += 2) { /* pairs of blocks, a lone last one */
            int nch = a->cout - 16 * b < 32 ? a->cout - 16 * b : 32;
            const int8_t *wb = w + (size_t)b * 16 * kq;
            for (int i = 0; i < np; i += MR) {
                int m = np - i < MR ? np - i : MR;
                const uint8_t *ri = rows + (size_t)i * kq;
                uint8_t *yi = y + (int64_t)(p0 + i) * a->cout + 16 * b;
                (nch > 16 ? x32 : x16)(ri, m, kq, wb, bias + 16 * b, rq + 16 * b, nb * 16, a, yi,
                                       nch);
            }
        }
    }
}

void frost_int8_requant16_avx512(const int32_t *acc, const int32_t *mult, const int32_t *shift,
                                 int32_t *out)
{
    int32_t rq[16 * FROST_RQ512_ARRAYS], zero[16] = {0};
    frost_rq512_pack(mult, shift, NULL, 0, 16, 16, rq, 16);
    __m512i x = frost_acc_avx512(_mm512_loadu_si512(acc), zero, rq, 16);
    _mm512_storeu_si512(out, frost_mbqm_avx512(x, rq, 16));
}

void frost_int8_requant8_avx512(const int32_t *acc, const int32_t *mult, const int32_t *shift,
                                int32_t *out)
{
    int32_t rq[8 * FROST_RQ512_ARRAYS], zero[8] = {0};
    frost_rq512_pack(mult, shift, NULL, 0, 8, 8, rq, 8);
    __m256i x = frost_acc8_avx512(_mm256_loadu_si256((const __m256i *)acc), zero, rq, 8);
    _mm256_storeu_si256((__m256i *)out, frost_mbqm8_avx512(x, rq, 8));
}
