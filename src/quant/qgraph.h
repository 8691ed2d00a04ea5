/*
 * Internal glue between the quantization code and the model graph: config
 * resolution, and the fake-quant steps the graph runner calls.
 */
#ifndef FROST_QUANT_QGRAPH_H
#define FROST_QUANT_QGRAPH_H

#include <stdbool.h>

#include "frost/qat.h"

#include "models/graph.h"

/* One layer's resolved settings. */
typedef struct {
    int bits;
    bool symmetric;
    bool per_channel;
    bool enabled;
    int scheme;      /* frost_wscheme (weights) or frost_ascheme (activations) */
    bool scheme_set; /* the layer's own "layers" entry sets the scheme */
    bool bits_set;   /* the layer's own "layers" entry sets the bits */
    float binary_h;  /* weights, binary schemes: H (0 = Glorot's from fan-in/out) */
    float ttq_t;     /* weights, ttq: threshold factor t */
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
/* Whether the config asks for Bi-Real shortcuts ("bireal_shortcuts": true). */
bool frost_qconfig_shortcuts(const frost_qconfig *c);
int frost_qconfig_override_count(const frost_qconfig *c);
const char *frost_qconfig_override(const frost_qconfig *c, int i, bool *has_w, bool *has_a);

/* Whether FAKEQUANT node fq has a fixed range instead of an observed one (it quantizes
 * an activation with a known output range, frost_act_fixed_qrange: sigmoid's [0, 1]). */
bool frost_fq_fixed_range(const frost_model *m, const frost_node *fq, float *lo, float *hi);

/* Frees what frost_model_quantize allocated (called by frost_model_free). */
void frost_model_quant_release(frost_model *m);

/* The QAT steps of a quantized model (src/quant/qrun.c), installed as m->quant.hooks. */
extern const frost_qat_hooks frost_qrun_hooks;

#endif
