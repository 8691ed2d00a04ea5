/* The per-path inner kernels behind binary.h (conv.c drives them; the tests call them too).
 *
 * dots: for every output channel j of `blocks` weight blocks (8 channels each),
 *   differ[j] = sum over k < k_words of popcount((x[k] XOR bits[k of j]) AND mask[k of j])
 * (no AND when mask is NULL), the positions where the +-1 values differ, and
 *   dot[j] = base[j] - 2 * differ[j]
 * with base the weights' per-channel count (frost_bin_weights.base); dot and base have
 * blocks * 8 entries.
 * s8dot: acc[j] = sum over i < stride of xu8[i] * w[j * stride + i] for j < o, where xu8 is
 * the int8 patch offset by 128 (as uint8) and w the -1/0/+1 weights. */
#ifndef FROST_BINARY_KERNELS_H
#define FROST_BINARY_KERNELS_H

#include <stdint.h>

#include "binary/binary.h"

typedef void (*frost_bin_dots_fn)(const uint64_t *x, const uint64_t *bits, const uint64_t *mask,
                                  int k_words, int blocks, const int32_t *base, int32_t *dot);

/* The dots kernel of path p (the reference for a path this CPU lacks is the caller's
 * business: check frost_bin_path_available first). */
frost_bin_dots_fn frost_bin_dots_for(frost_bin_path p);

void frost_bin_dots_ref(const uint64_t *x, const uint64_t *bits, const uint64_t *mask, int k_words,
                        int blocks, const int32_t *base, int32_t *dot);
void frost_bin_dots_popcnt(const uint64_t *x, const uint64_t *bits, const uint64_t *mask,
                           int k_words, int blocks, const int32_t *base, int32_t *dot);
void frost_bin_dots_avx2(const uint64_t *x, const uint64_t *bits, const uint64_t *mask, int k_words,
                         int blocks, const int32_t *base, int32_t *dot);
void frost_bin_dots_avx512(const uint64_t *x, const uint64_t *bits, const uint64_t *mask,
                           int k_words, int blocks, const int32_t *base, int32_t *dot);

/* Binary weights (no mask) with the nibbles split ahead of time, the AVX2 conv's layout for
 * layers with enough pixels to pay for the split (conv.c): wn holds, for each block and word
 * k, 16 words: the 8 channels' words AND 0x0f.. (the low nibble of every byte), then their
 * (words >> 4) AND 0x0f.. (the high nibbles); xn holds x[k] AND 0x0f.. and (x[k] >> 4) AND
 * 0x0f.. at 2k and 2k + 1. dot as frost_bin_dots_avx2 computes it. */
/* The weights' nibble planes of that layout from the blocked bits (`groups` = blocks *
 * k_words groups of 8 words; wn: 16 words per group). */
void frost_bin_split_nibbles(const uint64_t *bits, size_t groups, uint64_t *wn);
void frost_bin_dots_nibbles_avx2(const uint64_t *xn, const uint64_t *wn, int k_words, int blocks,
                                 const int32_t *base, int32_t *dot);

/* frost_bin_pack_f32 / frost_bin_pack_s8 with AVX2 compares (x86/pack_avx2.c). */
void frost_bin_pack_f32_avx2(const float *x, long pixels, int c, uint64_t *out);
void frost_bin_pack_s8_avx2(const int8_t *x, long pixels, int c, int8_t zero, uint64_t *out);

uint64_t frost_bin_popcount_ref(const uint64_t *w, long n);
uint64_t frost_bin_popcount_popcnt(const uint64_t *w, long n);
uint64_t frost_bin_popcount_avx2(const uint64_t *w, long n);
uint64_t frost_bin_popcount_avx512(const uint64_t *w, long n);

void frost_bin_s8dot_ref(const uint8_t *xu8, const int8_t *w, int stride, int o, int32_t *acc);
void frost_bin_s8dot_avx2(const uint8_t *xu8, const int8_t *w, int stride, int o, int32_t *acc);

/* The FLOAT and BITS output stages of one pixel, as emit_pixel in conv.c computes them. */
void frost_bin_emit_float_avx2(const int32_t *dot, const float *alpha, const float *bias, int o,
                               float *dst);
void frost_bin_emit_bits_avx2(const int32_t *dot, const frost_bin_thresh *t, int o, uint64_t *dst);
/* The BITS stage with the thresholds rewritten as bit j = (dot[j] > cut[j]) XOR inv[j]
 * (conv.c builds cut and inv once per call); dot, cut, inv: ceil(o / 8) * 8 entries. */
void frost_bin_emit_bits_cut_avx2(const int32_t *dot, const int32_t *cut, const int32_t *inv, int o,
                                  uint64_t *dst);

#endif
