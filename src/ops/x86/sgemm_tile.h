/*
 * The training GEMM's micro-kernel (ops/sgemm.h), written once for both vector widths:
 * x86/sgemm_avx512.c and x86/sgemm_avx2.c define the vector type and operations below,
 * then include this file, which defines frost_sgemm_tile_<SGEMM_ISA>.
 *
 * Needs: VEC, VL (floats per vector), MR (rows per tile), MAX_NV (vectors per row of the
 * widest strip), MASK / MASK_FOR(cols) (the first cols lanes, all when cols >= VL),
 * ZERO(), SET1(x), FMADD(a, b, c) = a * b + c, ADD, LOADM(mask, p) (zeros where masked
 * off, never touching those addresses), STOREM(p, mask, v), SGEMM_TILE_NAME.
 *
 * MR x (nv * VL) accumulators stay in registers for the whole k-block: per k, nv vectors
 * of B and MR broadcasts of A feed MR * nv FMAs. A is read in place: a row-major A gives
 * MR row pointers walking along k, a transposed A gives MR neighbouring floats per k.
 */

#define SGEMM_UNROLL _Pragma("GCC unroll 16")

/* op(A)'s element (i, kk) of the tile */
static inline __attribute__((always_inline)) float a_elem(const frost_sgemm_tile *t, int i, int kk,
                                                          bool a_k_major)
{
    return a_k_major ? t->a[(int64_t)kk * t->a_cs + i] : t->a[i * t->a_rs + kk];
}

static inline __attribute__((always_inline)) void tile_body(const frost_sgemm_tile *t, const int nv,
                                                            const bool a_k_major)
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
    if (t->add) /* C's rows arrive while the products are summed */
        SGEMM_UNROLL
    for (int i = 0; i < MR; i++)
        if (i < t->rows)
            _mm_prefetch((const char *)(t->c + i * t->ldc), _MM_HINT_T0);
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
            VEC b0 = LOADM(mask[0], b + kk * t->ldb), b1 = LOADM(mask[0], b + (kk + 1) * t->ldb);
            SGEMM_UNROLL
            for (int i = 0; i < MR; i++) {
                acc[i][0] = FMADD(SET1(a_elem(t, i, kk, a_k_major)), b0, acc[i][0]);
                odd[i] = FMADD(SET1(a_elem(t, i, kk + 1, a_k_major)), b1, odd[i]);
            }
        }
        if (kk < t->kc) {
            VEC b0 = LOADM(mask[0], b + kk * t->ldb);
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
                bv[v] = LOADM(mask[v], b + v * VL);
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
                bv[v] = LOADM(mask[v], b + v * VL);
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
            VEC r = t->add ? ADD(acc[i][v], LOADM(mask[v], c + v * VL)) : acc[i][v];
            STOREM(c + v * VL, mask[v], r);
        }
    }
}

/* One instance per strip width and A layout, so every loop above has constant bounds. */
#define SGEMM_TILE_VARIANT(NV, KMAJOR) \
    static void tile_##NV##_##KMAJOR(const frost_sgemm_tile *t) { tile_body(t, NV, KMAJOR); }
SGEMM_TILE_VARIANT(1, 0)
SGEMM_TILE_VARIANT(1, 1)
SGEMM_TILE_VARIANT(2, 0)
SGEMM_TILE_VARIANT(2, 1)
#if MAX_NV >= 3
SGEMM_TILE_VARIANT(3, 0)
SGEMM_TILE_VARIANT(3, 1)
#endif

void SGEMM_TILE_NAME(const frost_sgemm_tile *t)
{
    const int nv = (t->cols + VL - 1) / VL;
    const bool k_major = t->a_rs == 1 && t->a_cs != 1;
    switch (nv) {
    case 1: k_major ? tile_1_1(t) : tile_1_0(t); break;
    case 2: k_major ? tile_2_1(t) : tile_2_0(t); break;
#if MAX_NV >= 3
    case 3: k_major ? tile_3_1(t) : tile_3_0(t); break;
#endif
    default: break;
    }
}
