#include "core/cpu.h"

#include <stdint.h>
#include <stdlib.h>

static bool simd_disabled(void)
{
    const char *off = getenv("FROST_NO_SIMD");
    return off && *off && *off != '0';
}

bool frost_cpu_has_avx2(void)
{
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached =
            !simd_disabled() && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached == 1;
}

/* XCR0 (xgetbv 0): whether the OS saves the AVX-512 state (opmask, ZMM_Hi256, Hi16_ZMM)
 * besides SSE/AVX; without it AVX-512 instructions fault even where the CPU has them. */
static bool os_saves_avx512(void)
{
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    (void)edx;
    return (eax & 0xE6) == 0xE6;
}

bool frost_cpu_has_avx512_vnni(void)
{
    static int cached = -1;
    if (cached < 0) {
        const char *off = getenv("FROST_NO_VNNI");
        __builtin_cpu_init();
        cached = frost_cpu_has_avx2() && !(off && *off && *off != '0') &&
                 __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                 __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni") &&
                 os_saves_avx512();
    }
    return cached == 1;
}
