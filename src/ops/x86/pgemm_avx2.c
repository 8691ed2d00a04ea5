/*
 * Packed-weight FP32 GEMM, AVX2/FMA (see ops/pgemm.h). Micro-tile: 6 rows x 16 output
 * channels in 12 accumulators; per k, two weight vectors and six broadcasts feed 12 FMAs.
 * Rows are taken in chunks whose x rows stay in L2 while every 16-channel block of
 * weights streams past them: a layer's weights are read once per chunk (once per image
 * on the small late maps, where they outweigh the activations), and the first tile of each
 * block prefetches the next block.
 */
#include <immintrin.h>
#include <stdbool.h>

#include "ops/act_def.h"
#include "ops/pgemm.h"
#include "ops/x86/exp_avx2.h"

#define MR 6
#define NR FROST_PGEMM_NR
/* x rows of one chunk: about this many bytes (half of a 1 MB L2) */
#define CHUNK_BYTES (512 * 1024)

static inline __m256 activate(frost_act_kind act, __m256 v)
{
    const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
    const __m256 three = _mm256_set1_ps(3.0f), sixth = _mm256_set1_ps(1.0f / 6.0f);
    /* operand order keeps NaN flowing through, as the reference does */
    switch (act) {
    case FROST_ACT_RELU: return _mm256_max_ps(zero, v);
    case FROST_ACT_RELU6: return _mm256_min_ps(six, _mm256_max_ps(zero, v));
    case FROST_ACT_HARDTANH:
        return _mm256_min_ps(_mm256_set1_ps(1.0f), _mm256_max_ps(_mm256_set1_ps(-1.0f), v));
    case FROST_ACT_HSWISH:
        return _mm256_mul_ps(
            _mm256_mul_ps(v, _mm256_min_ps(six, _mm256_max_ps(zero, _mm256_add_ps(v, three)))),
            sixth);
    case FROST_ACT_HSIGMOID:
        return _mm256_mul_ps(_mm256_min_ps(six, _mm256_max_ps(zero, _mm256_add_ps(v, three))),
                             sixth);
    /* on the vector exp: within a few ulps of the reference, not its bits */
    case FROST_ACT_SIGMOID: return frost_sigmoid_ps_avx2(v);
    case FROST_ACT_SILU: return _mm256_mul_ps(v, frost_sigmoid_ps_avx2(v));
    case FROST_ACT_IDENTITY:
    case FROST_ACT_COUNT: break;
    }
    return v;
}

/* Lane masks for the first n (0..8) lanes. */
static inline __m256i lanes(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* mr rows x 16 channels (ncols <= 16 of them stored). Always inlined with a constant mr
 * so the accumulators live in registers. */
static inline __attribute__((always_inline)) void tile(int mr, frost_act_kind act, int kdim,
                                                       const float *x, int64_t ldx,
                                                       const float *blk, float *y, int64_t ldy,
                                                       int ncols, const float *pf)
{
    /* named accumulators (an indexed array would live on the stack); the unused ones
     * fold away for the constant mr */
    const __m256 b0 = _mm256_loadu_ps(blk), b1 = _mm256_loadu_ps(blk + 8);
    __m256 a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1;
    __m256 a30 = b0, a31 = b1, a40 = b0, a41 = b1, a50 = b0, a51 = b1;
    const float *w = blk + NR;
    for (int k = 0; k < kdim; k++, w += NR) {
        const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
        if (pf) /* one line of the next weight block per k: it is there when needed */
            _mm_prefetch((const char *)(pf + (size_t)k * NR), _MM_HINT_T0);
        __m256 xv;
#define ROW(r)                                      \
    if (mr > r) {                                   \
        xv = _mm256_broadcast_ss(x + r * ldx + k);  \
        a##r##0 = _mm256_fmadd_ps(xv, w0, a##r##0); \
        a##r##1 = _mm256_fmadd_ps(xv, w1, a##r##1); \
    }
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
    }
    const __m256 acc[MR][2] = {{a00, a01}, {a10, a11}, {a20, a21},
                               {a30, a31}, {a40, a41}, {a50, a51}};
    if (ncols == NR) {
        for (int r = 0; r < mr; r++) {
            _mm256_storeu_ps(y + r * ldy, activate(act, acc[r][0]));
            _mm256_storeu_ps(y + r * ldy + 8, activate(act, acc[r][1]));
        }
        return;
    }
    const __m256i m0 = lanes(ncols < 8 ? ncols : 8), m1 = lanes(ncols > 8 ? ncols - 8 : 0);
    for (int r = 0; r < mr; r++) {
        _mm256_maskstore_ps(y + r * ldy, m0, activate(act, acc[r][0]));
        _mm256_maskstore_ps(y + r * ldy + 8, m1, activate(act, acc[r][1]));
    }
}

static void tile_rows(int mr, frost_act_kind act, int kdim, const float *x, int64_t ldx,
                      const float *blk, float *y, int64_t ldy, int ncols, const float *pf)
{
    switch (mr) {
    case 6: tile(6, act, kdim, x, ldx, blk, y, ldy, ncols, pf); break;
    case 5: tile(5, act, kdim, x, ldx, blk, y, ldy, ncols, pf); break;
    case 4: tile(4, act, kdim, x, ldx, blk, y, ldy, ncols, pf); break;
    case 3: tile(3, act, kdim, x, ldx, blk, y, ldy, ncols, pf); break;
    case 2: tile(2, act, kdim, x, ldx, blk, y, ldy, ncols, pf); break;
    default: tile(1, act, kdim, x, ldx, blk, y, ldy, ncols, pf); break;
    }
}

void frost_pgemm_avx2(frost_act_kind act, int p0, int p1, int kdim, int cout, const float *x,
                      int64_t ldx, const float *packed, float *y, int64_t ldy)
{
    int chunk = CHUNK_BYTES / (kdim * (int)sizeof(float)) / MR * MR;
    chunk = chunk < MR ? MR : chunk;
    const size_t blk_floats = (size_t)NR * ((size_t)kdim + 1);
    for (int c0 = p0; c0 < p1; c0 += chunk) {
        int c1 = c0 + chunk < p1 ? c0 + chunk : p1;
        for (int o0 = 0; o0 < cout; o0 += NR) {
            const float *blk = packed + (size_t)(o0 / NR) * blk_floats;
            int ncols = cout - o0 < NR ? cout - o0 : NR;
            /* the first tile of the block prefetches the next block (from L3 when the
             * layer's weights left the caches since the last image) */
            const float *pf = o0 + NR < cout ? blk + blk_floats : NULL;
            int p = c0;
            for (; p + MR <= c1; p += MR, pf = NULL)
                tile(MR, act, kdim, x + (int64_t)p * ldx, ldx, blk, y + (int64_t)p * ldy + o0, ldy,
                     ncols, pf);
            if (p < c1)
                tile_rows(c1 - p, act, kdim, x + (int64_t)p * ldx, ldx, blk,
                          y + (int64_t)p * ldy + o0, ldy, ncols, pf);
        }
    }
}
