#include "core/cpu.h"

#include <stdlib.h>

bool frost_cpu_has_avx2(void)
{
    static int cached = -1;
    if (cached < 0) {
        const char *off = getenv("FROST_NO_SIMD");
        __builtin_cpu_init();
        cached = !(off && *off && *off != '0') && __builtin_cpu_supports("avx2") &&
                 __builtin_cpu_supports("fma");
    }
    return cached == 1;
}
