/*
 * Bit-packed binary (+-1) and ternary (-1/0/+1) kernels: packing, popcount, convolution and
 * fully connected layers producing int32 dot products, and the fused output stages (scale +
 * bias to float, BN + sign to packed bits for the next binary layer).
 *
 * Conventions (docs/lowbit-kernels.md has the derivations):
 *   - +1 is bit 1, -1 is bit 0; element i is bit i%64 of word i/64.
 *   - The bits past the last element of a word are zero in every packed buffer, activations
 *     and weights alike, so the +-1 dot product of n elements is n - 2*popcount(a XOR b)
 *     with no mask.
 *   - Activations are NHWC with one run of ceil(C/64) words per pixel.
 *   - Spatial padding of a binary conv is -1 (an all-zero pixel). Padded taps contribute to
 *     the dot product like any other -1, and n counts every tap: n = kh*kw*C.
 *   - A weight row is the kh*kw*C bits of one output channel in OHWI order, back to back
 *     (element (tap, ch) is bit tap*C + ch), k_words = ceil(kh*kw*C/64) words: with C = 16 a
 *     3x3 row is 3 words, not 9. The conv assembles each output pixel's input row the same
 *     way (a 1x1 unpadded conv reads the input pixel in place).
 *   - Rows are blocked by FROST_BIN_BLOCK output channels: word k of output channel o is
 *     bits[((o / 8) * k_words + k) * 8 + o % 8]. Channels past o in the last block are zero.
 */
#ifndef FROST_BINARY_H
#define FROST_BINARY_H

#include <stdbool.h>
#include <stdint.h>

#include "frost/status.h"

/* Output channels per weight block: one zmm of uint64 words, two ymm. */
#define FROST_BIN_BLOCK 8

/* Words that hold `bits` packed elements. */
static inline int frost_bin_words(int bits) { return (bits + 63) / 64; }

/* Which kernels run. REF is portable C (a portable popcount); POPCNT is the same loops with
 * the POPCNT instruction; AVX2 counts with the vpshufb nibble table; AVX512 with vpopcntq. */
typedef enum {
    FROST_BIN_REF = 0,
    FROST_BIN_POPCNT,
    FROST_BIN_AVX2,
    FROST_BIN_AVX512,
    FROST_BIN_PATH_COUNT
} frost_bin_path;

/* "reference", "popcnt", "avx2", "avx512-vpopcntdq". */
const char *frost_bin_path_name(frost_bin_path p);
/* True when this CPU (and the environment: FROST_NO_SIMD, FROST_NO_AVX512) allows path p. */
bool frost_bin_path_available(frost_bin_path p);
/* The path the kernels take when the caller does not choose: AVX512 where the CPU has
 * VPOPCNTDQ (and FROST_NO_AVX512 is unset), else AVX2, else the reference. */
frost_bin_path frost_bin_best_path(void);

/* ---- popcount ---- */

/* Portable popcount of one word (no POPCNT instruction needed). */
static inline int frost_bin_popcount64(uint64_t v)
{
    v = v - ((v >> 1) & 0x5555555555555555ull);
    v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
    v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (int)((v * 0x0101010101010101ull) >> 56);
}

/* Set bits in words[0..n). AVX2: Harley-Seal carry-save adders over 16 vectors at a time,
 * the nibble table for the rest. A path this CPU lacks counts with the reference. */
uint64_t frost_bin_popcount(const uint64_t *words, long n, frost_bin_path path);

/* ---- packing ---- */

/* Sign bits of `pixels` runs of c floats (NHWC): bit 1 where x >= 0 (sign(0) = +1), tails
 * zero. out has pixels * frost_bin_words(c) words. */
void frost_bin_pack_f32(const float *x, long pixels, int c, uint64_t *out);
/* The same for int8 activations with zero point `zero`: bit 1 where q >= zero (the real
 * value s*(q - zero) >= 0). */
void frost_bin_pack_s8(const int8_t *x, long pixels, int c, int8_t zero, uint64_t *out);

/* Packed weights of one binary or ternary conv / linear layer. */
typedef struct frost_bin_weights {
    int o, kh, kw, c;
    int tap_words;  /* frost_bin_words(c) */
    int k_words;    /* frost_bin_words(kh * kw * c): one output channel's row */
    int blocks;     /* ceil(o / FROST_BIN_BLOCK) */
    uint64_t *bits; /* sign plane: 1 = +1; [blocks][k_words][8] */
    int32_t *base;  /* [blocks * 8]: dot = base - 2 * (positions that differ); binary:
                       kh*kw*c (every tap counts, padding too), ternary: the channel's
                       non-zero weights */
    /* ternary only (NULL for binary): */
    uint64_t *mask;  /* non-zero plane, same layout as bits (bits is 0 where mask is 0) */
    int8_t *s8;      /* [o][s8_stride]: -1/0/+1 per (tap, channel), zero padded, for the
                        int8-activation kernel */
    int s8_stride;   /* kh*kw*c rounded up to 32 */
    int32_t *s8_sum; /* [o]: sum of the -1/0/+1 weights */
} frost_bin_weights;

/* Binary weights from float OHWI weights: +1 where w >= 0. */
frost_status frost_bin_weights_pack(const float *w, int o, int kh, int kw, int c,
                                    frost_bin_weights *out);
/* Ternary weights from float OHWI weights already in {-1, 0, +1} (or any scale: only the
 * sign of each non-zero value is kept). */
frost_status frost_bin_weights_pack_ternary(const float *w, int o, int kh, int kw, int c,
                                            frost_bin_weights *out);
void frost_bin_weights_free(frost_bin_weights *w);

/* ---- convolution ---- */

typedef struct frost_bin_conv_geom {
    int n, h, w;     /* input batch and spatial size (channels: the weights') */
    int stride, pad; /* same padding on all four sides */
    int oh, ow;      /* filled by frost_bin_conv_geom_init */
} frost_bin_conv_geom;

/* Checks the geometry against the weights and fills oh, ow. */
frost_status frost_bin_conv_geom_init(frost_bin_conv_geom *g, const frost_bin_weights *w);

/* What a conv writes for each output pixel. */
typedef enum {
    FROST_BIN_OUT_COUNTS, /* int32 dot products, [n][oh][ow][o] */
    FROST_BIN_OUT_FLOAT,  /* float alpha[o] * dot + bias[o], [n][oh][ow][o] */
    FROST_BIN_OUT_BITS    /* packed sign bits of BN(dot) (frost_bin_threshold), [n][oh][ow]
                             [frost_bin_words(o)] words, ready for the next binary layer */
} frost_bin_out_kind;

/* Per-channel integer threshold equal to (s * dot + t >= 0) (see frost_bin_threshold): the
 * bit is 1 when (flip ? -dot : dot) >= thr. */
typedef struct frost_bin_thresh {
    int32_t thr;
    int32_t flip;
} frost_bin_thresh;

typedef struct frost_bin_output {
    frost_bin_out_kind kind;
    const float *alpha, *bias;      /* FLOAT: [o] each (bias may be NULL) */
    const frost_bin_thresh *thresh; /* BITS: [o] */
} frost_bin_output;

/* Binary activations (x: [n][h][w][tap_words] words) times binary or ternary weights.
 * Ternary weights give sum over non-zero weights of w*x. Output rows are split over
 * frost_get_threads() threads when the layer is large enough. */
frost_status frost_bin_conv(const frost_bin_conv_geom *g, const uint64_t *x,
                            const frost_bin_weights *w, const frost_bin_output *out, void *y,
                            frost_bin_path path);

/* Linear (fully connected) layer: x is n rows of tap_words words, weights packed with
 * kh = kw = 1 and c = input features. */
frost_status frost_bin_linear(int n, const uint64_t *x, const frost_bin_weights *w,
                              const frost_bin_output *out, void *y, frost_bin_path path);

/* Ternary weights times int8 activations (x: [n][h][w][c] int8, padded with `pad_value`,
 * the int8 code of real 0): int32 dot products sum w * x, [n][oh][ow][o]. The AVX2 and
 * AVX512 paths run the AVX2 vpmaddubsw kernel, REF and POPCNT the plain C loop (the kernel
 * has no popcount). */
frost_status frost_bin_conv_ternary_s8(const frost_bin_conv_geom *g, const int8_t *x,
                                       int8_t pad_value, const frost_bin_weights *w, int32_t *y,
                                       frost_bin_path path);

/* ---- BN + sign as a threshold ---- */

/* The threshold for z = s * dot + t computed in float (the product, then the sum, no fused
 * multiply-add), bit = z >= 0, for dot in [-n, n]: exactly equal to that float expression at
 * every dot in the range, ties and negative s included. s and t fold the layer's scale and
 * BN: with alpha, bias and BN (gamma, beta, mean, var, eps), inv = gamma / sqrtf(var + eps),
 * s = inv * alpha and t = inv * (bias - mean) + beta (frost_bin_bn_affine). */
frost_bin_thresh frost_bin_threshold(float s, float t, int n);
/* s and t of BN(alpha * dot + bias) in the order the comment above gives. */
void frost_bin_bn_affine(float alpha, float bias, float gamma, float beta, float mean, float var,
                         float eps, float *s, float *t);

#endif
