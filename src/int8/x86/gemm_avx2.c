/*
 * int8 convolution as an int16 GEMM (AVX2). Activations are widened to int16 and
 * multiplied by int16 weights with vpmaddwd: exact for every u8 x s8 pair (the faster
 * u8 x s8 vpmaddubsw saturates int16 for 255 * 127 * 2). A micro-kernel computes 4
 * pixels x 16 output channels; the activations of a tile of pixels are widened (1x1)
 * or gathered with padding (k x k, im2col) into per-thread scratch first.
 *
 * Packed weights, per block of 16 output channels and per pair of reduction indices
 * (2j, 2j+1): 32 int16 = channels 0..7 then 8..15, each as (w[2j], w[2j+1]). After all
 * blocks: bias_eff, then the requant constants (requant_avx2.h), padded to whole blocks.
 */
#include <string.h>

#include "int8/kernels.h"
#include "int8/x86/requant_avx2.h"

#define TILE 32 /* pixels gathered at a time */

static int blocks16(int cout) { return (cout + 15) / 16; }
static int kpad(int kdim) { return (kdim + 1) & ~1; }

size_t frost_int8_gemm_packed_bytes(int cout, int kdim)
{
    size_t nb = (size_t)blocks16(cout);
    return nb * 16 * (size_t)kpad(kdim) * 2 + nb * 16 * 4 * (1 + FROST_RQ_ARRAYS);
}

void frost_int8_gemm_pack(int cout, int kdim, int acc_shift, const int8_t *w,
                          const int32_t *bias_eff, const int32_t *mult, const int32_t *shift,
                          const float *fscale, void *packed)
{
    int nb = blocks16(cout), kp = kpad(kdim);
    int16_t *p = packed;
    for (int b = 0; b < nb; b++)
        for (int j = 0; j < kp / 2; j++)
            for (int c = 0; c < 16; c++)
                for (int t = 0; t < 2; t++) {
                    int co = b * 16 + c, k = 2 * j + t;
                    *p++ = co < cout && k < kdim
                               ? (int16_t)(w[(int64_t)co * kdim + k] * (1 << acc_shift))
                               : 0;
                }
    int32_t *q = (int32_t *)p;
    for (int i = 0; i < nb * 16; i++)
        q[i] = i < cout ? bias_eff[i] : 0;
    frost_rq_pack(mult, shift, fscale, cout, nb * 16, q + nb * 16, nb * 16);
}

size_t frost_int8_gemm_scratch_bytes(const frost_int8_conv_args *a)
{
    /* 64: the alignment; 16: a short kernel row's store may run 7 int16 past the tile */
    return (size_t)TILE * kpad(a->k * a->k * a->cin) * 2 + 64 + 16;
}

/* Row p of the tile: the int16 reduction vector of output pixel `pix`. */
static void gather_pixel(const frost_int8_conv_args *a, const uint8_t *x, int pix, int16_t *row)
{
    int oy = pix / a->ow, ox = pix % a->ow, kdim = a->k * a->k * a->cin;
    if (a->k == 1 && a->pad == 0) {
        const uint8_t *xp = x + ((int64_t)oy * a->stride * a->w + (int64_t)ox * a->stride) * a->cin;
        int i = 0;
        for (; i + 16 <= a->cin; i += 16)
            _mm256_storeu_si256((__m256i *)(row + i),
                                _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(xp + i))));
        for (; i < a->cin; i++)
            row[i] = xp[i];
    } else if (a->pad == 0) { /* k x k on a padded input: each kernel row is contiguous */
        int len = a->k * a->cin;
        int64_t x_end = (int64_t)a->h * a->w * a->cin;
        for (int ky = 0; ky < a->k; ky++) {
            int64_t at = ((int64_t)(oy * a->stride + ky) * a->w + (int64_t)ox * a->stride) * a->cin;
            const uint8_t *xp = x + at;
            int16_t *r = row + ky * len;
            if (len <= 8 && at + 8 <= x_end) {
                /* a short row (the stem: 3 bytes) as one 8-byte widening; the 8 int16 run
                 * into the next kernel row (written after it), at the last one into the next
                 * pixel's row (gathered after it) or the scratch's 16 spare bytes */
                _mm_storeu_si128((__m128i *)r,
                                 _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)xp)));
                continue;
            }
            int i = 0;
            for (; i + 16 <= len; i += 16)
                _mm256_storeu_si256((__m256i *)(r + i), _mm256_cvtepu8_epi16(_mm_loadu_si128(
                                                            (const __m128i *)(xp + i))));
            for (; i < len; i++)
                r[i] = xp[i];
        }
    } else {
        int16_t *r = row;
        for (int ky = 0; ky < a->k; ky++) {
            int iy = oy * a->stride - a->pad + ky;
            for (int kx = 0; kx < a->k; kx++) {
                int ix = ox * a->stride - a->pad + kx;
                if (iy < 0 || iy >= a->h || ix < 0 || ix >= a->w) {
                    for (int c = 0; c < a->cin; c++)
                        r[c] = (int16_t)a->in_zp;
                } else {
                    const uint8_t *xp = x + ((int64_t)iy * a->w + ix) * a->cin;
                    for (int c = 0; c < a->cin; c++)
                        r[c] = xp[c];
                }
                r += a->cin;
            }
        }
    }
    if (kdim & 1)
        row[kdim] = 0;
}

/* n bytes widened to int16 (16, then 8, then one at a time: reads stay within x[0, n)). */
static void widen(const uint8_t *x, int64_t n, int16_t *out)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(out + i),
                            _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(x + i))));
    if (i + 8 <= n) {
        _mm_storeu_si128((__m128i *)(out + i),
                         _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(x + i))));
        i += 8;
    }
    for (; i < n; i++)
        out[i] = x[i];
}

/* Rows [p0, p0 + np) of the tile. A 1x1 stride-1 conv with an even cin reads np whole
 * pixels that lie one after another, and its tile rows (kp = cin) do too: one widening
 * of np * cin bytes, instead of one short loop per pixel (cin = 8 or 24 in small models). */
static void gather_tile(const frost_int8_conv_args *a, const uint8_t *x, int p0, int np,
                        int16_t *tile, int kp)
{
    if (a->k == 1 && a->stride == 1 && a->pad == 0 && a->cin == kp) {
        widen(x + (int64_t)p0 * a->cin, (int64_t)np * a->cin, tile);
        return;
    }
    for (int i = 0; i < np; i++)
        gather_pixel(a, x, p0 + i, tile + (size_t)i * kp);
}

/* rows: `np` (1..4) pixel rows of the tile, kp int16 each; y: their outputs. */
static inline __attribute__((always_inline)) void
micro_4x16_body(const int16_t *rows, int np, int kp, const int16_t *wb, const int32_t *bias,
                const int32_t *rq, int stride, const frost_int8_conv_args *a, uint8_t *y, int nch,
                const bool fp)
{
    const int16_t *r0 = rows, *r1 = rows + (np > 1 ? kp : 0), *r2 = rows + (np > 2 ? 2 * kp : 0),
                  *r3 = rows + (np > 3 ? 3 * kp : 0);
    __m256i b0 = _mm256_loadu_si256((const __m256i *)bias),
            b1 = _mm256_loadu_si256((const __m256i *)(bias + 8));
    __m256i c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1, c30 = b0, c31 = b1;
    for (int j = 0; j < kp / 2; j++) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(wb + 32 * j));
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(wb + 32 * j + 16));
        int32_t v0, v1, v2, v3;
        memcpy(&v0, r0 + 2 * j, 4);
        memcpy(&v1, r1 + 2 * j, 4);
        memcpy(&v2, r2 + 2 * j, 4);
        memcpy(&v3, r3 + 2 * j, 4);
        __m256i a0 = _mm256_set1_epi32(v0), a1 = _mm256_set1_epi32(v1), a2 = _mm256_set1_epi32(v2),
                a3 = _mm256_set1_epi32(v3);
        c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(a0, w0));
        c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(a0, w1));
        c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(a1, w0));
        c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(a1, w1));
        c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(a2, w0));
        c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(a2, w1));
        c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(a3, w0));
        c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(a3, w1));
    }
    __m256i zp = _mm256_set1_epi32(a->out_zp);
    __m128i lo = _mm_set1_epi8((char)a->lo), hi = _mm_set1_epi8((char)a->hi);
    int ys = a->cout;
    frost_store16_avx2(y, c00, c01, rq, stride, fp, zp, lo, hi, nch);
    if (np > 1)
        frost_store16_avx2(y + ys, c10, c11, rq, stride, fp, zp, lo, hi, nch);
    if (np > 2)
        frost_store16_avx2(y + 2 * ys, c20, c21, rq, stride, fp, zp, lo, hi, nch);
    if (np > 3)
        frost_store16_avx2(y + 3 * ys, c30, c31, rq, stride, fp, zp, lo, hi, nch);
}

/* The last block of a layer whose channel count leaves 8 or fewer in it (24, 40, 120):
 * channels 0-7 only, half the multiplies and requantizations of micro_4x16_body. */
static inline __attribute__((always_inline)) void
micro_4x8_body(const int16_t *rows, int np, int kp, const int16_t *wb, const int32_t *bias,
               const int32_t *rq, int stride, const frost_int8_conv_args *a, uint8_t *y, int nch,
               const bool fp)
{
    const int16_t *r0 = rows, *r1 = rows + (np > 1 ? kp : 0), *r2 = rows + (np > 2 ? 2 * kp : 0),
                  *r3 = rows + (np > 3 ? 3 * kp : 0);
    __m256i b0 = _mm256_loadu_si256((const __m256i *)bias);
    __m256i c0 = b0, c1 = b0, c2 = b0, c3 = b0;
    for (int j = 0; j < kp / 2; j++) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(wb + 32 * j));
        int32_t v0, v1, v2, v3;
        memcpy(&v0, r0 + 2 * j, 4);
        memcpy(&v1, r1 + 2 * j, 4);
        memcpy(&v2, r2 + 2 * j, 4);
        memcpy(&v3, r3 + 2 * j, 4);
        c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(_mm256_set1_epi32(v0), w0));
        c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(_mm256_set1_epi32(v1), w0));
        c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(_mm256_set1_epi32(v2), w0));
        c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(_mm256_set1_epi32(v3), w0));
    }
    __m256i zp = _mm256_set1_epi32(a->out_zp);
    __m128i lo = _mm_set1_epi8((char)a->lo), hi = _mm_set1_epi8((char)a->hi);
    int ys = a->cout;
    frost_store8_avx2(y, c0, rq, stride, fp, zp, lo, hi, nch);
    if (np > 1)
        frost_store8_avx2(y + ys, c1, rq, stride, fp, zp, lo, hi, nch);
    if (np > 2)
        frost_store8_avx2(y + 2 * ys, c2, rq, stride, fp, zp, lo, hi, nch);
    if (np > 3)
        frost_store8_avx2(y + 3 * ys, c3, rq, stride, fp, zp, lo, hi, nch);
}

static __attribute__((noinline)) void micro_4x16(const int16_t *rows, int np, int kp,
                                                 const int16_t *wb, const int32_t *bias,
                                                 const int32_t *rq, int stride,
                                                 const frost_int8_conv_args *a, uint8_t *y, int nch,
                                                 const bool fp)
{
    if (nch <= 8 && fp)
        micro_4x8_body(rows, np, kp, wb, bias, rq, stride, a, y, nch, true);
    else if (nch <= 8)
        micro_4x8_body(rows, np, kp, wb, bias, rq, stride, a, y, nch, false);
    else if (fp)
        micro_4x16_body(rows, np, kp, wb, bias, rq, stride, a, y, nch, true);
    else
        micro_4x16_body(rows, np, kp, wb, bias, rq, stride, a, y, nch, false);
}

/* The GEMM over output pixels [pix0, pix1), specialized on the requantization mode (fp:
 * float) so that the micro-kernel's stores carry one mode's code only. */
static inline __attribute__((always_inline)) void conv_gemm(const frost_int8_conv_args *a,
                                                            const void *packed, const uint8_t *x,
                                                            uint8_t *y, int pix0, int pix1,
                                                            void *scratch, const bool fp)
{
    int kdim = a->k * a->k * a->cin, kp = kpad(kdim), nb = blocks16(a->cout);
    const int16_t *w = packed;
    const int32_t *bias = (const int32_t *)(w + (size_t)nb * 16 * kp);
    const int32_t *rq = bias + nb * 16;
    int16_t *tile = (int16_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    int p_end = pix1;
    for (int p0 = pix0; p0 < p_end; p0 += TILE) {
        int np = p_end - p0 < TILE ? p_end - p0 : TILE;
        gather_tile(a, x, p0, np, tile, kp);
        for (int b = 0; b < nb; b++) {
            int nch = a->cout - 16 * b < 16 ? a->cout - 16 * b : 16;
            const int16_t *wb = w + (size_t)b * 16 * kp;
            for (int i = 0; i < np; i += 4)
                micro_4x16(tile + (size_t)i * kp, np - i < 4 ? np - i : 4, kp, wb, bias + 16 * b,
                           rq + 16 * b, nb * 16, a, y + (int64_t)(p0 + i) * a->cout + 16 * b, nch,
                           fp);
        }
    }
}

static void conv_gemm_fixed(const frost_int8_conv_args *a, const void *packed, const uint8_t *x,
                            uint8_t *y, int pix0, int pix1, void *scratch)
{
    conv_gemm(a, packed, x, y, pix0, pix1, scratch, false);
}

static void conv_gemm_float(const frost_int8_conv_args *a, const void *packed, const uint8_t *x,
                            uint8_t *y, int pix0, int pix1, void *scratch)
{
    conv_gemm(a, packed, x, y, pix0, pix1, scratch, true);
}

void frost_int8_conv_gemm_avx2(const frost_int8_conv_args *a, const void *packed, const uint8_t *x,
                               uint8_t *y, int pix0, int pix1, void *scratch)
{
    if (a->fscale)
        conv_gemm_float(a, packed, x, y, pix0, pix1, scratch);
    else
        conv_gemm_fixed(a, packed, x, y, pix0, pix1, scratch);
}

/* Fully connected: x widened once into xs, then one dot product per output. */
void frost_int8_linear_avx2(int cin, int cout, int shift, const int8_t *w, const uint8_t *x,
                            const int32_t *bias_eff, int32_t *acc, int16_t *xs)
{
    for (int i = 0; i < cin; i++)
        xs[i] = x[i];
    int main_len = cin & ~15;
    for (int o = 0; o < cout; o++) {
        const int8_t *wo = w + (int64_t)o * cin;
        __m256i s = _mm256_setzero_si256();
        for (int i = 0; i < main_len; i += 16) {
            __m256i wv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wo + i)));
            s = _mm256_add_epi32(
                s, _mm256_madd_epi16(wv, _mm256_loadu_si256((const __m256i *)(xs + i))));
        }
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
        int32_t sum = _mm_cvtsi128_si32(h);
        for (int i = main_len; i < cin; i++)
            sum += (int32_t)wo[i] * xs[i];
        acc[o] = bias_eff[o] + (int32_t)((uint32_t)sum << shift);
    }
}
