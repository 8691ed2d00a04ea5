/*
 * int8 depthwise convolution with AVX-512 VNNI (256-bit vpdpbusd), 32 channels at a time,
 * on an input whose every window is inside (the runtime pads it with the zero point).
 * Four taps' bytes are interleaved per channel with unpack{lo,hi}_epi8 then _epi16, so one
 * vpdpbusd adds x[t0..t3] . w[t0..t3] for 8 channels. The unpacks work per 128-bit lane:
 * accumulator k (0..3) holds channels 4k..4k+3 and 16+4k..16+4k+3; weights, biases and
 * requant constants are packed in that order, and packs/packus of the four accumulators
 * put the bytes back in channel order.
 *
 * Packed, per block of 32 channels: for each group of 4 taps, 4 vectors of 32 bytes (one
 * per accumulator, 4 weight bytes per channel); then bias_eff[32] and the requant
 * constants [6][32], both in accumulator order. Sums: acc = bias_eff + (sum << acc_shift).
 * Reads up to 31 bytes past the input's end when the channel count is not a multiple of 32.
 */
#include <string.h>

#include "int8/kernels.h"
#include "int8/x86/requant_avx2.h"

static int blocks32(int c) { return (c + 31) / 32; }
static int groups4(int k) { return (k * k + 3) / 4; }
/* Channel of lane i (0..7) of accumulator k. */
static int acc_channel(int k, int i) { return (i < 4 ? i : i + 12) + 4 * k; }

static size_t block_bytes(int k)
{
    return (size_t)groups4(k) * 128 + 32 * 4 * (1 + FROST_RQ_ARRAYS);
}

size_t frost_int8_dw_vnni_packed_bytes(int c, int k)
{
    return (size_t)blocks32(c) * block_bytes(k);
}

void frost_int8_dw_vnni_pack(int c, int k, const int8_t *w, const int32_t *bias_eff,
                             const int32_t *mult, const int32_t *shift, const float *fscale,
                             void *packed)
{
    int taps = k * k;
    for (int b = 0; b < blocks32(c); b++) {
        int8_t *p = (int8_t *)packed + (size_t)b * block_bytes(k);
        for (int g = 0; g < groups4(k); g++)
            for (int a = 0; a < 4; a++)
                for (int i = 0; i < 8; i++)
                    for (int t = 0; t < 4; t++) {
                        int ch = 32 * b + acc_channel(a, i), tap = 4 * g + t;
                        *p++ = ch < c && tap < taps ? w[(int64_t)ch * taps + tap] : 0;
                    }
        int32_t *q = (int32_t *)p, m0[32] = {0}, e[32] = {0};
        float fs[32] = {0};
        for (int a = 0; a < 4; a++)
            for (int i = 0; i < 8; i++) {
                int ch = 32 * b + acc_channel(a, i), at = 8 * a + i;
                q[at] = ch < c ? bias_eff[ch] : 0;
                m0[at] = ch < c ? mult[ch] : 0;
                e[at] = ch < c ? shift[ch] : 0;
                fs[at] = ch < c && fscale ? fscale[ch] : 0.0f;
            }
        for (int a = 0; a < 4; a++) /* odd-lane multipliers stay within their vector */
            frost_rq_pack(m0 + 8 * a, e + 8 * a, fscale ? fs + 8 * a : NULL, 8, 8, q + 32 + 8 * a,
                          32);
    }
}

static inline __m256i ld32(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* Accumulator k of a block: bias + (sum << sh), requantized, plus the zero point. */
static inline __m256i requant(__m256i acc, const int32_t *q, int k, int sh, bool fp, __m256i zp)
{
    __m256i v = _mm256_add_epi32(_mm256_slli_epi32(acc, sh),
                                 _mm256_loadu_si256((const __m256i *)(q + 8 * k)));
    return _mm256_add_epi32(frost_requant8_pre_avx2(v, q + 32 + 8 * k, 32, fp), zp);
}

/* One output pixel, one block: x points at the window's corner + the block's channel. */
static inline __attribute__((always_inline)) void dw_pixel(const frost_int8_conv_args *a,
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
        const int8_t *wg = wb + 128 * g;
        acc0 =
            _mm256_dpbusd_epi32(acc0, _mm256_unpacklo_epi16(l01, l23), ld32((const uint8_t *)wg));
        acc1 = _mm256_dpbusd_epi32(acc1, _mm256_unpackhi_epi16(l01, l23),
                                   ld32((const uint8_t *)wg + 32));
        acc2 = _mm256_dpbusd_epi32(acc2, _mm256_unpacklo_epi16(h01, h23),
                                   ld32((const uint8_t *)wg + 64));
        acc3 = _mm256_dpbusd_epi32(acc3, _mm256_unpackhi_epi16(h01, h23),
                                   ld32((const uint8_t *)wg + 96));
    }
    const int32_t *q = (const int32_t *)(wb + 128 * groups);
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

void frost_int8_dwconv_vnni(const frost_int8_conv_args *a, const void *packed, const uint8_t *x,
                            uint8_t *y, int row0, int row1)
{
    int k = a->k, s = a->stride;
    int64_t rs = (int64_t)a->w * a->cin, off[25];
    for (int t = 0; t < k * k && k <= 5; t++)
        off[t] = (t / k) * rs + (int64_t)(t % k) * a->cin;
    for (int oy = row0; oy < row1; oy++)
        for (int b = 0; b < blocks32(a->cout); b++) {
            const int8_t *wb = (const int8_t *)packed + (size_t)b * block_bytes(k);
            int c0 = 32 * b, nch = a->cout - c0 < 32 ? a->cout - c0 : 32;
            for (int ox = 0; ox < a->ow; ox++) {
                const uint8_t *xp = x + (int64_t)(oy * s) * rs + (int64_t)(ox * s) * a->cin + c0;
                uint8_t *yo = y + ((int64_t)oy * a->ow + ox) * a->cout + c0;
                if (k == 3)
                    dw_pixel(a, xp, off, wb, yo, nch, 3);
                else
                    dw_pixel(a, xp, off, wb, yo, nch, 5);
            }
        }
}
