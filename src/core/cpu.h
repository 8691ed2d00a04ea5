/* Run-time CPU feature check used to pick AVX2/FMA kernels over the portable ones.
 * frost_cpu_describe (frost/cpu.h) reports the same decisions. */
#ifndef FROST_CORE_CPU_H
#define FROST_CORE_CPU_H

#include <stdbool.h>

/* True when the CPU has AVX2 and FMA and FROST_NO_SIMD is not set in the environment. */
bool frost_cpu_has_avx2(void);

/* True when the CPU (and OS) support AVX-512 VNNI with 256-bit (VL) forms, AVX2 is on, and
 * FROST_NO_VNNI is not set: the int8 engine's u8 x s8 dot-product kernels. */
bool frost_cpu_has_avx512_vnni(void);

/* True when the CPU (and OS) support AVX-512F with VPOPCNTDQ (vpopcntq on zmm), AVX2 is on,
 * and FROST_NO_AVX512 is not set: the binary (bit-packed) kernels' AVX-512 path. */
bool frost_cpu_has_avx512_vpopcntdq(void);

/* True when the CPU (and OS) support AVX-512 F, VL, BW and DQ (full-width zmm FMA and
 * masked loads/stores), AVX2 is on, and FROST_NO_AVX512 is not set: the FP32 engine's GEMM
 * and depthwise kernels and the FP32 training kernels frost owns take their zmm versions. */
bool frost_cpu_has_avx512f(void);

/* The training GEMM's engine (ops/sgemm.h, reported as frost_cpu_info.train_gemm). By
 * default frost's AVX-512 kernels where frost_cpu_has_avx512f(), else OpenBLAS. FROST_BLAS
 * overrides it: "openblas" always OpenBLAS; "frost" frost's own kernels on any CPU
 * (AVX-512, else AVX2, else the reference C), for comparisons. */
typedef enum {
    FROST_TRAIN_GEMM_OPENBLAS,
    FROST_TRAIN_GEMM_REFERENCE,
    FROST_TRAIN_GEMM_AVX2,
    FROST_TRAIN_GEMM_AVX512
} frost_train_gemm;
frost_train_gemm frost_cpu_train_gemm(void);
/* "openblas", "frost-reference", "frost-avx2", "frost-avx512" */
const char *frost_train_gemm_name(frost_train_gemm e);

/* The answers above are read once and kept; this makes the next call read the CPU and
 * the environment again. For tests that change FROST_NO_SIMD / FROST_NO_VNNI /
 * FROST_NO_AVX512 / FROST_BLAS; kernels
 * already chosen (packed models) keep their choice. Not thread-safe. */
void frost_cpu_forget(void);

#endif
