/*
 * Internals of the built-in model zoo (src/models/{builtin,blocks,frostnet,
 * mobilenetv2,mnasnet,resnet}.c): the validated options every model builder
 * receives, the small-input stride rule, and the building blocks several
 * models share (inverted residual, classifier head).
 *
 * Model builders return FROST_OK and the finished model in *out, or an error
 * status with frost_last_error() naming the layer at fault; they never leave
 * a half-built model behind.
 */
#ifndef FROST_MODELS_BLOCKS_H
#define FROST_MODELS_BLOCKS_H

#include "models/graph.h"

/* Options after validation by frost_model_builtin (see builtin.c). */
typedef struct {
    const char *name; /* the built-in's name, also the model's name */
    double width;     /* the multiplier as the decimal the user wrote (see builtin.c) */
    int input;        /* square input side in pixels */
    int in_channels;
    int classes;
    int act;       /* a frost_act_kind, or -1 = the model's own default */
    float dropout; /* < 0 = the model's own default */
    int head;      /* last 1x1 conv width; 0 = the model's own default */
} frost_builtin_spec;

/* ---- the small-input stride rule (defined in builtin.c) ---- */

/* How many of a model's stride-2 layers (counted from the stem) run at stride 1
 * for an input of `input` pixels: clamp(round(log2(224 / input)) - 1, 0, 2). */
int frost_builtin_stride_demotions(int input);

/* Hands out the stride of each stride-2 layer in model order: the first
 * `demote_left` requests for stride 2 get 1, later ones get 2. Stride-1
 * requests pass through untouched. */
typedef struct {
    int demote_left;
} frost_builtin_stride_plan;

frost_builtin_stride_plan frost_builtin_stride_plan_for(int input);
int frost_builtin_stride_take(frost_builtin_stride_plan *plan, int nominal_stride);

/* ---- helpers (blocks.c) ---- */

/* The model's activation: the option if given, else the model's default. */
frost_act_kind frost_builtin_act(const frost_builtin_spec *o, frost_act_kind model_default);
float frost_builtin_dropout(const frost_builtin_spec *o, float model_default);

/* Channel count of node `i` (its output depth). */
int frost_builtin_channels(const frost_model *m, int node);

/* The residual rule of MobileNetV2, MnasNet and FrostNet blocks: add the
 * block's input iff it keeps both the resolution and the channel count. Uses
 * the stride actually run, so a demoted stride-2 block whose widths match
 * gains the skip connection, as if the model had been written with stride 1. */
bool frost_builtin_keeps_shape(int stride, int cin, int cout);

/* Inverted residual (MobileNetV2 style), as a chain of layers named
 *   <prefix>.expand.{conv,bn,act}   1x1 conv to `hidden` (absent if hidden == 0)
 *   <prefix>.dw.{conv,bn,act}       k x k depthwise, stride `stride`
 *   <prefix>.project.{conv,bn}      1x1 conv to `cout`, linear (no activation)
 *   <prefix>.add                    + node `skip` (absent if skip < 0)
 * The expansion reads node `in`; the skip node is separate because FrostNet
 * expands a concatenation but adds the block's plain input. */
typedef struct {
    int hidden; /* expansion width; 0 = no expansion, the depthwise runs on `in` */
    int cout;
    int k;
    int stride;
    frost_act_kind act;
    int skip; /* node added to the projection's output, or -1 */
} frost_builtin_ir_def;

int frost_builtin_inverted_residual(frost_model *m, const char *prefix, int in,
                                    const frost_builtin_ir_def *d);

/* The common tail: [head 1x1 conv-BN-act to head_ch if head_ch > 0] -> "pool"
 * (global average) -> ["drop" if dropout > 0] -> "classifier" (linear with
 * bias to `classes`), then frost_g_finish. Returns 0 or -1. */
int frost_builtin_tail(frost_model *m, int in, int head_ch, frost_act_kind act, float dropout,
                       int classes);

/* Ends a model builder: on success (m built and ok) stores m in *out and
 * returns FROST_OK; otherwise frees m and returns the failure's status, with
 * the builder's message prefixed by the model's name. */
frost_status frost_builtin_done(const frost_builtin_spec *o, frost_model *m, bool ok,
                                frost_model **out);

/* ---- the models ---- */

frost_status frost_builtin_frostnet(const frost_builtin_spec *o, char size,
                                    frost_model **out); /* 's','b','l' */
frost_status frost_builtin_mobilenetv2(const frost_builtin_spec *o, frost_model **out);
frost_status frost_builtin_mnasnet_b1(const frost_builtin_spec *o, frost_model **out);
frost_status frost_builtin_resnet20(const frost_builtin_spec *o, frost_model **out);

#endif
