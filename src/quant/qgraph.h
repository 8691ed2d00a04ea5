/*
 * Internal glue between the quantization code and the model graph: config
 * resolution, and the fake-quant steps the graph runner calls.
 */
#ifndef FROST_QUANT_QGRAPH_H
#define FROST_QUANT_QGRAPH_H

#include <stdbool.h>

#include "frost/qat.h"

struct frost_model;
typedef struct frost_model frost_model;
struct frost_node_s;

/* One layer's resolved settings. */
typedef struct {
    int bits;
    bool symmetric;
    bool per_channel;
    bool enabled;
} frost_qspec;

/* The defaults overridden by layers.<layer> (layer may be NULL). */
void frost_qconfig_resolve(const frost_qconfig *c, const char *layer, frost_qspec *w,
                           frost_qspec *a);
/* The activation observer kind and the percentile setting. */
int frost_qconfig_observer(const frost_qconfig *c, float *percentile);
/* Applies layers.<layer>'s settings (if any) on top of w and a. */
void frost_qconfig_merge_layer(const frost_qconfig *c, const char *layer, frost_qspec *w,
                               frost_qspec *a);
/* Whether layers.<layer>.activations sets "enabled" explicitly. */
bool frost_qconfig_sets_enabled(const frost_qconfig *c, const char *layer);
int frost_qconfig_override_count(const frost_qconfig *c);
const char *frost_qconfig_override(const frost_qconfig *c, int i, bool *has_w, bool *has_a);

/* Frees what frost_model_quantize allocated (called by frost_model_free). */
void frost_model_quant_release(frost_model *m);

/* Run-time (src/quant/qrun.c), called from src/train/run.c for quantized models. */
/* Weights for node `ni` this forward: the fake-quantized (folded) weight, or the float one. */
const float *frost_qrun_weight(frost_model *m, int ni);
/* After the conv/linear backward wrote dW_eff into the node's dw_eff: dW += STE(dW_eff). */
void frost_qrun_weight_backward(frost_model *m, int ni);
/* Whether node ni's weight gradient goes to dw_eff (quantized weights this step). */
bool frost_qrun_weight_quantized(const frost_model *m, int ni);
/* A FAKEQUANT node's forward and backward. */
frost_status frost_qrun_fq_forward(frost_model *m, int ni, int n_images, bool training);
/* overwrite: dx holds nothing yet (first gradient into it), so it is written, not added to. */
void frost_qrun_fq_backward(frost_model *m, int ni, float *dx, bool overwrite);
/* Folded BN frozen: the BN node runs on running statistics in training. */
bool frost_qrun_bn_frozen(const frost_model *m, int ni);

#endif
