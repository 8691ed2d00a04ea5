/*
 * int8 kernels (internal). Each op has a portable reference (kernels_ref.c), the oracle,
 * and where it matters an AVX2 version (x86/) that must give bit-identical output
 * (tests/test_int8_kernels.c checks thousands of random cases).
 *
 * Tensors are one image, NHWC, activations uint8 with a zero point, weights int8
 * (symmetric, zero point 0). Convolution output:
 *   acc[c] = bias[c] + sum over taps inside the input of w * (x - in_zp)
 *   y[c]   = clamp(MBQM(acc[c], mult[c], shift[c]) + out_zp, lo, hi)
 * The fast kernels compute the same sum as bias_eff[c] + sum over all taps of w * x, with
 * padding taps reading in_zp and bias_eff[c] = bias[c] - in_zp * sum(w[c]).
 */
#ifndef FROST_INT8_KERNELS_H
#define FROST_INT8_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int h, w, cin;    /* input */
    int acc_shift;    /* acc = bias + 2^acc_shift * sum w (x - in_zp) */
    int oh, ow, cout; /* output */
    int k, stride, pad, groups;
    int32_t in_zp, out_zp, lo, hi;
    const int8_t *weight;    /* [cout][k][k][cin/groups] */
    const int32_t *bias;     /* q_b (reference) */
    const int32_t *bias_eff; /* bias - in_zp * sum(w) (fast kernels) */
    const int32_t *mult, *shift;
    const float *fscale; /* non-NULL: float requantization with these scales (requant.h) */
} frost_int8_conv_args;

/* Reference convolution (any k, stride, pad, groups). */
void frost_int8_conv_ref(const frost_int8_conv_args *a, const uint8_t *x, uint8_t *y);

/* The packing functions shift the int16 weights left by a->acc_shift (<= 8, so
 * |w| * 2^8 still fits int16), and bias_eff = bias - (in_zp * sum(w) << acc_shift). */
/* AVX2 conv through an int16 GEMM (groups == 1): 1x1 convs read the input directly,
 * k x k ones through an im2col tile. `packed` comes from frost_int8_gemm_pack. Output
 * pixels [pix0, pix1) (row-major). scratch: frost_int8_gemm_scratch_bytes per thread. */
size_t frost_int8_gemm_packed_bytes(int cout, int kdim);
void frost_int8_gemm_pack(int cout, int kdim, int acc_shift, const int8_t *w,
                          const int32_t *bias_eff, const int32_t *mult, const int32_t *shift,
                          const float *fscale, void *packed);
size_t frost_int8_gemm_scratch_bytes(const frost_int8_conv_args *a);
void frost_int8_conv_gemm_avx2(const frost_int8_conv_args *a, const void *packed, const uint8_t *x,
                               uint8_t *y, int pix0, int pix1, void *scratch);

/* The same convolution through AVX-512 VNNI (u8 x s8 vpdpbusd into int32, 512-bit forms;
 * only after frost_cpu_has_avx512_vnni()). Weights stay int8 (acc_shift is applied to the
 * sums, from the packed constants: the kernel does not read a->acc_shift); `packed` from
 * frost_int8_vnni_pack; output pixels [pix0, pix1). */
size_t frost_int8_vnni_packed_bytes(int cout, int kdim);
void frost_int8_vnni_pack(int cout, int kdim, int acc_shift, const int8_t *w,
                          const int32_t *bias_eff, const int32_t *mult, const int32_t *shift,
                          const float *fscale, void *packed);
size_t frost_int8_vnni_scratch_bytes(const frost_int8_conv_args *a);
void frost_int8_conv_vnni(const frost_int8_conv_args *a, const void *packed, const uint8_t *x,
                          uint8_t *y, int pix0, int pix1, void *scratch);

/* Depthwise (groups == cin == cout), any k and stride; AVX2 over 16 channels at a time.
 * When cin is not a multiple of 16 it reads up to 15 bytes past the input tensor's end
 * (the runtime's arena leaves 64 bytes of slack after every tensor).
 * `packed`: frost_int8_dw_pack's weights (int16, tap-pair interleaved). Output rows
 * [row0, row1). */
size_t frost_int8_dw_packed_bytes(int c, int k);
void frost_int8_dw_pack(int c, int k, int acc_shift, const int8_t *w, const int32_t *bias_eff,
                        const int32_t *mult, const int32_t *shift, const float *fscale,
                        void *packed);
void frost_int8_dwconv_avx2(const frost_int8_conv_args *a, const void *packed, const uint8_t *x,
                            uint8_t *y, int row0, int row1);

/* Depthwise 3x3 / 5x5 with AVX-512 VNNI, 64 channels at a time in zmm (a last block of
 * 32 or fewer channels two pixels at a time), any stride and padding (border pixels read
 * their window through a zero-point-filled copy: no padded input needed). Reads up to 31
 * bytes past the input's end. Output rows [row0, row1). */
size_t frost_int8_dw_vnni_packed_bytes(int c, int k);
void frost_int8_dw_vnni_pack(int c, int k, int acc_shift, const int8_t *w, const int32_t *bias_eff,
                             const int32_t *mult, const int32_t *shift, const float *fscale,
                             void *packed);
void frost_int8_dwconv_vnni(const frost_int8_conv_args *a, const void *packed, const uint8_t *x,
                            uint8_t *y, int row0, int row1);

/* The output stage of a node with a sign input (binact.c): y[p][o] = requant(bias[o] +
 * dots[p][o] << acc_shift) + zp clamped to [lo, hi] for `pixels` rows of c channels; bias
 * zero-padded to `stride` (c rounded up to 16), rq the frost_rq_pack constants (fp: the float
 * scales in array 0). Bit for bit the scalar frost_requant_u8 / _float. */
void frost_int8_bin_output_avx2(int64_t pixels, int c, const int32_t *dots, int acc_shift,
                                const int32_t *bias, const int32_t *rq, int stride, bool fp,
                                int32_t zp, int32_t lo, int32_t hi, uint8_t *y);
/* The output stage of an xnor node (binact.c): y[p][o] = frost_quantize_one(k[p] *
 * (alpha[o] * dots[p][o]) + bias[o], scale, zp, lo, hi), float products and sums in that
 * order (no fused multiply-add), bit for bit the scalar loop. */
void frost_int8_xnor_output_avx2(int64_t pixels, int c, const int32_t *dots, const float *k,
                                 const float *alpha, const float *bias, float scale, int32_t zp,
                                 int32_t lo, int32_t hi, uint8_t *y);
/* XNOR's K from the channel means a ([in_h][in_w]): out[oy][ox] = (float)(sum in double of
 * a over the window's taps inside the map, rows then columns) * (1 / k^2), as
 * frost_xnor_conv_k; four stride-1 output pixels at a time (bit for bit the scalar sums). */
void frost_int8_xnor_box_avx2(const float *a, int in_h, int in_w, int k, int stride, int pad,
                              int oh, int ow, float *out);
/* Sign bits (1 where x >= zp) of `pixels` runs of c bytes, ceil(c/64) words each, tails zero
 * (binary.h's layout). */
void frost_int8_bin_pack_signs_avx2(const uint8_t *x, int64_t pixels, int c, int zp, uint64_t *out);
/* Its requant constants: bytes for `stride` channels, and packing (AVX2 CPUs only). */
size_t frost_int8_bin_rq_bytes(int stride);
void frost_int8_bin_rq_pack(const int32_t *m0, const int32_t *e, const float *fscale, int c,
                            int stride, int32_t *out);

/* Vector requantization of 8 lanes (exported for the kernel tests). */
void frost_int8_requant8_avx2(const int32_t *acc, const int32_t *mult, const int32_t *shift,
                              int32_t *out);
/* The VNNI kernels' one-rounding MBQM (requant_avx512.h) of 16 and 8 lanes (exported for the
 * kernel tests; only after frost_cpu_has_avx512_vnni()). */
void frost_int8_requant16_avx512(const int32_t *acc, const int32_t *mult, const int32_t *shift,
                                 int32_t *out);
void frost_int8_requant8_avx512(const int32_t *acc, const int32_t *mult, const int32_t *shift,
                                int32_t *out);
/* The add's input scaling MBQM((x[i] - zp) << 20, m0, e) of 8 bytes for e <= 0, the
 * two-multiply form frost_int8_add_avx2 uses (exported for the kernel tests). */
void frost_int8_add_scaled8_avx2(const uint8_t *x, int32_t zp, int32_t m0, int32_t e, int32_t *out);

/* Elementwise add: y = clamp(MBQM(MBQM((a-za) << 20, m[0]) + MBQM((b-zb) << 20, m[1]), m[2]) + zy).
 */
typedef struct {
    int32_t a_zp, b_zp, out_zp, lo, hi;
    int32_t mult[3], shift[3];
    /* float requantization, when `fp`: y = clamp(round_half_even(fma(x0, fa, fma(x1, fb,
     * fixed)))) with fa = S_a / S_y, fb = S_b / S_y and fixed = Z_y - fma(fa, Z_a, fb Z_b),
     * all float32 (frost_int8_add_float_params). The zero points ride in `fixed` and both
     * products are fused: ONNX Runtime's x86 QLinearAdd computes exactly this, so the two
     * agree bit for bit (a plain (x - Z) * f sum differed from it on near-ties such as
     * 120.500002, and such steps grow through a residual network). */
    bool fp;
    float fa, fb, fixed;
} frost_int8_add_args;
/* Sets fa, fb and fixed from the three float32 scales and the zero points in *a. */
void frost_int8_add_float_params(frost_int8_add_args *a, float s_a, float s_b, float s_y);
void frost_int8_add_ref(const frost_int8_add_args *a, int64_t n, const uint8_t *x0,
                        const uint8_t *x1, uint8_t *y);
void frost_int8_add_avx2(const frost_int8_add_args *a, int64_t n, const uint8_t *x0,
                         const uint8_t *x1, uint8_t *y);
/* The same in 16 lanes (AVX-512; only after frost_cpu_has_avx512_vnni()). */
void frost_int8_add_avx512(const frost_int8_add_args *a, int64_t n, const uint8_t *x0,
                           const uint8_t *x1, uint8_t *y);

/* Elementwise product, TFLite-style: the integer product of the zero-point-free inputs is
 * requantized by M = S_a S_b / (S_y 2^acc_shift):
 *   y = clamp(MBQM(((x0 - a_zp) * (x1 - b_zp)) << acc_shift, mult, shift) + out_zp, lo, hi).
 * |product| <= 255^2 < 2^16, so acc_shift <= 14 keeps it within 2^30; like the add's 20
 * bits, the shift puts MBQM's first rounding on a fine grid (one rounding, in effect). */
typedef struct {
    int32_t a_zp, b_zp, out_zp, lo, hi;
    int32_t mult, shift, acc_shift;
    /* float requantization (requant.h), when `fp`: y = clamp(round_half_even((float)product *
     * f) + out_zp), f = S_a S_b / S_y, float32 (the product is exact in float) */
    bool fp;
    float f;
} frost_int8_mul_args;
/* `pixels` rows of c values; x1 has as many, or (per_channel) one row used for every pixel. */
void frost_int8_mul_ref(const frost_int8_mul_args *a, int64_t pixels, int c, bool per_channel,
                        const uint8_t *x0, const uint8_t *x1, uint8_t *y);
void frost_int8_mul_avx2(const frost_int8_mul_args *a, int64_t pixels, int c, bool per_channel,
                         const uint8_t *x0, const uint8_t *x1, uint8_t *y);

/* y[i] = lut[x[i]] over n bytes, with a stride: rows of `len` bytes read at x + r * x_stride
 * and written at y + r * y_stride (concat writes its slice of each pixel). */
void frost_int8_lut_rows(const uint8_t *lut, int64_t rows, int len, const uint8_t *x, int x_stride,
                         uint8_t *y, int y_stride);
/* The same through AVX2 (x86/lut_avx2.c; the same bytes). */
void frost_int8_lut_rows_avx2(const uint8_t *lut, int64_t rows, int len, const uint8_t *x,
                              int x_stride, uint8_t *y, int y_stride);

/* Pools over NHWC (h, w, c) with window k, stride, pad (padding taps are skipped). */
typedef struct {
    int h, w, c, oh, ow, k, stride, pad;
    int acc_shift; /* avg/gap: the sum is shifted left by this first */
    int32_t in_zp, out_zp, lo, hi;
    const int32_t *mult, *shift; /* avg: indexed by the tap count (1..k*k); gap: [0] */
    const uint8_t *lut;          /* max: requant table */
} frost_int8_pool_args;
void frost_int8_maxpool_ref(const frost_int8_pool_args *a, const uint8_t *x, uint8_t *y);
void frost_int8_avgpool_ref(const frost_int8_pool_args *a, const uint8_t *x, uint8_t *y);
void frost_int8_gap_ref(const frost_int8_pool_args *a, const uint8_t *x, uint8_t *y);
/* The same global average pool through AVX2 (bit-identical). */
void frost_int8_gap_avx2(const frost_int8_pool_args *a, const uint8_t *x, uint8_t *y);

/* Fully connected: acc[o] = sum_i w[o][i] * (x[i] - in_zp); int8 output (with bias and
 * requant, clamp) or float logits out_scale[o] * acc[o] + out_bias[o]. */
void frost_int8_linear_ref(int cin, int cout, int32_t in_zp, const int8_t *w, const uint8_t *x,
                           int32_t *acc);

/* The full accumulator through AVX2: acc[o] = bias_eff[o] + (sum_i w[o][i] x[i] << shift),
 * with bias_eff = bias - (in_zp * sum(w) << shift). xs: cin + 16 int16 of scratch. */
void frost_int8_linear_avx2(int cin, int cout, int shift, const int8_t *w, const uint8_t *x,
                            const int32_t *bias_eff, int32_t *acc, int16_t *xs);

#endif
