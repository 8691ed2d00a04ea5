/*
 * AVX2 fake-quant kernels; bit-identical to the references in fake_quant.c:
 * the same float32 operations (multiply by the inverse scale, round half to
 * even, add the zero point, clamp, subtract, multiply), no fused multiply-add
 * (this file is built with -ffp-contract=off and uses no FMA intrinsics).
 * min/max operand order keeps NaN: MAXPS returns its second operand when
 * either is NaN.
 */
#include <immintrin.h>

#include "quant/fq_kernels.h"

#define ROUND_RHE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

void frost_fake_quant_avx2(int64_t n, const float *x, float scale, float inv, int zp, float lo,
                           float hi, float *y)
{
    __m256 vinv = _mm256_set1_ps(inv), vs = _mm256_set1_ps(scale), vz = _mm256_set1_ps((float)zp);
    __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 q = _mm256_add_ps(
            vz, _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv), ROUND_RHE));
        q = _mm256_min_ps(vhi, _mm256_max_ps(vlo, q));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_sub_ps(q, vz), vs));
    }
    if (i < n)
        frost_fake_quant_ref(n - i, x + i, scale, inv, zp, lo, hi, y + i);
}

void frost_fake_quant_grad_avx2(int64_t n, const float *x, float inv, int zp, float lo, float hi,
                                const float *dy, float *dx, bool accumulate)
{
    __m256 vinv = _mm256_set1_ps(inv), vz = _mm256_set1_ps((float)zp);
    __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 q = _mm256_add_ps(
            vz, _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv), ROUND_RHE));
        __m256 inside =
            _mm256_and_ps(_mm256_cmp_ps(q, vlo, _CMP_GE_OQ), _mm256_cmp_ps(q, vhi, _CMP_LE_OQ));
        __m256 g = _mm256_and_ps(inside, _mm256_loadu_ps(dy + i));
        _mm256_storeu_ps(dx + i, accumulate ? _mm256_add_ps(_mm256_loadu_ps(dx + i), g) : g);
    }
    if (i < n)
        frost_fake_quant_grad_ref(n - i, x + i, inv, zp, lo, hi, dy + i, dx + i, accumulate);
}

void frost_minmax_finite_avx2(int64_t n, const float *x, float *mn, float *mx)
{
    __m256 pinf = _mm256_set1_ps(__builtin_inff()), ninf = _mm256_set1_ps(-__builtin_inff());
    __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 vmn = pinf, vmx = ninf;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 finite = _mm256_cmp_ps(_mm256_and_ps(v, absmask), pinf, _CMP_LT_OQ);
        vmn = _mm256_min_ps(vmn, _mm256_blendv_ps(pinf, v, finite));
        vmx = _mm256_max_ps(vmx, _mm256_blendv_ps(ninf, v, finite));
    }
    float a[8], b[8];
    _mm256_storeu_ps(a, vmn);
    _mm256_storeu_ps(b, vmx);
    float lo, hi;
    frost_minmax_finite_ref(n - i, x + i, &lo, &hi);
    for (int k = 0; k < 8; k++) {
        lo = a[k] < lo ? a[k] : lo;
        hi = b[k] > hi ? b[k] : hi;
    }
    *mn = lo;
    *mx = hi;
}
