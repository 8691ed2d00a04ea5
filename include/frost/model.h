/*
 * Models: a graph of layers built from a JSON architecture or a built-in.
 *
 * A frost_model owns its parameters, BN running statistics and (once a batch
 * size is set) one arena holding every activation and activation gradient.
 * Architecture JSON format: docs/architecture-json.md.
 */
#ifndef FROST_MODEL_H
#define FROST_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "frost/status.h"

typedef struct frost_model frost_model;

/* Options shared by the built-in models (frost_model_builtin). */
typedef struct {
    float width;     /* width multiplier (1.0) */
    int input;       /* input height = width in pixels (224); strides adapt below 224 */
    int in_channels; /* 3 for RGB, 1 for Fashion-MNIST */
    int classes;     /* 1000 */
    const char *act; /* trunk activation "relu", "relu6", "hswish"; NULL = model default */
    float dropout;   /* before the classifier; < 0 = model default */
    int head;        /* FrostNet/MobileNetV2 last 1x1 conv width; 0 = model default (1280) */
} frost_builtin_opts;

/* Defaults: width 1, input 224, 3 channels, 1000 classes, model act/dropout/head. */
frost_builtin_opts frost_builtin_defaults(void);

/* Names accepted by frost_model_builtin, NULL-terminated. */
const char *const *frost_builtin_names(void);
frost_status frost_model_builtin(const char *name, const frost_builtin_opts *opts,
                                 frost_model **out);

/* Architecture JSON (text) <-> model. The parsed model has freshly initialised weights
 * (frost_model_init_weights with seed 0); load a checkpoint to get trained ones. */
frost_status frost_model_from_json(const char *json_text, const char *source_name,
                                   frost_model **out);
frost_status frost_model_load_arch(const char *path, frost_model **out);
/* Returns a malloc'd JSON string (caller frees) or NULL on allocation failure. */
char *frost_model_to_json(const frost_model *m);
void frost_model_free(frost_model *m);

const char *frost_model_name(const frost_model *m);
void frost_model_input_shape(const frost_model *m, int *h, int *w, int *c);
int frost_model_classes(const frost_model *m);
/* Trainable values of the network (architecture weights of a cell-search supernet not
 * counted: see frost_model_arch_param_count). */
int64_t frost_model_param_count(const frost_model *m);
/* Architecture weights (the alphas of mix layers; 0 for an ordinary network). */
int64_t frost_model_arch_param_count(const frost_model *m);
int64_t frost_model_macs(const frost_model *m); /* per image, forward */

/* How an image becomes the model's input: x = (pixel / 255 - mean[ch]) / std[ch], a
 * 3-channel input in RGB order, or BGR when `bgr`. A model that says nothing (set false:
 * the zoo, architecture files without it) gets the commands' Fashion-MNIST defaults
 * (mean 0.2860, std 0.3530 on every channel). Imported models carry what the import was
 * told (docs/interop.md). Stored in the architecture's "input" object, so checkpoints,
 * folded copies and int8 models keep it. */
#define FROST_DEFAULT_MEAN 0.2860f /* what a model that says nothing is normalized with */
#define FROST_DEFAULT_STD  0.3530f
typedef struct {
    bool set;
    float mean[3], std[3]; /* per channel; a 1-channel model uses [0] */
    bool bgr;
} frost_preprocess;

frost_preprocess frost_model_preprocess(const frost_model *m);
/* Checks the values (finite means, positive finite stds; unused channels ignored). */
frost_status frost_model_set_preprocess(frost_model *m, const frost_preprocess *p);

/* Kaiming-normal (fan_out) conv weights, BN gamma=1 beta=0, linear N(0, 0.01), zero bias. */
void frost_model_init_weights(frost_model *m, uint64_t seed);

/* Plans activation memory for batches of up to `batch` images (one arena). */
frost_status frost_model_set_batch(frost_model *m, int batch);
/* Forward n <= batch images (NHWC floats). training: BN batch stats, dropout on. */
frost_status frost_model_forward(frost_model *m, const float *input, int n, bool training);
/* Logits of the last forward, [n, classes]. */
const float *frost_model_logits(const frost_model *m);
/* Backward from dlogits [n, classes] of the last training forward; adds into parameter grads. */
frost_status frost_model_backward(frost_model *m, const float *dlogits);
void frost_model_zero_grad(frost_model *m);

/* Profiling: time per op kind in forward and backward passes, summed over every model of
 * the process since the start or the last reset (a "where does the time go" aid; two clock
 * reads per node). Off unless FROST_PROFILE is set in the environment (non-empty, not "0")
 * or frost_profile_enable(true). The library only collects; the caller reports (frost
 * prints the table after a command). Not synchronized: profile one model at a time. */
typedef struct {
    const char *op;        /* op kind: "conv", "bn", "act", ... */
    const char *direction; /* "forward" or "backward" */
    double seconds;
    long calls;
} frost_profile_entry;

#define FROST_PROFILE_MAX_ENTRIES 64 /* more than twice the op kinds */
void frost_profile_enable(bool on);
/* The op kinds that ran, the forward ones first, into out (up to max entries); returns
 * how many there are. */
int frost_profile_get(frost_profile_entry *out, int max);
void frost_profile_reset(void);
/* Seeds the model's dropout stream (call once per epoch for reproducible resume). */
void frost_model_seed_dropout(frost_model *m, uint64_t seed);

/* A copy of an FP32 model for inference with every BN that follows a conv (as its only
 * reader) folded into that conv's weights and bias: the layers the int8 engine runs. */
frost_status frost_model_fold_bn(const frost_model *m, frost_model **out);
/* Per-layer table (name, op, output shape, params, MACs) and totals, as text (what
 * frost info prints): malloc'd, the caller frees it; NULL when out of memory. */
char *frost_model_info_text(const frost_model *m);

#endif
