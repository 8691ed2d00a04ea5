/*
 * The deployed form of a binary/ternary layer (frost_model_qlayer_lowbit): codes and
 * per-output-channel scales computed by the same kernels as the training forward, with a
 * following BN folded into the scales and the bias (docs/lowbit.md#bn-folding).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "models/graph.h"
#include "quant/lowbit.h"
#include "quant/qgraph.h"

void frost_lowbit_layer_free(frost_lowbit_layer *l)
{
    if (!l)
        return;
    free(l->codes);
    free(l->pos_scale);
    free(l->neg_scale);
    free(l->bias);
    memset(l, 0, sizeof *l);
}

/* The scheme's weights y (as the forward computes them) and each output channel's
 * positive and negative magnitude. */
static void scheme_weights(const frost_model *m, const frost_node *n, float *y, float *pos,
                           float *neg)
{
    const frost_nodeq *q = &n->q;
    const frost_param *p = &m->params[n->weight];
    int cout = (int)p->shape[0], groups = q->per_channel ? cout : 1;
    int64_t inner = p->numel / groups;
    float a[cout], d[cout];
    switch ((frost_wscheme)q->wscheme) {
    case FROST_WSCHEME_BINARY:
        frost_binary_forward(p->numel, p->data, q->binary_h, y);
        for (int c = 0; c < cout; c++)
            pos[c] = neg[c] = q->binary_h;
        return;
    case FROST_WSCHEME_BWN:
    case FROST_WSCHEME_TWN:
        if (q->wscheme == FROST_WSCHEME_BWN)
            frost_bwn_forward(groups, inner, p->data, a, y);
        else
            frost_twn_forward(groups, inner, p->data, d, a, y);
        for (int c = 0; c < cout; c++)
            pos[c] = neg[c] = a[groups == 1 ? 0 : c];
        return;
    case FROST_WSCHEME_TTQ: {
        float wp = m->params[q->ttq_scales].data[0], wn = m->params[q->ttq_scales].data[1];
        if (wp == 0.0f && wn == 0.0f) /* what the first forward would start from */
            frost_ttq_init_scales(p->numel, p->data, q->ttq_t, &wp, &wn);
        (void)frost_ttq_forward(p->numel, p->data, q->ttq_t, wp, wn, y);
        for (int c = 0; c < cout; c++) {
            pos[c] = wp;
            neg[c] = wn;
        }
        return;
    }
    case FROST_WSCHEME_AFFINE:
    case FROST_WSCHEME_BINARY_STOCHASTIC:
    case FROST_WSCHEME_COUNT: break;
    }
}

/* Folds the layer's bias and its BN (inference form: gamma / sqrt(var + eps)) into the
 * per-channel scales and bias. */
static void fold_bn(const frost_model *m, const frost_node *n, frost_lowbit_layer *l)
{
    const float *b = n->bias_p >= 0 ? m->params[n->bias_p].data : NULL;
    for (int c = 0; c < l->cout; c++)
        l->bias[c] = b ? b[c] : 0.0f;
    if (n->q.fold_bn < 0)
        return;
    const frost_node *bn = &m->nodes[n->q.fold_bn];
    const float *g = m->params[bn->gamma].data, *beta = m->params[bn->beta].data;
    const float *mu = m->buffers[bn->running_mean].data, *rv = m->buffers[bn->running_var].data;
    for (int c = 0; c < l->cout; c++) {
        float f = g[c] / sqrtf(rv[c] + bn->bn.eps);
        l->pos_scale[c] *= f;
        l->neg_scale[c] *= f;
        l->bias[c] = beta[c] + (l->bias[c] - mu[c]) * f;
    }
    l->bn_folded = true;
}

frost_status frost_model_qlayer_lowbit(const frost_model *m, int i, frost_lowbit_layer *out)
{
    memset(out, 0, sizeof *out);
    if (!m->quant.active || i < 0 || i >= m->quant.n_layers || m->quant.layer_w[i] < 0)
        return frost_fail(FROST_ERR_ARG, "quantized layer %d has no weights", i);
    const frost_node *n = &m->nodes[m->quant.layer_w[i]];
    const frost_param *p = &m->params[n->weight];
    if (n->q.wscheme == FROST_WSCHEME_AFFINE || n->q.wscheme == FROST_WSCHEME_BINARY_STOCHASTIC)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "layer '%s' uses the %s weight scheme: it has no binary or ternary "
                          "deployed form",
                          n->name, frost_wscheme_name((frost_wscheme)n->q.wscheme));
    out->wscheme = (frost_wscheme)n->q.wscheme;
    out->ascheme = (frost_ascheme)n->q.ascheme;
    out->cout = (int)p->shape[0];
    out->inner = p->numel / out->cout;
    out->codes = malloc((size_t)p->numel);
    out->pos_scale = malloc((size_t)out->cout * sizeof(float));
    out->neg_scale = malloc((size_t)out->cout * sizeof(float));
    out->bias = malloc((size_t)out->cout * sizeof(float));
    float *y = malloc((size_t)p->numel * sizeof(float));
    if (!out->codes || !out->pos_scale || !out->neg_scale || !out->bias || !y) {
        free(y);
        frost_lowbit_layer_free(out);
        return frost_fail(FROST_ERR_NOMEM, "layer '%s': out of memory", n->name);
    }
    scheme_weights(m, n, y, out->pos_scale, out->neg_scale);
    for (int64_t k = 0; k < p->numel; k++)
        out->codes[k] = (int8_t)(y[k] > 0.0f ? 1 : y[k] < 0.0f ? -1 : 0);
    if (out->wscheme == FROST_WSCHEME_BINARY || out->wscheme == FROST_WSCHEME_BWN)
        for (int64_t k = 0; k < p->numel; k++) /* a zero scale still keeps the sign bit */
            out->codes[k] = (int8_t)(p->data[k] >= 0.0f ? 1 : -1);
    free(y);
    fold_bn(m, n, out);
    return FROST_OK;
}
