/*
 * Which CPU frost runs on and which kernels it takes there, so that every number frost
 * produces (benchmarks, checkpoints, `frost bench` / `frost run`) can say what made it.
 *
 * The ISA flags say what the CPU *and* the operating system support (an AVX-512 flag is
 * off when the OS does not save the zmm state, since the instructions would fault). The
 * kernel paths say what frost will do in this process: they follow the same checks the
 * kernels are chosen by, including FROST_NO_SIMD (no SIMD kernels at all) and
 * FROST_NO_VNNI (int8 on AVX2 where the CPU has AVX-512 VNNI) and FROST_NO_AVX512 (FP32 and
 * binary kernels on AVX2 where the CPU has AVX-512). A per-model switch such as
 * frost_int8_force_reference is not visible here; a caller that sets one can set
 * int8_kernels to "reference" in its copy before formatting it.
 */
#ifndef FROST_CPU_H
#define FROST_CPU_H

#include <stdbool.h>
#include <stddef.h>

typedef struct frost_cpu_info {
    char model[64];  /* brand string, trimmed ("AMD EPYC 9B45 128-Core Processor"); else
                        /proc/cpuinfo's "model name"; else "unknown CPU" */
    char vendor[16]; /* cpuid vendor ("AuthenticAMD", "GenuineIntel") */
    int family;      /* display family and model (base + extended), as lscpu prints them */
    int model_id;
    int stepping;
    bool avx2, fma, avx512f, avx512bw, avx512vl, avx512_vnni, avx_vnni, avx512_vpopcntdq;
    const char *int8_kernels;   /* int8 engine: "avx512-vnni", "avx2" or "reference" */
    const char *fp32_kernels;   /* FP32 engine GEMM and the FP32 training kernels frost owns
                                   (depthwise, BN, activations): "avx512" (GEMM and
                                   depthwise on zmm, BN and activations on AVX2), "avx2"
                                   or "reference"; FROST_NO_AVX512 turns "avx512" into
                                   "avx2" */
    const char *binary_kernels; /* bit-packed binary / ternary popcount kernels (src/binary,
                                   frost_bin_best_path): "avx512-vpopcntdq", "avx2" or
                                   "reference" */
    char train_gemm[40];        /* conv / linear GEMM in training: "frost-avx512" (frost's
                                   own kernels, the default where the CPU has AVX-512F),
                                   "openblas-<core>" with OpenBLAS's run-time core name
                                   (OPENBLAS_CORETYPE applied), or with FROST_BLAS=frost
                                   "frost-avx2" / "frost-reference" */
} frost_cpu_info;

/* Fills *out for the CPU this process runs on. */
void frost_cpu_describe(frost_cpu_info *out);

/* The ISA flags that are on, space-separated in the order of the struct
 * ("avx2 fma avx512f avx512bw avx512vl avx512_vnni"), or "no avx2" when none is.
 * Writes at most size bytes (always terminated when size > 0); returns the length of the
 * whole text, like snprintf. */
size_t frost_cpu_isa_text(const frost_cpu_info *c, char *buf, size_t size);

/* Room for the whole of frost_cpu_text's line (the longest possible one is ~265 bytes). */
#define FROST_CPU_TEXT_MAX 320

/* One line for logs, tables and checkpoint metadata:
 * "AMD EPYC 7B13 (avx2 fma); kernels: int8 avx2, fp32 avx2, binary avx2, training gemm
 * openblas-haswell".
 * Same size contract as frost_cpu_isa_text. */
size_t frost_cpu_text(const frost_cpu_info *c, char *buf, size_t size);

#endif
