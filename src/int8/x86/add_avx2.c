/* Requantized elementwise add and product (AVX2), 8 values at a time; tails use the
 * reference. */
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

static inline __m256 as_float(const uint8_t *x)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)x)));
}

static inline void store8(uint8_t *y, __m256i r, __m256i zo, __m256i lo, __m256i hi)
{
    r = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, zo), lo), hi);
    __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storel_epi64((__m128i *)y, _mm_packus_epi16(w, w));
}

/* The float-requantized add: fma(x0, fa, fma(x1, fb, fixed)), as the scalar form. */
static void add_float(const frost_int8_add_args *a, int64_t n, const uint8_t *x0, const uint8_t *x1,
                      uint8_t *y)
{
    __m256i zo = _mm256_setzero_si256(); /* the zero point is in `fixed` */
    __m256i lo = _mm256_set1_epi32(a->lo), hi = _mm256_set1_epi32(a->hi);
    __m256 fa = _mm256_set1_ps(a->fa), fb = _mm256_set1_ps(a->fb);
    __m256 fixed = _mm256_set1_ps(a->fixed);
    __m256 vmin = _mm256_set1_ps(-32768.0f), vmax = _mm256_set1_ps(32767.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v =
            _mm256_fmadd_ps(as_float(x0 + i), fa, _mm256_fmadd_ps(as_float(x1 + i), fb, fixed));
        v = _mm256_min_ps(_mm256_max_ps(v, vmin), vmax);
        store8(y + i, _mm256_cvtps_epi32(v), zo, lo, hi);
    }
    if (i < n)
        frost_int8_add_ref(a, n - i, x0 + i, x1 + i, y + i);
}

/* One input's MBQM((x - zp) << 20, M0, e) for e <= 0, exact with two 32-bit multiplies.
 * With d = x - zp (|d| <= 255) the scalar's SRDHM is floor((d M0 2^20 + 2^30) / 2^31)
 * = floor((d M0 + 2^10) / 2^11); splitting M0 = hi 2^11 + lo (lo < 2^11) makes that
 * d hi + floor((d lo + 2^10) / 2^11), where |d hi| < 2^28 and |d lo| < 2^19 fit in 32
 * bits. The rounding right shift by -e then follows as in the scalar form. */
typedef struct {
    __m256i zp, hi, lo, mask, half_mask;
    __m128i right;
} add_input;

static add_input add_input_consts(int32_t zp, int32_t m0, int32_t e)
{
    int32_t mask = (int32_t)((UINT32_C(1) << -e) - 1);
    return (add_input){.zp = _mm256_set1_epi32(zp),
                       .hi = _mm256_set1_epi32(m0 >> 11),
                       .lo = _mm256_set1_epi32(m0 & 0x7FF),
                       .mask = _mm256_set1_epi32(mask),
                       .half_mask = _mm256_set1_epi32(mask >> 1),
                       .right = _mm_cvtsi32_si128(-e)};
}

/* The rounding right shift of every lane by k's -e (ties away from zero, as RDBPOT). */
static inline __m256i round_right(__m256i v, const add_input *k)
{
    __m256i rem = _mm256_and_si256(v, k->mask);
    __m256i thr = _mm256_add_epi32(k->half_mask, _mm256_srli_epi32(v, 31));
    return _mm256_sub_epi32(_mm256_sra_epi32(v, k->right), _mm256_cmpgt_epi32(rem, thr));
}

/* `shifted` is a constant at each call: false when e == 0, whose rounding shift is the
 * identity (the converter gives the larger input e = 0), so that copy leaves it out. */
static inline __attribute__((always_inline)) __m256i
scaled_split_as(const uint8_t *x, const add_input *k, const bool shifted)
{
    __m256i d = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)x)), k->zp);
    __m256i low = _mm256_add_epi32(_mm256_mullo_epi32(d, k->lo), _mm256_set1_epi32(1 << 10));
    __m256i v = _mm256_add_epi32(_mm256_mullo_epi32(d, k->hi), _mm256_srai_epi32(low, 11));
    return shifted ? round_right(v, k) : v;
}

static inline __m256i scaled_split(const uint8_t *x, const add_input *k)
{
    return scaled_split_as(x, k, true);
}

void frost_int8_add_scaled8_avx2(const uint8_t *x, int32_t zp, int32_t m0, int32_t e, int32_t *out)
{
    const add_input k = add_input_consts(zp, m0, e);
    _mm256_storeu_si256((__m256i *)out, scaled_split(x, &k));
}

/* The split add's loop, copied per combination of constants: whether each input's e is
 * below 0 (else its rounding shift is left out) and whether the output's e is <= 0 (then
 * its MBQM is SRDHM and one rounding right shift of every lane, no left shift). */
static inline __attribute__((always_inline)) void
add_split_loop(const frost_int8_add_args *a, int64_t n, const uint8_t *x0, const uint8_t *x1,
               uint8_t *y, const bool shift0, const bool shift1, const bool out_right)
{
    const add_input ka = add_input_consts(a->a_zp, a->mult[0], a->shift[0]);
    const add_input kb = add_input_consts(a->b_zp, a->mult[1], a->shift[1]);
    const add_input ko = add_input_consts(0, a->mult[2], out_right ? a->shift[2] : 0);
    __m256i zo = _mm256_set1_epi32(a->out_zp);
    __m256i m2 = _mm256_set1_epi32(a->mult[2]), e2 = _mm256_set1_epi32(a->shift[2]);
    __m256i lo = _mm256_set1_epi32(a->lo), hi = _mm256_set1_epi32(a->hi);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i s = _mm256_add_epi32(scaled_split_as(x0 + i, &ka, shift0),
                                     scaled_split_as(x1 + i, &kb, shift1));
        __m256i r =
            out_right ? round_right(frost_srdhm_avx2(s, m2), &ko) : frost_mbqm_avx2(s, m2, e2);
        store8(y + i, r, zo, lo, hi);
    }
    if (i < n)
        frost_int8_add_ref(a, n - i, x0 + i, x1 + i, y + i);
}

/* The fixed-point add when both input multipliers shift right (e <= 0: the converter's
 * M_a, M_b = S / (2 max(S_a, S_b)) <= 1/2 always do). */
static void add_split(const frost_int8_add_args *a, int64_t n, const uint8_t *x0, const uint8_t *x1,
                      uint8_t *y)
{
    bool s0 = a->shift[0] < 0, s1 = a->shift[1] < 0, out = a->shift[2] <= 0;
    if (s0 && !s1 && out)
        add_split_loop(a, n, x0, x1, y, true, false, true);
    else if (!s0 && s1 && out)
        add_split_loop(a, n, x0, x1, y, false, true, true);
    else if (out)
        add_split_loop(a, n, x0, x1, y, true, true, true);
    else
        add_split_loop(a, n, x0, x1, y, true, true, false);
}

void frost_int8_add_avx2(const frost_int8_add_args *a, int64_t n, const uint8_t *x0,
                         const uint8_t *x1, uint8_t *y)
{
    if (a->fp) {
        add_float(a, n, x0, x1, y);
        return;
    }
    if (a->shift[0] <= 0 && a->shift[1] <= 0) {
        add_split(a, n, x0, x1, y);
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

/* ---- product ---- */

static inline __m256i centered_i(const uint8_t *x, __m256i zp)
{
    return _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)x)), zp);
}

typedef struct {
    __m256i za, zb, zo, lo, hi, m, e;
    __m128i shift;
    __m256 f, vmin, vmax;
    bool fp;
} mul_consts;

/* 8 products, requantized exactly as the reference's mul_one (float: one rounding of an
 * exact product, then the clamp to +-32768 and half-to-even, like frost_round_clamped). */
static inline void mul8(const mul_consts *k, const uint8_t *a, const uint8_t *b, uint8_t *y)
{
    __m256i prod = _mm256_mullo_epi32(centered_i(a, k->za), centered_i(b, k->zb));
    __m256i r;
    if (k->fp) {
        __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(prod), k->f);
        r = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, k->vmin), k->vmax));
    } else {
        r = frost_mbqm_avx2(_mm256_sll_epi32(prod, k->shift), k->m, k->e);
    }
    store8(y, r, k->zo, k->lo, k->hi);
}

void frost_int8_mul_avx2(const frost_int8_mul_args *a, int64_t pixels, int c, bool per_channel,
                         const uint8_t *x0, const uint8_t *x1, uint8_t *y)
{
    const mul_consts k = {.za = _mm256_set1_epi32(a->a_zp),
                          .zb = _mm256_set1_epi32(a->b_zp),
                          .zo = _mm256_set1_epi32(a->out_zp),
                          .lo = _mm256_set1_epi32(a->lo),
                          .hi = _mm256_set1_epi32(a->hi),
                          .m = _mm256_set1_epi32(a->mult),
                          .e = _mm256_set1_epi32(a->shift),
                          .shift = _mm_cvtsi32_si128(a->acc_shift),
                          .f = _mm256_set1_ps(a->f),
                          .vmin = _mm256_set1_ps(-32768.0f),
                          .vmax = _mm256_set1_ps(32767.0f),
                          .fp = a->fp};
    /* same shape: one flat run; per channel: each pixel's row against the gate */
    int64_t rows = per_channel ? pixels : 1, len = per_channel ? c : pixels * c;
    for (int64_t p = 0; p < rows; p++) {
        const uint8_t *ap = x0 + p * len, *bp = x1;
        uint8_t *yp = y + p * len;
        int64_t i = 0;
        for (; i + 8 <= len; i += 8)
            mul8(&k, ap + i, bp + i, yp + i);
        if (i < len) /* one "pixel" of the remaining values: the same in both layouts */
            frost_int8_mul_ref(a, 1, (int)(len - i), false, ap + i, bp + i, yp + i);
    }
}
