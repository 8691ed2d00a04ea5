/*
 * The training GEMM's micro-kernel (ops/sgemm.h), written once for both vector widths:
 * x86/sgemm_avx512.c and x86/sgemm_avx2.c define the vector type and operations below,
 * then include this file, which defines frost_sgemm_tile_<SGEMM_ISA>.
 *
 * Needs: VEC, VL (floats per vector), MR (rows per tile), MAX_NV (vectors per row of the
 * widest strip), MASK / MASK_FOR(cols) (the first cols lanes, all when cols >= VL),
 * ZERO(), SET1(x), FMADD(a, b, c) = a * b + c, ADD, LOADM(mask, p) (zeros where masked
 * off, never touching those addresses), STORE_TAIL(p, mask, v, n) (the first n < VL lanes),
 * LOADU(p), STOREU(p, v), SGEMM_TILE_NAME.
 *
 * Vectors whose columns are all inside C use plain loads and stores, and STORE_TAIL writes
 * what it can of a partial one with a plain narrower store: masked stores are slow on AMD's
 * Zen 4/5 (measured here: the bandwidth-bound small-K products ran at a third of
 * OpenBLAS's AVX-512 speed with every store masked, at 70% with only the 8-column tails
 * masked).
 *
 * MR x (nv * VL) accumulators stay in registers for the whole k-block: per k, nv vectors
 * of B and MR broadcasts of A feed MR * nv FMAs. A is read in place: a row-major A gives
 * MR row pointers walking along k, a transposed A gives MR neighbouring floats per k.
 */

#define SGEMM_UNROLL _Pragma("GCC unroll 16")
/* vector v of a row of B or C: only the last vector of a tile can be partial */
#define WHOLE(v)     (full || (v) < nv - 1)
#define LOAD_V(v, p) (WHOLE(v) ? LOADU(p) : LOADM(mask[v], p))

/* op(A)'s element (i, kk) of the tile */
static inline __attribute__((always_inline)) float a_elem(const frost_sgemm_tile *t, int i, int kk,
                                                          bool a_k_major)
{
    return a_k_major ? t->a[(int64_t)kk * t->a_cs + i] : t->a[i * t->a_rs + kk];
}

static inline __attribute__((always_inline)) void tile_body(const frost_sgemm_tile *t, const int nv,
                                                            const bool full, const bool a_k_major)
{
    VEC acc[MR][MAX_NV], bv[MAX_NV];
    MASK mask[MAX_NV];
    SGEMM_UNROLL
    for (int v = 0; v < nv; v++)
        mask[v] = MASK_FOR(t->cols - v * VL);
    SGEMM_UNROLL
    for (int i = 0; i < MR; i++) {
        SGEMM_UNROLL
        for (int v = 0; v < nv; v++)
            acc[i][v] = ZERO();
    }
    const float *b = t->b;
    if (t->add) { /* C's rows arrive while the products are summed */
        SGEMM_UNROLL
        for (int i = 0; i < MR; i++) {
            SGEMM_UNROLL
            for (int v = 0; v < nv; v++)
                if (i < t->rows)
                    _mm_prefetch((const char *)(t->c + i * t->ldc + v * VL), _MM_HINT_T0);
        }
    }
    if (!a_k_major && t->kc <= 64) /* short rows: fetch the next panel's while this one runs */
        for (int64_t off = 0; off < MR * t->a_rs; off += 16)
            _mm_prefetch((const char *)(t->a + MR * t->a_rs + off), _MM_HINT_T0);
    if (nv == 1) {
        /* one vector per row leaves MR accumulators, about as many FMAs as are in flight at
         * once: even and odd k go to separate ones, added at the end */
        VEC odd[MR];
        SGEMM_UNROLL
        for (int i = 0; i < MR; i++)
            odd[i] = ZERO();
        int kk = 0;
        for (; kk + 1 < t->kc; kk += 2) {
            VEC b0 = LOAD_V(0, b + kk * t->ldb), b1 = LOAD_V(0, b + (kk + 1) * t->ldb);
            SGEMM_UNROLL
            for (int i = 0; i < MR; i++) {
                acc[i][0] = FMADD(SET1(a_elem(t, i, kk, a_k_major)), b0, acc[i][0]);
                odd[i] = FMADD(SET1(a_elem(t, i, kk + 1, a_k_major)), b1, odd[i]);
            }
        }
        if (kk < t->kc) {
            VEC b0 = LOAD_V(0, b + kk * t->ldb);
            SGEMM_UNROLL
            for (int i = 0; i < MR; i++)
                acc[i][0] = FMADD(SET1(a_elem(t, i, kk, a_k_major)), b0, acc[i][0]);
        }
        SGEMM_UNROLL
        for (int i = 0; i < MR; i++)
            acc[i][0] = ADD(acc[i][0], odd[i]);
    } else if (a_k_major) {
        const float *a = t->a;
        for (int kk = 0; kk < t->kc; kk++, a += t->a_cs, b += t->ldb) {
            SGEMM_UNROLL
            for (int v = 0; v < nv; v++)
                bv[v] = LOAD_V(v, b + v * VL);
            SGEMM_UNROLL
            for (int i = 0; i < MR; i++) {
                VEC x = SET1(a[i]);
                SGEMM_UNROLL
                for (int v = 0; v < nv; v++)
                    acc[i][v] = FMADD(x, bv[v], acc[i][v]);
            }
        }
    } else {
        const float *a[MR];
        SGEMM_UNROLL
        for (int i = 0; i < MR; i++)
            a[i] = t->a + i * t->a_rs;
        for (int kk = 0; kk < t->kc; kk++, b += t->ldb) {
            SGEMM_UNROLL
            for (int v = 0; v < nv; v++)
                bv[v] = LOAD_V(v, b + v * VL);
            SGEMM_UNROLL
            for (int i = 0; i < MR; i++) {
                VEC x = SET1(a[i][kk]);
                SGEMM_UNROLL
                for (int v = 0; v < nv; v++)
                    acc[i][v] = FMADD(x, bv[v], acc[i][v]);
            }
        }
    }
    SGEMM_UNROLL
    for (int i = 0; i < MR; i++) {
        if (i >= t->rows)
            break;
        float *c = t->c + i * t->ldc;
        SGEMM_UNROLL
        for (int v = 0; v < nv; v++) {
            VEC r = t->add ? ADD(acc[i][v], LOAD_V(v, c + v * VL)) : acc[i][v];
            if (WHOLE(v))
                STOREU(c + v * VL, r);
            else
                STORE_TAIL(c + v * VL, mask[v], r, t->cols - v * VL);
        }
    }
}

/* One instance per strip width, A layout and full / masked columns, so every loop above
 * has constant bounds. */
#define SGEMM_TILE_VARIANT(NV, KMAJOR, FULL)                             \
    static void tile_##NV##_##KMAJOR##_##FULL(const frost_sgemm_tile *t) \
    {                                                                    \
        tile_body(t, NV, FULL, KMAJOR);                                  \
    }
#define SGEMM_TILE_VARIANTS(NV)  \
    SGEMM_TILE_VARIANT(NV, 0, 0) \
    SGEMM_TILE_VARIANT(NV, 0, 1) SGEMM_TILE_VARIANT(NV, 1, 0) SGEMM_TILE_VARIANT(NV, 1, 1)
SGEMM_TILE_VARIANTS(1)
SGEMM_TILE_VARIANTS(2)
#if MAX_NV >= 3
SGEMM_TILE_VARIANTS(3)
#endif

#define SGEMM_PICK(NV)                                    \
    (k_major ? (full ? tile_##NV##_1_1 : tile_##NV##_1_0) \
             : (full ? tile_##NV##_0_1 : tile_##NV##_0_0))

void SGEMM_TILE_NAME(const frost_sgemm_tile *t)
{
    const int nv = (t->cols + VL - 1) / VL;
    const bool k_major = t->a_rs == 1 && t->a_cs != 1, full = t->cols == nv * VL;
    switch (nv) {
    case 1: SGEMM_PICK(1)(t); break;
    case 2: SGEMM_PICK(2)(t); break;
#if MAX_NV >= 3
    case 3: SGEMM_PICK(3)(t); break;
#endif
    default: break;
    }
}
