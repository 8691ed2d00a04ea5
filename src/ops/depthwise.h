/*
 * Depthwise convolution (groups == cin == cout: one kxk filter per channel),
 * internal to src/ops.
 *
 * GEMM is a poor fit for depthwise convs (K = kh*kw is tiny), so they get their
 * own kernels, vectorised along channels: in NHWC the channels of one pixel are
 * contiguous, and with the weight transposed to [kh*kw][c] so are the filter
 * taps of consecutive channels. Each kernel exists three times with the same
 * signature: a portable reference (_ref, depthwise.c, the oracle the tests
 * trust), an AVX2/FMA version (_avx2, x86/depthwise_avx2.c, 8 channels per
 * register) and an AVX-512 one (_avx512, x86/depthwise_avx512.c, 16), picked at
 * run time. A row kernel handles one image row; the whole-tensor drivers below run
 * them in parallel.
 */
#ifndef FROST_OPS_DEPTHWISE_H
#define FROST_OPS_DEPTHWISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/ops.h"

/* Shape of one depthwise conv call. */
typedef struct {
    int n, h, w, c; /* input NHWC (output has the same c) */
    int oh, ow;     /* output spatial size */
    int kh, kw, stride, pad_h, pad_w;
    /* Set by frost_dw_forward for outputs much larger than the cache: the SIMD
     * kernels then write them with streaming stores, which skip reading each
     * line before overwriting it (the consumer would find it evicted anyway). */
    bool stream_output;
} frost_dw_geom;

/* A parallel region costs microseconds, far more on a busy machine where a
 * spinning thread waits for a descheduled one: loops with less work than this
 * (multiply-adds or floats moved) run on the calling thread. */
#define FROST_CONV_MIN_PARALLEL_WORK ((int64_t)1 << 16)

/* Output size (floats) from which the forward streams its stores: ~16 MB,
 * about half of this machine class's L3 and more than what survives in it. */
#define FROST_DW_STREAM_FLOATS ((size_t)4 << 20)

/* The weight gradient is summed over a fixed number of slices (of whole images
 * when the batch has at least this many, else of output rows), each into its
 * own partial buffer, then the slices are added in order: the result does not
 * depend on the thread count or schedule (and needs no atomics). */
#define FROST_DW_PARTS 16

/* Row kernels. wt is the weight transposed to [kh*kw][c]; b may be NULL.
 * forward: writes output row (n, oh) of y.
 * backward_data: adds into input row (n, ih) of dx (gathers from dy, so rows are
 *   independent and can run in parallel).
 * backward_weight_rows: adds the contribution of output rows [r0, r1) (row r is
 *   image r / oh, row r % oh) into dwt[kh*kw][c]; a range, not one row, so that
 *   small maps can sum several rows in registers. */
void frost_dw_forward_row_ref(const frost_dw_geom *g, int n, int oh, const float *x,
                              const float *wt, const float *b, float *y);
void frost_dw_backward_data_row_ref(const frost_dw_geom *g, int n, int ih, const float *dy,
                                    const float *wt, float *dx, bool overwrite);
void frost_dw_backward_weight_rows_ref(const frost_dw_geom *g, int64_t r0, int64_t r1,
                                       const float *x, const float *dy, float *dwt);

void frost_dw_forward_row_avx512(const frost_dw_geom *g, int n, int oh, const float *x,
                                 const float *wt, const float *b, float *y);
/* The same with an activation applied as the outputs are stored (the FP32 engine's conv
 * + activation, one pass over the row instead of two). */
void frost_dw_forward_row_act_avx512(const frost_dw_geom *g, int n, int oh, const float *x,
                                     const float *wt, const float *b, frost_act_kind act, float *y);
void frost_dw_backward_data_row_avx512(const frost_dw_geom *g, int n, int ih, const float *dy,
                                       const float *wt, float *dx, bool overwrite);
void frost_dw_backward_weight_rows_avx512(const frost_dw_geom *g, int64_t r0, int64_t r1,
                                          const float *x, const float *dy, float *dwt);

void frost_dw_forward_row_avx2(const frost_dw_geom *g, int n, int oh, const float *x,
                               const float *wt, const float *b, float *y);
void frost_dw_backward_data_row_avx2(const frost_dw_geom *g, int n, int ih, const float *dy,
                                     const float *wt, float *dx, bool overwrite);
void frost_dw_backward_weight_rows_avx2(const frost_dw_geom *g, int64_t r0, int64_t r1,
                                        const float *x, const float *dy, float *dwt);

/* Index arithmetic of one spatial axis, shared by both versions so that they
 * agree on every border. All return false when the range is empty.
 * window_taps: taps t in [0,k) whose input o*stride - pad + t lies in [0, in).
 * output_span: outputs o in [0,out) that tap t reads from inside [0, in).
 * gather_taps: taps that feed input position i (pos = i + pad): t == pos (mod
 *   stride), output (pos - t) / stride in [0, out); *first..*last step stride. */
bool frost_dw_window_taps(int o, int k, int stride, int pad, int in, int *first, int *last);
bool frost_dw_output_span(int t, int stride, int pad, int in, int out, int *first, int *last);
bool frost_dw_gather_taps(int pos, int k, int stride, int out, int *first, int *last);

/* The kernel families. */
typedef enum { FROST_DW_REF, FROST_DW_AVX2, FROST_DW_AVX512 } frost_dw_kernels;

/* The fastest family this CPU runs (after FROST_NO_AVX512 / FROST_NO_SIMD). */
frost_dw_kernels frost_dw_best_kernels(void);

/* Whole-tensor drivers (OpenMP over rows). w is OHWI [c][kh][kw][1]; scratch holds
 * frost_dw_scratch_floats() floats. `kernels` picks the family (callers pass
 * frost_dw_best_kernels(); tests force each). backward adds into dx (nullable) and dw;
 * with dx_overwrite it writes dx instead (the old values taken as 0 without being read:
 * the same arithmetic as clearing dx first, so the same bits). */
size_t frost_dw_scratch_floats(const frost_dw_geom *g);
void frost_dw_forward(const frost_dw_geom *g, frost_dw_kernels kernels, const float *x,
                      const float *w, const float *b, float *y, float *scratch);
void frost_dw_backward(const frost_dw_geom *g, frost_dw_kernels kernels, const float *x,
                       const float *w, const float *dy, float *dx, bool dx_overwrite, float *dw,
                       float *scratch);

#endif
