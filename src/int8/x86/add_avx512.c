/*
 * The requantized elementwise add in 16 lanes (AVX-512 F/BW; called where the VNNI
 * kernels are, after frost_cpu_has_avx512_vnni()): the float form and the fixed-point
 * form of add_avx2.c's common case (both input multipliers shift right), the same
 * arithmetic step for step, so bit for bit the reference. The remaining values and the
 * other cases go to frost_int8_add_avx2.
 */
#include "int8/kernels.h"
#include "int8/x86/requant_avx512.h"

static inline __m512i bytes_as_i32(const uint8_t *x)
{
    return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)x));
}

/* clamp(r + zp, lo, hi) as 16 bytes (lo, hi within [0, 255]). */
static inline void store16(uint8_t *y, __m512i r, __m512i zo, __m512i lo, __m512i hi)
{
    r = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(r, zo), lo), hi);
    _mm_storeu_si128((__m128i *)y, _mm512_cvtepi32_epi8(r));
}

static int64_t add_float16(const frost_int8_add_args *a, int64_t n, const uint8_t *x0,
                           const uint8_t *x1, uint8_t *y)
{
    __m512i zo = _mm512_setzero_si512(); /* the zero point is in `fixed` */
    __m512i lo = _mm512_set1_epi32(a->lo), hi = _mm512_set1_epi32(a->hi);
    __m512 fa = _mm512_set1_ps(a->fa), fb = _mm512_set1_ps(a->fb);
    __m512 fixed = _mm512_set1_ps(a->fixed);
    __m512 vmin = _mm512_set1_ps(-32768.0f), vmax = _mm512_set1_ps(32767.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(bytes_as_i32(x0 + i)), fa,
                            _mm512_fmadd_ps(_mm512_cvtepi32_ps(bytes_as_i32(x1 + i)), fb, fixed));
        v = _mm512_min_ps(_mm512_max_ps(v, vmin), vmax);
        store16(y + i, _mm512_cvtps_epi32(v), zo, lo, hi);
    }
    return i;
}

/* add_avx2.c's split input scaling: MBQM((x - zp) << 20, M0, e) for e <= 0 as
 * d hi + floor((d lo + 2^10) / 2^11) with M0 = hi 2^11 + lo, then RDBPOT by -e. */
typedef struct {
    __m512i zp, hi, lo, mask, half_mask;
    __m128i right;
} add_input;

static add_input add_input_consts(int32_t zp, int32_t m0, int32_t e)
{
    int32_t mask = (int32_t)((UINT32_C(1) << -e) - 1);
    return (add_input){.zp = _mm512_set1_epi32(zp),
                       .hi = _mm512_set1_epi32(m0 >> 11),
                       .lo = _mm512_set1_epi32(m0 & 0x7FF),
                       .mask = _mm512_set1_epi32(mask),
                       .half_mask = _mm512_set1_epi32(mask >> 1),
                       .right = _mm_cvtsi32_si128(-e)};
}

static inline __m512i round_right(__m512i v, const add_input *k)
{
    __m512i rem = _mm512_and_si512(v, k->mask);
    __m512i thr = _mm512_add_epi32(k->half_mask, _mm512_srli_epi32(v, 31));
    __m512i q = _mm512_sra_epi32(v, k->right);
    return _mm512_mask_add_epi32(q, _mm512_cmpgt_epi32_mask(rem, thr), q, _mm512_set1_epi32(1));
}

static inline __attribute__((always_inline)) __m512i scaled(const uint8_t *x, const add_input *k,
                                                            const bool shifted)
{
    __m512i d = _mm512_sub_epi32(bytes_as_i32(x), k->zp);
    __m512i low = _mm512_add_epi32(_mm512_mullo_epi32(d, k->lo), _mm512_set1_epi32(1 << 10));
    __m512i v = _mm512_add_epi32(_mm512_mullo_epi32(d, k->hi), _mm512_srai_epi32(low, 11));
    return shifted ? round_right(v, k) : v;
}

/* SRDHM of 16 lanes by one multiplier m (floor((a m + 2^30) / 2^31), as the AVX2 form). */
static inline __m512i srdhm(__m512i a, __m512i m)
{
    const __m512i nudge = _mm512_set1_epi64(INT64_C(1) << 30);
    __m512i even = _mm512_add_epi64(_mm512_mul_epi32(a, m), nudge);
    __m512i odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(a, 32), m), nudge);
    return _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1));
}

/* The loop per combination: whether each input's e is below 0 (else its rounding shift is
 * the identity and left out). The output's e is <= 0 (checked by the caller). */
static inline __attribute__((always_inline)) int64_t
add_split16(const frost_int8_add_args *a, int64_t n, const uint8_t *x0, const uint8_t *x1,
            uint8_t *y, const bool shift0, const bool shift1)
{
    const add_input ka = add_input_consts(a->a_zp, a->mult[0], a->shift[0]);
    const add_input kb = add_input_consts(a->b_zp, a->mult[1], a->shift[1]);
    const add_input ko = add_input_consts(0, a->mult[2], a->shift[2]);
    __m512i zo = _mm512_set1_epi32(a->out_zp), m2 = _mm512_set1_epi32(a->mult[2]);
    __m512i lo = _mm512_set1_epi32(a->lo), hi = _mm512_set1_epi32(a->hi);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i s = _mm512_add_epi32(scaled(x0 + i, &ka, shift0), scaled(x1 + i, &kb, shift1));
        store16(y + i, round_right(srdhm(s, m2), &ko), zo, lo, hi);
    }
    return i;
}

void frost_int8_add_avx512(const frost_int8_add_args *a, int64_t n, const uint8_t *x0,
                           const uint8_t *x1, uint8_t *y)
{
    int64_t i = 0;
    bool s0 = a->shift[0] < 0, s1 = a->shift[1] < 0;
    if (a->fp)
        i = add_float16(a, n, x0, x1, y);
    else if (a->shift[0] > 0 || a->shift[1] > 0 || a->shift[2] > 0)
        i = 0; /* the general form: AVX2 */
    else if (s0 && !s1)
        i = add_split16(a, n, x0, x1, y, true, false);
    else if (!s0 && s1)
        i = add_split16(a, n, x0, x1, y, false, true);
    else
        i = add_split16(a, n, x0, x1, y, true, true);
    if (i < n)
        frost_int8_add_avx2(a, n - i, x0 + i, x1 + i, y + i);
}
