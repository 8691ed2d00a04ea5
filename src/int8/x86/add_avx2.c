/* Requantized elementwise add (AVX2), 8 values at a time; the tail uses the reference. */
#include "int8/kernels.h"
#include "int8/x86/requant_avx2.h"

void frost_int8_requant8_avx2(const int32_t *acc, const int32_t *mult, const int32_t *shift,
                              int32_t *out)
{
    __m256i r = frost_mbqm_avx2(_mm256_loadu_si256((const __m256i *)acc),
                                _mm256_loadu_si256((const __m256i *)mult),
                                _mm256_loadu_si256((const __m256i *)shift));
    _mm256_storeu_si256((__m256i *)out, r);
}

static inline __m256i scaled(const uint8_t *x, __m256i zp, __m256i m, __m256i e)
{
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)x));
    return frost_mbqm_avx2(_mm256_slli_epi32(_mm256_sub_epi32(v, zp), 20), m, e);
}

static inline __m256 centered(const uint8_t *x, __m256i zp)
{
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)x));
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(v, zp));
}

static inline void store8(uint8_t *y, __m256i r, __m256i zo, __m256i lo, __m256i hi)
{
    r = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, zo), lo), hi);
    __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storel_epi64((__m128i *)y, _mm_packus_epi16(w, w));
}

/* The float-requantized add: x0 * fa + x1 * fb (two roundings, as the scalar form). */
static void add_float(const frost_int8_add_args *a, int64_t n, const uint8_t *x0, const uint8_t *x1,
                      uint8_t *y)
{
    __m256i za = _mm256_set1_epi32(a->a_zp), zb = _mm256_set1_epi32(a->b_zp);
    __m256i zo = _mm256_set1_epi32(a->out_zp);
    __m256i lo = _mm256_set1_epi32(a->lo), hi = _mm256_set1_epi32(a->hi);
    __m256 fa = _mm256_set1_ps(a->fa), fb = _mm256_set1_ps(a->fb);
    __m256 vmin = _mm256_set1_ps(-32768.0f), vmax = _mm256_set1_ps(32767.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_add_ps(_mm256_mul_ps(centered(x0 + i, za), fa),
                                 _mm256_mul_ps(centered(x1 + i, zb), fb));
        v = _mm256_min_ps(_mm256_max_ps(v, vmin), vmax);
        store8(y + i, _mm256_cvtps_epi32(v), zo, lo, hi);
    }
    if (i < n)
        frost_int8_add_ref(a, n - i, x0 + i, x1 + i, y + i);
}

void frost_int8_add_avx2(const frost_int8_add_args *a, int64_t n, const uint8_t *x0,
                         const uint8_t *x1, uint8_t *y)
{
    if (a->fp) {
        add_float(a, n, x0, x1, y);
        return;
    }
    __m256i za = _mm256_set1_epi32(a->a_zp), zb = _mm256_set1_epi32(a->b_zp);
    __m256i zo = _mm256_set1_epi32(a->out_zp);
    __m256i m0 = _mm256_set1_epi32(a->mult[0]), e0 = _mm256_set1_epi32(a->shift[0]);
    __m256i m1 = _mm256_set1_epi32(a->mult[1]), e1 = _mm256_set1_epi32(a->shift[1]);
    __m256i m2 = _mm256_set1_epi32(a->mult[2]), e2 = _mm256_set1_epi32(a->shift[2]);
    __m256i lo = _mm256_set1_epi32(a->lo), hi = _mm256_set1_epi32(a->hi);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i s = _mm256_add_epi32(scaled(x0 + i, za, m0, e0), scaled(x1 + i, zb, m1, e1));
        store8(y + i, frost_mbqm_avx2(s, m2, e2), zo, lo, hi);
    }
    if (i < n)
        frost_int8_add_ref(a, n - i, x0 + i, x1 + i, y + i);
}
