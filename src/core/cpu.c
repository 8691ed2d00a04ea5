#include "core/cpu.h"

#include <cblas.h>
#include <cpuid.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frost/cpu.h"

static int avx2_cached = -1, vnni_cached = -1, vpopcntdq_cached = -1, avx512f_cached = -1;
static int train_gemm_cached = -1;

static bool env_on(const char *name)
{
    const char *v = getenv(name);
    return v && *v && *v != '0';
}

bool frost_cpu_has_avx2(void)
{
    if (avx2_cached < 0) {
        __builtin_cpu_init();
        avx2_cached = !env_on("FROST_NO_SIMD") && __builtin_cpu_supports("avx2") &&
                      __builtin_cpu_supports("fma");
    }
    return avx2_cached == 1;
}

/* XCR0 (xgetbv 0): which register state the OS saves. AVX needs SSE + YMM (bits 1-2);
 * AVX-512 also needs opmask, ZMM_Hi256 and Hi16_ZMM (bits 5-7): without them the
 * instructions fault even where the CPU has them. Only valid when cpuid says OSXSAVE. */
static uint32_t xcr0(void)
{
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    (void)edx;
    return eax;
}

static bool os_saves_avx512(void) { return (xcr0() & 0xE6) == 0xE6; }

bool frost_cpu_has_avx512_vnni(void)
{
    if (vnni_cached < 0) {
        __builtin_cpu_init();
        vnni_cached = frost_cpu_has_avx2() && !env_on("FROST_NO_VNNI") &&
                      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni") &&
                      os_saves_avx512();
    }
    return vnni_cached == 1;
}

bool frost_cpu_has_avx512_vpopcntdq(void)
{
    if (vpopcntdq_cached < 0) {
        __builtin_cpu_init();
        vpopcntdq_cached = frost_cpu_has_avx2() && !env_on("FROST_NO_AVX512") &&
                           __builtin_cpu_supports("avx512f") &&
                           __builtin_cpu_supports("avx512vpopcntdq") && os_saves_avx512();
    }
    return vpopcntdq_cached == 1;
}

bool frost_cpu_has_avx512f(void)
{
    if (avx512f_cached < 0) {
        __builtin_cpu_init();
        avx512f_cached = frost_cpu_has_avx2() && !env_on("FROST_NO_AVX512") &&
                         __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                         os_saves_avx512();
    }
    return avx512f_cached == 1;
}

static frost_train_gemm best_frost_gemm(void)
{
    if (frost_cpu_has_avx512f())
        return FROST_TRAIN_GEMM_AVX512;
    return frost_cpu_has_avx2() ? FROST_TRAIN_GEMM_AVX2 : FROST_TRAIN_GEMM_REFERENCE;
}

frost_train_gemm frost_cpu_train_gemm(void)
{
    if (train_gemm_cached < 0) {
        const char *want = getenv("FROST_BLAS");
        frost_train_gemm e;
        if (want && !strcmp(want, "openblas"))
            e = FROST_TRAIN_GEMM_OPENBLAS;
        else if (want && !strcmp(want, "frost"))
            e = best_frost_gemm();
        else /* frost's zmm kernels win a training step's GEMMs against OpenBLAS's AVX2 and
                AVX-512 kernels (bench/gemm_shapes.c, docs/training-gemm.md); its AVX2 ones
                only tie with OpenBLAS and were never measured on an AVX2-only CPU */
            e = frost_cpu_has_avx512f() ? FROST_TRAIN_GEMM_AVX512 : FROST_TRAIN_GEMM_OPENBLAS;
        train_gemm_cached = (int)e;
    }
    return (frost_train_gemm)train_gemm_cached;
}

const char *frost_train_gemm_name(frost_train_gemm e)
{
    switch (e) {
    case FROST_TRAIN_GEMM_OPENBLAS: return "openblas";
    case FROST_TRAIN_GEMM_REFERENCE: return "frost-reference";
    case FROST_TRAIN_GEMM_AVX2: return "frost-avx2";
    case FROST_TRAIN_GEMM_AVX512: return "frost-avx512";
    }
    return "?";
}

void frost_cpu_forget(void)
{
    avx512f_cached = -1;
    train_gemm_cached = -1;
    avx2_cached = -1;
    vnni_cached = -1;
    vpopcntdq_cached = -1;
}

/* ---- description (frost/cpu.h) ---- */

static void trim_copy(char *dst, size_t size, const char *src)
{
    while (isspace((unsigned char)*src))
        src++;
    snprintf(dst, size, "%s", src);
    size_t n = strlen(dst);
    while (n > 0 && isspace((unsigned char)dst[n - 1]))
        dst[--n] = '\0';
}

/* The 48-byte brand string of cpuid leaves 0x80000002-4 ("" when the CPU has none). */
static void brand_string(char *dst, size_t size)
{
    uint32_t r[12] = {0};
    dst[0] = '\0';
    /* gcc's cpuid.h returns unsigned, clang's int: compare as unsigned for both */
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) < 0x80000004u)
        return;
    for (uint32_t i = 0; i < 3; i++)
        __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
    char raw[49];
    memcpy(raw, r, 48);
    raw[48] = '\0';
    trim_copy(dst, size, raw);
}

/* "model name : ..." from /proc/cpuinfo, for CPUs (or hypervisors) without a brand string. */
static void cpuinfo_model_name(char *dst, size_t size)
{
    dst[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (colon && !strncmp(line, "model name", 10)) {
            trim_copy(dst, size, colon + 1);
            break;
        }
    }
    fclose(f);
}

static void identify(frost_cpu_info *c)
{
    uint32_t a, b, cx, d;
    __cpuid(0, a, b, cx, d);
    memcpy(c->vendor, &b, 4);
    memcpy(c->vendor + 4, &d, 4);
    memcpy(c->vendor + 8, &cx, 4);
    c->vendor[12] = '\0';
    __cpuid(1, a, b, cx, d);
    int base_family = (int)(a >> 8) & 0xF, base_model = (int)(a >> 4) & 0xF;
    c->family = base_family == 0xF ? base_family + (int)((a >> 20) & 0xFF) : base_family;
    c->model_id = base_family == 0x6 || base_family == 0xF
                      ? base_model + (int)(((a >> 16) & 0xF) << 4)
                      : base_model;
    c->stepping = (int)(a & 0xF);
    brand_string(c->model, sizeof c->model);
    if (!c->model[0])
        cpuinfo_model_name(c->model, sizeof c->model);
    if (!c->model[0])
        snprintf(c->model, sizeof c->model, "unknown CPU");
}

/* Instruction sets the CPU has and the OS has enabled (cpuid leaves 1 and 7, XCR0). */
static void isa_flags(frost_cpu_info *c)
{
    uint32_t a, b, cx, d;
    __cpuid(1, a, b, cx, d);
    bool osxsave = cx & (1u << 27);
    uint32_t x = osxsave ? xcr0() : 0;
    bool avx_os = (x & 0x6) == 0x6, avx512_os = (x & 0xE6) == 0xE6;
    bool fma = cx & (1u << 12);
    uint32_t b7 = 0, c7 = 0, a7_1 = 0, subleaves = 0;
    if (__get_cpuid_max(0, NULL) >= 7)
        __cpuid_count(7, 0, subleaves, b7, c7, d);
    if (subleaves >= 1) /* leaf 7 says how many subleaves it has; AVX-VNNI is in the second */
        __cpuid_count(7, 1, a7_1, b, cx, d);
    c->fma = avx_os && fma;
    c->avx2 = avx_os && (b7 & (1u << 5));
    c->avx_vnni = avx_os && (a7_1 & (1u << 4));
    c->avx512f = avx512_os && (b7 & (1u << 16));
    c->avx512bw = c->avx512f && (b7 & (1u << 30));
    c->avx512vl = c->avx512f && (b7 & (1u << 31));
    c->avx512_vnni = c->avx512f && (c7 & (1u << 11));
    c->avx512_vpopcntdq = c->avx512f && (c7 & (1u << 14));
}

/* OpenBLAS's name for the kernels it picked at run time, lower case ("haswell", "zen"). */
static void blas_core(char *dst, size_t size)
{
    const char *core = openblas_get_corename();
    snprintf(dst, size, "openblas-%s", core && *core ? core : "unknown");
    for (char *p = dst; *p; p++)
        *p = (char)tolower((unsigned char)*p);
}

void frost_cpu_describe(frost_cpu_info *out)
{
    memset(out, 0, sizeof *out);
    identify(out);
    isa_flags(out);
    /* the same checks the int8 runtime (int8/runtime.c) and the FP32 kernels choose by */
    out->int8_kernels = frost_cpu_has_avx512_vnni() ? "avx512-vnni"
                        : frost_cpu_has_avx2()      ? "avx2"
                                                    : "reference";
    out->fp32_kernels = frost_cpu_has_avx512f() ? "avx512"
                        : frost_cpu_has_avx2()  ? "avx2"
                                                : "reference";
    /* frost_bin_best_path's choice (binary/ sits above core; test_binary_kernels checks the
     * two agree), with frost_bin_path_name's names */
    out->binary_kernels = frost_cpu_has_avx512_vpopcntdq() ? "avx512-vpopcntdq"
                          : frost_cpu_has_avx2()           ? "avx2"
                                                           : "reference";
    frost_train_gemm g = frost_cpu_train_gemm();
    if (g == FROST_TRAIN_GEMM_OPENBLAS)
        blas_core(out->train_gemm, sizeof out->train_gemm);
    else
        snprintf(out->train_gemm, sizeof out->train_gemm, "%s", frost_train_gemm_name(g));
}

size_t frost_cpu_isa_text(const frost_cpu_info *c, char *buf, size_t size)
{
    const struct {
        bool on;
        const char *name;
    } flags[] = {{c->avx2, "avx2"},         {c->fma, "fma"},
                 {c->avx512f, "avx512f"},   {c->avx512bw, "avx512bw"},
                 {c->avx512vl, "avx512vl"}, {c->avx512_vnni, "avx512_vnni"},
                 {c->avx_vnni, "avx_vnni"}, {c->avx512_vpopcntdq, "avx512_vpopcntdq"}};
    char text[160] = "";
    size_t n = 0;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (flags[i].on)
            n += (size_t)snprintf(text + n, sizeof text - n, "%s%s", n ? " " : "", flags[i].name);
    return (size_t)snprintf(buf, size, "%s", n ? text : "no avx2");
}

size_t frost_cpu_text(const frost_cpu_info *c, char *buf, size_t size)
{
    char isa[160];
    frost_cpu_isa_text(c, isa, sizeof isa);
    return (size_t)snprintf(
        buf, size, "%s (%s); kernels: int8 %s, fp32 %s, binary %s, training gemm %s", c->model, isa,
        c->int8_kernels ? c->int8_kernels : "?", c->fp32_kernels ? c->fp32_kernels : "?",
        c->binary_kernels ? c->binary_kernels : "?", c->train_gemm);
}
