/*
 * Fake-quant inner loops (internal): the portable reference and the AVX2 versions,
 * which must give bit-identical results (tests compare them). The public
 * functions in frost/quant.h pick one at run time.
 */
#ifndef FROST_QUANT_FQ_KERNELS_H
#define FROST_QUANT_FQ_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

/* y = fake-quant of n values; lo/hi = qmin/qmax as floats. */
void frost_fake_quant_ref(int64_t n, const float *x, float scale, float inv, int zp, float lo,
                          float hi, float *y);
void frost_fake_quant_avx2(int64_t n, const float *x, float scale, float inv, int zp, float lo,
                           float hi, float *y);
/* dx += dy where x quantizes inside [lo, hi] (accumulate), or dx = that masked dy. */
void frost_fake_quant_grad_ref(int64_t n, const float *x, float inv, int zp, float lo, float hi,
                               const float *dy, float *dx, bool accumulate);
void frost_fake_quant_grad_avx2(int64_t n, const float *x, float inv, int zp, float lo, float hi,
                                const float *dy, float *dx, bool accumulate);
/* Min and max of the finite values (+Inf/-Inf if there are none). */
void frost_minmax_finite_ref(int64_t n, const float *x, float *mn, float *mx);
void frost_minmax_finite_avx2(int64_t n, const float *x, float *mn, float *mx);

#endif
