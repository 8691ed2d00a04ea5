/*
 * frost model -> FP32 ONNX (docs/interop.md, "FP32 ONNX export").
 *
 * Opset 13, IR version 7: every frost layer becomes the standard ONNX op(s) computing it,
 * named after the layer (its output tensor too), with its float weights as initializers
 * named after frost's parameters. BN stays a BatchNormalization (not folded), so the file
 * is the model as trained; dropout is left out (inference).
 *
 * Layout: frost is NHWC inside, the file NCHW (input float32 [N, C, H, W], N symbolic).
 * Conv weights go from frost's [o][ky][kx][c] to OIHW. A frost tensor is rank 4 in the
 * file ([N, C, H, W]) or rank 2 ([N, F], after a fully connected layer or a flatten);
 * a flatten of a map larger than 1x1 orders its features (c, y, x) in ONNX and (y, x, c)
 * in frost, so the fully connected layer reading it gets its columns permuted (the
 * importer does the inverse). Activations without an ONNX op of their own in opset 13
 * are written as the products PyTorch writes (hard-swish = x * HardSigmoid(x), SiLU =
 * x * Sigmoid(x)), which frost's importer fuses back into one layer.
 *
 * The preprocessing (frost_preprocess) goes into the model's metadata_props as
 * "frost.preprocess": {"mean": [...], "std": [...], "channels": "rgb"|"bgr"}, which
 * frost_onnx_import reads back when it is not given one.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "frost/io.h"
#include "io/onnx.h"
#include "io/onnx_write.h"
#include "models/graph.h"

#define FP32_OPSET      13
#define FP32_IR_VERSION 7 /* the IR of opset 13 (ONNX 1.8) */
#define FLOAT_T         ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT

/* Frost node i's output as a tensor of the file. */
typedef struct {
    const char *name; /* as produced */
    int rank;         /* 4: [N, C, H, W]; 2: [N, F] */
    /* rank 2 flattened from an fh x fw x fc map with fh * fw > 1: ONNX orders the
     * features (c, y, x), frost (y, x, c) */
    int fh, fw, fc;
    const char *as4; /* a rank-2 [N, C] tensor reshaped to [N, C, 1, 1], made when needed */
} tensor;

typedef struct {
    const frost_model *m;
    frost_onnxw w;
    tensor *t; /* [m->n_nodes] */
} exporter;

#define NEED(p)                         \
    do {                                \
        if (!(p))                       \
            return frost_onnxw_nomem(); \
    } while (0)

static bool is_flattened_map(const tensor *t) { return t->rank == 2 && t->fh * t->fw > 1; }

static const frost_node *node(const exporter *e, int i) { return &e->m->nodes[i]; }

static frost_status refuse(const frost_node *n, const char *why)
{
    return frost_fail(FROST_ERR_UNSUPPORTED, "ONNX export: layer '%s' (%s): %s", n->name,
                      frost_op_name(n->op), why);
}

/* Node i's output as a rank-4 tensor: a fully connected output [N, C] is reshaped to
 * [N, C, 1, 1]; a flattened map cannot go back (refused for layer `user`). */
static frost_status as_rank4(exporter *e, int i, const frost_node *user, const char **out)
{
    tensor *t = &e->t[i];
    if (t->rank == 4) {
        *out = t->name;
        return FROST_OK;
    }
    if (is_flattened_map(t))
        return refuse(user, "reads a flattened feature map as a map; ONNX and frost order its "
                            "features differently");
    if (!t->as4) {
        int64_t dims[1] = {4}, shape[4] = {-1, node(e, i)->c, 1, 1};
        char *sn = frost_onnxw_name(&e->w, "%s/shape4", node(e, i)->name);
        char *y = frost_onnxw_name(&e->w, "%s/4d", node(e, i)->name);
        const char *in[2] = {t->name, sn};
        NEED(frost_onnxw_init(&e->w, sn, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, dims, shape));
        NEED(frost_onnxw_node(&e->w, "Reshape",
                              frost_onnxw_name(&e->w, "%s/reshape", node(e, i)->name), 2, in, y));
        t->as4 = y;
    }
    *out = t->as4;
    return FROST_OK;
}

/* Defines node i's output: tensor `name` laid out as `like` (rank, flattening). */
static void define(exporter *e, int i, const char *name, const tensor *like)
{
    e->t[i] =
        (tensor){.name = name, .rank = like->rank, .fh = like->fh, .fw = like->fw, .fc = like->fc};
}

static void define_rank(exporter *e, int i, const char *name, int rank)
{
    e->t[i] = (tensor){.name = name, .rank = rank};
}

/* A float initializer `name` of the given shape, filled from data (NULL: zero). */
static float *init_f32(exporter *e, const char *name, int n_dims, const int64_t *dims,
                       const float *data)
{
    return frost_onnxw_init(&e->w, name, FLOAT_T, n_dims, dims, data);
}

/* A one-op layer: `op` on inputs in[0..n_in), output named after layer i. */
static Onnx__NodeProto *layer_node(exporter *e, int i, const char *op, int n_in,
                                   const char *const *in)
{
    return frost_onnxw_node(&e->w, op, node(e, i)->name, n_in, in, node(e, i)->name);
}

/* ---- layers ---- */

static frost_status emit_conv(exporter *e, int i)
{
    const frost_node *n = node(e, i);
    const frost_conv_params *p = &n->conv;
    const frost_param *wp = &e->m->params[n->weight];
    int cin_g = p->cin / p->groups, kh = p->kh, kw = p->kw;
    int64_t dims[4] = {p->cout, cin_g, kh, kw}, bdims[1] = {p->cout};
    const char *in[3] = {NULL, wp->name, n->bias ? e->m->params[n->bias_p].name : NULL};
    FROST_TRY(as_rank4(e, n->in[0], n, &in[0]));
    float *w = init_f32(e, wp->name, 4, dims, NULL);
    NEED(w);
    for (int o = 0; o < p->cout; o++) /* frost [o][ky][kx][c] -> ONNX [o][c][ky][kx] */
        for (int c = 0; c < cin_g; c++)
            for (int y = 0; y < kh; y++)
                for (int x = 0; x < kw; x++)
                    w[(((size_t)o * cin_g + c) * kh + y) * kw + x] =
                        wp->data[(((size_t)o * kh + y) * kw + x) * cin_g + c];
    if (n->bias)
        NEED(init_f32(e, in[2], 1, bdims, e->m->params[n->bias_p].data));
    Onnx__NodeProto *conv = layer_node(e, i, "Conv", n->bias ? 3 : 2, in);
    int64_t k[2] = {kh, kw}, s[2] = {p->stride, p->stride};
    int64_t pads[4] = {p->pad_h, p->pad_w, p->pad_h, p->pad_w};
    NEED(frost_onnxw_attr_ints(&e->w, conv, "kernel_shape", 2, k, true) &&
         frost_onnxw_attr_ints(&e->w, conv, "strides", 2, s, true) &&
         frost_onnxw_attr_ints(&e->w, conv, "pads", 4, pads, true) &&
         frost_onnxw_attr_int(&e->w, conv, "group", p->groups));
    define_rank(e, i, n->name, 4);
    return FROST_OK;
}

/* Inference-form BatchNormalization: scale, bias, running mean and variance. */
static frost_status emit_bn(exporter *e, int i)
{
    const frost_node *n = node(e, i);
    const tensor *x = &e->t[n->in[0]];
    if (is_flattened_map(x))
        return refuse(n, "batch norm over a flattened feature map has no ONNX form here");
    const frost_param *p[4] = {&e->m->params[n->gamma], &e->m->params[n->beta],
                               &e->m->buffers[n->running_mean], &e->m->buffers[n->running_var]};
    int64_t dims[1] = {n->c};
    const char *in[5] = {x->name};
    for (int k = 0; k < 4; k++) {
        in[k + 1] = p[k]->name;
        NEED(init_f32(e, p[k]->name, 1, dims, p[k]->data));
    }
    Onnx__NodeProto *bn = layer_node(e, i, "BatchNormalization", 5, in);
    /* ONNX: running = running * momentum + batch * (1 - momentum); frost as PyTorch */
    NEED(frost_onnxw_attr_float(&e->w, bn, "epsilon", n->bn.eps) &&
         frost_onnxw_attr_float(&e->w, bn, "momentum", 1.0f - n->bn.momentum));
    define(e, i, n->name, x);
    return FROST_OK;
}

/* gate(x) then x * gate: how opset 13 writes hard-swish and SiLU. */
static frost_status gated(exporter *e, int i, const char *gate_op)
{
    const frost_node *n = node(e, i);
    const tensor *x = &e->t[n->in[0]];
    const char *gin[1] = {x->name};
    char *g = frost_onnxw_name(&e->w, "%s/%s", n->name, gate_op);
    Onnx__NodeProto *gate = frost_onnxw_node(&e->w, gate_op, g, 1, gin, g);
    NEED(gate);
    if (strcmp(gate_op, "HardSigmoid") == 0)
        NEED(frost_onnxw_attr_float(&e->w, gate, "alpha", 1.0f / 6.0f) &&
             frost_onnxw_attr_float(&e->w, gate, "beta", 0.5f));
    const char *in[2] = {x->name, g};
    NEED(layer_node(e, i, "Mul", 2, in));
    define(e, i, n->name, x);
    return FROST_OK;
}

static frost_status emit_act(exporter *e, int i)
{
    const frost_node *n = node(e, i);
    const tensor *x = &e->t[n->in[0]];
    const char *in[3] = {x->name};
    Onnx__NodeProto *op = NULL;
    switch (n->act) {
    case FROST_ACT_IDENTITY: e->t[i] = *x; return FROST_OK;
    case FROST_ACT_RELU: op = layer_node(e, i, "Relu", 1, in); break;
    case FROST_ACT_RELU6: /* opset 13's Clip takes its bounds as inputs */
    case FROST_ACT_HARDTANH: {
        float lo = n->act == FROST_ACT_RELU6 ? 0.0f : -1.0f;
        float hi = n->act == FROST_ACT_RELU6 ? 6.0f : 1.0f;
        in[1] = frost_onnxw_name(&e->w, "%s.min", n->name);
        in[2] = frost_onnxw_name(&e->w, "%s.max", n->name);
        NEED(init_f32(e, in[1], 0, NULL, &lo) && init_f32(e, in[2], 0, NULL, &hi));
        op = layer_node(e, i, "Clip", 3, in);
        break;
    }
    case FROST_ACT_HSIGMOID: /* relu6(x + 3) / 6 = max(0, min(1, x / 6 + 0.5)) */
        op = layer_node(e, i, "HardSigmoid", 1, in);
        NEED(frost_onnxw_attr_float(&e->w, op, "alpha", 1.0f / 6.0f) &&
             frost_onnxw_attr_float(&e->w, op, "beta", 0.5f));
        break;
    case FROST_ACT_SIGMOID: op = layer_node(e, i, "Sigmoid", 1, in); break;
    case FROST_ACT_HSWISH: return gated(e, i, "HardSigmoid");
    case FROST_ACT_SILU: return gated(e, i, "Sigmoid");
    case FROST_ACT_COUNT: break;
    }
    if (!op)
        return n->act == FROST_ACT_COUNT ? refuse(n, "unknown activation") : frost_onnxw_nomem();
    define(e, i, n->name, x);
    return FROST_OK;
}

/* MaxPool / AveragePool; frost's average divides by the taps inside the image. */
static frost_status emit_pool(exporter *e, int i, bool avg)
{
    const frost_node *n = node(e, i);
    const char *in[1];
    FROST_TRY(as_rank4(e, n->in[0], n, &in[0]));
    Onnx__NodeProto *p = layer_node(e, i, avg ? "AveragePool" : "MaxPool", 1, in);
    int64_t k[2] = {n->pool.k, n->pool.k}, s[2] = {n->pool.stride, n->pool.stride};
    int64_t pads[4] = {n->pool.pad, n->pool.pad, n->pool.pad, n->pool.pad};
    NEED(frost_onnxw_attr_ints(&e->w, p, "kernel_shape", 2, k, true) &&
         frost_onnxw_attr_ints(&e->w, p, "strides", 2, s, true) &&
         frost_onnxw_attr_ints(&e->w, p, "pads", 4, pads, true));
    if (avg)
        NEED(frost_onnxw_attr_int(&e->w, p, "count_include_pad", 0));
    define_rank(e, i, n->name, 4);
    return FROST_OK;
}

static frost_status emit_gap(exporter *e, int i)
{
    const frost_node *n = node(e, i);
    const char *in[1];
    FROST_TRY(as_rank4(e, n->in[0], n, &in[0]));
    NEED(layer_node(e, i, "GlobalAveragePool", 1, in));
    define_rank(e, i, n->name, 4);
    return FROST_OK;
}

/* Node i's output as [N, F] (Flatten of a map; its layout in *t). */
static frost_status flattened(exporter *e, int i, const char *node_name, const char *out_name,
                              tensor *t)
{
    const tensor *x = &e->t[i];
    if (x->rank == 2) {
        *t = *x;
        return FROST_OK;
    }
    const frost_node *xn = node(e, i);
    const char *in[1] = {x->name};
    NEED(frost_onnxw_attr_int(&e->w, frost_onnxw_node(&e->w, "Flatten", node_name, 1, in, out_name),
                              "axis", 1));
    *t = (tensor){.name = out_name, .rank = 2};
    if (xn->h * xn->w > 1)
        t->fh = xn->h, t->fw = xn->w, t->fc = xn->c;
    return FROST_OK;
}

static frost_status emit_flatten(exporter *e, int i)
{
    const frost_node *n = node(e, i);
    tensor t;
    FROST_TRY(flattened(e, n->in[0], n->name, n->name, &t));
    e->t[i] = t;
    return FROST_OK;
}

/* Gemm (transB = 1) with frost's [out][in] weight, its columns in ONNX's feature order. */
static frost_status emit_linear(exporter *e, int i)
{
    const frost_node *n = node(e, i);
    tensor x;
    FROST_TRY(flattened(e, n->in[0], frost_onnxw_name(&e->w, "%s/flatten", n->name),
                        frost_onnxw_name(&e->w, "%s/flat", n->name), &x));
    const frost_param *wp = &e->m->params[n->weight];
    int out = n->c, fin = (int)(wp->numel / out);
    int64_t dims[2] = {out, fin}, bdims[1] = {out};
    const char *in[3] = {x.name, wp->name, n->bias ? e->m->params[n->bias_p].name : NULL};
    float *w = init_f32(e, wp->name, 2, dims, NULL);
    NEED(w);
    bool permute = is_flattened_map(&x);
    for (int o = 0; o < out; o++)
        for (int f = 0; f < fin; f++) {
            /* ONNX feature f = c*H*W + y*W + x is frost's (y*W + x)*C + c */
            int src = permute ? (f % (x.fh * x.fw)) * x.fc + f / (x.fh * x.fw) : f;
            w[(size_t)o * fin + f] = wp->data[(size_t)o * fin + src];
        }
    if (n->bias)
        NEED(init_f32(e, in[2], 1, bdims, e->m->params[n->bias_p].data));
    NEED(frost_onnxw_attr_int(&e->w, layer_node(e, i, "Gemm", n->bias ? 3 : 2, in), "transB", 1));
    define_rank(e, i, n->name, 2);
    return FROST_OK;
}

/* Add / Mul: elementwise on equal layouts, or a map times a per-channel [N, C, 1, 1] gate
 * (ONNX broadcasting). Rank 2 when both inputs are rank 2 in the same feature order. */
static frost_status emit_elementwise(exporter *e, int i, const char *op)
{
    const frost_node *n = node(e, i);
    const tensor *a = &e->t[n->in[0]], *b = &e->t[n->in[1]];
    const char *in[2] = {a->name, b->name};
    bool rank2 = a->rank == 2 && b->rank == 2;
    if (rank2 && (a->fh != b->fh || a->fw != b->fw || a->fc != b->fc))
        return refuse(n, "its inputs order their features differently in ONNX (a flattened "
                         "map and a fully connected output)");
    tensor like = *a;
    if (!rank2) {
        FROST_TRY(as_rank4(e, n->in[0], n, &in[0]));
        FROST_TRY(as_rank4(e, n->in[1], n, &in[1]));
        like = (tensor){.rank = 4};
    }
    NEED(layer_node(e, i, op, 2, in));
    define(e, i, n->name, &like);
    return FROST_OK;
}

static frost_status emit_concat(exporter *e, int i)
{
    const frost_node *n = node(e, i);
    const char *in[FROST_MAX_NODE_INPUTS];
    for (int k = 0; k < n->n_in; k++)
        FROST_TRY(as_rank4(e, n->in[k], n, &in[k]));
    NEED(frost_onnxw_attr_int(&e->w, layer_node(e, i, "Concat", n->n_in, in), "axis", 1));
    define_rank(e, i, n->name, 4);
    return FROST_OK;
}

static frost_status emit_layer(exporter *e, int i)
{
    const frost_node *n = node(e, i);
    switch (n->op) {
    case FROST_OP_INPUT: define_rank(e, i, "input", 4); return FROST_OK;
    case FROST_OP_CONV: return emit_conv(e, i);
    case FROST_OP_BN: return emit_bn(e, i);
    case FROST_OP_ACT: return emit_act(e, i);
    case FROST_OP_MAXPOOL: return emit_pool(e, i, false);
    case FROST_OP_AVGPOOL: return emit_pool(e, i, true);
    case FROST_OP_GAP: return emit_gap(e, i);
    case FROST_OP_LINEAR: return emit_linear(e, i);
    case FROST_OP_ADD: return emit_elementwise(e, i, "Add");
    case FROST_OP_MUL: return emit_elementwise(e, i, "Mul");
    case FROST_OP_CONCAT: return emit_concat(e, i);
    case FROST_OP_DROPOUT: e->t[i] = e->t[n->in[0]]; return FROST_OK; /* inference: none */
    case FROST_OP_FLATTEN: return emit_flatten(e, i);
    case FROST_OP_FAKEQUANT: return refuse(n, "fake-quant layers have no FP32 form");
    case FROST_OP_MIX:
        return frost_fail(FROST_ERR_UNSUPPORTED, "ONNX export: %s", frost_mix_refusal(n));
    case FROST_OP_COUNT: break;
    }
    return refuse(n, "this op has no ONNX export");
}

/* ---- the graph's output and metadata ---- */

/* Renames tensor `from` to `to` wherever a node reads or writes it. */
static void rename_tensor(exporter *e, const char *from, const char *to)
{
    for (size_t k = 0; k < e->w.n_nodes; k++) {
        Onnx__NodeProto *nd = e->w.nodes[k];
        for (size_t j = 0; j < nd->n_input; j++)
            if (strcmp(nd->input[j], from) == 0)
                nd->input[j] = (char *)to;
        for (size_t j = 0; j < nd->n_output; j++)
            if (strcmp(nd->output[j], from) == 0)
                nd->output[j] = (char *)to;
    }
}

/* The last layer's output as "logits" [N, classes]. */
static frost_status emit_output(exporter *e)
{
    int last = e->m->n_nodes - 1;
    const tensor *t = &e->t[last];
    if (is_flattened_map(t))
        return refuse(node(e, last), "the model ends in a flattened feature map (frost's feature "
                                     "order differs from ONNX's); end it with a linear layer");
    if (t->rank == 4) {
        const char *in[1] = {t->name};
        char *fn = frost_onnxw_name(&e->w, "%s/flatten", node(e, last)->name);
        NEED(frost_onnxw_attr_int(&e->w, frost_onnxw_node(&e->w, "Flatten", fn, 1, in, "logits"),
                                  "axis", 1));
    } else {
        rename_tensor(e, t->name, "logits");
    }
    return FROST_OK;
}

static frost_status build(exporter *e, frost_onnxw_model *desc)
{
    const frost_model *m = e->m;
    for (int i = 0; i < m->n_nodes; i++)
        FROST_TRY(emit_layer(e, i));
    FROST_TRY(emit_output(e));
    NEED(frost_onnxw_meta_preprocess(&e->w, &m->pre, m->in_c));
    int64_t in_dims[3] = {m->in_c, m->in_h, m->in_w}, out_dims[1] = {m->classes};
    *desc = (frost_onnxw_model){
        .graph_name = m->name,
        .doc = "frost FP32 model, NCHW",
        .input = frost_onnxw_value_info(&e->w, "input", 3, in_dims),
        .output = frost_onnxw_value_info(&e->w, "logits", 1, out_dims),
        .opset = FP32_OPSET,
        .ir_version = FP32_IR_VERSION,
    };
    return FROST_OK;
}

frost_status frost_onnx_export(const frost_model *m, const char *path)
{
    if (!m || !path)
        return frost_fail(FROST_ERR_ARG, "ONNX export: NULL argument");
    if (m->quant.active)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "'%s' is a fake-quant model: convert it (frost convert) and export the "
                          ".int8 for a QDQ file",
                          m->name);
    if (m->classes <= 0 || m->n_nodes < 2)
        return frost_fail(FROST_ERR_ARG, "ONNX export: model '%s' has no output layer", m->name);
    exporter e = {.m = m};
    e.t = calloc((size_t)m->n_nodes, sizeof *e.t);
    frost_onnxw_model desc;
    frost_status s = e.t ? build(&e, &desc) : frost_onnxw_nomem();
    if (s == FROST_OK)
        s = frost_onnxw_write(&e.w, &desc, path);
    frost_onnxw_free(&e.w);
    free(e.t);
    return s;
}
