/* Describing and timing an int8 model: memory table, node accessors, per-node latency. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/node_timer.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "int8/i8model.h"

void frost_int8_input_shape(const frost_int8_model *m, int *h, int *w, int *c)
{
    *h = m->in_h;
    *w = m->in_w;
    *c = m->in_c;
}

int frost_int8_classes(const frost_int8_model *m) { return m->classes; }

frost_preprocess frost_int8_preprocess(const frost_int8_model *m) { return m->pre; }

void frost_int8_input_qparams(const frost_int8_model *m, float *scale, int *zero_point)
{
    *scale = m->nodes[0].scale;
    *zero_point = m->nodes[0].zp;
}

int frost_int8_node_count(const frost_int8_model *m) { return m->n_nodes; }
const char *frost_int8_node_name(const frost_int8_model *m, int i) { return m->nodes[i].name; }
const char *frost_int8_node_op(const frost_int8_model *m, int i)
{
    const frost_int8_node *n = &m->nodes[i];
    if (n->ain) /* a binarized input (sign): "bconv", "blinear" in info and bench tables */
        return n->op == FROST_I8_CONV ? "bconv" : "blinear";
    return frost_int8_op_name(n->op);
}
int64_t frost_int8_node_macs(const frost_int8_model *m, int i) { return m->nodes[i].macs; }

int64_t frost_int8_macs(const frost_int8_model *m)
{
    int64_t s = 0;
    for (int i = 0; i < m->n_nodes; i++)
        s += m->nodes[i].macs;
    return s;
}

size_t frost_int8_arena_bytes(const frost_int8_model *m) { return m->arena_bytes; }

/* Bytes of the node's parameters as stored (weights, biases, multipliers, tables). */
static size_t node_weight_bytes(const frost_int8_model *m, const frost_int8_node *n)
{
    size_t b = 0;
    if (n->weight) {
        const frost_int8_node *in = &m->nodes[n->in[0]];
        size_t inner = n->op == FROST_I8_CONV ? (size_t)n->k * n->k * (in->c / n->groups)
                                              : (size_t)in->h * in->w * in->c;
        size_t row = n->wbits ? frost_int8_packed_row_bytes(n->wbits, (int64_t)inner) : inner;
        b += (size_t)n->c * row + (size_t)n->c * 4; /* int8 or packed weights + int32 bias */
        b += n->wlevels ? (size_t)n->c * 2 : 0;     /* TTQ's two int8 levels per channel */
    }
    b += (size_t)n->n_mult * 8;
    if (n->out_scale)
        b += (size_t)n->c * 8;
    if (n->lut)
        b += (size_t)n->n_in * 256;
    return b;
}

size_t frost_int8_weight_bytes(const frost_int8_model *m)
{
    size_t s = 0;
    for (int i = 0; i < m->n_nodes; i++)
        s += node_weight_bytes(m, &m->nodes[i]);
    return s;
}

char *frost_int8_memory_text(const frost_int8_model *m)
{
    frost_strbuf out = {0};
    frost_strbuf_appendf(&out, "%-28s %-8s %-14s %10s %10s %10s\n", "layer", "op", "output",
                         "weights", "act bytes", "offset");
    for (int i = 0; i < m->n_nodes; i++) {
        const frost_int8_node *n = &m->nodes[i];
        char shape[32];
        snprintf(shape, sizeof shape, "%dx%dx%d", n->h, n->w, n->c);
        const char *op = frost_int8_node_op(m, i);
        size_t act = n->op == FROST_I8_LOGITS ? (size_t)n->c * 4 : (size_t)n->h * n->w * n->c;
        frost_strbuf_appendf(&out, "%-28s %-8s %-14s %10zu %10zu %10zu\n", n->name, op, shape,
                             node_weight_bytes(m, n), act,
                             n->op == FROST_I8_LOGITS ? 0 : n->offset);
    }
    frost_strbuf_appendf(&out,
                         "weights: %zu bytes; peak activations (arena): %zu bytes; kernel "
                         "scratch: %zu bytes; MACs per image: %lld\n",
                         frost_int8_weight_bytes(m), m->arena_bytes, m->scratch_bytes,
                         (long long)frost_int8_macs(m));
    return frost_strbuf_finish(&out);
}

static void run_node_cb(void *engine, int i) { frost_int8_run_node(engine, i); }

frost_status frost_int8_time(frost_int8_model *m, int warmup, int reps, double *total_ms,
                             double *per_node_ms)
{
    memset(frost_int8_tensor(m, 0), m->nodes[0].zp, (size_t)m->in_h * m->in_w * m->in_c);
    return frost_time_nodes("int8", run_node_cb, m, m->n_nodes, warmup, reps, total_ms,
                            per_node_ms);
}
