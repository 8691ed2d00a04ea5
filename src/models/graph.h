/*
 * The model graph (internal): nodes in topological order, each one op with its
 * attributes, parameter indices, output shape and run-time buffers.
 *
 * Built-in models and the JSON reader build graphs through the frost_g_*
 * builder calls below. Each call checks its arguments against the input's
 * shape right away, so an impossible architecture fails at build time with
 * the layer's name in the message. A builder call returns the new node's
 * index, or -1 with frost_last_error() set (and the model unchanged).
 */
#ifndef FROST_MODELS_GRAPH_H
#define FROST_MODELS_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/param.h"
#include "core/rng.h"
#include "frost/model.h"
#include "models/op_table.h"
#include "ops/ops.h"

#define FROST_MAX_NODE_INPUTS 8
#define FROST_NAME_LEN        64

/* Quantization of one node (set by frost_model_quantize, src/quant/qgraph.c):
 * a conv/linear node's weights, or a FAKEQUANT node's activations. */
typedef struct {
    bool on;            /* quantize (false: this layer stays float) */
    bool configured_on; /* `on` as the config set it (sensitivity runs change `on`) */
    int bits;
    bool symmetric;
    bool per_channel; /* weights only */
    int qmin, qmax;
    int observer;               /* activations: frost_observer_kind */
    struct frost_observer *obs; /* activations, histogram/percentile only (PTQ) */
    int range;                  /* activations: buffer index of [min, max, batches seen] */
    int fold_bn;                /* weights: BN node folded into them (-1 none) */
    bool folded;                /* a BN node folded into a conv's quantized weights */
    /* weights, run-time: per-channel scale/zero point, the (folded) weight before and
     * after fake-quant, its gradient, and the BN fold factor gamma/sqrt(var+eps) */
    float *wscale;
    int *wzp;
    float *w_in, *w_eff, *dw_eff, *fold;
    bool w_applied; /* weights: this forward used w_eff */
    /* weights: the scheme (frost_wscheme; 0 = affine, the fields above) and, for the binary
     * and ternary ones (src/quant/lowbit.c): BinaryConnect's H, TTQ's threshold factor t,
     * the parameter index of TTQ's learned scales [Wp, Wn] (-1 none), the threshold of the
     * last TTQ forward, and whether the last forward drew stochastic binary weights */
    int wscheme;
    float binary_h, ttq_t, ttq_thr;
    int ttq_scales;
    /* a conv/linear layer's input activation scheme (frost_ascheme; 0 = affine: the input
     * is whatever the producer's fake-quant gave) and, for the binary ones, the binarized
     * input of the last forward and the buffer its gradient goes through */
    int ascheme;
    float *x_bin, *dx_bin;
    int64_t x_bin_cap;
    /* xnor: the output scale of the last forward (K per output pixel, or beta per image)
     * and the per-pixel channel mean |x| it is made from */
    float *xnor_k, *xnor_a;
    int64_t xnor_cap, xnor_rows;
    bool x_applied; /* this forward binarized the input */
    /* activations, run-time: the parameters of the last forward (applied = quantized) */
    float scale;
    int zp;
    bool applied;
} frost_nodeq;

typedef struct {
    char name[FROST_NAME_LEN];
    frost_op op;
    int n_in;
    int in[FROST_MAX_NODE_INPUTS]; /* indices of earlier nodes */

    /* attributes (the ones the op uses) */
    frost_conv_params conv;
    bool bias; /* conv, linear */
    frost_bn_params bn;
    frost_act_kind act;
    frost_pool_params pool;
    float p;       /* dropout */
    bool mix_none; /* mix: the candidates end with DARTS' "none" (a zero output) */

    /* output shape per image (h, w, c); linear/gap/flatten outputs are 1x1xC */
    int h, w, c;
    int64_t macs; /* per image */

    /* parameters: indices into model->params (-1 = none) and buffers */
    int weight, bias_p, gamma, beta;
    int running_mean, running_var; /* indices into model->buffers */
    /* mix: its architecture weights "<layer>.alpha" (a FROST_PARAM_ARCH parameter of
     * n_in + mix_none values, one per candidate: the inputs in order, then "none");
     * -1 for every other op */
    int alpha;

    /* run-time, valid after frost_model_set_batch */
    float *y, *dy;          /* [batch*h*w*c] */
    float *save_a, *save_b; /* BN: batch mean, invstd; dropout: mask in save_a */
    int32_t *argmax;        /* max pool */
    /* BN -> ReLU/ReLU6 fusion (decided when planning): the activation node runs
     * the fused op for BN node `fused_bn` (-1: none), and that BN node is skipped. */
    int fused_bn;
    bool fused_away;

    frost_nodeq q; /* quantization (all zero / off in a float model) */
} frost_node;

/* Model-wide quantization state (src/quant/qgraph.c). */
typedef enum {
    FROST_QOBS_OFF = 0, /* ranges are fixed */
    FROST_QOBS_TRAIN,   /* observers update on training forwards (QAT) */
    FROST_QOBS_ALL      /* observers update on every forward (PTQ calibration) */
} frost_qobserve;

/* The quantization-aware steps the executor (src/train/run.c) calls: the one interface
 * between running a graph and QAT, installed by frost_model_quantize (src/quant/qrun.c).
 * `ni` is a node index. */
typedef struct {
    /* the weights conv/linear node ni computes with this forward (fake-quantized, with
     * its BN folded in when it has one), or its float weights */
    const float *(*weight)(frost_model *m, int ni, bool training);
    /* whether this step's forward used fake-quantized weights: the backward then writes
     * the gradient of those into q.dw_eff and calls weight_backward */
    bool (*weight_quantized)(const frost_model *m, int ni);
    void (*weight_backward)(frost_model *m, int ni); /* dW += STE(dW_eff) */
    /* a FAKEQUANT node; overwrite: dx holds nothing yet, so it is written, not added to */
    frost_status (*fq_forward)(frost_model *m, int ni, int n_images, bool training);
    void (*fq_backward)(frost_model *m, int ni, float *dx, bool overwrite);
    /* a folded BN that runs on running statistics in training too */
    bool (*bn_frozen)(const frost_model *m, int ni);
    /* the input conv/linear node ni computes with (binarized for a binary activation
     * scheme, else x itself); fails only on out of memory */
    frost_status (*input)(frost_model *m, int ni, const float *x, int n_images, bool training,
                          const float **out);
    /* after the node's backward: dx += STE(q.dx_bin) when the input was binarized */
    void (*input_backward)(frost_model *m, int ni, const float *x, float *dx);
    /* after a conv/linear node's forward: XNOR-Net's scaling of its output */
    void (*output)(frost_model *m, int ni);
    /* before its backward: the scaling's backward applied to n->dy in place; when it
     * returns true it has added the bias gradient into db itself */
    bool (*output_backward)(frost_model *m, int ni, float *db);
    void (*release)(frost_model *m); /* frees the quantization state */
} frost_qat_hooks;

typedef struct {
    const frost_qat_hooks *hooks; /* set by frost_model_quantize; NULL in a float model */
    bool active;                  /* frost_model_quantize ran: FAKEQUANT nodes exist */
    bool fake;                    /* apply fake-quant (off while calibrating) */
    frost_qobserve observe;
    bool bn_frozen;    /* folded BNs use running statistics in training too */
    char *config_json; /* the config the model was quantized with (checkpoint metadata) */
    float ema_constant;
    /* layers for sensitivity analysis: weight node (or -1) and fake-quant node (or -1) */
    int n_layers;
    int *layer_w, *layer_fq;
    frost_rng rng; /* stochastic binary weights (frost_model_seed_qat) */
} frost_model_quant;

/* Data-parallel training (src/train/parallel.c fills it; all zero = one process). Every
 * hook is called by every process at the same point, from the thread that runs the model. */
typedef struct {
    frost_bn_sync *bn_sync; /* SyncBN for every training BN; NULL = each process's statistics */
    /* An activation observer's batch range [*lo, *hi] becomes every process's (lo > hi:
     * nothing finite here); NULL = local. */
    frost_status (*range)(void *ctx, float *lo, float *hi);
    /* Called after backward reached node `node` (also for nodes it skips): every gradient
     * whose last writer, in backward order, is at or after `node` is final. */
    frost_status (*grad_ready)(void *ctx, int node);
    void *ctx;
    int64_t first_sample; /* this process's first image's index in the global batch */
} frost_model_parallel;

struct frost_model {
    char name[FROST_NAME_LEN];
    int in_h, in_w, in_c, classes;
    frost_preprocess pre; /* how images become inputs (frost/model.h) */

    frost_node *nodes;
    int n_nodes, cap_nodes;

    frost_param *params; /* trainable */
    int n_params, cap_params;
    frost_param *buffers; /* BN running statistics */
    int n_buffers, cap_buffers;

    /* run-time */
    int batch; /* planned batch (0 = not planned) */
    int cur_n; /* images in the last forward */
    bool last_training;
    void *arena; /* all node buffers, one allocation */
    float *scratch;
    size_t scratch_floats;
    /* Dropout: training forward k since the last seeding draws image i's mask from
     * fork(fork(dropout_rng, k), parallel.first_sample + i); the trainer sets
     * dropout_step to the step it is at, so resumed and data-parallel runs draw the same. */
    frost_rng dropout_rng;
    int64_t dropout_step;
    bool fusion_stale; /* BN + activation fusion must be re-decided (BNs froze) */

    frost_model_parallel parallel;
    frost_model_quant quant;
};

/* Creates an empty model with its input node (index 0, named "input"). */
frost_model *frost_g_new(const char *name, int in_h, int in_w, int in_c);

/* Adds a node of any op: checks the attributes and input shapes (frost_op_infer), sets
 * the output shape and MACs and creates the parameters. The one builder every source
 * of layers (built-in models, architecture JSON, importers) goes through. */
int frost_g_layer(frost_model *m, const char *name, frost_op op, int n_in, const int *in,
                  const frost_layer_attrs *a);
/* The attributes of an existing node (what frost_g_layer was given). */
void frost_node_attrs(const frost_node *n, frost_layer_attrs *a);

/* Builders for each op, shorthands for frost_g_layer. `in` is an earlier node's index.
 * Names must be unique. */
int frost_g_conv(frost_model *m, const char *name, int in, int cout, int k, int stride, int pad,
                 int groups, bool bias);
int frost_g_bn(frost_model *m, const char *name, int in);
int frost_g_act(frost_model *m, const char *name, int in, frost_act_kind act);
int frost_g_maxpool(frost_model *m, const char *name, int in, int k, int stride, int pad);
int frost_g_avgpool(frost_model *m, const char *name, int in, int k, int stride, int pad);
int frost_g_gap(frost_model *m, const char *name, int in);
int frost_g_linear(frost_model *m, const char *name, int in, int out, bool bias);
int frost_g_add(frost_model *m, const char *name, int a, int b);
/* a * b; b has a's shape or is 1x1xC (a per-channel gate). */
int frost_g_mul(frost_model *m, const char *name, int a, int b);
int frost_g_concat(frost_model *m, const char *name, int n_in, const int *in);
int frost_g_dropout(frost_model *m, const char *name, int in, float p);
int frost_g_flatten(frost_model *m, const char *name, int in);
/* DARTS' mixed op: y = sum_i softmax(alpha)_i * in[i] over n_in inputs of one shape, with
 * trainable architecture weights alpha (FROST_PARAM_ARCH, node field `alpha`); `none` adds
 * the zero candidate with its own alpha (last). Supernets only: no inference form. */
int frost_g_mix(frost_model *m, const char *name, int n_in, const int *in, bool none);
/* A mix that shares the alpha of mix node `owner` (same candidate count; -1: its own, as
 * frost_g_mix): DARTS' one set of architecture weights for all cells of a type. Both
 * nodes' gradients add into the one parameter. */
int frost_g_mix_shared(frost_model *m, const char *name, int n_in, const int *in, bool none,
                       int owner);
/* softmax(alpha) of mix node `node` (n_in + mix_none values, computed stably). */
void frost_mix_weights(const frost_model *m, int node, float *w);
/* Why a mix node cannot be run by an inference engine or exported (the one sentence every
 * lowering stage refuses with, naming the layer); a static buffer per thread. */
const char *frost_mix_refusal(const frost_node *n);
/* Candidates of a mix node (n_in + mix_none). */
static inline int frost_mix_candidates(const frost_node *n)
{
    return n->n_in + (n->mix_none ? 1 : 0);
}

/* Conv + BN (+ activation unless FROST_ACT_IDENTITY), named <prefix>.conv/.bn/.act; pad = k/2. */
int frost_g_conv_bn_act(frost_model *m, const char *prefix, int in, int cout, int k, int stride,
                        int groups, frost_act_kind act);

/* Declares the output: the last node must be [classes] wide (1x1xC). Returns 0 or -1. */
int frost_g_finish(frost_model *m, int classes);

/* Adds a zero-filled 1-D buffer "<layer>.<suffix>" of n floats; its index or -1. */
int frost_g_buffer(frost_model *m, const char *layer, const char *suffix, int64_t n);

/* Adds a zero-filled trainable 1-D parameter "<layer>.<suffix>" of n floats (optimized
 * like a bias: the 1-D weight-decay group); its index or -1. */
int frost_g_param(frost_model *m, const char *layer, const char *suffix, int64_t n);

/* Node lookup by name; -1 if absent. */
int frost_g_find(const frost_model *m, const char *name);

/* make_divisible(v, 8) as in MobileNetV2 / FrostNet: max(8, floor(v/8 + 0.5)*8), +8 if < 0.9v. */
int frost_make_div8(float v);

#endif
