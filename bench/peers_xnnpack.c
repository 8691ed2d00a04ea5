/*
 * XNNPACK side of bench/int8_latency: builds XNNPACK subgraphs (Debian's libxnnpack-dev,
 * 2022-02) of the network in a frost .int8 file, once in FP32 (weights dequantized) and
 * once quantized (qcint8 per-channel weights, qint8 activations with frost's scales and
 * zero points shifted to signed), and prints batch-1 median latencies:
 *   model<TAB>XNNPACK FP32<TAB>threads<TAB>ms  and  model<TAB>XNNPACK INT8 qc8<TAB>...
 * The quantized graph takes the float image through a convert node (as frost quantizes
 * its input) and ends with the classifier in qint8 (per-tensor weights: this XNNPACK has
 * no per-channel fully connected) converted to float.
 *
 *   bench_peers_xnnpack MODEL.int8 NAME "THREADS" REPS
 * A graph with an op this XNNPACK lacks (concat: no concatenate node in this version)
 * prints "n/a" lines with the reason on stderr.
 */
#include <math.h>
#include <pthreadpool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xnnpack.h>

#include "core/timer.h"
#include "frost/frost.h"
#include "int8/i8model.h"

typedef struct {
    xnn_subgraph_t g;
    bool quantized;
    uint32_t *value; /* frost node -> XNNPACK value id */
    void **keep;     /* buffers the subgraph points into */
    int n_keep;
} builder;

static void *keep(builder *b, size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    b->keep[b->n_keep++] = p;
    return p;
}

/* An activation tensor for node n (NHWC, batch 1). */
static uint32_t act_value(builder *b, const frost_int8_node *n, uint32_t flags, uint32_t ext)
{
    size_t dims[4] = {1, (size_t)n->h, (size_t)n->w, (size_t)n->c};
    uint32_t id;
    enum xnn_status s =
        b->quantized
            ? xnn_define_quantized_tensor_value(b->g, xnn_datatype_qint8, n->zp - 128, n->scale, 4,
                                                dims, NULL, ext, flags, &id)
            : xnn_define_tensor_value(b->g, xnn_datatype_fp32, 4, dims, NULL, ext, flags, &id);
    return s == xnn_status_success ? id : XNN_INVALID_VALUE_ID;
}

static float real(const frost_int8_node *n, int q) { return ((float)q - (float)n->zp) * n->scale; }

static int conv(builder *b, const frost_int8_model *m, const frost_int8_node *n)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    int cin_g = in->c / n->groups, cout = n->c, cout_g = cout / n->groups;
    size_t inner = (size_t)n->k * n->k * cin_g;
    size_t wdims[4] = {(size_t)cout, (size_t)n->k, (size_t)n->k, (size_t)cin_g},
           bdims[1] = {(size_t)cout};
    uint32_t wid, bid;
    if (b->quantized) {
        float *bs = keep(b, (size_t)cout * 4);
        for (int c = 0; c < cout; c++)
            bs[c] = in->scale * n->wscale[c];
        if (xnn_define_channelwise_quantized_tensor_value(b->g, xnn_datatype_qcint8, n->wscale, 4,
                                                          0, wdims, n->weight, XNN_INVALID_VALUE_ID,
                                                          0, &wid) ||
            xnn_define_channelwise_quantized_tensor_value(b->g, xnn_datatype_qcint32, bs, 1, 0,
                                                          bdims, n->bias, XNN_INVALID_VALUE_ID, 0,
                                                          &bid))
            return 1;
    } else {
        float *w = keep(b, (size_t)cout * inner * 4), *bias = keep(b, (size_t)cout * 4);
        for (int c = 0; c < cout; c++) {
            for (size_t i = 0; i < inner; i++)
                w[c * inner + i] = n->weight[c * inner + i] * n->wscale[c];
            bias[c] = (float)n->bias[c] * in->scale * n->wscale[c];
        }
        if (xnn_define_tensor_value(b->g, xnn_datatype_fp32, 4, wdims, w, XNN_INVALID_VALUE_ID, 0,
                                    &wid) ||
            xnn_define_tensor_value(b->g, xnn_datatype_fp32, 1, bdims, bias, XNN_INVALID_VALUE_ID,
                                    0, &bid))
            return 1;
    }
    uint32_t out = act_value(b, n, 0, XNN_INVALID_VALUE_ID);
    b->value[n - m->nodes] = out;
    float lo = n->lo > 0 ? real(n, n->lo) : -INFINITY, hi = n->hi < 255 ? real(n, n->hi) : INFINITY;
    return xnn_define_convolution_2d(b->g, n->pad, n->pad, n->pad, n->pad, n->k, n->k, n->stride,
                                     n->stride, 1, 1, n->groups, cin_g, cout_g, lo, hi,
                                     b->value[n->in[0]], wid, bid, out, 0) != xnn_status_success;
}

static int logits(builder *b, const frost_int8_model *m, const frost_int8_node *n, uint32_t out_ext)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    int cin = in->h * in->w * in->c, cout = n->c;
    size_t wdims[2] = {(size_t)cout, (size_t)cin}, bdims[1] = {(size_t)cout},
           odims[2] = {1, (size_t)cout};
    float *w = keep(b, (size_t)cout * cin * 4), *bias = keep(b, (size_t)cout * 4), wmax = 0;
    for (int c = 0; c < cout; c++) {
        for (int i = 0; i < cin; i++) {
            w[(size_t)c * cin + i] = n->weight[(size_t)c * cin + i] * n->wscale[c];
            wmax = fmaxf(wmax, fabsf(w[(size_t)c * cin + i]));
        }
        bias[c] = n->out_bias[c];
    }
    uint32_t wid, bid, out, src = b->value[n->in[0]];
    if (!b->quantized)
        return xnn_define_tensor_value(b->g, xnn_datatype_fp32, 2, wdims, w, XNN_INVALID_VALUE_ID,
                                       0, &wid) ||
               xnn_define_tensor_value(b->g, xnn_datatype_fp32, 1, bdims, bias,
                                       XNN_INVALID_VALUE_ID, 0, &bid) ||
               xnn_define_tensor_value(b->g, xnn_datatype_fp32, 2, odims, NULL, out_ext,
                                       XNN_VALUE_FLAG_EXTERNAL_OUTPUT, &out) ||
               xnn_define_fully_connected(b->g, -INFINITY, INFINITY, src, wid, bid, out, 0);
    /* qint8 classifier: per-tensor weight scale, an output range wide enough for logits */
    float ws = wmax / 127.0f, os = 0.1f;
    int8_t *wq = keep(b, (size_t)cout * cin);
    int32_t *bq = keep(b, (size_t)cout * 4);
    for (size_t i = 0; i < (size_t)cout * cin; i++)
        wq[i] = (int8_t)lrintf(w[i] / ws);
    for (int c = 0; c < cout; c++)
        bq[c] = (int32_t)lrintf(bias[c] / (in->scale * ws));
    uint32_t q;
    return xnn_define_quantized_tensor_value(b->g, xnn_datatype_qint8, 0, ws, 2, wdims, wq,
                                             XNN_INVALID_VALUE_ID, 0, &wid) ||
           xnn_define_quantized_tensor_value(b->g, xnn_datatype_qint32, 0, in->scale * ws, 1, bdims,
                                             bq, XNN_INVALID_VALUE_ID, 0, &bid) ||
           xnn_define_quantized_tensor_value(b->g, xnn_datatype_qint8, 0, os, 2, odims, NULL,
                                             XNN_INVALID_VALUE_ID, 0, &q) ||
           xnn_define_fully_connected(b->g, -INFINITY, INFINITY, src, wid, bid, q, 0) ||
           xnn_define_tensor_value(b->g, xnn_datatype_fp32, 2, odims, NULL, out_ext,
                                   XNN_VALUE_FLAG_EXTERNAL_OUTPUT, &out) ||
           xnn_define_convert(b->g, q, out, 0);
}

/* Builds the subgraph; returns an error message or NULL. External ids: 0 input, 1 output. */
static const char *build(builder *b, const frost_int8_model *m)
{
    if (xnn_create_subgraph(2, 0, &b->g) != xnn_status_success)
        return "xnn_create_subgraph failed";
    for (int i = 0; i < m->n_nodes; i++) {
        const frost_int8_node *n = &m->nodes[i];
        int fail = 0;
        switch (n->op) {
        case FROST_I8_QUANTIZE: {
            size_t dims[4] = {1, (size_t)n->h, (size_t)n->w, (size_t)n->c};
            uint32_t in;
            fail =
                xnn_define_tensor_value(b->g, xnn_datatype_fp32, 4, dims, NULL, 0,
                                        XNN_VALUE_FLAG_EXTERNAL_INPUT, &in) != xnn_status_success;
            if (!b->quantized) {
                b->value[i] = in;
            } else {
                b->value[i] = act_value(b, n, 0, XNN_INVALID_VALUE_ID);
                fail |= xnn_define_convert(b->g, in, b->value[i], 0) != xnn_status_success;
            }
            break;
        }
        case FROST_I8_CONV: fail = conv(b, m, n); break;
        case FROST_I8_ADD:
            b->value[i] = act_value(b, n, 0, XNN_INVALID_VALUE_ID);
            fail = xnn_define_add2(b->g, -INFINITY, INFINITY, b->value[n->in[0]],
                                   b->value[n->in[1]], b->value[i], 0) != xnn_status_success;
            break;
        case FROST_I8_GAP:
            b->value[i] = act_value(b, n, 0, XNN_INVALID_VALUE_ID);
            fail =
                xnn_define_global_average_pooling_2d(b->g, -INFINITY, INFINITY, b->value[n->in[0]],
                                                     b->value[i], 0) != xnn_status_success;
            break;
        case FROST_I8_LOGITS: fail = logits(b, m, n, 1); break;
        case FROST_I8_CONCAT:
            return "no concatenate node in this XNNPACK (Debian's 2022-02 snapshot)";
        default: return "an op this harness does not map";
        }
        if (fail)
            return "an xnn_define_* call failed";
    }
    return NULL;
}

static double time_graph(builder *b, const frost_int8_model *m, int threads, int reps)
{
    pthreadpool_t pool = threads > 1 ? pthreadpool_create((size_t)threads) : NULL;
    xnn_runtime_t rt;
    if (xnn_create_runtime_v2(b->g, pool, 0, &rt) != xnn_status_success)
        return -1;
    float *in = calloc((size_t)m->in_h * m->in_w * m->in_c, 4),
          *out = calloc((size_t)m->classes, 4);
    struct xnn_external_value ext[2] = {{0, in}, {1, out}};
    double *t = malloc(sizeof(double) * (size_t)reps), med = -1;
    if (xnn_setup_runtime(rt, 2, ext) == xnn_status_success) {
        for (int r = -3; r < reps; r++) {
            double s = frost_now_ms();
            xnn_invoke_runtime(rt);
            if (r >= 0)
                t[r] = frost_now_ms() - s;
        }
        med = frost_median(t, reps);
    }
    xnn_delete_runtime(rt);
    if (pool)
        pthreadpool_destroy(pool);
    free(in), free(out), free(t);
    return med;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_peers_xnnpack MODEL.int8 NAME \"THREADS\" REPS\n");
        return 2;
    }
    frost_int8_model *m;
    if (frost_int8_load(argv[1], &m) != FROST_OK || xnn_initialize(NULL) != xnn_status_success) {
        fprintf(stderr, "bench_peers_xnnpack: %s\n", frost_last_error());
        return 1;
    }
    int reps = atoi(argv[4]) > 0 ? atoi(argv[4]) : 1;
    for (int q = 0; q < 2; q++) {
        builder b = {NULL, q == 1, calloc((size_t)m->n_nodes, 4),
                     calloc((size_t)m->n_nodes * 4, sizeof(void *)), 0};
        const char *why = build(&b, m);
        char list[64];
        snprintf(list, sizeof list, "%s", argv[3]);
        for (char *t = strtok(list, " "); t; t = strtok(NULL, " ")) {
            double ms = why ? -1 : time_graph(&b, m, atoi(t), reps);
            if (ms < 0)
                printf("%s\tXNNPACK %s\t%s\tn/a\n", argv[2], q ? "INT8 qc8" : "FP32", t);
            else
                printf("%s\tXNNPACK %s\t%s\t%.3f\n", argv[2], q ? "INT8 qc8" : "FP32", t, ms);
        }
        if (why)
            fprintf(stderr, "bench_peers_xnnpack: %s: %s\n", argv[2], why);
        if (b.g)
            xnn_delete_subgraph(b.g);
        for (int i = 0; i < b.n_keep; i++)
            free(b.keep[i]);
        free(b.keep), free(b.value);
    }
    frost_int8_free(m);
    return 0;
}
