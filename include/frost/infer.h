/*
 * FP32 inference: a float model compiled for batch-1 inference, the FP32 counterpart of
 * the int8 engine (frost/int8.h) on equal terms.
 *
 * frost_fp32_create takes a snapshot of a float model: BN folded into the convs before it
 * (as the int8 converter does), every conv's activation fused into its output, weights
 * packed for the kernels (a GEMM micro-kernel with the bias and activation applied in
 * registers; depthwise convs on their own kernel), all activations in one arena planned
 * ahead (tensors share bytes once dead). Nothing is allocated while it runs. The result
 * equals the training engine's eval forward of the folded model to float rounding.
 * Later changes to the model's weights do not reach the snapshot: create a new one.
 */
#ifndef FROST_INFER_H
#define FROST_INFER_H

#include <stdint.h>

#include "frost/model.h"
#include "frost/status.h"

typedef struct frost_fp32_model frost_fp32_model;

/* Compiles a float model (refused: a fake-quant model; convert it to int8 instead). */
frost_status frost_fp32_create(const frost_model *m, frost_fp32_model **out);
void frost_fp32_free(frost_fp32_model *m);

/* Runs one image (float NHWC, n == h*w*c values, normalized as in training) and writes
 * `classes` floats to out. An image of the wrong size is refused. */
frost_status frost_fp32_run(frost_fp32_model *m, const float *image, int64_t n, float *out);

/* Use the portable reference kernels even where AVX2 is available (tests). */
void frost_fp32_force_reference(frost_fp32_model *m, int on);

int64_t frost_fp32_macs(const frost_fp32_model *m);
size_t frost_fp32_arena_bytes(const frost_fp32_model *m);

/* Latency as frost_int8_time: median total and (per_node_ms non-NULL) median per node. */
frost_status frost_fp32_time(frost_fp32_model *m, int warmup, int reps, double *total_ms,
                             double *per_node_ms);
int frost_fp32_node_count(const frost_fp32_model *m);
const char *frost_fp32_node_name(const frost_fp32_model *m, int i);
const char *frost_fp32_node_op(const frost_fp32_model *m, int i);
int64_t frost_fp32_node_macs(const frost_fp32_model *m, int i);

#endif
