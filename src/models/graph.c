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
    in->alpha = -1;
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
    if (m->quant.hooks)
        m->quant.hooks->release(m);
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
    n->alpha = -1;
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
    uint64_t bytes = (uint64_t)p->numel * sizeof(float) * (kind == FROST_PARAM_BUFFER ? 1 : 2);
    if (frost_check_memory(bytes, p->name) != FROST_OK)
        return -2; /* the error names the tensor and the limit */
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
    if (i == -1)
        frost_fail(FROST_ERR_NOMEM, "layer '%s': out of memory for %s", layer, suffix);
    return i;
}

static int add_buffer(frost_model *m, const char *layer, const char *suffix, int64_t n)
{
    int i = add_tensor(&m->buffers, &m->n_buffers, &m->cap_buffers, layer, suffix,
                       FROST_PARAM_BUFFER, 1, &n);
    if (i == -1)
        frost_fail(FROST_ERR_NOMEM, "layer '%s': out of memory for %s", layer, suffix);
    return i;
}

int frost_g_buffer(frost_model *m, const char *layer, const char *suffix, int64_t n)
{
    return add_buffer(m, layer, suffix, n);
}

int frost_g_param(frost_model *m, const char *layer, const char *suffix, int64_t n)
{
    return add_param(m, layer, suffix, FROST_PARAM_BIAS, 1, &n);
}

/* ---------------------------------------------------------------- builders */

/* Creates the node's trainable parameters and buffers; false on out of memory. */
static bool add_node_params(frost_model *m, frost_node *n, int cin)
{
    const char *name = n->name;
    switch (n->op) {
    case FROST_OP_CONV: {
        int g = n->conv.groups, k = n->conv.kh;
        int64_t wshape[4] = {n->conv.cout, k, k, cin / g};
        n->weight = add_param(m, name, "weight", FROST_PARAM_WEIGHT, 4, wshape);
        if (n->weight < 0)
            return false;
        m->params[n->weight].depthwise = (g == cin && g > 1);
        break;
    }
    case FROST_OP_LINEAR: {
        int64_t wshape[2] = {n->c, n->macs / n->c};
        n->weight = add_param(m, name, "weight", FROST_PARAM_WEIGHT, 2, wshape);
        if (n->weight < 0)
            return false;
        break;
    }
    case FROST_OP_BN: {
        int64_t shape[1] = {n->c};
        n->gamma = add_param(m, name, "weight", FROST_PARAM_BN_GAMMA, 1, shape);
        n->beta = add_param(m, name, "bias", FROST_PARAM_BN_BETA, 1, shape);
        n->running_mean = add_buffer(m, name, "running_mean", n->c);
        n->running_var = add_buffer(m, name, "running_var", n->c);
        return n->gamma >= 0 && n->beta >= 0 && n->running_mean >= 0 && n->running_var >= 0;
    }
    case FROST_OP_MIX: {
        int64_t shape[1] = {frost_mix_candidates(n)};
        n->alpha = add_param(m, name, "alpha", FROST_PARAM_ARCH, 1, shape);
        return n->alpha >= 0;
    }
    case FROST_OP_INPUT:
    case FROST_OP_ACT:
    case FROST_OP_MAXPOOL:
    case FROST_OP_AVGPOOL:
    case FROST_OP_GAP:
    case FROST_OP_ADD:
    case FROST_OP_MUL:
    case FROST_OP_CONCAT:
    case FROST_OP_DROPOUT:
    case FROST_OP_FLATTEN:
    case FROST_OP_FAKEQUANT:
    case FROST_OP_COUNT: return true;
    }
    if (n->bias) {
        int64_t bshape[1] = {n->c};
        n->bias_p = add_param(m, name, "bias", FROST_PARAM_BIAS, 1, bshape);
        if (n->bias_p < 0)
            return false;
    }
    return true;
}

/* Stores the attributes in the node's fields (the inverse of frost_node_attrs). */
static void set_node_attrs(frost_node *n, int cin, const frost_layer_attrs *a)
{
    switch (n->op) {
    case FROST_OP_CONV:
        n->conv = (frost_conv_params){.kh = a->k,
                                      .kw = a->k,
                                      .stride = a->stride,
                                      .pad_h = a->pad,
                                      .pad_w = a->pad,
                                      .groups = a->groups,
                                      .cin = cin,
                                      .cout = a->out};
        n->bias = a->bias;
        break;
    case FROST_OP_LINEAR: n->bias = a->bias; break;
    case FROST_OP_BN: n->bn = (frost_bn_params){.eps = a->eps, .momentum = a->momentum}; break;
    case FROST_OP_ACT: n->act = a->act; break;
    case FROST_OP_MAXPOOL:
    case FROST_OP_AVGPOOL:
        n->pool = (frost_pool_params){.k = a->k, .stride = a->stride, .pad = a->pad};
        break;
    case FROST_OP_DROPOUT: n->p = a->p; break;
    case FROST_OP_MIX: n->mix_none = a->mix_none; break;
    case FROST_OP_INPUT:
    case FROST_OP_GAP:
    case FROST_OP_ADD:
    case FROST_OP_MUL:
    case FROST_OP_CONCAT:
    case FROST_OP_FLATTEN:
    case FROST_OP_FAKEQUANT:
    case FROST_OP_COUNT: break;
    }
}

void frost_node_attrs(const frost_node *n, frost_layer_attrs *a)
{
    frost_layer_attrs_default(n->op, a);
    switch (n->op) {
    case FROST_OP_CONV:
        *a = (frost_layer_attrs){.out = n->conv.cout,
                                 .k = n->conv.kh,
                                 .stride = n->conv.stride,
                                 .pad = n->conv.pad_h,
                                 .groups = n->conv.groups,
                                 .bias = n->bias};
        break;
    case FROST_OP_LINEAR:
        a->out = n->c;
        a->bias = n->bias;
        break;
    case FROST_OP_BN:
        a->eps = n->bn.eps;
        a->momentum = n->bn.momentum;
        break;
    case FROST_OP_ACT: a->act = n->act; break;
    case FROST_OP_MAXPOOL:
    case FROST_OP_AVGPOOL:
        a->k = n->pool.k;
        a->stride = n->pool.stride;
        a->pad = n->pool.pad;
        break;
    case FROST_OP_DROPOUT: a->p = n->p; break;
    case FROST_OP_MIX: a->mix_none = n->mix_none; break;
    case FROST_OP_INPUT:
    case FROST_OP_GAP:
    case FROST_OP_ADD:
    case FROST_OP_MUL:
    case FROST_OP_CONCAT:
    case FROST_OP_FLATTEN:
    case FROST_OP_FAKEQUANT:
    case FROST_OP_COUNT: break;
    }
}

int frost_g_layer(frost_model *m, const char *name, frost_op op, int n_in, const int *in,
                  const frost_layer_attrs *a)
{
    if (n_in < 0 || n_in > FROST_MAX_NODE_INPUTS) {
        frost_fail(FROST_ERR_ARG, "layer '%s': %d inputs (at most %d)", name ? name : "", n_in,
                   FROST_MAX_NODE_INPUTS);
        return -1;
    }
    frost_hwc shapes[FROST_MAX_NODE_INPUTS];
    for (int i = 0; i < n_in; i++) {
        const frost_node *x = check_new(m, name, in[i]);
        if (!x)
            return -1;
        shapes[i] = (frost_hwc){x->h, x->w, x->c};
    }
    if (n_in == 0 && !check_new(m, name, 0))
        return -1;
    frost_hwc y;
    int64_t macs;
    if (frost_op_infer(op, name, a, n_in, shapes, &y, &macs) < 0)
        return -1;
    int idx = append_node(m, name, op, n_in, in, y.h, y.w, y.c);
    if (idx < 0)
        return -1;
    frost_node *n = &m->nodes[idx];
    n->macs = macs;
    int cin = n_in > 0 ? shapes[0].c : 0;
    set_node_attrs(n, cin, a);
    if (!add_node_params(m, n, cin)) {
        m->n_nodes--; /* params already added are harmless leftovers only on OOM */
        return -1;
    }
    return idx;
}

/* The op's defaults, for the builders below to fill in. */
static frost_layer_attrs defaults(frost_op op)
{
    frost_layer_attrs a;
    frost_layer_attrs_default(op, &a);
    return a;
}

int frost_g_conv(frost_model *m, const char *name, int in, int cout, int k, int stride, int pad,
                 int groups, bool bias)
{
    frost_layer_attrs a = {
        .out = cout, .k = k, .stride = stride, .pad = pad, .groups = groups, .bias = bias};
    return frost_g_layer(m, name, FROST_OP_CONV, 1, &in, &a);
}

int frost_g_bn(frost_model *m, const char *name, int in)
{
    frost_layer_attrs a = defaults(FROST_OP_BN);
    return frost_g_layer(m, name, FROST_OP_BN, 1, &in, &a);
}

int frost_g_act(frost_model *m, const char *name, int in, frost_act_kind act)
{
    frost_layer_attrs a = {.act = act};
    return frost_g_layer(m, name, FROST_OP_ACT, 1, &in, &a);
}

int frost_g_maxpool(frost_model *m, const char *name, int in, int k, int stride, int pad)
{
    frost_layer_attrs a = {.k = k, .stride = stride, .pad = pad};
    return frost_g_layer(m, name, FROST_OP_MAXPOOL, 1, &in, &a);
}

int frost_g_avgpool(frost_model *m, const char *name, int in, int k, int stride, int pad)
{
    frost_layer_attrs a = {.k = k, .stride = stride, .pad = pad};
    return frost_g_layer(m, name, FROST_OP_AVGPOOL, 1, &in, &a);
}

int frost_g_gap(frost_model *m, const char *name, int in)
{
    frost_layer_attrs a = defaults(FROST_OP_GAP);
    return frost_g_layer(m, name, FROST_OP_GAP, 1, &in, &a);
}

int frost_g_linear(frost_model *m, const char *name, int in, int out, bool bias)
{
    frost_layer_attrs a = {.out = out, .bias = bias};
    return frost_g_layer(m, name, FROST_OP_LINEAR, 1, &in, &a);
}

int frost_g_add(frost_model *m, const char *name, int a, int b)
{
    int in[2] = {a, b};
    frost_layer_attrs at = defaults(FROST_OP_ADD);
    return frost_g_layer(m, name, FROST_OP_ADD, 2, in, &at);
}

int frost_g_mul(frost_model *m, const char *name, int a, int b)
{
    int in[2] = {a, b};
    frost_layer_attrs at = defaults(FROST_OP_MUL);
    return frost_g_layer(m, name, FROST_OP_MUL, 2, in, &at);
}

int frost_g_concat(frost_model *m, const char *name, int n_in, const int *in)
{
    frost_layer_attrs a = defaults(FROST_OP_CONCAT);
    return frost_g_layer(m, name, FROST_OP_CONCAT, n_in, in, &a);
}

int frost_g_dropout(frost_model *m, const char *name, int in, float p)
{
    frost_layer_attrs a = {.p = p};
    return frost_g_layer(m, name, FROST_OP_DROPOUT, 1, &in, &a);
}

int frost_g_flatten(frost_model *m, const char *name, int in)
{
    frost_layer_attrs a = defaults(FROST_OP_FLATTEN);
    return frost_g_layer(m, name, FROST_OP_FLATTEN, 1, &in, &a);
}

int frost_g_mix(frost_model *m, const char *name, int n_in, const int *in, bool none)
{
    frost_layer_attrs a = defaults(FROST_OP_MIX);
    a.mix_none = none;
    return frost_g_layer(m, name, FROST_OP_MIX, n_in, in, &a);
}

int frost_g_mix_shared(frost_model *m, const char *name, int n_in, const int *in, bool none,
                       int owner)
{
    if (owner < 0)
        return frost_g_mix(m, name, n_in, in, none);
    if (owner >= m->n_nodes || m->nodes[owner].op != FROST_OP_MIX ||
        frost_mix_candidates(&m->nodes[owner]) != n_in + (none ? 1 : 0)) {
        frost_fail(FROST_ERR_ARG,
                   "layer '%s': cannot share the alpha of node %d (not a mix of "
                   "%d candidates)",
                   name ? name : "", owner, n_in + (none ? 1 : 0));
        return -1;
    }
    int idx = frost_g_mix(m, name, n_in, in, none);
    if (idx < 0)
        return -1;
    /* the alpha frost_g_mix just appended is the last parameter: drop it, point at owner's */
    frost_node *n = &m->nodes[idx];
    frost_param *own = &m->params[n->alpha];
    frost_free(own->data);
    frost_free(own->grad);
    m->n_params--;
    n->alpha = m->nodes[owner].alpha;
    return idx;
}

void frost_mix_weights(const frost_model *m, int node, float *w)
{
    const frost_node *n = &m->nodes[node];
    const float *alpha = m->params[n->alpha].data;
    int k = frost_mix_candidates(n);
    /* exp(a - max) never overflows; the sum is at least 1 */
    float top = alpha[0];
    for (int i = 1; i < k; i++)
        top = alpha[i] > top ? alpha[i] : top;
    double e[FROST_MAX_NODE_INPUTS + 1], sum = 0.0;
    for (int i = 0; i < k; i++) {
        e[i] = exp((double)alpha[i] - (double)top);
        sum += e[i];
    }
    for (int i = 0; i < k; i++)
        w[i] = (float)(e[i] / sum);
}

const char *frost_mix_refusal(const frost_node *n)
{
    static _Thread_local char text[FROST_NAME_LEN + 160];
    snprintf(text, sizeof text,
             "layer '%s': op 'mix' belongs to a cell-search supernet and has no inference form; "
             "derive the cell first (frost cell-search)",
             n->name);
    return text;
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

frost_preprocess frost_model_preprocess(const frost_model *m) { return m->pre; }

frost_status frost_model_set_preprocess(frost_model *m, const frost_preprocess *p)
{
    int channels = m->in_c < 3 ? m->in_c : 3;
    for (int i = 0; i < channels; i++)
        if (!isfinite(p->mean[i]) || !isfinite(p->std[i]) || !(p->std[i] > 0.0f))
            return frost_fail(FROST_ERR_ARG,
                              "model '%s': preprocessing channel %d: mean %g, std %g (the mean "
                              "must be finite, the std positive)",
                              m->name, i, (double)p->mean[i], (double)p->std[i]);
    m->pre = *p;
    m->pre.set = true;
    return FROST_OK;
}

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
        if (m->params[i].kind != FROST_PARAM_ARCH)
            n += m->params[i].numel;
    return n;
}

int64_t frost_model_arch_param_count(const frost_model *m)
{
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].kind == FROST_PARAM_ARCH)
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
        else if (p->kind == FROST_PARAM_ARCH)
            std = 1e-3f; /* DARTS: alpha = 1e-3 * N(0, 1), near-uniform mixing weights */
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
