/*
 * Training GEMM micro-kernel, AVX2/FMA (see ops/sgemm.h and x86/sgemm_tile.h): 6 rows x up
 * to 16 columns (2 ymm) per tile, 12 accumulators, as the inference GEMM's tile; tails in N
 * by vmaskmov.
 */
#include <immintrin.h>

#include "ops/sgemm.h"

/* The first n (< 8) lanes of v: a plain 4-lane store where it covers them, vmaskmov (slow
 * on AMD CPUs) only for the rest. */
static inline void store_tail(float *p, __m256i m, __m256 v, int n)
{
    if (n >= 4) {
        _mm_storeu_ps(p, _mm256_castps256_ps128(v));
        if (n > 4)
            _mm256_maskstore_ps(p, _mm256_blend_epi32(m, _mm256_setzero_si256(), 0x0F), v);
    } else {
        _mm256_maskstore_ps(p, m, v);
    }
}

#define VEC    __m256
#define VL     8
#define MR     FROST_SGEMM_AVX2_MR
#define MAX_NV (FROST_SGEMM_AVX2_NR / VL)
#define MASK   __m256i
#define MASK_FOR(cols) \
    _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define ZERO()                 _mm256_setzero_ps()
#define SET1(x)                _mm256_set1_ps(x)
#define FMADD(a, b, c)         _mm256_fmadd_ps(a, b, c)
#define ADD(a, b)              _mm256_add_ps(a, b)
#define LOADM(m, p)            _mm256_maskload_ps(p, m)
#define STOREM(p, m, v)        _mm256_maskstore_ps(p, m, v)
#define STORE_TAIL(p, m, v, n) store_tail(p, m, v, n)
#define LOADU(p)               _mm256_loadu_ps(p)
#define STOREU(p, v)           _mm256_storeu_ps(p, v)
#define SGEMM_TILE_NAME        frost_sgemm_tile_avx2

#include "ops/x86/sgemm_tile.h"
