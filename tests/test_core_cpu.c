/* frost_cpu_describe (frost/cpu.h) agrees with the checks the kernels are chosen by
 * (core/cpu.h) and with gcc's own cpuid reading, and follows FROST_NO_SIMD / FROST_NO_VNNI /
 * FROST_NO_AVX512. */
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "frost/cpu.h"
#include "harness.h"

/* Describes the CPU with exactly the given variables set (the rest unset, FROST_NO_AVX512
 * too, so the suite gives the same answers when run under it). */
static frost_cpu_info describe_with(const char *no_simd, const char *no_vnni)
{
    unsetenv("FROST_NO_AVX512");
    if (no_simd)
        setenv("FROST_NO_SIMD", no_simd, 1);
    else
        unsetenv("FROST_NO_SIMD");
    if (no_vnni)
        setenv("FROST_NO_VNNI", no_vnni, 1);
    else
        unsetenv("FROST_NO_VNNI");
    frost_cpu_forget();
    frost_cpu_info c;
    frost_cpu_describe(&c);
    return c;
}

static void restore_env(void)
{
    unsetenv("FROST_NO_SIMD");
    unsetenv("FROST_NO_VNNI");
    unsetenv("FROST_NO_AVX512");
    frost_cpu_forget();
}

/* The integer after "key<tabs>: " in /proc/cpuinfo (the first processor), or -1. */
static int cpuinfo_int(const char *key)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    int v = -1;
    while (f && v < 0 && fgets(line, sizeof line, f)) {
        size_t n = strlen(key);
        if (!strncmp(line, key, n) && (line[n] == '\t' || line[n] == ' ') && strchr(line, ':'))
            v = atoi(strchr(line, ':') + 1);
    }
    if (f)
        fclose(f);
    return v;
}

TEST(identity_is_filled)
{
    frost_cpu_info c = describe_with(NULL, NULL);
    CHECK(strlen(c.model) > 0);
    CHECK(c.model[0] != ' ' && c.model[strlen(c.model) - 1] != ' ');
    CHECK_EQ_INT(strlen(c.vendor), 12);
    CHECK(c.family > 0);
    if (cpuinfo_int("cpu family") >= 0) { /* the kernel decodes cpuid leaf 1 the same way */
        CHECK_EQ_INT(c.family, cpuinfo_int("cpu family"));
        CHECK_EQ_INT(c.model_id, cpuinfo_int("model"));
        CHECK_EQ_INT(c.stepping, cpuinfo_int("stepping"));
    }
    /* frost's own GEMM or OpenBLAS with its core name (test_ops_sgemm checks which) */
    CHECK((!strncmp(c.train_gemm, "openblas-", 9) && strlen(c.train_gemm) > 9) ||
          !strncmp(c.train_gemm, "frost-", 6));
    __builtin_cpu_init();
    if (__builtin_cpu_is("amd"))
        CHECK(!strcmp(c.vendor, "AuthenticAMD"));
    if (__builtin_cpu_is("intel"))
        CHECK(!strcmp(c.vendor, "GenuineIntel"));
}

/* gcc's run-time cpuid reading (which also checks the OS saves the registers) */
TEST(flags_agree_with_gcc)
{
    frost_cpu_info c = describe_with(NULL, NULL);
    __builtin_cpu_init();
    CHECK_EQ_INT(c.avx2, !!__builtin_cpu_supports("avx2"));
    CHECK_EQ_INT(c.fma, !!__builtin_cpu_supports("fma"));
    CHECK_EQ_INT(c.avx512f, !!__builtin_cpu_supports("avx512f"));
    CHECK_EQ_INT(c.avx512bw, !!__builtin_cpu_supports("avx512bw"));
    CHECK_EQ_INT(c.avx512vl, !!__builtin_cpu_supports("avx512vl"));
    CHECK_EQ_INT(c.avx512_vnni, !!__builtin_cpu_supports("avx512vnni"));
    CHECK_EQ_INT(c.avx512_vpopcntdq, !!__builtin_cpu_supports("avx512vpopcntdq"));
    CHECK_EQ_INT(c.avx_vnni, !!__builtin_cpu_supports("avxvnni"));
}

TEST(paths_agree_with_kernel_checks)
{
    frost_cpu_info c = describe_with(NULL, NULL);
    CHECK_EQ_INT(c.avx2 && c.fma, frost_cpu_has_avx2());
    bool vnni = c.avx2 && c.fma && c.avx512f && c.avx512bw && c.avx512vl && c.avx512_vnni;
    CHECK_EQ_INT(vnni, frost_cpu_has_avx512_vnni());
    const char *int8 = frost_cpu_has_avx512_vnni() ? "avx512-vnni"
                       : frost_cpu_has_avx2()      ? "avx2"
                                                   : "reference";
    CHECK(!strcmp(c.int8_kernels, int8));
    const char *fp32 = frost_cpu_has_avx512f() ? "avx512"
                       : frost_cpu_has_avx2()  ? "avx2"
                                               : "reference";
    CHECK(!strcmp(c.fp32_kernels, fp32));
    CHECK_EQ_INT(frost_cpu_has_avx512f(), c.avx2 && c.fma && c.avx512f && c.avx512bw &&
                                              c.avx512vl && !!__builtin_cpu_supports("avx512dq"));
    restore_env();
}

TEST(no_simd_means_reference)
{
    frost_cpu_info on = describe_with(NULL, NULL);
    frost_cpu_info off = describe_with("1", NULL);
    CHECK(!frost_cpu_has_avx2());
    CHECK(!strcmp(off.int8_kernels, "reference"));
    CHECK(!strcmp(off.fp32_kernels, "reference"));
    CHECK(!strcmp(off.binary_kernels, "reference"));
    CHECK_EQ_INT(off.avx2, on.avx2); /* the flags say what the CPU has, not what frost uses */
    frost_cpu_info zero = describe_with("0", NULL); /* "0" means not set */
    CHECK(!strcmp(zero.int8_kernels, on.int8_kernels));
    restore_env();
}

TEST(no_vnni_switches_int8_to_avx2)
{
    frost_cpu_info on = describe_with(NULL, NULL);
    if (strcmp(on.int8_kernels, "avx512-vnni") != 0) {
        printf("  (no AVX-512 VNNI here: int8 takes '%s'; FROST_NO_VNNI not exercised)\n",
               on.int8_kernels);
        frost_cpu_info off = describe_with(NULL, "1");
        CHECK(!strcmp(off.int8_kernels, on.int8_kernels)); /* and it changes nothing */
        restore_env();
        return;
    }
    frost_cpu_info off = describe_with(NULL, "1");
    CHECK(!strcmp(off.int8_kernels, "avx2"));
    CHECK(!frost_cpu_has_avx512_vnni());
    CHECK(!strcmp(off.fp32_kernels, on.fp32_kernels));
    restore_env();
}

/* The binary kernels' AVX-512 check: the ISA flags (and AVX2), unless FROST_NO_AVX512 or
 * FROST_NO_SIMD says no. */
TEST(vpopcntdq_follows_flags_and_overrides)
{
    frost_cpu_info c = describe_with(NULL, NULL);
    CHECK_EQ_INT(frost_cpu_has_avx512_vpopcntdq(), c.avx2 && c.fma && c.avx512_vpopcntdq);
    setenv("FROST_NO_AVX512", "1", 1);
    frost_cpu_forget();
    CHECK(!frost_cpu_has_avx512_vpopcntdq());
    CHECK(!frost_cpu_has_avx512f());
    CHECK_EQ_INT(frost_cpu_has_avx2(), c.avx2 && c.fma); /* AVX2 stays */
    setenv("FROST_NO_AVX512", "0", 1);                   /* "0" means not set */
    frost_cpu_forget();
    CHECK_EQ_INT(frost_cpu_has_avx512_vpopcntdq(), c.avx2 && c.fma && c.avx512_vpopcntdq);
    unsetenv("FROST_NO_AVX512");
    describe_with("1", NULL);
    CHECK(!frost_cpu_has_avx512_vpopcntdq());
    restore_env();
}

TEST(text_forms)
{
    frost_cpu_info c = {.model = "Test CPU 9000",
                        .avx2 = true,
                        .fma = true,
                        .int8_kernels = "avx2",
                        .fp32_kernels = "avx2",
                        .binary_kernels = "avx2",
                        .train_gemm = "openblas-haswell"};
    char buf[256];
    CHECK_EQ_INT(frost_cpu_isa_text(&c, buf, sizeof buf), strlen("avx2 fma"));
    CHECK(!strcmp(buf, "avx2 fma"));
    const char *want =
        "Test CPU 9000 (avx2 fma); kernels: int8 avx2, fp32 avx2, binary avx2, training gemm "
        "openblas-haswell";
    CHECK_EQ_INT(frost_cpu_text(&c, buf, sizeof buf), strlen(want));
    CHECK(!strcmp(buf, want));
    char small[10];
    CHECK_EQ_INT(frost_cpu_text(&c, small, sizeof small), strlen(want)); /* snprintf contract */
    CHECK(!strcmp(small, "Test CPU "));
    c.avx512f = c.avx512bw = c.avx512vl = c.avx512_vnni = c.avx_vnni = c.avx512_vpopcntdq = true;
    frost_cpu_isa_text(&c, buf, sizeof buf);
    CHECK(!strcmp(buf, "avx2 fma avx512f avx512bw avx512vl avx512_vnni avx_vnni avx512_vpopcntdq"));
    frost_cpu_info none = {.model = "x"};
    frost_cpu_isa_text(&none, buf, sizeof buf);
    CHECK(!strcmp(buf, "no avx2"));

    /* the longest line there can be fits FROST_CPU_TEXT_MAX */
    frost_cpu_info longest = c;
    memset(longest.model, 'M', sizeof longest.model - 1);
    memset(longest.train_gemm, 'g', sizeof longest.train_gemm - 1);
    longest.int8_kernels = "avx512-vnni";
    longest.fp32_kernels = "reference";
    longest.binary_kernels = "avx512-vpopcntdq";
    CHECK(frost_cpu_text(&longest, NULL, 0) < FROST_CPU_TEXT_MAX);

    frost_cpu_info real = describe_with(NULL, NULL);
    size_t n = frost_cpu_text(&real, buf, sizeof buf);
    CHECK(n > 0 && n < sizeof buf);
    CHECK(!strncmp(buf, real.model, strlen(real.model)));
    CHECK(strstr(buf, "; kernels: int8 ") != NULL);
    printf("  %s\n", buf);
}

FROST_TEST_MAIN(RUN(identity_is_filled), RUN(flags_agree_with_gcc),
                RUN(paths_agree_with_kernel_checks), RUN(no_simd_means_reference),
                RUN(no_vnni_switches_int8_to_avx2), RUN(vpopcntdq_follows_flags_and_overrides),
                RUN(text_forms))
