/* A 256-entry byte table applied to rows of bytes (LUT and concat nodes), AVX2: 32 bytes at
 * a time as 16 vpshufb lookups, one per high nibble, each kept where the byte's high nibble
 * matches. The same bytes as frost_int8_lut_rows (a lookup has nothing to round). */
#include <immintrin.h>

#include "int8/kernels.h"

static void lut_run(const __m256i *rows16, const uint8_t *lut, const uint8_t *x, uint8_t *y,
                    int64_t n)
{
    const __m256i low = _mm256_set1_epi8(0x0f);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(x + i));
        __m256i lo = _mm256_and_si256(v, low);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
        __m256i r = _mm256_setzero_si256();
        for (int h = 0; h < 16; h++) {
            __m256i hit = _mm256_cmpeq_epi8(hi, _mm256_set1_epi8((char)h));
            r = _mm256_or_si256(r, _mm256_and_si256(hit, _mm256_shuffle_epi8(rows16[h], lo)));
        }
        _mm256_storeu_si256((__m256i *)(y + i), r);
    }
    for (; i < n; i++)
        y[i] = lut[x[i]];
}

void frost_int8_lut_rows_avx2(const uint8_t *lut, int64_t rows, int len, const uint8_t *x,
                              int x_stride, uint8_t *y, int y_stride)
{
    __m256i rows16[16]; /* table entries 16h .. 16h + 15 in both lanes */
    for (int h = 0; h < 16; h++)
        rows16[h] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(lut + 16 * h)));
    if (x_stride == len && y_stride == len) { /* contiguous: one run */
        lut_run(rows16, lut, x, y, rows * len);
        return;
    }
    for (int64_t r = 0; r < rows; r++)
        lut_run(rows16, lut, x + r * x_stride, y + r * y_stride, len);
}
