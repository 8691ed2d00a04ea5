/*
 * Training GEMM micro-kernel, AVX-512F (see ops/sgemm.h and x86/sgemm_tile.h): 8 rows x up
 * to 48 columns (3 zmm) per tile, 24 accumulators; tails in N by lane masks. Only called
 * after frost_cpu_has_avx512f().
 */
#include <immintrin.h>

#include "ops/sgemm.h"

/* The first n (< 16) lanes of v: a plain 8-lane store where it covers them (channel counts
 * are mostly multiples of 8), masked lanes only for the rest. */
static inline void store_tail(float *p, __mmask16 m, __m512 v, int n)
{
    if (n >= 8) {
        _mm256_storeu_ps(p, _mm512_castps512_ps256(v));
        if (n > 8)
            _mm512_mask_storeu_ps(p, (__mmask16)(m & 0xFF00), v);
    } else {
        _mm512_mask_storeu_ps(p, m, v);
    }
}

#define VEC    __m512
#define VL     16
#define MR     FROST_SGEMM_AVX512_MR
#define MAX_NV (FROST_SGEMM_AVX512_NR / VL)
#define MASK   __mmask16
#define MASK_FOR(cols)                 \
    ((cols) >= VL  ? (__mmask16)0xFFFF \
     : (cols) <= 0 ? (__mmask16)0      \
                   : (__mmask16)((1u << (cols)) - 1))
#define ZERO()                 _mm512_setzero_ps()
#define SET1(x)                _mm512_set1_ps(x)
#define FMADD(a, b, c)         _mm512_fmadd_ps(a, b, c)
#define ADD(a, b)              _mm512_add_ps(a, b)
#define LOADM(m, p)            _mm512_maskz_loadu_ps(m, p)
#define STOREM(p, m, v)        _mm512_mask_storeu_ps(p, m, v)
#define STORE_TAIL(p, m, v, n) store_tail(p, m, v, n)
#define LOADU(p)               _mm512_loadu_ps(p)
#define STOREU(p, v)           _mm512_storeu_ps(p, v)
#define SGEMM_TILE_NAME        frost_sgemm_tile_avx512

#include "ops/x86/sgemm_tile.h"
