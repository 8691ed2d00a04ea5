/*
 * Quantizing a model: the quantization config and the fake-quant graph transform
 * behind post-training quantization (PTQ) and quantization-aware training (QAT).
 * Numerics, ranges and observers: frost/quant.h.
 *
 * Configuration JSON (every key optional; defaults shown = W8A8):
 *   { "weights":     {"bits": 8, "per_channel": true, "symmetric": true, "enabled": true},
 *     "activations": {"bits": 8, "symmetric": false, "enabled": true,
 *                     "observer": "ema", "percentile": 99.99},
 *     "layers": { "<layer name>": {"weights": {...}, "activations": {...}}, ... } }
 * Weights are signed and narrow ([-127, 127] at 8 bits); activations are unsigned
 * ([0, 255]) unless symmetric. "layers" overrides the defaults for one layer (mixed
 * precision: W4A8, first/last layer at 8 bits, "enabled": false to keep it float):
 * "weights" applies to a conv/linear layer's weights, "activations" to the fake-quant
 * on that layer's output (for a conv, the output of its fused conv+BN+activation unit).
 * Layer names are the ones `frost info` prints; unknown names are an error.
 * The model's output (the logits) is not fake-quantized unless its layer enables it
 * explicitly: integer inference dequantizes the classifier's int32 accumulators, and
 * clamping logits to a lagging range stalls training.
 */
#ifndef FROST_QAT_H
#define FROST_QAT_H

#include <stdbool.h>

#include "frost/quant.h"
#include "frost/status.h"

typedef struct frost_qconfig frost_qconfig;

/* W8A8 defaults. */
frost_status frost_qconfig_default(frost_qconfig **out);
frost_status frost_qconfig_parse(const char *json_text, const char *source, frost_qconfig **out);
frost_status frost_qconfig_load(const char *path, frost_qconfig **out);
void frost_qconfig_free(frost_qconfig *c);
/* Change a default (a negative bits / observer keeps the current one). */
frost_status frost_qconfig_set_defaults(frost_qconfig *c, int weight_bits, int act_bits,
                                        int per_channel /* -1 keep, 0, 1 */, int observer);
/* Sets the activation observer unless the config text chose one (a command's default). */
frost_status frost_qconfig_default_observer(frost_qconfig *c, int observer);
/* Malloc'd JSON text of the config (with defaults filled in); NULL on allocation failure. */
char *frost_qconfig_to_json(const frost_qconfig *c);

struct frost_model;

/* The QAT/PTQ graph transform: fuses conv+BN(+ReLU/ReLU6) and conv+ReLU units, adds
 * fake-quant (with an observer) at the input, after every fused conv unit, after every
 * add, concat, pool, standalone activation and linear layer, and fake-quantizes every
 * conv/linear weight; a BN right after a conv is folded into its weights (Krishnamoorthi:
 * W' = FQ(W*g/s_run), output rescaled to batch statistics until the BN is frozen).
 * Parameter names are unchanged, so FP32 checkpoints load into the float layers; the
 * ranges are new buffers "<node>.fq.range" = [min, max, batches seen]. The model must
 * not be quantized already. It starts in FROST_QMODE_QAT. */
frost_status frost_model_quantize(struct frost_model *m, const frost_qconfig *c);
bool frost_model_is_quantized(const struct frost_model *m);
/* The config JSON the model was quantized with (NULL if not quantized). */
const char *frost_model_qconfig_json(const struct frost_model *m);

typedef enum {
    FROST_QMODE_FLOAT = 0, /* no fake-quant, ranges fixed: the float model */
    FROST_QMODE_CALIBRATE, /* no fake-quant, observers see every forward (PTQ) */
    FROST_QMODE_DELAY,     /* no fake-quant, observers update on training forwards: QAT's
                            * quantization delay (ranges settle while the float model trains) */
    FROST_QMODE_QAT,       /* fake-quant on; observers update on training forwards */
    FROST_QMODE_FIXED      /* fake-quant on, ranges fixed (frozen observers, inference) */
} frost_qmode;

/* Leaving CALIBRATE computes the ranges of histogram/percentile/entropy observers; fails if
 * an observer saw no finite value. Those three are calibration observers: in training
 * (DELAY, QAT) every range moves by the EMA rule (min-max ones by min-max). */
frost_status frost_model_set_qmode(struct frost_model *m, frost_qmode mode);
/* Freezing BN: folded BNs use their running statistics in training too (and stop updating
 * them), so training sees exactly the inference-time folded weights. */
void frost_model_freeze_bn(struct frost_model *m, bool frozen);

/* Quantized layers, for sensitivity analysis: every conv/linear layer (its weights and the
 * fake-quant after its unit) and every other fake-quant (input, add, concat, pool). */
int frost_model_qlayer_count(const struct frost_model *m);
const char *frost_model_qlayer_name(const struct frost_model *m, int i);
/* Bits of a layer's weights (0 = none) and activations. */
void frost_model_qlayer_bits(const struct frost_model *m, int i, int *wbits, int *abits);
/* Quantize only layer i (others float); i = -1 restores the configured set. */
void frost_model_quantize_only(struct frost_model *m, int i);

#endif
