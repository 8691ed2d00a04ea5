/*
 * QDQ ONNX import (frost_int8_import_onnx): small QDQ models built here with the protobuf-c
 * structures, as ONNX Runtime's quantizer and frost's export write them
 *   input -> Q -> DQ -> Conv(+ per-channel int8 weights, int32 bias) -> Relu -> Q -> DQ ->
 *   GlobalAveragePool -> Q -> Flatten -> DQ -> Gemm -> Q -> DQ -> logits
 * (or a float Gemm as the output), imported and run on the int8 engine. The outputs are
 * checked against a direct float simulation of the QDQ graph (dequantize, compute in
 * double, quantize with round half to even): within 1 LSB everywhere and exact on nearly
 * every value. Malformed files (missing or negative scale, weights not int8, per-channel
 * axis 1, unsupported ops) are refused with errors naming the node.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/frost.h"
#include "frost/quant.h"
#include "harness.h"
#include "int8/i8model.h"
#include "int8/requant.h"
#include "onnx.pb-c.h"

/* ---------------------------------------------------------------- a tiny QDQ builder */

#define MAX_ITEMS  64
#define MAX_ALLOCS 1024

typedef struct {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset, *opsets[1];
    Onnx__NodeProto *nodes[MAX_ITEMS];
    Onnx__TensorProto *inits[MAX_ITEMS];
    Onnx__ValueInfoProto *ins[1], *outs[1];
    void *allocs[MAX_ALLOCS];
    int n_allocs;
} builder;

static void *b_new(builder *b, size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (b->n_allocs < MAX_ALLOCS)
        b->allocs[b->n_allocs++] = p;
    return p;
}

static void b_free(builder *b)
{
    for (int i = 0; i < b->n_allocs; i++)
        free(b->allocs[i]);
}

static Onnx__NodeProto *b_node(builder *b, const char *op, const char *name, int n_in,
                               const char *const *in, const char *out)
{
    Onnx__NodeProto *n = b_new(b, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)name;
    n->input = b_new(b, sizeof(char *) * (size_t)n_in);
    for (int i = 0; i < n_in; i++)
        n->input[i] = (char *)in[i];
    n->n_input = (size_t)n_in;
    n->output = b_new(b, sizeof(char *));
    n->output[0] = (char *)out;
    n->n_output = 1;
    n->attribute = b_new(b, sizeof(void *) * 8);
    b->nodes[b->graph.n_node++] = n;
    return n;
}

static void b_attr(builder *b, Onnx__NodeProto *n, const char *name, int count, const int64_t *v)
{
    Onnx__AttributeProto *a = b_new(b, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    if (count < 0) { /* one int */
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_i = 1;
        a->i = v[0];
    } else {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        a->ints = b_new(b, sizeof(int64_t) * (size_t)count);
        memcpy(a->ints, v, sizeof(int64_t) * (size_t)count);
        a->n_ints = (size_t)count;
    }
    n->attribute[n->n_attribute++] = a;
}

static void b_attr_int(builder *b, Onnx__NodeProto *n, const char *name, int64_t v)
{
    b_attr(b, n, name, -1, &v);
}

static size_t dtype_bytes(int dt)
{
    return dt == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 || dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT8
               ? 1
           : dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? 8
                                                        : 4;
}

/* An initializer with raw (little-endian) data. */
static void b_init(builder *b, const char *name, int dt, int n_dims, const int64_t *dims,
                   const void *data)
{
    Onnx__TensorProto *t = b_new(b, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = dt;
    t->dims = b_new(b, sizeof(int64_t) * 4);
    size_t n = 1;
    for (int i = 0; i < n_dims; i++)
        n *= (size_t)(t->dims[i] = dims[i]);
    t->n_dims = (size_t)n_dims;
    t->has_raw_data = 1;
    t->raw_data.len = n * dtype_bytes(dt);
    t->raw_data.data = b_new(b, t->raw_data.len);
    memcpy(t->raw_data.data, data, t->raw_data.len);
    b->inits[b->graph.n_initializer++] = t;
}

static void b_f32(builder *b, const char *name, float v)
{
    b_init(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &v);
}

static void b_u8(builder *b, const char *name, uint8_t v)
{
    b_init(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 0, NULL, &v);
}

static Onnx__ValueInfoProto *b_value(builder *b, const char *name, int n_dims, const int64_t *dims)
{
    Onnx__ValueInfoProto *v = b_new(b, sizeof *v);
    Onnx__TypeProto *t = b_new(b, sizeof *t);
    Onnx__TypeProto__Tensor *tt = b_new(b, sizeof *tt);
    Onnx__TensorShapeProto *s = b_new(b, sizeof *s);
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(t);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(s);
    s->dim = b_new(b, sizeof(void *) * (size_t)n_dims);
    for (int i = 0; i < n_dims; i++) {
        Onnx__TensorShapeProto__Dimension *d = b_new(b, sizeof *d);
        onnx__tensor_shape_proto__dimension__init(d);
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d->dim_value = dims[i];
        s->dim[i] = d;
    }
    s->n_dim = (size_t)n_dims;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = s;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    v->name = (char *)name;
    v->type = t;
    return v;
}

/* ---------------------------------------------------------------- the model */

#define C_IN  2
#define HW    6
#define C_MID 4
#define K     3
#define N_OUT 3

/* The model's numbers: the file's integers and scales, and the reference reads them. */
typedef struct {
    float s_in, s1, s2, s3, w1s[C_MID], w2s[N_OUT];
    uint8_t z_in, z1, z2, z3;
    int8_t w1[C_MID * C_IN * K * K], w2[N_OUT * C_MID]; /* ONNX order: OIHW, [out][in] */
    int32_t b1[C_MID], b2[N_OUT];
    float b1s[C_MID], b2s[N_OUT];
} qdq_numbers;

static void make_numbers(qdq_numbers *q)
{
    srand(7);
    q->s_in = 0.02f, q->z_in = 128;
    q->s1 = 0.031f, q->z1 = 3;
    q->s2 = 0.011f, q->z2 = 5;
    q->s3 = 0.05f, q->z3 = 120;
    for (int i = 0; i < C_MID * C_IN * K * K; i++)
        q->w1[i] = (int8_t)(rand() % 255 - 127);
    for (int i = 0; i < N_OUT * C_MID; i++)
        q->w2[i] = (int8_t)(rand() % 255 - 127);
    for (int c = 0; c < C_MID; c++) {
        q->w1s[c] = 0.001f * (float)(c + 2);
        q->b1s[c] = q->s_in * q->w1s[c];
        q->b1[c] = rand() % 4001 - 2000;
    }
    for (int c = 0; c < N_OUT; c++) {
        q->w2s[c] = 0.004f + 0.001f * (float)c;
        q->b2s[c] = q->s2 * q->w2s[c];
        q->b2[c] = rand() % 2001 - 1000;
    }
}

typedef enum {
    GOOD = 0,
    FLOAT_LOGITS,     /* the Gemm's float output is the graph output (a LOGITS node) */
    NO_SCALE,         /* the conv output's QuantizeLinear has no scale input */
    NEGATIVE_SCALE,   /* ... a negative scale */
    WEIGHT_UINT8_ZP0, /* conv weights uint8 with zero point 0 */
    WEIGHT_FLOAT,     /* conv weights float32 */
    WEIGHT_AXIS1,     /* per-channel conv weights on axis 1 */
    UNSUPPORTED_OPS,  /* a Sigmoid and a Softmax in the graph */
    ZERO_POINT_INT8,  /* activations int8 */
    CLIP6,            /* Clip(0, 6) (ReLU6) instead of the Relu */
} variant;

static void build(builder *b, const qdq_numbers *q, variant v)
{
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->model);
    onnx__graph_proto__init(&b->graph);
    onnx__operator_set_id_proto__init(&b->opset);
    b->opset.domain = (char *)"";
    b->opset.has_version = 1;
    b->opset.version = 13;
    b->opsets[0] = &b->opset;
    b->model.opset_import = b->opsets;
    b->model.n_opset_import = 1;
    b->model.has_ir_version = 1;
    b->model.ir_version = 7;
    b->model.graph = &b->graph;
    b->graph.name = (char *)"tiny_qdq";
    b->graph.node = b->nodes;
    b->graph.initializer = b->inits;

    /* parameters */
    b_f32(b, "s_in", q->s_in);
    b_f32(b, "s1", v == NEGATIVE_SCALE ? -q->s1 : q->s1);
    b_f32(b, "s2", q->s2);
    b_f32(b, "s3", q->s3);
    b_u8(b, "z_in", q->z_in);
    if (v == ZERO_POINT_INT8) {
        int8_t z = 3;
        b_init(b, "z1", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 0, NULL, &z);
    } else {
        b_u8(b, "z1", q->z1);
    }
    b_u8(b, "z2", q->z2);
    b_u8(b, "z3", q->z3);
    int64_t w1d[4] = {C_MID, C_IN, K, K}, cm[1] = {C_MID}, w2d[2] = {N_OUT, C_MID}, co[1] = {N_OUT};
    if (v == WEIGHT_FLOAT) {
        float wf[C_MID * C_IN * K * K];
        for (int i = 0; i < C_MID * C_IN * K * K; i++)
            wf[i] = q->w1[i];
        b_init(b, "w1_q", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 4, w1d, wf);
    } else {
        b_init(b, "w1_q",
               v == WEIGHT_UINT8_ZP0 ? ONNX__TENSOR_PROTO__DATA_TYPE__UINT8
                                     : ONNX__TENSOR_PROTO__DATA_TYPE__INT8,
               4, w1d, q->w1);
    }
    int8_t zeros[8] = {0};
    b_init(b, "w1_s", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, cm, q->w1s);
    b_init(b, "w1_z",
           v == WEIGHT_UINT8_ZP0 ? ONNX__TENSOR_PROTO__DATA_TYPE__UINT8
           : v == WEIGHT_FLOAT   ? ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
                                 : ONNX__TENSOR_PROTO__DATA_TYPE__INT8,
           1, cm, (int32_t[8]){0});
    int32_t zeros32[8] = {0};
    b_init(b, "b1_q", ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, cm, q->b1);
    b_init(b, "b1_s", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, cm, q->b1s);
    b_init(b, "b1_z", ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, cm, zeros32);
    b_init(b, "w2_q", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 2, w2d, q->w2);
    b_init(b, "w2_s", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, co, q->w2s);
    b_init(b, "w2_z", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 1, co, zeros);
    b_init(b, "b2_q", ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, co, q->b2);
    b_init(b, "b2_s", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, co, q->b2s);
    b_init(b, "b2_z", ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, co, zeros32);

    /* nodes */
    b_node(b, "QuantizeLinear", "input/q", 3, (const char *[]){"input", "s_in", "z_in"}, "q0");
    b_node(b, "DequantizeLinear", "input/dq", 3, (const char *[]){"q0", "s_in", "z_in"}, "t0");
    Onnx__NodeProto *wdq = b_node(b, "DequantizeLinear", "conv/dq_weight", 3,
                                  (const char *[]){"w1_q", "w1_s", "w1_z"}, "w1");
    b_attr_int(b, wdq, "axis", v == WEIGHT_AXIS1 ? 1 : 0);
    b_attr_int(b,
               b_node(b, "DequantizeLinear", "conv/dq_bias", 3,
                      (const char *[]){"b1_q", "b1_s", "b1_z"}, "b1"),
               "axis", 0);
    Onnx__NodeProto *conv = b_node(b, "Conv", "conv", 3, (const char *[]){"t0", "w1", "b1"}, "c1");
    b_attr(b, conv, "kernel_shape", 2, (const int64_t[]){K, K});
    b_attr(b, conv, "pads", 4, (const int64_t[]){1, 1, 1, 1});
    b_attr(b, conv, "strides", 2, (const int64_t[]){1, 1});
    if (v == CLIP6) {
        b_f32(b, "zero", 0.0f);
        b_f32(b, "six", 6.0f);
        b_node(b, "Clip", "conv/relu6", 3, (const char *[]){"c1", "zero", "six"}, "r1");
    } else {
        b_node(b, "Relu", "conv/relu", 1, (const char *[]){"c1"}, "r1");
    }
    b_node(b, "QuantizeLinear", "conv/q", v == NO_SCALE ? 1 : 3, (const char *[]){"r1", "s1", "z1"},
           "q1");
    b_node(b, "DequantizeLinear", "conv/dq", 3, (const char *[]){"q1", "s1", "z1"}, "t1");
    const char *gap_in = "t1";
    if (v == UNSUPPORTED_OPS) {
        b_node(b, "Sigmoid", "gate", 1, (const char *[]){"t1"}, "sg");
        gap_in = "sg";
    }
    b_node(b, "GlobalAveragePool", "gap", 1, (const char *[]){gap_in}, "g2");
    b_node(b, "QuantizeLinear", "gap/q", 3, (const char *[]){"g2", "s2", "z2"}, "q2");
    b_attr_int(b, b_node(b, "Flatten", "gap/flatten", 1, (const char *[]){"q2"}, "q2f"), "axis", 1);
    b_node(b, "DequantizeLinear", "gap/dq", 3, (const char *[]){"q2f", "s2", "z2"}, "t2");
    b_attr_int(b,
               b_node(b, "DequantizeLinear", "fc/dq_weight", 3,
                      (const char *[]){"w2_q", "w2_s", "w2_z"}, "w2"),
               "axis", 0);
    b_attr_int(b,
               b_node(b, "DequantizeLinear", "fc/dq_bias", 3,
                      (const char *[]){"b2_q", "b2_s", "b2_z"}, "b2"),
               "axis", 0);
    bool float_out = v == FLOAT_LOGITS;
    b_attr_int(
        b,
        b_node(b, "Gemm", "fc", 3, (const char *[]){"t2", "w2", "b2"}, float_out ? "logits" : "c3"),
        "transB", 1);
    if (!float_out) {
        const char *q3 = "q3";
        b_node(b, "QuantizeLinear", "fc/q", 3, (const char *[]){"c3", "s3", "z3"}, q3);
        if (v == UNSUPPORTED_OPS) {
            b_node(b, "Softmax", "softmax", 1, (const char *[]){"q3"}, "q3s");
            q3 = "q3s";
        }
        b_node(b, "DequantizeLinear", "fc/dq", 3, (const char *[]){q3, "s3", "z3"}, "logits");
    }
    b->ins[0] = b_value(b, "input", 4, (const int64_t[]){1, C_IN, HW, HW});
    b->outs[0] = b_value(b, "logits", 2, (const int64_t[]){1, N_OUT});
    b->graph.input = b->ins;
    b->graph.n_input = 1;
    b->graph.output = b->outs;
    b->graph.n_output = 1;
}

/* Packs and imports the model. */
static frost_status import(builder *b, frost_int8_model **m)
{
    size_t size = onnx__model_proto__get_packed_size(&b->model);
    uint8_t *buf = malloc(size);
    onnx__model_proto__pack(&b->model, buf);
    frost_status s = frost_int8_import_onnx_bytes(buf, size, "tiny_qdq.onnx", m);
    free(buf);
    return s;
}

/* ---------------------------------------------------------------- reference */

static int quantize_ref(double y, float s, int z)
{
    double q = nearbyint(y / (double)s) + z; /* round half to even (default rounding mode) */
    return q < 0 ? 0 : q > 255 ? 255 : (int)q;
}

/* Each layer of the QDQ graph computed in double from the int8 engine's input to it (so
 * a 1-LSB difference does not carry over): the conv output from the uint8 input x (NHWC),
 * the pooled tensor from the engine's conv output t1, the outputs (quantized, or float
 * logits) from its pooled t2. */
static void reference(const qdq_numbers *q, const uint8_t *x, const uint8_t *t1, const uint8_t *t2,
                      int *y1, int *y2, double *out, bool float_out)
{
    for (int oy = 0; oy < HW; oy++)
        for (int ox = 0; ox < HW; ox++)
            for (int o = 0; o < C_MID; o++) {
                double acc = (double)q->b1[o] * (double)q->b1s[o];
                for (int c = 0; c < C_IN; c++)
                    for (int ky = 0; ky < K; ky++)
                        for (int kx = 0; kx < K; kx++) {
                            int iy = oy + ky - 1, ix = ox + kx - 1;
                            if (iy < 0 || ix < 0 || iy >= HW || ix >= HW)
                                continue;
                            double xf = ((double)x[(iy * HW + ix) * C_IN + c] - q->z_in) * q->s_in;
                            double wf =
                                q->w1[((o * C_IN + c) * K + ky) * K + kx] * (double)q->w1s[o];
                            acc += xf * wf;
                        }
                y1[(oy * HW + ox) * C_MID + o] = quantize_ref(acc > 0 ? acc : 0, q->s1, q->z1);
            }
    for (int o = 0; o < C_MID; o++) {
        double sum = 0;
        for (int p = 0; p < HW * HW; p++)
            sum += ((double)t1[p * C_MID + o] - q->z1) * q->s1;
        y2[o] = quantize_ref(sum / (HW * HW), q->s2, q->z2);
    }
    for (int c = 0; c < N_OUT; c++) {
        double acc = (double)q->b2[c] * (double)q->b2s[c];
        for (int o = 0; o < C_MID; o++)
            acc += ((double)t2[o] - q->z2) * q->s2 * q->w2[c * C_MID + o] * (double)q->w2s[c];
        out[c] = float_out ? acc : (double)quantize_ref(acc, q->s3, q->z3);
    }
}

/* Runs the model on x node by node, keeping the conv and pool outputs (the arena reuses
 * their bytes later). */
static void run_layers(frost_int8_model *m, const uint8_t *x, uint8_t *t1, uint8_t *t2, float *out)
{
    CHECK_EQ_INT(frost_int8_run_quantized(m, x, HW * HW * C_IN, out), FROST_OK);
    memcpy(frost_int8_tensor(m, 0), x, HW * HW * C_IN);
    frost_int8_run_node(m, 1);
    memcpy(t1, frost_int8_tensor(m, 1), HW * HW * C_MID);
    frost_int8_run_node(m, 2);
    memcpy(t2, frost_int8_tensor(m, 2), C_MID);
}

/* ---------------------------------------------------------------- tests */

TEST(conv_relu_gap_gemm_matches_the_qdq_graph)
{
    qdq_numbers q;
    make_numbers(&q);
    for (int float_out = 0; float_out <= 1; float_out++) {
        builder b;
        build(&b, &q, float_out ? FLOAT_LOGITS : GOOD);
        frost_int8_model *m = NULL;
        frost_status s = import(&b, &m);
        if (s != FROST_OK)
            fprintf(stderr, "  import: %s\n", frost_last_error());
        CHECK_EQ_INT(s, FROST_OK);
        b_free(&b);
        if (!m)
            continue;
        /* structure: the file's integers, in frost's layout */
        CHECK_EQ_INT(m->n_nodes, 4);
        CHECK_EQ_INT(m->nodes[0].op, FROST_I8_QUANTIZE);
        CHECK_EQ_INT(m->nodes[1].op, FROST_I8_CONV);
        CHECK_EQ_INT(m->nodes[2].op, FROST_I8_GAP);
        CHECK_EQ_INT(m->nodes[3].op, float_out ? FROST_I8_LOGITS : FROST_I8_LINEAR);
        CHECK_EQ_INT(frost_int8_classes(m), N_OUT);
        int h, w, c;
        frost_int8_input_shape(m, &h, &w, &c);
        CHECK(h == HW && w == HW && c == C_IN);
        const frost_int8_node *conv = &m->nodes[1];
        CHECK_EQ_INT(conv->lo, q.z1); /* Relu: from the zero point up */
        CHECK_EQ_INT(conv->hi, 255);
        CHECK_EQ_INT(conv->zp, q.z1);
        CHECK_FLOAT_EQ(conv->scale, q.s1);
        CHECK_EQ_INT(conv->acc_shift, 8); /* 18 inputs: the finest grid */
        CHECK_EQ_INT(conv->bias[2], q.b1[2] * 256);
        /* frost's [o][ky][kx][c] from ONNX's [o][c][ky][kx] */
        CHECK_EQ_INT(conv->weight[((3 * K + 2) * K + 1) * C_IN + 1],
                     q.w1[((3 * C_IN + 1) * K + 2) * K + 1]);
        int32_t m0, e;
        frost_quantize_multiplier((double)q.s_in * q.w1s[1] / 256.0 / q.s1, &m0, &e);
        CHECK_EQ_INT(conv->mult[1], m0);
        CHECK_EQ_INT(conv->shift[1], e);

        int exact = 0, total = 0, worst = 0;
        double worst_logit = 0;
        for (int t = 0; t < 50; t++) {
            uint8_t x[HW * HW * C_IN];
            for (int i = 0; i < HW * HW * C_IN; i++)
                x[i] = (uint8_t)(rand() & 255);
            float out[N_OUT];
            uint8_t t1[HW * HW * C_MID], t2[C_MID];
            run_layers(m, x, t1, t2, out);
            int y1[HW * HW * C_MID], y2[C_MID];
            double ref[N_OUT];
            reference(&q, x, t1, t2, y1, y2, ref, float_out);
            for (int i = 0; i < HW * HW * C_MID; i++, total++) {
                int d = abs((int)t1[i] - y1[i]);
                worst = d > worst ? d : worst;
                exact += d == 0;
            }
            for (int i = 0; i < C_MID; i++, total++) {
                int d = abs((int)t2[i] - y2[i]);
                worst = d > worst ? d : worst;
                exact += d == 0;
            }
            for (int k = 0; k < N_OUT; k++) {
                /* frost's output is the dequantized uint8 (or the float logits) */
                double want = float_out ? ref[k] : (ref[k] - q.z3) * q.s3;
                double d = fabs((double)out[k] - want);
                worst_logit = d > worst_logit ? d : worst_logit;
            }
        }
        CHECK(worst <= 1);
        CHECK(exact >= total - total / 100); /* ties and 31-bit multipliers: rare */
        /* the last layer: within 1 LSB of its grid (float logits: rounding of the bias) */
        CHECK(worst_logit <= (float_out ? 1e-4 : 1.0001 * q.s3));
        fprintf(stderr, "  %s output: %d of %d int8 values exact, max error %.3g\n",
                float_out ? "float" : "quantized", exact, total, worst_logit);
        frost_int8_free(m);
    }
}

/* A float Clip after the conv becomes its output range. */
TEST(clip_after_conv_is_its_clamp)
{
    qdq_numbers q;
    make_numbers(&q);
    builder b;
    build(&b, &q, CLIP6);
    frost_int8_model *m = NULL;
    CHECK_EQ_INT(import(&b, &m), FROST_OK);
    b_free(&b);
    if (!m)
        return;
    CHECK_EQ_INT(m->nodes[1].lo, q.z1);
    CHECK_EQ_INT(m->nodes[1].hi, frost_quantize_one(6.0f, q.s1, q.z1, 0, 255));
    CHECK(m->nodes[1].hi < 255);
    frost_int8_free(m);
}

/* The model saves and loads as an .int8 file and runs the same. */
TEST(saved_int8_runs_the_same)
{
    qdq_numbers q;
    make_numbers(&q);
    builder b;
    build(&b, &q, GOOD);
    frost_int8_model *m = NULL, *l = NULL;
    CHECK_EQ_INT(import(&b, &m), FROST_OK);
    b_free(&b);
    if (!m)
        return;
    const char *path = "/tmp/frost_test_qdq_import.int8";
    CHECK_EQ_INT(frost_int8_save(m, path), FROST_OK);
    CHECK_EQ_INT(frost_int8_load(path, &l), FROST_OK);
    remove(path);
    if (l) {
        uint8_t x[HW * HW * C_IN];
        for (int i = 0; i < HW * HW * C_IN; i++)
            x[i] = (uint8_t)(i * 37 + 11);
        float a[N_OUT], c[N_OUT];
        frost_int8_run_quantized(m, x, HW * HW * C_IN, a);
        frost_int8_run_quantized(l, x, HW * HW * C_IN, c);
        for (int k = 0; k < N_OUT; k++)
            CHECK_FLOAT_EQ(a[k], c[k]);
    }
    frost_int8_free(m);
    frost_int8_free(l);
}

static void check_refused(variant v, const char *want1, const char *want2)
{
    qdq_numbers q;
    make_numbers(&q);
    builder b;
    build(&b, &q, v);
    frost_int8_model *m = (frost_int8_model *)&b; /* must be reset to NULL */
    frost_status s = import(&b, &m);
    b_free(&b);
    CHECK(s != FROST_OK);
    CHECK(m == NULL);
    const char *e = frost_last_error();
    if (!strstr(e, want1) || (want2 && !strstr(e, want2))) {
        fprintf(stderr, "  variant %d: error '%s' lacks '%s' / '%s'\n", v, e, want1,
                want2 ? want2 : "");
        CHECK(0);
    }
    frost_int8_free(m);
}

TEST(malformed_files_are_refused)
{
    check_refused(NO_SCALE, "conv/q", "input 1 is missing");
    check_refused(NEGATIVE_SCALE, "conv/q", "not a positive finite");
    check_refused(WEIGHT_UINT8_ZP0, "conv/dq_weight", "zero point 0");
    check_refused(WEIGHT_FLOAT, "conv/dq_weight", "must be int8");
    check_refused(WEIGHT_AXIS1, "conv/dq_weight", "axis 1");
    check_refused(UNSUPPORTED_OPS, "'gate' (Sigmoid)", "'softmax' (Softmax)");
    check_refused(ZERO_POINT_INT8, "conv/q", "not uint8");
}

TEST(garbage_and_float_models_are_refused)
{
    frost_int8_model *m = NULL;
    const uint8_t junk[] = {0x08, 0x07, 0x12, 0xff, 0xff};
    CHECK(frost_int8_import_onnx_bytes(junk, sizeof junk, "junk", &m) != FROST_OK);
    CHECK(m == NULL);
    CHECK(frost_int8_import_onnx("/nonexistent/x.onnx", &m) != FROST_OK);
    CHECK_EQ_INT(frost_int8_onnx_is_qdq("/nonexistent/x.onnx"), -1);
}

/* ---------------------------------------------------------------- the other patterns */

/* input [1,3,4,4] -> Q -> Clip(10, 250) -> DQ = t0
 *   t0 -> MaxPool(3, pad 1) -> Q(input's parameters) -> Cast -> Gather(table) -> DQ = tm
 *   t0 + tm -> Q -> DQ = ta;  Concat(ta, t0) -> Q -> DQ = tc
 *   tc -> AveragePool(3, stride 2, pad 1, count_include_pad 0) -> Q -> Flatten -> DQ
 *   -> MatMul(W [24, 5], per-channel axis 1) + DQ(bias) -> Q -> DQ -> logits */
#define B_C  3
#define B_HW 4
#define B_N  5
static const float B_S[6] = {0.03f, 0.021f, 0.04f, 0.045f, 0.017f, 0.09f}; /* in, tm, a, c, p, y */
static const uint8_t B_Z[6] = {100, 7, 90, 128, 60, 131};

typedef struct {
    uint8_t table[256];
    int8_t w[24 * B_N]; /* [in][out] as MatMul reads it */
    float ws[B_N], bs[B_N];
    int32_t bias[B_N];
} patterns_numbers;

/* map_output: the graph ends at the pooled map (Transpose to NHWC, Flatten, DequantizeLinear)
 * instead of the MatMul. */
static void build_patterns_ending(builder *b, patterns_numbers *q, bool map_output)
{
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->model);
    onnx__graph_proto__init(&b->graph);
    onnx__operator_set_id_proto__init(&b->opset);
    b->opset.domain = (char *)"";
    b->opset.has_version = 1;
    b->opset.version = 17;
    b->opsets[0] = &b->opset;
    b->model.opset_import = b->opsets;
    b->model.n_opset_import = 1;
    b->model.has_ir_version = 1;
    b->model.ir_version = 8;
    b->model.graph = &b->graph;
    b->graph.node = b->nodes;
    b->graph.initializer = b->inits;
    srand(11);
    for (int i = 0; i < 256; i++)
        q->table[i] = (uint8_t)(255 - i / 2); /* any monotone or not table */
    for (int i = 0; i < 24 * B_N; i++)
        q->w[i] = (int8_t)(rand() % 255 - 127);
    for (int c = 0; c < B_N; c++) {
        q->ws[c] = 0.002f + 0.0005f * (float)c;
        q->bs[c] = B_S[4] * q->ws[c];
        q->bias[c] = rand() % 2001 - 1000;
    }
    static const char *sn[6] = {"s0", "sm", "sa", "sc", "sp", "sy"};
    static const char *zn[6] = {"z0", "zm", "za", "zc", "zp", "zy"};
    for (int i = 0; i < 6; i++) {
        b_f32(b, sn[i], B_S[i]);
        b_u8(b, zn[i], B_Z[i]);
    }
    b_u8(b, "lo", 10);
    b_u8(b, "hi", 250);
    int64_t td[1] = {256}, wd[2] = {24, B_N}, nd[1] = {B_N};
    int32_t zeros32[B_N] = {0};
    int8_t zeros8[B_N] = {0};
    b_init(b, "table", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 1, td, q->table);
    b_init(b, "w_q", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 2, wd, q->w);
    b_init(b, "w_s", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, nd, q->ws);
    b_init(b, "w_z", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 1, nd, zeros8);
    b_init(b, "b_q", ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, nd, q->bias);
    b_init(b, "b_s", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, nd, q->bs);
    b_init(b, "b_z", ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, nd, zeros32);

    b_node(b, "QuantizeLinear", "in/q", 3, (const char *[]){"input", "s0", "z0"}, "q0u");
    b_node(b, "Clip", "in/clamp", 3, (const char *[]){"q0u", "lo", "hi"}, "q0");
    b_node(b, "DequantizeLinear", "in/dq", 3, (const char *[]){"q0", "s0", "z0"}, "t0");
    Onnx__NodeProto *mp = b_node(b, "MaxPool", "pool", 1, (const char *[]){"t0"}, "m");
    b_attr(b, mp, "kernel_shape", 2, (const int64_t[]){3, 3});
    b_attr(b, mp, "pads", 4, (const int64_t[]){1, 1, 1, 1});
    b_node(b, "QuantizeLinear", "pool/q", 3, (const char *[]){"m", "s0", "z0"}, "qm0");
    b_attr_int(b, b_node(b, "Cast", "pool/index", 1, (const char *[]){"qm0"}, "idx"), "to",
               ONNX__TENSOR_PROTO__DATA_TYPE__INT32);
    b_attr_int(b, b_node(b, "Gather", "pool/table", 2, (const char *[]){"table", "idx"}, "qm"),
               "axis", 0);
    b_node(b, "DequantizeLinear", "pool/dq", 3, (const char *[]){"qm", "sm", "zm"}, "tm");
    b_node(b, "Add", "add", 2, (const char *[]){"t0", "tm"}, "a");
    b_node(b, "QuantizeLinear", "add/q", 3, (const char *[]){"a", "sa", "za"}, "qa");
    b_node(b, "DequantizeLinear", "add/dq", 3, (const char *[]){"qa", "sa", "za"}, "ta");
    b_attr_int(b, b_node(b, "Concat", "cat", 2, (const char *[]){"ta", "t0"}, "c"), "axis", 1);
    b_node(b, "QuantizeLinear", "cat/q", 3, (const char *[]){"c", "sc", "zc"}, "qc");
    b_node(b, "DequantizeLinear", "cat/dq", 3, (const char *[]){"qc", "sc", "zc"}, "tc");
    Onnx__NodeProto *ap = b_node(b, "AveragePool", "avg", 1, (const char *[]){"tc"}, "p");
    b_attr(b, ap, "kernel_shape", 2, (const int64_t[]){3, 3});
    b_attr(b, ap, "strides", 2, (const int64_t[]){2, 2});
    b_attr(b, ap, "pads", 4, (const int64_t[]){1, 1, 1, 1});
    b_node(b, "QuantizeLinear", "avg/q", 3, (const char *[]){"p", "sp", "zp"}, "qp");
    if (map_output) {
        b_attr(b, b_node(b, "Transpose", "avg/nhwc", 1, (const char *[]){"qp"}, "qpt"), "perm", 4,
               (const int64_t[]){0, 2, 3, 1});
        b_node(b, "Flatten", "avg/flatten", 1, (const char *[]){"qpt"}, "qpf");
        b_node(b, "DequantizeLinear", "avg/dq", 3, (const char *[]){"qpf", "sp", "zp"}, "logits");
    } else {
        b_node(b, "Flatten", "avg/flatten", 1, (const char *[]){"qp"}, "qpf");
    }
    if (!map_output) {
        b_node(b, "DequantizeLinear", "avg/dq", 3, (const char *[]){"qpf", "sp", "zp"}, "tp");
        b_attr_int(b,
                   b_node(b, "DequantizeLinear", "fc/dq_weight", 3,
                          (const char *[]){"w_q", "w_s", "w_z"}, "w"),
                   "axis", 1);
        b_node(b, "DequantizeLinear", "fc/dq_bias", 3, (const char *[]){"b_q", "b_s", "b_z"}, "bb");
        b_node(b, "MatMul", "fc", 2, (const char *[]){"tp", "w"}, "mm");
        b_node(b, "Add", "fc/bias", 2, (const char *[]){"mm", "bb"}, "y");
        b_node(b, "QuantizeLinear", "fc/q", 3, (const char *[]){"y", "sy", "zy"}, "qy");
        b_node(b, "DequantizeLinear", "fc/dq", 3, (const char *[]){"qy", "sy", "zy"}, "logits");
    }
    b->ins[0] = b_value(b, "input", 4, (const int64_t[]){1, B_C, B_HW, B_HW});
    b->outs[0] = b_value(b, "logits", 2, (const int64_t[]){1, map_output ? 24 : B_N});
    b->graph.input = b->ins;
    b->graph.n_input = 1;
    b->graph.output = b->outs;
    b->graph.n_output = 1;
}

static double deq(int v, int k) { return ((double)v - B_Z[k]) * B_S[k]; }

static void build_patterns(builder *b, patterns_numbers *q) { build_patterns_ending(b, q, false); }

/* Checks |got - want| <= 1 and counts exact values. */
static void near(int got, int want, int *exact, int *total)
{
    CHECK(abs(got - want) <= 1);
    *exact += got == want;
    (*total)++;
}

TEST(add_concat_pools_tables_matmul_match_the_qdq_graph)
{
    patterns_numbers q;
    builder b;
    build_patterns(&b, &q);
    frost_int8_model *m = NULL;
    frost_status s = import(&b, &m);
    if (s != FROST_OK)
        fprintf(stderr, "  import: %s\n", frost_last_error());
    b_free(&b);
    CHECK_EQ_INT(s, FROST_OK);
    if (!m)
        return;
    static const frost_int8_op ops[7] = {FROST_I8_QUANTIZE, FROST_I8_MAXPOOL, FROST_I8_ADD,
                                         FROST_I8_CONCAT,   FROST_I8_AVGPOOL, FROST_I8_LINEAR};
    CHECK_EQ_INT(m->n_nodes, 6); /* the Gather folded into the max pool's table */
    for (int i = 0; i < m->n_nodes && i < 6; i++)
        CHECK_EQ_INT(m->nodes[i].op, ops[i]);
    CHECK(m->nodes[0].lo == 10 && m->nodes[0].hi == 250);
    CHECK_FLOAT_EQ(m->nodes[1].scale, B_S[1]); /* the table's, from its DequantizeLinear */
    CHECK_EQ_INT(m->nodes[1].zp, B_Z[1]);
    int exact = 0, total = 0;
    enum { NI = B_HW * B_HW * B_C };
    for (int t = 0; t < 40; t++) {
        float img[NI], out[B_N];
        for (int i = 0; i < NI; i++)
            img[i] = (float)(rand() % 20001 - 10000) / 1999.7f;
        CHECK_EQ_INT(frost_int8_run(m, img, NI, out), FROST_OK);
        uint8_t t0[NI], tm[NI], ta[NI], tc[2 * NI], tp[24];
        frost_int8_quantize_input(m, img, t0);
        for (int i = 0; i < NI; i++) { /* quantized within the Clip's bounds */
            int v = quantize_ref(img[i], B_S[0], B_Z[0]);
            near(t0[i], v < 10 ? 10 : v > 250 ? 250 : v, &exact, &total); /* x * (1/S) */
        }
        memcpy(frost_int8_tensor(m, 0), t0, NI);
        uint8_t *outs[5] = {tm, ta, tc, tp, NULL};
        size_t sizes[4] = {NI, NI, 2 * NI, 24};
        for (int i = 1; i < 5; i++) {
            frost_int8_run_node(m, i);
            memcpy(outs[i - 1], frost_int8_tensor(m, i), sizes[i - 1]);
        }
        frost_int8_run_node(m, 5);
        const uint8_t *ty = frost_int8_tensor(m, 5);
        for (int y = 0; y < B_HW; y++)
            for (int x = 0; x < B_HW; x++)
                for (int c = 0; c < B_C; c++) {
                    int mx = 0, p = (y * B_HW + x) * B_C + c;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++)
                            if (y + dy >= 0 && y + dy < B_HW && x + dx >= 0 && x + dx < B_HW) {
                                int v = t0[((y + dy) * B_HW + x + dx) * B_C + c];
                                mx = v > mx ? v : mx;
                            }
                    CHECK_EQ_INT(tm[p], q.table[mx]);
                    near(ta[p], quantize_ref(deq(t0[p], 0) + deq(tm[p], 1), B_S[2], B_Z[2]), &exact,
                         &total);
                    int pc = (y * B_HW + x) * 2 * B_C;
                    near(tc[pc + c], quantize_ref(deq(ta[p], 2), B_S[3], B_Z[3]), &exact, &total);
                    near(tc[pc + B_C + c], quantize_ref(deq(t0[p], 0), B_S[3], B_Z[3]), &exact,
                         &total);
                }
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 2; x++)
                for (int c = 0; c < 2 * B_C; c++) {
                    double sum = 0;
                    int taps = 0;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++) {
                            int iy = 2 * y + dy, ix = 2 * x + dx;
                            if (iy >= 0 && iy < B_HW && ix >= 0 && ix < B_HW) {
                                sum += deq(tc[(iy * B_HW + ix) * 2 * B_C + c], 3);
                                taps++;
                            }
                        }
                    near(tp[(y * 2 + x) * 2 * B_C + c], quantize_ref(sum / taps, B_S[4], B_Z[4]),
                         &exact, &total);
                }
        for (int o = 0; o < B_N; o++) {
            /* ONNX flattens the 2x2x6 map in C,H,W order */
            double acc = (double)q.bias[o] * (double)q.bs[o];
            for (int j = 0; j < 24; j++) {
                int c = j / 4, pix = j % 4;
                acc += deq(tp[pix * 2 * B_C + c], 4) * q.w[j * B_N + o] * (double)q.ws[o];
            }
            near(ty[o], quantize_ref(acc, B_S[5], B_Z[5]), &exact, &total);
        }
        (void)out;
    }
    CHECK(exact >= total - total / 100);
    fprintf(stderr, "  %d of %d int8 values exact\n", exact, total);
    frost_int8_free(m);
}

/* frost import writes the .int8; info and bench take the QDQ file itself. */
TEST(cli_import_info_bench)
{
    char dir[] = "/tmp/frost_qdq_cli_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    qdq_numbers q;
    make_numbers(&q);
    builder b;
    build(&b, &q, GOOD);
    size_t size = onnx__model_proto__get_packed_size(&b.model);
    uint8_t *buf = malloc(size);
    onnx__model_proto__pack(&b.model, buf);
    b_free(&b);
    char onnx[128], int8[128], args[512], out[8192];
    snprintf(onnx, sizeof onnx, "%s/tiny.qdq.onnx", dir);
    snprintf(int8, sizeof int8, "%s/tiny.int8", dir);
    CHECK_EQ_INT(frost_write_file_atomic(onnx, buf, size), FROST_OK);
    free(buf);
    CHECK_EQ_INT(frost_int8_onnx_is_qdq(onnx), 1);
    snprintf(args, sizeof args, "import %s -o %s", onnx, int8);
    CHECK_EQ_INT(frost_test_run_cli(dir, args, out, sizeof out), 0);
    CHECK(strstr(out, "quantized, QDQ") && strstr(out, "input 6x6x2, 3 classes, 4 int8 nodes"));
    snprintf(args, sizeof args, "import %s -o %s --mean 0.5", onnx, int8);
    CHECK_EQ_INT(frost_test_run_cli(dir, args, out, sizeof out), 2);
    CHECK(strstr(out, "--mean") != NULL);
    snprintf(args, sizeof args, "info %s", onnx);
    CHECK_EQ_INT(frost_test_run_cli(dir, args, out, sizeof out), 0);
    CHECK(strstr(out, "conv") && strstr(out, "gap") && strstr(out, "linear"));
    snprintf(args, sizeof args, "bench %s --reps 2 --warmup 0", onnx);
    CHECK_EQ_INT(frost_test_run_cli(dir, args, out, sizeof out), 0);
    /* the written .int8 is the imported model */
    frost_int8_model *a = NULL, *l = NULL;
    CHECK_EQ_INT(frost_int8_load(onnx, &a), FROST_OK);
    CHECK_EQ_INT(frost_int8_load(int8, &l), FROST_OK);
    if (a && l) {
        uint8_t x[HW * HW * C_IN];
        for (int i = 0; i < HW * HW * C_IN; i++)
            x[i] = (uint8_t)(i * 91 + 5);
        float ya[N_OUT], yl[N_OUT];
        frost_int8_run_quantized(a, x, HW * HW * C_IN, ya);
        frost_int8_run_quantized(l, x, HW * HW * C_IN, yl);
        for (int k = 0; k < N_OUT; k++)
            CHECK_FLOAT_EQ(ya[k], yl[k]);
    }
    frost_int8_free(a);
    frost_int8_free(l);
    snprintf(args, sizeof args, "rm -rf %s", dir);
    CHECK_EQ_INT(system(args), 0);
}

/* A map as the output: frost's H,W,C order, as the Transpose before the Flatten says. */
TEST(map_output_in_nhwc_order)
{
    patterns_numbers q;
    builder b;
    build_patterns_ending(&b, &q, true);
    frost_int8_model *m = NULL;
    frost_status s = import(&b, &m);
    if (s != FROST_OK)
        fprintf(stderr, "  import: %s\n", frost_last_error());
    CHECK_EQ_INT(s, FROST_OK);
    /* without the Transpose the output would be in C,H,W order: refused */
    for (size_t i = 0; i < b.graph.n_node; i++)
        if (strcmp(b.nodes[i]->name, "avg/nhwc") == 0)
            b.nodes[i]->op_type = (char *)"Identity";
    frost_int8_model *bad = NULL;
    CHECK(import(&b, &bad) != FROST_OK);
    CHECK(strstr(frost_last_error(), "C,H,W order") != NULL);
    frost_int8_free(bad);
    b_free(&b);
    if (!m)
        return;
    CHECK_EQ_INT(m->n_nodes, 5);
    CHECK_EQ_INT(frost_int8_classes(m), 24);
    float img[B_HW * B_HW * B_C], out[24];
    for (int i = 0; i < B_HW * B_HW * B_C; i++)
        img[i] = (float)(i % 7) * 0.3f - 1.0f;
    CHECK_EQ_INT(frost_int8_run(m, img, B_HW * B_HW * B_C, out), FROST_OK);
    const uint8_t *tp = frost_int8_tensor(m, 4);
    for (int i = 0; i < 24; i++)
        CHECK_FLOAT_EQ(out[i], (float)(((int)tp[i] - B_Z[4]) * B_S[4]));
    frost_int8_free(m);
}

/* Mutated files (random bytes changed, truncated) get an error or a valid model, never a
 * crash or a sanitizer report (this test runs under ASan + UBSan too). */
TEST(mutated_files_never_crash)
{
    qdq_numbers q;
    make_numbers(&q);
    patterns_numbers pq;
    builder b[2];
    build(&b[0], &q, GOOD);
    build_patterns(&b[1], &pq);
    int ok = 0, refused = 0;
    for (int k = 0; k < 2; k++) {
        size_t size = onnx__model_proto__get_packed_size(&b[k].model);
        uint8_t *orig = malloc(size), *buf = malloc(size);
        onnx__model_proto__pack(&b[k].model, orig);
        srand(99);
        for (int t = 0; t < 1500; t++) {
            memcpy(buf, orig, size);
            size_t n = t % 10 == 0 ? (size_t)rand() % size : size;
            for (int f = 1 + rand() % 3; f > 0; f--)
                buf[(size_t)rand() % size] = (uint8_t)rand();
            frost_int8_model *m = NULL;
            if (frost_int8_import_onnx_bytes(buf, n, "mutated", &m) == FROST_OK) {
                uint8_t x[HW * HW * C_IN] = {0};
                int h, w, c;
                frost_int8_input_shape(m, &h, &w, &c);
                if ((int64_t)h * w * c == HW * HW * C_IN)
                    frost_int8_run_quantized(m, x, HW * HW * C_IN, NULL);
                ok++;
            } else {
                refused++;
            }
            frost_int8_free(m);
        }
        free(orig);
        free(buf);
        b_free(&b[k]);
    }
    CHECK(refused > 0);
    fprintf(stderr, "  %d mutated files imported, %d refused\n", ok, refused);
}

FROST_TEST_MAIN(RUN(cli_import_info_bench), RUN(map_output_in_nhwc_order),
                RUN(mutated_files_never_crash),
                RUN(add_concat_pools_tables_matmul_match_the_qdq_graph),
                RUN(conv_relu_gap_gemm_matches_the_qdq_graph), RUN(clip_after_conv_is_its_clamp),
                RUN(saved_int8_runs_the_same), RUN(malformed_files_are_refused),
                RUN(garbage_and_float_models_are_refused))
