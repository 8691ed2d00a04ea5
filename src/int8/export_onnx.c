/*
 * ONNX QDQ export of an int8 model (docs/interop.md#onnx-qdq-export).
 *
 * The file is the int8 graph written as float ONNX ops between QuantizeLinear /
 * DequantizeLinear pairs carrying frost's own integers: per-channel int8 weights (axis 0,
 * zero point 0), int32 biases on the accumulator grid S_x S_w[c], per-tensor uint8
 * activations with frost's scales and zero points. ONNX Runtime's graph optimizer turns
 * each DequantizeLinear -> op -> QuantizeLinear group into its integer kernel (QLinearConv,
 * QGemm, QLinearAdd, QLinearConcat, QLinearAveragePool, QLinearGlobalAveragePool; MaxPool
 * runs on uint8 directly). What has no QLinear kernel stays integer in the file itself:
 * tables (hard-swish, requantizing copies, max pool's requantization) are Cast + Gather
 * over the uint8 tensor, clamps that the zero point does not already give are a uint8 Clip
 * after the QuantizeLinear. Only the input QuantizeLinear and the output DequantizeLinear
 * are left in float.
 *
 * The model's preprocessing (the mean / std the input is normalized with) is in the
 * metadata as "frost.preprocess", as in the FP32 export: the input QuantizeLinear's scale
 * and zero point are for normalized images, and `frost run` / the QDQ import read it back.
 *
 * Layout: frost is NHWC inside; the file is NCHW (input float32 [N, C, H, W], N symbolic),
 * conv weights OIHW, and fully connected weights have their columns permuted from frost's
 * (y, x, c) flattening to ONNX's (c, y, x).
 *
 * The protobuf message tree is built with the writer the FP32 export shares
 * (io/onnx_write.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "int8/i8model.h"
#include "io/onnx_write.h"

#define QDQ_OPSET      13
#define QDQ_IR_VERSION 7 /* the IR of opset 13 (ONNX 1.8) */

/* Views of one int8 node's output: uint8 / float, as produced (rank 2 for fully connected
 * outputs, else 4) or reshaped to the other rank. Names are made when first needed. */
enum { VIEW_U8, VIEW_F32, VIEW_U8_OTHER, VIEW_F32_OTHER, VIEW_COUNT };

typedef struct {
    const frost_int8_model *m;
    bool u8_weights; /* weights stored + 128 as uint8 with zero point 128 (see the header) */
    frost_onnxw w;   /* the message tree (io/onnx_write.h) */
    int *rank;       /* [n_nodes of m]: 2 or 4 */
    char *(*views)[VIEW_COUNT]; /* [n_nodes of m] */
} qdq_builder;

#define NEED(p)                         \
    do {                                \
        if (!(p))                       \
            return frost_onnxw_nomem(); \
    } while (0)

static char *scalar_f32(qdq_builder *b, char *name, float v)
{
    return name && frost_onnxw_init(&b->w, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &v)
               ? name
               : NULL;
}

static char *scalar_u8(qdq_builder *b, char *name, int v)
{
    uint8_t u = (uint8_t)v;
    return name && frost_onnxw_init(&b->w, name, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 0, NULL, &u)
               ? name
               : NULL;
}

/* Square window attributes (kernel_shape, strides, pads) of a conv or pool. */
static bool attr_window(qdq_builder *b, Onnx__NodeProto *n, const frost_int8_node *fn)
{
    int64_t k[2] = {fn->k, fn->k}, s[2] = {fn->stride, fn->stride};
    int64_t p[4] = {fn->pad, fn->pad, fn->pad, fn->pad};
    return frost_onnxw_attr_ints(&b->w, n, "kernel_shape", 2, k, true) &&
           frost_onnxw_attr_ints(&b->w, n, "strides", 2, s, true) &&
           frost_onnxw_attr_ints(&b->w, n, "pads", 4, p, true);
}

static const char *node_name(qdq_builder *b, int i, const char *suffix)
{
    return frost_onnxw_name(&b->w, "%s%s", b->m->nodes[i].name, suffix);
}

/* ---- the tensors of int8 node i ---- */

static const char *u8_name(int i, qdq_builder *b) { return frost_onnxw_name(&b->w, "q%d", i); }

/* DequantizeLinear of uint8 tensor `q` with node i's (per-tensor: no axis) parameters. */
static char *dequantize(qdq_builder *b, int i, const char *q, const char *suffix)
{
    const char *in[3] = {q, frost_onnxw_name(&b->w, "s%d", i), frost_onnxw_name(&b->w, "z%d", i)};
    char *out = frost_onnxw_name(&b->w, "t%d%s", i, suffix);
    return frost_onnxw_node(&b->w, "DequantizeLinear", node_name(b, i, "/dq"), 3, in, out) ? out
                                                                                           : NULL;
}

/* Node i's output as uint8 (want_float 0) or float, of rank `rank` (0: as produced). */
static const char *view(qdq_builder *b, int i, bool want_float, int rank)
{
    bool other = rank != 0 && rank != b->rank[i];
    int v = (want_float ? VIEW_F32 : VIEW_U8) + (other ? 2 : 0);
    if (b->views[i][v])
        return b->views[i][v];
    char *name = NULL;
    if (want_float) {
        const char *q = view(b, i, false, rank);
        name = q ? dequantize(b, i, q, other ? "_r" : "") : NULL;
    } else if (!other) {
        name = (char *)u8_name(i, b);
    } else if (rank == 2) { /* NCHW flattening: the weights of the consumer follow it */
        const char *in[1] = {view(b, i, false, 0)};
        name = frost_onnxw_name(&b->w, "q%d_2d", i);
        if (!frost_onnxw_attr_int(
                &b->w, frost_onnxw_node(&b->w, "Flatten", node_name(b, i, "/flatten"), 1, in, name),
                "axis", 1))
            name = NULL;
    } else { /* a fully connected output [N, C] seen as [N, C, 1, 1] */
        int64_t dims[1] = {4}, shape[4] = {-1, b->m->nodes[i].c, 1, 1};
        char *sn = frost_onnxw_name(&b->w, "r%d", i);
        const char *in[2] = {view(b, i, false, 0), sn};
        name = frost_onnxw_name(&b->w, "q%d_4d", i);
        if (!sn ||
            !frost_onnxw_init(&b->w, sn, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, dims, shape) ||
            !frost_onnxw_node(&b->w, "Reshape", node_name(b, i, "/reshape"), 2, in, name))
            name = NULL;
    }
    b->views[i][v] = name;
    return name;
}

/* Node i's scale and zero point, and QuantizeLinear(x) into its uint8 tensor; a clamp the
 * uint8 range does not give is a uint8 Clip after it (exact, and it leaves the op before
 * the QuantizeLinear fusable). */
static frost_status quantize_output(qdq_builder *b, int i, const char *x, bool clamp)
{
    const frost_int8_node *n = &b->m->nodes[i];
    NEED(scalar_f32(b, frost_onnxw_name(&b->w, "s%d", i), n->scale));
    NEED(scalar_u8(b, frost_onnxw_name(&b->w, "z%d", i), n->zp));
    clamp = clamp && (n->lo > 0 || n->hi < 255);
    const char *q = clamp ? frost_onnxw_name(&b->w, "q%d_unclamped", i) : u8_name(i, b);
    const char *in[3] = {x, frost_onnxw_name(&b->w, "s%d", i), frost_onnxw_name(&b->w, "z%d", i)};
    NEED(frost_onnxw_node(&b->w, "QuantizeLinear", node_name(b, i, "/q"), 3, in, q));
    if (clamp) {
        const char *cin[3] = {q, scalar_u8(b, frost_onnxw_name(&b->w, "lo%d", i), n->lo),
                              scalar_u8(b, frost_onnxw_name(&b->w, "hi%d", i), n->hi)};
        NEED(frost_onnxw_node(&b->w, "Clip", node_name(b, i, "/clamp"), 3, cin, u8_name(i, b)));
    }
    return FROST_OK;
}

/* y = table[x] on uint8 tensors: Cast to int32 indices, Gather from the 256 entries. */
static frost_status table_lookup(qdq_builder *b, int i, int j, const char *x, const uint8_t *lut,
                                 const char *y)
{
    int64_t dims[1] = {256};
    char *tn = frost_onnxw_name(&b->w, "lut%d_%d", i, j),
         *idx = frost_onnxw_name(&b->w, "x%d_%d", i, j);
    NEED(tn && frost_onnxw_init(&b->w, tn, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 1, dims, lut));
    const char *cin[1] = {x}, *gin[2] = {tn, idx};
    NEED(frost_onnxw_attr_int(
        &b->w, frost_onnxw_node(&b->w, "Cast", node_name(b, i, "/index"), 1, cin, idx), "to",
        ONNX__TENSOR_PROTO__DATA_TYPE__INT32));
    NEED(frost_onnxw_attr_int(
        &b->w, frost_onnxw_node(&b->w, "Gather", node_name(b, i, "/table"), 2, gin, y), "axis", 0));
    return FROST_OK;
}

/* ---- weights ---- */

/* int8 weights in ONNX order (conv OIHW; fully connected columns of the NCHW flattening of
 * the input) and their per-channel scales, as DequantizeLinear on axis 0; or the same
 * values + 128 as uint8 with zero point 128. */
static frost_status dequantized_weights(qdq_builder *b, int i, const char **out)
{
    const frost_int8_node *n = &b->m->nodes[i], *in = &b->m->nodes[n->in[0]];
    bool conv = n->op == FROST_I8_CONV;
    int cin = conv ? in->c / n->groups : in->h * in->w * in->c, kk = conv ? n->k * n->k : 1;
    int64_t cout = n->c, inner = (int64_t)cin * kk;
    int64_t dims[4] = {cout, cin, n->k, n->k}, cdims[1] = {cout};
    int dtype =
        b->u8_weights ? ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 : ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
    int offset = b->u8_weights ? 128 : 0;
    char *wn = frost_onnxw_name(&b->w, "w%d_q", i), *sn = frost_onnxw_name(&b->w, "ws%d", i),
         *zn = frost_onnxw_name(&b->w, "wz%d", i);
    uint8_t *w = wn ? frost_onnxw_init(&b->w, wn, dtype, conv ? 4 : 2, dims, NULL) : NULL;
    uint8_t *z = zn ? frost_onnxw_init(&b->w, zn, dtype, 1, cdims, NULL) : NULL;
    NEED(w && z && sn);
    NEED(frost_onnxw_init(&b->w, sn, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, cdims, n->wscale));
    memset(z, offset, (size_t)cout);
    int hw = in->h * in->w;
    for (int64_t o = 0; o < cout; o++)
        for (int64_t j = 0; j < inner; j++) {
            /* frost: conv [o][ky][kx][c], linear [o][(y*w + x)*C + c] */
            int64_t c = j / kk, pix = j % kk, src;
            if (conv)
                src = pix * cin + c;
            else
                src = (j % hw) * in->c + j / hw;
            int8_t v = n->weight[o * inner + src];
            if (v == -128 && !b->u8_weights)
                return frost_fail(FROST_ERR_UNSUPPORTED,
                                  "ONNX export: '%s' has weight -128; QDQ weights are "
                                  "symmetric in [-127, 127] (quantize with narrow weights)",
                                  n->name);
            w[o * inner + j] = (uint8_t)(v + offset);
        }
    const char *in3[3] = {wn, sn, zn};
    *out = frost_onnxw_name(&b->w, "w%d", i);
    NEED(frost_onnxw_attr_int(
        &b->w,
        frost_onnxw_node(&b->w, "DequantizeLinear", node_name(b, i, "/dq_weight"), 3, in3, *out),
        "axis", 0));
    return FROST_OK;
}

/* int32 bias on the grid S_x S_w[c] (what QLinearConv / QGemm take): frost's finer grid
 * (2^acc_shift) rounded back, or the float bias of a float classifier quantized. */
/* frost's own bias next to the one ONNX Runtime reads, for a bit-exact re-import
 * (import_qdq.c): "<bias>.frost", an initializer no node reads (runtimes drop it). A conv /
 * linear node's int32 bias is on a grid 2^acc_shift finer than the S_x S_w one ONNX uses:
 * [acc_shift, bias[0..c)]; a float classifier's bias is its float values. */
static frost_status exact_bias(qdq_builder *b, int i, const char *bias_name)
{
    const frost_int8_node *n = &b->m->nodes[i];
    char *name = frost_onnxw_name(&b->w, "%s.frost", bias_name);
    bool logits = n->op == FROST_I8_LOGITS;
    int64_t dims[1] = {logits ? n->c : n->c + 1};
    void *v = name ? frost_onnxw_init(&b->w, name,
                                      logits ? ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
                                             : ONNX__TENSOR_PROTO__DATA_TYPE__INT32,
                                      1, dims, NULL)
                   : NULL;
    NEED(v);
    if (logits) {
        for (int c = 0; c < n->c; c++)
            ((float *)v)[c] = n->out_bias ? n->out_bias[c] : 0.0f;
    } else {
        int32_t *q = v;
        q[0] = n->acc_shift;
        for (int c = 0; c < n->c; c++)
            q[1 + c] = n->bias ? n->bias[c] : 0;
    }
    return FROST_OK;
}

static frost_status dequantized_bias(qdq_builder *b, int i, const char **out)
{
    const frost_int8_node *n = &b->m->nodes[i], *in = &b->m->nodes[n->in[0]];
    int64_t dims[1] = {n->c};
    char *bn = frost_onnxw_name(&b->w, "b%d_q", i), *sn = frost_onnxw_name(&b->w, "bs%d", i),
         *zn = frost_onnxw_name(&b->w, "bz%d", i);
    int32_t *q =
        bn ? frost_onnxw_init(&b->w, bn, ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, dims, NULL)
           : NULL;
    float *s = sn ? frost_onnxw_init(&b->w, sn, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, dims, NULL)
                  : NULL;
    NEED(q && s && zn &&
         frost_onnxw_init(&b->w, zn, ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, dims, NULL));
    for (int c = 0; c < n->c; c++) {
        double scale = (double)in->scale * (double)n->wscale[c], v;
        if (n->op == FROST_I8_LOGITS)
            v = scale > 0 ? round((double)n->out_bias[c] / scale) : 0.0;
        else
            v = round(ldexp((double)n->bias[c], -n->acc_shift));
        if (!(fabs(v) <= 2147483647.0))
            return frost_fail(FROST_ERR_NUMERIC,
                              "ONNX export: '%s' channel %d: bias does not fit int32 at "
                              "scale %g",
                              n->name, c, scale);
        q[c] = (int32_t)v;
        s[c] = (float)scale;
    }
    FROST_TRY(exact_bias(b, i, bn));
    const char *in3[3] = {bn, sn, zn};
    *out = frost_onnxw_name(&b->w, "b%d", i);
    NEED(frost_onnxw_attr_int(
        &b->w,
        frost_onnxw_node(&b->w, "DequantizeLinear", node_name(b, i, "/dq_bias"), 3, in3, *out),
        "axis", 0));
    return FROST_OK;
}

/* ---- one int8 node ---- */

static frost_status emit_conv(qdq_builder *b, int i)
{
    const frost_int8_node *n = &b->m->nodes[i];
    const char *w, *bias;
    FROST_TRY(dequantized_weights(b, i, &w));
    FROST_TRY(dequantized_bias(b, i, &bias));
    const char *in[3] = {view(b, n->in[0], true, 4), w, bias};
    char *y = frost_onnxw_name(&b->w, "c%d", i);
    Onnx__NodeProto *conv = frost_onnxw_node(&b->w, "Conv", node_name(b, i, ""), 3, in, y);
    NEED(attr_window(b, conv, n) && frost_onnxw_attr_int(&b->w, conv, "group", n->groups));
    b->rank[i] = 4;
    return quantize_output(b, i, y, true);
}

static frost_status emit_gemm(qdq_builder *b, int i)
{
    const frost_int8_node *n = &b->m->nodes[i];
    const char *w, *bias;
    FROST_TRY(dequantized_weights(b, i, &w));
    FROST_TRY(dequantized_bias(b, i, &bias));
    bool logits = n->op == FROST_I8_LOGITS;
    const char *in[3] = {view(b, n->in[0], true, 2), w, bias};
    char *y = logits ? frost_onnxw_name(&b->w, "logits") : frost_onnxw_name(&b->w, "c%d", i);
    NEED(frost_onnxw_attr_int(&b->w, frost_onnxw_node(&b->w, "Gemm", node_name(b, i, ""), 3, in, y),
                              "transB", 1));
    b->rank[i] = 2;
    return logits ? FROST_OK : quantize_output(b, i, y, true);
}

/* Add / Concat: rank 2 when every input is a fully connected output, else 4. */
static int common_rank(const qdq_builder *b, const frost_int8_node *n)
{
    for (int j = 0; j < n->n_in; j++)
        if (b->rank[n->in[j]] != 2)
            return 4;
    return 2;
}

static frost_status emit_merge(qdq_builder *b, int i)
{
    const frost_int8_node *n = &b->m->nodes[i];
    int rank = common_rank(b, n);
    const char *in[FROST_I8_MAX_INPUTS];
    for (int j = 0; j < n->n_in; j++)
        in[j] = view(b, n->in[j], true, rank);
    char *y = frost_onnxw_name(&b->w, "c%d", i);
    /* elementwise Add / Mul (a [1,1,C] gate is [N,C,1,1] here: ONNX broadcasting), or
     * the channel Concat */
    bool concat = n->op == FROST_I8_CONCAT;
    const char *type = concat ? "Concat" : n->op == FROST_I8_MUL ? "Mul" : "Add";
    Onnx__NodeProto *op = frost_onnxw_node(&b->w, type, node_name(b, i, ""), n->n_in, in, y);
    NEED(op && (!concat || frost_onnxw_attr_int(&b->w, op, "axis", 1)));
    b->rank[i] = rank;
    return quantize_output(b, i, y, true);
}

static frost_status emit_lut(qdq_builder *b, int i)
{
    const frost_int8_node *n = &b->m->nodes[i];
    b->rank[i] = b->rank[n->in[0]];
    NEED(scalar_f32(b, frost_onnxw_name(&b->w, "s%d", i), n->scale));
    NEED(scalar_u8(b, frost_onnxw_name(&b->w, "z%d", i), n->zp));
    return table_lookup(b, i, 0, view(b, n->in[0], false, 0), n->lut, u8_name(i, b));
}

static bool is_identity(const uint8_t *lut)
{
    for (int v = 0; v < 256; v++)
        if (lut[v] != v)
            return false;
    return true;
}

/* Max pool on the input's grid (its QuantizeLinear repeats the input's parameters, so ONNX
 * Runtime runs MaxPool on the uint8 tensor), then frost's requantizing table if any. */
static frost_status emit_maxpool(qdq_builder *b, int i)
{
    const frost_int8_node *n = &b->m->nodes[i];
    int x = n->in[0];
    const char *in[1] = {view(b, x, true, 4)};
    char *y = frost_onnxw_name(&b->w, "c%d", i);
    NEED(attr_window(b, frost_onnxw_node(&b->w, "MaxPool", node_name(b, i, ""), 1, in, y), n));
    bool table = !is_identity(n->lut);
    const char *q = table ? frost_onnxw_name(&b->w, "q%d_pooled", i) : u8_name(i, b);
    const char *qin[3] = {y, frost_onnxw_name(&b->w, "s%d", x), frost_onnxw_name(&b->w, "z%d", x)};
    NEED(frost_onnxw_node(&b->w, "QuantizeLinear", node_name(b, i, "/q"), 3, qin, q));
    NEED(scalar_f32(b, frost_onnxw_name(&b->w, "s%d", i), n->scale));
    NEED(scalar_u8(b, frost_onnxw_name(&b->w, "z%d", i), n->zp));
    b->rank[i] = 4;
    return table ? table_lookup(b, i, 0, q, n->lut, u8_name(i, b)) : FROST_OK;
}

static frost_status emit_pool(qdq_builder *b, int i)
{
    const frost_int8_node *n = &b->m->nodes[i];
    const char *in[1] = {view(b, n->in[0], true, 4)};
    char *y = frost_onnxw_name(&b->w, "c%d", i);
    if (n->op == FROST_I8_GAP) {
        NEED(frost_onnxw_node(&b->w, "GlobalAveragePool", node_name(b, i, ""), 1, in, y));
    } else { /* frost divides by the taps inside the input */
        Onnx__NodeProto *p = frost_onnxw_node(&b->w, "AveragePool", node_name(b, i, ""), 1, in, y);
        NEED(attr_window(b, p, n) && frost_onnxw_attr_int(&b->w, p, "count_include_pad", 0));
    }
    b->rank[i] = 4;
    return quantize_output(b, i, y, true);
}

static frost_status emit_node(qdq_builder *b, int i)
{
    const frost_int8_node *n = &b->m->nodes[i];
    switch (n->op) {
    case FROST_I8_QUANTIZE: b->rank[i] = 4; return quantize_output(b, i, "input", true);
    case FROST_I8_CONV: return emit_conv(b, i);
    case FROST_I8_LINEAR:
    case FROST_I8_LOGITS: return emit_gemm(b, i);
    case FROST_I8_ADD:
    case FROST_I8_MUL:
    case FROST_I8_CONCAT: return emit_merge(b, i);
    case FROST_I8_LUT: return emit_lut(b, i);
    case FROST_I8_MAXPOOL: return emit_maxpool(b, i);
    case FROST_I8_AVGPOOL:
    case FROST_I8_GAP: return emit_pool(b, i);
    case FROST_I8_OP_COUNT: break;
    }
    return frost_fail(FROST_ERR_FORMAT, "ONNX export: '%s' has an unknown op", n->name);
}

/* The float output "logits" [N, classes] of a model ending in a quantized node: its uint8
 * tensor in frost's (h, w, c) order, dequantized (the graph's one output DequantizeLinear). */
static frost_status emit_output(qdq_builder *b)
{
    int last = b->m->n_nodes - 1;
    const frost_int8_node *n = &b->m->nodes[last];
    if (n->op == FROST_I8_LOGITS)
        return FROST_OK;
    const char *q = view(b, last, false, 0);
    if (b->rank[last] == 4 && n->h * n->w > 1) {
        int64_t perm[4] = {0, 2, 3, 1};
        const char *in[1] = {q};
        char *t = frost_onnxw_name(&b->w, "q%d_nhwc", last);
        NEED(frost_onnxw_attr_ints(
            &b->w, frost_onnxw_node(&b->w, "Transpose", node_name(b, last, "/nhwc"), 1, in, t),
            "perm", 4, perm, true));
        q = t;
    }
    if (b->rank[last] == 4) {
        const char *in[1] = {q};
        char *f = frost_onnxw_name(&b->w, "q%d_flat", last);
        NEED(frost_onnxw_attr_int(
            &b->w, frost_onnxw_node(&b->w, "Flatten", node_name(b, last, "/flatten"), 1, in, f),
            "axis", 1));
        q = f;
    }
    const char *in[3] = {q, frost_onnxw_name(&b->w, "s%d", last),
                         frost_onnxw_name(&b->w, "z%d", last)};
    NEED(frost_onnxw_node(&b->w, "DequantizeLinear", node_name(b, last, "/dq"), 3, in,
                          frost_onnxw_name(&b->w, "logits")));
    return FROST_OK;
}

/* ---- graph and model ---- */

static frost_status build_graph(qdq_builder *b, frost_onnxw_model *desc)
{
    const frost_int8_model *m = b->m;
    for (int i = 0; i < m->n_nodes; i++)
        FROST_TRY(emit_node(b, i));
    FROST_TRY(emit_output(b));
    /* the input is normalized as in training: whoever runs the file must know how */
    NEED(frost_onnxw_meta_preprocess(&b->w, &m->pre, m->in_c));
    int64_t in_dims[3] = {m->in_c, m->in_h, m->in_w}, out_dims[1] = {m->classes};
    *desc = (frost_onnxw_model){
        .graph_name = m->name,
        .doc = "frost int8 model as QDQ (uint8 activations, per-channel int8 weights, "
               "int32 biases), NCHW",
        .input = frost_onnxw_value_info(&b->w, "input", 3, in_dims),
        .output = frost_onnxw_value_info(&b->w, "logits", 1, out_dims),
        .opset = QDQ_OPSET,
        .ir_version = QDQ_IR_VERSION,
    };
    return FROST_OK;
}

/* QDQ has no operator for the sign of a quantized tensor feeding a conv. */
static frost_status refuse_binarized(const frost_int8_model *m)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].ain)
            return frost_fail(FROST_ERR_UNSUPPORTED,
                              "ONNX export: node '%s' binarizes its input (%s); the QDQ export "
                              "does not support binarized-input layers "
                              "(docs/int8.md#low-bit-layers)",
                              m->nodes[i].name, frost_int8_ain_name(m->nodes[i].ain));
    return FROST_OK;
}

frost_status frost_int8_export_onnx(const frost_int8_model *m, const char *path, int uint8_weights)
{
    if (!m || !path)
        return frost_fail(FROST_ERR_ARG, "ONNX export: NULL argument");
    qdq_builder b = {.m = m, .u8_weights = uint8_weights != 0};
    b.rank = calloc((size_t)m->n_nodes, sizeof *b.rank);
    b.views = calloc((size_t)m->n_nodes, sizeof *b.views);
    frost_onnxw_model desc;
    frost_status s = b.rank && b.views ? refuse_binarized(m) : frost_onnxw_nomem();
    if (s == FROST_OK)
        s = build_graph(&b, &desc);
    if (s == FROST_OK)
        s = frost_onnxw_write(&b.w, &desc, path);
    frost_onnxw_free(&b.w);
    free(b.rank);
    free(b.views);
    return s;
}

/* A float classifier's bias is exact when it is an integer number of accumulator steps
 * (what dequantized_bias writes, read back as a float). */
static bool logits_bias_on_grid(const frost_int8_model *m, const frost_int8_node *n)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    for (int c = 0; n->out_bias && c < n->c; c++) {
        double step = (double)in->scale * (double)n->wscale[c];
        if (step > 0 && (float)(round((double)n->out_bias[c] / step) * step) != n->out_bias[c])
            return false;
    }
    return true;
}

static bool conv_bias_on_grid(const frost_int8_node *n)
{
    int32_t step_mask = (int32_t)((1u << n->acc_shift) - 1u);
    for (int c = 0; n->bias && c < n->c; c++)
        if (n->bias[c] & step_mask)
            return false;
    return true;
}

int frost_int8_onnx_rounded_biases(const frost_int8_model *m)
{
    int rounded = 0;
    for (int i = 0; m && i < m->n_nodes; i++) {
        const frost_int8_node *n = &m->nodes[i];
        if (n->op == FROST_I8_LOGITS)
            rounded += !logits_bias_on_grid(m, n);
        else if (n->op == FROST_I8_CONV || n->op == FROST_I8_LINEAR)
            rounded += !conv_bias_on_grid(n);
    }
    return rounded;
}
