/*
 * ONNX QDQ export (frost_int8_export_onnx) of the committed every-op int8 model
 * (tests/fixtures/compat/qat_fixed.int8), read back with protoc-c's generated unpacker and
 * checked structurally against the model: the ops per int8 node, per-channel weights on
 * axis 0 (int8 with zero point 0, or + 128 as uint8), conv weights transposed to OIHW and
 * fully connected columns permuted to the NCHW flattening, int32 biases on the grid
 * S_x S_w[c], per-tensor activation scales and zero points (no axis attribute), the NCHW
 * input with a symbolic batch. ONNX Runtime's view of the file is tests/check_qdq_ort.py.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "frost/frost.h"
#include "harness.h"
#include "int8/i8model.h"
#include "onnx.pb-c.h"

#define FIXED_MODEL "tests/fixtures/compat/qat_fixed.int8"

static Onnx__ModelProto *export_and_read(const frost_int8_model *m, int uint8_weights)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/frost_onnx_%d.onnx", (int)getpid());
    CHECK_EQ_INT(frost_int8_export_onnx(m, path, uint8_weights), FROST_OK);
    char *data = NULL;
    size_t size = 0;
    CHECK_EQ_INT(frost_read_file(path, &data, &size), FROST_OK);
    unlink(path);
    Onnx__ModelProto *p =
        data ? onnx__model_proto__unpack(NULL, size, (const uint8_t *)data) : NULL;
    free(data);
    CHECK(p != NULL);
    return p;
}

static const Onnx__TensorProto *find_init(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (strcmp(g->initializer[i]->name, name) == 0)
            return g->initializer[i];
    return NULL;
}

/* The node producing tensor `out`, or NULL. */
static const Onnx__NodeProto *producer(const Onnx__GraphProto *g, const char *out)
{
    for (size_t i = 0; i < g->n_node; i++)
        if (g->node[i]->n_output == 1 && strcmp(g->node[i]->output[0], out) == 0)
            return g->node[i];
    return NULL;
}

static const Onnx__AttributeProto *find_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

static size_t count_op(const Onnx__GraphProto *g, const char *op)
{
    size_t k = 0;
    for (size_t i = 0; i < g->n_node; i++)
        k += strcmp(g->node[i]->op_type, op) == 0;
    return k;
}

static bool has_dims(const Onnx__TensorProto *t, int n, const int64_t *dims)
{
    if (!t || t->n_dims != (size_t)n)
        return false;
    for (int i = 0; i < n; i++)
        if (t->dims[i] != dims[i])
            return false;
    return true;
}

static void check_io(const Onnx__ModelProto *p, const frost_int8_model *m)
{
    CHECK_EQ_INT(p->ir_version, 7);
    CHECK_EQ_INT(p->n_opset_import, 1);
    CHECK_EQ_INT(p->opset_import[0]->version, 13);
    const Onnx__GraphProto *g = p->graph;
    CHECK_EQ_INT(g->n_input, 1);
    CHECK_EQ_INT(g->n_output, 1);
    CHECK(strcmp(g->input[0]->name, "input") == 0);
    CHECK(strcmp(g->output[0]->name, "logits") == 0);
    const Onnx__TensorShapeProto *s = g->input[0]->type->tensor_type->shape;
    CHECK_EQ_INT(g->input[0]->type->tensor_type->elem_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    CHECK_EQ_INT(s->n_dim, 4);
    CHECK(s->dim[0]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
          strcmp(s->dim[0]->dim_param, "N") == 0);
    CHECK_EQ_INT(s->dim[1]->dim_value, m->in_c);
    CHECK_EQ_INT(s->dim[2]->dim_value, m->in_h);
    CHECK_EQ_INT(s->dim[3]->dim_value, m->in_w);
    /* one QuantizeLinear per int8 node except the float classifier and max pools' tables */
    const Onnx__NodeProto *q0 = producer(g, "q0");
    CHECK(q0 && strcmp(q0->op_type, "QuantizeLinear") == 0 && strcmp(q0->input[0], "input") == 0);
}

/* Every activation's QuantizeLinear / DequantizeLinear is per tensor: scalar scale and zero
 * point, no axis; weights and biases are per channel on axis 0. */
static void check_qdq_axes(const Onnx__GraphProto *g)
{
    int per_channel = 0, per_tensor = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        bool q = strcmp(n->op_type, "QuantizeLinear") == 0,
             dq = strcmp(n->op_type, "DequantizeLinear") == 0;
        if (!q && !dq)
            continue;
        const Onnx__TensorProto *scale = find_init(g, n->input[1]);
        const Onnx__TensorProto *zp = find_init(g, n->input[2]);
        CHECK(scale && zp);
        if (!scale || !zp)
            continue;
        const Onnx__AttributeProto *axis = find_attr(n, "axis");
        if (scale->n_dims == 0) {
            per_tensor++;
            CHECK(axis == NULL);
            CHECK_EQ_INT(zp->n_dims, 0);
            CHECK_EQ_INT(zp->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8);
        } else {
            per_channel++;
            CHECK(dq && axis && axis->i == 0);
        }
    }
    CHECK(per_tensor > 0 && per_channel > 0);
}

/* Conv / Gemm node of int8 node i: weights, bias, attributes. */
static void check_weighted(const Onnx__GraphProto *g, const frost_int8_model *m, int i, bool u8)
{
    const frost_int8_node *n = &m->nodes[i], *in = &m->nodes[n->in[0]];
    char name[64];
    snprintf(name, sizeof name, "w%d_q", i);
    const Onnx__TensorProto *w = find_init(g, name);
    bool conv = n->op == FROST_I8_CONV;
    int cin = conv ? in->c / n->groups : in->h * in->w * in->c, kk = conv ? n->k * n->k : 1;
    int64_t dims[4] = {n->c, cin, n->k, n->k};
    CHECK(has_dims(w, conv ? 4 : 2, dims));
    if (!w)
        return;
    CHECK_EQ_INT(w->data_type,
                 u8 ? ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 : ONNX__TENSOR_PROTO__DATA_TYPE__INT8);
    const uint8_t *raw = w->raw_data.data;
    int bad = 0;
    for (int o = 0; o < n->c; o++)
        for (int c = 0; c < cin; c++)
            for (int p = 0; p < kk; p++) {
                /* ONNX [o][c][ky][kx] (fully connected: c over the NCHW-flattened input) */
                int8_t want;
                if (conv)
                    want = n->weight[((int64_t)o * kk + p) * cin + c];
                else {
                    int hw = in->h * in->w, ch = c / hw, pix = c % hw;
                    want = n->weight[(int64_t)o * cin + pix * in->c + ch];
                }
                int got = u8 ? (int)raw[((int64_t)o * cin + c) * kk + p] - 128
                             : (int)(int8_t)raw[((int64_t)o * cin + c) * kk + p];
                bad += got != want || got < -127;
            }
    CHECK_EQ_INT(bad, 0);
    snprintf(name, sizeof name, "ws%d", i);
    const Onnx__TensorProto *ws = find_init(g, name);
    snprintf(name, sizeof name, "wz%d", i);
    const Onnx__TensorProto *wz = find_init(g, name);
    CHECK(ws && wz && ws->raw_data.len == (size_t)n->c * 4 && wz->raw_data.len == (size_t)n->c);
    if (ws && wz && ws->raw_data.len == (size_t)n->c * 4 && wz->raw_data.len == (size_t)n->c)
        for (int o = 0; o < n->c; o++) {
            float s;
            memcpy(&s, ws->raw_data.data + 4 * o, 4);
            CHECK_FLOAT_EQ(s, n->wscale[o]);
            CHECK_EQ_INT(wz->raw_data.data[o], u8 ? 128 : 0);
        }
    snprintf(name, sizeof name, "b%d_q", i);
    const Onnx__TensorProto *b = find_init(g, name);
    snprintf(name, sizeof name, "bs%d", i);
    const Onnx__TensorProto *bs = find_init(g, name);
    CHECK(b && bs && b->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 &&
          b->raw_data.len == (size_t)n->c * 4 && bs->raw_data.len == (size_t)n->c * 4);
    if (b && bs && b->raw_data.len == (size_t)n->c * 4 && bs->raw_data.len == (size_t)n->c * 4)
        for (int o = 0; o < n->c; o++) {
            int32_t q;
            float s;
            memcpy(&q, b->raw_data.data + 4 * o, 4);
            memcpy(&s, bs->raw_data.data + 4 * o, 4);
            double acc_scale = (double)in->scale * n->wscale[o];
            CHECK_NEAR(s, acc_scale, 0, 1e-6);
            /* the same real bias as frost's (its grid is 2^acc_shift finer, or float) */
            double want = n->op == FROST_I8_LOGITS ? n->out_bias[o]
                                                   : ldexp(n->bias[o], -n->acc_shift) * acc_scale;
            CHECK_NEAR(q * acc_scale, want, 0.5001 * acc_scale, 0);
        }
    snprintf(name, sizeof name, n->op == FROST_I8_LOGITS ? "logits" : "c%d", i);
    const Onnx__NodeProto *op = producer(g, name);
    CHECK(op && strcmp(op->op_type, conv ? "Conv" : "Gemm") == 0);
    if (op && conv) {
        const Onnx__AttributeProto *group = find_attr(op, "group"), *pads = find_attr(op, "pads");
        CHECK(group && group->i == n->groups);
        CHECK(pads && pads->n_ints == 4 && pads->ints[0] == n->pad);
    }
}

static void check_nodes(const Onnx__GraphProto *g, const frost_int8_model *m, bool u8)
{
    int tables = 0;
    for (int i = 1; i < m->n_nodes; i++) {
        const frost_int8_node *n = &m->nodes[i];
        char name[32];
        snprintf(name, sizeof name, "q%d", i);
        const Onnx__NodeProto *out = producer(g, name);
        switch (n->op) {
        case FROST_I8_CONV:
        case FROST_I8_LINEAR:
        case FROST_I8_LOGITS: check_weighted(g, m, i, u8); break;
        case FROST_I8_LUT:
            CHECK(out && strcmp(out->op_type, "Gather") == 0);
            if (out) { /* the table is frost's */
                const Onnx__TensorProto *t = find_init(g, out->input[0]);
                CHECK(t && t->raw_data.len == 256 && memcmp(t->raw_data.data, n->lut, 256) == 0);
            }
            tables++;
            break;
        default: break;
        }
        if (n->op != FROST_I8_LOGITS && n->op != FROST_I8_LUT && n->op != FROST_I8_MAXPOOL) {
            /* QuantizeLinear with frost's scale and zero point (then a uint8 Clip if clamped) */
            CHECK(out != NULL);
            if (out && strcmp(out->op_type, "Clip") == 0)
                out = producer(g, out->input[0]);
            CHECK(out && strcmp(out->op_type, "QuantizeLinear") == 0);
            const Onnx__TensorProto *s = out ? find_init(g, out->input[1]) : NULL;
            const Onnx__TensorProto *z = out ? find_init(g, out->input[2]) : NULL;
            CHECK(s && z && s->raw_data.len == 4 && z->raw_data.len == 1);
            if (s && z && s->raw_data.len == 4 && z->raw_data.len == 1) {
                float sv;
                memcpy(&sv, s->raw_data.data, 4);
                CHECK_FLOAT_EQ(sv, n->scale);
                CHECK_EQ_INT(z->raw_data.data[0], n->zp);
            }
        }
    }
    CHECK(tables > 0); /* the fixture has a hard-swish */
}

TEST(every_op_model_round_trips)
{
    frost_int8_model *m = NULL;
    CHECK_EQ_INT(frost_int8_load(FIXED_MODEL, &m), FROST_OK);
    if (!m)
        return;
    for (int u8 = 0; u8 <= 1; u8++) {
        Onnx__ModelProto *p = export_and_read(m, u8);
        if (!p)
            continue;
        check_io(p, m);
        check_qdq_axes(p->graph);
        check_nodes(p->graph, m, u8);
        /* every compute op is there once per int8 node of its kind */
        int convs = 0, adds = 0, gemms = 0;
        for (int i = 0; i < m->n_nodes; i++) {
            convs += m->nodes[i].op == FROST_I8_CONV;
            adds += m->nodes[i].op == FROST_I8_ADD;
            gemms += m->nodes[i].op == FROST_I8_LINEAR || m->nodes[i].op == FROST_I8_LOGITS;
        }
        CHECK_EQ_INT(count_op(p->graph, "Conv"), convs);
        CHECK_EQ_INT(count_op(p->graph, "Add"), adds);
        CHECK_EQ_INT(count_op(p->graph, "Gemm"), gemms);
        CHECK(count_op(p->graph, "MaxPool") >= 1 && count_op(p->graph, "AveragePool") >= 1);
        onnx__model_proto__free_unpacked(p, NULL);
    }
    frost_int8_free(m);
}

TEST(refusals)
{
    frost_int8_model *m = NULL;
    CHECK_EQ_INT(frost_int8_load(FIXED_MODEL, &m), FROST_OK);
    if (!m)
        return;
    CHECK_EQ_INT(frost_int8_export_onnx(NULL, "/tmp/x.onnx", 0), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_int8_export_onnx(m, "/nonexistent-dir/x.onnx", 0), FROST_ERR_IO);
    /* a -128 weight (a non-narrow weight config) has no symmetric int8 QDQ form */
    int conv = 1;
    while (conv < m->n_nodes && m->nodes[conv].op != FROST_I8_CONV)
        conv++;
    CHECK(conv < m->n_nodes);
    /* the loaded weights are the mapped file's: give the node a copy it may change */
    frost_int8_node *n = &m->nodes[conv];
    size_t bytes = (size_t)n->c * n->k * n->k * (size_t)(m->nodes[n->in[0]].c / n->groups);
    int8_t *w = frost_int8_own(m, bytes);
    CHECK(w != NULL);
    if (!w) {
        frost_int8_free(m);
        return;
    }
    memcpy(w, n->weight, bytes);
    n->weight = w;
    char path[64];
    snprintf(path, sizeof path, "/tmp/frost_onnx_r%d.onnx", (int)getpid());
    w[0] = -128;
    CHECK_EQ_INT(frost_int8_export_onnx(m, path, 0), FROST_ERR_UNSUPPORTED);
    CHECK(strstr(frost_last_error(), "-128") != NULL);
    CHECK_EQ_INT(frost_int8_export_onnx(m, path, 1), FROST_OK); /* uint8: 0 */
    unlink(path);
    frost_int8_free(m);
}

FROST_TEST_MAIN(RUN(every_op_model_round_trips), RUN(refusals))
