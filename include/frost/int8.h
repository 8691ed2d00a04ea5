/*
 * Integer-only inference (Jacob et al. 2018, TFLite int8 conventions).
 *
 * frost_int8_convert turns a fake-quant model (after QAT or PTQ calibration) into an
 * int8 model: BN folded, int8 weights (per channel or per tensor, symmetric), int32
 * biases, per-channel fixed-point multipliers, zero points, activation clamps fused
 * into the producing layer, hard-swish / hard-sigmoid and requantizing copies as
 * 256-entry tables. The file (a .int8 file) is safetensors: the integer tensors, plus
 * the graph as JSON in the metadata key "frost.int8" (versioned; docs/int8.md).
 *
 * Activations are stored as uint8 with a zero point (signed ranges shifted by 128);
 * weights are int8. Every element-wise table (activations, requantizing copies,
 * max pool) reproduces the fake-quant model exactly; conv / linear / add / average
 * pools round through fixed point and may differ from the float-computed fake-quant
 * output by one step (1 LSB) where the float result lies on a rounding tie.
 *
 * The runtime runs one image at a time with no allocation: all activations live in
 * one arena planned at load time (tensors share bytes once dead).
 */
#ifndef FROST_INT8_H
#define FROST_INT8_H

#include <stdint.h>
#include <stdio.h>

#include "frost/data.h"
#include "frost/model.h"
#include "frost/status.h"

typedef struct frost_int8_model frost_int8_model;

/* Converts a quantized model (frost_model_quantize + calibration or QAT) and writes it to
 * `path` atomically. Every layer must be quantized (only the logits may stay float). */
frost_status frost_int8_convert(const frost_model *qat_model, const char *path);
/* The same, to a model in memory (ready to run). */
frost_status frost_int8_from_model(const frost_model *qat_model, frost_int8_model **out);

/* Where the converter has a choice (frost_int8_convert_defaults: all 0). */
typedef struct {
    /* Grid of the conv / linear int32 biases. 0 (default): 2^k finer than the accumulator's
     * step S_x S_w (k <= 8, the most that keeps every sum within 2^30), which rounds fewer
     * outputs away from the fake-quant model. 1: the step S_x S_w itself, the int32 bias
     * ONNX's QLinearConv / QGemm take, so an ONNX QDQ export carries the model exactly
     * (ONNX Runtime then agrees with frost's float requantization to rounding ties); a
     * float classifier's float bias is rounded to a whole number of accumulator steps. */
    int onnx_bias_grid;
} frost_int8_convert_options;
frost_int8_convert_options frost_int8_convert_defaults(void);
frost_status frost_int8_from_model_opts(const frost_model *qat_model,
                                        const frost_int8_convert_options *opts,
                                        frost_int8_model **out);

/* Loads a .int8 file (memory-mapped; every size, offset, dtype, shape and parameter is
 * checked, so a corrupt file gets an error, never a crash); a path ending in .onnx is a QDQ
 * model, imported with frost_int8_import_onnx. */
frost_status frost_int8_load(const char *path, frost_int8_model **out);
frost_status frost_int8_save(const frost_int8_model *m, const char *path);
void frost_int8_free(frost_int8_model *m);

/* Imports an already-quantized QDQ ONNX model (QuantizeLinear / DequantizeLinear around
 * Conv, Gemm, MatMul, Add, Concat and pools, as ONNX Runtime's quantizer and frost export
 * --onnx write them; docs/interop.md#qdq-import) as an int8 model ready to run: the file's
 * integers, multipliers computed from its scales as frost_int8_convert computes them. What
 * has no int8 equivalent is refused, naming every such node. */
frost_status frost_int8_import_onnx(const char *path, frost_int8_model **out);
/* 1 when the ONNX file has QuantizeLinear / DequantizeLinear nodes (a QDQ model), 0 when
 * not, -1 when it cannot be read. */
int frost_int8_onnx_is_qdq(const char *path);

void frost_int8_input_shape(const frost_int8_model *m, int *h, int *w, int *c);
int frost_int8_classes(const frost_int8_model *m);
/* The input's quantization: u8 = clamp(zp + round_half_even(x / scale), 0, 255). */
void frost_int8_input_qparams(const frost_int8_model *m, float *scale, int *zero_point);

/* Runs one image (float NHWC, n == h*w*c values, normalized as in training): quantizes it
 * and runs the integer graph. Writes `classes` floats to out (NULL: keep them only in the
 * model). An image of the wrong size is refused. */
frost_status frost_int8_run(frost_int8_model *m, const float *image, int64_t n, float *out);
/* The same from an already quantized image (u8 with the input's zero point). */
frost_status frost_int8_run_quantized(frost_int8_model *m, const uint8_t *image, int64_t n,
                                      float *out);
/* The helpers behind frost_int8_run: quantize an image for this model. */
void frost_int8_quantize_input(const frost_int8_model *m, const float *image, uint8_t *q);

/* How images become this model's input (the float model's preprocessing). */
frost_preprocess frost_int8_preprocess(const frost_int8_model *m);

/* Top-1 accuracy over a data set, images normalized as in training (norm: mean/std;
 * NULL = none). */
frost_status frost_int8_evaluate(frost_int8_model *m, const frost_dataset *d,
                                 const frost_augment *norm, float *acc);

/* The int8 model against the FP32 model it came from (the float checkpoint before
 * quantization: BN in eval mode computes what the folded conv does). Both run every image of
 * `d` (normalized with `norm`); per layer, each int8 node's dequantized output
 * (q - Z) * S is compared with the FP32 layer of the same name (the int8 node is named
 * after the float layer whose output it holds), each model fed its own outputs from the
 * input on: errors accumulate through the network, so a layer's SQNR includes the
 * quantization noise of every layer before it (end to end, not layer in isolation). */
typedef struct {
    char name[64];  /* the layer (int8 node and FP32 node) */
    const char *op; /* int8 op name ("conv", "add", ...) */
    int64_t values; /* compared values (elements per image x images) */
    double signal;  /* sum of x^2 over the FP32 outputs */
    double noise;   /* sum of (x - x_q)^2 */
    double sqnr_db; /* 10 log10(signal / noise); INFINITY when noise is 0 */
} frost_int8_layer_sqnr;

typedef struct {
    int images;       /* test images run through both models */
    int agree;        /* images where the int8 top-1 class is the FP32 one */
    int correct_int8; /* images whose label is the int8 / FP32 top-1 class */
    int correct_fp32;
    int sqnr_images;               /* the first sqnr_images images feed the per-layer SQNR */
    int n_layers;                  /* one per int8 node, in graph order */
    frost_int8_layer_sqnr *layers; /* malloc'd: frost_int8_fp32_report_free */
} frost_int8_fp32_report;

/* Fills `r` (free with frost_int8_fp32_report_free, also after a failure). fp32 may also be
 * a fake-quant model (its ranges fixed): each layer is then its fake-quantized output, the
 * values the int8 model should reproduce (to 1 LSB on rounding ties). sqnr_images:
 * how many of the first images feed the SQNR (0..d->n; clamped to d->n). Fails when a node
 * has no FP32 layer of its name and shape (not the model it was converted from). */
frost_status frost_int8_compare_fp32(frost_int8_model *m, frost_model *fp32, const frost_dataset *d,
                                     const frost_augment *norm, int sqnr_images,
                                     frost_int8_fp32_report *r);
void frost_int8_fp32_report_free(frost_int8_fp32_report *r);

/* Requantization of conv / linear / add outputs. Default (0): TFLite's fixed point
 * (integer-only, bit-exact with TFLite). 1: float, y = round_half_even(float(acc) * S_x S_w /
 * S_y) + Z, as XNNPACK, ONNX Runtime and oneDNN do (about 25% faster with VNNI, where the
 * fixed-point multiply dominates layers with few multiply-adds per output; needs an FPU).
 * Either agrees with the fake-quant model to 1 LSB on rounding ties. Saved with the model. */
frost_status frost_int8_set_float_requant(frost_int8_model *m, int on);
int frost_int8_float_requant(const frost_int8_model *m);

/* Use the portable reference kernels even where AVX2 / AVX-512 VNNI are available (tests,
 * debugging; FROST_NO_VNNI=1 in the environment keeps AVX2 but not VNNI). */
void frost_int8_force_reference(frost_int8_model *m, int on);

/* Per-layer table (name, op, shape, weight bytes, activation bytes, arena offset) and the
 * totals: weight bytes, peak activation bytes (the arena) and the scratch, as text (what
 * frost info prints): malloc'd, the caller frees it; NULL when out of memory. */
char *frost_int8_memory_text(const frost_int8_model *m);
int64_t frost_int8_macs(const frost_int8_model *m);
size_t frost_int8_arena_bytes(const frost_int8_model *m);
size_t frost_int8_weight_bytes(const frost_int8_model *m);

/* C code for microcontrollers (docs/interop.md): writes DIR/NAME.c and DIR/NAME.h (NAME: a C
 * identifier, NULL = "model"), a C99 translation of the model with no dependency on frost: the
 * weights as const arrays (binary / ternary ones packed, 1 or 2 bits each), one static arena laid
 * out by this runtime's memory plan, and `int NAME_run(const uint8_t *input, NAME_output_t
 * *output)` over integer kernels (float only for the logits of a model ending in a float
 * classifier and for the output stage of XNOR-Net layers; layers with binarized inputs count
 * their products on 32-bit words). Its outputs are bit for bit frost_int8_run_quantized's.
 * Fixed-point requantization only (a model saved with float requantization is refused, as
 * are TTQ levels). info (may be NULL) gets the sizes of what was written. */
typedef struct {
    size_t const_bytes;   /* weights, biases, multipliers, tables (flash, without the code) */
    size_t arena_bytes;   /* the static activation arena (RAM), = frost_int8_arena_bytes */
    size_t scratch_bytes; /* other RAM besides the stack: 0, or with packed binary / ternary
                           * weights the buffer of one unpacked row, and with binarized
                           * inputs their sign and weight bits (NAME_SCRATCH_BYTES) */
    int float_output;     /* 1: the output is float logits; 0: uint8 with a scale, zero point */
} frost_int8_c_info;
frost_status frost_int8_export_c(const frost_int8_model *m, const char *dir, const char *name,
                                 frost_int8_c_info *info);

/* ONNX for other runtimes (docs/interop.md#onnx-qdq-export): writes the model to `path` as
 * an opset-13 QDQ graph with frost's own integers (per-channel int8 weights on axis 0 with
 * zero point 0, int32 biases at scale S_x S_w[c], per-tensor uint8 activations with frost's
 * scales and zero points), NCHW with a float32 input [N, C, H, W] (N symbolic) and a float32
 * output "logits" [N, classes]. ONNX Runtime fuses every conv, fully connected layer, add,
 * concat and pool into its integer kernels; tables (hard-swish, requantizing copies) are
 * integer Gather ops. Fixed and float requantization export alike (the file carries scales;
 * the runtime that reads it requantizes its own way: ONNX Runtime on x86 exactly as frost's
 * float requantization, for a model converted with onnx_bias_grid). Weights of -128
 * (a non-narrow weight config) are refused.
 * uint8_weights: store the same weights + 128 as uint8 with zero point 128 instead. ONNX
 * Runtime on x86 without VNNI multiplies uint8 activations by int8 weights with vpmaddubsw,
 * which saturates pairs of products at int16 (wrong outputs, tens of steps off); with uint8
 * weights it takes its exact u8u8 path. */
frost_status frost_int8_export_onnx(const frost_int8_model *m, const char *path, int uint8_weights);
/* How many conv / linear / float-classifier nodes keep a bias the ONNX export must round
 * to the int32 grid S_x S_w (the default conversion's finer grid, a float classifier's
 * float bias). 0 means the export is exact (a model converted with onnx_bias_grid). */
int frost_int8_onnx_rounded_biases(const frost_int8_model *m);

/* Latency: runs the model `warmup` times, then `reps` times, timing each node; writes
 * the median total (ms) and, if per_node_ms is non-NULL (n_nodes entries), the median per
 * node. frost_int8_node_count / _node_name / _node_op / _node_macs describe the nodes (the op
 * of a conv / linear node with a binarized input is "bconv" / "blinear"). */
frost_status frost_int8_time(frost_int8_model *m, int warmup, int reps, double *total_ms,
                             double *per_node_ms);
int frost_int8_node_count(const frost_int8_model *m);
const char *frost_int8_node_name(const frost_int8_model *m, int i);
const char *frost_int8_node_op(const frost_int8_model *m, int i);
int64_t frost_int8_node_macs(const frost_int8_model *m, int i);

#endif
