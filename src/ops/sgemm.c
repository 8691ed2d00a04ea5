/*
 * Training GEMM (see ops/sgemm.h): engine choice, the reference, and the blocked driver the
 * SIMD micro-kernels share.
 */
#include "ops/sgemm.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* k per block: a tile's B rows (KC x 48 floats = 48 KB at most) stay in L1/L2 while the
 * tiles of one row block pass over them. */
#define KC 256
/* Rows per row block: their A (MC x KC floats, 256 KB) stays in L2 across the strips of
 * B. A multiple of both kernels' MR. */
#define MC 240
/* A k-block of B this small stays in L2 while every row panel passes over it. */
#define B_IN_L2_BYTES (256 * 1024)
/* Below this many multiply-adds a GEMM runs on the calling thread alone: waking the other
 * threads costs more than the classifier head's products (64 x 10 x 1280) take. */
#define MIN_PARALLEL_MACS (1 << 21)

/* ---- reference ---- */

static float a_at(bool trans, const float *a, int lda, int i, int kk)
{
    return trans ? a[(size_t)kk * lda + i] : a[(size_t)i * lda + kk];
}

static void sgemm_ref(bool ta, bool tb, int m, int n, int k, const float *a, int lda,
                      const float *b, int ldb, float beta, float *c, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int kk = 0; kk < k; kk++)
                s += a_at(ta, a, lda, i, kk) * a_at(!tb, b, ldb, j, kk);
            float *cij = c + (size_t)i * ldc + j;
            *cij = beta != 0.0f ? *cij + s : s;
        }
}

/* ---- blocked driver ---- */

typedef struct {
    int mr, nr, vl;
    void (*tile)(const frost_sgemm_tile *t);
} kernel_shape;

typedef struct {
    const kernel_shape *ks;
    bool ta;
    int m, n, k;
    const float *a;
    int lda;
    const float *b; /* plain [k][n] (transposed into scratch when the caller's was not) */
    int ldb;
    bool add; /* beta = 1 */
    float *c;
    int ldc;
    int panels, strips, panels_per_block, tiles;
    bool panel_major; /* tile order, see run_tile */
} gemm_plan;

/* The calling thread's buffer for B's transposed copy. It only grows and is kept, so a
 * training step allocates nothing once the first step has sized it for the largest
 * weight (the model's arena holds everything else). */
static _Thread_local float *bt_cache;
static _Thread_local size_t bt_capacity;

static float *transpose_buffer(size_t floats)
{
    if (floats > bt_capacity) {
        float *grown = malloc(sizeof(float) * floats);
        if (!grown)
            return NULL;
        free(bt_cache);
        bt_cache = grown, bt_capacity = floats;
    }
    return bt_cache;
}

/* bt[kk][j] = b[j][kk] for b given as [n][k] rows, in 32 x 32 blocks for the caches. */
static void transpose_b(int n, int k, const float *b, int ldb, float *bt, int j0, int j1)
{
    enum { T = 32 };
    for (int jb = j0; jb < j1; jb += T)
        for (int kb = 0; kb < k; kb += T)
            for (int j = jb; j < jb + T && j < j1; j++)
                for (int kk = kb; kk < kb + T && kk < k; kk++)
                    bt[(size_t)kk * n + j] = b[(size_t)j * ldb + kk];
}

/* Rows r0.. of op(A) for k-block k0..k0+kc, copied row-major into pad (MR x KC) with
 * zeros past the last row: the kernels read all MR rows, and zeros keep them cheap. */
static void pad_rows(const gemm_plan *p, int r0, int rows, int k0, int kc, float *pad)
{
    memset(pad, 0, sizeof(float) * (size_t)p->ks->mr * KC);
    for (int i = 0; i < rows; i++)
        for (int kk = 0; kk < kc; kk++)
            pad[(size_t)i * KC + kk] = a_at(p->ta, p->a, p->lda, r0 + i, k0 + kk);
}

/* Tiles are numbered row block by row block. Inside one, when a k-block of B fits in L2
 * (small n), panel by panel and strip by strip inside a panel, so each C row is written
 * whole and each A panel read once; else strip by strip and panel by panel inside a strip,
 * so consecutive tiles (one thread's share) reuse the same B rows from L1. */
static void run_tile(const gemm_plan *p, int t, int k0, int kc, float *pad)
{
    const kernel_shape *ks = p->ks;
    int per_block = p->strips * p->panels_per_block;
    int block = t / per_block, in_block = t % per_block;
    int strip = p->panel_major ? in_block % p->strips : in_block / p->panels_per_block;
    int panel = block * p->panels_per_block +
                (p->panel_major ? in_block / p->strips : in_block % p->panels_per_block);
    if (panel >= p->panels)
        return; /* the last row block is shorter */
    int r0 = panel * ks->mr, j0 = strip * ks->nr;
    int rows = p->m - r0 < ks->mr ? p->m - r0 : ks->mr;
    frost_sgemm_tile tile = {.b = p->b + (size_t)k0 * p->ldb + j0,
                             .ldb = p->ldb,
                             .c = p->c + (size_t)r0 * p->ldc + j0,
                             .ldc = p->ldc,
                             .kc = kc,
                             .rows = rows,
                             .cols = p->n - j0 < ks->nr ? p->n - j0 : ks->nr,
                             .add = p->add || k0 > 0};
    if (rows < ks->mr) {
        pad_rows(p, r0, rows, k0, kc, pad);
        tile.a = pad, tile.a_rs = KC, tile.a_cs = 1;
    } else if (p->ta) {
        tile.a = p->a + (size_t)k0 * p->lda + r0, tile.a_rs = 1, tile.a_cs = p->lda;
    } else {
        tile.a = p->a + (size_t)r0 * p->lda + k0, tile.a_rs = p->lda, tile.a_cs = 1;
    }
    ks->tile(&tile);
}

/* This thread's tiles, every k-block in order: no two threads write one tile, so nothing
 * waits between k-blocks and each C entry sums its blocks in the same order always. */
static void run_share(const gemm_plan *p, int thread, int threads)
{
    float pad[FROST_SGEMM_AVX512_MR * KC]; /* the larger MR of the two kernels */
    int t0 = (int)((int64_t)p->tiles * thread / threads);
    int t1 = (int)((int64_t)p->tiles * (thread + 1) / threads);
    for (int k0 = 0; k0 < p->k; k0 += KC) {
        int kc = p->k - k0 < KC ? p->k - k0 : KC;
        for (int t = t0; t < t1; t++)
            run_tile(p, t, k0, kc, pad);
    }
}

static bool sgemm_blocked(const kernel_shape *ks, bool ta, bool tb, int m, int n, int k,
                          const float *a, int lda, const float *b, int ldb, float beta, float *c,
                          int ldc)
{
    float *bt = NULL;
    if (tb && !(bt = transpose_buffer((size_t)n * (size_t)k)))
        return false;
    gemm_plan p = {.ks = ks,
                   .ta = ta,
                   .m = m,
                   .n = n,
                   .k = k,
                   .a = a,
                   .lda = lda,
                   .b = tb ? bt : b,
                   .ldb = tb ? n : ldb,
                   .add = beta != 0.0f,
                   .c = c,
                   .ldc = ldc};
    p.panels = (m + ks->mr - 1) / ks->mr;
    p.strips = (n + ks->nr - 1) / ks->nr;
    p.panels_per_block = MC / ks->mr < p.panels ? MC / ks->mr : p.panels;
    int blocks = (p.panels + p.panels_per_block - 1) / p.panels_per_block;
    p.tiles = blocks * p.strips * p.panels_per_block;
    p.panel_major = (size_t)n * (k < KC ? k : KC) * sizeof(float) <= B_IN_L2_BYTES;
    int threads = omp_get_max_threads();
    if ((double)m * n * k < MIN_PARALLEL_MACS || threads < 2)
        threads = 1;
    if (threads > p.tiles)
        threads = p.tiles;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int th = omp_get_thread_num(), nt = omp_get_num_threads();
        if (tb) {
            transpose_b(n, k, b, ldb, bt, (int)((int64_t)n * th / nt),
                        (int)((int64_t)n * (th + 1) / nt));
#pragma omp barrier
        }
        run_share(&p, th, nt);
    }
    return true;
}

static const kernel_shape AVX512_KERNEL = {FROST_SGEMM_AVX512_MR, FROST_SGEMM_AVX512_NR, 16,
                                           frost_sgemm_tile_avx512};
static const kernel_shape AVX2_KERNEL = {FROST_SGEMM_AVX2_MR, FROST_SGEMM_AVX2_NR, 8,
                                         frost_sgemm_tile_avx2};

static void sgemm_openblas(bool ta, bool tb, int m, int n, int k, const float *a, int lda,
                           const float *b, int ldb, float beta, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
                k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

bool frost_sgemm_with(frost_train_gemm e, bool ta, bool tb, int m, int n, int k, const float *a,
                      int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return true;
    if (k <= 0) { /* the product is empty: C keeps (beta 1) or becomes zero */
        for (int i = 0; i < m && beta == 0.0f; i++)
            memset(c + (size_t)i * ldc, 0, sizeof(float) * (size_t)n);
        return true;
    }
    switch (e) {
    case FROST_TRAIN_GEMM_OPENBLAS:
        sgemm_openblas(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
        break;
    case FROST_TRAIN_GEMM_REFERENCE:
        sgemm_ref(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
        break;
    case FROST_TRAIN_GEMM_AVX2:
        return sgemm_blocked(&AVX2_KERNEL, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
    case FROST_TRAIN_GEMM_AVX512:
        return sgemm_blocked(&AVX512_KERNEL, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
    }
    return true;
}

void frost_sgemm(bool ta, bool tb, int m, int n, int k, const float *a, int lda, const float *b,
                 int ldb, float beta, float *c, int ldc)
{
    /* out of memory for B's transposed copy: OpenBLAS needs none of ours */
    if (!frost_sgemm_with(frost_cpu_train_gemm(), ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc))
        sgemm_openblas(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
}
