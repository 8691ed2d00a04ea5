/*
 * Graph construction: the frost_g_* builders (shape inference, parameter
 * creation, MAC counting) and model accessors. Running the graph (forward,
 * backward, memory) lives in src/train/run.c; JSON in src/models/json.c.
 */
#include "models/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "quant/qgraph.h"

static const char *const op_names[FROST_OP_COUNT] = {
    [FROST_OP_INPUT] = "input",     [FROST_OP_CONV] = "conv",       [FROST_OP_BN] = "bn",
    [FROST_OP_ACT] = "act",         [FROST_OP_MAXPOOL] = "maxpool", [FROST_OP_AVGPOOL] = "avgpool",
    [FROST_OP_GAP] = "gap",         [FROST_OP_LINEAR] = "linear",   [FROST_OP_ADD] = "add",
    [FROST_OP_CONCAT] = "concat",   [FROST_OP_DROPOUT] = "dropout", [FROST_OP_FLATTEN] = "flatten",
    [FROST_OP_FAKEQUANT] = "fakequant",
};
_Static_assert(FROST_ARRAY_LEN(op_names) == FROST_OP_COUNT, "one name per op");

const char *frost_op_name(frost_op op)
{
    return (op >= 0 && op < FROST_OP_COUNT) ? op_names[op] : "?";
}

int frost_make_div8(float v)
{
    int r = (int)floorf((v + 4.0f) / 8.0f) * 8;
    if (r < 8)
        r = 8;
    if ((float)r < 0.9f * v)
        r += 8;
    return r;
}

/* ---------------------------------------------------------------- creation */

frost_model *frost_g_new(const char *name, int in_h, int in_w, int in_c)
{
    if (in_h <= 0 || in_w <= 0 || in_c <= 0 || in_h > 4096 || in_w > 4096 || in_c > 4096) {
        frost_fail(FROST_ERR_ARG, "model input %dx%dx%d: sizes must be in 1..4096", in_h, in_w,
                   in_c);
        return NULL;
    }
    frost_model *m = calloc(1, sizeof *m);
    if (!m) {
        frost_fail(FROST_ERR_NOMEM, "out of memory creating model");
        return NULL;
    }
    snprintf(m->name, sizeof m->name, "%s", name ? name : "model");
    m->in_h = in_h;
    m->in_w = in_w;
    m->in_c = in_c;
    m->cap_nodes = 64;
    m->nodes = calloc((size_t)m->cap_nodes, sizeof *m->nodes);
    if (!m->nodes) {
        free(m);
        frost_fail(FROST_ERR_NOMEM, "out of memory creating model");
        return NULL;
    }
    frost_node *in = &m->nodes[0];
    snprintf(in->name, sizeof in->name, "input");
    in->op = FROST_OP_INPUT;
    in->h = in_h;
    in->w = in_w;
    in->c = in_c;
    in->weight = in->bias_p = in->gamma = in->beta = -1;
    in->running_mean = in->running_var = -1;
    m->n_nodes = 1;
    /* An all-zero xoshiro state yields only zeros (every unit dropped): seed a default. */
    frost_rng_seed(&m->dropout_rng, 1);
    return m;
}

static void free_params(frost_param *p, int n)
{
    for (int i = 0; i < n; i++) {
        frost_free(p[i].data);
        frost_free(p[i].grad);
    }
    free(p);
}

void frost_model_free(frost_model *m)
{
    if (!m)
        return;
    frost_model_quant_release(m);
    free_params(m->params, m->n_params);
    free_params(m->buffers, m->n_buffers);
    frost_free(m->arena);
    free(m->nodes);
    free(m);
}

int frost_g_find(const frost_model *m, const char *name)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].name, name) == 0)
            return i;
    return -1;
}

/* Checks the name and input index; returns the input node or NULL (error set). */
static const frost_node *check_new(const frost_model *m, const char *name, int in)
{
    if (!name || !*name || strlen(name) >= FROST_NAME_LEN) {
        frost_fail(FROST_ERR_ARG, "layer name '%s' must have 1..%d characters", name ? name : "",
                   FROST_NAME_LEN - 1);
        return NULL;
    }
    if (frost_g_find(m, name) >= 0) {
        frost_fail(FROST_ERR_ARG, "layer '%s': duplicate name", name);
        return NULL;
    }
    if (m->batch > 0) {
        frost_fail(FROST_ERR_ARG, "layer '%s': the model is already planned", name);
        return NULL;
    }
    if (in < 0 || in >= m->n_nodes) {
        frost_fail(FROST_ERR_ARG, "layer '%s': input index %d does not exist", name, in);
        return NULL;
    }
    return &m->nodes[in];
}

/* Appends a node (after all checks passed). Returns its index or -1. */
static int append_node(frost_model *m, const char *name, frost_op op, int n_in, const int *in,
                       int h, int w, int c)
{
    if (m->n_nodes == m->cap_nodes) {
        int cap = m->cap_nodes * 2;
        frost_node *nodes = realloc(m->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) {
            frost_fail(FROST_ERR_NOMEM, "layer '%s': out of memory", name);
            return -1;
        }
        m->nodes = nodes;
        m->cap_nodes = cap;
    }
    frost_node *n = &m->nodes[m->n_nodes];
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", name);
    n->op = op;
    n->n_in = n_in;
    memcpy(n->in, in, (size_t)n_in * sizeof *in);
    n->h = h;
    n->w = w;
    n->c = c;
    n->weight = n->bias_p = n->gamma = n->beta = -1;
    n->running_mean = n->running_var = -1;
    return m->n_nodes++;
}

/* Adds a zero-filled parameter (or buffer). Returns its index or -1. */
static int add_tensor(frost_param **arr, int *count, int *cap, const char *layer,
                      const char *suffix, frost_param_kind kind, int ndim, const int64_t *shape)
{
    if (*count == *cap) {
        int nc = *cap ? *cap * 2 : 64;
        frost_param *a = realloc(*arr, (size_t)nc * sizeof *a);
        if (!a)
            return -1;
        *arr = a;
        *cap = nc;
    }
    frost_param *p = &(*arr)[*count];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s.%s", layer, suffix);
    p->kind = kind;
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= shape[i];
    }
    p->data = frost_calloc((size_t)p->numel * sizeof(float));
    if (kind != FROST_PARAM_BUFFER)
        p->grad = frost_calloc((size_t)p->numel * sizeof(float));
    if (!p->data || (kind != FROST_PARAM_BUFFER && !p->grad)) {
        frost_free(p->data);
        frost_free(p->grad);
        return -1;
    }
    return (*count)++;
}

static int add_param(frost_model *m, const char *layer, const char *suffix, frost_param_kind kind,
                     int ndim, const int64_t *shape)
{
    int i = add_tensor(&m->params, &m->n_params, &m->cap_params, layer, suffix, kind, ndim, shape);
    if (i < 0)
        frost_fail(FROST_ERR_NOMEM, "layer '%s': out of memory for %s", layer, suffix);
    return i;
}

static int add_buffer(frost_model *m, const char *layer, const char *suffix, int64_t n)
{
    int i = add_tensor(&m->buffers, &m->n_buffers, &m->cap_buffers, layer, suffix,
                       FROST_PARAM_BUFFER, 1, &n);
    if (i < 0)
        frost_fail(FROST_ERR_NOMEM, "layer '%s': out of memory for %s", layer, suffix);
    return i;
}

int frost_g_buffer(frost_model *m, const char *layer, const char *suffix, int64_t n)
{
    return add_buffer(m, layer, suffix, n);
}

/* ---------------------------------------------------------------- builders */

int frost_g_conv(frost_model *m, const char *name, int in, int cout, int k, int stride, int pad,
                 int groups, bool bias)
{
    const frost_node *x = check_new(m, name, in);
    if (!x)
        return -1;
    if (cout <= 0 || k <= 0 || stride <= 0 || pad < 0 || groups <= 0 || k > 64 || stride > 64 ||
        pad > 64 || cout > 65536) {
        frost_fail(FROST_ERR_ARG,
                   "layer '%s': conv needs out>0, 0<k<=64, 0<stride<=64, 0<=pad<=64, groups>0 "
                   "(got out=%d k=%d stride=%d pad=%d groups=%d)",
                   name, cout, k, stride, pad, groups);
        return -1;
    }
    if (x->c % groups || cout % groups) {
        frost_fail(FROST_ERR_SHAPE, "layer '%s': groups=%d must divide in channels %d and out %d",
                   name, groups, x->c, cout);
        return -1;
    }
    int oh = frost_conv_out_dim(x->h, k, stride, pad);
    int ow = frost_conv_out_dim(x->w, k, stride, pad);
    if (oh <= 0 || ow <= 0 || pad >= k) {
        frost_fail(FROST_ERR_SHAPE, "layer '%s': a %dx%d kernel with pad %d does not fit a %dx%d input",
                   name, k, k, pad, x->h, x->w);
        return -1;
    }
    int cin = x->c;
    int idx = append_node(m, name, FROST_OP_CONV, 1, &in, oh, ow, cout);
    if (idx < 0)
        return -1;
    frost_node *n = &m->nodes[idx];
    n->conv = (frost_conv_params){.kh = k, .kw = k, .stride = stride, .pad_h = pad, .pad_w = pad,
                                  .groups = groups, .cin = cin, .cout = cout};
    n->bias = bias;
    n->macs = (int64_t)oh * ow * cout * k * k * (cin / groups);
    int64_t wshape[4] = {cout, k, k, cin / groups};
    n->weight = add_param(m, name, "weight", FROST_PARAM_WEIGHT, 4, wshape);
    if (n->weight < 0)
        goto fail;
    m->params[n->weight].depthwise = (groups == cin && groups > 1);
    if (bias) {
        int64_t bshape[1] = {cout};
        n->bias_p = add_param(m, name, "bias", FROST_PARAM_BIAS, 1, bshape);
        if (n->bias_p < 0)
            goto fail;
    }
    return idx;
fail:
    m->n_nodes--; /* params already added are harmless leftovers only on OOM; model is unusable */
    return -1;
}

int frost_g_bn(frost_model *m, const char *name, int in)
{
    const frost_node *x = check_new(m, name, in);
    if (!x)
        return -1;
    int h = x->h, w = x->w, c = x->c;
    int idx = append_node(m, name, FROST_OP_BN, 1, &in, h, w, c);
    if (idx < 0)
        return -1;
    frost_node *n = &m->nodes[idx];
    n->bn = (frost_bn_params){.eps = 1e-5f, .momentum = 0.1f};
    int64_t shape[1] = {c};
    n->gamma = add_param(m, name, "weight", FROST_PARAM_BN_GAMMA, 1, shape);
    n->beta = add_param(m, name, "bias", FROST_PARAM_BN_BETA, 1, shape);
    n->running_mean = add_buffer(m, name, "running_mean", c);
    n->running_var = add_buffer(m, name, "running_var", c);
    if (n->gamma < 0 || n->beta < 0 || n->running_mean < 0 || n->running_var < 0) {
        m->n_nodes--;
        return -1;
    }
    return idx;
}

int frost_g_act(frost_model *m, const char *name, int in, frost_act_kind act)
{
    const frost_node *x = check_new(m, name, in);
    if (!x)
        return -1;
    if ((int)act < 0 || act >= FROST_ACT_COUNT) {
        frost_fail(FROST_ERR_ARG, "layer '%s': unknown activation %d", name, (int)act);
        return -1;
    }
    int idx = append_node(m, name, FROST_OP_ACT, 1, &in, x->h, x->w, x->c);
    if (idx >= 0)
        m->nodes[idx].act = act;
    return idx;
}

static int add_pool(frost_model *m, const char *name, frost_op op, int in, int k, int stride,
                    int pad)
{
    const frost_node *x = check_new(m, name, in);
    if (!x)
        return -1;
    if (k <= 0 || stride <= 0 || pad < 0 || 2 * pad > k) {
        frost_fail(FROST_ERR_ARG, "layer '%s': pool needs k>0, stride>0, 0<=pad<=k/2 (k=%d stride=%d pad=%d)",
                   name, k, stride, pad);
        return -1;
    }
    int oh = frost_conv_out_dim(x->h, k, stride, pad);
    int ow = frost_conv_out_dim(x->w, k, stride, pad);
    if (oh <= 0 || ow <= 0) {
        frost_fail(FROST_ERR_SHAPE, "layer '%s': a %dx%d pool does not fit a %dx%d input", name, k,
                   k, x->h, x->w);
        return -1;
    }
    int idx = append_node(m, name, op, 1, &in, oh, ow, x->c);
    if (idx >= 0)
        m->nodes[idx].pool = (frost_pool_params){.k = k, .stride = stride, .pad = pad};
    return idx;
}

int frost_g_maxpool(frost_model *m, const char *name, int in, int k, int stride, int pad)
{
    return add_pool(m, name, FROST_OP_MAXPOOL, in, k, stride, pad);
}

int frost_g_avgpool(frost_model *m, const char *name, int in, int k, int stride, int pad)
{
    return add_pool(m, name, FROST_OP_AVGPOOL, in, k, stride, pad);
}

int frost_g_gap(frost_model *m, const char *name, int in)
{
    const frost_node *x = check_new(m, name, in);
    if (!x)
        return -1;
    return append_node(m, name, FROST_OP_GAP, 1, &in, 1, 1, x->c);
}

int frost_g_linear(frost_model *m, const char *name, int in, int out, bool bias)
{
    const frost_node *x = check_new(m, name, in);
    if (!x)
        return -1;
    int64_t fin = (int64_t)x->h * x->w * x->c;
    if (out <= 0 || out > 1000000 || fin > 100000000) {
        frost_fail(FROST_ERR_ARG, "layer '%s': linear needs 0 < out <= 1e6 (got %d, in %lld)", name,
                   out, (long long)fin);
        return -1;
    }
    int idx = append_node(m, name, FROST_OP_LINEAR, 1, &in, 1, 1, out);
    if (idx < 0)
        return -1;
    frost_node *n = &m->nodes[idx];
    n->bias = bias;
    n->macs = fin * out;
    int64_t wshape[2] = {out, fin};
    n->weight = add_param(m, name, "weight", FROST_PARAM_WEIGHT, 2, wshape);
    if (n->weight >= 0 && bias) {
        int64_t bshape[1] = {out};
        n->bias_p = add_param(m, name, "bias", FROST_PARAM_BIAS, 1, bshape);
    }
    if (n->weight < 0 || (bias && n->bias_p < 0)) {
        m->n_nodes--;
        return -1;
    }
    return idx;
}

int frost_g_add(frost_model *m, const char *name, int a, int b)
{
    const frost_node *x = check_new(m, name, a);
    const frost_node *y = x ? check_new(m, name, b) : NULL;
    if (!x || !y)
        return -1;
    if (x->h != y->h || x->w != y->w || x->c != y->c) {
        frost_fail(FROST_ERR_SHAPE, "layer '%s': add of %dx%dx%d ('%s') and %dx%dx%d ('%s')", name,
                   x->h, x->w, x->c, x->name, y->h, y->w, y->c, y->name);
        return -1;
    }
    int in[2] = {a, b};
    return append_node(m, name, FROST_OP_ADD, 2, in, x->h, x->w, x->c);
}

int frost_g_concat(frost_model *m, const char *name, int n_in, const int *in)
{
    if (n_in < 2 || n_in > FROST_MAX_NODE_INPUTS) {
        frost_fail(FROST_ERR_ARG, "layer '%s': concat needs 2..%d inputs (got %d)", name,
                   FROST_MAX_NODE_INPUTS, n_in);
        return -1;
    }
    int c = 0;
    const frost_node *first = NULL;
    for (int i = 0; i < n_in; i++) {
        const frost_node *x = check_new(m, name, in[i]);
        if (!x)
            return -1;
        if (first && (x->h != first->h || x->w != first->w)) {
            frost_fail(FROST_ERR_SHAPE, "layer '%s': concat of %dx%d ('%s') and %dx%d ('%s')", name,
                       first->h, first->w, first->name, x->h, x->w, x->name);
            return -1;
        }
        if (!first)
            first = x;
        c += x->c;
    }
    return append_node(m, name, FROST_OP_CONCAT, n_in, in, first->h, first->w, c);
}

int frost_g_dropout(frost_model *m, const char *name, int in, float p)
{
    const frost_node *x = check_new(m, name, in);
    if (!x)
        return -1;
    if (!(p >= 0.0f && p < 1.0f)) {
        frost_fail(FROST_ERR_ARG, "layer '%s': dropout p must be in [0, 1) (got %g)", name,
                   (double)p);
        return -1;
    }
    int idx = append_node(m, name, FROST_OP_DROPOUT, 1, &in, x->h, x->w, x->c);
    if (idx >= 0)
        m->nodes[idx].p = p;
    return idx;
}

int frost_g_flatten(frost_model *m, const char *name, int in)
{
    const frost_node *x = check_new(m, name, in);
    if (!x)
        return -1;
    int64_t c = (int64_t)x->h * x->w * x->c;
    return append_node(m, name, FROST_OP_FLATTEN, 1, &in, 1, 1, (int)c);
}

int frost_g_conv_bn_act(frost_model *m, const char *prefix, int in, int cout, int k, int stride,
                        int groups, frost_act_kind act)
{
    char name[FROST_NAME_LEN + 8];
    snprintf(name, sizeof name, "%s.conv", prefix);
    int x = frost_g_conv(m, name, in, cout, k, stride, k / 2, groups, false);
    if (x < 0)
        return -1;
    snprintf(name, sizeof name, "%s.bn", prefix);
    x = frost_g_bn(m, name, x);
    if (x < 0 || act == FROST_ACT_IDENTITY)
        return x;
    snprintf(name, sizeof name, "%s.act", prefix);
    return frost_g_act(m, name, x, act);
}

int frost_g_finish(frost_model *m, int classes)
{
    const frost_node *last = &m->nodes[m->n_nodes - 1];
    if (m->n_nodes < 2) {
        frost_fail(FROST_ERR_SHAPE, "model '%s' has no layers", m->name);
        return -1;
    }
    if (classes < 2 || last->h != 1 || last->w != 1 || last->c != classes) {
        frost_fail(FROST_ERR_SHAPE,
                   "model '%s': the last layer '%s' gives %dx%dx%d, but the model needs 1x1x%d "
                   "(classes)",
                   m->name, last->name, last->h, last->w, last->c, classes);
        return -1;
    }
    m->classes = classes;
    return 0;
}

/* ---------------------------------------------------------------- accessors */

const char *frost_model_name(const frost_model *m) { return m->name; }

void frost_model_input_shape(const frost_model *m, int *h, int *w, int *c)
{
    *h = m->in_h;
    *w = m->in_w;
    *c = m->in_c;
}

int frost_model_classes(const frost_model *m) { return m->classes; }

int64_t frost_model_param_count(const frost_model *m)
{
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++)
        n += m->params[i].numel;
    return n;
}

int64_t frost_model_macs(const frost_model *m)
{
    int64_t n = 0;
    for (int i = 0; i < m->n_nodes; i++)
        n += m->nodes[i].macs;
    return n;
}

void frost_model_init_weights(frost_model *m, uint64_t seed)
{
    frost_rng base;
    frost_rng_seed(&base, seed);
    for (int i = 0; i < m->n_params; i++) {
        frost_param *p = &m->params[i];
        frost_rng r = frost_rng_fork(&base, (uint64_t)i + 1);
        float fill = 0.0f, std = 0.0f;
        if (p->kind == FROST_PARAM_BN_GAMMA)
            fill = 1.0f;
        else if (p->kind == FROST_PARAM_WEIGHT && p->ndim == 4)
            /* Kaiming normal, fan_out = out * kh * kw (PyTorch's definition). */
            std = sqrtf(2.0f / (float)(p->shape[0] * p->shape[1] * p->shape[2]));
        else if (p->kind == FROST_PARAM_WEIGHT)
            std = 0.01f;
        for (int64_t j = 0; j < p->numel; j++)
            p->data[j] = std > 0.0f ? std * frost_rng_normal(&r) : fill;
    }
    for (int i = 0; i < m->n_buffers; i++) {
        frost_param *b = &m->buffers[i];
        float fill = strstr(b->name, "running_var") ? 1.0f : 0.0f;
        for (int64_t j = 0; j < b->numel; j++)
            b->data[j] = fill;
    }
}
