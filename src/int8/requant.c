/* QuantizeMultiplier (TFLite's), the one non-inline piece of requant.h. */
#include <math.h>

#include "int8/requant.h"

void frost_quantize_multiplier(double m, int32_t *m0, int32_t *e)
{
    if (!(m > 0.0)) {
        *m0 = 0;
        *e = 0;
        return;
    }
    int exp;
    double f = frexp(m, &exp); /* m = f * 2^exp, f in [0.5, 1) */
    int64_t q = (int64_t)round(f * (double)(INT64_C(1) << 31));
    if (q == (INT64_C(1) << 31)) {
        q /= 2;
        exp++;
    }
    if (exp < -31) {
        q = 0;
        exp = 0;
    }
    *m0 = (int32_t)q;
    *e = exp;
}
