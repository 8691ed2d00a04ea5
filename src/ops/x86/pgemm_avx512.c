/*
 * Packed-weight FP32 GEMM, AVX-512 (see ops/pgemm.h). The packing is the AVX2 kernel's
 * (blocks of 16 channels), so one zmm holds a block's weights for one k. Micro-tile:
 * 12 rows x 32 channels (two adjacent blocks) in 24 accumulators; per k, two weight loads
 * and twelve broadcasts feed 24 FMAs, which keeps the two FMA pipes busier than the
 * loads (a 12 x 16 tile would need 13 loads per 12 FMAs). A layer's last odd block takes a 12 x 16
 * tile; channels past cout are stored through a lane mask.
 * Rows go in L2-sized chunks as in the AVX2 kernel, and the first tile of each block pair
 * prefetches the next pair.
 */
#include <immintrin.h>
#include <stdbool.h>

#include "ops/act_def.h"
#include "ops/pgemm.h"
#include "ops/x86/act_avx512.h"

#define MR 12
#define NR FROST_PGEMM_NR
/* x rows of one chunk: about this many bytes (half of a 1 MB L2) */
#define CHUNK_BYTES (512 * 1024)

/* The first n (0..16) lanes. */
static inline __mmask16 lanes(int n) { return (__mmask16)((1u << n) - 1u); }

/* mr rows x nb blocks of 16 channels (ncols <= 16 * nb of them stored); blk1 is the
 * second block when nb == 2. Always inlined with constant mr and nb so the accumulators
 * live in registers. */
static inline __attribute__((always_inline)) void
tile(int mr, int nb, frost_act_kind act, int kdim, const float *x, int64_t ldx, const float *blk0,
     const float *blk1, float *y, int64_t ldy, int ncols, const float *pf, const float *pfb)
{
    /* named accumulators (an indexed array would live on the stack); the unused ones
     * fold away for constant mr and nb */
    const __m512 b0 = _mm512_loadu_ps(blk0), b1 = nb > 1 ? _mm512_loadu_ps(blk1) : b0;
    __m512 a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1, a30 = b0, a31 = b1;
    __m512 a40 = b0, a41 = b1, a50 = b0, a51 = b1, a60 = b0, a61 = b1, a70 = b0, a71 = b1;
    __m512 a80 = b0, a81 = b1, a90 = b0, a91 = b1, aA0 = b0, aA1 = b1, aB0 = b0, aB1 = b1;
    const float *w0 = blk0 + NR, *w1 = nb > 1 ? blk1 + NR : w0;
    /* four row pointers: the other rows are one or two ldx past one of them, which the
     * addressing modes reach without more registers (a pointer past the tile's rows
     * stays at x, so none points outside the operand) */
    const float *x0 = x, *x3 = mr > 3 ? x + 3 * ldx : x, *x6 = mr > 6 ? x + 6 * ldx : x;
    const float *x9 = mr > 9 ? x + 9 * ldx : x;
    for (int k = 0; k < kdim; k++) {
        const __m512 v0 = _mm512_loadu_ps(w0 + (size_t)k * NR);
        const __m512 v1 = nb > 1 ? _mm512_loadu_ps(w1 + (size_t)k * NR) : v0;
        if (pf) /* one line of each next weight block per k: there when needed */
            _mm_prefetch((const char *)(pf + (size_t)k * NR), _MM_HINT_T0);
        if (pfb)
            _mm_prefetch((const char *)(pfb + (size_t)k * NR), _MM_HINT_T0);
        __m512 xv;
        /* clang-format off */
#define ROW(r, base, off)                                   \
        if (mr > 0x##r) {                                   \
            xv = _mm512_set1_ps(base[(off) * ldx + k]);     \
            a##r##0 = _mm512_fmadd_ps(xv, v0, a##r##0);     \
            if (nb > 1)                                     \
                a##r##1 = _mm512_fmadd_ps(xv, v1, a##r##1); \
        }
        ROW(0, x0, 0) ROW(1, x0, 1) ROW(2, x0, 2) ROW(3, x3, 0) ROW(4, x3, 1) ROW(5, x3, 2)
        ROW(6, x6, 0) ROW(7, x6, 1) ROW(8, x6, 2) ROW(9, x9, 0) ROW(A, x9, 1) ROW(B, x9, 2)
#undef ROW
        /* clang-format on */
    }
    const __m512 acc[MR][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31},
                               {a40, a41}, {a50, a51}, {a60, a61}, {a70, a71},
                               {a80, a81}, {a90, a91}, {aA0, aA1}, {aB0, aB1}};
    if (ncols == NR * nb) {
        for (int r = 0; r < mr; r++) {
            _mm512_storeu_ps(y + r * ldy, frost_activate_zmm(act, acc[r][0]));
            if (nb > 1)
                _mm512_storeu_ps(y + r * ldy + NR, frost_activate_zmm(act, acc[r][1]));
        }
        return;
    }
    const __mmask16 m0 = lanes(ncols < NR ? ncols : NR);
    const __mmask16 m1 = lanes(ncols > NR ? ncols - NR : 0);
    for (int r = 0; r < mr; r++) {
        _mm512_mask_storeu_ps(y + r * ldy, m0, frost_activate_zmm(act, acc[r][0]));
        if (nb > 1)
            _mm512_mask_storeu_ps(y + r * ldy + NR, m1, frost_activate_zmm(act, acc[r][1]));
    }
}

/* One row (a linear layer, or a chunk's last row) x one block pair: the weights stream
 * from L3 or memory and each k would wait for the previous k's FMA, so k alternates
 * between two accumulators per block (summed at the end: the order differs from the
 * reference's by rounding only) and the next pair is prefetched as this one is read. */
static void single_row(frost_act_kind act, int kdim, const float *x, const float *blk0,
                       const float *blk1, int nb, float *y, int ncols, const float *pf,
                       const float *pfb)
{
    __m512 a0 = _mm512_loadu_ps(blk0), a1 = nb > 1 ? _mm512_loadu_ps(blk1) : a0;
    __m512 e0 = _mm512_setzero_ps(), e1 = _mm512_setzero_ps();
    const float *w0 = blk0 + NR, *w1 = nb > 1 ? blk1 + NR : w0;
    int k = 0;
    for (; k + 2 <= kdim; k += 2) {
        if (pf) {
            _mm_prefetch((const char *)(pf + (size_t)k * NR), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf + (size_t)(k + 1) * NR), _MM_HINT_T0);
        }
        if (pfb) {
            _mm_prefetch((const char *)(pfb + (size_t)k * NR), _MM_HINT_T0);
            _mm_prefetch((const char *)(pfb + (size_t)(k + 1) * NR), _MM_HINT_T0);
        }
        const __m512 x0 = _mm512_set1_ps(x[k]), x1 = _mm512_set1_ps(x[k + 1]);
        a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(w0 + (size_t)k * NR), a0);
        e0 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(w0 + (size_t)(k + 1) * NR), e0);
        if (nb > 1) {
            a1 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(w1 + (size_t)k * NR), a1);
            e1 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(w1 + (size_t)(k + 1) * NR), e1);
        }
    }
    if (k < kdim) {
        const __m512 x0 = _mm512_set1_ps(x[k]);
        a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(w0 + (size_t)k * NR), a0);
        if (nb > 1)
            a1 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(w1 + (size_t)k * NR), a1);
    }
    const __mmask16 m0 = lanes(ncols < NR ? ncols : NR);
    const __mmask16 m1 = lanes(ncols > NR ? ncols - NR : 0);
    _mm512_mask_storeu_ps(y, m0, frost_activate_zmm(act, _mm512_add_ps(a0, e0)));
    if (nb > 1)
        _mm512_mask_storeu_ps(y + NR, m1, frost_activate_zmm(act, _mm512_add_ps(a1, e1)));
}

/* mr rows x nb blocks with both constant after inlining. */
static inline __attribute__((always_inline)) void tile_nb(int mr, int nb, frost_act_kind act,
                                                          int kdim, const float *x, int64_t ldx,
                                                          const float *blk0, const float *blk1,
                                                          float *y, int64_t ldy, int ncols,
                                                          const float *pf, const float *pfb)
{
    if (nb > 1)
        tile(mr, 2, act, kdim, x, ldx, blk0, blk1, y, ldy, ncols, pf, pfb);
    else
        tile(mr, 1, act, kdim, x, ldx, blk0, blk1, y, ldy, ncols, pf, pfb);
}

/* The last rows of a chunk (fewer than MR). */
static void tile_rows(int mr, int nb, frost_act_kind act, int kdim, const float *x, int64_t ldx,
                      const float *blk0, const float *blk1, float *y, int64_t ldy, int ncols,
                      const float *pf, const float *pfb)
{
    /* clang-format off */
    switch (mr) {
    case 11: tile_nb(11, nb, act, kdim, x, ldx, blk0, blk1, y, ldy, ncols, pf, pfb); break;
    case 10: tile_nb(10, nb, act, kdim, x, ldx, blk0, blk1, y, ldy, ncols, pf, pfb); break;
    case 9: tile_nb(9, nb, act, kdim, x, ldx, blk0, blk1, y, ldy, ncols, pf, pfb); break;
    case 8: tile_nb(8, nb, act, kdim, x, ldx, blk0, blk1, y, ldy, ncols, pf, pfb); break;
    case 7: tile_nb(7, nb, act, kdim, x, ldx, blk0, blk1, y, ldy, ncols, pf, pfb); break;
    case 6: tile_nb(6, nb, act, kdim, x, ldx, blk0, blk1, y, ldy, ncols, pf, pfb); break;
    case 5: tile_nb(5, nb, act, kdim, x, ldx, blk0, blk1, y, ldy, ncols, pf, pfb); break;
    case 4: tile_nb(4, nb, act, kdim, x, ldx, blk0, blk1, y, ldy, ncols, pf, pfb); break;
    case 3: tile_nb(3, nb, act, kdim, x, ldx, blk0, blk1, y, ldy, ncols, pf, pfb); break;
    case 2: tile_nb(2, nb, act, kdim, x, ldx, blk0, blk1, y, ldy, ncols, pf, pfb); break;
    default: single_row(act, kdim, x, blk0, blk1, nb, y, ncols, pf, pfb); break;
    }
    /* clang-format on */
}

/* Rows [c0, c1) x the channels of one block pair (or the last single block). */
static void block_rows(int nb, frost_act_kind act, int c0, int c1, int kdim, const float *x,
                       int64_t ldx, const float *blk, size_t blk_floats, float *y, int64_t ldy,
                       int ncols, const float *pf, const float *pfb)
{
    const float *blk1 = nb > 1 ? blk + blk_floats : blk;
    int p = c0;
    for (; p + MR <= c1; p += MR, pf = pfb = NULL) {
        if (nb > 1)
            tile(MR, 2, act, kdim, x + (int64_t)p * ldx, ldx, blk, blk1, y + (int64_t)p * ldy, ldy,
                 ncols, pf, pfb);
        else
            tile(MR, 1, act, kdim, x + (int64_t)p * ldx, ldx, blk, blk1, y + (int64_t)p * ldy, ldy,
                 ncols, pf, pfb);
    }
    if (p < c1)
        tile_rows(c1 - p, nb, act, kdim, x + (int64_t)p * ldx, ldx, blk, blk1, y + (int64_t)p * ldy,
                  ldy, ncols, pf, pfb);
}

void frost_pgemm_avx512(frost_act_kind act, int p0, int p1, int kdim, int cout, const float *x,
                        int64_t ldx, const float *packed, float *y, int64_t ldy)
{
    int chunk = CHUNK_BYTES / (kdim * (int)sizeof(float)) / MR * MR;
    chunk = chunk < MR ? MR : chunk;
    const size_t blk_floats = (size_t)NR * ((size_t)kdim + 1);
    for (int c0 = p0; c0 < p1; c0 += chunk) {
        int c1 = c0 + chunk < p1 ? c0 + chunk : p1;
        for (int o0 = 0; o0 < cout; o0 += 2 * NR) {
            const float *blk = packed + (size_t)(o0 / NR) * blk_floats;
            int ncols = cout - o0 < 2 * NR ? cout - o0 : 2 * NR;
            int nb = ncols > NR ? 2 : 1;
            /* the first tile of the pair prefetches the next pair (from L3 when the
             * layer's weights left the caches since the last image) */
            const float *pf = o0 + 2 * NR < cout ? blk + 2 * blk_floats : NULL;
            const float *pfb = o0 + 3 * NR < cout ? blk + 3 * blk_floats : NULL;
            block_rows(nb, act, c0, c1, kdim, x, ldx, blk, blk_floats, y + o0, ldy, ncols, pf, pfb);
        }
    }
}
