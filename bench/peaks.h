/*
 * Per-core peak multiply-add rates of the instruction sets this CPU has, for the compute
 * floors of the benchmark tables (bench_int8_latency peak, bench_train_speed --peak).
 *
 * Each kernel keeps its independent accumulators in registers (10-12 chains where the
 * chain runs through the multiply, 6 for vpmaddubsw + vpmaddwd, whose chain is only the
 * final add) and runs from one core; the rate is the median of 3 runs, timed by the
 * thread's CPU time (not wall-clock, which other jobs on the machine would stretch). A
 * kernel runs only when cpuid (frost_cpu_describe: CPU and OS support) says the CPU has
 * its instructions: the functions carry target attributes, so the rest of the program is
 * built for the baseline, and a CPU without AVX-512 never executes a zmm instruction.
 *
 * bench_print_peaks prints tab-separated lines:
 *   cpu    <key>   <value>            model, vendor, family, model_id, isa, int8, fp32,
 *                                     train_gemm, text (frost_cpu_text)
 *   peak   <name>  1   <GMAC/s>       or "skipped (<why>)"; names: FP32 FMA ymm,
 *                                     FP32 FMA zmm, INT8 maddubs ymm, INT8 vpdpbusd ymm,
 *                                     INT8 vpdpbusd zmm
 *   floor  <INT8|FP32|TRAIN>  <peak name or "none">
 * The floor lines name the peak of the kernels frost itself takes on this CPU: INT8 the
 * int8 engine (AVX-512 VNNI kernels use 512-bit vpdpbusd; AVX2 vpmaddubsw + vpmaddwd),
 * FP32 the FP32 inference engine (zmm FMA on its avx512 path, else ymm), TRAIN the training
 * GEMM (zmm FMA with frost's AVX-512 kernels, or OpenBLAS on an AVX-512 core; else ymm FMA).
 * "none": frost takes reference C kernels, which have no instruction-level peak.
 *
 * The AVX-512 and VNNI kernels were written without such a CPU at hand: they are the ymm
 * kernels with the vector type and intrinsics swapped (the same macro), see bench/README.md.
 */
#ifndef FROST_BENCH_PEAKS_H
#define FROST_BENCH_PEAKS_H

#include <immintrin.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/timer.h"
#include "frost/cpu.h"

#define PEAK_ITERS 20000000L

static volatile double peak_sink; /* the accumulators end here, so no chain is dropped */

/* The thread's CPU time: each kernel runs in one thread, and on a machine shared with other
 * jobs wall-clock time would count the time it waits for a core (at a load average of 13
 * on 2 cores the wall-clock peak read half the quiet one, doubling every share of it). */
static inline double peak_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

/* FP32: ten chains a = a * b + c, LANES floats each. */
#define DEFINE_FMA_PEAK(NAME, TARGET, VEC, SET1, FMADD, ADD, LANES)                              \
    __attribute__((target(TARGET))) static double NAME(void)                                     \
    {                                                                                            \
        VEC b = SET1(0.999f), c = SET1(0.001f);                                                  \
        VEC a0 = SET1(0), a1 = SET1(1), a2 = SET1(2), a3 = SET1(3), a4 = SET1(4), a5 = SET1(5),  \
            a6 = SET1(6), a7 = SET1(7), a8 = SET1(8), a9 = SET1(9);                              \
        double s = peak_cpu_ms();                                                                \
        for (long it = 0; it < PEAK_ITERS; it++) {                                               \
            a0 = FMADD(a0, b, c), a1 = FMADD(a1, b, c), a2 = FMADD(a2, b, c);                    \
            a3 = FMADD(a3, b, c), a4 = FMADD(a4, b, c), a5 = FMADD(a5, b, c);                    \
            a6 = FMADD(a6, b, c), a7 = FMADD(a7, b, c), a8 = FMADD(a8, b, c);                    \
            a9 = FMADD(a9, b, c);                                                                \
        }                                                                                        \
        double ms = peak_cpu_ms() - s;                                                           \
        VEC t =                                                                                  \
            ADD(ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7))), ADD(a8, a9)); \
        peak_sink = t[0];                                                                        \
        return (double)PEAK_ITERS * 10 * (LANES) / ms / 1e6;                                     \
    }

DEFINE_FMA_PEAK(peak_fma_ymm, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8)
DEFINE_FMA_PEAK(peak_fma_zmm, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16)

/* u8 x s8 pairs (vpmaddubsw) summed to int32 (vpmaddwd with ones): 32 MACs per pair; 6
 * distinct products per iteration (2 inputs x 3 weights), new inputs every iteration.
 * Six, not more: with 8 (the earlier kernel) gcc keeps some accumulators on the stack,
 * and the store-to-load latency on their chains read 30-60% below this rate on a Zen 3. */
__attribute__((target("avx2,fma"))) static double peak_maddubs_ymm(void)
{
    __m256i x0 = _mm256_set1_epi8(3), x1 = _mm256_set1_epi8(5), one = _mm256_set1_epi16(1);
    __m256i w0 = _mm256_set1_epi8(-2), w1 = _mm256_set1_epi8(7), w2 = _mm256_set1_epi8(-9);
    __m256i a0 = _mm256_set1_epi32(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
#define STEP(a, x, w) a = _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), one))
    double s = peak_cpu_ms();
    for (long it = 0; it < PEAK_ITERS; it++) {
        STEP(a0, x0, w0), STEP(a1, x0, w1), STEP(a2, x0, w2);
        STEP(a3, x1, w0), STEP(a4, x1, w1), STEP(a5, x1, w2);
        x0 = _mm256_add_epi8(x0, one);
        x1 = _mm256_add_epi8(x1, one);
    }
#undef STEP
    double ms = peak_cpu_ms() - s;
    __m256i t =
        _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)),
                         _mm256_add_epi32(a4, a5));
    peak_sink = (double)t[0];
    return (double)PEAK_ITERS * 6 * 32 / ms / 1e6;
}

/* vpdpbusd: twelve int32 chains a += u8 x s8 (4 products per int32 lane). Each chain
 * accumulates, so one input and one weight vector suffice (nothing can be shared or
 * hoisted) and everything stays in the 16 registers a VEX-only CPU has; the input still
 * changes every iteration. The instruction is written in asm: gcc 12 copies every
 * accumulator in and out of the intrinsic's register each iteration (24 extra moves per
 * 12 dot products), which would measure the front end instead. */
#define DPBUSD_EVEX(a, x, w) __asm__("vpdpbusd %2, %1, %0" : "+v"(a) : "v"(x), "v"(w))
#define DPBUSD_VEX(a, x, w)  __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(a) : "x"(x), "x"(w))
#define DEFINE_DPBUSD_PEAK(NAME, TARGET, VEC, SET8, SET32, ADD8, DPBUSD, ADD32, MACS)       \
    __attribute__((target(TARGET))) static double NAME(void)                                \
    {                                                                                       \
        VEC x = SET8(3), w = SET8(-7), one = SET8(1);                                       \
        VEC a0 = SET32(0), a1 = SET32(1), a2 = SET32(2), a3 = SET32(3), a4 = SET32(4),      \
            a5 = SET32(5), a6 = SET32(6), a7 = SET32(7), a8 = SET32(8), a9 = SET32(9),      \
            a10 = SET32(10), a11 = SET32(11);                                               \
        double s = peak_cpu_ms();                                                           \
        for (long it = 0; it < PEAK_ITERS; it++) {                                          \
            DPBUSD(a0, x, w);                                                               \
            DPBUSD(a1, x, w);                                                               \
            DPBUSD(a2, x, w);                                                               \
            DPBUSD(a3, x, w);                                                               \
            DPBUSD(a4, x, w);                                                               \
            DPBUSD(a5, x, w);                                                               \
            DPBUSD(a6, x, w);                                                               \
            DPBUSD(a7, x, w);                                                               \
            DPBUSD(a8, x, w);                                                               \
            DPBUSD(a9, x, w);                                                               \
            DPBUSD(a10, x, w);                                                              \
            DPBUSD(a11, x, w);                                                              \
            x = ADD8(x, one);                                                               \
        }                                                                                   \
        double ms = peak_cpu_ms() - s;                                                      \
        VEC t = ADD32(ADD32(ADD32(ADD32(a0, a1), ADD32(a2, a3)), ADD32(ADD32(a4, a5), a6)), \
                      ADD32(ADD32(ADD32(a7, a8), ADD32(a9, a10)), a11));                    \
        peak_sink = (double)t[0];                                                           \
        return (double)PEAK_ITERS * 12 * (MACS) / ms / 1e6;                                 \
    }

/* the EVEX 256-bit form frost's VNNI kernels use (AVX-512 VNNI + VL) */
DEFINE_DPBUSD_PEAK(peak_dpbusd_ymm_evex, "avx2,avx512f,avx512vl,avx512bw,avx512vnni", __m256i,
                   _mm256_set1_epi8, _mm256_set1_epi32, _mm256_add_epi8, DPBUSD_EVEX,
                   _mm256_add_epi32, 32)
/* the VEX form of CPUs with AVX-VNNI but no AVX-512 VNNI */
DEFINE_DPBUSD_PEAK(peak_dpbusd_ymm_vex, "avx2,avxvnni", __m256i, _mm256_set1_epi8,
                   _mm256_set1_epi32, _mm256_add_epi8, DPBUSD_VEX, _mm256_add_epi32, 32)
DEFINE_DPBUSD_PEAK(peak_dpbusd_zmm, "avx512f,avx512bw,avx512vnni", __m512i, _mm512_set1_epi8,
                   _mm512_set1_epi32, _mm512_add_epi8, DPBUSD_EVEX, _mm512_add_epi32, 64)

typedef struct {
    const char *name;
    double (*run)(void); /* NULL: skipped */
    const char *why_skipped;
    double gmacs;
} bench_peak;

enum { PEAK_FMA_YMM, PEAK_FMA_ZMM, PEAK_MADDUBS_YMM, PEAK_DPBUSD_YMM, PEAK_DPBUSD_ZMM, PEAK_N };

/* Which kernels this CPU can run (never one whose instructions cpuid does not report). */
static void bench_peaks_plan(const frost_cpu_info *c, bench_peak p[PEAK_N])
{
    bool avx2 = c->avx2 && c->fma;
    p[PEAK_FMA_YMM] = (bench_peak){"FP32 FMA ymm", avx2 ? peak_fma_ymm : NULL, "no avx2+fma", 0};
    p[PEAK_FMA_ZMM] =
        (bench_peak){"FP32 FMA zmm", c->avx512f ? peak_fma_zmm : NULL, "no avx512f", 0};
    p[PEAK_MADDUBS_YMM] =
        (bench_peak){"INT8 maddubs ymm", avx2 ? peak_maddubs_ymm : NULL, "no avx2", 0};
    bool evex = avx2 && c->avx512vl && c->avx512bw && c->avx512_vnni;
    p[PEAK_DPBUSD_YMM] = (bench_peak){"INT8 vpdpbusd ymm",
                                      evex                  ? peak_dpbusd_ymm_evex
                                      : avx2 && c->avx_vnni ? peak_dpbusd_ymm_vex
                                                            : NULL,
                                      "no avx512_vnni+vl or avx_vnni", 0};
    p[PEAK_DPBUSD_ZMM] =
        (bench_peak){"INT8 vpdpbusd zmm", c->avx512bw && c->avx512_vnni ? peak_dpbusd_zmm : NULL,
                     "no avx512_vnni", 0};
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Measures every kernel the CPU has, median of 3 runs each. */
static void bench_peaks_measure(bench_peak p[PEAK_N])
{
    for (int i = 0; i < PEAK_N; i++) {
        if (!p[i].run)
            continue;
        double r[3];
        for (int k = 0; k < 3; k++)
            r[k] = p[i].run();
        qsort(r, 3, sizeof r[0], compare_double);
        p[i].gmacs = r[1];
    }
}

/* The training GEMM runs zmm FMAs with frost's AVX-512 kernels, or when OpenBLAS picked an
 * AVX-512 core. */
static bool blas_uses_avx512(const frost_cpu_info *c)
{
    static const char *const cores[] = {"frost-avx512", "skylakex", "cooperlake", "sapphirerapids"};
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++)
        if (strstr(c->train_gemm, cores[i]))
            return true;
    return false;
}

static const char *peak_name_if(const bench_peak p[PEAK_N], int i)
{
    return p[i].run ? p[i].name : "none";
}

static void bench_print_peaks(FILE *out)
{
    frost_cpu_info c;
    frost_cpu_describe(&c);
    char isa[160], text[FROST_CPU_TEXT_MAX];
    frost_cpu_isa_text(&c, isa, sizeof isa);
    frost_cpu_text(&c, text, sizeof text);
    fprintf(out, "cpu\tmodel\t%s\ncpu\tvendor\t%s\ncpu\tfamily\t%d\ncpu\tmodel_id\t%d\n", c.model,
            c.vendor, c.family, c.model_id);
    fprintf(out, "cpu\tisa\t%s\ncpu\tint8\t%s\ncpu\tfp32\t%s\ncpu\ttrain_gemm\t%s\ncpu\ttext\t%s\n",
            isa, c.int8_kernels, c.fp32_kernels, c.train_gemm, text);
    bench_peak p[PEAK_N];
    bench_peaks_plan(&c, p);
    bench_peaks_measure(p);
    for (int i = 0; i < PEAK_N; i++) {
        if (p[i].run)
            fprintf(out, "peak\t%s\t1\t%.1f\n", p[i].name, p[i].gmacs);
        else
            fprintf(out, "peak\t%s\t1\tskipped (%s)\n", p[i].name, p[i].why_skipped);
    }
    const char *int8 = !strcmp(c.int8_kernels, "avx512-vnni") ? peak_name_if(p, PEAK_DPBUSD_ZMM)
                       : !strcmp(c.int8_kernels, "avx2")      ? peak_name_if(p, PEAK_MADDUBS_YMM)
                                                              : "none";
    const char *fp32 = !strcmp(c.fp32_kernels, "avx512") ? peak_name_if(p, PEAK_FMA_ZMM)
                       : !strcmp(c.fp32_kernels, "avx2") ? peak_name_if(p, PEAK_FMA_YMM)
                                                         : "none";
    const char *train = blas_uses_avx512(&c) && p[PEAK_FMA_ZMM].run ? p[PEAK_FMA_ZMM].name
                                                                    : peak_name_if(p, PEAK_FMA_YMM);
    fprintf(out, "floor\tINT8\t%s\nfloor\tFP32\t%s\nfloor\tTRAIN\t%s\n", int8, fp32, train);
}

#endif
