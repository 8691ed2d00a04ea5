/* Packing float / int8 activations and OHWI weights into the bit layouts of binary.h. */
#include <stdlib.h>
#include <string.h>

#include "binary/binary.h"
#include "binary/kernels.h"
#include "core/cpu.h"

/* One pixel's c flags (1 = +1) into frost_bin_words(c) words, the tail left zero. */
#define PACK_PIXEL(IS_PLUS, c, dst)                            \
    do {                                                       \
        int words_ = frost_bin_words(c);                       \
        for (int w_ = 0; w_ < words_; w_++) {                  \
            uint64_t v_ = 0;                                   \
            int end_ = (w_ + 1) * 64 < (c) ? 64 : (c)-w_ * 64; \
            for (int b_ = 0; b_ < end_; b_++)                  \
                v_ |= (uint64_t)(IS_PLUS(w_ * 64 + b_)) << b_; \
            (dst)[w_] = v_;                                    \
        }                                                      \
    } while (0)

void frost_bin_pack_f32(const float *x, long pixels, int c, uint64_t *out)
{
    if (frost_cpu_has_avx2()) { /* the scalar loop cost a quarter of a 64-channel layer */
        frost_bin_pack_f32_avx2(x, pixels, c, out);
        return;
    }
    int words = frost_bin_words(c);
    for (long p = 0; p < pixels; p++) {
        const float *px = x + p * c;
#define F32_PLUS(i) (px[i] >= 0.0f)
        PACK_PIXEL(F32_PLUS, c, out + p * words);
#undef F32_PLUS
    }
}

void frost_bin_pack_s8(const int8_t *x, long pixels, int c, int8_t zero, uint64_t *out)
{
    if (frost_cpu_has_avx2()) {
        frost_bin_pack_s8_avx2(x, pixels, c, zero, out);
        return;
    }
    int words = frost_bin_words(c);
    for (long p = 0; p < pixels; p++) {
        const int8_t *px = x + p * c;
#define S8_PLUS(i) (px[i] >= zero)
        PACK_PIXEL(S8_PLUS, c, out + p * words);
#undef S8_PLUS
    }
}

void frost_bin_weights_free(frost_bin_weights *w)
{
    if (!w)
        return;
    free(w->bits);
    free(w->mask);
    free(w->base);
    free(w->s8);
    free(w->s8_sum);
    memset(w, 0, sizeof *w);
}

static frost_status check_shape(const float *wt, const frost_bin_weights *out, int o, int kh,
                                int kw, int c)
{
    if (!wt || !out)
        return frost_fail(FROST_ERR_ARG, "binary weights: no weights or no output");
    if (o < 1 || kh < 1 || kw < 1 || c < 1)
        return frost_fail(FROST_ERR_ARG, "binary weights: shape %dx%dx%dx%d must be positive", o,
                          kh, kw, c);
    if ((long long)kh * kw * c > (1ll << 24) || o > (1 << 24))
        return frost_fail(FROST_ERR_ARG, "binary weights: %dx%dx%dx%d is too large", o, kh, kw, c);
    return FROST_OK;
}

static frost_status alloc_planes(int o, int kh, int kw, int c, bool ternary, frost_bin_weights *w)
{
    memset(w, 0, sizeof *w);
    w->o = o, w->kh = kh, w->kw = kw, w->c = c;
    w->tap_words = frost_bin_words(c);
    w->k_words = frost_bin_words(kh * kw * c);
    w->blocks = (o + FROST_BIN_BLOCK - 1) / FROST_BIN_BLOCK;
    size_t words = (size_t)w->blocks * w->k_words * FROST_BIN_BLOCK;
    w->bits = calloc(words, sizeof *w->bits);
    w->base = calloc((size_t)w->blocks * FROST_BIN_BLOCK, sizeof *w->base);
    bool ok = w->bits && w->base;
    if (ternary) {
        w->s8_stride = (kh * kw * c + 31) / 32 * 32;
        w->mask = calloc(words, sizeof *w->mask);
        w->s8 = calloc((size_t)o * w->s8_stride, 1);
        w->s8_sum = calloc((size_t)o, sizeof *w->s8_sum);
        ok = ok && w->mask && w->s8 && w->s8_sum;
    }
    if (!ok) {
        frost_bin_weights_free(w);
        return frost_fail(FROST_ERR_NOMEM, "binary weights: out of memory for %dx%dx%dx%d", o, kh,
                          kw, c);
    }
    return FROST_OK;
}

/* Word k of output channel o in the blocked layout. */
static size_t word_index(const frost_bin_weights *w, int o, int k)
{
    return ((size_t)(o / FROST_BIN_BLOCK) * w->k_words + k) * FROST_BIN_BLOCK + o % FROST_BIN_BLOCK;
}

/* Sets element (tap, ch) of channel o's row in plane p: the row is the kh*kw*c bits of the
 * OHWI weights in order, bit tap * c + ch. */
static void set_bit(const frost_bin_weights *w, uint64_t *p, int o, int tap, int ch)
{
    int i = tap * w->c + ch;
    p[word_index(w, o, i / 64)] |= 1ull << (i % 64);
}

frost_status frost_bin_weights_pack(const float *wt, int o, int kh, int kw, int c,
                                    frost_bin_weights *out)
{
    frost_status s = check_shape(wt, out, o, kh, kw, c);
    if (s == FROST_OK)
        s = alloc_planes(o, kh, kw, c, false, out);
    if (s != FROST_OK)
        return s;
    for (int oc = 0; oc < o; oc++)
        for (int tap = 0; tap < kh * kw; tap++)
            for (int ch = 0; ch < c; ch++)
                if (wt[((size_t)oc * kh * kw + tap) * c + ch] >= 0.0f)
                    set_bit(out, out->bits, oc, tap, ch);
    for (int oc = 0; oc < o; oc++) /* every position counts: padding is -1, not 0 */
        out->base[oc] = kh * kw * c;
    return FROST_OK;
}

frost_status frost_bin_weights_pack_ternary(const float *wt, int o, int kh, int kw, int c,
                                            frost_bin_weights *out)
{
    frost_status s = check_shape(wt, out, o, kh, kw, c);
    if (s == FROST_OK)
        s = alloc_planes(o, kh, kw, c, true, out);
    if (s != FROST_OK)
        return s;
    for (int oc = 0; oc < o; oc++)
        for (int tap = 0; tap < kh * kw; tap++)
            for (int ch = 0; ch < c; ch++) {
                float v = wt[((size_t)oc * kh * kw + tap) * c + ch];
                if (v == 0.0f || v != v) /* zero (NaN counts as zero: no sign to keep) */
                    continue;
                set_bit(out, out->mask, oc, tap, ch);
                if (v > 0.0f)
                    set_bit(out, out->bits, oc, tap, ch);
                out->base[oc]++;
                int8_t t = v > 0.0f ? 1 : -1;
                out->s8[(size_t)oc * out->s8_stride + tap * c + ch] = t;
                out->s8_sum[oc] += t;
            }
    return FROST_OK;
}
