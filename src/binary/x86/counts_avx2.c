/* AVX2 kernels (built with -mavx2 -mpopcnt; called only after frost_cpu_has_avx2()).
 *
 * Popcount of a ymm: each byte's count from a 16-entry nibble table (vpshufb on the low and
 * the high nibble), added as bytes. A byte count grows by at most 8 per word, so the byte
 * accumulators take at most 31 steps (248 < 256) before vpsadbw folds them into the four
 * 64-bit lanes. The long-array popcount uses Harley-Seal carry-save adders instead: 16
 * vectors cost one table popcount plus 15 adders of five logic ops.
 *
 * The conv counts vectorize over output channels, not over the row: a block of 8 channels
 * is two ymm of words (lanes 0-3, 4-7), the input word is broadcast, so rows of any length
 * (one word for C <= 64 per tap) keep every lane busy. x86/counts_avx512.c is the same loop
 * with one zmm and vpopcntq. */
#include <immintrin.h>
#include <string.h>

#include "binary/binary.h"
#include "binary/kernels.h"

#define BYTE_STEPS 31 /* table-count steps before the byte accumulators could overflow */

static inline __m256i nibble_table(void)
{
    return _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3,
                            1, 2, 2, 3, 2, 3, 3, 4);
}

/* Set bits of each byte of v. */
static inline __m256i popcount_bytes(__m256i v, __m256i table)
{
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256i lo = _mm256_and_si256(v, low);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
    return _mm256_add_epi8(_mm256_shuffle_epi8(table, lo), _mm256_shuffle_epi8(table, hi));
}

/* Byte counts summed into the four 64-bit lanes. */
static inline __m256i bytes_to_lanes(__m256i bytes)
{
    return _mm256_sad_epu8(bytes, _mm256_setzero_si256());
}

/* dot = base - 2 * differ for one block: the low 32 bits of the 64-bit lanes (lo: channels
 * 0-3, hi: 4-7) gathered into one ymm of int32. */
static inline void store_dots(__m256i lo, __m256i hi, const int32_t *base, int32_t *dot)
{
    __m256i both = _mm256_blend_epi32(lo, _mm256_slli_epi64(hi, 32), 0xAA);
    __m256i differ = _mm256_permutevar8x32_epi32(both, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
    __m256i b = _mm256_loadu_si256((const __m256i *)base);
    _mm256_storeu_si256((__m256i *)dot, _mm256_sub_epi32(b, _mm256_slli_epi32(differ, 1)));
}

/* One block of 8 output channels; `masked` is a constant at each call, so the compiler
 * makes a binary and a ternary copy of the loop. */
static inline void counts_block(const uint64_t *x, const uint64_t *wb, const uint64_t *mb,
                                int k_words, bool masked, const int32_t *base, int32_t *dot)
{
    const __m256i table = nibble_table();
    __m256i total_lo = _mm256_setzero_si256(), total_hi = _mm256_setzero_si256();
    for (int k0 = 0; k0 < k_words; k0 += BYTE_STEPS) {
        int k_end = k0 + BYTE_STEPS < k_words ? k0 + BYTE_STEPS : k_words;
        __m256i acc_lo = _mm256_setzero_si256(), acc_hi = _mm256_setzero_si256();
        for (int k = k0; k < k_end; k++) {
            __m256i xk = _mm256_set1_epi64x((long long)x[k]);
            const uint64_t *w = wb + (size_t)k * FROST_BIN_BLOCK;
            __m256i v_lo = _mm256_xor_si256(xk, _mm256_loadu_si256((const __m256i *)w));
            __m256i v_hi = _mm256_xor_si256(xk, _mm256_loadu_si256((const __m256i *)(w + 4)));
            if (masked) {
                const uint64_t *m = mb + (size_t)k * FROST_BIN_BLOCK;
                v_lo = _mm256_and_si256(v_lo, _mm256_loadu_si256((const __m256i *)m));
                v_hi = _mm256_and_si256(v_hi, _mm256_loadu_si256((const __m256i *)(m + 4)));
            }
            acc_lo = _mm256_add_epi8(acc_lo, popcount_bytes(v_lo, table));
            acc_hi = _mm256_add_epi8(acc_hi, popcount_bytes(v_hi, table));
        }
        total_lo = _mm256_add_epi64(total_lo, bytes_to_lanes(acc_lo));
        total_hi = _mm256_add_epi64(total_hi, bytes_to_lanes(acc_hi));
    }
    store_dots(total_lo, total_hi, base, dot);
}

/* Binary weights with rows of K words (a constant: the compiler unrolls the count and keeps
 * the K broadcast input words in registers for every block), K <= BYTE_STEPS: one pass of
 * byte counts, no long-row bookkeeping. The 3x3 rows of 16-64 channels are 3-9 words, where
 * the general loop's overhead per block weighed as much as the counts. */
static inline __attribute__((always_inline)) void dots_short(const uint64_t *x,
                                                             const uint64_t *bits, const int K,
                                                             int blocks, const int32_t *base,
                                                             int32_t *dot)
{
    const __m256i table = nibble_table();
    __m256i xk[BYTE_STEPS];
    for (int k = 0; k < K; k++)
        xk[k] = _mm256_set1_epi64x((long long)x[k]);
    for (int b = 0; b < blocks; b++) {
        const uint64_t *wb = bits + (size_t)b * K * FROST_BIN_BLOCK;
        __m256i acc_lo = _mm256_setzero_si256(), acc_hi = _mm256_setzero_si256();
        for (int k = 0; k < K; k++) {
            const uint64_t *w = wb + (size_t)k * FROST_BIN_BLOCK;
            __m256i v_lo = _mm256_xor_si256(xk[k], _mm256_loadu_si256((const __m256i *)w));
            __m256i v_hi = _mm256_xor_si256(xk[k], _mm256_loadu_si256((const __m256i *)(w + 4)));
            acc_lo = _mm256_add_epi8(acc_lo, popcount_bytes(v_lo, table));
            acc_hi = _mm256_add_epi8(acc_hi, popcount_bytes(v_hi, table));
        }
        store_dots(bytes_to_lanes(acc_lo), bytes_to_lanes(acc_hi), base + b * FROST_BIN_BLOCK,
                   dot + b * FROST_BIN_BLOCK);
    }
}

void frost_bin_dots_avx2(const uint64_t *x, const uint64_t *bits, const uint64_t *mask, int k_words,
                         int blocks, const int32_t *base, int32_t *dot)
{
    if (!mask) {
        switch (k_words) {
        case 1: dots_short(x, bits, 1, blocks, base, dot); return;
        case 2: dots_short(x, bits, 2, blocks, base, dot); return;
        case 3: dots_short(x, bits, 3, blocks, base, dot); return;
        case 5: dots_short(x, bits, 5, blocks, base, dot); return;
        case 9: dots_short(x, bits, 9, blocks, base, dot); return;
        default: break;
        }
    }
    size_t block_words = (size_t)k_words * FROST_BIN_BLOCK;
    for (int b = 0; b < blocks; b++) {
        if (mask)
            counts_block(x, bits + b * block_words, mask + b * block_words, k_words, true,
                         base + b * FROST_BIN_BLOCK, dot + b * FROST_BIN_BLOCK);
        else
            counts_block(x, bits + b * block_words, NULL, k_words, false,
                         base + b * FROST_BIN_BLOCK, dot + b * FROST_BIN_BLOCK);
    }
}

/* The binary counts with the nibbles split ahead of time (kernels.h): per word and block
 * two XORs of nibble planes, two table lookups per ymm and no shift or mask, 12 vector
 * operations per word where counts_block takes 16. */
void frost_bin_dots_nibbles_avx2(const uint64_t *xn, const uint64_t *wn, int k_words, int blocks,
                                 const int32_t *base, int32_t *dot)
{
    const __m256i table = nibble_table();
    size_t block_words = (size_t)k_words * 2 * FROST_BIN_BLOCK;
    for (int b = 0; b < blocks; b++) {
        const uint64_t *wb = wn + b * block_words;
        __m256i total_lo = _mm256_setzero_si256(), total_hi = _mm256_setzero_si256();
        for (int k0 = 0; k0 < k_words; k0 += BYTE_STEPS) {
            int k_end = k0 + BYTE_STEPS < k_words ? k0 + BYTE_STEPS : k_words;
            __m256i acc_lo = _mm256_setzero_si256(), acc_hi = _mm256_setzero_si256();
            for (int k = k0; k < k_end; k++) {
                __m256i xl = _mm256_set1_epi64x((long long)xn[2 * k]);
                __m256i xh = _mm256_set1_epi64x((long long)xn[2 * k + 1]);
                const __m256i *w = (const __m256i *)(wb + (size_t)k * 2 * FROST_BIN_BLOCK);
                /* w[0], w[1]: low nibbles of channels 0-3, 4-7; w[2], w[3]: high nibbles */
                __m256i c_lo = _mm256_add_epi8(
                    _mm256_shuffle_epi8(table, _mm256_xor_si256(xl, _mm256_loadu_si256(w))),
                    _mm256_shuffle_epi8(table, _mm256_xor_si256(xh, _mm256_loadu_si256(w + 2))));
                __m256i c_hi = _mm256_add_epi8(
                    _mm256_shuffle_epi8(table, _mm256_xor_si256(xl, _mm256_loadu_si256(w + 1))),
                    _mm256_shuffle_epi8(table, _mm256_xor_si256(xh, _mm256_loadu_si256(w + 3))));
                acc_lo = _mm256_add_epi8(acc_lo, c_lo);
                acc_hi = _mm256_add_epi8(acc_hi, c_hi);
            }
            total_lo = _mm256_add_epi64(total_lo, bytes_to_lanes(acc_lo));
            total_hi = _mm256_add_epi64(total_hi, bytes_to_lanes(acc_hi));
        }
        store_dots(total_lo, total_hi, base + b * FROST_BIN_BLOCK, dot + b * FROST_BIN_BLOCK);
    }
}

/* Harley-Seal carry-save adder: (h, l) = a + b + c as a two-bit number per bit position. */
static inline void csa(__m256i *h, __m256i *l, __m256i a, __m256i b, __m256i c)
{
    __m256i u = _mm256_xor_si256(a, b);
    *h = _mm256_or_si256(_mm256_and_si256(a, b), _mm256_and_si256(u, c));
    *l = _mm256_xor_si256(u, c);
}

static inline __m256i lanes_popcount(__m256i v, __m256i table)
{
    return bytes_to_lanes(popcount_bytes(v, table));
}

static inline __m256i load(const uint64_t *w, long vec)
{
    return _mm256_loadu_si256((const __m256i *)(w + 4 * vec));
}

uint64_t frost_bin_popcount_avx2(const uint64_t *w, long n)
{
    const __m256i table = nibble_table();
    __m256i total = _mm256_setzero_si256(), ones = total, twos = total, fours = total,
            eights = total, sixteens, twos_a, twos_b, fours_a, fours_b, eights_a, eights_b;
    long vecs = n / 4, i = 0;
    for (; i + 16 <= vecs; i += 16) {
        csa(&twos_a, &ones, ones, load(w, i + 0), load(w, i + 1));
        csa(&twos_b, &ones, ones, load(w, i + 2), load(w, i + 3));
        csa(&fours_a, &twos, twos, twos_a, twos_b);
        csa(&twos_a, &ones, ones, load(w, i + 4), load(w, i + 5));
        csa(&twos_b, &ones, ones, load(w, i + 6), load(w, i + 7));
        csa(&fours_b, &twos, twos, twos_a, twos_b);
        csa(&eights_a, &fours, fours, fours_a, fours_b);
        csa(&twos_a, &ones, ones, load(w, i + 8), load(w, i + 9));
        csa(&twos_b, &ones, ones, load(w, i + 10), load(w, i + 11));
        csa(&fours_a, &twos, twos, twos_a, twos_b);
        csa(&twos_a, &ones, ones, load(w, i + 12), load(w, i + 13));
        csa(&twos_b, &ones, ones, load(w, i + 14), load(w, i + 15));
        csa(&fours_b, &twos, twos, twos_a, twos_b);
        csa(&eights_b, &fours, fours, fours_a, fours_b);
        csa(&sixteens, &eights, eights, eights_a, eights_b);
        total = _mm256_add_epi64(total, lanes_popcount(sixteens, table));
    }
    total = _mm256_slli_epi64(total, 4);
    total = _mm256_add_epi64(total, _mm256_slli_epi64(lanes_popcount(eights, table), 3));
    total = _mm256_add_epi64(total, _mm256_slli_epi64(lanes_popcount(fours, table), 2));
    total = _mm256_add_epi64(total, _mm256_slli_epi64(lanes_popcount(twos, table), 1));
    total = _mm256_add_epi64(total, lanes_popcount(ones, table));
    for (; i < vecs; i++)
        total = _mm256_add_epi64(total, lanes_popcount(load(w, i), table));
    uint64_t t[4];
    _mm256_storeu_si256((__m256i *)t, total);
    uint64_t sum = t[0] + t[1] + t[2] + t[3];
    for (long k = vecs * 4; k < n; k++)
        sum += (uint64_t)__builtin_popcountll(w[k]);
    return sum;
}

static inline int32_t hsum_epi32(__m256i s)
{
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return _mm_cvtsi128_si32(h);
}

#define S8_STEPS 64 /* int16 steps: 64 * 510 = 32640 fits, 65 would not */

static inline __m256i load32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* vpmaddubsw multiplies the u8 activations by the -1/0/+1 weights and adds pairs into int16
 * (at most 2 * 255 in magnitude, never saturating); those pair sums accumulate as int16 for
 * up to S8_STEPS vectors before vpmaddwd with ones widens them to int32. Four output
 * channels at a time share each activation load. */
void frost_bin_s8dot_avx2(const uint8_t *xu8, const int8_t *w, int stride, int o, int32_t *acc)
{
    const __m256i ones = _mm256_set1_epi16(1), zero = _mm256_setzero_si256();
    int vecs = stride / 32, j = 0;
    for (; j + 4 <= o; j += 4) {
        const int8_t *w0 = w + (size_t)j * stride, *w1 = w0 + stride, *w2 = w1 + stride,
                     *w3 = w2 + stride;
        __m256i s0 = zero, s1 = zero, s2 = zero, s3 = zero;
        for (int v0 = 0; v0 < vecs; v0 += S8_STEPS) {
            int v1 = v0 + S8_STEPS < vecs ? v0 + S8_STEPS : vecs;
            __m256i a0 = zero, a1 = zero, a2 = zero, a3 = zero;
            for (int v = v0; v < v1; v++) {
                __m256i xv = load32(xu8 + 32 * v);
                a0 = _mm256_add_epi16(a0, _mm256_maddubs_epi16(xv, load32(w0 + 32 * v)));
                a1 = _mm256_add_epi16(a1, _mm256_maddubs_epi16(xv, load32(w1 + 32 * v)));
                a2 = _mm256_add_epi16(a2, _mm256_maddubs_epi16(xv, load32(w2 + 32 * v)));
                a3 = _mm256_add_epi16(a3, _mm256_maddubs_epi16(xv, load32(w3 + 32 * v)));
            }
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(a0, ones));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(a1, ones));
            s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(a2, ones));
            s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(a3, ones));
        }
        acc[j] = hsum_epi32(s0), acc[j + 1] = hsum_epi32(s1);
        acc[j + 2] = hsum_epi32(s2), acc[j + 3] = hsum_epi32(s3);
    }
    for (; j < o; j++) {
        const int8_t *wj = w + (size_t)j * stride;
        __m256i s = zero;
        for (int v0 = 0; v0 < vecs; v0 += S8_STEPS) {
            int v1 = v0 + S8_STEPS < vecs ? v0 + S8_STEPS : vecs;
            __m256i a = zero;
            for (int v = v0; v < v1; v++)
                a = _mm256_add_epi16(
                    a, _mm256_maddubs_epi16(load32(xu8 + 32 * v), load32(wj + 32 * v)));
            s = _mm256_add_epi32(s, _mm256_madd_epi16(a, ones));
        }
        acc[j] = hsum_epi32(s);
    }
}

/* ---- output stages (also used by the AVX-512 path) ---- */

void frost_bin_emit_float_avx2(const int32_t *dot, const float *alpha, const float *bias, int o,
                               float *dst)
{
    int j = 0;
    for (; j + 8 <= o; j += 8) { /* the product rounded, then the sum: as the scalar loop */
        __m256 d = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(dot + j)));
        __m256 b = bias ? _mm256_loadu_ps(bias + j) : _mm256_setzero_ps();
        _mm256_storeu_ps(dst + j, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(alpha + j), d), b));
    }
    for (; j < o; j++)
        dst[j] = alpha[j] * (float)dot[j] + (bias ? bias[j] : 0.0f);
}

/* Eight {thr, flip} pairs as one vector of thresholds and one of flips. */
static inline void load_thresholds(const frost_bin_thresh *t, __m256i *thr, __m256i *flip)
{
    __m256 a = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)t));
    __m256 b = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(t + 4)));
    /* per 128-bit lane: a's pairs 0,1 (2,3) and b's pairs 4,5 (6,7); then the lanes in order */
    *thr = _mm256_permute4x64_epi64(
        _mm256_castps_si256(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))),
        _MM_SHUFFLE(3, 1, 2, 0));
    *flip = _mm256_permute4x64_epi64(
        _mm256_castps_si256(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))),
        _MM_SHUFFLE(3, 1, 2, 0));
}

void frost_bin_emit_bits_avx2(const int32_t *dot, const frost_bin_thresh *t, int o, uint64_t *dst)
{
    memset(dst, 0, sizeof *dst * (size_t)frost_bin_words(o));
    const __m256i zero = _mm256_setzero_si256();
    int j = 0;
    for (; j + 8 <= o; j += 8) {
        __m256i thr, flip;
        load_thresholds(t + j, &thr, &flip);
        /* m = all ones where flip: (d ^ m) - m is -d there, d elsewhere */
        __m256i m = _mm256_xor_si256(_mm256_cmpeq_epi32(flip, zero), _mm256_set1_epi32(-1));
        __m256i d = _mm256_loadu_si256((const __m256i *)(dot + j));
        __m256i v = _mm256_sub_epi32(_mm256_xor_si256(d, m), m);
        __m256i below = _mm256_cmpgt_epi32(thr, v); /* v < thr: bit 0 */
        unsigned plus = ~(unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(below)) & 0xffu;
        dst[j / 64] |= (uint64_t)plus << (j % 64);
    }
    for (; j < o; j++) {
        int32_t v = t[j].flip ? -dot[j] : dot[j];
        dst[j / 64] |= (uint64_t)(v >= t[j].thr) << (j % 64);
    }
}

/* Bit j = (dot[j] > cut[j]) XOR inv[j] (conv.c's bit_cuts): one compare per 8 channels, the
 * word assembled in a register and stored once. dot, cut and inv hold whole groups of 8
 * (ceil(o / 8) * 8 entries); the bits past o are cleared. */
void frost_bin_emit_bits_cut_avx2(const int32_t *dot, const int32_t *cut, const int32_t *inv, int o,
                                  uint64_t *dst)
{
    int groups = (o + 7) / 8;
    uint64_t word = 0;
    for (int g = 0; g < groups; g++) {
        __m256i d = _mm256_loadu_si256((const __m256i *)(dot + 8 * g));
        __m256i above = _mm256_cmpgt_epi32(d, _mm256_loadu_si256((const __m256i *)(cut + 8 * g)));
        __m256i plus = _mm256_xor_si256(above, _mm256_loadu_si256((const __m256i *)(inv + 8 * g)));
        word |= (uint64_t)(unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(plus)) << (8 * (g % 8));
        if (g % 8 == 7 || g == groups - 1) {
            int bits = o - 64 * (g / 8); /* channels in this word */
            dst[g / 8] = bits < 64 ? word & ((UINT64_C(1) << bits) - 1) : word;
            word = 0;
        }
    }
}
