/* Packed-weight FP32 GEMM: packing and the portable reference (see pgemm.h). */
#include "ops/pgemm.h"

#include <string.h>

#include "ops/elementwise.h"

size_t frost_pgemm_packed_floats(int cout, int kdim)
{
    size_t blocks = ((size_t)cout + FROST_PGEMM_NR - 1) / FROST_PGEMM_NR;
    return blocks * FROST_PGEMM_NR * ((size_t)kdim + 1);
}

void frost_pgemm_pack(int cout, int kdim, const float *w, const float *bias, float *packed)
{
    const int nr = FROST_PGEMM_NR;
    memset(packed, 0, frost_pgemm_packed_floats(cout, kdim) * sizeof(float));
    for (int o0 = 0; o0 < cout; o0 += nr) {
        float *blk = packed + (size_t)(o0 / nr) * nr * ((size_t)kdim + 1);
        for (int j = 0; j < nr && o0 + j < cout; j++) {
            blk[j] = bias ? bias[o0 + j] : 0.0f;
            for (int k = 0; k < kdim; k++)
                blk[(size_t)(k + 1) * nr + j] = w[(size_t)(o0 + j) * kdim + k];
        }
    }
}

void frost_pgemm_ref(frost_act_kind act, int p0, int p1, int kdim, int cout, const float *x,
                     int64_t ldx, const float *packed, float *y, int64_t ldy)
{
    const int nr = FROST_PGEMM_NR;
    for (int p = p0; p < p1; p++) {
        const float *xr = x + (int64_t)p * ldx;
        float *yr = y + (int64_t)p * ldy;
        for (int o = 0; o < cout; o++) {
            const float *blk = packed + (size_t)(o / nr) * nr * ((size_t)kdim + 1) + o % nr;
            float acc = blk[0];
            for (int k = 0; k < kdim; k++)
                acc += xr[k] * blk[(size_t)(k + 1) * nr];
            yr[o] = acc;
        }
        frost_act_forward_ref(act, cout, yr, yr);
    }
}
