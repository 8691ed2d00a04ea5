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
 * Layout: frost is NHWC inside; the file is NCHW (input float32 [N, C, H, W], N symbolic),
 * conv weights OIHW, and fully connected weights have their columns permuted from frost's
 * (y, x, c) flattening to ONNX's (c, y, x).
 *
 * The protobuf message tree is built with protoc-c's generated structs; every piece of it
 * is one allocation recorded in the builder, all freed together after packing.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "frost/file.h"
#include "frost/version.h"
#include "int8/i8model.h"
#include "onnx.pb-c.h"

#define QDQ_OPSET      13
#define QDQ_IR_VERSION 7 /* the IR of opset 13 (ONNX 1.8) */
#define MAX_ATTRS      6
#define NAME_BYTES     (FROST_I8_NAME_LEN + 32)

/* Views of one int8 node's output: uint8 / float, as produced (rank 2 for fully connected
 * outputs, else 4) or reshaped to the other rank. Names are made when first needed. */
enum { VIEW_U8, VIEW_F32, VIEW_U8_OTHER, VIEW_F32_OTHER, VIEW_COUNT };

typedef struct {
    const frost_int8_model *m;
    bool u8_weights; /* weights stored + 128 as uint8 with zero point 128 (see the header) */
    void **allocs;
    size_t n_allocs, cap_allocs;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    int *rank;                  /* [n_nodes of m]: 2 or 4 */
    char *(*views)[VIEW_COUNT]; /* [n_nodes of m] */
} qdq_builder;

static frost_status out_of_memory(void)
{
    return frost_fail(FROST_ERR_NOMEM, "ONNX export: out of memory");
}

#define NEED(p)                     \
    do {                            \
        if (!(p))                   \
            return out_of_memory(); \
    } while (0)

/* Grows *arr (elements of `size` bytes) to hold one more than *n. */
static bool grow(void *arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 64;
    void *p = realloc(*(void **)arr, nc * size);
    if (!p)
        return false;
    *(void **)arr = p;
    *cap = nc;
    return true;
}

/* Zeroed memory owned by the builder. */
static void *qb_alloc(qdq_builder *b, size_t bytes)
{
    if (!grow(&b->allocs, &b->cap_allocs, b->n_allocs, sizeof(void *)))
        return NULL;
    void *p = calloc(1, bytes ? bytes : 1);
    if (p)
        b->allocs[b->n_allocs++] = p;
    return p;
}

static char *qb_name(qdq_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *qb_name(qdq_builder *b, const char *fmt, ...)
{
    char *s = qb_alloc(b, NAME_BYTES);
    if (s) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s, NAME_BYTES, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* ---- initializers ---- */

static size_t dtype_bytes(int dtype)
{
    switch (dtype) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: return 1;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return 8;
    default: return 4; /* FLOAT, INT32 */
    }
}

/* An initializer `name` of dtype and shape (n_dims 0: a scalar); its raw bytes (this host
 * is little-endian, as ONNX's raw_data) are copied from data, or left zero when data is
 * NULL. Returns the bytes to fill, NULL when out of memory. */
static void *qb_init(qdq_builder *b, const char *name, int dtype, int n_dims, const int64_t *dims,
                     const void *data)
{
    Onnx__TensorProto *t = qb_alloc(b, sizeof *t);
    int64_t *d = qb_alloc(b, sizeof(int64_t) * (size_t)(n_dims ? n_dims : 1));
    if (!t || !d || !grow(&b->inits, &b->cap_inits, b->n_inits, sizeof(void *)))
        return NULL;
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    size_t count = 1;
    for (int i = 0; i < n_dims; i++) {
        d[i] = dims[i];
        count *= (size_t)dims[i];
    }
    size_t bytes = count * dtype_bytes(dtype);
    uint8_t *raw = qb_alloc(b, bytes);
    if (!raw)
        return NULL;
    if (data)
        memcpy(raw, data, bytes);
    t->name = (char *)name;
    t->n_dims = (size_t)n_dims;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = raw;
    b->inits[b->n_inits++] = t;
    return raw;
}

static char *scalar_f32(qdq_builder *b, char *name, float v)
{
    return name && qb_init(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &v) ? name
                                                                                       : NULL;
}

static char *scalar_u8(qdq_builder *b, char *name, int v)
{
    uint8_t u = (uint8_t)v;
    return name && qb_init(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 0, NULL, &u) ? name
                                                                                       : NULL;
}

/* ---- nodes ---- */

static Onnx__NodeProto *qb_node(qdq_builder *b, const char *op, const char *name, int n_in,
                                const char *const *in, const char *out)
{
    Onnx__NodeProto *n = qb_alloc(b, sizeof *n);
    char **ins = qb_alloc(b, sizeof(char *) * (size_t)n_in);
    char **outs = qb_alloc(b, sizeof(char *));
    Onnx__AttributeProto **attrs = qb_alloc(b, sizeof(void *) * MAX_ATTRS);
    if (!n || !ins || !outs || !attrs || !name || !out ||
        !grow(&b->nodes, &b->cap_nodes, b->n_nodes, sizeof(void *)))
        return NULL;
    for (int i = 0; i < n_in; i++) {
        if (!in[i])
            return NULL; /* a name that could not be made */
        ins[i] = (char *)in[i];
    }
    *n = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    n->op_type = (char *)op;
    n->name = (char *)name;
    n->n_input = (size_t)n_in;
    n->input = ins;
    n->n_output = 1;
    n->output = outs;
    outs[0] = (char *)out;
    n->attribute = attrs;
    b->nodes[b->n_nodes++] = n;
    return n;
}

static bool attr_ints(qdq_builder *b, Onnx__NodeProto *n, const char *name, int count,
                      const int64_t *v, bool list)
{
    Onnx__AttributeProto *a = qb_alloc(b, sizeof *a);
    int64_t *vals = qb_alloc(b, sizeof(int64_t) * (size_t)count);
    if (!n || !a || !vals || n->n_attribute >= MAX_ATTRS)
        return false;
    *a = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    a->name = (char *)name;
    a->has_type = 1;
    if (list) {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        memcpy(vals, v, sizeof(int64_t) * (size_t)count);
        a->n_ints = (size_t)count;
        a->ints = vals;
    } else {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_i = 1;
        a->i = v[0];
    }
    n->attribute[n->n_attribute++] = a;
    return true;
}

static bool attr_int(qdq_builder *b, Onnx__NodeProto *n, const char *name, int64_t v)
{
    return attr_ints(b, n, name, 1, &v, false);
}

/* Square window attributes (kernel_shape, strides, pads) of a conv or pool. */
static bool attr_window(qdq_builder *b, Onnx__NodeProto *n, const frost_int8_node *fn)
{
    int64_t k[2] = {fn->k, fn->k}, s[2] = {fn->stride, fn->stride};
    int64_t p[4] = {fn->pad, fn->pad, fn->pad, fn->pad};
    return attr_ints(b, n, "kernel_shape", 2, k, true) && attr_ints(b, n, "strides", 2, s, true) &&
           attr_ints(b, n, "pads", 4, p, true);
}

static const char *node_name(qdq_builder *b, int i, const char *suffix)
{
    return qb_name(b, "%s%s", b->m->nodes[i].name, suffix);
}

/* ---- the tensors of int8 node i ---- */

static const char *u8_name(int i, qdq_builder *b) { return qb_name(b, "q%d", i); }

/* DequantizeLinear of uint8 tensor `q` with node i's (per-tensor: no axis) parameters. */
static char *dequantize(qdq_builder *b, int i, const char *q, const char *suffix)
{
    const char *in[3] = {q, qb_name(b, "s%d", i), qb_name(b, "z%d", i)};
    char *out = qb_name(b, "t%d%s", i, suffix);
    return qb_node(b, "DequantizeLinear", node_name(b, i, "/dq"), 3, in, out) ? out : NULL;
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
        name = qb_name(b, "q%d_2d", i);
        if (!attr_int(b, qb_node(b, "Flatten", node_name(b, i, "/flatten"), 1, in, name), "axis",
                      1))
            name = NULL;
    } else { /* a fully connected output [N, C] seen as [N, C, 1, 1] */
        int64_t dims[1] = {4}, shape[4] = {-1, b->m->nodes[i].c, 1, 1};
        char *sn = qb_name(b, "r%d", i);
        const char *in[2] = {view(b, i, false, 0), sn};
        name = qb_name(b, "q%d_4d", i);
        if (!sn || !qb_init(b, sn, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, dims, shape) ||
            !qb_node(b, "Reshape", node_name(b, i, "/reshape"), 2, in, name))
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
    NEED(scalar_f32(b, qb_name(b, "s%d", i), n->scale));
    NEED(scalar_u8(b, qb_name(b, "z%d", i), n->zp));
    clamp = clamp && (n->lo > 0 || n->hi < 255);
    const char *q = clamp ? qb_name(b, "q%d_unclamped", i) : u8_name(i, b);
    const char *in[3] = {x, qb_name(b, "s%d", i), qb_name(b, "z%d", i)};
    NEED(qb_node(b, "QuantizeLinear", node_name(b, i, "/q"), 3, in, q));
    if (clamp) {
        const char *cin[3] = {q, scalar_u8(b, qb_name(b, "lo%d", i), n->lo),
                              scalar_u8(b, qb_name(b, "hi%d", i), n->hi)};
        NEED(qb_node(b, "Clip", node_name(b, i, "/clamp"), 3, cin, u8_name(i, b)));
    }
    return FROST_OK;
}

/* y = table[x] on uint8 tensors: Cast to int32 indices, Gather from the 256 entries. */
static frost_status table_lookup(qdq_builder *b, int i, int j, const char *x, const uint8_t *lut,
                                 const char *y)
{
    int64_t dims[1] = {256};
    char *tn = qb_name(b, "lut%d_%d", i, j), *idx = qb_name(b, "x%d_%d", i, j);
    NEED(tn && qb_init(b, tn, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 1, dims, lut));
    const char *cin[1] = {x}, *gin[2] = {tn, idx};
    NEED(attr_int(b, qb_node(b, "Cast", node_name(b, i, "/index"), 1, cin, idx), "to",
                  ONNX__TENSOR_PROTO__DATA_TYPE__INT32));
    NEED(attr_int(b, qb_node(b, "Gather", node_name(b, i, "/table"), 2, gin, y), "axis", 0));
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
    char *wn = qb_name(b, "w%d_q", i), *sn = qb_name(b, "ws%d", i), *zn = qb_name(b, "wz%d", i);
    uint8_t *w = wn ? qb_init(b, wn, dtype, conv ? 4 : 2, dims, NULL) : NULL;
    uint8_t *z = zn ? qb_init(b, zn, dtype, 1, cdims, NULL) : NULL;
    NEED(w && z && sn);
    NEED(qb_init(b, sn, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, cdims, n->wscale));
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
    *out = qb_name(b, "w%d", i);
    NEED(attr_int(b, qb_node(b, "DequantizeLinear", node_name(b, i, "/dq_weight"), 3, in3, *out),
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
    char *name = qb_name(b, "%s.frost", bias_name);
    bool logits = n->op == FROST_I8_LOGITS;
    int64_t dims[1] = {logits ? n->c : n->c + 1};
    void *v = name ? qb_init(b, name,
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
    char *bn = qb_name(b, "b%d_q", i), *sn = qb_name(b, "bs%d", i), *zn = qb_name(b, "bz%d", i);
    int32_t *q = bn ? qb_init(b, bn, ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, dims, NULL) : NULL;
    float *s = sn ? qb_init(b, sn, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, dims, NULL) : NULL;
    NEED(q && s && zn && qb_init(b, zn, ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, dims, NULL));
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
    *out = qb_name(b, "b%d", i);
    NEED(attr_int(b, qb_node(b, "DequantizeLinear", node_name(b, i, "/dq_bias"), 3, in3, *out),
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
    char *y = qb_name(b, "c%d", i);
    Onnx__NodeProto *conv = qb_node(b, "Conv", node_name(b, i, ""), 3, in, y);
    NEED(attr_window(b, conv, n) && attr_int(b, conv, "group", n->groups));
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
    char *y = logits ? qb_name(b, "logits") : qb_name(b, "c%d", i);
    NEED(attr_int(b, qb_node(b, "Gemm", node_name(b, i, ""), 3, in, y), "transB", 1));
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
    char *y = qb_name(b, "c%d", i);
    /* elementwise Add / Mul (a [1,1,C] gate is [N,C,1,1] here: ONNX broadcasting), or
     * the channel Concat */
    bool concat = n->op == FROST_I8_CONCAT;
    const char *type = concat ? "Concat" : n->op == FROST_I8_MUL ? "Mul" : "Add";
    Onnx__NodeProto *op = qb_node(b, type, node_name(b, i, ""), n->n_in, in, y);
    NEED(op && (!concat || attr_int(b, op, "axis", 1)));
    b->rank[i] = rank;
    return quantize_output(b, i, y, true);
}

static frost_status emit_lut(qdq_builder *b, int i)
{
    const frost_int8_node *n = &b->m->nodes[i];
    b->rank[i] = b->rank[n->in[0]];
    NEED(scalar_f32(b, qb_name(b, "s%d", i), n->scale));
    NEED(scalar_u8(b, qb_name(b, "z%d", i), n->zp));
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
    char *y = qb_name(b, "c%d", i);
    NEED(attr_window(b, qb_node(b, "MaxPool", node_name(b, i, ""), 1, in, y), n));
    bool table = !is_identity(n->lut);
    const char *q = table ? qb_name(b, "q%d_pooled", i) : u8_name(i, b);
    const char *qin[3] = {y, qb_name(b, "s%d", x), qb_name(b, "z%d", x)};
    NEED(qb_node(b, "QuantizeLinear", node_name(b, i, "/q"), 3, qin, q));
    NEED(scalar_f32(b, qb_name(b, "s%d", i), n->scale));
    NEED(scalar_u8(b, qb_name(b, "z%d", i), n->zp));
    b->rank[i] = 4;
    return table ? table_lookup(b, i, 0, q, n->lut, u8_name(i, b)) : FROST_OK;
}

static frost_status emit_pool(qdq_builder *b, int i)
{
    const frost_int8_node *n = &b->m->nodes[i];
    const char *in[1] = {view(b, n->in[0], true, 4)};
    char *y = qb_name(b, "c%d", i);
    if (n->op == FROST_I8_GAP) {
        NEED(qb_node(b, "GlobalAveragePool", node_name(b, i, ""), 1, in, y));
    } else { /* frost divides by the taps inside the input */
        Onnx__NodeProto *p = qb_node(b, "AveragePool", node_name(b, i, ""), 1, in, y);
        NEED(attr_window(b, p, n) && attr_int(b, p, "count_include_pad", 0));
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
        char *t = qb_name(b, "q%d_nhwc", last);
        NEED(attr_ints(b, qb_node(b, "Transpose", node_name(b, last, "/nhwc"), 1, in, t), "perm", 4,
                       perm, true));
        q = t;
    }
    if (b->rank[last] == 4) {
        const char *in[1] = {q};
        char *f = qb_name(b, "q%d_flat", last);
        NEED(attr_int(b, qb_node(b, "Flatten", node_name(b, last, "/flatten"), 1, in, f), "axis",
                      1));
        q = f;
    }
    const char *in[3] = {q, qb_name(b, "s%d", last), qb_name(b, "z%d", last)};
    NEED(qb_node(b, "DequantizeLinear", node_name(b, last, "/dq"), 3, in, qb_name(b, "logits")));
    return FROST_OK;
}

/* ---- graph and model ---- */

/* A float32 tensor value [N, d1, ...] with N symbolic. */
static Onnx__ValueInfoProto *value_info(qdq_builder *b, const char *name, int n_dims,
                                        const int64_t *dims)
{
    Onnx__ValueInfoProto *v = qb_alloc(b, sizeof *v);
    Onnx__TypeProto *t = qb_alloc(b, sizeof *t);
    Onnx__TypeProto__Tensor *tt = qb_alloc(b, sizeof *tt);
    Onnx__TensorShapeProto *s = qb_alloc(b, sizeof *s);
    Onnx__TensorShapeProto__Dimension **d = qb_alloc(b, sizeof(void *) * (size_t)(n_dims + 1));
    if (!v || !t || !tt || !s || !d)
        return NULL;
    *v = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    *t = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    *tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    *s = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    for (int i = 0; i <= n_dims; i++) {
        if (!(d[i] = qb_alloc(b, sizeof **d)))
            return NULL;
        *d[i] = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        if (i == 0) {
            d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d[i]->dim_param = "N";
        } else {
            d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d[i]->dim_value = dims[i - 1];
        }
    }
    s->n_dim = (size_t)n_dims + 1;
    s->dim = d;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = s;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    v->name = (char *)name;
    v->type = t;
    return v;
}

static frost_status build_graph(qdq_builder *b, Onnx__GraphProto *g)
{
    const frost_int8_model *m = b->m;
    for (int i = 0; i < m->n_nodes; i++)
        FROST_TRY(emit_node(b, i));
    FROST_TRY(emit_output(b));
    int64_t in_dims[3] = {m->in_c, m->in_h, m->in_w}, out_dims[1] = {m->classes};
    Onnx__ValueInfoProto **ins = qb_alloc(b, sizeof(void *)), **outs = qb_alloc(b, sizeof(void *));
    NEED(ins && outs);
    NEED(ins[0] = value_info(b, "input", 3, in_dims));
    NEED(outs[0] = value_info(b, "logits", 1, out_dims));
    g->name = (char *)m->name;
    g->doc_string = "frost int8 model as QDQ (uint8 activations, per-channel int8 weights, "
                    "int32 biases), NCHW";
    g->n_node = b->n_nodes;
    g->node = b->nodes;
    g->n_initializer = b->n_inits;
    g->initializer = b->inits;
    g->n_input = 1;
    g->input = ins;
    g->n_output = 1;
    g->output = outs;
    return FROST_OK;
}

static frost_status pack_and_write(const Onnx__ModelProto *model, const char *path)
{
    size_t size = onnx__model_proto__get_packed_size(model);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return out_of_memory();
    onnx__model_proto__pack(model, buf);
    frost_status s = frost_write_file_atomic(path, buf, size);
    free(buf);
    return s;
}

static void builder_free(qdq_builder *b)
{
    for (size_t i = 0; i < b->n_allocs; i++)
        free(b->allocs[i]);
    free(b->allocs);
    free(b->nodes);
    free(b->inits);
    free(b->rank);
    free(b->views);
}

frost_status frost_int8_export_onnx(const frost_int8_model *m, const char *path, int uint8_weights)
{
    if (!m || !path)
        return frost_fail(FROST_ERR_ARG, "ONNX export: NULL argument");
    qdq_builder b = {.m = m, .u8_weights = uint8_weights != 0};
    b.rank = calloc((size_t)m->n_nodes, sizeof *b.rank);
    b.views = calloc((size_t)m->n_nodes, sizeof *b.views);
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    frost_status s = b.rank && b.views ? build_graph(&b, &graph) : out_of_memory();
    if (s == FROST_OK) {
        opset.domain = "";
        opset.has_version = 1;
        opset.version = QDQ_OPSET;
        model.has_ir_version = 1;
        model.ir_version = QDQ_IR_VERSION;
        model.n_opset_import = 1;
        model.opset_import = opsets;
        model.producer_name = "frost";
        model.producer_version = FROST_VERSION_STRING;
        model.graph = &graph;
        s = pack_and_write(&model, path);
    }
    builder_free(&b);
    return s;
}

int frost_int8_onnx_rounded_biases(const frost_int8_model *m)
{
    int rounded = 0;
    for (int i = 0; m && i < m->n_nodes; i++) {
        const frost_int8_node *n = &m->nodes[i];
        if ((n->op != FROST_I8_CONV && n->op != FROST_I8_LINEAR) || !n->bias || !n->acc_shift)
            continue;
        int32_t step_mask = (int32_t)((1u << n->acc_shift) - 1u);
        bool exact = true;
        for (int c = 0; c < n->c && exact; c++)
            exact = (n->bias[c] & step_mask) == 0;
        rounded += !exact;
    }
    return rounded;
}
