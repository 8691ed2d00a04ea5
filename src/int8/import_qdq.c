/*
 * QDQ ONNX -> int8 model (docs/interop.md, "QDQ import").
 *
 * An already-quantized ONNX model (QuantizeLinear / DequantizeLinear around float ops, as
 * ONNX Runtime's quantizer and frost's own export write them) becomes an int8 model
 * directly. Every uint8 tensor of the file (a QuantizeLinear output, possibly clamped by a
 * uint8 Clip or looked up through a Cast + Gather table) is one int8 node; the float op
 * between the DequantizeLinears that read its inputs and the QuantizeLinear that writes it
 * says which. The integers are the file's; the requantization multipliers are computed from
 * its scales with the converter's rules (requant.h, convert.c), so the int8 model runs the
 * arithmetic frost's converter would have produced from the same integers and scales.
 *
 * Values are tracked by kind: the float graph input, uint8 tensors (an int8 node), their
 * dequantized float views, the int32 indices of a Cast, dequantized constants (weights,
 * biases) and "pending" float results of an op waiting for the QuantizeLinear that makes
 * them a node. Nothing is trusted: dtypes, shapes, scales and zero points are checked, and
 * every error names the ONNX node.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strmap.h"
#include "core/util.h"
#include "frost/quant.h"
#include "int8/i8model.h"
#include "int8/requant.h"
#include "io/onnx.h"

/* ---------------------------------------------------------------- state */

typedef enum {
    V_NONE = 0,
    V_INPUT,   /* the float graph input */
    V_CONST,   /* an initializer */
    V_U8,      /* node t's uint8 tensor */
    V_F32,     /* node t's tensor dequantized */
    V_INDEX,   /* node t's tensor cast to integer indices (for a Gather table) */
    V_WEIGHT,  /* a DequantizeLinear of a constant (graph node `node`) */
    V_PENDING, /* a float op's result waiting for its QuantizeLinear (pending[p]) */
} vkind;

typedef struct {
    vkind kind;
    int t;     /* V_U8, V_F32, V_INDEX: the int8 node */
    int rank;  /* 4 (NCHW) or 2 ([N, F]) */
    bool chw;  /* rank 2 flattened from a map larger than 1x1 in ONNX's C,H,W order */
    bool nhwc; /* rank 4 transposed to N,H,W,C (only a Flatten to the output may read it) */
    int node;  /* V_WEIGHT: the DequantizeLinear; V_PENDING: the op */
    int p;     /* V_PENDING */
    const Onnx__TensorProto *c; /* V_CONST */
} qval;

typedef struct {
    frost_int8_op op; /* CONV, LINEAR (Gemm / MatMul), ADD, CONCAT, MAXPOOL, AVGPOOL, GAP, LUT */
    int node;         /* the ONNX op node */
    int n_in, in[FROST_I8_MAX_INPUTS];
    int w_dq, b_dq; /* DequantizeLinear nodes of the weight and bias, -1 if none */
    bool chw;       /* LINEAR: the input is flattened in C,H,W order */
    bool trans_w;   /* LINEAR: W is [in, out] (Gemm transB 0, MatMul) */
    int k, stride, pad, groups;
    float lo, hi; /* a fused Relu / Clip (float), else -inf, inf */
    int rank;
} pending;

typedef struct {
    const Onnx__GraphProto *g;
    frost_int8_model *m;
    frost_strmap init, producer, val_index, readers;
    qval *vals;
    int n_vals;
    pending *pend;
    int n_pend;
    bool *qp_known; /* [node]: scale / zero point known (a Gather's come from a reader) */
    int *order, n_order;
} qdq_importer;

static const char *str(const char *s) { return s ? s : ""; }

static frost_status node_fail(const qdq_importer *im, int i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static frost_status node_fail(const qdq_importer *im, int i, const char *fmt, ...)
{
    char why[384], buf[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    const Onnx__NodeProto *n = im->g->node[i];
    return frost_fail(FROST_ERR_UNSUPPORTED, "QDQ import: node '%s' (%s): %s",
                      frost_onnx_node_label(n, i, buf, sizeof buf), n->op_type, why);
}

static qval *find_val(qdq_importer *im, const char *name)
{
    int i = name && name[0] ? frost_strmap_get(&im->val_index, name) : -1;
    return i < 0 ? NULL : &im->vals[i];
}

static void define_val(qdq_importer *im, const char *name, qval v)
{
    im->vals[frost_strmap_intern(&im->val_index, name, &im->n_vals)] = v;
}

static int readers_of(const qdq_importer *im, const char *name)
{
    int r = frost_strmap_get(&im->readers, name);
    return r < 0 ? 0 : r;
}

/* Input k of node i, of the wanted kind; NULL (error set) otherwise. */
static qval *in_val(qdq_importer *im, int i, size_t k, vkind kind, const char *what)
{
    const Onnx__NodeProto *n = im->g->node[i];
    qval *v = k < n->n_input ? find_val(im, n->input[k]) : NULL;
    if (!v || v->kind != kind) {
        node_fail(im, i, "input %zu must be %s", k, what);
        return NULL;
    }
    if (v->nhwc) {
        node_fail(im, i, "reads a tensor transposed to NHWC (only the output's Flatten may)");
        return NULL;
    }
    return v;
}

static const Onnx__TensorProto *in_const(qdq_importer *im, int i, size_t k, bool optional)
{
    const Onnx__NodeProto *n = im->g->node[i];
    if (k >= n->n_input || !n->input[k][0]) {
        if (!optional)
            node_fail(im, i, "input %zu is missing", k);
        return NULL;
    }
    qval *v = find_val(im, n->input[k]);
    if (!v || v->kind != V_CONST) {
        node_fail(im, i, "input %zu ('%s') must be an initializer", k, n->input[k]);
        return NULL;
    }
    return v->c;
}

/* ---------------------------------------------------------------- tensors */

static const char *dtype_name(int32_t t)
{
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: return "float32";
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: return "uint8";
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: return "int8";
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return "int32";
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return "int64";
    default: return "another type";
    }
}

/* The integer values of a uint8 / int8 / int32 / int64 tensor, malloc'd. */
static frost_status tensor_ints(const Onnx__TensorProto *t, int64_t **out)
{
    int32_t dt = t->data_type;
    if (dt != ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 && dt != ONNX__TENSOR_PROTO__DATA_TYPE__INT8)
        return frost_onnx_tensor_ints(t, str(t->name), out);
    int64_t n = frost_onnx_tensor_numel(t);
    int64_t *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v)
        return frost_fail(FROST_ERR_NOMEM, "QDQ import: out of memory");
    bool s8 = dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
    for (int64_t i = 0; i < n; i++) {
        if (!t->has_raw_data)
            v[i] = t->int32_data[i];
        else
            v[i] = s8 ? (int8_t)t->raw_data.data[i] : t->raw_data.data[i];
    }
    *out = v;
    return FROST_OK;
}

/* A per-tensor (one element) or per-channel ([count]) parameter of node i. */
typedef struct {
    int64_t n; /* 1 or count */
    float *f;  /* float scales */
    int64_t *z;
} qparam;

static void qparam_free(qparam *p)
{
    free(p->f);
    free(p->z);
}

/* Scale (input 1) and zero point (input 2, optional: 0) of a Q / DQ node i: `count`
 * channels allowed (1: per tensor only), zero point of dtype zdt. */
static frost_status read_qparams(qdq_importer *im, int i, int64_t count, int32_t zdt, qparam *p)
{
    memset(p, 0, sizeof *p);
    const Onnx__TensorProto *s = in_const(im, i, 1, false);
    if (!s)
        return FROST_ERR_UNSUPPORTED;
    int64_t n = frost_onnx_tensor_numel(s);
    if (s->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return node_fail(im, i, "scale '%s' is %s, not float32", str(s->name),
                         dtype_name(s->data_type));
    if (n != 1 && (n != count || s->n_dims != 1))
        return node_fail(im, i, "scale '%s' has %lld values (want 1%s)", str(s->name), (long long)n,
                         count > 1 ? " or one per output channel" : "");
    FROST_TRY(frost_onnx_tensor_floats(s, str(s->name), &p->f));
    p->n = n;
    for (int64_t c = 0; c < n; c++)
        if (!(p->f[c] > 0.0f && isfinite(p->f[c]))) {
            float bad = p->f[c];
            qparam_free(p);
            return node_fail(im, i, "scale %g is not a positive finite number", (double)bad);
        }
    const Onnx__TensorProto *z = in_const(im, i, 2, true);
    p->z = calloc((size_t)n, sizeof *p->z);
    if (!p->z) {
        qparam_free(p);
        return frost_fail(FROST_ERR_NOMEM, "QDQ import: out of memory");
    }
    if (!z) {
        frost_status st = FROST_OK;
        if (im->g->node[i]->n_input > 2 && im->g->node[i]->input[2][0])
            st = FROST_ERR_UNSUPPORTED; /* present but not a constant (error set) */
        else if (zdt != ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 &&
                 zdt != ONNX__TENSOR_PROTO__DATA_TYPE__INT32)
            st = node_fail(im, i, "has no zero point (the tensor would be uint8, not %s)",
                           dtype_name(zdt));
        if (st != FROST_OK)
            qparam_free(p);
        return st;
    }
    frost_status st = FROST_OK;
    int64_t *zv = NULL;
    if (z->data_type != zdt)
        st = node_fail(im, i, "zero point '%s' is %s, not %s", str(z->name),
                       dtype_name(z->data_type), dtype_name(zdt));
    else if (frost_onnx_tensor_numel(z) != n)
        st = node_fail(im, i, "zero point '%s' and scale '%s' have different sizes", str(z->name),
                       str(s->name));
    else
        st = tensor_ints(z, &zv);
    if (st == FROST_OK)
        memcpy(p->z, zv, (size_t)n * sizeof *zv);
    free(zv);
    if (st != FROST_OK)
        qparam_free(p);
    return st;
}

/* The axis attribute of a DequantizeLinear (default 1) normalized for `rank`. */
static frost_status dq_axis(qdq_importer *im, int i, int rank, int64_t *axis)
{
    char buf[96];
    const Onnx__NodeProto *n = im->g->node[i];
    FROST_TRY(
        frost_onnx_attr_int(n, frost_onnx_node_label(n, i, buf, sizeof buf), "axis", 1, axis));
    if (*axis < 0)
        *axis += rank;
    return FROST_OK;
}

/* ---------------------------------------------------------------- node order */

/* Depth-first post-order of the nodes the output depends on (iterative: files can be deep). */
static frost_status order_nodes(qdq_importer *im, const char *target)
{
    int n = (int)im->g->n_node;
    unsigned char *color = calloc((size_t)n + 1, 1);
    int *stack = malloc(((size_t)n + 1) * sizeof *stack),
        *next = calloc((size_t)n + 1, sizeof *next);
    im->order = malloc(((size_t)n + 1) * sizeof *im->order);
    frost_status s = FROST_OK;
    if (!color || !stack || !next || !im->order)
        s = frost_fail(FROST_ERR_NOMEM, "QDQ import: out of memory");
    int root = s == FROST_OK ? frost_strmap_get(&im->producer, target) : -1, top = 0;
    if (s == FROST_OK && root < 0)
        s = frost_fail(FROST_ERR_FORMAT, "QDQ import: graph output '%s' is computed by no node",
                       target);
    else if (s == FROST_OK) {
        stack[top++] = root;
        color[root] = 1;
    }
    while (s == FROST_OK && top > 0) {
        int v = stack[top - 1];
        const Onnx__NodeProto *nd = im->g->node[v];
        if (next[v] == (int)nd->n_input) {
            color[v] = 2;
            im->order[im->n_order++] = v;
            top--;
            continue;
        }
        const char *in = nd->input[next[v]++];
        if (!in[0] || find_val(im, in))
            continue; /* absent optional input, initializer or graph input */
        int p = frost_strmap_get(&im->producer, in);
        if (p < 0)
            s = node_fail(im, v, "reads '%s', which nothing provides", in);
        else if (color[p] == 1)
            s = node_fail(im, p, "is on a cycle");
        else if (color[p] == 0) {
            color[p] = 1;
            stack[top++] = p;
        }
    }
    free(color);
    free(stack);
    free(next);
    return s;
}

static const char *const SUPPORTED[] = {
    "QuantizeLinear",
    "DequantizeLinear",
    "Conv",
    "Gemm",
    "MatMul",
    "Add",
    "Mul",
    "Relu",
    "Clip",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Concat",
    "Flatten",
    "Reshape",
    "Transpose",
    "Cast",
    "Gather",
    "Identity",
};

static bool supported(const Onnx__NodeProto *n)
{
    const char *d = str(n->domain);
    if (d[0] && strcmp(d, "ai.onnx") != 0)
        return false;
    for (size_t i = 0; i < sizeof SUPPORTED / sizeof SUPPORTED[0]; i++)
        if (strcmp(SUPPORTED[i], n->op_type) == 0)
            return true;
    return false;
}

/* Every node the QDQ importer has no rule for, in one message. */
static frost_status check_supported(const qdq_importer *im)
{
    char msg[1024];
    int bad =
        frost_onnx_list_unknown(im->g, im->order, im->n_order, supported, -1, msg, sizeof msg);
    if (bad == 0)
        return FROST_OK;
    return frost_fail(FROST_ERR_UNSUPPORTED, "QDQ import: %d node%s with no int8 equivalent: %s",
                      bad, bad > 1 ? "s" : "", msg);
}

/* ---------------------------------------------------------------- int8 nodes */

static frost_int8_node *new_node(qdq_importer *im, int onnx_node, frost_int8_op op)
{
    frost_int8_model *m = im->m;
    frost_int8_node *n = &m->nodes[m->n_nodes++];
    memset(n, 0, sizeof *n);
    char buf[96];
    snprintf(n->name, sizeof n->name, "%s",
             frost_onnx_node_label(im->g->node[onnx_node], onnx_node, buf, sizeof buf));
    n->op = op;
    n->k = n->stride = n->groups = 1;
    n->lo = 0;
    n->hi = 255;
    n->source = -1;
    return n;
}

/* 256-entry table: the stored value of `in` requantized to (scale, zp) as frost's converter
 * builds its identity tables (dequantize in float, frost_quantize_one). */
static void requant_table(const frost_int8_node *in, float scale, int zp, uint8_t *lut)
{
    for (int s = 0; s < 256; s++) {
        float x = ((float)s - (float)in->zp) * in->scale;
        lut[s] = (uint8_t)frost_quantize_one(x, scale, zp, 0, 255);
    }
}

/* int32 bias on frost's accumulator grid S_x S_w / 2^shift from q_b * s_b: exact when s_b is
 * S_x S_w / 2^j (j <= shift: ONNX Runtime's quantizer and frost's export write j = 0), else
 * rounded. */
static frost_status grid_bias(qdq_importer *im, int i, int c, int64_t qb, float sb,
                              double acc_scale, int shift, int32_t *out)
{
    double v = NAN;
    for (int j = 0; j <= shift; j++)
        if (sb == (float)(acc_scale / (double)(1 << j)))
            v = (double)qb * (double)(1 << (shift - j));
    if (isnan(v))
        v = round((double)qb * (double)sb * (double)(1 << shift) / acc_scale);
    if (!(fabs(v) <= 1073741824.0))
        return node_fail(im, i, "channel %d: bias %lld does not fit int32 on the accumulator grid",
                         c, (long long)qb);
    *out = (int32_t)v;
    return FROST_OK;
}

/* Weight DequantizeLinear node wd of a CONV / LINEAR with `cout` outputs and `inner` inputs
 * each: int8 (zero point 0) or uint8 (zero point 128), scales per tensor or per output
 * channel on axis `ch_axis`. Fills n->weight ([cout][inner] in ONNX order), n->wscale. */
static frost_status read_weights(qdq_importer *im, int wd, int ch_axis, int64_t cout, int64_t inner,
                                 frost_int8_node *n, int8_t **w_onnx)
{
    const Onnx__TensorProto *w = in_const(im, wd, 0, false);
    if (!w)
        return FROST_ERR_UNSUPPORTED;
    bool u8 = w->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8;
    if (w->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT8 && !u8)
        return node_fail(im, wd, "weight '%s' is %s; QDQ weights must be int8", str(w->name),
                         dtype_name(w->data_type));
    if (frost_onnx_tensor_numel(w) != cout * inner)
        return node_fail(im, wd, "weight '%s' has %lld values, not %lld x %lld", str(w->name),
                         (long long)frost_onnx_tensor_numel(w), (long long)cout, (long long)inner);
    int64_t axis = 0;
    FROST_TRY(dq_axis(im, wd, (int)w->n_dims, &axis));
    qparam q;
    FROST_TRY(read_qparams(im, wd, cout, w->data_type, &q));
    frost_status s = FROST_OK;
    if (q.n > 1 && axis != ch_axis)
        s = node_fail(im, wd, "per-channel weights on axis %lld; the output channels are axis %d",
                      (long long)axis, ch_axis);
    for (int64_t c = 0; c < q.n && s == FROST_OK; c++)
        if (q.z[c] != (u8 ? 128 : 0))
            s = node_fail(im, wd, "weight zero point %lld (symmetric weights: %d)",
                          (long long)q.z[c], u8 ? 128 : 0);
    float *ws = s == FROST_OK ? frost_int8_own(im->m, (size_t)cout * sizeof(float)) : NULL;
    int64_t *v = NULL;
    if (s == FROST_OK && !ws)
        s = FROST_ERR_NOMEM;
    if (s == FROST_OK)
        s = tensor_ints(w, &v);
    *w_onnx = s == FROST_OK ? malloc((size_t)(cout * inner)) : NULL;
    if (s == FROST_OK && !*w_onnx)
        s = frost_fail(FROST_ERR_NOMEM, "QDQ import: out of memory");
    for (int64_t c = 0; c < cout && s == FROST_OK; c++)
        ws[c] = q.f[q.n > 1 ? c : 0];
    /* [cout][inner] as stored, or [inner][cout] for a transposed fully connected weight */
    for (int64_t j = 0; j < cout * inner && s == FROST_OK; j++) {
        int64_t o = ch_axis == 0 ? j / inner : j % cout, r = ch_axis == 0 ? j % inner : j / cout;
        (*w_onnx)[o * inner + r] = (int8_t)(v[j] - (u8 ? 128 : 0));
    }
    free(v);
    qparam_free(&q);
    n->wscale = ws;
    return s;
}

static frost_status use_exact_bias(qdq_importer *im, const Onnx__TensorProto *b,
                                   frost_int8_node *n);
static const Onnx__TensorProto *exact_bias_of(const qdq_importer *im, const char *bias_name);

/* Bias (DequantizeLinear bd of int32 values, or none) into n->bias on the accumulator grid;
 * for float logits into out_bias as the file's float values. */
static frost_status read_bias(qdq_importer *im, int bd, frost_int8_node *n, double in_scale)
{
    int32_t *bias = frost_int8_own(im->m, (size_t)n->c * 4);
    int32_t *mult = frost_int8_own(im->m, (size_t)n->c * 4);
    int32_t *shift = frost_int8_own(im->m, (size_t)n->c * 4);
    bool logits = n->op == FROST_I8_LOGITS;
    float *ob = logits ? frost_int8_own(im->m, (size_t)n->c * 4) : NULL;
    float *os = logits ? frost_int8_own(im->m, (size_t)n->c * 4) : NULL;
    if (!bias || !mult || !shift || (logits && (!ob || !os)))
        return FROST_ERR_NOMEM;
    n->bias = bias;
    n->mult = mult;
    n->shift = shift;
    n->n_mult = logits ? 0 : n->c; /* as frost_int8_load sets a LOGITS node */
    n->out_bias = ob;
    n->out_scale = os;
    for (int c = 0; c < n->c; c++) {
        double acc_scale = in_scale * (double)n->wscale[c];
        if (logits)
            os[c] = (float)acc_scale;
        else
            frost_quantize_multiplier(acc_scale / (double)(1 << n->acc_shift) / (double)n->scale,
                                      &mult[c], &shift[c]);
    }
    if (bd < 0)
        return FROST_OK;
    const Onnx__TensorProto *b = in_const(im, bd, 0, false);
    if (!b)
        return FROST_ERR_UNSUPPORTED;
    if (b->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT32)
        return node_fail(im, bd, "bias '%s' is %s; QDQ biases must be int32", str(b->name),
                         dtype_name(b->data_type));
    if (frost_onnx_tensor_numel(b) != n->c || b->n_dims != 1)
        return node_fail(im, bd, "bias '%s' is not one value per output channel (%d)", str(b->name),
                         n->c);
    int64_t axis = 0; /* a 1-D tensor's only axis, when the attribute is absent */
    if (frost_onnx_attr(im->g->node[bd], "axis"))
        FROST_TRY(dq_axis(im, bd, 1, &axis));
    qparam q;
    FROST_TRY(read_qparams(im, bd, n->c, ONNX__TENSOR_PROTO__DATA_TYPE__INT32, &q));
    int64_t *v = NULL;
    frost_status s = FROST_OK;
    if (q.n > 1 && axis != 0)
        s = node_fail(im, bd, "per-channel bias on axis %lld (must be 0)", (long long)axis);
    for (int c = 0; c < q.n && s == FROST_OK; c++)
        if (q.z[c] != 0)
            s = node_fail(im, bd, "bias zero point %lld (must be 0)", (long long)q.z[c]);
    if (s == FROST_OK)
        s = tensor_ints(b, &v);
    for (int c = 0; c < n->c && s == FROST_OK; c++) {
        float sb = q.f[q.n > 1 ? c : 0];
        if (logits)
            ob[c] = (float)v[c] * sb; /* DequantizeLinear's float product */
        else
            s = grid_bias(im, bd, c, v[c], sb, in_scale * (double)n->wscale[c], n->acc_shift,
                          &bias[c]);
    }
    free(v);
    qparam_free(&q);
    return s == FROST_OK ? use_exact_bias(im, b, n) : s;
}

/* frost's exact bias, when the file came from frost's export: "<bias>.frost", an initializer
 * no node reads (export_onnx.c); NULL when absent. */
static const Onnx__TensorProto *exact_bias_of(const qdq_importer *im, const char *bias_name)
{
    char name[512];
    snprintf(name, sizeof name, "%s.frost", bias_name);
    for (size_t i = 0; i < im->g->n_initializer; i++)
        if (strcmp(im->g->initializer[i]->name, name) == 0)
            return im->g->initializer[i];
    return NULL;
}

/* Replaces the bias read from the file's int32 values by frost's exact one when the file
 * carries it with matching shape, type and accumulator grid (else keeps the file's). */
static frost_status use_exact_bias(qdq_importer *im, const Onnx__TensorProto *b, frost_int8_node *n)
{
    const Onnx__TensorProto *e = exact_bias_of(im, str(b->name));
    bool logits = n->op == FROST_I8_LOGITS;
    if (!e || e->n_dims != 1 || frost_onnx_tensor_numel(e) != (logits ? n->c : n->c + 1))
        return FROST_OK;
    if (logits && e->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        float *f;
        FROST_TRY(frost_onnx_tensor_floats(e, "exact bias", &f));
        bool finite = true;
        for (int c = 0; c < n->c; c++)
            finite = finite && isfinite(f[c]);
        if (finite)
            memcpy((float *)n->out_bias, f, (size_t)n->c * sizeof(float));
        free(f);
    } else if (!logits && e->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32) {
        int64_t *v;
        FROST_TRY(frost_onnx_tensor_ints(e, "exact bias", &v));
        if (v[0] == n->acc_shift)
            for (int c = 0; c < n->c; c++)
                ((int32_t *)n->bias)[c] = (int32_t)v[1 + c];
        free(v);
    }
    return FROST_OK;
}

/* The accumulator shift of a conv / linear: the one frost's export recorded with its exact
 * bias (a model converted with the ONNX bias grid has 0), else the largest that fits. */
static int exported_acc_shift(qdq_importer *im, int bd, int64_t inner)
{
    int fits = frost_int8_weights_acc_shift(inner);
    const Onnx__TensorProto *b = bd >= 0 ? in_const(im, bd, 0, true) : NULL;
    const Onnx__TensorProto *e = b ? exact_bias_of(im, str(b->name)) : NULL;
    int64_t *v = NULL;
    if (!e || e->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT32 || e->n_dims != 1 ||
        frost_onnx_tensor_numel(e) < 1 || frost_onnx_tensor_ints(e, "exact bias", &v) != FROST_OK)
        return fits;
    int shift = v[0] >= 0 && v[0] <= fits ? (int)v[0] : fits;
    free(v);
    return shift;
}

/* A CONV / LINEAR / LOGITS node from pending op p. */
static frost_status emit_weighted(qdq_importer *im, const pending *p, frost_int8_node *n)
{
    const frost_int8_node *in = &im->m->nodes[p->in[0]];
    const Onnx__TensorProto *w = in_const(im, p->w_dq, 0, false);
    if (!w)
        return FROST_ERR_UNSUPPORTED;
    bool conv = p->op == FROST_I8_CONV;
    int64_t cout, inner;
    if (conv) {
        if (w->n_dims != 4 || w->dims[2] != p->k || w->dims[3] != p->k || w->dims[0] < 1 ||
            w->dims[0] > 65536 || p->groups < 1 || in->c % p->groups ||
            w->dims[1] != in->c / p->groups || w->dims[0] % p->groups)
            return node_fail(im, p->node,
                             "weight '%s' is not [cout, %d/groups, %d, %d] over a %d-channel input",
                             str(w->name), in->c, p->k, p->k, in->c);
        cout = w->dims[0];
        inner = w->dims[1] * p->k * p->k;
    } else {
        inner = (int64_t)in->h * in->w * in->c;
        if (w->n_dims != 2 || w->dims[p->trans_w ? 0 : 1] != inner ||
            w->dims[p->trans_w ? 1 : 0] < 1 || w->dims[p->trans_w ? 1 : 0] > 65536)
            return node_fail(im, p->node, "weight '%s' does not take %lld inputs", str(w->name),
                             (long long)inner);
        cout = w->dims[p->trans_w ? 1 : 0];
    }
    n->c = (int)cout;
    if (conv) {
        n->k = p->k;
        n->stride = p->stride;
        n->pad = p->pad;
        n->groups = p->groups;
        if (in->h + 2 * p->pad < p->k || in->w + 2 * p->pad < p->k)
            return node_fail(im, p->node, "kernel larger than the padded input");
        n->h = (in->h + 2 * p->pad - p->k) / p->stride + 1;
        n->w = (in->w + 2 * p->pad - p->k) / p->stride + 1;
    } else {
        n->h = n->w = 1;
    }
    n->acc_shift = n->op == FROST_I8_LOGITS ? 0 : exported_acc_shift(im, p->b_dq, inner);
    int8_t *wo = NULL, *wf = frost_int8_own(im->m, (size_t)(cout * inner));
    if (!wf)
        return FROST_ERR_NOMEM;
    FROST_TRY(read_weights(im, p->w_dq, conv || !p->trans_w ? 0 : 1, cout, inner, n, &wo));
    /* ONNX order -> frost's: conv OIHW -> [o][ky][kx][c]; fully connected columns of a
     * C,H,W flattening -> H,W,C */
    int kk = p->k * p->k, cg = conv ? in->c / p->groups : 0, hw = in->h * in->w;
    for (int64_t o = 0; o < cout; o++)
        for (int64_t j = 0; j < inner; j++) {
            int64_t dst = j;
            if (conv)
                dst = (j % kk) * cg + j / kk;
            else if (p->chw)
                dst = (j % hw) * in->c + j / hw;
            wf[o * inner + dst] = wo[o * inner + j];
        }
    free(wo);
    n->weight = wf;
    return read_bias(im, p->b_dq, n, (double)in->scale);
}

/* ADD / MUL: an element-wise node of its first input's shape, with the multipliers the
 * converter computes from the same scales (multipliers.c). */
static frost_status emit_binary(qdq_importer *im, frost_int8_node *n)
{
    const frost_int8_node *a = &im->m->nodes[n->in[0]];
    n->h = a->h, n->w = a->w, n->c = a->c;
    return frost_int8_set_multipliers(im->m, n);
}

/* Tables of CONCAT / MAXPOOL / a DequantizeLinear -> QuantizeLinear requantization. */
static frost_status emit_tables(qdq_importer *im, frost_int8_node *n)
{
    uint8_t *lut = frost_int8_own(im->m, (size_t)n->n_in * 256);
    if (!lut)
        return FROST_ERR_NOMEM;
    for (int j = 0; j < n->n_in; j++)
        requant_table(&im->m->nodes[n->in[j]], n->scale, n->zp, lut + 256 * j);
    n->lut = lut;
    const frost_int8_node *in = &im->m->nodes[n->in[0]];
    n->h = in->h, n->w = in->w, n->c = in->c;
    if (n->op == FROST_I8_CONCAT) {
        n->c = 0;
        for (int j = 0; j < n->n_in; j++)
            n->c += im->m->nodes[n->in[j]].c;
    }
    if (n->op == FROST_I8_MAXPOOL && in->h + 2 * n->pad >= n->k && in->w + 2 * n->pad >= n->k) {
        n->h = (in->h + 2 * n->pad - n->k) / n->stride + 1;
        n->w = (in->w + 2 * n->pad - n->k) / n->stride + 1;
    }
    return FROST_OK;
}

/* The int8 node of pending op p, quantized to (scale, zp) (LOGITS: none). */
static frost_status emit_pending(qdq_importer *im, const pending *p, bool logits, float scale,
                                 int zp, int *t)
{
    frost_int8_node *n = new_node(im, p->node, logits ? FROST_I8_LOGITS : p->op);
    *t = im->m->n_nodes - 1;
    im->qp_known[*t] = true;
    n->n_in = p->n_in;
    memcpy(n->in, p->in, sizeof p->in);
    if (logits) {
        n->lo = n->hi = 0;
        if (p->lo > -INFINITY || p->hi < INFINITY)
            return node_fail(im, p->node, "a clamp on the float output");
        return emit_weighted(im, p, n);
    }
    n->scale = scale;
    n->zp = zp;
    if (p->lo > -INFINITY)
        n->lo = frost_quantize_one(p->lo, scale, zp, 0, 255);
    if (p->hi < INFINITY)
        n->hi = frost_quantize_one(p->hi, scale, zp, 0, 255);
    if (p->op != FROST_I8_CONV && p->op != FROST_I8_LINEAR)
        n->k = p->k, n->stride = p->stride, n->pad = p->pad;
    switch (p->op) {
    case FROST_I8_CONV:
    case FROST_I8_LINEAR: return emit_weighted(im, p, n);
    case FROST_I8_ADD:
    case FROST_I8_MUL: return emit_binary(im, n);
    case FROST_I8_AVGPOOL:
    case FROST_I8_GAP:
        n->h = n->op == FROST_I8_GAP
                   ? 1
                   : (im->m->nodes[p->in[0]].h + 2 * p->pad - p->k) / p->stride + 1;
        n->w = n->op == FROST_I8_GAP
                   ? 1
                   : (im->m->nodes[p->in[0]].w + 2 * p->pad - p->k) / p->stride + 1;
        n->c = im->m->nodes[p->in[0]].c;
        if (n->op == FROST_I8_GAP)
            n->k = 1, n->stride = 1, n->pad = 0;
        return frost_int8_set_multipliers(im->m, n);
    default: return emit_tables(im, n);
    }
}

/* ---------------------------------------------------------------- ONNX nodes */

static frost_status add_pending(qdq_importer *im, int i, pending p, int rank)
{
    p.node = i;
    p.rank = rank;
    p.lo = -INFINITY;
    p.hi = INFINITY;
    im->pend[im->n_pend] = p;
    define_val(im, im->g->node[i]->output[0],
               (qval){.kind = V_PENDING, .p = im->n_pend++, .node = i, .rank = rank});
    return FROST_OK;
}

/* Square kernel, equal strides, equal pads, no dilation, no auto_pad, no ceil mode. */
static frost_status read_window(qdq_importer *im, int i, int def_k, pending *p)
{
    const Onnx__NodeProto *n = im->g->node[i];
    char buf[96];
    const char *label = frost_onnx_node_label(n, i, buf, sizeof buf);
    int64_t k[2] = {def_k, def_k}, s[2] = {1, 1}, pads[4] = {0}, d[2] = {1, 1}, ceil = 0;
    int nk = 0, ns = 0, np = 0, nd = 0;
    const char *autopad = "NOTSET";
    FROST_TRY(frost_onnx_attr_ints(n, label, "kernel_shape", k, 2, &nk));
    FROST_TRY(frost_onnx_attr_ints(n, label, "strides", s, 2, &ns));
    FROST_TRY(frost_onnx_attr_ints(n, label, "pads", pads, 4, &np));
    FROST_TRY(frost_onnx_attr_ints(n, label, "dilations", d, 2, &nd));
    FROST_TRY(frost_onnx_attr_int(n, label, "ceil_mode", 0, &ceil));
    FROST_TRY(frost_onnx_attr_string(n, label, "auto_pad", "NOTSET", &autopad));
    if (nk == 0 && def_k < 0)
        return node_fail(im, i, "has no kernel_shape");
    if (nk == 0)
        k[0] = k[1] = def_k;
    if ((nk && nk != 2) || (ns && ns != 2) || (np && np != 4) || (nd && nd != 2))
        return node_fail(im, i, "a 2-D window needs 2 kernel sizes, 2 strides and 4 pads");
    if (k[0] != k[1] || s[0] != s[1] || pads[0] != pads[1] || pads[0] != pads[2] ||
        pads[0] != pads[3] || d[0] != 1 || d[1] != 1 || ceil || strcmp(autopad, "NOTSET") != 0)
        return node_fail(im, i,
                         "the int8 engine takes square kernels, equal strides and pads, "
                         "no dilation, auto_pad or ceil_mode");
    if (k[0] < 1 || k[0] > 15 || s[0] < 1 || s[0] > 8 || pads[0] < 0 || pads[0] >= k[0])
        return node_fail(im, i, "kernel %lld, stride %lld or padding %lld out of range",
                         (long long)k[0], (long long)s[0], (long long)pads[0]);
    p->k = (int)k[0];
    p->stride = (int)s[0];
    p->pad = (int)pads[0];
    return FROST_OK;
}

/* The weight (and bias) DequantizeLinear inputs of a Conv / Gemm / MatMul. */
static frost_status weight_inputs(qdq_importer *im, int i, pending *p, bool has_bias)
{
    const Onnx__NodeProto *n = im->g->node[i];
    qval *w = in_val(im, i, 1, V_WEIGHT, "a DequantizeLinear of int8 weights");
    if (!w)
        return FROST_ERR_UNSUPPORTED;
    p->w_dq = w->node;
    p->b_dq = -1;
    if (has_bias && n->n_input > 2 && n->input[2][0]) {
        qval *b = in_val(im, i, 2, V_WEIGHT, "a DequantizeLinear of an int32 bias");
        if (!b)
            return FROST_ERR_UNSUPPORTED;
        p->b_dq = b->node;
    }
    return FROST_OK;
}

static frost_status imp_conv(qdq_importer *im, int i)
{
    const Onnx__NodeProto *n = im->g->node[i];
    char buf[96];
    qval *x = in_val(im, i, 0, V_F32, "a DequantizeLinear output");
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    if (x->rank != 4)
        return node_fail(im, i, "input is not a 4-D tensor");
    pending p = {.op = FROST_I8_CONV, .n_in = 1, .in = {x->t}};
    FROST_TRY(weight_inputs(im, i, &p, true));
    const Onnx__TensorProto *w = in_const(im, p.w_dq, 0, false);
    if (!w)
        return FROST_ERR_UNSUPPORTED;
    FROST_TRY(read_window(im, i, w->n_dims == 4 ? (int)w->dims[2] : -1, &p));
    int64_t groups = 1;
    FROST_TRY(
        frost_onnx_attr_int(n, frost_onnx_node_label(n, i, buf, sizeof buf), "group", 1, &groups));
    if (groups < 1 || groups > 65536)
        return node_fail(im, i, "group %lld out of range", (long long)groups);
    p.groups = (int)groups;
    return add_pending(im, i, p, 4);
}

static frost_status imp_gemm(qdq_importer *im, int i)
{
    const Onnx__NodeProto *n = im->g->node[i];
    char buf[96];
    const char *label = frost_onnx_node_label(n, i, buf, sizeof buf);
    bool matmul = strcmp(n->op_type, "MatMul") == 0;
    qval *x = in_val(im, i, 0, V_F32, "a DequantizeLinear output");
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    if (x->rank != 2)
        return node_fail(im, i, "input is not a 2-D [N, features] tensor (Flatten it first)");
    pending p = {.op = FROST_I8_LINEAR, .n_in = 1, .in = {x->t}, .chw = x->chw, .trans_w = true};
    if (!matmul) {
        int64_t ta = 0, tb = 0;
        float alpha = 1, beta = 1;
        FROST_TRY(frost_onnx_attr_int(n, label, "transA", 0, &ta));
        FROST_TRY(frost_onnx_attr_int(n, label, "transB", 0, &tb));
        FROST_TRY(frost_onnx_attr_float(n, label, "alpha", 1, &alpha));
        FROST_TRY(frost_onnx_attr_float(n, label, "beta", 1, &beta));
        if (ta || alpha != 1.0f || beta != 1.0f)
            return node_fail(im, i, "transA, alpha and beta must be 0, 1, 1");
        p.trans_w = tb == 0;
    }
    FROST_TRY(weight_inputs(im, i, &p, !matmul));
    return add_pending(im, i, p, 2);
}

static frost_status imp_pool(qdq_importer *im, int i)
{
    const Onnx__NodeProto *n = im->g->node[i];
    char buf[96];
    qval *x = in_val(im, i, 0, V_F32, "a DequantizeLinear output");
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    if (x->rank != 4)
        return node_fail(im, i, "input is not a 4-D tensor");
    pending p = {.n_in = 1, .in = {x->t}, .k = 1, .stride = 1};
    if (strcmp(n->op_type, "GlobalAveragePool") == 0) {
        p.op = FROST_I8_GAP;
        return add_pending(im, i, p, 4);
    }
    p.op = strcmp(n->op_type, "MaxPool") == 0 ? FROST_I8_MAXPOOL : FROST_I8_AVGPOOL;
    FROST_TRY(read_window(im, i, -1, &p));
    int64_t cip = 0, order = 0;
    const char *label = frost_onnx_node_label(n, i, buf, sizeof buf);
    FROST_TRY(frost_onnx_attr_int(n, label, "count_include_pad", 0, &cip));
    FROST_TRY(frost_onnx_attr_int(n, label, "storage_order", 0, &order));
    if (n->n_output > 1 || order)
        return node_fail(im, i, "max pool indices / storage order are not supported");
    if (cip && p.pad)
        return node_fail(im, i,
                         "count_include_pad with padding (frost divides by the taps "
                         "inside the input)");
    return add_pending(im, i, p, 4);
}

static frost_status imp_add(qdq_importer *im, int i)
{
    const Onnx__NodeProto *n = im->g->node[i];
    qval *a = n->n_input == 2 ? find_val(im, n->input[0]) : NULL;
    qval *b = n->n_input == 2 ? find_val(im, n->input[1]) : NULL;
    /* MatMul + Add(bias): the bias of the pending fully connected layer */
    for (int k = 0; k < 2 && a && b; k++) {
        qval *mm = k ? b : a, *bias = k ? a : b;
        if (mm->kind == V_PENDING && bias->kind == V_WEIGHT &&
            im->pend[mm->p].op == FROST_I8_LINEAR && im->pend[mm->p].b_dq < 0 &&
            im->pend[mm->p].lo == -INFINITY && im->pend[mm->p].hi == INFINITY &&
            readers_of(im, n->input[k]) == 1) {
            pending p = im->pend[mm->p];
            p.b_dq = bias->node;
            im->pend[im->n_pend] = p;
            define_val(im, n->output[0],
                       (qval){.kind = V_PENDING, .p = im->n_pend++, .node = p.node, .rank = 2});
            return FROST_OK;
        }
    }
    qval *x = in_val(im, i, 0, V_F32, "a DequantizeLinear output");
    qval *y = x ? in_val(im, i, 1, V_F32, "a DequantizeLinear output") : NULL;
    if (!y)
        return FROST_ERR_UNSUPPORTED;
    if (x->rank != y->rank || x->chw != y->chw)
        return node_fail(im, i, "inputs of different layouts");
    const frost_int8_node *nx = &im->m->nodes[x->t], *ny = &im->m->nodes[y->t];
    if (nx->h != ny->h || nx->w != ny->w || nx->c != ny->c)
        return node_fail(im, i, "inputs of different shapes (no broadcasting)");
    pending p = {.op = FROST_I8_ADD, .n_in = 2, .in = {x->t, y->t}, .k = 1, .stride = 1};
    return add_pending(im, i, p, x->rank);
}

/* DQ(a) * DQ(b) -> Q: a MUL node; b the same shape as a or a per-channel [N, C, 1, 1] gate
 * (squeeze-excite), in either order. */
static frost_status imp_mul(qdq_importer *im, int i)
{
    qval *x = in_val(im, i, 0, V_F32, "a DequantizeLinear output");
    qval *y = x ? in_val(im, i, 1, V_F32, "a DequantizeLinear output") : NULL;
    if (!y)
        return FROST_ERR_UNSUPPORTED;
    const frost_int8_node *nx = &im->m->nodes[x->t], *ny = &im->m->nodes[y->t];
    if (nx->h * nx->w == 1 && ny->h * ny->w > 1) { /* the gate goes second */
        qval *t = x;
        x = y, y = t;
        const frost_int8_node *tn = nx;
        nx = ny, ny = tn;
    }
    bool same = nx->h == ny->h && nx->w == ny->w && nx->c == ny->c;
    bool gate = ny->h == 1 && ny->w == 1 && ny->c == nx->c;
    if (x->chw || y->chw || !(same || gate))
        return node_fail(im, i,
                         "a product of same-shape tensors or of a map and a per-channel "
                         "gate only");
    pending p = {.op = FROST_I8_MUL, .n_in = 2, .in = {x->t, y->t}, .k = 1, .stride = 1};
    return add_pending(im, i, p, x->rank);
}

static frost_status imp_concat(qdq_importer *im, int i)
{
    const Onnx__NodeProto *n = im->g->node[i];
    char buf[96];
    if (n->n_input < 1 || n->n_input > FROST_I8_MAX_INPUTS)
        return node_fail(im, i, "1 to %d inputs", FROST_I8_MAX_INPUTS);
    pending p = {.op = FROST_I8_CONCAT, .n_in = (int)n->n_input, .k = 1, .stride = 1};
    int rank = 0;
    for (size_t k = 0; k < n->n_input; k++) {
        qval *x = in_val(im, i, k, V_F32, "a DequantizeLinear output");
        if (!x)
            return FROST_ERR_UNSUPPORTED;
        if ((k && x->rank != rank) || x->chw)
            return node_fail(im, i, "inputs of different or flattened layouts");
        rank = x->rank;
        p.in[k] = x->t;
        const frost_int8_node *a = &im->m->nodes[x->t], *b = &im->m->nodes[p.in[0]];
        if (a->h != b->h || a->w != b->w)
            return node_fail(im, i, "inputs of different sizes");
    }
    int64_t axis = 1;
    FROST_TRY(
        frost_onnx_attr_int(n, frost_onnx_node_label(n, i, buf, sizeof buf), "axis", 1, &axis));
    if (axis != 1 && axis != 1 - rank)
        return node_fail(im, i, "axis %lld: only channels (axis 1) are concatenated",
                         (long long)axis);
    return add_pending(im, i, p, rank);
}

/* Clip's bound input k (1: min, 2: max) as a scalar of dtype dt; *present false when absent. */
static frost_status clip_bound(qdq_importer *im, int i, size_t k, int32_t dt, double *out,
                               bool *present)
{
    const Onnx__NodeProto *n = im->g->node[i];
    const Onnx__TensorProto *t = in_const(im, i, k, true);
    *present = t != NULL;
    if (!t)
        return k < n->n_input && n->input[k][0] ? FROST_ERR_UNSUPPORTED : FROST_OK;
    if (t->data_type != dt || frost_onnx_tensor_numel(t) != 1)
        return node_fail(im, i, "bound '%s' is not a %s scalar", str(t->name), dtype_name(dt));
    if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        float *v;
        FROST_TRY(frost_onnx_tensor_floats(t, str(t->name), &v));
        *out = v[0];
        free(v);
        return isnan(*out) ? node_fail(im, i, "a NaN bound") : FROST_OK;
    }
    int64_t *v;
    FROST_TRY(tensor_ints(t, &v));
    *out = (double)v[0];
    free(v);
    return FROST_OK;
}

/* Relu / Clip on a pending Conv / Gemm: its output range (float bounds). */
static frost_status clamp_pending(qdq_importer *im, int i, const qval *x, bool relu)
{
    const Onnx__NodeProto *n = im->g->node[i];
    if (readers_of(im, n->input[0]) != 1)
        return node_fail(im, i, "reads a Conv / Gemm output that is also read elsewhere");
    pending p = im->pend[x->p];
    double b[3] = {0, relu ? 0.0 : -INFINITY, INFINITY};
    for (size_t k = 1; !relu && k < 3; k++) {
        bool present;
        double v;
        FROST_TRY(clip_bound(im, i, k, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, &v, &present));
        if (present)
            b[k] = v;
    }
    p.lo = p.lo > (float)b[1] ? p.lo : (float)b[1];
    p.hi = p.hi < (float)b[2] ? p.hi : (float)b[2];
    im->pend[im->n_pend] = p;
    define_val(im, n->output[0],
               (qval){.kind = V_PENDING, .p = im->n_pend++, .node = p.node, .rank = p.rank});
    return FROST_OK;
}

/* Clip on a uint8 tensor (nothing else reads it): narrows its node's clamp. */
static frost_status clamp_u8(qdq_importer *im, int i, const qval *x)
{
    const Onnx__NodeProto *n = im->g->node[i];
    if (readers_of(im, n->input[0]) != 1)
        return node_fail(im, i, "clamps a uint8 tensor that is also read elsewhere");
    frost_int8_node *t = &im->m->nodes[x->t];
    for (size_t k = 1; k < 3; k++) {
        bool present;
        double v;
        FROST_TRY(clip_bound(im, i, k, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, &v, &present));
        if (present && k == 1 && v > t->lo)
            t->lo = (int32_t)v;
        if (present && k == 2 && v < t->hi)
            t->hi = (int32_t)v;
    }
    if (t->lo > t->hi)
        return node_fail(im, i, "empty clamp range");
    define_val(im, n->output[0], *x);
    return FROST_OK;
}

/* Relu / Clip: fused into the pending Conv / Gemm before it, or a uint8 Clip. */
static frost_status imp_clamp(qdq_importer *im, int i)
{
    const Onnx__NodeProto *n = im->g->node[i];
    bool relu = strcmp(n->op_type, "Relu") == 0;
    qval *x = n->n_input >= 1 ? find_val(im, n->input[0]) : NULL;
    if (x && x->kind == V_PENDING &&
        (im->pend[x->p].op == FROST_I8_CONV || im->pend[x->p].op == FROST_I8_LINEAR))
        return clamp_pending(im, i, x, relu);
    x = in_val(im, i, 0, V_U8, relu ? "a Conv / Gemm output" : "a Conv / Gemm output or uint8");
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    if (relu)
        return node_fail(im, i, "Relu on uint8");
    return clamp_u8(im, i, x);
}

static frost_status imp_quantize(qdq_importer *im, int i)
{
    const Onnx__NodeProto *n = im->g->node[i];
    qval *x = n->n_input >= 1 ? find_val(im, n->input[0]) : NULL;
    qparam q;
    FROST_TRY(read_qparams(im, i, 1, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, &q));
    float scale = q.f[0];
    int zp = (int)q.z[0];
    qparam_free(&q);
    int t = -1, rank = 4;
    if (x && x->kind == V_INPUT) {
        if (im->m->n_nodes != 0)
            return node_fail(im, i, "the graph input is quantized twice");
        frost_int8_node *nd = new_node(im, i, FROST_I8_QUANTIZE);
        nd->h = im->m->in_h, nd->w = im->m->in_w, nd->c = im->m->in_c;
        nd->scale = scale;
        nd->zp = zp;
        t = 0;
        im->qp_known[0] = true;
    } else if (x && x->kind == V_PENDING) {
        if (im->m->n_nodes == 0)
            return node_fail(im, i, "quantizes before the graph input is");
        rank = x->rank;
        FROST_TRY(emit_pending(im, &im->pend[x->p], false, scale, zp, &t));
    } else if (x && x->kind == V_F32 && !x->nhwc) { /* a requantizing copy */
        frost_int8_node *nd = new_node(im, i, FROST_I8_LUT);
        t = im->m->n_nodes - 1;
        im->qp_known[t] = true;
        nd->n_in = 1;
        nd->in[0] = x->t;
        nd->scale = scale;
        nd->zp = zp;
        rank = x->rank;
        FROST_TRY(emit_tables(im, nd));
    } else {
        return node_fail(im, i,
                         "quantizes neither the graph input nor the result of a "
                         "supported op on dequantized tensors");
    }
    define_val(im, n->output[0], (qval){.kind = V_U8, .t = t, .rank = rank, .chw = x->chw});
    return FROST_OK;
}

static frost_status imp_dequantize(qdq_importer *im, int i)
{
    const Onnx__NodeProto *n = im->g->node[i];
    qval *x = n->n_input >= 1 ? find_val(im, n->input[0]) : NULL;
    if (x && x->kind == V_CONST) { /* weights / bias: read by their consumer */
        define_val(im, n->output[0], (qval){.kind = V_WEIGHT, .node = i});
        return FROST_OK;
    }
    x = in_val(im, i, 0, V_U8, "a uint8 tensor (QuantizeLinear output) or an initializer");
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    qparam q;
    FROST_TRY(read_qparams(im, i, 1, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, &q));
    float scale = q.f[0];
    int zp = (int)q.z[0];
    qparam_free(&q);
    frost_int8_node *t = &im->m->nodes[x->t];
    if (!im->qp_known[x->t]) {
        t->scale = scale;
        t->zp = zp;
        im->qp_known[x->t] = true;
    } else if (t->scale != scale || t->zp != zp) {
        return node_fail(im, i,
                         "dequantizes with scale %g, zero point %d a tensor quantized with "
                         "scale %g, zero point %d",
                         (double)scale, zp, (double)t->scale, t->zp);
    }
    qval v = *x;
    v.kind = V_F32;
    define_val(im, n->output[0], v);
    return FROST_OK;
}

static frost_status imp_cast(qdq_importer *im, int i)
{
    const Onnx__NodeProto *n = im->g->node[i];
    char buf[96];
    qval *x = in_val(im, i, 0, V_U8, "a uint8 tensor (a table's index)");
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    int64_t to = 0;
    FROST_TRY(frost_onnx_attr_int(n, frost_onnx_node_label(n, i, buf, sizeof buf), "to", 0, &to));
    if (to != ONNX__TENSOR_PROTO__DATA_TYPE__INT32 && to != ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
        return node_fail(im, i, "only casts uint8 to int32 / int64 indices are supported");
    qval v = *x;
    v.kind = V_INDEX;
    define_val(im, n->output[0], v);
    return FROST_OK;
}

/* Gather(uint8[256] table, indices of node t): a LUT node, or the table folded into t's own
 * (a max pool's requantization, frost's export writes it so) when nothing else reads t. */
static frost_status imp_gather(qdq_importer *im, int i)
{
    const Onnx__NodeProto *n = im->g->node[i];
    char buf[96];
    const Onnx__TensorProto *tab = in_const(im, i, 0, false);
    qval *x = tab ? in_val(im, i, 1, V_INDEX, "a Cast of a uint8 tensor") : NULL;
    if (!x)
        return FROST_ERR_UNSUPPORTED;
    int64_t axis = 0;
    FROST_TRY(
        frost_onnx_attr_int(n, frost_onnx_node_label(n, i, buf, sizeof buf), "axis", 0, &axis));
    if (tab->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 || tab->n_dims != 1 ||
        tab->dims[0] != 256 || axis != 0)
        return node_fail(im, i, "the table '%s' must be uint8 [256], gathered on axis 0",
                         str(tab->name));
    int64_t *v;
    FROST_TRY(tensor_ints(tab, &v));
    frost_int8_node *src = &im->m->nodes[x->t];
    int producer = frost_strmap_get(&im->producer, n->input[1]);
    const char *u8name = producer >= 0 ? im->g->node[producer]->input[0] : "";
    bool fold = (src->op == FROST_I8_MAXPOOL || src->op == FROST_I8_LUT) && src->lut &&
                readers_of(im, u8name) == 1 && readers_of(im, n->input[1]) == 1 &&
                x->t == im->m->n_nodes - 1;
    uint8_t *lut = fold ? (uint8_t *)src->lut : frost_int8_own(im->m, 256);
    if (!lut) {
        free(v);
        return FROST_ERR_NOMEM;
    }
    for (int s = 0; s < 256; s++)
        lut[s] = fold ? (uint8_t)v[lut[s]] : (uint8_t)v[s];
    free(v);
    int t = x->t;
    if (!fold) {
        frost_int8_node *nd = new_node(im, i, FROST_I8_LUT);
        src = &im->m->nodes[x->t];
        t = im->m->n_nodes - 1;
        nd->n_in = 1;
        nd->in[0] = x->t;
        nd->h = src->h, nd->w = src->w, nd->c = src->c;
        nd->lut = lut;
        nd->scale = src->scale; /* until a DequantizeLinear says */
        nd->zp = src->zp;
    }
    im->qp_known[t] = false;
    define_val(im, n->output[0], (qval){.kind = V_U8, .t = t, .rank = x->rank, .chw = x->chw});
    return FROST_OK;
}

/* Flatten / Reshape / Identity / Transpose on uint8 or dequantized tensors: views. */
static frost_status imp_view(qdq_importer *im, int i)
{
    const Onnx__NodeProto *n = im->g->node[i];
    char buf[96];
    const char *label = frost_onnx_node_label(n, i, buf, sizeof buf);
    qval *x = n->n_input >= 1 ? find_val(im, n->input[0]) : NULL;
    if (!x || (x->kind != V_U8 && x->kind != V_F32))
        return node_fail(im, i, "input 0 must be a uint8 or dequantized tensor");
    qval v = *x;
    const frost_int8_node *t = &im->m->nodes[x->t];
    bool map = t->h * t->w > 1;
    if (strcmp(n->op_type, "Identity") == 0) {
        define_val(im, n->output[0], v);
        return FROST_OK;
    }
    if (strcmp(n->op_type, "Transpose") == 0) {
        int64_t perm[4];
        int np = 0;
        FROST_TRY(frost_onnx_attr_ints(n, label, "perm", perm, 4, &np));
        if (x->rank != 4 || x->nhwc || np != 4 || perm[0] != 0 || perm[1] != 2 || perm[2] != 3 ||
            perm[3] != 1)
            return node_fail(im, i, "only NCHW -> NHWC (perm 0,2,3,1) before the output");
        v.nhwc = map;
        define_val(im, n->output[0], v);
        return FROST_OK;
    }
    int out_rank = 2;
    if (strcmp(n->op_type, "Flatten") == 0) {
        int64_t axis = 1;
        FROST_TRY(frost_onnx_attr_int(n, label, "axis", 1, &axis));
        if (axis != 1)
            return node_fail(im, i, "axis %lld (only 1: [N, features])", (long long)axis);
    } else { /* Reshape to [N, features] or [N, C, 1, 1] */
        const Onnx__TensorProto *s = in_const(im, i, 1, false);
        int64_t *d = NULL;
        if (!s)
            return FROST_ERR_UNSUPPORTED;
        int64_t nd = frost_onnx_tensor_numel(s), feat = (int64_t)t->h * t->w * t->c;
        FROST_TRY(tensor_ints(s, &d));
        bool ok =
            (nd == 2 && (d[1] == feat || d[1] == -1) && (d[0] == -1 || d[0] == 0 || d[0] == 1)) ||
            (nd == 4 && !map && d[1] == t->c && d[2] == 1 && d[3] == 1 &&
             (d[0] == -1 || d[0] == 0 || d[0] == 1));
        out_rank = (int)nd;
        free(d);
        if (!ok)
            return node_fail(im, i, "only reshapes to [N, %lld] or [N, C, 1, 1] are views",
                             (long long)feat);
    }
    if (out_rank == 2) {
        v.chw = x->rank == 4 ? map && !x->nhwc : x->chw;
        v.nhwc = false;
    } else {
        v.chw = false;
    }
    v.rank = out_rank;
    define_val(im, n->output[0], v);
    return FROST_OK;
}

static frost_status import_node(qdq_importer *im, int i)
{
    const char *op = im->g->node[i]->op_type;
    if (strcmp(op, "QuantizeLinear") == 0)
        return imp_quantize(im, i);
    if (strcmp(op, "DequantizeLinear") == 0)
        return imp_dequantize(im, i);
    if (strcmp(op, "Conv") == 0)
        return imp_conv(im, i);
    if (strcmp(op, "Gemm") == 0 || strcmp(op, "MatMul") == 0)
        return imp_gemm(im, i);
    if (strcmp(op, "Add") == 0)
        return imp_add(im, i);
    if (strcmp(op, "Mul") == 0)
        return imp_mul(im, i);
    if (strcmp(op, "Concat") == 0)
        return imp_concat(im, i);
    if (strcmp(op, "Relu") == 0 || strcmp(op, "Clip") == 0)
        return imp_clamp(im, i);
    if (strcmp(op, "MaxPool") == 0 || strcmp(op, "AveragePool") == 0 ||
        strcmp(op, "GlobalAveragePool") == 0)
        return imp_pool(im, i);
    if (strcmp(op, "Cast") == 0)
        return imp_cast(im, i);
    if (strcmp(op, "Gather") == 0)
        return imp_gather(im, i);
    return imp_view(im, i);
}

/* ---------------------------------------------------------------- graph */

static frost_status index_graph(qdq_importer *im)
{
    const Onnx__GraphProto *g = im->g;
    size_t n_names = g->n_initializer + g->n_input + 1, n_reads = g->n_output;
    for (size_t i = 0; i < g->n_node; i++) {
        n_names += g->node[i]->n_output;
        n_reads += g->node[i]->n_input;
    }
    if (!frost_strmap_init(&im->init, g->n_initializer) ||
        !frost_strmap_init(&im->producer, n_names) || !frost_strmap_init(&im->val_index, n_names) ||
        !frost_strmap_init(&im->readers, n_reads) ||
        !(im->vals = calloc(n_names, sizeof *im->vals)) ||
        !(im->pend = calloc(2 * g->n_node + 1, sizeof *im->pend)) ||
        !(im->qp_known = calloc(g->n_node + 1, sizeof *im->qp_known)))
        return frost_fail(FROST_ERR_NOMEM, "QDQ import: out of memory");
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t o = 0; o < g->node[i]->n_output; o++) {
            if (frost_strmap_get(&im->producer, g->node[i]->output[o]) >= 0)
                return node_fail(im, (int)i, "writes '%s', which another node writes too",
                                 g->node[i]->output[o]);
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
        define_val(im, g->initializer[i]->name, (qval){.kind = V_CONST, .c = g->initializer[i]});
    return FROST_OK;
}

/* The one float [N, C, H, W] graph input that is not an initializer. */
static frost_status read_input(qdq_importer *im)
{
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t i = 0; i < im->g->n_input; i++) {
        if (find_val(im, im->g->input[i]->name))
            continue;
        if (in)
            return frost_fail(FROST_ERR_UNSUPPORTED, "QDQ import: more than one graph input");
        in = im->g->input[i];
    }
    if (!in)
        return frost_fail(FROST_ERR_FORMAT, "QDQ import: the graph has no input");
    const Onnx__TypeProto *t = in->type;
    const Onnx__TypeProto__Tensor *tt =
        t && t->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ? t->tensor_type : NULL;
    if (!tt || tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || !tt->shape ||
        tt->shape->n_dim != 4)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "QDQ import: graph input '%s' must be a float32 tensor [N, C, H, W]",
                          in->name);
    int64_t d[4];
    for (int i = 1; i < 4; i++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[i];
        d[i] = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                   ? dim->dim_value
                   : -1;
        if (d[i] < 1 || d[i] > 8192)
            return frost_fail(FROST_ERR_UNSUPPORTED,
                              "QDQ import: graph input '%s': dimension %d must be a fixed size "
                              "in 1..8192",
                              in->name, i);
    }
    im->m->in_c = (int)d[1];
    im->m->in_h = (int)d[2];
    im->m->in_w = (int)d[3];
    define_val(im, in->name, (qval){.kind = V_INPUT, .rank = 4});
    return FROST_OK;
}

/* The graph output: dequantized logits of the last node, or a float Gemm (LOGITS). */
static frost_status finish(qdq_importer *im)
{
    const char *name = im->g->output[0]->name;
    qval *v = find_val(im, name);
    frost_int8_model *m = im->m;
    if (v && v->kind == V_PENDING && im->pend[v->p].op == FROST_I8_LINEAR) {
        int t;
        FROST_TRY(emit_pending(im, &im->pend[v->p], true, 0, 0, &t));
    } else if (!v || v->kind != V_F32) {
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "QDQ import: graph output '%s' is neither a DequantizeLinear nor a "
                          "float Gemm / MatMul",
                          name);
    } else if (v->t != m->n_nodes - 1) {
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "QDQ import: graph output '%s' is not the last quantized tensor", name);
    } else if (v->nhwc || (v->rank == 2 && v->chw)) {
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "QDQ import: graph output '%s' is a map in C,H,W order; frost's "
                          "outputs are H,W,C (Transpose perm 0,2,3,1, then Flatten)",
                          name);
    } else if (v->rank == 4 && m->nodes[v->t].h * m->nodes[v->t].w > 1) {
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "QDQ import: graph output '%s' is an NCHW map (flatten it in NHWC "
                          "order)",
                          name);
    }
    if (m->n_nodes == 0 || m->nodes[0].op != FROST_I8_QUANTIZE)
        return frost_fail(FROST_ERR_UNSUPPORTED, "QDQ import: the graph input is not quantized");
    for (int i = 0; i < m->n_nodes; i++)
        if (!im->qp_known[i]) { /* a table nothing dequantizes: its input's parameters */
            m->nodes[i].scale = m->nodes[m->nodes[i].in[0]].scale;
            m->nodes[i].zp = m->nodes[m->nodes[i].in[0]].zp;
        }
    const frost_int8_node *last = &m->nodes[m->n_nodes - 1];
    m->classes = last->h * last->w * last->c;
    return FROST_OK;
}

static frost_status import_graph(qdq_importer *im, const Onnx__ModelProto *mp, const char *what)
{
    im->g = mp->graph;
    int opset = frost_onnx_opset(mp);
    if (opset < 13 || opset > FROST_ONNX_OPSET_MAX)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "%s: ONNX opset %d; QDQ import reads opsets 13 to %d (per-channel "
                          "DequantizeLinear needs 13)",
                          what, opset, FROST_ONNX_OPSET_MAX);
    if (im->g->n_output < 1)
        return frost_fail(FROST_ERR_FORMAT, "%s: the graph has no output", what);
    bool qdq = false;
    for (size_t i = 0; i < im->g->n_node && !qdq; i++)
        qdq = strcmp(im->g->node[i]->op_type, "QuantizeLinear") == 0;
    if (!qdq)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "%s: a float ONNX model (no QuantizeLinear): import it with frost "
                          "import, then quantize and convert it",
                          what);
    FROST_TRY(index_graph(im));
    FROST_TRY(read_input(im));
    FROST_TRY(order_nodes(im, im->g->output[0]->name));
    FROST_TRY(check_supported(im));
    im->m->nodes = calloc(im->g->n_node + 1, sizeof *im->m->nodes);
    if (!im->m->nodes)
        return frost_fail(FROST_ERR_NOMEM, "QDQ import: out of memory");
    for (int k = 0; k < im->n_order; k++)
        FROST_TRY(import_node(im, im->order[k]));
    return finish(im);
}

static void model_name(frost_int8_model *m, const Onnx__ModelProto *mp, const char *what)
{
    const char *base = mp->graph->name && mp->graph->name[0] ? mp->graph->name : NULL;
    if (!base) {
        base = strrchr(what, '/');
        base = base ? base + 1 : what;
    }
    snprintf(m->name, sizeof m->name, "%s", base);
    char *dot = base == mp->graph->name ? NULL : strchr(m->name, '.');
    if (dot && dot != m->name)
        *dot = '\0';
}

/* How images become the input: the "frost.preprocess" metadata frost's export writes (the
 * model's training normalization, which the input QuantizeLinear's scale and zero point
 * were calibrated for), else x = pixel / 255 (files from other tools say nothing). */
static frost_status model_preprocess(frost_int8_model *m, const Onnx__ModelProto *mp,
                                     const char *what)
{
    m->pre = (frost_preprocess){.set = true, .mean = {0, 0, 0}, .std = {1, 1, 1}};
    bool found;
    return frost_onnx_metadata_preprocess(mp, what, m->in_c, &m->pre, &found);
}

static frost_status import_proto(Onnx__ModelProto *mp, const char *what, frost_int8_model **out)
{
    qdq_importer im;
    memset(&im, 0, sizeof im);
    frost_status s = FROST_OK;
    im.m = calloc(1, sizeof *im.m);
    if (!im.m)
        s = frost_fail(FROST_ERR_NOMEM, "QDQ import: out of memory");
    if (s == FROST_OK) {
        model_name(im.m, mp, what);
        s = import_graph(&im, mp, what);
    }
    if (s == FROST_OK)
        s = model_preprocess(im.m, mp, what);
    free(im.init.keys), free(im.init.vals);
    free(im.producer.keys), free(im.producer.vals);
    free(im.val_index.keys), free(im.val_index.vals);
    free(im.readers.keys), free(im.readers.vals);
    free(im.vals);
    free(im.pend);
    free(im.qp_known);
    free(im.order);
    frost_onnx_free(mp);
    if (!im.m)
        return s;
    return frost_int8_finish(im.m, s, out);
}

frost_status frost_int8_import_onnx_bytes(const uint8_t *data, size_t size, const char *what,
                                          frost_int8_model **out)
{
    if (!data || !what || !out)
        return frost_fail(FROST_ERR_ARG, "QDQ import: NULL argument");
    *out = NULL;
    Onnx__ModelProto *mp;
    FROST_TRY(frost_onnx_parse(data, size, what, &mp));
    return import_proto(mp, what, out);
}

frost_status frost_int8_import_onnx(const char *path, frost_int8_model **out)
{
    if (!path || !out)
        return frost_fail(FROST_ERR_ARG, "QDQ import: NULL argument");
    *out = NULL;
    Onnx__ModelProto *mp;
    FROST_TRY(frost_onnx_load(path, &mp));
    return import_proto(mp, path, out);
}

int frost_int8_onnx_is_qdq(const char *path)
{
    Onnx__ModelProto *mp;
    if (!path || frost_onnx_load(path, &mp) != FROST_OK)
        return -1;
    int qdq = 0;
    for (size_t i = 0; i < mp->graph->n_node && !qdq; i++)
        qdq = strcmp(mp->graph->node[i]->op_type, "QuantizeLinear") == 0 ||
              strcmp(mp->graph->node[i]->op_type, "DequantizeLinear") == 0;
    frost_onnx_free(mp);
    return qdq;
}
