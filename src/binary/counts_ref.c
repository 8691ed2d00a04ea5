/* Portable reference kernels: the scalar loops with a portable popcount, and the plain
 * int8 x ternary dot product. Every SIMD path is tested bit-exact against these. */
#include "binary/counts_scalar.h"
#include "binary/kernels.h"

DEFINE_SCALAR_DOTS(frost_bin_dots_ref, frost_bin_popcount64)
DEFINE_SCALAR_POPCOUNT(frost_bin_popcount_ref, frost_bin_popcount64)

void frost_bin_s8dot_ref(const uint8_t *xu8, const int8_t *w, int stride, int o, int32_t *acc)
{
    for (int j = 0; j < o; j++) {
        int32_t s = 0;
        for (int i = 0; i < stride; i++)
            s += (int32_t)xu8[i] * w[(size_t)j * stride + i];
        acc[j] = s;
    }
}
