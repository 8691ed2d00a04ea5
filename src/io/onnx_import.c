/*
 * ONNX -> frost model (docs/interop.md, "ONNX import").
 *
 * Steps: load and check the file (onnx_read.c); order the nodes the first graph output
 * (the logits) depends on, depth first, refusing cycles and values nobody provides; list
 * every unsupported node at once; then turn each node into frost layers through
 * frost_g_layer (the builder the zoo and the JSON reader use), converting the weights
 * from ONNX's NCHW / OIHW to frost's NHWC / OHWI on the way.
 *
 * Values are either activations (a frost node, with ONNX rank 4 = NCHW or 2 = [N, F])
 * or constants (initializers and Constant outputs). A rank-2 value made by flattening a
 * map larger than 1x1 keeps the map's shape: ONNX flattens in C,H,W order, frost in
 * H,W,C order, so a fully connected layer reading it gets its weight columns permuted.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "core/strmap.h"
#include "core/util.h"
#include "frost/io.h"
#include "io/onnx.h"
#include "models/graph.h"

/* ---------------------------------------------------------------- importer state */

enum { VAL_ACT = 1, VAL_CONST };

typedef struct {
    int kind;
    int node;                   /* VAL_ACT: the frost node */
    int rank;                   /* VAL_ACT: ONNX rank, 4 (NCHW) or 2 ([N, F]) */
    int flat_h, flat_w, flat_c; /* rank 2 flattened from an h x w x c map with h*w > 1 */
    const Onnx__TensorProto *t; /* VAL_CONST */
} value;

typedef struct {
    const Onnx__GraphProto *g;
    int opset;
    frost_model *m;
    frost_strmap init;      /* initializer name -> index */
    frost_strmap producer;  /* value name -> index of the node that writes it */
    frost_strmap val_index; /* value name -> index into vals */
    frost_strmap readers;   /* value name -> how many node inputs and graph outputs read it */
    value *vals;
    int n_vals;
    int *order; /* node indices, producers first, ending with the logits' producer */
    int n_order;
    bool *done; /* nodes absorbed by an earlier one (a bias Add, the Mul of x*sigmoid(x)) */
    Onnx__TensorProto **owned; /* tensors made from Constant's value_* attributes */
    int n_owned;
    frost_onnx_map *map;
} importer;

struct frost_onnx_map {
    int n;
    char (*names)[FROST_NAME_LEN * 2];
    int *node;
    frost_onnx_layout *layout;
};

static const char *str(const char *s) { return s ? s : ""; }

static value *find_value(importer *im, const char *name)
{
    int i = frost_strmap_get(&im->val_index, name);
    return i < 0 ? NULL : &im->vals[i];
}

static void define_value(importer *im, const char *name, value v)
{
    im->vals[frost_strmap_intern(&im->val_index, name, &im->n_vals)] = v;
}

static int readers_of(const importer *im, const char *name)
{
    int r = frost_strmap_get(&im->readers, name);
    return r < 0 ? 0 : r;
}

/* ---------------------------------------------------------------- node order */

typedef enum { WHITE = 0, GREY, BLACK } dfs_color;

static bool is_provided(const importer *im, const char *name)
{
    if (frost_strmap_get(&im->init, name) >= 0)
        return true;
    for (size_t i = 0; i < im->g->n_input; i++)
        if (strcmp(im->g->input[i]->name, name) == 0)
            return true;
    return false;
}

/* Depth-first post-order from the producer of `target` (iterative: a hostile file can be
 * deep). Fails on a cycle or on a value neither a node, an initializer nor an input gives. */
static frost_status order_nodes(importer *im, const char *target)
{
    int n = (int)im->g->n_node;
    unsigned char *color = calloc((size_t)n, 1);
    int *stack = malloc((size_t)n * sizeof *stack), *next = calloc((size_t)n, sizeof *next);
    im->order = malloc((size_t)n * sizeof *im->order);
    if (!color || !stack || !next || !im->order) {
        free(color), free(stack), free(next);
        return frost_fail(FROST_ERR_NOMEM, "out of memory ordering the ONNX graph");
    }
    frost_status s = FROST_OK;
    int root = frost_strmap_get(&im->producer, target), top = 0;
    if (root < 0) {
        s = is_provided(im, target)
                ? frost_fail(FROST_ERR_UNSUPPORTED,
                             "ONNX graph output '%s' is not computed by any node", target)
                : frost_fail(FROST_ERR_FORMAT, "ONNX graph output '%s' is produced by no node",
                             target);
    } else {
        stack[top++] = root;
        color[root] = GREY;
    }
    while (s == FROST_OK && top > 0) {
        int v = stack[top - 1];
        const Onnx__NodeProto *nd = im->g->node[v];
        if (next[v] == (int)nd->n_input) {
            color[v] = BLACK;
            im->order[im->n_order++] = v;
            top--;
            continue;
        }
        const char *in = nd->input[next[v]++];
        if (!in[0] || is_provided(im, in))
            continue; /* "" is an absent optional input */
        int p = frost_strmap_get(&im->producer, in);
        char buf[96];
        if (p < 0)
            s = frost_fail(FROST_ERR_FORMAT,
                           "ONNX node '%s' (%s) reads '%s', which no node, initializer or graph "
                           "input provides",
                           frost_onnx_node_label(nd, v, buf, sizeof buf), nd->op_type, in);
        else if (color[p] == GREY)
            s = frost_fail(FROST_ERR_FORMAT, "ONNX graph has a cycle through node '%s' (%s)",
                           frost_onnx_node_label(im->g->node[p], p, buf, sizeof buf),
                           im->g->node[p]->op_type);
        else if (color[p] == WHITE) {
            color[p] = GREY;
            stack[top++] = p;
        }
    }
    free(color), free(stack), free(next);
    return s;
}

/* ---------------------------------------------------------------- supported ops */

typedef frost_status (*import_fn)(importer *im, const Onnx__NodeProto *n, const char *label);

static frost_status imp_conv(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_bn(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_act(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_clip(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_hardsigmoid(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_add(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_mul(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_concat(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_gap(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_reducemean(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_pool(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_gemm(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_matmul(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_flatten(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_reshape(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_identity(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_dropout(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_constant(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_pad(importer *, const Onnx__NodeProto *, const char *);
static frost_status imp_fold(importer *, const Onnx__NodeProto *, const char *);

static const struct {
    const char *op_type;
    import_fn fn;
} IMPORTERS[] = {
    {"Conv", imp_conv},
    {"BatchNormalization", imp_bn},
    {"Relu", imp_act},
    {"HardSwish", imp_act},
    {"Sigmoid", imp_act},
    {"Clip", imp_clip},
    {"HardSigmoid", imp_hardsigmoid},
    {"Add", imp_add},
    {"Mul", imp_mul},
    {"Concat", imp_concat},
    {"GlobalAveragePool", imp_gap},
    {"ReduceMean", imp_reducemean},
    {"MaxPool", imp_pool},
    {"AveragePool", imp_pool},
    {"Gemm", imp_gemm},
    {"MatMul", imp_matmul},
    {"Flatten", imp_flatten},
    {"Reshape", imp_reshape},
    {"Identity", imp_identity},
    {"Dropout", imp_dropout},
    {"Constant", imp_constant},
    {"Pad", imp_pad},
    /* shape arithmetic on constants, as exports without constant folding contain */
    {"Cast", imp_fold},
    {"Unsqueeze", imp_fold},
    {"Squeeze", imp_fold},
};

static import_fn importer_of(const Onnx__NodeProto *n)
{
    const char *d = str(n->domain);
    if (d[0] && strcmp(d, "ai.onnx") != 0)
        return NULL;
    for (size_t i = 0; i < sizeof IMPORTERS / sizeof IMPORTERS[0]; i++)
        if (strcmp(IMPORTERS[i].op_type, n->op_type) == 0)
            return IMPORTERS[i].fn;
    return NULL;
}

static bool has_importer(const Onnx__NodeProto *n) { return importer_of(n) != NULL; }

/* Every node of the ordered graph frost has no importer for, in one message. */
static frost_status check_supported(const importer *im)
{
    char msg[1024];
    int bad = frost_onnx_list_unknown(im->g, im->order, im->n_order, has_importer, im->opset, msg,
                                      sizeof msg);
    if (bad == 0)
        return FROST_OK;
    return frost_fail(FROST_ERR_UNSUPPORTED, "ONNX model has %d node%s frost does not support: %s",
                      bad, bad > 1 ? "s" : "", msg);
}

/* ---------------------------------------------------------------- node helpers */

static frost_status fail_node(const char *label, const Onnx__NodeProto *n, const char *why)
{
    return frost_fail(FROST_ERR_UNSUPPORTED, "ONNX node '%s' (%s): %s", label, n->op_type, why);
}

/* Input i as an activation; NULL (error set) if it is absent or a constant. */
static const value *in_act(importer *im, const Onnx__NodeProto *n, size_t i, const char *label)
{
    const value *v = i < n->n_input && n->input[i][0] ? find_value(im, n->input[i]) : NULL;
    if (!v || v->kind != VAL_ACT) {
        frost_fail(FROST_ERR_UNSUPPORTED,
                   "ONNX node '%s' (%s): input %zu must be a computed tensor", label, n->op_type,
                   i);
        return NULL;
    }
    return v;
}

/* Input i as a constant (initializer or Constant output); NULL if absent (`optional`) or
 * not constant (error set unless optional and absent). */
static const Onnx__TensorProto *in_const(importer *im, const Onnx__NodeProto *n, size_t i,
                                         const char *label, bool optional)
{
    if (i >= n->n_input || !n->input[i][0]) {
        if (!optional)
            frost_fail(FROST_ERR_FORMAT, "ONNX node '%s' (%s): input %zu is missing", label,
                       n->op_type, i);
        return NULL;
    }
    const value *v = find_value(im, n->input[i]);
    if (!v || v->kind != VAL_CONST) {
        frost_fail(FROST_ERR_UNSUPPORTED,
                   "ONNX node '%s' (%s): input %zu ('%s') must be a constant (an initializer)",
                   label, n->op_type, i, n->input[i]);
        return NULL;
    }
    return v->t;
}

/* The floats of a constant that must hold exactly `numel` values. */
static frost_status const_floats(const Onnx__TensorProto *t, int64_t numel, const char *label,
                                 const char *what, float **out)
{
    *out = NULL;
    if (frost_onnx_tensor_numel(t) != numel)
        return frost_fail(FROST_ERR_SHAPE, "ONNX node '%s': %s '%s' has %lld values, expected %lld",
                          label, what, str(t->name), (long long)frost_onnx_tensor_numel(t),
                          (long long)numel);
    char desc[160];
    snprintf(desc, sizeof desc, "%s of node '%s'", what, label);
    return frost_onnx_tensor_floats(t, desc, out);
}

/* A frost node name from the ONNX output name: unique, at most FROST_NAME_LEN-1 bytes. */
static void node_name(const importer *im, const Onnx__NodeProto *n, char *name)
{
    const char *src = n->output[0];
    size_t len = strlen(src);
    if (len < FROST_NAME_LEN && frost_g_find(im->m, src) < 0) {
        memcpy(name, src, len + 1);
        return;
    }
    /* keep the end (the most specific part) after a unique prefix */
    char prefix[16];
    int p = snprintf(prefix, sizeof prefix, "n%d_", im->m->n_nodes);
    size_t keep = FROST_NAME_LEN - 1 - (size_t)p;
    const char *tail = len > keep ? src + len - keep : src;
    snprintf(name, FROST_NAME_LEN, "%s%s", prefix, tail);
}

/* Adds a frost layer for ONNX node n and defines its output 0. */
static int add_layer(importer *im, const Onnx__NodeProto *n, frost_op op, int n_in, const int *in,
                     const frost_layer_attrs *a, int rank)
{
    char name[FROST_NAME_LEN];
    node_name(im, n, name);
    int idx = frost_g_layer(im->m, name, op, n_in, in, a);
    if (idx >= 0)
        define_value(im, n->output[0], (value){.kind = VAL_ACT, .node = idx, .rank = rank});
    return idx;
}

/* Adds the layer for ONNX node n on inputs in[0..n_in) whose output is laid out as
 * `layout` (rank and flattening kept: elementwise ops, dropout) and defines n's output. */
static frost_status add_layer_like(importer *im, const Onnx__NodeProto *n, frost_op op, int n_in,
                                   const int *in, const frost_layer_attrs *a, const value *layout)
{
    value keep = *layout; /* a copy: `layout` points into the value table */
    int idx = add_layer(im, n, op, n_in, in, a, keep.rank);
    if (idx < 0)
        return FROST_ERR_SHAPE;
    keep.node = idx;
    define_value(im, n->output[0], keep);
    return FROST_OK;
}

static frost_param *param(importer *im, int index) { return &im->m->params[index]; }

static frost_node *node(importer *im, int index) { return &im->m->nodes[index]; }

/* Pads / strides / kernel of a conv or pool node as one square: k taps `dilation` apart
 * (spanning span = dilation*(k-1)+1 pixels), stride, pad. */
typedef struct {
    int k, dilation, span, stride, pad;
} window;

static frost_status read_window(importer *im, const Onnx__NodeProto *n, const char *label, int in_h,
                                int in_w, int kernel_h, int kernel_w, window *w)
{
    int64_t ks[4], st[4] = {1, 1}, pads[8] = {0}, dil[4] = {1, 1};
    int nk, ns, np, nd;
    FROST_TRY(frost_onnx_attr_ints(n, label, "kernel_shape", ks, 4, &nk));
    FROST_TRY(frost_onnx_attr_ints(n, label, "strides", st, 4, &ns));
    FROST_TRY(frost_onnx_attr_ints(n, label, "pads", pads, 8, &np));
    FROST_TRY(frost_onnx_attr_ints(n, label, "dilations", dil, 4, &nd));
    (void)im;
    if (nk == 0) {
        ks[0] = kernel_h, ks[1] = kernel_w, nk = 2;
    }
    if (nk != 2 || (kernel_h > 0 && (ks[0] != kernel_h || ks[1] != kernel_w)))
        return fail_node(label, n, "kernel_shape must be 2-D and match the weights");
    if ((ns != 0 && ns != 2) || (np != 0 && np != 4) || (nd != 0 && nd != 2))
        return fail_node(label, n, "strides, pads and dilations must be 2-D");
    if (ks[0] != ks[1] || st[0] != st[1] || dil[0] != dil[1])
        return fail_node(label, n,
                         "only square kernels, equal strides and equal dilations are supported");
    if (dil[0] != 1 && kernel_h <= 0)
        return fail_node(label, n, "dilated pooling is not supported");
    if (ks[0] < 1 || st[0] < 1 || st[0] > 64 || dil[0] < 1 || dil[0] > 64 ||
        dil[0] * (ks[0] - 1) + 1 > 64)
        return fail_node(label, n, "kernel, stride or dilation out of range (a span of 1..64)");
    const char *auto_pad;
    FROST_TRY(frost_onnx_attr_string(n, label, "auto_pad", "NOTSET", &auto_pad));
    int taps = (int)ks[0], s = (int)st[0], d = (int)dil[0], k = d * (taps - 1) + 1;
    if (strcmp(auto_pad, "VALID") == 0) {
        memset(pads, 0, sizeof pads);
    } else if (strcmp(auto_pad, "SAME_UPPER") == 0 || strcmp(auto_pad, "SAME_LOWER") == 0) {
        bool upper = auto_pad[5] == 'U';
        int dims[2] = {in_h, in_w};
        for (int a = 0; a < 2; a++) {
            int out = (dims[a] + s - 1) / s;
            int total = (out - 1) * s + k - dims[a];
            total = total > 0 ? total : 0;
            pads[a] = upper ? total / 2 : total - total / 2;
            pads[a + 2] = total - pads[a];
        }
    } else if (strcmp(auto_pad, "NOTSET") != 0) {
        return fail_node(label, n, "unknown auto_pad value");
    }
    if (pads[0] != pads[1] || pads[0] != pads[2] || pads[0] != pads[3])
        return fail_node(label, n, "only equal padding on all four sides is supported");
    if (pads[0] < 0 || pads[0] >= k)
        return fail_node(label, n, "padding must be in [0, kernel)");
    *w = (window){.k = taps, .dilation = d, .span = k, .stride = s, .pad = (int)pads[0]};
    return FROST_OK;
}

/* ---------------------------------------------------------------- op importers */

static frost_status imp_conv(importer *im, const Onnx__NodeProto *n, const char *label)
{
    const value *x = in_act(im, n, 0, label);
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    if (x->rank != 4)
        return fail_node(label, n, "the input must be 4-D (NCHW)");
    const Onnx__TensorProto *wt = in_const(im, n, 1, label, false);
    if (!wt)
        return FROST_ERR_UNSUPPORTED;
    const Onnx__TensorProto *bt = in_const(im, n, 2, label, true);
    if (!bt && n->n_input > 2 && n->input[2][0])
        return FROST_ERR_UNSUPPORTED;
    const frost_node *xn = node(im, x->node);
    if (wt->n_dims != 4)
        return fail_node(label, n, "the weight must be 4-D (OIHW)");
    int64_t group;
    FROST_TRY(frost_onnx_attr_int(n, label, "group", 1, &group));
    int64_t cout = wt->dims[0], cin_g = wt->dims[1];
    if (group < 1 || group > xn->c || cin_g * group != xn->c || cout % group != 0)
        return frost_fail(FROST_ERR_SHAPE,
                          "ONNX node '%s' (Conv): weight [%lld, %lld, ...] with group %lld does "
                          "not fit %d input channels",
                          label, (long long)cout, (long long)cin_g, (long long)group, xn->c);
    window w;
    FROST_TRY(read_window(im, n, label, xn->h, xn->w, (int)wt->dims[2], (int)wt->dims[3], &w));
    frost_layer_attrs a;
    frost_layer_attrs_default(FROST_OP_CONV, &a);
    /* a dilated kernel becomes the dense one spanning the same pixels, zeros between the
     * taps: the same numbers in every engine (docs/interop.md) */
    a.out = (int)cout, a.k = w.span, a.stride = w.stride, a.pad = w.pad, a.groups = (int)group;
    a.bias = bt != NULL;
    float *wv = NULL, *bv = NULL;
    frost_status s = const_floats(wt, frost_onnx_tensor_numel(wt), label, "weight", &wv);
    if (s == FROST_OK && bt)
        s = const_floats(bt, cout, label, "bias", &bv);
    int idx = s == FROST_OK ? add_layer(im, n, FROST_OP_CONV, 1, &x->node, &a, 4) : -1;
    if (idx >= 0) {
        /* OIHW -> OHWI */
        frost_param *wp = param(im, node(im, idx)->weight);
        float *dst = wp->data;
        memset(dst, 0, (size_t)wp->numel * sizeof *dst);
        int k = w.k, span = w.span, d = w.dilation, ci = (int)cin_g;
        for (int o = 0; o < (int)cout; o++)
            for (int i = 0; i < ci; i++)
                for (int y = 0; y < k; y++)
                    for (int xx = 0; xx < k; xx++)
                        dst[(((size_t)o * span + y * d) * span + xx * d) * ci + i] =
                            wv[(((size_t)o * ci + i) * k + y) * k + xx];
        if (bv)
            memcpy(param(im, node(im, idx)->bias_p)->data, bv, (size_t)cout * sizeof *bv);
    } else if (s == FROST_OK) {
        s = FROST_ERR_SHAPE;
    }
    free(wv);
    free(bv);
    return s;
}

static frost_status imp_bn(importer *im, const Onnx__NodeProto *n, const char *label)
{
    const value *x = in_act(im, n, 0, label);
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    if (x->flat_h * x->flat_w > 1)
        return fail_node(label, n, "batch norm over a flattened feature map is not supported");
    if (n->n_output > 1)
        return fail_node(label, n,
                         "training-mode batch norm (more than one output) is not supported; "
                         "export the model in eval mode");
    int64_t training;
    FROST_TRY(frost_onnx_attr_int(n, label, "training_mode", 0, &training));
    if (training)
        return fail_node(label, n, "training_mode=1 is not supported; export in eval mode");
    int c = node(im, x->node)->c;
    frost_layer_attrs a;
    frost_layer_attrs_default(FROST_OP_BN, &a);
    float onnx_momentum;
    FROST_TRY(frost_onnx_attr_float(n, label, "epsilon", 1e-5f, &a.eps));
    FROST_TRY(frost_onnx_attr_float(n, label, "momentum", 0.9f, &onnx_momentum));
    /* ONNX: running = running * momentum + batch * (1 - momentum); frost as PyTorch */
    a.momentum = 1.0f - onnx_momentum;
    float *v[4] = {NULL};
    static const char *what[4] = {"scale", "bias", "mean", "var"};
    frost_status s = FROST_OK;
    for (int i = 0; i < 4 && s == FROST_OK; i++) {
        const Onnx__TensorProto *t = in_const(im, n, (size_t)i + 1, label, false);
        s = t ? const_floats(t, c, label, what[i], &v[i]) : FROST_ERR_UNSUPPORTED;
    }
    for (int i = 0; i < c && s == FROST_OK; i++)
        if (!(v[3][i] >= 0.0f) || !isfinite(v[3][i]))
            s = frost_fail(FROST_ERR_FORMAT, "ONNX node '%s': variance %d is %g", label, i,
                           (double)v[3][i]);
    int idx = s == FROST_OK ? add_layer(im, n, FROST_OP_BN, 1, &x->node, &a, x->rank) : -1;
    if (idx >= 0) {
        frost_node *b = node(im, idx);
        memcpy(param(im, b->gamma)->data, v[0], (size_t)c * sizeof(float));
        memcpy(param(im, b->beta)->data, v[1], (size_t)c * sizeof(float));
        memcpy(im->m->buffers[b->running_mean].data, v[2], (size_t)c * sizeof(float));
        memcpy(im->m->buffers[b->running_var].data, v[3], (size_t)c * sizeof(float));
    } else if (s == FROST_OK) {
        s = FROST_ERR_SHAPE;
    }
    for (int i = 0; i < 4; i++)
        free(v[i]);
    return s;
}

/* Defines n's output as activation `act` of input 0, keeping its layout. */
static frost_status add_act(importer *im, const Onnx__NodeProto *n, const char *label,
                            frost_act_kind act)
{
    const value *x = in_act(im, n, 0, label);
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    frost_layer_attrs a;
    frost_layer_attrs_default(FROST_OP_ACT, &a);
    a.act = act;
    return add_layer_like(im, n, FROST_OP_ACT, 1, &x->node, &a, x);
}

static frost_status imp_act(importer *im, const Onnx__NodeProto *n, const char *label)
{
    if (strcmp(n->op_type, "Relu") == 0)
        return add_act(im, n, label, FROST_ACT_RELU);
    if (strcmp(n->op_type, "Sigmoid") == 0)
        return add_act(im, n, label, FROST_ACT_SIGMOID);
    return add_act(im, n, label, FROST_ACT_HSWISH);
}

/* Clip's bound from its input (opset >= 11) or attribute; `def` when absent. */
static frost_status clip_bound(importer *im, const Onnx__NodeProto *n, const char *label, int i,
                               const char *attr, float def, float *out)
{
    *out = def;
    if (im->opset < 11)
        return frost_onnx_attr_float(n, label, attr, def, out);
    const Onnx__TensorProto *t = in_const(im, n, (size_t)i, label, true);
    if (!t)
        return (size_t)i < n->n_input && n->input[i][0] ? FROST_ERR_UNSUPPORTED : FROST_OK;
    float *v;
    FROST_TRY(const_floats(t, 1, label, attr, &v));
    *out = v[0];
    free(v);
    return FROST_OK;
}

static frost_status imp_clip(importer *im, const Onnx__NodeProto *n, const char *label)
{
    float lo, hi;
    FROST_TRY(clip_bound(im, n, label, 1, "min", -INFINITY, &lo));
    FROST_TRY(clip_bound(im, n, label, 2, "max", INFINITY, &hi));
    if (lo == 0.0f && hi == 6.0f)
        return add_act(im, n, label, FROST_ACT_RELU6);
    if (lo == 0.0f && isinf(hi) && hi > 0)
        return add_act(im, n, label, FROST_ACT_RELU);
    if (lo == -1.0f && hi == 1.0f)
        return add_act(im, n, label, FROST_ACT_HARDTANH);
    char why[160];
    snprintf(why, sizeof why,
             "Clip(%g, %g) is supported only as ReLU (0, inf), ReLU6 (0, 6) or hardtanh (-1, 1)",
             (double)lo, (double)hi);
    return fail_node(label, n, why);
}

static frost_status imp_hardsigmoid(importer *im, const Onnx__NodeProto *n, const char *label)
{
    float alpha, beta;
    FROST_TRY(frost_onnx_attr_float(n, label, "alpha", 0.2f, &alpha));
    FROST_TRY(frost_onnx_attr_float(n, label, "beta", 0.5f, &beta));
    if (fabsf(alpha - 1.0f / 6.0f) > 1e-6f || fabsf(beta - 0.5f) > 1e-6f)
        return fail_node(label, n,
                         "only HardSigmoid(alpha=1/6, beta=0.5) (PyTorch's hardsigmoid) is "
                         "supported");
    return add_act(im, n, label, FROST_ACT_HSIGMOID);
}

/* Same-shape activations (after layout). */
static bool same_layout(importer *im, const value *a, const value *b)
{
    const frost_node *x = node(im, a->node), *y = node(im, b->node);
    return a->rank == b->rank && x->h == y->h && x->w == y->w && x->c == y->c &&
           a->flat_h == b->flat_h && a->flat_w == b->flat_w && a->flat_c == b->flat_c;
}

static frost_status imp_add(importer *im, const Onnx__NodeProto *n, const char *label)
{
    const value *a = in_act(im, n, 0, label), *b = a ? in_act(im, n, 1, label) : NULL;
    if (!a || !b)
        return FROST_ERR_UNSUPPORTED;
    if (!same_layout(im, a, b))
        return fail_node(label, n, "only the sum of two tensors of the same shape is supported");
    int in[2] = {a->node, b->node};
    frost_layer_attrs at;
    frost_layer_attrs_default(FROST_OP_ADD, &at);
    return add_layer_like(im, n, FROST_OP_ADD, 2, in, &at, a);
}

/* x * hardsigmoid(x) is hard-swish (how PyTorch exports it below opset 14) and
 * x * sigmoid(x) is SiLU: the gate node, read only by this Mul, becomes the product. */
static bool fuse_gated_act(importer *im, const Onnx__NodeProto *n, const value *a, const value *b)
{
    for (int side = 0; side < 2; side++) {
        const value *x = side ? b : a, *gate = side ? a : b;
        frost_node *g = node(im, gate->node);
        const char *gate_name = n->input[side ? 0 : 1];
        if (g->op != FROST_OP_ACT || g->n_in != 1 || g->in[0] != x->node ||
            readers_of(im, gate_name) != 1 ||
            (g->act != FROST_ACT_HSIGMOID && g->act != FROST_ACT_SIGMOID))
            continue;
        g->act = g->act == FROST_ACT_HSIGMOID ? FROST_ACT_HSWISH : FROST_ACT_SILU;
        /* the layer now computes the Mul's output: named after it, as layers are (a
         * frost export's hswish / silu layer gets its own name back) */
        char name[FROST_NAME_LEN];
        node_name(im, n, name);
        memcpy(g->name, name, sizeof name);
        define_value(im, n->output[0], *gate);
        return true;
    }
    return false;
}

static frost_status imp_mul(importer *im, const Onnx__NodeProto *n, const char *label)
{
    const value *a = in_act(im, n, 0, label), *b = a ? in_act(im, n, 1, label) : NULL;
    if (!a || !b)
        return FROST_ERR_UNSUPPORTED;
    if (fuse_gated_act(im, n, a, b))
        return FROST_OK;
    const frost_node *na = node(im, a->node), *nb = node(im, b->node);
    if (na->h * na->w == 1 && nb->h * nb->w > 1) { /* the per-channel gate goes second */
        const value *t = a;
        a = b, b = t;
    }
    if (a->rank != b->rank || a->flat_h * a->flat_w > 1 || b->flat_h * b->flat_w > 1)
        return fail_node(label, n,
                         "only products of same-shape tensors or a map and a per-channel "
                         "[N, C, 1, 1] gate are supported");
    int in[2] = {a->node, b->node};
    frost_layer_attrs at;
    frost_layer_attrs_default(FROST_OP_MUL, &at);
    return add_layer_like(im, n, FROST_OP_MUL, 2, in, &at, a);
}

static frost_status imp_concat(importer *im, const Onnx__NodeProto *n, const char *label)
{
    int64_t axis;
    FROST_TRY(frost_onnx_attr_int(n, label, "axis", 1, &axis));
    const value *first = n->n_input > 0 ? find_value(im, n->input[0]) : NULL;
    if (first && first->kind == VAL_CONST)
        return imp_fold(im, n, label);
    if (n->n_input < 1 || n->n_input > FROST_MAX_NODE_INPUTS)
        return fail_node(label, n, "between 1 and 8 inputs are supported");
    int in[FROST_MAX_NODE_INPUTS];
    for (size_t i = 0; i < n->n_input; i++) {
        const value *v = in_act(im, n, i, label);
        if (!v)
            return FROST_ERR_UNSUPPORTED;
        if (v->rank != 4 || (axis != 1 && axis != -3))
            return fail_node(label, n, "only the channel axis of 4-D tensors is supported");
        in[i] = v->node;
    }
    if (n->n_input == 1) {
        define_value(im, n->output[0], *find_value(im, n->input[0]));
        return FROST_OK;
    }
    frost_layer_attrs a;
    frost_layer_attrs_default(FROST_OP_CONCAT, &a);
    return add_layer(im, n, FROST_OP_CONCAT, (int)n->n_input, in, &a, 4) < 0 ? FROST_ERR_SHAPE
                                                                             : FROST_OK;
}

/* Global average pool of input 0; keepdims selects the ONNX rank of the result. */
static frost_status add_gap(importer *im, const Onnx__NodeProto *n, const char *label, bool keep)
{
    const value *x = in_act(im, n, 0, label);
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    if (x->rank != 4)
        return fail_node(label, n, "the input must be 4-D (NCHW)");
    frost_layer_attrs a;
    frost_layer_attrs_default(FROST_OP_GAP, &a);
    return add_layer(im, n, FROST_OP_GAP, 1, &x->node, &a, keep ? 4 : 2) < 0 ? FROST_ERR_SHAPE
                                                                             : FROST_OK;
}

static frost_status imp_gap(importer *im, const Onnx__NodeProto *n, const char *label)
{
    return add_gap(im, n, label, true);
}

static frost_status imp_reducemean(importer *im, const Onnx__NodeProto *n, const char *label)
{
    int64_t axes[8], keep;
    int na;
    FROST_TRY(frost_onnx_attr_ints(n, label, "axes", axes, 8, &na));
    FROST_TRY(frost_onnx_attr_int(n, label, "keepdims", 1, &keep));
    bool h = false, w = false, other = false;
    for (int i = 0; i < na; i++) {
        int64_t ax = axes[i] < 0 ? axes[i] + 4 : axes[i];
        h |= ax == 2, w |= ax == 3, other |= ax != 2 && ax != 3;
    }
    if (!h || !w || other)
        return fail_node(label, n, "only the mean over H and W (axes 2, 3) is supported");
    return add_gap(im, n, label, keep != 0);
}

static frost_status imp_pool(importer *im, const Onnx__NodeProto *n, const char *label)
{
    const value *x = in_act(im, n, 0, label);
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    if (x->rank != 4)
        return fail_node(label, n, "the input must be 4-D (NCHW)");
    if (n->n_output > 1)
        return fail_node(label, n, "the indices output is not supported");
    const frost_node *xn = node(im, x->node);
    window w;
    FROST_TRY(read_window(im, n, label, xn->h, xn->w, 0, 0, &w));
    int64_t ceil_mode, storage, include_pad;
    FROST_TRY(frost_onnx_attr_int(n, label, "ceil_mode", 0, &ceil_mode));
    FROST_TRY(frost_onnx_attr_int(n, label, "storage_order", 0, &storage));
    FROST_TRY(frost_onnx_attr_int(n, label, "count_include_pad", 0, &include_pad));
    bool avg = strcmp(n->op_type, "AveragePool") == 0;
    if (storage != 0)
        return fail_node(label, n, "storage_order 1 is not supported");
    if (avg && include_pad && w.pad > 0)
        return fail_node(label, n,
                         "count_include_pad=1 with padding is not supported (frost averages "
                         "over the pixels inside the image)");
    if (ceil_mode) {
        /* fine when rounding up gives the same size as rounding down */
        int span = xn->h + 2 * w.pad - w.span;
        if (span % w.stride != 0 || (xn->w + 2 * w.pad - w.span) % w.stride != 0)
            return fail_node(label, n, "ceil_mode=1 is supported only where it changes nothing");
    }
    frost_layer_attrs a;
    frost_op op = avg ? FROST_OP_AVGPOOL : FROST_OP_MAXPOOL;
    frost_layer_attrs_default(op, &a);
    a.k = w.span, a.stride = w.stride, a.pad = w.pad;
    return add_layer(im, n, op, 1, &x->node, &a, 4) < 0 ? FROST_ERR_SHAPE : FROST_OK;
}

/* A fully connected layer on rank-2 input x: weight w[out][in] (row-major, ONNX feature
 * order), optional bias. */
static frost_status add_linear(importer *im, const Onnx__NodeProto *n, const value *x,
                               const float *w, int out, int fin, const float *bias)
{
    const frost_node *xn = node(im, x->node);
    int64_t frost_in = (int64_t)xn->h * xn->w * xn->c;
    if (x->rank != 2 || frost_in != fin) {
        char why[160];
        snprintf(why, sizeof why, "expects %d input features, the input has %lld%s", fin,
                 (long long)frost_in, x->rank != 2 ? " and is not 2-D" : "");
        return fail_node(n->name && n->name[0] ? n->name : n->output[0], n, why);
    }
    frost_layer_attrs a;
    frost_layer_attrs_default(FROST_OP_LINEAR, &a);
    a.out = out, a.bias = bias != NULL;
    int idx = add_layer(im, n, FROST_OP_LINEAR, 1, &x->node, &a, 2);
    if (idx < 0)
        return FROST_ERR_SHAPE;
    float *dst = param(im, node(im, idx)->weight)->data;
    int fh = x->flat_h, fw = x->flat_w, fc = x->flat_c;
    bool permute = fh * fw > 1;
    for (int o = 0; o < out; o++)
        for (int f = 0; f < fin; f++) {
            /* frost feature f = (y*W + x)*C + c; ONNX's = c*H*W + y*W + x */
            int src = f;
            if (permute) {
                int c = f % fc, pix = f / fc;
                src = c * fh * fw + pix;
            }
            dst[(size_t)o * fin + f] = w[(size_t)o * fin + src];
        }
    if (bias)
        memcpy(param(im, node(im, idx)->bias_p)->data, bias, (size_t)out * sizeof *bias);
    return FROST_OK;
}

static frost_status imp_gemm(importer *im, const Onnx__NodeProto *n, const char *label)
{
    const value *x = in_act(im, n, 0, label);
    const Onnx__TensorProto *bt = x ? in_const(im, n, 1, label, false) : NULL;
    if (!x || !bt)
        return FROST_ERR_UNSUPPORTED;
    const Onnx__TensorProto *ct = in_const(im, n, 2, label, true);
    if (!ct && n->n_input > 2 && n->input[2][0])
        return FROST_ERR_UNSUPPORTED;
    int64_t trans_a, trans_b;
    float alpha, beta;
    FROST_TRY(frost_onnx_attr_int(n, label, "transA", 0, &trans_a));
    FROST_TRY(frost_onnx_attr_int(n, label, "transB", 0, &trans_b));
    FROST_TRY(frost_onnx_attr_float(n, label, "alpha", 1.0f, &alpha));
    FROST_TRY(frost_onnx_attr_float(n, label, "beta", 1.0f, &beta));
    if (trans_a)
        return fail_node(label, n, "transA=1 is not supported");
    if (bt->n_dims != 2)
        return fail_node(label, n, "the weight must be 2-D");
    int out = (int)(trans_b ? bt->dims[0] : bt->dims[1]);
    int fin = (int)(trans_b ? bt->dims[1] : bt->dims[0]);
    if (out < 1 || fin < 1)
        return fail_node(label, n, "empty weight");
    float *b = NULL, *w = malloc((size_t)out * fin * sizeof *w), *bias = NULL;
    frost_status s = w ? const_floats(bt, (int64_t)out * fin, label, "weight", &b)
                       : frost_fail(FROST_ERR_NOMEM, "out of memory");
    if (s == FROST_OK && ct && frost_onnx_tensor_numel(ct) == 1) {
        float *c1;
        s = const_floats(ct, 1, label, "bias", &c1);
        if (s == FROST_OK && (bias = malloc((size_t)out * sizeof *bias)) != NULL)
            for (int o = 0; o < out; o++)
                bias[o] = c1[0];
        free(c1);
    } else if (s == FROST_OK && ct) {
        s = const_floats(ct, out, label, "bias", &bias);
    }
    if (s == FROST_OK) {
        for (int o = 0; o < out; o++)
            for (int f = 0; f < fin; f++)
                w[(size_t)o * fin + f] =
                    alpha * (trans_b ? b[(size_t)o * fin + f] : b[(size_t)f * out + o]);
        for (int o = 0; bias && o < out; o++)
            bias[o] *= beta;
        s = add_linear(im, n, x, w, out, fin, bias);
    }
    free(w), free(b), free(bias);
    return s;
}

/* The node reading MatMul n's output, when it is an Add of a constant [out] bias and the
 * only reader: its index, else -1. */
static int bias_add_after(importer *im, const Onnx__NodeProto *n, int out)
{
    if (readers_of(im, n->output[0]) != 1)
        return -1;
    for (int k = 0; k < im->n_order; k++) {
        const Onnx__NodeProto *a = im->g->node[im->order[k]];
        if (strcmp(a->op_type, "Add") != 0 || a->n_input != 2)
            continue;
        for (int side = 0; side < 2; side++) {
            if (strcmp(a->input[side], n->output[0]) != 0)
                continue;
            const value *c = find_value(im, a->input[1 - side]);
            if (c && c->kind == VAL_CONST && frost_onnx_tensor_numel(c->t) == out &&
                c->t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
                return im->order[k];
        }
    }
    return -1;
}

static frost_status imp_matmul(importer *im, const Onnx__NodeProto *n, const char *label)
{
    const value *x = in_act(im, n, 0, label);
    const Onnx__TensorProto *bt = x ? in_const(im, n, 1, label, false) : NULL;
    if (!x || !bt)
        return FROST_ERR_UNSUPPORTED;
    if (bt->n_dims != 2 || bt->dims[0] < 1 || bt->dims[1] < 1)
        return fail_node(label, n, "the weight must be a 2-D constant");
    int fin = (int)bt->dims[0], out = (int)bt->dims[1];
    float *b, *w = NULL, *bias = NULL;
    FROST_TRY(const_floats(bt, (int64_t)fin * out, label, "weight", &b));
    frost_status s = FROST_OK;
    if (!(w = malloc((size_t)out * fin * sizeof *w)))
        s = frost_fail(FROST_ERR_NOMEM, "out of memory");
    for (int o = 0; s == FROST_OK && o < out; o++)
        for (int f = 0; f < fin; f++)
            w[(size_t)o * fin + f] = b[(size_t)f * out + o];
    int add = s == FROST_OK ? bias_add_after(im, n, out) : -1;
    const Onnx__NodeProto *an = add >= 0 ? im->g->node[add] : NULL;
    if (an) {
        const char *cname = strcmp(an->input[0], n->output[0]) == 0 ? an->input[1] : an->input[0];
        s = frost_onnx_tensor_floats(find_value(im, cname)->t, "bias", &bias);
    }
    if (s == FROST_OK)
        s = add_linear(im, n, x, w, out, fin, bias);
    if (s == FROST_OK && an) {
        /* the Add is this layer's bias: its output is the linear layer's */
        define_value(im, an->output[0], *find_value(im, n->output[0]));
        im->done[add] = true;
    }
    free(b), free(w), free(bias);
    return s;
}

/* Flattens activation x to [N, F] as output 0 of n. */
static frost_status add_flatten(importer *im, const Onnx__NodeProto *n, const value *x)
{
    const frost_node *xn = node(im, x->node);
    value v = *x;
    if (x->rank == 4) {
        frost_layer_attrs a;
        frost_layer_attrs_default(FROST_OP_FLATTEN, &a);
        int h = xn->h, w = xn->w, c = xn->c;
        int idx = add_layer(im, n, FROST_OP_FLATTEN, 1, &x->node, &a, 2);
        if (idx < 0)
            return FROST_ERR_SHAPE;
        v = (value){.kind = VAL_ACT, .node = idx, .rank = 2};
        if (h * w > 1)
            v.flat_h = h, v.flat_w = w, v.flat_c = c;
    }
    define_value(im, n->output[0], v);
    return FROST_OK;
}

static frost_status imp_flatten(importer *im, const Onnx__NodeProto *n, const char *label)
{
    const value *x = in_act(im, n, 0, label);
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    int64_t axis;
    FROST_TRY(frost_onnx_attr_int(n, label, "axis", 1, &axis));
    if (axis != 1 && !(axis == -1 && x->rank == 2) && !(axis == -3 && x->rank == 4))
        return fail_node(label, n, "only axis=1 (keep the batch, flatten the rest) is supported");
    return add_flatten(im, n, x);
}

static frost_status imp_reshape(importer *im, const Onnx__NodeProto *n, const char *label)
{
    const value *x = in_act(im, n, 0, label);
    const Onnx__TensorProto *st = x ? in_const(im, n, 1, label, false) : NULL;
    if (!x || !st)
        return FROST_ERR_UNSUPPORTED;
    int64_t *shape;
    FROST_TRY(frost_onnx_tensor_ints(st, "shape", &shape));
    const frost_node *xn = node(im, x->node);
    int64_t features = (int64_t)xn->h * xn->w * xn->c, numel = frost_onnx_tensor_numel(st);
    bool batch = numel >= 1 && (shape[0] == 0 || shape[0] == -1 || shape[0] >= 1);
    bool ok = numel == 2 && batch && (shape[1] == -1 || shape[1] == features) &&
              !(shape[0] == -1 && shape[1] == -1);
    /* [N, C] -> [N, C, 1, 1] (a fully connected output fed to a conv or a channel gate) */
    bool to_map = numel == 4 && batch && x->rank == 2 && x->flat_h * x->flat_w <= 1 &&
                  shape[1] == features && shape[2] == 1 && shape[3] == 1;
    free(shape);
    if (to_map) {
        value v = *x;
        v.rank = 4;
        define_value(im, n->output[0], v);
        return FROST_OK;
    }
    if (!ok)
        return fail_node(label, n,
                         "only a reshape to [N, -1] (flatten) or of [N, C] to [N, C, 1, 1] is "
                         "supported");
    return add_flatten(im, n, x);
}

/* Output 0 is input 0 (at inference). */
static frost_status imp_identity(importer *im, const Onnx__NodeProto *n, const char *label)
{
    const value *x = in_act(im, n, 0, label);
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    define_value(im, n->output[0], *x);
    return FROST_OK;
}

/* A Pad that adds nothing (PyTorch writes one before every AvgPool2d) is its input. */
static frost_status imp_pad(importer *im, const Onnx__NodeProto *n, const char *label)
{
    const value *x = in_act(im, n, 0, label);
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    int64_t pads[2 * FROST_ONNX_MAX_RANK] = {0};
    int count = 0;
    if (im->opset < 11) {
        FROST_TRY(frost_onnx_attr_ints(n, label, "pads", pads, 2 * FROST_ONNX_MAX_RANK, &count));
    } else {
        const Onnx__TensorProto *t = in_const(im, n, 1, label, false);
        if (!t)
            return FROST_ERR_UNSUPPORTED;
        int64_t *v;
        count = (int)frost_onnx_tensor_numel(t);
        if (count > 2 * FROST_ONNX_MAX_RANK)
            return fail_node(label, n, "too many pads");
        FROST_TRY(frost_onnx_tensor_ints(t, "pads", &v));
        memcpy(pads, v, (size_t)count * sizeof *v);
        free(v);
    }
    for (int i = 0; i < count; i++)
        if (pads[i] != 0)
            return fail_node(label, n,
                             "only a Pad that adds nothing is supported (padding belongs in the "
                             "Conv / pool attributes)");
    define_value(im, n->output[0], *x);
    return FROST_OK;
}

/* Kept as a dropout layer (an alias at inference) so fine-tuning drops as the model did. */
static frost_status imp_dropout(importer *im, const Onnx__NodeProto *n, const char *label)
{
    const value *x = in_act(im, n, 0, label);
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    if (n->n_output > 1 && readers_of(im, n->output[1]) > 0)
        return fail_node(label, n, "the mask output is not supported");
    float ratio = 0.5f;
    if (im->opset >= 12) {
        const Onnx__TensorProto *t = in_const(im, n, 1, label, true);
        if (t) {
            float *v;
            FROST_TRY(const_floats(t, 1, label, "ratio", &v));
            ratio = v[0];
            free(v);
        }
    } else {
        FROST_TRY(frost_onnx_attr_float(n, label, "ratio", 0.5f, &ratio));
    }
    frost_layer_attrs a;
    frost_layer_attrs_default(FROST_OP_DROPOUT, &a);
    a.p = ratio;
    return add_layer_like(im, n, FROST_OP_DROPOUT, 1, &x->node, &a, x);
}

/* A tensor for Constant's value_float(s) / value_int(s) attributes, owned by the importer. */
static frost_status owned_tensor(importer *im, const Onnx__AttributeProto *a, const char *name,
                                 const Onnx__TensorProto **out)
{
    Onnx__TensorProto *t = calloc(1, sizeof *t);
    int64_t *dims = calloc(1, sizeof *dims);
    if (!t || !dims) {
        free(t), free(dims);
        return frost_fail(FROST_ERR_NOMEM, "out of memory");
    }
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    im->owned[im->n_owned++] = t;
    t->dims = dims;
    if (strcmp(a->name, "value_float") == 0 || strcmp(a->name, "value_floats") == 0) {
        bool one = a->name[11] == '\0';
        t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        t->float_data = one ? (float *)&a->f : a->floats;
        t->n_float_data = one ? 1 : a->n_floats;
        t->n_dims = one ? 0 : 1;
        dims[0] = (int64_t)t->n_float_data;
    } else {
        bool one = a->name[9] == '\0';
        t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
        t->int64_data = one ? (int64_t *)&a->i : a->ints;
        t->n_int64_data = one ? 1 : a->n_ints;
        t->n_dims = one ? 0 : 1;
        dims[0] = (int64_t)t->n_int64_data;
    }
    *out = t;
    return FROST_OK;
}

static frost_status imp_constant(importer *im, const Onnx__NodeProto *n, const char *label)
{
    if (n->n_attribute != 1)
        return fail_node(label, n, "expects exactly one value attribute");
    const Onnx__AttributeProto *a = n->attribute[0];
    const Onnx__TensorProto *t = NULL;
    if (strcmp(a->name, "value") == 0 && a->t) {
        t = a->t;
    } else if (strcmp(a->name, "value_float") == 0 || strcmp(a->name, "value_floats") == 0 ||
               strcmp(a->name, "value_int") == 0 || strcmp(a->name, "value_ints") == 0) {
        FROST_TRY(owned_tensor(im, a, n->output[0], &t));
    } else {
        return fail_node(label, n, "only tensor, float(s) and int(s) values are supported");
    }
    define_value(im, n->output[0], (value){.kind = VAL_CONST, .t = t});
    return FROST_OK;
}

/* ---------------------------------------------------------------- constant folding */

/* A new tensor owned by the importer: `ndim` dims, `numel` values of `dtype` (float or
 * int64) in raw_data. */
static Onnx__TensorProto *new_const(importer *im, const char *name, int32_t dtype, int ndim,
                                    const int64_t *dims, int64_t numel)
{
    Onnx__TensorProto *t = calloc(1, sizeof *t);
    int64_t *d = calloc((size_t)ndim + 1, sizeof *d);
    uint8_t *data = malloc((size_t)(numel > 0 ? numel : 1) * 8);
    if (!t || !d || !data) {
        free(t), free(d), free(data);
        frost_fail(FROST_ERR_NOMEM, "out of memory");
        return NULL;
    }
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->data_type = dtype;
    t->has_data_type = 1;
    memcpy(d, dims, (size_t)ndim * sizeof *d);
    t->dims = d;
    t->n_dims = (size_t)ndim;
    t->has_raw_data = 1;
    t->raw_data.data = data;
    t->raw_data.len = (size_t)numel * (dtype == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ? 4 : 8);
    im->owned[im->n_owned++] = t;
    return t;
}

/* The values of a float or integer constant as doubles (exact for shape integers). */
static frost_status const_doubles(const Onnx__TensorProto *t, const char *label, double **out)
{
    int64_t n = frost_onnx_tensor_numel(t);
    *out = malloc((size_t)(n > 0 ? n : 1) * sizeof **out);
    if (!*out)
        return frost_fail(FROST_ERR_NOMEM, "out of memory");
    frost_status s;
    if (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        float *f;
        if ((s = frost_onnx_tensor_floats(t, label, &f)) == FROST_OK)
            for (int64_t i = 0; i < n; i++)
                (*out)[i] = f[i];
        free(f);
    } else {
        int64_t *v;
        if ((s = frost_onnx_tensor_ints(t, label, &v)) == FROST_OK)
            for (int64_t i = 0; i < n; i++)
                (*out)[i] = (double)v[i];
        free(v);
    }
    if (s != FROST_OK) {
        free(*out);
        *out = NULL;
    }
    return s;
}

static void store_doubles(Onnx__TensorProto *t, const double *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
            float f = (float)v[i];
            memcpy(t->raw_data.data + 4 * i, &f, 4);
        } else {
            int64_t x = (int64_t)v[i];
            memcpy(t->raw_data.data + 8 * i, &x, 8);
        }
    }
}

/* The axes of Unsqueeze / Squeeze: attribute below opset 13, input 1 from 13 on. */
static frost_status fold_axes(importer *im, const Onnx__NodeProto *n, const char *label,
                              int64_t *axes, int *count)
{
    if (im->opset < 13)
        return frost_onnx_attr_ints(n, label, "axes", axes, FROST_ONNX_MAX_RANK, count);
    *count = 0;
    const Onnx__TensorProto *t = in_const(im, n, 1, label, true);
    if (!t)
        return n->n_input > 1 && n->input[1][0] ? FROST_ERR_UNSUPPORTED : FROST_OK;
    int64_t *v;
    int64_t k = frost_onnx_tensor_numel(t);
    if (k > FROST_ONNX_MAX_RANK)
        return fail_node(label, n, "too many axes");
    FROST_TRY(frost_onnx_tensor_ints(t, "axes", &v));
    memcpy(axes, v, (size_t)k * sizeof *v);
    *count = (int)k;
    free(v);
    return FROST_OK;
}

/* The output dims of Unsqueeze / Squeeze of `t`. */
static frost_status fold_dims(importer *im, const Onnx__NodeProto *n, const char *label,
                              const Onnx__TensorProto *t, int64_t *dims, int *ndim)
{
    int64_t axes[FROST_ONNX_MAX_RANK];
    int na;
    FROST_TRY(fold_axes(im, n, label, axes, &na));
    bool unsq = strcmp(n->op_type, "Unsqueeze") == 0;
    int in_rank = (int)t->n_dims, out_rank = unsq ? in_rank + na : in_rank;
    if (out_rank > FROST_ONNX_MAX_RANK)
        return fail_node(label, n, "result has too many dims");
    bool mark[FROST_ONNX_MAX_RANK] = {false};
    int rank_for_axes = unsq ? out_rank : in_rank;
    for (int i = 0; i < na; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + rank_for_axes : axes[i];
        if (a < 0 || a >= rank_for_axes || mark[a])
            return fail_node(label, n, "axis out of range or repeated");
        mark[a] = true;
    }
    *ndim = 0;
    if (unsq) {
        for (int o = 0, i = 0; o < out_rank; o++)
            dims[(*ndim)++] = mark[o] ? 1 : t->dims[i++];
    } else {
        for (int i = 0; i < in_rank; i++) {
            bool drop = na ? mark[i] : t->dims[i] == 1;
            if (drop && t->dims[i] != 1)
                return fail_node(label, n, "squeezing a dimension that is not 1");
            if (!drop)
                dims[(*ndim)++] = t->dims[i];
        }
    }
    return FROST_OK;
}

/* Shape arithmetic whose inputs are all constants: Cast, Unsqueeze, Squeeze, Concat
 * (1-D), computed here so the node's output is a constant too. */
static frost_status imp_fold(importer *im, const Onnx__NodeProto *n, const char *label)
{
    const Onnx__TensorProto *t = in_const(im, n, 0, label, false);
    if (!t)
        return fail_node(label, n, "supported only on constants (shape arithmetic)");
    int32_t dtype = t->data_type;
    int64_t dims[FROST_ONNX_MAX_RANK];
    int ndim = (int)t->n_dims;
    if (t->n_dims)
        memcpy(dims, t->dims, t->n_dims * sizeof *dims);
    double *v = NULL;
    int64_t numel = frost_onnx_tensor_numel(t);
    if (strcmp(n->op_type, "Cast") == 0) {
        int64_t to;
        FROST_TRY(frost_onnx_attr_int(n, label, "to", 0, &to));
        if (to == ONNX__TENSOR_PROTO__DATA_TYPE__INT32)
            to = ONNX__TENSOR_PROTO__DATA_TYPE__INT64; /* frost reads both as integers */
        if (to != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT &&
            to != ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
            return fail_node(label, n, "only casts to float32, int32 or int64 are supported");
        dtype = (int32_t)to;
        FROST_TRY(const_doubles(t, label, &v));
    } else if (strcmp(n->op_type, "Concat") == 0) {
        if (t->n_dims != 1)
            return fail_node(label, n, "only 1-D constants are concatenated");
        numel = 0;
        for (size_t i = 0; i < n->n_input; i++) {
            const Onnx__TensorProto *p = in_const(im, n, i, label, false);
            if (!p)
                return FROST_ERR_UNSUPPORTED;
            if (p->n_dims != 1 || p->data_type != t->data_type)
                return fail_node(label, n, "only 1-D constants of one type are concatenated");
            numel += frost_onnx_tensor_numel(p);
        }
        if (!(v = malloc((size_t)(numel > 0 ? numel : 1) * sizeof *v)))
            return frost_fail(FROST_ERR_NOMEM, "out of memory");
        for (size_t i = 0, at = 0; i < n->n_input; i++) {
            double *part;
            const Onnx__TensorProto *p = find_value(im, n->input[i])->t;
            frost_status s = const_doubles(p, label, &part);
            if (s != FROST_OK) {
                free(v);
                return s;
            }
            memcpy(v + at, part, (size_t)frost_onnx_tensor_numel(p) * sizeof *v);
            at += (size_t)frost_onnx_tensor_numel(p);
            free(part);
        }
        dims[0] = numel;
    } else {
        FROST_TRY(fold_dims(im, n, label, t, dims, &ndim));
        FROST_TRY(const_doubles(t, label, &v));
    }
    if (dtype != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT &&
        dtype != ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
        free(v);
        return fail_node(label, n, "only float32 and int64 constants are supported");
    }
    Onnx__TensorProto *out = new_const(im, n->output[0], dtype, ndim, dims, numel);
    if (out)
        store_doubles(out, v, numel);
    free(v);
    if (!out)
        return FROST_ERR_NOMEM;
    define_value(im, n->output[0], (value){.kind = VAL_CONST, .t = out});
    return FROST_OK;
}

/* ---------------------------------------------------------------- driver */

static frost_status index_graph(importer *im)
{
    const Onnx__GraphProto *g = im->g;
    size_t n_names = g->n_initializer + g->n_input;
    for (size_t i = 0; i < g->n_node; i++)
        n_names += g->node[i]->n_output;
    size_t n_reads = g->n_output;
    for (size_t i = 0; i < g->n_node; i++)
        n_reads += g->node[i]->n_input;
    if (!frost_strmap_init(&im->init, g->n_initializer) ||
        !frost_strmap_init(&im->producer, n_names) || !frost_strmap_init(&im->val_index, n_names) ||
        !frost_strmap_init(&im->readers, n_reads) ||
        !(im->vals = calloc(n_names + 1, sizeof *im->vals)) ||
        !(im->done = calloc(g->n_node, sizeof *im->done)) ||
        !(im->owned = calloc(g->n_node, sizeof *im->owned)))
        return frost_fail(FROST_ERR_NOMEM, "out of memory indexing the ONNX graph");
    for (size_t i = 0; i < g->n_initializer; i++)
        frost_strmap_put(&im->init, g->initializer[i]->name, (int)i);
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t o = 0; o < g->node[i]->n_output; o++) {
            char buf[96];
            if (frost_strmap_get(&im->producer, g->node[i]->output[o]) >= 0)
                return frost_fail(FROST_ERR_FORMAT, "ONNX value '%s' is written twice (node '%s')",
                                  g->node[i]->output[o],
                                  frost_onnx_node_label(g->node[i], (int)i, buf, sizeof buf));
            frost_strmap_put(&im->producer, g->node[i]->output[o], (int)i);
        }
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++)
            if (g->node[i]->input[k][0])
                frost_strmap_put(&im->readers, g->node[i]->input[k],
                                 readers_of(im, g->node[i]->input[k]) + 1);
    for (size_t i = 0; i < g->n_output; i++)
        frost_strmap_put(&im->readers, g->output[i]->name, readers_of(im, g->output[i]->name) + 1);
    for (size_t i = 0; i < g->n_initializer; i++)
        define_value(im, g->initializer[i]->name,
                     (value){.kind = VAL_CONST, .t = g->initializer[i]});
    return FROST_OK;
}

/* The one graph input that is not an initializer: float [N, C, H, W], C, H, W fixed. */
static frost_status read_input(importer *im, const char *model_name)
{
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t i = 0; i < im->g->n_input; i++) {
        if (frost_strmap_get(&im->init, im->g->input[i]->name) >= 0)
            continue;
        if (in)
            return frost_fail(FROST_ERR_UNSUPPORTED,
                              "ONNX graph has more than one input ('%s', '%s'); frost models take "
                              "one image tensor",
                              in->name, im->g->input[i]->name);
        in = im->g->input[i];
    }
    if (!in)
        return frost_fail(FROST_ERR_FORMAT, "ONNX graph has no input");
    const Onnx__TypeProto *t = in->type;
    const Onnx__TypeProto__Tensor *tt =
        t && t->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ? t->tensor_type : NULL;
    if (!tt || tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || !tt->shape ||
        tt->shape->n_dim != 4)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "ONNX graph input '%s' must be a float32 tensor [N, C, H, W]", in->name);
    int64_t d[4];
    for (int i = 1; i < 4; i++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[i];
        d[i] = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                   ? dim->dim_value
                   : -1;
        if (d[i] < 1 || d[i] > 8192)
            return frost_fail(FROST_ERR_UNSUPPORTED,
                              "ONNX graph input '%s': dimension %d must be a fixed size in "
                              "1..8192 (C, H, W)",
                              in->name, i);
    }
    im->m = frost_g_new(model_name, (int)d[2], (int)d[3], (int)d[1]);
    if (!im->m)
        return FROST_ERR_NOMEM;
    define_value(im, in->name, (value){.kind = VAL_ACT, .node = 0, .rank = 4});
    return FROST_OK;
}

static frost_status convert_nodes(importer *im)
{
    for (int k = 0; k < im->n_order; k++) {
        int i = im->order[k];
        if (im->done[i])
            continue;
        const Onnx__NodeProto *n = im->g->node[i];
        char buf[96];
        const char *label = frost_onnx_node_label(n, i, buf, sizeof buf);
        frost_status s = importer_of(n)(im, n, label);
        if (s != FROST_OK)
            return s;
    }
    return FROST_OK;
}

static frost_status finish(importer *im)
{
    const char *logits = im->g->output[0]->name;
    const value *v = find_value(im, logits);
    if (!v || v->kind != VAL_ACT)
        return frost_fail(FROST_ERR_UNSUPPORTED, "ONNX graph output '%s' is not computed", logits);
    if (v->node != im->m->n_nodes - 1)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "ONNX graph output '%s' is not the last layer frost built", logits);
    const frost_node *last = node(im, v->node);
    if (frost_g_finish(im->m, last->c) < 0)
        return FROST_ERR_SHAPE;
    return FROST_OK;
}

/* The map from ONNX value names to frost nodes, for the values that are activations. */
static frost_status build_map(importer *im)
{
    frost_onnx_map *map = calloc(1, sizeof *map);
    if (!map || !(map->names = calloc((size_t)im->n_vals + 1, sizeof *map->names)) ||
        !(map->node = calloc((size_t)im->n_vals + 1, sizeof *map->node)) ||
        !(map->layout = calloc((size_t)im->n_vals + 1, sizeof *map->layout))) {
        frost_onnx_map_free(map);
        return frost_fail(FROST_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < im->val_index.cap; i++) {
        const char *key = im->val_index.keys[i];
        const value *v = key ? &im->vals[im->val_index.vals[i]] : NULL;
        if (!v || v->kind != VAL_ACT)
            continue;
        snprintf(map->names[map->n], sizeof map->names[0], "%s", key);
        map->node[map->n] = v->node;
        map->layout[map->n++] = (frost_onnx_layout){v->rank, v->flat_h, v->flat_w, v->flat_c};
    }
    im->map = map;
    return FROST_OK;
}

static void model_name_from_path(const char *path, char *name)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(name, FROST_NAME_LEN, "%s", base);
    char *dot = strrchr(name, '.');
    if (dot && dot != name)
        *dot = '\0';
}

static void importer_free(importer *im)
{
    frost_strmap_free(&im->init);
    frost_strmap_free(&im->producer);
    frost_strmap_free(&im->val_index);
    frost_strmap_free(&im->readers);
    free(im->vals);
    free(im->order);
    free(im->done);
    for (int i = 0; i < im->n_owned; i++) {
        free(im->owned[i]->dims);
        if (im->owned[i]->has_raw_data)
            free(im->owned[i]->raw_data.data);
        free(im->owned[i]);
    }
    free(im->owned);
}

/* One "mean" / "std" list of the preprocessing metadata: 1 value, or one per channel. */
static bool metadata_triple(const cJSON *o, const char *key, int in_c, float *v)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
    if (n != 1 && n != in_c)
        return false;
    for (int c = 0; c < 3; c++) {
        const cJSON *x = cJSON_GetArrayItem(a, c < n ? c : n - 1);
        if (!cJSON_IsNumber(x) || !isfinite((float)x->valuedouble))
            return false;
        v[c] = (float)x->valuedouble;
    }
    return true;
}

/* The model's "frost.preprocess" metadata (FROST_ONNX_PREPROCESS_KEY), if it has one;
 * frost wrote it, but it is checked like the rest of the file. */
frost_status frost_onnx_metadata_preprocess(const Onnx__ModelProto *mp, const char *path, int in_c,
                                            frost_preprocess *out, bool *found)
{
    *found = false;
    const char *text = NULL;
    for (size_t i = 0; i < mp->n_metadata_props; i++)
        if (mp->metadata_props[i]->key &&
            strcmp(mp->metadata_props[i]->key, FROST_ONNX_PREPROCESS_KEY) == 0)
            text = mp->metadata_props[i]->value;
    if (!text)
        return FROST_OK;
    cJSON *o = cJSON_Parse(text);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "channels");
    *out = (frost_preprocess){.set = true};
    bool ok = cJSON_IsObject(o) && metadata_triple(o, "mean", in_c, out->mean) &&
              metadata_triple(o, "std", in_c, out->std) &&
              (!ch || (cJSON_IsString(ch) && (strcmp(ch->valuestring, "rgb") == 0 ||
                                              strcmp(ch->valuestring, "bgr") == 0)));
    for (int c = 0; ok && c < 3; c++)
        ok = out->std[c] > 0.0f;
    if (ok && ch)
        out->bgr = strcmp(ch->valuestring, "bgr") == 0;
    cJSON_Delete(o);
    if (!ok)
        return frost_fail(FROST_ERR_FORMAT,
                          "%s: metadata '%s' must be {\"mean\": [...], \"std\": [...], "
                          "\"channels\": \"rgb\"|\"bgr\"} with 1 or %d finite values per list "
                          "(standard deviations positive)",
                          path, FROST_ONNX_PREPROCESS_KEY, in_c);
    *found = true;
    return FROST_OK;
}

static frost_status import_graph(importer *im, const Onnx__ModelProto *mp, const char *path,
                                 const char *name, const frost_preprocess *pre)
{
    im->g = mp->graph;
    im->opset = frost_onnx_opset(mp);
    if (im->opset < FROST_ONNX_OPSET_MIN || im->opset > FROST_ONNX_OPSET_MAX)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "%s: ONNX opset %d is not supported (frost reads opsets %d to %d; "
                          "re-export with opset_version=13 for example)",
                          path, im->opset, FROST_ONNX_OPSET_MIN, FROST_ONNX_OPSET_MAX);
    char model_name[FROST_NAME_LEN];
    if (name)
        snprintf(model_name, sizeof model_name, "%s", name);
    else
        model_name_from_path(path, model_name);
    FROST_TRY(index_graph(im));
    FROST_TRY(order_nodes(im, im->g->output[0]->name));
    FROST_TRY(check_supported(im));
    FROST_TRY(read_input(im, model_name));
    FROST_TRY(convert_nodes(im));
    FROST_TRY(finish(im));
    frost_preprocess plain = {.set = true, .mean = {0, 0, 0}, .std = {1, 1, 1}}, stored;
    bool has_stored = false;
    if (!pre)
        FROST_TRY(frost_onnx_metadata_preprocess(mp, path, im->m->in_c, &stored, &has_stored));
    FROST_TRY(frost_model_set_preprocess(im->m, pre ? pre : has_stored ? &stored : &plain));
    return build_map(im);
}

static frost_status import_model(const Onnx__ModelProto *mp, const char *path,
                                 const frost_onnx_import_opts *opts, frost_model **out,
                                 frost_onnx_map **map)
{
    importer im;
    memset(&im, 0, sizeof im);
    frost_status s = import_graph(&im, mp, path, opts ? opts->name : NULL, opts ? opts->pre : NULL);
    if (s == FROST_OK) {
        *out = im.m;
        if (map)
            *map = im.map;
        else
            frost_onnx_map_free(im.map);
    } else {
        frost_model_free(im.m);
        frost_onnx_map_free(im.map);
    }
    importer_free(&im);
    return s;
}

frost_status frost_onnx_import_mapped(const char *path, const frost_onnx_import_opts *opts,
                                      frost_model **out, frost_onnx_map **map)
{
    *out = NULL;
    if (map)
        *map = NULL;
    Onnx__ModelProto *mp;
    FROST_TRY(frost_onnx_load(path, &mp));
    frost_status s = import_model(mp, path, opts, out, map);
    frost_onnx_free(mp);
    return s;
}

frost_status frost_onnx_import_bytes(const uint8_t *data, size_t size, const char *what,
                                     const frost_onnx_import_opts *opts, frost_model **out)
{
    *out = NULL;
    Onnx__ModelProto *mp;
    FROST_TRY(frost_onnx_parse(data, size, what, &mp));
    frost_status s = import_model(mp, what, opts, out, NULL);
    frost_onnx_free(mp);
    return s;
}

frost_status frost_onnx_import(const char *path, const frost_onnx_import_opts *opts,
                               frost_model **out)
{
    return frost_onnx_import_mapped(path, opts, out, NULL);
}

int frost_onnx_map_find(const frost_onnx_map *map, const char *value, frost_onnx_layout *layout)
{
    for (int i = 0; map && i < map->n; i++)
        if (strcmp(map->names[i], value) == 0) {
            if (layout)
                *layout = map->layout[i];
            return map->node[i];
        }
    return -1;
}

void frost_onnx_map_free(frost_onnx_map *map)
{
    if (!map)
        return;
    free(map->names);
    free(map->node);
    free(map->layout);
    free(map);
}

bool frost_path_is_onnx(const char *path)
{
    size_t n = strlen(path);
    return n >= 5 && strcmp(path + n - 5, ".onnx") == 0;
}

frost_status frost_model_load(const char *path, frost_model **out)
{
    if (frost_path_is_onnx(path))
        return frost_onnx_import(path, NULL, out);
    return frost_checkpoint_load_model(path, out);
}
