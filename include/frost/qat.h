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
 *
 * Below 8 bits (docs/lowbit.md): "weights": {"scheme": ...} picks a binary or ternary
 * weight scheme ("affine", the default, is the fake-quant above), with "H" (binary: the
 * magnitude, default Glorot's) and "threshold" (ttq: t, default 0.05); on a conv/linear
 * layer, "activations": {"scheme": "sign" | "bireal" | "xnor"} binarizes that layer's input.
 * With a sub-8-bit model-wide scheme the first and the last conv/linear layer stay affine
 * (weights 8-bit, input not binarized) unless their "layers" entry sets "scheme".
 * "bireal_shortcuts": true adds Bi-Real's real-valued shortcuts (below).
 */
#ifndef FROST_QAT_H
#define FROST_QAT_H

#include <stdbool.h>
#include <stdint.h>

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

/* Weight schemes ("weights": {"scheme": NAME}). */
typedef enum {
    FROST_WSCHEME_AFFINE = 0,        /* 2..8-bit affine fake-quant */
    FROST_WSCHEME_BINARY,            /* BinaryConnect: +-H by sign, W clipped to [-H, H] */
    FROST_WSCHEME_BINARY_STOCHASTIC, /* BinaryConnect, stochastic; real W at test time */
    FROST_WSCHEME_BWN,               /* alpha * sign(W), alpha = mean |W| per filter */
    FROST_WSCHEME_TWN,               /* {+a, 0, -a}, threshold 0.7 * mean |W| */
    FROST_WSCHEME_TTQ,               /* {+Wp, 0, -Wn}, learned per-layer scales */
    FROST_WSCHEME_COUNT
} frost_wscheme;

/* Activation schemes of a conv/linear layer's input ("activations": {"scheme": NAME}). */
typedef enum {
    FROST_ASCHEME_AFFINE = 0, /* the producer's affine fake-quant only */
    FROST_ASCHEME_SIGN,       /* BinaryNet sign, STE dy * 1{|x| <= 1} */
    FROST_ASCHEME_BIREAL,     /* sign with Bi-Real's ApproxSign backward */
    FROST_ASCHEME_XNOR,       /* sign, and XNOR-Net's K / beta scaling of the layer output */
    FROST_ASCHEME_COUNT
} frost_ascheme;

/* Names as the config spells them; parse returns -1 for an unknown name. */
const char *frost_wscheme_name(frost_wscheme s);
int frost_wscheme_parse(const char *name);
const char *frost_ascheme_name(frost_ascheme s);
int frost_ascheme_parse(const char *name);
/* Bi-Real's real-valued shortcuts ("bireal_shortcuts": true, docs/lowbit.md): quantizing
 * adds "<conv>.shortcut" = unit output + the conv's real input after every conv+BN unit
 * with a binarized input and equal input/output shapes. */
frost_status frost_qconfig_set_shortcuts(frost_qconfig *c, bool on);
/* Sets the model-wide weight / activation scheme (NULL keeps the current one). */
frost_status frost_qconfig_set_schemes(frost_qconfig *c, const char *wscheme, const char *ascheme);

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

/* ---- binary and ternary training (docs/lowbit.md) ---- */

/* Call after every optimizer step of a quantized model: BinaryConnect's constraint, every
 * binary-scheme layer's real weights clipped to [-H, H], and TTQ's, its learned scales kept
 * positive (at least 1e-6). A no-op for other schemes. */
void frost_model_qat_after_step(struct frost_model *m);
/* Seeds the draws of stochastic binary weights (a training run seeds it per epoch). */
void frost_model_seed_qat(struct frost_model *m, uint64_t seed);

/* The deployed form of a quantized conv/linear layer, computed exactly as the training
 * forward computes its weights, for the binary/popcount converter. Weight values:
 * code > 0 -> pos_scale[c], code < 0 -> -neg_scale[c], code 0 -> 0, for output channel c;
 * a BN folded into the layer (conv -> BN unit) is folded into the scales and the bias:
 * deployed output = sum(code * scale * x) + bias[c] equals the layer + BN in inference. */
typedef struct {
    frost_wscheme wscheme;
    frost_ascheme ascheme;        /* of the layer's input (binarized before this layer) */
    int cout;                     /* output channels */
    int64_t inner;                /* weights per output channel, the layer's weight layout */
    int8_t *codes;                /* [cout * inner]: -1/+1 (binary), -1/0/+1 (ternary) */
    float *pos_scale, *neg_scale; /* [cout]; negative when a folded BN's gamma is */
    float *bias;                  /* [cout]: the layer's bias with its BN folded in */
    bool bn_folded;
} frost_lowbit_layer;

/* Layer i (frost_model_qlayer_*) with a binary or ternary weight scheme; fails for an
 * affine layer and for binary_stochastic (it runs its real weights at test time). */
frost_status frost_model_qlayer_lowbit(const struct frost_model *m, int i, frost_lowbit_layer *out);
void frost_lowbit_layer_free(frost_lowbit_layer *l);
/* The weight and input activation scheme of layer i (affine for non-weighted layers). */
void frost_model_qlayer_schemes(const struct frost_model *m, int i, frost_wscheme *w,
                                frost_ascheme *a);

#endif
