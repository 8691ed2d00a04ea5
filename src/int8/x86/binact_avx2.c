/* The output stage of a conv / linear node with a sign input (binact.c), AVX2: 16 output
 * channels at a time through the GEMM kernels' requantization (requant_avx2.h), bit for
 * bit the scalar one. */
#include <string.h>

#include "int8/kernels.h"
#include "int8/x86/requant_avx2.h"

void frost_int8_bin_pack_signs_avx2(const uint8_t *x, int64_t pixels, int c, int zp, uint64_t *out)
{
    int words = (c + 63) / 64;
    const __m256i z32 = _mm256_set1_epi8((char)zp);
    const __m128i z16 = _mm_set1_epi8((char)zp);
    for (int64_t p = 0; p < pixels; p++) {
        const uint8_t *px = x + p * c;
        uint64_t *dst = out + p * words;
        memset(dst, 0, (size_t)words * sizeof(uint64_t));
        int b = 0;
        /* x >= zp (unsigned) exactly where max(x, zp) == x */
        for (; b + 32 <= c; b += 32) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(px + b));
            uint32_t bits =
                (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_max_epu8(v, z32), v));
            dst[b / 64] |= (uint64_t)bits << (b % 64);
        }
        for (; b + 16 <= c; b += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(px + b));
            uint32_t bits = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(v, z16), v));
            dst[b / 64] |= (uint64_t)bits << (b % 64);
        }
        for (; b < c; b++)
            dst[b / 64] |= (uint64_t)(px[b] >= zp) << (b % 64);
    }
}

size_t frost_int8_bin_rq_bytes(int stride)
{
    return (size_t)stride * FROST_RQ_ARRAYS * sizeof(int32_t);
}

void frost_int8_bin_rq_pack(const int32_t *m0, const int32_t *e, const float *fscale, int c,
                            int stride, int32_t *out)
{
    frost_rq_pack(m0, e, fscale, c, stride, out, stride);
}

void frost_int8_bin_output_avx2(int64_t pixels, int c, const int32_t *dots, int acc_shift,
                                const int32_t *bias, const int32_t *rq, int stride, bool fp,
                                int32_t zp, int32_t lo, int32_t hi, uint8_t *y)
{
    const __m128i shift = _mm_cvtsi32_si128(acc_shift);
    const __m256i z = _mm256_set1_epi32(zp);
    const __m128i l = _mm_set1_epi8((char)lo), h = _mm_set1_epi8((char)hi);
    for (int64_t p = 0; p < pixels; p++) {
        const int32_t *d = dots + p * c;
        uint8_t *dst = y + p * c;
        int o = 0;
        /* acc = bias + dot << s, the shift on the unsigned bits as the scalar form */
        for (; o + 16 <= c; o += 16) {
            __m256i a0 = _mm256_add_epi32(
                _mm256_loadu_si256((const __m256i *)(bias + o)),
                _mm256_sll_epi32(_mm256_loadu_si256((const __m256i *)(d + o)), shift));
            __m256i a1 = _mm256_add_epi32(
                _mm256_loadu_si256((const __m256i *)(bias + o + 8)),
                _mm256_sll_epi32(_mm256_loadu_si256((const __m256i *)(d + o + 8)), shift));
            frost_store16_avx2(dst + o, a0, a1, rq + o, stride, fp, z, l, h, 16);
        }
        if (o + 8 <= c) { /* 8 more: no copy (the constants are padded to 16) */
            __m256i a = _mm256_add_epi32(
                _mm256_loadu_si256((const __m256i *)(bias + o)),
                _mm256_sll_epi32(_mm256_loadu_si256((const __m256i *)(d + o)), shift));
            frost_store8_avx2(dst + o, a, rq + o, stride, fp, z, l, h, 8);
            o += 8;
        }
        if (o < c) { /* lanes past c: dot 0, bias 0, M0 0 (frost_rq_pack) */
            int32_t tail[8] = {0};
            memcpy(tail, d + o, (size_t)(c - o) * sizeof(int32_t));
            __m256i a = _mm256_add_epi32(
                _mm256_loadu_si256((const __m256i *)(bias + o)),
                _mm256_sll_epi32(_mm256_loadu_si256((const __m256i *)tail), shift));
            frost_store8_avx2(dst + o, a, rq + o, stride, fp, z, l, h, c - o);
        }
    }
}

/* One pixel's channels [o, o + 8) of an xnor node: K * (alpha * dot) + bias, then
 * frost_quantize_one's zp + round_half_even(v * inv) (the rounding of the current mode, as
 * nearbyintf), NaN to the zero point, clamped to [lo, hi]. */
static inline __m128i xnor8(__m256 k, const int32_t *dot, const float *alpha, const float *bias,
                            __m256 inv, __m256 zp, __m256 lo, __m256 hi)
{
    __m256 d = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)dot));
    __m256 v = _mm256_add_ps(_mm256_mul_ps(k, _mm256_mul_ps(_mm256_loadu_ps(alpha), d)),
                             _mm256_loadu_ps(bias));
    __m256 q = _mm256_add_ps(
        zp, _mm256_round_ps(_mm256_mul_ps(v, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m256 nan = _mm256_cmp_ps(q, q, _CMP_UNORD_Q);
    q = _mm256_blendv_ps(_mm256_min_ps(_mm256_max_ps(q, lo), hi), zp, nan);
    __m256i i = _mm256_cvttps_epi32(q); /* whole numbers in [0, 255] */
    __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
    return _mm_packus_epi16(w, w);
}

void frost_int8_xnor_output_avx2(int64_t pixels, int c, const int32_t *dots, const float *k,
                                 const float *alpha, const float *bias, float scale, int32_t zp,
                                 int32_t lo, int32_t hi, uint8_t *y)
{
    const __m256 inv = _mm256_set1_ps(1.0f / scale), z = _mm256_set1_ps((float)zp);
    const __m256 l = _mm256_set1_ps((float)lo), h = _mm256_set1_ps((float)hi);
    for (int64_t p = 0; p < pixels; p++) {
        const int32_t *d = dots + p * c;
        uint8_t *dst = y + p * c;
        __m256 kp = _mm256_set1_ps(k[p]);
        int o = 0;
        for (; o + 8 <= c; o += 8)
            _mm_storel_epi64((__m128i *)(dst + o),
                             xnor8(kp, d + o, alpha + o, bias + o, inv, z, l, h));
        if (o < c) { /* the tail through zero-padded copies */
            int32_t dt[8] = {0};
            float at[8] = {0}, bt[8] = {0};
            uint8_t out[8];
            memcpy(dt, d + o, (size_t)(c - o) * sizeof(int32_t));
            memcpy(at, alpha + o, (size_t)(c - o) * sizeof(float));
            memcpy(bt, bias + o, (size_t)(c - o) * sizeof(float));
            _mm_storel_epi64((__m128i *)out, xnor8(kp, dt, at, bt, inv, z, l, h));
            memcpy(dst + o, out, (size_t)(c - o));
        }
    }
}

/* One output pixel of the box filter, binact.c's scalar loop. */
static float box_one(const float *a, int in_h, int in_w, int k, int stride, int pad, int oy, int ox,
                     float inv)
{
    double s = 0.0;
    for (int ky = 0; ky < k; ky++) {
        int iy = oy * stride - pad + ky;
        for (int kx = 0; kx < k && iy >= 0 && iy < in_h; kx++) {
            int ix = ox * stride - pad + kx;
            if (ix >= 0 && ix < in_w)
                s += a[iy * in_w + ix];
        }
    }
    return (float)s * inv;
}

void frost_int8_xnor_box_avx2(const float *a, int in_h, int in_w, int k, int stride, int pad,
                              int oh, int ow, float *out)
{
    const float inv = 1.0f / (float)(k * k);
    const __m128 vinv = _mm_set1_ps(inv);
    for (int oy = 0; oy < oh; oy++) {
        int first = oy * stride - pad;
        int y0 = first < 0 ? -first : 0, y1 = first + k > in_h ? in_h - first : k;
        int ox = 0;
        while (ox < ow) {
            /* stride 1, four pixels whose columns are all inside: one lane each, the taps
             * in the scalar order (rows, then columns), so every lane's sum is the scalar's */
            if (stride == 1 && ox >= pad && ox + 3 - pad + k <= in_w && ox + 4 <= ow) {
                __m256d s = _mm256_setzero_pd();
                for (int ky = y0; ky < y1; ky++) {
                    const float *r = a + (first + ky) * in_w + ox - pad;
                    for (int kx = 0; kx < k; kx++)
                        s = _mm256_add_pd(s, _mm256_cvtps_pd(_mm_loadu_ps(r + kx)));
                }
                _mm_storeu_ps(out + oy * ow + ox, _mm_mul_ps(_mm256_cvtpd_ps(s), vinv));
                ox += 4;
            } else {
                out[oy * ow + ox] = box_one(a, in_h, in_w, k, stride, pad, oy, ox, inv);
                ox++;
            }
        }
    }
}
