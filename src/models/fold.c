/*
 * BN folding for FP32 inference: a copy of a model in which every conv whose only
 * consumer is a BN absorbs it (W' = W * f, b' = beta + f * (b - mean), f = gamma /
 * sqrt(var + eps)), so FP32 inference runs the same layers the int8 engine runs.
 * Done on the architecture JSON: the BN layer is dropped, its readers read the conv,
 * and the conv gets a bias; then the weights are copied over, folded.
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "models/graph.h"

/* Whether node i (a BN) reads a conv of which it is the only reader. */
static bool foldable(const frost_model *m, int i)
{
    const frost_node *bn = &m->nodes[i];
    if (bn->op != FROST_OP_BN || m->nodes[bn->in[0]].op != FROST_OP_CONV)
        return false;
    for (int j = 0; j < m->n_nodes; j++)
        for (int k = 0; k < m->nodes[j].n_in; k++)
            if (j != i && m->nodes[j].in[k] == bn->in[0])
                return false;
    return true;
}

static cJSON *layer_named(cJSON *layers, const char *name)
{
    cJSON *l;
    cJSON_ArrayForEach(l, layers)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(l, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return l;
    }
    return NULL;
}

/* Drops BN layer `bn` from the JSON: readers of it read `conv`, and conv gets a bias. */
static bool drop_bn(cJSON *layers, const char *bn, const char *conv)
{
    cJSON *l;
    cJSON_ArrayForEach(l, layers)
    {
        cJSON *in = cJSON_GetObjectItemCaseSensitive(l, "in"), *s;
        cJSON_ArrayForEach(s, in) if (cJSON_IsString(s) && strcmp(s->valuestring, bn) == 0 &&
                                      !cJSON_SetValuestring(s, conv)) return false;
    }
    cJSON *c = layer_named(layers, conv);
    if (!c || !cJSON_ReplaceItemInObjectCaseSensitive(c, "bias", cJSON_CreateTrue()))
        return false;
    int idx = 0;
    cJSON_ArrayForEach(l, layers)
    {
        if (l == layer_named(layers, bn))
            break;
        idx++;
    }
    cJSON_DeleteItemFromArray(layers, idx);
    return true;
}

static frost_param *find_param(frost_model *m, const char *name)
{
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return &m->params[i];
    for (int i = 0; i < m->n_buffers; i++)
        if (strcmp(m->buffers[i].name, name) == 0)
            return &m->buffers[i];
    return NULL;
}

/* Copies every parameter of `out` from m by name (same shapes), then folds each BN. */
static frost_status copy_and_fold(const frost_model *m, frost_model *out, const bool *fold)
{
    for (int i = 0; i < out->n_params + out->n_buffers; i++) {
        frost_param *p = i < out->n_params ? &out->params[i] : &out->buffers[i - out->n_params];
        frost_param *src = find_param((frost_model *)m, p->name);
        if (src && src->numel == p->numel)
            memcpy(p->data, src->data, (size_t)p->numel * sizeof(float));
        else
            memset(p->data, 0, (size_t)p->numel * sizeof(float)); /* new conv biases */
    }
    for (int i = 0; i < m->n_nodes; i++) {
        if (!fold[i])
            continue;
        const frost_node *bn = &m->nodes[i], *cv = &m->nodes[bn->in[0]];
        int ci = frost_g_find(out, cv->name);
        frost_param *w = &out->params[out->nodes[ci].weight],
                    *b = &out->params[out->nodes[ci].bias_p];
        const float *g = m->params[bn->gamma].data, *beta = m->params[bn->beta].data;
        const float *mean = m->buffers[bn->running_mean].data,
                    *var = m->buffers[bn->running_var].data;
        int64_t inner = w->numel / bn->c;
        for (int c = 0; c < bn->c; c++) {
            float f = g[c] / sqrtf(var[c] + bn->bn.eps);
            for (int64_t k = 0; k < inner; k++)
                w->data[c * inner + k] *= f;
            b->data[c] = beta[c] + f * (b->data[c] - mean[c]);
        }
    }
    return FROST_OK;
}

frost_status frost_model_fold_bn(const frost_model *m, frost_model **out)
{
    *out = NULL;
    if (m->quant.active)
        return frost_fail(FROST_ERR_ARG,
                          "fold BN: model '%s' is quantized (use the int8 "
                          "converter)",
                          m->name);
    bool *fold = calloc((size_t)m->n_nodes, sizeof(bool));
    char *text = frost_model_to_json(m);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    frost_status s = fold && layers ? FROST_OK : frost_fail(FROST_ERR_NOMEM, "out of memory");
    for (int i = 0; i < m->n_nodes && s == FROST_OK; i++) {
        fold[i] = foldable(m, i);
        if (fold[i] && !drop_bn(layers, m->nodes[i].name, m->nodes[m->nodes[i].in[0]].name))
            s = frost_fail(FROST_ERR_NOMEM, "out of memory folding BN");
    }
    char *folded = s == FROST_OK ? cJSON_PrintUnformatted(root) : NULL;
    if (s == FROST_OK && !folded)
        s = frost_fail(FROST_ERR_NOMEM, "out of memory");
    if (s == FROST_OK)
        s = frost_model_from_json(folded, m->name, out);
    if (s == FROST_OK)
        s = copy_and_fold(m, *out, fold);
    if (s != FROST_OK && *out) {
        frost_model_free(*out);
        *out = NULL;
    }
    cJSON_free(folded);
    cJSON_Delete(root);
    free(text);
    free(fold);
    return s;
}
