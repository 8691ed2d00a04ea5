/*
 * The cell-search supernet: the network of cell.c with every edge a `mix` op over its
 * candidate operations. All normal cells share one alpha per edge (the first normal
 * cell's mix owns it), all reduction cells another, as in DARTS. A stride-1 skip
 * candidate is followed by a dropout node (P-DARTS' skip dropout; p 0 until set).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "frost/cell.h"
#include "models/graph.h"
#include "nas/cell_internal.h"

struct frost_cell_supernet {
    frost_model *m;
    frost_cell_net net;
    frost_cell_candidates cand[2];
    int alpha_node[2][FROST_CELL_MAX_EDGES]; /* the mix owning each alpha; -1: none yet */
    int *dropout;                            /* skip-dropout nodes */
    int n_dropout, cap_dropout;
};

static int remember_dropout(frost_cell_supernet *s, int node)
{
    if (s->n_dropout == s->cap_dropout) {
        int cap = s->cap_dropout ? 2 * s->cap_dropout : 32;
        int *d = realloc(s->dropout, (size_t)cap * sizeof *d);
        if (!d)
            return frost_fail(FROST_ERR_NOMEM, "out of memory building the supernet"), -1;
        s->dropout = d;
        s->cap_dropout = cap;
    }
    s->dropout[s->n_dropout++] = node;
    return node;
}

/* One edge: every real candidate, then the mix over them (plus none if listed). */
static int mixed_edge(frost_cell_supernet *s, int cell, int type, int e, int in, int c, int stride)
{
    frost_model *m = s->m;
    const frost_cell_candidates *cand = &s->cand[type];
    int outs[8], n = 0;
    bool none = false;
    char prefix[FROST_NAME_LEN];
    for (int k = 0; k < cand->n_ops[e]; k++) {
        frost_cell_op op = (frost_cell_op)cand->ops[e][k];
        if (op == FROST_CELL_NONE) {
            none = true;
            continue;
        }
        snprintf(prefix, sizeof prefix, "c%d.e%d.%s", cell, e, frost_cell_op_name(op));
        int y = frost_cell_edge_op(m, prefix, in, c, stride, op);
        if (y >= 0 && op == FROST_CELL_SKIP && stride == 1) {
            char name[2 * FROST_NAME_LEN];
            snprintf(name, sizeof name, "%s.drop", prefix);
            y = frost_g_dropout(m, name, y, 0.0f);
            y = y < 0 ? -1 : remember_dropout(s, y);
        }
        if (y < 0)
            return -1;
        outs[n++] = y;
    }
    snprintf(prefix, sizeof prefix, "c%d.e%d.mix", cell, e);
    int mix = frost_g_mix_shared(m, prefix, n, outs, none, s->alpha_node[type][e]);
    if (mix >= 0 && s->alpha_node[type][e] < 0)
        s->alpha_node[type][e] = mix;
    return mix;
}

static int super_cell(frost_model *m, void *user, int cell, bool reduction, int in, int c)
{
    frost_cell_supernet *s = user;
    int type = reduction ? 1 : 0;
    int state[FROST_CELL_MAX_NODES + 1];
    char name[FROST_NAME_LEN];
    (void)m;
    snprintf(name, sizeof name, "c%d", cell);
    state[0] = frost_cell_preprocess(s->m, name, in, c);
    if (state[0] < 0)
        return -1;
    for (int j = 0; j < s->net.nodes; j++) {
        int terms[FROST_CELL_MAX_NODES];
        for (int i = 0; i <= j; i++) {
            int e = frost_cell_edge_index(j, i);
            terms[i] = mixed_edge(s, cell, type, e, state[i], c, reduction && i == 0 ? 2 : 1);
            if (terms[i] < 0)
                return -1;
        }
        state[j + 1] = frost_cell_sum(s->m, name, j, terms, j + 1);
        if (state[j + 1] < 0)
            return -1;
    }
    return frost_cell_output(s->m, name, state + 1, s->net.nodes);
}

/* frost_cell_net_stack creates the model; the cell builder needs it through `s`. */
typedef struct {
    frost_cell_supernet *s;
} stack_ctx;

static int super_cell_cb(frost_model *m, void *user, int cell, bool reduction, int in, int c)
{
    stack_ctx *ctx = user;
    ctx->s->m = m;
    return super_cell(m, ctx->s, cell, reduction, in, c);
}

frost_status frost_cell_supernet_build(const frost_cell_net *net,
                                       const frost_cell_candidates cand[2],
                                       frost_cell_supernet **out)
{
    FROST_TRY(frost_cell_net_check(net));
    if (net->cells < 3)
        return frost_fail(FROST_ERR_ARG,
                          "cell search: at least 3 cells are needed (normal and reduction "
                          "cells; got %d)",
                          net->cells);
    frost_cell_supernet *s = calloc(1, sizeof *s);
    if (!s)
        return frost_fail(FROST_ERR_NOMEM, "out of memory for the supernet");
    s->net = *net;
    s->cand[0] = cand[0];
    s->cand[1] = cand[1];
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < FROST_CELL_MAX_EDGES; e++)
            s->alpha_node[t][e] = -1;
    stack_ctx ctx = {.s = s};
    frost_status st = frost_cell_net_stack(net, "supernet", super_cell_cb, &ctx, &s->m);
    if (st != FROST_OK) {
        free(s->dropout);
        free(s);
        return st;
    }
    *out = s;
    return FROST_OK;
}

frost_model *frost_cell_supernet_model(frost_cell_supernet *s) { return s->m; }

void frost_cell_supernet_weights(const frost_cell_supernet *s, int t, frost_cell_weights *w)
{
    memset(w, 0, sizeof *w);
    const frost_cell_candidates *cand = &s->cand[t];
    for (int e = 0; e < s->net.nodes * (s->net.nodes + 1) / 2; e++) {
        float mw[FROST_MAX_NODE_INPUTS + 1];
        int real = 0;
        for (int k = 0; k < cand->n_ops[e]; k++)
            real += cand->ops[e][k] != FROST_CELL_NONE;
        frost_mix_weights(s->m, s->alpha_node[t][e], mw);
        /* the mix lists the real candidates in order, then none */
        for (int k = 0, r = 0; k < cand->n_ops[e]; k++)
            w->w[e][k] = cand->ops[e][k] == FROST_CELL_NONE ? mw[real] : mw[r++];
    }
}

frost_status frost_cell_supernet_quantize(frost_cell_supernet *s, const frost_qconfig *qc)
{
    /* quantizing inserts fake-quant nodes and so moves node indices: remember the names */
    char(*names)[FROST_NAME_LEN] =
        malloc(((size_t)s->n_dropout + 2 * FROST_CELL_MAX_EDGES) * sizeof *names);
    if (!names)
        return frost_fail(FROST_ERR_NOMEM, "out of memory quantizing the supernet");
    int *slots[2 * FROST_CELL_MAX_EDGES];
    int n = 0;
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < FROST_CELL_MAX_EDGES; e++)
            if (s->alpha_node[t][e] >= 0)
                slots[n++] = &s->alpha_node[t][e];
    for (int k = 0; k < n; k++)
        memcpy(names[k], s->m->nodes[*slots[k]].name, FROST_NAME_LEN);
    for (int k = 0; k < s->n_dropout; k++)
        memcpy(names[n + k], s->m->nodes[s->dropout[k]].name, FROST_NAME_LEN);
    frost_status st = frost_model_quantize(s->m, qc);
    for (int k = 0; st == FROST_OK && k < n + s->n_dropout; k++) {
        int idx = frost_g_find(s->m, names[k]);
        if (idx < 0)
            st = frost_fail(FROST_ERR_ARG, "supernet: node '%s' lost in quantization", names[k]);
        else if (k < n)
            *slots[k] = idx;
        else
            s->dropout[k - n] = idx;
    }
    free(names);
    return st;
}

void frost_cell_supernet_set_skip_dropout(frost_cell_supernet *s, float p)
{
    for (int k = 0; k < s->n_dropout; k++)
        s->m->nodes[s->dropout[k]].p = p;
}

void frost_cell_supernet_free(frost_cell_supernet *s)
{
    if (!s)
        return;
    frost_model_free(s->m);
    free(s->dropout);
    free(s);
}
