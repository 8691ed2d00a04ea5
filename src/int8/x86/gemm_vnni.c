/*
 * int8 convolution as a u8 x s8 GEMM with AVX-512 VNNI (vpdpbusd, 256-bit forms): each
 * instruction multiplies 4 unsigned activation bytes by 4 signed weight bytes per lane
 * and adds the sum to an int32 accumulator, exactly (the u8*s8 products fit 16 bits and
 * the sum is 32-bit, no saturation: vpdpbusd, not vpdpbusds). A micro-kernel computes
 * 8 pixels x 16 output channels (16 accumulators; EVEX gives 32 vector registers).
 *
 * Packed weights, per block of 16 output channels and per quad of reduction indices
 * (4j .. 4j+3): 64 bytes = channels 0..7 then 8..15, 4 bytes each. After all blocks:
 * bias_eff, then the requant constants (requant_avx2.h), padded to whole blocks.
 * Accumulators: acc = bias_eff + (sum w x << acc_shift), as in kernels.h.
 */
#include <string.h>

#include "int8/kernels.h"
#include "int8/x86/requant_avx2.h"

#define TILE 32 /* pixels gathered at a time */
#define MR   8

static int blocks16(int cout) { return (cout + 15) / 16; }
static int kquad(int kdim) { return (kdim + 3) & ~3; }

size_t frost_int8_vnni_packed_bytes(int cout, int kdim)
{
    size_t nb = (size_t)blocks16(cout);
    return nb * 16 * (size_t)kquad(kdim) + nb * 16 * 4 * (1 + FROST_RQ_ARRAYS);
}

void frost_int8_vnni_pack(int cout, int kdim, const int8_t *w, const int32_t *bias_eff,
                          const int32_t *mult, const int32_t *shift, const float *fscale,
                          void *packed)
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
        q[i] = i < cout ? bias_eff[i] : 0;
    frost_rq_pack(mult, shift, fscale, cout, nb * 16, q + nb * 16, nb * 16);
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

/* bias + (sum << sh), then the shared requantize-and-store. */
static void store16(uint8_t *y, __m256i acc0, __m256i acc1, const int32_t *bias, int sh,
                    const int32_t *rq, int stride, bool fp, __m256i zp, __m128i lo, __m128i hi,
                    int n)
{
    acc0 = _mm256_add_epi32(_mm256_slli_epi32(acc0, sh), _mm256_loadu_si256((const __m256i *)bias));
    acc1 = _mm256_add_epi32(_mm256_slli_epi32(acc1, sh),
                            _mm256_loadu_si256((const __m256i *)(bias + 8)));
    frost_store16_avx2(y, acc0, acc1, rq, stride, fp, zp, lo, hi, n);
}

/* np (1..8) rows of kq bytes; 16 channels of block wb; outputs at y (row stride cout). */
static void micro_8x16(const uint8_t *rows, int np, int kq, const int8_t *wb, const int32_t *bias,
                       const int32_t *rq, int stride, const frost_int8_conv_args *a, uint8_t *y,
                       int nch)
{
    const uint8_t *r[MR];
    for (int i = 0; i < MR; i++)
        r[i] = rows + (size_t)(i < np ? i : np - 1) * kq;
    __m256i c0[MR], c1[MR];
    for (int i = 0; i < MR; i++)
        c0[i] = c1[i] = _mm256_setzero_si256();
    for (int j = 0; j < kq; j += 4) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(wb + 16 * j));
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(wb + 16 * j + 32));
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            int32_t v;
            memcpy(&v, r[i] + j, 4);
            __m256i av = _mm256_set1_epi32(v);
            c0[i] = _mm256_dpbusd_epi32(c0[i], av, w0);
            c1[i] = _mm256_dpbusd_epi32(c1[i], av, w1);
        }
    }
    __m256i zp = _mm256_set1_epi32(a->out_zp);
    __m128i lo = _mm_set1_epi8((char)a->lo), hi = _mm_set1_epi8((char)a->hi);
    for (int i = 0; i < np; i++)
        store16(y + (size_t)i * a->cout, c0[i], c1[i], bias, a->acc_shift, rq, stride,
                a->fscale != NULL, zp, lo, hi, nch);
}

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
    for (int p0 = pix0; p0 < pix1; p0 += TILE) {
        int np = pix1 - p0 < TILE ? pix1 - p0 : TILE;
        const uint8_t *rows = x + (size_t)p0 * kdim;
        if (!direct) {
            for (int i = 0; i < np; i++)
                gather_row(a, x, p0 + i, tile + (size_t)i * kq);
            rows = tile;
        }
        for (int b = 0; b < nb; b++) {
            int nch = a->cout - 16 * b < 16 ? a->cout - 16 * b : 16;
            const int8_t *wb = w + (size_t)b * 16 * kq;
            for (int i = 0; i < np; i += MR)
                micro_8x16(rows + (size_t)i * kq, np - i < MR ? np - i : MR, kq, wb, bias + 16 * b,
                           rq + 16 * b, nb * 16, a, y + (int64_t)(p0 + i) * a->cout + 16 * b, nch);
        }
    }
}
